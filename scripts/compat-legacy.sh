#!/usr/bin/env bash
# Old clients against Sluice, speaking the protocol versions Kafka 4 dropped (KIP-896) and the
# old message formats (magic 0/1):
# - kcat (librdkafka) with api.version.request=false and broker.version.fallback 0.9.0 /
#   0.10.0: produce keyed records in every legacy codec, read them back, and a consumer group
#   that commits and resumes;
# - Debian's sarama 1.22 (golang-github-shopify-sarama-dev, built in GOPATH mode): produce
#   with magic 0 and 1, an OffsetManager that commits with OffsetCommit v1 and, after a broker
#   restart, resumes from the commit; a consumer group (JoinGroup v1, Fetch v3) doing the same;
# - kafka-python with api_version (0,9), (0,10,0), (0,10,1), (0,11): keyed records in each
#   codec, group commits and resume (scripts/compat/kafka_python_legacy.py).
# Prints "compat-legacy: N passed, M failed". Needs apt packages kcat,
# golang-github-shopify-sarama-dev, python3-venv (installed if missing), Go, and PyPI access
# for kafka-python, lz4, python-snappy and xxhash (in a venv of its own).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
[ -d /usr/share/gocode/src/github.com/Shopify/sarama ] || missing+=(golang-github-shopify-sarama-dev)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
venv="${XDG_CACHE_HOME:-$HOME/.cache}/sluice-compat-legacy-venv"
if ! "$venv/bin/python" -c 'import kafka, lz4, snappy, xxhash' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kafka-python==3.0.12 lz4 python-snappy xxhash
fi

cargo build -q -p sluice
bin="$PWD/target/debug/sluice"
work="$(mktemp -d)"
(cd scripts/compat/sarama_legacy && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= \
  go build -o "$work/sarama-legacy" . 2>"$work/go-build.log") || { cat "$work/go-build.log"; exit 1; }
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
broker="127.0.0.1:$port"
pid=""
passed=0
failed=0
cleanup() { if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT

start() {
  "$bin" serve -o "listeners=PLAINTEXT://$broker" -o "log.dirs=$work/data" -o num.partitions=1 \
    -o group.initial.rebalance.delay.ms=0 >>"$work/broker.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    if kcat -b "$broker" -L -m 1 >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "broker did not start"; cat "$work/broker.log"; exit 1
}
stop() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }
check() { # $1: name, $2: expected file, $3: actual file
  if diff -q "$2" "$3" >/dev/null; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1"; diff "$2" "$3" | head -10 || true
  fi
}
topic() { "$bin" topic create -b "$broker" "$1" -p 1 --if-not-exists >/dev/null; }

start
# Topic creation is re-runnable with --if-not-exists, and still an error without it.
topic again && topic again && passed=$((passed + 1)) && echo "ok   topic create --if-not-exists twice"
if "$bin" topic create -b "$broker" again -p 1 >/dev/null 2>&1; then
  failed=$((failed + 1)); echo "FAIL topic create of an existing topic without --if-not-exists succeeded"
else
  passed=$((passed + 1)); echo "ok   topic create of an existing topic fails without --if-not-exists"
fi

# kcat with the old protocols: Produce v0/v2 (magic 0/1) and Fetch v0/v2 both ways.
for fallback in 0.9.0 0.10.0; do
  old=(-X "broker.version.fallback=$fallback" -X api.version.request=false)
  for codec in none gzip snappy lz4; do
    t="kcat-${fallback//./}-$codec"
    topic "$t"
    for i in $(seq 1 20); do echo "k$i:v $codec $i"; done >"$work/in"
    kcat -b "$broker" -P -t "$t" -K: -z "$codec" "${old[@]}" -l "$work/in"
    timeout 30 kcat -b "$broker" -C -t "$t" -o beginning -e -q -f '%o %k:%s\n' "${old[@]}" >"$work/out" || true
    awk '{print NR-1 " " $0}' "$work/in" >"$work/want"
    check "kcat $fallback $codec: produce and consume, offsets 0-19" "$work/want" "$work/out"
  done
  # A group that commits, then resumes after more records arrive.
  t="kcat-group-${fallback//./}"
  topic "$t"
  seq 1 5 | sed 's/^/a/' | kcat -b "$broker" -P -t "$t" "${old[@]}"
  timeout 30 kcat -b "$broker" -G "g-$t" "$t" -e -q -f '%s\n' "${old[@]}" -X auto.offset.reset=earliest >"$work/g1" || true
  seq 6 8 | sed 's/^/a/' | kcat -b "$broker" -P -t "$t" "${old[@]}"
  timeout 30 kcat -b "$broker" -G "g-$t" "$t" -e -q -f '%s\n' "${old[@]}" -X auto.offset.reset=earliest >"$work/g2" || true
  seq 1 5 | sed 's/^/a/' >"$work/w1"; seq 6 8 | sed 's/^/a/' >"$work/w2"
  check "kcat $fallback group: first run reads all" "$work/w1" "$work/g1"
  check "kcat $fallback group: second run resumes from the commit" "$work/w2" "$work/g2"
done

# sarama 1.22: OffsetCommit v1 must survive a broker restart.
topic sarama
"$work/sarama-legacy" produce "$broker" sarama 0.8.2.0 0 6 gzip
# Not lz4: Kafka writes magic 0 LZ4 frames with its old header checksum (KAFKA-3160), which
# sarama's Fetch v0/v1 reader refuses, against Kafka 3.x as against Sluice.
"$work/sarama-legacy" produce "$broker" sarama 0.10.0.0 6 6 snappy
timeout 60 "$work/sarama-legacy" simple "$broker" sarama simple-g 5 >"$work/s1" 2>&1 || true
stop
start
timeout 60 "$work/sarama-legacy" simple "$broker" sarama simple-g 4 >"$work/s2" 2>&1 || true
for i in 0 1 2 3 4; do echo "$i k$i=v$i"; done >"$work/w1"
for i in 5 6 7 8; do echo "$i k$i=v$i"; done >"$work/w2"
check "sarama 1.22 OffsetManager: reads magic 0 and 1 records (Fetch v0)" "$work/w1" "$work/s1"
check "sarama 1.22 OffsetManager: resumes after a broker restart from its v1 commit" "$work/w2" "$work/s2"
for i in $(seq 0 6); do echo "$i k$i=v$i"; done >"$work/w3"
for i in $(seq 7 11); do echo "$i k$i=v$i"; done >"$work/w4"
for v in 0.10.2.0 1.0.0; do
  # 0.10.2: Fetch v3 (magic 1); 1.0: Fetch v4+ (record batches). Both commit with v1.
  timeout 60 "$work/sarama-legacy" group "$broker" sarama "g-$v" 7 "$v" >"$work/s3" 2>"$work/s3.err" || cat "$work/s3.err"
  timeout 60 "$work/sarama-legacy" group "$broker" sarama "g-$v" 5 "$v" >"$work/s4" 2>"$work/s4.err" || cat "$work/s4.err"
  check "sarama 1.22 consumer group ($v): reads from the start" "$work/w3" "$work/s3"
  check "sarama 1.22 consumer group ($v): resumes from its v1 commit" "$work/w4" "$work/s4"
done
# Snappy record batches from sarama 1.22 at 1.0 (Produce v3), read by a v0 consumer.
topic sarama-snappy
"$work/sarama-legacy" produce "$broker" sarama-snappy 1.0.0 0 4 snappy
timeout 60 "$work/sarama-legacy" simple "$broker" sarama-snappy s-snappy 4 >"$work/s5" 2>&1 || true
for i in 0 1 2 3; do echo "$i k$i=v$i"; done >"$work/w5"
check "sarama 1.22: snappy batches down-converted for Fetch v0" "$work/w5" "$work/s5"

# kafka-python with old api_version pins.
timeout 150 "$venv/bin/python" scripts/compat/kafka_python_legacy.py "$broker" >"$work/kp" 2>&1 || true
grep -E '^(ok|FAIL) ' "$work/kp" || true
grep -q '^ok ' "$work/kp" || { echo "FAIL kafka-python legacy produced no results"; tail -20 "$work/kp"; failed=$((failed + 1)); }
passed=$((passed + $(grep -c '^ok ' "$work/kp" || true)))
failed=$((failed + $(grep -c '^FAIL ' "$work/kp" || true)))

stop
echo "compat-legacy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
