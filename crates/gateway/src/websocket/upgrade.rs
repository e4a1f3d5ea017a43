//! The upgrade of a WebSocket API, phase by phase (the order is written at
//! the top of the module): handshake, origin, the `$connect` authorizer,
//! the `$connect` integration, then the 101 and the socket's task.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use base64::Engine;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use super::events::{self, ConnInfo};
use super::{connection, connection_id, request_id, Conn, ConnectAuth, WsApi};
use crate::context::{AuthorizerOutput, RequestContext};
use crate::error::GatewayError;
use crate::session::SessionRt;
use crate::ACCOUNT_ID;

/// Whether `origin` is on the allow-list (`*`, exact, or `scheme://*.domain`).
pub(super) fn origin_allowed(list: &[String], origin: &str) -> bool {
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

/// A refusal before the upgrade: error.rs's answer, with a request id.
pub(super) fn refuse(e: &GatewayError) -> Response<Body> {
    let mut r = crate::error::response(e);
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// What the authorize phase hands to the 101.
#[derive(Default)]
struct Admitted {
    /// The subprotocol to choose (the CSRF entry, or the integration's).
    protocol: Option<String>,
    set_cookies: Vec<String>,
    origin_jti: Option<String>,
    token_exp_s: Option<i64>,
}

/// Why a handshake is refused.
enum BadHandshake {
    /// No Upgrade header: 426, naming the protocol and its version.
    NoUpgrade,
    /// Another WebSocket version: 426, naming version 13.
    Version,
    /// Anything else of RFC 6455 §4.2.1: 400.
    Malformed,
}

impl BadHandshake {
    fn response(&self) -> Response<Body> {
        if let BadHandshake::Malformed = self {
            return refuse(&GatewayError::BadRequest);
        }
        let mut r = refuse(&GatewayError::UpgradeRequired);
        r.headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("13"));
        if let BadHandshake::NoUpgrade = self {
            r.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        r
    }
}

/// Phase 2, handshake (RFC 6455 §4.2.1): the client's key.
fn handshake(request: &Request<Body>) -> Result<String, BadHandshake> {
    let h = request.headers();
    let upgrade = h.get(header::UPGRADE);
    if upgrade.is_none() {
        return Err(BadHandshake::NoUpgrade);
    }
    if !has_token(upgrade, "websocket")
        || !has_token(h.get(header::CONNECTION), "upgrade")
        || request.method() != axum::http::Method::GET
        || request.version() != axum::http::Version::HTTP_11
    {
        return Err(BadHandshake::Malformed);
    }
    if h.get("sec-websocket-version").and_then(|v| v.to_str().ok()) != Some("13") {
        return Err(BadHandshake::Version);
    }
    match h.get("sec-websocket-key").and_then(|v| v.to_str().ok()) {
        Some(k)
            if base64::engine::general_purpose::STANDARD
                .decode(k.trim())
                .is_ok_and(|b| b.len() == 16) =>
        {
            Ok(k.trim().to_string())
        }
        _ => Err(BadHandshake::Malformed),
    }
}

impl WsApi {
    pub(super) async fn upgrade(
        self: Arc<Self>,
        mut request: Request<Body>,
        stage: String,
    ) -> Response<Body> {
        let now_ms = self.now();
        let key = match handshake(&request) {
            Ok(k) => k,
            Err(bad) => return bad.response(),
        };
        if let Err(e) = self.admit(&request, now_ms) {
            return refuse(&e);
        }
        let (ctx, mut info) = self.connect_context(&request, stage, now_ms);
        let mut admitted = match self.authorize(&ctx, &mut info, now_ms).await {
            Ok(a) => a,
            Err(e) => return refuse(&e),
        };
        if let Err(r) = self
            .integrate_connect(&ctx, &info, now_ms, &mut admitted)
            .await
        {
            return r;
        }
        self.switch(&mut request, &key, &ctx, info, admitted, now_ms)
    }

    /// The connect rate (429, as API Gateway's), then phase 3, origin
    /// (403).
    fn admit(&self, request: &Request<Body>, now_ms: i64) -> Result<(), GatewayError> {
        if let Some(bucket) = &self.connect_bucket {
            if !bucket.take(now_ms) {
                return Err(GatewayError::TooManyRequests);
            }
        }
        if let Some(list) = &self.origins {
            let origin = request
                .headers()
                .get(header::ORIGIN)
                .and_then(|v| v.to_str().ok());
            if !origin.is_some_and(|o| origin_allowed(list, o)) {
                tracing::info!(api = %self.name, origin = ?origin, "upgrade refused: origin not allowed");
                return Err(GatewayError::Forbidden);
            }
        }
        Ok(())
    }

    /// The `$connect` request as the authorizer and integration see it,
    /// and the connection's record.
    fn connect_context(
        &self,
        request: &Request<Body>,
        stage: String,
        now_ms: i64,
    ) -> (RequestContext, ConnInfo) {
        let source_ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(String::new, |c| c.0.ip().to_string());
        let headers = request.headers().clone();
        let domain_name = match &self.event_domain {
            Some(d) => d.clone(),
            None => headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        };
        let stage_variables = self.stages.get(&stage).cloned().unwrap_or_default();
        let uri = request.uri();
        let ctx = RequestContext {
            request_id: request_id(),
            account_id: ACCOUNT_ID,
            api_id: self.api_id.clone(),
            method: "GET".into(),
            raw_path: uri.path().to_string(),
            full_path: uri.path().to_string(),
            segments: Vec::new(),
            raw_query: uri.query().unwrap_or("").to_string(),
            headers,
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
        let info = ConnInfo {
            connection_id: connection_id(&self.node),
            api_id: self.api_id.clone(),
            stage,
            domain_name,
            connected_at_ms: now_ms,
            source_ip,
            user_agent: ctx.header("user-agent"),
            authorizer: None,
            stage_variables,
        };
        (ctx, info)
    }

    /// Phase 4, authorize: the `$connect` authorizer, whose output goes
    /// into the connection's record.
    async fn authorize(
        &self,
        ctx: &RequestContext,
        info: &mut ConnInfo,
        now_ms: i64,
    ) -> Result<Admitted, GatewayError> {
        match &self.auth {
            ConnectAuth::None => Ok(Admitted::default()),
            ConnectAuth::Request(a) => {
                let arn = events::connect_arn(info, &self.shared.region, ACCOUNT_ID);
                let started = self.now();
                let decided = a
                    .authorize_with(
                        ctx,
                        |_| events::authorizer(ctx, info, &self.shared.region, now_ms),
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
                            return Err(GatewayError::Internal);
                        }
                        info.authorizer = Some(events::authorizer_output(
                            principal_id.as_deref(),
                            &context,
                            self.now() - started,
                        ));
                        Ok(Admitted::default())
                    }
                    Ok(_) => Err(GatewayError::Internal),
                    Err(refusal) => Err(refusal.into_error(&self.name, &info.connection_id)),
                }
            }
            ConnectAuth::Session { rt, csrf_query } => {
                authorize_session(rt, csrf_query, ctx, info, now_ms).await
            }
        }
    }

    /// Phase 5, the `$connect` integration: a non-2xx answer is the
    /// upgrade's answer, a failure 502.
    async fn integrate_connect(
        &self,
        ctx: &RequestContext,
        info: &ConnInfo,
        now_ms: i64,
        admitted: &mut Admitted,
    ) -> Result<(), Response<Body>> {
        let Some(kind) = self.connect.as_ref().and_then(|r| r.integration.clone()) else {
            return Ok(());
        };
        let event = events::connect(ctx, info, now_ms);
        match connection::integrate(&self.shared, &kind, event).await {
            Ok(answer) if (200..300).contains(&answer.status) => {
                if let Some(p) = answer.protocol {
                    admitted.protocol = Some(p);
                }
                Ok(())
            }
            Ok(answer) => {
                let mut r = Response::new(Body::from(answer.body));
                *r.status_mut() =
                    StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
                Err(r)
            }
            Err(why) => {
                tracing::warn!(api = %self.name, error = %why, "$connect integration failed");
                Err(refuse(&GatewayError::ConnectIntegrationFailed))
            }
        }
    }

    /// Phase 6, the 101, and the socket's task once the upgrade completes.
    fn switch(
        self: Arc<Self>,
        request: &mut Request<Body>,
        key: &str,
        ctx: &RequestContext,
        info: ConnInfo,
        admitted: Admitted,
        now_ms: i64,
    ) -> Response<Body> {
        let on_upgrade = hyper::upgrade::on(request);
        let (tx, rx) = mpsc::channel(self.limits.send_queue);
        let conn = Arc::new(Conn {
            last_active_ms: AtomicI64::new(now_ms),
            info,
            origin_jti: admitted.origin_jti,
            token_exp_s: admitted.token_exp_s,
            tx,
        });
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => connection::run(self, conn, rx, upgraded).await,
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
        if let Some(p) = admitted
            .protocol
            .and_then(|p| HeaderValue::from_str(&p).ok())
        {
            rh.insert("sec-websocket-protocol", p);
        }
        for c in admitted.set_cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                rh.append(header::SET_COOKIE, v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            rh.insert("x-amzn-requestid", v);
        }
        r
    }
}

/// Phase 4 with a cookie session: the session, then its CSRF token, as a
/// query parameter or a subprotocol entry (then chosen as the subprotocol).
async fn authorize_session(
    rt: &SessionRt,
    csrf_query: &str,
    ctx: &RequestContext,
    info: &mut ConnInfo,
    now_ms: i64,
) -> Result<Admitted, GatewayError> {
    let found = match rt.authorize(ctx, now_ms).await {
        Ok(f) => f,
        Err(e @ (GatewayError::ServiceUnavailable | GatewayError::Internal)) => return Err(e),
        Err(_) => return Err(GatewayError::Forbidden),
    };
    let mut protocol = None;
    let ok = match ctx.query(csrf_query) {
        Some(v) => rt.csrf_matches(ctx, &found.claims, &v),
        None => {
            let offered = ctx.header("sec-websocket-protocol").unwrap_or_default();
            protocol = offered
                .split(',')
                .map(str::trim)
                .find(|p| rt.csrf_matches(ctx, &found.claims, p))
                .map(str::to_string);
            protocol.is_some()
        }
    };
    if !ok {
        return Err(GatewayError::Forbidden);
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
    Ok(Admitted {
        protocol,
        set_cookies: found.set_cookies,
        origin_jti: claim("origin_jti").map(str::to_string),
        token_exp_s: found.claims.get("exp").and_then(Value::as_i64),
    })
}
