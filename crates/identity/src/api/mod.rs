//! The Cognito JSON API (`X-Amz-Target: AWSCognitoIdentityProviderService.*`).
//!
//! [`Identity::handle_api`] takes one request as data, checks its signature
//! when the operation is an admin one, and runs the operation. Operations
//! are grouped by aggregate: [`pools`] (pools, clients, resource servers),
//! [`users`], [`groups`], [`auth`] (sign-in, refresh, sign-out).

mod attributes;
mod auth;
mod clients;
mod custom;
mod groups;
mod links;
pub mod mfa;
mod pools;
mod providers;
mod resource_servers;
mod signup;
mod srp_auth;
mod users;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{CognitoError, Result};
use crate::{crypto, sigv4, Identity};

pub const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

/// Operations callable without a signature (botocore `authtype: none`); every
/// other operation requires SigV4 from the admin credentials.
pub const PUBLIC_OPERATIONS: [&str; 32] = [
    "AssociateSoftwareToken",
    "ChangePassword",
    "CompleteWebAuthnRegistration",
    "ConfirmDevice",
    "ConfirmForgotPassword",
    "ConfirmSignUp",
    "DeleteUser",
    "DeleteUserAttributes",
    "DeleteWebAuthnCredential",
    "ForgetDevice",
    "ForgotPassword",
    "GetDevice",
    "GetTokensFromRefreshToken",
    "GetUser",
    "GetUserAttributeVerificationCode",
    "GetUserAuthFactors",
    "GlobalSignOut",
    "InitiateAuth",
    "ListDevices",
    "ListWebAuthnCredentials",
    "ResendConfirmationCode",
    "RespondToAuthChallenge",
    "RevokeToken",
    "SetUserMFAPreference",
    "SetUserSettings",
    "SignUp",
    "StartWebAuthnRegistration",
    "UpdateAuthEventFeedback",
    "UpdateDeviceStatus",
    "UpdateUserAttributes",
    "VerifySoftwareToken",
    "VerifyUserAttribute",
];

/// Every operation this server implements.
pub const OPERATIONS: [&str; 71] = [
    "CreateUserPool",
    "DescribeUserPool",
    "ListUserPools",
    "UpdateUserPool",
    "DeleteUserPool",
    "AddCustomAttributes",
    "CreateIdentityProvider",
    "DescribeIdentityProvider",
    "ListIdentityProviders",
    "UpdateIdentityProvider",
    "DeleteIdentityProvider",
    "GetIdentityProviderByIdentifier",
    "GetSigningCertificate",
    "AdminLinkProviderForUser",
    "AdminDisableProviderForUser",
    "CreateUserPoolClient",
    "DescribeUserPoolClient",
    "ListUserPoolClients",
    "UpdateUserPoolClient",
    "DeleteUserPoolClient",
    "CreateResourceServer",
    "DescribeResourceServer",
    "ListResourceServers",
    "UpdateResourceServer",
    "DeleteResourceServer",
    "CreateGroup",
    "GetGroup",
    "ListGroups",
    "UpdateGroup",
    "DeleteGroup",
    "AdminAddUserToGroup",
    "AdminRemoveUserFromGroup",
    "AdminListGroupsForUser",
    "ListUsersInGroup",
    "SignUp",
    "ConfirmSignUp",
    "AdminConfirmSignUp",
    "ResendConfirmationCode",
    "AdminCreateUser",
    "AdminSetUserPassword",
    "AdminResetUserPassword",
    "AdminGetUser",
    "GetUser",
    "ListUsers",
    "AdminUpdateUserAttributes",
    "AdminDeleteUserAttributes",
    "UpdateUserAttributes",
    "GetUserAttributeVerificationCode",
    "VerifyUserAttribute",
    "DeleteUserAttributes",
    "AdminDeleteUser",
    "DeleteUser",
    "AdminDisableUser",
    "AdminEnableUser",
    "ForgotPassword",
    "ConfirmForgotPassword",
    "ChangePassword",
    "InitiateAuth",
    "AdminInitiateAuth",
    "RespondToAuthChallenge",
    "AdminRespondToAuthChallenge",
    "GetTokensFromRefreshToken",
    "GlobalSignOut",
    "AdminUserGlobalSignOut",
    "RevokeToken",
    "AssociateSoftwareToken",
    "VerifySoftwareToken",
    "SetUserMFAPreference",
    "AdminSetUserMFAPreference",
    "SetUserPoolMfaConfig",
    "GetUserPoolMfaConfig",
];

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 * 1024;

impl Identity {
    /// Runs one JSON API request. `target` is the `X-Amz-Target` header.
    pub async fn handle_api(
        &self,
        target: Option<&str>,
        http: &sigv4::Request<'_>,
        now_ms: i64,
    ) -> Result<Value> {
        let op = target
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .ok_or_else(|| CognitoError::unknown_operation("Operation is not supported."))?;
        tracing::debug!(operation = %op, "json api call");
        if !OPERATIONS.contains(&op) {
            return Err(CognitoError::unknown_operation(format!(
                "Operation {op} is not supported by cognate."
            )));
        }
        if !PUBLIC_OPERATIONS.contains(&op) {
            sigv4::verify(
                http,
                &self.admin,
                &self.region,
                "cognito-idp",
                now_ms / 1000,
            )?;
        }
        if http.body.len() > MAX_BODY {
            return Err(CognitoError::invalid_parameter(
                "Request body is too large.",
            ));
        }
        let body: Value = if http.body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(http.body).map_err(|_| {
                CognitoError::serialization("Start of structure or map found where not expected.")
            })?
        };
        if !body.is_object() {
            return Err(CognitoError::serialization(
                "Start of structure or map found where not expected.",
            ));
        }
        self.dispatch(op, body, now_ms).await
    }

    /// Runs one of the public operations (SignUp, ConfirmSignUp, ...) for
    /// the hosted pages; admin operations are refused.
    pub async fn call_public(&self, op: &str, body: Value, now_ms: i64) -> Result<Value> {
        if !PUBLIC_OPERATIONS.contains(&op) {
            return Err(CognitoError::unknown_operation(format!(
                "{op} is not a public operation."
            )));
        }
        self.dispatch(op, body, now_ms).await
    }

    async fn dispatch(&self, op: &str, b: Value, now: i64) -> Result<Value> {
        match op {
            "CreateUserPool" => self.create_user_pool(input(b)?, now).await,
            "DescribeUserPool" => self.describe_user_pool(input(b)?).await,
            "ListUserPools" => self.list_user_pools(input(b)?).await,
            "UpdateUserPool" => self.update_user_pool(input(b)?, now).await,
            "AddCustomAttributes" => self.add_custom_attributes(input(b)?, now).await,
            "CreateIdentityProvider" => self.create_identity_provider(input(b)?, now).await,
            "DescribeIdentityProvider" => self.describe_identity_provider(input(b)?).await,
            "ListIdentityProviders" => self.list_identity_providers(input(b)?).await,
            "UpdateIdentityProvider" => self.update_identity_provider(input(b)?, now).await,
            "DeleteIdentityProvider" => self.delete_identity_provider(input(b)?).await,
            "GetSigningCertificate" => self.get_signing_certificate(input(b)?).await,
            "AdminLinkProviderForUser" => self.admin_link_provider_for_user(input(b)?, now).await,
            "AdminDisableProviderForUser" => {
                self.admin_disable_provider_for_user(input(b)?, now).await
            }
            "GetIdentityProviderByIdentifier" => {
                self.get_identity_provider_by_identifier(input(b)?).await
            }
            "DeleteUserPool" => self.delete_user_pool(input(b)?).await,
            "CreateUserPoolClient" => self.create_user_pool_client(input(b)?, now).await,
            "DescribeUserPoolClient" => self.describe_user_pool_client(input(b)?).await,
            "ListUserPoolClients" => self.list_user_pool_clients(input(b)?).await,
            "UpdateUserPoolClient" => self.update_user_pool_client(input(b)?, now).await,
            "DeleteUserPoolClient" => self.delete_user_pool_client(input(b)?).await,
            "CreateResourceServer" => self.create_resource_server(input(b)?).await,
            "DescribeResourceServer" => self.describe_resource_server(input(b)?).await,
            "ListResourceServers" => self.list_resource_servers(input(b)?).await,
            "UpdateResourceServer" => self.update_resource_server(input(b)?).await,
            "DeleteResourceServer" => self.delete_resource_server(input(b)?).await,
            "CreateGroup" => self.create_group(input(b)?, now).await,
            "GetGroup" => self.get_group(input(b)?).await,
            "ListGroups" => self.list_groups(input(b)?).await,
            "UpdateGroup" => self.update_group(input(b)?, now).await,
            "DeleteGroup" => self.delete_group(input(b)?).await,
            "AdminAddUserToGroup" => self.admin_add_user_to_group(input(b)?).await,
            "AdminRemoveUserFromGroup" => self.admin_remove_user_from_group(input(b)?).await,
            "AdminListGroupsForUser" => self.admin_list_groups_for_user(input(b)?).await,
            "ListUsersInGroup" => self.list_users_in_group(input(b)?).await,
            "SignUp" => self.sign_up(input(b)?, now).await,
            "ConfirmSignUp" => self.confirm_sign_up(input(b)?, now).await,
            "AdminConfirmSignUp" => self.admin_confirm_sign_up(input(b)?, now).await,
            "ResendConfirmationCode" => self.resend_confirmation_code(input(b)?, now).await,
            "AdminCreateUser" => self.admin_create_user(input(b)?, now).await,
            "AdminSetUserPassword" => self.admin_set_user_password(input(b)?, now).await,
            "AdminResetUserPassword" => self.admin_reset_user_password(input(b)?, now).await,
            "AdminGetUser" => self.admin_get_user(input(b)?).await,
            "GetUser" => self.get_user(input(b)?, now).await,
            "ListUsers" => self.list_users(input(b)?).await,
            "AdminUpdateUserAttributes" => self.admin_update_user_attributes(input(b)?, now).await,
            "AdminDeleteUserAttributes" => self.admin_delete_user_attributes(input(b)?, now).await,
            "UpdateUserAttributes" => self.update_user_attributes(input(b)?, now).await,
            "GetUserAttributeVerificationCode" => {
                self.get_user_attribute_verification_code(input(b)?, now)
                    .await
            }
            "VerifyUserAttribute" => self.verify_user_attribute(input(b)?, now).await,
            "DeleteUserAttributes" => self.delete_user_attributes(input(b)?, now).await,
            "AdminDeleteUser" => self.admin_delete_user(input(b)?).await,
            "DeleteUser" => self.delete_user(input(b)?, now).await,
            "AdminDisableUser" => self.admin_set_enabled(input(b)?, false, now).await,
            "AdminEnableUser" => self.admin_set_enabled(input(b)?, true, now).await,
            "ForgotPassword" => self.forgot_password(input(b)?, now).await,
            "ConfirmForgotPassword" => self.confirm_forgot_password(input(b)?, now).await,
            "ChangePassword" => self.change_password(input(b)?, now).await,
            "InitiateAuth" => self.initiate_auth(input(b)?, now).await,
            "AdminInitiateAuth" => self.admin_initiate_auth(input(b)?, now).await,
            "RespondToAuthChallenge" => self.respond_to_auth_challenge(input(b)?, None, now).await,
            "AdminRespondToAuthChallenge" => {
                let pool: PoolRef = input(b.clone())?;
                self.respond_to_auth_challenge(input(b)?, Some(pool.user_pool_id), now)
                    .await
            }
            "GetTokensFromRefreshToken" => self.get_tokens_from_refresh_token(input(b)?, now).await,
            "GlobalSignOut" => self.global_sign_out(input(b)?, now).await,
            "AdminUserGlobalSignOut" => self.admin_user_global_sign_out(input(b)?, now).await,
            "RevokeToken" => self.revoke_token(input(b)?, now).await,
            "AssociateSoftwareToken" => self.associate_software_token(input(b)?, now).await,
            "VerifySoftwareToken" => self.verify_software_token(input(b)?, now).await,
            "SetUserMFAPreference" => self.set_user_mfa_preference(input(b)?, false, now).await,
            "AdminSetUserMFAPreference" => self.set_user_mfa_preference(input(b)?, true, now).await,
            "SetUserPoolMfaConfig" => self.set_user_pool_mfa_config(input(b)?, now).await,
            "GetUserPoolMfaConfig" => self.get_user_pool_mfa_config(input(b)?).await,
            _ => Err(CognitoError::unknown_operation(format!(
                "Operation {op} is not supported by cognate."
            ))),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolRef {
    user_pool_id: String,
}

/// Reads an operation's input, answering as Cognito does when a required
/// member is missing or has the wrong type.
fn input<T: DeserializeOwned>(body: Value) -> Result<T> {
    serde_json::from_value(body).map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            Some(field) => CognitoError::invalid_parameter(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_camel(field)
            )),
            None => CognitoError::serialization(format!("Invalid request: {text}")),
        }
    })
}

fn lower_camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The failure Cognito reports for a value outside its model constraints.
pub(crate) fn constraint(field: &str, value: impl std::fmt::Display, rule: &str) -> CognitoError {
    CognitoError::invalid_parameter(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}"
    ))
}

/// Page size from a request's limit (`None` or 0: the default).
pub(crate) fn page_size(limit: Option<i64>, field: &str, max: i64) -> Result<i64> {
    match limit {
        None | Some(0) => Ok(max),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(constraint(
            field,
            n,
            &format!("Member must have value less than or equal to {max}"),
        )),
    }
}

/// Opaque pagination tokens: the last key of a page, encoded.
pub(crate) fn page_token(last: &str) -> String {
    crypto::b64url(last.as_bytes())
}

pub(crate) fn page_after(token: Option<&str>) -> Result<Option<String>> {
    match token {
        None => Ok(None),
        Some(t) => crypto::b64url_decode(t)
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| CognitoError::invalid_parameter("Invalid pagination token.")),
    }
}

/// Checks a pool id's shape before looking it up.
pub(crate) fn check_pool_id(id: &str) -> Result<()> {
    let ok = id.len() <= 55
        && id.split_once('_').is_some_and(|(r, n)| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if ok {
        Ok(())
    } else {
        Err(constraint(
            "userPoolId",
            id,
            "Member must satisfy regular expression pattern: [\\w-]+_[0-9a-zA-Z]+",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list of operations and the dispatch table agree: every listed
    /// operation reaches a handler (which refuses the empty input as a
    /// handler would, never as an unknown operation).
    #[tokio::test]
    async fn every_listed_operation_is_dispatched() {
        let dir = std::env::temp_dir().join(format!("cognate-ops-{}", uuid::Uuid::new_v4()));
        let store = cognate_store::Store::open_sqlite(&dir).await.unwrap();
        let identity = Identity::new(
            store,
            "us-east-1".into(),
            "http://127.0.0.1:1".into(),
            cognate_config::AdminCredentials {
                access_key_id: "A".repeat(20),
                secret_access_key: "s".repeat(40),
            },
            crate::messages::Messenger::outbox(&dir.join("outbox")),
        );
        for op in OPERATIONS {
            let err = identity
                .dispatch(op, serde_json::json!({}), 0)
                .await
                .unwrap_err();
            assert_ne!(err.kind, crate::error::ErrorKind::UnknownOperation, "{op}");
        }
        let err = identity
            .dispatch("NoSuchOperation", serde_json::json!({}), 0)
            .await
            .unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::UnknownOperation);
        std::fs::remove_dir_all(dir).ok();
    }
}
