//! Passwords: policy checks, argon2id hashing, temporary passwords.
//!
//! Hashing uses argon2id with OWASP's minimum parameters (19 MiB, 2
//! iterations, 1 lane). It runs on the blocking pool so a burst of sign-ins
//! cannot stall the async workers. Unknown users get a verification against
//! a dummy hash, so "no such user" costs what "wrong password" costs.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use cognate_config::PasswordPolicy;

use crate::crypto;
use crate::error::{CognitoError, Result};

/// argon2id memory cost in KiB (OWASP minimum: 19 MiB).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// argon2id iterations (OWASP minimum with 19 MiB: 2).
pub const ARGON2_ITERATIONS: u32 = 2;
/// argon2id lanes.
pub const ARGON2_LANES: u32 = 1;

/// The longest password accepted (Cognito's model limit); longer ones are
/// refused before any hashing.
pub const MAX_PASSWORD_LEN: usize = 256;

/// Characters Cognito counts as symbols.
const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ";

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None)
        .expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the shape every password must have (any policy).
pub fn check_shape(password: &str) -> Result<()> {
    if password.is_empty() || password.chars().count() > MAX_PASSWORD_LEN {
        return Err(CognitoError::invalid_parameter(
            "1 validation error detected: Value at 'password' failed to satisfy constraint: \
             Member must have length less than or equal to 256",
        ));
    }
    if password.starts_with(char::is_whitespace) || password.ends_with(char::is_whitespace) {
        return Err(CognitoError::invalid_parameter(
            "1 validation error detected: Value at 'password' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: ^[\\S]+.*[\\S]+$",
        ));
    }
    Ok(())
}

/// Checks a password against a pool's policy, with Cognito's messages.
pub fn check_policy(policy: &PasswordPolicy, password: &str) -> Result<()> {
    check_shape(password)?;
    let fail = |why: &str| {
        Err(CognitoError::invalid_password(format!(
            "Password did not conform with policy: {why}"
        )))
    };
    if password.chars().count() < policy.minimum_length as usize {
        return fail("Password not long enough");
    }
    if policy.require_lowercase && !password.chars().any(|c| c.is_lowercase()) {
        return fail("Password must have lowercase characters");
    }
    if policy.require_uppercase && !password.chars().any(|c| c.is_uppercase()) {
        return fail("Password must have uppercase characters");
    }
    if policy.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
        return fail("Password must have numeric characters");
    }
    if policy.require_symbols && !password.chars().any(|c| SYMBOLS.contains(c)) {
        return fail("Password must have symbol characters");
    }
    Ok(())
}

/// Hashes a password (argon2id, PHC string).
pub async fn hash(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|_| CognitoError::internal("An internal error occurred."))?
}

fn hash_now(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&crypto::random_bytes::<16>())
        .map_err(|_| CognitoError::internal("An internal error occurred."))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| CognitoError::internal("An internal error occurred."))
}

/// Verifies a password against a stored hash; `None` (no user, no password)
/// verifies against a dummy hash and returns false, taking the same time.
pub async fn verify(password: &str, stored: Option<&str>) -> bool {
    let password = password.to_owned();
    let stored = stored.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let dummy = dummy_hash();
        let (target, real) = match &stored {
            Some(s) => (s.as_str(), true),
            None => (dummy, false),
        };
        let Ok(parsed) = PasswordHash::new(target) else {
            return false;
        };
        let ok = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && real
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = crypto::random_string(crypto::ALNUM, 24);
        hash_now(&random).expect("hashing a random password works")
    })
}

/// A temporary password that satisfies `policy`: at least 12 characters
/// with every character class.
pub fn temporary(policy: &PasswordPolicy) -> String {
    let len = (policy.minimum_length as usize).max(12);
    let mut p = String::new();
    p.push_str(&crypto::random_string(b"ABCDEFGHJKLMNPQRSTUVWXYZ", 1));
    p.push_str(&crypto::random_string(b"abcdefghijkmnopqrstuvwxyz", 1));
    p.push_str(&crypto::random_string(b"23456789", 1));
    p.push_str(&crypto::random_string(b"!#%+-=.", 1));
    p.push_str(&crypto::random_string(crypto::ALNUM, len - 4));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_messages_name_the_first_missing_class() {
        let p = PasswordPolicy::default();
        let msg = |pw: &str| check_policy(&p, pw).unwrap_err().message;
        assert!(msg("Ab1!").ends_with("Password not long enough"));
        assert!(msg("ABCDEFG1!").ends_with("Password must have lowercase characters"));
        assert!(msg("abcdefg1!").ends_with("Password must have uppercase characters"));
        assert!(msg("Abcdefgh!").ends_with("Password must have numeric characters"));
        assert!(msg("Abcdefgh1").ends_with("Password must have symbol characters"));
        assert!(check_policy(&p, "Abcdef1!").is_ok());
        assert_eq!(
            check_policy(&p, "Abcde1!").unwrap_err().kind,
            crate::error::ErrorKind::InvalidPassword
        );
        assert!(check_policy(&p, "Abcdefg1!x").is_ok());
        assert_eq!(
            check_policy(&p, &"Aa1!".repeat(65)).unwrap_err().kind,
            crate::error::ErrorKind::InvalidParameter
        );
        assert_eq!(
            check_policy(&p, " Abcdefg1!").unwrap_err().kind,
            crate::error::ErrorKind::InvalidParameter
        );
    }

    #[test]
    fn temporary_passwords_satisfy_the_policy() {
        let p = PasswordPolicy {
            minimum_length: 20,
            ..PasswordPolicy::default()
        };
        for _ in 0..20 {
            let t = temporary(&p);
            assert!(check_policy(&p, &t).is_ok(), "{t}");
        }
    }

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let h = hash("Correct1!").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("Correct1!", Some(&h)).await);
        assert!(!verify("Wrong1!", Some(&h)).await);
        assert!(!verify("Correct1!", None).await);
        assert!(!verify("Correct1!", Some("not a hash")).await);
    }
}
