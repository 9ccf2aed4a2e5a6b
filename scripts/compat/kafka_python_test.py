#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""kafka-python (3.x) against Sluice: KafkaAdminClient create/delete topic, produce in every codec
with acks=all, read back without a consumer group (assign + seek_to_beginning), ListOffsets; then
the admin calls CreatePartitions, DescribeTopicPartitions, DescribeCluster, DescribeLogDirs,
list_partition_offsets (earliest, latest, by timestamp, max timestamp) and DeleteRecords, each
checked by its effect; then a consumer group (group_checks): a subscribed member commits what it
processed, a second run resumes exactly after the commits, list_group_offsets/describe_groups see
them, OffsetDelete (delete_group_offsets) removes an Empty group's offset and is refused with
GROUP_SUBSCRIBED_TO_TOPIC while a member is subscribed, and two members split the partitions.
    kafka_python_test.py <bootstrap>
api_version is passed to every constructor: without it kafka-python 3.x probes and can hang.
Idempotence: kafka-python 3.x enables it by default; it is disabled here and tested once Sluice
serves InitProducerId."""
import sys
import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import NewTopic, OffsetSpec, OffsetTimestamp
from kafka.errors import GroupSubscribedToTopicError, InvalidPartitionsError, NoError, OffsetOutOfRangeError

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


def group_consumer(group, name, **kw):
    kw.setdefault("client_id", "compat-kafka-python-group")
    return KafkaConsumer(name, bootstrap_servers=broker, api_version=API, group_id=group, enable_auto_commit=False,
                         auto_offset_reset="earliest", session_timeout_ms=10000, heartbeat_interval_ms=1000,
                         request_timeout_ms=30000, **kw)


def group_consume(group, name, want, settle_s=0.0):
    """A subscribed member processes `want` records (by count), commits what it processed and
    leaves. Records fetched past `want` are not processed and not committed. With settle_s it
    keeps polling that long after `want` to catch records that should not be there. Returns
    [(partition, offset, key)]."""
    c = group_consumer(group, name, max_poll_records=7)
    got, extra = [], []
    try:
        deadline = time.time() + 40
        while len(got) < want and time.time() < deadline:
            for tp, ms in c.poll(timeout_ms=500).items():
                for m in ms:
                    if len(got) < want:
                        got.append((m.partition, m.offset, m.key))
        if settle_s:
            end = time.time() + settle_s
            while time.time() < end:
                extra += [(m.partition, m.offset, m.key) for ms in c.poll(timeout_ms=300).values() for m in ms]
        offsets = {}
        for part, off, _ in got:
            tp = TopicPartition(name, part)
            offsets[tp] = OffsetAndMetadata(max(off + 1, offsets[tp].offset if tp in offsets else 0), "", -1)
        if offsets:
            c.commit(offsets)
    finally:
        c.close(autocommit=False)
    return got, extra


def committed_offsets(group, name):
    """{partition: offset} of the group's commits on `name`, read through the admin API."""
    offs = with_admin(lambda a: a.list_group_offsets(group))[group]
    return {tp.partition: om.offset for tp, om in offs.items() if tp.topic == name and om.offset >= 0}


def group_checks():
    """Classic consumer group: a member commits what it processed, a second run in the same group
    resumes exactly after the commits, the admin API sees the commits and the Empty group, two
    members share the partitions, and OffsetDelete (KafkaAdminClient.delete_group_offsets) deletes
    an Empty group's offset but is refused with GROUP_SUBSCRIBED_TO_TOPIC while a member is
    subscribed to the topic."""
    name = "%s-group-%d" % (topic, common.now_ms())
    group = name + "-g"
    n = 60
    if chk.run("admin CreateTopics(%s, 3 partitions) for the group" % name, admin_create, name, 3) is None:
        return
    p = KafkaProducer(bootstrap_servers=broker, api_version=API, acks="all", enable_idempotence=False)
    futs = [p.send(name, key=b"gk%d" % i, value=b"gv%d" % i) for i in range(n)]
    p.flush(30)
    parts = [f.get(timeout=10).partition for f in futs]
    p.close(timeout=5)
    chk.check("produce %d keyed records for the group, spread over the 3 partitions" % n,
              sorted(set(parts)) == [0, 1, 2], repr(sorted(set(parts))))
    every = {b"gk%d" % i for i in range(n)}

    first, _ = group_consume(group, name, n // 2)
    chk.check("a group member processes %d records and commits them" % (n // 2), len(first) == n // 2,
              "got %d" % len(first))
    want = {}
    for part, off, _ in first:
        want[part] = max(want.get(part, 0), off + 1)
    got = chk.run("admin list_group_offsets", committed_offsets, group, name)
    if got is not None:
        chk.check("list_group_offsets returns exactly the commits", got == want, "got %r, want %r" % (got, want))
    d = chk.run("admin describe_groups", with_admin, lambda a: a.describe_groups([group]))
    if d:
        g = d[group]
        chk.check("describe_groups: Empty, no members, protocol type consumer after the member left",
                  g["error"] is None and g["group_state"] == "Empty" and not g["members"]
                  and g["protocol_type"] == "consumer", repr(g)[:300])

    second, extra = group_consume(group, name, n - n // 2, settle_s=3)
    first_keys = {k for _, _, k in first}
    second_keys = {k for _, _, k in second} | {k for _, _, k in extra}
    chk.check("a second run in the group resumes after the commits: exactly the other %d records" % (n - n // 2),
              len(second) == n - n // 2 and not extra and not (first_keys & second_keys)
              and first_keys | second_keys == every,
              "%d read, %d more after, %d again, %d missing" % (len(second), len(extra), len(first_keys & second_keys),
                                                                len(every - first_keys - second_keys)))
    got = chk.run("admin list_group_offsets after the second run", committed_offsets, group, name)
    if got is not None:
        ends = {}
        for part in parts:
            ends[part] = ends.get(part, 0) + 1
        chk.check("the commits are now the end of every partition", got == ends, "got %r, want %r" % (got, ends))

    # OffsetDelete (API key 47). The group is Empty: the offset of partition 0 goes.
    tp0, tp1 = TopicPartition(name, 0), TopicPartition(name, 1)
    res = chk.run("admin delete_group_offsets(partition 0) of the Empty group (OffsetDelete)", with_admin,
                  lambda a: a.delete_group_offsets(group, [tp0]))
    if res is not None:
        chk.check("delete_group_offsets answers no error for the partition", res == {tp0: NoError}, repr(res))
        got = committed_offsets(group, name)
        chk.check("OffsetFetch shows no offset for partition 0 afterwards, the others kept",
                  0 not in got and sorted(got) == [1, 2], repr(got))
    # A member subscribed to the topic: the delete is refused and the offset stays.
    member = group_consumer(group, name)
    try:
        deadline = time.time() + 30
        while not member.assignment() and time.time() < deadline:
            member.poll(timeout_ms=300)
        chk.check("a member joins the group again", bool(member.assignment()), "no assignment")
        res = chk.run("admin delete_group_offsets(partition 1) while a member is subscribed", with_admin,
                      lambda a: a.delete_group_offsets(group, [tp1]))
        if res is not None:
            chk.check("delete_group_offsets is refused with GROUP_SUBSCRIBED_TO_TOPIC",
                      res == {tp1: GroupSubscribedToTopicError}, repr(res))
            got = committed_offsets(group, name)
            chk.check("the refused delete kept partition 1's offset", 1 in got, repr(got))
    finally:
        member.close(autocommit=False)

    shared_group(name)


def shared_group(name):
    """Two members of one group split the partitions and read every record once. The records are
    produced after both members hold their final assignment, so no rebalance moves a partition
    while records are being read (with auto-commit off, that would legitimately read some twice)."""
    group = name + "-shared"
    members = [group_consumer(group, name, client_id="compat-kafka-python-member-%d" % i) for i in range(2)]
    got = [[], []]
    stop = threading.Event()
    errors = []

    def loop(i):
        try:
            while not stop.is_set():
                for ms in members[i].poll(timeout_ms=200).values():
                    got[i] += [(m.partition, m.key) for m in ms]
        except Exception as e:  # noqa: BLE001
            errors.append("%s: %s" % (type(e).__name__, e))
    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(2)]
    for t in threads:
        t.start()
    try:
        def assignments():
            return [{tp.partition for tp in m.assignment()} for m in members]
        deadline = time.time() + 40
        while time.time() < deadline:
            a = assignments()
            if all(a) and not (a[0] & a[1]) and a[0] | a[1] == {0, 1, 2}:
                break
            time.sleep(0.2)
        a = assignments()
        chk.check("two members in one group both get partitions, disjoint, covering all 3",
                  all(a) and not (a[0] & a[1]) and a[0] | a[1] == {0, 1, 2}, repr(a))
        p = KafkaProducer(bootstrap_servers=broker, api_version=API, acks="all", enable_idempotence=False)
        futs = [p.send(name, key=b"sk%d" % i, value=b"sv%d" % i) for i in range(30)]
        p.flush(30)
        for f in futs:
            f.get(timeout=10)
        p.close(timeout=5)
        want = {b"sk%d" % i for i in range(30)}
        deadline = time.time() + 30
        while time.time() < deadline and {k for g in got for _, k in g} & want != want:
            time.sleep(0.2)
        time.sleep(1)
        mine = [[(part, k) for part, k in g if k in want] for g in got]
        keys = [k for g in mine for _, k in g]
        wrong = [(i, part) for i in range(2) for part, _ in mine[i] if part not in a[i]]
        chk.check("the two members read every new record once, each from its own partitions",
                  sorted(keys) == sorted(want) and not wrong and all(mine) and not errors,
                  "%d of %d read (%d distinct), from others' partitions %r, errors %r"
                  % (len(keys), len(want), len(set(keys)), wrong[:3], errors))
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        for m in members:
            m.close(autocommit=False)


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
    group_checks()


chk.guard(main)
