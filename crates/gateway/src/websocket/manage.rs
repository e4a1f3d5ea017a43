//! The `@connections` management API (reference/apigateway.md §5.6), on
//! the WebSocket API's own host and stage, as AWS serves it: SigV4
//! (service `execute-api`) with the admin credentials; errors in
//! rest-json with the type in `x-amzn-ErrorType`, so boto3's
//! `apigatewaymanagementapi` client raises `GoneException` & co.
//!
//! | Call | Answer |
//! |---|---|
//! | `POST` (PostToConnection) | 200; 410 gone; 413 over 128 KB; 429 queue full |
//! | `GET` (GetConnection) | 200 `{connectedAt, identity, lastActiveAt}`; 410 |
//! | `DELETE` (DeleteConnection) | 204, the socket closes with 1000 (or `?closeCode=&reason=`, beyond AWS); 410 |

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{Conn, Out, WsApi};

/// PostToConnection's limit on the data.
const MAX_DATA: usize = 128 * 1024;

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(json!({ "message": message }).to_string()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(kind) {
        h.insert("x-amzn-errortype", v);
    }
    if let Ok(v) = HeaderValue::from_str(&super::request_id()) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

/// The close code and reason a DeleteConnection asks for.
fn close_request(query: &str) -> Result<(u16, String), &'static str> {
    let mut code = 1000;
    let mut reason = String::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "closeCode" => {
                code = v
                    .parse::<u16>()
                    .ok()
                    .filter(|c| *c == 1000 || (3000..=4999).contains(c))
                    .ok_or("closeCode must be 1000 or 3000 to 4999")?;
            }
            "reason" => {
                if v.len() > 123 {
                    return Err("reason is at most 123 bytes");
                }
                reason = v.into_owned();
            }
            _ => {}
        }
    }
    Ok((code, reason))
}

fn gone() -> Response<Body> {
    error(StatusCode::GONE, "GoneException", "Connection is gone")
}

fn iso(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Checks a request's SigV4 signature (service `execute-api`, the admin
/// credentials); the error answer when it is not good.
fn verify(api: &WsApi, parts: &axum::http::request::Parts, body: &[u8]) -> Option<Response<Body>> {
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let signed = cognate_identity::sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body,
    };
    cognate_identity::sigv4::verify(
        &signed,
        &api.credentials,
        &api.shared.region,
        "execute-api",
        api.now() / 1000,
    )
    .err()
    .map(|e| error(StatusCode::FORBIDDEN, &e.type_name(), &e.message))
}

/// `POST /@broadcast` from another node (signed): deliver to this node's
/// connections only.
pub(crate) async fn broadcast_from_peer(
    api: &Arc<WsApi>,
    request: Request<Body>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST || parts.headers.get(super::relay::RELAYED).is_none() {
        return error(StatusCode::NOT_FOUND, "NotFoundException", "Not Found");
    }
    let Ok(body) = http_body_util::Limited::new(body, MAX_DATA).collect().await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            "Request entity too large",
        );
    };
    let body = body.to_bytes();
    if let Some(refused) = verify(api, &parts, &body) {
        return refused;
    }
    match String::from_utf8(body.to_vec()) {
        Ok(text) => {
            api.broadcast(Utf8Bytes::from(text));
            Response::new(Body::empty())
        }
        Err(_) => error(StatusCode::BAD_REQUEST, "BadRequestException", "text only"),
    }
}

pub(crate) async fn handle(
    api: &Arc<WsApi>,
    request: Request<Body>,
    stage: &str,
    raw_id: &str,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_DATA).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeException",
                "Request entity too large",
            )
        }
    };
    if let Some(refused) = verify(api, &parts, &body) {
        return refused;
    }
    let id = cognate_identity::crypto::percent_decode(raw_id, false);
    let Some(conn) = api.connection(&id) else {
        // Another node's connection: that node answers (once; a relayed
        // call is never passed on).
        if parts.headers.get(super::relay::RELAYED).is_none()
            && super::relay::tag_of(&id) != api.tag
        {
            if let Some(r) =
                super::relay::forward(api, parts.method.as_str(), stage, raw_id, body.to_vec())
                    .await
            {
                return r;
            }
        }
        return gone();
    };
    match parts.method {
        Method::POST => post_to(api, &conn, &body),
        Method::GET => describe(&conn),
        Method::DELETE => delete(&conn, parts.uri.query().unwrap_or("")).await,
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "BadRequestException",
            "Use POST, GET or DELETE",
        ),
    }
}

/// PostToConnection: queued, or 429 when the connection's queue is full.
fn post_to(api: &WsApi, conn: &Conn, body: &[u8]) -> Response<Body> {
    let out = match String::from_utf8(body.to_vec()) {
        Ok(s) => Out::Text(Utf8Bytes::from(s)),
        Err(e) => Out::Binary(e.into_bytes()),
    };
    match conn.tx.try_send(out) {
        Ok(()) => {
            conn.last_active_ms.store(api.now(), Ordering::Relaxed);
            Response::new(Body::empty())
        }
        Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => error(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            "The connection's send queue is full",
        ),
        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => gone(),
    }
}

/// GetConnection.
fn describe(conn: &Conn) -> Response<Body> {
    let mut identity = serde_json::Map::new();
    identity.insert("sourceIp".into(), json!(conn.info.source_ip));
    if let Some(ua) = &conn.info.user_agent {
        identity.insert("userAgent".into(), json!(ua));
    }
    let body = json!({
        "connectedAt": iso(conn.info.connected_at_ms),
        "identity": identity,
        "lastActiveAt": iso(conn.last_active_ms.load(Ordering::Relaxed)),
    });
    let mut r = Response::new(Body::from(body.to_string()));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// DeleteConnection. Beyond AWS (which always closes with 1000):
/// `?closeCode=` (1000, or an application code 3000-4999) and `&reason=`.
async fn delete(conn: &Conn, query: &str) -> Response<Body> {
    let (code, reason) = match close_request(query) {
        Ok(c) => c,
        Err(why) => return error(StatusCode::BAD_REQUEST, "BadRequestException", why),
    };
    if conn.tx.try_send(Out::Close(code, reason.clone())).is_err() {
        // A full queue must not keep a connection open that was asked to
        // close: wait for room.
        if conn.tx.send(Out::Close(code, reason)).await.is_err() {
            return gone();
        }
    }
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_connection_takes_an_application_close_code_and_reason() {
        assert_eq!(close_request(""), Ok((1000, String::new())));
        assert_eq!(
            close_request("closeCode=4001&reason=kicked%20out"),
            Ok((4001, "kicked out".to_string()))
        );
        assert!(close_request("closeCode=1006").is_err());
        assert!(close_request("closeCode=nope").is_err());
        assert!(close_request(&format!("reason={}", "x".repeat(124))).is_err());
    }
}
