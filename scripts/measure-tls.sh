#!/usr/bin/env bash
# Measures what BENCHMARKS.md records under "Security": produce and consume throughput of
# `sluice bench` over PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-512) listeners of one broker, runs
# interleaved, and the broker's CPU-seconds per GB for each (utime+stime from /proc/<pid>/stat).
# Each mode runs RUNS times (default 3) on fresh topics; the script prints every run.
# Usage: scripts/measure-tls.sh [path/to/sluice]   (default: target/release/sluice)
# Uses loopback ports 19591-19593, openssl for the certificates, and a scratch dir it deletes.
set -euo pipefail
cd "$(dirname "$0")/.."
SLUICE=${1:-target/release/sluice}
RUNS=${RUNS:-3}
RECORDS=${RECORDS:-1000000}
WORK=$(mktemp -d /tmp/sluice-tls.XXXXXX)
PID=
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout b.key -out b.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
openssl x509 -req -in b.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out b.pem 2>/dev/null
cat b.pem b.key > bundle.pem
cat > server.properties <<PROPS
log.dirs=$WORK/data
listeners=PLAINTEXT://127.0.0.1:19591,SSL://127.0.0.1:19592,SASL_SSL://127.0.0.1:19593
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
ssl.keystore.type=PEM
ssl.keystore.location=$WORK/bundle.pem
PROPS
"$OLDPWD/$SLUICE" format -c server.properties --add-scram 'SCRAM-SHA-512=[name=bench,password=bench-secret]' >/dev/null
"$OLDPWD/$SLUICE" serve -c server.properties 2>broker.log &
PID=$!
for _ in $(seq 100); do grep -q "sluice is ready" broker.log 2>/dev/null && break; sleep 0.1; done
printf 'security.protocol=PLAINTEXT\n' > plaintext.properties
printf 'security.protocol=SSL\nssl.truststore.location=%s/ca.pem\n' "$WORK" > ssl.properties
printf 'security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=bench\nsasl.password=bench-secret\nssl.truststore.location=%s/ca.pem\n' "$WORK" > sasl_ssl.properties
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
ticks=$(getconf CLK_TCK)
echo "load: $(uptime)"
for run in $(seq "$RUNS"); do
  for mode in plaintext:19591 ssl:19592 sasl_ssl:19593; do
    name=${mode%%:*}; port=${mode##*:}
    for what in produce consume; do
      before=$(cpu)
      out=$("$OLDPWD/$SLUICE" bench "$what" -b "127.0.0.1:$port" --command-config "$name.properties" \
        --topic "t-$name-$run" --partitions 6 --record-size 1024 --records "$RECORDS" --json 2>"$WORK/bench.err" | tail -1) || { echo "bench $what over $name failed:"; cat "$WORK/bench.err"; grep -v INFO "$WORK/broker.log" | tail -20; exit 1; }
      after=$(cpu)
      mbs=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(round(d.get('mb_per_s', d.get('throughput_mb_s', 0)), 1))" "$out" 2>/dev/null || echo "?")
      cpu_s=$(python3 -c "print(round(($after - $before) / $ticks, 2))")
      gb=$(python3 -c "print($RECORDS * 1024 / 1e9)")
      echo "run=$run mode=$name $what MB/s=$mbs broker_cpu_s=$cpu_s broker_cpu_s_per_GB=$(python3 -c "print(round($cpu_s / $gb, 2))")"
    done
  done
done
