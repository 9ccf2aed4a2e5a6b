//! Reusable buffers for reads that are handed out as `Bytes` (fetches).
//!
//! A fetch reads up to a megabyte per partition, the connection writes it to the socket, and the
//! buffer is dropped. Allocating a fresh buffer each time costs more than the read itself:
//! buffers that large come from `mmap`, so each use zeroes the memory and takes a page fault per
//! 4 KiB page, and each free unmaps it again (measured: over half the broker's CPU time while
//! serving a consumer at full speed). Instead the `Bytes` handed out owns a [`PooledBuffer`],
//! which puts its memory back into a small bounded pool when the last reference goes, so steady
//! state reads reuse warm, already-initialised pages.

use bytes::Bytes;
use std::sync::Mutex;

/// Buffers are sized in steps of this, so that reads of similar sizes can reuse each other's.
const SIZE_STEP_BYTES: usize = 64 << 10;
/// Buffers larger than this are not kept: such reads are rare and would pin a lot of memory.
const POOLED_BUFFER_BYTES_MAX: usize = 8 << 20;
/// Most memory the pool keeps while idle: what it may add to the broker's resident size.
const POOL_BYTES_MAX: usize = 32 << 20;

/// Free buffers, every one fully initialised (its length is its size).
struct Pool {
    /// The buffers themselves.
    free: Vec<Vec<u8>>,
    /// Sum of their sizes, kept at or under [`POOL_BYTES_MAX`].
    bytes: usize,
}

/// The process-wide pool: one is enough, and it lets a buffer read for one partition be reused
/// for any other.
static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    bytes: 0,
});

/// A buffer of at least `len` initialised bytes, from the pool when one is big enough.
pub(crate) fn take(len: usize) -> Vec<u8> {
    if len <= POOLED_BUFFER_BYTES_MAX {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        // The smallest free buffer that fits wastes least; one more than twice the size asked
        // for is not used at all, so that memory held by reads stays within twice what they
        // read (which is what the broker's response budget counts).
        let fits = len.max(SIZE_STEP_BYTES) * 2;
        let best = pool
            .free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.len() >= len && b.len() <= fits)
            .min_by_key(|(_, b)| b.len())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let buf = pool.free.swap_remove(i);
            pool.bytes -= buf.len();
            return buf;
        }
    }
    vec![0; len.div_ceil(SIZE_STEP_BYTES).max(1) * SIZE_STEP_BYTES]
}

/// Returns a buffer to the pool, or frees it when it is too big or the pool is full.
fn give_back(buf: Vec<u8>) {
    if buf.len() > POOLED_BUFFER_BYTES_MAX {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.bytes + buf.len() <= POOL_BYTES_MAX {
        pool.bytes += buf.len();
        pool.free.push(buf);
    }
}

/// The first `len` bytes of a pooled buffer; owned by the `Bytes` made from it.
struct PooledBuffer {
    /// The whole buffer, returned to the pool on drop.
    buf: Vec<u8>,
    /// How many of its bytes hold data.
    len: usize,
}

impl AsRef<[u8]> for PooledBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.buf));
    }
}

/// The first `len` bytes of `buf` (a buffer from [`take`]) as `Bytes`; the buffer goes back to
/// the pool when the last clone of them is dropped.
pub(crate) fn freeze(buf: Vec<u8>, len: usize) -> Bytes {
    let len = len.min(buf.len());
    if len == 0 {
        give_back(buf);
        return Bytes::new();
    }
    Bytes::from_owner(PooledBuffer { buf, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_are_reused() {
        let first = take(100_000);
        assert!(first.len() >= 100_000);
        assert_eq!(first.len() % SIZE_STEP_BYTES, 0);
        let address = first.as_ptr() as usize;
        let bytes = freeze(first, 1_000);
        assert_eq!(bytes.len(), 1_000);
        let clone = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(clone.len(), 10);
        drop(clone);
        // Other tests share the pool, so look for the buffer among several takes.
        let taken: Vec<Vec<u8>> = (0..8).map(|_| take(100_000)).collect();
        assert!(taken.iter().any(|b| b.as_ptr() as usize == address));
        for b in taken {
            give_back(b);
        }
    }

    #[test]
    fn a_small_read_does_not_take_a_large_buffer() {
        let large = take(4 << 20);
        let address = large.as_ptr() as usize;
        give_back(large);
        let small = take(100);
        assert_ne!(small.as_ptr() as usize, address);
        assert!(small.len() <= 2 * SIZE_STEP_BYTES);
    }

    #[test]
    fn the_pool_is_bounded() {
        let huge = take(POOLED_BUFFER_BYTES_MAX + 1);
        drop(freeze(huge, 1));
        let many: Vec<Vec<u8>> = (0..8).map(|_| take(POOLED_BUFFER_BYTES_MAX)).collect();
        for b in many {
            give_back(b);
        }
        let pool = POOL.lock().unwrap();
        assert!(pool.bytes <= POOL_BYTES_MAX);
        assert_eq!(pool.bytes, pool.free.iter().map(Vec::len).sum::<usize>());
        assert!(pool.free.iter().all(|b| b.len() <= POOLED_BUFFER_BYTES_MAX));
    }
}
