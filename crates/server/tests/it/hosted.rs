//! The code and implicit flows through the hosted sign-in pages, driven as
//! a browser does (a cookie-keeping client following the forms), and the
//! OAuth rows of reference/security.md §2.2 that they touch. The pages'
//! other forms are in hosted_forms.rs.

use base64::Engine;
use serde_json::json;

use crate::harness::{action, claims, encode, field, query, App, Browser, Reply, PASSWORD};

pub(crate) const CALLBACK: &str = "http://localhost:3000/";

/// Authorization parameters over the defaults (`None` drops one).
type Params<'a> = &'a [(&'a str, Option<&'a str>)];

fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    (verifier, challenge)
}

/// `/oauth2/authorize` of the web client with these parameters over the
/// defaults (`None` drops one).
pub(crate) fn authorize_url(app: &App, params: &[(&str, Option<&str>)]) -> String {
    let client = app.out("UserPoolClientId");
    let mut all: Vec<(&str, Option<&str>)> = vec![
        ("client_id", Some(client.as_str())),
        ("response_type", Some("code")),
        ("redirect_uri", Some(CALLBACK)),
        ("scope", Some("openid email profile")),
        ("state", Some("st-1")),
    ];
    for (k, v) in params {
        match all.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = *v,
            None => all.push((k, *v)),
        }
    }
    let pairs: Vec<(&str, &str)> = all.iter().filter_map(|(k, v)| Some((*k, (*v)?))).collect();
    format!(
        "{}/oauth2/authorize?{}",
        app.out("HostedUiUrl"),
        encode(&pairs)
    )
}

/// Follows the authorization to the login form and submits it; returns the
/// answer to the form.
pub(crate) async fn login(
    browser: &mut Browser,
    app: &App,
    url: &str,
    user: &str,
    password: &str,
) -> Reply {
    let hosted = app.out("HostedUiUrl");
    let r = browser.get(app, url).await;
    assert_eq!(r.status.as_u16(), 302, "{}", r.text());
    assert!(r.location().starts_with("/login?"), "{}", r.location());
    let page = browser.get(app, &format!("{hosted}{}", r.location())).await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(page.header("content-type").unwrap().contains("text/html"));
    let html = page.text();
    let csrf = field(&html, "_csrf").expect("CSRF value");
    browser
        .post_form(
            app,
            &format!("{hosted}{}", action(&html)),
            &[("_csrf", &csrf), ("username", user), ("password", password)],
        )
        .await
}

/// The callback's query (or fragment) of a redirect to the client.
pub(crate) fn code_of(r: &Reply) -> std::collections::BTreeMap<String, String> {
    assert_eq!(r.status.as_u16(), 302, "{}", r.text());
    let location = r.location();
    assert!(location.starts_with(CALLBACK), "{location}");
    query(&location)
}

pub(crate) async fn exchange(
    app: &App,
    code: &str,
    verifier: Option<&str>,
    redirect: Option<&str>,
) -> Reply {
    let client = app.out("UserPoolClientId");
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client.as_str()),
    ];
    if let Some(r) = redirect {
        form.push(("redirect_uri", r));
    }
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    app.post(&format!("{}/oauth2/token", app.out("HostedUiUrl")))
        .form(&form)
        .send()
        .await
}

async fn userinfo(app: &App, access: &str) -> Reply {
    app.get(&format!("{}/oauth2/userInfo", app.out("HostedUiUrl")))
        .bearer(access)
        .send()
        .await
}

/// The userInfo endpoint's status for the access token of a token
/// response.
async fn userinfo_status(app: &App, tokens: &serde_json::Value) -> u16 {
    let access = tokens["access_token"].as_str().expect("an access token");
    userinfo(app, access).await.status.as_u16()
}

async fn fresh_code(app: &App, user: &str, params: &[(&str, Option<&str>)]) -> String {
    let r = login(
        &mut Browser::default(),
        app,
        &authorize_url(app, params),
        user,
        PASSWORD,
    )
    .await;
    code_of(&r)["code"].clone()
}

#[tokio::test]
async fn code_flow_with_pkce_nonce_and_userinfo() {
    let app = App::demo().await;
    let user = app.user("alice").await;
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &app,
        &[
            ("code_challenge", Some(&challenge)),
            ("code_challenge_method", Some("S256")),
            ("nonce", Some("n-0S6_WzA2Mj")),
            ("state", Some("a b&c")),
        ],
    );
    let r = login(&mut Browser::default(), &app, &url, &user, PASSWORD).await;
    let q = code_of(&r);
    assert_eq!(q["state"], "a b&c", "state comes back byte for byte");
    let session = r.set_cookie("cognate_session").expect("hosted session");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    let t = exchange(&app, &q["code"], Some(&verifier), Some(CALLBACK)).await;
    assert_eq!(t.status.as_u16(), 200, "{}", t.text());
    assert_eq!(t.header("cache-control"), Some("no-store"));
    let tokens = t.json();
    let mut keys: Vec<_> = tokens.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "id_token",
            "refresh_token",
            "token_type"
        ]
    );
    let id = claims(tokens["id_token"].as_str().unwrap());
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["aud"], app.out("UserPoolClientId"));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access.as_bytes());
    let half = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
    assert_eq!(id["at_hash"], half);
    let at = claims(access);
    assert_eq!(
        (at["scope"].as_str(), at["username"].as_str()),
        (Some("openid email profile"), Some(user.as_str()))
    );
    let info = userinfo(&app, access).await;
    assert_eq!(info.status.as_u16(), 200, "{}", info.text());
    let info = info.json();
    assert_eq!(info["email"], format!("{user}@example.com"));
    assert_eq!(info["email_verified"], "true");
    assert_eq!(
        (&info["username"], &info["sub"]),
        (&json!(user), &at["sub"])
    );
    // The API-issued token lacks openid: userInfo refuses it.
    let api = app.sign_in(&user).await;
    let refused = userinfo(&app, api["AccessToken"].as_str().unwrap()).await;
    assert_eq!(refused.status.as_u16(), 401);
    assert!(refused
        .header("www-authenticate")
        .unwrap()
        .contains(r#"error="invalid_token""#));
    let empty = app
        .get(&format!("{}/oauth2/userInfo", app.out("HostedUiUrl")))
        .send()
        .await;
    // No token at all is a bad request, not a bad token (reference/cognito.md §5.5).
    assert_eq!(empty.status.as_u16(), 400);
    assert!(empty
        .header("www-authenticate")
        .unwrap()
        .contains(r#"error="invalid_request""#));
}

#[tokio::test]
async fn single_sign_on_until_logout() {
    let app = App::demo().await;
    let user = app.user("bob").await;
    let mut browser = Browser::default();
    let signed_in = login(
        &mut browser,
        &app,
        &authorize_url(&app, &[]),
        &user,
        PASSWORD,
    )
    .await;
    code_of(&signed_in);
    // The hosted session lasts one hour, as Cognito's, and scripts cannot read it.
    let session = signed_in.set_cookie("cognate_session").unwrap();
    for attr in ["Max-Age=3600", "HttpOnly", "SameSite=Lax"] {
        assert!(session.contains(attr), "{session}");
    }
    // Signed in: the next authorization answers at once, no form.
    assert!(!code_of(&browser.get(&app, &authorize_url(&app, &[])).await)["code"].is_empty());
    // The same at /authorize (Cognito's other path).
    let alias = authorize_url(&app, &[]).replace("/oauth2/authorize?", "/authorize?");
    assert!(!code_of(&browser.get(&app, &alias).await)["code"].is_empty());
    // prompt=login asks for the password although the session is there.
    let forced = browser
        .get(&app, &authorize_url(&app, &[("prompt", Some("login"))]))
        .await;
    assert_eq!(forced.status.as_u16(), 302);
    assert!(forced.location().starts_with("/login?"));
    let out = browser
        .get(
            &app,
            &format!(
                "{}/logout?{}",
                app.out("HostedUiUrl"),
                encode(&[
                    ("client_id", &app.out("UserPoolClientId")),
                    ("logout_uri", CALLBACK)
                ])
            ),
        )
        .await;
    assert_eq!(
        (out.status.as_u16(), out.location()),
        (302, CALLBACK.to_string())
    );
    let after = browser.get(&app, &authorize_url(&app, &[])).await;
    assert!(after.location().starts_with("/login?"));
    // prompt=none without a session: login_required back to the client.
    let none = browser
        .get(
            &app,
            &authorize_url(&app, &[("prompt", Some("none")), ("state", Some("s1"))]),
        )
        .await;
    let q = query(&none.location());
    assert_eq!(q.len(), 2);
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("login_required", "s1")
    );
}

#[tokio::test]
async fn the_hosted_session_ends_after_an_hour() {
    let app = App::demo().await;
    let user = app.user("bob").await;
    let mut browser = Browser::default();
    code_of(
        &login(
            &mut browser,
            &app,
            &authorize_url(&app, &[]),
            &user,
            PASSWORD,
        )
        .await,
    );
    app.advance_s(3599);
    assert!(!code_of(&browser.get(&app, &authorize_url(&app, &[])).await)["code"].is_empty());
    // Past the hour the session is over, although the browser kept the cookie.
    app.advance_s(2);
    let expired = browser.get(&app, &authorize_url(&app, &[])).await;
    assert!(
        expired.location().starts_with("/login?"),
        "{}",
        expired.location()
    );
}

#[tokio::test]
async fn implicit_flow_puts_tokens_in_the_fragment() {
    let app = App::demo().await;
    let user = app.user("carol").await;
    let url = authorize_url(
        &app,
        &[("response_type", Some("token")), ("state", Some("xyz"))],
    );
    let r = login(&mut Browser::default(), &app, &url, &user, PASSWORD).await;
    assert_eq!(r.status.as_u16(), 302);
    let location = r.location();
    assert!(location.starts_with(&format!("{CALLBACK}#")) && !location.contains('?'));
    let fragment = location.split_once('#').unwrap().1;
    let names: Vec<_> = fragment
        .split('&')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "id_token",
            "access_token",
            "expires_in",
            "token_type",
            "state"
        ]
    );
    let f = query(&location);
    assert_eq!(
        (
            f["expires_in"].as_str(),
            f["token_type"].as_str(),
            f["state"].as_str()
        ),
        ("3600", "Bearer", "xyz")
    );
    let id = claims(&f["id_token"]);
    assert_eq!(id["cognito:username"], user.as_str());
    assert!(id.get("at_hash").is_some());
    // C10: redirects that carry tokens send no referrer and are not stored.
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn unregistered_redirect_uris_never_redirect() {
    let app = App::demo().await;
    let client = app.out("UserPoolClientId");
    for redirect in [
        "http://localhost:3000",
        "http://localhost:3000/x",
        "http://LOCALHOST:3000/",
        "https://localhost:3000/",
        "http://localhost:3000/?a=1",
        "http://localhost:3000/#f",
        "http://evil.example/",
        "javascript:alert(1)",
        "http://localhost:3000@evil.example/",
    ] {
        let r = app
            .get(&authorize_url(&app, &[("redirect_uri", Some(redirect))]))
            .send()
            .await;
        // Cognito's error page names the client (reference/cognito.md §5.1).
        assert_eq!(r.status.as_u16(), 302, "{redirect}");
        assert_eq!(
            r.location(),
            format!("/error?error=redirect_mismatch&client_id={client}")
        );
        let page = app
            .get(&format!("{}{}", app.out("HostedUiUrl"), r.location()))
            .send()
            .await;
        assert_eq!(page.status.as_u16(), 400);
        assert!(page.text().contains("redirect_mismatch"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert!(page
            .header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'"));
    }
}

#[tokio::test]
async fn authorization_request_errors_go_back_to_the_client() {
    let app = App::demo().await;
    let (_, challenge) = pkce();
    let c = Some(challenge.as_str());
    let cases: [(Params, &str); 7] = [
        (
            &[
                ("code_challenge", c),
                ("code_challenge_method", Some("plain")),
            ],
            "invalid_request",
        ),
        (&[("code_challenge", c)], "invalid_request"),
        (
            &[("code_challenge_method", Some("S256"))],
            "invalid_request",
        ),
        (&[("scope", Some("openid demo-api/read"))], "invalid_scope"),
        (&[("scope", Some("email"))], "invalid_scope"),
        (
            &[("response_type", Some("id_token"))],
            "unsupported_response_type",
        ),
        (&[("request", Some("eyJ..."))], "request_not_supported"),
    ];
    for (params, error) in cases {
        let mut all = params.to_vec();
        all.push(("state", Some("s")));
        let r = app.get(&authorize_url(&app, &all)).send().await;
        let location = r.location();
        assert!(location.starts_with(CALLBACK), "{location}");
        let q = query(&location);
        assert_eq!(
            (q["error"].as_str(), q["state"].as_str()),
            (error, "s"),
            "{params:?}"
        );
    }
    // The machine client has no callback: redirect_mismatch, never a redirect.
    let machine = app.out("MachineClientId");
    let r = app
        .get(&authorize_url(&app, &[("client_id", Some(&machine))]))
        .send()
        .await;
    assert_eq!(
        r.location(),
        format!("/error?error=redirect_mismatch&client_id={machine}")
    );
}

#[tokio::test]
async fn codes_are_single_use_and_bound() {
    let app = App::demo().await;
    let user = app.user("dave").await;
    let hosted = app.out("HostedUiUrl");
    let error = |r: Reply| r.json()["error"].as_str().unwrap_or_default().to_string();
    let (verifier, challenge) = pkce();
    let pkce_params = [
        ("code_challenge", Some(challenge.as_str())),
        ("code_challenge_method", Some("S256")),
    ];
    let code = fresh_code(&app, &user, &pkce_params).await;
    let first = exchange(&app, &code, Some(&verifier), Some(CALLBACK)).await;
    assert_eq!(first.status.as_u16(), 200);
    let first = first.json();
    // O07: a replay fails and revokes what the first exchange issued.
    let replay = exchange(&app, &code, Some(&verifier), Some(CALLBACK)).await;
    assert_eq!(error(replay), "invalid_grant");
    assert_eq!(userinfo_status(&app, &first).await, 401);
    let refresh = app
        .post(&format!("{hosted}/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &app.out("UserPoolClientId")),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await;
    assert_eq!(error(refresh), "invalid_grant");
    // O15: a wrong verifier burns the code.
    let code = fresh_code(&app, &user, &pkce_params).await;
    assert_eq!(
        error(exchange(&app, &code, Some(&pkce().0), Some(CALLBACK)).await),
        "invalid_grant"
    );
    assert_eq!(
        error(exchange(&app, &code, Some(&verifier), Some(CALLBACK)).await),
        "invalid_grant"
    );
    // O12: challenge sent, verifier missing. O13: verifier without challenge.
    let code = fresh_code(&app, &user, &pkce_params).await;
    assert_eq!(
        error(exchange(&app, &code, None, Some(CALLBACK)).await),
        "invalid_grant"
    );
    let code = fresh_code(&app, &user, &[]).await;
    assert_eq!(
        error(exchange(&app, &code, Some(&verifier), Some(CALLBACK)).await),
        "invalid_grant"
    );
    // O10: another redirect_uri, or none.
    let other = format!("{}/oauth2/callback", app.out("ApiUrl"));
    let code = fresh_code(&app, &user, &[]).await;
    assert_eq!(
        error(exchange(&app, &code, None, Some(&other)).await),
        "invalid_grant"
    );
    let code = fresh_code(&app, &user, &[]).await;
    assert_eq!(
        error(exchange(&app, &code, None, None).await),
        "invalid_grant"
    );
    // O09: another client cannot redeem it, and the attempt burns it.
    let stolen = fresh_code(&app, &user, &[]).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        app.out("MachineClientId"),
        app.out("MachineClientSecret")
    ));
    let other = app
        .post(&format!("{hosted}/oauth2/token"))
        .header("authorization", &format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &stolen),
            ("redirect_uri", CALLBACK),
        ])
        .send()
        .await;
    assert_eq!(other.status.as_u16(), 400);
    assert!(["invalid_grant", "unauthorized_client"].contains(&error(other).as_str()));
    assert_eq!(
        error(exchange(&app, &stolen, None, Some(CALLBACK)).await),
        "invalid_grant"
    );
    assert_eq!(
        error(exchange(&app, "made-up-code", None, Some(CALLBACK)).await),
        "invalid_grant"
    );
    // A user disabled since the code was made gets nothing, and the code
    // stays spent when the user is enabled again.
    let code = fresh_code(&app, &user, &[]).await;
    let who = json!({"UserPoolId": app.out("UserPoolId"), "Username": user});
    app.admin("AdminDisableUser", who.clone()).await.unwrap();
    assert_eq!(
        error(exchange(&app, &code, None, Some(CALLBACK)).await),
        "invalid_grant"
    );
    app.admin("AdminEnableUser", who).await.unwrap();
    assert_eq!(
        error(exchange(&app, &code, None, Some(CALLBACK)).await),
        "invalid_grant"
    );
    let code = fresh_code(&app, &user, &[]).await;
    assert_eq!(
        exchange(&app, &code, None, Some(CALLBACK))
            .await
            .status
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn an_expired_code_is_an_invalid_grant() {
    let app = App::demo().await;
    let user = app.user("erin").await;
    let code = fresh_code(&app, &user, &[]).await;
    // Cognito's authorization codes live five minutes.
    app.advance_s(301);
    let r = exchange(&app, &code, None, Some(CALLBACK)).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_exchanges_of_one_code_give_one_token() {
    let app = App::demo().await;
    let user = app.user("heidi").await;
    let code = fresh_code(&app, &user, &[]).await;
    let all = futures_join(20, || exchange(&app, &code, None, Some(CALLBACK))).await;
    let mut statuses: Vec<u16> = all.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort();
    let mut expected = vec![400; 19];
    expected.insert(0, 200);
    assert_eq!(statuses, expected);
    for r in all.iter().filter(|r| r.status.as_u16() == 400) {
        assert_eq!(r.json()["error"], "invalid_grant");
    }
}

/// Runs `n` of the futures `make` makes at once, on the test's runtime.
async fn futures_join<'a, F, Fut>(n: usize, make: F) -> Vec<Reply>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Reply> + 'a,
{
    let mut set = Vec::new();
    for _ in 0..n {
        set.push(make());
    }
    let mut out = Vec::new();
    // join_all without the futures crate: poll them together.
    let mut pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        let mut i = 0;
        while i < pinned.len() {
            if let std::task::Poll::Ready(r) = pinned[i].as_mut().poll(cx) {
                out.push(r);
                drop(pinned.swap_remove(i));
            } else {
                i += 1;
            }
        }
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out
}

#[tokio::test]
async fn a_response_type_the_client_may_not_use_is_unauthorized() {
    let app = App::demo().await;
    let created = app
        .admin(
            "CreateUserPoolClient",
            json!({"UserPoolId": app.out("UserPoolId"), "ClientName": "code-only",
                   "AllowedOAuthFlows": ["code"], "AllowedOAuthScopes": ["openid"],
                   "AllowedOAuthFlowsUserPoolClient": true, "CallbackURLs": [CALLBACK],
                   "SupportedIdentityProviders": ["COGNITO"]}),
        )
        .await
        .expect("client created");
    let id = created["UserPoolClient"]["ClientId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .get(&authorize_url(
            &app,
            &[
                ("client_id", Some(&id)),
                ("response_type", Some("token")),
                ("scope", Some("openid")),
                ("state", Some("s")),
            ],
        ))
        .send()
        .await;
    let location = r.location();
    assert!(location.starts_with(&format!("{CALLBACK}#")), "{location}");
    let q = query(&location);
    assert_eq!(q.len(), 2);
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("unauthorized_client", "s")
    );
}

/// A code stored by an earlier version (before codes were sealed) is
/// still exchanged, once; a sealed code carries none of its grant in
/// the clear.
#[tokio::test]
async fn a_stored_code_of_an_earlier_version_is_still_taken_once() {
    let app = App::demo().await;
    let user = app.user("erin").await;
    let sealed = fresh_code(&app, &user, &[("nonce", Some("nonce-in-the-code"))]).await;
    assert!(sealed.starts_with("v1.") && !sealed.contains("nonce-in-the-code"));
    let store = app.other_node_store().await;
    let pool = app.out("UserPoolId");
    let sub = store
        .user_by_username_key(&pool, "erin")
        .await
        .unwrap()
        .expect("erin")
        .sub;
    let stored = "stored-code-of-an-earlier-version-0123456789";
    store
        .insert_auth_code(&cognate_store::auth_codes::AuthCode {
            code_hash: cognate_identity::crypto::stored_hash(stored),
            pool_id: pool,
            client_id: app.out("UserPoolClientId"),
            sub,
            redirect_uri: CALLBACK.into(),
            scopes: "openid".into(),
            nonce: None,
            code_challenge: None,
            auth_time: app.now_ms() / 1000,
            created_ms: app.now_ms(),
            expires_ms: app.now_ms() + 300_000,
            consumed_ms: None,
            origin_jti: None,
        })
        .await
        .unwrap();
    let first = exchange(&app, stored, None, Some(CALLBACK)).await;
    assert_eq!(first.status.as_u16(), 200, "{}", first.text());
    let first = first.json();
    assert!(first["id_token"].is_string() && first["refresh_token"].is_string());
    let replay = exchange(&app, stored, None, Some(CALLBACK)).await;
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_eq!(userinfo_status(&app, &first).await, 401);
    // A grant too large to seal into a short code (a 1,500-character
    // nonce) is stored: its code is short, and works once.
    let nonce = "n".repeat(1500);
    let long = fresh_code(&app, &user, &[("nonce", Some(nonce.as_str()))]).await;
    assert_eq!(long.len(), 43, "{long}");
    let first = exchange(&app, &long, None, Some(CALLBACK)).await;
    assert_eq!(first.status.as_u16(), 200, "{}", first.text());
    let id_token = claims(first.json()["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], nonce.as_str());
    assert_eq!(
        exchange(&app, &long, None, Some(CALLBACK)).await.json()["error"],
        "invalid_grant"
    );
}
