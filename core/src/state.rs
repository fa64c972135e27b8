//! The request state machine: one atomic `u64` per request slot, and every
//! transition a compare-and-swap on it.
//!
//! ```text
//!  63            32 31          16 15        8  7   6   5   4   3  2    0
//! [ generation     ][ fail detail ][ fail kind ][MK][FN][NC][CR][WR][state]
//! ```
//!
//! * `state` (3 bits): Free 0, Pending 1, Submitted 2, InFlight 3, Complete 4,
//!   Failed 5, Cancelled 6.
//! * `WR` writer active: the executor is writing the destination (host
//!   memory, GPU buffer or, for writes, the file). Set by `begin_write`,
//!   cleared by `end_write`; only legal while InFlight.
//! * `CR` cancel requested: a strong cancel found `WR` set. `end_write` then
//!   moves the request to Cancelled instead of back to InFlight, and the
//!   cancelling thread waits until it sees a terminal state.
//! * `NC` no callback: a weak cancel found `WR` set; the request may still
//!   complete or fail, but its completion callback is not run.
//! * `FN` finalized: the terminal state was reported (stats, callback or
//!   stored completion); the slot may now be released.
//! * `MK` marker: the slot holds an ordering command (status entry, fence
//!   signal, marker callback), not a request; cancel operations skip it.
//! * fail kind / detail: the [`FailCode`] of a Failed request.
//! * generation: must equal the id's generation for any transition, so a
//!   stale id can never touch a reused slot.
//!
//! ```text
//!   Free --alloc--> Pending --submit--> Submitted --start--> InFlight
//!                      |                    |                 |  ^
//!                      |cancel              |cancel, fail     |  | begin_write / end_write (WR)
//!                      v                    v                 v  |
//!                  Cancelled            Cancelled/Failed   Complete | Failed | Cancelled
//!   terminal --finalize--> terminal+FN --release/take--> Free (same generation)
//! ```
//!
//! Exactly one terminal transition wins for each request: terminal states have
//! no outgoing transition except finalize/release, and each transition is a
//! CAS from the exact word it examined. Whoever moved a request out of
//! Submitted (the executor that started it) finalizes it; a request cancelled
//! before it started is finalized by the canceller.

use crate::id::RequestId;
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use core::fmt;

const STATE_MASK: u64 = 0b111;
const WRITER: u64 = 1 << 3;
const CANCEL_REQUESTED: u64 = 1 << 4;
const NO_CALLBACK: u64 = 1 << 5;
const FINALIZED: u64 = 1 << 6;
const MARKER: u64 = 1 << 7;
const KIND_SHIFT: u32 = 8;
const DETAIL_SHIFT: u32 = 16;
const GEN_SHIFT: u32 = 32;
const FLAGS_MASK: u64 = WRITER | CANCEL_REQUESTED | NO_CALLBACK | FINALIZED | MARKER;

/// Coarse state of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// Not holding a request.
    Free = 0,
    /// Enqueued, not yet submitted.
    Pending = 1,
    /// Submitted, waiting for an executor.
    Submitted = 2,
    /// Started by an executor.
    InFlight = 3,
    /// Finished successfully.
    Complete = 4,
    /// Finished with an error.
    Failed = 5,
    /// Cancelled; never completes.
    Cancelled = 6,
}

impl State {
    const fn from_bits(b: u64) -> State {
        match b & STATE_MASK {
            1 => State::Pending,
            2 => State::Submitted,
            3 => State::InFlight,
            4 => State::Complete,
            5 => State::Failed,
            6 => State::Cancelled,
            _ => State::Free,
        }
    }

    /// Complete, Failed or Cancelled.
    pub const fn is_terminal(self) -> bool {
        matches!(self, State::Complete | State::Failed | State::Cancelled)
    }

    /// Pending, Submitted or InFlight.
    pub const fn is_live(self) -> bool {
        matches!(self, State::Pending | State::Submitted | State::InFlight)
    }
}

/// Category of a failure, with stable numbers (the C ABI exposes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FailKind {
    /// An OS I/O error; the detail is the errno.
    Io = 1,
    /// The range ends past the end of the file.
    EndOfFile = 2,
    /// The file handle is invalid or closed; the detail is the errno.
    BadHandle = 3,
    /// The compressed stream is corrupt.
    Corrupt = 4,
    /// The stream's uncompressed size differs from the request's.
    SizeMismatch = 5,
    /// No executor on the queue serves the destination.
    NoExecutor = 6,
    /// The executor dropped the request without a result.
    ExecutorLost = 7,
    /// The request is larger than the queue's staging buffer allows.
    TooLarge = 8,
    /// The executor cannot perform this kind of request.
    Unsupported = 9,
    /// A code this version does not know (from a newer peer).
    Other = 255,
}

impl FailKind {
    /// Maps a stored byte back; unknown values become [`FailKind::Other`].
    pub const fn from_u8(v: u8) -> FailKind {
        match v {
            1 => FailKind::Io,
            2 => FailKind::EndOfFile,
            3 => FailKind::BadHandle,
            4 => FailKind::Corrupt,
            5 => FailKind::SizeMismatch,
            6 => FailKind::NoExecutor,
            7 => FailKind::ExecutorLost,
            8 => FailKind::TooLarge,
            9 => FailKind::Unsupported,
            _ => FailKind::Other,
        }
    }
}

/// A failure as stored in the state word: its kind and a 16-bit detail
/// (the errno for I/O errors, else 0). The OS layer keeps the full error with
/// its context (file, offset, message) next to the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FailCode {
    /// Category.
    pub kind: FailKind,
    /// Kind-specific detail (errno for `Io` / `BadHandle`).
    pub detail: u16,
}

impl FailCode {
    /// A code without detail.
    pub const fn new(kind: FailKind) -> Self {
        FailCode { kind, detail: 0 }
    }

    /// A code with a detail (an errno).
    pub const fn with_detail(kind: FailKind, detail: u16) -> Self {
        FailCode { kind, detail }
    }

    const fn to_bits(self) -> u64 {
        ((self.kind as u64) << KIND_SHIFT) | ((self.detail as u64) << DETAIL_SHIFT)
    }

    const fn from_bits(w: u64) -> Self {
        FailCode {
            kind: FailKind::from_u8((w >> KIND_SHIFT) as u8),
            detail: (w >> DETAIL_SHIFT) as u16,
        }
    }
}

impl fmt::Display for FailCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)?;
        if self.detail != 0 {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// Status of a request as callers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Enqueued, not yet submitted.
    Pending,
    /// Submitted, waiting for an executor.
    Submitted,
    /// Being executed.
    InFlight,
    /// Finished successfully.
    Complete,
    /// Finished with an error.
    Failed(FailCode),
    /// Cancelled.
    Cancelled,
}

impl Status {
    /// Complete, Failed or Cancelled.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Complete | Status::Failed(_) | Status::Cancelled
        )
    }
}

/// A snapshot of a state word.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Word(u64);

impl Word {
    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }
    /// The coarse state.
    pub const fn state(self) -> State {
        State::from_bits(self.0)
    }
    /// The slot generation.
    pub const fn generation(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32
    }
    /// Writer active.
    pub const fn writer_active(self) -> bool {
        self.0 & WRITER != 0
    }
    /// A strong cancel waits for the writer.
    pub const fn cancel_requested(self) -> bool {
        self.0 & CANCEL_REQUESTED != 0
    }
    /// The completion callback must not run (weak cancel).
    pub const fn callback_suppressed(self) -> bool {
        self.0 & NO_CALLBACK != 0
    }
    /// The terminal state has been reported.
    pub const fn finalized(self) -> bool {
        self.0 & FINALIZED != 0
    }
    /// The slot holds an ordering command, not a request.
    pub const fn is_marker(self) -> bool {
        self.0 & MARKER != 0
    }
    /// The status (Free maps to `None`).
    pub const fn status(self) -> Option<Status> {
        Some(match self.state() {
            State::Free => return None,
            State::Pending => Status::Pending,
            State::Submitted => Status::Submitted,
            State::InFlight => Status::InFlight,
            State::Complete => Status::Complete,
            State::Failed => Status::Failed(FailCode::from_bits(self.0)),
            State::Cancelled => Status::Cancelled,
        })
    }
    const fn with_state(self, s: State) -> Word {
        Word((self.0 & !STATE_MASK) | s as u64)
    }
    const fn matches(self, id: RequestId) -> bool {
        self.generation() == id.generation()
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Word")
            .field("state", &self.state())
            .field("generation", &self.generation())
            .field("writer", &self.writer_active())
            .field("cancel_requested", &self.cancel_requested())
            .field("no_callback", &self.callback_suppressed())
            .field("finalized", &self.finalized())
            .field("marker", &self.is_marker())
            .finish()
    }
}

/// Why a transition did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionError {
    /// The id names no live slot (finished and released, reused, or never issued).
    Unknown,
    /// The request was cancelled; the caller must not proceed with it.
    Cancelled,
    /// The slot is in a state this transition does not start from (a
    /// protocol error by the caller, reported rather than panicking).
    WrongState(State),
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionError::Unknown => f.write_str("unknown or finished request id"),
            TransitionError::Cancelled => f.write_str("request was cancelled"),
            TransitionError::WrongState(s) => write!(f, "request is in state {s:?}"),
        }
    }
}

/// Which requests a cancel may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelScope {
    /// Only requests no executor has started (Pending, Submitted).
    NotStarted,
    /// Anything live that is not writing its destination right now; never
    /// waits (used where waiting could deadlock, e.g. inside callbacks).
    NotWriting,
    /// Anything live; a writer in progress gets `CR` and the caller waits.
    All,
}

/// Result of one strong-cancel attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelStep {
    /// This call moved the request to Cancelled from the given state. From
    /// Pending or Submitted the canceller finalizes the request; from InFlight
    /// the executor that started it does.
    Cancelled(State),
    /// The executor is writing the destination. The cancel is recorded (`CR`)
    /// and the request WILL end Cancelled when the write ends; a strong cancel
    /// must wait until the state is terminal before returning true.
    WaitForWriter,
    /// Live, but outside the [`CancelScope`] asked for (started, or writing):
    /// nothing was changed.
    Busy,
    /// Unknown id, already finished, or a marker: nothing was cancelled.
    NotLive,
}

/// Result of a weak cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeakCancel {
    /// Moved to Cancelled from the given state (same duties as
    /// [`CancelStep::Cancelled`]).
    Cancelled(State),
    /// A write is in progress: the request may still complete, but its
    /// callback is suppressed (`NC`).
    CallbackSuppressed,
    /// Unknown id, already finished, or a marker.
    NotLive,
}

/// One request slot: its state word, its cancellation tag, and the free-list
/// link used while the slot is free.
///
/// Aligned to a cache line: every request makes about ten compare-and-swaps
/// on its word, from the enqueuing thread and the executor's, and requests
/// in neighbouring slots usually run on other cores; sharing a line would
/// make each of those CASes pull the line away from the others.
#[repr(align(64))]
pub struct RequestCell {
    word: AtomicU64,
    tag: AtomicU64,
    pub(crate) next_free: AtomicU32,
}

impl Default for RequestCell {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RequestCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestCell")
            .field("word", &self.load())
            .finish()
    }
}

impl RequestCell {
    /// A free slot at generation 0.
    pub fn new() -> Self {
        RequestCell {
            word: AtomicU64::new(0),
            tag: AtomicU64::new(0),
            next_free: AtomicU32::new(0),
        }
    }

    /// Current word. Acquire: pairs with the Release of every transition, so
    /// a caller that sees a state also sees what was written before it (the
    /// destination bytes before Complete, the tag before Pending).
    pub fn load(&self) -> Word {
        Word(self.word.load(Ordering::Acquire))
    }

    /// Cancellation tag of the request in this slot. Relaxed: the tag is
    /// written before the Release CAS that makes the slot Pending, and every
    /// reader first loads the word with Acquire and re-checks the generation
    /// in its own CAS, so a tag read for a stale generation is never acted on.
    pub fn tag(&self) -> u64 {
        self.tag.load(Ordering::Relaxed)
    }

    /// Runs `step` on the current word until its CAS succeeds or `step`
    /// refuses. Words of another generation, or Free words, are `Unknown`.
    ///
    /// Orderings: success AcqRel. Release publishes everything this thread did
    /// before the transition (payload, destination bytes, stored completion)
    /// to the next thread that loads the word; Acquire lets this thread see
    /// what the previous transitioner published. Failure Acquire, because the
    /// freshly read word is examined again by `step`.
    fn transition(
        &self,
        id: RequestId,
        mut step: impl FnMut(Word) -> Result<Word, TransitionError>,
    ) -> Result<(Word, Word), TransitionError> {
        let mut cur = self.load();
        loop {
            if !cur.matches(id) || cur.state() == State::Free {
                return Err(TransitionError::Unknown);
            }
            let next = step(cur)?;
            match self.word.compare_exchange_weak(
                cur.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok((cur, next)),
                Err(actual) => cur = Word(actual),
            }
        }
    }

    /// Free -> Pending with the next generation; returns the new id. Only the
    /// thread that popped this slot from the free list calls it, but it is a
    /// CAS all the same so a protocol error shows up as an error.
    pub(crate) fn activate(
        &self,
        index: u32,
        tag: u64,
        marker: bool,
        init: impl FnOnce(RequestId),
    ) -> Result<RequestId, TransitionError> {
        let cur = self.load();
        if cur.state() != State::Free {
            return Err(TransitionError::WrongState(cur.state()));
        }
        let mut gen = cur.generation().wrapping_add(1);
        if gen == 0 {
            gen = 1;
        }
        // The caller owns the slot until the CAS below publishes it, so it
        // can attach its payload to the id before anyone can cancel it.
        init(RequestId::new(index, gen));
        // Relaxed store: published by the Release CAS below (see `tag`).
        self.tag.store(tag, Ordering::Relaxed);
        let flags = if marker { MARKER } else { 0 };
        let next = ((gen as u64) << GEN_SHIFT) | flags | State::Pending as u64;
        // Release: the tag (and anything the allocator wrote) is visible to
        // whoever sees Pending. Acquire on failure: we report what we saw.
        match self
            .word
            .compare_exchange(cur.0, next, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(RequestId::new(index, gen)),
            Err(actual) => Err(TransitionError::WrongState(Word(actual).state())),
        }
    }

    /// Pending -> Submitted. `Cancelled` if a cancel won the race.
    pub fn submit(&self, id: RequestId) -> Result<(), TransitionError> {
        self.transition(id, |w| match w.state() {
            State::Pending => Ok(w.with_state(State::Submitted)),
            State::Cancelled => Err(TransitionError::Cancelled),
            s => Err(TransitionError::WrongState(s)),
        })
        .map(drop)
    }

    /// Submitted -> InFlight: an executor takes the request. The caller now
    /// finalizes it whatever happens next.
    pub fn start(&self, id: RequestId) -> Result<(), TransitionError> {
        self.transition(id, |w| match w.state() {
            State::Submitted => Ok(w.with_state(State::InFlight)),
            State::Cancelled => Err(TransitionError::Cancelled),
            s => Err(TransitionError::WrongState(s)),
        })
        .map(drop)
    }

    /// InFlight -> InFlight+WR: the executor is about to write the
    /// destination. `Cancelled` means it must not write.
    pub fn begin_write(&self, id: RequestId) -> Result<(), TransitionError> {
        self.transition(id, |w| match w.state() {
            State::InFlight if !w.writer_active() => Ok(Word(w.0 | WRITER)),
            State::Cancelled => Err(TransitionError::Cancelled),
            s => Err(TransitionError::WrongState(s)),
        })
        .map(drop)
    }

    /// InFlight+WR -> InFlight, or -> Cancelled when a strong cancel is
    /// waiting (`CR`); then `Err(Cancelled)` tells the executor to finalize
    /// the request as cancelled.
    pub fn end_write(&self, id: RequestId) -> Result<(), TransitionError> {
        let (_, next) = self.transition(id, |w| match w.state() {
            State::InFlight if w.writer_active() => {
                let cleared = Word(w.0 & !(WRITER | CANCEL_REQUESTED));
                if w.cancel_requested() {
                    Ok(cleared.with_state(State::Cancelled))
                } else {
                    Ok(cleared)
                }
            }
            s => Err(TransitionError::WrongState(s)),
        })?;
        if next.state() == State::Cancelled {
            Err(TransitionError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// InFlight -> Complete. `Cancelled` if a cancel won.
    pub fn complete(&self, id: RequestId) -> Result<Word, TransitionError> {
        self.transition(id, |w| match w.state() {
            State::InFlight if !w.writer_active() => Ok(w.with_state(State::Complete)),
            State::Cancelled => Err(TransitionError::Cancelled),
            s => Err(TransitionError::WrongState(s)),
        })
        .map(|(_, next)| next)
    }

    /// Submitted or InFlight -> Failed(code). `Cancelled` if a cancel won.
    pub fn fail(&self, id: RequestId, code: FailCode) -> Result<Word, TransitionError> {
        self.transition(id, |w| match w.state() {
            State::Submitted | State::InFlight if !w.writer_active() => {
                let cleared = Word(w.0 & (FLAGS_MASK | STATE_MASK | (u64::MAX << GEN_SHIFT)));
                Ok(Word(cleared.with_state(State::Failed).0 | code.to_bits()))
            }
            State::Cancelled => Err(TransitionError::Cancelled),
            s => Err(TransitionError::WrongState(s)),
        })
        .map(|(_, next)| next)
    }

    /// One strong-cancel step (see [`CancelStep`]); never `Busy`.
    pub fn cancel(&self, id: RequestId) -> CancelStep {
        self.cancel_scoped(id, CancelScope::All)
    }

    /// One cancel step limited to `scope`.
    pub fn cancel_scoped(&self, id: RequestId, scope: CancelScope) -> CancelStep {
        let mut busy = false;
        let r = self.transition(id, |w| {
            busy = false;
            if w.is_marker() || !w.state().is_live() {
                return Err(TransitionError::WrongState(w.state()));
            }
            let out_of_scope = match scope {
                CancelScope::NotStarted => w.state() == State::InFlight,
                CancelScope::NotWriting => w.writer_active(),
                CancelScope::All => false,
            };
            if out_of_scope {
                busy = true;
                return Err(TransitionError::WrongState(w.state()));
            }
            if w.writer_active() {
                Ok(Word(w.0 | CANCEL_REQUESTED))
            } else {
                Ok(w.with_state(State::Cancelled))
            }
        });
        match r {
            Ok((prev, next)) if next.state() == State::Cancelled => {
                CancelStep::Cancelled(prev.state())
            }
            Ok(_) => CancelStep::WaitForWriter,
            Err(_) if busy => CancelStep::Busy,
            Err(_) => CancelStep::NotLive,
        }
    }

    /// One weak-cancel step (see [`WeakCancel`]).
    pub fn try_cancel(&self, id: RequestId) -> WeakCancel {
        let r = self.transition(id, |w| {
            if w.is_marker() || !w.state().is_live() {
                return Err(TransitionError::WrongState(w.state()));
            }
            if w.writer_active() {
                Ok(Word(w.0 | NO_CALLBACK))
            } else {
                Ok(w.with_state(State::Cancelled))
            }
        });
        match r {
            Ok((prev, next)) if next.state() == State::Cancelled => {
                WeakCancel::Cancelled(prev.state())
            }
            Ok(_) => WeakCancel::CallbackSuppressed,
            Err(_) => WeakCancel::NotLive,
        }
    }

    /// Marks the terminal state as reported; returns the final word.
    pub fn finalize(&self, id: RequestId) -> Result<Word, TransitionError> {
        self.transition(id, |w| {
            if w.state().is_terminal() && !w.finalized() {
                Ok(Word(w.0 | FINALIZED))
            } else {
                Err(TransitionError::WrongState(w.state()))
            }
        })
        .map(|(_, next)| next)
    }

    /// Finalized terminal -> Free (same generation). Exactly one caller wins;
    /// it returns the final status so a collector learns how it ended.
    pub(crate) fn release(&self, id: RequestId) -> Result<Status, TransitionError> {
        let (prev, _) = self.transition(id, |w| {
            if w.state().is_terminal() && w.finalized() {
                Ok(Word(w.0 & (u64::MAX << GEN_SHIFT)))
            } else {
                Err(TransitionError::WrongState(w.state()))
            }
        })?;
        prev.status().ok_or(TransitionError::Unknown)
    }

    /// The word if it belongs to `id` and is not Free.
    pub fn get(&self, id: RequestId) -> Option<Word> {
        let w = self.load();
        (w.matches(id) && w.state() != State::Free).then_some(w)
    }
}
