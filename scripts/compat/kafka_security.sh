#!/usr/bin/env bash
# Issue 9: `sluice`'s client commands with --command-config work against a secured Apache Kafka
# as against a secured Sluice. Starts Apache Kafka 4.x (KRaft combined mode, from Maven Central
# via Maven, cached in ~/.m2) and a Sluice broker, both with one SASL_SSL listener (SCRAM-SHA-512,
# PEM key+cert made by openssl here, StandardAuthorizer with super.users=User:admin), runs the same
# sluice commands with the same client properties file against each and compares the answers.
# Loopback ports only, everything in a temp dir, and only the PIDs started here are killed.
#
# Usage: scripts/compat/kafka_security.sh [path/to/sluice]
# Prints "ok <check>" / "FAIL <check>: detail" and closes with
# "kafka-security: N passed, M failed"; exits non-zero when a check failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

SLUICE="${1:-$PWD/target/debug/sluice}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
passed=0
failed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
  echo "kafka-security: ${passed} passed, ${failed} failed"
  [ "$failed" -eq 0 ]
  exit
}

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# --- Apache Kafka's jars, through Maven (a throwaway pom; ~/.m2 keeps them for later runs) -----
mkdir -p "$work/pom"
cat >"$work/pom/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>sluice.compat</groupId><artifactId>kafka-fetch</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
<version>${KAFKA_VERSION}</version></dependency></dependencies></project>
EOF
if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
  fail "kafka jars" "mvn or java not found"
  finish
fi
if ! (cd "$work/pom" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$work/jars") >"$work/mvn.log" 2>&1; then
  fail "kafka jars" "mvn dependency:copy-dependencies failed: $(grep -m1 "ERROR" "$work/mvn.log" || tail -1 "$work/mvn.log")"
  finish
fi
ok "kafka jars: kafka_2.13 ${KAFKA_VERSION} and $(($(ls "$work/jars" | wc -l) - 1)) dependencies from Maven"

# --- ports and certificates ------------------------------------------------------------------
read -r kafka_port controller_port internal_port sluice_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

(
  cd "$work"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca -keyout ca.key -out ca.pem
  echo "subjectAltName=IP:127.0.0.1,DNS:localhost" >san.ext
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost/O=Sluice -keyout server.key -out server.csr
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out server.pem -extfile san.ext
  cat server.pem server.key >server.bundle.pem
) >"$work/openssl.log" 2>&1 || { fail "certificates" "$(tail -3 "$work/openssl.log")"; finish; }

# The security part both brokers share, with Kafka's property names.
security_props() { # $1 = port
  cat <<EOF
listener.security.protocol.map=EXTERNAL:SASL_SSL,CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT
listener.name.external.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.external.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$work/server.bundle.pem
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
connection.failed.authentication.delay.ms=50
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
EOF
}

# Kafka: KRaft combined mode; the controller and the inter-broker listeners are loopback
# PLAINTEXT, whose ANONYMOUS principal is a super user so the broker may talk to its controller.
mkdir -p "$work/kafka" "$work/sluice"
{
  security_props
  cat <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
listeners=EXTERNAL://127.0.0.1:$kafka_port,INTERNAL://127.0.0.1:$internal_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=EXTERNAL://127.0.0.1:$kafka_port,INTERNAL://127.0.0.1:$internal_port
inter.broker.listener.name=INTERNAL
super.users=User:admin;User:ANONYMOUS
log.dirs=$work/kafka/data
EOF
} >"$work/kafka/server.properties"
{
  security_props
  cat <<EOF
node.id=1
listeners=EXTERNAL://127.0.0.1:$sluice_port
super.users=User:admin
log.dirs=$work/sluice/data
EOF
} >"$work/sluice/server.properties"

# One client properties file for both brokers (the port comes from --bootstrap-server).
cat >"$work/client.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";
ssl.truststore.type=PEM
ssl.truststore.location=$work/ca.pem
ssl.endpoint.identification.algorithm=https
EOF
sed 's/password="admin-secret"/password="wrong-secret"/' "$work/client.properties" >"$work/wrong.properties"
# alice, made with `sluice user scram set`, logs in with sasl.username/sasl.password instead.
grep -v '^sasl.jaas.config' "$work/client.properties" >"$work/alice.properties"
printf 'sasl.username=alice\nsasl.password=alice-secret\n' >>"$work/alice.properties"
echo alice-secret >"$work/alice.pw"

scram='SCRAM-SHA-512=[name=admin,password=admin-secret]'
java_opts=(-Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1)
cluster_id="$(java -cp "$work/jars/*" kafka.tools.StorageTool random-uuid 2>"$work/kafka/uuid.log" | tail -1)"
if ! java "${java_opts[@]}" -cp "$work/jars/*" kafka.tools.StorageTool format -t "$cluster_id" \
  -c "$work/kafka/server.properties" --add-scram "$scram" --standalone >"$work/kafka/format.log" 2>&1; then
  fail "kafka format" "$(tail -5 "$work/kafka/format.log")"
  finish
fi
if ! "$SLUICE" format -c "$work/sluice/server.properties" --add-scram "$scram" >"$work/sluice/format.log" 2>&1; then
  fail "sluice format" "$(tail -5 "$work/sluice/format.log")"
  finish
fi

java "${java_opts[@]}" -cp "$work/jars/*" kafka.Kafka "$work/kafka/server.properties" >"$work/kafka/broker.log" 2>&1 &
kafka_pid=$!
pids+=("$kafka_pid")
"$SLUICE" serve -c "$work/sluice/server.properties" >"$work/sluice/broker.log" 2>&1 &
sluice_pid=$!
pids+=("$sluice_pid")

cli() { # $1 = broker name, rest = sluice arguments
  local port=$kafka_port
  [ "$1" = sluice ] && port=$sluice_port
  shift
  "$SLUICE" "$@" -b "127.0.0.1:$port" --command-config "${CFG:-$work/client.properties}" --timeout-ms 10000
}

# Ready when the secured listener answers an authenticated metadata request.
for b in kafka sluice; do
  pid=$kafka_pid
  [ $b = sluice ] && pid=$sluice_pid
  ready=0
  for _ in $(seq 1 120); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if cli $b topic list >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.5
  done
  if [ $ready = 1 ]; then
    ok "$b: started with a SASL_SSL SCRAM-SHA-512 listener and answers sluice --command-config"
  else
    fail "$b start" "not ready within 60 s: $(tail -5 "$work/$b/broker.log")"
  fi
done
[ "$failed" -eq 0 ] || finish

# --- the same commands against both --------------------------------------------------------
run() { # $1 = broker, $2 = label, rest = sluice arguments; keeps stdout, stderr and rc
  local b=$1 label=$2
  shift 2
  cli "$b" "$@" >"$work/$b/$label.out" 2>"$work/$b/$label.err"
  echo $? >"$work/$b/$label.rc"
}
for b in kafka sluice; do
  run $b topic-create topic create t -p 3
  run $b topic-list topic list
  run $b topic-describe topic describe t
  printf 'k1:v1\nk2:v2\n' | run $b produce produce t --key-separator :
  run $b consume consume t --from-beginning --count 2
  run $b consume-json consume t --from-beginning --count 2 --json
  run $b scram-describe user scram describe --user admin
  run $b acl-create acl create --allow-principal User:alice --operation Read --topic t
  run $b acl-list acl list --topic t
  run $b scram-set user scram set --user alice --mechanism SCRAM-SHA-512 --password-file "$work/alice.pw"
  # Kafka applies a new credential through its metadata log: give it a moment.
  for _ in $(seq 1 20); do
    CFG="$work/alice.properties" run $b alice-consume consume t --from-beginning --count 2
    [ "$(cat "$work/$b/alice-consume.rc")" = 0 ] && break
    sleep 0.25
  done
  CFG="$work/alice.properties" run $b alice-create topic create u -p 1
  CFG="$work/wrong.properties" run $b wrong topic list
done

# Normalisation: topic ids and other UUIDs, timestamps, and line order (partitions are read in
# whatever order fetches return) do not count as differences; internal topics (__*) are Kafka's own.
norm() { # $1 = label, $2 = file
  case $1 in
    consume-json) python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if not line: continue
    r = json.loads(line)
    r.pop("timestamp", None)
    print(json.dumps(r, sort_keys=True))' <"$2" | sort ;;
    topic-list) grep -v '^__' "$2" | sort ;;
    *) sed -E 's/TopicId: [^[:space:]]+/TopicId: <id>/g; s/127\.0\.0\.1:[0-9]+/127.0.0.1:<port>/g' "$2" | sort ;;
  esac
}
for label in topic-create topic-list topic-describe produce consume consume-json scram-describe acl-create acl-list scram-set alice-consume; do
  what="sluice ${label/-/ }"
  bad=""
  for b in kafka sluice; do
    rc=$(cat "$work/$b/$label.rc")
    [ "$rc" = 0 ] || bad+="$b exited $rc: $(head -c 300 "$work/$b/$label.err" | tr '\n' ' '); "
  done
  if [ -n "$bad" ]; then
    fail "$what" "$bad"
    continue
  fi
  if diff <(norm "$label" "$work/kafka/$label.out") <(norm "$label" "$work/sluice/$label.out") >"$work/$label.diff"; then
    ok "$what: same answer from Kafka and Sluice ($(wc -l <"$work/kafka/$label.out") lines)"
  else
    fail "$what" "answers differ (< kafka, > sluice): $(tr '\n' ' ' <"$work/$label.diff" | head -c 600)"
  fi
done

# The produced records come back as produced, from each broker.
for b in kafka sluice; do
  got="$(sort "$work/$b/consume.out" | tr '\n' ' ')"
  case "$got" in
    *v1*v2*) ok "$b: consume --from-beginning returns both produced records" ;;
    *) fail "$b consume" "got: $got" ;;
  esac
done
for b in kafka sluice; do
  if grep -q 'alice' "$work/$b/acl-list.out" && grep -qi 'read' "$work/$b/acl-list.out"; then
    ok "$b: acl list shows User:alice's Read ACL on t"
  else
    fail "$b acl list" "$(tr '\n' ' ' <"$work/$b/acl-list.out")"
  fi
  if grep -q 'SCRAM-SHA-512' "$work/$b/scram-describe.out"; then
    ok "$b: user scram describe shows admin's SCRAM-SHA-512 credential"
  else
    fail "$b scram describe" "$(tr '\n' ' ' <"$work/$b/scram-describe.out")"
  fi
done

# A wrong password fails on both, with an authentication error.
for b in kafka sluice; do
  rc=$(cat "$work/$b/wrong.rc")
  msg="$(tr '\n' ' ' <"$work/$b/wrong.err" | head -c 300)"
  if [ "$rc" != 0 ] && grep -qiE 'authenticat' "$work/$b/wrong.err"; then
    ok "$b: a wrong password fails with an authentication error ($msg)"
  else
    fail "$b wrong password" "exit $rc, stderr: $msg"
  fi
done

# alice may read t (her Read ACL) but not create topics, on both; and both refuse the same way.
for b in kafka sluice; do
  rc=$(cat "$work/$b/alice-create.rc")
  msg="$(tr '\n' ' ' <"$work/$b/alice-create.err" | head -c 300)"
  if [ "$rc" != 0 ] && grep -qiE 'authoriz' "$work/$b/alice-create.err"; then
    ok "$b: alice (no Create ACL) cannot create a topic ($msg)"
  else
    fail "$b alice topic create" "exit $rc, stderr: $msg"
  fi
done
for label in alice-create wrong; do
  if diff <(norm x "$work/kafka/$label.err") <(norm x "$work/sluice/$label.err") >"$work/$label.diff"; then
    ok "$label: same error text from Kafka and Sluice"
  else
    fail "$label error text" "differs (< kafka, > sluice): $(tr '\n' ' ' <"$work/$label.diff" | head -c 600)"
  fi
done

if [ -n "${KAFKA_SECURITY_SHOW:-}" ]; then
  for f in "$work"/kafka/*.out "$work"/kafka/*.err "$work"/sluice/*.out "$work"/sluice/*.err; do
    [ -s "$f" ] && { echo "--- ${f#$work/}"; cat "$f"; }
  done
fi
finish
