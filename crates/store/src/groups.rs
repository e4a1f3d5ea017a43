//! Groups of a pool and their members.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::users::User;
use crate::{conflict, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub pool_id: String,
    pub name: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub precedence: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

const GROUP_COLUMNS: &str =
    "pool_id, name, description, role_arn, precedence, created_ms, updated_ms";

fn group_from(row: &AnyRow) -> Result<Group> {
    Ok(Group {
        pool_id: row.try_get("pool_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        role_arn: row.try_get("role_arn")?,
        precedence: row.try_get("precedence")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

impl Store {
    pub async fn insert_group(&self, g: &Group) -> Result<()> {
        sqlx::query(
            "INSERT INTO user_groups (pool_id, name, description, role_arn, precedence, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&g.pool_id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(&g.role_arn)
        .bind(g.precedence)
        .bind(g.created_ms)
        .bind(g.updated_ms)
        .execute(&mut *self.write().await?)
        .await
        .map_err(|e| conflict(e, "group"))?;
        Ok(())
    }

    pub async fn update_group(&self, g: &Group) -> Result<()> {
        let done = sqlx::query(
            "UPDATE user_groups SET description = $3, role_arn = $4, precedence = $5, updated_ms = $6 \
             WHERE pool_id = $1 AND name = $2",
        )
        .bind(&g.pool_id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(&g.role_arn)
        .bind(g.precedence)
        .bind(g.updated_ms)
        .execute(&mut *self.write().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("group"));
        }
        Ok(())
    }

    pub async fn group(&self, pool_id: &str, name: &str) -> Result<Option<Group>> {
        let q = format!("SELECT {GROUP_COLUMNS} FROM user_groups WHERE pool_id = $1 AND name = $2");
        let row = sqlx::query(&q)
            .bind(pool_id)
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(group_from).transpose()
    }

    pub async fn list_groups(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Group>> {
        let q = format!(
            "SELECT {GROUP_COLUMNS} FROM user_groups WHERE pool_id = $1 AND name > $2 ORDER BY name LIMIT $3"
        );
        let rows = sqlx::query(&q)
            .bind(pool_id)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(group_from).collect()
    }

    pub async fn delete_group(&self, pool_id: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM user_groups WHERE pool_id = $1 AND name = $2")
            .bind(pool_id)
            .bind(name)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds a member; adding one already there is not an error.
    pub async fn add_member(&self, pool_id: &str, group: &str, sub: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_members (pool_id, group_name, sub) VALUES ($1, $2, $3) \
             ON CONFLICT (pool_id, group_name, sub) DO NOTHING",
        )
        .bind(pool_id)
        .bind(group)
        .bind(sub)
        .execute(&mut *self.write().await?)
        .await
        .map_err(|e| conflict(e, "group or user"))?;
        Ok(())
    }

    pub async fn remove_member(&self, pool_id: &str, group: &str, sub: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM group_members WHERE pool_id = $1 AND group_name = $2 AND sub = $3",
        )
        .bind(pool_id)
        .bind(group)
        .bind(sub)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// The groups of a user, by precedence (lowest first, unset last), then name.
    pub async fn groups_of(&self, pool_id: &str, sub: &str) -> Result<Vec<Group>> {
        let rows = sqlx::query(
            "SELECT g.pool_id, g.name, g.description, g.role_arn, g.precedence, g.created_ms, g.updated_ms \
             FROM user_groups g JOIN group_members m ON m.pool_id = g.pool_id AND m.group_name = g.name \
             WHERE m.pool_id = $1 AND m.sub = $2 \
             ORDER BY CASE WHEN g.precedence IS NULL THEN 1 ELSE 0 END, g.precedence, g.name",
        )
        .bind(pool_id)
        .bind(sub)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(group_from).collect()
    }

    /// Members of a group in username order after `after`.
    pub async fn members_of(
        &self,
        pool_id: &str,
        group: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>> {
        let mut users = Vec::new();
        let rows = sqlx::query(
            "SELECT u.username_key FROM users u JOIN group_members m ON m.pool_id = u.pool_id AND m.sub = u.sub \
             WHERE m.pool_id = $1 AND m.group_name = $2 AND u.username_key > $3 \
             ORDER BY u.username_key LIMIT $4",
        )
        .bind(pool_id)
        .bind(group)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        for r in rows {
            let key: String = r.try_get("username_key")?;
            if let Some(u) = self.user_by_username_key(pool_id, &key).await? {
                users.push(u);
            }
        }
        Ok(users)
    }
}
