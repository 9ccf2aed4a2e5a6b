//! Individual records inside a (decompressed) v2 batch: lazy decoding and
//! encoding.

use bytes::Bytes;

use super::batch::{BatchHeader, TimestampType};
use super::error::RecordsError;
use super::wire::{Reader, put_varint, put_varlong, varint_len, varlong_len};

/// Most headers a record gets room for before its header count has been
/// confirmed by actually decoding them; more grow the `Vec` normally.
const MAX_HEADER_PREALLOC: usize = 16;
/// Smallest encoding of one header: key length varint + value length varint.
const MIN_HEADER_BYTES: usize = 2;

/// A record header: a key (a string by convention) and an optional value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Header name. Kafka defines it as a UTF-8 string but does not enforce
    /// it on the wire, so it is kept as bytes; see [`Header::key_str`].
    pub key: Bytes,
    /// Header value; `None` is distinct from empty on the wire.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with the given key and value.
    pub fn new(key: impl Into<Bytes>, value: Option<Bytes>) -> Header {
        Header { key: key.into(), value }
    }

    /// The key as UTF-8, if it is valid UTF-8.
    pub fn key_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.key)
    }
}

/// A decoded record. Key, value and header fields are zero-copy slices of
/// the batch's (decompressed) records buffer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// Absolute offset: the batch's `baseOffset` plus `offset_delta`.
    pub offset: i64,
    /// Absolute timestamp: `baseTimestamp + timestamp_delta_ms`, or the
    /// batch's `maxTimestamp` for log-append-time batches (as Kafka reports
    /// it).
    pub timestamp_ms: i64,
    /// Offset relative to the batch's `baseOffset`, as stored.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's `baseTimestamp`, as stored.
    pub timestamp_delta_ms: i64,
    /// Record-level attributes; unused by Kafka so far, kept for fidelity.
    pub attributes: i8,
    /// Record key; `None` (length -1) is distinct from empty.
    pub key: Option<Bytes>,
    /// Record value; `None` (length -1) is a tombstone for compaction.
    pub value: Option<Bytes>,
    /// Record headers in wire order (keys may repeat).
    pub headers: Vec<Header>,
}

/// Lazily decodes the records of one batch, yielding
/// `Result<Record, RecordsError>`.
///
/// Checks every varint, every length against the bytes that remain, each
/// record's declared size against what its fields used, and the number of
/// records against `recordsCount` (too few and trailing bytes are both
/// errors). Stops after the first error.
#[derive(Clone, Debug)]
pub struct RecordIter {
    data: Bytes,
    pos: usize,
    declared_count: i32,
    decoded_count: usize,
    base_offset: i64,
    base_timestamp_ms: i64,
    log_append_time_ms: Option<i64>,
    done: bool,
}

impl RecordIter {
    /// Iterates the records in `data` (the batch's decompressed records
    /// section) using the base values of `header`.
    pub fn new(header: &BatchHeader, data: Bytes) -> RecordIter {
        let log_append_time_ms = match header.attributes.timestamp_type() {
            TimestampType::LogAppendTime => Some(header.max_timestamp_ms),
            TimestampType::CreateTime => None,
        };
        RecordIter {
            data,
            pos: 0,
            declared_count: header.records_count,
            decoded_count: 0,
            base_offset: header.base_offset,
            base_timestamp_ms: header.base_timestamp_ms,
            log_append_time_ms,
            done: false,
        }
    }

    /// Records still expected according to `recordsCount`.
    pub fn remaining_count(&self) -> usize {
        usize::try_from(self.declared_count)
            .unwrap_or(0)
            .saturating_sub(self.decoded_count)
    }

    fn decode_next(&mut self) -> Result<Record, RecordsError> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let mut r = Reader::new(rest);
        let length = r.read_varint("record length")?;
        let body_len =
            usize::try_from(length)
                .ok()
                .filter(|&len| len <= r.remaining())
                .ok_or(RecordsError::InvalidLength {
                    field: "record length",
                    length: i64::from(length),
                    available: r.remaining(),
                })?;
        let body_start = self.pos + r.position();
        let body_end = body_start + body_len;
        let body = self.data.get(body_start..body_end).unwrap_or(&[]);
        let mut r = Reader::new(body);

        let attributes = r.read_i8("record attributes")?;
        let timestamp_delta_ms = r.read_varlong("record timestamp delta")?;
        let offset_delta = r.read_varint("record offset delta")?;
        let key = self.read_nullable(&mut r, body_start, "record key")?;
        let value = self.read_nullable(&mut r, body_start, "record value")?;

        let header_count = r.read_varint("header count")?;
        let header_count = usize::try_from(header_count)
            .ok()
            .filter(|&n| n <= r.remaining() / MIN_HEADER_BYTES)
            .ok_or(RecordsError::InvalidLength {
                field: "header count",
                length: i64::from(header_count),
                available: r.remaining(),
            })?;
        let mut headers = Vec::with_capacity(header_count.min(MAX_HEADER_PREALLOC));
        for _ in 0..header_count {
            let key = self
                .read_nullable(&mut r, body_start, "header key")?
                .ok_or(RecordsError::InvalidLength {
                    field: "header key",
                    length: -1,
                    available: r.remaining(),
                })?;
            let value = self.read_nullable(&mut r, body_start, "header value")?;
            headers.push(Header { key, value });
        }
        if r.remaining() != 0 {
            return Err(RecordsError::RecordSizeMismatch {
                declared: body_len,
                used: r.position(),
            });
        }

        let offset = self
            .base_offset
            .checked_add(i64::from(offset_delta))
            .ok_or(RecordsError::Overflow {
                field: "record offset",
                base: self.base_offset,
                delta: i64::from(offset_delta),
            })?;
        let timestamp_ms = match self.log_append_time_ms {
            Some(t) => t,
            None => self
                .base_timestamp_ms
                .checked_add(timestamp_delta_ms)
                .ok_or(RecordsError::Overflow {
                    field: "record timestamp",
                    base: self.base_timestamp_ms,
                    delta: timestamp_delta_ms,
                })?,
        };
        self.pos = body_end;
        Ok(Record {
            offset,
            timestamp_ms,
            offset_delta,
            timestamp_delta_ms,
            attributes,
            key,
            value,
            headers,
        })
    }

    /// Reads a varint length (-1 = null) and that many bytes as a slice of
    /// `self.data`; `base` is where `r`'s buffer starts within `self.data`.
    fn read_nullable(
        &self,
        r: &mut Reader<'_>,
        base: usize,
        field: &'static str,
    ) -> Result<Option<Bytes>, RecordsError> {
        let len = r.read_varint(field)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| RecordsError::InvalidLength {
            field,
            length: i64::from(len),
            available: r.remaining(),
        })?;
        let range = r.take_range(len, field)?;
        Ok(Some(self.data.slice(base + range.start..base + range.end)))
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let remaining_bytes = self.data.len().saturating_sub(self.pos);
        if self.remaining_count() == 0 {
            self.done = true;
            if remaining_bytes != 0 {
                return Some(Err(RecordsError::TrailingBytes {
                    declared: self.declared_count,
                    trailing_bytes: remaining_bytes,
                }));
            }
            return None;
        }
        if remaining_bytes == 0 {
            self.done = true;
            return Some(Err(RecordsError::RecordCountMismatch {
                declared: self.declared_count,
                found: self.decoded_count,
            }));
        }
        match self.decode_next() {
            Ok(record) => {
                self.decoded_count += 1;
                Some(Ok(record))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            // One more item may be an error about trailing bytes.
            (0, self.remaining_count().checked_add(1))
        }
    }
}

/// A record to append to a batch with [`BatchBuilder`](super::BatchBuilder).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NewRecord {
    /// Creation timestamp; must be non-negative or -1 (none), as Kafka
    /// requires.
    pub timestamp_ms: i64,
    /// Record key; `None` is written as length -1.
    pub key: Option<Bytes>,
    /// Record value; `None` is written as length -1 (a tombstone).
    pub value: Option<Bytes>,
    /// Record headers, written in order.
    pub headers: Vec<Header>,
}

impl NewRecord {
    /// A record with the given timestamp, key and value and no headers.
    pub fn new(timestamp_ms: i64, key: Option<Bytes>, value: Option<Bytes>) -> NewRecord {
        NewRecord {
            timestamp_ms,
            key,
            value,
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, key: impl Into<Bytes>, value: Option<Bytes>) -> NewRecord {
        self.headers.push(Header::new(key, value));
        self
    }
}

fn too_large(field: &str) -> RecordsError {
    RecordsError::InvalidBuild(format!("{field} longer than i32::MAX bytes"))
}

fn nullable_len(field: &str, b: Option<&Bytes>) -> Result<(i32, usize), RecordsError> {
    match b {
        None => Ok((-1, varint_len(-1))),
        Some(b) => {
            let len = i32::try_from(b.len()).map_err(|_| too_large(field))?;
            Ok((len, varint_len(len) + b.len()))
        }
    }
}

fn put_nullable(out: &mut Vec<u8>, len: i32, b: Option<&Bytes>) {
    put_varint(out, len);
    if let Some(b) = b {
        out.extend_from_slice(b);
    }
}

/// Appends one record in wire format (length varint first) to `out`.
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    offset_delta: i32,
    timestamp_delta_ms: i64,
    key: Option<&Bytes>,
    value: Option<&Bytes>,
    headers: &[Header],
) -> Result<(), RecordsError> {
    let (key_len, key_size) = nullable_len("key", key)?;
    let (value_len, value_size) = nullable_len("value", value)?;
    let header_count = i32::try_from(headers.len()).map_err(|_| too_large("headers"))?;
    let mut body: usize = 1 // attributes
        + varlong_len(timestamp_delta_ms)
        + varint_len(offset_delta)
        + key_size
        + value_size
        + varint_len(header_count);
    let mut header_lens = Vec::with_capacity(headers.len());
    for h in headers {
        let (k, ks) = nullable_len("header key", Some(&h.key))?;
        let (v, vs) = nullable_len("header value", h.value.as_ref())?;
        body = body.checked_add(ks + vs).ok_or_else(|| too_large("record"))?;
        header_lens.push((k, v));
    }
    let body_len = i32::try_from(body).map_err(|_| too_large("record"))?;
    out.reserve(varint_len(body_len) + body);
    put_varint(out, body_len);
    out.push(0); // attributes
    put_varlong(out, timestamp_delta_ms);
    put_varint(out, offset_delta);
    put_nullable(out, key_len, key);
    put_nullable(out, value_len, value);
    put_varint(out, header_count);
    for (h, (k, v)) in headers.iter().zip(header_lens) {
        put_nullable(out, k, Some(&h.key));
        put_nullable(out, v, h.value.as_ref());
    }
    Ok(())
}
