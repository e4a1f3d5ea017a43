//! External identities linked to native users (AdminLinkProviderForUser).

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{conflict, Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderLink {
    pub pool_id: String,
    pub provider_name: String,
    /// The provider's subject (`Cognito_Subject`).
    pub subject: String,
    /// The user the identity signs in as.
    pub sub: String,
    pub created_ms: i64,
}

fn link_from(row: &AnyRow) -> Result<ProviderLink> {
    Ok(ProviderLink {
        pool_id: row.try_get("pool_id")?,
        provider_name: row.try_get("provider_name")?,
        subject: row.try_get("subject")?,
        sub: row.try_get("sub")?,
        created_ms: row.try_get("created_ms")?,
    })
}

impl Store {
    /// Links an identity to a user; an identity already linked is a conflict.
    pub async fn insert_link(&self, l: &ProviderLink) -> Result<()> {
        sqlx::query(
            "INSERT INTO provider_links (pool_id, provider_name, subject, sub, created_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&l.pool_id)
        .bind(&l.provider_name)
        .bind(&l.subject)
        .bind(&l.sub)
        .bind(l.created_ms)
        .execute(&mut *self.write().await?)
        .await
        .map_err(|e| conflict(e, "provider link"))?;
        Ok(())
    }

    pub async fn link(
        &self,
        pool_id: &str,
        provider_name: &str,
        subject: &str,
    ) -> Result<Option<ProviderLink>> {
        let row = sqlx::query(
            "SELECT pool_id, provider_name, subject, sub, created_ms FROM provider_links \
             WHERE pool_id = $1 AND provider_name = $2 AND subject = $3",
        )
        .bind(pool_id)
        .bind(provider_name)
        .bind(subject)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(link_from).transpose()
    }

    /// The identities linked to a user, oldest first.
    pub async fn links_of(&self, pool_id: &str, sub: &str) -> Result<Vec<ProviderLink>> {
        let rows = sqlx::query(
            "SELECT pool_id, provider_name, subject, sub, created_ms FROM provider_links \
             WHERE pool_id = $1 AND sub = $2 ORDER BY created_ms, provider_name, subject",
        )
        .bind(pool_id)
        .bind(sub)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(link_from).collect()
    }

    /// Removes a link; whether there was one.
    pub async fn delete_link(
        &self,
        pool_id: &str,
        provider_name: &str,
        subject: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM provider_links WHERE pool_id = $1 AND provider_name = $2 AND subject = $3",
        )
        .bind(pool_id)
        .bind(provider_name)
        .bind(subject)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
