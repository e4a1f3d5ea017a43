//! The sign-up, confirmation and password reset pages, and the
//! new-password step of a sign-in: forms posted back to the pool's domain,
//! each a call of the identity core.

use cognate_identity::api::Operation;

use super::*;

/// The authorization parameters a page carries, without its own fields.
pub(super) fn oauth_query(query: &str) -> String {
    let own = ["username", "user_name", "confirmation_code"];
    let kept: Vec<(String, String)> = pairs(Some(query))
        .into_iter()
        .filter(|(k, _)| !own.contains(&k.as_str()))
        .collect();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish()
}

pub(super) fn query_value(query: &str, name: &str) -> Option<String> {
    pairs(Some(query))
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// A public JSON API operation on behalf of the page's client; for a client
/// with a secret, the page (part of the server) computes SECRET_HASH.
pub(super) async fn public_call(
    s: &DomainState,
    client_id: &str,
    op: Operation,
    mut body: serde_json::Value,
    username: &str,
) -> Result<serde_json::Value, cognate_identity::CognitoError> {
    let identity = &s.app.identity;
    body["ClientId"] = json!(client_id);
    if let Ok(Some(c)) = identity.client(client_id).await {
        if let Some(secret) = &c.secret {
            body["SecretHash"] = json!(crypto::secret_hash(secret, username, client_id));
        }
    }
    identity.call_public(op, body, s.app.now()).await
}

/// Reads the CSRF double submit and the form of a POST.
#[expect(
    clippy::result_large_err,
    reason = "the error is the HTTP answer itself, returned at once"
)]
pub(super) fn posted(headers: &HeaderMap, body: &Bytes) -> Result<Vec<(String, String)>, Response> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = form
        .iter()
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.clone());
    match (cookie(headers, CSRF_COOKIE), field) {
        (Some(c), Some(f)) if !c.is_empty() && crypto::equal(c.as_bytes(), f.as_bytes()) => {
            Ok(form)
        }
        _ => {
            let mut r = error_page("csrf");
            *r.status_mut() = StatusCode::FORBIDDEN;
            Err(r)
        }
    }
}

/// What every hosted POST starts with: the CSRF double submit, the page's
/// authorization parameters, the pool.
pub(super) async fn page_post(
    s: &DomainState,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<
    (
        Vec<(String, String)>,
        Authorization,
        cognate_store::pools::Pool,
    ),
    Response,
> {
    let form = posted(headers, body)?;
    let identity = &s.app.identity;
    let a = identity
        .authorize_request(&s.pool_id, &pairs(Some(&oauth_query(query))))
        .await
        .map_err(authorize_failure)?;
    match identity.pool(&s.pool_id).await {
        Ok(Some(pool)) => Ok((form, a, pool)),
        _ => Err(error_page("server_error")),
    }
}

/// A form field, trimmed (empty when absent): names, emails, codes.
/// A password field exactly as typed: a password is never altered.
pub(super) fn secret_field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

pub(super) fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

pub(super) use super::templates::Input;

/// A form page with the CSRF field and cookie.
#[allow(clippy::too_many_arguments)]
pub(super) fn form_page(
    s: &DomainState,
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    intro: &str,
    action: &str,
    inputs: &[Input<'_>],
    submit: &str,
    error: Option<&str>,
    links: &str,
) -> Response {
    form_page_with(
        s, headers, status, title, intro, action, inputs, submit, error, links, "",
    )
}

/// [`form_page`] with trusted HTML (built and escaped here) before the form.
#[allow(clippy::too_many_arguments)]
pub(super) fn form_page_with(
    s: &DomainState,
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    intro: &str,
    action: &str,
    inputs: &[Input<'_>],
    submit: &str,
    error: Option<&str>,
    links: &str,
    before_form: &str,
) -> Response {
    let csrf = cookie(headers, CSRF_COOKIE)
        .filter(|c| c.len() == 43)
        .unwrap_or_else(|| crypto::b64url(&crypto::random_bytes::<32>()));
    let body = templates::form(&templates::Form {
        title,
        intro,
        action,
        csrf: &csrf,
        inputs,
        submit,
        error,
        links,
        before_form,
    });
    let mut r = page(status, title, &body);
    let c = format!(
        "{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict{}",
        if s.secure { "; Secure" } else { "" }
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&c).expect("cookie is a header value"),
    );
    r
}

/// Checks the page's authorization parameters; returns the client id.
pub(super) async fn page_client(s: &DomainState, query: &str) -> Result<String, Response> {
    s.app
        .identity
        .authorize_request(&s.pool_id, &pairs(Some(&oauth_query(query))))
        .await
        .map(|a| a.client_id)
        .map_err(authorize_failure)
}

pub(super) fn signup_form(
    s: &DomainState,
    headers: &HeaderMap,
    query: &str,
    status: StatusCode,
    username: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    form_page(
        s,
        headers,
        status,
        "Create an account",
        "Sign up with a username, your email and a password.",
        &format!("/signup?{}", oauth_query(query)),
        &[
            Input {
                name: "username",
                label: "Username",
                kind: "text",
                autocomplete: "username",
                value: username,
            },
            Input {
                name: "email",
                label: "Email",
                kind: "email",
                autocomplete: "email",
                value: email,
            },
            Input {
                name: "password",
                label: "Password",
                kind: "password",
                autocomplete: "new-password",
                value: "",
            },
        ],
        "Sign up",
        error,
        &templates::sign_in_link(&oauth_query(query)),
    )
}

pub async fn signup_page(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    if let Err(r) = page_client(&s, &query).await {
        return r;
    }
    signup_form(&s, &headers, &query, StatusCode::OK, "", "", None)
}

pub(super) fn confirm_form(
    s: &DomainState,
    headers: &HeaderMap,
    query: &str,
    status: StatusCode,
    username: &str,
    code: &str,
    error: Option<&str>,
) -> Response {
    form_page(
        s,
        headers,
        status,
        "Confirm your account",
        "Enter the code we sent to your email.",
        &format!("/confirmUser?{}", oauth_query(query)),
        &[
            Input {
                name: "username",
                label: "Username",
                kind: "text",
                autocomplete: "username",
                value: username,
            },
            Input {
                name: "code",
                label: "Verification code",
                kind: "text",
                autocomplete: "one-time-code",
                value: code,
            },
        ],
        "Confirm",
        error,
        "",
    )
}

pub async fn confirm_page(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    if let Err(r) = page_client(&s, &query).await {
        return r;
    }
    let username = query_value(&query, "username")
        .or_else(|| query_value(&query, "user_name"))
        .unwrap_or_default();
    let code = query_value(&query, "confirmation_code").unwrap_or_default();
    confirm_form(&s, &headers, &query, StatusCode::OK, &username, &code, None)
}

pub async fn forgot_page(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    if let Err(r) = page_client(&s, &query).await {
        return r;
    }
    forgot_form(&s, &headers, &query, StatusCode::OK, "", None)
}

pub(super) fn forgot_form(
    s: &DomainState,
    headers: &HeaderMap,
    query: &str,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Response {
    form_page(
        s,
        headers,
        status,
        "Forgot your password?",
        "We will send a code to reset it.",
        &format!("/forgotPassword?{}", oauth_query(query)),
        &[Input {
            name: "username",
            label: "Username or email",
            kind: "text",
            autocomplete: "username",
            value: username,
        }],
        "Send code",
        error,
        "",
    )
}

pub(super) fn reset_form(
    s: &DomainState,
    headers: &HeaderMap,
    query: &str,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Response {
    form_page(
        s,
        headers,
        status,
        "Reset your password",
        "Enter the code we sent you and a new password.",
        &format!("/confirmForgotPassword?{}", oauth_query(query)),
        &[
            Input {
                name: "username",
                label: "Username or email",
                kind: "text",
                autocomplete: "username",
                value: username,
            },
            Input {
                name: "code",
                label: "Code",
                kind: "text",
                autocomplete: "one-time-code",
                value: "",
            },
            Input {
                name: "password",
                label: "New password",
                kind: "password",
                autocomplete: "new-password",
                value: "",
            },
        ],
        "Reset password",
        error,
        "",
    )
}

pub async fn reset_page(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    if let Err(r) = page_client(&s, &query).await {
        return r;
    }
    let username = query_value(&query, "username").unwrap_or_default();
    reset_form(&s, &headers, &query, StatusCode::OK, &username, None)
}

pub(super) fn new_password_form(
    s: &DomainState,
    headers: &HeaderMap,
    query: &str,
    status: StatusCode,
    session: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    form_page(
        s,
        headers,
        status,
        "Choose a new password",
        &format!("{username}, your temporary password must be replaced."),
        &format!("/newPassword?{}", oauth_query(query)),
        &[
            Input {
                name: "session",
                label: "",
                kind: "hidden",
                autocomplete: "",
                value: session,
            },
            Input {
                name: "username",
                label: "",
                kind: "hidden",
                autocomplete: "",
                value: username,
            },
            Input {
                name: "password",
                label: "New password",
                kind: "password",
                autocomplete: "new-password",
                value: "",
            },
            Input {
                name: "confirm",
                label: "Confirm the new password",
                kind: "password",
                autocomplete: "new-password",
                value: "",
            },
        ],
        "Set password and sign in",
        error,
        "",
    )
}

pub async fn new_password_submit(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let (form, a, pool) = match page_post(&s, &query, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let identity = &s.app.identity;
    let (session, username, password, confirm) = (
        field(&form, "session"),
        field(&form, "username"),
        secret_field(&form, "password"),
        secret_field(&form, "confirm"),
    );
    if password != confirm {
        return new_password_form(
            &s,
            &headers,
            &query,
            StatusCode::BAD_REQUEST,
            session,
            username,
            Some("The two passwords differ."),
        );
    }
    let now = s.app.now();
    match identity
        .hosted_new_password(&pool, &a.client_id, session, password, now)
        .await
    {
        Ok(user) => complete(&s, &a, &user, now / 1000, true).await,
        Err(e) if e.is_internal() => error_page("server_error"),
        Err(e) if e.kind == cognate_identity::ErrorKind::NotAuthorized => {
            redirect(&format!("/login?{}", oauth_query(&query)))
        }
        Err(e) => new_password_form(
            &s,
            &headers,
            &query,
            StatusCode::BAD_REQUEST,
            session,
            username,
            Some(&e.message),
        ),
    }
}

/// What a page's form turns into: the operation's request, the user it is
/// for, and the username to show again if it fails.
pub(super) struct Step {
    pub(super) op: Operation,
    pub(super) request: serde_json::Value,
    pub(super) username: String,
}

/// The common path of the sign-up, confirmation and reset forms: CSRF,
/// the page's client, the public operation; then `next` on success or the
/// form again with the error.
pub(super) async fn form_step(
    s: &DomainState,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
    step: impl FnOnce(&[(String, String)]) -> Step,
    next: impl FnOnce(&str, &serde_json::Value) -> String,
    again: impl FnOnce(&[(String, String)], &str) -> Response,
) -> Response {
    let form = match posted(headers, body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let client_id = match page_client(s, query).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Step {
        op,
        request,
        username,
    } = step(&form);
    match public_call(s, &client_id, op, request, &username).await {
        Ok(result) => redirect(&next(&username, &result)),
        Err(e) if e.is_internal() => error_page("server_error"),
        Err(e) => again(&form, &e.message),
    }
}

pub(super) fn with_username(path: &str, query: &str, username: &str) -> String {
    let user: String = url::form_urlencoded::byte_serialize(username.as_bytes()).collect();
    format!("{path}?{}&username={user}", oauth_query(query))
}

pub async fn signup_submit(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let step = |form: &[(String, String)]| Step {
        op: Operation::SignUp,
        request: json!({"Username": field(form, "username"), "Password": secret_field(form, "password"),
            "UserAttributes": [{"Name": "email", "Value": field(form, "email")}]}),
        username: field(form, "username").to_string(),
    };
    form_step(
        &s,
        &query,
        &headers,
        &body,
        step,
        // A PreSignUp function may have confirmed the user: then sign in.
        |u, result| {
            if result["UserConfirmed"] == json!(true) {
                format!("/login?{}", oauth_query(&query))
            } else {
                with_username("/confirmUser", &query, u)
            }
        },
        |form, e| {
            signup_form(
                &s,
                &headers,
                &query,
                StatusCode::BAD_REQUEST,
                field(form, "username"),
                field(form, "email"),
                Some(e),
            )
        },
    )
    .await
}

pub async fn confirm_submit(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let step = |form: &[(String, String)]| Step {
        op: Operation::ConfirmSignUp,
        request: json!({"Username": field(form, "username"), "ConfirmationCode": field(form, "code")}),
        username: field(form, "username").to_string(),
    };
    form_step(
        &s,
        &query,
        &headers,
        &body,
        step,
        |_, _| format!("/login?{}", oauth_query(&query)),
        |form, e| {
            confirm_form(
                &s,
                &headers,
                &query,
                StatusCode::BAD_REQUEST,
                field(form, "username"),
                "",
                Some(e),
            )
        },
    )
    .await
}

pub async fn forgot_submit(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let step = |form: &[(String, String)]| Step {
        op: Operation::ForgotPassword,
        request: json!({"Username": field(form, "username")}),
        username: field(form, "username").to_string(),
    };
    form_step(
        &s,
        &query,
        &headers,
        &body,
        step,
        |u, _| with_username("/confirmForgotPassword", &query, u),
        |form, e| {
            forgot_form(
                &s,
                &headers,
                &query,
                StatusCode::BAD_REQUEST,
                field(form, "username"),
                Some(e),
            )
        },
    )
    .await
}

pub async fn reset_submit(
    State(s): State<DomainState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let step = |form: &[(String, String)]| Step {
        op: Operation::ConfirmForgotPassword,
        request: json!({"Username": field(form, "username"), "ConfirmationCode": field(form, "code"),
            "Password": secret_field(form, "password")}),
        username: field(form, "username").to_string(),
    };
    form_step(
        &s,
        &query,
        &headers,
        &body,
        step,
        |_, _| format!("/login?{}", oauth_query(&query)),
        |form, e| {
            reset_form(
                &s,
                &headers,
                &query,
                StatusCode::BAD_REQUEST,
                field(form, "username"),
                Some(e),
            )
        },
    )
    .await
}
