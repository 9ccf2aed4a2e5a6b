//! DescribeProducers (key 61): the idempotent producers a partition knows (KIP-664,
//! `kafka-transactions describe-producers`).
//!
//! Each partition's state is the one the append path keeps (`producers.rs`): producer id,
//! epoch, last sequence and the timestamp of its last batch. Sluice has no transactions yet, so
//! the coordinator epoch and transaction start offset are Kafka's "none" values (-1). READ on
//! the topic is required (TOPIC_AUTHORIZATION_FAILED per partition otherwise); unknown topics and
//! partitions are UNKNOWN_TOPIC_OR_PARTITION.

use super::Output;
use crate::errors::storage_error_code;
use crate::producers::ProducerEntry;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::describe_producers_request::TopicRequest;
use sluice_protocol::generated::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use sluice_protocol::generated::{DescribeProducersRequest, DescribeProducersResponse};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 61;
/// Versions served: all Kafka 4 defines.
pub const VERSIONS: (i16, i16) = (0, 0);

pub fn handle(ctx: &RequestContext<'_>, req: DescribeProducersRequest) -> Output {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let allowed = ctx.authorize(AclOperation::Read, ResourceType::Topic, &t.name);
            TopicResponse {
                name: t.name.clone(),
                partitions: describe_topic(ctx, t, allowed),
                ..Default::default()
            }
        })
        .collect();
    Output::respond(DescribeProducersResponse {
        topics,
        ..Default::default()
    })
}

fn describe_topic(ctx: &RequestContext<'_>, t: &TopicRequest, allowed: bool) -> Vec<PartitionResponse> {
    let found = if allowed {
        ctx.broker.topic_with_configs(&t.name)
    } else {
        None
    };
    t.partition_indexes
        .iter()
        .map(|index| {
            let result = if !allowed {
                Err(ErrorCode::TopicAuthorizationFailed)
            } else {
                match &found {
                    Some((topic, overrides)) if topic.partitions.contains_key(index) => ctx
                        .broker
                        .logs
                        .partition(topic, *index, overrides.as_ref())
                        .map(|p| p.producers().entries().into_iter().map(producer).collect())
                        .map_err(|e| storage_error_code(&e)),
                    _ => Err(ErrorCode::UnknownTopicOrPartition),
                }
            };
            partition_response(*index, result)
        })
        .collect()
}

fn partition_response(partition_index: i32, result: Result<Vec<ProducerState>, ErrorCode>) -> PartitionResponse {
    match result {
        Ok(active_producers) => PartitionResponse {
            partition_index,
            active_producers,
            ..Default::default()
        },
        // Kafka sends the code alone.
        Err(code) => PartitionResponse {
            partition_index,
            error_code: code.code(),
            ..Default::default()
        },
    }
}

fn producer((producer_id, entry): (i64, &ProducerEntry)) -> ProducerState {
    ProducerState {
        producer_id,
        producer_epoch: i32::from(entry.epoch),
        last_sequence: entry.batches.back().map_or(-1, |b| b.last_sequence),
        last_timestamp: entry.last_timestamp_ms,
        coordinator_epoch: -1,
        current_txn_start_offset: -1,
        ..Default::default()
    }
}
