//! What the gateway and the server's pages may ask of identity's data. The
//! store itself stays inside this crate, so the rules that read it (what a
//! revoked or purged origin means, which client belongs to which pool)
//! live in one place.

use std::collections::HashSet;

use cognate_store::pools::{Client, Pool};
use cognate_store::StoreError;

use crate::Identity;

impl Identity {
    /// Changes whenever any origin is revoked through this store handle or
    /// another node's (caches of verified tokens compare it).
    pub fn revocation_epoch(&self) -> u64 {
        self.store.revocation_epoch()
    }

    /// Whether the sign-in `origin_jti` no longer vouches for its tokens:
    /// revoked, or purged once its refresh token expired.
    pub async fn origin_revoked(&self, origin_jti: &str) -> Result<bool, StoreError> {
        Ok(match self.store.origin(origin_jti).await? {
            Some(o) => o.revoked_ms.is_some(),
            None => true,
        })
    }

    /// Of these origins, the ones that still vouch for their tokens.
    pub async fn live_origins(
        &self,
        origin_jtis: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        self.store.live_origins(origin_jtis).await
    }

    /// Ends the sign-in `origin_jti`: every token descending from it is
    /// refused from now on (a cookie session's logout).
    pub async fn revoke_origin(&self, origin_jti: &str, now_ms: i64) -> Result<(), StoreError> {
        self.store
            .revoke_origin(origin_jti, now_ms)
            .await
            .map(|_| ())
    }

    pub async fn pool(&self, pool_id: &str) -> Result<Option<Pool>, StoreError> {
        self.store.pool(pool_id).await
    }

    pub async fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        self.store.client(client_id).await
    }

    /// The client a configuration names `key` in pool `pool_id`.
    pub async fn client_by_config_key(
        &self,
        pool_id: &str,
        key: &str,
    ) -> Result<Option<Client>, StoreError> {
        self.store.client_by_config_key(pool_id, key).await
    }
}
