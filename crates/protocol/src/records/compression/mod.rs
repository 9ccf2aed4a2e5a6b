//! Record batch compression codecs, with a hard cap on decompressed size.
//!
//! Every decoder writes into an output buffer whose growth this module
//! controls ([`CappedBuf`]): its capacity never exceeds `max_bytes + 1`, and a
//! decoder that produces byte `max_bytes + 1` is stopped with
//! [`RecordsError::DecompressedTooLarge`]. Sizes a format declares up front
//! (snappy's length preambles, LZ4/zstd frame content size) are checked
//! against the cap *before* anything is allocated; gzip's ISIZE trailer is
//! only a capacity hint (clamped to the cap), since it cannot be trusted.
//!
//! Working memory outside the output buffer is small and independent of the
//! input: gzip uses flate2's ~40 KiB inflate state, snappy and LZ4 decode
//! straight into the output buffer, and zstd's window (allocated by libzstd
//! in C) is limited through `window_log_max` to
//! `max(8 MiB, max_bytes rounded up to a power of two)`.

mod lz4;
mod snappy;

pub(crate) use lz4::set_header_checksum as set_lz4_header_checksum;

use std::io::{Read, Write};

use bytes::Bytes;

use super::error::RecordsError;

/// A record batch compression codec (attribute bits 0-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Records are stored as is (id 0).
    #[default]
    None,
    /// gzip (RFC 1952) members, possibly concatenated (id 1).
    Gzip,
    /// Snappy; decodes both the xerial framing the Java client writes and raw
    /// snappy as librdkafka writes by default; encodes xerial (id 2).
    Snappy,
    /// The standard LZ4 frame format (id 3).
    Lz4,
    /// Zstandard frames (id 4).
    Zstd,
}

/// gzip level Kafka uses by default (zlib's default, what `-1` means).
const GZIP_LEVEL: u32 = 6;

/// The flate2 level for a configured gzip level: 1-9 as given, anything else (Kafka's -1)
/// the default.
fn gzip_level(level: Option<i32>) -> u32 {
    match level {
        Some(l @ 1..=9) => l as u32,
        _ => GZIP_LEVEL,
    }
}

/// zstd level Kafka's Java producer uses by default.
const ZSTD_LEVEL: i32 = 3;
/// Smallest zstd window we always accept: level 19 (the highest non-"ultra"
/// level) streams with 8 MiB windows.
const ZSTD_MIN_WINDOW_LOG: u32 = 23;
/// Deflate cannot expand by more than about 1032:1; used to bound the
/// capacity hint taken from gzip's (attacker-controlled) ISIZE trailer.
const DEFLATE_MAX_RATIO: usize = 1032;
/// gzip member magic and the deflate method byte.
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
/// Capacity to start with when the format declares nothing.
const MIN_INITIAL_CAPACITY: usize = 4 * 1024;
/// How much of the reserved capacity is zero-filled at a time, so that an
/// inflated capacity hint does not touch memory the decoder never writes.
const FILL_STEP: usize = 64 * 1024;

impl Compression {
    /// All codecs, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with attribute id `id` (0-4).
    pub fn from_id(id: u8) -> Result<Compression, RecordsError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(RecordsError::UnknownCompression(other)),
        }
    }

    /// The codec's id in the batch attributes.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec's name as used in Kafka's `compression.type` config.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Compresses `input` and appends the result to `out`, in the form the
    /// Java client writes (gzip level 6, xerial snappy with 32 KiB blocks,
    /// LZ4 frame with independent 64 KiB blocks and no checksums, zstd
    /// level 3). [`Compression::None`] appends `input` unchanged.
    pub fn compress(self, input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
        self.compress_with_level(input, out, None)
    }

    /// Like [`Compression::compress`], with a codec level as Kafka's `compression.gzip.level`
    /// (1-9, or -1 for the default 6) and `compression.zstd.level` configure it; `None` keeps the
    /// defaults. snappy has no levels, and the LZ4 encoder here only has its fast mode, so a
    /// `compression.lz4.level` does not change the output (any LZ4 reader decodes it either way).
    pub fn compress_with_level(self, input: &[u8], out: &mut Vec<u8>, level: Option<i32>) -> Result<(), RecordsError> {
        let err = |e: std::io::Error| RecordsError::Compression {
            codec: self,
            message: e.to_string(),
        };
        match self {
            Compression::None => {
                out.extend_from_slice(input);
                Ok(())
            }
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(gzip_level(level)));
                enc.write_all(input).map_err(err)?;
                enc.finish().map_err(err)?;
                Ok(())
            }
            Compression::Snappy => snappy::compress_xerial(input, out),
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .block_mode(lz4_flex::frame::BlockMode::Independent);
                let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
                enc.write_all(input).map_err(err)?;
                enc.finish().map_err(|e| RecordsError::Compression {
                    codec: self,
                    message: e.to_string(),
                })?;
                Ok(())
            }
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(out, level.unwrap_or(ZSTD_LEVEL)).map_err(err)?;
                // Pledging the size records it in the frame header, which lets
                // the decoder size its output exactly and reject bombs early.
                let len = u64::try_from(input.len()).unwrap_or(u64::MAX);
                enc.set_pledged_src_size(Some(len)).map_err(err)?;
                enc.include_contentsize(true).map_err(err)?;
                enc.write_all(input).map_err(err)?;
                enc.finish().map_err(err)?;
                Ok(())
            }
        }
    }

    /// Decompresses `input`, failing with
    /// [`RecordsError::DecompressedTooLarge`] as soon as the output would
    /// exceed `max_bytes`; never allocates more than `max_bytes + 1` bytes of
    /// output. [`Compression::None`] returns `input` itself (zero copy, no
    /// cap: nothing expands).
    pub fn decompress(self, input: &Bytes, max_bytes: usize) -> Result<Bytes, RecordsError> {
        let out = match self {
            Compression::None => return Ok(input.clone()),
            Compression::Gzip => decompress_gzip(input, max_bytes)?,
            Compression::Snappy => snappy::decompress(input, max_bytes)?,
            Compression::Lz4 => lz4::decompress(input, max_bytes)?,
            Compression::Zstd => decompress_zstd(input, max_bytes)?,
        };
        Ok(Bytes::from(out))
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn decompress_gzip(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    // ISIZE (the last 4 bytes) is the last member's size mod 2^32. It is
    // attacker-controlled and, in corrupt input, meaningless, so it is only
    // a capacity hint, bounded by deflate's maximum ratio (and by the cap in
    // `CappedBuf`); the cap itself is enforced on the real output.
    let mut hint = MIN_INITIAL_CAPACITY;
    if input.starts_with(&GZIP_MAGIC) {
        if let Some(tail) = input.len().checked_sub(4).and_then(|at| input.get(at..)) {
            let mut isize_bytes = [0u8; 4];
            isize_bytes.copy_from_slice(tail);
            let declared = usize::try_from(u32::from_le_bytes(isize_bytes)).unwrap_or(usize::MAX);
            hint = declared.min(input.len().saturating_mul(DEFLATE_MAX_RATIO));
        }
    }
    let decoder = flate2::bufread::MultiGzDecoder::new(input);
    read_capped(decoder, Compression::Gzip, max_bytes, hint)
}

fn decompress_zstd(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Zstd;
    let mut hint = MIN_INITIAL_CAPACITY.max(input.len().saturating_mul(4));
    if let Ok(Some(declared)) = zstd::zstd_safe::get_frame_content_size(input) {
        let declared = usize::try_from(declared).unwrap_or(usize::MAX);
        if declared > max_bytes {
            return Err(RecordsError::DecompressedTooLarge { max_bytes });
        }
        hint = declared;
    }
    let err = |e: std::io::Error| RecordsError::Decompression {
        codec,
        message: e.to_string(),
    };
    let mut decoder = zstd::stream::read::Decoder::with_buffer(input).map_err(err)?;
    // Bound libzstd's window allocation by the cap (but always accept the
    // windows real producers use, even when the cap is small).
    let cap_log = usize::BITS - max_bytes.saturating_sub(1).leading_zeros();
    let max_log = if cfg!(target_pointer_width = "64") { 31 } else { 30 };
    let window_log = cap_log.clamp(ZSTD_MIN_WINDOW_LOG, max_log);
    decoder.window_log_max(window_log).map_err(err)?;
    read_capped(decoder, codec, max_bytes, hint)
}

/// Reads `reader` to the end into a buffer capped at `max_bytes`.
fn read_capped<R: Read>(
    mut reader: R,
    codec: Compression,
    max_bytes: usize,
    hint: usize,
) -> Result<Vec<u8>, RecordsError> {
    let mut out = CappedBuf::new(max_bytes, hint);
    loop {
        let spare = out.spare(FILL_STEP)?;
        match reader.read(spare) {
            Ok(0) => break,
            Ok(n) => out.advance(n)?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(RecordsError::Decompression {
                    codec,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(out.finish())
}

/// An output buffer that never grows past `max_bytes + 1` bytes.
///
/// `buf.len()` is the zero-initialised region (so decoders can be handed
/// `&mut [u8]` without `unsafe`), `filled` the decoded prefix of it.
/// Capacity grows geometrically but is clamped to the limit, so the one
/// extra byte is what lets streaming decoders *prove* they went over.
pub(crate) struct CappedBuf {
    buf: Vec<u8>,
    filled: usize,
    max_bytes: usize,
    limit: usize,
}

impl CappedBuf {
    pub(crate) fn new(max_bytes: usize, hint: usize) -> Self {
        let limit = max_bytes.saturating_add(1);
        CappedBuf {
            buf: Vec::with_capacity(hint.min(limit)),
            filled: 0,
            max_bytes,
            limit,
        }
    }

    pub(crate) fn filled(&self) -> usize {
        self.filled
    }

    /// The decoded bytes so far.
    pub(crate) fn data(&self) -> &[u8] {
        self.buf.get(..self.filled).unwrap_or(&[])
    }

    /// Bytes that may still be written before the limit (including the one
    /// byte past `max_bytes`).
    pub(crate) fn room(&self) -> usize {
        self.limit - self.filled
    }

    fn too_large(&self) -> RecordsError {
        RecordsError::DecompressedTooLarge {
            max_bytes: self.max_bytes,
        }
    }

    /// Makes at least `min(want, room)` zeroed bytes writable after `filled`
    /// (at least one, since `room() >= 1` while no error was raised).
    fn ensure(&mut self, want: usize) -> Result<(), RecordsError> {
        let want = want.max(1).min(self.room());
        if want == 0 {
            return Err(self.too_large());
        }
        let needed = self.filled + want; // <= limit
        if needed > self.buf.capacity() {
            let doubled = self.buf.capacity().saturating_mul(2);
            let new_cap = needed.max(doubled).max(MIN_INITIAL_CAPACITY).min(self.limit);
            self.buf.reserve_exact(new_cap - self.buf.len());
        }
        if needed > self.buf.len() {
            let new_len = needed
                .max(self.filled.saturating_add(FILL_STEP))
                .min(self.buf.capacity());
            self.buf.resize(new_len, 0);
        }
        Ok(())
    }

    /// A writable zeroed region after the decoded bytes.
    pub(crate) fn spare(&mut self, want: usize) -> Result<&mut [u8], RecordsError> {
        self.ensure(want)?;
        let filled = self.filled;
        Ok(self.buf.get_mut(filled..).unwrap_or(&mut []))
    }

    /// The decoded prefix and exactly `len` writable zeroed bytes after it;
    /// `len` must be at most [`CappedBuf::room`].
    pub(crate) fn split_spare(&mut self, len: usize) -> Result<(&[u8], &mut [u8]), RecordsError> {
        if len > self.room() {
            return Err(self.too_large());
        }
        self.ensure(len)?;
        let (head, tail) = self.buf.split_at_mut(self.filled);
        // `ensure` made `tail` at least `len` long; `min` keeps this total.
        let tail_len = tail.len();
        let (dst, _) = tail.split_at_mut(len.min(tail_len));
        Ok((head, dst))
    }

    /// Marks `n` more bytes of the spare region as decoded.
    pub(crate) fn advance(&mut self, n: usize) -> Result<(), RecordsError> {
        self.filled = self.filled.saturating_add(n).min(self.buf.len());
        if self.filled > self.max_bytes {
            return Err(self.too_large());
        }
        Ok(())
    }

    /// Appends `data`, or fails if that would pass the cap.
    pub(crate) fn extend_from_slice(&mut self, data: &[u8]) -> Result<(), RecordsError> {
        if data.len() > self.max_bytes.saturating_sub(self.filled) {
            return Err(self.too_large());
        }
        let (_, dst) = self.split_spare(data.len())?;
        dst.copy_from_slice(data);
        self.advance(data.len())
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.truncate(self.filled);
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_buf_never_exceeds_limit() {
        let mut b = CappedBuf::new(10_000, 0);
        let mut total = 0;
        loop {
            let s = b.spare(3000).unwrap();
            let n = s.len().min(3000);
            total += n;
            match b.advance(n) {
                Ok(()) => {}
                Err(RecordsError::DecompressedTooLarge { max_bytes }) => {
                    assert_eq!(max_bytes, 10_000);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
            assert!(b.buf.capacity() <= 10_001);
        }
        assert_eq!(total, 10_001);
    }

    #[test]
    fn compression_ids_roundtrip() {
        for c in Compression::ALL {
            assert_eq!(Compression::from_id(c.id()).unwrap(), c);
        }
        assert_eq!(Compression::from_id(5), Err(RecordsError::UnknownCompression(5)));
    }
}
