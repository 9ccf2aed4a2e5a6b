//! Decompression bombs for every codec: small inputs that expand (or claim
//! to expand) to 256 MiB must fail with `DecompressedTooLarge` while the
//! decoder's memory stays within the cap plus a small slack.
//!
//! A counting global allocator tracks live heap bytes (Rust allocations;
//! libzstd's C allocations are not visible here, its window is bounded by
//! `window_log_max` instead, see `zstd_oversized_window_is_refused`).
//! `realloc` is counted as the size difference, which is what the system
//! allocator's `mremap` does for large blocks; the separately tracked
//! *largest single allocation* shows that no buffer ever exceeds the cap.
//! Tests take a lock so their measurements do not overlap.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use bytes::Bytes;
use sluice_protocol::records::{
    self, Attributes, BATCH_HEADER_BYTES, BatchHeader, Compression, RecordBatch, RecordsError,
};

struct Counting;

// Only the thread inside `measure` is counted: other tests of this binary build their bombs
// (hundreds of MiB of input) on other threads at the same time, and must not show up here.
// Signed, because the measured code may free memory allocated before the measurement began.
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // `const` so that reading it never allocates inside the allocator.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn measuring() -> bool {
    MEASURING.try_with(Cell::get).unwrap_or(false)
}

fn grew(by: usize, request: usize) {
    if !measuring() {
        return;
    }
    let now = LIVE.fetch_add(by as isize, Ordering::SeqCst) + by as isize;
    PEAK.fetch_max(now, Ordering::SeqCst);
    LARGEST.fetch_max(request, Ordering::SeqCst);
}

fn shrank(by: usize) {
    if measuring() {
        LIVE.fetch_sub(by as isize, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size(), layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size(), layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size(), new_size);
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

static SERIAL: Mutex<()> = Mutex::new(());

const CAP_BYTES: usize = 4 << 20;
/// Decoder state outside the output buffer (flate2's inflate state, the
/// test harness's own bookkeeping).
const SLACK_BYTES: usize = 256 << 10;
const BOMB_BYTES: usize = 256 << 20;

struct Usage {
    peak_bytes: usize,
    largest_bytes: usize,
}

/// Runs `f` and reports the peak live heap above what was live before it,
/// and the largest single allocation it made.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    LIVE.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    LARGEST.store(0, Ordering::SeqCst);
    MEASURING.with(|m| m.set(true));
    let out = f();
    MEASURING.with(|m| m.set(false));
    let usage = Usage {
        peak_bytes: PEAK.load(Ordering::SeqCst).max(0) as usize,
        largest_bytes: LARGEST.load(Ordering::SeqCst),
    };
    (out, usage)
}

/// Wraps a compressed payload in a v2 batch claiming 1000 records.
fn batch_around(codec: Compression, payload: &[u8]) -> RecordBatch {
    let mut bytes = vec![0u8; BATCH_HEADER_BYTES];
    bytes.extend_from_slice(payload);
    let header = BatchHeader {
        base_offset: 0,
        batch_length_bytes: (bytes.len() - 12) as i32,
        partition_leader_epoch: 0,
        magic: 2,
        crc: 0,
        attributes: Attributes::default().with_compression(codec),
        last_offset_delta: 999,
        base_timestamp_ms: 0,
        max_timestamp_ms: 0,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records_count: 1000,
    };
    bytes[..BATCH_HEADER_BYTES].copy_from_slice(&header.encode());
    records::update_crc(&mut bytes).unwrap();
    RecordBatch::parse(Bytes::from(bytes)).unwrap()
}

/// Decodes the bomb through the batch API and checks error and memory.
fn assert_defused(name: &str, codec: Compression, payload: Vec<u8>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let input_bytes = payload.len();
    let batch = batch_around(codec, &payload);
    drop(payload);
    batch.verify_crc().unwrap();
    let (result, usage) = measure(|| batch.records(CAP_BYTES).map(|_| ()));
    println!(
        "{name}: {input_bytes} input bytes, peak {} bytes, largest allocation {} bytes",
        usage.peak_bytes, usage.largest_bytes
    );
    assert_eq!(
        result.unwrap_err(),
        RecordsError::DecompressedTooLarge { max_bytes: CAP_BYTES },
        "{name}"
    );
    assert!(
        usage.largest_bytes <= CAP_BYTES + 1,
        "{name}: allocated a {} byte buffer",
        usage.largest_bytes
    );
    assert!(
        usage.peak_bytes <= CAP_BYTES + SLACK_BYTES,
        "{name}: peak {} bytes",
        usage.peak_bytes
    );
}

#[test]
fn gzip_bomb() {
    // Deflate tops out near 1032:1, so 256 MiB needs ~256 KiB of input:
    // 256 concatenated members of 1 MiB of zeros (Java and flate2 both
    // read multi-member streams).
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 1 << 20]).unwrap();
    let member = enc.finish().unwrap();
    let payload = member.repeat(BOMB_BYTES >> 20);
    assert_defused("gzip", Compression::Gzip, payload);
}

fn raw_snappy_preamble(declared: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = declared;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

#[test]
fn snappy_raw_declared_bomb() {
    // Raw snappy states its length up front: claim 256 MiB (and 4 GiB - 1,
    // the format's maximum) and follow with a few bytes of "data".
    for declared in [BOMB_BYTES as u64, u64::from(u32::MAX)] {
        let mut payload = raw_snappy_preamble(declared);
        payload.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]);
        assert_defused("snappy raw, declared", Compression::Snappy, payload);
    }
}

fn xerial(chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    for c in chunks {
        out.extend_from_slice(&(c.len() as i32).to_be_bytes());
        out.extend_from_slice(c);
    }
    out
}

#[test]
fn snappy_xerial_declared_bomb() {
    let mut chunk = raw_snappy_preamble(BOMB_BYTES as u64);
    chunk.extend_from_slice(&[0x00, 0x00]);
    assert_defused("snappy xerial, declared", Compression::Snappy, xerial(&[&chunk]));
    // Many chunks each claiming the maximum: the running total is checked.
    let mut chunk = raw_snappy_preamble(u64::from(u32::MAX));
    chunk.push(0);
    let payload = xerial(&vec![&chunk[..]; 64]);
    assert_defused("snappy xerial, declared x64", Compression::Snappy, payload);
}

#[test]
fn snappy_xerial_real_bomb() {
    // 256 real chunks of 1 MiB of zeros each (snappy manages only ~21:1,
    // so this input is ~12 MiB; the declared sizes are summed and refused
    // before anything is decoded).
    let chunk = snap::raw::Encoder::new().compress_vec(&vec![0u8; 1 << 20]).unwrap();
    let payload = xerial(&vec![&chunk[..]; BOMB_BYTES >> 20]);
    assert_defused("snappy xerial, real", Compression::Snappy, payload);
}

const LZ4_MAGIC: [u8; 4] = 0x184D_2204u32.to_le_bytes();

/// An LZ4 frame header (independent 4 MiB blocks) with a valid checksum.
fn lz4_header(content_size: Option<u64>) -> Vec<u8> {
    let mut descriptor = vec![0b0110_0000, 0b0111_0000]; // v1, independent; 4 MiB
    if let Some(size) = content_size {
        descriptor[0] |= 0b0000_1000;
        descriptor.extend_from_slice(&size.to_le_bytes());
    }
    let hc = (xxhash32(&descriptor) >> 8) as u8;
    let mut out = LZ4_MAGIC.to_vec();
    out.extend_from_slice(&descriptor);
    out.push(hc);
    out
}

/// Reference XXH32 (seed 0) for building LZ4 headers in this test.
fn xxhash32(data: &[u8]) -> u32 {
    // Short inputs only (< 16 bytes), which is all a frame descriptor is.
    const P1: u32 = 0x9E37_79B1;
    const P2: u32 = 0x85EB_CA77;
    const P3: u32 = 0xC2B2_AE3D;
    const P4: u32 = 0x27D4_EB2F;
    const P5: u32 = 0x1656_67B1;
    assert!(data.len() < 16);
    let mut h = P5.wrapping_add(data.len() as u32);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        let v = u32::from_le_bytes(w.try_into().unwrap());
        h = h.wrapping_add(v.wrapping_mul(P3)).rotate_left(17).wrapping_mul(P4);
    }
    for &b in words.remainder() {
        h = h
            .wrapping_add(u32::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

#[test]
fn lz4_declared_bomb() {
    let mut payload = lz4_header(Some(BOMB_BYTES as u64));
    payload.extend_from_slice(&0u32.to_le_bytes());
    assert_defused("lz4, declared", Compression::Lz4, payload);
}

#[test]
fn lz4_real_bomb() {
    // LZ4 peaks near 255:1: 64 blocks of 4 MiB of zeros, ~1 MiB of input.
    let block = lz4_flex::block::compress(&vec![0u8; 4 << 20]);
    let mut payload = lz4_header(None);
    for _ in 0..(BOMB_BYTES >> 22) {
        payload.extend_from_slice(&(block.len() as u32).to_le_bytes());
        payload.extend_from_slice(&block);
    }
    payload.extend_from_slice(&0u32.to_le_bytes());
    assert_defused("lz4, real", Compression::Lz4, payload);
}

/// A zstd frame of RLE blocks of zeros totalling `total` bytes, with a
/// 128 KiB window, optionally declaring its content size.
fn zstd_rle_frame(total: usize, declare: bool) -> Vec<u8> {
    const BLOCK: usize = 128 << 10;
    let mut out = 0xFD2F_B528u32.to_le_bytes().to_vec();
    out.push(if declare { 0b1100_0000 } else { 0 }); // FCS 8 bytes or none
    out.push(7 << 3); // window log 10 + 7 = 17
    if declare {
        out.extend_from_slice(&(total as u64).to_le_bytes());
    }
    let blocks = total / BLOCK;
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        let header = ((BLOCK as u32) << 3) | (1 << 1) | last; // RLE block
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.push(0);
    }
    out
}

#[test]
fn zstd_real_bomb() {
    // 2048 RLE blocks: ~8 KiB that really decode to 256 MiB.
    let payload = zstd_rle_frame(BOMB_BYTES, false);
    assert!(payload.len() < 9 << 10);
    // Sanity: it is a valid frame (decodes fully without a cap).
    let sample = zstd_rle_frame(1 << 20, false);
    assert_eq!(zstd::decode_all(&sample[..]).unwrap().len(), 1 << 20);
    assert_defused("zstd, real", Compression::Zstd, payload);
}

#[test]
fn zstd_declared_bomb() {
    let payload = zstd_rle_frame(BOMB_BYTES, true);
    assert_defused("zstd, declared", Compression::Zstd, payload);
}

#[test]
fn zstd_oversized_window_is_refused() {
    // A frame asking for a 2 GiB window (window log 31) and holding one
    // byte: libzstd would allocate the window; the decoder must refuse.
    let mut payload = 0xFD2F_B528u32.to_le_bytes().to_vec();
    payload.push(0);
    payload.push(21 << 3); // window log 31
    payload.extend_from_slice(&((1u32 << 3) | (1 << 1) | 1).to_le_bytes()[..3]);
    payload.push(0);
    let err = Compression::Zstd
        .decompress(&Bytes::from(payload), CAP_BYTES)
        .unwrap_err();
    assert!(matches!(err, RecordsError::Decompression { .. }), "{err:?}");
}

#[test]
fn legitimate_batch_at_the_cap_still_decodes() {
    // The cap is a limit, not a tax: data of exactly CAP_BYTES decodes, and
    // memory stays near the output size.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let data = vec![1u8; CAP_BYTES];
        let mut compressed = Vec::new();
        codec.compress(&data, &mut compressed).unwrap();
        drop(data);
        let compressed = Bytes::from(compressed);
        let (out, usage) = measure(|| codec.decompress(&compressed, CAP_BYTES).map(|b| b.len()));
        assert_eq!(out.unwrap(), CAP_BYTES, "{codec}");
        assert!(usage.largest_bytes <= CAP_BYTES + 1, "{codec}");
        assert!(
            usage.peak_bytes <= CAP_BYTES + SLACK_BYTES,
            "{codec}: {}",
            usage.peak_bytes
        );
    }
}
