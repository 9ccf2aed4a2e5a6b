//! ListPartitionReassignments (key 46) and AlterPartitionReassignments (key 45), as a one-node
//! Kafka answers them.
//!
//! With one broker no reassignment is ever in progress: the list is empty, cancelling finds
//! NO_REASSIGNMENT_IN_PROGRESS, and the only valid target, the replica set already in place, is
//! accepted as the no-op it is. Targets are checked as Kafka's controller checks a manual
//! assignment (non-empty, no broker twice, only registered brokers, and the replication factor
//! kept when the request forbids changing it). DESCRIBE (list) and ALTER (alter) on the cluster
//! are required.

use super::Output;
use crate::session::RequestContext;
use sluice_metadata::MetadataImage;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::alter_partition_reassignments_request::ReassignablePartition;
use sluice_protocol::generated::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use sluice_protocol::generated::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
};
use sluice_security::acl::{AclOperation, CLUSTER_NAME, ResourceType};
use std::collections::BTreeSet;

/// ListPartitionReassignments.
pub const LIST_API_KEY: i16 = 46;
/// Versions of ListPartitionReassignments served: all Kafka 4 defines.
pub const LIST_VERSIONS: (i16, i16) = (0, 0);
/// AlterPartitionReassignments.
pub const ALTER_API_KEY: i16 = 45;
/// Versions of AlterPartitionReassignments served: all Kafka 4 defines.
pub const ALTER_VERSIONS: (i16, i16) = (0, 1);

pub fn handle_list(ctx: &RequestContext<'_>, _req: ListPartitionReassignmentsRequest) -> Output {
    if !ctx.authorize(AclOperation::Describe, ResourceType::Cluster, CLUSTER_NAME) {
        let code = ErrorCode::ClusterAuthorizationFailed;
        return Output::respond(ListPartitionReassignmentsResponse {
            error_code: code.code(),
            error_message: Some(code.message().to_owned()),
            ..Default::default()
        });
    }
    // Named topics or partitions that do not exist are left out, as Kafka does; the ones that
    // do exist have no reassignment.
    Output::respond(ListPartitionReassignmentsResponse::default())
}

pub fn handle_alter(ctx: &RequestContext<'_>, req: AlterPartitionReassignmentsRequest) -> Output {
    let mut response = AlterPartitionReassignmentsResponse {
        allow_replication_factor_change: req.allow_replication_factor_change,
        ..Default::default()
    };
    if !ctx.authorize(AclOperation::Alter, ResourceType::Cluster, CLUSTER_NAME) {
        let code = ErrorCode::ClusterAuthorizationFailed;
        response.error_code = code.code();
        response.error_message = Some(code.message().to_owned());
        return Output::respond(response);
    }
    let store = ctx.broker.metadata();
    let image = store.image();
    response.responses = req
        .topics
        .iter()
        .map(|t| ReassignableTopicResponse {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let node_id = ctx.broker.settings.node_id;
                    let (code, message) =
                        match reassign(image, node_id, &t.name, p, req.allow_replication_factor_change) {
                            Ok(()) => (ErrorCode::None, None),
                            Err((code, message)) => (code, Some(message)),
                        };
                    ReassignablePartitionResponse {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                        error_message: message,
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    Output::respond(response)
}

/// Checks one partition's reassignment; accepting it changes nothing, since a valid target on
/// one node is the replica set in place.
fn reassign(
    image: &MetadataImage,
    node_id: i32,
    topic: &str,
    p: &ReassignablePartition,
    allow_replication_factor_change: bool,
) -> Result<(), (ErrorCode, String)> {
    let unknown = || {
        (
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::UnknownTopicOrPartition.message().to_owned(),
        )
    };
    let current = image
        .topic(topic)
        .and_then(|t| t.partitions.get(&p.partition_index))
        .ok_or_else(unknown)?;
    let Some(target) = &p.replicas else {
        let code = ErrorCode::NoReassignmentInProgress;
        return Err((code, code.message().to_owned()));
    };
    check_target(image, node_id, target)?;
    if !allow_replication_factor_change && target.len() != current.replicas.len() {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            format!(
                "The replication factor is changed from {} to {}",
                current.replicas.len(),
                target.len()
            ),
        ));
    }
    if *target != current.replicas {
        // Only reachable with more brokers registered than this one, which does not happen on
        // a single node; refuse rather than claim a move that is not made.
        return Err((
            ErrorCode::InvalidReplicaAssignment,
            "Sluice runs a single broker and cannot move replicas.".to_owned(),
        ));
    }
    Ok(())
}

/// Kafka's checks of a manual replica assignment, with its messages. This node counts as
/// registered whether or not its registration is in the image yet.
fn check_target(image: &MetadataImage, node_id: i32, target: &[i32]) -> Result<(), (ErrorCode, String)> {
    let invalid = |message: String| (ErrorCode::InvalidReplicaAssignment, message);
    if target.is_empty() {
        return Err(invalid(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    for broker in target {
        if !seen.insert(*broker) {
            return Err(invalid(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            )));
        }
        if *broker != node_id && !image.brokers.contains_key(broker) {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {broker}, but no such broker is registered."
            )));
        }
    }
    Ok(())
}
