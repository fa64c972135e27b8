//! The boundary between C and Rust: the panic guard every export runs its
//! body in, the per-thread last error, the "inside a callback" mark, and the
//! only places where caller pointers are read or written (out-parameters,
//! versioned structs, C strings, byte buffers).
//!
//! Rules these helpers implement (docs/abi.md):
//! * No panic unwinds into C: [`guard`] catches it and returns
//!   `DS_ERR_PANIC`, with the panic message as the thread's last error.
//! * Out-parameters are written only on success: [`Out`] checks the pointer
//!   up front and is written once, at the end.
//! * Versioned structs start with `uint32_t struct_size`; inputs shorter than
//!   the struct this library knows are read as if the missing tail were zero,
//!   outputs are written up to the caller's `struct_size` only.

#![allow(unsafe_code)]

use crate::result::{
    ds_result, Error, DS_ERR_INVALID_ARGUMENT, DS_ERR_NULL_ARGUMENT, DS_ERR_PANIC,
    DS_ERR_STRUCT_SIZE, DS_OK,
};
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The last failure reported on a thread.
struct LastError {
    code: ds_result,
    os_error: i32,
    message: CString,
}

thread_local! {
    static LAST: RefCell<Option<LastError>> = const { RefCell::new(None) };
    static CALLBACK_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Records `e` as this thread's last error.
pub(crate) fn set_last_error(e: &Error) {
    // Interior NULs cannot appear in a C string: show them as spaces.
    let message = CString::new(e.message.replace('\0', " ")).expect("NUL bytes were replaced");
    // `try_with`: during thread teardown the slot may be gone; the code is
    // still returned to the caller.
    let _ = LAST.try_with(|l| {
        *l.borrow_mut() = Some(LastError {
            code: e.code,
            os_error: e.os_error,
            message,
        });
    });
}

/// Catches a panic of a body that must not touch the last error (the
/// readers of the last error): gives `fallback` instead.
fn quiet<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// The payload of a caught panic, as text.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("(non-text panic payload)")
    }
}

/// Runs the body of an export that returns a `ds_result`: `Ok` gives
/// `DS_OK`; an error is recorded as the thread's last error and its code
/// returned; a panic is caught, recorded, and gives `DS_ERR_PANIC`.
pub(crate) fn guard(name: &'static str, body: impl FnOnce() -> Result<(), Error>) -> ds_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => DS_OK,
        Ok(Err(e)) => {
            set_last_error(&e);
            e.code
        }
        Err(payload) => {
            let e = Error::new(
                DS_ERR_PANIC,
                format!("{name}: internal error: {}", panic_text(&*payload)),
            );
            log::error!("{}", e.message);
            set_last_error(&e);
            DS_ERR_PANIC
        }
    }
}

/// [`guard`] for the few exports that return a value instead of a code:
/// on error or panic the error is recorded and `fallback` returned.
pub(crate) fn guard_value<T>(
    name: &'static str,
    fallback: T,
    body: impl FnOnce() -> Result<T, Error>,
) -> T {
    let mut value = None;
    let code = guard(name, || {
        value = Some(body()?);
        Ok(())
    });
    match value {
        Some(v) if code == DS_OK => v,
        _ => fallback,
    }
}

/// Marks the current thread as running a user callback for its lifetime.
pub(crate) struct CallbackScope(());

impl CallbackScope {
    pub(crate) fn enter() -> Self {
        let _ = CALLBACK_DEPTH.try_with(|d| d.set(d.get() + 1));
        CallbackScope(())
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        let _ = CALLBACK_DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// True while this thread runs a callback of this library.
pub(crate) fn in_callback() -> bool {
    CALLBACK_DEPTH.try_with(|d| d.get() > 0).unwrap_or(false)
}

/// Copies this thread's last error message into `buf` (at most `buf_len`
/// bytes including the terminating NUL, cut at a UTF-8 character boundary)
/// and stores the message's full length (without NUL) in `*out_len` when
/// `out_len` is not NULL. With no failure yet on this thread the message is
/// empty. `buf` may be NULL only when `buf_len` is 0 (to ask for the
/// length). Never changes the last error itself.
///
/// # Safety
/// `buf` must be valid for writes of `buf_len` bytes; `out_len` NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_last_error_message(
    buf: *mut c_char,
    buf_len: u64,
    out_len: *mut u64,
) -> ds_result {
    // Not through `guard`, which would replace the message being read on a
    // failure: errors are reported by code only.
    quiet(DS_ERR_PANIC, || {
        let snapshot = LAST
            .try_with(|l| {
                l.borrow()
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let text = snapshot.to_str().unwrap_or("");
        if buf_len > 0 {
            if buf.is_null() {
                return DS_ERR_NULL_ARGUMENT;
            }
            let Ok(cap) = usize::try_from(buf_len) else {
                return DS_ERR_INVALID_ARGUMENT;
            };
            let mut n = text.len().min(cap - 1);
            while !text.is_char_boundary(n) {
                n -= 1;
            }
            // SAFETY: `buf` is non-null and valid for `cap` bytes (caller);
            // we write n + 1 <= cap bytes.
            let dst = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) };
            dst[..n].copy_from_slice(&text.as_bytes()[..n]);
            dst[n] = 0;
        }
        if !out_len.is_null() {
            // SAFETY: non-null and valid for a write (caller).
            unsafe { out_len.write(text.len() as u64) };
        }
        DS_OK
    })
}

/// The result code of the last failed call on this thread (`DS_OK` when no
/// call failed yet). Calls that succeed do not reset it.
#[no_mangle]
pub extern "C" fn ds_last_error_code() -> ds_result {
    quiet(DS_ERR_PANIC, || {
        LAST.try_with(|l| l.borrow().as_ref().map_or(DS_OK, |e| e.code))
            .unwrap_or(DS_OK)
    })
}

/// The OS error number (errno) behind the last failure on this thread, 0 if
/// it had none.
#[no_mangle]
pub extern "C" fn ds_last_os_error() -> i32 {
    quiet(0, || {
        LAST.try_with(|l| l.borrow().as_ref().map_or(0, |e| e.os_error))
            .unwrap_or(0)
    })
}

/// An out-parameter checked before the work and written once after it.
pub(crate) struct Out<T>(std::ptr::NonNull<T>);

impl<T> Out<T> {
    /// # Safety
    /// `ptr` is NULL or valid for a write of `T` (aligned) for the duration
    /// of the current export call.
    pub(crate) unsafe fn new(ptr: *mut T, what: &str) -> Result<Self, Error> {
        debug_assert!(ptr.is_aligned(), "{what} is misaligned");
        std::ptr::NonNull::new(ptr)
            .map(Out)
            .ok_or_else(|| Error::null(what))
    }

    /// Writes the value (without dropping what the caller's memory held).
    pub(crate) fn write(self, value: T) {
        // SAFETY: valid for a write per `new`'s contract.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// An optional out-parameter (NULL: the caller does not want the value).
pub(crate) struct OptOut<T>(Option<Out<T>>);

impl<T> OptOut<T> {
    /// # Safety
    /// As [`Out::new`].
    pub(crate) unsafe fn new(ptr: *mut T) -> Self {
        OptOut(std::ptr::NonNull::new(ptr).map(Out))
    }

    pub(crate) fn write(self, value: T) {
        if let Some(o) = self.0 {
            o.write(value);
        }
    }
}

/// A C struct that starts with `uint32_t struct_size` and may grow at its
/// end in later versions.
///
/// # Safety
/// Implementors are `#[repr(C)]`, start with a `u32` field holding the
/// struct size, and every field is an integer, a raw pointer or an
/// `Option` of a function pointer, so the all-zero bytes are a valid value.
pub(crate) unsafe trait Versioned: Sized {
    /// Size of the first published layout: callers may pass no less.
    const V1_SIZE: usize;
    /// Type name for messages.
    const NAME: &'static str;
}

fn check_size<T: Versioned>(size: u32) -> Result<usize, Error> {
    let size = size as usize;
    if size < T::V1_SIZE {
        return Err(Error::new(
            DS_ERR_STRUCT_SIZE,
            format!(
                "{}.struct_size is {size}, less than the {} bytes of its first layout (set it to sizeof({}))",
                T::NAME,
                T::V1_SIZE,
                T::NAME
            ),
        ));
    }
    Ok(size.min(std::mem::size_of::<T>()))
}

/// Reads a versioned input struct: its first `struct_size` bytes, the rest
/// zero.
///
/// # Safety
/// `ptr` is NULL or valid for reads of its own `struct_size` bytes (and of
/// at least the `u32` size field).
pub(crate) unsafe fn read_versioned<T: Versioned>(ptr: *const T) -> Result<T, Error> {
    if ptr.is_null() {
        return Err(Error::null(T::NAME));
    }
    debug_assert!(ptr.is_aligned(), "{} at a misaligned address", T::NAME);
    // SAFETY: non-null, aligned and valid for the size field (caller).
    let declared = unsafe { ptr.cast::<u32>().read() };
    let n = check_size::<T>(declared)?;
    // SAFETY: `T: Versioned` promises the all-zero bytes are a valid T.
    let mut value: T = unsafe { std::mem::zeroed() };
    // SAFETY: the caller's struct holds `declared >= n` readable bytes; our
    // value holds size_of::<T>() >= n bytes; the two do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), (&mut value as *mut T).cast::<u8>(), n);
    }
    Ok(value)
}

/// A versioned output struct: `struct_size` is checked before the work, and
/// the result written (up to the caller's size) after it.
pub(crate) struct VersionedOut<T: Versioned> {
    ptr: std::ptr::NonNull<T>,
    size: usize,
}

impl<T: Versioned> VersionedOut<T> {
    /// # Safety
    /// `ptr` is NULL or valid for reads and writes of its own `struct_size`
    /// bytes for the duration of the current export call.
    pub(crate) unsafe fn new(ptr: *mut T) -> Result<Self, Error> {
        let Some(nn) = std::ptr::NonNull::new(ptr) else {
            return Err(Error::null(T::NAME));
        };
        debug_assert!(ptr.is_aligned(), "{} at a misaligned address", T::NAME);
        // SAFETY: non-null and valid for the size field (caller).
        let declared = unsafe { ptr.cast::<u32>().read() };
        let size = check_size::<T>(declared)?;
        Ok(VersionedOut { ptr: nn, size })
    }

    /// Writes `value`'s first bytes up to the caller's size, with
    /// `struct_size` set to the number of bytes written.
    pub(crate) fn write(self, value: T) {
        let mut value = value;
        let size = self.size as u32;
        // SAFETY: `Versioned` structs start with the u32 size field.
        unsafe { (&mut value as *mut T).cast::<u32>().write(size) };
        // SAFETY: the caller's struct is valid for `self.size` bytes
        // (checked in `new`), `value` holds size_of::<T>() >= self.size.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (&value as *const T).cast::<u8>(),
                self.ptr.as_ptr().cast::<u8>(),
                self.size,
            );
        }
    }
}

/// A NUL-terminated string argument as bytes (`None` for NULL).
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid
/// during the call.
pub(crate) unsafe fn c_bytes<'a>(ptr: *const c_char) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: non-null, NUL-terminated (caller).
        Some(unsafe { CStr::from_ptr(ptr) }.to_bytes())
    }
}

/// A NUL-terminated UTF-8 string argument (`None` for NULL).
///
/// # Safety
/// As [`c_bytes`].
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>, Error> {
    // SAFETY: forwarded contract.
    match unsafe { c_bytes(ptr) } {
        None => Ok(None),
        Some(b) => std::str::from_utf8(b)
            .map(Some)
            .map_err(|e| Error::invalid(format!("{what} is not UTF-8: {e}"))),
    }
}

/// A byte buffer argument. NULL is accepted only with length 0.
///
/// # Safety
/// `ptr` is NULL or valid for reads of `len` bytes that do not change
/// during the call.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: u64, what: &str) -> Result<&'a [u8], Error> {
    let len = buffer_len(len, what)?;
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::null(what));
    }
    // SAFETY: non-null, valid for `len` bytes (caller); len <= isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A writable byte buffer argument. NULL is accepted only with length 0.
///
/// # Safety
/// `ptr` is NULL or valid for writes of `len` bytes that nothing else
/// touches during the call.
pub(crate) unsafe fn bytes_mut<'a>(
    ptr: *mut u8,
    len: u64,
    what: &str,
) -> Result<&'a mut [u8], Error> {
    let len = buffer_len(len, what)?;
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(Error::null(what));
    }
    // SAFETY: non-null, valid and exclusive for `len` bytes (caller).
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// A length that can describe a buffer of this process.
pub(crate) fn buffer_len(len: u64, what: &str) -> Result<usize, Error> {
    usize::try_from(len)
        .ok()
        .filter(|&l| l <= isize::MAX as usize)
        .ok_or_else(|| Error::invalid(format!("{what} length {len} is larger than memory")))
}

/// Copies `s` into a fixed `char` array, cut at a character boundary so it
/// stays valid UTF-8, always NUL-terminated.
pub(crate) fn fill_chars(dst: &mut [c_char], s: &str) {
    let Some(cap) = dst.len().checked_sub(1) else {
        return;
    };
    let mut n = s.len().min(cap);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    for (d, &b) in dst.iter_mut().zip(&s.as_bytes()[..n]) {
        *d = b as c_char;
    }
    dst[n] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_message() -> String {
        let mut buf = [0 as c_char; 256];
        let mut len = 0u64;
        // SAFETY: buffer of 256 bytes, len valid.
        let r = unsafe { ds_last_error_message(buf.as_mut_ptr(), 256, &mut len) };
        assert_eq!(r, DS_OK);
        // SAFETY: NUL-terminated by the call.
        let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(s.to_bytes().len() as u64, len.min(255));
        s.to_string_lossy().into_owned()
    }

    #[test]
    fn a_panicking_body_returns_the_panic_code_and_message() {
        let r = guard("ds_test_export", || panic!("boom {}", 42));
        assert_eq!(r, DS_ERR_PANIC);
        assert_eq!(ds_last_error_code(), DS_ERR_PANIC);
        let m = last_message();
        assert!(m.contains("ds_test_export") && m.contains("boom 42"), "{m}");
        // The thread is usable afterwards, and a later error replaces it.
        let r = guard("ds_test_export", || Err(Error::invalid("second")));
        assert_eq!(r, DS_ERR_INVALID_ARGUMENT);
        assert_eq!(last_message(), "second");
        let v = guard_value("ds_test_value", 7u32, || panic!("in a value export"));
        assert_eq!(v, 7);
        assert_eq!(ds_last_error_code(), DS_ERR_PANIC);
    }

    #[test]
    fn messages_are_cut_at_character_boundaries() {
        set_last_error(&Error::invalid("ab\u{e9}cd"));
        let mut buf = [1 as c_char; 4];
        let mut len = 0;
        // SAFETY: 4-byte buffer.
        let r = unsafe { ds_last_error_message(buf.as_mut_ptr(), 4, &mut len) };
        assert_eq!(r, DS_OK);
        assert_eq!(len, 6);
        // "ab" + NUL: the two-byte é does not fit with the NUL.
        assert_eq!(buf[..3], [b'a' as c_char, b'b' as c_char, 0]);
        // SAFETY: NULL buffer with length 0 asks for the length only.
        let r = unsafe { ds_last_error_message(std::ptr::null_mut(), 0, &mut len) };
        assert_eq!((r, len), (DS_OK, 6));
        // SAFETY: NULL buffer with a length is refused.
        let r = unsafe { ds_last_error_message(std::ptr::null_mut(), 8, &mut len) };
        assert_eq!(r, DS_ERR_NULL_ARGUMENT);
    }

    #[test]
    fn fill_chars_truncates_and_terminates() {
        let mut a = [9 as c_char; 5];
        fill_chars(&mut a, "hello world");
        assert_eq!(a, [104, 101, 108, 108, 0].map(|b| b as c_char));
        fill_chars(&mut a, "");
        assert_eq!(a[0], 0);
    }
}
