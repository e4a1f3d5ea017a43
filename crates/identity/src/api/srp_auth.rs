//! USER_SRP_AUTH: the server's side of Cognito's SRP exchange (SRP_A in,
//! SRP_B and the salt out; the PASSWORD_VERIFIER challenge's answer
//! checked), with stand-in answers for unknown users when the pool hides
//! them.

use std::collections::HashMap;

use cognate_config::AuthFlow;
use cognate_store::codes::AuthSession;
use cognate_store::pools::{Client, Pool};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::*;
use crate::error::{CognitoError, Result};
use crate::{crypto, password, srp, Identity};

/// The server's side of an SRP exchange, kept between the two steps.
#[derive(serde::Serialize, Deserialize)]
pub(crate) struct SrpPayload {
    user_id: String,
    a: String,
    b: String,
    big_b: String,
    /// A custom sign-in's history (CUSTOM_WITH_SRP): the proof's result
    /// goes back to DefineAuthChallenge instead of ending the sign-in.
    #[serde(default)]
    custom: Option<Vec<Value>>,
}

impl Identity {
    /// USER_SRP_AUTH step 1: the PASSWORD_VERIFIER challenge.
    pub(crate) async fn srp_start(
        &self,
        pool: &Pool,
        client: &Client,
        params: &HashMap<String, String>,
        custom: Option<Vec<Value>>,
        now: i64,
    ) -> Result<Value> {
        let username = params.get("USERNAME").ok_or_else(|| {
            CognitoError::invalid_parameter("Missing required parameter USERNAME")
        })?;
        let srp_a = params
            .get("SRP_A")
            .ok_or_else(|| CognitoError::invalid_parameter("Missing required parameter SRP_A"))?;
        self.check_secret_hash(
            client,
            params.get("SECRET_HASH").map(String::as_str),
            &[username],
        )?;
        let a = srp::from_hex(srp_a)
            .filter(srp::valid_public)
            .ok_or_else(|| CognitoError::not_authorized("SRP_A is not a valid public value."))?;
        let user = self.resolve_user(pool, username).await?;
        let (sub, user_id, salt, v) = match &user {
            Some(u) => {
                self.check_lock(u, now)?;
                self.pre_authentication(pool, &client.id, u, None).await?;
                let (Some(salt), Some(v)) = (
                    &u.srp_salt,
                    u.srp_verifier.as_deref().and_then(srp::from_hex),
                ) else {
                    return Err(CognitoError::not_authorized(
                        "This user has no SRP verifier yet: sign in once with USER_PASSWORD_AUTH or change the password.",
                    ));
                };
                (u.sub.clone(), u.username.clone(), salt.clone(), v)
            }
            None if self.hides(client) => {
                // A stable fake salt and user id, so probing reveals nothing;
                // step 2 fails like a wrong password.
                let key = self.fake_user_key().await?;
                let h = crypto::hmac_sha256(
                    key.as_bytes(),
                    format!("{}|{username}", pool.id).as_bytes(),
                );
                let fake_id = format!(
                    "{}-{}-4{}-8{}-{}",
                    crypto::hex(&h[0..4]),
                    crypto::hex(&h[4..6]),
                    &crypto::hex(&h[6..8])[1..],
                    &crypto::hex(&h[8..10])[1..],
                    crypto::hex(&h[10..16])
                );
                let salt = srp::to_hex(&num_bigint::BigUint::from_bytes_be(&h[16..32]));
                let v = num_bigint::BigUint::from_bytes_be(&crypto::random_bytes::<32>());
                (String::new(), fake_id, salt, v)
            }
            None => {
                password::verify(srp_a, None).await;
                return Err(CognitoError::no_such_user());
            }
        };
        let (b, big_b) = tokio::task::spawn_blocking(move || srp::server_ephemeral(&v))
            .await
            .map_err(|_| CognitoError::internal("An internal error occurred."))?;
        let secret_block = crypto::b64(&crypto::random_bytes::<96>());
        let payload = SrpPayload {
            user_id: user_id.clone(),
            a: srp::to_hex(&a),
            b: srp::to_hex(&b),
            big_b: srp::to_hex(&big_b),
            custom,
        };
        self.store
            .insert_auth_session(&AuthSession {
                session_hash: crypto::stored_hash(&secret_block),
                pool_id: pool.id.clone(),
                client_id: client.id.clone(),
                sub,
                challenge: "PASSWORD_VERIFIER".into(),
                created_ms: now,
                expires_ms: now + client.settings.auth_session_validity_minutes as i64 * 60_000,
                payload: Some(serde_json::to_string(&payload).expect("payload serializes")),
            })
            .await?;
        Ok(json!({
            "ChallengeName": "PASSWORD_VERIFIER",
            "ChallengeParameters": {
                "SALT": salt,
                "SRP_B": payload.big_b,
                "SECRET_BLOCK": secret_block,
                "USERNAME": user_id,
                "USER_ID_FOR_SRP": user_id,
            },
        }))
    }

    /// USER_SRP_AUTH step 2: checks PASSWORD_CLAIM_SIGNATURE. The secret
    /// block names a single-use session: a replayed one finds nothing.
    pub(crate) async fn srp_answer(
        &self,
        pool: &Pool,
        client: &Client,
        responses: &HashMap<String, String>,
        now: i64,
    ) -> Result<Value> {
        let get = |name: &str| {
            responses.get(name).ok_or_else(|| {
                CognitoError::invalid_parameter(format!("Missing required parameter {name}"))
            })
        };
        let block = get("PASSWORD_CLAIM_SECRET_BLOCK")?;
        let claim = get("PASSWORD_CLAIM_SIGNATURE")?;
        let timestamp = get("TIMESTAMP")?;
        let username = get("USERNAME")?;
        let expired =
            || CognitoError::not_authorized("Invalid session for the user, session is expired.");
        let session = self
            .store
            .take_auth_session(&crypto::stored_hash(block), now)
            .await?
            .ok_or_else(expired)?;
        if session.client_id != client.id
            || session.pool_id != pool.id
            || session.challenge != "PASSWORD_VERIFIER"
        {
            return Err(expired());
        }
        let payload: SrpPayload = session
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .ok_or_else(expired)?;
        let Some(user) = self.store.user_by_sub(&pool.id, &session.sub).await? else {
            return Err(CognitoError::bad_credentials());
        };
        let names = names_of(&user);
        if !names.iter().any(|n| {
            n == username
                || (!pool.settings.username_case_sensitive && n.eq_ignore_ascii_case(username))
        }) {
            return Err(CognitoError::bad_credentials());
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        self.check_secret_hash(
            client,
            responses.get("SECRET_HASH").map(String::as_str),
            &refs,
        )?;
        self.check_lock(&user, now)?;
        let fresh = srp::parse_timestamp(timestamp).is_some_and(|t| (t - now / 1000).abs() <= 300);
        if !fresh {
            return Err(CognitoError::not_authorized(
                "TIMESTAMP is not within five minutes of the server's time.",
            ));
        }
        let numbers = (
            user.srp_verifier.as_deref().and_then(srp::from_hex),
            srp::from_hex(&payload.a),
            srp::from_hex(&payload.b),
            srp::from_hex(&payload.big_b),
            crypto::b64_decode(block),
            crypto::b64_decode(claim),
        );
        let (Some(v), Some(a), Some(b), Some(big_b), Some(block_bytes), Some(claim_bytes)) =
            numbers
        else {
            self.count_failure(&user, now).await?;
            return Err(CognitoError::bad_credentials());
        };
        if payload.custom.is_some() && !client.settings.allows(AuthFlow::AllowCustomAuth) {
            return Err(expired());
        }
        let (pool_id, user_id, ts) = (pool.id.clone(), payload.user_id.clone(), timestamp.clone());
        let proven = tokio::task::spawn_blocking(move || {
            let state = srp::ServerState {
                pool_id: &pool_id,
                user_id: &user_id,
                v: &v,
                a: &a,
                b: &b,
                big_b: &big_b,
            };
            srp::verify_claim(&state, &block_bytes, &ts, &claim_bytes)
        })
        .await
        .map_err(|_| CognitoError::internal("An internal error occurred."))?;
        if let Some(mut history) = payload.custom {
            // CUSTOM_WITH_SRP: DefineAuthChallenge hears the result.
            if !proven {
                self.count_failure(&user, now).await?;
            }
            history.push(json!({"challengeName": "PASSWORD_VERIFIER", "challengeResult": proven, "challengeMetadata": null}));
            return self
                .custom_next(pool, client, &user, history, None, now)
                .await;
        }
        if !proven {
            self.count_failure(&user, now).await?;
            return Err(CognitoError::bad_credentials());
        }
        if user.failed_attempts != 0 {
            self.store.reset_failures(&pool.id, &user.sub).await?;
        }
        self.after_password(pool, client, &user, now).await
    }

    /// The server secret behind the fake SRP answers for unknown users:
    /// made once, shared by every node through the store.
    pub(crate) async fn fake_user_key(&self) -> Result<String> {
        Ok(self
            .store
            .meta_get_or_insert_with("srp.fake_user_key", || {
                crypto::b64(&crypto::random_bytes::<32>())
            })
            .await?)
    }
}
