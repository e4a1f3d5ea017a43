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

/// What a secondary listener serves.
enum Secondary {
    Domain(String),
    HttpApi(String),
    WebSocket(String),
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

pub async fn run(args: ServeArgs) -> Result<(), String> {
    let mut config = match &args.stacks {
        Some((_, loaded)) => {
            print_stack_notes(loaded);
            for (path, text) in &loaded.inline_files {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                std::fs::write(path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
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
    let mut placeholders = HashMap::from([("cognito".to_string(), public_url.clone())]);
    let mut secondary = Vec::new();
    let mut offset = 1;
    for pool in &config.user_pools {
        if let Some(d) = &pool.domain {
            let b = bind_secondary(args.listen, &d.listen, offset, scheme).await?;
            offset += 1;
            placeholders.insert(format!("domain.{}", pool.name), b.url.clone());
            secondary.push((
                format!("domain of pool {}", pool.name),
                Secondary::Domain(pool.name.clone()),
                b,
            ));
        }
    }
    for api in &config.http_apis {
        let b = bind_secondary(args.listen, &api.listen, offset, scheme).await?;
        offset += 1;
        placeholders.insert(format!("api.{}", api.name), b.url.clone());
        secondary.push((
            format!("HTTP API {}", api.name),
            Secondary::HttpApi(api.name.clone()),
            b,
        ));
    }
    for api in &config.websocket_apis {
        let b = bind_secondary(args.listen, &api.listen, offset, scheme).await?;
        offset += 1;
        placeholders.insert(format!("wshttp.{}", api.name), b.url.clone());
        placeholders.insert(
            format!("websocket.{}", api.name),
            b.url
                .replacen("https://", "wss://", 1)
                .replacen("http://", "ws://", 1),
        );
        secondary.push((
            format!("WebSocket API {}", api.name),
            Secondary::WebSocket(api.name.clone()),
            b,
        ));
    }
    let metrics = match &config.server.metrics {
        Some(listen) => {
            let b = bind_secondary(args.listen, listen, offset, scheme).await?;
            placeholders.insert("metrics".to_string(), b.url.clone());
            Some(b)
        }
        None => None,
    };
    cognate_config::resolve_placeholders(&mut config, &placeholders);

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
    let clock = app::system_clock();
    let applied = identity
        .apply_config(&config, clock())
        .await
        .map_err(|e| format!("cannot apply the config: {e}"))?;
    let mut ids = HashMap::new();
    for pool in &config.user_pools {
        let Some(pool_id) = applied.pool_ids.get(&pool.name) else {
            continue;
        };
        ids.insert(format!("pool.{}", pool.name), pool_id.clone());
        for c in &pool.clients {
            if let Ok(Some(client)) = store.client_by_config_key(pool_id, &c.name).await {
                if let Some(secret) = &client.secret {
                    ids.insert(format!("clientsecret.{}.{}", pool.name, c.name), secret.clone());
                }
                ids.insert(format!("client.{}.{}", pool.name, c.name), client.id);
            }
        }
    }
    for api in &config.http_apis {
        ids.insert(format!("apiid.{}", api.name), cognate_gateway::api_id(&api.name));
    }
    for api in &config.websocket_apis {
        ids.insert(
            format!("wsapiid.{}", api.name),
            cognate_gateway::api_id(&format!("websocket.{}", api.name)),
        );
    }
    if args.stacks.is_some() {
        let removed = identity
            .prune_stack_pools(&config)
            .await
            .map_err(|e| format!("cannot remove what the stacks no longer declare: {e}"))?;
        for r in removed {
            tracing::info!(removed = %r, "removed: no longer in the stacks");
        }
    }
    cognate_config::resolve_ids(&mut config, &ids);
    let domains: HashMap<String, String> = secondary
        .iter()
        .filter_map(|(_, kind, b)| match kind {
            Secondary::Domain(pool) => Some((applied.pool_ids.get(pool)?.clone(), b.url.clone())),
            _ => None,
        })
        .collect();
    let state = AppState {
        identity: identity.clone(),
        clock,
        domains: Arc::new(domains),
    };

    // Stacks: functions reach cognate at their resources' AWS addresses.
    let aws = match &args.stacks {
        Some(_) => Some(
            crate::aws::prepare(&args.data_dir, args.listen.ip(), &config.region, &admin).await?,
        ),
        None => None,
    };
    let function_env = aws
        .as_ref()
        .map(|a| a.function_env.clone())
        .unwrap_or_default();

    let mut custom = HashMap::new();
    for pool in &config.user_pools {
        if let (Some(d), Some(pool_id)) = (&pool.domain, applied.pool_ids.get(&pool.name)) {
            for host in &d.custom_domains {
                let secure = config.server.tls.is_some();
                custom.insert(
                    host.clone(),
                    crate::oauth::domain_app(state.clone(), pool_id.clone(), secure),
                );
            }
        }
    }
    let (apis, ws_apis, gateway_shared) = crate::gateway::build(
        &config,
        &identity,
        &applied,
        &admin,
        config_file.as_deref(),
        &args.data_dir,
        state.clock.clone(),
        &placeholders,
        &function_env,
        aws.is_some(),
    )
    .await?;
    for (host, router) in crate::gateway::custom_domains(&config, &apis, &ws_apis) {
        if custom.insert(host.clone(), router).is_some() {
            return Err(format!(
                "{host} is the custom domain of more than one pool or API"
            ));
        }
    }
    if aws.is_some() {
        for (host, router) in
            crate::aws::hosts(&config, &applied, &apis, &ws_apis, &state)
        {
            custom.insert(host, router);
        }
    }
    let custom: app::CustomDomains = Arc::new(custom);
    let main_router = app::with_custom_domains(app::app(state.clone()), custom.clone());
    let mut outputs = outputs(
        &config,
        &applied,
        &public_url,
        &admin,
        &placeholders,
        &outbox,
    );
    if let Some(a) = &aws {
        outputs.insert("AwsEndpointUrl".into(), a.url.clone());
        outputs.insert("AwsCaFile".into(), a.ca_file.clone());
    }
    let stacks = match &args.stacks {
        Some((_, loaded)) => {
            // Only the cognate-wide keys: each stack has its own outputs.
            outputs.retain(|k, _| {
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
            Some(stack_outputs(loaded, &values))
        }
        None => None,
    };
    print_outputs(&outputs);
    let mut json = serde_json::to_value(&outputs).expect("outputs serialize");
    if let Some(stacks) = stacks {
        print_stack_outputs(&stacks);
        json["Stacks"] = stacks;
    }
    if let Some(file) = &args.outputs_file {
        write_atomically(
            file,
            &serde_json::to_vec_pretty(&json).expect("outputs serialize"),
        )
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }

    let shutdown = shutdown_signal();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    let serve =
        |listener: TcpListener, router: axum::Router, rx: tokio::sync::watch::Receiver<bool>| {
            let tls = tls.clone();
            async move { crate::tls::serve(listener, tls, router, rx).await }
        };
    servers.spawn(serve(main.listener, main_router.clone(), stop_rx.clone()));
    if let Some(a) = aws {
        tracing::info!(url = %a.url, "AWS addresses of the stacks served here");
        servers.spawn(crate::tls::serve(
            a.listener,
            Some(a.tls),
            main_router,
            stop_rx.clone(),
        ));
    }
    for (what, kind, b) in secondary {
        tracing::info!(listener = %what, url = %b.url, "listening");
        let router = match kind {
            Secondary::Domain(pool) => match applied.pool_ids.get(&pool) {
                Some(pool_id) => crate::oauth::domain_app(
                    state.clone(),
                    pool_id.clone(),
                    b.url.starts_with("https://"),
                ),
                None => app::not_found_app(),
            },
            Secondary::HttpApi(name) => match apis.get(&name) {
                Some(api) => crate::gateway::api_app(api.clone()),
                None => app::not_found_app(),
            },
            Secondary::WebSocket(name) => match ws_apis.get(&name) {
                Some(api) => crate::gateway::ws_app(api.clone()),
                None => app::not_found_app(),
            },
        };
        servers.spawn(serve(
            b.listener,
            app::with_custom_domains(router, custom.clone()),
            stop_rx.clone(),
        ));
    }
    if let Some(b) = metrics {
        tracing::info!(url = %b.url, "metrics at /metrics");
        servers.spawn(serve(
            b.listener,
            crate::gateway::metrics_app(gateway_shared.clone()),
            stop_rx.clone(),
        ));
    }
    tracing::info!(url = %public_url, "cognate is serving");
    let purge = tokio::spawn(purge_loop(store.clone(), state.clone()));

    shutdown.await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    // Open WebSockets close with 1001 (going away) and get their
    // $disconnect; the listeners then finish.
    for api in ws_apis.values() {
        api.shutdown();
    }
    for api in ws_apis.values() {
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
