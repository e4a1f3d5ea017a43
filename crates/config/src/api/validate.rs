//! Validation of the HTTP API and function sections into the model, every
//! problem collected with its location; the checks WebSocket APIs share
//! (names, stages, mappings, targets, timeouts) are here too.

use std::collections::BTreeMap;

use super::*;
use crate::model::{Listen, UserPool};
use crate::Collector;

const MAX_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

pub(crate) fn functions(c: &mut Collector, files: Vec<FunctionFile>) -> Vec<Function> {
    let mut out: Vec<Function> = Vec::new();
    for (i, f) in files.into_iter().enumerate() {
        let at = format!("functions[{i}]");
        let taken = out.iter().any(|o| o.name == f.name);
        check_name(c, &at, &f.name, taken, "function");
        let runtime = match f.runtime.as_str() {
            "nodejs" | "node" => Runtime::Node,
            "python" => Runtime::Python,
            "provided" => Runtime::Provided,
            other => {
                c.at(
                    format!("{at}.runtime"),
                    format!("'{other}' is not one of nodejs, python, provided"),
                );
                Runtime::Provided
            }
        };
        let handler = match (runtime, f.handler) {
            (_, Some(h)) => h,
            (Runtime::Node, None) => "index.handler".to_string(),
            (Runtime::Python, None) => "lambda_function.lambda_handler".to_string(),
            (Runtime::Provided, None) => "bootstrap".to_string(),
        };
        if runtime != Runtime::Provided
            && handler
                .rsplit_once('.')
                .is_none_or(|(m, f)| m.is_empty() || f.is_empty())
        {
            c.at(
                format!("{at}.handler"),
                format!("'{handler}' is not module.function"),
            );
        }
        let timeout_s = f.timeout_seconds.unwrap_or(3);
        if !(1..=900).contains(&timeout_s) {
            c.at(format!("{at}.timeout_seconds"), "must be 1 to 900");
        }
        let concurrency = f.concurrency.unwrap_or(4);
        if !(1..=256).contains(&concurrency) {
            c.at(format!("{at}.concurrency"), "must be 1 to 256");
        }
        if f.code.is_empty() {
            c.at(format!("{at}.code"), "must name the code directory");
        }
        out.push(Function {
            name: f.name,
            runtime,
            handler,
            code: f.code,
            timeout_ms: timeout_s * 1000,
            concurrency,
            environment: f.environment,
        });
    }
    out
}

pub(crate) fn http_apis(
    c: &mut Collector,
    files: Vec<HttpApiFile>,
    pools: &[UserPool],
    functions: &[Function],
    listen: impl Fn(&mut Collector, &str, Option<String>) -> Listen,
) -> Vec<HttpApi> {
    let mut out: Vec<HttpApi> = Vec::new();
    for (i, a) in files.into_iter().enumerate() {
        let at = format!("http_apis[{i}]");
        let taken = out.iter().any(|o| o.name == a.name);
        check_name(c, &at, &a.name, taken, "API");
        let listen = listen(c, &format!("{at}.listen"), a.listen);

        let mut stages: Vec<Stage> = Vec::new();
        for (si, s) in a.stages.into_iter().enumerate() {
            let sat = format!("{at}.stages[{si}]");
            check_stage_name(c, &sat, &s.name, stages.iter().any(|o| o.name == s.name));
            if s.variables.len() > 100 {
                c.at(format!("{sat}.variables"), "at most 100 stage variables");
            }
            let mut throttle = |t: ThrottleFile, where_: String| {
                if !(t.rate.is_finite() && t.rate >= 0.0) {
                    c.at(
                        where_,
                        "rate must be a number of requests per second, 0 or more",
                    );
                }
                Throttle {
                    rate: t.rate,
                    burst: t.burst,
                }
            };
            let default = s.throttle.map(|t| throttle(t, format!("{sat}.throttle")));
            let mut per_route = BTreeMap::new();
            for (k, t) in s.route_throttle {
                per_route.insert(k.clone(), throttle(t, format!("{sat}.route_throttle.{k}")));
            }
            stages.push(Stage {
                name: s.name,
                variables: s.variables,
                throttle: default,
                route_throttle: per_route,
            });
        }
        if stages.is_empty() {
            stages.push(Stage {
                name: "$default".to_string(),
                variables: BTreeMap::new(),
                throttle: None,
                route_throttle: BTreeMap::new(),
            });
        }

        let session = a.session.map(|f| {
            let sat = format!("{at}.session");
            match pools.iter().find(|p| p.name == f.user_pool) {
                None => c.at(
                    format!("{sat}.user_pool"),
                    format!("no user pool named '{}'", f.user_pool),
                ),
                Some(p) => {
                    if !p.clients.iter().any(|cl| cl.name == f.client) {
                        c.at(
                            format!("{sat}.client"),
                            format!("pool '{}' has no client '{}'", p.name, f.client),
                        );
                    }
                    if p.domain.is_none() && f.hosted_url.is_none() {
                        c.at(
                            format!("{sat}.user_pool"),
                            "the pool needs a domain (its hosted sign-in), or give hosted_url",
                        );
                    }
                }
            }
            if !f.after_sign_in.starts_with('/') || f.after_sign_in.starts_with("//") {
                c.at(
                    format!("{sat}.after_sign_in"),
                    "must be a path on this API, such as \"/\"",
                );
            }
            if f.csrf_header.is_empty()
                || !f
                    .csrf_header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                c.at(format!("{sat}.csrf_header"), "must be a header name");
            }
            Session {
                callback_url: f
                    .callback_url
                    .unwrap_or_else(|| format!("${{api.{}}}/oauth2/callback", a.name)),
                hosted_url: f
                    .hosted_url
                    .unwrap_or_else(|| format!("${{domain.{}}}", f.user_pool)),
                user_pool: f.user_pool,
                client: f.client,
                after_sign_in: f.after_sign_in,
                cookie_domain: f
                    .cookie_domain
                    .map(|d| d.trim_start_matches('.').to_ascii_lowercase()),
                csrf_header: f.csrf_header,
                scopes: f.scopes,
                redirect_to_sign_in: f.redirect_to_sign_in,
            }
        });

        let authorizers: Vec<Authorizer> =
            named(c, &at, "authorizer", a.authorizers, |c, aat, f| {
                let kind = authorizer(c, aat, f, pools, functions)?;
                if kind == AuthorizerKind::Session && session.is_none() {
                    c.at(aat, "a session authorizer needs the API's [session]");
                }
                Some(kind)
            })
            .into_iter()
            .map(|(name, kind)| Authorizer { name, kind })
            .collect();
        if authorizers.len() > 10 {
            c.at(
                format!("{at}.authorizers"),
                "at most 10 authorizers per API",
            );
        }

        let integrations: Vec<Integration> =
            named(c, &at, "integration", a.integrations, |c, iat, f| {
                let kind = integration(c, iat, f, functions)?;
                let needs_session = matches!(
                    kind,
                    IntegrationKind::SessionCallback
                        | IntegrationKind::SessionLogin
                        | IntegrationKind::SessionLogout { .. }
                );
                if needs_session && session.is_none() {
                    c.at(iat, "a session integration needs the API's [session]");
                }
                Some(kind)
            })
            .into_iter()
            .map(|(name, kind)| Integration { name, kind })
            .collect();

        let mut routes: Vec<Route> = Vec::new();
        for (ri, r) in a.routes.into_iter().enumerate() {
            let rat = format!("{at}.routes[{ri}]");
            let key = match parse_route_key(&r.route) {
                Ok(k) => k,
                Err(e) => {
                    c.at(format!("{rat}.route"), e);
                    continue;
                }
            };
            if routes.iter().any(|o| o.key == key) {
                c.at(format!("{rat}.route"), format!("route '{key}' twice"));
            }
            if !integrations.iter().any(|i| i.name == r.integration) {
                c.at(
                    format!("{rat}.integration"),
                    format!("no integration named '{}'", r.integration),
                );
            }
            if let Some(az) = &r.authorizer {
                match authorizers.iter().find(|x| &x.name == az) {
                    None => c.at(
                        format!("{rat}.authorizer"),
                        format!("no authorizer named '{az}'"),
                    ),
                    Some(_) if r.scopes.len() > 10 => {
                        c.at(format!("{rat}.scopes"), "at most 10 scopes per route")
                    }
                    Some(_) => {}
                }
            } else if !r.scopes.is_empty() {
                c.at(format!("{rat}.scopes"), "scopes need an authorizer");
            }
            routes.push(Route {
                key,
                integration: r.integration,
                authorizer: r.authorizer,
                scopes: r.scopes,
            });
        }
        if routes.len() > 300 {
            c.at(format!("{at}.routes"), "at most 300 routes per API");
        }
        for s in &stages {
            for k in s.route_throttle.keys() {
                if !routes.iter().any(|r| &r.key.to_string() == k) {
                    c.at(
                        format!("{at}.stages.{}.route_throttle", s.name),
                        format!("no route '{k}'"),
                    );
                }
            }
        }

        let mut custom_domains = Vec::new();
        for (mi, m) in a.custom_domains.into_iter().enumerate() {
            let mat = format!("{at}.custom_domains[{mi}]");
            let mapping = mapping(c, &mat, m);
            if !stages.iter().any(|s| s.name == mapping.stage) {
                c.at(
                    format!("{mat}.stage"),
                    format!("no stage '{}'", mapping.stage),
                );
            }
            custom_domains.push(mapping);
        }

        let cors = a.cors.map(|f| {
            if f.allow_credentials && f.allow_origins.iter().any(|o| o == "*") {
                c.at(
                    format!("{at}.cors"),
                    "allow-credentials is not supported if 'allow-origin' is *",
                );
            }
            Cors {
                allow_origins: f.allow_origins,
                allow_methods: f.allow_methods,
                allow_headers: f
                    .allow_headers
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
                expose_headers: f.expose_headers,
                max_age: f.max_age,
                allow_credentials: f.allow_credentials,
            }
        });
        out.push(HttpApi {
            name: a.name,
            listen,
            custom_domains,
            stages,
            routes,
            authorizers,
            integrations,
            cors,
            body_limit: a.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
            session,
        });
    }
    out
}

fn authorizer(
    c: &mut Collector,
    at: &str,
    f: AuthorizerFile,
    pools: &[UserPool],
    functions: &[Function],
) -> Option<AuthorizerKind> {
    match f.kind.as_str() {
        "jwt" => {
            if f.function.is_some()
                || f.url.is_some()
                || f.endpoint.is_some()
                || f.identity_sources.is_some()
                || f.ttl_seconds.is_some()
                || f.simple_responses
            {
                c.at(
                    at,
                    "a jwt authorizer takes user_pool or issuer, audience and identity_source",
                );
            }
            let identity_source = match f.identity_source.as_deref() {
                None => IdentitySource::Header("authorization".to_string()),
                Some(s) => match IdentitySource::parse(s) {
                    Some(
                        src @ (IdentitySource::Header(_)
                        | IdentitySource::QueryString(_)
                        | IdentitySource::Cookie(_)),
                    ) => src,
                    _ => {
                        c.at(
                            format!("{at}.identity_source"),
                            format!("'{s}' is not $request.header.X, $request.querystring.X or $request.cookie.X"),
                        );
                        return None;
                    }
                },
            };
            let (issuer, audience) = match (f.user_pool, f.issuer) {
                (Some(p), None) => {
                    let Some(pool) = pools.iter().find(|x| x.name == p) else {
                        c.at(
                            format!("{at}.user_pool"),
                            format!("no user pool named '{p}'"),
                        );
                        return None;
                    };
                    let audience = f
                        .audience
                        .unwrap_or_else(|| pool.clients.iter().map(|c| c.name.clone()).collect());
                    (JwtIssuer::Pool(p), audience)
                }
                (None, Some(i)) => {
                    match url::Url::parse(&i) {
                        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                        _ => c.at(
                            format!("{at}.issuer"),
                            format!("'{i}' is not an http(s) URL"),
                        ),
                    }
                    let Some(audience) = f.audience else {
                        c.at(
                            format!("{at}.audience"),
                            "an external issuer needs an audience list",
                        );
                        return None;
                    };
                    (JwtIssuer::Url(i), audience)
                }
                _ => {
                    c.at(at, "give user_pool = NAME or issuer = URL");
                    return None;
                }
            };
            if audience.is_empty() || audience.len() > 50 {
                c.at(format!("{at}.audience"), "1 to 50 audiences");
            }
            Some(AuthorizerKind::Jwt(JwtAuthorizer {
                issuer,
                audience,
                identity_source,
            }))
        }
        "request" => {
            if f.user_pool.is_some()
                || f.issuer.is_some()
                || f.audience.is_some()
                || f.identity_source.is_some()
            {
                c.at(at, "a request authorizer takes identity_sources (a list), not identity_source, user_pool, issuer or audience");
            }
            let target = target(
                c,
                at,
                f.function,
                f.url,
                f.endpoint,
                f.function_name,
                functions,
            )?;
            let payload_version = payload_version(c, at, f.payload_format_version);
            if f.simple_responses && payload_version == PayloadVersion::V1 {
                c.at(
                    format!("{at}.simple_responses"),
                    "simple responses need payload format 2.0",
                );
            }
            let mut identity_sources = Vec::new();
            for s in f.identity_sources.unwrap_or_default() {
                match IdentitySource::parse(&s) {
                    Some(src) => identity_sources.push(src),
                    None => c.at(
                        format!("{at}.identity_sources"),
                        format!("'{s}' is not $request.header.X, $request.querystring.X, $request.cookie.X, $context.X or $stageVariables.X"),
                    ),
                }
            }
            let ttl_s = authorizer_ttl(c, at, f.ttl_seconds, !identity_sources.is_empty());
            Some(AuthorizerKind::Request(RequestAuthorizer {
                target,
                payload_version,
                simple_responses: f.simple_responses,
                identity_sources,
                ttl_s,
                timeout_ms: timeout(c, at, f.timeout_ms, 10_000, 10_000),
            }))
        }
        "session" => {
            if f.user_pool.is_some()
                || f.issuer.is_some()
                || f.function.is_some()
                || f.url.is_some()
                || f.identity_sources.is_some()
            {
                c.at(
                    at,
                    "a session authorizer takes no settings: it uses the API's [session]",
                );
            }
            Some(AuthorizerKind::Session)
        }
        other => {
            c.at(
                format!("{at}.type"),
                format!("'{other}' is not jwt, request or session"),
            );
            None
        }
    }
}

/// Headers parameter mapping may not touch (API Gateway refuses them).
fn reserved_header(h: &str) -> bool {
    let h = h.to_ascii_lowercase();
    h.starts_with("access-control-")
        || h.starts_with("apigw-")
        || h.starts_with("x-amz-")
        || h.starts_with("x-amzn-")
        || [
            "authorization",
            "connection",
            "content-encoding",
            "content-length",
            "content-location",
            "forwarded",
            "keep-alive",
            "origin",
            "proxy-authenticate",
            "proxy-authorization",
            "te",
            "trailers",
            "transfer-encoding",
            "upgrade",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "via",
        ]
        .contains(&h.as_str())
}

fn integration(
    c: &mut Collector,
    at: &str,
    f: IntegrationFile,
    functions: &[Function],
) -> Option<IntegrationKind> {
    let unexpected = |c: &mut Collector, ok: &[&str], f: &IntegrationFile| {
        let given = [
            ("status", f.status.is_some()),
            ("headers", !f.headers.is_empty()),
            ("body", f.body.is_some()),
            ("url", f.url.is_some()),
            ("method", f.method.is_some()),
            ("timeout_ms", f.timeout_ms.is_some()),
            ("request_parameters", !f.request_parameters.is_empty()),
            ("function", f.function.is_some()),
            ("endpoint", f.endpoint.is_some()),
            ("function_name", f.function_name.is_some()),
            ("payload_format_version", f.payload_format_version.is_some()),
            ("redirect", f.redirect.is_some()),
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
        "response" => {
            unexpected(c, &["status", "headers", "body"], &f);
            let status = f.status.unwrap_or(200);
            if !(100..=599).contains(&status) {
                c.at(format!("{at}.status"), "must be 100 to 599");
            }
            Some(IntegrationKind::Response {
                status,
                headers: f.headers,
                body: f.body.unwrap_or_default(),
            })
        }
        "echo" => {
            unexpected(c, &[], &f);
            Some(IntegrationKind::Echo)
        }
        "http" => {
            unexpected(
                c,
                &["url", "method", "timeout_ms", "request_parameters"],
                &f,
            );
            let Some(url) = f.url.clone() else {
                c.at(format!("{at}.url"), "an http integration needs a url");
                return None;
            };
            http_url(c, &format!("{at}.url"), &url);
            let method = match f.method.as_deref() {
                None => Method::Any,
                Some(m) => Method::parse(m).unwrap_or_else(|| {
                    c.at(
                        format!("{at}.method"),
                        format!("'{m}' is not an HTTP method"),
                    );
                    Method::Any
                }),
            };
            let mut request_parameters = Vec::new();
            for (k, v) in f.request_parameters {
                let pat = format!("{at}.request_parameters.\"{k}\"");
                let action = match k.split_once(':') {
                    Some(("overwrite", "path")) => Some(ParameterAction::Path),
                    Some((op, target)) => {
                        let op = match op {
                            "append" => Some(MapOp::Append),
                            "overwrite" => Some(MapOp::Overwrite),
                            "remove" => Some(MapOp::Remove),
                            _ => None,
                        };
                        match (op, target.split_once('.')) {
                            (Some(op), Some(("header", h))) if !h.is_empty() => {
                                if reserved_header(h) {
                                    c.at(
                                        &pat,
                                        format!("header '{h}' is reserved and cannot be mapped"),
                                    );
                                }
                                Some(ParameterAction::Header(op, h.to_ascii_lowercase()))
                            }
                            (Some(op), Some(("querystring", q))) if !q.is_empty() => {
                                Some(ParameterAction::QueryString(op, q.to_string()))
                            }
                            _ => None,
                        }
                    }
                    None => None,
                };
                match action {
                    Some(a) => request_parameters.push((a, v)),
                    None => c.at(
                        &pat,
                        "keys are append|overwrite|remove:header.NAME, append|overwrite|remove:querystring.NAME or overwrite:path",
                    ),
                }
            }
            Some(IntegrationKind::Http(HttpIntegration {
                url,
                method,
                timeout_ms: timeout(c, at, f.timeout_ms, MAX_TIMEOUT_MS, MAX_TIMEOUT_MS),
                request_parameters,
            }))
        }
        "lambda" => {
            unexpected(
                c,
                &[
                    "function",
                    "url",
                    "endpoint",
                    "function_name",
                    "payload_format_version",
                    "timeout_ms",
                ],
                &f,
            );
            let target = target(
                c,
                at,
                f.function,
                f.url,
                f.endpoint,
                f.function_name,
                functions,
            )?;
            Some(IntegrationKind::Lambda {
                target,
                payload_version: payload_version(c, at, f.payload_format_version),
                timeout_ms: timeout(c, at, f.timeout_ms, MAX_TIMEOUT_MS, MAX_TIMEOUT_MS),
            })
        }
        "session_callback" => {
            unexpected(c, &[], &f);
            Some(IntegrationKind::SessionCallback)
        }
        "session_login" => {
            unexpected(c, &[], &f);
            Some(IntegrationKind::SessionLogin)
        }
        "session_logout" => {
            unexpected(c, &["redirect"], &f);
            Some(IntegrationKind::SessionLogout {
                redirect: f.redirect.clone(),
            })
        }
        other => {
            c.at(
                format!("{at}.type"),
                format!("'{other}' is not response, echo, http, lambda, session_callback, session_login or session_logout"),
            );
            None
        }
    }
}
