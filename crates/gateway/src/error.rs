//! The answers the gateway makes itself, each with API Gateway's status
//! and body (reference/apigateway.md §0): JSON `{"message":"..."}`, no
//! trailing newline. This is the one place that maps gateway outcomes to
//! HTTP.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No stage or route.
    NotFound,
    /// A path that could reach another resource than it appears to, or a
    /// body that could not be read.
    BadRequest,
    /// JWT missing or invalid: 401 with `www-authenticate`.
    Unauthorized(&'static str),
    /// A request authorizer's identity source is missing (401, no header).
    AuthorizerUnauthorized,
    Forbidden,
    /// A cookie-session route without a valid session: 403 (or a redirect
    /// to the sign-in), clearing cookies that are no longer good.
    NoSession {
        set_cookies: Vec<String>,
        redirect: Option<String>,
    },
    TooManyRequests,
    PayloadTooLarge,
    /// Request line past API Gateway's limit.
    UriTooLong,
    /// Headers past API Gateway's limit (10 240 bytes with the request line).
    HeadersTooLarge,
    /// An integration or authorizer failed, or answered badly.
    Internal,
    /// The upstream could not be reached or broke the exchange.
    BadGateway,
    /// A WebSocket handshake without the upgrade it needs (426).
    UpgradeRequired,
    /// A WebSocket API's `$connect` integration failed: 502 with the
    /// message API Gateway gives it.
    ConnectIntegrationFailed,
    /// The integration timed out (HTTP APIs answer 503, not 504), or a
    /// check that must not be skipped could not be made.
    ServiceUnavailable,
}

pub fn json_message(status: StatusCode, message: &str) -> Response<Body> {
    let body = format!(r#"{{"message":"{message}"}}"#);
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub fn response(e: &GatewayError) -> Response<Body> {
    match e {
        GatewayError::NotFound => json_message(StatusCode::NOT_FOUND, "Not Found"),
        GatewayError::BadRequest => json_message(StatusCode::BAD_REQUEST, "Bad Request"),
        GatewayError::Unauthorized(why) => {
            let mut r = json_message(StatusCode::UNAUTHORIZED, "Unauthorized");
            let value =
                format!(r#"Bearer scope="" error="invalid_token" error_description="{why}""#);
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            r
        }
        GatewayError::AuthorizerUnauthorized => {
            json_message(StatusCode::UNAUTHORIZED, "Unauthorized")
        }
        GatewayError::Forbidden => json_message(StatusCode::FORBIDDEN, "Forbidden"),
        GatewayError::NoSession {
            set_cookies,
            redirect,
        } => {
            let mut r = match redirect {
                Some(to) => {
                    let mut r = Response::new(Body::empty());
                    *r.status_mut() = StatusCode::FOUND;
                    if let Ok(v) = HeaderValue::from_str(to) {
                        r.headers_mut().insert(header::LOCATION, v);
                    }
                    r
                }
                None => json_message(StatusCode::FORBIDDEN, "Forbidden"),
            };
            for c in set_cookies {
                if let Ok(v) = HeaderValue::from_str(c) {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        GatewayError::TooManyRequests => {
            json_message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
        }
        GatewayError::PayloadTooLarge => {
            json_message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
        }
        GatewayError::UriTooLong => json_message(StatusCode::URI_TOO_LONG, "Request-URI Too Long"),
        GatewayError::HeadersTooLarge => json_message(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        ),
        GatewayError::Internal => {
            json_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        GatewayError::BadGateway => json_message(StatusCode::BAD_GATEWAY, "Bad Gateway"),
        GatewayError::UpgradeRequired => {
            json_message(StatusCode::UPGRADE_REQUIRED, "Upgrade Required")
        }
        GatewayError::ConnectIntegrationFailed => {
            json_message(StatusCode::BAD_GATEWAY, "Internal server error")
        }
        GatewayError::ServiceUnavailable => {
            json_message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
    }
}
