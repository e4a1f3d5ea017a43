//! The second factor of a hosted sign-in: authenticator setup with a QR
//! code when the pool requires MFA, TOTP codes and email codes.

use super::*;

pub(super) struct MfaPage<'a> {
    pub(super) session: &'a str,
    pub(super) challenge: &'a str,
    /// base32 secret of a new authenticator (MFA_SETUP), shown as text and QR.
    pub(super) secret: &'a str,
    /// Its `otpauth://` URI.
    pub(super) uri: &'a str,
    /// Masked address an EMAIL_OTP code went to.
    pub(super) destination: &'a str,
}

/// An inline SVG QR code (no external image).
pub(super) fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

pub(super) fn mfa_form(
    s: &DomainState,
    headers: &HeaderMap,
    query: &str,
    status: StatusCode,
    p: &MfaPage<'_>,
    error: Option<&str>,
) -> Response {
    let (title, intro) = match p.challenge {
        "MFA_SETUP" => (
            "Set up two-step sign-in",
            "Scan the code with an authenticator app, then enter the 6-digit code it shows."
                .to_string(),
        ),
        "EMAIL_OTP" => (
            "Check your email",
            format!(
                "Enter the code we sent to {}.",
                if p.destination.is_empty() {
                    "your email"
                } else {
                    p.destination
                }
            ),
        ),
        _ => (
            "Two-step sign-in",
            "Enter the 6-digit code from your authenticator app.".to_string(),
        ),
    };
    let before = if p.challenge == "MFA_SETUP" && !p.uri.is_empty() {
        super::templates::totp_setup(&qr_svg(p.uri), p.secret)
    } else {
        String::new()
    };
    form_page_with(
        s,
        headers,
        status,
        title,
        &intro,
        &format!("/mfa?{}", oauth_query(query)),
        &[
            Input {
                name: "session",
                label: "",
                kind: "hidden",
                autocomplete: "",
                value: p.session,
            },
            Input {
                name: "challenge",
                label: "",
                kind: "hidden",
                autocomplete: "",
                value: p.challenge,
            },
            Input {
                name: "secret",
                label: "",
                kind: "hidden",
                autocomplete: "",
                value: p.secret,
            },
            Input {
                name: "uri",
                label: "",
                kind: "hidden",
                autocomplete: "",
                value: p.uri,
            },
            Input {
                name: "destination",
                label: "",
                kind: "hidden",
                autocomplete: "",
                value: p.destination,
            },
            Input {
                name: "code",
                label: "Code",
                kind: "text",
                autocomplete: "one-time-code",
                value: "",
            },
        ],
        "Verify",
        error,
        "",
        &before,
    )
}

pub async fn mfa_submit(
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
    let now = s.app.now();
    match identity
        .hosted_mfa(
            &pool,
            &a.client_id,
            field(&form, "session"),
            field(&form, "code"),
            now,
        )
        .await
    {
        Ok(user) => complete(&s, &a, &user, now / 1000, true).await,
        Err(e) if e.is_internal() => error_page("server_error"),
        Err(e)
            if e.kind == cognate_identity::ErrorKind::NotAuthorized
                && e.message.contains("session") =>
        {
            redirect(&format!("/login?{}", oauth_query(&query)))
        }
        Err(e) => {
            let message = if e.kind == cognate_identity::ErrorKind::CodeMismatch {
                "That code is not right. Try the current one."
            } else {
                e.message.as_str()
            };
            // The displayed fields come back from the form; the server checks
            // the code only against what it stored.
            let page = MfaPage {
                session: field(&form, "session"),
                challenge: field(&form, "challenge"),
                secret: field(&form, "secret"),
                uri: field(&form, "uri"),
                destination: field(&form, "destination"),
            };
            mfa_form(
                &s,
                &headers,
                &query,
                StatusCode::BAD_REQUEST,
                &page,
                Some(message),
            )
        }
    }
}
