//! Load generator for `bench/websocket.py`: opens N authorized WebSocket
//! connections to one cognate node (cookie session + CSRF token, an
//! allowed Origin), learns each connection's id from the `whoami` route,
//! prints `ready`, waits for `go` on stdin, then measures:
//!
//! 1. broadcasts through `sendmessage` (one sender; every connection, on
//!    every node, receives each message);
//! 2. `@connections` PostToConnection to every connection, SigV4-signed,
//!    over `--http-clients` keep-alive connections.
//!
//! Results go to stdout as one JSON line. Arguments: `key=value` pairs
//! (see `Args`). Sessions are `cookie|csrf` lines in the file `sessions=`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cognate_config::AdminCredentials;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use tokio::io::AsyncBufReadExt;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

struct Args {
    ws: String,
    http: String,
    origin: String,
    sessions: Vec<(String, String)>,
    connections: usize,
    /// Broadcasts this process sends.
    broadcasts: usize,
    /// Broadcasts every connection should receive (from every process).
    expect_broadcasts: usize,
    http_clients: usize,
    key: String,
    secret: String,
    region: String,
}

fn args() -> Args {
    let mut m = std::collections::HashMap::new();
    for a in std::env::args().skip(1) {
        if let Some((k, v)) = a.split_once('=') {
            m.insert(k.to_string(), v.to_string());
        }
    }
    let get = |k: &str| m.get(k).cloned().unwrap_or_else(|| panic!("missing {k}="));
    let sessions = std::fs::read_to_string(get("sessions"))
        .expect("sessions file")
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(c, t)| (c.to_string(), t.to_string()))
        .collect();
    Args {
        ws: get("ws"),
        http: get("http"),
        origin: get("origin"),
        sessions,
        connections: get("connections").parse().expect("connections"),
        broadcasts: get("broadcasts").parse().expect("broadcasts"),
        expect_broadcasts: get("expect_broadcasts").parse().expect("expect_broadcasts"),
        http_clients: get("http_clients").parse().expect("http_clients"),
        key: get("key"),
        secret: get("secret"),
        region: get("region"),
    }
}

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// One connection: opened, its id learnt, then a reader counting messages.
async fn open(args: &Args, i: usize, received: Arc<AtomicU64>) -> Result<(String, Sink), String> {
    let (cookie, csrf) = &args.sessions[i % args.sessions.len()];
    let mut request = format!("{}/?csrf={csrf}", args.ws.trim_end_matches('/'))
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let h = request.headers_mut();
    h.insert(
        "cookie",
        HeaderValue::from_str(cookie).map_err(|e| e.to_string())?,
    );
    h.insert(
        "origin",
        HeaderValue::from_str(&args.origin).map_err(|e| e.to_string())?,
    );
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sink, mut stream) = ws.split();
    sink.send(Message::text(r#"{"action":"whoami"}"#))
        .await
        .map_err(|e| e.to_string())?;
    let id = match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        other => return Err(format!("no id: {other:?}")),
    };
    tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            if m.is_text() {
                received.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Ok((id, sink))
}

async fn wait_for(counter: &AtomicU64, target: u64, limit: Duration) -> Duration {
    let started = Instant::now();
    while counter.load(Ordering::Relaxed) < target && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

/// PostToConnection for each id, over one keep-alive connection.
async fn post_all(args: Arc<Args>, ids: Vec<String>) -> Result<usize, String> {
    let url: hyper::Uri = args.http.parse().map_err(|e| format!("{e}"))?;
    let host = url.authority().map(|a| a.to_string()).unwrap_or_default();
    let tcp = tokio::net::TcpStream::connect(&host)
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).ok();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let creds = AdminCredentials {
        access_key_id: args.key.clone(),
        secret_access_key: args.secret.clone(),
    };
    let body = b"pushed".to_vec();
    let mut ok = 0;
    for id in ids {
        let path = format!(
            "{}/@connections/{}",
            url.path().trim_end_matches('/'),
            id.replace('=', "%3D")
                .replace('+', "%2B")
                .replace('/', "%2F")
        );
        let headers = vec![("host".to_string(), host.clone())];
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (date, auth) = cognate_identity::sigv4::sign(
            &cognate_identity::sigv4::Request {
                method: "POST",
                path: &path,
                query: "",
                headers: &headers,
                body: &body,
            },
            &creds,
            &args.region,
            "execute-api",
            now,
        );
        let request = hyper::Request::post(path.as_str())
            .header("host", &host)
            .header("x-amz-date", date)
            .header("authorization", auth)
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        if status.is_success() {
            ok += 1;
        }
    }
    Ok(ok)
}

#[tokio::main]
async fn main() {
    let args = Arc::new(args());
    let received = Arc::new(AtomicU64::new(0));

    // 1. connect
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(256));
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        let args = args.clone();
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            open(&args, i, received).await
        }));
    }
    let mut ids = Vec::with_capacity(args.connections);
    let mut sinks = Vec::with_capacity(args.connections);
    let mut failed = 0usize;
    let mut first_error = None;
    for t in tasks {
        match t.await.expect("task") {
            Ok((id, sink)) => {
                ids.push(id);
                sinks.push(sink);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"ready": ids.len(), "failed": failed, "error": first_error, "connect_s": connect_s})
    );

    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    stdin.read_line(&mut line).await.expect("stdin");

    // 2. broadcasts through sendmessage: each reaches every connection.
    let n = ids.len() as u64;
    let base = received.load(Ordering::Relaxed);
    let started = Instant::now();
    for b in 0..args.broadcasts {
        sinks[0]
            .send(Message::text(format!(
                r#"{{"action":"sendmessage","data":"broadcast {b}"}}"#
            )))
            .await
            .expect("send");
    }
    let want = base + n * args.expect_broadcasts as u64;
    let broadcast_elapsed = wait_for(&received, want, Duration::from_secs(120)).await;
    let _ = started;
    let broadcast_delivered = received.load(Ordering::Relaxed) - base;

    // 3. @connections: one PostToConnection per connection.
    let base = received.load(Ordering::Relaxed);
    let started = Instant::now();
    let per = ids.len().div_ceil(args.http_clients.max(1));
    let mut posters = Vec::new();
    for chunk in ids.chunks(per.max(1)) {
        posters.push(tokio::spawn(post_all(args.clone(), chunk.to_vec())));
    }
    let mut posted = 0;
    for p in posters {
        match p.await.expect("poster") {
            Ok(k) => posted += k,
            Err(e) => eprintln!("poster failed: {e}"),
        }
    }
    let post_elapsed = started.elapsed();
    let delivered_elapsed =
        wait_for(&received, base + posted as u64, Duration::from_secs(60)).await;
    let post_delivered = received.load(Ordering::Relaxed) - base;

    println!(
        "{}",
        serde_json::json!({
            "connections": n,
            "broadcasts_sent": args.broadcasts,
            "broadcasts_expected": args.expect_broadcasts,
            "broadcast_delivered": broadcast_delivered,
            "broadcast_s": broadcast_elapsed.as_secs_f64(),
            "posted": posted,
            "post_s": post_elapsed.as_secs_f64(),
            "post_delivered": post_delivered,
            "post_delivered_s": (post_elapsed + delivered_elapsed).as_secs_f64(),
        })
    );
    drop(sinks);
}
