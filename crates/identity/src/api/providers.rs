//! A pool's external identity providers through the JSON API:
//! CreateIdentityProvider, DescribeIdentityProvider, ListIdentityProviders,
//! UpdateIdentityProvider, DeleteIdentityProvider,
//! GetIdentityProviderByIdentifier, with Cognito's rules for each type's
//! ProviderDetails and its errors.

use std::collections::BTreeMap;

use cognate_store::providers::IdentityProvider;
use cognate_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_pool_id, constraint, page_after, page_size, page_token};
use crate::error::{CognitoError, Result};
use crate::users::seconds;
use crate::Identity;

const TYPES: &[&str] = &[
    "SAML",
    "Facebook",
    "Google",
    "LoginWithAmazon",
    "SignInWithApple",
    "OIDC",
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateProviderIn {
    user_pool_id: String,
    provider_name: String,
    provider_type: String,
    #[serde(default)]
    provider_details: BTreeMap<String, String>,
    attribute_mapping: Option<BTreeMap<String, String>>,
    idp_identifiers: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateProviderIn {
    user_pool_id: String,
    provider_name: String,
    provider_details: Option<BTreeMap<String, String>>,
    attribute_mapping: Option<BTreeMap<String, String>>,
    idp_identifiers: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProviderRefIn {
    user_pool_id: String,
    provider_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListProvidersIn {
    user_pool_id: String,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ByIdentifierIn {
    user_pool_id: String,
    idp_identifier: String,
}

fn provider_json(p: &IdentityProvider) -> Value {
    json!({
        "UserPoolId": p.pool_id,
        "ProviderName": p.name,
        "ProviderType": p.provider_type,
        "ProviderDetails": p.details,
        "AttributeMapping": p.attribute_mapping,
        "IdpIdentifiers": p.idp_identifiers,
        "LastModifiedDate": seconds(p.updated_ms),
        "CreationDate": seconds(p.created_ms),
    })
}

fn not_found(name: &str) -> CognitoError {
    CognitoError::resource_not_found(format!("Identity provider {name} does not exist."))
}

/// The ProviderDetails keys each type needs (Cognito's rules).
fn check_details(kind: &str, d: &BTreeMap<String, String>) -> Result<()> {
    let need: &[&str] = match kind {
        "Google" | "Facebook" | "LoginWithAmazon" => {
            &["client_id", "client_secret", "authorize_scopes"]
        }
        "SignInWithApple" => &[
            "client_id",
            "team_id",
            "key_id",
            "private_key",
            "authorize_scopes",
        ],
        "OIDC" => &[
            "client_id",
            "attributes_request_method",
            "oidc_issuer",
            "authorize_scopes",
        ],
        _ => &[],
    };
    for key in need {
        if d.get(*key).is_none_or(|v| v.is_empty()) {
            return Err(CognitoError::invalid_parameter(format!(
                "{key} is required for a provider of type {kind}."
            )));
        }
    }
    if kind == "OIDC" {
        let m = d.get("attributes_request_method").map(String::as_str);
        if !matches!(m, Some("GET") | Some("POST")) {
            return Err(CognitoError::invalid_parameter(
                "attributes_request_method must be GET or POST.",
            ));
        }
        let issuer = d.get("oidc_issuer").map(String::as_str).unwrap_or("");
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(CognitoError::invalid_parameter(
                "oidc_issuer must be a URL.",
            ));
        }
    }
    if kind == "SAML" && !d.contains_key("MetadataURL") && !d.contains_key("MetadataFile") {
        return Err(CognitoError::invalid_parameter(
            "A SAML provider needs MetadataURL or MetadataFile.",
        ));
    }
    Ok(())
}

impl Identity {
    async fn provider_or_error(&self, pool_id: &str, name: &str) -> Result<IdentityProvider> {
        self.store
            .provider(pool_id, name)
            .await?
            .ok_or_else(|| not_found(name))
    }

    /// Identifiers are unique in a pool.
    async fn check_identifiers(&self, pool_id: &str, name: &str, ids: &[String]) -> Result<()> {
        if ids.len() > 50 {
            return Err(constraint(
                "idpIdentifiers",
                ids.len(),
                "Member must have length less than or equal to 50",
            ));
        }
        for p in self.store.providers_of(pool_id).await? {
            if p.name != name {
                if let Some(taken) = ids.iter().find(|i| p.idp_identifiers.contains(i)) {
                    return Err(CognitoError::invalid_parameter(format!(
                        "The identifier {taken} is already used by provider {}.",
                        p.name
                    )));
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn create_identity_provider(
        &self,
        i: CreateProviderIn,
        now: i64,
    ) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        if !TYPES.contains(&i.provider_type.as_str()) {
            return Err(constraint(
                "providerType",
                &i.provider_type,
                "Member must satisfy enum value set: [SAML, Facebook, Google, LoginWithAmazon, SignInWithApple, OIDC]",
            ));
        }
        let n = i.provider_name.chars().count();
        if !(1..=32).contains(&n)
            || i.provider_name.starts_with('_')
            || i.provider_name.contains(char::is_whitespace)
        {
            return Err(constraint(
                "providerName",
                &i.provider_name,
                "Member must satisfy regular expression pattern: [^_\\p{Z}][\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}][^_\\p{Z}]+",
            ));
        }
        if i.provider_name.eq_ignore_ascii_case("COGNITO") {
            return Err(CognitoError::invalid_parameter(
                "COGNITO is a reserved provider name.",
            ));
        }
        let social = matches!(
            i.provider_type.as_str(),
            "Google" | "Facebook" | "LoginWithAmazon" | "SignInWithApple"
        );
        if social && i.provider_name != i.provider_type {
            return Err(CognitoError::invalid_parameter(format!(
                "A provider of type {} must be named {}.",
                i.provider_type, i.provider_type
            )));
        }
        check_details(&i.provider_type, &i.provider_details)?;
        let ids = i.idp_identifiers.unwrap_or_default();
        self.check_identifiers(&i.user_pool_id, &i.provider_name, &ids)
            .await?;
        let mut mapping = i.attribute_mapping.unwrap_or_default();
        if i.provider_type != "SAML" {
            // Cognito maps the provider's subject to the username.
            mapping.entry("username".into()).or_insert_with(|| {
                crate::federation::default_subject_claim(&i.provider_type).into()
            });
        }
        let p = IdentityProvider {
            pool_id: i.user_pool_id,
            name: i.provider_name,
            provider_type: i.provider_type,
            details: i.provider_details,
            attribute_mapping: mapping,
            idp_identifiers: ids,
            created_ms: now,
            updated_ms: now,
        };
        self.store.insert_provider(&p).await.map_err(|e| match e {
            StoreError::Conflict(_) => CognitoError::duplicate_provider(format!(
                "A provider with the name {} already exists in this user pool.",
                p.name
            )),
            other => other.into(),
        })?;
        Ok(json!({"IdentityProvider": provider_json(&p)}))
    }

    pub(crate) async fn describe_identity_provider(&self, i: ProviderRefIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        let p = self
            .provider_or_error(&i.user_pool_id, &i.provider_name)
            .await?;
        Ok(json!({"IdentityProvider": provider_json(&p)}))
    }

    pub(crate) async fn list_identity_providers(&self, i: ListProvidersIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        let limit = page_size(i.max_results, "maxResults", 60)?;
        let after = page_after(i.next_token.as_deref())?;
        let page = self
            .store
            .list_providers(&i.user_pool_id, after.as_deref(), limit)
            .await?;
        let items: Vec<Value> = page
            .iter()
            .map(|p| json!({"ProviderName": p.name, "ProviderType": p.provider_type,
                            "LastModifiedDate": seconds(p.updated_ms), "CreationDate": seconds(p.created_ms)}))
            .collect();
        let mut out = json!({"Providers": items});
        if page.len() as i64 == limit {
            out["NextToken"] = json!(page_token(&page.last().expect("non-empty").name));
        }
        Ok(out)
    }

    pub(crate) async fn update_identity_provider(
        &self,
        i: UpdateProviderIn,
        now: i64,
    ) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        let mut p = self
            .provider_or_error(&i.user_pool_id, &i.provider_name)
            .await?;
        if let Some(d) = i.provider_details {
            // Members sent replace those kept; the rest stay.
            p.details.extend(d);
            check_details(&p.provider_type, &p.details)?;
        }
        if let Some(m) = i.attribute_mapping {
            p.attribute_mapping.extend(m);
        }
        if let Some(ids) = i.idp_identifiers {
            self.check_identifiers(&p.pool_id, &p.name, &ids).await?;
            p.idp_identifiers = ids;
        }
        p.updated_ms = now;
        self.store.update_provider(&p).await?;
        Ok(json!({"IdentityProvider": provider_json(&p)}))
    }

    pub(crate) async fn delete_identity_provider(&self, i: ProviderRefIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        if !self
            .store
            .delete_provider(&i.user_pool_id, &i.provider_name)
            .await?
        {
            return Err(not_found(&i.provider_name));
        }
        Ok(json!({}))
    }

    pub(crate) async fn get_identity_provider_by_identifier(
        &self,
        i: ByIdentifierIn,
    ) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        match self
            .store
            .provider_by_identifier(&i.user_pool_id, &i.idp_identifier)
            .await?
        {
            Some(p) => Ok(json!({"IdentityProvider": provider_json(&p)})),
            None => Err(CognitoError::resource_not_found(format!(
                "Identity provider with identifier {} does not exist.",
                i.idp_identifier
            ))),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SigningCertificateIn {
    user_pool_id: String,
}

impl Identity {
    /// GetSigningCertificate: the certificate a SAML identity provider
    /// checks the pool's signed requests with. Made once per pool and kept
    /// in the store, so every node answers the same.
    pub(crate) async fn get_signing_certificate(&self, i: SigningCertificateIn) -> Result<Value> {
        check_pool_id(&i.user_pool_id)?;
        self.pool_or_error(&i.user_pool_id).await?;
        let (certificate, _) = self.pool_signing_key(&i.user_pool_id).await?;
        Ok(json!({"Certificate": certificate}))
    }

    /// The pool's SAML signing certificate (base64 DER) and its key
    /// (PKCS#8 DER), made at the first use and kept in the store.
    pub(crate) async fn pool_signing_key(&self, pool_id: &str) -> Result<(String, Vec<u8>)> {
        let key = format!("saml.signing_certificate.{pool_id}");
        let kept = match self.store.meta_get(&key).await? {
            Some(k) => k,
            None => {
                let fresh = signing_certificate(pool_id)?;
                self.store.meta_get_or_insert(&key, &fresh).await?
            }
        };
        let kept: Value = serde_json::from_str(&kept)
            .map_err(|_| CognitoError::internal("An internal error occurred."))?;
        let pkcs8 = kept["key_pkcs8"]
            .as_str()
            .and_then(crate::crypto::b64_decode)
            .ok_or_else(|| CognitoError::internal("An internal error occurred."))?;
        Ok((
            kept["certificate"].as_str().unwrap_or_default().to_string(),
            pkcs8,
        ))
    }
}

/// A self-signed certificate (base64 DER, as Cognito returns it) named
/// after the pool, with its key (PKCS#8, base64) for signing SAML requests,
/// as JSON `{certificate, key_pkcs8}`.
fn signing_certificate(pool_id: &str) -> Result<String> {
    let fail = |e: rcgen::Error| {
        tracing::error!(error = %e, "cannot make a signing certificate");
        CognitoError::internal("An internal error occurred.")
    };
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("cognate {pool_id}"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
        .or_else(|_| rcgen::KeyPair::generate())
        .map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok(json!({
        "certificate": crate::crypto::b64(cert.der()),
        "key_pkcs8": crate::crypto::b64(&key.serialize_der()),
    })
    .to_string())
}
