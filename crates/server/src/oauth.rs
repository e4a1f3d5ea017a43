//! The OAuth 2.0 endpoints on a pool's domain listener (`HostedUiUrl`):
//! `POST /oauth2/token` and `POST /oauth2/revoke`. The protocol is in
//! `cognate_identity::oauth`; this file reads HTTP into it.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cognate_identity::oauth::{self, OAuthError};

use crate::app::AppState;
use crate::domain::DomainState;
use crate::errors;
use crate::responses::no_store;

pub fn domain_app(app: AppState, pool_id: String, secure: bool) -> Router {
    use crate::hosted;
    Router::new()
        .route("/oauth2/token", post(token).options(preflight))
        .route("/oauth2/revoke", post(revoke).options(preflight))
        .route("/oauth2/authorize", get(hosted::authorize))
        .route("/authorize", get(hosted::authorize))
        .route("/login", get(hosted::login_page).post(hosted::login_submit))
        .route("/logout", get(hosted::logout))
        .route("/newPassword", post(hosted::new_password_submit))
        .route("/mfa", post(hosted::mfa_submit))
        .route(
            "/signup",
            get(hosted::signup_page).post(hosted::signup_submit),
        )
        .route(
            "/confirmUser",
            get(hosted::confirm_page).post(hosted::confirm_submit),
        )
        .route(
            "/forgotPassword",
            get(hosted::forgot_page).post(hosted::forgot_submit),
        )
        .route(
            "/confirmForgotPassword",
            get(hosted::reset_page).post(hosted::reset_submit),
        )
        .route("/error", get(hosted::error))
        .route(
            "/oauth2/idpresponse",
            get(crate::hosted::federation::idp_response)
                .post(crate::hosted::federation::idp_response_post),
        )
        .route(
            "/saml2/idpresponse",
            post(crate::hosted::federation::saml_response),
        )
        .route("/saml2/logout", get(crate::hosted::federation::saml_logout))
        .route(
            "/oauth2/userInfo",
            get(hosted::userinfo).post(hosted::userinfo),
        )
        .fallback(|| async { errors::not_found() })
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(DomainState {
            app,
            pool_id,
            secure,
        })
}

/// The form of a request, refusing other content types.
fn form(headers: &HeaderMap, body: &Bytes) -> Result<Vec<(String, String)>, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

fn authorization(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(OAuthError::invalid_request(
            "Only one Authorization header is allowed.",
        ));
    }
    match first {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| OAuthError::invalid_request("Malformed Authorization header.")),
    }
}

async fn token(State(s): State<DomainState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let pairs = form(&headers, &body)?;
        let request = oauth::parse_token_request(&pairs, authorization(&headers)?)?;
        s.app
            .identity
            .oauth_token(&s.pool_id, request, s.app.now())
            .await
    }
    .await;
    match result {
        Ok(tokens) => {
            let body = serde_json::to_string(&tokens).expect("token responses serialize");
            let mut r = (StatusCode::OK, body).into_response();
            no_store(r.headers_mut());
            r
        }
        Err(e) => errors::oauth(&e),
    }
}

async fn revoke(State(s): State<DomainState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let pairs = form(&headers, &body)?;
        s.app
            .identity
            .oauth_revoke(&s.pool_id, &pairs, authorization(&headers)?, s.app.now())
            .await
    }
    .await;
    match result {
        Ok(()) => {
            let mut r = StatusCode::OK.into_response();
            no_store(r.headers_mut());
            r
        }
        Err(e) => errors::oauth(&e),
    }
}

async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type,authorization"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}
