"""MFA on the hosted sign-in page: authenticator setup with a QR code when
the pool requires MFA, then TOTP codes; email codes for users who chose
them."""

import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import requests

from conftest import PASSWORD, ROOT, Server, unique

CALLBACK = "http://localhost:3000/"


def mfa_server(tmp_path):
    demo = (ROOT / "examples" / "demo.toml").read_text()
    config = tmp_path / "mfa.toml"
    config.write_text(demo.replace('alias_attributes = ["email"]', 'alias_attributes = ["email"]\nmfa = "ON"', 1))
    return Server(tmp_path / "data", config=config).start()


def sign_in(s, name):
    browser = requests.Session()
    url = s["HostedUiUrl"] + "/oauth2/authorize?" + urlencode({
        "client_id": s["UserPoolClientId"], "response_type": "code", "redirect_uri": CALLBACK, "state": "m"})
    r = browser.get(url, allow_redirects=False)
    page = browser.get(s["HostedUiUrl"] + r.headers["Location"])
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    action = re.search(r'<form[^>]* action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    return browser, browser.post(s["HostedUiUrl"] + action, allow_redirects=False,
                                 data={"_csrf": csrf, "username": name, "password": PASSWORD})


def answer(s, browser, page, code):
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    action = re.search(r'<form[^>]* action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    return browser.post(s["HostedUiUrl"] + action, allow_redirects=False, data={**fields, "code": code})


def test_setup_with_a_qr_code_then_totp_then_email_codes(tmp_path):
    s = mfa_server(tmp_path)
    try:
        admin = s.client()
        name = unique("hmfa")
        admin.admin_create_user(UserPoolId=s["UserPoolId"], Username=name, MessageAction="SUPPRESS", UserAttributes=[
            {"Name": "email", "Value": f"{name}@example.com"}, {"Name": "email_verified", "Value": "true"}])
        admin.admin_set_user_password(UserPoolId=s["UserPoolId"], Username=name, Password=PASSWORD, Permanent=True)

        browser, setup = sign_in(s, name)
        assert setup.status_code == 200 and "Set up two-step sign-in" in setup.text
        assert "<svg" in setup.text and "cognate_session" not in setup.headers.get("Set-Cookie", "")
        secret = re.search(r'name="secret" value="([A-Z2-7]+)"', setup.text).group(1)
        assert secret in setup.text.split("<form")[0], "the key is shown for typing too"
        wrong = answer(s, browser, setup, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
        assert wrong.status_code == 400 and "not right" in wrong.text
        done = answer(s, browser, wrong, pyotp.TOTP(secret).now())
        assert done.status_code == 302 and done.headers["Location"].startswith(CALLBACK)
        assert parse_qs(urlsplit(done.headers["Location"]).query)["state"] == ["m"]
        assert admin.admin_get_user(UserPoolId=s["UserPoolId"], Username=name)["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]

        browser, totp_page = sign_in(s, name)
        assert "Two-step sign-in" in totp_page.text and "<svg" not in totp_page.text
        ok = answer(s, browser, totp_page, pyotp.TOTP(secret).at(time.time() + 30))
        assert ok.status_code == 302 and "code=" in ok.headers["Location"]

        admin.admin_set_user_mfa_preference(UserPoolId=s["UserPoolId"], Username=name,
                                            EmailMfaSettings={"Enabled": True, "PreferredMfa": True})
        browser, email_page = sign_in(s, name)
        assert "Check your email" in email_page.text and f"{name[0]}***@e***" in email_page.text
        code = s.outbox_codes(name)[-1]["code"]
        ok = answer(s, browser, email_page, code)
        assert ok.status_code == 302 and "code=" in ok.headers["Location"]
        again = answer(s, browser, email_page, code)
        assert again.status_code == 302 and again.headers["Location"].startswith("/login?"), "the step was used"
    finally:
        s.stop()
