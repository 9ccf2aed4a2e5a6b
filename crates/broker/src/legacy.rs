//! The old message formats (magic 0 and 1) at the broker's edge, converted as Kafka 3.x did:
//! the log holds only record batches (magic 2), so a legacy message set produced with Produce
//! v0-2 is up-converted before validation, and what Fetch v0-3 clients read is down-converted
//! (magic 0 for Fetch v0-1, magic 1 for v2-3).

use crate::validate::{DECOMPRESSED_BATCH_BYTES_MAX, Rejection};
use bytes::Bytes;
use sluice_protocol::ErrorCode;
use sluice_protocol::records::legacy::{LegacyMessage, MAGIC_V0, MAGIC_V1, decode_legacy, encode_legacy};
use sluice_protocol::records::{
    BatchBuilder, Compression, NewRecord, RecordBatch, RecordsError, TimestampType, batches,
};

/// The highest Produce version that may carry legacy message sets.
pub const PRODUCE_LEGACY_VERSION_MAX: i16 = 2;
/// The highest Fetch version whose clients read only legacy message sets.
pub const FETCH_LEGACY_VERSION_MAX: i16 = 3;

/// The magic a Fetch version's client reads: magic 0 up to v1, magic 1 for v2-3, `None` (the
/// stored batches as they are) from v4.
pub fn fetch_magic(version: i16) -> Option<i8> {
    match version {
        i16::MIN..=1 => Some(MAGIC_V0),
        2..=FETCH_LEGACY_VERSION_MAX => Some(MAGIC_V1),
        _ => None,
    }
}

/// Turns a produced legacy message set into one record batch with offsets 0, 1, ... (Kafka's
/// `LogValidator` with a v2 target): timestamps kept (magic 0 has none), keys and values kept,
/// compressed with `codec` (the topic's `compression.type`, or the wrappers' codec when that is
/// `producer`). `codec_for` maps the set's own codec to that one.
pub fn up_convert(
    records: Bytes,
    topic_partition: &str,
    codec_for: impl Fn(Compression) -> Compression,
) -> Result<Bytes, Rejection> {
    let refuse = |e: RecordsError| Rejection::from_records_error(&e, topic_partition);
    let set = decode_legacy(records, DECOMPRESSED_BATCH_BYTES_MAX).map_err(refuse)?;
    if set.messages.is_empty() {
        return Err(Rejection::from_code(ErrorCode::InvalidRecord));
    }
    let mut builder = BatchBuilder::new(0).compression(codec_for(set.compression));
    if set.timestamp_type == TimestampType::LogAppendTime {
        // Kept so that validation refuses it as Kafka does: producers may not set LogAppendTime.
        let at_ms = set.messages.iter().map(|m| m.timestamp_ms).max().unwrap_or(-1);
        builder = builder.log_append_time(at_ms);
    }
    for m in set.messages {
        builder
            .append(&NewRecord::new(m.timestamp_ms, m.key, m.value))
            .map_err(refuse)?;
    }
    Ok(builder.build().map_err(refuse)?.into_bytes())
}

/// Rewrites fetched record batches as a legacy message set of `magic` for an old consumer,
/// following Kafka's `RecordsUtil.downConvert`: control batches are left out, records below
/// `fetch_offset` (the front of the first batch) too, and headers are dropped (magic 0 drops
/// timestamps as well); each batch keeps its codec and timestamp type. As Kafka's lazy
/// down-conversion, at least one batch is converted and conversion stops once the output is as
/// large as what was read, so the response stays about the size the fetch limits allowed.
///
/// Errors: UNSUPPORTED_COMPRESSION_TYPE for a zstd batch (no legacy format can carry it),
/// CORRUPT_MESSAGE for a stored batch that does not decode.
pub fn down_convert(records: &Bytes, magic: i8, fetch_offset: i64) -> Result<Bytes, ErrorCode> {
    let size_max_bytes = records.len();
    let mut out = Vec::new();
    for batch in batches(records.clone()) {
        let batch = match batch {
            Ok(batch) => batch,
            // A fetch may end in part of a batch; the client fetches the rest next time.
            Err(e) if e.is_truncated() => break,
            Err(_) => return Err(ErrorCode::CorruptMessage),
        };
        if batch.header().attributes.is_control() {
            continue;
        }
        let (codec, timestamp_type, messages) = legacy_messages(&batch, fetch_offset)?;
        if messages.is_empty() {
            continue;
        }
        if codec == Compression::Zstd {
            return Err(ErrorCode::UnsupportedCompressionType);
        }
        encode_legacy(&mut out, magic, codec, timestamp_type, &messages).map_err(|_| ErrorCode::CorruptMessage)?;
        if out.len() >= size_max_bytes {
            break;
        }
    }
    Ok(Bytes::from(out))
}

/// One stored batch's codec, timestamp type and records at or above `fetch_offset`.
fn legacy_messages(
    batch: &RecordBatch,
    fetch_offset: i64,
) -> Result<(Compression, TimestampType, Vec<LegacyMessage>), ErrorCode> {
    let codec = batch.compression().map_err(|_| ErrorCode::CorruptMessage)?;
    let timestamp_type = batch.header().attributes.timestamp_type();
    let mut messages = Vec::new();
    let records = batch
        .records(DECOMPRESSED_BATCH_BYTES_MAX)
        .map_err(|_| ErrorCode::CorruptMessage)?;
    for record in records {
        let record = record.map_err(|_| ErrorCode::CorruptMessage)?;
        if record.offset < fetch_offset {
            continue;
        }
        messages.push(LegacyMessage {
            offset: record.offset,
            // A LogAppendTime record's timestamp is already the batch's append time.
            timestamp_ms: record.timestamp_ms,
            key: record.key,
            value: record.value,
        });
    }
    Ok((codec, timestamp_type, messages))
}
