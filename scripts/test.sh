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
cargo test --workspace --locked

step "fuzz smoke runs (${FUZZ_SECONDS}s each)"
bash scripts/fuzz-smoke.sh "$FUZZ_SECONDS"

step "done"
