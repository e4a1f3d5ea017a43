//! Token origins (one per authentication) and refresh tokens.
//!
//! Every token issued by a sign-in carries the sign-in's `origin_jti`; the
//! origin row is what revocation marks. Refresh tokens are stored as hashes
//! and point at their origin, so revoking the origin kills the refresh token
//! and every access token issued from it.

use sqlx::Row;

use std::sync::LazyLock;

use crate::inline::Columns;
use crate::users::{
    user_and_groups, User, UserAndGroups, GROUPS_JOIN, GROUPS_ORDER, USER_AND_GROUP_COLUMNS,
};
use rusqlite::named_params;
use sqlx::Executor;

use crate::{Backend, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub origin_jti: String,
    pub pool_id: String,
    pub client_id: String,
    pub sub: String,
    /// Epoch seconds of the authentication.
    pub auth_time: i64,
    /// Space-separated scopes granted at the authentication.
    pub scopes: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// A refresh token as found by its hash, with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// Set when rotation replaced this token by a newer one.
    pub replaced_ms: Option<i64>,
    pub origin: Origin,
}

/// A refresh token with what a refresh needs besides: the user it was
/// issued to (None when deleted since) and the user's group names, in
/// the order tokens list them (precedence, then name).
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshGrant {
    pub token: RefreshToken,
    pub user: Option<User>,
    pub groups: Vec<String>,
}

impl RefreshGrant {
    fn new(token: RefreshToken, user: Option<(User, Vec<String>)>) -> RefreshGrant {
        let (user, groups) = match user {
            Some((u, g)) => (Some(u), g),
            None => (None, Vec::new()),
        };
        RefreshGrant {
            token,
            user,
            groups,
        }
    }
}

fn origin_from<R: Columns>(row: &R) -> Result<Origin> {
    Ok(Origin {
        origin_jti: row.cell("origin_jti")?,
        pool_id: row.cell("o_pool_id")?,
        client_id: row.cell("client_id")?,
        sub: row.cell("o_sub")?,
        auth_time: row.cell("auth_time")?,
        scopes: row.cell("scopes")?,
        created_ms: row.cell("o_created_ms")?,
        expires_ms: row.cell("o_expires_ms")?,
        revoked_ms: row.cell("revoked_ms")?,
    })
}

/// A refresh token from a row of [`TOKEN_COLUMNS`] and [`ORIGIN_COLUMNS`].
fn refresh_token_from<R: Columns>(row: &R) -> Result<RefreshToken> {
    Ok(RefreshToken {
        token_hash: row.cell("token_hash")?,
        created_ms: row.cell("r_created_ms")?,
        expires_ms: row.cell("r_expires_ms")?,
        replaced_ms: row.cell("replaced_ms")?,
        origin: origin_from(row)?,
    })
}

/// A refresh token's own columns (`refresh_tokens r`); its origin's are
/// [`ORIGIN_COLUMNS`].
const TOKEN_COLUMNS: &str =
    "r.token_hash, r.created_ms AS r_created_ms, r.expires_ms AS r_expires_ms, r.replaced_ms";

const ORIGIN_COLUMNS: &str =
    "o.origin_jti, o.pool_id AS o_pool_id, o.client_id, o.sub AS o_sub, o.auth_time, o.scopes, \
    o.created_ms AS o_created_ms, o.expires_ms AS o_expires_ms, o.revoked_ms";

impl Store {
    /// Records an authentication and, atomically with it, its refresh
    /// token (`refresh_hash`, when one is issued), in one trip to the
    /// database: a sign-in's writes hold the write turn (SQLite's one
    /// writer), and a transaction of four statements held it across
    /// four trips, each waiting for this task to be polled again.
    pub async fn insert_origin(&self, origin: &Origin, refresh_hash: Option<&str>) -> Result<()> {
        const ORIGIN: &str = "INSERT INTO token_origins (origin_jti, pool_id, client_id, sub, auth_time, scopes, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        let bound = |sql| bind_origin(sqlx::query(sql), origin);
        let Some(hash) = refresh_hash else {
            bound(ORIGIN).execute(&mut *self.write().await?).await?;
            return Ok(());
        };
        match self.backend {
            Backend::Postgres => {
                // One statement, so atomic: the origin, then its token.
                static BOTH: LazyLock<String> = LazyLock::new(|| {
                    format!(
                        "WITH o AS ({ORIGIN} RETURNING origin_jti) \
                         INSERT INTO refresh_tokens (token_hash, origin_jti, created_ms, expires_ms) \
                         SELECT $9, origin_jti, $7, $8 FROM o"
                    )
                });
                bound(&BOTH)
                    .bind(hash.to_string())
                    .execute(&mut *self.write().await?)
                    .await?;
            }
            Backend::Sqlite => {
                // The transaction as one command (sqlite_command).
                static BOTH: LazyLock<String> = LazyLock::new(|| {
                    format!(
                        "BEGIN IMMEDIATE; {ORIGIN}; \
                         INSERT INTO refresh_tokens (token_hash, origin_jti, created_ms, expires_ms) \
                         VALUES ($9, $1, $7, $8); COMMIT"
                    )
                });
                self.sqlite_command(bound(&BOTH).bind(hash.to_string()))
                    .await?;
            }
        }
        Ok(())
    }

    /// Runs a command of several statements (a `BEGIN IMMEDIATE; ...;
    /// COMMIT` transaction) on SQLite's writer as one trip to the
    /// connection's thread; returns how many rows its statements returned
    /// (not the rows they changed: sqlx adds up SQLite's change count
    /// after every statement, and BEGIN reports the count of the
    /// connection's last write, whatever it was).
    /// Spawned, so that a caller that goes away cannot stop it between
    /// BEGIN and COMMIT; a statement that fails ends the command, and the
    /// transaction is rolled back on the same connection before it goes
    /// back to the pool.
    pub(crate) async fn sqlite_command(
        &self,
        query: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments<'static>>,
    ) -> Result<usize> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut conn = store.write().await?;
            let done = query.fetch_all(&mut *conn).await;
            if done.is_err() {
                // Nothing to roll back if BEGIN itself failed.
                let _ = conn.execute("ROLLBACK").await;
            }
            done.map(|rows| rows.len()).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(e))))?
    }

    /// [`Store::sqlite_command`] of `command` with `values` for its `$1`,
    /// `$2`, ...: on the caller's thread (inline.rs) while holding the
    /// write turn, and through the pool when that misses. Not
    /// interruptible between BEGIN and COMMIT either: nothing between the
    /// turn and the answer waits.
    pub(crate) async fn sqlite_values_command(
        &self,
        command: &'static crate::inline::Command,
        values: Vec<rusqlite::types::Value>,
    ) -> Result<usize> {
        if let Some(inline) = &self.inline {
            let turn = self.take_turn().await?;
            let done = inline.command(command, &values);
            drop(turn);
            // The next writer was woken into this thread's next-task
            // slot, which no other worker may take: let it run now rather
            // than after whatever this task does next (two signatures).
            tokio::task::yield_now().await;
            if let Some(returned) = done {
                return Ok(returned);
            }
        }
        self.sqlite_command(bind_values(sqlx::query(&command.text), values))
            .await
    }

    pub async fn refresh_token(&self, hash: &str) -> Result<Option<RefreshToken>> {
        let q = format!(
            "SELECT {TOKEN_COLUMNS}, {ORIGIN_COLUMNS} \
             FROM refresh_tokens r JOIN token_origins o ON o.origin_jti = r.origin_jti \
             WHERE r.token_hash = $1"
        );
        let row = sqlx::query(&q)
            .bind(hash)
            .fetch_optional(&self.reader)
            .await?;
        Ok(match row {
            None => None,
            Some(r) => Some(refresh_token_from(&r)?),
        })
    }

    /// A refresh token with its origin, its user and the user's groups, in
    /// one query: a refresh reads all four, and on PostgreSQL each round
    /// trip costs about as much as the query itself. One row per group
    /// (the user's columns repeat; users have few groups).
    pub async fn refresh_grant(&self, hash: &str) -> Result<Option<RefreshGrant>> {
        static QUERY: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {TOKEN_COLUMNS}, {ORIGIN_COLUMNS}, {} \
                 FROM refresh_tokens r JOIN token_origins o ON o.origin_jti = r.origin_jti \
                 LEFT JOIN users u ON u.pool_id = o.pool_id AND u.sub = o.sub {GROUPS_JOIN} \
                 WHERE r.token_hash = $1 {GROUPS_ORDER}",
                *USER_AND_GROUP_COLUMNS
            )
        });
        let inline = self.read_inline(|c| {
            let mut statement = c.prepare_cached(&QUERY)?;
            let mut rows = statement.query(named_params! {"$1": hash})?;
            let mut token = None;
            let mut found = UserAndGroups::default();
            while let Some(row) = rows.next()? {
                if token.is_none() {
                    token = Some(refresh_token_from(row)?);
                }
                found.push(row)?;
            }
            Ok(token.map(|t| RefreshGrant::new(t, found.finish())))
        });
        if let Some(grant) = inline {
            return Ok(grant);
        }
        let rows = self
            .fetch_all_hot(|| sqlx::query(&QUERY).bind(hash))
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let token = refresh_token_from(first)?;
        Ok(Some(RefreshGrant::new(token, user_and_groups(&rows)?)))
    }

    /// Replaces a refresh token by a new one of the same origin (rotation).
    /// Returns false, writing nothing, when the old token was already
    /// replaced: only one of two concurrent rotations wins.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE refresh_tokens SET replaced_ms = $2 WHERE token_hash = $1 AND replaced_ms IS NULL \
             RETURNING origin_jti",
        )
        .bind(old_hash)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let origin: String = row.try_get("origin_jti")?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, origin_jti, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(new_hash)
        .bind(&origin)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The origin of a token, to check whether it was revoked.
    pub async fn origin(&self, origin_jti: &str) -> Result<Option<Origin>> {
        let q = format!("SELECT {ORIGIN_COLUMNS} FROM token_origins o WHERE o.origin_jti = $1");
        let row = sqlx::query(&q)
            .bind(origin_jti)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(origin_from).transpose()
    }

    /// Of the origins named, those still valid (present and not revoked):
    /// one query per 500 names, for checking many open sessions at once.
    pub async fn live_origins(
        &self,
        origin_jtis: &[String],
    ) -> Result<std::collections::HashSet<String>> {
        let mut live = std::collections::HashSet::new();
        for chunk in origin_jtis.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let q = format!(
                "SELECT origin_jti FROM token_origins WHERE revoked_ms IS NULL AND origin_jti IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query(&q);
            for jti in chunk {
                query = query.bind(jti);
            }
            for row in query.fetch_all(&self.reader).await? {
                live.insert(row.try_get::<String, _>("origin_jti")?);
            }
        }
        Ok(live)
    }

    /// Revokes one authentication and everything issued from it.
    pub async fn revoke_origin(&self, origin_jti: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE token_origins SET revoked_ms = $2 WHERE origin_jti = $1 AND revoked_ms IS NULL",
        )
        .bind(origin_jti)
        .bind(now_ms)
        .execute(&mut *self.write().await?)
        .await?;
        self.note_revocation();
        Ok(done.rows_affected() > 0)
    }

    /// Revokes every authentication of a user (global sign-out).
    pub async fn revoke_user_origins(&self, pool_id: &str, sub: &str, now_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE token_origins SET revoked_ms = $3 WHERE pool_id = $1 AND sub = $2 AND revoked_ms IS NULL",
        )
        .bind(pool_id)
        .bind(sub)
        .bind(now_ms)
        .execute(&mut *self.write().await?)
        .await?;
        self.note_revocation();
        Ok(done.rows_affected())
    }

    /// Deletes origins (and their refresh tokens) that expired before
    /// `before_ms`.
    pub async fn purge_origins(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM token_origins WHERE expires_ms < $1")
            .bind(before_ms)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(done.rows_affected())
    }
}

/// `origin`'s columns as parameters `$1`-`$8`, in the order of
/// `token_origins (origin_jti, pool_id, client_id, sub, auth_time, scopes,
/// created_ms, expires_ms)`.
pub(crate) fn bind_origin<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    origin: &Origin,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    bind_values(q, origin_values(origin))
}

/// An origin's values for `$1` to `$8`, in [`bind_origin`]'s order.
pub(crate) fn origin_values(origin: &Origin) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value;
    vec![
        Value::Text(origin.origin_jti.clone()),
        Value::Text(origin.pool_id.clone()),
        Value::Text(origin.client_id.clone()),
        Value::Text(origin.sub.clone()),
        Value::Integer(origin.auth_time),
        Value::Text(origin.scopes.clone()),
        Value::Integer(origin.created_ms),
        Value::Integer(origin.expires_ms),
    ]
}

/// Binds `values` in order (NULL as text: every nullable value the store
/// binds this way is text).
pub(crate) fn bind_values<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    values: Vec<rusqlite::types::Value>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    use rusqlite::types::Value;
    for v in values {
        q = match v {
            Value::Null => q.bind(None::<String>),
            Value::Integer(i) => q.bind(i),
            Value::Real(r) => q.bind(r),
            Value::Text(t) => q.bind(t),
            Value::Blob(b) => q.bind(b),
        };
    }
    q
}
