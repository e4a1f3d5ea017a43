//! Sign-up and confirmation: SignUp, ConfirmSignUp, AdminConfirmSignUp,
//! ResendConfirmationCode, and the triggers around them (pre sign-up,
//! user migration, post confirmation).

use cognate_config::PreventUserExistenceErrors;
use cognate_store::pools::{Client, Pool};
use cognate_store::users::User;
use serde_json::{json, Value};

use super::users::*;
use crate::error::{CognitoError, Result};
use crate::messages::Kind;
use crate::users::{set_alias_keys, simulated_delivery, status, SIGNUP_CODE_MS};
use crate::{password, triggers, Identity};

impl Identity {
    pub(crate) async fn sign_up(&self, i: SignUpIn, now: i64) -> Result<Value> {
        let (client, pool) = self.public_client(&i.client_id).await?;
        self.check_secret_hash(&client, i.secret_hash.as_deref(), &[&i.username])?;
        if pool.settings.allow_admin_create_user_only {
            return Err(CognitoError::not_authorized(
                "SignUp is not permitted for this user pool",
            ));
        }
        let pw = i
            .password
            .ok_or_else(|| CognitoError::invalid_parameter("Password is required."))?;
        password::check_policy(&pool.settings.password_policy, &pw)?;
        let given = pairs(i.user_attributes);
        let mut user = self.new_user(&pool, &i.username, &given, status::UNCONFIRMED, now)?;
        // PreSignUp may refuse (nothing is written), confirm the user and
        // verify the email or phone number.
        let (confirm, verify_email, verify_phone) = self
            .pre_sign_up(
                &pool,
                "PreSignUp_SignUp",
                &user.username,
                Some(&client.id),
                &given,
                i.validation_data,
                i.client_metadata.as_ref(),
            )
            .await?;
        if verify_email && user.attributes.contains_key("email") {
            user.attributes
                .insert("email_verified".into(), "true".into());
        }
        if verify_phone && user.attributes.contains_key("phone_number") {
            user.attributes
                .insert("phone_number_verified".into(), "true".into());
        }
        if confirm {
            user.status = status::CONFIRMED.to_string();
        }
        crate::users::set_alias_keys(&pool, &mut user);
        self.set_password(&mut user, &pw, now).await?;
        let verifies = |a: &str| {
            pool.settings
                .auto_verified_attributes
                .iter()
                .any(|v| v == a)
        };
        let code = if confirm {
            None
        } else if verifies("email") && user.attributes.contains_key("email")
            || verifies("phone_number") && user.attributes.contains_key("phone_number")
        {
            self.prepare_code(&user, "signup", Kind::SignUp, SIGNUP_CODE_MS, now)
        } else {
            None
        };
        self.store
            .insert_user(&user, code.as_ref().map(|c| &c.0))
            .await
            .map_err(|e| Self::exists_error(&pool, e, false))?;
        let mut out = json!({"UserConfirmed": confirm, "UserSub": user.sub});
        if let Some((_, message, details)) = code {
            self.send(Some(message)).await?;
            out["CodeDeliveryDetails"] = details;
        }
        Ok(out)
    }

    pub(crate) fn hides_users(client: &Client) -> bool {
        client.settings.prevent_user_existence_errors == PreventUserExistenceErrors::Enabled
    }

    /// The user a public call names, or the error the client's existence
    /// setting calls for.
    pub(crate) async fn public_user(
        &self,
        client: &Client,
        pool: &Pool,
        username: &str,
        hidden: CognitoError,
    ) -> Result<User> {
        match self.resolve_user(pool, username).await? {
            Some(u) => Ok(u),
            None if Self::hides_users(client) => Err(hidden),
            None => Err(CognitoError::user_not_found(
                "Username/client id combination not found.",
            )),
        }
    }

    pub(crate) async fn confirm_sign_up(&self, i: ConfirmSignUpIn, now: i64) -> Result<Value> {
        let (client, pool) = self.public_client(&i.client_id).await?;
        self.check_secret_hash(&client, i.secret_hash.as_deref(), &[&i.username])?;
        let hidden =
            CognitoError::code_mismatch("Invalid verification code provided, please try again.");
        let mut user = self
            .public_user(&client, &pool, &i.username, hidden)
            .await?;
        if user.status != status::UNCONFIRMED {
            return Err(CognitoError::not_authorized(format!(
                "User cannot be confirmed. Current status is {}",
                user.status
            )));
        }
        self.check_code(&user, "signup", &i.confirmation_code, now)
            .await?;
        user.status = status::CONFIRMED.into();
        if user.attributes.contains_key("email") {
            user.attributes
                .insert("email_verified".into(), "true".into());
        } else if user.attributes.contains_key("phone_number") {
            user.attributes
                .insert("phone_number_verified".into(), "true".into());
        }
        set_alias_keys(&pool, &mut user);
        user.updated_ms = now;
        self.store
            .update_user(&user, Some("signup"), None)
            .await
            .map_err(alias_conflict)?;
        self.post_confirmation(
            &pool,
            &user,
            Some(&client.id),
            "PostConfirmation_ConfirmSignUp",
        )
        .await?;
        Ok(json!({}))
    }

    /// PreSignUp (when the pool has it): may refuse (nothing is written
    /// then); answers (autoConfirmUser, autoVerifyEmail, autoVerifyPhone).
    #[expect(
        clippy::too_many_arguments,
        reason = "the event's parts, each from a different field of the request"
    )]
    pub(crate) async fn pre_sign_up(
        &self,
        pool: &Pool,
        source: &str,
        username: &str,
        client_id: Option<&str>,
        given: &[(String, String)],
        validation_data: Option<Vec<AttributeIn>>,
        metadata: Option<&std::collections::HashMap<String, String>>,
    ) -> Result<(bool, bool, bool)> {
        let Some(arn) = pool.settings.lambda_config.pre_sign_up.clone() else {
            return Ok((false, false, false));
        };
        let request = json!({
            "userAttributes": attribute_map(given),
            "validationData": validation_data.map(|v| attribute_map(&pairs(v))),
            "clientMetadata": triggers::metadata(metadata),
        });
        let r = self
            .run_trigger(
                "PreSignUp",
                &arn,
                "1",
                triggers::Common {
                    pool,
                    source,
                    username,
                    client_id,
                },
                request,
                json!({"autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false}),
            )
            .await?;
        Ok((
            triggers::flag(&r, "autoConfirmUser")?,
            triggers::flag(&r, "autoVerifyEmail")?,
            triggers::flag(&r, "autoVerifyPhone")?,
        ))
    }

    /// UserMigration: a user unknown to the pool, looked up by the pool's
    /// function in the app's old user store. With `password` (sign-in) the
    /// function checks it there; the user is then created with it, as the
    /// function's answer says (attributes, CONFIRMED or RESET_REQUIRED);
    /// without (forgot password) the user is created to reset the password.
    /// `None`: the pool has no migration function.
    pub(crate) async fn migrate_user(
        &self,
        pool: &Pool,
        client_id: &str,
        username: &str,
        password: Option<&str>,
        now: i64,
    ) -> Result<Option<User>> {
        let Some(arn) = pool.settings.lambda_config.user_migration.clone() else {
            return Ok(None);
        };
        let (source, mut request) = match password {
            Some(p) => ("UserMigration_Authentication", json!({"password": p})),
            None => ("UserMigration_ForgotPassword", json!({})),
        };
        request["validationData"] = Value::Null;
        request["clientMetadata"] = json!({});
        let r = self
            .run_trigger(
                "UserMigration",
                &arn,
                "1",
                triggers::Common {
                    pool,
                    source,
                    username,
                    client_id: Some(client_id),
                },
                request,
                json!({"userAttributes": null, "finalUserStatus": null, "messageAction": null,
                       "desiredDeliveryMediums": null, "forceAliasCreation": null, "enableSMSMFA": null}),
            )
            .await?;
        let attributes: Vec<(String, String)> = match r.get("userAttributes") {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Bool(b) => Ok((k.clone(), b.to_string())),
                    _ => Err(triggers::unrecognizable()),
                })
                .collect::<Result<_>>()?,
            _ => return Err(triggers::unrecognizable()),
        };
        let status = match (r.get("finalUserStatus").and_then(Value::as_str), password) {
            (Some("CONFIRMED"), Some(_)) | (None, Some(_)) => status::CONFIRMED,
            (Some("RESET_REQUIRED"), _) | (None, None) => status::RESET_REQUIRED,
            (Some("CONFIRMED"), None) => status::RESET_REQUIRED,
            (Some(_), _) => return Err(triggers::unrecognizable()),
        };
        // The user is created under the name it signed in with (attributes
        // may not carry `sub` or the username).
        let attributes: Vec<(String, String)> = attributes
            .into_iter()
            .filter(|(k, _)| k != "sub" && k != "username")
            .collect();
        let mut user = self.new_user(pool, username, &attributes, status, now)?;
        match password {
            Some(p) => self.set_password(&mut user, p, now).await?,
            None => {
                let temp = password::temporary(&pool.settings.password_policy);
                self.set_password(&mut user, &temp, now).await?;
            }
        }
        crate::users::set_alias_keys(pool, &mut user);
        self.store
            .insert_user(&user, None)
            .await
            .map_err(|e| Self::exists_error(pool, e, true))?;
        tracing::info!(pool = %pool.id, username, source, "user migrated by the pool's function");
        Ok(Some(user))
    }

    /// PostConfirmation runs once the user is confirmed (its failure is the
    /// caller's error; the confirmation stands, as on Cognito).
    pub(crate) async fn post_confirmation(
        &self,
        pool: &Pool,
        user: &User,
        client_id: Option<&str>,
        source: &str,
    ) -> Result<()> {
        let Some(arn) = pool.settings.lambda_config.post_confirmation.clone() else {
            return Ok(());
        };
        let attributes = triggers::user_attributes(user);
        self.run_trigger(
            "PostConfirmation",
            &arn,
            "1",
            triggers::Common {
                pool,
                source,
                username: &user.username,
                client_id,
            },
            json!({"userAttributes": attributes, "clientMetadata": {}}),
            json!({}),
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn admin_confirm_sign_up(&self, i: AdminUserIn, now: i64) -> Result<Value> {
        let (pool, mut user) = self.admin_user(&i.user_pool_id, &i.username).await?;
        if user.status != status::UNCONFIRMED {
            return Err(CognitoError::not_authorized(format!(
                "User cannot be confirmed. Current status is {}",
                user.status
            )));
        }
        user.status = status::CONFIRMED.into();
        set_alias_keys(&pool, &mut user);
        user.updated_ms = now;
        self.store
            .update_user(&user, Some("signup"), None)
            .await
            .map_err(alias_conflict)?;
        self.post_confirmation(&pool, &user, None, "PostConfirmation_ConfirmSignUp")
            .await?;
        Ok(json!({}))
    }

    pub(crate) async fn resend_confirmation_code(
        &self,
        i: ClientUserIn,
        now: i64,
    ) -> Result<Value> {
        let (client, pool) = self.public_client(&i.client_id).await?;
        self.check_secret_hash(&client, i.secret_hash.as_deref(), &[&i.username])?;
        let user = match self.resolve_user(&pool, &i.username).await? {
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
        if user.status != status::UNCONFIRMED {
            return Err(CognitoError::invalid_parameter(
                "User is already confirmed.",
            ));
        }
        let details = self
            .deliver_code(
                &user,
                "signup",
                Kind::ResendCode,
                SIGNUP_CODE_MS,
                now,
                "User has no email or phone_number to send a code to.",
            )
            .await?;
        Ok(json!({"CodeDeliveryDetails": details}))
    }
}
