#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""confluent-kafka (librdkafka) against Sluice: admin create/delete topic, produce in every codec
with acks=all, read back without a consumer group (assign + seek to beginning), ListOffsets; then
the admin calls CreatePartitions, describe_topics, describe_cluster, list_offsets (earliest,
latest, by timestamp, max timestamp), DeleteRecords, describe_configs, alter_configs and
incremental_alter_configs, each checked by its effect; a classic consumer group; and a KIP-848
group (group.protocol=consumer) scaling 1 -> 3 -> 2 members while a producer writes. With
--migration: online migration of a live group (Kafka 4's bidirectional migration policy): two
classic members, then a group.protocol=consumer member joins (the group becomes a consumer group
whose classic members the coordinator assigns), then it leaves (the group is classic again).
    confluent_kafka_test.py <bootstrap>
    confluent_kafka_test.py <bootstrap> --verify <topic> <client> <t0_ms> <t1_ms>
    confluent_kafka_test.py <bootstrap> --consumer-protocol
    confluent_kafka_test.py <bootstrap> --migration
The second form only reads <topic> and checks it holds <client>'s plan (common.plan); it verifies
what kafkajs wrote, since kafkajs cannot consume without consumer groups.
Idempotence: librdkafka's default is enable.idempotence=false, and it is set explicitly here;
the idempotent producer is tested once Sluice serves InitProducerId."""
import sys
import threading
import time

from confluent_kafka import (OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME,
                             Consumer, KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                  NewPartitions, NewTopic, OffsetSpec)
from confluent_kafka import KafkaError, TopicCollection

import common

broker = sys.argv[1]
base = {"bootstrap.servers": broker, "broker.address.family": "v4"}
chk = common.Checker("confluent-kafka")


def topic_partitions(topic):
    md = AdminClient(base).list_topics(topic=topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None, t.error if t else "absent"
    return len(t.partitions), None


def admin_create(topic, partitions):
    a = AdminClient(base)
    futs = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)], operation_timeout=10)
    futs[topic].result(15)


def admin_delete(topic):
    a = AdminClient(base)
    a.delete_topics([topic], operation_timeout=10)[topic].result(15)


def consume_all(topic):
    """Reads every partition from the beginning up to its high watermark, without a group."""
    # librdkafka insists on a group.id, but with assign() and no commits it uses no group API.
    c = Consumer({**base, "group.id": "compat-unused", "enable.auto.commit": False, "enable.auto.offset.store": False,
                  "fetch.max.bytes": 8 << 20, "max.partition.fetch.bytes": 4 << 20})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(common.PARTITIONS)}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(common.PARTITIONS)])
        got, pos = [], {p: 0 for p in ends}
        deadline = time.time() + 45
        while any(pos[p] < ends[p] for p in ends) and time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            tt, ts = m.timestamp()
            got.append({"partition": m.partition(), "offset": m.offset(), "key": m.key(), "value": m.value(),
                        "headers": m.headers() or [], "ts": ts,
                        "ts_type": {TIMESTAMP_CREATE_TIME: "create", TIMESTAMP_LOG_APPEND_TIME: "append"}.get(tt, tt)})
            pos[m.partition()] = m.offset() + 1
        if any(pos[p] < ends[p] for p in ends):
            raise RuntimeError("timed out: positions %r, high watermarks %r" % (pos, ends))
        return got, ends
    finally:
        c.close()


def admin_extras():
    """CreatePartitions, describe_topics, describe_cluster, list_offsets and DeleteRecords on a
    topic of their own, each checked by what the broker shows afterwards."""
    topic = "compat-confluent-admin"
    a = AdminClient(base)
    if chk.run("admin CreateTopics(%s, 2 partitions)" % topic, admin_create, topic, 2) is None:
        return
    grow = lambda n: a.create_partitions([NewPartitions(topic, n)], operation_timeout=10)[topic].result(15)
    chk.run("admin CreatePartitions(%s, 2 -> 4)" % topic, grow, 4)
    n, err = topic_partitions(topic)
    chk.check("metadata shows 4 partitions after CreatePartitions", n == 4, "partitions %r, error %r" % (n, err))
    shrink_err = None
    try:
        grow(3)
    except KafkaException as e:
        shrink_err = e.args[0]
    chk.check("CreatePartitions(4 -> 3) fails with INVALID_PARTITIONS",
              shrink_err is not None and shrink_err.code() == KafkaError.INVALID_PARTITIONS, "got %r" % (shrink_err,))

    cluster = chk.run("admin describe_cluster", lambda: a.describe_cluster(request_timeout=10).result(15))
    md = AdminClient(base).list_topics(timeout=10)
    node_id = None
    if cluster is not None:
        nodes = [(nd.id, "%s:%d" % (nd.host, nd.port)) for nd in cluster.nodes]
        node_id = nodes[0][0] if nodes else None
        chk.check("describe_cluster: one node at the bootstrap address, the same cluster id as Metadata",
                  nodes == [(md.controller_id, broker)] and cluster.cluster_id == md.cluster_id
                  and cluster.cluster_id and cluster.controller is not None and cluster.controller.id == node_id,
                  "nodes %r, cluster id %r vs %r, controller %r" % (nodes, cluster.cluster_id, md.cluster_id,
                                                                   cluster.controller))
    desc = chk.run("admin describe_topics",
                   lambda: a.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(15))
    if desc is not None:
        parts = sorted((p.id, p.leader.id if p.leader else None, [r.id for r in p.replicas]) for p in desc.partitions)
        chk.check("describe_topics: 4 partitions led by the one node, a topic id, not internal",
                  parts == [(i, node_id, [node_id]) for i in range(4)] and desc.topic_id is not None
                  and str(desc.topic_id) != "AAAAAAAAAAAAAAAAAAAAAA" and not desc.is_internal,
                  "partitions %r, topic id %r, internal %r" % (parts, desc.topic_id, desc.is_internal))

    # Twenty records in the new partition 3 with timestamps base + i, so every offset is known.
    base_ms = common.now_ms() - 60_000
    p = Producer({**base, "acks": "all", "linger.ms": 5})
    for i in range(20):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=3, timestamp=base_ms + i)
    left = p.flush(30)
    chk.check("produce 20 records to the new partition", left == 0, "%d undelivered" % left)
    tp = TopicPartition(topic, 3)

    def list_offsets(spec):
        return a.list_offsets({tp: spec}, request_timeout=10)[tp].result(15)
    specs = [("earliest", OffsetSpec.earliest(), 0, -1), ("latest", OffsetSpec.latest(), 20, -1),
             ("the 8th record's timestamp", OffsetSpec.for_timestamp(base_ms + 7), 7, base_ms + 7),
             ("max timestamp", OffsetSpec.max_timestamp(), 19, base_ms + 19)]
    for name, spec, offset, ts in specs:
        r = chk.run("admin list_offsets(%s)" % name, list_offsets, spec)
        if r is not None:
            chk.check("list_offsets(%s) = offset %d" % (name, offset),
                      r.offset == offset and (ts == -1 or r.timestamp == ts), "got %r/%r" % (r.offset, r.timestamp))

    # DeleteRecords: the low watermark moves to 8 and a consumer from the beginning starts there.
    deleted = chk.run("admin delete_records(partition 3 before offset 8)",
                      lambda: a.delete_records([TopicPartition(topic, 3, 8)], request_timeout=10)[tp].result(15))
    if deleted is not None:
        chk.check("delete_records reports low watermark 8", deleted.low_watermark == 8, repr(deleted.low_watermark))
    c = Consumer({**base, "group.id": "compat-unused", "enable.auto.commit": False})
    try:
        wm = c.get_watermark_offsets(tp, timeout=10)
        chk.check("watermarks after delete_records = (8, 20)", wm == (8, 20), repr(wm))
        c.assign([TopicPartition(topic, 3, OFFSET_BEGINNING)])
        m, deadline = None, time.time() + 20
        while m is None and time.time() < deadline:
            m = c.poll(1.0)
        chk.check("a consumer from the beginning starts at offset 8",
                  m is not None and not m.error() and (m.offset(), m.key()) == (8, b"k8"),
                  "got %r" % ((m.offset(), m.key(), m.error()) if m is not None else None,))
    finally:
        c.close()
    r = chk.run("admin list_offsets(earliest) after delete_records", list_offsets, OffsetSpec.earliest())
    if r is not None:
        chk.check("list_offsets(earliest) = 8 after delete_records", r.offset == 8, repr(r.offset))
    beyond_err = None
    try:
        a.delete_records([TopicPartition(topic, 3, 21)], request_timeout=10)[tp].result(15)
    except KafkaException as e:
        beyond_err = e.args[0]
    chk.check("delete_records past the high watermark fails with OFFSET_OUT_OF_RANGE",
              beyond_err is not None and beyond_err.code() == KafkaError.OFFSET_OUT_OF_RANGE, "got %r" % (beyond_err,))


def config_checks():
    """DescribeConfigs, AlterConfigs and IncrementalAlterConfigs, with their error codes."""
    topic = "compat-confluent-configs"
    a = AdminClient(base)
    create = lambda: a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                               config={"retention.ms": "3600000"})],
                                     operation_timeout=10)[topic].result(15)
    if chk.run("admin CreateTopics(%s) with retention.ms" % topic, create) is None:
        return
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)

    def describe():
        return a.describe_configs([res], request_timeout=10)[res].result(15)

    def entry(cfg, name):
        e = cfg.get(name)
        return None if e is None else (e.value, e.source)
    cfg = chk.run("admin describe_configs(topic)", describe)
    if cfg is not None:
        chk.check("describe_configs: the override is a dynamic topic config, the rest defaults",
                  entry(cfg, "retention.ms") == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
                  and entry(cfg, "cleanup.policy") == ("delete", ConfigSource.DEFAULT_CONFIG.value),
                  "retention.ms %r, cleanup.policy %r" % (entry(cfg, "retention.ms"), entry(cfg, "cleanup.policy")))

    def incremental(entries):
        r = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries)
        return a.incremental_alter_configs([r], request_timeout=10)[r].result(15)
    chk.run("admin incremental_alter_configs(SET cleanup.policy=compact)", incremental,
            [ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)])
    cfg = describe()
    chk.check("incremental SET adds an override and keeps the others",
              entry(cfg, "cleanup.policy") == ("compact", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
              and entry(cfg, "retention.ms") == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value),
              "cleanup.policy %r, retention.ms %r" % (entry(cfg, "cleanup.policy"), entry(cfg, "retention.ms")))
    chk.run("admin incremental_alter_configs(DELETE retention.ms)", incremental,
            [ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    cfg = describe()
    chk.check("incremental DELETE reverts to the default (7 days)",
              entry(cfg, "retention.ms") == ("604800000", ConfigSource.DEFAULT_CONFIG.value), repr(entry(cfg, "retention.ms")))

    # AlterConfigs replaces the whole set: cleanup.policy reverts to its default.
    alter = lambda conf: a.alter_configs([ConfigResource(ConfigResource.Type.TOPIC, topic, set_config=conf)],
                                         request_timeout=10)
    chk.run("admin alter_configs(retention.ms=7200000)", lambda: list(alter({"retention.ms": "7200000"}).values())[0].result(15))
    cfg = describe()
    chk.check("alter_configs replaces the set: the new value, the other override back to default",
              entry(cfg, "retention.ms") == ("7200000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
              and entry(cfg, "cleanup.policy") == ("delete", ConfigSource.DEFAULT_CONFIG.value),
              "retention.ms %r, cleanup.policy %r" % (entry(cfg, "retention.ms"), entry(cfg, "cleanup.policy")))

    def error_of(fut):
        try:
            fut.result(15)
        except KafkaException as e:
            return e.args[0].code()
        return None
    code = error_of(list(alter({"retention.ms": "soon"}).values())[0])
    chk.check("alter_configs with an invalid value fails with INVALID_CONFIG and changes nothing",
              code == KafkaError.INVALID_CONFIG and entry(describe(), "retention.ms")[0] == "7200000", "got %r" % (code,))
    missing = ConfigResource(ConfigResource.Type.TOPIC, "compat-no-such-topic")
    code = error_of(a.describe_configs([missing], request_timeout=10)[missing])
    chk.check("describe_configs of a missing topic fails with UNKNOWN_TOPIC_OR_PARTITION",
              code == KafkaError.UNKNOWN_TOPIC_OR_PART, "got %r" % (code,))


def group_consume(topic, group, want):
    """A group member reads `want` records, committing after each; returns their (partition, offset)."""
    c = Consumer({**base, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "session.timeout.ms": 6000})
    got = []
    try:
        c.subscribe([topic])
        deadline = time.time() + 40
        while len(got) < want and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got.append((m.partition(), m.offset()))
            c.commit(message=m, asynchronous=False)
    finally:
        c.close()
    return got


def group_checks():
    """Classic consumer groups: commits survive the member, a second member resumes after them, and
    the admin calls (ListGroups, DescribeGroups, OffsetFetch, DeleteGroups) see the group."""
    from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions
    topic = "compat-ck-group-%d" % common.now_ms()
    group = topic + "-g"
    admin_create(topic, 3)
    p = Producer(base)
    for i in range(60):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % 3)
    chk.check("produce 60 records for the group", p.flush(15) == 0)
    first = group_consume(topic, group, 30)
    chk.check("a group member reads and commits 30 records", len(first) == 30, repr(len(first)))
    a = AdminClient(base)
    try:
        listed = a.list_consumer_groups(request_timeout=10).result(15)
        mine = [g for g in listed.valid if g.group_id == group]
        chk.check("list_consumer_groups shows the group, Empty after its member left",
                  len(mine) == 1 and mine[0].state == ConsumerGroupState.EMPTY,
                  repr([(g.group_id, g.state) for g in mine]))
        desc = a.describe_consumer_groups([group], request_timeout=10)[group].result(15)
        chk.check("describe_consumer_groups: Empty, no members", desc.state == ConsumerGroupState.EMPTY and
                  not desc.members, "%r %r" % (desc.state, desc.members))
        offs = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(15)
        committed = {tp.partition: tp.offset for tp in offs.topic_partitions if tp.topic == topic}
        want = {}
        for part, off in first:
            want[part] = max(want.get(part, 0), off + 1)
        chk.check("list_consumer_group_offsets returns the commits", committed == want,
                  "got %r, want %r" % (committed, want))
    except Exception as e:  # noqa: BLE001
        chk.fail("group admin calls", "%s: %s" % (type(e).__name__, e))
    second = group_consume(topic, group, 30)
    chk.check("a second member resumes after the commits: the other 30 records, none again",
              len(second) == 30 and not set(first) & set(second), "%d read, %d again" %
              (len(second), len(set(first) & set(second))))
    try:
        a.delete_consumer_groups([group], request_timeout=10)[group].result(15)
        listed = a.list_consumer_groups(request_timeout=10).result(15)
        chk.check("delete_consumer_groups removes the group",
                  all(g.group_id != group for g in listed.valid))
    except Exception as e:  # noqa: BLE001
        chk.fail("delete_consumer_groups", "%s: %s" % (type(e).__name__, e))


def produce_continuously(topic, partitions, stop, produced):
    """Writes keyed records round-robin over the partitions, one every 10 ms, until `stop` is
    set, appending each key to `produced`."""
    p = Producer({**base, "linger.ms": 5})
    i = 0
    while not stop.is_set():
        p.produce(topic, key=b"%d" % i, value=b"v%d" % i, partition=i % partitions)
        produced.append(b"%d" % i)
        i += 1
        p.poll(0)
        time.sleep(0.01)
    p.flush(15)


def wait_for(cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


class GroupMember:
    """A subscribed member of `group` on its own thread, with `group.protocol` = `protocol`: it
    commits every 20 records and, on revocation, what it read of the partitions going away (so
    their new owner resumes there). It keeps what it got as (receive time, key), its current
    partitions and each revocation as (time, partitions). Commit errors count as failures except
    the codes in `tolerated` (a commit a classic rebalance overtakes is refused, as on Kafka)."""

    def __init__(self, name, group, topic, protocol, tolerated=()):
        self.name, self.group, self.topic, self.protocol, self.tolerated = name, group, topic, protocol, tolerated
        self.got = []
        self.assigned = set()
        self.errors = []
        self.commits = 0
        self.commit_errors = []
        self.revoked = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        def on_assign(c, tps):
            # A classic (eager) assignment is the whole new set; a KIP-848 one adds partitions.
            parts = {tp.partition for tp in tps}
            self.assigned = parts if self.protocol == "classic" else self.assigned | parts

        def on_revoke(c, tps):
            try:
                c.commit(asynchronous=False)
                self.commits += 1
            except KafkaException as e:
                if e.args[0].code() != KafkaError._NO_OFFSET:
                    self.commit_errors.append(str(e))
            self.assigned -= {tp.partition for tp in tps}
            self.revoked.append((time.time(), {tp.partition for tp in tps}))

        conf = {**base, "group.id": self.group, "group.protocol": self.protocol, "auto.offset.reset": "earliest",
                "enable.auto.commit": False, "client.id": self.name}
        if self.protocol == "classic":
            conf.update({"session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
        c = Consumer(conf)
        try:
            c.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke)
            since_commit = 0
            while not self.stop.is_set():
                m = c.poll(0.1)
                if m is None:
                    continue
                if m.error():
                    self.errors.append(str(m.error()))
                    continue
                self.got.append((time.time(), m.key()))
                since_commit += 1
                if since_commit >= 20:
                    try:
                        c.commit(asynchronous=False)
                        self.commits += 1
                    except KafkaException as e:
                        if e.args[0].code() not in self.tolerated:
                            self.commit_errors.append(str(e))
                    since_commit = 0
        finally:
            c.close()


def consumer_protocol_checks():
    """KIP-848 (group.protocol=consumer): a group scales 1 -> 3 -> 2 members while a producer keeps
    writing; every record is consumed, commits work, the uniform assignor balances the partitions,
    and members that keep partitions keep receiving records while others join (no stop-the-world)."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    topic = "compat-ck-848-%d" % common.now_ms()
    group = topic + "-g"
    partitions = 6
    admin_create(topic, partitions)
    stop_producing = threading.Event()
    produced = []

    producer = threading.Thread(target=produce_continuously, args=(topic, partitions, stop_producing, produced),
                                daemon=True)
    producer.start()
    a, b, c3 = (GroupMember(name, group, topic, "consumer") for name in ("m-a", "m-b", "m-c"))
    a.thread.start()
    chk.check("848: the first member gets every partition",
              wait_for(lambda: len(a.assigned) == partitions and len(a.got) > 20, 30), repr(sorted(a.assigned)))
    join_start = time.time()
    before = set(a.assigned)
    b.thread.start()
    chk.check("848: a second member gets partitions", wait_for(lambda: len(b.assigned) > 0 and b.got, 30),
              repr(sorted(b.assigned)))
    c3.thread.start()
    balanced = wait_for(lambda: all(len(m.assigned) == 2 for m in (a, b, c3)) and c3.got, 30)
    join_end = time.time()
    chk.check("848: three members, two partitions each (uniform assignor)", balanced,
              repr([sorted(m.assigned) for m in (a, b, c3)]))
    # The first member kept partitions throughout and must have kept receiving records: no gap
    # longer than a second while the others joined (the classic protocol's eager rebalance stops
    # every member for a whole round).
    times = [t for t, _ in a.got if join_start <= t <= join_end]
    gaps = [y - x for x, y in zip([join_start] + times, times + [join_end])]
    chk.check("848: the first member never stops consuming while two others join",
              times and max(gaps) < 1.0, "longest gap %.2f s over %.1f s" %
              (max(gaps) if gaps else -1, join_end - join_start))
    # Incremental: the partitions the first member keeps were never taken from it (an eager
    # rebalance revokes everything from everyone, then hands it back).
    kept = before & a.assigned
    taken = set().union(*[ps for t, ps in a.revoked if join_start <= t <= join_end]) if a.revoked else set()
    chk.check("848: the first member only gives up partitions; those it keeps are never revoked",
              kept and not kept & taken, "kept %r, revoked meanwhile %r" % (sorted(kept), sorted(taken)))
    admin = AdminClient(base)
    try:
        desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result(15)
        owned = sorted(tp.partition for mem in desc.members for tp in mem.assignment.topic_partitions)
        chk.check("848: describe_consumer_groups shows 3 members owning the 6 partitions once",
                  len(desc.members) == 3 and owned == list(range(partitions)),
                  "%d members, partitions %r, state %r" % (len(desc.members), owned, desc.state))
        chk.check("848: the group is a consumer (KIP-848) group",
                  str(getattr(desc, "type", "CONSUMER")).upper().endswith("CONSUMER"), repr(getattr(desc, "type", None)))
    except Exception as e:  # noqa: BLE001
        chk.fail("848: describe_consumer_groups", "%s: %s" % (type(e).__name__, e))
    # Scale down: the third member leaves; the other two take its partitions.
    c3.stop.set()
    c3.thread.join(30)
    chk.check("848: after a member leaves, the two others own all partitions",
              wait_for(lambda: len(a.assigned) + len(b.assigned) == partitions and
                       not a.assigned & b.assigned, 30), repr([sorted(a.assigned), sorted(b.assigned)]))
    time.sleep(2)
    stop_producing.set()
    producer.join(30)
    want = set(produced)
    members = (a, b, c3)
    consumed = lambda: {k for m in members for _, k in m.got}
    chk.check("848: every produced record is consumed", wait_for(lambda: consumed() >= want, 30),
              "%d of %d missing" % (len(want - consumed()), len(want)))
    for m in (a, b):
        m.stop.set()
    for m in (a, b):
        m.thread.join(30)
    errs = [e for m in members for e in m.errors + m.commit_errors]
    chk.check("848: commits succeed, no consumer errors", sum(m.commits for m in members) > 0 and not errs,
              "%d commits, errors %r" % (sum(m.commits for m in members), errs[:5]))
    try:
        offs = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(15)
        committed = sum(tp.offset for tp in offs.topic_partitions if tp.topic == topic and tp.offset > 0)
        chk.check("848: committed offsets cover what was read", committed == len(want),
                  "committed %d, produced %d" % (committed, len(want)))
    except Exception as e:  # noqa: BLE001
        chk.fail("848: list_consumer_group_offsets", "%s: %s" % (type(e).__name__, e))


def migration_checks():
    """Online migration: two classic members (group.protocol=classic, librdkafka's eager range
    assignor) consume a 6-partition topic while a producer writes; a group.protocol=consumer member
    joins, which converts the live group to a consumer group (the classic members stay, assigned by
    the coordinator through JoinGroup/SyncGroup, told to rejoin by Heartbeat); every partition ends
    with one owner, commits work; the consumer member leaves and the group is classic again, the
    classic members taking all partitions back. Every record is consumed."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    topic = "compat-ck-migrate-%d" % common.now_ms()
    group = topic + "-g"
    partitions = 6
    admin_create(topic, partitions)
    stop_producing = threading.Event()
    produced = []

    def exclusive(members):
        owned = [p for m in members for p in m.assigned]
        return sorted(owned) == list(range(partitions))

    def group_type():
        listed = admin.list_consumer_groups(request_timeout=10).result(15)
        mine = [g for g in listed.valid if g.group_id == group]
        return str(getattr(mine[0], "type", "?")).upper() if mine else "missing"

    admin = AdminClient(base)
    producer = threading.Thread(target=produce_continuously, args=(topic, partitions, stop_producing, produced),
                                daemon=True)
    producer.start()
    # A commit racing a classic rebalance is refused as on Kafka; the client rejoins.
    tolerated = (KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION)
    a, b, c3 = (GroupMember("mig-a", group, topic, "classic", tolerated),
                GroupMember("mig-b", group, topic, "classic", tolerated),
                GroupMember("mig-c", group, topic, "consumer", tolerated))
    a.thread.start()
    b.thread.start()
    chk.check("migrate: two classic members split the partitions",
              wait_for(lambda: exclusive((a, b)) and a.assigned and b.assigned and a.got and b.got, 40),
              repr([sorted(a.assigned), sorted(b.assigned)]))
    chk.check("migrate: the group is classic", group_type().endswith("CLASSIC"), group_type())
    c3.thread.start()
    settled = wait_for(lambda: exclusive((a, b, c3)) and all(len(m.assigned) == 2 for m in (a, b, c3)) and c3.got, 60)
    chk.check("migrate: a consumer-protocol member joins the live classic group; two partitions each, "
              "each owned once", settled, repr([sorted(m.assigned) for m in (a, b, c3)]))
    chk.check("migrate: the group is now a consumer group", group_type().endswith("CONSUMER"), group_type())
    try:
        desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result(15)
        owned = sorted(tp.partition for mem in desc.members for tp in mem.assignment.topic_partitions)
        chk.check("migrate: describe_consumer_groups shows 3 members owning the 6 partitions once",
                  len(desc.members) == 3 and owned == list(range(partitions)),
                  "%d members, partitions %r" % (len(desc.members), owned))
    except Exception as e:  # noqa: BLE001
        chk.fail("migrate: describe_consumer_groups", "%s: %s" % (type(e).__name__, e))
    # Downgrade: the consumer-protocol member leaves; the classic members are a classic group again.
    c3.stop.set()
    c3.thread.join(30)
    chk.check("migrate: after the consumer member leaves, the classic members own all partitions",
              wait_for(lambda: exclusive((a, b)) and a.assigned and b.assigned, 60),
              repr([sorted(a.assigned), sorted(b.assigned)]))
    chk.check("migrate: the group is classic again", wait_for(lambda: group_type().endswith("CLASSIC"), 10),
              group_type())
    try:
        desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result(15)
        chk.check("migrate: describe_consumer_groups: a classic group of 2 members",
                  str(getattr(desc, "type", "CLASSIC")).upper().endswith("CLASSIC") and len(desc.members) == 2,
                  "%r, %d members" % (getattr(desc, "type", None), len(desc.members)))
    except Exception as e:  # noqa: BLE001
        chk.fail("migrate: describe_consumer_groups after the downgrade", "%s: %s" % (type(e).__name__, e))
    time.sleep(1)
    stop_producing.set()
    producer.join(30)
    want = set(produced)
    members = (a, b, c3)
    consumed = lambda: {k for m in members for _, k in m.got}
    chk.check("migrate: every produced record is consumed", wait_for(lambda: consumed() >= want, 30),
              "%d of %d missing" % (len(want - consumed()), len(want)))
    for m in (a, b):
        m.stop.set()
    for m in (a, b):
        m.thread.join(30)
    errs = [e for m in members for e in m.errors + m.commit_errors]
    chk.check("migrate: commits succeed in all three phases, no consumer errors",
              all(m.commits > 0 for m in members) and not errs,
              "commits %r, errors %r" % ([m.commits for m in members], errs[:5]))
    try:
        offs = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(15)
        committed = sum(tp.offset for tp in offs.topic_partitions if tp.topic == topic and tp.offset > 0)
        chk.check("migrate: committed offsets cover what was produced", committed == len(want),
                  "committed %d, produced %d" % (committed, len(want)))
    except Exception as e:  # noqa: BLE001
        chk.fail("migrate: list_consumer_group_offsets", "%s: %s" % (type(e).__name__, e))


def verify_only(topic, client, t0, t1):
    expected = common.full_plan(client)
    if client == "kafkajs":
        # kafkajs_test.js also sends its first 30 zstd records again in one request, keys *-zstd-batch-*.
        expected += [{**r, "key": r["key"].replace(b"-zstd-", b"-zstd-batch-")}
                     for r in common.plan(client, "zstd")[:common.PER_CODEC]]
    res = chk.run("read %s's records with confluent-kafka" % client, consume_all, topic)
    if res is not None:
        common.verify(chk, "%s records read by confluent-kafka" % client, expected, res[0], t0, t1)


def main():
    if len(sys.argv) > 2 and sys.argv[2] == "--verify":
        return verify_only(sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    if len(sys.argv) > 2 and sys.argv[2] == "--consumer-protocol":
        return consumer_protocol_checks()
    if len(sys.argv) > 2 and sys.argv[2] == "--migration":
        migration_checks()
        return chk.exit()
    topic = "compat-confluent"
    # 1. Admin: create with 3 partitions, see it in metadata; create + delete another.
    chk.run("admin CreateTopics(%s, 3 partitions)" % topic, admin_create, topic, 3)
    n, err = topic_partitions(topic)
    chk.check("topic in metadata with 3 partitions", n == 3, "partitions %r, error %r" % (n, err))
    tmp = "compat-confluent-deleted"
    chk.run("admin CreateTopics(%s)" % tmp, admin_create, tmp, 1)
    chk.run("admin DeleteTopics(%s)" % tmp, admin_delete, tmp)
    # Metadata for all topics (a null topic list).
    md = chk.run("Metadata for all topics", lambda: AdminClient(base).list_topics(timeout=10))
    if md is not None:
        chk.check("all-topics metadata lists the created topic and not the deleted one",
                  topic in md.topics and tmp not in md.topics, "topics %r" % sorted(md.topics))
    dup_err = None
    try:
        admin_create(topic, 3)
    except Exception as e:  # noqa: BLE001
        dup_err = e
    chk.check("creating an existing topic fails with TOPIC_ALREADY_EXISTS",
              dup_err is not None and "TOPIC_ALREADY_EXISTS" in str(dup_err), "got %r" % (dup_err,))

    # 2. Produce in every codec, acks=all; delivery reports give partition and offset.
    t0 = common.now_ms()
    expected, reports = [], {}
    for codec in common.CODECS:
        errors = []

        def dr(err, msg, codec=codec):
            if err is not None:
                errors.append(str(err))
            else:
                reports[msg.key()] = (msg.partition(), msg.offset())
        p = Producer({**base, "compression.type": codec, "acks": "all", "enable.idempotence": False,
                      "linger.ms": 20, "message.max.bytes": 2 << 20})
        recs = common.plan("confluent-kafka", codec)
        try:
            for r in recs:
                kw = {} if r["partition"] is None else {"partition": r["partition"]}
                p.produce(topic, key=r["key"], value=r["value"], headers=r["headers"], on_delivery=dr, **kw)
            left = p.flush(30)
            chk.check("produce %d records with %s, acks=all" % (len(recs), codec), not errors and left == 0,
                      "delivery errors %r, %d undelivered" % (errors[:3], left))
        except Exception as e:  # noqa: BLE001
            chk.fail("produce with %s" % codec, "%s: %s" % (type(e).__name__, e))
        expected += recs
    t1 = common.now_ms()

    # 3. Read back without a group.
    res = chk.run("consume with assign + seek to beginning", consume_all, topic)
    if res is not None:
        got, ends = res
        by_key = common.verify(chk, "read back", expected, got, t0, t1)
        bad = [(k, rep, (by_key[k]["partition"], by_key[k]["offset"])) for k, rep in reports.items()
               if k in by_key and (by_key[k]["partition"], by_key[k]["offset"]) != rep]
        chk.check("delivery-report offsets match the fetched offsets", not bad, repr(bad[:5]))
        # 4. ListOffsets: earliest 0, latest = records in the partition, by timestamp.
        c = Consumer({**base, "group.id": "compat-unused"})
        try:
            wm = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in range(3)}
            counts = {p: sum(1 for m in got if m["partition"] == p) for p in range(3)}
            chk.check("ListOffsets earliest=0 and latest=record count per partition",
                      all(wm[p] == (0, counts[p]) for p in range(3)), "watermarks %r, counts %r" % (wm, counts))
            fts = c.offsets_for_times([TopicPartition(topic, p, t0 - 5000) for p in range(3)], timeout=10)
            chk.check("offsets_for_times(before the first record) = 0", all(tp.offset == 0 for tp in fts),
                      repr([(tp.partition, tp.offset, tp.error) for tp in fts]))
            # The first record with timestamp >= the 11th record's timestamp in partition 0.
            p0 = sorted((m for m in got if m["partition"] == 0), key=lambda m: m["offset"])
            target = p0[10]["ts"]
            want = min(m["offset"] for m in p0 if m["ts"] >= target)
            fts = c.offsets_for_times([TopicPartition(topic, 0, target)], timeout=10)
            chk.check("offsets_for_times(a middle timestamp) = first offset at or after it", fts[0].offset == want,
                      "got %r, want %d" % (fts[0].offset, want))
            fts = c.offsets_for_times([TopicPartition(topic, p, common.now_ms() + 3600_000) for p in range(3)], timeout=10)
            chk.check("offsets_for_times(future) = end (-1)", all(tp.offset in (-1,) for tp in fts),
                      repr([(tp.partition, tp.offset, tp.error) for tp in fts]))
        except Exception as e:  # noqa: BLE001
            chk.fail("ListOffsets", "%s: %s" % (type(e).__name__, e))
        finally:
            c.close()
    admin_extras()
    config_checks()
    group_checks()
    consumer_protocol_checks()
    chk.exit()


chk.guard(main)
