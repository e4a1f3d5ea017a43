"""Loopback helpers for the gateway tests: an upstream that echoes what it
received (and one that dies mid-body or closes kept connections), function
endpoints, and a small OpenID Connect issuer (discovery + JWKS) whose key
the tests hold, so they can sign tokens with any claims and headers. The
request-authorizer endpoints moved with their tests to
crates/server/tests/it/upstream.rs."""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Recorder:
    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def add(self, path, body, headers):
        with self.lock:
            self.calls.append({"path": path, "body": body, "headers": headers})

    def count(self, prefix):
        with self.lock:
            return sum(1 for c in self.calls if c["path"].startswith(prefix))

    def last(self, prefix):
        with self.lock:
            return [c for c in self.calls if c["path"].startswith(prefix)][-1]


class Helper:
    """One ThreadingHTTPServer on 127.0.0.1 with all the helper routes."""

    def __init__(self):
        self.recorder = Recorder()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.jwks_fetches = 0
        helper = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body, headers=None, ctype="application/json"):
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def body(self):
                n = int(self.headers.get("content-length") or 0)
                return self.rfile.read(n) if n else b""

            def handle_any(self):
                body = self.body()
                helper.recorder.add(self.path, body, {k.lower(): v for k, v in self.headers.items()})
                p = self.path
                if p.startswith("/.well-known/openid-configuration"):
                    return self.reply(200, json.dumps({"issuer": helper.issuer, "jwks_uri": helper.url + "/jwks"}))
                if p.startswith("/jwks"):
                    helper.jwks_fetches += 1
                    return self.reply(200, json.dumps(helper.jwks()))
                if p.startswith("/die"):
                    # Promises 1000 bytes, sends 10, and hangs up.
                    self.send_response(200)
                    self.send_header("content-length", "1000")
                    self.end_headers()
                    self.wfile.write(b"0123456789")
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if p.startswith("/store/idle-close"):
                    # Answers as if keeping the connection, then hangs up
                    # (an upstream's keep-alive timeout firing).
                    self.reply(200, '{"idle":"closed"}')
                    self.close_connection = True
                    return
                if p.startswith("/fn/"):
                    mode = p.split("/")[2].split("?")[0]
                    if mode == "hang":
                        time.sleep(3)
                    event = json.loads(body)
                    return self.reply(200, json.dumps({"statusCode": 200, "body": json.dumps({"got": event["routeKey"]})}))
                if p.startswith("/2015-03-31/functions/"):
                    event = json.loads(body)
                    if "fail" in p:
                        return self.reply(200, '{"errorMessage":"boom","errorType":"Error"}', {"x-amz-function-error": "Unhandled"})
                    return self.reply(200, json.dumps("invoked " + event["routeKey"]))
                # The echo upstream.
                self.reply(200, json.dumps({
                    "method": self.command,
                    "path": p,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                }), {"x-upstream": "yes", "connection": "keep-alive, x-secret", "x-secret": "hop"})

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = self.url
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()

    def jwks(self):
        n = self.key.public_key().public_numbers()
        return {"keys": [{
            "kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
            "n": b64url(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
            "e": b64url(n.e.to_bytes(3, "big")),
        }]}

    def pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def token(self, claims=None, headers=None, omit=(), alg="RS256"):
        now = int(time.time())
        body = {"iss": self.issuer, "aud": "test-audience", "sub": "u-1", "exp": now + 600, "iat": now,
                "scope": "read write"}
        body.update(claims or {})
        for k in omit:
            body.pop(k, None)
        h = {"kid": self.kid}
        h.update(headers or {})
        return jwt.encode(body, self.pem(), algorithm=alg, headers=h)
