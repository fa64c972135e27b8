//! Blocking for queue events (a request ended, a slot was freed) without
//! a lock on the hot path: wakers only take the lock when someone waits.
//!
//! Lost-wakeup freedom: a waiter increments `waiting`, issues a SeqCst
//! fence, then checks its condition under the lock; a waker changes state,
//! issues a SeqCst fence, then reads `waiting`. The two fences order the
//! pairs, so either the waker sees the waiter and notifies under the lock,
//! or the waiter's check sees the new state.

use std::cell::Cell;
use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

pub(crate) struct Waiters {
    lock: Mutex<()>,
    cv: Condvar,
    waiting: AtomicUsize,
}

impl Waiters {
    pub(crate) fn new() -> Self {
        Waiters {
            lock: Mutex::new(()),
            cv: Condvar::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Wakes every waiter if there is any. Call after the state change.
    pub(crate) fn notify(&self) {
        // SeqCst fence: see the module comment.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        if self.waiting.load(Ordering::Relaxed) > 0 {
            let _g = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.cv.notify_all();
        }
    }

    /// Blocks until `done()` is true (returns true) or `deadline` passes
    /// (returns false).
    pub(crate) fn wait_until(
        &self,
        deadline: Option<Instant>,
        mut done: impl FnMut() -> bool,
    ) -> bool {
        if done() {
            return true;
        }
        // Relaxed increment, then the SeqCst fence of the module comment.
        self.waiting.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let mut g = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let ok = loop {
            if done() {
                break true;
            }
            match deadline {
                None => g = self.cv.wait(g).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break false;
                    }
                    g = self
                        .cv
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        };
        drop(g);
        // Relaxed: only a hint for wakers.
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        ok
    }
}

thread_local! {
    static IN_CALLBACK: Cell<usize> = const { Cell::new(0) };
}

/// Marks the current thread as running a completion callback while alive.
pub(crate) struct CallbackScope(());

impl CallbackScope {
    pub(crate) fn enter() -> Self {
        IN_CALLBACK.with(|c| c.set(c.get() + 1));
        CallbackScope(())
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        IN_CALLBACK.with(|c| c.set(c.get() - 1));
    }
}

/// True inside a completion or marker callback of any queue.
pub(crate) fn in_callback() -> bool {
    IN_CALLBACK.with(|c| c.get() > 0)
}
