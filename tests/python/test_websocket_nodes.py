"""Two cognate nodes sharing one PostgreSQL serve one WebSocket API: a
broadcast sent on either node reaches the connections of both, and
`@connections` calls made to one node reach a connection held by the
other (relayed, signed; reference/apigateway.md §5.6)."""

import os
import subprocess
import time

import boto3
import requests
import botocore.config
import pytest
from websockets.exceptions import ConnectionClosed

from conftest import ROOT, Server, make_user, unique
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
