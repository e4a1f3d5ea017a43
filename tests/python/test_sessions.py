"""HttpOnly cookie sessions on the demo API (seed 000's story, natively):
the callback, the session authorizer, CSRF, silent refresh, logout, and the
cookie rows of reference/security.md §2.4. Cookies are handled by hand:
they are `Secure`, which requests would not send over http (browsers do on
loopback; the Chromium test shows that)."""

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from conftest import PASSWORD, Server, faked_clock, unique



def set_cookies(response):
    return response.raw.headers.getlist("Set-Cookie")


def jar(response):
    """name -> value of the cookies a response sets (cleared ones dropped)."""
    out = {}
    for c in set_cookies(response):
        name, value = c.split(";", 1)[0].split("=", 1)
        if "Max-Age=0" in c:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def cookie_header(cookies):
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def hosted_code(server, user, url):
    """Signs in on the hosted pages at `url` (an authorize or login URL);
    returns the callback URL the browser is sent to."""
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False)
    if page.status_code == 302:
        page = browser.get(server["HostedUiUrl"] + page.headers["Location"])
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    r = browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                     data={"_csrf": csrf, "username": user, "password": PASSWORD})
    assert r.status_code == 302, r.text
    return r.headers["Location"]


def signed_in(server, user):
    """The demo's SignInUrl story: returns the session cookies."""
    callback = hosted_code(server, user, server["SignInUrl"])
    assert callback.startswith(server["ApiUrl"] + "/oauth2/callback?code=")
    r = requests.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "/"
    return r, jar(r)


def root(server, cookies=None, **headers):
    if cookies:
        headers["Cookie"] = cookie_header(cookies)
    return requests.get(server["ApiUrl"] + "/", headers=headers, timeout=10)


def logout(server, cookies, **headers):
    headers["Cookie"] = cookie_header(cookies)
    return requests.post(server["ApiUrl"] + "/logout", headers=headers, timeout=10)


def test_callback_sets_http_only_host_cookies_and_root_says_hello(server, user):
    r, cookies = signed_in(server, user)
    by_name = {c.split("=", 1)[0]: c for c in set_cookies(r)}
    access = by_name["__Host-cognate-access"]
    for attr in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=3600"):
        assert attr in access, access
    assert "Domain" not in access
    assert "HttpOnly" in by_name["__Host-cognate-refresh"]
    csrf = by_name["__Host-cognate-csrf"]
    assert "HttpOnly" not in csrf and "Secure" in csrf
    # C10: a clean redirect, no code or state, no referrer.
    assert r.headers["Location"] == "/" and r.headers["Referrer-Policy"] == "no-referrer"
    ok = root(server, cookies)
    assert (ok.status_code, ok.text) == (200, '"Hello from Lambda!"')
    # The route is authorized by the cookie; without one it is 403 Forbidden.
    denied = root(server)
    assert (denied.status_code, denied.text) == (403, '{"message":"Forbidden"}')


def test_c09_tampered_truncated_or_oversized_cookies_are_403(server, user):
    _, cookies = signed_in(server, user)
    token = cookies["__Host-cognate-access"]
    for bad in (token[:-3] + "abc", token[:100], "x" * 8000, "é"):
        r = root(server, {"__Host-cognate-access": bad})
        assert (r.status_code, r.text) == (403, '{"message":"Forbidden"}')


def test_c03_duplicate_or_lookalike_session_cookies_are_not_used(server, user):
    _, cookies = signed_in(server, user)
    token = cookies["__Host-cognate-access"]
    for header in (f"__Host-cognate-access=attacker; __Host-cognate-access={token}",
                   f"__host-cognate-access={token}", f"=__Host-cognate-access={token}"):
        r = requests.get(server["ApiUrl"] + "/", headers={"Cookie": header}, timeout=10)
        assert r.status_code == 403, header


def test_login_route_binds_state_and_pkce_to_a_cookie(server, user):
    start = requests.get(server["ApiUrl"] + "/login?return=/hello", allow_redirects=False, timeout=10)
    assert start.status_code == 302
    login_cookie = jar(start)["__Host-cognate-login"]
    authorize = start.headers["Location"]
    q = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(server["HostedUiUrl"] + "/oauth2/authorize?")
    assert q["code_challenge_method"] == ["S256"] and q["state"][0] and q["code_challenge"][0]
    assert q["redirect_uri"] == [server["ApiUrl"] + "/oauth2/callback"]
    callback = hosted_code(server, user, authorize)
    cq = parse_qs(urlsplit(callback).query)
    assert cq["state"] == q["state"]
    # O16/O17: without the cookie that bound the state, or with another
    # state, the callback refuses and sets no session.
    for cookie in (None, "__Host-cognate-login=" + login_cookie.replace(q["state"][0], "other-state")):
        r = requests.get(callback, headers={"Cookie": cookie} if cookie else {}, allow_redirects=False, timeout=10)
        assert r.status_code == 403 and "__Host-cognate-access" not in jar(r)
    # The refused attempts did not burn the code: the right browser goes on.
    r = requests.get(callback, headers={"Cookie": "__Host-cognate-login=" + login_cookie},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "/hello"
    cookies = jar(r)
    assert "__Host-cognate-login" not in cookies and root(server, cookies).status_code == 200
    # The same code and state again: single use.
    again = requests.get(callback, headers={"Cookie": "__Host-cognate-login=" + login_cookie},
                         allow_redirects=False, timeout=10)
    assert again.status_code == 403


def test_o06_sign_in_returns_only_to_same_origin_paths(server):
    for target in ("//evil.example", "/\\evil.example", "https:evil.example", "https://evil.example/"):
        start = requests.get(server["ApiUrl"] + "/login?" + urlencode({"return": target}),
                             allow_redirects=False, timeout=10)
        login_cookie = jar(start)["__Host-cognate-login"]
        import base64
        back = login_cookie.split(".", 2)[2]
        back = base64.urlsafe_b64decode(back + "=" * (-len(back) % 4)).decode()
        assert back == "/", target


def test_c04_state_changing_requests_need_the_csrf_header(server, user, admin):
    _, cookies = signed_in(server, user)
    csrf = cookies["__Host-cognate-csrf"]
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": csrf + "x"}):
        r = logout(server, cookies, **headers)
        assert (r.status_code, r.text) == (403, '{"message":"Forbidden"}'), headers
    # Header without the cookie, and the token only in the query.
    no_cookie = {k: v for k, v in cookies.items() if k != "__Host-cognate-csrf"}
    assert logout(server, no_cookie, **{"X-CSRF-Token": csrf}).status_code == 403
    r = requests.post(server["ApiUrl"] + "/logout?X-CSRF-Token=" + csrf,
                      headers={"Cookie": cookie_header(cookies)}, timeout=10)
    assert r.status_code == 403
    # Nothing changed: the session still works.
    assert root(server, cookies).status_code == 200


def test_c05_a_planted_token_of_another_session_is_refused(server, user, admin):
    _, victim = signed_in(server, user)
    _, attacker = signed_in(server, user)
    planted = dict(victim, **{"__Host-cognate-csrf": attacker["__Host-cognate-csrf"]})
    r = logout(server, planted, **{"X-CSRF-Token": attacker["__Host-cognate-csrf"]})
    assert r.status_code == 403
    assert root(server, victim).status_code == 200


def test_c06_cross_site_requests_are_refused_even_with_the_token(server, user):
    _, cookies = signed_in(server, user)
    csrf = cookies["__Host-cognate-csrf"]
    for extra in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        r = logout(server, cookies, **{"X-CSRF-Token": csrf, **extra})
        assert r.status_code == 403, extra
    assert root(server, cookies).status_code == 200


def test_c07_logout_is_post_only(server, user):
    _, cookies = signed_in(server, user)
    r = requests.get(server["ApiUrl"] + "/logout", headers={"Cookie": cookie_header(cookies)}, timeout=10)
    assert r.status_code == 404
    assert root(server, cookies).status_code == 200


def test_logout_clears_cookies_and_revokes_c08(server, user):
    _, cookies = signed_in(server, user)
    own_origin = {"Origin": server["ApiUrl"]}
    r = logout(server, cookies, **{"X-CSRF-Token": cookies["__Host-cognate-csrf"], **own_origin})
    assert r.status_code == 204
    cleared = {c.split("=", 1)[0] for c in set_cookies(r) if "Max-Age=0" in c}
    assert cleared == {"__Host-cognate-access", "__Host-cognate-refresh", "__Host-cognate-csrf"}
    # C08: the old cookies, access or refresh, no longer open the session.
    assert root(server, cookies).status_code == 403
    only_refresh = {"__Host-cognate-refresh": cookies["__Host-cognate-refresh"]}
    assert root(server, only_refresh).status_code == 403


def test_silent_refresh_when_the_access_cookie_is_gone(server, user):
    _, cookies = signed_in(server, user)
    only_refresh = {"__Host-cognate-refresh": cookies["__Host-cognate-refresh"]}
    r = root(server, only_refresh)
    assert (r.status_code, r.text) == (200, '"Hello from Lambda!"')
    renewed = jar(r)
    assert renewed["__Host-cognate-access"] != cookies["__Host-cognate-access"]
    # The CSRF token is bound to the sign-in, so it stays the same.
    assert renewed["__Host-cognate-csrf"] == cookies["__Host-cognate-csrf"]
    assert root(server, {"__Host-cognate-access": renewed["__Host-cognate-access"]}).status_code == 200


def test_global_sign_out_ends_the_cookie_session(server, user, admin):
    _, cookies = signed_in(server, user)
    admin.admin_user_global_sign_out(UserPoolId=server["UserPoolId"], Username=user)
    assert root(server, cookies).status_code == 403
    # The refresh cookie is revoked too: no silent way back in.
    assert root(server, {"__Host-cognate-refresh": cookies["__Host-cognate-refresh"]}).status_code == 403


@pytest.fixture
def clocked(tmp_path):
    """A demo server whose wall clock the test moves (libfaketime reads the
    offset from a file on every call; timers keep the real monotonic clock)."""
    clock = tmp_path / "clock"
    clock.write_text("+0\n")
    s = Server(tmp_path / "data", env=faked_clock(clock)).start()
    s.clock = clock
    yield s
    s.stop()


def test_silent_refresh_of_an_expired_access_cookie_then_the_session_ends_with_the_refresh_token(clocked):
    admin = clocked.client()
    name = unique()
    admin.admin_create_user(UserPoolId=clocked["UserPoolId"], Username=name, MessageAction="SUPPRESS")
    admin.admin_set_user_password(UserPoolId=clocked["UserPoolId"], Username=name, Password=PASSWORD, Permanent=True)
    _, cookies = signed_in(clocked, name)
    assert root(clocked, cookies).status_code == 200
    # Two hours later the access cookie has expired: the gateway refreshes
    # with the refresh cookie, the request goes through, new cookies come back.
    clocked.clock.write_text("+2h\n")
    assert root(clocked, {"__Host-cognate-access": cookies["__Host-cognate-access"]}).status_code == 403
    r = root(clocked, cookies)
    assert (r.status_code, r.text) == (200, '"Hello from Lambda!"')
    renewed = jar(r)
    assert renewed["__Host-cognate-access"] != cookies["__Host-cognate-access"]
    assert root(clocked, {"__Host-cognate-access": renewed["__Host-cognate-access"]}).status_code == 200
    # Past the refresh token's 30 days the session is over: 403, cookies cleared.
    clocked.clock.write_text("+31d\n")
    r = root(clocked, cookies)
    assert (r.status_code, r.text) == (403, '{"message":"Forbidden"}')
    cleared = {c.split("=", 1)[0] for c in set_cookies(r) if "Max-Age=0" in c}
    assert "__Host-cognate-refresh" in cleared


def test_a_started_sign_in_does_not_block_the_sign_in_url_and_its_code_needs_its_verifier(server, user):
    start = requests.get(server["ApiUrl"] + "/login", allow_redirects=False, timeout=10)
    login_cookie = "__Host-cognate-login=" + jar(start)["__Host-cognate-login"]
    # The /login flow's code, sent without its state, is refused: it was
    # issued with a PKCE challenge and the verifier stays in the cookie.
    callback = hosted_code(server, user, start.headers["Location"])
    code_only = callback.split("?")[0] + "?code=" + parse_qs(urlsplit(callback).query)["code"][0]
    r = requests.get(code_only, headers={"Cookie": login_cookie}, allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "__Host-cognate-access" not in jar(r)
    # The same browser, abandoning that flow for the SignInUrl, signs in.
    plain = hosted_code(server, user, server["SignInUrl"])
    r = requests.get(plain, headers={"Cookie": login_cookie}, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert "__Host-cognate-access" in jar(r)
