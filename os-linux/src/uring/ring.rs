//! One io_uring instance, wrapped for the drivers of this crate and for
//! embedders that drive their own reads (the GPU executor reading into
//! mapped staging memory): set-up with the best flags the kernel accepts,
//! registered (fixed) buffers and files, SQE building from a small [`IoOp`]
//! enum, batched submission and completion reaping, and errors that name
//! the call, the sizes and the errno.
//!
//! Fixed buffers are picked automatically: a read or write whose memory lies
//! inside a region registered with [`Ring::register_buffers`] is sent as
//! `READ_FIXED` / `WRITE_FIXED` with that region's index, anything else as
//! plain `READ` / `WRITE`.

#![allow(unsafe_code)]

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::fmt;
use std::os::fd::RawFd;
use std::time::Duration;

/// Largest length of one read or write SQE (the kernel caps one transfer
/// at `INT_MAX` rounded down to a page; 1 GiB keeps O_DIRECT alignment).
pub const MAX_OP_LEN: usize = 1 << 30;

/// Why io_uring could not be used, or a registration failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UringError {
    /// Turned off by the environment (`DS_IO_URING=off`).
    Disabled {
        /// The variable and value that did it.
        reason: String,
    },
    /// `io_uring_setup` failed (ENOSYS: no kernel support or a seccomp
    /// filter; EPERM: `kernel.io_uring_disabled` or a seccomp filter).
    Setup {
        /// Submission queue entries asked for.
        entries: u32,
        /// Whether SQPOLL was asked for.
        sqpoll: bool,
        /// The errno.
        errno: i32,
    },
    /// The kernel lacks an operation the driver needs.
    MissingOp {
        /// The operation.
        op: &'static str,
    },
    /// `IORING_REGISTER_BUFFERS` failed (ENOMEM: the pinned pages exceed
    /// `RLIMIT_MEMLOCK`).
    RegisterBuffers {
        /// Bytes in the regions.
        bytes: usize,
        /// Number of regions.
        regions: usize,
        /// The errno.
        errno: i32,
        /// The soft `RLIMIT_MEMLOCK` at the time, in bytes (`None`: unlimited).
        memlock_limit: Option<u64>,
    },
    /// Registering (or updating) the fixed file table failed.
    RegisterFiles {
        /// The slot (or slot count for the table itself).
        slot: u32,
        /// The errno.
        errno: i32,
    },
    /// Creating or registering the wake-up eventfd failed.
    Eventfd {
        /// The errno.
        errno: i32,
    },
    /// `io_uring_enter` failed with an unexpected errno.
    Enter {
        /// The errno.
        errno: i32,
    },
}

fn errno_text(errno: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(errno)
}

impl fmt::Display for UringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UringError::Disabled { reason } => write!(f, "io_uring turned off ({reason})"),
            UringError::Setup {
                entries,
                sqpoll,
                errno,
            } => write!(
                f,
                "io_uring_setup({entries} entries{}) failed: {}",
                if *sqpoll { ", SQPOLL" } else { "" },
                errno_text(*errno)
            ),
            UringError::MissingOp { op } => {
                write!(f, "the kernel's io_uring lacks the {op} operation")
            }
            UringError::RegisterBuffers {
                bytes,
                regions,
                errno,
                memlock_limit,
            } => {
                write!(
                    f,
                    "registering {regions} buffer region(s) of {bytes} bytes failed: {}",
                    errno_text(*errno)
                )?;
                match memlock_limit {
                    Some(l) => write!(f, " (RLIMIT_MEMLOCK is {l} bytes)"),
                    None => Ok(()),
                }
            }
            UringError::RegisterFiles { slot, errno } => write!(
                f,
                "registering fixed file slot {slot} failed: {}",
                errno_text(*errno)
            ),
            UringError::Eventfd { errno } => {
                write!(f, "wake-up eventfd failed: {}", errno_text(*errno))
            }
            UringError::Enter { errno } => {
                write!(f, "io_uring_enter failed: {}", errno_text(*errno))
            }
        }
    }
}

impl std::error::Error for UringError {}

impl UringError {
    /// True when io_uring as a whole cannot be used here (so a queue falls
    /// back to the pread backend), rather than one registration failing.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            UringError::Disabled { .. } | UringError::Setup { .. } | UringError::MissingOp { .. }
        )
    }
}

fn os_errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn memlock_soft_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Memlock).current
}

/// A file operand: a plain descriptor or a slot of the fixed file table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A descriptor number.
    Fd(RawFd),
    /// A slot registered with [`Ring::set_file`].
    Fixed(u32),
}

/// One operation to queue.
#[derive(Clone, Copy, Debug)]
pub enum IoOp {
    /// Read `len` bytes at `offset` into `buf`.
    Read {
        /// The file.
        file: Target,
        /// Destination memory.
        buf: *mut u8,
        /// Bytes (at most [`MAX_OP_LEN`]).
        len: u32,
        /// File offset.
        offset: u64,
    },
    /// Write `len` bytes from `buf` at `offset`.
    Write {
        /// The file.
        file: Target,
        /// Source memory.
        buf: *const u8,
        /// Bytes (at most [`MAX_OP_LEN`]).
        len: u32,
        /// File offset.
        offset: u64,
    },
    /// Read from a non-seekable descriptor (an eventfd) into `buf`.
    ReadStream {
        /// The descriptor.
        fd: RawFd,
        /// Destination memory.
        buf: *mut u8,
        /// Bytes.
        len: u32,
    },
    /// `IORING_OP_ASYNC_CANCEL` of the operation queued with `target`.
    Cancel {
        /// The `user_data` of the operation to cancel.
        target: u64,
    },
}

/// How a ring is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingOptions {
    /// Submission queue entries (rounded up to a power of two by the
    /// kernel); the completion queue gets twice as many.
    pub entries: u32,
    /// Kernel-side submission polling with this idle time before the
    /// polling thread sleeps.
    pub sqpoll_idle: Option<Duration>,
    /// The ring is used by the thread that creates it only: allows the
    /// kernel's single-issuer and deferred task-run optimisations.
    pub single_thread: bool,
}

/// Counters of one ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingCounters {
    /// SQEs queued.
    pub sqes: u64,
    /// `io_uring_enter` calls made (or submissions in SQPOLL mode).
    pub enters: u64,
    /// Read/write SQEs that used a registered buffer.
    pub fixed_buffer_ops: u64,
    /// Read/write SQEs that used a registered file.
    pub fixed_file_ops: u64,
}

/// One io_uring instance.
pub struct Ring {
    uring: IoUring,
    sqpoll: bool,
    /// Registered buffer regions by index: (start address, length).
    buffers: Vec<(usize, usize)>,
    file_slots: u32,
    counters: RingCounters,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("sq_entries", &self.uring.params().sq_entries())
            .field("sqpoll", &self.sqpoll)
            .field("buffers", &self.buffers.len())
            .field("file_slots", &self.file_slots)
            .finish()
    }
}

/// `DS_IO_URING=off` (or `0`, `no`, `false`) turns io_uring off.
pub fn disabled_by_env() -> Option<UringError> {
    let v = std::env::var("DS_IO_URING").ok()?;
    matches!(
        v.to_ascii_lowercase().as_str(),
        "off" | "0" | "no" | "false"
    )
    .then(|| UringError::Disabled {
        reason: format!("DS_IO_URING={v}"),
    })
}

impl Ring {
    /// Sets up a ring, trying the fastest flags first and dropping those the
    /// kernel refuses (EINVAL), then checks the operations the drivers use.
    pub fn new(opts: RingOptions) -> Result<Ring, UringError> {
        if let Some(e) = disabled_by_env() {
            return Err(e);
        }
        let entries = opts.entries.clamp(2, 32768);
        let attempts: &[(bool, bool)] = if opts.sqpoll_idle.is_some() {
            &[(false, false)]
        } else if opts.single_thread {
            // (single issuer + deferred task run, cooperative task run)
            &[(true, false), (false, true), (false, false)]
        } else {
            &[(false, true), (false, false)]
        };
        let mut last = libc::EINVAL;
        for &(defer, coop) in attempts {
            let mut b = IoUring::builder();
            b.setup_cqsize(entries * 2);
            if let Some(idle) = opts.sqpoll_idle {
                b.setup_sqpoll(idle.as_millis().clamp(1, u32::MAX as u128) as u32);
            }
            if defer {
                b.setup_single_issuer().setup_defer_taskrun();
            }
            if coop {
                b.setup_coop_taskrun();
            }
            match b.build(entries) {
                Ok(uring) => {
                    let ring = Ring {
                        sqpoll: opts.sqpoll_idle.is_some(),
                        uring,
                        buffers: Vec::new(),
                        file_slots: 0,
                        counters: RingCounters::default(),
                    };
                    ring.check_ops()?;
                    return Ok(ring);
                }
                Err(e) => {
                    last = os_errno(&e);
                    if last != libc::EINVAL {
                        break;
                    }
                }
            }
        }
        Err(UringError::Setup {
            entries,
            sqpoll: opts.sqpoll_idle.is_some(),
            errno: last,
        })
    }

    fn check_ops(&self) -> Result<(), UringError> {
        let mut probe = io_uring::Probe::new();
        if self.uring.submitter().register_probe(&mut probe).is_err() {
            // Kernels before 5.6 have no probe, nor IORING_OP_READ.
            return Err(UringError::MissingOp { op: "PROBE" });
        }
        for (code, op) in [
            (opcode::Read::CODE, "READ"),
            (opcode::Write::CODE, "WRITE"),
            (opcode::ReadFixed::CODE, "READ_FIXED"),
            (opcode::WriteFixed::CODE, "WRITE_FIXED"),
            (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
        ] {
            if !probe.is_supported(code) {
                return Err(UringError::MissingOp { op });
            }
        }
        Ok(())
    }

    /// True when set up with SQPOLL.
    pub fn is_sqpoll(&self) -> bool {
        self.sqpoll
    }

    /// Submission queue entries.
    pub fn sq_entries(&self) -> u32 {
        self.uring.params().sq_entries()
    }

    /// Counters so far.
    pub fn counters(&self) -> RingCounters {
        self.counters
    }

    /// Registers memory regions as fixed buffers (indices in order). Later
    /// reads and writes inside a region use it automatically. Replaces an
    /// earlier registration.
    ///
    /// # Safety
    /// Each region must stay allocated (not unmapped or freed) until this
    /// ring is dropped or [`Ring::unregister_buffers`] is called.
    pub unsafe fn register_buffers(
        &mut self,
        regions: &[(*mut u8, usize)],
    ) -> Result<(), UringError> {
        if !self.buffers.is_empty() {
            self.unregister_buffers();
        }
        let iov: Vec<libc::iovec> = regions
            .iter()
            .map(|&(p, len)| libc::iovec {
                iov_base: p.cast(),
                iov_len: len,
            })
            .collect();
        // SAFETY: the caller keeps every region allocated while registered
        // (this function's contract); the kernel pins the pages.
        match unsafe { self.uring.submitter().register_buffers(&iov) } {
            Ok(()) => {
                self.buffers = regions.iter().map(|&(p, l)| (p as usize, l)).collect();
                Ok(())
            }
            Err(e) => Err(UringError::RegisterBuffers {
                bytes: regions.iter().map(|r| r.1).sum(),
                regions: regions.len(),
                errno: os_errno(&e),
                memlock_limit: memlock_soft_limit(),
            }),
        }
    }

    /// Drops the buffer registration.
    pub fn unregister_buffers(&mut self) {
        if !self.buffers.is_empty() {
            // Fails only when nothing is registered.
            let _ = self.uring.submitter().unregister_buffers();
            self.buffers.clear();
        }
    }

    /// The registered region holding `[ptr, ptr + len)`, if any.
    fn buffer_index(&self, ptr: usize, len: usize) -> Option<u16> {
        self.buffers
            .iter()
            .position(|&(base, blen)| ptr >= base && ptr + len <= base + blen)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Creates an empty fixed file table of `slots` entries.
    pub fn register_file_table(&mut self, slots: u32) -> Result<(), UringError> {
        self.uring
            .submitter()
            .register_files_sparse(slots)
            .map_err(|e| UringError::RegisterFiles {
                slot: slots,
                errno: os_errno(&e),
            })?;
        self.file_slots = slots;
        Ok(())
    }

    /// Slots of the fixed file table (0: none).
    pub fn file_slots(&self) -> u32 {
        self.file_slots
    }

    /// Puts `fd` into slot `slot` (the ring keeps its own reference to the
    /// open file); `None` empties the slot.
    pub fn set_file(&mut self, slot: u32, fd: Option<RawFd>) -> Result<(), UringError> {
        debug_assert!(slot < self.file_slots);
        self.uring
            .submitter()
            .register_files_update(slot, &[fd.unwrap_or(-1)])
            .map(drop)
            .map_err(|e| UringError::RegisterFiles {
                slot,
                errno: os_errno(&e),
            })
    }

    fn entry(&mut self, op: IoOp) -> squeue::Entry {
        macro_rules! with_target {
            ($file:expr, |$t:ident| $body:expr) => {
                match $file {
                    Target::Fd(fd) => {
                        let $t = types::Fd(fd);
                        $body
                    }
                    Target::Fixed(slot) => {
                        self.counters.fixed_file_ops += 1;
                        let $t = types::Fixed(slot);
                        $body
                    }
                }
            };
        }
        match op {
            IoOp::Read {
                file,
                buf,
                len,
                offset,
            } => match self.buffer_index(buf as usize, len as usize) {
                Some(index) => {
                    self.counters.fixed_buffer_ops += 1;
                    with_target!(file, |t| opcode::ReadFixed::new(t, buf, len, index)
                        .offset(offset)
                        .build())
                }
                None => with_target!(file, |t| opcode::Read::new(t, buf, len)
                    .offset(offset)
                    .build()),
            },
            IoOp::Write {
                file,
                buf,
                len,
                offset,
            } => match self.buffer_index(buf as usize, len as usize) {
                Some(index) => {
                    self.counters.fixed_buffer_ops += 1;
                    with_target!(file, |t| opcode::WriteFixed::new(t, buf, len, index)
                        .offset(offset)
                        .build())
                }
                None => with_target!(file, |t| opcode::Write::new(t, buf, len)
                    .offset(offset)
                    .build()),
            },
            IoOp::ReadStream { fd, buf, len } => opcode::Read::new(types::Fd(fd), buf, len).build(),
            IoOp::Cancel { target } => opcode::AsyncCancel::new(target).build(),
        }
    }

    /// Queues `op` tagged with `user_data`, submitting what is queued first
    /// if the submission queue is full.
    ///
    /// # Safety
    /// The memory of a `Read`, `Write` or `ReadStream` must stay valid (and,
    /// for reads, not be accessed by anyone else) until its completion has
    /// been reaped with [`Ring::drain_completions`]; the descriptor must stay
    /// open until then.
    pub unsafe fn push(&mut self, op: IoOp, user_data: u64) -> Result<(), UringError> {
        let entry = self.entry(op).user_data(user_data);
        loop {
            // SAFETY: the caller upholds the buffer and descriptor validity
            // this function's contract states, which is what `push` needs.
            let pushed = unsafe { self.uring.submission().push(&entry) };
            if pushed.is_ok() {
                self.counters.sqes += 1;
                return Ok(());
            }
            // Full: hand the queued entries to the kernel, then retry.
            self.submit_and_wait(0)?;
        }
    }

    /// SQEs queued and not yet submitted.
    pub fn unsubmitted(&mut self) -> usize {
        self.uring.submission().len()
    }

    /// Submits every queued SQE in one `io_uring_enter` and waits until at
    /// least `want` completions are ready. EINTR returns early; EBUSY (the
    /// completion queue is full) returns so the caller can reap first.
    pub fn submit_and_wait(&mut self, want: usize) -> Result<usize, UringError> {
        self.counters.enters += 1;
        match self.uring.submit_and_wait(want) {
            Ok(n) => Ok(n),
            Err(e) => match os_errno(&e) {
                libc::EINTR | libc::EBUSY | libc::EAGAIN => Ok(0),
                errno => Err(UringError::Enter { errno }),
            },
        }
    }

    /// Appends `(user_data, result)` of every completion ready now to
    /// `out`; returns how many.
    pub fn drain_completions(&mut self, out: &mut Vec<(u64, i32)>) -> usize {
        let before = out.len();
        let mut cq = self.uring.completion();
        cq.sync();
        out.extend((&mut cq).map(|cqe: cqueue::Entry| (cqe.user_data(), cqe.result())));
        out.len() - before
    }
}
