//! User pools (app clients are in clients.rs, resource servers in
//! resource_servers.rs).

use cognate_config::rules::{self};
use cognate_config::{
    CustomAttribute, LambdaConfig, MfaConfiguration, PasswordPolicy, PoolSettings,
};
use cognate_store::pools::Pool;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_pool_id, constraint, page_after, page_size, page_token};
use crate::bootstrap::new_pool_id;
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

impl Identity {
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
}
