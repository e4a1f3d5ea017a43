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


def test_connect_integration_failures_refuse_the_upgrade(tmp_path):
    """`$connect` whose integration cannot be reached: 502 before any
    socket opens; one that answers a non-2xx status: that status."""
    import http.server
    import socket
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(409)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    refuser = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=refuser.serve_forever, daemon=True).start()
    def free_port():
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        return port

    dead_port = free_port()  # nothing listens there
    down_port, refuses_port = free_port(), free_port()
    config = tmp_path / "ws.toml"
    config.write_text(f"""
version = 1
[[websocket_apis]]
name = "down"
listen = "127.0.0.1:{down_port}"
[websocket_apis.integrations.gone]
type = "http"
url = "http://127.0.0.1:{dead_port}/events"
[[websocket_apis.routes]]
route = "$connect"
integration = "gone"

[[websocket_apis]]
name = "refuses"
listen = "127.0.0.1:{refuses_port}"
[websocket_apis.integrations.no]
type = "http"
url = "http://127.0.0.1:{refuser.server_address[1]}/events"
[[websocket_apis.routes]]
route = "$connect"
integration = "no"
""")
    s = Server(tmp_path / "data", config=config).start()
    try:
        statuses = {}
        for name, port in (("down", down_port), ("refuses", refuses_port)):
            with pytest.raises(InvalidStatus) as e:
                ws_client.connect(f"ws://127.0.0.1:{port}/", open_timeout=20)
            statuses[name] = e.value.response.status_code
        assert statuses == {"down": 502, "refuses": 409}, statuses
    finally:
        s.stop()
        refuser.shutdown()
        refuser.server_close()
