//! A group-less consumer: reads chosen partitions of one topic from chosen offsets with Fetch
//! long polls, asking each partition's leader.

use crate::client::{Client, OffsetSpec, TopicInfo, expect_body};
use crate::connection::PendingResponse;
use crate::error::{Error, Result};
use bytes::Bytes;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::generated::{FetchRequest, RequestBody};
use sluice_protocol::records::{Header, batches};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A consumed record.
#[derive(Clone, Debug)]
pub struct ConsumedRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp, ms since the epoch.
    pub timestamp_ms: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<Header>,
}

/// Fetch tuning.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// How long the broker may hold a fetch waiting for `min_bytes`.
    pub max_wait: Duration,
    /// Bytes the broker waits for before answering.
    pub min_bytes: i32,
    /// Most bytes per response.
    pub max_bytes: i32,
    /// Most bytes per partition per response.
    pub partition_max_bytes: i32,
}

impl Default for ConsumerConfig {
    fn default() -> ConsumerConfig {
        ConsumerConfig {
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            // Kafka's consumer defaults (fetch.max.bytes, max.partition.fetch.bytes).
            max_bytes: 50 << 20,
            partition_max_bytes: 1 << 20,
        }
    }
}

/// Reads partitions of one topic.
pub struct Consumer {
    client: Arc<Client>,
    topic: TopicInfo,
    positions: BTreeMap<i32, i64>,
    config: ConsumerConfig,
    /// The fetches already sent for the next poll, one per leader, from the positions the
    /// records returned so far lead to; empty when none is outstanding.
    in_flight: Vec<PendingResponse>,
}

/// The most a single batch may decompress to.
const MAX_DECOMPRESSED: usize = 256 << 20;

impl Consumer {
    /// A consumer of `partitions` of `topic` (all of them when empty), starting at `start`.
    pub async fn new(
        client: Arc<Client>,
        topic: &str,
        partitions: &[i32],
        start: OffsetSpec,
        config: ConsumerConfig,
    ) -> Result<Consumer> {
        let info = client.topic(topic).await?;
        let partitions: Vec<i32> = if partitions.is_empty() {
            info.partitions.iter().map(|p| p.partition).collect()
        } else {
            partitions.to_vec()
        };
        let positions = client.list_offsets(&info, &partitions, start).await?;
        Ok(Consumer {
            client,
            topic: info,
            positions,
            config,
            in_flight: Vec::new(),
        })
    }

    /// A consumer starting at explicit offsets per partition.
    pub async fn at_offsets(
        client: Arc<Client>,
        topic: &str,
        positions: BTreeMap<i32, i64>,
        config: ConsumerConfig,
    ) -> Result<Consumer> {
        let info = client.topic(topic).await?;
        for p in positions.keys() {
            if !info.partitions.iter().any(|i| i.partition == *p) {
                return Err(Error::Kafka {
                    code: ErrorCode::UnknownTopicOrPartition.code(),
                    message: format!("Topic '{topic}' has no partition {p}"),
                });
            }
        }
        Ok(Consumer {
            client,
            topic: info,
            positions,
            config,
            in_flight: Vec::new(),
        })
    }

    /// The topic's metadata.
    pub fn topic(&self) -> &TopicInfo {
        &self.topic
    }

    /// The next offset to read, per partition.
    pub fn positions(&self) -> &BTreeMap<i32, i64> {
        &self.positions
    }

    /// Fetches once from every leader (a long poll of at most `max_wait`) and returns what
    /// arrived, in partition then offset order.
    ///
    /// Fetches are pipelined as librdkafka does: as soon as a response arrives, and before its
    /// records are decoded, the next fetch from the same positions onwards is sent, so the broker
    /// reads and sends the next response while this one is decoded. So at most one fetch per
    /// leader is outstanding, and at most two responses per leader are held in memory. Every
    /// batch's CRC is checked, as Kafka's consumer does by default (`check.crcs`).
    pub async fn poll(&mut self) -> Result<Vec<ConsumedRecord>> {
        let result = self.poll_pipelined().await;
        if result.is_err() {
            // A prefetch was sent from positions this failed poll did not reach: drop it, so
            // the next poll asks again from where the caller really is.
            self.in_flight.clear();
        }
        result
    }

    async fn poll_pipelined(&mut self) -> Result<Vec<ConsumedRecord>> {
        if self.in_flight.is_empty() {
            let positions = self.positions.clone();
            self.in_flight = self.start_fetches(&positions).await?;
        }
        if self.in_flight.is_empty() {
            // No partition has a known leader: the metadata was just refreshed; do not spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Ok(Vec::new());
        }
        let mut responses = Vec::with_capacity(self.in_flight.len());
        for p in std::mem::take(&mut self.in_flight) {
            let r = expect_body!(p.wait().await?, Fetch);
            Error::check(r.error_code, None, || format!("Fetch from topic '{}'", self.topic.name))?;
            responses.push(r);
        }
        // Where the next fetches start: past every whole batch received, found from the batch
        // headers alone, without decoding records.
        let mut next = self.positions.clone();
        let mut failed = false;
        for part in responses.iter().flat_map(|r| &r.responses).flat_map(|t| &t.partitions) {
            if part.error_code != 0 {
                failed = true;
                continue;
            }
            let (Some(position), Some(records)) = (next.get_mut(&part.partition_index), &part.records) else {
                continue;
            };
            for batch in batches(records.clone()) {
                let Ok(batch) = batch else { break };
                let header = batch.header();
                *position = (*position).max(header.base_offset + i64::from(header.last_offset_delta) + 1);
            }
        }
        if !failed {
            self.in_flight = self.start_fetches(&next).await?;
        }
        let mut out = Vec::new();
        let mut stale = false;
        for r in responses {
            for t in r.responses {
                for part in t.partitions {
                    let index = part.partition_index;
                    if part.error_code != 0 {
                        let code = ErrorCode::from_code(part.error_code);
                        if code.is_some_and(|c| c.is_retriable()) {
                            stale = true;
                            continue;
                        }
                        Error::check(part.error_code, None, || {
                            format!(
                                "Partition {}-{index} at offset {}",
                                self.topic.name, self.positions[&index]
                            )
                        })?;
                    }
                    let Some(position) = self.positions.get_mut(&index) else {
                        continue;
                    };
                    let Some(records) = part.records else { continue };
                    for batch in batches(records) {
                        let Ok(batch) = batch else { break };
                        batch.verify_crc()?;
                        let header = *batch.header();
                        let next = header.base_offset + i64::from(header.last_offset_delta) + 1;
                        if header.attributes.is_control() {
                            *position = (*position).max(next);
                            continue;
                        }
                        for record in batch.records(MAX_DECOMPRESSED)? {
                            let record = record?;
                            if record.offset < *position {
                                continue;
                            }
                            out.push(ConsumedRecord {
                                partition: index,
                                offset: record.offset,
                                timestamp_ms: record.timestamp_ms,
                                key: record.key,
                                value: record.value,
                                headers: record.headers,
                            });
                        }
                        *position = (*position).max(next);
                    }
                }
            }
        }
        if stale {
            self.in_flight.clear();
            self.refresh().await?;
        }
        Ok(out)
    }

    /// Sends one fetch per leader for the partitions at `positions`; returns them unanswered.
    async fn start_fetches(&mut self, positions: &BTreeMap<i32, i64>) -> Result<Vec<PendingResponse>> {
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for &p in positions.keys() {
            let leader = self
                .topic
                .partitions
                .iter()
                .find(|i| i.partition == p)
                .map_or(-1, |i| i.leader);
            by_leader.entry(leader).or_default().push(p);
        }
        let mut pending = Vec::new();
        for (leader, parts) in by_leader {
            if leader < 0 {
                self.refresh().await?;
                continue;
            }
            let conn = self.client.broker(leader).await?;
            let request = FetchRequest {
                replica_id: -1,
                max_wait_ms: self.config.max_wait.as_millis().min(i32::MAX as u128) as i32,
                min_bytes: self.config.min_bytes,
                max_bytes: self.config.max_bytes,
                isolation_level: 0,
                session_id: 0,
                session_epoch: -1,
                topics: vec![FetchTopic {
                    topic: self.topic.name.clone(),
                    topic_id: self.topic.id,
                    partitions: parts
                        .iter()
                        .map(|p| FetchPartition {
                            partition: *p,
                            current_leader_epoch: -1,
                            fetch_offset: positions[p],
                            last_fetched_epoch: -1,
                            log_start_offset: -1,
                            partition_max_bytes: self.config.partition_max_bytes,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            };
            pending.push(conn.start(RequestBody::Fetch(request)).await?);
        }
        Ok(pending)
    }

    async fn refresh(&mut self) -> Result<()> {
        self.topic = self.client.topic(&self.topic.name).await?;
        Ok(())
    }
}
