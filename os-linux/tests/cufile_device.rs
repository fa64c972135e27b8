//! The GPUDirect Storage check (`examples/cufile_check/check.rs`) as a
//! test: on a machine with an NVIDIA GPU and libcufile it reads a 16 MiB
//! file into GPU memory through the queue and checks it on the device.
//! Elsewhere it prints "skipped: no libcufile (...)" and passes, unless
//! `DS_REQUIRE_CUFILE=1` (set on the device machine) makes that a failure.
//! It is deliberately not governed by `DS_REQUIRE_ALL`: CI has no NVIDIA
//! GPU.

#![allow(unsafe_code)]

use std::io::Write;

#[path = "../examples/cufile_check/check.rs"]
mod check;

#[test]
fn file_to_gpu_memory_checked_on_the_device() {
    let dir = std::env::temp_dir();
    match check::run(&dir, (16 << 20) + 3) {
        Ok(check::CheckResult::Passed(lines)) => {
            for l in lines {
                println!("{l}");
            }
        }
        Ok(check::CheckResult::Skipped(why)) => {
            // Straight to stderr, past the test harness's output capture,
            // so a skip is visible in every `cargo test` log.
            let _ = writeln!(std::io::stderr(), "skipped: {why}");
            assert!(
                std::env::var("DS_REQUIRE_CUFILE").map_or(true, |v| v != "1"),
                "DS_REQUIRE_CUFILE=1 but the cuFile check could not run: {why}"
            );
        }
        Err(e) => panic!("cuFile check failed: {e}"),
    }
}

#[test]
fn host_checksum_matches_its_definition() {
    // The host side of the device comparison: words little-endian, the
    // last one zero-padded, weights 1, 3, 5, ...
    let (sum, weighted) = check::host_checksum(&[1, 0, 0, 0, 2, 0, 0, 0, 3]);
    assert_eq!(sum, 1 + 2 + 3);
    assert_eq!(weighted, 1 + 2 * 3 + 3 * 5);
}
