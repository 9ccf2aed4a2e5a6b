//! The runtime around the group coordinator: its lock, clock, log appends and parked replies.
//!
//! The coordinator ([`sluice_group::Coordinator`]) decides; this module carries out what it asks
//! for. Each call locks the coordinator, applies one event, appends the resulting records to
//! their `__consumer_offsets` partitions while still holding the lock (so the log order is the
//! order in which the state changed), releases it, waits until the appended data is fsynced,
//! and only then sends the replies. A client therefore never hears of a commit or an assignment
//! that a crash could take back.
//!
//! `__consumer_offsets` is created on first use, like Kafka does on the first FindCoordinator,
//! with `offsets.topic.num.partitions` partitions and `cleanup.policy=compact`; on start-up the
//! coordinator is rebuilt by replaying it. A background task fires the coordinator's timers
//! (sessions, join and sync deadlines) and expires old offsets.

use crate::context::Broker;
use crate::logs::{Partition, now_ms};
use crate::topics::{self, NewTopic};
use bytes::Bytes;
use sluice_group::{Coordinator, CoordinatorRecord, Effects, GroupConfig, OFFSETS_TOPIC, Reply, ReplyId};
use sluice_protocol::ErrorCode;
use sluice_protocol::records::{BatchBuilder, NewRecord, batches};
use sluice_storage::AppendOptions;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, oneshot};

/// Largest decompressed batch read back while loading (coordinator batches are small; this is
/// a bound against a corrupt or hostile one).
const LOAD_BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Bytes read from a partition per step while loading.
const LOAD_READ_BYTES: usize = 4 * 1024 * 1024;

/// The coordinator and what it needs to run.
pub struct Groups {
    /// Settings (also inside the coordinator; kept here for the runtime's own use).
    config: GroupConfig,
    /// `offsets.topic.num.partitions`.
    num_partitions: i32,
    /// `offsets.retention.check.interval.ms`.
    retention_check_interval_ms: i64,
    /// The state machine, and the offsets topic's partitions once they exist.
    inner: Mutex<Inner>,
    /// Parked JoinGroup/SyncGroup requests, answered when the coordinator says so.
    waiting: Mutex<HashMap<ReplyId, oneshot::Sender<Reply>>>,
    /// Source of reply ids.
    next_reply: AtomicU64,
    /// Wakes the timer task when an event may have scheduled an earlier deadline.
    wake: Notify,
    /// The last topic snapshot handed to consumer group heartbeats, reused while the metadata
    /// image is unchanged.
    topics_cache: Mutex<Option<Arc<TopicSnapshot>>>,
    /// Set once the offsets topic is open and loaded (cleared if it is deleted), so that
    /// every group request after the first checks readiness without taking the coordinator
    /// lock it is about to take again for its event.
    ready: AtomicBool,
}

/// What the coordinator lock guards.
struct Inner {
    /// The state machine.
    coordinator: Coordinator,
    /// `__consumer_offsets` partitions by index, once the topic exists and is loaded.
    partitions: Option<Vec<Arc<Partition>>>,
}

/// Why a group request cannot be served right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The offsets topic could not be created or loaded: COORDINATOR_NOT_AVAILABLE.
    CoordinatorNotAvailable,
}

impl Unavailable {
    /// The Kafka error code.
    pub fn code(self) -> ErrorCode {
        ErrorCode::CoordinatorNotAvailable
    }
}

impl Groups {
    /// A runtime with an empty coordinator; [`Groups::load`] fills it from the log.
    pub fn new(config: GroupConfig, num_partitions: i32, retention_check_interval_ms: i64) -> Groups {
        let seed = now_ms() as u64 ^ u64::from(std::process::id()).rotate_left(32);
        Groups {
            inner: Mutex::new(Inner {
                coordinator: Coordinator::new(config.clone(), seed),
                partitions: None,
            }),
            config,
            num_partitions: num_partitions.max(1),
            retention_check_interval_ms: retention_check_interval_ms.max(1),
            waiting: Mutex::new(HashMap::new()),
            next_reply: AtomicU64::new(1),
            wake: Notify::new(),
            ready: AtomicBool::new(false),
            topics_cache: Mutex::new(None),
        }
    }

    /// The coordinator's settings.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Sets one group's own settings (its GROUP config resource) in the coordinator.
    pub fn set_group_overrides(&self, group_id: &str, overrides: sluice_group::GroupOverrides) {
        self.lock().coordinator.set_group_overrides(group_id, overrides);
    }

    /// `offsets.topic.num.partitions`.
    pub fn num_partitions(&self) -> i32 {
        self.num_partitions
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the coordinator from `__consumer_offsets` if the topic exists (at start-up).
    pub fn load_if_present(&self, broker: &Broker) -> Result<(), Unavailable> {
        if broker.topic_with_configs(OFFSETS_TOPIC).is_some() {
            self.ensure_ready(broker)?;
        }
        Ok(())
    }

    /// Makes sure the offsets topic exists and the coordinator holds its state: creates the
    /// topic on first use and replays it on first access after start-up.
    pub fn ensure_ready(&self, broker: &Broker) -> Result<(), Unavailable> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut inner = self.lock();
        if inner.partitions.is_some() {
            return Ok(());
        }
        if broker.topic_with_configs(OFFSETS_TOPIC).is_none() {
            let created = topics::create(
                broker,
                &NewTopic {
                    name: OFFSETS_TOPIC,
                    num_partitions: self.num_partitions,
                    replication_factor: 1,
                    assignments: Vec::new(),
                    configs: vec![
                        ("cleanup.policy".into(), Some("compact".into())),
                        ("segment.bytes".into(), Some((100 * 1024 * 1024).to_string())),
                        ("compression.type".into(), Some("producer".into())),
                    ],
                },
                false,
            );
            if let Err((code, why)) = created {
                // Another request may have created it in between; only a real failure counts.
                if broker.topic_with_configs(OFFSETS_TOPIC).is_none() {
                    tracing::error!(?code, why, "could not create {OFFSETS_TOPIC}");
                    return Err(Unavailable::CoordinatorNotAvailable);
                }
            }
        }
        let Some((topic, configs)) = broker.topic_with_configs(OFFSETS_TOPIC) else {
            return Err(Unavailable::CoordinatorNotAvailable);
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for index in 0..topic.partitions.len() as i32 {
            match broker.logs.partition(&topic, index, configs.as_ref()) {
                Ok(p) => partitions.push(p),
                Err(e) => {
                    tracing::error!(error = %e, partition = index, "could not open {OFFSETS_TOPIC}");
                    return Err(Unavailable::CoordinatorNotAvailable);
                }
            }
        }
        let now = now_ms();
        let mut loaded = 0usize;
        for (index, p) in partitions.iter().enumerate() {
            match replay_partition(&mut inner.coordinator, p, now) {
                Ok(n) => loaded += n,
                Err(why) => {
                    tracing::error!(partition = index, why, "could not load {OFFSETS_TOPIC}");
                    return Err(Unavailable::CoordinatorNotAvailable);
                }
            }
        }
        inner.coordinator.finish_loading(now);
        tracing::info!(
            records = loaded,
            groups = inner.coordinator.group_count(),
            "group coordinator loaded"
        );
        inner.partitions = Some(partitions);
        self.ready.store(true, Ordering::Release);
        drop(inner);
        self.wake.notify_one();
        Ok(())
    }

    /// Runs `remove`, the deletion of `__consumer_offsets`, under the coordinator lock (so no
    /// append or load runs meanwhile) and, if it succeeds, forgets every group and offset: the
    /// state lived in the deleted topic. Parked JoinGroup/SyncGroup requests lose their reply
    /// channel and answer NOT_COORDINATOR, so their clients look the coordinator up again; the
    /// next group request creates the topic anew ([`Groups::ensure_ready`]).
    pub fn remove_offsets_topic<T, E>(&self, remove: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let mut inner = self.lock();
        let out = remove()?;
        let seed = now_ms() as u64 ^ u64::from(std::process::id()).rotate_left(32);
        // Group configs live in the metadata log, not in the deleted topic: they stay.
        let overrides = inner.coordinator.group_overrides().clone();
        inner.coordinator = Coordinator::new(self.config.clone(), seed);
        for (group, o) in &overrides {
            inner.coordinator.set_group_overrides(group, *o);
        }
        inner.partitions = None;
        self.ready.store(false, Ordering::Release);
        drop(inner);
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.wake.notify_one();
        tracing::warn!("{OFFSETS_TOPIC} was deleted: every group and committed offset is forgotten");
        Ok(out)
    }

    /// A fresh reply id with its receiver.
    pub fn park(&self) -> (ReplyId, oneshot::Receiver<Reply>) {
        let id = self.next_reply.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
        (id, rx)
    }

    /// Runs `event` against the coordinator, appends the records it produced, and returns
    /// what to wait on before replying. `event` returns its own direct result too.
    pub fn run<T>(&self, event: impl FnOnce(&mut Coordinator, i64) -> (T, Effects)) -> Applied<T> {
        let mut inner = self.lock();
        let now = now_ms();
        let (value, fx) = event(&mut inner.coordinator, now);
        let appended = append_records(&inner, &fx.records, now);
        drop(inner);
        // Any event may have scheduled an earlier deadline (a parked join with no initial
        // delay is due at once): let the timer task look again. A stored permit is cheap.
        self.wake.notify_one();
        Applied {
            value,
            replies: fx.replies,
            appended,
        }
    }

    /// Waits for `applied`'s records to be durable, then answers its parked replies. Returns the
    /// direct result, or the error to answer instead when the records could not be stored.
    pub async fn finish<T>(&self, applied: Applied<T>) -> Result<T, ErrorCode> {
        let durable = match applied.appended {
            Ok(waits) => {
                let mut result = Ok(());
                for (partition, end) in waits {
                    if let Err(e) = partition.sync.wait_durable(end).await {
                        tracing::error!(error = %e, "could not make {OFFSETS_TOPIC} durable");
                        result = Err(ErrorCode::NotCoordinator);
                        break;
                    }
                }
                result
            }
            Err(code) => Err(code),
        };
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        for (id, reply) in applied.replies {
            let reply = match durable {
                Ok(()) => reply,
                Err(code) => reply_with_error(reply, code),
            };
            if let Some(tx) = waiting.remove(&id) {
                // The connection may be gone; then nobody needs the answer.
                let _ = tx.send(reply);
            }
        }
        drop(waiting);
        durable.map(|()| applied.value)
    }

    /// Forgets a parked reply whose request was answered directly (never parked by the
    /// coordinator), so the map does not grow.
    pub fn unpark(&self, id: ReplyId) {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    /// The background task: fires timers when they are due and expires offsets periodically.
    /// Runs until the broker shuts down (the task is aborted).
    pub async fn run_timers(self: Arc<Self>) {
        let mut next_expiry = now_ms() + self.retention_check_interval_ms;
        loop {
            let now = now_ms();
            let deadline = {
                let inner = self.lock();
                inner.coordinator.next_deadline_ms()
            };
            let until = deadline.unwrap_or(i64::MAX).min(next_expiry);
            if until > now {
                let sleep = std::time::Duration::from_millis((until - now).min(60_000) as u64);
                tokio::select! {
                    _ = tokio::time::sleep(sleep) => {}
                    _ = self.wake.notified() => {}
                }
                continue;
            }
            let expire = now >= next_expiry;
            if expire {
                next_expiry = now + self.retention_check_interval_ms;
            }
            let applied = self.run(|c, now| {
                let mut fx = c.tick(now);
                if expire {
                    let more = c.expire_offsets(now);
                    fx.records.extend(more.records);
                    fx.replies.extend(more.replies);
                }
                ((), fx)
            });
            let _ = self.finish(applied).await;
        }
    }
}

/// An event's outcome, between the append and the replies.
pub struct Applied<T> {
    /// The event's direct result.
    value: T,
    /// Parked requests to answer.
    replies: Vec<(ReplyId, Reply)>,
    /// What to wait for: each touched partition and the end offset that must be durable; or
    /// the error if the append failed.
    appended: Result<Vec<(Arc<Partition>, i64)>, ErrorCode>,
}

impl<T> Applied<T> {
    /// The direct result of an event that wrote nothing and answered no parked request (a
    /// heartbeat, a lookup): there is nothing to wait for.
    pub fn into_value(self) -> T {
        debug_assert!(self.replies.is_empty());
        debug_assert!(matches!(&self.appended, Ok(w) if w.is_empty()));
        self.value
    }
}

/// Appends `records` to their partitions (called with the coordinator lock held).
fn append_records(
    inner: &Inner,
    records: &[CoordinatorRecord],
    now: i64,
) -> Result<Vec<(Arc<Partition>, i64)>, ErrorCode> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let Some(partitions) = &inner.partitions else {
        return Err(ErrorCode::CoordinatorNotAvailable);
    };
    let count = partitions.len() as i32;
    let mut by_partition: Vec<Vec<&CoordinatorRecord>> = vec![Vec::new(); partitions.len()];
    for r in records {
        by_partition[sluice_group::partition_for(r.group_id(), count) as usize].push(r);
    }
    let mut waits = Vec::new();
    for (index, recs) in by_partition.into_iter().enumerate() {
        if recs.is_empty() {
            continue;
        }
        let mut builder = BatchBuilder::new(0);
        for r in recs {
            let record = NewRecord::new(now, Some(r.encode_key()), r.encode_value());
            builder.append(&record).map_err(|e| {
                tracing::error!(error = %e, "could not build a coordinator batch");
                ErrorCode::UnknownServerError
            })?;
        }
        let batch = builder.build().map_err(|e| {
            tracing::error!(error = %e, "could not build a coordinator batch");
            ErrorCode::UnknownServerError
        })?;
        let partition = &partitions[index];
        let info = {
            let mut log = partition.write();
            log.append(
                batch.into_bytes(),
                AppendOptions {
                    leader_epoch: 0,
                    now_ms: now,
                },
            )
        };
        match info {
            Ok(info) => waits.push((partition.clone(), info.last_offset + 1)),
            Err(e) => {
                tracing::error!(error = %e, "could not append to {OFFSETS_TOPIC}");
                return Err(ErrorCode::NotCoordinator);
            }
        }
    }
    Ok(waits)
}

/// Replays one partition into the coordinator; returns the number of records applied.
fn replay_partition(coordinator: &mut Coordinator, partition: &Partition, now: i64) -> Result<usize, String> {
    let log = partition.read();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    let mut applied = 0;
    while offset < end {
        let read = log.read(offset, LOAD_READ_BYTES).map_err(|e| e.to_string())?;
        if read.records.is_empty() {
            break;
        }
        let before = offset;
        for batch in batches(read.records) {
            let batch = batch.map_err(|e| e.to_string())?;
            let last = batch.header().last_offset().map_err(|e| e.to_string())?;
            if batch.header().attributes.is_control() {
                offset = last + 1;
                continue;
            }
            for record in batch.records(LOAD_BATCH_BYTES_MAX).map_err(|e| e.to_string())? {
                let record = record.map_err(|e| e.to_string())?;
                if record.offset < offset {
                    continue;
                }
                let Some(key) = record.key else { continue };
                match CoordinatorRecord::decode(key, record.value) {
                    Ok(r) => {
                        coordinator.replay(r, now);
                        applied += 1;
                    }
                    // Records of kinds this coordinator does not know yet (a newer Kafka's) are
                    // skipped, as an older Kafka would.
                    Err(e) => tracing::warn!(error = %e, offset = record.offset, "skipping a coordinator record"),
                }
            }
            offset = last + 1;
        }
        if offset == before {
            return Err(format!("no progress reading {OFFSETS_TOPIC} at offset {offset}"));
        }
    }
    Ok(applied)
}

fn reply_with_error(reply: Reply, code: ErrorCode) -> Reply {
    match reply {
        Reply::Join(mut r) => {
            r.error_code = code.code();
            r.members.clear();
            Reply::Join(r)
        }
        Reply::Sync(mut r) => {
            r.error_code = code.code();
            r.assignment = Bytes::new();
            Reply::Sync(r)
        }
    }
}

/// The topics as consumer groups see them, copied out of the metadata image before the
/// coordinator lock is taken (the coordinator does no I/O and takes no other lock).
#[derive(Debug, Default)]
pub struct TopicSnapshot {
    /// Topic name to id and partition count.
    by_name: HashMap<String, (sluice_protocol::Uuid, i32)>,
    /// Topic id to name, to describe assignments.
    by_id: HashMap<sluice_protocol::Uuid, String>,
    /// The metadata image's offset this snapshot was taken at.
    version: i64,
}

impl TopicSnapshot {
    /// Every topic of the broker's current metadata image, shared between heartbeats until the
    /// image changes (a heartbeat should not copy every topic name).
    pub fn of(broker: &Broker) -> Arc<TopicSnapshot> {
        let store = broker.metadata();
        let image = store.image();
        let mut cache = broker.groups.topics_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.as_ref().filter(|s| s.version == image.offset) {
            return s.clone();
        }
        let mut snapshot = TopicSnapshot {
            version: image.offset,
            ..Default::default()
        };
        for t in image.topics.values() {
            snapshot
                .by_name
                .insert(t.name.clone(), (t.topic_id, t.partitions.len() as i32));
            snapshot.by_id.insert(t.topic_id, t.name.clone());
        }
        let snapshot = Arc::new(snapshot);
        *cache = Some(snapshot.clone());
        snapshot
    }
}

impl sluice_group::TopicView for TopicSnapshot {
    fn by_name(&self, name: &str) -> Option<(sluice_protocol::Uuid, i32)> {
        self.by_name.get(name).copied()
    }

    fn name_of(&self, id: &sluice_protocol::Uuid) -> Option<String> {
        self.by_id.get(id).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.by_name
            .keys()
            .filter(|n| !topics::INTERNAL_TOPICS.contains(&n.as_str()))
            .cloned()
            .collect()
    }

    fn version(&self) -> i64 {
        self.version
    }
}
