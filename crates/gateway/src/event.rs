//! Lambda-style events (payload formats 1.0 and 2.0) and the responses
//! functions give back, as API Gateway's HTTP APIs shape them
//! (reference/apigateway.md §3.1-3.3).

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::context::{stringified_claims, AuthorizerOutput, RequestContext};

/// Whether API Gateway sends a body as text: only `text/*` and the JSON,
/// XML and JavaScript types; everything else (no type, forms, binary) is
/// base64.
pub fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence == "application/json"
        || essence == "application/xml"
        || essence == "application/javascript"
}

fn body_fields(ctx: &RequestContext, body: &[u8]) -> (Option<String>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    let ct = ctx.header("content-type");
    if is_text(ct.as_deref()) {
        if let Ok(s) = std::str::from_utf8(body) {
            return (Some(s.to_string()), false);
        }
    }
    (
        Some(base64::engine::general_purpose::STANDARD.encode(body)),
        true,
    )
}

/// Headers with lower-case names, repeated ones joined with `,`; the
/// Cookie header is left out when `drop_cookie` (payload 2.0 moves it to
/// `cookies`).
fn headers_map(ctx: &RequestContext, drop_cookie: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for name in ctx.headers.keys() {
        if drop_cookie && name == axum::http::header::COOKIE {
            continue;
        }
        if let Some(v) = ctx.header(name.as_str()) {
            out.insert(name.as_str().to_string(), Value::String(v));
        }
    }
    out
}

fn query_map(ctx: &RequestContext) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for (k, v) in ctx.query_pairs() {
        match out.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                out.insert(k, Value::String(v));
            }
        }
    }
    out
}

fn params_map(ctx: &RequestContext) -> Map<String, Value> {
    ctx.path_params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

fn stage_vars(ctx: &RequestContext) -> Map<String, Value> {
    ctx.stage_variables
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// The request context of payload 2.0, without `authorizer`.
fn request_context_v2(ctx: &RequestContext) -> Map<String, Value> {
    let mut rc = Map::new();
    rc.insert("accountId".into(), json!(ctx.account_id));
    rc.insert("apiId".into(), json!(ctx.api_id));
    rc.insert("domainName".into(), json!(ctx.domain_name));
    rc.insert("domainPrefix".into(), json!(ctx.domain_prefix()));
    rc.insert(
        "http".into(),
        json!({
            "method": ctx.method,
            "path": ctx.raw_path,
            "protocol": ctx.protocol,
            "sourceIp": ctx.source_ip,
            "userAgent": ctx.user_agent(),
        }),
    );
    rc.insert("requestId".into(), json!(ctx.request_id));
    rc.insert("routeKey".into(), json!(ctx.route_key));
    rc.insert("stage".into(), json!(ctx.stage));
    rc.insert("time".into(), json!(ctx.request_time()));
    rc.insert("timeEpoch".into(), json!(ctx.time_ms));
    rc
}

/// The payload 2.0 event an integration receives.
pub fn v2(ctx: &RequestContext, body: &[u8]) -> Value {
    let mut e = Map::new();
    e.insert("version".into(), json!("2.0"));
    e.insert("routeKey".into(), json!(ctx.route_key));
    e.insert("rawPath".into(), json!(ctx.raw_path));
    e.insert("rawQueryString".into(), json!(ctx.raw_query));
    let cookies = ctx.cookies();
    if !cookies.is_empty() {
        e.insert("cookies".into(), json!(cookies));
    }
    e.insert("headers".into(), Value::Object(headers_map(ctx, true)));
    let q = query_map(ctx);
    if !q.is_empty() {
        e.insert("queryStringParameters".into(), Value::Object(q));
    }
    let mut rc = request_context_v2(ctx);
    match &ctx.authorizer {
        AuthorizerOutput::None => {}
        AuthorizerOutput::Jwt { claims, scopes } => {
            rc.insert(
                "authorizer".into(),
                json!({"jwt": {"claims": stringified_claims(claims), "scopes": scopes}}),
            );
        }
        AuthorizerOutput::Lambda { context, .. } => {
            rc.insert("authorizer".into(), json!({ "lambda": context }));
        }
    }
    e.insert("requestContext".into(), Value::Object(rc));
    if !ctx.path_params.is_empty() {
        e.insert("pathParameters".into(), Value::Object(params_map(ctx)));
    }
    if !ctx.stage_variables.is_empty() {
        e.insert("stageVariables".into(), Value::Object(stage_vars(ctx)));
    }
    let (body, b64) = body_fields(ctx, body);
    if let Some(b) = body {
        e.insert("body".into(), json!(b));
    }
    e.insert("isBase64Encoded".into(), json!(b64));
    Value::Object(e)
}

fn or_null(m: Map<String, Value>) -> Value {
    if m.is_empty() {
        Value::Null
    } else {
        Value::Object(m)
    }
}

fn multi_headers(ctx: &RequestContext) -> Map<String, Value> {
    let mut out = Map::new();
    for name in ctx.headers.keys() {
        let values: Vec<Value> = ctx
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| json!(v))
            .collect();
        out.insert(name.as_str().to_string(), Value::Array(values));
    }
    out
}

fn multi_query(ctx: &RequestContext) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for (k, v) in ctx.query_pairs() {
        match out.get_mut(&k) {
            Some(Value::Array(a)) => a.push(json!(v)),
            _ => {
                out.insert(k, json!([v]));
            }
        }
    }
    out
}

/// The REST-compatible request context of payload 1.0.
fn request_context_v1(ctx: &RequestContext) -> Map<String, Value> {
    let mut rc = Map::new();
    rc.insert("accountId".into(), json!(ctx.account_id));
    rc.insert("apiId".into(), json!(ctx.api_id));
    let authorizer = match &ctx.authorizer {
        AuthorizerOutput::None => json!({"claims": null, "scopes": null}),
        AuthorizerOutput::Jwt { claims, scopes } => {
            json!({"claims": stringified_claims(claims), "scopes": scopes})
        }
        AuthorizerOutput::Lambda {
            principal_id,
            context,
        } => {
            let mut a: Map<String, Value> = context
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), json!(crate::context::claim_string(v)?))))
                .collect();
            if let Some(p) = principal_id {
                a.insert("principalId".into(), json!(p));
            }
            a.insert("integrationLatency".into(), json!(0));
            Value::Object(a)
        }
    };
    rc.insert("authorizer".into(), authorizer);
    rc.insert("domainName".into(), json!(ctx.domain_name));
    rc.insert("domainPrefix".into(), json!(ctx.domain_prefix()));
    rc.insert("extendedRequestId".into(), json!(ctx.request_id));
    rc.insert("httpMethod".into(), json!(ctx.method));
    rc.insert(
        "identity".into(),
        json!({
            "accessKey": null, "accountId": null, "caller": null,
            "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
            "cognitoIdentityId": null, "cognitoIdentityPoolId": null,
            "principalOrgId": null, "sourceIp": ctx.source_ip, "user": null,
            "userAgent": ctx.user_agent(), "userArn": null,
        }),
    );
    rc.insert("path".into(), json!(ctx.full_path));
    rc.insert("protocol".into(), json!(ctx.protocol));
    rc.insert("requestId".into(), json!(ctx.request_id));
    rc.insert("requestTime".into(), json!(ctx.request_time()));
    rc.insert("requestTimeEpoch".into(), json!(ctx.time_ms));
    rc.insert("resourceId".into(), json!(ctx.route_key));
    rc.insert("resourcePath".into(), json!(ctx.resource));
    rc.insert("stage".into(), json!(ctx.stage));
    rc
}

/// The payload 1.0 event an integration receives.
pub fn v1(ctx: &RequestContext, body: &[u8]) -> Value {
    let (body, b64) = body_fields(ctx, body);
    json!({
        "version": "1.0",
        "resource": ctx.resource,
        "path": ctx.full_path,
        "httpMethod": ctx.method,
        "headers": or_null(headers_map(ctx, false)),
        "multiValueHeaders": or_null(multi_headers(ctx)),
        "queryStringParameters": or_null(query_map(ctx)),
        "multiValueQueryStringParameters": or_null(multi_query(ctx)),
        "requestContext": request_context_v1(ctx),
        "pathParameters": or_null(params_map(ctx)),
        "stageVariables": or_null(stage_vars(ctx)),
        "body": body,
        "isBase64Encoded": b64,
    })
}

/// The `arn:aws:execute-api:...` of the route, as authorizer events carry.
pub fn route_arn(ctx: &RequestContext, region: &str) -> String {
    let path = ctx.path();
    format!(
        "arn:aws:execute-api:{region}:{}:{}/{}/{}{}",
        ctx.account_id, ctx.api_id, ctx.stage, ctx.method, path
    )
}

/// The payload 2.0 authorizer event: the integration event without body,
/// plus `type`, `routeArn` and `identitySource`.
pub fn authorizer_v2(ctx: &RequestContext, region: &str, identity: &[String]) -> Value {
    let mut e = v2(ctx, b"");
    let m = e.as_object_mut().expect("event is an object");
    m.remove("body");
    m.remove("isBase64Encoded");
    m.insert("type".into(), json!("REQUEST"));
    m.insert("routeArn".into(), json!(route_arn(ctx, region)));
    m.insert("identitySource".into(), json!(identity));
    e
}

/// The payload 1.0 (REST-compatible) authorizer event.
pub fn authorizer_v1(ctx: &RequestContext, region: &str, identity: &[String]) -> Value {
    let mut e = v1(ctx, b"");
    let m = e.as_object_mut().expect("event is an object");
    m.remove("body");
    m.remove("isBase64Encoded");
    if let Some(Value::Object(rc)) = m.get_mut("requestContext") {
        rc.remove("authorizer");
    }
    let joined = identity.join(",");
    m.insert("type".into(), json!("REQUEST"));
    m.insert("methodArn".into(), json!(route_arn(ctx, region)));
    m.insert("identitySource".into(), json!(joined));
    m.insert("authorizationToken".into(), json!(joined));
    e
}

/// What a function answered, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub cookies: Vec<String>,
    pub body: Vec<u8>,
}

fn header_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn structured(o: &Map<String, Value>, multi: bool) -> Option<FunctionResponse> {
    let status = o
        .get("statusCode")?
        .as_u64()
        .filter(|s| (100..=599).contains(s))? as u16;
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(h) = o.get("headers").filter(|h| !h.is_null()) {
        for (k, v) in h.as_object()? {
            headers.push((k.clone(), header_value(v)?));
        }
    }
    if multi {
        if let Some(mh) = o.get("multiValueHeaders").filter(|h| !h.is_null()) {
            for (k, vs) in mh.as_object()? {
                // A header set both ways keeps the multi-value form.
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
                for v in vs.as_array()? {
                    headers.push((k.clone(), header_value(v)?));
                }
            }
        }
    }
    let mut cookies = Vec::new();
    if !multi {
        if let Some(c) = o.get("cookies").filter(|c| !c.is_null()) {
            for v in c.as_array()? {
                cookies.push(v.as_str()?.to_string());
            }
        }
    }
    let b64 = match o.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(v) => v.as_bool()?,
    };
    let body = match o.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if b64 => {
            base64::engine::general_purpose::STANDARD.decode(s).ok()?
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(_) => return None,
    };
    Some(FunctionResponse {
        status,
        headers,
        cookies,
        body,
    })
}

/// Reads a payload 2.0 result: structured when it is an object with
/// `statusCode`, otherwise inferred (200, JSON, a string unquoted).
/// `None`: malformed, which the client sees as 500.
pub fn response_v2(raw: &[u8]) -> Option<FunctionResponse> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    if let Value::Object(o) = &v {
        if o.contains_key("statusCode") {
            return structured(o, false);
        }
    }
    let body = match v {
        Value::String(s) => s.into_bytes(),
        other => other.to_string().into_bytes(),
    };
    Some(FunctionResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        cookies: Vec::new(),
        body,
    })
}

/// Reads a payload 1.0 result: `statusCode` is required.
pub fn response_v1(raw: &[u8]) -> Option<FunctionResponse> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    structured(v.as_object()?, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_json_xml_and_javascript_bodies_are_sent_as_text() {
        for t in [
            "text/plain",
            "text/html; charset=utf-8",
            "application/json",
            "application/xml",
            "application/javascript",
        ] {
            assert!(is_text(Some(t)), "{t}");
        }
        for t in [
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            "image/png",
            "application/json-patch+json",
        ] {
            assert!(!is_text(Some(t)), "{t}");
        }
        assert!(!is_text(None));
    }

    #[test]
    fn an_inferred_response_unquotes_a_string_and_keeps_other_json() {
        let r = response_v2(br#""Hello""#).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello"[..]));
        let r = response_v2(br#"{"a":1}"#).unwrap();
        assert_eq!(r.body, br#"{"a":1}"#);
        assert_eq!(
            r.headers,
            [("content-type".to_string(), "application/json".to_string())]
        );
        assert_eq!(response_v2(b"[1,2]").unwrap().body, b"[1,2]");
    }

    #[test]
    fn a_structured_response_keeps_cookies_apart_and_decodes_base64() {
        let r = response_v2(
            br#"{"statusCode":201,"headers":{"x-n":5,"x-b":true},"cookies":["a=1","b=2"],"body":"aGk=","isBase64Encoded":true}"#,
        )
        .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.body, b"hi");
        assert_eq!(r.cookies, ["a=1", "b=2"]);
        assert_eq!(
            r.headers,
            [
                ("x-b".to_string(), "true".to_string()),
                ("x-n".to_string(), "5".to_string())
            ]
        );
    }

    #[test]
    fn malformed_responses_are_refused() {
        assert!(response_v2(b"not json").is_none());
        assert!(response_v2(br#"{"statusCode":"200"}"#).is_none());
        assert!(response_v2(br#"{"statusCode":200,"body":{"a":1}}"#).is_none());
        assert!(response_v2(br#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#).is_none());
        assert!(response_v1(br#""Hello""#).is_none());
        assert!(response_v1(br#"{"body":"x"}"#).is_none());
    }

    #[test]
    fn payload_1_multi_value_headers_win_over_single_ones() {
        let r = response_v1(
            br#"{"statusCode":200,"headers":{"x-a":"single","x-b":"b"},"multiValueHeaders":{"x-a":["m1","m2"]},"body":"ok"}"#,
        )
        .unwrap();
        assert_eq!(
            r.headers,
            [
                ("x-b".to_string(), "b".to_string()),
                ("x-a".to_string(), "m1".to_string()),
                ("x-a".to_string(), "m2".to_string())
            ]
        );
    }
}
