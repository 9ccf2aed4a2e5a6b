#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""aiokafka against Sluice: AIOKafkaAdminClient create/delete topic, produce in every codec with
acks=all, read back without a consumer group (assign + seek_to_beginning), ListOffsets, a long
poll; then a consumer group (group_checks): a subscribed member commits what it processed, a second
run resumes exactly after the commits, the admin API (list_consumer_group_offsets,
describe_consumer_groups, list_consumer_groups) sees them, and two members split the partitions.
aiokafka's admin has no OffsetDelete; kafka_python_test.py covers it.
    aiokafka_test.py <bootstrap>
Idempotence: disabled explicitly (enable_idempotence=False); tested once Sluice serves
InitProducerId."""
import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

import common

broker = sys.argv[1]
chk = common.Checker("aiokafka")
topic = "compat-aiokafka"


async def arun(name, coro):
    try:
        res = await asyncio.wait_for(coro, 30)
        chk.ok(name)
        return True if res is None else res
    except Exception as e:  # noqa: BLE001
        chk.fail(name, "%s: %s" % (type(e).__name__, e))
        return None


async def with_admin(fn):
    a = AIOKafkaAdminClient(bootstrap_servers=broker, client_id="compat-aiokafka-admin", request_timeout_ms=15000)
    await a.start()
    try:
        return await fn(a)
    finally:
        await a.close()


def create_resp_errors(resp):
    # CreateTopicsResponse: topics are (name, [topic_id,] error_code, ...).
    errs = []
    for t in resp.topic_errors if hasattr(resp, "topic_errors") else resp.topics:
        if t[1] not in (0,) and not isinstance(t[1], (bytes, str)):
            errs.append(t)
        elif len(t) > 2 and isinstance(t[1], (bytes, str)) and t[2] != 0:
            errs.append(t)
    if errs:
        raise RuntimeError("error codes in response: %r" % errs)


async def admin_create(name, n):
    resp = await with_admin(lambda a: a.create_topics([NewTopic(name, num_partitions=n, replication_factor=1)]))
    create_resp_errors(resp)


def consumer():
    return AIOKafkaConsumer(bootstrap_servers=broker, group_id=None, enable_auto_commit=False,
                            client_id="compat-aiokafka-consumer", max_partition_fetch_bytes=4 << 20,
                            fetch_max_bytes=8 << 20)


async def consume_all():
    c = consumer()
    await c.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(common.PARTITIONS)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        ends = await c.end_offsets(tps)
        got, deadline = [], time.time() + 45
        while time.time() < deadline:
            pos = {tp: await c.position(tp) for tp in tps}
            if all(pos[tp] >= ends[tp] for tp in tps):
                return got
            for tp, ms in (await c.getmany(timeout_ms=1000)).items():
                for m in ms:
                    got.append({"partition": m.partition, "offset": m.offset, "key": m.key, "value": m.value,
                                "headers": list(m.headers or []), "ts": m.timestamp,
                                "ts_type": {0: "create", 1: "append"}.get(m.timestamp_type, m.timestamp_type)})
        raise RuntimeError("timed out: positions %r, end offsets %r" % (pos, ends))
    finally:
        await c.stop()


async def long_poll():
    """A consumer waits at the end of partition 2 (fetch_max_wait_ms 10 s); a record produced
    0.5 s later must arrive well before the wait is over."""
    c = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None, enable_auto_commit=False,
                         client_id="compat-aiokafka-longpoll", fetch_max_wait_ms=10000)
    await c.start()
    p = AIOKafkaProducer(bootstrap_servers=broker, acks="all", enable_idempotence=False)
    await p.start()
    try:
        tp = TopicPartition(topic, 2)
        c.assign([tp])
        await c.seek_to_end(tp)
        await c.position(tp)
        waiter = asyncio.ensure_future(c.getone())
        await asyncio.sleep(1.0)  # the Fetch is parked on the broker by now
        t = time.time()
        await (await p.send(topic, key=b"long-poll", value=b"wake up", partition=2))
        m = await asyncio.wait_for(waiter, 8)
        took = time.time() - t
        if m.key != b"long-poll" or took > 3:
            raise RuntimeError("got %r after %.1f s" % (m.key, took))
    finally:
        await p.stop()
        await c.stop()


def group_consumer(group, name, **kw):
    kw.setdefault("client_id", "compat-aiokafka-group")
    return AIOKafkaConsumer(name, bootstrap_servers=broker, group_id=group, enable_auto_commit=False,
                            auto_offset_reset="earliest", session_timeout_ms=10000, heartbeat_interval_ms=1000, **kw)


async def group_consume(group, name, want, settle_s=0.0):
    """A subscribed member processes `want` records (by count), commits what it processed and
    leaves; records fetched past `want` are neither processed nor committed. With settle_s it
    keeps reading that long after `want` to catch records that should not be there. Returns
    ([(partition, offset, key)], extra)."""
    c = group_consumer(group, name)
    await c.start()
    got, extra = [], []
    try:
        deadline = time.time() + 40
        while len(got) < want and time.time() < deadline:
            for ms in (await c.getmany(timeout_ms=500, max_records=7)).values():
                for m in ms:
                    if len(got) < want:
                        got.append((m.partition, m.offset, m.key))
        end = time.time() + settle_s
        while time.time() < end:
            extra += [(m.partition, m.offset, m.key)
                      for ms in (await c.getmany(timeout_ms=300)).values() for m in ms]
        offsets = {}
        for part, off, _ in got:
            tp = TopicPartition(name, part)
            offsets[tp] = max(off + 1, offsets.get(tp, 0))
        if offsets:
            await c.commit(offsets)
    finally:
        await c.stop()
    return got, extra


async def committed_offsets(group, name):
    """{partition: offset} of the group's commits on `name`, through the admin API (OffsetFetch)."""
    offs = await with_admin(lambda a: a.list_consumer_group_offsets(group))
    return {tp.partition: om.offset for tp, om in offs.items() if tp.topic == name and om.offset >= 0}


async def describe_group(group):
    """(error_code, state, protocol_type, member count) from DescribeGroups via the admin API."""
    resps = await with_admin(lambda a: a.describe_consumer_groups([group]))
    g = [g for r in resps for g in r.to_object()["groups"] if g["group"] == group][0]
    return g["error_code"], g["state"], g["protocol_type"], len(g["members"])


async def group_checks():
    """Classic consumer group: a member commits what it processed, a second run in the group
    resumes exactly after the commits, the admin API sees the commits and the Empty group (and
    lists it), and two members split the partitions."""
    name = "%s-group-%d" % (topic, common.now_ms())
    group = name + "-g"
    n = 60
    if await arun("admin CreateTopics(%s, 3 partitions) for the group" % name, admin_create(name, 3)) is None:
        return
    p = AIOKafkaProducer(bootstrap_servers=broker, acks="all", enable_idempotence=False)
    await p.start()
    try:
        futs = [await p.send(name, key=b"gk%d" % i, value=b"gv%d" % i) for i in range(n)]
        parts = [(await asyncio.wait_for(f, 30)).partition for f in futs]
    finally:
        await p.stop()
    chk.check("produce %d keyed records for the group, spread over the 3 partitions" % n,
              sorted(set(parts)) == [0, 1, 2], repr(sorted(set(parts))))
    every = {b"gk%d" % i for i in range(n)}

    first, _ = await group_consume(group, name, n // 2)
    chk.check("a group member processes %d records and commits them" % (n // 2), len(first) == n // 2,
              "got %d" % len(first))
    want = {}
    for part, off, _ in first:
        want[part] = max(want.get(part, 0), off + 1)
    got = await arun("admin list_consumer_group_offsets", committed_offsets(group, name))
    if got is not None:
        chk.check("list_consumer_group_offsets returns exactly the commits", got == want,
                  "got %r, want %r" % (got, want))
    d = await arun("admin describe_consumer_groups", describe_group(group))
    if d is not None:
        chk.check("describe_consumer_groups: Empty, no members, protocol type consumer after the member left",
                  d == (0, "Empty", "consumer", 0), repr(d))
    listed = await arun("admin list_consumer_groups", with_admin(lambda a: a.list_consumer_groups()))
    if listed is not None:
        chk.check("list_consumer_groups lists the group as a consumer group",
                  any(g[0] == group and g[1] == "consumer" for g in listed), repr(listed)[:300])

    second, extra = await group_consume(group, name, n - n // 2, settle_s=3)
    first_keys = {k for _, _, k in first}
    second_keys = {k for _, _, k in second} | {k for _, _, k in extra}
    chk.check("a second run in the group resumes after the commits: exactly the other %d records" % (n - n // 2),
              len(second) == n - n // 2 and not extra and not (first_keys & second_keys)
              and first_keys | second_keys == every,
              "%d read, %d more after, %d again, %d missing" % (len(second), len(extra), len(first_keys & second_keys),
                                                                len(every - first_keys - second_keys)))
    got = await arun("admin list_consumer_group_offsets after the second run", committed_offsets(group, name))
    if got is not None:
        ends = {}
        for part in parts:
            ends[part] = ends.get(part, 0) + 1
        chk.check("the commits are now the end of every partition", got == ends, "got %r, want %r" % (got, ends))
    await shared_group(name)


async def shared_group(name):
    """Two members of one group split the partitions and read every record once. The records are
    produced after both members hold their final assignment, so no rebalance moves a partition
    while records are being read (with auto-commit off, that would legitimately read some twice)."""
    group = name + "-shared"
    members = [group_consumer(group, name, client_id="compat-aiokafka-member-%d" % i) for i in range(2)]
    got = [[], []]
    stop = asyncio.Event()

    async def loop(i):
        while not stop.is_set():
            for ms in (await members[i].getmany(timeout_ms=200)).values():
                got[i] += [(m.partition, m.key) for m in ms]
    for m in members:
        await m.start()
    tasks = [asyncio.ensure_future(loop(i)) for i in range(2)]
    try:
        def assignments():
            return [{tp.partition for tp in m.assignment()} for m in members]

        def final(a):
            return all(a) and not (a[0] & a[1]) and a[0] | a[1] == {0, 1, 2}
        deadline = time.time() + 40
        while time.time() < deadline and not final(assignments()) and not any(t.done() for t in tasks):
            await asyncio.sleep(0.2)
        a = assignments()
        chk.check("two members in one group both get partitions, disjoint, covering all 3", final(a), repr(a))
        p = AIOKafkaProducer(bootstrap_servers=broker, acks="all", enable_idempotence=False)
        await p.start()
        try:
            for f in [await p.send(name, key=b"sk%d" % i, value=b"sv%d" % i) for i in range(30)]:
                await asyncio.wait_for(f, 30)
        finally:
            await p.stop()
        want = {b"sk%d" % i for i in range(30)}
        deadline = time.time() + 30
        while time.time() < deadline and {k for g in got for _, k in g} & want != want:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        mine = [[(part, k) for part, k in g if k in want] for g in got]
        keys = [k for g in mine for _, k in g]
        wrong = [(i, part) for i in range(2) for part, _ in mine[i] if part not in a[i]]
        errors = [repr(t.exception()) for t in tasks if t.done() and t.exception()]
        chk.check("the two members read every new record once, each from its own partitions",
                  sorted(keys) == sorted(want) and not wrong and all(mine) and not errors,
                  "%d of %d read (%d distinct), from others' partitions %r, errors %r"
                  % (len(keys), len(want), len(set(keys)), wrong[:3], errors))
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for m in members:
            await m.stop()


async def main():
    if await arun("admin CreateTopics(%s, 3 partitions)" % topic, admin_create(topic, 3)) is None:
        c = consumer()  # fall back to auto-creation through Metadata
        await c.start()
        await c._client.force_metadata_update()
        await c.stop()
    d = await arun("admin describe_topics", with_admin(lambda a: a.describe_topics([topic])))
    if d:
        t = d[0]
        chk.check("topic in metadata with 3 partitions", t.get("error_code") == 0 and len(t["partitions"]) == 3, repr(t)[:300])
    tmp = topic + "-deleted"
    await arun("admin CreateTopics(%s)" % tmp, admin_create(tmp, 1))
    await arun("admin DeleteTopics(%s)" % tmp, with_admin(lambda a: a.delete_topics([tmp])))
    names = await arun("admin list_topics (Metadata for all topics)", with_admin(lambda a: a.list_topics()))
    if names:
        chk.check("all-topics metadata lists the created topic and not the deleted one",
                  topic in names and tmp not in names, repr(names))

    t0 = common.now_ms()
    expected, reports = [], {}
    for codec in common.CODECS:
        recs = common.plan("aiokafka", codec)
        expected += recs
        p = AIOKafkaProducer(bootstrap_servers=broker, client_id="compat-aiokafka-producer",
                             compression_type=None if codec == "none" else codec, acks="all",
                             enable_idempotence=False, linger_ms=20, max_request_size=2 << 20)
        try:
            await p.start()
            futs = [(r["key"], await p.send(topic, key=r["key"], value=r["value"], partition=r["partition"],
                                            headers=r["headers"])) for r in recs]
            errs = []
            for k, f in futs:
                try:
                    md = await asyncio.wait_for(f, 30)
                    reports[k] = (md.partition, md.offset)
                except Exception as e:  # noqa: BLE001
                    errs.append("%s: %s: %s" % (k, type(e).__name__, e))
            chk.check("produce %d records with %s, acks=all" % (len(recs), codec), not errs, repr(errs[:3]))
        except Exception as e:  # noqa: BLE001
            chk.fail("produce with %s" % codec, "%s: %s" % (type(e).__name__, e))
        finally:
            await p.stop()
    t1 = common.now_ms()

    got = await arun("consume with assign + seek_to_beginning", consume_all())
    if got:
        by_key = common.verify(chk, "read back", expected, got, t0, t1)
        bad = [(k, rep, (by_key[k]["partition"], by_key[k]["offset"])) for k, rep in reports.items()
               if k in by_key and (by_key[k]["partition"], by_key[k]["offset"]) != rep]
        chk.check("send() metadata offsets match the fetched offsets", not bad, repr(bad[:5]))
        c = consumer()
        await c.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(3)]
            b, e = await c.beginning_offsets(tps), await c.end_offsets(tps)
            counts = {p: sum(1 for m in got if m["partition"] == p) for p in range(3)}
            chk.check("ListOffsets earliest=0 and latest=record count per partition",
                      all(b[tp] == 0 and e[tp] == counts[tp.partition] for tp in tps),
                      "earliest %r latest %r counts %r" % (b, e, counts))
            f = await c.offsets_for_times({tp: t0 - 5000 for tp in tps})
            chk.check("offsets_for_times(before the first record) = 0",
                      all(f[tp] is not None and f[tp].offset == 0 for tp in tps), repr(f))
            p0 = sorted((m for m in got if m["partition"] == 0), key=lambda m: m["offset"])
            target = p0[10]["ts"]
            want = min(m["offset"] for m in p0 if m["ts"] >= target)
            f = await c.offsets_for_times({tps[0]: target})
            chk.check("offsets_for_times(a middle timestamp) = first offset at or after it",
                      f[tps[0]] is not None and f[tps[0]].offset == want and f[tps[0]].timestamp == target,
                      "got %r, want offset %d timestamp %d" % (f[tps[0]], want, target))
            f = await c.offsets_for_times({tp: common.now_ms() + 3600_000 for tp in tps})
            chk.check("offsets_for_times(future) = None", all(f[tp] is None for tp in tps), repr(f))
        except Exception as e:  # noqa: BLE001
            chk.fail("ListOffsets", "%s: %s" % (type(e).__name__, e))
        finally:
            await c.stop()
        await arun("a record produced while a consumer waits at the end arrives within 3 s", long_poll())
    await group_checks()


chk.guard(lambda: asyncio.run(main()))
