//! Connections to plain-HTTP upstreams of HTTP integrations: a pool of
//! HTTP/1.1 connections per upstream address, on hyper's connection API.
//!
//! Written here rather than using hyper-util's pooled client for the hot
//! path: the gateway benchmark (docs/performance.md) showed that client's
//! per-request work dominating a proxied request. This pool does only
//! what a proxy needs: take an idle connection that is ready (or open
//! one), send, and give the connection back once its answer is read.
//! HTTPS upstreams keep using the general client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

/// Idle connections kept per upstream address.
const MAX_IDLE: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Upstreams {
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

#[derive(Default)]
struct Pool {
    idle: Mutex<Vec<SendRequest<Body>>>,
}

/// A connection on loan: give it back with [`Lease::release`] once the
/// answer's body has been read whole; dropping it closes the connection
/// after the answer.
pub struct Lease {
    pool: Arc<Pool>,
    sender: SendRequest<Body>,
}

impl Lease {
    pub fn release(self) {
        if self.sender.is_closed() {
            return;
        }
        let mut idle = self.pool.idle.lock().expect("upstream pool lock");
        if idle.len() < MAX_IDLE {
            idle.push(self.sender);
        }
    }
}

#[derive(Debug)]
pub enum UpstreamError {
    Connect(String),
    Send(String),
}

impl Upstreams {
    fn pool(&self, addr: &str) -> Arc<Pool> {
        let mut pools = self.pools.lock().expect("upstream pools lock");
        if let Some(p) = pools.get(addr) {
            return p.clone();
        }
        let p = Arc::new(Pool::default());
        pools.insert(addr.to_string(), p.clone());
        p
    }

    /// Sends a request to `addr` (`host:port`); `target` is in origin form
    /// (path and query) and `headers` carry the Host.
    ///
    /// A request that a reused connection could not deliver (the upstream
    /// closed it while idle) is sent again on a new connection when it was
    /// never written, or when its method is idempotent (its headers made
    /// again by `rebuild`: the first ones went with the request); others
    /// fail.
    pub async fn send(
        &self,
        addr: &str,
        method: &axum::http::Method,
        target: &str,
        headers: axum::http::HeaderMap,
        body: axum::body::Bytes,
        rebuild: impl Fn() -> Option<axum::http::HeaderMap>,
    ) -> Result<(hyper::Response<Incoming>, Lease), UpstreamError> {
        let pool = self.pool(addr);
        let build = |headers: axum::http::HeaderMap| {
            let mut r = axum::http::Request::builder()
                .method(method.clone())
                .uri(target)
                .body(Body::from(body.clone()))
                .map_err(|e| UpstreamError::Send(e.to_string()))?;
            *r.headers_mut() = headers;
            Ok::<_, UpstreamError>(r)
        };
        let idempotent = matches!(
            method.as_str(),
            "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
        );
        let mut request = build(headers)?;
        loop {
            let (mut sender, reused) = match self.idle(&pool).await {
                Some(s) => (s, true),
                None => (connect(addr).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, Lease { pool, sender })),
                Err(mut e) => {
                    let unsent = e.take_message();
                    let failed = || UpstreamError::Send(crate::client::error_chain(e.error()));
                    request = match unsent {
                        Some(unsent) if reused => unsent,
                        None if reused && idempotent => build(rebuild().ok_or_else(failed)?)?,
                        _ => return Err(failed()),
                    };
                }
            }
        }
    }

    /// An idle connection that is ready, skipping ones the upstream closed.
    async fn idle(&self, pool: &Pool) -> Option<SendRequest<Body>> {
        loop {
            let mut s = pool.idle.lock().expect("upstream pool lock").pop()?;
            if !s.is_closed() && s.ready().await.is_ok() {
                return Some(s);
            }
        }
    }
}

async fn connect(addr: &str) -> Result<SendRequest<Body>, UpstreamError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| UpstreamError::Connect(format!("{addr}: connect timed out")))?
        .map_err(|e| UpstreamError::Connect(format!("{addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| UpstreamError::Connect(format!("{addr}: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}
