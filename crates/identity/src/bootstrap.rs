//! Applying the config file to the store at start.
//!
//! The config declares pools, resource servers and app clients by name; the
//! store keeps them under that name (`config_key`) with ids and secrets
//! generated on first start, so they are stable across restarts of the
//! same data. On each start the declared settings are written again (the
//! file is the source of truth for what it declares); ids, secrets, users
//! and anything created through the API are left as they are.

use std::collections::BTreeMap;

use cognate_config::{AdminCredentials, Config};
use cognate_store::pools::{Client, Pool, ResourceServer};
use cognate_store::{Store, StoreError};

use crate::error::{CognitoError, Result};
use crate::{crypto, Identity};

/// What applying the config produced.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Deployment-style outputs: `UserPoolId`, `UserPoolClientId`, ...
    pub outputs: BTreeMap<String, String>,
    /// Config pool name -> pool id.
    pub pool_ids: BTreeMap<String, String>,
}

pub fn new_pool_id(region: &str) -> String {
    format!("{region}_{}", crypto::random_string(crypto::ALNUM, 9))
}

pub fn new_client_id() -> String {
    crypto::random_string(crypto::LOWER_ALNUM, 26)
}

pub fn new_client_secret() -> String {
    crypto::random_string(crypto::LOWER_ALNUM, 51)
}

/// The admin credentials: the config's, or generated once and kept in the
/// store.
pub async fn admin_credentials(
    store: &Store,
    config: &Config,
) -> std::result::Result<AdminCredentials, StoreError> {
    if let Some(a) = &config.admin {
        return Ok(a.clone());
    }
    let key_id = format!(
        "AKIA{}",
        crypto::random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    );
    let secret = crypto::random_string(crypto::ALNUM, 40);
    let key_id = store
        .meta_get_or_insert("admin.access_key_id", &key_id)
        .await?;
    let secret = store
        .meta_get_or_insert("admin.secret_access_key", &secret)
        .await?;
    Ok(AdminCredentials {
        access_key_id: key_id,
        secret_access_key: secret,
    })
}

/// Where the pools (with their clients, groups and users) the stacks
/// declared last time are kept.
const STACK_DECLARED: &str = "stacks.declared";

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Declared {
    clients: Vec<String>,
    groups: Vec<String>,
    users: Vec<String>,
    #[serde(default)]
    providers: Vec<String>,
}

impl Identity {
    /// Deletes the pools (with their users) and app clients that the
    /// stacks declared on the previous start and no longer declare; then
    /// records what they declare now. Returns what was removed.
    pub async fn prune_stack_pools(&self, config: &Config) -> Result<Vec<String>> {
        let now: BTreeMap<String, Declared> = config
            .user_pools
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    Declared {
                        clients: p.clients.iter().map(|c| c.name.clone()).collect(),
                        groups: p.groups.iter().map(|g| g.name.clone()).collect(),
                        users: p.users.iter().map(|u| u.username.clone()).collect(),
                        providers: p
                            .identity_providers
                            .iter()
                            .map(|i| i.name.clone())
                            .collect(),
                    },
                )
            })
            .collect();
        // A record in an older shape counts as nothing declared.
        let before: BTreeMap<String, Declared> = match self.store.meta_get(STACK_DECLARED).await? {
            Some(text) => serde_json::from_str(&text).unwrap_or_default(),
            None => BTreeMap::new(),
        };
        let mut removed = Vec::new();
        for (pool_key, then) in &before {
            let Some(pool) = self.store.pool_by_config_key(pool_key).await? else {
                continue;
            };
            let Some(current) = now.get(pool_key) else {
                self.store.delete_pool(&pool.id).await?;
                removed.push(format!("user pool {pool_key} ({})", pool.id));
                continue;
            };
            for c in then.clients.iter().filter(|c| !current.clients.contains(c)) {
                if let Some(client) = self.store.client_by_config_key(&pool.id, c).await? {
                    self.store.delete_client(&pool.id, &client.id).await?;
                    removed.push(format!("app client {c} of {pool_key} ({})", client.id));
                }
            }
            for g in then.groups.iter().filter(|g| !current.groups.contains(g)) {
                if self.store.delete_group(&pool.id, g).await? {
                    removed.push(format!("group {g} of {pool_key}"));
                }
            }
            for name in then
                .providers
                .iter()
                .filter(|n| !current.providers.contains(n))
            {
                if self.store.delete_provider(&pool.id, name).await? {
                    removed.push(format!("identity provider {name} of {pool_key}"));
                }
            }
            for u in then.users.iter().filter(|u| !current.users.contains(u)) {
                let deleted = self
                    .admin_delete_user(input(
                        serde_json::json!({"UserPoolId": pool.id, "Username": u}),
                    )?)
                    .await;
                match deleted {
                    Ok(_) => removed.push(format!("user {u} of {pool_key}")),
                    Err(e) if e.kind == crate::error::ErrorKind::UserNotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let text = serde_json::to_string(&now).expect("names serialize");
        self.store.meta_set(STACK_DECLARED, &text).await?;
        Ok(removed)
    }

    /// Creates or updates what the config declares.
    pub async fn apply_config(&self, config: &Config, now_ms: i64) -> Result<Applied> {
        let mut applied = Applied::default();
        for declared in &config.user_pools {
            let pool = match self.store.pool_by_config_key(&declared.name).await? {
                Some(mut p) => {
                    p.name = declared
                        .display_name
                        .clone()
                        .unwrap_or_else(|| declared.name.clone());
                    p.settings = declared.settings.clone();
                    p.domain = declared.domain.as_ref().map(|d| d.prefix.clone());
                    p.updated_ms = now_ms;
                    self.store.update_pool(&p).await.map_err(conflict)?;
                    p
                }
                None => {
                    let p = Pool {
                        id: new_pool_id(&config.region),
                        name: declared
                            .display_name
                            .clone()
                            .unwrap_or_else(|| declared.name.clone()),
                        config_key: Some(declared.name.clone()),
                        settings: declared.settings.clone(),
                        domain: declared.domain.as_ref().map(|d| d.prefix.clone()),
                        created_ms: now_ms,
                        updated_ms: now_ms,
                    };
                    self.store.insert_pool(&p).await.map_err(conflict)?;
                    p
                }
            };
            self.keys(&pool.id, now_ms).await?;
            if let Some(o) = &declared.output {
                applied.outputs.insert(format!("{o}Id"), pool.id.clone());
            }
            applied
                .pool_ids
                .insert(declared.name.clone(), pool.id.clone());

            for rs in &declared.resource_servers {
                let record = ResourceServer {
                    pool_id: pool.id.clone(),
                    identifier: rs.identifier.clone(),
                    name: rs.name.clone(),
                    scopes: rs.scopes.clone(),
                };
                match self.store.resource_server(&pool.id, &rs.identifier).await? {
                    Some(_) => self.store.update_resource_server(&record).await?,
                    None => self.store.insert_resource_server(&record).await?,
                }
            }

            for declared_client in &declared.clients {
                let existing = self
                    .store
                    .client_by_config_key(&pool.id, &declared_client.name)
                    .await?;
                let client = match existing {
                    Some(mut c) => {
                        c.settings = declared_client.settings.clone();
                        c.secret = match (declared_client.generate_secret, c.secret.take()) {
                            (true, Some(s)) => Some(s),
                            (true, None) => Some(new_client_secret()),
                            (false, _) => None,
                        };
                        c.updated_ms = now_ms;
                        self.store.update_client(&c).await?;
                        c
                    }
                    None => {
                        let c = Client {
                            id: new_client_id(),
                            pool_id: pool.id.clone(),
                            name: declared_client.name.clone(),
                            secret: declared_client.generate_secret.then(new_client_secret),
                            config_key: Some(declared_client.name.clone()),
                            settings: declared_client.settings.clone(),
                            created_ms: now_ms,
                            updated_ms: now_ms,
                        };
                        self.store.insert_client(&c).await?;
                        c
                    }
                };
                if let Some(o) = &declared_client.output {
                    applied.outputs.insert(format!("{o}Id"), client.id.clone());
                    if let Some(s) = &client.secret {
                        applied.outputs.insert(format!("{o}Secret"), s.clone());
                    }
                }
            }
            self.apply_groups_and_users(&pool.id, declared, now_ms)
                .await?;
        }
        Ok(applied)
    }

    /// Groups are created or updated; users are created once, as
    /// AdminCreateUser creates them (an existing user is left as it is: its
    /// password and attributes are the user's); memberships are added.
    async fn apply_groups_and_users(
        &self,
        pool_id: &str,
        declared: &cognate_config::UserPool,
        now_ms: i64,
    ) -> Result<()> {
        for g in &declared.groups {
            match self.store.group(pool_id, &g.name).await? {
                Some(mut existing) => {
                    existing.description = g.description.clone();
                    existing.precedence = g.precedence;
                    existing.role_arn = g.role_arn.clone();
                    existing.updated_ms = now_ms;
                    self.store.update_group(&existing).await?;
                }
                None => {
                    self.create_group(
                        input(serde_json::json!({
                            "UserPoolId": pool_id, "GroupName": g.name, "Description": g.description,
                            "Precedence": g.precedence, "RoleArn": g.role_arn,
                        }))?,
                        now_ms,
                    )
                    .await?;
                }
            }
        }
        for ip in &declared.identity_providers {
            let exists = self.store.provider(pool_id, &ip.name).await?.is_some();
            let mut body = serde_json::json!({
                "UserPoolId": pool_id, "ProviderName": ip.name, "ProviderDetails": ip.details,
                "AttributeMapping": ip.attribute_mapping, "IdpIdentifiers": ip.idp_identifiers,
            });
            if exists {
                self.update_identity_provider(input(body)?, now_ms).await?;
            } else {
                body["ProviderType"] = serde_json::json!(ip.provider_type);
                self.create_identity_provider(input(body)?, now_ms).await?;
            }
        }
        for u in &declared.users {
            let attributes: Vec<serde_json::Value> = u
                .attributes
                .iter()
                .map(|(k, v)| serde_json::json!({"Name": k, "Value": v}))
                .collect();
            let created = self
                .admin_create_user(
                    input(serde_json::json!({
                        "UserPoolId": pool_id, "Username": u.username, "UserAttributes": attributes,
                        "MessageAction": if u.suppress_message { Some("SUPPRESS") } else { None },
                    }))?,
                    now_ms,
                )
                .await;
            match created {
                Ok(_) => {}
                Err(e) if e.kind == crate::error::ErrorKind::UsernameExists => {}
                Err(e) => return Err(e),
            }
            for g in &u.groups {
                self.admin_add_user_to_group(input(serde_json::json!({
                    "UserPoolId": pool_id, "Username": u.username, "GroupName": g,
                }))?)
                .await?;
            }
        }
        Ok(())
    }
}

/// An operation's input from JSON, as the JSON API would parse it.
fn input<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| CognitoError::invalid_parameter(e.to_string()))
}

fn conflict(e: StoreError) -> CognitoError {
    match e {
        StoreError::Conflict(what) => CognitoError::invalid_parameter(format!(
            "the config's {what} is already used by another pool"
        )),
        other => other.into(),
    }
}
