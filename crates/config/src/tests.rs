use super::*;

#[test]
fn demo_config_parses_into_the_documented_model() {
    let c = parse(DEMO_TOML).expect("the demo config is valid");
    assert_eq!(c.region, "us-east-1");
    assert_eq!(c.user_pools.len(), 1);
    let pool = &c.user_pools[0];
    assert_eq!(pool.output.as_deref(), Some("UserPool"));
    assert_eq!(pool.resource_servers[0].identifier, "demo-api");
    let names: Vec<_> = pool
        .clients
        .iter()
        .map(|c| (c.name.as_str(), c.generate_secret))
        .collect();
    assert_eq!(
        names,
        [("web", false), ("confidential", true), ("machine", true)]
    );
    let web = &pool.clients[0].settings;
    assert!(web.allows(AuthFlow::AllowUserPasswordAuth));
    assert!(web.allows(AuthFlow::AllowUserSrpAuth));
    assert_eq!(web.callback_urls[0], "${api.demo}/oauth2/callback");
    let machine = &pool.clients[2].settings;
    assert_eq!(machine.allowed_oauth_flows, [OAuthFlow::ClientCredentials]);
    assert_eq!(machine.allowed_oauth_scopes, ["demo-api/read"]);
    assert!(machine.explicit_auth_flows.is_empty());
    assert_eq!(c.http_apis[0].name, "demo");
    assert_eq!(c.websocket_apis[0].name, "demo");
}

#[test]
fn every_problem_is_reported_at_once_with_its_location() {
    let text = r#"
version = 2
region = "moon"
[[user_pools]]
name = "p"
[user_pools.password_policy]
minimum_length = 3
[[user_pools.clients]]
name = "c"
allowed_oauth_flows = ["client_credentials", "code"]
allowed_oauth_scopes = ["nope/read"]
callback_urls = ["http://evil.example/cb", "${api.missing}/cb"]
access_token_validity = "2d"
"#;
    let problems = parse(text).unwrap_err().0;
    let locations: Vec<_> = problems.iter().map(|p| p.location.as_str()).collect();
    for expected in [
        "version",
        "region",
        "user_pools[0].password_policy.minimum_length",
        "user_pools[0].clients[0].allowed_oauth_flows",
        "user_pools[0].clients[0].allowed_oauth_scopes",
        "user_pools[0].clients[0].callback_urls[0]",
        "user_pools[0].clients[0].callback_urls",
        "user_pools[0].clients[0].access_token_validity",
    ] {
        assert!(
            locations.contains(&expected),
            "missing {expected} in {locations:?}"
        );
    }
}

#[test]
fn unknown_keys_are_refused_with_line_and_column() {
    let err = parse("version = 1\n[server]\npublik_url = \"x\"\n")
        .unwrap_err()
        .0;
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].location, "line 3, column 1");
    assert!(
        err[0].message.contains("unknown field `publik_url`"),
        "{}",
        err[0].message
    );
}

#[test]
fn placeholders_resolve_to_listener_urls() {
    let mut c = parse(DEMO_TOML).unwrap();
    let values = HashMap::from([("api.demo".to_string(), "http://127.0.0.1:4002/".to_string())]);
    resolve_placeholders(&mut c, &values);
    assert_eq!(
        c.user_pools[0].clients[0].settings.callback_urls[0],
        "http://127.0.0.1:4002/oauth2/callback"
    );
    assert_eq!(substitute("${nope}/x", &values), "${nope}/x");
}

#[test]
fn duplicate_names_and_outputs_are_refused() {
    let text = r#"
version = 1
[[user_pools]]
name = "p"
output = "A"
[[user_pools.clients]]
name = "c"
output = "A"
[[user_pools.clients]]
name = "c"
"#;
    let problems = parse(text).unwrap_err().0;
    let locations: Vec<_> = problems.iter().map(|p| p.location.as_str()).collect();
    assert!(
        locations.contains(&"user_pools[0].clients[1].name"),
        "{locations:?}"
    );
    assert!(
        locations.contains(&"user_pools[0].clients[0].output"),
        "{locations:?}"
    );
}

#[test]
fn tls_is_files_or_a_development_certificate() {
    let dev = parse("version = 1\n[server.tls]\n").unwrap();
    assert_eq!(dev.server.tls, Some(Tls::Development));
    let files =
        parse("version = 1\n[server.tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n").unwrap();
    assert_eq!(
        files.server.tls,
        Some(Tls::Files {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into()
        })
    );
    let half = parse("version = 1\n[server.tls]\ncert_file = \"c.pem\"\n")
        .unwrap_err()
        .0;
    assert_eq!(half[0].location, "server.tls");
    assert_eq!(parse(DEMO_TOML).unwrap().server.tls, None);
}

#[test]
fn connection_limits_and_redis_have_defaults_and_checks() {
    let d = parse("version = 1\n").unwrap().server;
    assert_eq!(d.limits, ConnectionLimits::default());
    assert_eq!(d.limits.body_timeout, std::time::Duration::from_secs(30));
    assert_eq!(d.redis_url, None);
    let set = parse(
        "version = 1\n[server]\nmax_connections_per_ip = 10\nmax_pending_connections_per_ip = 2\n\
         body_timeout_seconds = 5\nredis_url = \"redis://127.0.0.1:6379/2\"\n",
    )
    .unwrap()
    .server;
    assert_eq!(set.limits.max_connections_per_ip, 10);
    assert_eq!(set.limits.max_pending_connections_per_ip, 2);
    assert_eq!(set.limits.body_timeout, std::time::Duration::from_secs(5));
    assert_eq!(set.redis_url.as_deref(), Some("redis://127.0.0.1:6379/2"));
    let bad = parse(
        "version = 1\n[server]\nmax_connections_per_ip = 0\nbody_timeout_seconds = 0\nredis_url = \"rediss://x\"\n",
    )
    .unwrap_err()
    .0;
    let locations: Vec<_> = bad.iter().map(|p| p.location.as_str()).collect();
    assert_eq!(
        locations,
        [
            "server.max_connections_per_ip",
            "server.body_timeout_seconds",
            "server.redis_url"
        ]
    );
}

#[test]
fn custom_domains_are_host_names_used_once() {
    let text = "version = 1\n[[user_pools]]\nname = \"a\"\ndomain = { prefix = \"a\", custom_domains = [\"Auth.Example.test\"] }\n\
                [[user_pools]]\nname = \"b\"\ndomain = { prefix = \"b\", custom_domains = [\"auth.example.test\", \"bad host\"] }\n";
    let problems = parse(text).unwrap_err().0;
    let locations: Vec<_> = problems.iter().map(|p| p.location.as_str()).collect();
    assert!(
        locations.contains(&"user_pools[1].domain.custom_domains[1]"),
        "{locations:?}"
    );
    assert!(
        locations.contains(&"user_pools[1].domain.custom_domains[0]"),
        "{locations:?}"
    );
    let ok = parse("version = 1\n[[user_pools]]\nname = \"a\"\ndomain = { prefix = \"a\", custom_domains = [\"Auth.Example.test\"] }\n").unwrap();
    assert_eq!(
        ok.user_pools[0].domain.as_ref().unwrap().custom_domains,
        ["auth.example.test"]
    );
}

#[test]
fn demo_http_api_has_the_documented_routes_and_authorizers() {
    let c = parse(DEMO_TOML).unwrap();
    let api = &c.http_apis[0];
    let keys: Vec<String> = api.routes.iter().map(|r| r.key.to_string()).collect();
    for k in [
        "GET /hello",
        "GET /whoami",
        "GET /user/profile",
        "POST /user/profile",
        "GET /reports",
        "GET /oauth2/callback",
        "GET /",
        "POST /logout",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} missing from {keys:?}");
    }
    let reports = api
        .routes
        .iter()
        .find(|r| r.key.to_string() == "GET /reports")
        .unwrap();
    assert_eq!(reports.scopes, ["demo-api/read"]);
    let session = api.session.as_ref().unwrap();
    assert_eq!(
        (session.user_pool.as_str(), session.client.as_str()),
        ("demo", "web")
    );
    assert_eq!(session.callback_url, "${api.demo}/oauth2/callback");
    match &api
        .authorizers
        .iter()
        .find(|a| a.name == "cognito")
        .unwrap()
        .kind
    {
        AuthorizerKind::Jwt(j) => {
            assert_eq!(j.issuer, JwtIssuer::Pool("demo".into()));
            assert_eq!(j.audience, ["web", "confidential", "machine"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn http_api_problems_are_all_reported_with_their_locations() {
    let text = r#"
version = 1
[[http_apis]]
name = "a"
[http_apis.cors]
allow_origins = ["*"]
allow_credentials = true
[http_apis.authorizers.j]
type = "jwt"
issuer = "not a url"
[http_apis.authorizers.r]
type = "request"
url = "http://127.0.0.1:1/authz"
ttl_seconds = 4000
payload_format_version = "3.0"
[http_apis.integrations.up]
type = "http"
url = "http://127.0.0.1:1/{proxy}"
timeout_ms = 40000
request_parameters = { "overwrite:header.Authorization" = "x", "rewrite:path" = "y" }
[[http_apis.routes]]
route = "GET /a/{p+}/b"
integration = "up"
[[http_apis.routes]]
route = "FETCH /x"
integration = "up"
[[http_apis.routes]]
route = "GET /x/"
integration = "missing"
authorizer = "nope"
"#;
    let problems = parse(text).unwrap_err().0;
    let found = |loc: &str, words: &str| {
        problems
            .iter()
            .any(|p| p.location == loc && p.message.contains(words))
    };
    assert!(
        found("http_apis[0].cors", "allow-credentials is not supported"),
        "{problems:?}"
    );
    assert!(found(
        "http_apis[0].authorizers.j.issuer",
        "is not an http(s) URL"
    ));
    assert!(found(
        "http_apis[0].authorizers.j.audience",
        "needs an audience"
    ));
    assert!(found(
        "http_apis[0].authorizers.r.ttl_seconds",
        "at most 3600"
    ));
    assert!(found(
        "http_apis[0].authorizers.r.payload_format_version",
        "\"1.0\" or \"2.0\""
    ));
    assert!(found(
        "http_apis[0].integrations.up.timeout_ms",
        "50 to 30000"
    ));
    assert!(found(
        "http_apis[0].integrations.up.request_parameters.\"overwrite:header.Authorization\"",
        "reserved"
    ));
    assert!(found(
        "http_apis[0].integrations.up.request_parameters.\"rewrite:path\"",
        "keys are"
    ));
    assert!(found(
        "http_apis[0].routes[0].route",
        "must be the last segment"
    ));
    assert!(found(
        "http_apis[0].routes[1].route",
        "'FETCH' is not one of"
    ));
    assert!(found(
        "http_apis[0].routes[2].route",
        "must not end with '/'"
    ));
}

#[test]
fn route_keys_parse_as_api_gateway_accepts_them() {
    assert_eq!(parse_route_key("$default"), Ok(RouteKey::Default));
    assert!(parse_route_key("ANY /{proxy+}").is_ok());
    assert!(parse_route_key("GET /").is_ok());
    for bad in [
        "GET",
        "GET pets",
        "GET /a//b",
        "GET /{a}/{a}",
        "GET /{}",
        "GET /a b",
        "get /a",
    ] {
        assert!(parse_route_key(bad).is_err(), "{bad}");
    }
}

#[test]
fn demo_websocket_api_is_authorized_by_the_session_and_allows_its_api_origin() {
    let c = parse(DEMO_TOML).expect("the demo config is valid");
    let ws = &c.websocket_apis[0];
    assert_eq!(ws.route_selection_expression, "$request.body.action");
    let keys: Vec<_> = ws.routes.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["$connect", "$default", "sendmessage", "$disconnect"]);
    assert_eq!(ws.routes[0].authorizer.as_deref(), Some("session"));
    assert_eq!(
        ws.authorizers[0].kind,
        WsAuthorizerKind::Session {
            http_api: "demo".into(),
            csrf_query: "csrf".into()
        }
    );
    assert_eq!(ws.allowed_origins, Some(vec!["${api.demo}".to_string()]));
    assert_eq!(ws.limits, WsLimits::default());
    assert_eq!(ws.limits.frame_bytes, 32 * 1024);
}

#[test]
fn websocket_api_problems_are_all_reported_with_their_locations() {
    let text = r#"
version = 1
[[websocket_apis]]
name = "w"
route_selection_expression = "$context.routeKey"
[websocket_apis.authorizers.gate]
type = "request"
url = "http://127.0.0.1:9/authz"
identity_sources = ["route.request.header.Cookie", "$request.header.X"]
[websocket_apis.authorizers.sess]
type = "session"
http_api = "missing"
[websocket_apis.integrations.e]
type = "echo"
body = "not for echo"
[[websocket_apis.routes]]
route = "$connect"
authorizer = "gate"
[[websocket_apis.routes]]
route = "$custom"
integration = "e"
[[websocket_apis.routes]]
route = "talk"
authorizer = "gate"
[[websocket_apis.routes]]
route = "$disconnect"
integration = "e"
route_response = true
[websocket_apis.limits]
frame_bytes = 10
send_queue = 0
"#;
    let problems = parse(text).unwrap_err().0;
    let locations: Vec<_> = problems.iter().map(|p| p.location.as_str()).collect();
    for expected in [
        "websocket_apis[0].route_selection_expression",
        "websocket_apis[0].authorizers.gate.identity_sources",
        "websocket_apis[0].authorizers.sess.http_api",
        "websocket_apis[0].integrations.e.body",
        "websocket_apis[0].routes[1].route",
        "websocket_apis[0].routes[2].integration",
        "websocket_apis[0].routes[2].authorizer",
        "websocket_apis[0].routes[3].route_response",
        // Cookies authorize $connect: an Origin allow-list is required.
        "websocket_apis[0].allowed_origins",
        "websocket_apis[0].limits.frame_bytes",
        "websocket_apis[0].limits.send_queue",
    ] {
        assert!(
            locations.contains(&expected),
            "{expected} missing from {locations:?}"
        );
    }
}

#[test]
fn websocket_identity_sources_use_the_websocket_syntax() {
    assert_eq!(
        parse_ws_identity_source("route.request.header.Cookie"),
        Some(IdentitySource::Header("cookie".into()))
    );
    assert_eq!(
        parse_ws_identity_source("route.request.querystring.token"),
        Some(IdentitySource::QueryString("token".into()))
    );
    assert_eq!(
        parse_ws_identity_source("stageVariables.v"),
        Some(IdentitySource::StageVariable("v".into()))
    );
    assert_eq!(parse_ws_identity_source("$request.header.Cookie"), None);
    assert_eq!(parse_ws_identity_source("route.request.header."), None);
}

#[test]
fn declared_groups_and_users_are_checked() {
    let ok = parse(
        r#"
version = 1
[[user_pools]]
name = "p"
groups = [{ name = "admins", precedence = 1 }]
users = [{ username = "alice", attributes = { email = "a@example.com" }, groups = ["admins"] }]
"#,
    )
    .expect("valid");
    assert_eq!(ok.user_pools[0].groups[0].name, "admins");
    assert_eq!(
        ok.user_pools[0].users[0].attributes["email"],
        "a@example.com"
    );

    let problems = parse(
        r#"
version = 1
[[user_pools]]
name = "p"
groups = [{ name = "a" }, { name = "a", precedence = -1 }]
users = [{ username = "u", groups = ["nope"] }, { username = "u" }]
"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        problems.contains("user_pools[0].groups[1].name: another group is named 'a'"),
        "{problems}"
    );
    assert!(
        problems.contains("user_pools[0].groups[1].precedence: must be 0 or more"),
        "{problems}"
    );
    assert!(
        problems.contains("user_pools[0].users[0].groups: 'nope' is not a group of this pool"),
        "{problems}"
    );
    assert!(
        problems.contains("user_pools[0].users[1].username: another user is named 'u'"),
        "{problems}"
    );
}

#[test]
fn triggers_name_functions_of_the_file() {
    let c = parse(
        r#"
version = 1
region = "eu-west-1"
[[functions]]
name = "hook"
runtime = "nodejs"
code = "hooks"
[[user_pools]]
name = "p"
triggers = { pre_sign_up = "hook", pre_token_generation = { function = "hook", version = "V2_0" } }
"#,
    )
    .expect("valid");
    let lc = &c.user_pools[0].settings.lambda_config;
    let arn = "arn:aws:lambda:eu-west-1:000000000000:function:hook";
    assert_eq!(lc.pre_sign_up.as_deref(), Some(arn));
    assert_eq!(lc.pre_token(), Some((arn, "V2_0")));
    let problems = parse(
        r#"
version = 1
[[user_pools]]
name = "p"
triggers = { post_confirmation = "missing", pre_sign_up = "missing", pre_token_generation = { function = "missing", version = "V9" } }
"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        problems.contains(
            "user_pools[0].triggers.post_confirmation: 'missing' is not a function of this file"
        ),
        "{problems}"
    );
    assert!(
        problems.contains(
            "user_pools[0].triggers.pre_token_generation.version: must be V1_0, V2_0 or V3_0"
        ),
        "{problems}"
    );
}
