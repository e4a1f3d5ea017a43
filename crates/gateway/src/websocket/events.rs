//! What WebSocket integrations and authorizers receive
//! (reference/apigateway.md §2.7, §5.3): one fixed event format, with
//! `requestContext.eventType` CONNECT, MESSAGE or DISCONNECT; and the route
//! selection expression that picks a message's route.

use serde_json::{json, Map, Value};

use crate::context::{clf_time, RequestContext};

/// A connection's facts that every event repeats.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub connection_id: String,
    pub api_id: String,
    pub stage: String,
    pub domain_name: String,
    pub connected_at_ms: i64,
    pub source_ip: String,
    pub user_agent: Option<String>,
    /// `principalId`, `integrationLatency` and the authorizer's context,
    /// values stringified (WebSocket APIs pass scalars only).
    pub authorizer: Option<Map<String, Value>>,
    pub stage_variables: Map<String, Value>,
}

/// Header names as a browser writes them (`Sec-WebSocket-Key`, `Cookie`):
/// the CONNECT event keeps the client's case, which hyper does not keep.
pub fn header_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, part) in name.split('-').enumerate() {
        if i > 0 {
            out.push('-');
        }
        match part {
            "websocket" => out.push_str("WebSocket"),
            "www" => out.push_str("WWW"),
            "dnt" | "te" => out.push_str(&part.to_ascii_uppercase()),
            _ => {
                let mut chars = part.chars();
                if let Some(first) = chars.next() {
                    out.push(first.to_ascii_uppercase());
                    out.push_str(chars.as_str());
                }
            }
        }
    }
    out
}

fn request_context(
    info: &ConnInfo,
    route_key: &str,
    event_type: &str,
    request_id: &str,
    now_ms: i64,
) -> Map<String, Value> {
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), json!(info.source_ip));
    if let Some(ua) = &info.user_agent {
        identity.insert("userAgent".into(), json!(ua));
    }
    let mut rc = Map::new();
    rc.insert("routeKey".into(), json!(route_key));
    rc.insert("eventType".into(), json!(event_type));
    rc.insert("extendedRequestId".into(), json!(request_id));
    rc.insert("requestTime".into(), json!(clf_time(now_ms)));
    rc.insert("messageDirection".into(), json!("IN"));
    rc.insert("stage".into(), json!(info.stage));
    rc.insert("connectedAt".into(), json!(info.connected_at_ms));
    rc.insert("requestTimeEpoch".into(), json!(now_ms));
    rc.insert("identity".into(), Value::Object(identity));
    rc.insert("requestId".into(), json!(request_id));
    rc.insert("domainName".into(), json!(info.domain_name));
    rc.insert("connectionId".into(), json!(info.connection_id));
    rc.insert("apiId".into(), json!(info.api_id));
    if let Some(a) = &info.authorizer {
        rc.insert("authorizer".into(), Value::Object(a.clone()));
    }
    rc
}

fn headers(ctx: &RequestContext) -> (Map<String, Value>, Map<String, Value>) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for name in ctx.headers.keys() {
        let values: Vec<String> = ctx
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        if values.is_empty() {
            continue;
        }
        let cased = header_case(name.as_str());
        single.insert(cased.clone(), json!(values.join(",")));
        multi.insert(cased, json!(values));
    }
    (single, multi)
}

fn query(ctx: &RequestContext) -> (Map<String, Value>, Map<String, Value>) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (k, v) in ctx.query_pairs() {
        match multi.get_mut(&k) {
            Some(Value::Array(a)) => a.push(json!(v)),
            _ => {
                multi.insert(k.clone(), json!([v]));
            }
        }
        // The last value wins in the single-value map, as API Gateway does.
        single.insert(k, json!(v));
    }
    (single, multi)
}

/// The CONNECT event an integration receives.
pub fn connect(ctx: &RequestContext, info: &ConnInfo, now_ms: i64) -> Value {
    let (h, mh) = headers(ctx);
    let (q, mq) = query(ctx);
    let mut e = Map::new();
    e.insert("headers".into(), Value::Object(h));
    e.insert("multiValueHeaders".into(), Value::Object(mh));
    if !q.is_empty() {
        e.insert("queryStringParameters".into(), Value::Object(q));
        e.insert("multiValueQueryStringParameters".into(), Value::Object(mq));
    }
    if !info.stage_variables.is_empty() {
        e.insert(
            "stageVariables".into(),
            Value::Object(info.stage_variables.clone()),
        );
    }
    e.insert(
        "requestContext".into(),
        Value::Object(request_context(
            info,
            "$connect",
            "CONNECT",
            &ctx.request_id,
            now_ms,
        )),
    );
    e.insert("isBase64Encoded".into(), json!(false));
    Value::Object(e)
}

/// The `$connect` authorizer's event (§2.7): REQUEST type, `methodArn`
/// ending in `/{stage}/$connect`, headers and query as CONNECT has them.
pub fn authorizer(ctx: &RequestContext, info: &ConnInfo, region: &str, now_ms: i64) -> Value {
    let (h, mh) = headers(ctx);
    let (q, mq) = query(ctx);
    let mut rc = request_context(info, "$connect", "CONNECT", &ctx.request_id, now_ms);
    rc.remove("authorizer");
    json!({
        "type": "REQUEST",
        "methodArn": connect_arn(info, region, ctx.account_id),
        "headers": h,
        "multiValueHeaders": mh,
        "queryStringParameters": q,
        "multiValueQueryStringParameters": mq,
        "stageVariables": info.stage_variables,
        "requestContext": rc,
    })
}

/// `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/$connect`.
pub fn connect_arn(info: &ConnInfo, region: &str, account: &str) -> String {
    format!(
        "arn:aws:execute-api:{region}:{account}:{}/{}/$connect",
        info.api_id, info.stage
    )
}

/// The MESSAGE event: the frame's text, no HTTP request data.
pub fn message(
    info: &ConnInfo,
    route_key: &str,
    body: &str,
    request_id: &str,
    message_id: &str,
    now_ms: i64,
) -> Value {
    let mut rc = request_context(info, route_key, "MESSAGE", request_id, now_ms);
    rc.insert("messageId".into(), json!(message_id));
    let mut e = Map::new();
    e.insert("requestContext".into(), Value::Object(rc));
    e.insert("body".into(), json!(body));
    e.insert("isBase64Encoded".into(), json!(false));
    if !info.stage_variables.is_empty() {
        e.insert(
            "stageVariables".into(),
            Value::Object(info.stage_variables.clone()),
        );
    }
    Value::Object(e)
}

/// The DISCONNECT event: the fixed minimal header set AWS sends, and why
/// the connection ended.
pub fn disconnect(
    info: &ConnInfo,
    status: u16,
    reason: &str,
    request_id: &str,
    now_ms: i64,
) -> Value {
    let mut rc = request_context(info, "$disconnect", "DISCONNECT", request_id, now_ms);
    rc.insert("disconnectStatusCode".into(), json!(status));
    rc.insert("disconnectReason".into(), json!(reason));
    let h = json!({
        "Host": info.domain_name,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    });
    let mh = json!({
        "Host": [info.domain_name],
        "x-api-key": [""],
        "X-Forwarded-For": [""],
        "x-restapi": [""],
    });
    let mut e = Map::new();
    e.insert("headers".into(), h);
    e.insert("multiValueHeaders".into(), mh);
    if !info.stage_variables.is_empty() {
        e.insert(
            "stageVariables".into(),
            Value::Object(info.stage_variables.clone()),
        );
    }
    e.insert("requestContext".into(), Value::Object(rc));
    e.insert("isBase64Encoded".into(), json!(false));
    Value::Object(e)
}

/// A parsed route selection expression: static text and
/// `$request.body.<path>` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Body(Vec<String>),
}

impl Selection {
    /// Parses `$request.body.action`, `${request.body.a}/${request.body.b}`,
    /// with `\$` for a literal dollar.
    pub fn parse(expr: &str) -> Selection {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = expr;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("\\$") {
                text.push('$');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("${request.body.") {
                let end = r.find('}').unwrap_or(r.len());
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Body(path(&r[..end])));
                rest = r.get(end + 1..).unwrap_or("");
            } else if let Some(r) = rest.strip_prefix("$request.body.") {
                let end = r
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-'))
                    .unwrap_or(r.len());
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Body(path(&r[..end])));
                rest = &r[end..];
            } else {
                let c = rest.chars().next().expect("not empty");
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Selection(parts)
    }

    /// The route key a message selects; `None` when the message is not a
    /// JSON object (it goes to `$default`).
    pub fn evaluate(&self, message: &str) -> Option<String> {
        let body: Value = serde_json::from_str(message).ok()?;
        if !body.is_object() {
            return None;
        }
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Body(path) => {
                    let mut v = &body;
                    let mut found = true;
                    for seg in path {
                        match v.get(seg) {
                            Some(x) => v = x,
                            None => {
                                found = false;
                                break;
                            }
                        }
                    }
                    if found {
                        out.push_str(&stringify(v));
                    }
                }
            }
        }
        Some(out)
    }
}

fn path(p: &str) -> Vec<String> {
    p.split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Scalars as written; arrays as `[a, b]` (API Gateway's form).
fn stringify(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(stringify).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// The authorizer output every event of a connection carries: context
/// values stringified, `principalId` and `integrationLatency` added.
pub fn authorizer_output(
    principal_id: Option<&str>,
    context: &Map<String, Value>,
    latency_ms: i64,
) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in context {
        m.insert(k.clone(), json!(stringify(v)));
    }
    if let Some(p) = principal_id {
        m.insert("principalId".into(), json!(p));
    }
    m.insert("integrationLatency".into(), json!(latency_ms));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_selection_reads_the_body_path_and_falls_back_on_non_json() {
        let s = Selection::parse("$request.body.action");
        assert_eq!(
            s.evaluate(r#"{"action":"sendmessage","data":1}"#),
            Some("sendmessage".into())
        );
        assert_eq!(s.evaluate(r#"{"data":1}"#), Some(String::new()));
        assert_eq!(s.evaluate("hello"), None);
        assert_eq!(s.evaluate("[1,2]"), None);
        let nested = Selection::parse("${request.body.service}/${request.body.op.name}");
        assert_eq!(
            nested.evaluate(r#"{"service":"chat","op":{"name":"send"}}"#),
            Some("chat/send".into())
        );
        let arr = Selection::parse("$request.body.tags");
        assert_eq!(arr.evaluate(r#"{"tags":["a","b"]}"#), Some("[a, b]".into()));
        assert_eq!(
            Selection::parse("\\$default").evaluate("{}"),
            Some("$default".into())
        );
    }

    #[test]
    fn header_names_take_the_case_browsers_send() {
        assert_eq!(header_case("sec-websocket-key"), "Sec-WebSocket-Key");
        assert_eq!(header_case("cookie"), "Cookie");
        assert_eq!(header_case("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(header_case("user-agent"), "User-Agent");
    }

    #[test]
    fn authorizer_context_is_stringified_for_websocket_events() {
        let ctx: Map<String, Value> =
            serde_json::from_str(r#"{"n":1,"b":true,"s":"x"}"#).expect("json");
        let out = authorizer_output(Some("user-1"), &ctx, 12);
        assert_eq!(out["n"], json!("1"));
        assert_eq!(out["b"], json!("true"));
        assert_eq!(out["s"], json!("x"));
        assert_eq!(out["principalId"], json!("user-1"));
        assert_eq!(out["integrationLatency"], json!(12));
    }
}
