# Set-up shared by bench/gateway.sh, bench/access_log.sh and
# bench/gateway_instructions.sh (sourced, from the repository's root): a
# work directory removed at exit with the processes listed in PIDS, free
# loopback ports, the upstream nginx, and cognate's config of a
# JWT-authorized proxy route.

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  # Pingora waits out a graceful shutdown on SIGTERM: what has not ended
  # after a second is killed.
  sleep 1
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx_process DIR WORKERS SERVER-BLOCKS: an nginx process of its own
# (no access log, keep-alive without limit) with its config and files in
# DIR; its pid goes to PIDS.
nginx_process() {
  mkdir -p "$1"
  cat > "$1/nginx.conf" <<CONF
worker_processes $2;
pid $1/nginx.pid;
error_log $1/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1; proxy_temp_path $1;
  fastcgi_temp_path $1; uwsgi_temp_path $1; scgi_temp_path $1;
  keepalive_requests 1000000;
  $3
}
CONF
  nginx -c "$1/nginx.conf" -p "$1" &
  PIDS+=($!)
}

# upstream_nginx PORT: the upstream, one worker answering {"ok":true} on
# PORT.
upstream_nginx() {
  nginx_process "$WORK/upstream" 1 \
    "server { listen 127.0.0.1:$1; location / { default_type application/json; return 200 '{\"ok\":true}'; } }"
}

# jwt_api_toml UPSTREAM_PORT: cognate's config (to stdout) of a pool with
# a client and an HTTP API whose every GET needs a JWT of the pool and is
# proxied to the upstream.
jwt_api_toml() {
  cat <<CONF
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
url = "http://127.0.0.1:$1/{proxy}"
[[http_apis.routes]]
route = "GET /{proxy+}"
authorizer = "jwt"
integration = "up"
CONF
}

# session_route_toml: a cookie-session authorizer on jwt_api_toml's API and
# a route behind it, GET /cookie/{proxy+}, to the same upstream.
session_route_toml() {
  cat <<CONF
[http_apis.session]
user_pool = "bench"
client = "web"
hosted_url = "http://127.0.0.1:9"
[http_apis.authorizers.session]
type = "session"
[[http_apis.routes]]
route = "GET /cookie/{proxy+}"
authorizer = "session"
integration = "up"
CONF
}
