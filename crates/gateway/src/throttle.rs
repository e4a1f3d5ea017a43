//! Throttling across the nodes of one deployment (several cognate
//! processes serving the same APIs from one database).
//!
//! With `server.redis_url`, every node takes its tokens from one bucket
//! per stage and route kept in Redis: a Lua script refills and takes
//! atomically on Redis's own clock, so the limit holds however the load
//! is spread. Without Redis, each node counts the live nodes of the API
//! (each writes a heartbeat to the database) and holds its bucket to its
//! share of the rate and burst: the limit then holds when a load balancer
//! spreads the load evenly, and is stricter than configured when it does
//! not. A Redis failure falls back to the node's share, never to no limit.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Weak;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::Api;

/// How often a node records itself for an API and recounts the nodes.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node not seen for this long is counted gone.
const STALE_MS: i64 = 6_000;

/// Buckets in Redis, shared by every node that names the same server.
pub struct SharedBuckets {
    redis: ConnectionManager,
    script: redis::Script,
    /// When a failure was last logged (one line per 10 s, not per request).
    warned_ms: AtomicI64,
}

/// A token bucket in a Redis hash (`t`: tokens, `ts`: last refill in
/// microseconds, from Redis's TIME): refill at ARGV[1] tokens per second
/// up to ARGV[2], take one if there is one. The key expires once a full
/// refill would have happened.
const TAKE: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local s = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
if tokens == nil or ts == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000000)
end
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now))
local full = 1000
if rate > 0 then full = math.ceil((burst / rate) * 1000) + 1000 end
redis.call('PEXPIRE', KEYS[1], math.min(full, 86400000))
return taken
";

impl SharedBuckets {
    /// Connects to `url` (reconnecting by itself later when a connection
    /// breaks).
    pub async fn connect(url: &str) -> Result<SharedBuckets, String> {
        let client =
            redis::Client::open(url).map_err(|e| format!("server.redis_url {url}: {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| format!("cannot reach Redis at {url}: {e}"))?;
        Ok(SharedBuckets {
            redis,
            script: redis::Script::new(TAKE),
            warned_ms: AtomicI64::new(i64::MIN),
        })
    }

    /// Notes that Redis failed (the caller falls back to its node's share).
    pub fn failed(&self, e: &redis::RedisError, now_ms: i64) {
        let last = self.warned_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= 10_000
            && self
                .warned_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %e, "Redis failed: throttling falls back to this node's share of each limit");
        }
    }

    /// Takes a token from the bucket `key`.
    pub async fn take(&self, key: &str, rate: f64, burst: u32) -> redis::RedisResult<bool> {
        let mut conn = self.redis.clone();
        let taken: i64 = self
            .script
            .key(key)
            .arg(rate)
            .arg(burst)
            .invoke_async(&mut conn)
            .await?;
        Ok(taken == 1)
    }
}

/// The live nodes of one API, this one included (at least 1).
#[derive(Debug)]
pub struct NodeCount(AtomicU32);

impl Default for NodeCount {
    fn default() -> Self {
        NodeCount(AtomicU32::new(1))
    }
}

impl NodeCount {
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed).max(1)
    }

    fn set(&self, n: u32) {
        self.0.store(n.max(1), Ordering::Relaxed);
    }
}

/// Records this node for `api` every [`HEARTBEAT`] and recounts the
/// nodes seen within [`STALE_MS`]; stops when the API is dropped (a new
/// configuration replaced it). A database error keeps the last count.
pub(crate) async fn heartbeat(api: Weak<Api>, tag: String) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(api) = api.upgrade() else { return };
        let key = node_key(&api.api_id);
        let now = (api.shared.clock)();
        let store = api.store.clone();
        if let Err(e) = store.node_seen(&key, &tag, "", now).await {
            tracing::warn!(api = %api.name, error = %e, "cannot record this node for throttling");
            continue;
        }
        match store.nodes(&key, now - STALE_MS).await {
            Ok(nodes) => {
                let n = u32::try_from(nodes.len()).unwrap_or(u32::MAX);
                if n != api.nodes.get() {
                    tracing::info!(api = %api.name, nodes = n, "throttling limits are shared by this many nodes");
                }
                api.nodes.set(n);
                api.shared.metrics.set_nodes(&api.name, n);
            }
            Err(e) => {
                tracing::warn!(api = %api.name, error = %e, "cannot count the nodes for throttling")
            }
        }
    }
}

fn node_key(api_id: &str) -> String {
    format!("http:{api_id}")
}

/// The Redis key of a stage's bucket for a route.
pub fn bucket_key(api_id: &str, stage: &str, route: &str) -> String {
    format!("cognate:throttle:{api_id}:{stage}:{route}")
}
