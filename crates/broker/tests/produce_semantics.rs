//! Produce as Kafka 4.0's log validator answers it, over raw frames: broker-side recompression
//! (`compression.type`), LogAppendTime, the timestamp window and other per-record errors, old
//! message formats; and dynamic broker configs.

use bytes::Bytes;
use sluice_broker::{Broker, BrokerSettings, ListenerSettings, Server};
use sluice_protocol::ErrorCode;
use sluice_protocol::frame::{decode_response, encode_request};
use sluice_protocol::generated::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use sluice_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use sluice_protocol::generated::produce_response::PartitionProduceResponse;
use sluice_protocol::generated::{
    CreateTopicsRequest, FetchRequest, InitProducerIdRequest, ProduceRequest, RequestBody, RequestHeader, ResponseBody,
};
use sluice_protocol::records::{BatchBuilder, Compression, NewRecord, RecordBatch, TimestampType, batches};
use std::net::SocketAddr;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start_in(dir: &Path, tweak: impl FnOnce(&mut BrokerSettings)) -> (Server, TcpStream) {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let mut settings = BrokerSettings {
        listeners: vec![ListenerSettings {
            name: "PLAINTEXT".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised_host: None,
            advertised_port: None,
            security_protocol: sluice_broker::SecurityProtocol::Plaintext,
            sasl: None,
            tls: None,
            principal_mapper: None,
        }],
        ..Default::default()
    };
    tweak(&mut settings);
    let broker = Broker::open(settings, dir).expect("broker opens");
    let server = Server::start(broker).await.expect("server starts");
    let stream = TcpStream::connect(server.address("PLAINTEXT").unwrap()).await.unwrap();
    (server, stream)
}

async fn start() -> (Server, TcpStream) {
    let dir = tempfile::tempdir().unwrap();
    let started = start_in(dir.path(), |_| {}).await;
    // The directory lives as long as the test process; each test gets its own.
    std::mem::forget(dir);
    started
}

async fn call(s: &mut TcpStream, key: i16, version: i16, body: RequestBody) -> ResponseBody {
    let header = RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id: 7,
        client_id: Some("produce-test".into()),
        ..Default::default()
    };
    s.write_all(&encode_request(&header, &body).unwrap()).await.unwrap();
    let size = s.read_i32().await.unwrap();
    let mut frame = vec![0; size as usize];
    s.read_exact(&mut frame).await.unwrap();
    decode_response(Bytes::from(frame), key, version).unwrap().1
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn create_topic(s: &mut TcpStream, name: &str, configs: &[(&str, &str)]) {
    let body = RequestBody::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.into(),
            num_partitions: 1,
            replication_factor: 1,
            configs: configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig {
                    name: (*k).into(),
                    value: Some((*v).into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        timeout_ms: 5000,
        ..Default::default()
    });
    let ResponseBody::CreateTopics(r) = call(s, 19, 7, body).await else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

async fn produce_v(s: &mut TcpStream, version: i16, topic: &str, records: Bytes) -> PartitionProduceResponse {
    let body = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::Produce(r) = call(s, 0, version, body).await else {
        panic!()
    };
    r.responses[0].partition_responses[0].clone()
}

async fn produce(s: &mut TcpStream, topic: &str, records: Bytes) -> PartitionProduceResponse {
    produce_v(s, 9, topic, records).await
}

/// Every batch stored in partition 0 of `topic`.
async fn fetch_batches(s: &mut TcpStream, topic: &str) -> Vec<RecordBatch> {
    let body = RequestBody::Fetch(FetchRequest {
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::Fetch(r) = call(s, 1, 12, body).await else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    batches(p.records.clone().unwrap_or_default())
        .map(Result::unwrap)
        .collect()
}

fn batch(codec: Compression, timestamps: &[i64], keyed: bool) -> BatchBuilder {
    let mut b = BatchBuilder::new(0).compression(codec);
    for (i, ts) in timestamps.iter().enumerate() {
        let key = keyed.then(|| Bytes::from(format!("key-{i}")));
        b.append(&NewRecord::new(
            *ts,
            key,
            Some(Bytes::from(format!("value-{i}").repeat(20))),
        ))
        .unwrap();
    }
    b
}

#[tokio::test]
async fn topic_compression_type_recompresses_and_producer_keeps_the_bytes() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "zipped", &[("compression.type", "gzip")]).await;
    create_topic(&mut s, "asis", &[]).await;
    let now = now_ms();
    let sent = batch(Compression::Lz4, &[now - 2, now - 1, now], true).build().unwrap();

    let r = produce(&mut s, "asis", sent.as_bytes().clone()).await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    let stored = fetch_batches(&mut s, "asis").await;
    // Byte for byte, but for the two fields outside the CRC the log assigns (offset, epoch).
    assert_eq!(stored[0].as_bytes()[8..12], sent.as_bytes()[8..12]);
    assert_eq!(
        stored[0].as_bytes()[16..],
        sent.as_bytes()[16..],
        "stored byte for byte under compression.type=producer"
    );

    for round in 0..2i64 {
        let r = produce(&mut s, "zipped", sent.as_bytes().clone()).await;
        assert_eq!((r.error_code, r.base_offset), (0, round * 3));
    }
    let stored = fetch_batches(&mut s, "zipped").await;
    assert_eq!(stored.len(), 2);
    for (i, b) in stored.iter().enumerate() {
        b.verify_crc().expect("the recompressed batch has a correct CRC");
        assert_eq!(b.compression().unwrap(), Compression::Gzip);
        assert_eq!(b.header().base_offset, i as i64 * 3, "offsets assigned");
        assert_eq!(b.header().max_timestamp_ms, now, "timestamps kept");
        let records: Vec<_> = b.records(1 << 20).unwrap().map(Result::unwrap).collect();
        let original: Vec<_> = sent.records(1 << 20).unwrap().map(Result::unwrap).collect();
        assert_eq!(records.len(), 3);
        for (a, o) in records.iter().zip(&original) {
            assert_eq!((a.timestamp_ms, &a.key, &a.value), (o.timestamp_ms, &o.key, &o.value));
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn idempotent_retries_of_recompressed_batches_are_duplicates() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "idem-zstd", &[("compression.type", "zstd")]).await;
    let ResponseBody::InitProducerId(init) = call(
        &mut s,
        22,
        4,
        RequestBody::InitProducerId(InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(init.error_code, 0);
    let now = now_ms();
    let first = batch(Compression::None, &[now, now], true)
        .producer(init.producer_id, init.producer_epoch, 0)
        .build()
        .unwrap()
        .into_bytes();
    let second = batch(Compression::None, &[now], true)
        .producer(init.producer_id, init.producer_epoch, 2)
        .build()
        .unwrap()
        .into_bytes();
    let r = produce(&mut s, "idem-zstd", first.clone()).await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    let r = produce(&mut s, "idem-zstd", second).await;
    assert_eq!((r.error_code, r.base_offset), (0, 2));
    // The retry of the first batch is recognised although what is stored is zstd.
    let retry = produce(&mut s, "idem-zstd", first).await;
    assert_eq!((retry.error_code, retry.base_offset), (0, 0));
    let gap = batch(Compression::None, &[now], true)
        .producer(init.producer_id, init.producer_epoch, 9)
        .build()
        .unwrap()
        .into_bytes();
    assert_eq!(
        produce(&mut s, "idem-zstd", gap).await.error_code,
        ErrorCode::OutOfOrderSequenceNumber.code()
    );
    let stored = fetch_batches(&mut s, "idem-zstd").await;
    assert_eq!(stored.len(), 2, "the retry was not appended again");
    assert!(stored.iter().all(|b| b.compression().unwrap() == Compression::Zstd));
    assert_eq!(stored[1].header().base_sequence, 2);
    assert_eq!(stored[1].header().producer_id, init.producer_id);
    server.shutdown().await;
}

#[tokio::test]
async fn log_append_time_topics_stamp_the_broker_time() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "appended", &[("message.timestamp.type", "LogAppendTime")]).await;
    let before = now_ms();
    // A producer clock a day behind is no error: LogAppendTime replaces it.
    let r = produce(
        &mut s,
        "appended",
        batch(Compression::Snappy, &[before - 86_400_000], true)
            .build()
            .unwrap()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.error_code, 0);
    assert!(r.log_append_time_ms >= before, "{}", r.log_append_time_ms);
    let stored = fetch_batches(&mut s, "appended").await;
    let h = stored[0].header();
    assert_eq!(h.attributes.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(h.max_timestamp_ms, r.log_append_time_ms);
    let record = stored[0].records(1 << 20).unwrap().next().unwrap().unwrap();
    assert_eq!(record.timestamp_ms, r.log_append_time_ms);
    // A producer may not claim LogAppendTime itself.
    let claimed = batch(Compression::None, &[before], true)
        .log_append_time(before)
        .build()
        .unwrap()
        .into_bytes();
    let r = produce(&mut s, "appended", claimed).await;
    assert_eq!(r.error_code, ErrorCode::InvalidTimestamp.code());
    assert_eq!(r.record_errors.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn timestamps_outside_the_window_get_per_record_errors() {
    let (server, mut s) = start().await;
    create_topic(
        &mut s,
        "window",
        &[
            ("message.timestamp.before.max.ms", "60000"),
            ("message.timestamp.after.max.ms", "60000"),
        ],
    )
    .await;
    let now = now_ms();
    let records = batch(Compression::Gzip, &[now, now - 3_600_000, now + 3_600_000, now], true)
        .build()
        .unwrap()
        .into_bytes();
    let r = produce(&mut s, "window", records).await;
    assert_eq!(r.error_code, ErrorCode::InvalidTimestamp.code());
    assert_eq!(r.base_offset, -1);
    assert_eq!(
        r.error_message.as_deref(),
        Some("One or more records have been rejected due to invalid timestamp")
    );
    let indexes: Vec<i32> = r.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, vec![1, 2]);
    let message = r.record_errors[0].batch_index_error_message.clone().unwrap();
    assert!(message.contains("is out of range"), "{message}");
    assert!(
        fetch_batches(&mut s, "window").await.is_empty(),
        "nothing of the batch is stored"
    );
    // The broker default (log.message.timestamp.after.max.ms, one hour) applies without an override.
    create_topic(&mut s, "default-window", &[]).await;
    let future = batch(Compression::None, &[now + 7_200_000], true)
        .build()
        .unwrap()
        .into_bytes();
    let r = produce(&mut s, "default-window", future).await;
    assert_eq!(r.error_code, ErrorCode::InvalidTimestamp.code());
    server.shutdown().await;
}

#[tokio::test]
async fn compacted_topics_refuse_records_without_keys() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "compacted", &[("cleanup.policy", "compact")]).await;
    let now = now_ms();
    let r = produce(
        &mut s,
        "compacted",
        batch(Compression::None, &[now, now], false)
            .build()
            .unwrap()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.error_code, ErrorCode::InvalidRecord.code());
    assert_eq!(r.record_errors.len(), 2);
    assert!(
        r.error_message
            .unwrap()
            .starts_with("One or more records have been rejected due to 2 record errors in total")
    );
    let keyed = batch(Compression::None, &[now], true).build().unwrap().into_bytes();
    assert_eq!(produce(&mut s, "compacted", keyed).await.error_code, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn old_message_formats_and_extra_batches_are_invalid_records() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "formats", &[]).await;
    // A magic 1 message set: offset, size, crc, magic 1, attributes, timestamp, key, value.
    let mut message = Vec::new();
    message.extend_from_slice(&0i64.to_be_bytes());
    let body_len: i32 = 4 + 1 + 1 + 8 + 4 + 4 + 1;
    message.extend_from_slice(&body_len.to_be_bytes());
    message.extend_from_slice(&0u32.to_be_bytes());
    message.push(1);
    message.push(0);
    message.extend_from_slice(&now_ms().to_be_bytes());
    message.extend_from_slice(&(-1i32).to_be_bytes());
    message.extend_from_slice(&1i32.to_be_bytes());
    message.push(b'x');
    for version in [3, 9, 11] {
        let r = produce_v(&mut s, version, "formats", Bytes::from(message.clone())).await;
        assert_eq!(r.error_code, ErrorCode::InvalidRecord.code(), "v{version}");
        assert_eq!(r.error_message, None, "Kafka sends no message with this error");
    }
    // Two batches in one partition's records.
    let one = batch(Compression::None, &[now_ms()], true)
        .build()
        .unwrap()
        .into_bytes();
    let mut two = one.to_vec();
    two.extend_from_slice(&one);
    let r = produce(&mut s, "formats", Bytes::from(two)).await;
    assert_eq!(r.error_code, ErrorCode::InvalidRecord.code());
    // zstd before Produce v7.
    let zstd = batch(Compression::Zstd, &[now_ms()], true)
        .build()
        .unwrap()
        .into_bytes();
    let r = produce_v(&mut s, 6, "formats", zstd.clone()).await;
    assert_eq!(r.error_code, ErrorCode::UnsupportedCompressionType.code());
    assert_eq!(produce_v(&mut s, 7, "formats", zstd).await.error_code, 0);
    server.shutdown().await;
}

mod dynamic_configs {
    use super::*;
    use sluice_protocol::generated::alter_configs_request::{
        AlterConfigsResource as LegacyResource, AlterableConfig as LegacyConfig,
    };
    use sluice_protocol::generated::describe_configs_request::DescribeConfigsResource;
    use sluice_protocol::generated::describe_configs_response::DescribeConfigsResourceResult;
    use sluice_protocol::generated::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use sluice_protocol::generated::{AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest};

    const BROKER: i8 = 4;
    const TOPIC: i8 = 2;
    const SET: i8 = 0;
    const DELETE: i8 = 1;

    /// IncrementalAlterConfigs on one resource; returns its error code and message.
    async fn alter(s: &mut TcpStream, kind: i8, name: &str, ops: &[(&str, i8, &str)]) -> (i16, Option<String>) {
        let body = RequestBody::IncrementalAlterConfigs(IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: kind,
                resource_name: name.into(),
                configs: ops
                    .iter()
                    .map(|(k, op, v)| AlterableConfig {
                        name: (*k).into(),
                        config_operation: *op,
                        value: Some((*v).into()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        });
        let ResponseBody::IncrementalAlterConfigs(r) = call(s, 44, 1, body).await else {
            panic!()
        };
        (r.responses[0].error_code, r.responses[0].error_message.clone())
    }

    async fn describe(
        s: &mut TcpStream,
        kind: i8,
        name: &str,
        key: Option<&str>,
    ) -> (i16, Vec<DescribeConfigsResourceResult>) {
        let body = RequestBody::DescribeConfigs(DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: kind,
                resource_name: name.into(),
                configuration_keys: key.map(|k| vec![k.into()]),
                ..Default::default()
            }],
            include_synonyms: true,
            ..Default::default()
        });
        let ResponseBody::DescribeConfigs(r) = call(s, 32, 4, body).await else {
            panic!()
        };
        (r.results[0].error_code, r.results[0].configs.clone())
    }

    /// (value, source) of one described key.
    async fn value(s: &mut TcpStream, kind: i8, name: &str, key: &str) -> (Option<String>, i8) {
        let (code, configs) = describe(s, kind, name, Some(key)).await;
        assert_eq!(code, 0);
        (configs[0].value.clone(), configs[0].config_source)
    }

    /// One batch of about 1 KB, compressible far below that.
    fn big_batch() -> Bytes {
        let mut b = BatchBuilder::new(0);
        b.append(&NewRecord::new(now_ms(), None, Some(Bytes::from(vec![b'x'; 1000]))))
            .unwrap();
        b.build().unwrap().into_bytes()
    }

    #[tokio::test]
    async fn broker_configs_change_at_runtime_apply_to_topics_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (server, mut s) = start_in(dir.path(), |_| {}).await;
        create_topic(&mut s, "dyn", &[]).await;
        create_topic(&mut s, "pinned", &[("retention.ms", "1000")]).await;
        // Opens the partition, so the change below must reach an open log.
        assert_eq!(produce(&mut s, "dyn", big_batch()).await.error_code, 0);

        let ok = alter(
            &mut s,
            BROKER,
            "",
            &[
                ("log.retention.ms", SET, "3600000"),
                ("compression.type", SET, "gzip"),
                ("message.max.bytes", SET, "600"),
            ],
        )
        .await;
        assert_eq!(ok, (0, None));
        assert_eq!(
            value(&mut s, TOPIC, "dyn", "retention.ms").await,
            (Some("3600000".into()), 3),
            "DYNAMIC_DEFAULT_BROKER_CONFIG"
        );
        assert_eq!(
            value(&mut s, TOPIC, "pinned", "retention.ms").await,
            (Some("1000".into()), 1)
        );
        let topic = server.broker.topic_with_configs("dyn").unwrap();
        let partition = server.broker.logs.partition(&topic.0, 0, topic.1.as_ref()).unwrap();
        assert_eq!(
            partition.read().config().retention_ms,
            3_600_000,
            "the open log follows"
        );
        // message.max.bytes is now below the batch as sent (gzip would shrink it, but Kafka
        // checks the producer's batch): refused.
        let r = produce(&mut s, "dyn", big_batch()).await;
        assert_eq!(r.error_code, ErrorCode::MessageTooLarge.code());

        // This node's own value wins over the cluster default.
        assert_eq!(
            alter(&mut s, BROKER, "1", &[("log.retention.ms", SET, "7200000")])
                .await
                .0,
            0
        );
        assert_eq!(
            value(&mut s, BROKER, "1", "log.retention.ms").await,
            (Some("7200000".into()), 2),
            "DYNAMIC_BROKER_CONFIG"
        );
        let (_, configs) = describe(&mut s, BROKER, "1", Some("log.retention.ms")).await;
        let synonyms: Vec<(String, i8)> = configs[0].synonyms.iter().map(|s| (s.name.clone(), s.source)).collect();
        assert_eq!(
            synonyms,
            vec![
                ("log.retention.ms".into(), 2),
                ("log.retention.ms".into(), 3),
                ("log.retention.hours".into(), 5)
            ]
        );
        assert!(!configs[0].read_only);
        assert_eq!(
            value(&mut s, TOPIC, "dyn", "retention.ms").await,
            (Some("7200000".into()), 2)
        );
        // The cluster-default resource lists only what is set there.
        let (code, configs) = describe(&mut s, BROKER, "", None).await;
        assert_eq!(code, 0);
        let names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(configs.iter().all(|c| c.config_source == 3));

        server.shutdown().await;
        let (server, mut s) = start_in(dir.path(), |_| {}).await;
        assert_eq!(
            value(&mut s, TOPIC, "dyn", "retention.ms").await,
            (Some("7200000".into()), 2)
        );
        assert_eq!(
            value(&mut s, TOPIC, "dyn", "compression.type").await,
            (Some("gzip".into()), 3)
        );
        let r = produce(&mut s, "dyn", big_batch()).await;
        assert_eq!(r.error_code, ErrorCode::MessageTooLarge.code(), "after a restart too");

        // Deleting the values brings the static defaults back.
        assert_eq!(
            alter(&mut s, BROKER, "1", &[("log.retention.ms", DELETE, "")]).await.0,
            0
        );
        assert_eq!(
            alter(&mut s, BROKER, "", &[("message.max.bytes", DELETE, "")]).await.0,
            0
        );
        assert_eq!(
            value(&mut s, TOPIC, "dyn", "retention.ms").await,
            (Some("3600000".into()), 3)
        );
        let r = produce(&mut s, "dyn", big_batch()).await;
        assert_eq!(r.error_code, 0);
        let stored = fetch_batches(&mut s, "dyn").await;
        assert_eq!(
            stored.last().unwrap().compression().unwrap(),
            Compression::Gzip,
            "the broker-level compression.type applies to topics without an override"
        );
        server.shutdown().await;
        std::mem::forget(dir);
    }

    #[tokio::test]
    async fn broker_config_changes_kafka_refuses() {
        let (server, mut s) = start().await;
        let refused = |(code, message): (i16, Option<String>)| (code, message.unwrap_or_default());
        let (code, message) = refused(alter(&mut s, BROKER, "", &[("log.dirs", SET, "/elsewhere")]).await);
        assert_eq!(
            (code, message.as_str()),
            (
                ErrorCode::InvalidRequest.code(),
                "Cannot update these configs dynamically: Set(log.dirs)"
            )
        );
        let (code, message) = refused(alter(&mut s, BROKER, "2", &[("log.retention.ms", SET, "1")]).await);
        assert_eq!(
            (code, message.as_str()),
            (
                ErrorCode::InvalidRequest.code(),
                "Unexpected broker id, expected 1, but received 2"
            )
        );
        let (code, message) = refused(alter(&mut s, BROKER, "one", &[("log.retention.ms", SET, "1")]).await);
        assert_eq!(
            (code, message.as_str()),
            (
                ErrorCode::InvalidRequest.code(),
                "Node id must be an integer, but it is: one"
            )
        );
        let (code, message) = refused(alter(&mut s, BROKER, "", &[("log.retention.ms", SET, "soon")]).await);
        assert_eq!(code, ErrorCode::InvalidRequest.code());
        assert!(message.contains("log.retention.ms"), "{message}");
        let (code, message) = refused(
            alter(
                &mut s,
                BROKER,
                "",
                &[("log.retention.ms", SET, "1"), ("log.retention.ms", SET, "2")],
            )
            .await,
        );
        assert_eq!(
            (code, message.as_str()),
            (ErrorCode::InvalidRequest.code(), "Error due to duplicate config keys")
        );
        assert_eq!(
            alter(&mut s, BROKER, "", &[("log.retention.ms", 2, "1")]).await.0,
            ErrorCode::InvalidConfig.code(),
            "append only applies to lists"
        );
        assert_eq!(
            alter(&mut s, 8, "1", &[("root", SET, "DEBUG")]).await.0,
            ErrorCode::InvalidRequest.code(),
            "BROKER_LOGGER"
        );
        assert_eq!(
            describe(&mut s, BROKER, "3", None).await.0,
            ErrorCode::InvalidRequest.code()
        );
        // Nothing of the above was stored.
        let (code, configs) = describe(&mut s, BROKER, "", None).await;
        assert_eq!((code, configs.len()), (0, 0));

        // The legacy AlterConfigs replaces the resource's whole set.
        assert_eq!(
            alter(&mut s, BROKER, "", &[("log.retention.ms", SET, "60000")]).await.0,
            0
        );
        let legacy = RequestBody::AlterConfigs(AlterConfigsRequest {
            resources: vec![LegacyResource {
                resource_type: BROKER,
                resource_name: "".into(),
                configs: vec![LegacyConfig {
                    name: "log.cleanup.policy".into(),
                    value: Some("compact".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let ResponseBody::AlterConfigs(r) = call(&mut s, 33, 2, legacy).await else {
            panic!()
        };
        assert_eq!(r.responses[0].error_code, 0);
        let (_, configs) = describe(&mut s, BROKER, "", None).await;
        let names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["log.cleanup.policy"]);
        create_topic(&mut s, "after", &[]).await;
        assert_eq!(
            value(&mut s, TOPIC, "after", "cleanup.policy").await,
            (Some("compact".into()), 3)
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn idle_producer_ids_expire_after_producer_id_expiration_ms() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "expiring", &[]).await;
    let ResponseBody::InitProducerId(init) = call(
        &mut s,
        22,
        4,
        RequestBody::InitProducerId(InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    let at = |ts: i64, seq: i32| {
        batch(Compression::None, &[ts], true)
            .producer(init.producer_id, init.producer_epoch, seq)
            .build()
            .unwrap()
            .into_bytes()
    };
    // The last batch is two days old: past the default 1-day expiration.
    let old = now_ms() - 2 * 86_400_000;
    assert_eq!(produce(&mut s, "expiring", at(old, 0)).await.error_code, 0);
    assert_eq!(sluice_broker::maintenance::expire_producers(&server.broker), 1);
    // Forgotten: sequence 1 is out of order for a producer this partition does not know.
    assert_eq!(
        produce(&mut s, "expiring", at(now_ms(), 1)).await.error_code,
        ErrorCode::OutOfOrderSequenceNumber.code()
    );
    assert_eq!(produce(&mut s, "expiring", at(now_ms(), 0)).await.error_code, 0);
    assert_eq!(
        sluice_broker::maintenance::expire_producers(&server.broker),
        0,
        "a producer that just wrote stays"
    );
    server.shutdown().await;
}
