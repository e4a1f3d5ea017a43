//! The floor of a proxy on cognate's HTTP stack (hyper 1 + tokio, the
//! same allocator), for bench/gateway.sh's diagnostics: no routing, no
//! authorization, no access log; each client connection gets its own
//! upstream connection, so there is not even a pool. What this does per
//! request is the least any hyper-based proxy does.
//!
//! `proxy_floor LISTEN UPSTREAM` proxies; `proxy_floor LISTEN hello`
//! answers `{"ok":true}` itself (the server side alone).

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().expect("LISTEN address");
    let upstream = args.next().expect("UPSTREAM address or hello");
    if std::env::var_os("PROXY_FLOOR_PER_CORE").is_none() {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let listener = rt.block_on(TcpListener::bind(&listen)).expect("bind");
        rt.block_on(serve(listener, upstream));
        return;
    }
    let addr: std::net::SocketAddr = listen.parse().expect("LISTEN address");
    let threads: Vec<_> = (0..std::thread::available_parallelism().map_or(2, |n| n.get()))
        .map(|_| {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
                    socket.set_reuseport(true).expect("reuseport");
                    socket.set_reuseaddr(true).expect("reuseaddr");
                    socket.bind(addr).expect("bind");
                    serve(socket.listen(1024).expect("listen"), upstream).await
                })
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

async fn serve(listener: TcpListener, upstream: String) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if upstream == "hello" {
                let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"{\"ok\":true}",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(client), service)
                    .await;
                return;
            }
            let Ok(up) = TcpStream::connect(&upstream).await else {
                return;
            };
            let _ = up.set_nodelay(true);
            let Ok((sender, conn)) =
                hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(up)).await
            else {
                return;
            };
            tokio::spawn(conn);
            let sender = std::sync::Arc::new(tokio::sync::Mutex::new(sender));
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let sender = sender.clone();
                async move {
                    let mut s = sender.lock().await;
                    let r = s.send_request(req).await;
                    drop(s);
                    match r {
                        Ok(resp) => {
                            let (parts, body) = resp.into_parts();
                            let bytes = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            Ok::<_, Infallible>(Response::from_parts(parts, Full::new(bytes)))
                        }
                        Err(_) => {
                            let mut r = Response::new(Full::new(Bytes::new()));
                            *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
                            Ok(r)
                        }
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(client), service)
                .await;
        });
    }
}
