//! DescribeQuorum (key 55): the metadata quorum, as a one-node Kafka in combined mode describes
//! it: `__cluster_metadata` partition 0, led by this node, the only voter, with no observers.
//!
//! Kafka answers a request naming anything but that one partition with UNKNOWN_TOPIC_OR_PARTITION
//! on each partition named; DESCRIBE on the cluster is required. The high watermark is the next
//! metadata log offset. Sluice has no controller listener, so the voter's endpoint (v2) is the
//! listener the request came in on; its directory id is unset, as for Kafka's static voters
//! (`kraft.version` 0).

use super::Output;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use sluice_protocol::generated::{DescribeQuorumRequest, DescribeQuorumResponse};
use sluice_security::acl::{AclOperation, CLUSTER_NAME, ResourceType};

pub const API_KEY: i16 = 55;
/// Versions served: all Kafka 4 defines.
pub const VERSIONS: (i16, i16) = (0, 2);
/// The metadata log's topic, as Kafka names it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

pub fn handle(ctx: &RequestContext<'_>, req: DescribeQuorumRequest) -> Output {
    if !ctx.authorize(AclOperation::Describe, ResourceType::Cluster, CLUSTER_NAME) {
        let code = ErrorCode::ClusterAuthorizationFailed;
        return Output::respond(DescribeQuorumResponse {
            error_code: code.code(),
            error_message: (ctx.header.request_api_version >= 2).then(|| code.message().to_owned()),
            ..Default::default()
        });
    }
    if !names_the_metadata_partition(&req) {
        return Output::respond(every_partition_unknown(&req));
    }
    let (offset, epoch) = {
        let store = ctx.broker.metadata();
        (store.image().offset, store.epoch())
    };
    let now_ms = crate::logs::now_ms();
    let node_id = ctx.broker.settings.node_id;
    let leader = ReplicaState {
        replica_id: node_id,
        log_end_offset: offset + 1,
        // Kafka reports the current time for the leader itself.
        last_fetch_timestamp: now_ms,
        last_caught_up_timestamp: now_ms,
        ..Default::default()
    };
    let listener = &ctx.session.listener;
    Output::respond(DescribeQuorumResponse {
        topics: vec![TopicData {
            topic_name: METADATA_TOPIC.into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                leader_id: node_id,
                leader_epoch: epoch,
                high_watermark: offset + 1,
                current_voters: vec![leader],
                observers: Vec::new(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        // Nodes exist from v2 on; a non-default value in an older version cannot be encoded.
        nodes: if ctx.header.request_api_version < 2 {
            Vec::new()
        } else {
            vec![Node {
                node_id,
                listeners: vec![Listener {
                    name: listener.name.clone(),
                    host: listener.advertised_host.clone(),
                    port: listener.advertised_port,
                    ..Default::default()
                }],
                ..Default::default()
            }]
        },
        ..Default::default()
    })
}

/// Kafka's check: exactly one topic, the metadata topic, with exactly its partition 0.
fn names_the_metadata_partition(req: &DescribeQuorumRequest) -> bool {
    matches!(req.topics.as_slice(), [t] if t.topic_name == METADATA_TOPIC
        && matches!(t.partitions.as_slice(), [p] if p.partition_index == 0))
}

fn every_partition_unknown(req: &DescribeQuorumRequest) -> DescribeQuorumResponse {
    let code = ErrorCode::UnknownTopicOrPartition;
    DescribeQuorumResponse {
        topics: req
            .topics
            .iter()
            .map(|t| TopicData {
                topic_name: t.topic_name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionData {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
