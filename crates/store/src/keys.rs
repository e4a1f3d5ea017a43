//! Signing keys of the pools.

use sqlx::Row;

use crate::{conflict, Result, Store};

/// Where a key's sealed private part belongs (seal.rs).
pub(crate) fn key_aad(kid: &str) -> String {
    format!("signing_keys.private_key:{kid}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub pool_id: String,
    /// `id` or `access`: ID and access tokens are signed by different keys.
    pub purpose: String,
    /// PKCS#8 DER, base64.
    pub private_key: String,
    pub created_ms: i64,
    /// When a newer key took over; the key stays published until the last
    /// token it signed has expired.
    pub retired_ms: Option<i64>,
}

impl Store {
    pub async fn insert_key(&self, key: &SigningKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, pool_id, purpose, private_key, created_ms, retired_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.kid)
        .bind(&key.pool_id)
        .bind(&key.purpose)
        .bind(self.seal_value(&key_aad(&key.kid), &key.private_key))
        .bind(key.created_ms)
        .bind(key.retired_ms)
        .execute(&mut *self.write().await?)
        .await
        .map_err(|e| conflict(e, "key"))?;
        Ok(())
    }

    /// Inserts new keys and retires the ones they replace, in one transaction.
    pub async fn rotate_keys(&self, pool_id: &str, new: &[SigningKey], now_ms: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for key in new {
            sqlx::query(
                "UPDATE signing_keys SET retired_ms = $3 WHERE pool_id = $1 AND purpose = $2 AND retired_ms IS NULL",
            )
            .bind(pool_id)
            .bind(&key.purpose)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, pool_id, purpose, private_key, created_ms, retired_ms) \
                 VALUES ($1, $2, $3, $4, $5, NULL)",
            )
            .bind(&key.kid)
            .bind(pool_id)
            .bind(&key.purpose)
            .bind(self.seal_value(&key_aad(&key.kid), &key.private_key))
            .bind(key.created_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// All keys of a pool, newest first.
    pub async fn keys(&self, pool_id: &str) -> Result<Vec<SigningKey>> {
        let rows = sqlx::query(
            "SELECT kid, pool_id, purpose, private_key, created_ms, retired_ms FROM signing_keys \
             WHERE pool_id = $1 ORDER BY created_ms DESC, kid",
        )
        .bind(pool_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let kid: String = r.try_get("kid")?;
                Ok(SigningKey {
                    private_key: self.open_value(&key_aad(&kid), r.try_get("private_key")?)?,
                    kid,
                    pool_id: r.try_get("pool_id")?,
                    purpose: r.try_get("purpose")?,
                    created_ms: r.try_get("created_ms")?,
                    retired_ms: r.try_get("retired_ms")?,
                })
            })
            .collect()
    }

    /// Deletes keys of every pool retired before `before_ms`.
    pub async fn purge_all_retired_keys(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE retired_ms IS NOT NULL AND retired_ms < $1",
        )
        .bind(before_ms)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes retired keys retired before `before_ms`.
    pub async fn purge_retired_keys(&self, pool_id: &str, before_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE pool_id = $1 AND retired_ms IS NOT NULL AND retired_ms < $2",
        )
        .bind(pool_id)
        .bind(before_ms)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(done.rows_affected())
    }
}
