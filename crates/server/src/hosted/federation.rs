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
use cognate_identity::federation::{Begin, Inbound, Method, Outbound, ProviderHttp};
use cognate_identity::triggers::BoxFuture;

use super::{authorize_failure, complete_with, cookie, pairs, redirect};
use crate::domain::DomainState;

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
                    builder =
                        builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
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

/// This domain as the browser reaches it (`https://host`).
fn origin(s: &DomainState, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = if s.secure { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

fn binding_cookie(s: &DomainState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if s.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{BINDING_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("cookie is a header value")
}

/// A page that posts a form at once (with a button for browsers without
/// scripts): the SAML HTTP-POST binding, and the same-site re-post of a
/// SAML response.
fn auto_post(action: &str, fields: &[(String, String)]) -> Response {
    let nonce = crypto::b64url(&crypto::random_bytes::<16>());
    let html = super::templates::auto_post(action, fields, &nonce);
    let mut r = (axum::http::StatusCode::OK, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The hosted pages' headers, with a policy that lets this one script run.
    super::secure_page(h);
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors 'none'; base-uri 'none'"
        ))
        .expect("csp is a header value"),
    );
    r
}

/// Sends the browser to the provider an authorization names.
pub async fn begin(s: &DomainState, a: &Authorization, headers: &HeaderMap) -> Response {
    let Some(origin) = origin(s, headers) else {
        return super::error_page("invalid_request");
    };
    let binding = crypto::b64url(&crypto::random_bytes::<32>());
    match s
        .app
        .identity
        .federation_begin(a, &origin, &binding, s.app.now())
        .await
    {
        Ok(begin) => {
            let mut r = match begin {
                Begin::Redirect(url) => redirect(&url),
                Begin::Post { action, fields } => auto_post(&action, &fields),
            };
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
    finish(&s, pairs(query.as_deref()), &headers).await
}

/// A SAML provider's answer (`/saml2/idpresponse`, HTTP-POST binding).
/// The POST comes from the provider's site, so it carries no SameSite=Lax
/// cookie: it is posted once more from this site (a page that re-posts
/// it), and that second POST carries the browser-binding cookie.
pub async fn saml_response(
    State(s): State<DomainState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form(&headers) {
        return super::error_page("invalid_request");
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let reposted = form.iter().any(|(k, _)| k == REPOSTED);
    if cookie(&headers, BINDING_COOKIE).is_none() && !reposted {
        let mut fields: Vec<(String, String)> = form
            .into_iter()
            .filter(|(k, _)| k == "SAMLResponse" || k == "RelayState")
            .collect();
        fields.push((REPOSTED.into(), "1".into()));
        return auto_post(SAML_PATH, &fields);
    }
    finish(&s, form, &headers).await
}

/// The provider's LogoutResponse (HTTP-Redirect binding) after a single
/// logout: on to where the logout was going.
pub async fn saml_logout(State(s): State<DomainState>, RawQuery(query): RawQuery) -> Response {
    match s
        .app
        .identity
        .saml_logout_finish(&s.pool_id, &pairs(query.as_deref()), s.app.now())
        .await
    {
        Ok(to) => redirect(&to),
        Err(e) => authorize_failure(e),
    }
}

/// Marks the re-posted SAML response.
const REPOSTED: &str = "cognate_reposted";
const SAML_PATH: &str = "/saml2/idpresponse";

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

async fn finish(s: &DomainState, params: Vec<(String, String)>, headers: &HeaderMap) -> Response {
    let identity = &s.app.identity;
    let now = s.app.now();
    let binding = cookie(headers, BINDING_COOKIE);
    let Some(origin) = origin(s, headers) else {
        return super::error_page("invalid_request");
    };
    let mut r = match identity
        .federation_finish(&s.pool_id, &origin, &params, binding.as_deref(), now)
        .await
    {
        Ok(done) => {
            complete_with(
                s,
                &done.authorization,
                &done.user,
                now / 1000,
                true,
                done.session.as_ref(),
            )
            .await
        }
        Err(e) => authorize_failure(e),
    };
    r.headers_mut()
        .append(header::SET_COOKIE, binding_cookie(s, "", 0));
    r
}

/// The provider's answer as a form POST (Sign in with Apple's
/// `response_mode=form_post`). A cross-site POST carries no SameSite=Lax
/// cookie, so the answer moves to a GET of the same address (303), where
/// the browser-binding cookie arrives and is checked.
pub async fn idp_response_post(headers: HeaderMap, body: Bytes) -> Response {
    if !is_form(&headers) {
        return super::error_page("invalid_request");
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
        Err(_) => super::error_page("invalid_request"),
    }
}
