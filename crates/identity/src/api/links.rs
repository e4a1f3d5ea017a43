//! AdminLinkProviderForUser and AdminDisableProviderForUser: external
//! identities tied to existing users, and taken away from them.
//!
//! A user is named as Cognito names it: `{ProviderName: "Cognito",
//! ProviderAttributeValue: username}` for a native user, `{ProviderName:
//! provider, ProviderAttributeName: "Cognito_Subject", ProviderAttributeValue:
//! subject}` for an external identity.

use cognate_store::links::ProviderLink;
use cognate_store::providers::IdentityProvider;
use cognate_store::users::User;
use cognate_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::check_pool_id;
use crate::error::{CognitoError, Result};
use crate::federation::{federated_username, identity_entry};
use crate::users::{status, username_key};
use crate::Identity;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProviderUserIn {
    provider_name: Option<String>,
    provider_attribute_name: Option<String>,
    provider_attribute_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LinkIn {
    user_pool_id: String,
    destination_user: ProviderUserIn,
    source_user: ProviderUserIn,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DisableIn {
    user_pool_id: String,
    user: ProviderUserIn,
}

fn required<'a>(v: &'a Option<String>, field: &str) -> Result<&'a str> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CognitoError::invalid_parameter(format!("{field} is required.")))
}

/// An external identity as the API names it: the provider and the subject.
async fn external(
    identity: &Identity,
    pool_id: &str,
    u: &ProviderUserIn,
    field: &str,
) -> Result<(IdentityProvider, String)> {
    let name = required(&u.provider_name, &format!("{field}.ProviderName"))?;
    let value = required(
        &u.provider_attribute_value,
        &format!("{field}.ProviderAttributeValue"),
    )?;
    let provider = identity
        .store
        .provider(pool_id, name)
        .await?
        .ok_or_else(|| {
            CognitoError::resource_not_found(format!("Identity provider {name} does not exist."))
        })?;
    let attribute = u
        .provider_attribute_name
        .as_deref()
        .unwrap_or("Cognito_Subject");
    // SAML identities may be named by another attribute; the others by
    // their subject only.
    if provider.provider_type != "SAML" && attribute != "Cognito_Subject" {
        return Err(CognitoError::invalid_parameter(format!(
            "{field}.ProviderAttributeName must be Cognito_Subject for a provider of type {}.",
            provider.provider_type
        )));
    }
    Ok((provider, value.to_string()))
}

fn identities_of(user: &User) -> Vec<Value> {
    user.attributes
        .get("identities")
        .and_then(|v| serde_json::from_str::<Vec<Value>>(v).ok())
        .unwrap_or_default()
}

impl Identity {
    pub(crate) async fn admin_link_provider_for_user(&self, i: LinkIn, now: i64) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        let (provider, subject) = external(self, &pool.id, &i.source_user, "SourceUser").await?;
        let d = &i.destination_user;
        let dest_provider = required(&d.provider_name, "DestinationUser.ProviderName")?;
        let dest_value = required(
            &d.provider_attribute_value,
            "DestinationUser.ProviderAttributeValue",
        )?;
        let mut destination = if dest_provider.eq_ignore_ascii_case("Cognito") {
            self.store
                .user_by_username_key(&pool.id, &username_key(&pool, dest_value))
                .await?
        } else {
            // A federated user may be the destination too.
            let (p, s) = external(self, &pool.id, d, "DestinationUser").await?;
            self.store
                .user_by_username_key(&pool.id, &username_key(&pool, &federated_username(&p, &s)))
                .await?
        }
        .ok_or_else(CognitoError::no_such_user)?;
        let federated = federated_username(&provider, &subject);
        if self
            .store
            .user_by_username_key(&pool.id, &username_key(&pool, &federated))
            .await?
            .is_some()
        {
            return Err(CognitoError::invalid_parameter(
                "Merging is not currently supported, provide a SourceUser that has not been used to sign into the user pool.",
            ));
        }
        self.store
            .insert_link(&ProviderLink {
                pool_id: pool.id.clone(),
                provider_name: provider.name.clone(),
                subject: subject.clone(),
                sub: destination.sub.clone(),
                created_ms: now,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    CognitoError::alias_exists("The source user is already linked to a user.")
                }
                other => other.into(),
            })?;
        let mut list = identities_of(&destination);
        list.push(identity_entry(&provider, &subject, false, now));
        destination
            .attributes
            .insert("identities".into(), Value::Array(list).to_string());
        destination.updated_ms = now;
        self.store.update_user(&destination, None, None).await?;
        Ok(json!({}))
    }

    pub(crate) async fn admin_disable_provider_for_user(
        &self,
        i: DisableIn,
        now: i64,
    ) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        let pool = self.pool_or_error(&i.user_pool_id).await?;
        let name = required(&i.user.provider_name, "User.ProviderName")?;
        if name.eq_ignore_ascii_case("Cognito") {
            // A native user: no more password sign-in.
            let value = required(
                &i.user.provider_attribute_value,
                "User.ProviderAttributeValue",
            )?;
            let mut user = self
                .store
                .user_by_username_key(&pool.id, &username_key(&pool, value))
                .await?
                .filter(|u| u.status != status::EXTERNAL_PROVIDER)
                .ok_or_else(CognitoError::no_such_user)?;
            self.disable_user(&pool.id, &mut user, now).await?;
            return Ok(json!({}));
        }
        let (provider, subject) = external(self, &pool.id, &i.user, "User").await?;
        let mut found = false;
        if let Some(link) = self.store.link(&pool.id, &provider.name, &subject).await? {
            self.store
                .delete_link(&pool.id, &provider.name, &subject)
                .await?;
            if let Some(mut user) = self.store.user_by_sub(&pool.id, &link.sub).await? {
                let list: Vec<Value> = identities_of(&user)
                    .into_iter()
                    .filter(|e| {
                        !(e["providerName"] == provider.name.as_str()
                            && e["userId"] == subject.as_str())
                    })
                    .collect();
                if list.is_empty() {
                    user.attributes.remove("identities");
                } else {
                    user.attributes
                        .insert("identities".into(), Value::Array(list).to_string());
                }
                user.updated_ms = now;
                self.store.update_user(&user, None, None).await?;
            }
            found = true;
        }
        let federated = federated_username(&provider, &subject);
        if let Some(mut user) = self
            .store
            .user_by_username_key(&pool.id, &username_key(&pool, &federated))
            .await?
        {
            self.disable_user(&pool.id, &mut user, now).await?;
            found = true;
        }
        if !found {
            return Err(CognitoError::no_such_user());
        }
        Ok(json!({}))
    }
}
