//! The GPUDirect Storage check shared by `examples/cufile_check` (the
//! device-machine binary) and `tests/cufile_device.rs` (the same check in
//! `cargo test`, skipped with a printed reason where there is no libcufile).
//!
//! What is verified where:
//! * On the device: a PTX kernel (loaded with `cuModuleLoadData`) sums the
//!   32-bit words of the GPU buffer the queue filled with `cuFileRead`, and
//!   a position-weighted sum (word i times 2i+1), with 64-bit atomics. Only
//!   those two 64-bit results are copied back; the host compares them with
//!   the same sums over the file's bytes, computed on the host.
//! * Through the queue: errors of bad destinations (unregistered buffer,
//!   range past its end) and a read past the end of the file are precise;
//!   a GDeflate request is decoded on the CPU and lands in GPU memory
//!   (checked by the same device checksum).
//! * Timing (information, not a test): the cuFile route's GB/s next to a
//!   `pread` + `cuMemcpyHtoD` baseline over the same file, same run.

use ds_os_linux::cufile::{CuFileConfig, CuFileDriver, CuFileError, Cuda, DeviceMemory, Route};
use ds_os_linux::{Backend, FileRef, Outcome, QueueBuilder, Request, RequestErrorKind};
use std::ffi::{c_void, CString};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const TWO_TILES: &[u8] = include_bytes!("../../tests/data/text_64k_plus1.L9.gdef");
const TWO_TILES_BIN: &[u8] = include_bytes!("../../tests/data/text_64k_plus1.bin");

/// Chunk size of the requests that fill the GPU buffer.
const CHUNK: u64 = 4 << 20;

/// The device-side checksum kernel. Parameters: data (u64 device
/// address), number of 32-bit words, out (two u64: sum, weighted sum).
/// Grid-stride loop, then one 64-bit atomic add per thread and result.
const PTX_BODY: &str = r#"
.visible .entry ds_checksum(
	.param .u64 p_data,
	.param .u64 p_words,
	.param .u64 p_out
)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<6>;
	.reg .b64 	%rd<20>;

	ld.param.u64 	%rd1, [p_data];
	ld.param.u64 	%rd2, [p_words];
	ld.param.u64 	%rd3, [p_out];
	cvta.to.global.u64 	%rd4, %rd1;
	cvta.to.global.u64 	%rd5, %rd3;
	mov.u32 	%r1, %ctaid.x;
	mov.u32 	%r2, %ntid.x;
	mov.u32 	%r3, %tid.x;
	mov.u32 	%r4, %nctaid.x;
	mul.wide.u32 	%rd6, %r1, %r2;
	cvt.u64.u32 	%rd7, %r3;
	add.s64 	%rd8, %rd6, %rd7;
	mul.wide.u32 	%rd9, %r4, %r2;
	mov.u64 	%rd10, 0;
	mov.u64 	%rd11, 0;
$L_loop:
	setp.ge.u64 	%p1, %rd8, %rd2;
	@%p1 bra 	$L_done;
	shl.b64 	%rd12, %rd8, 2;
	add.s64 	%rd13, %rd4, %rd12;
	ld.global.u32 	%r5, [%rd13];
	cvt.u64.u32 	%rd14, %r5;
	add.s64 	%rd10, %rd10, %rd14;
	shl.b64 	%rd15, %rd8, 1;
	add.s64 	%rd16, %rd15, 1;
	mul.lo.s64 	%rd17, %rd14, %rd16;
	add.s64 	%rd11, %rd11, %rd17;
	add.s64 	%rd8, %rd8, %rd9;
	bra.uni 	$L_loop;
$L_done:
	atom.global.add.u64 	%rd18, [%rd5], %rd10;
	atom.global.add.u64 	%rd19, [%rd5+8], %rd11;
	ret;
}
"#;

/// The outcome of the check.
pub enum CheckResult {
    /// Ran and passed; the lines describe what was measured.
    Passed(Vec<String>),
    /// Could not run here (no CUDA driver, no device, no libcufile).
    Skipped(String),
}

/// The host's version of the kernel's sums (zero padding to whole words).
pub fn host_checksum(bytes: &[u8]) -> (u64, u64) {
    let (mut sum, mut weighted) = (0u64, 0u64);
    for (i, w) in bytes.chunks(4).enumerate() {
        let mut word = [0u8; 4];
        word[..w.len()].copy_from_slice(w);
        let v = u64::from(u32::from_le_bytes(word));
        sum = sum.wrapping_add(v);
        weighted = weighted.wrapping_add(v.wrapping_mul(2 * i as u64 + 1));
    }
    (sum, weighted)
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

struct Kernel {
    cuda: Arc<Cuda>,
    _module: ds_os_linux::cufile::Module,
    f: ds_os_linux::cufile::Function,
    out: DeviceMemory,
}

impl Kernel {
    fn load(cuda: &Arc<Cuda>) -> Result<Kernel, String> {
        let (major, minor) = cuda.compute_capability();
        // PTX for sm_75 is JIT-compiled for any newer GPU; the device's own
        // target is the fallback should the driver refuse the old one.
        let targets = [
            ("6.4", "sm_75".to_owned()),
            ("8.0", format!("sm_{major}{minor}")),
        ];
        let mut errors = Vec::new();
        for (version, target) in targets {
            let text =
                format!(".version {version}\n.target {target}\n.address_size 64\n{PTX_BODY}");
            let ptx = CString::new(text).expect("no NUL in PTX");
            match cuda.load_ptx(&ptx) {
                Ok(module) => {
                    let f = cuda
                        .function(&module, c"ds_checksum")
                        .map_err(|e| e.to_string())?;
                    let out = cuda.alloc(16).map_err(|e| e.to_string())?;
                    return Ok(Kernel {
                        cuda: cuda.clone(),
                        _module: module,
                        f,
                        out,
                    });
                }
                Err(e) => errors.push(format!("{target}: {e}")),
            }
        }
        Err(format!("no PTX target loaded: {}", errors.join("; ")))
    }

    /// Sums of `len` bytes at device address `data` (zero-padded words:
    /// the bytes after `len` up to the next multiple of 4 must be zero).
    fn checksum(&self, data: u64, len: u64) -> Result<(u64, u64), String> {
        self.cuda
            .memset(self.out.ptr(), 0, 16)
            .map_err(|e| e.to_string())?;
        let mut words = len.div_ceil(4);
        let mut data = data;
        let mut out = self.out.ptr();
        let blocks = words.div_ceil(256).clamp(1, 2048) as u32;
        let mut params = [
            (&mut data as *mut u64).cast::<c_void>(),
            (&mut words as *mut u64).cast::<c_void>(),
            (&mut out as *mut u64).cast::<c_void>(),
        ];
        // SAFETY: three u64 parameters as the kernel declares; `data` is a
        // device range of `words` 4-byte words and `out` 16 device bytes,
        // both allocated by the caller / `load`.
        unsafe { self.cuda.launch_and_wait(self.f, blocks, 256, &mut params) }
            .map_err(|e| e.to_string())?;
        let mut back = [0u8; 16];
        self.cuda
            .copy_from_device(&mut back, self.out.ptr())
            .map_err(|e| e.to_string())?;
        Ok((
            u64::from_le_bytes(back[..8].try_into().expect("8 bytes")),
            u64::from_le_bytes(back[8..].try_into().expect("8 bytes")),
        ))
    }
}

fn skip_or_err(e: CuFileError) -> Result<CheckResult, String> {
    if let CuFileError::Unavailable(ds_os_linux::cufile::sys::LoadError::NotFound {
        library: "libcuda.so.1",
        ..
    }) = &e
    {
        Ok(CheckResult::Skipped(format!(
            "no libcufile (and no CUDA driver: {e})"
        )))
    } else if e.is_unavailable() {
        Ok(CheckResult::Skipped(format!("no libcufile ({e})")))
    } else if let CuFileError::NoDevice { .. } = e {
        Ok(CheckResult::Skipped(format!("no CUDA device ({e})")))
    } else {
        Err(e.to_string())
    }
}

fn expect_failure(outcome: Outcome, what: &str) -> Result<ds_os_linux::RequestError, String> {
    match outcome {
        Outcome::Failed(e) => Ok(e),
        o => Err(format!("{what}: expected a failure, got {o:?}")),
    }
}

/// Runs the check with a file of `size` bytes written into `dir`.
pub fn run(dir: &Path, size: usize) -> Result<CheckResult, String> {
    let driver = match CuFileDriver::open(CuFileConfig {
        require_cufile: true,
        ..CuFileConfig::default()
    }) {
        Ok(d) => d,
        Err(e) => return skip_or_err(e),
    };
    let mut lines = Vec::new();
    let cuda = driver.cuda();
    let cufile = driver.cufile().expect("require_cufile");
    lines.push(format!(
        "device 0: {} (compute {:?}); route {:?}; libcufile {}",
        cuda.device_name(),
        cuda.compute_capability(),
        driver.route(),
        cufile.library_path()
    ));
    if driver.route() != Route::GpuDirect {
        return Err("cuFile loaded but the driver is not on the cuFile route".into());
    }
    let kernel = Kernel::load(&cuda)?;

    // The file: `size` bytes, not a multiple of 4 (a partial last word).
    let data = pattern(size);
    let path = dir.join("ds-cufile-check.bin");
    std::fs::write(&path, &data).map_err(|e| format!("{}: {e}", path.display()))?;
    let gdef_path = dir.join("ds-cufile-check.gdef");
    std::fs::write(&gdef_path, TWO_TILES).map_err(|e| format!("{}: {e}", gdef_path.display()))?;
    let file = FileRef::open(&path).map_err(|e| e.to_string())?;
    let gdef = FileRef::open(&gdef_path).map_err(|e| e.to_string())?;

    let dev = cuda
        .alloc(size.next_multiple_of(4))
        .map_err(|e| e.to_string())?;
    cuda.memset(dev.ptr(), 0, dev.len())
        .map_err(|e| e.to_string())?;
    let dev2 = cuda
        .alloc(TWO_TILES_BIN.len().next_multiple_of(4))
        .map_err(|e| e.to_string())?;
    cuda.memset(dev2.ptr(), 0, dev2.len())
        .map_err(|e| e.to_string())?;
    let buffers = driver.buffers();
    buffers
        .register(dev.ptr(), dev.len() as u64)
        .map_err(|e| e.to_string())?;
    buffers
        .register(dev2.ptr(), dev2.len() as u64)
        .map_err(|e| e.to_string())?;

    let queue = QueueBuilder::new()
        .capacity(1024)
        .backend(Backend::IoUring(Default::default()))
        .executor(Box::new(driver))
        .build()
        .map_err(|e| e.to_string())?;

    // File -> GPU memory through the queue, in 4 MiB requests.
    let t = Instant::now();
    let mut ids = Vec::new();
    let mut off = 0u64;
    while off < size as u64 {
        let n = CHUNK.min(size as u64 - off);
        let id = queue
            .enqueue(Request::read(&file, off, n).into_gpu_buffer(dev.ptr(), off, n))
            .map_err(|e| e.to_string())?;
        ids.push((id, n));
        off += n;
    }
    queue.submit();
    for (id, n) in ids {
        let c = queue.wait(id, None).map_err(|e| e.to_string())?;
        if c.result() != Ok(n) {
            return Err(format!("GPU read {id}: {:?}", c.outcome));
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let gbs = size as f64 / secs / 1e9;

    let host = host_checksum(&data);
    let device = kernel.checksum(dev.ptr(), size as u64)?;
    lines.push(format!(
        "file -> GPU via cuFileRead: {size} bytes in {:.1} ms ({gbs:.2} GB/s); checksum on device (sum, weighted) = {device:#x?}, host = {host:#x?}",
        secs * 1e3
    ));
    if device != host {
        return Err(format!(
            "checksum mismatch: device {device:#x?}, host {host:#x?}"
        ));
    }

    // Baseline, same file: pread into host memory, then cuMemcpyHtoD.
    let t = Instant::now();
    let mut staging = vec![0u8; CHUNK as usize];
    let mut off = 0usize;
    while off < size {
        let n = (CHUNK as usize).min(size - off);
        ds_os_linux::exec::pread_exact(&file, &mut staging[..n], off as u64)
            .map_err(|e| e.to_string())?;
        cuda.copy_to_device(dev.ptr() + off as u64, &staging[..n])
            .map_err(|e| e.to_string())?;
        off += n;
    }
    let base = size as f64 / t.elapsed().as_secs_f64() / 1e9;
    lines.push(format!(
        "baseline pread + cuMemcpyHtoD (4 MiB pieces): {base:.2} GB/s; cuFile / baseline = {:.2}x",
        gbs / base
    ));

    // GDeflate: decoded on the CPU, copied into GPU memory.
    let id = queue
        .enqueue(
            Request::read(&gdef, 0, TWO_TILES.len() as u64)
                .gdeflate(TWO_TILES_BIN.len() as u64)
                .into_gpu_buffer(dev2.ptr(), 0, TWO_TILES_BIN.len() as u64),
        )
        .map_err(|e| e.to_string())?;
    let c = queue.wait(id, None).map_err(|e| e.to_string())?;
    if c.result() != Ok(TWO_TILES_BIN.len() as u64) {
        return Err(format!("GDeflate into GPU memory: {:?}", c.outcome));
    }
    let (h, d) = (
        host_checksum(TWO_TILES_BIN),
        kernel.checksum(dev2.ptr(), TWO_TILES_BIN.len() as u64)?,
    );
    if h != d {
        return Err(format!("GDeflate checksum: device {d:#x?}, host {h:#x?}"));
    }
    lines.push("GDeflate request decoded into GPU memory: device checksum matches".into());

    // Bad destinations and a read past the end of the file.
    let e = expect_failure(
        queue
            .wait(
                queue
                    .enqueue(Request::read(&file, 0, 64).into_gpu_buffer(dev.ptr() + 1, 0, 64))
                    .map_err(|e| e.to_string())?,
                None,
            )
            .map_err(|e| e.to_string())?
            .outcome,
        "unregistered buffer",
    )?;
    if !matches!(
        e.kind,
        RequestErrorKind::BadGpuBuffer {
            registered: None,
            ..
        }
    ) {
        return Err(format!("unregistered buffer: {e}"));
    }
    let e = expect_failure(
        queue
            .wait(
                queue
                    .enqueue(Request::read(&file, 0, 64).into_gpu_buffer(
                        dev.ptr(),
                        dev.len() as u64 - 32,
                        64,
                    ))
                    .map_err(|e| e.to_string())?,
                None,
            )
            .map_err(|e| e.to_string())?
            .outcome,
        "range past the buffer",
    )?;
    if !matches!(
        e.kind,
        RequestErrorKind::BadGpuBuffer {
            registered: Some(_),
            ..
        }
    ) {
        return Err(format!("range past the buffer: {e}"));
    }
    let e = expect_failure(
        queue
            .wait(
                queue
                    .enqueue(
                        Request::read(&file, size as u64 - 100, 4096).into_gpu_buffer(
                            dev.ptr(),
                            0,
                            4096,
                        ),
                    )
                    .map_err(|e| e.to_string())?,
                None,
            )
            .map_err(|e| e.to_string())?
            .outcome,
        "read past the end of the file",
    )?;
    if !matches!(e.kind, RequestErrorKind::EndOfFile { .. }) {
        return Err(format!("read past the end of the file: {e}"));
    }
    lines.push(format!(
        "precise errors: unregistered buffer, range past the buffer, and \"{}\"",
        e.kind
    ));
    drop(queue);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&gdef_path);
    Ok(CheckResult::Passed(lines))
}
