//! Aligned host memory owned by the I/O drivers: the bounce buffers of
//! O_DIRECT reads (whose buffer, offset and size must be multiples of the
//! file system's direct-I/O alignment) and the staging of compressed bytes.
//!
//! [`AlignedBuf`] is one zeroed allocation with a chosen alignment.
//! [`Pool`] carves one such allocation into pages with a first-fit bitmap, so
//! an io_uring ring can register the whole pool once as a fixed buffer and
//! hand out page-aligned [`Chunk`]s of it per request; a request that does
//! not fit takes a one-off [`AlignedBuf`] instead (never waits for the pool).

#![allow(unsafe_code)]

use std::alloc::Layout;
use std::ptr::NonNull;

/// A zeroed heap allocation whose address is a multiple of `align`.
#[derive(Debug)]
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: `AlignedBuf` owns its allocation exclusively (like `Box<[u8]>`);
// `&self` only reads it, `&mut self` writes it.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared references only allow reads (see `Send`).
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// `len` zeroed bytes (at least one allocated) aligned to `align` (a
    /// power of two). `None` if the layout is invalid or memory is short.
    pub fn zeroed(len: usize, align: usize) -> Option<AlignedBuf> {
        let layout = Layout::from_size_align(len.max(1), align).ok()?;
        // SAFETY: `layout` has a non-zero size (`len.max(1)`).
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw)?;
        debug_assert_eq!(ptr.as_ptr() as usize % align, 0);
        Some(AlignedBuf { ptr, layout })
    }

    /// Usable bytes (the size asked for, at least 1).
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// Never true: at least one byte is allocated.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The first byte, for I/O submissions.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `layout.size()` initialized (zeroed at
        // allocation) bytes owned by `self`, alive until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only
        // reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with exactly this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// A page-aligned run of a [`Pool`]: `pages` pages from page `first`.
#[derive(Debug, PartialEq, Eq)]
pub struct Chunk {
    first: usize,
    pages: usize,
}

/// One aligned allocation handed out in page-sized runs (first fit).
#[derive(Debug)]
pub struct Pool {
    buf: AlignedBuf,
    page: usize,
    /// One bit per page, set when in use.
    used: Vec<u64>,
    pages: usize,
    in_use: usize,
}

impl Pool {
    /// A pool of `bytes` (rounded down to whole pages) in `page`-byte pages
    /// (`page` a power of two, also the alignment). `None` when that is
    /// zero pages or the memory cannot be had.
    pub fn new(bytes: usize, page: usize) -> Option<Pool> {
        if !page.is_power_of_two() {
            return None;
        }
        let pages = bytes / page;
        if pages == 0 {
            return None;
        }
        let buf = AlignedBuf::zeroed(pages * page, page)?;
        Some(Pool {
            buf,
            page,
            used: vec![0; pages.div_ceil(64)],
            pages,
            in_use: 0,
        })
    }

    /// Page size (and alignment) in bytes.
    pub fn page(&self) -> usize {
        self.page
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.pages * self.page
    }

    /// Never true: a pool has at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Pages currently handed out.
    pub fn pages_in_use(&self) -> usize {
        self.in_use
    }

    /// The base address and length, for registering the pool with a ring.
    pub fn region(&self) -> (*mut u8, usize) {
        (self.buf.ptr.as_ptr(), self.len())
    }

    fn is_used(&self, p: usize) -> bool {
        self.used[p / 64] & (1 << (p % 64)) != 0
    }

    fn set(&mut self, first: usize, pages: usize, used: bool) {
        for p in first..first + pages {
            let bit = 1u64 << (p % 64);
            if used {
                self.used[p / 64] |= bit;
            } else {
                self.used[p / 64] &= !bit;
            }
        }
    }

    /// A run of whole pages holding at least `len` bytes, or `None` when no
    /// free run is long enough.
    pub fn alloc(&mut self, len: usize) -> Option<Chunk> {
        let want = len.max(1).div_ceil(self.page);
        if want > self.pages - self.in_use {
            return None;
        }
        let mut start = 0;
        while start + want <= self.pages {
            match (start..start + want).find(|&p| self.is_used(p)) {
                // Skip past the page in use.
                Some(busy) => start = busy + 1,
                None => {
                    self.set(start, want, true);
                    self.in_use += want;
                    return Some(Chunk {
                        first: start,
                        pages: want,
                    });
                }
            }
        }
        None
    }

    /// Gives a chunk back.
    pub fn free(&mut self, chunk: Chunk) {
        debug_assert!((chunk.first..chunk.first + chunk.pages).all(|p| self.is_used(p)));
        self.set(chunk.first, chunk.pages, false);
        self.in_use -= chunk.pages;
    }

    /// Offset of a chunk from the pool's base (for registered-buffer reads).
    pub fn offset(&self, chunk: &Chunk) -> usize {
        chunk.first * self.page
    }

    /// Length of a chunk in bytes.
    pub fn chunk_len(&self, chunk: &Chunk) -> usize {
        chunk.pages * self.page
    }

    /// The first byte of a chunk, for I/O submissions. Computed without
    /// making a reference to the pool's bytes, since the kernel may be
    /// writing other chunks meanwhile.
    pub fn chunk_ptr(&self, chunk: &Chunk) -> *mut u8 {
        assert!(
            chunk.first + chunk.pages <= self.pages,
            "chunk of this pool"
        );
        self.buf.ptr.as_ptr().wrapping_add(self.offset(chunk))
    }

    /// A chunk's bytes. Only call when no I/O into this chunk is in flight.
    pub fn chunk(&self, chunk: &Chunk) -> &[u8] {
        let ptr = self.chunk_ptr(chunk);
        let len = self.chunk_len(chunk);
        // SAFETY: the run lies inside the allocation (asserted in
        // `chunk_ptr`), is initialized (zeroed at allocation), and the pool
        // hands each page to one chunk only, so this covers no bytes that
        // another chunk's I/O may be writing.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_are_aligned_and_zeroed() {
        for align in [512, 4096, 65536] {
            let mut b = AlignedBuf::zeroed(10_000, align).unwrap();
            assert_eq!(b.as_mut_ptr() as usize % align, 0);
            assert_eq!(b.len(), 10_000);
            assert!(b.as_slice().iter().all(|&x| x == 0));
            b.as_mut_slice()[9_999] = 7;
            assert_eq!(b.as_slice()[9_999], 7);
        }
        assert!(
            AlignedBuf::zeroed(16, 3).is_none(),
            "alignment not a power of two"
        );
    }

    #[test]
    fn pool_first_fit_frees_and_reuses() {
        let mut pool = Pool::new(16 * 4096 + 100, 4096).unwrap();
        assert_eq!(pool.len(), 16 * 4096);
        let a = pool.alloc(1).unwrap();
        let b = pool.alloc(3 * 4096).unwrap();
        let c = pool.alloc(4097).unwrap();
        assert_eq!(
            (pool.offset(&a), pool.offset(&b), pool.offset(&c)),
            (0, 4096, 4 * 4096)
        );
        assert_eq!(pool.chunk_len(&c), 2 * 4096);
        assert_eq!(pool.pages_in_use(), 6);
        pool.free(b);
        // A two-page request fits in the hole left by `b`.
        let d = pool.alloc(8192).unwrap();
        assert_eq!(pool.offset(&d), 4096);
        // Ten pages do not fit before `c`; they go after it.
        let e = pool.alloc(10 * 4096).unwrap();
        assert_eq!(pool.offset(&e), 6 * 4096);
        assert!(pool.alloc(4096).is_some(), "page 3 is still free");
        assert!(pool.alloc(4096).is_none(), "full");
        let base = pool.region().0 as usize;
        let p = pool.chunk_ptr(&e) as usize;
        assert_eq!(p - base, 6 * 4096);
        assert_eq!(p % 4096, 0);
        for ch in [a, c, d, e] {
            pool.free(ch);
        }
        assert_eq!(pool.pages_in_use(), 1);
    }

    #[test]
    fn pool_rejects_degenerate_sizes() {
        assert!(Pool::new(4095, 4096).is_none());
        assert!(Pool::new(1 << 20, 3000).is_none());
        let mut p = Pool::new(4096, 4096).unwrap();
        assert!(p.alloc(4097).is_none());
        assert!(p.alloc(0).is_some(), "zero bytes still takes a page");
    }
}
