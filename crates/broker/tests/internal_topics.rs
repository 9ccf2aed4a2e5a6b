//! What a client may do to `__consumer_offsets` over raw frames, answered as Kafka answers it:
//! Produce and DeleteRecords are refused per partition with INVALID_TOPIC_EXCEPTION (Kafka's
//! ReplicaManager: `Topic.isInternal(topic) && !internalTopicsAllowed`, and "Cannot delete
//! records of internal topic"), and nothing reaches the log, so the group coordinator's state is
//! what it was, also after a restart. CreatePartitions is allowed, as Kafka's controller allows it,
//! and so is DeleteTopics (Kafka's controller has no internal-topic check either): the groups and
//! their commits go with the topic, which the next group request creates again, empty.

use bytes::Bytes;
use sluice_broker::{BrokerSettings, Server};
use sluice_protocol::frame::{decode_response, encode_request};
use sluice_protocol::generated::create_partitions_request::CreatePartitionsTopic;
use sluice_protocol::generated::create_topics_request::CreatableTopic;
use sluice_protocol::generated::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use sluice_protocol::generated::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use sluice_protocol::generated::metadata_request::MetadataRequestTopic;
use sluice_protocol::generated::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use sluice_protocol::generated::offset_fetch_request::OffsetFetchRequestTopic;
use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use sluice_protocol::generated::*;
use sluice_protocol::records::{BatchBuilder, NewRecord};
use sluice_protocol::{ErrorCode, Uuid};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::{call, connect};

const OFFSETS: &str = "__consumer_offsets";
/// Partitions of the offsets topic here (Kafka's default is 50; fewer keep the test short).
const OFFSETS_PARTITIONS: i32 = 3;

async fn start_in(dir: &Path) -> Server {
    start_with(dir, |_| {}).await
}

async fn start_with(dir: &Path, tweak: impl FnOnce(&mut BrokerSettings)) -> Server {
    common::start_with(dir, |s| {
        s.offsets_topic_num_partitions = OFFSETS_PARTITIONS;
        tweak(s);
    })
    .await
}

/// One batch of two records; its content would be garbage to the coordinator.
fn batch() -> Bytes {
    let mut b = BatchBuilder::new(0);
    for i in 0..2 {
        b.append(&NewRecord::new(
            1_600_000_000_000 + i,
            Some(Bytes::from(format!("k{i}"))),
            Some(Bytes::from_static(b"not a coordinator record")),
        ))
        .unwrap();
    }
    b.build().unwrap().into_bytes()
}

fn produce_to(topics: Vec<(String, Uuid, Vec<i32>)>) -> RequestBody {
    RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 5000,
        topic_data: topics
            .into_iter()
            .map(|(name, topic_id, partitions)| TopicProduceData {
                name,
                topic_id,
                partition_data: partitions
                    .into_iter()
                    .map(|index| PartitionProduceData {
                        index,
                        records: Some(batch()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

/// ListOffsets of every offsets-topic partition at `timestamp` (-1 latest, -2 earliest).
async fn offsets_topic_offsets(s: &mut TcpStream, timestamp: i64) -> Vec<i64> {
    let ResponseBody::ListOffsets(r) = call(
        s,
        2,
        7,
        RequestBody::ListOffsets(ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: OFFSETS.into(),
                partitions: (0..OFFSETS_PARTITIONS)
                    .map(|p| ListOffsetsPartition {
                        partition_index: p,
                        timestamp,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    let parts = &r.topics[0].partitions;
    assert!(parts.iter().all(|p| p.error_code == 0), "{parts:?}");
    parts.iter().map(|p| p.offset).collect()
}

/// A standalone commit (generation -1, no member), as admin tools and `assign()` consumers do.
async fn commit(s: &mut TcpStream, offset: i64) {
    commit_for(s, "g", offset).await
}

async fn commit_for(s: &mut TcpStream, group: &str, offset: i64) {
    let ResponseBody::OffsetCommit(c) = call(
        s,
        8,
        8,
        RequestBody::OffsetCommit(OffsetCommitRequest {
            group_id: group.into(),
            generation_id_or_member_epoch: -1,
            member_id: String::new(),
            topics: vec![OffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: offset,
                    committed_leader_epoch: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(c.topics[0].partitions[0].error_code, 0);
}

async fn committed(s: &mut TcpStream) -> i64 {
    committed_for(s, "g").await
}

async fn committed_for(s: &mut TcpStream, group: &str) -> i64 {
    let ResponseBody::OffsetFetch(f) = call(
        s,
        9,
        7,
        RequestBody::OffsetFetch(OffsetFetchRequest {
            group_id: group.into(),
            topics: Some(vec![OffsetFetchRequestTopic {
                name: "t".into(),
                partition_indexes: vec![0],
                ..Default::default()
            }]),
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(f.error_code, 0);
    f.topics[0].partitions[0].committed_offset
}

#[tokio::test]
async fn clients_cannot_write_to_or_trim_the_offsets_topic() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path()).await;
    let mut s = connect(&server).await;

    let ResponseBody::CreateTopics(created) = call(
        &mut s,
        19,
        5,
        RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(created.topics[0].error_code, 0);
    // The first FindCoordinator creates the offsets topic, as Kafka's does.
    let ResponseBody::FindCoordinator(fc) = call(
        &mut s,
        10,
        3,
        RequestBody::FindCoordinator(FindCoordinatorRequest {
            key: "g".into(),
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(fc.error_code, 0);
    commit(&mut s, 5).await;
    let ends = offsets_topic_offsets(&mut s, -1).await;
    assert_eq!(ends.iter().sum::<i64>(), 1, "one commit record: {ends:?}");
    let ResponseBody::Metadata(md) = call(
        &mut s,
        3,
        12,
        RequestBody::Metadata(MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(OFFSETS.into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert!(md.topics[0].is_internal);
    let offsets_id = md.topics[0].topic_id;

    // By name (v9, next to an ordinary topic that takes its batch) and by topic id (v13): every
    // offsets-topic partition is refused, with no message, as Kafka's ReplicaManager answers.
    let all: Vec<i32> = (0..OFFSETS_PARTITIONS).collect();
    let ResponseBody::Produce(r) = call(
        &mut s,
        0,
        9,
        produce_to(vec![
            (OFFSETS.into(), Uuid::ZERO, all.clone()),
            ("t".into(), Uuid::ZERO, vec![0]),
        ]),
    )
    .await
    else {
        panic!()
    };
    for p in &r.responses[0].partition_responses {
        assert_eq!(
            (p.error_code, p.base_offset, p.error_message.as_deref()),
            (ErrorCode::InvalidTopicException.code(), -1, None),
            "partition {}",
            p.index
        );
    }
    assert_eq!(r.responses[0].partition_responses.len(), all.len());
    let ordinary = &r.responses[1].partition_responses[0];
    assert_eq!(
        (ordinary.error_code, ordinary.base_offset),
        (0, 0),
        "the other topic is written"
    );
    let ResponseBody::Produce(r) = call(
        &mut s,
        0,
        13,
        produce_to(vec![(String::new(), offsets_id, all.clone())]),
    )
    .await
    else {
        panic!()
    };
    assert!(
        r.responses[0]
            .partition_responses
            .iter()
            .all(|p| p.error_code == ErrorCode::InvalidTopicException.code()),
        "{:?}",
        r.responses[0].partition_responses
    );
    // A partition the topic does not have is unknown first, as in Kafka.
    let ResponseBody::Produce(r) = call(&mut s, 0, 9, produce_to(vec![(OFFSETS.into(), Uuid::ZERO, vec![99])])).await
    else {
        panic!()
    };
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    assert_eq!(offsets_topic_offsets(&mut s, -1).await, ends, "nothing appended");

    // DeleteRecords: refused per partition, the log start stays, the commit stays readable.
    let ResponseBody::DeleteRecords(d) = call(
        &mut s,
        21,
        2,
        RequestBody::DeleteRecords(DeleteRecordsRequest {
            topics: vec![DeleteRecordsTopic {
                name: OFFSETS.into(),
                partitions: (0..OFFSETS_PARTITIONS)
                    .chain([99])
                    .map(|p| DeleteRecordsPartition {
                        partition_index: p,
                        offset: -1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    let got: Vec<(i32, i16, i64)> = d.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code, p.low_watermark))
        .collect();
    let invalid = ErrorCode::InvalidTopicException.code();
    let unknown = ErrorCode::UnknownTopicOrPartition.code();
    assert_eq!(
        got,
        vec![(0, invalid, -1), (1, invalid, -1), (2, invalid, -1), (99, unknown, -1)]
    );
    assert_eq!(
        offsets_topic_offsets(&mut s, -2).await,
        vec![0; OFFSETS_PARTITIONS as usize]
    );
    assert_eq!(committed(&mut s).await, 5);

    drop(s);
    server.shutdown().await;
    // The same data directory again: the coordinator replays the offsets topic, and the refused
    // writes left nothing in it to replay.
    let server = start_in(dir.path()).await;
    let mut s = connect(&server).await;
    assert_eq!(committed(&mut s).await, 5);
    assert_eq!(offsets_topic_offsets(&mut s, -1).await, ends);

    // CreatePartitions: Kafka's controller has no internal-topic check, so it is allowed (Kafka's
    // documentation warns against it: groups move to other partitions). The running coordinator
    // keeps serving from the partitions it loaded.
    let ResponseBody::CreatePartitions(cp) = call(
        &mut s,
        37,
        3,
        RequestBody::CreatePartitions(CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: OFFSETS.into(),
                count: OFFSETS_PARTITIONS + 1,
                assignments: None,
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(cp.results[0].error_code, 0, "{:?}", cp.results[0].error_message);
    commit(&mut s, 6).await;
    assert_eq!(committed(&mut s).await, 6);
    server.shutdown().await;
}

/// The offsets topic's id from Metadata, or None when it does not exist.
async fn offsets_topic_id(s: &mut TcpStream) -> Option<Uuid> {
    let ResponseBody::Metadata(md) = call(
        s,
        3,
        12,
        RequestBody::Metadata(MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(OFFSETS.into()),
                ..Default::default()
            }]),
            allow_auto_topic_creation: false,
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    match md.topics[0].error_code {
        0 => Some(md.topics[0].topic_id),
        code => {
            assert_eq!(code, ErrorCode::UnknownTopicOrPartition.code());
            None
        }
    }
}

fn join(member_id: &str) -> RequestBody {
    use sluice_protocol::generated::join_group_request::JoinGroupRequestProtocol;
    // A consumer-protocol subscription (version 0) to "t".
    let metadata = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]);
    RequestBody::JoinGroup(JoinGroupRequest {
        group_id: "joining".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 60_000,
        member_id: member_id.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata,
            ..Default::default()
        }],
        ..Default::default()
    })
}

#[tokio::test]
async fn deleting_the_offsets_topic_forgets_the_groups_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    // A long initial rebalance delay keeps the JoinGroup below parked while the topic goes.
    let server = start_with(dir.path(), |s| s.groups.initial_rebalance_delay_ms = 30_000).await;
    let mut s = connect(&server).await;
    let ResponseBody::CreateTopics(created) = call(
        &mut s,
        19,
        5,
        RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(created.topics[0].error_code, 0);
    commit_for(&mut s, "g", 5).await;
    commit_for(&mut s, "old", 3).await;
    let old_id = offsets_topic_id(&mut s)
        .await
        .expect("created by the first group request");

    // A member waits in JoinGroup (parked in the coordinator) on its own connection.
    let mut joiner = connect(&server).await;
    let ResponseBody::JoinGroup(first) = call(&mut joiner, 11, 5, join("")).await else {
        panic!()
    };
    assert_eq!(first.error_code, ErrorCode::MemberIdRequired.code());
    let header = RequestHeader {
        request_api_key: 11,
        request_api_version: 5,
        correlation_id: 12,
        client_id: Some("raw-internal-test".into()),
        ..Default::default()
    };
    let frame = encode_request(&header, &join(&first.member_id)).unwrap();
    joiner.write_all(&frame).await.unwrap();
    let parked = async {
        loop {
            let ResponseBody::DescribeGroups(d) = call(
                &mut s,
                15,
                5,
                RequestBody::DescribeGroups(DescribeGroupsRequest {
                    groups: vec!["joining".into()],
                    ..Default::default()
                }),
            )
            .await
            else {
                panic!()
            };
            if d.groups[0].group_state == "PreparingRebalance" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), parked)
        .await
        .expect("the join is parked");

    let ResponseBody::DeleteTopics(d) = call(
        &mut s,
        20,
        6,
        RequestBody::DeleteTopics(DeleteTopicsRequest {
            topics: vec![delete_topics_request::DeleteTopicState {
                name: Some(OFFSETS.into()),
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(
        (d.responses[0].error_code, d.responses[0].topic_id),
        (0, old_id),
        "{:?}",
        d.responses[0].error_message
    );
    assert_eq!(offsets_topic_id(&mut s).await, None, "gone from Metadata");

    // The parked member hears NOT_COORDINATOR at once, not after the 30 s delay.
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let size = joiner.read_i32().await.unwrap();
        let mut buf = vec![0; size as usize];
        joiner.read_exact(&mut buf).await.unwrap();
        decode_response(Bytes::from(buf), 11, 5).unwrap().1
    })
    .await
    .expect("the parked join is answered");
    let ResponseBody::JoinGroup(answer) = answer else {
        panic!()
    };
    assert_eq!(answer.error_code, ErrorCode::NotCoordinator.code());

    // The next group request creates the topic again, empty: the commits went with the old one.
    assert_eq!(committed_for(&mut s, "g").await, -1);
    let new_id = offsets_topic_id(&mut s).await.expect("created again");
    assert_ne!(new_id, old_id);
    commit_for(&mut s, "g", 6).await;
    assert_eq!(committed_for(&mut s, "g").await, 6);

    drop((s, joiner));
    server.shutdown().await;
    // After a restart only the new topic's records are replayed: the old data was deleted.
    let server = start_in(dir.path()).await;
    let mut s = connect(&server).await;
    assert_eq!(committed_for(&mut s, "g").await, 6);
    assert_eq!(committed_for(&mut s, "old").await, -1);
    server.shutdown().await;
}
