//! Errors of the Cognito JSON API, named as Cognito names them on the wire.
//!
//! Internal failures (the database, a bug) become `InternalErrorException`
//! with a generic message; their cause is logged, never returned.

use cognate_store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct CognitoError {
    pub kind: ErrorKind,
    pub message: String,
}

macro_rules! kinds {
    ($($fn:ident => $kind:ident),* $(,)?) => {
        /// An error's kind: its `__type` is the name with `Exception`
        /// after it. What HTTP status each gets is the server's choice
        /// (server/src/errors.rs), not this crate's.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $($kind),*
        }

        impl ErrorKind {
            /// The name on the wire, without the `Exception` suffix.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => stringify!($kind)),*
                }
            }
        }

        impl CognitoError {
            $(pub fn $fn(message: impl Into<String>) -> CognitoError {
                CognitoError { kind: ErrorKind::$kind, message: message.into() }
            })*
        }
    };
}

kinds! {
    not_authorized => NotAuthorized,
    user_not_found => UserNotFound,
    user_not_confirmed => UserNotConfirmed,
    username_exists => UsernameExists,
    alias_exists => AliasExists,
    invalid_parameter => InvalidParameter,
    invalid_password => InvalidPassword,
    resource_not_found => ResourceNotFound,
    code_mismatch => CodeMismatch,
    expired_code => ExpiredCode,
    too_many_failed_attempts => TooManyFailedAttempts,
    limit_exceeded => LimitExceeded,
    password_reset_required => PasswordResetRequired,
    group_exists => GroupExists,
    invalid_oauth_flow => InvalidOAuthFlow,
    scope_does_not_exist => ScopeDoesNotExist,
    unsupported_user_state => UnsupportedUserState,
    unsupported_token_type => UnsupportedTokenType,
    unsupported_operation => UnsupportedOperation,
    unauthorized => Unauthorized,
    refresh_token_reuse => RefreshTokenReuse,
    unknown_operation => UnknownOperation,
    internal => InternalError,
    service_unavailable => ServiceUnavailable,
    missing_authentication_token => MissingAuthenticationToken,
    unrecognized_client => UnrecognizedClient,
    invalid_signature => InvalidSignature,
    incomplete_signature => IncompleteSignature,
    serialization => Serialization,
    invalid_user_pool_configuration => InvalidUserPoolConfiguration,
    code_delivery_failure => CodeDeliveryFailure,
    enable_software_token_mfa => EnableSoftwareTokenMFA,
    software_token_mfa_not_found => SoftwareTokenMFANotFound,
    user_lambda_validation => UserLambdaValidation,
    invalid_lambda_response => InvalidLambdaResponse,
    unexpected_lambda => UnexpectedLambda,
    duplicate_provider => DuplicateProvider,
}

impl CognitoError {
    /// The wire name: `NotAuthorizedException`.
    pub fn type_name(&self) -> String {
        format!("{}Exception", self.kind.as_str())
    }

    /// A failure on the server's side (internal, or the database away):
    /// never the client's fault, never an allow.
    pub fn is_internal(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::InternalError | ErrorKind::ServiceUnavailable
        )
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
