#!/usr/bin/env bash
# Client quotas with real clients: Kafka's own kafka-configs (Apache Kafka ${KAFKA_VERSION}'s
# kafka.admin.ConfigCommand, jars from Maven Central, cached in ~/.m2) sets and describes quotas
# on users, clients, user+client defaults and IPs through AlterClientQuotas/DescribeClientQuotas,
# and its errors for bad values come back as Kafka words them; then confluent-kafka (librdkafka)
# runs a producer and a consumer flat out against producer_byte_rate and consumer_byte_rate
# (quotas_test.py): each must move data at its quota within 10% and be told throttle times, and a
# client id without a quota must not be slowed. The quotas are checked again after a broker
# restart (they live in the metadata log).
# Needs: java (17+), mvn, python3 (the .venv with confluent-kafka, as run.sh makes it).
# Prints "ok ..." / "FAIL ..." per check and last "compat-quotas: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
here=scripts/compat
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
passed=0
failed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() { echo "compat-quotas: $passed passed, $failed failed"; exit $((failed > 0)); }

work="$(mktemp -d)"
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 143' TERM INT

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
if ! .venv/bin/python -c 'import confluent_kafka' 2>/dev/null; then
  .venv/bin/pip install -q -r "$here/requirements.txt"
fi
if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
  fail "kafka jars" "mvn or java not found"
  finish
fi
mkdir -p "$work/pom"
cat >"$work/pom/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>sluice.compat</groupId><artifactId>kafka-fetch</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
<version>${KAFKA_VERSION}</version></dependency></dependencies></project>
EOF
if ! (cd "$work/pom" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$work/jars") >"$work/mvn.log" 2>&1; then
  fail "kafka jars" "mvn dependency:copy-dependencies failed: $(grep -m1 "ERROR" "$work/mvn.log" || tail -1 "$work/mvn.log")"
  finish
fi

cargo build -q -p sluice --bin sluice || { fail "build" "cargo build failed"; finish; }
bin="$PWD/target/debug/sluice"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
broker="127.0.0.1:$port"
# Three one-second windows: Kafka's sampled rate steps every 3 s, so a short run covers several.
window_num=3
start_broker() {
  "$bin" serve -o "listeners=PLAINTEXT://$broker" -o "log.dirs=$work/data" \
    -o "quota.window.num=$window_num" -o quota.window.size.seconds=1 2>>"$work/broker.log" &
  pid=$!
  for _ in $(seq 1 100); do
    if grep -q "sluice is ready" "$work/broker.log" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  fail "broker start" "$(tail -3 "$work/broker.log")"
  finish
}
stop_broker() { kill "$pid"; wait "$pid" 2>/dev/null; pid=""; : >"$work/broker.log"; }

configs() { java -cp "$work/jars/*" kafka.admin.ConfigCommand --bootstrap-server "$broker" "$@" 2>&1 | grep -v SLF4J; }
expect() { # $1 = check name, $2 = text the output must contain, then the kafka-configs arguments
  local name="$1" want="$2" out
  shift 2
  out="$(configs "$@")"
  if grep -qF -- "$want" <<<"$out"; then ok "$name"; else fail "$name" "wanted '$want', got: $(head -3 <<<"$out")"; fi
}

start_broker
produce_rate=1048576
consume_rate=1048576
expect "kafka-configs sets a client's producer_byte_rate" "Completed updating config for client quota-producer" \
  --alter --entity-type clients --entity-name quota-producer --add-config "producer_byte_rate=$produce_rate"
expect "kafka-configs sets a client's consumer_byte_rate" "Completed updating config for client quota-consumer" \
  --alter --entity-type clients --entity-name quota-consumer --add-config "consumer_byte_rate=$consume_rate"
expect "kafka-configs sets a user's default-client quotas" "Completed updating config for user alice" \
  --alter --entity-type users --entity-name alice --entity-type clients --entity-default \
  --add-config consumer_byte_rate=2048,request_percentage=50.5
expect "kafka-configs sets the default user's controller_mutation_rate" "Completed updating default config for users in the cluster." \
  --alter --entity-type users --entity-default --add-config controller_mutation_rate=10
expect "kafka-configs sets an IP's connection_creation_rate" "Completed updating config for ip 127.0.0.2" \
  --alter --entity-type ips --entity-name 127.0.0.2 --add-config connection_creation_rate=100
expect "kafka-configs describes clients" "Quota configs for client-id 'quota-producer' are producer_byte_rate=1048576.0" \
  --describe --entity-type clients
expect "kafka-configs describes a user's default client" \
  "Quota configs for user-principal 'alice', the default client-id are consumer_byte_rate=2048.0, request_percentage=50.5" \
  --describe --entity-type users --entity-name alice --entity-type clients
expect "kafka-configs describes ips" "Quota configs for ip '127.0.0.2' are connection_creation_rate=100.0" \
  --describe --entity-type ips
expect "a negative quota is refused as Kafka words it" "Quota producer_byte_rate must be greater than 0" \
  --alter --entity-type clients --entity-name x --add-config producer_byte_rate=-1
expect "a fractional byte rate is refused as Kafka words it" "producer_byte_rate cannot be a fractional value." \
  --alter --entity-type clients --entity-name x --add-config producer_byte_rate=1.5
expect "kafka-configs removes a quota" "Completed updating config for ip 127.0.0.2" \
  --alter --entity-type ips --entity-name 127.0.0.2 --delete-config connection_creation_rate
out="$(configs --describe --entity-type ips)"
if grep -q "127.0.0.2" <<<"$out"; then fail "a removed quota is gone" "$out"; else ok "a removed quota is gone"; fi

stop_broker
start_broker
expect "quotas survive a restart" "Quota configs for client-id 'quota-consumer' are consumer_byte_rate=1048576.0" \
  --describe --entity-type clients --entity-name quota-consumer

period=$window_num
while IFS= read -r line; do
  case "$line" in
  ok\ *) echo "$line"; passed=$((passed + 1)) ;;
  FAIL\ *) echo "$line"; failed=$((failed + 1)) ;;
  esac
done < <(.venv/bin/python "$here/quotas_test.py" "$broker" "$produce_rate" "$consume_rate" "$period" $((period * 5)) 2>&1)
if grep -E "WARN|ERROR" "$work/broker.log" | grep -v "closing connection" | head -5 | grep -q .; then
  echo "broker warnings:"; grep -E "WARN|ERROR" "$work/broker.log" | head -5
fi
finish
