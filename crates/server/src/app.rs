//! The HTTP surface of the main listener: the Cognito JSON API, and each
//! pool's JWKS and OpenID discovery documents under its issuer path.
//! `app(state)` is shared by `main` and the tests.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cognate_identity::{api, sigv4, Identity};
use serde_json::{json, Value};

use crate::errors;
use crate::responses::{amz_json, cors};

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub identity: Arc<Identity>,
    /// The clock, in epoch milliseconds (tests can pin it).
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// Pool id -> base URL of its domain listener, for discovery.
    pub domains: Arc<std::collections::HashMap<String, String>>,
}

impl AppState {
    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}

pub fn system_clock() -> Arc<dyn Fn() -> i64 + Send + Sync> {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/{pool_id}/.well-known/jwks.json", get(jwks))
        .route(
            "/{pool_id}/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/", post(json_api).options(preflight))
        // botocore keeps the path of an --endpoint-url: the API answers on
        // any path a request with X-Amz-Target is sent to.
        .fallback(other_paths)
        .layer(DefaultBodyLimit::max(api::MAX_BODY))
        .with_state(state)
}

async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    cors(h);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "content-type,x-amz-target,x-amz-user-agent,cache-control,authorization,x-amz-date,x-amz-security-token,amz-sdk-invocation-id,amz-sdk-request",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

async fn json_api(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if target.is_none() {
        return errors::not_found();
    }
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let request = sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &pairs,
        body: &body,
    };
    match state
        .identity
        .handle_api(target, &request, state.now())
        .await
    {
        Ok(v) => amz_json(StatusCode::OK, &v),
        Err(e) => errors::cognito(&e),
    }
}

async fn other_paths(
    state: State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match method {
        Method::POST => json_api(state, method, uri, headers, body).await,
        Method::OPTIONS => preflight().await,
        _ => errors::not_found(),
    }
}

fn public_json(value: &Value) -> Response {
    let mut r = (StatusCode::OK, value.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

async fn jwks(State(state): State<AppState>, Path(pool_id): Path<String>) -> Response {
    let now = state.now();
    match state.identity.pool(&pool_id).await {
        Ok(Some(pool)) => match state.identity.keys(&pool.id, now).await {
            Ok(keys) => public_json(&keys.jwks()),
            Err(e) => errors::cognito(&e),
        },
        Ok(None) => errors::not_found(),
        Err(e) => errors::cognito(&e.into()),
    }
}

async fn discovery(State(state): State<AppState>, Path(pool_id): Path<String>) -> Response {
    match state.identity.pool(&pool_id).await {
        Ok(Some(pool)) => public_json(&discovery_document(&state, &pool)),
        Ok(None) => errors::not_found(),
        Err(e) => errors::cognito(&e.into()),
    }
}

fn discovery_document(state: &AppState, pool: &cognate_store::pools::Pool) -> Value {
    let identity = &state.identity;
    let issuer = identity.issuer(pool);
    // The jwks_uri is where this server serves the keys, whatever the issuer style.
    let jwks_uri = format!(
        "{}/{}/.well-known/jwks.json",
        identity.public_url(),
        pool.id
    );
    let mut doc = json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "token"],
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "email", "email_verified", "cognito:username", "cognito:groups"],
    });
    // Only the endpoints this server has are advertised.
    if let Some(domain) = state.domains.get(&pool.id) {
        doc["authorization_endpoint"] = json!(format!("{domain}/oauth2/authorize"));
        doc["token_endpoint"] = json!(format!("{domain}/oauth2/token"));
        doc["userinfo_endpoint"] = json!(format!("{domain}/oauth2/userInfo"));
        doc["revocation_endpoint"] = json!(format!("{domain}/oauth2/revoke"));
        doc["grant_types_supported"] = json!([
            "authorization_code",
            "implicit",
            "client_credentials",
            "refresh_token"
        ]);
        doc["code_challenge_methods_supported"] = json!(["S256"]);
    }
    doc
}

/// A listener whose routes come from a later part of cognate (hosted UI,
/// gateway APIs): it answers every request as API Gateway answers a path
/// with no route.
pub fn not_found_app() -> Router {
    Router::new().fallback(|| async { errors::not_found() })
}

/// Host name (lowercase, no port) -> the domain routes of a pool.
pub type CustomDomains = Arc<std::collections::HashMap<String, Router>>;

/// Serves requests whose Host is a pool's custom domain with that domain's
/// routes, on whichever listener they arrive. The Host only chooses the
/// routes: issuers, redirects and cookies never come from it.
pub fn with_custom_domains(router: Router, domains: CustomDomains) -> Router {
    if domains.is_empty() {
        return router;
    }
    router.layer(axum::middleware::from_fn_with_state(domains, by_host))
}

async fn by_host(
    State(domains): State<CustomDomains>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| match h.rsplit_once(':') {
            Some((name, port))
                if !name.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => h,
        })
        .map(str::to_ascii_lowercase);
    match host.and_then(|h| domains.get(&h).cloned()) {
        Some(domain) => {
            use tower::ServiceExt;
            match domain.oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
        None => next.run(request).await,
    }
}
