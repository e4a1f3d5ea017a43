//! A small client of a running cognate's JSON API, for the CLI helpers
//! (`cognate users create`, `cognate token`). Admin calls are SigV4-signed
//! like the AWS CLI signs them.

use std::collections::BTreeMap;
use std::path::Path;

use axum::body::Bytes;
use cognate_config::AdminCredentials;
use cognate_identity::{api::TARGET_PREFIX, sigv4};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub struct ApiClient {
    pub endpoint: String,
    pub region: String,
    pub credentials: Option<AdminCredentials>,
}

/// Values from a `--outputs-file` of `cognate serve`.
pub fn read_outputs(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not an outputs file: {e}", path.display()))
}

impl ApiClient {
    /// Calls an operation; `Err` carries `__type: message` of an error answer.
    pub async fn call(&self, operation: &str, input: &Value) -> Result<Value, String> {
        let url: hyper::Uri = self
            .endpoint
            .parse()
            .map_err(|e| format!("bad endpoint {}: {e}", self.endpoint))?;
        let host = url
            .authority()
            .map(|a| a.to_string())
            .ok_or("endpoint has no host")?;
        let path = if url.path().is_empty() {
            "/"
        } else {
            url.path()
        };
        let body = serde_json::to_vec(input).expect("input serializes");
        let target = format!("{TARGET_PREFIX}{operation}");
        let mut request = hyper::Request::post(url.clone())
            .header("host", &host)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", &target);
        if let Some(creds) = &self.credentials {
            let headers = vec![
                (
                    "content-type".to_string(),
                    "application/x-amz-json-1.1".to_string(),
                ),
                ("host".to_string(), host.clone()),
                ("x-amz-target".to_string(), target.clone()),
            ];
            let req = sigv4::Request {
                method: "POST",
                path,
                query: "",
                headers: &headers,
                body: &body,
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let (date, auth) = sigv4::sign(&req, creds, &self.region, "cognito-idp", now);
            request = request
                .header("x-amz-date", date)
                .header("authorization", auth);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.endpoint))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!(
                "{}: {}",
                value["__type"].as_str().unwrap_or("Error"),
                value["message"].as_str().unwrap_or("request failed")
            ))
        }
    }
}
