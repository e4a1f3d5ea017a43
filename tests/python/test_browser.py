"""The hosted pages in headless Chromium (Debian's, driven by
playwright-core): sign up, confirm with the outbox code, sign in, land on
the redirect URI with a code; the implicit flow; the printed SignInUrl.
Screenshots of each page go to tests/artifacts/."""

import json
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from conftest import ARTIFACTS, PASSWORD, ROOT, unique

JS = ROOT / "tests" / "js"


def test_hosted_pages_in_chromium(server):
    chromium = shutil.which("chromium")
    assert chromium, "scripts/test installs Debian's chromium"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = unique("chromium")
    callback = server["ApiUrl"] + "/oauth2/callback"
    payload = {"hostedUrl": server["HostedUiUrl"], "clientId": server["UserPoolClientId"], "callback": callback,
               "signInUrl": server["SignInUrl"], "apiUrl": server["ApiUrl"], "outboxDir": server["OutboxDir"],
               "username": name, "email": f"{name}@example.com", "password": PASSWORD, "artifacts": str(ARTIFACTS)}
    out = subprocess.run(["node", str(JS / "browser.mjs")], input=json.dumps(payload), capture_output=True, text=True,
                         timeout=180, cwd=JS, env={"PATH": "/usr/bin:/bin", "CHROMIUM": chromium, "HOME": str(ARTIFACTS)})
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["ok"], seen
    assert seen["wrongPasswordMessage"].strip() == "Incorrect username or password."
    assert seen["cookieVisibleToScript"] is False

    q = parse_qs(urlsplit(seen["codeUrl"]).query)
    assert q["state"] == ["browser-state"]
    token = requests.post(server["HostedUiUrl"] + "/oauth2/token", timeout=10, data={
        "grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": callback,
        "client_id": server["UserPoolClientId"]})
    assert token.status_code == 200 and token.json()["id_token"]

    fragment = parse_qs(urlsplit(seen["implicitUrl"]).fragment)
    assert fragment["state"] == ["implicit-state"] and fragment["id_token"] and fragment["access_token"]

    # Seed 000 on the demo (issue 5): SignInUrl -> sign in -> the callback
    # sets HttpOnly session cookies -> "/" says hello.
    assert seen["sessionLanding"] == server["ApiUrl"] + "/"
    assert seen["sessionBody"] == '"Hello from Lambda!"'
    cookies = {c["name"]: c for c in seen["sessionCookies"]}
    for name in ("__Host-cognate-access", "__Host-cognate-refresh"):
        c = cookies[name]
        assert (c["httpOnly"], c["secure"], c["sameSite"], c["path"]) == (True, True, "Lax", "/"), c
        assert not c["domain"].startswith(".")
    assert cookies["__Host-cognate-csrf"]["httpOnly"] is False
    # Page JavaScript sees the CSRF cookie only, never a token.
    visible = seen["cookiesVisibleToScript"]
    assert "__Host-cognate-csrf=" in visible
    assert "cognate-access" not in visible and "cognate-refresh" not in visible
    assert seen["accessAfterPlanting"] != "planted"
    assert seen["logoutWithoutHeader"] == 403 and seen["rootAfterRefusedLogout"] == 200
    assert (seen["freshStatus"], seen["freshBody"]) == (403, '{"message":"Forbidden"}')
    assert seen["logoutStatus"] == 204 and seen["rootAfterLogout"] == 403
    # (The hosted pages' own cookies share the host, cookies ignore ports.)
    assert [c for c in seen["cookiesAfterLogout"] if c.startswith("__Host-cognate-")] == []

    for path in seen["screenshots"]:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
