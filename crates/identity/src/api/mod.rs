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

macro_rules! operations {
    (public: $($public:ident),+; admin: $($admin:ident),+;) => {
        /// Every operation this server implements, by its name on the wire.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($public,)*
            $($admin,)*
        }

        impl Operation {
            pub const ALL: &'static [Operation] =
                &[$(Operation::$public,)* $(Operation::$admin,)*];

            /// The operation an `X-Amz-Target` names (after the prefix).
            pub fn parse(name: &str) -> Option<Operation> {
                match name {
                    $(stringify!($public) => Some(Operation::$public),)*
                    $(stringify!($admin) => Some(Operation::$admin),)*
                    _ => None,
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Operation::$public => stringify!($public),)*
                    $(Operation::$admin => stringify!($admin),)*
                }
            }

            /// Callable without a signature (botocore's `authtype: none`);
            /// every other operation needs SigV4 by the admin credentials.
            pub fn is_public(self) -> bool {
                matches!(self, $(Operation::$public)|*)
            }
        }
    };
}

operations! {
    public:
    SignUp, ConfirmSignUp, ResendConfirmationCode, GetUser, UpdateUserAttributes,
    GetUserAttributeVerificationCode, VerifyUserAttribute, DeleteUserAttributes, DeleteUser,
    ForgotPassword, ConfirmForgotPassword, ChangePassword, InitiateAuth, RespondToAuthChallenge,
    GetTokensFromRefreshToken, GlobalSignOut, RevokeToken, AssociateSoftwareToken,
    VerifySoftwareToken, SetUserMFAPreference;
    admin:
    CreateUserPool, DescribeUserPool, ListUserPools, UpdateUserPool, DeleteUserPool,
    AddCustomAttributes, CreateIdentityProvider, DescribeIdentityProvider,
    ListIdentityProviders, UpdateIdentityProvider, DeleteIdentityProvider,
    GetIdentityProviderByIdentifier, GetSigningCertificate, AdminLinkProviderForUser,
    AdminDisableProviderForUser, CreateUserPoolClient, DescribeUserPoolClient,
    ListUserPoolClients, UpdateUserPoolClient, DeleteUserPoolClient, CreateResourceServer,
    DescribeResourceServer, ListResourceServers, UpdateResourceServer, DeleteResourceServer,
    CreateGroup, GetGroup, ListGroups, UpdateGroup, DeleteGroup, AdminAddUserToGroup,
    AdminRemoveUserFromGroup, AdminListGroupsForUser, ListUsersInGroup, AdminConfirmSignUp,
    AdminCreateUser, AdminSetUserPassword, AdminResetUserPassword, AdminGetUser, ListUsers,
    AdminUpdateUserAttributes, AdminDeleteUserAttributes, AdminDeleteUser, AdminDisableUser,
    AdminEnableUser, AdminInitiateAuth, AdminRespondToAuthChallenge, AdminUserGlobalSignOut,
    AdminSetUserMFAPreference, SetUserPoolMfaConfig, GetUserPoolMfaConfig;
}

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
        let Some(op) = Operation::parse(op) else {
            return Err(CognitoError::unknown_operation(format!(
                "Operation {op} is not supported by cognate."
            )));
        };
        if !op.is_public() {
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
    pub async fn call_public(&self, op: Operation, body: Value, now_ms: i64) -> Result<Value> {
        if !op.is_public() {
            return Err(CognitoError::unknown_operation(format!(
                "{} is not a public operation.",
                op.as_str()
            )));
        }
        self.dispatch(op, body, now_ms).await
    }

    async fn dispatch(&self, op: Operation, b: Value, now: i64) -> Result<Value> {
        use Operation as O;
        match op {
            O::CreateUserPool => self.create_user_pool(input(b)?, now).await,
            O::DescribeUserPool => self.describe_user_pool(input(b)?).await,
            O::ListUserPools => self.list_user_pools(input(b)?).await,
            O::UpdateUserPool => self.update_user_pool(input(b)?, now).await,
            O::AddCustomAttributes => self.add_custom_attributes(input(b)?, now).await,
            O::CreateIdentityProvider => self.create_identity_provider(input(b)?, now).await,
            O::DescribeIdentityProvider => self.describe_identity_provider(input(b)?).await,
            O::ListIdentityProviders => self.list_identity_providers(input(b)?).await,
            O::UpdateIdentityProvider => self.update_identity_provider(input(b)?, now).await,
            O::DeleteIdentityProvider => self.delete_identity_provider(input(b)?).await,
            O::GetSigningCertificate => self.get_signing_certificate(input(b)?).await,
            O::AdminLinkProviderForUser => self.admin_link_provider_for_user(input(b)?, now).await,
            O::AdminDisableProviderForUser => {
                self.admin_disable_provider_for_user(input(b)?, now).await
            }
            O::GetIdentityProviderByIdentifier => {
                self.get_identity_provider_by_identifier(input(b)?).await
            }
            O::DeleteUserPool => self.delete_user_pool(input(b)?).await,
            O::CreateUserPoolClient => self.create_user_pool_client(input(b)?, now).await,
            O::DescribeUserPoolClient => self.describe_user_pool_client(input(b)?).await,
            O::ListUserPoolClients => self.list_user_pool_clients(input(b)?).await,
            O::UpdateUserPoolClient => self.update_user_pool_client(input(b)?, now).await,
            O::DeleteUserPoolClient => self.delete_user_pool_client(input(b)?).await,
            O::CreateResourceServer => self.create_resource_server(input(b)?).await,
            O::DescribeResourceServer => self.describe_resource_server(input(b)?).await,
            O::ListResourceServers => self.list_resource_servers(input(b)?).await,
            O::UpdateResourceServer => self.update_resource_server(input(b)?).await,
            O::DeleteResourceServer => self.delete_resource_server(input(b)?).await,
            O::CreateGroup => self.create_group(input(b)?, now).await,
            O::GetGroup => self.get_group(input(b)?).await,
            O::ListGroups => self.list_groups(input(b)?).await,
            O::UpdateGroup => self.update_group(input(b)?, now).await,
            O::DeleteGroup => self.delete_group(input(b)?).await,
            O::AdminAddUserToGroup => self.admin_add_user_to_group(input(b)?).await,
            O::AdminRemoveUserFromGroup => self.admin_remove_user_from_group(input(b)?).await,
            O::AdminListGroupsForUser => self.admin_list_groups_for_user(input(b)?).await,
            O::ListUsersInGroup => self.list_users_in_group(input(b)?).await,
            O::SignUp => self.sign_up(input(b)?, now).await,
            O::ConfirmSignUp => self.confirm_sign_up(input(b)?, now).await,
            O::AdminConfirmSignUp => self.admin_confirm_sign_up(input(b)?, now).await,
            O::ResendConfirmationCode => self.resend_confirmation_code(input(b)?, now).await,
            O::AdminCreateUser => self.admin_create_user(input(b)?, now).await,
            O::AdminSetUserPassword => self.admin_set_user_password(input(b)?, now).await,
            O::AdminResetUserPassword => self.admin_reset_user_password(input(b)?, now).await,
            O::AdminGetUser => self.admin_get_user(input(b)?).await,
            O::GetUser => self.get_user(input(b)?, now).await,
            O::ListUsers => self.list_users(input(b)?).await,
            O::AdminUpdateUserAttributes => self.admin_update_user_attributes(input(b)?, now).await,
            O::AdminDeleteUserAttributes => self.admin_delete_user_attributes(input(b)?, now).await,
            O::UpdateUserAttributes => self.update_user_attributes(input(b)?, now).await,
            O::GetUserAttributeVerificationCode => {
                self.get_user_attribute_verification_code(input(b)?, now)
                    .await
            }
            O::VerifyUserAttribute => self.verify_user_attribute(input(b)?, now).await,
            O::DeleteUserAttributes => self.delete_user_attributes(input(b)?, now).await,
            O::AdminDeleteUser => self.admin_delete_user(input(b)?).await,
            O::DeleteUser => self.delete_user(input(b)?, now).await,
            O::AdminDisableUser => self.admin_set_enabled(input(b)?, false, now).await,
            O::AdminEnableUser => self.admin_set_enabled(input(b)?, true, now).await,
            O::ForgotPassword => self.forgot_password(input(b)?, now).await,
            O::ConfirmForgotPassword => self.confirm_forgot_password(input(b)?, now).await,
            O::ChangePassword => self.change_password(input(b)?, now).await,
            O::InitiateAuth => self.initiate_auth(input(b)?, now).await,
            O::AdminInitiateAuth => self.admin_initiate_auth(input(b)?, now).await,
            O::RespondToAuthChallenge => self.respond_to_auth_challenge(input(b)?, None, now).await,
            O::AdminRespondToAuthChallenge => {
                let pool: PoolRef = input(b.clone())?;
                self.respond_to_auth_challenge(input(b)?, Some(pool.user_pool_id), now)
                    .await
            }
            O::GetTokensFromRefreshToken => {
                self.get_tokens_from_refresh_token(input(b)?, now).await
            }
            O::GlobalSignOut => self.global_sign_out(input(b)?, now).await,
            O::AdminUserGlobalSignOut => self.admin_user_global_sign_out(input(b)?, now).await,
            O::RevokeToken => self.revoke_token(input(b)?, now).await,
            O::AssociateSoftwareToken => self.associate_software_token(input(b)?, now).await,
            O::VerifySoftwareToken => self.verify_software_token(input(b)?, now).await,
            O::SetUserMFAPreference => self.set_user_mfa_preference(input(b)?, false, now).await,
            O::AdminSetUserMFAPreference => {
                self.set_user_mfa_preference(input(b)?, true, now).await
            }
            O::SetUserPoolMfaConfig => self.set_user_pool_mfa_config(input(b)?, now).await,
            O::GetUserPoolMfaConfig => self.get_user_pool_mfa_config(input(b)?).await,
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

    /// Every operation's name parses back to it and reaches a handler (which refuses the empty input as a
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
        for &op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
            let err = identity
                .dispatch(op, serde_json::json!({}), 0)
                .await
                .unwrap_err();
            assert_ne!(
                err.kind,
                crate::error::ErrorKind::UnknownOperation,
                "{op:?}"
            );
        }
        assert_eq!(Operation::parse("NoSuchOperation"), None);
        // Public ones refuse no unsigned caller; admin ones need SigV4.
        assert!(Operation::SignUp.is_public() && Operation::InitiateAuth.is_public());
        assert!(!Operation::AdminInitiateAuth.is_public() && !Operation::ListUsers.is_public());
        std::fs::remove_dir_all(dir).ok();
    }
}
