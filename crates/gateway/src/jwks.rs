//! Keys of an external OpenID Connect issuer, found by discovery.
//!
//! `issuer + /.well-known/openid-configuration` names the `jwks_uri`;
//! the key set is cached for an hour, fetched again for an unknown `kid`
//! at most once per cooldown (one fetch in flight at a time), and kept
//! when the issuer cannot be reached, so an outage of the IdP does not
//! refuse tokens signed by keys already known.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use serde_json::Value;

use crate::client::{self, HttpClient};

const KEYS_TTL_MS: i64 = 3_600_000;
const REFETCH_COOLDOWN_MS: i64 = 5_000;
const FETCH_TIMEOUT: Duration = Duration::from_millis(1500);
const MAX_JWKS_BYTES: usize = 150_000;

/// An RSA public key from a JWK.
#[derive(Debug, Clone)]
pub struct RsaJwk {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    /// The JWK's `alg`, when it names one: a token must then use it.
    pub alg: Option<String>,
}

#[derive(Default)]
struct State {
    jwks_uri: Option<String>,
    keys: HashMap<String, Arc<RsaJwk>>,
    fetched_ms: Option<i64>,
    attempted_ms: Option<i64>,
}

pub struct Jwks {
    issuer: String,
    client: HttpClient,
    state: RwLock<State>,
    in_flight: tokio::sync::Mutex<()>,
}

impl Jwks {
    pub fn new(issuer: String, client: HttpClient) -> Jwks {
        Jwks {
            issuer,
            client,
            state: RwLock::new(State::default()),
            in_flight: tokio::sync::Mutex::new(()),
        }
    }

    /// The key named `kid`, fetching the key set when it is stale or does
    /// not know the kid (rate-limited).
    pub async fn key(&self, kid: &str, now_ms: i64) -> Option<Arc<RsaJwk>> {
        if let Some(k) = self.fresh(kid, now_ms) {
            return Some(k);
        }
        let _one = self.in_flight.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(k) = self.fresh(kid, now_ms) {
            return Some(k);
        }
        let attempted = self.state.read().expect("jwks lock").attempted_ms;
        if attempted.is_none_or(|a| now_ms - a >= REFETCH_COOLDOWN_MS) {
            self.state.write().expect("jwks lock").attempted_ms = Some(now_ms);
            match self.fetch().await {
                Ok((uri, keys)) => {
                    let mut s = self.state.write().expect("jwks lock");
                    s.jwks_uri = Some(uri);
                    s.keys = keys;
                    s.fetched_ms = Some(now_ms);
                }
                Err(e) => {
                    tracing::warn!(issuer = %self.issuer, error = %e, "cannot read the issuer's keys; keeping the known ones");
                }
            }
        }
        self.state.read().expect("jwks lock").keys.get(kid).cloned()
    }

    fn fresh(&self, kid: &str, now_ms: i64) -> Option<Arc<RsaJwk>> {
        let s = self.state.read().expect("jwks lock");
        let fresh = s.fetched_ms.is_some_and(|f| now_ms - f < KEYS_TTL_MS);
        fresh.then(|| s.keys.get(kid).cloned()).flatten()
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let request = axum::http::Request::get(url)
            .header("accept", "application/json")
            .body(Body::empty())
            .map_err(|e| e.to_string())?;
        let (parts, body) = client::call(&self.client, request, FETCH_TIMEOUT, MAX_JWKS_BYTES)
            .await
            .map_err(|e| format!("{url}: {e:?}"))?;
        if !parts.status.is_success() {
            return Err(format!("{url}: status {}", parts.status));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
    }

    async fn fetch(&self) -> Result<(String, HashMap<String, Arc<RsaJwk>>), String> {
        let known = self.state.read().expect("jwks lock").jwks_uri.clone();
        let uri = match known {
            Some(u) => u,
            None => {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    self.issuer.trim_end_matches('/')
                );
                let doc = self.get_json(&discovery).await?;
                // OpenID Connect Discovery §4.3: the document must name
                // the issuer it was asked for.
                if doc.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
                    return Err(format!("{discovery} names another issuer"));
                }
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{discovery} has no jwks_uri"))?
                    .to_string()
            }
        };
        let set = self.get_json(&uri).await?;
        Ok((uri, parse_jwks(&set)))
    }
}

/// The RSA signing keys of a JWKS document; other keys are skipped.
pub fn parse_jwks(set: &Value) -> HashMap<String, Arc<RsaJwk>> {
    let b64 = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(cognate_identity::crypto::b64url_decode)
    };
    let mut out = HashMap::new();
    for k in set
        .get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if k.get("kty").and_then(Value::as_str) != Some("RSA")
            || k.get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u != "sig")
        {
            continue;
        }
        let (Some(kid), Some(n), Some(e)) = (
            k.get("kid").and_then(Value::as_str),
            b64(k.get("n")),
            b64(k.get("e")),
        ) else {
            continue;
        };
        out.insert(
            kid.to_string(),
            Arc::new(RsaJwk {
                n,
                e,
                alg: k.get("alg").and_then(Value::as_str).map(str::to_string),
            }),
        );
    }
    out
}
