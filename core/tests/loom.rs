//! loom model tests of the request state machine: every interleaving (up to
//! loom's preemption bound) of cancel vs complete, cancel vs submit, weak
//! cancel vs complete, stale-id cancel vs slot reuse, and concurrent slot
//! allocation. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p ds-core --test loom --release`
//! (`cargo xtask test --only loom`).
//!
//! What they prove, for each interleaving: exactly one terminal transition
//! succeeds; a strong cancel that returns true is never followed by a write
//! of the destination or a completion; a cancel that loses reports false and
//! the request completes; stale ids never touch a reused slot; the free list
//! never hands one slot to two owners.

#![cfg(loom)]

use ds_core::{CancelStep, RequestCell, RequestId, SlotTable, State, Status, TransitionError};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

fn table(n: usize) -> SlotTable<Vec<RequestCell>> {
    SlotTable::new((0..n).map(|_| RequestCell::new()).collect()).unwrap()
}

/// Strong cancel as the queue does it: one step, then wait out a writer.
/// Returns (cancelled, whether this call made the terminal transition itself).
fn strong_cancel(t: &SlotTable<Vec<RequestCell>>, id: RequestId) -> (bool, bool) {
    match t.cancel(id) {
        CancelStep::Cancelled(_) => (true, true),
        CancelStep::NotLive => (false, false),
        CancelStep::Busy => unreachable!("a full-scope cancel is never busy"),
        CancelStep::WaitForWriter => {
            while !t.get(id).is_some_and(|w| w.state().is_terminal()) {
                thread::yield_now();
            }
            assert_eq!(t.get(id).unwrap().status(), Some(Status::Cancelled));
            (true, false)
        }
    }
}

/// The executor side: start, write the destination, complete. Returns how
/// many terminal transitions it performed (0 or 1).
fn execute(
    t: &SlotTable<Vec<RequestCell>>,
    id: RequestId,
    cancel_returned: &AtomicBool,
    writes: &AtomicUsize,
) -> usize {
    let c = t.cell(id).unwrap();
    if c.start(id).is_err() {
        return 0;
    }
    match c.begin_write(id) {
        Ok(()) => {
            // SeqCst: a total order with the canceller's store, so a write
            // after a `true` cancel would be caught here.
            assert!(
                !cancel_returned.load(Ordering::SeqCst),
                "destination written after strong cancel returned true"
            );
            writes.fetch_add(1, Ordering::SeqCst);
        }
        Err(TransitionError::Cancelled) => return 0,
        Err(e) => panic!("begin_write: {e:?}"),
    }
    match c.end_write(id) {
        Ok(()) => {}
        Err(TransitionError::Cancelled) => return 1,
        Err(e) => panic!("end_write: {e:?}"),
    }
    match c.complete(id) {
        Ok(_) => 1,
        Err(TransitionError::Cancelled) => 0,
        Err(e) => panic!("complete: {e:?}"),
    }
}

#[test]
fn cancel_vs_complete() {
    loom::model(|| {
        let t = Arc::new(table(1));
        let id = t.alloc(0, false).unwrap();
        t.cell(id).unwrap().submit(id).unwrap();
        let cancel_returned = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicUsize::new(0));

        let worker = {
            let (t, cr, w) = (t.clone(), cancel_returned.clone(), writes.clone());
            thread::spawn(move || execute(&t, id, &cr, &w))
        };
        let (cancelled, canceller_terminal) = strong_cancel(&t, id);
        if cancelled {
            cancel_returned.store(true, Ordering::SeqCst);
        }
        let worker_terminal = worker.join().unwrap();

        let end = t.get(id).unwrap().status().unwrap();
        assert!(end.is_terminal());
        if cancelled {
            assert_eq!(end, Status::Cancelled);
        } else {
            assert_eq!(end, Status::Complete);
            assert_eq!(writes.load(Ordering::SeqCst), 1);
        }
        // Exactly one party performed the terminal transition: the worker
        // (complete, or end_write turning into Cancelled) or the canceller
        // (a direct Cancelled step).
        assert_eq!(worker_terminal + usize::from(canceller_terminal), 1);
    });
}

#[test]
fn cancel_vs_submit() {
    loom::model(|| {
        let t = Arc::new(table(1));
        let id = t.alloc(0, false).unwrap();
        let submitter = {
            let t = t.clone();
            thread::spawn(move || t.cell(id).unwrap().submit(id))
        };
        let step = t.cancel(id);
        let submitted = submitter.join().unwrap();
        match step {
            CancelStep::Cancelled(State::Pending) => {
                assert_eq!(submitted, Err(TransitionError::Cancelled))
            }
            CancelStep::Cancelled(State::Submitted) => assert_eq!(submitted, Ok(())),
            other => panic!("cancel of a live request returned {other:?}"),
        }
        assert_eq!(t.get(id).unwrap().status(), Some(Status::Cancelled));
        // Whatever happened, an executor can no longer start it.
        assert_eq!(
            t.cell(id).unwrap().start(id),
            Err(TransitionError::Cancelled)
        );
    });
}

#[test]
fn weak_cancel_vs_complete() {
    loom::model(|| {
        let t = Arc::new(table(1));
        let id = t.alloc(0, false).unwrap();
        t.cell(id).unwrap().submit(id).unwrap();
        let never = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (t, n, w) = (t.clone(), never.clone(), writes.clone());
            thread::spawn(move || execute(&t, id, &n, &w))
        };
        let weak = t.try_cancel(id);
        worker.join().unwrap();
        let w = t.get(id).unwrap();
        match weak {
            ds_core::WeakCancel::Cancelled(_) => assert_eq!(w.status(), Some(Status::Cancelled)),
            ds_core::WeakCancel::CallbackSuppressed => {
                // Raced with a write: it may complete, but its callback is off.
                assert!(w.callback_suppressed());
                assert_eq!(w.status(), Some(Status::Complete));
            }
            ds_core::WeakCancel::NotLive => assert_eq!(w.status(), Some(Status::Complete)),
        }
    });
}

#[test]
fn stale_cancel_never_touches_a_reused_slot() {
    loom::model(|| {
        let t = Arc::new(table(1));
        let old = t.alloc(0, false).unwrap();
        let c = t.cell(old).unwrap();
        c.submit(old).unwrap();
        c.start(old).unwrap();
        c.complete(old).unwrap();
        c.finalize(old).unwrap();
        let owner = {
            let t = t.clone();
            thread::spawn(move || {
                t.release(old).unwrap();
                t.alloc(0, false).unwrap()
            })
        };
        let stale = t.cancel(old);
        let new = owner.join().unwrap();
        assert_eq!(stale, CancelStep::NotLive);
        assert_ne!(new, old);
        assert_eq!(t.get(new).unwrap().status(), Some(Status::Pending));
    });
}

#[test]
fn concurrent_alloc_and_release_hand_out_each_slot_once() {
    loom::model(|| {
        let t = Arc::new(table(2));
        let first = t.alloc(0, false).unwrap();
        let c = t.cell(first).unwrap();
        assert_eq!(t.cancel(first), CancelStep::Cancelled(State::Pending));
        c.finalize(first).unwrap();
        let a = {
            let t = t.clone();
            thread::spawn(move || t.alloc(1, false))
        };
        let b = {
            let t = t.clone();
            thread::spawn(move || t.release(first).map(|_| t.alloc(2, false)))
        };
        let got_a = a.join().unwrap();
        let got_b = b.join().unwrap().unwrap();
        // Two slots: one was always free for `a`, and `b` released the other
        // before allocating, so both succeed, and never with the same slot.
        let (ia, ib) = (got_a.unwrap(), got_b.unwrap());
        assert_ne!(ia.index(), ib.index(), "one slot handed to two owners");
        assert_eq!(t.free_slots(), 0);
    });
}
