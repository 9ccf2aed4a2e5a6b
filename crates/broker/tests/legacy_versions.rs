//! The protocol versions Kafka 4 dropped (KIP-896), served as Kafka 3.x on KRaft served them,
//! over raw frames: Produce v0-2 legacy message sets up-converted, Fetch v0-3 down-converted,
//! OffsetCommit v0-1, OffsetFetch v0, ListOffsets v0's offset lists, JoinGroup v0's timeout.

mod common;

use bytes::Bytes;
use common::{call, connect, start_with};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use sluice_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::generated::fetch_response::PartitionData;
use sluice_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use sluice_protocol::generated::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use sluice_protocol::generated::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use sluice_protocol::generated::offset_fetch_request::OffsetFetchRequestTopic;
use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use sluice_protocol::generated::produce_response::PartitionProduceResponse;
use sluice_protocol::generated::{
    ApiVersionsRequest, CreateTopicsRequest, FetchRequest, JoinGroupRequest, ListOffsetsRequest, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, RequestBody, ResponseBody, SyncGroupRequest,
};
use sluice_protocol::records::legacy::{LegacyMessage, MAGIC_V0, MAGIC_V1, decode_legacy, encode_legacy};
use sluice_protocol::records::{
    BatchBuilder, Compression, NO_TIMESTAMP, NewRecord, RecordBatch, TimestampType, batches,
};
use tokio::net::TcpStream;

const CAP_BYTES: usize = 1 << 20;

async fn start() -> (sluice_broker::Server, TcpStream) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |s| s.groups.initial_rebalance_delay_ms = 0).await;
    // The directory lives as long as the test process; each test gets its own.
    std::mem::forget(dir);
    let stream = connect(&server).await;
    (server, stream)
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
        acks: 1,
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

async fn fetch_v(s: &mut TcpStream, version: i16, topic: &str, offset: i64) -> PartitionData {
    let body = RequestBody::Fetch(FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::Fetch(r) = call(s, 1, version, body).await else {
        panic!()
    };
    r.responses[0].partitions[0].clone()
}

async fn stored_batches(s: &mut TcpStream, topic: &str) -> Vec<RecordBatch> {
    let p = fetch_v(s, 12, topic, 0).await;
    assert_eq!(p.error_code, 0);
    batches(p.records.unwrap_or_default()).map(Result::unwrap).collect()
}

fn legacy(magic: i8, codec: Compression, messages: &[(Option<&str>, &str, i64)]) -> Bytes {
    let messages: Vec<LegacyMessage> = messages
        .iter()
        .enumerate()
        .map(|(i, (k, v, ts))| LegacyMessage {
            offset: i as i64,
            timestamp_ms: *ts,
            key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
        })
        .collect();
    let mut out = Vec::new();
    encode_legacy(&mut out, magic, codec, TimestampType::CreateTime, &messages).unwrap();
    Bytes::from(out)
}

/// (offset, key, value, timestamp) of every record stored.
async fn stored_records(s: &mut TcpStream, topic: &str) -> Vec<(i64, Option<Bytes>, Option<Bytes>, i64)> {
    let mut out = Vec::new();
    for b in stored_batches(s, topic).await {
        assert_eq!(b.header().magic, 2, "the log holds only record batches");
        for r in b.records(CAP_BYTES).unwrap() {
            let r = r.unwrap();
            out.push((r.offset, r.key, r.value, r.timestamp_ms));
        }
    }
    out
}

fn b(s: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(s.as_bytes()))
}

#[tokio::test]
async fn produce_v0_to_v2_up_converts_legacy_message_sets() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "up", &[]).await;
    let ts = now_ms();
    // Magic 0 (no timestamps), gzip, over Produce v0.
    let r = produce_v(
        &mut s,
        0,
        "up",
        legacy(MAGIC_V0, Compression::Gzip, &[(Some("a"), "1", 0), (None, "2", 0)]),
    )
    .await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    // Magic 1 with timestamps, snappy, over Produce v2; and uncompressed over v1.
    let r = produce_v(
        &mut s,
        2,
        "up",
        legacy(MAGIC_V1, Compression::Snappy, &[(Some("b"), "3", ts)]),
    )
    .await;
    assert_eq!((r.error_code, r.base_offset, r.log_append_time_ms), (0, 2, -1));
    let r = produce_v(
        &mut s,
        1,
        "up",
        legacy(MAGIC_V1, Compression::None, &[(Some("c"), "4", ts + 1)]),
    )
    .await;
    assert_eq!((r.error_code, r.base_offset), (0, 3));
    let want = vec![
        (0, b("a"), b("1"), NO_TIMESTAMP),
        (1, None, b("2"), NO_TIMESTAMP),
        (2, b("b"), b("3"), ts),
        (3, b("c"), b("4"), ts + 1),
    ];
    assert_eq!(stored_records(&mut s, "up").await, want);
    // The producer's codec is kept when the topic says `producer`.
    let codecs: Vec<Compression> = stored_batches(&mut s, "up")
        .await
        .iter()
        .map(|b| b.compression().unwrap())
        .collect();
    assert_eq!(codecs, vec![Compression::Gzip, Compression::Snappy, Compression::None]);
    server.shutdown().await;
}

#[tokio::test]
async fn up_converted_sets_pass_the_topics_rules() {
    let (server, mut s) = start().await;
    create_topic(
        &mut s,
        "rules",
        &[("compression.type", "lz4"), ("cleanup.policy", "compact")],
    )
    .await;
    // A compacted topic refuses a message without a key.
    let r = produce_v(
        &mut s,
        2,
        "rules",
        legacy(MAGIC_V1, Compression::None, &[(None, "x", now_ms())]),
    )
    .await;
    assert_eq!(r.error_code, ErrorCode::InvalidRecord.code());
    // The topic's codec is applied.
    let r = produce_v(
        &mut s,
        2,
        "rules",
        legacy(MAGIC_V1, Compression::Gzip, &[(Some("k"), "x", now_ms())]),
    )
    .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        stored_batches(&mut s, "rules").await[0].compression().unwrap(),
        Compression::Lz4
    );
    // A damaged message is CORRUPT_MESSAGE.
    let mut bad = legacy(MAGIC_V1, Compression::None, &[(Some("k"), "x", now_ms())]).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let r = produce_v(&mut s, 2, "rules", Bytes::from(bad)).await;
    assert_eq!(r.error_code, ErrorCode::CorruptMessage.code());
    // A timestamp two hours ahead (message.timestamp.after.max.ms is one hour) is refused as
    // for a record batch.
    let ahead = now_ms() + 7_200_000;
    let set = legacy(MAGIC_V1, Compression::None, &[(Some("k"), "x", ahead)]);
    let r = produce_v(&mut s, 2, "rules", set).await;
    assert_eq!(r.error_code, ErrorCode::InvalidTimestamp.code());
    server.shutdown().await;
}

fn keyed_batch(base: i64, codec: Compression, ts: i64, n: usize) -> Bytes {
    let mut bb = BatchBuilder::new(base).compression(codec);
    for i in 0..n {
        let record = NewRecord::new(ts + i as i64, b(&format!("k{i}")), b(&format!("v{i}"))).with_header("h", b("x"));
        bb.append(&record).unwrap();
    }
    bb.build().unwrap().into_bytes()
}

#[tokio::test]
async fn fetch_v0_to_v3_down_convert_to_the_versions_format() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "down", &[]).await;
    let ts = now_ms();
    assert_eq!(
        produce_v(&mut s, 9, "down", keyed_batch(0, Compression::Snappy, ts, 3))
            .await
            .error_code,
        0
    );
    assert_eq!(
        produce_v(&mut s, 9, "down", keyed_batch(0, Compression::None, ts, 2))
            .await
            .error_code,
        0
    );
    for (version, magic) in [(0, MAGIC_V0), (1, MAGIC_V0), (2, MAGIC_V1), (3, MAGIC_V1)] {
        let p = fetch_v(&mut s, version, "down", 0).await;
        assert_eq!((p.error_code, p.high_watermark), (0, 5), "v{version}");
        let records = p.records.unwrap();
        assert_eq!(records[16] as i8, magic, "v{version}");
        let set = decode_legacy(records, CAP_BYTES).unwrap();
        assert_eq!(set.magic, magic);
        let got: Vec<(i64, Option<Bytes>, Option<Bytes>, i64)> = set
            .messages
            .into_iter()
            .map(|m| (m.offset, m.key, m.value, m.timestamp_ms))
            .collect();
        let stamp = |i: i64| if magic == MAGIC_V0 { NO_TIMESTAMP } else { ts + i };
        let want = vec![
            (0, b("k0"), b("v0"), stamp(0)),
            (1, b("k1"), b("v1"), stamp(1)),
            (2, b("k2"), b("v2"), stamp(2)),
            (3, b("k0"), b("v0"), stamp(0)),
            (4, b("k1"), b("v1"), stamp(1)),
        ];
        assert_eq!(got, want, "v{version}");
    }
    // From the middle of a batch: the records before the fetch offset are left out.
    let p = fetch_v(&mut s, 2, "down", 1).await;
    let offsets: Vec<i64> = decode_legacy(p.records.unwrap(), CAP_BYTES)
        .unwrap()
        .messages
        .iter()
        .map(|m| m.offset)
        .collect();
    assert_eq!(offsets, vec![1, 2, 3, 4]);
    // Modern versions still get the stored batches as they are.
    assert_eq!(fetch_v(&mut s, 4, "down", 0).await.records.unwrap()[16], 2);
    server.shutdown().await;
}

#[tokio::test]
async fn down_conversion_keeps_log_append_time_and_refuses_zstd() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "lat", &[("message.timestamp.type", "LogAppendTime")]).await;
    let r = produce_v(&mut s, 9, "lat", keyed_batch(0, Compression::Gzip, 5, 2)).await;
    assert_eq!(r.error_code, 0);
    let set = decode_legacy(fetch_v(&mut s, 3, "lat", 0).await.records.unwrap(), CAP_BYTES).unwrap();
    assert_eq!(set.timestamp_type, TimestampType::LogAppendTime);
    assert!(set.messages.iter().all(|m| m.timestamp_ms == r.log_append_time_ms));

    create_topic(&mut s, "z", &[]).await;
    assert_eq!(
        produce_v(&mut s, 9, "z", keyed_batch(0, Compression::Zstd, now_ms(), 1))
            .await
            .error_code,
        0
    );
    let p = fetch_v(&mut s, 3, "z", 0).await;
    assert_eq!(p.error_code, ErrorCode::UnsupportedCompressionType.code());
    assert_eq!(p.records.unwrap_or_default().len(), 0);

    // A topic whose compression.type is zstd is refused to every client before Fetch v10.
    create_topic(&mut s, "zt", &[("compression.type", "zstd")]).await;
    let ok = produce_v(&mut s, 9, "zt", keyed_batch(0, Compression::None, now_ms(), 1)).await;
    assert_eq!(ok.error_code, 0);
    for version in [0, 3, 9] {
        let p = fetch_v(&mut s, version, "zt", 0).await;
        assert_eq!(p.error_code, ErrorCode::UnsupportedCompressionType.code(), "v{version}");
    }
    assert_eq!(fetch_v(&mut s, 10, "zt", 0).await.error_code, 0);
    server.shutdown().await;
}

fn commit_request(topic: &str, offset: i64, generation: i32) -> RequestBody {
    RequestBody::OffsetCommit(OffsetCommitRequest {
        group_id: "old".into(),
        generation_id_or_member_epoch: generation,
        member_id: String::new(),
        topics: vec![OffsetCommitRequestTopic {
            name: topic.into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                commit_timestamp: -1,
                committed_metadata: Some("m".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn fetch_offsets_request(topic: &str) -> RequestBody {
    RequestBody::OffsetFetch(OffsetFetchRequest {
        group_id: "old".into(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: topic.into(),
            partition_indexes: vec![0],
            ..Default::default()
        }]),
        ..Default::default()
    })
}

#[tokio::test]
async fn offset_commit_v1_is_kept_and_v0_is_unsupported_as_on_kraft() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "oc", &[]).await;
    // v1 from outside group management (generation -1), as sarama 1.22 commits.
    let ResponseBody::OffsetCommit(r) = call(&mut s, 8, 1, commit_request("oc", 42, -1)).await else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let ResponseBody::OffsetFetch(r) = call(&mut s, 9, 1, fetch_offsets_request("oc")).await else {
        panic!()
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!(
        (p.error_code, p.committed_offset, p.metadata.as_deref()),
        (0, 42, Some("m"))
    );
    // v0 offsets lived in ZooKeeper: Kafka 3.x on KRaft answers UNSUPPORTED_VERSION.
    let ResponseBody::OffsetCommit(r) = call(&mut s, 8, 0, commit_request("oc", 50, -1)).await else {
        panic!()
    };
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::UnsupportedVersion.code()
    );
    // ... after the topic checks: an unknown topic is still UNKNOWN_TOPIC_OR_PARTITION.
    let ResponseBody::OffsetCommit(r) = call(&mut s, 8, 0, commit_request("nope", 50, -1)).await else {
        panic!()
    };
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    let ResponseBody::OffsetFetch(r) = call(&mut s, 9, 0, fetch_offsets_request("oc")).await else {
        panic!()
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!(
        (p.error_code, p.committed_offset),
        (ErrorCode::UnsupportedVersion.code(), -1)
    );
    // The v0 commit changed nothing.
    let ResponseBody::OffsetFetch(r) = call(&mut s, 9, 1, fetch_offsets_request("oc")).await else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].committed_offset, 42);
    server.shutdown().await;
}

async fn list_offsets_v0(s: &mut TcpStream, topic: &str, timestamp: i64, max: i32) -> Vec<i64> {
    let body = RequestBody::ListOffsets(ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: topic.into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                timestamp,
                max_num_offsets: max,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::ListOffsets(r) = call(s, 2, 0, body).await else {
        panic!()
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.old_style_offsets.clone()
}

#[tokio::test]
async fn list_offsets_v0_lists_segment_starts_and_the_end() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "lo", &[]).await;
    assert_eq!(list_offsets_v0(&mut s, "lo", -1, 1).await, vec![0]);
    assert_eq!(
        produce_v(&mut s, 9, "lo", keyed_batch(0, Compression::None, now_ms(), 7))
            .await
            .error_code,
        0
    );
    assert_eq!(list_offsets_v0(&mut s, "lo", -1, 1).await, vec![7]);
    assert_eq!(list_offsets_v0(&mut s, "lo", -1, 5).await, vec![7, 0]);
    assert_eq!(list_offsets_v0(&mut s, "lo", -2, 5).await, vec![0]);
    // A time before the segment's file was written: nothing; long after: as latest.
    assert_eq!(list_offsets_v0(&mut s, "lo", 1, 5).await, Vec::<i64>::new());
    assert_eq!(list_offsets_v0(&mut s, "lo", now_ms() + 60_000, 5).await, vec![7, 0]);
    assert_eq!(list_offsets_v0(&mut s, "lo", -1, 0).await, Vec::<i64>::new());
    server.shutdown().await;
}

#[tokio::test]
async fn join_group_v0_members_get_the_session_timeout_to_sync() {
    let (server, mut s) = start().await;
    let join = RequestBody::JoinGroup(JoinGroupRequest {
        group_id: "g0".into(),
        session_timeout_ms: 10_000,
        member_id: String::new(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::JoinGroup(j) = call(&mut s, 11, 0, join).await else {
        panic!()
    };
    assert_eq!(j.error_code, 0);
    // Some time passes before SyncGroup, as with a real client; the member must still exist.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let sync = RequestBody::SyncGroup(SyncGroupRequest {
        group_id: "g0".into(),
        generation_id: j.generation_id,
        member_id: j.member_id.clone(),
        ..Default::default()
    });
    let ResponseBody::SyncGroup(r) = call(&mut s, 14, 0, sync).await else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn api_versions_advertise_the_legacy_versions() {
    let (server, mut s) = start().await;
    let ResponseBody::ApiVersions(r) =
        call(&mut s, 18, 0, RequestBody::ApiVersions(ApiVersionsRequest::default())).await
    else {
        panic!()
    };
    let min = |key: i16| r.api_keys.iter().find(|k| k.api_key == key).map(|k| k.min_version);
    for key in [0, 1, 2, 3, 8, 9, 11] {
        assert_eq!(min(key), Some(0), "api key {key}");
    }
    server.shutdown().await;
}

/// Sends `body` as `key` v`version` on a fresh connection and reads one response; `None` if the
/// broker closed the connection instead of answering.
async fn answered(server: &sluice_broker::Server, key: i16, version: i16, body: &RequestBody) -> Option<ResponseBody> {
    use sluice_protocol::frame::{decode_response, encode_request};
    use sluice_protocol::generated::RequestHeader;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = connect(server).await;
    let header = RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id: 99,
        client_id: Some("legacy-sweep".into()),
        ..Default::default()
    };
    s.write_all(&encode_request(&header, body).ok()?).await.ok()?;
    let size = s.read_i32().await.ok()?;
    let mut buf = vec![0; usize::try_from(size).ok()?];
    s.read_exact(&mut buf).await.ok()?;
    let (h, _) = decode_response(Bytes::from(buf.clone()), key, version).ok()?;
    assert_eq!(h.correlation_id, 99);
    decode_response(Bytes::from(buf), key, version).ok().map(|r| r.1)
}

#[tokio::test]
async fn every_served_pre_kip_896_version_is_answered() {
    let (server, _s) = start().await;
    let mut swept = 0;
    for served in sluice_broker::handlers::SERVED {
        let info = sluice_protocol::api(served.key).expect("known api");
        let Some((_, legacy_max)) = info.legacy_versions else {
            continue;
        };
        // Produce with the all-zero body is acks=0, which has no response by design.
        if served.key == 0 {
            continue;
        }
        for version in served.min_version..=legacy_max.min(served.max_version) {
            // The smallest body: every string and array empty, every number 0.
            let mut zeros = Bytes::from(vec![0u8; 512]);
            let body = RequestBody::decode(served.key, version, &mut zeros)
                .unwrap_or_else(|e| panic!("{} v{version}: {e}", info.name));
            assert!(
                answered(&server, served.key, version, &body).await.is_some(),
                "{} v{version} was not answered",
                info.name
            );
            swept += 1;
        }
    }
    // Fetch v0-3, OffsetCommit v0-1, OffsetFetch v0, ListOffsets v0, CreateTopics v0-1,
    // OffsetForLeaderEpoch v0-1, and v0 of DeleteTopics, the three ACL APIs, DescribeConfigs and
    // DescribeLogDirs.
    assert!(swept >= 18, "only {swept} versions swept");
    server.shutdown().await;
}
