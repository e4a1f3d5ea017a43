#!/usr/bin/env python3
"""Slow clients against cognate: does the API keep answering others?

Starts `cognate serve` (the built-in demo) and measures a probe client
(sequential keep-alive requests to the demo API's GET /hello, answered 401
by the JWT authorizer: the gateway's path without an upstream, and to the
main listener's JWKS) three times:

  1. alone;
  2. while N slow clients (default 5,000, from 100 loopback addresses, so
     each address stays under the per-address limit) hold connections:
     half send a request's headers one byte every 2 s (slowloris), half
     send complete heads and then a body one byte every 2 s (slow POST);
  3. while one address tries to open N slow connections (the per-address
     limit on connections still sending headers holds it to 256).

Prints one JSON object with requests/s, p50/p99 latency and errors for
each phase, and what happened to the slow connections (open when the
probe ended, closed by the server, refused at once).

  python3 bench/slow_clients.py [--binary target/release/cognate] [--clients 5000] [--seconds 10]
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import pathlib
import signal
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def start(binary, data_dir):
    out = data_dir / "outputs.json"
    proc = subprocess.Popen(
        [binary, "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", "--outputs-file", str(out)],
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


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def probe(targets, seconds):
    """Sequential keep-alive requests, alternating between the targets,
    for `seconds`; reconnects after an error."""
    latencies, errors, statuses = [], 0, {}
    conns = {}
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        (host, port), path = targets[i % len(targets)]
        i += 1
        t0 = time.monotonic()
        try:
            if (host, port) not in conns:
                conns[(host, port)] = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            reader, writer = conns[(host, port)]
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            status = await asyncio.wait_for(read_response(reader), 5)
            latencies.append(time.monotonic() - t0)
            statuses[status] = statuses.get(status, 0) + 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            errors += 1
            conns.pop((host, port), None)
    for _, w in conns.values():
        w.close()
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2) if latencies else None  # noqa: E731
    return {"requests": len(latencies), "per_second": round(len(latencies) / seconds), "p50_ms": pick(0.5),
            "p99_ms": pick(0.99), "max_ms": pick(1.0), "errors": errors, "statuses": statuses}


async def slow_client(addr, source, kind, stats, stop):
    """One slow connection; counts how it ends."""
    try:
        reader, writer = await asyncio.open_connection(addr[0], addr[1], local_addr=(source, 0))
    except OSError:
        stats["connect_failed"] += 1
        return
    try:
        if kind == "header":
            writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            trickle = b"a"
        else:
            writer.write(b"POST /user/profile HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
            trickle = b"x"
        await writer.drain()
        stats["opened"] += 1
        while not stop.is_set():
            read = asyncio.ensure_future(reader.read(1024))
            done, _ = await asyncio.wait({read}, timeout=2)
            if done:
                data = read.result()
                stats["answered_408" if b" 408 " in data[:20] else ("closed" if not data else "answered_other")] += 1
                return
            read.cancel()
            writer.write(trickle)
            await writer.drain()
        stats["open_at_end"] += 1
    except (ConnectionResetError, BrokenPipeError):
        stats["reset"] += 1
    finally:
        writer.close()


async def slow_crowd(addr, sources, n, seconds):
    """N slow clients for `seconds`; how they ended."""
    stats = {k: 0 for k in ("opened", "connect_failed", "answered_408", "answered_other", "closed", "reset", "open_at_end")}
    stop = asyncio.Event()
    tasks = []
    for i in range(n):
        kind = "header" if i % 2 == 0 else "body"
        tasks.append(asyncio.ensure_future(slow_client(addr, sources[i % len(sources)], kind, stats, stop)))
        if i % 500 == 499:
            await asyncio.sleep(0.05)
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return stats


def crowd_process(addr, sources, n, seconds, queue):
    queue.put(asyncio.run(slow_crowd(addr, sources, n, seconds)))


async def phase(targets, seconds, slow=None):
    """The probe alone, or with a crowd of slow clients in another process
    (so the probe's own latency is not the crowd's event loop)."""
    if slow is None:
        return {"probe": await probe(targets, seconds)}
    addr, sources, n = slow
    queue = multiprocessing.Queue()
    crowd = multiprocessing.Process(target=crowd_process, args=(addr, sources, n, seconds + 3, queue))
    crowd.start()
    await asyncio.sleep(2)  # let the connections land before measuring
    result = await probe(targets, seconds)
    stats = queue.get()
    crowd.join()
    return {"probe": result, "slow": stats}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "cognate"))
    ap.add_argument("--clients", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        proc, outputs = start(args.binary, pathlib.Path(d))
        try:
            api = hostport(outputs["ApiUrl"])
            main_ = hostport(outputs["CognitoEndpoint"])
            jwks = outputs["IssuerUrl"].split("://", 1)[1].split("/", 1)[1]
            targets = [(api, "/hello"), (main_, f"/{jwks}/.well-known/jwks.json")]
            many = [f"127.0.3.{i}" for i in range(1, 101)]
            report = {
                "binary": args.binary,
                "slow_clients": args.clients,
                "alone": await phase(targets, args.seconds),
                "with_slow_clients_from_100_addresses": await phase(targets, args.seconds, (api, many, args.clients)),
                "with_slow_clients_from_one_address": await phase(targets, args.seconds, (api, ["127.0.4.1"], args.clients)),
            }
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
