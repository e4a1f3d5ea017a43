#!/usr/bin/env python3
"""Several nodes under faults: three cognate nodes on one PostgreSQL under
load (sign-ins, refreshes with rotation, code exchanges, user writes and
gateway requests), while the script kills one node with SIGKILL, restarts
PostgreSQL, and cuts the network to the database for a while. Then, with
no node restarted except the killed one:

  - every acknowledged write is there (each user whose creation was
    answered 200 can be read back);
  - no refresh token and no authorization code was used twice (each is
    spent on two nodes at once, on purpose, and at most one may win);
  - no request was allowed by a failure (a revoked access token and a
    forged one sent to the gateway throughout: never a 200);
  - every node serves sign-ins again without a restart.

A SQLite phase follows: one node under sustained user writes is killed
with SIGKILL and started again; every acknowledged user must be there.

The script runs its own PostgreSQL (initdb in a temporary folder, started
as the `postgres` user, which needs root) behind a TCP proxy of its own
that it can cut. Prints a JSON report; exits 1 when a check fails.

  python bench/faults.py [--binary target/debug/cognate] [--short]
"""

import argparse
import asyncio
import concurrent.futures
import json
import os
import pathlib
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import botocore.config
import requests

ROOT = pathlib.Path(__file__).resolve().parents[1]
PASSWORD = "Passw0rd!x"
CALLBACK = "http://localhost:3000/"
PG_BIN = next(pathlib.Path("/usr/lib/postgresql").glob("*/bin"), None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- PostgreSQL of our own, and a proxy we can cut ---------------------------

class Postgres:
    def __init__(self, folder):
        self.dir = folder / "pg"
        self.port = free_port()
        self.proc = None
        self.dir.mkdir()
        shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run([str(PG_BIN / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust"],
                       user="postgres", check=True, capture_output=True)

    def start(self):
        self.proc = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(self.dir), "-p", str(self.port), "-k", str(self.dir),
             "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "fsync=on"],
            user="postgres", stdout=open(self.dir.parent / "pg.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                             capture_output=True).returncode != 0:
            if time.time() > deadline:
                raise SystemExit("our PostgreSQL did not start")
            time.sleep(0.1)

    def restart(self):
        """A fast shutdown (SIGINT: every session ends) and a start."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        self.start()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)


class Proxy:
    """Forwards 127.0.0.1:port to the database. `cut()` stops every byte
    both ways and holds new connections unanswered (a partition, not a
    refusal); `heal()` resets what was held and forwards again."""

    def __init__(self, target_port):
        self.port = free_port()
        self.target = target_port
        self.cut_now = False
        self.held = set()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait()

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        ready.set()
        self.loop.run_forever()
        server.close()

    async def _client(self, reader, writer):
        self.held.add(writer)
        try:
            while self.cut_now:
                await asyncio.sleep(0.05)
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
            self.held.add(up_w)
            await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer), return_exceptions=True)
        except OSError:
            pass
        finally:
            writer.close()

    async def _pipe(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                while self.cut_now:
                    await asyncio.sleep(0.05)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self.held.discard(writer)

    def cut(self):
        self.cut_now = True

    def heal(self):
        def reset():
            for w in list(self.held):
                sock = w.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    except OSError:
                        pass
                w.close()
            self.held.clear()
            self.cut_now = False
        self.loop.call_soon_threadsafe(reset)


# ---- nodes -------------------------------------------------------------------

def config_text():
    text = (ROOT / "examples" / "demo.toml").read_text()
    rotating = '''# Refresh tokens rotate: each is spent once.
[[user_pools.clients]]
name = "rotating"
output = "RotatingClient"
explicit_auth_flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
refresh_token_rotation = { enabled = true, retry_grace_period_seconds = 0 }

'''
    at = text.index("# Client with a secret")
    return text[:at] + rotating + text[at:]


class Node:
    def __init__(self, binary, folder, database_url, config, listen="127.0.0.1:0"):
        self.binary, self.folder, self.database_url, self.config = binary, folder, database_url, config
        self.listen = listen
        self.proc = None
        self.out = {}
        self._idp = None
        self._idp_lock = threading.Lock()

    def start(self):
        self._idp = None
        self.folder.mkdir(parents=True, exist_ok=True)
        out = self.folder / "outputs.json"
        if out.exists():
            out.unlink()
        args = [self.binary, "serve", "--data-dir", str(self.folder), "--listen", self.listen,
                "--outputs-file", str(out), "--config", str(self.config)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        self.proc = subprocess.Popen(args, stdout=open(self.folder / "server.log", "ab"), stderr=subprocess.STDOUT,
                                     env=dict(os.environ, COGNATE_LOG="warn,cognate::access=off"))
        deadline = time.time() + 90
        while not out.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"a node did not start; see {self.folder}/server.log")
            time.sleep(0.05)
        self.out = json.loads(out.read_text())
        self.listen = self.out["CognitoEndpoint"].split("://", 1)[1]
        return self

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def idp(self):
        # One client per node (boto3 clients are safe to share between
        # threads; making one costs more than a request).
        with self._idp_lock:
            if self._idp is None:
                self._idp = self._make_idp()
            return self._idp

    def _make_idp(self):
        return boto3.client("cognito-idp", endpoint_url=self.out["CognitoEndpoint"], region_name="us-east-1",
                            aws_access_key_id=self.out["AdminAccessKeyId"],
                            aws_secret_access_key=self.out["AdminSecretAccessKey"],
                            config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=3,
                                                          read_timeout=8))


def kind_of(e):
    response = getattr(e, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code or type(e).__name__


# ---- the load ------------------------------------------------------------------

class Load:
    def __init__(self, nodes, pool_id, client_id, rotating_id, users, revoked_token, forged_token):
        self.nodes = nodes
        self.pool_id, self.client_id, self.rotating_id = pool_id, client_id, rotating_id
        self.users = users
        self.revoked, self.forged = revoked_token, forged_token
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = Counter()
        self.acknowledged = []  # usernames whose creation was answered 200
        self.double_spends = Counter()  # kind -> times two nodes both accepted one secret
        self.allowed_by_failure = []

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def note(self, op, outcome):
        with self.lock:
            self.counts[f"{op}:{outcome}"] += 1

    def run(self, workers):
        threads = [threading.Thread(target=self.worker, args=(i,), daemon=True) for i in range(workers)]
        for t in threads:
            t.start()
        return threads

    def worker(self, i):
        rnd = random.Random(i)
        refresh = None
        while not self.stop.is_set():
            live = self.live()
            if not live:
                time.sleep(0.1)
                continue
            node = rnd.choice(live)
            op = rnd.choice(["signin", "refresh", "code", "write", "gateway"])
            try:
                if op == "signin" or (op == "refresh" and refresh is None):
                    r = node.idp().initiate_auth(ClientId=self.rotating_id, AuthFlow="USER_PASSWORD_AUTH",
                                                 AuthParameters={"USERNAME": rnd.choice(self.users), "PASSWORD": PASSWORD})
                    refresh = r["AuthenticationResult"]["RefreshToken"]
                    self.note("signin", "ok")
                elif op == "refresh":
                    refresh = self.spend_refresh(refresh, rnd)
                elif op == "code":
                    self.spend_code(node, rnd)
                elif op == "write":
                    name = "w-" + secrets.token_hex(6)
                    node.idp().admin_create_user(UserPoolId=self.pool_id, Username=name,
                                                 TemporaryPassword=PASSWORD, MessageAction="SUPPRESS")
                    with self.lock:
                        self.acknowledged.append(name)
                    self.note("write", "ok")
                else:
                    self.gateway(node)
            except Exception as e:  # every failure is counted by kind, none stops the load
                self.note(op, kind_of(e))

    def spend_refresh(self, token, rnd):
        """Spends one refresh token on two nodes at once: at most one may
        answer with tokens; the winner's new refresh token goes on."""
        live = self.live()
        pair = rnd.sample(live, 2) if len(live) >= 2 else live * 2

        def attempt(n):
            try:
                return n.idp().get_tokens_from_refresh_token(RefreshToken=token, ClientId=self.rotating_id)
            except Exception as e:
                return e
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            results = list(ex.map(attempt, pair))
        wins = [r for r in results if isinstance(r, dict)]
        if len(wins) > 1:
            with self.lock:
                self.double_spends["refresh_token"] += 1
        for r in results:
            self.note("refresh", "ok" if isinstance(r, dict) else kind_of(r))
        if wins:
            return wins[0]["AuthenticationResult"].get("RefreshToken", token)
        return None

    def spend_code(self, node, rnd):
        """Signs in on the hosted page of one node, then exchanges the code
        on two nodes at once: at most one may get tokens."""
        browser = requests.Session()
        base = node.out["HostedUiUrl"]
        url = base + "/oauth2/authorize?" + urlencode({"client_id": self.client_id, "response_type": "code",
                                                       "redirect_uri": CALLBACK, "scope": "openid"})
        r = browser.get(url, allow_redirects=False, timeout=8)
        if r.status_code != 302:
            self.note("code", f"authorize_{r.status_code}")
            return
        page = browser.get(base + r.headers["Location"], timeout=8)
        m = re.search(r'name="_csrf" value="([^"]+)"', page.text)
        a = re.search(r'action="([^"]+)"', page.text)
        if not (m and a):
            self.note("code", f"login_page_{page.status_code}")
            return
        r = browser.post(base + a.group(1).replace("&amp;", "&"), allow_redirects=False, timeout=8,
                         data={"_csrf": m.group(1), "username": rnd.choice(self.users), "password": PASSWORD})
        location = r.headers.get("Location", "")
        if r.status_code != 302 or not location.startswith(CALLBACK):
            self.note("code", f"login_{r.status_code}")
            return
        code = parse_qs(urlsplit(location).query)["code"][0]
        live = self.live()
        pair = rnd.sample(live, 2) if len(live) >= 2 else live * 2

        def exchange(n):
            return requests.post(n.out["HostedUiUrl"] + "/oauth2/token", timeout=8, data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                "client_id": self.client_id}).status_code
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            statuses = list(ex.map(lambda n: self._safe(exchange, n), pair))
        if statuses.count(200) > 1:
            with self.lock:
                self.double_spends["authorization_code"] += 1
        for s in statuses:
            self.note("code", "ok" if s == 200 else f"token_{s}")

    @staticmethod
    def _safe(f, arg):
        try:
            return f(arg)
        except Exception as e:
            return type(e).__name__

    def gateway(self, node):
        api = node.out["ApiUrl"]
        for label, token in (("revoked", self.revoked), ("forged", self.forged)):
            r = requests.get(api + "/hello", headers={"Authorization": f"Bearer {token}"}, timeout=8)
            if r.status_code == 200:
                with self.lock:
                    self.allowed_by_failure.append(label)
            self.note(f"gateway_{label}", r.status_code)


# ---- the run -------------------------------------------------------------------

def prepare(node, users_count):
    idp = node.idp()
    pool_id = node.out["UserPoolId"]
    users = []
    for _ in range(users_count):
        name = "u-" + secrets.token_hex(5)
        idp.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"},
                                              {"Name": "email_verified", "Value": "true"}])
        idp.admin_set_user_password(UserPoolId=pool_id, Username=name, Password=PASSWORD, Permanent=True)
        users.append(name)
    # A token revoked before the faults: it must stay refused throughout.
    r = idp.initiate_auth(ClientId=node.out["UserPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": users[0], "PASSWORD": PASSWORD})
    revoked = r["AuthenticationResult"]["AccessToken"]
    idp.global_sign_out(AccessToken=revoked)
    head, payload, sig = revoked.split(".")
    forged = head + "." + payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB") + "." + sig
    return pool_id, users, revoked, forged


def recovered(node, client_id, user, within):
    """Whether `node` signs a user in within `within` seconds (it is not
    restarted: only time passes)."""
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            node.idp().initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
            return round(within - (deadline - time.time()), 1)
        except Exception:
            time.sleep(0.5)
    return None


def missing(node, pool_id, names):
    idp = node.idp()
    gone = []
    for n in names:
        for attempt in range(3):
            try:
                idp.admin_get_user(UserPoolId=pool_id, Username=n)
                break
            except idp.exceptions.UserNotFoundException:
                gone.append(n)
                break
            except Exception:
                time.sleep(1)
        else:
            gone.append(n)
    return gone


def postgres_phase(binary, folder, t, workers):
    pg = Postgres(folder)
    pg.start()
    proxy = Proxy(pg.port)
    url = f"postgres://postgres@127.0.0.1:{proxy.port}/postgres"
    cfg = folder / "faults.toml"
    cfg.write_text(config_text())
    nodes = [Node(binary, folder / f"node{i}", url, cfg) for i in range(3)]
    report = {"faults": []}
    try:
        nodes[0].start()
        for n in nodes[1:]:
            n.start()
        pool_id, users, revoked, forged = prepare(nodes[0], 20)
        load = Load(nodes, pool_id, nodes[0].out["UserPoolClientId"], nodes[0].out["RotatingClientId"],
                    users, revoked, forged)
        threads = load.run(workers)
        started = time.time()

        def at(seconds, what):
            time.sleep(max(0, started + seconds - time.time()))
            report["faults"].append({"at_s": round(time.time() - started, 1), "fault": what})

        at(t["kill"], "kill -9 node 2")
        nodes[2].kill9()
        at(t["kill"] + t["gap"], "node 2 started again")
        nodes[2].start()
        at(t["kill"] + 2 * t["gap"], "PostgreSQL restarted (fast shutdown, start)")
        pg.restart()
        at(t["kill"] + 3 * t["gap"], f"network to the database cut for {t['cut']} s")
        proxy.cut()
        time.sleep(t["cut"])
        proxy.heal()
        report["faults"].append({"at_s": round(time.time() - started, 1), "fault": "network healed"})
        time.sleep(t["after"])
        load.stop.set()
        for th in threads:
            th.join(timeout=30)
        report["load_seconds"] = round(time.time() - started, 1)
        report["recovery_seconds_by_node"] = [recovered(n, nodes[0].out["RotatingClientId"], users[1], 60)
                                              for n in nodes]
        lost = missing(nodes[0], pool_id, load.acknowledged)
        report["requests"] = dict(sorted(load.counts.items()))
        report["acknowledged_writes"] = len(load.acknowledged)
        report["acknowledged_writes_lost"] = lost
        report["double_spends"] = dict(load.double_spends)
        report["gateway_allowed_by_failure"] = load.allowed_by_failure
        report["ok"] = (not lost and not load.double_spends and not load.allowed_by_failure
                        and all(r is not None for r in report["recovery_seconds_by_node"]))
        return report
    finally:
        for n in nodes:
            n.stop()
        pg.stop()


def sqlite_phase(binary, folder, seconds, workers):
    cfg = folder / "sqlite.toml"
    cfg.write_text(config_text())
    node = Node(binary, folder / "sqlite-node", None, cfg).start()
    pool_id = node.out["UserPoolId"]
    acknowledged, counts, lock, stop = [], Counter(), threading.Lock(), threading.Event()

    def writer():
        while not stop.is_set():
            name = "s-" + secrets.token_hex(6)
            try:
                node.idp().admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS")
                with lock:
                    acknowledged.append(name)
                    counts["ok"] += 1
            except Exception as e:
                with lock:
                    counts[kind_of(e)] += 1
    threads = [threading.Thread(target=writer, daemon=True) for _ in range(workers)]
    for th in threads:
        th.start()
    time.sleep(seconds)
    node.kill9()
    stop.set()
    for th in threads:
        th.join(timeout=30)
    node.start()
    try:
        lost = missing(node, pool_id, acknowledged)
    finally:
        node.stop()
    return {"writes": dict(counts), "acknowledged": len(acknowledged), "acknowledged_lost": lost, "ok": not lost}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target" / "debug" / "cognate"))
    ap.add_argument("--short", action="store_true", help="the CI variant: shorter phases")
    ap.add_argument("--workers", type=int, default=6)
    args = ap.parse_args()
    if os.geteuid() != 0 or PG_BIN is None:
        print(json.dumps({"skipped": "needs root and PostgreSQL's server binaries to run a PostgreSQL of its own"}))
        return 0
    t = ({"kill": 4, "gap": 4, "cut": 5, "after": 4} if args.short
         else {"kill": 10, "gap": 10, "cut": 10, "after": 10})
    with tempfile.TemporaryDirectory() as d:
        folder = pathlib.Path(d)
        os.chmod(folder, 0o755)
        report = {"binary": args.binary, "workers": args.workers, "timeline_s": t,
                  "postgresql": postgres_phase(args.binary, folder, t, args.workers),
                  "sqlite": sqlite_phase(args.binary, folder, 3 if args.short else 10, args.workers)}
    report["ok"] = report["postgresql"]["ok"] and report["sqlite"]["ok"]
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
