//! Throttling (a token bucket per stage and route, as API Gateway has
//! it) and CORS (the API-level configuration with API Gateway's preflight
//! rules).

use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue, Method};
use cognate_config::{Cors, Throttle};

/// A token bucket: `rate` tokens per second up to `burst`.
pub struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, i64)>,
}

impl Bucket {
    pub fn new(t: Throttle) -> Bucket {
        Bucket {
            rate: t.rate,
            burst: t.burst as f64,
            state: Mutex::new((t.burst as f64, i64::MIN)),
        }
    }

    /// Takes one token if there is one.
    pub fn take(&self, now_ms: i64) -> bool {
        self.take_share(now_ms, 1)
    }

    /// Takes one token from this node's share of the bucket when `nodes`
    /// nodes hold it: the rate and the burst divided among them.
    pub fn take_share(&self, now_ms: i64, nodes: u32) -> bool {
        let n = f64::from(nodes.max(1));
        let (rate, burst) = (self.rate / n, self.burst / n);
        let mut s = self.state.lock().expect("bucket lock");
        let (tokens, last) = *s;
        let refilled = if last == i64::MIN {
            burst
        } else {
            (tokens + (now_ms - last).max(0) as f64 / 1000.0 * rate).min(burst)
        };
        if refilled >= 1.0 {
            *s = (refilled - 1.0, now_ms);
            true
        } else {
            *s = (refilled, now_ms);
            false
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn burst(&self) -> u32 {
        self.burst as u32
    }
}

/// Whether an origin is allowed: exactly listed, `*`, or a scheme
/// wildcard (`https://*`).
fn origin_allowed(cors: &Cors, origin: &str) -> bool {
    cors.allow_origins.iter().any(|o| {
        o == "*"
            || o.eq_ignore_ascii_case(origin)
            || (o == "https://*" && origin.starts_with("https://"))
            || (o == "http://*" && origin.starts_with("http://"))
    })
}

fn allow_origin_value(cors: &Cors, origin: &str) -> HeaderValue {
    // With credentials the origin itself is sent (never `*`); a plain `*`
    // configuration answers `*`.
    if cors.allow_origins.iter().any(|o| o == "*") && !cors.allow_credentials {
        HeaderValue::from_static("*")
    } else {
        HeaderValue::from_str(origin).unwrap_or(HeaderValue::from_static("null"))
    }
}

/// The headers that let an allowed origin read the answer.
fn allow_origin(cors: &Cors, origin: &str, headers: &mut HeaderMap) {
    headers.insert(
        "access-control-allow-origin",
        allow_origin_value(cors, origin),
    );
    if cors.allow_credentials {
        headers.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
    }
}

/// Whether a request is a CORS preflight.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key("origin")
        && headers.contains_key("access-control-request-method")
}

/// The gateway's own answer to a preflight (204); `None` if the origin
/// or the method is not allowed (the answer then carries no CORS headers).
pub fn preflight(cors: &Cors, headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    let Some(origin) = headers.get("origin").and_then(|o| o.to_str().ok()) else {
        return out;
    };
    if !origin_allowed(cors, origin) {
        return out;
    }
    let method = headers
        .get("access-control-request-method")
        .and_then(|m| m.to_str().ok())
        .unwrap_or("");
    let method_ok = cors
        .allow_methods
        .iter()
        .any(|m| m == "*" || m.eq_ignore_ascii_case(method));
    if !method_ok {
        return out;
    }
    allow_origin(cors, origin, &mut out);
    if let Ok(v) = HeaderValue::from_str(&cors.allow_methods.join(",")) {
        out.insert("access-control-allow-methods", v);
    }
    let requested = headers
        .get("access-control-request-headers")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let allowed_headers: Vec<&str> = requested
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .filter(|h| {
            cors.allow_headers
                .iter()
                .any(|a| a == "*" || a.eq_ignore_ascii_case(h))
        })
        .collect();
    if !allowed_headers.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&allowed_headers.join(",")) {
            out.insert("access-control-allow-headers", v);
        }
    }
    if let Some(age) = cors.max_age {
        out.insert("access-control-max-age", HeaderValue::from(age));
    }
    out
}

/// On an actual request with an `Origin`: drops the backend's CORS
/// headers and adds the configured ones.
pub fn apply(cors: &Cors, request: &HeaderMap, response: &mut HeaderMap) {
    let names: Vec<_> = response
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for n in names {
        response.remove(n);
    }
    let Some(origin) = request.get("origin").and_then(|o| o.to_str().ok()) else {
        return;
    };
    if !origin_allowed(cors, origin) {
        return;
    }
    allow_origin(cors, origin, response);
    if !cors.expose_headers.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&cors.expose_headers.join(",")) {
            response.insert("access-control-expose-headers", v);
        }
    }
    if !cors.allow_origins.iter().any(|o| o == "*") || cors.allow_credentials {
        response.append("vary", HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let b = Bucket::new(Throttle {
            rate: 2.0,
            burst: 3,
        });
        assert!(b.take(0) && b.take(0) && b.take(0));
        assert!(!b.take(0));
        assert!(!b.take(400));
        assert!(b.take(500));
        assert!(!b.take(500));
    }

    #[test]
    fn a_node_holds_its_share_of_the_rate_and_the_burst() {
        let b = Bucket::new(Throttle {
            rate: 3.0,
            burst: 9,
        });
        // Three nodes: three of the nine at once, then one a second.
        assert!(b.take_share(0, 3) && b.take_share(0, 3) && b.take_share(0, 3));
        assert!(!b.take_share(0, 3));
        assert!(!b.take_share(900, 3));
        assert!(b.take_share(1000, 3));
        // Alone again: the whole rate.
        assert!(!b.take_share(1000, 1));
        assert!(b.take_share(1400, 1));
    }

    #[test]
    fn a_zero_bucket_refuses_everything() {
        let b = Bucket::new(Throttle {
            rate: 0.0,
            burst: 0,
        });
        assert!(!b.take(0));
        assert!(!b.take(10_000));
    }

    #[test]
    fn preflight_echoes_one_allowed_origin_never_a_list() {
        let cors = Cors {
            allow_origins: vec!["https://app.example".into(), "https://b.example".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["authorization".into()],
            allow_credentials: true,
            max_age: Some(600),
            ..Default::default()
        };
        let mut h = HeaderMap::new();
        h.insert("origin", HeaderValue::from_static("https://b.example"));
        h.insert(
            "access-control-request-method",
            HeaderValue::from_static("POST"),
        );
        h.insert(
            "access-control-request-headers",
            HeaderValue::from_static("Authorization, X-Evil"),
        );
        let out = preflight(&cors, &h);
        assert_eq!(out["access-control-allow-origin"], "https://b.example");
        assert_eq!(out["access-control-allow-headers"], "Authorization");
        assert_eq!(out["access-control-allow-credentials"], "true");
        h.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert!(preflight(&cors, &h).is_empty());
    }
}
