#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 30 s each) with no crash allowed.
# The machine has only stable Rust; cargo-fuzz needs -Z flags, which RUSTC_BOOTSTRAP=1 allows.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
export RUSTC_BOOTSTRAP=1

# Seeds: valid batches for every codec, and the golden frames captured from real clients.
mkdir -p fuzz/corpus/record_batch fuzz/corpus/request
SLUICE_FUZZ_SEEDS_DIR="$PWD/fuzz/corpus/record_batch" \
  cargo test -q -p sluice-protocol --test records_roundtrip write_fuzz_seeds >/dev/null
for f in crates/protocol/tests/golden/*/*.req.bin; do
  cp "$f" "fuzz/corpus/request/$(basename "$(dirname "$f")")-$(basename "$f")"
done

cd fuzz
cargo fuzz build --release
status=0
for target in $(cargo fuzz list); do
  echo "fuzzing $target for ${seconds}s"
  log="$(mktemp)"
  if cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$log" || true
  else
    echo "fuzz target $target failed:"; tail -n 60 "$log"; status=1
  fi
  rm -f "$log"
done
exit "$status"
