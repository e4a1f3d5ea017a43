//! One open WebSocket connection: frames in (route selection, then the
//! route's integration), messages out (echo, broadcast, `@connections`,
//! route responses), and the ways it ends, each with its close code
//! (reference/apigateway.md §5.7, reference/security.md W03-W06):
//!
//! | Why | Code |
//! |---|---|
//! | frame or message over the limit | 1009 |
//! | binary frame (API Gateway takes text only) | 1003 |
//! | protocol violation (unmasked frame, RSV bits, bad opcode, long control frame) | 1002 |
//! | text that is not UTF-8 | 1007 |
//! | idle, lifetime over, server stopping | 1001 |
//! | session revoked or token expired | 1008 |
//! | DeleteConnection | 1000 |
//!
//! permessage-deflate is never negotiated, so a compressed frame (RSV1) is
//! a protocol violation and nothing is ever inflated.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::events;
use super::{Conn, Out, RouteRt, WsApi};
use crate::Shared;
use cognate_config::WsIntegrationKind;

/// Integrations of one connection running at once; more messages wait
/// (the client's frames stay unread meanwhile).
const IN_FLIGHT: usize = 16;
/// How long a write to a client that does not read may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What an integration answered.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// A `Sec-WebSocket-Protocol` the `$connect` integration chose.
    pub protocol: Option<String>,
}

/// Runs an event through an HTTP or Lambda-style integration. Echo and
/// broadcast are not calls (they answer 200 with no body here).
pub async fn integrate(
    shared: &Shared,
    kind: &WsIntegrationKind,
    event: Value,
) -> Result<Answer, String> {
    let payload = serde_json::to_vec(&event).expect("event serializes");
    match kind {
        WsIntegrationKind::Http { url, timeout_ms } => {
            let request = axum::http::Request::post(url)
                .header("content-type", "application/json")
                .body(Body::from(payload))
                .map_err(|e| e.to_string())?;
            let (parts, body) = crate::client::call(
                &shared.invoker.client,
                request,
                Duration::from_millis(*timeout_ms),
                crate::invoke::MAX_PAYLOAD,
            )
            .await
            .map_err(|e| format!("{e:?}"))?;
            Ok(Answer {
                status: parts.status.as_u16(),
                body: body.to_vec(),
                protocol: parts
                    .headers
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            })
        }
        WsIntegrationKind::Lambda { target, timeout_ms } => {
            let raw = shared
                .invoker
                .invoke(target, payload, Duration::from_millis(*timeout_ms))
                .await
                .map_err(|e| format!("{e:?}"))?;
            lambda_answer(&raw).ok_or_else(|| {
                format!(
                    "malformed function answer: {}",
                    String::from_utf8_lossy(&raw)
                )
            })
        }
        WsIntegrationKind::Response { body } => Ok(Answer {
            status: 200,
            body: render(body, &event).into_bytes(),
            protocol: None,
        }),
        WsIntegrationKind::Echo | WsIntegrationKind::Broadcast => Ok(Answer {
            status: 200,
            body: Vec::new(),
            protocol: None,
        }),
    }
}

/// Fills `${context.X}` and `${context.authorizer.X}` from the event's
/// `requestContext`; unknown names become empty, as API Gateway's.
fn render(template: &str, event: &Value) -> String {
    let rc = &event["requestContext"];
    crate::context::fill(template, |name| {
        let n = name.strip_prefix("context.")?;
        let value = match n.strip_prefix("authorizer.") {
            Some(k) => rc["authorizer"].get(k),
            None => rc.get(n),
        }?;
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    })
}

/// A function's answer: `{statusCode, headers, body}`; `null` (a handler
/// that returns nothing) is 200 with no body.
fn lambda_answer(raw: &[u8]) -> Option<Answer> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    match v {
        Value::Null => Some(Answer {
            status: 200,
            body: Vec::new(),
            protocol: None,
        }),
        Value::Object(o) => {
            let status = match o.get("statusCode") {
                None | Some(Value::Null) => 200,
                Some(s) => u16::try_from(s.as_u64()?).ok()?,
            };
            if !(100..=599).contains(&status) {
                return None;
            }
            let body = match o.get("body") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => s.clone().into_bytes(),
                Some(other) => other.to_string().into_bytes(),
            };
            let protocol = o
                .get("headers")
                .and_then(Value::as_object)
                .and_then(|h| {
                    h.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol"))
                })
                .and_then(|(_, v)| v.as_str())
                .map(str::to_string);
            Some(Answer {
                status,
                body,
                protocol,
            })
        }
        // Any other JSON value answers with itself as the body.
        other => Some(Answer {
            status: 200,
            body: other.to_string().into_bytes(),
            protocol: None,
        }),
    }
}

/// The error frame API Gateway sends (§5.5): the connection stays open.
fn error_frame(message: &str, connection_id: &str, request_id: &str) -> Utf8Bytes {
    Utf8Bytes::from(format!(
        "{{\"message\": \"{message}\", \"connectionId\":\"{connection_id}\", \"requestId\":\"{request_id}\"}}"
    ))
}

/// What a broadcast sends: the message's `data` (text as is, anything
/// else as JSON), or the whole message when it has none.
fn broadcast_text(message: &str) -> Utf8Bytes {
    match serde_json::from_str::<Value>(message) {
        Ok(Value::Object(o)) => match o.get("data") {
            Some(Value::String(s)) => Utf8Bytes::from(s.clone()),
            Some(other) => Utf8Bytes::from(other.to_string()),
            None => Utf8Bytes::from(message.to_string()),
        },
        _ => Utf8Bytes::from(message.to_string()),
    }
}

fn reason_of(code: u16) -> &'static str {
    match code {
        1000 => "Connection Closed Normally",
        1001 => "Going away",
        1002 => "Protocol error",
        1003 => "Unsupported data",
        1005 => "Client-side close frame status not set",
        1006 => "Connection closed abnormally",
        1007 => "Invalid frame payload data",
        1008 => "Policy violation",
        1009 => "Message too big",
        _ => "Connection closed",
    }
}

impl WsApi {
    /// Routes one text message and runs its integration.
    fn on_message(self: &Arc<Self>, conn: &Arc<Conn>, text: Utf8Bytes, slots: &Arc<Semaphore>) {
        let request_id = super::request_id();
        let selected = self.selection.evaluate(text.as_str());
        let route = selected
            .as_deref()
            .and_then(|k| self.routes.get(k))
            .filter(|r| r.key != "$connect" && r.key != "$disconnect")
            .or_else(|| self.routes.get("$default"))
            .cloned();
        let Some(route) = route else {
            conn.send(Out::Text(error_frame(
                "Forbidden",
                &conn.info.connection_id,
                &request_id,
            )));
            return;
        };
        let Some(kind) = route.integration.clone() else {
            return;
        };
        match &*kind {
            WsIntegrationKind::Echo => {
                conn.send(Out::Text(text));
            }
            WsIntegrationKind::Broadcast => {
                let out = broadcast_text(text.as_str());
                super::relay::broadcast_to_peers(self, out.as_str());
                self.broadcast(out);
            }
            WsIntegrationKind::Response { body } => {
                if route.route_response {
                    let event = events::message(
                        &conn.info,
                        &route.key,
                        "",
                        &request_id,
                        &request_id,
                        self.now(),
                    );
                    conn.send(Out::Text(Utf8Bytes::from(render(body, &event))));
                }
            }
            WsIntegrationKind::Http { .. } | WsIntegrationKind::Lambda { .. } => {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    conn.send(Out::Text(Utf8Bytes::from(format!(
                        "{{\"message\": \"Too many requests\", \"connectionId\":\"{}\", \"requestId\":\"{request_id}\"}}",
                        conn.info.connection_id
                    ))));
                    return;
                };
                let api = self.clone();
                let conn = conn.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    api.integrate_message(&conn, &route, &kind, &text, &request_id)
                        .await;
                });
            }
        }
    }

    /// Runs a message's HTTP or function integration; its answer goes back
    /// to the client when the route has a route response, a failure as
    /// API Gateway's error frame.
    async fn integrate_message(
        &self,
        conn: &Conn,
        route: &RouteRt,
        kind: &WsIntegrationKind,
        text: &Utf8Bytes,
        request_id: &str,
    ) {
        let message_id = super::request_id();
        let event = events::message(
            &conn.info,
            &route.key,
            text.as_str(),
            request_id,
            &message_id,
            self.now(),
        );
        match integrate(&self.shared, kind, event).await {
            Ok(answer) if route.route_response && !answer.body.is_empty() => {
                let out = match String::from_utf8(answer.body) {
                    Ok(s) => Out::Text(Utf8Bytes::from(s)),
                    Err(e) => Out::Binary(e.into_bytes()),
                };
                conn.send(out);
            }
            Ok(_) => {}
            Err(why) => {
                tracing::warn!(api = %self.name, route = %route.key, error = %why, "WebSocket integration failed");
                conn.send(Out::Text(error_frame(
                    "Internal server error",
                    &conn.info.connection_id,
                    request_id,
                )));
            }
        }
    }

    async fn on_disconnect(&self, conn: &Conn, code: u16, reason: &str) {
        tracing::info!(
            target: "cognate::access",
            api = %self.name,
            connectionId = %conn.info.connection_id,
            routeKey = "$disconnect",
            disconnectStatusCode = code,
            disconnectReason = %reason,
        );
        let Some(kind) = self.disconnect.as_ref().and_then(|r| r.integration.clone()) else {
            return;
        };
        let event = events::disconnect(&conn.info, code, reason, &super::request_id(), self.now());
        // Best effort, as API Gateway's.
        if let Err(why) = integrate(&self.shared, &kind, event).await {
            tracing::warn!(api = %self.name, error = %why, "$disconnect integration failed");
        }
    }
}

/// How a connection ended: the code cognate closes with (if it closes),
/// the code and reason reported to `$disconnect`.
struct Ending {
    close: Option<u16>,
    code: u16,
    reason: String,
}

impl Ending {
    /// Cognate closes with `code` and its usual reason.
    fn close(code: u16) -> Self {
        Self::close_with(code, reason_of(code).into())
    }

    fn close_with(code: u16, reason: String) -> Self {
        Ending {
            close: Some(code),
            code,
            reason,
        }
    }

    /// The peer is gone without a close frame (1006, nothing to send).
    fn lost() -> Self {
        Ending {
            close: None,
            code: 1006,
            reason: reason_of(1006).into(),
        }
    }

    /// The peer closed (its close was echoed by tungstenite).
    fn closed_by_peer(frame: Option<CloseFrame>) -> Self {
        let (code, reason) = match frame {
            Some(f) => {
                let c = u16::from(f.code);
                let r = if f.reason.is_empty() {
                    reason_of(c).to_string()
                } else {
                    f.reason.to_string()
                };
                (c, r)
            }
            None => (1005, reason_of(1005).to_string()),
        };
        Ending {
            close: None,
            code,
            reason,
        }
    }

    /// A frame the connection cannot take: closed with the table's code,
    /// or lost when the socket itself failed.
    fn bad_frame(e: &WsError) -> Self {
        match e {
            WsError::Capacity(_) => Self::close(1009),
            WsError::Utf8(_) => Self::close(1007),
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Self::lost(),
            WsError::Protocol(_) => Self::close(1002),
            _ => Self::lost(),
        }
    }
}

/// Serves an upgraded connection until it ends, then runs `$disconnect`.
pub(crate) async fn run(
    api: Arc<WsApi>,
    conn: Arc<Conn>,
    rx: mpsc::Receiver<Out>,
    upgraded: hyper::upgrade::Upgraded,
) {
    let config = WebSocketConfig::default()
        // Small and grown on demand: most connections are idle, and
        // memory per connection is what limits how many one node holds.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(api.limits.message_bytes * 2)
        .max_frame_size(Some(api.limits.frame_bytes))
        .max_message_size(Some(api.limits.message_bytes));
    let mut ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    api.register(conn.clone());
    tracing::info!(
        target: "cognate::access",
        api = %api.name,
        connectionId = %conn.info.connection_id,
        routeKey = "$connect",
        sourceIp = %conn.info.source_ip,
    );
    let ending = serve(&api, &conn, rx, &mut ws).await;
    api.unregister(&conn.info.connection_id);
    if let Some(c) = ending.close {
        let frame = CloseFrame {
            code: CloseCode::from(c),
            // A normal close says nothing more, as API Gateway's.
            reason: Utf8Bytes::from(if c == 1000 && ending.reason == reason_of(1000) {
                String::new()
            } else {
                ending.reason.clone()
            }),
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(Some(frame))).await;
    }
    drop(ws);
    api.on_disconnect(&conn, ending.code, &ending.reason).await;
}

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Frames in and messages out until something ends the connection.
async fn serve(
    api: &Arc<WsApi>,
    conn: &Arc<Conn>,
    mut rx: mpsc::Receiver<Out>,
    ws: &mut Socket,
) -> Ending {
    let mut closing = api.closing.subscribe();
    if *closing.borrow_and_update() {
        return Ending::close_with(1001, "Going away".into());
    }
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let idle = Duration::from_millis(api.limits.idle_ms);
    let idle_timer = tokio::time::sleep(idle);
    let lifetime = tokio::time::sleep(Duration::from_millis(api.limits.lifetime_ms));
    tokio::pin!(idle_timer, lifetime);
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                None => return Ending::lost(),
                Some(Ok(Message::Text(text))) => {
                    api.counters.messages_in.fetch_add(1, Ordering::Relaxed);
                    conn.last_active_ms.store(api.now(), Ordering::Relaxed);
                    idle_timer.as_mut().reset(tokio::time::Instant::now() + idle);
                    api.on_message(conn, text, &slots);
                }
                Some(Ok(Message::Binary(_))) => return Ending::close(1003),
                Some(Ok(Message::Close(frame))) => {
                    // tungstenite queued the echo of the close; flush it.
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, ws.flush()).await;
                    return Ending::closed_by_peer(frame);
                }
                Some(Ok(_)) => {} // ping (answered by tungstenite), pong
                Some(Err(e)) => {
                    let ending = Ending::bad_frame(&e);
                    if ending.close.is_some() {
                        tracing::debug!(connectionId = %conn.info.connection_id, error = %e, "closing on a bad frame");
                    }
                    return ending;
                }
            },
            out = rx.recv() => match out {
                Some(Out::Text(t)) => {
                    if !write(ws, Message::Text(t)).await {
                        return Ending::lost();
                    }
                    api.counters.messages_out.fetch_add(1, Ordering::Relaxed);
                    conn.last_active_ms.store(api.now(), Ordering::Relaxed);
                    idle_timer.as_mut().reset(tokio::time::Instant::now() + idle);
                }
                Some(Out::Binary(b)) => {
                    if !write(ws, Message::Binary(b.into())).await {
                        return Ending::lost();
                    }
                    api.counters.messages_out.fetch_add(1, Ordering::Relaxed);
                }
                Some(Out::Close(c, r)) if r.is_empty() => return Ending::close(c),
                Some(Out::Close(c, r)) => return Ending::close_with(c, r),
                None => return Ending::close(1001),
            },
            _ = &mut idle_timer => return Ending::close_with(1001, "Idle timeout".into()),
            _ = &mut lifetime => return Ending::close_with(1001, "Connection lifetime exceeded".into()),
            _ = closing.changed() => return Ending::close(1001),
        }
    }
}

/// Sends one message to a client that must read it within WRITE_TIMEOUT.
async fn write(ws: &mut Socket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, ws.send(message)).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_answers_give_status_body_and_subprotocol() {
        let a = lambda_answer(br#"{"statusCode":401,"body":"no"}"#).expect("answer");
        assert_eq!((a.status, a.body.as_slice()), (401, b"no".as_slice()));
        let a = lambda_answer(br#"{"statusCode":200,"headers":{"Sec-WebSocket-Protocol":"chat"}}"#)
            .expect("answer");
        assert_eq!(a.protocol.as_deref(), Some("chat"));
        assert_eq!(lambda_answer(b"null").expect("answer").status, 200);
        assert!(lambda_answer(b"not json").is_none());
        assert!(lambda_answer(br#"{"statusCode":"200"}"#).is_none());
        assert!(lambda_answer(br#"{"statusCode":99}"#).is_none());
    }

    #[test]
    fn response_templates_read_the_request_context() {
        let event = serde_json::json!({"requestContext": {
            "connectionId": "abc=", "routeKey": "whoami", "authorizer": {"principalId": "u1", "n": "7"}}});
        assert_eq!(
            render(
                "${context.connectionId} ${context.routeKey} ${context.authorizer.principalId} ${context.nope}!",
                &event
            ),
            "abc= whoami u1 !"
        );
    }

    #[test]
    fn broadcasts_send_the_data_field_or_the_whole_message() {
        assert_eq!(
            broadcast_text(r#"{"action":"sendmessage","data":"hi"}"#).as_str(),
            "hi"
        );
        assert_eq!(
            broadcast_text(r#"{"action":"sendmessage","data":{"a":1}}"#).as_str(),
            r#"{"a":1}"#
        );
        assert_eq!(broadcast_text("plain").as_str(), "plain");
    }

    #[test]
    fn error_frames_are_byte_for_byte_api_gateways() {
        assert_eq!(
            error_frame("Forbidden", "abc=", "req=").as_str(),
            r#"{"message": "Forbidden", "connectionId":"abc=", "requestId":"req="}"#
        );
    }
}
