"""kafka-python speaking old protocol versions (api_version pinned, no ApiVersions): for each
version, keyed records in every codec that version's message format allows, read back by a group
consumer that commits, then a second consumer of the same group resumes after the commit.

Usage: kafka_python_legacy.py BROKER. Prints "ok ..." / "FAIL ..." lines.
"""

import sys
import time
import uuid

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

BROKER = sys.argv[1]
VERSIONS = [(0, 9), (0, 10, 0), (0, 10, 1), (0, 11)]
CODECS = [None, "gzip", "snappy", "lz4"]


def report(ok, name, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ((": " + detail) if detail and not ok else ""), flush=True)
    return ok


def create(topic):
    admin = KafkaAdminClient(bootstrap_servers=BROKER)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()


def produce(version, codec, topic, first, count):
    p = KafkaProducer(bootstrap_servers=BROKER, api_version=version, compression_type=codec, acks="all", linger_ms=5)
    futures = [p.send(topic, key=b"k%d" % i, value=b"v%d" % i) for i in range(first, first + count)]
    p.flush(10)
    offsets = [f.get(10).offset for f in futures]
    p.close(5)
    return offsets


def consume(version, topic, group, count):
    c = KafkaConsumer(
        topic,
        bootstrap_servers=BROKER,
        api_version=version,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=15000,
        session_timeout_ms=10000,
    )
    got = []
    for m in c:
        got.append((m.offset, m.key, m.value))
        if len(got) == count:
            break
    c.commit()
    c.close()
    return got


def expect(first, count):
    return [(i, b"k%d" % i, b"v%d" % i) for i in range(first, first + count)]


def run(version):
    name = ".".join(map(str, version))
    ok = True
    for codec in CODECS:
        topic = "kp-legacy-%s-%s-%s" % (name.replace(".", ""), codec or "none", uuid.uuid4().hex[:6])
        group = topic + "-g"
        create(topic)
        try:
            offsets = produce(version, codec, topic, 0, 6)
            ok &= report(offsets == list(range(6)), "kafka-python %s %s: produce offsets" % (name, codec), str(offsets))
            got = consume(version, topic, group, 4)
            ok &= report(got == expect(0, 4), "kafka-python %s %s: group reads keys and values" % (name, codec), str(got))
            produce(version, codec, topic, 6, 2)
            got = consume(version, topic, group, 4)
            ok &= report(got == expect(4, 4), "kafka-python %s %s: resumes from the commit" % (name, codec), str(got))
        except Exception as e:  # noqa: BLE001 - every failure is a FAIL line
            ok &= report(False, "kafka-python %s %s" % (name, codec), repr(e))
    return ok


def main():
    for version in VERSIONS:
        run(version)


if __name__ == "__main__":
    main()
