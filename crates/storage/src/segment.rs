//! One segment: a `.log` file of record batches plus its two indexes.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use sluice_protocol::records::{BATCH_HEADER_BYTES, BatchHeader, LOG_OVERHEAD_BYTES, MIN_BATCH_LENGTH, NO_TIMESTAMP};

use crate::error::{Result, StorageError};
use crate::index::{OffsetIndex, TimeIndex};
use crate::read_buffer;

/// Where the CRC-covered part of a batch starts (the `attributes` field).
const CRC_FROM: usize = 21;
/// Chunk size for streaming CRC checks during recovery: recovery memory is
/// this, independent of batch and segment sizes.
const SCAN_CHUNK_BYTES: usize = 64 * 1024;

/// File name of a segment file: base offset, 20 digits, zero padded.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// Outcome of checking the batch at one position of a `.log` file.
pub(crate) enum Checked {
    /// Framing and CRC are fine.
    Valid(BatchHeader, u64),
    /// Not a valid batch.
    Invalid { reason: String },
}

/// Reads the 61-byte header at `pos` and checks the framing, then streams
/// the batch through CRC-32C in bounded chunks.
pub(crate) fn check_batch(file: &File, path: &Path, pos: u64, file_len: u64, scratch: &mut Vec<u8>) -> Result<Checked> {
    let invalid = |reason: String| Ok(Checked::Invalid { reason });
    if file_len.saturating_sub(pos) < BATCH_HEADER_BYTES as u64 {
        return invalid(format!("{} trailing bytes, less than a batch header", file_len - pos));
    }
    let mut head = [0u8; BATCH_HEADER_BYTES];
    file.read_exact_at(&mut head, pos)
        .map_err(|e| StorageError::io(path, e))?;
    let header = match BatchHeader::decode(&head) {
        Ok(h) => h,
        Err(e) => return invalid(e.to_string()),
    };
    if header.batch_length_bytes < MIN_BATCH_LENGTH {
        return invalid(format!("batch length {}", header.batch_length_bytes));
    }
    let size = header.batch_length_bytes as u64 + LOG_OVERHEAD_BYTES as u64;
    if pos + size > file_len {
        return invalid(format!(
            "batch of {size} bytes runs past the end of the file ({file_len})"
        ));
    }
    let mut crc = crc32c::crc32c(&head[CRC_FROM..]);
    let mut at = pos + BATCH_HEADER_BYTES as u64;
    scratch.resize(SCAN_CHUNK_BYTES, 0);
    while at < pos + size {
        let n = ((pos + size - at) as usize).min(SCAN_CHUNK_BYTES);
        let chunk = &mut scratch[..n];
        file.read_exact_at(chunk, at).map_err(|e| StorageError::io(path, e))?;
        crc = crc32c::crc32c_append(crc, chunk);
        at += n as u64;
    }
    if crc != header.crc {
        return invalid(format!(
            "CRC mismatch: stored {:#010x}, computed {crc:#010x}",
            header.crc
        ));
    }
    if header.last_offset_delta < 0 || header.records_count < 0 {
        return invalid("negative lastOffsetDelta or recordsCount".into());
    }
    Ok(Checked::Valid(header, size))
}

/// One segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    /// First offset this segment may hold; its file name.
    pub(crate) base_offset: i64,
    pub(crate) log_path: PathBuf,
    /// Shared with the [`SyncHandle`](crate::SyncHandle) so fsync runs
    /// without the log's lock.
    pub(crate) log: Arc<File>,
    /// Bytes of valid batches in the `.log` file.
    pub(crate) size_bytes: u64,
    pub(crate) index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    /// One past the last offset stored (`base_offset` while empty).
    pub(crate) next_offset: i64,
    /// Largest batch `maxTimestamp`, or `NO_TIMESTAMP` if none.
    pub(crate) max_timestamp_ms: i64,
    /// Timestamp of the last time index entry (entries must increase).
    time_index_last_ms: i64,
    /// Log bytes appended since the last offset index entry.
    bytes_since_index: u64,
    /// What `segment_ms` is measured from: the first batch's max timestamp,
    /// or the time the segment was created/loaded if that is unknown.
    pub(crate) rolling_base_ms: i64,
    /// `rolling_base_ms` is a batch timestamp (compared with incoming batch
    /// timestamps, as Kafka does, so replaying old data does not roll on
    /// every append), not the wall clock.
    pub(crate) rolling_base_is_batch_ts: bool,
    /// Compacted logs have gaps between batches; others must be contiguous
    /// (see `sane`).
    pub(crate) allow_gaps: bool,
    /// Whether any batch has been tracked (for `rolling_base_ms`).
    has_batches: bool,
    /// Offset of the last batch relative to `base_offset`, for the final
    /// time index entry written when the segment is sealed.
    last_batch_rel: u32,
}

impl Segment {
    fn open_files(dir: &Path, base_offset: i64, truncate: bool, now_ms: i64) -> Result<(Segment, bool)> {
        let log_path = segment_path(dir, base_offset, "log");
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(&log_path)
            .map_err(|e| StorageError::io(&log_path, e))?;
        let size_bytes = log.metadata().map_err(|e| StorageError::io(&log_path, e))?.len();
        let (index, ok1) = OffsetIndex::open(&segment_path(dir, base_offset, "index"), truncate)?;
        let (time_index, ok2) = TimeIndex::open(&segment_path(dir, base_offset, "timeindex"), truncate)?;
        let segment = Segment {
            base_offset,
            log_path,
            log: Arc::new(log),
            size_bytes,
            index,
            time_index,
            next_offset: base_offset,
            max_timestamp_ms: NO_TIMESTAMP,
            time_index_last_ms: NO_TIMESTAMP,
            bytes_since_index: 0,
            rolling_base_ms: now_ms,
            rolling_base_is_batch_ts: false,
            allow_gaps: false,
            has_batches: false,
            last_batch_rel: 0,
        };
        Ok((segment, ok1 && ok2))
    }

    /// Creates a new, empty segment (truncating leftovers with its name).
    pub(crate) fn create(dir: &Path, base_offset: i64, now_ms: i64) -> Result<Segment> {
        Ok(Self::open_files(dir, base_offset, true, now_ms)?.0)
    }

    fn corrupt(&self, position: u64, reason: impl Into<String>) -> StorageError {
        StorageError::Corrupt {
            segment: self.log_path.clone(),
            position,
            reason: reason.into(),
        }
    }

    /// Opens an existing segment for [`Segment::recover`], which rebuilds
    /// its indexes.
    pub(crate) fn open_existing(dir: &Path, base_offset: i64, now_ms: i64) -> Result<Segment> {
        Ok(Self::open_files(dir, base_offset, false, now_ms)?.0)
    }

    /// Opens a segment below the recovery point: it was fsynced (with its
    /// indexes) when it was rolled, so its indexes are trusted if they are
    /// whole and consistent with the `.log`; otherwise it is scanned.
    pub(crate) fn open_trusted(
        dir: &Path,
        base_offset: i64,
        now_ms: i64,
        interval: u64,
        allow_gaps: bool,
    ) -> Result<Segment> {
        let (mut seg, whole) = Self::open_files(dir, base_offset, false, now_ms)?;
        seg.allow_gaps = allow_gaps;
        let consistent = whole && seg.load_from_indexes()?;
        if !consistent {
            tracing::warn!(segment = %seg.log_path.display(), "index missing or inconsistent; rebuilding");
            seg.recover(interval, false, i64::MIN, base_offset)?;
        }
        Ok(seg)
    }

    /// Sets `next_offset` and `max_timestamp_ms` from the indexes plus a
    /// scan of the batches after the last offset index entry. False if the
    /// indexes do not fit the `.log`.
    fn load_from_indexes(&mut self) -> Result<bool> {
        if self.size_bytes == 0 {
            return Ok(self.index.0.len() == 0 && self.time_index.0.len() == 0);
        }
        let Some((ts, _)) = self.time_index.last()? else {
            return Ok(false);
        };
        let mut pos = 0u64;
        if self.index.0.len() > 0 {
            let (_, p) = self.index.entry(self.index.0.len() - 1)?;
            pos = u64::from(p);
        }
        let last_indexed = pos;
        while pos < self.size_bytes {
            let Ok((h, size)) = self.header_at(pos) else {
                return Ok(false);
            };
            self.next_offset = h.last_offset().unwrap_or(i64::MAX).saturating_add(1);
            self.last_batch_rel = u32::try_from(h.base_offset - self.base_offset).unwrap_or(u32::MAX);
            pos += size;
        }
        if pos != self.size_bytes {
            return Ok(false);
        }
        self.max_timestamp_ms = ts;
        self.time_index_last_ms = ts;
        self.has_batches = true;
        self.bytes_since_index = self.size_bytes - last_indexed;
        if let Ok((first, _)) = self.header_at(0) {
            if first.max_timestamp_ms >= 0 {
                self.rolling_base_ms = first.max_timestamp_ms;
                self.rolling_base_is_batch_ts = true;
            }
        }
        Ok(true)
    }

    /// Scans every batch (framing, CRC, offsets increasing), rebuilding
    /// both indexes. See the crate docs for the rule: an invalid batch is a
    /// torn tail (truncated) only in the last segment, at or above the
    /// recovery point, and when no valid batch follows it; otherwise it is
    /// [`StorageError::Corrupt`]. Returns the number of bytes truncated.
    pub(crate) fn recover(
        &mut self,
        interval: u64,
        is_last: bool,
        recovery_point: i64,
        min_offset: i64,
    ) -> Result<u64> {
        self.index.0.reset()?;
        self.time_index.0.reset()?;
        self.next_offset = self.base_offset;
        self.max_timestamp_ms = NO_TIMESTAMP;
        self.time_index_last_ms = NO_TIMESTAMP;
        self.bytes_since_index = 0;
        self.has_batches = false;
        let file_len = self.size_bytes;
        let mut expected = self.base_offset.max(min_offset);
        let mut scratch = Vec::new();
        let mut pos = 0u64;
        while pos < file_len {
            let checked = check_batch(&self.log, &self.log_path, pos, file_len, &mut scratch)?;
            let reason = match checked {
                Checked::Valid(h, size) => match self.sane(&h, expected) {
                    Ok(()) => {
                        self.track_batch(&h, pos, size, interval)?;
                        expected = self.next_offset;
                        pos += size;
                        continue;
                    }
                    Err(reason) => reason,
                },
                Checked::Invalid { reason } => reason,
            };
            if !is_last {
                return Err(self.corrupt(pos, format!("{reason} (in a sealed segment)")));
            }
            if expected < recovery_point {
                return Err(self.corrupt(pos, format!("{reason} (below the recovery point {recovery_point})")));
            }
            if let Some(found) = self.find_valid_batch_after(pos, expected, &mut scratch)? {
                return Err(self.corrupt(pos, format!("{reason} (a valid batch follows at byte {found})")));
            }
            tracing::warn!(segment = %self.log_path.display(), position = pos, %reason, "truncating torn log tail");
            self.log.set_len(pos).map_err(|e| StorageError::io(&self.log_path, e))?;
            self.log.sync_all().map_err(|e| StorageError::io(&self.log_path, e))?;
            self.size_bytes = pos;
            return Ok(file_len - pos);
        }
        Ok(0)
    }

    /// Looks for any valid batch starting after `pos`: a position where the
    /// magic is 2, the length fits, the base offset is plausible (at least
    /// `expected`, and at most one offset per byte skipped, which keeps
    /// batches embedded in record values from matching) and the CRC is
    /// good. Cheap per byte (a magic-byte filter over a 64 KiB window);
    /// only run on the tail after the first bad batch of the last segment.
    fn find_valid_batch_after(&self, pos: u64, expected: i64, scratch: &mut Vec<u8>) -> Result<Option<u64>> {
        const WINDOW: usize = 64 * 1024;
        let file_len = self.size_bytes;
        let mut window = vec![0u8; WINDOW];
        let mut start = pos + 1;
        while start + BATCH_HEADER_BYTES as u64 <= file_len {
            let n = ((file_len - start) as usize).min(WINDOW);
            let buf = &mut window[..n];
            self.log
                .read_exact_at(buf, start)
                .map_err(|e| StorageError::io(&self.log_path, e))?;
            let mut i = 0usize;
            while i + BATCH_HEADER_BYTES <= n {
                let candidate = start + i as u64;
                if buf[i + 16] == 2 {
                    let base = i64::from_be_bytes(buf[i..i + 8].try_into().unwrap_or([0; 8]));
                    let length = i32::from_be_bytes(buf[i + 8..i + 12].try_into().unwrap_or([0; 4]));
                    let skipped = i64::try_from(candidate - pos).unwrap_or(i64::MAX);
                    let plausible = length >= MIN_BATCH_LENGTH
                        && candidate + length as u64 + LOG_OVERHEAD_BYTES as u64 <= file_len
                        && base >= expected
                        && base - expected <= skipped;
                    if plausible {
                        if let Checked::Valid(..) =
                            check_batch(&self.log, &self.log_path, candidate, file_len, scratch)?
                        {
                            return Ok(Some(candidate));
                        }
                    }
                }
                i += 1;
            }
            // Next window overlaps by a header so no candidate is missed.
            start += (n - BATCH_HEADER_BYTES + 1) as u64;
        }
        Ok(None)
    }

    /// Offsets are contiguous: every batch this crate writes starts where
    /// the previous one (or the segment) ended. `baseOffset` is outside the
    /// CRC, so this is also what catches damage to it. (Compaction, when it
    /// lands, will leave gaps between batches and must relax this.)
    fn sane(&self, h: &BatchHeader, expected: i64) -> std::result::Result<(), String> {
        if h.base_offset != expected && !(self.allow_gaps && h.base_offset > expected) {
            return Err(format!("base offset {} where {expected} was expected", h.base_offset));
        }
        let last = h.last_offset().map_err(|e| e.to_string())?;
        if last - self.base_offset > i64::from(u32::MAX) {
            return Err(format!("offset {last} too far from segment base {}", self.base_offset));
        }
        Ok(())
    }

    /// Updates indexes and in-memory metadata for a batch written at `pos`.
    pub(crate) fn track_batch(&mut self, h: &BatchHeader, pos: u64, size: u64, interval: u64) -> Result<()> {
        let rel = u32::try_from(h.base_offset - self.base_offset).unwrap_or(u32::MAX);
        if !self.has_batches {
            self.has_batches = true;
            if h.max_timestamp_ms >= 0 {
                self.rolling_base_ms = h.max_timestamp_ms;
                self.rolling_base_is_batch_ts = true;
            }
        }
        self.max_timestamp_ms = self.max_timestamp_ms.max(h.max_timestamp_ms);
        if self.bytes_since_index > interval {
            self.index.append(rel, u32::try_from(pos).unwrap_or(u32::MAX))?;
            if self.max_timestamp_ms > self.time_index_last_ms {
                self.time_index.append(self.max_timestamp_ms, rel)?;
                self.time_index_last_ms = self.max_timestamp_ms;
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += size;
        self.next_offset = h.last_offset().unwrap_or(i64::MAX).saturating_add(1);
        self.last_batch_rel = rel;
        Ok(())
    }
}

impl Segment {
    /// Decodes the header of the (trusted) batch at `pos`, returning it and
    /// the batch size. Bad framing here is corruption.
    pub(crate) fn header_at(&self, pos: u64) -> Result<(BatchHeader, u64)> {
        let mut head = [0u8; BATCH_HEADER_BYTES];
        if pos + BATCH_HEADER_BYTES as u64 > self.size_bytes {
            return Err(self.corrupt(pos, "batch header runs past the end of the segment"));
        }
        self.log
            .read_exact_at(&mut head, pos)
            .map_err(|e| StorageError::io(&self.log_path, e))?;
        let h = BatchHeader::decode(&head).map_err(|e| self.corrupt(pos, e.to_string()))?;
        let size = h
            .size_bytes()
            .filter(|&s| s >= BATCH_HEADER_BYTES && pos + s as u64 <= self.size_bytes)
            .ok_or_else(|| self.corrupt(pos, format!("bad batch length {}", h.batch_length_bytes)))?;
        Ok((h, size as u64))
    }

    /// Byte position to start scanning for `offset`: the offset index floor.
    fn index_floor_position(&self, offset: i64) -> Result<u64> {
        let rel = (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        Ok(self.index.floor(rel)?.map_or(0, |(_, p)| u64::from(p)))
    }

    /// Position of the first batch whose last offset is `>= offset`, or
    /// `None` if every batch here ends before it.
    pub(crate) fn find_position(&self, offset: i64) -> Result<Option<u64>> {
        let mut pos = self.index_floor_position(offset)?;
        while pos < self.size_bytes {
            let (h, size) = self.header_at(pos)?;
            if h.last_offset().unwrap_or(i64::MAX) >= offset {
                return Ok(Some(pos));
            }
            pos += size;
        }
        Ok(None)
    }

    /// Whole batches starting at `pos`, at most `max_bytes` of them, but
    /// always the first batch even if it is larger (KIP-74). One or two
    /// preads; the buffer is bounded by `max(max_bytes, first batch)`.
    pub(crate) fn read_batches(&self, pos: u64, max_bytes: usize) -> Result<Bytes> {
        let available = self.size_bytes.saturating_sub(pos);
        if available == 0 {
            return Ok(Bytes::new());
        }
        let want = (max_bytes.max(BATCH_HEADER_BYTES) as u64).min(available) as usize;
        // A pooled buffer: it may be larger than `want`, so only its first `want` bytes count.
        let mut buf = read_buffer::take(want);
        self.log
            .read_exact_at(&mut buf[..want], pos)
            .map_err(|e| StorageError::io(&self.log_path, e))?;
        let mut end = 0usize;
        while let Some(len) = buf[..want].get(end + 8..end + 12) {
            let batch_length = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            if batch_length < MIN_BATCH_LENGTH {
                return Err(self.corrupt(pos + end as u64, format!("bad batch length {batch_length}")));
            }
            let size = batch_length as usize + LOG_OVERHEAD_BYTES;
            if end + size > want {
                break;
            }
            end += size;
        }
        if end == 0 {
            // The first batch alone is larger than max_bytes: return it whole.
            let (_, size) = self.header_at(pos)?;
            let size = size as usize;
            if buf.len() < size {
                buf = read_buffer::take(size);
            }
            self.log
                .read_exact_at(&mut buf[..size], pos)
                .map_err(|e| StorageError::io(&self.log_path, e))?;
            end = size;
        }
        Ok(read_buffer::freeze(buf, end))
    }

    /// Where to start scanning for the first batch with `maxTimestamp >=
    /// timestamp_ms` and last offset `>= min_offset`: the later of the time
    /// index's and the offset index's answers (both are batch starts).
    /// `None` if the segment has no timestamp that large.
    pub(crate) fn timestamp_scan_start(&self, timestamp_ms: i64, min_offset: i64) -> Result<Option<u64>> {
        if self.max_timestamp_ms < timestamp_ms {
            return Ok(None);
        }
        let by_time = match self.time_index.last_below(timestamp_ms)? {
            Some((_, rel)) => self.index_floor_position(self.base_offset + i64::from(rel))?,
            None => 0,
        };
        let by_offset = self.index_floor_position(min_offset)?;
        Ok(Some(by_time.max(by_offset)))
    }

    /// Writes `buf` (whole, validated batches with offsets assigned) at the
    /// end of the `.log` with one pwrite and indexes each batch. On a failed
    /// write the file is cut back to its previous size; if even that fails
    /// the error says so and the caller fails the log.
    pub(crate) fn append(&mut self, buf: &[u8], batches: &[(BatchHeader, u64, u64)], interval: u64) -> Result<()> {
        let start = self.size_bytes;
        if let Err(e) = self.log.write_all_at(buf, start) {
            if let Err(e2) = self.log.set_len(start) {
                return Err(StorageError::Failed(format!(
                    "write to {} failed ({e}) and rolling it back failed ({e2})",
                    self.log_path.display()
                )));
            }
            return Err(StorageError::io(&self.log_path, e));
        }
        self.size_bytes += buf.len() as u64;
        for (h, pos, size) in batches {
            self.track_batch(h, start + pos, *size, interval)?;
        }
        Ok(())
    }

    /// Called when the segment stops being active: adds the final time
    /// index entry (so its last entry is the segment's max timestamp) and
    /// fsyncs the `.log` and both indexes. After this the segment is never
    /// written again, which is what lets recovery call any bad byte in it
    /// corruption rather than a torn write.
    pub(crate) fn seal(&mut self) -> Result<()> {
        if self.has_batches && self.max_timestamp_ms > self.time_index_last_ms {
            self.time_index.append(self.max_timestamp_ms, self.last_batch_rel)?;
            self.time_index_last_ms = self.max_timestamp_ms;
        }
        self.log.sync_data().map_err(|e| StorageError::io(&self.log_path, e))?;
        self.index.0.sync()?;
        self.time_index.0.sync()
    }

    /// Whether the segment holds no batches.
    pub(crate) fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }

    /// Last-modified time of the `.log` in ms, used for retention when no
    /// batch carries a timestamp.
    pub(crate) fn modified_ms(&self) -> Result<i64> {
        let meta = self.log.metadata().map_err(|e| StorageError::io(&self.log_path, e))?;
        let modified = meta.modified().map_err(|e| StorageError::io(&self.log_path, e))?;
        Ok(modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// Removes the segment's three files.
    pub(crate) fn delete(self) -> Result<()> {
        for path in [
            self.log_path.clone(),
            self.index.0.path().to_path_buf(),
            self.time_index.0.path().to_path_buf(),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(path, e)),
            }
        }
        Ok(())
    }
}
