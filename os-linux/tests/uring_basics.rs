//! The io_uring driver end to end: buffered and O_DIRECT reads (aligned
//! ones straight into the destination, unaligned ones bounced through the
//! registered pool), GDeflate requests decoded on the CPU, memory sources,
//! writes, several rings, batching (fewer `io_uring_enter` calls than SQEs),
//! registered files and buffers in use, and SQPOLL. Every result is checked
//! against the file's bytes.

#![allow(unsafe_code)]

mod common;

use common::{pattern, Rng, TempDir};
use ds_os_linux::{
    Backend, FileRef, Outcome, Queue, QueueBuilder, Request, RequestErrorKind, UringConfig,
    UringStats,
};
use std::sync::Arc;

const TWO_TILES: &[u8] = include_bytes!("data/text_64k_plus1.L9.gdef");
const TWO_TILES_BIN: &[u8] = include_bytes!("data/text_64k_plus1.bin");
const SMALL: &[u8] = include_bytes!("data/text_4095.L12.gdef");
const SMALL_BIN: &[u8] = include_bytes!("data/text_4095.bin");

fn uring_queue(cfg: UringConfig) -> Queue {
    QueueBuilder::new()
        .capacity(1024)
        .backend(Backend::IoUring(cfg))
        .build()
        .unwrap()
}

fn config(rings: usize, direct: bool) -> (UringConfig, UringStats) {
    let cfg = UringConfig {
        rings,
        direct,
        ..UringConfig::default()
    };
    let stats = cfg.stats.clone();
    (cfg, stats)
}

/// Reads `n` random ranges (sizes 1 byte .. 200 KiB, some aligned) and
/// checks every byte. Returns how many were 4 KiB-aligned in offset, size.
fn random_reads(q: &Queue, file: &FileRef, data: &[u8], n: usize, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let mut ids = Vec::new();
    let mut aligned = 0;
    for _ in 0..n {
        let (off, len) = if rng.below(2) == 0 {
            aligned += 1;
            let blocks = data.len() as u64 / 4096;
            let b = rng.below(blocks - 16);
            (b * 4096, (1 + rng.below(16)) * 4096)
        } else {
            let off = rng.below(data.len() as u64 - 1);
            let len = 1 + rng.below((data.len() as u64 - off).min(200_000));
            (off, len)
        };
        let id = q
            .enqueue(Request::read(file, off, len).into_buffer(vec![0xEE; len as usize]))
            .unwrap();
        ids.push((id, off as usize, len as usize));
    }
    q.submit();
    for (id, off, len) in ids {
        let c = q.wait(id, None).unwrap();
        assert_eq!(c.result(), Ok(len as u64), "{c:?}");
        let buf = c.buffer.unwrap();
        assert!(buf[..] == data[off..off + len], "bytes of {off}+{len}");
    }
    aligned
}

#[test]
fn buffered_reads_over_several_rings_are_batched() {
    let dir = TempDir::new("uring-buf");
    let data = pattern(3 << 20, 7);
    let file = FileRef::open(dir.file("data", &data)).unwrap();
    let (cfg, stats) = config(3, false);
    let q = uring_queue(cfg);
    assert_eq!(q.info().executors, vec!["io_uring"]);
    random_reads(&q, &file, &data, 600, 1);
    drop(q);
    let s = stats.snapshot();
    assert_eq!(s.rings, 3);
    assert!(s.sqes >= 600, "{s:?}");
    assert!(s.enters < s.sqes, "SQEs are submitted in batches: {s:?}");
    assert_eq!(s.rings_with_fixed_files, 3, "{s:?}");
    assert!(
        s.fixed_file_ops >= 600,
        "reads use the registered file: {s:?}"
    );
    assert_eq!(s.direct_reads + s.bounced_reads, 0, "{s:?}");
}

#[test]
fn direct_reads_in_place_and_bounced() {
    let dir = TempDir::new("uring-direct");
    let data = pattern((2 << 20) + 1234, 9);
    let file = FileRef::open(dir.file("data", &data)).unwrap();
    let (cfg, stats) = config(2, true);
    let q = uring_queue(cfg);
    random_reads(&q, &file, &data, 300, 2);
    // An aligned destination (a 4 KiB-aligned Vec is not guaranteed, so
    // the in-place path is exercised through raw, aligned memory).
    let mut block = ds_os_linux::aligned::AlignedBuf::zeroed(64 << 10, 4096).unwrap();
    // SAFETY: `block` outlives the request (waited for below) and is not
    // touched until then.
    let req =
        unsafe { Request::read(&file, 8192, 64 << 10).into_raw(block.as_mut_ptr(), 64 << 10) };
    let id = q.enqueue(req).unwrap();
    assert_eq!(q.wait(id, None).unwrap().result(), Ok(64 << 10));
    assert!(block.as_slice() == &data[8192..8192 + (64 << 10)]);
    // The tail: the file ends inside the last aligned block.
    let tail = data.len() as u64 - 1000;
    let id = q
        .enqueue(Request::read(&file, tail, 1000).into_buffer(vec![0; 1000]))
        .unwrap();
    let c = q.wait(id, None).unwrap();
    assert_eq!(c.result(), Ok(1000));
    assert!(c.buffer.unwrap()[..] == data[tail as usize..]);
    drop(q);
    let s = stats.snapshot();
    assert!(s.direct_reads >= 1, "{s:?}");
    // About half the random reads have unaligned offsets and must bounce.
    assert!(s.bounced_reads >= 100, "unaligned reads bounce: {s:?}");
    assert_eq!(s.rings_with_fixed_buffers, 2, "{s:?}");
    // Bounces that fit in the 4 MiB pool use it (registered); the rest,
    // while the pool is full, take one-off buffers.
    assert!(
        s.fixed_buffer_ops >= 20,
        "bounces use the registered pool: {s:?}"
    );
}

#[test]
fn gdeflate_and_memory_sources() {
    for direct in [false, true] {
        let dir = TempDir::new("uring-gdef");
        let mut pack = pattern(777, 3);
        let a_off = pack.len() as u64;
        pack.extend_from_slice(TWO_TILES);
        let b_off = pack.len() as u64;
        pack.extend_from_slice(SMALL);
        let file = FileRef::open(dir.file("pack", &pack)).unwrap();
        let (cfg, stats) = config(2, direct);
        let q = uring_queue(cfg);
        let a = q
            .enqueue(
                Request::read(&file, a_off, TWO_TILES.len() as u64)
                    .gdeflate(TWO_TILES_BIN.len() as u64)
                    .into_buffer(vec![0; TWO_TILES_BIN.len()]),
            )
            .unwrap();
        let b = q
            .enqueue(
                Request::read(&file, b_off, SMALL.len() as u64)
                    .gdeflate(SMALL_BIN.len() as u64)
                    .into_buffer(vec![0; SMALL_BIN.len()]),
            )
            .unwrap();
        let m = q
            .enqueue(
                Request::read_memory(Arc::from(SMALL))
                    .gdeflate(SMALL_BIN.len() as u64)
                    .into_buffer(vec![0; SMALL_BIN.len()]),
            )
            .unwrap();
        let copy = q
            .enqueue(Request::read_memory(Arc::from(&pack[..100])).into_buffer(vec![0; 100]))
            .unwrap();
        // A wrong declared size fails with both sizes named.
        let bad = q
            .enqueue(
                Request::read(&file, b_off, SMALL.len() as u64)
                    .gdeflate(SMALL_BIN.len() as u64 + 1)
                    .into_buffer(vec![0x55; SMALL_BIN.len() + 1]),
            )
            .unwrap();
        for (id, want) in [(a, TWO_TILES_BIN), (b, SMALL_BIN), (m, SMALL_BIN)] {
            let c = q.wait(id, None).unwrap();
            assert_eq!(c.result(), Ok(want.len() as u64));
            assert!(c.buffer.unwrap()[..] == *want);
        }
        let c = q.wait(copy, None).unwrap();
        assert!(c.buffer.unwrap()[..] == pack[..100]);
        let c = q.wait(bad, None).unwrap();
        match c.outcome {
            Outcome::Failed(e) => assert_eq!(
                e.kind,
                RequestErrorKind::SizeMismatch {
                    stream: SMALL_BIN.len() as u64,
                    declared: SMALL_BIN.len() as u64 + 1
                }
            ),
            o => panic!("{o:?}"),
        }
        assert!(c.buffer.unwrap().iter().all(|&x| x == 0x55), "untouched");
        drop(q);
        assert!(
            stats.snapshot().bounced_reads >= 3,
            "compressed bytes are staged"
        );
    }
}

#[test]
fn writes_land_in_the_file_through_both_drivers() {
    let dir = TempDir::new("uring-write");
    let path = dir.path().join("out");
    let file = FileRef::create(&path).unwrap();
    let (cfg, _) = config(2, false);
    for (q, base) in [
        (uring_queue(cfg), 0u64),
        (
            QueueBuilder::new()
                .backend(Backend::Pread(ds_os_linux::PreadConfig { threads: 2 }))
                .build()
                .unwrap(),
            1 << 20,
        ),
    ] {
        let mut ids = Vec::new();
        for i in 0..64u64 {
            let data: Arc<[u8]> = Arc::from(pattern(10_000, i + base));
            ids.push(
                q.enqueue(Request::write(&file, base + i * 10_000, data))
                    .unwrap(),
            );
        }
        for id in ids {
            assert_eq!(q.wait(id, None).unwrap().result(), Ok(10_000));
        }
    }
    let back = std::fs::read(&path).unwrap();
    for base in [0u64, 1 << 20] {
        for i in 0..64u64 {
            let at = (base + i * 10_000) as usize;
            assert!(back[at..at + 10_000] == pattern(10_000, i + base)[..]);
        }
    }
}

#[test]
fn sqpoll_rings_serve_requests() {
    let dir = TempDir::new("uring-sqpoll");
    let data = pattern(1 << 20, 5);
    let file = FileRef::open(dir.file("data", &data)).unwrap();
    let cfg = UringConfig {
        rings: 1,
        sqpoll_idle: Some(std::time::Duration::from_millis(20)),
        ..UringConfig::default()
    };
    let q = uring_queue(cfg);
    random_reads(&q, &file, &data, 200, 3);
}

#[test]
fn end_of_file_mid_request_is_precise() {
    let dir = TempDir::new("uring-eof");
    let data = pattern(10_000, 1);
    let file = FileRef::open(dir.file("data", &data)).unwrap();
    for direct in [false, true] {
        let (cfg, _) = config(1, direct);
        let q = uring_queue(cfg);
        let id = q
            .enqueue(Request::read(&file, 9_000, 4_000).into_buffer(vec![0; 4_000]))
            .unwrap();
        let c = q.wait(id, None).unwrap();
        match c.outcome {
            Outcome::Failed(e) => {
                assert_eq!(
                    e.kind,
                    RequestErrorKind::EndOfFile {
                        available: 1_000,
                        file_len: Some(10_000)
                    },
                    "direct {direct}"
                );
                assert_eq!((e.offset, e.size), (9_000, 4_000));
            }
            o => panic!("{o:?}"),
        }
    }
}
