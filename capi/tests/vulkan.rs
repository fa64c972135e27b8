//! The Vulkan backend through the C ABI, on whatever Vulkan device the
//! machine has (lavapipe in CI): a device made here is handed over with
//! `DS_VULKAN_ADOPT` as Wine's D3D12-on-Vulkan layer would; GPU-buffer
//! requests (uncompressed from a file, GDeflate from memory) land in a
//! registered buffer and a readback matches; unregistered buffers and
//! ranges past the end fail without writing; the adopted device outlives
//! the backend; the validation layer reports nothing. A created device
//! decodes a stream on the GPU like the CPU decoder.
//!
//! No Vulkan device: "skipped", unless `DS_REQUIRE_ALL=1`.

#![allow(unsafe_code)]

use ds_gpu::vk::{self, Handle};
use ds_gpu::{ContextOptions, DecoderOptions, GpuBuffer, GpuDecoder, MemoryKind, VulkanContext};
use ds_runtime::backend::{ds_backend, ds_backend_release};
use ds_runtime::codec::ds_gdeflate_decompress;
use ds_runtime::file::{ds_file, ds_file_open, ds_file_release};
use ds_runtime::queue::*;
use ds_runtime::request::*;
use ds_runtime::result::*;
use ds_runtime::vulkan::*;
use std::ffi::{c_void, CString};
use std::ptr::{null, null_mut};
use std::sync::Arc;

fn require_all() -> bool {
    std::env::var("DS_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// A device with validation when the layer exists, else without.
fn device() -> Option<Arc<VulkanContext>> {
    let with = ContextOptions {
        validation: true,
        ..ContextOptions::default()
    };
    match VulkanContext::create(&with)
        .or_else(|_| VulkanContext::create(&ContextOptions::default()))
    {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            assert!(
                !require_all(),
                "a Vulkan device is required (DS_REQUIRE_ALL=1): {e}"
            );
            eprintln!("skipped: no Vulkan device ({e})");
            None
        }
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(u32::from(seed)) as u8
        })
        .collect()
}

fn ok(r: ds_result, what: &str) {
    assert_eq!(r, DS_OK, "{what}: {}", last_error());
}

fn last_error() -> String {
    let mut buf = vec![0u8; 1024];
    // SAFETY: 1024-byte buffer.
    unsafe { ds_runtime::ffi::ds_last_error_message(buf.as_mut_ptr().cast(), 1024, null_mut()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn request() -> ds_request {
    // SAFETY: all-zero is the documented default of every field.
    let mut r: ds_request = unsafe { std::mem::zeroed() };
    r.struct_size = std::mem::size_of::<ds_request>() as u32;
    r
}

fn wait(q: *mut ds_queue, id: u64) -> ds_completion {
    // SAFETY: all-zero completion with its size.
    let mut c: ds_completion = unsafe { std::mem::zeroed() };
    c.struct_size = std::mem::size_of::<ds_completion>() as u32;
    // SAFETY: live queue, valid out struct.
    ok(unsafe { ds_queue_wait(q, id, DS_INFINITE, &mut c) }, "wait");
    c
}

fn features_of(ctx: &VulkanContext) -> u32 {
    let caps = ctx.caps();
    let mut f = DS_VK_FEATURE_STORAGE_BUFFER_8BIT | DS_VK_FEATURE_TIMELINE_SEMAPHORE;
    if caps.buffer_device_address {
        f |= DS_VK_FEATURE_BUFFER_DEVICE_ADDRESS;
    }
    if caps.full_subgroups {
        f |= DS_VK_FEATURE_FULL_SUBGROUPS;
    }
    if caps.host_import_alignment.is_some() {
        f |= DS_VK_FEATURE_EXTERNAL_MEMORY_HOST;
    }
    match caps.memory_decompression {
        Some(ds_gpu::MemoryDecompressionExt::Nv) => f |= DS_VK_FEATURE_NV_MEMORY_DECOMPRESSION,
        Some(ds_gpu::MemoryDecompressionExt::Ext) => f |= DS_VK_FEATURE_EXT_MEMORY_DECOMPRESSION,
        None => {}
    }
    f
}

#[test]
fn adopted_device_receives_gpu_buffer_requests() {
    let Some(ctx) = device() else { return };
    let queue_handle = *ctx.lock_queue();
    // SAFETY: all-zero config with its size, then every adoption field.
    let mut cfg: ds_vulkan_backend_config = unsafe { std::mem::zeroed() };
    cfg.struct_size = std::mem::size_of::<ds_vulkan_backend_config>() as u32;
    cfg.flags = DS_VULKAN_ADOPT;
    cfg.worker_count = 2;
    cfg.queue_family_index = ctx.queue_family();
    cfg.api_version = ctx.caps().api_version;
    cfg.features = features_of(&ctx);
    // SAFETY: the loader's vkGetInstanceProcAddr has the C signature the
    // config declares (instance handle, name) -> nullable function.
    cfg.get_instance_proc_addr = unsafe {
        std::mem::transmute::<vk::PFN_vkGetInstanceProcAddr, Option<_>>(
            ctx.entry().static_fn().get_instance_proc_addr,
        )
    };
    cfg.instance = ctx.instance().handle().as_raw() as *mut c_void;
    cfg.physical_device = ctx.physical_device().as_raw() as *mut c_void;
    cfg.device = ctx.device().handle().as_raw() as *mut c_void;
    cfg.queue = queue_handle.as_raw() as *mut c_void;
    let mut backend: *mut ds_backend = null_mut();
    // SAFETY: the handles are live and made from each other; `ctx` outlives
    // the backend and its queues (released below).
    ok(
        unsafe { ds_make_vulkan_backend(&cfg, &mut backend) },
        "adopt",
    );
    let mut q: *mut ds_queue = null_mut();
    // SAFETY: live backend, default config.
    ok(unsafe { ds_queue_create(backend, null(), &mut q) }, "queue");

    // SAFETY: all-zero info with its size.
    let mut info: ds_queue_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<ds_queue_info>() as u32;
    // SAFETY: live queue, valid out struct.
    ok(unsafe { ds_queue_query(q, &mut info) }, "query");
    let execs: Vec<u8> = info
        .executors
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    assert_eq!(String::from_utf8_lossy(&execs), "pread,vulkan");
    let mut flags = 0;
    // SAFETY: live queue.
    ok(
        unsafe { ds_queue_compression_support(q, DS_COMPRESSION_GDEFLATE, &mut flags) },
        "support",
    );
    assert_eq!(
        flags,
        DS_COMPRESSION_SUPPORT_GPU_FALLBACK | DS_COMPRESSION_SUPPORT_USES_COMPUTE_QUEUE,
        "GDeflate into GPU buffers is decoded by the compute shader"
    );

    // The destination: a device-local buffer of the embedder's device.
    const SIZE: u64 = 1 << 20;
    let dst = GpuBuffer::new(&ctx, SIZE, MemoryKind::DeviceLocal).expect("buffer");
    let handle = dst.handle().as_raw();
    // SAFETY: a live buffer of this device with TRANSFER_DST | STORAGE_BUFFER usage and SIZE
    // bytes.
    ok(
        unsafe { ds_queue_register_gpu_buffer(q, handle, SIZE) },
        "register",
    );
    // SAFETY: as above.
    let twice = unsafe { ds_queue_register_gpu_buffer(q, handle, SIZE) };
    assert_eq!(twice, DS_ERR_INVALID_ARGUMENT);

    // Uncompressed, from a file, at offset 0 (spans several staging chunks).
    let plain = pattern(300_000, 3);
    let dir = std::env::temp_dir().join(format!("ds-capi-vk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("asset.bin");
    std::fs::write(&path, &plain).expect("write asset");
    let cpath = CString::new(path.to_string_lossy().as_bytes()).expect("path");
    let mut file: *mut ds_file = null_mut();
    // SAFETY: NUL-terminated path, valid out pointer.
    ok(unsafe { ds_file_open(cpath.as_ptr(), &mut file) }, "open");
    let mut r = request();
    r.file = file;
    r.source_size = plain.len() as u64;
    r.destination_type = DS_DEST_GPU_BUFFER;
    r.gpu_buffer = handle;
    r.destination_size = plain.len() as u64;
    r.flags = DS_REQUEST_KEEP_COMPLETION;
    let mut id1 = 0;
    // SAFETY: the request's pointers are live until it is collected.
    ok(unsafe { ds_queue_enqueue(q, &r, &mut id1) }, "enqueue file");

    // GDeflate, from memory, at 512 KiB.
    let text: Vec<u8> = b"vertex buffer, index buffer, texture tile; "
        .iter()
        .cycle()
        .take(200_000)
        .copied()
        .collect();
    let packed = ds_gdeflate::encode::compress(&text, 6).expect("compress");
    let mut g = request();
    g.source_type = DS_SOURCE_MEMORY;
    g.source = packed.as_ptr().cast();
    g.source_size = packed.len() as u64;
    g.compression = DS_COMPRESSION_GDEFLATE;
    g.uncompressed_size = text.len() as u64;
    g.destination_type = DS_DEST_GPU_BUFFER;
    g.gpu_buffer = handle;
    g.gpu_offset = 512 << 10;
    g.destination_size = text.len() as u64;
    g.flags = DS_REQUEST_KEEP_COMPLETION;
    let mut id2 = 0;
    // SAFETY: `packed` outlives the request (collected below).
    ok(
        unsafe { ds_queue_enqueue(q, &g, &mut id2) },
        "enqueue gdeflate",
    );

    // Past the end, and into a buffer nobody registered: refused when run.
    let mut past = g;
    past.gpu_offset = SIZE - 1000;
    let mut id3 = 0;
    // SAFETY: as above.
    ok(
        unsafe { ds_queue_enqueue(q, &past, &mut id3) },
        "enqueue past end",
    );
    let mut stranger = g;
    stranger.gpu_buffer = handle ^ 0x10;
    let mut id4 = 0;
    // SAFETY: as above.
    ok(
        unsafe { ds_queue_enqueue(q, &stranger, &mut id4) },
        "enqueue unknown buffer",
    );

    let c1 = wait(q, id1);
    assert_eq!(
        (c1.result, c1.bytes),
        (DS_OK, plain.len() as u64),
        "{}",
        last_error()
    );
    let c2 = wait(q, id2);
    assert_eq!(
        (c2.result, c2.bytes),
        (DS_OK, text.len() as u64),
        "{}",
        last_error()
    );
    assert_eq!(wait(q, id3).result, DS_ERR_BAD_GPU_BUFFER);
    assert_eq!(wait(q, id4).result, DS_ERR_BAD_GPU_BUFFER);

    let reader = GpuDecoder::new(&ctx, DecoderOptions::default()).expect("decoder");
    let got = reader.download(&dst, 0, SIZE).expect("readback");
    assert!(got[..plain.len()] == plain[..], "uncompressed bytes differ");
    let at = 512 << 10;
    assert!(got[at..at + text.len()] == text[..], "decoded bytes differ");

    // The GPU decoder of the backend agrees with the CPU one.
    let mut on_gpu = vec![0u8; text.len()];
    let mut on_cpu = vec![0u8; text.len()];
    let (mut n_gpu, mut n_cpu) = (0, 0);
    // SAFETY: buffers of the given sizes.
    ok(
        unsafe {
            ds_gdeflate_decompress_gpu(
                backend,
                packed.as_ptr(),
                packed.len() as u64,
                on_gpu.as_mut_ptr(),
                on_gpu.len() as u64,
                &mut n_gpu,
            )
        },
        "GPU decode",
    );
    // SAFETY: as above.
    ok(
        unsafe {
            ds_gdeflate_decompress(
                packed.as_ptr(),
                packed.len() as u64,
                on_cpu.as_mut_ptr(),
                on_cpu.len() as u64,
                1,
                &mut n_cpu,
            )
        },
        "CPU decode",
    );
    assert_eq!(n_gpu, n_cpu);
    assert!(on_gpu == on_cpu && on_cpu == text);

    let mut removed = 0;
    // SAFETY: live queue.
    ok(
        unsafe { ds_queue_unregister_gpu_buffer(q, handle, &mut removed) },
        "unregister",
    );
    assert_eq!(removed, 1);
    // SAFETY: live handle, released once.
    ok(unsafe { ds_file_release(file) }, "file release");
    // SAFETY: live handle, released once.
    ok(unsafe { ds_queue_release(q) }, "queue release");
    // SAFETY: live handle, released once.
    ok(unsafe { ds_backend_release(backend) }, "backend release");
    // The adopted device was not destroyed: it still works.
    let again = GpuBuffer::new(&ctx, 4096, MemoryKind::DeviceLocal).expect("device still usable");
    reader
        .upload_to(&again, 0, &[7u8; 16])
        .expect("upload after release");
    assert_eq!(
        reader.download(&again, 0, 16).expect("readback"),
        vec![7u8; 16]
    );
    drop((again, dst, reader));
    let messages = ctx.validation_messages();
    assert!(messages.is_empty(), "validation: {messages:#?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn created_device_decodes_on_the_gpu() {
    if device().is_none() {
        return;
    }
    let mut backend: *mut ds_backend = null_mut();
    // SAFETY: NULL config: create a device with defaults.
    ok(
        unsafe { ds_make_vulkan_backend(null(), &mut backend) },
        "create",
    );
    let data = pattern(150_000, 9);
    let packed = ds_gdeflate::encode::compress(&data, 1).expect("compress");
    let mut out = vec![0u8; data.len()];
    let mut n = 0;
    // SAFETY: buffers of the given sizes.
    ok(
        unsafe {
            ds_gdeflate_decompress_gpu(
                backend,
                packed.as_ptr(),
                packed.len() as u64,
                out.as_mut_ptr(),
                out.len() as u64,
                &mut n,
            )
        },
        "GPU decode",
    );
    assert_eq!(n, data.len() as u64);
    assert!(out == data);
    // Too small an output buffer is refused before any GPU work.
    // SAFETY: as above, with a smaller size.
    let r = unsafe {
        ds_gdeflate_decompress_gpu(
            backend,
            packed.as_ptr(),
            packed.len() as u64,
            out.as_mut_ptr(),
            100,
            &mut n,
        )
    };
    assert_eq!(r, DS_ERR_BUFFER_TOO_SMALL);
    // A queue of a created device starts and stops its GPU executor.
    let mut q: *mut ds_queue = null_mut();
    // SAFETY: live backend.
    ok(unsafe { ds_queue_create(backend, null(), &mut q) }, "queue");
    // SAFETY: live handle, released once.
    ok(unsafe { ds_queue_release(q) }, "queue release");
    // SAFETY: live handle, released once.
    ok(unsafe { ds_backend_release(backend) }, "backend release");
    // A bad adoption config is refused without touching anything.
    // SAFETY: all-zero config with its size and the adopt flag.
    let mut cfg: ds_vulkan_backend_config = unsafe { std::mem::zeroed() };
    cfg.struct_size = std::mem::size_of::<ds_vulkan_backend_config>() as u32;
    cfg.flags = DS_VULKAN_ADOPT;
    let mut b2: *mut ds_backend = null_mut();
    // SAFETY: the handles are checked for NULL before any use.
    let refused = unsafe { ds_make_vulkan_backend(&cfg, &mut b2) };
    assert_eq!(refused, DS_ERR_NULL_ARGUMENT);
    assert!(b2.is_null());
}
