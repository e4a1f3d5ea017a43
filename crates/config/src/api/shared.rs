//! The checks HTTP and WebSocket APIs share, in one place: names, stage
//! names, authorizer cache TTLs, API mappings, function and HTTP targets,
//! payload versions and timeouts.

use super::*;
use crate::Collector;

pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A table of named things (`authorizers.NAME`, `integrations.NAME`):
/// each name plain, each entry checked by `check`; what passes, named.
pub(crate) fn named<F, T>(
    c: &mut Collector,
    at: &str,
    what: &str,
    files: BTreeMap<String, F>,
    mut check: impl FnMut(&mut Collector, &str, F) -> Option<T>,
) -> Vec<(String, T)> {
    let mut out = Vec::new();
    for (name, f) in files {
        let nat = format!("{at}.{what}s.{name}");
        if !is_name(&name) {
            c.at(
                &nat,
                format!("{what} names are letters, digits, '-' or '_'"),
            );
        }
        if let Some(t) = check(c, &nat, f) {
            out.push((name, t));
        }
    }
    out
}

/// A stage name: `$default`, or plain; used once.
pub(crate) fn check_stage_name(c: &mut Collector, sat: &str, name: &str, taken: bool) {
    if name != "$default" && !is_name(name) {
        c.at(
            format!("{sat}.name"),
            "must be \"$default\" or letters, digits, '-' or '_'",
        );
    }
    if taken {
        c.at(format!("{sat}.name"), format!("stage '{name}' twice"));
    }
}

/// A request authorizer's cache TTL: 300 s by default when identity
/// sources make a cache key, else 0; at most 3600.
pub(crate) fn authorizer_ttl(c: &mut Collector, at: &str, ttl: Option<u32>, keyed: bool) -> u32 {
    let ttl_s = ttl.unwrap_or(if keyed { 300 } else { 0 });
    if ttl_s > 3600 {
        c.at(format!("{at}.ttl_seconds"), "at most 3600");
    }
    if ttl_s > 0 && !keyed {
        c.at(
            format!("{at}.ttl_seconds"),
            "caching needs identity_sources (the cache key)",
        );
    }
    ttl_s
}

/// A name the config refers to something by: plain, and not taken.
pub(crate) fn check_name(c: &mut Collector, at: &str, name: &str, taken: bool, what: &str) {
    if !is_name(name) {
        c.at(format!("{at}.name"), "must be letters, digits, '-' or '_'");
    }
    if taken {
        c.at(
            format!("{at}.name"),
            format!("another {what} is named '{name}'"),
        );
    }
}

/// An API mapping of a custom domain, checked.
pub(crate) fn mapping(c: &mut Collector, mat: &str, m: MappingFile) -> ApiMapping {
    let host = m.host.to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', ':', ' ']) {
        c.at(format!("{mat}.host"), "must be a host name");
    }
    let base_path = m.base_path.trim_matches('/').to_string();
    if base_path.len() > 300
        || !base_path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"$-_.+!*'()/".contains(&b))
    {
        c.at(
            format!("{mat}.base_path"),
            "letters, digits and $-_.+!*'()/ only, up to 300",
        );
    }
    ApiMapping {
        host,
        base_path,
        stage: m.stage,
    }
}

pub(crate) fn payload_version(c: &mut Collector, at: &str, v: Option<String>) -> PayloadVersion {
    match v.as_deref() {
        None | Some("2.0") => PayloadVersion::V2,
        Some("1.0") => PayloadVersion::V1,
        Some(other) => {
            c.at(
                format!("{at}.payload_format_version"),
                format!("'{other}' is not \"1.0\" or \"2.0\""),
            );
            PayloadVersion::V2
        }
    }
}

pub(crate) fn http_url(c: &mut Collector, at: &str, u: &str) {
    // Stage variables and path variables are filled in per request; check
    // the rest.
    let probe = u.replace("${stageVariables.", "x").replace(['{', '}'], "");
    match url::Url::parse(&probe) {
        Ok(p) if p.scheme() == "http" || p.scheme() == "https" => {}
        _ => c.at(at, format!("'{u}' is not an absolute http(s) URL")),
    }
}

pub(crate) fn target(
    c: &mut Collector,
    at: &str,
    function: Option<String>,
    url: Option<String>,
    endpoint: Option<String>,
    function_name: Option<String>,
    functions: &[Function],
) -> Option<Target> {
    match (function, url, endpoint, function_name) {
        (Some(f), None, None, None) => {
            if !functions.iter().any(|x| x.name == f) {
                c.at(format!("{at}.function"), format!("no function named '{f}'"));
            }
            Some(Target::Function(f))
        }
        (None, Some(u), None, None) => {
            http_url(c, &format!("{at}.url"), &u);
            Some(Target::Url(u))
        }
        (None, None, Some(e), Some(n)) => {
            http_url(c, &format!("{at}.endpoint"), &e);
            Some(Target::Invoke {
                endpoint: e,
                function_name: n,
            })
        }
        _ => {
            c.at(
                at,
                "give one of: function = NAME, url = URL, or endpoint = URL with function_name",
            );
            None
        }
    }
}

pub(crate) fn timeout(c: &mut Collector, at: &str, t: Option<u64>, default: u64, max: u64) -> u64 {
    let t = t.unwrap_or(default);
    if !(50..=max).contains(&t) {
        c.at(format!("{at}.timeout_ms"), format!("must be 50 to {max}"));
    }
    t
}
