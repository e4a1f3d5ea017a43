//! The OAuth 2.0 endpoints of a pool's domain: the token endpoint's
//! grants and the revocation endpoint (RFC 6749, RFC 7009, Cognito's rules
//! in reference/cognito.md §5.4, §5.6, §5.7).
//!
//! Requests are parsed at the edge into a [`TokenRequest`] whose grant
//! carries exactly its fields; failures are [`OAuthError`]s named after the
//! RFC, apart from the JSON API's Cognito errors.

use cognate_config::{AuthFlow, OAuthFlow};
use cognate_store::pools::{Client, Pool};
use serde_json::json;

use crate::keys::Purpose;
use crate::{crypto, jwt, CognitoError, Identity};

/// RFC 6749 §5.2 error codes (and RFC 7009's `unsupported_token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    UnsupportedTokenType,
    ServerError,
}

impl OAuthErrorCode {
    /// The `error` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::UnsupportedTokenType => "unsupported_token_type",
            OAuthErrorCode::ServerError => "server_error",
        }
    }
}

/// An OAuth error: its code and description; the HTTP status each gets is
/// the server's choice (server/src/errors.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
    /// `invalid_client` for a client that authenticated with HTTP Basic is
    /// answered 401 with `WWW-Authenticate` (RFC 6749 §5.2).
    pub basic_auth: bool,
}

impl OAuthError {
    fn new(code: OAuthErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
            basic_auth: false,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidGrant, d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::UnauthorizedClient, d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::UnsupportedGrantType, d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidScope, d)
    }
    pub fn unsupported_token_type(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::UnsupportedTokenType, d)
    }
    pub fn server_error() -> OAuthError {
        OAuthError::new(
            OAuthErrorCode::ServerError,
            "The server could not complete the request.",
        )
    }

    /// A failure on the server's side, never the client's.
    pub fn is_server_error(&self) -> bool {
        self.code == OAuthErrorCode::ServerError
    }
}

impl From<cognate_store::StoreError> for OAuthError {
    fn from(e: cognate_store::StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        OAuthError::server_error()
    }
}

/// The token endpoint's answer (RFC 6749 §5.1): the ID token and the
/// refresh token only where the grant gives them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds the access token lives.
    pub expires_in: u64,
    pub token_type: &'static str,
}

impl TokenResponse {
    pub(crate) fn issued(issued: crate::tokens::Issued) -> TokenResponse {
        TokenResponse {
            id_token: issued.id_token,
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
            expires_in: issued.expires_in,
            token_type: "Bearer",
        }
    }
}

/// How the client identified itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    pub client_id: String,
    pub secret: Option<String>,
    pub via_basic: bool,
}

/// A grant with exactly its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    ClientCredentials {
        scope: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
    },
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub client: ClientAuth,
    pub grant: Grant,
}

/// Parses the form parameters once: a repeated parameter is refused
/// (RFC 6749 §3.1), empty values count as absent.
pub fn form_map(
    pairs: &[(String, String)],
) -> Result<std::collections::HashMap<String, String>, OAuthError> {
    let mut map = std::collections::HashMap::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), v.clone()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "Parameter {k} is repeated."
            )));
        }
    }
    map.retain(|_, v| !v.is_empty());
    Ok(map)
}

/// The client's credentials: HTTP Basic (`client_secret_basic`) or the
/// form (`client_secret_post`, or only `client_id` for public clients).
pub fn client_auth(
    form: &std::collections::HashMap<String, String>,
    authorization: Option<&str>,
) -> Result<ClientAuth, OAuthError> {
    let basic = match authorization {
        Some(h) => {
            let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client(
                    "Only HTTP Basic client authentication is supported.",
                ));
            }
            let decoded = crypto::b64_decode(rest.trim())
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError {
                    basic_auth: true,
                    ..OAuthError::invalid_client("Malformed Basic credentials.")
                })?;
            let (id, secret) = decoded.split_once(':').ok_or_else(|| OAuthError {
                basic_auth: true,
                ..OAuthError::invalid_client("Malformed Basic credentials.")
            })?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded.
            Some((
                crypto::percent_decode(id, true),
                crypto::percent_decode(secret, true),
            ))
        }
        None => None,
    };
    match basic {
        Some((id, secret)) => {
            if form.contains_key("client_secret") {
                return Err(OAuthError::invalid_request(
                    "Use one client authentication method, not two.",
                ));
            }
            if form.get("client_id").is_some_and(|f| *f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Basic credentials.",
                ));
            }
            Ok(ClientAuth {
                client_id: id,
                secret: Some(secret),
                via_basic: true,
            })
        }
        None => Ok(ClientAuth {
            client_id: form
                .get("client_id")
                .cloned()
                .ok_or_else(|| OAuthError::invalid_request("client_id is required."))?,
            secret: form.get("client_secret").cloned(),
            via_basic: false,
        }),
    }
}

/// Parses a token request from its form and `Authorization` header.
pub fn parse_token_request(
    pairs: &[(String, String)],
    authorization: Option<&str>,
) -> Result<TokenRequest, OAuthError> {
    let form = form_map(pairs)?;
    let client = client_auth(&form, authorization)?;
    let grant = match form.get("grant_type").map(String::as_str) {
        None => return Err(OAuthError::invalid_request("grant_type is required.")),
        Some("client_credentials") => Grant::ClientCredentials {
            scope: form.get("scope").cloned(),
        },
        Some("refresh_token") => Grant::RefreshToken {
            refresh_token: form
                .get("refresh_token")
                .cloned()
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is required."))?,
        },
        Some("authorization_code") => Grant::AuthorizationCode {
            code: form
                .get("code")
                .cloned()
                .ok_or_else(|| OAuthError::invalid_request("code is required."))?,
            redirect_uri: form.get("redirect_uri").cloned(),
            code_verifier: form.get("code_verifier").cloned(),
        },
        Some(other) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "Unsupported grant type {other}."
            )))
        }
    };
    Ok(TokenRequest { client, grant })
}

impl Identity {
    /// Authenticates the client of a request to `pool`'s domain.
    async fn oauth_client(&self, pool: &Pool, auth: &ClientAuth) -> Result<Client, OAuthError> {
        let fail = |d: &str| OAuthError {
            basic_auth: auth.via_basic,
            ..OAuthError::invalid_client(d)
        };
        let client = match self.store.client(&auth.client_id).await? {
            Some(c) if c.pool_id == pool.id => c,
            _ => return Err(fail("Unknown client.")),
        };
        match (&client.secret, &auth.secret) {
            (None, None) => Ok(client),
            (Some(s), Some(given)) if crypto::equal(s.as_bytes(), given.as_bytes()) => Ok(client),
            (None, Some(_)) => Err(fail("The client has no secret.")),
            _ => Err(fail("Client authentication failed.")),
        }
    }

    /// The token endpoint of a pool's domain.
    pub async fn oauth_token(
        &self,
        pool_id: &str,
        req: TokenRequest,
        now_ms: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let pool = self
            .store
            .pool(pool_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_client("Unknown user pool."))?;
        let client = self.oauth_client(&pool, &req.client).await?;
        match req.grant {
            Grant::ClientCredentials { scope } => {
                self.client_credentials(&pool, &client, scope.as_deref(), now_ms)
                    .await
            }
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                // The code is taken (and so burned) before anything else is
                // checked: a code presented by the wrong client is spent.
                self.code_grant(
                    &pool,
                    &client,
                    &code,
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                    now_ms,
                )
                .await
            }
            Grant::RefreshToken { refresh_token } => {
                if !client.settings.allows(AuthFlow::AllowRefreshTokenAuth) {
                    return Err(OAuthError::unauthorized_client(
                        "The client may not use refresh tokens.",
                    ));
                }
                let (issued, _) = self
                    .refresh(&pool, &client, &refresh_token, true, now_ms)
                    .await
                    .map_err(|e: CognitoError| {
                        if e.is_internal() {
                            OAuthError::server_error()
                        } else {
                            OAuthError::invalid_grant(e.message)
                        }
                    })?;
                Ok(TokenResponse::issued(issued))
            }
        }
    }

    /// client_credentials: a client with a secret and the flow, custom scopes
    /// only, narrowed to what the client may have; the token's subject is
    /// the client.
    async fn client_credentials(
        &self,
        pool: &Pool,
        client: &Client,
        scope: Option<&str>,
        now_ms: i64,
    ) -> Result<TokenResponse, OAuthError> {
        if client.secret.is_none() {
            return Err(OAuthError::invalid_client(
                "Public clients cannot use client_credentials.",
            ));
        }
        if !client.settings.allowed_oauth_flows_user_pool_client
            || !client
                .settings
                .allowed_oauth_flows
                .contains(&OAuthFlow::ClientCredentials)
        {
            return Err(OAuthError::unauthorized_client(
                "The client may not use client_credentials.",
            ));
        }
        let existing = self
            .custom_scopes(&pool.id)
            .await
            .map_err(|_| OAuthError::server_error())?;
        let allowed: Vec<&String> = client
            .settings
            .allowed_oauth_scopes
            .iter()
            .filter(|s| existing.contains(s))
            .collect();
        let granted: Vec<String> = match scope {
            None => allowed.iter().map(|s| s.to_string()).collect(),
            Some(requested) => {
                let mut out: Vec<String> = Vec::new();
                for s in requested.split(' ').filter(|s| !s.is_empty()) {
                    if !allowed.iter().any(|a| *a == s) {
                        return Err(OAuthError::invalid_scope(format!(
                            "Scope {s} is not allowed for this client."
                        )));
                    }
                    if !out.iter().any(|o| o == s) {
                        out.push(s.to_string());
                    }
                }
                out
            }
        };
        if granted.is_empty() {
            return Err(OAuthError::invalid_scope("No scope can be granted."));
        }
        let keys = self
            .keys(&pool.id, now_ms)
            .await
            .map_err(|_| OAuthError::server_error())?;
        let key = keys
            .signing(Purpose::Access)
            .ok_or_else(OAuthError::server_error)?;
        let now = now_ms / 1000;
        let life = client.settings.access_token_validity.seconds() as i64;
        // A V3_0 pre-token-generation function sees machine tokens too.
        let o = self
            .pre_token(crate::triggers::TokenRequest {
                pool,
                client_id: &client.id,
                user: None,
                groups: &[],
                scopes: &granted,
                source: "TokenGeneration_ClientCredentials",
            })
            .await
            .map_err(|e| {
                if e.is_internal() {
                    OAuthError::server_error()
                } else {
                    OAuthError::invalid_request(e.message)
                }
            })?;
        let mut scopes: Vec<String> = granted
            .into_iter()
            .filter(|s| !o.scopes_suppress.contains(s))
            .collect();
        for s in &o.scopes_add {
            if !scopes.contains(s) && !o.scopes_suppress.contains(s) {
                scopes.push(s.clone());
            }
        }
        let mut claims = json!({
            "sub": client.id,
            "token_use": "access",
            "scope": scopes.join(" "),
            "auth_time": now,
            "iss": self.issuer(pool),
            "exp": now + life,
            "iat": now,
            "version": 2,
            "jti": uuid::Uuid::new_v4().to_string(),
            "client_id": client.id,
        });
        if let Some(m) = claims.as_object_mut() {
            for k in &o.access_suppress {
                m.remove(k);
            }
            m.extend(o.access_add.clone());
        }
        Ok(TokenResponse {
            id_token: None,
            access_token: jwt::sign(key, &claims),
            refresh_token: None,
            expires_in: life as u64,
            token_type: "Bearer",
        })
    }

    /// The revocation endpoint (RFC 7009): revokes a refresh token and what
    /// was issued from it. Unknown, foreign or already revoked tokens get
    /// the same empty 200.
    pub async fn oauth_revoke(
        &self,
        pool_id: &str,
        pairs: &[(String, String)],
        authorization: Option<&str>,
        now_ms: i64,
    ) -> Result<(), OAuthError> {
        let form = form_map(pairs)?;
        let auth = client_auth(&form, authorization)?;
        let pool = self
            .store
            .pool(pool_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_client("Unknown user pool."))?;
        let client = self.oauth_client(&pool, &auth).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
        if !client.settings.enable_token_revocation {
            return Err(OAuthError::invalid_request(
                "Token revocation is disabled for this client.",
            ));
        }
        if token.split('.').count() == 3 {
            return Err(OAuthError::unsupported_token_type(
                "Only refresh tokens can be revoked.",
            ));
        }
        if let Some(rt) = self
            .store
            .refresh_token(&crypto::stored_hash(token))
            .await?
        {
            if rt.origin.client_id == client.id {
                self.store
                    .revoke_origin(&rt.origin.origin_jti, now_ms)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn grants_parse_into_their_fields() {
        let r = parse_token_request(
            &pairs(&[("grant_type", "client_credentials"), ("scope", "api/read")]),
            Some(&format!("Basic {}", crypto::b64(b"cid:sec"))),
        )
        .unwrap();
        assert_eq!(
            r.client,
            ClientAuth {
                client_id: "cid".into(),
                secret: Some("sec".into()),
                via_basic: true
            }
        );
        assert_eq!(
            r.grant,
            Grant::ClientCredentials {
                scope: Some("api/read".into())
            }
        );
        let r = parse_token_request(
            &pairs(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt"),
                ("client_id", "c"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            r.grant,
            Grant::RefreshToken {
                refresh_token: "rt".into()
            }
        );
        assert!(!r.client.via_basic && r.client.secret.is_none());
    }

    #[test]
    fn malformed_requests_get_rfc_errors() {
        let code = |p: &[(&str, &str)], auth: Option<&str>| {
            parse_token_request(&pairs(p), auth)
                .unwrap_err()
                .code
                .as_str()
        };
        assert_eq!(code(&[("client_id", "c")], None), "invalid_request");
        assert_eq!(
            code(&[("grant_type", "password"), ("client_id", "c")], None),
            "unsupported_grant_type"
        );
        assert_eq!(
            code(&[("grant_type", "refresh_token"), ("client_id", "c")], None),
            "invalid_request"
        );
        assert_eq!(
            code(
                &[
                    ("grant_type", "client_credentials"),
                    ("grant_type", "client_credentials"),
                    ("client_id", "c")
                ],
                None
            ),
            "invalid_request"
        );
        assert_eq!(
            code(&[("grant_type", "client_credentials")], None),
            "invalid_request"
        );
        let basic = format!("Basic {}", crypto::b64(b"a:s"));
        assert_eq!(
            code(
                &[("grant_type", "client_credentials"), ("client_id", "b")],
                Some(&basic)
            ),
            "invalid_request"
        );
        assert_eq!(
            code(
                &[("grant_type", "client_credentials"), ("client_secret", "s")],
                Some(&basic)
            ),
            "invalid_request"
        );
        let bad = parse_token_request(
            &pairs(&[("grant_type", "client_credentials")]),
            Some("Basic !!!"),
        )
        .unwrap_err();
        assert_eq!(
            (bad.code, bad.basic_auth),
            (OAuthErrorCode::InvalidClient, true)
        );
        assert_eq!(
            code(&[("grant_type", "client_credentials")], Some("Bearer x")),
            "invalid_client"
        );
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let r = client_auth(
            &Default::default(),
            Some(&format!("Basic {}", crypto::b64(b"my%2Bid:a+b%3A"))),
        )
        .unwrap();
        assert_eq!(
            (r.client_id.as_str(), r.secret.as_deref()),
            ("my+id", Some("a b:"))
        );
    }
}
