//! A fixed-capacity table of request slots with a lock-free free list.
//!
//! The caller provides the storage (`[RequestCell; N]`, a boxed slice, a
//! static), so the capacity is chosen at run time (DirectStorage queues take
//! 128..8192) without `ds-core` allocating. This is why the table is our own
//! code rather than a `heapless` container: those fix the capacity at compile
//! time. Running out of slots is an error ([`TableFull`]), never a panic.
//!
//! The free list is a Treiber stack threaded through the cells' `next_free`
//! links. Its head packs a pop counter with the top index so an index that is
//! popped and pushed back between another thread's load and CAS changes the
//! head value (no ABA):
//!
//! ```text
//!  63              32 31                0
//! [ pop/push counter ][ top index + 1    ]   (low half 0 = empty)
//! ```

use crate::id::RequestId;
use crate::state::{
    CancelScope, CancelStep, RequestCell, State, Status, TransitionError, WeakCancel, Word,
};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use core::fmt;

/// Largest number of slots a table may have.
pub const MAX_SLOTS: usize = (u32::MAX - 1) as usize;

/// No free slot was available.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull {
    /// The table's capacity.
    pub capacity: usize,
}

impl fmt::Display for TableFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "all {} request slots are in use", self.capacity)
    }
}

/// The storage handed to [`SlotTable::new`] has an unusable length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadCapacity {
    /// Length of the storage.
    pub len: usize,
}

impl fmt::Display for BadCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "slot table capacity {} is outside 1..={MAX_SLOTS}",
            self.len
        )
    }
}

/// Request slots over caller-provided storage.
pub struct SlotTable<S: AsRef<[RequestCell]>> {
    cells: S,
    free: FreeList,
}

/// The free list's head and length, on a cache line of their own: every
/// allocation and release writes them, while `cells` (the storage pointer)
/// is read by every operation on any slot.
#[repr(align(64))]
struct FreeList {
    head: AtomicU64,
    len: AtomicU32,
}

impl<S: AsRef<[RequestCell]>> fmt::Debug for SlotTable<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotTable")
            .field("capacity", &self.capacity())
            .field("free", &self.free_slots())
            .finish()
    }
}

const EMPTY: u32 = 0;

impl<S: AsRef<[RequestCell]>> SlotTable<S> {
    /// Builds a table over `cells`, which must all be free (fresh
    /// [`RequestCell::new`] values).
    pub fn new(cells: S) -> Result<Self, BadCapacity> {
        let len = cells.as_ref().len();
        if len == 0 || len > MAX_SLOTS {
            return Err(BadCapacity { len });
        }
        let table = SlotTable {
            cells,
            free: FreeList {
                head: AtomicU64::new(0),
                len: AtomicU32::new(0),
            },
        };
        // Push in reverse so index 0 is handed out first.
        for i in (0..len as u32).rev() {
            table.push_free(i);
        }
        Ok(table)
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.cells.as_ref().len()
    }

    /// Slots on the free list right now (a snapshot under concurrency).
    pub fn free_slots(&self) -> usize {
        // Relaxed: a statistic; nothing is derived from it.
        self.free.len.load(Ordering::Relaxed) as usize
    }

    /// The cell of `id`, if its index is in range (the generation is checked
    /// by every operation on the cell).
    pub fn cell(&self, id: RequestId) -> Option<&RequestCell> {
        self.cells.as_ref().get(id.index() as usize)
    }

    /// The cell at `index`.
    pub fn cell_at(&self, index: u32) -> Option<&RequestCell> {
        self.cells.as_ref().get(index as usize)
    }

    fn push_free(&self, index: u32) {
        let cell = &self.cells.as_ref()[index as usize];
        // Relaxed load: the CAS below validates the value we build on.
        let mut head = self.free.head.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the Release CAS, read after an Acquire
            // load of the head by `pop_free`.
            cell.next_free.store(head as u32, Ordering::Relaxed);
            let next = ((head >> 32).wrapping_add(1) << 32) | (index as u64 + 1);
            // Release: the link store above (and the slot's Free word) are
            // visible to the thread that pops this index. Relaxed on failure:
            // we only retry with the fresh head.
            match self.free.head.compare_exchange_weak(
                head,
                next,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        // Relaxed: statistic only.
        self.free.len.fetch_add(1, Ordering::Relaxed);
    }

    fn pop_free(&self) -> Option<u32> {
        // Acquire: pairs with the Release CAS in `push_free`, so the top
        // cell's `next_free` link is visible.
        let mut head = self.free.head.load(Ordering::Acquire);
        loop {
            let top = head as u32;
            if top == EMPTY {
                return None;
            }
            let index = top - 1;
            // Relaxed: ordered by the Acquire load of `head`. If another
            // thread popped `index` meanwhile the counter changed and the CAS
            // below fails, so a stale link is never installed.
            let next = self.cells.as_ref()[index as usize]
                .next_free
                .load(Ordering::Relaxed);
            let new = ((head >> 32).wrapping_add(1) << 32) | next as u64;
            // Acquire on success and failure: the next iteration (or the
            // caller, which now owns the slot) reads links and words that
            // other threads published with Release.
            match self.free.head.compare_exchange_weak(
                head,
                new,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // Relaxed: statistic only.
                    self.free.len.fetch_sub(1, Ordering::Relaxed);
                    return Some(index);
                }
                Err(actual) => head = actual,
            }
        }
    }

    /// Takes a free slot and makes it Pending with a fresh generation.
    /// `marker` slots hold ordering commands and are skipped by cancels.
    pub fn alloc(&self, tag: u64, marker: bool) -> Result<RequestId, TableFull> {
        self.alloc_with(tag, marker, |_| {})
    }

    /// [`SlotTable::alloc`] that first calls `init` with the id the request
    /// will get, while the slot is still private to this caller: whatever
    /// `init` stores for the id is in place (and published by the Release
    /// CAS) before any other thread can see, cancel or start the request.
    pub fn alloc_with(
        &self,
        tag: u64,
        marker: bool,
        init: impl FnOnce(RequestId),
    ) -> Result<RequestId, TableFull> {
        let full = TableFull {
            capacity: self.capacity(),
        };
        let index = self.pop_free().ok_or(full)?;
        match self.cells.as_ref()[index as usize].activate(index, tag, marker, init) {
            Ok(id) => Ok(id),
            Err(_) => {
                // Unreachable unless a caller released a slot twice: keep
                // the slot out of circulation and report the table as full
                // rather than corrupting a live request.
                debug_assert!(false, "free list held a non-free slot {index}");
                Err(full)
            }
        }
    }

    /// Finalized terminal -> Free, and back on the free list. Exactly one
    /// caller succeeds; it gets the final status.
    pub fn release(&self, id: RequestId) -> Result<Status, TransitionError> {
        let cell = self.cell(id).ok_or(TransitionError::Unknown)?;
        let status = cell.release(id)?;
        self.push_free(id.index());
        Ok(status)
    }

    /// The current word of `id` (None if unknown, reused or free).
    pub fn get(&self, id: RequestId) -> Option<Word> {
        self.cell(id)?.get(id)
    }

    /// Strong-cancel step for `id`.
    pub fn cancel(&self, id: RequestId) -> CancelStep {
        self.cell(id).map_or(CancelStep::NotLive, |c| c.cancel(id))
    }

    /// Cancel step for `id` limited to `scope`.
    pub fn cancel_scoped(&self, id: RequestId, scope: CancelScope) -> CancelStep {
        self.cell(id)
            .map_or(CancelStep::NotLive, |c| c.cancel_scoped(id, scope))
    }

    /// Weak-cancel step for `id`.
    pub fn try_cancel(&self, id: RequestId) -> WeakCancel {
        self.cell(id)
            .map_or(WeakCancel::NotLive, |c| c.try_cancel(id))
    }

    /// Calls `f` with the id and word of every live request (not markers)
    /// whose tag satisfies `tag & mask == value`. Each id is examined once; a
    /// request enqueued during the scan may or may not be visited.
    pub fn for_each_tagged(&self, mask: u64, value: u64, mut f: impl FnMut(RequestId, Word)) {
        for (i, cell) in self.cells.as_ref().iter().enumerate() {
            let w = cell.load();
            if !w.state().is_live() || w.is_marker() {
                continue;
            }
            if cell.tag() & mask == value {
                f(RequestId::new(i as u32, w.generation()), w);
            }
        }
    }

    /// Calls `f` with every non-free slot's id and word.
    pub fn for_each_used(&self, mut f: impl FnMut(RequestId, Word)) {
        for (i, cell) in self.cells.as_ref().iter().enumerate() {
            let w = cell.load();
            if w.state() != State::Free {
                f(RequestId::new(i as u32, w.generation()), w);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::state::{FailCode, FailKind};

    fn table<const N: usize>() -> SlotTable<[RequestCell; N]> {
        SlotTable::new(core::array::from_fn(|_| RequestCell::new())).unwrap()
    }

    fn finish(t: &SlotTable<[RequestCell; 4]>, id: RequestId) {
        let c = t.cell(id).unwrap();
        c.submit(id).unwrap();
        c.start(id).unwrap();
        c.complete(id).unwrap();
        c.finalize(id).unwrap();
    }

    #[test]
    fn capacity_is_an_error_not_a_panic() {
        let t = table::<4>();
        let ids: [RequestId; 4] = core::array::from_fn(|_| t.alloc(0, false).unwrap());
        assert_eq!(t.alloc(0, false), Err(TableFull { capacity: 4 }));
        assert_eq!(t.free_slots(), 0);
        finish(&t, ids[2]);
        assert_eq!(t.release(ids[2]), Ok(Status::Complete));
        let again = t.alloc(0, false).unwrap();
        assert_eq!(again.index(), ids[2].index());
        assert_ne!(again, ids[2], "a reused slot gets a new generation");
        assert!(SlotTable::new([] as [RequestCell; 0]).is_err());
    }

    #[test]
    fn ids_never_repeat_while_live_and_stale_ids_are_unknown() {
        let t = table::<4>();
        let a = t.alloc(0, false).unwrap();
        finish(&t, a);
        t.release(a).unwrap();
        let b = t.alloc(0, false).unwrap();
        assert_eq!(a.index(), b.index());
        assert_eq!(t.get(a), None);
        assert_eq!(t.cancel(a), CancelStep::NotLive);
        assert_eq!(t.cell(a).unwrap().submit(a), Err(TransitionError::Unknown));
        assert_eq!(t.get(b).unwrap().status(), Some(Status::Pending));
        assert_eq!(t.cancel(RequestId::from_raw(0)), CancelStep::NotLive);
        assert_eq!(t.cancel(RequestId::new(99, 1)), CancelStep::NotLive);
    }

    #[test]
    fn happy_path_and_write_bracket() {
        let t = table::<4>();
        let id = t.alloc(7, false).unwrap();
        let c = t.cell(id).unwrap();
        assert_eq!(c.tag(), 7);
        c.submit(id).unwrap();
        c.start(id).unwrap();
        c.begin_write(id).unwrap();
        assert!(t.get(id).unwrap().writer_active());
        assert_eq!(
            c.complete(id),
            Err(TransitionError::WrongState(State::InFlight))
        );
        c.end_write(id).unwrap();
        assert_eq!(c.complete(id).unwrap().status(), Some(Status::Complete));
        assert_eq!(
            t.cancel(id),
            CancelStep::NotLive,
            "finished: cancel is false"
        );
        assert_eq!(
            t.release(id),
            Err(TransitionError::WrongState(State::Complete))
        );
        c.finalize(id).unwrap();
        assert_eq!(t.release(id), Ok(Status::Complete));
        assert_eq!(t.release(id), Err(TransitionError::Unknown));
    }

    #[test]
    fn cancel_pending_submitted_inflight() {
        let t = table::<4>();
        let p = t.alloc(0, false).unwrap();
        assert_eq!(t.cancel(p), CancelStep::Cancelled(State::Pending));
        assert_eq!(
            t.cell(p).unwrap().submit(p),
            Err(TransitionError::Cancelled)
        );

        let s = t.alloc(0, false).unwrap();
        t.cell(s).unwrap().submit(s).unwrap();
        assert_eq!(t.cancel(s), CancelStep::Cancelled(State::Submitted));
        assert_eq!(t.cell(s).unwrap().start(s), Err(TransitionError::Cancelled));

        let f = t.alloc(0, false).unwrap();
        let c = t.cell(f).unwrap();
        c.submit(f).unwrap();
        c.start(f).unwrap();
        assert_eq!(t.cancel(f), CancelStep::Cancelled(State::InFlight));
        assert_eq!(c.begin_write(f), Err(TransitionError::Cancelled));
        assert_eq!(c.complete(f), Err(TransitionError::Cancelled));
        assert_eq!(
            c.fail(f, FailCode::new(FailKind::Io)),
            Err(TransitionError::Cancelled)
        );
    }

    #[test]
    fn cancel_scopes_leave_out_of_scope_requests_alone() {
        let t = table::<4>();
        let id = t.alloc(0, false).unwrap();
        let c = t.cell(id).unwrap();
        c.submit(id).unwrap();
        c.start(id).unwrap();
        assert_eq!(
            t.cancel_scoped(id, CancelScope::NotStarted),
            CancelStep::Busy
        );
        c.begin_write(id).unwrap();
        assert_eq!(
            t.cancel_scoped(id, CancelScope::NotWriting),
            CancelStep::Busy
        );
        assert!(!t.get(id).unwrap().cancel_requested());
        c.end_write(id).unwrap();
        assert_eq!(
            t.cancel_scoped(id, CancelScope::NotWriting),
            CancelStep::Cancelled(State::InFlight)
        );
        let p = t.alloc(0, false).unwrap();
        assert_eq!(
            t.cancel_scoped(p, CancelScope::NotStarted),
            CancelStep::Cancelled(State::Pending)
        );
    }

    #[test]
    fn alloc_with_runs_init_before_publishing() {
        let t = table::<4>();
        let mut seen = None;
        let id = t
            .alloc_with(5, false, |id| {
                assert_eq!(t.get(id), None, "not visible before init returns");
                seen = Some(id);
            })
            .unwrap();
        assert_eq!(seen, Some(id));
        assert_eq!(t.get(id).unwrap().status(), Some(Status::Pending));
    }

    #[test]
    fn strong_cancel_during_write_ends_cancelled_at_end_write() {
        let t = table::<4>();
        let id = t.alloc(0, false).unwrap();
        let c = t.cell(id).unwrap();
        c.submit(id).unwrap();
        c.start(id).unwrap();
        c.begin_write(id).unwrap();
        assert_eq!(t.cancel(id), CancelStep::WaitForWriter);
        assert_eq!(t.cancel(id), CancelStep::WaitForWriter, "idempotent");
        assert!(t.get(id).unwrap().cancel_requested());
        assert_eq!(c.end_write(id), Err(TransitionError::Cancelled));
        assert_eq!(t.get(id).unwrap().status(), Some(Status::Cancelled));
        assert_eq!(c.complete(id), Err(TransitionError::Cancelled));
    }

    #[test]
    fn weak_cancel_during_write_only_suppresses_callback() {
        let t = table::<4>();
        let id = t.alloc(0, false).unwrap();
        let c = t.cell(id).unwrap();
        c.submit(id).unwrap();
        c.start(id).unwrap();
        c.begin_write(id).unwrap();
        assert_eq!(t.try_cancel(id), WeakCancel::CallbackSuppressed);
        c.end_write(id).unwrap();
        let w = c.complete(id).unwrap();
        assert_eq!(w.status(), Some(Status::Complete));
        assert!(w.callback_suppressed());
        assert_eq!(t.try_cancel(id), WeakCancel::NotLive);

        let p = t.alloc(0, false).unwrap();
        assert_eq!(t.try_cancel(p), WeakCancel::Cancelled(State::Pending));
    }

    #[test]
    fn failure_codes_round_trip() {
        let t = table::<4>();
        let id = t.alloc(0, false).unwrap();
        let c = t.cell(id).unwrap();
        c.submit(id).unwrap();
        c.start(id).unwrap();
        let code = FailCode::with_detail(FailKind::BadHandle, 9);
        let w = c.fail(id, code).unwrap();
        assert_eq!(w.status(), Some(Status::Failed(code)));
        assert_eq!(w.generation(), id.generation());
        assert_eq!(FailKind::from_u8(200), FailKind::Other);
    }

    #[test]
    fn tag_scan_matches_mask_and_skips_markers() {
        let t = table::<4>();
        let a = t.alloc(0x10, false).unwrap();
        let b = t.alloc(0x11, false).unwrap();
        let m = t.alloc(0x10, true).unwrap();
        let mut seen = [None; 4];
        let mut n = 0;
        t.for_each_tagged(0xF0, 0x10, |id, _| {
            seen[n] = Some(id);
            n += 1;
        });
        assert_eq!(&seen[..n], &[Some(a), Some(b)]);
        assert_eq!(
            t.cancel(m),
            CancelStep::NotLive,
            "markers are not cancellable"
        );
        let mut used = 0;
        t.for_each_used(|_, _| used += 1);
        assert_eq!(used, 3);
    }
}
