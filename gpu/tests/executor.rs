//! The Vulkan executor through the request queue, on whatever Vulkan device there is (lavapipe in
//! CI) with the validation layer on: files (uncompressed and GDeflate) and memory sources land in
//! GPU buffers on every route the device supports, checked by reading the buffers back and
//! comparing SHA-256 with the originals; batching; bad requests; cancellation of requests
//! waiting for a slot and of requests in flight (poisoned destinations read back); no leaked
//! Vulkan object at shutdown (the validation layer's object tracker reports at vkDestroyDevice);
//! memory export as an opaque fd (the GPUDirect Storage route's building block).
#![allow(unsafe_code)]
#![allow(clippy::multiple_unsafe_ops_per_block)]

mod common;

use common::{bytes, sha, TempDir};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ash::vk::Handle;
use ds_gpu::executor::{ExecutorConfig, ExecutorStats, GpuExecutor, Route, RouteChoice};
use ds_gpu::{vk, CommandPool, GpuBuffer, GpuError, MemoryKind, TimelineSemaphore, VulkanContext};
use ds_os_linux::{
    Backend, EntryStatus, Fence, FileRef, Outcome, Queue, Request, RequestErrorKind, StatusArray,
};

/// Slot size in these tests: small, so large requests span several batches.
const SLOT: u64 = 256 << 10;

/// Copies `len` bytes of `src` at `offset` back to the host (a plain transfer, no pipeline).
fn readback(ctx: &Arc<VulkanContext>, src: vk::Buffer, offset: u64, len: u64) -> Vec<u8> {
    let host = GpuBuffer::new(ctx, len.max(4), MemoryKind::Readback).expect("readback buffer");
    let pool = CommandPool::new(ctx).expect("pool");
    let tl = TimelineSemaphore::new(ctx, 0).expect("timeline");
    pool.run_and_wait(&tl, 1, |cmd| {
        let region = vk::BufferCopy::default()
            .src_offset(offset)
            .dst_offset(0)
            .size(len);
        // SAFETY: recording buffer; both buffers alive until run_and_wait returns.
        unsafe {
            // The executor's writes (copies, decode dispatches, the driver's decompression) are
            // ordered before this read by a barrier, as ExecutorConfig::overlap_batches asks of
            // consumers on the same queue.
            ds_gpu::decode::record_buffer_barrier(
                ctx,
                cmd,
                (
                    vk::PipelineStageFlags::ALL_COMMANDS,
                    vk::AccessFlags::MEMORY_WRITE,
                ),
                (
                    vk::PipelineStageFlags::TRANSFER,
                    vk::AccessFlags::TRANSFER_READ,
                ),
            );
            ctx.device()
                .cmd_copy_buffer(cmd, src, host.handle(), &[region]);
            ds_gpu::decode::record_buffer_barrier(
                ctx,
                cmd,
                (
                    vk::PipelineStageFlags::TRANSFER,
                    vk::AccessFlags::TRANSFER_WRITE,
                ),
                (vk::PipelineStageFlags::HOST, vk::AccessFlags::HOST_READ),
            );
        }
        Ok(())
    })
    .expect("readback");
    host.invalidate(0, len).expect("invalidate");
    host.mapped().expect("mapped")[..len as usize].to_vec()
}

/// Fills a buffer with `byte` (poison).
fn fill(ctx: &Arc<VulkanContext>, dst: vk::Buffer, size: u64, byte: u8) {
    let pool = CommandPool::new(ctx).expect("pool");
    let tl = TimelineSemaphore::new(ctx, 0).expect("timeline");
    pool.run_and_wait(&tl, 1, |cmd| {
        // SAFETY: recording buffer; `dst` alive; size is a multiple of 4 (callers).
        unsafe {
            ctx.device()
                .cmd_fill_buffer(cmd, dst, 0, size, u32::from_ne_bytes([byte; 4]));
            ds_gpu::decode::record_buffer_barrier(
                ctx,
                cmd,
                (
                    vk::PipelineStageFlags::TRANSFER,
                    vk::AccessFlags::TRANSFER_WRITE,
                ),
                (
                    vk::PipelineStageFlags::ALL_COMMANDS,
                    vk::AccessFlags::MEMORY_READ | vk::AccessFlags::MEMORY_WRITE,
                ),
            );
        }
        Ok(())
    })
    .expect("fill");
}

fn queue_with(exec: GpuExecutor) -> Queue {
    Queue::builder()
        .backend(Backend::None)
        .staging_limit(SLOT)
        .executor(Box::new(exec))
        .build()
        .expect("queue")
}

fn config(route: Route) -> ExecutorConfig {
    ExecutorConfig {
        route: RouteChoice::Force(route),
        staging_size: SLOT,
        staging_buffers: 2,
        ..ExecutorConfig::default()
    }
}

/// One file of the load test: its bytes, whether it is stored GDeflate-compressed, and where
/// its output goes.
struct Case {
    data: Vec<u8>,
    gdeflate: bool,
    buffer: usize,
    offset: u64,
}

fn cases() -> Vec<Case> {
    vec![
        // Uncompressed: one byte, an odd size at an odd offset, and one spanning three slots.
        Case {
            data: bytes(1, 1, false),
            gdeflate: false,
            buffer: 0,
            offset: 0,
        },
        Case {
            data: bytes(4097, 2, false),
            gdeflate: false,
            buffer: 0,
            offset: 4099,
        },
        Case {
            data: bytes(700 << 10, 3, false),
            gdeflate: false,
            buffer: 1,
            offset: 3,
        },
        // GDeflate: text over three tiles at an odd offset, zeros, noise (stored blocks).
        Case {
            data: bytes(150_000, 4, true),
            gdeflate: true,
            buffer: 0,
            offset: 20_001,
        },
        Case {
            data: vec![0u8; 65536],
            gdeflate: true,
            buffer: 1,
            offset: 1 << 20,
        },
        Case {
            data: bytes(70_000, 5, false),
            gdeflate: true,
            buffer: 0,
            offset: 200_000,
        },
    ]
}

/// Loads every case into two device-local buffers through `exec`, plus one memory-source request
/// each way, and checks the readbacks. Returns the executor's counters.
fn load_and_check(ctx: &Arc<VulkanContext>, exec: GpuExecutor) -> Arc<ExecutorStats> {
    let dir = TempDir::new(&format!("load-{}", exec.route()));
    let stats = exec.stats();
    let reg = exec.buffers();
    let bufs: Vec<Arc<GpuBuffer>> = (0..2)
        .map(|_| Arc::new(GpuBuffer::new(ctx, 2 << 20, MemoryKind::DeviceLocal).expect("dst")))
        .collect();
    let handles: Vec<u64> = bufs
        .iter()
        .map(|b| reg.register(b).expect("register"))
        .collect();
    let queue = queue_with(exec);
    let mut ids = Vec::new();
    let mut expect = Vec::new();
    for (i, c) in cases().iter().enumerate() {
        let stored = if c.gdeflate {
            ds_gdeflate::encode::compress(&c.data, 6).expect("compress")
        } else {
            c.data.clone()
        };
        let path = dir.write(&format!("case{i}"), &stored);
        let file = FileRef::open(&path).expect("open");
        let mut r = Request::read(&file, 0, stored.len() as u64);
        if c.gdeflate {
            r = r.gdeflate(c.data.len() as u64);
        }
        r = r.into_gpu_buffer(handles[c.buffer], c.offset, c.data.len() as u64);
        ids.push(queue.enqueue(r).expect("enqueue"));
        expect.push((c.buffer, c.offset, sha(&c.data), c.data.len() as u64));
    }
    // Memory sources: raw bytes and a GDeflate stream.
    let raw: Arc<[u8]> = bytes(33_333, 6, true).into();
    let packed: Arc<[u8]> = ds_gdeflate::encode::compress(&raw, 3)
        .expect("compress")
        .into();
    ids.push(
        queue
            .enqueue(
                Request::read_memory(raw.clone()).into_gpu_buffer(handles[1], 1_600_000, 33_333),
            )
            .expect("enqueue"),
    );
    expect.push((1, 1_600_000, sha(&raw), 33_333));
    ids.push(
        queue
            .enqueue(
                Request::read_memory(packed)
                    .gdeflate(33_333)
                    .into_gpu_buffer(handles[0], 1_700_001, 33_333),
            )
            .expect("enqueue"),
    );
    expect.push((0, 1_700_001, sha(&raw), 33_333));
    // Ordering commands see the GPU requests end: a status entry and a fence after them.
    let status = StatusArray::new(1);
    let fence = Fence::new(0);
    queue.enqueue_status(&status, 0).expect("status");
    queue.enqueue_signal(&fence, 7).expect("fence");
    queue.submit();
    assert!(
        fence.wait(7, Some(Duration::from_secs(600))),
        "fence after GPU requests"
    );
    assert!(status.is_complete(0));
    assert_eq!(status.get(0), Some(EntryStatus::Complete));
    for (id, (b, off, digest, len)) in ids.into_iter().zip(expect) {
        let done = queue
            .wait(id, Some(Duration::from_secs(600)))
            .expect("wait");
        assert_eq!(done.result(), Ok(len), "{done:?}");
        let back = readback(ctx, bufs[b].handle(), off, len);
        assert_eq!(sha(&back), digest, "buffer {b} at {off}: readback differs");
    }
    drop(queue);
    stats
}

fn supported(ctx: &Arc<VulkanContext>, route: Route) -> Option<GpuExecutor> {
    match GpuExecutor::new(ctx, config(route)) {
        Ok(e) => Some(e),
        Err(GpuError::Missing(why)) => {
            println!("skipped: route {route} not supported here: {why}");
            None
        }
        Err(e) => panic!("route {route}: {e}"),
    }
}

#[test]
fn every_route_loads_files_into_gpu_buffers() {
    let Some(ctx) = common::context() else { return };
    let mut ran = 0;
    for route in [Route::Staging, Route::HostImport, Route::UploadHeap] {
        let Some(exec) = supported(&ctx, route) else {
            continue;
        };
        if route == Route::Staging {
            // Batches serialized by queue-wide barriers (overlap_batches off) load the same.
            let serial = GpuExecutor::new(
                &ctx,
                ExecutorConfig {
                    overlap_batches: false,
                    ..config(route)
                },
            )
            .expect("executor");
            load_and_check(&ctx, serial);
        }
        assert_eq!(exec.route(), route);
        let stats = load_and_check(&ctx, exec);
        let get = ExecutorStats::get;
        let submissions = get(&stats.submissions);
        assert!(submissions >= 1);
        // 8 requests, one over three slots: batching puts several requests in one submission.
        assert!(
            submissions < get(&stats.batched_segments),
            "{route}: {submissions} submissions for {} segments",
            get(&stats.batched_segments)
        );
        assert!(get(&stats.shader_tiles) + get(&stats.driver_tiles) >= 7);
        println!(
            "{route}: {submissions} submissions, {} segments, {} direct reads, io_uring {}, fixed buffers {}",
            get(&stats.batched_segments),
            get(&stats.direct_reads),
            stats.io_uring.load(Ordering::Relaxed),
            stats.fixed_buffers.load(Ordering::Relaxed)
        );
        ran += 1;
    }
    // lavapipe has host-visible device-local memory and host import: all three routes run there.
    if std::env::var("DS_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        assert_eq!(ran, 3, "every route should run on the CI device");
    }
    common::assert_clean(&ctx);
}

#[test]
fn upload_heap_reads_straight_into_mapped_destinations() {
    let Some(ctx) = common::context() else { return };
    let Some(exec) = supported(&ctx, Route::UploadHeap) else {
        return;
    };
    let stats = exec.stats();
    let reg = exec.buffers();
    let dst = Arc::new(GpuBuffer::new(&ctx, 1 << 20, MemoryKind::UploadDeviceLocal).expect("dst"));
    assert!(dst.is_device_local() && dst.mapped_ptr().is_some());
    let h = reg.register(&dst).expect("register");
    let dir = TempDir::new("direct");
    let data = bytes(300_001, 9, false);
    let file = FileRef::open(dir.write("f", &data)).expect("open");
    let queue = queue_with(exec);
    let id = queue
        .enqueue(Request::read(&file, 0, data.len() as u64).into_gpu_buffer(
            h,
            5,
            data.len() as u64,
        ))
        .expect("enqueue");
    assert_eq!(
        queue.wait(id, None).expect("wait").result(),
        Ok(data.len() as u64)
    );
    drop(queue);
    assert_eq!(ExecutorStats::get(&stats.direct_reads), 1);
    assert_eq!(
        ExecutorStats::get(&stats.submissions),
        0,
        "no GPU copy was needed"
    );
    assert_eq!(
        sha(&readback(&ctx, dst.handle(), 5, data.len() as u64)),
        sha(&data)
    );
    common::assert_clean(&ctx);
}

#[test]
fn bad_requests_fail_with_context() {
    let Some(ctx) = common::context() else { return };
    // As on a device with the driver's decoder (the H100): the default policy still decodes with
    // the validating shader, so the corrupt tile below is reported.
    let exec = GpuExecutor::new(
        &ctx,
        ExecutorConfig {
            emulate_driver_path: true,
            ..config(Route::Staging)
        },
    )
    .expect("executor");
    assert!(!exec.uses_driver_decompression());
    let reg = exec.buffers();
    let dst = Arc::new(GpuBuffer::new(&ctx, 131072, MemoryKind::DeviceLocal).expect("dst"));
    let h = reg.register(&dst).expect("register");
    assert!(reg.register(&dst).is_err(), "double registration refused");
    let dir = TempDir::new("bad");
    let data = bytes(70_000, 11, true);
    let packed = ds_gdeflate::encode::compress(&data, 6).expect("compress");
    // Tile 1 starts with block type 3 on lane 0: a decode error the shader must report.
    let mut corrupt = packed.clone();
    let at = ds_gdeflate::TileStream::parse(&packed)
        .expect("parse")
        .tile_offset_in_input(1);
    corrupt[at..at + 4].copy_from_slice(&[0xFF; 4]);
    let f_ok = FileRef::open(dir.write("ok", &data[..1000])).expect("open");
    let f_corrupt = FileRef::open(dir.write("corrupt", &corrupt)).expect("open");
    let f_packed = FileRef::open(dir.write("packed", &packed)).expect("open");
    let queue = queue_with(exec);
    let run = |r: Request| {
        let id = queue.enqueue(r).expect("enqueue");
        queue.wait(id, None).expect("wait").outcome
    };
    let kind = |o: Outcome| match o {
        Outcome::Failed(e) => e.kind,
        other => panic!("expected a failure, got {other:?}"),
    };
    assert_eq!(
        kind(run(
            Request::read(&f_ok, 0, 16).into_gpu_buffer(0x1234, 0, 16)
        )),
        RequestErrorKind::BadGpuBuffer {
            buffer: 0x1234,
            registered: None
        }
    );
    assert_eq!(
        kind(run(
            Request::read(&f_ok, 0, 16).into_gpu_buffer(h, 131070, 16)
        )),
        RequestErrorKind::BadGpuBuffer {
            buffer: h,
            registered: Some(131072)
        }
    );
    assert!(matches!(
        kind(run(
            Request::read(&f_ok, 0, 2000).into_gpu_buffer(h, 0, 2000)
        )),
        RequestErrorKind::EndOfFile {
            available: 1000,
            ..
        }
    ));
    assert!(matches!(
        kind(run(Request::read(&f_packed, 0, packed.len() as u64)
            .gdeflate(60_000)
            .into_gpu_buffer(h, 0, 65536))),
        RequestErrorKind::SizeMismatch {
            stream: 70_000,
            declared: 60_000
        }
    ));
    // Corrupt payload: the decoder reports the tile (the container itself parses).
    let o = run(Request::read(&f_corrupt, 0, corrupt.len() as u64)
        .gdeflate(70_000)
        .into_gpu_buffer(reg.get(h).expect("entry").handle(), 0, 70_000));
    match kind(o) {
        RequestErrorKind::Corrupt { message } => {
            assert!(
                message.contains("tile 1") && message.contains("block type 3"),
                "{message}"
            )
        }
        other => panic!("corrupt stream: {other:?}"),
    }
    // Unregistered buffers refuse new requests.
    assert!(reg.unregister(h));
    assert!(!reg.unregister(h));
    assert_eq!(
        kind(run(Request::read(&f_ok, 0, 16).into_gpu_buffer(h, 0, 16))),
        RequestErrorKind::BadGpuBuffer {
            buffer: h,
            registered: None
        }
    );
    drop(queue);
    common::assert_clean(&ctx);
}

/// The decode-path policy where the driver's decoder exists (emulated on devices without it, the
/// device's own on the H100): untrusted content (the default) never reaches it, so corruption is
/// reported; trusted content goes to it, except a request it cannot take (destination off a
/// 4-byte boundary), which the shader decodes instead of failing; and a corrupt tile of trusted
/// content completes, undetected: the trade-off docs/gpu.md states.
#[test]
fn driver_path_only_for_trusted_content_with_alignment_fallback() {
    let Some(ctx) = common::context() else { return };
    let dir = TempDir::new("policy");
    let data = bytes(150_000, 21, true);
    let packed = ds_gdeflate::encode::compress(&data, 6).expect("compress");
    let mut corrupt = packed.clone();
    let at = ds_gdeflate::TileStream::parse(&packed)
        .expect("parse")
        .tile_offset_in_input(1);
    corrupt[at..at + 4].copy_from_slice(&[0xFF; 4]);
    let f_packed = FileRef::open(dir.write("packed", &packed)).expect("open");
    let f_corrupt = FileRef::open(dir.write("corrupt", &corrupt)).expect("open");
    let tiles = data.len().div_ceil(65536) as u64;
    for trusted in [false, true] {
        let exec = GpuExecutor::new(
            &ctx,
            ExecutorConfig {
                trusted_content: trusted,
                emulate_driver_path: true,
                ..config(Route::Staging)
            },
        )
        .expect("executor");
        assert_eq!(exec.uses_driver_decompression(), trusted);
        let stats = exec.stats();
        let reg = exec.buffers();
        let dst = Arc::new(GpuBuffer::new(&ctx, 1 << 20, MemoryKind::DeviceLocal).expect("dst"));
        let h = reg.register(&dst).expect("register");
        let queue = queue_with(exec);
        let run = |f: &FileRef, len: usize, offset: u64| {
            let id = queue
                .enqueue(
                    Request::read(f, 0, len as u64)
                        .gdeflate(data.len() as u64)
                        .into_gpu_buffer(h, offset, data.len() as u64),
                )
                .expect("enqueue");
            queue.wait(id, None).expect("wait").outcome
        };
        // Aligned and unaligned destinations both land, byte-exact.
        for offset in [0u64, 300_001] {
            let o = run(&f_packed, packed.len(), offset);
            assert_eq!(
                o,
                Outcome::Complete {
                    bytes: data.len() as u64
                },
                "trusted {trusted}, offset {offset}"
            );
            assert_eq!(
                sha(&readback(&ctx, dst.handle(), offset, data.len() as u64)),
                sha(&data),
                "trusted {trusted}, offset {offset}"
            );
        }
        let o = run(&f_corrupt, corrupt.len(), 600_000);
        drop(queue);
        let get = ExecutorStats::get;
        if trusted {
            assert_eq!(
                o,
                Outcome::Complete {
                    bytes: data.len() as u64
                },
                "the driver path reports nothing per tile"
            );
            assert_eq!(get(&stats.driver_tiles), 2 * tiles, "aligned + corrupt");
            assert_eq!(get(&stats.driver_fallbacks), 1, "the unaligned destination");
            assert_eq!(get(&stats.shader_tiles), tiles);
        } else {
            match o {
                Outcome::Failed(e) => assert!(
                    matches!(&e.kind, RequestErrorKind::Corrupt { message } if message.contains("tile 1")),
                    "{e:?}"
                ),
                other => panic!("untrusted corrupt stream: {other:?}"),
            }
            assert_eq!(get(&stats.driver_tiles), 0);
            assert_eq!(get(&stats.driver_fallbacks), 0);
            assert_eq!(get(&stats.shader_tiles), 3 * tiles);
        }
    }
    common::assert_clean(&ctx);
}

/// Requests that wait for a slot, and requests whose batch is on the GPU, are strongly cancelled;
/// a cancelled request's destination is never written after `cancel_request` returned true, its
/// callback never runs, and the others complete.
#[test]
fn cancel_pending_and_in_flight_gpu_requests() {
    let Some(ctx) = common::context() else { return };
    let mut cfg = config(Route::Staging);
    cfg.staging_buffers = 1;
    let exec = GpuExecutor::new(&ctx, cfg).expect("executor");
    let stats = exec.stats();
    let reg = exec.buffers();
    const N: usize = 12;
    const SPAN: u64 = 192 << 10;
    let dst =
        Arc::new(GpuBuffer::new(&ctx, SPAN * N as u64, MemoryKind::DeviceLocal).expect("dst"));
    fill(&ctx, dst.handle(), SPAN * N as u64, 0xAB);
    let h = reg.register(&dst).expect("register");
    let dir = TempDir::new("cancel");
    // Each request is ~180 KB of incompressible data (stored GDeflate blocks): one request per
    // 256 KiB slot, and a single slot, so while one batch is on the GPU the later requests wait
    // in the executor for the slot.
    let data = bytes(180_000, 13, false);
    let packed = ds_gdeflate::encode::compress(&data, 6).expect("compress");
    let file = FileRef::open(dir.write("p", &packed)).expect("open");
    let queue = queue_with(exec);
    let callbacks = Arc::new(AtomicUsize::new(0));
    let mut ids = Vec::new();
    for i in 0..N {
        let cb = callbacks.clone();
        let r = Request::read(&file, 0, packed.len() as u64)
            .gdeflate(data.len() as u64)
            .into_gpu_buffer(h, i as u64 * SPAN, data.len() as u64)
            .on_complete(move |c| {
                assert!(c.result().is_ok(), "{c:?}");
                cb.fetch_add(1, Ordering::SeqCst);
            });
        ids.push(queue.enqueue(r).expect("enqueue"));
    }
    queue.submit();
    // Once the first request completed, cancel every other request, newest first (most of them
    // still wait for the slot; one may be on the GPU), snapshotting each destination right after
    // a successful cancel.
    let t0 = std::time::Instant::now();
    while callbacks.load(Ordering::SeqCst) == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "first request never completed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut cancelled = Vec::new();
    for i in (1..N).rev().step_by(2) {
        if queue.cancel_request(ids[i]) {
            let snap = readback(&ctx, dst.handle(), i as u64 * SPAN, data.len() as u64);
            cancelled.push((i, snap));
        }
    }
    assert!(!cancelled.is_empty());
    queue
        .wait_all(Some(Duration::from_secs(600)))
        .expect("wait_all");
    let done = callbacks.load(Ordering::SeqCst);
    assert_eq!(
        done,
        N - cancelled.len(),
        "callbacks of uncancelled requests only"
    );
    let mut untouched = 0;
    for (i, snap) in &cancelled {
        let now = readback(&ctx, dst.handle(), *i as u64 * SPAN, data.len() as u64);
        assert_eq!(
            sha(&now),
            sha(snap),
            "request {i} written after its cancel returned true"
        );
        if now.iter().all(|&b| b == 0xAB) {
            untouched += 1;
        }
    }
    println!(
        "{} cancelled: {untouched} before their batch was recorded, {} while on the GPU or after",
        cancelled.len(),
        cancelled.len() - untouched
    );
    // Requests cancelled while waiting for the slot were never recorded: their ranges still hold
    // the poison.
    assert!(
        untouched > 0,
        "no cancelled request was left out of a submission"
    );
    assert!(ExecutorStats::get(&stats.dropped_cancelled) > 0);
    for i in (0..N).filter(|i| !cancelled.iter().any(|c| c.0 == *i)) {
        let back = readback(&ctx, dst.handle(), i as u64 * SPAN, data.len() as u64);
        assert_eq!(sha(&back), sha(&data), "request {i}");
    }
    drop(queue);
    common::assert_clean(&ctx);
}

/// A strong cancel of a request whose command buffer is on the GPU waits for that submission
/// (the write bracket closes at its timeline value): it returns true, the request ends Cancelled
/// without its callback, and its destination does not change after the cancel returned.
#[test]
fn strong_cancel_waits_for_the_submission_in_flight() {
    let Some(ctx) = common::context() else { return };
    let mut cfg = config(Route::Staging);
    cfg.decode = ds_gpu::DecodePath::Shader;
    let exec = GpuExecutor::new(&ctx, cfg).expect("executor");
    let stats = exec.stats();
    let reg = exec.buffers();
    let data = bytes(250_000, 17, true);
    let packed = ds_gdeflate::encode::compress(&data, 9).expect("compress");
    let dst = Arc::new(GpuBuffer::new(&ctx, 262_144, MemoryKind::DeviceLocal).expect("dst"));
    fill(&ctx, dst.handle(), 262_144, 0xCD);
    let h = reg.register(&dst).expect("register");
    let dir = TempDir::new("inflight");
    let file = FileRef::open(dir.write("p", &packed)).expect("open");
    let queue = queue_with(exec);
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let id = queue
        .enqueue(
            Request::read(&file, 0, packed.len() as u64)
                .gdeflate(data.len() as u64)
                .into_gpu_buffer(h, 0, data.len() as u64)
                .on_complete(move |_| {
                    r2.fetch_add(1, Ordering::SeqCst);
                }),
        )
        .expect("enqueue");
    queue.submit();
    let t0 = std::time::Instant::now();
    while ExecutorStats::get(&stats.submissions) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(300), "never submitted");
        std::thread::yield_now();
    }
    let t1 = std::time::Instant::now();
    let cancelled = queue.cancel_request(id);
    let waited = t1.elapsed();
    queue.wait_all(None).expect("wait_all");
    if cancelled {
        let snap = readback(&ctx, dst.handle(), 0, data.len() as u64);
        std::thread::sleep(Duration::from_millis(20));
        let again = readback(&ctx, dst.handle(), 0, data.len() as u64);
        assert_eq!(sha(&snap), sha(&again));
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "callback of a cancelled request ran"
        );
        assert_eq!(queue.stats().cancelled, 1);
        println!("in-flight cancel returned true after waiting {waited:?} for the submission");
    } else {
        // The GPU finished before the cancel (fast devices): the request completed normally.
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(
            sha(&readback(&ctx, dst.handle(), 0, data.len() as u64)),
            sha(&data)
        );
        println!("the submission completed before the cancel: nothing to wait for");
    }
    drop(queue);
    common::assert_clean(&ctx);
}

/// The object tracker of the validation layer reports objects left alive at vkDestroyDevice; a
/// deliberately leaked buffer must show up there, and a full executor run must leave nothing.
#[test]
fn shutdown_leaks_no_vulkan_object() {
    let Some(ctx) = common::context() else { return };
    let log = ctx.validation_log().expect("validation log");
    let exec = GpuExecutor::new(&ctx, config(Route::Staging)).expect("executor");
    load_and_check(&ctx, exec);
    drop(ctx);
    let msgs = log.messages();
    assert!(
        msgs.is_empty(),
        "messages at shutdown:\n{}",
        msgs.join("\n")
    );

    // The detector itself: a raw buffer never destroyed is reported when the device goes.
    let Some(ctx) = common::context() else { return };
    let log = ctx.validation_log().expect("validation log");
    let info = vk::BufferCreateInfo::default()
        .size(256)
        .usage(vk::BufferUsageFlags::TRANSFER_DST)
        .sharing_mode(vk::SharingMode::EXCLUSIVE);
    // SAFETY: valid device and create info; the buffer is leaked on purpose.
    let leaked = unsafe { ctx.device().create_buffer(&info, None) }.expect("buffer");
    drop(ctx);
    let msgs = log.messages();
    let handle = format!("{:x}", leaked.as_raw());
    assert!(
        msgs.iter()
            .any(|m| m.contains("has not been destroyed") || m.to_lowercase().contains(&handle)),
        "leak not reported: {msgs:?}"
    );
}

#[test]
fn exported_memory_fd_imports_back() {
    let Some(ctx) = common::context() else { return };
    if !ctx.caps().external_memory_fd {
        println!(
            "skipped: no VK_KHR_external_memory_fd on {}",
            ctx.caps().device_name
        );
        return;
    }
    let a = GpuBuffer::new_exportable(&ctx, 65536).expect("exportable");
    assert!(a.is_exportable() && a.allocation_size() >= 65536);
    let fd = a.export_fd().expect("export");
    let b = GpuBuffer::import_fd(&ctx, fd, 65536, a.allocation_size()).expect("import");
    // Write through one buffer, read through the other: same memory.
    fill(&ctx, a.handle(), 65536, 0x3C);
    assert!(readback(&ctx, b.handle(), 0, 65536)
        .iter()
        .all(|&x| x == 0x3C));
    let plain = GpuBuffer::new(&ctx, 64, MemoryKind::DeviceLocal).expect("plain");
    assert!(plain.export_fd().is_err(), "only exportable buffers export");
    drop((a, b, plain));
    common::assert_clean(&ctx);
}

/// The GPUDirect Storage route: runs where CUDA, cuFile and an exportable Vulkan device exist
/// (the device machine); every request lands even where cuFile refuses a file (those go through
/// host memory). `DS_REQUIRE_CUFILE=1` turns the skip into a failure and requires that cuFileRead
/// really ran.
#[test]
fn gds_route_loads_files() {
    let Some(ctx) = common::context() else { return };
    match GpuExecutor::new(&ctx, config(Route::Gds)) {
        Ok(exec) => {
            let stats = load_and_check(&ctx, exec);
            let (gds, host) = (
                ExecutorStats::get(&stats.gds_reads),
                ExecutorStats::get(&stats.gds_host_reads),
            );
            println!("GDS route: {gds} segments read with cuFileRead, {host} through host memory (files cuFile refused)");
            if std::env::var("DS_REQUIRE_CUFILE").is_ok_and(|v| v == "1") {
                assert!(
                    gds > 0,
                    "DS_REQUIRE_CUFILE=1: cuFileRead never ran ({host} segments went through host memory; see cufile.log)"
                );
            }
            common::assert_clean(&ctx);
        }
        Err(e) => {
            if std::env::var("DS_REQUIRE_CUFILE").is_ok_and(|v| v == "1") {
                panic!("GDS route required (DS_REQUIRE_CUFILE=1): {e}");
            }
            println!("skipped: GDS route unavailable: {e}");
        }
    }
}
