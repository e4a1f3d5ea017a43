//! HttpOnly cookie sessions (beyond API Gateway; seed 000's pattern made
//! native).
//!
//! - **Sign-in start** (`session_login`): state and a PKCE verifier go in a
//!   short-lived `__Host-` cookie, the browser goes to the hosted sign-in.
//! - **Callback** (`session_callback`): the code is exchanged in-process;
//!   the access token, the refresh token and a CSRF token are set as
//!   cookies (`Secure; SameSite=Lax; Path=/`, `__Host-` prefix, or
//!   `__Secure-` with a `Domain` for subdomain sharing); the browser goes
//!   on to a clean URL.
//! - **Authorizer** (`session`): the access cookie is verified as the JWT
//!   authorizer verifies tokens (signature, issuer, client, expiry,
//!   revocation). An expired or missing access cookie with a refresh
//!   cookie is refreshed here and the request goes through with new
//!   cookies. State-changing methods must echo the CSRF cookie in a header;
//!   the token is an HMAC of the session's origin, so a planted cookie
//!   and header pair of another session does not pass; a cross-site
//!   `Origin` or `Sec-Fetch-Site` is refused even with a token.
//! - **Logout** (`session_logout`): revokes the session's tokens and
//!   clears every cookie.
//!
//! The refresh cookie shares the access cookie's `Path=/`: the `__Host-`
//! prefix requires it, and the silent refresh needs it on every route.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use base64::Engine;
use cognate_config::Session;
use cognate_identity::oauth::{ClientAuth, Grant, TokenRequest, TokenResponse};
use cognate_identity::Identity;
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::jwt::{self, Verifier};

/// How long a started sign-in may take.
const LOGIN_COOKIE_S: i64 = 600;

pub struct SessionRt {
    pub identity: Arc<Identity>,
    pub pool_id: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub verifier: Arc<Verifier>,
    pub config: Session,
    /// How long the refresh token lives (the refresh and CSRF cookies' age).
    pub refresh_max_age_s: i64,
    pub key: aws_lc_rs::hmac::Key,
    /// See [`cookie_prefix`].
    pub prefix: &'static str,
}

/// A session found (and maybe refreshed) by the authorizer.
pub struct Found {
    pub claims: Arc<Map<String, Value>>,
    /// Cookies to set on the answer (after a silent refresh).
    pub set_cookies: Vec<String>,
}

fn is_safe_method(m: &str) -> bool {
    matches!(m, "GET" | "HEAD" | "OPTIONS")
}

/// A same-origin relative path (`/x?y`), never `//host`, `/\host` or a
/// scheme: where a sign-in may return to.
pub fn safe_return(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.bytes().any(|b| b.is_ascii_control())
}

/// The cookie name prefix: `__Host-` for host-only cookies, `__Secure-`
/// when a `Domain` shares them with subdomains.
pub fn cookie_prefix(config: &Session) -> &'static str {
    if config.cookie_domain.is_some() {
        "__Secure-"
    } else {
        "__Host-"
    }
}

impl SessionRt {
    // The names are picked, not built: the access cookie's is read on
    // every request.
    fn named(&self, host_only: &'static str, shared: &'static str) -> &'static str {
        if self.prefix == "__Secure-" {
            shared
        } else {
            host_only
        }
    }
    pub fn access_cookie(&self) -> &'static str {
        self.named("__Host-cognate-access", "__Secure-cognate-access")
    }
    pub fn refresh_cookie(&self) -> &'static str {
        self.named("__Host-cognate-refresh", "__Secure-cognate-refresh")
    }
    pub fn csrf_cookie(&self) -> &'static str {
        self.named("__Host-cognate-csrf", "__Secure-cognate-csrf")
    }
    /// The sign-in state is always host-only.
    pub fn login_cookie(&self) -> &'static str {
        "__Host-cognate-login"
    }

    fn cookie(&self, name: &str, value: &str, max_age: i64, http_only: bool) -> String {
        let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; Secure; SameSite=Lax");
        if http_only {
            c.push_str("; HttpOnly");
        }
        if let Some(d) = &self.config.cookie_domain {
            if name != self.login_cookie() {
                c.push_str(&format!("; Domain={d}"));
            }
        }
        c
    }

    fn clear_all(&self) -> Vec<String> {
        vec![
            self.cookie(self.access_cookie(), "", 0, true),
            self.cookie(self.refresh_cookie(), "", 0, true),
            self.cookie(self.csrf_cookie(), "", 0, false),
        ]
    }

    /// The CSRF token of a session: an HMAC of its origin (stable across
    /// refreshes, different for every sign-in).
    pub fn csrf_token(&self, origin_jti: &str) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.key, format!("csrf|{origin_jti}").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Cookies for freshly issued tokens.
    fn token_cookies(&self, tokens: &TokenResponse) -> Result<Vec<String>, GatewayError> {
        let access = &tokens.access_token;
        let expires = i64::try_from(tokens.expires_in).unwrap_or(3600);
        let origin = origin_of(access).ok_or(GatewayError::Internal)?;
        let mut out = vec![self.cookie(self.access_cookie(), access, expires, true)];
        if let Some(rt) = &tokens.refresh_token {
            out.push(self.cookie(self.refresh_cookie(), rt, self.refresh_max_age_s, true));
        }
        out.push(self.cookie(
            self.csrf_cookie(),
            &self.csrf_token(&origin),
            self.refresh_max_age_s,
            false,
        ));
        Ok(out)
    }

    fn denied(&self, clear: bool) -> GatewayError {
        GatewayError::NoSession {
            set_cookies: if clear { self.clear_all() } else { Vec::new() },
            redirect: None,
        }
    }

    /// A grant at the pool's token endpoint, in-process, as the session's
    /// client. `Err(None)`: refused (the caller says how);
    /// `Err(Some(..))`: the store is away.
    async fn token(
        &self,
        grant: Grant,
        now_ms: i64,
    ) -> Result<TokenResponse, Option<GatewayError>> {
        let request = TokenRequest {
            client: ClientAuth {
                client_id: self.client_id.clone(),
                secret: self.client_secret.clone(),
                via_basic: false,
            },
            grant,
        };
        self.identity
            .oauth_token(&self.pool_id, request, now_ms)
            .await
            .map_err(|e| {
                e.is_server_error()
                    .then_some(GatewayError::ServiceUnavailable)
            })
    }

    /// The session authorizer.
    pub async fn authorize(
        &self,
        ctx: &RequestContext,
        now_ms: i64,
    ) -> Result<Found, GatewayError> {
        let mut set_cookies = Vec::new();
        let verified = match ctx.cookie(self.access_cookie()) {
            Some(token) => self.verify(&token, now_ms).await,
            None => Err(jwt::Denial::Unauthorized("no session")),
        };
        let claims = match verified {
            Ok(c) => c,
            Err(jwt::Denial::Unavailable) => return Err(GatewayError::ServiceUnavailable),
            Err(_) => {
                // Silent refresh with the refresh cookie, if there is one.
                let Some(rt) = ctx.cookie(self.refresh_cookie()) else {
                    return Err(self.denied(ctx.cookie(self.access_cookie()).is_some()));
                };
                let tokens = self
                    .token(Grant::RefreshToken { refresh_token: rt }, now_ms)
                    .await
                    .map_err(|e| e.unwrap_or_else(|| self.denied(true)))?;
                let claims = self
                    .verify(&tokens.access_token, now_ms)
                    .await
                    .map_err(|_| GatewayError::Internal)?;
                set_cookies = self.token_cookies(&tokens)?;
                claims
            }
        };
        self.found(ctx, claims, set_cookies)
    }

    /// A session found: a state-changing request must also pass the CSRF
    /// check.
    fn found(
        &self,
        ctx: &RequestContext,
        claims: Arc<Map<String, Value>>,
        set_cookies: Vec<String>,
    ) -> Result<Found, GatewayError> {
        if !is_safe_method(&ctx.method) {
            self.check_csrf(ctx, &claims)?;
        }
        Ok(Found {
            claims,
            set_cookies,
        })
    }

    /// [`SessionRt::authorize`]'s answer when the access cookie's token is
    /// found verified in the cache (most requests): nothing to wait for.
    /// `None` sends the request the whole way (refresh, refusal).
    pub fn authorize_cached(
        &self,
        ctx: &RequestContext,
        now_ms: i64,
    ) -> Option<Result<Found, GatewayError>> {
        let token = ctx.cookie_ref(self.access_cookie())?;
        let claims = self.verifier.cached(token, now_ms)?.ok()?;
        self.check_access(&claims, now_ms).ok()?;
        Some(self.found(ctx, claims, Vec::new()))
    }

    async fn verify(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Arc<Map<String, Value>>, jwt::Denial> {
        let claims = self.verifier.claims(token, now_ms).await?;
        self.check_access(&claims, now_ms)?;
        Ok(claims)
    }

    /// The claim checks of a session's access token.
    fn check_access(&self, claims: &Map<String, Value>, now_ms: i64) -> Result<(), jwt::Denial> {
        jwt::check_claims(
            claims,
            &self.verifier.issuer,
            std::slice::from_ref(&self.client_id),
            now_ms / 1000,
        )?;
        if claims.get("token_use").and_then(Value::as_str) != Some("access") {
            return Err(jwt::Denial::Unauthorized("not an access token"));
        }
        Ok(())
    }

    /// Double submit, signed: the header must equal the cookie, and both
    /// must be this session's token; cross-site requests are refused even
    /// with one.
    fn check_csrf(
        &self,
        ctx: &RequestContext,
        claims: &Map<String, Value>,
    ) -> Result<(), GatewayError> {
        if ctx.header("sec-fetch-site").as_deref() == Some("cross-site") {
            return Err(GatewayError::Forbidden);
        }
        if let Some(origin) = ctx.header("origin") {
            if !self.same_site_origin(&origin, ctx) {
                return Err(GatewayError::Forbidden);
            }
        }
        let expected = claims
            .get("origin_jti")
            .and_then(Value::as_str)
            .map(|o| self.csrf_token(o))
            .ok_or(GatewayError::Forbidden)?;
        let header = ctx.header(self.config.csrf_header.to_ascii_lowercase());
        let cookie = ctx.cookie(self.csrf_cookie());
        match (header, cookie) {
            (Some(h), Some(c))
                if aws_lc_rs::constant_time::verify_slices_are_equal(
                    h.as_bytes(),
                    c.as_bytes(),
                )
                .is_ok()
                    && aws_lc_rs::constant_time::verify_slices_are_equal(
                        h.as_bytes(),
                        expected.as_bytes(),
                    )
                    .is_ok() =>
            {
                Ok(())
            }
            _ => Err(GatewayError::Forbidden),
        }
    }

    /// Whether `value` (a WebSocket `$connect`'s query parameter or
    /// subprotocol entry) is this session's CSRF token and equals the
    /// CSRF cookie: the double submit of a header, where no header can be
    /// set.
    pub fn csrf_matches(
        &self,
        ctx: &RequestContext,
        claims: &Map<String, Value>,
        value: &str,
    ) -> bool {
        let Some(expected) = claims
            .get("origin_jti")
            .and_then(Value::as_str)
            .map(|o| self.csrf_token(o))
        else {
            return false;
        };
        let Some(cookie) = ctx.cookie(self.csrf_cookie()) else {
            return false;
        };
        aws_lc_rs::constant_time::verify_slices_are_equal(value.as_bytes(), cookie.as_bytes())
            .is_ok()
            && aws_lc_rs::constant_time::verify_slices_are_equal(
                value.as_bytes(),
                expected.as_bytes(),
            )
            .is_ok()
    }

    /// Whether an `Origin` is this API's own (by the request's Host), or
    /// under the cookie domain when sessions are shared with subdomains.
    fn same_site_origin(&self, origin: &str, ctx: &RequestContext) -> bool {
        let Some((_, rest)) = origin.split_once("://") else {
            return false;
        };
        let host = ctx.header("host").unwrap_or_default().to_ascii_lowercase();
        let origin_host = rest.to_ascii_lowercase();
        if origin_host == host {
            return true;
        }
        match &self.config.cookie_domain {
            Some(d) => {
                let name = origin_host.split(':').next().unwrap_or("");
                name == d || name.ends_with(&format!(".{d}"))
            }
            None => false,
        }
    }

    /// `GET /login`-style start of the flow.
    pub fn login(&self, ctx: &RequestContext) -> Response<Body> {
        let state =
            cognate_identity::crypto::b64url(&cognate_identity::crypto::random_bytes::<16>());
        let verifier =
            cognate_identity::crypto::b64url(&cognate_identity::crypto::random_bytes::<32>());
        let challenge = cognate_identity::authorize::s256(&verifier);
        let back = ctx
            .query("return")
            .filter(|r| safe_return(r))
            .unwrap_or_else(|| self.config.after_sign_in.clone());
        let cookie_value = format!(
            "{state}.{verifier}.{}",
            cognate_identity::crypto::b64url(back.as_bytes())
        );
        let mut url = url::Url::parse(&format!(
            "{}/oauth2/authorize",
            self.config.hosted_url.trim_end_matches('/')
        ))
        .expect("hosted URL is a URL");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.config.callback_url)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("scope", &self.config.scopes.join(" "));
        let mut r = redirect(url.as_str());
        append_cookie(
            &mut r,
            &self.cookie(self.login_cookie(), &cookie_value, LOGIN_COOKIE_S, true),
        );
        r
    }

    /// The OAuth callback.
    pub async fn callback(
        &self,
        ctx: &RequestContext,
        now_ms: i64,
    ) -> Result<Response<Body>, GatewayError> {
        let clear_login = self.cookie(self.login_cookie(), "", 0, true);
        let refuse = || GatewayError::NoSession {
            set_cookies: vec![self.cookie(self.login_cookie(), "", 0, true)],
            redirect: None,
        };
        let code = ctx.query("code").ok_or_else(refuse)?;
        let state = ctx.query("state");
        let (verifier, back) = match (ctx.cookie(self.login_cookie()), &state) {
            // Started at the hosted sign-in itself (the demo's SignInUrl):
            // there is no state to check, whatever sign-in this browser
            // may have started before (a code issued to that one carries
            // a PKCE challenge, so it cannot be redeemed here without the
            // verifier).
            (_, None) => (None, self.config.after_sign_in.clone()),
            // A state that no cookie of this browser binds is refused.
            (None, Some(_)) => return Err(refuse()),
            (Some(v), Some(_)) => {
                let mut parts = v.splitn(3, '.');
                let (Some(s), Some(verifier), Some(back)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(refuse());
                };
                let bound = state.as_deref().is_some_and(|st| {
                    aws_lc_rs::constant_time::verify_slices_are_equal(st.as_bytes(), s.as_bytes())
                        .is_ok()
                });
                if !bound {
                    return Err(refuse());
                }
                let back = cognate_identity::crypto::b64url_decode(back)
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|b| safe_return(b))
                    .unwrap_or_else(|| self.config.after_sign_in.clone());
                (Some(verifier.to_string()), back)
            }
        };
        let grant = Grant::AuthorizationCode {
            code,
            redirect_uri: Some(self.config.callback_url.clone()),
            code_verifier: verifier,
        };
        let tokens = self.token(grant, now_ms).await.map_err(|e| {
            e.unwrap_or_else(|| {
                tracing::info!(requestId = %ctx.request_id, "session callback refused");
                refuse()
            })
        })?;
        let mut r = redirect(&back);
        for c in self.token_cookies(&tokens)? {
            append_cookie(&mut r, &c);
        }
        append_cookie(&mut r, &clear_login);
        Ok(r)
    }

    /// Ends the session of an authorized request.
    pub async fn logout(
        &self,
        ctx: &RequestContext,
        redirect_to: Option<&str>,
        now_ms: i64,
    ) -> Result<Response<Body>, GatewayError> {
        let origin = match &ctx.authorizer {
            crate::context::AuthorizerOutput::Jwt { claims, .. } => claims
                .get("origin_jti")
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        }
        .ok_or(GatewayError::Forbidden)?;
        self.identity
            .revoke_origin(&origin, now_ms)
            .await
            .map_err(|_| GatewayError::ServiceUnavailable)?;
        let mut r = match redirect_to {
            Some(to) => redirect(to),
            None => {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            }
        };
        for c in self.clear_all() {
            append_cookie(&mut r, &c);
        }
        Ok(r)
    }

    /// Where a browser without a session goes, when so configured.
    pub fn sign_in_redirect(&self) -> bool {
        self.config.redirect_to_sign_in
    }
}

/// The `origin_jti` of a token, read without verifying (the token was just
/// issued by this server).
fn origin_of(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: Value =
        serde_json::from_slice(&cognate_identity::crypto::b64url_decode(payload)?).ok()?;
    claims.get("origin_jti")?.as_str().map(str::to_string)
}

pub fn redirect(to: &str) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

pub fn append_cookie(r: &mut Response<Body>, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}
