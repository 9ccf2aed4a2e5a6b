//! KIP-848 consumer groups over raw frames: ConsumerGroupHeartbeat v0 (coordinator-generated
//! member id) and v1 (client-generated), ConsumerGroupDescribe v0 and v1, how the other group
//! APIs see a consumer group (ListGroups, DescribeGroups, JoinGroup, OffsetCommit/OffsetFetch
//! epoch checks, DeleteGroups), and the group coming back after a restart.

use bytes::Bytes;
use sluice_broker::Server;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::consumer_group_heartbeat_request::TopicPartitions;
use sluice_protocol::generated::create_topics_request::CreatableTopic;
use sluice_protocol::generated::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use sluice_protocol::generated::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use sluice_protocol::generated::*;
use std::path::Path;
use tokio::net::TcpStream;

mod common;
use common::call;

async fn start_in(dir: &Path) -> Server {
    common::start_with(dir, |s| s.offsets_topic_num_partitions = 3).await
}

async fn heartbeat(
    s: &mut TcpStream,
    version: i16,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let ResponseBody::ConsumerGroupHeartbeat(r) = call(s, 68, version, RequestBody::ConsumerGroupHeartbeat(req)).await
    else {
        panic!("not a heartbeat response")
    };
    r
}

fn join(member_id: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest {
        group_id: "cg".into(),
        member_id: member_id.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(topics.iter().map(|t| t.to_string()).collect()),
        topic_partitions: Some(Vec::new()),
        ..Default::default()
    }
}

async fn describe(s: &mut TcpStream, version: i16) -> consumer_group_describe_response::DescribedGroup {
    let ResponseBody::ConsumerGroupDescribe(d) = call(
        s,
        69,
        version,
        RequestBody::ConsumerGroupDescribe(ConsumerGroupDescribeRequest {
            group_ids: vec!["cg".into()],
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    d.groups.into_iter().next().unwrap()
}

fn count(a: &Option<consumer_group_heartbeat_response::Assignment>) -> usize {
    a.as_ref()
        .map(|a| a.topic_partitions.iter().map(|t| t.partitions.len()).sum())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_consumer_group_over_both_versions_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path()).await;
    let mut s = common::connect(&server).await;
    let ResponseBody::CreateTopics(created) = call(
        &mut s,
        19,
        7,
        RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 4,
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
    let topic_id = created.topics[0].topic_id;
    assert!(!topic_id.is_zero());

    // ApiVersions advertises both APIs at v0-1.
    let ResponseBody::ApiVersions(av) = call(&mut s, 18, 2, RequestBody::ApiVersions(Default::default())).await else {
        panic!()
    };
    for key in [68, 69] {
        let api = av.api_keys.iter().find(|a| a.api_key == key).expect("advertised");
        assert_eq!((api.min_version, api.max_version), (0, 1));
    }

    // v0: the coordinator generates the member id; the first member gets every partition.
    let a = heartbeat(&mut s, 0, join("", &["t"])).await;
    assert_eq!(a.error_code, 0, "{:?}", a.error_message);
    let a_id = a.member_id.clone().expect("generated id");
    assert!(!a_id.is_empty());
    assert_eq!(a.member_epoch, 1);
    assert_eq!(count(&a.assignment), 4);
    assert_eq!(a.heartbeat_interval_ms, 5_000);

    // v1 requires the member id from the client.
    let bad = heartbeat(&mut s, 1, join("", &["t"])).await;
    assert_eq!(bad.error_code, ErrorCode::InvalidRequest.code());
    assert_eq!(bad.error_message.as_deref(), Some("MemberId can't be empty."));
    let bad = heartbeat(
        &mut s,
        1,
        ConsumerGroupHeartbeatRequest {
            subscribed_topic_names: None,
            subscribed_topic_regex: Some("(".into()),
            ..join("m-bad", &[])
        },
    )
    .await;
    assert_eq!(bad.error_code, ErrorCode::InvalidRegularExpression.code());
    let bad = heartbeat(
        &mut s,
        1,
        ConsumerGroupHeartbeatRequest {
            server_assignor: Some("sticky".into()),
            ..join("m-bad", &["t"])
        },
    )
    .await;
    assert_eq!(bad.error_code, ErrorCode::UnsupportedAssignor.code());

    // v1 member b joins: it gets nothing until a revokes (no partition has two owners).
    let b = heartbeat(&mut s, 1, join("member-b", &["t"])).await;
    assert_eq!(b.error_code, 0, "{:?}", b.error_message);
    assert_eq!(b.member_id.as_deref(), Some("member-b"));
    assert_eq!(b.member_epoch, 2);
    assert_eq!(count(&b.assignment), 0);
    let d = describe(&mut s, 1).await;
    assert_eq!(d.group_epoch, 2);
    assert_eq!(d.assignment_epoch, 2);
    assert_eq!(d.group_state, "Reconciling");
    assert_eq!(d.assignor_name, "uniform");
    assert_eq!(d.authorized_operations, i32::MIN);
    let b_desc = d.members.iter().find(|m| m.member_id == "member-b").unwrap();
    assert_eq!(b_desc.member_type, 1);
    assert_eq!(
        b_desc.target_assignment.topic_partitions[0].partitions.len(),
        2,
        "b's target is half the topic"
    );
    assert_eq!(b_desc.target_assignment.topic_partitions[0].topic_name, "t");

    // a heartbeats at epoch 1: it must revoke two partitions and stays at epoch 1.
    let a1 = heartbeat(
        &mut s,
        0,
        ConsumerGroupHeartbeatRequest {
            group_id: "cg".into(),
            member_id: a_id.clone(),
            member_epoch: 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(a1.error_code, 0);
    assert_eq!(a1.member_epoch, 1);
    assert_eq!(count(&a1.assignment), 2);
    let kept: Vec<i32> = a1.assignment.as_ref().unwrap().topic_partitions[0].partitions.clone();
    // While a still reports all four, it stays at epoch 1 and b gets nothing.
    let still = heartbeat(
        &mut s,
        0,
        ConsumerGroupHeartbeatRequest {
            group_id: "cg".into(),
            member_id: a_id.clone(),
            member_epoch: 1,
            topic_partitions: Some(vec![TopicPartitions {
                topic_id,
                partitions: vec![0, 1, 2, 3],
                ..Default::default()
            }]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!((still.error_code, still.member_epoch), (0, 1));
    // a acknowledges: it owns only the kept partitions now, and moves to epoch 2.
    let a2 = heartbeat(
        &mut s,
        0,
        ConsumerGroupHeartbeatRequest {
            group_id: "cg".into(),
            member_id: a_id.clone(),
            member_epoch: 1,
            topic_partitions: Some(vec![TopicPartitions {
                topic_id,
                partitions: kept.clone(),
                ..Default::default()
            }]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(a2.error_code, 0);
    assert_eq!(a2.member_epoch, 2);
    // b now gets the released partitions.
    let b2 = heartbeat(
        &mut s,
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "cg".into(),
            member_id: "member-b".into(),
            member_epoch: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(b2.error_code, 0);
    assert_eq!(count(&b2.assignment), 2);
    assert_eq!(describe(&mut s, 0).await.group_state, "Stable");

    // Fencing: an epoch from the future, an unknown member.
    let f = heartbeat(
        &mut s,
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "cg".into(),
            member_id: "member-b".into(),
            member_epoch: 7,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(f.error_code, ErrorCode::FencedMemberEpoch.code());
    let u = heartbeat(
        &mut s,
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "cg".into(),
            member_id: "nobody".into(),
            member_epoch: 3,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(u.error_code, ErrorCode::UnknownMemberId.code());

    // The other group APIs.
    let ResponseBody::ListGroups(lg) = call(&mut s, 16, 5, RequestBody::ListGroups(Default::default())).await else {
        panic!()
    };
    let listed = lg.groups.iter().find(|g| g.group_id == "cg").unwrap();
    assert_eq!(listed.group_type, "consumer");
    assert_eq!(listed.group_state, "Stable");
    assert_eq!(listed.protocol_type, "consumer");
    let ResponseBody::DescribeGroups(dg) = call(
        &mut s,
        15,
        6,
        RequestBody::DescribeGroups(DescribeGroupsRequest {
            groups: vec!["cg".into()],
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(dg.groups[0].error_code, ErrorCode::GroupIdNotFound.code());
    let ResponseBody::JoinGroup(jg) = call(
        &mut s,
        11,
        9,
        RequestBody::JoinGroup(JoinGroupRequest {
            group_id: "cg".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    // Online migration (Kafka's default bidirectional policy) lets classic members join, but
    // only with protocols of the consumer protocol type that the classic members share.
    assert_eq!(jg.error_code, ErrorCode::InconsistentGroupProtocol.code());
    let commit = |epoch: i32, version_member: &str| OffsetCommitRequest {
        group_id: "cg".into(),
        generation_id_or_member_epoch: epoch,
        member_id: version_member.into(),
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 11,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    for (epoch, member, version, want) in [
        (1, "member-b", 9, ErrorCode::StaleMemberEpoch),
        (2, "nobody", 9, ErrorCode::UnknownMemberId),
        (2, "member-b", 8, ErrorCode::UnsupportedVersion),
        (-1, "", 9, ErrorCode::UnknownMemberId),
        (2, "member-b", 9, ErrorCode::None),
    ] {
        let ResponseBody::OffsetCommit(c) =
            call(&mut s, 8, version, RequestBody::OffsetCommit(commit(epoch, member))).await
        else {
            panic!()
        };
        assert_eq!(
            c.topics[0].partitions[0].error_code,
            want.code(),
            "{epoch} {member} v{version}"
        );
    }
    let fetch = |member: Option<&str>, epoch: i32| {
        RequestBody::OffsetFetch(OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: "cg".into(),
                member_id: member.map(str::to_string),
                member_epoch: epoch,
                topics: Some(vec![OffsetFetchRequestTopics {
                    name: "t".into(),
                    partition_indexes: vec![0],
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    let ResponseBody::OffsetFetch(f) = call(&mut s, 9, 9, fetch(Some("member-b"), 1)).await else {
        panic!()
    };
    assert_eq!(f.groups[0].error_code, ErrorCode::StaleMemberEpoch.code());
    let ResponseBody::OffsetFetch(f) = call(&mut s, 9, 9, fetch(Some("member-b"), 2)).await else {
        panic!()
    };
    assert_eq!(f.groups[0].error_code, 0);
    assert_eq!(f.groups[0].topics[0].partitions[0].committed_offset, 11);
    let ResponseBody::OffsetFetch(f) = call(&mut s, 9, 9, fetch(None, -1)).await else {
        panic!()
    };
    assert_eq!(f.groups[0].error_code, 0, "admin fetches need no member");

    // v1 regex subscription, resolved against the topics (internal ones excluded).
    let ResponseBody::CreateTopics(created) = call(
        &mut s,
        19,
        7,
        RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "rx-a".into(),
                num_partitions: 3,
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
    let rx_id = created.topics[0].topic_id;
    let rx = heartbeat(
        &mut s,
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "rx".into(),
            subscribed_topic_names: None,
            subscribed_topic_regex: Some("rx-.*|__consumer_offsets".into()),
            ..join("rx-member", &[])
        },
    )
    .await;
    assert_eq!(rx.error_code, 0, "{:?}", rx.error_message);
    let got = rx.assignment.expect("assignment");
    assert_eq!(got.topic_partitions.len(), 1, "only rx-a, not the internal topic");
    assert_eq!(got.topic_partitions[0].topic_id, rx_id);
    assert_eq!(got.topic_partitions[0].partitions, vec![0, 1, 2]);

    let before = describe(&mut s, 1).await;
    drop(s);
    server.shutdown().await;

    // After a restart the group is the same: epochs, members, assignments.
    let server = start_in(dir.path()).await;
    let mut s = common::connect(&server).await;
    let after = describe(&mut s, 1).await;
    assert_eq!(after, before);
    // b's heartbeat at its epoch is accepted and changes nothing.
    let b3 = heartbeat(
        &mut s,
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "cg".into(),
            member_id: "member-b".into(),
            member_epoch: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(b3.error_code, 0, "{:?}", b3.error_message);
    assert_eq!(b3.member_epoch, 2);
    assert_eq!(
        describe(&mut s, 1).await.group_epoch,
        2,
        "no epoch bump after a restart"
    );

    // Both leave; the group empties and can be deleted.
    for (member, v) in [(a_id.as_str(), 0), ("member-b", 1)] {
        let l = heartbeat(
            &mut s,
            v,
            ConsumerGroupHeartbeatRequest {
                group_id: "cg".into(),
                member_id: member.into(),
                member_epoch: -1,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(l.error_code, 0);
        assert_eq!(l.member_epoch, -1);
    }
    assert_eq!(describe(&mut s, 1).await.group_state, "Empty");
    let ResponseBody::DeleteGroups(dg) = call(
        &mut s,
        42,
        2,
        RequestBody::DeleteGroups(DeleteGroupsRequest {
            groups_names: vec!["cg".into()],
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(dg.results[0].error_code, 0);
    let gone = describe(&mut s, 0).await;
    assert_eq!(gone.error_code, ErrorCode::GroupIdNotFound.code());
    drop(s);
    server.shutdown().await;
}

/// A `ConsumerProtocolSubscription` v0 of `topic`.
fn subscription_v0(topic: &str) -> Bytes {
    let mut b = Vec::new();
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    b.extend_from_slice(topic.as_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(b)
}

#[tokio::test]
async fn a_classic_member_joins_a_consumer_group_over_the_wire_and_the_group_downgrades_when_it_is_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path()).await;
    let mut s = common::connect(&server).await;
    let ResponseBody::CreateTopics(created) = call(
        &mut s,
        19,
        7,
        RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 4,
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
    let a = heartbeat(&mut s, 1, join("member-a", &["t"])).await;
    assert_eq!(a.error_code, 0);
    assert_eq!(count(&a.assignment), 4);

    let join_req = |member: &str| {
        RequestBody::JoinGroup(JoinGroupRequest {
            group_id: "cg".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            member_id: member.into(),
            protocol_type: "consumer".into(),
            protocols: vec![join_group_request::JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: subscription_v0("t"),
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    let ResponseBody::JoinGroup(first) = call(&mut s, 11, 9, join_req("")).await else {
        panic!()
    };
    assert_eq!(first.error_code, ErrorCode::MemberIdRequired.code());
    let ResponseBody::JoinGroup(joined) = call(&mut s, 11, 9, join_req(&first.member_id)).await else {
        panic!()
    };
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 2);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert!(joined.members.is_empty());
    let d = describe(&mut s, 1).await;
    assert_eq!(d.members.len(), 2);
    let classic = d.members.iter().find(|m| m.member_id == first.member_id).unwrap();
    assert_eq!(classic.member_type, 0, "a classic member");

    // member-a revokes half; the classic member's partitions are then free.
    let a = heartbeat(
        &mut s,
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "cg".into(),
            member_id: "member-a".into(),
            member_epoch: 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(count(&a.assignment), 2);
    let kept = a.assignment.unwrap().topic_partitions;
    let a = heartbeat(
        &mut s,
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "cg".into(),
            member_id: "member-a".into(),
            member_epoch: 1,
            topic_partitions: Some(
                kept.iter()
                    .map(|t| TopicPartitions {
                        topic_id: t.topic_id,
                        partitions: t.partitions.clone(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(a.member_epoch, 2);
    let hb = |generation: i32| {
        RequestBody::Heartbeat(HeartbeatRequest {
            group_id: "cg".into(),
            generation_id: generation,
            member_id: first.member_id.clone(),
            ..Default::default()
        })
    };
    let ResponseBody::Heartbeat(h) = call(&mut s, 12, 4, hb(2)).await else {
        panic!()
    };
    assert_eq!(
        h.error_code,
        ErrorCode::RebalanceInProgress.code(),
        "its partitions were released"
    );
    let ResponseBody::JoinGroup(joined) = call(&mut s, 11, 9, join_req(&first.member_id)).await else {
        panic!()
    };
    assert_eq!(joined.generation_id, 2);
    let ResponseBody::SyncGroup(sync) = call(
        &mut s,
        14,
        5,
        RequestBody::SyncGroup(SyncGroupRequest {
            group_id: "cg".into(),
            generation_id: 2,
            member_id: first.member_id.clone(),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            ..Default::default()
        }),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(sync.error_code, 0);
    let parts = sluice_group::consumer_protocol::assigned_partitions(&sync.assignment).expect("consumer protocol");
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].0, "t");
    assert_eq!(parts[0].1.len(), 2);
    let ResponseBody::Heartbeat(h) = call(&mut s, 12, 4, hb(2)).await else {
        panic!()
    };
    assert_eq!(h.error_code, 0);

    // The consumer-protocol member leaves: the group is classic again, and rebalances.
    let a = heartbeat(
        &mut s,
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "cg".into(),
            member_id: "member-a".into(),
            member_epoch: -1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(a.error_code, 0);
    let ResponseBody::ListGroups(lg) = call(&mut s, 16, 5, RequestBody::ListGroups(Default::default())).await else {
        panic!()
    };
    let listed = lg.groups.iter().find(|g| g.group_id == "cg").unwrap();
    assert_eq!(listed.group_type, "classic");
    assert_eq!(listed.group_state, "PreparingRebalance");
    let ResponseBody::Heartbeat(h) = call(&mut s, 12, 4, hb(2)).await else {
        panic!()
    };
    assert_eq!(h.error_code, ErrorCode::RebalanceInProgress.code());
    server.shutdown().await;
}
