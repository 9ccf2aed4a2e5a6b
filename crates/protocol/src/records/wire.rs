//! Bounds-checked reading and writing of the primitive encodings used inside
//! record batches: big-endian fixed-width integers and zigzag varints.
//!
//! Every read returns an error instead of panicking when the input is short;
//! no method indexes past the end of the buffer.

use super::error::RecordsError;

/// A forward-only reader over a byte slice that never reads out of bounds.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    pub(crate) fn read_i8(&mut self, field: &'static str) -> Result<i8, RecordsError> {
        match self.rest().first() {
            Some(&b) => {
                self.pos += 1;
                Ok(b as i8)
            }
            None => Err(RecordsError::InvalidLength {
                field,
                length: 1,
                available: 0,
            }),
        }
    }

    /// Takes `len` bytes and returns their range within the underlying buffer.
    pub(crate) fn take_range(
        &mut self,
        len: usize,
        field: &'static str,
    ) -> Result<core::ops::Range<usize>, RecordsError> {
        let available = self.remaining();
        if len > available {
            return Err(RecordsError::InvalidLength {
                field,
                length: i64::try_from(len).unwrap_or(i64::MAX),
                available,
            });
        }
        let start = self.pos;
        self.pos += len;
        Ok(start..self.pos)
    }

    /// Reads a zigzag varint of at most 5 bytes (a Kafka `varint`).
    pub(crate) fn read_varint(&mut self, field: &'static str) -> Result<i32, RecordsError> {
        let rest = self.rest();
        // Fast path: one byte covers -64..=63, the common case for deltas
        // and small lengths.
        if let Some(&b) = rest.first() {
            if b & 0x80 == 0 {
                self.pos += 1;
                return Ok(zigzag_decode_32(u32::from(b)));
            }
        }
        let mut value: u32 = 0;
        for (i, &b) in rest.iter().take(5).enumerate() {
            let bits = u32::from(b & 0x7f);
            if i == 4 && b > 0x0f {
                // Fifth byte may only carry the top 4 bits of a u32, and no
                // continuation bit.
                return Err(RecordsError::InvalidVarint { field });
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(zigzag_decode_32(value));
            }
        }
        Err(RecordsError::InvalidVarint { field })
    }

    /// Reads a zigzag varlong of at most 10 bytes (a Kafka `varlong`).
    pub(crate) fn read_varlong(&mut self, field: &'static str) -> Result<i64, RecordsError> {
        let rest = self.rest();
        if let Some(&b) = rest.first() {
            if b & 0x80 == 0 {
                self.pos += 1;
                return Ok(zigzag_decode_64(u64::from(b)));
            }
        }
        let mut value: u64 = 0;
        for (i, &b) in rest.iter().take(10).enumerate() {
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 0x01 {
                // Tenth byte may only carry the top bit of a u64.
                return Err(RecordsError::InvalidVarint { field });
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(zigzag_decode_64(value));
            }
        }
        Err(RecordsError::InvalidVarint { field })
    }
}

#[inline]
fn zigzag_decode_32(n: u32) -> i32 {
    ((n >> 1) as i32) ^ -((n & 1) as i32)
}

#[inline]
fn zigzag_decode_64(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// Appends `value` as a zigzag varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, value: i32) {
    let mut n = ((value << 1) ^ (value >> 31)) as u32;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends `value` as a zigzag varlong.
pub(crate) fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Encoded size of `value` as a zigzag varint.
pub(crate) fn varint_len(value: i32) -> usize {
    let n = ((value << 1) ^ (value >> 31)) as u32;
    // 1 byte per started 7-bit group; at least one byte.
    let bits = 32 - (n | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Encoded size of `value` as a zigzag varlong.
pub(crate) fn varlong_len(value: i64) -> usize {
    let n = ((value << 1) ^ (value >> 63)) as u64;
    let bits = 64 - (n | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads a big-endian integer of `N` bytes at `at`, or `None` if out of bounds.
pub(crate) fn array_at<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    let end = at.checked_add(N)?;
    buf.get(at..end)?.try_into().ok()
}

pub(crate) fn i16_at(buf: &[u8], at: usize) -> Option<i16> {
    array_at(buf, at).map(i16::from_be_bytes)
}

pub(crate) fn i32_at(buf: &[u8], at: usize) -> Option<i32> {
    array_at(buf, at).map(i32::from_be_bytes)
}

pub(crate) fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    array_at(buf, at).map(u32::from_be_bytes)
}

pub(crate) fn i64_at(buf: &[u8], at: usize) -> Option<i64> {
    array_at(buf, at).map(i64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip32(v: i32) {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        assert_eq!(out.len(), varint_len(v), "len of {v}");
        let mut r = Reader::new(&out);
        assert_eq!(r.read_varint("t").unwrap(), v);
        assert_eq!(r.remaining(), 0);
    }

    fn roundtrip64(v: i64) {
        let mut out = Vec::new();
        put_varlong(&mut out, v);
        assert_eq!(out.len(), varlong_len(v), "len of {v}");
        let mut r = Reader::new(&out);
        assert_eq!(r.read_varlong("t").unwrap(), v);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn varint_roundtrips() {
        for v in [0, 1, -1, 63, -64, 64, -65, 8191, -8192, i32::MAX, i32::MIN] {
            roundtrip32(v);
        }
        for v in [0, 1, -1, 63, -64, i64::from(i32::MAX) + 1, i64::MAX, i64::MIN] {
            roundtrip64(v);
        }
    }

    #[test]
    fn zigzag_matches_kafka() {
        // Values from Kafka's ByteUtilsTest.
        let mut out = Vec::new();
        put_varint(&mut out, -1);
        assert_eq!(out, [0x01]);
        out.clear();
        put_varint(&mut out, 1);
        assert_eq!(out, [0x02]);
        out.clear();
        put_varint(&mut out, i32::MIN);
        assert_eq!(out, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    }

    #[test]
    fn overlong_varints_are_rejected() {
        // Continuation bit on the fifth byte.
        let mut r = Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
        assert!(r.read_varint("t").is_err());
        // Fifth byte carries bits beyond 32.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f]);
        assert!(r.read_varint("t").is_err());
        // Ten-byte varlong with more than one bit in the last byte.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
        assert!(r.read_varlong("t").is_err());
        let mut r = Reader::new(&[0x80; 11]);
        assert!(r.read_varlong("t").is_err());
        // Unterminated.
        let mut r = Reader::new(&[0x80, 0x80]);
        assert!(r.read_varint("t").is_err());
        let mut r = Reader::new(&[]);
        assert!(r.read_varint("t").is_err());
        assert!(r.read_varlong("t").is_err());
    }
}
