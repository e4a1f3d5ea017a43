//! The per-request context: what the phases learn about a request and
//! what templates, identity sources and parameter mapping read from it
//! (API Gateway's `$context`, `$request` and `$stageVariables`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::header::AsHeaderName;
use axum::http::HeaderMap;
use serde_json::{Map, Value};

/// What an authorizer found out, passed to the integration.
#[derive(Debug, Clone, Default)]
pub enum AuthorizerOutput {
    #[default]
    None,
    Jwt {
        claims: Arc<Map<String, Value>>,
        /// `None` when the route has no scopes (AWS sends `null` then).
        scopes: Option<Vec<String>>,
    },
    Lambda {
        principal_id: Option<String>,
        context: Map<String, Value>,
    },
}

/// One request as the gateway sees it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub account_id: &'static str,
    pub api_id: String,
    pub method: String,
    /// The path as received, with a named stage's prefix and without a
    /// custom domain's base path (what payload 2.0 calls `rawPath`).
    pub raw_path: String,
    /// The path with stage and base path, as payload 1.0's `path`.
    pub full_path: String,
    /// Decoded path segments after stage and base path: what routing saw.
    pub segments: Vec<String>,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub source_ip: String,
    pub protocol: &'static str,
    pub time_ms: i64,
    pub stage: String,
    pub stage_variables: Arc<BTreeMap<String, String>>,
    pub route_key: String,
    /// The route's path pattern (`/pets/{id}`), or `$default`.
    pub resource: String,
    pub domain_name: String,
    pub base_path_matched: Option<String>,
    pub path_params: Vec<(String, String)>,
    pub authorizer: AuthorizerOutput,
    /// Cookies the gateway itself sets on the answer (a session's silent
    /// refresh).
    pub response_cookies: Vec<String>,
}

impl RequestContext {
    /// The path after the stage, `/`-joined from the decoded segments.
    pub fn path(&self) -> String {
        let mut p = String::from("/");
        p.push_str(&self.segments.join("/"));
        p
    }

    /// [`RequestContext::header`], borrowed when the header is not
    /// repeated (the common case: nothing to join).
    pub fn header_ref<K: AsHeaderName + Copy>(&self, name: K) -> Option<std::borrow::Cow<'_, str>> {
        let mut values = self.headers.get_all(name).iter();
        let first = values.next()?;
        if values.next().is_none() {
            return first.to_str().ok().map(std::borrow::Cow::Borrowed);
        }
        self.header(name).map(std::borrow::Cow::Owned)
    }

    /// A header's value, repeated headers joined with `,` as API Gateway
    /// does.
    pub fn header<K: AsHeaderName>(&self, name: K) -> Option<String> {
        let mut values = self.headers.get_all(name).iter();
        let first = values.next()?.to_str().ok()?.to_string();
        let mut out = first;
        for v in values {
            out.push(',');
            out.push_str(v.to_str().ok()?);
        }
        Some(out)
    }

    /// Query string parameters, decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// A query parameter, repeated keys joined with `,`.
    pub fn query(&self, name: &str) -> Option<String> {
        let values: Vec<String> = self
            .query_pairs()
            .into_iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    /// The cookies of every Cookie header, split on `;` and trimmed.
    pub fn cookies(&self) -> Vec<String> {
        crate::cookie::all(&self.headers)
    }

    /// A cookie by exact name. Two cookies of that name are ambiguous (one
    /// may have been planted by a sibling host) and give `None`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookie_ref(name).map(str::to_string)
    }

    /// [`RequestContext::cookie`], borrowed.
    pub fn cookie_ref(&self, name: &str) -> Option<&str> {
        crate::cookie::unique(&self.headers, name)
    }

    pub fn user_agent(&self) -> String {
        self.header("user-agent").unwrap_or_default()
    }

    pub fn domain_prefix(&self) -> String {
        self.domain_name
            .split('.')
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// `12/Mar/2020:19:03:58 +0000`, the form API Gateway logs and events use.
    pub fn request_time(&self) -> String {
        clf_time(self.time_ms)
    }

    /// Reads a variable by API Gateway's name for it: `context.requestId`,
    /// `context.authorizer.claims.sub`, `request.header.x`,
    /// `request.querystring.q`, `request.path.id`, `request.path`,
    /// `stageVariables.v`. Unknown or absent: `None`.
    pub fn variable(&self, name: &str) -> Option<String> {
        if let Some(c) = name.strip_prefix("context.") {
            return self.context_variable(c);
        }
        if let Some(h) = name.strip_prefix("request.header.") {
            return self.header(h.to_ascii_lowercase());
        }
        if let Some(q) = name.strip_prefix("request.querystring.") {
            return self.query(q);
        }
        if let Some(c) = name.strip_prefix("request.cookie.") {
            return self.cookie(c);
        }
        if name == "request.path" {
            return Some(self.path());
        }
        if let Some(p) = name.strip_prefix("request.path.") {
            return self
                .path_params
                .iter()
                .find(|(n, _)| n == p)
                .map(|(_, v)| v.clone());
        }
        if let Some(v) = name.strip_prefix("stageVariables.") {
            return self.stage_variables.get(v).cloned();
        }
        None
    }

    fn context_variable(&self, name: &str) -> Option<String> {
        Some(match name {
            "requestId" | "extendedRequestId" => self.request_id.clone(),
            "accountId" => self.account_id.to_string(),
            "apiId" => self.api_id.clone(),
            "stage" => self.stage.clone(),
            "routeKey" => self.route_key.clone(),
            "httpMethod" => self.method.clone(),
            "path" => self.full_path.clone(),
            "protocol" => self.protocol.to_string(),
            "domainName" => self.domain_name.clone(),
            "domainPrefix" => self.domain_prefix(),
            "requestTime" => self.request_time(),
            "requestTimeEpoch" => self.time_ms.to_string(),
            "identity.sourceIp" => self.source_ip.clone(),
            "identity.userAgent" => self.user_agent(),
            "customDomain.basePathMatched" => self.base_path_matched.clone()?,
            "authorizer.principalId" => match &self.authorizer {
                AuthorizerOutput::Lambda { principal_id, .. } => principal_id.clone()?,
                _ => return None,
            },
            other => {
                let key = other.strip_prefix("authorizer.")?;
                match &self.authorizer {
                    AuthorizerOutput::Jwt { claims, .. } => {
                        claim_string(claims.get(key.strip_prefix("claims.")?)?)?
                    }
                    AuthorizerOutput::Lambda { context, .. } => claim_string(context.get(key)?)?,
                    AuthorizerOutput::None => return None,
                }
            }
        })
    }
}

/// A claim as API Gateway passes it on: strings as they are, numbers and
/// booleans as text, arrays in Go's `[a b]` form, objects as JSON text;
/// `null` is dropped.
pub fn claim_string(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(_) => v.to_string(),
    })
}

/// Claims in API Gateway's wire form: every value a string.
pub fn stringified_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), Value::String(claim_string(v)?))))
        .collect()
}

/// Fills `${name}` in a template; `${a | b}` takes the first of the
/// variables that has a value. A variable without a value is empty.
pub fn render(template: &str, ctx: &RequestContext) -> String {
    fill(template, |name| ctx.variable(name))
}

/// Fills `${name}` in a template from `lookup`; `${a | b}` takes the first
/// name with a non-empty value; none: empty.
pub fn fill(template: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = after[..end]
            .split('|')
            .find_map(|name| lookup(name.trim()).filter(|v| !v.is_empty()))
            .unwrap_or_default();
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Reads a parameter-mapping value: a bare `$context.x` / `$request.x` /
/// `$stageVariables.x`, or text with `${...}` inside.
pub fn mapping_value(value: &str, ctx: &RequestContext) -> String {
    match value.strip_prefix('$') {
        Some(name) if !name.starts_with('{') && !name.contains(' ') => {
            ctx.variable(name).unwrap_or_default()
        }
        _ => render(value, ctx),
    }
}

pub fn clf_time(ms: i64) -> String {
    let mut out = String::with_capacity(26);
    crate::access::push_clf_time(&mut out, ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_are_stringified_as_api_gateway_sends_them() {
        let claims = json!({
            "exp": 1787996002, "email_verified": true, "cognito:groups": ["admin", "poweruser"],
            "nested": {"a": 1}, "gone": null, "scope": "a b"
        });
        let out = stringified_claims(claims.as_object().unwrap());
        assert_eq!(
            Value::Object(out),
            json!({"exp": "1787996002", "email_verified": "true",
                   "cognito:groups": "[admin poweruser]", "nested": "{\"a\":1}", "scope": "a b"})
        );
    }

    #[test]
    fn clf_time_has_the_access_log_form() {
        assert_eq!(clf_time(1_584_039_838_000), "12/Mar/2020:19:03:58 +0000");
    }
}
