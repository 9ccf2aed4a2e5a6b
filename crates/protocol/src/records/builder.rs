//! Building v2 record batches.

use bytes::Bytes;

use super::batch::{
    ATTRIBUTES_AT, Attributes, BATCH_HEADER_BYTES, BatchHeader, CRC_AT, LOG_OVERHEAD_BYTES, MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, RecordBatch,
    TimestampType,
};
use super::compression::Compression;
use super::control::{ControlRecordType, EndTxnMarker, end_txn_marker_record};
use super::error::RecordsError;
use super::record::{Header, NewRecord, encode_record};

/// Accumulates records and encodes them as one v2 batch.
///
/// Offsets and timestamps are stored as deltas from the first record (or
/// from the delete horizon, if set); `build` fills in `batchLength`,
/// `lastOffsetDelta`, `maxTimestamp`, `recordsCount` and the CRC.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    compression: Compression,
    timestamp_type: TimestampType,
    log_append_time_ms: Option<i64>,
    delete_horizon_ms: Option<i64>,
    transactional: bool,
    control: bool,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    /// Header placeholder followed by the uncompressed records, so an
    /// uncompressed batch is finished in place.
    buf: Vec<u8>,
    count: i32,
    base_timestamp_ms: Option<i64>,
    max_timestamp_ms: i64,
    last_offset: Option<i64>,
}

impl BatchBuilder {
    /// A builder for a batch whose first offset is `base_offset`, with no
    /// compression, create-time timestamps and no producer id.
    pub fn new(base_offset: i64) -> BatchBuilder {
        BatchBuilder {
            base_offset,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            log_append_time_ms: None,
            delete_horizon_ms: None,
            transactional: false,
            control: false,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            buf: vec![0; BATCH_HEADER_BYTES],
            count: 0,
            base_timestamp_ms: None,
            max_timestamp_ms: NO_TIMESTAMP,
            last_offset: None,
        }
    }

    /// Sets the codec for the records section.
    pub fn compression(mut self, compression: Compression) -> BatchBuilder {
        self.compression = compression;
        self
    }

    /// Sets `partitionLeaderEpoch`.
    pub fn partition_leader_epoch(mut self, partition_leader_epoch: i32) -> BatchBuilder {
        self.partition_leader_epoch = partition_leader_epoch;
        self
    }

    /// Sets the idempotent producer fields.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> BatchBuilder {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction.
    pub fn transactional(mut self, on: bool) -> BatchBuilder {
        self.transactional = on;
        self
    }

    /// Marks the batch as a control batch.
    pub fn control(mut self, on: bool) -> BatchBuilder {
        self.control = on;
        self
    }

    /// Uses log-append-time timestamps: `maxTimestamp` becomes
    /// `append_time_ms` and readers report it for every record.
    pub fn log_append_time(mut self, append_time_ms: i64) -> BatchBuilder {
        self.timestamp_type = TimestampType::LogAppendTime;
        self.log_append_time_ms = Some(append_time_ms);
        self
    }

    /// Sets the delete-horizon flag and uses `delete_horizon_ms` as
    /// `baseTimestamp` (compaction only). Must be called before appending.
    pub fn delete_horizon_ms(mut self, delete_horizon_ms: i64) -> BatchBuilder {
        self.delete_horizon_ms = Some(delete_horizon_ms);
        if self.count == 0 {
            self.base_timestamp_ms = Some(delete_horizon_ms);
        }
        self
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        usize::try_from(self.count).unwrap_or(0)
    }

    /// True if nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch so far, uncompressed.
    pub fn uncompressed_size_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Appends `record` at the next offset (the base offset for the first
    /// record) and returns that offset.
    pub fn append(&mut self, record: &NewRecord) -> Result<i64, RecordsError> {
        let offset = match self.last_offset {
            None => self.base_offset,
            Some(last) => last
                .checked_add(1)
                .ok_or_else(|| RecordsError::InvalidBuild("offset overflow".into()))?,
        };
        self.append_with_offset(offset, record)?;
        Ok(offset)
    }

    /// Appends `record` at `offset`, which must be above the previous
    /// record's offset and within `i32` of the base offset (gaps are legal,
    /// as in compacted batches).
    pub fn append_with_offset(&mut self, offset: i64, record: &NewRecord) -> Result<(), RecordsError> {
        self.append_raw(
            offset,
            record.timestamp_ms,
            record.key.as_ref(),
            record.value.as_ref(),
            &record.headers,
        )
    }

    /// Appends a control record with the given key and value (for a control
    /// batch) at the next offset.
    pub fn append_control(&mut self, timestamp_ms: i64, key: Bytes, value: Option<Bytes>) -> Result<i64, RecordsError> {
        let record = NewRecord {
            timestamp_ms,
            key: Some(key),
            value,
            headers: Vec::new(),
        };
        self.append(&record)
    }

    fn append_raw(
        &mut self,
        offset: i64,
        timestamp_ms: i64,
        key: Option<&Bytes>,
        value: Option<&Bytes>,
        headers: &[Header],
    ) -> Result<(), RecordsError> {
        if timestamp_ms < 0 && timestamp_ms != NO_TIMESTAMP {
            return Err(RecordsError::InvalidBuild(format!(
                "invalid negative timestamp {timestamp_ms}"
            )));
        }
        if let Some(last) = self.last_offset {
            if offset <= last {
                return Err(RecordsError::InvalidBuild(format!(
                    "offset {offset} does not follow previous offset {last}"
                )));
            }
        }
        let offset_delta = offset
            .checked_sub(self.base_offset)
            .and_then(|d| i32::try_from(d).ok())
            .filter(|&d| d >= 0)
            .ok_or_else(|| {
                RecordsError::InvalidBuild(format!(
                    "offset {offset} is not within i32 above base offset {}",
                    self.base_offset
                ))
            })?;
        if self.count == i32::MAX {
            return Err(RecordsError::InvalidBuild("too many records".into()));
        }
        let base_timestamp_ms = *self.base_timestamp_ms.get_or_insert(timestamp_ms);
        let timestamp_delta_ms = timestamp_ms.checked_sub(base_timestamp_ms).ok_or_else(|| {
            RecordsError::InvalidBuild(format!(
                "timestamp {timestamp_ms} too far from base timestamp {base_timestamp_ms}"
            ))
        })?;
        encode_record(&mut self.buf, offset_delta, timestamp_delta_ms, key, value, headers)?;
        self.count += 1;
        self.last_offset = Some(offset);
        self.max_timestamp_ms = self.max_timestamp_ms.max(timestamp_ms);
        Ok(())
    }

    /// Encodes the batch: compresses the records if configured and fills in
    /// the header and CRC.
    pub fn build(self) -> Result<RecordBatch, RecordsError> {
        let mut buf = self.buf;
        // Kafka writes empty batches uncompressed (there is nothing to
        // compress, and readers skip the payload when the count is 0).
        let compression = if self.count == 0 {
            Compression::None
        } else {
            self.compression
        };
        if compression != Compression::None {
            let records = buf.get(BATCH_HEADER_BYTES..).unwrap_or(&[]);
            let mut out = Vec::with_capacity(BATCH_HEADER_BYTES + records.len() / 2);
            out.resize(BATCH_HEADER_BYTES, 0);
            compression.compress(records, &mut out)?;
            buf = out;
        }
        let batch_length_bytes = buf
            .len()
            .checked_sub(LOG_OVERHEAD_BYTES)
            .and_then(|len| i32::try_from(len).ok())
            .ok_or_else(|| RecordsError::InvalidBuild("batch larger than i32::MAX bytes".into()))?;
        let last_offset_delta = match self.last_offset {
            // Deltas were checked to fit an i32 on append.
            Some(last) => i32::try_from(last - self.base_offset).unwrap_or(i32::MAX),
            None => 0,
        };
        let attributes = Attributes::default()
            .with_compression(compression)
            .with_timestamp_type(self.timestamp_type)
            .with_transactional(self.transactional)
            .with_control(self.control)
            .with_delete_horizon(self.delete_horizon_ms.is_some());
        let header = BatchHeader {
            base_offset: self.base_offset,
            batch_length_bytes,
            partition_leader_epoch: self.partition_leader_epoch,
            magic: MAGIC_V2,
            crc: 0,
            attributes,
            last_offset_delta,
            base_timestamp_ms: self.base_timestamp_ms.unwrap_or(NO_TIMESTAMP),
            max_timestamp_ms: self.log_append_time_ms.unwrap_or(self.max_timestamp_ms),
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            records_count: self.count,
        };
        if let Some(slot) = buf.get_mut(..BATCH_HEADER_BYTES) {
            slot.copy_from_slice(&header.encode());
        }
        let crc = crc32c::crc32c(buf.get(ATTRIBUTES_AT..).unwrap_or(&[]));
        if let Some(slot) = buf.get_mut(CRC_AT..CRC_AT + 4) {
            slot.copy_from_slice(&crc.to_be_bytes());
        }
        RecordBatch::parse(Bytes::from(buf))
    }
}

/// Builds the control batch a transaction coordinator writes to end a
/// transaction: transactional + control flags, one ABORT or COMMIT record,
/// no base sequence.
pub fn end_txn_marker_batch(
    base_offset: i64,
    producer_id: i64,
    producer_epoch: i16,
    record_type: ControlRecordType,
    marker: EndTxnMarker,
    timestamp_ms: i64,
) -> Result<RecordBatch, RecordsError> {
    if !record_type.is_transaction_marker() {
        return Err(RecordsError::InvalidBuild(format!(
            "{record_type:?} is not a transaction marker type"
        )));
    }
    let (key, value) = end_txn_marker_record(record_type, marker);
    let mut builder = BatchBuilder::new(base_offset)
        .producer(producer_id, producer_epoch, NO_SEQUENCE)
        .transactional(true)
        .control(true);
    builder.append_control(timestamp_ms, key, Some(value))?;
    builder.build()
}
