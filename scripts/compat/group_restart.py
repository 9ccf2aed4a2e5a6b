#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""Consumer groups across a broker restart, with kafka-python, aiokafka and confluent-kafka (the
classic protocol, and KIP-848 with group.protocol=consumer). run.sh calls it twice per client,
restarting the broker in between:
    group_restart.py <client> 1 <state-dir> <bootstrap>
        creates a topic of 3 partitions, produces 60 keyed records, and a group member processes
        30 of them, committing each after processing, then leaves; the keys it processed go to
        <state-dir>/<client>.keys
    group_restart.py <client> 2 <state-dir> <bootstrap>
        (after the restart) a new member of the same group must receive exactly the 30 records
        the first did not process (none of the first 30, none twice), and the group's commits
        must then cover every partition to its end.
Prints "ok ..." / "FAIL ..." lines like the other compatibility programs."""
import asyncio
import os
import sys
import time

import common

CLIENTS = ("kafka-python", "aiokafka", "confluent-kafka", "confluent-kafka-848")
RECORDS = 60
FIRST = 30
client, phase, state_dir, broker = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
assert client in CLIENTS, client
chk = common.Checker("%s (restart)" % client)
topic = "compat-restart-" + client
group = topic + "-group"
keys_file = os.path.join(state_dir, client + ".keys")
ALL_KEYS = {b"r%d" % i for i in range(RECORDS)}


# --- kafka-python -------------------------------------------------------------------------------

def kp_produce():
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic
    a = KafkaAdminClient(bootstrap_servers=broker, api_version=(4, 0))
    try:
        a.create_topics([NewTopic(topic, 3, 1)])
    finally:
        a.close()
    p = KafkaProducer(bootstrap_servers=broker, api_version=(4, 0), acks="all", enable_idempotence=False)
    futs = [p.send(topic, key=k, value=b"v" + k) for k in sorted(ALL_KEYS)]
    p.flush(30)
    for f in futs:
        f.get(timeout=10)
    p.close(timeout=5)


def kp_consume(want, settle_s):
    """Processes up to `want` records, committing each one after it; then keeps polling for
    `settle_s` without processing, to see what else arrives. Returns (processed keys, extra keys)."""
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
    c = KafkaConsumer(topic, bootstrap_servers=broker, api_version=(4, 0), group_id=group,
                      enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=10000,
                      heartbeat_interval_ms=1000, request_timeout_ms=30000, max_poll_records=5)
    got, extra = [], []
    try:
        deadline = time.time() + 60
        while len(got) < want and time.time() < deadline:
            for tp, ms in c.poll(timeout_ms=500).items():
                for m in ms:
                    if len(got) < want:
                        got.append(m.key)
                        c.commit({TopicPartition(topic, m.partition): OffsetAndMetadata(m.offset + 1, "", -1)})
        end = time.time() + settle_s
        while time.time() < end:
            extra += [m.key for ms in c.poll(timeout_ms=300).values() for m in ms]
    finally:
        c.close(autocommit=False)
    return got, extra


def kp_committed():
    from kafka import KafkaAdminClient
    a = KafkaAdminClient(bootstrap_servers=broker, api_version=(4, 0))
    try:
        offs = a.list_group_offsets(group)[group]
    finally:
        a.close()
    return {tp.partition: om.offset for tp, om in offs.items() if tp.topic == topic}


# --- aiokafka -----------------------------------------------------------------------------------

async def aio_produce():
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    a = AIOKafkaAdminClient(bootstrap_servers=broker)
    await a.start()
    try:
        await a.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await a.close()
    p = AIOKafkaProducer(bootstrap_servers=broker, acks="all", enable_idempotence=False)
    await p.start()
    try:
        for k in sorted(ALL_KEYS):
            await p.send_and_wait(topic, key=k, value=b"v" + k)
    finally:
        await p.stop()


async def aio_consume(want, settle_s):
    from aiokafka import AIOKafkaConsumer, TopicPartition
    c = AIOKafkaConsumer(topic, bootstrap_servers=broker, group_id=group, enable_auto_commit=False,
                         auto_offset_reset="earliest", session_timeout_ms=10000, heartbeat_interval_ms=1000,
                         max_poll_records=5)
    await c.start()
    got, extra = [], []
    try:
        deadline = time.time() + 60
        while len(got) < want and time.time() < deadline:
            for tp, ms in (await c.getmany(timeout_ms=500)).items():
                for m in ms:
                    if len(got) < want:
                        got.append(m.key)
                        await c.commit({TopicPartition(topic, m.partition): m.offset + 1})
        end = time.time() + settle_s
        while time.time() < end:
            extra += [m.key for ms in (await c.getmany(timeout_ms=300)).values() for m in ms]
    finally:
        await c.stop()
    return got, extra


async def aio_committed():
    from aiokafka.admin import AIOKafkaAdminClient
    a = AIOKafkaAdminClient(bootstrap_servers=broker)
    await a.start()
    try:
        offs = await a.list_consumer_group_offsets(group)
    finally:
        await a.close()
    return {tp.partition: om.offset for tp, om in offs.items() if tp.topic == topic}


# --- confluent-kafka ------------------------------------------------------------------------------

def ck_produce():
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": broker})
    for f in a.create_topics([NewTopic(topic, 3, 1)]).values():
        f.result(30)
    p = Producer({"bootstrap.servers": broker, "acks": "all"})
    for k in sorted(ALL_KEYS):
        p.produce(topic, key=k, value=b"v" + k)
    if p.flush(30) != 0:
        raise RuntimeError("records left undelivered")


def ck_consume(want, settle_s):
    from confluent_kafka import Consumer
    conf = {"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest"}
    if client.endswith("-848"):
        conf["group.protocol"] = "consumer"
    else:
        conf.update({"session.timeout.ms": 10000, "heartbeat.interval.ms": 1000})
    c = Consumer(conf)
    c.subscribe([topic])
    got, extra = [], []
    try:
        deadline = time.time() + 60
        while len(got) < want and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got.append(m.key())
            c.commit(message=m, asynchronous=False)
        end = time.time() + settle_s
        while time.time() < end:
            m = c.poll(0.3)
            if m is not None and not m.error():
                extra.append(m.key())
    finally:
        c.close()
    return got, extra


def ck_committed():
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": broker})
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(3)])
    res = a.list_consumer_group_offsets([req])[group].result(30)
    return {tp.partition: tp.offset for tp in res.topic_partitions if tp.offset >= 0}


# --- the two phases ---------------------------------------------------------------------------------

def run(fn, *args):
    result = fn(*args)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return result


PRODUCE = {"kafka-python": kp_produce, "aiokafka": aio_produce}
CONSUME = {"kafka-python": kp_consume, "aiokafka": aio_consume}
COMMITTED = {"kafka-python": kp_committed, "aiokafka": aio_committed}


def pick(table, fallback):
    return table.get(client, fallback)


def main():
    if phase == 1:
        chk.run("create %s with 3 partitions and produce %d keyed records" % (topic, RECORDS),
                run, pick(PRODUCE, ck_produce))
        res = chk.run("a group member processes %d records, committing each, and leaves" % FIRST,
                      run, pick(CONSUME, ck_consume), FIRST, 0.0)
        if res:
            got, _ = res
            chk.check("it processed %d distinct records" % FIRST, len(set(got)) == FIRST == len(got), repr(got))
            with open(keys_file, "w") as f:
                f.write("\n".join(k.decode() for k in got))
        return
    try:
        with open(keys_file) as f:
            first = {line.encode() for line in f.read().split("\n") if line}
    except OSError as e:
        chk.fail("the first run's keys", str(e))
        return
    res = chk.run("after the broker restart a new member of the group consumes", run,
                  pick(CONSUME, ck_consume), RECORDS - FIRST, 3.0)
    if not res:
        return
    got, extra = res
    again = sorted(set(got + extra) & first)
    rest = ALL_KEYS - first
    chk.check("it resumes from the commits made before the restart: none of the first %d again" % FIRST,
              not again, "%d read again, e.g. %r" % (len(again), again[:5]))
    chk.check("it gets exactly the %d records the first member did not process" % (RECORDS - FIRST),
              sorted(got + extra) == sorted(rest), "got %d (%d distinct), wanted %d; missing %r"
              % (len(got + extra), len(set(got + extra)), len(rest), sorted(rest - set(got + extra))[:5]))
    committed = chk.run("committed offsets through the admin API", run, pick(COMMITTED, ck_committed))
    if committed is not None:
        chk.check("the commits cover all %d records" % RECORDS, sum(committed.values()) == RECORDS, repr(committed))


chk.guard(main)
