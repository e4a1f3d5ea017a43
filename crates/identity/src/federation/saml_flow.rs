//! The SAML legs of a federated sign-in: the AuthnRequest (with the
//! provider's metadata, from the details or fetched and cached), and the
//! response made into a provider identity, each assertion used once.

use cognate_store::providers::IdentityProvider;

use super::saml::{self, Expected, IdpMetadata, MetadataSource, SamlRequest};
use super::{Begin, Failure, Pending, ProviderIdentity};
use crate::{crypto, Identity};

impl Identity {
    async fn saml_metadata(
        &self,
        p: &IdentityProvider,
        now_ms: i64,
    ) -> Result<IdpMetadata, Failure> {
        let text = match saml::metadata_source(p).map_err(|e| Failure::provider(&p.name, e))? {
            MetadataSource::Inline(xml) => xml.to_string(),
            MetadataSource::Url(url) => self
                .provider_fetch(url, false, false, now_ms)
                .await?
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        saml::parse_metadata(&text).map_err(|e| Failure::provider(&p.name, e))
    }

    pub(super) async fn saml_begin(
        &self,
        p: &IdentityProvider,
        pending: &Pending,
        request_id: &str,
        state: &str,
        now_ms: i64,
    ) -> Result<Begin, Failure> {
        let meta = self.saml_metadata(p, now_ms).await?;
        match saml::authn_request(
            &meta,
            &p.pool_id,
            &pending.callback,
            request_id,
            state,
            now_ms,
        )
        .map_err(|e| Failure::provider(&p.name, e))?
        {
            SamlRequest::Redirect(url) => Ok(Begin::Redirect(url)),
            SamlRequest::Post { action, fields } => Ok(Begin::Post { action, fields }),
        }
    }

    /// Verifies the provider's SAMLResponse; its assertion is remembered
    /// until it expires, so the same assertion never signs in twice.
    pub(super) async fn saml_identity(
        &self,
        p: &IdentityProvider,
        pending: &Pending,
        response: Option<&str>,
        now_ms: i64,
    ) -> Result<ProviderIdentity, Failure> {
        let bad = |why: String| Failure::provider(&p.name, format!("SAML response refused: {why}"));
        let raw: String = response
            .ok_or_else(|| bad("no SAMLResponse".into()))?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let xml = crypto::b64_decode(&raw)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad("SAMLResponse is not base64 XML".into()))?;
        let meta = self.saml_metadata(p, now_ms).await?;
        let request_id = pending.saml_request.as_deref().unwrap_or("");
        let sp = saml::sp_entity_id(&p.pool_id);
        let identity = saml::verify_response(
            &xml,
            &Expected {
                meta: &meta,
                sp_entity_id: &sp,
                acs: &pending.callback,
                request_id,
                now_ms,
            },
        )
        .map_err(bad)?;
        let key = crypto::stored_hash(&format!(
            "saml-assertion\n{}\n{}\n{}",
            p.pool_id, meta.entity_id, identity.assertion_id
        ));
        if !self
            .store
            .claim_once(
                &key,
                &p.pool_id,
                "SAML_ASSERTION",
                now_ms,
                identity.expires_ms,
            )
            .await?
        {
            return Err(bad(format!(
                "assertion {} was already used",
                identity.assertion_id
            )));
        }
        let claims = identity.claims();
        let subject = match p.attribute_mapping.get("username") {
            Some(attr) => claims
                .get(attr)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| bad(format!("no {attr} attribute")))?,
            None => identity.name_id.clone(),
        };
        Ok(ProviderIdentity { subject, claims })
    }
}
