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

impl WsApi {
    pub(super) async fn upgrade(
        self: Arc<Self>,
        mut request: Request<Body>,
        stage: String,
    ) -> Response<Body> {
        let now_ms = self.now();
        let h = request.headers();
        // 2. handshake (RFC 6455 §4.2.1)
        let upgrade = h.get(header::UPGRADE);
        if upgrade.is_none() {
            let mut r = refuse(&GatewayError::UpgradeRequired);
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
            return refuse(&GatewayError::BadRequest);
        }
        if h.get("sec-websocket-version").and_then(|v| v.to_str().ok()) != Some("13") {
            let mut r = refuse(&GatewayError::UpgradeRequired);
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
            _ => return refuse(&GatewayError::BadRequest),
        };
        // New connections past the API's rate: 429, as API Gateway's.
        if let Some(bucket) = &self.connect_bucket {
            if !bucket.take(now_ms) {
                return refuse(&GatewayError::TooManyRequests);
            }
        }
        // 3. origin
        if let Some(list) = &self.origins {
            let origin = h.get(header::ORIGIN).and_then(|v| v.to_str().ok());
            if !origin.is_some_and(|o| origin_allowed(list, o)) {
                tracing::info!(api = %self.name, origin = ?origin, "upgrade refused: origin not allowed");
                return refuse(&GatewayError::Forbidden);
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
        let domain_name = match &self.event_domain {
            Some(d) => d.clone(),
            None => parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        };
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
                let arn = events::connect_arn(&info, &self.shared.region, ACCOUNT_ID);
                let started = self.now();
                let decided = a
                    .authorize_with(
                        &ctx,
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
                            return refuse(&GatewayError::Internal);
                        }
                        info.authorizer = Some(events::authorizer_output(
                            principal_id.as_deref(),
                            &context,
                            self.now() - started,
                        ));
                    }
                    Ok(_) => return refuse(&GatewayError::Internal),
                    Err(refusal) => {
                        return refuse(&refusal.into_error(&self.name, &info.connection_id))
                    }
                }
            }
            ConnectAuth::Session { rt, csrf_query } => {
                let found = match rt.authorize(&ctx, now_ms).await {
                    Ok(f) => f,
                    Err(GatewayError::ServiceUnavailable) => {
                        return refuse(&GatewayError::ServiceUnavailable)
                    }
                    Err(GatewayError::Internal) => return refuse(&GatewayError::Internal),
                    Err(_) => return refuse(&GatewayError::Forbidden),
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
                    return refuse(&GatewayError::Forbidden);
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
                    return refuse(&GatewayError::ConnectIntegrationFailed);
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
}
