//! Sign-in benchmark: USER_PASSWORD_AUTH, USER_SRP_AUTH (both steps),
//! REFRESH_TOKEN_AUTH, and the token endpoint (client_credentials; code
//! exchange after an authorize answered by the sign-in session) per second
//! and latency percentiles against a release `cognate serve` on loopback,
//! next to the machine's RSA-2048 signing rate measured in the same run
//! (`openssl speed`, all cores). A refresh signs two RS256 tokens, so half
//! that rate is the physical bound for refreshes.
//!
//! Run by `bench/auth.sh`; arguments: COGNATE_BINARY [SECONDS] [CONNECTIONS].
//! With `COGNATE_BENCH_DATABASE_URL` set, the server runs on that
//! PostgreSQL database instead of SQLite. `BENCH_PHASES=refresh,code`
//! runs only the phases named (password, refresh, srp,
//! client_credentials, code); `BENCH_PERF=<phase>` records that phase
//! with `perf record -a -g` into `/tmp/perf-auth-<phase>.data`
//! (`BENCH_PERF_ARGS` replaces `record -F 1999 -a -g`, e.g. `sched record -a`).
//! `BENCH_COGNATE_LOG` sets the server's `COGNATE_LOG` (default `warn`;
//! its log goes to this program's standard error).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use cognate_config::AdminCredentials;
use cognate_identity::{crypto, sigv4, srp};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

const PASSWORD: &str = "Bench-Passw0rd!";
const USERS: usize = 16;

/// The driver's HTTP client: one keep-alive HTTP/1.1 connection per
/// worker and server, as wrk keeps them. The driver shares the two cores
/// with the server and every microsecond it spends is one the server does
/// not get, so it skips the general client's pool (a locked map per
/// request, a task per connection checked out and back) and speaks to
/// its own connection directly.
struct Http {
    /// Per worker: the connection to each server (by `host:port`).
    slots: Vec<tokio::sync::Mutex<BTreeMap<String, SendRequest<Full<Bytes>>>>>,
}

impl Http {
    fn new(workers: usize) -> Http {
        Http {
            slots: (0..workers.max(1)).map(|_| Default::default()).collect(),
        }
    }

    /// Sends `req` (an absolute `http://` URI) on `worker`'s connection to
    /// its server, connecting first when there is none or it closed.
    /// `worker` is below the workers `Http::new` was given (callers pass
    /// their op's index modulo the connections, or 0).
    async fn request(
        &self,
        worker: usize,
        mut req: hyper::Request<Full<Bytes>>,
    ) -> hyper::Response<hyper::body::Incoming> {
        let authority = req.uri().authority().expect("absolute URI").to_string();
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .expect("path");
        *req.uri_mut() = path;
        if !req.headers().contains_key(hyper::header::HOST) {
            req.headers_mut()
                .insert(hyper::header::HOST, authority.parse().expect("host"));
        }
        let mut slot = self.slots[worker].lock().await;
        // A connection the server closed (after an answer that said so)
        // is replaced before the request goes out, never after.
        let ready = match slot.get_mut(&authority) {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            let mut sender = connect(&authority).await;
            sender.ready().await.expect("connection ready");
            slot.insert(authority.clone(), sender);
        }
        let sender = slot.get_mut(&authority).expect("connected");
        sender.send_request(req).await.expect("request")
    }
}

/// A new HTTP/1.1 connection to `authority`, driven by a task of its own.
async fn connect(authority: &str) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

struct Api {
    http: Http,
    endpoint: String,
    host: String,
    creds: AdminCredentials,
}

impl Api {
    async fn call(&self, worker: usize, op: &str, body: &Value, signed: bool) -> (u16, Value) {
        let body = serde_json::to_vec(body).unwrap();
        let target = format!("AWSCognitoIdentityProviderService.{op}");
        let mut req = hyper::Request::post(&self.endpoint)
            .header("host", &self.host)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", &target);
        if signed {
            let headers = vec![
                (
                    "content-type".to_string(),
                    "application/x-amz-json-1.1".to_string(),
                ),
                ("host".to_string(), self.host.clone()),
                ("x-amz-target".to_string(), target.clone()),
            ];
            let r = sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body: &body,
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let (date, auth) = sigv4::sign(&r, &self.creds, "us-east-1", "cognito-idp", now);
            req = req.header("x-amz-date", date).header("authorization", auth);
        }
        let resp = self
            .http
            .request(worker, req.body(Full::new(Bytes::from(body))).unwrap())
            .await;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

struct Phase {
    requests: u64,
    errors: u64,
    seconds: f64,
    latencies_us: Vec<u64>,
    /// CPU seconds (user + system) the server and this driver spent in
    /// the phase: on two cores they share, the driver's part is not the
    /// server's to use.
    server_cpu: f64,
    driver_cpu: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
    fn cpu_us_per_op(&self, cpu: f64) -> f64 {
        cpu * 1e6 / self.requests.max(1) as f64
    }
}

/// The server's pid, for its CPU time.
static SERVER_PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// User + system CPU seconds a process (`self` or a pid) has spent, from
/// /proc/PID/stat (fields 14 and 15, in clock ticks).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; count after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|t| t.parse::<f64>().ok()).sum()
    });
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// One SRP sign-in, both steps; the client side uses a 256-bit `a` to keep
/// the load generator light (the server's work is the same).
async fn srp_sign_in(api: &Api, worker: usize, pool: &str, client: &str, user: &str) -> bool {
    let (a, big_a) = srp::client::light_ephemeral();
    let start = json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": client,
        "AuthParameters": {"USERNAME": user, "SRP_A": srp::to_hex(&big_a)}});
    let (s, v) = api.call(worker, "InitiateAuth", &start, false).await;
    if s != 200 {
        return false;
    }
    let p = &v["ChallengeParameters"];
    let (Some(salt), Some(big_b), Some(block), Some(user_id)) = (
        p["SALT"].as_str().and_then(srp::from_hex),
        p["SRP_B"].as_str().and_then(srp::from_hex),
        p["SECRET_BLOCK"].as_str(),
        p["USER_ID_FOR_SRP"].as_str(),
    ) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ts = srp::client::timestamp(now);
    let claim = srp::client::claim(
        pool,
        user_id,
        PASSWORD,
        &salt,
        &a,
        &big_a,
        &big_b,
        &crypto::b64_decode(block).unwrap_or_default(),
        &ts,
    );
    let answer = json!({"ClientId": client, "ChallengeName": "PASSWORD_VERIFIER", "ChallengeResponses": {
        "USERNAME": user_id, "PASSWORD_CLAIM_SECRET_BLOCK": block, "TIMESTAMP": ts,
        "PASSWORD_CLAIM_SIGNATURE": crypto::b64(&claim)}});
    api.call(worker, "RespondToAuthChallenge", &answer, false)
        .await
        .0
        == 200
}

async fn run_srp_phase(
    api: Arc<Api>,
    connections: usize,
    seconds: u64,
    pool: String,
    client: String,
) -> Phase {
    run_loop(connections, seconds, move |i| {
        let (api, pool, client) = (api.clone(), pool.clone(), client.clone());
        async move {
            srp_sign_in(
                &api,
                i % connections,
                &pool,
                &client,
                &format!("bench-{}", i % USERS),
            )
            .await
        }
    })
    .await
}

/// A form POST or GET on the pool domain; returns status, headers, body.
async fn domain(
    http: &Http,
    worker: usize,
    method: &str,
    url: &str,
    cookie: Option<&str>,
    form: Option<String>,
    basic: Option<&str>,
) -> (u16, hyper::HeaderMap, String) {
    let mut req = hyper::Request::builder().method(method).uri(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(b) = basic {
        req = req.header("authorization", format!("Basic {b}"));
    }
    let body = match form {
        Some(f) => {
            req = req.header("content-type", "application/x-www-form-urlencoded");
            Bytes::from(f)
        }
        None => Bytes::new(),
    };
    let resp = http
        .request(worker, req.body(Full::new(body)).unwrap())
        .await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Signs in once through the hosted page; returns the session cookie.
async fn hosted_session(http: &Http, hosted: &str, query: &str, user: &str) -> String {
    let (_, headers, page) = domain(
        http,
        0,
        "GET",
        &format!("{hosted}/login?{query}"),
        None,
        None,
        None,
    )
    .await;
    let xsrf = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("XSRF-TOKEN="))
        .and_then(|c| c.split(';').next())
        .expect("csrf cookie")
        .to_string();
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf field")
        .to_string();
    let form = format!(
        "_csrf={}&username={}&password={}",
        enc(&csrf),
        enc(user),
        enc(PASSWORD)
    );
    let (status, headers, _) = domain(
        http,
        0,
        "POST",
        &format!("{hosted}/login?{query}"),
        Some(&format!("XSRF-TOKEN={xsrf}")),
        Some(form),
        None,
    )
    .await;
    assert_eq!(status, 302, "hosted sign-in");
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("cognate_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string()
}

/// Runs `op` from `connections` workers until the deadline.
async fn run_loop<F, Fut>(connections: usize, seconds: u64, op: F) -> Phase
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::new());
            let mut i = worker;
            while Instant::now() < deadline {
                let t = Instant::now();
                if op(i).await {
                    ok += 1;
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
                i += connections;
            }
            (ok, errors, lat)
        }));
    }
    let mut phase = Phase {
        requests: 0,
        errors: 0,
        seconds: 0.0,
        latencies_us: Vec::new(),
        server_cpu: 0.0,
        driver_cpu: 0.0,
    };
    for t in tasks {
        let (ok, errors, lat) = t.await.unwrap();
        phase.requests += ok;
        phase.errors += errors;
        phase.latencies_us.extend(lat);
    }
    phase.seconds = started.elapsed().as_secs_f64();
    phase.latencies_us.sort_unstable();
    phase
}

async fn run_phase(
    api: Arc<Api>,
    connections: usize,
    seconds: u64,
    bodies: Arc<Vec<Value>>,
) -> Phase {
    run_loop(connections, seconds, move |i| {
        let (api, bodies) = (api.clone(), bodies.clone());
        async move {
            api.call(
                i % connections,
                "InitiateAuth",
                &bodies[i % bodies.len()],
                false,
            )
            .await
            .0 == 200
        }
    })
    .await
}

/// Whether `BENCH_PHASES` (a comma-separated list; all when unset)
/// names the phase.
fn wanted(phase: &str) -> bool {
    std::env::var("BENCH_PHASES").map_or(true, |v| v.split(',').any(|p| p.trim() == phase))
}

/// Runs a phase if it is wanted (else an empty one), under `perf record`
/// when `BENCH_PERF` names it.
async fn phase<Fut: std::future::Future<Output = Phase>>(name: &str, run: Fut) -> Option<Phase> {
    if !wanted(name) {
        return None;
    }
    let perf = (std::env::var("BENCH_PERF").ok().as_deref() == Some(name)).then(|| {
        let args = std::env::var("BENCH_PERF_ARGS").unwrap_or("record -F 1999 -a -g".into());
        Command::new("perf")
            .args(args.split_whitespace())
            .arg("-o")
            .arg(format!("/tmp/perf-auth-{name}.data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("perf runs")
    });
    let server = SERVER_PID.get().map(u32::to_string).unwrap_or_default();
    let (server_before, driver_before) = (cpu_seconds(&server), cpu_seconds("self"));
    let mut result = run.await;
    result.server_cpu = cpu_seconds(&server) - server_before;
    result.driver_cpu = cpu_seconds("self") - driver_before;
    if let Some(mut p) = perf {
        let _ = Command::new("kill")
            .args(["-INT", &p.id().to_string()])
            .status();
        let _ = p.wait();
    }
    Some(result)
}

fn openssl_rsa2048_signs_per_second() -> f64 {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let out = Command::new("openssl")
        .args([
            "speed",
            "-seconds",
            "5",
            "-multi",
            &cores.to_string(),
            "rsa2048",
        ])
        .stderr(Stdio::null())
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("rsa 2048 bits"))
        .expect("openssl speed prints rsa 2048");
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields[fields.len() - 2]
        .parse()
        .expect("sign/s is a number")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let binary = args
        .get(1)
        .expect("usage: bench_auth COGNATE_BINARY [SECONDS] [CONNECTIONS]")
        .clone();
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(8);

    let dir = std::env::temp_dir().join(format!("cognate-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let outputs_file = dir.join("outputs.json");
    let mut command = Command::new(&binary);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .arg("--outputs-file")
        .arg(&outputs_file);
    let database = std::env::var("COGNATE_BENCH_DATABASE_URL").ok();
    if let Some(url) = &database {
        command.arg("--database-url").arg(url);
    }
    let mut server = command
        .env(
            "COGNATE_LOG",
            std::env::var("BENCH_COGNATE_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("cognate starts");
    let _ = SERVER_PID.set(server.id());
    let started = Instant::now();
    while !outputs_file.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "cognate did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outputs: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(&outputs_file).unwrap()).unwrap();
    let endpoint = outputs["CognitoEndpoint"].clone();
    let api = Arc::new(Api {
        http: Http::new(connections),
        host: endpoint.trim_start_matches("http://").to_string(),
        endpoint: format!("{endpoint}/"),
        creds: AdminCredentials {
            access_key_id: outputs["AdminAccessKeyId"].clone(),
            secret_access_key: outputs["AdminSecretAccessKey"].clone(),
        },
    });
    let pool = &outputs["UserPoolId"];
    let client = &outputs["UserPoolClientId"];
    let mut password_bodies = Vec::new();
    let mut refresh_bodies = Vec::new();
    for i in 0..USERS {
        let name = format!("bench-{i}");
        let (s, v) = api
            .call(
                0,
                "AdminCreateUser",
                &json!({"UserPoolId": pool, "Username": name, "MessageAction": "SUPPRESS"}),
                true,
            )
            .await;
        assert!(s == 200 || v["__type"] == "UsernameExistsException", "{v}");
        let (s, v) = api.call(0, "AdminSetUserPassword", &json!({"UserPoolId": pool, "Username": name, "Password": PASSWORD, "Permanent": true}), true).await;
        assert_eq!(s, 200, "{v}");
        let body = json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client, "AuthParameters": {"USERNAME": name, "PASSWORD": PASSWORD}});
        let (s, v) = api.call(0, "InitiateAuth", &body, false).await;
        assert_eq!(s, 200, "{v}");
        refresh_bodies.push(json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": client,
            "AuthParameters": {"REFRESH_TOKEN": v["AuthenticationResult"]["RefreshToken"]}}));
        password_bodies.push(body);
    }

    // Warm-up, then the two phases.
    run_phase(
        api.clone(),
        connections,
        1,
        Arc::new(refresh_bodies.clone()),
    )
    .await;
    let password = phase(
        "password",
        run_phase(api.clone(), connections, seconds, Arc::new(password_bodies)),
    )
    .await;
    let refresh = phase(
        "refresh",
        run_phase(api.clone(), connections, seconds, Arc::new(refresh_bodies)),
    )
    .await;
    let srp = phase(
        "srp",
        run_srp_phase(
            api.clone(),
            connections,
            seconds,
            pool.clone(),
            client.clone(),
        ),
    )
    .await;

    // Token endpoint: client_credentials, and code exchanges.
    let hosted = outputs["HostedUiUrl"].clone();
    let basic = crypto::b64(
        format!(
            "{}:{}",
            outputs["MachineClientId"], outputs["MachineClientSecret"]
        )
        .as_bytes(),
    );
    let (http, url) = (api.clone(), format!("{hosted}/oauth2/token"));
    let machine = phase(
        "client_credentials",
        run_loop(connections, seconds, move |i| {
            let (http, url, basic) = (http.clone(), url.clone(), basic.clone());
            async move {
                domain(
                    &http.http,
                    i % connections,
                    "POST",
                    &url,
                    None,
                    Some("grant_type=client_credentials&scope=demo-api%2Fread".into()),
                    Some(&basic),
                )
                .await
                .0 == 200
            }
        }),
    )
    .await;
    let query = format!(
        "client_id={client}&response_type=code&redirect_uri={}&scope=openid",
        enc("http://localhost:3000/")
    );
    let mut sessions = Vec::new();
    for i in 0..if wanted("code") { USERS } else { 0 } {
        sessions.push(hosted_session(&api.http, &hosted, &query, &format!("bench-{i}")).await);
    }
    let (http, sessions, client_id) = (api.clone(), Arc::new(sessions), client.clone());
    let code = phase(
        "code",
        run_loop(connections, seconds, move |i| {
            let (http, hosted, query, sessions, client_id) = (
                http.clone(),
                hosted.clone(),
                query.clone(),
                sessions.clone(),
                client_id.clone(),
            );
            async move {
                let (status, headers, _) = domain(
                    &http.http,
                    i % connections,
                    "GET",
                    &format!("{hosted}/oauth2/authorize?{query}"),
                    Some(&sessions[i % sessions.len()]),
                    None,
                    None,
                )
                .await;
                let location = headers
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("");
                let Some(code) = location
                    .split("code=")
                    .nth(1)
                    .map(|c| c.split('&').next().unwrap_or("").to_string())
                else {
                    return false;
                };
                if status != 302 {
                    return false;
                }
                let form = format!(
                "grant_type=authorization_code&code={code}&client_id={client_id}&redirect_uri={}",
                enc("http://localhost:3000/")
            );
                domain(
                    &http.http,
                    i % connections,
                    "POST",
                    &format!("{hosted}/oauth2/token"),
                    None,
                    Some(form),
                    None,
                )
                .await
                .0 == 200
            }
        }),
    )
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let signs = openssl_rsa2048_signs_per_second();
    let bound = signs / 2.0;
    let ratio = refresh.as_ref().map(|r| r.rate() / bound);
    let row = |p: &Option<Phase>, share_of: Option<f64>| match p {
        None => Value::Null,
        Some(p) => {
            let server_us = p.cpu_us_per_op(p.server_cpu);
            let mut v = json!({"per_second": p.rate(), "p50_ms": p.percentile(0.5), "p99_ms": p.percentile(0.99), "errors": p.errors,
                "server_cpu_us_per_op": server_us, "driver_cpu_us_per_op": p.cpu_us_per_op(p.driver_cpu)});
            if let Some(b) = share_of {
                v["share_of_bound"] = json!(p.rate() / b);
                // The bound is `b` ops a second on all cores: one op's
                // signing costs cores / b CPU seconds. Its share of the
                // server's own CPU per op is what the rate would reach of
                // the bound with the driver on other cores.
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                v["signing_share_of_server_cpu"] = json!(cores as f64 * 1e6 / b / server_us);
            }
            v
        }
    };
    let report = json!({
        "database": if database.is_some() { "postgresql" } else { "sqlite" },
        "connections": connections,
        "seconds_per_phase": seconds,
        "openssl_rsa2048_signs_per_second": signs,
        "refresh_bound_per_second": bound,
        "password": row(&password, None),
        "refresh": row(&refresh, Some(bound)),
        "srp": row(&srp, None),
        "client_credentials": row(&machine, Some(signs)),
        "code_exchange": row(&code, Some(bound)),
        "refresh_share_of_bound": ratio,
        "argon2id": {"memory_kib": cognate_identity::password::ARGON2_MEMORY_KIB, "iterations": cognate_identity::password::ARGON2_ITERATIONS, "lanes": cognate_identity::password::ARGON2_LANES},
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    let errors: u64 = [&password, &refresh, &srp, &machine, &code]
        .iter()
        .filter_map(|p| p.as_ref())
        .map(|p| p.errors)
        .sum();
    if ratio.is_some_and(|r| r < 0.6) || errors > 0 {
        eprintln!(
            "FAIL: refresh reached {:.0}% of the RSA bound (needs 60%), errors: {errors}",
            ratio.unwrap_or(0.0) * 100.0,
        );
        std::process::exit(1);
    }
}
