//! Shared test helpers: a validated Vulkan context (or a printed skip), the shared-data folder,
//! the rule that no validation message may appear, and the executors' test data (deterministic
//! bytes, SHA-256, temporary files).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use ds_gpu::{ContextOptions, VulkanContext};

fn env_on(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// A context on the best device with validation on, or `None` (with "skipped: ...") when there
/// is no Vulkan device and neither DS_REQUIRE_VULKAN=1 nor DS_REQUIRE_ALL=1 is set.
pub fn context() -> Option<Arc<VulkanContext>> {
    match VulkanContext::create(&ContextOptions {
        validation: true,
        ..ContextOptions::default()
    }) {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            if env_on("DS_REQUIRE_VULKAN") || env_on("DS_REQUIRE_ALL") {
                panic!("Vulkan device required (DS_REQUIRE_VULKAN/DS_REQUIRE_ALL) but: {e}");
            }
            println!("skipped: no Vulkan device with validation: {e}");
            None
        }
    }
}

/// Fails the test if the validation layer reported anything.
pub fn assert_clean(ctx: &VulkanContext) {
    assert!(ctx.has_validation(), "validation layer not active");
    let msgs = ctx.validation_messages();
    assert!(msgs.is_empty(), "validation messages:\n{}", msgs.join("\n"));
}

/// `../shared` (or $DS_SHARED_DIR), if present; panics when DS_REQUIRE_SHARED=1 and it is not.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DS_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    if dir.join("gdeflate").is_dir() {
        return Some(dir);
    }
    if env_on("DS_REQUIRE_SHARED") {
        panic!("DS_REQUIRE_SHARED=1 but {} has no gdeflate/", dir.display());
    }
    println!("skipped: no shared data at {}", dir.display());
    None
}

/// CPU oracle: the stream decoded by ds_gdeflate, and each tile's own outcome.
pub fn cpu_tiles(stream: &[u8]) -> Result<(Vec<u8>, Vec<bool>), ds_gdeflate::DecodeError> {
    let parsed = ds_gdeflate::TileStream::parse(stream)?;
    let mut out = vec![0u8; parsed.uncompressed_size() as usize];
    let mut ok = Vec::new();
    for i in 0..parsed.num_tiles() {
        let at = parsed.tile_output_offset(i) as usize;
        let len = parsed.tile_uncompressed_len(i);
        ok.push(
            ds_gdeflate::decompress_tile(parsed.tile_payload(i), &mut out[at..at + len]).is_ok(),
        );
    }
    Ok((out, ok))
}

/// The vectors committed under `gpu/tests/data` ($DS_GPU_TEST_DATA overrides the place, for test
/// binaries run from another checkout, as on the device machine).
pub fn data_dir() -> PathBuf {
    std::env::var_os("DS_GPU_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data"))
}

/// A vector committed under `gpu/tests/data`.
pub fn data(name: &str) -> PathBuf {
    data_dir().join(name)
}

/// SHA-256 of `b`.
pub fn sha(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

/// Deterministic test bytes: text-like (compressible) or noise.
pub fn bytes(len: usize, seed: u64, text: bool) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let words = [
        "tile ", "stream ", "texture ", "mesh ", "GPU ", "queue ", "lane ", "block ",
    ];
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if text {
            out.extend_from_slice(words[(x % 8) as usize].as_bytes());
        } else {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A directory of its own: tests running in parallel may share a tag.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ds-gpu-test-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    /// Writes `data` to the file `name` in the directory.
    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        use std::io::Write;
        let p = self.0.join(name);
        std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(data))
            .expect("write test file");
        p
    }

    /// Writes `data` to the file `name` and opens it for requests.
    pub fn file(&self, name: &str, data: &[u8]) -> ds_os_linux::FileRef {
        ds_os_linux::FileRef::open(self.write(name, data)).expect("open test file")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
