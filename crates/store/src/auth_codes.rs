//! Authorization codes of the OAuth code flow, by the hash of the code,
//! taken once. A sealed code (identity's sealed_code.rs) gets its row when
//! it is taken or burnt; a code stored when made (by earlier versions, or
//! for a grant too large to seal) gets it then and is taken by an update.

use std::sync::LazyLock;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::inline::Command;
use crate::tokens::{bind_values, origin_values, Origin};
use crate::{Backend, Result, Store};

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

    /// A code by its hash, taken or not.
    pub async fn auth_code(&self, hash: &str) -> Result<Option<AuthCode>> {
        static QUERY: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {COLUMNS} FROM auth_codes WHERE code_hash = $1"));
        match sqlx::query(&QUERY)
            .bind(hash)
            .fetch_optional(&self.reader)
            .await?
        {
            Some(r) => Ok(Some(code_from(&r)?)),
            None => Ok(None),
        }
    }

    /// Takes a code that was never stored (a sealed code, which carries
    /// its grant) and records the authentication it issues with its
    /// refresh token, all in one write: the code's row goes in consumed,
    /// by `origin.origin_jti`, at `origin.created_ms`. Of concurrent takers
    /// exactly one gets `true`; a code taken before gives `false` and
    /// nothing is written (its row says what the first taker issued).
    pub async fn insert_origin_taking_code(
        &self,
        origin: &Origin,
        refresh_hash: &str,
        code: &AuthCode,
    ) -> Result<bool> {
        const CODE: &str = "INSERT INTO auth_codes (code_hash, pool_id, client_id, sub, redirect_uri, scopes, nonce, \
             code_challenge, auth_time, created_ms, expires_ms, consumed_ms, origin_jti) \
             VALUES ($10, $20, $11, $12, $13, $14, $15, $16, $17, $18, $19, $7, $1) ON CONFLICT (code_hash) DO NOTHING";
        const ORIGIN: &str = "INSERT INTO token_origins (origin_jti, pool_id, client_id, sub, auth_time, scopes, created_ms, expires_ms) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8";
        static POSTGRES: LazyLock<String> = LazyLock::new(|| {
            // One statement: what a data-modifying CTE writes is seen by
            // the rest only through RETURNING.
            format!(
                "WITH c AS ({CODE} RETURNING code_hash), \
                 o AS ({ORIGIN} WHERE EXISTS (SELECT 1 FROM c) RETURNING origin_jti) \
                 INSERT INTO refresh_tokens (token_hash, origin_jti, created_ms, expires_ms) \
                 SELECT $9, origin_jti, $7, $8 FROM o"
            )
        });
        static SQLITE: LazyLock<Command> = LazyLock::new(|| {
            // changes(): the rows the statement before wrote; the row
            // the last one returns tells that the code was taken here.
            Command::new(vec![
                "BEGIN IMMEDIATE".into(),
                CODE.into(),
                format!("{ORIGIN} WHERE changes() = 1"),
                "INSERT INTO refresh_tokens (token_hash, origin_jti, created_ms, expires_ms) \
                 SELECT $9, $1, $7, $8 WHERE changes() = 1 RETURNING token_hash"
                    .into(),
                "COMMIT".into(),
            ])
        });
        use rusqlite::types::Value;
        let text = |t: &str| Value::Text(t.to_string());
        let mut values = origin_values(origin);
        values.extend([
            text(refresh_hash),
            text(&code.code_hash),
            text(&code.client_id),
            text(&code.sub),
            text(&code.redirect_uri),
            text(&code.scopes),
            code.nonce.as_deref().map_or(Value::Null, text),
            code.code_challenge.as_deref().map_or(Value::Null, text),
            Value::Integer(code.auth_time),
            Value::Integer(code.created_ms),
            Value::Integer(code.expires_ms),
            text(&code.pool_id),
        ]);
        Ok(match self.backend {
            Backend::Postgres => {
                bind_values(sqlx::query(&POSTGRES), values)
                    .execute(&mut *self.write().await?)
                    .await?
                    .rows_affected()
                    > 0
            }
            Backend::Sqlite => self.sqlite_values_command(&SQLITE, values).await? > 0,
        })
    }

    /// Burns a sealed code without issuing anything (an exchange that
    /// failed its checks): its row goes in consumed at `now_ms`. `false`
    /// when it was taken before (the row there is the first taker's).
    pub async fn burn_sealed_code(&self, code: &AuthCode, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO auth_codes (code_hash, pool_id, client_id, sub, redirect_uri, scopes, nonce, \
             code_challenge, auth_time, created_ms, expires_ms, consumed_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (code_hash) DO NOTHING",
        )
        .bind(&code.code_hash)
        .bind(&code.pool_id)
        .bind(&code.client_id)
        .bind(&code.sub)
        .bind(&code.redirect_uri)
        .bind(&code.scopes)
        .bind(&code.nonce)
        .bind(&code.code_challenge)
        .bind(code.auth_time)
        .bind(code.created_ms)
        .bind(code.expires_ms)
        .bind(now_ms)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(done.rows_affected() > 0)
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
