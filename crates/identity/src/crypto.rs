//! Thin helpers over aws-lc-rs: randomness, digests, HMAC, encodings.

use aws_lc_rs::{constant_time, digest, hmac, rand};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out).expect("the system random source works");
    out
}

/// A random string over `alphabet`, without modulo bias.
pub fn random_string(alphabet: &[u8], len: usize) -> String {
    assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<64>() {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

pub const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&sha256(data))
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

pub fn equal(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes unpadded base64url, refusing any other spelling (padding, `+`,
/// `/`, whitespace, non-zero trailing bits): one token has one encoding.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    (URL_SAFE_NO_PAD.encode(&bytes) == text).then_some(bytes)
}

/// Decodes `%XX` escapes (malformed ones are kept as written); with
/// `plus_is_space`, `+` is a space, as in HTML forms.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // Two hex digits, read as bytes: slicing the text there could
            // cut a character in two (found by fuzzing), and
            // `from_str_radix` would take a sign (`%+1`).
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push((high * 16 + low) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `SECRET_HASH` of Cognito: Base64(HMAC-SHA256(client secret, username + client id)).
pub fn secret_hash(client_secret: &str, username: &str, client_id: &str) -> String {
    let mut msg = String::with_capacity(username.len() + client_id.len());
    msg.push_str(username);
    msg.push_str(client_id);
    b64(&hmac_sha256(client_secret.as_bytes(), msg.as_bytes()))
}

/// A token or code as it is stored: SHA-256, hex.
pub fn stored_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_reads_two_hex_digits_and_keeps_anything_else() {
        assert_eq!(percent_decode("a%41%4a+b", false), "aAJ+b");
        assert_eq!(percent_decode("a+b", true), "a b");
        // A character cut by the escape's end, a sign, a short escape: kept.
        assert_eq!(percent_decode("%a\u{46f}", false), "%a\u{46f}");
        assert_eq!(percent_decode("%+1%-1", false), "%+1%-1");
        assert_eq!(percent_decode("%4", false), "%4");
        assert_eq!(percent_decode("%", false), "%");
    }

    #[test]
    fn secret_hash_matches_the_documented_construction() {
        // Computed independently with: printf '%s' 'aliceclient1' |
        //   openssl dgst -sha256 -hmac 'secret1' -binary | base64
        assert_eq!(
            secret_hash("secret1", "alice", "client1"),
            "MG2M/k1y1QF8QihjMNpPzhAPU3+R7SL2Bod0iZju8y0="
        );
    }

    #[test]
    fn base64url_has_exactly_one_spelling() {
        assert_eq!(b64url_decode("AQID").unwrap(), vec![1, 2, 3]);
        assert!(b64url_decode("AQID=").is_none());
        assert!(b64url_decode("AQ+D").is_none());
        assert!(b64url_decode("AQ I D").is_none());
        // "AR" decodes to 0x01 with non-zero trailing bits; only "AQ" is canonical.
        assert!(b64url_decode("AR").is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c%2", false), "a b+c%2");
        assert_eq!(percent_decode("a%20b+c%zz", true), "a b c%zz");
        assert_eq!(percent_decode("%41", true), "A");
    }

    #[test]
    fn random_strings_use_the_alphabet() {
        let s = random_string(LOWER_ALNUM, 26);
        assert_eq!(s.len(), 26);
        assert!(s.bytes().all(|b| LOWER_ALNUM.contains(&b)));
        assert_ne!(s, random_string(LOWER_ALNUM, 26));
    }
}
