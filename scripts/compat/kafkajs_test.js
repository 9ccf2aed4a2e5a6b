// Licensed under the Apache License, Version 2.0.
// kafkajs 2.2.4 against Sluice: admin create/delete topic, produce in every codec with acks=all,
// read back WITHOUT a consumer group, ListOffsets (admin.fetchTopicOffsets*).
//   node kafkajs_test.js <bootstrap>
// kafkajs has no assign() without groups, so the read-back uses its low-level Cluster/Broker
// objects (the same Fetch requests its consumer sends). run.sh also reads the topic with
// confluent-kafka (confluent_kafka_test.py --verify), a second client checking what kafkajs wrote.
// Records follow common.py's plan() exactly, so that check works.
// Idempotence: idempotent: false explicitly; tested once Sluice serves InitProducerId.
// Codecs: gzip built in; snappy = kafkajs-snappy; lz4 = kafkajs-lz4 (over the native `lz4` package:
// the `lz4` package's published build/ holds macOS binaries, so run.sh runs `npm rebuild lz4`);
// zstd = a small codec over @bokuweb/zstd-wasm.
// Then the admin calls createPartitions, describeCluster, fetchTopicOffsets(ByTimestamp) and
// deleteTopicRecords on a topic of their own, each checked by its effect (adminExtras).
// Last, a consumer group (groupChecks): a subscribed member commits what it processed, a second run
// resumes exactly after the commits, admin fetchOffsets/describeGroups/listGroups see them, and two
// members split the partitions. kafkajs's admin has no OffsetDelete.
const path = require('path')
const nm = path.join(__dirname, 'node_modules')
const { Kafka, CompressionTypes, CompressionCodecs, Partitioners, logLevel } = require(path.join(nm, 'kafkajs'))
CompressionCodecs[CompressionTypes.Snappy] = require(path.join(nm, 'kafkajs-snappy'))
let lz4Error = null
try {
  const LZ4Codec = require(path.join(nm, 'kafkajs-lz4'))
  CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec
} catch (e) { lz4Error = e } // the `lz4` package's native build (run.sh: npm rebuild lz4) is missing
const zstd = require(path.join(nm, '@bokuweb/zstd-wasm'))
// zstd.init() must run once: calling it before every compress (as tools/golden's one-batch driver
// does) re-instantiates the WASM module and later frames come out as garbage or zeros.
let zstdReady = null
const zinit = () => (zstdReady = zstdReady || zstd.init())
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress (encoder) { await zinit(); return Buffer.from(zstd.compress(encoder.buffer, 3)) },
  async decompress (buffer) { await zinit(); return Buffer.from(zstd.decompress(buffer)) },
})

const broker = process.argv[2]
const CLIENT = 'kafkajs'
const topic = 'compat-kafkajs'
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd']
const types = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD }
const PARTITIONS = 3
const PER_CODEC = 30
const BIG = 512 * 1024

let failed = 0
const ok = name => console.log(`ok   ${CLIENT}: ${name}`)
const fail = (name, why) => { failed++; console.log(`FAIL ${CLIENT}: ${name}: ${why}`) }
const check = (name, cond, why) => { cond ? ok(name) : fail(name, why || 'condition false'); return cond }
async function run (name, fn) {
  try { const r = await fn(); ok(name); return r === undefined ? true : r } catch (e) {
    fail(name, `${e.name}: ${e.message}${e.type ? ` (${e.type})` : ''}`); console.error(e); return null
  }
}
const str = x => JSON.stringify(x, (k, v) => typeof v === 'bigint' ? v.toString() : v)

// Same as common.py plan().
function plan (codec) {
  const out = []
  const hdr = i => ({ client: CLIENT, codec, i: String(i) })
  for (let i = 0; i < PER_CODEC; i++) {
    out.push({ partition: i % 3 === 0 ? Math.floor(i / 3) % PARTITIONS : null, key: `${CLIENT}-${codec}-${i}`,
      value: Buffer.from(`value ${i} of ${CLIENT} in ${codec} `.repeat(1 + i % 5)), headers: hdr(i) })
  }
  out.push({ partition: 0, key: `${CLIENT}-${codec}-tombstone`, value: null, headers: hdr(PER_CODEC) })
  out.push({ partition: 1, key: `${CLIENT}-${codec}-empty`, value: Buffer.alloc(0), headers: hdr(PER_CODEC + 1) })
  const big = Buffer.alloc(BIG)
  for (let j = 0; j < BIG; j++) big[j] = (j * 7 + codec.length) % 251
  out.push({ partition: null, key: `${CLIENT}-${codec}-big`, value: big, headers: hdr(PER_CODEC + 2) })
  return out
}

// Low-level read of every partition from offset 0 to its high watermark, without a group.
async function consumeAll (kafka, ends) {
  const createCluster = kafka[Object.getOwnPropertySymbols(kafka).find(s => s.toString().includes('createCluster'))]
  const cluster = createCluster({ allowAutoTopicCreation: false })
  await cluster.connect()
  try {
    await cluster.addTargetTopic(topic)
    await cluster.refreshMetadata()
    const leaders = cluster.findLeaderForPartitions(topic, [...Array(PARTITIONS).keys()])
    const pos = Object.fromEntries([...Array(PARTITIONS).keys()].map(p => [p, 0n]))
    const got = []
    const deadline = Date.now() + 45000
    while ([...Array(PARTITIONS).keys()].some(p => pos[p] < ends[p])) {
      if (Date.now() > deadline) throw new Error(`timed out: positions ${str(pos)}, ends ${str(ends)}`)
      for (const [nodeId, parts] of Object.entries(leaders)) {
        const b = await cluster.findBroker({ nodeId })
        const resp = await b.fetch({ replicaId: -1, isolationLevel: 1, maxWaitTime: 500, minBytes: 1, maxBytes: 8 << 20,
          topics: [{ topic, partitions: parts.filter(p => pos[p] < ends[p]).map(p => ({ partition: p, fetchOffset: pos[p].toString(), maxBytes: 4 << 20 })) }] })
        for (const t of resp.responses) {
          for (const pr of t.partitions) {
            if (pr.errorCode !== 0) throw new Error(`fetch partition ${pr.partition}: error ${pr.errorCode}`)
            for (const m of pr.messages) {
              const off = BigInt(m.offset)
              if (off < pos[pr.partition] || m.isControlRecord) continue
              got.push({ partition: pr.partition, offset: off, key: m.key && m.key.toString(), value: m.value,
                headers: m.headers, ts: Number(m.timestamp), tsType: m.batchContext ? m.batchContext.timestampType : undefined })
              pos[pr.partition] = off + 1n
            }
          }
        }
      }
    }
    return got
  } finally {
    await cluster.disconnect()
  }
}

function verify (expected, got, t0, t1) {
  const byKey = new Map()
  const dup = []
  for (const m of got) { if (byKey.has(m.key)) dup.push(m.key); byKey.set(m.key, m) }
  const expKeys = new Set(expected.map(r => r.key))
  const missing = expected.filter(r => !byKey.has(r.key)).map(r => r.key)
  const extra = [...byKey.keys()].filter(k => !expKeys.has(k))
  check(`read back: every record read back exactly once (${expected.length})`, !missing.length && !dup.length && !extra.length,
    `missing ${missing.length} ${str(missing.slice(0, 5))}, duplicated ${str(dup.slice(0, 5))}, unexpected ${str(extra.slice(0, 5))}`)
  const badVal = []; const badHdr = []; const badPart = []; const badTs = []
  for (const r of expected) {
    const m = byKey.get(r.key)
    if (!m) continue
    if (!(r.value === null ? m.value === null : (m.value !== null && Buffer.compare(m.value, r.value) === 0))) {
      badVal.push([r.key, m.value && m.value.length, r.value && r.value.length])
    }
    const h = Object.fromEntries(Object.entries(m.headers || {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString() : str(v)]))
    if (str(h) !== str(r.headers)) badHdr.push([r.key, h])
    if ((r.partition !== null && m.partition !== r.partition) || m.partition < 0 || m.partition >= PARTITIONS) badPart.push([r.key, m.partition, r.partition])
    if (!(m.ts >= t0 - 5000 && m.ts <= t1 + 5000) || m.tsType !== 0) badTs.push([r.key, m.ts, m.tsType, t0, t1])
  }
  check('read back: values (incl. tombstone, empty, 512 KiB)', !badVal.length, `key, got len, want len: ${str(badVal.slice(0, 5))}`)
  check('read back: headers', !badHdr.length, str(badHdr.slice(0, 3)))
  check('read back: explicit partitions honoured', !badPart.length, str(badPart.slice(0, 5)))
  check('read back: CreateTime timestamps within the produce window', !badTs.length, str(badTs.slice(0, 3)))
  const order = new Map(expected.map((r, n) => [r.key, n]))
  const badOrder = []
  for (let p = 0; p < PARTITIONS; p++) {
    const seq = got.filter(m => m.partition === p && order.has(m.key)).sort((a, b) => (a.offset < b.offset ? -1 : 1)).map(m => order.get(m.key))
    if (seq.some((v, i) => i > 0 && v < seq[i - 1])) badOrder.push([p, seq.slice(0, 10)])
  }
  check('read back: per-partition order matches send order', !badOrder.length, str(badOrder))
  return byKey
}

// Fetches one partition from `offset` with the low-level broker API: the records, or the
// partition's error code (kafkajs throws some partition errors, returns others).
async function fetchFrom (kafka, name, partition, offset) {
  const createCluster = kafka[Object.getOwnPropertySymbols(kafka).find(s => s.toString().includes('createCluster'))]
  const cluster = createCluster({ allowAutoTopicCreation: false })
  await cluster.connect()
  try {
    await cluster.addTargetTopic(name)
    await cluster.refreshMetadata()
    const [nodeId] = Object.keys(cluster.findLeaderForPartitions(name, [partition]))
    const b = await cluster.findBroker({ nodeId })
    let resp
    try {
      resp = await b.fetch({ replicaId: -1, isolationLevel: 1, maxWaitTime: 500, minBytes: 1, maxBytes: 1 << 20,
        topics: [{ topic: name, partitions: [{ partition, fetchOffset: String(offset), maxBytes: 1 << 20 }] }] })
    } catch (e) {
      if (e.type) return { error: e.type }
      throw e
    }
    const pr = resp.responses[0].partitions[0]
    if (pr.errorCode !== 0) return { error: pr.errorCode }
    return { messages: pr.messages.filter(m => BigInt(m.offset) >= BigInt(offset)) }
  } finally {
    await cluster.disconnect()
  }
}

async function adminExtras (kafka) {
  const name = `${topic}-admin`
  const admin = kafka.admin()
  await admin.connect()
  try {
    if (await run(`admin CreateTopics(${name}, 2 partitions)`, () =>
      admin.createTopics({ topics: [{ topic: name, numPartitions: 2 }], waitForLeaders: true })) === null) return
    await run('admin createPartitions(2 -> 4)', () => admin.createPartitions({ topicPartitions: [{ topic: name, count: 4 }] }))
    const md = await run('admin fetchTopicMetadata after createPartitions', () => admin.fetchTopicMetadata({ topics: [name] }))
    if (md) {
      const ids = md.topics[0].partitions.map(p => p.partitionId).sort()
      check('metadata shows 4 partitions after createPartitions', str(ids) === '[0,1,2,3]', str(md))
    }
    const shrink = await admin.createPartitions({ topicPartitions: [{ topic: name, count: 3 }] }).then(() => null, e => e)
    check('createPartitions(4 -> 3) fails with INVALID_PARTITIONS', shrink && shrink.type === 'INVALID_PARTITIONS', String(shrink))

    const cl = await run('admin describeCluster', () => admin.describeCluster())
    if (cl) {
      const nodes = cl.brokers.map(b => [b.nodeId, `${b.host}:${b.port}`])
      check('describeCluster: one broker at the bootstrap address, a cluster id, it is the controller',
        nodes.length === 1 && nodes[0][1] === broker && cl.clusterId && cl.controller === nodes[0][0], str(cl))
    }

    // Twenty records in the new partition 3 with timestamps base + i, so every offset is known.
    const base = Date.now() - 60000
    const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false })
    await producer.connect()
    try {
      await run('produce 20 records to the new partition', async () => {
        const res = await producer.send({ topic: name, acks: -1, messages: [...Array(20).keys()].map(i =>
          ({ partition: 3, key: `k${i}`, value: `v${i}`, timestamp: String(base + i) })) })
        if (res.length !== 1 || res[0].partition !== 3 || res[0].baseOffset !== '0') throw new Error(str(res))
      })
    } finally {
      await producer.disconnect()
    }
    const p3 = offs => offs && offs.find(o => o.partition === 3)
    const offs = await run('admin fetchTopicOffsets', () => admin.fetchTopicOffsets(name))
    if (offs) check('fetchTopicOffsets: partition 3 low 0 high 20', p3(offs).low === '0' && p3(offs).high === '20', str(offs))
    const byTs = await run("admin fetchTopicOffsetsByTimestamp(the 8th record's timestamp)", () => admin.fetchTopicOffsetsByTimestamp(name, base + 7))
    if (byTs) check("offsets by the 8th record's timestamp = 7", p3(byTs).offset === '7', str(byTs))

    await run('admin deleteTopicRecords(partition 3 before offset 8)', () =>
      admin.deleteTopicRecords({ topic: name, partitions: [{ partition: 3, offset: '8' }] }))
    const after = await run('admin fetchTopicOffsets after deleteTopicRecords', () => admin.fetchTopicOffsets(name))
    if (after) check('low watermark 8, high 20 after deleteTopicRecords', p3(after).low === '8' && p3(after).high === '20', str(after))
    const gone = await run('fetch from offset 0 after deleteTopicRecords', () => fetchFrom(kafka, name, 3, 0))
    if (gone) check('fetch below the low watermark gives OFFSET_OUT_OF_RANGE', gone.error === 'OFFSET_OUT_OF_RANGE' || gone.error === 1, str(gone))
    const first = await run('fetch from the low watermark', () => fetchFrom(kafka, name, 3, 8))
    if (first) {
      const m = first.messages && first.messages[0]
      check('reading from the low watermark starts at offset 8 (key k8)', m && m.offset === '8' && m.key.toString() === 'k8', str(first).slice(0, 300))
    }
    const beyond = await admin.deleteTopicRecords({ topic: name, partitions: [{ partition: 3, offset: '21' }] }).then(() => null, e => e)
    // kafkajs's retrier wraps the KafkaJSDeleteTopicRecordsError; the per-partition errors are on its cause.
    const cause = beyond && (beyond.partitions ? beyond : beyond.cause)
    const types = cause && cause.partitions ? cause.partitions.map(p => p.error && p.error.type) : []
    check('deleteTopicRecords past the high watermark fails with OFFSET_OUT_OF_RANGE', str(types) === '["OFFSET_OUT_OF_RANGE"]', String(beyond) + str(types))
  } finally {
    await admin.disconnect()
  }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// A subscribed group member with auto-commit off; `assigned` follows its latest assignment.
function groupConsumer (kafka, groupId) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000, rebalanceTimeout: 20000,
    maxWaitTimeInMs: 500, allowAutoTopicCreation: false, retry: { retries: 3 } })
  const member = { consumer, assigned: new Set(), joins: 0 }
  consumer.on(consumer.events.GROUP_JOIN, e => {
    member.joins++
    member.assigned = new Set(Object.values(e.payload.memberAssignment).flat())
  })
  return member
}

// A member processes `want` records (by count), commits exactly what it processed and leaves;
// records delivered past `want` are neither processed nor committed. With settleMs it keeps
// reading that long after `want` to catch records that should not be there.
async function groupConsume (kafka, groupId, name, want, settleMs = 0) {
  const { consumer } = groupConsumer(kafka, groupId)
  const got = []
  const extra = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [name], fromBeginning: true })
    await consumer.run({ autoCommit: false, eachMessage: async ({ partition, message }) => {
      const rec = [partition, BigInt(message.offset), message.key.toString()]
      if (got.length < want) got.push(rec); else extra.push(rec)
    } })
    const deadline = Date.now() + 40000
    while (got.length < want && Date.now() < deadline) await sleep(100)
    const taken = got.length // extra from here on
    if (settleMs) await sleep(settleMs)
    const next = new Map()
    for (const [p, off] of got) if (!next.has(p) || next.get(p) <= off) next.set(p, off + 1n)
    if (next.size) {
      await consumer.commitOffsets([...next].map(([partition, offset]) => ({ topic: name, partition, offset: offset.toString() })))
    }
    return { got: got.slice(0, taken), extra: settleMs ? extra : [] }
  } finally {
    await consumer.disconnect()
  }
}

// {partition: offset} of the group's commits on `name`, through admin.fetchOffsets (OffsetFetch).
async function committedOffsets (admin, groupId, name) {
  const res = await admin.fetchOffsets({ groupId, topics: [name] })
  const out = {}
  for (const t of res) for (const p of t.partitions) if (t.topic === name && p.offset !== '-1') out[p.partition] = Number(p.offset)
  return out
}

// Classic consumer group: a member commits what it processed, a second run in the group resumes
// exactly after the commits, the admin API (fetchOffsets, describeGroups, listGroups) sees them,
// and two members split the partitions. kafkajs's admin has no OffsetDelete (kafka_python_test.py
// covers it).
async function groupChecks (kafka) {
  const name = `${topic}-group-${Date.now()}`
  const groupId = `${name}-g`
  const n = 60
  const admin = kafka.admin()
  await admin.connect()
  try {
    if (await run(`admin CreateTopics(${name}, 3 partitions) for the group`, () =>
      admin.createTopics({ topics: [{ topic: name, numPartitions: 3 }], waitForLeaders: true })) === null) return
    const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    try {
      await producer.send({ topic: name, acks: -1, messages: [...Array(n).keys()].map(i => ({ key: `gk${i}`, value: `gv${i}` })) })
    } finally {
      await producer.disconnect()
    }
    const offs = await admin.fetchTopicOffsets(name)
    const ends = Object.fromEntries(offs.map(o => [o.partition, Number(o.high)]))
    check(`produce ${n} keyed records for the group, spread over the 3 partitions`,
      Object.values(ends).reduce((a, b) => a + b, 0) === n && Object.values(ends).every(e => e > 0), str(ends))
    const every = new Set([...Array(n).keys()].map(i => `gk${i}`))

    const first = (await groupConsume(kafka, groupId, name, n / 2)).got
    check(`a group member processes ${n / 2} records and commits them`, first.length === n / 2, `got ${first.length}`)
    const want = {}
    for (const [p, off] of first) want[p] = Math.max(want[p] || 0, Number(off) + 1)
    const got = await run('admin fetchOffsets', () => committedOffsets(admin, groupId, name))
    if (got) check('fetchOffsets returns exactly the commits', str(got) === str(want), `got ${str(got)}, want ${str(want)}`)
    const desc = await run('admin describeGroups', () => admin.describeGroups([groupId]))
    if (desc) {
      const g = desc.groups.find(x => x.groupId === groupId)
      check('describeGroups: Empty, no members, protocol type consumer after the member left',
        g && g.errorCode === 0 && g.state === 'Empty' && g.members.length === 0 && g.protocolType === 'consumer', str(g))
    }
    const listed = await run('admin listGroups', () => admin.listGroups())
    if (listed) check('listGroups lists the group as a consumer group', listed.groups.some(g => g.groupId === groupId && g.protocolType === 'consumer'), str(listed).slice(0, 300))

    const second = await groupConsume(kafka, groupId, name, n - n / 2, 3000)
    const firstKeys = new Set(first.map(r => r[2]))
    const secondKeys = new Set(second.got.concat(second.extra).map(r => r[2]))
    const again = [...secondKeys].filter(k => firstKeys.has(k))
    const missing = [...every].filter(k => !firstKeys.has(k) && !secondKeys.has(k))
    check(`a second run in the group resumes after the commits: exactly the other ${n - n / 2} records`,
      second.got.length === n - n / 2 && !second.extra.length && !again.length && !missing.length,
      `${second.got.length} read, ${second.extra.length} more after, ${again.length} again, ${missing.length} missing`)
    const after = await run('admin fetchOffsets after the second run', () => committedOffsets(admin, groupId, name))
    if (after) check('the commits are now the end of every partition', str(after) === str(ends), `got ${str(after)}, want ${str(ends)}`)
  } finally {
    await admin.disconnect()
  }
  await sharedGroup(kafka, name)
}

// Two members of one group split the partitions and read every record once. The records are
// produced after both members hold their final assignment, so no rebalance moves a partition while
// records are being read (with auto-commit off, that would legitimately read some twice).
async function sharedGroup (kafka, name) {
  const groupId = `${name}-shared`
  const members = [groupConsumer(kafka, groupId), groupConsumer(kafka, groupId)]
  const got = [[], []]
  const final = () => {
    const [a, b] = members.map(m => m.assigned)
    return a.size > 0 && b.size > 0 && [...a].every(p => !b.has(p)) && new Set([...a, ...b]).size === 3
  }
  try {
    for (const [i, m] of members.entries()) {
      await m.consumer.connect()
      // From the beginning, so no new record can fall before a "latest" position taken late; the
      // earlier records are read too and left out of the count.
      await m.consumer.subscribe({ topics: [name], fromBeginning: true })
      await m.consumer.run({ autoCommit: false, eachMessage: async ({ partition, message }) => { got[i].push([partition, message.key.toString()]) } })
    }
    let deadline = Date.now() + 40000
    while (!final() && Date.now() < deadline) await sleep(200)
    const assigned = members.map(m => [...m.assigned].sort())
    check('two members in one group both get partitions, disjoint, covering all 3', final(), str(assigned))
    const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    try {
      await producer.send({ topic: name, acks: -1, messages: [...Array(30).keys()].map(i => ({ key: `sk${i}`, value: `sv${i}` })) })
    } finally {
      await producer.disconnect()
    }
    const want = new Set([...Array(30).keys()].map(i => `sk${i}`))
    const seen = () => new Set(got.flat().map(r => r[1]).filter(k => want.has(k)))
    deadline = Date.now() + 30000
    while (seen().size < want.size && Date.now() < deadline) await sleep(200)
    await sleep(1000)
    const mine = got.map(g => g.filter(r => want.has(r[1])))
    const keys = mine.flat().map(r => r[1])
    const wrong = mine.flatMap((g, i) => g.filter(r => !assigned[i].includes(r[0])).map(r => [i, r[0]]))
    check('the two members read every new record once, each from its own partitions',
      keys.length === want.size && new Set(keys).size === want.size && !wrong.length && mine.every(g => g.length > 0),
      `${keys.length} of ${want.size} read (${new Set(keys).size} distinct), from others' partitions ${str(wrong.slice(0, 3))}`)
  } finally {
    for (const m of members) await m.consumer.disconnect()
  }
}

async function main () {
  const kafka = new Kafka({ clientId: 'compat-kafkajs', brokers: [broker], logLevel: logLevel.ERROR,
    retry: { retries: 3 }, requestTimeout: 30000 })
  const admin = kafka.admin()
  await admin.connect()
  try {
    const created = await run(`admin CreateTopics(${topic}, 3 partitions)`, () =>
      admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true }))
    if (created === null) {
      // Fall back to auto-creation through Metadata (num.partitions=3 on the broker).
      const p = kafka.producer({ allowAutoTopicCreation: true }); await p.connect(); await p.disconnect()
    }
    const md = await run('admin fetchTopicMetadata', () => admin.fetchTopicMetadata({ topics: [topic] }))
    if (md) check('topic in metadata with 3 partitions', md.topics[0].partitions.length === 3, str(md))
    const tmp = `${topic}-deleted`
    await run(`admin CreateTopics(${tmp})`, () => admin.createTopics({ topics: [{ topic: tmp, numPartitions: 1 }], waitForLeaders: true }))
    await run(`admin DeleteTopics(${tmp})`, () => admin.deleteTopics({ topics: [tmp], timeout: 10000 }))
    const names = await run('admin listTopics (Metadata for all topics)', () => admin.listTopics())
    if (names) check('all-topics metadata lists the created topic and not the deleted one', names.includes(topic) && !names.includes(tmp), str(names))
    const again = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }).catch(e => e)
    check('creating an existing topic reports it (createTopics returns false)', again === false, String(again))
  } finally {
    await admin.disconnect()
  }

  const t0 = Date.now()
  const expected = []
  const reports = new Map()
  for (const codec of CODECS) {
    const recs = plan(codec)
    if (codec === 'lz4' && lz4Error) { fail('lz4 codec', `cannot load kafkajs-lz4: ${lz4Error.message}`); continue }
    expected.push(...recs)
    const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    try {
      await run(`produce ${recs.length} records with ${codec}, acks=all`, async () => {
        // One send per record keeps the send order per partition and gives each record's offset.
        for (const r of recs) {
          const msg = { key: r.key, value: r.value, headers: r.headers }
          if (r.partition !== null) msg.partition = r.partition
          const res = await producer.send({ topic, acks: -1, compression: types[codec], messages: [msg] })
          if (res.length !== 1 || res[0].errorCode !== 0) throw new Error(`send result ${str(res)}`)
          reports.set(r.key, [res[0].partition, BigInt(res[0].baseOffset)])
        }
      })
    } finally {
      await producer.disconnect()
    }
  }
  // One batch with many records in one codec, too (the loop above sends one record per batch).
  const batchRecs = plan('zstd').slice(0, PER_CODEC).map(r => ({ ...r, key: r.key.replace('zstd', 'zstd-batch') }))
  {
    const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    await run(`produce ${batchRecs.length} records in one zstd request`, async () => {
      const res = await producer.send({ topic, acks: -1, compression: types.zstd,
        messages: batchRecs.map(r => r.partition === null ? { key: r.key, value: r.value, headers: r.headers } : { key: r.key, value: r.value, headers: r.headers, partition: r.partition }) })
      if (res.some(x => x.errorCode !== 0)) throw new Error(`send result ${str(res)}`)
    })
    await producer.disconnect()
  }
  const t1 = Date.now()
  const all = expected.concat(batchRecs)

  const admin2 = kafka.admin()
  await admin2.connect()
  let ends = null
  try {
    const offs = await run('admin fetchTopicOffsets (ListOffsets latest+earliest)', () => admin2.fetchTopicOffsets(topic))
    if (offs) ends = Object.fromEntries(offs.map(o => [o.partition, BigInt(o.high)]))
    const got = ends && await run('consume without a group (low-level Fetch)', () => consumeAll(kafka, ends))
    if (got) {
      const byKey = verify(all, got, t0, t1)
      const bad = [...reports].filter(([k, rep]) => byKey.has(k) && (byKey.get(k).partition !== rep[0] || byKey.get(k).offset !== rep[1]))
      check('send() result offsets match the fetched offsets', !bad.length, str(bad.slice(0, 5)))
      const counts = [0, 1, 2].map(p => got.filter(m => m.partition === p).length)
      check('ListOffsets earliest=0 and latest=record count per partition',
        offs.every(o => o.low === '0' && Number(o.high) === counts[o.partition]), `${str(offs)} counts ${str(counts)}`)
      const before = await run('fetchTopicOffsetsByTimestamp(before)', () => admin2.fetchTopicOffsetsByTimestamp(topic, t0 - 5000))
      if (before) check('offsets by timestamp before the first record = 0', before.every(o => o.offset === '0'), str(before))
      const p0 = got.filter(m => m.partition === 0).sort((a, b) => (a.offset < b.offset ? -1 : 1))
      const target = p0[10].ts
      const want = p0.filter(m => m.ts >= target).reduce((a, m) => (m.offset < a ? m.offset : a), p0[p0.length - 1].offset)
      const mid = await run('fetchTopicOffsetsByTimestamp(middle)', () => admin2.fetchTopicOffsetsByTimestamp(topic, target))
      if (mid) check('offsets by a middle timestamp = first offset at or after it', mid.find(o => o.partition === 0).offset === want.toString(), `${str(mid)} want ${want}`)
      // kafkajs maps "no such offset" (-1) to the latest offset.
      const fut = await run('fetchTopicOffsetsByTimestamp(future)', () => admin2.fetchTopicOffsetsByTimestamp(topic, Date.now() + 3600000))
      if (fut) check('offsets by a future timestamp = latest', fut.every(o => BigInt(o.offset) === ends[o.partition]), str(fut))
    }
  } finally {
    await admin2.disconnect()
  }
  console.log(`kafkajs-window ${t0} ${t1}`)
  await adminExtras(kafka)
  await groupChecks(kafka)
  process.exit(failed ? 1 : 0)
}

main().catch(e => { console.error(e); console.log(`FAIL ${CLIENT}: unexpected error: ${e.message}`); process.exit(1) })
