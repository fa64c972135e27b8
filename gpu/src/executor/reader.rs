//! File reads of the GPU executor: many ranges at once, straight into the memory they are meant
//! for (mapped staging, imported host memory, a mapped destination), with no host copy.
//!
//! With io_uring (ds-os-linux's [`Ring`]) every range is cut into SQEs of at most
//! [`CHUNK`] bytes, all queued and handed to the kernel together, so one batch of requests is one
//! or a few `io_uring_enter` calls at a queue depth of up to [`DEPTH`]. The staging memory is
//! registered as fixed buffers when the kernel can pin it (the ring then sends `READ_FIXED`);
//! mappings it cannot pin are read with plain `READ`. Without io_uring (disabled, seccomp, old
//! kernel) the same ranges are read with `pread`. Short reads continue, EINTR/EAGAIN are retried
//! ([`Xfer`]), end of file is reported with the bytes that were there.
#![allow(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd};

use ds_os_linux::uring::xfer::{Xfer, XferStep};
use ds_os_linux::uring::{Ring, RingOptions, Target, UringError};
use ds_os_linux::RequestErrorKind;

/// Largest SQE.
pub(crate) const CHUNK: usize = 1 << 20;
/// Ring size (SQEs in flight at most).
pub(crate) const DEPTH: u32 = 64;

/// One range to read.
#[derive(Debug)]
pub(crate) struct ReadOp<'a> {
    pub(crate) fd: BorrowedFd<'a>,
    pub(crate) offset: u64,
    pub(crate) dst: *mut u8,
    pub(crate) len: usize,
}

/// io_uring when available, else pread.
pub(crate) struct Reader {
    ring: Option<Ring>,
    /// Registered (start, len) regions, for reporting.
    registered: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("io_uring", &self.ring.is_some())
            .field("registered", &self.registered)
            .finish()
    }
}

impl Reader {
    /// A reader on io_uring when `uring` is true and a ring can be set up, else on pread (the
    /// reason is logged once).
    pub(crate) fn new(uring: bool) -> Reader {
        let ring = if uring {
            match Ring::new(RingOptions {
                entries: DEPTH,
                sqpoll_idle: None,
                single_thread: true,
            }) {
                Ok(r) => Some(r),
                Err(e) => {
                    log::info!("GPU executor: io_uring unavailable ({e}); reading with pread");
                    None
                }
            }
        } else {
            None
        };
        Reader {
            ring,
            registered: false,
        }
    }

    /// Whether reads go through io_uring.
    pub(crate) fn uses_io_uring(&self) -> bool {
        self.ring.is_some()
    }

    /// Whether staging memory is registered as fixed buffers.
    pub(crate) fn has_fixed_buffers(&self) -> bool {
        self.registered
    }

    /// Registers staging regions as fixed buffers; failure (memory the kernel cannot pin, the
    /// memlock limit) is logged and reads use plain `READ`.
    ///
    /// # Safety
    /// Every region must stay mapped until this reader is dropped.
    pub(crate) unsafe fn register(&mut self, regions: &[(*mut u8, usize)]) {
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        // SAFETY: the caller keeps the regions mapped for the ring's life.
        match unsafe { ring.register_buffers(regions) } {
            Ok(()) => self.registered = true,
            Err(e) => log::info!("GPU executor: staging memory not registered with io_uring: {e}"),
        }
    }

    /// Reads every op; one result per op.
    ///
    /// # Safety
    /// Each op's `dst` must be valid for writes of `len` bytes, and not accessed by anyone else,
    /// until this returns.
    pub(crate) unsafe fn read_all(
        &mut self,
        ops: &[ReadOp<'_>],
    ) -> Vec<Result<(), RequestErrorKind>> {
        match self.ring.as_mut() {
            // SAFETY: forwarded contract.
            Some(ring) => unsafe { read_uring(ring, ops) },
            // SAFETY: forwarded contract.
            None => ops.iter().map(|op| unsafe { read_pread(op) }).collect(),
        }
    }
}

/// One SQE-sized piece of an op.
struct Piece {
    op: usize,
    /// Offset of the piece in its op.
    start: usize,
    xfer: Xfer,
}

fn uring_errno(e: &UringError) -> i32 {
    match e {
        UringError::Enter { errno } => *errno,
        _ => rustix::io::Errno::IO.raw_os_error(),
    }
}

fn eof_error(fd: BorrowedFd<'_>, offset: u64, got: u64) -> RequestErrorKind {
    let file_len = rustix::fs::fstat(fd).ok().map(|st| st.st_size as u64);
    RequestErrorKind::EndOfFile {
        available: file_len.map_or(got, |l| l.saturating_sub(offset).min(got)),
        file_len,
    }
}

fn errno_error(call: &'static str, errno: i32) -> RequestErrorKind {
    if errno == libc_ebadf() {
        RequestErrorKind::BadHandle { call, errno }
    } else {
        RequestErrorKind::Io { call, errno }
    }
}

fn libc_ebadf() -> i32 {
    rustix::io::Errno::BADF.raw_os_error()
}

/// # Safety
/// As [`Reader::read_all`].
unsafe fn read_uring(ring: &mut Ring, ops: &[ReadOp<'_>]) -> Vec<Result<(), RequestErrorKind>> {
    let mut results: Vec<Result<(), RequestErrorKind>> = ops.iter().map(|_| Ok(())).collect();
    let mut pieces: Vec<Piece> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let mut at = 0usize;
        while at < op.len {
            let n = (op.len - at).min(CHUNK);
            pieces.push(Piece {
                op: i,
                start: at,
                xfer: Xfer::read(
                    Target::Fd(std::os::fd::AsRawFd::as_raw_fd(&op.fd)),
                    op.dst.wrapping_add(at),
                    n,
                    op.offset + at as u64,
                    1,
                ),
            });
            at += n;
        }
    }
    let mut next = 0usize;
    let mut in_flight = 0usize;
    let mut cqes = Vec::new();
    let mut failed: Option<RequestErrorKind> = None;
    while next < pieces.len() || in_flight > 0 {
        while next < pieces.len() && in_flight < DEPTH as usize && failed.is_none() {
            let p = &pieces[next];
            if results[p.op].is_ok() {
                // SAFETY: the destination range lies inside the op's memory (caller's contract),
                // and stays valid until its CQE is reaped below, before this function returns.
                match unsafe { ring.push(p.xfer.next_op(), next as u64) } {
                    Ok(()) => in_flight += 1,
                    Err(e) => {
                        failed = Some(RequestErrorKind::Io {
                            call: "io_uring submit",
                            errno: uring_errno(&e),
                        })
                    }
                }
            }
            next += 1;
        }
        if in_flight == 0 {
            break;
        }
        if let Err(e) = ring.submit_and_wait(1) {
            // Nothing more can be queued; wait out what the kernel holds before returning.
            failed = Some(RequestErrorKind::Io {
                call: "io_uring_enter",
                errno: uring_errno(&e),
            });
        }
        cqes.clear();
        ring.drain_completions(&mut cqes);
        for &(token, res) in &cqes {
            in_flight -= 1;
            let p = &mut pieces[token as usize];
            let op = &ops[p.op];
            match p.xfer.on_result(res) {
                XferStep::Done => {}
                XferStep::Continue => {
                    // SAFETY: as for the first push of this piece.
                    match unsafe { ring.push(p.xfer.next_op(), token) } {
                        Ok(()) => in_flight += 1,
                        Err(e) => {
                            results[p.op] = Err(RequestErrorKind::Io {
                                call: "io_uring submit",
                                errno: uring_errno(&e),
                            })
                        }
                    }
                }
                XferStep::EndOfFile { got } => {
                    results[p.op] = Err(eof_error(op.fd, op.offset, (p.start + got) as u64));
                }
                XferStep::Failed { errno } => {
                    results[p.op] = Err(errno_error("io_uring read", errno));
                }
                XferStep::NoProgress { .. } => {
                    results[p.op] = Err(RequestErrorKind::Io {
                        call: "io_uring read",
                        errno: rustix::io::Errno::IO.raw_os_error(),
                    });
                }
            }
        }
    }
    if let Some(e) = failed {
        for r in results.iter_mut().filter(|r| r.is_ok()) {
            *r = Err(e.clone());
        }
    }
    results
}

/// # Safety
/// As [`Reader::read_all`], for one op.
unsafe fn read_pread(op: &ReadOp<'_>) -> Result<(), RequestErrorKind> {
    // SAFETY: the caller gives `len` writable bytes at `dst`, used by nobody else meanwhile.
    let buf = unsafe { std::slice::from_raw_parts_mut(op.dst, op.len) };
    let mut done = 0usize;
    let mut retries = 0;
    while done < buf.len() {
        match rustix::io::pread(op.fd.as_fd(), &mut buf[done..], op.offset + done as u64) {
            Ok(0) => return Err(eof_error(op.fd, op.offset, done as u64)),
            Ok(n) => done += n,
            Err(e) if e == rustix::io::Errno::INTR || e == rustix::io::Errno::AGAIN => {
                retries += 1;
                if retries > 16 {
                    return Err(errno_error("pread", e.raw_os_error()));
                }
            }
            Err(e) => return Err(errno_error("pread", e.raw_os_error())),
        }
    }
    Ok(())
}
