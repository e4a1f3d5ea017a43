//! RS256 JSON Web Tokens, compact serialization.
//!
//! Signing and verification are aws-lc-rs's RSA PKCS#1 v1.5 SHA-256; this
//! module only frames them. It is written here rather than taken from a JWT
//! crate because verification must be stricter than those crates are by
//! default: the algorithm comes from our key, never from the header; a
//! header with `crit` is refused; base64url has exactly one accepted
//! spelling; and a JSON object with a duplicated key is refused (serde keeps
//! the last value silently, which lets two parsers disagree on one token).

use std::fmt;

use aws_lc_rs::{rand, signature};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::crypto;
use crate::keys::{KeySet, PoolKey};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Signs a claim set with a key.
pub fn sign(key: &PoolKey, claims: &Value) -> String {
    let payload = serde_json::to_vec(claims).expect("claims serialize");
    let mut token = String::with_capacity(key.header_b64.len() + payload.len() * 4 / 3 + 350);
    token.push_str(&key.header_b64);
    token.push('.');
    token.push_str(&crypto::b64url(&payload));
    let mut sig = vec![0u8; key.pair.public_modulus_len()];
    key.pair
        .sign(
            &signature::RSA_PKCS1_SHA256,
            &rand::SystemRandom::new(),
            token.as_bytes(),
            &mut sig,
        )
        .expect("RSA signing works");
    token.push('.');
    token.push_str(&crypto::b64url(&sig));
    token
}

/// Why a token was refused. The reason is for logs; clients get a generic
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    Malformed,
    UnsupportedHeader,
    UnknownKey,
    BadSignature,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwtError::Malformed => "malformed token",
            JwtError::UnsupportedHeader => "unsupported token header",
            JwtError::UnknownKey => "unknown signing key",
            JwtError::BadSignature => "bad signature",
        })
    }
}

/// The parts of a token before its signature is checked.
pub struct Unverified<'a> {
    pub kid: String,
    /// RS256, RS384 or RS512; [`parse`] admits RS256 only.
    pub alg: RsaAlg,
    signed: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
}

/// The RSA PKCS#1 v1.5 algorithms a verifier may admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaAlg {
    Rs256,
    Rs384,
    Rs512,
}

impl RsaAlg {
    pub fn parse(s: &str) -> Option<RsaAlg> {
        match s {
            "RS256" => Some(RsaAlg::Rs256),
            "RS384" => Some(RsaAlg::Rs384),
            "RS512" => Some(RsaAlg::Rs512),
            _ => None,
        }
    }

    fn params(self) -> &'static signature::RsaParameters {
        match self {
            RsaAlg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            RsaAlg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            RsaAlg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        }
    }
}

/// Splits a compact token of one of this server's pools (RS256 only) and
/// reads its header.
pub fn parse(token: &str) -> Result<Unverified<'_>, JwtError> {
    parse_rsa(token, &[RsaAlg::Rs256])
}

/// Splits a compact token whose `alg` is one of `allowed` and reads its
/// header. The caller still checks that the key found by `kid` is meant
/// for that algorithm.
pub fn parse_rsa<'a>(token: &'a str, allowed: &[RsaAlg]) -> Result<Unverified<'a>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = strict_object(&crypto::b64url_decode(h).ok_or(JwtError::Malformed)?)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(RsaAlg::parse)
        .filter(|a| allowed.contains(a))
        .ok_or(JwtError::UnsupportedHeader)?;
    // `crit` extensions are not understood, and a nested token (`cty: JWT`)
    // is not a set of claims: both are refused.
    let nested = header
        .get("cty")
        .and_then(Value::as_str)
        .is_some_and(|c| c.eq_ignore_ascii_case("JWT"));
    if header.contains_key("crit") || nested {
        return Err(JwtError::UnsupportedHeader);
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(JwtError::UnsupportedHeader)?
        .to_string();
    let signature = crypto::b64url_decode(s).ok_or(JwtError::Malformed)?;
    Ok(Unverified {
        kid,
        alg,
        signed: &token[..h.len() + 1 + p.len()],
        payload: p,
        signature,
    })
}

impl Unverified<'_> {
    /// Checks the signature with the pool's key named by `kid` and returns
    /// the claims.
    pub fn verify(self, keys: &KeySet) -> Result<Map<String, Value>, JwtError> {
        let key = keys.by_kid(&self.kid).ok_or(JwtError::UnknownKey)?;
        signature::UnparsedPublicKey::new(self.alg.params(), &key.public_der)
            .verify(self.signed.as_bytes(), &self.signature)
            .map_err(|_| JwtError::BadSignature)?;
        strict_object(&crypto::b64url_decode(self.payload).ok_or(JwtError::Malformed)?)
    }

    /// Checks the signature with an RSA public key given by its modulus and
    /// exponent (a JWK's `n` and `e`, decoded) and returns the claims.
    pub fn verify_with(self, n: &[u8], e: &[u8]) -> Result<Map<String, Value>, JwtError> {
        signature::RsaPublicKeyComponents { n, e }
            .verify(self.alg.params(), self.signed.as_bytes(), &self.signature)
            .map_err(|_| JwtError::BadSignature)?;
        strict_object(&crypto::b64url_decode(self.payload).ok_or(JwtError::Malformed)?)
    }
}

/// Parses a JSON object, refusing duplicated keys at its top level.
fn strict_object(bytes: &[u8]) -> Result<Map<String, Value>, JwtError> {
    serde_json::from_slice::<StrictObject>(bytes)
        .map(|o| o.0)
        .map_err(|_| JwtError::Malformed)
}

struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(de::Error::custom(format!("duplicate key {key}")));
                    }
                    let value: Value = access.next_value()?;
                    map.insert(key, value);
                }
                Ok(StrictObject(map))
            }
        }
        d.deserialize_map(V)
    }
}

/// `at_hash`: base64url of the left half of SHA-256 of the access token.
pub fn at_hash(access_token: &str) -> String {
    let digest = crypto::sha256(access_token.as_bytes());
    crypto::b64url(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, load, Purpose};
    use serde_json::json;

    fn keyset() -> KeySet {
        load(&[
            generate("us-east-1_x", Purpose::Access, 1),
            generate("us-east-1_x", Purpose::Id, 1),
        ])
    }

    fn forge(header: &str, payload: &str, sig: &str) -> String {
        format!(
            "{}.{}.{}",
            crypto::b64url(header.as_bytes()),
            crypto::b64url(payload.as_bytes()),
            sig
        )
    }

    #[test]
    fn signed_tokens_verify_and_carry_cognito_header() {
        let ks = keyset();
        let key = ks.signing(Purpose::Access).unwrap();
        let token = sign(key, &json!({"sub": "x", "n": 1}));
        let header =
            String::from_utf8(crypto::b64url_decode(token.split('.').next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(header, format!(r#"{{"kid":"{}","alg":"RS256"}}"#, key.kid));
        assert_eq!(key.kid.len(), 44);
        let claims = parse(&token).unwrap().verify(&ks).unwrap();
        assert_eq!(claims["sub"], "x");
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let ks = keyset();
        let key = ks.signing(Purpose::Access).unwrap();
        let token = sign(key, &json!({"sub": "x"}));
        let parts: Vec<&str> = token.split('.').collect();
        // One payload byte changed, signature kept.
        let other = crypto::b64url(br#"{"sub":"y"}"#);
        let tampered = format!("{}.{}.{}", parts[0], other, parts[2]);
        assert_eq!(
            parse(&tampered).unwrap().verify(&ks).unwrap_err(),
            JwtError::BadSignature
        );
        // Signed by another pool's key with the same claims.
        let foreign = keyset();
        let t2 = sign(
            foreign.signing(Purpose::Access).unwrap(),
            &json!({"sub": "x"}),
        );
        assert_eq!(
            parse(&t2).unwrap().verify(&ks).unwrap_err(),
            JwtError::UnknownKey
        );
        // Signature stripped, extra segments, padding.
        assert_eq!(
            parse(&format!("{}.{}.", parts[0], parts[1]))
                .unwrap()
                .verify(&ks)
                .unwrap_err(),
            JwtError::BadSignature
        );
        assert!(parse(&format!("{}.{}", parts[0], parts[1])).is_err());
        assert!(parse(&format!("{token}.x.y")).is_err());
        assert!(parse(&format!("{}=.{}.{}", parts[0], parts[1], parts[2])).is_err());
    }

    #[test]
    fn header_decides_nothing_about_the_algorithm() {
        let ks = keyset();
        let kid = &ks.signing(Purpose::Access).unwrap().kid;
        for alg in ["none", "None", "HS256", "RS512", "PS256", "ES256"] {
            let t = forge(
                &format!(r#"{{"kid":"{kid}","alg":"{alg}"}}"#),
                r#"{"sub":"x"}"#,
                "",
            );
            assert_eq!(parse(&t).err(), Some(JwtError::UnsupportedHeader), "{alg}");
        }
        let crit = forge(
            &format!(r#"{{"kid":"{kid}","alg":"RS256","crit":["exp"]}}"#),
            "{}",
            "AA",
        );
        assert_eq!(parse(&crit).err(), Some(JwtError::UnsupportedHeader));
        let dup = forge(
            &format!(r#"{{"kid":"{kid}","alg":"RS256","alg":"none"}}"#),
            "{}",
            "AA",
        );
        assert_eq!(parse(&dup).err(), Some(JwtError::Malformed));
        for kid in [r#"1"#, r#"{"a":1}"#, r#""../../dev/null""#] {
            let t = forge(&format!(r#"{{"kid":{kid},"alg":"RS256"}}"#), "{}", "AA");
            assert!(
                parse(&t).is_err() || parse(&t).unwrap().verify(&ks).is_err(),
                "{kid}"
            );
        }
        assert_eq!(
            parse(&"a".repeat(MAX_TOKEN_LEN + 1)).err(),
            Some(JwtError::Malformed)
        );
    }

    #[test]
    fn duplicate_claims_are_refused_even_when_signed() {
        let ks = keyset();
        let key = ks.signing(Purpose::Access).unwrap();
        let signed = format!(
            "{}.{}",
            key.header_b64,
            crypto::b64url(br#"{"exp":1,"exp":9999999999}"#)
        );
        let mut sig = vec![0u8; key.pair.public_modulus_len()];
        key.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &rand::SystemRandom::new(),
                signed.as_bytes(),
                &mut sig,
            )
            .unwrap();
        let token = format!("{signed}.{}", crypto::b64url(&sig));
        assert_eq!(
            parse(&token).unwrap().verify(&ks).unwrap_err(),
            JwtError::Malformed
        );
    }
}
