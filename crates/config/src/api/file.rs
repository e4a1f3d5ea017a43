//! The HTTP API and function sections of the file as written: serde
//! structs with `deny_unknown_fields`.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpApiFile {
    pub(crate) name: String,
    pub(crate) listen: Option<String>,
    #[serde(default)]
    pub(crate) custom_domains: Vec<MappingFile>,
    #[serde(default)]
    pub(crate) stages: Vec<StageFile>,
    #[serde(default)]
    pub(crate) routes: Vec<RouteFile>,
    #[serde(default)]
    pub(crate) authorizers: BTreeMap<String, AuthorizerFile>,
    #[serde(default)]
    pub(crate) integrations: BTreeMap<String, IntegrationFile>,
    pub(crate) cors: Option<CorsFile>,
    pub(crate) body_limit: Option<usize>,
    pub(crate) session: Option<SessionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionFile {
    pub(crate) user_pool: String,
    pub(crate) client: String,
    pub(crate) callback_url: Option<String>,
    pub(crate) hosted_url: Option<String>,
    #[serde(default = "default_after")]
    pub(crate) after_sign_in: String,
    pub(crate) cookie_domain: Option<String>,
    #[serde(default = "default_csrf_header")]
    pub(crate) csrf_header: String,
    #[serde(default = "default_session_scopes")]
    pub(crate) scopes: Vec<String>,
    #[serde(default)]
    pub(crate) redirect_to_sign_in: bool,
}

pub(crate) fn default_after() -> String {
    "/".to_string()
}
pub(crate) fn default_csrf_header() -> String {
    "X-CSRF-Token".to_string()
}
pub(crate) fn default_session_scopes() -> Vec<String> {
    vec![
        "openid".to_string(),
        "email".to_string(),
        "profile".to_string(),
    ]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MappingFile {
    pub(crate) host: String,
    #[serde(default)]
    pub(crate) base_path: String,
    #[serde(default = "default_stage")]
    pub(crate) stage: String,
}

pub(crate) fn default_stage() -> String {
    "$default".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageFile {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) variables: BTreeMap<String, String>,
    pub(crate) throttle: Option<ThrottleFile>,
    #[serde(default)]
    pub(crate) route_throttle: BTreeMap<String, ThrottleFile>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThrottleFile {
    pub(crate) rate: f64,
    pub(crate) burst: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteFile {
    pub(crate) route: String,
    pub(crate) integration: String,
    pub(crate) authorizer: Option<String>,
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthorizerFile {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    // jwt
    pub(crate) user_pool: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<Vec<String>>,
    pub(crate) identity_source: Option<String>,
    // request
    pub(crate) function: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) function_name: Option<String>,
    pub(crate) payload_format_version: Option<String>,
    #[serde(default)]
    pub(crate) simple_responses: bool,
    pub(crate) identity_sources: Option<Vec<String>>,
    pub(crate) ttl_seconds: Option<u32>,
    pub(crate) timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IntegrationFile {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    // response
    pub(crate) status: Option<u16>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Option<String>,
    // http
    pub(crate) url: Option<String>,
    pub(crate) method: Option<String>,
    pub(crate) timeout_ms: Option<u64>,
    #[serde(default)]
    pub(crate) request_parameters: BTreeMap<String, String>,
    // lambda
    pub(crate) function: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) function_name: Option<String>,
    pub(crate) payload_format_version: Option<String>,
    // session_logout
    pub(crate) redirect: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CorsFile {
    #[serde(default)]
    pub(crate) allow_origins: Vec<String>,
    #[serde(default)]
    pub(crate) allow_methods: Vec<String>,
    #[serde(default)]
    pub(crate) allow_headers: Vec<String>,
    #[serde(default)]
    pub(crate) expose_headers: Vec<String>,
    pub(crate) max_age: Option<u32>,
    #[serde(default)]
    pub(crate) allow_credentials: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FunctionFile {
    pub(crate) name: String,
    pub(crate) runtime: String,
    pub(crate) handler: Option<String>,
    pub(crate) code: String,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) concurrency: Option<u32>,
    #[serde(default)]
    pub(crate) environment: BTreeMap<String, String>,
}
