//! Resource servers and their custom scopes.

use cognate_config::ResourceScope;
use cognate_store::pools::ResourceServer;
use cognate_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::clients::ListIn;
use super::{check_pool_id, constraint, page_after, page_size, page_token};
use crate::error::{CognitoError, Result};
use crate::Identity;

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
