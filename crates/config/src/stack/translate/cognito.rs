//! Cognito resources: pools, clients, domains, resource servers, groups, users.

use serde_json::{json, Map, Value};

use super::{as_bool, Props, Stackt};
use crate::stack::template::scalar_string;

impl Stackt<'_> {
    pub(super) fn user_pool(
        &mut self,
        logical: &str,
        p: &mut Props,
    ) -> Result<Option<String>, String> {
        let name = self.name(logical);
        let mut pool = json!({"name": name, "issuer": "aws"});
        let o = pool.as_object_mut().expect("object");
        if let Some(n) = p.string("UserPoolName") {
            o.insert("display_name".into(), json!(n));
        }
        if let Some(policies) = p.take("Policies") {
            let pp = policies.get("PasswordPolicy").cloned().unwrap_or(json!({}));
            let mut out = Map::new();
            for (k, key) in [
                ("MinimumLength", "minimum_length"),
                (
                    "TemporaryPasswordValidityDays",
                    "temporary_password_validity_days",
                ),
            ] {
                if let Some(n) = pp.get(k).and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                }) {
                    out.insert(key.into(), json!(n));
                }
            }
            for (k, key) in [
                ("RequireUppercase", "require_uppercase"),
                ("RequireLowercase", "require_lowercase"),
                ("RequireNumbers", "require_numbers"),
                ("RequireSymbols", "require_symbols"),
            ] {
                if let Some(b) = pp.get(k).and_then(as_bool) {
                    out.insert(key.into(), json!(b));
                }
            }
            for k in pp.as_object().into_iter().flat_map(|m| m.keys()) {
                if !matches!(
                    k.as_str(),
                    "MinimumLength"
                        | "TemporaryPasswordValidityDays"
                        | "RequireUppercase"
                        | "RequireLowercase"
                        | "RequireNumbers"
                        | "RequireSymbols"
                ) {
                    return Err(format!(
                        "property Policies.PasswordPolicy.{k} is not supported"
                    ));
                }
            }
            for k in policies.as_object().into_iter().flat_map(|m| m.keys()) {
                if k != "PasswordPolicy" {
                    return Err(format!("property Policies.{k} is not supported"));
                }
            }
            o.insert("password_policy".into(), Value::Object(out));
        }
        for (k, key) in [
            ("UsernameAttributes", "username_attributes"),
            ("AliasAttributes", "alias_attributes"),
            ("AutoVerifiedAttributes", "auto_verified_attributes"),
        ] {
            if let Some(v) = p.strings(k) {
                o.insert(key.into(), json!(v));
            }
        }
        if let Some(c) = p.take("AdminCreateUserConfig") {
            if let Some(b) = c.get("AllowAdminCreateUserOnly").and_then(as_bool) {
                o.insert("allow_admin_create_user_only".into(), json!(b));
            }
            for k in c.as_object().into_iter().flat_map(|m| m.keys()) {
                if !matches!(
                    k.as_str(),
                    "AllowAdminCreateUserOnly"
                        | "InviteMessageTemplate"
                        | "UnusedAccountValidityDays"
                ) {
                    return Err(format!(
                        "property AdminCreateUserConfig.{k} is not supported"
                    ));
                }
            }
        }
        if let Some(c) = p.take("UsernameConfiguration") {
            if let Some(b) = c.get("CaseSensitive").and_then(as_bool) {
                o.insert("username_case_sensitive".into(), json!(b));
            }
        }
        if let Some(schema) = p.take("Schema") {
            let mut required = Vec::new();
            let mut custom = Vec::new();
            for a in schema.as_array().into_iter().flatten() {
                let Some(n) = a.get("Name").and_then(Value::as_str) else {
                    return Err("every Schema attribute needs a Name".into());
                };
                let standard = n == "sub" || crate::rules::STANDARD_ATTRIBUTES.contains(&n);
                if standard {
                    if a.get("Required").and_then(as_bool) == Some(true) {
                        required.push(n.to_string());
                    }
                } else {
                    let data_type = a
                        .get("AttributeDataType")
                        .and_then(Value::as_str)
                        .unwrap_or("String");
                    let mutable = a.get("Mutable").and_then(as_bool).unwrap_or(true);
                    custom.push(json!({"name": n.trim_start_matches("custom:"), "data_type": data_type, "mutable": mutable}));
                }
            }
            o.insert("required_attributes".into(), json!(required));
            o.insert("custom_attributes".into(), json!(custom));
        }
        if let Some(m) = p.string("MfaConfiguration") {
            o.insert("mfa".into(), json!(m));
        }
        if let Some(d) = p.string("DeletionProtection") {
            o.insert("deletion_protection".into(), json!(d == "ACTIVE"));
        }
        if let Some(u) = p.take("UserAttributeUpdateSettings") {
            let list = u
                .get("AttributesRequireVerificationBeforeUpdate")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            o.insert(
                "attributes_require_verification_before_update".into(),
                Value::Array(list),
            );
        }
        if let Some(lc) = p.take("LambdaConfig") {
            o.insert("triggers".into(), self.triggers(&lc)?);
        }
        p.no_effect(&[
            "AccountRecoverySetting",
            "EmailConfiguration",
            "SmsConfiguration",
            "VerificationMessageTemplate",
            "EmailVerificationMessage",
            "EmailVerificationSubject",
            "SmsVerificationMessage",
            "SmsAuthenticationMessage",
            "EmailAuthenticationMessage",
            "EmailAuthenticationSubject",
            "UserPoolTags",
            "DeviceConfiguration",
            "UserPoolAddOns",
            "UserPoolTier",
            "EnabledMfas",
            "SmsConfiguration",
            "WebAuthnRelyingPartyID",
            "WebAuthnUserVerification",
        ]);
        self.pools.insert(logical.to_string(), self.b.pools.len());
        self.b.pools.push(pool);
        Ok(Some(format!("${{cognito}}/${{pool.{name}}}")))
    }

    /// LambdaConfig -> the config's triggers (function names of the stack).
    fn triggers(&self, lc: &Value) -> Result<Value, String> {
        let mut out = Map::new();
        for (k, v) in lc.as_object().into_iter().flatten() {
            let key = match k.as_str() {
                "PreSignUp" => "pre_sign_up",
                "CustomMessage" => "custom_message",
                "PostConfirmation" => "post_confirmation",
                "PreAuthentication" => "pre_authentication",
                "PostAuthentication" => "post_authentication",
                "DefineAuthChallenge" => "define_auth_challenge",
                "CreateAuthChallenge" => "create_auth_challenge",
                "VerifyAuthChallengeResponse" => "verify_auth_challenge_response",
                "UserMigration" => "user_migration",
                "PreTokenGeneration" => {
                    if lc.get("PreTokenGenerationConfig").is_some() {
                        continue;
                    }
                    "pre_token_generation"
                }
                "PreTokenGenerationConfig" => {
                    let arn = v
                        .get("LambdaArn")
                        .and_then(Value::as_str)
                        .ok_or("LambdaConfig.PreTokenGenerationConfig.LambdaArn is required")?;
                    let version = v
                        .get("LambdaVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("V1_0");
                    out.insert(
                        "pre_token_generation".into(),
                        json!({"function": self.function_of(arn)?, "version": version}),
                    );
                    continue;
                }
                other => return Err(format!("property LambdaConfig.{other} is not supported")),
            };
            if !matches!(
                key,
                "pre_sign_up" | "post_confirmation" | "pre_token_generation"
            ) {
                return Err(format!(
                    "property LambdaConfig.{k} is not supported yet (cognate runs PreSignUp, PostConfirmation and PreTokenGeneration)"
                ));
            }
            let arn = v
                .as_str()
                .ok_or_else(|| format!("LambdaConfig.{k} must be a function ARN"))?;
            out.insert(key.into(), json!(self.function_of(arn)?));
        }
        Ok(Value::Object(out))
    }

    pub(super) fn client(
        &mut self,
        logical: &str,
        p: &mut Props,
    ) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let mut c = Map::new();
        c.insert("name".into(), json!(logical));
        if let Some(b) = p.bool("GenerateSecret") {
            c.insert("generate_secret".into(), json!(b));
        }
        if let Some(f) = p.strings("ExplicitAuthFlows") {
            c.insert("explicit_auth_flows".into(), json!(f));
        }
        let oauth_on = p.bool("AllowedOAuthFlowsUserPoolClient").unwrap_or(false);
        let flows = p.strings("AllowedOAuthFlows").unwrap_or_default();
        let scopes = p.strings("AllowedOAuthScopes").unwrap_or_default();
        if oauth_on {
            c.insert("allowed_oauth_flows".into(), json!(flows));
            c.insert("allowed_oauth_scopes".into(), json!(scopes));
        } else if !flows.is_empty() {
            self.b.not_applied.push(format!(
                "{}/{logical}.AllowedOAuthFlows (AllowedOAuthFlowsUserPoolClient is false)",
                self.src.stack
            ));
        }
        for (k, key) in [
            ("CallbackURLs", "callback_urls"),
            ("LogoutURLs", "logout_urls"),
        ] {
            if let Some(v) = p.strings(k) {
                c.insert(key.into(), json!(v));
            }
        }
        if let Some(d) = p.string("DefaultRedirectURI") {
            c.insert("default_redirect_uri".into(), json!(d));
        }
        for (k, key) in [
            ("ReadAttributes", "read_attributes"),
            ("WriteAttributes", "write_attributes"),
        ] {
            if let Some(v) = p.strings(k) {
                c.insert(key.into(), json!(v));
            }
        }
        let units = p.take("TokenValidityUnits").unwrap_or(json!({}));
        for (k, unit_key, default_unit, key) in [
            (
                "AccessTokenValidity",
                "AccessToken",
                "hours",
                "access_token_validity",
            ),
            ("IdTokenValidity", "IdToken", "hours", "id_token_validity"),
            (
                "RefreshTokenValidity",
                "RefreshToken",
                "days",
                "refresh_token_validity",
            ),
        ] {
            if let Some(n) = p.number(k) {
                let unit = units
                    .get(unit_key)
                    .and_then(Value::as_str)
                    .unwrap_or(default_unit);
                let suffix = match unit {
                    "seconds" => "s",
                    "minutes" => "m",
                    "hours" => "h",
                    "days" => "d",
                    other => return Err(format!("TokenValidityUnits.{unit_key} '{other}' is not seconds, minutes, hours or days")),
                };
                c.insert(key.into(), json!(format!("{}{suffix}", n as u64)));
            }
        }
        if let Some(v) = p.string("PreventUserExistenceErrors") {
            c.insert("prevent_user_existence_errors".into(), json!(v));
        }
        if let Some(b) = p.bool("EnableTokenRevocation") {
            c.insert("enable_token_revocation".into(), json!(b));
        }
        if let Some(n) = p.number("AuthSessionValidity") {
            c.insert("auth_session_validity_minutes".into(), json!(n as u64));
        }
        if let Some(r) = p.take("RefreshTokenRotation") {
            let enabled = r.get("Feature").and_then(Value::as_str) == Some("ENABLED");
            let grace = r
                .get("RetryGracePeriodSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            c.insert(
                "refresh_token_rotation".into(),
                json!({"enabled": enabled, "retry_grace_period_seconds": grace}),
            );
        }
        if let Some(idps) = p.strings("SupportedIdentityProviders") {
            c.insert("supported_identity_providers".into(), json!(idps));
        }
        p.no_effect(&[
            "ClientName",
            "EnablePropagateAdditionalUserContextData",
            "AnalyticsConfiguration",
        ]);
        let pool_json = self.b.pools[pool].as_object_mut().expect("object");
        let clients = pool_json
            .entry("clients")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array");
        clients.push(Value::Object(c));
        Ok(None)
    }

    pub(super) fn domain(
        &mut self,
        _logical: &str,
        p: &mut Props,
    ) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let domain = p.string("Domain").ok_or("Domain is required")?;
        let mut d = Map::new();
        if p.take("CustomDomainConfig").is_some() || domain.contains('.') {
            let prefix: String = domain
                .split('.')
                .next()
                .unwrap_or("auth")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            d.insert("prefix".into(), json!(prefix.to_lowercase()));
            d.insert("custom_domains".into(), json!([domain]));
        } else {
            d.insert("prefix".into(), json!(domain));
        }
        p.no_effect(&["ManagedLoginVersion"]);
        let pool_json = self.b.pools[pool].as_object_mut().expect("object");
        if pool_json.contains_key("domain") {
            return Err("the pool already has a domain".into());
        }
        let pool_name = pool_json["name"].as_str().unwrap_or("").to_string();
        pool_json.insert("domain".into(), Value::Object(d));
        Ok(Some(format!("${{domain.{pool_name}}}")))
    }

    pub(super) fn resource_server(&mut self, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let identifier = p.string("Identifier").ok_or("Identifier is required")?;
        let name = p.string("Name").unwrap_or_else(|| identifier.clone());
        let scopes: Vec<Value> = p
            .take("Scopes")
            .and_then(|s| s.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|s| {
                json!({
                    "name": s.get("ScopeName").and_then(Value::as_str).unwrap_or(""),
                    "description": s.get("ScopeDescription").and_then(Value::as_str).unwrap_or(""),
                })
            })
            .collect();
        let pool_json = self.b.pools[pool].as_object_mut().expect("object");
        pool_json
            .entry("resource_servers")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!({"identifier": identifier, "name": name, "scopes": scopes}));
        Ok(None)
    }

    pub(super) fn pool_list(&mut self, pool: usize, key: &str) -> &mut Vec<Value> {
        self.b.pools[pool]
            .as_object_mut()
            .expect("object")
            .entry(key)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
    }

    pub(super) fn identity_provider(&mut self, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let name = p.string("ProviderName").ok_or("ProviderName is required")?;
        let kind = p.string("ProviderType").ok_or("ProviderType is required")?;
        let map = |v: Option<Value>| -> Result<Map<String, Value>, String> {
            let mut out = Map::new();
            for (k, v) in v.as_ref().and_then(Value::as_object).into_iter().flatten() {
                let s = scalar_string(v).ok_or_else(|| format!("{k} must be a string"))?;
                out.insert(k.clone(), json!(s));
            }
            Ok(out)
        };
        let details = map(p.take("ProviderDetails"))?;
        let mapping = map(p.take("AttributeMapping"))?;
        let ids = p.strings("IdpIdentifiers").unwrap_or_default();
        self.pool_list(pool, "identity_providers").push(json!({
            "name": name, "type": kind, "details": details,
            "attribute_mapping": mapping, "idp_identifiers": ids,
        }));
        Ok(None)
    }

    pub(super) fn group(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let name = p.string("GroupName").unwrap_or_else(|| self.name(logical));
        let mut g = json!({"name": name});
        if let Some(d) = p.string("Description") {
            g["description"] = json!(d);
        }
        if let Some(n) = p.number("Precedence") {
            g["precedence"] = json!(n as i64);
        }
        if let Some(r) = p.string("RoleArn") {
            g["role_arn"] = json!(r);
        }
        self.pool_list(pool, "groups").push(g);
        Ok(None)
    }

    pub(super) fn user(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let username = p
            .string("Username")
            .unwrap_or_else(|| self.name(logical).to_lowercase());
        let mut attributes = Map::new();
        for a in p
            .take("UserAttributes")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
        {
            let (Some(n), Some(v)) = (
                a.get("Name").and_then(Value::as_str),
                a.get("Value").and_then(scalar_string),
            ) else {
                return Err("every UserAttributes entry needs a Name and a Value".into());
            };
            attributes.insert(n.to_string(), json!(v));
        }
        let suppress = match p.string("MessageAction").as_deref() {
            None => false,
            Some("SUPPRESS") => true,
            Some(other) => return Err(format!("MessageAction {other} is not supported (SUPPRESS is; RESEND has no meaning at creation)")),
        };
        p.no_effect(&[
            "DesiredDeliveryMediums",
            "ForceAliasCreation",
            "ClientMetadata",
            "ValidationData",
        ]);
        self.pool_list(pool, "users").push(json!({
            "username": username, "attributes": attributes, "suppress_message": suppress,
        }));
        Ok(None)
    }

    pub(super) fn attachment(&mut self, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let group = p.string("GroupName").ok_or("GroupName is required")?;
        let username = p.string("Username").ok_or("Username is required")?;
        let users = self.pool_list(pool, "users");
        let Some(user) = users.iter_mut().find(|u| u["username"] == json!(username)) else {
            return Err(format!(
                "Username '{username}' is not an AWS::Cognito::UserPoolUser of this stack"
            ));
        };
        user.as_object_mut()
            .expect("object")
            .entry("groups")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!(group));
        Ok(None)
    }
}
