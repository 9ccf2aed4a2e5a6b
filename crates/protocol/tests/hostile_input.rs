//! Hostile input: lengths and counts read off the wire must never size an allocation before the
//! bytes behind them are known to exist (the bug class of CVE-2022-34917).
//!
//! A counting global allocator measures the peak bytes live while one frame is decoded. Everything
//! runs in one test function so that no other test thread allocates during a measurement.

use bytes::Bytes;
use sluice_protocol::frame::decode_request;
use sluice_protocol::generated::{MetadataRequest, RequestBody};
use sluice_protocol::registry::APIS;
use sluice_protocol::{DecodeError, Message};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(live, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the peak while `f` runs, above what was live before it.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

/// "A few KiB": what an 8-byte frame may cost at most.
const SMALL_FRAME_PEAK_BYTES_MAX: usize = 4096;

#[test]
fn huge_counts_are_rejected_without_large_allocations() {
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
