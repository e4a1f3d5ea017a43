//! The hosted pages' markup, and only markup. Every function takes plain
//! values, escapes each one it puts into the HTML, and returns the HTML
//! text; the handlers choose status, headers and cookies. Written with
//! `format!` over a handful of fixed pages rather than a template engine:
//! the pages are few and small, and one escaping function used by every
//! one of them is easier to audit than an engine's auto-escaping rules.

/// Text made safe for HTML content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
 background:#f3f4f6;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#111827}
main{width:100%;max-width:24rem;margin:1rem;background:#fff;border-radius:.75rem;
 box-shadow:0 1px 3px rgba(0,0,0,.1),0 8px 24px rgba(0,0,0,.06);padding:2rem}
h1{font-size:1.35rem;margin:0 0 .25rem}
p.sub{margin:0 0 1.5rem;color:#4b5563;font-size:.95rem}
label{display:block;font-weight:600;font-size:.9rem;margin:1rem 0 .35rem}
input[type=text],input[type=password]{width:100%;padding:.65rem .75rem;border:1px solid #d1d5db;
 border-radius:.5rem;font-size:1rem}
input:focus,button:focus{outline:3px solid #93c5fd;outline-offset:1px;border-color:#2563eb}
button{width:100%;margin-top:1.5rem;padding:.7rem;border:0;border-radius:.5rem;background:#2563eb;
 color:#fff;font-size:1rem;font-weight:600;cursor:pointer}
button:hover{background:#1d4ed8}
.error{background:#fef2f2;color:#991b1b;border:1px solid #fecaca;border-radius:.5rem;padding:.6rem .75rem;margin:0 0 1rem}
footer{margin-top:1.5rem;font-size:.8rem;color:#6b7280;text-align:center}
p.links{margin:1.25rem 0 0;text-align:center;font-size:.9rem}
.qr{display:flex;justify-content:center;margin:0 0 .75rem}
.qr svg{width:200px;height:200px;background:#fff;border-radius:.5rem}
code{font-family:ui-monospace,monospace;word-break:break-all}
a{color:#2563eb}
a.idp{display:block;margin:.5rem 0;padding:.65rem;border:1px solid #d1d5db;border-radius:.5rem;
 text-align:center;font-weight:600;text-decoration:none;color:#111827;background:#fff}
a.idp:hover{background:#f9fafb}
p.or{text-align:center;color:#6b7280;margin:1rem 0 0;font-size:.9rem}
input[type=email]{width:100%;padding:.65rem .75rem;border:1px solid #d1d5db;border-radius:.5rem;font-size:1rem}
@media (prefers-color-scheme:dark){body{background:#111827;color:#f9fafb}main{background:#1f2937}
 p.sub,footer{color:#d1d5db}input[type=text],input[type=password]{background:#111827;color:#f9fafb;border-color:#4b5563}}
";

/// A whole page around `body` (already HTML).
pub(super) fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}<footer>Secured by cognate</footer></main></body></html>",
        escape(title)
    )
}

/// The body of the sign-in error page, with its code when there is one.
pub(super) fn error(message: &str, code: Option<&str>) -> String {
    let code = code
        .map(|c| format!("<p class=\"sub\">Error code: {}</p>", escape(c)))
        .unwrap_or_default();
    format!(
        "<h1>Sign-in error</h1><p class=\"error\" role=\"alert\">{}</p>{code}",
        escape(message)
    )
}

/// A form's error message, which its inputs name by `aria-describedby`.
fn alert(error: Option<&str>) -> String {
    error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"error\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default()
}

/// The sign-in page.
pub(super) struct Login<'a> {
    pub(super) pool: &'a str,
    /// The authorization's query, carried by the form and the links.
    pub(super) query: &'a str,
    pub(super) csrf: &'a str,
    /// What was typed, shown again.
    pub(super) username: &'a str,
    pub(super) error: Option<&'a str>,
    /// (authorization query, provider name) of each external provider.
    pub(super) providers: &'a [(String, &'a str)],
    /// Whether the pool's users may sign in with a password here.
    pub(super) password: bool,
}

pub(super) fn login(p: &Login<'_>) -> String {
    let error = alert(p.error);
    let described = if error.is_empty() {
        ""
    } else {
        " aria-describedby=\"error\""
    };
    let mut buttons = String::new();
    for (href, name) in p.providers {
        buttons.push_str(&format!(
            "<a class=\"idp\" href=\"/oauth2/authorize?{}\">Continue with {}</a>",
            escape(href),
            escape(name)
        ));
    }
    if !p.password {
        return format!(
            "<h1>Sign in</h1><p class=\"sub\">to {pool}</p>{error}{buttons}",
            pool = escape(p.pool),
        );
    }
    if !buttons.is_empty() {
        buttons.push_str("<p class=\"or\">or</p>");
    }
    format!(
        "<h1>Sign in</h1><p class=\"sub\">to {pool}</p>{error}{buttons}\
         <form name=\"cognitoSignInForm\" method=\"post\" action=\"/login?{action}\" novalidate>\
         <input type=\"hidden\" name=\"_csrf\" value=\"{csrf}\">\
         <label for=\"username\">Username or email</label>\
         <input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" autocapitalize=\"none\" required autofocus value=\"{user}\"{described}>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{described}>\
         <button type=\"submit\" name=\"signInSubmitButton\">Sign in</button></form>\
         <p class=\"links\"><a href=\"/forgotPassword?{action}\">Forgot your password?</a> · \
         <a href=\"/signup?{action}\">Need an account? Sign up</a></p>",
        pool = escape(p.pool),
        action = escape(p.query),
        csrf = escape(p.csrf),
        user = escape(p.username),
    )
}

/// One input of a form page.
pub(super) struct Input<'a> {
    pub(super) name: &'a str,
    pub(super) label: &'a str,
    /// `text`, `password`, `email`, or `hidden`.
    pub(super) kind: &'a str,
    pub(super) autocomplete: &'a str,
    pub(super) value: &'a str,
}

/// A form page (sign-up, confirmation, reset, new password, MFA).
pub(super) struct Form<'a> {
    pub(super) title: &'a str,
    pub(super) intro: &'a str,
    pub(super) action: &'a str,
    pub(super) csrf: &'a str,
    pub(super) inputs: &'a [Input<'a>],
    pub(super) submit: &'a str,
    pub(super) error: Option<&'a str>,
    /// Trusted HTML (made by this module) after the form.
    pub(super) links: &'a str,
    /// Trusted HTML (made by this module) before the form.
    pub(super) before_form: &'a str,
}

pub(super) fn form(p: &Form<'_>) -> String {
    let error = alert(p.error);
    let mut fields = String::new();
    for (i, input) in p.inputs.iter().enumerate() {
        if input.kind == "hidden" {
            fields.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(input.name),
                escape(input.value)
            ));
            continue;
        }
        fields.push_str(&format!(
            "<label for=\"{n}\">{l}</label><input id=\"{n}\" name=\"{n}\" type=\"{t}\" autocomplete=\"{a}\" required{f} value=\"{v}\">",
            n = escape(input.name), l = escape(input.label), t = escape(input.kind), a = escape(input.autocomplete),
            f = if i == 0 { " autofocus" } else { "" }, v = escape(input.value),
        ));
    }
    format!(
        "<h1>{t}</h1><p class=\"sub\">{intro}</p>{error}{before}<form method=\"post\" action=\"{action}\" novalidate>\
         <input type=\"hidden\" name=\"_csrf\" value=\"{csrf}\">{fields}<button type=\"submit\">{submit}</button></form>{links}",
        t = escape(p.title), intro = escape(p.intro), before = p.before_form, action = escape(p.action),
        csrf = escape(p.csrf), submit = escape(p.submit), links = p.links,
    )
}

/// The sign-up page's link back to the sign-in.
pub(super) fn sign_in_link(query: &str) -> String {
    format!(
        "<footer><a href=\"/login?{}\">Already have an account? Sign in</a></footer>",
        escape(query)
    )
}

/// The authenticator app's QR code (an SVG made by the qrcode crate from
/// the otpauth URI) and the key to type instead.
pub(super) fn totp_setup(qr_svg: &str, secret: &str) -> String {
    format!(
        "<div class=\"qr\" role=\"img\" aria-label=\"QR code for your authenticator app\">{qr_svg}</div>\
         <p class=\"sub\">Or enter this key: <code>{}</code></p>",
        escape(secret)
    )
}

/// A page that posts a form at once, by a script allowed by `nonce`
/// (with a button for browsers without scripts).
pub(super) fn auto_post(action: &str, fields: &[(String, String)], nonce: &str) -> String {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signing in</title></head><body>\
         <form method=\"post\" action=\"{}\">{inputs}<noscript><button type=\"submit\">Continue</button></noscript></form>\
         <script nonce=\"{}\">document.forms[0].submit()</script></body></html>",
        escape(action),
        escape(nonce)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "\"><script>alert('x')</script>&";

    /// Nothing a caller passes reaches the page unescaped: no tag, no
    /// quote that would end an attribute.
    #[test]
    fn every_value_is_escaped() {
        let providers = [(HOSTILE.to_string(), HOSTILE)];
        let login = login(&Login {
            pool: HOSTILE,
            query: HOSTILE,
            csrf: HOSTILE,
            username: HOSTILE,
            error: Some(HOSTILE),
            providers: &providers,
            password: true,
        });
        let inputs = [
            Input {
                name: "a",
                label: HOSTILE,
                kind: "text",
                autocomplete: "off",
                value: HOSTILE,
            },
            Input {
                name: "b",
                label: "",
                kind: "hidden",
                autocomplete: "",
                value: HOSTILE,
            },
        ];
        let form = form(&Form {
            title: HOSTILE,
            intro: HOSTILE,
            action: HOSTILE,
            csrf: HOSTILE,
            inputs: &inputs,
            submit: HOSTILE,
            error: Some(HOSTILE),
            links: &sign_in_link(HOSTILE),
            before_form: &totp_setup("<svg></svg>", HOSTILE),
        });
        let pages = [
            layout(HOSTILE, ""),
            error(HOSTILE, Some(HOSTILE)),
            login,
            form,
            auto_post(HOSTILE, &[(HOSTILE.into(), HOSTILE.into())], HOSTILE),
        ];
        for page in pages {
            assert!(!page.contains("<script>alert"), "{page}");
            assert!(!page.contains(HOSTILE) && !page.contains("'x'"), "{page}");
            assert!(
                page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"),
                "{page}"
            );
        }
    }
}
