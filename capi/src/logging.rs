//! The log hook: the runtime logs through the `log` facade (failures at
//! warn, panicking callbacks at error, queue life at debug); this module's
//! `log::Log` forwards every record up to the chosen level to a C callback.
//!
//! The callback runs on the thread that logged (any thread, possibly an
//! executor in the middle of its work), possibly several at once. It should
//! only record the message: blocking calls are refused in it like in every
//! callback, and it must not cancel requests (a strong cancel could wait
//! for a write the logging thread itself has open). Records logged while the callback runs on the same
//! thread (a callback calling back into the library) are dropped rather
//! than recursing. Replacing or removing the callback waits until calls of
//! the old one in progress on other threads returned, so its user data may
//! be freed as soon as `ds_set_log_callback` returns.

#![allow(unsafe_code)]

use crate::ffi::{guard, in_callback, CallbackScope};
use crate::result::{ds_result, Error, DS_ERR_IN_CALLBACK, DS_ERR_UNSUPPORTED};
use std::cell::Cell;
use std::ffi::{c_char, c_void, CString};
use std::sync::{OnceLock, PoisonError, RwLock};

/// Log levels (the `log` crate's numbers): off.
pub const DS_LOG_OFF: i32 = 0;
/// Errors.
pub const DS_LOG_ERROR: i32 = 1;
/// Warnings (every failed request logs one).
pub const DS_LOG_WARN: i32 = 2;
/// Information.
pub const DS_LOG_INFO: i32 = 3;
/// Debugging (queue creation and shutdown).
pub const DS_LOG_DEBUG: i32 = 4;
/// Tracing.
pub const DS_LOG_TRACE: i32 = 5;

/// Log callback: `target` is the Rust module that logged, `message` the
/// text; both NUL-terminated and valid during the call only.
pub type ds_log_fn = Option<
    unsafe extern "C" fn(
        level: i32,
        target: *const c_char,
        message: *const c_char,
        user_data: *mut c_void,
    ),
>;

#[derive(Clone, Copy)]
struct Hook {
    f: unsafe extern "C" fn(i32, *const c_char, *const c_char, *mut c_void),
    user: *mut c_void,
}

// SAFETY: ABI rule: the log callback and its user data may be used from any
// thread, concurrently.
unsafe impl Send for Hook {}
// SAFETY: as Send; only called.
unsafe impl Sync for Hook {}

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);
static LOGGER: CLogger = CLogger;
/// Whether `log::set_logger` took ours (once per process).
static INSTALLED: OnceLock<bool> = OnceLock::new();

thread_local! {
    static IN_LOG: Cell<bool> = const { Cell::new(false) };
}

struct CLogger;

fn c_text(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).expect("NUL bytes were replaced")
}

impl log::Log for CLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || IN_LOG.try_with(Cell::get).unwrap_or(true) {
            return;
        }
        let hook = HOOK.read().unwrap_or_else(PoisonError::into_inner);
        let Some(h) = *hook else {
            return;
        };
        let target = c_text(record.target());
        let message = c_text(&record.args().to_string());
        let _ = IN_LOG.try_with(|f| f.set(true));
        let _scope = CallbackScope::enter();
        // SAFETY: registered by the caller for this use; the strings live
        // across the call; the read lock keeps a replacement waiting.
        unsafe {
            (h.f)(
                record.level() as usize as i32,
                target.as_ptr(),
                message.as_ptr(),
                h.user,
            );
        }
        let _ = IN_LOG.try_with(|f| f.set(false));
    }

    fn flush(&self) {}
}

fn filter(level: i32) -> Result<log::LevelFilter, Error> {
    Ok(match level {
        DS_LOG_OFF => log::LevelFilter::Off,
        DS_LOG_ERROR => log::LevelFilter::Error,
        DS_LOG_WARN => log::LevelFilter::Warn,
        DS_LOG_INFO => log::LevelFilter::Info,
        DS_LOG_DEBUG => log::LevelFilter::Debug,
        DS_LOG_TRACE => log::LevelFilter::Trace,
        _ => return Err(Error::invalid(format!("unknown log level {level}"))),
    })
}

/// Routes the library's log records up to `max_level` (`DS_LOG_*`) to
/// `callback` with `user_data`; `callback` NULL (or `DS_LOG_OFF`) turns
/// logging off. Process-wide. Returns after calls of a previous callback on
/// other threads have returned. Not inside callbacks (`DS_ERR_IN_CALLBACK`).
/// `DS_ERR_UNSUPPORTED` if the process already has another Rust `log`
/// logger (a Rust program linking this library installed its own).
///
/// # Safety
/// `callback` must be safe to call from any thread, concurrently, with
/// `user_data` until it is replaced.
#[no_mangle]
pub unsafe extern "C" fn ds_set_log_callback(
    callback: ds_log_fn,
    max_level: i32,
    user_data: *mut c_void,
) -> ds_result {
    guard("ds_set_log_callback", || {
        if in_callback() {
            return Err(Error::new(
                DS_ERR_IN_CALLBACK,
                "ds_set_log_callback cannot run inside a callback",
            ));
        }
        let level = filter(max_level)?;
        let ours = *INSTALLED.get_or_init(|| log::set_logger(&LOGGER).is_ok());
        if !ours {
            return Err(Error::new(
                DS_ERR_UNSUPPORTED,
                "another `log` logger is installed in this process; records go there",
            ));
        }
        let hook = callback.map(|f| Hook { f, user: user_data });
        *HOOK.write().unwrap_or_else(PoisonError::into_inner) = hook;
        log::set_max_level(if hook.is_some() {
            level
        } else {
            log::LevelFilter::Off
        });
        Ok(())
    })
}
