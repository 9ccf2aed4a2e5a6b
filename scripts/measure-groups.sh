#!/usr/bin/env bash
# Measures what BENCHMARKS.md records under "Consumer groups":
#   commit     OffsetCommit throughput: CLIENTS connections x IN_FLIGHT pipelined commits
#   rebalance  a classic group of 10 members: 20 rounds, one member joins or leaves each
#   groups     10,000 groups (one member each, joined, synced, one commit): broker RSS growth
# Each bench runs RUNS times (default 3) against one broker; medians are left to the reader.
# Usage: scripts/measure-groups.sh [path/to/sluice]   (default: target/release/sluice)
# The broker runs with group.initial.rebalance.delay.ms=0: the delay (3 s by default) holds
# every new group's first join, which is configured waiting and not the coordinator's cost.
set -euo pipefail

cd "$(dirname "$0")/.."
SLUICE=${1:-target/release/sluice}
RUNS=${RUNS:-3}
PORT=${PORT:-19494}
CLIENTS=${CLIENTS:-8}
IN_FLIGHT=${IN_FLIGHT:-16}
GROUP_COUNT=${GROUP_COUNT:-10000}
WORK=$(mktemp -d /tmp/sluice-groups.XXXXXX)
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
B=127.0.0.1:$PORT
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$BROKER_PID/status"; }

"$SLUICE" serve -o "listeners=PLAINTEXT://$B" -o "log.dirs=$WORK/data" \
    -o group.initial.rebalance.delay.ms=0 2>"$WORK/broker.log" &
BROKER_PID=$!
for _ in $(seq 1 100); do grep -q "sluice is ready" "$WORK/broker.log" && break; sleep 0.05; done

for run in $(seq 1 "$RUNS"); do
    echo "commit run $run ($CLIENTS clients x $IN_FLIGHT in flight, 10 s): $(uptime | sed 's/.*load/load/')"
    "$SLUICE" bench commit -b "$B" --topic "commits-$run" --clients "$CLIENTS" --max-in-flight "$IN_FLIGHT" --duration-s 10
done
for run in $(seq 1 "$RUNS"); do
    echo "rebalance run $run (10 members, 20 rounds): $(uptime | sed 's/.*load/load/')"
    "$SLUICE" bench rebalance -b "$B" --topic "rebalance-$run" --members 10 --records 20
done

# Memory of groups: a fresh broker, its RSS once the offsets topic exists, then after the groups.
kill -TERM "$BROKER_PID"; wait "$BROKER_PID" || true
rm -rf "$WORK/data"
"$SLUICE" serve -o "listeners=PLAINTEXT://$B" -o "log.dirs=$WORK/data" \
    -o group.initial.rebalance.delay.ms=0 2>"$WORK/broker.log" &
BROKER_PID=$!
for _ in $(seq 1 100); do grep -q "sluice is ready" "$WORK/broker.log" && break; sleep 0.05; done
"$SLUICE" bench groups -b "$B" --topic warm --groups 1 >/dev/null
sleep 1
before=$(rss_kib)
"$SLUICE" bench groups -b "$B" --topic many --groups "$GROUP_COUNT" --clients 64
sleep 1
after=$(rss_kib)
echo "RSS with the offsets topic open: $before KiB; after $GROUP_COUNT groups: $after KiB; growth $((after - before)) KiB ($(( (after - before) / 1024 )) MiB)"
