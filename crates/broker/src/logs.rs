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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
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

/// A partition's place in [`Logs`]: present from the first lookup, filled once its log is open.
/// Opening (recovery can read a whole segment) happens under this slot's own lock, so lookups of
/// other partitions never wait for it.
#[derive(Default)]
struct Slot {
    /// Held while the log opens, so concurrent first users of one partition open it once.
    opening: Mutex<()>,
    /// The open partition; set once, read without any lock.
    open: OnceLock<Arc<Partition>>,
    /// Set when the topic was deleted, so an open still waiting on `opening` does not recreate
    /// the directory that was just removed.
    removed: AtomicBool,
}

/// Every partition log of the broker.
pub struct Logs {
    /// The data directory (`log.dirs`).
    dir: PathBuf,
    /// Defaults for every log, before topic overrides.
    defaults: LogConfig,
    /// Partitions by topic id and index, open or opening. The map lock is held only to find or
    /// insert a slot, never across I/O.
    open: Mutex<HashMap<(Uuid, i32), Arc<Slot>>>,
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

    /// The open partition, opening (and recovering, or creating) its log on first use. Only
    /// callers of the same partition wait while it opens.
    pub fn partition(
        &self,
        topic: &TopicImage,
        partition: i32,
        overrides: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Result<Arc<Partition>, StorageError> {
        let slot = self.slot(topic.topic_id, partition);
        if let Some(p) = slot.open.get() {
            return Ok(p.clone());
        }
        // Opening may recover the log (a CRC pass over a whole segment, 0.3 s for 1 GiB): on a
        // multi-threaded runtime the worker hands its other tasks to another thread first, so
        // connections to open partitions are not held up behind it.
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| self.open_slot(&slot, topic, partition, overrides))
            }
            _ => self.open_slot(&slot, topic, partition, overrides),
        }
    }

    /// Opens (and recovers) a partition's log into its slot, once.
    fn open_slot(
        &self,
        slot: &Slot,
        topic: &TopicImage,
        partition: i32,
        overrides: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Result<Arc<Partition>, StorageError> {
        let _opening = slot.opening.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = slot.open.get() {
            return Ok(p.clone()); // another caller opened it while this one waited
        }
        if slot.removed.load(Ordering::Acquire) {
            return Err(StorageError::Failed(format!("{}-{partition} was deleted", topic.name)));
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
        Ok(slot.open.get_or_init(|| p).clone())
    }

    /// The slot of a partition, created empty on first lookup.
    fn slot(&self, topic_id: Uuid, partition: i32) -> Arc<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.entry((topic_id, partition)).or_default().clone()
    }

    /// Closes and deletes a deleted topic's partition logs.
    pub fn remove_topic(&self, topic: &TopicImage) {
        let slots: Vec<Arc<Slot>> = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            topic
                .partitions
                .keys()
                .filter_map(|partition| open.remove(&(topic.topic_id, *partition)))
                .collect()
        };
        for slot in &slots {
            slot.removed.store(true, Ordering::Release);
            // Wait for an open in progress, so the directory is not deleted under it.
            drop(slot.opening.lock().unwrap_or_else(|p| p.into_inner()));
        }
        for partition in topic.partitions.keys() {
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
        let config = topic_log_config(&self.defaults, overrides);
        for partition in topic.partitions.keys() {
            let slot = self
                .open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&(topic.topic_id, *partition))
                .cloned();
            // A partition still opening reads the new overrides from the image when it opens.
            if let Some(p) = slot.as_ref().and_then(|s| s.open.get()) {
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

    /// Every partition opened so far (not those still opening).
    pub fn open_partitions(&self) -> Vec<Arc<Partition>> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|s| s.open.get().cloned())
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
        let slots: Vec<Arc<Slot>> = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        for slot in slots {
            // Wait for an open in progress, then take the partition out of its slot.
            drop(slot.opening.lock().unwrap_or_else(|p| p.into_inner()));
            let Some(p) = (match Arc::try_unwrap(slot) {
                Ok(slot) => slot.open.into_inner(),
                Err(slot) => slot.open.get().cloned(),
            }) else {
                continue;
            };
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

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_metadata::PartitionImage;
    use std::sync::mpsc;
    use std::time::Duration;

    fn topic() -> TopicImage {
        TopicImage {
            name: "t".into(),
            topic_id: Uuid([7; 16]),
            partitions: (0..2)
                .map(|i| {
                    let image = PartitionImage {
                        replicas: vec![1],
                        isr: vec![1],
                        leader: 1,
                        leader_epoch: 0,
                        partition_epoch: 0,
                    };
                    (i, image)
                })
                .collect(),
        }
    }

    #[test]
    fn a_partition_that_is_opening_does_not_block_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(Logs::new(dir.path(), LogConfig::default()));
        let topic = topic();
        // Stand in for a long recovery of partition 0: hold its slot's opening lock.
        let slot = logs.slot(topic.topic_id, 0);
        let opening = slot.opening.lock().unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        let waiter = {
            let (logs, topic) = (logs.clone(), topic.clone());
            std::thread::spawn(move || {
                let p = logs.partition(&topic, 0, None).unwrap();
                done_tx.send(()).unwrap();
                p
            })
        };
        // Partition 1 opens while partition 0 is still "recovering".
        let one = logs.partition(&topic, 1, None).unwrap();
        assert_eq!(one.read().log_end_offset(), 0);
        assert!(
            done_rx.recv_timeout(Duration::from_millis(100)).is_err(),
            "partition 0 must wait for its own open"
        );
        assert_eq!(
            logs.open_partitions().len(),
            1,
            "an opening partition is not listed as open"
        );
        drop(opening);
        let zero = waiter.join().unwrap();
        // Later lookups get the same partition, opened once.
        assert!(Arc::ptr_eq(&zero, &logs.partition(&topic, 0, None).unwrap()));
        assert_eq!(logs.open_partitions().len(), 2);
        logs.close_all();
        assert!(logs.open_partitions().is_empty());
    }

    #[test]
    fn an_open_waiting_when_its_topic_is_deleted_fails_instead_of_recreating_it() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(Logs::new(dir.path(), LogConfig::default()));
        let topic = topic();
        logs.partition(&topic, 0, None).unwrap();
        assert!(dir.path().join("t-0").is_dir());
        // Partition 1 is "opening" (its lock held here) while a request waits to open it too.
        let slot = logs.slot(topic.topic_id, 1);
        let opening = slot.opening.lock().unwrap();
        let waiter = {
            let (logs, topic) = (logs.clone(), topic.clone());
            std::thread::spawn(move || logs.partition(&topic, 1, None).map(|_| ()))
        };
        // The map, this test and the waiter hold the slot: the waiter has looked it up.
        while Arc::strong_count(&slot) < 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let remover = {
            let (logs, topic) = (logs.clone(), topic.clone());
            std::thread::spawn(move || logs.remove_topic(&topic))
        };
        while !slot.removed.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(opening);
        remover.join().unwrap();
        assert!(waiter.join().unwrap().is_err(), "the waiting open fails");
        assert!(!dir.path().join("t-0").exists());
        assert!(
            !dir.path().join("t-1").exists(),
            "the deleted partition is not recreated"
        );
        assert!(logs.open_partitions().is_empty());
    }
}
