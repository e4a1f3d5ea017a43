//! The authorization endpoint's logic (`/oauth2/authorize`, the hosted
//! sign-in pages' sign-in, the code and implicit responses), the
//! authorization-code grant, userInfo, and the hosted sign-in session that
//! gives single sign-on across a pool's clients.
//!
//! Rules (reference/cognito.md §5.1, §5.7; security.md §2.2): the redirect
//! URI must equal a registered callback exactly, else the user sees the
//! error page and is never sent to the unregistered URI; PKCE is S256 only;
//! a code is single use, bound to client, redirect URI and PKCE verifier,
//! and a replayed code revokes what it issued.

use std::collections::HashMap;

use cognate_config::OAuthFlow;
use cognate_store::auth_codes::AuthCode;
use cognate_store::pools::{Client, Pool};
use cognate_store::users::User;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::tokens::Grant;
use crate::users::status;
use crate::{crypto, password, sealed_code, CognitoError, Identity};

/// Codes live five minutes.
pub const CODE_MS: i64 = 5 * 60 * 1000;
/// The longest sealed code handed out (a usual grant seals to 300-500
/// characters); a larger grant is stored instead.
const MAX_SEALED_CODE: usize = 1024;
/// The hosted sign-in session lasts one hour (Cognito's).
pub const SESSION_MS: i64 = 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseType {
    Code,
    Token,
}

/// What the hosted sign-in form leads to.
#[derive(Debug)]
pub enum HostedStep {
    Done(Box<User>),
    /// A temporary password: the user chooses a new one (the session string
    /// carries the step).
    NewPassword {
        session: String,
        username: String,
    },
    /// A second factor: SOFTWARE_TOKEN_MFA, EMAIL_OTP (code sent to
    /// `destination`) or MFA_SETUP (a new authenticator in `setup`).
    Mfa {
        session: String,
        challenge: &'static str,
        username: String,
        setup: Option<crate::totp::TotpSetup>,
        destination: Option<String>,
    },
}

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    pub pool_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub response_type: ResponseType,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    /// `prompt=none`: answer without showing a page, or `login_required`.
    pub prompt_none: bool,
    /// `prompt=login`: ask for the password even with a session.
    pub prompt_login: bool,
    /// The external identity provider the request goes straight to
    /// (`identity_provider=` or `idp_identifier=`); None: the sign-in page.
    pub provider: Option<String>,
}

/// Why an authorization request stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown on the error page, never redirected.
    Page(&'static str),
    /// An unknown client, or a redirect URI it has not registered: the
    /// error page, which names the client as Cognito's does.
    RedirectMismatch { client_id: Option<String> },
    /// Sent back to the client's registered redirect URI.
    Redirect(String),
}

pub(crate) fn redirect_with(uri: &str, pairs: &[(&str, &str)], fragment: bool) -> String {
    let encoded: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    if fragment {
        format!("{uri}#{encoded}")
    } else if uri.contains('?') {
        format!("{uri}&{encoded}")
    } else {
        format!("{uri}?{encoded}")
    }
}

/// PKCE S256: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    crypto::b64url(&crypto::sha256(verifier.as_bytes()))
}

pub(crate) fn pkce_shaped(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl Identity {
    /// Validates `/oauth2/authorize` parameters (also carried by the login page).
    pub async fn authorize_request(
        &self,
        pool_id: &str,
        pairs: &[(String, String)],
    ) -> Result<Authorization, AuthorizeError> {
        let mut p = HashMap::new();
        for (k, v) in pairs {
            if p.insert(k.as_str(), v.as_str()).is_some() {
                return Err(AuthorizeError::Page("invalid_request"));
            }
        }
        let client = match p.get("client_id") {
            Some(id) => self
                .store
                .client(id)
                .await
                .map_err(|_| AuthorizeError::Page("server_error"))?,
            None => None,
        };
        let mismatch = || AuthorizeError::RedirectMismatch {
            client_id: p.get("client_id").map(|c| c.to_string()),
        };
        let Some(client) = client.filter(|c| c.pool_id == pool_id) else {
            return Err(mismatch());
        };
        let Some(redirect_uri) = p
            .get("redirect_uri")
            .filter(|r| client.settings.callback_urls.iter().any(|c| c == *r))
        else {
            return Err(mismatch());
        };
        let state = p.get("state").map(|s| s.to_string());
        let fail = |error: &str, fragment: bool| {
            let mut pairs = vec![("error", error)];
            if let Some(s) = &state {
                pairs.push(("state", s));
            }
            AuthorizeError::Redirect(redirect_with(redirect_uri, &pairs, fragment))
        };
        if p.contains_key("request") || p.contains_key("request_uri") {
            return Err(fail("request_not_supported", false));
        }
        let response_type = match p.get("response_type").copied() {
            Some("code") => ResponseType::Code,
            Some("token") => ResponseType::Token,
            None => return Err(fail("invalid_request", false)),
            Some(_) => return Err(fail("unsupported_response_type", false)),
        };
        let fragment = response_type == ResponseType::Token;
        let flow = match response_type {
            ResponseType::Code => OAuthFlow::Code,
            ResponseType::Token => OAuthFlow::Implicit,
        };
        if !client.settings.allowed_oauth_flows_user_pool_client
            || !client.settings.allowed_oauth_flows.contains(&flow)
        {
            return Err(fail("unauthorized_client", fragment));
        }
        let provider = self
            .requested_provider(
                &client,
                p.get("identity_provider").copied(),
                p.get("idp_identifier").copied(),
            )
            .await
            .map_err(|e| match e {
                Some(kind) => fail(kind, fragment),
                None => AuthorizeError::Page("server_error"),
            })?;
        let scopes: Vec<String> = match p.get("scope") {
            None => client.settings.allowed_oauth_scopes.clone(),
            Some(raw) => {
                let mut out: Vec<String> = Vec::new();
                for s in raw.split(' ').filter(|s| !s.is_empty()) {
                    if !client.settings.allowed_oauth_scopes.iter().any(|a| a == s) {
                        return Err(fail("invalid_scope", fragment));
                    }
                    if !out.iter().any(|o| o == s) {
                        out.push(s.to_string());
                    }
                }
                out
            }
        };
        let needs_openid = ["email", "phone", "profile"];
        if scopes.iter().any(|s| needs_openid.contains(&s.as_str()))
            && !scopes.iter().any(|s| s == "openid")
        {
            return Err(fail("invalid_scope", fragment));
        }
        let code_challenge = match (p.get("code_challenge"), p.get("code_challenge_method")) {
            (None, None) => None,
            (Some(c), Some(&"S256")) if response_type == ResponseType::Code && pkce_shaped(c) => {
                Some(c.to_string())
            }
            _ => return Err(fail("invalid_request", fragment)),
        };
        let prompt = p.get("prompt").copied().unwrap_or("");
        Ok(Authorization {
            pool_id: pool_id.to_string(),
            client_id: client.id,
            redirect_uri: redirect_uri.to_string(),
            response_type,
            scopes,
            state,
            nonce: p.get("nonce").map(|n| n.to_string()),
            code_challenge,
            prompt_none: prompt.split(' ').any(|x| x == "none"),
            prompt_login: prompt.split(' ').any(|x| x == "login"),
            provider,
        })
    }

    /// How the sign-in page of an authorization offers to sign in: with a
    /// password (COGNITO, also for a client that lists no provider) and
    /// through which external providers, in the client's order.
    pub async fn sign_in_options(
        &self,
        a: &Authorization,
    ) -> Result<(bool, Vec<String>), CognitoError> {
        let client = self
            .store
            .client(&a.client_id)
            .await?
            .ok_or_else(|| CognitoError::client_not_found(&a.client_id))?;
        let listed = &client.settings.supported_identity_providers;
        let password = listed.is_empty() || listed.iter().any(|p| p == "COGNITO");
        let mut external = Vec::new();
        for name in listed.iter().filter(|p| *p != "COGNITO") {
            if self.store.provider(&a.pool_id, name).await?.is_some() {
                external.push(name.clone());
            }
        }
        Ok((password, external))
    }

    /// The provider an authorization names: None for the sign-in page
    /// (no provider, or COGNITO). The client must list the provider in
    /// SupportedIdentityProviders (a client with an empty list signs in
    /// with COGNITO only). Err(Some(error)): the OAuth error to send back;
    /// Err(None): the store failed.
    async fn requested_provider(
        &self,
        client: &Client,
        identity_provider: Option<&str>,
        idp_identifier: Option<&str>,
    ) -> std::result::Result<Option<String>, Option<&'static str>> {
        let supported = &client.settings.supported_identity_providers;
        let allows = |name: &str| {
            supported.iter().any(|s| s == name) || (supported.is_empty() && name == "COGNITO")
        };
        let name = match (identity_provider, idp_identifier) {
            (Some(name), _) => name.to_string(),
            (None, Some(id)) => match self
                .store
                .provider_by_identifier(&client.pool_id, id)
                .await
                .map_err(|_| None)?
            {
                Some(p) => p.name,
                None => return Err(Some("invalid_request")),
            },
            (None, None) => return Ok(None),
        };
        if !allows(&name) {
            return Err(Some("invalid_request"));
        }
        if name == "COGNITO" {
            return Ok(None);
        }
        match self.store.provider(&client.pool_id, &name).await {
            Ok(Some(_)) => Ok(Some(name)),
            Ok(None) => Err(Some("invalid_request")),
            Err(_) => Err(None),
        }
    }

    /// The redirect that answers an authorization for a signed-in user: a
    /// code in the query, or tokens in the fragment.
    pub async fn authorize_complete(
        &self,
        a: &Authorization,
        user: &User,
        auth_time: i64,
        now_ms: i64,
    ) -> Result<String, CognitoError> {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        match a.response_type {
            ResponseType::Code => {
                let grant = AuthCode {
                    code_hash: String::new(),
                    pool_id: a.pool_id.clone(),
                    client_id: a.client_id.clone(),
                    sub: user.sub.clone(),
                    redirect_uri: a.redirect_uri.clone(),
                    scopes: a.scopes.join(" "),
                    nonce: a.nonce.clone(),
                    code_challenge: a.code_challenge.clone(),
                    auth_time,
                    created_ms: now_ms,
                    expires_ms: now_ms + CODE_MS,
                    consumed_ms: None,
                    origin_jti: None,
                };
                let sealed =
                    sealed_code::seal(&self.code_key().await?, &grant).ok_or_else(|| {
                        CognitoError::internal("The authorization code could not be sealed.")
                    })?;
                let code = if sealed.len() <= MAX_SEALED_CODE {
                    sealed
                } else {
                    // A grant this large (a long redirect URI or nonce)
                    // would make a code too long for some apps' request
                    // lines: it is stored, and its code is 43 characters.
                    let code = crypto::b64url(&crypto::random_bytes::<32>());
                    self.store
                        .insert_auth_code(&AuthCode {
                            code_hash: crypto::stored_hash(&code),
                            ..grant
                        })
                        .await?;
                    code
                };
                pairs.push(("code", code));
            }
            ResponseType::Token => {
                let pool = self.pool_or_error(&a.pool_id).await?;
                let client = self
                    .store
                    .client(&a.client_id)
                    .await?
                    .ok_or_else(|| CognitoError::client_not_found(&a.client_id))?;
                let grant = Grant {
                    scopes: a.scopes.clone(),
                    with_refresh: false,
                    with_id_token: a.scopes.iter().any(|s| s == "openid"),
                    nonce: a.nonce.as_deref(),
                    auth_time: Some(auth_time),
                    at_hash: true,
                    source: "TokenGeneration_HostedAuth",
                    origin_jti: None,
                    groups: None,
                };
                let issued = self.issue(&pool, &client, user, grant, now_ms).await?;
                if let Some(id) = issued.id_token {
                    pairs.push(("id_token", id));
                }
                pairs.push(("access_token", issued.access_token));
                pairs.push(("expires_in", issued.expires_in.to_string()));
                pairs.push(("token_type", "Bearer".into()));
            }
        }
        if let Some(s) = &a.state {
            pairs.push(("state", s.clone()));
        }
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Ok(redirect_with(
            &a.redirect_uri,
            &refs,
            a.response_type == ResponseType::Token,
        ))
    }

    /// The redirect for `prompt=none` without a session.
    pub fn login_required(a: &Authorization) -> String {
        let mut pairs = vec![("error", "login_required")];
        if let Some(s) = &a.state {
            pairs.push(("state", s));
        }
        redirect_with(
            &a.redirect_uri,
            &pairs,
            a.response_type == ResponseType::Token,
        )
    }

    /// `/oauth2/userInfo`: the claims an access token with `openid` may
    /// read. Cognito sends the `*_verified` flags as strings here.
    pub async fn userinfo(&self, token: &str, now_ms: i64) -> Result<Value, CognitoError> {
        let (_, user, claims) = self.verify_access_token(token, "openid", now_ms).await?;
        let scopes: Vec<&str> = claims
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split(' ')
            .collect();
        let readable = match claims.get("client_id").and_then(Value::as_str) {
            Some(id) => self
                .store
                .client(id)
                .await?
                .and_then(|c| c.settings.read_attributes),
            None => None,
        };
        let mut out = Map::new();
        out.insert("sub".into(), json!(user.sub));
        for (name, value) in &user.attributes {
            let by_scope = match name.as_str() {
                "email" | "email_verified" => scopes.contains(&"email"),
                "phone_number" | "phone_number_verified" => scopes.contains(&"phone"),
                n if n.starts_with("custom:") => true,
                _ => scopes.contains(&"profile"),
            };
            if by_scope
                && readable
                    .as_ref()
                    .is_none_or(|r| r.iter().any(|a| a == name))
            {
                out.insert(name.clone(), json!(value));
            }
        }
        out.insert("username".into(), json!(user.username));
        Ok(Value::Object(out))
    }

    /// The password check of the hosted sign-in page: the JSON API's rules
    /// (lockout, one hash for unknown users, status checks), answered with
    /// the user or the message to show.
    pub async fn hosted_sign_in(
        &self,
        pool: &Pool,
        client_id: &str,
        username: &str,
        given: &str,
        now_ms: i64,
    ) -> Result<HostedStep, CognitoError> {
        if given.chars().count() > password::MAX_PASSWORD_LEN {
            return Err(CognitoError::bad_credentials());
        }
        let user = match self.resolve_user(pool, username).await? {
            Some(u) => Some(u),
            None => {
                self.migrate_user(pool, client_id, username, Some(given), now_ms)
                    .await?
            }
        };
        let Some(user) = user else {
            password::verify(given, None).await;
            return Err(CognitoError::bad_credentials());
        };
        self.pre_authentication(pool, client_id, &user, None)
            .await?;
        let user = self.prove_password(pool, user, given, now_ms).await?;
        match Self::password_state(pool, &user, now_ms)? {
            true => {
                let client = self
                    .store
                    .client(client_id)
                    .await?
                    .ok_or_else(|| CognitoError::client_not_found(client_id))?;
                let session = self
                    .new_session(pool, &client, &user, "NEW_PASSWORD_REQUIRED", now_ms)
                    .await?;
                Ok(HostedStep::NewPassword {
                    session,
                    username: user.username.clone(),
                })
            }
            false => match self
                .hosted_second_factor(pool, client_id, user.clone(), now_ms)
                .await?
            {
                None => Ok(HostedStep::Done(Box::new(user))),
                Some((session, challenge, setup, destination, user)) => Ok(HostedStep::Mfa {
                    session,
                    challenge,
                    username: user.username,
                    setup,
                    destination,
                }),
            },
        }
    }

    /// The hosted page's answer to NEW_PASSWORD_REQUIRED: the user, now
    /// confirmed with the new password.
    pub async fn hosted_new_password(
        &self,
        pool: &Pool,
        client_id: &str,
        session: &str,
        new_password: &str,
        now_ms: i64,
    ) -> Result<User, CognitoError> {
        let expired =
            || CognitoError::not_authorized("Invalid session for the user, session is expired.");
        let hash = crypto::stored_hash(session);
        let s = self
            .store
            .auth_session(&hash, now_ms)
            .await?
            .ok_or_else(expired)?;
        if s.pool_id != pool.id
            || s.client_id != client_id
            || s.challenge != "NEW_PASSWORD_REQUIRED"
        {
            return Err(expired());
        }
        let user = self
            .store
            .user_by_sub(&pool.id, &s.sub)
            .await?
            .ok_or_else(expired)?;
        self.complete_new_password(pool, user, &hash, new_password, &[], now_ms)
            .await
    }

    async fn session_key(&self) -> Result<Vec<u8>, CognitoError> {
        Ok(self.shared_key("hosted.session_key").await?.into_bytes())
    }

    /// A key every node shares, kept in `meta` under `name`: base64 of 32
    /// random bytes, made by the first node that asks.
    pub(crate) async fn shared_key(&self, name: &str) -> Result<String, CognitoError> {
        Ok(self
            .store
            .meta_get_or_insert_with(name, || crypto::b64(&crypto::random_bytes::<32>()))
            .await?)
    }

    /// The value of the hosted sign-in session cookie: pool, user, sign-in
    /// time, expiry and, after a SAML sign-in whose provider signs out too,
    /// that sign-in (`federation`), HMAC-signed with a key every node shares.
    pub async fn session_cookie(
        &self,
        pool_id: &str,
        sub: &str,
        auth_time: i64,
        federation: Option<&Value>,
        now_ms: i64,
    ) -> Result<String, CognitoError> {
        let mut v = json!({"p": pool_id, "s": sub, "t": auth_time, "e": now_ms + SESSION_MS});
        if let Some(f) = federation {
            v["f"] = f.clone();
        }
        let body = crypto::b64url(v.to_string().as_bytes());
        let mac = crypto::hmac_sha256(&self.session_key().await?, body.as_bytes());
        Ok(format!("{body}.{}", crypto::b64url(&mac)))
    }

    /// A session cookie's content, if it is genuine, unexpired and for
    /// this pool.
    async fn session_payload(
        &self,
        pool_id: &str,
        cookie: &str,
        now_ms: i64,
    ) -> Result<Option<Value>, CognitoError> {
        let Some((body, mac)) = cookie.split_once('.') else {
            return Ok(None);
        };
        let expected = crypto::hmac_sha256(&self.session_key().await?, body.as_bytes());
        if !crypto::b64url_decode(mac).is_some_and(|m| crypto::equal(&m, &expected)) {
            return Ok(None);
        }
        let Some(v) =
            crypto::b64url_decode(body).and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        else {
            return Ok(None);
        };
        let fresh = v["e"].as_i64().is_some_and(|e| e > now_ms);
        Ok((v["p"].as_str() == Some(pool_id) && fresh).then_some(v))
    }

    /// The user and sign-in time of a session cookie, if it is genuine,
    /// unexpired, for this pool, and the user may still sign in.
    pub async fn session_user(
        &self,
        pool_id: &str,
        cookie: &str,
        now_ms: i64,
    ) -> Result<Option<(User, i64)>, CognitoError> {
        let Some(v) = self.session_payload(pool_id, cookie, now_ms).await? else {
            return Ok(None);
        };
        let (Some(s), Some(t)) = (v["s"].as_str(), v["t"].as_i64()) else {
            return Ok(None);
        };
        Ok(self
            .store
            .user_by_sub(pool_id, s)
            .await?
            .filter(|u| {
                u.enabled
                    && (u.status == status::CONFIRMED || u.status == status::EXTERNAL_PROVIDER)
            })
            .map(|u| (u, t)))
    }

    /// The federated sign-in a session cookie remembers, if any.
    pub async fn session_federation(
        &self,
        pool_id: &str,
        cookie: &str,
        now_ms: i64,
    ) -> Result<Option<Value>, CognitoError> {
        Ok(self
            .session_payload(pool_id, cookie, now_ms)
            .await?
            .and_then(|mut v| v.get_mut("f").map(Value::take))
            .filter(|f| !f.is_null()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(pkce_shaped("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!pkce_shaped(&"a".repeat(42)));
        assert!(!pkce_shaped(&"a".repeat(129)));
        assert!(!pkce_shaped(&format!("{}+", "a".repeat(50))));
    }

    #[test]
    fn redirects_encode_their_parameters() {
        assert_eq!(
            redirect_with("https://a/cb", &[("code", "x"), ("state", "a b&c#")], false),
            "https://a/cb?code=x&state=a+b%26c%23"
        );
        assert_eq!(
            redirect_with("https://a/cb?k=1", &[("error", "e")], false),
            "https://a/cb?k=1&error=e"
        );
        assert_eq!(
            redirect_with("https://a/cb", &[("access_token", "t")], true),
            "https://a/cb#access_token=t"
        );
    }
}
