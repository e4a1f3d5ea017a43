"""Two cognate nodes sharing one PostgreSQL serve one WebSocket API: a
broadcast sent on either node reaches the connections of both, and
`@connections` calls made to one node reach a connection held by the
other (relayed, signed; reference/apigateway.md §5.6)."""

import os
import signal
import subprocess
import time

import boto3
import requests
import botocore.config
import pytest
from websockets.exceptions import ConnectionClosed

from conftest import PASSWORD, ROOT, Server, faked_clock, make_user, unique
from test_lifecycle import _pg_schema_url
from ws_helpers import WHOAMI, Session, connect



@pytest.fixture
def nodes(tmp_path):
    base = os.environ.get("COGNATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("COGNATE_TEST_DATABASE_URL is unset: PostgreSQL not tested")
    url, schema = _pg_schema_url(base)
    config = tmp_path / "demo-whoami.toml"
    config.write_text((ROOT / "examples" / "demo.toml").read_text() + WHOAMI)
    started = []
    try:
        for i in range(2):
            s = Server(tmp_path / "data", database_url=url, config=config)
            s.start()
            started.append(s)
        yield started
    finally:
        for s in started:
            s.stop()
        subprocess.run(["psql", base, "-qc", f"DROP SCHEMA {schema} CASCADE"], capture_output=True, timeout=30)


def session_on(node, cookies_from):
    s = Session.__new__(Session)
    s.cookies = cookies_from.cookies
    s.csrf = cookies_from.csrf
    s.origin = node["ApiUrl"]
    s.url = node["WebSocketUrl"]
    return s


def manager(node):
    return boto3.client("apigatewaymanagementapi", endpoint_url=node["WebSocketUrl"].replace("ws://", "http://"),
                        region_name=node["Region"], aws_access_key_id=node["AdminAccessKeyId"],
                        aws_secret_access_key=node["AdminSecretAccessKey"],
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def test_broadcasts_and_management_calls_reach_connections_on_the_other_node(nodes):
    a, b = nodes
    name = make_user(a, unique("nodes"))
    # The node started last registered its callback URL with the shared client.
    signed = Session(b, name)
    with connect(session_on(a, signed)) as x, connect(session_on(b, signed)) as y:
        x.send('{"action":"whoami"}')
        x_id = x.recv(timeout=5)
        y.send('{"action":"whoami"}')
        y_id = y.recv(timeout=5)
        assert x_id[:4] != y_id[:4], "each node tags its own connection ids"

        # A broadcast from either node reaches both (the first node learns
        # of the second within its 5 s heartbeat).
        deadline = time.time() + 12
        n = 0
        while True:
            n += 1
            x.send(f'{{"action":"sendmessage","data":"from a {n}"}}')
            assert x.recv(timeout=5) == f"from a {n}"
            try:
                got = y.recv(timeout=1)
                assert got.startswith("from a ")
                break
            except TimeoutError:
                assert time.time() < deadline, "node a never relayed its broadcast"
        y.send('{"action":"sendmessage","data":"from b"}')
        assert y.recv(timeout=5) == "from b"
        while True:
            got = x.recv(timeout=5)
            if got == "from b":
                break
            assert got.startswith("from a "), got

        # @connections on node a for node b's connection, and back.
        via_a, via_b = manager(a), manager(b)
        via_a.post_to_connection(ConnectionId=y_id, Data=b"relayed to b")
        assert y.recv(timeout=5) == "relayed to b"
        via_b.post_to_connection(ConnectionId=x_id, Data=b"relayed to a")
        assert x.recv(timeout=5) == "relayed to a"
        info = via_a.get_connection(ConnectionId=y_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        via_a.delete_connection(ConnectionId=y_id)
        with pytest.raises(ConnectionClosed) as closed:
            y.recv(timeout=5)
        assert closed.value.rcvd.code == 1000
        for api in (via_a, via_b):
            with pytest.raises(api.exceptions.GoneException):
                api.post_to_connection(ConnectionId=y_id, Data=b"gone")
        # An unsigned relay marker does not bypass the signature.
        r = requests.post(b["WebSocketUrl"].replace("ws://", "http://") + "/@broadcast",
                          headers={"x-cognate-relayed": "1"}, data=b"forged", timeout=5)
        assert r.status_code == 403




@pytest.fixture
def clocked_nodes(tmp_path):
    """Two nodes on one PostgreSQL; the second's wall clock is moved by the
    test (libfaketime reads the offset from a file on every call)."""
    base = os.environ.get("COGNATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("COGNATE_TEST_DATABASE_URL is unset: PostgreSQL not tested")
    url, schema = _pg_schema_url(base)
    config = tmp_path / "demo-whoami.toml"
    config.write_text((ROOT / "examples" / "demo.toml").read_text() + WHOAMI)
    clock = tmp_path / "clock"
    clock.write_text("+0\n")
    started = []
    try:
        started.append(Server(tmp_path / "a", database_url=url, config=config).start())
        b = Server(tmp_path / "b", database_url=url, config=config, env=faked_clock(clock)).start()
        b.clock = clock
        started.append(b)
        yield started
    finally:
        for s in started:
            s.stop()
        subprocess.run(["psql", base, "-qc", f"DROP SCHEMA {schema} CASCADE"], capture_output=True, timeout=30)


def test_a_revocation_on_one_node_is_seen_by_the_other_nodes_gateway_within_its_recheck(clocked_nodes):
    """The gateway caches verified tokens and re-checks revocation made by
    other nodes every 2 s (crates/gateway/src/jwt.rs): moved past that, the
    other node refuses the token on its next request, without waiting."""
    a, b = clocked_nodes
    name = make_user(a, unique("revoke"))
    # Issued by node b (each node is its own issuer unless server.public_url
    # names one), verified and cached by b's gateway.
    on_b = boto3.client("cognito-idp", endpoint_url=b["CognitoEndpoint"], region_name=b["Region"],
                        aws_access_key_id="x", aws_secret_access_key="x")
    token = on_b.initiate_auth(ClientId=b["UserPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})["AuthenticationResult"]["AccessToken"]
    hello = lambda: requests.get(b["ApiUrl"] + "/hello", headers={"Authorization": f"Bearer {token}"}, timeout=10)  # noqa: E731
    assert hello().status_code == 200
    # Revoked through node a.
    a.client().admin_user_global_sign_out(UserPoolId=a["UserPoolId"], Username=name)
    b.clock.write_text("+3s\n")
    r = hello()
    assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"})


def test_websocket_relays_survive_a_nodes_death(clocked_nodes):
    """Node b (holding a connection) is killed with SIGKILL: node b's peer
    keeps serving its own connections at once; `@connections` calls for
    b's connection fail cleanly (500) while b could still be alive, and
    are Gone once b has missed its heartbeats for 20 s (of the survivor's
    clock, which the test moves)."""
    b, a = clocked_nodes  # the clocked node survives
    name = make_user(a, unique("death"))
    signed = Session(a, name)
    with connect(session_on(a, signed)) as x, connect(session_on(b, signed)) as y:
        x.send('{"action":"whoami"}')
        x_id = x.recv(timeout=5)
        y.send('{"action":"whoami"}')
        y_id = y.recv(timeout=5)
        os.kill(b.proc.pid, signal.SIGKILL)
        b.proc.wait()
        # The survivor's own connection: broadcasts and @connections work.
        x.send('{"action":"sendmessage","data":"still here"}')
        assert x.recv(timeout=5) == "still here"
        via_a = manager(a)
        via_a.post_to_connection(ConnectionId=x_id, Data=b"direct")
        assert x.recv(timeout=5) == "direct"
        # The dead node's connection: a clean error, not a hang.
        with pytest.raises(botocore.exceptions.ClientError) as failed:
            via_a.post_to_connection(ConnectionId=y_id, Data=b"to the dead")
        assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        # Past the stale time the dead node is dropped: Gone.
        a.clock.write_text("+30s\n")
        deadline = time.time() + 20  # the next heartbeat (every 5 s)
        while True:
            try:
                via_a.post_to_connection(ConnectionId=y_id, Data=b"to the dead")
            except via_a.exceptions.GoneException:
                break
            except botocore.exceptions.ClientError:
                assert time.time() < deadline, "the dead node was never dropped"
                time.sleep(0.5)
