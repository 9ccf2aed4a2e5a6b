#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""confluent-kafka driver: idempotent producer sends 4 keyed records with
headers (one batch; the last is a tombstone, one header has a null value),
then a group consumer reads them back and commits.
    confluent_kafka_client.py <bootstrap> <codec>"""
import sys
from confluent_kafka import Consumer, KafkaError, Producer

broker, codec = sys.argv[1], sys.argv[2]
topic = "golden"
common = {"bootstrap.servers": broker, "broker.address.family": "v4"}

p = Producer({**common, "client.id": "golden-confluent-producer", "compression.type": codec,
              "linger.ms": 100, "enable.idempotence": True, "acks": "all"})
for i in range(4):
    value = None if i == 3 else ("golden value %d from confluent-kafka, " % i) * 2
    p.produce(topic, key="key-%d" % i, value=value, partition=0,
              headers=[("client", b"confluent-kafka"), ("codec", codec.encode()), ("null-header", None)])
left = p.flush(15)
assert left == 0, "%d messages not delivered" % left

c = Consumer({**common, "client.id": "golden-confluent-consumer", "group.id": "golden-confluent",
              "auto.offset.reset": "earliest", "enable.auto.commit": False,
              "enable.partition.eof": True})
c.subscribe([topic])
got = []
while True:
    m = c.poll(10)
    if m is None:
        raise SystemExit("timed out after %d records" % len(got))
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF and len(got) >= 4:
            break
        if m.error().code() == KafkaError._PARTITION_EOF:
            continue
        raise SystemExit(str(m.error()))
    got.append(m)
    print("consumed offset=%d key=%r value=%r headers=%r" % (m.offset(), m.key(), m.value(), m.headers()))
c.commit(asynchronous=False)
c.close()
