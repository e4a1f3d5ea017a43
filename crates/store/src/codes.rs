//! One-time codes (confirmation, password reset) and challenge sessions.
//! Both are stored as hashes only: a copy of the database reveals neither.

use sqlx::Row;

use crate::{Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub pool_id: String,
    pub sub: String,
    /// `signup`, `reset`, `verify:email`, ...
    pub purpose: String,
    pub code_hash: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub attempts: i64,
}

/// A challenge session between two steps of a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSession {
    pub session_hash: String,
    pub pool_id: String,
    pub client_id: String,
    pub sub: String,
    pub challenge: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// What the next step needs (JSON), if anything.
    pub payload: Option<String>,
}

fn session_from(r: &sqlx::any::AnyRow) -> Result<AuthSession> {
    Ok(AuthSession {
        session_hash: r.try_get("session_hash")?,
        pool_id: r.try_get("pool_id")?,
        client_id: r.try_get("client_id")?,
        sub: r.try_get("sub")?,
        challenge: r.try_get("challenge")?,
        created_ms: r.try_get("created_ms")?,
        expires_ms: r.try_get("expires_ms")?,
        payload: r.try_get("payload")?,
    })
}

impl Store {
    /// Stores a code, replacing an earlier one with the same purpose.
    pub async fn put_code(&self, code: &Code) -> Result<()> {
        let mut tx = self.begin_write().await?;
        Self::put_code_in(&mut tx, code).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn put_code_in(conn: &mut sqlx::AnyConnection, code: &Code) -> Result<()> {
        sqlx::query(
            "INSERT INTO codes (pool_id, sub, purpose, code_hash, created_ms, expires_ms, attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (pool_id, sub, purpose) DO UPDATE SET \
             code_hash = excluded.code_hash, created_ms = excluded.created_ms, \
             expires_ms = excluded.expires_ms, attempts = 0",
        )
        .bind(&code.pool_id)
        .bind(&code.sub)
        .bind(&code.purpose)
        .bind(&code.code_hash)
        .bind(code.created_ms)
        .bind(code.expires_ms)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub async fn code(&self, pool_id: &str, sub: &str, purpose: &str) -> Result<Option<Code>> {
        let row = sqlx::query(
            "SELECT pool_id, sub, purpose, code_hash, created_ms, expires_ms, attempts FROM codes \
             WHERE pool_id = $1 AND sub = $2 AND purpose = $3",
        )
        .bind(pool_id)
        .bind(sub)
        .bind(purpose)
        .fetch_optional(&self.reader)
        .await?;
        Ok(match row {
            None => None,
            Some(r) => Some(Code {
                pool_id: r.try_get("pool_id")?,
                sub: r.try_get("sub")?,
                purpose: r.try_get("purpose")?,
                code_hash: r.try_get("code_hash")?,
                created_ms: r.try_get("created_ms")?,
                expires_ms: r.try_get("expires_ms")?,
                attempts: r.try_get("attempts")?,
            }),
        })
    }

    /// Counts a wrong guess of a code; returns the number of wrong guesses.
    pub async fn bump_code_attempts(&self, pool_id: &str, sub: &str, purpose: &str) -> Result<i64> {
        let row = sqlx::query(
            "UPDATE codes SET attempts = attempts + 1 WHERE pool_id = $1 AND sub = $2 AND purpose = $3 \
             RETURNING attempts",
        )
        .bind(pool_id)
        .bind(sub)
        .bind(purpose)
        .fetch_optional(&mut *self.write().await?)
        .await?;
        Ok(match row {
            Some(r) => r.try_get("attempts")?,
            None => 0,
        })
    }

    pub async fn delete_code(&self, pool_id: &str, sub: &str, purpose: &str) -> Result<()> {
        sqlx::query("DELETE FROM codes WHERE pool_id = $1 AND sub = $2 AND purpose = $3")
            .bind(pool_id)
            .bind(sub)
            .bind(purpose)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }

    pub async fn insert_auth_session(&self, s: &AuthSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_sessions (session_hash, pool_id, client_id, sub, challenge, created_ms, expires_ms, payload) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.session_hash)
        .bind(&s.pool_id)
        .bind(&s.client_id)
        .bind(&s.sub)
        .bind(&s.challenge)
        .bind(s.created_ms)
        .bind(s.expires_ms)
        .bind(&s.payload)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Reads a live session without taking it.
    pub async fn auth_session(&self, hash: &str, now_ms: i64) -> Result<Option<AuthSession>> {
        let row = sqlx::query(
            "SELECT session_hash, pool_id, client_id, sub, challenge, created_ms, expires_ms, payload \
             FROM auth_sessions WHERE session_hash = $1 AND consumed_ms IS NULL AND expires_ms > $2",
        )
        .bind(hash)
        .bind(now_ms)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(session_from).transpose()
    }

    /// Takes a session for use: returns it once, if unexpired, and marks it
    /// consumed in the same statement, so two concurrent answers cannot both
    /// use it.
    pub async fn take_auth_session(&self, hash: &str, now_ms: i64) -> Result<Option<AuthSession>> {
        let row = sqlx::query(
            "UPDATE auth_sessions SET consumed_ms = $2 WHERE session_hash = $1 \
             AND consumed_ms IS NULL AND expires_ms > $2 \
             RETURNING session_hash, pool_id, client_id, sub, challenge, created_ms, expires_ms, payload",
        )
        .bind(hash)
        .bind(now_ms)
        .fetch_optional(&mut *self.write().await?)
        .await?;
        row.as_ref().map(session_from).transpose()
    }

    /// Records `key` (a hash) as used until `expires_ms`: true the first
    /// time, false when it was already there (a replay). One statement, so
    /// two nodes racing with the same key cannot both win.
    pub async fn claim_once(
        &self,
        key: &str,
        pool_id: &str,
        kind: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO auth_sessions (session_hash, pool_id, client_id, sub, challenge, created_ms, expires_ms, payload) \
             VALUES ($1, $2, '', '', $3, $4, $5, NULL) ON CONFLICT (session_hash) DO NOTHING",
        )
        .bind(key)
        .bind(pool_id)
        .bind(kind)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes expired sessions and codes; returns how many rows went.
    pub async fn purge_expired(&self, now_ms: i64) -> Result<u64> {
        let a = sqlx::query("DELETE FROM auth_sessions WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&mut *self.write().await?)
            .await?;
        let b = sqlx::query("DELETE FROM codes WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }
}
