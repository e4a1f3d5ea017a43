//! The JWT authorizer, with API Gateway's semantics
//! (reference/apigateway.md §1): the token from one identity source,
//! RSA signatures only, `iss` compared exactly, `aud` (else `client_id`)
//! against the audience list, `exp`/`nbf`/`iat`, then the route's scopes.
//!
//! Beyond AWS: tokens of this server's own pools are verified in-process
//! (no network) and refused once revoked (GlobalSignOut, RevokeToken,
//! disabled users); a verified token is cached until it expires, so the
//! hot path does no RSA work for a token already seen. The claim checks
//! run on every request; revocation is re-checked at once after a
//! revocation in this process and every few seconds otherwise (which
//! catches revocations made by other nodes sharing the database).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderName;
use cognate_config::IdentitySource;
use cognate_identity::jwt::{self, RsaAlg};
use cognate_identity::Identity;
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::jwks::Jwks;

/// How long a revocation check of a cached token stays good when nothing
/// was revoked in this process.
const RECHECK_MS: i64 = 2_000;
/// Cached tokens kept at most; past it, expired ones go, then all.
const CACHE_MAX: usize = 100_000;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// 401 with `www-authenticate`; the description says why.
    Unauthorized(&'static str),
    /// 403: valid token, no route scope among its scopes.
    Forbidden,
    /// The revocation check could not be made: refused (fail closed).
    Unavailable,
}

impl From<Denial> for GatewayError {
    /// A JWT authorizer's refusal, wherever a token is checked.
    fn from(d: Denial) -> GatewayError {
        match d {
            Denial::Unauthorized(why) => GatewayError::Unauthorized(why),
            Denial::Forbidden => GatewayError::Forbidden,
            Denial::Unavailable => GatewayError::ServiceUnavailable,
        }
    }
}

/// Where the keys come from.
pub enum Keys {
    /// One of this server's pools.
    Pool {
        identity: Arc<Identity>,
        pool_id: String,
    },
    /// An external issuer, by discovery.
    External(Arc<Jwks>),
}

struct Cached {
    claims: Arc<Map<String, Value>>,
    exp: i64,
    /// Revocation state: when last checked, and the process's revocation
    /// count then.
    checked_ms: i64,
    epoch: u64,
    revoked: bool,
}

/// Verified tokens of one issuer.
pub struct Verifier {
    pub issuer: String,
    keys: Keys,
    /// By the whole token. Only verified tokens are entered, so the keys
    /// are not the client's to choose: a fast seeded hash will do (std's
    /// SipHash over a kilobyte of token was a visible part of a request).
    cache: Mutex<HashMap<Box<str>, Cached, foldhash::fast::RandomState>>,
    /// Revocation checks by sign-in (`origin_jti`): every token of one
    /// sign-in (each refresh makes another) shares one check, re-read
    /// under the same rule as a cached token's (`RECHECK_MS`, or at once
    /// after a revocation in this process).
    origins: Mutex<HashMap<Box<str>, OriginCheck>>,
}

/// What the verified-token cache knows of a token ([`Verifier::known`]).
pub enum Known {
    /// The answer: verified and checked recently, or revoked.
    Answer(Result<Arc<Map<String, Value>>, Denial>),
    /// Verified, its revocation to be read again (with the process's
    /// revocation count at the lookup).
    Stale(Arc<Map<String, Value>>, u64),
    /// Not cached: to be verified.
    Unknown(u64),
}

#[derive(Clone, Copy)]
struct OriginCheck {
    revoked: bool,
    checked_ms: i64,
    epoch: u64,
}

/// A JWT authorizer of an API.
pub struct JwtAuthorizer {
    pub verifier: Arc<Verifier>,
    pub audience: Vec<String>,
    pub source: IdentitySource,
    /// A header source's name, parsed once (a name given as text is
    /// parsed again at every lookup).
    source_header: Option<HeaderName>,
}

impl JwtAuthorizer {
    pub fn new(verifier: Arc<Verifier>, audience: Vec<String>, source: IdentitySource) -> Self {
        let source_header = match &source {
            IdentitySource::Header(h) => HeaderName::try_from(h.as_str()).ok(),
            _ => None,
        };
        JwtAuthorizer {
            verifier,
            audience,
            source,
            source_header,
        }
    }
}

impl Verifier {
    pub fn new(issuer: String, keys: Keys) -> Verifier {
        Verifier {
            issuer,
            keys,
            cache: Mutex::new(HashMap::default()),
            origins: Mutex::new(HashMap::new()),
        }
    }

    fn epoch(&self) -> u64 {
        match &self.keys {
            Keys::Pool { identity, .. } => identity.revocation_epoch(),
            Keys::External(_) => 0,
        }
    }

    /// The token's claims if its signature is good (cached), and it is
    /// not revoked. Claim checks are the caller's.
    pub async fn claims(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Arc<Map<String, Value>>, Denial> {
        self.claims_given(self.known(token, now_ms), token, now_ms)
            .await
    }

    /// What the cache knows of a token, read once.
    pub fn known(&self, token: &str, now_ms: i64) -> Known {
        let epoch = self.epoch();
        let cache = self.cache.lock().expect("token cache lock");
        match cache.get(token) {
            None => Known::Unknown(epoch),
            Some(c) if c.revoked => {
                Known::Answer(Err(Denial::Unauthorized("the token has been revoked")))
            }
            Some(c) if c.epoch == epoch && now_ms - c.checked_ms < RECHECK_MS => {
                Known::Answer(Ok(c.claims.clone()))
            }
            Some(c) => Known::Stale(c.claims.clone(), epoch),
        }
    }

    /// The answer of [`Verifier::claims`] when the cache alone gives it (a
    /// token verified, its revocation checked recently).
    pub fn cached(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Option<Result<Arc<Map<String, Value>>, Denial>> {
        match self.known(token, now_ms) {
            Known::Answer(found) => Some(found),
            _ => None,
        }
    }

    /// [`Verifier::claims`] from what [`Verifier::known`] said.
    pub async fn claims_given(
        &self,
        known: Known,
        token: &str,
        now_ms: i64,
    ) -> Result<Arc<Map<String, Value>>, Denial> {
        match known {
            Known::Answer(found) => found,
            // Boxed: the checks that wait are rare, and their future is
            // large; every request's future would carry it otherwise.
            Known::Stale(claims, epoch) => {
                Box::pin(self.check(token, Some(claims), epoch, now_ms)).await
            }
            Known::Unknown(epoch) => Box::pin(self.check(token, None, epoch, now_ms)).await,
        }
    }

    /// Verifies a token not cached (`claims` `None`) or re-reads the
    /// revocation of one cached, and caches the result.
    async fn check(
        &self,
        token: &str,
        claims: Option<Arc<Map<String, Value>>>,
        epoch: u64,
        now_ms: i64,
    ) -> Result<Arc<Map<String, Value>>, Denial> {
        let claims = match claims {
            Some(c) => c,
            None => Arc::new(self.verify_signature(token, now_ms).await?),
        };
        // The token's check is as old as its origin's (read now, or by
        // another token of the same sign-in less than RECHECK_MS ago).
        let (revoked, checked_ms) = self.revoked(&claims, epoch, now_ms).await?;
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        let mut cache = self.cache.lock().expect("token cache lock");
        if cache.len() >= CACHE_MAX {
            let now_s = now_ms / 1000;
            cache.retain(|_, c| c.exp > now_s);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(
            token.into(),
            Cached {
                claims: claims.clone(),
                exp,
                checked_ms,
                epoch,
                revoked,
            },
        );
        if revoked {
            return Err(Denial::Unauthorized("the token has been revoked"));
        }
        Ok(claims)
    }

    async fn verify_signature(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Map<String, Value>, Denial> {
        const BAD: Denial = Denial::Unauthorized("the token is not valid");
        match &self.keys {
            Keys::Pool { identity, pool_id } => {
                let unverified = jwt::parse(token).map_err(|_| BAD)?;
                let keys = identity
                    .keys_for_kid(pool_id, &unverified.kid, now_ms)
                    .await
                    .map_err(|_| Denial::Unavailable)?;
                unverified.verify(&keys).map_err(|_| BAD)
            }
            Keys::External(jwks) => {
                let unverified =
                    jwt::parse_rsa(token, &[RsaAlg::Rs256, RsaAlg::Rs384, RsaAlg::Rs512])
                        .map_err(|_| BAD)?;
                let key = jwks.key(&unverified.kid, now_ms).await.ok_or(BAD)?;
                if let Some(alg) = &key.alg {
                    if RsaAlg::parse(alg) != Some(unverified.alg) {
                        return Err(BAD);
                    }
                }
                unverified.verify_with(&key.n, &key.e).map_err(|_| BAD)
            }
        }
    }

    /// Whether a token of one of this server's pools was revoked. Tokens
    /// of external issuers cannot be.
    async fn revoked(
        &self,
        claims: &Map<String, Value>,
        epoch: u64,
        now_ms: i64,
    ) -> Result<(bool, i64), Denial> {
        let Keys::Pool { identity, .. } = &self.keys else {
            return Ok((false, now_ms));
        };
        let Some(origin) = claims.get("origin_jti").and_then(Value::as_str) else {
            return Ok((false, now_ms));
        };
        let fresh = |c: &OriginCheck| c.epoch == epoch && now_ms - c.checked_ms < RECHECK_MS;
        let known = self
            .origins
            .lock()
            .expect("origin cache lock")
            .get(origin)
            .copied();
        if let Some(c) = known.filter(|c| fresh(c)) {
            return Ok((c.revoked, c.checked_ms));
        }
        let revoked = match identity.origin_revoked(origin).await {
            Ok(revoked) => revoked,
            Err(e) => {
                tracing::warn!(error = %e, "revocation check failed; refusing the token");
                return Err(Denial::Unavailable);
            }
        };
        let mut origins = self.origins.lock().expect("origin cache lock");
        if origins.len() >= CACHE_MAX {
            origins.retain(|_, c| fresh(c));
            if origins.len() >= CACHE_MAX {
                origins.clear();
            }
        }
        origins.insert(
            origin.into(),
            OriginCheck {
                revoked,
                checked_ms: now_ms,
                epoch,
            },
        );
        Ok((revoked, now_ms))
    }
}

/// Takes the token out of an identity-source value: the bare token, or
/// `Bearer <token>` (scheme case-insensitive, one or more spaces).
pub fn token_from(value: &str) -> Option<&str> {
    candidate(value).filter(|t| is_compact(t))
}

/// The value without its `Bearer` scheme: the token, if it is one.
fn candidate(value: &str) -> Option<&str> {
    let v = value.trim_matches(' ');
    let token = match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            rest.trim_start_matches(' ')
        }
        Some(_) => return None,
        None if v.eq_ignore_ascii_case("bearer") => return None,
        None => v,
    };
    (!token.is_empty()).then_some(token)
}

/// A compact JWT is base64url and dots only: anything else (spaces,
/// commas of joined headers) makes it no token.
fn is_compact(token: &str) -> bool {
    token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=' | b'+' | b'/'))
}

impl JwtAuthorizer {
    /// Authorizes a request; on success the claims and, when the route has
    /// scopes, the token's full scope list.
    pub async fn authorize(
        &self,
        ctx: &RequestContext,
        route_scopes: &[String],
        now_ms: i64,
    ) -> Result<(Arc<Map<String, Value>>, Option<Vec<String>>), Denial> {
        let value = match &self.source {
            IdentitySource::Header(_) => {
                self.source_header.as_ref().and_then(|h| ctx.header_ref(h))
            }
            IdentitySource::QueryString(q) => ctx.query(q).map(Cow::Owned),
            IdentitySource::Cookie(c) => ctx.cookie_ref(c).map(Cow::Borrowed),
            _ => None,
        };
        let malformed = || Denial::Unauthorized("the token is missing or malformed");
        let token = value.as_deref().and_then(candidate).ok_or_else(malformed)?;
        // Only well-formed tokens are cached: one found there needs no
        // second look at its characters.
        let claims = match self.verifier.known(token, now_ms) {
            Known::Unknown(_) if !is_compact(token) => return Err(malformed()),
            known => self.verifier.claims_given(known, token, now_ms).await?,
        };
        check_claims(
            &claims,
            &self.verifier.issuer,
            &self.audience,
            now_ms / 1000,
        )?;
        if route_scopes.is_empty() {
            return Ok((claims, None));
        }
        let scopes = token_scopes(&claims);
        if !route_scopes.iter().any(|s| scopes.contains(s)) {
            return Err(Denial::Forbidden);
        }
        Ok((claims, Some(scopes)))
    }
}

/// The time and audience checks, in API Gateway's terms.
pub fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &[String],
    now_s: i64,
) -> Result<(), Denial> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(Denial::Unauthorized(
            "the token does not have a valid issuer",
        ));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audience.contains(a),
        Some(Value::Array(list)) => list
            .iter()
            .any(|a| a.as_str().is_some_and(|a| audience.iter().any(|x| x == a))),
        Some(_) => false,
        None => claims
            .get("client_id")
            .and_then(Value::as_str)
            .is_some_and(|c| audience.iter().any(|x| x == c)),
    };
    if !aud_ok {
        return Err(Denial::Unauthorized(
            "the token does not have a valid audience",
        ));
    }
    let time = |name: &str| -> Result<Option<i64>, Denial> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or(Denial::Unauthorized("the token is not valid")),
        }
    };
    match time("exp")? {
        Some(exp) if exp > now_s => {}
        Some(_) => return Err(Denial::Unauthorized("the token has expired")),
        None => return Err(Denial::Unauthorized("the token has no expiry")),
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now_s) {
        return Err(Denial::Unauthorized("the token is not valid yet"));
    }
    if time("iat")?.is_some_and(|iat| iat > now_s) {
        return Err(Denial::Unauthorized("the token was issued in the future"));
    }
    Ok(())
}

/// The token's scopes: `scope` (space-separated) or `scp` (a string or a
/// list).
pub fn token_scopes(claims: &Map<String, Value>) -> Vec<String> {
    let split = |s: &str| {
        s.split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => split(s),
        (_, Some(Value::String(s))) => split(s),
        (_, Some(Value::Array(a))) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const ISS: &str = "http://127.0.0.1:4000/us-east-1_abc";

    #[test]
    fn bearer_scheme_is_case_insensitive_and_anything_else_is_refused() {
        assert_eq!(token_from("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(token_from("bearer  abc"), Some("abc"));
        assert_eq!(token_from("abc"), Some("abc"));
        assert_eq!(token_from("Bearer x y"), None);
        assert_eq!(token_from("Basic abc"), None);
        assert_eq!(token_from("Bearer "), None);
        assert_eq!(token_from("a,b"), None);
        assert_eq!(token_from(""), None);
    }

    #[test]
    fn aud_is_checked_when_present_and_client_id_only_without_it() {
        let aud = vec!["client1".to_string()];
        let now = 1000;
        let ok = |c: Value| check_claims(&claims(c), ISS, &aud, now);
        assert!(ok(json!({"iss": ISS, "aud": "client1", "exp": 2000})).is_ok());
        assert!(ok(json!({"iss": ISS, "client_id": "client1", "exp": 2000})).is_ok());
        assert!(ok(json!({"iss": ISS, "aud": ["x", "client1"], "exp": 2000})).is_ok());
        assert_eq!(
            ok(json!({"iss": ISS, "aud": "other", "client_id": "client1", "exp": 2000})),
            Err(Denial::Unauthorized(
                "the token does not have a valid audience"
            ))
        );
    }

    #[test]
    fn issuer_is_compared_exactly() {
        let aud = vec!["c".to_string()];
        for iss in [
            format!("{ISS}/"),
            ISS.to_uppercase(),
            ISS.replace("http:", "https:"),
        ] {
            assert_eq!(
                check_claims(
                    &claims(json!({"iss": iss, "aud": "c", "exp": 2000})),
                    ISS,
                    &aud,
                    1000
                ),
                Err(Denial::Unauthorized(
                    "the token does not have a valid issuer"
                ))
            );
        }
    }

    #[test]
    fn time_claims_are_enforced_without_leeway() {
        let aud = vec!["c".to_string()];
        let check = |c: Value| check_claims(&claims(c), ISS, &aud, 1000);
        assert!(check(json!({"iss": ISS, "aud": "c", "exp": 1000})).is_err());
        assert!(check(json!({"iss": ISS, "aud": "c", "exp": 1001})).is_ok());
        assert!(check(json!({"iss": ISS, "aud": "c"})).is_err());
        assert!(check(json!({"iss": ISS, "aud": "c", "exp": "2000"})).is_err());
        assert!(check(json!({"iss": ISS, "aud": "c", "exp": 1.5e300})).is_err());
        assert!(check(json!({"iss": ISS, "aud": "c", "exp": 2000, "nbf": 1001})).is_err());
        assert!(check(json!({"iss": ISS, "aud": "c", "exp": 2000, "iat": 1001})).is_err());
        assert!(
            check(json!({"iss": ISS, "aud": "c", "exp": 2000, "iat": 1000, "nbf": 1000})).is_ok()
        );
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        assert_eq!(token_scopes(&claims(json!({"scope": "a b"}))), ["a", "b"]);
        assert_eq!(
            token_scopes(&claims(json!({"scp": ["a", "b"]}))),
            ["a", "b"]
        );
        assert_eq!(token_scopes(&claims(json!({"scp": "c"}))), ["c"]);
        assert!(token_scopes(&claims(json!({}))).is_empty());
    }
}
