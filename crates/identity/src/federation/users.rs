//! The pool user behind a federated sign-in: a linked native user, the
//! federated user `{provider}_{subject}` from an earlier sign-in, or a new
//! one (after PreSignUp_ExternalProvider). Mapped attributes are written on
//! every sign-in, as Cognito does.

use std::collections::BTreeMap;

use cognate_store::pools::Pool;
use cognate_store::providers::IdentityProvider;
use cognate_store::users::User;
use cognate_store::StoreError;
use serde_json::{json, Map, Value};

use super::protocol::claim_text;
use super::{Failure, ProviderIdentity};
use crate::authorize::Authorization;
use crate::users::{check_attributes, missing_required, new_record, status, username_key};
use crate::Identity;

/// The username of a provider's user: `{provider}_{subject}`. Cognito
/// writes the social types' names in lower case (`google_1234`,
/// `facebook_1234`, as seen in apps since 2023) and the names of OIDC and
/// SAML providers as they are.
pub fn federated_username(provider: &IdentityProvider, subject: &str) -> String {
    let prefix = match provider.provider_type.as_str() {
        "Google" | "Facebook" | "LoginWithAmazon" | "SignInWithApple" => {
            provider.name.to_lowercase()
        }
        _ => provider.name.clone(),
    };
    format!("{prefix}_{subject}")
}

/// The `identities` attribute's entry for an identity.
pub(crate) fn identity_entry(
    provider: &IdentityProvider,
    subject: &str,
    primary: bool,
    created_ms: i64,
) -> Value {
    json!({
        "userId": subject,
        "providerName": provider.name,
        "providerType": provider.provider_type,
        "issuer": null,
        "primary": primary,
        "dateCreated": created_ms,
    })
}

/// A claim by name; a dotted name reads into objects (Facebook's
/// `picture.data.url`).
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut v = claims.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    Some(v)
}

/// The pool attributes the provider's claims give, by the mapping; values
/// the pool's schema refuses are left out (and logged).
fn mapped_attributes(
    pool: &Pool,
    provider: &IdentityProvider,
    claims: &Map<String, Value>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (attribute, from) in &provider.attribute_mapping {
        if attribute == "username" {
            continue;
        }
        let Some(value) = claim(claims, from).filter(|v| !v.is_null()) else {
            continue;
        };
        let pair = (attribute.clone(), claim_text(value));
        match check_attributes(pool, std::slice::from_ref(&pair)) {
            Ok(()) => out.push(pair),
            Err(e) => tracing::info!(
                provider = %provider.name, attribute = %attribute, error = %e.message,
                "a mapped attribute was left out"
            ),
        }
    }
    out
}

impl Identity {
    pub(super) async fn federated_user(
        &self,
        provider: &IdentityProvider,
        a: &Authorization,
        identity: ProviderIdentity,
        now_ms: i64,
    ) -> Result<User, Failure> {
        let pool = self.pool_or_error(&provider.pool_id).await?;
        let mapped = mapped_attributes(&pool, provider, &identity.claims);
        let linked = match self
            .store
            .link(&pool.id, &provider.name, &identity.subject)
            .await?
        {
            Some(l) => self.store.user_by_sub(&pool.id, &l.sub).await?,
            None => None,
        };
        let username = federated_username(provider, &identity.subject);
        let existing = match linked {
            Some(u) => Some(u),
            None => {
                self.store
                    .user_by_username_key(&pool.id, &username_key(&pool, &username))
                    .await?
            }
        };
        let user = match existing {
            Some(u) => u,
            None => {
                match self
                    .create_federated(
                        &pool,
                        provider,
                        a,
                        &identity.subject,
                        &username,
                        &mapped,
                        now_ms,
                    )
                    .await?
                {
                    Some(created) => return Ok(created),
                    // Another sign-in made it first.
                    None => self
                        .store
                        .user_by_username_key(&pool.id, &username_key(&pool, &username))
                        .await?
                        .ok_or_else(|| {
                            Failure::new("server_error", "An internal error occurred.")
                        })?,
                }
            }
        };
        if !user.enabled {
            return Err(Failure::new("invalid_request", "User is disabled."));
        }
        self.update_mapped(&pool, user, &mapped, now_ms).await
    }

    /// Writes the mapped attributes of this sign-in when they changed.
    async fn update_mapped(
        &self,
        pool: &Pool,
        mut user: User,
        mapped: &[(String, String)],
        now_ms: i64,
    ) -> Result<User, Failure> {
        let changed = mapped
            .iter()
            .any(|(k, v)| user.attributes.get(k) != Some(v));
        if !changed {
            return Ok(user);
        }
        for (k, v) in mapped {
            user.attributes.insert(k.clone(), v.clone());
        }
        if user.status != status::EXTERNAL_PROVIDER {
            crate::users::set_alias_keys(pool, &mut user);
        }
        user.updated_ms = now_ms;
        match self.store.update_user(&user, None, None).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict(_)) => Err(Failure::new(
                "invalid_request",
                "An account with the given email already exists.",
            )),
            Err(e) => Err(crate::CognitoError::from(e).into()),
        }
    }

    /// A new federated user, after the pool's PreSignUp function (source
    /// PreSignUp_ExternalProvider) agrees. None: the username was taken
    /// meanwhile.
    #[allow(clippy::too_many_arguments)]
    async fn create_federated(
        &self,
        pool: &Pool,
        provider: &IdentityProvider,
        a: &Authorization,
        subject: &str,
        username: &str,
        mapped: &[(String, String)],
        now_ms: i64,
    ) -> Result<Option<User>, Failure> {
        let (_, verify_email, verify_phone) = self
            .pre_sign_up(
                pool,
                "PreSignUp_ExternalProvider",
                username,
                Some(&a.client_id),
                mapped,
                None,
                None,
            )
            .await?;
        // The function may have linked the identity to an existing user
        // (AdminLinkProviderForUser): then the sign-in is that user's.
        if let Some(link) = self.store.link(&pool.id, &provider.name, subject).await? {
            if let Some(u) = self.store.user_by_sub(&pool.id, &link.sub).await? {
                if !u.enabled {
                    return Err(Failure::new("invalid_request", "User is disabled."));
                }
                return self.update_mapped(pool, u, mapped, now_ms).await.map(Some);
            }
        }
        let mut attributes: BTreeMap<String, String> = mapped.iter().cloned().collect();
        if verify_email && attributes.contains_key("email") {
            attributes.insert("email_verified".into(), "true".into());
        }
        if verify_phone && attributes.contains_key("phone_number") {
            attributes.insert("phone_number_verified".into(), "true".into());
        }
        if let Some(missing) = missing_required(pool, &attributes) {
            return Err(Failure::new(
                "invalid_request",
                format!("Invalid user attributes: {missing}: The attribute is required"),
            ));
        }
        attributes.insert(
            "identities".into(),
            json!([identity_entry(provider, subject, true, now_ms)]).to_string(),
        );
        // Federated users sign in only through their provider: they hold
        // no alias keys, so a native user with the same email stays apart.
        let user = new_record(
            pool,
            uuid::Uuid::new_v4().to_string(),
            username.to_string(),
            status::EXTERNAL_PROVIDER,
            attributes,
            now_ms,
        );
        match self.store.insert_user(&user, None).await {
            Ok(()) => Ok(Some(user)),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(crate::CognitoError::from(e).into()),
        }
    }
}
