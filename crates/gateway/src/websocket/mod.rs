//! WebSocket APIs as API Gateway runs them (reference/apigateway.md §5),
//! with cookie sessions at `$connect` (seed 001) made native.
//!
//! An upgrade goes through these phases, in order; every refusal is an
//! HTTP answer, so no socket is ever opened for a refused client:
//!
//! 1. **stage**: a custom domain's mapping names it; otherwise the first
//!    path segment if it is a named stage, else `$default`.
//! 2. **handshake**: RFC 6455 checks (400, or 426 for another version);
//!    new connections past the API's connect rate are 429.
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
mod upgrade;

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use base64::Engine;
use cognate_config::{
    AdminCredentials, HttpApi, WebSocketApi, WsAuthorizerKind, WsIntegrationKind, WsLimits,
};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::authorizer::Authorizer;
use crate::session::SessionRt;
use crate::{Mapping, Setup, Shared, Verifiers};
use events::ConnInfo;

/// What a connection's task is asked to send.
#[derive(Debug)]
pub enum Out {
    Text(Utf8Bytes),
    Binary(Vec<u8>),
    /// Close with this code and reason (DeleteConnection, revocation).
    Close(u16, String),
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
    /// `domainName` of the events when it is not the request's Host.
    event_domain: Option<String>,
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
    /// New connections per second, when limited.
    connect_bucket: Option<crate::limits::Bucket>,
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
    let api_id = crate::api_id(&format!("websocket.{}", api.name));
    let compiled = Arc::new(WsApi {
        name: api.name.clone(),
        event_domain: setup
            .aws_hosts
            .map(|region| format!("{api_id}.execute-api.{region}.amazonaws.com")),
        api_id,
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
        store: setup.store.clone(),
        counters: shared.metrics.websocket(&api.name),
        connect_bucket: api.limits.connect_throttle.map(crate::limits::Bucket::new),
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
            return upgrade::refuse(&crate::error::GatewayError::NotFound);
        }
        if let Some(id) = rest.strip_prefix("/@connections/") {
            let id = id.to_string();
            return manage::handle(&self, request, &stage, &id).await;
        }
        if !(rest.is_empty() || rest == "/") {
            return upgrade::refuse(&crate::error::GatewayError::NotFound);
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
/// `session_check_ms`, one store query per 500 distinct sessions.
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
                c.send(Out::Close(1008, "Token expired".into()));
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
        if by_origin.is_empty() {
            continue;
        }
        let names: Vec<String> = by_origin.keys().map(|o| o.to_string()).collect();
        match rt.identity.live_origins(&names).await {
            Ok(live) => {
                for (origin, holders) in by_origin {
                    if !live.contains(origin) {
                        for c in holders {
                            c.send(Out::Close(1008, "Session ended".into()));
                        }
                    }
                }
            }
            // Checked again on the next pass; a database blip does not
            // drop every connection.
            Err(e) => tracing::warn!(error = %e, "session check of open connections failed"),
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
        assert!(upgrade::origin_allowed(&list, "http://127.0.0.1:4001"));
        assert!(!upgrade::origin_allowed(&list, "http://127.0.0.1:4002"));
        assert!(upgrade::origin_allowed(&list, "https://app.example.test"));
        assert!(!upgrade::origin_allowed(
            &list,
            "https://example.test.evil.example"
        ));
        assert!(!upgrade::origin_allowed(&list, "https://evilexample.test"));
        assert!(!upgrade::origin_allowed(&list, "http://app.example.test"));
        assert!(!upgrade::origin_allowed(&list, "null"));
        assert!(upgrade::origin_allowed(&["*".to_string()], "null"));
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
