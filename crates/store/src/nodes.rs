//! Gateway nodes: which node serves a WebSocket API where, so nodes sharing
//! the database can reach each other's connections.

use sqlx::Row;

use crate::{Result, Store};

/// A node serving an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub node_tag: String,
    pub url: String,
    pub seen_ms: i64,
}

impl Store {
    /// Records (or refreshes) that `node_tag` serves `api` at `url`.
    pub async fn node_seen(&self, api: &str, node_tag: &str, url: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO gateway_nodes (api, node_tag, url, seen_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (api, node_tag) DO UPDATE SET url = $3, seen_ms = $4",
        )
        .bind(api)
        .bind(node_tag)
        .bind(url)
        .bind(now_ms)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// The nodes of `api` seen since `since_ms`.
    pub async fn nodes(&self, api: &str, since_ms: i64) -> Result<Vec<Node>> {
        let rows = sqlx::query(
            "SELECT node_tag, url, seen_ms FROM gateway_nodes WHERE api = $1 AND seen_ms >= $2 ORDER BY node_tag",
        )
        .bind(api)
        .bind(since_ms)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Node {
                    node_tag: r.try_get("node_tag")?,
                    url: r.try_get("url")?,
                    seen_ms: r.try_get("seen_ms")?,
                })
            })
            .collect()
    }

    /// A node stops serving `api`.
    pub async fn node_gone(&self, api: &str, node_tag: &str) -> Result<()> {
        sqlx::query("DELETE FROM gateway_nodes WHERE api = $1 AND node_tag = $2")
            .bind(api)
            .bind(node_tag)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }
}
