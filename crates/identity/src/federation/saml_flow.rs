//! The SAML legs of a federated sign-in: the AuthnRequest (with the
//! provider's metadata, from the details or fetched and cached), and the
//! response made into a provider identity, each assertion used once.

use cognate_store::providers::IdentityProvider;

use super::saml::{self, Expected, IdpMetadata, MetadataSource, SamlRequest};
use super::{failure_redirect, Begin, Failure, FederatedSignIn, Pending, ProviderIdentity};
use crate::authorize::{AuthorizeError, ResponseType};
use crate::{crypto, Identity};

/// The challenge name of a pending single logout.
const LOGOUT: &str = "SAML_LOGOUT";

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

    /// Verifies the provider's SAMLResponse for a sign-in this server
    /// began.
    pub(super) async fn saml_identity(
        &self,
        p: &IdentityProvider,
        pending: &Pending,
        response: Option<&str>,
        now_ms: i64,
    ) -> Result<ProviderIdentity, Failure> {
        let request = pending.saml_request.as_deref().unwrap_or("");
        self.verified_saml(p, response, &pending.callback, Some(request), now_ms)
            .await
    }

    /// Checks a response (base64 as posted) as saml.rs says; its assertion
    /// is remembered until it expires, so the same assertion never signs
    /// in twice (with IdP-initiated sign-in, nothing else would stop it).
    async fn verified_saml(
        &self,
        p: &IdentityProvider,
        response: Option<&str>,
        acs: &str,
        request_id: Option<&str>,
        now_ms: i64,
    ) -> Result<ProviderIdentity, Failure> {
        let bad = |why: String| Failure::provider(&p.name, format!("SAML response refused: {why}"));
        let xml = decode_response(response)
            .ok_or_else(|| bad("SAMLResponse is not base64 XML".into()))?;
        let meta = self.saml_metadata(p, now_ms).await?;
        let sp = saml::sp_entity_id(&p.pool_id);
        let encrypts = p
            .details
            .get("EncryptedResponses")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let key = if encrypts {
            Some(self.pool_signing_key(&p.pool_id).await?.1)
        } else {
            None
        };
        let identity = saml::verify_response(
            &xml,
            &Expected {
                meta: &meta,
                sp_entity_id: &sp,
                acs,
                request_id,
                now_ms,
                decryption_key: key.as_deref(),
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
        let subject = super::protocol::subject_of(p, &claims)?;
        let signs_out = p
            .details
            .get("IDPSignout")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let session = signs_out.then(
            || serde_json::json!({"n": p.name, "i": identity.name_id, "x": identity.session_index}),
        );
        Ok(ProviderIdentity {
            subject,
            claims,
            session,
        })
    }

    /// IdP-initiated sign-in, for a SAML provider with `IDPInit: true`: a
    /// response that answers no request, whose RelayState holds the
    /// authorization request (client_id, redirect_uri, response_type=code,
    /// scope, state) the app wants answered. No browser binding is
    /// possible, so the assertion's single use is the guard.
    pub(super) async fn saml_idp_initiated(
        &self,
        pool_id: &str,
        origin: &str,
        params: &[(String, String)],
        now_ms: i64,
    ) -> Result<FederatedSignIn, AuthorizeError> {
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let refused = |why: &str| {
            tracing::warn!(pool_id, why, "IdP-initiated SAML response refused");
            AuthorizeError::Page("invalid_request")
        };
        let xml = decode_response(get("SAMLResponse")).ok_or_else(|| refused("not base64 XML"))?;
        let issuer = saml::claimed_issuer(&xml).ok_or_else(|| refused("no issuer"))?;
        let provider = self
            .idp_initiated_provider(pool_id, &issuer, now_ms)
            .await
            .ok_or_else(|| refused("no provider with IDPInit for this issuer"))?;
        let mut request: Vec<(String, String)> =
            url::form_urlencoded::parse(get("RelayState").unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        if request
            .iter()
            .any(|(k, v)| k == "identity_provider" && *v != provider.name)
        {
            return Err(refused("RelayState names another provider"));
        }
        if !request.iter().any(|(k, _)| k == "identity_provider") {
            request.push(("identity_provider".into(), provider.name.clone()));
        }
        let a = self.authorize_request(pool_id, &request).await?;
        if a.response_type != ResponseType::Code {
            return Err(refused("IdP-initiated sign-in answers with a code only"));
        }
        let acs = format!("{origin}/saml2/idpresponse");
        let result = async {
            let identity = self
                .verified_saml(&provider, get("SAMLResponse"), &acs, None, now_ms)
                .await?;
            let session = identity.session.clone();
            let user = self.federated_user(&provider, &a, identity, now_ms).await?;
            Ok::<_, Failure>((user, session))
        }
        .await;
        match result {
            Ok((user, session)) => Ok(FederatedSignIn {
                authorization: a,
                user,
                session,
            }),
            Err(f) => Err(failure_redirect(&a, &provider.name, &f)),
        }
    }

    /// The pool's SAML provider that allows IdP-initiated sign-in and whose
    /// metadata names `issuer`.
    async fn idp_initiated_provider(
        &self,
        pool_id: &str,
        issuer: &str,
        now_ms: i64,
    ) -> Option<IdentityProvider> {
        let providers = self.store.providers_of(pool_id).await.ok()?;
        for p in providers {
            let allowed = p.provider_type == "SAML"
                && p.details
                    .get("IDPInit")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            if allowed {
                if let Ok(meta) = self.saml_metadata(&p, now_ms).await {
                    if meta.entity_id == issuer {
                        return Some(p);
                    }
                }
            }
        }
        None
    }

    /// Single logout at logout: when the session came from a SAML provider
    /// with IDPSignout, the browser goes to the provider's
    /// SingleLogoutService with a signed LogoutRequest, and comes back to
    /// `/saml2/logout`, then to `continue_to`. None: nothing to end there.
    pub async fn saml_logout_begin(
        &self,
        pool_id: &str,
        federation: &serde_json::Value,
        continue_to: &str,
        now_ms: i64,
    ) -> Option<String> {
        let name = federation["n"].as_str()?;
        let name_id = federation["i"].as_str()?;
        let p = self.store.provider(pool_id, name).await.ok()??;
        let signs_out = p
            .details
            .get("IDPSignout")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if p.provider_type != "SAML" || !signs_out {
            return None;
        }
        let meta = self.saml_metadata(&p, now_ms).await.ok()?;
        let (_, key) = self.pool_signing_key(pool_id).await.ok()?;
        let state = crypto::b64url(&crypto::random_bytes::<32>());
        let request_id = format!("_{}", crypto::hex(&crypto::random_bytes::<20>()));
        let who = saml::LogoutSubject {
            name_id,
            session_index: federation["x"].as_str(),
        };
        let url =
            match saml::logout_request(&meta, pool_id, &request_id, &who, &state, &key, now_ms) {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(provider = name, error = %e, "no single logout at the provider");
                    return None;
                }
            };
        let pending = cognate_store::codes::AuthSession {
            session_hash: crypto::stored_hash(&state),
            pool_id: pool_id.to_string(),
            client_id: String::new(),
            sub: String::new(),
            challenge: LOGOUT.into(),
            created_ms: now_ms,
            expires_ms: now_ms + super::STATE_MS,
            payload: Some(
                serde_json::json!({"request": request_id, "to": continue_to}).to_string(),
            ),
        };
        self.store.insert_auth_session(&pending).await.ok()?;
        Some(url)
    }

    /// The provider's LogoutResponse at `/saml2/logout`: where the browser
    /// goes on (the logout URI or sign-in page the logout asked for).
    /// Err: no such logout (unknown, used or expired RelayState, or an
    /// answer to another request).
    pub async fn saml_logout_finish(
        &self,
        pool_id: &str,
        params: &[(String, String)],
        now_ms: i64,
    ) -> Result<String, AuthorizeError> {
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let refused = |why: &str| {
            tracing::warn!(pool_id, why, "SAML LogoutResponse refused");
            AuthorizeError::Page("invalid_request")
        };
        let state = get("RelayState").ok_or_else(|| refused("no RelayState"))?;
        let pending = self
            .store
            .take_auth_session(&crypto::stored_hash(state), now_ms)
            .await
            .map_err(|_| AuthorizeError::Page("server_error"))?
            .filter(|s| s.pool_id == pool_id && s.challenge == LOGOUT)
            .and_then(|s| s.payload)
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
            .ok_or_else(|| refused("unknown RelayState"))?;
        let (answers, ok) =
            saml::logout_response(get("SAMLResponse").unwrap_or("")).map_err(|e| refused(&e))?;
        if Some(answers.as_str()) != pending["request"].as_str() {
            return Err(refused("the response answers another request"));
        }
        if !ok {
            // The session here is over either way; the provider's is not.
            tracing::warn!(pool_id, "the identity provider did not end its session");
        }
        Ok(pending["to"].as_str().unwrap_or("/").to_string())
    }
}

fn decode_response(response: Option<&str>) -> Option<String> {
    let raw: String = response?.chars().filter(|c| !c.is_whitespace()).collect();
    crypto::b64_decode(&raw).and_then(|b| String::from_utf8(b).ok())
}
