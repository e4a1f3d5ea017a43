"""HTTP/1.1 message framing (RFC 9112) and slow clients, on every kind of
listener cognate opens: the main one (identity), an HTTP API, a WebSocket
API and metrics. Each case goes over a raw socket, followed by a good
request pipelined behind it: the refusal must be the only answer and the
connection must then close, so nothing sent after a refused head is ever
read as a request."""

import pathlib
import socket
import threading
import time

import pytest

from conftest import Server

ROOT = pathlib.Path(__file__).resolve().parents[2]


def demo_with(server_keys: str) -> str:
    """The built-in demo's configuration with `[server]` keys added."""
    text = (ROOT / "examples" / "demo.toml").read_text()
    at = text.index("[[user_pools]]")
    return text[:at] + "[server]\n" + server_keys + "\n\n" + text[at:]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    d = tmp_path_factory.mktemp("framing")
    cfg = d / "demo.toml"
    cfg.write_text(demo_with('metrics_listen = "auto"\nbody_timeout_seconds = 1'))
    s = Server(d / "data", config=cfg).start()
    yield s
    assert s.stop() == 0


LISTENERS = {
    "main": "CognitoEndpoint",
    "http-api": "ApiUrl",
    "websocket-api": "WebSocketUrl",
    "metrics": "MetricsUrl",
}


def address(node, output):
    url = node[output].split("://", 1)[1].split("/", 1)[0]
    host, port = url.rsplit(":", 1)
    return host, int(port)


def exchange(addr, data: bytes, source="127.0.0.1"):
    """Sends `data`, then reads until the server closes the connection.
    Returns the bytes read; a connection left open fails the test (the
    socket's timeout is only a guard against hanging)."""
    with socket.create_connection(addr, timeout=15, source_address=(source, 0)) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except socket.timeout:
                pytest.fail(f"the connection was left open after {b''.join(chunks)[:200]!r}")
            except ConnectionResetError:
                break
            if not c:
                break
            chunks.append(c)
    return b"".join(chunks)


def answers(data: bytes):
    """The status codes of the HTTP/1.1 responses in `data`, in order
    (each framed by its Content-Length, as cognate sends them)."""
    statuses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep and head.startswith(b"HTTP/1.1 "), f"not a response: {data[:200]!r}"
        lines = head.split(b"\r\n")
        statuses.append(int(lines[0].split(b" ")[1]))
        length = next((int(l.split(b":", 1)[1]) for l in lines[1:] if l.lower().startswith(b"content-length:")), 0)
        data = rest[length:]
    return statuses


GOOD = b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n"

CASES = {
    "no Host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two Host lines": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    "Host with user info": (b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    "Content-Length and Transfer-Encoding":
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "Transfer-Encoding and Content-Length":
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    "Content-Length with a sign": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400),
    "Content-Length list": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400),
    "two different Content-Lengths":
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    "unknown transfer coding": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    "chunked not last": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    "chunked twice": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "Transfer-Encoding in HTTP/1.0": (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "obsolete line folding": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n folded\r\n\r\n", 400),
}


@pytest.mark.parametrize("listener", LISTENERS)
@pytest.mark.parametrize("case", CASES)
def test_bad_framing_is_refused_alone_and_the_connection_closes(node, listener, case):
    request, status = CASES[case]
    data = exchange(address(node, LISTENERS[listener]), request + GOOD)
    assert answers(data) == [status], data[:300]
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    if status != 400 or b"content-type: application/json" in head:
        # cognate's own refusals (hyper's own 400s have no body).
        assert b"connection: close" in head


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_refusal_after_good_pipelined_requests_answers_them_first(node, listener):
    chunked = b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    bad = CASES["Content-Length and Transfer-Encoding"][0]
    data = exchange(address(node, LISTENERS[listener]), GOOD + chunked + bad + GOOD)
    got = answers(data)
    assert len(got) == 3 and got[2] == 400, data[:600]
    assert 400 not in got[:2] and 501 not in got[:2]


def trickle(addr, head: bytes, every: float):
    """Sends `head`, then one body byte every `every` seconds until the
    server answers; returns what it answered."""
    with socket.create_connection(addr, timeout=15) as s:
        s.sendall(head)
        s.settimeout(every)
        chunks = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                c = s.recv(65536)
            except socket.timeout:
                try:
                    s.sendall(b"x")
                except (BrokenPipeError, ConnectionResetError):
                    break
                continue
            except ConnectionResetError:
                break
            if not c:
                return b"".join(chunks)
            chunks.append(c)
        pytest.fail(f"no answer and no close: {b''.join(chunks)[:200]!r}")
        return b""


@pytest.mark.parametrize("listener,head", [
    ("CognitoEndpoint", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-amz-json-1.1\r\n"
                        b"X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth\r\nContent-Length: 1000\r\n\r\n{"),
    ("ApiUrl", b"POST /user/profile HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n{"),
    ("ApiUrl", b"POST /user/profile HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n{"),
])
def test_a_body_that_trickles_in_is_cut_at_the_body_timeout_with_408(node, listener, head):
    """The body keeps arriving (a byte every 0.3 s) but not whole within
    the configured 1 s: 408, and the connection closes."""
    data = trickle(address(node, listener), head, 0.3)
    assert answers(data) == [408], data[:300]
    assert b"connection: close" in data.lower()
    assert b'{"message":"Request Timeout"}' in data


def test_a_body_that_stops_is_cut_at_the_body_timeout(node):
    data = exchange(address(node, "CognitoEndpoint"),
                    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-amz-json-1.1\r\n"
                    b"X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth\r\nContent-Length: 10\r\n\r\n{")
    assert answers(data) == [408]


# ---- per-address limits -----------------------------------------------------

@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    d = tmp_path_factory.mktemp("limits")
    cfg = d / "demo.toml"
    cfg.write_text(demo_with("max_connections_per_ip = 6\nmax_pending_connections_per_ip = 3"))
    s = Server(d / "data", config=cfg).start()
    yield s
    assert s.stop() == 0


def refused_at_once(addr, source="127.0.0.1"):
    """True when the server closes a new connection without answering."""
    try:
        data = exchange(addr, GOOD.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"), source=source)
    except (ConnectionResetError, BrokenPipeError):
        return True
    return data == b""


def served(addr, source="127.0.0.1"):
    data = exchange(addr, GOOD.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"), source=source)
    return len(answers(data)) == 1


@pytest.mark.parametrize("listener,source", [("CognitoEndpoint", "127.0.0.3"), ("ApiUrl", "127.0.0.4")])
def test_one_address_is_held_to_its_pending_and_open_connection_limits(limited, listener, source):
    """Limits count per client address across all listeners; each case
    uses an address of its own so the previous case's closing connections
    cannot be counted."""
    addr = address(limited, listener)

    def connect():
        return socket.create_connection(addr, timeout=15, source_address=(source, 0))

    # Three connections still sending their heads: the limit for one
    # address. They are counted from accept, in order, so the fourth is
    # refused whatever bytes the three have sent.
    slow = [connect() for _ in range(3)]
    for s in slow:
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: a\r\n")
    assert refused_at_once(addr, source)
    # Another address is not held to it.
    assert served(addr, source="127.0.0.2")
    # The three finish their heads and are answered (they stay open).
    for s in slow:
        s.sendall(b"\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 ")
    # Open, not pending: three more open connections reach the open limit.
    more = [connect() for _ in range(3)]
    for s in more:
        s.sendall(GOOD)
        assert s.recv(65536).startswith(b"HTTP/1.1 ")
    assert refused_at_once(addr, source)
    assert served(addr, source="127.0.0.2")
    for s in slow + more:
        s.close()
