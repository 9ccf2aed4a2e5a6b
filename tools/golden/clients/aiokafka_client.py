#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""aiokafka driver: producer sends 3 keyed records with headers in one batch,
then a group consumer reads them back and commits.
    aiokafka_client.py <bootstrap> <codec>"""
import asyncio
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

broker, codec = sys.argv[1], sys.argv[2]
topic = "golden"


async def main():
    p = AIOKafkaProducer(bootstrap_servers=broker, client_id="golden-aiokafka-producer",
                         compression_type=None if codec == "none" else codec, linger_ms=100, acks="all")
    await p.start()
    try:
        batch = p.create_batch()
        for i in range(3):
            value = ("golden value %d from aiokafka, " % i * 2).encode()
            assert batch.append(key=b"key-%d" % i, value=value, timestamp=None,
                                headers=[("client", b"aiokafka"), ("codec", codec.encode())]) is not None
        fut = await p.send_batch(batch, topic, partition=0)
        print("produced", await fut)
    finally:
        await p.stop()

    c = AIOKafkaConsumer(topic, bootstrap_servers=broker, group_id="golden-aiokafka",
                         client_id="golden-aiokafka-consumer", auto_offset_reset="earliest",
                         enable_auto_commit=False)
    await c.start()
    try:
        got = 0
        while got < 3:
            m = await asyncio.wait_for(c.getone(), 20)
            print("consumed offset=%d key=%r value=%r headers=%r" % (m.offset, m.key, m.value, m.headers))
            got += 1
        await c.commit()
    finally:
        await c.stop()


asyncio.run(main())
