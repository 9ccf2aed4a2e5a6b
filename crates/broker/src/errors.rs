//! The one mapping from internal errors to Kafka error codes.

use sluice_protocol::ErrorCode;
use sluice_protocol::records::RecordsError;
use sluice_storage::StorageError;

/// The Kafka error a storage failure is reported as, per partition.
pub fn storage_error_code(e: &StorageError) -> ErrorCode {
    match e {
        StorageError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        StorageError::InvalidRecords(r) => records_error_code(r),
        StorageError::InvalidBatch(_) | StorageError::EmptyAppend => ErrorCode::InvalidRecord,
        StorageError::RecordTooLarge { .. } => ErrorCode::MessageTooLarge,
        StorageError::RecordSetTooLarge { .. } => ErrorCode::RecordListTooLarge,
        // Damaged or unwritable storage: the partition is offline on this broker.
        _ => ErrorCode::KafkaStorageError,
    }
}

/// The Kafka error for a produced batch that fails validation, as Kafka's LogValidator reports
/// it: a bad CRC or framing is CORRUPT_MESSAGE; a record that is well framed but wrong inside is
/// INVALID_RECORD; an old message format is UNSUPPORTED_FOR_MESSAGE_FORMAT.
pub fn records_error_code(e: &RecordsError) -> ErrorCode {
    match e {
        RecordsError::CrcMismatch { .. } | RecordsError::Truncated { .. } | RecordsError::InvalidBatchLength { .. } => {
            ErrorCode::CorruptMessage
        }
        RecordsError::InvalidMagic(_) => ErrorCode::UnsupportedForMessageFormat,
        RecordsError::UnknownCompression { .. } => ErrorCode::UnsupportedCompressionType,
        _ => ErrorCode::InvalidRecord,
    }
}
