//! HTTP APIs and functions: the model the gateway works with (here), the
//! file structs (`file.rs`) and their validation (`validate.rs`, with the
//! checks WebSocket APIs share).
//!
//! The model follows API Gateway's HTTP APIs (routes, stages, authorizers,
//! integrations, CORS, throttling) with names from AWS where AWS has them,
//! so a reader of its documentation finds the same words here.

use std::collections::BTreeMap;

use crate::model::Listen;

mod file;
mod shared;
mod validate;

pub(crate) use file::*;
pub(crate) use shared::*;
pub(crate) use validate::*;

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
