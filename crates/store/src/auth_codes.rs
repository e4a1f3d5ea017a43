//! Authorization codes of the OAuth code flow: stored hashed, taken once.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub code_hash: String,
    pub pool_id: String,
    pub client_id: String,
    pub sub: String,
    pub redirect_uri: String,
    /// Space-separated granted scopes.
    pub scopes: String,
    pub nonce: Option<String>,
    /// PKCE S256 challenge, when the client sent one.
    pub code_challenge: Option<String>,
    /// Epoch seconds of the sign-in the code came from.
    pub auth_time: i64,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub consumed_ms: Option<i64>,
    pub origin_jti: Option<String>,
}

/// What taking a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// The code, now consumed by this call.
    Fresh(AuthCode),
    /// The code was used before: what it issued should be revoked.
    Replayed(AuthCode),
    Unknown,
}

const COLUMNS: &str =
    "code_hash, pool_id, client_id, sub, redirect_uri, scopes, nonce, code_challenge, \
    auth_time, created_ms, expires_ms, consumed_ms, origin_jti";

fn code_from(r: &AnyRow) -> Result<AuthCode> {
    Ok(AuthCode {
        code_hash: r.try_get("code_hash")?,
        pool_id: r.try_get("pool_id")?,
        client_id: r.try_get("client_id")?,
        sub: r.try_get("sub")?,
        redirect_uri: r.try_get("redirect_uri")?,
        scopes: r.try_get("scopes")?,
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        auth_time: r.try_get("auth_time")?,
        created_ms: r.try_get("created_ms")?,
        expires_ms: r.try_get("expires_ms")?,
        consumed_ms: r.try_get("consumed_ms")?,
        origin_jti: r.try_get("origin_jti")?,
    })
}

impl Store {
    pub async fn insert_auth_code(&self, c: &AuthCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_codes (code_hash, pool_id, client_id, sub, redirect_uri, scopes, nonce, code_challenge, \
             auth_time, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&c.code_hash)
        .bind(&c.pool_id)
        .bind(&c.client_id)
        .bind(&c.sub)
        .bind(&c.redirect_uri)
        .bind(&c.scopes)
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(c.auth_time)
        .bind(c.created_ms)
        .bind(c.expires_ms)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Takes a code: of concurrent takers exactly one gets it fresh, and
    /// the code records `origin_jti`, the sign-in its taker will issue, in
    /// the same write (so that a replay revokes what the code issued).
    pub async fn take_auth_code(&self, hash: &str, now_ms: i64, origin_jti: &str) -> Result<Taken> {
        let q = format!(
            "UPDATE auth_codes SET consumed_ms = $2, origin_jti = $3 \
             WHERE code_hash = $1 AND consumed_ms IS NULL RETURNING {COLUMNS}"
        );
        if let Some(r) = sqlx::query(&q)
            .bind(hash)
            .bind(now_ms)
            .bind(origin_jti)
            .fetch_optional(&mut *self.write().await?)
            .await?
        {
            return Ok(Taken::Fresh(code_from(&r)?));
        }
        let q = format!("SELECT {COLUMNS} FROM auth_codes WHERE code_hash = $1");
        Ok(
            match sqlx::query(&q)
                .bind(hash)
                .fetch_optional(&self.reader)
                .await?
            {
                Some(r) => Taken::Replayed(code_from(&r)?),
                None => Taken::Unknown,
            },
        )
    }

    /// Deletes codes that expired before `before_ms`.
    pub async fn purge_auth_codes(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM auth_codes WHERE expires_ms < $1")
            .bind(before_ms)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(done.rows_affected())
    }
}
