//! The io_uring driver: N rings, each owned by one worker thread that runs
//! its submission/completion loop, executing host-memory reads and writes
//! of a [`crate::Queue`] (chosen with [`crate::Backend::IoUring`]).
//!
//! * Spreading: every ring pulls started jobs from the queue's shared ready
//!   lists, at most `batch` at a time and only while it has room for them,
//!   so requests spread over the rings by availability.
//! * Batching: the SQEs of all jobs a ring took are handed to the kernel in
//!   one `io_uring_enter`, which also waits for the next completion.
//! * Waking: an idle ring (nothing in flight) sleeps on the queue, which
//!   wakes idle workers only for jobs nobody else is on the way to take. A
//!   ring sleeping in `io_uring_enter` with work in flight is woken through
//!   an eventfd whose read is always queued on the ring: for a cancel, and
//!   for new jobs only when no idle ring can take them, one ring per batch
//!   of jobs (claimed with a compare-and-swap, so one wake per sleep).
//! * Registered files and buffers: each ring keeps a fixed file table (see
//!   [`files`]) and registers its aligned bounce/staging pool as a fixed
//!   buffer; reads into caller memory use plain `READ` (registering caller
//!   memory per request would cost more than it saves).
//! * O_DIRECT ([`UringConfig::direct`]): reads go to an O_DIRECT descriptor
//!   of the file; when the destination address, offset or size is not
//!   aligned as the file system needs, the aligned span is read into the
//!   pool and the requested bytes copied out.
//! * GDeflate: the compressed bytes are read into the pool (or a one-off
//!   aligned buffer), then decoded on the CPU by `exec::decode` and
//!   delivered by `exec::deliver`, as the pread backend does.
//! * Cancellation (see `docs/io.md`): a read into the destination runs
//!   inside the job's write bracket; a strong cancel that finds it there
//!   asks the ring (cancel hook) to send `IORING_OP_ASYNC_CANCEL`, and waits
//!   until the read's completion closed the bracket, so the destination is
//!   never written after `cancel` returned true. Reads into private staging
//!   memory run outside the bracket, are also sent an ASYNC_CANCEL, and are
//!   simply discarded.
//! * Fallback: when io_uring cannot be set up (ENOSYS, EPERM: seccomp,
//!   `kernel.io_uring_disabled`, or `DS_IO_URING=off`), [`driver_or_pread`]
//!   returns the pread driver and logs why, once per process.

pub mod files;
pub mod ring;
mod worker;
pub mod xfer;

pub use ring::{IoOp, Ring, RingCounters, RingOptions, Target, UringError};

use crate::driver::{Driver, FeedHooks, JobFeed};
use crate::pread::{PreadConfig, PreadDriver};
use ds_core::{DestinationKinds, RequestId};
use std::hash::{BuildHasherDefault, Hasher};
use std::os::fd::OwnedFd;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest number of rings the default configuration starts.
pub const DEFAULT_MAX_RINGS: usize = 16;

/// Settings of the io_uring driver.
#[derive(Clone, Debug)]
pub struct UringConfig {
    /// Rings, each with its worker thread (at least 1).
    pub rings: usize,
    /// Submission queue entries per ring; also the most operations one
    /// ring keeps in flight.
    pub depth: u32,
    /// Most jobs a ring takes from the queue at a time.
    pub batch: usize,
    /// Read through O_DIRECT descriptors (page cache bypassed).
    pub direct: bool,
    /// Kernel submission polling (SQPOLL) with this idle time.
    pub sqpoll_idle: Option<Duration>,
    /// Register the files requests use in each ring's fixed file table.
    pub fixed_files: bool,
    /// Slots of that table per ring.
    pub file_slots: u32,
    /// Register each ring's staging pool as a fixed buffer.
    pub fixed_buffers: bool,
    /// Bytes of each ring's aligned staging pool (O_DIRECT bounces and
    /// compressed bytes; larger needs take a one-off buffer).
    pub pool_bytes: usize,
    /// Counters shared with the caller (clone the handle before building).
    pub stats: UringStats,
}

impl Default for UringConfig {
    /// One ring per available core (at most 16), 256 entries, batches of
    /// 32, buffered reads, no SQPOLL, fixed files (64 slots) and a 4 MiB
    /// registered pool per ring.
    fn default() -> Self {
        UringConfig {
            rings: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, DEFAULT_MAX_RINGS),
            depth: 256,
            batch: 32,
            direct: false,
            sqpoll_idle: None,
            fixed_files: true,
            file_slots: 64,
            fixed_buffers: true,
            pool_bytes: 4 << 20,
            stats: UringStats::default(),
        }
    }
}

#[derive(Default)]
struct StatsInner {
    rings: AtomicU64,
    rings_with_fixed_buffers: AtomicU64,
    rings_with_fixed_files: AtomicU64,
    /// One block per ring ever started with these stats.
    per_ring: Mutex<Vec<Arc<RingStats>>>,
}

/// The running totals of one ring, written only by its thread (plain
/// stores, no read-modify-write) on a cache line of their own, so rings
/// never contend on statistics; snapshots add them up.
#[derive(Default)]
#[repr(align(128))]
struct RingStats {
    sqes: AtomicU64,
    enters: AtomicU64,
    fixed_buffer_ops: AtomicU64,
    fixed_file_ops: AtomicU64,
    direct_reads: AtomicU64,
    bounced_reads: AtomicU64,
    cancels_sent: AtomicU64,
}

impl StatsInner {
    fn add_ring(&self) -> Arc<RingStats> {
        let block = Arc::new(RingStats::default());
        self.per_ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(block.clone());
        block
    }
}

/// A shared handle to the driver's counters.
#[derive(Clone, Default)]
pub struct UringStats(Arc<StatsInner>);

impl std::fmt::Debug for UringStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}

/// A snapshot of the driver's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringSnapshot {
    /// Rings running.
    pub rings: u64,
    /// Rings whose staging pool is registered as a fixed buffer.
    pub rings_with_fixed_buffers: u64,
    /// Rings with a fixed file table.
    pub rings_with_fixed_files: u64,
    /// SQEs queued.
    pub sqes: u64,
    /// `io_uring_enter` calls.
    pub enters: u64,
    /// Reads/writes that used a registered buffer.
    pub fixed_buffer_ops: u64,
    /// Reads/writes that used a registered file.
    pub fixed_file_ops: u64,
    /// O_DIRECT reads straight into the destination.
    pub direct_reads: u64,
    /// Reads through the staging pool (unaligned O_DIRECT, GDeflate).
    pub bounced_reads: u64,
    /// `IORING_OP_ASYNC_CANCEL`s sent.
    pub cancels_sent: u64,
}

impl UringStats {
    /// The counters now. Rings publish theirs after each loop turn, so a
    /// snapshot may lag by one batch; after the queue is dropped it is
    /// exact.
    pub fn snapshot(&self) -> UringSnapshot {
        let s = &self.0;
        // Relaxed: independent statistics.
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut snap = UringSnapshot {
            rings: g(&s.rings),
            rings_with_fixed_buffers: g(&s.rings_with_fixed_buffers),
            rings_with_fixed_files: g(&s.rings_with_fixed_files),
            ..UringSnapshot::default()
        };
        let blocks = s
            .per_ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for b in blocks.iter() {
            snap.sqes += g(&b.sqes);
            snap.enters += g(&b.enters);
            snap.fixed_buffer_ops += g(&b.fixed_buffer_ops);
            snap.fixed_file_ops += g(&b.fixed_file_ops);
            snap.direct_reads += g(&b.direct_reads);
            snap.bounced_reads += g(&b.bounced_reads);
            snap.cancels_sent += g(&b.cancels_sent);
        }
        snap
    }
}

/// What the queue's hooks and the rings share.
struct Hub {
    rings: Vec<RingHandle>,
    /// Per request slot index: 1 + the ring that last took a request in
    /// it (the one executing it, while it runs), 0 if none yet.
    owner: Box<[AtomicU8]>,
    stats: UringStats,
    /// Whether a refused pool registration was already logged as a warning.
    pool_warned: AtomicBool,
    /// Most jobs a ring takes at a time (`UringConfig::batch`).
    batch: usize,
    /// Where the next search for a sleeping ring starts (spreads wakes).
    rotor: AtomicUsize,
}

/// The part of a ring that other threads reach, on cache lines of its own
/// (each ring writes its `sleeping` flag every loop turn).
#[repr(align(128))]
struct RingHandle {
    eventfd: OwnedFd,
    /// Set while the ring waits in `io_uring_enter` with work in flight and
    /// room for more; cleared by the ring when it returns, or by the waker
    /// that claims it.
    sleeping: AtomicBool,
    /// Set when `inbox` got an id, so the ring locks it only then.
    has_cancels: AtomicBool,
    /// Requests whose strong cancel asked this ring to abort them.
    inbox: Mutex<Vec<RequestId>>,
}

impl RingHandle {
    fn wake(&self) {
        // Fails only if the counter would overflow, which still wakes.
        let _ = rustix::io::write(&self.eventfd, &1u64.to_ne_bytes());
    }
}

impl Hub {
    /// The queue's sleeper waker: wakes one sleeping ring per `batch` of
    /// `jobs` (at least one), or every ring for `usize::MAX` (shutdown).
    fn wake_sleepers(&self, jobs: usize) {
        if jobs == usize::MAX {
            for r in &self.rings {
                r.wake();
            }
            return;
        }
        // SeqCst fence: pairs with the one in `JobFeed::ready_hint`, which a
        // ring issues between announcing `sleeping` and its last look at the
        // queue, and follows the submitter's update of the ready count:
        // either the ring sees the jobs, or this sees the ring sleeping.
        fence(Ordering::SeqCst);
        let want = jobs.div_ceil(self.batch).max(1);
        let n = self.rings.len();
        // Relaxed: only spreads the search; races are harmless.
        let start = self.rotor.load(Ordering::Relaxed);
        self.rotor.store(start.wrapping_add(1), Ordering::Relaxed);
        let mut woken = 0;
        for i in 0..n {
            let r = &self.rings[(start + i) % n];
            // Relaxed load (ordered by the fence above), then the claim:
            // AcqRel so a ring is woken at most once per sleep.
            if r.sleeping.load(Ordering::Relaxed)
                && r.sleeping
                    .compare_exchange(true, false, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                r.wake();
                woken += 1;
                if woken == want {
                    break;
                }
            }
        }
    }

    fn cancel(&self, id: RequestId) {
        let Some(owner) = self.owner.get(id.index() as usize) else {
            return;
        };
        // SeqCst fence between the cancel's change of the state word (made
        // before this hook) and the owner lookup, paired with the ring's
        // fence between storing the owner and checking for a cancel (see
        // `Worker::submit`): one of the two sides sees the other.
        std::sync::atomic::fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence; a stale owner only sends the id to
        // a ring that ignores it.
        let ring = owner.load(Ordering::Relaxed) as usize;
        if let Some(r) = ring.checked_sub(1).and_then(|i| self.rings.get(i)) {
            r.inbox
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(id);
            // Release: the id pushed above is in the inbox when the ring
            // sees the flag (it then takes the inbox's lock anyway).
            r.has_cancels.store(true, Ordering::Release);
            r.wake();
        }
    }
}

/// The io_uring executor (host-memory reads and writes to files).
pub struct UringDriver {
    config: UringConfig,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for UringDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringDriver")
            .field("config", &self.config)
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl UringDriver {
    /// Checks that io_uring can be set up here (a probe ring of the
    /// configured depth and SQPOLL setting) and returns a driver that starts
    /// `config.rings` rings.
    pub fn new(config: UringConfig) -> Result<UringDriver, UringError> {
        let probe = Ring::new(RingOptions {
            entries: config.depth,
            sqpoll_idle: config.sqpoll_idle,
            single_thread: false,
        })?;
        drop(probe);
        Ok(UringDriver {
            config,
            workers: Vec::new(),
        })
    }
}

static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// The io_uring driver, or when io_uring is unavailable here the pread
/// driver (with as many threads as rings were asked for), saying so once
/// per process through the log.
pub fn driver_or_pread(config: UringConfig) -> Box<dyn Driver> {
    let rings = config.rings;
    match UringDriver::new(config) {
        Ok(d) => Box::new(d),
        Err(e) => {
            // Relaxed: only decides whether this call logs.
            if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
                log::warn!("io_uring unavailable ({e}); falling back to the pread backend");
            }
            Box::new(PreadDriver::new(PreadConfig {
                threads: rings.clamp(1, DEFAULT_MAX_RINGS),
            }))
        }
    }
}

/// A fast hash for the rings' small maps, whose keys are request ids and
/// file identities (addresses): one multiply, no per-map random key (no
/// untrusted keys reach these maps).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        // Fibonacci hashing: the multiply moves the low bits (slot index,
        // address) into the high bits the table uses; the rotation brings
        // them back down for its bucket index.
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(26);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// `HashMap` hasher built from [`IdHasher`].
pub(crate) type IdHash = BuildHasherDefault<IdHasher>;

fn io_err(e: UringError) -> std::io::Error {
    std::io::Error::other(e)
}

impl Driver for UringDriver {
    fn name(&self) -> &'static str {
        "io_uring"
    }

    fn destinations(&self) -> DestinationKinds {
        DestinationKinds::HOST_MEMORY.union(DestinationKinds::FILE)
    }

    fn start(&mut self, feed: JobFeed) -> std::io::Result<()> {
        let n = self.config.rings.clamp(1, 255);
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            let fd = rustix::event::eventfd(
                0,
                rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
            )
            .map_err(std::io::Error::from)?;
            handles.push(RingHandle {
                eventfd: fd,
                sleeping: AtomicBool::new(false),
                has_cancels: AtomicBool::new(false),
                inbox: Mutex::new(Vec::new()),
            });
        }
        let hub = Arc::new(Hub {
            rings: handles,
            owner: (0..crate::queue::MAX_CAPACITY)
                .map(|_| AtomicU8::new(0))
                .collect(),
            stats: self.config.stats.clone(),
            pool_warned: AtomicBool::new(false),
            batch: self.config.batch.max(1),
            rotor: AtomicUsize::new(0),
        });
        let (wake_hub, cancel_hub) = (hub.clone(), hub.clone());
        feed.set_sleeper_waker(Box::new(move |jobs| wake_hub.wake_sleepers(jobs)));
        feed.set_hooks(FeedHooks {
            wake: None,
            cancel: Some(Box::new(move |id| cancel_hub.cancel(id))),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..n {
            let (feed, hub, cfg, tx) = (feed.clone(), hub.clone(), self.config.clone(), tx.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("ds-uring-{i}"))
                .spawn(move || match worker::Worker::new(i, feed, hub, &cfg) {
                    Ok(w) => {
                        let _ = tx.send(Ok(()));
                        w.run();
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                });
            match spawned {
                Ok(h) => self.workers.push(h),
                Err(e) => return Err(e),
            }
        }
        drop(tx);
        // Rings that cannot be set up (memory limits) leave the others to
        // do the work; none at all is an error.
        let (mut running, mut first_error) = (0, None);
        for _ in 0..n {
            match rx.recv() {
                Ok(Ok(())) => running += 1,
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => break,
            }
        }
        match (running, first_error) {
            (0, Some(e)) => Err(io_err(e)),
            (0, None) => Err(std::io::Error::other("no io_uring worker started")),
            (_, Some(e)) => {
                log::warn!("io_uring: {running} of {n} rings running; the others failed: {e}");
                Ok(())
            }
            (_, None) => Ok(()),
        }
    }

    fn stop(&mut self) {
        let me = std::thread::current().id();
        for w in self.workers.drain(..) {
            // The last queue handle may be dropped inside a callback on a
            // ring thread: it cannot join itself and exits on its own once
            // its feed is closed and its operations are done.
            if w.thread().id() != me && w.join().is_err() {
                log::error!("an io_uring worker panicked");
            }
        }
    }
}
