//! Consumer groups over raw frames: a whole classic group round (FindCoordinator, JoinGroup with
//! MEMBER_ID_REQUIRED, SyncGroup, Heartbeat, OffsetCommit, OffsetFetch) against a running broker,
//! its state coming back after a restart, and every served version of every group API answering
//! something that decodes.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_broker::Server;
use sluice_protocol::ErrorCode;
use sluice_protocol::frame::encode_request;
use sluice_protocol::generated::create_topics_request::CreatableTopic;
use sluice_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use sluice_protocol::generated::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use sluice_protocol::generated::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use sluice_protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use sluice_protocol::generated::*;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::{call, connect};

async fn start_in(dir: &Path) -> Server {
    common::start_with(dir, |s| {
        s.offsets_topic_num_partitions = 5;
        s.groups.initial_rebalance_delay_ms = 0;
    })
    .await
}

/// A consumer-protocol subscription (version 0) to `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

fn join(member_id: &str) -> RequestBody {
    RequestBody::JoinGroup(JoinGroupRequest {
        group_id: "g1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: member_id.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: subscription(&["t"]),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn fetch_v8(group: &str) -> RequestBody {
    RequestBody::OffsetFetch(OffsetFetchRequest {
        groups: vec![OffsetFetchRequestGroup {
            group_id: group.into(),
            topics: Some(vec![OffsetFetchRequestTopics {
                name: "t".into(),
                partition_indexes: vec![0, 1],
                ..Default::default()
            }]),
            ..Default::default()
        }],
        ..Default::default()
    })
}

#[tokio::test]
async fn a_classic_group_commits_offsets_that_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path()).await;
    let mut s = connect(&server).await;

    let created = call(
        &mut s,
        19,
        5,
        RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 2,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        }),
    )
    .await;
    let ResponseBody::CreateTopics(created) = created else {
        panic!()
    };
    assert_eq!(created.topics[0].error_code, 0);

    let ResponseBody::FindCoordinator(fc) = call(
        &mut s,
        10,
        3,
        RequestBody::FindCoordinator(FindCoordinatorRequest {
            key: "g1".into(),
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(fc.error_code, 0);
    assert_eq!(fc.node_id, 1);
    assert_eq!(fc.port, i32::from(server.address("PLAINTEXT").unwrap().port()));

    let ResponseBody::JoinGroup(first) = call(&mut s, 11, 5, join("")).await else {
        panic!()
    };
    assert_eq!(first.error_code, ErrorCode::MemberIdRequired.code());
    let member = first.member_id.clone();
    assert!(member.starts_with("raw-group-test-"), "{member}");
    let ResponseBody::JoinGroup(joined) = call(&mut s, 11, 5, join(&member)).await else {
        panic!()
    };
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, member);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata, subscription(&["t"]));

    let ResponseBody::SyncGroup(synced) = call(
        &mut s,
        14,
        5,
        RequestBody::SyncGroup(SyncGroupRequest {
            group_id: "g1".into(),
            generation_id: 1,
            member_id: member.clone(),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: vec![SyncGroupRequestAssignment {
                member_id: member.clone(),
                assignment: Bytes::from_static(b"assignment"),
                ..Default::default()
            }],
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(synced.error_code, 0);
    assert_eq!(synced.assignment, Bytes::from_static(b"assignment"));

    let ResponseBody::Heartbeat(hb) = call(
        &mut s,
        12,
        4,
        RequestBody::Heartbeat(HeartbeatRequest {
            group_id: "g1".into(),
            generation_id: 1,
            member_id: member.clone(),
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(hb.error_code, 0);

    let commit = |generation: i32, topic: &str| {
        RequestBody::OffsetCommit(OffsetCommitRequest {
            group_id: "g1".into(),
            generation_id_or_member_epoch: generation,
            member_id: member.clone(),
            topics: vec![OffsetCommitRequestTopic {
                name: topic.into(),
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 1,
                    committed_offset: 42,
                    committed_leader_epoch: 0,
                    committed_metadata: Some("meta".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    let ResponseBody::OffsetCommit(c) = call(&mut s, 8, 8, commit(1, "t")).await else {
        panic!()
    };
    assert_eq!(c.topics[0].partitions[0].error_code, 0);
    let ResponseBody::OffsetCommit(c) = call(&mut s, 8, 8, commit(2, "t")).await else {
        panic!()
    };
    assert_eq!(
        c.topics[0].partitions[0].error_code,
        ErrorCode::IllegalGeneration.code()
    );
    let ResponseBody::OffsetCommit(c) = call(&mut s, 8, 8, commit(1, "missing")).await else {
        panic!()
    };
    assert_eq!(
        c.topics[0].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );

    let ResponseBody::OffsetFetch(f) = call(&mut s, 9, 8, fetch_v8("g1")).await else {
        panic!()
    };
    let parts = &f.groups[0].topics[0].partitions;
    assert_eq!((parts[0].partition_index, parts[0].committed_offset), (0, -1));
    assert_eq!((parts[1].partition_index, parts[1].committed_offset), (1, 42));
    assert_eq!(parts[1].metadata.as_deref(), Some("meta"));

    drop(s);
    server.shutdown().await;

    // Same data directory, new process state: offsets and the group come back.
    let server = start_in(dir.path()).await;
    let mut s = connect(&server).await;
    let ResponseBody::OffsetFetch(f) = call(
        &mut s,
        9,
        7,
        RequestBody::OffsetFetch(OffsetFetchRequest {
            group_id: "g1".into(),
            topics: Some(vec![OffsetFetchRequestTopic {
                name: "t".into(),
                partition_indexes: vec![1],
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
    assert_eq!(f.topics[0].partitions[0].committed_offset, 42);
    assert_eq!(f.topics[0].partitions[0].committed_leader_epoch, 0);

    let ResponseBody::DescribeGroups(d) = call(
        &mut s,
        15,
        5,
        RequestBody::DescribeGroups(DescribeGroupsRequest {
            groups: vec!["g1".into(), "nope".into()],
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(d.groups[0].group_state, "Stable");
    assert_eq!(d.groups[0].protocol_data, "range");
    assert_eq!(d.groups[0].members.len(), 1);
    assert_eq!(d.groups[0].members[0].member_id, member);
    assert_eq!(d.groups[0].members[0].client_host, "/127.0.0.1");
    assert_eq!(
        d.groups[0].members[0].member_assignment,
        Bytes::from_static(b"assignment")
    );
    assert_eq!(d.groups[1].group_state, "Dead");

    // The restored member leaves; the group empties and can then be deleted.
    let ResponseBody::LeaveGroup(l) = call(
        &mut s,
        13,
        2,
        RequestBody::LeaveGroup(LeaveGroupRequest {
            group_id: "g1".into(),
            member_id: member.clone(),
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(l.error_code, 0);
    let ResponseBody::ListGroups(lg) = call(&mut s, 16, 5, RequestBody::ListGroups(Default::default())).await else {
        panic!()
    };
    assert_eq!(lg.groups.len(), 1);
    assert_eq!(lg.groups[0].group_state, "Empty");
    assert_eq!(lg.groups[0].group_type, "classic");
    let ResponseBody::DeleteGroups(dg) = call(
        &mut s,
        42,
        2,
        RequestBody::DeleteGroups(DeleteGroupsRequest {
            groups_names: vec!["g1".into()],
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(dg.results[0].error_code, 0);
    let ResponseBody::OffsetFetch(f) = call(&mut s, 9, 8, fetch_v8("g1")).await else {
        panic!()
    };
    assert_eq!(f.groups[0].topics[0].partitions[1].committed_offset, -1);
    drop(s);
    server.shutdown().await;
}

#[tokio::test]
async fn every_served_version_of_every_group_api_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path()).await;
    let mut s = connect(&server).await;
    for v in 0..=6 {
        let body = FindCoordinatorRequest {
            key: if v < 4 { "g".into() } else { String::new() },
            coordinator_keys: if v >= 4 { vec!["g".into()] } else { Vec::new() },
            ..Default::default()
        };
        let ResponseBody::FindCoordinator(r) = call(&mut s, 10, v, RequestBody::FindCoordinator(body)).await else {
            panic!()
        };
        let code = if v >= 4 {
            r.coordinators[0].error_code
        } else {
            r.error_code
        };
        assert_eq!(code, 0, "FindCoordinator v{v}");
    }
    for v in 0..=9 {
        let ResponseBody::JoinGroup(r) = call(&mut s, 11, v, join("not-a-member")).await else {
            panic!()
        };
        assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code(), "JoinGroup v{v}");
    }
    for v in 0..=5 {
        let body = SyncGroupRequest {
            group_id: "g".into(),
            member_id: "m".into(),
            ..Default::default()
        };
        let ResponseBody::SyncGroup(r) = call(&mut s, 14, v, RequestBody::SyncGroup(body)).await else {
            panic!()
        };
        assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code(), "SyncGroup v{v}");
    }
    for v in 0..=4 {
        let body = HeartbeatRequest {
            group_id: "g".into(),
            member_id: "m".into(),
            ..Default::default()
        };
        let ResponseBody::Heartbeat(r) = call(&mut s, 12, v, RequestBody::Heartbeat(body)).await else {
            panic!()
        };
        assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code(), "Heartbeat v{v}");
    }
    for v in 0..=5 {
        let body = LeaveGroupRequest {
            group_id: "g".into(),
            member_id: if v < 3 { "m".into() } else { String::new() },
            ..Default::default()
        };
        let ResponseBody::LeaveGroup(r) = call(&mut s, 13, v, RequestBody::LeaveGroup(body)).await else {
            panic!()
        };
        assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code(), "LeaveGroup v{v}");
    }
    for v in 2..=10 {
        // A simple commit (generation -1) for a topic that does not exist.
        let body = OffsetCommitRequest {
            group_id: "g".into(),
            generation_id_or_member_epoch: -1,
            retention_time_ms: -1,
            topics: vec![OffsetCommitRequestTopic {
                name: if v < 10 { "none".into() } else { String::new() },
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: 1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let ResponseBody::OffsetCommit(r) = call(&mut s, 8, v, RequestBody::OffsetCommit(body)).await else {
            panic!()
        };
        let want = if v >= 10 {
            ErrorCode::UnknownTopicId
        } else {
            ErrorCode::UnknownTopicOrPartition
        };
        assert_eq!(r.topics[0].partitions[0].error_code, want.code(), "OffsetCommit v{v}");
    }
    for v in 1..=10 {
        let body = if v >= 8 {
            fetch_v8("g")
        } else {
            RequestBody::OffsetFetch(OffsetFetchRequest {
                group_id: "g".into(),
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: "t".into(),
                    partition_indexes: vec![0],
                    ..Default::default()
                }]),
                ..Default::default()
            })
        };
        let body = match (v, body) {
            (10, RequestBody::OffsetFetch(mut r)) => {
                // By id: a random id no topic has.
                let t = &mut r.groups[0].topics.as_mut().unwrap()[0];
                t.name = String::new();
                t.topic_id = sluice_protocol::Uuid([9; 16]);
                RequestBody::OffsetFetch(r)
            }
            (_, b) => b,
        };
        let ResponseBody::OffsetFetch(r) = call(&mut s, 9, v, body).await else {
            panic!()
        };
        if v >= 8 {
            assert_eq!(r.groups[0].error_code, 0, "OffsetFetch v{v}");
        } else {
            assert_eq!(r.topics[0].partitions[0].committed_offset, -1, "OffsetFetch v{v}");
        }
    }
    let ResponseBody::OffsetDelete(r) = call(
        &mut s,
        47,
        0,
        RequestBody::OffsetDelete(OffsetDeleteRequest {
            group_id: "unknown-group".into(),
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(r.error_code, ErrorCode::GroupIdNotFound.code());
    for v in 0..=5 {
        let ResponseBody::ListGroups(r) = call(&mut s, 16, v, RequestBody::ListGroups(Default::default())).await else {
            panic!()
        };
        assert_eq!(r.error_code, 0, "ListGroups v{v}");
    }
    for v in 0..=6 {
        let body = DescribeGroupsRequest {
            groups: vec!["absent".into()],
            ..Default::default()
        };
        let ResponseBody::DescribeGroups(r) = call(&mut s, 15, v, RequestBody::DescribeGroups(body)).await else {
            panic!()
        };
        assert_eq!(r.groups[0].group_state, "Dead", "DescribeGroups v{v}");
        let want = if v >= 6 { ErrorCode::GroupIdNotFound.code() } else { 0 };
        assert_eq!(r.groups[0].error_code, want, "DescribeGroups v{v}");
    }
    for v in 0..=2 {
        let body = DeleteGroupsRequest {
            groups_names: vec!["absent".into()],
            ..Default::default()
        };
        let ResponseBody::DeleteGroups(r) = call(&mut s, 42, v, RequestBody::DeleteGroups(body)).await else {
            panic!()
        };
        assert_eq!(
            r.results[0].error_code,
            ErrorCode::GroupIdNotFound.code(),
            "DeleteGroups v{v}"
        );
    }
    drop(s);
    server.shutdown().await;
}

/// A JoinGroup parked until the group's other member rejoins does not hold up a stopping broker:
/// the connection is closed after a short grace, and the client retries elsewhere or later.
#[tokio::test]
async fn a_parked_join_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path()).await;
    let mut first = connect(&server).await;
    let ResponseBody::JoinGroup(r) = call(&mut first, 11, 5, join("")).await else {
        panic!("a JoinGroup response")
    };
    assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
    let ResponseBody::JoinGroup(r) = call(&mut first, 11, 5, join(&r.member_id)).await else {
        panic!("a JoinGroup response")
    };
    assert_eq!(r.error_code, 0, "the first member joins alone");

    // A second member: the group rebalances and its join waits for the first to rejoin (up to
    // the 10 s rebalance timeout).
    let mut second = connect(&server).await;
    let ResponseBody::JoinGroup(r) = call(&mut second, 11, 5, join("")).await else {
        panic!("a JoinGroup response")
    };
    let header = RequestHeader {
        request_api_key: 11,
        request_api_version: 5,
        correlation_id: 8,
        client_id: Some("raw-group-test".into()),
        ..Default::default()
    };
    second
        .write_all(&encode_request(&header, &join(&r.member_id)).unwrap())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(6), server.shutdown())
        .await
        .expect("the broker stops while a join is parked");
    assert!(started.elapsed() < std::time::Duration::from_secs(6));
    // The parked join's connection was closed without an answer.
    let mut rest = Vec::new();
    let n = second.read_to_end(&mut rest).await.unwrap_or(0);
    assert_eq!(n, 0, "no response to the parked join");
}
