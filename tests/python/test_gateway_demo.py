"""The seeds' HTTP API stories that need real clients: seed 002's AWS CLI
and curl, seed 004's second issuer found by discovery. The demo API's
HTTP behaviour (routes, scopes, events, refusals) is pinned in process
(crates/server/tests/it/gateway_demo.rs)."""

import json
import subprocess

import requests

from conftest import PASSWORD, Server
from test_seeds_cli import cli


def sign_in(server, public, user):
    """USER_PASSWORD_AUTH on the public client: (access token, ID token)."""
    r = public.initiate_auth(
        ClientId=server["UserPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    return r["AccessToken"], r["IdToken"]


def machine_token(server, scope=None):
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    r = requests.post(f"{server['HostedUiUrl']}/oauth2/token", data=data,
                      auth=(server["MachineClientId"], server["MachineClientSecret"]), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_seed_002_cli_id_token_with_curl(server, user):
    """Seed 002: admin-initiate-auth's IdToken, then curl with and without it."""
    out = cli(server, "admin-initiate-auth", "--user-pool-id", server["UserPoolId"],
              "--client-id", server["UserPoolClientId"], "--auth-flow", "ADMIN_USER_PASSWORD_AUTH",
              "--auth-parameters", f"USERNAME={user},PASSWORD={PASSWORD}")
    assert out.returncode == 0, out.stderr
    token = json.loads(out.stdout)["AuthenticationResult"]["IdToken"]
    ok = subprocess.run(["curl", "-s", server["ApiUrl"] + "/hello", "-H", f"Authorization: Bearer {token}"],
                        capture_output=True, text=True, timeout=30)
    assert ok.stdout == '"Hello from Lambda!"'
    denied = subprocess.run(["curl", "-s", server["ApiUrl"] + "/hello"], capture_output=True, text=True, timeout=30)
    assert denied.stdout == '{"message":"Unauthorized"}'


EXTERNAL = """
version = 1

[[http_apis]]
name = "external"

[http_apis.authorizers.other]
type = "jwt"
issuer = "{issuer}"
audience = ["{client}"]

[http_apis.integrations.hello]
type = "response"
body = '"Hello from ${{context.authorizer.claims.iss}}"'

[[http_apis.routes]]
route = "GET /hello"
authorizer = "other"
integration = "hello"
"""


def test_seed_004_external_issuer_by_discovery_accepts_another_cognates_tokens(server, public, user, tmp_path):
    """A second cognate whose API trusts the first one as an external OIDC
    issuer (as seed 004 swaps Cognito for Auth0): keys by discovery."""
    cfg = tmp_path / "external.toml"
    cfg.write_text(EXTERNAL.format(issuer=server["IssuerUrl"], client=server["UserPoolClientId"]))
    other = Server(tmp_path / "other", config=cfg).start()
    try:
        access, id_token = sign_in(server, public, user)
        for token in (access, id_token):
            r = requests.get(other["ApiUrl"] + "/hello", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert (r.status_code, r.text) == (200, f'"Hello from {server["IssuerUrl"]}"')
        machine = machine_token(server)
        r = requests.get(other["ApiUrl"] + "/hello", headers={"Authorization": f"Bearer {machine}"}, timeout=10)
        assert r.status_code == 401
        assert "audience" in r.headers["www-authenticate"]
    finally:
        assert other.stop() == 0
