//! A pool's external identity providers.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{conflict, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub pool_id: String,
    pub name: String,
    /// `OIDC`, `SAML`, `Google`, `Facebook`, `SignInWithApple`, `LoginWithAmazon`.
    pub provider_type: String,
    /// ProviderDetails as given (client_id, authorize_scopes, ...).
    pub details: BTreeMap<String, String>,
    /// User pool attribute -> the provider's attribute.
    pub attribute_mapping: BTreeMap<String, String>,
    pub idp_identifiers: Vec<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

const COLUMNS: &str = "pool_id, name, provider_type, details, attribute_mapping, idp_identifiers, \
    created_ms, updated_ms";

fn provider_from(row: &AnyRow) -> Result<IdentityProvider> {
    fn parse<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T> {
        let text: String = row.try_get(col)?;
        serde_json::from_str(&text)
            .map_err(|_| StoreError::Corrupt(format!("identity provider {col}")))
    }
    Ok(IdentityProvider {
        pool_id: row.try_get("pool_id")?,
        name: row.try_get("name")?,
        provider_type: row.try_get("provider_type")?,
        details: parse(row, "details")?,
        attribute_mapping: parse(row, "attribute_mapping")?,
        idp_identifiers: parse(row, "idp_identifiers")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

fn text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("maps serialize")
}

impl Store {
    /// Inserts a provider; a provider of the same name is a conflict.
    pub async fn insert_provider(&self, p: &IdentityProvider) -> Result<()> {
        let q = format!(
            "INSERT INTO identity_providers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        sqlx::query(&q)
            .bind(&p.pool_id)
            .bind(&p.name)
            .bind(&p.provider_type)
            .bind(text(&p.details))
            .bind(text(&p.attribute_mapping))
            .bind(text(&p.idp_identifiers))
            .bind(p.created_ms)
            .bind(p.updated_ms)
            .execute(&mut *self.write().await?)
            .await
            .map_err(|e| conflict(e, "identity provider"))?;
        Ok(())
    }

    pub async fn update_provider(&self, p: &IdentityProvider) -> Result<()> {
        let done = sqlx::query(
            "UPDATE identity_providers SET details = $3, attribute_mapping = $4, idp_identifiers = $5, \
             updated_ms = $6 WHERE pool_id = $1 AND name = $2",
        )
        .bind(&p.pool_id)
        .bind(&p.name)
        .bind(text(&p.details))
        .bind(text(&p.attribute_mapping))
        .bind(text(&p.idp_identifiers))
        .bind(p.updated_ms)
        .execute(&mut *self.write().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("identity provider"));
        }
        Ok(())
    }

    pub async fn provider(&self, pool_id: &str, name: &str) -> Result<Option<IdentityProvider>> {
        let q =
            format!("SELECT {COLUMNS} FROM identity_providers WHERE pool_id = $1 AND name = $2");
        let row = sqlx::query(&q)
            .bind(pool_id)
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(provider_from).transpose()
    }

    /// Providers of a pool by name, after `after`, at most `limit`.
    pub async fn list_providers(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<IdentityProvider>> {
        let q = format!(
            "SELECT {COLUMNS} FROM identity_providers WHERE pool_id = $1 AND name > $2 ORDER BY name LIMIT $3"
        );
        let rows = sqlx::query(&q)
            .bind(pool_id)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(provider_from).collect()
    }

    /// Every provider of a pool, by name (a pool has few: Cognito allows
    /// 300 and each is small).
    pub async fn providers_of(&self, pool_id: &str) -> Result<Vec<IdentityProvider>> {
        let q =
            format!("SELECT {COLUMNS} FROM identity_providers WHERE pool_id = $1 ORDER BY name");
        let rows = sqlx::query(&q)
            .bind(pool_id)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(provider_from).collect()
    }

    /// The provider that lists `identifier` among its IdpIdentifiers.
    pub async fn provider_by_identifier(
        &self,
        pool_id: &str,
        identifier: &str,
    ) -> Result<Option<IdentityProvider>> {
        // Identifiers live in a JSON column: compared here.
        Ok(self
            .providers_of(pool_id)
            .await?
            .into_iter()
            .find(|p| p.idp_identifiers.iter().any(|i| i == identifier)))
    }

    pub async fn delete_provider(&self, pool_id: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM identity_providers WHERE pool_id = $1 AND name = $2")
            .bind(pool_id)
            .bind(name)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
