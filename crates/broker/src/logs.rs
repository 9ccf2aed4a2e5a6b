//! The partitions this broker stores: one [`PartitionLog`] each, opened on first use.
//!
//! A partition of topic `t` lives in `<data dir>/t-<partition>`, as in Kafka. Its log config is
//! the broker's defaults with the topic's overrides from the metadata image. Appends take the
//! partition's write lock only for the write itself; acks=all then waits on the log's
//! [`SyncHandle`] outside the lock, so concurrent producers share one fsync (group commit).
//! Every append bumps [`Logs::appended`], which long-polling fetches wait on.

use crate::producers::ProducerState;
use sluice_metadata::TopicImage;
use sluice_protocol::Uuid;
use sluice_protocol::records::TimestampType;
use sluice_storage::{CleanupPolicy, LogConfig, PartitionLog, StorageError, SyncHandle};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

/// One open partition.
pub struct Partition {
    /// The log; reads share it, appends and retention take it exclusively.
    pub log: RwLock<PartitionLog>,
    /// Group-commit handle for acks=all, usable without the lock.
    pub sync: SyncHandle,
    /// Idempotent producers' epochs and recent batches. Locked after `log` (never before), so
    /// the check and the append are one step.
    pub producers: Mutex<ProducerState>,
}

impl Partition {
    /// Read access; a poisoned lock still guards a consistent log (writes are all-or-error).
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, PartitionLog> {
        self.log.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Write access.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, PartitionLog> {
        self.log.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The producer state; lock it only while holding [`Partition::write`].
    pub fn producers(&self) -> std::sync::MutexGuard<'_, ProducerState> {
        self.producers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every partition log of the broker.
pub struct Logs {
    /// The data directory (`log.dirs`).
    dir: PathBuf,
    /// Defaults for every log, before topic overrides.
    defaults: LogConfig,
    /// Open partitions by topic id and index.
    open: Mutex<HashMap<(Uuid, i32), Arc<Partition>>>,
    /// Bumped after every append, so waiting fetches re-check.
    appended: watch::Sender<u64>,
}

/// Applies a topic's config overrides (Kafka names) to the broker defaults. Values were
/// validated when they were set; one that does not parse keeps the default.
fn topic_log_config(defaults: &LogConfig, overrides: Option<&std::collections::BTreeMap<String, String>>) -> LogConfig {
    let mut c = defaults.clone();
    let Some(overrides) = overrides else { return c };
    let num = |k: &str| overrides.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    if let Some(v) = num("segment.bytes").and_then(|v| u64::try_from(v).ok()) {
        c.segment_bytes = v;
    }
    if let Some(v) = num("segment.ms") {
        c.segment_ms = v;
    }
    if let Some(v) = num("retention.ms") {
        c.retention_ms = v;
    }
    if let Some(v) = num("retention.bytes") {
        c.retention_bytes = v;
    }
    if let Some(v) = num("flush.messages") {
        c.flush_messages = v;
    }
    if let Some(v) = num("flush.ms") {
        c.flush_ms = v;
    }
    if let Some(v) = num("max.message.bytes").and_then(|v| usize::try_from(v).ok()) {
        c.max_message_bytes = v;
    }
    if let Some(v) = num("index.interval.bytes").and_then(|v| u64::try_from(v).ok()) {
        c.index_interval_bytes = v;
    }
    if let Some(v) = num("delete.retention.ms") {
        c.delete_retention_ms = v;
    }
    if let Some(policy) = overrides.get("cleanup.policy") {
        let has = |p: &str| policy.split(',').any(|x| x.trim() == p);
        c.cleanup_policy = match (has("compact"), has("delete")) {
            (true, true) => CleanupPolicy::CompactDelete,
            (true, false) => CleanupPolicy::Compact,
            _ => CleanupPolicy::Delete,
        };
    }
    match overrides.get("message.timestamp.type").map(String::as_str) {
        Some("LogAppendTime") => c.message_timestamp_type = TimestampType::LogAppendTime,
        Some("CreateTime") => c.message_timestamp_type = TimestampType::CreateTime,
        _ => {}
    }
    c
}

impl Logs {
    /// Partition logs under `dir`, created with `defaults` unless a topic overrides them.
    pub fn new(dir: &Path, defaults: LogConfig) -> Logs {
        Logs {
            dir: dir.to_owned(),
            defaults,
            open: Mutex::new(HashMap::new()),
            appended: watch::channel(0).0,
        }
    }

    /// The open partition, opening (and recovering, or creating) its log on first use.
    pub fn partition(
        &self,
        topic: &TopicImage,
        partition: i32,
        overrides: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Result<Arc<Partition>, StorageError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = open.get(&(topic.topic_id, partition)) {
            return Ok(p.clone());
        }
        let dir = self.dir.join(format!("{}-{partition}", topic.name));
        let log = PartitionLog::open(&dir, topic_log_config(&self.defaults, overrides))?;
        // Producer state comes back from the batch headers still in the log.
        let producers = ProducerState::rebuild(log.batch_headers_from(log.log_start_offset())?)?;
        let p = Arc::new(Partition {
            sync: log.sync_handle(),
            log: RwLock::new(log),
            producers: Mutex::new(producers),
        });
        open.insert((topic.topic_id, partition), p.clone());
        Ok(p)
    }

    /// Closes and deletes a deleted topic's partition logs.
    pub fn remove_topic(&self, topic: &TopicImage) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        for partition in topic.partitions.keys() {
            open.remove(&(topic.topic_id, *partition));
            let dir = self.dir.join(format!("{}-{partition}", topic.name));
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not delete a deleted topic's data");
                }
            }
        }
    }

    /// Applies a topic's new config overrides to its open partition logs.
    pub fn reconfigure_topic(
        &self,
        topic: &TopicImage,
        overrides: Option<&std::collections::BTreeMap<String, String>>,
    ) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let config = topic_log_config(&self.defaults, overrides);
        for partition in topic.partitions.keys() {
            if let Some(p) = open.get(&(topic.topic_id, *partition)) {
                if let Err(e) = p.write().set_config(config.clone()) {
                    tracing::warn!(topic = %topic.name, partition, error = %e, "could not apply new topic configs");
                }
            }
        }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every partition opened so far.
    pub fn open_partitions(&self) -> Vec<Arc<Partition>> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Tells waiting fetches that data arrived.
    pub fn notify_appended(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes after every append.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Flushes and closes every open log (clean shutdown).
    pub fn close_all(&self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        for (_, p) in open.drain() {
            // Closing writes the clean-shutdown marker, so the next start skips recovery. A log
            // still shared (a request finishing late) is only flushed.
            let result = match Arc::try_unwrap(p) {
                Ok(p) => p.log.into_inner().unwrap_or_else(|e| e.into_inner()).close(),
                Err(p) => p.write().flush(),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "closing a log at shutdown failed");
            }
        }
    }
}

/// Milliseconds since the Unix epoch, the broker's clock for timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
