//! The segmented partition log.
//!
//! One [`PartitionLog`] owns one directory, laid out as Kafka does:
//!
//! ```text
//! <dir>/00000000000000000000.log        record batches, byte for byte as produced
//!       00000000000000000000.index      sparse offset index: (relative offset u32, position u32)
//!       00000000000000000000.timeindex  time index: (max timestamp so far i64, relative offset u32)
//!       00000000000000004211.log        next segment, named by its base offset (20 digits)
//!       ...
//!       recovery-point                  decimal offset: everything below it was fsynced
//!       log-start-offset                decimal offset set by DeleteRecords
//!       clean-shutdown                  "<log end> <active base> <active size>", written by close()
//! ```
//!
//! The `.log` holds magic v2 record batches exactly as the producer sent
//! them; the broker only sets `baseOffset` and `partitionLeaderEpoch` (both
//! outside the CRC), plus `maxTimestamp` and the timestamp-type attribute
//! bit for `LogAppendTime` topics (the one case where the CRC is
//! recomputed). Indexes are derived data, rebuilt by recovery. Reads use
//! `pread`; no segment or index is ever loaded into memory (index lookups
//! are binary searches by `pread`, recovery streams CRCs in 64 KiB chunks).
//!
//! # Invariants
//!
//! * Offsets are contiguous through a segment (no compaction yet); a segment's batches lie in
//!   `[base_offset, next segment's base_offset)`.
//! * Only the last (active) segment is ever written. Before a new segment
//!   is created the old one is **sealed**: final time index entry, then
//!   fdatasync of its `.log`, `.index` and `.timeindex`; then the new file
//!   is created and the directory fsynced.
//! * `recovery-point` only ever holds an offset below which all data was
//!   fsynced (it is written after the fsync, atomically via rename).
//! * `log-start-offset` is written (atomically, fsynced) before DeleteRecords
//!   deletes anything.
//!
//! # Recovery
//!
//! After [`PartitionLog::close`] (which seals the active segment and writes
//! `clean-shutdown`), open skips recovery if the marker still matches the
//! active segment's base and size, checking only that each segment's
//! indexes fit its `.log` (a header walk from the last index entry); like
//! Kafka, it does not re-verify CRCs then. Open always removes the marker,
//! so a crash afterwards recovers. Without a matching marker, open trusts
//! segments wholly below the segment that holds the recovery point (they were sealed); their indexes are used if they are
//! whole and consistent with the `.log`, and rebuilt otherwise. From the
//! segment holding the recovery point onwards (every segment if the file is
//! missing), every batch is checked: framing (length, magic 2, fits in the
//! file), CRC-32C, and offsets contiguous (each batch's `baseOffset` is the
//! previous batch's last offset + 1, which also catches damage to that
//! field, since it is outside the CRC); both indexes are rebuilt. At the
//! first invalid batch, at byte `p` of segment `S`:
//!
//! * if `S` is **not the last** segment, it is [`StorageError::Corrupt`]
//!   (`S` was fsynced when sealed, so this is not a torn write);
//! * else if the batch starts **below the recovery point**, it is `Corrupt`
//!   (that data had been fsynced);
//! * else if **any valid batch starts anywhere after `p`** (found by a
//!   byte-by-byte search: magic 2, length fits, base offset at least the
//!   expected next offset and at most one offset per byte skipped, good
//!   CRC), it is `Corrupt`: a damaged batch in the middle, even one whose
//!   length field is destroyed, is not a torn tail;
//! * otherwise it is a **torn tail**: the `.log` is truncated to `p` and
//!   fsynced.
//!
//! Corrupt data is never served and never silently dropped: the broker
//! should take the partition offline. Open ends with an fsync of the active
//! segment and writes the recovery point = log end.
//!
//! # DURABILITY
//!
//! [`PartitionLog::append`] writes to the page cache: the data survives a
//! broker crash but not a power loss until it is fsynced. It is fsynced:
//!
//! * by [`SyncHandle::wait_durable`] (acks=all): group commit, one
//!   `fdatasync` of the active segment shared by every waiter; returns once
//!   all offsets below the requested one are on stable storage;
//! * after `flush_messages` records since the last fsync, or when the
//!   oldest unflushed append is `flush_ms` old (checked on append and by
//!   [`PartitionLog::maybe_flush`]); both default to `i64::MAX`, i.e. never,
//!   as in Kafka;
//! * by [`PartitionLog::flush`] / [`PartitionLog::close`] (which also write
//!   the recovery point), and when a segment is sealed at a roll.
//!
//! A failed fsync fails the log for good ([`StorageError::Failed`]); reopen
//! to recover. `recovery-point` is written by `flush`, `close`, `open` and
//! [`PartitionLog::checkpoint_recovery_point`]; a stale one only makes
//! recovery scan more.
//!
//! # Threading
//!
//! `PartitionLog` is `Send + Sync`, with `&mut self` for writes and `&self`
//! for reads: put it behind a `RwLock`. I/O is blocking (page-cache
//! pread/pwrite; fsyncs only as listed above, plus one per roll on the
//! appending thread). The [`SyncHandle`] does not need the lock: append
//! under the lock, release it, then `handle.wait_durable(last_offset + 1)`.
//!
//! # Compaction
//!
//! [`PartitionLog::compact`] is one synchronous, bounded-memory cleaner pass
//! over the non-active segments (the broker schedules it); see its docs for
//! the exact rules. Compacted logs may have offset gaps between batches,
//! which recovery accepts only when `cleanup_policy` includes compact.
//! Not yet: a cleaner checkpoint (each pass re-reads every non-active
//! segment), merging small cleaned segments, and `min.compaction.lag.ms`.

mod config;
mod error;
mod index;
mod log;
mod read_buffer;
mod segment;
mod sync;

pub use config::{CleanupPolicy, LogConfig};
pub use error::{Result, StorageError};
pub use log::{
    AppendInfo, AppendOptions, BatchHeaders, CLEAN_SHUTDOWN_FILE, CompactionStats, LOG_START_OFFSET_FILE, PartitionLog,
    RECOVERY_POINT_FILE, ReadResult,
};
pub use sync::SyncHandle;
