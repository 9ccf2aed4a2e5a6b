#!/usr/bin/env bash
# Compatibility suite with the other real clients: confluent-kafka (librdkafka 2.16), kafka-python
# 3.0, aiokafka 0.14 and kafkajs 2.2. Each program creates a topic through the client's admin API,
# produces keyed records with headers in every codec with acks=all, reads them back without a
# consumer group and checks them, and checks ListOffsets; confluent-kafka, kafka-python and kafkajs
# then check admin calls by their effect (CreatePartitions, DeleteRecords, describe cluster/topics,
# DescribeLogDirs, offsets by timestamp). Every client runs a consumer group: a subscribed member
# commits what it processed, a second run in the group resumes exactly after the commits, and the
# client's admin API sees the commits and the group (confluent-kafka also DeleteGroups); kafka-python,
# aiokafka and kafkajs also have two members split the partitions, and kafka-python deletes a
# committed offset with OffsetDelete (refused with GROUP_SUBSCRIBED_TO_TOPIC while a member is
# subscribed). confluent-kafka also runs a KIP-848 group (group.protocol=consumer) scaling
# 1 -> 3 -> 2 members while records flow, and the online migration of a live group: two classic
# members, a group.protocol=consumer member joins (upgrade), then leaves (downgrade). Then groups
# across a broker restart with every client (group_restart.py, group_restart.js). See the programs' headers.
# One Sluice broker on a free loopback port with a temporary data dir, stopped by its PID.
# Prints "ok ..." / "FAIL ..." per check and last "compat-clients: N passed, M failed".
# SLUICE_LOG=debug gives the broker's detail; its WARN/ERROR lines are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=scripts/compat

# Clients. The venv is git-ignored; node_modules too (package-lock.json is committed).
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
if ! .venv/bin/python -c 'import confluent_kafka, kafka, aiokafka, snappy, lz4, zstandard, cramjam' 2>/dev/null; then
  .venv/bin/pip install -q -r "$here/requirements.txt"
fi
if [ ! -d "$here/node_modules/kafkajs" ]; then
  # --ignore-scripts, then build only `lz4` (kafkajs-lz4 needs it; the published package holds macOS
  # binaries in build/, so it has to be rebuilt for this machine).
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
if ! (cd "$here" && node -e "require('./node_modules/kafkajs-lz4')") 2>/dev/null; then
  (cd "$here" && npm rebuild lz4 --loglevel=error) || echo "(npm rebuild lz4 failed: kafkajs will report lz4 as FAIL)"
fi

cargo build -q -p sluice
bin="$PWD/target/debug/sluice"
py="$PWD/.venv/bin/python"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
broker="127.0.0.1:$port"
pid=""
passed=0
failed=0
cleanup() { if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT

start_broker() { # starts the broker (appending to its log) and waits until it says it is ready
  local before
  before=$(grep -c "sluice is ready" "$work/broker.log" 2>/dev/null || true)
  before=${before:-0}
  SLUICE_LOG="${SLUICE_LOG:-info}" "$bin" serve -o "listeners=PLAINTEXT://$broker" -o "log.dirs=$work/data" \
    -o num.partitions=3 -o group.consumer.heartbeat.interval.ms=500 2>>"$work/broker.log" &
  pid=$!
  for _ in $(seq 1 100); do
    if [ "$(grep -c "sluice is ready" "$work/broker.log" || true)" -gt "$before" ]; then return 0; fi
    sleep 0.1
  done
  echo "broker did not start"; cat "$work/broker.log"; exit 1
}
stop_broker() { # SIGTERM; counts a check that it exits cleanly
  local rc=0
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  pid=""
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1)); echo "ok   broker: stops cleanly on SIGTERM ($1)"
  else
    failed=$((failed + 1)); echo "FAIL broker: exit code $rc after SIGTERM ($1)"
  fi
}
start_broker

tally() { # $1: output file; $2: exit code; $3: client name
  local ok bad
  ok=$(grep -c '^ok ' "$1" || true)
  bad=$(grep -c '^FAIL ' "$1" || true)
  if [ "$2" -eq 124 ]; then
    echo "FAIL $3: timed out after 120 s"; bad=$((bad + 1))
  elif [ "$2" -ne 0 ] && [ "$bad" -eq 0 ]; then
    echo "FAIL $3: exited with code $2 without a failed check (stderr below)"; bad=$((bad + 1))
  fi
  if [ "$2" -ne 0 ]; then sed 's/^/    stderr: /' "$1.err" | tail -15; fi
  passed=$((passed + ok))
  failed=$((failed + bad))
}
client() { # $1: name; rest: command (gets the bootstrap address last)
  local name="$1" rc=0
  shift
  printf '\n--- %s\n' "$name"
  timeout 120 "$@" "$broker" >"$work/$name.out" 2>"$work/$name.out.err" || rc=$?
  cat "$work/$name.out"
  tally "$work/$name.out" "$rc" "$name"
}

client confluent-kafka "$py" "$here/confluent_kafka_test.py"
# Online migration of a live group between the classic and the consumer protocol (own time budget).
printf '\n--- confluent-kafka-migration\n'
rc=0
timeout 120 "$py" "$here/confluent_kafka_test.py" "$broker" --migration >"$work/migration.out" \
  2>"$work/migration.out.err" || rc=$?
cat "$work/migration.out"
tally "$work/migration.out" "$rc" "confluent-kafka-migration"
client kafka-python "$py" "$here/kafka_python_test.py"
client aiokafka "$py" "$here/aiokafka_test.py"
client kafkajs node "$here/kafkajs_test.js"

# A second client reads what kafkajs wrote.
printf '\n--- kafkajs records read by confluent-kafka\n'
window="$(awk '/^kafkajs-window /{print $2, $3}' "$work/kafkajs.out")"
if [ -n "$window" ]; then
  rc=0
  # shellcheck disable=SC2086 # two numbers
  timeout 120 "$py" "$here/confluent_kafka_test.py" "$broker" --verify compat-kafkajs kafkajs $window \
    >"$work/cross.out" 2>"$work/cross.out.err" || rc=$?
  cat "$work/cross.out"
  tally "$work/cross.out" "$rc" "kafkajs-cross-read"
else
  echo "FAIL kafkajs-cross-read: kafkajs did not finish producing"; failed=$((failed + 1))
fi

# Consumer groups across a broker restart: every client's first phase (a member processes and
# commits half of a topic), one restart, then every client's second phase (a new member resumes
# exactly after the commits). See group_restart.py.
restart_clients=(kafka-python aiokafka confluent-kafka confluent-kafka-848)
for c in "${restart_clients[@]}"; do
  client "restart-$c-1" "$py" "$here/group_restart.py" "$c" 1 "$work"
done
client restart-kafkajs-1 node "$here/group_restart.js" 1 "$work"
stop_broker "with groups committed"
start_broker
for c in "${restart_clients[@]}"; do
  client "restart-$c-2" "$py" "$here/group_restart.py" "$c" 2 "$work"
done
client restart-kafkajs-2 node "$here/group_restart.js" 2 "$work"

stop_broker "at the end"
if grep -Eq ' (WARN|ERROR) ' "$work/broker.log"; then
  printf '\n--- broker WARN/ERROR lines\n'
  # Without timestamps and peer ports, so repeats collapse.
  grep -E ' (WARN|ERROR) ' "$work/broker.log" | cut -d' ' -f2- | sed -E 's/(peer=[0-9.]+):[0-9]+/\1/' |
    sort | uniq -c | sort -rn | head -20
fi

echo "compat-clients: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
