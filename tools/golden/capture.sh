#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0.
#
# Capture golden Kafka protocol frames from real clients talking to
# tools/golden/fakebroker.py on 127.0.0.1.  See tools/golden/README.md.
#
#   tools/golden/capture.sh [REGEX]
#
# Runs every capture whose name matches REGEX (default: all).  Each capture
# gets a fresh broker on a free loopback port, writes into
# crates/protocol/tests/golden/<client>-<config>[-<codec>]/ (wiped first),
# runs one client driver under `timeout`, then stops that broker by its PID.
# Broker and client logs go to tools/golden/logs/ (not committed).
# Afterwards it runs verify.py --manifest.
#
# Environment: PYTHON (default .venv/bin/python), CAPTURE_TIMEOUT (s, default 90),
#              KAFKA_REFERENCE (schemas; default /work/shared/kafka-reference).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$ROOT/crates/protocol/tests/golden
PY=${PYTHON:-$ROOT/.venv/bin/python}
TIMEOUT=${CAPTURE_TIMEOUT:-90}
LOGS=$HERE/logs
FILTER=${1:-.}
CODECS=(none gzip snappy lz4 zstd)
export KAFKAJS_NO_PARTITIONER_WARNING=1

mkdir -p "$LOGS" "$OUT"
RESULTS=()

client_cmd() { # client bootstrap codec -> sets CMD
  local client=$1 b=$2 codec=$3
  case $client in
    kcat)            CMD=("$HERE/clients/kcat.sh" "$b" "$codec") ;;
    kcat-legacy0100) CMD=("$HERE/clients/kcat.sh" "$b" "$codec"
                          -X api.version.request=false -X broker.version.fallback=0.10.0) ;;
    kcat-legacy090)  CMD=("$HERE/clients/kcat.sh" "$b" "$codec"
                          -X api.version.request=false -X broker.version.fallback=0.9.0) ;;
    confluent-kafka) CMD=("$PY" "$HERE/clients/confluent_kafka_client.py" "$b" "$codec") ;;
    kafka-python)    CMD=("$PY" "$HERE/clients/kafka_python_client.py" "$b" "$codec") ;;
    aiokafka)        CMD=("$PY" "$HERE/clients/aiokafka_client.py" "$b" "$codec") ;;
    kafkajs)         CMD=(node "$HERE/clients/kafkajs_client.js" "$b" "$codec") ;;
    *) echo "unknown client $client" >&2; return 1 ;;
  esac
}

capture() { # name broker-config client codec
  local name=$1 config=$2 client=$3 codec=$4
  [[ $name =~ $FILTER ]] || return 0
  local dir=$OUT/$name portfile
  portfile=$(mktemp "${TMPDIR:-/tmp}/golden-port.XXXXXX")
  rm -f "$portfile"
  rm -rf "$dir"
  mkdir -p "$dir"
  "$PY" "$HERE/fakebroker.py" --port 0 --port-file "$portfile" --out "$dir" --config "$config" \
        --member-prefix "$client" --log "$LOGS/$name.broker.log" &
  local bpid=$! i
  for i in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.1; done
  if [ ! -s "$portfile" ]; then
    echo "!! $name: broker did not start"; kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null
    RESULTS+=("FAIL  $name (broker did not start)"); return
  fi
  local port; port=$(cat "$portfile"); rm -f "$portfile"
  client_cmd "$client" "127.0.0.1:$port" "$codec"
  echo "== $name: ${CMD[*]}"
  timeout -k 5 "$TIMEOUT" "${CMD[@]}" >"$LOGS/$name.client.log" 2>&1
  local rc=$?
  sleep 0.3   # let the broker write the last responses
  kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null
  local n; n=$(ls "$dir" | wc -l)
  if [ $rc -eq 0 ]; then
    RESULTS+=("ok    $name ($n files)")
  else
    RESULTS+=("FAIL  $name (client exit $rc, $n files; see tools/golden/logs/$name.client.log)")
  fi
  grep -c '^consumed' "$LOGS/$name.client.log" | sed "s/^/   records consumed: /"
}

for config in modern old; do
  for client in kcat confluent-kafka kafka-python aiokafka kafkajs; do
    for codec in "${CODECS[@]}"; do
      capture "$client-$config-$codec" "$config" "$client" "$codec"
    done
  done
done
# Old protocol versions from librdkafka (see README):
#  legacy0100: -X api.version.request=false -X broker.version.fallback=0.10.0.
#    librdkafka 2.0.2 still sends ApiVersions (0.10.0 itself supports it), so
#    the broker answers like an Apache Kafka 0.10.0 broker: Produce/Fetch v2,
#    magic-1 message sets.
#  legacy090: -X api.version.request=false -X broker.version.fallback=0.9.0.
#    No ApiVersions at all; Produce/Fetch v1, magic-0 message sets, no headers.
# zstd needs magic 2 (broker >= 2.1.0), so it is impossible in both.
for codec in none gzip snappy lz4; do
  capture "kcat-legacy0100-$codec" legacy0100 kcat-legacy0100 "$codec"
  capture "kcat-legacy090-$codec" legacy0100 kcat-legacy090 "$codec"
done

echo
printf '%s\n' "${RESULTS[@]}"
echo
"$PY" "$HERE/verify.py" --manifest "$OUT" | tail -1
du -sh "$OUT"
