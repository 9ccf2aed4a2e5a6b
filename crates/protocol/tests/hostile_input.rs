//! Hostile input: lengths and counts read off the wire must never size an allocation before the
//! bytes behind them are known to exist (the bug class of CVE-2022-34917).
//!
//! A counting global allocator measures the peak bytes live while one frame is decoded. Every test
//! holds [`SERIAL`] for its whole run, so that no other test thread allocates during a
//! measurement.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::codec::{TAGGED_FIELDS_MAX, put_tag_header, put_uvarint};
use sluice_protocol::frame::decode_request;
use sluice_protocol::generated::{MetadataRequest, RequestBody};
use sluice_protocol::registry::APIS;
use sluice_protocol::{DecodeError, Message};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};

/// Held by every test for its whole run: measurements must not see other tests' allocations.
static SERIAL: Mutex<()> = Mutex::new(());

struct Counting;

// Counted only on the thread that measures: the test harness allocates on other threads (starting
// tests, capturing their output) whatever lock the tests hold.
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Whether this thread's allocations are being measured. Const-initialized, so reading it
    /// inside the allocator never allocates.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn measuring() -> bool {
    MEASURING.try_with(Cell::get).unwrap_or(false)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && measuring() {
            let size = layout.size() as isize;
            let live = LIVE.fetch_add(size, Ordering::SeqCst) + size;
            PEAK.fetch_max(live, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if measuring() {
            LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes this thread allocated at the peak while `f` runs, above what it held before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    MEASURING.with(|m| m.set(true));
    let out = f();
    MEASURING.with(|m| m.set(false));
    (out, PEAK.load(Ordering::SeqCst).max(0) as usize)
}

/// "A few KiB": what an 8-byte frame may cost at most.
const SMALL_FRAME_PEAK_BYTES_MAX: usize = 4096;

#[test]
fn huge_counts_are_rejected_without_large_allocations() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The 8-byte Metadata body: a topic count of 2^31-1 and four more bytes.
    let frame = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
    for version in 0..=8 {
        let (result, peak) = peak_during(|| MetadataRequest::decode_exact(frame.clone(), version));
        assert!(
            matches!(result, Err(DecodeError::ArrayTooLong { count: 2147483647, .. })),
            "Metadata v{version}: {result:?}"
        );
        assert!(
            peak < SMALL_FRAME_PEAK_BYTES_MAX,
            "Metadata v{version} reserved {peak} bytes"
        );
    }

    // The same as a whole request frame: header (Metadata v4, correlation id 7, null client id)
    // then the count.
    let frame = Bytes::from_static(&[0, 3, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff]);
    let (result, peak) = peak_during(|| decode_request(frame.clone()));
    assert!(matches!(result, Err(DecodeError::ArrayTooLong { .. })), "{result:?}");
    assert!(peak < SMALL_FRAME_PEAK_BYTES_MAX, "frame reserved {peak} bytes");

    // Every API, every version, a handful of hostile 8-byte bodies: all-ones lengths and counts,
    // maximal compact varints, alternating patterns. None may panic or reserve more than a few KiB.
    let patterns: [[u8; 8]; 6] = [
        [0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff],
        [0xff; 8],
        [0xfe, 0xff, 0xff, 0xff, 0x0f, 0xfe, 0xff, 0xff],
        [0x00, 0x01, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff],
        [0x00, 0x00, 0x7f, 0xff, 0x00, 0x00, 0x7f, 0xff],
        [0x80, 0x80, 0x80, 0x80, 0x08, 0x00, 0x00, 0x00],
    ];
    let mut decoded = 0;
    for api in APIS {
        for version in api.versions.0..=api.versions.1 {
            for pattern in &patterns {
                let body = Bytes::copy_from_slice(pattern);
                let (result, peak) = peak_during(|| {
                    let mut buf = body.clone();
                    RequestBody::decode(api.key, version, &mut buf).map(drop)
                });
                decoded += usize::from(result.is_ok());
                assert!(
                    peak < SMALL_FRAME_PEAK_BYTES_MAX,
                    "{} v{version} reserved {peak} bytes for {pattern:02x?}",
                    api.name
                );
            }
        }
    }
    // Some small bodies are legitimately valid (e.g. all-fixed-width requests); most are not.
    assert!(
        decoded < APIS.len() * 6 * 4,
        "suspiciously many hostile bodies decoded: {decoded}"
    );
}

/// A request header v2 (Metadata v12, correlation id 7, client id "c") whose tagged-field
/// section announces `count` fields and holds `fields` empty ones with tags from 1000 up.
fn header_with_tagged_fields(buf: &mut BytesMut, count: u32, fields: u32) {
    buf.put_i16(3); // Metadata
    buf.put_i16(12);
    buf.put_i32(7);
    buf.put_i16(1);
    buf.put_u8(b'c');
    put_uvarint(buf, count);
    for i in 0..fields {
        put_tag_header(buf, 1000 + i, 0);
    }
}

/// Appends a tagged-field section of `fields` empty fields with tags from 1000 up.
fn tagged_section(buf: &mut BytesMut, fields: u32) {
    put_uvarint(buf, fields);
    for i in 0..fields {
        put_tag_header(buf, 1000 + i, 0);
    }
}

#[test]
fn a_header_of_five_million_empty_tagged_fields_is_refused_from_its_count() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 10 MB of empty fields: before the cap, each became a 40-byte object (220 MiB peak in the
    // broker for a 20 MB header).
    let mut buf = BytesMut::new();
    header_with_tagged_fields(&mut buf, 5_000_000, 5_000_000);
    buf.put_u8(1); // what would be the body
    let frame = buf.freeze();
    assert!(frame.len() > 10_000_000);
    let started = std::time::Instant::now();
    let (result, peak) = peak_during(|| decode_request(frame.clone()));
    assert_eq!(
        result.unwrap_err(),
        DecodeError::TooManyTaggedFields {
            count: 5_000_000,
            max: TAGGED_FIELDS_MAX
        }
    );
    assert!(peak < SMALL_FRAME_PEAK_BYTES_MAX, "refusing it reserved {peak} bytes");
    // Refused from the count, not after walking ten million bytes (generous for a debug build
    // on a busy machine; walking them all takes far longer).
    assert!(started.elapsed() < std::time::Duration::from_millis(200));
}

#[test]
fn the_most_tagged_fields_allowed_cost_a_small_multiple_of_the_frame() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Every tagged-field section of a Metadata v12 request filled to the limit with empty unknown
    // fields: the header's, each of 8 topics', and the request's own.
    let max = TAGGED_FIELDS_MAX;
    let topics = 8;
    let mut buf = BytesMut::new();
    header_with_tagged_fields(&mut buf, max, max);
    put_uvarint(&mut buf, topics + 1);
    for _ in 0..topics {
        buf.put_slice(&[0; 16]); // topic id
        put_uvarint(&mut buf, 0); // null name
        tagged_section(&mut buf, max);
    }
    buf.put_u8(1); // allow auto topic creation
    buf.put_u8(0); // include topic authorized operations
    tagged_section(&mut buf, max);
    let frame = buf.freeze();
    let n = frame.len();
    let (result, peak) = peak_during(|| decode_request(frame.clone()));
    let request = result.expect("a frame at the limit decodes");
    assert_eq!(request.header.unknown_tagged_fields.len(), max as usize);
    let RequestBody::Metadata(body) = &request.body else {
        panic!("{:?}", request.body)
    };
    assert_eq!(body.unknown_tagged_fields.len(), max as usize);
    let kept = body.topics.as_ref().unwrap();
    assert_eq!(kept.len(), topics as usize);
    assert!(kept.iter().all(|t| t.unknown_tagged_fields.len() == max as usize));
    // 100,000 fields on 300 KB of wire. Kept as one 40-byte object each in a growing Vec, they
    // would need at least 4 MB, 13 times the frame; kept as slices of the frame they cost only
    // the decoded structs (under a kilobyte).
    println!("frame {n} bytes, decode peak {peak} bytes");
    assert!(peak <= n / 4, "decoding {n} bytes peaked at {peak} bytes");
    drop(request);

    // The worst case for a kept section: unknown fields split by (repeated) known ones, so they
    // are copied. Fetch v15's request knows tags 0 and 1 at the top level.
    let mut buf = BytesMut::new();
    buf.put_i16(1); // Fetch
    buf.put_i16(15);
    buf.put_i32(7);
    buf.put_i16(-1); // null client id
    put_uvarint(&mut buf, 0); // no header tagged fields
    buf.put_i32(-1); // max wait
    buf.put_i32(1); // min bytes
    buf.put_i32(1 << 20); // max bytes
    buf.put_i8(0); // isolation level
    buf.put_i32(0); // session id
    buf.put_i32(-1); // session epoch
    put_uvarint(&mut buf, 1); // no topics
    put_uvarint(&mut buf, 1); // no forgotten topics
    put_uvarint(&mut buf, 1); // rack id ""
    put_uvarint(&mut buf, max);
    for i in 0..max {
        if i % 3 == 1 {
            put_tag_header(&mut buf, 0, 1); // ClusterId: null, known
            buf.put_u8(0);
        } else {
            put_tag_header(&mut buf, 1000 + i, 0);
        }
    }
    let frame = buf.freeze();
    let n = frame.len();
    let (result, peak) = peak_during(|| decode_request(frame.clone()));
    let request = result.expect("a frame at the limit decodes");
    let RequestBody::Fetch(body) = &request.body else {
        panic!("{:?}", request.body)
    };
    let unknown = body.unknown_tagged_fields.len();
    assert_eq!(unknown, (max - max / 3) as usize);
    // The copied bytes are the unknown fields' own (about two thirds of the frame), in a buffer
    // that at most doubles as it grows: three times the frame is the bound.
    println!("frame {n} bytes, {unknown} unknown fields copied, decode peak {peak} bytes");
    assert!(peak <= 3 * n, "decoding {n} bytes peaked at {peak} bytes");
}
