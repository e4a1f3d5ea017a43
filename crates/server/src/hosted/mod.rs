//! The hosted sign-in pages and the OAuth endpoints a browser visits on a
//! pool's domain: `/oauth2/authorize` (also `/authorize`), `/login`,
//! `/logout`, `/error`, and `/oauth2/userInfo`.
//!
//! Pages are plain server-rendered HTML with inline styles (no external
//! assets), every form carries a CSRF token checked against a cookie
//! (double submit), pages cannot be framed, and nothing is cached. A
//! successful sign-in sets an HttpOnly session cookie (SameSite=Lax, one
//! hour) that signs the user in to the pool's other clients until logout.

pub(crate) mod federation;
mod forms;
mod mfa;
mod templates;

pub(crate) use forms::*;
pub(crate) use mfa::*;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cognate_identity::authorize::{Authorization, AuthorizeError, HostedStep};
use cognate_identity::{crypto, ErrorKind};
use serde_json::json;

use crate::domain::DomainState;

const SESSION_COOKIE: &str = "cognate_session";
const CSRF_COOKIE: &str = "XSRF-TOKEN";

pub(crate) fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// A cookie's value, only when exactly one cookie has that name.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cognate_gateway::cookie::unique(headers, name).map(str::to_string)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let mut r = (status, templates::layout(title, body)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_page(h);
    r
}

pub(crate) fn secure_page(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

pub(crate) fn redirect(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    match HeaderValue::from_str(location) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => return error_page("invalid_request"),
    }
    secure_page(r.headers_mut());
    r
}

pub(crate) fn error_page(code: &str) -> Response {
    let message = match code {
        "redirect_mismatch" => "The application asked to return to an address it has not registered, so sign-in stopped here.",
        "invalid_request" => "The sign-in request was not valid.",
        "csrf" => "This form has expired or was not sent by this page. Go back and try again.",
        _ => "Something went wrong while signing in.",
    };
    page(
        StatusCode::BAD_REQUEST,
        "Sign-in error",
        &templates::error(message, Some(code)),
    )
}

/// A trigger's refusal, with its message, as Cognito's hosted pages show it.
fn trigger_error_page(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Sign-in error",
        &templates::error(message, None),
    )
}

pub(crate) fn authorize_failure(e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Page(code) => redirect(&format!("/error?error={code}")),
        // Cognito's error page names the client (reference/cognito.md §5.1).
        AuthorizeError::RedirectMismatch { client_id } => {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("error", "redirect_mismatch");
            if let Some(c) = client_id {
                q.append_pair("client_id", &c);
            }
            redirect(&format!("/error?{}", q.finish()))
        }
        AuthorizeError::Redirect(url) => redirect(&url),
    }
}

fn cookie_attributes(state: &DomainState, max_age: i64) -> String {
    let secure = if state.secure { "; Secure" } else { "" };
    format!("; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Answers an authorization for a signed-in user, setting the session.
pub(crate) async fn complete(
    state: &DomainState,
    a: &Authorization,
    user: &cognate_store::users::User,
    auth_time: i64,
    set_session: bool,
) -> Response {
    complete_with(state, a, user, auth_time, set_session, None).await
}

/// [`complete`], the session remembering a federated sign-in to end at
/// logout (`federation`).
pub(crate) async fn complete_with(
    state: &DomainState,
    a: &Authorization,
    user: &cognate_store::users::User,
    auth_time: i64,
    set_session: bool,
    federation: Option<&serde_json::Value>,
) -> Response {
    let now = state.app.now();
    let identity = &state.app.identity;
    // A fresh sign-in (not a session's): PostAuthentication may refuse it.
    if set_session {
        if let Err(e) = identity
            .hosted_post_authentication(&a.pool_id, &a.client_id, user)
            .await
        {
            if e.is_internal() {
                return error_page("server_error");
            }
            return trigger_error_page(&e.message);
        }
    }
    let location = match identity.authorize_complete(a, user, auth_time, now).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot complete an authorization");
            return error_page("server_error");
        }
    };
    let mut r = redirect(&location);
    if set_session {
        match identity
            .session_cookie(&state.pool_id, &user.sub, auth_time, federation, now)
            .await
        {
            Ok(v) => {
                let c = format!("{SESSION_COOKIE}={v}{}", cookie_attributes(state, 3600));
                r.headers_mut().append(
                    header::SET_COOKIE,
                    HeaderValue::from_str(&c).expect("cookie is a header value"),
                );
            }
            Err(_) => return error_page("server_error"),
        }
    }
    r
}

pub async fn authorize(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let identity = &s.app.identity;
    let a = match identity
        .authorize_request(&s.pool_id, &pairs(query.as_deref()))
        .await
    {
        Ok(a) => a,
        Err(e) => return authorize_failure(e),
    };
    if a.provider.is_some() {
        return federation::begin(&s, &a, &headers).await;
    }
    if !a.prompt_login {
        if let Some(c) = cookie(&headers, SESSION_COOKIE) {
            if let Ok(Some((user, auth_time))) =
                identity.session_user(&s.pool_id, &c, s.app.now()).await
            {
                return complete(&s, &a, &user, auth_time, false).await;
            }
        }
    }
    if a.prompt_none {
        return redirect(&cognate_identity::Identity::login_required(&a));
    }
    redirect(&format!("/login?{}", query.unwrap_or_default()))
}

fn login_form(
    s: &DomainState,
    pool_name: &str,
    query: &str,
    csrf: &str,
    username: &str,
    error: Option<&str>,
    options: &SignInOptions,
) -> String {
    let _ = s;
    let (password, providers) = options;
    // One button per external provider: the same authorization, sent
    // straight to that provider.
    let base: Vec<(String, String)> = pairs(Some(query))
        .into_iter()
        .filter(|(k, _)| k != "identity_provider" && k != "idp_identifier")
        .collect();
    let buttons: Vec<(String, &str)> = providers
        .iter()
        .map(|name| {
            let href = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&base)
                .append_pair("identity_provider", name)
                .finish();
            (href, name.as_str())
        })
        .collect();
    templates::login(&templates::Login {
        pool: pool_name,
        query,
        csrf,
        username,
        error,
        providers: &buttons,
        password: *password,
    })
}

/// Whether the page offers a password, and its external providers.
type SignInOptions = (bool, Vec<String>);

async fn sign_in_options(s: &DomainState, a: &Authorization) -> Result<SignInOptions, Response> {
    s.app
        .identity
        .sign_in_options(a)
        .await
        .map_err(|_| error_page("server_error"))
}

async fn pool_name(s: &DomainState) -> String {
    match s.app.identity.pool(&s.pool_id).await {
        Ok(Some(p)) => p.name,
        _ => "your account".into(),
    }
}

pub async fn login_page(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    let a = match s
        .app
        .identity
        .authorize_request(&s.pool_id, &pairs(Some(&query)))
        .await
    {
        Ok(a) => a,
        Err(e) => return authorize_failure(e),
    };
    let options = match sign_in_options(&s, &a).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let csrf = cookie(&headers, CSRF_COOKIE)
        .filter(|c| c.len() == 43)
        .unwrap_or_else(|| crypto::b64url(&crypto::random_bytes::<32>()));
    let name = pool_name(&s).await;
    let mut r = page(
        StatusCode::OK,
        &format!("Sign in to {name}"),
        &login_form(&s, &name, &query, &csrf, "", None, &options),
    );
    let c = format!(
        "{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict{}",
        if s.secure { "; Secure" } else { "" }
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&c).expect("cookie is a header value"),
    );
    r
}

pub async fn login_submit(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let (form, a, pool) = match page_post(&s, &query, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let identity = &s.app.identity;
    let options = match sign_in_options(&s, &a).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    if !options.0 {
        // The client does not sign in with COGNITO.
        return error_page("invalid_request");
    }
    let username = field(&form, "username");
    let password = secret_field(&form, "password");
    let now = s.app.now();
    match identity
        .hosted_sign_in(&pool, &a.client_id, username, password, now)
        .await
    {
        Ok(HostedStep::Done(user)) => complete(&s, &a, &user, now / 1000, true).await,
        Ok(HostedStep::Mfa {
            session,
            challenge,
            setup,
            destination,
            ..
        }) => {
            let page = MfaPage {
                session: &session,
                challenge,
                secret: setup.as_ref().map(|t| t.secret.as_str()).unwrap_or(""),
                uri: setup.as_ref().map(|t| t.uri.as_str()).unwrap_or(""),
                destination: destination.as_deref().unwrap_or(""),
            };
            mfa_form(&s, &headers, &query, StatusCode::OK, &page, None)
        }
        Ok(HostedStep::NewPassword { session, username }) => new_password_form(
            &s,
            &headers,
            &query,
            StatusCode::OK,
            &session,
            &username,
            None,
        ),
        Err(e) if e.is_internal() => error_page("server_error"),
        Err(e) => {
            let csrf = field(&form, "_csrf");
            let message = match e.kind {
                ErrorKind::UserNotConfirmed => {
                    "Your account is not confirmed yet. Use the code we sent you to confirm it."
                }
                ErrorKind::PasswordResetRequired => {
                    "You need to reset your password before signing in."
                }
                _ => e.message.as_str(),
            };
            page(
                StatusCode::BAD_REQUEST,
                &format!("Sign in to {}", pool.name),
                &login_form(
                    &s,
                    &pool.name,
                    &query,
                    csrf,
                    username,
                    Some(message),
                    &options,
                ),
            )
        }
    }
}

pub async fn logout(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = pairs(query.as_deref());
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let clear = format!("{SESSION_COOKIE}={}", cookie_attributes(&s, 0));
    let continue_to = if let Some(logout_uri) = get("logout_uri") {
        let allowed = match get("client_id") {
            Some(id) => matches!(s.app.identity.client(id).await,
                Ok(Some(c)) if c.pool_id == s.pool_id && c.settings.logout_urls.iter().any(|u| u == logout_uri)),
            None => false,
        };
        if !allowed {
            return error_page("invalid_request");
        }
        logout_uri.to_string()
    } else {
        // The re-login form: the parameters of an authorization request.
        match s.app.identity.authorize_request(&s.pool_id, &p).await {
            Ok(_) => format!("/login?{}", query.unwrap_or_default()),
            Err(_) => return error_page("invalid_request"),
        }
    };
    // A session from a SAML provider that signs out too ends there first.
    let now = s.app.now();
    let identity = &s.app.identity;
    let mut at_provider = None;
    if let Some(c) = cookie(&headers, SESSION_COOKIE) {
        if let Ok(Some(f)) = identity.session_federation(&s.pool_id, &c, now).await {
            at_provider = identity
                .saml_logout_begin(&s.pool_id, &f, &continue_to, now)
                .await;
        }
    }
    let mut r = redirect(at_provider.as_deref().unwrap_or(&continue_to));
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&clear).expect("cookie is a header value"),
    );
    r
}

pub async fn error(RawQuery(query): RawQuery) -> Response {
    let p = pairs(query.as_deref());
    let code = p
        .iter()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.as_str())
        .unwrap_or("invalid_request");
    let known = [
        "redirect_mismatch",
        "invalid_request",
        "server_error",
        "unauthorized_client",
    ];
    error_page(
        known
            .iter()
            .find(|k| **k == code)
            .copied()
            .unwrap_or("invalid_request"),
    )
}

pub async fn userinfo(State(s): State<DomainState>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let Some(token) = bearer else {
        return bearer_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Bad OAuth2 request at UserInfo Endpoint",
        );
    };
    match s.app.identity.userinfo(&token, s.app.now()).await {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            crate::responses::no_store(r.headers_mut());
            r
        }
        Err(e) if e.is_internal() => {
            crate::errors::oauth(&cognate_identity::oauth::OAuthError::server_error())
        }
        Err(_) => bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Access token is expired, disabled, or deleted, or the user has globally signed out.",
        ),
    }
}

fn bearer_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut r = (
        status,
        json!({"error": code, "error_description": description}).to_string(),
    )
        .into_response();
    crate::responses::no_store(r.headers_mut());
    let challenge = format!("Bearer error=\"{code}\", error_description=\"{description}\"");
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&challenge).expect("header value"),
    );
    r
}
