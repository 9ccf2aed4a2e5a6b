//! ListOffsets (key 2): offsets by time, and the special times Kafka defines.
//!
//! -2 earliest (the log start offset), -1 latest (the high watermark; the last stable offset for
//! read_committed, equal until transactions exist), -3 the record with the largest timestamp
//! (v7+), -4 earliest local (v8+, the log start: nothing is tiered), -5 earliest pending upload
//! and -6 latest tiered (v9+, none: offset -1). Any other time finds the first record whose
//! timestamp is at least it, or offset -1 when there is none.
//!
//! v0 is the old answer: up to `max_num_offsets` offsets where segments start, dated by their
//! files' modification times (see `PartitionLog::legacy_offsets_before`), as Kafka 3.x gave.

use super::Output;
use crate::context::Broker;
use crate::errors::storage_error_code;
use crate::logs::now_ms;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use sluice_protocol::generated::{ListOffsetsRequest, ListOffsetsResponse, RequestHeader};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 2;
/// Versions served: v0 (from the pre-4.0 schemas, with its list of old-style offsets) to v11.
pub const VERSIONS: (i16, i16) = (0, 11);

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
pub fn handle(ctx: &RequestContext<'_>, req: ListOffsetsRequest) -> Output {
    // DESCRIBE on each topic; denied partitions carry TOPIC_AUTHORIZATION_FAILED and no offsets.
    let mut response = answer(ctx.broker, ctx.header, &req);
    for t in &mut response.topics {
        if !ctx.authorize(AclOperation::Describe, ResourceType::Topic, &t.name) {
            for p in &mut t.partitions {
                *p = ListOffsetsPartitionResponse {
                    partition_index: p.partition_index,
                    error_code: ErrorCode::TopicAuthorizationFailed.code(),
                    timestamp: -1,
                    offset: -1,
                    leader_epoch: -1,
                    ..Default::default()
                };
            }
        }
    }
    Output::respond(response)
}

fn answer(broker: &Broker, header: &RequestHeader, req: &ListOffsetsRequest) -> ListOffsetsResponse {
    let version = header.request_api_version;
    let topics = req
        .topics
        .iter()
        .map(|t| {
            // Copied out of the image so that no metadata lock is held while logs are read.
            let (topic, overrides) = broker.topic_with_configs(&t.name).unzip();
            let (topic, overrides) = (topic.as_ref(), overrides.flatten());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut out = ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        timestamp: -1,
                        offset: -1,
                        ..Default::default()
                    };
                    let Some(topic) = topic.filter(|t| t.partitions.contains_key(&p.partition_index)) else {
                        out.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        return out;
                    };
                    // LeaderEpoch exists from v4 and is not ignorable: older versions keep the default.
                    if version >= 4 {
                        out.leader_epoch = topic
                            .partitions
                            .get(&p.partition_index)
                            .map_or(-1, |pi| pi.leader_epoch);
                    }
                    if version == 0 {
                        // v0 lists offsets where segments start, not the offset of a timestamp.
                        let offsets_max = usize::try_from(p.max_num_offsets).unwrap_or(0);
                        let found = broker
                            .logs
                            .partition(topic, p.partition_index, overrides.as_ref())
                            .and_then(|partition| {
                                partition
                                    .read()
                                    .legacy_offsets_before(p.timestamp, offsets_max, now_ms())
                            });
                        match found {
                            Ok(offsets) => out.old_style_offsets = offsets,
                            Err(e) => out.error_code = storage_error_code(&e).code(),
                        }
                        return out;
                    }
                    let found = broker
                        .logs
                        .partition(topic, p.partition_index, overrides.as_ref())
                        .and_then(|partition| {
                            let log = partition.read();
                            Ok(match p.timestamp {
                                LATEST => Some((log.high_watermark(), -1)),
                                EARLIEST | EARLIEST_LOCAL => Some((log.log_start_offset(), -1)),
                                MAX_TIMESTAMP => log.max_timestamp()?,
                                ts if ts < 0 => None,
                                ts => log.offset_for_timestamp(ts)?,
                            })
                        });
                    match found {
                        Ok(Some((offset, timestamp))) => {
                            out.offset = offset;
                            out.timestamp = timestamp;
                        }
                        Ok(None) => {}
                        Err(e) => out.error_code = storage_error_code(&e).code(),
                    }
                    out
                })
                .collect();
            ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions,
                ..Default::default()
            }
        })
        .collect();
    ListOffsetsResponse {
        topics,
        ..Default::default()
    }
}
