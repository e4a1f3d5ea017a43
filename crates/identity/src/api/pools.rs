//! User pools, app clients and resource servers.

use cognate_config::rules::{self, ViolationKind};
use cognate_config::{
    AuthFlow, ClientSettings, CustomAttribute, LambdaConfig, MfaConfiguration, OAuthFlow,
    PasswordPolicy, PoolSettings, PreventUserExistenceErrors, RefreshTokenRotation, ResourceScope,
    TimeUnit, Validity,
};
use cognate_store::pools::{Client, Pool, ResourceServer};
use cognate_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{check_pool_id, constraint, page_after, page_size, page_token};
use crate::bootstrap::{new_client_id, new_client_secret, new_pool_id};
use crate::error::{CognitoError, Result};
use crate::users::{seconds, STANDARD_ATTRIBUTES};
use crate::{Identity, ACCOUNT_ID};

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct PasswordPolicyIn {
    minimum_length: Option<u32>,
    require_uppercase: Option<bool>,
    require_lowercase: Option<bool>,
    require_numbers: Option<bool>,
    require_symbols: Option<bool>,
    temporary_password_validity_days: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct PoliciesIn {
    password_policy: Option<PasswordPolicyIn>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct AdminCreateUserConfigIn {
    allow_admin_create_user_only: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct UsernameConfigurationIn {
    case_sensitive: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct UserAttributeUpdateSettingsIn {
    attributes_require_verification_before_update: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SchemaAttributeIn {
    name: String,
    attribute_data_type: Option<String>,
    mutable: Option<bool>,
    required: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AddCustomAttributesIn {
    user_pool_id: String,
    custom_attributes: Vec<SchemaAttributeIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateUserPoolIn {
    pool_name: String,
    #[serde(flatten)]
    settings: PoolSettingsIn,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct PoolSettingsIn {
    policies: Option<PoliciesIn>,
    username_attributes: Option<Vec<String>>,
    alias_attributes: Option<Vec<String>>,
    auto_verified_attributes: Option<Vec<String>>,
    mfa_configuration: Option<String>,
    admin_create_user_config: Option<AdminCreateUserConfigIn>,
    username_configuration: Option<UsernameConfigurationIn>,
    schema: Option<Vec<SchemaAttributeIn>>,
    deletion_protection: Option<String>,
    lambda_config: Option<Value>,
    user_attribute_update_settings: Option<UserAttributeUpdateSettingsIn>,
}

impl PoolSettingsIn {
    /// Applies the request onto `base`; members not sent keep `base`'s value
    /// on create, and are reset to defaults on update (as Cognito does).
    fn apply(self, base: PoolSettings) -> Result<PoolSettings> {
        let mut s = base;
        let default_pp = PasswordPolicy::default();
        if let Some(pp) = self.policies.and_then(|p| p.password_policy) {
            s.password_policy = PasswordPolicy {
                minimum_length: pp.minimum_length.unwrap_or(default_pp.minimum_length),
                require_uppercase: pp.require_uppercase.unwrap_or(false),
                require_lowercase: pp.require_lowercase.unwrap_or(false),
                require_numbers: pp.require_numbers.unwrap_or(false),
                require_symbols: pp.require_symbols.unwrap_or(false),
                temporary_password_validity_days: pp
                    .temporary_password_validity_days
                    .unwrap_or(default_pp.temporary_password_validity_days),
            };
        }
        if let Some(v) = self.username_attributes {
            s.username_attributes = v;
        }
        if let Some(v) = self.alias_attributes {
            s.alias_attributes = v;
        }
        if let Some(v) = self.auto_verified_attributes {
            s.auto_verified_attributes = v;
        }
        if let Some(m) = self.mfa_configuration {
            s.mfa = match m.as_str() {
                "OFF" => MfaConfiguration::Off,
                "ON" => MfaConfiguration::On,
                "OPTIONAL" => MfaConfiguration::Optional,
                _ => {
                    return Err(constraint(
                        "mfaConfiguration",
                        m,
                        "Member must satisfy enum value set: [OFF, ON, OPTIONAL]",
                    ))
                }
            };
        }
        if let Some(c) = self.admin_create_user_config {
            s.allow_admin_create_user_only = c.allow_admin_create_user_only.unwrap_or(false);
        }
        if let Some(u) = self.username_configuration {
            s.username_case_sensitive = u.case_sensitive.unwrap_or(true);
        }
        if let Some(schema) = self.schema {
            for a in schema {
                if let Some(custom) =
                    a.name
                        .strip_prefix("custom:")
                        .map(str::to_owned)
                        .or_else(|| {
                            (!STANDARD_ATTRIBUTES.contains(&a.name.as_str()))
                                .then(|| a.name.clone())
                        })
                {
                    if !s.custom_attributes.iter().any(|c| c.name == custom) {
                        s.custom_attributes.push(CustomAttribute {
                            name: custom,
                            data_type: a.attribute_data_type.unwrap_or_else(|| "String".into()),
                            mutable: a.mutable.unwrap_or(true),
                        });
                    }
                } else if a.required == Some(true) && !s.required_attributes.contains(&a.name) {
                    s.required_attributes.push(a.name);
                }
            }
        }
        if let Some(d) = self.deletion_protection {
            s.deletion_protection = d == "ACTIVE";
        }
        s.attributes_require_verification_before_update = self
            .user_attribute_update_settings
            .map(|u| u.attributes_require_verification_before_update)
            .unwrap_or_default();
        s.lambda_config = match self.lambda_config {
            None => LambdaConfig::default(),
            Some(v) => lambda_config(v)?,
        };
        let violations = rules::check_pool(&s);
        if let Some(v) = violations.into_iter().next() {
            return Err(CognitoError::invalid_parameter(v.message));
        }
        Ok(s)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PoolIdIn {
    user_pool_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListUserPoolsIn {
    max_results: i64,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateUserPoolIn {
    user_pool_id: String,
    #[serde(flatten)]
    settings: PoolSettingsIn,
}

/// LambdaConfig as CreateUserPool/UpdateUserPool take it. A trigger this
/// server cannot run (CustomSMSSender, CustomEmailSender, KMSKeyID) is
/// refused, never kept without effect. `PreTokenGeneration` and
/// `PreTokenGenerationConfig.LambdaArn` name the same function.
fn lambda_config(v: Value) -> Result<LambdaConfig> {
    if let Some(k) = v.as_object().and_then(|m| {
        m.keys().find(|k| {
            matches!(
                k.as_str(),
                "CustomSMSSender" | "CustomEmailSender" | "KMSKeyID"
            )
        })
    }) {
        return Err(CognitoError::invalid_parameter(format!(
            "LambdaConfig.{k} is not supported by this server."
        )));
    }
    let mut c: LambdaConfig = serde_json::from_value(v)
        .map_err(|e| CognitoError::invalid_parameter(format!("LambdaConfig: {e}")))?;
    match (&c.pre_token_generation, &mut c.pre_token_generation_config) {
        (Some(a), Some(cfg)) if *a != cfg.lambda_arn => {
            return Err(CognitoError::invalid_parameter(
                "PreTokenGeneration and PreTokenGenerationConfig.LambdaArn must be the same function.",
            ))
        }
        (None, Some(cfg)) => c.pre_token_generation = Some(cfg.lambda_arn.clone()),
        _ => {}
    }
    if let Some(cfg) = &c.pre_token_generation_config {
        if !matches!(cfg.lambda_version.as_str(), "V1_0" | "V2_0" | "V3_0") {
            return Err(constraint(
                "lambdaConfig.preTokenGenerationConfig.lambdaVersion",
                &cfg.lambda_version,
                "Member must satisfy enum value set: [V1_0, V2_0, V3_0]",
            ));
        }
    }
    Ok(c)
}

impl Identity {
    /// Every trigger must name a function this server runs.
    fn check_functions(&self, c: &LambdaConfig) -> Result<()> {
        match self.unknown_functions(c).first() {
            None => Ok(()),
            Some(arn) => Err(CognitoError::invalid_parameter(format!(
                "The Lambda function {arn} does not exist (cognate runs only the functions of its configuration)."
            ))),
        }
    }
}

fn pool_json(pool: &Pool, region: &str, users: i64) -> Value {
    let s = &pool.settings;
    let pp = &s.password_policy;
    let mut schema: Vec<Value> = STANDARD_ATTRIBUTES
        .iter()
        .map(|name| {
            json!({
                "Name": name,
                "AttributeDataType": match *name {
                    "email_verified" | "phone_number_verified" => "Boolean",
                    "updated_at" => "Number",
                    _ => "String",
                },
                "DeveloperOnlyAttribute": false,
                "Mutable": true,
                "Required": s.required_attributes.iter().any(|r| r == name),
            })
        })
        .collect();
    schema.insert(
        0,
        json!({"Name": "sub", "AttributeDataType": "String", "DeveloperOnlyAttribute": false, "Mutable": false, "Required": true}),
    );
    for c in &s.custom_attributes {
        schema.push(json!({
            "Name": format!("custom:{}", c.name),
            "AttributeDataType": c.data_type,
            "DeveloperOnlyAttribute": false,
            "Mutable": c.mutable,
            "Required": false,
        }));
    }
    let mut out = json!({
        "Id": pool.id,
        "Name": pool.name,
        "Arn": format!("arn:aws:cognito-idp:{region}:{ACCOUNT_ID}:userpool/{}", pool.id),
        "Policies": {"PasswordPolicy": {
            "MinimumLength": pp.minimum_length,
            "RequireUppercase": pp.require_uppercase,
            "RequireLowercase": pp.require_lowercase,
            "RequireNumbers": pp.require_numbers,
            "RequireSymbols": pp.require_symbols,
            "TemporaryPasswordValidityDays": pp.temporary_password_validity_days,
        }},
        "DeletionProtection": if s.deletion_protection { "ACTIVE" } else { "INACTIVE" },
        "LambdaConfig": s.lambda_config,
        "SchemaAttributes": schema,
        "AutoVerifiedAttributes": s.auto_verified_attributes,
        "MfaConfiguration": match s.mfa { MfaConfiguration::Off => "OFF", MfaConfiguration::On => "ON", MfaConfiguration::Optional => "OPTIONAL" },
        "EstimatedNumberOfUsers": users,
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": s.allow_admin_create_user_only},
        "UsernameConfiguration": {"CaseSensitive": s.username_case_sensitive},
        "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": s.attributes_require_verification_before_update},
        "CreationDate": seconds(pool.created_ms),
        "LastModifiedDate": seconds(pool.updated_ms),
        "VerificationMessageTemplate": {"DefaultEmailOption": "CONFIRM_WITH_CODE"},
        "AccountRecoverySetting": {"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
    });
    let o = out.as_object_mut().expect("object");
    if !s.username_attributes.is_empty() {
        o.insert("UsernameAttributes".into(), json!(s.username_attributes));
    }
    if !s.alias_attributes.is_empty() {
        o.insert("AliasAttributes".into(), json!(s.alias_attributes));
    }
    if let Some(d) = &pool.domain {
        o.insert("Domain".into(), json!(d));
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TokenValidityUnitsIn {
    access_token: Option<String>,
    id_token: Option<String>,
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RotationIn {
    feature: String,
    retry_grace_period_seconds: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ClientSettingsIn {
    refresh_token_validity: Option<u64>,
    access_token_validity: Option<u64>,
    id_token_validity: Option<u64>,
    token_validity_units: Option<TokenValidityUnitsIn>,
    read_attributes: Option<Vec<String>>,
    write_attributes: Option<Vec<String>>,
    explicit_auth_flows: Option<Vec<String>>,
    supported_identity_providers: Option<Vec<String>>,
    #[serde(rename = "CallbackURLs")]
    callback_urls: Option<Vec<String>>,
    #[serde(rename = "LogoutURLs")]
    logout_urls: Option<Vec<String>>,
    #[serde(rename = "DefaultRedirectURI")]
    default_redirect_uri: Option<String>,
    allowed_o_auth_flows: Option<Vec<String>>,
    allowed_o_auth_scopes: Option<Vec<String>>,
    allowed_o_auth_flows_user_pool_client: Option<bool>,
    prevent_user_existence_errors: Option<String>,
    enable_token_revocation: Option<bool>,
    auth_session_validity: Option<u32>,
    refresh_token_rotation: Option<RotationIn>,
}

impl ClientSettingsIn {
    /// Settings from a Create/UpdateUserPoolClient request: members not sent
    /// take their defaults (update replaces the whole client, as Cognito's does).
    fn into_settings(self) -> Result<ClientSettings> {
        let d = ClientSettings::default();
        let unit = |raw: Option<&String>, default: TimeUnit, field: &str| -> Result<TimeUnit> {
            match raw {
                None => Ok(default),
                Some(u) => TimeUnit::parse(u).ok_or_else(|| {
                    constraint(
                        field,
                        u,
                        "Member must satisfy enum value set: [seconds, minutes, hours, days]",
                    )
                }),
            }
        };
        let units = self.token_validity_units.as_ref();
        let access_unit = unit(
            units.and_then(|u| u.access_token.as_ref()),
            TimeUnit::Hours,
            "tokenValidityUnits.accessToken",
        )?;
        let id_unit = unit(
            units.and_then(|u| u.id_token.as_ref()),
            TimeUnit::Hours,
            "tokenValidityUnits.idToken",
        )?;
        let refresh_unit = unit(
            units.and_then(|u| u.refresh_token.as_ref()),
            TimeUnit::Days,
            "tokenValidityUnits.refreshToken",
        )?;
        let validity = |amount: Option<u64>, unit: TimeUnit, default: Validity| match amount {
            None | Some(0) => default,
            Some(a) => Validity::new(a, unit),
        };
        let mut flows = Vec::new();
        match self.explicit_auth_flows {
            None => flows = d.explicit_auth_flows.clone(),
            Some(list) => {
                for f in list {
                    let parsed = AuthFlow::parse(&f).ok_or_else(|| {
                        constraint(
                            "explicitAuthFlows",
                            &f,
                            "Member must satisfy enum value set",
                        )
                    })?;
                    if !flows.contains(&parsed) {
                        flows.push(parsed);
                    }
                }
            }
        }
        let mut oauth = Vec::new();
        for f in self.allowed_o_auth_flows.unwrap_or_default() {
            oauth.push(OAuthFlow::parse(&f).ok_or_else(|| {
                constraint(
                    "allowedOAuthFlows",
                    &f,
                    "Member must satisfy enum value set: [implicit, client_credentials, code]",
                )
            })?);
        }
        let prevent = match self.prevent_user_existence_errors.as_deref() {
            None | Some("LEGACY") => PreventUserExistenceErrors::Legacy,
            Some("ENABLED") => PreventUserExistenceErrors::Enabled,
            Some(other) => {
                return Err(constraint(
                    "preventUserExistenceErrors",
                    other,
                    "Member must satisfy enum value set: [LEGACY, ENABLED]",
                ))
            }
        };
        let rotation = match self.refresh_token_rotation {
            None => None,
            Some(r) => Some(RefreshTokenRotation {
                enabled: match r.feature.as_str() {
                    "ENABLED" => true,
                    "DISABLED" => false,
                    other => {
                        return Err(constraint(
                            "refreshTokenRotation.feature",
                            other,
                            "Member must satisfy enum value set: [ENABLED, DISABLED]",
                        ))
                    }
                },
                retry_grace_period_seconds: r.retry_grace_period_seconds.unwrap_or(0),
            }),
        };
        Ok(ClientSettings {
            explicit_auth_flows: flows,
            allowed_oauth_flows: oauth,
            allowed_oauth_scopes: self.allowed_o_auth_scopes.unwrap_or_default(),
            allowed_oauth_flows_user_pool_client: self
                .allowed_o_auth_flows_user_pool_client
                .unwrap_or(false),
            callback_urls: self.callback_urls.unwrap_or_default(),
            logout_urls: self.logout_urls.unwrap_or_default(),
            default_redirect_uri: self.default_redirect_uri,
            supported_identity_providers: self.supported_identity_providers.unwrap_or_default(),
            read_attributes: self.read_attributes,
            write_attributes: self.write_attributes,
            access_token_validity: validity(
                self.access_token_validity,
                access_unit,
                d.access_token_validity,
            ),
            id_token_validity: validity(self.id_token_validity, id_unit, d.id_token_validity),
            refresh_token_validity: validity(
                self.refresh_token_validity,
                refresh_unit,
                d.refresh_token_validity,
            ),
            prevent_user_existence_errors: prevent,
            enable_token_revocation: self.enable_token_revocation.unwrap_or(true),
            refresh_token_rotation: rotation,
            auth_session_validity_minutes: self.auth_session_validity.unwrap_or(3),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateClientIn {
    user_pool_id: String,
    client_name: String,
    #[serde(default)]
    generate_secret: bool,
    client_secret: Option<String>,
    #[serde(flatten)]
    settings: ClientSettingsIn,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ClientRefIn {
    user_pool_id: String,
    client_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateClientIn {
    user_pool_id: String,
    client_id: String,
    client_name: Option<String>,
    #[serde(flatten)]
    settings: ClientSettingsIn,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListIn {
    user_pool_id: String,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn client_json(c: &Client) -> Value {
    let s = &c.settings;
    let mut out = Map::new();
    out.insert("UserPoolId".into(), json!(c.pool_id));
    out.insert("ClientName".into(), json!(c.name));
    out.insert("ClientId".into(), json!(c.id));
    if let Some(secret) = &c.secret {
        out.insert("ClientSecret".into(), json!(secret));
    }
    out.insert("LastModifiedDate".into(), seconds(c.updated_ms));
    out.insert("CreationDate".into(), seconds(c.created_ms));
    out.insert(
        "RefreshTokenValidity".into(),
        json!(s.refresh_token_validity.amount),
    );
    out.insert(
        "AccessTokenValidity".into(),
        json!(s.access_token_validity.amount),
    );
    out.insert("IdTokenValidity".into(), json!(s.id_token_validity.amount));
    out.insert(
        "TokenValidityUnits".into(),
        json!({
            "AccessToken": s.access_token_validity.unit.as_str(),
            "IdToken": s.id_token_validity.unit.as_str(),
            "RefreshToken": s.refresh_token_validity.unit.as_str(),
        }),
    );
    if let Some(r) = &s.read_attributes {
        out.insert("ReadAttributes".into(), json!(r));
    }
    if let Some(w) = &s.write_attributes {
        out.insert("WriteAttributes".into(), json!(w));
    }
    out.insert(
        "ExplicitAuthFlows".into(),
        json!(s
            .explicit_auth_flows
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()),
    );
    if !s.supported_identity_providers.is_empty() {
        out.insert(
            "SupportedIdentityProviders".into(),
            json!(s.supported_identity_providers),
        );
    }
    if !s.callback_urls.is_empty() {
        out.insert("CallbackURLs".into(), json!(s.callback_urls));
    }
    if !s.logout_urls.is_empty() {
        out.insert("LogoutURLs".into(), json!(s.logout_urls));
    }
    if let Some(d) = &s.default_redirect_uri {
        out.insert("DefaultRedirectURI".into(), json!(d));
    }
    if !s.allowed_oauth_flows.is_empty() {
        out.insert(
            "AllowedOAuthFlows".into(),
            json!(s
                .allowed_oauth_flows
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()),
        );
    }
    if !s.allowed_oauth_scopes.is_empty() {
        out.insert("AllowedOAuthScopes".into(), json!(s.allowed_oauth_scopes));
    }
    out.insert(
        "AllowedOAuthFlowsUserPoolClient".into(),
        json!(s.allowed_oauth_flows_user_pool_client),
    );
    out.insert(
        "PreventUserExistenceErrors".into(),
        json!(match s.prevent_user_existence_errors {
            PreventUserExistenceErrors::Legacy => "LEGACY",
            PreventUserExistenceErrors::Enabled => "ENABLED",
        }),
    );
    out.insert(
        "EnableTokenRevocation".into(),
        json!(s.enable_token_revocation),
    );
    out.insert(
        "EnablePropagateAdditionalUserContextData".into(),
        json!(false),
    );
    out.insert(
        "AuthSessionValidity".into(),
        json!(s.auth_session_validity_minutes),
    );
    if let Some(r) = s.refresh_token_rotation {
        out.insert(
            "RefreshTokenRotation".into(),
            json!({"Feature": if r.enabled { "ENABLED" } else { "DISABLED" }, "RetryGracePeriodSeconds": r.retry_grace_period_seconds}),
        );
    }
    Value::Object(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ScopeIn {
    scope_name: String,
    scope_description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ResourceServerIn {
    user_pool_id: String,
    identifier: String,
    name: String,
    #[serde(default)]
    scopes: Vec<ScopeIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ResourceServerRefIn {
    user_pool_id: String,
    identifier: String,
}

fn resource_server_json(rs: &ResourceServer) -> Value {
    json!({
        "UserPoolId": rs.pool_id,
        "Identifier": rs.identifier,
        "Name": rs.name,
        "Scopes": rs.scopes.iter().map(|s| json!({"ScopeName": s.name, "ScopeDescription": s.description})).collect::<Vec<_>>(),
    })
}

fn scopes_from(input: Vec<ScopeIn>) -> Result<Vec<ResourceScope>> {
    let mut out: Vec<ResourceScope> = Vec::new();
    for s in input {
        if s.scope_name.is_empty() || s.scope_name.len() > 256 || s.scope_name.contains(['/', ' '])
        {
            return Err(constraint("scopes.member.scopeName", &s.scope_name, "Member must satisfy regular expression pattern: [\\x21\\x23-\\x2E\\x30-\\x5B\\x5D-\\x7E]+"));
        }
        if out.iter().any(|o| o.name == s.scope_name) {
            return Err(CognitoError::invalid_parameter(format!(
                "Duplicate scope {}",
                s.scope_name
            )));
        }
        out.push(ResourceScope {
            name: s.scope_name,
            description: s.scope_description,
        });
    }
    Ok(out)
}

impl Identity {
    /// The custom scopes (`identifier/scope`) a pool's resource servers define.
    pub(crate) async fn custom_scopes(&self, pool_id: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .list_resource_servers(pool_id, after.as_deref(), 100)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.identifier.clone());
            for rs in &page {
                out.extend(
                    rs.scopes
                        .iter()
                        .map(|s| format!("{}/{}", rs.identifier, s.name)),
                );
            }
        }
        Ok(out)
    }

    async fn check_client_settings(
        &self,
        pool_id: &str,
        s: &ClientSettings,
        has_secret: bool,
    ) -> Result<()> {
        let scopes = self.custom_scopes(pool_id).await?;
        if let Some(v) = rules::check_client(s, has_secret, &scopes)
            .into_iter()
            .next()
        {
            return Err(match v.kind {
                ViolationKind::InvalidOAuthFlow => CognitoError::invalid_oauth_flow(v.message),
                ViolationKind::ScopeDoesNotExist => CognitoError::scope_does_not_exist(v.message),
                ViolationKind::InvalidParameter => CognitoError::invalid_parameter(v.message),
            });
        }
        if !s.allowed_oauth_flows.is_empty() && !s.allowed_oauth_flows_user_pool_client {
            return Err(CognitoError::invalid_parameter(
                "AllowedOAuthFlowsUserPoolClient must be true to use OAuth flows.",
            ));
        }
        // Every provider a client names must be COGNITO or one of the pool's.
        for name in &s.supported_identity_providers {
            if name != "COGNITO" && self.store.provider(pool_id, name).await?.is_none() {
                return Err(CognitoError::invalid_parameter(format!(
                    "The provider {name} does not exist for User Pool {pool_id}"
                )));
            }
        }
        Ok(())
    }

    pub(crate) async fn create_user_pool(&self, i: CreateUserPoolIn, now: i64) -> Result<Value> {
        if i.pool_name.is_empty() || i.pool_name.len() > 128 {
            return Err(constraint(
                "poolName",
                &i.pool_name,
                "Member must have length between 1 and 128",
            ));
        }
        // A pool created through the API gets Cognito's defaults.
        let settings = i.settings.apply(PoolSettings::default())?;
        self.check_functions(&settings.lambda_config)?;
        let pool = Pool {
            id: new_pool_id(&self.region),
            name: i.pool_name,
            config_key: None,
            settings,
            domain: None,
            created_ms: now,
            updated_ms: now,
        };
        self.store.insert_pool(&pool).await?;
        self.keys(&pool.id, now).await?;
        Ok(json!({"UserPool": pool_json(&pool, &self.region, 0)}))
    }

    pub(crate) async fn describe_user_pool(&self, i: PoolIdIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        let users = self.store.count_users(&pool.id).await?;
        Ok(json!({"UserPool": pool_json(&pool, &self.region, users)}))
    }

    pub(crate) async fn list_user_pools(&self, i: ListUserPoolsIn) -> Result<Value> {
        let limit = page_size(Some(i.max_results), "maxResults", 60)?;
        let after = page_after(i.next_token.as_deref())?;
        let pools = self.store.list_pools(after.as_deref(), limit).await?;
        let items: Vec<Value> = pools
            .iter()
            .map(|p| json!({"Id": p.id, "Name": p.name, "LambdaConfig": p.settings.lambda_config, "LastModifiedDate": seconds(p.updated_ms), "CreationDate": seconds(p.created_ms)}))
            .collect();
        let mut out = json!({"UserPools": items});
        if pools.len() as i64 == limit {
            out["NextToken"] = json!(page_token(&pools.last().expect("non-empty").id));
        }
        Ok(out)
    }

    pub(crate) async fn update_user_pool(&self, i: UpdateUserPoolIn, now: i64) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let mut pool = self.pool_or_error(&i.user_pool_id).await?;
        // Sign-in attributes cannot change after creation.
        let keep = (
            pool.settings.username_attributes.clone(),
            pool.settings.alias_attributes.clone(),
            pool.settings.username_case_sensitive,
            pool.settings.custom_attributes.clone(),
            pool.settings.required_attributes.clone(),
            pool.settings.issuer,
        );
        let base = PoolSettings {
            issuer: keep.5,
            ..PoolSettings::default()
        };
        let mut settings = i.settings.apply(base)?;
        (
            settings.username_attributes,
            settings.alias_attributes,
            settings.username_case_sensitive,
            settings.custom_attributes,
            settings.required_attributes,
        ) = (keep.0, keep.1, keep.2, keep.3, keep.4);
        self.check_functions(&settings.lambda_config)?;
        pool.settings = settings;
        pool.updated_ms = now;
        self.store.update_pool(&pool).await?;
        Ok(json!({}))
    }

    /// AddCustomAttributes: new `custom:` attributes (never changed or
    /// removed once added, as Cognito's; 50 at most).
    pub(crate) async fn add_custom_attributes(
        &self,
        i: AddCustomAttributesIn,
        now: i64,
    ) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let mut pool = self.pool_or_error(&i.user_pool_id).await?;
        if i.custom_attributes.is_empty() {
            return Err(constraint(
                "customAttributes",
                "[]",
                "Member must have length greater than or equal to 1",
            ));
        }
        for a in i.custom_attributes {
            let name = a
                .name
                .strip_prefix("custom:")
                .unwrap_or(&a.name)
                .to_string();
            if name.is_empty() || name.len() > 20 {
                return Err(CognitoError::invalid_parameter(format!(
                    "custom:{name}: a custom attribute name is 1 to 20 characters"
                )));
            }
            if pool
                .settings
                .custom_attributes
                .iter()
                .any(|c| c.name == name)
            {
                return Err(CognitoError::invalid_parameter(format!(
                    "Existing attribute already has name custom:{name}."
                )));
            }
            let data_type = a.attribute_data_type.unwrap_or_else(|| "String".into());
            if !matches!(
                data_type.as_str(),
                "String" | "Number" | "DateTime" | "Boolean"
            ) {
                return Err(CognitoError::invalid_parameter(format!(
                    "custom:{name}: AttributeDataType {data_type} is not String, Number, DateTime or Boolean"
                )));
            }
            pool.settings.custom_attributes.push(CustomAttribute {
                name,
                data_type,
                mutable: a.mutable.unwrap_or(true),
            });
        }
        if pool.settings.custom_attributes.len() > 50 {
            return Err(CognitoError::limit_exceeded(
                "A user pool has at most 50 custom attributes.",
            ));
        }
        pool.updated_ms = now;
        self.store.update_pool(&pool).await?;
        Ok(json!({}))
    }

    pub(crate) async fn delete_user_pool(&self, i: PoolIdIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        if pool.settings.deletion_protection {
            return Err(CognitoError::invalid_parameter(
                "The user pool cannot be deleted because deletion protection is activated.",
            ));
        }
        self.store.delete_pool(&pool.id).await?;
        self.keys.write().expect("key cache lock").remove(&pool.id);
        Ok(json!({}))
    }

    pub(crate) async fn create_user_pool_client(
        &self,
        i: CreateClientIn,
        now: i64,
    ) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        if i.client_name.is_empty() || i.client_name.len() > 128 {
            return Err(constraint(
                "clientName",
                &i.client_name,
                "Member must have length between 1 and 128",
            ));
        }
        let secret = match i.client_secret {
            Some(s)
                if (24..=64).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'_') =>
            {
                Some(s)
            }
            Some(s) => {
                return Err(constraint(
                    "clientSecret",
                    "***",
                    &format!("Member must have length between 24 and 64, got {}", s.len()),
                ))
            }
            None => i.generate_secret.then(new_client_secret),
        };
        let settings = i.settings.into_settings()?;
        self.check_client_settings(&pool.id, &settings, secret.is_some())
            .await?;
        let client = Client {
            id: new_client_id(),
            pool_id: pool.id,
            name: i.client_name,
            secret,
            config_key: None,
            settings,
            created_ms: now,
            updated_ms: now,
        };
        self.store.insert_client(&client).await?;
        Ok(json!({"UserPoolClient": client_json(&client)}))
    }

    pub(crate) async fn client_of_pool(&self, pool_id: &str, client_id: &str) -> Result<Client> {
        check_pool_id(pool_id)?;
        self.pool_or_error(pool_id).await?;
        match self.store.client(client_id).await? {
            Some(c) if c.pool_id == pool_id => Ok(c),
            _ => Err(CognitoError::client_not_found(client_id)),
        }
    }

    pub(crate) async fn describe_user_pool_client(&self, i: ClientRefIn) -> Result<Value> {
        let c = self.client_of_pool(&i.user_pool_id, &i.client_id).await?;
        Ok(json!({"UserPoolClient": client_json(&c)}))
    }

    pub(crate) async fn list_user_pool_clients(&self, i: ListIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        let limit = page_size(i.max_results, "maxResults", 60)?;
        let after = page_after(i.next_token.as_deref())?;
        let clients = self
            .store
            .list_clients(&i.user_pool_id, after.as_deref(), limit)
            .await?;
        let items: Vec<Value> = clients
            .iter()
            .map(|c| json!({"ClientId": c.id, "UserPoolId": c.pool_id, "ClientName": c.name}))
            .collect();
        let mut out = json!({"UserPoolClients": items});
        if clients.len() as i64 == limit {
            out["NextToken"] = json!(page_token(&clients.last().expect("non-empty").id));
        }
        Ok(out)
    }

    pub(crate) async fn update_user_pool_client(
        &self,
        i: UpdateClientIn,
        now: i64,
    ) -> Result<Value> {
        let mut c = self.client_of_pool(&i.user_pool_id, &i.client_id).await?;
        let settings = i.settings.into_settings()?;
        self.check_client_settings(&c.pool_id, &settings, c.secret.is_some())
            .await?;
        if let Some(name) = i.client_name {
            c.name = name;
        }
        c.settings = settings;
        c.updated_ms = now;
        self.store.update_client(&c).await?;
        Ok(json!({"UserPoolClient": client_json(&c)}))
    }

    pub(crate) async fn delete_user_pool_client(&self, i: ClientRefIn) -> Result<Value> {
        let c = self.client_of_pool(&i.user_pool_id, &i.client_id).await?;
        self.store.delete_client(&c.pool_id, &c.id).await?;
        Ok(json!({}))
    }

    pub(crate) async fn create_resource_server(&self, i: ResourceServerIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        if i.identifier.is_empty() || i.identifier.len() > 256 {
            return Err(constraint(
                "identifier",
                &i.identifier,
                "Member must have length between 1 and 256",
            ));
        }
        let rs = ResourceServer {
            pool_id: i.user_pool_id,
            identifier: i.identifier,
            name: i.name,
            scopes: scopes_from(i.scopes)?,
        };
        self.store
            .insert_resource_server(&rs)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => CognitoError::invalid_parameter(format!(
                    "{} already exists in user pool {}.",
                    rs.identifier, rs.pool_id
                )),
                other => other.into(),
            })?;
        Ok(json!({"ResourceServer": resource_server_json(&rs)}))
    }

    async fn resource_server_or_error(
        &self,
        pool_id: &str,
        identifier: &str,
    ) -> Result<ResourceServer> {
        check_pool_id(pool_id)?;
        self.pool_or_error(pool_id).await?;
        self.store
            .resource_server(pool_id, identifier)
            .await?
            .ok_or_else(|| {
                CognitoError::resource_not_found(format!(
                    "Resource server {identifier} does not exist."
                ))
            })
    }

    pub(crate) async fn describe_resource_server(&self, i: ResourceServerRefIn) -> Result<Value> {
        let rs = self
            .resource_server_or_error(&i.user_pool_id, &i.identifier)
            .await?;
        Ok(json!({"ResourceServer": resource_server_json(&rs)}))
    }

    pub(crate) async fn list_resource_servers(&self, i: ListIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        let limit = page_size(i.max_results, "maxResults", 50)?;
        let after = page_after(i.next_token.as_deref())?;
        let list = self
            .store
            .list_resource_servers(&i.user_pool_id, after.as_deref(), limit)
            .await?;
        let mut out =
            json!({"ResourceServers": list.iter().map(resource_server_json).collect::<Vec<_>>()});
        if list.len() as i64 == limit {
            out["NextToken"] = json!(page_token(&list.last().expect("non-empty").identifier));
        }
        Ok(out)
    }

    pub(crate) async fn update_resource_server(&self, i: ResourceServerIn) -> Result<Value> {
        let mut rs = self
            .resource_server_or_error(&i.user_pool_id, &i.identifier)
            .await?;
        rs.name = i.name;
        rs.scopes = scopes_from(i.scopes)?;
        self.store.update_resource_server(&rs).await?;
        Ok(json!({"ResourceServer": resource_server_json(&rs)}))
    }

    pub(crate) async fn delete_resource_server(&self, i: ResourceServerRefIn) -> Result<Value> {
        let rs = self
            .resource_server_or_error(&i.user_pool_id, &i.identifier)
            .await?;
        self.store
            .delete_resource_server(&rs.pool_id, &rs.identifier)
            .await?;
        Ok(json!({}))
    }
}
