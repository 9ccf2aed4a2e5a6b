#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""aiokafka against Sluice: AIOKafkaAdminClient create/delete topic, produce in every codec with
acks=all, read back without a consumer group (assign + seek_to_beginning), ListOffsets.
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


chk.guard(lambda: asyncio.run(main()))
