#!/usr/bin/env bash
# Measures what BENCHMARKS.md records under "Start-up, restart and memory":
#   start-up   exec to first answered ApiVersions, fresh data dir and one holding 100 topics
#   restart    exec to answered ListOffsets after kill -9 with a 1 GiB active segment
#   memory     VmRSS idle, and with 1,000 partitions (100 topics x 10) holding a little data
# Each timing is run RUNS times (default 3); the script prints every run and the median.
# Usage: scripts/measure-resources.sh [path/to/sluice]   (default: target/release/sluice)
# Needs python3 (for a client that can time a single request to the millisecond). Uses
# loopback port PORT (default 19493) and a scratch directory it deletes afterwards.
set -euo pipefail

cd "$(dirname "$0")/.."
SLUICE=${1:-target/release/sluice}
RUNS=${RUNS:-3}
PORT=${PORT:-19493}
SEGMENT_MIB=${SEGMENT_MIB:-1024}
WORK=$(mktemp -d /tmp/sluice-measure.XXXXXX)
BROKER_PID=

cleanup() {
    if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

[[ -x "$SLUICE" ]] || { echo "no sluice binary at $SLUICE (cargo build --release -p sluice)" >&2; exit 1; }
echo "sluice: $SLUICE; load: $(uptime)"

# time_to_answer DATA_DIR KIND [TOPIC EXPECTED_END]: starts the broker in the background (its pid
# in BROKER_PID via the file $WORK/pid) and prints milliseconds from exec to the first answer of
# KIND (api_versions, or list_offsets checking that TOPIC-0 ends at EXPECTED_END).
time_to_answer() {
    python3 - "$SLUICE" "$1" "$PORT" "$2" "${3:-}" "${4:-0}" "$WORK/pid" "$WORK/broker.log" <<'PY'
import socket, struct, subprocess, sys, time
sluice, data, port, kind, topic, expected, pid_file, log = sys.argv[1:9]
port, expected = int(port), int(expected)

def frame(key, version, body):
    header = struct.pack(">hhih", key, version, 7, 1) + b"m"
    return struct.pack(">i", len(header) + len(body)) + header + body

def request():
    if kind == "api_versions":
        return frame(18, 0, b"")
    name = topic.encode()
    # ListOffsets v1: replica -1, one topic, partition 0, timestamp -1 (latest).
    body = struct.pack(">ii", -1, 1) + struct.pack(">h", len(name)) + name + struct.pack(">iiq", 1, 0, -1)
    return frame(2, 1, body)

def check(resp):
    if kind == "api_versions":
        return struct.unpack(">h", resp[4:6])[0] == 0
    # correlation id, topics[1]: name, partitions[1]: index, error, timestamp, offset
    pos = 4 + 4
    (n,) = struct.unpack(">h", resp[pos:pos + 2]); pos += 2 + n
    pos += 4
    index, error, ts, offset = struct.unpack(">ihqq", resp[pos:pos + 22])
    if error != 0 or offset != expected:
        sys.exit(f"ListOffsets: error {error}, offset {offset}, expected {expected}")
    return True

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf

start = time.monotonic()
proc = subprocess.Popen([sluice, "serve", "-o", f"listeners=PLAINTEXT://127.0.0.1:{port}", "-o", f"log.dirs={data}",
                         "-o", "log.segment.bytes=2147483647"],
                        stdout=subprocess.DEVNULL, stderr=open(log, "a"))
open(pid_file, "w").write(str(proc.pid))
while True:
    if proc.poll() is not None:
        sys.exit(f"broker exited with {proc.returncode}")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(request())
            (size,) = struct.unpack(">i", recv_exact(s, 4))
            if check(recv_exact(s, size)):
                break
    except (ConnectionError, OSError):
        time.sleep(0.001)
elapsed_ms = (time.monotonic() - start) * 1000
print(f"{elapsed_ms:.1f}")
PY
    BROKER_PID=$(cat "$WORK/pid")
}

stop_broker() { # SIGTERM (clean) or SIGKILL
    kill "-$1" "$BROKER_PID"
    while kill -0 "$BROKER_PID" 2>/dev/null; do sleep 0.05; done
    BROKER_PID=
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$BROKER_PID/status"; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

BOOT=127.0.0.1:$PORT

echo "== start-up, fresh data dir (ms)"
for run in $(seq "$RUNS"); do
    rm -rf "$WORK/fresh"
    time_to_answer "$WORK/fresh" api_versions
    stop_broker TERM
done | tee "$WORK/t" && echo "median: $(median <"$WORK/t") ms"

echo "== memory and start-up with 100 topics x 10 partitions"
time_to_answer "$WORK/many" api_versions >/dev/null
sleep 1
echo "idle RSS: $(rss_kib) KiB"
for t in $(seq -w 0 99); do
    "$SLUICE" bench produce -b "$BOOT" --topic "m$t" --partitions 10 --records 200 --record-size 100 --batch-bytes 100 \
        --json >/dev/null 2>&1
done
sleep 1
echo "RSS with 1,000 partitions: $(rss_kib) KiB (peak $(awk '/^VmHWM:/ {print $2}' "/proc/$BROKER_PID/status") KiB; partition dirs: $(ls -d "$WORK"/many/m*-* | wc -l))"
stop_broker TERM
for run in $(seq "$RUNS"); do
    time_to_answer "$WORK/many" api_versions
    stop_broker TERM
done | tee "$WORK/t" && echo "start-up with 1,000 partitions, median: $(median <"$WORK/t") ms"

echo "== restart after kill -9 with a ${SEGMENT_MIB} MiB active segment (ms to ListOffsets)"
time_to_answer "$WORK/big" api_versions >/dev/null
RECORDS=$((SEGMENT_MIB * 1024))
"$SLUICE" bench produce -b "$BOOT" --topic big --partitions 1 --acks 1 --records "$RECORDS" --record-size 1000 \
    --json >"$WORK/produce.json" 2>/dev/null
echo "produced: $(cat "$WORK/produce.json")"
ls -l "$WORK"/big/big-0/*.log
stop_broker KILL
for run in $(seq "$RUNS"); do
    time_to_answer "$WORK/big" list_offsets big "$RECORDS"
    echo "RSS after recovering the segment: $(rss_kib) KiB" >&2
    stop_broker KILL
done | tee "$WORK/t" && echo "median: $(median <"$WORK/t") ms"
