#!/usr/bin/env node
// Licensed under the Apache License, Version 2.0.
// kafkajs consumer group across a broker restart; run.sh calls it twice, restarting the broker
// in between (the same two phases as group_restart.py):
//   node group_restart.js 1 <state-dir> <bootstrap>   topic of 3 partitions, 60 keyed records,
//       a member processes 30, committing each after processing, and leaves; the keys it
//       processed go to <state-dir>/kafkajs.keys
//   node group_restart.js 2 <state-dir> <bootstrap>   after the restart a new member of the group
//       gets exactly the other 30 records, and the commits then cover all 60.
const fs = require('fs')
const path = require('path')
const nm = path.join(__dirname, 'node_modules')
const { Kafka, logLevel } = require(path.join(nm, 'kafkajs'))

const [phase, stateDir, broker] = [Number(process.argv[2]), process.argv[3], process.argv[4]]
const CLIENT = 'kafkajs (restart)'
const topic = 'compat-restart-kafkajs'
const groupId = `${topic}-group`
const keysFile = path.join(stateDir, 'kafkajs.keys')
const RECORDS = 60
const FIRST = 30
const allKeys = Array.from({ length: RECORDS }, (_, i) => `r${i}`)

let failed = 0
const ok = name => console.log(`ok   ${CLIENT}: ${name}`)
const fail = (name, why) => { failed++; console.log(`FAIL ${CLIENT}: ${name}: ${why}`) }
const check = (name, cond, why) => { cond ? ok(name) : fail(name, why || 'condition false'); return cond }
async function run (name, fn) {
  try { const r = await fn(); ok(name); return r === undefined ? true : r } catch (e) {
    fail(name, `${e.name}: ${e.message}`); console.error(e); return null
  }
}
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// Processes up to `want` records, committing each right after it; then keeps reading for
// `settleMs` without processing. Returns { got, extra } as key lists.
async function consume (kafka, want, settleMs) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000, rebalanceTimeout: 20000,
    maxWaitTimeInMs: 500, allowAutoTopicCreation: false })
  const got = []
  const extra = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({ autoCommit: false, eachMessage: async ({ partition, message }) => {
      if (got.length < want) {
        got.push(message.key.toString())
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }])
      } else {
        extra.push(message.key.toString())
      }
    } })
    const deadline = Date.now() + 60000
    while (got.length < want && Date.now() < deadline) await sleep(100)
    await sleep(settleMs)
    return { got, extra }
  } finally {
    await consumer.disconnect()
  }
}

async function main () {
  const kafka = new Kafka({ clientId: 'compat-kafkajs-restart', brokers: [broker], logLevel: logLevel.NOTHING,
    retry: { retries: 8 } })
  if (phase === 1) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      await run(`create ${topic} with 3 partitions`, () => admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }))
    } finally { await admin.disconnect() }
    const producer = kafka.producer({ allowAutoTopicCreation: false })
    await producer.connect()
    try {
      await run(`produce ${RECORDS} keyed records`, () => producer.send({ topic, acks: -1,
        messages: allKeys.map(k => ({ key: k, value: `v${k}` })) }))
    } finally { await producer.disconnect() }
    const res = await run(`a group member processes ${FIRST} records, committing each, and leaves`, () => consume(kafka, FIRST, 0))
    if (res) {
      check(`it processed ${FIRST} distinct records`, new Set(res.got).size === FIRST, JSON.stringify(res.got))
      fs.writeFileSync(keysFile, res.got.join('\n'))
    }
  } else {
    let first
    try { first = new Set(fs.readFileSync(keysFile, 'utf8').split('\n').filter(Boolean)) } catch (e) {
      fail("the first run's keys", e.message); process.exit(1)
    }
    const res = await run('after the broker restart a new member of the group consumes', () => consume(kafka, RECORDS - FIRST, 3000))
    if (res) {
      const seen = res.got.concat(res.extra)
      const again = seen.filter(k => first.has(k))
      const rest = allKeys.filter(k => !first.has(k)).sort()
      check(`it resumes from the commits made before the restart: none of the first ${FIRST} again`,
        again.length === 0, `${again.length} read again, e.g. ${again.slice(0, 5)}`)
      check(`it gets exactly the ${RECORDS - FIRST} records the first member did not process`,
        JSON.stringify(seen.slice().sort()) === JSON.stringify(rest), `got ${seen.length} (${new Set(seen).size} distinct)`)
    }
    const admin = kafka.admin()
    await admin.connect()
    try {
      const offs = await run('committed offsets through admin.fetchOffsets', () => admin.fetchOffsets({ groupId, topics: [topic] }))
      if (offs) {
        const total = offs[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0)
        check(`the commits cover all ${RECORDS} records`, total === RECORDS, JSON.stringify(offs))
      }
    } finally { await admin.disconnect() }
  }
  process.exit(failed ? 1 : 0)
}

main().catch(e => { console.error(e); console.log(`FAIL ${CLIENT}: unexpected error: ${e.message}`); process.exit(1) })
