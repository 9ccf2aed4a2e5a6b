//! Client quotas over raw frames: AlterClientQuotas and DescribeClientQuotas (every version,
//! validate_only, restart), the produce byte rate's throttle time and channel mute, and the
//! controller mutation quota, strict and permissive.

mod common;

use bytes::Bytes;
use common::{call, connect, start_with};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::alter_client_quotas_request::{EntityData, EntryData, OpData};
use sluice_protocol::generated::create_topics_request::CreatableTopic;
use sluice_protocol::generated::describe_client_quotas_request::ComponentData;
use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use sluice_protocol::generated::{
    AlterClientQuotasRequest, CreateTopicsRequest, DescribeClientQuotasRequest, MetadataRequest, ProduceRequest,
    RequestBody, RequestHeader, ResponseBody,
};
use sluice_protocol::records::{BatchBuilder, NewRecord};
use std::time::{Duration, Instant};

/// The client id `common::call` sends.
const CLIENT: &str = "raw-group-test";

fn alter(entity: &[(&str, Option<&str>)], ops: &[(&str, f64)], validate_only: bool) -> RequestBody {
    RequestBody::AlterClientQuotas(AlterClientQuotasRequest {
        entries: vec![EntryData {
            entity: entity
                .iter()
                .map(|(t, n)| EntityData {
                    entity_type: t.to_string(),
                    entity_name: n.map(str::to_owned),
                    ..Default::default()
                })
                .collect(),
            ops: ops
                .iter()
                .map(|(k, v)| OpData {
                    key: k.to_string(),
                    value: *v,
                    remove: false,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        validate_only,
        ..Default::default()
    })
}

async fn set_quota(server: &sluice_broker::Server, entity: &[(&str, Option<&str>)], ops: &[(&str, f64)]) {
    let mut s = connect(server).await;
    let ResponseBody::AlterClientQuotas(r) = call(&mut s, 49, 1, alter(entity, ops, false)).await else {
        panic!("AlterClientQuotas response")
    };
    assert_eq!(r.entries[0].error_code, 0, "{:?}", r.entries[0].error_message);
}

fn describe_all(strict: bool) -> RequestBody {
    RequestBody::DescribeClientQuotas(DescribeClientQuotasRequest {
        components: vec![ComponentData {
            entity_type: "client-id".into(),
            match_type: 2,
            r#match: None,
            ..Default::default()
        }],
        strict,
        ..Default::default()
    })
}

#[tokio::test]
async fn quotas_are_altered_described_in_every_version_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    let mut s = connect(&server).await;
    for version in 0..=1 {
        let ResponseBody::AlterClientQuotas(r) = call(
            &mut s,
            49,
            version,
            alter(&[("client-id", Some("c1"))], &[("consumer_byte_rate", 5000.0)], false),
        )
        .await
        else {
            panic!("AlterClientQuotas response")
        };
        assert_eq!(r.entries[0].error_code, 0);
        assert_eq!(r.entries[0].entity[0].entity_name.as_deref(), Some("c1"));
    }
    // validate_only checks and answers, but changes nothing.
    let ResponseBody::AlterClientQuotas(r) = call(
        &mut s,
        49,
        1,
        alter(&[("client-id", Some("c2"))], &[("producer_byte_rate", 7.0)], true),
    )
    .await
    else {
        panic!("AlterClientQuotas response")
    };
    assert_eq!(r.entries[0].error_code, 0);
    let ResponseBody::AlterClientQuotas(r) = call(
        &mut s,
        49,
        1,
        alter(&[("client-id", Some("c2"))], &[("producer_byte_rate", -7.0)], true),
    )
    .await
    else {
        panic!("AlterClientQuotas response")
    };
    assert_eq!(r.entries[0].error_code, ErrorCode::InvalidRequest.code());
    assert_eq!(
        r.entries[0].error_message.as_deref(),
        Some("Quota producer_byte_rate must be greater than 0")
    );
    for version in 0..=1 {
        let ResponseBody::DescribeClientQuotas(r) = call(&mut s, 48, version, describe_all(false)).await else {
            panic!("DescribeClientQuotas response")
        };
        assert_eq!(r.error_code, 0);
        let entries = r.entries.expect("entries");
        assert_eq!(entries.len(), 1, "validate_only wrote nothing: {entries:?}");
        assert_eq!(entries[0].values[0].key, "consumer_byte_rate");
        assert_eq!(entries[0].values[0].value, 5000.0);
    }
    drop(s);
    server.shutdown().await;
    let server = start_with(dir.path(), |_| {}).await;
    let mut s = connect(&server).await;
    let ResponseBody::DescribeClientQuotas(r) = call(&mut s, 48, 1, describe_all(true)).await else {
        panic!("DescribeClientQuotas response")
    };
    assert_eq!(r.entries.expect("entries").len(), 1, "replayed from the metadata log");
    // A bad filter is an error with no entries.
    let bad = RequestBody::DescribeClientQuotas(DescribeClientQuotasRequest {
        components: vec![ComponentData {
            entity_type: "user".into(),
            match_type: 0,
            r#match: None,
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::DescribeClientQuotas(r) = call(&mut s, 48, 1, bad).await else {
        panic!("DescribeClientQuotas response")
    };
    assert_eq!(r.error_code, ErrorCode::InvalidRequest.code());
    assert!(r.entries.is_none());
}

fn produce(topic: &str, value_bytes: usize) -> RequestBody {
    let mut b = BatchBuilder::new(0);
    b.append(&NewRecord::new(0, None, Some(Bytes::from(vec![b'x'; value_bytes]))))
        .unwrap();
    RequestBody::Produce(ProduceRequest {
        acks: 1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(b.build().unwrap().into_bytes()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn frame_bytes(key: i16, version: i16, body: &RequestBody) -> usize {
    let header = RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id: 7,
        client_id: Some(CLIENT.into()),
        ..Default::default()
    };
    sluice_protocol::frame::encode_request(&header, body).unwrap().len() - 4
}

fn create(topics: &[(&str, i32)]) -> RequestBody {
    RequestBody::CreateTopics(CreateTopicsRequest {
        topics: topics
            .iter()
            .map(|(name, n)| CreatableTopic {
                name: name.to_string(),
                num_partitions: *n,
                replication_factor: 1,
                ..Default::default()
            })
            .collect(),
        timeout_ms: 5000,
        ..Default::default()
    })
}

#[tokio::test]
async fn a_producer_over_its_byte_rate_gets_kafkas_throttle_time_and_a_muted_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    let mut s = connect(&server).await;
    let ResponseBody::CreateTopics(r) = call(&mut s, 19, 7, create(&[("q", 1)])).await else {
        panic!("CreateTopics response")
    };
    assert_eq!(r.topics[0].error_code, 0);
    let quota = 1000.0;
    set_quota(
        &server,
        &[("client-id", Some(CLIENT))],
        &[("producer_byte_rate", quota)],
    )
    .await;
    let body = produce("q", 10_000);
    let size = frame_bytes(0, 9, &body) as f64;
    // A fresh sensor counts as 10 idle one-second windows (Kafka's 11 samples): rate = size / 10 s,
    // throttle = (rate - quota) / quota × 10 000 ms.
    let expected_ms = ((size / 10.0 - quota) / quota * 10_000.0).round() as i32;
    assert!(expected_ms > 0);
    let ResponseBody::Produce(r) = call(&mut s, 0, 9, body).await else {
        panic!("Produce response")
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    assert_eq!(r.throttle_time_ms, expected_ms);
    // The connection reads nothing more until the throttle time has passed.
    let started = Instant::now();
    let ResponseBody::Metadata(_) = call(&mut s, 3, 12, RequestBody::Metadata(MetadataRequest::default())).await else {
        panic!("Metadata response")
    };
    assert!(
        started.elapsed() >= Duration::from_millis(expected_ms as u64 - 50),
        "answered after {:?}, throttle {expected_ms} ms",
        started.elapsed()
    );
    let totals = server.broker.quotas.stats.snapshot();
    assert_eq!(totals.throttle_ms_total[0], expected_ms as u64);
    assert_eq!(totals.throttled_total[0], 1);
}

#[tokio::test]
async fn controller_mutations_are_refused_when_strict_and_throttled_when_permissive() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    // One partition per second: a full bucket holds 11 (11 one-second windows).
    set_quota(&server, &[("user", None)], &[("controller_mutation_rate", 1.0)]).await;
    let mut s = connect(&server).await;
    let ResponseBody::CreateTopics(r) = call(&mut s, 19, 7, create(&[("big", 20), ("small", 1)])).await else {
        panic!("CreateTopics response")
    };
    // The first is admitted whole and overdraws the bucket by 9; the second is refused with the
    // time to earn that back.
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(r.topics[1].error_code, ErrorCode::ThrottlingQuotaExceeded.code());
    assert_eq!(
        r.topics[1].error_message.as_deref(),
        Some("The throttling quota has been exceeded.")
    );
    assert!((8_900..=9_000).contains(&r.throttle_time_ms), "{}", r.throttle_time_ms);
    // v5 predates the error: the topic is created and the response carries the throttle.
    let mut s = connect(&server).await;
    let ResponseBody::CreateTopics(r) = call(&mut s, 19, 5, create(&[("old", 1)])).await else {
        panic!("CreateTopics response")
    };
    assert_eq!(r.topics[0].error_code, 0);
    assert!(r.throttle_time_ms >= 9_000, "{}", r.throttle_time_ms);
}

#[tokio::test]
async fn connections_past_an_ips_creation_rate_are_closed_after_the_throttle_time() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    // Two per second; a fresh rate counts 10 idle seconds, so about 20 are accepted at once.
    set_quota(
        &server,
        &[("ip", Some("127.0.0.1"))],
        &[("connection_creation_rate", 2.0)],
    )
    .await;
    let mut kept = Vec::new();
    for _ in 0..30 {
        kept.push(connect(&server).await);
    }
    let totals = server.broker.quotas.stats.snapshot();
    assert!((8..=10).contains(&totals.connections_throttled_total), "{totals:?}");
    // The last one was throttled: the broker closes it without reading a request.
    let mut last = kept.pop().unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), last.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    // An accepted one still works.
    let first = &mut kept[0];
    let ResponseBody::Metadata(_) = call(first, 3, 12, RequestBody::Metadata(MetadataRequest::default())).await else {
        panic!("Metadata response")
    };
}

fn fetch(topic: &str) -> RequestBody {
    use sluice_protocol::generated::FetchRequest;
    use sluice_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
    RequestBody::Fetch(FetchRequest {
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
    })
}

#[tokio::test]
async fn a_throttled_fetch_is_answered_empty_and_an_old_produce_is_answered_late() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    let mut s = connect(&server).await;
    let ResponseBody::CreateTopics(r) = call(&mut s, 19, 7, create(&[("f", 1)])).await else {
        panic!("CreateTopics response")
    };
    assert_eq!(r.topics[0].error_code, 0);
    let ResponseBody::Produce(r) = call(&mut s, 0, 9, produce("f", 20_000)).await else {
        panic!("Produce response")
    };
    assert_eq!(r.throttle_time_ms, 0, "no quota yet");
    // 20 kB against 1 kB/s over a fresh sensor's 10 s: twice the quota, about 10 s of throttle.
    set_quota(
        &server,
        &[("client-id", Some(CLIENT))],
        &[("consumer_byte_rate", 1000.0)],
    )
    .await;
    let mut s = connect(&server).await;
    let ResponseBody::Fetch(r) = call(&mut s, 1, 12, fetch("f")).await else {
        panic!("Fetch response")
    };
    assert!(r.responses.is_empty(), "a throttled fetch carries no data");
    assert!((9_500..=11_000).contains(&r.throttle_time_ms), "{}", r.throttle_time_ms);
    let totals = server.broker.quotas.stats.snapshot();
    assert_eq!(totals.throttled_total[1], 1);

    // Produce v5 predates KIP-219: the broker holds the response back for the throttle time.
    set_quota(
        &server,
        &[("client-id", Some(CLIENT))],
        &[("producer_byte_rate", 1000.0)],
    )
    .await;
    let mut s = connect(&server).await;
    let body = produce("f", 10_000);
    let size = frame_bytes(0, 5, &body) as f64;
    let expected_ms = ((size / 10.0 - 1000.0) / 1000.0 * 10_000.0).round() as i32;
    let started = Instant::now();
    let ResponseBody::Produce(r) = call(&mut s, 0, 5, body).await else {
        panic!("Produce response")
    };
    assert_eq!(r.throttle_time_ms, expected_ms);
    assert!(started.elapsed() >= Duration::from_millis(expected_ms as u64));
}

#[tokio::test]
async fn handler_time_past_request_percentage_throttles_for_at_most_one_window() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    // A ten-thousandth of a percent of one handler thread: any request's handler time is over it,
    // and Kafka bounds the request-time throttle at one window (1 s).
    set_quota(
        &server,
        &[("user", None), ("client-id", None)],
        &[("request_percentage", 0.0001)],
    )
    .await;
    let mut s = connect(&server).await;
    let ResponseBody::Metadata(r) = call(&mut s, 3, 12, RequestBody::Metadata(MetadataRequest::default())).await else {
        panic!("Metadata response")
    };
    assert_eq!(r.throttle_time_ms, 1000);
    // The AlterClientQuotas that set the quota was already measured by it too.
    assert_eq!(server.broker.quotas.stats.snapshot().throttled_total[2], 2);
}
