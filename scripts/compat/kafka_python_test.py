#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""kafka-python (3.x) against Sluice: KafkaAdminClient create/delete topic, produce in every codec
with acks=all, read back without a consumer group (assign + seek_to_beginning), ListOffsets; then
the admin calls CreatePartitions, DescribeTopicPartitions, DescribeCluster, DescribeLogDirs,
list_partition_offsets (earliest, latest, by timestamp, max timestamp) and DeleteRecords, each
checked by its effect.
    kafka_python_test.py <bootstrap>
api_version is passed to every constructor: without it kafka-python 3.x probes and can hang.
Idempotence: kafka-python 3.x enables it by default; it is disabled here and tested once Sluice
serves InitProducerId."""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic, OffsetSpec, OffsetTimestamp
from kafka.errors import InvalidPartitionsError, OffsetOutOfRangeError

import common

broker = sys.argv[1]
API = (4, 0)
chk = common.Checker("kafka-python")
topic = "compat-kafka-python"


def admin():
    return KafkaAdminClient(bootstrap_servers=broker, api_version=API, client_id="compat-kafka-python-admin",
                            request_timeout_ms=15000)


def admin_create(name, n):
    a = admin()
    try:
        a.create_topics([NewTopic(name, num_partitions=n, replication_factor=1)], timeout_ms=10000)
    finally:
        a.close()


def admin_delete(name):
    a = admin()
    try:
        a.delete_topics([name], timeout_ms=10000)
    finally:
        a.close()


def describe(name):
    a = admin()
    try:
        return a.describe_topics([name])
    finally:
        a.close()


def list_topics():
    a = admin()
    try:
        return a.list_topics()
    finally:
        a.close()


def consumer():
    return KafkaConsumer(bootstrap_servers=broker, api_version=API, group_id=None, enable_auto_commit=False,
                         client_id="compat-kafka-python-consumer", max_partition_fetch_bytes=4 << 20,
                         fetch_max_bytes=8 << 20, request_timeout_ms=30000)


def consume_all():
    c = consumer()
    try:
        tps = [TopicPartition(topic, p) for p in range(common.PARTITIONS)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        ends = c.end_offsets(tps)
        got, deadline = [], time.time() + 45
        while any(c.position(tp) < ends[tp] for tp in tps) and time.time() < deadline:
            for tp, ms in c.poll(timeout_ms=1000).items():
                for m in ms:
                    got.append({"partition": m.partition, "offset": m.offset, "key": m.key, "value": m.value,
                                "headers": list(m.headers or []), "ts": m.timestamp,
                                "ts_type": {0: "create", 1: "append"}.get(m.timestamp_type, m.timestamp_type)})
        pos = {tp.partition: c.position(tp) for tp in tps}
        if any(pos[tp.partition] < ends[tp] for tp in tps):
            raise RuntimeError("timed out: positions %r, end offsets %r" % (pos, ends))
        return got
    finally:
        c.close()


def with_admin(fn):
    a = admin()
    try:
        return fn(a)
    finally:
        a.close()


def admin_extras():
    """CreatePartitions, DescribeTopicPartitions, DescribeCluster, DescribeLogDirs, ListOffsets and
    DeleteRecords on a topic of their own, each checked by what the broker shows afterwards."""
    name = topic + "-admin"
    if chk.run("admin CreateTopics(%s, 2 partitions)" % name, admin_create, name, 2) is None:
        return
    chk.run("admin create_partitions(2 -> 4)", with_admin, lambda a: a.create_partitions({name: 4}))
    d = chk.run("admin describe_topics after create_partitions", describe, name)
    if d:
        chk.check("metadata shows 4 partitions after create_partitions",
                  sorted(p["partition_index"] for p in d[0]["partitions"]) == [0, 1, 2, 3], repr(d)[:300])
    err = None
    try:
        with_admin(lambda a: a.create_partitions({name: 3}))
    except Exception as e:  # noqa: BLE001
        err = e
    chk.check("create_partitions(4 -> 3) raises InvalidPartitionsError", isinstance(err, InvalidPartitionsError),
              "got %r" % (err,))

    cluster = chk.run("admin describe_cluster", with_admin, lambda a: a.describe_cluster())
    node_id = None
    if cluster:
        brokers = [(b["broker_id"], "%s:%d" % (b["host"], b["port"])) for b in cluster["brokers"]]
        node_id = brokers[0][0] if brokers else None
        chk.check("describe_cluster: one broker at the bootstrap address, a cluster id, it is the controller",
                  brokers == [(node_id, broker)] and cluster.get("cluster_id") and cluster.get("controller_id") == node_id,
                  repr(cluster))
    dtp = chk.run("admin describe_topic_partitions (DescribeTopicPartitions)", with_admin,
                  lambda a: a.describe_topic_partitions([name]))
    if dtp:
        t = dtp["topics"][0]
        parts = sorted((p["partition_index"], p["leader_id"], p["replica_nodes"]) for p in t["partitions"])
        chk.check("describe_topic_partitions: 4 partitions led by the broker, a topic id",
                  t["error_code"] == 0 and parts == [(i, node_id, [node_id]) for i in range(4)]
                  and str(t["topic_id"]).strip("0-") != "" and dtp["next_cursor"] is None, repr(dtp)[:400])

    base_ms = common.now_ms() - 60_000
    p = KafkaProducer(bootstrap_servers=broker, api_version=API, acks="all", enable_idempotence=False)
    futs = [p.send(name, key=b"k%d" % i, value=b"v%d" % i, partition=3, timestamp_ms=base_ms + i) for i in range(20)]
    p.flush(30)
    offs = [f.get(timeout=10).offset for f in futs]
    p.close(timeout=5)
    chk.check("produce 20 records to the new partition", offs == list(range(20)), repr(offs))

    dirs = chk.run("admin describe_log_dirs", with_admin, lambda a: a.describe_log_dirs())
    if dirs:
        sizes = {}
        for d in dirs[0]["log_dirs"]:
            for t in d["topics"]:
                if t["name"] == name:
                    sizes = {p["partition_index"]: p["partition_size"] for p in t["partitions"]}
        chk.check("describe_log_dirs: the topic's 4 partitions, only partition 3 holds bytes",
                  len(dirs) == 1 and dirs[0]["log_dirs"][0]["error_code"] == 0 and sorted(sizes) == [0, 1, 2, 3]
                  and all(sizes[i] == 0 for i in range(3)) and sizes[3] > 20 * 4, repr(sizes))

    tp = TopicPartition(name, 3)
    for label, spec, want_off, want_ts in [("earliest", OffsetSpec.EARLIEST, 0, -1), ("latest", OffsetSpec.LATEST, 20, -1),
                                           ("the 8th record's timestamp", OffsetTimestamp(base_ms + 7), 7, base_ms + 7),
                                           ("max timestamp", OffsetSpec.MAX_TIMESTAMP, 19, base_ms + 19)]:
        r = chk.run("admin list_partition_offsets(%s)" % label, with_admin, lambda a: a.list_partition_offsets({tp: spec}))
        if r:
            chk.check("list_partition_offsets(%s) = offset %d" % (label, want_off),
                      r[tp].offset == want_off and (want_ts == -1 or r[tp].timestamp == want_ts), repr(r[tp]))

    res = chk.run("admin delete_records(partition 3 before offset 8)", with_admin, lambda a: a.delete_records({tp: 8}))
    if res:
        chk.check("delete_records reports low watermark 8", res[tp]["low_watermark"] == 8, repr(res))
    c = consumer()
    try:
        c.assign([tp])
        c.seek_to_beginning(tp)
        b = c.beginning_offsets([tp])[tp]
        chk.check("beginning_offsets = 8 after delete_records", b == 8, repr(b))
        got, deadline = [], time.time() + 20
        while not got and time.time() < deadline:
            got = [m for ms in c.poll(timeout_ms=500).values() for m in ms]
        chk.check("a consumer from the beginning starts at offset 8",
                  got and (got[0].offset, got[0].key) == (8, b"k8"), repr([(m.offset, m.key) for m in got[:2]]))
    finally:
        c.close()
    err = None
    try:
        with_admin(lambda a: a.delete_records({tp: 21}))
    except Exception as e:  # noqa: BLE001
        err = e
    chk.check("delete_records past the high watermark raises OffsetOutOfRangeError",
              isinstance(err, OffsetOutOfRangeError), "got %r" % (err,))


def main():
    if chk.run("admin CreateTopics(%s, 3 partitions)" % topic, admin_create, topic, 3) is None:
        # Fall back to auto-creation through Metadata (num.partitions=3 on the broker).
        c = consumer()
        c.partitions_for_topic(topic)
        c.close()
    d = chk.run("admin describe_topics", describe, topic)
    if d:
        n = len(d[0]["partitions"]) if d and d[0].get("error_code", 0) == 0 else None
        chk.check("topic in metadata with 3 partitions", n == 3, repr(d)[:300])
    tmp = topic + "-deleted"
    chk.run("admin CreateTopics(%s)" % tmp, admin_create, tmp, 1)
    chk.run("admin DeleteTopics(%s)" % tmp, admin_delete, tmp)
    names = chk.run("admin list_topics (Metadata for all topics)", list_topics)
    if names:
        chk.check("all-topics metadata lists the created topic and not the deleted one",
                  topic in names and tmp not in names, repr(names))

    t0 = common.now_ms()
    expected, reports = [], {}
    for codec in common.CODECS:
        recs = common.plan("kafka-python", codec)
        expected += recs
        try:
            p = KafkaProducer(bootstrap_servers=broker, api_version=API, client_id="compat-kafka-python-producer",
                              compression_type=None if codec == "none" else codec, acks="all",
                              enable_idempotence=False, linger_ms=20, max_request_size=2 << 20)
            futs = [(r["key"], p.send(topic, key=r["key"], value=r["value"], partition=r["partition"],
                                      headers=r["headers"])) for r in recs]
            p.flush(30)
            errs = []
            for k, f in futs:
                try:
                    md = f.get(timeout=5)
                    reports[k] = (md.partition, md.offset)
                except Exception as e:  # noqa: BLE001
                    errs.append("%s: %s: %s" % (k, type(e).__name__, e))
            p.close(timeout=5)
            chk.check("produce %d records with %s, acks=all" % (len(recs), codec), not errs, repr(errs[:3]))
        except Exception as e:  # noqa: BLE001
            chk.fail("produce with %s" % codec, "%s: %s" % (type(e).__name__, e))
    t1 = common.now_ms()

    got = chk.run("consume with assign + seek_to_beginning", consume_all)
    if got:
        by_key = common.verify(chk, "read back", expected, got, t0, t1)
        bad = [(k, rep, (by_key[k]["partition"], by_key[k]["offset"])) for k, rep in reports.items()
               if k in by_key and (by_key[k]["partition"], by_key[k]["offset"]) != rep]
        chk.check("send() metadata offsets match the fetched offsets", not bad, repr(bad[:5]))
        c = consumer()
        try:
            tps = [TopicPartition(topic, p) for p in range(3)]
            b, e = c.beginning_offsets(tps), c.end_offsets(tps)
            counts = {p: sum(1 for m in got if m["partition"] == p) for p in range(3)}
            chk.check("ListOffsets earliest=0 and latest=record count per partition",
                      all(b[tp] == 0 and e[tp] == counts[tp.partition] for tp in tps),
                      "earliest %r latest %r counts %r" % (b, e, counts))
            f = c.offsets_for_times({tp: t0 - 5000 for tp in tps})
            chk.check("offsets_for_times(before the first record) = 0",
                      all(f[tp] is not None and f[tp].offset == 0 for tp in tps), repr(f))
            p0 = sorted((m for m in got if m["partition"] == 0), key=lambda m: m["offset"])
            target = p0[10]["ts"]
            want = min(m["offset"] for m in p0 if m["ts"] >= target)
            f = c.offsets_for_times({tps[0]: target})
            chk.check("offsets_for_times(a middle timestamp) = first offset at or after it",
                      f[tps[0]] is not None and f[tps[0]].offset == want and f[tps[0]].timestamp == target,
                      "got %r, want offset %d timestamp %d" % (f[tps[0]], want, target))
            f = c.offsets_for_times({tp: common.now_ms() + 3600_000 for tp in tps})
            chk.check("offsets_for_times(future) = None", all(f[tp] is None for tp in tps), repr(f))
        except Exception as e:  # noqa: BLE001
            chk.fail("ListOffsets", "%s: %s" % (type(e).__name__, e))
        finally:
            c.close()
        # Fetch past the end: the broker answers OFFSET_OUT_OF_RANGE, which kafka-python raises
        # when auto_offset_reset="none".
        c = KafkaConsumer(bootstrap_servers=broker, api_version=API, group_id=None, enable_auto_commit=False,
                          auto_offset_reset="none", client_id="compat-kafka-python-oor")
        try:
            tp = TopicPartition(topic, 0)
            c.assign([tp])
            c.seek(tp, 1_000_000)
            err, deadline = None, time.time() + 15
            while err is None and time.time() < deadline:
                try:
                    c.poll(timeout_ms=500)
                except Exception as e:  # noqa: BLE001
                    err = e
            chk.check("fetch beyond the end gives OFFSET_OUT_OF_RANGE", err is not None and "OutOfRange" in type(err).__name__,
                      "got %r" % (err,))
        finally:
            c.close()
    admin_extras()


chk.guard(main)
