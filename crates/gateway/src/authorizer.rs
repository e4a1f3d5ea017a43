//! Request authorizers (API Gateway's "Lambda authorizers",
//! reference/apigateway.md §2): identity sources, the 1.0/2.0 events,
//! simple and IAM-policy answers, and the result cache.
//!
//! Everything that is not a clear allow is a refusal: a missing identity
//! source is 401 without calling the authorizer; a deny is 403; an error,
//! a timeout or an answer of the wrong shape is 500.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use cognate_config::{IdentitySource, PayloadVersion, RequestAuthorizer};
use serde_json::{Map, Value};

use crate::context::{AuthorizerOutput, RequestContext};
use crate::error::GatewayError;
use crate::event;
use crate::invoke::Invoker;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An identity source is missing or empty (401).
    Unauthorized,
    /// The authorizer said no (403).
    Forbidden,
    /// It failed, timed out, or answered badly (500).
    Error(String),
}

impl Refusal {
    /// The gateway's answer to a refusal, the same on HTTP routes and at
    /// `$connect`: an authorizer's failure is logged and never an allow.
    pub fn into_error(self, api: &str, request_id: &str) -> GatewayError {
        match self {
            Refusal::Unauthorized => GatewayError::AuthorizerUnauthorized,
            Refusal::Forbidden => GatewayError::Forbidden,
            Refusal::Error(why) => {
                tracing::warn!(api, requestId = request_id, error = %why, "authorizer failed; refusing");
                GatewayError::Internal
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Decision {
    Simple {
        allowed: bool,
        context: Map<String, Value>,
    },
    Policy {
        principal_id: Option<String>,
        statements: Vec<Statement>,
        context: Map<String, Value>,
    },
}

#[derive(Debug, Clone)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// Results cached under the identity-source values.
const CACHE_MAX: usize = 50_000;

pub struct Authorizer {
    pub config: RequestAuthorizer,
    cache: Mutex<HashMap<Vec<String>, (i64, Decision)>>,
}

impl Authorizer {
    pub fn new(config: RequestAuthorizer) -> Authorizer {
        Authorizer {
            config,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn identity(&self, ctx: &RequestContext) -> Option<Vec<String>> {
        self.config
            .identity_sources
            .iter()
            .map(|s| {
                let v = match s {
                    IdentitySource::Header(h) => ctx.header(h),
                    IdentitySource::QueryString(q) => ctx.query(q),
                    IdentitySource::Cookie(c) => ctx.cookie(c),
                    IdentitySource::Context(c) => ctx.variable(&format!("context.{c}")),
                    IdentitySource::StageVariable(v) => ctx.stage_variables.get(v).cloned(),
                };
                v.filter(|v| !v.is_empty())
            })
            .collect()
    }

    /// An HTTP route's request authorizer: the payload 1.0 or 2.0 event,
    /// evaluated against the route's ARN.
    pub async fn authorize(
        &self,
        ctx: &RequestContext,
        invoker: &Invoker,
        region: &str,
        now_ms: i64,
    ) -> Result<AuthorizerOutput, Refusal> {
        let arn = event::route_arn(ctx, region);
        let version = self.config.payload_version;
        self.authorize_with(
            ctx,
            |identity| match version {
                PayloadVersion::V2 => event::authorizer_v2(ctx, region, identity),
                PayloadVersion::V1 => event::authorizer_v1(ctx, region, identity),
            },
            &arn,
            invoker,
            now_ms,
        )
        .await
    }

    /// The one path of every request authorizer, HTTP routes' and
    /// `$connect`'s: the identity sources (a missing or empty one is 401
    /// without a call), then the decision for them (cached, or from
    /// calling the authorizer with the event `event` makes), evaluated
    /// against `arn`. The API kind only chooses the event and the ARN.
    pub async fn authorize_with(
        &self,
        ctx: &RequestContext,
        event: impl FnOnce(&[String]) -> Value,
        arn: &str,
        invoker: &Invoker,
        now_ms: i64,
    ) -> Result<AuthorizerOutput, Refusal> {
        let identity = self.identity(ctx).ok_or(Refusal::Unauthorized)?;
        self.decide(identity, event, arn, invoker, now_ms).await
    }

    async fn decide(
        &self,
        identity: Vec<String>,
        event: impl FnOnce(&[String]) -> Value,
        arn: &str,
        invoker: &Invoker,
        now_ms: i64,
    ) -> Result<AuthorizerOutput, Refusal> {
        let cached = if self.config.ttl_s > 0 {
            let cache = self.cache.lock().expect("authorizer cache lock");
            cache
                .get(&identity)
                .filter(|(until, _)| *until > now_ms)
                .map(|(_, d)| d.clone())
        } else {
            None
        };
        let decision = match cached {
            Some(d) => d,
            None => {
                let d = self.call(event(&identity), invoker).await?;
                if self.config.ttl_s > 0 {
                    let mut cache = self.cache.lock().expect("authorizer cache lock");
                    if cache.len() >= CACHE_MAX {
                        cache.retain(|_, (until, _)| *until > now_ms);
                        if cache.len() >= CACHE_MAX {
                            cache.clear();
                        }
                    }
                    cache.insert(
                        identity,
                        (now_ms + self.config.ttl_s as i64 * 1000, d.clone()),
                    );
                }
                d
            }
        };
        match decision {
            Decision::Simple {
                allowed: true,
                context,
            } => Ok(AuthorizerOutput::Lambda {
                principal_id: None,
                context,
            }),
            Decision::Simple { allowed: false, .. } => Err(Refusal::Forbidden),
            Decision::Policy {
                principal_id,
                statements,
                context,
            } => {
                if allows(&statements, arn) {
                    Ok(AuthorizerOutput::Lambda {
                        principal_id,
                        context,
                    })
                } else {
                    Err(Refusal::Forbidden)
                }
            }
        }
    }

    async fn call(&self, event: Value, invoker: &Invoker) -> Result<Decision, Refusal> {
        let payload = serde_json::to_vec(&event).expect("event serializes");
        let raw = invoker
            .invoke(
                &self.config.target,
                payload,
                Duration::from_millis(self.config.timeout_ms),
            )
            .await
            .map_err(|e| Refusal::Error(format!("{e:?}")))?;
        parse_answer(
            &raw,
            self.config.simple_responses,
            self.config.payload_version,
        )
        .ok_or_else(|| {
            Refusal::Error(format!(
                "malformed answer: {}",
                String::from_utf8_lossy(&raw)
            ))
        })
    }
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

/// Reads an authorizer's answer; `None` when it has the wrong shape.
fn parse_answer(raw: &[u8], simple: bool, version: PayloadVersion) -> Option<Decision> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    let o = v.as_object()?;
    let context = match o.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c)) => c.clone(),
        Some(_) => return None,
    };
    if version == PayloadVersion::V1 && context.contains_key("claims") {
        // `claims` is reserved in payload 1.0 contexts.
        return None;
    }
    if simple {
        let allowed = o.get("isAuthorized")?.as_bool()?;
        return Some(Decision::Simple { allowed, context });
    }
    let principal_id = match o.get("principalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return None,
    };
    let doc = o.get("policyDocument")?.as_object()?;
    let list = match doc.get("Statement")? {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => return None,
    };
    let mut statements = Vec::new();
    for s in list {
        let s = s.as_object()?;
        let allow = match s.get("Effect")?.as_str()? {
            "Allow" => true,
            "Deny" => false,
            _ => return None,
        };
        statements.push(Statement {
            allow,
            actions: strings(s.get("Action"))?,
            resources: strings(s.get("Resource"))?,
        });
    }
    Some(Decision::Policy {
        principal_id,
        statements,
        context,
    })
}

/// IAM semantics: an explicit Deny wins; otherwise some Allow must match.
fn allows(statements: &[Statement], arn: &str) -> bool {
    let applies = |s: &Statement| {
        s.actions.iter().any(|a| wildcard(a, "execute-api:Invoke"))
            && s.resources.iter().any(|r| wildcard(r, arn))
    };
    !statements.iter().any(|s| !s.allow && applies(s))
        && statements.iter().any(|s| s.allow && applies(s))
}

/// `*` matches any run of characters, `?` any one character.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_follow_iam() {
        assert!(wildcard("*", "anything"));
        assert!(wildcard(
            "arn:aws:execute-api:*:*:abc/*/GET/pets",
            "arn:aws:execute-api:us-east-1:0:abc/$default/GET/pets"
        ));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "ac"));
        assert!(!wildcard("arn:*/POST/*", "arn:x/GET/pets"));
        assert!(wildcard("execute-api:*", "execute-api:Invoke"));
    }

    fn decision(raw: &str, simple: bool) -> Option<Decision> {
        parse_answer(raw.as_bytes(), simple, PayloadVersion::V2)
    }

    #[test]
    fn simple_answers_need_a_real_boolean() {
        assert!(matches!(
            decision(r#"{"isAuthorized":true}"#, true),
            Some(Decision::Simple { allowed: true, .. })
        ));
        assert!(decision(r#"{"isAuthorized":"true"}"#, true).is_none());
        assert!(decision(r#"{}"#, true).is_none());
        assert!(decision("not json", true).is_none());
        assert!(decision(r#"{"isAuthorized":true,"context":"x"}"#, true).is_none());
    }

    #[test]
    fn an_explicit_deny_wins_and_no_allow_is_a_deny() {
        let arn = "arn:aws:execute-api:us-east-1:0:api/$default/GET/pets";
        let policy = |stmts: &str| match decision(
            &format!(
                r#"{{"principalId":"u","policyDocument":{{"Version":"2012-10-17","Statement":{stmts}}}}}"#
            ),
            false,
        ) {
            Some(Decision::Policy { statements, .. }) => allows(&statements, arn),
            other => panic!("{other:?}"),
        };
        assert!(policy(
            r#"[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"}]"#
        ));
        assert!(!policy(
            r#"[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"},{"Action":"execute-api:Invoke","Effect":"Deny","Resource":"arn:*/GET/*"}]"#
        ));
        assert!(!policy(
            r#"[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:*/POST/*"}]"#
        ));
        assert!(!policy(r#"[]"#));
        assert!(decision(r#"{"principalId":"u","policyDocument":{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}}"#, false).is_none());
    }

    #[test]
    fn claims_is_reserved_in_payload_1_contexts() {
        let raw =
            br#"{"principalId":"u","policyDocument":{"Statement":[]},"context":{"claims":"x"}}"#;
        assert!(parse_answer(raw, false, PayloadVersion::V1).is_none());
        assert!(parse_answer(raw, false, PayloadVersion::V2).is_some());
    }
}
