"""The pool domain's OAuth endpoints (HostedUiUrl): POST /oauth2/token with
client_credentials and refresh_token, POST /oauth2/revoke; RFC 6749 error
bodies, reference/security.md §2.2 rows O20, O23-O25."""

import jwt
import pytest
import requests

from conftest import PASSWORD


def token(server, data, auth=None, **kw):
    return requests.post(server["HostedUiUrl"] + "/oauth2/token", data=data, auth=auth, timeout=10, **kw)


def machine(server):
    return (server["MachineClientId"], server["MachineClientSecret"])


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    assert r.json()["error"] == code
    assert set(r.json()) <= {"error", "error_description"}
    assert r.headers["Cache-Control"] == "no-store"
    assert "eyJ" not in r.text


def verified(server, access_token):
    keys = jwt.PyJWKClient(server["IssuerUrl"] + "/.well-known/jwks.json")
    return jwt.decode(access_token, keys.get_signing_key_from_jwt(access_token).key, algorithms=["RS256"],
                      issuer=server["IssuerUrl"], options={"verify_aud": False})


def test_machine_client_gets_a_scoped_access_token(server):
    r = token(server, {"grant_type": "client_credentials", "scope": "demo-api/read"}, auth=machine(server))
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    claims = verified(server, body["access_token"])
    assert claims["sub"] == server["MachineClientId"] == claims["client_id"]
    assert claims["scope"] == "demo-api/read" and claims["token_use"] == "access"
    assert "username" not in claims and "aud" not in claims and "origin_jti" not in claims
    # client_secret_post and an omitted scope (all the client may have) work too.
    post = token(server, {"grant_type": "client_credentials", "client_id": server["MachineClientId"],
                          "client_secret": server["MachineClientSecret"]})
    assert post.status_code == 200
    assert verified(server, post.json()["access_token"])["scope"] == "demo-api/read"


def test_client_credentials_refusals(server):
    # O20: public client, wrong secret (Basic: 401 with a challenge; post: 400), openid.
    assert_error(token(server, {"grant_type": "client_credentials", "client_id": server["UserPoolClientId"]}),
                 400, "invalid_client")
    wrong = token(server, {"grant_type": "client_credentials"}, auth=(server["MachineClientId"], "w" * 51))
    assert_error(wrong, 401, "invalid_client")
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert_error(token(server, {"grant_type": "client_credentials", "client_id": server["MachineClientId"],
                                "client_secret": "w" * 51}), 400, "invalid_client")
    assert_error(token(server, {"grant_type": "client_credentials"}, auth=("no-such-client", "x")), 401, "invalid_client")
    assert_error(token(server, {"grant_type": "client_credentials", "scope": "openid"}, auth=machine(server)),
                 400, "invalid_scope")
    assert_error(token(server, {"grant_type": "client_credentials", "scope": "demo-api/write"}, auth=machine(server)),
                 400, "invalid_scope")
    # A client with a secret but without the flow.
    assert_error(token(server, {"grant_type": "client_credentials"},
                       auth=(server["ConfidentialClientId"], server["ConfidentialClientSecret"])),
                 400, "unauthorized_client")


def test_malformed_token_requests(server):
    url = server["HostedUiUrl"] + "/oauth2/token"
    assert requests.get(url, timeout=10).status_code == 405
    assert_error(requests.post(url, json={"grant_type": "client_credentials"}, auth=machine(server), timeout=10),
                 400, "invalid_request")
    assert_error(token(server, "grant_type=client_credentials&grant_type=client_credentials", auth=machine(server),
                       headers={"Content-Type": "application/x-www-form-urlencoded"}), 400, "invalid_request")
    assert_error(token(server, {"grant_type": "client_credentials", "client_id": server["UserPoolClientId"]},
                       auth=machine(server)), 400, "invalid_request")
    assert_error(token(server, {"grant_type": "password", "username": "x", "password": "y"}, auth=machine(server)),
                 400, "unsupported_grant_type")
    assert_error(token(server, {"client_id": server["UserPoolClientId"]}), 400, "invalid_request")


def sign_in(server, user):
    c = server.client(signed=False)
    return c.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=server["UserPoolClientId"],
                           AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})["AuthenticationResult"]


def test_refresh_token_grant(server, user):
    first = sign_in(server, user)
    r = token(server, {"grant_type": "refresh_token", "client_id": server["UserPoolClientId"],
                       "refresh_token": first["RefreshToken"]})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"access_token", "id_token", "token_type", "expires_in"}
    assert verified(server, r.json()["access_token"])["username"] == user
    # O24: another client cannot use it; O23: garbage or revoked tokens are invalid grants.
    assert_error(token(server, {"grant_type": "refresh_token", "refresh_token": first["RefreshToken"]},
                       auth=(server["ConfidentialClientId"], server["ConfidentialClientSecret"])), 400, "invalid_grant")
    assert_error(token(server, {"grant_type": "refresh_token", "client_id": server["UserPoolClientId"],
                                "refresh_token": "garbage"}), 400, "invalid_grant")
    server.client(signed=False).global_sign_out(AccessToken=first["AccessToken"])
    assert_error(token(server, {"grant_type": "refresh_token", "client_id": server["UserPoolClientId"],
                                "refresh_token": first["RefreshToken"]}), 400, "invalid_grant")


def test_revocation_endpoint(server, user):
    url = server["HostedUiUrl"] + "/oauth2/revoke"
    a, b = sign_in(server, user), sign_in(server, user)
    r = requests.post(url, data={"token": a["RefreshToken"], "client_id": server["UserPoolClientId"]}, timeout=10)
    assert (r.status_code, r.text) == (200, "")
    assert_error(token(server, {"grant_type": "refresh_token", "client_id": server["UserPoolClientId"],
                                "refresh_token": a["RefreshToken"]}), 400, "invalid_grant")
    # The other session is untouched; unknown tokens get the same 200 (RFC 7009).
    assert token(server, {"grant_type": "refresh_token", "client_id": server["UserPoolClientId"],
                          "refresh_token": b["RefreshToken"]}).status_code == 200
    assert requests.post(url, data={"token": "unknown", "client_id": server["UserPoolClientId"]}, timeout=10).status_code == 200
    assert_error(requests.post(url, data={"token": b["AccessToken"], "client_id": server["UserPoolClientId"]}, timeout=10),
                 400, "unsupported_token_type")
    assert_error(requests.post(url, data={"client_id": server["UserPoolClientId"]}, timeout=10), 400, "invalid_request")
    assert_error(requests.post(url, data={"token": b["RefreshToken"]}, auth=("no-such-client", "x"), timeout=10),
                 401, "invalid_client")
    # A client cannot revoke another client's token: 200, and the token still works.
    assert requests.post(url, data={"token": b["RefreshToken"]}, auth=machine(server), timeout=10).status_code == 200
    assert token(server, {"grant_type": "refresh_token", "client_id": server["UserPoolClientId"],
                          "refresh_token": b["RefreshToken"]}).status_code == 200


def test_discovery_advertises_the_endpoints_that_exist(server):
    d = requests.get(server["IssuerUrl"] + "/.well-known/openid-configuration", timeout=10).json()
    assert d["token_endpoint"] == server["HostedUiUrl"] + "/oauth2/token"
    assert d["revocation_endpoint"] == server["HostedUiUrl"] + "/oauth2/revoke"
    assert d["authorization_endpoint"] == server["HostedUiUrl"] + "/oauth2/authorize"
    assert d["userinfo_endpoint"] == server["HostedUiUrl"] + "/oauth2/userInfo"
    assert d["code_challenge_methods_supported"] == ["S256"]


def test_cors_on_the_token_endpoint(server):
    r = requests.options(server["HostedUiUrl"] + "/oauth2/token", timeout=10,
                         headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == "*"
