"""The code and implicit flows through the hosted sign-in page, driven as
a browser does (a cookie-keeping HTTP session following the form), and the
OAuth rows of reference/security.md §2.2 that they touch."""

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from conftest import PASSWORD, unique

CALLBACK = "http://localhost:3000/"


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize_url(server, **params):
    base = {"client_id": server["UserPoolClientId"], "response_type": "code", "redirect_uri": CALLBACK,
            "scope": "openid email profile", "state": "st-" + secrets.token_hex(4)}
    base.update(params)
    return server["HostedUiUrl"] + "/oauth2/authorize?" + urlencode({k: v for k, v in base.items() if v is not None})


def login(browser, server, url, username, password=PASSWORD):
    """Follows /oauth2/authorize to the login form and submits it; returns the final redirect."""
    r = browser.get(url, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?"), r.headers
    page = browser.get(server["HostedUiUrl"] + r.headers["Location"])
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    return browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                        data={"_csrf": csrf, "username": username, "password": password})


def code_of(response):
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK), location
    return parse_qs(urlsplit(location).query)


def exchange(server, code, verifier=None, redirect_uri=CALLBACK, client_id=None):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": client_id or server["UserPoolClientId"]}
    if verifier:
        data["code_verifier"] = verifier
    return requests.post(server["HostedUiUrl"] + "/oauth2/token", data=data, timeout=10)


def userinfo(server, access_token):
    return requests.get(server["HostedUiUrl"] + "/oauth2/userInfo", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"})


def test_code_flow_with_pkce_nonce_and_userinfo(server, user):
    browser = requests.Session()
    verifier, challenge = pkce()
    url = authorize_url(server, code_challenge=challenge, code_challenge_method="S256", nonce="n-0S6_WzA2Mj", state="a b&c")
    r = login(browser, server, url, user)
    q = code_of(r)
    assert q["state"] == ["a b&c"], "state comes back byte for byte"
    assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Lax" in r.headers["Set-Cookie"]
    t = exchange(server, q["code"][0], verifier)
    assert t.status_code == 200, t.text
    assert t.headers["Cache-Control"] == "no-store"
    tokens = t.json()
    assert set(tokens) == {"id_token", "access_token", "refresh_token", "expires_in", "token_type"}
    keys = jwt.PyJWKClient(server["IssuerUrl"] + "/.well-known/jwks.json")
    idt = jwt.decode(tokens["id_token"], keys.get_signing_key_from_jwt(tokens["id_token"]).key, algorithms=["RS256"],
                     audience=server["UserPoolClientId"], issuer=server["IssuerUrl"])
    assert idt["nonce"] == "n-0S6_WzA2Mj"
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert idt["at_hash"] == base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")
    at = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert at["scope"] == "openid email profile" and at["username"] == user
    info = userinfo(server, tokens["access_token"])
    assert info.status_code == 200, info.text
    assert info.json()["email"] == f"{user}@example.com" and info.json()["email_verified"] == "true"
    assert info.json()["username"] == user and info.json()["sub"] == at["sub"]
    # The API-issued token lacks openid: userInfo refuses it.
    api = server.client(signed=False).initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=server["UserPoolClientId"],
                                                    AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
    refused = userinfo(server, api["AuthenticationResult"]["AccessToken"])
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert userinfo(server, "").status_code in (400, 401)


def test_single_sign_on_until_logout(server, user):
    browser = requests.Session()
    signed_in = login(browser, server, authorize_url(server), user)
    code_of(signed_in)
    # The hosted session lasts one hour, as Cognito's, and scripts cannot read it.
    session = next(c for c in signed_in.raw.headers.getlist("Set-Cookie") if c.startswith("cognate_session="))
    assert "Max-Age=3600" in session and "HttpOnly" in session and "SameSite=Lax" in session
    # Signed in: the next authorization answers at once, no form.
    again = browser.get(authorize_url(server), allow_redirects=False)
    assert code_of(again)["code"]
    # The same at /authorize (Cognito's other path).
    alias = browser.get(authorize_url(server).replace("/oauth2/authorize?", "/authorize?"), allow_redirects=False)
    assert code_of(alias)["code"]
    # prompt=login asks for the password although the session is there.
    forced = browser.get(authorize_url(server, prompt="login"), allow_redirects=False)
    assert forced.status_code == 302 and forced.headers["Location"].startswith("/login?")
    out = browser.get(server["HostedUiUrl"] + "/logout?" + urlencode({"client_id": server["UserPoolClientId"],
                                                                        "logout_uri": "http://localhost:3000/"}),
                      allow_redirects=False)
    assert out.status_code == 302 and out.headers["Location"] == "http://localhost:3000/"
    after = browser.get(authorize_url(server), allow_redirects=False)
    assert after.headers["Location"].startswith("/login?")
    # prompt=none without a session: login_required back to the client.
    none = browser.get(authorize_url(server, prompt="none", state="s1"), allow_redirects=False)
    assert parse_qs(urlsplit(none.headers["Location"]).query) == {"error": ["login_required"], "state": ["s1"]}


def test_implicit_flow_puts_tokens_in_the_fragment(server, user):
    browser = requests.Session()
    r = login(browser, server, authorize_url(server, response_type="token", state="xyz"), user)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith(CALLBACK + "#") and "?" not in location
    fragment = location.split("#", 1)[1]
    assert [kv.split("=")[0] for kv in fragment.split("&")] == ["id_token", "access_token", "expires_in", "token_type", "state"]
    f = parse_qs(fragment)
    assert f["expires_in"] == ["3600"] and f["token_type"] == ["Bearer"] and f["state"] == ["xyz"]
    assert "refresh_token" not in f
    idt = jwt.decode(f["id_token"][0], options={"verify_signature": False})
    assert idt["cognito:username"] == user and "at_hash" in idt
    only_access = login(requests.Session(), server, authorize_url(server, response_type="token", scope="email openid"), user)
    assert "id_token=" in only_access.headers["Location"]


@pytest.mark.parametrize("redirect", [
    "http://localhost:3000", "http://localhost:3000/x", "http://LOCALHOST:3000/", "https://localhost:3000/",
    "http://localhost:3000/?a=1", "http://localhost:3000/#f", "http://evil.example/", "javascript:alert(1)",
    "http://localhost:3000@evil.example/",
])
def test_unregistered_redirect_uris_never_redirect(server, redirect):
    r = requests.get(authorize_url(server, redirect_uri=redirect), allow_redirects=False, timeout=10)
    # Cognito's error page names the client.
    assert r.status_code == 302
    assert r.headers["Location"] == f"/error?error=redirect_mismatch&client_id={server['UserPoolClientId']}"
    page = requests.get(server["HostedUiUrl"] + r.headers["Location"], timeout=10)
    assert page.status_code == 400 and "redirect_mismatch" in page.text
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_authorization_request_errors_go_back_to_the_client(server):
    def error_of(**params):
        r = requests.get(authorize_url(server, state="s", **params), allow_redirects=False, timeout=10)
        q = parse_qs(urlsplit(r.headers["Location"]).query)
        assert r.headers["Location"].startswith(CALLBACK), r.headers["Location"]
        assert q["state"] == ["s"]
        return q["error"][0]

    _, challenge = pkce()
    assert error_of(code_challenge=challenge, code_challenge_method="plain") == "invalid_request"
    assert error_of(code_challenge=challenge) == "invalid_request"
    assert error_of(code_challenge_method="S256") == "invalid_request"
    assert error_of(scope="openid demo-api/read") == "invalid_scope"
    assert error_of(scope="email") == "invalid_scope", "email needs openid"
    assert error_of(response_type="id_token") == "unsupported_response_type"
    assert error_of(request="eyJ...") == "request_not_supported"
    # The machine client has no callback: redirect_mismatch, never a redirect.
    r = requests.get(authorize_url(server, client_id=server["MachineClientId"]), allow_redirects=False, timeout=10)
    assert r.headers["Location"] == f"/error?error=redirect_mismatch&client_id={server['MachineClientId']}"


def test_codes_are_single_use_and_bound(server, user):
    def fresh_code(**params):
        return code_of(login(requests.Session(), server, authorize_url(server, **params), user))["code"][0]

    verifier, challenge = pkce()
    code = fresh_code(code_challenge=challenge, code_challenge_method="S256")
    first = exchange(server, code, verifier)
    assert first.status_code == 200
    # O07: a replay fails and revokes what the first exchange issued.
    assert exchange(server, code, verifier).json()["error"] == "invalid_grant"
    assert userinfo(server, first.json()["access_token"]).status_code == 401
    refresh = requests.post(server["HostedUiUrl"] + "/oauth2/token", timeout=10, data={
        "grant_type": "refresh_token", "client_id": server["UserPoolClientId"], "refresh_token": first.json()["refresh_token"]})
    assert refresh.json()["error"] == "invalid_grant"
    # O15: a wrong verifier burns the code.
    code = fresh_code(code_challenge=challenge, code_challenge_method="S256")
    assert exchange(server, code, pkce()[0]).json()["error"] == "invalid_grant"
    assert exchange(server, code, verifier).json()["error"] == "invalid_grant"
    # O12: challenge sent, verifier missing. O13: verifier without challenge.
    assert exchange(server, fresh_code(code_challenge=challenge, code_challenge_method="S256")).json()["error"] == "invalid_grant"
    assert exchange(server, fresh_code(), verifier).json()["error"] == "invalid_grant"
    # O10: another redirect_uri, or none.
    assert exchange(server, fresh_code(), redirect_uri=server["ApiUrl"] + "/oauth2/callback").json()["error"] == "invalid_grant"
    assert exchange(server, fresh_code(), redirect_uri=None).json()["error"] == "invalid_grant"
    # O09: another client cannot redeem it.
    stolen = fresh_code()
    other = requests.post(server["HostedUiUrl"] + "/oauth2/token", timeout=10,
                          auth=(server["MachineClientId"], server["MachineClientSecret"]),
                          data={"grant_type": "authorization_code", "code": stolen, "redirect_uri": CALLBACK})
    assert other.json()["error"] in ("invalid_grant", "unauthorized_client")
    assert exchange(server, stolen).json()["error"] == "invalid_grant", "the code was burned by the attempt"
    assert exchange(server, "made-up-code").json()["error"] == "invalid_grant"


def test_login_form_refusals(server, user):
    browser = requests.Session()
    r = browser.get(authorize_url(server), allow_redirects=False)
    page = browser.get(server["HostedUiUrl"] + r.headers["Location"])
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    # L15: no or wrong CSRF value: 403, no session.
    for data in ({"username": user, "password": PASSWORD}, {"username": user, "password": PASSWORD, "_csrf": "forged"}):
        bad = browser.post(server["HostedUiUrl"] + action, data=data, allow_redirects=False)
        assert bad.status_code == 403 and "cognate_session" not in bad.headers.get("Set-Cookie", "")
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    # Wrong password and unknown user look the same; input is escaped on re-render.
    wrong = browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                         data={"_csrf": csrf, "username": user, "password": "Wrong-Passw0rd!"})
    ghost = browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                         data={"_csrf": csrf, "username": '"><script>x</script>', "password": "Wrong-Passw0rd!"})
    for resp in (wrong, ghost):
        assert resp.status_code == 400 and "Incorrect username or password." in resp.text
        assert "cognate_session" not in resp.headers.get("Set-Cookie", "")
    assert "<script>x</script>" not in ghost.text and "&lt;script&gt;" in ghost.text
    # Logout to an unregistered address: error page, no redirect.
    out = browser.get(server["HostedUiUrl"] + "/logout?" + urlencode({"client_id": server["UserPoolClientId"],
                                                                        "logout_uri": "https://evil.example/"}),
                      allow_redirects=False)
    assert out.status_code == 400 and "Location" not in out.headers


def test_a_user_who_must_confirm_sees_why(server, admin):
    name = unique("unconfirmed")
    server.client(signed=False).sign_up(ClientId=server["UserPoolClientId"], Username=name, Password=PASSWORD)
    r = login(requests.Session(), server, authorize_url(server), name)
    assert r.status_code == 400 and "not confirmed" in r.text


def form_of(page):
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    action = re.search(r'<form[^>]* action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    return csrf, action


def test_sign_up_confirm_and_sign_in_through_the_pages(server):
    browser = requests.Session()
    url = authorize_url(server, state="signup-state")
    first = browser.get(url, allow_redirects=False)
    login_page = browser.get(server["HostedUiUrl"] + first.headers["Location"])
    signup_link = re.search(r'href="(/signup\?[^"]+)"', login_page.text).group(1).replace("&amp;", "&")
    page = browser.get(server["HostedUiUrl"] + signup_link)
    assert page.status_code == 200 and "Create an account" in page.text
    csrf, action = form_of(page)
    name = unique("pages")
    weak = browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                        data={"_csrf": csrf, "username": name, "email": f"{name}@example.com", "password": "weak"})
    assert weak.status_code == 400 and "Password did not conform with policy" in weak.text
    assert f'value="{name}"' in weak.text and f'value="{name}@example.com"' in weak.text, "what was typed is kept"
    done = browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                        data={"_csrf": csrf, "username": name, "email": f"{name}@example.com", "password": PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].startswith("/confirmUser?")
    confirm = browser.get(server["HostedUiUrl"] + done.headers["Location"])
    assert f'value="{name}"' in confirm.text
    csrf, action = form_of(confirm)
    code = server.outbox_codes(name)[-1]["code"]
    wrong = browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                         data={"_csrf": csrf, "username": name, "code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 400 and "Invalid verification code" in wrong.text
    ok = browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                      data={"_csrf": csrf, "username": name, "code": code})
    assert ok.status_code == 302 and ok.headers["Location"].startswith("/login?")
    page = browser.get(server["HostedUiUrl"] + ok.headers["Location"])
    csrf, action = form_of(page)
    signed_in = browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                             data={"_csrf": csrf, "username": f"{name}@example.com", "password": PASSWORD})
    q = code_of(signed_in)
    assert q["state"] == ["signup-state"] and q["code"]
    assert exchange(server, q["code"][0]).status_code == 200


def test_confirmation_link_prefills_the_form(server):
    name = unique("link")
    server.client(signed=False).sign_up(ClientId=server["UserPoolClientId"], Username=name, Password=PASSWORD,
                                        UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    code = server.outbox_codes(name)[-1]["code"]
    page = requests.get(server["HostedUiUrl"] + "/confirmUser?" + urlencode({
        "client_id": server["UserPoolClientId"], "response_type": "code", "redirect_uri": CALLBACK,
        "user_name": name, "confirmation_code": code}), timeout=10)
    assert page.status_code == 200 and f'value="{name}"' in page.text and f'value="{code}"' in page.text


def test_forgot_password_through_the_pages(server, user):
    browser = requests.Session()
    base = urlencode({"client_id": server["UserPoolClientId"], "response_type": "code", "redirect_uri": CALLBACK})
    page = browser.get(server["HostedUiUrl"] + "/forgotPassword?" + base)
    csrf, action = form_of(page)
    sent = browser.post(server["HostedUiUrl"] + action, data={"_csrf": csrf, "username": user}, allow_redirects=False)
    assert sent.status_code == 302 and sent.headers["Location"].startswith("/confirmForgotPassword?")
    page = browser.get(server["HostedUiUrl"] + sent.headers["Location"])
    csrf, action = form_of(page)
    code = server.outbox_codes(user)[-1]["code"]
    reset = browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                         data={"_csrf": csrf, "username": user, "code": code, "password": "Br4nd-New-Pass!"})
    assert reset.status_code == 302 and reset.headers["Location"].startswith("/login?")
    r = login(requests.Session(), server, authorize_url(server), user, password="Br4nd-New-Pass!")
    assert code_of(r)["code"]


def test_page_forms_need_their_csrf_value_and_a_valid_client(server):
    base = urlencode({"client_id": server["UserPoolClientId"], "response_type": "code", "redirect_uri": CALLBACK})
    for path in ("/signup", "/confirmUser", "/forgotPassword", "/confirmForgotPassword"):
        r = requests.post(server["HostedUiUrl"] + f"{path}?{base}", data={"username": "x"}, allow_redirects=False, timeout=10)
        assert r.status_code == 403, path
        bad = requests.get(server["HostedUiUrl"] + f"{path}?client_id=nope&response_type=code&redirect_uri={CALLBACK}",
                           allow_redirects=False, timeout=10)
        assert bad.headers["Location"] == "/error?error=redirect_mismatch&client_id=nope", path


def test_temporary_password_leads_to_the_new_password_page(server, admin):
    name = unique("temp")
    admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=name, TemporaryPassword="Temp0rary-Pass!",
                            MessageAction="SUPPRESS")
    browser = requests.Session()
    page = login(browser, server, authorize_url(server, state="np"), name, password="Temp0rary-Pass!")
    assert page.status_code == 200 and "Choose a new password" in page.text
    csrf, action = form_of(page)
    session = re.search(r'name="session" value="([^"]+)"', page.text).group(1)
    post = lambda pw, confirm: browser.post(server["HostedUiUrl"] + action, allow_redirects=False, data={
        "_csrf": csrf, "session": session, "username": name, "password": pw, "confirm": confirm})
    assert "differ" in post("N3w-Passw0rd!", "N3w-Passw0rd?").text
    weak = post("weak", "weak")
    assert weak.status_code == 400 and "Password did not conform with policy" in weak.text
    done = post("N3w-Passw0rd!", "N3w-Passw0rd!")
    q = code_of(done)
    assert q["state"] == ["np"] and exchange(server, q["code"][0]).status_code == 200
    assert admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=name)["UserStatus"] == "CONFIRMED"
    again = post("An0ther-Passw0rd!", "An0ther-Passw0rd!")
    assert again.status_code == 302 and again.headers["Location"].startswith("/login?"), "the step is used once"
    assert code_of(login(requests.Session(), server, authorize_url(server), name, password="N3w-Passw0rd!"))["code"]
    no_csrf = requests.post(server["HostedUiUrl"] + action, data={"session": session, "password": "x", "confirm": "x"},
                            allow_redirects=False, timeout=10)
    assert no_csrf.status_code == 403


def test_twenty_parallel_exchanges_of_one_code_give_one_token(server, user):
    from concurrent.futures import ThreadPoolExecutor
    code = code_of(login(requests.Session(), server, authorize_url(server), user))["code"][0]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: exchange(server, code), range(20)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [400] * 19
    assert all(r.json()["error"] == "invalid_grant" for r in results if r.status_code == 400)


def test_a_response_type_the_client_may_not_use_is_unauthorized(server, admin, user):
    code_only = admin.create_user_pool_client(
        UserPoolId=server["UserPoolId"], ClientName="code-only", AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid"], AllowedOAuthFlowsUserPoolClient=True, CallbackURLs=[CALLBACK],
        SupportedIdentityProviders=["COGNITO"])["UserPoolClient"]["ClientId"]
    r = requests.get(authorize_url(server, client_id=code_only, response_type="token", scope="openid", state="s"),
                     allow_redirects=False, timeout=10)
    assert r.headers["Location"].startswith(CALLBACK + "#")
    assert parse_qs(r.headers["Location"].split("#", 1)[1]) == {"error": ["unauthorized_client"], "state": ["s"]}


def test_redirects_that_carry_codes_or_tokens_send_no_referrer(server, user):
    r = login(requests.Session(), server, authorize_url(server, response_type="token"), user)
    assert r.status_code == 302 and r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-store"
