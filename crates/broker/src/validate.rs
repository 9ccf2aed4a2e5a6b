//! What Kafka checks in a produced record set before it is appended, and the broker-side
//! recompression of `compression.type`, in the order Kafka applies them:
//!
//! 0. Produce v0-2: a legacy (magic 0/1) message set is up-converted to one batch in the
//!    topic's codec (see [`crate::legacy`]); the steps below then check that batch.
//! 1. The request's own rules (Kafka's `ProduceRequest.validateRecords`, v3+): exactly one
//!    record batch, of magic 2, and no zstd before v7. Refused without a message, as Kafka does.
//! 2. The log's batch checks (`UnifiedLog.analyzeAndValidateRecords`): a client's batch has base
//!    offset 0, fits `max.message.bytes` as sent, and has a valid CRC.
//! 3. `LogValidator`: the batch's offsets agree with its count, clients write no control batches,
//!    an idempotent batch has a sequence; then every record: a compacted topic needs keys, and a
//!    CreateTime timestamp must lie within `message.timestamp.before.max.ms` /
//!    `message.timestamp.after.max.ms` of the broker's clock. Record failures are collected per
//!    record (`record_errors`, by index in the batch) and fail the whole batch.
//! 4. If the topic's `compression.type` names a codec other than the batch's, or a compressed
//!    batch's inner offsets are not 0, 1, 2, ..., the batch is rebuilt with the topic's codec
//!    (same producer fields, sequences, timestamps and headers; a new CRC). Otherwise the bytes
//!    are kept exactly as sent; the log then patches only base offset, leader epoch and, for
//!    LogAppendTime, the max timestamp.
//!
//! Decompression for the checks is capped ([`DECOMPRESSED_BATCH_BYTES_MAX`]), so a small
//! compressed batch cannot make the broker allocate without bound.

use crate::legacy::{PRODUCE_LEGACY_VERSION_MAX, up_convert};
use bytes::Bytes;
use sluice_config::CompressionType;
use sluice_protocol::ErrorCode;
use sluice_protocol::records::legacy::is_legacy;
use sluice_protocol::records::{
    BatchBuilder, BatchHeader, Compression, MAGIC_V2, NO_PRODUCER_ID, NO_TIMESTAMP, NewRecord, Record, RecordBatch,
    RecordsError, TimestampType, batches, update_crc,
};

/// Largest decompressed records section a produced batch may have. Kafka has no such cap; it
/// bounds the memory one batch can cost while it is validated or recompressed.
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize = 64 << 20;

/// Most per-record errors one partition response lists. Kafka lists all of them; a batch of
/// millions of tiny records must not produce a response of millions of messages, so the rest are
/// only counted in the partition's error message.
pub const RECORD_ERRORS_MAX: usize = 1000;

/// Where the magic byte sits in a batch, in every message format (offset, length, CRC or epoch).
const MAGIC_AT: usize = 16;

/// The first Produce version that may carry zstd batches (KIP-110).
const ZSTD_MIN_VERSION: i16 = 7;

/// The topic and broker settings a produced batch is checked against.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The Produce request's version: the request-level rules depend on it.
    pub version: i16,
    /// `topic-partition`, for Kafka's error messages.
    pub topic_partition: String,
    /// The topic's `compression.type`.
    pub target: CompressionType,
    /// `compression.gzip.level`, used when recompressing with gzip.
    pub gzip_level: i32,
    /// `compression.zstd.level`, used when recompressing with zstd.
    pub zstd_level: i32,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compacted: bool,
    /// `message.timestamp.type`: only CreateTime timestamps are range-checked.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far behind `now_ms` a CreateTime may be.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far ahead of `now_ms` a CreateTime may be.
    pub timestamp_after_max_ms: i64,
    /// The broker's clock for the timestamp window.
    pub now_ms: i64,
    /// `max.message.bytes`: the largest batch accepted, as the producer sent it (Kafka checks
    /// before recompressing; the log checks the stored batch again).
    pub max_message_bytes: usize,
}

/// Why a partition's records were refused: the partition response's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The partition's error code.
    pub code: ErrorCode,
    /// Its error message; `None` where Kafka sends none.
    pub message: Option<String>,
    /// Per-record errors: index of the record in the batch, and why.
    pub record_errors: Vec<(i32, String)>,
}

impl Rejection {
    fn new(code: ErrorCode, message: Option<String>) -> Rejection {
        Rejection {
            code,
            message,
            record_errors: Vec::new(),
        }
    }

    /// A refusal with `code` and no message.
    pub fn from_code(code: ErrorCode) -> Rejection {
        Rejection::new(code, None)
    }

    /// A refusal for records that do not decode, as Kafka reports its exceptions.
    pub fn from_records_error(e: &RecordsError, topic_partition: &str) -> Rejection {
        decode_rejection(e, topic_partition)
    }

    fn invalid(message: String) -> Rejection {
        Rejection::new(ErrorCode::InvalidRecord, Some(message))
    }
}

/// The batch as it will be appended.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The bytes to append: the producer's own, or the rebuilt batch.
    pub records: Bytes,
    /// True when the batch was rebuilt (recompressed or renumbered).
    pub rebuilt: bool,
}

/// The error for records that fail to decode, as Kafka reports its exceptions.
fn decode_rejection(e: &RecordsError, topic_partition: &str) -> Rejection {
    let code = crate::errors::records_error_code(e);
    Rejection::new(code, Some(format!("{e} in topic partition {topic_partition}")))
}

/// The codec a `compression.type` stores with, given the batch's own.
fn target_codec(target: CompressionType, source: Compression) -> Compression {
    match target {
        CompressionType::Producer => source,
        CompressionType::Uncompressed => Compression::None,
        CompressionType::Gzip => Compression::Gzip,
        CompressionType::Snappy => Compression::Snappy,
        CompressionType::Lz4 => Compression::Lz4,
        CompressionType::Zstd => Compression::Zstd,
    }
}

/// Checks one partition's produced records and returns what to append.
pub fn validate(records: Bytes, rules: &Rules) -> Result<Validated, Rejection> {
    let tp = rules.topic_partition.as_str();
    // Produce v0-2 may carry the old message formats: they become one batch first (Kafka's
    // up-conversion), already in the topic's codec. The request rules are then the batch's
    // own, which the conversion meets, so they are checked as for the newest version.
    let (records, request_version) = if rules.version <= PRODUCE_LEGACY_VERSION_MAX && is_legacy(&records) {
        let converted = up_convert(records, tp, |source| target_codec(rules.target, source))?;
        (converted, ZSTD_MIN_VERSION)
    } else {
        (records, rules.version)
    };
    let batch = request_batch(&records, request_version)?;
    let header = *batch.header();
    if header.base_offset != 0 {
        return Err(Rejection::invalid(format!(
            "The baseOffset of the record batch in the append to {tp} should be 0, but it is {}",
            header.base_offset
        )));
    }
    if batch.size_bytes() > rules.max_message_bytes {
        return Err(Rejection::new(
            ErrorCode::MessageTooLarge,
            Some(format!(
                "The record batch size in the append to {tp} is {} bytes which exceeds the maximum configured value of {}.",
                batch.size_bytes(),
                rules.max_message_bytes
            )),
        ));
    }
    batch.verify_crc().map_err(|e| decode_rejection(&e, tp))?;
    check_batch(&header, tp)?;
    let source = batch.compression().map_err(|e| decode_rejection(&e, tp))?;
    let target = target_codec(rules.target, source);

    let mut record_errors: Vec<(i32, String)> = Vec::new();
    let mut error_count = 0usize;
    let mut any_timestamp_error = false;
    let mut offsets_in_order = true;
    let mut kept: Vec<Record> = Vec::new();
    let rebuild_possible = source != target || source != Compression::None;
    let iter = batch
        .records(DECOMPRESSED_BATCH_BYTES_MAX)
        .map_err(|e| decode_rejection(&e, tp))?;
    for (index, record) in iter.enumerate() {
        let record = record.map_err(|e| decode_rejection(&e, tp))?;
        let batch_index = i32::try_from(index).unwrap_or(i32::MAX);
        if let Some((code, message)) = check_record(&header, &record, rules, tp) {
            error_count += 1;
            any_timestamp_error |= code == ErrorCode::InvalidTimestamp;
            if record_errors.len() < RECORD_ERRORS_MAX {
                record_errors.push((batch_index, message));
            }
            continue;
        }
        if i64::from(record.offset_delta) != index as i64 {
            offsets_in_order = false;
        }
        // Records are kept (slices of the batch, no copies) only if the batch may be rebuilt.
        if rebuild_possible && error_count == 0 {
            kept.push(record);
        }
    }
    if error_count > 0 {
        return Err(record_rejection(record_errors, error_count, any_timestamp_error));
    }
    // Kafka renumbers a compressed batch whose inner offsets are not consecutive from 0 (old
    // clients wrote them wrong), and recompresses when the codec changes.
    let in_place = source == target && (source == Compression::None || offsets_in_order);
    if in_place {
        return Ok(Validated {
            records: batch.into_bytes(),
            rebuilt: false,
        });
    }
    let level = match target {
        Compression::Gzip => Some(rules.gzip_level),
        Compression::Zstd => Some(rules.zstd_level),
        _ => None,
    };
    let rebuilt = rebuild(&header, &kept, target, level, rules).map_err(|e| {
        Rejection::new(
            ErrorCode::UnknownServerError,
            Some(format!("The batch could not be recompressed as {}: {e}", target.name())),
        )
    })?;
    Ok(Validated {
        records: rebuilt,
        rebuilt: true,
    })
}

/// Kafka's `ProduceRequest.validateRecords`: the one batch of a v3+ request. Its errors carry
/// no message, as Kafka answers them.
fn request_batch(records: &Bytes, version: i16) -> Result<RecordBatch, Rejection> {
    let refuse = |code| Rejection::new(code, None);
    // The magic byte sits at the same place in every format, so old formats are recognised
    // before anything else is read.
    if records.get(MAGIC_AT).is_some_and(|&magic| magic as i8 != MAGIC_V2) {
        return Err(refuse(ErrorCode::InvalidRecord));
    }
    let mut iter = batches(records.clone());
    let batch = match iter.next() {
        Some(Ok(batch)) => batch,
        // Kafka's batch iterator stops at a partial batch: no batch at all.
        Some(Err(e)) if e.is_truncated() => return Err(refuse(ErrorCode::InvalidRecord)),
        Some(Err(e)) => return Err(Rejection::new(crate::errors::records_error_code(&e), None)),
        None => return Err(refuse(ErrorCode::InvalidRecord)),
    };
    let codec = batch
        .compression()
        .map_err(|e| refuse(crate::errors::records_error_code(&e)))?;
    if version < ZSTD_MIN_VERSION && codec == Compression::Zstd {
        return Err(refuse(ErrorCode::UnsupportedCompressionType));
    }
    match iter.next() {
        None => Ok(batch),
        // Kafka trims a partial batch at the end and appends what came before it.
        Some(Err(e)) if e.is_truncated() => Ok(batch),
        Some(_) => Err(refuse(ErrorCode::InvalidRecord)),
    }
}

/// `LogValidator.validateBatch` for a client's batch.
fn check_batch(h: &BatchHeader, tp: &str) -> Result<(), Rejection> {
    let last_offset = h.base_offset.saturating_add(i64::from(h.last_offset_delta));
    let count_from_offsets = last_offset - h.base_offset + 1;
    if count_from_offsets <= 0 {
        return Err(Rejection::invalid(format!(
            "Batch has an invalid offset range: [{}, {last_offset}] in topic partition {tp}",
            h.base_offset
        )));
    }
    if h.records_count <= 0 {
        return Err(Rejection::invalid(format!(
            "Invalid reported count for record batch: {} in topic partition {tp}",
            h.records_count
        )));
    }
    if count_from_offsets != i64::from(h.records_count) {
        return Err(Rejection::invalid(format!(
            "Inconsistent batch offset range [{}, {last_offset}] and count of records {} in topic partition {tp}",
            h.base_offset, h.records_count
        )));
    }
    if h.attributes.is_control() {
        return Err(Rejection::invalid(format!(
            "Clients are not allowed to write control records in topic partition {tp}"
        )));
    }
    if h.producer_id != NO_PRODUCER_ID && h.base_sequence < 0 {
        return Err(Rejection::invalid(format!(
            "Invalid sequence number {} in record batch with producerId {} in topic partition {tp}",
            h.base_sequence, h.producer_id
        )));
    }
    Ok(())
}

/// `LogValidator.validateRecord`: the key rule, then the timestamp rule.
fn check_record(h: &BatchHeader, record: &Record, rules: &Rules, tp: &str) -> Option<(ErrorCode, String)> {
    if rules.compacted && record.key.is_none() {
        return Some((
            ErrorCode::InvalidRecord,
            format!("Compacted topic cannot accept message without key in topic partition {tp}"),
        ));
    }
    if rules.timestamp_type == TimestampType::CreateTime && record.timestamp_ms != NO_TIMESTAMP {
        let behind_ms = rules.now_ms.saturating_sub(record.timestamp_ms);
        if behind_ms > rules.timestamp_before_max_ms || behind_ms.saturating_neg() > rules.timestamp_after_max_ms {
            return Some((
                ErrorCode::InvalidTimestamp,
                format!(
                    "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{}, {}]",
                    record.timestamp_ms,
                    record.offset,
                    rules.now_ms.saturating_sub(rules.timestamp_before_max_ms),
                    rules.now_ms.saturating_add(rules.timestamp_after_max_ms)
                ),
            ));
        }
    } else if h.attributes.timestamp_type() == TimestampType::LogAppendTime {
        return Some((
            ErrorCode::InvalidTimestamp,
            format!(
                "Invalid timestamp type in message with offset {}. Producer should not set timestamp type to LogAppendTime.",
                record.offset
            ),
        ));
    }
    None
}

/// Kafka's `processRecordErrors`: INVALID_TIMESTAMP if any record's timestamp was refused, else
/// INVALID_RECORD listing the first three.
fn record_rejection(record_errors: Vec<(i32, String)>, error_count: usize, timestamp: bool) -> Rejection {
    let (code, message) = if timestamp {
        (
            ErrorCode::InvalidTimestamp,
            "One or more records have been rejected due to invalid timestamp".to_owned(),
        )
    } else {
        let first: Vec<String> = record_errors
            .iter()
            .take(3)
            .map(|(index, message)| format!("RecordError(batchIndex={index}, message='{message}')"))
            .collect();
        (
            ErrorCode::InvalidRecord,
            format!(
                "One or more records have been rejected due to {error_count} record errors in total, and only showing the first three errors at most: [{}]",
                first.join(", ")
            ),
        )
    };
    Rejection {
        code,
        message: Some(message),
        record_errors,
    }
}

/// Builds the batch again with `codec`: same producer fields and timestamps, inner offsets
/// 0..n, and a fresh CRC. The log assigns the real offsets on append.
fn rebuild(
    h: &BatchHeader,
    records: &[Record],
    codec: Compression,
    level: Option<i32>,
    rules: &Rules,
) -> Result<Bytes, RecordsError> {
    let mut builder = BatchBuilder::new(0)
        .producer(h.producer_id, h.producer_epoch, h.base_sequence)
        .transactional(h.attributes.is_transactional());
    if rules.timestamp_type == TimestampType::LogAppendTime {
        builder = builder.log_append_time(rules.now_ms);
    }
    for (offset, record) in (0i64..).zip(records) {
        builder.append_with_offset(
            offset,
            &NewRecord {
                timestamp_ms: record.timestamp_ms,
                key: record.key.clone(),
                value: record.value.clone(),
                headers: record.headers.clone(),
            },
        )?;
    }
    // Built uncompressed, then the records section is compressed here so that the configured
    // level applies (the builder always uses the codec's default level).
    let plain = builder.build()?;
    let mut header = *plain.header();
    let bytes = plain.into_bytes();
    if codec == Compression::None {
        return Ok(bytes);
    }
    let header_bytes = sluice_protocol::records::BATCH_HEADER_BYTES;
    let mut out = Vec::with_capacity(bytes.len());
    out.resize(header_bytes, 0);
    codec.compress_with_level(bytes.get(header_bytes..).unwrap_or(&[]), &mut out, level)?;
    header.attributes = header.attributes.with_compression(codec);
    header.batch_length_bytes = i32::try_from(out.len() - sluice_protocol::records::LOG_OVERHEAD_BYTES)
        .map_err(|_| RecordsError::InvalidBuild("batch larger than i32::MAX bytes".into()))?;
    out[..header_bytes].copy_from_slice(&header.encode());
    update_crc(&mut out)?;
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            version: 9,
            topic_partition: "t-0".into(),
            target: CompressionType::Producer,
            gzip_level: -1,
            zstd_level: 3,
            compacted: false,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            now_ms: 1_700_000_000_000,
            max_message_bytes: 1 << 20,
        }
    }

    fn batch(codec: Compression, timestamps: &[i64], keyed: bool) -> Bytes {
        let mut b = BatchBuilder::new(0).compression(codec).producer(42, 3, 7);
        for (i, ts) in timestamps.iter().enumerate() {
            let key = keyed.then(|| Bytes::from(format!("k{i}")));
            let record =
                NewRecord::new(*ts, key, Some(Bytes::from(vec![b'v'; 200]))).with_header("h", Some(Bytes::from("x")));
            b.append(&record).unwrap();
        }
        b.build().unwrap().into_bytes()
    }

    fn decoded(bytes: &Bytes) -> (BatchHeader, Vec<Record>) {
        let batch = RecordBatch::parse(bytes.clone()).unwrap();
        batch.verify_crc().unwrap();
        let records = batch.records(1 << 20).unwrap().map(Result::unwrap).collect();
        (*batch.header(), records)
    }

    #[test]
    fn producer_codec_keeps_the_bytes_and_a_different_codec_recompresses() {
        let now = rules().now_ms;
        let sent = batch(Compression::Lz4, &[now - 5, now - 3, now], true);
        let kept = validate(sent.clone(), &rules()).unwrap();
        assert!(!kept.rebuilt);
        assert_eq!(kept.records, sent, "byte for byte when compression.type=producer");
        let same = validate(
            sent.clone(),
            &Rules {
                target: CompressionType::Lz4,
                ..rules()
            },
        )
        .unwrap();
        assert_eq!(same.records, sent, "byte for byte when the codec already matches");

        let (before_header, before) = decoded(&sent);
        for (target, codec) in [
            (CompressionType::Gzip, Compression::Gzip),
            (CompressionType::Snappy, Compression::Snappy),
            (CompressionType::Zstd, Compression::Zstd),
            (CompressionType::Uncompressed, Compression::None),
        ] {
            let out = validate(sent.clone(), &Rules { target, ..rules() }).unwrap();
            assert!(out.rebuilt);
            let (h, records) = decoded(&out.records);
            assert_eq!(h.attributes.compression().unwrap(), codec);
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence, h.last_offset_delta),
                (42, 3, 7, 2)
            );
            assert_eq!(h.max_timestamp_ms, before_header.max_timestamp_ms);
            assert_eq!(records.len(), before.len());
            for (a, b) in records.iter().zip(&before) {
                assert_eq!(
                    (a.timestamp_ms, &a.key, &a.value, &a.headers),
                    (b.timestamp_ms, &b.key, &b.value, &b.headers)
                );
            }
        }
    }

    #[test]
    fn gzip_level_changes_the_output() {
        let now = rules().now_ms;
        let sent = batch(Compression::None, &[now; 20], true);
        let fast = validate(
            sent.clone(),
            &Rules {
                target: CompressionType::Gzip,
                gzip_level: 1,
                ..rules()
            },
        )
        .unwrap();
        let best = validate(
            sent,
            &Rules {
                target: CompressionType::Gzip,
                gzip_level: 9,
                ..rules()
            },
        )
        .unwrap();
        assert_ne!(fast.records, best.records);
        assert_eq!(decoded(&fast.records).1.len(), 20);
    }

    #[test]
    fn timestamps_outside_the_window_are_refused_per_record() {
        let now = rules().now_ms;
        let sent = batch(Compression::Gzip, &[now, now - 10_000, now + 7_200_000, now - 1], true);
        let r = Rules {
            timestamp_before_max_ms: 5_000,
            ..rules()
        };
        let e = validate(sent.clone(), &r).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTimestamp);
        assert_eq!(
            e.message.as_deref(),
            Some("One or more records have been rejected due to invalid timestamp")
        );
        let indexes: Vec<i32> = e.record_errors.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, vec![1, 2]);
        assert!(
            e.record_errors[0].1.contains("is out of range"),
            "{}",
            e.record_errors[0].1
        );
        // LogAppendTime topics do not check the producer's timestamps.
        let r = Rules {
            timestamp_type: TimestampType::LogAppendTime,
            ..r
        };
        assert!(validate(sent, &r).is_ok());
    }

    #[test]
    fn compacted_topics_need_keys() {
        let now = rules().now_ms;
        let sent = batch(Compression::None, &[now, now], false);
        let e = validate(
            sent,
            &Rules {
                compacted: true,
                ..rules()
            },
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRecord);
        assert_eq!(e.record_errors.len(), 2);
        assert!(
            e.message
                .unwrap()
                .starts_with("One or more records have been rejected due to 2 record errors")
        );
    }

    #[test]
    fn request_rules_one_batch_magic_two_and_zstd_from_v7() {
        let now = rules().now_ms;
        let one = batch(Compression::None, &[now], true);
        let mut two = one.to_vec();
        two.extend_from_slice(&one);
        let e = validate(Bytes::from(two), &rules()).unwrap_err();
        assert_eq!((e.code, e.message), (ErrorCode::InvalidRecord, None));
        let mut old = one.to_vec();
        old[MAGIC_AT] = 1;
        assert_eq!(
            validate(Bytes::from(old), &rules()).unwrap_err().code,
            ErrorCode::InvalidRecord
        );
        let zstd = batch(Compression::Zstd, &[now], true);
        let v6 = Rules { version: 6, ..rules() };
        assert_eq!(
            validate(zstd.clone(), &v6).unwrap_err().code,
            ErrorCode::UnsupportedCompressionType
        );
        assert!(validate(zstd, &rules()).is_ok());
        assert_eq!(
            validate(Bytes::new(), &rules()).unwrap_err().code,
            ErrorCode::InvalidRecord
        );
    }
}
