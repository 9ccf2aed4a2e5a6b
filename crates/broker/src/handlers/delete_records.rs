//! DeleteRecords (key 21): move a partition's log start offset forward.
//!
//! Offset -1 means the high watermark. An offset above the high watermark is OFFSET_OUT_OF_RANGE;
//! one below the current log start changes nothing. The answer carries the new low watermark.
//! Internal topics are refused with INVALID_TOPIC_EXCEPTION, as Kafka does.

use super::Output;
use crate::context::Broker;
use crate::errors::storage_error_code;
use crate::session::RequestContext;
use crate::topics::INTERNAL_TOPICS;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use sluice_protocol::generated::{DeleteRecordsRequest, DeleteRecordsResponse};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 21;
/// Versions served: all Kafka 4 defines.
pub const VERSIONS: (i16, i16) = (0, 2);
pub fn handle(ctx: &RequestContext<'_>, req: DeleteRecordsRequest) -> Output {
    // DELETE on each topic; a denied topic keeps its records.
    let (allowed, denied): (Vec<_>, Vec<_>) = req
        .topics
        .iter()
        .cloned()
        .partition(|t| ctx.authorize(AclOperation::Delete, ResourceType::Topic, &t.name));
    let mut response = answer(ctx.broker, &DeleteRecordsRequest { topics: allowed, ..req });
    response.topics.extend(denied.into_iter().map(|t| {
        DeleteRecordsTopicResult {
            name: t.name,
            partitions: t
                .partitions
                .iter()
                .map(|p| DeleteRecordsPartitionResult {
                    partition_index: p.partition_index,
                    low_watermark: -1,
                    error_code: ErrorCode::TopicAuthorizationFailed.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }));
    Output::respond(response)
}

fn answer(broker: &Broker, req: &DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let (topic, overrides) = broker.topic_with_configs(&t.name).unzip();
            let overrides = overrides.flatten();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut out = DeleteRecordsPartitionResult {
                        partition_index: p.partition_index,
                        low_watermark: -1,
                        ..Default::default()
                    };
                    let Some(topic) = topic.as_ref().filter(|t| t.partitions.contains_key(&p.partition_index)) else {
                        out.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        return out;
                    };
                    // A coordinator's state lives in its internal topic from the first record on:
                    // moving the log start would lose committed offsets on the next load. Kafka's
                    // ReplicaManager refuses it (after the existence check) with
                    // INVALID_TOPIC_EXCEPTION.
                    if INTERNAL_TOPICS.contains(&topic.name.as_str()) {
                        out.error_code = ErrorCode::InvalidTopicException.code();
                        return out;
                    }
                    let result = broker
                        .logs
                        .partition(topic, p.partition_index, overrides.as_ref())
                        .and_then(|partition| {
                            let mut log = partition.write();
                            let offset = if p.offset == -1 { log.high_watermark() } else { p.offset };
                            if offset < 0 || offset > log.high_watermark() {
                                return Ok(Err(ErrorCode::OffsetOutOfRange));
                            }
                            log.delete_records_before(offset).map(Ok)
                        });
                    match result {
                        Ok(Ok(low_watermark)) => out.low_watermark = low_watermark,
                        Ok(Err(code)) => out.error_code = code.code(),
                        Err(e) => out.error_code = storage_error_code(&e).code(),
                    }
                    out
                })
                .collect();
            DeleteRecordsTopicResult {
                name: t.name.clone(),
                partitions,
                ..Default::default()
            }
        })
        .collect();
    DeleteRecordsResponse {
        topics,
        ..Default::default()
    }
}
