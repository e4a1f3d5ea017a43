"""Tokens: every claim against reference/cognito.md §2, and verification by
the libraries apps use (PyJWT with the served JWKS, aws-jwt-verify)."""

import base64
import json
import re
import subprocess
import uuid

import jwt
import pytest
import requests

from conftest import PASSWORD, ROOT, Server, unique

JS = ROOT / "tests" / "js"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def header(token):
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def sign_in(server, public, username, client="UserPoolClientId"):
    r = public.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH", ClientId=server[client],
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
    )
    return r["AuthenticationResult"]


def pyjwt_verify(server, token, **kwargs):
    keys = jwt.PyJWKClient(server["IssuerUrl"] + "/.well-known/jwks.json")
    key = keys.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], issuer=server["IssuerUrl"], **kwargs)


def aws_jwt_verify(payload):
    out = subprocess.run(["node", str(JS / "verify.mjs")], input=json.dumps(payload), capture_output=True,
                         text=True, timeout=60, cwd=JS)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_every_claim_of_the_id_and_access_tokens(server, admin, public, user):
    admin.create_group(UserPoolId=server["UserPoolId"], GroupName=f"g-{user}", Precedence=3)
    admin.admin_add_user_to_group(UserPoolId=server["UserPoolId"], Username=user, GroupName=f"g-{user}")
    result = sign_in(server, public, user)
    client_id = server["UserPoolClientId"]
    idt = pyjwt_verify(server, result["IdToken"], audience=client_id)
    at = pyjwt_verify(server, result["AccessToken"], options={"verify_aud": False})

    # Headers: kid + RS256, no typ; different keys for the two tokens.
    hi, ha = header(result["IdToken"]), header(result["AccessToken"])
    assert set(hi) == {"kid", "alg"} and set(ha) == {"kid", "alg"}
    assert hi["alg"] == ha["alg"] == "RS256"
    assert len(hi["kid"]) == 44 and hi["kid"] != ha["kid"]

    # ID token (§2.2).
    assert UUID.match(idt["sub"])
    assert idt["iss"] == server["IssuerUrl"]
    assert idt["aud"] == client_id and isinstance(idt["aud"], str)
    assert idt["token_use"] == "id"
    assert idt["cognito:username"] == user
    assert idt["cognito:groups"] == [f"g-{user}"]
    assert idt["email"] == f"{user}@example.com"
    assert idt["email_verified"] is True
    assert idt["exp"] - idt["iat"] == 3600
    assert isinstance(idt["auth_time"], int) and abs(idt["auth_time"] - idt["iat"]) <= 1
    assert UUID.match(idt["jti"]) and UUID.match(idt["origin_jti"]) and UUID.match(idt["event_id"])
    assert "nonce" not in idt and "at_hash" not in idt

    # Access token (§2.3).
    assert at["sub"] == idt["sub"]
    assert at["iss"] == server["IssuerUrl"]
    assert at["client_id"] == client_id and "aud" not in at
    assert at["token_use"] == "access"
    assert at["scope"] == "aws.cognito.signin.user.admin"
    assert at["username"] == user
    assert at["version"] == 2
    assert at["cognito:groups"] == [f"g-{user}"]
    assert at["exp"] - at["iat"] == 3600
    assert at["origin_jti"] == idt["origin_jti"] and at["event_id"] == idt["event_id"]
    assert at["jti"] != idt["jti"] and UUID.match(at["jti"])
    assert set(at) == {"sub", "iss", "client_id", "origin_jti", "event_id", "token_use", "scope",
                       "auth_time", "exp", "iat", "jti", "username", "version", "cognito:groups"}

    # Refresh token (§2.4): opaque, JWE-shaped, 5 parts.
    rt = result["RefreshToken"]
    assert rt.count(".") == 4
    assert rt.startswith("eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.")


def test_claims_of_a_user_without_groups_have_no_groups_claim(server, public, user):
    result = sign_in(server, public, user)
    for t in (result["IdToken"], result["AccessToken"]):
        assert "cognito:groups" not in jwt.decode(t, options={"verify_signature": False})


def test_refresh_keeps_auth_time_and_origin_and_returns_no_refresh_token(server, public, user):
    first = sign_in(server, public, user)
    again = public.initiate_auth(AuthFlow="REFRESH_TOKEN_AUTH", ClientId=server["UserPoolClientId"],
                                 AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]})["AuthenticationResult"]
    assert "RefreshToken" not in again
    a = jwt.decode(first["AccessToken"], options={"verify_signature": False})
    b = pyjwt_verify(server, again["AccessToken"], options={"verify_aud": False})
    assert (a["auth_time"], a["origin_jti"]) == (b["auth_time"], b["origin_jti"])
    assert a["jti"] != b["jti"]
    i = pyjwt_verify(server, again["IdToken"], audience=server["UserPoolClientId"])
    assert i["origin_jti"] == a["origin_jti"]


def test_jwks_holds_only_public_rsa_keys(server):
    r = requests.get(server["IssuerUrl"] + "/.well-known/jwks.json", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    keys = r.json()["keys"]
    assert len(keys) >= 2
    for k in keys:
        assert set(k) == {"alg", "e", "kid", "kty", "n", "use"}
        assert (k["alg"], k["kty"], k["use"], k["e"]) == ("RS256", "RSA", "sig", "AQAB")


def test_discovery_names_the_issuer_and_its_keys(server):
    d = requests.get(server["IssuerUrl"] + "/.well-known/openid-configuration", timeout=10).json()
    assert d["issuer"] == server["IssuerUrl"]
    assert d["jwks_uri"] == server["IssuerUrl"] + "/.well-known/jwks.json"
    assert d["id_token_signing_alg_values_supported"] == ["RS256"]


def test_aws_jwt_verify_accepts_both_tokens(server, public, user):
    result = sign_in(server, public, user)
    common = {"mode": "generic", "issuer": server["IssuerUrl"],
              "jwksUri": server["IssuerUrl"] + "/.well-known/jwks.json", "clientId": server["UserPoolClientId"]}
    id_ok = aws_jwt_verify({**common, "token": result["IdToken"], "tokenUse": "id"})
    assert id_ok["ok"], id_ok
    assert id_ok["payload"]["cognito:username"] == user
    access_ok = aws_jwt_verify({**common, "token": result["AccessToken"], "tokenUse": "access"})
    assert access_ok["ok"], access_ok


def test_aws_jwt_verify_refuses_wrong_client_wrong_use_and_tampering(server, public, user):
    result = sign_in(server, public, user)
    common = {"mode": "generic", "issuer": server["IssuerUrl"],
              "jwksUri": server["IssuerUrl"] + "/.well-known/jwks.json"}
    wrong_client = aws_jwt_verify({**common, "token": result["AccessToken"], "tokenUse": "access",
                                   "clientId": server["ConfidentialClientId"]})
    assert not wrong_client["ok"]
    assert f"Client ID not allowed: {server['UserPoolClientId']}" in wrong_client["error"], wrong_client
    wrong_use = aws_jwt_verify({**common, "token": result["IdToken"], "tokenUse": "access",
                                "clientId": server["UserPoolClientId"]})
    assert not wrong_use["ok"]
    assert "Token use not allowed: id. Expected: access" in wrong_use["error"], wrong_use
    h, p, s = result["AccessToken"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=="))
    claims["username"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    tampered = aws_jwt_verify({**common, "token": f"{h}.{forged}.{s}", "tokenUse": "access",
                               "clientId": server["UserPoolClientId"]})
    assert not tampered["ok"] and "signature" in tampered["error"].lower()


def test_aws_style_issuer_works_with_cognito_jwt_verifier_unchanged(tmp_path):
    demo = (ROOT / "examples" / "demo.toml").read_text()
    config = tmp_path / "aws-issuer.toml"
    config.write_text(demo.replace('name = "demo"\noutput = "UserPool"', 'name = "demo"\noutput = "UserPool"\nissuer = "aws"', 1))
    s = Server(tmp_path / "data", config=config).start()
    try:
        admin, public = s.client(), s.client(signed=False)
        name = unique()
        admin.admin_create_user(UserPoolId=s["UserPoolId"], Username=name, MessageAction="SUPPRESS")
        admin.admin_set_user_password(UserPoolId=s["UserPoolId"], Username=name, Password=PASSWORD, Permanent=True)
        result = sign_in(s, public, name)
        iss = jwt.decode(result["AccessToken"], options={"verify_signature": False})["iss"]
        assert iss == f"https://cognito-idp.us-east-1.amazonaws.com/{s['UserPoolId']}"
        jwks = requests.get(f"{s['CognitoEndpoint']}/{s['UserPoolId']}/.well-known/jwks.json", timeout=10).json()
        for token, use in ((result["AccessToken"], "access"), (result["IdToken"], "id")):
            out = aws_jwt_verify({"mode": "cognito", "userPoolId": s["UserPoolId"], "tokenUse": use,
                                  "clientId": s["UserPoolClientId"], "jwks": jwks, "token": token})
            assert out["ok"], out
    finally:
        s.stop()
