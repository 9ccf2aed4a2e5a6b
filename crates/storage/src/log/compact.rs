//! Log compaction (`cleanup.policy=compact`): keep the latest record per key.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};

use bytes::Bytes;
use sluice_protocol::records::{BatchBuilder, BatchIter, NewRecord, RecordBatch, TimestampType, batches, update_crc};

use super::{DECODE_CAP_BYTES, PartitionLog, fsync_dir};
use crate::error::{Result, StorageError};
use crate::segment::{Segment, segment_path};

/// Bytes read from a segment at a time while compacting.
const READ_CHUNK_BYTES: usize = 1 << 20;
/// Position of `lastOffsetDelta` in the batch header.
const LAST_OFFSET_DELTA_AT: usize = 23;
/// Map memory charged per key on top of the key bytes (hash map slot, the
/// offset and the `Bytes` handle), for the `max_map_bytes` bound.
const MAP_ENTRY_OVERHEAD_BYTES: usize = 64;

/// What one [`PartitionLog::compact`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Segments rewritten (segments with nothing to remove are left alone).
    pub segments_rewritten: usize,
    /// Records dropped: superseded by a later record with the same key, or
    /// tombstones past `delete_retention_ms`.
    pub records_removed: u64,
    /// Bytes of the rewritten segments before and after, to report savings.
    pub bytes_before: u64,
    /// See `bytes_before`.
    pub bytes_after: u64,
    /// The key map hit `max_map_bytes`, so only keys seen before that point
    /// were deduplicated; run again to do more.
    pub map_full: bool,
}

/// Whole batches of one segment, read in bounded chunks.
struct SegmentBatches<'a> {
    seg: &'a Segment,
    pos: u64,
    pending: BatchIter,
}

impl<'a> SegmentBatches<'a> {
    fn new(seg: &'a Segment) -> SegmentBatches<'a> {
        SegmentBatches {
            seg,
            pos: 0,
            pending: batches(Bytes::new()),
        }
    }
}

impl Iterator for SegmentBatches<'_> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(batch) = self.pending.next() {
            let at = self.pos;
            return Some(batch.map_err(|e| StorageError::Corrupt {
                segment: self.seg.log_path.clone(),
                position: at,
                reason: e.to_string(),
            }));
        }
        if self.pos >= self.seg.size_bytes {
            return None;
        }
        match self.seg.read_batches(self.pos, READ_CHUNK_BYTES) {
            Ok(bytes) => {
                self.pos += bytes.len() as u64;
                self.pending = batches(bytes);
                self.next()
            }
            Err(e) => {
                self.pos = self.seg.size_bytes;
                Some(Err(e))
            }
        }
    }
}

fn records_error(seg: &Segment, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        segment: seg.log_path.clone(),
        position: 0,
        reason: format!("undecodable records while compacting: {e}"),
    }
}

impl PartitionLog {
    /// One compaction pass over the non-active segments (the active one is
    /// never touched), for `cleanup.policy=compact` / `compact,delete`.
    ///
    /// 1. Builds a map from key to its latest offset over the non-active
    ///    segments, oldest first, bounded by `max_map_bytes` (Kafka's
    ///    `log.cleaner.dedupe.buffer.size`); keys are copied, so memory is
    ///    the map plus one 1 MiB read buffer.
    /// 2. Rewrites each segment that has something to drop, keeping a record
    ///    unless a later record with the same key is in the map, or it is a
    ///    tombstone (null value) in a segment whose max timestamp is older
    ///    than `now_ms - delete_retention_ms`. Offsets are preserved (batches
    ///    keep their base offset and `lastOffsetDelta`, so producer
    ///    sequences survive); records without a key are kept.
    ///
    /// Conservative on purpose: transactional and control batches are kept
    /// whole and never supersede anything (an aborted write must not hide a
    /// committed one); a batch whose records all go is dropped, except the
    /// last batch of each producer id, kept whole so idempotent producer
    /// state can be rebuilt.
    ///
    /// A segment is swapped by writing `<base>.log.cleaned`, fsyncing it,
    /// deleting the segment's indexes, then renaming over the `.log`
    /// (atomic); open deletes leftover `.cleaned` files and rebuilds missing
    /// indexes, so a crash at any point leaves either segment intact.
    pub fn compact(&mut self, now_ms: i64, max_map_bytes: usize) -> Result<CompactionStats> {
        self.check_failed()?;
        let mut stats = CompactionStats::default();
        if !self.config.compacts() || self.segments.len() < 2 {
            return Ok(stats);
        }
        let cleanable: Vec<i64> = self.segments.keys().copied().take(self.segments.len() - 1).collect();

        // Last batch of every producer anywhere in the log (headers only).
        let mut last_batch_of_producer: HashMap<i64, i64> = HashMap::new();
        for h in self.batch_headers_from(self.log_start_offset)? {
            let h = h?;
            if h.producer_id >= 0 {
                last_batch_of_producer.insert(h.producer_id, h.base_offset);
            }
        }

        let mut map: HashMap<Bytes, i64> = HashMap::new();
        let mut map_bytes = 0usize;
        'build: for base in &cleanable {
            let seg = &self.segments[base];
            for batch in SegmentBatches::new(seg) {
                let batch = batch?;
                let a = batch.header().attributes;
                if a.is_control() || a.is_transactional() {
                    continue;
                }
                for record in batch.records(DECODE_CAP_BYTES).map_err(|e| records_error(seg, e))? {
                    let record = record.map_err(|e| records_error(seg, e))?;
                    let Some(key) = record.key else { continue };
                    if let Some(offset) = map.get_mut(&key) {
                        *offset = record.offset;
                        continue;
                    }
                    let cost = key.len() + MAP_ENTRY_OVERHEAD_BYTES;
                    if map_bytes + cost > max_map_bytes {
                        stats.map_full = true;
                        break 'build;
                    }
                    map_bytes += cost;
                    map.insert(Bytes::copy_from_slice(&key), record.offset);
                }
            }
        }

        let mut prev_end = i64::MIN;
        for base in cleanable {
            let seg = &self.segments[&base];
            let tombstones_expire = seg.max_timestamp_ms >= 0
                && now_ms.saturating_sub(seg.max_timestamp_ms) > self.config.delete_retention_ms;
            let cleaned_path = segment_path(&self.dir, base, "log.cleaned");
            let file = File::create(&cleaned_path).map_err(|e| StorageError::io(&cleaned_path, e))?;
            let mut out = BufWriter::with_capacity(READ_CHUNK_BYTES, file);
            let write_err = |e| StorageError::io(&cleaned_path, e);
            let mut removed = 0u64;
            let mut written = 0u64;
            for batch in SegmentBatches::new(seg) {
                let batch = batch?;
                let h = *batch.header();
                let a = h.attributes;
                if a.is_control() || a.is_transactional() {
                    out.write_all(batch.as_bytes()).map_err(write_err)?;
                    written += batch.size_bytes() as u64;
                    continue;
                }
                let mut kept = Vec::new();
                let mut total = 0u64;
                for record in batch.records(DECODE_CAP_BYTES).map_err(|e| records_error(seg, e))? {
                    let record = record.map_err(|e| records_error(seg, e))?;
                    total += 1;
                    let keep = match &record.key {
                        None => true,
                        Some(key) => {
                            let superseded = map.get(key).is_some_and(|&latest| latest > record.offset);
                            let expired_tombstone = record.value.is_none() && tombstones_expire;
                            !(superseded || expired_tombstone)
                        }
                    };
                    if keep {
                        kept.push(record);
                    }
                }
                let keep_whole = kept.len() as u64 == total
                    || (kept.is_empty() && last_batch_of_producer.get(&h.producer_id) == Some(&h.base_offset));
                if keep_whole {
                    out.write_all(batch.as_bytes()).map_err(write_err)?;
                    written += batch.size_bytes() as u64;
                    continue;
                }
                removed += total - kept.len() as u64;
                if kept.is_empty() {
                    continue;
                }
                let mut builder = BatchBuilder::new(h.base_offset)
                    .partition_leader_epoch(h.partition_leader_epoch)
                    .compression(batch.compression()?)
                    .producer(h.producer_id, h.producer_epoch, h.base_sequence);
                if a.timestamp_type() == TimestampType::LogAppendTime {
                    builder = builder.log_append_time(h.max_timestamp_ms);
                }
                for r in kept {
                    let record = NewRecord {
                        timestamp_ms: r.timestamp_ms,
                        key: r.key,
                        value: r.value,
                        headers: r.headers,
                    };
                    builder.append_with_offset(r.offset, &record)?;
                }
                let mut bytes = builder.build()?.into_bytes().to_vec();
                // Keep the original last offset so producer sequences and the
                // segment's offset range survive.
                bytes[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
                    .copy_from_slice(&h.last_offset_delta.to_be_bytes());
                update_crc(&mut bytes)?;
                out.write_all(&bytes).map_err(write_err)?;
                written += bytes.len() as u64;
            }
            let file = out
                .into_inner()
                .map_err(|e| StorageError::io(&cleaned_path, e.into_error()))?;
            if removed == 0 {
                drop(file);
                std::fs::remove_file(&cleaned_path).map_err(|e| StorageError::io(&cleaned_path, e))?;
                prev_end = seg.next_offset;
                continue;
            }
            file.sync_all().map_err(|e| StorageError::io(&cleaned_path, e))?;
            drop(file);
            stats.bytes_before += seg.size_bytes;
            stats.bytes_after += written;
            stats.records_removed += removed;
            stats.segments_rewritten += 1;

            // Swap: stale indexes go first, so a crash after the rename
            // finds none and rebuilds them from the new `.log`.
            for ext in ["index", "timeindex"] {
                let path = segment_path(&self.dir, base, ext);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StorageError::io(path, e)),
                }
            }
            fsync_dir(&self.dir)?;
            let log_path = segment_path(&self.dir, base, "log");
            std::fs::rename(&cleaned_path, &log_path).map_err(|e| StorageError::io(&log_path, e))?;
            fsync_dir(&self.dir)?;
            let mut fresh = Segment::open_existing(&self.dir, base, now_ms)?;
            fresh.allow_gaps = true;
            fresh.recover(self.config.index_interval_bytes, false, i64::MIN, prev_end)?;
            fresh.seal()?;
            prev_end = fresh.next_offset;
            self.segments.insert(base, fresh);
        }
        Ok(stats)
    }
}
