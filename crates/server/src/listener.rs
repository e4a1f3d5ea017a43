//! Serving a listener: accept, admit by the per-address limits, TLS when
//! configured, strict framing (framing.rs), hyper's HTTP/1.1 with upgrades,
//! a header timeout and a body deadline, then the router.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::framing::{self, Framed, REFUSAL_HEADER};
use crate::limits::{ConnGuard, ConnLimits};

/// How a client may take to send a request's headers (slow-header
/// clients are cut off, not kept forever). It also ends a keep-alive
/// connection idle that long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What every listener of the process holds its connections to.
pub struct Policy {
    pub limits: Arc<ConnLimits>,
    /// From a request's head to the end of its body.
    pub body_timeout: Duration,
}

impl Policy {
    pub fn from_config(server: &cognate_config::Server) -> Arc<Policy> {
        Arc::new(Policy {
            limits: ConnLimits::new(
                server.limits.max_connections_per_ip,
                server.limits.max_pending_connections_per_ip,
            ),
            body_timeout: server.limits.body_timeout,
        })
    }
}

/// What a listener serves.
#[derive(Clone)]
pub enum Target {
    /// Any of cognate's routers.
    Router(axum::Router),
    /// An HTTP API on its own listener, called directly: the gateway's
    /// hot path, without a router's dispatch in front of the API's own
    /// (used where the router would only forward every request to it: no
    /// custom domain on the process, no `--watch`).
    Api(Arc<cognate_gateway::Api>),
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// A connection's byte stream, plain or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Serves `router` on `listener`, over TLS when a config is given, until
/// `stop` turns true; then stops accepting, asks every connection to end
/// after its request in flight, and waits for them. Every connection gets
/// the peer address (`ConnectInfo`), `TCP_NODELAY`, a header read timeout
/// and HTTP upgrades (WebSockets; an upgraded connection is its handler's
/// to end, which the WebSocket APIs do on stop).
pub async fn serve(
    listener: TcpListener,
    config: Option<Arc<rustls::ServerConfig>>,
    target: impl Into<Target>,
    policy: Arc<Policy>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let acceptor = config.map(TlsAcceptor::from);
    let target = target.into();
    // An HTTP API's connections go whole to the per-core runtimes
    // (workers.rs); every other listener's stay on this runtime.
    let workers = crate::workers::workers().filter(|_| matches!(target, Target::Api(_)));
    // Every connection task holds a clone; when all are dropped, every
    // connection has ended.
    let (running, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let guard = match policy.limits.admit(peer.ip()) {
            Ok(g) => g,
            Err(why) => {
                tracing::debug!(%peer, ?why, "connection refused by the per-address limits");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = ConnService {
            target: target.clone(),
            peer,
            body_timeout: policy.body_timeout,
        };
        let running = running.clone();
        let stop = stop.clone();
        let Some(workers) = workers else {
            tokio::spawn(async move {
                connection(tcp, peer, acceptor, guard, service, stop).await;
                drop(running);
            });
            continue;
        };
        // Registered anew with the runtime it goes to.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection lost before it was served");
                continue;
            }
        };
        workers.spawn(async move {
            match TcpStream::from_std(tcp) {
                Ok(tcp) => connection(tcp, peer, acceptor, guard, service, stop).await,
                Err(e) => tracing::warn!(%peer, error = %e, "connection not registered"),
            }
            drop(running);
        });
    }
    drop(running);
    let _ = all_done.recv().await;
    Ok(())
}

/// Serves one accepted connection until it ends or `stop` turns true
/// (then after its request in flight).
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    guard: ConnGuard,
    service: ConnService,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let io: Box<dyn Io> = match acceptor {
        Some(acceptor) => {
            // A client that never finishes its handshake is dropped.
            match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => Box::new(s),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            }
        }
        None => Box::new(tcp),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder
        .serve_connection(TokioIo::new(Framed::new(io, guard)), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// One connection's requests: refusals made by the framing check, the
/// peer address, the body deadline, then the router.
#[derive(Clone)]
struct ConnService {
    target: Target,
    peer: SocketAddr,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        // Only the framing check's stand-in carries this process's secret;
        // the header is never passed on.
        if let Some(v) = req.headers_mut().remove(REFUSAL_HEADER) {
            if let Some(status) = framing::refusal_of(v.as_bytes()) {
                return Box::pin(async move { Ok(closing(status)) });
            }
        }
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        // A request without a body (most) needs no deadline nor its flag.
        let timed_out = (!req.body().is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
        let deadline = tokio::time::Instant::now() + self.body_timeout;
        let flag = timed_out.clone();
        let req = req.map(|inner| Deadline {
            inner,
            deadline,
            sleep: None,
            timed_out: flag,
        });
        let target = self.target.clone();
        Box::pin(async move {
            let response = match target {
                Target::Router(router) => {
                    let Ok(response) = router.oneshot(req).await;
                    response
                }
                Target::Api(api) => api.handle(req.map(Body::new), None).await,
            };
            if timed_out.is_some_and(|t| t.load(Ordering::Relaxed)) {
                return Ok(closing(StatusCode::REQUEST_TIMEOUT));
            }
            Ok(response)
        })
    }
}

impl From<axum::Router> for Target {
    fn from(router: axum::Router) -> Target {
        Target::Router(router)
    }
}

/// A refusal made at the connection level, in the gateway's JSON shape;
/// the connection closes after it.
fn closing(status: StatusCode) -> Response<Body> {
    let mut r = cognate_gateway::error::json_message(
        status,
        status.canonical_reason().unwrap_or("Bad Request"),
    );
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The body timed out before it was whole.
#[derive(Debug)]
struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// A request body that fails once its deadline passes. A body that
/// arrives whole at once never makes a timer: the clock is read only
/// when a read has to wait, and a timer made only then.
struct Deadline {
    inner: Incoming,
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Set when the deadline passed; `None` for a request without a body.
    timed_out: Option<Arc<AtomicBool>>,
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.as_mut().poll(cx).is_ready() {
                    if let Some(t) = &this.timed_out {
                        t.store(true, Ordering::Relaxed);
                    }
                    return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
