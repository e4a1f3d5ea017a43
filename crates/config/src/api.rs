//! HTTP APIs and functions: the file structs, their validation, and the
//! model the gateway works with.
//!
//! The model follows API Gateway's HTTP APIs (routes, stages, authorizers,
//! integrations, CORS, throttling) with names from AWS where AWS has them,
//! so a reader of its documentation finds the same words here.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{Listen, UserPool};
use crate::Collector;

/// An HTTP API.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpApi {
    pub name: String,
    pub listen: Listen,
    /// Host names whose requests to any listener reach this API, each
    /// mapped to a stage under a base path (API Gateway's API mappings).
    pub custom_domains: Vec<ApiMapping>,
    /// `$default` is served at the root; named stages under `/{name}`.
    pub stages: Vec<Stage>,
    pub routes: Vec<Route>,
    pub authorizers: Vec<Authorizer>,
    pub integrations: Vec<Integration>,
    pub cors: Option<Cors>,
    /// Largest request body accepted, in bytes (API Gateway: 10 MB).
    pub body_limit: usize,
    /// HttpOnly cookie sessions (beyond API Gateway).
    pub session: Option<Session>,
}

/// Cookie sessions of an API: the hosted sign-in of one app client, its
/// tokens kept in HttpOnly cookies set by the API's callback route.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Config name of the pool.
    pub user_pool: String,
    /// Config name of the app client.
    pub client: String,
    /// The callback URL registered with the client (placeholders allowed).
    pub callback_url: String,
    /// Base URL of the pool's hosted pages (placeholders allowed).
    pub hosted_url: String,
    /// Where the callback sends the browser after signing in.
    pub after_sign_in: String,
    /// `Domain` of the cookies, to share them with subdomains (then the
    /// `__Secure-` prefix replaces `__Host-`).
    pub cookie_domain: Option<String>,
    /// The header state-changing requests echo the CSRF cookie in.
    pub csrf_header: String,
    /// Scopes asked for at sign-in.
    pub scopes: Vec<String>,
    /// What a browser route does without a session: 403 (as seed 000's
    /// authorizer), or a redirect to the sign-in.
    pub redirect_to_sign_in: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiMapping {
    pub host: String,
    /// Without slashes at either end; empty for the root mapping.
    pub base_path: String,
    pub stage: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// `$default` or a name of letters, digits, `-` and `_`.
    pub name: String,
    pub variables: BTreeMap<String, String>,
    /// Applies to every route without its own setting.
    pub throttle: Option<Throttle>,
    /// Keyed by route key (`GET /pets`).
    pub route_throttle: BTreeMap<String, Throttle>,
}

/// A token bucket: `rate` requests per second refill, `burst` capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub rate: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub key: RouteKey,
    pub integration: String,
    pub authorizer: Option<String>,
    /// With a JWT authorizer: at least one must be among the token's scopes.
    pub scopes: Vec<String>,
}

/// `METHOD /path` or `$default`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteKey {
    Default,
    Path { method: Method, path: String },
}

impl std::fmt::Display for RouteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteKey::Default => f.write_str("$default"),
            RouteKey::Path { method, path } => write!(f, "{} {path}", method.as_str()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Any,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "ANY" => Method::Any,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Any => "ANY",
        }
    }
}

/// Parses a route key as API Gateway accepts it: `$default`, or a method
/// and a path of static segments, `{var}` segments and at most one greedy
/// `{var+}` as the last segment; no trailing slash except on `/` itself.
pub fn parse_route_key(s: &str) -> Result<RouteKey, String> {
    if s == "$default" {
        return Ok(RouteKey::Default);
    }
    let (method, path) = s
        .split_once(' ')
        .ok_or_else(|| format!("'{s}' is not a route key such as \"GET /pets/{{id}}\""))?;
    let method = Method::parse(method).ok_or_else(|| {
        format!("'{method}' is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY")
    })?;
    if !path.starts_with('/') {
        return Err(format!("path '{path}' must start with '/'"));
    }
    if path != "/" {
        if path.ends_with('/') {
            return Err(format!("path '{path}' must not end with '/'"));
        }
        let segments: Vec<&str> = path[1..].split('/').collect();
        let mut names = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            if seg.is_empty() {
                return Err(format!("path '{path}' has an empty segment"));
            }
            if let Some(inner) = seg.strip_prefix('{') {
                let inner = inner
                    .strip_suffix('}')
                    .ok_or_else(|| format!("segment '{seg}' of '{path}' is not {{name}}"))?;
                let (name, greedy) = match inner.strip_suffix('+') {
                    Some(n) => (n, true),
                    None => (inner, false),
                };
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(format!("variable '{seg}' of '{path}' needs a plain name"));
                }
                if greedy && i + 1 != segments.len() {
                    return Err(format!(
                        "greedy variable '{seg}' of '{path}' must be the last segment"
                    ));
                }
                if names.contains(&name) {
                    return Err(format!("variable '{name}' appears twice in '{path}'"));
                }
                names.push(name);
            } else if seg.contains(['{', '}', ' ', '?', '#']) {
                return Err(format!(
                    "segment '{seg}' of '{path}' has a reserved character"
                ));
            }
        }
    }
    Ok(RouteKey::Path {
        method,
        path: path.to_string(),
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct Authorizer {
    pub name: String,
    pub kind: AuthorizerKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizerKind {
    Jwt(JwtAuthorizer),
    Request(RequestAuthorizer),
    /// The API's cookie session (with CSRF checks on state-changing
    /// methods and silent refresh).
    Session,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JwtAuthorizer {
    pub issuer: JwtIssuer,
    /// Client names of the pool's config, or literal ids; for an external
    /// issuer, the literal `aud`/`client_id` values.
    pub audience: Vec<String>,
    pub identity_source: IdentitySource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtIssuer {
    /// One of this server's pools, by config name: verified in-process.
    Pool(String),
    /// Any OpenID Connect issuer, found by discovery.
    Url(String),
}

/// Where a request carries a value an authorizer needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentitySource {
    /// Case-insensitive header name, stored lower-case.
    Header(String),
    QueryString(String),
    /// A cookie by exact name (beyond API Gateway, which has no cookie
    /// identity source).
    Cookie(String),
    Context(String),
    StageVariable(String),
}

impl IdentitySource {
    pub fn parse(s: &str) -> Option<IdentitySource> {
        let nonempty = |v: &str| (!v.is_empty()).then(|| v.to_string());
        if let Some(h) = s.strip_prefix("$request.header.") {
            nonempty(h).map(|h| IdentitySource::Header(h.to_ascii_lowercase()))
        } else if let Some(q) = s.strip_prefix("$request.querystring.") {
            nonempty(q).map(IdentitySource::QueryString)
        } else if let Some(c) = s.strip_prefix("$request.cookie.") {
            nonempty(c).map(IdentitySource::Cookie)
        } else if let Some(c) = s.strip_prefix("$context.") {
            nonempty(c).map(IdentitySource::Context)
        } else if let Some(v) = s.strip_prefix("$stageVariables.") {
            nonempty(v).map(IdentitySource::StageVariable)
        } else {
            None
        }
    }
}

impl std::fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentitySource::Header(h) => write!(f, "$request.header.{h}"),
            IdentitySource::QueryString(q) => write!(f, "$request.querystring.{q}"),
            IdentitySource::Cookie(c) => write!(f, "$request.cookie.{c}"),
            IdentitySource::Context(c) => write!(f, "$context.{c}"),
            IdentitySource::StageVariable(v) => write!(f, "$stageVariables.{v}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RequestAuthorizer {
    pub target: Target,
    pub payload_version: PayloadVersion,
    /// 2.0 only: `{isAuthorized, context}` instead of an IAM policy.
    pub simple_responses: bool,
    pub identity_sources: Vec<IdentitySource>,
    /// 0 disables caching.
    pub ttl_s: u32,
    pub timeout_ms: u64,
}

/// What runs a Lambda-style event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A function of the config, run by cognate through the Runtime API.
    Function(String),
    /// An endpoint speaking the Lambda Invoke API.
    Invoke {
        endpoint: String,
        function_name: String,
    },
    /// A plain HTTP endpoint: the event is POSTed as JSON, the answer is
    /// the function's result.
    Url(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadVersion {
    V1,
    V2,
}

impl PayloadVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadVersion::V1 => "1.0",
            PayloadVersion::V2 => "2.0",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub name: String,
    pub kind: IntegrationKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IntegrationKind {
    /// A fixed answer; `body` and header values are templates over
    /// `${context.*}`, `${request.*}` and `${stageVariables.*}`.
    Response {
        status: u16,
        headers: BTreeMap<String, String>,
        body: String,
    },
    /// Answers with the payload 2.0 event the request would make, as JSON.
    Echo,
    Http(HttpIntegration),
    Lambda {
        target: Target,
        payload_version: PayloadVersion,
        timeout_ms: u64,
    },
    /// The OAuth callback of the API's session: exchanges the code, sets
    /// the cookies, redirects.
    SessionCallback,
    /// Starts the sign-in: state and PKCE bound to a short-lived cookie.
    SessionLogin,
    /// Ends the session: revokes the refresh token, clears the cookies,
    /// redirects to `redirect` if given (e.g. the hosted `/logout`).
    SessionLogout {
        redirect: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpIntegration {
    /// May contain `{var}` path variables and `${stageVariables.x}`.
    pub url: String,
    /// `ANY` forwards the client's method.
    pub method: Method,
    pub timeout_ms: u64,
    /// Parameter mapping: `overwrite:header.x-user` -> `$context.authorizer.claims.sub`.
    pub request_parameters: Vec<(ParameterAction, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterAction {
    Header(MapOp, String),
    QueryString(MapOp, String),
    Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapOp {
    Append,
    Overwrite,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u32>,
    pub allow_credentials: bool,
}

/// A function cognate runs itself, through the Lambda Runtime API.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    pub runtime: Runtime,
    /// `index.handler`, `lambda_function.lambda_handler`; for `provided`,
    /// passed as `_HANDLER`.
    pub handler: String,
    /// The directory holding the code; relative paths are relative to the
    /// config file's directory.
    pub code: String,
    pub timeout_ms: u64,
    /// How many invocations run at once (each in its own process).
    pub concurrency: u32,
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `node`, with cognate's runtime client for `file.export` handlers.
    Node,
    /// `python3`, with cognate's runtime client for `module.function`.
    Python,
    /// The `bootstrap` executable in the code directory (custom runtime).
    Provided,
}

// ---------------------------------------------------------------- file ---

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpApiFile {
    pub(crate) name: String,
    listen: Option<String>,
    #[serde(default)]
    custom_domains: Vec<MappingFile>,
    #[serde(default)]
    stages: Vec<StageFile>,
    #[serde(default)]
    routes: Vec<RouteFile>,
    #[serde(default)]
    authorizers: BTreeMap<String, AuthorizerFile>,
    #[serde(default)]
    integrations: BTreeMap<String, IntegrationFile>,
    cors: Option<CorsFile>,
    body_limit: Option<usize>,
    session: Option<SessionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionFile {
    user_pool: String,
    client: String,
    callback_url: Option<String>,
    hosted_url: Option<String>,
    #[serde(default = "default_after")]
    after_sign_in: String,
    cookie_domain: Option<String>,
    #[serde(default = "default_csrf_header")]
    csrf_header: String,
    #[serde(default = "default_session_scopes")]
    scopes: Vec<String>,
    #[serde(default)]
    redirect_to_sign_in: bool,
}

fn default_after() -> String {
    "/".to_string()
}
fn default_csrf_header() -> String {
    "X-CSRF-Token".to_string()
}
fn default_session_scopes() -> Vec<String> {
    vec![
        "openid".to_string(),
        "email".to_string(),
        "profile".to_string(),
    ]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MappingFile {
    host: String,
    #[serde(default)]
    base_path: String,
    #[serde(default = "default_stage")]
    stage: String,
}

fn default_stage() -> String {
    "$default".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFile {
    name: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    throttle: Option<ThrottleFile>,
    #[serde(default)]
    route_throttle: BTreeMap<String, ThrottleFile>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct ThrottleFile {
    rate: f64,
    burst: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    route: String,
    integration: String,
    authorizer: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizerFile {
    #[serde(rename = "type")]
    kind: String,
    // jwt
    user_pool: Option<String>,
    issuer: Option<String>,
    audience: Option<Vec<String>>,
    identity_source: Option<String>,
    // request
    function: Option<String>,
    url: Option<String>,
    endpoint: Option<String>,
    function_name: Option<String>,
    payload_format_version: Option<String>,
    #[serde(default)]
    simple_responses: bool,
    identity_sources: Option<Vec<String>>,
    ttl_seconds: Option<u32>,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntegrationFile {
    #[serde(rename = "type")]
    kind: String,
    // response
    status: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    // http
    url: Option<String>,
    method: Option<String>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    request_parameters: BTreeMap<String, String>,
    // lambda
    function: Option<String>,
    endpoint: Option<String>,
    function_name: Option<String>,
    payload_format_version: Option<String>,
    // session_logout
    redirect: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CorsFile {
    #[serde(default)]
    allow_origins: Vec<String>,
    #[serde(default)]
    allow_methods: Vec<String>,
    #[serde(default)]
    allow_headers: Vec<String>,
    #[serde(default)]
    expose_headers: Vec<String>,
    max_age: Option<u32>,
    #[serde(default)]
    allow_credentials: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FunctionFile {
    pub(crate) name: String,
    runtime: String,
    handler: Option<String>,
    code: String,
    timeout_seconds: Option<u64>,
    concurrency: Option<u32>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
}

const MAX_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A table of named things (`authorizers.NAME`, `integrations.NAME`):
/// each name plain, each entry checked by `check`; what passes, named.
pub(crate) fn named<F, T>(
    c: &mut Collector,
    at: &str,
    what: &str,
    files: BTreeMap<String, F>,
    mut check: impl FnMut(&mut Collector, &str, F) -> Option<T>,
) -> Vec<(String, T)> {
    let mut out = Vec::new();
    for (name, f) in files {
        let nat = format!("{at}.{what}s.{name}");
        if !is_name(&name) {
            c.at(
                &nat,
                format!("{what} names are letters, digits, '-' or '_'"),
            );
        }
        if let Some(t) = check(c, &nat, f) {
            out.push((name, t));
        }
    }
    out
}

/// A stage name: `$default`, or plain; used once.
pub(crate) fn check_stage_name(c: &mut Collector, sat: &str, name: &str, taken: bool) {
    if name != "$default" && !is_name(name) {
        c.at(
            format!("{sat}.name"),
            "must be \"$default\" or letters, digits, '-' or '_'",
        );
    }
    if taken {
        c.at(format!("{sat}.name"), format!("stage '{name}' twice"));
    }
}

/// A request authorizer's cache TTL: 300 s by default when identity
/// sources make a cache key, else 0; at most 3600.
pub(crate) fn authorizer_ttl(c: &mut Collector, at: &str, ttl: Option<u32>, keyed: bool) -> u32 {
    let ttl_s = ttl.unwrap_or(if keyed { 300 } else { 0 });
    if ttl_s > 3600 {
        c.at(format!("{at}.ttl_seconds"), "at most 3600");
    }
    if ttl_s > 0 && !keyed {
        c.at(
            format!("{at}.ttl_seconds"),
            "caching needs identity_sources (the cache key)",
        );
    }
    ttl_s
}

/// A name the config refers to something by: plain, and not taken.
pub(crate) fn check_name(c: &mut Collector, at: &str, name: &str, taken: bool, what: &str) {
    if !is_name(name) {
        c.at(format!("{at}.name"), "must be letters, digits, '-' or '_'");
    }
    if taken {
        c.at(
            format!("{at}.name"),
            format!("another {what} is named '{name}'"),
        );
    }
}

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

/// An API mapping of a custom domain, checked.
pub(crate) fn mapping(c: &mut Collector, mat: &str, m: MappingFile) -> ApiMapping {
    let host = m.host.to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', ':', ' ']) {
        c.at(format!("{mat}.host"), "must be a host name");
    }
    let base_path = m.base_path.trim_matches('/').to_string();
    if base_path.len() > 300
        || !base_path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"$-_.+!*'()/".contains(&b))
    {
        c.at(
            format!("{mat}.base_path"),
            "letters, digits and $-_.+!*'()/ only, up to 300",
        );
    }
    ApiMapping {
        host,
        base_path,
        stage: m.stage,
    }
}

fn payload_version(c: &mut Collector, at: &str, v: Option<String>) -> PayloadVersion {
    match v.as_deref() {
        None | Some("2.0") => PayloadVersion::V2,
        Some("1.0") => PayloadVersion::V1,
        Some(other) => {
            c.at(
                format!("{at}.payload_format_version"),
                format!("'{other}' is not \"1.0\" or \"2.0\""),
            );
            PayloadVersion::V2
        }
    }
}

pub(crate) fn http_url(c: &mut Collector, at: &str, u: &str) {
    // Stage variables and path variables are filled in per request; check
    // the rest.
    let probe = u.replace("${stageVariables.", "x").replace(['{', '}'], "");
    match url::Url::parse(&probe) {
        Ok(p) if p.scheme() == "http" || p.scheme() == "https" => {}
        _ => c.at(at, format!("'{u}' is not an absolute http(s) URL")),
    }
}

pub(crate) fn target(
    c: &mut Collector,
    at: &str,
    function: Option<String>,
    url: Option<String>,
    endpoint: Option<String>,
    function_name: Option<String>,
    functions: &[Function],
) -> Option<Target> {
    match (function, url, endpoint, function_name) {
        (Some(f), None, None, None) => {
            if !functions.iter().any(|x| x.name == f) {
                c.at(format!("{at}.function"), format!("no function named '{f}'"));
            }
            Some(Target::Function(f))
        }
        (None, Some(u), None, None) => {
            http_url(c, &format!("{at}.url"), &u);
            Some(Target::Url(u))
        }
        (None, None, Some(e), Some(n)) => {
            http_url(c, &format!("{at}.endpoint"), &e);
            Some(Target::Invoke {
                endpoint: e,
                function_name: n,
            })
        }
        _ => {
            c.at(
                at,
                "give one of: function = NAME, url = URL, or endpoint = URL with function_name",
            );
            None
        }
    }
}

pub(crate) fn timeout(c: &mut Collector, at: &str, t: Option<u64>, default: u64, max: u64) -> u64 {
    let t = t.unwrap_or(default);
    if !(50..=max).contains(&t) {
        c.at(format!("{at}.timeout_ms"), format!("must be 50 to {max}"));
    }
    t
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
