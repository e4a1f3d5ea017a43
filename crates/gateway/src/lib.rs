//! cognate's API gateway: HTTP APIs as API Gateway runs them.
//!
//! A request goes through named phases, in this order, with one
//! [`RequestContext`] carried along (the order is API Gateway's):
//!
//! 1. **stage**: a custom domain's API mapping names it; otherwise the
//!    first path segment if it is a named stage, else `$default`
//!    (none: 404).
//! 2. **path**: split and decoded; ambiguous spellings are refused (400).
//! 3. **preflight**: a CORS preflight that no route matches is answered
//!    here (204), without authorizer or integration.
//! 4. **route**: [`route::RouteTable::find`] (none: 404).
//! 5. **throttle**: the stage's bucket for the route (empty: 429), before
//!    any authorizer runs.
//! 6. **body**: read up to the API's limit (413).
//! 7. **authorize**: JWT (401/403) or request authorizer (401/403/500).
//! 8. **integrate**: response, echo, HTTP proxy or Lambda function.
//! 9. **respond**: CORS headers, `apigw-requestid`, the access log.
//!
//! Every answer the gateway makes itself is `{"message":"..."}` with the
//! status API Gateway uses (reference/apigateway.md §0); they are all
//! made in [`error`].

mod access;
pub mod authorizer;
pub mod client;
pub mod context;
pub mod cookie;
pub mod error;
pub mod event;
pub mod integration;
pub mod invoke;
pub mod jwks;
pub mod jwt;
pub mod limits;
pub mod metrics;
mod phases;
pub mod route;
pub mod runtime;
pub mod session;
pub mod target;
pub mod throttle;
pub mod upstream;
pub mod websocket;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response};
use base64::Engine;
use cognate_config::{
    AdminCredentials, AuthorizerKind, Cors, Function, HttpApi, IntegrationKind, JwtIssuer, RouteKey,
};
use cognate_identity::Identity;

pub use context::{AuthorizerOutput, RequestContext};
use error::GatewayError;
use invoke::Invoker;
use limits::Bucket;

/// API Gateway's limit on the request line plus headers.
const MAX_REQUEST_HEAD: usize = 10_240;
/// Of which the path and query may take this much.
const MAX_REQUEST_LINE: usize = 8_192;

/// The route key of a CORS preflight the gateway answered itself.
const PREFLIGHT: &str = "-";

/// The account id events carry (there is no AWS account behind cognate).
pub const ACCOUNT_ID: &str = "000000000000";

/// What the gateway needs from the rest of cognate.
pub struct Setup<'a> {
    pub identity: Arc<Identity>,
    /// The gateway's own tables (node heartbeats, WebSocket connections,
    /// the session key); identity's data is reached through `identity`.
    pub store: cognate_store::Store,
    /// Config pool name -> pool id.
    pub pool_ids: &'a BTreeMap<String, String>,
    pub region: String,
    pub credentials: AdminCredentials,
    /// Where relative function code paths start.
    pub config_dir: &'a Path,
    /// Where the runtime clients are written.
    pub work_dir: &'a Path,
    /// Throttling buckets shared in Redis by every node, when configured.
    pub shared_buckets: Option<Arc<throttle::SharedBuckets>>,
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// Whether clients reach the listeners over HTTPS (`x-forwarded-proto`).
    pub secure: bool,
    /// Environment every function gets under its own (how functions reach
    /// cognate at AWS addresses, for example).
    pub function_env: &'a BTreeMap<String, String>,
    /// The region whose AWS host names the APIs answer for (stacks): then a
    /// WebSocket API's events carry `{apiId}.execute-api.{region}.amazonaws.com`
    /// as `domainName`, so functions build the `@connections` endpoint at
    /// the AWS address, as they do on AWS.
    pub aws_hosts: Option<&'a str>,
}

/// What all APIs share: the clock, the outbound client, the functions.
pub struct Shared {
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    pub invoker: Invoker,
    pub upstreams: upstream::Upstreams,
    pub metrics: metrics::Metrics,
    pub region: String,
    pub secure: bool,
    pub shared_buckets: Option<Arc<throttle::SharedBuckets>>,
}

impl Shared {
    /// Ends every function's processes (the configuration was replaced).
    pub async fn stop_functions(&self) {
        for f in self.invoker.functions.values() {
            f.stop().await;
        }
    }
}

enum RouteAuth {
    None,
    Jwt(Arc<jwt::JwtAuthorizer>),
    Request(Arc<authorizer::Authorizer>),
    Session,
}

struct RouteRt {
    counters: Arc<metrics::RouteCounters>,
    key: String,
    resource: String,
    integration: Arc<IntegrationKind>,
    /// The integration's upstream taken apart, when it is plain HTTP
    /// that needs no general URL handling (target.rs).
    plain: Option<target::PlainUpstream>,
    auth: RouteAuth,
    scopes: Vec<String>,
}

struct StageRt {
    variables: Arc<BTreeMap<String, String>>,
    /// One bucket per route index, when throttled.
    buckets: Vec<Option<RouteBucket>>,
}

/// A stage's bucket for a route: this node's, and its key in Redis when
/// the nodes share buckets there.
struct RouteBucket {
    local: Bucket,
    key: String,
}

/// One HTTP API, compiled for serving.
pub struct Api {
    pub name: String,
    pub api_id: String,
    stages: HashMap<String, StageRt>,
    table: route::RouteTable,
    routes: Vec<RouteRt>,
    cors: Option<Cors>,
    body_limit: usize,
    session: Option<Arc<session::SessionRt>>,
    /// The path of the route that starts a session's sign-in, if any.
    login_path: Option<String>,
    unmatched: Arc<metrics::RouteCounters>,
    latency: Arc<metrics::Latency>,
    shared: Arc<Shared>,
    /// The nodes holding this API's throttling limits (throttle.rs).
    nodes: throttle::NodeCount,
    store: cognate_store::Store,
}

/// A stable, AWS-shaped API id (10 lower-case letters and digits) from
/// the API's name.
pub fn api_id(name: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    digest.as_ref()[..10]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Builds the shared part: the outbound client and the function hosts.
pub fn shared(setup: &Setup<'_>, functions: &[Function]) -> Arc<Shared> {
    let functions = functions
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                Arc::new(runtime::FunctionHost::new(
                    f.clone(),
                    setup.config_dir,
                    setup.work_dir,
                    &setup.region,
                    setup.function_env.clone(),
                )),
            )
        })
        .collect();
    Arc::new(Shared {
        clock: setup.clock.clone(),
        invoker: Invoker {
            client: client::new(),
            functions,
            credentials: setup.credentials.clone(),
            region: setup.region.clone(),
        },
        upstreams: upstream::Upstreams::default(),
        metrics: metrics::Metrics::default(),
        region: setup.region.clone(),
        secure: setup.secure,
        shared_buckets: setup.shared_buckets.clone(),
    })
}

/// Verifiers are shared by every authorizer of one issuer, so a token
/// verified for one API is known to all.
pub type Verifiers = HashMap<String, Arc<jwt::Verifier>>;

/// Compiles one API of the config. Client names in JWT audiences become
/// the clients' ids.
pub async fn compile(
    api: &HttpApi,
    setup: &Setup<'_>,
    shared: Arc<Shared>,
    verifiers: &mut Verifiers,
) -> Result<Arc<Api>, String> {
    let mut jwt_auth: HashMap<&str, Arc<jwt::JwtAuthorizer>> = HashMap::new();
    let mut req_auth: HashMap<&str, Arc<authorizer::Authorizer>> = HashMap::new();
    let mut session_auth: Vec<&str> = Vec::new();
    for a in &api.authorizers {
        match &a.kind {
            AuthorizerKind::Jwt(j) => {
                let (verifier, audience) = match &j.issuer {
                    JwtIssuer::Pool(name) => {
                        let (pool_id, verifier) = pool_verifier(name, setup, verifiers).await?;
                        let mut audience = Vec::new();
                        for a in &j.audience {
                            let by_name = setup
                                .identity
                                .client_by_config_key(&pool_id, a)
                                .await
                                .map_err(|e| e.to_string())?;
                            audience.push(by_name.map_or_else(|| a.clone(), |c| c.id));
                        }
                        (verifier, audience)
                    }
                    JwtIssuer::Url(u) => {
                        let verifier = verifiers
                            .entry(u.clone())
                            .or_insert_with(|| {
                                Arc::new(jwt::Verifier::new(
                                    u.clone(),
                                    jwt::Keys::External(Arc::new(jwks::Jwks::new(
                                        u.clone(),
                                        shared.invoker.client.clone(),
                                    ))),
                                ))
                            })
                            .clone();
                        (verifier, j.audience.clone())
                    }
                };
                jwt_auth.insert(
                    &a.name,
                    Arc::new(jwt::JwtAuthorizer::new(
                        verifier,
                        audience,
                        j.identity_source.clone(),
                    )),
                );
            }
            AuthorizerKind::Request(r) => {
                req_auth.insert(&a.name, Arc::new(authorizer::Authorizer::new(r.clone())));
            }
            AuthorizerKind::Session => {
                session_auth.push(a.name.as_str());
            }
        }
    }
    let session = match &api.session {
        Some(s) => Some(Arc::new(compile_session(s, setup, verifiers).await?)),
        None => None,
    };
    let integrations: HashMap<&str, Arc<IntegrationKind>> = api
        .integrations
        .iter()
        .map(|i| (i.name.as_str(), Arc::new(i.kind.clone())))
        .collect();
    let mut routes = Vec::new();
    for r in &api.routes {
        let auth = match r.authorizer.as_deref() {
            None => RouteAuth::None,
            Some(name) => match (jwt_auth.get(name), req_auth.get(name)) {
                (Some(j), _) => RouteAuth::Jwt(j.clone()),
                (None, Some(q)) => RouteAuth::Request(q.clone()),
                (None, None) if session_auth.contains(&name) => RouteAuth::Session,
                (None, None) => return Err(format!("no authorizer {name}")),
            },
        };
        let integration = integrations
            .get(r.integration.as_str())
            .cloned()
            .ok_or_else(|| format!("no integration {}", r.integration))?;
        routes.push(RouteRt {
            counters: shared.metrics.route(&api.name, &r.key.to_string()),
            key: r.key.to_string(),
            resource: match &r.key {
                RouteKey::Default => "$default".to_string(),
                RouteKey::Path { path, .. } => path.clone(),
            },
            plain: match &*integration {
                IntegrationKind::Http(h) => target::PlainUpstream::new(h),
                _ => None,
            },
            integration,
            auth,
            scopes: r.scopes.clone(),
        });
    }
    let stages: HashMap<String, StageRt> = api
        .stages
        .iter()
        .map(|s| {
            let buckets = api
                .routes
                .iter()
                .map(|r| {
                    s.route_throttle
                        .get(&r.key.to_string())
                        .or(s.throttle.as_ref())
                        .map(|t| RouteBucket {
                            local: Bucket::new(*t),
                            key: throttle::bucket_key(
                                &api_id(&api.name),
                                &s.name,
                                &r.key.to_string(),
                            ),
                        })
                })
                .collect();
            (
                s.name.clone(),
                StageRt {
                    variables: Arc::new(s.variables.clone()),
                    buckets,
                },
            )
        })
        .collect();
    let login_path =
        api.routes.iter().find_map(
            |r| match (&r.key, integrations.get(r.integration.as_str())) {
                (RouteKey::Path { path, .. }, Some(k))
                    if matches!(**k, IntegrationKind::SessionLogin) && !path.contains('{') =>
                {
                    Some(path.clone())
                }
                _ => None,
            },
        );
    let throttled = stages
        .values()
        .any(|s: &StageRt| s.buckets.iter().any(Option::is_some));
    let compiled = Arc::new(Api {
        nodes: throttle::NodeCount::default(),
        store: setup.store.clone(),
        unmatched: shared.metrics.route(&api.name, "-"),
        latency: shared.metrics.latency(&api.name),
        session,
        login_path,
        name: api.name.clone(),
        api_id: api_id(&api.name),
        stages,
        table: route::RouteTable::new(api.routes.iter().map(|r| &r.key)),
        routes,
        cors: api.cors.clone(),
        body_limit: api.body_limit,
        shared,
    });
    // Nodes count each other only where there are limits to share, and
    // only without Redis (whose buckets are shared whole).
    if throttled && compiled.shared.shared_buckets.is_none() {
        let mut tag = [0u8; 6];
        aws_lc_rs::rand::fill(&mut tag).map_err(|_| "no system randomness".to_string())?;
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        tokio::spawn(throttle::heartbeat(Arc::downgrade(&compiled), tag));
    }
    Ok(compiled)
}

/// The verifier of one of this server's pools, shared by every
/// authorizer of that issuer.
async fn pool_verifier(
    pool_name: &str,
    setup: &Setup<'_>,
    verifiers: &mut Verifiers,
) -> Result<(String, Arc<jwt::Verifier>), String> {
    let pool_id = setup
        .pool_ids
        .get(pool_name)
        .ok_or_else(|| format!("no pool {pool_name}"))?;
    let pool = setup
        .identity
        .pool(pool_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("pool {pool_id} is gone"))?;
    let issuer = setup.identity.issuer(&pool);
    let verifier = verifiers
        .entry(issuer.clone())
        .or_insert_with(|| {
            Arc::new(jwt::Verifier::new(
                issuer,
                jwt::Keys::Pool {
                    identity: setup.identity.clone(),
                    pool_id: pool_id.clone(),
                },
            ))
        })
        .clone();
    Ok((pool_id.clone(), verifier))
}

pub(crate) async fn compile_session(
    s: &cognate_config::Session,
    setup: &Setup<'_>,
    verifiers: &mut Verifiers,
) -> Result<session::SessionRt, String> {
    let (pool_id, verifier) = pool_verifier(&s.user_pool, setup, verifiers).await?;
    let client = setup
        .identity
        .client_by_config_key(&pool_id, &s.client)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no client {} in pool {}", s.client, s.user_pool))?;
    // One key for every node sharing the database: CSRF tokens made by
    // one node verify on another.
    let fresh: [u8; 32] = cognate_identity::crypto::random_bytes();
    let fresh_hex: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
    let key_hex = setup
        .store
        .meta_get_or_insert("gateway_session_key", &fresh_hex)
        .await
        .map_err(|e| e.to_string())?;
    let key: Vec<u8> = (0..key_hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    Ok(session::SessionRt {
        identity: setup.identity.clone(),
        pool_id,
        client_id: client.id.clone(),
        client_secret: client.secret.clone(),
        verifier,
        refresh_max_age_s: client.settings.refresh_token_validity.seconds() as i64,
        key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key),
        prefix: session::cookie_prefix(s),
        config: s.clone(),
    })
}

/// A custom domain's API mapping, as the request found it.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub base_path: String,
    pub stage: String,
}

/// The 404 of a host whose API mappings do not match the path.
pub fn not_found() -> Response<Body> {
    let mut r = error::response(&GatewayError::NotFound);
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        r.headers_mut().insert(APIGW_REQUESTID, v);
    }
    r
}

/// The header of API Gateway's request id on every answer.
const APIGW_REQUESTID: axum::http::HeaderName =
    axum::http::HeaderName::from_static("apigw-requestid");

/// A request id shaped like API Gateway's (`Mc7UVioPPHcEKPA=`): 80 random
/// bits. Ids need
/// to be unique, not secret: a thread's fast generator (fastrand, seeded
/// from the system) does, where the system's CSPRNG cost a visible part
/// of a proxied request.
fn request_id() -> String {
    let mut b = [0u8; 10];
    fastrand::fill(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}

impl Api {
    /// Serves one request on the API's own listener (`mapping` `None`) or
    /// through a custom domain's mapping.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Body>,
        mapping: Option<Mapping>,
    ) -> Response<Body> {
        let now_ms = (self.shared.clock)();
        let request_id = request_id();
        let method = request.method().clone();
        let path_for_log = request.uri().path().to_string();
        let origin_cors = self.cors.is_some();
        let request_headers = if origin_cors {
            Some(request.headers().clone())
        } else {
            None
        };
        let mut matched_index: Option<usize> = None;
        let (mut response, ctx) = match self
            .phases(request, mapping, &request_id, now_ms, &mut matched_index)
            .await
        {
            Ok((r, ctx)) => (r, Some(ctx)),
            Err(e) => (error::response(&e), None),
        };
        let preflight = ctx.as_ref().is_some_and(|c| c.route_key == PREFLIGHT);
        if let (Some(cors), Some(h), false) = (&self.cors, &request_headers, preflight) {
            limits::apply(cors, h, response.headers_mut());
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(APIGW_REQUESTID, v);
        }
        let latency_ms = (self.shared.clock)() - now_ms;
        let route_key = ctx
            .as_ref()
            .map(|c| c.route_key.as_str())
            .or(matched_index.map(|i| self.routes[i].key.as_str()))
            .unwrap_or("-");
        let status = response.status().as_u16();
        match matched_index {
            Some(i) => self.routes[i].counters.record(status),
            None => self.unmatched.record(status),
        }
        self.latency.observe_ms(latency_ms);
        if tracing::enabled!(target: "cognate::access", tracing::Level::INFO) {
            // One JSON object per request, with API Gateway's $context names.
            let line = access::AccessLine {
                request_id: &request_id,
                api_id: &self.api_id,
                api: &self.name,
                stage: ctx.as_ref().map(|c| c.stage.as_str()),
                route_key,
                http_method: method.as_str(),
                path: &path_for_log,
                status,
                protocol: ctx.as_ref().map(|c| c.protocol),
                source_ip: ctx.as_ref().map(|c| c.source_ip.as_str()),
                request_time_epoch: now_ms,
                response_latency: latency_ms,
                authorizer_principal: ctx.as_ref().and_then(|c| match &c.authorizer {
                    AuthorizerOutput::Jwt { claims, .. } => {
                        claims.get("sub").and_then(|s| s.as_str())
                    }
                    AuthorizerOutput::Lambda { principal_id, .. } => principal_id.as_deref(),
                    AuthorizerOutput::None => None,
                }),
            };
            let line = line.to_json();
            tracing::info!(target: "cognate::access", "{line}");
        }
        response
    }

    /// Takes a token for a throttled route: from the bucket in Redis when
    /// the nodes share one there (this node's share if Redis fails), else
    /// from this node's share of the limit.
    async fn take_token(&self, bucket: &RouteBucket, now_ms: i64) -> bool {
        if let Some(shared) = &self.shared.shared_buckets {
            match shared
                .take(&bucket.key, bucket.local.rate(), bucket.local.burst())
                .await
            {
                Ok(taken) => return taken,
                Err(e) => shared.failed(&e, now_ms),
            }
        }
        bucket.local.take_share(now_ms, self.nodes.get())
    }
}
