"""Throttling across three nodes sharing one PostgreSQL: the configured
limit holds for the deployment, not for each node. Without Redis each node
holds its share (the live node count comes from the nodes' heartbeats in
the database); with `server.redis_url` the nodes take from one bucket in
Redis, however the load is spread. The rate's side (10% of the configured
rate under sustained load) is measured by bench/throttle_nodes.py; here the
burst, which no refill blurs (rate 0.001/s), is counted exactly."""

import os
import re
import subprocess
import time

import pytest
import requests

from conftest import Server, unique
from test_lifecycle import _pg_schema_url

BURST = 30


def config(name, redis_url=None):
    server = '[server]\nmetrics_listen = "auto"\n'
    if redis_url:
        server += f'redis_url = "{redis_url}"\n'
    return f"""version = 1
region = "us-east-1"
{server}
[[http_apis]]
name = "{name}"

[[http_apis.stages]]
name = "$default"
throttle = {{ rate = 0.001, burst = {BURST} }}

[http_apis.integrations.ok]
type = "response"
status = 200
body = "ok"

[[http_apis.routes]]
route = "GET /limited"
integration = "ok"
"""


@pytest.fixture
def database(tmp_path):
    base = os.environ.get("COGNATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("COGNATE_TEST_DATABASE_URL is unset: PostgreSQL not tested")
    url, schema = _pg_schema_url(base)
    yield url
    subprocess.run(["psql", base, "-qc", f"DROP SCHEMA {schema} CASCADE"], capture_output=True, timeout=30)


def start_nodes(tmp_path, url, text, n=3):
    cfg = tmp_path / "throttle.toml"
    cfg.write_text(text)
    nodes = []
    for i in range(n):
        nodes.append(Server(tmp_path / f"data{i}", database_url=url, config=cfg).start())
    return nodes


def gauge(node, api):
    text = requests.get(node["MetricsUrl"], timeout=10).text
    m = re.search(r'^cognate_gateway_nodes\{api="%s"\} (\d+)$' % re.escape(api), text, re.M)
    return int(m.group(1)) if m else None


def admitted(nodes, plan):
    """Sends GET /limited to the nodes in `plan` (indexes), in order;
    returns the number of 200s, checking every other answer is 429."""
    ok = 0
    for i in plan:
        r = requests.get(nodes[i]["ApiUrl"] + "/limited", timeout=10)
        assert r.status_code in (200, 429), r.text
        assert r.status_code != 429 or r.json() == {"message": "Too Many Requests"}
        ok += r.status_code == 200
    return ok


def test_without_redis_each_of_three_nodes_holds_its_share(tmp_path, database):
    name = unique("share")
    nodes = start_nodes(tmp_path, database, config(name))
    try:
        # Each node counts the others from their heartbeats (every 2 s):
        # wait for that state, as seen on each node's metrics.
        deadline = time.monotonic() + 30
        while any(gauge(n, name) != 3 for n in nodes):
            assert time.monotonic() < deadline, [gauge(n, name) for n in nodes]
            time.sleep(0.2)
        # Load spread evenly: the deployment admits its burst, not 3 x burst.
        got = admitted(nodes, [i % 3 for i in range(3 * BURST)])
        assert abs(got - BURST) <= BURST // 10, got
        # A node that takes all the load admits only its share.
        assert admitted(nodes, [0] * BURST) == 0
    finally:
        for n in nodes:
            n.stop()


def test_with_redis_three_nodes_take_from_one_bucket_however_the_load_is_spread(tmp_path, database):
    redis_url = os.environ.get("COGNATE_TEST_REDIS_URL")
    if not redis_url:
        pytest.skip("COGNATE_TEST_REDIS_URL is unset: Redis not tested")
    name = unique("redis")  # its own bucket keys
    nodes = start_nodes(tmp_path, database, config(name, redis_url))
    try:
        # Uneven: most of the load on one node, some on another.
        plan = [0] * (2 * BURST) + [1] * BURST + [2] * 5
        assert admitted(nodes, plan) == BURST
        # The heartbeats are not needed with Redis: no node count is kept.
        assert gauge(nodes[0], name) is None
    finally:
        for n in nodes:
            n.stop()


def test_a_redis_that_cannot_be_reached_is_refused_at_start(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(config(unique("nore"), "redis://127.0.0.1:1"))
    with pytest.raises(RuntimeError):
        Server(tmp_path / "data", config=cfg).start()
    assert "cannot reach Redis" in (tmp_path / "data" / "server.log").read_text()
