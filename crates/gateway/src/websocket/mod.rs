//! WebSocket APIs as API Gateway runs them (reference/apigateway.md §5),
//! with cookie sessions at `$connect` (seed 001) made native.
//!
//! An upgrade goes through these phases, in order; every refusal is an
//! HTTP answer, so no socket is ever opened for a refused client:
//!
//! 1. **stage**: a custom domain's mapping names it; otherwise the first
//!    path segment if it is a named stage, else `$default`.
//! 2. **handshake**: RFC 6455 checks (400, or 426 for another version).
//! 3. **origin**: the allow-list, when configured or when cookies
//!    authorize (403 before any authorizer runs).
//! 4. **authorize**: the `$connect` authorizer: a request authorizer
//!    (401 / 403 / 500) or the cookie session plus its CSRF token (403).
//! 5. **connect**: the `$connect` integration; a non-2xx answer is the
//!    upgrade's answer, a failure 502.
//! 6. **101**, then [`connection::run`] serves the socket.
//!
//! `@connections/{id}` on the same host (and stage) is the management
//! API ([`manage`]). Connections live in this process's registry; their
//! ids carry a node tag so that nodes sharing a database can route
//! management calls to the node holding a connection.

pub mod connection;
pub mod events;
pub mod manage;
pub mod relay;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use base64::Engine;
use cognate_config::{
    AdminCredentials, HttpApi, WebSocketApi, WsAuthorizerKind, WsIntegrationKind, WsLimits,
};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::authorizer::{Authorizer, Refusal};
use crate::context::{AuthorizerOutput, RequestContext};
use crate::error::{json_message, GatewayError};
use crate::session::SessionRt;
use crate::{Mapping, Setup, Shared, Verifiers, ACCOUNT_ID};
use events::ConnInfo;

/// What a connection's task is asked to send.
#[derive(Debug)]
pub enum Out {
    Text(Utf8Bytes),
    Binary(Vec<u8>),
    /// Close with this code and reason (DeleteConnection, revocation).
    Close(u16, &'static str),
}

/// An open connection, as the registry holds it.
pub struct Conn {
    pub info: ConnInfo,
    pub last_active_ms: AtomicI64,
    /// The session that opened it (cookie sessions), for revocation.
    pub origin_jti: Option<String>,
    /// When the token that opened it expires (seconds).
    pub token_exp_s: Option<i64>,
    tx: mpsc::Sender<Out>,
}

impl Conn {
    /// Queues a message; `false` when the connection's queue is full or
    /// the connection is gone.
    pub fn send(&self, out: Out) -> bool {
        self.tx.try_send(out).is_ok()
    }
}

enum ConnectAuth {
    None,
    Request(Arc<Authorizer>),
    Session {
        rt: Arc<SessionRt>,
        csrf_query: String,
    },
}

struct RouteRt {
    key: String,
    integration: Option<Arc<WsIntegrationKind>>,
    route_response: bool,
}

/// One WebSocket API, compiled for serving.
pub struct WsApi {
    pub name: String,
    pub api_id: String,
    stages: HashMap<String, Map<String, Value>>,
    selection: events::Selection,
    routes: HashMap<String, Arc<RouteRt>>,
    connect: Option<Arc<RouteRt>>,
    disconnect: Option<Arc<RouteRt>>,
    auth: ConnectAuth,
    origins: Option<Vec<String>>,
    pub limits: WsLimits,
    connections: RwLock<HashMap<String, Arc<Conn>>>,
    credentials: AdminCredentials,
    shared: Arc<Shared>,
    closing: watch::Sender<bool>,
    /// Three bytes every connection id of this process starts with.
    node: [u8; 3],
    /// Those bytes as the ids show them (four base64 characters).
    pub tag: String,
    /// Where this node serves the API (http form), for the other nodes.
    own_url: Option<String>,
    /// The other live nodes serving the API.
    peers: RwLock<Vec<cognate_store::nodes::Node>>,
    store: cognate_store::Store,
    pub(crate) counters: Arc<crate::metrics::WsCounters>,
}

/// Compiles one WebSocket API of the config.
/// `own_url` is where this node serves the API, recorded for the other
/// nodes sharing the database (`None`: never relayed to).
pub async fn compile(
    api: &WebSocketApi,
    http_apis: &[HttpApi],
    own_url: Option<String>,
    setup: &Setup<'_>,
    shared: Arc<Shared>,
    verifiers: &mut Verifiers,
) -> Result<Arc<WsApi>, String> {
    let connect_route = api.routes.iter().find(|r| r.key == "$connect");
    let auth = match connect_route.and_then(|r| r.authorizer.as_ref()) {
        None => ConnectAuth::None,
        Some(name) => {
            let a = api
                .authorizers
                .iter()
                .find(|a| &a.name == name)
                .ok_or_else(|| format!("no authorizer {name}"))?;
            match &a.kind {
                WsAuthorizerKind::Request(r) => {
                    ConnectAuth::Request(Arc::new(Authorizer::new(r.clone())))
                }
                WsAuthorizerKind::Session {
                    http_api,
                    csrf_query,
                } => {
                    let session = http_apis
                        .iter()
                        .find(|h| &h.name == http_api)
                        .and_then(|h| h.session.as_ref())
                        .ok_or_else(|| format!("HTTP API {http_api} has no session"))?;
                    ConnectAuth::Session {
                        rt: Arc::new(crate::compile_session(session, setup, verifiers).await?),
                        csrf_query: csrf_query.clone(),
                    }
                }
            }
        }
    };
    let integrations: HashMap<&str, Arc<WsIntegrationKind>> = api
        .integrations
        .iter()
        .map(|i| (i.name.as_str(), Arc::new(i.kind.clone())))
        .collect();
    let mut routes = HashMap::new();
    for r in &api.routes {
        let integration = match &r.integration {
            Some(i) => Some(
                integrations
                    .get(i.as_str())
                    .cloned()
                    .ok_or_else(|| format!("no integration {i}"))?,
            ),
            None => None,
        };
        routes.insert(
            r.key.clone(),
            Arc::new(RouteRt {
                key: r.key.clone(),
                integration,
                route_response: r.route_response,
            }),
        );
    }
    let stages = api
        .stages
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.variables
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect::<Map<String, Value>>(),
            )
        })
        .collect();
    let (closing, _) = watch::channel(false);
    let node: [u8; 3] = cognate_identity::crypto::random_bytes();
    let compiled = Arc::new(WsApi {
        name: api.name.clone(),
        api_id: crate::api_id(&format!("websocket.{}", api.name)),
        stages,
        selection: events::Selection::parse(&api.route_selection_expression),
        connect: routes.get("$connect").cloned(),
        disconnect: routes.get("$disconnect").cloned(),
        routes,
        auth,
        origins: api.allowed_origins.clone(),
        limits: api.limits,
        connections: RwLock::new(HashMap::new()),
        credentials: setup.credentials.clone(),
        closing,
        node,
        tag: base64::engine::general_purpose::URL_SAFE.encode(node),
        own_url,
        peers: RwLock::new(Vec::new()),
        store: setup.identity.store().clone(),
        counters: shared.metrics.websocket(&api.name),
        shared,
    });
    if matches!(compiled.auth, ConnectAuth::Session { .. }) || api.limits.close_on_token_expiry {
        tokio::spawn(session_sweep(Arc::downgrade(&compiled)));
    }
    if compiled.own_url.is_some() {
        tokio::spawn(relay::heartbeat(Arc::downgrade(&compiled)));
    }
    Ok(compiled)
}

/// A connection id shaped like API Gateway's (`Kf2bqd9WywMCEng=`): 11
/// bytes in base64, the first three naming the node. The URL-safe
/// alphabet keeps `/` and `+` out, so an id needs no escaping in
/// `@connections/{id}` beyond its `=`.
fn connection_id(node: &[u8; 3]) -> String {
    let mut b = [0u8; 11];
    b[..3].copy_from_slice(node);
    b[3..].copy_from_slice(&cognate_identity::crypto::random_bytes::<8>());
    base64::engine::general_purpose::URL_SAFE.encode(b)
}

fn request_id() -> String {
    let b: [u8; 10] = cognate_identity::crypto::random_bytes();
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Whether `origin` is on the allow-list (`*`, exact, or `scheme://*.domain`).
fn origin_allowed(list: &[String], origin: &str) -> bool {
    let origin = origin.to_ascii_lowercase();
    list.iter().any(|allowed| {
        let allowed = allowed.trim_end_matches('/').to_ascii_lowercase();
        if allowed == "*" || allowed == origin {
            return true;
        }
        match allowed.split_once("://*.") {
            Some((scheme, domain)) => {
                origin
                    .strip_prefix(&format!("{scheme}://"))
                    .is_some_and(|host| {
                        let name = host.split(':').next().unwrap_or("");
                        name.ends_with(&format!(".{domain}"))
                    })
            }
            None => false,
        }
    })
}

fn has_token(value: Option<&HeaderValue>, token: &str) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

fn refuse(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = json_message(status, message);
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

impl WsApi {
    fn now(&self) -> i64 {
        (self.shared.clock)()
    }

    /// The connection, if open on this node.
    pub fn connection(&self, id: &str) -> Option<Arc<Conn>> {
        self.connections
            .read()
            .expect("connections lock")
            .get(id)
            .cloned()
    }

    /// How many connections are open.
    pub fn open_connections(&self) -> usize {
        self.connections.read().expect("connections lock").len()
    }

    /// Closes every connection (1001, going away): the server is stopping.
    pub fn shutdown(&self) {
        let _ = self.closing.send(true);
    }

    /// Waits until every connection has closed, at most `limit`; then
    /// the node's record goes (the other nodes stop relaying to it).
    pub async fn drained(&self, limit: Duration) {
        let until = tokio::time::Instant::now() + limit;
        while self.open_connections() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        relay::leave(self).await;
    }

    /// Sends `text` to every open connection; returns how many took it.
    pub fn broadcast(&self, text: Utf8Bytes) -> usize {
        let conns: Vec<Arc<Conn>> = self
            .connections
            .read()
            .expect("connections lock")
            .values()
            .cloned()
            .collect();
        conns
            .iter()
            .filter(|c| c.send(Out::Text(text.clone())))
            .count()
    }

    /// Serves a request on this API: an upgrade, or the management API.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Body>,
        mapping: Option<Mapping>,
    ) -> Response<Body> {
        let path = request.uri().path().to_string();
        if path == "/@broadcast" {
            return manage::broadcast_from_peer(&self, request).await;
        }
        let (stage, rest) = match &mapping {
            Some(m) => {
                let rest = if m.base_path.is_empty() {
                    path.clone()
                } else {
                    path.strip_prefix('/')
                        .and_then(|p| p.strip_prefix(m.base_path.as_str()))
                        .unwrap_or("")
                        .to_string()
                };
                (m.stage.clone(), rest)
            }
            None => {
                let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
                if !first.is_empty() && first != "$default" && self.stages.contains_key(first) {
                    (first.to_string(), path[1 + first.len()..].to_string())
                } else {
                    ("$default".to_string(), path.clone())
                }
            }
        };
        if !self.stages.contains_key(&stage) {
            return refuse(StatusCode::NOT_FOUND, "Not Found");
        }
        if let Some(id) = rest.strip_prefix("/@connections/") {
            let id = id.to_string();
            return manage::handle(&self, request, &stage, &id).await;
        }
        if !(rest.is_empty() || rest == "/") {
            return refuse(StatusCode::NOT_FOUND, "Not Found");
        }
        let r = self.clone().upgrade(request, stage).await;
        let counter = if r.status() == StatusCode::SWITCHING_PROTOCOLS {
            &self.counters.accepted
        } else {
            &self.counters.refused
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        r
    }

    async fn upgrade(self: Arc<Self>, mut request: Request<Body>, stage: String) -> Response<Body> {
        let now_ms = self.now();
        let h = request.headers();
        // 2. handshake (RFC 6455 §4.2.1)
        let upgrade = h.get(header::UPGRADE);
        if upgrade.is_none() {
            let mut r = refuse(StatusCode::UPGRADE_REQUIRED, "Upgrade Required");
            r.headers_mut()
                .insert("sec-websocket-version", HeaderValue::from_static("13"));
            r.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            return r;
        }
        if !has_token(upgrade, "websocket")
            || !has_token(h.get(header::CONNECTION), "upgrade")
            || request.method() != axum::http::Method::GET
            || request.version() != axum::http::Version::HTTP_11
        {
            return refuse(StatusCode::BAD_REQUEST, "Bad Request");
        }
        if h.get("sec-websocket-version").and_then(|v| v.to_str().ok()) != Some("13") {
            let mut r = refuse(StatusCode::UPGRADE_REQUIRED, "Upgrade Required");
            r.headers_mut()
                .insert("sec-websocket-version", HeaderValue::from_static("13"));
            return r;
        }
        let key = match h.get("sec-websocket-key").and_then(|v| v.to_str().ok()) {
            Some(k)
                if base64::engine::general_purpose::STANDARD
                    .decode(k.trim())
                    .is_ok_and(|b| b.len() == 16) =>
            {
                k.trim().to_string()
            }
            _ => return refuse(StatusCode::BAD_REQUEST, "Bad Request"),
        };
        // 3. origin
        if let Some(list) = &self.origins {
            let origin = h.get(header::ORIGIN).and_then(|v| v.to_str().ok());
            if !origin.is_some_and(|o| origin_allowed(list, o)) {
                tracing::info!(api = %self.name, origin = ?origin, "upgrade refused: origin not allowed");
                return refuse(StatusCode::FORBIDDEN, "Forbidden");
            }
        }

        let (parts, _) = {
            let mut r = Request::new(());
            *r.headers_mut() = request.headers().clone();
            *r.uri_mut() = request.uri().clone();
            r.into_parts()
        };
        let source_ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(String::new, |c| c.0.ip().to_string());
        let domain_name = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let stage_variables = self.stages.get(&stage).cloned().unwrap_or_default();
        let ctx = RequestContext {
            request_id: request_id(),
            account_id: ACCOUNT_ID,
            api_id: self.api_id.clone(),
            method: "GET".into(),
            raw_path: parts.uri.path().to_string(),
            full_path: parts.uri.path().to_string(),
            segments: Vec::new(),
            raw_query: parts.uri.query().unwrap_or("").to_string(),
            headers: parts.headers,
            source_ip: source_ip.clone(),
            protocol: "HTTP/1.1",
            time_ms: now_ms,
            stage: stage.clone(),
            stage_variables: Arc::new(
                stage_variables
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            route_key: "$connect".into(),
            resource: "$connect".into(),
            domain_name: domain_name.clone(),
            base_path_matched: None,
            path_params: Vec::new(),
            authorizer: AuthorizerOutput::None,
            response_cookies: Vec::new(),
        };
        let mut info = ConnInfo {
            connection_id: connection_id(&self.node),
            api_id: self.api_id.clone(),
            stage: stage.clone(),
            domain_name,
            connected_at_ms: now_ms,
            source_ip,
            user_agent: ctx.header("user-agent"),
            authorizer: None,
            stage_variables,
        };

        // 4. authorize
        let mut protocol: Option<String> = None;
        let mut set_cookies = Vec::new();
        let mut origin_jti = None;
        let mut token_exp_s = None;
        match &self.auth {
            ConnectAuth::None => {}
            ConnectAuth::Request(a) => {
                let Some(identity) = a.identity_of(&ctx) else {
                    return refuse(StatusCode::UNAUTHORIZED, "Unauthorized");
                };
                let arn = events::connect_arn(&info, &self.shared.region, ACCOUNT_ID);
                let started = self.now();
                let decided = a
                    .decide(
                        identity,
                        |_| events::authorizer(&ctx, &info, &self.shared.region, now_ms),
                        &arn,
                        &self.shared.invoker,
                        now_ms,
                    )
                    .await;
                match decided {
                    Ok(AuthorizerOutput::Lambda {
                        principal_id,
                        context,
                    }) => {
                        if serde_json::to_vec(&context).map_or(0, |v| v.len()) > 8192 {
                            tracing::warn!(api = %self.name, "authorizer context over 8 KB");
                            return refuse(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "Internal Server Error",
                            );
                        }
                        info.authorizer = Some(events::authorizer_output(
                            principal_id.as_deref(),
                            &context,
                            self.now() - started,
                        ));
                    }
                    Ok(_) => {
                        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                    }
                    Err(Refusal::Unauthorized) => {
                        return refuse(StatusCode::UNAUTHORIZED, "Unauthorized")
                    }
                    Err(Refusal::Forbidden) => return refuse(StatusCode::FORBIDDEN, "Forbidden"),
                    Err(Refusal::Error(why)) => {
                        tracing::warn!(api = %self.name, error = %why, "$connect authorizer failed");
                        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
                    }
                }
            }
            ConnectAuth::Session { rt, csrf_query } => {
                let found = match rt.authorize(&ctx, now_ms).await {
                    Ok(f) => f,
                    Err(GatewayError::ServiceUnavailable) => {
                        return refuse(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                    }
                    Err(GatewayError::Internal) => {
                        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                    }
                    Err(_) => return refuse(StatusCode::FORBIDDEN, "Forbidden"),
                };
                // The CSRF token: a query parameter, or a subprotocol
                // entry (then chosen as the subprotocol).
                let by_query = ctx.query(csrf_query);
                let offered: Vec<String> = ctx
                    .header("sec-websocket-protocol")
                    .map(|p| p.split(',').map(|s| s.trim().to_string()).collect())
                    .unwrap_or_default();
                let ok = match by_query {
                    Some(v) => rt.csrf_matches(&ctx, &found.claims, &v),
                    None => match offered
                        .iter()
                        .find(|p| rt.csrf_matches(&ctx, &found.claims, p))
                    {
                        Some(p) => {
                            protocol = Some(p.clone());
                            true
                        }
                        None => false,
                    },
                };
                if !ok {
                    return refuse(StatusCode::FORBIDDEN, "Forbidden");
                }
                let claim = |k: &str| found.claims.get(k).and_then(Value::as_str);
                let mut context = Map::new();
                for k in ["sub", "username", "client_id", "scope"] {
                    if let Some(v) = claim(k) {
                        context.insert(k.into(), json!(v));
                    }
                }
                info.authorizer = Some(events::authorizer_output(
                    claim("username").or(claim("sub")),
                    &context,
                    0,
                ));
                origin_jti = claim("origin_jti").map(str::to_string);
                token_exp_s = found.claims.get("exp").and_then(Value::as_i64);
                set_cookies = found.set_cookies;
            }
        }

        // 5. the $connect integration
        if let Some(kind) = self.connect.as_ref().and_then(|r| r.integration.clone()) {
            let event = events::connect(&ctx, &info, now_ms);
            match connection::integrate(&self.shared, &kind, event).await {
                Ok(answer) if (200..300).contains(&answer.status) => {
                    if let Some(p) = answer.protocol {
                        protocol = Some(p);
                    }
                }
                Ok(answer) => {
                    let mut r = Response::new(Body::from(answer.body));
                    *r.status_mut() =
                        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
                    return r;
                }
                Err(why) => {
                    tracing::warn!(api = %self.name, error = %why, "$connect integration failed");
                    return refuse(StatusCode::BAD_GATEWAY, "Internal server error");
                }
            }
        }

        // 6. 101, then the socket
        let on_upgrade = hyper::upgrade::on(&mut request);
        let (tx, rx) = mpsc::channel(self.limits.send_queue);
        let conn = Arc::new(Conn {
            last_active_ms: AtomicI64::new(now_ms),
            info,
            origin_jti,
            token_exp_s,
            tx,
        });
        let api = self.clone();
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => connection::run(api, conn, rx, upgraded).await,
                Err(e) => tracing::debug!(error = %e, "upgrade did not complete"),
            }
        });
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let rh = r.headers_mut();
        rh.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        rh.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(
            &tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
        ) {
            rh.insert("sec-websocket-accept", v);
        }
        if let Some(p) = protocol.and_then(|p| HeaderValue::from_str(&p).ok()) {
            rh.insert("sec-websocket-protocol", p);
        }
        for c in set_cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                rh.append(header::SET_COOKIE, v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            rh.insert("x-amzn-requestid", v);
        }
        r
    }

    fn register(&self, conn: Arc<Conn>) {
        self.counters
            .open
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.connections
            .write()
            .expect("connections lock")
            .insert(conn.info.connection_id.clone(), conn);
    }

    fn unregister(&self, id: &str) {
        let removed = self
            .connections
            .write()
            .expect("connections lock")
            .remove(id);
        if removed.is_some() {
            self.counters
                .open
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Closes connections whose session was revoked or ended (1008), and,
/// when configured, those whose token expired; one pass per
/// `session_check_ms`, one store lookup per distinct session.
async fn session_sweep(api: std::sync::Weak<WsApi>) {
    let period = match api.upgrade() {
        Some(a) => Duration::from_millis(a.limits.session_check_ms),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(api) = api.upgrade() else { return };
        let now_s = api.now() / 1000;
        let conns: Vec<Arc<Conn>> = api
            .connections
            .read()
            .expect("connections lock")
            .values()
            .cloned()
            .collect();
        if api.limits.close_on_token_expiry {
            for c in conns
                .iter()
                .filter(|c| c.token_exp_s.is_some_and(|e| e <= now_s))
            {
                c.send(Out::Close(1008, "Token expired"));
            }
        }
        let ConnectAuth::Session { rt, .. } = &api.auth else {
            continue;
        };
        let mut by_origin: HashMap<&str, Vec<&Arc<Conn>>> = HashMap::new();
        for c in &conns {
            if let Some(o) = &c.origin_jti {
                by_origin.entry(o.as_str()).or_default().push(c);
            }
        }
        for (origin, holders) in by_origin {
            let ended = match rt.identity.store().origin(origin).await {
                Ok(Some(o)) => o.revoked_ms.is_some(),
                Ok(None) => true,
                Err(e) => {
                    // Checked again on the next pass; a database blip does
                    // not drop every connection.
                    tracing::warn!(error = %e, "session check of open connections failed");
                    false
                }
            };
            if ended {
                for c in holders {
                    c.send(Out::Close(1008, "Session ended"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly_or_by_subdomain_wildcard() {
        let list = vec![
            "http://127.0.0.1:4001".to_string(),
            "https://*.example.test".to_string(),
        ];
        assert!(origin_allowed(&list, "http://127.0.0.1:4001"));
        assert!(!origin_allowed(&list, "http://127.0.0.1:4002"));
        assert!(origin_allowed(&list, "https://app.example.test"));
        assert!(!origin_allowed(&list, "https://example.test.evil.example"));
        assert!(!origin_allowed(&list, "https://evilexample.test"));
        assert!(!origin_allowed(&list, "http://app.example.test"));
        assert!(!origin_allowed(&list, "null"));
        assert!(origin_allowed(&["*".to_string()], "null"));
    }

    #[test]
    fn connection_ids_look_like_api_gateways_and_carry_the_node() {
        let id = connection_id(&[1, 2, 3]);
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(&id)
            .expect("base64");
        assert_eq!(&raw[..3], &[1, 2, 3]);
        assert!(!id.contains(['/', '+']));
        assert_ne!(id, connection_id(&[1, 2, 3]));
    }
}
