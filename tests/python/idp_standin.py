"""A local stand-in for the social identity providers (Google, Facebook,
Login with Amazon, Sign in with Apple) and for a misbehaving OpenID
provider: it speaks each type's protocol as the provider documents it and
checks what cognate sends (client authentication, redirect URI, PKCE, the
Apple client-secret JWT), so the tests see both sides of every call.

It signs ID tokens with a key of its own (RS256, published at /jwks); a
test can make it misbehave (`stand.tamper`) to see cognate refuse."""

import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
import urllib.parse

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def b64url_uint(n):
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class StandIn:
    def __init__(self, kind, client_id="standin-client", client_secret="standin-secret"):
        self.kind = kind
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "standin-1"
        # Sign in with Apple: the team's key that signs the client secret.
        self.apple_key = ec.generate_private_key(ec.SECP256R1())
        self.person = {}
        self.codes = {}
        self.calls = []
        self.tamper = {}
        self.authorize_error = None
        stand = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body, content_type="application/json", headers=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                stand.dispatch(self, "GET")

            def do_POST(self):
                stand.dispatch(self, "POST")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.issuer = self.base
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # ProviderDetails pointing cognate at this stand-in.
    def details(self, scopes="openid email profile"):
        d = {"client_id": self.client_id, "authorize_scopes": scopes,
             "authorize_url": f"{self.base}/authorize", "token_url": f"{self.base}/token",
             "attributes_url": f"{self.base}/userinfo", "jwks_uri": f"{self.base}/jwks",
             "oidc_issuer": self.issuer}
        if self.kind == "SignInWithApple":
            d.update(team_id="TEAM123456", key_id="KEY1234567", private_key=self.apple_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode())
            del d["attributes_url"]
        else:
            d["client_secret"] = self.client_secret
        if self.kind == "Facebook":
            d["attributes_url"] = f"{self.base}/me?fields="
            del d["jwks_uri"], d["oidc_issuer"]
        if self.kind == "LoginWithAmazon":
            del d["jwks_uri"], d["oidc_issuer"]
        if self.kind == "OIDC":
            d["attributes_request_method"] = "GET"
        return d

    def dispatch(self, h, method):
        url = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        body = {}
        if method == "POST":
            raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
            body = dict(urllib.parse.parse_qsl(raw.decode()))
        self.calls.append({"method": method, "path": url.path, "query": query, "body": body,
                           "headers": {k.lower(): v for k, v in h.headers.items()}})
        route = {"/authorize": self.authorize, "/token": self.token, "/jwks": self.jwks,
                 "/userinfo": self.userinfo, "/me": self.userinfo}.get(url.path)
        if route is None:
            return h.answer(404, {"error": "not_found"})
        return route(h, method, query, body)

    def authorize(self, h, method, q, body):
        redirect = q["redirect_uri"]
        if self.authorize_error:
            return h.answer(302, b"", headers=[("Location", redirect + "?" + urllib.parse.urlencode(
                {"error": self.authorize_error, "error_description": "The person said no.", "state": q["state"]}))])
        code = secrets.token_urlsafe(16)
        self.codes[code] = q
        answer = {"code": code, "state": q["state"]}
        if self.kind == "SignInWithApple":
            # response_mode=form_post: the browser POSTs the answer back;
            # the name comes once, as the `user` field.
            answer["user"] = json.dumps({"name": {"firstName": "Ada", "lastName": "Lovelace"},
                                         "email": self.person.get("email")})
            fields = "".join(f'<input type="hidden" name="{k}" value="{v.replace(chr(34), "&quot;")}">'
                             for k, v in answer.items())
            page = (f'<form method="post" action="{redirect}">{fields}</form>'
                    '<script>document.forms[0].submit()</script>').encode()
            return h.answer(200, page, "text/html")
        return h.answer(302, b"", headers=[("Location", redirect + "?" + urllib.parse.urlencode(answer))])

    def client_authenticated(self, h, params):
        auth = h.headers.get("Authorization", "")
        if self.kind == "SignInWithApple":
            secret = params.get("client_secret", "")
            claims = jwt.decode(secret, self.apple_key.public_key(), algorithms=["ES256"],
                                audience="https://appleid.apple.com", issuer="TEAM123456")
            header = jwt.get_unverified_header(secret)
            return claims["sub"] == self.client_id and header["kid"] == "KEY1234567" and claims["exp"] > time.time()
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            return urllib.parse.unquote_plus(user) == self.client_id and urllib.parse.unquote_plus(pw) == self.client_secret
        return params.get("client_id") == self.client_id and params.get("client_secret") == self.client_secret

    def token(self, h, method, q, body):
        params = q if self.kind == "Facebook" else body
        if (self.kind == "Facebook") != (method == "GET"):
            return h.answer(405, {"error": "invalid_request"})
        try:
            authenticated = self.client_authenticated(h, params)
        except jwt.PyJWTError:
            authenticated = False
        if not authenticated:
            return h.answer(401, {"error": "invalid_client"})
        asked = self.codes.pop(params.get("code"), None)
        if asked is None or params.get("redirect_uri") != asked["redirect_uri"]:
            return h.answer(400, {"error": "invalid_grant"})
        if "code_challenge" in asked:
            verifier = params.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != asked["code_challenge"]:
                return h.answer(400, {"error": "invalid_grant", "error_description": "PKCE"})
        tokens = {"access_token": "at-" + secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 3600}
        self.access_token = tokens["access_token"]
        if self.kind in ("OIDC", "Google", "SignInWithApple"):
            tokens["id_token"] = self.id_token(asked)
        return h.answer(200, tokens)

    def id_token(self, asked):
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": self.person["sub"], "iat": now,
                  "exp": now + 600, "nonce": asked.get("nonce")}
        if self.kind == "SignInWithApple":
            claims.update(email=self.person.get("email"), email_verified="true")
        elif self.kind in ("OIDC", "Google"):
            claims.update({k: v for k, v in self.person.items() if k != "sub"})
        claims.update(self.tamper.get("claims", {}))
        key = self.other_key if self.tamper.get("other_key") else self.key
        alg = self.tamper.get("alg", "RS256")
        return jwt.encode(claims, None if alg == "none" else key, algorithm=alg, headers={"kid": self.kid})

    def jwks(self, h, method, q, body):
        n = self.key.public_key().public_numbers()
        return h.answer(200, {"keys": [{"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                                        "n": b64url_uint(n.n), "e": b64url_uint(n.e)}]})

    def userinfo(self, h, method, q, body):
        if h.headers.get("Authorization") != f"Bearer {getattr(self, 'access_token', None)}":
            return h.answer(401, {"error": "invalid_token"})
        p = dict(self.person)
        if self.kind == "Facebook":
            # The Graph API: `id`, and only the fields asked for.
            fields = q.get("fields", "id").split(",")
            graph = {"id": p.pop("sub"), **p}
            return h.answer(200, {k: v for k, v in graph.items() if k in fields})
        if self.kind == "LoginWithAmazon":
            return h.answer(200, {"user_id": p.pop("sub"), **p})
        return h.answer(200, {**p, **self.tamper.get("userinfo", {})})
