//! Software-token (TOTP) MFA: associating and verifying an authenticator,
//! user and pool MFA settings, and the MFA challenges of a sign-in.
//!
//! A sign-in with a proven password then goes: pool MFA OFF -> tokens; user
//! with TOTP on -> SOFTWARE_TOKEN_MFA; pool MFA ON and no TOTP yet ->
//! MFA_SETUP (AssociateSoftwareToken and VerifySoftwareToken with the
//! Session, then RespondToAuthChallenge MFA_SETUP); OPTIONAL -> tokens.

use cognate_config::MfaConfiguration;
use cognate_store::codes::AuthSession;
use cognate_store::pools::{Client, Pool};
use cognate_store::users::User;
use serde::Deserialize;
use serde_json::{json, Value};

use super::check_pool_id;
use crate::error::{CognitoError, Result};
use crate::messages::Kind;
use crate::{crypto, totp, Identity};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AssociateIn {
    access_token: Option<String>,
    session: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VerifyIn {
    access_token: Option<String>,
    session: Option<String>,
    user_code: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct FactorIn {
    enabled: Option<bool>,
    preferred_mfa: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PreferenceIn {
    access_token: Option<String>,
    user_pool_id: Option<String>,
    username: Option<String>,
    #[serde(rename = "SMSMfaSettings")]
    sms: Option<FactorIn>,
    software_token_mfa_settings: Option<FactorIn>,
    email_mfa_settings: Option<FactorIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SoftwareTokenConfigIn {
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PoolMfaIn {
    user_pool_id: String,
    mfa_configuration: Option<String>,
    software_token_mfa_configuration: Option<SoftwareTokenConfigIn>,
}

/// The second factors a user has on, preferred first.
pub(crate) fn factors(user: &User) -> Vec<&'static str> {
    let mut out = Vec::new();
    if user.totp_enabled && user.totp_secret.is_some() {
        out.push("SOFTWARE_TOKEN_MFA");
    }
    if user.email_mfa_enabled {
        out.push("EMAIL_OTP");
    }
    if let Some(p) = user.mfa_preferred.as_deref() {
        out.sort_by_key(|f| *f != p);
    }
    out
}

fn mfa_name(m: MfaConfiguration) -> &'static str {
    match m {
        MfaConfiguration::Off => "OFF",
        MfaConfiguration::On => "ON",
        MfaConfiguration::Optional => "OPTIONAL",
    }
}

impl Identity {
    /// The end of an API sign-in: PostAuthentication, then the tokens
    /// (PreTokenGeneration runs as they are made).
    pub(crate) async fn authenticated(
        &self,
        pool: &Pool,
        client: &Client,
        user: &User,
        source: &'static str,
        now: i64,
    ) -> Result<Value> {
        self.post_authentication(pool, &client.id, user).await?;
        let issued = self
            .issue(pool, client, user, super::auth::api_grant(source), now)
            .await?;
        Ok(
            json!({"ChallengeParameters": {}, "AuthenticationResult": issued.authentication_result()}),
        )
    }

    /// After a proven password of a CONFIRMED user: an MFA challenge, or
    /// tokens.
    pub(crate) async fn mfa_or_tokens(
        &self,
        pool: &Pool,
        client: &Client,
        user: &User,
        source: &'static str,
        now: i64,
    ) -> Result<Value> {
        let first_factor = factors(user).first().copied();
        let challenge = match pool.settings.mfa {
            MfaConfiguration::Off => None,
            _ if first_factor.is_some() => first_factor,
            MfaConfiguration::On => Some("MFA_SETUP"),
            MfaConfiguration::Optional => None,
        };
        let Some(challenge) = challenge else {
            return self.authenticated(pool, client, user, source, now).await;
        };
        let session = self.new_session(pool, client, user, challenge, now).await?;
        let parameters = match challenge {
            "MFA_SETUP" => {
                json!({"MFAS_CAN_SETUP": "[\"SOFTWARE_TOKEN_MFA\"]", "USER_ID_FOR_SRP": user.username})
            }
            "EMAIL_OTP" => {
                let valid_ms = client.settings.auth_session_validity_minutes as i64 * 60_000;
                let details = self
                    .deliver_code(
                        user,
                        EMAIL_OTP_PURPOSE,
                        Kind::EmailOtp,
                        valid_ms,
                        now,
                        "The user has no email address for EMAIL_OTP.",
                    )
                    .await?;
                json!({
                    "CODE_DELIVERY_DELIVERY_MEDIUM": "EMAIL",
                    "CODE_DELIVERY_DESTINATION": details["Destination"],
                    "USER_ID_FOR_SRP": user.username,
                })
            }
            _ => json!({"USER_ID_FOR_SRP": user.username}),
        };
        Ok(
            json!({"ChallengeName": challenge, "Session": session, "ChallengeParameters": parameters}),
        )
    }

    /// Starts a challenge session; returns the Session string.
    pub(crate) async fn new_session(
        &self,
        pool: &Pool,
        client: &Client,
        user: &User,
        challenge: &str,
        now: i64,
    ) -> Result<String> {
        let session = crypto::b64url(&crypto::random_bytes::<96>());
        self.store
            .insert_auth_session(&AuthSession {
                session_hash: crypto::stored_hash(&session),
                pool_id: pool.id.clone(),
                client_id: client.id.clone(),
                sub: user.sub.clone(),
                challenge: challenge.into(),
                created_ms: now,
                expires_ms: now + client.settings.auth_session_validity_minutes as i64 * 60_000,
                payload: None,
            })
            .await?;
        Ok(session)
    }

    /// The user of a live MFA_SETUP session (not taken).
    async fn setup_session_user(&self, session: &str, now: i64) -> Result<(Pool, User)> {
        let expired =
            || CognitoError::not_authorized("Invalid session for the user, session is expired.");
        let s = self
            .store
            .auth_session(&crypto::stored_hash(session), now)
            .await?
            .filter(|s| s.challenge == "MFA_SETUP")
            .ok_or_else(expired)?;
        let pool = self.pool_or_error(&s.pool_id).await?;
        let user = self
            .store
            .user_by_sub(&pool.id, &s.sub)
            .await?
            .ok_or_else(expired)?;
        Ok((pool, user))
    }

    async fn token_or_session_user(
        &self,
        token: Option<&str>,
        session: Option<&str>,
        now: i64,
    ) -> Result<(Pool, User)> {
        match (token, session) {
            (Some(t), _) => {
                let (pool, user, _) = self.user_from_access_token(t, now).await?;
                Ok((pool, user))
            }
            (None, Some(s)) => self.setup_session_user(s, now).await,
            (None, None) => Err(CognitoError::invalid_parameter(
                "AccessToken or Session is required.",
            )),
        }
    }

    pub(crate) async fn associate_software_token(&self, i: AssociateIn, now: i64) -> Result<Value> {
        let (_, mut user) = self
            .token_or_session_user(i.access_token.as_deref(), i.session.as_deref(), now)
            .await?;
        let secret = totp::new_secret();
        user.totp_pending = Some(crypto::hex(&secret));
        user.updated_ms = now;
        self.store.update_user(&user, None, None).await?;
        let mut out = json!({"SecretCode": totp::base32(&secret)});
        if let Some(s) = i.session {
            out["Session"] = json!(s);
        }
        Ok(out)
    }

    pub(crate) async fn verify_software_token(&self, i: VerifyIn, now: i64) -> Result<Value> {
        let (_, mut user) = self
            .token_or_session_user(i.access_token.as_deref(), i.session.as_deref(), now)
            .await?;
        let secret = user
            .totp_pending
            .as_deref()
            .and_then(hex_bytes)
            .ok_or_else(|| {
                CognitoError::software_token_mfa_not_found(
                    "Software Token MFA has not been associated.",
                )
            })?;
        let mismatch = || {
            CognitoError::enable_software_token_mfa(
                "Code mismatch and fail enable Software Token MFA mode",
            )
        };
        let step =
            totp::matching_step(&secret, i.user_code.trim(), now / 1000).ok_or_else(mismatch)?;
        if !self
            .store
            .use_totp_step(&user.pool_id, &user.sub, step)
            .await?
        {
            return Err(mismatch());
        }
        user.totp_secret = user.totp_pending.take();
        user.updated_ms = now;
        self.store.update_user(&user, None, None).await?;
        let mut out = json!({"Status": "SUCCESS"});
        if let Some(s) = i.session {
            out["Session"] = json!(s);
        }
        Ok(out)
    }

    pub(crate) async fn set_user_mfa_preference(
        &self,
        i: PreferenceIn,
        admin: bool,
        now: i64,
    ) -> Result<Value> {
        let (pool, mut user) = if admin {
            let pool_id = i.user_pool_id.as_deref().unwrap_or_default();
            let username = i.username.as_deref().unwrap_or_default();
            self.admin_user(pool_id, username).await?
        } else {
            let token = i
                .access_token
                .as_deref()
                .ok_or_else(|| CognitoError::invalid_parameter("AccessToken is required."))?;
            let (pool, user, _) = self.user_from_access_token(token, now).await?;
            (pool, user)
        };
        if i.sms
            .as_ref()
            .is_some_and(|f| f.enabled == Some(true) || f.preferred_mfa == Some(true))
        {
            return Err(CognitoError::invalid_parameter(
                "SMS MFA is not supported by this version of cognate; use software token or email MFA.",
            ));
        }
        if let Some(e) = &i.email_mfa_settings {
            let ready = user.attributes.get("email_verified").map(String::as_str) == Some("true");
            user.email_mfa_enabled = set_factor(
                e,
                ready,
                "User does not have a verified email address for EMAIL_OTP.",
                "EMAIL_OTP",
                &mut user.mfa_preferred,
            )?;
        }
        if let Some(t) = &i.software_token_mfa_settings {
            let ready = user.totp_secret.is_some();
            user.totp_enabled = set_factor(
                t,
                ready,
                "User has not verified software token mfa",
                "SOFTWARE_TOKEN_MFA",
                &mut user.mfa_preferred,
            )?;
        }
        if pool.settings.mfa == MfaConfiguration::On && factors(&user).is_empty() {
            return Err(CognitoError::invalid_parameter(
                "MFA is required by the user pool and cannot be turned off for the user.",
            ));
        }
        user.updated_ms = now;
        self.store.update_user(&user, None, None).await?;
        Ok(json!({}))
    }

    pub(crate) async fn set_user_pool_mfa_config(&self, i: PoolMfaIn, now: i64) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let mut pool = self.pool_or_error(&i.user_pool_id).await?;
        if let Some(m) = &i.mfa_configuration {
            pool.settings.mfa = match m.as_str() {
                "OFF" => MfaConfiguration::Off,
                "ON" => MfaConfiguration::On,
                "OPTIONAL" => MfaConfiguration::Optional,
                other => {
                    return Err(super::constraint(
                        "mfaConfiguration",
                        other,
                        "Member must satisfy enum value set: [OFF, ON, OPTIONAL]",
                    ))
                }
            };
        }
        if i.software_token_mfa_configuration
            .as_ref()
            .and_then(|c| c.enabled)
            == Some(false)
            && pool.settings.mfa != MfaConfiguration::Off
        {
            return Err(CognitoError::invalid_parameter(
                "Software token MFA is the only MFA this version of cognate offers; it cannot be disabled while MFA is ON or OPTIONAL.",
            ));
        }
        pool.updated_ms = now;
        self.store.update_pool(&pool).await?;
        Ok(pool_mfa_json(&pool))
    }

    pub(crate) async fn get_user_pool_mfa_config(&self, i: PoolMfaIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        Ok(pool_mfa_json(&pool))
    }

    /// RespondToAuthChallenge SOFTWARE_TOKEN_MFA: a wrong code counts toward
    /// the lockout and leaves the session usable; a right one is good once.
    pub(crate) async fn software_token_answer(
        &self,
        pool: &Pool,
        client: &Client,
        session: &str,
        user: User,
        code: &str,
        now: i64,
    ) -> Result<Value> {
        self.check_lock(&user, now)?;
        self.use_totp_code(&user, user.totp_secret.as_deref(), code, now)
            .await?;
        self.finish_second_factor(pool, client, session, &user, now)
            .await
    }

    /// RespondToAuthChallenge EMAIL_OTP: the code mailed for this sign-in;
    /// wrong codes count toward the lockout, the right one is good once.
    pub(crate) async fn email_otp_answer(
        &self,
        pool: &Pool,
        client: &Client,
        session: &str,
        user: User,
        code: &str,
        now: i64,
    ) -> Result<Value> {
        self.check_lock(&user, now)?;
        if let Err(e) = self.check_code(&user, EMAIL_OTP_PURPOSE, code, now).await {
            if e.kind == crate::error::ErrorKind::CodeMismatch {
                self.count_failure(&user, now).await?;
            }
            return Err(e);
        }
        self.store
            .delete_code(&pool.id, &user.sub, EMAIL_OTP_PURPOSE)
            .await?;
        self.finish_second_factor(pool, client, session, &user, now)
            .await
    }

    /// Ends a second-factor step that succeeded: takes the session (once),
    /// ends the run of failures, issues the tokens.
    async fn finish_second_factor(
        &self,
        pool: &Pool,
        client: &Client,
        session: &str,
        user: &User,
        now: i64,
    ) -> Result<Value> {
        if self
            .store
            .take_auth_session(&crypto::stored_hash(session), now)
            .await?
            .is_none()
        {
            return Err(CognitoError::not_authorized(
                "Invalid session for the user, session is expired.",
            ));
        }
        if user.failed_attempts != 0 {
            self.store.reset_failures(&pool.id, &user.sub).await?;
        }
        self.authenticated(pool, client, user, "TokenGeneration_Authentication", now)
            .await
    }

    /// RespondToAuthChallenge MFA_SETUP: the software token must be verified
    /// (VerifySoftwareToken with this Session); MFA is then on for the user.
    pub(crate) async fn mfa_setup_answer(
        &self,
        pool: &Pool,
        client: &Client,
        session: &str,
        mut user: User,
        now: i64,
    ) -> Result<Value> {
        if user.totp_secret.is_none() {
            return Err(CognitoError::invalid_parameter(
                "The software token is not verified yet: call VerifySoftwareToken with this Session first.",
            ));
        }
        if self
            .store
            .take_auth_session(&crypto::stored_hash(session), now)
            .await?
            .is_none()
        {
            return Err(CognitoError::not_authorized(
                "Invalid session for the user, session is expired.",
            ));
        }
        user.totp_enabled = true;
        user.updated_ms = now;
        self.store.update_user(&user, None, None).await?;
        self.authenticated(pool, client, &user, "TokenGeneration_Authentication", now)
            .await
    }
}

/// Purpose of the one-time codes of EMAIL_OTP sign-ins.
pub(crate) const EMAIL_OTP_PURPOSE: &str = "mfa:email";

fn pool_mfa_json(pool: &Pool) -> Value {
    json!({
        "MfaConfiguration": mfa_name(pool.settings.mfa),
        "SoftwareTokenMfaConfiguration": {"Enabled": pool.settings.mfa != MfaConfiguration::Off},
    })
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

pub use crate::totp::TotpSetup;

impl Identity {
    /// Checks a TOTP code against a secret (hex) and uses its time step, so
    /// the code works once; a wrong code counts toward the lockout.
    async fn use_totp_code(
        &self,
        user: &User,
        secret_hex: Option<&str>,
        code: &str,
        now: i64,
    ) -> Result<()> {
        let mismatch = || CognitoError::code_mismatch("Invalid code or auth state for the user.");
        let secret = secret_hex.and_then(hex_bytes).ok_or_else(mismatch)?;
        let step = totp::matching_step(&secret, code.trim(), now / 1000);
        let used = match step {
            Some(step) => {
                self.store
                    .use_totp_step(&user.pool_id, &user.sub, step)
                    .await?
            }
            None => false,
        };
        if !used {
            self.count_failure(user, now).await?;
            return Err(mismatch());
        }
        Ok(())
    }

    /// The second-factor step of a hosted sign-in, if the user has one:
    /// (session, challenge, setup for MFA_SETUP, masked destination for EMAIL_OTP).
    pub(crate) async fn hosted_second_factor(
        &self,
        pool: &Pool,
        client_id: &str,
        mut user: User,
        now: i64,
    ) -> Result<
        Option<(
            String,
            &'static str,
            Option<TotpSetup>,
            Option<String>,
            User,
        )>,
    > {
        let challenge = match (pool.settings.mfa, factors(&user).first().copied()) {
            (MfaConfiguration::Off, _) | (MfaConfiguration::Optional, None) => return Ok(None),
            (_, Some(f)) => f,
            (MfaConfiguration::On, None) => "MFA_SETUP",
        };
        let client = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| CognitoError::client_not_found(client_id))?;
        let session = self
            .new_session(pool, &client, &user, challenge, now)
            .await?;
        let (mut setup, mut destination) = (None, None);
        match challenge {
            "MFA_SETUP" => {
                let secret = totp::new_secret();
                user.totp_pending = Some(crypto::hex(&secret));
                user.updated_ms = now;
                self.store.update_user(&user, None, None).await?;
                let label: String = url::form_urlencoded::byte_serialize(
                    format!("{}:{}", pool.name, user.username).as_bytes(),
                )
                .collect();
                let issuer: String =
                    url::form_urlencoded::byte_serialize(pool.name.as_bytes()).collect();
                let b32 = totp::base32(&secret);
                setup = Some(TotpSetup {
                    uri: format!("otpauth://totp/{label}?secret={b32}&issuer={issuer}"),
                    secret: b32,
                });
            }
            "EMAIL_OTP" => {
                let valid_ms = client.settings.auth_session_validity_minutes as i64 * 60_000;
                let details = self
                    .deliver_code(
                        &user,
                        EMAIL_OTP_PURPOSE,
                        Kind::EmailOtp,
                        valid_ms,
                        now,
                        "The user has no email address for EMAIL_OTP.",
                    )
                    .await?;
                destination = details["Destination"].as_str().map(str::to_owned);
            }
            _ => {}
        }
        Ok(Some((session, challenge, setup, destination, user)))
    }

    /// The hosted page's answer to a second-factor step: the user once the
    /// code is right (and, for MFA_SETUP, the authenticator is on).
    pub async fn hosted_mfa(
        &self,
        pool: &Pool,
        client_id: &str,
        session: &str,
        code: &str,
        now: i64,
    ) -> Result<User> {
        let expired =
            || CognitoError::not_authorized("Invalid session for the user, session is expired.");
        let hash = crypto::stored_hash(session);
        let s = self
            .store
            .auth_session(&hash, now)
            .await?
            .ok_or_else(expired)?;
        if s.pool_id != pool.id || s.client_id != client_id {
            return Err(expired());
        }
        let mut user = self
            .store
            .user_by_sub(&pool.id, &s.sub)
            .await?
            .ok_or_else(expired)?;
        self.check_lock(&user, now)?;
        match s.challenge.as_str() {
            "SOFTWARE_TOKEN_MFA" => {
                self.use_totp_code(&user, user.totp_secret.as_deref(), code, now)
                    .await?
            }
            "MFA_SETUP" => {
                self.use_totp_code(&user, user.totp_pending.as_deref(), code, now)
                    .await?;
                user.totp_secret = user.totp_pending.take();
                user.totp_enabled = true;
                user.updated_ms = now;
                self.store.update_user(&user, None, None).await?;
            }
            "EMAIL_OTP" => {
                if let Err(e) = self.check_code(&user, EMAIL_OTP_PURPOSE, code, now).await {
                    if e.kind == crate::error::ErrorKind::CodeMismatch {
                        self.count_failure(&user, now).await?;
                    }
                    return Err(e);
                }
                self.store
                    .delete_code(&pool.id, &user.sub, EMAIL_OTP_PURPOSE)
                    .await?;
            }
            _ => return Err(expired()),
        }
        if self.store.take_auth_session(&hash, now).await?.is_none() {
            return Err(expired());
        }
        if user.failed_attempts != 0 {
            self.store.reset_failures(&pool.id, &user.sub).await?;
        }
        Ok(user)
    }
}

/// Applies one factor's settings of SetUserMFAPreference: whether it ends
/// up enabled (refused when the user lacks what it needs), and the
/// preferred factor, which it takes or gives up.
fn set_factor(
    settings: &FactorIn,
    ready: bool,
    not_ready: &str,
    name: &str,
    preferred: &mut Option<String>,
) -> Result<bool> {
    let enable = settings.enabled.unwrap_or(false) || settings.preferred_mfa.unwrap_or(false);
    if enable && !ready {
        return Err(CognitoError::invalid_parameter(not_ready));
    }
    if settings.preferred_mfa == Some(true) {
        *preferred = Some(name.into());
    } else if !enable && preferred.as_deref() == Some(name) {
        *preferred = None;
    }
    Ok(enable)
}
