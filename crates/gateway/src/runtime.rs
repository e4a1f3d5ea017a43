//! Functions cognate runs itself: it hosts the Lambda Runtime API
//! (`/2018-06-01/runtime/...`) and starts the handler's processes.
//!
//! Each worker process gets its own Runtime API listener on loopback, so
//! an answer, an error or a crash is tied to the worker that made it.
//! Workers start on the first invocation (a cold start) and stay warm;
//! up to `concurrency` invocations run at once, the rest wait in a queue.
//! An invocation past the function's timeout ends its worker (as Lambda
//! ends the sandbox) and fails as `Task timed out`. Node.js and Python
//! handlers run under small runtime clients shipped in this binary
//! (`runtime/*`): AWS's own runtime interface clients are native builds
//! that a fresh machine does not have, and the protocol is small. Custom
//! runtimes (`bootstrap`, e.g. a Rust binary on the `lambda_runtime`
//! crate) speak the API themselves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cognate_config::{Function, Runtime};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot};

const NODE_CLIENT: &str = include_str!("runtime/node-client.mjs");
const PYTHON_CLIENT: &str = include_str!("runtime/python_client.py");

/// How an invocation ended badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// The function reported an error, crashed or ran past its timeout.
    Function(String),
    /// The caller's own timeout passed first.
    Timeout,
    /// It could not be run at all.
    Unavailable(String),
}

struct Pending {
    id: String,
    payload: Bytes,
    reply: oneshot::Sender<Result<Bytes, InvokeError>>,
}

struct Worker {
    index: usize,
    addr: std::net::SocketAddr,
    child: tokio::sync::Mutex<Option<tokio::process::Child>>,
    /// The invocation this worker is running.
    current: Mutex<Option<Pending>>,
    /// Set when the running process's stdout closes: it is gone or going,
    /// even if the system has not yet reported its exit. One flag per
    /// process, so an old process's late watcher cannot mark a new one.
    gone: Mutex<Arc<std::sync::atomic::AtomicBool>>,
}

pub struct FunctionHost {
    function: Function,
    code_dir: PathBuf,
    client_dir: PathBuf,
    region: String,
    /// Set for every function of the server, under the function's own.
    extra_env: BTreeMap<String, String>,
    queue: mpsc::Sender<Pending>,
    inbox: Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>,
    workers: tokio::sync::OnceCell<Vec<Arc<Worker>>>,
    /// The Runtime API servers of the workers, ended by `stop`.
    servers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl FunctionHost {
    /// `config_dir` resolves a relative code path; `work_dir` receives the
    /// runtime clients.
    pub fn new(
        function: Function,
        config_dir: &Path,
        work_dir: &Path,
        region: &str,
        extra_env: BTreeMap<String, String>,
    ) -> FunctionHost {
        let code_dir = config_dir.join(&function.code);
        let (queue, inbox) = mpsc::channel(1024);
        FunctionHost {
            function,
            code_dir,
            client_dir: work_dir.to_path_buf(),
            region: region.to_string(),
            extra_env,
            queue,
            inbox: Arc::new(tokio::sync::Mutex::new(inbox)),
            workers: tokio::sync::OnceCell::new(),
            servers: Mutex::new(Vec::new()),
        }
    }

    /// Ends the function's processes and its Runtime API servers (a
    /// configuration read again replaced it).
    pub async fn stop(&self) {
        for h in self.servers.lock().expect("servers lock").drain(..) {
            h.abort();
        }
        if let Some(workers) = self.workers.get() {
            for w in workers {
                if let Some(child) = w.child.lock().await.as_mut() {
                    let _ = child.start_kill();
                }
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.function.name
    }

    fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:000000000000:function:{}",
            self.region, self.function.name
        )
    }

    /// Runs one invocation and returns the function's result.
    pub async fn invoke(
        self: &Arc<Self>,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, InvokeError> {
        let workers = self
            .workers
            .get_or_try_init(|| self.start_listeners())
            .await
            .map_err(InvokeError::Unavailable)?;
        for w in workers {
            self.ensure_running(w).await?;
        }
        let id = uuid_like();
        let (reply, answer) = oneshot::channel();
        let function_timeout = Duration::from_millis(self.function.timeout_ms);
        let pending = Pending {
            id: id.clone(),
            payload,
            reply,
        };
        self.queue
            .send(pending)
            .await
            .map_err(|_| InvokeError::Unavailable("the function's queue is closed".into()))?;
        // The function's own timeout counts from when a worker takes the
        // invocation; the caller's covers the wait in the queue too.
        let wait = timeout.min(function_timeout + Duration::from_secs(60));
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(InvokeError::Function("the worker went away".into())),
            Err(_) => {
                self.abandon(workers, &id).await;
                Err(InvokeError::Timeout)
            }
        }
    }

    /// Ends the worker running `id`, if any (its result no longer matters).
    async fn abandon(&self, workers: &[Arc<Worker>], id: &str) {
        for w in workers {
            let mine = w
                .current
                .lock()
                .expect("worker lock")
                .as_ref()
                .is_some_and(|p| p.id == id);
            if mine {
                w.current.lock().expect("worker lock").take();
                if let Some(child) = w.child.lock().await.as_mut() {
                    let _ = child.start_kill();
                }
            }
        }
    }

    async fn start_listeners(self: &Arc<Self>) -> Result<Vec<Arc<Worker>>, String> {
        let mut workers = Vec::new();
        for index in 0..self.function.concurrency as usize {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("cannot open a Runtime API listener: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let worker = Arc::new(Worker {
                index,
                addr,
                child: tokio::sync::Mutex::new(None),
                current: Mutex::new(None),
                gone: Mutex::new(Arc::new(std::sync::atomic::AtomicBool::new(false))),
            });
            let app = Router::new()
                .route("/2018-06-01/runtime/invocation/next", get(next))
                .route(
                    "/2018-06-01/runtime/invocation/{id}/response",
                    post(response),
                )
                .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
                .route("/2018-06-01/runtime/init/error", post(init_error))
                .with_state((self.clone(), worker.clone()));
            let server = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            self.servers.lock().expect("servers lock").push(server);
            workers.push(worker);
        }
        Ok(workers)
    }

    /// Starts the worker's process if it is not running.
    async fn ensure_running(&self, w: &Arc<Worker>) -> Result<(), InvokeError> {
        let mut child = w.child.lock().await;
        if let Some(c) = child.as_mut() {
            // A process whose stdout has closed is ending even if it has not
            // exited yet: an invocation queued for it now would wait for a
            // `next` that never comes (a race seen under load). Wait for its
            // exit (briefly; then end it) and start another.
            let gone = w.gone.lock().expect("worker lock").clone();
            if gone.load(std::sync::atomic::Ordering::Acquire) {
                if tokio::time::timeout(Duration::from_secs(5), c.wait())
                    .await
                    .is_err()
                {
                    let _ = c.kill().await;
                }
            } else if matches!(c.try_wait(), Ok(None)) {
                return Ok(());
            }
            // It ended: whatever it was running has failed.
            if let Some(p) = w.current.lock().expect("worker lock").take() {
                let _ = p.reply.send(Err(InvokeError::Function(
                    "the function's process exited".into(),
                )));
            }
        }
        let mut cmd = self.command()?;
        cmd.env_clear()
            .envs(self.base_env(w))
            .envs(&self.extra_env)
            .envs(&self.function.environment)
            .current_dir(&self.code_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut c = cmd.spawn().map_err(|e| {
            InvokeError::Unavailable(format!("cannot start function {}: {e}", self.function.name))
        })?;
        let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for (i, stream) in [
            c.stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            c.stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        .enumerate()
        {
            let name = self.function.name.clone();
            let worker = w.clone();
            let gone = gone.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::info!(function = %name, worker = worker.index, "{line}");
                }
                // stdout closed: the process is gone. What it was running
                // fails now (Lambda's "Runtime exited"), not at its timeout.
                if i == 0 {
                    gone.store(true, std::sync::atomic::Ordering::Release);
                    if let Some(p) = worker.current.lock().expect("worker lock").take() {
                        tracing::warn!(function = %name, worker = worker.index, "the function's process exited during an invocation");
                        let _ = p.reply.send(Err(InvokeError::Function(
                            "Runtime exited during the invocation".into(),
                        )));
                    }
                }
            });
        }
        tracing::info!(function = %self.function.name, worker = w.index, "function worker started");
        *w.gone.lock().expect("worker lock") = gone;
        *child = Some(c);
        Ok(())
    }

    fn command(&self) -> Result<tokio::process::Command, InvokeError> {
        let write_client = |file: &str, text: &str| -> Result<PathBuf, InvokeError> {
            let path = self.client_dir.join(file);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
                std::fs::create_dir_all(&self.client_dir)
                    .and_then(|_| std::fs::write(&path, text))
                    .map_err(|e| {
                        InvokeError::Unavailable(format!("cannot write {}: {e}", path.display()))
                    })?;
            }
            Ok(path)
        };
        Ok(match self.function.runtime {
            Runtime::Node => {
                let client = write_client("node-client.mjs", NODE_CLIENT)?;
                let mut c = tokio::process::Command::new("node");
                c.arg(client);
                c
            }
            Runtime::Python => {
                let client = write_client("python_client.py", PYTHON_CLIENT)?;
                let mut c = tokio::process::Command::new("python3");
                c.arg("-u").arg(client);
                c
            }
            Runtime::Provided => tokio::process::Command::new(self.code_dir.join("bootstrap")),
        })
    }

    fn base_env(&self, w: &Worker) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for keep in ["PATH", "HOME", "LANG", "SYSTEMROOT"] {
            if let Ok(v) = std::env::var(keep) {
                env.insert(keep.to_string(), v);
            }
        }
        let f = &self.function;
        for (k, v) in [
            ("AWS_LAMBDA_RUNTIME_API", w.addr.to_string()),
            ("_HANDLER", f.handler.clone()),
            ("LAMBDA_TASK_ROOT", self.code_dir.display().to_string()),
            ("LAMBDA_RUNTIME_DIR", self.client_dir.display().to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", f.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_string()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", f.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", format!("worker-{}", w.index)),
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
            ("AWS_EXECUTION_ENV", "cognate".to_string()),
            ("TZ", ":UTC".to_string()),
        ] {
            env.insert(k.to_string(), v);
        }
        env
    }
}

/// A request id shaped like Lambda's (a UUID).
fn uuid_like() -> String {
    let b: [u8; 16] = cognate_identity::crypto::random_bytes();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

type HostState = State<(Arc<FunctionHost>, Arc<Worker>)>;

async fn next(State((host, worker)): HostState) -> Response {
    let pending = {
        let mut inbox = host.inbox.lock().await;
        match inbox.recv().await {
            Some(p) => p,
            None => return StatusCode::GONE.into_response(),
        }
    };
    let started = now_ms();
    let deadline = started + host.function.timeout_ms as i64;
    let id = pending.id.clone();
    let payload = pending.payload.clone();
    *worker.current.lock().expect("worker lock") = Some(pending);
    // The function's timeout: end the worker if it is still on this one.
    let (h, w, timed) = (host.clone(), worker.clone(), id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(h.function.timeout_ms)).await;
        let stale = {
            let mut cur = w.current.lock().expect("worker lock");
            if cur.as_ref().is_some_and(|p| p.id == timed) {
                cur.take()
            } else {
                None
            }
        };
        if let Some(p) = stale {
            let secs = h.function.timeout_ms as f64 / 1000.0;
            tracing::warn!(function = %h.function.name, request_id = %timed, "Task timed out after {secs:.2} seconds");
            let _ = p.reply.send(Err(InvokeError::Function(format!(
                "Task timed out after {secs:.2} seconds"
            ))));
            if let Some(c) = w.child.lock().await.as_mut() {
                let _ = c.start_kill();
            }
        }
    });
    Response::builder()
        .header("Lambda-Runtime-Aws-Request-Id", &id)
        .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", host.arn())
        .header(
            "Lambda-Runtime-Trace-Id",
            format!(
                "Root=1-{:08x}-{}",
                started / 1000,
                &id.replace('-', "")[..24]
            ),
        )
        .header("content-type", "application/json")
        .body(Body::from(payload))
        .expect("runtime response")
}

fn finish(worker: &Worker, id: &str, result: Result<Bytes, InvokeError>) -> Response {
    let pending = {
        let mut cur = worker.current.lock().expect("worker lock");
        if cur.as_ref().is_some_and(|p| p.id == id) {
            cur.take()
        } else {
            None
        }
    };
    match pending {
        Some(p) => {
            let _ = p.reply.send(result);
            (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
        )
            .into_response(),
    }
}

async fn response(
    State((_, worker)): HostState,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    finish(&worker, &id, Ok(body))
}

async fn error(
    State((host, worker)): HostState,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    tracing::warn!(function = %host.function.name, request_id = %id, error = %text, "function error");
    finish(&worker, &id, Err(InvokeError::Function(text)))
}

async fn init_error(State((host, worker)): HostState, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    tracing::error!(function = %host.function.name, worker = worker.index, error = %text, "function failed to start");
    // The process exits after this; the invocation waiting for it fails
    // with the init error, as Lambda's does.
    let waiting = match worker.current.lock().expect("worker lock").take() {
        Some(p) => Some(p),
        None => host
            .inbox
            .try_lock()
            .ok()
            .and_then(|mut inbox| inbox.try_recv().ok()),
    };
    if let Some(p) = waiting {
        let _ = p.reply.send(Err(InvokeError::Function(text)));
    }
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}
