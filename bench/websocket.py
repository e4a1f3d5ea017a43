#!/usr/bin/env python3
"""WebSocket benchmark: concurrent authorized connections, memory per
connection, and broadcast rates through `sendmessage` and `@connections`.

The machine allows 20,000 open files per process (hard limit, not
raisable here), and a process holding 20,000 sockets needs a few more
for its listeners and database. So the 20,000 connections are held by
two cognate nodes sharing one PostgreSQL database (the multi-node
deployment), 10,000 each, on the same 2-core machine; one load process
per node (bench/ws-load) opens its node's connections, each authorized
at `$connect` by a cookie session + CSRF token from an allowed Origin
(the demo's WebSocket API), and learns its id through a `whoami` route.

Measured, with every connection open at once:
- connect time; server RSS before and after (memory per connection);
- `sendmessage` broadcasts: one sender on the first node, each message
  delivered to every connection of both nodes (the other node's share is
  relayed to it);
- `@connections` PostToConnection to every connection, SigV4-signed,
  over keep-alive HTTP connections.

Usage: .venv-test/bin/python bench/websocket.py [connections=20000]
       [nodes=2] [broadcasts=20] [http_clients=32]
Needs: psql and PostgreSQL at 127.0.0.1:5432 (trust auth); the Python
test venv (scripts/test makes it). Builds release binaries.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import boto3  # noqa: E402

from conftest import make_user  # noqa: E402
from test_sessions import cookie_header, signed_in  # noqa: E402
from ws_helpers import WHOAMI  # noqa: E402

DB = "cognate_wsbench"


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def main():
    opts = dict(a.split("=", 1) for a in sys.argv[1:])
    connections = int(opts.get("connections", 20000))
    nodes = int(opts.get("nodes", 2))
    broadcasts = int(opts.get("broadcasts", 20))
    http_clients = int(opts.get("http_clients", 32))

    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "cognate", "--bin", "cognate-ws-load"],
                   cwd=ROOT, check=True)
    cognate = ROOT / "target" / "release" / "cognate"
    load = ROOT / "target" / "release" / "cognate-ws-load"
    for sql in (f"DROP DATABASE IF EXISTS {DB}", f"CREATE DATABASE {DB}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", sql], check=True)
    url = f"postgres://postgres@127.0.0.1:5432/{DB}"

    work = pathlib.Path(tempfile.mkdtemp(prefix="wsbench-"))
    config = work / "bench.toml"
    config.write_text((ROOT / "examples" / "demo.toml").read_text() + WHOAMI)
    servers, outputs, clients = [], [], []
    try:
        for i in range(nodes):
            out = work / f"outputs-{i}.json"
            log = open(work / f"node-{i}.log", "ab")
            p = subprocess.Popen([str(cognate), "serve", "--config", str(config), "--data-dir", str(work / "data"),
                                  "--database-url", url, "--listen", "127.0.0.1:0", "--outputs-file", str(out)],
                                 stdout=log, stderr=subprocess.STDOUT,
                                 env=dict(os.environ, COGNATE_LOG="warn"))
            servers.append(p)
            deadline = time.time() + 60
            while not out.exists():
                if p.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"node {i} did not start; see {work}/node-{i}.log")
                time.sleep(0.05)
            outputs.append(json.loads(out.read_text()))
        o = outputs[0]
        admin = boto3.client("cognito-idp", endpoint_url=o["CognitoEndpoint"], region_name=o["Region"],
                             aws_access_key_id=o["AdminAccessKeyId"],
                             aws_secret_access_key=o["AdminSecretAccessKey"])
        sessions = work / "sessions.txt"
        lines = []
        for u in range(8):
            name = f"bench-{u}"
            make_user(o, name, admin)
            # The last node to start registered its callback URL with the
            # shared client (a real deployment has one public URL).
            _, cookies = signed_in(outputs[-1], name)
            lines.append(f"{cookie_header(cookies)}|{cookies['__Host-cognate-csrf']}")
        sessions.write_text("\n".join(lines) + "\n")

        # Every node learns of the others within one 5 s heartbeat.
        time.sleep(6)
        before = [rss_kib(p.pid) for p in servers]
        per_node = connections // nodes
        started = time.time()
        for i, node in enumerate(outputs):
            clients.append(subprocess.Popen(
                [str(load), f"ws={node['WebSocketUrl']}", f"http={node['WebSocketUrl'].replace('ws://', 'http://')}",
                 f"origin={node['ApiUrl']}", f"sessions={sessions}", f"connections={per_node}",
                 f"broadcasts={broadcasts if i == 0 else 0}", f"expect_broadcasts={broadcasts}",
                 f"http_clients={http_clients}", f"key={o['AdminAccessKeyId']}",
                 f"secret={o['AdminSecretAccessKey']}", f"region={o['Region']}"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        ready = [json.loads(c.stdout.readline()) for c in clients]
        connect_s = time.time() - started
        time.sleep(2)
        after = [rss_kib(p.pid) for p in servers]
        open_fds = [fds(p.pid) for p in servers]
        for c in clients:
            c.stdin.write("go\n")
            c.stdin.flush()
        results = [json.loads(c.stdout.readline()) for c in clients]
    finally:
        for c in clients:
            c.kill()
        for p in servers:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in servers:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()

    held = sum(r["ready"] for r in ready)
    failed = sum(r["failed"] for r in ready)
    per_conn = [(a - b) * 1024 / max(1, r["ready"]) for a, b, r in zip(after, before, ready)]
    bc_delivered = sum(r["broadcast_delivered"] for r in results)
    # Deliveries over the time the slower node took to get all of its own.
    bc_rate = bc_delivered / max(r["broadcast_s"] for r in results)
    post_rate = sum(r["posted"] / r["post_s"] for r in results)
    post_delivered = sum(r["post_delivered"] for r in results)
    summary = {
        "connections_held": held, "connect_failures": failed, "first_error": [r.get("error") for r in ready],
        "connect_s": round(connect_s, 2), "connect_per_s": round(held / connect_s),
        "nodes": nodes, "rss_before_kib": before, "rss_after_kib": after, "open_fds": open_fds,
        "bytes_per_connection": [round(x) for x in per_conn],
        "broadcasts": broadcasts, "broadcast_deliveries": bc_delivered,
        "broadcast_expected": held * broadcasts,
        "broadcast_deliveries_per_s": round(bc_rate),
        "post_to_connection_per_s": round(post_rate), "posted": sum(r["posted"] for r in results),
        "post_delivered": post_delivered,
        "per_node": results,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
