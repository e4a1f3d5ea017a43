#!/usr/bin/env bash
# Sign-in benchmark (see crates/server/examples/bench_auth.rs): builds cognate
# and the driver in release mode, runs both phases, prints a JSON report.
# Usage: bench/auth.sh [SECONDS per phase, default 10] [CONNECTIONS, default 8]
# COGNATE_BENCH_DATABASE_URL=postgres://... runs the server on PostgreSQL
# (give it a database or schema of its own: the run creates users there).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin cognate --example bench_auth
exec target/release/examples/bench_auth target/release/cognate "${1:-10}" "${2:-8}"
