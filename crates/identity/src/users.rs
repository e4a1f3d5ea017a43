//! Users: how usernames and aliases are compared, which attributes exist,
//! one-time codes, and the shapes the API returns.

use std::collections::BTreeMap;

use cognate_store::codes::Code;
use cognate_store::pools::Pool;
use cognate_store::users::User;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use crate::error::{CognitoError, Result};
use crate::messages::{self, Kind, Message};
use crate::{crypto, Identity};

pub use cognate_config::rules::STANDARD_ATTRIBUTES;

/// Sign-up confirmation codes live 24 hours, reset codes one hour.
pub const SIGNUP_CODE_MS: i64 = 24 * 3600 * 1000;
pub const RESET_CODE_MS: i64 = 3600 * 1000;
/// Wrong guesses after which a code is void.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

pub mod status {
    pub const UNCONFIRMED: &str = "UNCONFIRMED";
    pub const CONFIRMED: &str = "CONFIRMED";
    pub const FORCE_CHANGE_PASSWORD: &str = "FORCE_CHANGE_PASSWORD";
    pub const RESET_REQUIRED: &str = "RESET_REQUIRED";
    pub const EXTERNAL_PROVIDER: &str = "EXTERNAL_PROVIDER";
}

/// The form a pool compares usernames in: Unicode NFKC (so fullwidth,
/// compatibility and combining spellings of one name are one name), and
/// lowercase when the pool ignores case.
pub fn username_key(pool: &Pool, username: &str) -> String {
    if pool.settings.username_case_sensitive {
        username.nfkc().collect()
    } else {
        fold(username)
    }
}

/// NFKC and lowercase: the form aliases (email, preferred_username) are
/// compared in.
pub fn fold(text: &str) -> String {
    text.nfkc().collect::<String>().to_lowercase()
}

/// Characters a name may not hold: controls, and invisible or
/// direction-changing ones that make two different names look alike.
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}')
}

/// Recomputes the alias lookup keys from the attributes: an alias counts
/// when the pool signs in with it and, for aliases (not usernames), when it
/// is verified.
pub fn set_alias_keys(pool: &Pool, user: &mut User) {
    let s = &pool.settings;
    let verified = |name: &str| user.attributes.get(name).map(String::as_str) == Some("true");
    user.email_key = match user.attributes.get("email") {
        Some(e)
            if s.email_is_username()
                || (s.signs_in_with("email") && verified("email_verified")) =>
        {
            Some(fold(e))
        }
        _ => None,
    };
    user.phone_key = match user.attributes.get("phone_number") {
        Some(p)
            if s.phone_is_username()
                || (s.signs_in_with("phone_number") && verified("phone_number_verified")) =>
        {
            Some(p.clone())
        }
        _ => None,
    };
    user.preferred_username_key = match user.attributes.get("preferred_username") {
        Some(p) if s.signs_in_with("preferred_username") => Some(fold(p)),
        _ => None,
    };
}

/// A user record with nothing but its names, status and attributes (no
/// password, no factors), not yet stored and without alias keys.
pub(crate) fn new_record(
    pool: &Pool,
    sub: String,
    username: String,
    status: &str,
    attributes: BTreeMap<String, String>,
    now: i64,
) -> User {
    User {
        pool_id: pool.id.clone(),
        sub,
        username_key: username_key(pool, &username),
        username,
        email_key: None,
        phone_key: None,
        preferred_username_key: None,
        status: status.to_string(),
        enabled: true,
        attributes,
        pending_attributes: BTreeMap::new(),
        password_hash: None,
        password_set_ms: None,
        srp_salt: None,
        srp_verifier: None,
        totp_pending: None,
        totp_secret: None,
        totp_enabled: false,
        email_mfa_enabled: false,
        mfa_preferred: None,
        failed_attempts: 0,
        last_failure_ms: None,
        created_ms: now,
        updated_ms: now,
    }
}

/// Checks attribute names and values against the pool's schema.
pub fn check_attributes(pool: &Pool, attributes: &[(String, String)]) -> Result<()> {
    for (name, value) in attributes {
        let known = STANDARD_ATTRIBUTES.contains(&name.as_str())
            || name
                .strip_prefix("custom:")
                .is_some_and(|c| pool.settings.custom_attributes.iter().any(|a| a.name == c));
        if name == "sub" {
            return Err(CognitoError::invalid_parameter(
                "Attributes did not conform to the schema: sub: Attribute cannot be updated.\n",
            ));
        }
        if !known {
            return Err(CognitoError::invalid_parameter(format!(
                "Attributes did not conform to the schema: {name}: Attribute does not exist in the schema.\n"
            )));
        }
        if value.chars().count() > 2048 {
            return Err(CognitoError::invalid_parameter(format!(
                "Attributes did not conform to the schema: {name}: String must be no longer than 2048 characters\n"
            )));
        }
        if name == "email" && !valid_email(value) {
            return Err(CognitoError::invalid_parameter(
                "Invalid email address format.",
            ));
        }
        if name == "phone_number" && !valid_phone(value) {
            return Err(CognitoError::invalid_parameter(
                "Invalid phone number format.",
            ));
        }
        if (name == "email_verified" || name == "phone_number_verified")
            && value != "true"
            && value != "false"
        {
            return Err(CognitoError::invalid_parameter(format!(
                "Attributes did not conform to the schema: {name}: must be true or false\n"
            )));
        }
    }
    Ok(())
}

pub fn valid_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

fn valid_phone(value: &str) -> bool {
    value.len() > 4
        && value.len() <= 16
        && value.starts_with('+')
        && value[1..].bytes().all(|b| b.is_ascii_digit())
}

/// The required attributes a set of attributes lacks.
pub fn missing_required(pool: &Pool, attributes: &BTreeMap<String, String>) -> Option<String> {
    pool.settings
        .required_attributes
        .iter()
        .find(|r| !attributes.contains_key(r.as_str()))
        .cloned()
}

/// `[{Name, Value}]` with `sub` first, as Cognito lists them.
pub fn attribute_list(user: &User, only: Option<&[String]>) -> Value {
    let mut list = Vec::new();
    let wanted = |n: &str| only.is_none_or(|o| o.iter().any(|w| w == n));
    if wanted("sub") {
        list.push(json!({"Name": "sub", "Value": user.sub}));
    }
    for (name, value) in &user.attributes {
        if wanted(name) {
            list.push(json!({"Name": name, "Value": value}));
        }
    }
    Value::Array(list)
}

pub fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// `UserType` of ListUsers / AdminCreateUser.
pub fn user_type(user: &User, only: Option<&[String]>) -> Value {
    json!({
        "Username": user.username,
        "Attributes": attribute_list(user, only),
        "UserCreateDate": seconds(user.created_ms),
        "UserLastModifiedDate": seconds(user.updated_ms),
        "Enabled": user.enabled,
        "UserStatus": user.status,
    })
}

pub fn new_code() -> String {
    crypto::random_string(b"0123456789", 6)
}

pub fn code_hash(user: &User, purpose: &str, code: &str) -> String {
    crypto::stored_hash(&format!(
        "{}:{}:{}:{}",
        user.pool_id, user.sub, purpose, code
    ))
}

/// Where a code for this user goes: `(destination, CodeDeliveryDetails)`.
pub fn delivery(user: &User) -> Option<(String, Value)> {
    if let Some(email) = user.attributes.get("email") {
        return Some((
            email.clone(),
            json!({"Destination": messages::mask_email(email), "DeliveryMedium": "EMAIL", "AttributeName": "email"}),
        ));
    }
    user.attributes.get("phone_number").map(|p| {
        (
            p.clone(),
            json!({"Destination": messages::mask_phone(p), "DeliveryMedium": "SMS", "AttributeName": "phone_number"}),
        )
    })
}

/// Delivery details that look real for a user who does not exist, stable
/// for the same name (PreventUserExistenceErrors).
pub fn simulated_delivery(username: &str) -> Value {
    let h = crypto::sha256(username.as_bytes());
    let letter = |b: u8| (b'a' + b % 26) as char;
    json!({
        "Destination": format!("{}***@{}***", letter(h[0]), letter(h[1])),
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    })
}

impl Identity {
    /// Finds a user by what someone typed: the username, or an alias the
    /// pool signs in with.
    pub(crate) async fn resolve_user(&self, pool: &Pool, given: &str) -> Result<Option<User>> {
        if given.is_empty() || given.len() > 128 {
            return Ok(None);
        }
        let key = username_key(pool, given);
        if let Some(u) = self.store.user_by_username_key(&pool.id, &key).await? {
            return Ok(Some(u));
        }
        let s = &pool.settings;
        if s.signs_in_with("email") && given.contains('@') {
            if let Some(u) = self.store.user_by_email_key(&pool.id, &fold(given)).await? {
                return Ok(Some(u));
            }
        }
        if s.signs_in_with("phone_number") && given.starts_with('+') {
            if let Some(u) = self.store.user_by_phone_key(&pool.id, given).await? {
                return Ok(Some(u));
            }
        }
        if s.signs_in_with("preferred_username") {
            if let Some(u) = self
                .store
                .user_by_preferred_username_key(&pool.id, &fold(given))
                .await?
            {
                return Ok(Some(u));
            }
        }
        Ok(None)
    }

    pub(crate) async fn user_or_error(&self, pool: &Pool, given: &str) -> Result<User> {
        self.resolve_user(pool, given)
            .await?
            .ok_or_else(CognitoError::no_such_user)
    }

    /// Makes a code for a user, to be stored with the caller's write, and
    /// the message that carries it.
    pub(crate) fn prepare_code(
        &self,
        user: &User,
        purpose: &str,
        kind: Kind,
        valid_ms: i64,
        now_ms: i64,
    ) -> Option<(Code, Message, Value)> {
        let (to, details) = delivery(user)?;
        let code = new_code();
        let (subject, body) = match kind {
            Kind::ForgotPassword => (
                "Your password reset code",
                format!("Your password reset code is {code}."),
            ),
            _ => (
                "Your verification code",
                format!("Your verification code is {code}."),
            ),
        };
        let record = Code {
            pool_id: user.pool_id.clone(),
            sub: user.sub.clone(),
            purpose: purpose.to_string(),
            code_hash: code_hash(user, purpose, &code),
            created_ms: now_ms,
            expires_ms: now_ms + valid_ms,
            attempts: 0,
        };
        let message = Message {
            kind,
            pool_id: user.pool_id.clone(),
            username: user.username.clone(),
            to,
            subject: subject.to_string(),
            body,
            code,
            created_ms: now_ms,
        };
        Some((record, message, details))
    }

    /// Makes a code, stores it, and sends it; returns CodeDeliveryDetails.
    /// `no_destination` is the error when the user has nowhere to receive it.
    pub(crate) async fn deliver_code(
        &self,
        user: &User,
        purpose: &str,
        kind: Kind,
        valid_ms: i64,
        now_ms: i64,
        no_destination: &str,
    ) -> Result<Value> {
        let (code, message, details) = self
            .prepare_code(user, purpose, kind, valid_ms, now_ms)
            .ok_or_else(|| CognitoError::invalid_parameter(no_destination))?;
        self.store.put_code(&code).await?;
        self.deliver(message).await?;
        Ok(details)
    }

    /// Checks a code a user typed; a wrong guess is counted, and too many
    /// void the code.
    pub(crate) async fn check_code(
        &self,
        user: &User,
        purpose: &str,
        typed: &str,
        now_ms: i64,
    ) -> Result<()> {
        let stored = self.store.code(&user.pool_id, &user.sub, purpose).await?;
        let Some(stored) = stored else {
            return Err(CognitoError::expired_code(
                "Invalid code provided, please request a code again.",
            ));
        };
        if stored.expires_ms <= now_ms {
            return Err(CognitoError::expired_code(
                "Invalid code provided, please request a code again.",
            ));
        }
        if stored.attempts >= MAX_CODE_ATTEMPTS {
            return Err(CognitoError::too_many_failed_attempts(
                "Too many failed attempts. Request a new code.",
            ));
        }
        if !crypto::equal(
            code_hash(user, purpose, typed.trim()).as_bytes(),
            stored.code_hash.as_bytes(),
        ) {
            self.store
                .bump_code_attempts(&user.pool_id, &user.sub, purpose)
                .await?;
            return Err(CognitoError::code_mismatch(
                "Invalid verification code provided, please try again.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_has_one_key() {
        assert_eq!(fold("ＡＬＩＣＥ"), "alice");
        assert_eq!(fold("Jose\u{301}"), fold("Jos\u{e9}"));
        assert_eq!(fold("ﬁle"), "file");
        assert_eq!(fold(&fold("Ｋａｔｅ")), fold("Ｋａｔｅ"), "idempotent");
        for c in [
            '\u{200B}', '\u{200D}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\u{0007}',
        ] {
            assert!(is_deceptive(c), "{c:?}");
        }
        assert!(!is_deceptive('é') && !is_deceptive('ß') && !is_deceptive('-'));
    }
}
