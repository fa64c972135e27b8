//! Project tasks, run as `cargo xtask <task>`.
//!
//! `cargo xtask install --prefix DIR` builds and installs the C library with
//! its header and pkg-config file (`install.rs`).
//!
//! `cargo xtask test` is the one command that runs every test of the project
//! (README, `.ci/run`). It is a list of named steps, each a command line; a
//! step that fails stops the run with its name. `--only NAME[,NAME]` runs a
//! subset, `--skip NAME[,NAME]` leaves some out, `--list` prints the steps.
//!
//! Tests that need hardware (a Vulkan device, libcufile, wine) skip with a
//! printed reason unless `DS_REQUIRE_ALL=1` is set, which `.ci/run` does so a
//! missing piece fails CI instead of passing silently.

#![forbid(unsafe_code)]

mod install;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// One step of `cargo xtask test`.
struct Step {
    name: &'static str,
    what: &'static str,
    run: fn(&Ctx) -> Result<(), String>,
}

/// What every step needs: the workspace root.
struct Ctx {
    root: PathBuf,
}

impl Ctx {
    fn cmd(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args).current_dir(&self.root);
        c
    }
}

fn run(mut c: Command) -> Result<(), String> {
    let shown = format!("{c:?}");
    eprintln!("$ {shown}");
    let status = c
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "fmt",
            what: "rustfmt check of the workspace",
            run: |cx| run(cx.cmd("cargo", &["fmt", "--all", "--", "--check"])),
        },
        Step {
            name: "clippy",
            what: "clippy on every target, warnings are errors",
            run: |cx| {
                run(cx.cmd(
                    "cargo",
                    &[
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--all-features",
                        "--",
                        "-D",
                        "warnings",
                    ],
                ))
            },
        },
        Step {
            name: "spirv",
            what: "committed SPIR-V equals a rebuild with the pinned glslc flags (shaders/build.sh)",
            run: |cx| run(cx.cmd("bash", &["shaders/build.sh", "--check"])),
        },
        Step {
            name: "unit",
            what: "cargo test of the whole workspace",
            run: |cx| run(cx.cmd("cargo", &["test", "--workspace", "--all-features"])),
        },
        Step {
            name: "capi-install",
            what: "cargo xtask install into temporary prefixes; an app built with pkg-config runs",
            run: |cx| install::check(&cx.root),
        },
        Step {
            name: "wine",
            what: "Wine builtin dstorage.dll: build (wine/Makefile), Windows test programs under wine",
            run: |cx| run(cx.cmd("make", &["-C", "wine", "check"])),
        },
        Step {
            name: "miri",
            what: "ds-core's tests under miri (UB and data-race checks)",
            run: |cx| run(cx.cmd("cargo", &["+nightly", "miri", "test", "-p", "ds-core"])),
        },
        Step {
            name: "tsan",
            what: "queue, state-machine and io_uring tests under ThreadSanitizer (nightly, own target dir)",
            run: |cx| {
                let target = env::var_os("CARGO_TARGET_DIR")
                    .map_or_else(|| cx.root.join("target"), PathBuf::from)
                    .join("tsan");
                let host = Command::new("rustc")
                    .args(["+nightly", "-vV"])
                    .output()
                    .map_err(|e| format!("cannot run rustc +nightly: {e}"))?;
                let host = String::from_utf8_lossy(&host.stdout)
                    .lines()
                    .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
                    .ok_or("rustc +nightly -vV printed no host")?;
                let mut c = cx.cmd(
                    "cargo",
                    &[
                        "+nightly", "test", "-Zbuild-std", "--target", &host, "-p", "ds-core",
                        "-p", "ds-os-linux", "--test", "threads", "--test", "cancel", "--test",
                        "basics", "--test", "executor", "--test", "shutdown", "--test", "stress",
                        "--test", "uring_basics", "--test", "uring_cancel", "--test", "faults_io",
                        "--test", "wakeups",
                    ],
                );
                c.env("RUSTFLAGS", "-Zsanitizer=thread")
                    .env("TSAN_OPTIONS", "halt_on_error=1")
                    .env("DS_STRESS_REQUESTS", "20000")
                    .env("CARGO_TARGET_DIR", target);
                run(c)
            },
        },
        Step {
            name: "loom",
            what: "loom model tests of ds-core's state machine (own target dir)",
            run: |cx| {
                let target = env::var_os("CARGO_TARGET_DIR")
                    .map_or_else(|| cx.root.join("target"), PathBuf::from)
                    .join("loom");
                let mut c = cx.cmd(
                    "cargo",
                    &["test", "-p", "ds-core", "--test", "loom", "--release"],
                );
                c.env("RUSTFLAGS", "--cfg loom")
                    .env("LOOM_MAX_PREEMPTIONS", "3")
                    .env("CARGO_TARGET_DIR", target);
                run(c)
            },
        },
        Step {
            name: "gdeflate-encode",
            what: "GDeflate encoder on the whole shared corpus at every level (release)",
            run: |cx| {
                run(cx.cmd(
                    "cargo",
                    &[
                        "test",
                        "--release",
                        "-p",
                        "ds-gdeflate",
                        "--test",
                        "encode_shared",
                    ],
                ))
            },
        },
        Step {
            name: "fuzz",
            what: "every fuzz target 60 s (cargo +nightly fuzz; corpora seeded by fuzz/seed-corpus.sh)",
            run: |cx| {
                run(cx.cmd("bash", &["fuzz/seed-corpus.sh"]))?;
                for target in ["decode_stream", "decode_tile", "roundtrip"] {
                    let args = ["+nightly", "fuzz", "run", target, "--", "-max_total_time=60"];
                    run(cx.cmd("cargo", &args))?;
                }
                Ok(())
            },
        },
    ]
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: cargo xtask test [--list] [--only A,B] [--skip A,B]\n\
         \x20      cargo xtask {}\n\
         tasks:\n  test    run every test of the project (what CI runs)\n  \
         install build and install the C library (see xtask/src/install.rs)",
        install::USAGE
    );
    ExitCode::from(2)
}

fn split(v: Option<String>) -> Vec<String> {
    v.map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let Some(task) = args.next() else {
        return usage();
    };
    if task == "install" {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives one level below the workspace root");
        return match install::main(root, args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("install failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if task != "test" {
        return usage();
    }
    let (mut only, mut skip, mut list) = (Vec::new(), Vec::new(), false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--list" => list = true,
            "--only" => only = split(args.next()),
            "--skip" => skip = split(args.next()),
            _ => return usage(),
        }
    }
    let all = steps();
    for name in only.iter().chain(&skip) {
        if !all.iter().any(|s| s.name == name) {
            eprintln!("unknown step {name:?}; `cargo xtask test --list` shows them");
            return ExitCode::from(2);
        }
    }
    if list {
        for s in &all {
            println!("{:<12} {}", s.name, s.what);
        }
        return ExitCode::SUCCESS;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf();
    let cx = Ctx { root };
    let started = Instant::now();
    for s in all
        .iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| o == s.name))
        .filter(|s| !skip.iter().any(|o| o == s.name))
    {
        let t = Instant::now();
        eprintln!("==> {} ({})", s.name, s.what);
        if let Err(e) = (s.run)(&cx) {
            eprintln!("FAILED step {}: {e}", s.name);
            return ExitCode::FAILURE;
        }
        eprintln!("<== {} ok in {:.1}s", s.name, t.elapsed().as_secs_f64());
    }
    eprintln!(
        "all steps passed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
