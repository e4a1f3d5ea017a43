//! Rules that a pool or an app client must satisfy, shared by the config file
//! and the Cognito JSON API (CreateUserPoolClient & co.), so both refuse the
//! same settings for the same reasons.

use crate::model::{ClientSettings, OAuthFlow, PasswordPolicy, PoolSettings, Validity};

/// Which Cognito error a broken rule maps to on the JSON API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    InvalidParameter,
    InvalidOAuthFlow,
    ScopeDoesNotExist,
}

/// One broken rule: the field it concerns and a message in Cognito's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    pub field: String,
    pub message: String,
}

impl Violation {
    fn param(field: impl Into<String>, message: impl Into<String>) -> Violation {
        Violation {
            kind: ViolationKind::InvalidParameter,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Scopes every pool knows without a resource server.
pub const STANDARD_SCOPES: [&str; 5] = [
    "openid",
    "email",
    "phone",
    "profile",
    "aws.cognito.signin.user.admin",
];

const USERNAME_ATTRIBUTES: [&str; 2] = ["email", "phone_number"];
const ALIAS_ATTRIBUTES: [&str; 3] = ["email", "phone_number", "preferred_username"];

/// Checks a pool's settings.
pub fn check_pool(settings: &PoolSettings) -> Vec<Violation> {
    let mut out = check_password_policy(&settings.password_policy);
    for a in &settings.username_attributes {
        if !USERNAME_ATTRIBUTES.contains(&a.as_str()) {
            out.push(Violation::param(
                "username_attributes",
                format!("{a} is not a valid username attribute (email, phone_number)"),
            ));
        }
    }
    for a in &settings.alias_attributes {
        if !ALIAS_ATTRIBUTES.contains(&a.as_str()) {
            out.push(Violation::param(
                "alias_attributes",
                format!(
                    "{a} is not a valid alias attribute (email, phone_number, preferred_username)"
                ),
            ));
        }
    }
    if !settings.username_attributes.is_empty() && !settings.alias_attributes.is_empty() {
        out.push(Violation::param(
            "alias_attributes",
            "Only one of the aliasAttributes or usernameAttributes can be set in a User Pool.",
        ));
    }
    for a in &settings.attributes_require_verification_before_update {
        if a != "email" {
            out.push(Violation::param(
                "attributes_require_verification_before_update",
                format!("{a} cannot wait for verification here (email can; there is no SMS)"),
            ));
        } else if !settings.auto_verified_attributes.iter().any(|v| v == a) {
            out.push(Violation::param(
                "attributes_require_verification_before_update",
                format!("{a} must also be an auto-verified attribute"),
            ));
        }
    }
    for a in &settings.auto_verified_attributes {
        if !USERNAME_ATTRIBUTES.contains(&a.as_str()) {
            out.push(Violation::param(
                "auto_verified_attributes",
                format!("{a} cannot be auto-verified (email, phone_number)"),
            ));
        }
    }
    for c in &settings.custom_attributes {
        if c.name.is_empty() || c.name.len() > 20 || c.name.contains(':') {
            out.push(Violation::param(
                "custom_attributes",
                format!(
                    "custom attribute name '{}' must be 1-20 characters without ':'",
                    c.name
                ),
            ));
        }
        if !["String", "Number", "DateTime", "Boolean"].contains(&c.data_type.as_str()) {
            out.push(Violation::param(
                "custom_attributes",
                format!(
                    "{} is not an attribute data type (String, Number, DateTime, Boolean)",
                    c.data_type
                ),
            ));
        }
    }
    out
}

pub fn check_password_policy(p: &PasswordPolicy) -> Vec<Violation> {
    let mut out = Vec::new();
    if !(6..=99).contains(&p.minimum_length) {
        out.push(Violation::param(
            "password_policy.minimum_length",
            "MinimumLength must be between 6 and 99",
        ));
    }
    if p.temporary_password_validity_days > 365 {
        out.push(Violation::param(
            "password_policy.temporary_password_validity_days",
            "TemporaryPasswordValidityDays must be between 0 and 365",
        ));
    }
    out
}

/// Checks an app client's settings against the scopes its pool knows
/// (standard scopes plus `resourceServer/scope` of its resource servers).
pub fn check_client(
    settings: &ClientSettings,
    has_secret: bool,
    known_custom_scopes: &[String],
) -> Vec<Violation> {
    let mut out = Vec::new();
    let flows = &settings.allowed_oauth_flows;
    if flows.contains(&OAuthFlow::ClientCredentials) {
        if !has_secret {
            out.push(Violation {
                kind: ViolationKind::InvalidOAuthFlow,
                field: "allowed_oauth_flows".into(),
                message: "client_credentials flow can not be selected if client does not have a client secret.".into(),
            });
        }
        if flows.contains(&OAuthFlow::Code) || flows.contains(&OAuthFlow::Implicit) {
            out.push(Violation {
                kind: ViolationKind::InvalidOAuthFlow,
                field: "allowed_oauth_flows".into(),
                message: "client_credentials flow can not be selected along with code flow or implicit flow.".into(),
            });
        }
        if settings
            .allowed_oauth_scopes
            .iter()
            .any(|s| STANDARD_SCOPES.contains(&s.as_str()))
        {
            out.push(Violation::param(
                "allowed_oauth_scopes",
                "client_credentials flow can only use custom scopes.",
            ));
        }
    }
    for scope in &settings.allowed_oauth_scopes {
        if !STANDARD_SCOPES.contains(&scope.as_str()) && !known_custom_scopes.contains(scope) {
            out.push(Violation {
                kind: ViolationKind::ScopeDoesNotExist,
                field: "allowed_oauth_scopes".into(),
                message: format!("Invalid scope requested: {scope}"),
            });
        }
    }
    for (i, url) in settings.callback_urls.iter().enumerate() {
        if let Err(why) = check_redirect_url(url) {
            out.push(Violation::param(format!("callback_urls[{i}]"), why));
        }
    }
    for (i, url) in settings.logout_urls.iter().enumerate() {
        if let Err(why) = check_redirect_url(url) {
            out.push(Violation::param(format!("logout_urls[{i}]"), why));
        }
    }
    if let Some(d) = &settings.default_redirect_uri {
        if !settings.callback_urls.contains(d) {
            out.push(Violation::param(
                "default_redirect_uri",
                "DefaultRedirectURI must be one of the CallbackURLs",
            ));
        }
    }
    let access = settings.access_token_validity.seconds();
    if !(300..=86_400).contains(&access) {
        out.push(Violation::param(
            "access_token_validity",
            "Access token validity must be between 5 minutes and 1 day",
        ));
    }
    let id = settings.id_token_validity.seconds();
    if !(300..=86_400).contains(&id) {
        out.push(Violation::param(
            "id_token_validity",
            "ID token validity must be between 5 minutes and 1 day",
        ));
    }
    let refresh = settings.refresh_token_validity.seconds();
    if !(3600..=315_360_000).contains(&refresh) {
        out.push(Violation::param(
            "refresh_token_validity",
            "Refresh token validity must be between 60 minutes and 10 years",
        ));
    }
    if refresh < access || refresh < id {
        out.push(Violation::param(
            "refresh_token_validity",
            "Refresh token validity must be greater than access and ID token validity",
        ));
    }
    if !(3..=15).contains(&settings.auth_session_validity_minutes) {
        out.push(Violation::param(
            "auth_session_validity_minutes",
            "AuthSessionValidity must be between 3 and 15 minutes",
        ));
    }
    if let Some(r) = settings.refresh_token_rotation {
        if r.retry_grace_period_seconds > 60 {
            out.push(Violation::param(
                "refresh_token_rotation.retry_grace_period_seconds",
                "RetryGracePeriodSeconds must be between 0 and 60",
            ));
        }
    }
    out
}

/// A callback or sign-out URL as Cognito accepts it: absolute, no fragment,
/// HTTPS except on loopback hosts; app schemes (`myapp://cb`) are allowed,
/// script-capable schemes never.
pub fn check_redirect_url(raw: &str) -> Result<(), String> {
    if raw.len() > 1024 {
        return Err("URL is longer than 1024 characters".into());
    }
    let url = url::Url::parse(raw).map_err(|_| format!("{raw} is not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(format!("{raw} must not contain a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host() {
            Some(url::Host::Domain("localhost")) => Ok(()),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            _ => Err(format!(
                "{raw} must use HTTPS (http is allowed for localhost only)"
            )),
        },
        "javascript" | "data" | "file" | "vbscript" | "blob" => Err(format!(
            "{raw} uses a scheme that cannot be a redirect target"
        )),
        _ => Ok(()),
    }
}

/// Parses `"60m"`, `"1h"`, `"30d"`, `"3600s"`, as the config writes lifetimes.
pub fn parse_validity(raw: &str) -> Result<Validity, String> {
    use crate::model::TimeUnit;
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("'{raw}' needs a unit: s, m, h or d (e.g. \"60m\")"))?;
    let (number, unit) = raw.split_at(split);
    let amount: u64 = number
        .parse()
        .map_err(|_| format!("'{raw}' does not start with a whole number"))?;
    let unit = match unit {
        "s" => TimeUnit::Seconds,
        "m" => TimeUnit::Minutes,
        "h" => TimeUnit::Hours,
        "d" => TimeUnit::Days,
        _ => return Err(format!("'{raw}' has unit '{unit}'; use s, m, h or d")),
    };
    Ok(Validity::new(amount, unit))
}

/// Region names as AWS spells them (`us-east-1`, `us-gov-west-1`); pool ids
/// start with one, and aws-jwt-verify checks that shape.
pub fn is_region(value: &str) -> bool {
    let mut parts = value.split('-');
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    let two_letters = a.len() == 2 && a.bytes().all(|c| c.is_ascii_lowercase());
    let word = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_lowercase());
    let digit = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match rest.as_slice() {
        [n] => two_letters && word(b) && digit(n),
        [w, n] => two_letters && b == "gov" && word(w) && digit(n),
        _ => false,
    }
}

/// OpenID standard attributes every pool has.
pub const STANDARD_ATTRIBUTES: [&str; 19] = [
    "address",
    "birthdate",
    "email",
    "email_verified",
    "family_name",
    "gender",
    "given_name",
    "locale",
    "middle_name",
    "name",
    "nickname",
    "phone_number",
    "phone_number_verified",
    "picture",
    "preferred_username",
    "profile",
    "updated_at",
    "website",
    "zoneinfo",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_follow_cognito_rules() {
        assert!(check_redirect_url("https://app.example.com/cb").is_ok());
        assert!(check_redirect_url("http://localhost:3000/").is_ok());
        assert!(check_redirect_url("http://127.0.0.1:8080/cb").is_ok());
        assert!(check_redirect_url("http://[::1]/cb").is_ok());
        assert!(check_redirect_url("myapp://callback").is_ok());
        assert!(check_redirect_url("http://app.example.com/cb").is_err());
        assert!(check_redirect_url("https://app.example.com/cb#x").is_err());
        assert!(check_redirect_url("/relative").is_err());
        assert!(check_redirect_url("javascript:alert(1)").is_err());
        assert!(check_redirect_url("data:text/html,x").is_err());
    }

    #[test]
    fn validities_parse_with_units() {
        assert_eq!(parse_validity("60m").unwrap().seconds(), 3600);
        assert_eq!(parse_validity("30d").unwrap().seconds(), 30 * 86_400);
        assert_eq!(parse_validity("3600s").unwrap().seconds(), 3600);
        assert!(parse_validity("60").is_err());
        assert!(parse_validity("m").is_err());
        assert!(parse_validity("5w").is_err());
    }

    #[test]
    fn region_shapes() {
        assert!(is_region("us-east-1"));
        assert!(is_region("eu-central-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("local"));
        assert!(!is_region("US-east-1"));
        assert!(!is_region("us-east"));
    }

    #[test]
    fn client_credentials_needs_a_secret_and_stands_alone() {
        let mut s = ClientSettings {
            allowed_oauth_flows: vec![OAuthFlow::ClientCredentials, OAuthFlow::Code],
            ..ClientSettings::default()
        };
        let v = check_client(&s, false, &[]);
        assert_eq!(
            v.iter()
                .filter(|v| v.kind == ViolationKind::InvalidOAuthFlow)
                .count(),
            2
        );
        s.allowed_oauth_flows = vec![OAuthFlow::ClientCredentials];
        s.allowed_oauth_scopes = vec!["api/read".into()];
        assert!(check_client(&s, true, &["api/read".into()]).is_empty());
        let v = check_client(&s, true, &[]);
        assert_eq!(v[0].kind, ViolationKind::ScopeDoesNotExist);
    }
}
