//! The executor interface: how I/O drivers (pread here; io_uring and cuFile
//! next) and the GPU executor plug into a [`crate::Queue`].
//!
//! A queue routes each request by destination kind to the one executor that
//! serves it ([`Driver::destinations`]). An executor pulls started requests
//! ([`Job`]s) from its [`JobFeed`], and for each one:
//!
//! 1. checks cancellation before doing I/O ([`Job::is_cancelled`]; optional
//!    for reads into private staging memory);
//! 2. brackets every write of the destination (host memory, GPU buffer, or
//!    the file of a write request) with [`Job::begin_write`] /
//!    [`Job::end_write`]: `begin_write` fails if the request was cancelled,
//!    and a strong cancel that arrives during the bracket waits for
//!    `end_write` (the "writer active" bit), which then turns the request into
//!    Cancelled;
//! 3. publishes the result with [`Job::complete`] or [`Job::fail`], which
//!    check cancellation once more (the compare-and-swap decides);
//!    or hands a cancelled job back with [`Job::finish_cancelled`].
//!
//! A job dropped without a result fails with `ExecutorLost`, so every
//! request ends exactly once even if an executor panics. Executors must not
//! run user callbacks while they hold a writer bracket open on the same
//! thread (the queue runs callbacks inside `complete`/`fail`, after the
//! bracket is closed).

use crate::error::{RequestError, RequestErrorKind};
use crate::file::FileRef;
use crate::queue::Shared;
use crate::request::{DstStore, SrcStore};
use crate::request::{Outcome, Payload};
use ds_core::{DestinationKinds, RequestDesc, RequestId, State, TransitionError};
use std::fmt;
use std::sync::Arc;

/// An executor of requests. Built-in ones are chosen with
/// [`crate::Backend`]; others (the GPU executor) are added with
/// [`crate::QueueBuilder::executor`].
pub trait Driver: Send + 'static {
    /// Name for logs, errors and stats.
    fn name(&self) -> &'static str;
    /// Destination kinds this executor serves.
    fn destinations(&self) -> DestinationKinds;
    /// Starts executing jobs from `feed` (spawns threads, rings, ...).
    fn start(&mut self, feed: JobFeed) -> std::io::Result<()>;
    /// Stops: called after the feed is closed (its `next_batch` returns
    /// false); must finish or drop every job it holds and join its threads.
    fn stop(&mut self);
}

/// Optional hooks an executor registers on its feed.
#[derive(Default)]
pub struct FeedHooks {
    /// Called after new jobs were made available, for executors that sleep
    /// somewhere other than [`JobFeed::next_batch`] (e.g. in `io_uring_enter`
    /// on an eventfd).
    pub wake: Option<Box<dyn Fn() + Send + Sync>>,
    /// Called when a strong cancel waits for a request of this executor
    /// that is writing its destination, so it can abort the operation (e.g.
    /// `IORING_OP_ASYNC_CANCEL`), and when a strong cancel ended a started
    /// request that was not writing, so the executor can drop its private
    /// work early. The request still ends through its job.
    pub cancel: Option<Box<dyn Fn(RequestId) + Send + Sync>>,
}

impl fmt::Debug for FeedHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedHooks")
            .field("wake", &self.wake.is_some())
            .field("cancel", &self.cancel.is_some())
            .finish()
    }
}

/// An executor's source of jobs. Clone it for each worker thread: every
/// clone has its own handle on the queue, which the jobs taken through it
/// hold, so creating and dropping jobs only touches a reference count
/// private to that worker rather than one all cores write.
pub struct JobFeed {
    pub(crate) shared: Arc<FeedHandle>,
    pub(crate) route: usize,
}

impl Clone for JobFeed {
    fn clone(&self) -> Self {
        JobFeed {
            shared: Arc::new(FeedHandle(self.shared.0.clone())),
            route: self.route,
        }
    }
}

/// One feed clone's handle on the queue's shared state (see [`JobFeed`]).
pub(crate) struct FeedHandle(pub(crate) Arc<Shared>);

impl std::ops::Deref for FeedHandle {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl fmt::Debug for JobFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobFeed")
            .field("queue", &self.shared.name)
            .field("route", &self.route)
            .finish()
    }
}

impl JobFeed {
    /// Blocks until at least one job is available and moves up to `max`
    /// into `out` (most urgent priority first). Returns false once the queue
    /// is shut down and nothing is left for this executor.
    pub fn next_batch(&self, out: &mut Vec<Job>, max: usize) -> bool {
        self.shared
            .next_batch(&self.shared, self.route, out, max.max(1), true)
    }

    /// Non-blocking [`JobFeed::next_batch`]: returns how many jobs it added.
    pub fn try_next_batch(&self, out: &mut Vec<Job>, max: usize) -> usize {
        let before = out.len();
        self.shared
            .next_batch(&self.shared, self.route, out, max.max(1), false);
        out.len() - before
    }

    /// True once the queue is shutting down.
    pub fn is_closed(&self) -> bool {
        self.shared.feed_closed()
    }

    /// Registers hooks (once; later calls are ignored and return false).
    pub fn set_hooks(&self, hooks: FeedHooks) -> bool {
        self.shared.hooks[self.route].set(hooks).is_ok()
    }

    /// The queue's staging-buffer size (largest GDeflate request).
    pub fn staging_limit(&self) -> u64 {
        self.shared.staging_limit
    }

    /// Threads to use for CPU GDeflate decompression of one large request.
    pub fn decompress_threads(&self) -> usize {
        self.shared.decompress_threads
    }

    /// The queue's name.
    pub fn queue_name(&self) -> &str {
        &self.shared.name
    }

    /// Registers the waker of workers that sleep outside `next_batch` (the
    /// io_uring rings); see [`crate::queue::SleeperWaker`].
    pub(crate) fn set_sleeper_waker(&self, waker: crate::queue::SleeperWaker) -> bool {
        self.shared.sleeper_wakers[self.route].set(waker).is_ok()
    }

    /// Ready jobs of this route now, after a SeqCst fence. A worker about to
    /// sleep where only the sleeper waker reaches it announces that first,
    /// then calls this: either it sees the jobs, or the submitter (whose
    /// waker issues the matching fence before reading the announcements)
    /// sees it sleeping.
    pub(crate) fn ready_hint(&self) -> usize {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        self.shared.ready_now(self.route)
    }

    /// Marks the calling worker thread as finishing this route's requests
    /// (see [`crate::queue::LocalScope`]).
    pub(crate) fn local_scope(&self) -> crate::queue::LocalScope {
        crate::queue::LocalScope::new(&self.shared, self.route)
    }

    /// Wakes workers for ready jobs nobody is on the way to take.
    pub(crate) fn wake_for_ready(&self) {
        self.shared.wake_for_ready(self.route);
    }
}

/// A destination that is a GPU buffer range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuRange {
    /// Opaque buffer handle given at enqueue.
    pub buffer: u64,
    /// Offset in the buffer.
    pub offset: u64,
    /// Bytes available.
    pub size: u64,
}

/// Borrowed pieces of a job for executing it.
#[derive(Debug)]
pub struct IoParts<'a> {
    /// The request.
    pub desc: &'a RequestDesc,
    /// Its file (source of reads, destination of writes).
    pub file: Option<&'a FileRef>,
    /// Its memory source bytes.
    pub source: Option<&'a [u8]>,
    /// Its host-memory destination: present only inside a write bracket.
    pub destination: Option<&'a mut [u8]>,
}

/// One started request, owned by the executor until it reports a result.
pub struct Job {
    pub(crate) shared: Arc<FeedHandle>,
    pub(crate) id: RequestId,
    /// Boxed: a job moves through several hands (batch, ring table,
    /// completion), and a pointer moves cheaper than the payload.
    pub(crate) payload: Option<Box<Payload>>,
    pub(crate) writing: bool,
    pub(crate) executor: &'static str,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("writing", &self.writing)
            .field("desc", &self.payload.as_ref().map(|p| &p.desc))
            .finish()
    }
}

/// The request was cancelled: stop and call [`Job::finish_cancelled`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request was cancelled")
    }
}

impl std::error::Error for Cancelled {}

impl Job {
    fn payload(&self) -> &Payload {
        // Present from creation until a consuming method takes it.
        self.payload
            .as_ref()
            .expect("job payload present until finished")
    }

    /// The request's id.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// The request.
    pub fn desc(&self) -> &RequestDesc {
        &self.payload().desc
    }

    /// Its file, if any.
    pub fn file(&self) -> Option<&FileRef> {
        match (&self.payload().src, &self.payload().dst) {
            (SrcStore::File { file, .. }, _) | (_, DstStore::File { file, .. }) => Some(file),
            _ => None,
        }
    }

    /// Its GPU destination, if that is the kind.
    pub fn gpu_destination(&self) -> Option<GpuRange> {
        match self.payload().dst {
            DstStore::Gpu {
                buffer,
                offset,
                size,
            } => Some(GpuRange {
                buffer,
                offset,
                size,
            }),
            _ => None,
        }
    }

    /// True if the request was cancelled (or a strong cancel waits for it).
    pub fn is_cancelled(&self) -> bool {
        self.shared
            .table
            .get(self.id)
            .is_none_or(|w| w.state() == State::Cancelled || w.cancel_requested())
    }

    /// Opens the write bracket: from now until [`Job::end_write`] the
    /// executor may write the destination, and a strong cancel waits.
    pub fn begin_write(&mut self) -> Result<(), Cancelled> {
        if self.writing {
            return Ok(());
        }
        let cell = self.shared.cell(self.id);
        match cell.begin_write(self.id) {
            Ok(()) => {
                self.writing = true;
                Ok(())
            }
            Err(TransitionError::Cancelled) => Err(Cancelled),
            Err(e) => {
                debug_assert!(false, "begin_write of {}: {e}", self.id);
                Err(Cancelled)
            }
        }
    }

    /// Closes the write bracket. `Err(Cancelled)` means a strong cancel
    /// arrived meanwhile: the request is now Cancelled.
    pub fn end_write(&mut self) -> Result<(), Cancelled> {
        if !self.writing {
            return Ok(());
        }
        self.writing = false;
        let r = self.shared.cell(self.id).end_write(self.id);
        // A canceller may be waiting for this bracket to close.
        self.shared.ended.notify();
        match r {
            Ok(()) => Ok(()),
            Err(_) => Err(Cancelled),
        }
    }

    /// Split borrows for executing the job: description, file, memory
    /// source, and the host destination (only inside the write bracket).
    pub fn io_parts(&mut self) -> IoParts<'_> {
        let writing = self.writing;
        let Payload { desc, src, dst, .. } = self
            .payload
            .as_deref_mut()
            .expect("job payload present until finished");
        let (dst_file, destination) = match dst {
            DstStore::File { file, .. } => (Some(&*file), None),
            DstStore::Owned(v) if writing => (None, Some(&mut v[..])),
            DstStore::Raw(r) if writing => (None, Some(r.as_mut_slice())),
            _ => (None, None),
        };
        let (file, source) = match &*src {
            SrcStore::File { file, .. } => (Some(file), None),
            SrcStore::Shared(b) => (dst_file, Some(&b[..])),
            SrcStore::Raw(r) => (dst_file, Some(r.as_slice())),
        };
        IoParts {
            desc,
            file,
            source,
            destination,
        }
    }

    /// The request succeeded; `bytes` landed in the destination. Closes an
    /// open write bracket first. If a cancel won the race, the request ends
    /// Cancelled instead (and its callback is not run).
    pub fn complete(mut self, bytes: u64) {
        if self.end_write().is_err() {
            return self.finish_cancelled();
        }
        let payload = self
            .payload
            .take()
            .expect("job payload present until finished");
        match self.shared.cell(self.id).complete(self.id) {
            Ok(_) => self
                .shared
                .finish(self.id, payload, Outcome::Complete { bytes }),
            Err(_) => self.shared.finish(self.id, payload, Outcome::Cancelled),
        }
    }

    /// The request failed. Closes an open write bracket first. If a cancel
    /// won the race, the request ends Cancelled instead.
    pub fn fail(mut self, kind: RequestErrorKind) {
        if self.end_write().is_err() {
            return self.finish_cancelled();
        }
        let payload = self
            .payload
            .take()
            .expect("job payload present until finished");
        let error = error_for(self.id, &payload, kind);
        match self.shared.cell(self.id).fail(self.id, error.code()) {
            Ok(_) => self.shared.finish(self.id, payload, Outcome::Failed(error)),
            Err(_) => self.shared.finish(self.id, payload, Outcome::Cancelled),
        }
    }

    /// Ends a job whose `begin_write` / `end_write` reported [`Cancelled`]
    /// (or that [`Job::is_cancelled`] and never wrote). If the request was in
    /// fact not cancelled, it fails with `ExecutorLost` rather than hang.
    pub fn finish_cancelled(mut self) {
        self.finish_abandoned();
    }

    fn finish_abandoned(&mut self) {
        let Some(payload) = self.payload.take() else {
            return;
        };
        if self.writing {
            self.writing = false;
            let _ = self.shared.cell(self.id).end_write(self.id);
            self.shared.ended.notify();
        }
        let cell = self.shared.cell(self.id);
        // A request that was started but not cancelled yet: cancel it if it
        // was asked for (CR), else it was abandoned by the executor.
        if cell.load().state() != State::Cancelled {
            let error = error_for(
                self.id,
                &payload,
                RequestErrorKind::ExecutorLost {
                    executor: self.executor,
                },
            );
            if cell.fail(self.id, error.code()).is_ok() {
                log::error!("{error}");
                return self.shared.finish(self.id, payload, Outcome::Failed(error));
            }
        }
        self.shared.finish(self.id, payload, Outcome::Cancelled);
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.finish_abandoned();
    }
}

/// The full error of a request from its payload's context.
pub(crate) fn error_for(id: RequestId, p: &Payload, kind: RequestErrorKind) -> RequestError {
    let (file, offset) = match (&p.src, &p.dst) {
        (SrcStore::File { file, offset, .. }, _) | (_, DstStore::File { file, offset }) => {
            (Some(crate::error::FileLabel::of(file)), *offset)
        }
        _ => (None, 0),
    };
    RequestError {
        id,
        name: p.desc.name.clone(),
        file,
        offset,
        size: p.desc.source.size(),
        kind,
    }
}
