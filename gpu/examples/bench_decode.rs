//! GDeflate decode benchmark on one Vulkan device, all in one run: our compute shader, the
//! driver's memory-decompression path (`VK_NV_memory_decompression` / EXT) when offered, and the
//! CPU decoder on all cores (`ds_gdeflate::decompress_parallel`), on streams resident in GPU
//! memory. Every GPU result is checked against the CPU output; ratios are printed against the
//! same run's numbers.
//!
//! Usage: `bench_decode [--iters N] [--variant auto|shared|subgroup] [--device N] FILE...`
//!
//! GPU times are GPU timestamps around the decode commands (dispatch or decompression command
//! plus the status reset), best of N; CPU times are wall-clock, best of N. GB/s counts
//! uncompressed bytes (10^9 bytes per second).
#![allow(unsafe_code)]
// Vulkan calls come in sequences that share one precondition (valid handles of this device,
// recording command buffer); each block's SAFETY comment states it once for the sequence.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::process::ExitCode;
use std::time::Instant;

use ds_gpu::vk;
use ds_gpu::*;

struct Args {
    iters: usize,
    variant: VariantChoice,
    device: Option<usize>,
    files: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        iters: 10,
        variant: VariantChoice::Auto,
        device: None,
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
            "--variant" => {
                a.variant = match it.next().as_deref() {
                    Some("auto") => VariantChoice::Auto,
                    Some("shared") => VariantChoice::Force(ShaderVariant::SharedMemory),
                    Some("subgroup") => VariantChoice::Force(ShaderVariant::Subgroup),
                    _ => return Err("--variant auto|shared|subgroup".into()),
                }
            }
            "--device" => {
                a.device = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--device needs an index")?,
                )
            }
            f => a.files.push(f.to_owned()),
        }
    }
    if a.files.is_empty() {
        return Err(
            "usage: bench_decode [--iters N] [--variant auto|shared|subgroup] [--device N] FILE..."
                .into(),
        );
    }
    Ok(a)
}

/// Times one decode of `s` on `path` with GPU timestamps; returns seconds.
fn gpu_time(
    dec: &GpuDecoder,
    pool: vk::QueryPool,
    s: &ResidentStream,
    path: ResolvedPath,
    period_ns: f64,
) -> Result<f64, GpuError> {
    let ctx = dec.context().clone();
    dec.run_commands(|cmd| {
        // SAFETY: recording command buffer; the query pool and `s` outlive the wait inside
        // run_commands.
        unsafe {
            ctx.device().cmd_reset_query_pool(cmd, pool, 0, 2);
            ctx.device()
                .cmd_write_timestamp(cmd, vk::PipelineStageFlags::TOP_OF_PIPE, pool, 0);
            dec.record(cmd, s, path)?;
            ctx.device()
                .cmd_write_timestamp(cmd, vk::PipelineStageFlags::BOTTOM_OF_PIPE, pool, 1);
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

fn gbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let ctx = VulkanContext::create(&ContextOptions {
        validation: false,
        device_index: args.device,
        memory_decompression: true,
    })
    .map_err(|e| e.to_string())?;
    let dec = GpuDecoder::new(
        &ctx,
        DecoderOptions {
            variant: args.variant,
            ..DecoderOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let caps = ctx.caps();
    let period = caps
        .timestamp_period_ns
        .ok_or("the queue has no timestamps")? as f64;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "device: {} (Vulkan {}.{}, subgroup {} [{}..{}]), shader variant {:?} (required subgroup size {:?}), driver path {:?}, CPU threads {threads}, iterations {}",
        caps.device_name,
        vk::api_version_major(caps.api_version),
        vk::api_version_minor(caps.api_version),
        caps.subgroup_size,
        caps.subgroup_size_range.0,
        caps.subgroup_size_range.1,
        dec.shader().variant(),
        dec.shader().required_subgroup_size(),
        caps.memory_decompression,
        args.iters
    );
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
    let mut failed = false;
    for file in &args.files {
        let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        let size = ds_gdeflate::uncompressed_size(&bytes).map_err(|e| format!("{file}: {e}"))?;
        let mut cpu_out = vec![0u8; size as usize];
        let mut cpu_best = f64::INFINITY;
        for _ in 0..args.iters {
            let t = Instant::now();
            ds_gdeflate::decompress_parallel(&bytes, &mut cpu_out, 0)
                .map_err(|e| format!("{file}: CPU decode: {e}"))?;
            cpu_best = cpu_best.min(t.elapsed().as_secs_f64());
        }
        let s = dec.upload(&bytes).map_err(|e| format!("{file}: {e}"))?;
        println!(
            "{file}: {} tiles, {} -> {} bytes",
            s.num_tiles, s.compressed_size, s.uncompressed_size
        );
        println!(
            "  cpu ({threads} threads)   {:10.3} ms  {:9.4} GB/s",
            cpu_best * 1e3,
            gbps(size, cpu_best)
        );
        let mut paths = vec![ResolvedPath::Shader];
        if let Ok(p @ ResolvedPath::MemoryDecompression(_)) = dec.resolve(DecodePath::Driver) {
            paths.push(p);
        }
        let mut best = Vec::new();
        for path in paths {
            let mut t_best = f64::INFINITY;
            // One warm-up, then the timed iterations.
            for i in 0..=args.iters {
                let t = gpu_time(&dec, pool, &s, path, period).map_err(|e| e.to_string())?;
                if i > 0 {
                    t_best = t_best.min(t);
                }
            }
            let out = dec.output(&s).map_err(|e| e.to_string())?;
            let mut verdict = if out == cpu_out {
                "output matches CPU".to_string()
            } else {
                failed = true;
                let at = out.iter().zip(&cpu_out).position(|(a, b)| a != b);
                format!("OUTPUT DIFFERS from CPU (first difference at {at:?})")
            };
            if path == ResolvedPath::Shader {
                let tiles = dec.tile_results(&s).map_err(|e| e.to_string())?;
                if let Some((i, e)) = tiles
                    .iter()
                    .enumerate()
                    .find_map(|(i, r)| r.err().map(|e| (i, e)))
                {
                    failed = true;
                    verdict.push_str(&format!(", TILE {i} FAILED: {e}"));
                }
            }
            let name = match path {
                ResolvedPath::Shader => "shader".to_string(),
                ResolvedPath::MemoryDecompression(k) => format!("driver {k:?}"),
            };
            println!(
                "  {name:<20} {:10.3} ms  {:9.4} GB/s  ({verdict})",
                t_best * 1e3,
                gbps(size, t_best)
            );
            best.push((name, t_best));
        }
        for (name, t) in &best {
            println!("  ratio {name} / cpu: {:.4}x", cpu_best / t);
        }
        if let [(a, ta), (b, tb)] = &best[..] {
            println!("  ratio {a} / {b}: {:.2}x", tb / ta);
        }
    }
    // SAFETY: no submission using the pool is pending (every run waited).
    unsafe { ctx.device().destroy_query_pool(pool, None) };
    if failed {
        return Err("some GPU output did not match the CPU decoder".into());
    }
    Ok(())
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
