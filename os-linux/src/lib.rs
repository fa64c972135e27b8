//! `ds-os-linux`: the Linux shell of ds-runtime — the request [`Queue`],
//! its executor interface ([`Driver`], [`JobFeed`], [`Job`]) and the pread
//! backend.
//!
//! ```no_run
//! use ds_os_linux::{FileRef, Queue, Request};
//! let queue = Queue::new()?;
//! let file = FileRef::open("assets.bin")?;
//! let id = queue.enqueue(Request::read(&file, 0, 4096).into_buffer(vec![0; 4096]))?;
//! let done = queue.wait(id, None)?;
//! assert_eq!(done.result(), Ok(4096));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The request life cycle and the cancel protocol are described in
//! `docs/design.md`; the per-request state machine lives in `ds-core`.
//! Logging goes through the `log` facade.

pub mod aligned;
pub mod cufile;
pub mod driver;
pub mod error;
pub mod exec;
pub mod file;
mod mem;
pub mod order;
pub mod pread;
pub mod queue;
pub mod request;
pub mod stats;
pub mod uring;
mod wait;

pub use driver::{Cancelled, Driver, FeedHooks, GpuRange, IoParts, Job, JobFeed};
pub use ds_core::{Compression, Operation, Priority, RequestId, Status};
pub use error::{
    BuildError, EnqueueError, FileLabel, Rejected, RequestError, RequestErrorKind, WaitError,
};
pub use file::{FileRef, WeakFile};
pub use order::{EntryStatus, ErrorRecord, Fence, StatusArray};
pub use pread::{PreadConfig, PreadDriver};
pub use queue::{Backend, Queue, QueueBuilder, QueueInfo, MAX_CAPACITY, MIN_CAPACITY};
pub use request::{Completion, Outcome, Request};
pub use stats::Stats;
pub use uring::{UringConfig, UringDriver, UringError, UringStats};
