//! Every input cognate reads from a client or a file, as a function of
//! bytes that must never panic, whatever the bytes. fuzz/ runs each under
//! libFuzzer (`bench/fuzz.sh`); this crate's test replays the committed
//! corpora (fuzz/corpus/<target>/) on stable Rust, so a crash once found
//! stays fixed.
//!
//! Each function also checks what must hold of any answer (a parser that
//! accepts must give back what it read), so a fuzzer finds wrong answers,
//! not only panics.

use std::sync::OnceLock;

use cognate_identity::keys::{self, KeySet, Purpose};

/// A fuzz target: any bytes, never a panic.
pub type Target = fn(&[u8]);

/// The targets by name, as fuzz/ and the corpus folders name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("jwt", jwt),
    ("sigv4", sigv4),
    ("route", route),
    ("cookie", cookie),
    ("config", config),
    ("template", template),
    ("srp", srp),
    ("totp", totp),
    ("route_selection", route_selection),
];

fn text(data: &[u8]) -> &str {
    std::str::from_utf8(data).unwrap_or("")
}

fn keyset() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| keys::load(&[keys::generate("us-east-1_fuzz", Purpose::Access, 1)]))
}

/// A compact JWS from a client: the identity core's strict parser and
/// verifier, and the gateway's bearer-token reader.
pub fn jwt(data: &[u8]) {
    let s = text(data);
    if let Ok(unverified) = cognate_identity::jwt::parse(s) {
        // No token here is signed by the key: never valid.
        assert!(unverified.verify(keyset()).is_err());
    }
    if let Some(token) = cognate_gateway::jwt::token_from(s) {
        assert!(s.contains(token));
    }
}

/// A signed admin request: the lines of `data` are `method`, `path`,
/// `query`, then `name: value` headers up to an empty line, then the body.
pub fn sigv4(data: &[u8]) {
    let s = text(data);
    let mut lines = s.split('\n');
    let method = lines.next().unwrap_or("");
    let path = lines.next().unwrap_or("");
    let query = lines.next().unwrap_or("");
    let mut headers = Vec::new();
    for line in lines.by_ref() {
        let Some((n, v)) = line.split_once(':') else {
            break;
        };
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let body: Vec<&str> = lines.collect();
    let body = body.join("\n");
    let req = cognate_identity::sigv4::Request {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let creds = cognate_config::AdminCredentials {
        access_key_id: "AKIDFUZZ".into(),
        secret_access_key: "fuzz-secret".into(),
    };
    // Not signed with the secret (a fuzzer cannot forge HMAC-SHA256): refused.
    let now = 1_700_000_000;
    let verdict = cognate_identity::sigv4::verify(&req, &creds, "us-east-1", "cognito-idp", now);
    if verdict.is_ok() {
        // Only a request carrying the true HMAC could pass; it has at least
        // the headers a signature is made of.
        let has = |name: &str| headers.iter().any(|(n, _)| n == name);
        assert!(has("authorization") && has("x-amz-date"));
    }
}

/// Route keys (one per line, up to an empty line) and a request line
/// (`METHOD path`): the table finds at most a route whose key was given.
pub fn route(data: &[u8]) {
    let s = text(data);
    let (keys_part, request) = s.split_once("\n\n").unwrap_or((s, "GET /"));
    let keys: Vec<_> = keys_part
        .lines()
        .filter_map(|l| cognate_config::parse_route_key(l).ok())
        .collect();
    let table = cognate_gateway::route::RouteTable::new(keys.iter());
    let (method, path) = request.split_once(' ').unwrap_or(("GET", request));
    if let Ok(segments) = cognate_gateway::route::split_path(path) {
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        if let Some(m) = table.find(method, &refs) {
            assert!(m.index < keys.len());
        }
    }
    if let Some(decoded) = cognate_gateway::route::percent_decode(path) {
        let mut again = String::new();
        cognate_gateway::route::encode_segment(&decoded, &mut again);
        assert_eq!(
            cognate_gateway::route::percent_decode(&again).as_deref(),
            Some(decoded.as_str())
        );
    }
}

/// Cookie header values, one per line, and a name on the first line.
pub fn cookie(data: &[u8]) {
    let s = text(data);
    let mut lines = s.lines();
    let name = lines.next().unwrap_or("");
    let values: Vec<&str> = lines.collect();
    if let Some(v) = cognate_gateway::cookie::unique_in(values.iter().copied(), name) {
        assert!(values.iter().any(|line| line.contains(v)));
    }
    let mut headers = axum::http::HeaderMap::new();
    for v in &values {
        if let Ok(hv) = axum::http::HeaderValue::from_str(v) {
            headers.append(axum::http::header::COOKIE, hv);
        }
    }
    let _ = cognate_gateway::cookie::all(&headers);
    let _ = cognate_gateway::cookie::unique(&headers, name);
}

/// A TOML configuration file.
pub fn config(data: &[u8]) {
    if let Err(problems) = cognate_config::parse(text(data)) {
        assert!(!problems.0.is_empty());
    }
}

/// A CloudFormation / SAM template or serverless.yml (YAML or JSON), read
/// from a file as `cognate serve <template>` reads it.
pub fn template(data: &[u8]) {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("cognate-fuzz-template-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    });
    let file = dir.join("template.yaml");
    std::fs::write(&file, data).expect("write the template");
    let opts = cognate_config::stack::StackOptions {
        code_dir: dir.join("code"),
        ..Default::default()
    };
    if let Err(problems) = cognate_config::stack::load(&file, &opts) {
        assert!(!problems.0.is_empty());
    }
}

/// SRP from a client: SRP_A (hex), the TIMESTAMP, the claim signature.
pub fn srp(data: &[u8]) {
    use cognate_identity::srp;
    let s = text(data);
    let mut parts = s.splitn(3, '\n');
    let a_hex = parts.next().unwrap_or("");
    let timestamp = parts.next().unwrap_or("");
    let claim = parts.next().unwrap_or("").as_bytes();
    let _ = srp::parse_timestamp(timestamp);
    let Some(a) = srp::from_hex(a_hex) else {
        return;
    };
    if !srp::valid_public(&a) {
        return;
    }
    static VERIFIER: OnceLock<num_bigint::BigUint> = OnceLock::new();
    let v = VERIFIER.get_or_init(|| {
        let made = srp::verifier("us-east-1_fuzz", "user", "Passw0rd!");
        srp::from_hex(&made.verifier).expect("a verifier is hex")
    });
    let (b, big_b) = srp::server_ephemeral(v);
    let state = srp::ServerState {
        pool_id: "us-east-1_fuzz",
        user_id: "user",
        v,
        a: &a,
        b: &b,
        big_b: &big_b,
    };
    // The claim cannot be right without the password.
    assert!(!srp::verify_claim(
        &state,
        b"secret-block",
        timestamp,
        claim
    ));
}

/// A TOTP code typed by a user.
pub fn totp(data: &[u8]) {
    let typed = text(data);
    let secret = b"12345678901234567890";
    if let Some(step) = cognate_identity::totp::matching_step(secret, typed, 1_700_000_000) {
        assert_eq!(cognate_identity::totp::code_at(secret, step), typed);
    }
}

/// A route selection expression (first line) and a message (the rest).
pub fn route_selection(data: &[u8]) {
    let s = text(data);
    let (expr, message) = s.split_once('\n').unwrap_or((s, ""));
    let selection = cognate_gateway::websocket::events::Selection::parse(expr);
    let _ = selection.evaluate(message);
}
