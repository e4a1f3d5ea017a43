//! WebSocket APIs: the file structs, their validation, and the model the
//! gateway serves (API Gateway's WebSocket APIs, reference/apigateway.md §5,
//! plus cookie sessions at `$connect`).
//!
//! Names follow AWS where AWS has them: `route_selection_expression`,
//! `$connect` / `$disconnect` / `$default`, route responses, identity
//! sources in the WebSocket syntax (`route.request.header.Cookie`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::api::{
    authorizer_ttl, check_name, check_stage_name, http_url, named, timeout, ApiMapping, Function,
    HttpApi, IdentitySource, MappingFile, PayloadVersion, RequestAuthorizer, Target,
};
use crate::model::Listen;
use crate::Collector;

/// A WebSocket API.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSocketApi {
    pub name: String,
    pub listen: Listen,
    pub custom_domains: Vec<ApiMapping>,
    /// `$default` is served at the root; named stages under `/{name}`.
    pub stages: Vec<WsStage>,
    /// `$request.body.action` unless configured.
    pub route_selection_expression: String,
    pub routes: Vec<WsRoute>,
    pub authorizers: Vec<WsAuthorizer>,
    pub integrations: Vec<WsIntegration>,
    /// Origins an upgrade may come from (`*` allows any). `None`: no check
    /// (API Gateway has none); on by default when cookies authorize.
    pub allowed_origins: Option<Vec<String>>,
    pub limits: WsLimits,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WsStage {
    pub name: String,
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WsRoute {
    /// `$connect`, `$disconnect`, `$default` or a custom key.
    pub key: String,
    /// `$connect` and `$disconnect` may go without one.
    pub integration: Option<String>,
    /// Only on `$connect`.
    pub authorizer: Option<String>,
    /// Two-way: the integration's answer goes back to the caller.
    pub route_response: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WsAuthorizer {
    pub name: String,
    pub kind: WsAuthorizerKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WsAuthorizerKind {
    /// A Lambda-style authorizer: policy answers (payload 1.0 shape).
    Request(RequestAuthorizer),
    /// The cookie session of an HTTP API, with its CSRF token given as a
    /// query parameter or a `Sec-WebSocket-Protocol` entry.
    Session {
        http_api: String,
        csrf_query: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct WsIntegration {
    pub name: String,
    pub kind: WsIntegrationKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WsIntegrationKind {
    /// POSTs the event as JSON; the answer body is the route's response.
    Http { url: String, timeout_ms: u64 },
    /// A Lambda-style function: the event in, `{statusCode, body}` out.
    Lambda { target: Target, timeout_ms: u64 },
    /// A fixed answer (API Gateway's MOCK integration): `body` is a
    /// template over `${context.connectionId}`, `${context.routeKey}`,
    /// `${context.requestId}`, `${context.stage}`, `${context.domainName}`,
    /// `${context.apiId}` and `${context.authorizer.KEY}`; sent back when the
    /// route has a route response.
    Response { body: String },
    /// Sends the message back to its sender.
    Echo,
    /// Sends the message's `data` (or the whole message when it has none)
    /// to every open connection of the API.
    Broadcast,
}

/// Limits of one API's connections (API Gateway's by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WsLimits {
    pub frame_bytes: usize,
    pub message_bytes: usize,
    pub idle_ms: u64,
    pub lifetime_ms: u64,
    /// How often sessions of open connections are checked for revocation.
    pub session_check_ms: u64,
    /// Close a connection when the token that opened it expires (beyond
    /// API Gateway, which keeps it for its lifetime).
    pub close_on_token_expiry: bool,
    /// Messages queued for one connection before `@connections` answers
    /// 429 and broadcasts skip it.
    pub send_queue: usize,
    /// New connections per second (a token bucket; past it the upgrade is
    /// 429). `None`: not limited (AWS allows 500/s per account).
    pub connect_throttle: Option<crate::api::Throttle>,
}

impl Default for WsLimits {
    fn default() -> WsLimits {
        WsLimits {
            frame_bytes: 32 * 1024,
            message_bytes: 128 * 1024,
            idle_ms: 10 * 60 * 1000,
            lifetime_ms: 2 * 60 * 60 * 1000,
            session_check_ms: 30_000,
            close_on_token_expiry: false,
            send_queue: 64,
            connect_throttle: None,
        }
    }
}

// ---------------------------------------------------------------- file ---

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebSocketApiFile {
    pub(crate) name: String,
    listen: Option<String>,
    #[serde(default)]
    custom_domains: Vec<MappingFile>,
    #[serde(default)]
    stages: Vec<WsStageFile>,
    route_selection_expression: Option<String>,
    #[serde(default)]
    routes: Vec<WsRouteFile>,
    #[serde(default)]
    authorizers: BTreeMap<String, WsAuthorizerFile>,
    #[serde(default)]
    integrations: BTreeMap<String, WsIntegrationFile>,
    allowed_origins: Option<Vec<String>>,
    #[serde(default)]
    limits: WsLimitsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WsStageFile {
    name: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WsRouteFile {
    route: String,
    integration: Option<String>,
    authorizer: Option<String>,
    #[serde(default)]
    route_response: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WsAuthorizerFile {
    #[serde(rename = "type")]
    kind: String,
    // request
    function: Option<String>,
    url: Option<String>,
    endpoint: Option<String>,
    function_name: Option<String>,
    identity_sources: Option<Vec<String>>,
    ttl_seconds: Option<u32>,
    timeout_ms: Option<u64>,
    // session
    http_api: Option<String>,
    csrf_query: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WsIntegrationFile {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    function: Option<String>,
    endpoint: Option<String>,
    function_name: Option<String>,
    timeout_ms: Option<u64>,
    body: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WsLimitsFile {
    frame_bytes: Option<usize>,
    message_bytes: Option<usize>,
    idle_seconds: Option<u64>,
    lifetime_seconds: Option<u64>,
    session_check_seconds: Option<u64>,
    #[serde(default)]
    close_on_token_expiry: bool,
    send_queue: Option<usize>,
    connect_rate: Option<f64>,
    connect_burst: Option<u32>,
}

/// API Gateway's integration timeout for WebSocket APIs.
const MAX_WS_TIMEOUT_MS: u64 = 29_000;

/// A WebSocket identity source (`route.request.header.Cookie`,
/// `route.request.querystring.x`, `stageVariables.x`, `context.x`).
pub fn parse_ws_identity_source(s: &str) -> Option<IdentitySource> {
    let nonempty = |v: &str| (!v.is_empty()).then(|| v.to_string());
    if let Some(h) = s.strip_prefix("route.request.header.") {
        nonempty(h).map(|h| IdentitySource::Header(h.to_ascii_lowercase()))
    } else if let Some(q) = s.strip_prefix("route.request.querystring.") {
        nonempty(q).map(IdentitySource::QueryString)
    } else if let Some(v) = s.strip_prefix("stageVariables.") {
        nonempty(v).map(IdentitySource::StageVariable)
    } else if let Some(c) = s.strip_prefix("context.") {
        nonempty(c).map(IdentitySource::Context)
    } else {
        None
    }
}

pub(crate) fn websocket_apis(
    c: &mut Collector,
    files: Vec<WebSocketApiFile>,
    http_apis: &[HttpApi],
    functions: &[Function],
    listen: impl Fn(&mut Collector, &str, Option<String>) -> Listen,
) -> Vec<WebSocketApi> {
    let mut out: Vec<WebSocketApi> = Vec::new();
    for (i, a) in files.into_iter().enumerate() {
        let at = format!("websocket_apis[{i}]");
        let taken = out.iter().any(|o| o.name == a.name);
        check_name(c, &at, &a.name, taken, "WebSocket API");
        let listen = listen(c, &format!("{at}.listen"), a.listen);

        let mut stages: Vec<WsStage> = Vec::new();
        for (si, s) in a.stages.into_iter().enumerate() {
            let sat = format!("{at}.stages[{si}]");
            check_stage_name(c, &sat, &s.name, stages.iter().any(|o| o.name == s.name));
            stages.push(WsStage {
                name: s.name,
                variables: s.variables,
            });
        }
        if stages.is_empty() {
            stages.push(WsStage {
                name: "$default".to_string(),
                variables: BTreeMap::new(),
            });
        }

        let route_selection_expression = a
            .route_selection_expression
            .unwrap_or_else(|| "$request.body.action".to_string());
        if !route_selection_expression.contains("request.body") {
            c.at(
                format!("{at}.route_selection_expression"),
                "must select on the message: $request.body.<path>, as ${request.body.x}/${request.body.y} or plain",
            );
        }

        let authorizers: Vec<WsAuthorizer> =
            named(c, &at, "authorizer", a.authorizers, |c, aat, f| {
                authorizer(c, aat, f, http_apis, functions)
            })
            .into_iter()
            .map(|(name, kind)| WsAuthorizer { name, kind })
            .collect();
        if authorizers.len() > 10 {
            c.at(
                format!("{at}.authorizers"),
                "at most 10 authorizers per API",
            );
        }

        let integrations: Vec<WsIntegration> =
            named(c, &at, "integration", a.integrations, |c, iat, f| {
                integration(c, iat, f, functions)
            })
            .into_iter()
            .map(|(name, kind)| WsIntegration { name, kind })
            .collect();

        let mut routes: Vec<WsRoute> = Vec::new();
        for (ri, r) in a.routes.into_iter().enumerate() {
            let rat = format!("{at}.routes[{ri}]");
            let reserved = ["$connect", "$disconnect", "$default"];
            if r.route.starts_with('$') && !reserved.contains(&r.route.as_str()) {
                c.at(
                    format!("{rat}.route"),
                    "custom route keys must not start with '$' ($connect, $disconnect and $default are the reserved ones)",
                );
            }
            if r.route.is_empty() || r.route.len() > 128 {
                c.at(format!("{rat}.route"), "must be 1 to 128 characters");
            }
            if routes.iter().any(|o| o.key == r.route) {
                c.at(format!("{rat}.route"), format!("route '{}' twice", r.route));
            }
            match &r.integration {
                Some(i) if !integrations.iter().any(|x| &x.name == i) => c.at(
                    format!("{rat}.integration"),
                    format!("no integration named '{i}'"),
                ),
                None if r.route != "$connect" && r.route != "$disconnect" => c.at(
                    format!("{rat}.integration"),
                    "a route needs an integration (only $connect and $disconnect may go without)",
                ),
                _ => {}
            }
            if let Some(az) = &r.authorizer {
                if r.route != "$connect" {
                    c.at(
                        format!("{rat}.authorizer"),
                        "authorizers run on $connect only (every other route is inside the authorized connection)",
                    );
                } else if !authorizers.iter().any(|x| &x.name == az) {
                    c.at(
                        format!("{rat}.authorizer"),
                        format!("no authorizer named '{az}'"),
                    );
                }
            }
            if r.route_response && (r.route == "$connect" || r.route == "$disconnect") {
                c.at(
                    format!("{rat}.route_response"),
                    "$connect and $disconnect answers are never sent as messages",
                );
            }
            routes.push(WsRoute {
                key: r.route,
                integration: r.integration,
                authorizer: r.authorizer,
                route_response: r.route_response,
            });
        }
        if routes.len() > 300 {
            c.at(format!("{at}.routes"), "at most 300 routes per API");
        }

        // Cookies authorize: an Origin allow-list is required (cross-site
        // WebSocket hijacking: a browser sends the cookies to any page's
        // upgrade).
        let connect_auth = routes
            .iter()
            .find(|r| r.key == "$connect")
            .and_then(|r| r.authorizer.as_ref())
            .and_then(|n| authorizers.iter().find(|a| &a.name == n));
        let cookie_auth = match connect_auth.map(|a| &a.kind) {
            Some(WsAuthorizerKind::Session { .. }) => true,
            Some(WsAuthorizerKind::Request(r)) => r
                .identity_sources
                .iter()
                .any(|s| matches!(s, IdentitySource::Header(h) if h == "cookie")),
            None => false,
        };
        let allowed_origins = match (a.allowed_origins, connect_auth.map(|a| &a.kind)) {
            (Some(list), _) => {
                for (oi, o) in list.iter().enumerate() {
                    let ok = o == "*"
                        || o.starts_with("${")
                        || url::Url::parse(&o.replace("://*.", "://wildcard."))
                            .is_ok_and(|u| u.path() == "/" && !o.ends_with('/'));
                    if !ok {
                        c.at(
                            format!("{at}.allowed_origins[{oi}]"),
                            format!("'{o}' is not an origin such as https://app.example.test, https://*.example.test or *"),
                        );
                    }
                }
                Some(list)
            }
            (None, Some(WsAuthorizerKind::Session { http_api, .. })) => {
                // The session's own API, and its cookie domain's hosts.
                let mut list = vec![format!("${{api.{http_api}}}")];
                if let Some(d) = http_apis
                    .iter()
                    .find(|h| &h.name == http_api)
                    .and_then(|h| h.session.as_ref())
                    .and_then(|s| s.cookie_domain.as_ref())
                {
                    list.push(format!("https://{d}"));
                    list.push(format!("https://*.{d}"));
                }
                Some(list)
            }
            (None, _) if cookie_auth => {
                c.at(
                    format!("{at}.allowed_origins"),
                    "cookies authorize $connect: list the origins your pages are served from (or \"*\")",
                );
                None
            }
            (None, _) => None,
        };

        let d = WsLimits::default();
        let l = a.limits;
        let limits = WsLimits {
            frame_bytes: l.frame_bytes.unwrap_or(d.frame_bytes),
            message_bytes: l.message_bytes.unwrap_or(d.message_bytes),
            idle_ms: l.idle_seconds.map_or(d.idle_ms, |s| s * 1000),
            lifetime_ms: l.lifetime_seconds.map_or(d.lifetime_ms, |s| s * 1000),
            session_check_ms: l
                .session_check_seconds
                .map_or(d.session_check_ms, |s| s * 1000),
            close_on_token_expiry: l.close_on_token_expiry,
            send_queue: l.send_queue.unwrap_or(d.send_queue),
            connect_throttle: match (l.connect_rate, l.connect_burst) {
                (None, None) => None,
                (rate, burst) => {
                    let rate = rate.unwrap_or(500.0);
                    if !(rate.is_finite() && rate > 0.0) {
                        c.at(
                            format!("{at}.limits.connect_rate"),
                            "must be a number of connections per second above 0",
                        );
                    }
                    Some(crate::api::Throttle {
                        rate,
                        burst: burst.unwrap_or(rate.ceil().max(1.0) as u32),
                    })
                }
            },
        };
        let lat = format!("{at}.limits");
        if !(125..=16 * 1024 * 1024).contains(&limits.frame_bytes) {
            c.at(format!("{lat}.frame_bytes"), "must be 125 to 16777216");
        }
        if limits.message_bytes < limits.frame_bytes || limits.message_bytes > 64 * 1024 * 1024 {
            c.at(
                format!("{lat}.message_bytes"),
                "must be at least frame_bytes and at most 67108864",
            );
        }
        if limits.idle_ms == 0 || limits.lifetime_ms == 0 || limits.session_check_ms == 0 {
            c.at(
                &lat,
                "idle_seconds, lifetime_seconds and session_check_seconds must be above 0",
            );
        }
        if !(1..=100_000).contains(&limits.send_queue) {
            c.at(format!("{lat}.send_queue"), "must be 1 to 100000");
        }

        let mut custom_domains = Vec::new();
        for (mi, m) in a.custom_domains.into_iter().enumerate() {
            let mat = format!("{at}.custom_domains[{mi}]");
            let mapping = crate::api::mapping(c, &mat, m);
            if !stages.iter().any(|s| s.name == mapping.stage) {
                c.at(
                    format!("{mat}.stage"),
                    format!("no stage '{}'", mapping.stage),
                );
            }
            custom_domains.push(mapping);
        }

        out.push(WebSocketApi {
            name: a.name,
            listen,
            custom_domains,
            stages,
            route_selection_expression,
            routes,
            authorizers,
            integrations,
            allowed_origins,
            limits,
        });
    }
    out
}

fn authorizer(
    c: &mut Collector,
    at: &str,
    f: WsAuthorizerFile,
    http_apis: &[HttpApi],
    functions: &[Function],
) -> Option<WsAuthorizerKind> {
    match f.kind.as_str() {
        "request" => {
            if f.http_api.is_some() || f.csrf_query.is_some() {
                c.at(
                    at,
                    "a request authorizer takes function, url or endpoint, identity_sources, ttl_seconds and timeout_ms",
                );
            }
            let target = crate::api::target(
                c,
                at,
                f.function,
                f.url,
                f.endpoint,
                f.function_name,
                functions,
            )?;
            let mut identity_sources = Vec::new();
            for s in f.identity_sources.unwrap_or_default() {
                match parse_ws_identity_source(&s) {
                    Some(src) => identity_sources.push(src),
                    None => c.at(
                        format!("{at}.identity_sources"),
                        format!("'{s}' is not route.request.header.X, route.request.querystring.X, stageVariables.X or context.X"),
                    ),
                }
            }
            let ttl_s = authorizer_ttl(c, at, f.ttl_seconds, !identity_sources.is_empty());
            Some(WsAuthorizerKind::Request(RequestAuthorizer {
                target,
                payload_version: PayloadVersion::V1,
                simple_responses: false,
                identity_sources,
                ttl_s,
                timeout_ms: timeout(c, at, f.timeout_ms, 10_000, 10_000),
            }))
        }
        "session" => {
            if f.function.is_some()
                || f.url.is_some()
                || f.endpoint.is_some()
                || f.identity_sources.is_some()
                || f.ttl_seconds.is_some()
            {
                c.at(
                    at,
                    "a session authorizer takes http_api (whose [session] it uses) and csrf_query",
                );
            }
            let Some(http_api) = f.http_api else {
                c.at(
                    format!("{at}.http_api"),
                    "name the HTTP API whose cookie session authorizes",
                );
                return None;
            };
            match http_apis.iter().find(|h| h.name == http_api) {
                None => c.at(
                    format!("{at}.http_api"),
                    format!("no HTTP API named '{http_api}'"),
                ),
                Some(h) if h.session.is_none() => c.at(
                    format!("{at}.http_api"),
                    format!("HTTP API '{http_api}' has no [session]"),
                ),
                Some(_) => {}
            }
            let csrf_query = f.csrf_query.unwrap_or_else(|| "csrf".to_string());
            if csrf_query.is_empty() {
                c.at(format!("{at}.csrf_query"), "must name a query parameter");
            }
            Some(WsAuthorizerKind::Session {
                http_api,
                csrf_query,
            })
        }
        other => {
            c.at(
                format!("{at}.type"),
                format!("'{other}' is not request or session"),
            );
            None
        }
    }
}

fn integration(
    c: &mut Collector,
    at: &str,
    f: WsIntegrationFile,
    functions: &[Function],
) -> Option<WsIntegrationKind> {
    let only = |c: &mut Collector, ok: &[&str], f: &WsIntegrationFile| {
        let given = [
            ("url", f.url.is_some()),
            ("function", f.function.is_some()),
            ("endpoint", f.endpoint.is_some()),
            ("function_name", f.function_name.is_some()),
            ("timeout_ms", f.timeout_ms.is_some()),
            ("body", f.body.is_some()),
        ];
        for (name, set) in given {
            if set && !ok.contains(&name) {
                c.at(
                    format!("{at}.{name}"),
                    format!("not a setting of a '{}' integration", f.kind),
                );
            }
        }
    };
    match f.kind.as_str() {
        "http" => {
            only(c, &["url", "timeout_ms"], &f);
            let Some(url) = f.url.clone() else {
                c.at(format!("{at}.url"), "an http integration needs a url");
                return None;
            };
            http_url(c, &format!("{at}.url"), &url);
            Some(WsIntegrationKind::Http {
                url,
                timeout_ms: timeout(c, at, f.timeout_ms, MAX_WS_TIMEOUT_MS, MAX_WS_TIMEOUT_MS),
            })
        }
        "lambda" => {
            only(
                c,
                &["function", "url", "endpoint", "function_name", "timeout_ms"],
                &f,
            );
            let timeout_ms = timeout(c, at, f.timeout_ms, MAX_WS_TIMEOUT_MS, MAX_WS_TIMEOUT_MS);
            let target = crate::api::target(
                c,
                at,
                f.function,
                f.url,
                f.endpoint,
                f.function_name,
                functions,
            )?;
            Some(WsIntegrationKind::Lambda { target, timeout_ms })
        }
        "response" => {
            only(c, &["body"], &f);
            Some(WsIntegrationKind::Response {
                body: f.body.clone().unwrap_or_default(),
            })
        }
        "echo" => {
            only(c, &[], &f);
            Some(WsIntegrationKind::Echo)
        }
        "broadcast" => {
            only(c, &[], &f);
            Some(WsIntegrationKind::Broadcast)
        }
        other => {
            c.at(
                format!("{at}.type"),
                format!("'{other}' is not http, lambda, response, echo or broadcast"),
            );
            None
        }
    }
}
