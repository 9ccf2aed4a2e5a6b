//! A batching producer: records accumulate per partition until a batch is full or has waited
//! `linger`; a dispatcher groups ready batches by leader into Produce requests, pipelined up to
//! `max_in_flight` per producer. Memory for buffered records is bounded by `buffer_bytes`:
//! `send` waits when it is used up.

use crate::client::{Client, TopicInfo, expect_body};
use crate::error::{Error, Result};
use bytes::Bytes;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use sluice_protocol::generated::{InitProducerIdRequest, ProduceRequest, RequestBody};
use sluice_protocol::records::{BatchBuilder, Compression, NewRecord};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};

/// Producer settings.
#[derive(Clone, Debug)]
pub struct ProducerConfig {
    /// 0 (no response), 1 (leader) or -1 (all in-sync replicas).
    pub acks: i16,
    /// Batch compression.
    pub compression: Compression,
    /// How long a batch may wait for more records.
    pub linger: Duration,
    /// Batch size (uncompressed bytes) at which a batch is sent without waiting.
    pub batch_bytes: usize,
    /// Most bytes of records buffered or in flight; `send` waits beyond it.
    pub buffer_bytes: usize,
    /// Most Produce requests in flight at once.
    pub max_in_flight: usize,
    /// Get a producer id (InitProducerId) and number batches, so the broker drops duplicates.
    pub idempotent: bool,
    /// Let Metadata auto-create topics that do not exist.
    pub auto_create_topics: bool,
}

impl Default for ProducerConfig {
    fn default() -> ProducerConfig {
        ProducerConfig {
            acks: -1,
            compression: Compression::None,
            linger: Duration::from_millis(5),
            batch_bytes: 64 << 10,
            buffer_bytes: 32 << 20,
            max_in_flight: 5,
            idempotent: false,
            auto_create_topics: true,
        }
    }
}

/// Where a record landed: its partition and offset (-1 with acks=0).
pub type Delivery = oneshot::Receiver<Result<(i32, i64)>>;

struct Open {
    builder: BatchBuilder,
    bytes: usize,
    waiters: Vec<oneshot::Sender<Result<(i32, i64)>>>,
    created: Instant,
    permit: Option<OwnedSemaphorePermit>,
}

struct Ready {
    topic: String,
    partition: i32,
    open: Open,
}

#[derive(Default)]
struct State {
    open: HashMap<(String, i32), Open>,
    ready: VecDeque<Ready>,
    topics: HashMap<String, TopicInfo>,
    sticky: HashMap<String, i32>,
    sequences: HashMap<(String, i32), i32>,
    error: Option<String>,
}

struct Inner {
    client: Arc<Client>,
    config: ProducerConfig,
    state: Mutex<State>,
    memory: Arc<Semaphore>,
    in_flight: Arc<Semaphore>,
    wake: Notify,
    flushing: AtomicBool,
    closed: AtomicBool,
    producer_id: (i64, i16),
}

/// A producer; cheap to clone (clones share batches and connections).
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl Producer {
    /// A producer on `client`; with `idempotent`, first gets a producer id.
    pub async fn new(client: Arc<Client>, config: ProducerConfig) -> Result<Producer> {
        let mut producer_id = (-1, -1);
        if config.idempotent {
            let conn = client.any().await?;
            let body = conn
                .send(RequestBody::InitProducerId(InitProducerIdRequest {
                    transactional_id: None,
                    transaction_timeout_ms: -1,
                    producer_id: -1,
                    producer_epoch: -1,
                    ..Default::default()
                }))
                .await?;
            let r = expect_body!(body, InitProducerId);
            Error::check(r.error_code, None, || "InitProducerId".into())?;
            producer_id = (r.producer_id, r.producer_epoch);
        }
        let inner = Arc::new(Inner {
            client,
            memory: Arc::new(Semaphore::new(config.buffer_bytes.max(config.batch_bytes))),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            flushing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            producer_id,
        });
        tokio::spawn(dispatch_loop(inner.clone()));
        Ok(Producer { inner })
    }

    /// The partitions of `topic`, from metadata (auto-creating it when configured).
    pub async fn partitions(&self, topic: &str) -> Result<i32> {
        Ok(self.topic_info(topic).await?.partitions.len() as i32)
    }

    async fn topic_info(&self, topic: &str) -> Result<TopicInfo> {
        self.inner.topic_info(topic).await
    }

    /// Queues a record for `topic`: to `partition`, or by key hash (Kafka's murmur2, so keys
    /// land where Java clients put them), or sticky per batch for keyless records. Waits while
    /// the buffer is full.
    pub async fn send(&self, topic: &str, partition: Option<i32>, record: NewRecord) -> Result<Delivery> {
        let info = self.topic_info(topic).await?;
        let count = info.partitions.len() as i32;
        let size = record.key.as_ref().map_or(0, Bytes::len)
            + record.value.as_ref().map_or(0, Bytes::len)
            + record
                .headers
                .iter()
                .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
                .sum::<usize>()
            + 24;
        let permits = size.min(self.inner.memory_capacity()) as u32;
        let permit = self
            .inner
            .memory
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| Error::Invalid("the producer is closed".into()))?;
        let (tx, rx) = oneshot::channel();
        let mut wake = false;
        {
            let mut state = self.inner.state.lock().unwrap();
            if let Some(e) = &state.error {
                return Err(Error::Invalid(e.clone()));
            }
            let sticky = partition.is_none() && record.key.is_none();
            let partition = match (partition, &record.key) {
                (Some(p), _) => {
                    if p < 0 || p >= count {
                        return Err(Error::Kafka {
                            code: ErrorCode::UnknownTopicOrPartition.code(),
                            message: format!("Topic '{topic}' has no partition {p}"),
                        });
                    }
                    p
                }
                (None, Some(key)) => ((murmur2(key) & 0x7fff_ffff) % count as u32) as i32,
                (None, None) => *state.sticky.entry(topic.to_owned()).or_insert(0) % count,
            };
            let key = (topic.to_owned(), partition);
            let compression = self.inner.config.compression;
            // A new batch sets a new linger deadline, which the dispatcher, perhaps asleep until
            // a later one (or 100 ms when nothing was open), must hear about.
            let new_batch = !state.open.contains_key(&key);
            let open = state.open.entry(key.clone()).or_insert_with(|| Open {
                builder: BatchBuilder::new(0).compression(compression),
                bytes: 0,
                waiters: Vec::new(),
                created: Instant::now(),
                permit: None,
            });
            open.builder.append(&record)?;
            open.bytes += size;
            open.waiters.push(tx);
            match &mut open.permit {
                Some(p) => p.merge(permit),
                None => open.permit = Some(permit),
            }
            if open.bytes >= self.inner.config.batch_bytes {
                let open = state.open.remove(&key).expect("just used");
                state.ready.push_back(Ready {
                    topic: key.0.clone(),
                    partition,
                    open,
                });
                if sticky {
                    let s = state.sticky.entry(key.0).or_insert(0);
                    *s = (*s + 1) % count;
                }
                wake = true;
            } else if self.inner.config.linger.is_zero() || new_batch {
                wake = true;
            }
        }
        if wake {
            self.inner.wake.notify_one();
        }
        Ok(rx)
    }

    /// Sends everything buffered and waits until every request has been answered.
    pub async fn flush(&self) -> Result<()> {
        self.inner.flushing.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
        let max = self.inner.config.max_in_flight.max(1);
        loop {
            let empty = {
                let s = self.inner.state.lock().unwrap();
                s.open.is_empty() && s.ready.is_empty()
            };
            if empty && self.inner.in_flight.available_permits() == max {
                break;
            }
            self.inner.wake.notify_one();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.inner.flushing.store(false, Ordering::SeqCst);
        match self.inner.state.lock().unwrap().error.clone() {
            Some(e) => Err(Error::Invalid(e)),
            None => Ok(()),
        }
    }

    /// Flushes and stops the dispatcher.
    pub async fn close(&self) -> Result<()> {
        let result = self.flush().await;
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
        result
    }
}

impl Inner {
    async fn topic_info(&self, topic: &str) -> Result<TopicInfo> {
        if let Some(t) = self.state.lock().unwrap().topics.get(topic) {
            return Ok(t.clone());
        }
        let mut attempts = 0;
        let info = loop {
            let m = self
                .client
                .metadata(Some(&[topic.to_owned()]), self.config.auto_create_topics)
                .await?;
            match m.topic(topic) {
                Ok(t) if !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader >= 0) => break t.clone(),
                Ok(_) if attempts < 20 => {}
                Err(e) if e.is_retriable() && attempts < 20 && self.config.auto_create_topics => {}
                Ok(_) => {
                    return Err(Error::Kafka {
                        code: ErrorCode::LeaderNotAvailable.code(),
                        message: format!("Topic '{topic}' has partitions without a leader"),
                    });
                }
                Err(e) => return Err(e),
            }
            attempts += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        self.state.lock().unwrap().topics.insert(topic.to_owned(), info.clone());
        Ok(info)
    }

    /// Remembers the first failure; later `send`s and `flush` report it.
    fn fail(&self, e: &Error) {
        self.state.lock().unwrap().error.get_or_insert(e.to_string());
    }

    fn memory_capacity(&self) -> usize {
        self.config.buffer_bytes.max(self.config.batch_bytes)
    }

    /// Takes the batches due now: full ones, those older than linger, or all when flushing.
    fn take_due(&self) -> (Vec<Ready>, Option<Duration>) {
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        let all = self.flushing.load(Ordering::SeqCst) || self.closed.load(Ordering::SeqCst);
        let linger = self.config.linger;
        let due: Vec<(String, i32)> = state
            .open
            .iter()
            .filter(|(_, o)| all || now.duration_since(o.created) >= linger)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let open = state.open.remove(&key).expect("listed");
            let count = state.topics.get(&key.0).map_or(1, |t| t.partitions.len().max(1)) as i32;
            let s = state.sticky.entry(key.0.clone()).or_insert(0);
            if *s == key.1 {
                *s = (*s + 1) % count;
            }
            state.ready.push_back(Ready {
                topic: key.0,
                partition: key.1,
                open,
            });
        }
        let next = state
            .open
            .values()
            .map(|o| o.created + linger)
            .min()
            .map(|t| t.saturating_duration_since(now));
        (state.ready.drain(..).collect(), next)
    }
}

async fn dispatch_loop(inner: Arc<Inner>) {
    loop {
        let (ready, next) = inner.take_due();
        if ready.is_empty() {
            if inner.closed.load(Ordering::SeqCst) {
                return;
            }
            let wait = next
                .unwrap_or(Duration::from_millis(100))
                .max(Duration::from_micros(200));
            let _ = tokio::time::timeout(wait, inner.wake.notified()).await;
            continue;
        }
        // Group by leader; one request per leader.
        let mut by_leader: BTreeMap<i32, Vec<Ready>> = BTreeMap::new();
        for r in ready {
            let leader = {
                let state = inner.state.lock().unwrap();
                state
                    .topics
                    .get(&r.topic)
                    .and_then(|t| t.partitions.iter().find(|p| p.partition == r.partition))
                    .map_or(-1, |p| p.leader)
            };
            by_leader.entry(leader).or_default().push(r);
        }
        for (leader, batches) in by_leader {
            // A request carries at most one batch per partition: the n-th batch of each
            // partition goes in the n-th request, so each partition's batches stay in order.
            let mut rounds: Vec<Vec<Ready>> = Vec::new();
            let mut seen: HashMap<(String, i32), usize> = HashMap::new();
            for r in batches {
                let n = seen.entry((r.topic.clone(), r.partition)).or_insert(0);
                if rounds.len() <= *n {
                    rounds.push(Vec::new());
                }
                rounds[*n].push(r);
                *n += 1;
            }
            for round in rounds {
                let permit = match inner.in_flight.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                };
                if let Err(e) = send_batches(&inner, leader, round, permit).await {
                    inner.fail(&e);
                }
            }
        }
    }
}

/// Attempts at a batch that fails with a retriable error (after refreshing metadata).
const MAX_ATTEMPTS: u32 = 5;
/// Pause before a retry, multiplied by the attempt number.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// A built batch on its way, with the deliveries it resolves.
struct Item {
    topic: String,
    partition: i32,
    batch: Bytes,
    waiters: Vec<oneshot::Sender<Result<(i32, i64)>>>,
    _memory: Option<OwnedSemaphorePermit>,
}

impl Item {
    fn resolve(self, result: Result<i64, &Error>) {
        for (i, w) in self.waiters.into_iter().enumerate() {
            let _ = w.send(match result {
                Ok(base) => Ok((self.partition, if base < 0 { -1 } else { base + i as i64 })),
                Err(e) => Err(copy_error(e)),
            });
        }
    }
}

/// A copy of an error for each delivery (errors own I/O sources, so they do not clone).
fn copy_error(e: &Error) -> Error {
    match e {
        Error::Kafka { code, message } => Error::Kafka {
            code: *code,
            message: message.clone(),
        },
        other => Error::Invalid(other.to_string()),
    }
}

fn produce_request(inner: &Inner, items: &[Item]) -> ProduceRequest {
    let mut topics: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
    for item in items {
        topics.entry(&item.topic).or_default().push(PartitionProduceData {
            index: item.partition,
            records: Some(item.batch.clone()),
            ..Default::default()
        });
    }
    ProduceRequest {
        transactional_id: None,
        acks: inner.config.acks,
        timeout_ms: inner.client.config().request_timeout.as_millis().min(i32::MAX as u128) as i32,
        topic_data: topics
            .into_iter()
            .map(|(name, partition_data)| TopicProduceData {
                name: name.to_owned(),
                partition_data,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

async fn start_produce(inner: &Inner, leader: i32, items: &[Item]) -> Result<crate::PendingResponse> {
    if leader < 0 {
        return Err(Error::Kafka {
            code: ErrorCode::LeaderNotAvailable.code(),
            message: "a partition has no leader".into(),
        });
    }
    let conn = inner.client.broker(leader).await?;
    conn.start(RequestBody::Produce(produce_request(inner, items))).await
}

async fn send_batches(
    inner: &Arc<Inner>,
    leader: i32,
    batches: Vec<Ready>,
    permit: OwnedSemaphorePermit,
) -> Result<()> {
    let mut items = Vec::with_capacity(batches.len());
    for r in batches {
        let mut builder = r.open.builder;
        if inner.producer_id.0 >= 0 {
            let mut state = inner.state.lock().unwrap();
            let seq = state.sequences.entry((r.topic.clone(), r.partition)).or_insert(0);
            builder = builder.producer(inner.producer_id.0, inner.producer_id.1, *seq);
            *seq = seq.wrapping_add(r.open.waiters.len() as i32) & i32::MAX;
        }
        let batch = match builder.build() {
            Ok(b) => b.into_bytes(),
            Err(e) => {
                let e = Error::from(e);
                for w in r.open.waiters {
                    let _ = w.send(Err(copy_error(&e)));
                }
                return Err(e);
            }
        };
        items.push(Item {
            topic: r.topic,
            partition: r.partition,
            batch,
            waiters: r.open.waiters,
            _memory: r.open.permit,
        });
    }
    if inner.config.acks == 0 {
        let result = match inner.client.broker(leader).await {
            Ok(conn) => {
                conn.send_no_response(RequestBody::Produce(produce_request(inner, &items)))
                    .await
            }
            Err(e) => Err(e),
        };
        for item in items {
            item.resolve(result.as_ref().map(|()| -1));
        }
        drop(permit);
        return result;
    }
    // Start the request before returning, so requests leave in dispatch order.
    let first = start_produce(inner, leader, &items).await;
    let inner = inner.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let mut attempts = vec![(first, items)];
        let mut attempt = 1;
        loop {
            let mut retry: Vec<(Item, Error)> = Vec::new();
            for (pending, items) in attempts.drain(..) {
                let response = match pending {
                    Ok(p) => p.wait().await.and_then(|b| Ok(expect_body!(b, Produce))),
                    Err(e) => Err(e),
                };
                let response = match response {
                    Ok(r) => r,
                    Err(e) if e.is_retriable() => {
                        retry.extend(items.into_iter().map(|i| (i, copy_error(&e))));
                        continue;
                    }
                    Err(e) => {
                        inner.fail(&e);
                        items.into_iter().for_each(|i| i.resolve(Err(&e)));
                        continue;
                    }
                };
                let mut results = HashMap::new();
                for t in response.responses {
                    for p in t.partition_responses {
                        let result = Error::check(p.error_code, p.error_message.as_deref(), || {
                            format!("Producing to partition {}-{}", t.name, p.index)
                        })
                        .map(|()| p.base_offset);
                        results.insert((t.name.clone(), p.index), result);
                    }
                }
                for item in items {
                    match results.remove(&(item.topic.clone(), item.partition)) {
                        Some(Ok(base)) => item.resolve(Ok(base)),
                        Some(Err(e)) if e.is_retriable() => retry.push((item, e)),
                        Some(Err(e)) => {
                            inner.fail(&e);
                            item.resolve(Err(&e));
                        }
                        None => {
                            let e = Error::Protocol("the Produce response left out a partition".into());
                            inner.fail(&e);
                            item.resolve(Err(&e));
                        }
                    }
                }
            }
            if retry.is_empty() {
                return;
            }
            if attempt >= MAX_ATTEMPTS {
                for (item, e) in retry {
                    inner.fail(&e);
                    item.resolve(Err(&e));
                }
                return;
            }
            tokio::time::sleep(RETRY_BACKOFF * attempt).await;
            attempt += 1;
            // Leaders may have moved: forget cached metadata and route again.
            let mut by_leader: BTreeMap<i32, Vec<Item>> = BTreeMap::new();
            for (item, _) in retry {
                inner.state.lock().unwrap().topics.remove(&item.topic);
                match inner.topic_info(&item.topic).await {
                    Ok(info) => {
                        let leader = info
                            .partitions
                            .iter()
                            .find(|p| p.partition == item.partition)
                            .map_or(-1, |p| p.leader);
                        by_leader.entry(leader).or_default().push(item);
                    }
                    Err(_) => by_leader.entry(-1).or_default().push(item),
                }
            }
            for (leader, items) in by_leader {
                let pending = start_produce(&inner, leader, &items).await;
                attempts.push((pending, items));
            }
        }
    });
    Ok(())
}

/// Kafka's murmur2 (as `org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> u32 {
    let seed: u32 = 0x9747_b28c;
    let m: u32 = 0x5bd1_e995;
    let r = 24;
    let len = data.len();
    let mut h: u32 = seed ^ len as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(m);
        k ^= k >> r;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(m);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(m);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(m);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::murmur2;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }
}
