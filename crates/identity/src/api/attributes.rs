//! A user's attributes: updates (a new email waiting for verification
//! when the pool says so), deletions, and their verification codes.

use cognate_store::pools::Pool;
use cognate_store::users::User;
use serde::Deserialize;
use serde_json::{json, Value};

use super::users::{alias_conflict, pairs, AttributeIn};
use crate::error::{CognitoError, Result};
use crate::messages::Kind;
use crate::users::check_attributes;
use crate::users::set_alias_keys;
use crate::Identity;

/// With AttributesRequireVerificationBeforeUpdate for email: a new email
/// of a user whose current one is verified waits (pending) and the current
/// one stays, unless the same change marks it verified (an administrator).
fn hold_pending(
    pool: &Pool,
    user: &mut User,
    changes: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let holds = pool
        .settings
        .attributes_require_verification_before_update
        .iter()
        .any(|a| a == "email");
    let verified_now = user.attributes.get("email_verified").map(String::as_str) == Some("true");
    let verified_too = changes
        .iter()
        .any(|(n, v)| n == "email_verified" && v == "true");
    if !holds || !verified_now || verified_too {
        return changes;
    }
    let mut out = Vec::new();
    for (name, value) in changes {
        if name == "email" && !value.is_empty() && user.attributes.get("email") != Some(&value) {
            user.pending_attributes.insert(name, value);
        } else {
            out.push((name, value));
        }
    }
    out
}

/// The user as a message to the pending email sees it (the code goes to
/// the new address).
fn pending_target(user: &User) -> Option<User> {
    let new = user.pending_attributes.get("email")?;
    let mut target = user.clone();
    target.attributes.insert("email".into(), new.clone());
    Some(target)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminUpdateAttributesIn {
    user_pool_id: String,
    username: String,
    user_attributes: Vec<AttributeIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminDeleteAttributesIn {
    user_pool_id: String,
    username: String,
    user_attribute_names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateAttributesIn {
    access_token: String,
    user_attributes: Vec<AttributeIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AttributeCodeIn {
    access_token: String,
    attribute_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VerifyAttributeIn {
    access_token: String,
    attribute_name: String,
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteAttributesIn {
    access_token: String,
    user_attribute_names: Vec<String>,
}

/// How long an attribute verification code lives (Cognito: 24 hours).
const VERIFY_CODE_MS: i64 = 24 * 3_600_000;

/// Applies attribute changes; `email_verified` drops to false when the
/// email changes without it being set in the same call.
fn apply_attributes(user: &mut User, changes: &[(String, String)]) {
    for (name, value) in changes {
        let verified_name = match name.as_str() {
            "email" => Some("email_verified"),
            "phone_number" => Some("phone_number_verified"),
            _ => None,
        };
        if let Some(v) = verified_name {
            let changed = user.attributes.get(name) != Some(value);
            let set_too = changes.iter().any(|(n, _)| n == v);
            if changed && !set_too {
                user.attributes.insert(v.to_string(), "false".to_string());
            }
        }
        user.attributes.insert(name.clone(), value.clone());
    }
}

impl Identity {
    async fn change_attributes(
        &self,
        pool: &Pool,
        mut user: User,
        changes: &[(String, String)],
        now: i64,
    ) -> Result<User> {
        check_attributes(pool, changes)?;
        if (pool.settings.email_is_username() || pool.settings.phone_is_username())
            && changes
                .iter()
                .any(|(n, v)| (n == "email" || n == "phone_number") && v.is_empty())
        {
            return Err(CognitoError::invalid_parameter(
                "The username attribute cannot be removed.",
            ));
        }
        apply_attributes(&mut user, changes);
        set_alias_keys(pool, &mut user);
        user.updated_ms = now;
        self.store
            .update_user(&user, None, None)
            .await
            .map_err(alias_conflict)?;
        Ok(user)
    }

    pub(crate) async fn admin_update_user_attributes(
        &self,
        i: AdminUpdateAttributesIn,
        now: i64,
    ) -> Result<Value> {
        let (pool, mut user) = self.admin_user(&i.user_pool_id, &i.username).await?;
        let changes = hold_pending(&pool, &mut user, pairs(i.user_attributes));
        let user = self.change_attributes(&pool, user, &changes, now).await?;
        if let Some(target) = pending_target(&user) {
            self.deliver_code(
                &target,
                "verify_email",
                Kind::VerifyAttribute,
                VERIFY_CODE_MS,
                now,
                "",
            )
            .await?;
        }
        Ok(json!({}))
    }

    pub(crate) async fn admin_delete_user_attributes(
        &self,
        i: AdminDeleteAttributesIn,
        now: i64,
    ) -> Result<Value> {
        let (pool, user) = self.admin_user(&i.user_pool_id, &i.username).await?;
        self.remove_attributes(&pool, user, &i.user_attribute_names, now)
            .await
    }

    pub(crate) async fn update_user_attributes(
        &self,
        i: UpdateAttributesIn,
        now: i64,
    ) -> Result<Value> {
        let (pool, user, claims) = self.user_from_access_token(&i.access_token, now).await?;
        let changes = pairs(i.user_attributes);
        if let Some(client_id) = claims.get("client_id").and_then(Value::as_str) {
            if let Some(client) = self.store.client(client_id).await? {
                if let Some(writable) = &client.settings.write_attributes {
                    if let Some((name, _)) = changes.iter().find(|(n, _)| !writable.contains(n)) {
                        return Err(CognitoError::not_authorized(format!(
                            "A client attempted to write unauthorized attribute {name}"
                        )));
                    }
                }
            }
        }
        if changes
            .iter()
            .any(|(n, _)| n == "email_verified" || n == "phone_number_verified")
        {
            return Err(CognitoError::not_authorized(
                "A client attempted to write unauthorized attribute",
            ));
        }
        let before = user.attributes.get("email").cloned();
        let mut user = user;
        let changes = hold_pending(&pool, &mut user, changes);
        let user = self.change_attributes(&pool, user, &changes, now).await?;
        // A changed email the pool verifies gets a code, as Cognito sends it
        // (to the new address when it waits for verification).
        let mut list = Vec::new();
        let email = user.attributes.get("email").cloned();
        let auto = pool
            .settings
            .auto_verified_attributes
            .iter()
            .any(|a| a == "email");
        let target = match pending_target(&user) {
            Some(t) => Some(t),
            None if email.is_some()
                && email != before
                && auto
                && user.attributes.get("email_verified").map(String::as_str) != Some("true") =>
            {
                Some(user.clone())
            }
            None => None,
        };
        if let Some(target) = target {
            list.push(
                self.deliver_code(
                    &target,
                    "verify_email",
                    Kind::VerifyAttribute,
                    VERIFY_CODE_MS,
                    now,
                    "",
                )
                .await?,
            );
        }
        Ok(json!({"CodeDeliveryDetailsList": list}))
    }

    /// GetUserAttributeVerificationCode: a code to the email address.
    pub(crate) async fn get_user_attribute_verification_code(
        &self,
        i: AttributeCodeIn,
        now: i64,
    ) -> Result<Value> {
        let (_, user, _) = self.user_from_access_token(&i.access_token, now).await?;
        match i.attribute_name.as_str() {
            "email" if user.attributes.contains_key("email") => {}
            "email" => {
                return Err(CognitoError::invalid_parameter(
                    "The user has no email to verify.",
                ))
            }
            "phone_number" => {
                return Err(CognitoError::invalid_parameter(
                    "SMS is not supported by this server: only email can be verified.",
                ))
            }
            other => {
                return Err(CognitoError::invalid_parameter(format!(
                    "{other} is not an attribute that can be verified."
                )))
            }
        }
        let target = pending_target(&user).unwrap_or(user);
        let details = self
            .deliver_code(
                &target,
                "verify_email",
                Kind::VerifyAttribute,
                VERIFY_CODE_MS,
                now,
                "",
            )
            .await?;
        Ok(json!({"CodeDeliveryDetails": details}))
    }

    /// VerifyUserAttribute: the code sent for the attribute marks it verified.
    pub(crate) async fn verify_user_attribute(
        &self,
        i: VerifyAttributeIn,
        now: i64,
    ) -> Result<Value> {
        let (pool, mut user, _) = self.user_from_access_token(&i.access_token, now).await?;
        if i.attribute_name != "email" {
            return Err(CognitoError::invalid_parameter(format!(
                "{} cannot be verified by this server (email can).",
                i.attribute_name
            )));
        }
        self.check_code(&user, "verify_email", &i.code, now).await?;
        // A new address waiting for this code replaces the old one now.
        if let Some(new) = user.pending_attributes.remove("email") {
            user.attributes.insert("email".into(), new);
        }
        user.attributes
            .insert("email_verified".into(), "true".into());
        set_alias_keys(&pool, &mut user);
        user.updated_ms = now;
        self.store
            .update_user(&user, Some("verify_email"), None)
            .await
            .map_err(alias_conflict)?;
        Ok(json!({}))
    }

    /// Removes attributes (never a required one) for DeleteUserAttributes
    /// and AdminDeleteUserAttributes.
    async fn remove_attributes(
        &self,
        pool: &Pool,
        mut user: User,
        names: &[String],
        now: i64,
    ) -> Result<Value> {
        for name in names {
            if pool.settings.required_attributes.contains(name) {
                return Err(CognitoError::invalid_parameter(format!(
                    "Attributes did not conform to the schema: {name}: The attribute is required"
                )));
            }
            user.attributes.remove(name);
        }
        set_alias_keys(pool, &mut user);
        user.updated_ms = now;
        self.store.update_user(&user, None, None).await?;
        Ok(json!({}))
    }

    /// DeleteUserAttributes, by the user's own access token.
    pub(crate) async fn delete_user_attributes(
        &self,
        i: DeleteAttributesIn,
        now: i64,
    ) -> Result<Value> {
        let (pool, user, _) = self.user_from_access_token(&i.access_token, now).await?;
        self.remove_attributes(&pool, user, &i.user_attribute_names, now)
            .await
    }
}
