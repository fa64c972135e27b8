//! `dsr demo`: the whole pipeline on a sample asset set, with no arguments.
//!
//! 1. generate a deterministic, game-like asset set (text, JSON, meshes,
//!    BC1-style textures, an RGBA image, incompressible audio, a tiny and an
//!    empty file) in a temporary directory;
//! 2. pack it into a dsr archive (GDeflate, tiles in parallel);
//! 3. open the archive (validated index) and stream every entry back
//!    through the ds-runtime request queue — io_uring when the build offers
//!    it, else pread — as GDeflate requests decoded on the CPU inside the
//!    queue;
//! 4. enqueue a few more requests and cancel them by tag before they run,
//!    to show cancellation;
//! 5. when a Vulkan device exists, read a few entries' compressed bytes
//!    through the queue and decode them on the GPU with ds-gpu (lavapipe is
//!    slow, so this part is kept small);
//! 6. check every result against the SHA-256 in the archive index and print
//!    what happened and how fast.

use crate::archive::{Archive, Codec, Entry};
use crate::assets;
use crate::commands;
use crate::error::CliError;
use crate::report::{mb_per_s, mib, secs, Table};
use crate::sha::{self, sha256};
use crate::stream::{self, Mode};
use ds_gpu::{ContextOptions, DecodePath, DecoderOptions, GpuDecoder, ResolvedPath, VulkanContext};
use ds_os_linux::{FileRef, Outcome, Request};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `dsr demo` (all have defaults: the README runs it bare).
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Total size of the sample asset set, in MiB.
    #[arg(long, default_value_t = 16.0, value_name = "MIB")]
    pub size: f64,
    /// Compression level of the archive, 0 to 12.
    #[arg(short, long, default_value_t = 9, value_parser = clap::value_parser!(u8).range(0..=12))]
    pub level: u8,
    /// Most MiB of assets decoded on the GPU (a software Vulkan device such
    /// as lavapipe is slow).
    #[arg(long, default_value_t = 2.0, value_name = "MIB")]
    pub gpu_size: f64,
    /// Skip the GPU part.
    #[arg(long)]
    pub no_gpu: bool,
    /// Fail when no Vulkan device is usable (instead of skipping the GPU
    /// part).
    #[arg(long, conflicts_with = "no_gpu")]
    pub require_gpu: bool,
    /// Work in this directory (created, kept afterwards) instead of a
    /// temporary one.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

/// Requests the demo cancels, to show cancellation.
const CANCEL_COUNT: usize = 4;
const TAG_LOAD: u64 = 1;
const TAG_CANCEL: u64 = 0xCA9CE1;

/// Runs the demo.
pub fn run(args: &DemoArgs, threads: usize) -> Result<(), CliError> {
    if !(args.size > 0.0 && args.size <= 4096.0) {
        return Err(CliError::Usage("--size must be in (0, 4096] MiB".into()));
    }
    let total = (args.size * (1u64 << 20) as f64) as u64;
    let temp;
    let work: &Path = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(CliError::io("create", dir))?;
            dir
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix(".dsr-demo-")
                .tempdir()
                .map_err(CliError::io(
                    "create a temporary directory in",
                    &std::env::temp_dir(),
                ))?;
            temp.path()
        }
    };
    let assets_dir = work.join("assets");
    let archive_path = work.join("assets.dsra");
    let mut table = Table::new(&["stage", "data", "time", "throughput"]);

    // 1. Sample assets.
    let set = assets::sample_set(total);
    println!(
        "dsr demo: {} sample assets, {} (text, JSON, meshes, textures, image, incompressible audio, tiny and empty files)",
        set.len(),
        mib(total)
    );
    println!("  work directory: {}", work.display());
    let t = Instant::now();
    let written =
        assets::write_set(&assets_dir, &set).map_err(CliError::io("write", &assets_dir))?;
    let gen = t.elapsed().as_secs_f64();
    table.row(vec![
        "generate sample assets".into(),
        mib(written),
        secs(gen),
        mb_per_s(written, gen),
    ]);

    // 2. Pack.
    let r = commands::pack(&assets_dir, &archive_path, args.level, threads, true)?;
    println!(
        "[pack] {}: {} files, {} -> {} of entry data ({:.1}%; {} kept raw as incompressible), archive {}",
        archive_path.display(),
        r.files,
        mib(r.bytes),
        mib(r.stored),
        100.0 * r.stored as f64 / r.bytes.max(1) as f64,
        r.raw_entries,
        mib(r.archive_size)
    );
    table.row(vec![
        format!("pack (GDeflate level {}, tiles in parallel)", args.level),
        format!("{} -> {}", mib(r.bytes), mib(r.stored)),
        secs(r.secs),
        mb_per_s(r.bytes, r.secs),
    ]);

    // 3. Stream back through the queue, CPU decode.
    let file = FileRef::open(&archive_path).map_err(CliError::io("open", &archive_path))?;
    let archive = {
        let f = std::fs::File::open(&archive_path).map_err(CliError::io("open", &archive_path))?;
        Archive::open(&f).map_err(|error| CliError::Archive {
            path: archive_path.clone(),
            error,
        })?
    };
    let choice = stream::best_backend(0);
    let largest = archive
        .entries
        .iter()
        .map(|e| e.size.max(e.stored_size))
        .max()
        .unwrap_or(0);
    let queue = stream::build_queue(&choice, largest, "dsr demo")?;
    println!(
        "[queue] backend: {} ({}); executors {:?}",
        choice.name,
        choice.note,
        queue.info().executors
    );
    let entries: Vec<&Entry> = archive.entries.iter().collect();
    let t = Instant::now();
    let loaded = stream::read_entries(&queue, &file, &entries, Mode::Decode, TAG_LOAD)?;
    let load_secs = t.elapsed().as_secs_f64();
    let gdeflate = entries
        .iter()
        .filter(|e| e.codec == Codec::GDeflate)
        .count();
    let stats = queue.stats();
    println!(
        "[stream] {} requests ({gdeflate} GDeflate decoded on the CPU in the queue, {} plain reads; {} empty file(s) need no request): {} in {}, latency p50 {:.2} ms, p99 {:.2} ms",
        loaded.len(),
        loaded.len() - gdeflate.min(loaded.len()),
        entries.len() - loaded.len(),
        mib(archive.header.total_size),
        secs(load_secs),
        stats.latency_p50.as_secs_f64() * 1e3,
        stats.latency_p99.as_secs_f64() * 1e3,
    );
    table.row(vec![
        format!("queue read + CPU GDeflate ({})", choice.name),
        format!(
            "{} -> {}",
            mib(archive.entries.iter().map(|e| e.stored_size).sum()),
            mib(archive.header.total_size)
        ),
        secs(load_secs),
        mb_per_s(archive.header.total_size, load_secs),
    ]);

    // Verify (CPU path).
    let t = Instant::now();
    let mut checked = 0;
    for l in &loaded {
        check(entries[l.index], &l.data, "queue/CPU")?;
        checked += 1;
    }
    for e in entries.iter().filter(|e| e.stored_size == 0) {
        check(e, &[], "empty")?;
        checked += 1;
    }
    let verify_secs = t.elapsed().as_secs_f64();
    println!(
        "[verify] {checked}/{} entries match the SHA-256 in the index",
        entries.len()
    );
    table.row(vec![
        "verify SHA-256".into(),
        mib(archive.header.total_size),
        secs(verify_secs),
        mb_per_s(archive.header.total_size, verify_secs),
    ]);

    // 4. Cancellation.
    cancel_demo(&queue, &file, &entries)?;

    // 5. GPU.
    if args.no_gpu {
        println!("[gpu] skipped (--no-gpu)");
    } else {
        gpu_stage(args, &queue, &file, &entries, &mut table)?;
    }
    drop(queue);

    println!();
    print!("{}", table.render());
    println!(
        "\nall {} entries verified; backend {}, {} worker thread(s) available",
        entries.len(),
        choice.name,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    Ok(())
}

fn check(e: &Entry, data: &[u8], path: &str) -> Result<(), CliError> {
    let got = sha256(data);
    if got == e.sha256 && data.len() as u64 == e.size {
        Ok(())
    } else {
        Err(CliError::Mismatch {
            what: format!("{} ({path})", e.path),
            expected: sha::to_hex(&e.sha256),
            actual: sha::to_hex(&got),
        })
    }
}

/// Enqueues [`CANCEL_COUNT`] reads with their own tag, cancels them by tag
/// before submitting, and checks that each reports Cancelled and that its
/// buffer comes back untouched.
fn cancel_demo(
    queue: &ds_os_linux::Queue,
    file: &FileRef,
    entries: &[&Entry],
) -> Result<(), CliError> {
    let Some(e) = entries.iter().find(|e| e.stored_size > 0) else {
        println!("[cancel] skipped: no non-empty entry");
        return Ok(());
    };
    const FILL: u8 = 0xA5;
    let mut ids = Vec::new();
    for k in 0..CANCEL_COUNT {
        let req = Request::read(file, e.offset, e.stored_size)
            .name(&format!("cancel-me-{k}"))
            .tag(TAG_CANCEL)
            .into_buffer(vec![FILL; e.stored_size as usize]);
        let id = queue.enqueue(req).map_err(|r| CliError::Enqueue {
            what: format!("cancel-me-{k}"),
            error: r.error,
        })?;
        ids.push(id);
    }
    let cancelled = queue.cancel_by_tag(u64::MAX, TAG_CANCEL);
    queue.submit();
    let mut reported = 0;
    for id in ids {
        let c = queue.wait(id, None)?;
        let untouched = c
            .buffer
            .as_ref()
            .is_some_and(|b| b.iter().all(|&x| x == FILL));
        if c.outcome == Outcome::Cancelled && untouched {
            reported += 1;
        } else {
            return Err(CliError::Invalid {
                what: format!(
                    "cancelled request {} ended as {:?} (buffer untouched: {untouched})",
                    c.id, c.outcome
                ),
            });
        }
    }
    println!(
        "[cancel] {CANCEL_COUNT} reads enqueued with tag {TAG_CANCEL:#x}; cancel_by_tag cancelled {cancelled} before they ran; {reported} reported Cancelled with their buffers untouched"
    );
    Ok(())
}

/// Decodes a few GDeflate entries on the GPU: their compressed bytes come
/// through the queue (plain reads), ds-gpu decodes them, results are
/// checked against the index.
fn gpu_stage(
    args: &DemoArgs,
    queue: &ds_os_linux::Queue,
    file: &FileRef,
    entries: &[&Entry],
    table: &mut Table,
) -> Result<(), CliError> {
    let ctx = match VulkanContext::create(&ContextOptions::default()) {
        Ok(ctx) => ctx,
        Err(e) if !args.require_gpu => {
            println!("[gpu] skipped: {e}");
            return Ok(());
        }
        Err(error) => {
            return Err(CliError::Gpu {
                what: "--require-gpu: no usable Vulkan device".into(),
                error,
            })
        }
    };
    let name = ctx.caps().device_name.clone();
    let gpu_err = |what: &str| {
        let what = what.to_owned();
        move |error| CliError::Gpu { what, error }
    };
    let decoder = GpuDecoder::new(&ctx, DecoderOptions::default())
        .map_err(gpu_err(&format!("GPU decoder on {name}")))?;
    // Smallest GDeflate entries first, one of each kind of content where
    // possible, up to the budget.
    let budget = (args.gpu_size.max(0.0) * (1u64 << 20) as f64) as u64;
    let mut picks: Vec<&Entry> = entries
        .iter()
        .copied()
        .filter(|e| e.codec == Codec::GDeflate)
        .collect();
    picks.sort_by_key(|e| e.size);
    let mut used = 0;
    picks.retain(|e| {
        let keep = used + e.size <= budget;
        if keep {
            used += e.size;
        }
        keep
    });
    if picks.is_empty() {
        println!(
            "[gpu] {name}: no GDeflate entry fits the {} budget",
            mib(budget)
        );
        return Ok(());
    }
    let raw = stream::read_entries(queue, file, &picks, Mode::Raw, TAG_LOAD)?;
    let path = decoder
        .resolve(DecodePath::Auto)
        .map_err(gpu_err("GPU decode path"))?;
    let t = Instant::now();
    let mut outputs = Vec::with_capacity(raw.len());
    for l in &raw {
        let e = picks[l.index];
        let out = decoder
            .decompress(&l.data, DecodePath::Auto)
            .map_err(gpu_err(&format!("GPU decode of {:?} on {name}", e.path)))?;
        outputs.push((e, out));
    }
    let gpu_secs = t.elapsed().as_secs_f64();
    for (e, out) in &outputs {
        check(e, out, "GPU")?;
    }
    let path_name = match path {
        ResolvedPath::Shader => "ds-gpu compute shader".to_owned(),
        ResolvedPath::MemoryDecompression(ext) => format!("driver memory decompression ({ext:?})"),
    };
    println!(
        "[gpu] device: {name}; {} entries ({}) decoded with the {path_name}, all match the index SHA-256",
        outputs.len(),
        mib(used)
    );
    table.row(vec![
        format!("GPU decode on {name} (incl. upload/readback)"),
        mib(used),
        secs(gpu_secs),
        mb_per_s(used, gpu_secs),
    ]);
    Ok(())
}
