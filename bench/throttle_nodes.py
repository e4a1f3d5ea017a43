#!/usr/bin/env python3
"""Throttling across three nodes under sustained load: how close does the
deployment stay to the configured rate?

Starts three `cognate serve` nodes on one PostgreSQL (a schema of its own)
with an HTTP API whose stage is throttled at RATE requests/s (burst RATE),
then sends requests as fast as WORKERS keep-alive connections allow for
SECONDS, and counts the 200s. Expected: burst + rate x elapsed. Four runs:
node shares (no Redis) with the load spread evenly and all on one node, and
one Redis bucket with both spreads.

  python3 bench/throttle_nodes.py [--binary target/release/cognate] [--rate 100] [--seconds 10]
      [--database postgres://postgres@127.0.0.1:5432/test] [--redis redis://127.0.0.1:6379]
"""

import argparse
import asyncio
import json
import os
import pathlib
import secrets
import signal
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def config(name, rate, redis_url):
    server = f'[server]\nredis_url = "{redis_url}"\n' if redis_url else ""
    return f"""version = 1
region = "us-east-1"
{server}
[[http_apis]]
name = "{name}"

[[http_apis.stages]]
name = "$default"
throttle = {{ rate = {rate}, burst = {int(rate)} }}

[http_apis.integrations.ok]
type = "response"
status = 200
body = "ok"

[[http_apis.routes]]
route = "GET /limited"
integration = "ok"
"""


def start(binary, data_dir, database, cfg):
    data_dir.mkdir(parents=True)
    out = data_dir / "outputs.json"
    proc = subprocess.Popen(
        [binary, "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", "--outputs-file", str(out),
         "--database-url", database, "--config", str(cfg)],
        stdout=open(data_dir / "server.log", "ab"), stderr=subprocess.STDOUT,
        env=dict(os.environ, COGNATE_LOG="warn"))
    deadline = time.time() + 120
    while not out.exists():
        if proc.poll() is not None or time.time() > deadline:
            raise SystemExit(f"cognate did not start; see {data_dir}/server.log")
        time.sleep(0.05)
    return proc, json.loads(out.read_text())


def hostport(url):
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return host, int(port)


async def worker(addr, end, counts):
    reader, writer = await asyncio.open_connection(*addr)
    while time.monotonic() < end:
        writer.write(b"GET /limited HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(l.split(b":", 1)[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        counts[status] = counts.get(status, 0) + 1
    writer.close()


async def load(addrs, workers, seconds):
    counts = {}
    start = time.monotonic()
    end = start + seconds
    await asyncio.gather(*(worker(addrs[i % len(addrs)], end, counts) for i in range(workers)))
    return counts, time.monotonic() - start


def run(binary, database, redis_url, rate, seconds, workers, tmp):
    name = "throttle-" + secrets.token_hex(4)
    cfg = tmp / f"{name}.toml"
    cfg.write_text(config(name, rate, redis_url))
    schema = "bench_" + secrets.token_hex(4)
    subprocess.run(["psql", database, "-qc", f"CREATE SCHEMA {schema}"], check=True, capture_output=True)
    url = database + ("&" if "?" in database else "?") + f"options=-c%20search_path%3D{schema}"
    procs = []
    try:
        nodes = []
        for i in range(3):
            p, out = start(binary, tmp / f"{name}-{i}", url, cfg)
            procs.append(p)
            nodes.append(hostport(out["ApiUrl"]))
        time.sleep(5)  # heartbeats: every node counts three
        results = {}
        for spread, addrs in (("even", nodes), ("one_node", nodes[:1])):
            counts, elapsed = asyncio.run(load(addrs, workers, seconds))
            expected = rate + rate * elapsed
            results[spread] = {"admitted": counts.get(200, 0), "refused": counts.get(429, 0),
                               "expected": round(expected), "ratio": round(counts.get(200, 0) / expected, 3),
                               "seconds": round(elapsed, 2)}
            time.sleep(2)  # the buckets refill (burst / rate = 1 s) before the next spread
        return results
    finally:
        for p in procs:
            os.kill(p.pid, signal.SIGTERM)
            p.wait(timeout=30)
        subprocess.run(["psql", database, "-qc", f"DROP SCHEMA {schema} CASCADE"], capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "cognate"))
    ap.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/test")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379")
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workers", type=int, default=12)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        report = {
            "binary": args.binary, "rate": args.rate, "burst": int(args.rate), "nodes": 3,
            "node_shares": run(args.binary, args.database, None, args.rate, args.seconds, args.workers, tmp),
            "redis": run(args.binary, args.database, args.redis, args.rate, args.seconds, args.workers, tmp),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
