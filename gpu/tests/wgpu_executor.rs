//! The wgpu fallback executor (feature `wgpu`) through the request queue, on wgpu's Vulkan backend
//! (lavapipe in CI): uncompressed requests (aligned, and unaligned ones wrapped as stored blocks),
//! GDeflate requests decoded by the naga-ingested build of the decoder shader, and memory sources
//! land in wgpu buffers (SHA-256 of a readback against the original); a corrupt tile is reported;
//! requests cancelled before recording never touch their poisoned destination, and a strong
//! cancel of a submission in flight waits for it. No wgpu validation error may be raised.
#![cfg(feature = "wgpu")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{bytes, sha, TempDir};
use ds_gpu::executor::ExecutorStats;
use ds_gpu::wgpu_backend::{create_device, WgpuConfig, WgpuExecutor};
use ds_os_linux::{Backend, Outcome, Queue, Request, RequestErrorKind};

const STAGING: u64 = 512 << 10;

fn device() -> Option<(wgpu::Device, wgpu::Queue)> {
    match create_device(wgpu::Backends::VULKAN) {
        Ok((d, q, info)) => {
            println!("wgpu adapter: {} ({:?})", info.name, info.backend);
            Some((d, q))
        }
        Err(e) => {
            let on = |n: &str| std::env::var(n).is_ok_and(|v| v == "1");
            if on("DS_REQUIRE_VULKAN") || on("DS_REQUIRE_ALL") {
                panic!("wgpu Vulkan adapter required: {e}");
            }
            println!("skipped: no wgpu Vulkan adapter: {e}");
            None
        }
    }
}

fn storage(device: &wgpu::Device, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("dst"),
        size,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

fn readback(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    src: &wgpu::Buffer,
    off: u64,
    len: u64,
) -> Vec<u8> {
    let start = off / 4 * 4;
    let end = (off + len).div_ceil(4) * 4;
    let host = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: end - start,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    enc.copy_buffer_to_buffer(src, start, &host, 0, end - start);
    queue.submit([enc.finish()]);
    let slice = host.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| tx.send(r).expect("send"));
    device
        .poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: None,
        })
        .expect("poll");
    rx.recv().expect("recv").expect("map");
    let v = slice.get_mapped_range().expect("range");
    v[(off - start) as usize..(off - start + len) as usize].to_vec()
}

fn poison(queue: &wgpu::Queue, dst: &wgpu::Buffer, size: u64, byte: u8) {
    queue.write_buffer(dst, 0, &vec![byte; size as usize]);
    queue.submit([]);
}

fn queue_with(exec: WgpuExecutor) -> Queue {
    Queue::builder()
        .backend(Backend::None)
        .staging_limit(STAGING)
        .executor(Box::new(exec))
        .build()
        .expect("queue")
}

fn config() -> WgpuConfig {
    WgpuConfig {
        staging_size: STAGING,
        ..WgpuConfig::default()
    }
}

#[test]
fn wgpu_loads_files_and_memory_into_buffers() {
    let Some((device, wq)) = device() else { return };
    let exec = WgpuExecutor::new(device.clone(), wq.clone(), config()).expect("executor");
    let reg = exec.buffers();
    let stats = exec.stats();
    let errors = exec.errors();
    let dst = storage(&device, 1 << 20);
    let h = reg.register(&dst).expect("register");
    let dir = TempDir::new("load");
    let queue = queue_with(exec);
    // (data, gdeflate, offset): aligned raw, unaligned raw, GDeflate at odd offsets.
    let cases = [
        (bytes(100_000, 1, false), false, 0u64),
        (bytes(5_001, 2, true), false, 100_003),
        (bytes(140_000, 3, true), true, 200_001),
        (vec![7u8; 65_536], true, 400_002),
        (bytes(70_001, 4, false), true, 500_000),
    ];
    let mut ids = Vec::new();
    for (i, (data, gd, off)) in cases.iter().enumerate() {
        let stored = if *gd {
            ds_gdeflate::encode::compress(data, 6).expect("compress")
        } else {
            data.clone()
        };
        let f = dir.file(&format!("c{i}"), &stored);
        let mut r = Request::read(&f, 0, stored.len() as u64);
        if *gd {
            r = r.gdeflate(data.len() as u64);
        }
        ids.push(
            queue
                .enqueue(r.into_gpu_buffer(h, *off, data.len() as u64))
                .expect("enqueue"),
        );
    }
    let mem: Arc<[u8]> = bytes(9_999, 5, true).into();
    ids.push(
        queue
            .enqueue(Request::read_memory(mem.clone()).into_gpu_buffer(h, 700_001, 9_999))
            .expect("enqueue"),
    );
    queue.submit();
    for id in &ids {
        let c = queue
            .wait(*id, Some(Duration::from_secs(600)))
            .expect("wait");
        assert!(c.result().is_ok(), "{c:?}");
    }
    for (data, _, off) in &cases {
        let back = readback(&device, &wq, &dst, *off, data.len() as u64);
        assert_eq!(sha(&back), sha(data), "at {off}");
    }
    assert_eq!(
        sha(&readback(&device, &wq, &dst, 700_001, 9_999)),
        sha(&mem)
    );
    let s = ExecutorStats::get(&stats.submissions);
    assert!(
        s < ids.len() as u64,
        "{s} submissions for {} requests",
        ids.len()
    );
    assert!(ExecutorStats::get(&stats.shader_tiles) >= 6);
    drop(queue);
    assert!(errors.lock().expect("errors").is_empty());
}

#[test]
fn wgpu_reports_corrupt_tiles_and_bad_buffers() {
    let Some((device, wq)) = device() else { return };
    let exec = WgpuExecutor::new(device.clone(), wq, config()).expect("executor");
    let reg = exec.buffers();
    let errors = exec.errors();
    let dst = storage(&device, 262_144);
    let h = reg.register(&dst).expect("register");
    let odd = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 64,
        usage: wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    assert!(
        reg.register(&odd).is_err(),
        "buffers without STORAGE are refused"
    );
    let data = bytes(140_000, 9, true);
    let mut packed = ds_gdeflate::encode::compress(&data, 6).expect("compress");
    let at = ds_gdeflate::TileStream::parse(&packed)
        .expect("parse")
        .tile_offset_in_input(2);
    packed[at..at + 4].copy_from_slice(&[0xFF; 4]);
    let dir = TempDir::new("bad");
    let f = dir.file("p", &packed);
    let queue = queue_with(exec);
    let run = |r: Request| {
        let id = queue.enqueue(r).expect("enqueue");
        queue.wait(id, None).expect("wait").outcome
    };
    match run(Request::read(&f, 0, packed.len() as u64)
        .gdeflate(140_000)
        .into_gpu_buffer(h, 0, 140_000))
    {
        Outcome::Failed(e) => match e.kind {
            RequestErrorKind::Corrupt { message } => {
                assert!(
                    message.contains("tile 2") && message.contains("block type 3"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    match run(Request::read(&f, 0, 8).into_gpu_buffer(h + 100, 0, 8)) {
        Outcome::Failed(e) => assert_eq!(
            e.kind,
            RequestErrorKind::BadGpuBuffer {
                buffer: h + 100,
                registered: None
            }
        ),
        other => panic!("{other:?}"),
    }
    drop(queue);
    assert!(errors.lock().expect("errors").is_empty());
}

#[test]
fn wgpu_cancellation_keeps_destinations() {
    let Some((device, wq)) = device() else { return };
    let exec = WgpuExecutor::new(device.clone(), wq.clone(), config()).expect("executor");
    let reg = exec.buffers();
    let stats = exec.stats();
    let errors = exec.errors();
    const N: usize = 6;
    const SPAN: u64 = 384 << 10;
    let dst = storage(&device, SPAN * N as u64);
    poison(&wq, &dst, SPAN * N as u64, 0xAB);
    let h = reg.register(&dst).expect("register");
    // ~300 KB of stored blocks each: one request per 512 KiB batch, several batches in a row.
    let data = bytes(300_000, 21, false);
    let packed = ds_gdeflate::encode::compress(&data, 1).expect("compress");
    let dir = TempDir::new("cancel");
    let f = dir.file("p", &packed);
    let queue = queue_with(exec);
    let ran = Arc::new(AtomicUsize::new(0));
    let mut ids = Vec::new();
    for i in 0..N {
        let r2 = ran.clone();
        ids.push(
            queue
                .enqueue(
                    Request::read(&f, 0, packed.len() as u64)
                        .gdeflate(data.len() as u64)
                        .into_gpu_buffer(h, i as u64 * SPAN, data.len() as u64)
                        .on_complete(move |_| {
                            r2.fetch_add(1, Ordering::SeqCst);
                        }),
                )
                .expect("enqueue"),
        );
    }
    queue.submit();
    let t0 = std::time::Instant::now();
    while ExecutorStats::get(&stats.submissions) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(300));
        std::thread::yield_now();
    }
    // The first batch is on the GPU: cancel the last request (still queued) and the first (in
    // flight: the cancel waits for its submission, or it already completed).
    let last = queue.cancel_request(ids[N - 1]);
    assert!(last, "a queued request is always cancellable");
    let first = queue.cancel_request(ids[0]);
    let snap0 = readback(&device, &wq, &dst, 0, data.len() as u64);
    queue
        .wait_all(Some(Duration::from_secs(600)))
        .expect("wait_all");
    let tail = readback(&device, &wq, &dst, (N as u64 - 1) * SPAN, data.len() as u64);
    assert!(
        tail.iter().all(|&b| b == 0xAB),
        "cancelled request wrote its destination"
    );
    assert_eq!(
        sha(&readback(&device, &wq, &dst, 0, data.len() as u64)),
        sha(&snap0)
    );
    let expected = N - 1 - usize::from(first);
    assert_eq!(ran.load(Ordering::SeqCst), expected);
    for i in 1..N - 1 {
        assert_eq!(
            sha(&readback(
                &device,
                &wq,
                &dst,
                i as u64 * SPAN,
                data.len() as u64
            )),
            sha(&data)
        );
    }
    drop(queue);
    assert!(errors.lock().expect("errors").is_empty());
}
