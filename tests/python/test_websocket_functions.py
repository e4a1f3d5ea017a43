"""WebSocket APIs with functions cognate runs itself (Lambda Runtime API):
seed 001's cookie-parsing `$connect` authorizer in Node.js, a Python
handler for `$connect` (echoing the subprotocol, §5.2) and two-way
messages; the authorizer's principalId and context reach every event."""

import json

import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from conftest import ROOT, Server

FIXTURES = ROOT / "tests" / "fixtures" / "functions" / "websocket"
ORIGIN = "https://app.example.test"

CONFIG = f"""
version = 1

[[functions]]
name = "wsauth"
runtime = "nodejs"
handler = "authorizer.handler"
code = "{FIXTURES}"

[[functions]]
name = "chat"
runtime = "python"
handler = "chat.handler"
code = "{FIXTURES}"

[[websocket_apis]]
name = "fn"
allowed_origins = ["{ORIGIN}"]

[websocket_apis.authorizers.cookie]
type = "request"
function = "wsauth"
identity_sources = ["route.request.header.Cookie", "route.request.querystring.csrf"]

[websocket_apis.integrations.chat]
type = "lambda"
function = "chat"

[[websocket_apis.routes]]
route = "$connect"
authorizer = "cookie"
integration = "chat"

[[websocket_apis.routes]]
route = "$default"
integration = "chat"
route_response = true
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("wsfn")
    (d / "fn.toml").write_text(CONFIG)
    s = Server(d / "data", config=d / "fn.toml").start()
    yield s
    assert s.stop() == 0


def open_ws(server, csrf, cookie, protocols=None):
    return ws_client.connect(f"{server['WebSocketUrl']}/?csrf={csrf}", origin=ORIGIN, subprotocols=protocols,
                             additional_headers={"Cookie": cookie}, open_timeout=20)


def test_seed001_authorizer_function_and_a_python_handler_serve_a_connection(server):
    with open_ws(server, "t1", "JWT=user-7; CSRF-TOKEN=t1; theme=dark", protocols=["chat.v1"]) as ws:
        # The $connect function chose the subprotocol; the gateway echoed it.
        assert ws.subprotocol == "chat.v1"
        ws.send("hi there")
        reply = json.loads(ws.recv(timeout=20))
        assert reply["echo"] == "hi there" and reply["route"] == "$default"
        assert (reply["user"], reply["tenant"]) == ("user-7", "acme")
        assert reply["requestId"]


def test_seed001_authorizer_function_denies_a_mismatched_csrf_token(server):
    with pytest.raises(InvalidStatus) as e:
        with open_ws(server, "t2", "JWT=user-7; CSRF-TOKEN=t1"):
            pass
    assert e.value.response.status_code == 403
