//! Authorization codes that carry their grant, sealed (AES-256-GCM) under
//! a key every node shares (`meta` `oauth.code_key`).
//!
//! A stored code cost the code flow two writes: its row at the authorize,
//! its taking at the token endpoint, each a turn of SQLite's one writer.
//! A sealed code is written nowhere when it is made; the exchange opens
//! it, checks it, and takes it in the same write that records what it
//! issues (`Store::insert_origin_taking_code`): its row goes in then,
//! consumed, and a second taker finds it there (a replay, which revokes
//! what the first issued, as before). The code reads as
//! `v1.<base64url(nonce | ciphertext | tag)>`: opaque to whoever holds it
//! (no user id or nonce in the browser's address bar), unforgeable
//! without the key, single-use by the row its exchange writes. Codes
//! stored by earlier versions are still taken from their rows.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use cognate_store::auth_codes::AuthCode;
use serde::{Deserialize, Serialize};

use crate::crypto;

const PREFIX: &str = "v1.";
/// Binds a sealed value to this use of the key.
const AAD: &[u8] = b"cognate.authorization_code.v1";

/// The grant inside a code, with short names (it travels in a URL).
#[derive(Serialize, Deserialize)]
struct Grant {
    p: String,
    c: String,
    s: String,
    r: String,
    sc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cc: Option<String>,
    t: i64,
    i: i64,
    e: i64,
}

fn key(raw: &[u8]) -> Option<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, raw)
        .ok()
        .map(LessSafeKey::new)
}

/// The code for a grant (its `code_hash`, `consumed_ms` and `origin_jti`
/// are not carried). `raw_key`: 32 bytes.
pub(crate) fn seal(raw_key: &[u8], c: &AuthCode) -> Option<String> {
    let grant = Grant {
        p: c.pool_id.clone(),
        c: c.client_id.clone(),
        s: c.sub.clone(),
        r: c.redirect_uri.clone(),
        sc: c.scopes.clone(),
        n: c.nonce.clone(),
        cc: c.code_challenge.clone(),
        t: c.auth_time,
        i: c.created_ms,
        e: c.expires_ms,
    };
    let mut data = serde_json::to_vec(&grant).ok()?;
    let nonce = crypto::random_bytes::<NONCE_LEN>();
    key(raw_key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(AAD),
            &mut data,
        )
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Some(format!("{PREFIX}{}", crypto::b64url(&out)))
}

/// The grant of a code sealed under `raw_key`, with `code_hash` set to the
/// code's stored hash; `None` for anything else (a stored code of an
/// earlier version, a forged or altered one).
pub(crate) fn open(raw_key: &[u8], code: &str) -> Option<AuthCode> {
    let sealed = crypto::b64url_decode(code.strip_prefix(PREFIX)?)?;
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let mut data = rest.to_vec();
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let plain = key(raw_key)?
        .open_in_place(nonce, Aad::from(AAD), &mut data)
        .ok()?;
    let g: Grant = serde_json::from_slice(plain).ok()?;
    Some(AuthCode {
        code_hash: crypto::stored_hash(code),
        pool_id: g.p,
        client_id: g.c,
        sub: g.s,
        redirect_uri: g.r,
        scopes: g.sc,
        nonce: g.n,
        code_challenge: g.cc,
        auth_time: g.t,
        created_ms: g.i,
        expires_ms: g.e,
        consumed_ms: None,
        origin_jti: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> AuthCode {
        AuthCode {
            code_hash: String::new(),
            pool_id: "us-east-1_abc".into(),
            client_id: "client".into(),
            sub: "sub-1".into(),
            redirect_uri: "https://app.example/cb?x=1".into(),
            scopes: "openid email".into(),
            nonce: Some("n\"1".into()),
            code_challenge: None,
            auth_time: 1_700_000_000,
            created_ms: 1_700_000_000_000,
            expires_ms: 1_700_000_300_000,
            consumed_ms: None,
            origin_jti: None,
        }
    }

    #[test]
    fn a_sealed_code_opens_to_its_grant_under_its_key_only() {
        let key = crypto::random_bytes::<32>();
        let code = seal(&key, &grant()).expect("sealed");
        assert!(code.starts_with("v1."));
        assert!(code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')));
        // Nothing of the grant reads in the code.
        assert!(
            !code.contains("sub-1")
                && !crypto::b64url_decode(&code[3..])
                    .is_some_and(|b| b.windows(5).any(|w| w == b"sub-1"))
        );
        let opened = open(&key, &code).expect("opens");
        assert_eq!(
            opened,
            AuthCode {
                code_hash: crypto::stored_hash(&code),
                ..grant()
            }
        );
        // Two codes for one grant differ (a fresh nonce each).
        assert_ne!(seal(&key, &grant()).expect("sealed"), code);
        assert_eq!(open(&crypto::random_bytes::<32>(), &code), None);
    }

    #[test]
    fn altered_stored_or_malformed_codes_do_not_open() {
        let key = crypto::random_bytes::<32>();
        let code = seal(&key, &grant()).expect("sealed");
        let mut bytes = crypto::b64url_decode(&code[3..]).expect("base64url");
        for at in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[at] ^= 1;
            assert_eq!(open(&key, &format!("v1.{}", crypto::b64url(&bytes))), None);
            bytes[at] ^= 1;
        }
        assert!(open(&key, &format!("v1.{}", crypto::b64url(&bytes))).is_some());
        for other in [
            "",
            "v1.",
            "v1.AAAA",
            "v1.!!!",
            &code[3..],
            &crypto::b64url(&crypto::random_bytes::<32>()),
        ] {
            assert_eq!(open(&key, other), None, "{other}");
        }
    }
}
