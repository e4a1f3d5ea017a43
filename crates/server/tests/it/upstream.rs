//! A loopback helper for the gateway tests: an upstream that echoes what it
//! received, and request-authorizer and function endpoints that count
//! their calls. A real HTTP server on 127.0.0.1 (the gateway's upstream
//! client and authorizer calls are real connections).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Default)]
pub struct Recorder {
    calls: Mutex<Vec<(String, Vec<u8>)>>,
}

impl Recorder {
    /// How many calls had a path starting `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|(p, _)| p.starts_with(prefix)).count()
    }

    /// The body of the last call to a path starting `prefix`.
    pub fn last(&self, prefix: &str) -> Value {
        let calls = self.calls.lock().unwrap();
        let (_, body) = calls
            .iter()
            .rev()
            .find(|(p, _)| p.starts_with(prefix))
            .expect("a call");
        serde_json::from_slice(body).expect("a JSON body")
    }
}

pub struct Upstream {
    pub url: String,
    pub port: u16,
    pub recorder: Arc<Recorder>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().unwrap().port();
        let recorder = Arc::new(Recorder::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(recorder.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream {
            url: format!("http://127.0.0.1:{port}"),
            port,
            recorder,
        }
    }
}

fn reply(status: u16, body: impl Into<String>) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body.into(),
    )
        .into_response()
}

async fn handle(State(recorder): State<Arc<Recorder>>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers: HeaderMap = request.headers().clone();
    let body: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    recorder
        .calls
        .lock()
        .unwrap()
        .push((path.clone(), body.to_vec()));
    if let Some(mode) = path.strip_prefix("/authz/") {
        return authorizer(mode.split('?').next().unwrap_or_default(), &body);
    }
    if path.starts_with("/slow") {
        // Answers, but later than the integration's 500 ms.
        tokio::time::sleep(Duration::from_secs(3)).await;
        return reply(200, "late");
    }
    if let Some(mode) = path.strip_prefix("/fn/") {
        return match mode {
            "error" => reply(500, r#"{"errorMessage":"boom"}"#),
            "invalid" => reply(200, "not json at all"),
            _ => reply(404, "{}"),
        };
    }
    if path.starts_with("/cors") {
        let mut r = reply(200, "{}");
        r.headers_mut()
            .insert("access-control-allow-origin", "*".parse().unwrap());
        r.headers_mut()
            .insert("access-control-allow-headers", "*".parse().unwrap());
        return r;
    }
    // The echo upstream.
    let seen: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), json!(v.to_str().unwrap_or_default())))
        .collect();
    let mut r = reply(
        200,
        json!({"method": method, "path": path, "headers": seen,
               "body": String::from_utf8_lossy(&body)})
        .to_string(),
    );
    let h = r.headers_mut();
    h.insert("x-upstream", "yes".parse().unwrap());
    h.insert("connection", "keep-alive, x-secret".parse().unwrap());
    h.insert("x-secret", "hop".parse().unwrap());
    r
}

/// Request authorizers: `simple` allows identities starting `allow`;
/// `policy` (payload 1.0) allows or denies exactly the method ARN asked
/// about; `stringtrue` answers `"true"` (not a boolean); `throw` fails.
fn authorizer(mode: &str, body: &[u8]) -> Response {
    let event: Value = serde_json::from_slice(body).unwrap_or_default();
    match mode {
        "simple" => {
            let key = event["identitySource"][0].as_str().unwrap_or_default();
            reply(
                200,
                json!({"isAuthorized": key.starts_with("allow"),
                       "context": {"user": key, "n": 1, "tags": ["a", "b"]}})
                .to_string(),
            )
        }
        "policy" => {
            let key = event["authorizationToken"].as_str().unwrap_or_default();
            let effect = if key.starts_with("allow") {
                "Allow"
            } else {
                "Deny"
            };
            reply(
                200,
                json!({"principalId": format!("p-{key}"),
                       "policyDocument": {"Version": "2012-10-17", "Statement": [
                           {"Action": "execute-api:Invoke", "Effect": effect,
                            "Resource": event["methodArn"]}]},
                       "context": {"user": key, "flag": true}})
                .to_string(),
            )
        }
        "stringtrue" => reply(200, r#"{"isAuthorized":"true"}"#),
        "throw" => reply(500, r#"{"errorMessage":"boom"}"#),
        _ => reply(404, "{}"),
    }
}
