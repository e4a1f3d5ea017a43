//! The demo HTTP API of DEMO.md and the seeds' HTTP API stories (002, 003,
//! 004): JWT-authorized routes, scopes, the payload 2.0 event, refusals
//! with API Gateway's bodies and headers, revocation at once.

use serde_json::{json, Value};

use crate::harness::{App, Reply};

/// USER_PASSWORD_AUTH on the public client: (access token, ID token).
async fn sign_in(app: &App, user: &str) -> (String, String) {
    let result = app.sign_in(user).await;
    (
        result["AccessToken"].as_str().unwrap().to_string(),
        result["IdToken"].as_str().unwrap().to_string(),
    )
}

async fn machine_token(app: &App) -> String {
    let r = app
        .post(&format!("{}/oauth2/token", app.out("HostedUiUrl")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.out("MachineClientId")),
            ("client_secret", &app.out("MachineClientSecret")),
        ])
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

async fn get(app: &App, path: &str, token: &str) -> Reply {
    app.get(&format!("{}{path}", app.out("ApiUrl")))
        .bearer(token)
        .send()
        .await
}

const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;
const FORBIDDEN: &str = r#"{"message":"Forbidden"}"#;

#[tokio::test]
async fn hello_answers_with_access_and_id_tokens() {
    let app = App::demo().await;
    let user = app.user("alice").await;
    let (access, id) = sign_in(&app, &user).await;
    for token in [&access, &id] {
        let r = get(&app, "/hello", token).await;
        assert_eq!(r.answer(), (200, r#""Hello from Lambda!""#.into()));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(!r.header("apigw-requestid").unwrap_or_default().is_empty());
    }
}

#[tokio::test]
async fn hello_without_or_with_a_bad_token_is_401_unauthorized_with_www_authenticate() {
    let app = App::demo().await;
    let url = format!("{}/hello", app.out("ApiUrl"));
    for header in [None, Some("Bearer not-a-token"), Some("Basic dXNlcjpwdw==")] {
        let mut call = app.get(&url);
        if let Some(h) = header {
            call = call.header("authorization", h);
        }
        let r = call.send().await;
        assert_eq!(r.answer(), (401, UNAUTHORIZED.into()), "{header:?}");
        assert_eq!(r.header("content-length"), Some("26"));
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .starts_with(r#"Bearer scope="" error="invalid_token" error_description=""#));
        assert!(r.header("apigw-requestid").is_some());
    }
}

#[tokio::test]
async fn whoami_names_the_user_from_access_and_id_tokens() {
    let app = App::demo().await;
    let user = app.user("bob").await;
    let (access, id) = sign_in(&app, &user).await;
    for token in [&access, &id] {
        assert_eq!(
            get(&app, "/whoami", token).await.answer(),
            (200, format!("Hello, World! I am {user}!"))
        );
    }
}

#[tokio::test]
async fn user_profile_echoes_the_payload_2_event_with_string_claims() {
    let app = App::demo().await;
    let user = app.user("carol").await;
    let (access, id) = sign_in(&app, &user).await;
    let r = app
        .get(&format!("{}/user/profile?q=1&q=2", app.out("ApiUrl")))
        .bearer(&id)
        .header("cookie", "a=1; b=2")
        .header("x-thing", "x")
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 200);
    let e = r.json();
    assert_eq!(
        (&e["version"], &e["routeKey"]),
        (&json!("2.0"), &json!("GET /user/profile"))
    );
    assert_eq!(
        (&e["rawPath"], &e["rawQueryString"]),
        (&json!("/user/profile"), &json!("q=1&q=2"))
    );
    assert_eq!(e["queryStringParameters"], json!({"q": "1,2"}));
    assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
    assert!(e["headers"].get("cookie").is_none());
    assert_eq!(e["headers"]["x-thing"], "x");
    assert!(e.get("body").is_none());
    assert_eq!(e["isBase64Encoded"], false);
    let rc = &e["requestContext"];
    assert_eq!(
        (&rc["routeKey"], &rc["stage"]),
        (&json!("GET /user/profile"), &json!("$default"))
    );
    assert_eq!(
        (&rc["http"]["method"], &rc["http"]["path"]),
        (&json!("GET"), &json!("/user/profile"))
    );
    assert_eq!(rc["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["requestId"], r.header("apigw-requestid").unwrap());
    let claims = &rc["authorizer"]["jwt"]["claims"];
    assert_eq!(claims["cognito:username"], user.as_str());
    assert_eq!(claims["email_verified"], "true");
    assert_eq!(
        (&claims["token_use"], &claims["email"]),
        (&json!("id"), &json!(format!("{user}@example.com")))
    );
    assert_eq!(claims["aud"], app.out("UserPoolClientId"));
    assert!(claims.as_object().unwrap().values().all(Value::is_string));
    assert_eq!(rc["authorizer"]["jwt"]["scopes"], Value::Null);
    // The access token's claims differ: the seed's "different set of information".
    let e2 = get(&app, "/user/profile", &access).await.json();
    let c2 = &e2["requestContext"]["authorizer"]["jwt"]["claims"];
    assert_eq!(
        (&c2["token_use"], &c2["username"]),
        (&json!("access"), &json!(user))
    );
    assert!(c2.get("aud").is_none());
    assert!(!c2["scope"].as_str().unwrap_or_default().is_empty());
}

#[tokio::test]
async fn user_profile_post_echoes_the_body() {
    let app = App::demo().await;
    let user = app.user("dave").await;
    let (access, _) = sign_in(&app, &user).await;
    let url = format!("{}/user/profile", app.out("ApiUrl"));
    let body = json!({"name": "Ada", "favourite": "∑"});
    let e = app
        .post(&url)
        .bearer(&access)
        .json(&body)
        .send()
        .await
        .json();
    assert_eq!(e["routeKey"], "POST /user/profile");
    let sent: Value = serde_json::from_str(e["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent, body);
    assert_eq!(e["isBase64Encoded"], false);
    // Anything but text, JSON, XML and JavaScript arrives base64-encoded.
    let form = app
        .post(&url)
        .bearer(&access)
        .form(&[("a", "1")])
        .send()
        .await
        .json();
    assert_eq!(
        (&form["isBase64Encoded"], &form["body"]),
        (&json!(true), &json!("YT0x"))
    );
    // Without a token: 401 on both methods (seed 004).
    for method in [axum::http::Method::GET, axum::http::Method::POST] {
        let r = app
            .request(method, &url)
            .json(&json!({"x": 1}))
            .send()
            .await;
        assert_eq!(r.answer(), (401, UNAUTHORIZED.into()));
    }
}

#[tokio::test]
async fn reports_needs_the_demo_api_read_scope() {
    let app = App::demo().await;
    let r = get(&app, "/reports", &machine_token(&app).await).await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(r.json()["client_id"], app.out("MachineClientId"));
    let user = app.user("erin").await;
    let (access, id) = sign_in(&app, &user).await;
    for token in [&access, &id] {
        let r = get(&app, "/reports", token).await;
        assert_eq!(r.answer(), (403, FORBIDDEN.into()));
        assert!(r.header("www-authenticate").is_none());
    }
}

#[tokio::test]
async fn unknown_route_is_404_not_found() {
    let app = App::demo().await;
    let api = app.out("ApiUrl");
    for (method, path) in [("GET", "/nope"), ("DELETE", "/hello"), ("GET", "/hello/")] {
        let r = app
            .request(method.parse().unwrap(), &format!("{api}{path}"))
            .send()
            .await;
        assert_eq!(
            r.answer(),
            (404, r#"{"message":"Not Found"}"#.into()),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn revoked_tokens_are_refused_at_once() {
    let app = App::demo().await;
    let user = app.user("frank").await;
    let (access, id) = sign_in(&app, &user).await;
    assert_eq!(get(&app, "/hello", &access).await.status.as_u16(), 200);
    app.public("GlobalSignOut", json!({"AccessToken": access}))
        .await
        .expect("signed out");
    for token in [&access, &id] {
        let r = get(&app, "/hello", token).await;
        assert_eq!(r.status.as_u16(), 401);
        assert!(r.header("www-authenticate").unwrap().contains("revoked"));
    }
}

#[tokio::test]
async fn a_disabled_user_is_refused_at_the_gateway_and_the_json_api() {
    let app = App::demo().await;
    let user = app.user("grace").await;
    let (access, _) = sign_in(&app, &user).await;
    assert_eq!(get(&app, "/hello", &access).await.status.as_u16(), 200);
    app.admin(
        "AdminDisableUser",
        json!({"UserPoolId": app.out("UserPoolId"), "Username": user}),
    )
    .await
    .expect("disabled");
    assert_eq!(get(&app, "/hello", &access).await.status.as_u16(), 401);
    let refused = app
        .public("GetUser", json!({"AccessToken": access}))
        .await
        .expect_err("refused");
    assert_eq!(refused.status.as_u16(), 400);
    assert_eq!(refused.json()["__type"], "NotAuthorizedException");
}

#[tokio::test]
async fn expired_tokens_are_401_and_the_gateway_uses_the_servers_clock() {
    let app = App::demo().await;
    let user = app.user("heidi").await;
    let (access, id) = sign_in(&app, &user).await;
    app.advance_s(3599);
    assert_eq!(get(&app, "/hello", &access).await.status.as_u16(), 200);
    app.advance_s(2);
    for token in [&access, &id] {
        let r = get(&app, "/hello", token).await;
        assert_eq!(r.answer(), (401, UNAUTHORIZED.into()));
        assert!(
            r.header("www-authenticate").unwrap().contains("expired"),
            "{:?}",
            r.header("www-authenticate")
        );
    }
}

#[tokio::test]
async fn a_revocation_by_another_node_is_seen_within_two_seconds_by_every_token_of_the_sign_in() {
    let app = App::demo().await;
    let user = app.user("ivan").await;
    let first = app.sign_in(&user).await;
    let refreshed = app
        .public(
            "InitiateAuth",
            json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": app.out("UserPoolClientId"),
                   "AuthParameters": {"REFRESH_TOKEN": first["RefreshToken"]}}),
        )
        .await
        .expect("refreshed");
    // Two access tokens of one sign-in, both verified and cached.
    let tokens = [
        first["AccessToken"].as_str().unwrap().to_string(),
        refreshed["AuthenticationResult"]["AccessToken"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    assert_ne!(tokens[0], tokens[1]);
    for t in &tokens {
        assert_eq!(get(&app, "/hello", t).await.status.as_u16(), 200);
    }
    // Another node ends the sign-in: this node's caches do not hear of it.
    let origin = crate::harness::claims(&tokens[0])["origin_jti"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance_s(1);
    let other = app.other_node_store().await;
    assert!(other.revoke_origin(&origin, app.now_ms()).await.unwrap());
    // Within the re-check time the cached answers stand...
    for t in &tokens {
        assert_eq!(get(&app, "/hello", t).await.status.as_u16(), 200);
    }
    // ...and past it every token of that sign-in is refused.
    app.advance_s(2);
    for t in &tokens {
        let r = get(&app, "/hello", t).await;
        assert_eq!(r.status.as_u16(), 401);
        assert!(r.header("www-authenticate").unwrap().contains("revoked"));
    }
}
