//! Status arrays (DirectStorage's `IDStorageStatusArray`) and fences (the
//! `ID3D12Fence` of EnqueueSignal): the objects ordering commands complete.
//!
//! A fence may carry a callback run for every signal (by a queue or by
//! `ds_fence_signal`), on the signalling thread, just before the new value
//! is set; its user data is handed to
//! `release_user_data` once the fence handle is released *and* no enqueued
//! signal is left, so it is never used after it was released.

#![allow(unsafe_code)]

use crate::ffi::{guard, in_callback, CallbackScope, OptOut, Out, VersionedOut};
use crate::handle::Registry;
use crate::request::{ds_error_info, ds_release_fn};
use crate::result::{ds_result, Error, DS_ERR_IN_CALLBACK, DS_ERR_TIMEOUT, DS_OK};
use ds_os_linux::{EntryStatus, Fence, StatusArray};
use std::ffi::c_void;
use std::time::Duration;

/// An array of status entries (opaque).
#[derive(Debug)]
pub struct ds_status_array {
    _opaque: [u8; 0],
}

/// A fence (opaque).
#[derive(Debug)]
pub struct ds_fence {
    _opaque: [u8; 0],
}

pub(crate) static STATUS_ARRAYS: Registry<StatusArray> = Registry::new("ds_status_array");
pub(crate) static FENCES: Registry<FenceObj> = Registry::new("ds_fence");

/// Most entries of one status array.
pub const DS_MAX_STATUS_ENTRIES: u32 = 1 << 20;

/// Status entry states (`ds_status_array_get`): never enqueued.
pub const DS_STATUS_IDLE: i32 = 0;
/// Enqueued; requests before it still running.
pub const DS_STATUS_PENDING: i32 = 1;
/// Every request since the previous entry completed or was cancelled.
pub const DS_STATUS_COMPLETE: i32 = 2;
/// A request since the previous entry failed.
pub const DS_STATUS_FAILED: i32 = 3;

/// Creates an array of `capacity` idle entries (1..=`DS_MAX_STATUS_ENTRIES`).
///
/// # Safety
/// `out_array`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_status_array_create(
    capacity: u32,
    out_array: *mut *mut ds_status_array,
) -> ds_result {
    guard("ds_status_array_create", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_array, "out_array") }?;
        if capacity == 0 || capacity > DS_MAX_STATUS_ENTRIES {
            return Err(Error::invalid(format!(
                "status array capacity {capacity} is outside 1..={DS_MAX_STATUS_ENTRIES}"
            )));
        }
        out.write(STATUS_ARRAYS.insert(StatusArray::new(capacity as usize)));
        Ok(())
    })
}

/// Releases the handle (queues holding entries of it keep it alive until
/// those complete). A second release gives `DS_ERR_BAD_HANDLE`.
///
/// # Safety
/// None beyond passing a handle value (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_status_array_release(array: *mut ds_status_array) -> ds_result {
    guard("ds_status_array_release", || {
        STATUS_ARRAYS.remove(array, "array").map(drop)
    })
}

fn entry(array: *mut ds_status_array, index: u32) -> Result<EntryStatus, Error> {
    let a = STATUS_ARRAYS.get(array, "array")?;
    a.get(index as usize).ok_or_else(|| {
        Error::invalid(format!(
            "status index {index} is outside the array of {} entries",
            a.len()
        ))
    })
}

/// The state of entry `index` (`DS_STATUS_*`) in `*out_state`, and in
/// `*out_result` (may be NULL) `DS_OK`, or the failure's code for
/// `DS_STATUS_FAILED`. Cheap: for polling.
///
/// # Safety
/// `out_state`: NULL or valid for a write; `out_result`: NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn ds_status_array_get(
    array: *mut ds_status_array,
    index: u32,
    out_state: *mut i32,
    out_result: *mut ds_result,
) -> ds_result {
    guard("ds_status_array_get", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_state, "out_state") }?;
        // SAFETY: caller contract.
        let out_result = unsafe { OptOut::new(out_result) };
        let (state, result) = match entry(array, index)? {
            EntryStatus::Idle => (DS_STATUS_IDLE, DS_OK),
            EntryStatus::Pending => (DS_STATUS_PENDING, DS_OK),
            EntryStatus::Complete => (DS_STATUS_COMPLETE, DS_OK),
            EntryStatus::Failed(e) => (DS_STATUS_FAILED, Error::request(&e).code),
        };
        out.write(state);
        out_result.write(result);
        Ok(())
    })
}

/// The failure of entry `index` in `*out_error`; `DS_ERR_INVALID_ARGUMENT`
/// when the entry is not `DS_STATUS_FAILED`.
///
/// # Safety
/// `out_error`: NULL or valid for reads and writes of its `struct_size`.
#[no_mangle]
pub unsafe extern "C" fn ds_status_array_get_error(
    array: *mut ds_status_array,
    index: u32,
    out_error: *mut ds_error_info,
) -> ds_result {
    guard("ds_status_array_get_error", || {
        // SAFETY: caller contract.
        let out = unsafe { VersionedOut::new(out_error) }?;
        match entry(array, index)? {
            EntryStatus::Failed(e) => {
                out.write(ds_error_info::of(&e));
                Ok(())
            }
            _ => Err(Error::invalid(format!(
                "status entry {index} has not failed"
            ))),
        }
    })
}

/// Fence callback: `value` is the value just signalled.
pub type ds_fence_fn = Option<unsafe extern "C" fn(value: u64, user_data: *mut c_void)>;

/// A fence and its optional callback.
pub(crate) struct FenceObj {
    pub(crate) fence: Fence,
    callback: Option<FenceCallback>,
}

struct FenceCallback {
    f: unsafe extern "C" fn(u64, *mut c_void),
    user: *mut c_void,
    release: ds_release_fn,
}

// SAFETY: ABI rule: callbacks and user data may be used from any thread.
unsafe impl Send for FenceCallback {}
// SAFETY: as Send; only called.
unsafe impl Sync for FenceCallback {}

impl Drop for FenceCallback {
    fn drop(&mut self) {
        if let Some(release) = self.release {
            let _scope = CallbackScope::enter();
            // SAFETY: registered for this user data; the one call it gets.
            unsafe { release(self.user) };
        }
    }
}

impl FenceObj {
    pub(crate) fn has_callback(&self) -> bool {
        self.callback.is_some()
    }

    /// Runs the callback, then sets the value and wakes waiters (so a
    /// waiter released by this value also sees what the callback did).
    pub(crate) fn signal(&self, value: u64) {
        if let Some(cb) = &self.callback {
            let _scope = CallbackScope::enter();
            // SAFETY: registered for this use.
            unsafe { (cb.f)(value, cb.user) };
        }
        self.fence.signal(value);
    }
}

/// Creates a fence at `initial`. `callback` (may be NULL) runs for every
/// signal on the signalling thread, just before the value is set and
/// waiters are released; `release_user_data` (may be NULL) gets
/// `user_data` once the fence is released and no signal of it is pending.
///
/// # Safety
/// `out_fence`: NULL or valid for a write; the callbacks must be safe to
/// call from any thread with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn ds_fence_create(
    initial: u64,
    callback: ds_fence_fn,
    user_data: *mut c_void,
    release_user_data: ds_release_fn,
    out_fence: *mut *mut ds_fence,
) -> ds_result {
    guard("ds_fence_create", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_fence, "out_fence") }?;
        if callback.is_none() && release_user_data.is_some() {
            return Err(Error::invalid("release_user_data without a callback"));
        }
        let obj = FenceObj {
            fence: Fence::new(initial),
            callback: callback.map(|f| FenceCallback {
                f,
                user: user_data,
                release: release_user_data,
            }),
        };
        out.write(FENCES.insert(obj));
        Ok(())
    })
}

/// Releases the handle. Signals still enqueued keep the fence until they
/// ran. A second release gives `DS_ERR_BAD_HANDLE`.
///
/// # Safety
/// None beyond passing a handle value (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_fence_release(fence: *mut ds_fence) -> ds_result {
    guard("ds_fence_release", || {
        FENCES.remove(fence, "fence").map(drop)
    })
}

/// The fence's current value.
///
/// # Safety
/// `out_value`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_fence_value(fence: *mut ds_fence, out_value: *mut u64) -> ds_result {
    guard("ds_fence_value", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_value, "out_value") }?;
        out.write(FENCES.get(fence, "fence")?.fence.value());
        Ok(())
    })
}

/// Sets the fence to `value` from the CPU (ID3D12Fence::Signal): runs its
/// callback on this thread, then sets the value and wakes its waiters.
///
/// # Safety
/// None beyond passing a handle value (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_fence_signal(fence: *mut ds_fence, value: u64) -> ds_result {
    guard("ds_fence_signal", || {
        FENCES.get(fence, "fence")?.signal(value);
        Ok(())
    })
}

/// Waits until the fence's value is at least `value`, or `timeout_ns`
/// passed (`DS_ERR_TIMEOUT`; `DS_INFINITE` waits forever). Not inside
/// callbacks (`DS_ERR_IN_CALLBACK`).
///
/// # Safety
/// None beyond passing a handle value (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_fence_wait(
    fence: *mut ds_fence,
    value: u64,
    timeout_ns: u64,
) -> ds_result {
    guard("ds_fence_wait", || {
        if in_callback() {
            return Err(Error::new(
                DS_ERR_IN_CALLBACK,
                "ds_fence_wait cannot block inside a callback",
            ));
        }
        let f = FENCES.get(fence, "fence")?;
        let t = (timeout_ns != crate::queue::DS_INFINITE).then(|| Duration::from_nanos(timeout_ns));
        if f.fence.wait(value, t) {
            Ok(())
        } else {
            Err(Error::new(
                DS_ERR_TIMEOUT,
                format!(
                    "fence still at {} after {timeout_ns} ns waiting for {value}",
                    f.fence.value()
                ),
            ))
        }
    })
}
