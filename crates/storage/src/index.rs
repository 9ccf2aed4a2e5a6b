//! Sparse offset and time indexes: append-only files of fixed-size entries,
//! searched with `pread` (never loaded into memory).
//!
//! * `.index`: `relative_offset: u32` + `position: u32` (8 bytes, big
//!   endian), the base offset (relative to the segment's) and byte position
//!   of a batch; added after every `index_interval_bytes` of log.
//! * `.timeindex`: `timestamp_ms: i64` + `relative_offset: u32` (12 bytes):
//!   the largest batch `maxTimestamp` seen in the segment up to and including
//!   the batch at `relative_offset`. Only added when that maximum grows, so
//!   timestamps are strictly increasing.
//!
//! Both are derived data: recovery rebuilds them from the `.log`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};

/// A file of `W`-byte entries kept in increasing key order.
#[derive(Debug)]
pub(crate) struct EntryFile<const W: usize> {
    path: PathBuf,
    file: File,
    entries: u64,
}

impl<const W: usize> EntryFile<W> {
    /// Opens (creating) the file; `None` if its size is not a whole number
    /// of entries (a torn index), in which case the caller rebuilds it.
    fn open(path: &Path, truncate: bool) -> Result<(EntryFile<W>, bool)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(path)
            .map_err(|e| StorageError::io(path, e))?;
        let len = file.metadata().map_err(|e| StorageError::io(path, e))?.len();
        let whole = len % W as u64 == 0;
        let mut index = EntryFile {
            path: path.to_path_buf(),
            file,
            entries: len / W as u64,
        };
        if !whole {
            index.reset()?;
        }
        Ok((index, whole))
    }

    pub(crate) fn len(&self) -> u64 {
        self.entries
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self, i: u64) -> Result<[u8; W]> {
        let mut buf = [0u8; W];
        self.file
            .read_exact_at(&mut buf, i * W as u64)
            .map_err(|e| StorageError::io(&self.path, e))?;
        Ok(buf)
    }

    fn push(&mut self, entry: [u8; W]) -> Result<()> {
        self.file
            .write_all_at(&entry, self.entries * W as u64)
            .map_err(|e| StorageError::io(&self.path, e))?;
        self.entries += 1;
        Ok(())
    }

    /// Number of leading entries for which `pred` holds (`pred` must be true
    /// for a prefix and false after it). `log2(n)` preads.
    fn partition_point(&self, pred: impl Fn(&[u8; W]) -> bool) -> Result<u64> {
        let (mut lo, mut hi) = (0u64, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(&self.read(mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    pub(crate) fn reset(&mut self) -> Result<()> {
        self.file.set_len(0).map_err(|e| StorageError::io(&self.path, e))?;
        self.entries = 0;
        Ok(())
    }

    pub(crate) fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| StorageError::io(&self.path, e))
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    i64::from_be_bytes(a)
}

/// The `.index` file.
#[derive(Debug)]
pub(crate) struct OffsetIndex(pub(crate) EntryFile<8>);

impl OffsetIndex {
    /// Opens the index; the flag is false if it was torn and has been emptied.
    pub(crate) fn open(path: &Path, truncate: bool) -> Result<(OffsetIndex, bool)> {
        let (f, ok) = EntryFile::open(path, truncate)?;
        Ok((OffsetIndex(f), ok))
    }

    pub(crate) fn append(&mut self, relative_offset: u32, position: u32) -> Result<()> {
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&relative_offset.to_be_bytes());
        e[4..].copy_from_slice(&position.to_be_bytes());
        self.0.push(e)
    }

    pub(crate) fn entry(&self, i: u64) -> Result<(u32, u32)> {
        let e = self.0.read(i)?;
        Ok((u32_at(&e, 0), u32_at(&e, 4)))
    }

    /// The last entry whose offset is `<= relative_offset`, as
    /// `(relative_offset, position)`.
    pub(crate) fn floor(&self, relative_offset: u32) -> Result<Option<(u32, u32)>> {
        let n = self.0.partition_point(|e| u32_at(e, 0) <= relative_offset)?;
        if n == 0 { Ok(None) } else { self.entry(n - 1).map(Some) }
    }
}

/// The `.timeindex` file.
#[derive(Debug)]
pub(crate) struct TimeIndex(pub(crate) EntryFile<12>);

impl TimeIndex {
    /// Opens the index; the flag is false if it was torn and has been emptied.
    pub(crate) fn open(path: &Path, truncate: bool) -> Result<(TimeIndex, bool)> {
        let (f, ok) = EntryFile::open(path, truncate)?;
        Ok((TimeIndex(f), ok))
    }

    pub(crate) fn append(&mut self, timestamp_ms: i64, relative_offset: u32) -> Result<()> {
        let mut e = [0u8; 12];
        e[..8].copy_from_slice(&timestamp_ms.to_be_bytes());
        e[8..].copy_from_slice(&relative_offset.to_be_bytes());
        self.0.push(e)
    }

    pub(crate) fn entry(&self, i: u64) -> Result<(i64, u32)> {
        let e = self.0.read(i)?;
        Ok((i64_at(&e, 0), u32_at(&e, 8)))
    }

    pub(crate) fn last(&self) -> Result<Option<(i64, u32)>> {
        match self.0.len() {
            0 => Ok(None),
            n => self.entry(n - 1).map(Some),
        }
    }

    /// The last entry whose timestamp is `< timestamp_ms`: every batch up to
    /// and including its batch has `maxTimestamp < timestamp_ms`.
    pub(crate) fn last_below(&self, timestamp_ms: i64) -> Result<Option<(i64, u32)>> {
        let n = self.0.partition_point(|e| i64_at(e, 0) < timestamp_ms)?;
        if n == 0 { Ok(None) } else { self.entry(n - 1).map(Some) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_and_last_below_by_binary_search() {
        let dir = tempfile::tempdir().unwrap();
        let (mut index, ok) = OffsetIndex::open(&dir.path().join("0.index"), false).unwrap();
        assert!(ok);
        assert_eq!(index.floor(5).unwrap(), None);
        for i in 0..1000u32 {
            index.append(i * 10 + 3, i * 100).unwrap();
        }
        assert_eq!(index.floor(0).unwrap(), None);
        assert_eq!(index.floor(3).unwrap(), Some((3, 0)));
        for target in [4u32, 12, 13, 500, 9993, 9999, u32::MAX] {
            let (rel, pos) = index.floor(target).unwrap().unwrap();
            assert!(rel <= target && (rel == 9993 || rel + 10 > target), "{target}");
            assert_eq!(pos, (rel - 3) * 10);
        }

        let (mut time, _) = TimeIndex::open(&dir.path().join("0.timeindex"), false).unwrap();
        assert_eq!(time.last().unwrap(), None);
        for i in 0..500i64 {
            time.append(1000 + i * 2, i as u32).unwrap();
        }
        assert_eq!(time.last_below(1000).unwrap(), None);
        assert_eq!(time.last_below(1001).unwrap(), Some((1000, 0)));
        assert_eq!(time.last_below(1004).unwrap(), Some((1002, 1)));
        assert_eq!(time.last_below(1005).unwrap(), Some((1004, 2)));
        assert_eq!(time.last_below(i64::MAX).unwrap(), Some((1998, 499)));
        assert_eq!(time.last().unwrap(), Some((1998, 499)));
    }

    #[test]
    fn torn_index_is_emptied_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        std::fs::write(&path, [0u8; 13]).unwrap();
        let (index, ok) = OffsetIndex::open(&path, false).unwrap();
        assert!(!ok);
        assert_eq!(index.0.len(), 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
