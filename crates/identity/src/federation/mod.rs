//! Federated sign-in: the hosted pages send the browser to an external
//! identity provider (OpenID Connect, Google, Facebook, Login with Amazon,
//! Sign in with Apple) and finish at `/oauth2/idpresponse`, where the
//! provider's answer becomes a pool user and the app gets its code or
//! tokens as for a password sign-in.
//!
//! Rules: the `state` sent to the provider is single use (kept hashed in
//! the store, so any node can finish what another began), lives ten
//! minutes and is bound to the browser that began the flow by a cookie;
//! OpenID providers also get a nonce and PKCE (S256); an ID token is
//! verified (signature by the provider's JWKS, issuer, audience, expiry,
//! nonce) before anything is written. Every failure after the app is known
//! goes back to its redirect URI with `error` and `error_description`;
//! before, to the error page. Nothing is ever signed in on a failure.
//!
//! Identity knows no HTTP: the server hands in a [`ProviderHttp`] for the
//! calls to providers, as it hands in the function runner for triggers.

mod protocol;
pub mod saml;
mod saml_flow;
mod users;

pub(crate) use protocol::default_subject_claim;
pub use users::federated_username;
pub(crate) use users::identity_entry;

use std::collections::HashMap;
use std::sync::Mutex;

use cognate_store::codes::AuthSession;
use cognate_store::users::User;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::authorize::{redirect_with, Authorization, AuthorizeError, ResponseType};
use crate::triggers::BoxFuture;
use crate::{crypto, Identity};

/// How long a browser may take at the provider.
pub const STATE_MS: i64 = 10 * 60 * 1000;
/// Discovery documents and key sets are read again after this long.
const CACHE_MS: i64 = 10 * 60 * 1000;
/// An unknown `kid` reloads a key set at most this often.
const RELOAD_COOLDOWN_MS: i64 = 10_000;
/// The challenge name of a federation's stored state.
const CHALLENGE: &str = "FEDERATION";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A call to a provider.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// A form body (`application/x-www-form-urlencoded`), for POST.
    pub form: Option<Vec<(String, String)>>,
}

/// A provider's answer.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Makes the HTTP calls to identity providers for the identity core.
pub trait ProviderHttp: Send + Sync {
    /// Sends the request and reads the whole answer; Err: why no answer
    /// came (unreachable, timeout, too large).
    fn send(&self, request: Outbound) -> BoxFuture<'_, std::result::Result<Inbound, String>>;
}

/// Documents read from providers (discovery, key sets), by URL.
#[derive(Default)]
pub(crate) struct ProviderCache {
    entries: Mutex<HashMap<String, Cached>>,
}

#[derive(Clone)]
struct Cached {
    value: Value,
    loaded_ms: i64,
}

/// What the state of one federated sign-in keeps between the two legs.
#[derive(Serialize, Deserialize)]
struct Pending {
    authorization: Authorization,
    provider: String,
    /// The redirect URI given to the provider (`.../oauth2/idpresponse`),
    /// or the SAML assertion consumer service (`.../saml2/idpresponse`).
    callback: String,
    /// The ID of the SAML AuthnRequest the response must answer.
    #[serde(default)]
    saml_request: Option<String>,
    verifier: String,
    nonce: String,
    /// Hash of the browser-binding cookie's value.
    binding: String,
}

/// A failure the app hears of through its redirect URI.
pub(crate) struct Failure {
    pub error: &'static str,
    /// None: the provider failed; the app is told so with the provider's
    /// name, the cause only goes to the log.
    pub description: Option<String>,
}

impl Failure {
    pub(crate) fn new(error: &'static str, description: impl Into<String>) -> Failure {
        Failure {
            error,
            description: Some(description.into()),
        }
    }

    /// The provider could not be used (unreachable, a bad answer): the
    /// cause is logged, the app hears a generic description.
    pub(crate) fn provider(at: &str, cause: impl std::fmt::Display) -> Failure {
        tracing::warn!(at, cause = %cause, "federated sign-in failed at the provider");
        Failure {
            error: "invalid_request",
            description: None,
        }
    }

    fn internal() -> Failure {
        Failure::new("server_error", "An internal error occurred.")
    }
}

impl From<cognate_store::StoreError> for Failure {
    fn from(e: cognate_store::StoreError) -> Failure {
        crate::CognitoError::from(e).into()
    }
}

impl From<crate::CognitoError> for Failure {
    fn from(e: crate::CognitoError) -> Failure {
        if e.is_internal() {
            Failure::internal()
        } else {
            Failure::new("invalid_request", e.message)
        }
    }
}

pub(crate) fn failure_redirect(a: &Authorization, provider: &str, f: &Failure) -> AuthorizeError {
    let description = f.description.clone().unwrap_or_else(|| {
        format!("The identity provider {provider} could not complete the sign-in.")
    });
    let mut pairs = vec![
        ("error_description", description.as_str()),
        ("error", f.error),
    ];
    if let Some(s) = &a.state {
        pairs.push(("state", s));
    }
    AuthorizeError::Redirect(redirect_with(
        &a.redirect_uri,
        &pairs,
        a.response_type == ResponseType::Token,
    ))
}

/// Where the browser goes to sign in at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// A redirect to this URL.
    Redirect(String),
    /// A form the browser posts (the SAML HTTP-POST binding).
    Post {
        action: String,
        fields: Vec<(String, String)>,
    },
}

impl Identity {
    /// The client for the calls to providers (set by the server).
    pub fn set_provider_http(&self, http: std::sync::Arc<dyn ProviderHttp>) {
        *self.provider_http.write().expect("provider http lock") = Some(http);
    }

    pub(crate) fn provider_http(&self) -> Option<std::sync::Arc<dyn ProviderHttp>> {
        self.provider_http
            .read()
            .expect("provider http lock")
            .clone()
    }

    /// Begins a federated sign-in for an authorization that names a
    /// provider: stores the state and says where the browser goes.
    /// `origin` is this domain as the browser reached it (`https://host`);
    /// `binding` is the value of the cookie the browser gets with it.
    pub async fn federation_begin(
        &self,
        a: &Authorization,
        origin: &str,
        binding: &str,
        now_ms: i64,
    ) -> Result<Begin, AuthorizeError> {
        let name = a
            .provider
            .as_deref()
            .ok_or(AuthorizeError::Page("invalid_request"))?;
        let provider = match self.store.provider(&a.pool_id, name).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Err(failure_redirect(
                    a,
                    name,
                    &Failure::new(
                        "invalid_request",
                        format!("Unknown identity provider {name}."),
                    ),
                ))
            }
            Err(_) => return Err(failure_redirect(a, name, &Failure::internal())),
        };
        let state = crypto::b64url(&crypto::random_bytes::<32>());
        let is_saml = provider.provider_type == "SAML";
        let mut pending = Pending {
            authorization: a.clone(),
            provider: provider.name.clone(),
            callback: if is_saml {
                format!("{origin}/saml2/idpresponse")
            } else {
                format!("{origin}/oauth2/idpresponse")
            },
            saml_request: None,
            verifier: crypto::b64url(&crypto::random_bytes::<32>()),
            nonce: crypto::b64url(&crypto::random_bytes::<24>()),
            binding: crypto::stored_hash(binding),
        };
        let begin = if is_saml {
            let id = format!("_{}", crypto::hex(&crypto::random_bytes::<20>()));
            pending.saml_request = Some(id.clone());
            self.saml_begin(&provider, &pending, &id, &state, now_ms)
                .await
        } else {
            self.authorization_url(&provider, &pending, &state, now_ms)
                .await
                .map(Begin::Redirect)
        };
        let begin = match begin {
            Ok(b) => b,
            Err(f) => return Err(failure_redirect(a, name, &f)),
        };
        let session = AuthSession {
            session_hash: crypto::stored_hash(&state),
            pool_id: a.pool_id.clone(),
            client_id: a.client_id.clone(),
            sub: String::new(),
            challenge: CHALLENGE.into(),
            created_ms: now_ms,
            expires_ms: now_ms + STATE_MS,
            payload: Some(serde_json::to_string(&pending).expect("state serializes")),
        };
        if self.store.insert_auth_session(&session).await.is_err() {
            return Err(failure_redirect(a, name, &Failure::internal()));
        }
        Ok(begin)
    }

    /// Finishes a federated sign-in with the provider's answer (the query
    /// or form at `/oauth2/idpresponse` or `/saml2/idpresponse`) and the
    /// browser's binding cookie: the authorization to answer and the
    /// signed-in user. `origin` is this domain as the browser reached it.
    pub async fn federation_finish(
        &self,
        pool_id: &str,
        origin: &str,
        params: &[(String, String)],
        binding: Option<&str>,
        now_ms: i64,
    ) -> Result<FederatedSignIn, AuthorizeError> {
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        // OAuth providers answer with `state`, SAML ones with RelayState.
        let Some(state) = get("state").or_else(|| get("RelayState")) else {
            return Err(AuthorizeError::Page("invalid_request"));
        };
        let taken = self
            .store
            .take_auth_session(&crypto::stored_hash(state), now_ms)
            .await
            .map_err(|_| AuthorizeError::Page("server_error"))?;
        let Some(session) = taken.filter(|s| s.pool_id == pool_id && s.challenge == CHALLENGE)
        else {
            // A SAML response this server did not ask for: IdP-initiated,
            // if the provider allows it.
            if get("SAMLResponse").is_some() {
                return self
                    .saml_idp_initiated(pool_id, origin, params, now_ms)
                    .await;
            }
            return Err(AuthorizeError::Page("invalid_request"));
        };
        let Some(pending) = session
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<Pending>(p).ok())
        else {
            return Err(AuthorizeError::Page("server_error"));
        };
        // A state finished by another browser than the one that began it
        // is a forged sign-in (login CSRF): refused without a redirect.
        if !binding.is_some_and(|b| {
            crypto::equal(
                crypto::stored_hash(b).as_bytes(),
                pending.binding.as_bytes(),
            )
        }) {
            return Err(AuthorizeError::Page("invalid_request"));
        }
        let a = &pending.authorization;
        if let Some(error) = get("error") {
            let kind = if error == "access_denied" {
                "access_denied"
            } else {
                "invalid_request"
            };
            let description = get("error_description").unwrap_or(error);
            return Err(failure_redirect(
                a,
                &pending.provider,
                &Failure::new(kind, description),
            ));
        }
        let result = async {
            let provider = self
                .store
                .provider(pool_id, &pending.provider)
                .await?
                .ok_or_else(|| {
                    Failure::new(
                        "invalid_request",
                        format!("Unknown identity provider {}.", pending.provider),
                    )
                })?;
            let identity = if provider.provider_type == "SAML" {
                self.saml_identity(&provider, &pending, get("SAMLResponse"), now_ms)
                    .await?
            } else {
                let code = get("code").filter(|c| !c.is_empty()).ok_or_else(|| {
                    Failure::new("invalid_request", "The identity provider sent no code.")
                })?;
                self.provider_identity(&provider, &pending, code, params, now_ms)
                    .await?
            };
            let session = identity.session.clone();
            let user = self.federated_user(&provider, a, identity, now_ms).await?;
            Ok::<_, Failure>((user, session))
        }
        .await;
        match result {
            Ok((user, session)) => Ok(FederatedSignIn {
                authorization: pending.authorization,
                user,
                session,
            }),
            Err(f) => Err(failure_redirect(a, &pending.provider, &f)),
        }
    }

    /// A document from a provider (discovery, key set), cached for
    /// [`CACHE_MS`]; `fresh` reloads it unless it was loaded in the last
    /// [`RELOAD_COOLDOWN_MS`].
    pub(crate) async fn provider_document(
        &self,
        url: &str,
        fresh: bool,
        now_ms: i64,
    ) -> Result<Value, Failure> {
        self.provider_fetch(url, fresh, true, now_ms).await
    }

    /// [`Self::provider_document`] for JSON (`json`) or text (a string).
    pub(crate) async fn provider_fetch(
        &self,
        url: &str,
        fresh: bool,
        json: bool,
        now_ms: i64,
    ) -> Result<Value, Failure> {
        let cached = self
            .provider_cache
            .entries
            .lock()
            .expect("cache lock")
            .get(url)
            .cloned();
        if let Some(c) = &cached {
            let age = now_ms - c.loaded_ms;
            if (0..CACHE_MS).contains(&age) && (!fresh || age < RELOAD_COOLDOWN_MS) {
                return Ok(c.value.clone());
            }
        }
        let answer = self
            .provider_call(Outbound {
                method: Method::Get,
                url: url.to_string(),
                headers: vec![(
                    "accept".into(),
                    if json {
                        "application/json"
                    } else {
                        "application/xml"
                    }
                    .into(),
                )],
                form: None,
            })
            .await?;
        let value = if json {
            json_body(url, &answer)?
        } else if (200..300).contains(&answer.status) {
            Value::String(String::from_utf8_lossy(&answer.body).into_owned())
        } else {
            return Err(Failure::provider(url, format!("status {}", answer.status)));
        };
        self.provider_cache
            .entries
            .lock()
            .expect("cache lock")
            .insert(
                url.to_string(),
                Cached {
                    value: value.clone(),
                    loaded_ms: now_ms,
                },
            );
        Ok(value)
    }

    pub(crate) async fn provider_call(&self, request: Outbound) -> Result<Inbound, Failure> {
        let http = self
            .provider_http()
            .ok_or_else(|| Failure::provider(&request.url, "no HTTP client"))?;
        let url = request.url.clone();
        http.send(request)
            .await
            .map_err(|e| Failure::provider(&url, e))
    }
}

/// A provider's JSON answer, which must be a 2xx with a JSON object.
pub(crate) fn json_body(url: &str, answer: &Inbound) -> Result<Value, Failure> {
    if !(200..300).contains(&answer.status) {
        return Err(Failure::provider(
            url,
            format!(
                "status {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
            ),
        ));
    }
    match serde_json::from_slice::<Value>(&answer.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(Failure::provider(url, "the answer is not a JSON object")),
    }
}

/// What a provider says of the person who signed in.
pub(crate) struct ProviderIdentity {
    /// The provider's stable identifier of the person.
    pub subject: String,
    /// Every attribute the provider gave (ID token claims, userinfo).
    pub claims: serde_json::Map<String, Value>,
    /// What the hosted session keeps to sign out at the provider too
    /// (SAML with IDPSignout).
    pub session: Option<Value>,
}

/// A finished federated sign-in.
#[derive(Debug)]
pub struct FederatedSignIn {
    pub authorization: Authorization,
    pub user: User,
    /// For the hosted session cookie: the provider session to end at
    /// logout (SAML with IDPSignout), if any.
    pub session: Option<Value>,
}

#[cfg(test)]
mod tests;
