#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""kafka-python (3.x) driver: producer (idempotent by default in 3.x) sends 4
keyed records with headers in one batch (the last is a tombstone), then a
group consumer reads them back and commits.
    kafka_python_client.py <bootstrap> <codec>
api_version is always passed (without it the client probes and can hang);
it is the newest broker version kafka-python knows, and the client then
clamps each API to what the fake broker advertises in ApiVersions."""
import sys
from kafka import KafkaConsumer, KafkaProducer

broker, codec = sys.argv[1], sys.argv[2]
topic = "golden"
API_VERSION = (4, 3)

p = KafkaProducer(bootstrap_servers=broker, api_version=API_VERSION, client_id="golden-kafka-python-producer",
                  compression_type=None if codec == "none" else codec, linger_ms=100, acks="all")
futs = []
for i in range(4):
    value = None if i == 3 else ("golden value %d from kafka-python, " % i * 2).encode()
    futs.append(p.send(topic, key=b"key-%d" % i, value=value, partition=0,
                       headers=[("client", b"kafka-python"), ("codec", codec.encode())]))
p.flush(15)
for f in futs:
    f.get(timeout=5)
p.close(timeout=5)

c = KafkaConsumer(topic, bootstrap_servers=broker, api_version=API_VERSION, group_id="golden-kafka-python",
                  client_id="golden-kafka-python-consumer", auto_offset_reset="earliest",
                  enable_auto_commit=False, consumer_timeout_ms=15000)
got = 0
for m in c:
    print("consumed offset=%d key=%r value=%r headers=%r" % (m.offset, m.key, m.value, m.headers))
    got += 1
    if got >= 4:
        break
if got < 4:
    raise SystemExit("only %d records consumed" % got)
c.commit()
c.close()
