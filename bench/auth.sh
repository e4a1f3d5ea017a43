#!/usr/bin/env bash
# Sign-in benchmark (see crates/server/examples/bench_auth.rs): builds cognate
# and the driver in release mode, runs both phases, prints a JSON report.
# Usage: bench/auth.sh [SECONDS per phase, default 10] [CONNECTIONS, default 8]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin cognate --example bench_auth
exec target/release/examples/bench_auth target/release/cognate "${1:-10}" "${2:-8}"
