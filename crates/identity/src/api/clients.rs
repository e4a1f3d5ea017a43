//! App clients: CreateUserPoolClient and the rest, and the client settings
//! they read (validity units, rotation, flows, scopes, URLs).

use cognate_config::rules::{self, ViolationKind};
use cognate_config::{
    AuthFlow, ClientSettings, OAuthFlow, PreventUserExistenceErrors, RefreshTokenRotation,
    TimeUnit, Validity,
};
use cognate_store::pools::Client;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{check_pool_id, constraint, page_after, page_size, page_token};
use crate::bootstrap::{new_client_id, new_client_secret};
use crate::error::{CognitoError, Result};
use crate::users::seconds;
use crate::Identity;

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
    pub(crate) user_pool_id: String,
    pub(crate) max_results: Option<i64>,
    pub(crate) next_token: Option<String>,
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
}
