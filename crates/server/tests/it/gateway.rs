//! The HTTP gateway against API Gateway's behaviour (reference/apigateway.md
//! §0-4) and the gateway rows of reference/security.md §2: the answers it
//! makes itself, request authorizers and their cache, throttling, body
//! limits, the HTTP proxy, stages, CORS and custom domains. Upstreams and
//! authorizers are a loopback helper (upstream.rs). The JWT rows with
//! forged tokens, functions and raw-socket framing stay in
//! tests/python/test_gateway.py.

use serde_json::{json, Value};

use crate::harness::{claims, unique, App, Reply, PASSWORD};
use crate::upstream::Upstream;

const CONFIG: &str = r#"
version = 1

[[user_pools]]
name = "p"
[[user_pools.clients]]
name = "c"
explicit_auth_flows = ["ALLOW_ADMIN_USER_PASSWORD_AUTH"]

[[http_apis]]
name = "t"
body_limit = 1024

[[http_apis.custom_domains]]
host = "api.example.test"
base_path = "v1"
stage = "prod"

[[http_apis.custom_domains]]
host = "api.example.test"
base_path = "v1/deep"
stage = "$default"

[[http_apis.custom_domains]]
host = "root.example.test"

[[http_apis.stages]]
name = "$default"
[http_apis.stages.route_throttle]
"GET /throttled" = { rate = 0.001, burst = 2 }
"GET /throttled-auth" = { rate = 0.001, burst = 2 }

[[http_apis.stages]]
name = "prod"
variables = { greeting = "hello-prod", upstream = "127.0.0.1:HELPER_PORT" }

[http_apis.cors]
allow_origins = ["https://app.example"]
allow_methods = ["GET", "POST"]
allow_headers = ["authorization", "content-type"]
expose_headers = ["x-upstream"]
allow_credentials = true
max_age = 300

[http_apis.authorizers.p]
type = "jwt"
user_pool = "p"

[http_apis.authorizers.simple]
type = "request"
url = "HELPER/authz/simple"
simple_responses = true
identity_sources = ["$request.header.x-key"]

[http_apis.authorizers.simple_route]
type = "request"
url = "HELPER/authz/simple"
simple_responses = true
identity_sources = ["$request.header.x-key", "$context.routeKey"]

[http_apis.authorizers.nocache]
type = "request"
url = "HELPER/authz/simple"
simple_responses = true
identity_sources = ["$request.header.x-key"]
ttl_seconds = 0

[http_apis.authorizers.policy]
type = "request"
url = "HELPER/authz/policy"
payload_format_version = "1.0"
identity_sources = ["$request.header.x-key", "$request.querystring.tenant"]

[http_apis.authorizers.stringtrue]
type = "request"
url = "HELPER/authz/stringtrue"
simple_responses = true
identity_sources = ["$request.header.x-key"]

[http_apis.authorizers.throw]
type = "request"
url = "HELPER/authz/throw"
simple_responses = true
identity_sources = ["$request.header.x-key"]

[http_apis.integrations.up]
type = "http"
url = "HELPER/up/{proxy}"
[http_apis.integrations.up.request_parameters]
"overwrite:header.x-user" = "$context.authorizer.claims.sub"
"append:querystring.via" = "gateway"

[http_apis.integrations.root]
type = "http"
url = "HELPER/store/{proxy}"

[http_apis.integrations.staged]
type = "http"
url = "http://${stageVariables.upstream}/staged"

[http_apis.integrations.slow]
type = "http"
url = "HELPER/slow"
timeout_ms = 500

[http_apis.integrations.dead]
type = "http"
url = "http://127.0.0.1:DEAD_PORT/"

[http_apis.integrations.cors_up]
type = "http"
url = "HELPER/cors"

[http_apis.integrations.ctx]
type = "response"
body = '${context.authorizer.user}|${context.authorizer.principalId}|${stageVariables.greeting}|${request.path.id}'

[http_apis.integrations.ok]
type = "response"
body = "ok"

[http_apis.integrations.fn_error]
type = "lambda"
url = "HELPER/fn/error"

[http_apis.integrations.fn_invalid]
type = "lambda"
url = "HELPER/fn/invalid"
"#;

const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("ANY /up/{proxy+}", "up", Some("p")),
    ("ANY /store/{proxy+}", "root", None),
    ("GET /staged", "staged", None),
    ("GET /slow", "slow", None),
    ("GET /dead", "dead", None),
    ("GET /cors", "cors_up", Some("p")),
    ("GET /pool", "ok", Some("p")),
    ("GET /simple/{id}", "ctx", Some("simple")),
    ("GET /simple-other", "ctx", Some("simple")),
    ("GET /simple-route/{id}", "ctx", Some("simple_route")),
    ("GET /simple-route2/{id}", "ctx", Some("simple_route")),
    ("GET /nocache", "ctx", Some("nocache")),
    ("GET /throttled-auth", "ctx", Some("nocache")),
    ("GET /policy/{id}", "ctx", Some("policy")),
    ("POST /policy/{id}", "ctx", Some("policy")),
    ("GET /stringtrue", "ok", Some("stringtrue")),
    ("GET /throw", "ok", Some("throw")),
    ("GET /throttled", "ok", None),
    ("POST /small", "ok", None),
    ("GET /fn-error", "fn_error", None),
    ("GET /fn-invalid", "fn_invalid", None),
];

struct Gw {
    app: App,
    helper: Upstream,
}

async fn gateway() -> Gw {
    let helper = Upstream::start().await;
    // A port nothing listens on: bound, read, let go.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut text = CONFIG
        .replace("HELPER_PORT", &helper.port.to_string())
        .replace("HELPER", &helper.url)
        .replace("DEAD_PORT", &dead.to_string());
    for (key, integration, authorizer) in ROUTES {
        text.push_str(&format!(
            "\n[[http_apis.routes]]\nroute = \"{key}\"\nintegration = \"{integration}\"\n"
        ));
        if let Some(a) = authorizer {
            text.push_str(&format!("authorizer = \"{a}\"\n"));
        }
    }
    Gw {
        app: App::from_toml(&text).await,
        helper,
    }
}

impl Gw {
    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut call = self.app.request(
            method.parse().unwrap(),
            &format!("{}{path}", self.app.out("ApiUrl")),
        );
        for (n, v) in headers {
            call = call.header(n, v);
        }
        call.send().await
    }

    /// An access token of a new user of pool `p`.
    async fn token(&self) -> String {
        let pools = self
            .app
            .admin("ListUserPools", json!({"MaxResults": 10}))
            .await
            .unwrap();
        let pool = pools["UserPools"][0]["Id"].as_str().unwrap().to_string();
        let clients = self
            .app
            .admin("ListUserPoolClients", json!({"UserPoolId": pool}))
            .await
            .unwrap();
        let client = clients["UserPoolClients"][0]["ClientId"]
            .as_str()
            .unwrap()
            .to_string();
        let name = unique("u");
        self.app
            .admin(
                "AdminCreateUser",
                json!({"UserPoolId": pool, "Username": name, "MessageAction": "SUPPRESS"}),
            )
            .await
            .unwrap();
        self.app
            .admin(
                "AdminSetUserPassword",
                json!({"UserPoolId": pool, "Username": name, "Password": PASSWORD, "Permanent": true}),
            )
            .await
            .unwrap();
        let r = self
            .app
            .admin(
                "AdminInitiateAuth",
                json!({"UserPoolId": pool, "ClientId": client, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
                       "AuthParameters": {"USERNAME": name, "PASSWORD": PASSWORD}}),
            )
            .await
            .unwrap();
        r["AuthenticationResult"]["AccessToken"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// API Gateway's own answers: `{"message": ...}` as JSON, with a request id.
#[track_caller]
fn assert_message(r: &Reply, status: u16, message: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text());
    assert_eq!(r.text(), json!({"message": message}).to_string());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(!r.header("apigw-requestid").unwrap_or_default().is_empty());
}

#[tokio::test]
async fn no_route_is_404_and_a_missing_jwt_is_401_with_www_authenticate() {
    let gw = gateway().await;
    for (method, path) in [
        ("GET", "/nothing-here"),
        ("DELETE", "/pool"),
        ("GET", "/pool/"),
        ("GET", "/staging/pool"),
    ] {
        assert_message(&gw.call(method, path, &[]).await, 404, "Not Found");
    }
    let r = gw.call("GET", "/pool", &[]).await;
    assert_message(&r, 401, "Unauthorized");
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .starts_with(r#"Bearer scope="" error="invalid_token""#));
    let token = gw.token().await;
    let r = gw
        .call(
            "GET",
            "/pool",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(r.answer(), (200, "ok".into()));
}

#[tokio::test]
async fn request_authorizer_without_identity_source_is_401_and_not_called() {
    let gw = gateway().await;
    for headers in [vec![], vec![("x-key", "")]] {
        assert_message(
            &gw.call("GET", "/simple/1", &headers).await,
            401,
            "Unauthorized",
        );
    }
    assert_eq!(gw.helper.recorder.count("/authz/"), 0);
}

#[tokio::test]
async fn request_authorizer_deny_is_403_and_an_error_or_bad_answer_is_500_never_allow() {
    let gw = gateway().await;
    assert_message(
        &gw.call("GET", "/simple/1", &[("x-key", "deny-1")]).await,
        403,
        "Forbidden",
    );
    assert_message(
        &gw.call("GET", "/policy/1?tenant=t", &[("x-key", "deny-1")])
            .await,
        403,
        "Forbidden",
    );
    for path in ["/throw", "/stringtrue"] {
        let r = gw.call("GET", path, &[("x-key", "allow-1")]).await;
        assert_message(&r, 500, "Internal Server Error");
    }
}

#[tokio::test]
async fn throttling_comes_before_the_authorizer_and_the_integration() {
    let gw = gateway().await;
    // Uncached authorizer: each request let through calls it once.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            gw.call("GET", "/throttled-auth", &[("x-key", "allow-t")])
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    assert_eq!(gw.helper.recorder.count("/authz/simple"), 2);
    for expected in [200, 200] {
        assert_eq!(
            gw.call("GET", "/throttled", &[]).await.status.as_u16(),
            expected
        );
    }
    assert_message(
        &gw.call("GET", "/throttled", &[]).await,
        429,
        "Too Many Requests",
    );
}

#[tokio::test]
async fn integration_failures_have_api_gateways_statuses() {
    let gw = gateway().await;
    // Over the API's body limit: 413, and the integration never runs.
    let big = gw
        .app
        .post(&format!("{}/small", gw.app.out("ApiUrl")))
        .body(vec![b'x'; 2000])
        .send()
        .await;
    assert_message(&big, 413, "Request Entity Too Large");
    let small = gw
        .app
        .post(&format!("{}/small", gw.app.out("ApiUrl")))
        .body(vec![b'x'; 100])
        .send()
        .await;
    assert_eq!(small.answer(), (200, "ok".into()));
    assert_message(&gw.call("GET", "/dead", &[]).await, 502, "Bad Gateway");
    // The helper answers /slow after 3 s: the 503 shows the 500 ms timeout cut it.
    assert_message(
        &gw.call("GET", "/slow", &[]).await,
        503,
        "Service Unavailable",
    );
    for path in ["/fn-error", "/fn-invalid"] {
        assert_message(
            &gw.call("GET", path, &[]).await,
            500,
            "Internal Server Error",
        );
    }
}

#[tokio::test]
async fn simple_authorizer_context_reaches_the_integration() {
    let gw = gateway().await;
    let r = gw.call("GET", "/simple/42", &[("x-key", "allow-a")]).await;
    assert_eq!(r.answer(), (200, "allow-a|||42".into()));
}

#[tokio::test]
async fn policy_authorizer_payload_1_gets_the_method_arn_and_a_principal() {
    let gw = gateway().await;
    let r = gw
        .call("GET", "/policy/7?tenant=t1", &[("x-key", "allow-b")])
        .await;
    // The helper's context names the identity it saw: the joined sources.
    assert_eq!(r.answer(), (200, "allow-b,t1|p-allow-b,t1||7".into()));
    let event = gw.helper.recorder.last("/authz/policy");
    assert_eq!(
        (&event["type"], &event["version"]),
        (&json!("REQUEST"), &json!("1.0"))
    );
    assert_eq!(event["authorizationToken"], "allow-b,t1");
    assert_eq!(event["identitySource"], "allow-b,t1");
    assert!(event["methodArn"]
        .as_str()
        .unwrap()
        .ends_with("/$default/GET/policy/7"));
}

#[tokio::test]
async fn authorizer_results_are_cached_per_identity_and_shared_across_routes() {
    let gw = gateway().await;
    let calls = || gw.helper.recorder.count("/authz/simple");
    for path in ["/simple/1", "/simple/2", "/simple-other"] {
        assert_eq!(
            gw.call("GET", path, &[("x-key", "allow-c")])
                .await
                .status
                .as_u16(),
            200
        );
    }
    assert_eq!(calls(), 1);
    gw.call("GET", "/simple/1", &[("x-key", "allow-c-y")]).await;
    assert_eq!(calls(), 2);
    // With the route key among the identity sources, routes are kept apart.
    gw.call("GET", "/simple-route/1", &[("x-key", "allow-d")])
        .await;
    gw.call("GET", "/simple-route2/1", &[("x-key", "allow-d")])
        .await;
    gw.call("GET", "/simple-route/2", &[("x-key", "allow-d")])
        .await;
    assert_eq!(calls(), 4);
    // ttl 0 never caches; a deny is cached like an allow.
    for _ in 0..3 {
        gw.call("GET", "/nocache", &[("x-key", "allow-e")]).await;
    }
    assert_eq!(calls(), 7);
    for _ in 0..3 {
        assert_eq!(
            gw.call("GET", "/simple/1", &[("x-key", "deny-f")])
                .await
                .status
                .as_u16(),
            403
        );
    }
    assert_eq!(calls(), 8);
}

#[tokio::test]
async fn the_cache_expires_with_its_ttl_on_the_servers_clock() {
    let gw = gateway().await;
    let calls = || gw.helper.recorder.count("/authz/simple");
    gw.call("GET", "/simple/1", &[("x-key", "allow-g")]).await;
    // API Gateway's default authorizer TTL: 300 s.
    gw.app.advance_s(299);
    gw.call("GET", "/simple/1", &[("x-key", "allow-g")]).await;
    assert_eq!(calls(), 1);
    gw.app.advance_s(2);
    gw.call("GET", "/simple/1", &[("x-key", "allow-g")]).await;
    assert_eq!(calls(), 2);
}

#[tokio::test]
async fn a_cached_policy_is_evaluated_against_each_route() {
    let gw = gateway().await;
    // The policy allows exactly the ARN of the first request.
    assert_eq!(
        gw.call("GET", "/policy/1?tenant=z", &[("x-key", "allow-h")])
            .await
            .status
            .as_u16(),
        200
    );
    let r = gw
        .call("POST", "/policy/1?tenant=z", &[("x-key", "allow-h")])
        .await;
    assert_message(&r, 403, "Forbidden");
    assert_eq!(
        gw.helper.recorder.count("/authz/policy"),
        1,
        "the second answer came from the cache"
    );
}

#[tokio::test]
async fn http_proxy_forwards_path_variables_query_and_mapped_claims() {
    let gw = gateway().await;
    let token = gw.token().await;
    let r = gw
        .app
        .post(&format!("{}/up/a/b%20c?x=1", gw.app.out("ApiUrl")))
        .bearer(&token)
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x-user", "spoofed")
        .header("connection", "close, X-Drop")
        .header("x-drop", "1")
        .body("payload")
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let got = r.json();
    assert_eq!(
        (&got["method"], &got["body"]),
        (&json!("POST"), &json!("payload"))
    );
    let path = got["path"].as_str().unwrap();
    assert!(path.starts_with("/up/a/b%20c?"), "{path}");
    assert!(
        path.contains("x=1") && path.contains("via=gateway"),
        "{path}"
    );
    let h = &got["headers"];
    assert_eq!(h["x-user"], claims(&token)["sub"]);
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert!(h.get("x-drop").is_none());
    assert!(h["x-amzn-trace-id"]
        .as_str()
        .unwrap()
        .starts_with("Root=1-"));
    // Hop-by-hop headers of the upstream's answer are not passed on.
    assert_eq!(r.header("x-upstream"), Some("yes"));
    assert!(r.header("x-secret").is_none());
}

#[tokio::test]
async fn greedy_routes_stages_and_path_normalisation() {
    let gw = gateway().await;
    let path_of = |r: Reply| r.json()["path"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        path_of(gw.call("GET", "/store/checkout/now?a=b", &[]).await),
        "/store/checkout/now?a=b"
    );
    // G08: ambiguous paths are refused; escapes of plain characters are decoded.
    for path in [
        "/up/..%2fadmin",
        "/up/%2e%2e/admin",
        "/up/a%00b",
        "/up/%5cadmin",
    ] {
        assert_message(&gw.call("GET", path, &[]).await, 400, "Bad Request");
    }
    assert_eq!(
        path_of(gw.call("GET", "/%73tore/%61", &[]).await),
        "/store/a"
    );
    // A named stage strips its prefix; its variables fill the integration URL.
    assert_eq!(
        path_of(gw.call("GET", "/prod/staged", &[]).await),
        "/staged"
    );
}

#[tokio::test]
async fn g17_preflight_is_answered_without_auth_and_never_forwarded() {
    let gw = gateway().await;
    let r = gw
        .call(
            "OPTIONS",
            "/cors",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization"),
            ],
        )
        .await;
    // No route matches OPTIONS /cors, so the gateway answers it itself.
    assert_eq!(r.status.as_u16(), 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("authorization")
    );
    assert_eq!(r.header("access-control-max-age"), Some("300"));
    assert_eq!(gw.helper.recorder.count("/cors"), 0);
    // A route that matches OPTIONS runs with its authorizer (sst#5493).
    let r = gw
        .call(
            "OPTIONS",
            "/up/x",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "GET"),
            ],
        )
        .await;
    assert_message(&r, 401, "Unauthorized");
}

#[tokio::test]
async fn actual_requests_get_the_configured_cors_headers_and_the_backends_are_dropped() {
    let gw = gateway().await;
    let bearer = format!("Bearer {}", gw.token().await);
    let r = gw
        .call(
            "GET",
            "/cors",
            &[
                ("authorization", &bearer),
                ("origin", "https://app.example"),
            ],
        )
        .await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("x-upstream")
    );
    assert!(r.header("access-control-allow-headers").is_none());
    let evil = gw
        .call(
            "GET",
            "/cors",
            &[
                ("authorization", &bearer),
                ("origin", "https://evil.example"),
            ],
        )
        .await;
    assert_eq!(evil.status.as_u16(), 200);
    assert!(evil.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn custom_domain_mapping_picks_the_longest_base_path_and_strips_it() {
    let gw = gateway().await;
    let via = |host: &'static str, path: &'static str| {
        gw.app
            .get(&format!("{}{path}", gw.app.out("ApiUrl")))
            .header("host", host)
            .send()
    };
    let path_of = |r: Reply| -> Value { r.json()["path"].clone() };
    // v1 -> stage prod: its stage variables point the upstream at /staged.
    assert_eq!(
        path_of(via("api.example.test", "/v1/staged").await),
        "/staged"
    );
    // v1/deep -> $default stage, routes see the path after the base path.
    assert_eq!(
        path_of(via("api.example.test", "/v1/deep/store/x").await),
        "/store/x"
    );
    assert_message(
        &via("api.example.test", "/v2/staged").await,
        404,
        "Not Found",
    );
    assert_message(
        &via("api.example.test", "/v1x/staged").await,
        404,
        "Not Found",
    );
    // The root mapping: no base path, $default stage.
    assert_eq!(
        path_of(via("root.example.test", "/store/y").await),
        "/store/y"
    );
}
