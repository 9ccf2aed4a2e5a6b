//! Record batches (magic v2), records and their compression codecs.
//!
//! This is the layer under the `records` field of Produce and Fetch: a blob
//! of concatenated [record batches], each a 61-byte header followed by
//! varint-encoded records, optionally compressed as a whole.
//!
//! * [`batches`] splits a blob into [`RecordBatch`]es (zero copy, each a
//!   `Bytes::slice` of the input).
//! * [`RecordBatch::verify_crc`] checks the CRC-32C;
//!   [`set_base_offset`] / [`set_partition_leader_epoch`] patch the two
//!   fields outside it.
//! * [`RecordBatch::records`] decompresses (with a cap) and returns a lazy
//!   [`RecordIter`] whose keys, values and headers are slices of the
//!   decompressed buffer.
//! * [`BatchBuilder`] encodes batches; [`end_txn_marker_batch`] and the
//!   [`control`] types cover control records.
//!
//! # Invariants the decoder keeps
//!
//! These hold for *any* input, including hostile or corrupt bytes:
//!
//! * **No panics.** No slice indexing that can go out of bounds, no
//!   unchecked arithmetic on wire values (offsets and timestamps use
//!   checked adds and report [`RecordsError::Overflow`]), no `unwrap` on
//!   anything derived from input.
//! * **Framing before trust.** A batch's `batchLength` is checked against
//!   the minimum (49, i.e. a 61-byte header) and against the bytes
//!   available before any other field is used. A partial trailing batch is
//!   [`RecordsError::Truncated`] (see [`RecordsError::is_truncated`]), which
//!   a Fetch consumer treats as "stop here", distinct from corruption.
//!   Magic other than 2 is [`RecordsError::InvalidMagic`] naming the magic.
//! * **CRC range.** The CRC-32C covers exactly the bytes from `attributes`
//!   (offset 21) to the end of the batch; `baseOffset`, `batchLength`,
//!   `partitionLeaderEpoch` and `magic` are outside it, which is why the
//!   broker can patch offset and epoch without recomputing it. Decoding
//!   does not verify the CRC implicitly; call
//!   [`RecordBatch::verify_crc`] where Kafka would.
//! * **No allocation sized by an unchecked wire count.** Every length is
//!   compared with the bytes that remain before it is used; a record's
//!   header count must satisfy `count <= remaining_bytes / 2` (each header
//!   takes at least two bytes) and preallocation is capped at 16 headers
//!   regardless. `recordsCount` never sizes an allocation; it is only
//!   compared with the records actually decoded (too few:
//!   [`RecordsError::RecordCountMismatch`]; bytes left over:
//!   [`RecordsError::TrailingBytes`]).
//! * **Varints are strict.** At most 5 bytes for a varint and 10 for a
//!   varlong, with no bits beyond the type's width, zigzag-decoded.
//! * **Decompression is capped.** Every codec takes `max_bytes` and fails
//!   with [`RecordsError::DecompressedTooLarge`] past it; the output buffer
//!   never grows beyond `max_bytes + 1`, and sizes the format declares up
//!   front (snappy preambles, LZ4/zstd content size) are checked before
//!   allocating. See [`compression`](Compression) for the
//!   codecs' remaining working memory.
//! * **Zero copy.** Uncompressed batches are never copied; compressed ones
//!   are decompressed once into a `Bytes` that records slice.
//!
//! Legacy magic 0/1 message sets are not record batches: [`batches`] reports
//! them as [`RecordsError::InvalidMagic`], and [`legacy`] decodes and writes them.
//!
//! [record batches]: https://kafka.apache.org/documentation/#recordbatch

mod batch;
mod builder;
mod compression;
pub mod control;
mod error;
pub mod legacy;
mod record;
mod wire;

pub use batch::{
    Attributes, BATCH_HEADER_BYTES, BatchHeader, BatchIter, LOG_OVERHEAD_BYTES, MAGIC_V2, MIN_BATCH_LENGTH,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, RecordBatch,
    TimestampType, batches, compute_crc, set_base_offset, set_partition_leader_epoch, update_crc, verify_crc,
};
pub use builder::{BatchBuilder, end_txn_marker_batch};
pub use compression::Compression;
pub use control::{ControlRecordKey, ControlRecordType, EndTxnMarker};
pub use error::RecordsError;
pub use record::{Header, NewRecord, Record, RecordIter};
