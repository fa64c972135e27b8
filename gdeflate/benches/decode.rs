//! Decode throughput of ds-gdeflate against libdeflate (plain DEFLATE) on
//! the same data, measured in the same run (not a test; prints a table).
//!
//! `cargo bench -p ds-gdeflate --bench decode`
//!
//! Streams: the three 32 MiB bench streams of `../shared/gdeflate/bench`
//! (skipped with a message when absent; `DS_SHARED_DIR` overrides the
//! location), plus a 32 MiB stream of stored (incompressible) tiles built
//! here. Baseline: the same originals compressed by libdeflate at level 9
//! as raw DEFLATE in independent 64 KiB chunks, decoded by libdeflate.
//! MB/s are of output (10^6 bytes per second), best of `DS_BENCH_REPS`
//! (default 7) runs, on one thread (timed by the thread's CPU time) and on
//! all cores (wall-clock time).

#![allow(unsafe_code)]

#[path = "../tests/support/mod.rs"]
mod support;

use ds_gdeflate::{decompress, decompress_parallel, TILE_SIZE};
use libdeflater::{CompressionLvl, Compressor, Decompressor};
use std::path::PathBuf;
use std::time::Instant;

fn time<F: FnOnce()>(f: F) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// CPU time of the calling thread, in seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Single-thread runs are timed by the thread's CPU time, so other load
/// on the machine (time slicing) does not count against either side.
fn cpu_time<F: FnOnce()>(f: F) -> f64 {
    let t = thread_cpu();
    f();
    thread_cpu() - t
}

/// Raw-DEFLATE chunks of 64 KiB at level 9.
fn deflate_chunks(orig: &[u8]) -> Vec<(Vec<u8>, usize)> {
    let mut c = Compressor::new(CompressionLvl::new(9).unwrap());
    orig.chunks(TILE_SIZE)
        .map(|chunk| {
            let mut buf = vec![0u8; c.deflate_compress_bound(chunk.len())];
            let n = c.deflate_compress(chunk, &mut buf).unwrap();
            buf.truncate(n);
            (buf, chunk.len())
        })
        .collect()
}

fn libdeflate_decode(chunks: &[(Vec<u8>, usize)], out: &mut [u8], threads: usize) {
    let per = chunks.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (cs, os) in chunks.chunks(per).zip(out.chunks_mut(per * TILE_SIZE)) {
            s.spawn(move || {
                let mut d = Decompressor::new();
                for ((c, len), o) in cs.iter().zip(os.chunks_mut(TILE_SIZE)) {
                    let n = d.deflate_decompress(c, &mut o[..*len]).unwrap();
                    assert_eq!(n, *len);
                }
            });
        }
    });
}

fn libdeflate_decode_1t(chunks: &[(Vec<u8>, usize)], out: &mut [u8]) {
    let mut d = Decompressor::new();
    for ((c, len), o) in chunks.iter().zip(out.chunks_mut(TILE_SIZE)) {
        let n = d.deflate_decompress(c, &mut o[..*len]).unwrap();
        assert_eq!(n, *len);
    }
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects streams.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let reps: usize = std::env::var("DS_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    let mut streams: Vec<(String, Vec<u8>)> = Vec::new();
    let shared = std::env::var_os("DS_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("gdeflate/bench");
    for name in ["bench_text_32m", "bench_texture_32m", "bench_mixed_32m"] {
        match std::fs::read(shared.join(format!("{name}.l9.gdef"))) {
            Ok(data) => streams.push((name.to_owned(), data)),
            Err(e) => println!("skipped {name}: {} ({e})", shared.display()),
        }
    }
    // Incompressible data in stored tiles: xorshift bytes.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let random: Vec<u8> = (0..32 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    streams.push((
        "stored_random_32m".to_owned(),
        support::stored_stream(&random),
    ));
    // Text-like bytes as literals only (fixed code, no matches): the bare
    // per-turn cost without match copies.
    let letters: Vec<u8> = random
        .iter()
        .map(|&b| b"etaoinshrdlu cmwfgy"[(b % 19) as usize])
        .collect();
    streams.push((
        "fixed_literals_32m".to_owned(),
        support::fixed_literal_stream(&letters),
    ));

    println!("GDeflate CPU decoder vs libdeflate 64 KiB raw-DEFLATE chunks (level 9)");
    println!("best of {reps} runs, MB/s of output, {threads} threads for 'all cores'\n");
    println!(
        "| stream | ours 1T | libdeflate 1T | ratio 1T | ours {threads}T | libdeflate {threads}T | ratio {threads}T | our scaling |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, gdef) in &streams {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let size = ds_gdeflate::uncompressed_size(gdef).unwrap() as usize;
        let mut out = vec![0u8; size];
        decompress(gdef, &mut out).unwrap();
        let orig = out.clone();
        let chunks = deflate_chunks(&orig);
        let mut check = vec![0u8; size];
        libdeflate_decode_1t(&chunks, &mut check);
        assert!(check == orig, "libdeflate round trip");

        // Ours and the baseline alternate run by run, so that load from
        // elsewhere on the machine hits both alike; the best run counts.
        let (mut ours1, mut lib1, mut oursn, mut libn) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
        let mut ours1_wall = f64::MAX;
        for _ in 0..reps {
            ours1 = ours1.min(cpu_time(|| {
                decompress(gdef, &mut out).unwrap();
            }));
            lib1 = lib1.min(cpu_time(|| libdeflate_decode_1t(&chunks, &mut check)));
            ours1_wall = ours1_wall.min(time(|| {
                decompress(gdef, &mut out).unwrap();
            }));
            oursn = oursn.min(time(|| {
                decompress_parallel(gdef, &mut out, threads).unwrap();
            }));
            libn = libn.min(time(|| libdeflate_decode(&chunks, &mut check, threads)));
        }
        assert!(out == orig);
        println!(
            "| {name} ({:.1}% / {:.1}%) | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {:.2} | {:.2}x |",
            100.0 * gdef.len() as f64 / size as f64,
            100.0 * chunks.iter().map(|c| c.0.len()).sum::<usize>() as f64 / size as f64,
            mbps(size, ours1),
            mbps(size, lib1),
            lib1 / ours1,
            mbps(size, oursn),
            mbps(size, libn),
            libn / oursn,
            ours1_wall / oursn,
        );
    }
    println!(
        "\n(percentages: GDeflate stream size / libdeflate chunks size, relative to the original;"
    );
    println!(
        " ratio = ours / libdeflate in MB/s; scaling = our wall time on 1 thread / on all threads)"
    );
}
