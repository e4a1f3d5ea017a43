"""Several nodes under faults. The short variant of bench/faults.py runs
here (three nodes on a PostgreSQL of its own under load; a node killed with
SIGKILL, PostgreSQL restarted, the network to it cut; then a SQLite node
killed under writes): every check it makes must hold. And a defect it
found, pinned down without timing: a rotated refresh token reused on a node
whose clock is behind the node that rotated it."""

import json
import os
import subprocess
import sys

import boto3
import botocore.config
import pytest

from conftest import BINARY, PASSWORD, ROOT, Server, faked_clock, make_user
from test_lifecycle import _pg_schema_url

ROTATING = '''
[[user_pools.clients]]
name = "rotating"
output = "RotatingClient"
explicit_auth_flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
refresh_token_rotation = { enabled = true, retry_grace_period_seconds = 0 }
'''


def idp(node):
    return boto3.client("cognito-idp", endpoint_url=node["CognitoEndpoint"], region_name="us-east-1",
                        aws_access_key_id=node["AdminAccessKeyId"], aws_secret_access_key=node["AdminSecretAccessKey"],
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def test_a_rotated_refresh_token_is_refused_on_a_node_whose_clock_is_behind(tmp_path):
    base = os.environ.get("COGNATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("COGNATE_TEST_DATABASE_URL is unset: PostgreSQL not tested")
    url, schema = _pg_schema_url(base)
    text = (ROOT / "examples" / "demo.toml").read_text()
    at = text.index("# Client with a secret")
    cfg = tmp_path / "rotating.toml"
    cfg.write_text(text[:at] + ROTATING + "\n" + text[at:])
    ahead = Server(tmp_path / "a", database_url=url, config=cfg).start()
    behind = Server(tmp_path / "b", database_url=url, config=cfg,
                    env=faked_clock(faketime="-10s")).start()
    try:
        user = make_user(ahead)
        client_id = ahead["RotatingClientId"]
        first = idp(ahead).initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                         AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
        token = first["AuthenticationResult"]["RefreshToken"]
        rotated = idp(ahead).get_tokens_from_refresh_token(RefreshToken=token, ClientId=client_id)
        assert rotated["AuthenticationResult"]["RefreshToken"] != token
        # The same token again, on the node 10 s behind: a reuse, not a
        # retry within a grace period there is none of.
        with pytest.raises(Exception) as reuse:
            idp(behind).get_tokens_from_refresh_token(RefreshToken=token, ClientId=client_id)
        assert reuse.value.response["Error"]["Code"] == "RefreshTokenReuseException"
        # And the reuse revoked the family: the rotated token is dead too.
        with pytest.raises(Exception) as family:
            idp(ahead).get_tokens_from_refresh_token(
                RefreshToken=rotated["AuthenticationResult"]["RefreshToken"], ClientId=client_id)
        assert family.value.response["Error"]["Code"] == "NotAuthorizedException"
    finally:
        ahead.stop()
        behind.stop()
        subprocess.run(["psql", base, "-qc", f"DROP SCHEMA {schema} CASCADE"], capture_output=True, timeout=30)


def test_three_nodes_and_a_sqlite_node_under_faults_lose_nothing_and_allow_nothing():
    if os.geteuid() != 0:
        pytest.skip("not root: bench/faults.py runs a PostgreSQL of its own as the postgres user")
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "faults.py"), "--short", "--binary", BINARY],
                         capture_output=True, text=True, timeout=600)
    report = json.loads(run.stdout)
    pg, lite = report["postgresql"], report["sqlite"]
    assert pg["acknowledged_writes"] > 0 and pg["acknowledged_writes_lost"] == [], pg
    assert pg["double_spends"] == {}, pg
    assert pg["gateway_allowed_by_failure"] == [], pg
    assert all(s is not None for s in pg["recovery_seconds_by_node"]), pg
    # The faults happened under load: every kind of request was answered.
    for op in ("signin", "refresh", "code", "write"):
        assert pg["requests"].get(f"{op}:ok", 0) > 0, (op, pg["requests"])
    assert lite["acknowledged"] > 0 and lite["acknowledged_lost"] == [], lite
    assert run.returncode == 0, run.stderr[-2000:]
