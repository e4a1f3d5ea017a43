//! Users of a pool.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use sqlx::any::AnyRow;
use sqlx::Row;

use rusqlite::named_params;

use crate::codes::Code;
use crate::inline::Columns;
use crate::{conflict, json, to_json, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub pool_id: String,
    pub sub: String,
    /// The username as given at creation.
    pub username: String,
    /// The form the pool compares usernames in (lowercased when the pool is
    /// case-insensitive); unique in the pool.
    pub username_key: String,
    /// Lookup keys of the sign-in aliases the pool allows; unique in the pool
    /// when set.
    pub email_key: Option<String>,
    pub phone_key: Option<String>,
    pub preferred_username_key: Option<String>,
    pub status: String,
    pub enabled: bool,
    /// Attribute name -> value, as Cognito lists them (strings), without `sub`.
    pub attributes: BTreeMap<String, String>,
    /// New values of attributes that wait for verification before they
    /// replace the ones above (AttributesRequireVerificationBeforeUpdate).
    pub pending_attributes: BTreeMap<String, String>,
    pub password_hash: Option<String>,
    pub password_set_ms: Option<i64>,
    /// SRP salt and verifier (hex), set with every password.
    pub srp_salt: Option<String>,
    pub srp_verifier: Option<String>,
    /// TOTP secret (hex) associated but not yet verified by a code.
    pub totp_pending: Option<String>,
    /// Verified TOTP secret (hex).
    pub totp_secret: Option<String>,
    /// Whether software-token MFA is on for the user.
    pub totp_enabled: bool,
    /// Whether email one-time codes are on as a second factor.
    pub email_mfa_enabled: bool,
    /// `SOFTWARE_TOKEN_MFA` or `EMAIL_OTP` when several factors are on.
    pub mfa_preferred: Option<String>,
    pub failed_attempts: i64,
    pub last_failure_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// An attribute ListUsers can filter on, with the column behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterColumn {
    Username,
    Email,
    PhoneNumber,
    Name,
    GivenName,
    FamilyName,
    PreferredUsername,
    Status,
    Enabled,
    Sub,
}

impl FilterColumn {
    fn column(self) -> &'static str {
        match self {
            FilterColumn::Username => "username",
            FilterColumn::Email => "attr_email",
            FilterColumn::PhoneNumber => "attr_phone_number",
            FilterColumn::Name => "attr_name",
            FilterColumn::GivenName => "attr_given_name",
            FilterColumn::FamilyName => "attr_family_name",
            FilterColumn::PreferredUsername => "attr_preferred_username",
            FilterColumn::Status => "status",
            FilterColumn::Enabled => "enabled",
            FilterColumn::Sub => "sub",
        }
    }
}

/// `column = value` or, with `prefix`, `column ^= value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFilter {
    pub column: FilterColumn,
    pub prefix: bool,
    pub value: String,
}

const USER_COLUMNS: &str = "pool_id, sub, username, username_key, email_key, phone_key, \
    preferred_username_key, status, enabled, attributes, password_hash, password_set_ms, \
    failed_attempts, last_failure_ms, created_ms, updated_ms, srp_salt, srp_verifier, \
    totp_pending, totp_secret, totp_enabled, email_mfa_enabled, mfa_preferred, pending_attributes";

fn user_from<R: Columns>(row: &R) -> Result<User> {
    Ok(User {
        pool_id: row.cell("pool_id")?,
        sub: row.cell("sub")?,
        username: row.cell("username")?,
        username_key: row.cell("username_key")?,
        email_key: row.cell("email_key")?,
        phone_key: row.cell("phone_key")?,
        preferred_username_key: row.cell("preferred_username_key")?,
        status: row.cell("status")?,
        enabled: crate::flag(row, "enabled")?,
        attributes: json(&row.cell::<String>("attributes")?)?,
        pending_attributes: json(&row.cell::<String>("pending_attributes")?)?,
        password_hash: row.cell("password_hash")?,
        password_set_ms: row.cell("password_set_ms")?,
        failed_attempts: row.cell("failed_attempts")?,
        last_failure_ms: row.cell("last_failure_ms")?,
        created_ms: row.cell("created_ms")?,
        updated_ms: row.cell("updated_ms")?,
        srp_salt: row.cell("srp_salt")?,
        srp_verifier: row.cell("srp_verifier")?,
        totp_pending: row.cell("totp_pending")?,
        totp_secret: row.cell("totp_secret")?,
        totp_enabled: crate::flag(row, "totp_enabled")?,
        email_mfa_enabled: crate::flag(row, "email_mfa_enabled")?,
        mfa_preferred: row.cell("mfa_preferred")?,
    })
}

/// A user's columns (of `users u`, under their own names) and one of the
/// user's group names as `g_name`, for a query that joins `users u` with
/// [`GROUPS_JOIN`] and orders by [`GROUPS_ORDER`]: one row per group, read
/// by [`user_and_groups`]. Other tables in such a query alias their
/// columns of the same names.
pub(crate) static USER_AND_GROUP_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let mut columns: Vec<String> = USER_COLUMNS
        .split(',')
        .map(|c| format!("u.{}", c.trim()))
        .collect();
    columns.push("g.name AS g_name".into());
    columns.join(", ")
});

/// The user's memberships and their groups, joined to `users u`.
pub(crate) const GROUPS_JOIN: &str =
    "LEFT JOIN group_members m ON m.pool_id = u.pool_id AND m.sub = u.sub \
     LEFT JOIN user_groups g ON g.pool_id = m.pool_id AND g.name = m.group_name";

/// Groups in the order tokens list them (as [`Store::groups_of`]).
pub(crate) const GROUPS_ORDER: &str =
    "ORDER BY CASE WHEN g.precedence IS NULL THEN 1 ELSE 0 END, g.precedence, g.name";

/// The user and group names of the rows of a [`USER_AND_GROUP_COLUMNS`]
/// query, gathered a row at a time; none when no row has a user (none
/// found, or a left join that found none).
#[derive(Default)]
pub(crate) struct UserAndGroups {
    seen_first: bool,
    user: Option<User>,
    groups: Vec<String>,
}

impl UserAndGroups {
    pub(crate) fn push<R: Columns>(&mut self, row: &R) -> Result<()> {
        if !self.seen_first {
            self.seen_first = true;
            if row.cell::<Option<String>>("username")?.is_some() {
                self.user = Some(user_from(row)?);
            }
        }
        if self.user.is_some() {
            if let Some(name) = row.cell::<Option<String>>("g_name")? {
                self.groups.push(name);
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Option<(User, Vec<String>)> {
        self.user.map(|u| (u, self.groups))
    }
}

/// [`UserAndGroups`] of all the rows.
pub(crate) fn user_and_groups(rows: &[AnyRow]) -> Result<Option<(User, Vec<String>)>> {
    let mut found = UserAndGroups::default();
    for row in rows {
        found.push(row)?;
    }
    Ok(found.finish())
}

/// Which uniqueness rule a failed user write broke, from the database's
/// message (SQLite names the columns, PostgreSQL the constraint).
fn user_conflict(e: sqlx::Error) -> StoreError {
    let what = match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let m = format!("{} {}", db.message(), db.constraint().unwrap_or(""));
            if m.contains("email_key") {
                "email"
            } else if m.contains("phone_key") {
                "phone_number"
            } else if m.contains("preferred_username_key") {
                "preferred_username"
            } else if m.contains("sub") {
                "sub"
            } else {
                "username"
            }
        }
        _ => return conflict(e, "user"),
    };
    StoreError::Conflict(what)
}

fn attr<'a>(u: &'a User, name: &str) -> Option<&'a str> {
    u.attributes.get(name).map(String::as_str)
}

impl Store {
    /// Inserts a user and, in the same transaction, a one-time code for it.
    pub async fn insert_user(&self, user: &User, code: Option<&Code>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let q = format!(
            "INSERT INTO users ({USER_COLUMNS}, attr_email, attr_phone_number, attr_name, \
             attr_given_name, attr_family_name, attr_preferred_username) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)"
        );
        sqlx::query(&q)
            .bind(&user.pool_id)
            .bind(&user.sub)
            .bind(&user.username)
            .bind(&user.username_key)
            .bind(&user.email_key)
            .bind(&user.phone_key)
            .bind(&user.preferred_username_key)
            .bind(&user.status)
            .bind(user.enabled as i64)
            .bind(to_json(&user.attributes))
            .bind(&user.password_hash)
            .bind(user.password_set_ms)
            .bind(user.failed_attempts)
            .bind(user.last_failure_ms)
            .bind(user.created_ms)
            .bind(user.updated_ms)
            .bind(&user.srp_salt)
            .bind(&user.srp_verifier)
            .bind(&user.totp_pending)
            .bind(&user.totp_secret)
            .bind(user.totp_enabled as i64)
            .bind(user.email_mfa_enabled as i64)
            .bind(&user.mfa_preferred)
            .bind(to_json(&user.pending_attributes))
            .bind(attr(user, "email"))
            .bind(attr(user, "phone_number"))
            .bind(attr(user, "name"))
            .bind(attr(user, "given_name"))
            .bind(attr(user, "family_name"))
            .bind(attr(user, "preferred_username"))
            .execute(&mut *tx)
            .await
            .map_err(user_conflict)?;
        if let Some(code) = code {
            Self::put_code_in(&mut tx, code).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes every mutable field of a user (not its username or sub). With
    /// `consume`, deletes that one-time code in the same transaction; with
    /// `code`, stores that new code in it.
    pub async fn update_user(
        &self,
        user: &User,
        consume: Option<&str>,
        code: Option<&Code>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET email_key = $3, phone_key = $4, preferred_username_key = $5, \
             status = $6, enabled = $7, attributes = $8, password_hash = $9, password_set_ms = $10, \
             failed_attempts = $11, last_failure_ms = $12, updated_ms = $13, attr_email = $14, \
             attr_phone_number = $15, attr_name = $16, attr_given_name = $17, attr_family_name = $18, \
             attr_preferred_username = $19, srp_salt = $20, srp_verifier = $21, totp_pending = $22, \
             totp_secret = $23, totp_enabled = $24, email_mfa_enabled = $25, mfa_preferred = $26, \
             pending_attributes = $27 \
             WHERE pool_id = $1 AND sub = $2",
        )
        .bind(&user.pool_id)
        .bind(&user.sub)
        .bind(&user.email_key)
        .bind(&user.phone_key)
        .bind(&user.preferred_username_key)
        .bind(&user.status)
        .bind(user.enabled as i64)
        .bind(to_json(&user.attributes))
        .bind(&user.password_hash)
        .bind(user.password_set_ms)
        .bind(user.failed_attempts)
        .bind(user.last_failure_ms)
        .bind(user.updated_ms)
        .bind(attr(user, "email"))
        .bind(attr(user, "phone_number"))
        .bind(attr(user, "name"))
        .bind(attr(user, "given_name"))
        .bind(attr(user, "family_name"))
        .bind(attr(user, "preferred_username"))
        .bind(&user.srp_salt)
        .bind(&user.srp_verifier)
        .bind(&user.totp_pending)
        .bind(&user.totp_secret)
        .bind(user.totp_enabled as i64)
        .bind(user.email_mfa_enabled as i64)
        .bind(&user.mfa_preferred)
        .bind(to_json(&user.pending_attributes))
        .execute(&mut *tx)
        .await
        .map_err(user_conflict)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        if let Some(purpose) = consume {
            sqlx::query("DELETE FROM codes WHERE pool_id = $1 AND sub = $2 AND purpose = $3")
                .bind(&user.pool_id)
                .bind(&user.sub)
                .bind(purpose)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(code) = code {
            Self::put_code_in(&mut tx, code).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn user_by_username_key(&self, pool_id: &str, key: &str) -> Result<Option<User>> {
        self.user_where("username_key", pool_id, key).await
    }

    pub async fn user_by_sub(&self, pool_id: &str, sub: &str) -> Result<Option<User>> {
        self.user_where("sub", pool_id, sub).await
    }

    /// A user with the names of the user's groups (in token order), in
    /// one query.
    pub async fn user_with_groups(
        &self,
        pool_id: &str,
        sub: &str,
    ) -> Result<Option<(User, Vec<String>)>> {
        static QUERY: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {} FROM users u {GROUPS_JOIN} WHERE u.pool_id = $1 AND u.sub = $2 {GROUPS_ORDER}",
                *USER_AND_GROUP_COLUMNS
            )
        });
        let inline = self.read_inline(|c| {
            let mut statement = c.prepare_cached(&QUERY)?;
            let mut rows = statement.query(named_params! {"$1": pool_id, "$2": sub})?;
            let mut found = UserAndGroups::default();
            while let Some(row) = rows.next()? {
                found.push(row)?;
            }
            Ok(found.finish())
        });
        if let Some(found) = inline {
            return Ok(found);
        }
        let rows = self
            .fetch_all_hot(|| sqlx::query(&QUERY).bind(pool_id).bind(sub))
            .await?;
        user_and_groups(&rows)
    }

    pub async fn user_by_email_key(&self, pool_id: &str, key: &str) -> Result<Option<User>> {
        self.user_where("email_key", pool_id, key).await
    }

    pub async fn user_by_phone_key(&self, pool_id: &str, key: &str) -> Result<Option<User>> {
        self.user_where("phone_key", pool_id, key).await
    }

    pub async fn user_by_preferred_username_key(
        &self,
        pool_id: &str,
        key: &str,
    ) -> Result<Option<User>> {
        self.user_where("preferred_username_key", pool_id, key)
            .await
    }

    async fn user_where(&self, column: &str, pool_id: &str, value: &str) -> Result<Option<User>> {
        let q = format!("SELECT {USER_COLUMNS} FROM users WHERE pool_id = $1 AND {column} = $2");
        let inline = self.read_inline(|c| {
            let mut statement = c.prepare_cached(&q)?;
            let mut rows = statement.query(named_params! {"$1": pool_id, "$2": value})?;
            Ok(match rows.next()? {
                Some(row) => Some(user_from(row)?),
                None => None,
            })
        });
        if let Some(found) = inline {
            return Ok(found);
        }
        let rows = self
            .fetch_all_hot(|| sqlx::query(&q).bind(pool_id).bind(value))
            .await?;
        rows.first().map(user_from).transpose()
    }

    /// Deletes a user with its memberships, codes and refresh tokens.
    pub async fn delete_user(&self, pool_id: &str, sub: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        for table in ["token_origins", "provider_links"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE pool_id = $1 AND sub = $2"
            ))
            .bind(pool_id)
            .bind(sub)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query("DELETE FROM users WHERE pool_id = $1 AND sub = $2")
            .bind(pool_id)
            .bind(sub)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Users in `username_key` order after `after`, optionally filtered.
    pub async fn list_users(
        &self,
        pool_id: &str,
        filter: Option<&UserFilter>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>> {
        let condition = match filter {
            None => String::new(),
            Some(f) => {
                let c = f.column.column();
                match (f.column, f.prefix) {
                    (FilterColumn::Enabled, _) => format!(" AND {c} = CAST($4 AS BIGINT)"),
                    (_, false) => format!(" AND {c} = $4"),
                    (_, true) => format!(" AND substr({c}, 1, length($4)) = $4"),
                }
            }
        };
        let q = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE pool_id = $1 AND username_key > $2{condition} \
             ORDER BY username_key LIMIT $3"
        );
        let mut query = sqlx::query(&q)
            .bind(pool_id)
            .bind(after.unwrap_or(""))
            .bind(limit);
        if let Some(f) = filter {
            query = query.bind(f.value.clone());
        }
        let rows = query.fetch_all(&self.reader).await?;
        rows.iter().map(user_from).collect()
    }

    /// Counts one failed sign-in atomically and returns the count in the
    /// current run of failures: a run ends after `quiet_ms` without failures.
    pub async fn record_failure(
        &self,
        pool_id: &str,
        sub: &str,
        now_ms: i64,
        quiet_ms: i64,
    ) -> Result<i64> {
        let row = sqlx::query(
            "UPDATE users SET failed_attempts = CASE \
               WHEN last_failure_ms IS NULL OR last_failure_ms < $3 THEN 1 \
               ELSE failed_attempts + 1 END, \
             last_failure_ms = $4 WHERE pool_id = $1 AND sub = $2 RETURNING failed_attempts",
        )
        .bind(pool_id)
        .bind(sub)
        .bind(now_ms - quiet_ms)
        .bind(now_ms)
        .fetch_optional(&mut *self.write().await?)
        .await?;
        match row {
            Some(r) => Ok(r.try_get("failed_attempts")?),
            None => Err(StoreError::NotFound("user")),
        }
    }

    /// Ends a run of failed sign-ins after a successful one.
    pub async fn reset_failures(&self, pool_id: &str, sub: &str) -> Result<()> {
        sqlx::query(
            "UPDATE users SET failed_attempts = 0, last_failure_ms = NULL \
             WHERE pool_id = $1 AND sub = $2 AND failed_attempts <> 0",
        )
        .bind(pool_id)
        .bind(sub)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Marks a TOTP time step as used; false (writing nothing) when that step
    /// or a later one was already used, so each code works once.
    pub async fn use_totp_step(&self, pool_id: &str, sub: &str, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $3 WHERE pool_id = $1 AND sub = $2 \
             AND (totp_last_step IS NULL OR totp_last_step < $3)",
        )
        .bind(pool_id)
        .bind(sub)
        .bind(step)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Number of users in a pool (EstimatedNumberOfUsers).
    pub async fn count_users(&self, pool_id: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE pool_id = $1")
            .bind(pool_id)
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get("n")?)
    }
}
