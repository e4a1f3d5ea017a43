//! Users: admin management and self-service (sign-up and confirmation
//! are in signup.rs).

use std::collections::BTreeMap;

use cognate_store::pools::{Client, Pool};
use cognate_store::users::{FilterColumn, User, UserFilter};
use cognate_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_pool_id, constraint, page_after, page_size, page_token};
use crate::error::{CognitoError, Result};
use crate::messages::{Kind, Message};
use crate::users::{
    attribute_list, check_attributes, missing_required, set_alias_keys, simulated_delivery, status,
    user_type, valid_email, RESET_CODE_MS,
};
use crate::{crypto, password, Identity};

#[derive(Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AttributeIn {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) value: Option<String>,
}

/// Attributes as trigger events carry them: a name -> value map.
pub(crate) fn attribute_map(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

pub(super) fn pairs(list: Vec<AttributeIn>) -> Vec<(String, String)> {
    list.into_iter()
        .map(|a| (a.name, a.value.unwrap_or_default()))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SignUpIn {
    pub(crate) client_id: String,
    pub(crate) secret_hash: Option<String>,
    pub(crate) username: String,
    pub(crate) password: Option<String>,
    #[serde(default)]
    pub(crate) user_attributes: Vec<AttributeIn>,
    #[serde(default)]
    pub(crate) validation_data: Option<Vec<AttributeIn>>,
    pub(crate) client_metadata: Option<std::collections::HashMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ConfirmSignUpIn {
    pub(crate) client_id: String,
    pub(crate) secret_hash: Option<String>,
    pub(crate) username: String,
    pub(crate) confirmation_code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ClientUserIn {
    pub(crate) client_id: String,
    pub(crate) secret_hash: Option<String>,
    pub(crate) username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ConfirmForgotPasswordIn {
    pub(crate) client_id: String,
    pub(crate) secret_hash: Option<String>,
    pub(crate) username: String,
    pub(crate) confirmation_code: String,
    pub(crate) password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminUserIn {
    pub(crate) user_pool_id: String,
    pub(crate) username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminCreateUserIn {
    pub(crate) user_pool_id: String,
    pub(crate) username: String,
    #[serde(default)]
    pub(crate) user_attributes: Vec<AttributeIn>,
    pub(crate) temporary_password: Option<String>,
    pub(crate) message_action: Option<String>,
    #[serde(default)]
    pub(crate) validation_data: Option<Vec<AttributeIn>>,
    pub(crate) client_metadata: Option<std::collections::HashMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminSetUserPasswordIn {
    pub(crate) user_pool_id: String,
    pub(crate) username: String,
    pub(crate) password: String,
    #[serde(default)]
    pub(crate) permanent: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AccessTokenIn {
    pub(crate) access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListUsersIn {
    pub(crate) user_pool_id: String,
    pub(crate) attributes_to_get: Option<Vec<String>>,
    pub(crate) limit: Option<i64>,
    pub(crate) pagination_token: Option<String>,
    pub(crate) filter: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ChangePasswordIn {
    pub(crate) access_token: String,
    pub(crate) previous_password: Option<String>,
    pub(crate) proposed_password: String,
}

/// Parses a ListUsers filter: `name = "value"` or `name ^= "value"`.
pub fn parse_filter(raw: &str) -> Result<Option<UserFilter>> {
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || CognitoError::invalid_parameter("Error while parsing filter.");
    if text.len() > 256 {
        return Err(constraint(
            "filter",
            raw,
            "Member must have length less than or equal to 256",
        ));
    }
    let name_end = text
        .find(|c: char| c.is_whitespace() || c == '=' || c == '^')
        .ok_or_else(bad)?;
    let (name, rest) = text.split_at(name_end);
    let rest = rest.trim_start();
    let (prefix, rest) = if let Some(r) = rest.strip_prefix("^=") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (false, r)
    } else {
        return Err(bad());
    };
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(bad)?;
    let mut value = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.push(chars.next().ok_or_else(bad)?),
            '"' => return Err(bad()),
            c => value.push(c),
        }
    }
    let column = match name {
        "username" => FilterColumn::Username,
        "email" => FilterColumn::Email,
        "phone_number" => FilterColumn::PhoneNumber,
        "name" => FilterColumn::Name,
        "given_name" => FilterColumn::GivenName,
        "family_name" => FilterColumn::FamilyName,
        "preferred_username" => FilterColumn::PreferredUsername,
        "cognito:user_status" => {
            value = value.to_uppercase();
            FilterColumn::Status
        }
        "status" => {
            value = match value.as_str() {
                "Enabled" => "1".into(),
                "Disabled" => "0".into(),
                _ => {
                    return Err(CognitoError::invalid_parameter(
                        "Invalid search attribute value for status.",
                    ))
                }
            };
            return Ok(Some(UserFilter {
                column: FilterColumn::Enabled,
                prefix: false,
                value,
            }));
        }
        "sub" => FilterColumn::Sub,
        _ => {
            return Err(CognitoError::invalid_parameter(format!(
                "Invalid search attribute: {name}"
            )))
        }
    };
    Ok(Some(UserFilter {
        column,
        prefix,
        value,
    }))
}

/// `UserMFASettingList` and `PreferredMfaSetting` when MFA is on.
pub(crate) fn add_mfa_settings(out: &mut Value, user: &User) {
    let factors = crate::api::mfa::factors(user);
    if let Some(first) = factors.first() {
        out["UserMFASettingList"] = json!(factors);
        out["PreferredMfaSetting"] = json!(user
            .mfa_preferred
            .as_deref()
            .filter(|p| factors.contains(p))
            .unwrap_or(first));
    }
}

pub(crate) fn check_username(username: &str) -> Result<()> {
    if username.is_empty()
        || username.chars().count() > 128
        || username
            .chars()
            .any(|c| c.is_whitespace() || crate::users::is_deceptive(c))
    {
        return Err(constraint(
            "username",
            "***",
            "Member must satisfy regular expression pattern: [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+",
        ));
    }
    Ok(())
}

pub(super) fn alias_conflict(e: StoreError) -> CognitoError {
    match e {
        StoreError::Conflict("email") => {
            CognitoError::alias_exists("An account with the given email already exists.")
        }
        StoreError::Conflict("phone_number") => {
            CognitoError::alias_exists("An account with the given phone_number already exists.")
        }
        StoreError::Conflict(_) => {
            CognitoError::alias_exists("An account with the given alias already exists.")
        }
        other => other.into(),
    }
}

impl Identity {
    /// The client and pool of a public (client-id-authorized) call.
    pub(crate) async fn public_client(&self, client_id: &str) -> Result<(Client, Pool)> {
        if client_id.is_empty() || client_id.len() > 128 {
            return Err(constraint(
                "clientId",
                client_id,
                "Member must have length between 1 and 128",
            ));
        }
        let client = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| CognitoError::client_not_found(client_id))?;
        let pool = self.pool_or_error(&client.pool_id).await?;
        Ok((client, pool))
    }

    /// Checks `SECRET_HASH` for a client with a secret, accepting a hash over
    /// any of the names the user goes by.
    pub(crate) fn check_secret_hash(
        &self,
        client: &Client,
        given: Option<&str>,
        names: &[&str],
    ) -> Result<()> {
        let Some(secret) = &client.secret else {
            return Ok(());
        };
        let Some(given) = given.filter(|g| !g.is_empty()) else {
            return Err(CognitoError::not_authorized(format!(
                "Client {} is configured for secret but secret was not received",
                client.id
            )));
        };
        let ok = names.iter().any(|n| {
            crypto::equal(
                crypto::secret_hash(secret, n, &client.id).as_bytes(),
                given.as_bytes(),
            )
        });
        if ok {
            Ok(())
        } else {
            Err(CognitoError::not_authorized(format!(
                "Unable to verify secret hash for client {}",
                client.id
            )))
        }
    }

    /// Sets a user's password: the argon2id hash and the SRP verifier
    /// (over the internal username), both computed off the async workers.
    pub(crate) async fn set_password(
        &self,
        user: &mut User,
        new_password: &str,
        now: i64,
    ) -> Result<()> {
        user.password_hash = Some(password::hash(new_password).await?);
        let (pool_id, user_id, pw) = (
            user.pool_id.clone(),
            user.username.clone(),
            new_password.to_owned(),
        );
        let v = tokio::task::spawn_blocking(move || crate::srp::verifier(&pool_id, &user_id, &pw))
            .await
            .map_err(|_| CognitoError::internal("An internal error occurred."))?;
        user.srp_salt = Some(v.salt);
        user.srp_verifier = Some(v.verifier);
        user.password_set_ms = Some(now);
        Ok(())
    }

    pub(crate) async fn send(&self, message: Option<Message>) -> Result<()> {
        match message {
            Some(m) => self.deliver(m).await,
            None => Ok(()),
        }
    }

    /// A new user record for `username` with `attributes` (not yet stored).
    pub(crate) fn new_user(
        &self,
        pool: &Pool,
        username: &str,
        attributes: &[(String, String)],
        status: &str,
        now: i64,
    ) -> Result<User> {
        check_username(username)?;
        check_attributes(pool, attributes)?;
        let sub = uuid::Uuid::new_v4().to_string();
        let mut attrs: BTreeMap<String, String> = attributes.iter().cloned().collect();
        // Pools that sign in with email or phone keep the sub as username.
        let internal = if pool.settings.email_is_username() && username.contains('@') {
            if !valid_email(username) {
                return Err(CognitoError::invalid_parameter(
                    "Username should be an email.",
                ));
            }
            attrs
                .entry("email".into())
                .or_insert_with(|| username.to_string());
            sub.clone()
        } else if pool.settings.email_is_username() && !pool.settings.phone_is_username() {
            return Err(CognitoError::invalid_parameter(
                "Username should be an email.",
            ));
        } else if pool.settings.phone_is_username() && username.starts_with('+') {
            attrs
                .entry("phone_number".into())
                .or_insert_with(|| username.to_string());
            sub.clone()
        } else if pool.settings.phone_is_username() {
            return Err(CognitoError::invalid_parameter(
                "Username should be a phone number.",
            ));
        } else {
            username.to_string()
        };
        if let Some(missing) = missing_required(pool, &attrs) {
            return Err(CognitoError::invalid_parameter(format!(
                "Attributes did not conform to the schema: {missing}: The attribute {missing} is required"
            )));
        }
        let mut user = crate::users::new_record(pool, sub, internal, status, attrs, now);
        set_alias_keys(pool, &mut user);
        Ok(user)
    }

    pub(crate) fn exists_error(pool: &Pool, e: StoreError, admin: bool) -> CognitoError {
        match e {
            StoreError::Conflict("username") | StoreError::Conflict("sub") => {
                if admin {
                    CognitoError::username_exists("User account already exists")
                } else {
                    CognitoError::username_exists("User already exists")
                }
            }
            StoreError::Conflict(_)
                if pool.settings.email_is_username() || pool.settings.phone_is_username() =>
            {
                CognitoError::username_exists("An account with the given email already exists.")
            }
            other => alias_conflict(other),
        }
    }

    pub(crate) async fn admin_user(&self, pool_id: &str, username: &str) -> Result<(Pool, User)> {
        check_pool_id(pool_id)?;
        let pool = self.pool_or_error(pool_id).await?;
        let user = self.user_or_error(&pool, username).await?;
        Ok((pool, user))
    }

    pub(crate) async fn admin_create_user(&self, i: AdminCreateUserIn, now: i64) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        let action = i.message_action.as_deref();
        if let Some(a) = action {
            if a != "RESEND" && a != "SUPPRESS" {
                return Err(constraint(
                    "messageAction",
                    a,
                    "Member must satisfy enum value set: [RESEND, SUPPRESS]",
                ));
            }
        }
        let temp = match i.temporary_password {
            Some(t) => {
                password::check_policy(&pool.settings.password_policy, &t)?;
                t
            }
            None => password::temporary(&pool.settings.password_policy),
        };
        let user = if action == Some("RESEND") {
            let mut u = self.user_or_error(&pool, &i.username).await?;
            if u.status != status::FORCE_CHANGE_PASSWORD {
                return Err(CognitoError::unsupported_user_state(
                    "User account already exists and is not in FORCE_CHANGE_PASSWORD state.",
                ));
            }
            self.set_password(&mut u, &temp, now).await?;
            u.updated_ms = now;
            self.store.update_user(&u, None, None).await?;
            u
        } else {
            let given = pairs(i.user_attributes);
            let mut u = self.new_user(
                &pool,
                &i.username,
                &given,
                status::FORCE_CHANGE_PASSWORD,
                now,
            )?;
            // An administrator's user is confirmed by its first sign-in;
            // only the verification flags apply.
            let (_, verify_email, verify_phone) = self
                .pre_sign_up(
                    &pool,
                    "PreSignUp_AdminCreateUser",
                    &u.username,
                    None,
                    &given,
                    i.validation_data,
                    i.client_metadata.as_ref(),
                )
                .await?;
            if verify_email && u.attributes.contains_key("email") {
                u.attributes.insert("email_verified".into(), "true".into());
            }
            if verify_phone && u.attributes.contains_key("phone_number") {
                u.attributes
                    .insert("phone_number_verified".into(), "true".into());
            }
            crate::users::set_alias_keys(&pool, &mut u);
            self.set_password(&mut u, &temp, now).await?;
            self.store
                .insert_user(&u, None)
                .await
                .map_err(|e| Self::exists_error(&pool, e, true))?;
            u
        };
        if action != Some("SUPPRESS") {
            if let Some(email) = user.attributes.get("email") {
                self.send(Some(Message {
                    kind: Kind::Invitation,
                    pool_id: pool.id.clone(),
                    username: user.username.clone(),
                    to: email.clone(),
                    subject: "Your temporary password".into(),
                    body: format!(
                        "Your username is {} and temporary password is {temp}.",
                        user.username
                    ),
                    code: temp,
                    created_ms: now,
                }))
                .await?;
            }
        }
        Ok(json!({"User": user_type(&user, None)}))
    }

    pub(crate) async fn admin_set_user_password(
        &self,
        i: AdminSetUserPasswordIn,
        now: i64,
    ) -> Result<Value> {
        let (pool, mut user) = self.admin_user(&i.user_pool_id, &i.username).await?;
        password::check_policy(&pool.settings.password_policy, &i.password)?;
        self.set_password(&mut user, &i.password, now).await?;
        user.status = if i.permanent {
            status::CONFIRMED
        } else {
            status::FORCE_CHANGE_PASSWORD
        }
        .into();
        user.failed_attempts = 0;
        user.last_failure_ms = None;
        user.updated_ms = now;
        self.store.update_user(&user, None, None).await?;
        Ok(json!({}))
    }

    pub(crate) async fn admin_reset_user_password(
        &self,
        i: AdminUserIn,
        now: i64,
    ) -> Result<Value> {
        let (_, mut user) = self.admin_user(&i.user_pool_id, &i.username).await?;
        let prepared = self.prepare_code(&user, "reset", Kind::ForgotPassword, RESET_CODE_MS, now);
        user.status = status::RESET_REQUIRED.into();
        user.updated_ms = now;
        let (code, message) = match prepared {
            Some((c, m, _)) => (Some(c), Some(m)),
            None => (None, None),
        };
        self.store.update_user(&user, None, code.as_ref()).await?;
        self.send(message).await?;
        Ok(json!({}))
    }

    pub(crate) async fn admin_get_user(&self, i: AdminUserIn) -> Result<Value> {
        let (_, user) = self.admin_user(&i.user_pool_id, &i.username).await?;
        let mut out = json!({
            "Username": user.username,
            "UserAttributes": attribute_list(&user, None),
            "UserCreateDate": crate::users::seconds(user.created_ms),
            "UserLastModifiedDate": crate::users::seconds(user.updated_ms),
            "Enabled": user.enabled,
            "UserStatus": user.status,
        });
        add_mfa_settings(&mut out, &user);
        Ok(out)
    }

    pub(crate) async fn get_user(&self, i: AccessTokenIn, now: i64) -> Result<Value> {
        let (_, user, _) = self.user_from_access_token(&i.access_token, now).await?;
        let mut out =
            json!({"Username": user.username, "UserAttributes": attribute_list(&user, None)});
        add_mfa_settings(&mut out, &user);
        Ok(out)
    }

    pub(crate) async fn list_users(&self, i: ListUsersIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        let limit = page_size(i.limit, "limit", 60)?;
        let filter = parse_filter(i.filter.as_deref().unwrap_or(""))?;
        let after = page_after(i.pagination_token.as_deref())?;
        let users = self
            .store
            .list_users(&i.user_pool_id, filter.as_ref(), after.as_deref(), limit)
            .await?;
        let only = i.attributes_to_get.as_deref().filter(|a| !a.is_empty());
        let mut out =
            json!({"Users": users.iter().map(|u| user_type(u, only)).collect::<Vec<_>>()});
        if users.len() as i64 == limit {
            out["PaginationToken"] =
                json!(page_token(&users.last().expect("non-empty").username_key));
        }
        Ok(out)
    }

    pub(crate) async fn admin_delete_user(&self, i: AdminUserIn) -> Result<Value> {
        let (pool, user) = self.admin_user(&i.user_pool_id, &i.username).await?;
        self.store.delete_user(&pool.id, &user.sub).await?;
        Ok(json!({}))
    }

    pub(crate) async fn delete_user(&self, i: AccessTokenIn, now: i64) -> Result<Value> {
        let (pool, user, _) = self.user_from_access_token(&i.access_token, now).await?;
        self.store.delete_user(&pool.id, &user.sub).await?;
        Ok(json!({}))
    }

    /// AdminDisableUser / AdminEnableUser. Disabling also revokes every
    /// token of the user.
    pub(crate) async fn admin_set_enabled(
        &self,
        i: AdminUserIn,
        enabled: bool,
        now: i64,
    ) -> Result<Value> {
        let (pool, mut user) = self.admin_user(&i.user_pool_id, &i.username).await?;
        if enabled {
            user.enabled = true;
            user.updated_ms = now;
            self.store.update_user(&user, None, None).await?;
        } else {
            self.disable_user(&pool.id, &mut user, now).await?;
        }
        Ok(json!({}))
    }

    /// Disables a user and revokes every token it holds.
    pub(crate) async fn disable_user(
        &self,
        pool_id: &str,
        user: &mut User,
        now: i64,
    ) -> Result<()> {
        user.enabled = false;
        user.updated_ms = now;
        self.store.update_user(user, None, None).await?;
        self.store
            .revoke_user_origins(pool_id, &user.sub, now)
            .await?;
        Ok(())
    }

    pub(crate) async fn forgot_password(&self, i: ClientUserIn, now: i64) -> Result<Value> {
        let (client, pool) = self.public_client(&i.client_id).await?;
        self.check_secret_hash(&client, i.secret_hash.as_deref(), &[&i.username])?;
        let found = match self.resolve_user(&pool, &i.username).await? {
            Some(u) => Some(u),
            None => match self
                .migrate_user(&pool, &client.id, &i.username, None, now)
                .await
            {
                Ok(u) => u,
                Err(e)
                    if Self::hides_users(&client)
                        && e.kind == crate::error::ErrorKind::UserLambdaValidation =>
                {
                    None
                }
                Err(e) => return Err(e),
            },
        };
        let user = match found {
            Some(u) => u,
            None if Self::hides_users(&client) => {
                return Ok(json!({"CodeDeliveryDetails": simulated_delivery(&i.username)}))
            }
            None => {
                return Err(CognitoError::user_not_found(
                    "Username/client id combination not found.",
                ))
            }
        };
        if !user.enabled {
            return Err(CognitoError::not_authorized("User is disabled."));
        }
        let verified = |a: &str| user.attributes.get(a).map(String::as_str) == Some("true");
        if !verified("email_verified") && !verified("phone_number_verified") {
            return Err(CognitoError::invalid_parameter(
                "Cannot reset password for the user as there is no registered/verified email or phone_number",
            ));
        }
        let details = self
            .deliver_code(&user, "reset", Kind::ForgotPassword, RESET_CODE_MS, now, "Cannot reset password for the user as there is no registered/verified email or phone_number")
            .await?;
        Ok(json!({"CodeDeliveryDetails": details}))
    }

    pub(crate) async fn confirm_forgot_password(
        &self,
        i: ConfirmForgotPasswordIn,
        now: i64,
    ) -> Result<Value> {
        let (client, pool) = self.public_client(&i.client_id).await?;
        self.check_secret_hash(&client, i.secret_hash.as_deref(), &[&i.username])?;
        let hidden =
            CognitoError::code_mismatch("Invalid verification code provided, please try again.");
        let mut user = self
            .public_user(&client, &pool, &i.username, hidden)
            .await?;
        password::check_policy(&pool.settings.password_policy, &i.password)?;
        self.check_code(&user, "reset", &i.confirmation_code, now)
            .await?;
        self.set_password(&mut user, &i.password, now).await?;
        user.status = status::CONFIRMED.into();
        user.failed_attempts = 0;
        user.last_failure_ms = None;
        user.updated_ms = now;
        self.store.update_user(&user, Some("reset"), None).await?;
        self.post_confirmation(
            &pool,
            &user,
            Some(&client.id),
            "PostConfirmation_ConfirmForgotPassword",
        )
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn change_password(&self, i: ChangePasswordIn, now: i64) -> Result<Value> {
        let (pool, mut user, _) = self.user_from_access_token(&i.access_token, now).await?;
        let previous = i.previous_password.unwrap_or_default();
        self.check_lock(&user, now)?;
        if !password::verify(&previous, user.password_hash.as_deref()).await {
            self.count_failure(&user, now).await?;
            return Err(CognitoError::bad_credentials());
        }
        password::check_policy(&pool.settings.password_policy, &i.proposed_password)?;
        self.set_password(&mut user, &i.proposed_password, now)
            .await?;
        user.failed_attempts = 0;
        user.last_failure_ms = None;
        user.updated_ms = now;
        self.store.update_user(&user, None, None).await?;
        Ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_cognito_documents_them() {
        let f = parse_filter("email ^= \"al\"").unwrap().unwrap();
        assert_eq!(
            (f.column, f.prefix, f.value.as_str()),
            (FilterColumn::Email, true, "al")
        );
        let f = parse_filter("username=\"a\\\"b\"").unwrap().unwrap();
        assert_eq!(
            (f.column, f.prefix, f.value.as_str()),
            (FilterColumn::Username, false, "a\"b")
        );
        let f = parse_filter("cognito:user_status = \"unconfirmed\"")
            .unwrap()
            .unwrap();
        assert_eq!(
            (f.column, f.value.as_str()),
            (FilterColumn::Status, "UNCONFIRMED")
        );
        let f = parse_filter("status = \"Disabled\"").unwrap().unwrap();
        assert_eq!((f.column, f.value.as_str()), (FilterColumn::Enabled, "0"));
        assert!(parse_filter("").unwrap().is_none());
        for bad in [
            "email",
            "email = al",
            "custom:x = \"1\"",
            "email == \"x\"",
            "email = \"a\"b\"",
        ] {
            assert_eq!(
                parse_filter(bad).unwrap_err().kind,
                crate::error::ErrorKind::InvalidParameter,
                "{bad}"
            );
        }
    }
}
