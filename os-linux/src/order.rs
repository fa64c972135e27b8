//! Ordering commands: status entries, fence signals and marker callbacks
//! (DirectStorage's EnqueueStatus / EnqueueSignal / EnqueueSetEvent), and the
//! queue's error record.
//!
//! Requests complete in any order; an ordering command completes only after
//! every request enqueued before it has ended. The queue is cut into epochs:
//! each ordering command closes the current epoch and opens the next, and
//! every request counts as outstanding in the epoch it was enqueued in. The
//! oldest epoch retires, completing its closing command, once it has no
//! outstanding request and its command was submitted. A status entry reports
//! the first failure, in enqueue order, among the requests between it and the
//! previous status entry; cancellation is not a failure.

use crate::error::RequestError;
use ds_core::RequestId;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

const ENTRY_IDLE: u8 = 0;
const ENTRY_PENDING: u8 = 1;
const ENTRY_OK: u8 = 2;
const ENTRY_FAILED: u8 = 3;

/// An array of status entries (DirectStorage's `IDStorageStatusArray`).
/// Shared: clone it to hand it to a queue.
#[derive(Clone)]
pub struct StatusArray(Arc<StatusInner>);

struct StatusInner {
    state: Box<[AtomicU8]>,
    errors: Mutex<Vec<Option<RequestError>>>,
}

impl fmt::Debug for StatusArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusArray")
            .field("len", &self.len())
            .finish()
    }
}

/// One status entry as seen by [`StatusArray::get`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    /// Never enqueued.
    Idle,
    /// Enqueued; requests before it are still running.
    Pending,
    /// Every request since the previous entry succeeded or was cancelled.
    Complete,
    /// The first failure, in enqueue order, since the previous entry.
    Failed(RequestError),
}

impl StatusArray {
    /// An array of `len` idle entries.
    pub fn new(len: usize) -> Self {
        StatusArray(Arc::new(StatusInner {
            state: (0..len).map(|_| AtomicU8::new(ENTRY_IDLE)).collect(),
            errors: Mutex::new(vec![None; len]),
        }))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.state.len()
    }

    /// True for a zero-length array.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the entry completed (successfully or not); false while
    /// pending, when idle, or out of range.
    pub fn is_complete(&self, index: usize) -> bool {
        matches!(
            // Acquire: pairs with the Release in `set`, so the error stored
            // before it is visible to `get`.
            self.0.state.get(index).map(|s| s.load(Ordering::Acquire)),
            Some(ENTRY_OK | ENTRY_FAILED)
        )
    }

    /// The entry's status (`None` when out of range).
    pub fn get(&self, index: usize) -> Option<EntryStatus> {
        // Acquire: see `is_complete`.
        Some(match self.0.state.get(index)?.load(Ordering::Acquire) {
            ENTRY_IDLE => EntryStatus::Idle,
            ENTRY_PENDING => EntryStatus::Pending,
            ENTRY_OK => EntryStatus::Complete,
            _ => {
                let errors = self.0.errors.lock().unwrap_or_else(PoisonError::into_inner);
                match &errors[index] {
                    Some(e) => EntryStatus::Failed(e.clone()),
                    None => EntryStatus::Pending,
                }
            }
        })
    }

    pub(crate) fn mark_pending(&self, index: usize) {
        // Relaxed: the entry is published to other threads by the queue's
        // own synchronization; readers only need to eventually see it.
        self.0.state[index].store(ENTRY_PENDING, Ordering::Relaxed);
    }

    fn set(&self, index: usize, failure: Option<RequestError>) {
        let code = if failure.is_some() {
            ENTRY_FAILED
        } else {
            ENTRY_OK
        };
        self.0.errors.lock().unwrap_or_else(PoisonError::into_inner)[index] = failure;
        // Release: the error stored above is visible to whoever sees the code.
        self.0.state[index].store(code, Ordering::Release);
    }
}

/// A monotonic fence value (DirectStorage's `ID3D12Fence` as used by
/// EnqueueSignal): the queue sets it when everything before the signal ended.
#[derive(Clone)]
pub struct Fence(Arc<FenceInner>);

struct FenceInner {
    value: Mutex<u64>,
    cv: Condvar,
}

impl fmt::Debug for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fence")
            .field("value", &self.value())
            .finish()
    }
}

impl Fence {
    /// A fence at `initial`.
    pub fn new(initial: u64) -> Self {
        Fence(Arc::new(FenceInner {
            value: Mutex::new(initial),
            cv: Condvar::new(),
        }))
    }

    /// Current value.
    pub fn value(&self) -> u64 {
        *self.0.value.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the value (as `ID3D12Fence::Signal`) and wakes waiters.
    pub fn signal(&self, value: u64) {
        *self.0.value.lock().unwrap_or_else(PoisonError::into_inner) = value;
        self.0.cv.notify_all();
    }

    /// Waits until the value is at least `target`; false on timeout.
    pub fn wait(&self, target: u64, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut v = self.0.value.lock().unwrap_or_else(PoisonError::into_inner);
        while *v < target {
            match deadline {
                None => v = self.0.cv.wait(v).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    v = self
                        .0
                        .cv
                        .wait_timeout(v, d - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
        true
    }
}

/// An ordering command.
pub(crate) enum OrderCmd {
    Status(StatusArray, usize),
    Signal(Fence, u64),
    Marker(Box<dyn FnOnce() + Send + 'static>),
}

impl OrderCmd {
    /// Performs the command with the failure it reports (status only).
    pub(crate) fn run(self, failure: Option<RequestError>) {
        match self {
            OrderCmd::Status(array, index) => array.set(index, failure),
            OrderCmd::Signal(fence, value) => fence.signal(value),
            OrderCmd::Marker(f) => f(),
        }
    }
}

struct Epoch {
    outstanding: usize,
    first_failure: Option<(u64, RequestError)>,
    closer: Option<(RequestId, OrderCmd)>,
}

impl Epoch {
    fn open() -> Self {
        Epoch {
            outstanding: 0,
            first_failure: None,
            closer: None,
        }
    }
}

/// Keeps the earlier (lower sequence) of two failures.
fn keep_first(slot: &mut Option<(u64, RequestError)>, seq: u64, e: &RequestError) {
    if slot.as_ref().is_none_or(|(s, _)| seq < *s) {
        *slot = Some((seq, e.clone()));
    }
}

/// The failures since the last `retrieve_error_record`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorRecord {
    /// Failed requests since the last retrieval.
    pub failure_count: u32,
    /// The first of them in enqueue order.
    pub first_failure: Option<RequestError>,
}

/// Epoch bookkeeping of one queue (under the queue's order lock).
pub(crate) struct Order {
    base: u64,
    epochs: VecDeque<Epoch>,
    since_status: Option<(u64, RequestError)>,
    next_seq: u64,
    errors: (u32, Option<(u64, RequestError)>),
}

/// A retired command and the failure it reports.
pub(crate) type Retired = (RequestId, OrderCmd, Option<RequestError>);

impl Order {
    /// Room for `capacity` ordering commands: each holds a queue slot, so
    /// there are never more epochs than slots + 1 and the deque never grows.
    pub(crate) fn new(capacity: usize) -> Self {
        let mut epochs = VecDeque::with_capacity(capacity + 1);
        epochs.push_back(Epoch::open());
        Order {
            base: 0,
            epochs,
            since_status: None,
            next_seq: 0,
            errors: (0, None),
        }
    }

    fn current(&mut self) -> &mut Epoch {
        // There is always an open epoch at the back.
        let last = self.epochs.len() - 1;
        &mut self.epochs[last]
    }

    /// Number of the open epoch.
    pub(crate) fn current_epoch(&self) -> u64 {
        self.base + self.epochs.len() as u64 - 1
    }

    /// Registers a request; returns its (sequence, epoch).
    pub(crate) fn add_request(&mut self) -> (u64, u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.current().outstanding += 1;
        (seq, self.current_epoch())
    }

    /// Closes the open epoch with `cmd` (held in slot `id`).
    pub(crate) fn close(&mut self, id: RequestId, cmd: OrderCmd) {
        self.next_seq += 1;
        self.current().closer = Some((id, cmd));
        self.epochs.push_back(Epoch::open());
    }

    /// A request of `epoch` ended, with `failure` if it failed. Returns true
    /// when that epoch has no outstanding request left.
    pub(crate) fn request_done(
        &mut self,
        epoch: u64,
        seq: u64,
        failure: Option<&RequestError>,
    ) -> bool {
        let Some(e) = epoch
            .checked_sub(self.base)
            .and_then(|i| self.epochs.get_mut(i as usize))
        else {
            debug_assert!(false, "request of retired epoch {epoch}");
            return false;
        };
        e.outstanding -= 1;
        let drained = e.outstanding == 0;
        if let Some(f) = failure {
            keep_first(&mut e.first_failure, seq, f);
            self.errors.0 = self.errors.0.saturating_add(1);
            keep_first(&mut self.errors.1, seq, f);
        }
        drained
    }

    /// Pops every epoch that can retire; `submitted(id)` tells whether an
    /// ordering command was submitted. Returns the commands to run, in order.
    pub(crate) fn retire(&mut self, submitted: impl Fn(RequestId) -> bool, out: &mut Vec<Retired>) {
        while self.epochs.len() > 1 {
            let front = &self.epochs[0];
            let ready = front.outstanding == 0
                && front.closer.as_ref().is_some_and(|(id, _)| submitted(*id));
            if !ready {
                break;
            }
            let Some(epoch) = self.epochs.pop_front() else {
                break;
            };
            self.base += 1;
            if let Some((seq, e)) = &epoch.first_failure {
                keep_first(&mut self.since_status, *seq, e);
            }
            if let Some((id, cmd)) = epoch.closer {
                let failure = match cmd {
                    OrderCmd::Status(..) => self.since_status.take().map(|(_, e)| e),
                    _ => None,
                };
                out.push((id, cmd, failure));
            }
        }
    }

    /// True when no request of epochs up to `epoch` is outstanding.
    pub(crate) fn drained_through(&self, epoch: u64) -> bool {
        let upto = epoch.saturating_sub(self.base);
        self.epochs
            .iter()
            .take(upto as usize + 1)
            .all(|e| e.outstanding == 0)
    }

    /// Takes the error record (DirectStorage's RetrieveErrorRecord).
    pub(crate) fn take_errors(&mut self) -> ErrorRecord {
        let (count, first) = std::mem::take(&mut self.errors);
        ErrorRecord {
            failure_count: count,
            first_failure: first.map(|(_, e)| e),
        }
    }
}
