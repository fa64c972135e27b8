//! Caller memory that the queue reads from or writes to through raw
//! pointers (the C ABI and the `unsafe` Rust entry points). The pointers are
//! only turned into slices here, under the contract of the `unsafe`
//! constructors: the memory stays valid, and is not accessed by anyone else
//! (for destinations), until the request reaches a terminal state or a strong
//! cancel of it returned true.

#![allow(unsafe_code)]

use std::ptr::NonNull;

/// Read-only caller memory (a raw source).
#[derive(Debug)]
pub(crate) struct RawConst {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: `RawConst` is only read, and its constructor's contract makes the
// caller guarantee the bytes stay valid and unmodified while the request is
// live, whichever thread executes it.
unsafe impl Send for RawConst {}
// SAFETY: shared access is read-only (see `Send`).
unsafe impl Sync for RawConst {}

impl RawConst {
    /// # Safety
    /// `ptr` must be valid for reads of `len` bytes, and the bytes must not
    /// be modified, until the request that holds this region ends.
    pub(crate) unsafe fn new(ptr: *const u8, len: usize) -> Option<Self> {
        let ptr = NonNull::new(ptr.cast_mut())?;
        (len <= isize::MAX as usize).then_some(RawConst { ptr, len })
    }

    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        debug_assert!(self.len <= isize::MAX as usize);
        // SAFETY: non-null and `len <= isize::MAX` are checked in `new`; the
        // constructor's contract keeps the memory valid and unmodified until
        // the request ends, and this region is only reachable from the
        // request's payload, which is dropped when the request ends.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

/// Writable caller memory (a raw destination).
#[derive(Debug)]
pub(crate) struct RawMut {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the constructor's contract gives the request exclusive access to
// the memory until it ends, so moving that access to a worker thread is
// sound.
unsafe impl Send for RawMut {}

impl RawMut {
    /// # Safety
    /// `ptr` must be valid for writes of `len` bytes, and nothing else may
    /// read or write them, until the request that holds this region reaches
    /// a terminal state or a strong cancel of it returned true.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> Option<Self> {
        let ptr = NonNull::new(ptr)?;
        (len <= isize::MAX as usize).then_some(RawMut { ptr, len })
    }

    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        debug_assert!(self.len <= isize::MAX as usize);
        // SAFETY: non-null and `len <= isize::MAX` are checked in `new`; the
        // constructor's contract gives this request exclusive, valid access
        // until it ends, and `&mut self` makes this the only slice of it.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}
