//! Fetch (key 1): read record batches, long-polling on `min_bytes` / `max_wait_ms`.
//!
//! Limits follow KIP-74: `partition_max_bytes` per partition and `max_bytes` for the response
//! (itself capped by the broker's `fetch.max.bytes`),
//! except that the first batch of the first partition with data is returned whole even when it
//! is larger, so a consumer always makes progress. Batches are returned byte for byte as stored.
//!
//! Fetch sessions (KIP-227) are declined, which the protocol allows: a request that asks for a
//! new session (id 0, epoch 0) gets session id 0 back and a full response, so clients keep
//! sending full fetches; a request naming a session id we never issued gets
//! FETCH_SESSION_ID_NOT_FOUND; id 0 with an epoch above 0 gets INVALID_FETCH_SESSION_EPOCH.
//! Isolation level read_committed reads up to the last stable offset, which equals the high
//! watermark until transactions exist.

use super::{Output, ResponseFuture};
use crate::context::Broker;
use crate::errors::storage_error_code;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::fetch_response::{FetchableTopicResponse, PartitionData};
use sluice_protocol::generated::{FetchRequest, FetchResponse, RequestHeader, ResponseBody};
use std::sync::Arc;
use std::time::Duration;

pub const API_KEY: i16 = 1;
/// Versions served: v4 (the first that carries magic v2 batches) through v18.
pub const VERSIONS: (i16, i16) = (4, 18);
/// The longest a fetch may wait, whatever it asks; bounds how long a request holds its slot.
pub const FETCH_WAIT_MS_MAX: i32 = 60_000;

/// Reads once: the response and how many record bytes it carries.
fn read_once(broker: &Broker, version: i16, req: &FetchRequest) -> (FetchResponse, usize) {
    // The client's max_bytes is capped by the broker's fetch.max.bytes, as in Kafka: the request
    // alone must not decide how much the broker reads into memory.
    let mut remaining = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .min(broker.settings.fetch_max_bytes);
    let mut total = 0usize;
    let responses = req
        .topics
        .iter()
        .map(|t| {
            // Copied out of the image so that no metadata lock is held while logs are read.
            let found = if version >= 13 {
                broker.topic_by_id_with_configs(&t.topic_id)
            } else {
                broker.topic_with_configs(&t.topic)
            };
            let (topic, overrides) = found.unzip();
            let (topic, overrides) = (topic.as_ref(), overrides.flatten());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut out = PartitionData {
                        partition_index: p.partition,
                        high_watermark: -1,
                        last_stable_offset: -1,
                        log_start_offset: -1,
                        records: Some(bytes::Bytes::new()),
                        ..Default::default()
                    };
                    let Some(topic) = topic.filter(|t| t.partitions.contains_key(&p.partition)) else {
                        let code = if version >= 13 && topic.is_none() {
                            ErrorCode::UnknownTopicId
                        } else {
                            ErrorCode::UnknownTopicOrPartition
                        };
                        out.error_code = code.code();
                        return out;
                    };
                    let partition = match broker.logs.partition(topic, p.partition, overrides.as_ref()) {
                        Ok(partition) => partition,
                        Err(e) => {
                            out.error_code = storage_error_code(&e).code();
                            return out;
                        }
                    };
                    let log = partition.read();
                    out.high_watermark = log.high_watermark();
                    out.last_stable_offset = log.high_watermark();
                    out.log_start_offset = log.log_start_offset();
                    let limit = usize::try_from(p.partition_max_bytes).unwrap_or(0).min(remaining);
                    match log.read(p.fetch_offset, limit.max(1)) {
                        Ok(read) => {
                            // Past the first partition with data, a batch that does not fit waits for
                            // the next fetch.
                            if total > 0 && read.records.len() > limit {
                                return out;
                            }
                            total += read.records.len();
                            remaining = remaining.saturating_sub(read.records.len());
                            out.records = Some(read.records);
                        }
                        Err(e) => out.error_code = storage_error_code(&e).code(),
                    }
                    out
                })
                .collect();
            FetchableTopicResponse {
                topic: t.topic.clone(),
                topic_id: t.topic_id,
                partitions,
                ..Default::default()
            }
        })
        .collect();
    (
        FetchResponse {
            responses,
            session_id: 0,
            ..Default::default()
        },
        total,
    )
}

pub fn handle(broker: &Arc<Broker>, header: &RequestHeader, req: FetchRequest) -> Output {
    let version = header.request_api_version;
    if req.session_id != 0 || req.session_epoch > 0 {
        let code = if req.session_id != 0 {
            ErrorCode::FetchSessionIdNotFound
        } else {
            ErrorCode::InvalidFetchSessionEpoch
        };
        return Output::Respond(ResponseBody::Fetch(FetchResponse {
            error_code: code.code(),
            ..Default::default()
        }));
    }
    // Subscribed before the first read, so an append that lands between that read and the wait
    // still wakes the wait instead of leaving the fetch parked until the next append or deadline.
    let mut appended = broker.logs.subscribe();
    let (response, bytes) = read_once(broker, version, &req);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let wait_ms = req.max_wait_ms.clamp(0, FETCH_WAIT_MS_MAX);
    let has_error = response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .any(|p| p.error_code != 0);
    if bytes >= min_bytes || wait_ms == 0 || has_error {
        return Output::Respond(ResponseBody::Fetch(response));
    }
    // Long poll: re-read whenever something is appended, until enough data or the deadline.
    let broker = broker.clone();
    let future: ResponseFuture = Box::pin(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms as u64);
        loop {
            match tokio::time::timeout_at(deadline, appended.changed()).await {
                Ok(Ok(())) => {
                    let (response, bytes) = read_once(&broker, version, &req);
                    if bytes >= min_bytes {
                        return Some(ResponseBody::Fetch(response));
                    }
                }
                // Deadline reached, or the broker is shutting down.
                _ => return Some(ResponseBody::Fetch(read_once(&broker, version, &req).0)),
            }
        }
    });
    Output::Defer(future)
}
