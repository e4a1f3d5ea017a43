//! A configuration made ready to serve (a "generation"): the listeners it
//! needs (bound once, kept for the whole run), its identity state, APIs and
//! routers, and its outputs. Under `--watch` a new generation replaces the
//! current one in place: routers are read on every request.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cognate_config::stack::Loaded;
use cognate_config::{Config, Listen};
use cognate_identity::{bootstrap, Identity};
use cognate_store::Store;

use crate::app::{self, AppState};
use crate::binding::{bind_secondary, write_atomically, Bound};
use crate::listener::Target;

/// What a secondary listener serves, by name: `domain:{pool}`,
/// `api:{name}`, `websocket:{name}`, `metrics`.
pub(crate) fn listener_key(kind: &str, name: &str) -> String {
    format!("{kind}:{name}")
}

/// The router a listener serves: fixed, or (under --watch) the current
/// generation's, read on every request so a new definition applies to
/// open keep-alive connections too.
#[derive(Clone)]
pub(crate) struct Slot(pub(crate) Option<Arc<std::sync::RwLock<axum::Router>>>);

impl Slot {
    pub(crate) fn router(&self, fixed: axum::Router) -> axum::Router {
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

    pub(crate) fn swap(&self, router: axum::Router) {
        if let Some(current) = &self.0 {
            *current.write().expect("router lock") = router;
        }
    }
}

/// What lives for the whole run: the store, identity, listeners.
pub(crate) struct Runtime {
    pub(crate) args_listen: SocketAddr,
    pub(crate) data_dir: PathBuf,
    pub(crate) scheme: &'static str,
    pub(crate) public_url: String,
    pub(crate) store: Store,
    pub(crate) identity: Arc<Identity>,
    pub(crate) admin: cognate_config::AdminCredentials,
    pub(crate) clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    pub(crate) aws: Option<crate::aws::AwsEndpoint>,
    pub(crate) outbox: PathBuf,
    /// Secondary listeners by key: (URL, slot). Bound once; kept.
    pub(crate) bound: BTreeMap<String, (String, Slot)>,
    /// Listeners bound but not yet serving.
    pub(crate) fresh: Vec<(String, Bound)>,
    pub(crate) offset: u16,
    pub(crate) watch: bool,
    /// Connection limits and body deadline of every listener.
    pub(crate) policy: Arc<crate::listener::Policy>,
    /// Throttling buckets in Redis (`server.redis_url` of the first
    /// configuration), shared with the other nodes.
    pub(crate) shared_buckets: Option<Arc<cognate_gateway::throttle::SharedBuckets>>,
}

/// One reading of the configuration, made ready to serve.
pub(crate) struct Generation {
    pub(crate) state: AppState,
    pub(crate) main_router: axum::Router,
    /// Listener key -> its router.
    pub(crate) routers: BTreeMap<String, axum::Router>,
    /// Listener key -> the HTTP API its listener may call directly (none
    /// when a custom domain could take the listener's requests).
    pub(crate) direct: BTreeMap<String, Arc<cognate_gateway::Api>>,
    pub(crate) ws_apis: crate::gateway::WsApis,
    pub(crate) shared: Arc<cognate_gateway::Shared>,
    pub(crate) outputs: serde_json::Value,
    pub(crate) flat_outputs: BTreeMap<String, String>,
}

impl Runtime {
    /// Binds the secondary listener `key` unless it is bound already.
    pub(crate) async fn ensure_listener(
        &mut self,
        key: String,
        listen: &Listen,
    ) -> Result<String, String> {
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
    pub(crate) async fn generation(
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
        let config_dir = match config_file.and_then(Path::parent) {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::env::current_dir().map_err(|e| e.to_string())?,
        };
        let work_dir = self.data_dir.join("runtime");
        let function_env = self
            .aws
            .as_ref()
            .map(|a| a.function_env.clone())
            .unwrap_or_default();
        let setup = cognate_gateway::Setup {
            identity: self.identity.clone(),
            store: self.store.clone(),
            pool_ids: &applied.pool_ids,
            region: config.region.clone(),
            credentials: self.admin.clone(),
            config_dir: &config_dir,
            work_dir: &work_dir,
            shared_buckets: self.shared_buckets.clone(),
            clock: self.clock.clone(),
            secure: config.server.tls.is_some(),
            function_env: &function_env,
            aws_hosts: self.aws.is_some().then_some(config.region.as_str()),
        };
        let (apis, ws_apis, shared) = crate::gateway::build(&config, &setup, &placeholders).await?;
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
        let mut direct = BTreeMap::new();
        for (name, api) in &apis {
            if custom.is_empty() {
                direct.insert(listener_key("api", name), api.clone());
            }
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
            direct,
            ws_apis,
            shared,
            outputs: json,
            flat_outputs: flat,
        })
    }
}

pub(crate) fn write_inline_files(loaded: &Loaded) -> Result<(), String> {
    for (path, text) in &loaded.inline_files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

pub(crate) fn show_outputs(generation: &Generation, file: Option<&Path>) -> Result<(), String> {
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

/// Starts serving the listeners bound since the last call.
pub(crate) fn spawn_fresh(
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
        // Under --watch the router is read on every request (the slot);
        // otherwise an API's own listener calls the API directly.
        let target = match generation.direct.get(&key) {
            Some(api) if !rt.watch => Target::Api(api.clone()),
            _ => Target::Router(slot.router(fixed)),
        };
        tracing::info!(listener = %key, url = %b.url, "listening");
        servers.spawn(crate::listener::serve(
            b.listener,
            tls.clone(),
            target,
            rt.policy.clone(),
            stop.clone(),
        ));
    }
}

/// The files a stack definition is read from.
pub(crate) fn watched_files(path: &Path) -> Vec<PathBuf> {
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
pub(crate) async fn watch_files(files: Vec<PathBuf>, changed: tokio::sync::mpsc::Sender<()>) {
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
