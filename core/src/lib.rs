//! `ds-core`: the allocation-free heart of ds-runtime.
//!
//! * [`request`]: what a request asks for (source, destination, operation,
//!   compression, sizes, cancellation tag, priority, name) and its checks.
//! * [`id`]: request ids, slot index + generation, never reused while live.
//! * [`state`]: the per-request state machine in one atomic word; every
//!   transition is a compare-and-swap, so cancel and complete race safely and
//!   exactly one terminal state is reached, exactly once.
//! * [`table`]: fixed-capacity slot table with a lock-free free list.
//! * [`ring`]: bounded FIFO of ids for submission and ready lists.
//!
//! No OS calls and no allocation: storage is provided by the caller. The
//! crate's tests run under miri (`cargo +nightly miri test -p ds-core`) and the
//! state machine is model-checked with loom (`tests/loom.rs`). See
//! `docs/design.md` for the request life cycle and the cancel protocol.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod id;
pub mod request;
pub mod ring;
pub mod state;
mod sync;
pub mod table;

pub use id::RequestId;
pub use request::{
    Compression, DescError, Destination, DestinationKinds, Name, Operation, Priority, RequestDesc,
    Source, MAX_NAME_LEN,
};
pub use ring::{IdRing, RingFull};
pub use state::{
    CancelScope, CancelStep, FailCode, FailKind, RequestCell, State, Status, TransitionError,
    WeakCancel, Word,
};
pub use table::{BadCapacity, SlotTable, TableFull, MAX_SLOTS};
