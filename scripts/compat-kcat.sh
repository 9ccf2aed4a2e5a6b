#!/usr/bin/env bash
# Compatibility check with a real client: Debian's kcat (librdkafka 2.0.2) produces keyed
# records with headers in every codec with acks=all, consumes them back, and checks keys, values,
# headers, partitions and offsets, across a clean restart and across a SIGKILL.
# Prints "compat-kcat: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kcat >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
fi
cargo build -q -p sluice
bin="$PWD/target/debug/sluice"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
broker="127.0.0.1:$port"
pid=""
passed=0
failed=0

start() {
  "$bin" serve -o "listeners=PLAINTEXT://$broker" -o "log.dirs=$work/data" -o num.partitions=3 >>"$work/broker.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    if kcat -b "$broker" -L -m 1 >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "broker did not start"; cat "$work/broker.log"; exit 1
}
stop() { # $1: signal
  kill "-$1" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

check() { # $1: name, $2: expected file, $3: actual file
  if diff -q "$2" "$3" >/dev/null; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1"; diff "$2" "$3" | head -20 || true
  fi
}

consume() { # $1: topic -> sorted "partition key value headers"
  timeout 30 kcat -b "$broker" -C -t "$1" -o beginning -e -q -f '%p %k %s %h\n' | sort
}

start
: >"$work/expected"
for codec in none gzip snappy lz4 zstd; do
  for i in $(seq 1 40); do echo "key-$codec-$i:value $codec $i"; done >"$work/in-$codec"
  kcat -b "$broker" -P -t compat -K: -z "$codec" -X request.required.acks=-1 \
    -H "codec=$codec" -H "source=kcat" -l "$work/in-$codec"
done
consume compat >"$work/first"
# Every record once, with its headers; keys hash to partitions, so compare per key.
for codec in none gzip snappy lz4 zstd; do
  for i in $(seq 1 40); do echo "key-$codec-$i value $codec $i codec=$codec,source=kcat"; done
done | sort >"$work/expected"
cut -d' ' -f2- "$work/first" | sort >"$work/first-records"
check "produce and consume 200 records in 5 codecs" "$work/expected" "$work/first-records"
# Each key always lands in the same partition.
awk '{print $2, $1}' "$work/first" | sort -u | cut -d' ' -f1 | uniq -d >"$work/split-keys"
check "a key stays in one partition" /dev/null "$work/split-keys"
# Offsets within each partition are 0..n-1.
timeout 30 kcat -b "$broker" -C -t compat -o beginning -e -q -f '%p %o\n' | sort -n -k1,1 -k2,2 >"$work/offsets"
awk '{ if ($2 != seen[$1]+0) bad=1; seen[$1]++ } END { print (bad ? "gaps" : "dense") }' "$work/offsets" >"$work/offsets-check"
echo dense >"$work/dense"
check "offsets are dense from 0" "$work/dense" "$work/offsets-check"

stop TERM
start
consume compat | cut -d' ' -f2- | sort >"$work/after-restart"
check "records survive a clean restart" "$work/expected" "$work/after-restart"

# acks=all then SIGKILL: everything acknowledged must be there after the restart.
for i in $(seq 1 200); do echo "crash-$i:value $i"; done >"$work/in-crash"
kcat -b "$broker" -P -t crash -K: -X request.required.acks=-1 -l "$work/in-crash"
stop KILL
start
consume crash | awk '{print $2}' | sort >"$work/after-kill"
sed 's/:.*//' "$work/in-crash" | sort >"$work/crash-keys"
check "acks=all records survive SIGKILL" "$work/crash-keys" "$work/after-kill"

stop TERM
echo "compat-kcat: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
