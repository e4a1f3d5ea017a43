//! Errors of the Cognito JSON API, named as Cognito names them on the wire.
//!
//! Internal failures (the database, a bug) become `InternalErrorException`
//! with a generic message; their cause is logged, never returned.

use cognate_store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct CognitoError {
    /// The `__type`, without the `Exception` suffix; see [`CognitoError::type_name`].
    pub kind: &'static str,
    pub message: String,
}

macro_rules! kinds {
    ($($fn:ident => $kind:literal),* $(,)?) => {
        impl CognitoError {
            $(pub fn $fn(message: impl Into<String>) -> CognitoError {
                CognitoError { kind: $kind, message: message.into() }
            })*
        }
    };
}

kinds! {
    not_authorized => "NotAuthorized",
    user_not_found => "UserNotFound",
    user_not_confirmed => "UserNotConfirmed",
    username_exists => "UsernameExists",
    alias_exists => "AliasExists",
    invalid_parameter => "InvalidParameter",
    invalid_password => "InvalidPassword",
    resource_not_found => "ResourceNotFound",
    code_mismatch => "CodeMismatch",
    expired_code => "ExpiredCode",
    too_many_failed_attempts => "TooManyFailedAttempts",
    limit_exceeded => "LimitExceeded",
    password_reset_required => "PasswordResetRequired",
    group_exists => "GroupExists",
    invalid_oauth_flow => "InvalidOAuthFlow",
    scope_does_not_exist => "ScopeDoesNotExist",
    unsupported_user_state => "UnsupportedUserState",
    unsupported_token_type => "UnsupportedTokenType",
    unsupported_operation => "UnsupportedOperation",
    unauthorized => "Unauthorized",
    refresh_token_reuse => "RefreshTokenReuse",
    unknown_operation => "UnknownOperation",
    internal => "InternalError",
    service_unavailable => "ServiceUnavailable",
    missing_authentication_token => "MissingAuthenticationToken",
    unrecognized_client => "UnrecognizedClient",
    invalid_signature => "InvalidSignature",
    incomplete_signature => "IncompleteSignature",
    serialization => "Serialization",
    invalid_user_pool_configuration => "InvalidUserPoolConfiguration",
    code_delivery_failure => "CodeDeliveryFailure",
    enable_software_token_mfa => "EnableSoftwareTokenMFA",
    software_token_mfa_not_found => "SoftwareTokenMFANotFound",
    user_lambda_validation => "UserLambdaValidation",
    invalid_lambda_response => "InvalidLambdaResponse",
    unexpected_lambda => "UnexpectedLambda",
    duplicate_provider => "DuplicateProvider",
}

impl CognitoError {
    /// The wire name: `NotAuthorizedException`.
    pub fn type_name(&self) -> String {
        format!("{}Exception", self.kind)
    }

    /// HTTP status: 500 for internal errors, 403 for a request with no
    /// signature at all, 400 for everything else (as Cognito answers).
    pub fn status(&self) -> u16 {
        match self.kind {
            "InternalError" => 500,
            "ServiceUnavailable" => 503,
            "MissingAuthenticationToken" => 403,
            _ => 400,
        }
    }

    /// A failure on the server's side (internal, or the database away):
    /// never the client's fault, never an allow.
    pub fn is_internal(&self) -> bool {
        self.kind == "InternalError" || self.kind == "ServiceUnavailable"
    }

    pub fn pool_not_found(pool_id: &str) -> CognitoError {
        let _ = pool_id;
        CognitoError::resource_not_found("User pool does not exist.")
    }

    pub fn client_not_found(client_id: &str) -> CognitoError {
        CognitoError::resource_not_found(format!("User pool client {client_id} does not exist."))
    }

    pub fn no_such_user() -> CognitoError {
        CognitoError::user_not_found("User does not exist.")
    }

    pub fn bad_credentials() -> CognitoError {
        CognitoError::not_authorized("Incorrect username or password.")
    }
}

impl From<StoreError> for CognitoError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        if e.is_transient() {
            CognitoError::service_unavailable("The service is unavailable. Try again later.")
        } else {
            CognitoError::internal("An internal error occurred.")
        }
    }
}

pub type Result<T> = std::result::Result<T, CognitoError>;
