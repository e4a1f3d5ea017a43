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
use crate::runtime::InvokeError;
use crate::target::{authority_of, upstream_url, PlainUpstream, PlainUrl};
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
/// names: one pass over the names, then only the removals there are to
/// make.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut gone: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n))
        .cloned()
        .collect();
    if gone.contains(&header::CONNECTION) {
        gone.extend(connection_listed(headers));
    }
    for n in gone {
        headers.remove(n);
    }
}

/// The header names the Connection header lists (hop-by-hop as well).
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect()
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
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");
    const CLIENTS_OWN: [HeaderName; 7] = [
        header::HOST,
        header::FORWARDED,
        header::VIA,
        X_FORWARDED_FOR,
        X_FORWARDED_PROTO,
        HeaderName::from_static("x-forwarded-port"),
        HeaderName::from_static("x-forwarded-host"),
    ];
    // Built anew from the kept headers: cheaper than a copy of all of
    // them with the dropped ones then taken out one by one.
    let listed = connection_listed(&ctx.headers);
    let mut headers = HeaderMap::with_capacity(ctx.headers.keys_len() + 4);
    for (name, value) in &ctx.headers {
        if is_hop_by_hop(name) || CLIENTS_OWN.contains(name) || listed.contains(name) {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.source_ip) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if shared.secure { "https" } else { "http" }),
    );
    if let Ok(v) = HeaderValue::from_str(&trace_id(ctx.time_ms / 1000, &ctx.request_id)) {
        headers.insert(X_AMZN_TRACE_ID, v);
    }
    headers
}

/// `Root=1-<epoch seconds, 8 hex digits>-<24 hex digits of the request
/// id>`, as X-Ray's trace header reads.
fn trace_id(epoch_s: i64, request_id: &str) -> String {
    use std::fmt::Write as _;
    let mut t = String::with_capacity(40);
    t.push_str("Root=1-");
    let _ = write!(t, "{epoch_s:08x}-");
    t.push_str(&hex24(request_id));
    t
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
    strip_hop_by_hop(&mut parts.headers);
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
