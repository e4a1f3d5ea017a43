//! The outbound HTTP client: pooled HTTP/1.1 connections over plain TCP or
//! TLS (the platform's roots), shared by HTTP integrations, function
//! endpoints and JWKS discovery.

use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

pub fn new() -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .unwrap_or_else(|_| {
            // No platform roots: plain HTTP still works, HTTPS upstreams
            // fail their handshake (logged per request).
            tracing::warn!("no TLS root certificates found; HTTPS upstreams will fail");
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            )
        })
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(tls)
}

/// Why a call to another service failed.
#[derive(Debug)]
pub enum CallError {
    Timeout,
    /// Refused, reset, TLS or DNS failure, or a body cut short.
    Unreachable(String),
    /// The answer was bigger than allowed.
    TooLarge,
}

/// Sends a request and reads the whole answer (up to `limit` bytes)
/// within `timeout`.
pub async fn call(
    client: &HttpClient,
    request: axum::http::Request<Body>,
    timeout: Duration,
    limit: usize,
) -> Result<(axum::http::response::Parts, Bytes), CallError> {
    let fut = async {
        let resp = client
            .request(request)
            .await
            .map_err(|e| CallError::Unreachable(error_chain(&e)))?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    CallError::TooLarge
                } else {
                    CallError::Unreachable(e.to_string())
                }
            })?
            .to_bytes();
        Ok((parts, body))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or(Err(CallError::Timeout))
}

/// The error and its sources in one line, for logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
