"""Seed 001's deployment: the app at app.example.test, its WebSocket API
at ws.example.test (a custom domain of the WebSocket API, reached on any
listener by Host), session cookies with `Domain=example.test` so they
travel with the upgrade; origins under the cookie domain are allowed,
others refused before the authorizer."""

import socket
from urllib.parse import urlsplit

import requests
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from conftest import Server, make_user
from session_helpers import cookie_header, hosted_code, jar
from test_sessions_subdomain import CONFIG as SESSION_CONFIG

CONFIG = SESSION_CONFIG + """
[[websocket_apis]]
name = "ws"
custom_domains = [{ host = "ws.example.test" }]

[websocket_apis.authorizers.session]
type = "session"
http_api = "app"

[websocket_apis.integrations.echo]
type = "echo"

[[websocket_apis.routes]]
route = "$connect"
authorizer = "session"

[[websocket_apis.routes]]
route = "$default"
integration = "echo"
"""


def test_seed001_websocket_on_a_sibling_subdomain_with_domain_cookies(tmp_path):
    cfg = tmp_path / "seed001.toml"
    cfg.write_text(CONFIG)
    s = Server(tmp_path / "data", config=cfg).start()
    try:
        name = make_user(s)
        r = requests.get(hosted_code(s, name, s["SignInUrl"]), allow_redirects=False, timeout=10)
        cookies = jar(r)
        assert "__Secure-cognate-access" in cookies and "Domain=example.test" in r.headers["Set-Cookie"]
        csrf = cookies["__Secure-cognate-csrf"]
        main = urlsplit(s["CognitoEndpoint"])

        def open_ws(origin, token=csrf):
            sock = socket.create_connection((main.hostname, main.port))
            return ws_client.connect(f"ws://ws.example.test/?csrf={token}", sock=sock, origin=origin,
                                     additional_headers={"Cookie": cookie_header(cookies)}, open_timeout=10)

        def status(origin, token=csrf):
            try:
                with open_ws(origin, token):
                    return 101
            except InvalidStatus as e:
                return e.response.status_code

        with open_ws("https://app.example.test") as ws:
            ws.send("from the app's page")
            assert ws.recv(timeout=5) == "from the app's page"
        assert status("https://example.test") == 101
        for foreign in ("https://evil.example", "https://app.example.test.evil.example", "http://app.example.test",
                        "https://evilexample.test"):
            assert status(foreign) == 403, foreign
        assert status("https://app.example.test", token="wrong") == 403
    finally:
        s.stop()
