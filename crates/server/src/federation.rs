//! Federated sign-in on a pool's domain: the redirect to an external
//! identity provider and `/oauth2/idpresponse`, where it answers (a GET,
//! or Sign in with Apple's form POST). The protocol is in
//! `cognate_identity::federation`; this file carries HTTP into it and makes
//! the identity core's calls to providers with the gateway's client.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use cognate_gateway::client::{self, HttpClient};
use cognate_identity::authorize::Authorization;
use cognate_identity::crypto;
use cognate_identity::federation::{Inbound, Method, Outbound, ProviderHttp};
use cognate_identity::triggers::BoxFuture;

use crate::hosted::{authorize_failure, complete, cookie, pairs, redirect};
use crate::oauth::DomainState;

/// Binds a federated sign-in to the browser that began it.
const BINDING_COOKIE: &str = "cognate_federation";
const CALLBACK_PATH: &str = "/oauth2/idpresponse";
/// A provider has this long to answer one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a provider.
const CALL_LIMIT: usize = 1024 * 1024;

/// The identity core's calls to providers, over the gateway's pooled
/// client (plain HTTP or TLS with the platform's roots).
pub struct GatewayHttp {
    client: HttpClient,
}

pub fn provider_http() -> Arc<dyn ProviderHttp> {
    Arc::new(GatewayHttp {
        client: client::new(),
    })
}

impl ProviderHttp for GatewayHttp {
    fn send(&self, r: Outbound) -> BoxFuture<'_, Result<Inbound, String>> {
        Box::pin(async move {
            let mut builder = Request::builder()
                .method(match r.method {
                    Method::Get => "GET",
                    Method::Post => "POST",
                })
                .uri(&r.url)
                .header(header::USER_AGENT, "cognate");
            for (k, v) in &r.headers {
                builder = builder.header(k.as_str(), v.as_str());
            }
            let body = match &r.form {
                Some(form) => {
                    builder = builder.header(
                        header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    );
                    Body::from(
                        url::form_urlencoded::Serializer::new(String::new())
                            .extend_pairs(form)
                            .finish(),
                    )
                }
                None => Body::empty(),
            };
            let request = builder.body(body).map_err(|e| e.to_string())?;
            match client::call(&self.client, request, CALL_TIMEOUT, CALL_LIMIT).await {
                Ok((parts, body)) => Ok(Inbound {
                    status: parts.status.as_u16(),
                    body: body.to_vec(),
                }),
                Err(client::CallError::Timeout) => Err("no answer in time".into()),
                Err(client::CallError::TooLarge) => Err("the answer is too large".into()),
                Err(client::CallError::Unreachable(e)) => Err(e),
            }
        })
    }
}

/// This domain's callback as the browser reaches it.
fn callback(s: &DomainState, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = if s.secure { "https" } else { "http" };
    Some(format!("{scheme}://{host}{CALLBACK_PATH}"))
}

fn binding_cookie(s: &DomainState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if s.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{BINDING_COOKIE}={value}; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("cookie is a header value")
}

/// Sends the browser to the provider an authorization names.
pub async fn begin(s: &DomainState, a: &Authorization, headers: &HeaderMap) -> Response {
    let Some(callback) = callback(s, headers) else {
        return crate::hosted::error_page("invalid_request");
    };
    let binding = crypto::b64url(&crypto::random_bytes::<32>());
    match s
        .app
        .identity
        .federation_begin(a, &callback, &binding, s.app.now())
        .await
    {
        Ok(url) => {
            let mut r = redirect(&url);
            r.headers_mut()
                .append(header::SET_COOKIE, binding_cookie(s, &binding, 600));
            r
        }
        Err(e) => authorize_failure(e),
    }
}

/// The provider's answer by GET.
pub async fn idp_response(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = pairs(query.as_deref());
    let identity = &s.app.identity;
    let now = s.app.now();
    let binding = cookie(&headers, BINDING_COOKIE);
    let mut r = match identity
        .federation_finish(&s.pool_id, &params, binding.as_deref(), now)
        .await
    {
        Ok((a, user)) => complete(&s, &a, &user, now / 1000, true).await,
        Err(e) => authorize_failure(e),
    };
    r.headers_mut()
        .append(header::SET_COOKIE, binding_cookie(&s, "", 0));
    r
}

/// The provider's answer as a form POST (Sign in with Apple's
/// `response_mode=form_post`). A cross-site POST carries no SameSite=Lax
/// cookie, so the answer moves to a GET of the same address (303), where
/// the browser-binding cookie arrives and is checked.
pub async fn idp_response_post(headers: HeaderMap, body: Bytes) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return crate::hosted::error_page("invalid_request");
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(&body))
        .finish();
    let mut r = axum::http::StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(&format!("{CALLBACK_PATH}?{query}")) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => crate::hosted::error_page("invalid_request"),
    }
}
