//! Real-thread races on the state machine and the free list (complementing
//! the exhaustive loom models with many iterations on the actual atomics;
//! also run under miri with fewer iterations, where miri's scheduler and data
//! race detector check the same code).

#![cfg(not(loom))]

use ds_core::{CancelStep, RequestCell, SlotTable, Status, TransitionError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;

const ITERS: usize = if cfg!(miri) { 20 } else { 20_000 };

#[test]
fn cancel_vs_complete_exactly_one_terminal_transition() {
    let t = SlotTable::new((0..8).map(|_| RequestCell::new()).collect::<Vec<_>>()).unwrap();
    let (mut cancelled, mut completed) = (0, 0);
    for _ in 0..ITERS {
        let id = t.alloc(0, false).unwrap();
        let c = t.cell(id).unwrap();
        c.submit(id).unwrap();
        let barrier = Barrier::new(2);
        let terminal_by = AtomicUsize::new(0);
        let cancel_true = thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                if c.start(id).is_err() || c.begin_write(id).is_err() {
                    return;
                }
                match c.end_write(id) {
                    Err(TransitionError::Cancelled) => {
                        terminal_by.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    r => r.unwrap(),
                }
                if c.complete(id).is_ok() {
                    terminal_by.fetch_add(1, Ordering::Relaxed);
                }
            });
            barrier.wait();
            match t.cancel(id) {
                CancelStep::Cancelled(_) => {
                    terminal_by.fetch_add(1, Ordering::Relaxed);
                    true
                }
                CancelStep::WaitForWriter => {
                    while !t.get(id).unwrap().state().is_terminal() {
                        std::hint::spin_loop();
                    }
                    true
                }
                CancelStep::NotLive => false,
                CancelStep::Busy => unreachable!("a full-scope cancel is never busy"),
            }
        });
        assert_eq!(terminal_by.load(Ordering::Relaxed), 1);
        let end = t.get(id).unwrap().status().unwrap();
        if cancel_true {
            assert_eq!(end, Status::Cancelled);
            cancelled += 1;
        } else {
            assert_eq!(end, Status::Complete);
            completed += 1;
        }
        c.finalize(id).unwrap();
        t.release(id).unwrap();
    }
    assert_eq!(cancelled + completed, ITERS);
}

#[test]
fn free_list_churn_never_double_allocates() {
    let t = SlotTable::new((0..16).map(|_| RequestCell::new()).collect::<Vec<_>>()).unwrap();
    let owners: Vec<AtomicUsize> = (0..16).map(|_| AtomicUsize::new(0)).collect();
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..ITERS / 4 {
                    let Ok(id) = t.alloc(0, false) else { continue };
                    let o = &owners[id.index() as usize];
                    assert_eq!(o.fetch_add(1, Ordering::AcqRel), 0, "slot owned twice");
                    assert!(matches!(t.cancel(id), CancelStep::Cancelled(_)));
                    t.cell(id).unwrap().finalize(id).unwrap();
                    o.fetch_sub(1, Ordering::AcqRel);
                    t.release(id).unwrap();
                }
            });
        }
    });
    assert_eq!(t.free_slots(), 16);
}
