"""Seed 001's deployment of cookie sessions (security.md C11): cookies
shared with sibling subdomains carry `Domain` and the `__Secure-` prefix
instead of `__Host-`; the CSRF token stays bound to the session, so a
pair planted from another session is still refused, and only origins
under the cookie domain may make state-changing calls."""

from conftest import Server
from session_helpers import cookie_header, hosted_code, jar, set_cookies
from conftest import PASSWORD, unique

import requests

CONFIG = """
version = 1

[[user_pools]]
name = "shared"
output = "UserPool"
domain = { prefix = "shared" }
[[user_pools.clients]]
name = "web"
output = "UserPoolClient"
explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH"]
allowed_oauth_flows = ["code"]
allowed_oauth_scopes = ["openid", "email"]
callback_urls = ["${api.app}/oauth2/callback"]

[[http_apis]]
name = "app"

[http_apis.session]
user_pool = "shared"
client = "web"
cookie_domain = "example.test"
redirect_to_sign_in = true

[http_apis.authorizers.session]
type = "session"

[http_apis.integrations.callback]
type = "session_callback"
[http_apis.integrations.logout]
type = "session_logout"
redirect = "${domain.shared}/logout"
[http_apis.integrations.login]
type = "session_login"
[http_apis.integrations.hello]
type = "response"
body = "hi"

[[http_apis.routes]]
route = "GET /oauth2/callback"
integration = "callback"
[[http_apis.routes]]
route = "GET /"
authorizer = "session"
integration = "hello"
[[http_apis.routes]]
route = "GET /login"
integration = "login"
[[http_apis.routes]]
route = "POST /logout"
authorizer = "session"
integration = "logout"
"""


def test_c11_subdomain_sessions_use_secure_prefix_domain_and_session_bound_csrf(tmp_path):
    cfg = tmp_path / "shared.toml"
    cfg.write_text(CONFIG)
    s = Server(tmp_path / "data", config=cfg).start()
    try:
        admin = s.client()
        name = unique()
        admin.admin_create_user(UserPoolId=s["UserPoolId"], Username=name, MessageAction="SUPPRESS")
        admin.admin_set_user_password(UserPoolId=s["UserPoolId"], Username=name, Password=PASSWORD, Permanent=True)

        def sign_in():
            r = requests.get(hosted_code(s, name, s["SignInUrl"]), allow_redirects=False, timeout=10)
            assert r.status_code == 302
            return r, jar(r)

        r, cookies = sign_in()
        names = {c.split("=", 1)[0]: c for c in set_cookies(r)}
        assert set(names) >= {"__Secure-cognate-access", "__Secure-cognate-refresh", "__Secure-cognate-csrf"}
        for c in ("__Secure-cognate-access", "__Secure-cognate-refresh", "__Secure-cognate-csrf"):
            assert "Domain=example.test" in names[c] and "Secure" in names[c]
        assert requests.get(s["ApiUrl"] + "/", headers={"Cookie": cookie_header(cookies)}, timeout=10).text == "hi"

        _, other = sign_in()
        planted = dict(cookies, **{"__Secure-cognate-csrf": other["__Secure-cognate-csrf"]})

        def post_logout(jar_, token, origin):
            return requests.post(s["ApiUrl"] + "/logout", timeout=10, allow_redirects=False, headers={
                "Cookie": cookie_header(jar_), "X-CSRF-Token": token, "Origin": origin})

        # C05 still holds across subdomains: another session's pair fails.
        assert post_logout(planted, other["__Secure-cognate-csrf"], "https://app.example.test").status_code == 403
        # Origins outside the cookie domain are refused even with the token.
        assert post_logout(cookies, cookies["__Secure-cognate-csrf"], "https://example.test.evil.example").status_code == 403
        # A sibling subdomain with the right token may; this API's logout
        # goes on through the hosted /logout.
        out = post_logout(cookies, cookies["__Secure-cognate-csrf"], "https://app.example.test")
        assert out.status_code == 302 and out.headers["Location"] == s["HostedUiUrl"] + "/logout"
        cleared = {c.split("=", 1)[0] for c in set_cookies(out) if "Max-Age=0" in c}
        assert cleared == {"__Secure-cognate-access", "__Secure-cognate-refresh", "__Secure-cognate-csrf"}
        # With redirect_to_sign_in, a browser route without a session sends
        # the browser to the login route, which remembers where it was going.
        r = requests.get(s["ApiUrl"] + "/?tab=2", allow_redirects=False, timeout=10)
        assert r.status_code == 302 and r.headers["Location"] == "/login?return=%2F%3Ftab%3D2"
        start = requests.get(s["ApiUrl"] + r.headers["Location"], allow_redirects=False, timeout=10)
        assert start.status_code == 302 and start.headers["Location"].startswith(s["HostedUiUrl"] + "/oauth2/authorize?")
        # The login cookie is host-only even when sessions are shared.
        login = next(c for c in set_cookies(start) if c.startswith("__Host-cognate-login="))
        assert "Domain" not in login
    finally:
        assert s.stop() == 0
