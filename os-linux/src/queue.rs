//! The request queue: enqueue, submit, execute through executors, cancel,
//! wait, order, report.
//!
//! Life of a request (see `docs/design.md` for the diagrams):
//! `enqueue` validates it, takes a slot (QueueFull if none), stores its
//! payload in the slot and publishes it Pending; `submit` (explicit, or
//! automatic once half the slots hold unsubmitted work, as DirectStorage
//! does) moves Pending -> Submitted and onto the ready list of the executor
//! that serves its destination, by priority; an executor's worker moves it
//! Submitted -> InFlight and owns it until it reports; the thread that makes
//! the terminal transition then *finishes* it: stats, error record, ordering
//! epochs, the callback or the stored completion, and the slot's release.
//!
//! Locks: `pending` (unsubmitted list), `sched` (ready lists), `order`
//! (epochs, error record) and each slot's payload mutex. None is held while
//! user code (callbacks) runs, and no two are held at once except `pending`
//! then `sched` in `submit` (so submissions reach the ready lists in
//! order). Enqueuing threads touch `pending`, executors `sched`.
//!
//! Waking executors (see `docs/design.md`, "Waking executors"): the queue
//! counts the workers of each route that sleep in `next_batch` and wakes
//! only as many of them as there are jobs nobody is on the way to take; a
//! worker takes its share of the ready jobs (the rest is left to the idle
//! workers it then wakes); and a built-in worker finishing requests (so
//! running their callbacks) wakes nobody for the requests those callbacks
//! submit, since it looks at the ready list itself right after.

use crate::driver::{Driver, FeedHandle, FeedHooks, Job, JobFeed};
use crate::error::{BuildError, EnqueueError, Rejected, RequestError, WaitError};
use crate::order::{ErrorRecord, Fence, Order, OrderCmd, Retired, StatusArray};
use crate::pread::{PreadConfig, PreadDriver};
use crate::request::{Completion, Notify, Outcome, Payload, Request};
use crate::stats::{Counters, Stats};
use crate::wait::{in_callback, CallbackScope, Waiters};
use ds_core::{
    CancelScope, CancelStep, Compression, DestinationKinds, IdRing, Priority, RequestCell,
    RequestId, SlotTable, State, Status, WeakCancel,
};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Smallest queue capacity (DirectStorage's `DSTORAGE_MIN_QUEUE_CAPACITY`).
pub const MIN_CAPACITY: usize = 128;
/// Largest queue capacity (DirectStorage's `DSTORAGE_MAX_QUEUE_CAPACITY`).
pub const MAX_CAPACITY: usize = 8192;
/// Default capacity.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Default staging buffer size (DirectStorage's default, 32 MiB).
pub const DEFAULT_STAGING_LIMIT: u64 = 32 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the protected
    // data inconsistent (every critical section is a few plain updates), so
    // a poisoned lock is used as is.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The built-in I/O backends.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Backend {
    /// Worker threads doing `pread`/`pwrite` (portable, always available).
    Pread(PreadConfig),
    /// io_uring rings (see [`crate::uring`]); falls back to the pread
    /// backend, logging why once, where io_uring is unavailable.
    IoUring(crate::uring::UringConfig),
    /// No built-in I/O: every destination kind is served by executors added
    /// with [`QueueBuilder::executor`] (embedders with their own I/O).
    None,
}

impl Default for Backend {
    fn default() -> Self {
        Backend::Pread(PreadConfig::default())
    }
}

/// A failure hook (the C ABI's error event / log callback).
pub type FailureHook = Arc<dyn Fn(&RequestError) + Send + Sync>;

/// Builds a [`Queue`].
pub struct QueueBuilder {
    capacity: usize,
    name: String,
    backend: Backend,
    executors: Vec<Box<dyn Driver>>,
    staging_limit: u64,
    decompress_threads: usize,
    on_failure: Option<FailureHook>,
}

impl std::fmt::Debug for QueueBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueBuilder")
            .field("capacity", &self.capacity)
            .field("name", &self.name)
            .field("backend", &self.backend)
            .field(
                "executors",
                &self.executors.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field("staging_limit", &self.staging_limit)
            .finish()
    }
}

impl Default for QueueBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl QueueBuilder {
    /// Defaults: capacity 1024, pread backend, 32 MiB staging limit.
    pub fn new() -> Self {
        QueueBuilder {
            capacity: DEFAULT_CAPACITY,
            name: String::from("queue"),
            backend: Backend::default(),
            executors: Vec::new(),
            staging_limit: DEFAULT_STAGING_LIMIT,
            decompress_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            on_failure: None,
        }
    }

    /// Number of slots (128..=8192), shared by requests and ordering commands.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Name for logs.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// The I/O backend for host-memory destinations and writes.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Adds an executor for other destination kinds (the GPU executor).
    pub fn executor(mut self, executor: Box<dyn Driver>) -> Self {
        self.executors.push(executor);
        self
    }

    /// Largest GDeflate request (compressed or uncompressed), in bytes.
    pub fn staging_limit(mut self, bytes: u64) -> Self {
        self.staging_limit = bytes;
        self
    }

    /// Threads for decompressing one large GDeflate request on the CPU.
    pub fn decompress_threads(mut self, threads: usize) -> Self {
        self.decompress_threads = threads.max(1);
        self
    }

    /// Called (on the finishing thread) for every failed request.
    pub fn on_failure(mut self, hook: impl Fn(&RequestError) + Send + Sync + 'static) -> Self {
        self.on_failure = Some(Arc::new(hook));
        self
    }

    /// Creates the queue and starts its executors.
    pub fn build(self) -> Result<Queue, BuildError> {
        if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(BuildError::Capacity {
                requested: self.capacity,
            });
        }
        let mut drivers: Vec<Box<dyn Driver>> = Vec::with_capacity(1 + self.executors.len());
        match self.backend {
            Backend::Pread(cfg) => drivers.push(Box::new(PreadDriver::new(cfg))),
            Backend::IoUring(cfg) => drivers.push(crate::uring::driver_or_pread(cfg)),
            Backend::None => {}
        }
        drivers.extend(self.executors);
        for kind in [
            DestinationKinds::HOST_MEMORY,
            DestinationKinds::GPU_BUFFER,
            DestinationKinds::FILE,
        ] {
            if drivers
                .iter()
                .filter(|d| d.destinations().contains(kind))
                .count()
                > 1
            {
                return Err(BuildError::DuplicateExecutor {
                    destination: kind_name(kind),
                });
            }
        }
        let cap = self.capacity;
        let ring = || IdRing::new(vec![RequestId::from_raw(0); cap].into_boxed_slice());
        let routes: Vec<Route> = drivers
            .iter()
            .map(|d| Route {
                executor: d.name(),
                kinds: d.destinations(),
            })
            .collect();
        let table = SlotTable::new((0..cap).map(|_| RequestCell::new()).collect::<Box<[_]>>())
            .map_err(|_| BuildError::Capacity { requested: cap })?;
        let shared = Arc::new(Shared {
            name: self.name,
            capacity: cap,
            staging_limit: self.staging_limit,
            decompress_threads: self.decompress_threads,
            table,
            slots: (0..cap).map(|_| Mutex::new(SlotData::default())).collect(),
            meta: (0..cap).map(|_| AtomicU8::new(0)).collect(),
            pending: Padded(Mutex::new(ring())),
            sched: Padded(Mutex::new(Sched {
                ready: routes
                    .iter()
                    .map(|_| std::array::from_fn(|_| ring()))
                    .collect(),
                idle: routes.iter().map(|_| 0).collect(),
                notified: routes.iter().map(|_| 0).collect(),
                closed: false,
            })),
            ready_count: routes.iter().map(|_| ReadyCount::default()).collect(),
            route_cv: routes.iter().map(|_| Condvar::new()).collect(),
            hooks: routes.iter().map(|_| OnceLock::new()).collect(),
            sleeper_wakers: routes.iter().map(|_| OnceLock::new()).collect(),
            routes,
            order: Padded(Mutex::new(Order::new(cap))),
            counters: Counters::new(),
            ended: Waiters::new(),
            drained: Waiters::new(),
            freed: Waiters::new(),
            closing: AtomicBool::new(false),
            on_failure: self.on_failure,
        });
        let queue = Queue {
            shared: shared.clone(),
            drivers: Mutex::new(Vec::new()),
        };
        for (route, mut d) in drivers.into_iter().enumerate() {
            let feed = JobFeed {
                shared: Arc::new(FeedHandle(shared.clone())),
                route,
            };
            if let Err(error) = d.start(feed) {
                let executor = d.name();
                lock(&queue.drivers).push(d);
                // Dropping `queue` stops the executors already started.
                return Err(BuildError::Start { executor, error });
            }
            lock(&queue.drivers).push(d);
        }
        log::debug!(
            "queue '{}': capacity {cap}, executors {:?}",
            shared.name,
            shared.routes.iter().map(|r| r.executor).collect::<Vec<_>>()
        );
        Ok(queue)
    }
}

fn kind_name(kind: DestinationKinds) -> &'static str {
    if kind == DestinationKinds::GPU_BUFFER {
        "GPU buffer"
    } else if kind == DestinationKinds::FILE {
        "file"
    } else {
        "host memory"
    }
}

pub(crate) struct Route {
    pub(crate) executor: &'static str,
    kinds: DestinationKinds,
}

#[derive(Default)]
struct SlotData {
    payload: Option<Box<Payload>>,
    done: Option<Completion>,
}

/// A bounded list of ids with the queue's capacity.
type Ring = IdRing<Box<[RequestId]>>;

struct Sched {
    /// Per route, per urgency (0 = realtime): submitted requests.
    ready: Box<[[Ring; Priority::COUNT]]>,
    /// Per route: workers blocked in `next_batch`.
    idle: Box<[usize]>,
    /// Per route: how many of those were notified and have not run yet.
    notified: Box<[usize]>,
    closed: bool,
}

impl Sched {
    /// Entries on the ready lists of `route` (stale ones of requests
    /// cancelled there included).
    fn ready_len(&self, route: usize) -> usize {
        self.ready[route].iter().map(IdRing::len).sum()
    }
}

/// A value on cache lines of its own, so that writes to it (a contended
/// lock) do not slow down reads of its neighbours, and the other way round.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A route's ready-list length, mirrored outside the lock on its own cache
/// line, so workers can see "nothing to take" without locking.
#[derive(Default)]
#[repr(align(128))]
struct ReadyCount(AtomicUsize);

/// Wakes decided under the `sched` lock, made after it is released.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Wake {
    route: usize,
    /// Idle workers to notify (`usize::MAX`: all).
    notify: usize,
    /// Jobs left for workers that sleep elsewhere (io_uring rings waiting
    /// in the kernel), for the route's sleeper waker.
    sleepers: usize,
}

/// Wakes executors that sleep somewhere other than `next_batch` (the
/// io_uring rings, in `io_uring_enter`) for `jobs` ready jobs nobody else
/// is on the way to take (`usize::MAX`: wake every one, at shutdown).
pub(crate) type SleeperWaker = Box<dyn Fn(usize) + Send + Sync>;

/// The route a built-in worker thread serves while it finishes requests
/// (see [`LocalScope`]).
#[derive(Clone, Copy, Default)]
struct Local {
    /// Address of the queue's `Shared` (0: none).
    queue: usize,
    route: usize,
    /// A submit of this thread left jobs for it to take.
    deferred: bool,
}

thread_local! {
    static LOCAL: Cell<Local> = const { Cell::new(Local { queue: 0, route: 0, deferred: false }) };
}

/// While alive, requests that the current thread (a built-in executor's
/// worker, running completion callbacks) submits to its own route wake no
/// other worker: the worker looks at the ready list itself as soon as the
/// scope ends, takes its share and wakes idle workers for the rest. Ending
/// it says whether such jobs were left (for a worker that cannot take them
/// at once, see [`LocalScope::end`]).
pub(crate) struct LocalScope {
    shared: Arc<FeedHandle>,
    route: usize,
}

impl LocalScope {
    pub(crate) fn new(shared: &Arc<FeedHandle>, route: usize) -> LocalScope {
        LOCAL.with(|l| {
            l.set(Local {
                queue: Arc::as_ptr(&shared.0) as usize,
                route,
                deferred: false,
            })
        });
        LocalScope {
            shared: shared.clone(),
            route,
        }
    }

    /// Ends the scope; true if this thread submitted jobs to its route
    /// meanwhile. A worker that will not call `next_batch` /
    /// `try_next_batch` right away must then call [`Shared::wake_for_ready`].
    pub(crate) fn end(self) -> bool {
        // Clearing the thread's mark first leaves `Drop` nothing to do but
        // release the handle.
        LOCAL.with(|l| l.replace(Local::default())).deferred
    }
}

impl Drop for LocalScope {
    fn drop(&mut self) {
        // Left by a panic: nobody may look at the deferred jobs soon, so
        // wake workers for them now.
        if LOCAL.with(|l| l.replace(Local::default())).deferred {
            self.shared.wake_for_ready(self.route);
        }
    }
}

/// Per-slot routing byte: route index (low 4 bits), urgency (bits 4..6),
/// collect flag (bit 7).
const META_COLLECT: u8 = 0x80;

/// State shared by the queue handle, its executors and their jobs. Aligned
/// so the `Arc`'s reference counts (written as jobs come and go) have their
/// own cache line; the locks every request takes are padded likewise.
#[repr(align(128))]
pub(crate) struct Shared {
    pub(crate) name: String,
    capacity: usize,
    pub(crate) staging_limit: u64,
    pub(crate) decompress_threads: usize,
    pub(crate) table: SlotTable<Box<[RequestCell]>>,
    slots: Box<[Mutex<SlotData>]>,
    meta: Box<[AtomicU8]>,
    /// Enqueued, not yet submitted (requests and ordering commands).
    pending: Padded<Mutex<Ring>>,
    sched: Padded<Mutex<Sched>>,
    ready_count: Box<[ReadyCount]>,
    route_cv: Box<[Condvar]>,
    pub(crate) hooks: Box<[OnceLock<FeedHooks>]>,
    pub(crate) sleeper_wakers: Box<[OnceLock<SleeperWaker>]>,
    pub(crate) routes: Vec<Route>,
    order: Padded<Mutex<Order>>,
    counters: Counters,
    /// Woken when a request reaches its end or closes a write bracket
    /// (`wait`, strong cancel waiting for a writer).
    pub(crate) ended: Waiters,
    /// Woken when an epoch has no outstanding request left (`wait_all`).
    drained: Waiters,
    /// Woken when an eighth of the slots are free (`enqueue_blocking`).
    freed: Waiters,
    closing: AtomicBool,
    on_failure: Option<FailureHook>,
}

impl Shared {
    pub(crate) fn cell(&self, id: RequestId) -> &RequestCell {
        // Ids handed to executors always come from this table.
        self.table.cell(id).expect("id of this queue's table")
    }

    fn slot(&self, id: RequestId) -> &Mutex<SlotData> {
        &self.slots[id.index() as usize]
    }

    pub(crate) fn feed_closed(&self) -> bool {
        lock(&self.sched).closed
    }

    fn route_for(&self, kind: DestinationKinds) -> Option<usize> {
        self.routes.iter().position(|r| r.kinds.contains(kind))
    }

    /// Pushes `id` onto a ready ring, dropping stale entries if it is full.
    fn push_ready(&self, ring: &mut Ring, id: RequestId) {
        if ring.push(id).is_err() {
            ring.retain(|r| {
                self.table
                    .get(r)
                    .is_some_and(|w| w.state() == State::Submitted)
            });
            // Live submitted requests are fewer than the slots, so after
            // dropping stale entries there is room.
            let pushed = ring.push(id);
            debug_assert!(pushed.is_ok(), "ready ring over capacity");
        }
    }

    /// The ready-list length of `route` as last published (Relaxed).
    pub(crate) fn ready_now(&self, route: usize) -> usize {
        self.ready_count[route].0.load(Ordering::Relaxed)
    }

    /// Mirrors the ready-list length of `route` for lock-free readers.
    fn publish_ready(&self, s: &Sched, route: usize) {
        // Relaxed: readers that must not miss jobs (a ring about to sleep
        // in the kernel) pair SeqCst fences with the waker's, see
        // `JobFeed::ready_hint`; others only use it as a hint.
        self.ready_count[route]
            .0
            .store(s.ready_len(route), Ordering::Relaxed);
    }

    /// Decides which workers of `route` to wake for the jobs on its ready
    /// list that nobody is on the way to take: an idle worker (sleeping in
    /// `next_batch`) per such job, as many as there are; if none is idle,
    /// the route's sleepers (rings waiting in the kernel).
    fn plan_wake(&self, s: &mut Sched, route: usize) -> Wake {
        let unclaimed = s.ready_len(route).saturating_sub(s.notified[route]);
        let free = s.idle[route].saturating_sub(s.notified[route]);
        let notify = free.min(unclaimed);
        s.notified[route] += notify;
        Wake {
            route,
            // Every idle worker: one futex call instead of several.
            notify: if notify > 1 && notify == free {
                usize::MAX
            } else {
                notify
            },
            sleepers: if notify == 0 { unclaimed } else { 0 },
        }
    }

    /// Makes the wakes decided by [`Shared::plan_wake`] (without the lock).
    fn wake(&self, w: Wake) {
        match w.notify {
            0 => {}
            usize::MAX => self.route_cv[w.route].notify_all(),
            n => (0..n).for_each(|_| self.route_cv[w.route].notify_one()),
        }
        if w.sleepers > 0 {
            if let Some(waker) = self.sleeper_wakers[w.route].get() {
                waker(w.sleepers);
            }
        }
    }

    /// Wakes workers for the ready jobs of `route` nobody is on the way to
    /// take (a worker that deferred jobs in a [`LocalScope`] and cannot take
    /// them now).
    pub(crate) fn wake_for_ready(&self, route: usize) {
        let w = self.plan_wake(&mut lock(&self.sched), route);
        self.wake(w);
    }

    /// True (and noted) when the current thread is a built-in worker of
    /// `route` of this queue inside a [`LocalScope`]: it takes what it
    /// submits itself.
    fn defer_to_local(&self, route: usize) -> bool {
        LOCAL.with(|l| {
            let mut v = l.get();
            let mine = v.queue == self as *const Shared as usize && v.route == route;
            if mine {
                v.deferred = true;
                l.set(v);
            }
            mine
        })
    }

    /// Moves every pending entry to Submitted; requests go to their
    /// executor's ready list. Returns whether an ordering command was
    /// submitted (then retirement must be attempted).
    fn submit(&self) -> bool {
        // Jobs per route; on the stack for the usual few routes.
        let mut small = [0usize; 4];
        let mut large = Vec::new();
        let routes = self.routes.len();
        let pushed: &mut [usize] = if routes <= small.len() {
            &mut small[..routes]
        } else {
            large.resize(routes, 0);
            &mut large
        };
        let mut wakes = [Wake::default(); 4];
        let mut more_wakes = Vec::new();
        let mut markers = false;
        {
            let mut pending = lock(&self.pending);
            let mut s = lock(&self.sched);
            let s = &mut *s;
            while let Some(id) = pending.pop() {
                if self.cell(id).submit(id).is_err() {
                    continue; // cancelled before submission
                }
                let meta = self.meta[id.index() as usize].load(Ordering::Relaxed);
                if self.table.get(id).is_some_and(|w| w.is_marker()) {
                    markers = true;
                    continue;
                }
                let route = (meta & 0x0F) as usize;
                let urgency = ((meta >> 4) & 0x07) as usize;
                self.push_ready(&mut s.ready[route][urgency], id);
                pushed[route] += 1;
            }
            let mut n = 0;
            for (route, &count) in pushed.iter().enumerate() {
                if count == 0 {
                    continue;
                }
                self.publish_ready(s, route);
                if self.defer_to_local(route) {
                    continue;
                }
                let w = self.plan_wake(s, route);
                if n < wakes.len() {
                    wakes[n] = w;
                } else {
                    more_wakes.push(w);
                }
                n += 1;
            }
        }
        for &w in wakes.iter().chain(&more_wakes) {
            if w != Wake::default() {
                self.wake(w);
            }
        }
        for (route, &count) in pushed.iter().enumerate() {
            if count == 0 {
                continue;
            }
            if let Some(wake) = self.hooks[route].get().and_then(|h| h.wake.as_ref()) {
                wake();
            }
        }
        markers
    }

    /// Moves the share of the started jobs of `route` that falls to the
    /// calling worker (at most `max`) into `out`: the ready jobs divided by
    /// the workers (this one and the idle ones), so work spreads over the
    /// workers; idle workers are then woken for what is left.
    pub(crate) fn next_batch(
        &self,
        handle: &Arc<FeedHandle>,
        route: usize,
        out: &mut Vec<Job>,
        max: usize,
        block: bool,
    ) -> bool {
        // Relaxed: a stale zero only makes this non-blocking look come back
        // empty-handed; callers look again (rings after a SeqCst fence
        // before they sleep, see `JobFeed::ready_hint`).
        if !block && self.ready_count[route].0.load(Ordering::Relaxed) == 0 {
            return true;
        }
        let before = out.len();
        let executor = self.routes[route].executor;
        let wake = {
            let mut s = lock(&self.sched);
            loop {
                let ready = s.ready_len(route);
                if ready > 0 {
                    let share = ready.div_ceil(1 + s.idle[route]).min(max);
                    let mut taken = 0;
                    for ring in s.ready[route].iter_mut() {
                        while taken < share {
                            let Some(id) = ring.pop() else { break };
                            if self.cell(id).start(id).is_ok() {
                                // The payload is moved in below, outside
                                // the lock: the request is InFlight and
                                // only its executor takes it.
                                out.push(Job {
                                    shared: handle.clone(),
                                    id,
                                    payload: None,
                                    writing: false,
                                    executor,
                                });
                                taken += 1;
                            }
                        }
                    }
                    self.publish_ready(&s, route);
                    if taken > 0 {
                        break self.plan_wake(&mut s, route);
                    }
                }
                if s.closed {
                    return false;
                }
                if !block {
                    return true;
                }
                s.idle[route] += 1;
                s = self.route_cv[route]
                    .wait(s)
                    .unwrap_or_else(PoisonError::into_inner);
                s.idle[route] -= 1;
                s.notified[route] = s.notified[route].saturating_sub(1);
            }
        };
        self.wake(wake);
        for job in &mut out[before..] {
            job.payload = lock(self.slot(job.id)).payload.take();
            debug_assert!(job.payload.is_some(), "started request without payload");
        }
        true
    }

    /// Finishes a request whose terminal transition the caller made (or,
    /// for `Cancelled` from InFlight, whose executor noticed it).
    pub(crate) fn finish(&self, id: RequestId, mut payload: Box<Payload>, outcome: Outcome) {
        let latency = payload.enqueued_at.elapsed();
        let c = self.counters.mine();
        // Relaxed counter updates: statistics only.
        match &outcome {
            Outcome::Complete { bytes } => {
                c.completed.fetch_add(1, Ordering::Relaxed);
                c.bytes.fetch_add(*bytes, Ordering::Relaxed);
                c.latency.record(latency.as_nanos() as u64);
            }
            Outcome::Failed(e) => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                c.latency.record(latency.as_nanos() as u64);
                log::warn!("queue '{}': {e}", self.name);
                if let Some(hook) = &self.on_failure {
                    let _scope = CallbackScope::enter();
                    if catch_unwind(AssertUnwindSafe(|| hook(e))).is_err() {
                        log::error!("queue '{}': failure hook panicked", self.name);
                    }
                }
            }
            Outcome::Cancelled => {
                c.cancelled.fetch_add(1, Ordering::Relaxed);
            }
        }
        let failure = match &outcome {
            Outcome::Failed(e) => Some(e.clone()),
            _ => None,
        };
        let buffer = payload.take_buffer();
        let completion = Completion {
            id,
            name: payload.desc.name.clone(),
            tag: payload.desc.cancellation_tag,
            outcome,
            buffer,
            latency,
        };
        // Deliver first, then account in the ordering epochs: whoever sees
        // a fence, a status entry or `wait_all` complete also sees every
        // callback before it finished.
        match std::mem::replace(&mut payload.notify, Notify::Detached) {
            Notify::Callback(f) => {
                let word = self.cell(id).load();
                let cancelled = matches!(completion.outcome, Outcome::Cancelled);
                if !cancelled && !word.callback_suppressed() {
                    let _scope = CallbackScope::enter();
                    if catch_unwind(AssertUnwindSafe(|| f(completion))).is_err() {
                        log::error!(
                            "queue '{}': completion callback of {id} panicked",
                            self.name
                        );
                    }
                }
                self.release(id);
            }
            Notify::Detached => self.release(id),
            Notify::Collect => {
                lock(self.slot(id)).done = Some(completion);
                let finalized = self.cell(id).finalize(id);
                debug_assert!(finalized.is_ok());
            }
        }
        let (epoch, seq) = (payload.epoch, payload.seq);
        drop(payload);
        self.ended.notify();
        let mut retired = Vec::new();
        let drained = {
            let mut o = lock(&self.order);
            let drained = o.request_done(epoch, seq, failure.as_ref());
            o.retire(|m| self.marker_submitted(m), &mut retired);
            drained
        };
        self.run_retired(retired);
        if drained {
            self.drained.notify();
        }
    }

    fn release(&self, id: RequestId) {
        let finalized = self.cell(id).finalize(id);
        debug_assert!(finalized.is_ok());
        let released = self.table.release(id);
        debug_assert!(released.is_ok());
        self.slot_freed();
    }

    /// Free slots at which blocked `enqueue_blocking` callers are woken: an
    /// eighth of the queue, so a producer keeping the queue full is woken
    /// once per batch rather than once per request.
    fn wake_threshold(&self) -> usize {
        (self.capacity / 8).max(1)
    }

    pub(crate) fn slot_freed(&self) {
        if self.table.free_slots() >= self.wake_threshold() {
            self.freed.notify();
        }
    }

    fn notify_all_waiters(&self) {
        self.ended.notify();
        self.drained.notify();
        self.freed.notify();
    }

    fn marker_submitted(&self, id: RequestId) -> bool {
        self.table
            .get(id)
            .is_some_and(|w| w.state() == State::Submitted)
    }

    /// Retires ordering commands that are due.
    fn retire(&self) {
        let mut retired = Vec::new();
        lock(&self.order).retire(|m| self.marker_submitted(m), &mut retired);
        self.run_retired(retired);
    }

    fn run_retired(&self, retired: Vec<Retired>) {
        for (id, cmd, failure) in retired {
            let _scope = CallbackScope::enter();
            if catch_unwind(AssertUnwindSafe(|| cmd.run(failure))).is_err() {
                log::error!("queue '{}': marker callback panicked", self.name);
            }
            let cell = self.cell(id);
            let done = cell.start(id).and_then(|()| cell.complete(id).map(drop));
            debug_assert!(done.is_ok());
            self.release(id);
        }
    }

    /// Finishes a request that a cancel moved to Cancelled before any
    /// executor started it (the canceller owns it then).
    fn finish_unstarted(&self, id: RequestId) {
        let payload = lock(self.slot(id)).payload.take();
        match payload {
            Some(p) => self.finish(id, p, Outcome::Cancelled),
            None => debug_assert!(false, "cancelled request {id} without payload"),
        }
    }

    /// Tells the executor of a started request that it was cancelled.
    fn call_cancel_hook(&self, id: RequestId) {
        let route = (self.meta[id.index() as usize].load(Ordering::Relaxed) & 0x0F) as usize;
        if let Some(cancel) = self
            .hooks
            .get(route)
            .and_then(|h| h.get())
            .and_then(|h| h.cancel.as_ref())
        {
            cancel(id);
        }
    }

    fn after_step(&self, id: RequestId, step: CancelStep, waits: &mut Vec<RequestId>) -> bool {
        match step {
            CancelStep::Cancelled(State::Pending | State::Submitted) => {
                self.finish_unstarted(id);
                true
            }
            CancelStep::Cancelled(_) => {
                // Started: its executor notices at begin_write / complete;
                // the hook lets it abort private work (a staging read) now.
                self.call_cancel_hook(id);
                true
            }
            CancelStep::WaitForWriter => {
                self.call_cancel_hook(id);
                waits.push(id);
                true
            }
            CancelStep::Busy | CancelStep::NotLive => false,
        }
    }

    /// Strong cancel of several ids: issue every step, then wait out the
    /// writers. Returns how many will never complete.
    fn cancel_ids(&self, ids: &[RequestId], scope: CancelScope) -> usize {
        let scope = if in_callback() && scope == CancelScope::All {
            // Waiting for a writer from a callback could wait for this very
            // thread: cancel only what can be cancelled without waiting.
            CancelScope::NotWriting
        } else {
            scope
        };
        let mut waits = Vec::new();
        let mut n = 0;
        for &id in ids {
            let step = self.table.cancel_scoped(id, scope);
            n += usize::from(self.after_step(id, step, &mut waits));
        }
        for id in waits {
            // CR is set: the writer's end_write turns the request into
            // Cancelled. Wait until it is terminal (or already released).
            self.ended.wait_until(None, || {
                self.table.get(id).is_none_or(|w| w.state().is_terminal())
            });
        }
        n
    }

    fn tagged(&self, mask: u64, value: u64) -> Vec<RequestId> {
        let mut ids = Vec::new();
        self.table
            .for_each_tagged(mask, value, |id, _| ids.push(id));
        ids
    }
}

/// A DirectStorage-style request queue. Share it between threads by
/// reference or `Arc`; every method takes `&self`.
pub struct Queue {
    shared: Arc<Shared>,
    drivers: Mutex<Vec<Box<dyn Driver>>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.shared.name)
            .field("capacity", &self.shared.capacity)
            .field("free_slots", &self.shared.table.free_slots())
            .finish()
    }
}

/// Queue properties and state (DirectStorage's `DSTORAGE_QUEUE_INFO`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueInfo {
    /// Name given at build.
    pub name: String,
    /// Slots in all.
    pub capacity: usize,
    /// Free slots now.
    pub empty_slots: usize,
    /// Enqueues left before the automatic submit.
    pub until_auto_submit: usize,
    /// Executor names, in routing order.
    pub executors: Vec<&'static str>,
}

impl Queue {
    /// A queue with default settings (capacity 1024, pread backend).
    pub fn new() -> Result<Queue, BuildError> {
        QueueBuilder::new().build()
    }

    /// A builder.
    pub fn builder() -> QueueBuilder {
        QueueBuilder::new()
    }

    /// Enqueues a request; returns its id. A bad request, a full queue or a
    /// shut-down queue is refused and the request handed back in
    /// [`Rejected`]. Submits automatically once half the slots hold
    /// unsubmitted work.
    pub fn enqueue(&self, request: Request) -> Result<RequestId, Rejected> {
        let sh = &*self.shared;
        let reject = |error, request| {
            Err(Rejected {
                error,
                request: Box::new(request),
            })
        };
        if sh.closing.load(Ordering::Acquire) {
            return reject(EnqueueError::ShutDown, request);
        }
        let desc = match request.describe() {
            Ok(d) => d,
            Err(e) => return reject(e, request),
        };
        if let Some(f) = request.file().filter(|f| f.is_closed()) {
            let file = crate::error::FileLabel::of(f);
            return reject(EnqueueError::FileClosed { file }, request);
        }
        let kind = desc.destination.kind();
        let Some(route) = sh.route_for(kind) else {
            let destination = kind_name(kind);
            return reject(EnqueueError::NoExecutor { destination }, request);
        };
        if desc.compression == Compression::GDeflate {
            let size = desc.source.size().max(desc.uncompressed_size);
            if size > sh.staging_limit {
                let limit = sh.staging_limit;
                return reject(EnqueueError::TooLarge { size, limit }, request);
            }
        }
        let collect = matches!(request.notify, Notify::Collect);
        let meta = route as u8
            | ((desc.priority.urgency_index() as u8) << 4)
            | if collect { META_COLLECT } else { 0 };
        let tag = desc.cancellation_tag;
        let mut request = Some(request);
        let mut desc = Some(desc);
        let result = sh.table.alloc_with(tag, false, |id| {
            let Request {
                src, dst, notify, ..
            } = request.take().expect("request moved once");
            let (seq, epoch) = lock(&sh.order).add_request();
            // Relaxed: published by the Release CAS that makes the slot
            // Pending, which every reader of `meta` has observed first.
            // Written only when it changes: slots are reused most recent
            // first, usually by requests of the same kind, and 64 slots
            // share a cache line.
            let m = &sh.meta[id.index() as usize];
            if m.load(Ordering::Relaxed) != meta {
                m.store(meta, Ordering::Relaxed);
            }
            lock(sh.slot(id)).payload = Some(Box::new(Payload {
                desc: desc.take().expect("desc moved once"),
                src,
                dst,
                notify,
                enqueued_at: Instant::now(),
                seq,
                epoch,
            }));
        });
        let id = match result {
            Ok(id) => id,
            Err(full) => {
                let request = request.expect("request not moved when the table is full");
                return reject(
                    EnqueueError::QueueFull {
                        capacity: full.capacity,
                    },
                    request,
                );
            }
        };
        // Relaxed: statistic.
        sh.counters.mine().enqueued.fetch_add(1, Ordering::Relaxed);
        self.push_pending(id);
        Ok(id)
    }

    fn push_pending(&self, id: RequestId) {
        let sh = &*self.shared;
        let auto = {
            let mut pending = lock(&sh.pending);
            if pending.push(id).is_err() {
                pending.retain(|p| sh.table.get(p).is_some_and(|w| w.state() == State::Pending));
                let pushed = pending.push(id);
                debug_assert!(pushed.is_ok(), "pending ring over capacity");
            }
            pending.len() >= sh.capacity / 2
        };
        if auto {
            self.submit();
        }
    }

    /// [`Queue::enqueue`] that waits for a free slot when the queue is full
    /// (as DirectStorage's EnqueueRequest blocks), submitting pending work so
    /// slots can free up. `timeout` None waits forever. Requests whose
    /// completions are kept (no callback, not detached) hold their slot until
    /// collected, so collect them from another thread or this can wait for
    /// ever.
    pub fn enqueue_blocking(
        &self,
        request: Request,
        timeout: Option<Duration>,
    ) -> Result<RequestId, Rejected> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut request = request;
        loop {
            match self.enqueue(request) {
                Err(Rejected {
                    error: EnqueueError::QueueFull { .. },
                    request: back,
                }) => {
                    request = *back;
                    if in_callback() {
                        return Err(Rejected {
                            error: EnqueueError::QueueFull {
                                capacity: self.shared.capacity,
                            },
                            request: Box::new(request),
                        });
                    }
                    self.submit();
                    let sh = &self.shared;
                    // Sleep until a batch of slots is free; after 1 ms take
                    // any free slot (slots held by uncollected completions
                    // may keep the count below the batch).
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return Err(Rejected {
                            error: EnqueueError::Timeout,
                            request: Box::new(request),
                        });
                    }
                    let nap = now + Duration::from_millis(1);
                    let until = deadline.map_or(nap, |d| d.min(nap));
                    sh.freed.wait_until(Some(until), || {
                        sh.table.free_slots() >= sh.wake_threshold()
                            || sh.closing.load(Ordering::Acquire)
                    });
                }
                other => return other,
            }
        }
    }

    fn enqueue_order(&self, cmd: OrderCmd) -> Result<RequestId, EnqueueError> {
        let sh = &*self.shared;
        if sh.closing.load(Ordering::Acquire) {
            return Err(EnqueueError::ShutDown);
        }
        let mut cmd = Some(cmd);
        let id = sh
            .table
            .alloc_with(0, true, |id| {
                let cmd = cmd.take().expect("command moved once");
                lock(&sh.order).close(id, cmd);
            })
            .map_err(|full| EnqueueError::QueueFull {
                capacity: full.capacity,
            })?;
        self.push_pending(id);
        Ok(id)
    }

    /// Enqueues a status write (DirectStorage's EnqueueStatus): entry
    /// `index` becomes Complete, or Failed with the first failure in enqueue
    /// order since the previous status entry of this queue, once every
    /// request enqueued before it has ended. Takes a slot until then.
    pub fn enqueue_status(&self, array: &StatusArray, index: usize) -> Result<(), EnqueueError> {
        if index >= array.len() {
            return Err(EnqueueError::StatusIndex {
                index,
                len: array.len(),
            });
        }
        array.mark_pending(index);
        self.enqueue_order(OrderCmd::Status(array.clone(), index))
            .map(drop)
    }

    /// Enqueues a fence signal (DirectStorage's EnqueueSignal): `fence` is
    /// set to `value` once every request enqueued before it has ended.
    pub fn enqueue_signal(&self, fence: &Fence, value: u64) -> Result<(), EnqueueError> {
        self.enqueue_order(OrderCmd::Signal(fence.clone(), value))
            .map(drop)
    }

    /// Enqueues a callback run once every request enqueued before it has
    /// ended (DirectStorage's EnqueueSetEvent maps onto it).
    pub fn enqueue_marker(
        &self,
        callback: impl FnOnce() + Send + 'static,
    ) -> Result<(), EnqueueError> {
        self.enqueue_order(OrderCmd::Marker(Box::new(callback)))
            .map(drop)
    }

    /// Submits everything enqueued so far.
    pub fn submit(&self) {
        if self.shared.submit() {
            self.shared.retire();
        }
    }

    /// Current status of a request; `None` when the id is unknown or its
    /// slot was already released (collected, or ended with a callback or
    /// detached).
    pub fn poll(&self, id: RequestId) -> Option<Status> {
        self.shared
            .table
            .get(id)
            .filter(|w| !w.is_marker())?
            .status()
    }

    /// Takes the completion of a finished request that keeps it; frees
    /// its slot. `None` if it has not finished or is not such a request.
    pub fn take(&self, id: RequestId) -> Option<Completion> {
        let sh = &*self.shared;
        let w = sh.table.get(id)?;
        if !w.finalized() || w.is_marker() {
            return None;
        }
        let done = lock(sh.slot(id)).done.take()?;
        let released = sh.table.release(id);
        debug_assert!(released.is_ok());
        sh.slot_freed();
        Some(done)
    }

    /// Waits for a request that keeps its completion (no callback, not
    /// detached), and takes it. Submits pending work first. Refused inside
    /// callbacks.
    pub fn wait(&self, id: RequestId, timeout: Option<Duration>) -> Result<Completion, WaitError> {
        if in_callback() {
            return Err(WaitError::InCallback);
        }
        let sh = &*self.shared;
        let collect = sh.table.cell(id).is_some_and(|_| {
            sh.meta[id.index() as usize].load(Ordering::Relaxed) & META_COLLECT != 0
        });
        if !collect || self.poll(id).is_none() {
            return Err(WaitError::Unknown(id));
        }
        self.submit();
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let ready = sh
                .ended
                .wait_until(deadline, || sh.table.get(id).is_none_or(|w| w.finalized()));
            if !ready {
                return Err(WaitError::Timeout);
            }
            match self.take(id) {
                Some(c) => return Ok(c),
                // Another thread collected it.
                None if sh.table.get(id).is_none() => return Err(WaitError::Unknown(id)),
                None => {}
            }
        }
    }

    /// Submits, then waits until every request enqueued before this call has
    /// ended (completion, failure or cancellation). Refused inside callbacks.
    pub fn wait_all(&self, timeout: Option<Duration>) -> Result<(), WaitError> {
        if in_callback() {
            return Err(WaitError::InCallback);
        }
        self.submit();
        let sh = &*self.shared;
        let target = lock(&sh.order).current_epoch();
        let deadline = timeout.map(|t| Instant::now() + t);
        if sh
            .drained
            .wait_until(deadline, || lock(&sh.order).drained_through(target))
        {
            Ok(())
        } else {
            Err(WaitError::Timeout)
        }
    }

    /// Strong cancel: true only if the request will never complete and its
    /// destination is not written after this returns. Pending and submitted
    /// requests are cancelled at once; one that is writing its destination
    /// is waited for (one read / copy / decode into it). Inside a completion
    /// callback the wait would risk a deadlock, so there a request that is
    /// writing is left alone (false). False for finished or unknown ids.
    pub fn cancel_request(&self, id: RequestId) -> bool {
        self.shared.cancel_ids(&[id], CancelScope::All) == 1
    }

    /// Weak cancel: true if the request was live; it may still complete
    /// (if it was writing its destination), but its callback is not run.
    /// Never waits.
    pub fn try_cancel(&self, id: RequestId) -> bool {
        let sh = &*self.shared;
        match sh.table.try_cancel(id) {
            WeakCancel::Cancelled(State::Pending | State::Submitted) => {
                sh.finish_unstarted(id);
                true
            }
            WeakCancel::Cancelled(_) | WeakCancel::CallbackSuppressed => true,
            WeakCancel::NotLive => false,
        }
    }

    /// Strong cancel of every live request with `tag & mask == value`.
    /// Returns how many were cancelled.
    pub fn cancel_by_tag(&self, mask: u64, value: u64) -> usize {
        let ids = self.shared.tagged(mask, value);
        self.shared.cancel_ids(&ids, CancelScope::All)
    }

    /// Weak cancel of every live request with `tag & mask == value`
    /// (DirectStorage's CancelRequestsWithTag). Returns how many were live.
    pub fn try_cancel_by_tag(&self, mask: u64, value: u64) -> usize {
        let ids = self.shared.tagged(mask, value);
        ids.into_iter().filter(|&id| self.try_cancel(id)).count()
    }

    /// Cancels every request no executor has started yet.
    pub fn cancel_all_pending(&self) -> usize {
        let ids = self.shared.tagged(0, 0);
        self.shared.cancel_ids(&ids, CancelScope::NotStarted)
    }

    /// Strong cancel of every live request, in flight too.
    pub fn cancel_all(&self) -> usize {
        self.cancel_by_tag(0, 0)
    }

    /// Statistics.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Takes the error record: failures since the last call, and the first
    /// in enqueue order (DirectStorage's RetrieveErrorRecord).
    pub fn retrieve_error_record(&self) -> ErrorRecord {
        lock(&self.shared.order).take_errors()
    }

    /// Capacity, free slots, auto-submit distance.
    pub fn info(&self) -> QueueInfo {
        let sh = &*self.shared;
        let pending = lock(&sh.pending).len();
        QueueInfo {
            name: sh.name.clone(),
            capacity: sh.capacity,
            empty_slots: sh.table.free_slots(),
            until_auto_submit: (sh.capacity / 2).saturating_sub(pending),
            executors: sh.routes.iter().map(|r| r.executor).collect(),
        }
    }

    /// Cancels everything, stops the executors and joins their threads.
    /// Ordering commands still waiting are completed (their requests all
    /// ended). Kept completions stay collectable; further enqueues fail with
    /// `ShutDown`. Called by `Drop`; idempotent.
    pub fn shutdown(&self) {
        let sh = &*self.shared;
        if sh.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        self.cancel_all();
        lock(&sh.sched).closed = true;
        for (route, cv) in sh.route_cv.iter().enumerate() {
            cv.notify_all();
            if let Some(wake) = sh.hooks[route].get().and_then(|h| h.wake.as_ref()) {
                wake();
            }
            if let Some(wake) = sh.sleeper_wakers[route].get() {
                wake(usize::MAX);
            }
        }
        let drivers = std::mem::take(&mut *lock(&self.drivers));
        for mut d in drivers {
            d.stop();
        }
        // Requests enqueued while shutdown began, and jobs left on ready
        // lists, are cancelled now that no executor runs.
        self.cancel_all();
        self.submit();
        sh.notify_all_waiters();
        log::debug!("queue '{}' shut down: {:?}", sh.name, self.stats());
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.shutdown();
    }
}
