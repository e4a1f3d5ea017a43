//! `cognate serve`: load the config, open the store, bind every listener,
//! apply the config, write the outputs, serve until SIGINT/SIGTERM.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cognate_config::stack::{Loaded, StackOptions};
use cognate_config::Config;
use cognate_identity::messages::Messenger;
use cognate_identity::{bootstrap, Identity};
use cognate_store::Store;

use crate::app::{self, AppState};
use crate::binding::bind;
use crate::generation::{
    show_outputs, spawn_fresh, watch_files, watched_files, write_inline_files, Runtime, Slot,
};

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

/// Opens the store; with keys (`COGNATE_SECRET_KEYS`, else the file
/// named) its secrets are sealed at rest, and every secret not sealed with
/// the current key is sealed with it now.
pub async fn open_store(
    data_dir: &Path,
    database_url: Option<&str>,
    secret_key_file: Option<&Path>,
) -> Result<Store, String> {
    let store = match database_url {
        Some(url) => Store::connect(url).await,
        None => Store::open_sqlite(data_dir).await,
    };
    let mut store = store.map_err(|e| format!("cannot open the database: {e}"))?;
    let keys = match (std::env::var("COGNATE_SECRET_KEYS"), secret_key_file) {
        (Ok(text), _) => Some((text, "COGNATE_SECRET_KEYS".to_string())),
        (Err(_), Some(f)) => Some((
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?,
            f.display().to_string(),
        )),
        (Err(_), None) => None,
    };
    if let Some((text, from)) = keys {
        let ring =
            cognate_store::seal::Keyring::parse(&text).map_err(|e| format!("{from}: {e}"))?;
        store = store.with_keyring(ring);
    }
    let resealed = store
        .reseal_all()
        .await
        .map_err(|e| format!("cannot read the secrets at rest: {e}"))?;
    if resealed > 0 {
        tracing::info!(
            secrets = resealed,
            "sealed secrets at rest with the current key"
        );
    }
    Ok(store)
}

/// The clock every part of a run reads, in epoch milliseconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What a run's identity service is made of.
pub(crate) struct IdentityParts {
    pub(crate) identity: Arc<Identity>,
    pub(crate) admin: cognate_config::AdminCredentials,
    pub(crate) outbox: PathBuf,
    /// `server.public_url`, or the main listener's URL: the issuers' base.
    pub(crate) public_url: String,
}

/// The identity service of a run over `store`, whose main listener is at
/// `main_url`: its admin credentials (generated once and kept in the store
/// unless the config gives them), its outbox folder and messenger, and the
/// federation client.
pub(crate) async fn identity_for(
    config: &Config,
    store: &Store,
    main_url: &str,
    data_dir: &Path,
) -> Result<IdentityParts, String> {
    let public_url = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| main_url.to_string());
    let admin = bootstrap::admin_credentials(store, config)
        .await
        .map_err(|e| format!("cannot read the admin credentials: {e}"))?;
    let outbox = match &config.messages.outbox_dir {
        Some(d) if Path::new(d).is_absolute() => PathBuf::from(d),
        Some(d) => data_dir.join(d),
        None => data_dir.join("outbox"),
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
    identity.set_provider_http(crate::hosted::federation::provider_http());
    Ok(IdentityParts {
        identity,
        admin,
        outbox,
        public_url,
    })
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
    let store = open_store(
        &args.data_dir,
        args.database_url.as_deref(),
        config.server.secret_key_file.as_deref().map(Path::new),
    )
    .await?;
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
    let IdentityParts {
        identity,
        admin,
        outbox,
        public_url,
    } = identity_for(&config, &store, &main.url, &args.data_dir).await?;
    // Stacks: functions reach cognate at their resources' AWS addresses.
    let aws = match &args.stacks {
        Some(_) => Some(
            crate::aws::prepare(&args.data_dir, args.listen.ip(), &config.region, &admin).await?,
        ),
        None => None,
    };
    let shared_buckets = match &config.server.redis_url {
        Some(url) => Some(Arc::new(
            cognate_gateway::throttle::SharedBuckets::connect(url).await?,
        )),
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
        // The first configuration's limits hold for the process's life.
        policy: crate::listener::Policy::from_config(&config.server),
        shared_buckets,
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
    servers.spawn(crate::listener::serve(
        main.listener,
        tls.clone(),
        main_router.clone(),
        rt.policy.clone(),
        stop_rx.clone(),
    ));
    if let Some(a) = rt.aws.as_mut() {
        tracing::info!(url = %a.url, "AWS addresses of the stacks served here");
        if let Some(listener) = a.listener.take() {
            servers.spawn(crate::listener::serve(
                listener,
                Some(a.tls.clone()),
                main_router,
                rt.policy.clone(),
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
        // An authorization code's row is what makes it single-use: it
        // must outlive the code's expiry on every node (their clocks may
        // differ), so it is kept an hour past it.
        if let Err(e) = store.purge_auth_codes(now - 3_600_000).await {
            tracing::warn!(error = %e, "purge of authorization codes failed");
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
