//! The v2 record batch header, batch framing within a records blob, CRC
//! handling and in-place patching of the fields that lie outside the CRC.

use bytes::Bytes;

use super::compression::Compression;
use super::error::RecordsError;
use super::record::RecordIter;
use super::wire::{i16_at, i32_at, i64_at, u32_at};

/// The only magic (format version) this module decodes.
pub const MAGIC_V2: i8 = 2;
/// Size of the v2 batch header, from `baseOffset` to `recordsCount`.
pub const BATCH_HEADER_BYTES: usize = 61;
/// `baseOffset` plus `batchLength`: the bytes not counted by `batchLength`.
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Smallest legal `batchLength`: a header with no records.
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
/// `producerId` of a batch from a non-idempotent producer.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producerEpoch` of a batch from a non-idempotent producer.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `baseSequence` of a batch from a non-idempotent producer.
pub const NO_SEQUENCE: i32 = -1;
/// Timestamp meaning "none", e.g. `baseTimestamp` of an empty batch.
pub const NO_TIMESTAMP: i64 = -1;
/// `partitionLeaderEpoch` before the broker has assigned one.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

pub(crate) const BASE_OFFSET_AT: usize = 0;
pub(crate) const BATCH_LENGTH_AT: usize = 8;
pub(crate) const PARTITION_LEADER_EPOCH_AT: usize = 12;
pub(crate) const MAGIC_AT: usize = 16;
pub(crate) const CRC_AT: usize = 17;
/// The CRC covers everything from here to the end of the batch.
pub(crate) const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORDS_COUNT_AT: usize = 57;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
const DELETE_HORIZON_BIT: i16 = 0x40;

/// Which clock a batch's timestamps come from (attribute bit 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// The producer's timestamp of each record.
    #[default]
    CreateTime,
    /// The broker's append time; every record's timestamp is the batch's
    /// `maxTimestamp`.
    LogAppendTime,
}

/// The batch `attributes` bit field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Attributes(i16);

impl Attributes {
    /// Wraps the raw field; all 16 bits are kept, including unused ones.
    pub const fn from_bits(bits: i16) -> Attributes {
        Attributes(bits)
    }

    /// The raw field.
    pub const fn bits(self) -> i16 {
        self.0
    }

    /// The codec (bits 0-2); ids 5-7 are an error.
    pub fn compression(self) -> Result<Compression, RecordsError> {
        Compression::from_id((self.0 & COMPRESSION_MASK) as u8)
    }

    /// Bit 3.
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Bit 4: the batch belongs to a transaction.
    pub fn is_transactional(self) -> bool {
        self.0 & TRANSACTIONAL_BIT != 0
    }

    /// Bit 5: the batch holds a control record, not user data.
    pub fn is_control(self) -> bool {
        self.0 & CONTROL_BIT != 0
    }

    /// Bit 6: `baseTimestamp` is the compaction delete horizon.
    pub fn has_delete_horizon(self) -> bool {
        self.0 & DELETE_HORIZON_BIT != 0
    }

    /// Returns a copy with the codec bits replaced.
    #[must_use]
    pub fn with_compression(self, compression: Compression) -> Attributes {
        Attributes((self.0 & !COMPRESSION_MASK) | i16::from(compression.id()))
    }

    /// Returns a copy with the timestamp type bit replaced.
    #[must_use]
    pub fn with_timestamp_type(self, timestamp_type: TimestampType) -> Attributes {
        self.with_bit(TIMESTAMP_TYPE_BIT, timestamp_type == TimestampType::LogAppendTime)
    }

    /// Returns a copy with the transactional bit set or cleared.
    #[must_use]
    pub fn with_transactional(self, on: bool) -> Attributes {
        self.with_bit(TRANSACTIONAL_BIT, on)
    }

    /// Returns a copy with the control bit set or cleared.
    #[must_use]
    pub fn with_control(self, on: bool) -> Attributes {
        self.with_bit(CONTROL_BIT, on)
    }

    /// Returns a copy with the delete horizon bit set or cleared.
    #[must_use]
    pub fn with_delete_horizon(self, on: bool) -> Attributes {
        self.with_bit(DELETE_HORIZON_BIT, on)
    }

    fn with_bit(self, bit: i16, on: bool) -> Attributes {
        if on {
            Attributes(self.0 | bit)
        } else {
            Attributes(self.0 & !bit)
        }
    }
}

/// The 61-byte header of a magic v2 record batch, field for field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    /// Offset of the first record; records carry deltas from it. Assigned
    /// by the broker on append (outside the CRC so it can be patched).
    pub base_offset: i64,
    /// Bytes after this field (i.e. batch size minus
    /// [`LOG_OVERHEAD_BYTES`]); frames the batch within a records blob.
    pub batch_length_bytes: i32,
    /// Leader epoch of the broker that appended the batch; used for log
    /// truncation after leader changes. Outside the CRC.
    pub partition_leader_epoch: i32,
    /// Format version; always [`MAGIC_V2`] for a decoded header.
    pub magic: i8,
    /// CRC-32C of the bytes from `attributes` to the end of the batch.
    pub crc: u32,
    /// Codec, timestamp type, transactional/control/delete-horizon flags.
    pub attributes: Attributes,
    /// Offset delta of the last record, so the last offset is known without
    /// decompressing; kept through compaction even if that record is gone.
    pub last_offset_delta: i32,
    /// Timestamp of the first record (or the delete horizon, see
    /// [`Attributes::has_delete_horizon`]); records carry deltas from it.
    pub base_timestamp_ms: i64,
    /// Largest record timestamp, or the log append time; used for time
    /// indexes and retention without decoding records.
    pub max_timestamp_ms: i64,
    /// Idempotent/transactional producer id, or [`NO_PRODUCER_ID`].
    pub producer_id: i64,
    /// Producer epoch, fencing zombie producers, or [`NO_PRODUCER_EPOCH`].
    pub producer_epoch: i16,
    /// Sequence number of the first record, for duplicate detection, or
    /// [`NO_SEQUENCE`].
    pub base_sequence: i32,
    /// Number of records the batch claims; checked against the records.
    pub records_count: i32,
}

impl BatchHeader {
    /// Decodes the header at the start of `buf` (which may hold more).
    ///
    /// Checks the magic first (if the buffer reaches it) so legacy message
    /// sets are reported as [`RecordsError::InvalidMagic`], then that the
    /// whole header is present. Does not check `batch_length_bytes` against
    /// `buf` or verify the CRC.
    pub fn decode(buf: &[u8]) -> Result<BatchHeader, RecordsError> {
        if let Some(&magic) = buf.get(MAGIC_AT) {
            if magic as i8 != MAGIC_V2 {
                return Err(RecordsError::InvalidMagic(magic as i8));
            }
        }
        let truncated = || RecordsError::Truncated {
            needed: BATCH_HEADER_BYTES,
            available: buf.len(),
        };
        if buf.len() < BATCH_HEADER_BYTES {
            return Err(truncated());
        }
        Ok(BatchHeader {
            base_offset: i64_at(buf, BASE_OFFSET_AT).ok_or_else(truncated)?,
            batch_length_bytes: i32_at(buf, BATCH_LENGTH_AT).ok_or_else(truncated)?,
            partition_leader_epoch: i32_at(buf, PARTITION_LEADER_EPOCH_AT).ok_or_else(truncated)?,
            magic: MAGIC_V2,
            crc: u32_at(buf, CRC_AT).ok_or_else(truncated)?,
            attributes: Attributes(i16_at(buf, ATTRIBUTES_AT).ok_or_else(truncated)?),
            last_offset_delta: i32_at(buf, LAST_OFFSET_DELTA_AT).ok_or_else(truncated)?,
            base_timestamp_ms: i64_at(buf, BASE_TIMESTAMP_AT).ok_or_else(truncated)?,
            max_timestamp_ms: i64_at(buf, MAX_TIMESTAMP_AT).ok_or_else(truncated)?,
            producer_id: i64_at(buf, PRODUCER_ID_AT).ok_or_else(truncated)?,
            producer_epoch: i16_at(buf, PRODUCER_EPOCH_AT).ok_or_else(truncated)?,
            base_sequence: i32_at(buf, BASE_SEQUENCE_AT).ok_or_else(truncated)?,
            records_count: i32_at(buf, RECORDS_COUNT_AT).ok_or_else(truncated)?,
        })
    }

    /// Encodes the header exactly as stored (the `crc` field is written as
    /// is, not recomputed).
    pub fn encode(&self) -> [u8; BATCH_HEADER_BYTES] {
        let mut out = [0u8; BATCH_HEADER_BYTES];
        let mut put = |at: usize, bytes: &[u8]| {
            if let Some(slot) = out.get_mut(at..at + bytes.len()) {
                slot.copy_from_slice(bytes);
            }
        };
        put(BASE_OFFSET_AT, &self.base_offset.to_be_bytes());
        put(BATCH_LENGTH_AT, &self.batch_length_bytes.to_be_bytes());
        put(PARTITION_LEADER_EPOCH_AT, &self.partition_leader_epoch.to_be_bytes());
        put(MAGIC_AT, &self.magic.to_be_bytes());
        put(CRC_AT, &self.crc.to_be_bytes());
        put(ATTRIBUTES_AT, &self.attributes.0.to_be_bytes());
        put(LAST_OFFSET_DELTA_AT, &self.last_offset_delta.to_be_bytes());
        put(BASE_TIMESTAMP_AT, &self.base_timestamp_ms.to_be_bytes());
        put(MAX_TIMESTAMP_AT, &self.max_timestamp_ms.to_be_bytes());
        put(PRODUCER_ID_AT, &self.producer_id.to_be_bytes());
        put(PRODUCER_EPOCH_AT, &self.producer_epoch.to_be_bytes());
        put(BASE_SEQUENCE_AT, &self.base_sequence.to_be_bytes());
        put(RECORDS_COUNT_AT, &self.records_count.to_be_bytes());
        out
    }

    /// Total size of the batch in bytes (`batchLength` + 12), if the length
    /// field is non-negative.
    pub fn size_bytes(&self) -> Option<usize> {
        usize::try_from(self.batch_length_bytes)
            .ok()?
            .checked_add(LOG_OVERHEAD_BYTES)
    }

    /// Offset of the last record (`baseOffset + lastOffsetDelta`).
    pub fn last_offset(&self) -> Result<i64, RecordsError> {
        self.base_offset
            .checked_add(i64::from(self.last_offset_delta))
            .ok_or(RecordsError::Overflow {
                field: "last offset",
                base: self.base_offset,
                delta: i64::from(self.last_offset_delta),
            })
    }

    /// Sequence number of the last record, wrapping past `i32::MAX` to 0 as
    /// Kafka does; [`NO_SEQUENCE`] if the batch has none.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        let wrapped =
            (i64::from(self.base_sequence) + i64::from(self.last_offset_delta)).rem_euclid(i64::from(i32::MAX) + 1);
        i32::try_from(wrapped).unwrap_or(NO_SEQUENCE)
    }
}

/// Checks the framing of the batch at the start of `buf` and returns its
/// total size in bytes.
///
/// Order matters: the length field is validated (minimum, then against the
/// available bytes) before anything inside the batch is trusted.
fn frame_batch(buf: &[u8]) -> Result<usize, RecordsError> {
    let available = buf.len();
    let batch_length = i32_at(buf, BATCH_LENGTH_AT).ok_or(RecordsError::Truncated {
        needed: LOG_OVERHEAD_BYTES,
        available,
    })?;
    if batch_length < MIN_BATCH_LENGTH {
        // Legacy (magic 0/1) messages can be shorter than a v2 header; name
        // them for what they are when the magic byte is within the length.
        if batch_length > (MAGIC_AT - LOG_OVERHEAD_BYTES) as i32 {
            if let Some(&magic) = buf.get(MAGIC_AT) {
                if magic as i8 != MAGIC_V2 {
                    return Err(RecordsError::InvalidMagic(magic as i8));
                }
            }
        }
        return Err(RecordsError::InvalidBatchLength {
            batch_length,
            min_length: MIN_BATCH_LENGTH,
        });
    }
    // batch_length >= MIN_BATCH_LENGTH > 0, so the conversion cannot fail.
    let total = usize::try_from(batch_length)
        .ok()
        .and_then(|len| len.checked_add(LOG_OVERHEAD_BYTES))
        .ok_or(RecordsError::InvalidBatchLength {
            batch_length,
            min_length: MIN_BATCH_LENGTH,
        })?;
    if total > available {
        return Err(RecordsError::Truncated {
            needed: total,
            available,
        });
    }
    match buf.get(MAGIC_AT) {
        Some(&magic) if magic as i8 == MAGIC_V2 => Ok(total),
        Some(&magic) => Err(RecordsError::InvalidMagic(magic as i8)),
        None => Err(RecordsError::Truncated {
            needed: total,
            available,
        }),
    }
}

/// One complete v2 record batch: the decoded header plus the batch's bytes
/// (a zero-copy slice of the input it was found in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBatch {
    header: BatchHeader,
    bytes: Bytes,
}

impl RecordBatch {
    /// Parses `bytes`, which must hold exactly one complete batch.
    pub fn parse(bytes: Bytes) -> Result<RecordBatch, RecordsError> {
        let total = frame_batch(&bytes)?;
        if total != bytes.len() {
            return Err(RecordsError::InvalidLength {
                field: "batchLength",
                length: i64::try_from(total).unwrap_or(i64::MAX),
                available: bytes.len(),
            });
        }
        let header = BatchHeader::decode(&bytes)?;
        Ok(RecordBatch { header, bytes })
    }

    /// The decoded header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The whole batch as it appeared on the wire.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The whole batch as it appeared on the wire.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Total size of the batch in bytes.
    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The codec named by the attributes.
    pub fn compression(&self) -> Result<Compression, RecordsError> {
        self.header.attributes.compression()
    }

    /// CRC-32C of the bytes from `attributes` to the end of the batch.
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(self.bytes.get(ATTRIBUTES_AT..).unwrap_or(&[]))
    }

    /// Checks the stored CRC against [`RecordBatch::compute_crc`].
    pub fn verify_crc(&self) -> Result<(), RecordsError> {
        let computed = self.compute_crc();
        if computed == self.header.crc {
            Ok(())
        } else {
            Err(RecordsError::CrcMismatch {
                stored: self.header.crc,
                computed,
            })
        }
    }

    /// The records section exactly as stored (compressed if the batch is).
    pub fn records_payload(&self) -> Bytes {
        if self.bytes.len() >= BATCH_HEADER_BYTES {
            self.bytes.slice(BATCH_HEADER_BYTES..)
        } else {
            Bytes::new()
        }
    }

    /// The records section decompressed (a zero-copy slice if the batch is
    /// not compressed), refusing to produce more than `max_bytes`.
    pub fn decompressed_records(&self, max_bytes: usize) -> Result<Bytes, RecordsError> {
        self.compression()?.decompress(&self.records_payload(), max_bytes)
    }

    /// Iterates the batch's records, decompressing first (capped at
    /// `max_bytes`) if needed. A batch with `recordsCount == 0` yields
    /// nothing without touching its payload, as Kafka does.
    pub fn records(&self, max_bytes: usize) -> Result<RecordIter, RecordsError> {
        let count = self.header.records_count;
        if count < 0 {
            return Err(RecordsError::InvalidRecordCount(count));
        }
        let data = if count == 0 {
            Bytes::new()
        } else {
            self.decompressed_records(max_bytes)?
        };
        Ok(RecordIter::new(&self.header, data))
    }
}

/// Iterator over the batches in a records blob (a Produce or Fetch
/// `records` field).
///
/// Yields each batch as a zero-copy slice. After the first error it yields
/// nothing more, since the position of the next batch is then unknown.
/// A partial batch at the end yields [`RecordsError::Truncated`].
#[derive(Clone, Debug)]
pub struct BatchIter {
    rest: Bytes,
    failed: bool,
}

/// Iterates the record batches in `records`.
pub fn batches(records: Bytes) -> BatchIter {
    BatchIter {
        rest: records,
        failed: false,
    }
}

impl BatchIter {
    /// Bytes not yet consumed (after an error: the bytes from the batch that
    /// failed onwards).
    pub fn remaining_bytes(&self) -> usize {
        self.rest.len()
    }
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let result = frame_batch(&self.rest).and_then(|total| {
            let header = BatchHeader::decode(&self.rest)?;
            Ok((total, header))
        });
        match result {
            Ok((total, header)) => {
                let bytes = self.rest.split_to(total);
                Some(Ok(RecordBatch { header, bytes }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn check_patchable(batch: &[u8]) -> Result<(), RecordsError> {
    // Decoding the header checks the magic and the minimum size.
    BatchHeader::decode(batch).map(|_| ())
}

/// Overwrites `baseOffset` of the batch at the start of `batch`.
///
/// The field is outside the CRC, so the CRC stays valid.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) -> Result<(), RecordsError> {
    check_patchable(batch)?;
    if let Some(slot) = batch.get_mut(BASE_OFFSET_AT..BASE_OFFSET_AT + 8) {
        slot.copy_from_slice(&base_offset.to_be_bytes());
    }
    Ok(())
}

/// Overwrites `partitionLeaderEpoch` of the batch at the start of `batch`.
///
/// The field is outside the CRC, so the CRC stays valid.
pub fn set_partition_leader_epoch(batch: &mut [u8], partition_leader_epoch: i32) -> Result<(), RecordsError> {
    check_patchable(batch)?;
    if let Some(slot) = batch.get_mut(PARTITION_LEADER_EPOCH_AT..PARTITION_LEADER_EPOCH_AT + 4) {
        slot.copy_from_slice(&partition_leader_epoch.to_be_bytes());
    }
    Ok(())
}

/// CRC-32C of the batch at the start of `batch` (which may be followed by
/// more bytes), over its bytes from `attributes` (offset 21) to its end.
pub fn compute_crc(batch: &[u8]) -> Result<u32, RecordsError> {
    let total = frame_batch(batch)?;
    let covered = batch.get(ATTRIBUTES_AT..total).ok_or(RecordsError::Truncated {
        needed: total,
        available: batch.len(),
    })?;
    Ok(crc32c::crc32c(covered))
}

/// Verifies the CRC of the batch at the start of `batch`.
pub fn verify_crc(batch: &[u8]) -> Result<(), RecordsError> {
    let computed = compute_crc(batch)?;
    let stored = u32_at(batch, CRC_AT).ok_or(RecordsError::Truncated {
        needed: BATCH_HEADER_BYTES,
        available: batch.len(),
    })?;
    if stored == computed {
        Ok(())
    } else {
        Err(RecordsError::CrcMismatch { stored, computed })
    }
}

/// Writes the CRC of the batch at the start of `batch` into its header.
/// Needed after changing anything from `attributes` onwards.
pub fn update_crc(batch: &mut [u8]) -> Result<u32, RecordsError> {
    let crc = compute_crc(batch)?;
    if let Some(slot) = batch.get_mut(CRC_AT..CRC_AT + 4) {
        slot.copy_from_slice(&crc.to_be_bytes());
    }
    Ok(crc)
}
