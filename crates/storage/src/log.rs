//! [`PartitionLog`]: one partition's segmented log in one directory.

mod compact;

pub use compact::CompactionStats;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sluice_protocol::records::{
    BatchHeader, RecordBatch, TimestampType, batches, set_base_offset, set_partition_leader_epoch, update_crc,
};

use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::segment::Segment;
use crate::sync::SyncHandle;

/// Name of the file holding the recovery point (decimal offset).
pub const RECOVERY_POINT_FILE: &str = "recovery-point";
/// Name of the file holding the log start offset (decimal offset).
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";
/// Written by [`PartitionLog::close`] after sealing everything: `<log end
/// offset> <active segment base> <active .log size>`. If it is present and
/// still matches the active segment on open, recovery is skipped. Open
/// removes it, so a crash after open always recovers.
pub const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";

/// Byte positions in the v2 batch header that a LogAppendTime append
/// rewrites (both are inside the CRC, so the CRC is recomputed).
const ATTRIBUTES_AT: usize = 21;
const MAX_TIMESTAMP_AT: usize = 35;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
/// Cap on decompressing one batch to find a record by timestamp.
const DECODE_CAP_BYTES: usize = 64 << 20;

/// How the broker wants one append done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendOptions {
    /// Leader epoch written into each batch's `partitionLeaderEpoch`, so
    /// followers and recovery can tell which leader wrote it.
    pub leader_epoch: i32,
    /// The broker's clock (ms since the epoch). Used as the append time for
    /// `LogAppendTime` topics, for `segment.ms` rolls and for `flush.ms`;
    /// passed in so tests and the broker control time.
    pub now_ms: i64,
}

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset of the last record; wait for `last_offset + 1` to be durable
    /// for acks=all.
    pub last_offset: i64,
    /// Largest batch `maxTimestamp` appended (the append time for
    /// `LogAppendTime`); Kafka returns it in the Produce response.
    pub max_timestamp_ms: i64,
    /// The append time for `LogAppendTime` topics, `-1` otherwise (Produce
    /// response field `log_append_time_ms`).
    pub log_append_time_ms: i64,
    /// Records appended (sum of `recordsCount`), for `flush.messages` and
    /// metrics.
    pub record_count: i64,
}

/// What a read returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches, byte for byte as stored, starting with the batch that
    /// contains the requested offset (which may start before it).
    pub records: Bytes,
    /// Offsets below this are readable by consumers (== log end offset on
    /// a single node).
    pub high_watermark: i64,
    /// First offset still in the log, for the Fetch response.
    pub log_start_offset: i64,
}

/// One partition's log: segments named by base offset in one directory.
///
/// `append`, `roll`, retention and `delete_records_before` take `&mut self`;
/// `read` and lookups take `&self`. Wrap it in a `RwLock`/`Mutex` and use
/// [`PartitionLog::sync_handle`] for acks=all outside the lock. All I/O is
/// blocking (pread/pwrite on the page cache); fsyncs happen only where the
/// durability rules in the crate docs say.
#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    sync: SyncHandle,
    unflushed_messages: i64,
    first_unflushed_ms: Option<i64>,
    failed: Option<String>,
    recovered_segments: usize,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}

/// Reads a checkpoint file (one decimal offset). `None` if absent.
fn read_checkpoint(path: &Path) -> Result<Option<i64>> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() <= 64 => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| StorageError::Corrupt {
                segment: path.to_path_buf(),
                position: 0,
                reason: "checkpoint is not a decimal offset".into(),
            }),
        Ok(_) => Err(StorageError::Corrupt {
            segment: path.to_path_buf(),
            position: 0,
            reason: "checkpoint file too large".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

/// Atomically replaces a checkpoint file: write a temp file, fsync, rename,
/// fsync the directory.
fn write_checkpoint(dir: &Path, name: &str, value: i64) -> Result<()> {
    write_file(dir, name, &format!("{value}\n"))
}

/// Reads and removes the clean-shutdown marker; returns the recorded log
/// end if the marker matches the active segment (same base, same size).
/// Anything unexpected just means "recover".
fn read_clean_marker(dir: &Path, active_base: Option<i64>) -> Option<i64> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    let mut parts = text.split_whitespace().map(str::parse::<i64>);
    let (Some(Ok(end)), Some(Ok(base)), Some(Ok(size))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let log = std::fs::metadata(crate::segment::segment_path(dir, base, "log")).ok()?;
    (Some(base) == active_base && i64::try_from(log.len()).ok() == Some(size)).then_some(end)
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| StorageError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e))?;
    fsync_dir(dir)
}

/// Lists segment base offsets from `*.log` names and removes leftovers:
/// index files without a `.log` (a deletion interrupted half way) and
/// checkpoint temp files.
fn scan_dir(dir: &Path) -> Result<Vec<i64>> {
    let mut logs = Vec::new();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let base = (stem.len() == 20).then(|| stem.parse::<i64>().ok()).flatten();
        match (base, ext) {
            (Some(base), "log") => logs.push(base),
            (Some(base), "index" | "timeindex") => others.push((base, entry.path())),
            // A compaction that did not reach its rename.
            (Some(_), "log.cleaned") => {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            }
            (None, "tmp") => {
                let _ = std::fs::remove_file(entry.path());
            }
            _ => {}
        }
    }
    logs.sort_unstable();
    for (base, path) in others {
        if logs.binary_search(&base).is_err() {
            std::fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
        }
    }
    Ok(logs)
}

impl PartitionLog {
    /// Opens the log in `dir`, creating the directory and an empty first
    /// segment if needed, and runs recovery (see the crate docs). Ends with
    /// one fsync of the active segment, so on return everything in the log
    /// is durable and the recovery point is the log end.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<PartitionLog> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let now = now_ms();
        let bases = scan_dir(&dir)?;
        // A damaged recovery point only costs a full scan, so it is not an
        // error (a damaged log-start-offset would resurrect deleted records,
        // so that one is).
        let recovery_point = read_checkpoint(&dir.join(RECOVERY_POINT_FILE)).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring unreadable recovery point; scanning every segment");
            None
        });
        let saved_start = read_checkpoint(&dir.join(LOG_START_OFFSET_FILE))?;
        let clean = read_clean_marker(&dir, bases.last().copied());
        let mut segments = BTreeMap::new();
        let mut recovered_segments = 0;
        if bases.is_empty() {
            let base = saved_start.unwrap_or(0).max(0);
            segments.insert(base, Segment::create(&dir, base, now)?);
            fsync_dir(&dir)?;
        } else {
            // Scan from the segment holding the recovery point (all of them
            // without one); trust sealed segments below it.
            let rp = recovery_point.unwrap_or(i64::MIN);
            let first_scanned = bases.iter().rposition(|&b| b <= rp).unwrap_or(0);
            let last = bases.len() - 1;
            let mut prev_end = i64::MIN;
            for (i, &base) in bases.iter().enumerate() {
                let seg = if i < first_scanned || clean.is_some() {
                    Segment::open_trusted(&dir, base, now, config.index_interval_bytes, config.compacts())?
                } else {
                    let mut seg = Segment::open_existing(&dir, base, now)?;
                    seg.allow_gaps = config.compacts();
                    seg.recover(config.index_interval_bytes, i == last, rp, prev_end)?;
                    recovered_segments += 1;
                    seg
                };
                if seg.base_offset < prev_end {
                    return Err(StorageError::Corrupt {
                        segment: seg.log_path.clone(),
                        position: 0,
                        reason: format!("segment base {base} overlaps the previous segment, which ends at {prev_end}"),
                    });
                }
                prev_end = seg.next_offset;
                segments.insert(base, seg);
            }
        }
        let (first_base, active) = match (segments.first_key_value(), segments.last_key_value()) {
            (Some((&b, _)), Some((_, a))) => (b, a),
            _ => return Err(StorageError::InvalidConfig("no segments".into())),
        };
        let log_end = active.next_offset;
        if let Some(clean_end) = clean {
            if clean_end != log_end {
                return Err(StorageError::Corrupt {
                    segment: active.log_path.clone(),
                    position: active.size_bytes,
                    reason: format!("clean shutdown recorded log end {clean_end}, the log ends at {log_end}"),
                });
            }
        }
        let log_start_offset = saved_start.unwrap_or(first_base).max(first_base).min(log_end);
        // Finish a DeleteRecords interrupted after its checkpoint was written.
        // A segment is wholly below an offset when the next one starts at or
        // before it (its own next_offset can be lower after compaction).
        while segments
            .keys()
            .nth(1)
            .is_some_and(|&next_base| next_base <= log_start_offset)
        {
            if let Some((_, seg)) = segments.pop_first() {
                seg.delete()?;
            }
        }
        let Some(active) = segments.values().next_back() else {
            return Err(StorageError::InvalidConfig("no segments".into()));
        };
        active
            .log
            .sync_data()
            .map_err(|e| StorageError::io(&active.log_path, e))?;
        let sync = SyncHandle::new(active.log.clone(), active.log_path.clone(), log_end);
        write_checkpoint(&dir, RECOVERY_POINT_FILE, log_end)?;
        Ok(PartitionLog {
            dir,
            config,
            segments,
            log_start_offset,
            sync,
            unflushed_messages: 0,
            first_unflushed_ms: None,
            failed: None,
            recovered_segments,
        })
    }

    /// Segments whose batches were all checked by recovery when the log was
    /// opened (0 after a clean shutdown); for startup logging and tests.
    pub fn recovered_segments(&self) -> usize {
        self.recovered_segments
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings the log runs with.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the settings (dynamic topic config). Takes effect on the
    /// next append / retention run; existing segments are not rewritten.
    pub fn set_config(&mut self, config: LogConfig) -> Result<()> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    fn active(&self) -> &Segment {
        // open() always leaves at least one segment and nothing removes the last.
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    /// First offset still in the log (moved by retention and DeleteRecords).
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// Offsets below this are visible to consumers. On a single node every
    /// appended record is "replicated", so this is the log end offset.
    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset()
    }

    /// Number of segments (for tests and metrics).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    /// Kafka's ListOffsets v0 answer (`legacyFetchOffsetsBefore`): up to `offsets_max` offsets,
    /// largest first, from the points where segments start (each dated by its `.log` file's
    /// last modification) and, if the last segment holds data, the log end dated `now_ms`.
    /// Latest (-1) starts at the last point, earliest (-2) at the first, any other time at the
    /// last point dated at or before it. Offsets above the high watermark are replaced by it (in
    /// front), as Kafka answers consumers.
    pub fn legacy_offsets_before(&self, timestamp_ms: i64, offsets_max: usize, now_ms: i64) -> Result<Vec<i64>> {
        let mut points: Vec<(i64, i64)> = Vec::with_capacity(self.segments.len() + 1);
        for (&base, segment) in &self.segments {
            points.push((base.max(self.log_start_offset), segment.modified_ms()?));
        }
        if self.segments.values().next_back().is_some_and(|s| !s.is_empty()) {
            points.push((self.log_end_offset(), now_ms));
        }
        let start = match timestamp_ms {
            -1 => points.len().checked_sub(1),
            -2 => (!points.is_empty()).then_some(0),
            ts => points.iter().rposition(|&(_, modified_ms)| modified_ms <= ts),
        };
        let Some(start) = start else { return Ok(Vec::new()) };
        let mut offsets: Vec<i64> = points[..=start].iter().rev().take(offsets_max).map(|p| p.0).collect();
        let hw = self.high_watermark();
        if offsets.iter().any(|&o| o > hw) {
            offsets.retain(|&o| o <= hw);
            offsets.insert(0, hw);
        }
        Ok(offsets)
    }

    /// Total bytes of all `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size_bytes).sum()
    }

    /// The group-commit handle for acks=all (see [`SyncHandle`]).
    pub fn sync_handle(&self) -> SyncHandle {
        self.sync.clone()
    }

    fn check_failed(&self) -> Result<()> {
        if let Some(reason) = self.failed.clone().or_else(|| self.sync.failure()) {
            return Err(StorageError::Failed(reason));
        }
        Ok(())
    }

    fn fail(&mut self, err: StorageError) -> StorageError {
        let reason = err.to_string();
        self.failed.get_or_insert(reason.clone());
        self.sync.fail(reason);
        err
    }

    /// Validates, assigns offsets to and appends the batches in `records`
    /// (a Produce request's records field).
    ///
    /// Every batch must be magic v2 with a good CRC, at most
    /// `max_message_bytes`, and `lastOffsetDelta == recordsCount - 1 >= 0`;
    /// any failure rejects the whole append and writes nothing. The batches
    /// are copied once into an owned buffer, `baseOffset` and
    /// `partitionLeaderEpoch` are patched in place (outside the CRC; for
    /// `LogAppendTime` topics `maxTimestamp` and the timestamp-type bit too,
    /// and only then is the CRC recomputed), and the buffer is written with
    /// one pwrite. Rolls first if the append would overflow the active
    /// segment or `segment_ms` has passed. Not durable on return unless
    /// `flush_messages`/`flush_ms` triggered; use the [`SyncHandle`].
    ///
    /// An I/O error during the write fails the log (every later call
    /// returns [`StorageError::Failed`] until it is reopened).
    pub fn append(&mut self, records: Bytes, options: AppendOptions) -> Result<AppendInfo> {
        self.check_failed()?;
        if records.is_empty() {
            return Err(StorageError::EmptyAppend);
        }
        if records.len() as u64 > self.config.segment_bytes {
            return Err(StorageError::RecordSetTooLarge {
                size_bytes: records.len(),
                max_bytes: self.config.segment_bytes as usize,
            });
        }
        let mut metas: Vec<(BatchHeader, u64, u64)> = Vec::new();
        let mut pos = 0u64;
        for batch in batches(records.clone()) {
            let batch = batch?;
            if batch.size_bytes() > self.config.max_message_bytes {
                return Err(StorageError::RecordTooLarge {
                    size_bytes: batch.size_bytes(),
                    max_bytes: self.config.max_message_bytes,
                });
            }
            batch.verify_crc()?;
            let h = *batch.header();
            if h.records_count < 1 {
                return Err(StorageError::InvalidBatch("batch has no records"));
            }
            if i64::from(h.last_offset_delta) != i64::from(h.records_count) - 1 {
                return Err(StorageError::InvalidBatch(
                    "lastOffsetDelta does not match recordsCount",
                ));
            }
            metas.push((h, pos, batch.size_bytes() as u64));
            pos += batch.size_bytes() as u64;
        }

        // The one copy: network buffer -> owned buffer we can patch.
        let mut buf = records.to_vec();
        let append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let base_offset = self.log_end_offset();
        let mut next = base_offset;
        let mut max_timestamp_ms = -1i64;
        let mut record_count = 0i64;
        for (h, pos, size) in &mut metas {
            let at = *pos as usize;
            let slot = &mut buf[at..at + *size as usize];
            set_base_offset(slot, next)?;
            set_partition_leader_epoch(slot, options.leader_epoch)?;
            if append_time {
                let attributes =
                    i16::from_be_bytes([slot[ATTRIBUTES_AT], slot[ATTRIBUTES_AT + 1]]) | TIMESTAMP_TYPE_BIT;
                slot[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
                slot[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&options.now_ms.to_be_bytes());
                h.crc = update_crc(slot)?;
                h.max_timestamp_ms = options.now_ms;
            }
            h.base_offset = next;
            h.partition_leader_epoch = options.leader_epoch;
            max_timestamp_ms = max_timestamp_ms.max(h.max_timestamp_ms);
            record_count += i64::from(h.records_count);
            next = next
                .checked_add(i64::from(h.last_offset_delta) + 1)
                .ok_or(StorageError::InvalidBatch("offset overflow"))?;
        }
        let last_offset = next - 1;

        let needs_roll = {
            let active = self.active();
            // Kafka's rule: time since the segment's first batch timestamp,
            // measured by the incoming batches' timestamp, or wall-clock time
            // since creation if the segment has no batch timestamp.
            let roll_clock_ms = if active.rolling_base_is_batch_ts {
                max_timestamp_ms
            } else {
                options.now_ms
            };
            !active.is_empty()
                && (active.size_bytes + buf.len() as u64 > self.config.segment_bytes
                    || roll_clock_ms.saturating_sub(active.rolling_base_ms) > self.config.segment_ms
                    || last_offset - active.base_offset > i64::from(u32::MAX))
        };
        if needs_roll {
            self.roll(options.now_ms)?;
        }
        let interval = self.config.index_interval_bytes;
        if let Err(e) = self.active_mut().append(&buf, &metas, interval) {
            return Err(self.fail(e));
        }
        self.sync.set_written(next);

        self.unflushed_messages = self.unflushed_messages.saturating_add(record_count);
        let first = *self.first_unflushed_ms.get_or_insert(options.now_ms);
        if self.unflushed_messages >= self.config.flush_messages
            || options.now_ms.saturating_sub(first) >= self.config.flush_ms
        {
            self.flush_data()?;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset,
            max_timestamp_ms,
            log_append_time_ms: if append_time { options.now_ms } else { -1 },
            record_count,
        })
    }

    /// Seals the active segment (final time index entry, fsync of `.log`
    /// and indexes) and starts a new one at the log end. Does nothing if the
    /// active segment is empty. Costs one fsync per roll, on the appending
    /// thread; this is what makes "bad bytes in a sealed segment" mean
    /// corruption, never a torn write.
    pub fn roll(&mut self, now_ms: i64) -> Result<()> {
        self.check_failed()?;
        if self.active().is_empty() {
            return Ok(());
        }
        let end = self.log_end_offset();
        if let Err(e) = self.active_mut().seal() {
            return Err(self.fail(e));
        }
        let seg = Segment::create(&self.dir, end, now_ms)?;
        fsync_dir(&self.dir)?;
        self.sync.set_active(seg.log.clone(), seg.log_path.clone(), end);
        self.segments.insert(end, seg);
        Ok(())
    }

    fn flush_data(&mut self) -> Result<i64> {
        let durable = self.sync.sync_blocking()?;
        self.unflushed_messages = 0;
        self.first_unflushed_ms = None;
        Ok(durable)
    }

    /// For `flush_ms`: call periodically (Kafka's
    /// `log.flush.scheduler.interval.ms`); fsyncs if unflushed data is
    /// older than `flush_ms`.
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<()> {
        match self.first_unflushed_ms {
            Some(first) if now_ms.saturating_sub(first) >= self.config.flush_ms => self.flush_data().map(|_| ()),
            _ => Ok(()),
        }
    }

    /// fdatasyncs the active segment and records the recovery point (the
    /// durable offset) in the `recovery-point` file, so the next open scans
    /// only from that segment on.
    pub fn flush(&mut self) -> Result<()> {
        self.check_failed()?;
        self.flush_data()?;
        self.checkpoint_recovery_point()
    }

    /// Writes the current durable offset to the `recovery-point` file
    /// without fsyncing data (cheap; call periodically, as Kafka's
    /// `log.flush.offset.checkpoint.interval.ms` does).
    pub fn checkpoint_recovery_point(&self) -> Result<()> {
        write_checkpoint(&self.dir, RECOVERY_POINT_FILE, self.sync.durable_offset())
    }

    /// Closes the log cleanly: seals the active segment (final time index
    /// entry, fsync of `.log` and indexes), writes the recovery point and
    /// then the `clean-shutdown` marker, so the next open can skip
    /// recovery. The active segment stays active.
    pub fn close(mut self) -> Result<()> {
        self.check_failed()?;
        let end = self.log_end_offset();
        let active = self.active_mut();
        active.seal()?;
        let marker = format!("{end} {} {}\n", active.base_offset, active.size_bytes);
        self.sync.mark_durable(end);
        self.checkpoint_recovery_point()?;
        write_file(&self.dir, CLEAN_SHUTDOWN_FILE, &marker)
    }

    /// Reads whole batches starting with the one that contains
    /// `start_offset`, up to `max_bytes`, but always at least one whole
    /// batch if there is one (KIP-74), from a single segment. Uses the
    /// sparse index, a short header scan and one or two preads.
    ///
    /// The read buffer is `max(max_bytes, first batch)` bytes, so the
    /// caller bounds memory with `max_bytes` (Kafka's per-partition
    /// `max_bytes` / `fetch.max.bytes`).
    ///
    /// `start_offset == log_end_offset` returns no records;
    /// `start_offset` outside `[log_start_offset, log_end_offset]` is
    /// [`StorageError::OffsetOutOfRange`].
    pub fn read(&self, start_offset: i64, max_bytes: usize) -> Result<ReadResult> {
        let end = self.log_end_offset();
        if start_offset < self.log_start_offset || start_offset > end {
            return Err(StorageError::OffsetOutOfRange {
                offset: start_offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        let mut records = Bytes::new();
        if let Some((seg, pos)) = self.locate(start_offset)? {
            records = seg.read_batches(pos, max_bytes)?;
        }
        Ok(ReadResult {
            records,
            high_watermark: end,
            log_start_offset: self.log_start_offset,
        })
    }

    /// The segment and position of the first batch whose last offset is at
    /// least `offset` (skipping gaps into later segments).
    fn locate(&self, offset: i64) -> Result<Option<(&Segment, u64)>> {
        let first = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(&base, _)| base);
        for seg in self.segments.range(first..).map(|(_, s)| s) {
            if let Some(pos) = seg.find_position(offset)? {
                return Ok(Some((seg, pos)));
            }
        }
        Ok(None)
    }

    /// ListOffsets by timestamp: the first record at or after the log start
    /// offset whose timestamp is at least `timestamp_ms`, as `(offset,
    /// timestamp_ms)`. Finds the first batch with `maxTimestamp >=
    /// timestamp_ms` (time index, offset index, short scan), then its
    /// records. `None` if no record is that new. For `LogAppendTime`
    /// batches (or ones that fail to decode) the batch's first offset and
    /// `maxTimestamp` are returned, as Kafka does for the former.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>> {
        let min_offset = self.log_start_offset;
        for seg in self.segments.values() {
            if seg.next_offset <= min_offset {
                continue;
            }
            let Some(mut pos) = seg.timestamp_scan_start(timestamp_ms, min_offset)? else {
                continue;
            };
            while pos < seg.size_bytes {
                let (h, size) = seg.header_at(pos)?;
                if h.max_timestamp_ms >= timestamp_ms && h.last_offset().unwrap_or(i64::MAX) >= min_offset {
                    if let Some(found) = self.record_at_or_after(seg, &h, pos, timestamp_ms, min_offset)? {
                        return Ok(Some(found));
                    }
                }
                pos += size;
            }
        }
        Ok(None)
    }

    fn record_at_or_after(
        &self,
        seg: &Segment,
        h: &BatchHeader,
        pos: u64,
        timestamp_ms: i64,
        min_offset: i64,
    ) -> Result<Option<(i64, i64)>> {
        let fallback = Some((h.base_offset.max(min_offset), h.max_timestamp_ms));
        if h.attributes.timestamp_type() == TimestampType::LogAppendTime {
            return Ok(fallback);
        }
        let bytes = seg.read_batches(pos, 0)?;
        let Ok(batch) = RecordBatch::parse(bytes) else {
            return Ok(fallback);
        };
        let Ok(records) = batch.records(DECODE_CAP_BYTES) else {
            return Ok(fallback);
        };
        for record in records {
            match record {
                Ok(r) if r.timestamp_ms >= timestamp_ms && r.offset >= min_offset => {
                    return Ok(Some((r.offset, r.timestamp_ms)));
                }
                Ok(_) => {}
                Err(_) => return Ok(fallback),
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP (KIP-734): the first record with the
    /// largest timestamp, as `(offset, timestamp_ms)`; `None` if the log
    /// has no timestamped records.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        let max = self
            .segments
            .values()
            .filter(|s| s.next_offset > self.log_start_offset)
            .map(|s| s.max_timestamp_ms)
            .max()
            .unwrap_or(-1);
        if max < 0 {
            return Ok(None);
        }
        self.offset_for_timestamp(max)
    }

    /// Headers of the batches from the one containing `offset` to the end
    /// of the log, read lazily (one pread per batch), for rebuilding
    /// producer state (producer id, epoch, sequences, transactional and
    /// control flags).
    pub fn batch_headers_from(&self, offset: i64) -> Result<BatchHeaders<'_>> {
        let next = self.locate(offset)?.map(|(seg, pos)| (seg.base_offset, pos));
        Ok(BatchHeaders { log: self, next })
    }

    /// Deletes whole segments, oldest first, by `retention_ms` (the
    /// segment's largest timestamp, or its file mtime if it has none, is
    /// older than `now_ms - retention_ms`) and then by `retention_bytes`
    /// (while the log stays at or above the limit without it). Stops at the
    /// first segment that is kept, as Kafka does. As in Kafka, a non-empty
    /// active segment that qualifies is rolled first (so an idle partition's
    /// data still expires), leaving an empty active segment at the log end.
    /// Nothing happens under `cleanup.policy=compact`. Returns the number
    /// of segments deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize> {
        self.check_failed()?;
        if !self.config.deletes() {
            return Ok(0);
        }
        let mut deleted = 0;
        if self.config.retention_ms >= 0 {
            while let Some(seg) = self.oldest_deletable() {
                let ts = if seg.max_timestamp_ms >= 0 {
                    seg.max_timestamp_ms
                } else {
                    seg.modified_ms()?
                };
                if now_ms.saturating_sub(ts) <= self.config.retention_ms {
                    break;
                }
                self.delete_oldest_rolling(now_ms)?;
                deleted += 1;
            }
        }
        if self.config.retention_bytes >= 0 {
            let mut excess = self.size_bytes() as i64 - self.config.retention_bytes;
            while let Some(seg) = self.oldest_deletable() {
                if excess - (seg.size_bytes as i64) < 0 {
                    break;
                }
                excess -= seg.size_bytes as i64;
                self.delete_oldest_rolling(now_ms)?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// The oldest segment retention may delete: any but the active one,
    /// or the active one if it holds data (it is rolled first).
    fn oldest_deletable(&self) -> Option<&Segment> {
        let first = self.segments.values().next()?;
        (self.segments.len() > 1 || !first.is_empty()).then_some(first)
    }

    fn delete_oldest_rolling(&mut self, now_ms: i64) -> Result<()> {
        if self.segments.len() == 1 {
            self.roll(now_ms)?;
        }
        self.delete_oldest()
    }

    fn delete_oldest(&mut self) -> Result<()> {
        if let Some((_, seg)) = self.segments.pop_first() {
            tracing::info!(segment = %seg.log_path.display(), "deleting segment");
            seg.delete()?;
        }
        if let Some((&base, _)) = self.segments.first_key_value() {
            self.log_start_offset = self.log_start_offset.max(base);
        }
        Ok(())
    }

    /// DeleteRecords: moves the log start offset to `offset` (persisted in
    /// the `log-start-offset` file before anything is deleted) and deletes
    /// the non-active segments that lie wholly below it. Offsets below the
    /// new start are no longer readable, even if their segment remains.
    /// `offset` above the log end is [`StorageError::OffsetOutOfRange`];
    /// below the current start it is a no-op. Returns the log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        self.check_failed()?;
        let end = self.log_end_offset();
        if offset > end || offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        write_checkpoint(&self.dir, LOG_START_OFFSET_FILE, offset)?;
        self.log_start_offset = offset;
        while self
            .segments
            .keys()
            .nth(1)
            .is_some_and(|&next_base| next_base <= offset)
        {
            self.delete_oldest()?;
        }
        Ok(self.log_start_offset)
    }
}

/// Lazy iterator over batch headers, see [`PartitionLog::batch_headers_from`].
#[derive(Debug)]
pub struct BatchHeaders<'a> {
    log: &'a PartitionLog,
    /// Segment base offset and position of the next header.
    next: Option<(i64, u64)>,
}

impl Iterator for BatchHeaders<'_> {
    type Item = Result<BatchHeader>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (base, pos) = self.next?;
            let seg = self.log.segments.get(&base)?;
            if pos < seg.size_bytes {
                return Some(match seg.header_at(pos) {
                    Ok((h, size)) => {
                        self.next = Some((base, pos + size));
                        Ok(h)
                    }
                    Err(e) => {
                        self.next = None;
                        Err(e)
                    }
                });
            }
            self.next = self
                .log
                .segments
                .range((Bound::Excluded(base), Bound::Unbounded))
                .next()
                .map(|(&b, _)| (b, 0));
        }
    }
}
