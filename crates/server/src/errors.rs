//! Every error's HTTP answer is chosen here, and only here.
//!
//! Cognito JSON API errors: status from the error (400, or 500 for internal
//! ones), body `{"__type", "message"}`, and `x-amzn-ErrorType` /
//! `x-amzn-ErrorMessage` headers that agree with the body (Amplify reads the
//! header first, botocore the body). Internal causes were logged where they
//! happened; the client sees a generic message.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cognate_identity::oauth::{OAuthError, OAuthErrorCode};
use cognate_identity::{CognitoError, ErrorKind};
use serde_json::json;

use crate::responses::{amz_json, request_id};

/// The status Cognito answers an error kind with: 500 for internal
/// errors, 503 when the database is away or busy, 403 for a request with
/// no signature at all, 400 for everything else.
pub fn cognito_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::MissingAuthenticationToken => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

pub fn cognito(e: &CognitoError) -> Response {
    let status = cognito_status(e.kind);
    let type_name = e.type_name();
    let body = json!({"__type": type_name, "message": e.message});
    let mut response = amz_json(status, &body);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{type_name}:")) {
        headers.insert("x-amzn-errortype", v);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(
            axum::http::header::RETRY_AFTER,
            HeaderValue::from_static("1"),
        );
    }
    // Header values must be visible ASCII; messages that are not are left out
    // of the header (the body still carries them).
    if let Ok(v) = HeaderValue::from_str(&e.message) {
        headers.insert("x-amzn-errormessage", v);
    }
    response
}

/// An OAuth error (RFC 6749 §5.2): `{"error", "error_description"}`, never
/// cached; a failed HTTP Basic client authentication is a 401 with a
/// `WWW-Authenticate` challenge.
pub fn oauth(e: &OAuthError) -> Response {
    let status = match (e.code, e.basic_auth) {
        (OAuthErrorCode::InvalidClient, true) => StatusCode::UNAUTHORIZED,
        (OAuthErrorCode::ServerError, _) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = json!({"error": e.code.as_str(), "error_description": e.description});
    let mut r = (status, body.to_string()).into_response();
    crate::responses::no_store(r.headers_mut());
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"cognate\", charset=\"UTF-8\""),
        );
    }
    r
}

/// The answer for a path no route matches, in API Gateway's words.
pub fn not_found() -> Response {
    let mut r = (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"message": "Not Found"})),
    )
        .into_response();
    r.headers_mut().insert("x-amzn-requestid", request_id());
    r
}
