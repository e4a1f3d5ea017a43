//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps,
//! 6 digits), the software-token MFA of Cognito and of every authenticator
//! app. The HMAC is aws-lc-rs's; the few lines of RFC 4226 truncation and
//! RFC 4648 base32 are written here rather than adding a crate for them.

use aws_lc_rs::hmac;

use crate::crypto;

/// Seconds per step.
pub const STEP: i64 = 30;
/// Steps accepted on either side of now (clock drift).
pub const WINDOW: i64 = 1;

/// A new authenticator for the hosted setup page.
#[derive(Debug, Clone)]
pub struct TotpSetup {
    /// base32, as typed into an app.
    pub secret: String,
    /// `otpauth://totp/...`, for the QR code.
    pub uri: String,
}

/// A new secret: 20 random bytes (160 bits, RFC 4226's recommendation).
pub fn new_secret() -> Vec<u8> {
    crypto::random_bytes::<20>().to_vec()
}

/// RFC 4648 base32 without padding, as authenticator apps read it.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The code for one time step (RFC 4226 dynamic truncation).
pub fn code_at(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &(step as u64).to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

/// The step a typed code belongs to, if it is valid now (± the window).
pub fn matching_step(secret: &[u8], typed: &str, now_seconds: i64) -> Option<i64> {
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = now_seconds.div_euclid(STEP);
    (now - WINDOW..=now + WINDOW)
        .find(|&step| crypto::equal(code_at(secret, step).as_bytes(), typed.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (the 8-digit codes, last six digits).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight_digits) in [
            (59i64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
        ] {
            assert_eq!(code_at(secret, time / STEP), eight_digits[2..], "t={time}");
        }
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b""), "");
    }

    #[test]
    fn codes_match_within_one_step_only() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = code_at(&secret, now / STEP);
        assert_eq!(matching_step(&secret, &code, now), Some(now / STEP));
        assert_eq!(matching_step(&secret, &code, now + STEP), Some(now / STEP));
        assert_eq!(matching_step(&secret, &code, now + 3 * STEP), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }
}
