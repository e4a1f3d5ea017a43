//! AWS Signature Version 4 verification for the admin operations.
//!
//! The AWS CLI and boto3 sign admin calls (`AdminCreateUser`, `ListUsers`,
//! ...) with the caller's credentials; cognate recomputes the signature from
//! the request and the configured secret and compares. Written here because
//! no maintained crate verifies SigV4 on the server side (the AWS crates
//! only sign); the primitives are aws-lc-rs's SHA-256 and HMAC.

use cognate_config::AdminCredentials;
use time::macros::format_description;
use time::PrimitiveDateTime;

use crate::crypto;
use crate::error::{CognitoError, Result};

/// The parts of an HTTP request that a signature covers.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path exactly as received (still percent-encoded).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header names in lowercase, values as received; repeated names allowed.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// How far a request's `X-Amz-Date` may be from now, in seconds.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// Verifies that `req` is signed by `creds` for `service` in `region`.
pub fn verify(
    req: &Request<'_>,
    creds: &AdminCredentials,
    region: &str,
    service: &str,
    now: i64,
) -> Result<()> {
    let Some(auth) = header(req.headers, "authorization") else {
        return Err(CognitoError::missing_authentication_token(
            "Missing Authentication Token",
        ));
    };
    let parsed = parse_authorization(&auth)?;
    let scope: Vec<&str> = parsed.credential.split('/').collect();
    let [key_id, date, scope_region, scope_service, "aws4_request"] = scope.as_slice() else {
        return Err(CognitoError::incomplete_signature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            parsed.credential
        )));
    };
    if !crypto::equal(key_id.as_bytes(), creds.access_key_id.as_bytes()) {
        return Err(CognitoError::unrecognized_client(
            "The security token included in the request is invalid.",
        ));
    }
    if *scope_region != region {
        return Err(CognitoError::invalid_signature(format!(
            "Credential should be scoped to a valid region, not '{scope_region}'. "
        )));
    }
    if *scope_service != service {
        return Err(CognitoError::invalid_signature(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    let amz_date = header(req.headers, "x-amz-date").ok_or_else(|| {
        CognitoError::incomplete_signature(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    })?;
    let signed_at = parse_amz_date(&amz_date)?;
    if signed_at < now - MAX_SKEW_SECONDS {
        return Err(CognitoError::invalid_signature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            amz_format(now - MAX_SKEW_SECONDS),
            amz_format(now)
        )));
    }
    if signed_at > now + MAX_SKEW_SECONDS {
        return Err(CognitoError::invalid_signature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            amz_format(now + MAX_SKEW_SECONDS),
            amz_format(now)
        )));
    }
    if !amz_date.starts_with(date) || date.len() != 8 {
        return Err(CognitoError::invalid_signature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP",
        ));
    }
    let signed: Vec<&str> = parsed.signed_headers.split(';').collect();
    if !signed.contains(&"host") {
        return Err(CognitoError::invalid_signature(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }

    let canonical = canonical_request(req, &signed);
    let expected = signature(&canonical, creds, &amz_date, region, service);
    if !crypto::equal(expected.as_bytes(), parsed.signature.as_bytes()) {
        return Err(CognitoError::invalid_signature(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(())
}

/// Signs a request: returns the `X-Amz-Date` and `Authorization` values.
/// `headers` must hold `host` (and any other header to sign), lowercase.
pub fn sign(
    req: &Request<'_>,
    creds: &AdminCredentials,
    region: &str,
    service: &str,
    now: i64,
) -> (String, String) {
    let amz_date = amz_format(now);
    let date = &amz_date[..8];
    let mut headers: Vec<(String, String)> = req.headers.to_vec();
    headers.push(("x-amz-date".to_string(), amz_date.clone()));
    let mut names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let with_date = Request {
        headers: &headers,
        ..*req
    };
    let canonical = canonical_request(&with_date, &names);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let signature = signature(&canonical, creds, &amz_date, region, service);
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        creds.access_key_id,
        names.join(";")
    );
    (amz_date, authorization)
}

/// The hex signature of a canonical request: the string to sign over its
/// hash, with the key derived from the secret, date, region and service.
fn signature(
    canonical: &str,
    creds: &AdminCredentials,
    amz_date: &str,
    region: &str,
    service: &str,
) -> String {
    let date = &amz_date[..8.min(amz_date.len())];
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        crypto::sha256_hex(canonical.as_bytes())
    );
    let mut key = crypto::hmac_sha256(
        format!("AWS4{}", creds.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [region, service, "aws4_request"] {
        key = crypto::hmac_sha256(&key, part.as_bytes());
    }
    crypto::hex(&crypto::hmac_sha256(&key, string_to_sign.as_bytes()))
}

struct Authorization {
    credential: String,
    signed_headers: String,
    signature: String,
}

fn parse_authorization(value: &str) -> Result<Authorization> {
    let incomplete = || {
        CognitoError::incomplete_signature(format!(
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization={}",
            value.split_whitespace().next().unwrap_or("")
        ))
    };
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(incomplete)?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v.to_string());
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v.to_string());
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v.to_string());
        }
    }
    Ok(Authorization {
        credential: credential.ok_or_else(incomplete)?,
        signed_headers: signed_headers.ok_or_else(incomplete)?,
        signature: signature.ok_or_else(incomplete)?,
    })
}

fn canonical_request(req: &Request<'_>, signed: &[&str]) -> String {
    let mut out = String::new();
    out.push_str(req.method);
    out.push('\n');
    // Non-S3 services sign the path as the client wrote it, encoded again.
    out.push_str(&uri_encode(req.path, false));
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    for name in signed {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed.join(";"));
    out.push('\n');
    out.push_str(&crypto::sha256_hex(req.body));
    out
}

fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&crypto::percent_decode(k, false), true),
                uri_encode(&crypto::percent_decode(v, false), true),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// AWS's URI encoding: everything but unreserved characters, and `/` unless
/// `encode_slash`.
fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

fn parse_amz_date(text: &str) -> Result<i64> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(text, &format)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| {
            CognitoError::incomplete_signature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{text}'."
            ))
        })
}

fn amz_format(epoch: i64) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "get-vanilla" example of AWS's SigV4 test suite: the documented
    /// example credentials, request and signature.
    #[test]
    fn aws_test_suite_get_vanilla_verifies() {
        let creds = AdminCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        };
        let headers = vec![
            ("host".to_string(), "example.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
            (
                "authorization".to_string(),
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                    .to_string(),
            ),
        ];
        let req = Request {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        let now = parse_amz_date("20150830T123600Z").unwrap();
        verify(&req, &creds, "us-east-1", "service", now).unwrap();

        let err = verify(&req, &creds, "us-east-1", "service", now + 301).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::InvalidSignature);
        assert!(
            err.message
                .starts_with("Signature expired: 20150830T123600Z is now earlier than"),
            "{}",
            err.message
        );
        let tampered = Request { body: b"x", ..req };
        assert_eq!(
            verify(&tampered, &creds, "us-east-1", "service", now)
                .unwrap_err()
                .kind,
            crate::error::ErrorKind::InvalidSignature
        );
        let other = AdminCredentials {
            access_key_id: "AKIDOTHER".into(),
            ..creds.clone()
        };
        assert_eq!(
            verify(&req, &other, "us-east-1", "service", now)
                .unwrap_err()
                .kind,
            crate::error::ErrorKind::UnrecognizedClient
        );
        assert_eq!(
            verify(&req, &creds, "eu-west-1", "service", now)
                .unwrap_err()
                .kind,
            crate::error::ErrorKind::InvalidSignature
        );
    }

    #[test]
    fn what_sign_signs_verify_accepts() {
        let creds = AdminCredentials {
            access_key_id: "AKIAEXAMPLE123456".into(),
            secret_access_key: "secret".repeat(7),
        };
        let base = vec![
            ("host".to_string(), "127.0.0.1:4000".to_string()),
            (
                "x-amz-target".to_string(),
                "AWSCognitoIdentityProviderService.ListUsers".to_string(),
            ),
        ];
        let req = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &base,
            body: b"{}",
        };
        let (date, auth) = sign(&req, &creds, "us-east-1", "cognito-idp", 1_700_000_000);
        let mut headers = base.clone();
        headers.push(("x-amz-date".into(), date));
        headers.push(("authorization".into(), auth));
        let signed = Request {
            headers: &headers,
            ..req
        };
        verify(&signed, &creds, "us-east-1", "cognito-idp", 1_700_000_000).unwrap();
        // A header that was signed cannot change.
        headers[1].1 = "AWSCognitoIdentityProviderService.AdminDeleteUser".into();
        let changed = Request {
            headers: &headers,
            ..req
        };
        assert_eq!(
            verify(&changed, &creds, "us-east-1", "cognito-idp", 1_700_000_000)
                .unwrap_err()
                .kind,
            crate::error::ErrorKind::InvalidSignature
        );
    }

    #[test]
    fn unsigned_requests_are_missing_a_token() {
        let creds = AdminCredentials {
            access_key_id: "A".repeat(20),
            secret_access_key: "s".repeat(40),
        };
        let headers = vec![("host".to_string(), "h".to_string())];
        let req = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"{}",
        };
        let err = verify(&req, &creds, "us-east-1", "cognito-idp", 0).unwrap_err();
        assert_eq!(
            err.kind,
            crate::error::ErrorKind::MissingAuthenticationToken
        );
    }

    #[test]
    fn query_strings_are_canonicalised() {
        assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(canonical_query("k=a%20b&x"), "k=a%20b&x=");
        assert_eq!(uri_encode("/a b/c", false), "/a%20b/c");
    }
}
