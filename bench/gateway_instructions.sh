#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: repeatable for
# the same binary and inputs whatever else the machine does, so small
# changes to the gateway's hot path can be told apart where the 10 s
# rounds of bench/gateway.sh cannot (their spread is 10-30%). Counts user
# space only (the kernel's share is in bench/gateway.sh's profile).
#
# cognate runs under valgrind with collection off; after a warm-up its
# counters are zeroed, one client sends N requests on one keep-alive
# connection, and the counts are dumped. Prints instructions per request
# for cognate with a JWT and with a session cookie (and, with BENCH_PARTS=1, for the bare hyper
# proxy of crates/gateway/examples/proxy_floor.rs) and keeps the callgrind
# files for callgrind_annotate.
#
# Usage: bench/gateway_instructions.sh [REQUESTS, default 2000]
# BENCH_BINARY=path counts another build of cognate (for a before/after).
# Needs: nginx, valgrind (callgrind_control), jq, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
OUT=${BENCH_OUT:-/tmp/cognate-callgrind}
mkdir -p "$OUT"
for tool in nginx valgrind callgrind_control jq curl python3; do
  command -v "$tool" >/dev/null || { echo "bench/gateway_instructions.sh needs $tool" >&2; exit 1; }
done
BIN=${BENCH_BINARY:-target/release/cognate}
[ -n "${BENCH_BINARY:-}" ] || cargo build --release --locked --bin cognate
[ -n "${BENCH_PARTS:-}" ] && cargo build --release --locked -p cognate-gateway --example proxy_floor
# shellcheck source=bench/common.sh
. bench/common.sh
UPSTREAM=$(free_port)
upstream_nginx "$UPSTREAM"
jwt_api_toml "$UPSTREAM" > "$WORK/cognate.toml"
session_route_toml >> "$WORK/cognate.toml"

# Sends N GET requests on one keep-alive connection; fails on any non-200.
send() {  # url header-name header-value count
  python3 - "$@" <<'PY'
import http.client, sys, urllib.parse
url, name, value, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
u = urllib.parse.urlsplit(url)
c = http.client.HTTPConnection(u.hostname, u.port)
for _ in range(n):
    c.request("GET", u.path, headers={name: value})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"status {r.status}")
PY
}

# measure NAME URL HEADER VALUE PID: zero, send N, dump; prints Ir/request.
measure() {
  send "$2" "$3" "$4" 200
  callgrind_control -z "$5" >/dev/null
  callgrind_control -i on "$5" >/dev/null
  send "$2" "$3" "$4" "$N"
  callgrind_control -i off "$5" >/dev/null
  callgrind_control -d "$1" "$5" >/dev/null
  sleep 1
  local file total
  file=$(ls -t "$OUT"/callgrind.out."$5".* | head -1)
  total=$(grep -m1 '^totals:' "$file" | awk '{print $2}')
  printf '{"target":"%s","requests":%s,"instructions_per_request":%s,"file":"%s"}\n' \
    "$1" "$N" "$((total / N))" "$file"
}

rm -f "$OUT"/callgrind.*
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out.%p" \
  "$BIN" serve --config "$WORK/cognate.toml" --data-dir "$WORK/cognate" \
  --listen 127.0.0.1:0 --outputs-file "$WORK/outputs.json" > "$WORK/cognate.log" 2>&1 &
COGNATE_PID=$!
PIDS+=($COGNATE_PID)
for _ in $(seq 600); do [ -s "$WORK/outputs.json" ] && break; sleep 0.1; done
API=$(jq -r .ApiUrl "$WORK/outputs.json")
"$BIN" users create --outputs "$WORK/outputs.json" --username bench --password 'Bench-passw0rd!' >/dev/null
TOKEN=$("$BIN" token --outputs "$WORK/outputs.json" --username bench --password 'Bench-passw0rd!' \
  | jq -r '.AccessToken // .AuthenticationResult.AccessToken')
measure cognate-jwt "$API/hello" Authorization "Bearer $TOKEN" "$COGNATE_PID"
measure cognate-session-cookie "$API/cookie/hello" Cookie "__Host-cognate-access=$TOKEN" "$COGNATE_PID"

if [ -n "${BENCH_PARTS:-}" ]; then
  FLOOR=$(free_port)
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out.%p" \
    target/release/examples/proxy_floor "127.0.0.1:$FLOOR" "127.0.0.1:$UPSTREAM" 2>"$WORK/floor.log" &
  FLOOR_PID=$!
  PIDS+=($FLOOR_PID)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$FLOOR/" && break; sleep 0.1; done
  measure hyper-bare-proxy-floor "http://127.0.0.1:$FLOOR/hello" x-bench 1 "$FLOOR_PID"
fi
