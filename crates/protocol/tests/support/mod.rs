//! Helpers shared by the protocol crate's integration tests.
#![allow(dead_code)]

use bytes::Bytes;
use sluice_protocol::codec::{Message, RawTaggedField, UnknownTaggedFields, Uuid};

/// Random cases per message version in the generated round-trip test.
pub const SEEDS_PER_VERSION: u64 = 48;

/// A small deterministic generator (SplitMix64): the same seed always builds the same value, so
/// a failure names a seed that reproduces it.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, version: i16) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (version as u64).wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True one time in `n`.
    pub fn chance(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }

    pub fn bool(&mut self) -> bool {
        self.next() & 1 == 1
    }

    pub fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 1e6 - 5e5
    }

    /// Array lengths stay small so nested arrays stay cheap.
    pub fn len(&mut self) -> usize {
        (self.next() % 4) as usize
    }

    pub fn string(&mut self) -> String {
        let n = (self.next() % 12) as usize;
        (0..n).map(|_| char::from(b'a' + (self.next() % 26) as u8)).collect()
    }

    pub fn bytes(&mut self) -> Bytes {
        let n = (self.next() % 40) as usize;
        Bytes::from((0..n).map(|_| self.next() as u8).collect::<Vec<u8>>())
    }

    pub fn uuid(&mut self) -> Uuid {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&self.next().to_be_bytes());
        raw[8..].copy_from_slice(&self.next().to_be_bytes());
        Uuid(raw)
    }

    /// Sometimes adds unknown tagged fields, with tags above any Kafka uses, in ascending order.
    pub fn unknown_tagged_fields(&mut self, fields: &mut UnknownTaggedFields) {
        if self.chance(3) {
            let mut tag = 1000 + (self.next() % 100) as u32;
            for _ in 0..1 + self.next() % 2 {
                fields.push(RawTaggedField {
                    tag,
                    data: self.bytes(),
                });
                tag += 1 + (self.next() % 1000) as u32;
            }
        }
    }
}

/// Encodes `x` at `v`, checks the computed size, decodes it back and checks equality.
pub fn check_round_trip<M: Message>(x: &M, v: i16) {
    let encoded = x
        .encode_to_bytes(v)
        .unwrap_or_else(|e| panic!("{} v{v}: encode failed: {e}\nvalue: {x:?}", M::NAME));
    assert_eq!(
        encoded.len(),
        x.encoded_size(v),
        "{} v{v}: computed size differs from encoded length",
        M::NAME
    );
    let back = M::decode_exact(encoded.clone(), v).unwrap_or_else(|e| {
        panic!(
            "{} v{v}: decode failed: {e}\nbytes: {encoded:02x?}\nvalue: {x:?}",
            M::NAME
        )
    });
    assert_eq!(&back, x, "{} v{v}: value changed in a round trip", M::NAME);
}
