//! The single error type of the record batch layer.

use super::compression::Compression;

/// Everything that can go wrong while decoding, decompressing or building
/// record batches.
///
/// Errors are plain data: no variant carries an I/O error or a boxed source,
/// so they are `Clone + PartialEq` and can be matched on in tests and turned
/// into Kafka error codes by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// The input ends before the structure it starts is complete.
    ///
    /// When [`batches`](super::batches) reports this for the *last* batch of
    /// a records blob it is not corruption: a Fetch response may cut its final
    /// batch short, and a consumer should stop there and fetch again.
    /// See [`RecordsError::is_truncated`].
    #[error("truncated input: need {needed} bytes, only {available} available")]
    Truncated {
        /// Bytes the structure needs, counted from its start.
        needed: usize,
        /// Bytes that were actually there.
        available: usize,
    },

    /// `batchLength` is negative or too small to hold a v2 batch header.
    #[error("invalid batch length {batch_length} (a v2 batch needs at least {min_length} after the length field)")]
    InvalidBatchLength {
        /// The `batchLength` field as read from the wire.
        batch_length: i32,
        /// The smallest legal `batchLength` for magic v2.
        min_length: i32,
    },

    /// The magic byte is not 2. Magic 0 and 1 are the pre-0.11 message set
    /// formats, which this decoder does not handle.
    #[error("unsupported record batch magic {0} (only magic 2 is supported; 0 and 1 are legacy message sets)")]
    InvalidMagic(i8),

    /// A legacy (magic 0/1) message set breaks a rule of its format: a compressed message
    /// inside a compressed wrapper, an inner magic that differs from its wrapper's, a wrapper
    /// without a value, or zstd (which only record batches may use).
    #[error("invalid legacy message: {0}")]
    InvalidLegacyMessage(&'static str),

    /// The CRC-32C stored in the batch does not match its content.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The `crc` field of the batch header.
        stored: u32,
        /// CRC-32C of the bytes from `attributes` to the end of the batch.
        computed: u32,
    },

    /// The compression codec bits name a codec that does not exist (5-7).
    #[error("unknown compression codec id {0}")]
    UnknownCompression(u8),

    /// Decompressing would produce more than the caller's cap.
    #[error("decompressed records exceed the {max_bytes} byte limit")]
    DecompressedTooLarge {
        /// The cap the caller passed in.
        max_bytes: usize,
    },

    /// The compressed payload is malformed.
    #[error("{codec:?} decompression failed: {message}")]
    Decompression {
        /// The codec that was being decoded.
        codec: Compression,
        /// What the codec reported.
        message: String,
    },

    /// The compressor failed (in practice only on absurd input sizes).
    #[error("{codec:?} compression failed: {message}")]
    Compression {
        /// The codec that was encoding.
        codec: Compression,
        /// What the codec reported.
        message: String,
    },

    /// A varint is longer than its type allows (5 bytes for 32-bit, 10 for
    /// 64-bit), has bits beyond the type's width, or runs off the end.
    #[error("invalid varint in {field}")]
    InvalidVarint {
        /// Which field was being read.
        field: &'static str,
    },

    /// A length or count is negative (other than -1 meaning null, where that
    /// is allowed) or larger than the bytes that remain.
    #[error("invalid length {length} for {field} ({available} bytes remain)")]
    InvalidLength {
        /// Which field was being read.
        field: &'static str,
        /// The length as read from the wire.
        length: i64,
        /// Bytes that remained in the enclosing structure.
        available: usize,
    },

    /// A record's declared size does not match the bytes its fields used.
    #[error("record declares {declared} body bytes but its fields use {used}")]
    RecordSizeMismatch {
        /// The record's `length` varint.
        declared: usize,
        /// Bytes actually consumed by its fields.
        used: usize,
    },

    /// The record data ended before `recordsCount` records were read.
    #[error("batch declares {declared} records but only {found} are present")]
    RecordCountMismatch {
        /// The batch's `recordsCount` field.
        declared: i32,
        /// Records decoded before the data ran out.
        found: usize,
    },

    /// Bytes remain after the last record the batch declares.
    #[error("{trailing_bytes} bytes remain after the {declared} declared records")]
    TrailingBytes {
        /// The batch's `recordsCount` field.
        declared: i32,
        /// Unconsumed bytes after the last declared record.
        trailing_bytes: usize,
    },

    /// `recordsCount` is negative.
    #[error("invalid record count {0}")]
    InvalidRecordCount(i32),

    /// Offset or timestamp arithmetic on wire values overflowed i64.
    #[error("{field} overflows: base {base} + delta {delta}")]
    Overflow {
        /// Which value was being computed.
        field: &'static str,
        /// The batch-level base value.
        base: i64,
        /// The record-level delta.
        delta: i64,
    },

    /// A control record's key or value does not follow its schema.
    #[error("invalid control record: {0}")]
    InvalidControlRecord(&'static str),

    /// The builder was given something it cannot encode.
    #[error("cannot build batch: {0}")]
    InvalidBuild(String),
}

impl RecordsError {
    /// True when the input simply ended early (see [`RecordsError::Truncated`]).
    ///
    /// At the end of a Fetch response this means "partial trailing batch,
    /// stop here", not corruption.
    pub fn is_truncated(&self) -> bool {
        matches!(self, RecordsError::Truncated { .. })
    }
}
