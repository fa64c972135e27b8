//! `ds_file`: a file requests read from or write to (DirectStorage's
//! `IDStorageFile`), opened from a path or from a descriptor the caller
//! already has (Wine's handle-to-fd), plus its metadata for
//! `GetFileInformation`.
//!
//! The library owns its own descriptor: `ds_file_open_fd` duplicates the
//! caller's (`F_DUPFD_CLOEXEC`) unless told to take it. Requests hold the file
//! open until they end, so releasing the handle with requests in flight is
//! safe; `ds_file_close` models `IDStorageFile::Close` (new requests refused,
//! requests not yet run fail with `DS_ERR_FILE_CLOSED`).

#![allow(unsafe_code)]

use crate::ffi::{c_bytes, guard, Out, Versioned, VersionedOut};
use crate::handle::Registry;
use crate::result::{ds_result, Error, DS_ERR_BAD_FD};
use ds_os_linux::FileRef;
use std::ffi::{c_char, OsStr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An open file (opaque).
#[derive(Debug)]
pub struct ds_file {
    _opaque: [u8; 0],
}

pub(crate) static FILES: Registry<FileRef> = Registry::new("ds_file");

/// `ds_file_open_fd` flag: the library takes ownership of `fd` (closes it
/// when the file and every request on it are gone) instead of duplicating it.
pub const DS_FILE_TAKE_FD: u32 = 1;

/// Metadata of an open file (`fstat`), for `GetFileInformation`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ds_file_info {
    /// Set to `sizeof(ds_file_info)` by the caller.
    pub struct_size: u32,
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Device id (`st_dev`).
    pub device: u64,
    /// Inode number (`st_ino`).
    pub inode: u64,
    /// Hard links (`st_nlink`).
    pub links: u64,
    /// Last access, nanoseconds since the Unix epoch.
    pub access_time_ns: i64,
    /// Last modification, nanoseconds since the Unix epoch.
    pub modify_time_ns: i64,
    /// Last status change, nanoseconds since the Unix epoch.
    pub change_time_ns: i64,
}

// SAFETY: repr(C), starts with the u32 size, integers only.
unsafe impl Versioned for ds_file_info {
    const V1_SIZE: usize = std::mem::size_of::<ds_file_info>();
    const NAME: &'static str = "ds_file_info";
}

fn register(file: FileRef, out: Out<*mut ds_file>) {
    out.write(FILES.insert(file));
}

/// Opens `path` (a NUL-terminated byte string, any encoding the file
/// system takes) for reading. On success `*out_file` is a new handle, to
/// release with `ds_file_release`.
///
/// # Safety
/// `path`: NULL or a NUL-terminated string; `out_file`: NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn ds_file_open(
    path: *const c_char,
    out_file: *mut *mut ds_file,
) -> ds_result {
    guard("ds_file_open", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_file, "out_file") }?;
        // SAFETY: caller contract.
        let path = unsafe { c_bytes(path) }.ok_or_else(|| Error::null("path"))?;
        let path = Path::new(OsStr::from_bytes(path));
        let file = FileRef::open(path)
            .map_err(|e| Error::io(&format!("cannot open {}", path.display()), &e))?;
        register(file, out);
        Ok(())
    })
}

/// Wraps an open descriptor. Without `DS_FILE_TAKE_FD` in `flags` the
/// descriptor is duplicated and stays the caller's; with it the library
/// owns `fd` from a successful return on (on failure the caller still owns
/// it). `path` (may be NULL) only names the file in error messages. A
/// descriptor that is not open gives `DS_ERR_BAD_FD`.
///
/// # Safety
/// `path`: NULL or a NUL-terminated string; `out_file`: NULL or valid for a
/// write. With `DS_FILE_TAKE_FD`, nothing else may close `fd` afterwards.
#[no_mangle]
pub unsafe extern "C" fn ds_file_open_fd(
    fd: i32,
    flags: u32,
    path: *const c_char,
    out_file: *mut *mut ds_file,
) -> ds_result {
    guard("ds_file_open_fd", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_file, "out_file") }?;
        if flags & !DS_FILE_TAKE_FD != 0 {
            return Err(Error::invalid(format!(
                "unknown ds_file_open_fd flags {flags:#x}"
            )));
        }
        // SAFETY: caller contract.
        let path = unsafe { c_bytes(path) }.map(|p| Path::new(OsStr::from_bytes(p)));
        let bad = |errno: i32| {
            Error::new(
                DS_ERR_BAD_FD,
                format!(
                    "file descriptor {fd} is not open: {}",
                    std::io::Error::from_raw_os_error(errno)
                ),
            )
            .with_os(errno)
        };
        if fd < 0 {
            return Err(bad(libc::EBADF));
        }
        let owned = if flags & DS_FILE_TAKE_FD != 0 {
            // SAFETY: F_GETFD only queries the descriptor table; an invalid
            // number gives EBADF.
            if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
                return Err(bad(std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(0)));
            }
            // SAFETY: `fd` is open (checked just above) and the caller hands
            // its ownership to us (DS_FILE_TAKE_FD contract).
            unsafe { OwnedFd::from_raw_fd(fd) }
        } else {
            // SAFETY: F_DUPFD_CLOEXEC on a raw number: an invalid one gives
            // EBADF and nothing else happens.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            if dup < 0 {
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                if errno == libc::EBADF {
                    return Err(bad(errno));
                }
                return Err(Error::io(
                    &format!("cannot duplicate descriptor {fd}"),
                    &std::io::Error::from_raw_os_error(errno),
                ));
            }
            // SAFETY: `dup` is a new descriptor nobody else owns.
            unsafe { OwnedFd::from_raw_fd(dup) }
        };
        register(FileRef::from_fd(owned, path), out);
        Ok(())
    })
}

/// Marks the file closed (`IDStorageFile::Close`): enqueueing requests on it
/// fails with `DS_ERR_FILE_CLOSED`, requests that have not started I/O fail
/// with it. The handle stays valid until `ds_file_release`.
///
/// # Safety
/// None beyond passing a handle value (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_file_close(file: *mut ds_file) -> ds_result {
    guard("ds_file_close", || {
        FILES.get(file, "file")?.close();
        Ok(())
    })
}

/// Releases the handle. Requests still using the file keep it open until
/// they end. A second release of the same handle gives `DS_ERR_BAD_HANDLE`.
///
/// # Safety
/// None beyond passing a handle value (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_file_release(file: *mut ds_file) -> ds_result {
    guard("ds_file_release", || FILES.remove(file, "file").map(drop))
}

/// The descriptor the library reads through (valid while the handle or a
/// request on it lives; do not close it).
///
/// # Safety
/// `out_fd`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_file_fd(file: *mut ds_file, out_fd: *mut i32) -> ds_result {
    guard("ds_file_fd", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_fd, "out_fd") }?;
        out.write(FILES.get(file, "file")?.raw_fd());
        Ok(())
    })
}

/// `fstat` of the file into `*out_info` (whose `struct_size` the caller
/// sets).
///
/// # Safety
/// `out_info`: NULL or valid for reads and writes of its `struct_size`.
#[no_mangle]
pub unsafe extern "C" fn ds_file_get_info(
    file: *mut ds_file,
    out_info: *mut ds_file_info,
) -> ds_result {
    guard("ds_file_get_info", || {
        // SAFETY: caller contract.
        let out = unsafe { VersionedOut::new(out_info) }?;
        let f = FILES.get(file, "file")?;
        let st = rustix::fs::fstat(&*f).map_err(|e| {
            Error::io(
                &format!("fstat of descriptor {}", f.raw_fd()),
                &std::io::Error::from(e),
            )
        })?;
        let ns = |s: i64, n: u64| s.saturating_mul(1_000_000_000).saturating_add(n as i64);
        out.write(ds_file_info {
            struct_size: 0,
            mode: st.st_mode,
            size: st.st_size as u64,
            device: st.st_dev,
            inode: st.st_ino,
            links: st.st_nlink,
            access_time_ns: ns(st.st_atime, st.st_atime_nsec),
            modify_time_ns: ns(st.st_mtime, st.st_mtime_nsec),
            change_time_ns: ns(st.st_ctime, st.st_ctime_nsec),
        });
        Ok(())
    })
}
