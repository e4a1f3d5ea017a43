//! The phases of an HTTP API request, one function each, in the order the
//! crate's documentation lists them (API Gateway's order). Each returns
//! its result or the [`GatewayError`] that ends the request; error.rs makes
//! the answer.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;

use crate::context::{AuthorizerOutput, RequestContext};
use crate::error::GatewayError;
use crate::{
    integration, limits, route, Api, Mapping, RouteAuth, RouteRt, StageRt, ACCOUNT_ID,
    MAX_REQUEST_HEAD, MAX_REQUEST_LINE, PREFLIGHT,
};

/// The stage a request is for, and the paths it sees.
struct StageChoice<'a> {
    name: String,
    stage: &'a StageRt,
    /// The path after a custom domain's base path (the stage included when
    /// the stage is named in the path).
    raw_path: String,
    /// The path routes see: without the stage segment.
    route_path: String,
    base_path_matched: Option<String>,
}

impl Api {
    /// Runs a request through the phases; the matched route's index is
    /// written to `matched_index` as soon as it is known (for metrics).
    pub(crate) async fn phases(
        &self,
        request: Request<Body>,
        mapping: Option<Mapping>,
        request_id: &str,
        now_ms: i64,
        matched_index: &mut Option<usize>,
    ) -> Result<(Response<Body>, RequestContext), GatewayError> {
        let (parts, body) = request.into_parts();
        check_head(&parts)?;
        let raw_full = parts.uri.path().to_string();
        let chosen = self.stage(&raw_full, mapping.as_ref())?;
        let segments =
            route::split_path(&chosen.route_path).map_err(|_| GatewayError::BadRequest)?;
        let method = parts.method.clone();
        let mut ctx = self.context(parts, chosen.stage, raw_full, segments, request_id, now_ms);
        ctx.raw_path = chosen.raw_path;
        ctx.stage = chosen.name;
        ctx.base_path_matched = chosen.base_path_matched;
        let segs: Vec<&str> = ctx.segments.iter().map(String::as_str).collect();
        let found = self.table.find(ctx.method.as_str(), &segs);
        if found.is_none() {
            if let Some(answer) = self.preflight(&method, &mut ctx) {
                return Ok((answer, ctx));
            }
        }
        let found = found.ok_or(GatewayError::NotFound)?;
        let route = &self.routes[found.index];
        ctx.route_key = route.key.clone();
        ctx.resource = route.resource.clone();
        ctx.path_params = found.params;
        *matched_index = Some(found.index);
        if let Some(bucket) = &chosen.stage.buckets[found.index] {
            if !self.take_token(bucket, now_ms).await {
                return Err(GatewayError::TooManyRequests);
            }
        }
        let body = self.read_body(&ctx, body).await?;
        ctx.authorizer = self.authorize(route, &mut ctx, request_id, now_ms).await?;
        let response = self.integrate(route, &ctx, body).await?;
        Ok((response, ctx))
    }

    /// Phase 1, stage: a custom domain's mapping names it; otherwise the
    /// first path segment if it is a named stage, else `$default` (none:
    /// 404).
    fn stage(
        &self,
        raw_full: &str,
        mapping: Option<&Mapping>,
    ) -> Result<StageChoice<'_>, GatewayError> {
        let rest = |from: usize| {
            let r = &raw_full[from..];
            if r.is_empty() {
                "/".to_string()
            } else {
                r.to_string()
            }
        };
        let (name, raw_path, base_path_matched) = match mapping {
            Some(m) if m.base_path.is_empty() => (m.stage.clone(), raw_full.to_string(), None),
            Some(m) => (
                m.stage.clone(),
                rest(1 + m.base_path.len()),
                Some(m.base_path.clone()),
            ),
            None => {
                let first = raw_full[1..].split('/').next().unwrap_or("");
                if !first.is_empty() && first != "$default" && self.stages.contains_key(first) {
                    (first.to_string(), raw_full.to_string(), None)
                } else if self.stages.contains_key("$default") {
                    ("$default".to_string(), raw_full.to_string(), None)
                } else {
                    return Err(GatewayError::NotFound);
                }
            }
        };
        let stage = self.stages.get(&name).ok_or(GatewayError::NotFound)?;
        let route_path = if name != "$default" && mapping.is_none() {
            let r = &raw_path[1 + name.len()..];
            if r.is_empty() {
                "/".to_string()
            } else {
                r.to_string()
            }
        } else {
            raw_path.clone()
        };
        Ok(StageChoice {
            name,
            stage,
            raw_path,
            route_path,
            base_path_matched,
        })
    }

    /// Phase 2, path (split and decoded by the caller): the request's
    /// context.
    fn context(
        &self,
        parts: Parts,
        stage: &StageRt,
        raw_full: String,
        segments: Vec<String>,
        request_id: &str,
        now_ms: i64,
    ) -> RequestContext {
        let mut ctx = RequestContext {
            request_id: request_id.to_string(),
            account_id: ACCOUNT_ID,
            api_id: self.api_id.clone(),
            method: parts.method.as_str().to_string(),
            raw_path: String::new(),
            full_path: raw_full,
            segments,
            raw_query: parts.uri.query().unwrap_or("").to_string(),
            headers: parts.headers,
            source_ip: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(String::new, |c| ip_text(c.0.ip())),
            protocol: match parts.version {
                axum::http::Version::HTTP_10 => "HTTP/1.0",
                axum::http::Version::HTTP_2 => "HTTP/2.0",
                _ => "HTTP/1.1",
            },
            time_ms: now_ms,
            stage: String::new(),
            stage_variables: stage.variables.clone(),
            route_key: String::new(),
            resource: String::new(),
            domain_name: String::new(),
            base_path_matched: None,
            path_params: Vec::new(),
            authorizer: AuthorizerOutput::None,
            response_cookies: Vec::new(),
        };
        ctx.domain_name = ctx
            .header(&axum::http::header::HOST)
            .map(|h| h.split(':').next().unwrap_or("").to_string())
            .unwrap_or_default();
        ctx
    }

    /// Phase 3, preflight: a CORS preflight no route matches is answered
    /// here.
    fn preflight(
        &self,
        method: &axum::http::Method,
        ctx: &mut RequestContext,
    ) -> Option<Response<Body>> {
        let cors = self.cors.as_ref()?;
        if !limits::is_preflight(method, &ctx.headers) {
            return None;
        }
        let mut r = Response::new(Body::empty());
        *r.status_mut() = axum::http::StatusCode::NO_CONTENT;
        *r.headers_mut() = limits::preflight(cors, &ctx.headers);
        ctx.route_key = PREFLIGHT.to_string();
        Some(r)
    }

    /// Phase 6, body: read up to the API's limit (413).
    async fn read_body(&self, ctx: &RequestContext, body: Body) -> Result<Bytes, GatewayError> {
        if ctx
            .header(&axum::http::header::CONTENT_LENGTH)
            .and_then(|l| l.parse::<usize>().ok())
            .is_some_and(|l| l > self.body_limit)
        {
            return Err(GatewayError::PayloadTooLarge);
        }
        Ok(http_body_util::Limited::new(body, self.body_limit)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    GatewayError::PayloadTooLarge
                } else {
                    GatewayError::BadRequest
                }
            })?
            .to_bytes())
    }

    /// Phase 7, authorize: the route's authorizer; a failure is never an
    /// allow.
    async fn authorize(
        &self,
        route: &RouteRt,
        ctx: &mut RequestContext,
        request_id: &str,
        now_ms: i64,
    ) -> Result<AuthorizerOutput, GatewayError> {
        match &route.auth {
            RouteAuth::None => Ok(AuthorizerOutput::None),
            RouteAuth::Jwt(j) => {
                let (claims, scopes) = j.authorize(ctx, &route.scopes, now_ms).await?;
                Ok(AuthorizerOutput::Jwt { claims, scopes })
            }
            RouteAuth::Session => self.authorize_session(ctx, now_ms).await,
            // Boxed: its future is large (see integration::run).
            RouteAuth::Request(a) => {
                Box::pin(a.authorize(ctx, &self.shared.invoker, &self.shared.region, now_ms))
                    .await
                    .map_err(|r| r.into_error(&self.name, request_id))
            }
        }
    }

    /// The cookie session's authorizer: the session's claims, or a refusal
    /// (a redirect to the sign-in for a page a browser asked for).
    async fn authorize_session(
        &self,
        ctx: &mut RequestContext,
        now_ms: i64,
    ) -> Result<AuthorizerOutput, GatewayError> {
        let s = self.session.as_ref().ok_or(GatewayError::Internal)?;
        let found = match s.authorize_cached(ctx, now_ms) {
            Some(found) => found,
            // Boxed: its future is large (see integration::run).
            None => Box::pin(s.authorize(ctx, now_ms)).await,
        };
        match found {
            Ok(found) => {
                ctx.response_cookies = found.set_cookies;
                Ok(AuthorizerOutput::Jwt {
                    claims: found.claims,
                    scopes: None,
                })
            }
            Err(GatewayError::NoSession { set_cookies, .. })
                if s.sign_in_redirect() && ctx.method == "GET" && self.login_path.is_some() =>
            {
                Err(GatewayError::NoSession {
                    set_cookies,
                    redirect: Some(self.sign_in_location(ctx)),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Where a browser without a session is sent: the login route, with
    /// the page it asked for to come back to.
    fn sign_in_location(&self, ctx: &RequestContext) -> String {
        let mut to = url::form_urlencoded::Serializer::new(String::new());
        let mut back = ctx.path();
        if !ctx.raw_query.is_empty() {
            back.push('?');
            back.push_str(&ctx.raw_query);
        }
        to.append_pair("return", &back);
        let login = self.login_path.as_deref().unwrap_or("/");
        let prefix = if ctx.stage == "$default" || ctx.base_path_matched.is_some() {
            String::new()
        } else {
            format!("/{}", ctx.stage)
        };
        format!("{prefix}{login}?{}", to.finish())
    }

    /// Phase 8, integrate: the route's integration, with the session's
    /// cookies.
    async fn integrate(
        &self,
        route: &RouteRt,
        ctx: &RequestContext,
        body: Bytes,
    ) -> Result<Response<Body>, GatewayError> {
        let mut response = integration::run(
            &route.integration,
            route.plain.as_ref(),
            ctx,
            body,
            &self.shared,
            self.session.as_deref(),
        )
        .await?;
        for c in &ctx.response_cookies {
            if let Ok(v) = HeaderValue::from_str(c) {
                response
                    .headers_mut()
                    .append(axum::http::header::SET_COOKIE, v);
            }
        }
        Ok(response)
    }
}

/// Phase 0, the limits of the request line and headers (API Gateway:
/// 10 240 bytes together), before anything reads them.
fn check_head(parts: &Parts) -> Result<(), GatewayError> {
    let line = parts.uri.path().len() + parts.uri.query().map_or(0, str::len);
    if line > MAX_REQUEST_LINE {
        return Err(GatewayError::UriTooLong);
    }
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if line + header_bytes > MAX_REQUEST_HEAD {
        return Err(GatewayError::HeadersTooLarge);
    }
    Ok(())
}

/// An address as text, as `Display` writes it; IPv4 (nearly every
/// client) without going through `fmt`, which cost more than the rest of
/// the request's context.
fn ip_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut out = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(octet));
            }
            out
        }
        v6 => v6.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::ip_text;

    #[test]
    fn addresses_read_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.255.9",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:1.2.3.4",
        ] {
            let parsed: std::net::IpAddr = ip.parse().expect("address");
            assert_eq!(ip_text(parsed), parsed.to_string());
        }
    }
}
