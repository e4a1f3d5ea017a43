"""The demo WebSocket API (DEMO.md): `$connect` by the cookie session plus
its CSRF token, echo, broadcast, and the
WebSocket rows of reference/security.md §2.5 (W01-W08). The server runs
the demo config with short limits (idle, lifetime, session checks) so the
limit rows take seconds. `@connections` is tested where a backend learns
connection ids as real ones do, from its `$connect` event
(test_websocket_events.py)."""

import os
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from websockets.exceptions import ConnectionClosed

from conftest import ROOT, Server, faked_clock, make_user
from session_helpers import logout
from ws_helpers import Raw, Session, connect, frame, refused

LIMITS = """
[websocket_apis.limits]
idle_seconds = 3
lifetime_seconds = 6
session_check_seconds = 1
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("ws")
    config = d / "demo-short-limits.toml"
    config.write_text((ROOT / "examples" / "demo.toml").read_text() + LIMITS)
    s = Server(d / "data", config=config).start()
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def admin(server):
    return server.client()


@pytest.fixture
def session(server, user):
    return Session(server, user)


def closed_code(ws, timeout=10):
    """Waits for the server to close; returns (code, reason)."""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            ws.recv(timeout=max(0.1, deadline - time.time()))
    except ConnectionClosed as e:
        return (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, None)
    except TimeoutError:
        pass
    raise AssertionError("the server did not close the connection")


def test_echo_and_broadcast_between_two_browsers_sessions(server, user, admin):
    a = Session(server, user)
    b = Session(server, make_user(server, user + "-b", admin))
    with connect(a) as wa, connect(b) as wb:
        wa.send("hello")
        assert wa.recv(timeout=5) == "hello"
        wa.send('{"action":"sendmessage","data":"to everyone"}')
        assert wa.recv(timeout=5) == "to everyone"
        assert wb.recv(timeout=5) == "to everyone"
        # Not JSON, or JSON without a known action: $default (echo).
        wb.send('{"action":"nope"}')
        assert wb.recv(timeout=5) == '{"action":"nope"}'


def test_csrf_token_as_a_subprotocol_is_chosen_and_echoed(session):
    with connect(session, csrf=False, protocols=["other", session.csrf]) as ws:
        assert ws.subprotocol == session.csrf
        ws.send("ping?")
        assert ws.recv(timeout=5) == "ping?"


def test_connect_is_refused_with_403_without_the_csrf_value_or_cookie_or_with_a_wrong_one(server, session, admin, user):
    assert refused(lambda: connect(session, csrf=False)) == 403
    assert refused(lambda: connect(session, csrf="A" * 43)) == 403
    assert refused(lambda: connect(session, cookies=False)) == 403
    # Only the CSRF cookie and token, no session cookie.
    assert refused(lambda: connect(session, cookies=f"__Host-cognate-csrf={session.csrf}")) == 403
    # C05 for WebSockets: another session's valid token pair does not open this session.
    theirs = Session(server, make_user(server, user + "-c", admin))
    mixed = dict(session.cookies, **{"__Host-cognate-csrf": theirs.csrf})
    assert refused(lambda: connect(session, csrf=theirs.csrf,
                                   cookies="; ".join(f"{k}={v}" for k, v in mixed.items()))) == 403
    # And the right pair still opens.
    assert refused(lambda: connect(session)) == 101


def test_w01_foreign_null_or_missing_origin_is_403_before_any_socket(session):
    for origin in ("https://evil.example", "null", False, session.origin + ".evil.example",
                   session.origin.replace("127.0.0.1", "localhost")):
        assert refused(lambda: connect(session, origin=origin)) == 403, origin


def test_w02_tampered_or_logged_out_session_cookie_is_refused(server, session):
    tampered = dict(session.cookies)
    tampered["__Host-cognate-access"] = tampered["__Host-cognate-access"][:-4] + "AAAA"
    tampered.pop("__Host-cognate-refresh")
    assert refused(lambda: connect(session, cookies="; ".join(f"{k}={v}" for k, v in tampered.items()))) == 403
    out = logout(server, session.cookies, **{"X-CSRF-Token": session.csrf, "Origin": session.origin})
    assert out.status_code == 204, out.text
    assert refused(lambda: connect(session)) == 403


def test_w03_logout_closes_open_connections_with_1008(server, session):
    with connect(session) as ws:
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"
        out = logout(server, session.cookies, **{"X-CSRF-Token": session.csrf, "Origin": session.origin})
        assert out.status_code == 204
        code, reason = closed_code(ws, timeout=5)
        assert (code, reason) == (1008, "Session ended")


def test_w03_idle_connections_close_with_1001_and_busy_ones_at_their_lifetime(session):
    """Idle 3 s, lifetime 6 s (the test config). The close and its reason
    are the events waited for; the busy client sends once a second (its
    pace, not a wait for a state), and its close names the lifetime, never
    idleness, after more keepalives than fit in the idle timeout."""
    with connect(session) as idle:
        assert closed_code(idle, timeout=8) == (1001, "Idle timeout")
    with connect(session) as busy:
        answered = 0
        try:
            for _ in range(10):
                busy.send("keepalive")
                busy.recv(timeout=5)
                answered += 1
                time.sleep(1)
            raise AssertionError("not closed at its lifetime")
        except ConnectionClosed as e:
            assert e.rcvd.code == 1001 and e.rcvd.reason == "Connection lifetime exceeded"
        assert answered > 3, "a busy connection outlives the idle timeout"


def test_w04_frames_over_32_kb_and_messages_over_128_kb_close_with_1009(session):
    with connect(session, max_size=None) as ws:
        ws.send("x" * (32 * 1024))  # exactly the limit: fine
        assert len(ws.recv(timeout=5)) == 32 * 1024
        ws.send("x" * (32 * 1024 + 1))
        assert closed_code(ws)[0] == 1009
    with connect(session) as ws:
        # 30 KB fragments, 150 KB in all.
        ws.send(["y" * (30 * 1024)] * 5)
        assert closed_code(ws)[0] == 1009
    raw = Raw(session)
    # Endless continuation frames: cut at the message limit.
    raw.send(frame(0x1, b"z" * 1000, fin=False))
    try:
        for _ in range(200):
            raw.send(frame(0x0, b"z" * 1000, fin=False))
    except OSError:
        pass
    assert raw.close_code() == 1009


def test_w05_permessage_deflate_is_never_negotiated_so_a_compressed_frame_is_a_protocol_error(session):
    raw = Raw(session, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    assert "sec-websocket-extensions" not in raw.response.lower()
    raw.send(frame(0x1, b"\x01\x02\x03", rsv=4))
    assert raw.close_code() == 1002


@pytest.mark.parametrize("bad,code", [
    (frame(0x1, b"unmasked", mask=False), 1002),
    (frame(0x1, b"rsv", rsv=2), 1002),
    (frame(0x3, b"opcode 3"), 1002),
    (frame(0x9, b"p" * 126), 1002),
    (frame(0x1, b"\xff\xfe not utf-8"), 1007),
    (frame(0x2, b"\x00\x01 binary"), 1003),
], ids=["unmasked", "rsv", "opcode-3", "long-ping", "bad-utf8", "binary"])
def test_w06_protocol_violations_close_with_their_codes(session, bad, code):
    raw = Raw(session)
    raw.send(bad)
    assert raw.close_code() == code


def test_w07_5000_half_open_upgrades_are_cut_at_the_header_timeout_and_their_fds_freed(server, session):
    pid = server.proc.pid
    fds = lambda: len(os.listdir(f"/proc/{pid}/fd"))  # noqa: E731
    before = fds()
    u = urlsplit(server["WebSocketUrl"])
    held = []
    # From 100 client addresses (50 each, under the per-address limit on
    # connections still sending headers, which test_framing.py covers).
    for i in range(5000):
        s = socket.create_connection((u.hostname, u.port), timeout=20, source_address=(f"127.0.1.{i % 100 + 1}", 0))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        held.append(s)
    # Meanwhile the API serves: a real client connects and echoes.
    with connect(session) as ws:
        ws.send("still serving")
        assert ws.recv(timeout=10) == "still serving"
    # Each is hung up on at the 10 s header timeout (counted from its
    # accept), never upgraded.
    for s in held:
        rest = b""
        while True:
            chunk = s.recv(1024)
            if not chunk:
                break
            rest += chunk
        assert b"101" not in rest
        s.close()
    # The server frees their descriptors after closing them: wait for
    # that state (polled, bounded), not for a time.
    deadline = time.time() + 5
    while fds() > before + 20 and time.time() < deadline:
        time.sleep(0.1)
    assert fds() <= before + 20, (before, fds())


def test_w08_bad_handshakes_are_400_or_426_and_h2c_is_never_an_upgrade(server, session):
    url = server["WebSocketUrl"].replace("ws://", "http://", 1)
    base = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": session.origin,
            "Cookie": session.header()}

    def status(path="/?csrf=" + session.csrf, **change):
        headers = {k: v for k, v in dict(base, **change).items() if v is not None}
        return requests.get(url + path, headers=headers, timeout=10).status_code

    assert status(**{"Sec-WebSocket-Key": None}) == 400
    assert status(**{"Sec-WebSocket-Key": "not-base64-16"}) == 400
    r = requests.get(url + "/", headers=dict(base, **{"Sec-WebSocket-Version": "8"}), timeout=10)
    assert r.status_code == 426 and r.headers["Sec-WebSocket-Version"] == "13"
    assert status(Upgrade="h2c", Connection="Upgrade, HTTP2-Settings") == 400
    # A plain GET of the WebSocket endpoint asks for an upgrade.
    plain = requests.get(url + "/", timeout=10)
    assert plain.status_code == 426 and plain.headers["Upgrade"] == "websocket"
    # No other path is a WebSocket route.
    assert status(path="/elsewhere?csrf=" + session.csrf) == 404
    # An upgrade to the HTTP API is not one (its routes answer as HTTP).
    r = requests.get(server["ApiUrl"] + "/hello", headers=dict(base, Upgrade="h2c"), timeout=10)
    assert r.status_code == 401


@pytest.fixture
def clocked_ws(tmp_path):
    """The demo with tokens closing their connections at expiry, on a wall
    clock the test moves (libfaketime; timers keep the real monotonic
    clock)."""
    clock = tmp_path / "clock"
    clock.write_text("+0\n")
    config = tmp_path / "demo-expiry.toml"
    config.write_text((ROOT / "examples" / "demo.toml").read_text()
                      + "\n[websocket_apis.limits]\nsession_check_seconds = 1\nclose_on_token_expiry = true\n")
    s = Server(tmp_path / "data", config=config, env=faked_clock(clock)).start()
    s.clock = clock
    yield s
    s.stop()


def test_w02_w03_an_expired_token_closes_its_connection_and_cannot_open_another(clocked_ws):
    session = Session(clocked_ws, make_user(clocked_ws))
    with connect(session) as ws:
        ws.send("before")
        assert ws.recv(timeout=5) == "before"
        # Past the access token's hour: closed within the check interval.
        clocked_ws.clock.write_text("+61m\n")
        assert closed_code(ws, timeout=5) == (1008, "Token expired")
    # W02: the expired access cookie alone does not open a connection...
    only_access = {k: v for k, v in session.cookies.items() if k != "__Host-cognate-refresh"}
    assert refused(lambda: connect(session, cookies="; ".join(f"{k}={v}" for k, v in only_access.items()))) == 403
    # ...with the refresh cookie the session is renewed on the upgrade
    # itself (new cookies on the 101), as on the HTTP routes.
    with connect(session) as ws:
        renewed = ws.response.headers.get_all("Set-Cookie")
        assert any(c.startswith("__Host-cognate-access=") for c in renewed), renewed
        ws.send("after")
        assert ws.recv(timeout=5) == "after"
