//! A configuration served in this process without serving its listeners:
//! every listener's router, ready to be driven with tower's `oneshot`.
//! The in-process tests (crates/server/tests/it) run on it; it builds the
//! app exactly as `cognate serve` does (serve.rs), on the store and clock
//! it is given. The listeners are bound (loopback, free ports) so the URLs
//! in the outputs and in redirects are the ones a served run would have;
//! nothing accepts on them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use cognate_config::Config;
use cognate_identity::Identity;
use cognate_store::Store;

use crate::binding::{bind, Bound};
use crate::generation::{Generation, Runtime};
use crate::serve::{identity_for, Clock, IdentityParts};

/// One configuration, served in process.
pub struct InProcess {
    /// The outputs `cognate serve` prints (ids, URLs, admin credentials).
    pub outputs: BTreeMap<String, String>,
    pub identity: Arc<Identity>,
    pub store: Store,
    /// (base URL, router) of the main listener and of every other one.
    routers: Vec<(String, axum::Router)>,
    _main: Bound,
    _runtime: Runtime,
    _generation: Generation,
}

impl InProcess {
    /// Applies `config` to `store` (SQLite in `data_dir`, or the store
    /// given) and builds every router; `clock` is the time every part reads.
    pub async fn start(
        config: Config,
        data_dir: &Path,
        store: Store,
        clock: Clock,
    ) -> Result<InProcess, String> {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let main = bind(listen, "http").await?;
        let IdentityParts {
            identity,
            admin,
            outbox,
            public_url,
        } = identity_for(&config, &store, &main.url, data_dir).await?;
        let mut rt = Runtime {
            args_listen: listen,
            data_dir: data_dir.to_path_buf(),
            scheme: "http",
            public_url: public_url.clone(),
            store: store.clone(),
            identity: identity.clone(),
            admin,
            clock,
            aws: None,
            outbox,
            bound: BTreeMap::new(),
            fresh: Vec::new(),
            offset: 1,
            watch: false,
            policy: crate::listener::Policy::from_config(&config.server),
            shared_buckets: None,
        };
        let generation = rt.generation(config, None, None).await?;
        let mut routers = vec![(main.url.clone(), generation.main_router.clone())];
        for (key, (url, _)) in &rt.bound {
            if let Some(r) = generation.routers.get(key) {
                routers.push((url.clone(), r.clone()));
            }
        }
        Ok(InProcess {
            outputs: generation.flat_outputs.clone(),
            identity,
            store,
            routers,
            _main: main,
            _runtime: rt,
            _generation: generation,
        })
    }

    /// The router of the listener whose base URL starts `url`
    /// (`http://127.0.0.1:port`), with the rest of `url`.
    pub fn route<'u>(&self, url: &'u str) -> Option<(axum::Router, &'u str)> {
        self.routers.iter().find_map(|(base, router)| {
            let rest = url.strip_prefix(base.as_str())?;
            (rest.is_empty() || rest.starts_with(['/', '?'])).then(|| (router.clone(), rest))
        })
    }
}
