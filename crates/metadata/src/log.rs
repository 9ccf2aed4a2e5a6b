//! The metadata log on disk: one file of framed entries, appended and fsynced.
//!
//! Each entry is `[length u32][crc32c u32][offset i64][epoch i32][record]`, big-endian, where the
//! CRC covers offset, epoch and record and `length` counts those bytes. Offsets are consecutive
//! from 0. The epoch is the leader epoch that wrote the entry: always 0 with a quorum of one, kept
//! so that a Raft-replicated log can use the same format.
//!
//! Recovery reads entries until the first one that is incomplete or fails its CRC; everything
//! from there on is a torn tail (a crash mid-append) and is truncated. A damaged entry followed by
//! a valid one, or a valid entry with an offset out of sequence, is corruption: it is reported and
//! the log is not opened, never silently truncated.

use crate::record::{MetadataRecord, RecordError};
use bytes::{BufMut, Bytes, BytesMut};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes before the CRC-covered part of an entry.
const ENTRY_PREFIX_BYTES: usize = 8;
/// Offset and epoch, at the start of the CRC-covered part.
const ENTRY_FIXED_BYTES: usize = 12;
/// The largest entry accepted; metadata records are small, so anything bigger is corruption.
pub const ENTRY_BYTES_MAX: usize = 1 << 20;
/// The largest log read at start-up. Snapshots will bound the log; until then, refuse to load
/// more than this rather than exhaust memory.
pub const LOG_BYTES_MAX: u64 = 1 << 30;

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log, from 0.
    pub offset: i64,
    /// Leader epoch that wrote it.
    pub epoch: i32,
    /// The change.
    pub record: MetadataRecord,
}

/// Why the log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: entry at byte {position} has offset {found}, expected {expected}")]
    OutOfSequence {
        path: PathBuf,
        position: u64,
        expected: i64,
        found: i64,
    },
    #[error("{path}: entry at byte {position}: {source}")]
    BadRecord {
        path: PathBuf,
        position: u64,
        source: RecordError,
    },
    #[error("{path}: {size} bytes is more than the {max} bytes the metadata log may hold")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("{path}: entry at byte {position} is damaged and valid entries follow it")]
    Corrupt { path: PathBuf, position: u64 },
    #[error("cannot encode a metadata record: {0}")]
    Encode(RecordError),
}

/// The open log, positioned for appends.
pub struct MetadataLog {
    /// The log file's path, for errors.
    path: PathBuf,
    /// The file, opened for append.
    file: File,
    /// The offset the next entry gets.
    next_offset: i64,
}

impl MetadataLog {
    /// Opens (or creates) the log at `path`, returning it with every valid entry. A torn tail is
    /// truncated and the truncation fsynced.
    pub fn open(path: &Path) -> Result<(MetadataLog, Vec<Entry>), LogError> {
        let io = |source| LogError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > LOG_BYTES_MAX {
            return Err(LogError::TooLarge {
                path: path.to_owned(),
                size,
                max: LOG_BYTES_MAX,
            });
        }
        let mut raw = Vec::with_capacity(size as usize);
        file.read_to_end(&mut raw).map_err(io)?;
        let raw = Bytes::from(raw);
        let mut entries = Vec::new();
        let mut position = 0usize;
        while let Some(entry_len) = valid_entry_len(&raw[position..]) {
            let body = raw.slice(position + ENTRY_PREFIX_BYTES..position + ENTRY_PREFIX_BYTES + entry_len);
            let offset = i64::from_be_bytes(body[..8].try_into().unwrap_or_default());
            let epoch = i32::from_be_bytes(body[8..12].try_into().unwrap_or_default());
            let expected = entries.len() as i64;
            if offset != expected {
                return Err(LogError::OutOfSequence {
                    path: path.to_owned(),
                    position: position as u64,
                    expected,
                    found: offset,
                });
            }
            let record =
                MetadataRecord::decode(body.slice(ENTRY_FIXED_BYTES..)).map_err(|source| LogError::BadRecord {
                    path: path.to_owned(),
                    position: position as u64,
                    source,
                })?;
            entries.push(Entry { offset, epoch, record });
            position += ENTRY_PREFIX_BYTES + entry_len;
        }
        if (position as u64) < size {
            // An invalid entry followed by a valid one is damage in the middle of the log, not a
            // torn append: refuse to start rather than drop committed metadata.
            if let Some(claimed) = raw
                .get(position..position + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
            {
                let next = position
                    .saturating_add(ENTRY_PREFIX_BYTES)
                    .saturating_add(claimed as usize);
                if next < raw.len() && valid_entry_len(&raw[next..]).is_some() {
                    return Err(LogError::Corrupt {
                        path: path.to_owned(),
                        position: position as u64,
                    });
                }
            }
            // A torn tail: drop it so the next append starts at a clean boundary.
            file.set_len(position as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let next_offset = entries.len() as i64;
        Ok((
            MetadataLog {
                path: path.to_owned(),
                file,
                next_offset,
            },
            entries,
        ))
    }

    /// The offset the next appended record gets.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Appends `records` as consecutive entries in one write and fsyncs before returning: a
    /// metadata change is acknowledged only once it is durable. Returns the first offset.
    pub fn append(&mut self, epoch: i32, records: &[MetadataRecord]) -> Result<i64, LogError> {
        let first = self.next_offset;
        let mut buf = BytesMut::new();
        let mut record_buf = BytesMut::new();
        for (i, record) in records.iter().enumerate() {
            record_buf.clear();
            record_buf.put_i64(first + i as i64);
            record_buf.put_i32(epoch);
            record.encode(&mut record_buf).map_err(LogError::Encode)?;
            if record_buf.len() > ENTRY_BYTES_MAX {
                return Err(LogError::Encode(RecordError::TooLong(format!(
                    "{} bytes",
                    record_buf.len()
                ))));
            }
            buf.put_u32(record_buf.len() as u32);
            buf.put_u32(crc32c::crc32c(&record_buf));
            buf.put_slice(&record_buf);
        }
        let io = |source| LogError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&buf).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.next_offset += records.len() as i64;
        Ok(first)
    }
}

/// The length of the CRC-covered part of the entry at the start of `raw`, if a whole, valid
/// entry is there.
fn valid_entry_len(raw: &[u8]) -> Option<usize> {
    let len = u32::from_be_bytes(raw.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_be_bytes(raw.get(4..8)?.try_into().ok()?);
    if !(ENTRY_FIXED_BYTES + 2..=ENTRY_BYTES_MAX).contains(&len) {
        return None;
    }
    let body = raw.get(ENTRY_PREFIX_BYTES..ENTRY_PREFIX_BYTES + len)?;
    (crc32c::crc32c(body) == crc).then_some(len)
}
