//! `cufile_check`: the GPUDirect Storage check for the device machine.
//! Reads a file into GPU memory through the queue's cuFile driver and
//! verifies it with a checksum computed on the device (see `check.rs` for
//! what is verified where).
//!
//! Usage: `cufile_check [DIR] [MIB]` (default: `$TMPDIR`, 256 MiB; the file
//! gets 3 extra bytes so its last word is partial). Without libcufile it
//! prints "skipped: no libcufile (...)" and exits 0, or 1 when
//! `DS_REQUIRE_CUFILE=1`. Exit status 2: the check failed.

#![allow(unsafe_code)]

mod check;

use check::CheckResult;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let size = (mib << 20) + 3;
    match check::run(&dir, size) {
        Ok(CheckResult::Passed(lines)) => {
            for l in lines {
                println!("cufile_check: {l}");
            }
            println!("cufile_check: PASS");
        }
        Ok(CheckResult::Skipped(why)) => {
            println!("skipped: {why}");
            if std::env::var("DS_REQUIRE_CUFILE").is_ok_and(|v| v == "1") {
                eprintln!("cufile_check: DS_REQUIRE_CUFILE=1 and the check could not run");
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("cufile_check: FAILED: {e}");
            std::process::exit(2);
        }
    }
}
