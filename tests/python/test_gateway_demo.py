"""The demo HTTP API of DEMO.md and the seeds' HTTP API stories (002, 003,
004), with tokens from the real sign-in flows (boto3, the AWS CLI)."""

import json
import subprocess

import jwt
import pytest
import requests

from conftest import PASSWORD, Server, unique
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


def get(server, path, token=None, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(server["ApiUrl"] + path, headers=headers, timeout=10, **kw)


def test_hello_answers_with_access_and_id_tokens(server, public, user):
    access, id_token = sign_in(server, public, user)
    for token in (access, id_token):
        r = get(server, "/hello", token)
        assert r.status_code == 200
        assert r.text == '"Hello from Lambda!"'
        assert r.headers["content-type"] == "application/json"
        assert r.headers["apigw-requestid"]


def test_hello_without_or_with_a_bad_token_is_401_unauthorized_with_www_authenticate(server):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        r = requests.get(server["ApiUrl"] + "/hello", headers=headers, timeout=10)
        assert r.status_code == 401
        assert r.content == b'{"message":"Unauthorized"}'
        assert r.headers["content-length"] == "26"
        assert r.headers["www-authenticate"].startswith('Bearer scope="" error="invalid_token" error_description="')
        assert r.headers["apigw-requestid"]


def test_whoami_names_the_user_from_access_and_id_tokens(server, public, user):
    access, id_token = sign_in(server, public, user)
    for token in (access, id_token):
        r = get(server, "/whoami", token)
        assert (r.status_code, r.text) == (200, f"Hello, World! I am {user}!")


def test_user_profile_echoes_the_payload_2_event_with_string_claims(server, public, user):
    access, id_token = sign_in(server, public, user)
    r = get(server, "/user/profile?q=1&q=2", id_token, headers={"Cookie": "a=1; b=2", "X-Thing": "x"})
    assert r.status_code == 200
    e = r.json()
    assert e["version"] == "2.0" and e["routeKey"] == "GET /user/profile"
    assert e["rawPath"] == "/user/profile" and e["rawQueryString"] == "q=1&q=2"
    assert e["queryStringParameters"] == {"q": "1,2"}
    assert e["cookies"] == ["a=1", "b=2"] and "cookie" not in e["headers"]
    assert e["headers"]["x-thing"] == "x"
    assert "body" not in e and e["isBase64Encoded"] is False
    rc = e["requestContext"]
    assert rc["routeKey"] == "GET /user/profile" and rc["stage"] == "$default"
    assert rc["http"]["method"] == "GET" and rc["http"]["path"] == "/user/profile"
    assert rc["http"]["sourceIp"] == "127.0.0.1"
    assert rc["requestId"] == r.headers["apigw-requestid"]
    claims = rc["authorizer"]["jwt"]["claims"]
    assert claims["cognito:username"] == user
    assert claims["email_verified"] == "true"
    assert claims["aud"] == server["UserPoolClientId"]
    assert all(isinstance(v, str) for v in claims.values())
    assert rc["authorizer"]["jwt"]["scopes"] is None
    # The access token's claims differ: the seed's "different set of information".
    e2 = get(server, "/user/profile", access).json()
    c2 = e2["requestContext"]["authorizer"]["jwt"]["claims"]
    assert c2["token_use"] == "access" and c2["username"] == user and "aud" not in c2


def test_user_profile_post_echoes_the_body(server, public, user):
    access, _ = sign_in(server, public, user)
    body = {"name": "Ada", "favourite": "∑"}
    r = requests.post(server["ApiUrl"] + "/user/profile", json=body,
                      headers={"Authorization": f"Bearer {access}"}, timeout=10)
    e = r.json()
    assert e["routeKey"] == "POST /user/profile"
    assert json.loads(e["body"]) == body and e["isBase64Encoded"] is False
    form = requests.post(server["ApiUrl"] + "/user/profile", data={"a": "1"},
                         headers={"Authorization": f"Bearer {access}"}, timeout=10).json()
    # Anything but text, JSON, XML and JavaScript arrives base64-encoded.
    assert form["isBase64Encoded"] is True and form["body"] == "YT0x"


def test_reports_needs_the_demo_api_read_scope(server, public, user):
    r = get(server, "/reports", machine_token(server))
    assert r.status_code == 200
    assert r.json()["client_id"] == server["MachineClientId"]
    access, id_token = sign_in(server, public, user)
    for token in (access, id_token):
        r = get(server, "/reports", token)
        assert (r.status_code, r.content) == (403, b'{"message":"Forbidden"}')
        assert "www-authenticate" not in r.headers


def test_unknown_route_is_404_not_found(server):
    for method, path in [("GET", "/nope"), ("DELETE", "/hello"), ("GET", "/hello/")]:
        r = requests.request(method, server["ApiUrl"] + path, timeout=10)
        assert (r.status_code, r.content) == (404, b'{"message":"Not Found"}'), (method, path)


def test_revoked_tokens_are_refused_at_once(server, public, user):
    access, id_token = sign_in(server, public, user)
    assert get(server, "/hello", access).status_code == 200
    public.global_sign_out(AccessToken=access)
    for token in (access, id_token):
        r = get(server, "/hello", token)
        assert r.status_code == 401
        assert "revoked" in r.headers["www-authenticate"]


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


def test_seed_004_profile_routes_unauthorized_then_claims_with_either_token(server, public, user):
    for method in ("GET", "POST"):
        r = requests.request(method, server["ApiUrl"] + "/user/profile", json={"x": 1}, timeout=10)
        assert (r.status_code, r.text) == (401, '{"message":"Unauthorized"}')
    access, id_token = sign_in(server, public, user)
    by_id = get(server, "/user/profile", id_token).json()["requestContext"]["authorizer"]["jwt"]["claims"]
    by_access = get(server, "/user/profile", access).json()["requestContext"]["authorizer"]["jwt"]["claims"]
    assert by_id["token_use"] == "id" and by_id["email"] == f"{user}@example.com"
    assert by_access["token_use"] == "access" and by_access["scope"]


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
