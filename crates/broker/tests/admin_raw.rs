//! The admin APIs Kafka's command-line tools use, over raw frames, answered as a one-node KRaft
//! Kafka answers them: the ELR lists of DescribeTopicPartitions, the features of ApiVersions,
//! ElectLeaders, List/AlterPartitionReassignments, DescribeQuorum, DescribeProducers, the
//! CLIENT_METRICS and GROUP config resources, ListConfigResources, and a group's own heartbeat
//! interval reaching its members.

use bytes::Bytes;
use sluice_broker::Server;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use sluice_protocol::generated::create_topics_request::CreatableTopic;
use sluice_protocol::generated::describe_configs_request::DescribeConfigsResource;
use sluice_protocol::generated::describe_producers_request::TopicRequest as ProducersTopic;
use sluice_protocol::generated::describe_quorum_request::{PartitionData, TopicData};
use sluice_protocol::generated::elect_leaders_request::TopicPartitions;
use sluice_protocol::generated::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use sluice_protocol::generated::*;
use sluice_protocol::records::{BatchBuilder, NewRecord};
use tokio::net::TcpStream;

mod common;
use common::call;

async fn start() -> (Server, TcpStream) {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), |s| s.offsets_topic_num_partitions = 1).await;
    // The directory lives as long as the test process.
    std::mem::forget(dir);
    let stream = common::connect(&server).await;
    (server, stream)
}

async fn create_topic(s: &mut TcpStream, name: &str, partitions: i32) {
    let body = RequestBody::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 5000,
        ..Default::default()
    });
    let ResponseBody::CreateTopics(r) = call(s, 19, 7, body).await else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, 0);
}

#[tokio::test]
async fn topic_partitions_carry_empty_elr_lists_and_api_versions_carries_features() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "elr", 2).await;
    let req = RequestBody::DescribeTopicPartitions(DescribeTopicPartitionsRequest {
        response_partition_limit: 10,
        ..Default::default()
    });
    let ResponseBody::DescribeTopicPartitions(r) = call(&mut s, 75, 0, req).await else {
        panic!()
    };
    let partitions = &r
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some("elr"))
        .unwrap()
        .partitions;
    assert_eq!(partitions.len(), 2);
    for p in partitions {
        assert_eq!(p.eligible_leader_replicas, Some(Vec::new()));
        assert_eq!(p.last_known_elr, Some(Vec::new()));
    }
    for version in [3, 4] {
        let req = RequestBody::ApiVersions(ApiVersionsRequest {
            client_software_name: "t".into(),
            client_software_version: "1".into(),
            ..Default::default()
        });
        let ResponseBody::ApiVersions(r) = call(&mut s, 18, version, req).await else {
            panic!()
        };
        assert!(r.finalized_features_epoch >= 0, "clients ignore features at epoch -1");
        let finalized: Vec<(&str, i16)> = r
            .finalized_features
            .iter()
            .map(|f| (f.name.as_str(), f.max_version_level))
            .collect();
        assert!(finalized.contains(&("group.version", 1)), "{finalized:?}");
        assert!(
            finalized.iter().all(|(n, _)| *n != "transaction.version"),
            "no transactions V2"
        );
        let supported: Vec<&str> = r.supported_features.iter().map(|f| f.name.as_str()).collect();
        assert!(supported.contains(&"metadata.version"));
        // v3 clients reject a range starting at 0: level-0-only features are left out for them.
        assert_eq!(
            supported.contains(&"transaction.version"),
            version >= 4,
            "v{version}: {supported:?}"
        );
        let group = r.supported_features.iter().find(|f| f.name == "group.version").unwrap();
        assert_eq!(
            (group.min_version, group.max_version),
            (if version >= 4 { 0 } else { 1 }, 1)
        );
        for key in [43, 45, 46, 55, 61, 74] {
            assert!(r.api_keys.iter().any(|k| k.api_key == key), "API {key} advertised");
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn elections_are_not_needed_and_no_reassignment_is_ever_in_progress() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "el", 2).await;
    for version in 0..=2 {
        let req = RequestBody::ElectLeaders(ElectLeadersRequest {
            election_type: if version == 0 { 0 } else { 1 },
            topic_partitions: Some(vec![
                TopicPartitions {
                    topic: "el".into(),
                    partitions: vec![0, 1, 7],
                    ..Default::default()
                },
                TopicPartitions {
                    topic: "missing".into(),
                    partitions: vec![0],
                    ..Default::default()
                },
            ]),
            timeout_ms: 1000,
            ..Default::default()
        });
        let ResponseBody::ElectLeaders(r) = call(&mut s, 43, version, req).await else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
        let codes: Vec<Vec<i16>> = r
            .replica_election_results
            .iter()
            .map(|t| t.partition_result.iter().map(|p| p.error_code).collect())
            .collect();
        let not_needed = ErrorCode::ElectionNotNeeded.code();
        let unknown = ErrorCode::UnknownTopicOrPartition.code();
        assert_eq!(
            codes,
            vec![vec![not_needed, not_needed, unknown], vec![unknown]],
            "v{version}"
        );
        let all = RequestBody::ElectLeaders(ElectLeadersRequest {
            topic_partitions: None,
            ..Default::default()
        });
        let ResponseBody::ElectLeaders(r) = call(&mut s, 43, version, all).await else {
            panic!()
        };
        assert!(
            r.replica_election_results.is_empty(),
            "partitions not needing one are left out"
        );
    }
    let ResponseBody::ListPartitionReassignments(r) = call(
        &mut s,
        46,
        0,
        RequestBody::ListPartitionReassignments(ListPartitionReassignmentsRequest::default()),
    )
    .await
    else {
        panic!()
    };
    assert_eq!((r.error_code, r.topics.len()), (0, 0));
    let part = |index: i32, replicas: Option<Vec<i32>>| ReassignablePartition {
        partition_index: index,
        replicas,
        ..Default::default()
    };
    for version in 0..=1 {
        let req = RequestBody::AlterPartitionReassignments(AlterPartitionReassignmentsRequest {
            allow_replication_factor_change: true,
            topics: vec![ReassignableTopic {
                name: "el".into(),
                partitions: vec![
                    part(0, Some(vec![1])),
                    part(1, Some(vec![2])),
                    part(0, Some(vec![1, 1])),
                    part(1, Some(Vec::new())),
                    part(1, None),
                    part(9, Some(vec![1])),
                ],
                ..Default::default()
            }],
            ..Default::default()
        });
        let ResponseBody::AlterPartitionReassignments(r) = call(&mut s, 45, version, req).await else {
            panic!()
        };
        let codes: Vec<i16> = r.responses[0].partitions.iter().map(|p| p.error_code).collect();
        let invalid = ErrorCode::InvalidReplicaAssignment.code();
        assert_eq!(
            codes,
            vec![
                0,
                invalid,
                invalid,
                invalid,
                ErrorCode::NoReassignmentInProgress.code(),
                ErrorCode::UnknownTopicOrPartition.code()
            ],
            "v{version}"
        );
        assert!(
            r.responses[0].partitions[1]
                .error_message
                .as_deref()
                .unwrap()
                .contains("broker 2")
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_quorum_is_this_node_alone_in_every_version() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "q", 1).await;
    let request = |topic: &str| {
        RequestBody::DescribeQuorum(DescribeQuorumRequest {
            topics: vec![TopicData {
                topic_name: topic.into(),
                partitions: vec![PartitionData {
                    partition_index: 0,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    for version in 0..=2 {
        let ResponseBody::DescribeQuorum(r) = call(&mut s, 55, version, request("__cluster_metadata")).await else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.leader_id), (0, 1));
        assert!(p.high_watermark > 0, "the topic's creation is in the log");
        assert_eq!(
            p.current_voters.iter().map(|v| v.replica_id).collect::<Vec<_>>(),
            vec![1]
        );
        assert!(p.observers.is_empty());
        assert_eq!(r.nodes.len(), usize::from(version >= 2));
        let ResponseBody::DescribeQuorum(r) = call(&mut s, 55, version, request("other")).await else {
            panic!()
        };
        assert_eq!(
            r.topics[0].partitions[0].error_code,
            ErrorCode::UnknownTopicOrPartition.code()
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn describe_producers_reports_the_idempotent_producers_of_a_partition() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "idem", 1).await;
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
    // Recent timestamps: a producer idle for producer.id.expiration.ms is dropped.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(init.error_code, 0);
    let mut batch = BatchBuilder::new(0);
    for i in 0..3 {
        batch
            .append(&NewRecord::new(now_ms + i, None, Some(Bytes::from("v"))))
            .unwrap();
    }
    let records = batch
        .producer(init.producer_id, init.producer_epoch, 0)
        .build()
        .unwrap()
        .into_bytes();
    let produce = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: "idem".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::Produce(p) = call(&mut s, 0, 9, produce).await else {
        panic!()
    };
    assert_eq!(p.responses[0].partition_responses[0].error_code, 0);
    let req = RequestBody::DescribeProducers(DescribeProducersRequest {
        topics: vec![
            ProducersTopic {
                name: "idem".into(),
                partition_indexes: vec![0, 3],
                ..Default::default()
            },
            ProducersTopic {
                name: "missing".into(),
                partition_indexes: vec![0],
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    let ResponseBody::DescribeProducers(r) = call(&mut s, 61, 0, req).await else {
        panic!()
    };
    let p0 = &r.topics[0].partitions[0];
    assert_eq!(p0.error_code, 0);
    assert_eq!(p0.active_producers.len(), 1);
    let state = &p0.active_producers[0];
    assert_eq!(state.producer_id, init.producer_id);
    assert_eq!(state.producer_epoch, i32::from(init.producer_epoch));
    assert_eq!(state.last_sequence, 2);
    assert_eq!(state.last_timestamp, now_ms + 2);
    assert_eq!((state.coordinator_epoch, state.current_txn_start_offset), (-1, -1));
    let unknown = ErrorCode::UnknownTopicOrPartition.code();
    assert_eq!(r.topics[0].partitions[1].error_code, unknown);
    assert_eq!(r.topics[1].partitions[0].error_code, unknown);
    server.shutdown().await;
}

fn alter(resource_type: i8, name: &str, configs: &[(&str, i8, Option<&str>)]) -> RequestBody {
    RequestBody::IncrementalAlterConfigs(IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type,
            resource_name: name.into(),
            configs: configs
                .iter()
                .map(|(k, op, v)| AlterableConfig {
                    name: (*k).into(),
                    config_operation: *op,
                    value: v.map(str::to_owned),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    })
}

async fn alter_outcome(s: &mut TcpStream, body: RequestBody) -> (i16, Option<String>) {
    let ResponseBody::IncrementalAlterConfigs(r) = call(s, 44, 1, body).await else {
        panic!()
    };
    (r.responses[0].error_code, r.responses[0].error_message.clone())
}

async fn describe(s: &mut TcpStream, resource_type: i8, name: &str) -> Vec<(String, Option<String>, i8)> {
    let req = RequestBody::DescribeConfigs(DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type,
            resource_name: name.into(),
            configuration_keys: None,
            ..Default::default()
        }],
        include_synonyms: true,
        ..Default::default()
    });
    let ResponseBody::DescribeConfigs(r) = call(s, 32, 4, req).await else {
        panic!()
    };
    assert_eq!(r.results[0].error_code, 0, "{:?}", r.results[0].error_message);
    r.results[0]
        .configs
        .iter()
        .map(|c| (c.name.clone(), c.value.clone(), c.config_source))
        .collect()
}

#[tokio::test]
async fn client_metrics_subscriptions_are_stored_checked_and_listed() {
    let (server, mut s) = start().await;
    let set = alter(
        16,
        "cm1",
        &[
            ("metrics", 0, Some("org.apache.kafka.producer.")),
            ("interval.ms", 0, Some("1000")),
            ("match", 0, Some("client_id=app.*")),
        ],
    );
    assert_eq!(alter_outcome(&mut s, set).await.0, 0);
    let configs = describe(&mut s, 16, "cm1").await;
    assert!(
        configs.contains(&("interval.ms".into(), Some("1000".into()), 7)),
        "{configs:?}"
    );
    assert!(configs.contains(&("match".into(), Some("client_id=app.*".into()), 7)));
    let bad_interval = alter(16, "cm1", &[("interval.ms", 0, Some("5"))]);
    let (code, message) = alter_outcome(&mut s, bad_interval).await;
    assert_eq!(code, ErrorCode::InvalidRequest.code(), "{message:?}");
    let bad_match = alter(16, "cm1", &[("match", 0, Some("nobody=x"))]);
    assert_eq!(
        alter_outcome(&mut s, bad_match).await.0,
        ErrorCode::InvalidConfig.code()
    );
    for (version, types) in [(0, vec![]), (1, vec![16]), (1, vec![])] {
        let req = RequestBody::ListConfigResources(ListConfigResourcesRequest {
            resource_types: types.clone(),
            ..Default::default()
        });
        let ResponseBody::ListConfigResources(r) = call(&mut s, 74, version, req).await else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
        assert!(
            r.config_resources
                .iter()
                .any(|c| c.resource_name == "cm1" && (version == 0 || c.resource_type == 16)),
            "v{version} {types:?}: {:?}",
            r.config_resources
        );
    }
    let delete = alter(
        16,
        "cm1",
        &[("metrics", 1, None), ("interval.ms", 1, None), ("match", 1, None)],
    );
    assert_eq!(alter_outcome(&mut s, delete).await.0, 0);
    let req = RequestBody::ListConfigResources(ListConfigResourcesRequest::default());
    let ResponseBody::ListConfigResources(r) = call(&mut s, 74, 0, req).await else {
        panic!()
    };
    assert!(r.config_resources.is_empty(), "a subscription with no values is gone");
    server.shutdown().await;
}

#[tokio::test]
async fn a_groups_heartbeat_interval_is_checked_against_the_bounds_and_reaches_its_members() {
    let (server, mut s) = start().await;
    create_topic(&mut s, "hb", 1).await;
    let too_small = alter(32, "cg", &[("consumer.heartbeat.interval.ms", 0, Some("1"))]);
    let (code, message) = alter_outcome(&mut s, too_small).await;
    assert_eq!(code, ErrorCode::InvalidConfig.code());
    assert_eq!(
        message.as_deref(),
        Some(
            "consumer.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms"
        )
    );
    let unknown = alter(32, "cg", &[("share.session.timeout.ms", 0, Some("45000"))]);
    assert_eq!(alter_outcome(&mut s, unknown).await.0, ErrorCode::InvalidConfig.code());
    // The legacy AlterConfigs replaces the whole set: the session timeout set here goes again.
    let legacy = RequestBody::AlterConfigs(AlterConfigsRequest {
        resources: vec![alter_configs_request::AlterConfigsResource {
            resource_type: 32,
            resource_name: "cg".into(),
            configs: vec![alter_configs_request::AlterableConfig {
                name: "consumer.session.timeout.ms".into(),
                value: Some("50000".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::AlterConfigs(r) = call(&mut s, 33, 2, legacy).await else {
        panic!()
    };
    assert_eq!(r.responses[0].error_code, 0, "{:?}", r.responses[0].error_message);
    let configs = describe(&mut s, 32, "cg").await;
    assert!(configs.contains(&("consumer.session.timeout.ms".into(), Some("50000".into()), 8)));
    let set = alter(32, "cg", &[("consumer.heartbeat.interval.ms", 0, Some("7000"))]);
    assert_eq!(alter_outcome(&mut s, set).await.0, 0);
    let legacy_heartbeat_only = RequestBody::AlterConfigs(AlterConfigsRequest {
        resources: vec![alter_configs_request::AlterConfigsResource {
            resource_type: 32,
            resource_name: "cg".into(),
            configs: vec![alter_configs_request::AlterableConfig {
                name: "consumer.heartbeat.interval.ms".into(),
                value: Some("7000".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::AlterConfigs(r) = call(&mut s, 33, 2, legacy_heartbeat_only).await else {
        panic!()
    };
    assert_eq!(r.responses[0].error_code, 0);
    let configs = describe(&mut s, 32, "cg").await;
    assert!(configs.contains(&("consumer.heartbeat.interval.ms".into(), Some("7000".into()), 8)));
    assert!(configs.contains(&("consumer.session.timeout.ms".into(), Some("45000".into()), 5)));
    let join = |group: &str| {
        RequestBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest {
            group_id: group.into(),
            member_id: format!("member-of-{group}-0000000"),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["hb".into()]),
            topic_partitions: Some(Vec::new()),
            ..Default::default()
        })
    };
    let ResponseBody::ConsumerGroupHeartbeat(r) = call(&mut s, 68, 1, join("cg")).await else {
        panic!()
    };
    assert_eq!(
        (r.error_code, r.heartbeat_interval_ms),
        (0, 7000),
        "{:?}",
        r.error_message
    );
    let ResponseBody::ConsumerGroupHeartbeat(r) = call(&mut s, 68, 1, join("other")).await else {
        panic!()
    };
    assert_eq!(
        (r.error_code, r.heartbeat_interval_ms),
        (0, 5000),
        "others keep the broker's value"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn group_configs_and_subscriptions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), |s| s.offsets_topic_num_partitions = 1).await;
    let mut s = common::connect(&server).await;
    create_topic(&mut s, "hb", 1).await;
    let set = alter(32, "kept", &[("consumer.heartbeat.interval.ms", 0, Some("8000"))]);
    assert_eq!(alter_outcome(&mut s, set).await.0, 0);
    let set = alter(16, "sub", &[("interval.ms", 0, Some("2000"))]);
    assert_eq!(alter_outcome(&mut s, set).await.0, 0);
    drop(s);
    server.shutdown().await;

    let server = common::start_with(dir.path(), |s| s.offsets_topic_num_partitions = 1).await;
    let mut s = common::connect(&server).await;
    let configs = describe(&mut s, 16, "sub").await;
    assert!(
        configs.contains(&("interval.ms".into(), Some("2000".into()), 7)),
        "{configs:?}"
    );
    let join = RequestBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest {
        group_id: "kept".into(),
        member_id: "member-of-kept-00000000".into(),
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["hb".into()]),
        topic_partitions: Some(Vec::new()),
        ..Default::default()
    });
    let ResponseBody::ConsumerGroupHeartbeat(r) = call(&mut s, 68, 1, join).await else {
        panic!()
    };
    assert_eq!(
        (r.error_code, r.heartbeat_interval_ms),
        (0, 8000),
        "{:?}",
        r.error_message
    );
    server.shutdown().await;
}
