"""openid-client (npm, v6), unchanged: discovery, the code flow with PKCE
through the hosted sign-in page (driven here as a browser), its ID token
checks (iss, aud, nonce, at_hash, signature), userinfo, refresh and
revocation."""

import json
import re
import subprocess

import requests

from conftest import PASSWORD, ROOT

JS = ROOT / "tests" / "js"
CALLBACK = "http://localhost:3000/"


def rp(payload):
    out = subprocess.run(["node", str(JS / "openid-client.mjs")], input=json.dumps(payload), capture_output=True,
                         text=True, timeout=60, cwd=JS)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"], result
    return result


def test_openid_client_code_flow_with_pkce(server, user):
    common = {"issuer": server["IssuerUrl"], "clientId": server["UserPoolClientId"], "redirectUri": CALLBACK}
    start = rp({**common, "step": "start"})
    assert start["authorizationUrl"].startswith(server["HostedUiUrl"] + "/oauth2/authorize?")
    browser = requests.Session()
    r = browser.get(start["authorizationUrl"], allow_redirects=False, timeout=10)
    page = browser.get(server["HostedUiUrl"] + r.headers["Location"], timeout=10)
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    done = browser.post(server["HostedUiUrl"] + action, allow_redirects=False, timeout=10,
                        data={"_csrf": csrf, "username": user, "password": PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].startswith(CALLBACK)
    finish = rp({**common, "step": "finish", "callbackUrl": done.headers["Location"],
                 "verifier": start["verifier"], "state": start["state"], "nonce": start["nonce"]})
    claims = finish["claims"]
    assert claims["iss"] == server["IssuerUrl"] and claims["aud"] == server["UserPoolClientId"]
    assert claims["nonce"] == start["nonce"] and claims["cognito:username"] == user
    assert finish["userinfo"]["sub"] == claims["sub"] and finish["userinfo"]["email"] == f"{user}@example.com"
    assert finish["refreshedAccessToken"]
    assert finish["revoked"] is True


def test_openid_client_with_the_sign_in_in_chromium(server, user):
    import shutil
    from conftest import ARTIFACTS
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    payload = {"issuer": server["IssuerUrl"], "clientId": server["UserPoolClientId"],
               "redirectUri": server["ApiUrl"] + "/oauth2/callback", "username": user, "password": PASSWORD,
               "screenshot": str(ARTIFACTS / "06-openid-client-login.png")}
    out = subprocess.run(["node", str(JS / "openid-browser.mjs")], input=json.dumps(payload), capture_output=True,
                         text=True, timeout=120, cwd=JS,
                         env={"PATH": "/usr/bin:/bin", "CHROMIUM": shutil.which("chromium"), "HOME": str(ARTIFACTS)})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"], result
    assert result["claims"]["nonce"] == result["nonce"] and result["claims"]["iss"] == server["IssuerUrl"]
    assert result["userinfo"]["sub"] == result["claims"]["sub"]
    assert result["refreshed"] and result["revoked"]
