//! A real client against `sluice serve`: librdkafka 2.12 through the `rdkafka` crate. An idempotent
//! acks=all producer writes keyed records with headers in every codec, a consumer without a group
//! (manual assign) reads them back, and the admin client creates, describes, alters, grows, trims
//! and deletes topics; one producer keeps going across SIGTERM and SIGKILL restarts, also with
//! batches in flight. Consumer groups of three with each of librdkafka's assignors share the
//! partitions, commit after processing, and resume from their commits after a broker restart.
//! Each test starts its own broker on an ephemeral loopback port (restarts reuse
//! it).

mod common;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any single client call may take before the test fails instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A `sluice serve` child process; killed when dropped, so a failing assertion never leaves it
/// running.
struct Broker {
    /// The broker process, started by this test.
    child: Child,
    /// `host:port` the broker reported as bound (the port is ephemeral).
    addr: String,
}

impl Broker {
    /// Starts `sluice serve` on an ephemeral loopback port with its data in `data` and waits for
    /// it to be ready.
    fn start(data: &Path) -> Broker {
        Broker::start_on(data, "127.0.0.1:0")
    }

    /// Starts `sluice serve` listening on `listen` (`host:port`).
    fn start_on(data: &Path, listen: &str) -> Broker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            // A short initial rebalance delay keeps group tests quick; it does not change what
            // the group decides.
            .args([
                "serve",
                "-o",
                "num.partitions=3",
                "-o",
                "group.initial.rebalance.delay.ms=300",
                "-o",
                // KIP-848 members heartbeat at this interval; each revoke-then-assign step
                // takes one or two of them.
                "group.consumer.heartbeat.interval.ms=300",
                "-o",
            ])
            .arg(format!("listeners=PLAINTEXT://{listen}"))
            .arg("-o")
            .arg(format!("log.dirs={}", data.display()))
            .env("SLUICE_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("sluice starts");
        let addr = common::ready_address(&mut child, Duration::from_secs(30));
        Broker { child, addr }
    }

    /// Stops the broker with SIGTERM (asserting a clean exit), leaving this value to be replaced.
    fn stop_in_place(&mut self) {
        stop_child(&mut self.child);
    }

    /// Stops the broker with SIGTERM and asserts that it exits cleanly.
    fn stop(mut self) {
        stop_child(&mut self.child);
    }
}

fn stop_child(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            assert!(status.success(), "sluice exited with {status} on SIGTERM");
            return;
        }
        assert!(Instant::now() < deadline, "sluice did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(addr: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr)
        .set("broker.address.family", "v4")
        // Fail fast instead of retrying for minutes when something is wrong.
        .set("socket.timeout.ms", "20000");
    c
}

fn admin(addr: &str) -> AdminClient<DefaultClientContext> {
    config(addr).create().expect("admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(TIMEOUT))
        .request_timeout(Some(TIMEOUT))
}

/// An idempotent acks=all producer with the given codec.
fn producer(addr: &str, codec: &str) -> FutureProducer {
    config(addr)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.codec", codec)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer")
}

/// A consumer that never joins a group: librdkafka wants a group.id, but with assign() and no
/// commits it sends no group request.
fn consumer(addr: &str) -> BaseConsumer {
    config(addr)
        .set("group.id", "rdkafka-test-unused")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error")
        .create()
        .expect("consumer")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// One record as sent, and where the broker said it went.
#[derive(Clone, Debug, PartialEq)]
struct Sent {
    /// Partition named on send, or `None` for the partitioner's choice.
    partition: Option<i32>,
    /// Record key; unique per test, so reads can be matched to sends.
    key: Vec<u8>,
    /// Record value; `None` is a tombstone.
    value: Option<Vec<u8>>,
    /// Headers in order, values possibly null.
    headers: Vec<(String, Option<Vec<u8>>)>,
    /// CreateTime timestamp set on send, in ms.
    timestamp_ms: i64,
}

/// One record as read back.
#[derive(Clone, Debug, PartialEq)]
struct Read {
    /// Partition it was read from.
    partition: i32,
    /// Its offset there.
    offset: i64,
    /// Key as fetched.
    key: Vec<u8>,
    /// Value as fetched.
    value: Option<Vec<u8>>,
    /// Headers as fetched, in order.
    headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp and its type as fetched.
    timestamp: Timestamp,
}

/// The records one test sends in `codec`: keyed, with headers (one null-valued), every third to an
/// explicit partition, plus a tombstone, an empty value and a 200 KiB value. Timestamps strictly
/// increase in send order starting at `base_ms`.
fn plan(label: &str, codec: &str, base_ms: i64, partitions: i32) -> Vec<Sent> {
    let mut out = Vec::new();
    let count = 24;
    for i in 0..count + 3 {
        let value = match i {
            i if i == count => None,
            i if i == count + 1 => Some(Vec::new()),
            i if i == count + 2 => Some((0..200 * 1024).map(|j| (j * 7 % 251) as u8).collect()),
            i => Some(
                format!("value {i} of {label} in {codec} ")
                    .repeat(1 + i % 4)
                    .into_bytes(),
            ),
        };
        out.push(Sent {
            partition: (i % 3 == 0).then_some((i as i32 / 3) % partitions),
            key: format!("{label}-{codec}-{i}").into_bytes(),
            value,
            headers: vec![
                ("codec".into(), Some(codec.as_bytes().to_vec())),
                ("i".into(), Some(i.to_string().into_bytes())),
                ("null".into(), None),
            ],
            timestamp_ms: base_ms + i as i64,
        });
    }
    out
}

/// Sends `records` in order through one producer (all in flight together) and returns where each
/// landed as (partition, offset), in send order.
async fn produce(producer: &FutureProducer, topic: &str, records: &[Sent]) -> Vec<(i32, i64)> {
    let mut futures = Vec::new();
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &r.headers {
            headers = headers.insert(Header {
                key: key.as_str(),
                value: value.as_deref(),
            });
        }
        let mut record = FutureRecord::<[u8], [u8]>::to(topic)
            .key(&r.key[..])
            .headers(headers)
            .timestamp(r.timestamp_ms);
        if let Some(v) = &r.value {
            record = record.payload(&v[..]);
        }
        if let Some(p) = r.partition {
            record = record.partition(p);
        }
        futures.push(producer.send_result(record).map_err(|(e, _)| e).expect("enqueued"));
    }
    let mut out = Vec::new();
    for f in futures {
        let delivery = f
            .await
            .expect("delivery reported")
            .map_err(|(e, _)| e)
            .expect("delivered");
        out.push((delivery.partition, delivery.offset));
    }
    out
}

/// Reads every partition of `topic` from `start` up to its high watermark, with manual assign.
fn read_all(addr: &str, topic: &str, partitions: i32, start: Offset) -> Vec<Read> {
    let c = consumer(addr);
    let mut ends = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        let (_, high) = c.fetch_watermarks(topic, p, TIMEOUT).expect("watermarks");
        ends.insert(p, high);
        tpl.add_partition_offset(topic, p, start).unwrap();
    }
    c.assign(&tpl).expect("assign");
    let mut positions: BTreeMap<i32, i64> = ends.keys().map(|p| (*p, -1)).collect();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ends.iter().any(|(p, end)| positions[p] + 1 < *end) {
        assert!(
            Instant::now() < deadline,
            "timed out: read up to {positions:?}, ends {ends:?}"
        );
        let Some(m) = c.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = m.expect("fetch succeeds");
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        got.push(Read {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().expect("every record has a key").to_vec(),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: m.timestamp(),
        });
        positions.insert(m.partition(), m.offset());
    }
    got
}

/// Checks that `read` holds exactly `sent` (landed at `delivered`), field by field, and that
/// each partition holds its records in send order at increasing offsets.
fn assert_read_back(sent: &[Sent], delivered: &[(i32, i64)], read: &[Read]) {
    assert_eq!(read.len(), sent.len(), "records read back");
    let by_key: BTreeMap<&[u8], &Read> = read.iter().map(|r| (&r.key[..], r)).collect();
    assert_eq!(by_key.len(), read.len(), "no record read twice");
    for (s, (partition, offset)) in sent.iter().zip(delivered) {
        let r = by_key
            .get(&s.key[..])
            .unwrap_or_else(|| panic!("{} missing", String::from_utf8_lossy(&s.key)));
        let what = String::from_utf8_lossy(&s.key);
        assert_eq!(r.value, s.value, "value of {what}");
        assert_eq!(r.headers, s.headers, "headers of {what}");
        assert_eq!(
            r.timestamp,
            Timestamp::CreateTime(s.timestamp_ms),
            "timestamp of {what}"
        );
        assert_eq!((r.partition, r.offset), (*partition, *offset), "position of {what}");
        if let Some(p) = s.partition {
            assert_eq!(r.partition, p, "explicit partition of {what}");
        }
    }
    // Send order within a partition is offset order (idempotence keeps it even with retries).
    let order: BTreeMap<&[u8], usize> = sent.iter().enumerate().map(|(i, s)| (&s.key[..], i)).collect();
    let mut partitions: BTreeMap<i32, Vec<&Read>> = BTreeMap::new();
    for r in read {
        partitions.entry(r.partition).or_default().push(r);
    }
    for (p, mut rs) in partitions {
        rs.sort_by_key(|r| r.offset);
        let seq: Vec<usize> = rs.iter().map(|r| order[&r.key[..]]).collect();
        assert!(seq.is_sorted(), "partition {p} is out of send order: {seq:?}");
    }
}

async fn create_topic(addr: &str, name: &str, partitions: i32) {
    let results = admin(addr)
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &options(),
        )
        .await
        .expect("CreateTopics answered");
    assert_eq!(results, vec![Ok(name.to_owned())]);
}

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

#[tokio::test]
async fn idempotent_producer_in_every_codec_and_manual_assign_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let topic = "codecs";
    create_topic(&broker.addr, topic, 3).await;

    let base_ms = now_ms() - 60_000;
    let mut sent = Vec::new();
    let mut delivered = Vec::new();
    for (n, codec) in CODECS.iter().enumerate() {
        let records = plan("rdkafka", codec, base_ms + 1000 * n as i64, 3);
        let p = producer(&broker.addr, codec);
        delivered.extend(produce(&p, topic, &records).await);
        p.flush(TIMEOUT).expect("flush");
        sent.extend(records);
    }
    let read = read_all(&broker.addr, topic, 3, Offset::Beginning);
    assert_read_back(&sent, &delivered, &read);

    // Watermarks: every partition starts at 0 and ends after its records.
    let c = consumer(&broker.addr);
    for p in 0..3 {
        let count = read.iter().filter(|r| r.partition == p).count() as i64;
        assert!(count > 0, "partition {p} got records");
        assert_eq!(
            c.fetch_watermarks(topic, p, TIMEOUT).unwrap(),
            (0, count),
            "partition {p}"
        );
    }

    // offsets_for_times: timestamps strictly increase in send order, so the first offset at or
    // after a record's timestamp in its partition is that record's offset.
    let mut query = TopicPartitionList::new();
    let mut want = BTreeMap::new();
    for p in 0..3 {
        let mut in_p: Vec<&Read> = read.iter().filter(|r| r.partition == p).collect();
        in_p.sort_by_key(|r| r.offset);
        let middle = in_p[in_p.len() / 2];
        let Timestamp::CreateTime(ts) = middle.timestamp else {
            panic!("CreateTime expected")
        };
        query.add_partition_offset(topic, p, Offset::Offset(ts)).unwrap();
        want.insert(p, Offset::Offset(middle.offset));
    }
    let answer = c.offsets_for_times(query, TIMEOUT).expect("ListOffsets by time");
    let got: BTreeMap<i32, Offset> = answer.elements().iter().map(|e| (e.partition(), e.offset())).collect();
    assert_eq!(got, want);

    let mut before = TopicPartitionList::new();
    let mut future = TopicPartitionList::new();
    for p in 0..3 {
        before
            .add_partition_offset(topic, p, Offset::Offset(base_ms - 1))
            .unwrap();
        future
            .add_partition_offset(topic, p, Offset::Offset(now_ms() + 3_600_000))
            .unwrap();
    }
    let before = c.offsets_for_times(before, TIMEOUT).unwrap();
    assert!(
        before.elements().iter().all(|e| e.offset() == Offset::Offset(0)),
        "{before:?}"
    );
    let future = c.offsets_for_times(future, TIMEOUT).unwrap();
    assert!(
        future.elements().iter().all(|e| e.offset() == Offset::End),
        "{future:?}"
    );

    // Metadata names this broker as the leader of every partition, at the address it bound.
    let md = c.fetch_metadata(Some(topic), TIMEOUT).expect("metadata");
    assert_eq!(md.brokers().len(), 1);
    let b = &md.brokers()[0];
    assert_eq!(format!("{}:{}", b.host(), b.port()), broker.addr);
    let t = &md.topics()[0];
    assert_eq!((t.name(), t.error()), (topic, None));
    let mut leaders: Vec<(i32, i32)> = t.partitions().iter().map(|p| (p.id(), p.leader())).collect();
    leaders.sort();
    assert_eq!(leaders, vec![(0, b.id()), (1, b.id()), (2, b.id())]);
    broker.stop();
}

/// The error code of a failed admin result for one resource.
fn topic_error(result: &Result<String, (String, RDKafkaErrorCode)>) -> Option<RDKafkaErrorCode> {
    result.as_ref().err().map(|(_, code)| *code)
}

#[tokio::test]
async fn admin_client_creates_describes_alters_grows_trims_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let a = admin(&broker.addr);
    let c = consumer(&broker.addr);

    // validate_only checks and creates nothing.
    let probe = NewTopic::new("probe", 2, TopicReplication::Fixed(1)).set("retention.ms", "3600000");
    let res = a.create_topics(&[probe], &options().validate_only(true)).await.unwrap();
    assert_eq!(res, vec![Ok("probe".to_owned())]);
    let md = c.fetch_metadata(None, TIMEOUT).unwrap();
    assert!(
        md.topics().iter().all(|t| t.name() != "probe"),
        "validate_only created the topic"
    );

    // Create with configs; a second create and a bad config value are refused with Kafka's codes.
    let topic = "admin";
    let new = NewTopic::new(topic, 2, TopicReplication::Fixed(1))
        .set("retention.ms", "3600000")
        .set("cleanup.policy", "compact");
    assert_eq!(
        a.create_topics(&[new], &options()).await.unwrap(),
        vec![Ok(topic.to_owned())]
    );
    let again = NewTopic::new(topic, 2, TopicReplication::Fixed(1));
    let res = a.create_topics(&[again], &options()).await.unwrap();
    assert_eq!(topic_error(&res[0]), Some(RDKafkaErrorCode::TopicAlreadyExists));
    let bad = NewTopic::new("bad-config", 1, TopicReplication::Fixed(1)).set("cleanup.policy", "sometimes");
    let res = a.create_topics(&[bad], &options()).await.unwrap();
    assert_eq!(topic_error(&res[0]), Some(RDKafkaErrorCode::InvalidConfig));

    // DescribeConfigs: the overrides are dynamic topic configs, the rest defaults.
    let describe = |name: &'static str| {
        let a = &a;
        async move {
            let mut res = a
                .describe_configs(&[ResourceSpecifier::Topic(name)], &options())
                .await
                .expect("DescribeConfigs answered");
            res.pop().unwrap().expect("topic described")
        }
    };
    let cfg = describe(topic).await;
    let retention = cfg.get("retention.ms").expect("retention.ms described");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert_eq!(cfg.get("cleanup.policy").unwrap().value.as_deref(), Some("compact"));
    let segment = cfg.get("segment.bytes").expect("segment.bytes described");
    assert_eq!(segment.source, ConfigSource::Default);
    let res = a
        .describe_configs(&[ResourceSpecifier::Topic("no-such-topic")], &options())
        .await
        .unwrap();
    // The rdkafka crate drops per-resource errors of DescribeConfigs (every resource comes back
    // Ok); what it does show is that the broker described nothing for a topic it does not have.
    let unknown = res[0].as_ref().expect("the crate reports resources as Ok");
    assert!(unknown.entries.is_empty(), "{unknown:?}");
    let res = a
        .describe_configs(&[ResourceSpecifier::Broker(b_id(&c))], &options())
        .await
        .unwrap();
    let broker_cfg = res[0].as_ref().expect("broker described");
    assert_eq!(
        broker_cfg.get("num.partitions").and_then(|e| e.value.as_deref()),
        Some("3"),
        "the -o override shows"
    );

    // AlterConfigs (not incremental) replaces the whole set: cleanup.policy falls back to its default.
    let alter = AlterConfig::new(ResourceSpecifier::Topic(topic)).set("retention.ms", "7200000");
    a.alter_configs(&[alter], &options()).await.unwrap();
    let cfg = describe(topic).await;
    assert_eq!(cfg.get("retention.ms").unwrap().value.as_deref(), Some("7200000"));
    let policy = cfg.get("cleanup.policy").unwrap();
    assert_eq!(
        (policy.value.as_deref(), &policy.source),
        (Some("delete"), &ConfigSource::Default)
    );
    let alter = AlterConfig::new(ResourceSpecifier::Topic(topic)).set("retention.ms", "soon");
    // The crate reports every AlterConfigs resource as Ok (it drops their error codes), so the
    // refusal shows in what DescribeConfigs returns afterwards.
    a.alter_configs(&[alter], &options()).await.unwrap();
    assert_eq!(
        describe(topic).await.get("retention.ms").unwrap().value.as_deref(),
        Some("7200000"),
        "a refused alter changes nothing"
    );

    // CreatePartitions: 2 -> 4; shrinking is refused.
    let res = a
        .create_partitions(&[NewPartitions::new(topic, 4)], &options())
        .await
        .unwrap();
    assert_eq!(res, vec![Ok(topic.to_owned())]);
    let md = c.fetch_metadata(Some(topic), TIMEOUT).unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 4);
    let res = a
        .create_partitions(&[NewPartitions::new(topic, 3)], &options())
        .await
        .unwrap();
    assert_eq!(topic_error(&res[0]), Some(RDKafkaErrorCode::InvalidPartitions));
    // The new partition takes records.
    let p = producer(&broker.addr, "lz4");
    let records: Vec<Sent> = plan("grown", "lz4", now_ms() - 10_000, 4)
        .into_iter()
        .take(12)
        .map(|s| Sent {
            partition: Some(3),
            ..s
        })
        .collect();
    let delivered = produce(&p, topic, &records).await;
    assert_eq!(delivered, (0..12).map(|o| (3, o)).collect::<Vec<_>>());

    // DeleteRecords: the low watermark moves and a consumer from the beginning starts there.
    let mut trim = TopicPartitionList::new();
    trim.add_partition_offset(topic, 3, Offset::Offset(5)).unwrap();
    let res = a
        .delete_records(&trim, &options())
        .await
        .expect("DeleteRecords answered");
    let e = &res.elements()[0];
    assert_eq!(
        (e.error(), e.offset()),
        (Ok(()), Offset::Offset(5)),
        "new low watermark"
    );
    assert_eq!(c.fetch_watermarks(topic, 3, TIMEOUT).unwrap(), (5, 12));
    let read = read_all(&broker.addr, topic, 4, Offset::Beginning);
    let offsets: Vec<i64> = read.iter().filter(|r| r.partition == 3).map(|r| r.offset).collect();
    assert_eq!(offsets, (5..12).collect::<Vec<_>>());
    assert_eq!(read[0].key, records[5].key);
    let mut beyond = TopicPartitionList::new();
    beyond.add_partition_offset(topic, 3, Offset::Offset(13)).unwrap();
    let res = a.delete_records(&beyond, &options()).await.unwrap();
    assert_eq!(
        res.elements()[0].error(),
        Err(KafkaError::OffsetFetch(RDKafkaErrorCode::OffsetOutOfRange)),
        "past the high watermark"
    );
    // Offset::End (-1 on the wire) means the high watermark.
    let mut all = TopicPartitionList::new();
    all.add_partition_offset(topic, 3, Offset::End).unwrap();
    let res = a.delete_records(&all, &options()).await.unwrap();
    assert_eq!(res.elements()[0].offset(), Offset::Offset(12));
    assert_eq!(c.fetch_watermarks(topic, 3, TIMEOUT).unwrap(), (12, 12));

    // DeleteTopics: gone from metadata; deleting it again is UNKNOWN_TOPIC_OR_PARTITION.
    let res = a.delete_topics(&[topic], &options()).await.unwrap();
    assert_eq!(res, vec![Ok(topic.to_owned())]);
    let md = c.fetch_metadata(None, TIMEOUT).unwrap();
    assert!(
        md.topics().iter().all(|t| t.name() != topic),
        "deleted topic still listed"
    );
    let res = a.delete_topics(&[topic], &options()).await.unwrap();
    assert_eq!(topic_error(&res[0]), Some(RDKafkaErrorCode::UnknownTopicOrPartition));
    broker.stop();
}

/// This broker's node id, from metadata.
fn b_id(c: &BaseConsumer) -> i32 {
    c.fetch_metadata(None, TIMEOUT).unwrap().brokers()[0].id()
}

#[tokio::test]
async fn one_idempotent_producer_keeps_going_across_broker_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    // Restarts reuse the port, so the same producer (same producer id, sequences continuing)
    // reconnects to the restarted broker, which must have rebuilt its producer state from the log.
    let addr = broker.addr.clone();
    let topic = "restart";
    create_topic(&addr, topic, 3).await;
    let base_ms = now_ms() - 60_000;
    let p = producer(&addr, "zstd");
    let rounds = ["before", "after-sigterm", "before-sigkill", "after-sigkill"];
    let mut sent = Vec::new();
    let mut delivered = Vec::new();
    let mut broker = Some(broker);
    for (n, label) in rounds.iter().enumerate() {
        match n {
            1 => {
                broker.take().unwrap().stop();
                broker = Some(Broker::start_on(dir.path(), &addr));
            }
            3 => {
                // SIGKILL: everything acknowledged with acks=all must still be there.
                drop(broker.take());
                broker = Some(Broker::start_on(dir.path(), &addr));
            }
            _ => {}
        }
        let records = plan(label, "zstd", base_ms + 1000 * n as i64, 3);
        delivered.extend(produce(&p, topic, &records).await);
        sent.extend(records);
    }
    let read = read_all(&addr, topic, 3, Offset::Beginning);
    assert_read_back(&sent, &delivered, &read);
    // Offsets continue after each restart rather than starting over: dense from 0 per partition.
    for p in 0..3 {
        let mut offsets: Vec<i64> = read.iter().filter(|r| r.partition == p).map(|r| r.offset).collect();
        offsets.sort();
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>(), "partition {p}");
    }
    drop(p);
    broker.take().unwrap().stop();
}

#[tokio::test]
async fn topic_limits_and_log_append_time_as_librdkafka_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let a = admin(&broker.addr);
    let topics = [
        NewTopic::new("small", 1, TopicReplication::Fixed(1)).set("max.message.bytes", "2000"),
        NewTopic::new("appended", 1, TopicReplication::Fixed(1)).set("message.timestamp.type", "LogAppendTime"),
    ];
    let res = a.create_topics(&topics, &options()).await.unwrap();
    assert_eq!(res, vec![Ok("small".to_owned()), Ok("appended".to_owned())]);
    let p = producer(&broker.addr, "none");

    // A batch over the topic's max.message.bytes: MESSAGE_TOO_LARGE, and nothing is stored (the
    // next record gets offset 0).
    let big = vec![7u8; 4000];
    let err = p
        .send(FutureRecord::<[u8], [u8]>::to("small").key(b"k").payload(&big), TIMEOUT)
        .await
        .expect_err("the broker refuses it")
        .0;
    assert_eq!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge),
        "{err}"
    );
    // A record that fits is accepted afterwards (the idempotent producer is not fenced by it).
    let ok = p
        .send(
            FutureRecord::<[u8], [u8]>::to("small").key(b"k").payload(b"fits"),
            TIMEOUT,
        )
        .await
        .expect("a small record is accepted");
    assert_eq!((ok.partition, ok.offset), (0, 0));

    // LogAppendTime: the broker's clock replaces the producer's timestamp, for the delivery
    // report and for consumers.
    let before_ms = now_ms();
    let old_ms = before_ms - 120_000;
    let sent = p
        .send(
            FutureRecord::<[u8], [u8]>::to("appended")
                .key(b"k")
                .payload(b"v")
                .timestamp(old_ms),
            TIMEOUT,
        )
        .await
        .expect("delivered");
    let after_ms = now_ms();
    let read = read_all(&broker.addr, "appended", 1, Offset::Beginning);
    assert_eq!(read.len(), 1);
    let Timestamp::LogAppendTime(ts) = read[0].timestamp else {
        panic!("LogAppendTime expected, got {:?}", read[0].timestamp)
    };
    assert!(
        (before_ms..=after_ms).contains(&ts),
        "{ts} not in {before_ms}..={after_ms}"
    );
    assert_eq!(
        sent.timestamp,
        Timestamp::LogAppendTime(ts),
        "delivery report timestamp"
    );

    // Reading past the end: the broker answers OFFSET_OUT_OF_RANGE, which librdkafka with
    // auto.offset.reset=error reports as its own _AUTO_OFFSET_RESET error.
    let c = consumer(&broker.addr);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("small", 0, Offset::Offset(50)).unwrap();
    c.assign(&tpl).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let err = loop {
        assert!(Instant::now() < deadline, "no error for a fetch past the end");
        match c.poll(Duration::from_millis(500)) {
            Some(Err(e)) => break e,
            Some(Ok(m)) => panic!("unexpected record at offset {}", m.offset()),
            None => {}
        }
    };
    assert_eq!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::AutoOffsetReset),
        "{err}"
    );
    broker.stop();
}

#[tokio::test]
async fn sigkill_with_batches_in_flight_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let addr = broker.addr.clone();
    let topic = "inflight";
    create_topic(&addr, topic, 3).await;
    let p = config(&addr)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.codec", "zstd")
        .set("linger.ms", "2")
        .set("batch.num.messages", "200")
        .set("message.timeout.ms", "60000")
        .create::<FutureProducer>()
        .expect("producer");
    let total = 20_000usize;
    let send = |i: usize| {
        let key = (i % 5).to_string();
        let value = i.to_string();
        p.send_result(FutureRecord::to(topic).key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .expect("enqueued")
    };
    // Enqueue half, kill the broker while those batches are in flight (some written, some
    // acknowledged, some neither), restart it on the same port, enqueue the rest. librdkafka
    // retries whatever was not acknowledged with the same sequence numbers; the restarted broker
    // must accept what it lost and drop as duplicates what it had kept.
    let mut futures: Vec<_> = (0..total / 2).map(send).collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    drop(broker);
    let broker = Broker::start_on(dir.path(), &addr);
    futures.extend((total / 2..total).map(send));
    for f in futures {
        f.await
            .expect("delivery reported")
            .map_err(|(e, _)| e)
            .expect("delivered");
    }

    let read = read_all(&addr, topic, 3, Offset::Beginning);
    let mut by_key: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
    for r in &read {
        let value: usize = String::from_utf8(r.value.clone().unwrap()).unwrap().parse().unwrap();
        by_key.entry(r.key.clone()).or_default().push(value);
    }
    let mut all: Vec<usize> = by_key.values().flatten().copied().collect();
    all.sort();
    assert_eq!(all.len(), total, "records stored");
    assert!(all.iter().copied().eq(0..total), "every record exactly once");
    // Records with one key go to one partition; read in offset order they are in send order.
    for (key, values) in &by_key {
        assert!(values.is_sorted(), "key {key:?} out of order");
    }
    drop(p);
    broker.stop();
}

/// A group member with `assignor`, committing manually after processing.
fn group_member(addr: &str, group: &str, assignor: &str) -> BaseConsumer {
    config(addr)
        .set("group.id", group)
        .set("partition.assignment.strategy", assignor)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "300")
        .create()
        .expect("group consumer")
}

/// Records whose commit the broker refused because a rebalance overtook it.
static REFUSED_COMMITS: std::sync::Mutex<Vec<(i32, i64)>> = std::sync::Mutex::new(Vec::new());

/// Polls every member once; each record is counted and committed right after "processing". A
/// commit that a rebalance overtakes is refused with ILLEGAL_GENERATION or REBALANCE_IN_PROGRESS,
/// on Kafka too; such a record may legitimately be delivered again, so it is remembered.
fn poll_members<C: ConsumerContext>(members: &[&BaseConsumer<C>], seen: &mut BTreeMap<(i32, i64), u32>) {
    for m in members {
        match m.poll(Duration::from_millis(50)) {
            Some(Ok(msg)) => {
                *seen.entry((msg.partition(), msg.offset())).or_default() += 1;
                match m.commit_message(&msg, CommitMode::Sync) {
                    Ok(()) => {}
                    Err(KafkaError::ConsumerCommit(
                        RDKafkaErrorCode::IllegalGeneration | RDKafkaErrorCode::RebalanceInProgress,
                    )) => REFUSED_COMMITS.lock().unwrap().push((msg.partition(), msg.offset())),
                    Err(e) => panic!("commit failed: {e}"),
                }
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
}

/// A KIP-848 group member (`group.protocol=consumer`) with server assignor `assignor`,
/// committing manually after processing.
fn consumer_protocol_member(addr: &str, group: &str, assignor: &str) -> BaseConsumer {
    config(addr)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("group.remote.assignor", assignor)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer protocol member")
}

/// Polls every member once, committing each record right after it is "processed"; with
/// KIP-848 no commit is refused, since a member revokes a partition only after processing.
fn poll_848(members: &[&BaseConsumer], seen: &mut BTreeMap<(i32, i64), u32>) {
    for m in members {
        match m.poll(Duration::from_millis(50)) {
            Some(Ok(msg)) => {
                *seen.entry((msg.partition(), msg.offset())).or_default() += 1;
                m.commit_message(&msg, CommitMode::Sync).expect("commit");
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
}

async fn produce_plain(addr: &str, topic: &str, from: usize, to: usize) {
    let p = producer(addr, "none");
    for i in from..to {
        let key = format!("k{i}");
        let value = format!("v{i}");
        p.send(FutureRecord::to(topic).key(&key).payload(&value), TIMEOUT)
            .await
            .expect("delivered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_of_three_share_partitions_with_each_assignor_and_resume_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(data.path());
    for assignor in ["range", "roundrobin", "cooperative-sticky"] {
        let topic = format!("grouped-{assignor}");
        let group = format!("group-{assignor}");
        create_topic(&broker.addr, &topic, 6).await;
        produce_plain(&broker.addr, &topic, 0, 600).await;
        let addr = broker.addr.clone();
        let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();

        // One member alone takes every partition.
        let a = group_member(&addr, &group, assignor);
        a.subscribe(&[topic.as_str()]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < 100 {
            assert!(
                Instant::now() < deadline,
                "{assignor}: a single member consumed {}",
                seen.len()
            );
            poll_members(&[&a], &mut seen);
        }
        // Two more join: the group rebalances and all three share the rest.
        let b = group_member(&addr, &group, assignor);
        let c = group_member(&addr, &group, assignor);
        b.subscribe(&[topic.as_str()]).unwrap();
        c.subscribe(&[topic.as_str()]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut assigned = [0usize; 3];
        while seen.len() < 600 || assigned.contains(&0) {
            assert!(
                Instant::now() < deadline,
                "{assignor}: consumed {} of 600, assignments {assigned:?}",
                seen.len()
            );
            poll_members(&[&a, &b, &c], &mut seen);
            for (i, m) in [&a, &b, &c].iter().enumerate() {
                assigned[i] = m.assignment().map(|l| l.count()).unwrap_or(0);
            }
        }
        assert_eq!(
            assigned.iter().sum::<usize>(),
            6,
            "{assignor}: every partition assigned once"
        );
        // One leaves gracefully; the others take over its partitions and the new records.
        drop(b);
        produce_plain(&addr, &topic, 600, 660).await;
        let deadline = Instant::now() + Duration::from_secs(90);
        while seen.len() < 660 {
            assert!(
                Instant::now() < deadline,
                "{assignor}: after a leave consumed {}",
                seen.len()
            );
            poll_members(&[&a, &c], &mut seen);
        }
        let refused = REFUSED_COMMITS.lock().unwrap().clone();
        let twice: Vec<_> = seen
            .iter()
            .filter(|(record, n)| **n > 1 && !refused.contains(record))
            .collect();
        assert!(
            twice.is_empty(),
            "{assignor}: processed twice across graceful rebalances: {twice:?}"
        );
        drop(a);
        drop(c);
    }

    // Restart: the commits come back, so a new member of each group resumes exactly after them.
    broker.stop_in_place();
    broker = Broker::start(data.path());
    for assignor in ["range", "roundrobin", "cooperative-sticky"] {
        let topic = format!("grouped-{assignor}");
        let group = format!("group-{assignor}");
        produce_plain(&broker.addr, &topic, 660, 670).await;
        let m = group_member(&broker.addr, &group, assignor);
        m.subscribe(&[topic.as_str()]).unwrap();
        let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < 10 {
            assert!(
                Instant::now() < deadline,
                "{assignor}: after restart consumed {}",
                seen.len()
            );
            poll_members(&[&m], &mut seen);
        }
        // Nothing before the commits is read again.
        let extra = Instant::now() + Duration::from_secs(2);
        while Instant::now() < extra {
            poll_members(&[&m], &mut seen);
        }
        assert_eq!(seen.len(), 10, "{assignor}: only the 10 new records after the restart");
    }
}

/// Counts the rebalances a consumer goes through (librdkafka calls this before every revoke and
/// every assign), so a test can tell that nothing moved.
struct CountingContext(Arc<AtomicUsize>);

impl ClientContext for CountingContext {}

impl ConsumerContext for CountingContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A static member (KIP-345) of `group` with `instance`, counting its rebalances in `count`.
fn static_member(addr: &str, group: &str, instance: &str, count: Arc<AtomicUsize>) -> BaseConsumer<CountingContext> {
    config(addr)
        .set("group.id", group)
        .set("group.instance.id", instance)
        .set("partition.assignment.strategy", "range")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "300")
        .create_with_context(CountingContext(count))
        .expect("static member")
}

/// The partitions a consumer holds now.
fn assigned<C: ConsumerContext>(c: &BaseConsumer<C>) -> BTreeSet<i32> {
    c.assignment()
        .map(|l| l.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

/// A static member that restarts within its session timeout gets its partitions back without a
/// rebalance (KIP-345): the other member is never revoked, and the restarted one resumes from
/// its commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarts_within_its_session_and_gets_its_partitions_back_without_a_rebalance() {
    let data = tempfile::tempdir().unwrap();
    let broker = Broker::start(data.path());
    let (topic, group) = ("static-topic", "static-group");
    create_topic(&broker.addr, topic, 4).await;
    produce_plain(&broker.addr, topic, 0, 200).await;
    let (a_count, b_count) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let a = static_member(&broker.addr, group, "static-a", a_count.clone());
    let b = static_member(&broker.addr, group, "static-b", b_count);
    a.subscribe(&[topic]).unwrap();
    b.subscribe(&[topic]).unwrap();
    let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 200 || assigned(&a).len() != 2 || assigned(&b).len() != 2 {
        assert!(Instant::now() < deadline, "consumed {} of 200", seen.len());
        poll_members(&[&a, &b], &mut seen);
    }
    let (a_partitions, b_partitions) = (assigned(&a), assigned(&b));
    let a_rebalances = a_count.load(Ordering::SeqCst);

    // b goes away: a static member's close sends no LeaveGroup, so the group waits for it.
    drop(b);
    produce_plain(&broker.addr, topic, 200, 260).await;
    let restarted = Instant::now();
    let b = static_member(&broker.addr, group, "static-b", Arc::new(AtomicUsize::new(0)));
    b.subscribe(&[topic]).unwrap();
    while seen.len() < 260 {
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "after the restart consumed {} of 260 within the session timeout",
            seen.len()
        );
        poll_members(&[&a, &b], &mut seen);
    }
    assert_eq!(
        assigned(&b),
        b_partitions,
        "the restarted member got its partitions back"
    );
    // A little longer: a rebalance would show up as a revoke on a.
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        poll_members(&[&a, &b], &mut seen);
    }
    assert_eq!(assigned(&a), a_partitions, "the other member kept its partitions");
    assert_eq!(
        a_count.load(Ordering::SeqCst),
        a_rebalances,
        "the other member went through no rebalance"
    );
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "the restarted member resumed from its commits: {twice:?}"
    );
}

/// A kcat (librdkafka 2.0.2) group member that auto-commits what it printed; the test kills it
/// with SIGKILL, so it neither leaves the group nor commits what it printed last.
struct KcatMember {
    /// The kcat process, started by this test.
    child: Child,
    /// (partition, offset) of every record it printed, in order.
    printed: Arc<std::sync::Mutex<Vec<(i32, i64)>>>,
}

impl KcatMember {
    fn start(addr: &str, group: &str, topic: &str) -> KcatMember {
        let mut child = Command::new("kcat")
            .args(["-b", addr, "-G", group, topic, "-q", "-u", "-f", "%p %o\\n"])
            .args([
                "-X",
                "broker.address.family=v4",
                "-X",
                "partition.assignment.strategy=range",
            ])
            .args(["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=300"])
            .args(["-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=300"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kcat runs (scripts/test.sh installs it)");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let printed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = printed.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let mut fields = line.split_whitespace().map(|f| f.parse::<i64>());
                if let (Some(Ok(p)), Some(Ok(o))) = (fields.next(), fields.next()) {
                    sink.lock().unwrap().push((p as i32, o));
                }
            }
        });
        KcatMember { child, printed }
    }

    fn printed(&self) -> Vec<(i32, i64)> {
        self.printed.lock().unwrap().clone()
    }
}

impl Drop for KcatMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A member killed with SIGKILL: once its session expires the survivor takes its partitions
/// and gets exactly the records after the killed member's last commit again (the ones it had
/// processed without committing), and none before it; no record is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_s_uncommitted_records_are_redelivered_and_only_those() {
    let data = tempfile::tempdir().unwrap();
    let broker = Broker::start(data.path());
    let (topic, group) = ("killed-topic", "killed-group");
    create_topic(&broker.addr, topic, 6).await;
    produce_plain(&broker.addr, topic, 0, 300).await;
    let a = group_member(&broker.addr, group, "range");
    a.subscribe(&[topic]).unwrap();
    let k = KcatMember::start(&broker.addr, group, topic);
    // Both share the partitions and everything produced so far is processed.
    let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        poll_members(&[&a], &mut seen);
        let all: BTreeSet<(i32, i64)> = seen.keys().copied().chain(k.printed()).collect();
        if assigned(&a).len() == 3 && !k.printed().is_empty() && all.len() == 300 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a group of two processed {} of 300",
            all.len()
        );
    }
    let k_partitions: BTreeSet<i32> = (0..6).filter(|p| !assigned(&a).contains(p)).collect();
    // kcat auto-commits what it printed (librdkafka 2.0.2 fires its first auto-commit seconds
    // after the assignment, whatever the interval): wait until the group holds its commits.
    let committed_now = |a: &BaseConsumer| -> BTreeMap<i32, i64> {
        let mut wanted = TopicPartitionList::new();
        for p in &k_partitions {
            wanted.add_partition(topic, *p);
        }
        a.committed_offsets(wanted, TIMEOUT)
            .unwrap()
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset().to_raw().unwrap_or(-1).max(0)))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while committed_now(&a).values().all(|o| *o == 0) {
        assert!(Instant::now() < deadline, "kcat committed nothing");
        poll_members(&[&a], &mut seen);
    }
    // More records; kill kcat as soon as it has printed some of them, before it commits them all.
    let before = k.printed().len();
    produce_plain(&broker.addr, topic, 300, 600).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while k.printed().len() == before {
        assert!(Instant::now() < deadline, "kcat printed nothing more");
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut k = k;
    k.child.kill().unwrap();
    k.child.wait().unwrap();
    let printed = k.printed();
    assert!(
        printed.iter().all(|(p, _)| k_partitions.contains(p)),
        "kcat printed only its own partitions"
    );
    // What the group committed for kcat's partitions when it died.
    let committed = committed_now(&a);
    eprintln!(
        "kcat partitions {k_partitions:?}, printed {} (first {:?}, last {:?}), committed {committed:?}",
        printed.len(),
        printed.first(),
        printed.last()
    );
    assert!(
        committed.values().any(|o| *o > 0),
        "kcat committed something before it died: {committed:?}"
    );

    // The survivor takes over once kcat's session expires, and reads from the commits: every
    // record of kcat's partitions from the committed offsets on comes to it.
    let before_kill = seen.clone();
    let taken_over = |seen: &BTreeMap<(i32, i64), u32>| -> BTreeSet<(i32, i64)> {
        seen.iter()
            .filter(|(record, n)| k_partitions.contains(&record.0) && before_kill.get(record) != Some(n))
            .map(|(record, _)| *record)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        poll_members(&[&a], &mut seen);
        let all: BTreeSet<(i32, i64)> = seen.keys().copied().chain(printed.iter().copied()).collect();
        let due = all
            .iter()
            .filter(|(p, o)| committed.get(p).is_some_and(|from| o >= from))
            .count();
        if all.len() == 600 && assigned(&a).len() == 6 && taken_over(&seen).len() >= due {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the kill {} of 600 processed, {} of {due} taken over",
            all.len(),
            taken_over(&seen).len()
        );
    }
    // A little longer: anything from before the commits would show up now.
    let settle = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle {
        poll_members(&[&a], &mut seen);
    }
    let taken_over = taken_over(&seen);
    for (p, from) in &committed {
        let first = taken_over.iter().filter(|(q, _)| q == p).map(|(_, o)| *o).min();
        assert!(
            first.is_none() || first == Some(*from),
            "partition {p}: the survivor started at {first:?}, the commit was {from}"
        );
    }
    // Records kcat printed and the survivor got again: exactly kcat's uncommitted ones.
    let again: BTreeSet<(i32, i64)> = printed.iter().copied().filter(|r| taken_over.contains(r)).collect();
    let uncommitted: BTreeSet<(i32, i64)> = printed.iter().copied().filter(|(p, o)| *o >= committed[p]).collect();
    assert_eq!(again, uncommitted, "redelivered exactly what kcat had not committed");
    drop(a);
    broker.stop();
}

/// Polls members like [`poll_members`], but a broker that restarts underneath may fail a poll
/// or a commit with a transport or coordinator error: such a commit's record may come back.
fn poll_members_across_restart<C: ConsumerContext>(
    members: &[&BaseConsumer<C>],
    seen: &mut BTreeMap<(i32, i64), u32>,
    refused: &mut BTreeSet<(i32, i64)>,
) {
    for m in members {
        if let Some(Ok(msg)) = m.poll(Duration::from_millis(50)) {
            let record = (msg.partition(), msg.offset());
            *seen.entry(record).or_default() += 1;
            if m.commit_message(&msg, CommitMode::Sync).is_err() {
                refused.insert(record);
            }
        }
    }
}

/// The broker restarts while a third member joins a group of two: the group comes back from
/// `__consumer_offsets`, all three end up with partitions, no record is lost, and only records
/// whose commit failed around the restart are processed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_in_the_middle_of_a_rebalance_loses_no_commit() {
    let data = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(data.path());
    let addr = broker.addr.clone();
    let (topic, group) = ("restart-topic", "restart-group");
    create_topic(&addr, topic, 6).await;
    produce_plain(&addr, topic, 0, 300).await;
    let a = group_member(&addr, group, "range");
    let b = group_member(&addr, group, "range");
    a.subscribe(&[topic]).unwrap();
    b.subscribe(&[topic]).unwrap();
    let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    let mut refused: BTreeSet<(i32, i64)> = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 300 || assigned(&a).is_empty() || assigned(&b).is_empty() {
        assert!(Instant::now() < deadline, "a group of two consumed {}", seen.len());
        poll_members_across_restart(&[&a, &b], &mut seen, &mut refused);
    }
    // A third member joins: the group starts rebalancing, and the broker goes down meanwhile.
    let c = group_member(&addr, group, "range");
    c.subscribe(&[topic]).unwrap();
    let joining = Instant::now() + Duration::from_millis(400);
    while Instant::now() < joining {
        poll_members_across_restart(&[&a, &b, &c], &mut seen, &mut refused);
    }
    broker.stop_in_place();
    broker = Broker::start_on(data.path(), &addr);
    produce_plain(&addr, topic, 300, 600).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen.len() < 600 || [&a, &b, &c].iter().any(|m| assigned(*m).is_empty()) {
        assert!(
            Instant::now() < deadline,
            "after the restart consumed {} of 600, assignments {:?}",
            seen.len(),
            [&a, &b, &c].map(|m| assigned(m).len())
        );
        poll_members_across_restart(&[&a, &b, &c], &mut seen, &mut refused);
    }
    let total: usize = [&a, &b, &c].iter().map(|m| assigned(*m).len()).sum();
    assert_eq!(total, 6, "every partition assigned once");
    let twice: Vec<_> = seen
        .iter()
        .filter(|(record, n)| **n > 1 && !refused.contains(record))
        .collect();
    assert!(twice.is_empty(), "processed twice with a successful commit: {twice:?}");
    drop((a, b, c));
    broker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_groups_scale_without_duplicates_and_resume_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(data.path());
    for assignor in ["uniform", "range"] {
        let topic = format!("kip848-{assignor}");
        let group = format!("kip848-group-{assignor}");
        create_topic(&broker.addr, &topic, 6).await;
        produce_plain(&broker.addr, &topic, 0, 600).await;
        let addr = broker.addr.clone();
        let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
        let a = consumer_protocol_member(&addr, &group, assignor);
        a.subscribe(&[topic.as_str()]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < 100 {
            assert!(
                Instant::now() < deadline,
                "{assignor}: one member consumed {}",
                seen.len()
            );
            poll_848(&[&a], &mut seen);
        }
        // Two more join; all three share the partitions, two each.
        let b = consumer_protocol_member(&addr, &group, assignor);
        let c = consumer_protocol_member(&addr, &group, assignor);
        b.subscribe(&[topic.as_str()]).unwrap();
        c.subscribe(&[topic.as_str()]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut assigned = [0usize; 3];
        while seen.len() < 600 || assigned != [2, 2, 2] {
            assert!(
                Instant::now() < deadline,
                "{assignor}: consumed {} of 600, assignments {assigned:?}",
                seen.len()
            );
            poll_848(&[&a, &b, &c], &mut seen);
            for (i, m) in [&a, &b, &c].iter().enumerate() {
                assigned[i] = m.assignment().map(|l| l.count()).unwrap_or(0);
            }
        }
        // One leaves; the others take over its partitions and the new records.
        drop(b);
        produce_plain(&addr, &topic, 600, 660).await;
        let deadline = Instant::now() + Duration::from_secs(90);
        while seen.len() < 660 {
            assert!(
                Instant::now() < deadline,
                "{assignor}: after a leave consumed {}",
                seen.len()
            );
            poll_848(&[&a, &c], &mut seen);
        }
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{assignor}: processed twice: {twice:?}");
        drop(a);
        drop(c);
    }
    // Restart: the group and its commits come back; a new member resumes after the commits.
    broker.stop_in_place();
    broker = Broker::start(data.path());
    for assignor in ["uniform", "range"] {
        let topic = format!("kip848-{assignor}");
        let group = format!("kip848-group-{assignor}");
        produce_plain(&broker.addr, &topic, 660, 670).await;
        let m = consumer_protocol_member(&broker.addr, &group, assignor);
        m.subscribe(&[topic.as_str()]).unwrap();
        let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < 10 {
            assert!(
                Instant::now() < deadline,
                "{assignor}: after restart consumed {}",
                seen.len()
            );
            poll_848(&[&m], &mut seen);
        }
        let extra = Instant::now() + Duration::from_secs(2);
        while Instant::now() < extra {
            poll_848(&[&m], &mut seen);
        }
        assert_eq!(seen.len(), 10, "{assignor}: only the 10 new records after the restart");
    }
    broker.stop();
}
