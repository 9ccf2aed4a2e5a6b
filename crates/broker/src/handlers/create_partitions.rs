//! CreatePartitions (key 37): add partitions to existing topics.

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use crate::topics::TOPIC_PARTITIONS_MAX;
use sluice_metadata::MetadataRecord;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::create_partitions_response::CreatePartitionsTopicResult;
use sluice_protocol::generated::{CreatePartitionsRequest, CreatePartitionsResponse};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 37;
/// Versions served: all Kafka 4 defines.
pub const VERSIONS: (i16, i16) = (0, 3);
pub fn handle(ctx: &RequestContext<'_>, req: CreatePartitionsRequest) -> Output {
    // ALTER on each topic; a denied topic keeps its partitions.
    let (allowed, denied): (Vec<_>, Vec<_>) = req
        .topics
        .iter()
        .cloned()
        .partition(|t| ctx.authorize(AclOperation::Alter, ResourceType::Topic, &t.name));
    // controller_mutation_rate: strict from v3, which can carry THROTTLING_QUOTA_EXCEEDED.
    let mut quota = crate::quotas::mutation::MutationQuota::new(ctx, 3);
    let mut response = answer(
        ctx.broker,
        &mut quota,
        &CreatePartitionsRequest { topics: allowed, ..req },
    );
    response.throttle_time_ms = quota.throttle_time_ms();
    response
        .results
        .extend(denied.into_iter().map(|t| CreatePartitionsTopicResult {
            name: t.name,
            error_code: ErrorCode::TopicAuthorizationFailed.code(),
            error_message: Some("Authorization failed.".into()),
            ..Default::default()
        }));
    Output::respond(response)
}

fn answer(
    broker: &Broker,
    quota: &mut crate::quotas::mutation::MutationQuota,
    req: &CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let node_id = broker.settings.node_id;
    let results = req
        .topics
        .iter()
        .map(|t| {
            let outcome: Result<(), (ErrorCode, String)> = (|| {
                let mut store = broker.metadata();
                let Some(topic) = store.image().topic(&t.name) else {
                    return Err((
                        ErrorCode::UnknownTopicOrPartition,
                        "This server does not host this topic-partition.".into(),
                    ));
                };
                let current = topic.partitions.len() as i32;
                if t.count < current {
                    return Err((
                        ErrorCode::InvalidPartitions,
                        format!(
                            "Topic currently has {current} partitions, which is higher than the requested {}.",
                            t.count
                        ),
                    ));
                }
                if t.count == current {
                    return Err((
                        ErrorCode::InvalidPartitions,
                        format!("Topic already has {current} partitions."),
                    ));
                }
                if t.count > TOPIC_PARTITIONS_MAX {
                    return Err((
                        ErrorCode::InvalidPartitions,
                        format!("Number of partitions must be at most {TOPIC_PARTITIONS_MAX}."),
                    ));
                }
                let added = (t.count - current) as usize;
                if let Some(assignments) = &t.assignments {
                    if assignments.len() != added {
                        return Err((
                            ErrorCode::InvalidReplicaAssignment,
                            format!(
                                "Increasing the number of partitions by {added} but {} assignments provided.",
                                assignments.len()
                            ),
                        ));
                    }
                    if assignments.iter().any(|a| a.broker_ids != [node_id]) {
                        return Err((
                            ErrorCode::InvalidReplicaAssignment,
                            format!("Only broker {node_id} is registered."),
                        ));
                    }
                }
                if req.validate_only {
                    return Ok(());
                }
                quota.admit()?;
                let topic_id = topic.topic_id;
                let records: Vec<MetadataRecord> = (current..t.count)
                    .map(|partition| MetadataRecord::Partition {
                        topic_id,
                        partition,
                        replicas: vec![node_id],
                        isr: vec![node_id],
                        leader: node_id,
                        leader_epoch: 0,
                        partition_epoch: 0,
                    })
                    .collect();
                store
                    .commit(&records)
                    .map_err(|e| (ErrorCode::UnknownServerError, e.to_string()))?;
                quota.record(added as i64);
                Ok(())
            })();
            match outcome {
                Ok(()) => CreatePartitionsTopicResult {
                    name: t.name.clone(),
                    error_code: 0,
                    error_message: None,
                    ..Default::default()
                },
                Err((code, message)) => CreatePartitionsTopicResult {
                    name: t.name.clone(),
                    error_code: code.code(),
                    error_message: Some(message),
                    ..Default::default()
                },
            }
        })
        .collect();
    CreatePartitionsResponse {
        results,
        ..Default::default()
    }
}
