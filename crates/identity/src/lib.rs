//! cognate's identity core: user pools, users, app clients, tokens and the
//! semantics of Cognito's JSON API. Free of HTTP: the server hands requests
//! in as data, and the current time is always a parameter (`now_ms`, epoch
//! milliseconds), so expiry and lockout are tested without sleeping.

pub mod api;
pub mod authorize;
pub mod bootstrap;
mod code_grant;
pub mod crypto;
pub mod error;
pub mod federation;
pub mod jwt;
pub mod keys;
mod lookups;
pub mod messages;
pub mod oauth;
pub mod password;
mod sealed_code;
pub mod sigv4;
pub mod srp;
pub mod tokens;
pub mod totp;
pub mod triggers;
mod users;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cognate_config::{AdminCredentials, IssuerStyle};
use cognate_store::pools::Pool;
use cognate_store::Store;

pub use error::{CognitoError, ErrorKind, Result};
use keys::KeySet;
use messages::Messenger;

/// A fake AWS account id, for ARNs.
pub const ACCOUNT_ID: &str = "000000000000";

/// How long a pool's keys are cached before they are read again (so a
/// rotation on another node is seen).
const KEY_CACHE_MS: i64 = 30_000;
/// A token naming an unknown `kid` reloads the keys at most this often, so
/// a flood of made-up kids costs no database reads.
const KEY_RELOAD_COOLDOWN_MS: i64 = 5_000;

/// The identity service: one per process, shared by every request.
pub struct Identity {
    store: Store,
    region: String,
    /// Base URL of the main listener (JSON API, issuers), no trailing slash.
    public_url: String,
    admin: AdminCredentials,
    messenger: Messenger,
    keys: RwLock<HashMap<String, CachedKeys>>,
    /// Runs the pools' Lambda triggers (set by the server once its
    /// functions exist; replaced when the configuration is read again).
    functions: RwLock<Option<Arc<dyn triggers::FunctionRunner>>>,
    /// Makes the calls to external identity providers (set by the server).
    provider_http: RwLock<Option<Arc<dyn federation::ProviderHttp>>>,
    /// Providers' discovery documents and key sets.
    provider_cache: federation::ProviderCache,
}

#[derive(Clone)]
struct CachedKeys {
    set: Arc<KeySet>,
    loaded_ms: i64,
}

impl Identity {
    pub fn new(
        store: Store,
        region: String,
        public_url: String,
        admin: AdminCredentials,
        messenger: Messenger,
    ) -> Identity {
        Identity {
            store,
            region,
            public_url: public_url.trim_end_matches('/').to_string(),
            admin,
            messenger,
            keys: RwLock::new(HashMap::new()),
            functions: RwLock::new(None),
            provider_http: RwLock::new(None),
            provider_cache: federation::ProviderCache::default(),
        }
    }

    /// The runner of the functions the pools' triggers name.
    pub fn set_functions(&self, runner: Arc<dyn triggers::FunctionRunner>) {
        *self.functions.write().expect("functions lock") = Some(runner);
    }

    pub(crate) fn function_runner(&self) -> Option<Arc<dyn triggers::FunctionRunner>> {
        self.functions.read().expect("functions lock").clone()
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn admin(&self) -> &AdminCredentials {
        &self.admin
    }

    /// The `iss` of a pool's tokens.
    pub fn issuer(&self, pool: &Pool) -> String {
        match pool.settings.issuer {
            IssuerStyle::Cognate => format!("{}/{}", self.public_url, pool.id),
            IssuerStyle::Aws => {
                format!(
                    "https://cognito-idp.{}.amazonaws.com/{}",
                    self.region, pool.id
                )
            }
        }
    }

    /// The keys of a pool, generating them on first use.
    pub async fn keys(&self, pool_id: &str, now_ms: i64) -> Result<Arc<KeySet>> {
        if let Some(c) = self.keys.read().expect("key cache lock").get(pool_id) {
            if now_ms - c.loaded_ms < KEY_CACHE_MS {
                return Ok(c.set.clone());
            }
        }
        self.reload_keys(pool_id, now_ms).await
    }

    /// The keys of a pool that know `kid`, reading them again if the cache
    /// does not and was not refreshed in the last few seconds.
    pub async fn keys_for_kid(&self, pool_id: &str, kid: &str, now_ms: i64) -> Result<Arc<KeySet>> {
        let keys = self.keys(pool_id, now_ms).await?;
        if keys.by_kid(kid).is_some() {
            return Ok(keys);
        }
        let loaded = self
            .keys
            .read()
            .expect("key cache lock")
            .get(pool_id)
            .map_or(i64::MIN, |c| c.loaded_ms);
        if now_ms - loaded < KEY_RELOAD_COOLDOWN_MS {
            return Ok(keys);
        }
        self.reload_keys(pool_id, now_ms).await
    }

    /// Reads a pool's keys again (after a rotation, or for an unknown kid).
    pub async fn reload_keys(&self, pool_id: &str, now_ms: i64) -> Result<Arc<KeySet>> {
        let mut records = self.store.keys(pool_id).await?;
        for purpose in [keys::Purpose::Id, keys::Purpose::Access] {
            if !records
                .iter()
                .any(|k| k.purpose == purpose.as_str() && k.retired_ms.is_none())
            {
                let key = tokio::task::spawn_blocking({
                    let pool_id = pool_id.to_string();
                    move || keys::generate(&pool_id, purpose, now_ms)
                })
                .await
                .map_err(|_| CognitoError::internal("An internal error occurred."))?;
                self.store.insert_key(&key).await?;
                records.push(key);
            }
        }
        let set = Arc::new(keys::load(&records));
        self.keys.write().expect("key cache lock").insert(
            pool_id.to_string(),
            CachedKeys {
                set: set.clone(),
                loaded_ms: now_ms,
            },
        );
        Ok(set)
    }

    /// Retires the signing keys of a pool and makes new ones. Tokens signed
    /// by the old keys keep verifying: the old keys stay in the JWKS until
    /// `purge_retired_keys` removes them after the longest token lifetime.
    pub async fn rotate_keys(&self, pool_id: &str, now_ms: i64) -> Result<Vec<String>> {
        let pool = self
            .store
            .pool(pool_id)
            .await?
            .ok_or_else(|| CognitoError::pool_not_found(pool_id))?;
        let mut new = Vec::new();
        for purpose in [keys::Purpose::Id, keys::Purpose::Access] {
            let id = pool.id.clone();
            let key = tokio::task::spawn_blocking(move || keys::generate(&id, purpose, now_ms))
                .await
                .map_err(|_| CognitoError::internal("An internal error occurred."))?;
            new.push(key);
        }
        self.store.rotate_keys(&pool.id, &new, now_ms).await?;
        self.reload_keys(&pool.id, now_ms).await?;
        Ok(new.into_iter().map(|k| k.kid).collect())
    }

    pub(crate) async fn pool_or_error(&self, pool_id: &str) -> Result<Pool> {
        self.store
            .pool(pool_id)
            .await?
            .ok_or_else(|| CognitoError::pool_not_found(pool_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cognate_store::pools::Pool;

    async fn identity() -> (Identity, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("cognate-id-{}", uuid::Uuid::new_v4()));
        let store = Store::open_sqlite(&dir).await.unwrap();
        store
            .insert_pool(&Pool {
                id: "us-east-1_keys".into(),
                name: "p".into(),
                config_key: None,
                settings: Default::default(),
                domain: None,
                created_ms: 0,
                updated_ms: 0,
            })
            .await
            .unwrap();
        let id = Identity::new(
            store,
            "us-east-1".into(),
            "http://127.0.0.1:1".into(),
            AdminCredentials {
                access_key_id: "A".repeat(20),
                secret_access_key: "s".repeat(40),
            },
            Messenger::outbox(&dir.join("outbox")),
        );
        (id, dir)
    }

    #[tokio::test]
    async fn unknown_kids_reload_keys_at_most_once_per_cooldown() {
        let (id, dir) = identity().await;
        let first = id.keys("us-east-1_keys", 0).await.unwrap();
        assert_eq!(first.keys.len(), 2, "two keys are made on first use");
        // Another node rotates: a key this node's cache does not know.
        let extra = keys::generate("us-east-1_keys", keys::Purpose::Access, 1);
        id.store.insert_key(&extra).await.unwrap();
        let soon = id
            .keys_for_kid("us-east-1_keys", &extra.kid, 1_000)
            .await
            .unwrap();
        assert!(
            soon.by_kid(&extra.kid).is_none(),
            "within the cooldown the cache is used"
        );
        let later = id
            .keys_for_kid("us-east-1_keys", &extra.kid, KEY_RELOAD_COOLDOWN_MS + 1)
            .await
            .unwrap();
        assert!(
            later.by_kid(&extra.kid).is_some(),
            "after the cooldown the keys are read again"
        );
        let made_up = id
            .keys_for_kid("us-east-1_keys", "no-such-kid", KEY_RELOAD_COOLDOWN_MS + 2)
            .await
            .unwrap();
        assert!(made_up.by_kid("no-such-kid").is_none());
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn rotation_keeps_old_keys_published_and_signs_with_new_ones() {
        let (id, dir) = identity().await;
        let before = id.keys("us-east-1_keys", 0).await.unwrap();
        let old_access = before.signing(keys::Purpose::Access).unwrap().kid.clone();
        let new_kids = id.rotate_keys("us-east-1_keys", 10).await.unwrap();
        let after = id.keys("us-east-1_keys", 20).await.unwrap();
        assert_eq!(after.keys.len(), 4);
        assert!(after.by_kid(&old_access).is_some());
        assert!(new_kids.contains(&after.signing(keys::Purpose::Access).unwrap().kid));
        assert_eq!(after.jwks()["keys"].as_array().unwrap().len(), 4);
        std::fs::remove_dir_all(dir).ok();
    }
}
