//! Where a proxied request goes: the upstream URL of an `http`
//! integration, written out for each request and parsed (the general
//! path), or taken apart once per route when it is plain HTTP
//! ([`PlainUpstream`]).

use axum::http::HeaderValue;
use cognate_config::HttpIntegration;

use crate::context::{render, RequestContext};
use crate::route::encode_segment;

/// The upstream URL: path variables filled (encoded), stage variables
/// rendered, the request path appended for `$default`, the client's
/// query string forwarded.
pub(crate) fn upstream_url(h: &HttpIntegration, ctx: &RequestContext) -> String {
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
                push_value(value, &mut url);
            }
            _ => url.push_str(&rest[start..=start + end]),
        }
        rest = &rest[start + end + 1..];
    }
    url.push_str(rest);
    let mut url = render(&url, ctx);
    if ctx.route_key == "$default" {
        push_request_path(ctx, &mut url);
    }
    if !ctx.raw_query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&ctx.raw_query);
    }
    url
}

/// A path variable's value, each of its segments encoded.
fn push_value(value: &str, out: &mut String) {
    for (i, seg) in value.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        encode_segment(seg, out);
    }
}

/// For `$default`: the request's path after the URL's own, without a
/// doubled `/`.
fn push_request_path(ctx: &RequestContext, out: &mut String) {
    let trimmed = out.trim_end_matches('/').len();
    out.truncate(trimmed);
    for seg in &ctx.segments {
        out.push('/');
        encode_segment(seg, out);
    }
    if ctx.segments.is_empty() {
        out.push('/');
    }
}

/// An `http://` upstream URL taken apart once, when the API is built:
/// where to connect, the Host header, and the path as literal text and
/// path variables. A request to it builds its request target directly
/// instead of writing out the whole URL and parsing it again (url::Url
/// normalizes; this is only taken where normalizing would change nothing:
/// see [`PlainUpstream::new`]).
#[derive(Debug)]
pub struct PlainUpstream {
    pub(crate) addr: String,
    pub(crate) host: HeaderValue,
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
    pub(crate) fn target(&self, ctx: &RequestContext) -> Option<String> {
        let mut t = String::with_capacity(64 + ctx.raw_query.len());
        for p in &self.path {
            match p {
                Piece::Text(s) => t.push_str(s),
                Piece::Var(name) => {
                    let (_, value) = ctx.path_params.iter().find(|(n, _)| n == name)?;
                    push_value(value, &mut t);
                }
            }
        }
        if ctx.route_key == "$default" {
            push_request_path(ctx, &mut t);
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
pub(crate) struct PlainUrl<'a>(pub(crate) &'a str, pub(crate) &'a str);

impl std::fmt::Display for PlainUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.0, self.1)
    }
}

/// The address to connect to and the Host header of an `http://` URL.
pub(crate) fn authority_of(url: &url::Url) -> Option<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
    use cognate_config::{Method, ParameterAction};
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
