#!/usr/bin/env bash
# Fuzzes every input parser (crates/fuzzing's targets) under libFuzzer for a
# set time each, growing the committed corpora in fuzz/corpus/<target>/ and
# minimizing them afterwards. A crash stops the script with its input in
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/, fix the
# code, and `cargo test -p cognate-fuzzing` replays it from then on.
#
#   bash bench/fuzz.sh [seconds per target, default 120] [target ...]
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# No sanitizer (-s none): the code is safe Rust, what is sought is panics,
# overflows (debug assertions are on), hangs and wrong answers (the targets
# assert what must hold of any answer).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-120}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(jwt sigv4 route cookie config template srp totp route_selection)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build -s none
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(ls "corpus/$t" | wc -l)
  log="artifacts/$t.log"
  # -timeout: one input running past 10 s is a hang, reported as a crash.
  cargo +nightly fuzz run -s none "$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || {
      echo "$t: CRASH, see fuzz/$log and the input in fuzz/artifacts/$t/" >&2
      tail -40 "$log" >&2
      exit 1
    }
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  # Keep only inputs that add coverage.
  cargo +nightly fuzz cmin -s none "$t" "corpus/$t" >/dev/null 2>&1 || true
  after=$(ls "corpus/$t" | wc -l)
  echo "$t: ${secs}s, $runs inputs run, coverage $cov edges, corpus $before -> $after files, no crash"
done
