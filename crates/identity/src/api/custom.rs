//! CUSTOM_AUTH: the sign-in is a conversation between three functions of
//! the pool. DefineAuthChallenge reads the history of challenges and
//! decides (another challenge, tokens, or failure); CreateAuthChallenge
//! makes each CUSTOM_CHALLENGE (public parameters for the client, private
//! ones kept in the single-use session); VerifyAuthChallengeResponse judges
//! the answer. With `CHALLENGE_NAME=SRP_A` (Amplify's CUSTOM_WITH_SRP) the
//! history starts with SRP_A and Define may ask for PASSWORD_VERIFIER first.

use std::collections::HashMap;

use cognate_config::AuthFlow;
use cognate_store::codes::AuthSession;
use cognate_store::pools::{Client, Pool};
use cognate_store::users::User;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{CognitoError, Result};
use crate::triggers::{self, flag, user_attributes, Common};
use crate::{crypto, Identity};

/// What a CUSTOM_CHALLENGE session keeps for the answer.
#[derive(Serialize, Deserialize)]
struct CustomPayload {
    history: Vec<Value>,
    private: Value,
    metadata: Value,
}

impl Identity {
    /// InitiateAuth / AdminInitiateAuth with CUSTOM_AUTH.
    pub(crate) async fn custom_start(
        &self,
        pool: &Pool,
        client: &Client,
        params: &HashMap<String, String>,
        now: i64,
    ) -> Result<Value> {
        if !client.settings.allows(AuthFlow::AllowCustomAuth) {
            return Err(CognitoError::invalid_parameter(
                "CUSTOM_AUTH flow not enabled for this client",
            ));
        }
        if pool.settings.lambda_config.define_auth_challenge.is_none() {
            return Err(CognitoError::invalid_parameter(
                "Custom auth lambda trigger is not configured for the user pool.",
            ));
        }
        let username = params.get("USERNAME").ok_or_else(|| {
            CognitoError::invalid_parameter("Missing required parameter USERNAME")
        })?;
        self.check_secret_hash(
            client,
            params.get("SECRET_HASH").map(String::as_str),
            &[username],
        )?;
        let Some(user) = self.resolve_user(pool, username).await? else {
            return Err(CognitoError::no_such_user());
        };
        self.check_lock(&user, now)?;
        self.pre_authentication(pool, &client.id, &user, None)
            .await?;
        let srp_a = match params.get("CHALLENGE_NAME").map(String::as_str) {
            None => None,
            Some("SRP_A") => Some(params.get("SRP_A").ok_or_else(|| {
                CognitoError::invalid_parameter("Missing required parameter SRP_A")
            })?),
            Some(other) => {
                return Err(CognitoError::invalid_parameter(format!(
                    "CHALLENGE_NAME {other} cannot start a custom sign-in (SRP_A can)"
                )))
            }
        };
        let mut history = Vec::new();
        if srp_a.is_some() {
            history.push(json!({"challengeName": "SRP_A", "challengeResult": true, "challengeMetadata": null}));
        }
        self.custom_next(pool, client, &user, history, srp_a.map(String::as_str), now)
            .await
    }

    /// Asks DefineAuthChallenge what comes after `history`.
    pub(crate) async fn custom_next(
        &self,
        pool: &Pool,
        client: &Client,
        user: &User,
        history: Vec<Value>,
        srp_a: Option<&str>,
        now: i64,
    ) -> Result<Value> {
        let common = |source| Common {
            pool,
            source,
            username: &user.username,
            client_id: Some(&client.id),
        };
        let lc = &pool.settings.lambda_config;
        let define_arn = lc.define_auth_challenge.clone().ok_or_else(|| {
            CognitoError::invalid_parameter(
                "Custom auth lambda trigger is not configured for the user pool.",
            )
        })?;
        let d = self
            .run_trigger(
                "DefineAuthChallenge",
                &define_arn,
                "1",
                common("DefineAuthChallenge_Authentication"),
                json!({"userAttributes": user_attributes(user), "session": history,
                       "clientMetadata": {}, "userNotFound": false}),
                json!({"challengeName": null, "issueTokens": null, "failAuthentication": null}),
            )
            .await?;
        if flag(&d, "failAuthentication")? {
            return Err(CognitoError::bad_credentials());
        }
        if flag(&d, "issueTokens")? {
            if user.failed_attempts != 0 {
                self.store.reset_failures(&pool.id, &user.sub).await?;
            }
            return self
                .authenticated(pool, client, user, "TokenGeneration_Authentication", now)
                .await;
        }
        match d.get("challengeName").and_then(Value::as_str) {
            Some("PASSWORD_VERIFIER") => {
                let a = srp_a.ok_or_else(|| {
                    CognitoError::invalid_parameter(
                        "PASSWORD_VERIFIER needs SRP_A in the InitiateAuth of a custom sign-in",
                    )
                })?;
                let params = HashMap::from([
                    ("USERNAME".to_string(), user.username.clone()),
                    ("SRP_A".to_string(), a.to_string()),
                ]);
                self.srp_start(pool, client, &params, Some(history), now)
                    .await
            }
            Some("CUSTOM_CHALLENGE") => {
                let create_arn = lc.create_auth_challenge.clone().ok_or_else(|| {
                    CognitoError::invalid_lambda_response(
                        "CreateAuthChallenge is not configured for the user pool.",
                    )
                })?;
                let c = self
                    .run_trigger(
                        "CreateAuthChallenge",
                        &create_arn,
                        "1",
                        common("CreateAuthChallenge_Authentication"),
                        json!({"userAttributes": user_attributes(user), "challengeName": "CUSTOM_CHALLENGE",
                               "session": history, "clientMetadata": {}, "userNotFound": false}),
                        json!({"publicChallengeParameters": null, "privateChallengeParameters": null,
                               "challengeMetadata": null}),
                    )
                    .await?;
                let strings = |key: &str| -> Result<Map<String, Value>> {
                    match c.get(key) {
                        None | Some(Value::Null) => Ok(Map::new()),
                        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(m.clone()),
                        Some(_) => Err(triggers::unrecognizable()),
                    }
                };
                let mut public = strings("publicChallengeParameters")?;
                let private = strings("privateChallengeParameters")?;
                let metadata = c.get("challengeMetadata").cloned().unwrap_or(Value::Null);
                let session = crypto::b64url(&crypto::random_bytes::<96>());
                self.store
                    .insert_auth_session(&AuthSession {
                        session_hash: crypto::stored_hash(&session),
                        pool_id: pool.id.clone(),
                        client_id: client.id.clone(),
                        sub: user.sub.clone(),
                        challenge: "CUSTOM_CHALLENGE".into(),
                        created_ms: now,
                        expires_ms: now
                            + client.settings.auth_session_validity_minutes as i64 * 60_000,
                        payload: Some(
                            serde_json::to_string(&CustomPayload {
                                history,
                                private: Value::Object(private),
                                metadata,
                            })
                            .expect("payload serializes"),
                        ),
                    })
                    .await?;
                public.insert("USERNAME".into(), json!(user.username));
                Ok(
                    json!({"ChallengeName": "CUSTOM_CHALLENGE", "Session": session,
                          "ChallengeParameters": public}),
                )
            }
            _ => Err(triggers::unrecognizable()),
        }
    }

    /// RespondToAuthChallenge CUSTOM_CHALLENGE: VerifyAuthChallengeResponse
    /// judges ANSWER; the result joins the history and Define decides. A
    /// wrong answer counts toward the lockout.
    pub(crate) async fn custom_answer(
        &self,
        pool: &Pool,
        client: &Client,
        session: &str,
        user: User,
        responses: &HashMap<String, String>,
        now: i64,
    ) -> Result<Value> {
        let expired =
            || CognitoError::not_authorized("Invalid session for the user, session is expired.");
        let answer = responses
            .get("ANSWER")
            .ok_or_else(|| CognitoError::invalid_parameter("Missing required parameter ANSWER"))?;
        self.check_lock(&user, now)?;
        let taken = self
            .store
            .take_auth_session(&crypto::stored_hash(session), now)
            .await?
            .ok_or_else(expired)?;
        let payload: CustomPayload = taken
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .ok_or_else(expired)?;
        let arn = pool
            .settings
            .lambda_config
            .verify_auth_challenge_response
            .clone()
            .ok_or_else(|| {
                CognitoError::invalid_lambda_response(
                    "VerifyAuthChallengeResponse is not configured for the user pool.",
                )
            })?;
        let v = self
            .run_trigger(
                "VerifyAuthChallengeResponse",
                &arn,
                "1",
                Common {
                    pool,
                    source: "VerifyAuthChallengeResponse_Authentication",
                    username: &user.username,
                    client_id: Some(&client.id),
                },
                json!({"userAttributes": user_attributes(&user),
                       "privateChallengeParameters": payload.private,
                       "challengeAnswer": answer, "clientMetadata": {}, "userNotFound": false}),
                json!({"answerCorrect": null}),
            )
            .await?;
        let correct = flag(&v, "answerCorrect")?;
        if !correct {
            self.count_failure(&user, now).await?;
        }
        let mut history = payload.history;
        history.push(
            json!({"challengeName": "CUSTOM_CHALLENGE", "challengeResult": correct,
                            "challengeMetadata": payload.metadata}),
        );
        self.custom_next(pool, client, &user, history, None, now)
            .await
    }
}
