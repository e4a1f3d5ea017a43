//! Sign-in (InitiateAuth, AdminInitiateAuth, challenges), refresh, sign-out
//! and revocation.
//!
//! Order of checks in a password sign-in, as Cognito has it: client and
//! flow, SECRET_HASH, the user, the lockout, the password (an unknown user
//! costs one hash too), then disabled, UNCONFIRMED, RESET_REQUIRED, and
//! FORCE_CHANGE_PASSWORD (a challenge, only after the password verified).

use std::collections::HashMap;

use cognate_config::AuthFlow;
use cognate_store::pools::{Client, Pool};
use cognate_store::users::User;
use serde::Deserialize;
use serde_json::{json, Value};

use super::check_pool_id;
use crate::error::{CognitoError, Result};
use crate::tokens::{Grant, ADMIN_SCOPE};
use crate::users::{set_alias_keys, status};
use crate::{crypto, password, Identity};

/// Failures after which an account locks.
pub const LOCK_AFTER: i64 = 5;
/// Longest lock, and the quiet time after which failures are forgotten.
pub const MAX_LOCK_MS: i64 = 15 * 60 * 1000;

/// How long an account stays locked after `failures` failures in a row:
/// 2^(n-5) seconds from the fifth, at most 15 minutes (Cognito's lockout).
pub fn lock_ms(failures: i64) -> i64 {
    if failures < LOCK_AFTER {
        return 0;
    }
    let exp = (failures - LOCK_AFTER).min(20) as u32;
    (1000i64 << exp).min(MAX_LOCK_MS)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InitiateAuthIn {
    auth_flow: String,
    client_id: String,
    #[serde(default)]
    auth_parameters: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminInitiateAuthIn {
    user_pool_id: String,
    client_id: String,
    auth_flow: String,
    #[serde(default)]
    auth_parameters: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RespondIn {
    client_id: String,
    challenge_name: String,
    session: Option<String>,
    #[serde(default)]
    challenge_responses: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RefreshIn {
    refresh_token: String,
    client_id: String,
    client_secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AccessTokenIn {
    access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminUserIn {
    user_pool_id: String,
    username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RevokeTokenIn {
    token: String,
    client_id: String,
    client_secret: Option<String>,
}

/// Which API a sign-in came through.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Public,
    Admin,
}

impl Identity {
    pub(crate) fn check_lock(&self, user: &User, now: i64) -> Result<()> {
        if let Some(last) = user.last_failure_ms {
            if now < last + lock_ms(user.failed_attempts) {
                return Err(CognitoError::not_authorized("Password attempts exceeded"));
            }
        }
        Ok(())
    }

    pub(crate) async fn count_failure(&self, user: &User, now: i64) -> Result<i64> {
        Ok(self
            .store
            .record_failure(&user.pool_id, &user.sub, now, MAX_LOCK_MS)
            .await?)
    }

    pub(crate) async fn initiate_auth(&self, i: InitiateAuthIn, now: i64) -> Result<Value> {
        let (client, pool) = self.public_client(&i.client_id).await?;
        self.start_auth(
            pool,
            client,
            &i.auth_flow,
            i.auth_parameters,
            Via::Public,
            now,
        )
        .await
    }

    pub(crate) async fn admin_initiate_auth(
        &self,
        i: AdminInitiateAuthIn,
        now: i64,
    ) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        let client = match self.store.client(&i.client_id).await? {
            Some(c) if c.pool_id == pool.id => c,
            _ => return Err(CognitoError::client_not_found(&i.client_id)),
        };
        self.start_auth(
            pool,
            client,
            &i.auth_flow,
            i.auth_parameters,
            Via::Admin,
            now,
        )
        .await
    }

    pub(crate) async fn start_auth(
        &self,
        pool: Pool,
        client: Client,
        flow: &str,
        params: HashMap<String, String>,
        via: Via,
        now: i64,
    ) -> Result<Value> {
        let not_enabled = |name: &str| match via {
            Via::Public => {
                CognitoError::invalid_parameter(format!("{name} flow not enabled for this client"))
            }
            Via::Admin => CognitoError::invalid_parameter("Auth flow not enabled for this client"),
        };
        match flow {
            "USER_PASSWORD_AUTH" if via == Via::Public => {
                if !client.settings.allows(AuthFlow::AllowUserPasswordAuth) {
                    return Err(not_enabled("USER_PASSWORD_AUTH"));
                }
                self.password_auth(&pool, &client, &params, now).await
            }
            "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" if via == Via::Admin => {
                if !client.settings.allows(AuthFlow::AllowAdminUserPasswordAuth) {
                    return Err(not_enabled(flow));
                }
                self.password_auth(&pool, &client, &params, now).await
            }
            "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
                if !client.settings.allows(AuthFlow::AllowRefreshTokenAuth) {
                    return Err(not_enabled("REFRESH_TOKEN_AUTH"));
                }
                if client.settings.refresh_token_rotation.is_some_and(|r| r.enabled) {
                    return Err(CognitoError::invalid_parameter(
                        "Refresh token rotation is enabled for this client: use GetTokensFromRefreshToken.",
                    ));
                }
                let token = params
                    .get("REFRESH_TOKEN")
                    .ok_or_else(|| CognitoError::invalid_parameter("Missing required parameter REFRESH_TOKEN"))?;
                let grant = self.live_refresh_token(&client, token, now).await?;
                if client.secret.is_some() {
                    let names = grant.user.as_ref().map(names_of).unwrap_or_default();
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    self.check_secret_hash(&client, params.get("SECRET_HASH").map(String::as_str), &refs)?;
                }
                let (issued, _) = self.refresh_found(&pool, &client, grant, false, now).await?;
                Ok(json!({"ChallengeParameters": {}, "AuthenticationResult": issued.authentication_result()}))
            }
            "USER_SRP_AUTH" => {
                if !client.settings.allows(AuthFlow::AllowUserSrpAuth) {
                    return Err(not_enabled("USER_SRP_AUTH"));
                }
                self.srp_start(&pool, &client, &params, None, now).await
            }
            "USER_PASSWORD_AUTH" | "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => {
                Err(CognitoError::invalid_parameter("Initiate Auth method not supported."))
            }
            "CUSTOM_AUTH" => self.custom_start(&pool, &client, &params, now).await,
            "USER_AUTH" => Err(CognitoError::invalid_parameter(format!(
                "{flow} is not supported by this version of cognate"
            ))),
            other => Err(super::constraint(
                "authFlow",
                other,
                "Member must satisfy enum value set: [USER_SRP_AUTH, REFRESH_TOKEN_AUTH, REFRESH_TOKEN, CUSTOM_AUTH, ADMIN_NO_SRP_AUTH, USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH, USER_AUTH]",
            )),
        }
    }

    pub(crate) async fn password_auth(
        &self,
        pool: &Pool,
        client: &Client,
        params: &HashMap<String, String>,
        now: i64,
    ) -> Result<Value> {
        let username = params.get("USERNAME").ok_or_else(|| {
            CognitoError::invalid_parameter("Missing required parameter USERNAME")
        })?;
        let given_password = params.get("PASSWORD").ok_or_else(|| {
            CognitoError::invalid_parameter("Missing required parameter PASSWORD")
        })?;
        self.check_secret_hash(
            client,
            params.get("SECRET_HASH").map(String::as_str),
            &[username],
        )?;
        if given_password.chars().count() > password::MAX_PASSWORD_LEN {
            return Err(CognitoError::bad_credentials());
        }
        // UserMigration runs for unknown users; a client that hides which
        // users exist does not learn from its refusal either.
        let user = match self.resolve_user(pool, username).await? {
            Some(u) => Some(u),
            None => match self
                .migrate_user(pool, &client.id, username, Some(given_password), now)
                .await
            {
                Ok(u) => u,
                Err(e)
                    if self.hides(client)
                        && e.kind == crate::error::ErrorKind::UserLambdaValidation =>
                {
                    None
                }
                Err(e) => return Err(e),
            },
        };
        let Some(user) = user else {
            if self.hides(client) {
                self.pre_authentication_not_found(pool, &client.id, username)
                    .await?;
            }
            // Same work as a wrong password.
            password::verify(given_password, None).await;
            return Err(if self.hides(client) {
                CognitoError::bad_credentials()
            } else {
                CognitoError::no_such_user()
            });
        };
        self.pre_authentication(pool, &client.id, &user, None)
            .await?;
        let user = self.prove_password(pool, user, given_password, now).await?;
        self.after_password(pool, client, &user, now).await
    }

    /// What follows a proven password: disabled, unconfirmed, reset
    /// required, a temporary password (challenge), or tokens.
    pub(crate) async fn after_password(
        &self,
        pool: &Pool,
        client: &Client,
        user: &User,
        now: i64,
    ) -> Result<Value> {
        if Self::password_state(pool, user, now)? {
            self.new_password_challenge(pool, client, user, now).await
        } else {
            self.mfa_or_tokens(pool, client, user, "TokenGeneration_Authentication", now)
                .await
        }
    }

    /// Proves a user's password: the lockout, argon2id, a failure counted
    /// (or the run of failures ended), and an SRP verifier for users whose
    /// password predates SRP. Shared by the JSON API and the hosted page.
    pub(crate) async fn prove_password(
        &self,
        pool: &Pool,
        mut user: User,
        given: &str,
        now: i64,
    ) -> Result<User> {
        self.check_lock(&user, now)?;
        if !password::verify(given, user.password_hash.as_deref()).await {
            self.count_failure(&user, now).await?;
            return Err(CognitoError::bad_credentials());
        }
        if user.failed_attempts != 0 {
            self.store.reset_failures(&pool.id, &user.sub).await?;
        }
        if user.srp_verifier.is_none() {
            let set_at = user.password_set_ms.unwrap_or(now);
            self.set_password(&mut user, given, set_at).await?;
            self.store.update_user(&user, None, None).await?;
        }
        Ok(user)
    }

    /// The checks after a proven password: disabled, unconfirmed, reset
    /// required, an expired temporary password. `Ok(true)`: the user must
    /// choose a new password first.
    pub(crate) fn password_state(pool: &Pool, user: &User, now: i64) -> Result<bool> {
        if !user.enabled {
            return Err(CognitoError::not_authorized("User is disabled."));
        }
        match user.status.as_str() {
            status::UNCONFIRMED => Err(CognitoError::user_not_confirmed("User is not confirmed.")),
            status::RESET_REQUIRED => Err(CognitoError::password_reset_required(
                "Password reset required for the user",
            )),
            status::FORCE_CHANGE_PASSWORD => {
                let days = pool
                    .settings
                    .password_policy
                    .temporary_password_validity_days as i64;
                let set = user.password_set_ms.unwrap_or(user.created_ms);
                if days > 0 && now > set + days * 86_400_000 {
                    return Err(CognitoError::not_authorized(
                        "Temporary password has expired and must be reset by an administrator.",
                    ));
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub(crate) fn hides(&self, client: &Client) -> bool {
        client.settings.prevent_user_existence_errors
            == cognate_config::PreventUserExistenceErrors::Enabled
    }

    pub(crate) async fn new_password_challenge(
        &self,
        pool: &Pool,
        client: &Client,
        user: &User,
        now: i64,
    ) -> Result<Value> {
        let session = self
            .new_session(pool, client, user, "NEW_PASSWORD_REQUIRED", now)
            .await?;
        let mut attrs = serde_json::Map::new();
        for (k, v) in &user.attributes {
            if k != "email_verified" && k != "phone_number_verified" {
                attrs.insert(k.clone(), json!(v));
            }
        }
        let required: Vec<String> = pool
            .settings
            .required_attributes
            .iter()
            .filter(|r| !user.attributes.contains_key(r.as_str()))
            .map(|r| format!("userAttributes.{r}"))
            .collect();
        Ok(json!({
            "ChallengeName": "NEW_PASSWORD_REQUIRED",
            "Session": session,
            "ChallengeParameters": {
                "USER_ID_FOR_SRP": user.username,
                "requiredAttributes": serde_json::to_string(&required).expect("json"),
                "userAttributes": serde_json::to_string(&attrs).expect("json"),
            },
        }))
    }

    pub(crate) async fn respond_to_auth_challenge(
        &self,
        i: RespondIn,
        admin_pool: Option<String>,
        now: i64,
    ) -> Result<Value> {
        let expired =
            || CognitoError::not_authorized("Invalid session for the user, session is expired.");
        let (client, pool) = match &admin_pool {
            Some(pool_id) => {
                check_pool_id(pool_id)?;
                let pool = self.pool_or_error(pool_id).await?;
                match self.store.client(&i.client_id).await? {
                    Some(c) if c.pool_id == pool.id => (c, pool),
                    _ => return Err(CognitoError::client_not_found(&i.client_id)),
                }
            }
            None => self.public_client(&i.client_id).await?,
        };
        match i.challenge_name.as_str() {
            "NEW_PASSWORD_REQUIRED"
            | "SOFTWARE_TOKEN_MFA"
            | "MFA_SETUP"
            | "EMAIL_OTP"
            | "CUSTOM_CHALLENGE" => {}
            "PASSWORD_VERIFIER" => {
                if !client.settings.allows(AuthFlow::AllowUserSrpAuth)
                    && !client.settings.allows(AuthFlow::AllowCustomAuth)
                {
                    return Err(CognitoError::invalid_parameter(
                        "USER_SRP_AUTH flow not enabled for this client",
                    ));
                }
                return self
                    .srp_answer(&pool, &client, &i.challenge_responses, now)
                    .await;
            }
            other => {
                return Err(CognitoError::invalid_parameter(format!(
                    "Challenge {other} is not supported by this version of cognate"
                )))
            }
        }
        let session = i.session.as_deref().ok_or_else(expired)?;
        let hash = crypto::stored_hash(session);
        let found = self
            .store
            .auth_session(&hash, now)
            .await?
            .ok_or_else(expired)?;
        if found.client_id != client.id || found.challenge != i.challenge_name {
            return Err(expired());
        }
        let user = self
            .store
            .user_by_sub(&pool.id, &found.sub)
            .await?
            .ok_or_else(expired)?;
        let names = names_of(&user);
        let given = i.challenge_responses.get("USERNAME").ok_or_else(|| {
            CognitoError::invalid_parameter("Missing required parameter USERNAME")
        })?;
        if !names.iter().any(|n| {
            n == given || n.eq_ignore_ascii_case(given) && !pool.settings.username_case_sensitive
        }) {
            return Err(expired());
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        self.check_secret_hash(
            &client,
            i.challenge_responses.get("SECRET_HASH").map(String::as_str),
            &refs,
        )?;
        match i.challenge_name.as_str() {
            "SOFTWARE_TOKEN_MFA" => {
                let code = i
                    .challenge_responses
                    .get("SOFTWARE_TOKEN_MFA_CODE")
                    .ok_or_else(|| {
                        CognitoError::invalid_parameter(
                            "Missing required parameter SOFTWARE_TOKEN_MFA_CODE",
                        )
                    })?;
                return self
                    .software_token_answer(&pool, &client, session, user, code, now)
                    .await;
            }
            "MFA_SETUP" => {
                return self
                    .mfa_setup_answer(&pool, &client, session, user, now)
                    .await
            }
            "CUSTOM_CHALLENGE" => {
                return self
                    .custom_answer(&pool, &client, session, user, &i.challenge_responses, now)
                    .await;
            }
            "EMAIL_OTP" => {
                let code = i.challenge_responses.get("EMAIL_OTP_CODE").ok_or_else(|| {
                    CognitoError::invalid_parameter("Missing required parameter EMAIL_OTP_CODE")
                })?;
                return self
                    .email_otp_answer(&pool, &client, session, user, code, now)
                    .await;
            }
            _ => {}
        }
        let new_password = i.challenge_responses.get("NEW_PASSWORD").ok_or_else(|| {
            CognitoError::invalid_parameter("Missing required parameter NEW_PASSWORD")
        })?;
        let changes: Vec<(String, String)> = i
            .challenge_responses
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("userAttributes.")
                    .map(|n| (n.to_string(), v.clone()))
            })
            .collect();
        let user = self
            .complete_new_password(&pool, user, &hash, new_password, &changes, now)
            .await?;
        self.mfa_or_tokens(
            &pool,
            &client,
            &user,
            "TokenGeneration_NewPasswordChallenge",
            now,
        )
        .await
    }

    /// Completes NEW_PASSWORD_REQUIRED for the JSON API and the hosted page:
    /// checks the password and required attributes first, then takes the
    /// session (so a refused password leaves it usable), and confirms the user.
    pub(crate) async fn complete_new_password(
        &self,
        pool: &Pool,
        mut user: User,
        session_hash: &str,
        new_password: &str,
        changes: &[(String, String)],
        now: i64,
    ) -> Result<User> {
        password::check_policy(&pool.settings.password_policy, new_password)?;
        crate::users::check_attributes(pool, changes)?;
        for (name, value) in changes {
            user.attributes.insert(name.clone(), value.clone());
        }
        if let Some(missing) = crate::users::missing_required(pool, &user.attributes) {
            return Err(CognitoError::invalid_parameter(format!(
                "Invalid attributes given, {missing} is missing"
            )));
        }
        if self
            .store
            .take_auth_session(session_hash, now)
            .await?
            .is_none()
        {
            return Err(CognitoError::not_authorized(
                "Invalid session for the user, session is expired.",
            ));
        }
        self.set_password(&mut user, new_password, now).await?;
        user.status = status::CONFIRMED.into();
        user.updated_ms = now;
        set_alias_keys(pool, &mut user);
        self.store
            .update_user(&user, None, None)
            .await
            .map_err(|e| match e {
                cognate_store::StoreError::Conflict(_) => {
                    CognitoError::alias_exists("An account with the given email already exists.")
                }
                other => other.into(),
            })?;
        Ok(user)
    }

    /// Checks the raw client secret of GetTokensFromRefreshToken and RevokeToken.
    pub(crate) fn check_client_secret(&self, client: &Client, given: Option<&str>) -> Result<()> {
        match (&client.secret, given) {
            (None, _) => Ok(()),
            (Some(s), Some(g)) if crypto::equal(s.as_bytes(), g.as_bytes()) => Ok(()),
            (Some(_), _) => Err(CognitoError::not_authorized(format!(
                "Unable to verify secret hash for client {}",
                client.id
            ))),
        }
    }

    pub(crate) async fn get_tokens_from_refresh_token(
        &self,
        i: RefreshIn,
        now: i64,
    ) -> Result<Value> {
        let (client, pool) = self.public_client(&i.client_id).await?;
        self.check_client_secret(&client, i.client_secret.as_deref())?;
        if !client.settings.allows(AuthFlow::AllowRefreshTokenAuth) {
            return Err(CognitoError::invalid_parameter(
                "REFRESH_TOKEN_AUTH flow not enabled for this client",
            ));
        }
        let (issued, _) = self
            .refresh(&pool, &client, &i.refresh_token, true, now)
            .await?;
        Ok(json!({"AuthenticationResult": issued.authentication_result()}))
    }

    pub(crate) async fn global_sign_out(&self, i: AccessTokenIn, now: i64) -> Result<Value> {
        let (pool, user, _) = self.user_from_access_token(&i.access_token, now).await?;
        self.store
            .revoke_user_origins(&pool.id, &user.sub, now)
            .await?;
        Ok(json!({}))
    }

    pub(crate) async fn admin_user_global_sign_out(
        &self,
        i: AdminUserIn,
        now: i64,
    ) -> Result<Value> {
        let (pool, user) = self.admin_user(&i.user_pool_id, &i.username).await?;
        self.store
            .revoke_user_origins(&pool.id, &user.sub, now)
            .await?;
        Ok(json!({}))
    }

    pub(crate) async fn revoke_token(&self, i: RevokeTokenIn, now: i64) -> Result<Value> {
        let (client, _) = self.public_client(&i.client_id).await?;
        if client.secret.is_some()
            && !i.client_secret.as_deref().is_some_and(|g| {
                crypto::equal(
                    client.secret.as_deref().unwrap_or("").as_bytes(),
                    g.as_bytes(),
                )
            })
        {
            return Err(CognitoError::unauthorized("Invalid client credentials."));
        }
        if !client.settings.enable_token_revocation {
            return Err(CognitoError::unsupported_operation(
                "Token revocation is not enabled for this client.",
            ));
        }
        if i.token.split('.').count() == 3 {
            return Err(CognitoError::unsupported_token_type(
                "Only refresh tokens can be revoked.",
            ));
        }
        // Unknown or foreign tokens are answered like revoked ones (RFC 7009).
        if let Some(rt) = self
            .store
            .refresh_token(&crypto::stored_hash(&i.token))
            .await?
        {
            if rt.origin.client_id == client.id {
                self.store.revoke_origin(&rt.origin.origin_jti, now).await?;
            }
        }
        Ok(json!({}))
    }
}

/// The names a user goes by: username, sub, and alias values.
pub(crate) fn names_of(user: &User) -> Vec<String> {
    let mut names = vec![user.username.clone(), user.sub.clone()];
    for a in ["email", "phone_number", "preferred_username"] {
        if let Some(v) = user.attributes.get(a) {
            names.push(v.clone());
        }
    }
    names
}

/// What the JSON API's sign-in flows grant.
pub(crate) fn api_grant(source: &'static str) -> Grant<'static> {
    Grant {
        scopes: vec![ADMIN_SCOPE.to_string()],
        with_refresh: true,
        with_id_token: true,
        nonce: None,
        auth_time: None,
        at_hash: false,
        source,
        origin_jti: None,
        groups: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_doubles_from_the_fifth_failure_up_to_fifteen_minutes() {
        assert_eq!(lock_ms(4), 0);
        assert_eq!(lock_ms(5), 1_000);
        assert_eq!(lock_ms(6), 2_000);
        assert_eq!(lock_ms(10), 32_000);
        assert_eq!(lock_ms(15), 900_000);
        assert_eq!(lock_ms(1_000), 900_000);
    }
}
