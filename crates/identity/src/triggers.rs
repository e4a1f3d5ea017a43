//! Cognito's Lambda triggers: the events (AWS's shapes, key by key), the
//! answers, and Cognito's errors when a function throws, times out or
//! answers nonsense.
//!
//! Identity runs no processes and knows no HTTP: the server gives it a
//! [`FunctionRunner`] (the gateway's function runtime, the one that runs
//! the APIs' functions), so both use one runtime and the crates still
//! import one way.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use cognate_store::pools::Pool;
use serde_json::{json, Map, Value};

use crate::error::{CognitoError, Result};
use crate::Identity;

/// Cognito waits 5 seconds for a trigger.
pub const TRIGGER_TIMEOUT: Duration = Duration::from_secs(5);

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a function gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionFailure {
    /// The function threw: its error message.
    Error(String),
    /// It did not answer in time.
    Timeout,
    /// It could not be run (unknown, cannot start).
    Unavailable(String),
}

/// Runs functions by ARN for the identity core.
pub trait FunctionRunner: Send + Sync {
    /// Whether `arn` names a function this server runs.
    fn knows(&self, arn: &str) -> bool;
    /// Invokes the function with `event`; its JSON result.
    fn invoke<'a>(
        &'a self,
        arn: &'a str,
        event: Value,
        timeout: Duration,
    ) -> BoxFuture<'a, std::result::Result<Value, FunctionFailure>>;
}

/// What every trigger event starts with.
pub(crate) struct Common<'a> {
    pub pool: &'a Pool,
    pub source: &'a str,
    pub username: &'a str,
    pub client_id: Option<&'a str>,
}

impl Identity {
    /// The ARNs that no function of this server answers to.
    pub fn unknown_functions(&self, config: &cognate_config::LambdaConfig) -> Vec<String> {
        let runner = self.function_runner();
        config
            .functions()
            .into_iter()
            .filter(|(_, arn)| !runner.as_ref().is_some_and(|r| r.knows(arn)))
            .map(|(_, arn)| arn.to_string())
            .collect()
    }

    /// Runs trigger `name` (PreSignUp, ...) with the event made of `common`,
    /// `request` and an empty-by-default `response`; returns the event's
    /// `response` as the function answered it.
    pub(crate) async fn run_trigger(
        &self,
        name: &str,
        arn: &str,
        version: &str,
        common: Common<'_>,
        request: Value,
        response: Value,
    ) -> Result<Map<String, Value>> {
        let event = json!({
            "version": version,
            "triggerSource": common.source,
            "region": self.region,
            "userPoolId": common.pool.id,
            "userName": common.username,
            "callerContext": {
                "awsSdkVersion": "aws-sdk-unknown-unknown",
                "clientId": common.client_id.unwrap_or("CLIENT_ID_NOT_APPLICABLE"),
            },
            "request": request,
            "response": response,
        });
        let Some(runner) = self.function_runner() else {
            return Err(CognitoError::unexpected_lambda(format!(
                "{name} invocation failed due to error AccessDeniedException."
            )));
        };
        let answer = runner
            .invoke(arn, event, TRIGGER_TIMEOUT)
            .await
            .map_err(|f| match f {
                FunctionFailure::Error(message) => CognitoError::user_lambda_validation(format!(
                    "{name} failed with error {message}."
                )),
                FunctionFailure::Timeout => CognitoError::unexpected_lambda(format!(
                    "{name} invocation failed due to error Socket timeout while invoking Lambda function."
                )),
                FunctionFailure::Unavailable(why) => {
                    tracing::warn!(trigger = name, function = arn, error = %why, "trigger not run");
                    CognitoError::unexpected_lambda(format!(
                        "{name} invocation failed due to error ResourceNotFoundException."
                    ))
                }
            })?;
        // The function answers with the whole event; Cognito reads its
        // `response`.
        match answer.get("response") {
            Some(Value::Object(r)) => Ok(r.clone()),
            Some(Value::Null) | None if answer.is_object() => Ok(Map::new()),
            _ => Err(unrecognizable()),
        }
    }
}

pub(crate) fn unrecognizable() -> CognitoError {
    CognitoError::invalid_lambda_response("Unrecognizable lambda output")
}

/// A boolean of a trigger's response: absent or null is false, anything
/// but a boolean is an unrecognizable answer.
pub(crate) fn flag(response: &Map<String, Value>, key: &str) -> Result<bool> {
    match response.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(unrecognizable()),
    }
}

/// `clientMetadata` as events carry it: the caller's map, or `{}`.
pub(crate) fn metadata(m: Option<&std::collections::HashMap<String, String>>) -> Value {
    match m {
        Some(m) => json!(m),
        None => json!({}),
    }
}

/// What a pre-token-generation function changes in the tokens.
#[derive(Debug, Default)]
pub(crate) struct TokenOverrides {
    pub id_add: Map<String, Value>,
    pub id_suppress: Vec<String>,
    pub access_add: Map<String, Value>,
    pub access_suppress: Vec<String>,
    pub groups: Option<Vec<String>>,
    pub roles: Option<Vec<String>>,
    pub preferred_role: Option<String>,
    pub scopes_add: Vec<String>,
    pub scopes_suppress: Vec<String>,
}

/// Claims no trigger may add, change or remove (Cognito's list); the
/// access token also keeps its client, scopes and username.
const PROTECTED: &[&str] = &[
    "acr",
    "amr",
    "aud",
    "at_hash",
    "auth_time",
    "azp",
    "cognito:username",
    "exp",
    "iat",
    "identities",
    "iss",
    "jti",
    "nbf",
    "nonce",
    "origin_jti",
    "sub",
    "token_use",
    "event_id",
];
const PROTECTED_ACCESS: &[&str] = &["client_id", "scope", "username", "version"];

pub(crate) struct TokenRequest<'a> {
    pub pool: &'a Pool,
    pub client_id: &'a str,
    /// None: client_credentials (only V3_0 functions run for them).
    pub user: Option<&'a cognate_store::users::User>,
    pub groups: &'a [String],
    pub scopes: &'a [String],
    pub source: &'a str,
}

impl Identity {
    /// Runs the pool's pre-token-generation function, if it has one (V1_0:
    /// ID token claims and groups; V2_0/V3_0: both tokens and the scopes).
    pub(crate) async fn pre_token(&self, t: TokenRequest<'_>) -> Result<TokenOverrides> {
        let Some((arn, version)) = t.pool.settings.lambda_config.pre_token() else {
            return Ok(TokenOverrides::default());
        };
        if t.user.is_none() && version != "V3_0" {
            return Ok(TokenOverrides::default());
        }
        let (arn, version, v2) = (arn.to_string(), version.to_string(), version != "V1_0");
        let (attributes, username) = match t.user {
            Some(u) => (user_attributes(u), u.username.as_str()),
            // Machine-to-machine: no user; the client stands for it.
            None => (json!({}), t.client_id),
        };
        let mut request = json!({
            "userAttributes": attributes,
            "groupConfiguration": {"groupsToOverride": t.groups, "iamRolesToOverride": [], "preferredRole": null},
            "clientMetadata": {},
        });
        if v2 {
            request["scopes"] = json!(t.scopes);
        }
        let empty = if v2 {
            json!({"claimsAndScopeOverrideDetails": null})
        } else {
            json!({"claimsOverrideDetails": null})
        };
        let r = self
            .run_trigger(
                "PreTokenGeneration",
                &arn,
                match version.as_str() {
                    "V3_0" => "3",
                    "V2_0" => "2",
                    _ => "1",
                },
                Common {
                    pool: t.pool,
                    source: t.source,
                    username,
                    client_id: Some(t.client_id),
                },
                request,
                empty,
            )
            .await?;
        let details = r
            .get(if v2 {
                "claimsAndScopeOverrideDetails"
            } else {
                "claimsOverrideDetails"
            })
            .cloned()
            .unwrap_or(Value::Null);
        let mut o = TokenOverrides::default();
        let details = match details {
            Value::Null => return Ok(o),
            Value::Object(m) => m,
            _ => return Err(unrecognizable()),
        };
        let claims = |v: Option<&Value>,
                      access: bool|
         -> Result<(Map<String, Value>, Vec<String>)> {
            let Some(v) = v.filter(|v| !v.is_null()) else {
                return Ok((Map::new(), Vec::new()));
            };
            let add = match v.get("claimsToAddOrOverride") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => return Err(unrecognizable()),
            };
            let suppress = strings(v.get("claimsToSuppress"))?.unwrap_or_default();
            let kept = |k: &String| {
                let protected = PROTECTED.contains(&k.as_str())
                    || (access && PROTECTED_ACCESS.contains(&k.as_str()))
                    || k == "cognito:groups"
                    || k == "cognito:roles"
                    || k == "cognito:preferred_role";
                if protected {
                    tracing::warn!(claim = %k, "a pre-token-generation function may not change this claim; ignored");
                }
                !protected
            };
            let add = add
                .into_iter()
                .filter(|(k, v)| kept(k) && !v.is_null())
                .collect();
            Ok((add, suppress.into_iter().filter(|k| kept(k)).collect()))
        };
        if v2 {
            (o.id_add, o.id_suppress) = claims(details.get("idTokenGeneration"), false)?;
            let access = details
                .get("accessTokenGeneration")
                .filter(|v| !v.is_null());
            (o.access_add, o.access_suppress) = claims(access, true)?;
            o.scopes_add = strings(access.and_then(|a| a.get("scopesToAdd")))?.unwrap_or_default();
            o.scopes_suppress =
                strings(access.and_then(|a| a.get("scopesToSuppress")))?.unwrap_or_default();
        } else {
            let d = Value::Object(details.clone());
            (o.id_add, o.id_suppress) = claims(Some(&d), false)?;
            if o.id_add.values().any(|v| v.is_object() || v.is_array()) {
                return Err(unrecognizable());
            }
        }
        if let Some(g) = details.get("groupOverrideDetails").filter(|g| !g.is_null()) {
            o.groups = strings(g.get("groupsToOverride"))?;
            o.roles = strings(g.get("iamRolesToOverride"))?;
            o.preferred_role = match g.get("preferredRole") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(unrecognizable()),
            };
        }
        Ok(o)
    }
}

fn strings(v: Option<&Value>) -> Result<Option<Vec<String>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string).ok_or_else(unrecognizable))
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(unrecognizable()),
    }
}

/// A user's attributes as trigger events carry them (with `sub` and
/// `cognito:user_status`).
pub(crate) fn user_attributes(user: &cognate_store::users::User) -> Value {
    let mut attributes: Map<String, Value> = user
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    attributes.insert("sub".into(), json!(user.sub));
    attributes.insert("cognito:user_status".into(), json!(user.status));
    Value::Object(attributes)
}

impl Identity {
    /// PreAuthentication: before the password is checked; a throw refuses
    /// the sign-in (nothing is counted against the user).
    pub(crate) async fn pre_authentication(
        &self,
        pool: &Pool,
        client_id: &str,
        user: &cognate_store::users::User,
        validation_data: Option<Value>,
    ) -> Result<()> {
        self.pre_authentication_as(
            pool,
            client_id,
            &user.username,
            user_attributes(user),
            validation_data,
            false,
        )
        .await
    }

    /// PreAuthentication for a name no user has, when the client hides
    /// which users exist (`userNotFound: true`, as Cognito sends it).
    pub(crate) async fn pre_authentication_not_found(
        &self,
        pool: &Pool,
        client_id: &str,
        username: &str,
    ) -> Result<()> {
        self.pre_authentication_as(pool, client_id, username, json!({}), None, true)
            .await
    }

    async fn pre_authentication_as(
        &self,
        pool: &Pool,
        client_id: &str,
        username: &str,
        attributes: Value,
        validation_data: Option<Value>,
        user_not_found: bool,
    ) -> Result<()> {
        let Some(arn) = pool.settings.lambda_config.pre_authentication.clone() else {
            return Ok(());
        };
        self.run_trigger(
            "PreAuthentication",
            &arn,
            "1",
            Common {
                pool,
                source: "PreAuthentication_Authentication",
                username,
                client_id: Some(client_id),
            },
            json!({
                "userAttributes": attributes,
                "validationData": validation_data.unwrap_or(Value::Null),
                "userNotFound": user_not_found,
            }),
            json!({}),
        )
        .await?;
        Ok(())
    }

    /// PostAuthentication after a fresh sign-in on the hosted pages.
    pub async fn hosted_post_authentication(
        &self,
        pool_id: &str,
        client_id: &str,
        user: &cognate_store::users::User,
    ) -> Result<()> {
        let pool = self.pool_or_error(pool_id).await?;
        self.post_authentication(&pool, client_id, user).await
    }

    /// PostAuthentication: once the user is authenticated, before tokens
    /// are returned; a throw means no tokens.
    pub(crate) async fn post_authentication(
        &self,
        pool: &Pool,
        client_id: &str,
        user: &cognate_store::users::User,
    ) -> Result<()> {
        let Some(arn) = pool.settings.lambda_config.post_authentication.clone() else {
            return Ok(());
        };
        self.run_trigger(
            "PostAuthentication",
            &arn,
            "1",
            Common {
                pool,
                source: "PostAuthentication_Authentication",
                username: &user.username,
                client_id: Some(client_id),
            },
            json!({
                "userAttributes": user_attributes(user),
                "newDeviceUsed": false,
                "clientMetadata": {},
            }),
            json!({}),
        )
        .await?;
        Ok(())
    }
}

impl Identity {
    /// Sends a message, through the pool's CustomMessage function when it
    /// has one: the function writes the subject and body around `{####}`
    /// (the code) and, for invitations, `{username}`.
    pub(crate) async fn deliver(&self, mut message: crate::messages::Message) -> Result<()> {
        use crate::messages::Kind;
        let pool = self.store.pool(&message.pool_id).await?;
        let arn = pool
            .as_ref()
            .and_then(|p| p.settings.lambda_config.custom_message.clone());
        if let (Some(pool), Some(arn)) = (pool, arn) {
            let source = match message.kind {
                Kind::SignUp => "CustomMessage_SignUp",
                Kind::ResendCode => "CustomMessage_ResendCode",
                Kind::ForgotPassword => "CustomMessage_ForgotPassword",
                Kind::Invitation => "CustomMessage_AdminCreateUser",
                Kind::VerifyAttribute => "CustomMessage_VerifyUserAttribute",
                Kind::EmailOtp => "CustomMessage_Authentication",
            };
            let invitation = message.kind == Kind::Invitation;
            let attributes = match self.resolve_user(&pool, &message.username).await? {
                Some(u) => user_attributes(&u),
                None => json!({}),
            };
            let r = self
                .run_trigger(
                    "CustomMessage",
                    &arn,
                    "1",
                    Common {
                        pool: &pool,
                        source,
                        username: &message.username,
                        client_id: None,
                    },
                    json!({
                        "userAttributes": attributes,
                        "codeParameter": "{####}",
                        "linkParameter": "{##Click Here##}",
                        "usernameParameter": if invitation { json!("{username}") } else { Value::Null },
                        "clientMetadata": {},
                    }),
                    json!({"smsMessage": null, "emailMessage": null, "emailSubject": null}),
                )
                .await?;
            let text = |key: &str| -> Result<Option<String>> {
                match r.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(unrecognizable()),
                }
            };
            if let Some(body) = text("emailMessage")? {
                // Cognito refuses a message that would not carry the code
                // (or, in an invitation, the username).
                if !body.contains("{####}") || (invitation && !body.contains("{username}")) {
                    return Err(unrecognizable());
                }
                message.body = body
                    .replace("{####}", &message.code)
                    .replace("{username}", &message.username);
            }
            if let Some(subject) = text("emailSubject")? {
                message.subject = subject;
            }
        }
        self.messenger.send(&message).await
    }
}
