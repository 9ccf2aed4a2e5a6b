//! Produce (key 0): append record batches; answer per partition.
//!
//! The appends happen in the handler's ordered part, so pipelined produces to one partition land
//! in arrival order. acks=1 is answered once the data is in the page cache; acks=all (-1) once
//! it is fsynced, through the partition's group commit, so concurrent producers share fsyncs;
//! acks=0 gets no response at all.
//!
//! Before the append, each partition's records pass Kafka's checks and the topic's
//! `compression.type` (see [`crate::validate`]): one magic-2 batch per partition (v0-2: a legacy
//! message set, up-converted first), keys on
//! compacted topics, CreateTime within the timestamp window (per-record errors), and
//! recompression when the topic names another codec.
//!
//! A client may not write to an internal topic (`__consumer_offsets`, `__transaction_state`,
//! `__share_group_state`): INVALID_TOPIC_EXCEPTION per partition, as Kafka answers.
//!
//! Idempotent producers: each batch's producer id, epoch and sequences are checked against the
//! partition's producer state under the same lock as the append (see [`crate::producers`]); a
//! retried batch is answered with its original offsets and not appended twice. Transactional
//! produce comes with the transaction coordinator.

use super::{Output, ResponseFuture};
use crate::errors::storage_error_code;
use crate::logs::now_ms;
use crate::producers::Check;
use crate::session::RequestContext;
use crate::topics::INTERNAL_TOPICS;
use crate::validate::{Rejection, Rules, validate};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use sluice_protocol::generated::{ProduceRequest, ProduceResponse, ResponseBody};
use sluice_protocol::records::{BatchHeader, batches};
use sluice_security::acl::{AclOperation, ResourceType};
use sluice_storage::{AppendOptions, SyncHandle};

pub const API_KEY: i16 = 0;
/// Versions served. v0-2 carry the old message formats (magic 0/1), which are up-converted to
/// a record batch before validation, as Kafka 3.x did (see [`crate::legacy`]).
pub const VERSIONS: (i16, i16) = (0, 13);

fn partition_error(index: i32, code: ErrorCode, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse {
        index,
        error_code: code.code(),
        base_offset: -1,
        error_message: message,
        ..Default::default()
    }
}

/// A partition refused by Kafka's record validation, with its per-record errors.
fn rejected(index: i32, rejection: Rejection) -> PartitionProduceResponse {
    PartitionProduceResponse {
        record_errors: rejection
            .record_errors
            .into_iter()
            .map(|(batch_index, message)| BatchIndexAndErrorMessage {
                batch_index,
                batch_index_error_message: Some(message),
                ..Default::default()
            })
            .collect(),
        ..partition_error(index, rejection.code, rejection.message)
    }
}

pub fn handle(ctx: &RequestContext<'_>, req: ProduceRequest) -> Output {
    let broker = ctx.broker;
    let header = ctx.header;

    let version = header.request_api_version;
    let acks = req.acks;
    let acks_valid = matches!(acks, -1..=1);
    // acks=all waits on these: (topic slot, partition slot, handle, end offset).
    let mut durable_waits: Vec<(usize, usize, SyncHandle, i64)> = Vec::new();
    let mut appended_any = false;
    let responses: Vec<TopicProduceResponse> = req
        .topic_data
        .into_iter()
        .enumerate()
        .map(|(t_slot, topic_data)| {
            let image_topic = if version >= 13 {
                broker.topic_by_id_with_configs(&topic_data.topic_id)
            } else {
                broker.topic_with_configs(&topic_data.name)
            };
            // WRITE on the topic, by name (a topic id is resolved first; an unknown id stays
            // UNKNOWN_TOPIC_ID, as Kafka answers it before authorizing).
            let authorized = match (&image_topic, version >= 13) {
                (Some((t, _)), _) => ctx.authorize(AclOperation::Write, ResourceType::Topic, &t.name),
                (None, true) => true,
                (None, false) => ctx.authorize(AclOperation::Write, ResourceType::Topic, &topic_data.name),
            };
            let partition_responses = topic_data
                .partition_data
                .into_iter()
                .enumerate()
                .map(|(p_slot, data)| {
                    let index = data.index;
                    if !acks_valid {
                        return partition_error(index, ErrorCode::InvalidRequiredAcks, None);
                    }
                    if !authorized {
                        return partition_error(index, ErrorCode::TopicAuthorizationFailed, None);
                    }
                    let Some((topic, overrides)) = &image_topic else {
                        let code = if version >= 13 {
                            ErrorCode::UnknownTopicId
                        } else {
                            ErrorCode::UnknownTopicOrPartition
                        };
                        return partition_error(index, code, None);
                    };
                    if !topic.partitions.contains_key(&index) {
                        return partition_error(index, ErrorCode::UnknownTopicOrPartition, None);
                    }
                    let Some(records) = data.records else {
                        return partition_error(
                            index,
                            ErrorCode::InvalidRecord,
                            Some("No records in the request.".into()),
                        );
                    };
                    // Internal topics are written by their coordinators only (the group
                    // coordinator appends to `__consumer_offsets` in crate::groups, not through
                    // here): a client's batch would be replayed as coordinator state. Kafka's
                    // ReplicaManager refuses it per partition with INVALID_TOPIC_EXCEPTION and no
                    // error message, after the unknown-partition and record-format checks.
                    if INTERNAL_TOPICS.contains(&topic.name.as_str()) {
                        return partition_error(index, ErrorCode::InvalidTopicException, None);
                    }
                    let partition = match broker.logs.partition(topic, index, overrides.as_ref()) {
                        Ok(p) => p,
                        Err(e) => return partition_error(index, storage_error_code(&e), Some(e.to_string())),
                    };
                    let leader_epoch = topic.partitions.get(&index).map_or(0, |p| p.leader_epoch);
                    // Kafka's checks and `compression.type` happen before the append lock is
                    // taken: recompression costs CPU that other producers need not wait for.
                    let (timestamp_type, compacted, max_message_bytes) = {
                        let log = partition.read();
                        let config = log.config();
                        (
                            config.message_timestamp_type,
                            config.compacts(),
                            config.max_message_bytes,
                        )
                    };
                    let topic_config = broker.topic_config(overrides.as_ref());
                    let rules = Rules {
                        version,
                        topic_partition: format!("{}-{index}", topic.name),
                        target: topic_config.compression_type,
                        gzip_level: topic_config.compression_gzip_level,
                        zstd_level: topic_config.compression_zstd_level,
                        compacted,
                        timestamp_type,
                        timestamp_before_max_ms: topic_config.message_timestamp_before_max_ms,
                        timestamp_after_max_ms: topic_config.message_timestamp_after_max_ms,
                        now_ms: now_ms(),
                        max_message_bytes,
                    };
                    let records = match validate(records, &rules) {
                        Ok(v) => v.records,
                        Err(rejection) => return rejected(index, rejection),
                    };
                    // Batch headers for the idempotence check, from the batch as it will be
                    // stored (a recompressed batch keeps the producer's id, epoch and sequences).
                    let headers: Vec<BatchHeader> = batches(records.clone())
                        .map_while(Result::ok)
                        .map(|b| *b.header())
                        .collect();
                    let mut log = partition.write();
                    let mut producers = partition.producers();
                    for header in &headers {
                        match producers.check(header) {
                            Check::Append => {}
                            Check::Reject(code) => return partition_error(index, code, None),
                            // A retry of a write that already happened: answer as the first time.
                            Check::Duplicate(dup) => {
                                return PartitionProduceResponse {
                                    index,
                                    error_code: 0,
                                    base_offset: dup.base_offset,
                                    log_append_time_ms: -1,
                                    log_start_offset: log.log_start_offset(),
                                    ..Default::default()
                                };
                            }
                        }
                    }
                    let appended = log.append(
                        records,
                        AppendOptions {
                            leader_epoch,
                            now_ms: now_ms(),
                        },
                    );
                    if let Ok(info) = &appended {
                        let mut base_offset = info.base_offset;
                        for header in &headers {
                            producers.record(header, base_offset);
                            base_offset += i64::from(header.last_offset_delta) + 1;
                        }
                    }
                    drop(producers);
                    let log_start_offset = log.log_start_offset();
                    drop(log);
                    match appended {
                        Ok(info) => {
                            appended_any = true;
                            if acks == -1 {
                                durable_waits.push((t_slot, p_slot, partition.sync.clone(), info.last_offset + 1));
                            }
                            PartitionProduceResponse {
                                index,
                                error_code: 0,
                                base_offset: info.base_offset,
                                log_append_time_ms: info.log_append_time_ms,
                                log_start_offset,
                                ..Default::default()
                            }
                        }
                        Err(e) => partition_error(index, storage_error_code(&e), Some(e.to_string())),
                    }
                })
                .collect();
            TopicProduceResponse {
                name: topic_data.name,
                topic_id: topic_data.topic_id,
                partition_responses,
                ..Default::default()
            }
        })
        .collect();
    if appended_any {
        broker.logs.notify_appended();
    }
    let response = ProduceResponse {
        responses,
        ..Default::default()
    };
    if acks == 0 {
        return Output::NoResponse;
    }
    if durable_waits.is_empty() {
        return Output::Respond(ResponseBody::Produce(response));
    }
    let future: ResponseFuture = Box::pin(async move {
        let mut response = response;
        for (t_slot, p_slot, sync, end_offset) in durable_waits {
            if let Err(e) = sync.wait_durable(end_offset).await {
                // The data may be in the page cache but is not known durable: say so.
                let p = &mut response.responses[t_slot].partition_responses[p_slot];
                p.error_code = ErrorCode::KafkaStorageError.code();
                p.error_message = Some(format!("The data could not be made durable: {e}"));
            }
        }
        Some(ResponseBody::Produce(response))
    });
    Output::Defer(future)
}
