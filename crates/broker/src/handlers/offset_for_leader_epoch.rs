//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, which consumers use to detect
//! log truncation after a leader change (KIP-320).
//!
//! On a single node every batch is written in leader epoch 0, so the answer for epoch 0 is the
//! log end offset; for an epoch this partition never had (and for an empty log) it is the
//! undefined offset -1 with epoch -1, as Kafka's epoch cache answers. The request's
//! current leader epoch is checked as Kafka checks it: newer than ours is UNKNOWN_LEADER_EPOCH,
//! older is FENCED_LEADER_EPOCH.

use super::Output;
use crate::context::Broker;
use crate::errors::storage_error_code;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use sluice_protocol::generated::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, RequestHeader};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 23;
/// Versions served: v0-1 from the pre-4.0 schemas through v4.
pub const VERSIONS: (i16, i16) = (0, 4);
pub fn handle(ctx: &RequestContext<'_>, req: OffsetForLeaderEpochRequest) -> Output {
    // DESCRIBE on each topic (consumers validating positions).
    let mut response = answer(ctx.broker, ctx.header, &req);
    for t in &mut response.topics {
        if !ctx.authorize(AclOperation::Describe, ResourceType::Topic, &t.topic) {
            for p in &mut t.partitions {
                *p = EpochEndOffset {
                    partition: p.partition,
                    error_code: ErrorCode::TopicAuthorizationFailed.code(),
                    leader_epoch: -1,
                    end_offset: -1,
                    ..Default::default()
                };
            }
        }
    }
    Output::respond(response)
}

fn answer(broker: &Broker, header: &RequestHeader, req: &OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let version = header.request_api_version;
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let (topic, overrides) = broker.topic_with_configs(&t.topic).unzip();
            let overrides = overrides.flatten();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut out = EpochEndOffset {
                        partition: p.partition,
                        leader_epoch: -1,
                        end_offset: -1,
                        ..Default::default()
                    };
                    let Some((topic, info)) = topic
                        .as_ref()
                        .and_then(|t| t.partitions.get(&p.partition).map(|i| (t, i)))
                    else {
                        out.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        return out;
                    };
                    if p.current_leader_epoch > info.leader_epoch {
                        out.error_code = ErrorCode::UnknownLeaderEpoch.code();
                        return out;
                    }
                    if p.current_leader_epoch != -1 && p.current_leader_epoch < info.leader_epoch {
                        out.error_code = ErrorCode::FencedLeaderEpoch.code();
                        return out;
                    }
                    match broker.logs.partition(topic, p.partition, overrides.as_ref()) {
                        Ok(partition) => {
                            let log = partition.read();
                            if p.leader_epoch == info.leader_epoch && log.log_end_offset() > 0 {
                                // LeaderEpoch exists from v1 and is not ignorable.
                                if version >= 1 {
                                    out.leader_epoch = info.leader_epoch;
                                }
                                out.end_offset = log.log_end_offset();
                            }
                        }
                        Err(e) => out.error_code = storage_error_code(&e).code(),
                    }
                    out
                })
                .collect();
            OffsetForLeaderTopicResult {
                topic: t.topic.clone(),
                partitions,
                ..Default::default()
            }
        })
        .collect();
    OffsetForLeaderEpochResponse {
        topics,
        ..Default::default()
    }
}
