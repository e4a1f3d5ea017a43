#!/usr/bin/env bash
# What the JSON access log costs: cognate with a JWT-authorized HTTP proxy
# route (the setup of bench/gateway.sh, without Envoy), run with the access
# log on (as by default, written to a file) and off
# (`COGNATE_LOG=info,cognate::access=off`), alternating, ROUNDS times each.
# wrk on loopback, 2 threads, 64 connections. Prints one JSON line per run
# and the medians.
#
# Usage: bench/access_log.sh [SECONDS per run, default 10] [ROUNDS, default 3]
# BENCH_BINARY=path runs another build of cognate (for a before/after).
# Needs: nginx and wrk (Debian packages), jq, curl. Installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-10}
ROUNDS=${2:-3}
for tool in nginx wrk jq curl; do
  command -v "$tool" >/dev/null || { echo "bench/access_log.sh needs $tool" >&2; exit 1; }
done
BIN=${BENCH_BINARY:-target/release/cognate}
[ -n "${BENCH_BINARY:-}" ] || cargo build --release --locked --bin cognate
# shellcheck source=bench/common.sh
. bench/common.sh
UPSTREAM=$(free_port)
MAIN=$(free_port)
upstream_nginx "$UPSTREAM"
jwt_api_toml "$UPSTREAM" > "$WORK/cognate.toml"

# One data dir (and main port, so the issuer) for both settings: the same
# token serves every run.
start() {  # log-filter
  rm -f "$WORK/outputs.json"
  COGNATE_LOG="$1" "$BIN" serve --config "$WORK/cognate.toml" --data-dir "$WORK/cognate" \
    --listen "127.0.0.1:$MAIN" --outputs-file "$WORK/outputs.json" >> "$WORK/cognate.log" 2>&1 &
  COGNATE_PID=$!
  for _ in $(seq 200); do [ -s "$WORK/outputs.json" ] && break; sleep 0.05; done
  API=$(jq -r .ApiUrl "$WORK/outputs.json")
}
stop() {
  kill "$COGNATE_PID"
  wait "$COGNATE_PID" 2>/dev/null || true
}

start "info,sqlx=warn"
"$BIN" users create --outputs "$WORK/outputs.json" --username bench --password 'Bench-passw0rd!' >/dev/null
TOKEN=$("$BIN" token --outputs "$WORK/outputs.json" --username bench --password 'Bench-passw0rd!' \
  | jq -r '.AccessToken // .AuthenticationResult.AccessToken')
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$API/hello")
[ "$status" = 200 ] || { echo "sanity: got $status" >&2; exit 1; }
stop

to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; printf "%.3f", v}'; }
RESULTS="$WORK/results.jsonl"
for round in $(seq "$ROUNDS"); do
  for setting in on off; do
    if [ $setting = on ]; then start "info,sqlx=warn"; else start "info,sqlx=warn,cognate::access=off"; fi
    before=$(wc -l < "$WORK/cognate.log")
    out=$(wrk -t2 -c64 -d"${SECONDS_PER}s" --latency -H "Authorization: Bearer $TOKEN" "$API/hello")
    stop
    lines=$(( $(wc -l < "$WORK/cognate.log") - before ))
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
    p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_ms)
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    printf '{"round":%s,"access_log":"%s","requests_per_s":%s,"p50_ms":%s,"p99_ms":%s,"requests":%s,"non_2xx":%s,"log_lines":%s}\n' \
      "$round" "$setting" "$rps" "$p50" "$p99" "$total" "${non2xx:-0}" "$lines" | tee -a "$RESULTS"
  done
done
echo "medians:"
for setting in on off; do
  jq -s --arg s "$setting" '[.[] | select(.access_log == $s)] |
    {access_log: $s,
     requests_per_s: ([.[].requests_per_s] | sort | .[length/2|floor]),
     p50_ms: ([.[].p50_ms] | sort | .[length/2|floor]),
     p99_ms: ([.[].p99_ms] | sort | .[length/2|floor])}' "$RESULTS" -c
done
