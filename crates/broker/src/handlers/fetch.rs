//! Fetch (key 1): read record batches, long-polling on `min_bytes` / `max_wait_ms`.
//!
//! Limits follow KIP-74: `partition_max_bytes` per partition and `max_bytes` for the response
//! (itself capped by the broker's `fetch.max.bytes`),
//! except that the first batch of the first partition with data is returned whole even when it
//! is larger, so a consumer always makes progress. Batches are returned byte for byte as stored
//! (v0-3: down-converted to the message format the version reads).
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
use crate::legacy::{down_convert, fetch_magic};
use crate::session::RequestContext;
use bytes::Bytes;
use sluice_config::CompressionType;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::fetch_response::{FetchableTopicResponse, PartitionData};
use sluice_protocol::generated::{FetchRequest, FetchResponse, ResponseBody};
use sluice_security::acl::{AclOperation, ResourceType};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub const API_KEY: i16 = 1;
/// Versions served. v0-3 clients read only the old message formats: their records are
/// down-converted (magic 0 for v0-1, magic 1 for v2-3), as Kafka 3.x did; see [`crate::legacy`].
pub const VERSIONS: (i16, i16) = (0, 18);
/// The first Fetch version whose clients read zstd batches (KIP-110).
const ZSTD_MIN_VERSION: i16 = 10;
/// The last Fetch version whose clients do not know KAFKA_STORAGE_ERROR.
const STORAGE_ERROR_MAX_OLD_VERSION: i16 = 5;
/// The longest a fetch may wait, whatever it asks; bounds how long a request holds its slot.
pub const FETCH_WAIT_MS_MAX: i32 = 60_000;

/// Fetched records that hold their share of the response budget until the last reference to
/// them is dropped, which for a response is after the socket took them.
struct Budgeted {
    /// The records as read (often a pooled read buffer).
    records: Bytes,
    /// The budget this many bytes took; given back on drop.
    _permit: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Budgeted {
    fn as_ref(&self) -> &[u8] {
        &self.records
    }
}

/// The share of `queued.max.response.bytes` one fetch holds while it reads.
struct Share {
    /// Permits not yet tied to any records; what is left over when the read ends goes back.
    permit: OwnedSemaphorePermit,
    /// The budget, to top the share up for a first batch larger than the share.
    budget: Arc<Semaphore>,
    /// The share is the whole budget: a batch larger than that (a topic's max.message.bytes
    /// above `queued.max.response.bytes`) is then sent anyway, one at a time, rather than
    /// never, which would leave its consumer stuck.
    whole: bool,
}

impl Share {
    /// A share holding `permit`, out of `broker`'s budget.
    fn new(broker: &Broker, permit: OwnedSemaphorePermit) -> Share {
        Share {
            whole: permit.num_permits() >= budget_total(broker) as usize,
            permit,
            budget: broker.response_bytes_budget.clone(),
        }
    }

    /// Record bytes the share still covers.
    fn left(&self) -> usize {
        self.permit.num_permits()
    }

    /// Ties `records` to permits for their length, taking more from the budget when a read
    /// returned more than the share (a first batch larger than the limits). `Err(bytes)` when
    /// the budget cannot cover them now: the caller retries with a share that large.
    fn tie(&mut self, records: Bytes) -> Result<Bytes, usize> {
        let len = records.len();
        if len == 0 {
            return Ok(records);
        }
        let permit = if len <= self.left() {
            self.permit.split(len).ok_or(len)?
        } else if self.whole {
            self.permit.split(self.left()).ok_or(len)?
        } else {
            let extra = u32::try_from(len - self.left()).map_err(|_| len)?;
            let mut permit = self.budget.clone().try_acquire_many_owned(extra).map_err(|_| len)?;
            if let Some(rest) = self.permit.split(self.left()) {
                permit.merge(rest);
            }
            permit
        };
        debug_assert!(permit.num_permits() == len || self.whole);
        Ok(Bytes::from_owner(Budgeted {
            records,
            _permit: permit,
        }))
    }
}

/// The whole response budget in permits (a semaphore counts at most `u32::MAX` per acquire).
fn budget_total(broker: &Broker) -> u32 {
    u32::try_from(broker.settings.queued_max_response_bytes.min(Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX)
}

/// Record bytes one read may take from the budget: what the request may return (the client's
/// max_bytes capped by the broker's fetch.max.bytes, as in Kafka: the request alone must not
/// decide how much the broker reads into memory), and never more than the whole budget, so that
/// a fetch can always proceed once the others have drained.
fn allowance(broker: &Broker, req: &FetchRequest) -> u32 {
    let bytes = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .min(broker.settings.fetch_max_bytes)
        .min(broker.settings.queued_max_response_bytes);
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// Reads once, within `share`: the response and how many record bytes it carries, or
/// `Err(bytes)` when a batch needs more of the budget than is free now. A share of zero reads
/// no records, only the partitions' offsets.
fn read_once(
    broker: &Broker,
    version: i16,
    req: &FetchRequest,
    denied: &[bool],
    mut share: Share,
) -> Result<(FetchResponse, usize), usize> {
    let records_allowed = share.left() > 0;
    let mut total = 0usize;
    let mut responses = Vec::with_capacity(req.topics.len());
    for (t, &denied) in req.topics.iter().zip(denied) {
        // Copied out of the image so that no metadata lock is held while logs are read.
        let found = if version >= 13 {
            broker.topic_by_id_with_configs(&t.topic_id)
        } else {
            broker.topic_with_configs(&t.topic)
        };
        let (topic, overrides) = found.unzip();
        let (topic, overrides) = (topic.as_ref(), overrides.flatten());
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let mut out = PartitionData {
                partition_index: p.partition,
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                records: Some(Bytes::new()),
                ..Default::default()
            };
            if denied {
                out.error_code = ErrorCode::TopicAuthorizationFailed.code();
                partitions.push(out);
                continue;
            }
            let Some(topic) = topic.filter(|t| t.partitions.contains_key(&p.partition)) else {
                let code = if version >= 13 && topic.is_none() {
                    ErrorCode::UnknownTopicId
                } else {
                    ErrorCode::UnknownTopicOrPartition
                };
                out.error_code = code.code();
                partitions.push(out);
                continue;
            };
            // Clients before Fetch v10 cannot read zstd (KIP-110): Kafka refuses a partition
            // whose topic compresses with it, whatever is stored.
            if version < ZSTD_MIN_VERSION
                && broker.topic_config(overrides.as_ref()).compression_type == CompressionType::Zstd
            {
                out.error_code = ErrorCode::UnsupportedCompressionType.code();
                partitions.push(out);
                continue;
            }
            let partition = match broker.logs.partition(topic, p.partition, overrides.as_ref()) {
                Ok(partition) => partition,
                Err(e) => {
                    out.error_code = storage_code(version, &e).code();
                    partitions.push(out);
                    continue;
                }
            };
            let log = partition.read();
            out.high_watermark = log.high_watermark();
            out.last_stable_offset = log.high_watermark();
            out.log_start_offset = log.log_start_offset();
            if records_allowed {
                let limit = usize::try_from(p.partition_max_bytes).unwrap_or(0).min(share.left());
                match log.read(p.fetch_offset, limit.max(1)) {
                    // Past the first partition with data, a batch that does not fit waits for
                    // the next fetch.
                    Ok(read) if total > 0 && read.records.len() > limit => {}
                    Ok(read) => {
                        total += read.records.len();
                        let records = share.tie(read.records)?;
                        out.records = Some(match fetch_magic(version) {
                            None => records,
                            // v0-3 clients read only the old message formats.
                            Some(magic) => down_convert(&records, magic, p.fetch_offset).unwrap_or_else(|code| {
                                out.error_code = code.code();
                                Bytes::new()
                            }),
                        });
                    }
                    Err(e) => out.error_code = storage_code(version, &e).code(),
                }
            }
            partitions.push(out);
        }
        responses.push(FetchableTopicResponse {
            topic: t.topic.clone(),
            topic_id: t.topic_id,
            partitions,
            ..Default::default()
        });
    }
    let response = FetchResponse {
        responses,
        session_id: 0,
        ..Default::default()
    };
    Ok((response, total))
}

/// The error for a storage failure. Clients before Fetch v6 do not know KAFKA_STORAGE_ERROR
/// and would give up on it; Kafka sends them NOT_LEADER_OR_FOLLOWER, which they retry.
fn storage_code(version: i16, e: &sluice_storage::StorageError) -> ErrorCode {
    match storage_error_code(e) {
        ErrorCode::KafkaStorageError if version <= STORAGE_ERROR_MAX_OLD_VERSION => ErrorCode::NotLeaderOrFollower,
        code => code,
    }
}

/// Whether any partition of a response carries an error (answered at once, not long-polled).
fn has_error(response: &FetchResponse) -> bool {
    response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .any(|p| p.error_code != 0)
}

/// Reads once with a share of `want` bytes, waiting for the budget until `deadline`; when the
/// budget stays short, answers with the offsets and no records, as a fetch that found no data.
async fn read_by(
    broker: &Broker,
    version: i16,
    req: &FetchRequest,
    denied: &[bool],
    want: u32,
    deadline: tokio::time::Instant,
) -> Result<(FetchResponse, usize), usize> {
    let budget = &broker.response_bytes_budget;
    // `timeout_at` polls the acquisition once before looking at the clock, so a budget with
    // room is taken even at the deadline.
    let permit = match tokio::time::timeout_at(deadline, budget.clone().acquire_many_owned(want)).await {
        Ok(Ok(permit)) => permit,
        _ => budget.clone().try_acquire_many_owned(0).map_err(|_| 0usize)?,
    };
    read_once(broker, version, req, denied, Share::new(broker, permit))
}

/// The answer at the deadline: what a share of `want` reads if the budget has room, else the
/// offsets without records. `None` only if even that fails.
async fn last_read(
    broker: &Broker,
    version: i16,
    req: &FetchRequest,
    denied: &[bool],
    want: u32,
    deadline: tokio::time::Instant,
) -> Option<ResponseBody> {
    let read = match read_by(broker, version, req, denied, want, deadline).await {
        Ok(read) => Ok(read),
        Err(_) => read_by(broker, version, req, denied, 0, deadline).await,
    };
    read.ok().map(|(response, _)| ResponseBody::Fetch(response))
}

/// The share to ask for after a read needed `needed` bytes: never more than the whole budget
/// (a share of all of it sends even a larger batch).
fn want_for(broker: &Broker, needed: usize) -> u32 {
    u32::try_from(needed).unwrap_or(u32::MAX).min(budget_total(broker))
}

pub fn handle(ctx: &RequestContext<'_>, req: FetchRequest) -> Output {
    let broker = ctx.broker;
    let header = ctx.header;

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
    // READ on each topic, by name once an id is resolved (an unknown id is not denied: it is
    // answered UNKNOWN_TOPIC_ID, as Kafka resolves ids before authorizing).
    let denied: Vec<bool> = req
        .topics
        .iter()
        .map(|t| {
            let name = if version >= 13 {
                broker
                    .metadata()
                    .image()
                    .topics
                    .get(&t.topic_id)
                    .map(|i| i.name.clone())
            } else {
                Some(t.topic.clone())
            };
            name.is_some_and(|n| !ctx.authorize(AclOperation::Read, ResourceType::Topic, &n))
        })
        .collect();
    // Subscribed before the first read, so an append that lands between that read and the wait
    // still wakes the wait instead of leaving the fetch parked until the next append or deadline.
    let mut appended = broker.logs.subscribe();
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let wait_ms = req.max_wait_ms.clamp(0, FETCH_WAIT_MS_MAX);
    let mut want = allowance(broker, &req);
    // The common case answers at once: the budget has room and there is data (or no wait).
    let budget = &broker.response_bytes_budget;
    let mut read_again = true;
    if let Ok(permit) = budget.clone().try_acquire_many_owned(want) {
        match read_once(broker, version, &req, &denied, Share::new(broker, permit)) {
            Ok((response, bytes)) if bytes >= min_bytes || wait_ms == 0 || has_error(&response) => {
                return Output::Respond(ResponseBody::Fetch(response));
            }
            Ok(_) => read_again = false,
            Err(needed) => want = want_for(broker, needed),
        }
    }
    // Otherwise wait: for appends (long poll) and for the budget, until the deadline. Nothing is
    // held while waiting: the share is taken for each read and kept only by records sent back.
    let broker = broker.clone();
    let future: ResponseFuture = Box::pin(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms as u64);
        loop {
            if !read_again {
                match tokio::time::timeout_at(deadline, appended.changed()).await {
                    Ok(Ok(())) => {}
                    // Deadline reached, or the broker is shutting down: answer with what there is.
                    _ => return last_read(&broker, version, &req, &denied, want, deadline).await,
                }
            }
            read_again = false;
            match read_by(&broker, version, &req, &denied, want, deadline).await {
                Ok((response, bytes)) if bytes >= min_bytes || has_error(&response) => {
                    return Some(ResponseBody::Fetch(response));
                }
                Ok((response, _)) if tokio::time::Instant::now() >= deadline => {
                    return Some(ResponseBody::Fetch(response));
                }
                Ok(_) => {}
                Err(needed) => {
                    want = want_for(&broker, needed);
                    if tokio::time::Instant::now() >= deadline {
                        // Out of time and the batch did not fit: the offsets without records.
                        return last_read(&broker, version, &req, &denied, 0, deadline).await;
                    }
                    read_again = true;
                }
            }
        }
    });
    Output::Defer(future)
}
