//! Route selection: a pure function over a route table.
//!
//! API Gateway's order (HTTP APIs): a full match of path and method, then
//! a match through a greedy variable, then `$default`, else 404 (so
//! `/{a}/{b}` takes `/x/y` before `/x/{rest+}` does). Where the
//! documentation's worked example leaves ties open, the rule written in
//! reference/apigateway.md §4.2 decides, compared segment by segment from
//! the left: a static segment beats `{var}`, which beats `{var+}`; a longer
//! static prefix before a greedy variable wins; then an exact method beats
//! `ANY`.
//!
//! The path given to [`RouteTable::find`] is already split into decoded
//! segments (see [`split_path`]), so the route is chosen on the same path
//! that is forwarded.

use cognate_config::{Method, RouteKey};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Var(String),
    Greedy(String),
}

#[derive(Debug, Clone)]
struct Compiled {
    index: usize,
    method: Method,
    segments: Vec<Segment>,
}

/// The routes of one API, ready for matching.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Compiled>,
    default: Option<usize>,
}

/// The chosen route: its index in the table's input, and the path
/// variables by name (a greedy name without its `+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub index: usize,
    pub params: Vec<(String, String)>,
}

impl RouteTable {
    /// Builds the table from route keys in config order; the index of a
    /// key in `keys` is what [`Match::index`] reports.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a RouteKey>) -> RouteTable {
        let mut table = RouteTable::default();
        for (index, key) in keys.into_iter().enumerate() {
            match key {
                RouteKey::Default => table.default = Some(index),
                RouteKey::Path { method, path } => {
                    let segments = path
                        .split('/')
                        .skip(1)
                        .filter(|s| !s.is_empty())
                        .map(
                            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                                Some(v) => match v.strip_suffix('+') {
                                    Some(g) => Segment::Greedy(g.to_string()),
                                    None => Segment::Var(v.to_string()),
                                },
                                None => Segment::Static(s.to_string()),
                            },
                        )
                        .collect();
                    table.routes.push(Compiled {
                        index,
                        method: *method,
                        segments,
                    });
                }
            }
        }
        table
    }

    /// The route for a request, or `None` (404 Not Found).
    ///
    /// `method` is the request's method as sent (`GET`); `segments` the
    /// decoded path segments (`/a/b/` is `["a", "b", ""]`, `/` is `[]`).
    pub fn find(&self, method: &str, segments: &[&str]) -> Option<Match> {
        let mut best: Option<(Vec<u8>, &Compiled)> = None;
        for route in &self.routes {
            let method_rank = if route.method.as_str() == method {
                0
            } else if route.method == Method::Any {
                1
            } else {
                continue;
            };
            let Some(segment_rank) = rank(&route.segments, segments) else {
                continue;
            };
            // A full match beats any match through a greedy variable
            // (documented priority), then the segments, then the method.
            let greedy = matches!(route.segments.last(), Some(Segment::Greedy(_)));
            let mut rank = Vec::with_capacity(segment_rank.len() + 2);
            rank.push(u8::from(greedy));
            rank.extend(segment_rank);
            rank.push(method_rank);
            if best.as_ref().is_none_or(|(b, _)| rank < *b) {
                best = Some((rank, route));
            }
        }
        match best {
            Some((_, route)) => Some(Match {
                index: route.index,
                params: params(&route.segments, segments),
            }),
            None => self.default.map(|index| Match {
                index,
                params: Vec::new(),
            }),
        }
    }
}

/// How well a pattern matches, lower is better: one entry per pattern
/// segment (0 static, 1 variable, 2 greedy), or `None` if it does not.
fn rank(pattern: &[Segment], path: &[&str]) -> Option<Vec<u8>> {
    let mut rank = Vec::with_capacity(pattern.len() + 1);
    for (i, seg) in pattern.iter().enumerate() {
        match seg {
            Segment::Static(s) => {
                if path.get(i) != Some(&s.as_str()) {
                    return None;
                }
                rank.push(0);
            }
            Segment::Var(_) => {
                if path.get(i).is_none_or(|p| p.is_empty()) {
                    return None;
                }
                rank.push(1);
            }
            Segment::Greedy(_) => {
                // One or more segments; a trailing slash leaves an empty
                // last segment, which the greedy variable takes.
                if path.len() <= i {
                    return None;
                }
                rank.push(2);
                return Some(rank);
            }
        }
    }
    (pattern.len() == path.len()).then_some(rank)
}

fn params(pattern: &[Segment], path: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, seg) in pattern.iter().enumerate() {
        match seg {
            Segment::Static(_) => {}
            Segment::Var(n) => out.push((n.clone(), path[i].to_string())),
            Segment::Greedy(n) => {
                out.push((n.clone(), path[i..].join("/")));
                break;
            }
        }
    }
    out
}

/// Why a request path is refused before routing (400 Bad Request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    /// Not starting with `/`, or not valid percent-encoded UTF-8.
    Malformed,
    /// A segment that is `.` or `..`, or decodes to contain `/`, `\` or a
    /// control character: the path could mean another route upstream.
    Ambiguous,
}

/// Splits a request path (without its query) into percent-decoded
/// segments. Every spelling that could reach a different resource than it
/// appears to (dot segments, encoded slashes, backslashes, NUL) is refused,
/// so the route is chosen on exactly the path that is forwarded.
pub fn split_path(raw: &str) -> Result<Vec<String>, BadPath> {
    let rest = raw.strip_prefix('/').ok_or(BadPath::Malformed)?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for seg in rest.split('/') {
        let decoded = percent_decode(seg).ok_or(BadPath::Malformed)?;
        if decoded == "."
            || decoded == ".."
            || decoded
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control())
        {
            return Err(BadPath::Ambiguous);
        }
        out.push(decoded);
    }
    Ok(out)
}

/// Percent-decodes into UTF-8; `None` for a bad escape or bad UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes a path segment for forwarding: everything but RFC 3986
/// unreserved characters and the sub-delimiters safe in a segment.
pub fn encode_segment(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cognate_config::parse_route_key;
    use proptest::prelude::*;

    fn table(keys: &[&str]) -> (RouteTable, Vec<RouteKey>) {
        let keys: Vec<RouteKey> = keys.iter().map(|k| parse_route_key(k).unwrap()).collect();
        (RouteTable::new(&keys), keys)
    }

    fn chosen(t: &(RouteTable, Vec<RouteKey>), method: &str, path: &str) -> Option<String> {
        let segs = split_path(path).unwrap();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        t.0.find(method, &segs).map(|m| t.1[m.index].to_string())
    }

    #[test]
    fn the_documented_worked_example_picks_the_documented_routes() {
        let t = table(&[
            "GET /pets/dog/1",
            "GET /pets/dog/{id}",
            "GET /pets/{proxy+}",
            "ANY /{proxy+}",
            "$default",
        ]);
        assert_eq!(chosen(&t, "GET", "/pets/dog/1").unwrap(), "GET /pets/dog/1");
        assert_eq!(
            chosen(&t, "GET", "/pets/dog/2").unwrap(),
            "GET /pets/dog/{id}"
        );
        assert_eq!(
            chosen(&t, "GET", "/pets/cat/1").unwrap(),
            "GET /pets/{proxy+}"
        );
        assert_eq!(chosen(&t, "POST", "/test/5").unwrap(), "ANY /{proxy+}");
        assert_eq!(chosen(&t, "GET", "/").unwrap(), "$default");
    }

    #[test]
    fn a_full_match_beats_a_greedy_one_with_a_longer_static_prefix() {
        // Priority (1) full match before (2) greedy, whatever the prefixes.
        let t = table(&["GET /x/{rest+}", "GET /{a}/{b}"]);
        assert_eq!(chosen(&t, "GET", "/x/y").unwrap(), "GET /{a}/{b}");
        assert_eq!(chosen(&t, "GET", "/x/y/z").unwrap(), "GET /x/{rest+}");
        // Also across methods: a full ANY match before a greedy GET one.
        let t = table(&["GET /x/{rest+}", "ANY /x/y"]);
        assert_eq!(chosen(&t, "GET", "/x/y").unwrap(), "ANY /x/y");
    }

    #[test]
    fn any_matches_only_methods_without_their_own_route() {
        let t = table(&["GET /pets", "ANY /pets"]);
        assert_eq!(chosen(&t, "GET", "/pets").unwrap(), "GET /pets");
        assert_eq!(chosen(&t, "DELETE", "/pets").unwrap(), "ANY /pets");
        assert_eq!(chosen(&t, "OPTIONS", "/pets").unwrap(), "ANY /pets");
    }

    #[test]
    fn trailing_slash_does_not_match_the_route_without_it() {
        let t = table(&["GET /metrics", "GET /metrics/{proxy+}"]);
        assert_eq!(chosen(&t, "GET", "/metrics").unwrap(), "GET /metrics");
        assert_eq!(
            chosen(&t, "GET", "/metrics/").unwrap(),
            "GET /metrics/{proxy+}"
        );
        let t = table(&["GET /pets"]);
        assert_eq!(chosen(&t, "GET", "/pets/"), None);
    }

    #[test]
    fn no_route_and_no_default_is_none() {
        let t = table(&["GET /a"]);
        assert_eq!(chosen(&t, "GET", "/b"), None);
        assert_eq!(chosen(&t, "POST", "/a"), None);
    }

    #[test]
    fn greedy_variable_takes_the_rest_of_the_path() {
        let (t, _) = table(&["GET /files/{key}/{rest+}"]);
        let m = t.find("GET", &["files", "k", "a", "b", "c"]).unwrap();
        assert_eq!(
            m.params,
            [("key".into(), "k".into()), ("rest".into(), "a/b/c".into())]
        );
        assert!(t.find("GET", &["files", "k"]).is_none());
        assert!(t.find("GET", &["files", "", "x"]).is_none());
    }

    #[test]
    fn ambiguous_paths_are_refused_before_routing() {
        for p in [
            "/pub/..%2fadmin",
            "/pub/%2e%2e/admin",
            "/pub/../admin",
            "/a/./b",
            "/admin%00",
            "/%5cadmin",
            "/a\\b",
        ] {
            assert_eq!(split_path(p), Err(BadPath::Ambiguous), "{p}");
        }
        assert_eq!(split_path("/%c0%ae"), Err(BadPath::Malformed));
        assert_eq!(split_path("/%zz"), Err(BadPath::Malformed));
        assert_eq!(split_path("nope"), Err(BadPath::Malformed));
        assert_eq!(split_path("/%61dmin").unwrap(), ["admin"]);
        assert_eq!(split_path("//admin").unwrap(), ["", "admin"]);
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("pets".to_string()),
            "[a-z]{1,3}",
        ]
    }

    fn pattern_segment() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => segment(),
            1 => Just("{v}".to_string()),
        ]
    }

    fn route_key() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just("GET"), Just("POST"), Just("ANY")],
            proptest::collection::vec(pattern_segment(), 0..4),
            any::<bool>(),
        )
            .prop_map(|(m, segs, greedy)| {
                // Variables get distinct names; a greedy tail is optional.
                let mut parts: Vec<String> = segs
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| if s == "{v}" { format!("{{v{i}}}") } else { s })
                    .collect();
                if greedy {
                    parts.push("{rest+}".to_string());
                }
                format!("{m} /{}", parts.join("/"))
            })
    }

    /// A reference written from the documented rules alone
    /// (reference/apigateway.md §4.2), over the route keys as text, sharing
    /// nothing with the table: (1) a full match beats a match through a
    /// greedy variable, which beats `$default`; among greedy routes the
    /// longest static prefix wins; then segment by segment from the left,
    /// a static segment beats `{var}`, which beats `{var+}`; then an exact
    /// method beats `ANY`.
    fn reference(keys: &[String], method: &str, path: &[&str]) -> Option<usize> {
        // (greedy?, leading statics negated, per-segment kinds, ANY?), index
        type Preference = (bool, i64, Vec<u8>, bool);
        let mut best: Option<(Preference, usize)> = None;
        let mut default = None;
        for (index, key) in keys.iter().enumerate() {
            if key == "$default" {
                default = Some(index);
                continue;
            }
            let (m, pattern) = key.split_once(' ').expect("METHOD /path");
            if m != method && m != "ANY" {
                continue;
            }
            let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
            let greedy = parts.last().is_some_and(|p| p.ends_with("+}"));
            let fixed = if greedy {
                &parts[..parts.len() - 1]
            } else {
                &parts[..]
            };
            let fits = if greedy {
                path.len() > fixed.len()
            } else {
                path.len() == fixed.len()
            };
            let segments_fit = fits
                && fixed.iter().zip(path).all(|(p, seg)| {
                    if p.starts_with('{') {
                        !seg.is_empty()
                    } else {
                        p == seg
                    }
                });
            if !segments_fit {
                continue;
            }
            // 0 static, 1 `{var}`, 2 `{var+}` (in its place).
            let mut kinds: Vec<u8> = fixed.iter().map(|p| u8::from(p.starts_with('{'))).collect();
            let leading_static = kinds.iter().take_while(|k| **k == 0).count() as i64;
            if greedy {
                kinds.push(2);
            }
            let preference = (
                greedy,
                if greedy { -leading_static } else { 0 },
                kinds,
                m == "ANY",
            );
            if best.as_ref().is_none_or(|(b, _)| preference < *b) {
                best = Some((preference, index));
            }
        }
        best.map(|b| b.1).or(default)
    }

    proptest! {
        // Conflicting pairs (a full match against a greedy one with a
        // longer static prefix) are rare among random tables: many cases.
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn the_chosen_route_matches_and_no_better_one_does(
            keys in proptest::collection::vec(route_key(), 1..12),
            method in prop_oneof![Just("GET"), Just("POST"), Just("PUT")],
            path in proptest::collection::vec(segment(), 0..5),
            with_default in any::<bool>(),
        ) {
            let mut parsed: Vec<RouteKey> = Vec::new();
            for k in &keys {
                let k = parse_route_key(k).unwrap();
                if !parsed.contains(&k) {
                    parsed.push(k);
                }
            }
            if with_default {
                parsed.push(RouteKey::Default);
            }
            let table = RouteTable::new(&parsed);
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let found = table.find(method, &path);
            let texts: Vec<String> = parsed
                .iter()
                .map(|k| match k {
                    RouteKey::Default => "$default".to_string(),
                    RouteKey::Path { method, path } => format!("{} {path}", method.as_str()),
                })
                .collect();
            prop_assert_eq!(found.as_ref().map(|m| m.index), reference(&texts, method, &path));
            if let Some(m) = found {
                match &parsed[m.index] {
                    RouteKey::Default => prop_assert!(with_default),
                    RouteKey::Path { method: rm, path: p } => {
                        prop_assert!(*rm == Method::Any || rm.as_str() == method);
                        // Rebuilding the path from the pattern and the
                        // variables gives back the request path.
                        let mut rebuilt = Vec::new();
                        for seg in p.split('/').skip(1).filter(|s| !s.is_empty()) {
                            if let Some(v) = seg.strip_prefix('{') {
                                let name = v.trim_end_matches('}').trim_end_matches('+');
                                let value = &m.params.iter().find(|(n, _)| n == name).unwrap().1;
                                rebuilt.push(value.clone());
                            } else {
                                rebuilt.push(seg.to_string());
                            }
                        }
                        prop_assert_eq!(rebuilt.join("/"), path.join("/"));
                    }
                }
            }
        }

        #[test]
        fn a_static_route_always_wins_over_variables_for_its_own_path(
            segs in proptest::collection::vec(segment(), 1..4),
        ) {
            let exact = format!("GET /{}", segs.join("/"));
            let mut var = segs.clone();
            var[0] = "{x}".to_string();
            let keys = vec![
                parse_route_key(&format!("GET /{}", var.join("/"))).unwrap(),
                parse_route_key("ANY /{proxy+}").unwrap(),
                parse_route_key(&exact).unwrap(),
                RouteKey::Default,
            ];
            let table = RouteTable::new(&keys);
            let path: Vec<&str> = segs.iter().map(String::as_str).collect();
            prop_assert_eq!(table.find("GET", &path).unwrap().index, 2);
        }
    }
}
