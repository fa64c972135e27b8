//! The loop of one ring of the io_uring driver.
//!
//! Each turn: take the cancel requests sent to this ring; take up to
//! `batch` started jobs from the queue (blocking on the queue only when
//! nothing is in flight); turn each into SQEs; hand all queued SQEs to the
//! kernel in one `io_uring_enter` that also waits for a completion when
//! operations are in flight; handle every completion ready.
//!
//! "sleeping": before waiting in the kernel with room for more work, the
//! ring sets its `sleeping` flag and looks at the queue's ready count once
//! more, with a SeqCst fence between (`JobFeed::ready_hint`). A producer
//! updates the ready count and, when no idle worker will take the jobs,
//! calls the sleeper waker, which issues the matching fence before reading
//! the flags: either the ring's last look sees the new jobs, or the waker
//! sees the flag, claims it and writes the ring's eventfd, whose read is
//! always queued on the ring, ending the wait.
//!
//! Completions are handled inside the queue's local scope: requests their
//! callbacks submit wake no other ring, because this ring takes its share of
//! them right after (and wakes idle rings for the rest).
//!
//! Each operation's `user_data` is `generation << 32 | slot` of the ring's
//! operation table, so a late ASYNC_CANCEL can never hit a newer operation
//! that reuses the slot.

#![allow(unsafe_code)]

use super::files::{Direct, FileCache};
use super::ring::{IoOp, Ring, RingOptions, UringError};
use super::xfer::{Xfer, XferStep};
use super::{Hub, IdHash, RingStats, UringConfig};
use crate::aligned::{AlignedBuf, Chunk, Pool};
use crate::driver::{Job, JobFeed};
use crate::error::RequestErrorKind;
use crate::exec;
use ds_core::{Compression, Destination, Operation, RequestId, Source};
use rustix::io::Errno;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

/// `user_data` of the eventfd read that wakes the ring.
const WAKE: u64 = u64::MAX;
/// `user_data` of ASYNC_CANCEL SQEs (their results are not needed).
const CANCEL: u64 = u64::MAX - 1;
/// Operations beyond the data ones: the wake read and cancels.
const RESERVED_OPS: u32 = 2;
/// Alignment of staging memory when no O_DIRECT rule applies.
const STAGING_ALIGN: usize = 4096;

/// Private memory a read lands in before its bytes are copied or decoded.
enum Staging {
    Pool(Chunk),
    Heap(AlignedBuf),
}

/// What happens to staged bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Copy them into the host destination.
    Copy,
    /// GDeflate-decode them into the host destination.
    Decode { declared: u64 },
}

enum Stage {
    /// The transfer reads into the destination or writes the file: the
    /// job's write bracket is open.
    InPlace { write: bool },
    /// The transfer reads into private memory; the requested bytes start
    /// `skip` bytes in and are `len` long.
    Staged {
        mem: Staging,
        skip: usize,
        len: usize,
        then: Then,
    },
}

struct Op {
    job: Job,
    xfer: Xfer,
    stage: Stage,
    generation: u32,
    cancel_sent: bool,
}

pub(super) struct Worker {
    // Declared first so the ring (and its registrations) goes before the
    // memory registered with it.
    ring: Ring,
    files: FileCache,
    pool: Option<Pool>,
    index: usize,
    feed: JobFeed,
    hub: Arc<Hub>,
    direct: bool,
    max_ops: usize,
    batch: usize,
    ops: Vec<Option<Op>>,
    free: Vec<u32>,
    generation: u32,
    by_id: HashMap<RequestId, u32, IdHash>,
    scratch: exec::Scratch,
    decoded: Vec<u8>,
    decompress_threads: usize,
    wake_buf: Box<[u8; 8]>,
    wake_armed: bool,
    cqes: Vec<(u64, i32)>,
    closed: bool,
    stats: Arc<RingStats>,
    bounced: u64,
    direct_reads: u64,
    cancels: u64,
}

impl Worker {
    /// Sets up the ring on the calling thread (the one that will run it).
    pub(super) fn new(
        index: usize,
        feed: JobFeed,
        hub: Arc<Hub>,
        cfg: &UringConfig,
    ) -> Result<Worker, UringError> {
        let depth = cfg.depth.clamp(RESERVED_OPS + 1, 32768);
        let mut ring = Ring::new(RingOptions {
            entries: depth,
            sqpoll_idle: cfg.sqpoll_idle,
            single_thread: true,
        })?;
        let stats = &hub.stats.0;
        let block = stats.add_ring();
        // Relaxed: statistics.
        stats.rings.fetch_add(1, Ordering::Relaxed);
        if cfg.fixed_files {
            match ring.register_file_table(cfg.file_slots.max(1)) {
                Ok(()) => {
                    stats.rings_with_fixed_files.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => log::info!("io_uring ring {index}: {e}; using plain descriptors"),
            }
        }
        let pool = Pool::new(cfg.pool_bytes, STAGING_ALIGN);
        if let (true, Some(p)) = (cfg.fixed_buffers, &pool) {
            // SAFETY: the pool is owned by this worker, which drops the
            // ring (declared first) before the pool, so the region stays
            // allocated while registered.
            match unsafe { ring.register_buffers(&[p.region()]) } {
                Ok(()) => {
                    stats
                        .rings_with_fixed_buffers
                        .fetch_add(1, Ordering::Relaxed);
                }
                // Said once per driver: with a low RLIMIT_MEMLOCK every
                // ring after the first few meets the same limit.
                Err(e) if !hub.pool_warned.swap(true, Ordering::Relaxed) => log::warn!(
                    "io_uring ring {index}: {e}; its staging pool is used without registration"
                ),
                Err(e) => log::debug!("io_uring ring {index}: {e}"),
            }
        }
        let files = FileCache::new(&ring);
        let max_ops = (ring.sq_entries().saturating_sub(RESERVED_OPS)).max(1) as usize;
        Ok(Worker {
            ring,
            files,
            pool,
            index,
            decompress_threads: feed.decompress_threads(),
            feed,
            hub,
            direct: cfg.direct,
            max_ops,
            batch: cfg.batch.max(1),
            ops: Vec::new(),
            free: Vec::new(),
            generation: 0,
            by_id: HashMap::default(),
            scratch: exec::Scratch::default(),
            decoded: Vec::new(),
            wake_buf: Box::new([0; 8]),
            wake_armed: false,
            cqes: Vec::new(),
            closed: false,
            stats: block,
            bounced: 0,
            direct_reads: 0,
            cancels: 0,
        })
    }

    fn handle(&self) -> &super::RingHandle {
        &self.hub.rings[self.index]
    }

    fn arm_wake(&mut self) -> Result<(), UringError> {
        let op = IoOp::ReadStream {
            fd: self.handle().eventfd.as_raw_fd(),
            buf: self.wake_buf.as_mut_ptr(),
            len: 8,
        };
        // SAFETY: `wake_buf` is a heap box owned by this worker and only
        // touched by the kernel until the WAKE completion is reaped; `run`
        // does not return (and the worker is not dropped) before that
        // completion arrived (see `quiesce`). The eventfd lives in the hub,
        // which outlives the worker.
        unsafe { self.ring.push(op, WAKE)? };
        self.wake_armed = true;
        Ok(())
    }

    /// Jobs this ring can take now.
    fn room(&self) -> usize {
        self.max_ops
            .saturating_sub(self.by_id.len())
            .min(self.batch)
    }

    pub(super) fn run(mut self) {
        if let Err(e) = self.arm_wake() {
            log::error!("io_uring ring {}: {e}", self.index);
        }
        let mut batch: Vec<Job> = Vec::with_capacity(self.batch);
        // Whether the callbacks of the last completions submitted jobs to
        // this ring's queue without waking anyone (see `LocalScope`).
        let mut deferred = false;
        loop {
            self.take_cancels();
            let room = self.room();
            if !self.closed && room > 0 {
                if self.by_id.is_empty() {
                    // Idle: sleep on the queue itself.
                    self.files.sweep(&mut self.ring);
                    self.publish();
                    if !self.feed.next_batch(&mut batch, room) {
                        self.closed = true;
                    }
                } else {
                    self.feed.try_next_batch(&mut batch, room);
                }
                for job in batch.drain(..) {
                    self.start(job);
                }
            } else if deferred {
                // Full (or closing): others must take what was left.
                self.feed.wake_for_ready();
            }
            if self.closed && self.by_id.is_empty() {
                break;
            }
            let want = usize::from(!self.by_id.is_empty());
            if want == 1 && !self.closed {
                let room = self.room();
                if room > 0 {
                    // See "sleeping" in the module comment. Relaxed: the
                    // fence in `ready_hint` orders it.
                    self.handle().sleeping.store(true, Ordering::Relaxed);
                    if self.feed.ready_hint() > 0 && self.feed.try_next_batch(&mut batch, room) > 0
                    {
                        self.handle().sleeping.store(false, Ordering::Relaxed);
                        for job in batch.drain(..) {
                            self.start(job);
                        }
                    }
                }
            }
            if let Err(e) = self.ring.submit_and_wait(want) {
                log::error!("io_uring ring {}: {e}", self.index);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            self.handle().sleeping.store(false, Ordering::Relaxed);
            let scope = self.feed.local_scope();
            self.reap();
            deferred = scope.end();
            self.publish();
        }
        self.quiesce();
        self.publish();
    }

    /// Publishes this ring's running totals (plain stores into its own
    /// block of the shared stats).
    fn publish(&mut self) {
        let c = self.ring.counters();
        let s = &self.stats;
        // Relaxed: statistics, written by this thread only.
        s.sqes.store(c.sqes, Ordering::Relaxed);
        s.enters.store(c.enters, Ordering::Relaxed);
        s.fixed_buffer_ops
            .store(c.fixed_buffer_ops, Ordering::Relaxed);
        s.fixed_file_ops.store(c.fixed_file_ops, Ordering::Relaxed);
        s.bounced_reads.store(self.bounced, Ordering::Relaxed);
        s.direct_reads.store(self.direct_reads, Ordering::Relaxed);
        s.cancels_sent.store(self.cancels, Ordering::Relaxed);
    }

    /// Sends ASYNC_CANCEL for the requests a strong cancel asked about.
    fn take_cancels(&mut self) {
        // Relaxed check first (no write to the shared line when there is
        // nothing), then Acquire: pairs with `Hub::cancel`'s Release store.
        let flag = &self.handle().has_cancels;
        if !flag.load(Ordering::Relaxed) || !flag.swap(false, Ordering::Acquire) {
            return;
        }
        let ids = std::mem::take(
            &mut *self
                .handle()
                .inbox
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for id in ids {
            self.cancel_op(id);
        }
    }

    fn cancel_op(&mut self, id: RequestId) {
        let Some(&slot) = self.by_id.get(&id) else {
            return;
        };
        let Some(op) = self.ops[slot as usize].as_mut() else {
            return;
        };
        if op.cancel_sent {
            return;
        }
        op.cancel_sent = true;
        let target = user_data(op.generation, slot);
        // SAFETY: a cancel carries no memory.
        match unsafe { self.ring.push(IoOp::Cancel { target }, CANCEL) } {
            Ok(()) => self.cancels += 1,
            Err(e) => log::error!("io_uring ring {}: cancel of {id}: {e}", self.index),
        }
    }

    /// Records this ring as the executor of `id`'s slot (for the cancel
    /// hook). Never cleared: a stale entry only sends a later cancel of
    /// another request in the slot to a ring that does not know it (which
    /// ignores it), and the ring that takes that request records itself
    /// before its own check for a cancel. Written only when it changes:
    /// slots are reused most recent first, often by the same ring, and 64
    /// slots share a cache line.
    fn set_owner(&self, id: RequestId) {
        if let Some(o) = self.hub.owner.get(id.index() as usize) {
            let me = self.index as u8 + 1;
            // Relaxed: see `Hub::cancel`.
            if o.load(Ordering::Relaxed) != me {
                o.store(me, Ordering::Relaxed);
            }
        }
    }

    /// Turns a started job into its first SQE (or finishes it at once).
    fn start(&mut self, job: Job) {
        if job.is_cancelled() {
            return job.finish_cancelled();
        }
        if job.file().is_some_and(|f| f.is_closed()) {
            return job.fail(RequestErrorKind::FileClosed);
        }
        let d = job.desc();
        let (operation, source, compression, destination, declared) = (
            d.operation,
            d.source,
            d.compression,
            d.destination,
            d.uncompressed_size,
        );
        match (operation, source, compression) {
            (Operation::Read, Source::Memory { .. }, _) => {
                // No I/O: copy or decode on this thread, as pread does. A
                // panic (a decoder bug) drops the job, which then fails
                // with ExecutorLost; the ring goes on.
                let (scratch, threads) = (&mut self.scratch, self.decompress_threads);
                if catch_unwind(AssertUnwindSafe(|| exec::run_job(job, scratch, threads))).is_err()
                {
                    log::error!("io_uring ring {}: a request panicked", self.index);
                }
            }
            (Operation::Write, _, _) => self.start_write(job, destination),
            (Operation::Read, Source::File { offset, size, .. }, compression) => {
                let then = match compression {
                    Compression::None => None,
                    Compression::GDeflate => Some(Then::Decode { declared }),
                };
                self.start_read(job, offset, size as usize, then, destination);
            }
        }
    }

    fn start_write(&mut self, mut job: Job, dst: Destination) {
        let Destination::File { offset, .. } = dst else {
            return job.fail(unsupported("write to this destination"));
        };
        let Some(file) = job.file().cloned() else {
            return job.fail(unsupported("write without a file"));
        };
        if job.begin_write().is_err() {
            return job.finish_cancelled();
        }
        let Some((ptr, len)) = job.io_parts().source.map(|s| (s.as_ptr(), s.len())) else {
            return job.fail(unsupported("write from this source"));
        };
        if len == 0 {
            return job.complete(0);
        }
        let target = self.files.buffered(&mut self.ring, &file);
        let xfer = Xfer::write(target, ptr, len, offset);
        self.submit(job, xfer, Stage::InPlace { write: true });
    }

    fn start_read(
        &mut self,
        mut job: Job,
        offset: u64,
        len: usize,
        then: Option<Then>,
        dst: Destination,
    ) {
        let Destination::HostMemory { addr, .. } = dst else {
            return job.fail(unsupported("read into this destination"));
        };
        let Some(file) = job.file().cloned() else {
            return job.fail(unsupported("read without a file"));
        };
        let direct: Option<Direct> = if self.direct {
            self.files.direct(&mut self.ring, &file)
        } else {
            None
        };
        let target = match direct {
            Some(d) => d.target,
            None => self.files.buffered(&mut self.ring, &file),
        };
        let aligned_in_place = direct.is_none_or(|d| {
            addr.is_multiple_of(d.mem_align)
                && offset.is_multiple_of(d.io_align as u64)
                && len.is_multiple_of(d.io_align)
        });
        if then.is_none() && aligned_in_place {
            if job.begin_write().is_err() {
                return job.finish_cancelled();
            }
            let Some(ptr) = job.io_parts().destination.map(<[u8]>::as_mut_ptr) else {
                return job.fail(unsupported("read into this destination"));
            };
            if len == 0 {
                return job.complete(0);
            }
            let align = direct.map_or(1, |d| d.io_align);
            if direct.is_some() {
                self.direct_reads += 1;
            }
            let xfer = Xfer::read(target, ptr, len, offset, align);
            return self.submit(job, xfer, Stage::InPlace { write: false });
        }
        // Staged: the (aligned) span goes into private memory first.
        let (io_align, mem_align) = direct.map_or((1, STAGING_ALIGN), |d| {
            (d.io_align, d.mem_align.max(STAGING_ALIGN))
        });
        let start = offset & !(io_align as u64 - 1);
        let skip = (offset - start) as usize;
        let span = (skip + len).next_multiple_of(io_align);
        let (mem, ptr) = match self.stage_mem(span, mem_align) {
            Some(m) => m,
            None => {
                return job.fail(RequestErrorKind::Io {
                    call: "staging buffer allocation",
                    errno: libc::ENOMEM,
                })
            }
        };
        self.bounced += 1;
        let xfer = Xfer::read(target, ptr, span, start, io_align);
        let stage = Stage::Staged {
            mem,
            skip,
            len,
            then: then.unwrap_or(Then::Copy),
        };
        self.submit(job, xfer, stage);
    }

    /// Private memory for `span` bytes: from the pool, else a one-off
    /// aligned buffer.
    fn stage_mem(&mut self, span: usize, align: usize) -> Option<(Staging, *mut u8)> {
        if let Some(pool) = self.pool.as_mut().filter(|p| p.page() % align == 0) {
            if let Some(c) = pool.alloc(span) {
                let ptr = pool.chunk_ptr(&c);
                return Some((Staging::Pool(c), ptr));
            }
        }
        let mut b = AlignedBuf::zeroed(span, align)?;
        let ptr = b.as_mut_ptr();
        Some((Staging::Heap(b), ptr))
    }

    fn release_mem(&mut self, mem: Staging) {
        match (mem, self.pool.as_mut()) {
            (Staging::Pool(c), Some(p)) => p.free(c),
            (Staging::Pool(_), None) => debug_assert!(false, "pool chunk without a pool"),
            (Staging::Heap(b), _) => drop(b),
        }
    }

    /// Puts an operation in the table and queues its first SQE.
    fn submit(&mut self, job: Job, xfer: Xfer, stage: Stage) {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.ops.push(None);
                (self.ops.len() - 1) as u32
            }
        };
        self.generation = self.generation.wrapping_add(1);
        let id = job.id();
        self.set_owner(id);
        self.by_id.insert(id, slot);
        self.ops[slot as usize] = Some(Op {
            job,
            xfer,
            stage,
            generation: self.generation,
            cancel_sent: false,
        });
        self.queue_next(slot);
        // A strong cancel may have run its hook before the owner above was
        // visible (it then reached no ring). SeqCst fence, paired with the
        // one in `Hub::cancel` between the cancel's state change and its
        // owner lookup: either that lookup sees this ring, or this check
        // sees the cancel.
        fence(Ordering::SeqCst);
        let cancelled = self.ops[slot as usize]
            .as_ref()
            .is_some_and(|op| op.job.is_cancelled());
        if cancelled {
            self.cancel_op(id);
        }
    }

    fn queue_next(&mut self, slot: u32) {
        let op = self.ops[slot as usize].as_ref().expect("live operation");
        let (sqe, ud) = (op.xfer.next_op(), user_data(op.generation, slot));
        // SAFETY: the memory of the transfer is either the job's
        // destination or source (owned by the job's payload, which the
        // operation table keeps until the completion is reaped; a
        // destination is only written inside the open write bracket) or
        // staging memory owned by the operation; the file is held open by
        // the job's `FileRef` and, for fixed slots and O_DIRECT
        // descriptors, by the ring's file table and the file cache entry,
        // which outlive the job.
        if let Err(e) = unsafe { self.ring.push(sqe, ud) } {
            log::error!("io_uring ring {}: {e}", self.index);
            let op = self.take_op(slot);
            self.end(
                op,
                Err(RequestErrorKind::Io {
                    call: "io_uring submit",
                    errno: libc::EIO,
                }),
            );
        }
    }

    fn take_op(&mut self, slot: u32) -> Op {
        let op = self.ops[slot as usize].take().expect("live operation");
        self.free.push(slot);
        self.by_id.remove(&op.job.id());
        op
    }

    fn reap(&mut self) {
        let mut cqes = std::mem::take(&mut self.cqes);
        self.ring.drain_completions(&mut cqes);
        for &(ud, res) in &cqes {
            self.on_completion(ud, res);
        }
        cqes.clear();
        self.cqes = cqes;
    }

    fn on_completion(&mut self, ud: u64, res: i32) {
        match ud {
            WAKE => {
                self.wake_armed = false;
                if !self.closed {
                    if let Err(e) = self.arm_wake() {
                        log::error!("io_uring ring {}: {e}", self.index);
                    }
                }
                return;
            }
            CANCEL => return,
            _ => {}
        }
        let (generation, slot) = ((ud >> 32) as u32, ud as u32);
        let live = self.ops.get(slot as usize).and_then(Option::as_ref);
        if live.is_none_or(|op| op.generation != generation) {
            debug_assert!(false, "completion of an unknown operation {ud:#x}");
            return;
        }
        if std::thread::panicking() {
            // Draining after a panic (see `Drop`): the kernel is done with
            // the memory; drop the job (it fails with ExecutorLost) without
            // running any more of its work.
            let op = self.take_op(slot);
            if let Stage::Staged { mem, .. } = op.stage {
                self.release_mem(mem);
            }
            return;
        }
        let op = self.ops[slot as usize].as_mut().expect("checked above");
        match op.xfer.on_result(res) {
            XferStep::Continue => {
                if op.job.is_cancelled() {
                    let op = self.take_op(slot);
                    self.end(op, Ok(None));
                } else {
                    self.queue_next(slot);
                }
            }
            XferStep::Done => {
                let op = self.take_op(slot);
                self.finish_op(op);
            }
            XferStep::EndOfFile { got } => {
                let op = self.take_op(slot);
                if let Stage::Staged { skip, len, .. } = op.stage {
                    if got >= skip + len {
                        // The aligned span passes the end of the file but
                        // the requested range does not.
                        return self.finish_op(op);
                    }
                }
                let available = match op.stage {
                    Stage::Staged { skip, .. } => got.saturating_sub(skip),
                    Stage::InPlace { .. } => got,
                } as u64;
                let file_len = op
                    .job
                    .file()
                    .and_then(|f| rustix::fs::fstat(f.as_fd()).ok())
                    .map(|s| s.st_size as u64);
                self.end(
                    op,
                    Err(RequestErrorKind::EndOfFile {
                        available,
                        file_len,
                    }),
                );
            }
            XferStep::NoProgress { put } => {
                let op = self.take_op(slot);
                self.end(
                    op,
                    Err(RequestErrorKind::ShortWrite {
                        written: put as u64,
                    }),
                );
            }
            XferStep::Failed { errno } => {
                let op = self.take_op(slot);
                if errno == libc::ECANCELED && op.job.is_cancelled() {
                    return self.end(op, Ok(None));
                }
                let call = match op.stage {
                    Stage::InPlace { write: true } => "io_uring write",
                    _ => "io_uring read",
                };
                self.end(
                    op,
                    Err(exec::io_error(call, Errno::from_raw_os_error(errno))),
                );
            }
        }
    }

    /// The transfer finished: deliver staged bytes, then report.
    fn finish_op(&mut self, op: Op) {
        let Op { mut job, stage, .. } = op;
        // A panic while decoding or delivering (a decoder bug) fails this
        // request only; the ring goes on.
        let step = catch_unwind(AssertUnwindSafe(|| match &stage {
            Stage::InPlace { .. } => Ok(Some(job.desc().uncompressed_size)),
            Stage::Staged {
                mem,
                skip,
                len,
                then,
            } => {
                let bytes = &staged_bytes(self.pool.as_ref(), mem)[*skip..*skip + *len];
                if job.is_cancelled() {
                    Ok(None)
                } else {
                    match *then {
                        Then::Copy => exec::deliver(&mut job, bytes),
                        Then::Decode { declared } => {
                            let threads = self.decompress_threads;
                            match exec::decode(bytes, declared, &mut self.decoded, threads) {
                                Ok(()) => exec::deliver(&mut job, &self.decoded),
                                Err(e) => Err(e),
                            }
                        }
                    }
                }
            }
        }))
        .unwrap_or_else(|_| {
            log::error!("io_uring ring {}: {} panicked", self.index, job.id());
            Err(RequestErrorKind::ExecutorLost {
                executor: "io_uring",
            })
        });
        if let Stage::Staged { mem, .. } = stage {
            self.release_mem(mem);
        }
        exec::finish(job, step);
    }

    /// Ends an operation without delivering (error or cancellation).
    fn end(&mut self, op: Op, step: exec::Step) {
        let Op { job, stage, .. } = op;
        if let Stage::Staged { mem, .. } = stage {
            self.release_mem(mem);
        }
        exec::finish(job, step);
    }

    /// Before the worker goes away: every operation (and the wake read)
    /// must have completed, since the kernel may write their memory until
    /// then. Cancels them and waits.
    fn quiesce(&mut self) {
        let ids: Vec<RequestId> = self.by_id.keys().copied().collect();
        for id in ids {
            self.cancel_op(id);
        }
        if self.wake_armed {
            // SAFETY: a cancel carries no memory.
            if unsafe { self.ring.push(IoOp::Cancel { target: WAKE }, CANCEL) }.is_err() {
                self.handle().wake();
            }
        }
        let mut tries = 0;
        while (self.wake_armed || !self.by_id.is_empty()) && tries < 10_000 {
            tries += 1;
            if self.ring.submit_and_wait(1).is_err() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            self.reap();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Normally `run` ended with nothing in flight. After a panic, wait
        // for the kernel before memory is freed; if it never answers, leak
        // the operations rather than free memory it may still write.
        if self.wake_armed || !self.by_id.is_empty() {
            self.quiesce();
        }
        if self.wake_armed || !self.by_id.is_empty() {
            log::error!(
                "io_uring ring {}: {} operations never completed; leaking their memory",
                self.index,
                self.by_id.len()
            );
            for op in self.ops.drain(..).flatten() {
                std::mem::forget(op);
            }
            std::mem::forget(std::mem::take(&mut self.wake_buf));
            if let Some(p) = self.pool.take() {
                std::mem::forget(p);
            }
        }
    }
}

/// The bytes of staging memory (whose transfer has completed).
fn staged_bytes<'a>(pool: Option<&'a Pool>, mem: &'a Staging) -> &'a [u8] {
    match (mem, pool) {
        (Staging::Pool(c), Some(p)) => p.chunk(c),
        (Staging::Heap(b), _) => b.as_slice(),
        (Staging::Pool(_), None) => &[],
    }
}

fn user_data(generation: u32, slot: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(slot)
}

fn unsupported(what: &'static str) -> RequestErrorKind {
    RequestErrorKind::Unsupported {
        executor: "io_uring",
        what,
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.index)
            .field("in_flight", &self.by_id.len())
            .field("ring", &self.ring)
            .finish()
    }
}
