//! The pool domain's OAuth endpoints: POST /oauth2/token with
//! client_credentials and refresh_token, POST /oauth2/revoke, discovery;
//! RFC 6749 error bodies, reference/security.md §2.2 rows O20, O23-O25.

use base64::Engine;
use serde_json::json;

use crate::harness::{claims, App, Reply};

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

async fn token(app: &App, form: &[(&str, &str)], auth: Option<(&str, &str)>) -> Reply {
    let mut call = app
        .post(&format!("{}/oauth2/token", app.out("HostedUiUrl")))
        .form(form);
    if let Some((id, secret)) = auth {
        call = call.header("authorization", &basic(id, secret));
    }
    call.send().await
}

fn machine(app: &App) -> (String, String) {
    (app.out("MachineClientId"), app.out("MachineClientSecret"))
}

#[track_caller]
fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"], code, "{}", r.text());
    assert!(body
        .as_object()
        .unwrap()
        .keys()
        .all(|k| k == "error" || k == "error_description"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(!r.text().contains("eyJ"));
}

#[tokio::test]
async fn machine_client_gets_a_scoped_access_token() {
    let app = App::demo().await;
    let (id, secret) = machine(&app);
    let r = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "demo-api/read"),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let body = r.json();
    let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["access_token", "expires_in", "token_type"]);
    assert_eq!(
        (&body["token_type"], &body["expires_in"]),
        (&json!("Bearer"), &json!(3600))
    );
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!((&c["sub"], &c["client_id"]), (&json!(id), &json!(id)));
    assert_eq!(
        (&c["scope"], &c["token_use"]),
        (&json!("demo-api/read"), &json!("access"))
    );
    assert_eq!(c["iss"], app.out("IssuerUrl"));
    for absent in ["username", "aud", "origin_jti"] {
        assert!(c.get(absent).is_none(), "{absent}");
    }
    // client_secret_post and an omitted scope (all the client may have) work too.
    let post = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    assert_eq!(post.status.as_u16(), 200);
    assert_eq!(
        claims(post.json()["access_token"].as_str().unwrap())["scope"],
        "demo-api/read"
    );
}

#[tokio::test]
async fn client_credentials_refusals() {
    let app = App::demo().await;
    let (id, secret) = machine(&app);
    let cc = ("grant_type", "client_credentials");
    let web = app.out("UserPoolClientId");
    let wrong = "w".repeat(51);
    // O20: public client, wrong secret (Basic: 401 with a challenge; post: 400), openid.
    assert_error(
        &token(&app, &[cc, ("client_id", &web)], None).await,
        400,
        "invalid_client",
    );
    let r = token(&app, &[cc], Some((&id, &wrong))).await;
    assert_error(&r, 401, "invalid_client");
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    let r = token(
        &app,
        &[cc, ("client_id", &id), ("client_secret", &wrong)],
        None,
    )
    .await;
    assert_error(&r, 400, "invalid_client");
    assert_error(
        &token(&app, &[cc], Some(("no-such-client", "x"))).await,
        401,
        "invalid_client",
    );
    let r = token(&app, &[cc, ("scope", "openid")], Some((&id, &secret))).await;
    assert_error(&r, 400, "invalid_scope");
    let r = token(
        &app,
        &[cc, ("scope", "demo-api/write")],
        Some((&id, &secret)),
    )
    .await;
    assert_error(&r, 400, "invalid_scope");
    // A client with a secret but without the flow.
    let conf = (
        app.out("ConfidentialClientId"),
        app.out("ConfidentialClientSecret"),
    );
    let r = token(&app, &[cc], Some((&conf.0, &conf.1))).await;
    assert_error(&r, 400, "unauthorized_client");
}

#[tokio::test]
async fn malformed_token_requests() {
    let app = App::demo().await;
    let (id, secret) = machine(&app);
    let url = format!("{}/oauth2/token", app.out("HostedUiUrl"));
    assert_eq!(app.get(&url).send().await.status.as_u16(), 405);
    let as_json = app
        .post(&url)
        .header("authorization", &basic(&id, &secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await;
    assert_error(&as_json, 400, "invalid_request");
    let twice = app
        .post(&url)
        .header("authorization", &basic(&id, &secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await;
    assert_error(&twice, 400, "invalid_request");
    let web = app.out("UserPoolClientId");
    let r = token(
        &app,
        &[("grant_type", "client_credentials"), ("client_id", &web)],
        Some((&id, &secret)),
    )
    .await;
    assert_error(&r, 400, "invalid_request");
    let r = token(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "x"),
            ("password", "y"),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_error(&r, 400, "unsupported_grant_type");
    assert_error(
        &token(&app, &[("client_id", &web)], None).await,
        400,
        "invalid_request",
    );
}

async fn refresh(app: &App, refresh_token: &str) -> Reply {
    let web = app.out("UserPoolClientId");
    token(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &web),
            ("refresh_token", refresh_token),
        ],
        None,
    )
    .await
}

#[tokio::test]
async fn refresh_token_grant() {
    let app = App::demo().await;
    let user = app.user("alice").await;
    let first = app.sign_in(&user).await;
    let rt = first["RefreshToken"].as_str().unwrap();
    let r = refresh(&app, rt).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let mut keys: Vec<_> = r.json().as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["access_token", "expires_in", "id_token", "token_type"]
    );
    assert_eq!(
        claims(r.json()["access_token"].as_str().unwrap())["username"],
        user.as_str()
    );
    // O24: another client cannot use it; O23: garbage or revoked tokens are invalid grants.
    let conf = (
        app.out("ConfidentialClientId"),
        app.out("ConfidentialClientSecret"),
    );
    let r = token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some((&conf.0, &conf.1)),
    )
    .await;
    assert_error(&r, 400, "invalid_grant");
    assert_error(&refresh(&app, "garbage").await, 400, "invalid_grant");
    app.public(
        "GlobalSignOut",
        json!({"AccessToken": first["AccessToken"]}),
    )
    .await
    .expect("signed out");
    assert_error(&refresh(&app, rt).await, 400, "invalid_grant");
}

#[tokio::test]
async fn an_expired_refresh_token_is_an_invalid_grant() {
    let app = App::demo().await;
    let user = app.user("bob").await;
    let first = app.sign_in(&user).await;
    let rt = first["RefreshToken"].as_str().unwrap();
    // The demo's refresh tokens live 30 days (Cognito's default).
    app.advance_s(30 * 86_400 - 60);
    assert_eq!(refresh(&app, rt).await.status.as_u16(), 200);
    app.advance_s(120);
    assert_error(&refresh(&app, rt).await, 400, "invalid_grant");
}

#[tokio::test]
async fn revocation_endpoint() {
    let app = App::demo().await;
    let user = app.user("carol").await;
    let url = format!("{}/oauth2/revoke", app.out("HostedUiUrl"));
    let web = app.out("UserPoolClientId");
    let (a, b) = (app.sign_in(&user).await, app.sign_in(&user).await);
    let (a_rt, b_rt) = (
        a["RefreshToken"].as_str().unwrap(),
        b["RefreshToken"].as_str().unwrap(),
    );
    let r = app
        .post(&url)
        .form(&[("token", a_rt), ("client_id", &web)])
        .send()
        .await;
    assert_eq!(r.answer(), (200, String::new()));
    assert_error(&refresh(&app, a_rt).await, 400, "invalid_grant");
    // The other session is untouched; unknown tokens get the same 200 (RFC 7009).
    assert_eq!(refresh(&app, b_rt).await.status.as_u16(), 200);
    let r = app
        .post(&url)
        .form(&[("token", "unknown"), ("client_id", &web)])
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 200);
    let access = b["AccessToken"].as_str().unwrap();
    let r = app
        .post(&url)
        .form(&[("token", access), ("client_id", &web)])
        .send()
        .await;
    assert_error(&r, 400, "unsupported_token_type");
    let r = app.post(&url).form(&[("client_id", &web)]).send().await;
    assert_error(&r, 400, "invalid_request");
    let r = app
        .post(&url)
        .header("authorization", &basic("no-such-client", "x"))
        .form(&[("token", b_rt)])
        .send()
        .await;
    assert_error(&r, 401, "invalid_client");
    // A client cannot revoke another client's token: 200, and the token still works.
    let (id, secret) = machine(&app);
    let r = app
        .post(&url)
        .header("authorization", &basic(&id, &secret))
        .form(&[("token", b_rt)])
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(refresh(&app, b_rt).await.status.as_u16(), 200);
}

#[tokio::test]
async fn discovery_advertises_the_endpoints_that_exist() {
    let app = App::demo().await;
    let d = app
        .get(&format!(
            "{}/.well-known/openid-configuration",
            app.out("IssuerUrl")
        ))
        .send()
        .await
        .json();
    let hosted = app.out("HostedUiUrl");
    assert_eq!(d["issuer"], app.out("IssuerUrl"));
    assert_eq!(d["token_endpoint"], format!("{hosted}/oauth2/token"));
    assert_eq!(d["revocation_endpoint"], format!("{hosted}/oauth2/revoke"));
    assert_eq!(
        d["authorization_endpoint"],
        format!("{hosted}/oauth2/authorize")
    );
    assert_eq!(d["userinfo_endpoint"], format!("{hosted}/oauth2/userInfo"));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    let jwks = app
        .get(&format!("{}/.well-known/jwks.json", app.out("IssuerUrl")))
        .send()
        .await;
    assert_eq!(jwks.status.as_u16(), 200);
    let key = &jwks.json()["keys"][0];
    assert_eq!(
        (&key["kty"], &key["alg"], &key["use"]),
        (&json!("RSA"), &json!("RS256"), &json!("sig"))
    );
}

#[tokio::test]
async fn cors_on_the_token_endpoint() {
    let app = App::demo().await;
    let r = app
        .request(
            axum::http::Method::OPTIONS,
            &format!("{}/oauth2/token", app.out("HostedUiUrl")),
        )
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}
