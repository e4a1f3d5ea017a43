"""The server across its life: restarts, key rotation, PostgreSQL, and the
command-line helpers."""

import json
import os
import secrets
import subprocess

import jwt
import pytest
import requests

from conftest import BINARY, PASSWORD, ROOT, Server, make_user, unique


def signin(server, username, client="UserPoolClientId"):
    return server.client(signed=False).initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH", ClientId=server[client],
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})["AuthenticationResult"]


def kids(server):
    r = requests.get(f"{server['CognitoEndpoint']}/{server['UserPoolId']}/.well-known/jwks.json", timeout=10)
    return {k["kid"] for k in r.json()["keys"]}


def refresh(server, token):
    return server.client(signed=False).initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH", ClientId=server["UserPoolClientId"],
        AuthParameters={"REFRESH_TOKEN": token})["AuthenticationResult"]


def restart(server):
    assert server.restart() == 0
    return server


def test_restart_keeps_ids_secrets_users_keys_and_refresh_tokens(fresh_server):
    s = fresh_server
    name = make_user(s)
    tokens = signin(s, name)
    before = dict(s.outputs)
    before_kids = kids(s)
    restart(s)
    stable = ["UserPoolId", "UserPoolClientId", "ConfidentialClientId", "ConfidentialClientSecret",
              "MachineClientId", "MachineClientSecret", "AdminAccessKeyId", "AdminSecretAccessKey"]
    assert {k: s[k] for k in stable} == {k: before[k] for k in stable}
    assert kids(s) == before_kids
    assert refresh(s, tokens["RefreshToken"])["AccessToken"]
    assert s.client(signed=False).get_user(AccessToken=tokens["AccessToken"])["Username"] == name
    assert signin(s, name)["IdToken"]


def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_new_keys(fresh_server):
    s = fresh_server
    name = make_user(s)
    old = signin(s, name)
    old_kids = kids(s)
    assert s.stop() == 0
    s.listen = s["CognitoEndpoint"].removeprefix("http://")
    out = subprocess.run([BINARY, "keys", "rotate", "--data-dir", str(s.data_dir)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert s.outputs["UserPoolId"] in out.stdout
    s.start()
    now_kids = kids(s)
    assert old_kids < now_kids and len(now_kids) == len(old_kids) + 2
    new = signin(s, name)
    new_kid = jwt.get_unverified_header(new["AccessToken"])["kid"]
    assert new_kid in now_kids - old_kids
    assert jwt.get_unverified_header(old["AccessToken"])["kid"] in old_kids
    # Old tokens still verify against the published keys and still work.
    keys = jwt.PyJWKClient(f"{s['IssuerUrl']}/.well-known/jwks.json")
    for t in (old["AccessToken"], new["AccessToken"]):
        jwt.decode(t, keys.get_signing_key_from_jwt(t).key, algorithms=["RS256"], options={"verify_aud": False})
    assert s.client(signed=False).get_user(AccessToken=old["AccessToken"])["Username"] == name
    assert jwt.get_unverified_header(refresh(s, old["RefreshToken"])["AccessToken"])["kid"] == new_kid


def _pg_schema_url(base):
    """A fresh schema on the test server, via psql (no driver needed here)."""
    name = f"pytest_{secrets.token_hex(6)}"
    subprocess.run(["psql", base, "-qc", f"CREATE SCHEMA {name}"], check=True, capture_output=True, timeout=30)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-c%20search_path%3D{name}", name


def test_server_on_postgresql_keeps_everything_across_a_restart(tmp_path):
    base = os.environ.get("COGNATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("COGNATE_TEST_DATABASE_URL is unset: PostgreSQL not tested")
    url, schema = _pg_schema_url(base)
    s = Server(tmp_path / "pg", database_url=url).start()
    try:
        name = make_user(s)
        tokens = signin(s, name)
        public = s.client(signed=False)
        signup = unique("pg")
        public.sign_up(ClientId=s["UserPoolClientId"], Username=signup, Password=PASSWORD,
                       UserAttributes=[{"Name": "email", "Value": f"{signup}@example.com"}])
        code = s.outbox_codes(signup)[-1]["code"]
        public.confirm_sign_up(ClientId=s["UserPoolClientId"], Username=signup, ConfirmationCode=code)
        before = dict(s.outputs)
        restart(s)
        assert s["UserPoolId"] == before["UserPoolId"] and s["ConfidentialClientSecret"] == before["ConfidentialClientSecret"]
        assert refresh(s, tokens["RefreshToken"])["AccessToken"]
        assert signin(s, signup)["AccessToken"]
        public = s.client(signed=False)
        public.global_sign_out(AccessToken=tokens["AccessToken"])
        with pytest.raises(public.exceptions.NotAuthorizedException):
            refresh(s, tokens["RefreshToken"])
    finally:
        s.stop()
        subprocess.run(["psql", base, "-qc", f"DROP SCHEMA {schema} CASCADE"], capture_output=True, timeout=30)


def test_validate_config_reports_every_problem(tmp_path):
    ok = subprocess.run([BINARY, "validate-config", str(ROOT / "examples" / "demo.toml")], capture_output=True, text=True)
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('version = 1\nregion = "mars"\n[[user_pools]]\nname = "p"\n[[user_pools.clients]]\nname = "c"\n'
                   'callback_urls = ["http://evil.example/cb"]\nallowed_oauth_flows = ["password"]\n')
    out = subprocess.run([BINARY, "validate-config", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2
    for where in ["region", "user_pools[0].clients[0].allowed_oauth_flows[0]", "user_pools[0].clients[0].callback_urls[0]"]:
        assert where in out.stderr, out.stderr


def test_serve_refuses_a_bad_config_without_touching_the_data(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[server]\nunknown = 1\n")
    out = subprocess.run([BINARY, "serve", "--config", str(bad), "--data-dir", str(tmp_path / "data"),
                          "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "unknown field" in out.stderr
    assert not (tmp_path / "data").exists()


def test_cli_helpers_create_a_user_and_print_tokens(server):
    outputs = server.data_dir / "outputs.json"
    name = unique("cli")
    created = subprocess.run([BINARY, "users", "create", "--outputs", str(outputs), "--username", name,
                              "--password", PASSWORD, "--email", f"{name}@example.com"],
                             capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["Username"] == name
    tokens = subprocess.run([BINARY, "token", "--outputs", str(outputs), "--username", name, "--password", PASSWORD],
                            capture_output=True, text=True, timeout=60)
    assert tokens.returncode == 0, tokens.stderr
    result = json.loads(tokens.stdout)
    assert jwt.decode(result["IdToken"], options={"verify_signature": False})["email"] == f"{name}@example.com"
    with_secret = subprocess.run([BINARY, "token", "--outputs", str(outputs), "--username", name, "--password", PASSWORD,
                                  "--client-id", server["ConfidentialClientId"],
                                  "--client-secret", server["ConfidentialClientSecret"]],
                                 capture_output=True, text=True, timeout=60)
    assert with_secret.returncode == 0, with_secret.stderr
    wrong = subprocess.run([BINARY, "token", "--outputs", str(outputs), "--username", name, "--password", "nope"],
                           capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 1 and "NotAuthorizedException" in wrong.stderr


class Proxy:
    """A TCP proxy of our own in front of the shared PostgreSQL, so a test can
    cut the database away without touching the machine's server."""

    def __init__(self, target_port, port=0):
        import socket
        import threading
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        import socket
        self.running = False
        for s in self.sockets + [self.listener]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_postgres_away_gives_503_and_the_server_recovers(tmp_path):
    import urllib.parse
    base = os.environ.get("COGNATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("COGNATE_TEST_DATABASE_URL is unset: PostgreSQL not tested")
    parsed = urllib.parse.urlsplit(base)
    proxy = Proxy(parsed.port or 5432)
    proxied = base.replace(parsed.netloc, f"{parsed.username + '@' if parsed.username else ''}127.0.0.1:{proxy.port}")
    url, schema = _pg_schema_url(proxied)
    s = Server(tmp_path / "pg", database_url=url).start()
    try:
        name = make_user(s)
        proxy.cut()
        import requests
        import json as _json
        r = requests.post(s["CognitoEndpoint"], timeout=30, data=_json.dumps({
            "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": s["UserPoolClientId"],
            "AuthParameters": {"USERNAME": name, "PASSWORD": PASSWORD}}), headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"})
        assert r.status_code == 503 and r.json()["__type"] == "ServiceUnavailableException", r.text
        assert r.headers["Retry-After"] == "1" and "AuthenticationResult" not in r.text
        admin = s.client()
        with pytest.raises(Exception) as e:
            admin.admin_get_user(UserPoolId=s["UserPoolId"], Username=name)
        response = getattr(e.value, "response", {})
        assert response.get("Error", {}).get("Code") == "ServiceUnavailableException", e.value
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
        # The database is back on the same address: the server recovers by itself.
        again = Proxy(parsed.port or 5432, port=proxy.port)
        try:
            import time
            deadline = time.time() + 30
            while True:
                try:
                    assert admin.admin_get_user(UserPoolId=s["UserPoolId"], Username=name)["Username"] == name
                    break
                except Exception:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.5)
            assert signin(s, name)["AccessToken"]
        finally:
            s.stop()
            again.cut()
    finally:
        if s.proc.poll() is None:
            s.stop()
        subprocess.run(["psql", base, "-qc", f"DROP SCHEMA {schema} CASCADE"], capture_output=True, timeout=30)


def test_sqlite_write_lock_held_elsewhere_gives_503_and_writes_nothing(fresh_server):
    import sqlite3
    s = fresh_server
    admin = s.client()
    existing = make_user(s)
    holder = sqlite3.connect(str(s.data_dir / "cognate.db"), timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Exception) as e:
            admin.admin_create_user(UserPoolId=s["UserPoolId"], Username="blocked-user", MessageAction="SUPPRESS")
        response = getattr(e.value, "response", {})
        assert response.get("Error", {}).get("Code") == "ServiceUnavailableException", e.value
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 503
        # Reads are still served while writes wait.
        assert admin.admin_get_user(UserPoolId=s["UserPoolId"], Username=existing)["Username"] == existing
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with pytest.raises(admin.exceptions.UserNotFoundException):
        admin.admin_get_user(UserPoolId=s["UserPoolId"], Username="blocked-user")
    admin.admin_create_user(UserPoolId=s["UserPoolId"], Username="blocked-user", MessageAction="SUPPRESS")


def test_a_taken_neighbour_port_moves_an_auto_listener_not_the_server(tmp_path):
    """A port next to the main one is taken (the hosted domain's, main+1):
    the server starts anyway, on its main port, with the domain elsewhere.
    Another process may take the main port between the check and the start;
    that is told apart (its log says so) and tried again, never skipped."""
    import socket

    import requests
    for attempt in range(5):
        squatter = socket.socket()
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        main_port = squatter.getsockname()[1] - 1
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", main_port))
        except OSError:
            squatter.close()
            continue
        finally:
            probe.close()
        s = Server(tmp_path / f"data{attempt}")
        s.listen = f"127.0.0.1:{main_port}"
        try:
            s.start()
        except RuntimeError:
            log = (s.data_dir / "server.log").read_text()
            squatter.close()
            assert "in use" in log.lower(), log
            continue
        try:
            assert s["CognitoEndpoint"] == f"http://127.0.0.1:{main_port}"
            assert s["HostedUiUrl"] != f"http://127.0.0.1:{main_port + 1}", "the taken port was not reused"
            assert requests.get(s["HostedUiUrl"] + "/error", timeout=10).status_code == 400
            return
        finally:
            s.stop()
            squatter.close()
    pytest.fail("no free port pair in five tries")
