//! The GPUDirect Storage backend through the C ABI, for the device
//! machine: a CUDA allocation registered on a queue of
//! `ds_make_cufile_backend` receives an uncompressed read and a GDeflate
//! read; a copy back to the host matches; a range past the registered size
//! fails with `DS_ERR_BAD_GPU_BUFFER`. Without the CUDA driver it checks
//! the backend is refused with `DS_ERR_UNAVAILABLE` and prints "skipped",
//! unless `DS_REQUIRE_CUFILE=1` (set on the device machine; deliberately not
//! `DS_REQUIRE_ALL`: CI has no NVIDIA GPU).

#![allow(unsafe_code)]

use ds_os_linux::cufile::Cuda;
use ds_runtime::backend::{ds_backend, ds_backend_release};
use ds_runtime::cufile::ds_make_cufile_backend;
use ds_runtime::file::{ds_file, ds_file_open, ds_file_release};
use ds_runtime::queue::*;
use ds_runtime::request::*;
use ds_runtime::result::*;
use std::ffi::CString;
use std::ptr::{null, null_mut};

fn ok(r: ds_result, what: &str) {
    let mut buf = vec![0u8; 1024];
    // SAFETY: 1024-byte buffer.
    unsafe { ds_runtime::ffi::ds_last_error_message(buf.as_mut_ptr().cast(), 1024, null_mut()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    assert_eq!(r, DS_OK, "{what}: {}", String::from_utf8_lossy(&buf[..end]));
}

fn wait(q: *mut ds_queue, id: u64) -> ds_completion {
    // SAFETY: all-zero completion with its size.
    let mut c: ds_completion = unsafe { std::mem::zeroed() };
    c.struct_size = std::mem::size_of::<ds_completion>() as u32;
    // SAFETY: live queue, valid out struct.
    ok(unsafe { ds_queue_wait(q, id, DS_INFINITE, &mut c) }, "wait");
    c
}

#[test]
fn cuda_memory_receives_requests() {
    let mut backend: *mut ds_backend = null_mut();
    // SAFETY: NULL config, valid out pointer.
    let made = unsafe { ds_make_cufile_backend(null(), &mut backend) };
    if made == DS_ERR_UNAVAILABLE {
        assert!(backend.is_null());
        assert!(
            std::env::var("DS_REQUIRE_CUFILE").map_or(true, |v| v != "1"),
            "DS_REQUIRE_CUFILE=1 but ds_make_cufile_backend says CUDA is unavailable"
        );
        eprintln!("skipped: no CUDA driver (ds_make_cufile_backend: DS_ERR_UNAVAILABLE)");
        return;
    }
    ok(made, "cufile backend");
    let mut q: *mut ds_queue = null_mut();
    // SAFETY: live backend.
    ok(unsafe { ds_queue_create(backend, null(), &mut q) }, "queue");

    const SIZE: usize = 4 << 20;
    let cuda = Cuda::open(0).expect("CUDA device 0");
    let memory = cuda.alloc(SIZE).expect("device memory");
    // SAFETY: a live CUDA allocation of SIZE bytes, unregistered below
    // before it is freed.
    ok(
        unsafe { ds_queue_register_gpu_buffer(q, memory.ptr(), SIZE as u64) },
        "register",
    );

    let plain: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let text: Vec<u8> = b"mesh texture shader "
        .iter()
        .cycle()
        .take(500_000)
        .copied()
        .collect();
    let packed = ds_gdeflate::encode::compress(&text, 4).expect("compress");
    let dir = std::env::temp_dir().join(format!("ds-capi-cufile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("asset.bin");
    let mut contents = plain.clone();
    contents.extend_from_slice(&packed);
    std::fs::write(&path, &contents).expect("write");
    let cpath = CString::new(path.to_string_lossy().as_bytes()).expect("path");
    let mut file: *mut ds_file = null_mut();
    // SAFETY: NUL-terminated path.
    ok(unsafe { ds_file_open(cpath.as_ptr(), &mut file) }, "open");

    let gpu_request = |offset: u64, size: u64, at: u64, produced: u64, gdeflate: bool| {
        // SAFETY: all-zero request with its size.
        let mut r: ds_request = unsafe { std::mem::zeroed() };
        r.struct_size = std::mem::size_of::<ds_request>() as u32;
        r.file = file;
        r.file_offset = offset;
        r.source_size = size;
        r.destination_type = DS_DEST_GPU_BUFFER;
        r.gpu_buffer = memory.ptr();
        r.gpu_offset = at;
        r.destination_size = produced;
        r.flags = DS_REQUEST_KEEP_COMPLETION;
        if gdeflate {
            r.compression = DS_COMPRESSION_GDEFLATE;
            r.uncompressed_size = produced;
        }
        let mut id = 0;
        // SAFETY: the request names a registered device range.
        ok(unsafe { ds_queue_enqueue(q, &r, &mut id) }, "enqueue");
        id
    };
    let n = plain.len() as u64;
    let id1 = gpu_request(0, n, 0, n, false);
    let id2 = gpu_request(n, packed.len() as u64, 3 << 20, text.len() as u64, true);
    let id3 = gpu_request(0, 4096, SIZE as u64 - 100, 4096, false);
    let c1 = wait(q, id1);
    assert_eq!((c1.result, c1.bytes), (DS_OK, n));
    let c2 = wait(q, id2);
    assert_eq!((c2.result, c2.bytes), (DS_OK, text.len() as u64));
    assert_eq!(wait(q, id3).result, DS_ERR_BAD_GPU_BUFFER);

    let mut back = vec![0u8; SIZE];
    cuda.copy_from_device(&mut back, memory.ptr())
        .expect("copy back");
    assert!(
        back[..plain.len()] == plain[..],
        "uncompressed bytes differ"
    );
    let at = 3 << 20;
    assert!(
        back[at..at + text.len()] == text[..],
        "decoded bytes differ"
    );

    let mut removed = 0;
    // SAFETY: live queue.
    ok(
        unsafe { ds_queue_unregister_gpu_buffer(q, memory.ptr(), &mut removed) },
        "unregister",
    );
    assert_eq!(removed, 1);
    // SAFETY: live handle, released once.
    ok(unsafe { ds_file_release(file) }, "file release");
    // SAFETY: live handle, released once.
    ok(unsafe { ds_queue_release(q) }, "queue release");
    // SAFETY: live handle, released once.
    ok(unsafe { ds_backend_release(backend) }, "backend release");
    let _ = std::fs::remove_dir_all(dir);
}
