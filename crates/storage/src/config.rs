//! Per-partition log settings, named after Kafka's topic configs.

use sluice_protocol::records::TimestampType;

use crate::error::{Result, StorageError};

/// Kafka's `cleanup.policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// `delete`: old segments are removed by `retention_ms` / `retention_bytes`.
    #[default]
    Delete,
    /// `compact`: keep the latest record per key, via
    /// [`PartitionLog::compact`](crate::PartitionLog::compact); no time or
    /// size retention.
    Compact,
    /// `compact,delete`: both.
    CompactDelete,
}

/// Settings of one partition log. Defaults are Kafka's.
///
/// Values that Kafka spells as `-1` or `Long.MAX_VALUE` for "unlimited" keep
/// that meaning here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment before the active one would
    /// exceed this size. Bounds the unit of retention and of recovery work.
    /// Must be in `[61, i32::MAX]` so index positions fit a `u32`.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when an incoming batch's max timestamp is more than
    /// this after the active segment's first batch's (Kafka's rule; if the
    /// segment has no batch timestamp, wall-clock time since it was created
    /// or loaded is used), so time-based retention can delete whole segments.
    pub segment_ms: i64,
    /// `retention.ms`: delete a non-active segment once its largest timestamp
    /// is older than `now - retention_ms`. `-1`: keep forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest non-active segments while the log
    /// is larger than this. `-1`: no size limit.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: add a sparse offset (and time) index entry
    /// after at least this many log bytes, bounding the scan after a lookup.
    pub index_interval_bytes: u64,
    /// `flush.messages`: fsync after this many records since the last
    /// fsync. `i64::MAX` (default): never on count; rely on replication or on
    /// [`SyncHandle::wait_durable`](crate::SyncHandle::wait_durable) for acks=all.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the oldest unflushed data is this old, checked
    /// on append and on [`PartitionLog::maybe_flush`](crate::PartitionLog::maybe_flush).
    /// `i64::MAX` (default): never on time.
    pub flush_ms: i64,
    /// `max.message.bytes`: the largest record batch accepted, header
    /// included (Kafka's default, 1 MiB + 12 bytes of log overhead).
    pub max_message_bytes: usize,
    /// `message.timestamp.type`: with `LogAppendTime` the broker stamps each
    /// appended batch's `maxTimestamp` with the append time.
    pub message_timestamp_type: TimestampType,
    /// `cleanup.policy`: whether old data is deleted or compacted.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long compaction keeps a tombstone (a
    /// record with a null value) that is the latest for its key, so
    /// consumers that are behind still see the delete.
    pub delete_retention_ms: i64,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        const SEVEN_DAYS_MS: i64 = 7 * 24 * 60 * 60 * 1000;
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: SEVEN_DAYS_MS,
            retention_ms: SEVEN_DAYS_MS,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: 24 * 60 * 60 * 1000,
        }
    }
}

impl LogConfig {
    /// Checks the values a log cannot work with.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(StorageError::InvalidConfig(m));
        if self.segment_bytes < 61 || self.segment_bytes > i32::MAX as u64 {
            return bad(format!(
                "segment_bytes {} not in [61, {}]",
                self.segment_bytes,
                i32::MAX
            ));
        }
        if self.segment_ms <= 0 {
            return bad(format!("segment_ms {} must be positive", self.segment_ms));
        }
        if self.retention_ms < -1 || self.retention_bytes < -1 {
            return bad("retention_ms and retention_bytes must be >= -1".into());
        }
        if self.index_interval_bytes == 0 {
            return bad("index_interval_bytes must be positive".into());
        }
        if self.flush_messages <= 0 || self.flush_ms < 0 {
            return bad("flush_messages must be positive and flush_ms non-negative".into());
        }
        if self.max_message_bytes < 61 {
            return bad(format!(
                "max_message_bytes {} below one batch header",
                self.max_message_bytes
            ));
        }
        Ok(())
    }

    /// Whether the log may be compacted (so batches may have offset gaps).
    pub fn compacts(&self) -> bool {
        matches!(
            self.cleanup_policy,
            CleanupPolicy::Compact | CleanupPolicy::CompactDelete
        )
    }

    /// Whether time/size retention deletes segments (false for pure compaction).
    pub fn deletes(&self) -> bool {
        matches!(
            self.cleanup_policy,
            CleanupPolicy::Delete | CleanupPolicy::CompactDelete
        )
    }
}
