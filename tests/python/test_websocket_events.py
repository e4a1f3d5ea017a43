"""WebSocket APIs with an HTTP backend: the CONNECT, MESSAGE and
DISCONNECT events it receives, field by field against
reference/apigateway.md §5.3 and the real captures in aws-lambda-rust-runtime
(lambda-events/src/fixtures/example-apigw-websocket-request*.json); a
request authorizer on `$connect` (§2.7; W09); route responses and error
frames (§5.4, §5.5); and `@connections` driven by boto3 with the
connection id the backend learnt from its `$connect` event, as real
backends learn it (§5.6)."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.config
import botocore.exceptions
import requests
import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import Server

ORIGIN = "https://app.example.test"


class Backend:
    """The API's HTTP integration and its request authorizer."""

    def __init__(self):
        self.events = []
        self.authz = []
        self.manager = None  # set once the server is up
        self.self_post = []
        self.lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body):
                data = body.encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if self.path == "/authz":
                    with backend.lock:
                        backend.authz.append(event)
                    token = event["queryStringParameters"].get("token", "")
                    if token == "throw":
                        return self.reply(500, '{"errorMessage":"boom"}')
                    if token == "garbage":
                        return self.reply(200, "<html>")
                    if token == "slow":
                        time.sleep(2)
                    effect = "Allow" if token.startswith("allow") else "Deny"
                    return self.reply(200, json.dumps({
                        "principalId": "user-" + token,
                        "policyDocument": {"Version": "2012-10-17", "Statement": [
                            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]},
                        "context": {"tenant": "t1", "n": 7, "ok": True},
                    }))
                with backend.lock:
                    backend.events.append(event)
                rc = event["requestContext"]
                query = event.get("queryStringParameters") or {}
                if rc["eventType"] == "CONNECT" and query.get("reject"):
                    return self.reply(400, '{"why":"rejected by the backend"}')
                if rc["eventType"] == "CONNECT" and query.get("selfpost"):
                    # Posting to the connection from inside its own $connect:
                    # not open yet, so 410 (as on AWS).
                    try:
                        backend.manager.post_to_connection(ConnectionId=rc["connectionId"], Data=b"too early")
                        backend.self_post.append("delivered")
                    except Exception as e:  # noqa: BLE001 - the error code is what is recorded
                        backend.self_post.append(getattr(e, "response", {}).get("Error", {}).get("Code", repr(e)))
                if rc["eventType"] == "MESSAGE":
                    return self.reply(200, json.dumps({"you": rc["connectionId"], "route": rc["routeKey"]}))
                return self.reply(200, "")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, event_type, connection_id=None, timeout=5, route=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for e in reversed(self.events):
                    rc = e["requestContext"]
                    if (rc["eventType"] == event_type and connection_id in (None, rc["connectionId"])
                            and route in (None, rc["routeKey"])):
                        return e
            time.sleep(0.02)
        raise AssertionError(f"no {event_type} event")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


CONFIG = """
version = 1

[server]
metrics_listen = "auto"

[[websocket_apis]]
name = "events"
allowed_origins = ["{origin}"]

[[websocket_apis.stages]]
name = "prod"
variables = {{ color = "blue" }}

[websocket_apis.authorizers.gate]
type = "request"
url = "{backend}/authz"
identity_sources = ["route.request.header.Cookie", "route.request.querystring.token"]
timeout_ms = 1000

[websocket_apis.integrations.backend]
type = "http"
url = "{backend}/events"

[[websocket_apis.routes]]
route = "$connect"
authorizer = "gate"
integration = "backend"

[[websocket_apis.routes]]
route = "$disconnect"
integration = "backend"

[[websocket_apis.routes]]
route = "$default"
integration = "backend"
route_response = true

[[websocket_apis.routes]]
route = "whoami"
integration = "backend"
route_response = true

[[websocket_apis]]
name = "strict"
listen = "127.0.0.1:{strict}"

[websocket_apis.integrations.echo]
type = "echo"

[websocket_apis.integrations.broken]
type = "http"
url = "http://127.0.0.1:{dead}/nothing-listens-here"
timeout_ms = 1000

[[websocket_apis.routes]]
route = "known"
integration = "echo"

[[websocket_apis.routes]]
route = "broken"
integration = "broken"
route_response = true

[websocket_apis.integrations.whoami]
type = "response"
body = "${{context.connectionId}}"

[[websocket_apis.routes]]
route = "whoami"
integration = "whoami"
route_response = true

[websocket_apis.limits]
send_queue = 1
connect_rate = 2
connect_burst = 4
"""


@pytest.fixture(scope="module")
def backend():
    b = Backend()
    yield b
    b.server.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, backend):
    d = tmp_path_factory.mktemp("wsevents")
    config = d / "ws.toml"
    strict = free_port()
    config.write_text(CONFIG.format(origin=ORIGIN, backend=backend.url, dead=free_port(), strict=strict))
    s = Server(d / "data", config=config).start()
    s.strict_url = f"ws://127.0.0.1:{strict}/"
    backend.manager = manager(s)
    yield s
    assert s.stop() == 0


def url(server, token="allow-1", stage="/prod", extra=""):
    return f"{server['WebSocketUrl']}{stage}?token={token}{extra}"


def open_ws(server, token="allow-1", cookie="session=abc", origin=ORIGIN, **kw):
    return ws_client.connect(url(server, token, **kw), origin=origin,
                             additional_headers={"Cookie": cookie, "X-Custom": "Kept"}, open_timeout=10)


def status_of(fn):
    try:
        with fn():
            return 101
    except InvalidStatus as e:
        return e.response.status_code


def manager(server):
    endpoint = server["WebSocketUrl"].replace("ws://", "http://", 1) + "/prod"
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, region_name=server["Region"],
                        aws_access_key_id=server["AdminAccessKeyId"],
                        aws_secret_access_key=server["AdminSecretAccessKey"],
                        config=botocore.config.Config(retries={"max_attempts": 1}))


# Keys of the real captures (aws-lambda-rust-runtime fixtures) and §5.3.
COMMON_CONTEXT = {"routeKey", "eventType", "extendedRequestId", "requestTime", "messageDirection", "stage",
                  "connectedAt", "requestTimeEpoch", "identity", "requestId", "domainName", "connectionId",
                  "apiId", "authorizer"}


def test_connect_message_and_disconnect_events_have_api_gateways_shape(server, backend):
    with open_ws(server, cookie="session=abc; theme=dark") as ws:
        connect = backend.wait("CONNECT")
        cid = connect["requestContext"]["connectionId"]
        ws.send('{"action":"whoami","x":1}')
        reply = json.loads(ws.recv(timeout=5))
        assert reply == {"you": cid, "route": "whoami"}
        ws.send("not json")
        assert json.loads(ws.recv(timeout=5))["route"] == "$default"
        message = backend.wait("MESSAGE", cid, route="whoami")
        ws.close(code=1000, reason="bye")
    disconnect = backend.wait("DISCONNECT", cid)

    # CONNECT: the upgrade's headers in the client's case, query, stage
    # variables, and the authorizer's context, stringified.
    rc = connect["requestContext"]
    assert set(rc) == COMMON_CONTEXT
    assert (rc["routeKey"], rc["eventType"], rc["messageDirection"], rc["stage"]) == ("$connect", "CONNECT", "IN", "prod")
    assert rc["extendedRequestId"] == rc["requestId"]
    assert isinstance(rc["connectedAt"], int) and isinstance(rc["requestTimeEpoch"], int)
    assert rc["requestTimeEpoch"] >= rc["connectedAt"]
    assert len(cid) == 16 and cid.endswith("=")
    assert rc["identity"]["sourceIp"] == "127.0.0.1" and "userAgent" in rc["identity"]
    assert rc["domainName"] == server["WebSocketUrl"].split("://", 1)[1]
    assert rc["authorizer"]["principalId"] == "user-allow-1"
    assert (rc["authorizer"]["tenant"], rc["authorizer"]["n"], rc["authorizer"]["ok"]) == ("t1", "7", "true")
    assert isinstance(rc["authorizer"]["integrationLatency"], int)
    h = connect["headers"]
    assert h["Cookie"] == "session=abc; theme=dark" and h["X-Custom"] == "Kept"
    assert h["Origin"] == ORIGIN and h["Sec-WebSocket-Version"] == "13" and "Sec-WebSocket-Key" in h
    assert connect["multiValueHeaders"]["Cookie"] == ["session=abc; theme=dark"]
    assert connect["queryStringParameters"] == {"token": "allow-1"}
    assert connect["multiValueQueryStringParameters"] == {"token": ["allow-1"]}
    assert connect["stageVariables"] == {"color": "blue"}
    assert connect["isBase64Encoded"] is False and "body" not in connect

    # MESSAGE: the frame, no HTTP data, a messageId; the same connection
    # facts and authorizer context.
    mrc = message["requestContext"]
    assert set(mrc) == COMMON_CONTEXT | {"messageId"}
    assert (mrc["routeKey"], mrc["eventType"]) == ("whoami", "MESSAGE")
    assert message["body"] == '{"action":"whoami","x":1}' and message["isBase64Encoded"] is False
    assert "headers" not in message and "queryStringParameters" not in message
    assert mrc["connectedAt"] == rc["connectedAt"] and mrc["authorizer"]["tenant"] == "t1"
    assert mrc["messageId"] and mrc["requestId"] != rc["requestId"]

    # DISCONNECT: the fixed header set of the 2024 capture, the close code
    # and reason; the authorizer context still there (aws/chalice#2060).
    drc = disconnect["requestContext"]
    assert set(drc) == COMMON_CONTEXT | {"disconnectStatusCode", "disconnectReason"}
    assert (drc["routeKey"], drc["eventType"]) == ("$disconnect", "DISCONNECT")
    assert (drc["disconnectStatusCode"], drc["disconnectReason"]) == (1000, "bye")
    assert set(disconnect["headers"]) == {"Host", "x-api-key", "X-Forwarded-For", "x-restapi"}
    assert drc["authorizer"]["principalId"] == "user-allow-1"


def test_authorizer_event_and_its_answers_gate_the_upgrade(server, backend):
    before = len(backend.authz)
    assert status_of(lambda: open_ws(server, token="allow-event")) == 101
    event = backend.authz[-1]
    assert len(backend.authz) == before + 1
    assert event["type"] == "REQUEST"
    assert event["methodArn"].endswith("/prod/$connect") and event["methodArn"].startswith("arn:aws:execute-api:")
    assert event["headers"]["Cookie"] == "session=abc"
    assert event["requestContext"]["connectionId"] and event["requestContext"]["eventType"] == "CONNECT"
    assert event["stageVariables"] == {"color": "blue"}
    # Cached by identity for the TTL (300 s default): the same cookie and
    # token do not call again; another token does.
    assert status_of(lambda: open_ws(server, token="allow-event")) == 101
    assert len(backend.authz) == before + 1
    assert status_of(lambda: open_ws(server, token="deny-1")) == 403
    assert len(backend.authz) == before + 2
    # An identity source missing: 401 without a call.
    assert status_of(lambda: open_ws(server, cookie="")) == 401
    assert status_of(lambda: ws_client.connect(f"{server['WebSocketUrl']}/prod", origin=ORIGIN,
                                               additional_headers={"Cookie": "s=1"})) == 401
    assert len(backend.authz) == before + 2
    # W01 for request authorizers: a foreign Origin is refused first.
    assert status_of(lambda: open_ws(server, token="allow-other", origin="https://evil.example")) == 403
    assert len(backend.authz) == before + 2


@pytest.mark.parametrize("token", ["throw", "garbage", "slow"])
def test_w09_an_authorizer_that_fails_or_times_out_is_500_and_no_upgrade(server, token):
    assert status_of(lambda: open_ws(server, token=token)) == 500


def test_a_connect_integration_answering_non_2xx_refuses_the_upgrade_with_its_status(server, backend):
    assert status_of(lambda: open_ws(server, token="allow-2", extra="&reject=1")) == 400


def test_unmatched_routes_and_failed_integrations_get_error_frames_and_stay_open(server):
    ws = ws_client.connect(server.strict_url, open_timeout=5)
    with ws:
        ws.send('{"action":"unknown"}')
        frame = ws.recv(timeout=5)
        assert frame.startswith('{"message": "Forbidden", "connectionId":"')
        body = json.loads(frame)
        assert set(body) == {"message", "connectionId", "requestId"}
        ws.send('{"action":"broken"}')
        assert json.loads(ws.recv(timeout=5))["message"] == "Internal server error"
        ws.send('{"action":"known","n":1}')
        assert ws.recv(timeout=5) == '{"action":"known","n":1}'


def test_boto3_posts_reads_and_deletes_a_connection_then_gets_gone(server, backend):
    api = manager(server)
    with open_ws(server, token="allow-3") as ws:
        cid = backend.wait("CONNECT")["requestContext"]["connectionId"]
        api.post_to_connection(ConnectionId=cid, Data=b"pushed by the backend")
        assert ws.recv(timeout=5) == "pushed by the backend"
        info = api.get_connection(ConnectionId=cid)
        assert info["Identity"]["SourceIp"] == "127.0.0.1" and info["Identity"]["UserAgent"]
        assert info["LastActiveAt"] >= info["ConnectedAt"]
        api.delete_connection(ConnectionId=cid)
        try:
            ws.recv(timeout=5)
            raise AssertionError("still open")
        except ConnectionClosed as e:
            assert e.rcvd.code == 1000
    assert backend.wait("DISCONNECT", cid)["requestContext"]["disconnectStatusCode"] == 1000
    for call in (lambda: api.post_to_connection(ConnectionId=cid, Data=b"late"),
                 lambda: api.get_connection(ConnectionId=cid),
                 lambda: api.delete_connection(ConnectionId=cid)):
        with pytest.raises(api.exceptions.GoneException):
            call()


def test_management_calls_are_signed_with_the_admin_credentials(server, backend):
    forged = boto3.client("apigatewaymanagementapi",
                          endpoint_url=server["WebSocketUrl"].replace("ws://", "http://", 1) + "/prod",
                          region_name=server["Region"], aws_access_key_id="AKIAUNKNOWNKEY000000",
                          aws_secret_access_key="x" * 40,
                          config=botocore.config.Config(retries={"max_attempts": 1}))
    api = manager(server)
    with open_ws(server, token="allow-4") as ws:
        cid = backend.wait("CONNECT")["requestContext"]["connectionId"]
        with pytest.raises(botocore.exceptions.ClientError) as e:
            forged.post_to_connection(ConnectionId=cid, Data=b"x")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
        raw = requests.post(server["WebSocketUrl"].replace("ws://", "http://", 1) + "/prod/@connections/"
                            + cid.replace("=", "%3D"), data=b"x", timeout=5)
        assert raw.status_code == 403
        assert raw.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
        with pytest.raises(api.exceptions.PayloadTooLargeException):
            api.post_to_connection(ConnectionId=cid, Data=b"x" * (128 * 1024 + 1))
        api.post_to_connection(ConnectionId=cid, Data=b"fits")
        assert ws.recv(timeout=5) == "fits"


def metric(server, name, api="events"):
    text = requests.get(server["MetricsUrl"], timeout=5).text
    for line in text.splitlines():
        if line.startswith(f'{name}{{api="{api}"}} '):
            return int(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_metrics_count_open_connections_upgrades_and_messages(server, backend):
    refused = metric(server, "cognate_websocket_upgrades_refused_total")
    assert status_of(lambda: open_ws(server, token="deny-metrics")) == 403
    assert metric(server, "cognate_websocket_upgrades_refused_total") == refused + 1
    accepted = metric(server, "cognate_websocket_upgrades_accepted_total")
    sent = metric(server, "cognate_websocket_messages_sent_total")
    with open_ws(server, token="allow-metrics") as ws:
        ws.send('{"action":"whoami"}')
        ws.recv(timeout=5)
        assert metric(server, "cognate_websocket_upgrades_accepted_total") == accepted + 1
        assert metric(server, "cognate_websocket_connections") >= 1
        assert metric(server, "cognate_websocket_messages_received_total") >= 1
        assert metric(server, "cognate_websocket_messages_sent_total") == sent + 1
    deadline = time.time() + 5
    while metric(server, "cognate_websocket_connections") != 0 and time.time() < deadline:
        time.sleep(0.05)
    assert metric(server, "cognate_websocket_connections") == 0


def test_posting_to_a_connection_from_its_own_connect_is_gone_then_works_once_open(server, backend):
    with open_ws(server, token="allow-selfpost", extra="&selfpost=1") as ws:
        assert backend.self_post == ["GoneException"]
        cid = backend.wait("CONNECT")["requestContext"]["connectionId"]
        backend.manager.post_to_connection(ConnectionId=cid, Data=b"now open")
        assert ws.recv(timeout=5) == "now open"


def test_delete_connection_may_close_with_an_application_code_and_reason(server, backend):
    """Beyond AWS (which always closes with 1000): ?closeCode=&reason=."""
    with open_ws(server, token="allow-5") as ws:
        cid = backend.wait("CONNECT")["requestContext"]["connectionId"]
        base = server["WebSocketUrl"].replace("ws://", "http://", 1) + "/prod/@connections/" + cid.replace("=", "%3D")
        for bad in ("closeCode=1006", "closeCode=99999"):
            assert signed_request(server, "DELETE", f"{base}?{bad}").status_code == 400
        r = signed_request(server, "DELETE", f"{base}?closeCode=4001&reason=kicked%20out")
        assert r.status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "kicked out")
    drc = backend.wait("DISCONNECT", cid)["requestContext"]
    assert (drc["disconnectStatusCode"], drc["disconnectReason"]) == (4001, "kicked out")


def signed_request(server, method, url):
    """A request signed as boto3 signs (SigV4, service execute-api)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method=method, url=url, data=b"")
    SigV4Auth(Credentials(server["AdminAccessKeyId"], server["AdminSecretAccessKey"]), "execute-api",
              server["Region"]).add_auth(request)
    prepared = request.prepare()
    return requests.request(method, prepared.url, headers=dict(prepared.headers), data=b"", timeout=5)


def strict_manager(server):
    return boto3.client("apigatewaymanagementapi", endpoint_url=server.strict_url.replace("ws://", "http://"),
                        region_name=server["Region"], aws_access_key_id=server["AdminAccessKeyId"],
                        aws_secret_access_key=server["AdminSecretAccessKey"],
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def connect_when_refilled(url, **kwargs):
    """Connects once the connect bucket lets a connection through again:
    waits for that event (429s until then), not for a fixed time."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return ws_client.connect(url, open_timeout=5, **kwargs)
        except InvalidStatus as e:
            if e.response.status_code != 429 or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_new_connections_past_the_connect_rate_are_429(server):
    statuses = []
    for _ in range(12):
        statuses.append(status_of(lambda: ws_client.connect(server.strict_url, open_timeout=5)))
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429 and 101 in statuses, statuses
    # The bucket refills: a later connection goes through.
    with connect_when_refilled(server.strict_url):
        pass


def test_post_to_a_connection_that_does_not_read_is_429_once_its_queue_is_full(server):
    api = strict_manager(server)
    with connect_when_refilled(server.strict_url, max_size=None) as ws:
        ws.send('{"action":"whoami"}')
        cid = ws.recv(timeout=5)
        chunk = b"x" * (128 * 1024)
        limited = False
        for _ in range(2000):
            try:
                api.post_to_connection(ConnectionId=cid, Data=chunk)
            except api.exceptions.LimitExceededException:
                limited = True
                break
        assert limited, "the send queue never filled"


def test_stopping_the_server_closes_sockets_with_1001_and_runs_disconnect(tmp_path, backend):
    config = tmp_path / "ws.toml"
    config.write_text(CONFIG.format(origin=ORIGIN, backend=backend.url, dead=free_port(), strict=free_port()))
    s = Server(tmp_path / "data", config=config).start()
    try:
        with ws_client.connect(url(s, token="allow-stop"), origin=ORIGIN,
                               additional_headers={"Cookie": "session=stop"}, open_timeout=10) as ws:
            cid = backend.wait("CONNECT")["requestContext"]["connectionId"]
            assert s.stop() == 0, "cognate did not stop cleanly with a socket open"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd.code == 1001
        drc = backend.wait("DISCONNECT", cid)["requestContext"]
        assert (drc["disconnectStatusCode"], drc["disconnectReason"]) == (1001, "Going away")
    finally:
        s.stop()
