//! Integrations: where a routed, authorized request goes.
//!
//! - `response`: a fixed answer rendered from templates;
//! - `echo`: the payload 2.0 event itself (the demo's `/user/profile`);
//! - `http`: HTTP proxy to an upstream (reference/apigateway.md §3.5-3.6);
//! - `lambda`: a Lambda-style function in payload format 1.0 or 2.0.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use cognate_config::{
    HttpIntegration, IntegrationKind, MapOp, Method, ParameterAction, PayloadVersion, Target,
};

use crate::context::{mapping_value, render, RequestContext};
use crate::error::GatewayError;
use crate::event::{self, FunctionResponse};
use crate::route::encode_segment;
use crate::runtime::InvokeError;
use crate::upstream::Lease;
use crate::Shared;

pub async fn run(
    kind: &IntegrationKind,
    plain: Option<&PlainUpstream>,
    ctx: &RequestContext,
    body: Bytes,
    shared: &Shared,
    session: Option<&crate::session::SessionRt>,
) -> Result<Response<Body>, GatewayError> {
    // The futures of the integrations that wait on more than an upstream
    // are boxed: each request's future is as large as its largest branch,
    // and is moved whole onto the heap when the request starts.
    match kind {
        IntegrationKind::SessionCallback => {
            let s = session.ok_or(GatewayError::Internal)?;
            Box::pin(s.callback(ctx, (shared.clock)())).await
        }
        IntegrationKind::SessionLogin => Ok(session.ok_or(GatewayError::Internal)?.login(ctx)),
        IntegrationKind::SessionLogout { redirect } => {
            let s = session.ok_or(GatewayError::Internal)?;
            Box::pin(s.logout(ctx, redirect.as_deref(), (shared.clock)())).await
        }
        IntegrationKind::Response {
            status,
            headers,
            body: template,
        } => fixed_response(*status, headers, template, ctx),
        IntegrationKind::Echo => {
            let event = event::v2(ctx, &body);
            let mut r = Response::new(Body::from(event.to_string()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(r)
        }
        IntegrationKind::Http(h) => proxy(h, plain, ctx, body, shared).await,
        IntegrationKind::Lambda {
            target,
            payload_version,
            timeout_ms,
        } => {
            Box::pin(invoke_function(
                target,
                *payload_version,
                *timeout_ms,
                ctx,
                &body,
                shared,
            ))
            .await
        }
    }
}

/// A `response` integration: status, headers and body rendered from the
/// request context.
fn fixed_response(
    status: u16,
    headers: &BTreeMap<String, String>,
    template: &str,
    ctx: &RequestContext,
) -> Result<Response<Body>, GatewayError> {
    let mut r = Response::new(Body::from(render(template, ctx)));
    *r.status_mut() = StatusCode::from_u16(status).map_err(|_| GatewayError::Internal)?;
    for (k, v) in headers {
        let name = HeaderName::try_from(k.as_str()).map_err(|_| GatewayError::Internal)?;
        // A rendered value with CR, LF or NUL cannot become a header:
        // fail closed rather than split the response.
        let value = HeaderValue::from_str(&render(v, ctx)).map_err(|_| GatewayError::Internal)?;
        r.headers_mut().append(name, value);
    }
    if !r.headers().contains_key(header::CONTENT_TYPE) {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(r)
}

/// A Lambda-style function: the event in the route's payload format, the
/// answer read back in the same format (a timeout is a 503, a failure or
/// an invalid answer a 500).
async fn invoke_function(
    target: &Target,
    payload_version: PayloadVersion,
    timeout_ms: u64,
    ctx: &RequestContext,
    body: &Bytes,
    shared: &Shared,
) -> Result<Response<Body>, GatewayError> {
    let event = match payload_version {
        PayloadVersion::V2 => event::v2(ctx, body),
        PayloadVersion::V1 => event::v1(ctx, body),
    };
    let payload = serde_json::to_vec(&event).expect("event serializes");
    let raw = shared
        .invoker
        .invoke(target, payload, Duration::from_millis(timeout_ms))
        .await
        .map_err(|e| {
            tracing::warn!(requestId = %ctx.request_id, error = ?e, "function failed");
            match e {
                InvokeError::Timeout => GatewayError::ServiceUnavailable,
                InvokeError::Function(_) | InvokeError::Unavailable(_) => GatewayError::Internal,
            }
        })?;
    let parsed = match payload_version {
        PayloadVersion::V2 => event::response_v2(&raw),
        PayloadVersion::V1 => event::response_v1(&raw),
    };
    let Some(fr) = parsed else {
        tracing::warn!(requestId = %ctx.request_id, "function answered with an invalid response");
        return Err(GatewayError::Internal);
    };
    function_response(fr)
}

fn function_response(fr: FunctionResponse) -> Result<Response<Body>, GatewayError> {
    let mut r = Response::new(Body::from(fr.body));
    *r.status_mut() = StatusCode::from_u16(fr.status).map_err(|_| GatewayError::Internal)?;
    let h = r.headers_mut();
    for (k, v) in fr.headers {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(&v))
        else {
            return Err(GatewayError::Internal);
        };
        if is_hop_by_hop(&name) || name == header::CONTENT_LENGTH {
            continue;
        }
        h.append(name, value);
    }
    for c in fr.cookies {
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_str(&c).map_err(|_| GatewayError::Internal)?,
        );
    }
    Ok(r)
}

/// Upstream answers up to this size (by Content-Length) are buffered.
const BUFFERED_BODY: usize = 64 * 1024;

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
}

/// Removes hop-by-hop headers, including those the Connection header
/// names, and the names in `also`: one pass over the names, then only the
/// removals there are to make.
fn strip_hop_by_hop(headers: &mut HeaderMap, also: &[HeaderName]) {
    let mut gone: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        if is_hop_by_hop(name) || also.contains(name) {
            gone.push(name.clone());
        }
    }
    if gone.contains(&header::CONNECTION) {
        gone.extend(
            headers
                .get_all(header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok()),
        );
    }
    for n in gone {
        headers.remove(n);
    }
}

/// The upstream URL: path variables filled (encoded), stage variables
/// rendered, the request path appended for `$default`, the client's
/// query string forwarded.
fn upstream_url(h: &HttpIntegration, ctx: &RequestContext) -> String {
    let mut url = String::with_capacity(h.url.len() + 64);
    let mut rest = h.url.as_str();
    while let Some(start) = rest.find('{') {
        let is_stage_var = start > 0 && rest.as_bytes()[start - 1] == b'$';
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + end];
        url.push_str(&rest[..start]);
        match ctx.path_params.iter().find(|(n, _)| n == name) {
            Some((_, value)) if !is_stage_var => {
                for (i, seg) in value.split('/').enumerate() {
                    if i > 0 {
                        url.push('/');
                    }
                    encode_segment(seg, &mut url);
                }
            }
            _ => url.push_str(&rest[start..=start + end]),
        }
        rest = &rest[start + end + 1..];
    }
    url.push_str(rest);
    let mut url = render(&url, ctx);
    if ctx.route_key == "$default" {
        let trimmed = url.trim_end_matches('/').len();
        url.truncate(trimmed);
        for seg in &ctx.segments {
            url.push('/');
            encode_segment(seg, &mut url);
        }
        if ctx.segments.is_empty() {
            url.push('/');
        }
    }
    if !ctx.raw_query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&ctx.raw_query);
    }
    url
}

/// An `http://` upstream URL taken apart once, when the API is built:
/// where to connect, the Host header, and the path as literal text and
/// path variables. A request to it builds its request target directly
/// instead of writing out the whole URL and parsing it again (url::Url
/// normalizes; this is only taken where normalizing would change nothing:
/// see [`PlainUpstream::new`]).
#[derive(Debug)]
pub struct PlainUpstream {
    addr: String,
    host: HeaderValue,
    path: Vec<Piece>,
}

#[derive(Debug)]
enum Piece {
    Text(String),
    Var(String),
}

/// Bytes that url::Url leaves as they are in a path and in a query, and
/// that make no dot segment or escape: text of only these needs no
/// normalizing.
fn inert(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_~!&()*+,;=:@/".contains(&b)
}

impl PlainUpstream {
    /// The taken-apart form of `h`'s URL, or None where a request needs
    /// the general path: HTTPS, stage variables, parameter mappings, a
    /// query in the URL, or path text that url::Url would rewrite (dots,
    /// escapes, characters it encodes).
    pub fn new(h: &HttpIntegration) -> Option<PlainUpstream> {
        if !h.request_parameters.is_empty() {
            return None;
        }
        let rest = h.url.strip_prefix("http://")?;
        let cut = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(cut);
        let in_authority = |b: u8| (inert(b) && b != b'@') || b"[].".contains(&b);
        if authority.is_empty() || !authority.bytes().all(in_authority) {
            return None;
        }
        let mut pieces = Vec::new();
        let mut text = path;
        while let Some(start) = text.find('{') {
            let end = start + text[start..].find('}')?;
            pieces.push(Piece::Text(text[..start].to_string()));
            pieces.push(Piece::Var(text[start + 1..end].to_string()));
            text = &text[end + 1..];
        }
        pieces.push(Piece::Text(text.to_string()));
        let literal_ok = pieces.iter().all(|p| match p {
            Piece::Text(t) => t.bytes().all(inert),
            Piece::Var(n) => {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            }
        });
        if !literal_ok {
            return None;
        }
        let base = url::Url::parse(&format!("http://{authority}/")).ok()?;
        let (addr, host) = authority_of(&base)?;
        Some(PlainUpstream {
            addr,
            host: HeaderValue::from_str(&host).ok()?,
            path: pieces,
        })
    }

    /// The request target (origin form) for a request, as the general
    /// path would send it; None when this request needs the general path
    /// (a path variable the route does not have, or a query with bytes
    /// url::Url would encode).
    fn target(&self, ctx: &RequestContext) -> Option<String> {
        let mut t = String::with_capacity(64 + ctx.raw_query.len());
        for p in &self.path {
            match p {
                Piece::Text(s) => t.push_str(s),
                Piece::Var(name) => {
                    let (_, value) = ctx.path_params.iter().find(|(n, _)| n == name)?;
                    for (i, seg) in value.split('/').enumerate() {
                        if i > 0 {
                            t.push('/');
                        }
                        encode_segment(seg, &mut t);
                    }
                }
            }
        }
        if ctx.route_key == "$default" {
            let trimmed = t.trim_end_matches('/').len();
            t.truncate(trimmed);
            for seg in &ctx.segments {
                t.push('/');
                encode_segment(seg, &mut t);
            }
            if ctx.segments.is_empty() {
                t.push('/');
            }
        }
        if !t.starts_with('/') {
            t.insert(0, '/');
        }
        if !ctx.raw_query.is_empty() {
            if !ctx
                .raw_query
                .bytes()
                .all(|b| inert(b) || b == b'.' || b == b'%' || b == b'?')
            {
                return None;
            }
            t.push('?');
            t.push_str(&ctx.raw_query);
        }
        Some(t)
    }
}

/// A plain upstream's URL, for logs.
struct PlainUrl<'a>(&'a str, &'a str);

impl std::fmt::Display for PlainUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.0, self.1)
    }
}

/// The address to connect to and the Host header of an `http://` URL.
fn authority_of(url: &url::Url) -> Option<(String, String)> {
    let host = url.host_str()?;
    let addr = match url.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    Some((addr, host_header))
}

fn set_query(url: &mut url::Url, op: MapOp, name: &str, value: Option<String>) {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match op {
        MapOp::Remove => pairs.retain(|(k, _)| k != name),
        MapOp::Overwrite => {
            pairs.retain(|(k, _)| k != name);
            pairs.push((name.to_string(), value.unwrap_or_default()));
        }
        MapOp::Append => pairs.push((name.to_string(), value.unwrap_or_default())),
    }
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
}

async fn proxy(
    h: &HttpIntegration,
    plain: Option<&PlainUpstream>,
    ctx: &RequestContext,
    body: Bytes,
    shared: &Shared,
) -> Result<Response<Body>, GatewayError> {
    let method = match h.method {
        Method::Any => ctx.method.as_str(),
        m => m.as_str(),
    };
    let method =
        axum::http::Method::from_bytes(method.as_bytes()).map_err(|_| GatewayError::BadRequest)?;
    let timeout = Duration::from_millis(h.timeout_ms);
    if let Some((plain, target)) = plain.and_then(|p| Some((p, p.target(ctx)?))) {
        let upstream = PlainUrl(&plain.addr, &target);
        let sent = send_plain(
            &plain.addr,
            &plain.host,
            &target,
            method,
            forwarded_headers(ctx, shared),
            body,
            shared,
            || Some(forwarded_headers(ctx, shared)),
        );
        return finish(tokio::time::timeout(timeout, sent).await, ctx, &upstream).await;
    }
    let mut url = url::Url::parse(&upstream_url(h, ctx)).map_err(|_| GatewayError::Internal)?;
    let mut headers = forwarded_headers(ctx, shared);
    map_parameters(h, ctx, &mut url, &mut headers)?;
    // The same headers again, for a request sent a second time.
    let rebuild = || {
        let mut headers = forwarded_headers(ctx, shared);
        map_parameters(h, ctx, &mut url.clone(), &mut headers).ok()?;
        Some(headers)
    };
    let sent = send(&url, method, headers, body, shared, rebuild);
    finish(tokio::time::timeout(timeout, sent).await, ctx, &url).await
}

type Sent = Result<(hyper::Response<hyper::body::Incoming>, Option<Lease>), String>;

/// The answer to a proxied request, from what sending it gave.
async fn finish(
    sent: Result<Sent, tokio::time::error::Elapsed>,
    ctx: &RequestContext,
    upstream_url: &(dyn std::fmt::Display + Sync),
) -> Result<Response<Body>, GatewayError> {
    let (upstream, lease) = match sent {
        Err(_) => return Err(GatewayError::ServiceUnavailable),
        Ok(Err(e)) => {
            tracing::warn!(requestId = %ctx.request_id, upstream = %upstream_url, error = %e, "upstream failed");
            return Err(GatewayError::BadGateway);
        }
        Ok(Ok(r)) => r,
    };
    read_answer(upstream, lease, ctx, upstream_url).await
}

/// The client's headers as the upstream gets them: hop-by-hop and the
/// client's own forwarding headers removed, the gateway's added.
fn forwarded_headers(ctx: &RequestContext, shared: &Shared) -> HeaderMap {
    const CLIENTS_OWN: [HeaderName; 7] = [
        header::HOST,
        header::FORWARDED,
        header::VIA,
        HeaderName::from_static("x-forwarded-for"),
        HeaderName::from_static("x-forwarded-proto"),
        HeaderName::from_static("x-forwarded-port"),
        HeaderName::from_static("x-forwarded-host"),
    ];
    let mut headers = ctx.headers.clone();
    strip_hop_by_hop(&mut headers, &CLIENTS_OWN);
    let forwarded = [
        ("x-forwarded-for", ctx.source_ip.clone()),
        (
            "x-forwarded-proto",
            if shared.secure { "https" } else { "http" }.to_string(),
        ),
        (
            "x-amzn-trace-id",
            format!(
                "Root=1-{:08x}-{}",
                ctx.time_ms / 1000,
                hex24(&ctx.request_id)
            ),
        ),
    ];
    for (k, v) in forwarded {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    }
    headers
}

/// The route's parameter mappings (reference/apigateway.md §3.6):
/// headers, query string and path of the upstream request.
fn map_parameters(
    h: &HttpIntegration,
    ctx: &RequestContext,
    url: &mut url::Url,
    headers: &mut HeaderMap,
) -> Result<(), GatewayError> {
    for (action, value) in &h.request_parameters {
        match action {
            ParameterAction::Header(op, name) => {
                let name =
                    HeaderName::try_from(name.as_str()).map_err(|_| GatewayError::Internal)?;
                if *op == MapOp::Remove {
                    headers.remove(&name);
                    continue;
                }
                // A mapped value with CR, LF or NUL would split the
                // request: fail closed.
                let v = HeaderValue::from_str(&mapping_value(value, ctx))
                    .map_err(|_| GatewayError::Internal)?;
                if *op == MapOp::Overwrite {
                    headers.insert(name, v);
                } else {
                    headers.append(name, v);
                }
            }
            ParameterAction::QueryString(op, name) => {
                let v = (*op != MapOp::Remove).then(|| mapping_value(value, ctx));
                set_query(url, *op, name, v);
            }
            ParameterAction::Path => url.set_path(&mapping_value(value, ctx)),
        }
    }
    Ok(())
}

/// Sends the request: plain HTTP on the lean pool (origin form, with
/// Host), HTTPS by the shared client.
async fn send(
    url: &url::Url,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
    shared: &Shared,
    rebuild: impl Fn() -> Option<HeaderMap>,
) -> Sent {
    if url.scheme() != "http" {
        let mut request = Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(Body::from(body))
            .map_err(|e| e.to_string())?;
        *request.headers_mut() = headers;
        return shared
            .invoker
            .client
            .request(request)
            .await
            .map(|r| (r, None))
            .map_err(|e| crate::client::error_chain(&e));
    }
    let (addr, host_header) = authority_of(url).ok_or("the upstream URL has no host")?;
    let host_header = HeaderValue::from_str(&host_header).map_err(|e| e.to_string())?;
    let mut target = url.path().to_string();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    send_plain(
        &addr,
        &host_header,
        &target,
        method,
        headers,
        body,
        shared,
        rebuild,
    )
    .await
}

/// Sends a plain HTTP request on the lean pool: origin form, with Host.
#[expect(
    clippy::too_many_arguments,
    reason = "the parts of one request; a struct would only rename them"
)]
async fn send_plain(
    addr: &str,
    host: &HeaderValue,
    target: &str,
    method: axum::http::Method,
    mut headers: HeaderMap,
    body: Bytes,
    shared: &Shared,
    rebuild: impl Fn() -> Option<HeaderMap>,
) -> Sent {
    headers.insert(header::HOST, host.clone());
    let rebuild = || {
        let mut headers = rebuild()?;
        headers.insert(header::HOST, host.clone());
        Some(headers)
    };
    shared
        .upstreams
        .send(addr, &method, target, headers, body, rebuild)
        .await
        .map(|(r, lease)| (r, Some(lease)))
        .map_err(|e| format!("{e:?}"))
}

/// The upstream's answer, hop-by-hop headers removed. A small body of
/// known length is read whole, so headers and body leave in one write and
/// the connection goes back to the pool; an upstream that breaks off is a
/// 502. Larger bodies stream through; if the upstream dies mid-body the
/// client's connection is cut, never finished as if complete.
async fn read_answer(
    upstream: hyper::Response<hyper::body::Incoming>,
    lease: Option<Lease>,
    ctx: &RequestContext,
    url: &(dyn std::fmt::Display + Sync),
) -> Result<Response<Body>, GatewayError> {
    let (mut parts, body) = upstream.into_parts();
    strip_hop_by_hop(&mut parts.headers, &[]);
    let small = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n <= BUFFERED_BODY);
    if !small {
        return Ok(Response::from_parts(parts, Body::new(body)));
    }
    use http_body_util::BodyExt;
    let bytes = body
        .collect()
        .await
        .map_err(|e| {
            tracing::warn!(requestId = %ctx.request_id, upstream = %url, error = %e, "upstream broke off its answer");
            GatewayError::BadGateway
        })?
        .to_bytes();
    if let Some(l) = lease {
        l.release();
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn hex24(id: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut h = String::with_capacity(24);
    for b in id.bytes().take(12) {
        h.push(HEX[(b >> 4) as usize] as char);
        h.push(HEX[(b & 15) as usize] as char);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn ctx(
        route_key: &str,
        segments: &[&str],
        params: &[(&str, &str)],
        query: &str,
    ) -> RequestContext {
        RequestContext {
            request_id: "abc".into(),
            account_id: "0",
            api_id: "api".into(),
            method: "GET".into(),
            raw_path: String::new(),
            full_path: String::new(),
            segments: segments.iter().map(|s| s.to_string()).collect(),
            raw_query: query.into(),
            headers: HeaderMap::new(),
            source_ip: "127.0.0.1".into(),
            protocol: "HTTP/1.1",
            time_ms: 0,
            stage: "$default".into(),
            stage_variables: Arc::new(BTreeMap::from([(
                "host".to_string(),
                "backend:8080".to_string(),
            )])),
            route_key: route_key.into(),
            resource: String::new(),
            domain_name: String::new(),
            base_path_matched: None,
            path_params: params
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            authorizer: Default::default(),
            response_cookies: Vec::new(),
        }
    }

    fn http(url: &str) -> HttpIntegration {
        HttpIntegration {
            url: url.into(),
            method: Method::Any,
            timeout_ms: 1000,
            request_parameters: Vec::new(),
        }
    }

    /// What the general path sends for a request: address, Host, target.
    fn general(h: &HttpIntegration, c: &RequestContext) -> (String, String, String) {
        let url = url::Url::parse(&upstream_url(h, c)).unwrap();
        let (addr, host) = authority_of(&url).unwrap();
        let mut target = url.path().to_string();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        (addr, host, target)
    }

    #[test]
    fn a_plain_upstream_sends_what_the_general_path_sends() {
        let templates = [
            "http://backend",
            "http://backend/",
            "http://Backend:8080/pets/{proxy}",
            "http://127.0.0.1:9000/{proxy}",
            "http://backend:80/a/{id}/b/",
            "http://[::1]:8080/x/{id}{proxy}",
        ];
        let requests = [
            ctx("$default", &[], &[], ""),
            ctx("$default", &["store", "check out", "ü"], &[], "a=1&b=%20x"),
            ctx(
                "ANY /{proxy+}",
                &["a", "b c"],
                &[("proxy", "a/b c")],
                "q=1/2?3",
            ),
            ctx(
                "GET /p/{id}",
                &["p", "x?y#"],
                &[("id", "x?y#"), ("proxy", "")],
                "x=..",
            ),
            ctx(
                "GET /p/{id}",
                &["p", ""],
                &[("id", ""), ("proxy", "a.b/c")],
                "",
            ),
        ];
        let mut compared = 0;
        for t in templates {
            let h = http(t);
            let plain = PlainUpstream::new(&h).unwrap_or_else(|| panic!("{t} is plain"));
            for c in &requests {
                let Some(target) = plain.target(c) else {
                    // Only a path variable the route lacks sends a request
                    // the general way.
                    assert!(t.contains('{'), "{t}");
                    continue;
                };
                let fast = (
                    plain.addr.clone(),
                    plain.host.to_str().unwrap().to_string(),
                    target,
                );
                assert_eq!(
                    fast,
                    general(&h, c),
                    "{t} {:?} {:?}",
                    c.segments,
                    c.raw_query
                );
                compared += 1;
            }
        }
        assert!(compared >= 20, "{compared}");
    }

    #[test]
    fn upstreams_that_need_the_general_path_are_not_plain() {
        for t in [
            "https://backend/{proxy}",
            "http://${stageVariables.host}/x",
            "http://backend/a/../{proxy}",
            "http://backend/v1.0/{proxy}",
            "http://backend/a%2Fb",
            "http://backend/x?fixed=1",
            "http://backend/{open",
            "http://user@backend/",
            "http://backend/a b",
        ] {
            assert!(PlainUpstream::new(&http(t)).is_none(), "{t}");
        }
        let mut mapped = http("http://backend/");
        mapped.request_parameters = vec![(ParameterAction::Path, "/x".into())];
        assert!(PlainUpstream::new(&mapped).is_none());
        // A query url::Url would encode goes the general way.
        let plain = PlainUpstream::new(&http("http://backend/")).unwrap();
        assert!(plain
            .target(&ctx("$default", &[], &[], "a=\"b\""))
            .is_none());
        assert!(plain.target(&ctx("$default", &[], &[], "a='b'")).is_none());
    }

    #[test]
    fn default_route_appends_the_request_path_and_query() {
        let c = ctx("$default", &["store", "check out"], &[], "a=1&b=2");
        assert_eq!(
            upstream_url(&http("http://backend/"), &c),
            "http://backend/store/check%20out?a=1&b=2"
        );
    }

    #[test]
    fn path_and_stage_variables_are_filled_and_encoded() {
        let c = ctx("ANY /{proxy+}", &["a", "b c"], &[("proxy", "a/b c")], "");
        assert_eq!(
            upstream_url(&http("http://${stageVariables.host}/pets/{proxy}"), &c),
            "http://backend:8080/pets/a/b%20c"
        );
        let c = ctx("GET /pets/{id}", &["pets", "x?y#"], &[("id", "x?y#")], "");
        assert_eq!(
            upstream_url(&http("http://b/p/{id}"), &c),
            "http://b/p/x%3Fy%23"
        );
    }
}
