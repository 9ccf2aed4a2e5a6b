//! LZ4 frame format decoder that writes straight into the capped output.
//!
//! `lz4_flex::frame::FrameDecoder` allocates working buffers sized by the
//! frame's declared block size (up to 2 × 4 MiB + 64 KiB, chosen by the
//! sender) and copies every block out of them. This decoder instead parses
//! the frame itself and decodes each block with `lz4_flex::block` directly
//! into the [`CappedBuf`], so its memory is the output and nothing else.
//!
//! Supported: version 1 frames, independent or linked blocks, block and
//! content checksums (verified), content size (checked against the cap up
//! front and against the output at the end), concatenated and skippable
//! frames. Dictionary ids are rejected (Kafka never uses them).

use super::{CappedBuf, Compression};
use crate::records::error::RecordsError;

const FRAME_MAGIC: u32 = 0x184D_2204;
const SKIPPABLE_MAGIC_MIN: u32 = 0x184D_2A50;
const SKIPPABLE_MAGIC_MAX: u32 = 0x184D_2A5F;
/// LZ4 matches reach back at most 64 KiB, so linked blocks need no more
/// history than that.
const WINDOW_BYTES: usize = 64 * 1024;

const FLG_VERSION_MASK: u8 = 0b1100_0000;
const FLG_VERSION_1: u8 = 0b0100_0000;
const FLG_INDEPENDENT: u8 = 0b0010_0000;
const FLG_BLOCK_CHECKSUM: u8 = 0b0001_0000;
const FLG_CONTENT_SIZE: u8 = 0b0000_1000;
const FLG_CONTENT_CHECKSUM: u8 = 0b0000_0100;
const FLG_RESERVED: u8 = 0b0000_0010;
const FLG_DICT_ID: u8 = 0b0000_0001;
const BD_RESERVED: u8 = 0b1000_1111;
const BLOCK_UNCOMPRESSED: u32 = 0x8000_0000;

fn lz4_err(message: impl ToString) -> RecordsError {
    RecordsError::Decompression {
        codec: Compression::Lz4,
        message: message.to_string(),
    }
}

/// A cursor over the compressed input; every read is bounds checked.
struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], RecordsError> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(lz4_err(format!("truncated {what}"))),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8, RecordsError> {
        let b = self.bytes(1, what)?;
        b.first().copied().ok_or_else(|| lz4_err(format!("truncated {what}")))
    }

    fn u32_le(&mut self, what: &str) -> Result<u32, RecordsError> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or_else(|| lz4_err(format!("truncated {what}")))?;
        self.rest = tail;
        Ok(u32::from_le_bytes(*head))
    }
}

pub(super) fn decompress(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    let mut inp = Input { rest: input };
    let mut out = CappedBuf::new(max_bytes, 0);
    let mut frames = 0usize;
    while !inp.rest.is_empty() {
        let magic = inp.u32_le("frame magic")?;
        if (SKIPPABLE_MAGIC_MIN..=SKIPPABLE_MAGIC_MAX).contains(&magic) {
            let len = inp.u32_le("skippable frame size")?;
            let len = usize::try_from(len).map_err(lz4_err)?;
            inp.bytes(len, "skippable frame")?;
            continue;
        }
        if magic != FRAME_MAGIC {
            return Err(lz4_err(format!("bad frame magic {magic:#010x}")));
        }
        decode_frame(&mut inp, &mut out, max_bytes)?;
        frames += 1;
    }
    if frames == 0 {
        return Err(lz4_err("no LZ4 frame in input"));
    }
    Ok(out.finish())
}

/// Rewrites the header checksum byte of the LZ4 frame at the start of `frame`, in place.
///
/// Kafka before 0.10 (message format v0) computed that byte over the frame magic as well as the
/// frame descriptor (KAFKA-3160), and Kafka still writes and reads it so for magic 0 message
/// sets. `kafka_v0` picks that form; otherwise the byte is made what the LZ4 frame format says.
/// Does nothing when `frame` does not start with a whole LZ4 frame header.
pub(crate) fn set_header_checksum(frame: &mut [u8], kafka_v0: bool) {
    let Some(&flg) = frame.get(4) else { return };
    let descriptor_end = if flg & FLG_CONTENT_SIZE != 0 { 14 } else { 6 };
    if frame.len() <= descriptor_end || frame.get(..4) != Some(&FRAME_MAGIC.to_le_bytes()[..]) {
        return;
    }
    let hashed_from = if kafka_v0 { 0 } else { 4 };
    let checksum = (xxh32(&frame[hashed_from..descriptor_end], 0) >> 8) as u8;
    frame[descriptor_end] = checksum;
}

fn decode_frame(inp: &mut Input<'_>, out: &mut CappedBuf, max_bytes: usize) -> Result<(), RecordsError> {
    let descriptor_start = inp.rest;
    let flg = inp.u8("frame descriptor")?;
    let bd = inp.u8("frame descriptor")?;
    if flg & FLG_VERSION_MASK != FLG_VERSION_1 {
        return Err(lz4_err("unsupported frame version"));
    }
    if flg & FLG_RESERVED != 0 || bd & BD_RESERVED != 0 {
        return Err(lz4_err("reserved frame descriptor bits set"));
    }
    if flg & FLG_DICT_ID != 0 {
        return Err(lz4_err("dictionary ids are not supported"));
    }
    let max_block_bytes = match (bd >> 4) & 0x07 {
        4 => 64 * 1024,
        5 => 256 * 1024,
        6 => 1024 * 1024,
        7 => 4 * 1024 * 1024,
        other => return Err(lz4_err(format!("invalid block size id {other}"))),
    };
    let content_size = if flg & FLG_CONTENT_SIZE != 0 {
        let raw = inp.bytes(8, "content size")?;
        let mut b = [0u8; 8];
        b.copy_from_slice(raw);
        Some(u64::from_le_bytes(b))
    } else {
        None
    };
    let descriptor_len = descriptor_start.len() - inp.rest.len();
    let descriptor = descriptor_start.get(..descriptor_len).unwrap_or(&[]);
    let header_checksum = inp.u8("header checksum")?;
    if (xxh32(descriptor, 0) >> 8) as u8 != header_checksum {
        return Err(lz4_err("frame descriptor checksum mismatch"));
    }

    let frame_start = out.filled();
    if let Some(declared) = content_size {
        let declared = usize::try_from(declared).unwrap_or(usize::MAX);
        if declared > max_bytes.saturating_sub(frame_start) {
            return Err(RecordsError::DecompressedTooLarge { max_bytes });
        }
    }
    let independent = flg & FLG_INDEPENDENT != 0;
    loop {
        let header = inp.u32_le("block size")?;
        if header == 0 {
            break; // EndMark
        }
        let len = usize::try_from(header & !BLOCK_UNCOMPRESSED).map_err(lz4_err)?;
        if len > max_block_bytes {
            return Err(lz4_err(format!(
                "block of {len} bytes exceeds the frame's {max_block_bytes} byte maximum"
            )));
        }
        let data = inp.bytes(len, "block")?;
        if flg & FLG_BLOCK_CHECKSUM != 0 {
            let stored = inp.u32_le("block checksum")?;
            if xxh32(data, 0) != stored {
                return Err(lz4_err("block checksum mismatch"));
            }
        }
        if header & BLOCK_UNCOMPRESSED != 0 {
            out.extend_from_slice(data)?;
            continue;
        }
        // Decode into at most one block's worth of room; if the cap leaves
        // less than that and the block needs more, it is over the cap.
        let room = out.room();
        let window = max_block_bytes.min(room);
        let (history, dst) = out.split_spare(window)?;
        let result = if independent {
            lz4_flex::block::decompress_into(data, dst)
        } else {
            let frame_history = history.get(frame_start..).unwrap_or(&[]);
            let dict_start = frame_history.len().saturating_sub(WINDOW_BYTES);
            let dict = frame_history.get(dict_start..).unwrap_or(&[]);
            lz4_flex::block::decompress_into_with_dict(data, dst, dict)
        };
        let written = match result {
            Ok(n) => n,
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if room < max_block_bytes => {
                return Err(RecordsError::DecompressedTooLarge { max_bytes });
            }
            Err(e) => return Err(lz4_err(e)),
        };
        out.advance(written)?;
    }
    if flg & FLG_CONTENT_CHECKSUM != 0 {
        let stored = inp.u32_le("content checksum")?;
        let content = out.data().get(frame_start..).unwrap_or(&[]);
        if xxh32(content, 0) != stored {
            return Err(lz4_err("content checksum mismatch"));
        }
    }
    if let Some(declared) = content_size {
        let actual = out.filled() - frame_start;
        if u64::try_from(actual).ok() != Some(declared) {
            return Err(lz4_err(format!(
                "frame declared {declared} bytes of content but decoded {actual}"
            )));
        }
    }
    Ok(())
}

const PRIME32_1: u32 = 0x9E37_79B1;
const PRIME32_2: u32 = 0x85EB_CA77;
const PRIME32_3: u32 = 0xC2B2_AE3D;
const PRIME32_4: u32 = 0x27D4_EB2F;
const PRIME32_5: u32 = 0x1656_67B1;

#[inline]
fn xxh32_round(acc: u32, lane: u32) -> u32 {
    acc.wrapping_add(lane.wrapping_mul(PRIME32_2))
        .rotate_left(13)
        .wrapping_mul(PRIME32_1)
}

#[inline]
fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
    u32::from_le_bytes(a)
}

/// XXH32 of `data`, the checksum the LZ4 frame format uses.
pub(crate) fn xxh32(data: &[u8], seed: u32) -> u32 {
    let len = data.len();
    let mut stripes = data.chunks_exact(16);
    let mut acc = if len >= 16 {
        let mut v1 = seed.wrapping_add(PRIME32_1).wrapping_add(PRIME32_2);
        let mut v2 = seed.wrapping_add(PRIME32_2);
        let mut v3 = seed;
        let mut v4 = seed.wrapping_sub(PRIME32_1);
        for s in &mut stripes {
            v1 = xxh32_round(v1, le32(&s[0..4]));
            v2 = xxh32_round(v2, le32(&s[4..8]));
            v3 = xxh32_round(v3, le32(&s[8..12]));
            v4 = xxh32_round(v4, le32(&s[12..16]));
        }
        v1.rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18))
    } else {
        seed.wrapping_add(PRIME32_5)
    };
    // The length is added modulo 2^32, as the reference does.
    acc = acc.wrapping_add(len as u32);
    let tail = if len >= 16 { stripes.remainder() } else { data };
    let mut words = tail.chunks_exact(4);
    for w in &mut words {
        acc = acc
            .wrapping_add(le32(w).wrapping_mul(PRIME32_3))
            .rotate_left(17)
            .wrapping_mul(PRIME32_4);
    }
    for &b in words.remainder() {
        acc = acc
            .wrapping_add(u32::from(b).wrapping_mul(PRIME32_5))
            .rotate_left(11)
            .wrapping_mul(PRIME32_1);
    }
    acc ^= acc >> 15;
    acc = acc.wrapping_mul(PRIME32_2);
    acc ^= acc >> 13;
    acc = acc.wrapping_mul(PRIME32_3);
    acc ^= acc >> 16;
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn xxh32_known_values() {
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"", 1), 0x0B2C_B792);
    }

    fn frame(data: &[u8], info: lz4_flex::frame::FrameInfo) -> Vec<u8> {
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial.
        (0..len).map(|i| ((i * 7) % 251) as u8 ^ ((i / 1000) as u8)).collect()
    }

    #[test]
    fn decodes_every_frame_option_lz4_flex_writes() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
        let data = sample(300_000);
        for mode in [BlockMode::Independent, BlockMode::Linked] {
            for size in [BlockSize::Max64KB, BlockSize::Max256KB, BlockSize::Max1MB] {
                for (block_ck, content_ck, content_size) in
                    [(false, false, false), (true, true, true), (false, true, false)]
                {
                    let info = FrameInfo::new()
                        .block_mode(mode)
                        .block_size(size)
                        .block_checksums(block_ck)
                        .content_checksum(content_ck)
                        .content_size(content_size.then_some(data.len() as u64));
                    let compressed = frame(&data, info);
                    let out = decompress(&compressed, 1 << 20).unwrap();
                    assert!(out == data, "{mode:?} {size:?} {block_ck} {content_ck}");
                }
            }
        }
    }

    #[test]
    fn xxh32_matches_lz4_flex_content_checksum() {
        // lz4_flex computes the content checksum with twox-hash; a frame with
        // a content checksum therefore cross-checks our xxh32 on many lengths.
        for len in [0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 1000] {
            let data = sample(len);
            let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
            let compressed = frame(&data, info);
            assert_eq!(decompress(&compressed, 1 << 20).unwrap(), data, "len {len}");
        }
    }

    #[test]
    fn corrupt_checksums_are_rejected() {
        let data = sample(10_000);
        let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
        let good = frame(&data, info);
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(decompress(&bad, 1 << 20).is_err());
        let mut bad = good;
        bad[6] ^= 1; // header checksum byte
        assert!(decompress(&bad, 1 << 20).is_err());
    }

    #[test]
    fn concatenated_and_skippable_frames() {
        let a = sample(1000);
        let b = sample(2000);
        let mut input = frame(&a, Default::default());
        input.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
        input.extend_from_slice(&3u32.to_le_bytes());
        input.extend_from_slice(b"xyz");
        input.extend(frame(&b, Default::default()));
        let out = decompress(&input, 1 << 20).unwrap();
        assert_eq!(out.len(), 3000);
        assert_eq!(&out[..1000], &a[..]);
        assert_eq!(&out[1000..], &b[..]);
    }

    #[test]
    fn cap_is_enforced_exactly() {
        let data = sample(100_000);
        let compressed = frame(&data, Default::default());
        assert_eq!(decompress(&compressed, 100_000).unwrap(), data);
        assert_eq!(
            decompress(&compressed, 99_999),
            Err(RecordsError::DecompressedTooLarge { max_bytes: 99_999 })
        );
    }
}
