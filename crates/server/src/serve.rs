//! `cognate serve`: load the config, open the store, bind every listener,
//! apply the config, write the outputs, serve until SIGINT/SIGTERM.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cognate_config::stack::{Loaded, StackOptions};
use cognate_config::{Config, Listen};
use cognate_identity::messages::Messenger;
use cognate_identity::{bootstrap, Identity};
use cognate_store::Store;
use tokio::net::TcpListener;

use crate::app::{self, AppState};

pub struct ServeArgs {
    pub config: Option<PathBuf>,
    /// A stack definition (already read and checked) instead of `config`.
    pub stacks: Option<(StackSource, Loaded)>,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub listen: SocketAddr,
    pub outputs_file: Option<PathBuf>,
    /// Read the stack definition again when it changes.
    pub watch: bool,
}

/// Reads the config named, or the built-in demo.
pub fn load_config(path: Option<&Path>) -> Result<Config, String> {
    let (text, name) = match path {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
            p.display().to_string(),
        ),
        None => (
            cognate_config::DEMO_TOML.to_string(),
            "the built-in demo".to_string(),
        ),
    };
    cognate_config::parse(&text).map_err(|problems| {
        let mut out = format!("{name} has {} problem(s):", problems.0.len());
        for p in &problems.0 {
            out.push_str(&format!("\n  {p}"));
        }
        out
    })
}

/// A template, cdk.out folder or serverless.yml named on the command line.
pub struct StackSource {
    pub path: PathBuf,
    pub options: StackOptions,
}

/// Reads a stack definition; every problem at once, each with its resource
/// and file.
pub fn load_stacks(s: &StackSource) -> Result<Loaded, String> {
    cognate_config::stack::load(&s.path, &s.options).map_err(|problems| {
        let mut out = format!(
            "{} cannot be served: {} problem(s):",
            s.path.display(),
            problems.0.len()
        );
        for p in &problems.0 {
            out.push_str(&format!("\n  {p}"));
        }
        out.push_str("\n(--allow-unsupported serves it without the unsupported parts)");
        out
    })
}

/// What a stack has that is accepted without effect, and what
/// `--allow-unsupported` let through: listed once, at start.
pub fn print_stack_notes(loaded: &Loaded) {
    if !loaded.not_applied.is_empty() {
        eprintln!(
            "not applied (no meaning locally): {}",
            loaded.not_applied.join(", ")
        );
    }
    for w in &loaded.warnings {
        eprintln!("warning: skipped: {w}");
    }
}

pub async fn open_store(data_dir: &Path, database_url: Option<&str>) -> Result<Store, String> {
    let store = match database_url {
        Some(url) => Store::connect(url).await,
        None => Store::open_sqlite(data_dir).await,
    };
    store.map_err(|e| format!("cannot open the database: {e}"))
}

/// A bound listener and the URL clients reach it at.
struct Bound {
    listener: TcpListener,
    url: String,
}

async fn bind(addr: SocketAddr, scheme: &str) -> Result<Bound, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if local.is_ipv6() {
        format!("[{}]", local.ip())
    } else {
        local.ip().to_string()
    };
    Ok(Bound {
        listener,
        url: format!("{scheme}://{host}:{}", local.port()),
    })
}

/// Binds a secondary listener. `auto` ones sit next to the main listener
/// (its port plus an offset), on a free port when the main listener asked
/// for port 0 or when that neighbour is taken (a warning says so; the
/// outputs carry the real URL). An address given in the config must be had.
async fn bind_secondary(
    main: SocketAddr,
    listen: &Listen,
    offset: u16,
    scheme: &str,
) -> Result<Bound, String> {
    match listen {
        Listen::Addr(a) => bind(*a, scheme).await,
        Listen::Auto if main.port() == 0 => bind(SocketAddr::new(main.ip(), 0), scheme).await,
        Listen::Auto => {
            let wanted = SocketAddr::new(main.ip(), main.port().saturating_add(offset));
            match bind(wanted, scheme).await {
                Ok(b) => Ok(b),
                Err(e) => {
                    tracing::warn!(address = %wanted, error = %e, "port next to the main listener is taken; using a free one");
                    bind(SocketAddr::new(main.ip(), 0), scheme).await
                }
            }
        }
    }
}

/// What a secondary listener serves, by name: `domain:{pool}`,
/// `api:{name}`, `websocket:{name}`, `metrics`.
fn listener_key(kind: &str, name: &str) -> String {
    format!("{kind}:{name}")
}

/// The router a listener serves: fixed, or (under --watch) the current
/// generation's, read on every request so a new definition applies to
/// open keep-alive connections too.
#[derive(Clone)]
struct Slot(Option<Arc<std::sync::RwLock<axum::Router>>>);

impl Slot {
    fn router(&self, fixed: axum::Router) -> axum::Router {
        match &self.0 {
            None => fixed,
            Some(current) => {
                *current.write().expect("router lock") = fixed;
                let current = current.clone();
                axum::Router::new().fallback(move |request: axum::extract::Request| {
                    let router = current.read().expect("router lock").clone();
                    async move {
                        use tower::ServiceExt;
                        match router.oneshot(request).await {
                            Ok(r) => r,
                            Err(never) => match never {},
                        }
                    }
                })
            }
        }
    }

    fn swap(&self, router: axum::Router) {
        if let Some(current) = &self.0 {
            *current.write().expect("router lock") = router;
        }
    }
}

/// What lives for the whole run: the store, identity, listeners.
struct Runtime {
    args_listen: SocketAddr,
    data_dir: PathBuf,
    scheme: &'static str,
    public_url: String,
    store: Store,
    identity: Arc<Identity>,
    admin: cognate_config::AdminCredentials,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    aws: Option<crate::aws::AwsEndpoint>,
    outbox: PathBuf,
    /// Secondary listeners by key: (URL, slot). Bound once; kept.
    bound: BTreeMap<String, (String, Slot)>,
    /// Listeners bound but not yet serving.
    fresh: Vec<(String, Bound)>,
    offset: u16,
    watch: bool,
}

/// One reading of the configuration, made ready to serve.
struct Generation {
    state: AppState,
    main_router: axum::Router,
    /// Listener key -> its router.
    routers: BTreeMap<String, axum::Router>,
    ws_apis: crate::gateway::WsApis,
    shared: Arc<cognate_gateway::Shared>,
    outputs: serde_json::Value,
    flat_outputs: BTreeMap<String, String>,
}

impl Runtime {
    /// Binds the secondary listener `key` unless it is bound already.
    async fn ensure_listener(&mut self, key: String, listen: &Listen) -> Result<String, String> {
        if let Some((url, _)) = self.bound.get(&key) {
            return Ok(url.clone());
        }
        let b = bind_secondary(self.args_listen, listen, self.offset, self.scheme).await?;
        self.offset += 1;
        let url = b.url.clone();
        let slot = Slot(
            self.watch
                .then(|| Arc::new(std::sync::RwLock::new(app::not_found_app()))),
        );
        self.bound.insert(key.clone(), (url.clone(), slot));
        self.fresh.push((key, b));
        Ok(url)
    }

    /// Applies a configuration: binds the listeners it needs, writes what
    /// it declares to the store, compiles its APIs.
    async fn generation(
        &mut self,
        mut config: Config,
        stacks: Option<&Loaded>,
        config_file: Option<&Path>,
    ) -> Result<Generation, String> {
        let mut placeholders = HashMap::from([("cognito".to_string(), self.public_url.clone())]);
        for pool in &config.user_pools {
            if let Some(d) = &pool.domain {
                let url = self
                    .ensure_listener(listener_key("domain", &pool.name), &d.listen)
                    .await?;
                placeholders.insert(format!("domain.{}", pool.name), url);
            }
        }
        for api in &config.http_apis {
            let url = self
                .ensure_listener(listener_key("api", &api.name), &api.listen)
                .await?;
            placeholders.insert(format!("api.{}", api.name), url);
        }
        for api in &config.websocket_apis {
            let url = self
                .ensure_listener(listener_key("websocket", &api.name), &api.listen)
                .await?;
            placeholders.insert(format!("wshttp.{}", api.name), url.clone());
            placeholders.insert(
                format!("websocket.{}", api.name),
                url.replacen("https://", "wss://", 1)
                    .replacen("http://", "ws://", 1),
            );
        }
        if let Some(listen) = &config.server.metrics {
            let url = self.ensure_listener("metrics".to_string(), listen).await?;
            placeholders.insert("metrics".to_string(), url);
        }
        cognate_config::resolve_placeholders(&mut config, &placeholders);

        let now = (self.clock)();
        let applied = self
            .identity
            .apply_config(&config, now)
            .await
            .map_err(|e| format!("cannot apply the config: {e}"))?;
        let mut ids = HashMap::new();
        for pool in &config.user_pools {
            let Some(pool_id) = applied.pool_ids.get(&pool.name) else {
                continue;
            };
            ids.insert(format!("pool.{}", pool.name), pool_id.clone());
            for c in &pool.clients {
                if let Ok(Some(client)) = self.store.client_by_config_key(pool_id, &c.name).await {
                    if let Some(secret) = &client.secret {
                        ids.insert(
                            format!("clientsecret.{}.{}", pool.name, c.name),
                            secret.clone(),
                        );
                    }
                    ids.insert(format!("client.{}.{}", pool.name, c.name), client.id);
                }
            }
        }
        for api in &config.http_apis {
            ids.insert(
                format!("apiid.{}", api.name),
                cognate_gateway::api_id(&api.name),
            );
        }
        for api in &config.websocket_apis {
            ids.insert(
                format!("wsapiid.{}", api.name),
                cognate_gateway::api_id(&format!("websocket.{}", api.name)),
            );
        }
        if stacks.is_some() {
            let removed = self
                .identity
                .prune_stack_pools(&config)
                .await
                .map_err(|e| format!("cannot remove what the stacks no longer declare: {e}"))?;
            for r in removed {
                tracing::info!(removed = %r, "removed: no longer in the stacks");
            }
        }
        cognate_config::resolve_ids(&mut config, &ids);
        let domains: HashMap<String, String> = config
            .user_pools
            .iter()
            .filter_map(|p| {
                let url = placeholders.get(&format!("domain.{}", p.name))?;
                Some((applied.pool_ids.get(&p.name)?.clone(), url.clone()))
            })
            .collect();
        let state = AppState {
            identity: self.identity.clone(),
            clock: self.clock.clone(),
            domains: Arc::new(domains),
        };

        let secure = config.server.tls.is_some();
        let mut custom = HashMap::new();
        for pool in &config.user_pools {
            if let (Some(d), Some(pool_id)) = (&pool.domain, applied.pool_ids.get(&pool.name)) {
                for host in &d.custom_domains {
                    custom.insert(
                        host.clone(),
                        crate::oauth::domain_app(state.clone(), pool_id.clone(), secure),
                    );
                }
            }
        }
        let function_env = self
            .aws
            .as_ref()
            .map(|a| a.function_env.clone())
            .unwrap_or_default();
        let (apis, ws_apis, shared) = crate::gateway::build(
            &config,
            &self.identity,
            &applied,
            &self.admin,
            config_file,
            &self.data_dir,
            self.clock.clone(),
            &placeholders,
            &function_env,
            self.aws.is_some(),
        )
        .await?;
        // The pools' triggers run on this configuration's functions.
        self.identity
            .set_functions(cognate_gateway::invoke::trigger_runner(shared.clone()));
        for (host, router) in crate::gateway::custom_domains(&config, &apis, &ws_apis) {
            if custom.insert(host.clone(), router).is_some() {
                return Err(format!(
                    "{host} is the custom domain of more than one pool or API"
                ));
            }
        }
        if self.aws.is_some() {
            for (host, router) in crate::aws::hosts(&config, &applied, &apis, &ws_apis, &state) {
                custom.insert(host, router);
            }
        }
        let custom: app::CustomDomains = Arc::new(custom);
        let main_router = app::with_custom_domains(app::app(state.clone()), custom.clone());
        let mut routers = BTreeMap::new();
        for pool in &config.user_pools {
            if let (Some(_), Some(pool_id)) = (&pool.domain, applied.pool_ids.get(&pool.name)) {
                let key = listener_key("domain", &pool.name);
                let https = self
                    .bound
                    .get(&key)
                    .is_some_and(|(u, _)| u.starts_with("https://"));
                routers.insert(
                    key,
                    app::with_custom_domains(
                        crate::oauth::domain_app(state.clone(), pool_id.clone(), https),
                        custom.clone(),
                    ),
                );
            }
        }
        for (name, api) in &apis {
            routers.insert(
                listener_key("api", name),
                app::with_custom_domains(crate::gateway::api_app(api.clone()), custom.clone()),
            );
        }
        for (name, api) in &ws_apis {
            routers.insert(
                listener_key("websocket", name),
                app::with_custom_domains(crate::gateway::ws_app(api.clone()), custom.clone()),
            );
        }
        if config.server.metrics.is_some() {
            routers.insert(
                "metrics".to_string(),
                crate::gateway::metrics_app(shared.clone()),
            );
        }

        let mut flat = outputs(
            &config,
            &applied,
            &self.public_url,
            &self.admin,
            &placeholders,
            &self.outbox,
        );
        if let Some(a) = &self.aws {
            flat.insert("AwsEndpointUrl".into(), a.url.clone());
            flat.insert("AwsCaFile".into(), a.ca_file.clone());
        }
        let stack_json = stacks.map(|loaded| {
            // Only the cognate-wide keys: each stack has its own outputs.
            flat.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "Region"
                        | "CognitoEndpoint"
                        | "AdminAccessKeyId"
                        | "AdminSecretAccessKey"
                        | "OutboxDir"
                        | "MetricsUrl"
                        | "AwsEndpointUrl"
                        | "AwsCaFile"
                )
            });
            let mut values = placeholders.clone();
            values.extend(ids.clone());
            stack_outputs(loaded, &values)
        });
        let mut json = serde_json::to_value(&flat).expect("outputs serialize");
        if let Some(stacks) = stack_json {
            json["Stacks"] = stacks;
        }
        Ok(Generation {
            state,
            main_router,
            routers,
            ws_apis,
            shared,
            outputs: json,
            flat_outputs: flat,
        })
    }
}

fn write_inline_files(loaded: &Loaded) -> Result<(), String> {
    for (path, text) in &loaded.inline_files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn show_outputs(generation: &Generation, file: Option<&Path>) -> Result<(), String> {
    print_outputs(&generation.flat_outputs);
    if let Some(stacks) = generation.outputs.get("Stacks") {
        print_stack_outputs(stacks);
    }
    if let Some(file) = file {
        write_atomically(
            file,
            &serde_json::to_vec_pretty(&generation.outputs).expect("outputs serialize"),
        )
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(())
}

pub async fn run(args: ServeArgs) -> Result<(), String> {
    let config = match &args.stacks {
        Some((_, loaded)) => {
            print_stack_notes(loaded);
            write_inline_files(loaded)?;
            loaded.config.clone()
        }
        None => load_config(args.config.as_deref())?,
    };
    let config_file = match &args.stacks {
        Some((s, _)) => Some(s.path.clone()),
        None => args.config.clone(),
    };
    let store = open_store(&args.data_dir, args.database_url.as_deref()).await?;
    let admin = bootstrap::admin_credentials(&store, &config)
        .await
        .map_err(|e| format!("cannot read the admin credentials: {e}"))?;

    let scheme = if config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let tls = match &config.server.tls {
        Some(t) => {
            let public_host = config
                .server
                .public_url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned));
            Some(crate::tls::server_config(
                t,
                &args.data_dir,
                public_host.as_deref(),
            )?)
        }
        None => None,
    };
    let main = bind(args.listen, scheme).await?;
    let public_url = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| main.url.clone());
    let outbox = match &config.messages.outbox_dir {
        Some(d) if Path::new(d).is_absolute() => PathBuf::from(d),
        Some(d) => args.data_dir.join(d),
        None => args.data_dir.join("outbox"),
    };
    std::fs::create_dir_all(&outbox)
        .map_err(|e| format!("cannot create {}: {e}", outbox.display()))?;
    let outbox = outbox.canonicalize().unwrap_or(outbox);
    let messenger = match &config.messages.smtp {
        Some(smtp) => Messenger::smtp(smtp)?,
        None => Messenger::outbox(&outbox),
    };
    let identity = Arc::new(Identity::new(
        store.clone(),
        config.region.clone(),
        public_url.clone(),
        admin.clone(),
        messenger,
    ));
    // Stacks: functions reach cognate at their resources' AWS addresses.
    let aws = match &args.stacks {
        Some(_) => Some(
            crate::aws::prepare(&args.data_dir, args.listen.ip(), &config.region, &admin).await?,
        ),
        None => None,
    };
    let watch = args.watch && args.stacks.is_some();
    let mut rt = Runtime {
        args_listen: args.listen,
        data_dir: args.data_dir.clone(),
        scheme,
        public_url: public_url.clone(),
        store: store.clone(),
        identity: identity.clone(),
        admin: admin.clone(),
        clock: app::system_clock(),
        aws,
        outbox,
        bound: BTreeMap::new(),
        fresh: Vec::new(),
        offset: 1,
        watch,
    };
    let generation = rt
        .generation(
            config,
            args.stacks.as_ref().map(|(_, l)| l),
            config_file.as_deref(),
        )
        .await?;
    show_outputs(&generation, args.outputs_file.as_deref())?;

    let shutdown = shutdown_signal();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    let main_slot = Slot(watch.then(|| Arc::new(std::sync::RwLock::new(app::not_found_app()))));
    let main_router = main_slot.router(generation.main_router.clone());
    servers.spawn(crate::tls::serve(
        main.listener,
        tls.clone(),
        main_router.clone(),
        stop_rx.clone(),
    ));
    if let Some(a) = rt.aws.as_mut() {
        tracing::info!(url = %a.url, "AWS addresses of the stacks served here");
        if let Some(listener) = a.listener.take() {
            servers.spawn(crate::tls::serve(
                listener,
                Some(a.tls.clone()),
                main_router,
                stop_rx.clone(),
            ));
        }
    }
    spawn_fresh(&mut rt, &generation, &mut servers, &tls, &stop_rx);
    tracing::info!(url = %public_url, "cognate is serving");
    let purge = tokio::spawn(purge_loop(store.clone(), generation.state.clone()));

    // --watch: read the definition again when it changes; apply it when it
    // is valid (new listeners are bound, routers swapped; open connections
    // stay), report its problems otherwise.
    let (generations_tx, mut generations_rx) = tokio::sync::mpsc::channel::<()>(1);
    if watch {
        if let Some((source, _)) = &args.stacks {
            tokio::spawn(watch_files(watched_files(&source.path), generations_tx));
        }
    }
    let mut current = generation;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = generations_rx.recv() => {
                let Some((source, _)) = &args.stacks else { continue };
                let loaded = match load_stacks(source) {
                    Ok(l) => l,
                    Err(problems) => {
                        tracing::error!("the changed definition is not applied: {problems}");
                        continue;
                    }
                };
                print_stack_notes(&loaded);
                if let Err(e) = write_inline_files(&loaded) {
                    tracing::error!("the changed definition is not applied: {e}");
                    continue;
                }
                let next = match rt.generation(loaded.config.clone(), Some(&loaded), config_file.as_deref()).await {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::error!("the changed definition is not applied: {e}");
                        continue;
                    }
                };
                main_slot.swap(next.main_router.clone());
                for (key, (_, slot)) in &rt.bound {
                    slot.swap(next.routers.get(key).cloned().unwrap_or_else(app::not_found_app));
                }
                spawn_fresh(&mut rt, &next, &mut servers, &tls, &stop_rx);
                if let Err(e) = show_outputs(&next, args.outputs_file.as_deref()) {
                    tracing::error!("{e}");
                }
                tracing::info!("applied the changed definition");
                // The old generation's functions end once what they run has
                // had time to finish; its open WebSockets stay on it.
                let old = std::mem::replace(&mut current, next);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    old.shared.stop_functions().await;
                });
            }
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    // Open WebSockets close with 1001 (going away) and get their
    // $disconnect; the listeners then finish.
    for api in current.ws_apis.values() {
        api.shutdown();
    }
    for api in current.ws_apis.values() {
        api.drained(std::time::Duration::from_secs(5)).await;
    }
    while let Some(done) = servers.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::error!(error = %e, "listener failed");
        }
    }
    purge.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Starts serving the listeners bound since the last call.
fn spawn_fresh(
    rt: &mut Runtime,
    generation: &Generation,
    servers: &mut tokio::task::JoinSet<std::io::Result<()>>,
    tls: &Option<Arc<rustls::ServerConfig>>,
    stop: &tokio::sync::watch::Receiver<bool>,
) {
    for (key, b) in std::mem::take(&mut rt.fresh) {
        let Some((_, slot)) = rt.bound.get(&key) else {
            continue;
        };
        let fixed = generation
            .routers
            .get(&key)
            .cloned()
            .unwrap_or_else(app::not_found_app);
        tracing::info!(listener = %key, url = %b.url, "listening");
        servers.spawn(crate::tls::serve(
            b.listener,
            tls.clone(),
            slot.router(fixed),
            stop.clone(),
        ));
    }
}

/// The files a stack definition is read from.
fn watched_files(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        let mut files = vec![path.join("manifest.json")];
        if let Ok(entries) = std::fs::read_dir(path) {
            files.extend(
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "json")),
            );
        }
        files
    } else {
        vec![path.to_path_buf()]
    }
}

/// Polls the files' modification times (twice a second) and signals a
/// change once it has settled (no further change for half a second), so a
/// half-written file is not read.
async fn watch_files(files: Vec<PathBuf>, changed: tokio::sync::mpsc::Sender<()>) {
    let stamp = |files: &[PathBuf]| -> Vec<Option<std::time::SystemTime>> {
        files
            .iter()
            .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
            .collect()
    };
    let mut seen = stamp(&files);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut pending = false;
    loop {
        tick.tick().await;
        let now = stamp(&files);
        if now != seen {
            seen = now;
            pending = true;
            continue;
        }
        if pending {
            pending = false;
            if changed.send(()).await.is_err() {
                return;
            }
        }
    }
}

fn outputs(
    config: &Config,
    applied: &bootstrap::Applied,
    public_url: &str,
    admin: &cognate_config::AdminCredentials,
    placeholders: &HashMap<String, String>,
    outbox: &Path,
) -> BTreeMap<String, String> {
    let mut o = applied.outputs.clone();
    o.insert("Region".into(), config.region.clone());
    o.insert("CognitoEndpoint".into(), public_url.to_string());
    o.insert("AdminAccessKeyId".into(), admin.access_key_id.clone());
    o.insert(
        "AdminSecretAccessKey".into(),
        admin.secret_access_key.clone(),
    );
    o.insert("OutboxDir".into(), outbox.display().to_string());
    if let Some(m) = placeholders.get("metrics") {
        o.insert("MetricsUrl".into(), format!("{m}/metrics"));
    }
    if let Some(pool) = config.user_pools.first() {
        if let Some(id) = applied.pool_ids.get(&pool.name) {
            o.insert("IssuerUrl".into(), format!("{public_url}/{id}"));
        }
        if let Some(domain) = placeholders.get(&format!("domain.{}", pool.name)) {
            o.insert("HostedUiUrl".into(), domain.clone());
            let code_client = pool.clients.iter().find(|c| {
                c.settings
                    .allowed_oauth_flows
                    .contains(&cognate_config::OAuthFlow::Code)
                    && !c.settings.callback_urls.is_empty()
            });
            if let (Some(c), Some(output)) =
                (code_client, code_client.and_then(|c| c.output.as_ref()))
            {
                if let Some(client_id) = applied.outputs.get(&format!("{output}Id")) {
                    o.insert(
                        "SignInUrl".into(),
                        format!(
                            "{domain}/login?client_id={client_id}&response_type=code&redirect_uri={}",
                            c.settings.callback_urls[0]
                        ),
                    );
                }
            }
        }
    }
    if let Some(api) = config.http_apis.first() {
        if let Some(url) = placeholders.get(&format!("api.{}", api.name)) {
            o.insert("ApiUrl".into(), url.clone());
        }
    }
    if let Some(api) = config.websocket_apis.first() {
        if let Some(url) = placeholders.get(&format!("websocket.{}", api.name)) {
            o.insert("WebSocketUrl".into(), url.clone());
        }
    }
    o
}

/// `Stacks.{name}.Outputs` and `.Resources.{logicalId}` = `{Type,
/// PhysicalResourceId, Url}`, with the placeholders filled in.
fn stack_outputs(loaded: &Loaded, values: &HashMap<String, String>) -> serde_json::Value {
    let fill = |s: &str| cognate_config::substitute(s, values);
    let mut stacks = serde_json::Map::new();
    for s in &loaded.stacks {
        let outputs: serde_json::Map<String, serde_json::Value> = s
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(fill(v))))
            .collect();
        let resources: serde_json::Map<String, serde_json::Value> = s
            .resources
            .iter()
            .map(|(k, r)| {
                let mut o = serde_json::json!({
                    "Type": r.kind,
                    "PhysicalResourceId": fill(&r.physical_id),
                });
                if let Some(u) = &r.url {
                    o["Url"] = serde_json::Value::String(fill(u));
                }
                (k.clone(), o)
            })
            .collect();
        stacks.insert(
            s.name.clone(),
            serde_json::json!({"Outputs": outputs, "Resources": resources}),
        );
    }
    serde_json::Value::Object(stacks)
}

fn print_stack_outputs(stacks: &serde_json::Value) {
    for (name, s) in stacks.as_object().into_iter().flatten() {
        let outputs = s["Outputs"].as_object().cloned().unwrap_or_default();
        if outputs.is_empty() {
            continue;
        }
        let width = outputs.keys().map(String::len).max().unwrap_or(0);
        println!("Stack {name} outputs:");
        for (k, v) in &outputs {
            println!("  {k:<width$} = {}", v.as_str().unwrap_or(""));
        }
        println!();
    }
}

fn print_outputs(outputs: &BTreeMap<String, String>) {
    let width = outputs.keys().map(String::len).max().unwrap_or(0);
    println!("\nOutputs:");
    for (k, v) in outputs {
        println!("  {k:<width$} = {v}");
    }
    println!();
}

/// Writes a file so that a reader sees the old content or the new, never half.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp-cognate");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// How long a retired signing key stays in the JWKS: the longest token
/// lifetime (one day) plus five minutes of clock skew.
const RETIRED_KEY_KEEP_MS: i64 = 86_400_000 + 300_000;

/// Deletes expired sessions, codes and token records now and then.
async fn purge_loop(store: Store, state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        let now = state.now();
        match store.purge_expired(now).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired sessions and codes"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purge failed"),
        }
        // Origins are kept a day past expiry so late revocation checks still find them.
        if let Err(e) = store.purge_origins(now - 86_400_000).await {
            tracing::warn!(error = %e, "purge of token origins failed");
        }
        // A retired key stays published until every token it signed has
        // expired: the longest ID/access token lives one day.
        if let Err(e) = store
            .purge_all_retired_keys(now - RETIRED_KEY_KEEP_MS)
            .await
        {
            tracing::warn!(error = %e, "purge of retired keys failed");
        }
    }
}
