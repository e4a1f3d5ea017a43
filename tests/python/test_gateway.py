"""The HTTP gateway against API Gateway's behaviour (reference/apigateway.md
§0-4) and the JWT and gateway rows of reference/security.md §2, each test
named for the behaviour it pins. Upstreams, authorizers and the external
issuer are loopback helpers (gateway_helpers.py); functions are real
Node.js and Python handlers run by cognate. The answers the gateway makes
itself, request authorizers, throttling, the proxy's forwarding, stages,
CORS and custom domains are pinned in process
(crates/server/tests/it/gateway.rs); this file keeps the JWT rows with
forged tokens, functions, raw-socket framing, metrics and logs."""

import base64
import json
import socket
import time

import jwt as pyjwt
import pytest
import requests

import pathlib
import shutil

from conftest import BINARY, PASSWORD, ROOT, Server, unique
from gateway_helpers import Helper, b64url


FUNCTIONS = ROOT / "tests" / "fixtures" / "functions"


CONFIG = """
version = 1

[server]
metrics_listen = "auto"

[[user_pools]]
name = "p"
[[user_pools.clients]]
name = "c"
explicit_auth_flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]

[[user_pools]]
name = "q"
[[user_pools.clients]]
name = "c"
explicit_auth_flows = ["ALLOW_ADMIN_USER_PASSWORD_AUTH"]

[[functions]]
name = "node"
runtime = "nodejs"
code = "{functions}/node"
timeout_seconds = 2
environment = {{ GREETING = "hi-node" }}

[[functions]]
name = "node-plain"
runtime = "nodejs"
code = "{functions}/node"
handler = "index.plain"

[[functions]]
name = "node-fail"
runtime = "nodejs"
code = "{functions}/node"
handler = "index.fail"

[[functions]]
name = "node-slow"
runtime = "nodejs"
code = "{functions}/node"
handler = "index.slow"
timeout_seconds = 1

[[functions]]
name = "node-invalid"
runtime = "nodejs"
code = "{functions}/node"
handler = "index.invalid"

[[functions]]
name = "node-callback"
runtime = "nodejs"
code = "{functions}/node"
handler = "index.callback"

[[functions]]
name = "node-exit"
runtime = "nodejs"
code = "{functions}/node"
handler = "index.exit"
timeout_seconds = 25
concurrency = 1

[[functions]]
name = "node-missing"
runtime = "nodejs"
code = "{functions}/node"
handler = "index.nothere"

[[functions]]
name = "py"
runtime = "python"
code = "{functions}/python"
environment = {{ GREETING = "hi-python" }}

[[functions]]
name = "py-binary"
runtime = "python"
code = "{functions}/python"
handler = "lambda_function.binary"

[[functions]]
name = "py-fail"
runtime = "python"
code = "{functions}/python"
handler = "lambda_function.fail"

[[functions]]
name = "py-slow"
runtime = "python"
code = "{functions}/python"
handler = "lambda_function.slow"
timeout_seconds = 30

[[functions]]
name = "py-authorizer"
runtime = "python"
code = "{functions}/python"
handler = "authorizer.handler"

[[functions]]
name = "rust"
runtime = "provided"
code = "{rust}"

[[http_apis]]
name = "t"

[http_apis.authorizers.p]
type = "jwt"
user_pool = "p"

[http_apis.authorizers.ext]
type = "jwt"
issuer = "{helper}"
audience = ["test-audience"]

[http_apis.authorizers.ext_query]
type = "jwt"
issuer = "{helper}"
audience = ["test-audience"]
identity_source = "$request.querystring.token"

[http_apis.authorizers.fn]
type = "request"
function = "py-authorizer"
simple_responses = true
identity_sources = ["$request.header.x-fn"]
ttl_seconds = 0
timeout_ms = 500

[http_apis.integrations.root]
type = "http"
url = "{helper}/store/{{proxy}}"

[http_apis.integrations.die]
type = "http"
url = "{helper}/die"

[http_apis.integrations.ctx_fn]
type = "response"
body = '${{context.authorizer.via}} ${{context.authorizer.route}}'

[http_apis.integrations.ok]
type = "response"
body = "ok"

[http_apis.integrations.node]
type = "lambda"
function = "node"
[http_apis.integrations.node_plain]
type = "lambda"
function = "node-plain"
[http_apis.integrations.node_fail]
type = "lambda"
function = "node-fail"
[http_apis.integrations.node_slow]
type = "lambda"
function = "node-slow"
[http_apis.integrations.node_invalid]
type = "lambda"
function = "node-invalid"
[http_apis.integrations.node_callback]
type = "lambda"
function = "node-callback"
[http_apis.integrations.node_exit]
type = "lambda"
function = "node-exit"
[http_apis.integrations.node_missing]
type = "lambda"
function = "node-missing"
[http_apis.integrations.py]
type = "lambda"
function = "py"
payload_format_version = "1.0"
[http_apis.integrations.py_binary]
type = "lambda"
function = "py-binary"
payload_format_version = "1.0"
[http_apis.integrations.py_fail]
type = "lambda"
function = "py-fail"
payload_format_version = "1.0"
[http_apis.integrations.py_slow]
type = "lambda"
function = "py-slow"
payload_format_version = "1.0"
timeout_ms = 1000
[http_apis.integrations.rust]
type = "lambda"
function = "rust"
[http_apis.integrations.fn_hang]
type = "lambda"
url = "{helper}/fn/hang"
timeout_ms = 500
[http_apis.integrations.invoke_ok]
type = "lambda"
endpoint = "{helper}"
function_name = "greeter"
[http_apis.integrations.invoke_fail]
type = "lambda"
endpoint = "{helper}"
function_name = "fail"

{routes}
"""


ROUTES = [
    ("ANY /store/{proxy+}", "root", None, []),
    ("GET /die", "die", None, []),
    ("GET /scoped", "ok", "ext", ["admin", "write"]),
    ("GET /scoped-none", "ok", "ext", ["admin"]),
    ("GET /ext", "ok", "ext", []),
    ("GET /ext-query", "ok", "ext_query", []),
    ("GET /pool", "ok", "p", []),
    ("GET /fn-authorized", "ctx_fn", "fn", []),
    ("GET /node", "node", "p", []),
    ("POST /node", "node", None, []),
    ("GET /node-plain", "node_plain", None, []),
    ("GET /node-fail", "node_fail", None, []),
    ("GET /node-slow", "node_slow", None, []),
    ("GET /node-invalid", "node_invalid", None, []),
    ("GET /node-callback", "node_callback", None, []),
    ("GET /node-missing", "node_missing", None, []),
    ("GET /node-exit", "node_exit", None, []),
    ("GET /py/{id}", "py", "p", []),
    ("GET /py-binary", "py_binary", None, []),
    ("GET /py-fail", "py_fail", None, []),
    ("GET /py-slow", "py_slow", None, []),
    ("GET /rust/{id}", "rust", "p", []),
    ("GET /fn-hang", "fn_hang", None, []),
    ("GET /invoke", "invoke_ok", None, []),
    ("GET /invoke-fail", "invoke_fail", None, []),
]


@pytest.fixture(scope="module")
def helper():
    h = Helper()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def gw(helper, tmp_path_factory):
    routes = []
    for key, integration, auth, scopes in ROUTES:
        r = f'[[http_apis.routes]]\nroute = "{key}"\nintegration = "{integration}"\n'
        if auth:
            r += f'authorizer = "{auth}"\n'
        if scopes:
            r += f"scopes = {json.dumps(scopes)}\n"
        routes.append(r)
    d = tmp_path_factory.mktemp("gw")
    # The Rust function: the lambda_runtime binary built by scripts/test,
    # deployed as a custom runtime's `bootstrap`.
    rust = d / "rust-function"
    rust.mkdir()
    shutil.copy(pathlib.Path(BINARY).parent / "cognate-test-handler", rust / "bootstrap")
    text = CONFIG.format(functions=FUNCTIONS, helper=helper.url,
                         rust=rust, routes="\n".join(routes))
    cfg = d / "gateway.toml"
    cfg.write_text(text)
    s = Server(d / "data", config=cfg).start()
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def pool_user(gw):
    admin = gw.client()
    out = {}
    for name in ("p", "q"):
        pool = next(p for p in admin.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == name)
        client = admin.list_user_pool_clients(UserPoolId=pool["Id"])["UserPoolClients"][0]
        user = unique()
        admin.admin_create_user(UserPoolId=pool["Id"], Username=user, MessageAction="SUPPRESS")
        admin.admin_set_user_password(UserPoolId=pool["Id"], Username=user, Password=PASSWORD, Permanent=True)
        tokens = admin.admin_initiate_auth(
            UserPoolId=pool["Id"], ClientId=client["ClientId"], AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})["AuthenticationResult"]
        out[name] = {"pool": pool["Id"], "client": client["ClientId"], "user": user, **tokens}
    return out


def api_url(gw):
    # The config names no output for its API: the listener URL is in the log
    # table; the outputs carry ApiUrl for the first HTTP API.
    return gw["ApiUrl"]


def call(gw, method, path, token=None, headers=None, **kw):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    return requests.request(method, api_url(gw) + path, headers=h, timeout=15, **kw)


def assert_message(r, status, message):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.content == json.dumps({"message": message}, separators=(",", ":")).encode()
    assert r.headers["content-type"] == "application/json"
    assert r.headers["apigw-requestid"]


# ---- §0: refusals of external-issuer tokens and functions -----------------


def test_jwt_without_a_route_scope_is_403_forbidden(gw, helper):
    r = call(gw, "GET", "/scoped-none", helper.token())
    assert_message(r, 403, "Forbidden")
    assert "www-authenticate" not in r.headers


def test_function_authorizer_allows_denies_and_times_out_closed(gw):
    r = call(gw, "GET", "/fn-authorized", headers={"x-fn": "yes"})
    assert (r.status_code, r.text) == (200, "function GET /fn-authorized")
    assert_message(call(gw, "GET", "/fn-authorized", headers={"x-fn": "no"}), 403, "Forbidden")
    assert_message(call(gw, "GET", "/fn-authorized", headers={"x-fn": "slow"}), 500, "Internal Server Error")
    # The worker that overran was ended; the next call gets a fresh one.
    r = call(gw, "GET", "/fn-authorized", headers={"x-fn": "yes"})
    assert r.status_code == 200


@pytest.mark.parametrize("path", ["/node-fail", "/node-invalid", "/node-missing", "/py-fail", "/invoke-fail"])
def test_function_error_or_invalid_response_is_500_internal_server_error(gw, path):
    assert_message(call(gw, "GET", path), 500, "Internal Server Error")


def test_function_past_its_own_timeout_is_500_task_timed_out(gw):
    assert_message(call(gw, "GET", "/node-slow"), 500, "Internal Server Error")


@pytest.mark.parametrize("path", ["/py-slow", "/fn-hang"])
def test_integration_timeout_is_503_service_unavailable(gw, path):
    """Each of these answers 200, but later than its integration's
    timeout (3 s or 10 s against 500 ms or 1 s): the 503 itself shows the
    configured timeout cut it, with no clock read by the test."""
    assert_message(call(gw, "GET", path), 503, "Service Unavailable")


# ---- JWT authorizer (security §2.1) -----------------------------------------


def test_jwt_external_issuer_accepts_a_good_token_by_discovery(gw, helper):
    assert call(gw, "GET", "/ext", helper.token()).text == "ok"


def forged(helper, header, payload, signature=b""):
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}.{b64url(signature)}"


def good_payload(helper):
    return pyjwt.decode(helper.token(), options={"verify_signature": False})


def expect_401(gw, token, path="/ext"):
    r = call(gw, "GET", path, headers={"Authorization": f"Bearer {token}"})
    assert_message(r, 401, "Unauthorized")
    assert token not in r.headers.get("www-authenticate", "")


def test_j01_alg_none_is_refused(gw, helper):
    for alg in ("none", "None", "NONE"):
        expect_401(gw, forged(helper, {"alg": alg, "kid": helper.kid}, good_payload(helper)))


def test_j02_hs256_keyed_with_the_public_key_is_refused(gw, helper):
    import hashlib
    import hmac
    pem = helper.key.public_key().public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).Encoding.PEM,
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).PublicFormat.SubjectPublicKeyInfo)
    h = b64url(json.dumps({"alg": "HS256", "kid": helper.kid}).encode())
    p = b64url(json.dumps(good_payload(helper)).encode())
    sig = hmac.new(pem, f"{h}.{p}".encode(), hashlib.sha256).digest()
    expect_401(gw, f"{h}.{p}.{b64url(sig)}")


def test_j03_alg_swapped_against_the_keys_alg_is_refused(gw, helper):
    expect_401(gw, helper.token(alg="RS512"))
    expect_401(gw, helper.token(alg="PS256"))


def test_j04_j05_j06_stripped_tampered_or_empty_signatures_are_refused(gw, helper):
    t = helper.token()
    h, p, s = t.split(".")
    expect_401(gw, f"{h}.{p}.")
    expect_401(gw, f"{h}.{p}")
    expect_401(gw, f"{t}.extra.segment")
    payload = good_payload(helper)
    payload["sub"] = "someone-else"
    expect_401(gw, f"{h}.{b64url(json.dumps(payload).encode())}.{s}")
    expect_401(gw, f"{h}.{p}.{b64url(bytes(256))}")
    expect_401(gw, f"{h}.{p}.{b64url(bytes(255))}")


def test_j07_j08_odd_and_unknown_kids_are_refused_without_a_fetch_per_request(gw, helper):
    # (A 10 KB kid makes the request head pass API Gateway's 10 240-byte
    # limit, which refuses it first: see the G09 test.)
    for kid in ["../../dev/null", "' OR 1=1--", "x" * 6_000, 5, {"a": 1}, "a\u0000b"]:
        token = helper.token(headers={"kid": kid}) if isinstance(kid, str) and "\u0000" not in kid else \
            forged(helper, {"alg": "RS256", "kid": kid}, good_payload(helper))
        expect_401(gw, token)
    before = helper.jwks_fetches
    for i in range(50):
        expect_401(gw, helper.token(headers={"kid": f"unknown-{i}"}))
    assert helper.jwks_fetches - before <= 1


def test_j09_jku_x5u_and_embedded_jwk_are_ignored(gw, helper):
    before = helper.recorder.count("/attacker")
    from cryptography.hazmat.primitives.asymmetric import rsa
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = attacker.public_key().public_numbers()
    jwk = {"kty": "RSA", "kid": "evil", "n": b64url(n.n.to_bytes(256, "big")), "e": "AQAB"}
    for extra in ({"jku": helper.url + "/attacker/jwks"}, {"x5u": helper.url + "/attacker/cert"}, {"jwk": jwk}):
        token = pyjwt.encode(good_payload(helper), attacker, algorithm="RS256", headers={"kid": "evil", **extra})
        expect_401(gw, token)
    assert helper.recorder.count("/attacker") == before


def test_j10_crit_headers_are_refused(gw, helper):
    expect_401(gw, helper.token(headers={"crit": ["exp"]}))


def test_j11_j12_expiry_not_before_and_future_iat(gw, helper):
    now = int(time.time())
    expect_401(gw, helper.token({"exp": now - 1}))
    expect_401(gw, helper.token(omit=("exp",)))
    expect_401(gw, helper.token({"exp": "9999999999"}))
    expect_401(gw, helper.token({"nbf": now + 60}))
    expect_401(gw, helper.token({"iat": now + 60}))
    r = call(gw, "GET", "/ext", helper.token({"exp": now - 1}))
    assert 'error_description="the token has expired"' in r.headers["www-authenticate"]


def test_j13_issuer_is_an_exact_string_match(gw, helper):
    for iss in (helper.issuer + "/", helper.issuer.upper(), helper.issuer.replace("http:", "https:"), "http://other"):
        expect_401(gw, helper.token({"iss": iss}))


def test_j14_a_token_of_another_pool_is_refused(gw, pool_user):
    expect_401(gw, pool_user["q"]["AccessToken"], path="/pool")
    assert call(gw, "GET", "/pool", pool_user["p"]["AccessToken"]).text == "ok"


def test_j15_aud_wins_over_client_id_and_arrays_match_any(gw, helper):
    expect_401(gw, helper.token({"aud": "wrong", "client_id": "test-audience"}))
    assert call(gw, "GET", "/ext", helper.token({"aud": ["x", "test-audience"]})).status_code == 200
    assert call(gw, "GET", "/ext", helper.token({"client_id": "test-audience"}, omit=("aud",))).status_code == 200


def test_j16_refresh_token_as_bearer_is_401(gw, pool_user):
    expect_401(gw, pool_user["p"]["RefreshToken"], path="/pool")


def test_j16_j17_token_without_scope_claim_or_route_scope_is_403(gw, helper):
    assert_message(call(gw, "GET", "/scoped", helper.token(omit=("scope",))), 403, "Forbidden")
    assert call(gw, "GET", "/scoped", helper.token({"scope": "admin"})).status_code == 200
    assert call(gw, "GET", "/scoped", helper.token({"scp": ["write"]}, omit=("scope",))).status_code == 200


def test_j18_revoked_pool_token_is_401(gw, pool_user):
    admin = gw.client()
    p = pool_user["p"]
    fresh = admin.admin_initiate_auth(
        UserPoolId=p["pool"], ClientId=p["client"], AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": p["user"], "PASSWORD": PASSWORD})["AuthenticationResult"]
    assert call(gw, "GET", "/pool", fresh["AccessToken"]).status_code == 200
    admin.revoke_token(Token=fresh["RefreshToken"], ClientId=p["client"])
    expect_401(gw, fresh["AccessToken"], path="/pool")


def test_j19_huge_authorization_header_is_refused_before_crypto(gw):
    r = call(gw, "GET", "/ext", headers={"Authorization": "Bearer " + "a" * 70_000})
    assert r.status_code in (401, 431)


def test_j20_j21_j22_duplicate_keys_noncanonical_base64_and_nesting_are_refused(gw, helper):
    t = helper.token()
    h, p, s = t.split(".")
    dup = b64url(b'{"alg":"RS256","kid":"%s","alg":"none"}' % helper.kid.encode())
    expect_401(gw, f"{dup}.{p}.{s}")
    expect_401(gw, f"{h}=.{p}.{s}")
    expect_401(gw, f"{h}.{p}.{s}=")
    expect_401(gw, f"{h}.{p} .{s}")
    # A nested token (cty JWT), validly signed.
    expect_401(gw, helper.token(headers={"cty": "JWT"}))
    # A payload that is a JSON string, not an object.
    expect_401(gw, forged(helper, {"alg": "RS256", "kid": helper.kid}, "string"))


def test_j23_bearer_scheme_spelling_and_query_tokens(gw, helper):
    t = helper.token()
    for value in (f"bearer {t}", f"Bearer  {t}", t):
        assert call(gw, "GET", "/ext", headers={"Authorization": value}).status_code == 200, value
    assert call(gw, "GET", "/ext", headers={"Authorization": f"Bearer {t} extra"}).status_code == 401
    assert call(gw, "GET", f"/ext?access_token={t}").status_code == 401
    # The query string only counts where the authorizer says so.
    assert call(gw, "GET", f"/ext-query?token={t}").status_code == 200


# ---- HTTP proxy: upstream connections (§3.5-3.6) ----------------------------


def test_pooled_upstream_connections_closed_by_the_upstream_are_not_a_502(gw):
    for _ in range(30):
        r = call(gw, "GET", "/store/idle-close")
        assert (r.status_code, r.json()) == (200, {"idle": "closed"})


# ---- functions: real Node.js and Python handlers -----------------------------


def test_node_handler_runs_unchanged_with_payload_2(gw, pool_user):
    p = pool_user["p"]
    r = call(gw, "GET", "/node", p["IdToken"])
    assert r.status_code == 200 and r.headers["x-runtime"] == "node"
    body = r.json()
    assert body["message"] == "Hello from Lambda!" and body["username"] == p["user"]
    assert body["routeKey"] == "GET /node" and body["remainingPositive"] is True
    assert body["env"] == "hi-node"
    cookies = r.raw.headers.getlist("set-cookie")
    assert cookies == ["flavour=node; Path=/", "second=2; Path=/"]


def test_node_inferred_and_callback_responses(gw):
    r = call(gw, "GET", "/node-plain")
    assert (r.status_code, r.text, r.headers["content-type"]) == (200, "Hello from Lambda!", "application/json")
    r = call(gw, "GET", "/node-callback")
    assert (r.status_code, r.text) == (201, "made")


def test_node_handler_answers_sixteen_invocations_sent_together(gw):
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: call(gw, "POST", "/node").status_code, range(16)))
    assert results == [200] * 16


def test_python_handler_runs_unchanged_with_payload_1(gw, pool_user):
    p = pool_user["p"]
    r = call(gw, "GET", "/py/9?tag=a&tag=b", p["AccessToken"])
    assert r.status_code == 200
    body = r.json()
    assert body["message"] == "Hello from Lambda!" and body["username"] == p["user"]
    assert body["resource"] == "/py/{id}" and body["path"] == "/py/9" and body["httpMethod"] == "GET"
    assert body["query"] == {"tag": ["a", "b"]} and body["env"] == "hi-python"
    assert r.raw.headers.getlist("x-multi") == ["a", "b"]


def test_rust_lambda_runtime_handler_runs_unchanged_as_a_custom_runtime(gw, pool_user):
    p = pool_user["p"]
    r = call(gw, "GET", "/rust/5", p["AccessToken"])
    assert r.status_code == 200, r.text
    assert r.headers["x-runtime"] == "rust"
    body = r.json()
    # The event deserialized into aws_lambda_events' ApiGatewayV2httpRequest.
    assert body["message"] == "Hello from Lambda!" and body["username"] == p["user"]
    assert body["routeKey"] == "GET /rust/{id}" and body["id"] == "5" and body["function"] == "rust"
    assert_message(call(gw, "GET", "/rust/fail", p["AccessToken"]), 500, "Internal Server Error")


def test_python_base64_response_is_decoded(gw):
    r = call(gw, "GET", "/py-binary")
    assert r.content == b"\x89PNG\r\n" and r.headers["content-type"] == "image/png"


def test_lambda_invoke_api_endpoint_gets_a_sigv4_authorization_and_its_function_errors_are_500(gw, helper):
    r = call(gw, "GET", "/invoke")
    assert (r.status_code, r.text) == (200, "invoked GET /invoke")
    sent = helper.recorder.last("/2015-03-31/functions/greeter")
    assert sent["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/lambda/aws4_request" in sent["headers"]["authorization"]


# ---- HTTP framing and upstream faults (security §2.6) ---------------------


def raw(gw, data: bytes, timeout=5):
    host, port = api_url(gw).split("://")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
        except socket.timeout:
            pass
    return b"".join(chunks)


def status_of(response: bytes):
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None


def test_g01_content_length_with_transfer_encoding_is_refused_and_never_reaches_the_upstream(gw, helper):
    """RFC 9112 §6.1 lets a server reject such a request or frame it by
    Transfer-Encoding alone; cognate refuses it, as Envoy does, and closes
    the connection (test_framing.py covers every listener)."""
    tag = unique("te")
    r = raw(gw, (f"POST /store/{tag} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").encode())
    assert status_of(r) == 400
    assert helper.recorder.count(f"/store/{tag}") == 0


def test_g01b_a_chunked_body_reaches_the_upstream_re_framed_by_length(gw, helper):
    """Chunk extensions and trailers stay at the gateway: the upstream gets
    the body whole, framed by Content-Length, never the client's framing."""
    tag = unique("chunks")
    r = raw(gw, (f"POST /store/{tag} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                 "3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n").encode())
    assert status_of(r) == 200
    sent = helper.recorder.last(f"/store/{tag}")
    assert sent["body"] == b"hello"
    assert "transfer-encoding" not in sent["headers"] and "x-trailer" not in sent["headers"]
    assert sent["headers"].get("content-length") == "5"


@pytest.mark.parametrize("te,status", [(b"xchunked", 400), (b"chunked, chunked", 400), (b"chunked\x0b", 400),
                                       (b"gzip, chunked", 501)])
def test_g02_odd_transfer_encodings_are_refused(gw, te, status):
    r = raw(gw, b"POST /store/te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + b"\r\n\r\n0\r\n\r\n")
    assert status_of(r) == status


@pytest.mark.parametrize("cl", [b"Content-Length: 1\r\nContent-Length: 2", b"Content-Length: +10", b"Content-Length: 1 0",
                                b"Content-Length: 99999999999999999999999"])
def test_g03_bad_content_lengths_are_400(gw, cl):
    r = raw(gw, b"POST /store/cl HTTP/1.1\r\nHost: x\r\n" + cl + b"\r\n\r\n0123456789")
    assert status_of(r) == 400


@pytest.mark.parametrize("header", [b"X-A: a\rb", b"X-A: a\x00b", b"X-A\x00: b", b"X-A: a\r\n folded", b"Content-Length : 1"])
def test_g04_control_characters_folding_and_spaced_names_are_400(gw, header):
    r = raw(gw, b"GET /store/h HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
    assert status_of(r) == 400


def test_g05_pipelined_requests_reach_the_upstream_exactly_as_sent(gw, helper):
    tag = unique("pipe")
    r = raw(gw, (f"GET /store/{tag}-1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 f"GET /store/{tag}-2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode())
    assert r.count(b"HTTP/1.1 200") == 2
    assert r.index(f"/store/{tag}-1".encode()) < r.index(f"/store/{tag}-2".encode())
    assert helper.recorder.count(f"/store/{tag}") == 2


def test_g09_oversized_headers_and_urls_are_refused_before_the_upstream(gw, helper):
    before = len(helper.recorder.calls)
    r = call(gw, "GET", "/store/big", headers={f"x-h{i}": "v" * 100 for i in range(120)})
    assert r.status_code == 431
    r = call(gw, "GET", "/store/" + "a" * 16_000)
    assert_message(r, 414, "Request-URI Too Long")
    r = call(gw, "GET", "/store/ok", headers={"x-big": "v" * 11_000})
    assert_message(r, 431, "Request Header Fields Too Large")
    assert len(helper.recorder.calls) == before


def test_g12_upstream_dying_mid_body_never_looks_like_a_clean_answer(gw):
    r = raw(gw, b"GET /die HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = r.partition(b"\r\n\r\n")
    if status_of(r) == 200:
        assert b"content-length: 1000" in head.lower() and len(body) < 1000
    else:
        assert status_of(r) == 502


def test_g16_refusals_echo_no_token_or_key_id(gw, helper):
    t = helper.token({"exp": 1})
    r = call(gw, "GET", "/ext", t)
    assert t not in r.text and t not in str(r.headers) and helper.kid not in str(r.headers) + r.text


def test_g18_spoofed_host_does_not_change_the_issuer(gw):
    pool = gw.client().list_user_pools(MaxResults=60)["UserPools"][0]["Id"]
    url = f"{gw['CognitoEndpoint']}/{pool}/.well-known/openid-configuration"
    honest = requests.get(url, timeout=10).json()["issuer"]
    spoofed = requests.get(url, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"}, timeout=10).json()
    assert spoofed["issuer"] == honest and "evil" not in json.dumps(spoofed)


# ---- metrics and access logs ---------------------------------------------------


def test_metrics_count_requests_by_route_and_status(gw, pool_user):
    for _ in range(3):
        call(gw, "GET", "/pool", pool_user["p"]["AccessToken"])
    call(gw, "GET", "/pool")
    text = requests.get(gw["MetricsUrl"], timeout=10).text
    lines = {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l and not l.startswith("#")}
    assert lines['cognate_gateway_requests_total{api="t",route="GET /pool",status="200"}'] >= 3
    assert lines['cognate_gateway_requests_total{api="t",route="GET /pool",status="401"}'] >= 1
    assert lines['cognate_gateway_request_duration_seconds_count{api="t"}'] >= 4
    # The metrics listener is not the API's.
    assert requests.get(api_url(gw) + "/metrics", timeout=10).status_code != 200 or "cognate_gateway" not in \
        requests.get(api_url(gw) + "/metrics", timeout=10).text


def test_access_log_lines_are_json_with_context_fields_and_no_tokens(gw, pool_user):
    token = pool_user["p"]["AccessToken"]
    r = call(gw, "GET", f"/pool?access_token={token}", token)
    request_id = r.headers["apigw-requestid"]

    def access_line():
        log = (gw.data_dir / "server.log").read_text()
        return next((l for l in log.splitlines() if request_id in l and "cognate::access" in l), None)

    # The line is written after the answer: wait for it to appear.
    deadline = time.monotonic() + 10
    while (line := access_line()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert line, "no access log line for the request"
    entry = json.loads(line[line.index("{"):])
    assert entry["requestId"] == request_id and entry["routeKey"] == "GET /pool" and entry["status"] == 200
    assert entry["httpMethod"] == "GET" and entry["path"] == "/pool" and entry["stage"] == "$default"
    assert entry["authorizerPrincipal"] == pyjwt.decode(token, options={"verify_signature": False})["sub"]
    log = (gw.data_dir / "server.log").read_text()
    assert token not in log and token.split(".")[2] not in log


def test_g10_slow_header_clients_are_cut_off(gw):
    """A client that never finishes its headers (slowloris) is hung up on
    at the header read timeout (10 s), not kept open: the server's close is
    the event waited for (the socket's 30 s timeout only guards a hang)."""
    host, port = api_url(gw).split("://")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"GET /store/slow HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n")
        answer = s.recv(1024)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")


def test_a_function_process_that_dies_fails_its_invocation_at_once(gw):
    """Not at the function's 25 s timeout: the worker's exit ends it (500),
    and the next invocation gets a new process."""
    for _ in range(2):
        # The client gives up at 15 s, well before the function's 25 s
        # timeout: an answer at all means the worker's exit ended it.
        assert_message(call(gw, "GET", "/node-exit"), 500, "Internal Server Error")
