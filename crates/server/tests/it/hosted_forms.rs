//! The hosted pages' forms, driven as a browser does: the login form's
//! refusals, sign-up and confirmation, the confirmation link, forgotten
//! passwords, the forms' CSRF value, and the new-password page after a
//! temporary password.

use serde_json::json;

use crate::harness::{action, encode, field, link, App, Browser, PASSWORD};
use crate::hosted::{authorize_url, code_of, exchange, login, CALLBACK};

#[tokio::test]
async fn login_form_refusals() {
    let app = App::demo().await;
    let user = app.user("frank").await;
    let hosted = app.out("HostedUiUrl");
    let mut browser = Browser::default();
    let r = browser.get(&app, &authorize_url(&app, &[])).await;
    let page = browser
        .get(&app, &format!("{hosted}{}", r.location()))
        .await
        .text();
    let target = format!("{hosted}{}", action(&page));
    // L15: no or wrong CSRF value: 403, no session.
    for csrf in [None, Some("forged")] {
        let mut form = vec![("username", user.as_str()), ("password", PASSWORD)];
        if let Some(c) = csrf {
            form.push(("_csrf", c));
        }
        let bad = browser.post_form(&app, &target, &form).await;
        assert_eq!(bad.status.as_u16(), 403, "{csrf:?}");
        assert!(bad.set_cookie("cognate_session").is_none());
    }
    let csrf = field(&page, "_csrf").unwrap();
    // Wrong password and unknown user look the same; input is escaped on re-render.
    let wrong = browser
        .post_form(
            &app,
            &target,
            &[
                ("_csrf", &csrf),
                ("username", &user),
                ("password", "Wrong-Passw0rd!"),
            ],
        )
        .await;
    let ghost = browser
        .post_form(
            &app,
            &target,
            &[
                ("_csrf", &csrf),
                ("username", "\"><script>x</script>"),
                ("password", "Wrong-Passw0rd!"),
            ],
        )
        .await;
    for resp in [&wrong, &ghost] {
        assert_eq!(resp.status.as_u16(), 400);
        assert!(resp.text().contains("Incorrect username or password."));
        assert!(resp.set_cookie("cognate_session").is_none());
    }
    assert!(
        !ghost.text().contains("<script>x</script>") && ghost.text().contains("&lt;script&gt;")
    );
    // Logout to an unregistered address: error page, no redirect.
    let out = browser
        .get(
            &app,
            &format!(
                "{hosted}/logout?{}",
                encode(&[
                    ("client_id", &app.out("UserPoolClientId")),
                    ("logout_uri", "https://evil.example/")
                ])
            ),
        )
        .await;
    assert_eq!(out.status.as_u16(), 400);
    assert!(out.header("location").is_none());
}

#[tokio::test]
async fn a_user_who_must_confirm_sees_why() {
    let app = App::demo().await;
    app.public(
        "SignUp",
        json!({"ClientId": app.out("UserPoolClientId"), "Username": "unconfirmed", "Password": PASSWORD}),
    )
    .await
    .expect("signed up");
    let r = login(
        &mut Browser::default(),
        &app,
        &authorize_url(&app, &[]),
        "unconfirmed",
        PASSWORD,
    )
    .await;
    assert_eq!(r.status.as_u16(), 400);
    assert!(r.text().contains("not confirmed"));
}

#[tokio::test]
async fn sign_up_confirm_and_sign_in_through_the_pages() {
    let app = App::demo().await;
    let hosted = app.out("HostedUiUrl");
    let mut browser = Browser::default();
    let first = browser
        .get(
            &app,
            &authorize_url(&app, &[("state", Some("signup-state"))]),
        )
        .await;
    let login_page = browser
        .get(&app, &format!("{hosted}{}", first.location()))
        .await
        .text();
    let signup = link(&login_page, "/signup?").expect("a sign-up link");
    let page = browser.get(&app, &format!("{hosted}{signup}")).await;
    assert_eq!(page.status.as_u16(), 200);
    let html = page.text();
    assert!(html.contains("Create an account"));
    let (csrf, target) = (
        field(&html, "_csrf").unwrap(),
        format!("{hosted}{}", action(&html)),
    );
    let name = "pages";
    let email = "pages@example.com";
    let weak = browser
        .post_form(
            &app,
            &target,
            &[
                ("_csrf", &csrf),
                ("username", name),
                ("email", email),
                ("password", "weak"),
            ],
        )
        .await;
    assert_eq!(weak.status.as_u16(), 400);
    assert!(weak.text().contains("Password did not conform with policy"));
    assert!(
        weak.text().contains(&format!("value=\"{name}\"")),
        "what was typed is kept"
    );
    assert!(weak.text().contains(&format!("value=\"{email}\"")));
    let done = browser
        .post_form(
            &app,
            &target,
            &[
                ("_csrf", &csrf),
                ("username", name),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status.as_u16(), 302);
    assert!(done.location().starts_with("/confirmUser?"));
    let confirm = browser
        .get(&app, &format!("{hosted}{}", done.location()))
        .await
        .text();
    assert!(confirm.contains(&format!("value=\"{name}\"")));
    let (csrf, target) = (
        field(&confirm, "_csrf").unwrap(),
        format!("{hosted}{}", action(&confirm)),
    );
    let code = app.outbox_codes(name).pop().expect("a confirmation code");
    let other = if code == "000000" { "111111" } else { "000000" };
    let wrong = browser
        .post_form(
            &app,
            &target,
            &[("_csrf", &csrf), ("username", name), ("code", other)],
        )
        .await;
    assert_eq!(wrong.status.as_u16(), 400);
    assert!(wrong.text().contains("Invalid verification code"));
    let ok = browser
        .post_form(
            &app,
            &target,
            &[("_csrf", &csrf), ("username", name), ("code", &code)],
        )
        .await;
    assert_eq!(ok.status.as_u16(), 302);
    assert!(ok.location().starts_with("/login?"));
    let page = browser
        .get(&app, &format!("{hosted}{}", ok.location()))
        .await
        .text();
    let (csrf, target) = (
        field(&page, "_csrf").unwrap(),
        format!("{hosted}{}", action(&page)),
    );
    let signed_in = browser
        .post_form(
            &app,
            &target,
            &[
                ("_csrf", &csrf),
                ("username", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    let q = code_of(&signed_in);
    assert_eq!(q["state"], "signup-state");
    assert_eq!(
        exchange(&app, &q["code"], None, Some(CALLBACK))
            .await
            .status
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn confirmation_link_prefills_the_form() {
    let app = App::demo().await;
    app.public(
        "SignUp",
        json!({"ClientId": app.out("UserPoolClientId"), "Username": "link", "Password": PASSWORD,
               "UserAttributes": [{"Name": "email", "Value": "link@example.com"}]}),
    )
    .await
    .expect("signed up");
    let code = app.outbox_codes("link").pop().expect("a code");
    let page = app
        .get(&format!(
            "{}/confirmUser?{}",
            app.out("HostedUiUrl"),
            encode(&[
                ("client_id", &app.out("UserPoolClientId")),
                ("response_type", "code"),
                ("redirect_uri", CALLBACK),
                ("user_name", "link"),
                ("confirmation_code", &code),
            ])
        ))
        .send()
        .await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(
        page.text().contains("value=\"link\"")
            && page.text().contains(&format!("value=\"{code}\""))
    );
}

#[tokio::test]
async fn forgot_password_through_the_pages() {
    let app = App::demo().await;
    let user = app.user("grace").await;
    let hosted = app.out("HostedUiUrl");
    let mut browser = Browser::default();
    let base = encode(&[
        ("client_id", &app.out("UserPoolClientId")),
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
    ]);
    let page = browser
        .get(&app, &format!("{hosted}/forgotPassword?{base}"))
        .await
        .text();
    let sent = browser
        .post_form(
            &app,
            &format!("{hosted}{}", action(&page)),
            &[
                ("_csrf", &field(&page, "_csrf").unwrap()),
                ("username", &user),
            ],
        )
        .await;
    assert_eq!(sent.status.as_u16(), 302);
    assert!(sent.location().starts_with("/confirmForgotPassword?"));
    let page = browser
        .get(&app, &format!("{hosted}{}", sent.location()))
        .await
        .text();
    let code = app.outbox_codes(&user).pop().expect("a reset code");
    let reset = browser
        .post_form(
            &app,
            &format!("{hosted}{}", action(&page)),
            &[
                ("_csrf", &field(&page, "_csrf").unwrap()),
                ("username", &user),
                ("code", &code),
                ("password", "Br4nd-New-Pass!"),
            ],
        )
        .await;
    assert_eq!(reset.status.as_u16(), 302);
    assert!(reset.location().starts_with("/login?"));
    let old = login(
        &mut Browser::default(),
        &app,
        &authorize_url(&app, &[]),
        &user,
        PASSWORD,
    )
    .await;
    assert_eq!(old.status.as_u16(), 400, "the old password is gone");
    let r = login(
        &mut Browser::default(),
        &app,
        &authorize_url(&app, &[]),
        &user,
        "Br4nd-New-Pass!",
    )
    .await;
    assert!(!code_of(&r)["code"].is_empty());
}

#[tokio::test]
async fn page_forms_need_their_csrf_value_and_a_valid_client() {
    let app = App::demo().await;
    let hosted = app.out("HostedUiUrl");
    let base = encode(&[
        ("client_id", &app.out("UserPoolClientId")),
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
    ]);
    for path in [
        "/signup",
        "/confirmUser",
        "/forgotPassword",
        "/confirmForgotPassword",
    ] {
        let r = app
            .post(&format!("{hosted}{path}?{base}"))
            .form(&[("username", "x")])
            .send()
            .await;
        assert_eq!(r.status.as_u16(), 403, "{path}");
        let bad = app
            .get(&format!(
                "{hosted}{path}?client_id=nope&response_type=code&redirect_uri={CALLBACK}"
            ))
            .send()
            .await;
        assert_eq!(
            bad.location(),
            "/error?error=redirect_mismatch&client_id=nope",
            "{path}"
        );
    }
}

#[tokio::test]
async fn temporary_password_leads_to_the_new_password_page() {
    let app = App::demo().await;
    let pool = app.out("UserPoolId");
    app.admin(
        "AdminCreateUser",
        json!({"UserPoolId": pool, "Username": "temp", "TemporaryPassword": "Temp0rary-Pass!",
               "MessageAction": "SUPPRESS"}),
    )
    .await
    .expect("created");
    let hosted = app.out("HostedUiUrl");
    let mut browser = Browser::default();
    let url = authorize_url(&app, &[("state", Some("np"))]);
    let page = login(&mut browser, &app, &url, "temp", "Temp0rary-Pass!").await;
    assert_eq!(page.status.as_u16(), 200);
    let html = page.text();
    assert!(html.contains("Choose a new password"));
    let (csrf, target) = (
        field(&html, "_csrf").unwrap(),
        format!("{hosted}{}", action(&html)),
    );
    let session = field(&html, "session").expect("the challenge session");
    let post = |pw: &'static str, confirm: &'static str| {
        app.post(&target)
            .cookies(&browser.cookies(&hosted))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("session", session.as_str()),
                ("username", "temp"),
                ("password", pw),
                ("confirm", confirm),
            ])
            .send()
    };
    assert!(post("N3w-Passw0rd!", "N3w-Passw0rd?")
        .await
        .text()
        .contains("differ"));
    let weak = post("weak", "weak").await;
    assert_eq!(weak.status.as_u16(), 400);
    assert!(weak.text().contains("Password did not conform with policy"));
    let done = post("N3w-Passw0rd!", "N3w-Passw0rd!").await;
    let q = code_of(&done);
    assert_eq!(q["state"], "np");
    assert_eq!(
        exchange(&app, &q["code"], None, Some(CALLBACK))
            .await
            .status
            .as_u16(),
        200
    );
    let got = app
        .admin(
            "AdminGetUser",
            json!({"UserPoolId": pool, "Username": "temp"}),
        )
        .await
        .unwrap();
    assert_eq!(got["UserStatus"], "CONFIRMED");
    let again = post("An0ther-Passw0rd!", "An0ther-Passw0rd!").await;
    assert_eq!(again.status.as_u16(), 302);
    assert!(
        again.location().starts_with("/login?"),
        "the step is used once"
    );
    let r = login(
        &mut Browser::default(),
        &app,
        &authorize_url(&app, &[]),
        "temp",
        "N3w-Passw0rd!",
    )
    .await;
    assert!(!code_of(&r)["code"].is_empty());
    let no_csrf = app
        .post(&target)
        .form(&[
            ("session", session.as_str()),
            ("password", "x"),
            ("confirm", "x"),
        ])
        .send()
        .await;
    assert_eq!(no_csrf.status.as_u16(), 403);
}
