//! ElectLeaders (key 43): leader elections, answered as a one-node Kafka (KRaft) answers them.
//!
//! Every partition has one replica, this node, which leads it: a preferred election finds the
//! preferred leader in place and an unclean one finds a live leader, so each named partition is
//! ELECTION_NOT_NEEDED. As Kafka's controller does, a request for all partitions (null list)
//! leaves those out of the answer, and unknown topics or partitions are
//! UNKNOWN_TOPIC_OR_PARTITION. ALTER on the cluster is required.

use super::Output;
use crate::session::RequestContext;
use sluice_metadata::MetadataImage;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use sluice_protocol::generated::{ElectLeadersRequest, ElectLeadersResponse};
use sluice_security::acl::{AclOperation, CLUSTER_NAME, ResourceType};

pub const API_KEY: i16 = 43;
/// Versions served: all Kafka 4 defines.
pub const VERSIONS: (i16, i16) = (0, 2);
/// Kafka's election types: 0 preferred, 1 unclean.
const ELECTION_TYPES: [i8; 2] = [0, 1];

pub fn handle(ctx: &RequestContext<'_>, req: ElectLeadersRequest) -> Output {
    let version = ctx.header.request_api_version;
    if !ctx.authorize(AclOperation::Alter, ResourceType::Cluster, CLUSTER_NAME) {
        return Output::respond(every_partition_fails(
            &req,
            ErrorCode::ClusterAuthorizationFailed,
            version,
        ));
    }
    if !ELECTION_TYPES.contains(&req.election_type) {
        return Output::respond(every_partition_fails(&req, ErrorCode::InvalidRequest, version));
    }
    let store = ctx.broker.metadata();
    Output::respond(answer(store.image(), &req))
}

/// The same error for every named partition, and at the top level where the version has one.
fn every_partition_fails(req: &ElectLeadersRequest, code: ErrorCode, version: i16) -> ElectLeadersResponse {
    let results = req
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| ReplicaElectionResult {
            topic: t.topic.clone(),
            partition_result: t
                .partitions
                .iter()
                .map(|p| partition_result(*p, code, Some(code.message().to_owned())))
                .collect(),
            ..Default::default()
        })
        .collect();
    ElectLeadersResponse {
        error_code: if version >= 1 { code.code() } else { 0 },
        replica_election_results: results,
        ..Default::default()
    }
}

fn partition_result(partition_id: i32, code: ErrorCode, message: Option<String>) -> PartitionResult {
    PartitionResult {
        partition_id,
        error_code: code.code(),
        error_message: message,
        ..Default::default()
    }
}

fn answer(image: &MetadataImage, req: &ElectLeadersRequest) -> ElectLeadersResponse {
    // With a null list every partition is considered; none needs an election, and Kafka leaves
    // those out, so the answer is empty.
    let results = req
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| ReplicaElectionResult {
            topic: t.topic.clone(),
            partition_result: t.partitions.iter().map(|p| elect(image, &t.topic, *p)).collect(),
            ..Default::default()
        })
        .collect();
    ElectLeadersResponse {
        replica_election_results: results,
        ..Default::default()
    }
}

/// The outcome of electing a leader for one partition, with Kafka's messages.
fn elect(image: &MetadataImage, topic: &str, partition: i32) -> PartitionResult {
    let Some(t) = image.topic(topic) else {
        let message = format!("No such topic as {topic}");
        return partition_result(partition, ErrorCode::UnknownTopicOrPartition, Some(message));
    };
    if !t.partitions.contains_key(&partition) {
        let message = format!("No such partition as {topic}-{partition}");
        return partition_result(partition, ErrorCode::UnknownTopicOrPartition, Some(message));
    }
    let code = ErrorCode::ElectionNotNeeded;
    partition_result(partition, code, Some(code.message().to_owned()))
}
