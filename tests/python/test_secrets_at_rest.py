"""Secrets at rest: with `server.secret_key_file`, the signing keys, the
client secrets, the admin secret key and the session keys are sealed in
the database (AES-256-GCM); every client works unchanged; a key rotation
is a restart with the new key first; without the keys the server refuses
to start rather than run without its secrets."""

import base64
import hashlib
import hmac
import json
import sqlite3
import subprocess

import boto3
import botocore.config
import jwt
import pytest
import requests

from conftest import BINARY, PASSWORD, ROOT, Server, make_user


def secret_hash(secret, username, client_id):
    return base64.b64encode(hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()).decode()


def new_key(key_id):
    out = subprocess.run([BINARY, "keys", "new-secret-key", "--id", key_id], capture_output=True, text=True,
                         check=True).stdout.strip()
    kid, b64 = out.split(" ")
    assert kid == key_id and len(base64.b64decode(b64)) == 32
    return out


def config_with_keys(tmp_path, keyfile):
    text = (ROOT / "examples" / "demo.toml").read_text()
    at = text.index("[[user_pools]]")
    cfg = tmp_path / "sealed.toml"
    cfg.write_text(text[:at] + f'[server]\nsecret_key_file = "{keyfile}"\n\n' + text[at:])
    return cfg


def idp(s):
    return boto3.client("cognito-idp", endpoint_url=s["CognitoEndpoint"], region_name=s["Region"],
                        aws_access_key_id=s["AdminAccessKeyId"], aws_secret_access_key=s["AdminSecretAccessKey"],
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def stored(data_dir, sql):
    with sqlite3.connect(data_dir / "cognate.db") as db:
        return [r[0] for r in db.execute(sql)]


def database_bytes(data_dir):
    return b"".join(p.read_bytes() for p in data_dir.glob("cognate.db*"))


def sign_in_confidential(s, user):
    a = idp(s)
    cid = s["ConfidentialClientId"]
    secret = a.describe_user_pool_client(UserPoolId=s["UserPoolId"], ClientId=cid)["UserPoolClient"]["ClientSecret"]
    r = a.initiate_auth(ClientId=cid, AuthFlow="USER_PASSWORD_AUTH",
                        AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD,
                                        "SECRET_HASH": secret_hash(secret, user, cid)})
    return secret, r["AuthenticationResult"]["AccessToken"]


def verified(s, token):
    keys = requests.get(s["IssuerUrl"] + "/.well-known/jwks.json", timeout=10).json()
    header = jwt.get_unverified_header(token)
    key = next(k for k in keys["keys"] if k["kid"] == header["kid"])
    return jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"], options={"verify_aud": False})


def test_secrets_are_sealed_clients_work_and_a_rotation_is_a_restart(tmp_path):
    keyfile = tmp_path / "keys"
    first = new_key("first")
    keyfile.write_text(first + "\n")
    data = tmp_path / "data"
    s = Server(data, config=config_with_keys(tmp_path, keyfile)).start()
    try:
        user = make_user(s)
        client_secret, token = sign_in_confidential(s, user)
        assert verified(s, token)["username"] == user
        admin_secret = s["AdminSecretAccessKey"]
    finally:
        assert s.stop() == 0
    # Nothing of the secrets is in the database's files, only sealed text.
    raw = database_bytes(data)
    assert client_secret.encode() not in raw and admin_secret.encode() not in raw
    for value in stored(data, "SELECT private_key FROM signing_keys") + \
            stored(data, "SELECT secret FROM app_clients WHERE secret IS NOT NULL"):
        assert value.startswith("sealed:v1:first:")
    assert stored(data, "SELECT value FROM meta WHERE key = 'admin.secret_access_key'")[0].startswith("sealed:v1:first:")

    # Rotation: a new key first, the old one still there; a restart seals
    # every secret with the new key; the same secrets and keys serve on.
    keyfile.write_text(new_key("second") + "\n" + first + "\n")
    s.start()
    try:
        assert s["AdminSecretAccessKey"] == admin_secret
        again, token2 = sign_in_confidential(s, user)
        assert again == client_secret
        assert verified(s, token)["username"] == user, "a token signed before the rotation still verifies"
    finally:
        assert s.stop() == 0
    values = stored(data, "SELECT private_key FROM signing_keys") + stored(data, "SELECT value FROM meta WHERE key = 'admin.secret_access_key'")
    assert values and all(v.startswith("sealed:v1:second:") for v in values)

    # The old key can go now.
    keyfile.write_text(keyfile.read_text().splitlines()[0] + "\n")
    s.start()
    try:
        assert sign_in_confidential(s, user)[0] == client_secret
    finally:
        assert s.stop() == 0

    # Without the keys the server does not start (it could not sign).
    s.config = None
    with pytest.raises(RuntimeError):
        s.start()
    assert "sealed with key second" in (data / "server.log").read_text()


def test_a_database_made_before_sealing_is_sealed_at_the_next_start(tmp_path):
    data = tmp_path / "data"
    s = Server(data).start()
    try:
        user = make_user(s)
        client_secret, _ = sign_in_confidential(s, user)
    finally:
        assert s.stop() == 0
    assert client_secret in stored(data, "SELECT secret FROM app_clients WHERE secret IS NOT NULL")
    keyfile = tmp_path / "keys"
    keyfile.write_text(new_key("k1") + "\n")
    s.config = config_with_keys(tmp_path, keyfile)
    s.start()
    try:
        assert sign_in_confidential(s, user)[0] == client_secret
    finally:
        assert s.stop() == 0
    secrets = stored(data, "SELECT secret FROM app_clients WHERE secret IS NOT NULL")
    assert secrets and all(v.startswith("sealed:v1:k1:") for v in secrets)


def test_a_bad_keyring_is_refused_with_its_line(tmp_path):
    keyfile = tmp_path / "keys"
    keyfile.write_text("k1 c2hvcnQ=\n")
    s = Server(tmp_path / "data", config=config_with_keys(tmp_path, keyfile))
    with pytest.raises(RuntimeError):
        s.start()
    assert "line 1: a key is 32 bytes" in (tmp_path / "data" / "server.log").read_text()
