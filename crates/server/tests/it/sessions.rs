//! HttpOnly cookie sessions on the demo API (seed 000's story, natively):
//! the callback, the session authorizer, CSRF, silent refresh, logout, and
//! the cookie rows of reference/security.md §2.4.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::json;

use crate::harness::{action, encode, field, query, unique, App, Browser, Reply, PASSWORD};

const ACCESS: &str = "__Host-cognate-access";
const REFRESH: &str = "__Host-cognate-refresh";
const CSRF: &str = "__Host-cognate-csrf";
const LOGIN: &str = "__Host-cognate-login";

type Jar = BTreeMap<String, String>;

/// Signs in on the hosted pages at `url` (an authorize or login URL) in a
/// browser of its own; returns the callback URL the browser is sent to.
async fn hosted_code(app: &App, user: &str, url: &str) -> String {
    let hosted = app.out("HostedUiUrl");
    let mut browser = Browser::default();
    let mut page = browser.get(app, url).await;
    if page.status.as_u16() == 302 {
        page = browser
            .get(app, &format!("{hosted}{}", page.location()))
            .await;
    }
    let html = page.text();
    let csrf = field(&html, "_csrf").expect("the form's CSRF value");
    let r = browser
        .post_form(
            app,
            &format!("{hosted}{}", action(&html)),
            &[("_csrf", &csrf), ("username", user), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status.as_u16(), 302, "{}", r.text());
    r.location()
}

/// The demo's SignInUrl story: the callback's answer and the session cookies.
async fn signed_in(app: &App, user: &str) -> (Reply, Jar) {
    let callback = hosted_code(app, user, &app.out("SignInUrl")).await;
    assert!(callback.starts_with(&format!("{}/oauth2/callback?code=", app.out("ApiUrl"))));
    let r = app.get(&callback).send().await;
    assert_eq!((r.status.as_u16(), r.location()), (302, "/".to_string()));
    let jar = r.jar();
    (r, jar)
}

async fn root(app: &App, cookies: &Jar) -> Reply {
    let call = app.get(&format!("{}/", app.out("ApiUrl")));
    if cookies.is_empty() {
        call.send().await
    } else {
        call.cookies(cookies).send().await
    }
}

async fn logout(app: &App, cookies: &Jar, headers: &[(&str, &str)]) -> Reply {
    let mut call = app
        .post(&format!("{}/logout", app.out("ApiUrl")))
        .cookies(cookies);
    for (n, v) in headers {
        call = call.header(n, v);
    }
    call.send().await
}

fn only(cookies: &Jar, names: &[&str]) -> Jar {
    cookies
        .iter()
        .filter(|(k, _)| names.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

const FORBIDDEN: &str = r#"{"message":"Forbidden"}"#;
const HELLO: &str = r#""Hello from Lambda!""#;

#[tokio::test]
async fn callback_sets_http_only_host_cookies_and_root_says_hello() {
    let app = App::demo().await;
    let user = app.user("alice").await;
    let (r, cookies) = signed_in(&app, &user).await;
    let access = r.set_cookie(ACCESS).expect("access cookie");
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=3600",
    ] {
        assert!(access.contains(attr), "{access} lacks {attr}");
    }
    assert!(!access.contains("Domain"));
    assert!(r.set_cookie(REFRESH).unwrap().contains("HttpOnly"));
    let csrf = r.set_cookie(CSRF).unwrap();
    assert!(!csrf.contains("HttpOnly") && csrf.contains("Secure"));
    // C10: a clean redirect, no code or state, no referrer.
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(root(&app, &cookies).await.answer(), (200, HELLO.into()));
    // The route is authorized by the cookie; without one it is 403 Forbidden.
    assert_eq!(
        root(&app, &Jar::new()).await.answer(),
        (403, FORBIDDEN.into())
    );
}

#[tokio::test]
async fn c09_tampered_truncated_or_oversized_cookies_are_403() {
    let app = App::demo().await;
    let user = app.user("bob").await;
    let (_, cookies) = signed_in(&app, &user).await;
    let token = &cookies[ACCESS];
    let tampered = format!("{}abc", &token[..token.len() - 3]);
    for bad in [tampered.as_str(), &token[..100], &"x".repeat(8000), "é"] {
        let jar = Jar::from([(ACCESS.to_string(), bad.to_string())]);
        assert_eq!(root(&app, &jar).await.answer(), (403, FORBIDDEN.into()));
    }
}

#[tokio::test]
async fn c03_duplicate_or_lookalike_session_cookies_are_not_used() {
    let app = App::demo().await;
    let user = app.user("carol").await;
    let (_, cookies) = signed_in(&app, &user).await;
    let token = &cookies[ACCESS];
    for header in [
        format!("{ACCESS}=attacker; {ACCESS}={token}"),
        format!("__host-cognate-access={token}"),
        format!("={ACCESS}={token}"),
    ] {
        let r = app
            .get(&format!("{}/", app.out("ApiUrl")))
            .header("cookie", &header)
            .send()
            .await;
        assert_eq!(r.status.as_u16(), 403, "{header}");
    }
    // The same token alone opens the session: the refusals were the shape.
    assert_eq!(
        root(&app, &only(&cookies, &[ACCESS])).await.status.as_u16(),
        200
    );
}

#[tokio::test]
async fn login_route_binds_state_and_pkce_to_a_cookie() {
    let app = App::demo().await;
    let user = app.user("dave").await;
    let api = app.out("ApiUrl");
    let start = app.get(&format!("{api}/login?return=/hello")).send().await;
    assert_eq!(start.status.as_u16(), 302);
    let login_cookie = start.jar()[LOGIN].clone();
    let authorize = start.location();
    let q = query(&authorize);
    assert!(authorize.starts_with(&format!("{}/oauth2/authorize?", app.out("HostedUiUrl"))));
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!q["state"].is_empty() && !q["code_challenge"].is_empty());
    assert_eq!(q["redirect_uri"], format!("{api}/oauth2/callback"));
    let callback = hosted_code(&app, &user, &authorize).await;
    assert_eq!(query(&callback)["state"], q["state"]);
    // O16/O17: without the cookie that bound the state, or with another
    // state, the callback refuses and sets no session.
    let other = format!(
        "{LOGIN}={}",
        login_cookie.replace(&q["state"], "other-state")
    );
    for cookie in [None, Some(other)] {
        let mut call = app.get(&callback);
        if let Some(c) = &cookie {
            call = call.header("cookie", c);
        }
        let r = call.send().await;
        assert_eq!(r.status.as_u16(), 403, "{cookie:?}");
        assert!(!r.jar().contains_key(ACCESS));
    }
    // The refused attempts did not burn the code: the right browser goes on.
    let right = format!("{LOGIN}={login_cookie}");
    let r = app.get(&callback).header("cookie", &right).send().await;
    assert_eq!(
        (r.status.as_u16(), r.location()),
        (302, "/hello".to_string())
    );
    let cookies = r.jar();
    assert!(!cookies.contains_key(LOGIN));
    assert!(r.cleared().contains(LOGIN), "the login cookie is cleared");
    assert_eq!(root(&app, &cookies).await.status.as_u16(), 200);
    // The same code and state again: single use.
    let again = app.get(&callback).header("cookie", &right).send().await;
    assert_eq!(again.status.as_u16(), 403);
}

#[tokio::test]
async fn o06_sign_in_returns_only_to_same_origin_paths() {
    let app = App::demo().await;
    let api = app.out("ApiUrl");
    for (target, kept) in [
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https:evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/reports?x=1", "/reports?x=1"),
    ] {
        let start = app
            .get(&format!("{api}/login?{}", encode(&[("return", target)])))
            .send()
            .await;
        let cookie = start.jar()[LOGIN].clone();
        let back = cookie.splitn(3, '.').nth(2).expect("three parts");
        let back = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(back.trim_end_matches('='))
            .expect("base64url");
        assert_eq!(String::from_utf8(back).unwrap(), kept, "{target}");
    }
}

#[tokio::test]
async fn c04_state_changing_requests_need_the_csrf_header() {
    let app = App::demo().await;
    let user = app.user("erin").await;
    let (_, cookies) = signed_in(&app, &user).await;
    let csrf = cookies[CSRF].clone();
    let longer = format!("{csrf}x");
    for headers in [
        vec![],
        vec![("x-csrf-token", "wrong")],
        vec![("x-csrf-token", longer.as_str())],
    ] {
        let r = logout(&app, &cookies, &headers).await;
        assert_eq!(r.answer(), (403, FORBIDDEN.into()), "{headers:?}");
    }
    // Header without the cookie, and the token only in the query.
    let no_cookie = only(&cookies, &[ACCESS, REFRESH]);
    let r = logout(&app, &no_cookie, &[("x-csrf-token", &csrf)]).await;
    assert_eq!(r.status.as_u16(), 403);
    let r = app
        .post(&format!("{}/logout?X-CSRF-Token={csrf}", app.out("ApiUrl")))
        .cookies(&cookies)
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 403);
    // Nothing changed: the session still works.
    assert_eq!(root(&app, &cookies).await.status.as_u16(), 200);
}

#[tokio::test]
async fn c05_a_planted_token_of_another_session_is_refused() {
    let app = App::demo().await;
    let user = app.user("frank").await;
    let (_, victim) = signed_in(&app, &user).await;
    let (_, attacker) = signed_in(&app, &user).await;
    let mut planted = victim.clone();
    planted.insert(CSRF.into(), attacker[CSRF].clone());
    let r = logout(&app, &planted, &[("x-csrf-token", &attacker[CSRF])]).await;
    assert_eq!(r.status.as_u16(), 403);
    assert_eq!(root(&app, &victim).await.status.as_u16(), 200);
}

#[tokio::test]
async fn c06_cross_site_requests_are_refused_even_with_the_token() {
    let app = App::demo().await;
    let user = app.user("grace").await;
    let (_, cookies) = signed_in(&app, &user).await;
    let csrf = cookies[CSRF].clone();
    for extra in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = logout(&app, &cookies, &[("x-csrf-token", &csrf), extra]).await;
        assert_eq!(r.status.as_u16(), 403, "{extra:?}");
    }
    assert_eq!(root(&app, &cookies).await.status.as_u16(), 200);
}

#[tokio::test]
async fn c07_logout_is_post_only() {
    let app = App::demo().await;
    let user = app.user("heidi").await;
    let (_, cookies) = signed_in(&app, &user).await;
    let r = app
        .get(&format!("{}/logout", app.out("ApiUrl")))
        .cookies(&cookies)
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 404);
    assert_eq!(root(&app, &cookies).await.status.as_u16(), 200);
}

#[tokio::test]
async fn logout_clears_cookies_and_revokes_c08() {
    let app = App::demo().await;
    let user = app.user("ivan").await;
    let (_, cookies) = signed_in(&app, &user).await;
    let api = app.out("ApiUrl");
    let r = logout(
        &app,
        &cookies,
        &[("x-csrf-token", &cookies[CSRF]), ("origin", &api)],
    )
    .await;
    assert_eq!(r.status.as_u16(), 204);
    assert_eq!(
        r.cleared(),
        [ACCESS, REFRESH, CSRF]
            .map(String::from)
            .into_iter()
            .collect()
    );
    // C08: the old cookies, access or refresh, no longer open the session.
    assert_eq!(root(&app, &cookies).await.status.as_u16(), 403);
    assert_eq!(
        root(&app, &only(&cookies, &[REFRESH]))
            .await
            .status
            .as_u16(),
        403
    );
}

#[tokio::test]
async fn silent_refresh_when_the_access_cookie_is_gone() {
    let app = App::demo().await;
    let user = app.user("judy").await;
    let (_, cookies) = signed_in(&app, &user).await;
    let r = root(&app, &only(&cookies, &[REFRESH])).await;
    assert_eq!(r.answer(), (200, HELLO.into()));
    let renewed = r.jar();
    assert_ne!(renewed[ACCESS], cookies[ACCESS]);
    // The CSRF token is bound to the sign-in, so it stays the same.
    assert_eq!(renewed[CSRF], cookies[CSRF]);
    assert_eq!(
        root(&app, &only(&renewed, &[ACCESS])).await.status.as_u16(),
        200
    );
}

#[tokio::test]
async fn global_sign_out_ends_the_cookie_session() {
    let app = App::demo().await;
    let user = app.user("ken").await;
    let (_, cookies) = signed_in(&app, &user).await;
    app.admin(
        "AdminUserGlobalSignOut",
        json!({"UserPoolId": app.out("UserPoolId"), "Username": user}),
    )
    .await
    .expect("signed out");
    assert_eq!(root(&app, &cookies).await.status.as_u16(), 403);
    // The refresh cookie is revoked too: no silent way back in.
    assert_eq!(
        root(&app, &only(&cookies, &[REFRESH]))
            .await
            .status
            .as_u16(),
        403
    );
}

#[tokio::test]
async fn expired_access_cookie_is_refreshed_silently_then_the_session_ends_with_the_refresh_token()
{
    let app = App::demo().await;
    let user = app.user(&unique("clocked")).await;
    let (_, cookies) = signed_in(&app, &user).await;
    assert_eq!(root(&app, &cookies).await.status.as_u16(), 200);
    // Two hours later the access cookie has expired: the gateway refreshes
    // with the refresh cookie, the request goes through, new cookies come back.
    app.advance_s(2 * 3600);
    assert_eq!(
        root(&app, &only(&cookies, &[ACCESS])).await.status.as_u16(),
        403
    );
    let r = root(&app, &cookies).await;
    assert_eq!(r.answer(), (200, HELLO.into()));
    let renewed = r.jar();
    assert_ne!(renewed[ACCESS], cookies[ACCESS]);
    assert_eq!(
        root(&app, &only(&renewed, &[ACCESS])).await.status.as_u16(),
        200
    );
    // Past the refresh token's 30 days the session is over: 403, cookies cleared.
    app.advance_s(31 * 86_400);
    let r = root(&app, &cookies).await;
    assert_eq!(r.answer(), (403, FORBIDDEN.into()));
    assert!(r.cleared().contains(REFRESH));
}

#[tokio::test]
async fn a_started_sign_in_does_not_block_the_sign_in_url_and_its_code_needs_its_verifier() {
    let app = App::demo().await;
    let user = app.user("leo").await;
    let start = app
        .get(&format!("{}/login", app.out("ApiUrl")))
        .send()
        .await;
    let login_cookie = format!("{LOGIN}={}", start.jar()[LOGIN]);
    // The /login flow's code, sent without its state, is refused: it was
    // issued with a PKCE challenge and the verifier stays in the cookie.
    let callback = hosted_code(&app, &user, &start.location()).await;
    let code_only = format!(
        "{}?code={}",
        callback.split('?').next().unwrap(),
        query(&callback)["code"]
    );
    let r = app
        .get(&code_only)
        .header("cookie", &login_cookie)
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 403);
    assert!(!r.jar().contains_key(ACCESS));
    // The same browser, abandoning that flow for the SignInUrl, signs in.
    let plain = hosted_code(&app, &user, &app.out("SignInUrl")).await;
    let r = app.get(&plain).header("cookie", &login_cookie).send().await;
    assert_eq!((r.status.as_u16(), r.location()), (302, "/".to_string()));
    assert!(r.jar().contains_key(ACCESS));
}
