// Licensed under the Apache License, Version 2.0.
// kafkajs 2.2.4 with SASL/SCRAM-SHA-512 against Sluice, over SASL_PLAINTEXT or SASL_SSL.
//   node kafkajs_security.js <bootstrap> <user> <password> <label> [ca.pem]
// With a CA file the connection is TLS (ssl: { ca: [pem] }), as the seeds' kafkajs services set
// it up. Creates a topic through the admin API, produces keyed records with acks=all, reads them
// back in a consumer group that commits, and checks that a wrong password is refused with
// kafkajs's SASL authentication error. Run by security_clients_test.py.
const fs = require('fs')
const path = require('path')
const { Kafka, logLevel } = require(path.join(__dirname, 'node_modules', 'kafkajs'))

const [broker, user, password, label, caFile] = process.argv.slice(2)
const ssl = caFile ? { ca: [fs.readFileSync(caFile, 'utf8')], servername: 'localhost' } : undefined
const topic = `kafkajs-scram-${label}`
const N = 12

let failed = 0
const check = (name, cond, why) => {
  if (cond) console.log(`ok kafkajs ${label}: ${name}`)
  else { failed++; console.log(`FAIL kafkajs ${label}: ${name}: ${why}`) }
  return cond
}
const kafka = pw => new Kafka({
  clientId: `kafkajs-${label}`,
  brokers: [broker],
  ssl,
  sasl: { mechanism: 'scram-sha-512', username: user, password: pw },
  logLevel: logLevel.NOTHING,
  connectionTimeout: 5000,
  retry: { retries: 2, initialRetryTime: 200 },
})

async function main () {
  const client = kafka(password)
  const admin = client.admin()
  try {
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
    const topics = await admin.listTopics()
    check('admin createTopics/listTopics', topics.includes(topic), JSON.stringify(topics))
  } catch (e) {
    check('admin createTopics/listTopics', false, `${e.name}: ${e.message}`)
  } finally { await admin.disconnect() }

  const producer = client.producer({ allowAutoTopicCreation: false })
  const sent = []
  for (let i = 0; i < N; i++) sent.push({ key: `order-${i % 4}`, value: `payload-${i}`, headers: { via: label } })
  try {
    await producer.connect()
    await producer.send({ topic, acks: -1, messages: sent })
    check(`produce ${N} keyed records, acks=all`, true)
  } catch (e) {
    check(`produce ${N} keyed records, acks=all`, false, `${e.name}: ${e.message}`)
  } finally { await producer.disconnect() }

  const consumer = client.consumer({ groupId: `kafkajs-scram-${label}`, sessionTimeout: 10000, heartbeatInterval: 1000 })
  const got = []
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    let done
    const all = new Promise(resolve => { done = resolve })
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ message }) => {
        got.push({ key: message.key.toString(), value: message.value.toString(), via: message.headers.via && message.headers.via.toString() })
        if (got.length >= N) done()
      },
    })
    await Promise.race([all, new Promise(resolve => setTimeout(resolve, 30000))])
  } catch (e) {
    check('consume in a group', false, `${e.name}: ${e.message}`)
  } finally { await consumer.disconnect() }
  const key = r => `${r.key}=${r.value}`
  const want = sent.map(m => key(m)).sort()
  const have = got.map(key).sort()
  check(`consume the ${N} records in a group (keys, values, headers)`,
    JSON.stringify(want) === JSON.stringify(have) && got.every(r => r.via === label), JSON.stringify(got))
  // Per key, in produce order (one key maps to one partition).
  const order = k => got.filter(r => r.key === k).map(r => r.value).join(',')
  check('per-key order kept', ['order-0', 'order-1', 'order-2', 'order-3'].every(k =>
    order(k) === sent.filter(m => m.key === k).map(m => m.value).join(',')), JSON.stringify(got))

  const admin2 = client.admin()
  try {
    await admin2.connect()
    const offs = await admin2.fetchOffsets({ groupId: `kafkajs-scram-${label}`, topics: [topic] })
    const committed = offs[0].partitions.reduce((s, p) => s + Number(p.offset), 0)
    check('group commits visible to the admin API', committed === N, JSON.stringify(offs))
  } catch (e) {
    check('group commits visible to the admin API', false, `${e.name}: ${e.message}`)
  } finally { await admin2.disconnect() }

  const bad = kafka('wrong-password').admin()
  try {
    await bad.connect()
    await bad.listTopics()
    check('wrong password refused', false, 'connected')
  } catch (e) {
    check('wrong password refused', e.name === 'KafkaJSSASLAuthenticationError' ||
      /SASL|[Aa]uthentication/.test(`${e.name} ${e.message}`), `${e.name}: ${e.message}`)
  } finally { await bad.disconnect().catch(() => {}) }
}

main().then(() => process.exit(failed ? 1 : 0), e => { console.log(`FAIL kafkajs ${label}: ${e.stack}`); process.exit(1) })
