//! Opaque handles: what C holds for a queue, backend, file, status array or
//! fence.
//!
//! A handle is not an address: it is a number from one process-wide counter
//! (never reused), shown to C as a pointer to an incomplete struct type so C
//! keeps type checking. Each object kind has a registry mapping live handle
//! numbers to the object. So the library never dereferences a pointer C hands
//! it as a handle: a released handle (double free, use after free), a handle
//! of another kind, or garbage is looked up, not found, and refused with
//! `DS_ERR_BAD_HANDLE`, always (numbers are never reused).
//!
//! Lookups clone the object's `Arc`: a call in progress keeps the object
//! alive even if another thread releases the handle meanwhile; the release
//! only removes the number, and the object goes when the last call ends.

use crate::result::{Error, DS_ERR_BAD_HANDLE};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// The next handle number (shared by every kind, so numbers of different
/// kinds never collide either).
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Handle numbers step by this, so every handle value is aligned like a real
/// object pointer.
const STEP: u64 = 16;

/// Live handles of one object kind.
pub(crate) struct Registry<T> {
    kind: &'static str,
    map: RwLock<BTreeMap<u64, Arc<T>>>,
}

impl<T> Registry<T> {
    pub(crate) const fn new(kind: &'static str) -> Self {
        Registry {
            kind,
            map: RwLock::new(BTreeMap::new()),
        }
    }

    /// Registers `object`; returns its new handle.
    pub(crate) fn insert<H>(&self, object: T) -> *mut H {
        // Relaxed: only uniqueness of the numbers matters.
        let n = NEXT.fetch_add(1, Ordering::Relaxed) * STEP;
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(n, Arc::new(object));
        n as usize as *mut H
    }

    fn key<H>(&self, handle: *const H, what: &str) -> Result<u64, Error> {
        if handle.is_null() {
            return Err(Error::null(what));
        }
        Ok(handle as usize as u64)
    }

    fn bad<H>(&self, handle: *const H, what: &str) -> Error {
        Error::new(
            DS_ERR_BAD_HANDLE,
            format!(
                "{what} {handle:p} is not a live {} handle (already released, never created, or of another type)",
                self.kind
            ),
        )
    }

    /// The object behind a live handle.
    pub(crate) fn get<H>(&self, handle: *const H, what: &str) -> Result<Arc<T>, Error> {
        let key = self.key(handle, what)?;
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned()
            .ok_or_else(|| self.bad(handle, what))
    }

    /// Ends a handle; returns its object (dropped by the caller, or later by
    /// calls still using it).
    pub(crate) fn remove<H>(&self, handle: *const H, what: &str) -> Result<Arc<T>, Error> {
        let key = self.key(handle, what)?;
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)
            .ok_or_else(|| self.bad(handle, what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::DS_ERR_NULL_ARGUMENT;

    struct Opaque;

    #[test]
    fn released_and_foreign_handles_are_refused() {
        let a: Registry<u32> = Registry::new("a");
        let b: Registry<u32> = Registry::new("b");
        let h: *mut Opaque = a.insert(5);
        assert_eq!(*a.get(h, "h").unwrap(), 5);
        assert_eq!(b.get(h, "h").unwrap_err().code, DS_ERR_BAD_HANDLE);
        let kept = a.get(h, "h").unwrap();
        assert_eq!(*a.remove(h, "h").unwrap(), 5);
        // Double release and use after release.
        assert_eq!(a.remove(h, "h").unwrap_err().code, DS_ERR_BAD_HANDLE);
        assert_eq!(a.get(h, "h").unwrap_err().code, DS_ERR_BAD_HANDLE);
        // A call in progress still holds the object.
        assert_eq!(*kept, 5);
        let null: *mut Opaque = std::ptr::null_mut();
        assert_eq!(a.get(null, "h").unwrap_err().code, DS_ERR_NULL_ARGUMENT);
        // New handles never repeat a released number.
        let h2: *mut Opaque = a.insert(6);
        assert_ne!(h2, h);
        assert_eq!(h2 as usize % STEP as usize, 0);
    }
}
