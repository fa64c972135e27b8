//! GDeflate decode benchmark on one Vulkan device, all in one run: our compute shader (each
//! variant), the driver's memory-decompression path (`VK_NV_memory_decompression` / EXT) when
//! offered, and the CPU decoder on all cores (`ds_gdeflate::decompress_parallel`), on streams
//! resident in GPU memory, **at several batch sizes**: a batch is that many tiles decoded by one
//! submission (copies of the stream side by side in GPU memory, each with its own source and
//! output, so no tile reads another's data from cache). Small batches leave most of a large GPU
//! idle; the sweep shows where each decoder saturates. Every GPU result is checked against the
//! CPU output (the first and last copy of each batch, and every tile's status on the shader);
//! ratios are printed against the same run's numbers.
//!
//! Usage: `bench_decode [--iters N] [--device N] [--tiles 512,2048,8192,16384]
//!                      [--variants subgroup,shared,subgroup-t16,shared-t16] FILE...`
//!
//! Shader variants: `subgroup` / `shared` (how lanes exchange values), `-t16` with 16-bit
//! Huffman table entries (`TableFormat::Packed16`: half the tables' shared memory).
//!
//! GPU times are GPU timestamps around the decode commands (for the shader: the status reset and
//! the dispatches), best of N after one warm-up; CPU times are wall-clock, best of N. GB/s counts
//! uncompressed bytes (10^9 bytes per second). With `VK_KHR_pipeline_executable_properties` the
//! driver's compile statistics of each shader variant are printed first (registers, shared
//! memory, spills: what limits how many tiles an SM keeps in flight).
#![allow(unsafe_code)]
// Vulkan calls come in sequences that share one precondition (valid handles of this device,
// recording command buffer); each block's SAFETY comment states it once for the sequence.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::process::ExitCode;
use std::time::Instant;

use ds_gpu::decode::{record_buffer_barrier, tile_descs};
use ds_gpu::decompression::regions_for_stream;
use ds_gpu::vk;
use ds_gpu::*;

/// Placement stride of each copy in the source and output buffers (storage-buffer offsets and the
/// driver's 4-byte rule are then met for every copy).
const STRIDE_ALIGN: u64 = 256;
/// Largest output of one batch (bytes): keeps the largest batches inside GPU memory limits.
const MAX_BATCH_OUTPUT: u64 = 4 << 30;

struct Args {
    iters: usize,
    device: Option<usize>,
    tiles: Vec<u32>,
    variants: Vec<(ShaderVariant, TableFormat)>,
    files: Vec<String>,
}

const USAGE: &str = "usage: bench_decode [--iters N] [--device N] [--tiles 512,2048,...] [--variants subgroup,shared,subgroup-t16,shared-t16] FILE...";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        iters: 10,
        device: None,
        tiles: vec![512, 2048, 8192, 16384],
        variants: vec![
            (ShaderVariant::Subgroup, TableFormat::Wide),
            (ShaderVariant::SharedMemory, TableFormat::Wide),
            (ShaderVariant::Subgroup, TableFormat::Packed16),
        ],
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(s) = it.next() {
        match s.as_str() {
            "--iters" => {
                a.iters = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n: &usize| n > 0)
                    .ok_or("--iters needs a positive number")?
            }
            "--device" => {
                a.device = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--device needs an index")?,
                )
            }
            "--tiles" => {
                a.tiles = it
                    .next()
                    .ok_or("--tiles needs a list")?
                    .split(',')
                    .map(|t| t.parse().ok().filter(|&n: &u32| n > 0))
                    .collect::<Option<Vec<u32>>>()
                    .ok_or("--tiles takes positive numbers separated by commas")?
            }
            "--variants" => {
                a.variants = it
                    .next()
                    .ok_or("--variants needs a list")?
                    .split(',')
                    .map(|v| match v {
                        "subgroup" => Ok((ShaderVariant::Subgroup, TableFormat::Wide)),
                        "shared" => Ok((ShaderVariant::SharedMemory, TableFormat::Wide)),
                        "subgroup-t16" => Ok((ShaderVariant::Subgroup, TableFormat::Packed16)),
                        "shared-t16" => Ok((ShaderVariant::SharedMemory, TableFormat::Packed16)),
                        other => Err(format!("unknown variant {other}")),
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            f if f.starts_with("--") => return Err(format!("unknown option {f}\n{USAGE}")),
            f => a.files.push(f.to_owned()),
        }
    }
    if a.files.is_empty() || a.variants.is_empty() || a.tiles.is_empty() {
        return Err(USAGE.into());
    }
    Ok(a)
}

fn gbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

/// Who decodes a batch.
#[derive(Clone, Copy)]
enum Decoder<'a> {
    Shader(&'a ShaderDecoder),
    Driver(&'a MemoryDecompressor),
}

/// `copies` copies of one stream resident in GPU memory, with what each decoder needs.
struct Batch {
    copies: u64,
    tiles: u32,
    src_stride: u64,
    out_stride: u64,
    uncompressed: u64,
    src: GpuBuffer,
    dst: GpuBuffer,
    table: GpuBuffer,
    status: GpuBuffer,
    regions: Vec<Region>,
}

impl Batch {
    fn new(
        dec: &GpuDecoder,
        bytes: &[u8],
        parsed: &ds_gdeflate::TileStream<'_>,
        copies: u64,
        driver: bool,
    ) -> Result<Batch, GpuError> {
        let ctx = dec.context();
        let src_stride = (bytes.len() as u64).div_ceil(STRIDE_ALIGN) * STRIDE_ALIGN;
        let out_stride = parsed.uncompressed_size().div_ceil(STRIDE_ALIGN) * STRIDE_ALIGN;
        let per_copy = parsed.num_tiles() as u64;
        let tiles = u32::try_from(per_copy * copies).map_err(|_| GpuError::Range {
            what: format!("{copies} copies of {per_copy} tiles"),
        })?;
        let src = GpuBuffer::new(ctx, src_stride * copies, MemoryKind::DeviceLocal)?;
        let dst = GpuBuffer::new(ctx, out_stride * copies, MemoryKind::DeviceLocal)?;
        let table = GpuBuffer::new(ctx, u64::from(tiles) * 16, MemoryKind::DeviceLocal)?;
        let status = GpuBuffer::new(ctx, u64::from(tiles) * 16, MemoryKind::DeviceLocal)?;
        let mut padded = bytes.to_vec();
        padded.resize(src_stride as usize, 0);
        dec.upload_to(&src, 0, &padded)?;
        if copies > 1 {
            dec.run_commands(|cmd| {
                let regions: Vec<vk::BufferCopy> = (1..copies)
                    .map(|c| {
                        vk::BufferCopy::default()
                            .src_offset(0)
                            .dst_offset(c * src_stride)
                            .size(src_stride)
                    })
                    .collect();
                // SAFETY: recording buffer; `src` alive until run_commands waited.
                unsafe {
                    ctx.device()
                        .cmd_copy_buffer(cmd, src.handle(), src.handle(), &regions)
                };
                Ok(())
            })?;
        }
        let copies_per_set = Self::copies_per_set(ctx, src_stride, out_stride);
        let mut descs = Vec::with_capacity(tiles as usize * 16);
        for c in 0..copies {
            let in_set = c % copies_per_set;
            for d in tile_descs(parsed, in_set * src_stride, in_set * out_stride)? {
                descs.extend_from_slice(&d.to_bytes());
            }
        }
        dec.upload_to(&table, 0, &descs)?;
        let mut regions = Vec::new();
        if driver {
            for c in 0..copies {
                regions.extend(regions_for_stream(
                    parsed,
                    src.device_address() + c * src_stride,
                    dst.device_address() + c * out_stride,
                )?);
            }
        }
        Ok(Batch {
            copies,
            tiles,
            src_stride,
            out_stride,
            uncompressed: parsed.uncompressed_size(),
            src,
            dst,
            table,
            status,
            regions,
        })
    }

    /// Copies one descriptor set can bind (the device's storage-buffer range limit, 32-bit
    /// descriptor offsets).
    fn copies_per_set(ctx: &VulkanContext, src_stride: u64, out_stride: u64) -> u64 {
        let limit = ctx.caps().max_storage_buffer_range.min(u64::from(u32::MAX));
        (limit / src_stride.max(out_stride)).max(1)
    }

    /// Descriptor sets of `shader` over the batch, with the copies each covers.
    fn sets(
        &self,
        ctx: &VulkanContext,
        shader: &ShaderDecoder,
    ) -> Result<Vec<(DecodeSet, u64, u64)>, GpuError> {
        let per = Self::copies_per_set(ctx, self.src_stride, self.out_stride);
        let mut out = Vec::new();
        let mut first = 0;
        while first < self.copies {
            let n = per.min(self.copies - first);
            let set = shader.bind(&DecodeBindings {
                src: self
                    .src
                    .slice(first * self.src_stride, n * self.src_stride)?,
                dst: self
                    .dst
                    .slice(first * self.out_stride, n * self.out_stride)?,
                tiles: self.table.range(),
                status: self.status.range(),
            })?;
            out.push((set, first, n));
            first += n;
        }
        Ok(out)
    }

    fn output_bytes(&self) -> u64 {
        self.uncompressed * self.copies
    }
}

/// Times one decode of `b` with GPU timestamps; returns seconds.
fn gpu_time(
    dec: &GpuDecoder,
    pool: vk::QueryPool,
    b: &Batch,
    who: Decoder<'_>,
    sets: &[(DecodeSet, u64, u64)],
    period_ns: f64,
) -> Result<f64, GpuError> {
    use vk::AccessFlags as A;
    use vk::PipelineStageFlags as P;
    let ctx = dec.context().clone();
    let tiles_per_copy = u64::from(b.tiles) / b.copies;
    dec.run_commands(|cmd| {
        let all = (P::ALL_COMMANDS, A::MEMORY_READ | A::MEMORY_WRITE);
        // SAFETY: recording command buffer; the query pool, the batch and its sets outlive the
        // wait inside run_commands.
        unsafe {
            let d = ctx.device();
            d.cmd_reset_query_pool(cmd, pool, 0, 2);
            record_buffer_barrier(&ctx, cmd, all, all);
            d.cmd_write_timestamp(cmd, P::TOP_OF_PIPE, pool, 0);
            match who {
                Decoder::Shader(shader) => {
                    d.cmd_fill_buffer(cmd, b.status.handle(), 0, vk::WHOLE_SIZE, 0xFFFF_FFFF);
                    record_buffer_barrier(
                        &ctx,
                        cmd,
                        (P::TRANSFER, A::TRANSFER_WRITE),
                        (P::COMPUTE_SHADER, A::SHADER_WRITE),
                    );
                    for (set, first, n) in sets {
                        shader.record(
                            cmd,
                            set,
                            (first * tiles_per_copy) as u32,
                            (n * tiles_per_copy) as u32,
                        );
                    }
                }
                Decoder::Driver(driver) => driver.record(cmd, &b.regions)?,
            }
            d.cmd_write_timestamp(cmd, P::BOTTOM_OF_PIPE, pool, 1);
            record_buffer_barrier(&ctx, cmd, all, all);
        }
        Ok(())
    })?;
    let mut stamps = [0u64; 2];
    // SAFETY: the two queries were written by the completed submission.
    unsafe {
        ctx.device().get_query_pool_results(
            pool,
            0,
            &mut stamps,
            vk::QueryResultFlags::TYPE_64 | vk::QueryResultFlags::WAIT,
        )
    }
    .map_err(|result| GpuError::Vk {
        call: "vkGetQueryPoolResults",
        result,
    })?;
    Ok(stamps[1].wrapping_sub(stamps[0]) as f64 * period_ns * 1e-9)
}

/// Checks the first and last copy against the CPU output and, for the shader, every tile's
/// status; returns a verdict and whether it failed.
fn verify(
    dec: &GpuDecoder,
    b: &Batch,
    cpu: &[u8],
    shader: bool,
) -> Result<(String, bool), GpuError> {
    let mut bad = Vec::new();
    for c in [0, b.copies - 1] {
        let out = dec.download(&b.dst, c * b.out_stride, b.uncompressed)?;
        if out != cpu {
            let at = out.iter().zip(cpu).position(|(x, y)| x != y);
            bad.push(format!("copy {c} differs from the CPU at {at:?}"));
        }
    }
    if shader {
        let raw = dec.download(&b.status, 0, u64::from(b.tiles) * 16)?;
        let failed: Vec<(usize, TileError)> = raw
            .chunks_exact(16)
            .enumerate()
            .filter_map(|(i, s)| TileStatus::from_bytes(s).result().err().map(|e| (i, e)))
            .collect();
        if let Some((i, e)) = failed.first() {
            bad.push(format!("{} tiles failed, first {i}: {e}", failed.len()));
        }
    }
    Ok(if bad.is_empty() {
        ("ok".into(), false)
    } else {
        (bad.join("; ").to_uppercase(), true)
    })
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let ctx = VulkanContext::create(&ContextOptions {
        validation: false,
        device_index: args.device,
        memory_decompression: true,
        pipeline_statistics: true,
    })
    .map_err(|e| e.to_string())?;
    let dec = GpuDecoder::new(&ctx, DecoderOptions::default()).map_err(|e| e.to_string())?;
    let caps = ctx.caps();
    let period = caps
        .timestamp_period_ns
        .ok_or("the queue has no timestamps")? as f64;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut shaders = Vec::new();
    for &(v, t) in &args.variants {
        match ShaderDecoder::with_tables(&ctx, VariantChoice::Force(v), t) {
            Ok(s) => shaders.push(s),
            Err(e) => println!("variant {v:?} {t:?} skipped: {e}"),
        }
    }
    let driver = match caps.memory_decompression {
        Some(_) => Some(MemoryDecompressor::new(&ctx).map_err(|e| e.to_string())?),
        None => None,
    };
    println!(
        "device: {} (Vulkan {}.{}, subgroup {} [{}..{}], max storage range {} bytes), driver path {:?}, CPU threads {threads}, iterations {}",
        caps.device_name,
        vk::api_version_major(caps.api_version),
        vk::api_version_minor(caps.api_version),
        caps.subgroup_size,
        caps.subgroup_size_range.0,
        caps.subgroup_size_range.1,
        caps.max_storage_buffer_range,
        caps.memory_decompression,
        args.iters
    );
    for s in &shaders {
        println!(
            "shader {:?} {:?} (required subgroup size {:?}) compile statistics:",
            s.variant(),
            s.tables(),
            s.required_subgroup_size()
        );
        match s.statistics() {
            Ok(lines) if lines.is_empty() => {
                println!("  (none: no VK_KHR_pipeline_executable_properties)")
            }
            Ok(lines) => lines.iter().for_each(|l| println!("  {l}")),
            Err(e) => println!("  unavailable: {e}"),
        }
    }
    // SAFETY: valid device, create info alive for the call.
    let pool = unsafe {
        ctx.device().create_query_pool(
            &vk::QueryPoolCreateInfo::default()
                .query_type(vk::QueryType::TIMESTAMP)
                .query_count(2),
            None,
        )
    }
    .map_err(|e| format!("vkCreateQueryPool: {e}"))?;
    let result = bench_files(
        &args,
        &dec,
        &shaders,
        driver.as_ref(),
        pool,
        period,
        threads,
    );
    // SAFETY: no submission using the pool is pending (every run waited).
    unsafe { ctx.device().destroy_query_pool(pool, None) };
    result
}

fn bench_files(
    args: &Args,
    dec: &GpuDecoder,
    shaders: &[ShaderDecoder],
    driver: Option<&MemoryDecompressor>,
    pool: vk::QueryPool,
    period: f64,
    threads: usize,
) -> Result<(), String> {
    let mut failed = false;
    let mut names: Vec<String> = shaders
        .iter()
        .map(|s| {
            let v = match s.variant() {
                ShaderVariant::Subgroup => "subgroup",
                ShaderVariant::SharedMemory => "shared",
            };
            let t = match s.tables() {
                TableFormat::Wide => "",
                TableFormat::Packed16 => "-t16",
            };
            format!("shader-{v}{t}")
        })
        .collect();
    if let Some(d) = driver {
        names.push(format!("driver-{:?}", d.kind()).to_lowercase());
    }
    for file in &args.files {
        let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        let parsed = ds_gdeflate::TileStream::parse(&bytes).map_err(|e| format!("{file}: {e}"))?;
        let size = parsed.uncompressed_size();
        let mut cpu_out = vec![0u8; size as usize];
        let mut cpu_best = f64::INFINITY;
        for _ in 0..args.iters {
            let t = Instant::now();
            ds_gdeflate::decompress_parallel(&bytes, &mut cpu_out, 0)
                .map_err(|e| format!("{file}: CPU decode: {e}"))?;
            cpu_best = cpu_best.min(t.elapsed().as_secs_f64());
        }
        let per_copy = parsed.num_tiles().max(1) as u64;
        println!(
            "{file}: {} tiles, {} -> {size} bytes (ratio {:.2}); cpu ({threads} threads) {:.3} ms = {:.3} GB/s",
            parsed.num_tiles(),
            bytes.len(),
            size as f64 / bytes.len() as f64,
            cpu_best * 1e3,
            gbps(size, cpu_best)
        );
        print!("  {:>7} {:>6}", "tiles", "copies");
        for n in &names {
            print!(" {n:>20}");
        }
        println!("  {:>12}  {:>12}  check", "best/driver", "best/cpu");
        let mut done = std::collections::HashSet::new();
        for &want in &args.tiles {
            let copies = (u64::from(want).div_ceil(per_copy))
                .clamp(1, (MAX_BATCH_OUTPUT / size.max(1)).max(1));
            if !done.insert(copies) {
                continue;
            }
            let batch = Batch::new(dec, &bytes, &parsed, copies, driver.is_some())
                .map_err(|e| format!("{file}: batch of {copies} copies: {e}"))?;
            let mut row = Vec::new();
            let mut checks = Vec::new();
            for s in shaders {
                let sets = batch.sets(dec.context(), s).map_err(|e| e.to_string())?;
                let t = best_time(dec, pool, &batch, Decoder::Shader(s), &sets, period, args)?;
                let (verdict, bad) =
                    verify(dec, &batch, &cpu_out, true).map_err(|e| e.to_string())?;
                failed |= bad;
                checks.push(verdict);
                row.push(t);
            }
            if let Some(d) = driver {
                let t = best_time(dec, pool, &batch, Decoder::Driver(d), &[], period, args)?;
                let (verdict, bad) =
                    verify(dec, &batch, &cpu_out, false).map_err(|e| e.to_string())?;
                failed |= bad;
                checks.push(verdict);
                row.push(t);
            }
            print!("  {:>7} {:>6}", batch.tiles, batch.copies);
            for t in &row {
                print!(" {:>15.4} GB/s", gbps(batch.output_bytes(), *t));
            }
            let best_shader = row[..shaders.len()]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            let vs_driver = match (driver, row.last()) {
                (Some(_), Some(td)) if !shaders.is_empty() => format!("{:.2}x", td / best_shader),
                _ => "-".into(),
            };
            let cpu_gbs = gbps(size, cpu_best);
            println!(
                "  {vs_driver:>12}  {:>11.2}x  {}",
                gbps(batch.output_bytes(), best_shader) / cpu_gbs,
                checks.join(", ")
            );
        }
    }
    println!(
        "(GB/s of decompressed bytes per batch; best/driver = best shader variant / driver path, >1 means the shader is faster; best/cpu against the CPU decoder on all cores)"
    );
    if failed {
        return Err("some GPU output did not match the CPU decoder".into());
    }
    Ok(())
}

fn best_time(
    dec: &GpuDecoder,
    pool: vk::QueryPool,
    batch: &Batch,
    who: Decoder<'_>,
    sets: &[(DecodeSet, u64, u64)],
    period: f64,
    args: &Args,
) -> Result<f64, String> {
    let mut best = f64::INFINITY;
    // One warm-up, then the timed iterations.
    for i in 0..=args.iters {
        let t = gpu_time(dec, pool, batch, who, sets, period).map_err(|e| e.to_string())?;
        if i > 0 {
            best = best.min(t);
        }
    }
    Ok(best)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_decode: {e}");
            ExitCode::FAILURE
        }
    }
}
