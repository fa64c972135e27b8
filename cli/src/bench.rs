//! `dsr bench`: the project's benchmark suites in one command, each printing
//! a table whose ratios compare against a baseline measured in the same
//! run (never against remembered numbers). Times are the best of `--reps`
//! runs, ours and the baseline alternating run by run so that load from
//! elsewhere on the machine hits both alike. MB/s are 10^6 bytes per
//! second of uncompressed data.
//!
//! Suites (`--suite`, default all):
//! - `codec-cpu`: ds-gdeflate against libdeflate (raw DEFLATE in
//!   independent 64 KiB chunks, the same level) on generated text, JSON,
//!   mesh, texture and incompressible data: compression on all cores,
//!   decompression on one core and on all cores, and the compressed sizes;
//! - `codec-gpu`: ds-gpu's decoder on the Vulkan device (wall clock,
//!   upload and readback included) against the CPU decoder on all cores,
//!   on the same streams; skipped with a message when there is no device;
//! - `io`: reading a file through the request queue (each built-in I/O
//!   backend, 1 MiB and 64 KiB requests) against a single-threaded
//!   `pread` loop over the same file and block size (page cache warm);
//! - `e2e`: a packed sample asset set streamed back through the queue as
//!   GDeflate requests (read + decode in the queue) against a sequential
//!   loop of `pread` + `ds_gdeflate::decompress` per entry.

use crate::archive::{Archive, Codec, Entry};
use crate::assets::{self, Kind};
use crate::commands;
use crate::error::CliError;
use crate::report::{mb_per_s, mib, times, Table};
use crate::stream::{self, Mode};
use ds_gdeflate::TILE_SIZE;
use ds_os_linux::{FileRef, Queue, Request};
use libdeflater::{CompressionLvl, Compressor, Decompressor};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

/// The suites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// CPU codec against libdeflate.
    CodecCpu,
    /// GPU decoder against the CPU decoder.
    CodecGpu,
    /// I/O backends of the queue against a pread loop.
    Io,
    /// Archive streaming through the queue against read + decode loop.
    E2e,
}

/// Options of `dsr bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Suites to run (comma-separated; default all).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Suite::CodecCpu, Suite::CodecGpu, Suite::Io, Suite::E2e])]
    pub suite: Vec<Suite>,
    /// MiB of data per content kind in the codec suites.
    #[arg(long, default_value_t = 2.0, value_name = "MIB")]
    pub size: f64,
    /// Compression level for ours and libdeflate (1 to 12).
    #[arg(short, long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=12))]
    pub level: u8,
    /// Repetitions; the best run counts.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub reps: u32,
    /// MiB of data per stream on the GPU (software devices are slow).
    #[arg(long, default_value_t = 0.25, value_name = "MIB")]
    pub gpu_size: f64,
    /// MiB of the file read by the I/O suite.
    #[arg(long, default_value_t = 64.0, value_name = "MIB")]
    pub io_size: f64,
    /// MiB of the asset set of the end-to-end suite.
    #[arg(long, default_value_t = 8.0, value_name = "MIB")]
    pub e2e_size: f64,
}

fn mib_arg(v: f64, name: &str) -> Result<usize, CliError> {
    if v > 0.0 && v <= 4096.0 {
        Ok((v * (1u64 << 20) as f64) as usize)
    } else {
        Err(CliError::Usage(format!("{name} must be in (0, 4096] MiB")))
    }
}

/// Runs `f` once and lowers `best` (seconds) to its time if faster.
fn timed<F: FnMut() -> Result<(), CliError>>(best: &mut f64, mut f: F) -> Result<(), CliError> {
    let t = Instant::now();
    f()?;
    *best = best.min(t.elapsed().as_secs_f64());
    Ok(())
}

/// Runs the selected suites.
pub fn run(args: &BenchArgs, threads: usize) -> Result<(), CliError> {
    let size = mib_arg(args.size, "--size")?;
    let gpu_size = mib_arg(args.gpu_size, "--gpu-size")?;
    let io_size = mib_arg(args.io_size, "--io-size")?;
    let e2e_size = mib_arg(args.e2e_size, "--e2e-size")?;
    let threads = crate::codec::thread_count(threads, usize::MAX);
    println!(
        "dsr bench: {threads} threads, best of {} runs, level {}",
        args.reps, args.level
    );
    let work = tempfile::Builder::new()
        .prefix(".dsr-bench-")
        .tempdir()
        .map_err(CliError::io(
            "create a temporary directory in",
            &std::env::temp_dir(),
        ))?;
    for suite in &args.suite {
        crate::interrupt::check()?;
        match suite {
            Suite::CodecCpu => codec_cpu(args, size, threads)?,
            Suite::CodecGpu => codec_gpu(args, gpu_size, threads)?,
            Suite::Io => io_suite(args, io_size, work.path())?,
            Suite::E2e => e2e(args, e2e_size, threads, work.path())?,
        }
    }
    Ok(())
}

const CODEC_KINDS: [Kind; 5] = [
    Kind::Text,
    Kind::Json,
    Kind::Mesh,
    Kind::Texture,
    Kind::Random,
];

fn lib_err(what: &str) -> impl FnOnce(String) -> CliError + '_ {
    move |e| CliError::Invalid {
        what: format!("libdeflate baseline: {what}: {e}"),
    }
}

/// libdeflate on independent 64 KiB chunks over `threads` threads.
fn lib_compress(data: &[u8], level: u8, threads: usize) -> Result<Vec<Vec<u8>>, CliError> {
    let lvl =
        CompressionLvl::new(i32::from(level)).map_err(|e| lib_err("level")(format!("{e:?}")))?;
    let chunks: Vec<&[u8]> = data.chunks(TILE_SIZE).collect();
    let per = chunks.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Vec<u8>>, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = chunks
            .chunks(per)
            .map(|group| {
                s.spawn(move || {
                    let mut c = Compressor::new(lvl);
                    group
                        .iter()
                        .map(|chunk| {
                            let mut out = vec![0u8; c.deflate_compress_bound(chunk.len())];
                            let n = c
                                .deflate_compress(chunk, &mut out)
                                .map_err(|e| e.to_string())?;
                            out.truncate(n);
                            Ok(out)
                        })
                        .collect()
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut all = Vec::with_capacity(chunks.len());
    for p in parts {
        all.extend(p.map_err(lib_err("compress"))?);
    }
    Ok(all)
}

/// libdeflate decode of 64 KiB chunks into `out` over `threads` threads.
fn lib_decompress(chunks: &[Vec<u8>], out: &mut [u8], threads: usize) -> Result<(), CliError> {
    let per = chunks.len().div_ceil(threads).max(1);
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let hs: Vec<_> = chunks
            .chunks(per)
            .zip(out.chunks_mut(per * TILE_SIZE))
            .map(|(cs, os)| {
                s.spawn(move || {
                    let mut d = Decompressor::new();
                    for (c, o) in cs.iter().zip(os.chunks_mut(TILE_SIZE)) {
                        let n = d.deflate_decompress(c, o).map_err(|e| e.to_string())?;
                        if n != o.len() {
                            return Err(format!("chunk decoded to {n} bytes of {}", o.len()));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results
        .into_iter()
        .collect::<Result<(), String>>()
        .map_err(lib_err("decompress"))
}

fn encode_err(what: &str) -> impl FnOnce(ds_gdeflate::encode::EncodeError) -> CliError + '_ {
    move |error| CliError::Encode {
        what: what.to_owned(),
        error,
    }
}

fn decode_err(what: &str) -> impl FnOnce(ds_gdeflate::DecodeError) -> CliError + '_ {
    move |error| CliError::Decode {
        what: what.to_owned(),
        error,
        file_offset: None,
    }
}

fn codec_cpu(args: &BenchArgs, size: usize, threads: usize) -> Result<(), CliError> {
    println!(
        "\ncodec-cpu: ds-gdeflate vs libdeflate (raw DEFLATE, independent 64 KiB chunks), level {}, {} per kind",
        args.level,
        mib(size as u64)
    );
    let mut t = Table::new(&[
        "data",
        "size ours / lib",
        &format!("compress {threads}T ours"),
        "lib",
        "ratio",
        "decode 1T ours",
        "lib",
        "ratio",
        &format!("decode {threads}T ours"),
        "lib",
        "ratio",
    ]);
    for kind in CODEC_KINDS {
        crate::interrupt::check()?;
        let data = assets::generate(kind, size, 42);
        let what = kind.name();
        let (mut c_ours, mut c_lib) = (f64::MAX, f64::MAX);
        let (mut stream, mut chunks) = (Vec::new(), Vec::new());
        for _ in 0..args.reps {
            timed(&mut c_ours, || {
                stream = ds_gdeflate::encode::compress_parallel(&data, args.level, threads)
                    .map_err(encode_err(what))?;
                Ok(())
            })?;
            timed(&mut c_lib, || {
                chunks = lib_compress(&data, args.level, threads)?;
                Ok(())
            })?;
        }
        let mut out = vec![0u8; data.len()];
        let mut lib_out = vec![0u8; data.len()];
        let (mut d1, mut l1, mut dn, mut ln) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..args.reps {
            timed(&mut d1, || {
                ds_gdeflate::decompress(&stream, &mut out).map_err(decode_err(what))?;
                Ok(())
            })?;
            timed(&mut l1, || lib_decompress(&chunks, &mut lib_out, 1))?;
            timed(&mut dn, || {
                ds_gdeflate::decompress_parallel(&stream, &mut out, threads)
                    .map_err(decode_err(what))?;
                Ok(())
            })?;
            timed(&mut ln, || lib_decompress(&chunks, &mut lib_out, threads))?;
        }
        if out != data || lib_out != data {
            return Err(CliError::Invalid {
                what: format!("bench {what}: a round trip did not reproduce the input"),
            });
        }
        let lib_size: usize = chunks.iter().map(Vec::len).sum();
        let n = data.len() as u64;
        t.row(vec![
            what.to_owned(),
            format!(
                "{:.1}% / {:.1}%",
                100.0 * stream.len() as f64 / n as f64,
                100.0 * lib_size as f64 / n as f64
            ),
            mb_per_s(n, c_ours),
            mb_per_s(n, c_lib),
            times(c_lib / c_ours),
            mb_per_s(n, d1),
            mb_per_s(n, l1),
            times(l1 / d1),
            mb_per_s(n, dn),
            mb_per_s(n, ln),
            times(ln / dn),
        ]);
    }
    print!("{}", t.render());
    println!("(ratio = libdeflate time / our time: above 1 means ours is faster)");
    Ok(())
}

fn codec_gpu(args: &BenchArgs, size: usize, threads: usize) -> Result<(), CliError> {
    use ds_gpu::{ContextOptions, DecodePath, DecoderOptions, GpuDecoder, VulkanContext};
    println!("\ncodec-gpu: ds-gpu decode (wall clock incl. upload + readback) vs CPU decoder on {threads} threads, {} per kind", mib(size as u64));
    let ctx = match VulkanContext::create(&ContextOptions::default()) {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: {e}");
            return Ok(());
        }
    };
    let name = ctx.caps().device_name.clone();
    let gpu_err = |error| CliError::Gpu {
        what: format!("GPU bench on {name}"),
        error,
    };
    let dec = GpuDecoder::new(&ctx, DecoderOptions::default()).map_err(gpu_err)?;
    let path = dec.resolve(DecodePath::Auto).map_err(gpu_err)?;
    println!("device: {name}, path {path:?}");
    let mut t = Table::new(&["data", "GPU", "CPU", "ratio GPU/CPU speed"]);
    for kind in CODEC_KINDS {
        crate::interrupt::check()?;
        let data = assets::generate(kind, size, 43);
        let stream = ds_gdeflate::encode::compress_parallel(&data, args.level, threads)
            .map_err(encode_err(kind.name()))?;
        let (mut g, mut c) = (f64::MAX, f64::MAX);
        let mut cpu_out = vec![0u8; data.len()];
        for _ in 0..args.reps {
            timed(&mut g, || {
                let out = dec.decompress(&stream, DecodePath::Auto).map_err(gpu_err)?;
                if out != data {
                    return Err(CliError::Invalid {
                        what: format!("GPU decode of {} differs from the input", kind.name()),
                    });
                }
                Ok(())
            })?;
            timed(&mut c, || {
                ds_gdeflate::decompress_parallel(&stream, &mut cpu_out, threads)
                    .map_err(decode_err(kind.name()))?;
                Ok(())
            })?;
        }
        let n = data.len() as u64;
        t.row(vec![
            kind.name().to_owned(),
            mb_per_s(n, g),
            mb_per_s(n, c),
            times(c / g),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}

/// Bytes of destination buffers each side of the I/O suite cycles through
/// (the same for the queue and the baseline, so both write equally cold
/// memory).
const IO_POOL: usize = 64 << 20;

/// Reads `file` in `block`-sized pieces with one thread and `pread`, into
/// the buffers of `pool` in turn.
fn pread_loop(file: &std::fs::File, len: u64, pool: &mut [Vec<u8>]) -> Result<(), CliError> {
    let mut off = 0;
    let mut k = 0;
    while off < len {
        let buf = &mut pool[k % pool.len()];
        let n = buf.len().min((len - off) as usize);
        file.read_exact_at(&mut buf[..n], off)
            .map_err(|e| CliError::Invalid {
                what: format!("pread baseline at offset {off}: {e}"),
            })?;
        off += n as u64;
        k += 1;
    }
    Ok(())
}

/// Reads `file` in requests the size of `pool`'s buffers through `queue`,
/// one request in flight per buffer, each buffer reused when its request
/// completes.
fn queue_read(
    queue: &Queue,
    file: &FileRef,
    len: u64,
    pool: &mut Vec<Vec<u8>>,
) -> Result<(), CliError> {
    let block = pool.first().map_or(1, Vec::len);
    let mut ids = std::collections::VecDeque::new();
    let mut off = 0;
    while off < len || !ids.is_empty() {
        if off < len {
            if let Some(mut buf) = pool.pop() {
                let n = block.min((len - off) as usize);
                buf.truncate(n);
                let id = queue
                    .enqueue(Request::read(file, off, n as u64).into_buffer(buf))
                    .map_err(|r| CliError::Enqueue {
                        what: format!("read at {off}"),
                        error: r.error,
                    })?;
                ids.push_back(id);
                off += n as u64;
                continue;
            }
        }
        let id = ids.pop_front().expect("requests in flight");
        let c = queue.wait(id, None)?;
        c.result().map_err(|o| CliError::Invalid {
            what: format!("I/O bench request {}: {o:?}", c.id),
        })?;
        let mut buf = c.buffer.unwrap_or_default();
        buf.resize(block, 0);
        pool.push(buf);
    }
    Ok(())
}

fn io_suite(args: &BenchArgs, size: usize, dir: &Path) -> Result<(), CliError> {
    println!(
        "\nio: reading a {} file (page cache warm) through the request queue vs a 1-thread pread loop, both cycling through the same buffers ({} per block size)",
        mib(size as u64),
        mib(IO_POOL as u64)
    );
    let path = dir.join("io.bin");
    std::fs::write(&path, assets::generate(Kind::Random, size, 44))
        .map_err(CliError::io("write", &path))?;
    let file = std::fs::File::open(&path).map_err(CliError::io("open", &path))?;
    let fref = FileRef::open(&path).map_err(CliError::io("open", &path))?;
    let len = size as u64;
    let mut t = Table::new(&["backend", "block", "queue", "pread loop", "ratio"]);
    for choice in stream::available_backends(0) {
        let queue = stream::build_queue(&choice, 1 << 20, "dsr bench io")?;
        for block in [1usize << 20, 64 << 10] {
            crate::interrupt::check()?;
            // Each buffer holds a queue slot while in flight: stay within
            // half the queue.
            let buffers = (IO_POOL / block).min(stream::CAPACITY / 2);
            let mut pool: Vec<Vec<u8>> = (0..buffers).map(|_| vec![1u8; block]).collect();
            let (mut q, mut p) = (f64::MAX, f64::MAX);
            for _ in 0..args.reps {
                timed(&mut q, || queue_read(&queue, &fref, len, &mut pool))?;
                timed(&mut p, || pread_loop(&file, len, &mut pool))?;
            }
            t.row(vec![
                choice.name.to_owned(),
                format!("{} KiB", block >> 10),
                mb_per_s(len, q),
                mb_per_s(len, p),
                times(p / q),
            ]);
        }
    }
    print!("{}", t.render());
    println!("(ratio = pread-loop time / queue time: above 1 means the queue is faster)");
    Ok(())
}

fn e2e(args: &BenchArgs, size: usize, threads: usize, dir: &Path) -> Result<(), CliError> {
    println!(
        "\ne2e: a {} sample asset set packed at level {}, streamed back through the queue (read + GDeflate in the queue) vs a sequential pread + decompress loop",
        mib(size as u64),
        args.level
    );
    let assets_dir = dir.join("e2e-assets");
    let archive_path = dir.join("e2e.dsra");
    assets::write_set(&assets_dir, &assets::sample_set(size as u64))
        .map_err(CliError::io("write", &assets_dir))?;
    commands::pack(&assets_dir, &archive_path, args.level, threads, false)?;
    let file = std::fs::File::open(&archive_path).map_err(CliError::io("open", &archive_path))?;
    let archive = Archive::open(&file).map_err(|error| CliError::Archive {
        path: archive_path.clone(),
        error,
    })?;
    let fref = FileRef::open(&archive_path).map_err(CliError::io("open", &archive_path))?;
    let entries: Vec<&Entry> = archive.entries.iter().collect();
    let total = archive.header.total_size;
    let largest = entries.iter().map(|e| e.size).max().unwrap_or(0);
    let mut t = Table::new(&["path", "MB/s of files", "baseline", "ratio"]);
    for choice in stream::available_backends(0) {
        let queue = stream::build_queue(&choice, largest, "dsr bench e2e")?;
        let (mut q, mut b) = (f64::MAX, f64::MAX);
        for _ in 0..args.reps {
            crate::interrupt::check()?;
            timed(&mut q, || {
                stream::read_entries(&queue, &fref, &entries, Mode::Decode, 1).map(drop)
            })?;
            timed(&mut b, || sequential(&file, &entries))?;
        }
        t.row(vec![
            format!("queue ({}) read + CPU GDeflate", choice.name),
            mb_per_s(total, q),
            mb_per_s(total, b),
            times(b / q),
        ]);
    }
    print!("{}", t.render());
    println!("(baseline: one thread, pread each entry then ds_gdeflate::decompress; ratio = baseline time / queue time)");
    Ok(())
}

/// The e2e baseline: one thread reads and decodes each entry in turn.
fn sequential(file: &std::fs::File, entries: &[&Entry]) -> Result<(), CliError> {
    for e in entries {
        let stored = Archive::read_stored(file, e).map_err(|err| CliError::Invalid {
            what: format!("baseline read of {:?}: {err}", e.path),
        })?;
        if e.codec == Codec::GDeflate {
            let mut out = vec![0u8; e.size as usize];
            ds_gdeflate::decompress(&stored, &mut out).map_err(decode_err(&e.path))?;
        }
    }
    Ok(())
}
