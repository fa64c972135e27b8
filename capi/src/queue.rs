//! `ds_queue`: the request queue (DirectStorage's `IDStorageQueue`) —
//! create from a backend, enqueue, submit, wait, poll, cancel (strong and
//! weak, by id, by tag, all pending, all), ordering commands (status
//! entries, fence signals, markers), the error record, queue info, stats and
//! compression support. Every call is thread-safe.

#![allow(unsafe_code)]

use crate::backend::{ds_backend, GpuKind, BACKENDS};
use crate::ffi::{
    c_str, fill_chars, guard, in_callback, read_versioned, OptOut, Out, Versioned, VersionedOut,
};
use crate::handle::Registry;
use crate::order::{ds_fence, ds_status_array, FENCES, STATUS_ARRAYS};
use crate::request::{
    build, completion, ds_completion, ds_completion_fn, ds_error_info, ds_failure_fn, ds_notify_fn,
    ds_request, Defaults, SharedCallback, DS_NAME_CAPACITY,
};
use crate::result::{
    ds_result, Error, DS_ERR_BAD_FD, DS_ERR_CORRUPT, DS_ERR_END_OF_FILE, DS_ERR_EXECUTOR_LOST,
    DS_ERR_IN_CALLBACK, DS_ERR_IO, DS_ERR_NO_EXECUTOR, DS_ERR_SIZE_MISMATCH, DS_ERR_TOO_LARGE,
    DS_ERR_UNSUPPORTED, DS_OK,
};
use crate::vulkan::GpuBackend;
use ds_core::{FailKind, Priority, RequestId, Status};
use ds_os_linux::{Queue, QueueBuilder, Request};
use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

/// A request queue (opaque).
#[derive(Debug)]
pub struct ds_queue {
    _opaque: [u8; 0],
}

/// A timeout that never expires.
pub const DS_INFINITE: u64 = 0xFFFF_FFFF_FFFF_FFFF;

/// Smallest queue capacity.
pub const DS_MIN_QUEUE_CAPACITY: u32 = 128;
/// Largest queue capacity.
pub const DS_MAX_QUEUE_CAPACITY: u32 = 8192;

pub(crate) struct QueueObj {
    queue: Queue,
    priority: Priority,
    on_complete: Option<SharedCallback>,
    gpu: Option<QueueGpu>,
    staging: u64,
}

/// The queue's GPU-buffer executor, as far as the queue's calls need it.
enum QueueGpu {
    Vulkan {
        backend: Arc<GpuBackend>,
        buffers: ds_gpu::executor::BufferRegistry,
    },
    CuFile(ds_os_linux::cufile::GpuBuffers),
}

pub(crate) static QUEUES: Registry<QueueObj> = Registry::new("ds_queue");

fn queue(q: *mut ds_queue) -> Result<Arc<QueueObj>, Error> {
    QUEUES.get(q, "queue")
}

/// Blocking calls are refused inside callbacks: they could wait for the
/// thread running the callback.
fn refuse_in_callback(what: &str) -> Result<(), Error> {
    if in_callback() {
        return Err(Error::new(
            DS_ERR_IN_CALLBACK,
            format!("{what} would block inside a callback (possibly the thread it waits for)"),
        ));
    }
    Ok(())
}

fn timeout(ns: u64) -> Option<Duration> {
    (ns != DS_INFINITE).then(|| Duration::from_nanos(ns))
}

/// Settings of a queue. Zero fields take the defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ds_queue_config {
    /// `sizeof(ds_queue_config)`.
    pub struct_size: u32,
    /// Slots shared by requests and ordering commands, 128..=8192 (0: 1024).
    pub capacity: u32,
    /// `DS_PRIORITY_*` of the queue's requests.
    pub priority: i32,
    /// Threads decompressing one large GDeflate request on the CPU (0: one
    /// per core).
    pub decompress_threads: u32,
    /// Reserved, 0.
    pub flags: u32,
    /// Reserved, 0.
    pub reserved: u32,
    /// Largest GDeflate request, compressed or not (0: 32 MiB).
    pub staging_buffer_size: u64,
    /// NULL or a NUL-terminated UTF-8 name for logs (copied).
    pub name: *const c_char,
    /// Completion callback of requests that carry none and are not kept.
    pub on_complete: ds_completion_fn,
    /// Passed to `on_complete`; must stay valid until `ds_queue_release`.
    pub on_complete_user_data: *mut c_void,
    /// Called for every failed request (DirectStorage's error event).
    pub on_failure: ds_failure_fn,
    /// Passed to `on_failure`; must stay valid until `ds_queue_release`.
    pub on_failure_user_data: *mut c_void,
}

// SAFETY: repr(C), starts with the u32 size, integers, raw pointers and
// optional function pointers only.
unsafe impl Versioned for ds_queue_config {
    const V1_SIZE: usize = std::mem::size_of::<ds_queue_config>();
    const NAME: &'static str = "ds_queue_config";
}

/// A queue's failure hook with its user data.
#[derive(Clone, Copy)]
struct FailureHook {
    f: unsafe extern "C" fn(*const ds_error_info, *mut c_void),
    user: *mut c_void,
}

impl FailureHook {
    fn call(&self, e: &ds_os_linux::RequestError) {
        let info = ds_error_info::of(e);
        let _scope = crate::ffi::CallbackScope::enter();
        // SAFETY: registered for this use; `info` lives across the call.
        unsafe { (self.f)(&info, self.user) };
    }
}

// SAFETY: ABI rule: callbacks and user data may be used from any thread.
unsafe impl Send for FailureHook {}
// SAFETY: as Send; only called.
unsafe impl Sync for FailureHook {}

/// Creates a queue whose requests run on `backend`'s executors. `config`
/// NULL takes every default. On success `*out_queue` is a new handle, to
/// release with `ds_queue_release`.
///
/// # Safety
/// `config`: NULL or valid for reads of its `struct_size`, with its `name`
/// NULL or NUL-terminated; `out_queue`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_create(
    backend: *mut ds_backend,
    config: *const ds_queue_config,
    out_queue: *mut *mut ds_queue,
) -> ds_result {
    guard("ds_queue_create", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_queue, "out_queue") }?;
        let b = BACKENDS.get(backend, "backend")?;
        let c = if config.is_null() {
            // SAFETY: all-zero is the documented default configuration.
            let mut z: ds_queue_config = unsafe { std::mem::zeroed() };
            z.struct_size = std::mem::size_of::<ds_queue_config>() as u32;
            z
        } else {
            // SAFETY: caller contract.
            unsafe { read_versioned(config) }?
        };
        if c.flags != 0 || c.reserved != 0 {
            return Err(Error::invalid(
                "ds_queue_config.flags and .reserved must be 0",
            ));
        }
        let priority = i8::try_from(c.priority)
            .ok()
            .and_then(Priority::from_i8)
            .ok_or_else(|| Error::invalid(format!("unknown queue priority {}", c.priority)))?;
        let mut builder = QueueBuilder::new().backend(b.io.clone());
        if c.capacity != 0 {
            builder = builder.capacity(c.capacity as usize);
        }
        if c.decompress_threads != 0 {
            builder = builder.decompress_threads(c.decompress_threads as usize);
        }
        let staging = if c.staging_buffer_size != 0 {
            c.staging_buffer_size
        } else {
            ds_os_linux::queue::DEFAULT_STAGING_LIMIT
        };
        builder = builder.staging_limit(staging);
        // SAFETY: caller contract for `name`.
        if let Some(name) = unsafe { c_str(c.name, "ds_queue_config.name") }? {
            builder = builder.name(name);
        }
        if let Some(f) = c.on_failure {
            let hook = FailureHook {
                f,
                user: c.on_failure_user_data,
            };
            builder = builder.on_failure(move |e| hook.call(e));
        }
        let gpu = match &b.gpu {
            None => None,
            Some(GpuKind::Vulkan(backend)) => {
                let (executor, buffers) = backend.executor(staging)?;
                builder = builder.executor(executor);
                Some(QueueGpu::Vulkan {
                    backend: backend.clone(),
                    buffers,
                })
            }
            Some(GpuKind::CuFile(cfg)) => {
                let driver = crate::cufile::driver(cfg)?;
                let buffers = driver.buffers();
                builder = builder.executor(Box::new(driver));
                Some(QueueGpu::CuFile(buffers))
            }
        };
        let queue = builder.build().map_err(|e| Error::build(&e))?;
        let obj = QueueObj {
            queue,
            priority,
            on_complete: c.on_complete.map(|f| SharedCallback {
                f,
                user: c.on_complete_user_data,
            }),
            gpu,
            staging,
        };
        out.write(QUEUES.insert(obj));
        Ok(())
    })
}

/// Shuts the queue down and releases the handle: every request still live
/// is cancelled (strongly: no destination is written after this returns),
/// executors stop, waiting ordering commands complete; after it returns no
/// callback of this queue runs again. Not allowed inside a callback
/// (`DS_ERR_IN_CALLBACK`). A second release gives `DS_ERR_BAD_HANDLE`.
///
/// # Safety
/// None beyond passing a handle value (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_queue_release(queue: *mut ds_queue) -> ds_result {
    guard("ds_queue_release", || {
        refuse_in_callback("ds_queue_release")?;
        let q = QUEUES.remove(queue, "queue")?;
        // Calls still running on other threads may hold the object; shut
        // down now so no callback runs after this returns.
        q.queue.shutdown();
        Ok(())
    })
}

fn enqueue_with(
    q: &QueueObj,
    request: *const ds_request,
    out_id: *mut u64,
    enqueue: impl FnOnce(&Queue, Request) -> Result<RequestId, ds_os_linux::Rejected>,
) -> Result<(), Error> {
    // SAFETY: export contract: NULL or valid for a write.
    let out = unsafe { OptOut::new(out_id) };
    // SAFETY: export contract: NULL or a valid ds_request.
    let r = unsafe { read_versioned(request) }?;
    let defaults = Defaults {
        priority: q.priority,
        on_complete: q.on_complete.as_ref(),
    };
    // SAFETY: export contract: the request's pointers follow its contract.
    let (req, refused) = unsafe { build(&r, &defaults) }?;
    match enqueue(&q.queue, req) {
        Ok(id) => {
            out.write(id.to_raw());
            Ok(())
        }
        Err(rejected) => {
            refused.set();
            let e = Error::enqueue(&rejected.error);
            drop(rejected);
            Err(e)
        }
    }
}

/// Enqueues a request; never blocks (`DS_ERR_QUEUE_FULL` when no slot is
/// free). On success `*out_id` (when not NULL) is the request's id, never 0.
/// A refused request changes nothing: its callback and `release_user_data`
/// are not called. Unsubmitted work is submitted automatically once half the
/// queue holds it.
///
/// # Safety
/// `request`: NULL or a valid `ds_request` whose pointers follow its field
/// contracts; `out_id`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_enqueue(
    queue: *mut ds_queue,
    request: *const ds_request,
    out_id: *mut u64,
) -> ds_result {
    guard("ds_queue_enqueue", || {
        let q = self::queue(queue)?;
        enqueue_with(&q, request, out_id, |queue, r| queue.enqueue(r))
    })
}

/// `ds_queue_enqueue` that waits up to `timeout_ns` (`DS_INFINITE`: forever)
/// for a free slot when the queue is full, submitting pending work
/// meanwhile (DirectStorage's blocking EnqueueRequest). Requests that keep
/// their completion hold slots until collected. Inside a callback it does
/// not wait (`DS_ERR_QUEUE_FULL`).
///
/// # Safety
/// As `ds_queue_enqueue`.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_enqueue_wait(
    queue: *mut ds_queue,
    request: *const ds_request,
    timeout_ns: u64,
    out_id: *mut u64,
) -> ds_result {
    guard("ds_queue_enqueue_wait", || {
        let q = self::queue(queue)?;
        // Inside any callback of this library (the log callback included,
        // which the runtime does not see as one) waiting could block the
        // very thread that frees slots.
        let blocking = !in_callback();
        enqueue_with(&q, request, out_id, |queue, r| {
            if blocking {
                queue.enqueue_blocking(r, timeout(timeout_ns))
            } else {
                queue.enqueue(r)
            }
        })
    })
}

/// Submits everything enqueued so far. May run ordering commands whose
/// requests already ended (status entries, fences, markers) on this thread.
///
/// # Safety
/// None beyond passing a handle value (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_queue_submit_all(queue: *mut ds_queue) -> ds_result {
    guard("ds_queue_submit_all", || {
        self::queue(queue)?.queue.submit();
        Ok(())
    })
}

/// Submits, then waits until every request enqueued before the call ended
/// (completed, failed or cancelled) and their callbacks returned, or
/// `timeout_ns` passed (`DS_ERR_TIMEOUT`). Not inside callbacks.
///
/// # Safety
/// None beyond passing a handle value (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_queue_wait_all(queue: *mut ds_queue, timeout_ns: u64) -> ds_result {
    guard("ds_queue_wait_all", || {
        refuse_in_callback("ds_queue_wait_all")?;
        let q = self::queue(queue)?;
        q.queue
            .wait_all(timeout(timeout_ns))
            .map_err(|e| Error::wait(&e))
    })
}

/// Waits for a request enqueued with `DS_REQUEST_KEEP_COMPLETION` and
/// collects its completion into `*out_completion` (freeing its slot). The
/// call succeeds whatever the request's outcome; `out_completion->result`
/// tells it (`DS_ERR_CANCELLED` for a cancelled request; for a failure the
/// full text is the thread's last error message). Not inside callbacks.
///
/// # Safety
/// `out_completion`: NULL or valid for reads and writes of its
/// `struct_size`.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_wait(
    queue: *mut ds_queue,
    id: u64,
    timeout_ns: u64,
    out_completion: *mut ds_completion,
) -> ds_result {
    guard("ds_queue_wait", || {
        refuse_in_callback("ds_queue_wait")?;
        // SAFETY: caller contract.
        let out = unsafe { VersionedOut::new(out_completion) }?;
        let q = self::queue(queue)?;
        let done = q
            .queue
            .wait(RequestId::from_raw(id), timeout(timeout_ns))
            .map_err(|e| Error::wait(&e))?;
        let (c, err) = completion(&done);
        if let Some(e) = err {
            crate::ffi::set_last_error(&e);
        }
        out.write(c);
        Ok(())
    })
}

/// `ds_queue_poll` states.
pub const DS_REQUEST_UNKNOWN: i32 = 0;
/// Enqueued, not submitted.
pub const DS_REQUEST_PENDING: i32 = 1;
/// Submitted, waiting for an executor.
pub const DS_REQUEST_SUBMITTED: i32 = 2;
/// Being executed.
pub const DS_REQUEST_IN_FLIGHT: i32 = 3;
/// Completed (kept completion not collected yet).
pub const DS_REQUEST_COMPLETE: i32 = 4;
/// Failed (kept completion not collected yet).
pub const DS_REQUEST_FAILED: i32 = 5;
/// Cancelled (kept completion not collected yet).
pub const DS_REQUEST_CANCELLED: i32 = 6;

fn fail_result(kind: FailKind) -> ds_result {
    match kind {
        FailKind::Io | FailKind::Other => DS_ERR_IO,
        FailKind::EndOfFile => DS_ERR_END_OF_FILE,
        FailKind::BadHandle => DS_ERR_BAD_FD,
        FailKind::Corrupt => DS_ERR_CORRUPT,
        FailKind::SizeMismatch => DS_ERR_SIZE_MISMATCH,
        FailKind::NoExecutor => DS_ERR_NO_EXECUTOR,
        FailKind::ExecutorLost => DS_ERR_EXECUTOR_LOST,
        FailKind::TooLarge => DS_ERR_TOO_LARGE,
        FailKind::Unsupported => DS_ERR_UNSUPPORTED,
    }
}

/// The current state of a request (`DS_REQUEST_*`): `DS_REQUEST_UNKNOWN`
/// once a request ended and its slot was released (callback run, detached,
/// or completion collected) or for ids never issued. `*out_result` (may be
/// NULL) gets the failure category for `DS_REQUEST_FAILED`, else `DS_OK`.
///
/// # Safety
/// `out_state`: NULL or valid for a write; `out_result`: NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_poll(
    queue: *mut ds_queue,
    id: u64,
    out_state: *mut i32,
    out_result: *mut ds_result,
) -> ds_result {
    guard("ds_queue_poll", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_state, "out_state") }?;
        // SAFETY: caller contract.
        let out_result = unsafe { OptOut::new(out_result) };
        let q = self::queue(queue)?;
        let (state, result) = match q.queue.poll(RequestId::from_raw(id)) {
            None => (DS_REQUEST_UNKNOWN, DS_OK),
            Some(Status::Pending) => (DS_REQUEST_PENDING, DS_OK),
            Some(Status::Submitted) => (DS_REQUEST_SUBMITTED, DS_OK),
            Some(Status::InFlight) => (DS_REQUEST_IN_FLIGHT, DS_OK),
            Some(Status::Complete) => (DS_REQUEST_COMPLETE, DS_OK),
            Some(Status::Failed(code)) => (DS_REQUEST_FAILED, fail_result(code.kind)),
            Some(Status::Cancelled) => (DS_REQUEST_CANCELLED, DS_OK),
        };
        out.write(state);
        out_result.write(result);
        Ok(())
    })
}

/// Strong cancel: `*out_cancelled` (may be NULL) becomes 1 only if the
/// request will never complete and its destination is not written after
/// this returns (from then on its memory is the caller's again); 0 for
/// finished, unknown or reused ids. May wait for one write into the
/// destination in progress; inside a callback it does not wait and leaves
/// such a request alone (0).
///
/// # Safety
/// `out_cancelled`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_cancel(
    queue: *mut ds_queue,
    id: u64,
    out_cancelled: *mut u32,
) -> ds_result {
    guard("ds_queue_cancel", || {
        // SAFETY: caller contract.
        let out = unsafe { OptOut::new(out_cancelled) };
        let q = self::queue(queue)?;
        out.write(u32::from(q.queue.cancel_request(RequestId::from_raw(id))));
        Ok(())
    })
}

/// Weak cancel: `*out_cancelled` (may be NULL) becomes 1 if the request was
/// live; it may still complete (its destination may still be written until
/// it ends), but its callback will not run. Never waits.
///
/// # Safety
/// `out_cancelled`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_try_cancel(
    queue: *mut ds_queue,
    id: u64,
    out_cancelled: *mut u32,
) -> ds_result {
    guard("ds_queue_try_cancel", || {
        // SAFETY: caller contract.
        let out = unsafe { OptOut::new(out_cancelled) };
        let q = self::queue(queue)?;
        out.write(u32::from(q.queue.try_cancel(RequestId::from_raw(id))));
        Ok(())
    })
}

fn count_out(out: *mut u64, f: impl FnOnce() -> usize) {
    // SAFETY: export contract of every caller: NULL or valid for a write.
    let out = unsafe { OptOut::new(out) };
    out.write(f() as u64);
}

/// Strong cancel of every live request with `tag & mask == value`;
/// `*out_count` (may be NULL) is how many will never complete.
///
/// # Safety
/// `out_count`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_cancel_by_tag(
    queue: *mut ds_queue,
    mask: u64,
    value: u64,
    out_count: *mut u64,
) -> ds_result {
    guard("ds_queue_cancel_by_tag", || {
        let q = self::queue(queue)?;
        count_out(out_count, || q.queue.cancel_by_tag(mask, value));
        Ok(())
    })
}

/// Weak cancel of every live request with `tag & mask == value`
/// (DirectStorage's CancelRequestsWithTag); `*out_count` (may be NULL) is
/// how many were live.
///
/// # Safety
/// `out_count`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_try_cancel_by_tag(
    queue: *mut ds_queue,
    mask: u64,
    value: u64,
    out_count: *mut u64,
) -> ds_result {
    guard("ds_queue_try_cancel_by_tag", || {
        let q = self::queue(queue)?;
        count_out(out_count, || q.queue.try_cancel_by_tag(mask, value));
        Ok(())
    })
}

/// Cancels every request no executor has started; `*out_count` (may be
/// NULL) is how many.
///
/// # Safety
/// `out_count`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_cancel_all_pending(
    queue: *mut ds_queue,
    out_count: *mut u64,
) -> ds_result {
    guard("ds_queue_cancel_all_pending", || {
        let q = self::queue(queue)?;
        count_out(out_count, || q.queue.cancel_all_pending());
        Ok(())
    })
}

/// Strong cancel of every live request, in flight too; `*out_count` (may be
/// NULL) is how many will never complete.
///
/// # Safety
/// `out_count`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_cancel_all(
    queue: *mut ds_queue,
    out_count: *mut u64,
) -> ds_result {
    guard("ds_queue_cancel_all", || {
        let q = self::queue(queue)?;
        count_out(out_count, || q.queue.cancel_all());
        Ok(())
    })
}

/// Enqueues a status write (EnqueueStatus): entry `index` of `array` becomes
/// complete, or failed with the first failure in enqueue order since the
/// previous status entry of this queue, once everything enqueued before it
/// ended. Takes a queue slot until then.
///
/// # Safety
/// None beyond passing handle values (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_queue_enqueue_status(
    queue: *mut ds_queue,
    array: *mut ds_status_array,
    index: u32,
) -> ds_result {
    guard("ds_queue_enqueue_status", || {
        let q = self::queue(queue)?;
        let a = STATUS_ARRAYS.get(array, "array")?;
        q.queue
            .enqueue_status(&a, index as usize)
            .map_err(|e| Error::enqueue(&e))
    })
}

/// Enqueues a fence signal (EnqueueSignal): `fence` is set to `value` (and
/// its callback run) once everything enqueued before it ended.
///
/// # Safety
/// None beyond passing handle values (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_queue_enqueue_signal(
    queue: *mut ds_queue,
    fence: *mut ds_fence,
    value: u64,
) -> ds_result {
    guard("ds_queue_enqueue_signal", || {
        let q = self::queue(queue)?;
        let f = FENCES.get(fence, "fence")?;
        if !f.has_callback() {
            return q
                .queue
                .enqueue_signal(&f.fence, value)
                .map_err(|e| Error::enqueue(&e));
        }
        q.queue
            .enqueue_marker(move || f.signal(value))
            .map_err(|e| Error::enqueue(&e))
    })
}

/// The marker callback with its user data.
struct Marker {
    f: unsafe extern "C" fn(*mut c_void),
    user: *mut c_void,
}

// SAFETY: ABI rule: callbacks and user data may be used from any thread.
unsafe impl Send for Marker {}

impl Marker {
    fn run(self) {
        let _scope = crate::ffi::CallbackScope::enter();
        // SAFETY: registered by the caller for this one call.
        unsafe { (self.f)(self.user) };
    }
}

/// Enqueues a callback (EnqueueSetEvent) run once everything enqueued
/// before it ended. It runs exactly once if this returns `DS_OK` (at the
/// latest during `ds_queue_release`); on failure never.
///
/// # Safety
/// `callback` must be safe to call from any thread with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_enqueue_marker(
    queue: *mut ds_queue,
    callback: ds_notify_fn,
    user_data: *mut c_void,
) -> ds_result {
    guard("ds_queue_enqueue_marker", || {
        let f = callback.ok_or_else(|| Error::null("callback"))?;
        let q = self::queue(queue)?;
        let m = Marker { f, user: user_data };
        q.queue
            .enqueue_marker(move || m.run())
            .map_err(|e| Error::enqueue(&e))
    })
}

/// The failures since the last retrieval (RetrieveErrorRecord).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ds_error_record {
    /// `sizeof(ds_error_record)`.
    pub struct_size: u32,
    /// Failed requests since the last retrieval.
    pub failure_count: u32,
    /// 1 when `first_failure` holds a failure.
    pub has_failure: u32,
    /// Reserved, 0.
    pub reserved: u32,
    /// The first failure in enqueue order.
    pub first_failure: ds_error_info,
}

// SAFETY: repr(C), starts with the u32 size, integers and a nested
// versioned struct of integers and char arrays.
unsafe impl Versioned for ds_error_record {
    const V1_SIZE: usize = std::mem::size_of::<ds_error_record>();
    const NAME: &'static str = "ds_error_record";
}

/// Takes the queue's error record: the failures since the last call and
/// the first in enqueue order; the record starts over.
///
/// # Safety
/// `out_record`: NULL or valid for reads and writes of its `struct_size`.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_retrieve_error_record(
    queue: *mut ds_queue,
    out_record: *mut ds_error_record,
) -> ds_result {
    guard("ds_queue_retrieve_error_record", || {
        // SAFETY: caller contract.
        let out = unsafe { VersionedOut::new(out_record) }?;
        let q = self::queue(queue)?;
        let rec = q.queue.retrieve_error_record();
        let first = rec.first_failure.as_ref();
        out.write(ds_error_record {
            struct_size: 0,
            failure_count: rec.failure_count,
            has_failure: u32::from(first.is_some()),
            reserved: 0,
            first_failure: first.map_or_else(ds_error_info::empty, ds_error_info::of),
        });
        Ok(())
    })
}

/// Queue properties and state (DirectStorage's Query).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ds_queue_info {
    /// `sizeof(ds_queue_info)`.
    pub struct_size: u32,
    /// Slots in all.
    pub capacity: u32,
    /// Free slots now.
    pub empty_slots: u32,
    /// Enqueues left before the automatic submit.
    pub requests_until_auto_submit: u32,
    /// The queue's `DS_PRIORITY_*`.
    pub priority: i32,
    /// Reserved, 0.
    pub reserved: u32,
    /// Largest GDeflate request.
    pub staging_buffer_size: u64,
    /// The queue's name (cut to fit).
    pub name: [c_char; DS_NAME_CAPACITY],
    /// Executors in routing order, comma-separated ("pread",
    /// "io_uring", "vulkan").
    pub executors: [c_char; DS_NAME_CAPACITY],
}

// SAFETY: repr(C), starts with the u32 size, integers and char arrays.
unsafe impl Versioned for ds_queue_info {
    const V1_SIZE: usize = std::mem::size_of::<ds_queue_info>();
    const NAME: &'static str = "ds_queue_info";
}

/// Fills `*out_info` (whose `struct_size` the caller sets).
///
/// # Safety
/// `out_info`: NULL or valid for reads and writes of its `struct_size`.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_query(
    queue: *mut ds_queue,
    out_info: *mut ds_queue_info,
) -> ds_result {
    guard("ds_queue_query", || {
        // SAFETY: caller contract.
        let out = unsafe { VersionedOut::new(out_info) }?;
        let q = self::queue(queue)?;
        let i = q.queue.info();
        let mut info = ds_queue_info {
            struct_size: 0,
            capacity: i.capacity as u32,
            empty_slots: i.empty_slots as u32,
            requests_until_auto_submit: i.until_auto_submit as u32,
            priority: i32::from(q.priority as i8),
            reserved: 0,
            staging_buffer_size: q.staging,
            name: [0; DS_NAME_CAPACITY],
            executors: [0; DS_NAME_CAPACITY],
        };
        fill_chars(&mut info.name, &i.name);
        fill_chars(&mut info.executors, &i.executors.join(","));
        out.write(info);
        Ok(())
    })
}

/// Queue statistics.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ds_stats {
    /// `sizeof(ds_stats)`.
    pub struct_size: u32,
    /// Reserved, 0.
    pub reserved: u32,
    /// Requests accepted.
    pub enqueued: u64,
    /// Requests completed successfully.
    pub completed: u64,
    /// Requests failed.
    pub failed: u64,
    /// Requests cancelled.
    pub cancelled: u64,
    /// Requests accepted and not ended yet.
    pub in_flight: u64,
    /// Bytes delivered by completed requests.
    pub bytes: u64,
    /// Median enqueue-to-end latency, nanoseconds.
    pub latency_p50_ns: u64,
    /// 99th percentile of the same.
    pub latency_p99_ns: u64,
}

// SAFETY: repr(C), starts with the u32 size, integers only.
unsafe impl Versioned for ds_stats {
    const V1_SIZE: usize = std::mem::size_of::<ds_stats>();
    const NAME: &'static str = "ds_stats";
}

/// Fills `*out_stats` (whose `struct_size` the caller sets).
///
/// # Safety
/// `out_stats`: NULL or valid for reads and writes of its `struct_size`.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_stats(
    queue: *mut ds_queue,
    out_stats: *mut ds_stats,
) -> ds_result {
    guard("ds_queue_stats", || {
        // SAFETY: caller contract.
        let out = unsafe { VersionedOut::new(out_stats) }?;
        let q = self::queue(queue)?;
        let s = q.queue.stats();
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        out.write(ds_stats {
            struct_size: 0,
            reserved: 0,
            enqueued: s.enqueued,
            completed: s.completed,
            failed: s.failed,
            cancelled: s.cancelled,
            in_flight: s
                .enqueued
                .saturating_sub(s.completed + s.failed + s.cancelled),
            bytes: s.bytes,
            latency_p50_ns: ns(s.latency_p50),
            latency_p99_ns: ns(s.latency_p99),
        });
        Ok(())
    })
}

/// `ds_queue_compression_support` flags (DirectStorage's numbers).
pub const DS_COMPRESSION_SUPPORT_GPU_OPTIMIZED: u32 = 0x1;
/// A GPU decoder that is not the vendor's optimized one.
pub const DS_COMPRESSION_SUPPORT_GPU_FALLBACK: u32 = 0x2;
/// Decompression on the CPU.
pub const DS_COMPRESSION_SUPPORT_CPU_FALLBACK: u32 = 0x4;
/// GPU work runs on a compute queue.
pub const DS_COMPRESSION_SUPPORT_USES_COMPUTE_QUEUE: u32 = 0x8;
/// GPU work runs on a copy queue.
pub const DS_COMPRESSION_SUPPORT_USES_COPY_QUEUE: u32 = 0x10;

/// How the queue decompresses `compression` (`DS_COMPRESSION_*`) for
/// GPU-buffer destinations, as DirectStorage's GetCompressionSupport
/// flags. Host-memory destinations always decompress on the CPU.
///
/// # Safety
/// `out_flags`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_compression_support(
    queue: *mut ds_queue,
    compression: u32,
    out_flags: *mut u32,
) -> ds_result {
    guard("ds_queue_compression_support", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_flags, "out_flags") }?;
        let q = self::queue(queue)?;
        let flags = match compression {
            crate::request::DS_COMPRESSION_NONE => 0,
            crate::request::DS_COMPRESSION_GDEFLATE => match &q.gpu {
                Some(QueueGpu::Vulkan { backend, .. }) => backend.compression_support(),
                Some(QueueGpu::CuFile(_)) | None => DS_COMPRESSION_SUPPORT_CPU_FALLBACK,
            },
            other => return Err(Error::invalid(format!("unknown compression {other}"))),
        };
        out.write(flags);
        Ok(())
    })
}

fn no_gpu() -> Error {
    Error::new(
        DS_ERR_NO_EXECUTOR,
        "no GPU backend on this queue (create it from ds_make_vulkan_backend or ds_make_cufile_backend)",
    )
}

/// Makes a GPU buffer of `size` bytes a destination of `DS_DEST_GPU_BUFFER`
/// requests on this queue: on a Vulkan backend `gpu_buffer` is a `VkBuffer`
/// of the backend's device (as a 64-bit value) created with
/// `VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_STORAGE_BUFFER_BIT`
/// (GDeflate is decoded into it by a compute shader); on a cuFile backend
/// it is the base `CUdeviceptr` of a CUDA allocation (also registered with
/// cuFile).
/// Requests into unregistered buffers, or past `size`, fail with
/// `DS_ERR_BAD_GPU_BUFFER` without writing. `DS_ERR_NO_EXECUTOR` for queues
/// without a GPU backend; `DS_ERR_INVALID_ARGUMENT` if already registered
/// or NULL/empty. The buffer must stay valid until it is unregistered and
/// every request into it ended.
///
/// # Safety
/// `gpu_buffer` is a buffer of the queue's device with the usage and size
/// given, bound to memory, for as long as it is registered.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_register_gpu_buffer(
    queue: *mut ds_queue,
    gpu_buffer: u64,
    size: u64,
) -> ds_result {
    guard("ds_queue_register_gpu_buffer", || {
        let q = self::queue(queue)?;
        match &q.gpu {
            None => Err(no_gpu()),
            // SAFETY: the caller's contract (this function's) is the registry's.
            Some(QueueGpu::Vulkan { buffers, .. }) => unsafe {
                crate::vulkan::register_buffer(buffers, gpu_buffer, size)
            },
            Some(QueueGpu::CuFile(buffers)) => buffers.register(gpu_buffer, size).map_err(|e| {
                let mut err = crate::cufile::cufile_error("registering a CUDA buffer", &e);
                if matches!(e, ds_os_linux::cufile::CuFileError::BadBuffer { .. }) {
                    err.code = crate::result::DS_ERR_INVALID_ARGUMENT;
                }
                err
            }),
        }
    })
}

/// Removes a registration; `*out_removed` (may be NULL) is 0 if
/// `gpu_buffer` was not registered. Requests already running into it finish
/// first only if the caller waited for them; new ones fail with
/// `DS_ERR_BAD_GPU_BUFFER`.
///
/// # Safety
/// `out_removed`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_queue_unregister_gpu_buffer(
    queue: *mut ds_queue,
    gpu_buffer: u64,
    out_removed: *mut u32,
) -> ds_result {
    guard("ds_queue_unregister_gpu_buffer", || {
        // SAFETY: caller contract.
        let out = unsafe { OptOut::new(out_removed) };
        let q = self::queue(queue)?;
        let removed = match &q.gpu {
            None => return Err(no_gpu()),
            Some(QueueGpu::Vulkan { buffers, .. }) => buffers.unregister(gpu_buffer),
            Some(QueueGpu::CuFile(buffers)) => buffers.deregister(gpu_buffer),
        };
        out.write(u32::from(removed));
        Ok(())
    })
}
