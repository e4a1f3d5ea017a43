//! Signing keys: two RSA-2048 keys per pool (ID tokens and access tokens are
//! signed by different keys, as Cognito does), their JWKS, and rotation.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use cognate_store::keys::SigningKey;
use serde_json::{json, Value};

use crate::crypto;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Id,
    Access,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Id => "id",
            Purpose::Access => "access",
        }
    }
}

/// A key ready to sign and verify.
pub struct PoolKey {
    pub kid: String,
    pub purpose: Purpose,
    pub pair: KeyPair,
    /// The public key, DER (RFC 8017), for verification.
    pub public_der: Vec<u8>,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    /// base64url of the JWS header `{"kid":…,"alg":"RS256"}`.
    pub header_b64: String,
    pub created_ms: i64,
    pub retired_ms: Option<i64>,
}

/// The keys of one pool.
pub struct KeySet {
    pub keys: Vec<Arc<PoolKey>>,
}

impl KeySet {
    /// The newest unretired key for a purpose.
    pub fn signing(&self, purpose: Purpose) -> Option<&Arc<PoolKey>> {
        self.keys
            .iter()
            .filter(|k| k.purpose == purpose && k.retired_ms.is_none())
            .max_by_key(|k| k.created_ms)
    }

    pub fn by_kid(&self, kid: &str) -> Option<&Arc<PoolKey>> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The JWKS document: every key, current and retired (a retired key keeps
    /// verifying the tokens it signed until they expire).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| {
                json!({
                    "alg": "RS256",
                    "e": crypto::b64url(&k.e),
                    "kid": k.kid,
                    "kty": "RSA",
                    "n": crypto::b64url(&k.n),
                    "use": "sig",
                })
            })
            .collect();
        json!({ "keys": keys })
    }
}

/// Generates a new key for a pool.
pub fn generate(pool_id: &str, purpose: Purpose, now_ms: i64) -> SigningKey {
    let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation works");
    let pkcs8 = pair.as_der().expect("RSA key serializes");
    let public = pair.public_key().as_ref().to_vec();
    SigningKey {
        kid: kid_of(&public),
        pool_id: pool_id.to_string(),
        purpose: purpose.as_str().to_string(),
        private_key: crypto::b64(pkcs8.as_ref()),
        created_ms: now_ms,
        retired_ms: None,
    }
}

/// Cognito's kids look like 44-character base64 strings: ours are the
/// SHA-256 of the public key, base64.
fn kid_of(public_der: &[u8]) -> String {
    crypto::b64(&crypto::sha256(public_der))
}

/// Turns stored keys into usable ones; keys that cannot be read are left
/// out and logged.
pub fn load(records: &[SigningKey]) -> KeySet {
    let mut keys = Vec::new();
    for r in records {
        let purpose = match r.purpose.as_str() {
            "id" => Purpose::Id,
            "access" => Purpose::Access,
            other => {
                tracing::error!(kid = %r.kid, purpose = other, "signing key with unknown purpose");
                continue;
            }
        };
        let Some(der) = crypto::b64_decode(&r.private_key) else {
            tracing::error!(kid = %r.kid, "signing key is not base64");
            continue;
        };
        let Ok(pair) = KeyPair::from_pkcs8(&der) else {
            tracing::error!(kid = %r.kid, "signing key is not a PKCS#8 RSA key");
            continue;
        };
        let public_der = pair.public_key().as_ref().to_vec();
        let components: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        let header = format!(r#"{{"kid":"{}","alg":"RS256"}}"#, r.kid);
        keys.push(Arc::new(PoolKey {
            kid: r.kid.clone(),
            purpose,
            pair,
            public_der,
            n: components.n,
            e: components.e,
            header_b64: crypto::b64url(header.as_bytes()),
            created_ms: r.created_ms,
            retired_ms: r.retired_ms,
        }));
    }
    KeySet { keys }
}
