//! The single error type of the storage layer.

use std::path::PathBuf;

use sluice_protocol::records::RecordsError;

/// Everything that can go wrong in a [`PartitionLog`](crate::PartitionLog).
///
/// The broker maps these to Kafka error codes: `OffsetOutOfRange` to
/// OFFSET_OUT_OF_RANGE, `InvalidRecords`/`InvalidBatch` to CORRUPT_MESSAGE or
/// INVALID_RECORD, `RecordTooLarge` to MESSAGE_TOO_LARGE,
/// `RecordSetTooLarge` to RECORD_LIST_TOO_LARGE, and `Corrupt`, `Io` and
/// `Failed` to KAFKA_STORAGE_ERROR (taking the partition offline).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A read asked for an offset outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// First offset still readable.
        log_start_offset: i64,
        /// Next offset to be assigned (readable as an empty result).
        log_end_offset: i64,
    },

    /// Stored data failed validation somewhere other than a torn tail (see
    /// the recovery rule in the crate docs). The partition must not be
    /// served until an operator intervenes.
    #[error("corrupt log segment {} at byte {position}: {reason}", segment.display())]
    Corrupt {
        /// The `.log` (or index) file that holds the bad bytes.
        segment: PathBuf,
        /// Byte position of the first bad batch within that file.
        position: u64,
        /// What was wrong, for the operator.
        reason: String,
    },

    /// A produced batch failed framing, magic or CRC validation.
    #[error("invalid records: {0}")]
    InvalidRecords(#[from] RecordsError),

    /// A produced batch is well framed but its header is not acceptable
    /// (e.g. `lastOffsetDelta` disagrees with `recordsCount`).
    #[error("invalid record batch: {0}")]
    InvalidBatch(&'static str),

    /// An append carried no batches at all.
    #[error("append carried no record batches")]
    EmptyAppend,

    /// One batch is larger than `max_message_bytes`.
    #[error("record batch of {size_bytes} bytes exceeds max.message.bytes {max_bytes}")]
    RecordTooLarge {
        /// Size of the offending batch, header included.
        size_bytes: usize,
        /// The configured limit.
        max_bytes: usize,
    },

    /// The whole append is larger than a segment may be.
    #[error("record set of {size_bytes} bytes exceeds segment.bytes {max_bytes}")]
    RecordSetTooLarge {
        /// Size of the append.
        size_bytes: usize,
        /// The configured segment size.
        max_bytes: usize,
    },

    /// The configuration is unusable (e.g. `segment_bytes` below one batch).
    #[error("invalid log configuration: {0}")]
    InvalidConfig(String),

    /// An operating system call failed on `path`.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },

    /// An earlier write or fsync failed in a way that leaves the on-disk
    /// state unknown (e.g. fsync returned EIO: the kernel may have dropped
    /// the dirty pages, so retrying could falsely succeed). Every later call
    /// fails with this until the log is reopened, which re-runs recovery.
    #[error("log is failed after an earlier I/O error: {0}")]
    Failed(String),
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StorageError {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
