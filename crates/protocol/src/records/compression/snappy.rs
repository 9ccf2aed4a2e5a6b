//! Snappy in the two shapes Kafka clients write.
//!
//! * **xerial framing** (Java client, via snappy-java's `SnappyOutputStream`):
//!   the 8-byte magic `0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0`, a big-endian i32
//!   version and i32 minimum compatible version (both 1), then repeated
//!   `[i32 big-endian compressed length][raw snappy block]`.
//! * **raw snappy** (librdkafka's default): one raw block whose preamble
//!   varint is the uncompressed length.
//!
//! Both are sized before decoding: the raw preamble and each xerial chunk's
//! preamble are summed and checked against the cap, and the output is then
//! allocated once at its exact size.

use super::{CappedBuf, Compression};
use crate::records::error::RecordsError;

/// snappy-java's stream magic.
pub(crate) const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic plus the two version ints.
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's `SnappyCodec.DEFAULT_VERSION` and `MINIMUM_COMPATIBLE_VERSION`.
const XERIAL_VERSION: i32 = 1;
/// snappy-java's default block size, which Kafka keeps.
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;

fn snappy_err(message: impl ToString) -> RecordsError {
    RecordsError::Decompression {
        codec: Compression::Snappy,
        message: message.to_string(),
    }
}

/// Decodes xerial-framed or raw snappy, whichever `input` is.
pub(super) fn decompress(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    if input.starts_with(&XERIAL_MAGIC) {
        decompress_xerial(input, max_bytes)
    } else {
        decompress_raw(input, max_bytes)
    }
}

fn decompress_raw(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    let len = snap::raw::decompress_len(input).map_err(snappy_err)?;
    if len > max_bytes {
        return Err(RecordsError::DecompressedTooLarge { max_bytes });
    }
    let mut out = CappedBuf::new(max_bytes, len);
    decode_block(input, len, &mut out)?;
    Ok(out.finish())
}

/// Decodes one raw block whose preamble said `len` into `out`.
fn decode_block(block: &[u8], len: usize, out: &mut CappedBuf) -> Result<(), RecordsError> {
    let (_, dst) = out.split_spare(len)?;
    let written = snap::raw::Decoder::new().decompress(block, dst).map_err(snappy_err)?;
    if written != len {
        return Err(snappy_err(format!(
            "block decoded to {written} bytes, preamble said {len}"
        )));
    }
    out.advance(written)
}

/// Splits the chunks of a xerial stream, yielding each raw block.
struct XerialChunks<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for XerialChunks<'a> {
    type Item = Result<&'a [u8], RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((len_bytes, after)) = self.rest.split_first_chunk::<4>() else {
            self.rest = &[];
            return Some(Err(snappy_err("truncated xerial chunk length")));
        };
        let len = i32::from_be_bytes(*len_bytes);
        let chunk = usize::try_from(len).ok().and_then(|len| after.split_at_checked(len));
        match chunk {
            Some((chunk, rest)) => {
                self.rest = rest;
                Some(Ok(chunk))
            }
            None => {
                self.rest = &[];
                Some(Err(snappy_err(format!(
                    "xerial chunk length {len} exceeds the {} remaining bytes",
                    after.len()
                ))))
            }
        }
    }
}

fn decompress_xerial(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    let body = input
        .get(XERIAL_HEADER_LEN..)
        .ok_or_else(|| snappy_err("truncated xerial header"))?;
    // The two version ints are not checked: snappy-java itself only ever
    // wrote 1/1, and other readers (librdkafka) ignore them too.

    // Pass 1: sum the declared sizes so nothing is allocated for a bomb and
    // a legitimate stream gets one exact allocation.
    let mut total: usize = 0;
    for chunk in (XerialChunks { rest: body }) {
        let len = snap::raw::decompress_len(chunk?).map_err(snappy_err)?;
        total = total
            .checked_add(len)
            .filter(|&t| t <= max_bytes)
            .ok_or(RecordsError::DecompressedTooLarge { max_bytes })?;
    }

    // Pass 2: decode each chunk straight into place.
    let mut out = CappedBuf::new(max_bytes, total);
    for chunk in (XerialChunks { rest: body }) {
        let chunk = chunk?;
        let len = snap::raw::decompress_len(chunk).map_err(snappy_err)?;
        decode_block(chunk, len, &mut out)?;
    }
    Ok(out.finish())
}

/// Encodes `input` the way snappy-java's `SnappyOutputStream` does.
pub(super) fn compress_xerial(input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
    let err = |e: snap::Error| RecordsError::Compression {
        codec: Compression::Snappy,
        message: e.to_string(),
    };
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for block in input.chunks(XERIAL_BLOCK_BYTES) {
        let len_at = out.len();
        let max = snap::raw::max_compress_len(block.len());
        out.resize(len_at + 4 + max, 0);
        let dst = out.get_mut(len_at + 4..).unwrap_or(&mut []);
        let written = encoder.compress(block, dst).map_err(err)?;
        out.truncate(len_at + 4 + written);
        // Blocks are at most 32 KiB, so their compressed size fits an i32.
        let len = i32::try_from(written).map_err(|_| RecordsError::Compression {
            codec: Compression::Snappy,
            message: "block too large".into(),
        })?;
        if let Some(slot) = out.get_mut(len_at..len_at + 4) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
    }
    Ok(())
}
