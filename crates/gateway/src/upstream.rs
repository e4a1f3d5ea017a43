//! Connections to plain-HTTP upstreams of HTTP integrations: a pool of
//! HTTP/1.1 connections per upstream address, on hyper's connection API.
//!
//! Written here rather than using hyper-util's pooled client for the hot
//! path: the gateway benchmark (docs/performance.md) showed that client's
//! per-request work dominating a proxied request. This pool does only
//! what a proxy needs: take an idle connection that is ready (or open
//! one), send, and give the connection back once its answer is read.
//! HTTPS upstreams keep using the general client.
//!
//! Idle connections are kept apart by the thread that opened them (whose
//! runtime drives them): a request takes one of its own thread's first,
//! so that on the per-core runtimes a proxied request and its upstream
//! connection stay on one thread; another thread's idle connection is
//! taken (and driven across threads) rather than opening a new one.

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
    /// Idle connections by the slot of the thread that opened them.
    idle: Mutex<Vec<Vec<SendRequest<Body>>>>,
}

/// This thread's slot: a small number, given to threads in the order
/// they first ask.
fn thread_slot() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SLOT.with(|s| *s)
}

/// A connection on loan: give it back with [`Lease::release`] once the
/// answer's body has been read whole; dropping it closes the connection
/// after the answer.
pub struct Lease {
    pool: Arc<Pool>,
    sender: SendRequest<Body>,
    /// The slot of the thread whose runtime drives the connection.
    slot: usize,
}

impl Lease {
    pub fn release(self) {
        if self.sender.is_closed() {
            return;
        }
        let mut idle = self.pool.idle.lock().expect("upstream pool lock");
        if idle.len() <= self.slot {
            idle.resize_with(self.slot + 1, Vec::new);
        }
        let own = &mut idle[self.slot];
        if own.len() < MAX_IDLE {
            own.push(self.sender);
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
            let (mut sender, slot, reused) = match self.idle(&pool).await {
                Some((s, slot)) => (s, slot, true),
                None => (connect(addr).await?, thread_slot(), false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, Lease { pool, sender, slot })),
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

    /// An idle connection that is ready, skipping ones the upstream
    /// closed: this thread's own first, else another thread's; with the
    /// slot of the thread that drives it.
    async fn idle(&self, pool: &Pool) -> Option<(SendRequest<Body>, usize)> {
        let mine = thread_slot();
        loop {
            let (mut s, slot) = {
                let mut idle = pool.idle.lock().expect("upstream pool lock");
                match idle.get_mut(mine).and_then(Vec::pop) {
                    Some(s) => (s, mine),
                    None => {
                        let (slot, list) =
                            idle.iter_mut().enumerate().find(|(_, l)| !l.is_empty())?;
                        (list.pop()?, slot)
                    }
                }
            };
            if !s.is_closed() && s.ready().await.is_ok() {
                return Some((s, slot));
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
