//! Groups and memberships.

use cognate_store::groups::Group;
use cognate_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_pool_id, constraint, page_after, page_size, page_token};
use crate::error::{CognitoError, Result};
use crate::users::{seconds, user_type};
use crate::Identity;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GroupIn {
    group_name: String,
    user_pool_id: String,
    description: Option<String>,
    role_arn: Option<String>,
    precedence: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GroupRefIn {
    group_name: String,
    user_pool_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MembershipIn {
    user_pool_id: String,
    username: String,
    group_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListGroupsIn {
    user_pool_id: String,
    limit: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GroupsForUserIn {
    user_pool_id: String,
    username: String,
    limit: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UsersInGroupIn {
    user_pool_id: String,
    group_name: String,
    limit: Option<i64>,
    next_token: Option<String>,
}

fn group_json(g: &Group) -> Value {
    let mut v = json!({
        "GroupName": g.name,
        "UserPoolId": g.pool_id,
        "LastModifiedDate": seconds(g.updated_ms),
        "CreationDate": seconds(g.created_ms),
    });
    if let Some(d) = &g.description {
        v["Description"] = json!(d);
    }
    if let Some(r) = &g.role_arn {
        v["RoleArn"] = json!(r);
    }
    if let Some(p) = g.precedence {
        v["Precedence"] = json!(p);
    }
    v
}

fn check_group_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(constraint(
            "groupName",
            name,
            "Member must have length between 1 and 128",
        ));
    }
    Ok(())
}

impl Identity {
    async fn group_or_error(&self, pool_id: &str, name: &str) -> Result<Group> {
        self.store
            .group(pool_id, name)
            .await?
            .ok_or_else(|| CognitoError::resource_not_found("Group not found."))
    }

    pub(crate) async fn create_group(&self, i: GroupIn, now: i64) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        check_group_name(&i.group_name)?;
        self.pool_or_error(&i.user_pool_id).await?;
        if i.precedence.is_some_and(|p| p < 0) {
            return Err(constraint(
                "precedence",
                i.precedence.unwrap_or(0),
                "Member must have value greater than or equal to 0",
            ));
        }
        let g = Group {
            pool_id: i.user_pool_id,
            name: i.group_name,
            description: i.description,
            role_arn: i.role_arn,
            precedence: i.precedence,
            created_ms: now,
            updated_ms: now,
        };
        self.store.insert_group(&g).await.map_err(|e| match e {
            StoreError::Conflict(_) => CognitoError::group_exists(format!(
                "A group with the name {} already exists.",
                g.name
            )),
            other => other.into(),
        })?;
        Ok(json!({"Group": group_json(&g)}))
    }

    pub(crate) async fn get_group(&self, i: GroupRefIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        let g = self.group_or_error(&i.user_pool_id, &i.group_name).await?;
        Ok(json!({"Group": group_json(&g)}))
    }

    pub(crate) async fn list_groups(&self, i: ListGroupsIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        let limit = page_size(i.limit, "limit", 60)?;
        let after = page_after(i.next_token.as_deref())?;
        let groups = self
            .store
            .list_groups(&i.user_pool_id, after.as_deref(), limit)
            .await?;
        let mut out = json!({"Groups": groups.iter().map(group_json).collect::<Vec<_>>()});
        if groups.len() as i64 == limit {
            out["NextToken"] = json!(page_token(&groups.last().expect("non-empty").name));
        }
        Ok(out)
    }

    pub(crate) async fn update_group(&self, i: GroupIn, now: i64) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        let mut g = self.group_or_error(&i.user_pool_id, &i.group_name).await?;
        if i.description.is_some() {
            g.description = i.description;
        }
        if i.role_arn.is_some() {
            g.role_arn = i.role_arn;
        }
        if i.precedence.is_some() {
            g.precedence = i.precedence;
        }
        g.updated_ms = now;
        self.store.update_group(&g).await?;
        Ok(json!({"Group": group_json(&g)}))
    }

    pub(crate) async fn delete_group(&self, i: GroupRefIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        if !self
            .store
            .delete_group(&i.user_pool_id, &i.group_name)
            .await?
        {
            return Err(CognitoError::resource_not_found("Group not found."));
        }
        Ok(json!({}))
    }

    pub(crate) async fn admin_add_user_to_group(&self, i: MembershipIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        let user = self.user_or_error(&pool, &i.username).await?;
        self.group_or_error(&pool.id, &i.group_name).await?;
        self.store
            .add_member(&pool.id, &i.group_name, &user.sub)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => CognitoError::resource_not_found("Group not found."),
                other => other.into(),
            })?;
        Ok(json!({}))
    }

    pub(crate) async fn admin_remove_user_from_group(&self, i: MembershipIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        let user = self.user_or_error(&pool, &i.username).await?;
        self.group_or_error(&pool.id, &i.group_name).await?;
        self.store
            .remove_member(&pool.id, &i.group_name, &user.sub)
            .await?;
        Ok(json!({}))
    }

    pub(crate) async fn admin_list_groups_for_user(&self, i: GroupsForUserIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        let user = self.user_or_error(&pool, &i.username).await?;
        let limit = page_size(i.limit, "limit", 60)? as usize;
        let start = match page_after(i.next_token.as_deref())? {
            Some(s) => s
                .parse::<usize>()
                .map_err(|_| CognitoError::invalid_parameter("Invalid pagination token."))?,
            None => 0,
        };
        let groups = self.store.groups_of(&pool.id, &user.sub).await?;
        let page: Vec<Value> = groups
            .iter()
            .skip(start)
            .take(limit)
            .map(group_json)
            .collect();
        let mut out = json!({"Groups": page});
        if start + limit < groups.len() {
            out["NextToken"] = json!(page_token(&(start + limit).to_string()));
        }
        Ok(out)
    }

    pub(crate) async fn list_users_in_group(&self, i: UsersInGroupIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        self.group_or_error(&i.user_pool_id, &i.group_name).await?;
        let limit = page_size(i.limit, "limit", 60)?;
        let after = page_after(i.next_token.as_deref())?;
        let users = self
            .store
            .members_of(&i.user_pool_id, &i.group_name, after.as_deref(), limit)
            .await?;
        let mut out =
            json!({"Users": users.iter().map(|u| user_type(u, None)).collect::<Vec<_>>()});
        if users.len() as i64 == limit {
            out["NextToken"] = json!(page_token(&users.last().expect("non-empty").username_key));
        }
        Ok(out)
    }
}
