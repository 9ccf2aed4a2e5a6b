"""Client quotas against a running broker, with confluent-kafka (librdkafka).

Quotas are set beforehand with Kafka's own kafka-configs (quotas.sh). This program checks the
effect: a producer with client.id quota-producer and a consumer with client.id quota-consumer run
flat out for RUN_S seconds; each must move data at its quota within 10%, and librdkafka must
report the broker's throttle times (throttle_cb). An unthrottled client id is not slowed down.

Kafka's sampled rate lets a new client start with a burst, and releases allowance in steps as its
windows expire, every PERIOD_S = quota.window.num x quota.window.size.seconds; so the rate checked
is over whole periods after the first one: RUN_S should be a multiple of PERIOD_S.

Usage: quotas_test.py BOOTSTRAP PRODUCE_RATE CONSUME_RATE PERIOD_S RUN_S
Prints "ok ..." / "FAIL ..." lines.
"""

import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, produce_rate, consume_rate, period_s, run_s = sys.argv[1:6]
produce_rate, consume_rate = float(produce_rate), float(consume_rate)
period_s, run_s = float(period_s), float(run_s)
VALUE = b"x" * 1000
failures = 0


def report(ok, what, detail=""):
    global failures
    if not ok:
        failures += 1
    print(f"{'ok' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}", flush=True)


def create_topic(name):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=30)


def run_producer(topic, client_id, seconds):
    """Produces flat out for `seconds`; returns (ack times and sizes, throttle times seen)."""
    throttles = []
    acked = []
    p = Producer({
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "linger.ms": 5,
        # Requests of a tenth of the quota, so one request is not a large step of the rate.
        "batch.size": max(1024, int(produce_rate / 10)),
        "acks": 1,
        "queue.buffering.max.kbytes": 32768,
        "throttle_cb": lambda e: throttles.append(e.throttle_time * 1000),
    })

    def on_ack(err, msg):
        if err is None:
            acked.append((time.monotonic(), len(msg.value())))

    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            p.produce(topic, VALUE, on_delivery=on_ack)
        except BufferError:
            p.poll(0.01)
        p.poll(0)
    # What is still queued would take long at the quota: drop it, keep what is in flight.
    p.purge(in_queue=True, in_flight=False)
    p.flush(30)
    return start, acked, throttles


def quota_rate(events, start):
    """Bytes per second moved in the run's whole periods after the first."""
    t0, t1 = start + period_s, start + run_s
    return sum(size for t, size in events if t0 <= t < t1) / (t1 - t0)


def check_rate(what, rate, quota):
    report(abs(rate - quota) / quota <= 0.10, what, f"{rate:.0f} B/s against a quota of {quota:.0f} B/s")


def producer_checks():
    topic = f"quota-produce-{uuid.uuid4().hex[:8]}"
    create_topic(topic)
    start, acked, throttles = run_producer(topic, "quota-producer", run_s)
    check_rate("producer held to producer_byte_rate", quota_rate(acked, start), produce_rate)
    report(len(throttles) > 0 and max(throttles) > 0, "producer told its throttle times",
           f"{len(throttles)} throttle events, max {max(throttles, default=0):.0f} ms")
    report(all(t < 60_000 for t in throttles), "throttle times are bounded by the windows", "")


def consumer_checks():
    topic = f"quota-consume-{uuid.uuid4().hex[:8]}"
    create_topic(topic)
    # Load more than the consumer can take in the run, with an unthrottled client id.
    need = int(consume_rate * (run_s + period_s) * 1.5)
    p = Producer({"bootstrap.servers": bootstrap, "client.id": "quota-loader", "linger.ms": 20, "batch.size": 16384})
    t0 = time.monotonic()
    for _ in range(need // len(VALUE) + 1):
        while True:
            try:
                p.produce(topic, VALUE)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    p.flush(120)
    load_s = time.monotonic() - t0
    report(need / load_s > 2 * produce_rate, "a client without a quota is not throttled",
           f"{need / load_s:.0f} B/s loading {need} bytes")

    throttles = []
    got = []
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "client.id": "quota-consumer",
        "group.id": f"g-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        # Responses of a tenth of the quota, so one response is not a large step of the rate.
        "max.partition.fetch.bytes": max(1024, int(consume_rate / 10)),
        "throttle_cb": lambda e: throttles.append(e.throttle_time * 1000),
    })
    c.assign([TopicPartition(topic, 0, 0)])
    start = time.monotonic()
    while time.monotonic() - start < run_s:
        for m in c.consume(num_messages=1000, timeout=0.2):
            if m.error() is None:
                got.append((time.monotonic(), len(m.value())))
    c.close()
    check_rate("consumer held to consumer_byte_rate", quota_rate(got, start), consume_rate)
    report(len(throttles) > 0 and max(throttles) > 0, "consumer told its throttle times",
           f"{len(throttles)} throttle events, max {max(throttles, default=0):.0f} ms")


producer_checks()
consumer_checks()
sys.exit(1 if failures else 0)
