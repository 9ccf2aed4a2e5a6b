#!/usr/bin/env bash
# The whole test suite. Installs what it needs, so it passes on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version
rustfmt --version

if [ -d ../shared/kafka-reference/message ]; then
  step "generated code matches the schemas"
  cargo xtask codegen --check
else
  echo "(../shared/kafka-reference not found: skipping the codegen check)"
fi

step "format"
cargo fmt --all --check

step "build"
cargo build --workspace --all-targets --locked

step "tests"
test_log="$(mktemp)"
trap 'rm -f "$test_log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$test_log"
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$test_log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$test_log" | awk '{s+=$1} END {print s+0}')

step "compatibility: kcat (librdkafka 2.0.2)"
compat_log="$(mktemp)"
trap 'rm -f "$test_log" "$compat_log"' EXIT
bash scripts/compat-kcat.sh 2>&1 | tee "$compat_log"
passed=$((passed + $(grep -Eo '^compat-kcat: [0-9]+ passed' "$compat_log" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+')))

step "compatibility: confluent-kafka, kafka-python, aiokafka, kafkajs"
bash scripts/compat/run.sh 2>&1 | tee "$compat_log"
passed=$((passed + $(grep -Eo '^compat-clients: [0-9]+ passed' "$compat_log" | grep -Eo '[0-9]+')))

step "fuzz smoke runs (${FUZZ_SECONDS}s each)"
bash scripts/fuzz-smoke.sh "$FUZZ_SECONDS"

step "done"
# One closing line for the whole suite (cargo prints one per test binary, the last often a
# doc-test binary with nothing in it).
echo "tests: ${passed} passed, ${failed} failed"
