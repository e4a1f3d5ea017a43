//! The validated model: what the rest of cognate works with.
//!
//! These types are also what the store persists (as JSON) for pools and app
//! clients, whether they came from the config file or from the Cognito JSON API,
//! so one set of rules describes both.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Server {
    /// The base URL clients use to reach the main listener (Cognito JSON API,
    /// issuers). `None`: derived from the listen address.
    pub public_url: Option<String>,
    /// HTTPS on every listener.
    pub tls: Option<Tls>,
    /// Where Prometheus metrics are served (`GET /metrics`); none by default.
    pub metrics: Option<Listen>,
    /// What every listener holds its connections to.
    pub limits: ConnectionLimits,
    /// A Redis server (`redis://host:port[/db]`) that the nodes of one
    /// deployment share their throttling buckets in. Without it each node
    /// takes its share of every limit by the count of live nodes.
    pub redis_url: Option<String>,
    /// The keys secrets are sealed with at rest (signing keys, client
    /// secrets, the admin secret key, session keys): one `<id> <base64 of 32
    /// bytes>` per line, the current key first.
    pub secret_key_file: Option<String>,
}

/// Limits on clients' connections, on every listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections one client address may hold open.
    pub max_connections_per_ip: u32,
    /// Of those, how many may be still sending a request's headers.
    pub max_pending_connections_per_ip: u32,
    /// From a request's head to the end of its body (API Gateway's
    /// integration limit is 30 s); a slower body gets 408.
    pub body_timeout: std::time::Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections_per_ip: 4096,
            max_pending_connections_per_ip: 256,
            body_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// A PEM certificate chain and its PEM private key.
    Files { cert_file: String, key_file: String },
    /// A development certificate, made on first start and kept in the data
    /// directory (`tls/ca.pem` is the CA clients trust).
    Development,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Messages {
    /// Where messages land when no SMTP server is configured; relative paths
    /// are relative to the data directory.
    pub outbox_dir: Option<String>,
    pub smtp: Option<Smtp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub tls: SmtpTls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

/// Where a secondary listener binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// Next to the main listener: its port plus an offset, or a free port when
    /// the main listener asked for port 0.
    Auto,
    Addr(std::net::SocketAddr),
}

/// A user pool declared in the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPool {
    /// The stable name the config refers to the pool by.
    pub name: String,
    /// The pool's name as DescribeUserPool shows it (a stack's
    /// `UserPoolName`); default: `name`.
    pub display_name: Option<String>,
    /// Key of the outputs: `{output}Id` carries the pool id.
    pub output: Option<String>,
    pub settings: PoolSettings,
    pub domain: Option<Domain>,
    pub resource_servers: Vec<ResourceServer>,
    pub clients: Vec<AppClient>,
    /// Groups created on first start (and updated on each).
    pub groups: Vec<DeclaredGroup>,
    /// Users created on first start when absent, as AdminCreateUser does
    /// (a temporary password sent to the outbox unless suppressed).
    pub users: Vec<DeclaredUser>,
    /// External identity providers, created or updated on each start
    /// with the JSON API's rules.
    pub identity_providers: Vec<DeclaredProvider>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredProvider {
    pub name: String,
    /// OIDC, SAML, Google, Facebook, SignInWithApple, LoginWithAmazon.
    #[serde(rename = "type")]
    pub provider_type: String,
    /// ProviderDetails (client_id, authorize_scopes, oidc_issuer, ...).
    #[serde(default)]
    pub details: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub attribute_mapping: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub idp_identifiers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredGroup {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub precedence: Option<i64>,
    #[serde(default)]
    pub role_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredUser {
    pub username: String,
    /// Attribute name -> value (`email`, `email_verified`, `custom:x`).
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// No invitation message (AdminCreateUser's `MessageAction: SUPPRESS`).
    #[serde(default)]
    pub suppress_message: bool,
    /// Groups of the pool the user is a member of.
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    pub prefix: String,
    pub listen: Listen,
    /// Host names (`auth.example.com`) whose requests to any listener are
    /// served by this domain.
    pub custom_domains: Vec<String>,
}

/// Everything about a pool that Cognito lets an administrator set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSettings {
    pub issuer: IssuerStyle,
    pub password_policy: PasswordPolicy,
    #[serde(default)]
    pub username_attributes: Vec<String>,
    #[serde(default)]
    pub alias_attributes: Vec<String>,
    #[serde(default)]
    pub auto_verified_attributes: Vec<String>,
    #[serde(default)]
    pub allow_admin_create_user_only: bool,
    #[serde(default = "default_true")]
    pub username_case_sensitive: bool,
    #[serde(default)]
    pub custom_attributes: Vec<CustomAttribute>,
    #[serde(default)]
    pub required_attributes: Vec<String>,
    #[serde(default)]
    pub mfa: MfaConfiguration,
    #[serde(default)]
    pub deletion_protection: bool,
    /// The Lambda triggers (Cognito's `LambdaConfig`).
    #[serde(default)]
    pub lambda_config: LambdaConfig,
    /// `UserAttributeUpdateSettings.AttributesRequireVerificationBeforeUpdate`:
    /// a changed `email` is kept pending (the old one stays) until verified.
    #[serde(default)]
    pub attributes_require_verification_before_update: Vec<String>,
}

/// A pool's Lambda triggers as Cognito's `LambdaConfig` names them: each a
/// function ARN (`arn:aws:lambda:{region}:{account}:function:{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct LambdaConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_sign_up: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_confirmation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_authentication: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_authentication: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub define_auth_challenge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_auth_challenge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_auth_challenge_response: Option<String>,
    /// V1_0 of PreTokenGeneration (the same ARN as
    /// `pre_token_generation_config` when that is set, as Cognito keeps it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_token_generation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_token_generation_config: Option<PreTokenGenerationConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_migration: Option<String>,
}

impl LambdaConfig {
    /// Every (trigger name, function ARN) configured.
    pub fn functions(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        for (name, arn) in [
            ("PreSignUp", &self.pre_sign_up),
            ("CustomMessage", &self.custom_message),
            ("PostConfirmation", &self.post_confirmation),
            ("PreAuthentication", &self.pre_authentication),
            ("PostAuthentication", &self.post_authentication),
            ("DefineAuthChallenge", &self.define_auth_challenge),
            ("CreateAuthChallenge", &self.create_auth_challenge),
            (
                "VerifyAuthChallengeResponse",
                &self.verify_auth_challenge_response,
            ),
            ("PreTokenGeneration", &self.pre_token_generation),
            ("UserMigration", &self.user_migration),
        ] {
            if let Some(a) = arn {
                out.push((name, a.as_str()));
            }
        }
        if let Some(c) = &self.pre_token_generation_config {
            out.push(("PreTokenGenerationConfig", c.lambda_arn.as_str()));
        }
        out
    }

    /// The pre-token-generation function and its event version (`V1_0`,
    /// `V2_0`, `V3_0`).
    pub fn pre_token(&self) -> Option<(&str, &str)> {
        match (
            &self.pre_token_generation_config,
            &self.pre_token_generation,
        ) {
            (Some(c), _) => Some((c.lambda_arn.as_str(), c.lambda_version.as_str())),
            (None, Some(a)) => Some((a.as_str(), "V1_0")),
            (None, None) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PreTokenGenerationConfig {
    pub lambda_arn: String,
    pub lambda_version: String,
}

/// The ARN cognate gives a function of its config.
pub fn function_arn(region: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:000000000000:function:{name}")
}

fn default_true() -> bool {
    true
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            issuer: IssuerStyle::Cognate,
            password_policy: PasswordPolicy::default(),
            username_attributes: Vec::new(),
            alias_attributes: Vec::new(),
            auto_verified_attributes: Vec::new(),
            allow_admin_create_user_only: false,
            username_case_sensitive: true,
            custom_attributes: Vec::new(),
            required_attributes: Vec::new(),
            mfa: MfaConfiguration::Off,
            deletion_protection: false,
            lambda_config: LambdaConfig::default(),
            attributes_require_verification_before_update: Vec::new(),
        }
    }
}

impl PoolSettings {
    pub fn email_is_username(&self) -> bool {
        self.username_attributes.iter().any(|a| a == "email")
    }
    pub fn phone_is_username(&self) -> bool {
        self.username_attributes.iter().any(|a| a == "phone_number")
    }
    /// Whether users can sign in with this attribute instead of their username.
    pub fn signs_in_with(&self, attribute: &str) -> bool {
        self.username_attributes.iter().any(|a| a == attribute)
            || self.alias_attributes.iter().any(|a| a == attribute)
    }
}

/// How the `iss` claim of a pool's tokens is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssuerStyle {
    /// `{public url of the main listener}/{poolId}`: discovery and JWKS are
    /// served where the issuer says.
    Cognate,
    /// `https://cognito-idp.{region}.amazonaws.com/{poolId}`, for verifiers that
    /// compute the issuer from the pool id (aws-jwt-verify's CognitoJwtVerifier).
    Aws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum MfaConfiguration {
    #[default]
    Off,
    On,
    Optional,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    pub minimum_length: u32,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
    pub temporary_password_validity_days: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            minimum_length: 8,
            require_uppercase: true,
            require_lowercase: true,
            require_numbers: true,
            require_symbols: true,
            temporary_password_validity_days: 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomAttribute {
    /// Without the `custom:` prefix.
    pub name: String,
    #[serde(default = "default_string_type")]
    pub data_type: String,
    #[serde(default = "default_true")]
    pub mutable: bool,
}

fn default_string_type() -> String {
    "String".to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServer {
    pub identifier: String,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<ResourceScope>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceScope {
    pub name: String,
    pub description: String,
}

/// An app client declared in the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct AppClient {
    pub name: String,
    pub output: Option<String>,
    pub generate_secret: bool,
    pub settings: ClientSettings,
}

/// Everything about an app client that Cognito lets an administrator set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub explicit_auth_flows: Vec<AuthFlow>,
    #[serde(default)]
    pub allowed_oauth_flows: Vec<OAuthFlow>,
    #[serde(default)]
    pub allowed_oauth_scopes: Vec<String>,
    #[serde(default)]
    pub allowed_oauth_flows_user_pool_client: bool,
    #[serde(default)]
    pub callback_urls: Vec<String>,
    #[serde(default)]
    pub logout_urls: Vec<String>,
    #[serde(default)]
    pub default_redirect_uri: Option<String>,
    #[serde(default)]
    pub supported_identity_providers: Vec<String>,
    /// `None`: every attribute is readable / writable.
    #[serde(default)]
    pub read_attributes: Option<Vec<String>>,
    #[serde(default)]
    pub write_attributes: Option<Vec<String>>,
    pub access_token_validity: Validity,
    pub id_token_validity: Validity,
    pub refresh_token_validity: Validity,
    pub prevent_user_existence_errors: PreventUserExistenceErrors,
    pub enable_token_revocation: bool,
    #[serde(default)]
    pub refresh_token_rotation: Option<RefreshTokenRotation>,
    /// Minutes a challenge `Session` stays valid (3..=15).
    pub auth_session_validity_minutes: u32,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            explicit_auth_flows: vec![
                AuthFlow::AllowRefreshTokenAuth,
                AuthFlow::AllowUserSrpAuth,
                AuthFlow::AllowCustomAuth,
            ],
            allowed_oauth_flows: Vec::new(),
            allowed_oauth_scopes: Vec::new(),
            allowed_oauth_flows_user_pool_client: false,
            callback_urls: Vec::new(),
            logout_urls: Vec::new(),
            default_redirect_uri: None,
            supported_identity_providers: Vec::new(),
            read_attributes: None,
            write_attributes: None,
            access_token_validity: Validity::new(60, TimeUnit::Minutes),
            id_token_validity: Validity::new(60, TimeUnit::Minutes),
            refresh_token_validity: Validity::new(30, TimeUnit::Days),
            prevent_user_existence_errors: PreventUserExistenceErrors::Legacy,
            enable_token_revocation: true,
            refresh_token_rotation: None,
            auth_session_validity_minutes: 3,
        }
    }
}

impl ClientSettings {
    pub fn allows(&self, flow: AuthFlow) -> bool {
        self.explicit_auth_flows.contains(&flow)
    }
}

/// Values of `ExplicitAuthFlows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthFlow {
    #[serde(rename = "ALLOW_USER_PASSWORD_AUTH")]
    AllowUserPasswordAuth,
    #[serde(rename = "ALLOW_ADMIN_USER_PASSWORD_AUTH")]
    AllowAdminUserPasswordAuth,
    #[serde(rename = "ALLOW_USER_SRP_AUTH")]
    AllowUserSrpAuth,
    #[serde(rename = "ALLOW_REFRESH_TOKEN_AUTH")]
    AllowRefreshTokenAuth,
    #[serde(rename = "ALLOW_CUSTOM_AUTH")]
    AllowCustomAuth,
    #[serde(rename = "ALLOW_USER_AUTH")]
    AllowUserAuth,
}

impl AuthFlow {
    pub const ALL: [AuthFlow; 6] = [
        AuthFlow::AllowUserPasswordAuth,
        AuthFlow::AllowAdminUserPasswordAuth,
        AuthFlow::AllowUserSrpAuth,
        AuthFlow::AllowRefreshTokenAuth,
        AuthFlow::AllowCustomAuth,
        AuthFlow::AllowUserAuth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthFlow::AllowUserPasswordAuth => "ALLOW_USER_PASSWORD_AUTH",
            AuthFlow::AllowAdminUserPasswordAuth => "ALLOW_ADMIN_USER_PASSWORD_AUTH",
            AuthFlow::AllowUserSrpAuth => "ALLOW_USER_SRP_AUTH",
            AuthFlow::AllowRefreshTokenAuth => "ALLOW_REFRESH_TOKEN_AUTH",
            AuthFlow::AllowCustomAuth => "ALLOW_CUSTOM_AUTH",
            AuthFlow::AllowUserAuth => "ALLOW_USER_AUTH",
        }
    }

    /// Parses a value as Cognito accepts it, including the legacy names.
    pub fn parse(value: &str) -> Option<AuthFlow> {
        Some(match value {
            "ALLOW_USER_PASSWORD_AUTH" | "USER_PASSWORD_AUTH" => AuthFlow::AllowUserPasswordAuth,
            "ALLOW_ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => {
                AuthFlow::AllowAdminUserPasswordAuth
            }
            "ALLOW_USER_SRP_AUTH" => AuthFlow::AllowUserSrpAuth,
            "ALLOW_REFRESH_TOKEN_AUTH" => AuthFlow::AllowRefreshTokenAuth,
            "ALLOW_CUSTOM_AUTH" | "CUSTOM_AUTH_FLOW_ONLY" => AuthFlow::AllowCustomAuth,
            "ALLOW_USER_AUTH" => AuthFlow::AllowUserAuth,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthFlow {
    Code,
    Implicit,
    ClientCredentials,
}

impl OAuthFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthFlow::Code => "code",
            OAuthFlow::Implicit => "implicit",
            OAuthFlow::ClientCredentials => "client_credentials",
        }
    }
    pub fn parse(value: &str) -> Option<OAuthFlow> {
        Some(match value {
            "code" => OAuthFlow::Code,
            "implicit" => OAuthFlow::Implicit,
            "client_credentials" => OAuthFlow::ClientCredentials,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PreventUserExistenceErrors {
    Legacy,
    Enabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenRotation {
    pub enabled: bool,
    pub retry_grace_period_seconds: u32,
}

/// A token lifetime as Cognito writes it: an amount and a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validity {
    pub amount: u64,
    pub unit: TimeUnit,
}

impl Validity {
    pub const fn new(amount: u64, unit: TimeUnit) -> Validity {
        Validity { amount, unit }
    }
    pub fn seconds(self) -> u64 {
        self.amount.saturating_mul(self.unit.seconds())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl TimeUnit {
    pub fn seconds(self) -> u64 {
        match self {
            TimeUnit::Seconds => 1,
            TimeUnit::Minutes => 60,
            TimeUnit::Hours => 3600,
            TimeUnit::Days => 86_400,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Minutes => "minutes",
            TimeUnit::Hours => "hours",
            TimeUnit::Days => "days",
        }
    }
    pub fn parse(value: &str) -> Option<TimeUnit> {
        Some(match value {
            "seconds" => TimeUnit::Seconds,
            "minutes" => TimeUnit::Minutes,
            "hours" => TimeUnit::Hours,
            "days" => TimeUnit::Days,
            _ => return None,
        })
    }
}
