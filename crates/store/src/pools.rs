//! User pools, their app clients and resource servers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cognate_config::{ClientSettings, PoolSettings, ResourceScope};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{conflict, json, to_json, Result, Store, StoreError};

/// How long a pool or client read stays good in this process. This
/// process's own writes are seen at once (they drop what they change);
/// another node's within this time. Pools and clients are read on every
/// sign-in and refresh and change rarely (Cognito's own changes to them
/// are eventually consistent too).
pub const READ_CACHE_TTL: Duration = Duration::from_secs(2);

/// Recently read pools and clients, by id; only rows that exist. A read
/// that raced a write of this process is not kept: the generation counts
/// the writes, and a read keeps its row only if none happened meanwhile.
#[derive(Default)]
pub(crate) struct ReadCache {
    generation: AtomicU64,
    pools: Mutex<HashMap<String, (Instant, Pool)>>,
    clients: Mutex<HashMap<String, (Instant, Client)>>,
    /// `meta` values that [`Store::meta_get_or_insert`] found or wrote
    /// (meta.rs): written once and the same on every node from then on,
    /// so kept for good; [`Store::meta_set`] drops its key.
    pub(crate) settled_meta: Mutex<HashMap<String, String>>,
}

impl ReadCache {
    fn get<T: Clone>(
        map: &Mutex<HashMap<String, (Instant, T)>>,
        id: &str,
        ttl: Duration,
    ) -> Option<T> {
        let map = map.lock().expect("read cache lock");
        map.get(id)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, v)| v.clone())
    }

    fn keep<T>(&self, map: &Mutex<HashMap<String, (Instant, T)>>, since: u64, id: &str, value: T) {
        let mut map = map.lock().expect("read cache lock");
        if self.generation.load(Ordering::Acquire) != since {
            return;
        }
        // Bounded by the rows that exist; expired entries go first.
        if map.len() >= 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < READ_CACHE_TTL);
        }
        map.insert(id.to_string(), (Instant::now(), value));
    }

    /// Drops everything: after any write to pools or clients.
    pub(crate) fn forget(&self) {
        // Both locks held while the generation moves: no read that started
        // before this write can keep its row after it.
        let mut pools = self.pools.lock().expect("read cache lock");
        let mut clients = self.clients.lock().expect("read cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        pools.clear();
        clients.clear();
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub id: String,
    pub name: String,
    /// Name of the pool in the config file, for pools the config declares.
    pub config_key: Option<String>,
    pub settings: PoolSettings,
    pub domain: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub id: String,
    pub pool_id: String,
    pub name: String,
    pub secret: Option<String>,
    pub config_key: Option<String>,
    pub settings: ClientSettings,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServer {
    pub pool_id: String,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<ResourceScope>,
}

fn pool_from(row: &AnyRow) -> Result<Pool> {
    Ok(Pool {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        config_key: row.try_get("config_key")?,
        settings: json(&row.try_get::<String, _>("settings")?)?,
        domain: row.try_get("domain")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

/// Where a client's sealed secret belongs (seal.rs).
pub(crate) fn secret_aad(client_id: &str) -> String {
    format!("app_clients.secret:{client_id}")
}

fn client_from(store: &Store, row: &AnyRow) -> Result<Client> {
    let id: String = row.try_get("id")?;
    let secret: Option<String> = row.try_get("secret")?;
    Ok(Client {
        secret: secret
            .map(|s| store.open_value(&secret_aad(&id), s))
            .transpose()?,
        id,
        pool_id: row.try_get("pool_id")?,
        name: row.try_get("name")?,
        config_key: row.try_get("config_key")?,
        settings: json(&row.try_get::<String, _>("settings")?)?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

fn resource_server_from(row: &AnyRow) -> Result<ResourceServer> {
    Ok(ResourceServer {
        pool_id: row.try_get("pool_id")?,
        identifier: row.try_get("identifier")?,
        name: row.try_get("name")?,
        scopes: json(&row.try_get::<String, _>("scopes")?)?,
    })
}

const POOL_COLUMNS: &str = "id, name, config_key, settings, domain, created_ms, updated_ms";
const CLIENT_COLUMNS: &str =
    "id, pool_id, name, secret, config_key, settings, created_ms, updated_ms";

impl Store {
    pub async fn insert_pool(&self, pool: &Pool) -> Result<()> {
        sqlx::query(
            "INSERT INTO user_pools (id, name, config_key, settings, domain, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&pool.id)
        .bind(&pool.name)
        .bind(&pool.config_key)
        .bind(to_json(&pool.settings))
        .bind(&pool.domain)
        .bind(pool.created_ms)
        .bind(pool.updated_ms)
        .execute(&mut *self.write().await?)
        .await
        .map_err(|e| conflict(e, "pool"))?;
        Ok(())
    }

    /// A pool by id (read through the read cache, [`READ_CACHE_TTL`]).
    pub async fn pool(&self, id: &str) -> Result<Option<Pool>> {
        let cache = &self.read_cache;
        if let Some(p) = ReadCache::get(&cache.pools, id, self.read_cache_ttl) {
            return Ok(Some(p));
        }
        let since = cache.generation.load(Ordering::Acquire);
        let q = format!("SELECT {POOL_COLUMNS} FROM user_pools WHERE id = $1");
        let row = sqlx::query(&q)
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        let found = row.as_ref().map(pool_from).transpose()?;
        if let Some(p) = &found {
            cache.keep(&cache.pools, since, id, p.clone());
        }
        Ok(found)
    }

    pub async fn pool_by_config_key(&self, key: &str) -> Result<Option<Pool>> {
        let q = format!("SELECT {POOL_COLUMNS} FROM user_pools WHERE config_key = $1");
        let row = sqlx::query(&q)
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(pool_from).transpose()
    }

    pub async fn pool_by_domain(&self, domain: &str) -> Result<Option<Pool>> {
        let q = format!("SELECT {POOL_COLUMNS} FROM user_pools WHERE domain = $1");
        let row = sqlx::query(&q)
            .bind(domain)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(pool_from).transpose()
    }

    /// Pools in id order after `after` (keyset pagination).
    pub async fn list_pools(&self, after: Option<&str>, limit: i64) -> Result<Vec<Pool>> {
        let q = format!("SELECT {POOL_COLUMNS} FROM user_pools WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(&q)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(pool_from).collect()
    }

    /// Writes name, settings and domain of an existing pool.
    pub async fn update_pool(&self, pool: &Pool) -> Result<()> {
        let done = sqlx::query(
            "UPDATE user_pools SET name = $2, settings = $3, domain = $4, updated_ms = $5 WHERE id = $1",
        )
        .bind(&pool.id)
        .bind(&pool.name)
        .bind(to_json(&pool.settings))
        .bind(&pool.domain)
        .bind(pool.updated_ms)
        .execute(&mut *self.write().await?)
        .await
        .map_err(|e| conflict(e, "domain"))?;
        self.read_cache.forget();
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("pool"));
        }
        Ok(())
    }

    /// Deletes a pool and everything in it.
    pub async fn delete_pool(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM user_pools WHERE id = $1")
            .bind(id)
            .execute(&mut *self.write().await?)
            .await?;
        self.read_cache.forget();
        Ok(done.rows_affected() > 0)
    }

    pub async fn insert_client(&self, client: &Client) -> Result<()> {
        sqlx::query(
            "INSERT INTO app_clients (id, pool_id, name, secret, config_key, settings, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&client.id)
        .bind(&client.pool_id)
        .bind(&client.name)
        .bind(
            client
                .secret
                .as_ref()
                .map(|s| self.seal_value(&secret_aad(&client.id), s)),
        )
        .bind(&client.config_key)
        .bind(to_json(&client.settings))
        .bind(client.created_ms)
        .bind(client.updated_ms)
        .execute(&mut *self.write().await?)
        .await
        .map_err(|e| conflict(e, "client"))?;
        Ok(())
    }

    /// A client by id (read through the read cache, [`READ_CACHE_TTL`]).
    pub async fn client(&self, id: &str) -> Result<Option<Client>> {
        let cache = &self.read_cache;
        if let Some(c) = ReadCache::get(&cache.clients, id, self.read_cache_ttl) {
            return Ok(Some(c));
        }
        let since = cache.generation.load(Ordering::Acquire);
        let q = format!("SELECT {CLIENT_COLUMNS} FROM app_clients WHERE id = $1");
        let row = sqlx::query(&q)
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        let found = row.as_ref().map(|r| client_from(self, r)).transpose()?;
        if let Some(c) = &found {
            cache.keep(&cache.clients, since, id, c.clone());
        }
        Ok(found)
    }

    pub async fn client_by_config_key(&self, pool_id: &str, key: &str) -> Result<Option<Client>> {
        let q = format!(
            "SELECT {CLIENT_COLUMNS} FROM app_clients WHERE pool_id = $1 AND config_key = $2"
        );
        let row = sqlx::query(&q)
            .bind(pool_id)
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(|r| client_from(self, r)).transpose()
    }

    pub async fn list_clients(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Client>> {
        let q = format!(
            "SELECT {CLIENT_COLUMNS} FROM app_clients WHERE pool_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(&q)
            .bind(pool_id)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|r| client_from(self, r)).collect()
    }

    /// Writes name, secret and settings of an existing client.
    pub async fn update_client(&self, client: &Client) -> Result<()> {
        let done = sqlx::query(
            "UPDATE app_clients SET name = $3, secret = $4, settings = $5, updated_ms = $6 \
             WHERE id = $1 AND pool_id = $2",
        )
        .bind(&client.id)
        .bind(&client.pool_id)
        .bind(&client.name)
        .bind(
            client
                .secret
                .as_ref()
                .map(|s| self.seal_value(&secret_aad(&client.id), s)),
        )
        .bind(to_json(&client.settings))
        .bind(client.updated_ms)
        .execute(&mut *self.write().await?)
        .await?;
        self.read_cache.forget();
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("client"));
        }
        Ok(())
    }

    pub async fn delete_client(&self, pool_id: &str, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM app_clients WHERE pool_id = $1 AND id = $2")
            .bind(pool_id)
            .bind(id)
            .execute(&mut *self.write().await?)
            .await?;
        self.read_cache.forget();
        Ok(done.rows_affected() > 0)
    }

    pub async fn insert_resource_server(&self, rs: &ResourceServer) -> Result<()> {
        sqlx::query(
            "INSERT INTO resource_servers (pool_id, identifier, name, scopes) VALUES ($1, $2, $3, $4)",
        )
        .bind(&rs.pool_id)
        .bind(&rs.identifier)
        .bind(&rs.name)
        .bind(to_json(&rs.scopes))
        .execute(&mut *self.write().await?)
        .await
        .map_err(|e| conflict(e, "resource server"))?;
        Ok(())
    }

    pub async fn update_resource_server(&self, rs: &ResourceServer) -> Result<()> {
        let done = sqlx::query(
            "UPDATE resource_servers SET name = $3, scopes = $4 WHERE pool_id = $1 AND identifier = $2",
        )
        .bind(&rs.pool_id)
        .bind(&rs.identifier)
        .bind(&rs.name)
        .bind(to_json(&rs.scopes))
        .execute(&mut *self.write().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("resource server"));
        }
        Ok(())
    }

    pub async fn resource_server(
        &self,
        pool_id: &str,
        identifier: &str,
    ) -> Result<Option<ResourceServer>> {
        let row = sqlx::query(
            "SELECT pool_id, identifier, name, scopes FROM resource_servers \
             WHERE pool_id = $1 AND identifier = $2",
        )
        .bind(pool_id)
        .bind(identifier)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(resource_server_from).transpose()
    }

    pub async fn list_resource_servers(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ResourceServer>> {
        let rows = sqlx::query(
            "SELECT pool_id, identifier, name, scopes FROM resource_servers \
             WHERE pool_id = $1 AND identifier > $2 ORDER BY identifier LIMIT $3",
        )
        .bind(pool_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(resource_server_from).collect()
    }

    pub async fn delete_resource_server(&self, pool_id: &str, identifier: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM resource_servers WHERE pool_id = $1 AND identifier = $2")
                .bind(pool_id)
                .bind(identifier)
                .execute(&mut *self.write().await?)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
