//! Running a Lambda-style event on a target: a function cognate hosts, an
//! endpoint speaking the Lambda Invoke API, or a plain HTTP endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use cognate_config::{AdminCredentials, Target};

use cognate_identity::triggers::{BoxFuture, FunctionFailure, FunctionRunner};

use crate::client::{self, CallError, HttpClient};
use crate::runtime::{FunctionHost, InvokeError};

/// Lambda's own cap on invocation payloads.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

pub struct Invoker {
    pub client: HttpClient,
    pub functions: HashMap<String, Arc<FunctionHost>>,
    /// Signs Invoke API calls (SigV4, service `lambda`).
    pub credentials: AdminCredentials,
    pub region: String,
}

impl Invoker {
    pub async fn invoke(
        &self,
        target: &Target,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, InvokeError> {
        match target {
            Target::Function(name) => {
                let host = self
                    .functions
                    .get(name)
                    .ok_or_else(|| InvokeError::Unavailable(format!("no function {name}")))?;
                host.invoke(Bytes::from(payload), timeout).await
            }
            Target::Url(url) => {
                let request = axum::http::Request::post(url)
                    .header("content-type", "application/json")
                    .body(Body::from(payload))
                    .map_err(|e| InvokeError::Unavailable(e.to_string()))?;
                let (parts, body) = self.call(request, timeout).await?;
                if !parts.status.is_success() {
                    return Err(InvokeError::Function(format!("status {}", parts.status)));
                }
                Ok(body)
            }
            Target::Invoke {
                endpoint,
                function_name,
            } => {
                self.invoke_api(endpoint, function_name, payload, timeout)
                    .await
            }
        }
    }

    /// A call of the Lambda Invoke API (`RequestResponse`, SigV4-signed):
    /// a function error is the function's, any other non-2xx the
    /// endpoint's.
    async fn invoke_api(
        &self,
        endpoint: &str,
        function_name: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, InvokeError> {
        let url = url::Url::parse(endpoint)
            .and_then(|u| {
                u.join(&format!(
                    "/2015-03-31/functions/{function_name}/invocations"
                ))
            })
            .map_err(|e| InvokeError::Unavailable(e.to_string()))?;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let headers = vec![
            ("host".to_string(), host),
            (
                "x-amz-invocation-type".to_string(),
                "RequestResponse".to_string(),
            ),
        ];
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (amz_date, authorization) = cognate_identity::sigv4::sign(
            &cognate_identity::sigv4::Request {
                method: "POST",
                path: url.path(),
                query: "",
                headers: &headers,
                body: &payload,
            },
            &self.credentials,
            &self.region,
            "lambda",
            now,
        );
        let request = axum::http::Request::post(url.as_str())
            .header("content-type", "application/json")
            .header("x-amz-invocation-type", "RequestResponse")
            .header("x-amz-date", amz_date)
            .header("authorization", authorization)
            .body(Body::from(payload))
            .map_err(|e| InvokeError::Unavailable(e.to_string()))?;
        let (parts, body) = self.call(request, timeout).await?;
        if let Some(kind) = parts.headers.get("x-amz-function-error") {
            return Err(InvokeError::Function(format!(
                "{}: {}",
                kind.to_str().unwrap_or("Unhandled"),
                String::from_utf8_lossy(&body)
            )));
        }
        if !parts.status.is_success() {
            return Err(InvokeError::Unavailable(format!(
                "Invoke API status {}",
                parts.status
            )));
        }
        Ok(body)
    }

    async fn call(
        &self,
        request: axum::http::Request<Body>,
        timeout: Duration,
    ) -> Result<(axum::http::response::Parts, Bytes), InvokeError> {
        client::call(&self.client, request, timeout, MAX_PAYLOAD)
            .await
            .map_err(|e| match e {
                CallError::Timeout => InvokeError::Timeout,
                CallError::TooLarge => InvokeError::Function("the response is over 6 MB".into()),
                CallError::Unreachable(why) => InvokeError::Unavailable(why),
            })
    }
}

/// The functions of a configuration as the identity core runs them (the
/// pools' Lambda triggers), by ARN: `arn:aws:lambda:{region}:{account}:function:{name}`.
struct TriggerRunner(Arc<crate::Shared>);

/// A runner of this configuration's functions for the pools' triggers.
pub fn trigger_runner(shared: Arc<crate::Shared>) -> Arc<dyn FunctionRunner> {
    Arc::new(TriggerRunner(shared))
}

impl TriggerRunner {
    fn host(&self, arn: &str) -> Option<&Arc<FunctionHost>> {
        let name = arn.split_once(":function:").map_or(arn, |(_, n)| n);
        let name = name.split(':').next().unwrap_or(name);
        self.0.invoker.functions.get(name)
    }
}

impl FunctionRunner for TriggerRunner {
    fn knows(&self, arn: &str) -> bool {
        self.host(arn).is_some()
    }

    fn invoke<'a>(
        &'a self,
        arn: &'a str,
        event: serde_json::Value,
        timeout: std::time::Duration,
    ) -> BoxFuture<'a, Result<serde_json::Value, FunctionFailure>> {
        Box::pin(async move {
            let host = self
                .host(arn)
                .ok_or_else(|| FunctionFailure::Unavailable(format!("no function {arn}")))?;
            let payload = Bytes::from(serde_json::to_vec(&event).expect("events serialize"));
            match host.invoke(payload, timeout).await {
                Ok(body) => serde_json::from_slice(&body).map_err(|_| {
                    FunctionFailure::Error("the function's answer is not JSON".into())
                }),
                Err(InvokeError::Function(text)) => {
                    // The runtime reports {"errorMessage", "errorType", ...}.
                    let message = serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| {
                            v.get("errorMessage")
                                .and_then(|m| m.as_str())
                                .map(String::from)
                        })
                        .unwrap_or(text);
                    Err(FunctionFailure::Error(message))
                }
                Err(InvokeError::Timeout) => Err(FunctionFailure::Timeout),
                Err(InvokeError::Unavailable(why)) => Err(FunctionFailure::Unavailable(why)),
            }
        })
    }
}
