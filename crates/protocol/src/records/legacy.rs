//! Legacy message sets: the message formats before record batches, magic 0 (Kafka 0.8-0.9)
//! and magic 1 (0.10, adds a timestamp). Produce v0-2 may carry them, and Fetch v0-3 clients
//! can only read them, so the broker converts both ways, as Kafka 3.x did.
//!
//! An entry is `offset: i64, size: i32` followed by a message: `crc: u32` (CRC-32 of the rest),
//! `magic: i8`, `attributes: i8` (codec in bits 0-2, timestamp type in bit 3 for magic 1),
//! `timestamp: i64` (magic 1 only), then `key` and `value` as `i32`-length byte strings (-1 is
//! null). A compressed message is a wrapper whose value is a whole message set, compressed:
//! with magic 0 the inner offsets are absolute, with magic 1 they count from 0 and the
//! wrapper's offset is that of the last inner message.

use bytes::Bytes;

use super::compression::set_lz4_header_checksum;
use super::{Compression, NO_TIMESTAMP, RecordsError, TimestampType};

/// Magic 0: no timestamps.
pub const MAGIC_V0: i8 = 0;
/// Magic 1: a timestamp per message.
pub const MAGIC_V1: i8 = 1;

/// `offset` and `size` in front of every message.
const ENTRY_OVERHEAD_BYTES: usize = 12;
/// The smallest magic 0 message: crc, magic, attributes, key length, value length.
const MESSAGE_MIN_V0_BYTES: usize = 14;
/// The smallest magic 1 message: the magic 0 fields plus the timestamp.
const MESSAGE_MIN_V1_BYTES: usize = 22;
const CODEC_MASK: u8 = 0x07;
const TIMESTAMP_TYPE_BIT: u8 = 0x08;

/// One message of a legacy message set, compressed wrappers already opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyMessage {
    /// Absolute offset (inner relative offsets already resolved).
    pub offset: i64,
    /// Timestamp; [`NO_TIMESTAMP`] for magic 0.
    pub timestamp_ms: i64,
    /// Key; `None` for a null key.
    pub key: Option<Bytes>,
    /// Value; `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
}

/// A decoded legacy message set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacySet {
    /// The set's magic (every message has the same one).
    pub magic: i8,
    /// The codec of its compressed wrappers; [`Compression::None`] when none was compressed.
    pub compression: Compression,
    /// Whose clock the timestamps are (a magic 1 wrapper may say LogAppendTime).
    pub timestamp_type: TimestampType,
    /// Every message, in order.
    pub messages: Vec<LegacyMessage>,
}

/// One message as framed, before a wrapper is opened.
struct Entry {
    offset: i64,
    magic: i8,
    attributes: u8,
    timestamp_ms: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

fn read_i32(buf: &[u8], at: usize) -> Option<i32> {
    buf.get(at..at + 4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_i64(buf: &[u8], at: usize) -> Option<i64> {
    let b = buf.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(i64::from_be_bytes(a))
}

/// CRC-32 (IEEE), the legacy message checksum (record batches use CRC-32C).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// Reads a nullable `i32`-length byte string of `message` at `*at`.
fn read_bytes(message: &Bytes, at: &mut usize, field: &'static str) -> Result<Option<Bytes>, RecordsError> {
    let available = message.len().saturating_sub(*at + 4);
    let len = read_i32(message, *at).ok_or(RecordsError::Truncated {
        needed: *at + 4,
        available: message.len(),
    })?;
    *at += 4;
    if len == -1 {
        return Ok(None);
    }
    let len_bytes = usize::try_from(len)
        .ok()
        .filter(|&l| l <= available)
        .ok_or(RecordsError::InvalidLength {
            field,
            length: i64::from(len),
            available,
        })?;
    let out = message.slice(*at..*at + len_bytes);
    *at += len_bytes;
    Ok(Some(out))
}

/// Decodes the message at the start of `buf`. `Ok(None)` when `buf` holds only part of an
/// entry: a fetch may end with one, and Kafka drops such a tail from a produced set.
fn read_entry(buf: &Bytes) -> Result<Option<(Entry, usize)>, RecordsError> {
    let (Some(offset), Some(size)) = (read_i64(buf, 0), read_i32(buf, 8)) else {
        return Ok(None);
    };
    let size_bytes = usize::try_from(size)
        .ok()
        .filter(|&s| s >= MESSAGE_MIN_V0_BYTES)
        .ok_or(RecordsError::InvalidLength {
            field: "message size",
            length: i64::from(size),
            available: buf.len() - ENTRY_OVERHEAD_BYTES,
        })?;
    let end = ENTRY_OVERHEAD_BYTES + size_bytes;
    if buf.len() < end {
        return Ok(None);
    }
    let message = buf.slice(ENTRY_OVERHEAD_BYTES..end);
    let stored = u32::from_be_bytes([message[0], message[1], message[2], message[3]]);
    let computed = crc32(&message[4..]);
    if stored != computed {
        return Err(RecordsError::CrcMismatch { stored, computed });
    }
    let magic = message[4] as i8;
    if magic != MAGIC_V0 && magic != MAGIC_V1 {
        return Err(RecordsError::InvalidMagic(magic));
    }
    let attributes = message[5];
    let mut at = 6;
    let timestamp_ms = if magic == MAGIC_V1 {
        if size_bytes < MESSAGE_MIN_V1_BYTES {
            return Err(RecordsError::Truncated {
                needed: MESSAGE_MIN_V1_BYTES,
                available: size_bytes,
            });
        }
        at += 8;
        read_i64(&message, 6).unwrap_or(NO_TIMESTAMP)
    } else {
        NO_TIMESTAMP
    };
    let key = read_bytes(&message, &mut at, "message key")?;
    let value = read_bytes(&message, &mut at, "message value")?;
    if at != size_bytes {
        return Err(RecordsError::RecordSizeMismatch {
            declared: size_bytes,
            used: at,
        });
    }
    let entry = Entry {
        offset,
        magic,
        attributes,
        timestamp_ms,
        key,
        value,
    };
    Ok(Some((entry, end)))
}

/// Every whole entry of `set`, in order; a partial entry at the end is dropped.
fn read_entries(mut set: Bytes) -> Result<Vec<Entry>, RecordsError> {
    let mut out = Vec::new();
    while let Some((entry, used)) = read_entry(&set)? {
        out.push(entry);
        set = set.slice(used..);
    }
    Ok(out)
}

/// Whether `set` starts with a legacy message (magic 0 or 1) rather than a record batch.
pub fn is_legacy(set: &[u8]) -> bool {
    matches!(set.get(16).map(|&m| m as i8), Some(MAGIC_V0 | MAGIC_V1))
}

/// Decodes a legacy message set, opening compressed wrappers.
///
/// Every message's CRC is checked. All decompressed wrappers together may take at most
/// `decompressed_bytes_max` bytes. A wrapper may not hold compressed messages or messages of
/// another magic, and every message of the set must have the same magic. A partial entry at
/// the end is dropped, as Kafka drops it.
pub fn decode_legacy(set: Bytes, decompressed_bytes_max: usize) -> Result<LegacySet, RecordsError> {
    let mut out = LegacySet {
        magic: MAGIC_V0,
        compression: Compression::None,
        timestamp_type: TimestampType::CreateTime,
        messages: Vec::new(),
    };
    let mut budget_bytes = decompressed_bytes_max;
    for (i, entry) in read_entries(set)?.into_iter().enumerate() {
        if i == 0 {
            out.magic = entry.magic;
        } else if entry.magic != out.magic {
            return Err(RecordsError::InvalidLegacyMessage(
                "messages of different magic in one set",
            ));
        }
        let codec = Compression::from_id(entry.attributes & CODEC_MASK)?;
        let log_append_time = entry.magic == MAGIC_V1 && entry.attributes & TIMESTAMP_TYPE_BIT != 0;
        if log_append_time {
            out.timestamp_type = TimestampType::LogAppendTime;
        }
        if codec == Compression::None {
            out.messages.push(LegacyMessage {
                offset: entry.offset,
                timestamp_ms: entry.timestamp_ms,
                key: entry.key,
                value: entry.value,
            });
            continue;
        }
        out.compression = codec;
        let inner = open_wrapper(&entry, codec, &mut budget_bytes)?;
        let last_inner = inner.last().map_or(0, |m| m.offset);
        for m in inner {
            out.messages.push(LegacyMessage {
                // Magic 1 inner offsets count from the wrapper's first; magic 0 ones are absolute.
                offset: if entry.magic == MAGIC_V1 {
                    entry.offset - last_inner + m.offset
                } else {
                    m.offset
                },
                // A LogAppendTime wrapper's timestamp is every inner message's.
                timestamp_ms: if log_append_time {
                    entry.timestamp_ms
                } else {
                    m.timestamp_ms
                },
                key: m.key,
                value: m.value,
            });
        }
    }
    Ok(out)
}

/// The messages inside a compressed wrapper, offsets as stored in it.
fn open_wrapper(
    entry: &Entry,
    codec: Compression,
    budget_bytes: &mut usize,
) -> Result<Vec<LegacyMessage>, RecordsError> {
    if codec == Compression::Zstd {
        return Err(RecordsError::InvalidLegacyMessage("zstd needs message format v2"));
    }
    let Some(compressed) = &entry.value else {
        return Err(RecordsError::InvalidLegacyMessage("compressed message without a value"));
    };
    let compressed = if codec == Compression::Lz4 && entry.magic == MAGIC_V0 {
        // Kafka wrote magic 0 LZ4 frames with a header checksum over the wrong bytes.
        let mut fixed = compressed.to_vec();
        set_lz4_header_checksum(&mut fixed, false);
        Bytes::from(fixed)
    } else {
        compressed.clone()
    };
    let data = codec.decompress(&compressed, *budget_bytes)?;
    *budget_bytes -= data.len();
    let mut inner = Vec::new();
    for e in read_entries(data)? {
        if e.attributes & CODEC_MASK != 0 {
            return Err(RecordsError::InvalidLegacyMessage(
                "compressed message inside a compressed message",
            ));
        }
        if e.magic != entry.magic {
            return Err(RecordsError::InvalidLegacyMessage(
                "inner message magic differs from its wrapper's",
            ));
        }
        inner.push(LegacyMessage {
            offset: e.offset,
            timestamp_ms: e.timestamp_ms,
            key: e.key,
            value: e.value,
        });
    }
    Ok(inner)
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&Bytes>) -> Result<(), RecordsError> {
    match b {
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(b) => {
            let len = i32::try_from(b.len())
                .map_err(|_| RecordsError::InvalidBuild("message field longer than i32::MAX bytes".into()))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

/// Appends one entry (offset, size, message) to `out`.
fn put_entry(
    out: &mut Vec<u8>,
    offset: i64,
    magic: i8,
    attributes: u8,
    timestamp_ms: i64,
    key: Option<&Bytes>,
    value: Option<&Bytes>,
) -> Result<(), RecordsError> {
    let start = out.len();
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&[0; 8]); // size and crc, written below
    out.push(magic as u8);
    out.push(attributes);
    if magic == MAGIC_V1 {
        out.extend_from_slice(&timestamp_ms.to_be_bytes());
    }
    put_bytes(out, key)?;
    put_bytes(out, value)?;
    let size = i32::try_from(out.len() - start - ENTRY_OVERHEAD_BYTES)
        .map_err(|_| RecordsError::InvalidBuild("message longer than i32::MAX bytes".into()))?;
    out[start + 8..start + 12].copy_from_slice(&size.to_be_bytes());
    let crc = crc32(&out[start + 16..]);
    out[start + 12..start + 16].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Appends `messages` to `out` as a legacy message set of `magic` (0 or 1).
///
/// Uncompressed, each message is an entry of its own. Compressed, they all go into one wrapper
/// whose offset is the last message's, with Kafka's inner offsets (absolute for magic 0,
/// relative to the first message for magic 1) and, for magic 1, the largest timestamp (or, for
/// LogAppendTime, the messages' common one). Magic 0 drops timestamps. Magic 0 LZ4 gets the
/// header checksum Kafka wrote for it. Zstd is refused: only record batches may use it.
pub fn encode_legacy(
    out: &mut Vec<u8>,
    magic: i8,
    compression: Compression,
    timestamp_type: TimestampType,
    messages: &[LegacyMessage],
) -> Result<(), RecordsError> {
    if magic != MAGIC_V0 && magic != MAGIC_V1 {
        return Err(RecordsError::InvalidMagic(magic));
    }
    let type_bit = if magic == MAGIC_V1 && timestamp_type == TimestampType::LogAppendTime {
        TIMESTAMP_TYPE_BIT
    } else {
        0
    };
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Ok(());
    };
    if compression == Compression::None {
        for m in messages {
            put_entry(
                out,
                m.offset,
                magic,
                type_bit,
                m.timestamp_ms,
                m.key.as_ref(),
                m.value.as_ref(),
            )?;
        }
        return Ok(());
    }
    if compression == Compression::Zstd {
        return Err(RecordsError::InvalidLegacyMessage("zstd needs message format v2"));
    }
    let mut inner = Vec::new();
    for m in messages {
        let offset = if magic == MAGIC_V1 {
            m.offset - first.offset
        } else {
            m.offset
        };
        put_entry(
            &mut inner,
            offset,
            magic,
            type_bit,
            m.timestamp_ms,
            m.key.as_ref(),
            m.value.as_ref(),
        )?;
    }
    let mut compressed = Vec::new();
    compression.compress(&inner, &mut compressed)?;
    if compression == Compression::Lz4 && magic == MAGIC_V0 {
        set_lz4_header_checksum(&mut compressed, true);
    }
    let wrapper_timestamp_ms = messages.iter().map(|m| m.timestamp_ms).max().unwrap_or(NO_TIMESTAMP);
    let attributes = compression.id() | type_bit;
    let value = Bytes::from(compressed);
    put_entry(
        out,
        last.offset,
        magic,
        attributes,
        wrapper_timestamp_ms,
        None,
        Some(&value),
    )
}
