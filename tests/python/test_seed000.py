"""Seed 000 as its authors built it: their own two functions, written
from the write-up (tests/fixtures/functions/seed000: oAuth2Callback with
axios and qs, oAuth2Authorizer with aws-jwt-verify), run unchanged by
cognate as a function integration and a request authorizer, and the same
story walked in Chromium."""

import json
import shutil
import subprocess

import requests

from conftest import PASSWORD, ROOT, Server, unique

SEED000 = ROOT / "tests" / "fixtures" / "functions" / "seed000"
JS = ROOT / "tests" / "js"

CONFIG = """
version = 1

[[user_pools]]
name = "cookies"
output = "UserPool"
domain = {{ prefix = "cookies" }}
[[user_pools.clients]]
name = "app"
output = "UserPoolClient"
explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH"]
allowed_oauth_flows = ["code"]
allowed_oauth_scopes = ["openid", "email"]
callback_urls = ["${{api.app}}/oauth2/callback"]

[[functions]]
name = "oauth2-callback"
runtime = "nodejs"
code = "{code}"
handler = "oAuth2Callback.handler"
[functions.environment]
TOKEN_ENDPOINT = "${{domain.cookies}}/oauth2/token"
CLIENT_ID = "${{client.cookies.app}}"
CALLBACK_URL = "${{api.app}}/oauth2/callback"

[[functions]]
name = "oauth2-authorizer"
runtime = "nodejs"
code = "{code}"
handler = "oAuth2Authorizer.handler"
[functions.environment]
ISSUER = "${{cognito}}/${{pool.cookies}}"
JWKS_URI = "${{cognito}}/${{pool.cookies}}/.well-known/jwks.json"
CLIENT_ID = "${{client.cookies.app}}"

[[http_apis]]
name = "app"

[http_apis.authorizers.cookie]
type = "request"
function = "oauth2-authorizer"
simple_responses = true

[http_apis.integrations.callback]
type = "lambda"
function = "oauth2-callback"

[http_apis.integrations.hello]
type = "response"
body = '"Hello from Lambda!"'

[[http_apis.routes]]
route = "GET /oauth2/callback"
integration = "callback"

[[http_apis.routes]]
route = "GET /"
authorizer = "cookie"
integration = "hello"
"""


def test_seed_000_functions_run_unchanged_and_the_browser_story_passes(tmp_path):
    assert (SEED000 / "node_modules" / "axios").exists(), "scripts/test installs the seed's npm packages"
    cfg = tmp_path / "seed000.toml"
    cfg.write_text(CONFIG.format(code=SEED000))
    s = Server(tmp_path / "data", config=cfg).start()
    try:
        admin = s.client()
        name = unique("seed000")
        admin.admin_create_user(UserPoolId=s["UserPoolId"], Username=name, MessageAction="SUPPRESS",
                                UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"},
                                                {"Name": "email_verified", "Value": "true"}])
        admin.admin_set_user_password(UserPoolId=s["UserPoolId"], Username=name, Password=PASSWORD, Permanent=True)
        # No cookie: the authorizer function says no -> 403 Forbidden.
        r = requests.get(s["ApiUrl"] + "/", timeout=30)
        assert (r.status_code, r.text) == (403, '{"message":"Forbidden"}')
        r = requests.get(s["ApiUrl"] + "/", headers={"Cookie": "accessToken=forged.token.value"}, timeout=30)
        assert r.status_code == 403
        chromium = shutil.which("chromium")
        payload = {"signInUrl": s["SignInUrl"], "apiUrl": s["ApiUrl"], "username": name, "password": PASSWORD}
        out = subprocess.run(["node", str(JS / "seed000-browser.mjs")], input=json.dumps(payload),
                             capture_output=True, text=True, timeout=180, cwd=JS,
                             env={"PATH": "/usr/bin:/bin", "CHROMIUM": chromium, "HOME": str(tmp_path)})
        assert out.returncode == 0, out.stderr
        seen = json.loads(out.stdout)
        assert seen["ok"], seen
        assert seen["body"] == '"Hello from Lambda!"'
        cookie = next(c for c in seen["cookies"] if c["name"] == "accessToken")
        assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == (True, True, "Lax", "/")
        assert "accessToken" not in seen["visibleToScript"]
        assert (seen["freshStatus"], seen["freshBody"]) == (403, '{"message":"Forbidden"}')
    finally:
        assert s.stop() == 0
