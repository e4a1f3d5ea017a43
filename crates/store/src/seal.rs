//! Secrets at rest: the pools' signing keys, app clients' secrets and the
//! secret values in `meta` (admin secret key, session and SAML keys) are
//! sealed with AES-256-GCM under a key given to the process
//! (`server.secret_key_file` or `COGNATE_SECRET_KEYS`), when one is.
//!
//! A sealed value reads `sealed:v1:<key id>:<base64url(nonce | ciphertext
//! | tag)>`, with the table, column and row as associated data, so a value
//! cannot be moved to another row. The keyring holds the current key
//! (first) and older ones, which still open what they sealed; at start,
//! every secret not sealed with the current key is sealed again with it
//! ([`Store::reseal_all`]), so rotating is: put a new key first, restart
//! every node, then drop the old key. A value written before sealing was
//! turned on is read as it is and sealed at the next start.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::StoreError;

const PREFIX: &str = "sealed:v1:";

/// The keys secrets are sealed with: the first seals, all open.
pub struct Keyring {
    keys: Vec<(String, LessSafeKey)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("ids", &ids).finish()
    }
}

impl Keyring {
    /// Reads a keyring: one key per line, `<id> <base64 of 32 bytes>`, the
    /// current key first; blank lines and `#` comments are skipped. Ids are
    /// letters, digits, `-` and `_`.
    pub fn parse(text: &str) -> Result<Keyring, String> {
        let mut keys: Vec<(String, LessSafeKey)> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("line {}", n + 1);
            let (id, b64) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("{}: expected `<id> <base64 key>`", at()))?;
            let b64 = b64.trim();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!("{}: a key id is letters, digits, - and _", at()));
            }
            if keys.iter().any(|(k, _)| k == id) {
                return Err(format!("{}: key id {id} is given twice", at()));
            }
            let bytes = STANDARD
                .decode(b64)
                .map_err(|_| format!("{}: the key is not base64", at()))?;
            if bytes.len() != 32 {
                return Err(format!(
                    "{}: a key is 32 bytes (base64 of 32 random bytes), not {}",
                    at(),
                    bytes.len()
                ));
            }
            let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| at())?;
            keys.push((id.to_string(), LessSafeKey::new(key)));
        }
        if keys.is_empty() {
            return Err("no key given".into());
        }
        Ok(Keyring { keys })
    }

    /// A new key line for a keyring file.
    pub fn new_key_line(id: &str) -> String {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
        format!("{id} {}", STANDARD.encode(bytes))
    }

    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `plain` for the place `aad` names (table, column, row).
    pub fn seal(&self, aad: &str, plain: &str) -> String {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("system randomness");
        let mut data = plain.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut data,
        )
        .expect("AES-GCM sealing of a small value");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}{id}:{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a sealed value of the place `aad` names.
    pub fn open(&self, aad: &str, stored: &str) -> Result<String, StoreError> {
        let rest = stored
            .strip_prefix(PREFIX)
            .ok_or_else(|| StoreError::Secret("not a sealed value".into()))?;
        let (id, b64) = rest
            .split_once(':')
            .ok_or_else(|| StoreError::Secret("a sealed value without a key id".into()))?;
        let (_, key) = self.keys.iter().find(|(k, _)| k == id).ok_or_else(|| {
            StoreError::Secret(format!(
                "a secret is sealed with key {id}, which the keyring does not hold"
            ))
        })?;
        let mut data = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| StoreError::Secret("a sealed value is not base64url".into()))?;
        if data.len() < NONCE_LEN {
            return Err(StoreError::Secret("a sealed value is too short".into()));
        }
        let body = data.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&data)
            .map_err(|_| StoreError::Secret("a sealed value's nonce".into()))?;
        let mut body = body;
        let plain = key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut body)
            .map_err(|_| {
                StoreError::Secret(format!(
                    "a secret sealed with key {id} does not open: changed, moved, or another key of that id"
                ))
            })?;
        String::from_utf8(plain.to_vec())
            .map_err(|_| StoreError::Secret("a sealed value is not text".into()))
    }
}

/// Whether a stored value is sealed, and with which key.
pub fn sealed_with(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(PREFIX)?
        .split_once(':')
        .map(|(id, _)| id)
}

impl crate::Store {
    /// Seals again, with the current key, every secret that is not sealed
    /// with it (plain ones written before sealing was turned on, and ones
    /// sealed with an older key); returns how many. Without a keyring,
    /// refuses a database that holds sealed secrets (they could not be
    /// used). Each value is replaced only if it is still the one read, so
    /// nodes starting together do not undo each other.
    pub async fn reseal_all(&self) -> crate::Result<u64> {
        use sqlx::Row;
        let mut places: Vec<(&str, &str, String, String, String)> = Vec::new();
        for r in sqlx::query("SELECT kid, private_key FROM signing_keys")
            .fetch_all(&self.reader)
            .await?
        {
            let kid: String = r.try_get("kid")?;
            places.push((
                "signing_keys",
                "private_key",
                crate::keys::key_aad(&kid),
                kid,
                r.try_get("private_key")?,
            ));
        }
        for r in sqlx::query("SELECT id, secret FROM app_clients WHERE secret IS NOT NULL")
            .fetch_all(&self.reader)
            .await?
        {
            let id: String = r.try_get("id")?;
            places.push((
                "app_clients",
                "secret",
                crate::pools::secret_aad(&id),
                id,
                r.try_get("secret")?,
            ));
        }
        for r in sqlx::query("SELECT key, value FROM meta")
            .fetch_all(&self.reader)
            .await?
        {
            let key: String = r.try_get("key")?;
            if crate::meta::is_secret(&key) {
                places.push((
                    "meta",
                    "value",
                    crate::meta::meta_aad(&key),
                    key,
                    r.try_get("value")?,
                ));
            }
        }
        let Some(ring) = &self.keyring else {
            if let Some(id) = places.iter().find_map(|p| sealed_with(&p.4)) {
                return Err(StoreError::Secret(format!(
                    "the database holds secrets sealed with key {id}; give the keys (server.secret_key_file or COGNATE_SECRET_KEYS)"
                )));
            }
            return Ok(0);
        };
        let mut resealed = 0;
        for (table, column, aad, id, stored) in places {
            if sealed_with(&stored) == Some(ring.current_id()) {
                continue;
            }
            let plain = self.open_value(&aad, stored.clone())?;
            let id_column = match table {
                "signing_keys" => "kid",
                "app_clients" => "id",
                _ => "key",
            };
            let q = format!(
                "UPDATE {table} SET {column} = $1 WHERE {id_column} = $2 AND {column} = $3"
            );
            let done = sqlx::query(&q)
                .bind(ring.seal(&aad, &plain))
                .bind(&id)
                .bind(&stored)
                .execute(&mut *self.write().await?)
                .await?;
            resealed += done.rows_affected();
        }
        self.read_cache.forget();
        Ok(resealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(lines: &[&str]) -> Keyring {
        Keyring::parse(&lines.join("\n")).unwrap()
    }

    #[test]
    fn a_value_opens_only_with_its_key_and_in_its_place() {
        let a = Keyring::new_key_line("a");
        let b = Keyring::new_key_line("b");
        let one = ring(&[&a]);
        let sealed = one.seal("app_clients.secret:c1", "s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(sealed_with(&sealed), Some("a"));
        assert_eq!(
            one.open("app_clients.secret:c1", &sealed).unwrap(),
            "s3cret"
        );
        // Moved to another row, changed, or opened without its key: refused.
        assert!(one.open("app_clients.secret:c2", &sealed).is_err());
        let mut changed = sealed.clone();
        changed.pop();
        changed.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(one.open("app_clients.secret:c1", &changed).is_err());
        assert!(ring(&[&b]).open("app_clients.secret:c1", &sealed).is_err());
        // Rotated: the new key seals, the old one still opens.
        let rotated = ring(&[&b, &a]);
        assert_eq!(
            rotated.open("app_clients.secret:c1", &sealed).unwrap(),
            "s3cret"
        );
        assert_eq!(sealed_with(&rotated.seal("x", "y")), Some("b"));
        // Two seals of one value differ (a fresh nonce each time).
        assert_ne!(one.seal("x", "y"), one.seal("x", "y"));
    }

    #[test]
    fn a_keyring_file_is_checked_line_by_line() {
        let a = Keyring::new_key_line("a");
        assert!(Keyring::parse(&format!("# current first\n\n{a}\n")).is_ok());
        for (text, why) in [
            ("", "no key"),
            ("a", "expected"),
            ("a !!!", "not base64"),
            ("a AAAA", "32 bytes"),
            ("a/b AAAA", "letters"),
        ] {
            let e = Keyring::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
        assert!(Keyring::parse(&format!("{a}\n{a}"))
            .unwrap_err()
            .contains("twice"));
    }
}
