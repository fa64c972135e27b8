//! Shared test helpers: a validated Vulkan context (or a printed skip), the shared-data folder,
//! and the rule that no validation message may appear.
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
