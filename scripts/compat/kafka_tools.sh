#!/usr/bin/env bash
# Issue 10: Kafka's own command-line tools work unchanged against Sluice. Runs an operator's
# session of Kafka 4.x tools (kafka-topics, kafka-configs, the console producer and consumer with
# keys and headers, kafka-consumer-groups, kafka-get-offsets, kafka-delete-records,
# kafka-log-dirs, the perf tests, the verifiable producer and consumer, kafka-features,
# kafka-metadata-quorum, kafka-leader-election, kafka-reassign-partitions, kafka-client-metrics,
# kafka-transactions describe-producers) against Sluice and, side by side, against Apache Kafka
# (KRaft combined mode) started here, and compares the answers after normalising what must
# differ (ids, timestamps, host:port, throughput figures, broker-specific config lists).
# The tools of each session run in one JVM (kafka_tools/ToolRunner.java); the two sessions run
# at once. Jars come from Maven Central through Maven (cached in ~/.m2). Loopback ports only,
# everything in a temp dir, and only the PIDs started here are stopped.
#
# Usage: scripts/compat/kafka_tools.sh [path/to/sluice]
# Needs java (17+), mvn, python3. Prints "ok <step>" / "FAIL <step>: detail" and closes with
# "kafka-tools: N passed, M failed"; exits non-zero when a check failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
here="$PWD/scripts/compat/kafka_tools"

SLUICE="${1:-$PWD/target/debug/sluice}"
KAFKA_VERSION="${KAFKA_VERSION:-4.2.0}"
passed=0
failed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
  echo "kafka-tools: ${passed} passed, ${failed} failed"
  [ "$failed" -eq 0 ]
  exit
}

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "${KEEP_WORK:-}" ] && echo "work dir kept: $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

if [ $# -eq 0 ]; then
  cargo build -q -p sluice --bin sluice || { fail "sluice build" "cargo build failed"; finish; }
fi
if ! command -v mvn >/dev/null || ! command -v java >/dev/null || ! command -v javac >/dev/null; then
  fail "kafka jars" "mvn, java or javac not found (apt-get install openjdk-17-jdk-headless maven)"
  finish
fi

# --- Kafka's broker and tools jars, through Maven (a throwaway pom; ~/.m2 keeps them) ---------
mkdir -p "$work/pom"
cat >"$work/pom/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>sluice.compat</groupId><artifactId>kafka-tools-fetch</artifactId><version>1</version><packaging>pom</packaging>
<dependencies>
<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>${KAFKA_VERSION}</version></dependency>
</dependencies></project>
EOF
if ! (cd "$work/pom" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$work/jars") >"$work/mvn.log" 2>&1; then
  fail "kafka jars" "mvn dependency:copy-dependencies failed: $(grep -m1 "ERROR" "$work/mvn.log" || tail -1 "$work/mvn.log")"
  finish
fi
if ! javac -d "$work/classes" -cp "$work/jars/*" "$here/ToolRunner.java" >"$work/javac.log" 2>&1; then
  fail "tool runner" "$(tail -5 "$work/javac.log")"
  finish
fi
ok "kafka jars: kafka_2.13 and kafka-tools ${KAFKA_VERSION} from Maven, tool runner compiled"

# --- the two brokers ---------------------------------------------------------------------------
read -r kafka_port controller_port sluice_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
mkdir -p "$work/kafka" "$work/sluice"
common_props="offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
num.partitions=1"
cat >"$work/kafka/server.properties" <<EOF
$common_props
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$kafka_port,CONTROLLER://127.0.0.1:$controller_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$work/kafka/data
EOF
cat >"$work/sluice/server.properties" <<EOF
$common_props
node.id=1
listeners=PLAINTEXT://127.0.0.1:$sluice_port
log.dirs=$work/sluice/data
EOF
java_opts=(-Xms64m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto)
if ! java "${java_opts[@]}" -cp "$work/jars/*" kafka.tools.StorageTool format -t "$(python3 -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')" \
  -c "$work/kafka/server.properties" --standalone >"$work/kafka/format.log" 2>&1; then
  fail "kafka format" "$(tail -5 "$work/kafka/format.log")"
  finish
fi
if ! "$SLUICE" format -c "$work/sluice/server.properties" >"$work/sluice/format.log" 2>&1; then
  fail "sluice format" "$(tail -5 "$work/sluice/format.log")"
  finish
fi
java "${java_opts[@]}" -cp "$work/jars/*" kafka.Kafka "$work/kafka/server.properties" >"$work/kafka/broker.log" 2>&1 &
pids+=($!)
"$SLUICE" serve -c "$work/sluice/server.properties" >"$work/sluice/broker.log" 2>&1 &
pids+=($!)

# Ready when the broker answers a metadata request (sluice's own client, as kafka_security.sh).
wait_ready() { # $1 = name, $2 = port
  for _ in $(seq 1 240); do
    "$SLUICE" topic list -b "127.0.0.1:$2" --timeout-ms 2000 >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  return 1
}
wait_ready sluice "$sluice_port" || { fail "sluice start" "$(tail -5 "$work/sluice/broker.log")"; finish; }
wait_ready kafka "$kafka_port" || { fail "kafka start" "$(tail -5 "$work/kafka/broker.log")"; finish; }
ok "kafka and sluice started"

# --- the session -----------------------------------------------------------------------------
python3 "$here/session.py" steps "$work" >"$work/steps.tsv" || { fail "steps" "session.py failed"; finish; }
for b in kafka sluice; do
  port=$kafka_port
  [ $b = sluice ] && port=$sluice_port
  mkdir -p "$work/$b/out"
  java "${java_opts[@]}" -cp "$work/classes:$work/jars/*" -Dlog4j2.level=error ToolRunner \
    "$work/steps.tsv" "$work/$b/out" "127.0.0.1:$port" >"$work/$b/runner.log" 2>&1 &
  runners+=($!)
done
for r in "${runners[@]}"; do wait "$r"; done
python3 "$here/session.py" compare "$work"
rc=$?
passed=$((passed + $(grep -c '^ok ' "$work/compare.log" 2>/dev/null || echo 0)))
failed=$((failed + $(grep -c '^FAIL ' "$work/compare.log" 2>/dev/null || echo 0)))
[ $rc -eq 0 ] || [ -s "$work/compare.log" ] || fail "compare" "session.py compare failed"
if [ "$failed" -gt 0 ]; then
  echo "--- sluice broker log (WARN/ERROR) ---"
  grep -E "WARN|ERROR" "$work/sluice/broker.log" | tail -20
fi
finish
