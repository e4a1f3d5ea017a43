//! The authorization_code grant at the token endpoint: a sealed code
//! (sealed_code.rs) is opened, checked, and taken in the write of what it
//! issues; a stored one is taken from its row; a failed exchange burns
//! the code, a replay revokes what the first exchange issued.

use cognate_config::OAuthFlow;
use cognate_store::auth_codes::{AuthCode, Taken};
use cognate_store::pools::{Client, Pool};

use crate::authorize::{pkce_shaped, s256};
use crate::oauth::OAuthError;
use crate::tokens::Grant;
use crate::{crypto, sealed_code, CognitoError, Identity};

impl Identity {
    /// The authorization_code grant.
    pub(crate) async fn code_grant(
        &self,
        pool: &Pool,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        now_ms: i64,
    ) -> Result<crate::oauth::TokenResponse, OAuthError> {
        let invalid = |d: &str| OAuthError::invalid_grant(d);
        let origin_jti = uuid::Uuid::new_v4().to_string();
        // A sealed code (the ones this version makes) is taken below, in
        // the write that records what it issues; a stored one (made by an
        // earlier version) is taken from its row now.
        let key = self
            .code_key()
            .await
            .map_err(|_| OAuthError::server_error())?;
        let sealed = sealed_code::open(&key, code);
        let found = match &sealed {
            Some(c) => c.clone(),
            None => match self
                .store
                .take_auth_code(&crypto::stored_hash(code), now_ms, &origin_jti)
                .await?
            {
                Taken::Fresh(c) => c,
                Taken::Replayed(c) => return Err(self.replayed(&c, now_ms).await?),
                Taken::Unknown => return Err(invalid("Unknown code.")),
            },
        };
        if let Err(e) = check_code(pool, client, &found, redirect_uri, verifier, now_ms) {
            return Err(self.refuse_code(sealed.as_ref(), e, now_ms).await?);
        }
        let Some((user, groups)) = self
            .store
            .user_with_groups(&pool.id, &found.sub)
            .await?
            .filter(|(u, _)| u.enabled)
        else {
            let e = invalid("The user is no longer allowed to sign in.");
            return Err(self.refuse_code(sealed.as_ref(), e, now_ms).await?);
        };
        let scopes: Vec<String> = found
            .scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let grant = Grant {
            with_id_token: scopes.iter().any(|s| s == "openid"),
            scopes,
            with_refresh: true,
            nonce: found.nonce.as_deref(),
            auth_time: Some(found.auth_time),
            at_hash: true,
            source: "TokenGeneration_HostedAuth",
            origin_jti: Some(origin_jti),
            groups: Some(groups),
        };
        let issued = self
            .issue_taking_code(pool, client, &user, grant, sealed.as_ref(), now_ms)
            .await
            .map_err(|_| OAuthError::server_error())?;
        match issued {
            Some(issued) => Ok(crate::oauth::TokenResponse::issued(issued)),
            // Taken by another exchange since it was opened.
            None => match self.store.auth_code(&found.code_hash).await? {
                Some(taken) => Err(self.replayed(&taken, now_ms).await?),
                None => Err(OAuthError::server_error()),
            },
        }
    }

    /// The answer to an exchange that failed its checks (`e`): a sealed
    /// code is burnt (no guessing of verifiers or clients on one code), as
    /// taking a stored code burns it; one found taken before is a replay.
    async fn refuse_code(
        &self,
        sealed: Option<&AuthCode>,
        e: OAuthError,
        now_ms: i64,
    ) -> Result<OAuthError, OAuthError> {
        if let Some(c) = sealed {
            if !self.store.burn_sealed_code(c, now_ms).await? {
                if let Some(taken) = self.store.auth_code(&c.code_hash).await? {
                    return self.replayed(&taken, now_ms).await;
                }
            }
        }
        Ok(e)
    }

    /// The answer to a code used before: what its first exchange issued
    /// is revoked.
    async fn replayed(&self, taken: &AuthCode, now_ms: i64) -> Result<OAuthError, OAuthError> {
        if let Some(o) = &taken.origin_jti {
            self.store.revoke_origin(o, now_ms).await?;
        }
        Ok(OAuthError::invalid_grant("The code was already used."))
    }

    /// The key authorization codes are sealed with: 32 random bytes, made
    /// once and shared by every node.
    pub(crate) async fn code_key(&self) -> Result<Vec<u8>, CognitoError> {
        crypto::b64_decode(&self.shared_key("oauth.code_key").await?)
            .filter(|k| k.len() == 32)
            .ok_or_else(|| CognitoError::internal("The authorization code key is not 32 bytes."))
    }
}

/// A code's checks at the token endpoint: its client, the client's
/// flows, its expiry, the redirect URI and PKCE.
fn check_code(
    pool: &Pool,
    client: &Client,
    found: &AuthCode,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    now_ms: i64,
) -> Result<(), OAuthError> {
    let invalid = |d: &str| OAuthError::invalid_grant(d);
    if found.client_id != client.id || found.pool_id != pool.id {
        return Err(invalid("The code was issued to another client."));
    }
    if !client.settings.allowed_oauth_flows_user_pool_client
        || !client
            .settings
            .allowed_oauth_flows
            .contains(&OAuthFlow::Code)
    {
        return Err(OAuthError::unauthorized_client(
            "The client may not use the code flow.",
        ));
    }
    if found.expires_ms <= now_ms {
        return Err(invalid("The code has expired."));
    }
    if redirect_uri != Some(found.redirect_uri.as_str()) {
        return Err(invalid(
            "redirect_uri does not match the authorization request.",
        ));
    }
    match (&found.code_challenge, verifier) {
        (None, None) => Ok(()),
        (Some(challenge), Some(v))
            if pkce_shaped(v) && crypto::equal(s256(v).as_bytes(), challenge.as_bytes()) =>
        {
            Ok(())
        }
        (None, Some(_)) => Err(invalid(
            "code_verifier sent for a request without code_challenge.",
        )),
        _ => Err(invalid("PKCE verification failed.")),
    }
}
