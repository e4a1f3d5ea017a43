"""WebSocket helpers: a session of the demo (cookies + CSRF token), the
connect URL the demo's pages would use, and a raw RFC 6455 client for the
frames no well-behaved library sends (unmasked, RSV bits, bad opcodes)."""

import base64
import os
import socket
import struct
from urllib.parse import urlsplit

import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from session_helpers import cookie_header, signed_in


# A route that answers a connection its own id (as a backend's
# `$connect` would learn it), appended to the demo config by tests and the
# benchmark.
WHOAMI = """
[websocket_apis.integrations.whoami]
type = "response"
body = "${context.connectionId}"

[[websocket_apis.routes]]
route = "whoami"
integration = "whoami"
route_response = true
"""


class Session:
    def __init__(self, server, user):
        _, self.cookies = signed_in(server, user)
        self.csrf = self.cookies["__Host-cognate-csrf"]
        self.origin = server["ApiUrl"]
        self.url = server["WebSocketUrl"]

    def header(self):
        return cookie_header(self.cookies)


def connect(session, csrf=True, origin=True, cookies=True, protocols=None, url=None, **kw):
    """Opens the demo WebSocket as the demo's page would; `False` leaves a
    part out, a string replaces it."""
    target = url or session.url
    token = session.csrf if csrf is True else csrf
    if token:
        target += ("&" if "?" in target else "?") + "csrf=" + token
    headers = {}
    if cookies is True:
        headers["Cookie"] = session.header()
    elif cookies:
        headers["Cookie"] = cookies
    return ws_client.connect(
        target,
        origin=session.origin if origin is True else (origin or None),
        additional_headers=headers,
        subprotocols=protocols,
        open_timeout=10,
        **kw,
    )


def refused(fn):
    """The status of an upgrade that was answered without 101."""
    try:
        with fn():
            return 101
    except InvalidStatus as e:
        return e.response.status_code


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([first, m | n])
    elif n < 65536:
        head = bytes([first, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([first, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


class Raw:
    """A hand-made WebSocket client over a plain socket."""

    def __init__(self, session, extra_headers=""):
        u = urlsplit(session.url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /?csrf={session.csrf} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {session.origin}\r\nCookie: {session.header()}\r\n{extra_headers}\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.response = head.decode("latin-1")
        assert self.response.startswith("HTTP/1.1 101"), self.response

    def send(self, data):
        self.sock.sendall(data)

    def read_frame(self):
        def exact(n):
            out = b""
            while len(out) < n:
                chunk = self.sock.recv(n - len(out))
                if not chunk:
                    raise ConnectionError("closed")
                out += chunk
            return out

        b0, b1 = exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", exact(8))[0]
        return b0 & 0x0F, exact(n)

    def close_code(self):
        """Reads until the server's close frame; returns its code (None if
        the socket ended without one)."""
        try:
            while True:
                op, payload = self.read_frame()
                if op == 8:
                    return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
        except (ConnectionError, OSError):
            return None
        finally:
            self.sock.close()
