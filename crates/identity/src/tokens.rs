//! Token issuance, refresh and the access-token checks of the JSON API.
//!
//! Claim sets follow Cognito (reference/cognito.md §2): ID and access tokens
//! signed by different keys, `origin_jti` shared by every token of one
//! authentication, `event_id`, `version: 2` in access tokens, groups only
//! when the user has some. Refresh tokens are opaque random handles in the
//! 5-part JWE shape Cognito's clients expect; the server keeps only their
//! SHA-256 and finds them by it.

use cognate_store::auth_codes::AuthCode;
use cognate_store::pools::{Client, Pool};
use cognate_store::tokens::{Origin, RefreshGrant};
use cognate_store::users::User;
use serde_json::{json, Map, Value};

use crate::error::{CognitoError, Result};
use crate::keys::Purpose;
use crate::{crypto, jwt, Identity};

/// The scope of tokens from the JSON API's sign-in flows.
pub const ADMIN_SCOPE: &str = "aws.cognito.signin.user.admin";

/// Tokens handed out by one issuance.
#[derive(Debug, Clone)]
pub struct Issued {
    pub id_token: Option<String>,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Access-token lifetime, seconds.
    pub expires_in: u64,
    /// The authentication these tokens belong to.
    pub origin_jti: String,
}

impl Issued {
    /// `AuthenticationResult` of the JSON API.
    pub fn authentication_result(&self) -> Value {
        let mut r = Map::new();
        r.insert("AccessToken".into(), json!(self.access_token));
        r.insert("ExpiresIn".into(), json!(self.expires_in));
        r.insert("TokenType".into(), json!("Bearer"));
        if let Some(rt) = &self.refresh_token {
            r.insert("RefreshToken".into(), json!(rt));
        }
        if let Some(id) = &self.id_token {
            r.insert("IdToken".into(), json!(id));
        }
        Value::Object(r)
    }
}

/// What an issuance is for.
pub struct Grant<'a> {
    pub scopes: Vec<String>,
    pub with_refresh: bool,
    /// Whether an ID token is issued (API flows: always; OAuth: with `openid`).
    pub with_id_token: bool,
    pub nonce: Option<&'a str>,
    /// When the user authenticated (epoch seconds); `None`: now.
    pub auth_time: Option<i64>,
    /// Put `at_hash` in the ID token (tokens from the OAuth endpoints).
    pub at_hash: bool,
    /// The pre-token-generation trigger source (`TokenGeneration_HostedAuth`, ...).
    pub source: &'static str,
    /// The sign-in's id when it was chosen before issuing (the code flow
    /// records it on the code as it takes it); `None`: a new one.
    pub origin_jti: Option<String>,
    /// The user's group names when they were read with the user (in token
    /// order); `None`: read them.
    pub groups: Option<Vec<String>>,
}

/// Attributes whose values are booleans or numbers in the ID token.
fn id_claim_value(name: &str, value: &str) -> Value {
    match name {
        "email_verified" | "phone_number_verified" => json!(value == "true"),
        "updated_at" => value
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(value)),
        "address" => json!({ "formatted": value }),
        // The attribute holds JSON; the token carries the array, with
        // `primary` and `dateCreated` as strings (as Cognito writes them).
        "identities" => match serde_json::from_str::<Value>(value) {
            Ok(Value::Array(list)) => Value::Array(
                list.into_iter()
                    .map(|mut e| {
                        for k in ["primary", "dateCreated"] {
                            if let Some(v) = e.get_mut(k) {
                                if !v.is_string() && !v.is_null() {
                                    *v = json!(v.to_string());
                                }
                            }
                        }
                        e
                    })
                    .collect(),
            ),
            _ => json!(value),
        },
        _ => json!(value),
    }
}

fn new_refresh_token() -> String {
    // {"cty":"JWT","enc":"A256GCM","alg":"RSA-OAEP"}, the header Cognito's
    // refresh tokens carry.
    const HEADER: &str = "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ";
    format!(
        "{HEADER}.{}.{}.{}.{}",
        crypto::b64url(&crypto::random_bytes::<256>()),
        crypto::b64url(&crypto::random_bytes::<12>()),
        crypto::b64url(&crypto::random_bytes::<96>()),
        crypto::b64url(&crypto::random_bytes::<16>()),
    )
}

impl Identity {
    /// Issues tokens for a fresh authentication.
    pub async fn issue(
        &self,
        pool: &Pool,
        client: &Client,
        user: &User,
        grant: Grant<'_>,
        now_ms: i64,
    ) -> Result<Issued> {
        self.issue_taking_code(pool, client, user, grant, None, now_ms)
            .await?
            .ok_or_else(|| CognitoError::internal("No code was to be taken."))
    }

    /// [`Identity::issue`], taking a sealed authorization code in the same
    /// write as the authentication (with its refresh token); `None` when
    /// the code was taken before (nothing is issued nor recorded).
    pub(crate) async fn issue_taking_code(
        &self,
        pool: &Pool,
        client: &Client,
        user: &User,
        mut grant: Grant<'_>,
        code: Option<&AuthCode>,
        now_ms: i64,
    ) -> Result<Option<Issued>> {
        let origin_jti = grant
            .origin_jti
            .take()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let auth_time = grant.auth_time.unwrap_or(now_ms / 1000);
        let refresh = grant.with_refresh.then(new_refresh_token);
        let life_ms = |v: cognate_config::Validity| (v.seconds() as i64).saturating_mul(1000);
        let expires_ms = now_ms
            + if grant.with_refresh {
                life_ms(client.settings.refresh_token_validity)
            } else {
                life_ms(client.settings.access_token_validity)
                    .max(life_ms(client.settings.id_token_validity))
            };
        let origin = Origin {
            origin_jti: origin_jti.clone(),
            pool_id: pool.id.clone(),
            client_id: client.id.clone(),
            sub: user.sub.clone(),
            auth_time,
            scopes: grant.scopes.join(" "),
            created_ms: now_ms,
            expires_ms,
            revoked_ms: None,
        };
        let refresh_hash = refresh.as_deref().map(crypto::stored_hash);
        match (code, &refresh_hash) {
            (None, _) => {
                self.store
                    .insert_origin(&origin, refresh_hash.as_deref())
                    .await?
            }
            (Some(code), Some(hash)) => {
                if !self
                    .store
                    .insert_origin_taking_code(&origin, hash, code)
                    .await?
                {
                    return Ok(None);
                }
            }
            (Some(_), None) => {
                return Err(CognitoError::internal(
                    "A code's exchange issues a refresh token.",
                ))
            }
        }
        let groups = match grant.groups.take() {
            Some(g) => g,
            None => self.group_names(&pool.id, &user.sub).await?,
        };
        let mut issued = self
            .sign_pair(
                pool,
                client,
                user,
                groups,
                &origin,
                grant.with_id_token,
                grant.nonce,
                grant.at_hash,
                grant.source,
                now_ms,
            )
            .await?;
        issued.refresh_token = refresh;
        Ok(Some(issued))
    }

    /// The names of a user's groups, in the order tokens list them.
    async fn group_names(&self, pool_id: &str, sub: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .groups_of(pool_id, sub)
            .await?
            .into_iter()
            .map(|g| g.name)
            .collect())
    }

    /// Signs an access token (and an ID token) for an existing origin.
    #[expect(
        clippy::too_many_arguments,
        reason = "each argument is a distinct input of the claim sets; a struct would only rename them"
    )]
    async fn sign_pair(
        &self,
        pool: &Pool,
        client: &Client,
        user: &User,
        groups: Vec<String>,
        origin: &Origin,
        with_id_token: bool,
        nonce: Option<&str>,
        at_hash: bool,
        source: &str,
        now_ms: i64,
    ) -> Result<Issued> {
        let keys = self.keys(&pool.id, now_ms).await?;
        let iss = self.issuer(pool);
        let now = now_ms / 1000;
        let scopes: Vec<String> = origin
            .scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let o = self
            .pre_token(crate::triggers::TokenRequest {
                pool,
                client_id: &client.id,
                user: Some(user),
                groups: &groups,
                scopes: &scopes,
                source,
            })
            .await?;
        let groups = o.groups.clone().unwrap_or(groups);
        let scope_claim = if o.scopes_add.is_empty() && o.scopes_suppress.is_empty() {
            origin.scopes.clone()
        } else {
            let mut kept: Vec<String> = scopes
                .into_iter()
                .filter(|s| !o.scopes_suppress.contains(s))
                .collect();
            for s in &o.scopes_add {
                if !kept.contains(s) && !o.scopes_suppress.contains(s) {
                    kept.push(s.clone());
                }
            }
            kept.join(" ")
        };
        let event_id = uuid::Uuid::new_v4().to_string();
        let access_life = client.settings.access_token_validity.seconds() as i64;
        let id_life = client.settings.id_token_validity.seconds() as i64;

        let mut access = Map::new();
        access.insert("sub".into(), json!(user.sub));
        if !groups.is_empty() {
            access.insert("cognito:groups".into(), json!(groups));
        }
        access.insert("iss".into(), json!(iss));
        access.insert("client_id".into(), json!(client.id));
        access.insert("origin_jti".into(), json!(origin.origin_jti));
        access.insert("event_id".into(), json!(event_id));
        access.insert("token_use".into(), json!("access"));
        access.insert("scope".into(), json!(scope_claim));
        access.insert("auth_time".into(), json!(origin.auth_time));
        access.insert("exp".into(), json!(now + access_life));
        access.insert("iat".into(), json!(now));
        access.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        access.insert("username".into(), json!(user.username));
        access.insert("version".into(), json!(2));
        for k in &o.access_suppress {
            access.remove(k);
        }
        access.extend(o.access_add.clone());
        let access_key = keys
            .signing(Purpose::Access)
            .ok_or_else(|| CognitoError::internal("An internal error occurred."))?;
        let access_token = jwt::sign(access_key, &Value::Object(access));

        let id_token = if with_id_token {
            let mut id = Map::new();
            id.insert("sub".into(), json!(user.sub));
            if !groups.is_empty() {
                id.insert("cognito:groups".into(), json!(groups));
            }
            let readable = client.settings.read_attributes.as_ref();
            for (name, value) in &user.attributes {
                if name == "identities" || readable.is_none_or(|r| r.iter().any(|a| a == name)) {
                    id.insert(name.clone(), id_claim_value(name, value));
                }
            }
            id.insert("iss".into(), json!(iss));
            id.insert("cognito:username".into(), json!(user.username));
            if let Some(n) = nonce {
                id.insert("nonce".into(), json!(n));
            }
            if at_hash {
                id.insert("at_hash".into(), json!(jwt::at_hash(&access_token)));
            }
            id.insert("origin_jti".into(), json!(origin.origin_jti));
            id.insert("aud".into(), json!(client.id));
            id.insert("event_id".into(), json!(event_id));
            id.insert("token_use".into(), json!("id"));
            id.insert("auth_time".into(), json!(origin.auth_time));
            id.insert("exp".into(), json!(now + id_life));
            id.insert("iat".into(), json!(now));
            id.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
            if let Some(roles) = &o.roles {
                id.insert("cognito:roles".into(), json!(roles));
            }
            if let Some(r) = &o.preferred_role {
                id.insert("cognito:preferred_role".into(), json!(r));
            }
            for k in &o.id_suppress {
                id.remove(k);
            }
            id.extend(o.id_add.clone());
            let id_key = keys
                .signing(Purpose::Id)
                .ok_or_else(|| CognitoError::internal("An internal error occurred."))?;
            Some(jwt::sign(id_key, &Value::Object(id)))
        } else {
            None
        };
        Ok(Issued {
            id_token,
            access_token,
            refresh_token: None,
            expires_in: access_life as u64,
            origin_jti: origin.origin_jti.clone(),
        })
    }

    /// Finds a live refresh token of `client`, with its user and the
    /// user's groups (one query).
    pub(crate) async fn live_refresh_token(
        &self,
        client: &Client,
        token: &str,
        now_ms: i64,
    ) -> Result<RefreshGrant> {
        let invalid = || CognitoError::not_authorized("Invalid Refresh Token");
        if token.len() > 4096 {
            return Err(invalid());
        }
        let grant = self
            .store
            .refresh_grant(&crypto::stored_hash(token))
            .await?
            .ok_or_else(invalid)?;
        let rt = &grant.token;
        if rt.origin.client_id != client.id || rt.origin.pool_id != client.pool_id {
            return Err(invalid());
        }
        if rt.origin.revoked_ms.is_some() {
            return Err(CognitoError::not_authorized(
                "Refresh Token has been revoked",
            ));
        }
        if rt.expires_ms <= now_ms {
            return Err(CognitoError::not_authorized("Refresh Token has expired"));
        }
        Ok(grant)
    }

    /// Issues new ID and access tokens from a refresh token. With rotation
    /// enabled for the client, also a new refresh token; reusing a replaced
    /// one after the grace period revokes the whole family.
    pub async fn refresh(
        &self,
        pool: &Pool,
        client: &Client,
        token: &str,
        rotate: bool,
        now_ms: i64,
    ) -> Result<(Issued, User)> {
        let grant = self.live_refresh_token(client, token, now_ms).await?;
        self.refresh_found(pool, client, grant, rotate, now_ms)
            .await
    }

    /// [`Self::refresh`] for a refresh token already found live.
    pub(crate) async fn refresh_found(
        &self,
        pool: &Pool,
        client: &Client,
        grant: RefreshGrant,
        rotate: bool,
        now_ms: i64,
    ) -> Result<(Issued, User)> {
        let RefreshGrant {
            token: rt,
            user,
            groups,
        } = grant;
        let rotation = client.settings.refresh_token_rotation.filter(|r| r.enabled);
        if let Some(replaced) = rt.replaced_ms {
            // Without a grace period any reuse is one, whatever the clocks
            // say: a request that started on a node whose clock is behind
            // the one that rotated (or in the same millisecond) must not
            // read as a retry within the grace.
            let grace = rotation.map_or(0, |r| r.retry_grace_period_seconds as i64 * 1000);
            if grace == 0 || now_ms > replaced + grace {
                self.store
                    .revoke_origin(&rt.origin.origin_jti, now_ms)
                    .await?;
                return Err(CognitoError::refresh_token_reuse(
                    "Refresh token has been used already.",
                ));
            }
        }
        let user = user.ok_or_else(|| CognitoError::not_authorized("Invalid Refresh Token"))?;
        if !user.enabled {
            return Err(CognitoError::not_authorized("User is disabled."));
        }
        let with_id = rt
            .origin
            .scopes
            .split(' ')
            .any(|s| s == "openid" || s == ADMIN_SCOPE);
        let mut issued = self
            .sign_pair(
                pool,
                client,
                &user,
                groups,
                &rt.origin,
                with_id,
                None,
                false,
                "TokenGeneration_RefreshTokens",
                now_ms,
            )
            .await?;
        if rotate && rotation.is_some() && rt.replaced_ms.is_none() {
            let new = new_refresh_token();
            let expires = now_ms + (client.settings.refresh_token_validity.seconds() as i64) * 1000;
            if self
                .store
                .rotate_refresh_token(&rt.token_hash, &crypto::stored_hash(&new), now_ms, expires)
                .await?
            {
                issued.refresh_token = Some(new);
            } else {
                return Err(CognitoError::refresh_token_reuse(
                    "Refresh token has been used already.",
                ));
            }
        }
        Ok((issued, user))
    }

    /// Checks an access token for the token-authorized operations (GetUser,
    /// ChangePassword, ...): signature by the pool's key, issuer, use,
    /// expiry, the admin scope, revocation, and that the user still exists.
    pub async fn user_from_access_token(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<(Pool, User, Map<String, Value>)> {
        self.verify_access_token(token, ADMIN_SCOPE, now_ms).await
    }

    /// Checks an access token of one of this server's pools: signature by
    /// the pool's key, issuer, use, expiry, `required_scope`, revocation,
    /// and that the user exists and is enabled.
    pub async fn verify_access_token(
        &self,
        token: &str,
        required_scope: &str,
        now_ms: i64,
    ) -> Result<(Pool, User, Map<String, Value>)> {
        let invalid = || CognitoError::not_authorized("Invalid Access Token");
        let unverified = jwt::parse(token).map_err(|_| invalid())?;
        // The pool is named by the issuer; its keys alone can verify.
        let payload = token
            .split('.')
            .nth(1)
            .and_then(crypto::b64url_decode)
            .ok_or_else(invalid)?;
        let peek: Map<String, Value> = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        let iss = peek
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        let pool_id = iss.rsplit('/').next().ok_or_else(invalid)?;
        let pool = self.store.pool(pool_id).await?.ok_or_else(invalid)?;
        let keys = self.keys_for_kid(&pool.id, &unverified.kid, now_ms).await?;
        let claims = unverified.verify(&keys).map_err(|_| invalid())?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer(&pool).as_str())
            || claims.get("token_use").and_then(Value::as_str) != Some("access")
        {
            return Err(invalid());
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(invalid)?;
        if exp <= now_ms / 1000 {
            return Err(CognitoError::not_authorized("Access Token has expired"));
        }
        let scopes = claims.get("scope").and_then(Value::as_str).unwrap_or("");
        if !scopes.split(' ').any(|s| s == required_scope) {
            return Err(CognitoError::not_authorized(
                "Access Token does not have required scopes",
            ));
        }
        let origin_jti = claims
            .get("origin_jti")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        match self.store.origin(origin_jti).await? {
            Some(o) if o.revoked_ms.is_none() => {}
            _ => {
                return Err(CognitoError::not_authorized(
                    "Access Token has been revoked",
                ))
            }
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        let user = self
            .store
            .user_by_sub(&pool.id, sub)
            .await?
            .ok_or_else(|| CognitoError::not_authorized("User does not exist."))?;
        if !user.enabled {
            return Err(CognitoError::not_authorized("User is disabled."));
        }
        Ok((pool, user, claims))
    }
}
