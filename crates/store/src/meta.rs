//! Small named values kept with the data: generated demo credentials and
//! ids, and the process-wide secrets (sealed at rest when keys are given).

use sqlx::Row;

use crate::{Result, Store};

/// The `meta` values that are secrets: the generated admin secret key, the
/// hosted pages' and the gateway's session keys, the key authorization
/// codes are sealed with, the key SRP's stand-in
/// answers for unknown users are derived from, and each pool's SAML
/// signing key (with its certificate).
pub(crate) fn is_secret(key: &str) -> bool {
    matches!(
        key,
        "admin.secret_access_key"
            | "hosted.session_key"
            | "gateway_session_key"
            | "srp.fake_user_key"
            | "oauth.code_key"
    ) || key.starts_with("saml.signing_certificate.")
}

/// Where a sealed `meta` value belongs (seal.rs).
pub(crate) fn meta_aad(key: &str) -> String {
    format!("meta.value:{key}")
}

impl Store {
    pub async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
        match row {
            Some(r) => Ok(Some(self.open_meta(key, r.try_get("value")?)?)),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key` unless a value is already there; returns the
    /// value that is stored afterwards. Two nodes racing agree on one value,
    /// which this process then keeps: such values are read on hot paths
    /// (the hosted session key on every authorize) and never change.
    pub async fn meta_get_or_insert(&self, key: &str, value: &str) -> Result<String> {
        self.meta_get_or_insert_with(key, || value.to_string())
            .await
    }

    /// [`Store::meta_get_or_insert`] with the value made only when none is
    /// settled yet (a fresh random key, made for nothing on every call
    /// once one is kept).
    pub async fn meta_get_or_insert_with(
        &self,
        key: &str,
        value: impl FnOnce() -> String,
    ) -> Result<String> {
        let settled = &self.read_cache.settled_meta;
        if let Some(v) = settled.lock().expect("meta cache lock").get(key) {
            return Ok(v.clone());
        }
        let stored = self.meta_get_or_insert_now(key, &value()).await?;
        settled
            .lock()
            .expect("meta cache lock")
            .insert(key.to_string(), stored.clone());
        Ok(stored)
    }

    async fn meta_get_or_insert_now(&self, key: &str, value: &str) -> Result<String> {
        // Read first: a write, even one that changes nothing, queues for
        // SQLite's one writer.
        if let Some(stored) = self.meta_get(key).await? {
            return Ok(stored);
        }
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(self.seal_meta(key, value))
            .execute(&mut *self.write().await?)
            .await?;
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_one(&self.reader)
            .await?;
        self.open_meta(key, row.try_get("value")?)
    }

    /// Stores `value` under `key`, replacing what was there. Not for keys
    /// written by [`Store::meta_get_or_insert`]: other nodes keep those.
    pub async fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(key)
        .bind(self.seal_meta(key, value))
        .execute(&mut *self.write().await?)
        .await?;
        self.read_cache
            .settled_meta
            .lock()
            .expect("meta cache lock")
            .remove(key);
        Ok(())
    }

    fn seal_meta(&self, key: &str, value: &str) -> String {
        if is_secret(key) {
            self.seal_value(&meta_aad(key), value)
        } else {
            value.to_string()
        }
    }

    fn open_meta(&self, key: &str, stored: String) -> Result<String> {
        if is_secret(key) {
            self.open_value(&meta_aad(key), stored)
        } else {
            Ok(stored)
        }
    }
}
