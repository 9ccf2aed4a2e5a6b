// Licensed under the Apache License, Version 2.0.
// kafkajs driver: producer sends 3 keyed records with headers in one batch,
// then a group consumer reads them back and commits.
//   node kafkajs_client.js <bootstrap> <codec>
// Codecs: gzip is built in; snappy = kafkajs-snappy (raw snappy via snappyjs),
// lz4 = kafkajs-lz4 (pure-JS fallback of the `lz4` package; its native
// build script is not run), zstd = a small codec over @bokuweb/zstd-wasm
// (@kafkajs/zstd needs a native build).
const path = require('path')
const nm = path.join(__dirname, '..', 'node_modules')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require(path.join(nm, 'kafkajs'))
CompressionCodecs[CompressionTypes.Snappy] = require(path.join(nm, 'kafkajs-snappy'))
const LZ4Codec = require(path.join(nm, 'kafkajs-lz4'))
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec
const zstd = require(path.join(nm, '@bokuweb/zstd-wasm'))
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress (encoder) { await zstd.init(); return Buffer.from(zstd.compress(encoder.buffer, 3)) },
  async decompress (buffer) { await zstd.init(); return Buffer.from(zstd.decompress(buffer)) },
})

const [broker, codec] = process.argv.slice(2)
const topic = 'golden'
const types = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD }

async function main () {
  const kafka = new Kafka({ clientId: 'golden-kafkajs', brokers: [broker], logLevel: logLevel.WARN, retry: { retries: 2 } })
  const producer = kafka.producer({ allowAutoTopicCreation: true })
  await producer.connect()
  const messages = [0, 1, 2].map(i => ({
    key: `key-${i}`,
    value: `golden value ${i} from kafkajs, `.repeat(2),
    partition: 0,
    headers: { client: 'kafkajs', codec },
  }))
  console.log('produced', JSON.stringify(await producer.send({ topic, acks: -1, compression: types[codec], messages })))
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: 'golden-kafkajs', maxWaitTimeInMs: 500 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let got = 0
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${got} records`)), 30000)
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v.toString()]))
        console.log(`consumed offset=${message.offset} key=${message.key} value=${message.value} headers=${JSON.stringify(headers)}`)
        got++
        if (got >= 3) {
          await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }])
          clearTimeout(timer)
          resolve()
        }
      },
    }).catch(reject)
  })
  await consumer.disconnect()
}

main().catch(e => { console.error(e); process.exit(1) })
