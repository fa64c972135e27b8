//! Interrupted runs leave no partial output: `dsr compress`, `pack` and
//! `unpack` are sent SIGINT (or SIGTERM) while their temporary output
//! exists and work is under way; each must exit with 130 and leave the
//! destination directory exactly as it was (no `.dsr-*` temporary, no
//! destination).
//!
//! Inputs are sized so the work takes seconds in a debug build; if a run
//! still finishes before the signal could be sent (a fast machine, a
//! release build), the case is repeated with a larger input.

mod common;

use common::*;
use ds_cli::archive::{Codec, Writer};
use ds_cli::assets::{generate, Kind};
use rustix::process::{kill_process, Pid, Signal};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn has_temp(dir: &Path) -> bool {
    names(dir).iter().any(|n| n.starts_with(".dsr-"))
}

fn signal(child: &Child, sig: Signal) {
    let pid = Pid::from_raw(child.id() as i32).expect("child pid is positive");
    kill_process(pid, sig).expect("send the signal");
}

/// Starts `dsr args`, waits until a temporary output appears in `watch`,
/// lets the work run a little, sends `sig`. Returns false if the run
/// finished before it could be interrupted (the caller retries bigger).
fn interrupt_run(args: &[&str], watch: &Path, sig: Signal) -> bool {
    let mut child = dsr()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dsr");
    let start = Instant::now();
    while !has_temp(watch) {
        if child.try_wait().expect("poll").is_some() {
            return false;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no temporary output appeared in {}",
            watch.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(150));
    if child.try_wait().expect("poll").is_some() {
        return false;
    }
    signal(&child, sig);
    let out = child.wait_with_output().expect("wait");
    let err = fails_with(&out, 130);
    assert!(err.contains("interrupted"), "{err}");
    true
}

#[test]
fn interrupted_compress_leaves_nothing() {
    for mib in [8usize, 32, 128] {
        let dir = scratch();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, generate(Kind::Text, mib << 20, 1)).unwrap();
        let out = dir.path().join("out.gdef");
        if interrupt_run(
            &["compress", "-l", "12", s(&input), s(&out)],
            dir.path(),
            Signal::INT,
        ) {
            assert_eq!(names(dir.path()), ["in.txt"]);
            return;
        }
    }
    panic!("compress always finished before it could be interrupted");
}

#[test]
fn interrupted_pack_leaves_nothing() {
    for mib in [2usize, 8, 32] {
        let dir = scratch();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        for k in 0..4 {
            std::fs::write(
                src.join(format!("f{k}.txt")),
                generate(Kind::Text, mib << 20, k),
            )
            .unwrap();
        }
        let outdir = dir.path().join("out");
        std::fs::create_dir(&outdir).unwrap();
        let archive = outdir.join("a.dsra");
        if interrupt_run(
            &["pack", "-l", "12", s(&src), s(&archive)],
            &outdir,
            Signal::INT,
        ) {
            assert!(names(&outdir).is_empty(), "{:?}", names(&outdir));
            return;
        }
    }
    panic!("pack always finished before it could be interrupted");
}

#[test]
fn interrupted_unpack_leaves_nothing() {
    for (files, sig) in [
        (24usize, Signal::INT),
        (96, Signal::TERM),
        (384, Signal::INT),
    ] {
        let dir = scratch();
        let archive = dir.path().join("a.dsra");
        // Stored entries of 2 MiB each, written with the library's writer.
        let names_: Vec<String> = (0..files).map(|k| format!("d/{k:04}.bin")).collect();
        let f = std::fs::File::create(&archive).unwrap();
        let mut w = Writer::new(f, names_).unwrap();
        let blob = generate(Kind::Random, 2 << 20, 9);
        let sha = ds_cli::sha::sha256(&blob);
        for _ in 0..files {
            w.add(Codec::Stored, &blob, blob.len() as u64, sha).unwrap();
        }
        w.finish().unwrap();
        let dest = dir.path().join("out");
        if interrupt_run(&["unpack", s(&archive), s(&dest)], dir.path(), sig) {
            assert_eq!(names(dir.path()), ["a.dsra"]);
            return;
        }
    }
    panic!("unpack always finished before it could be interrupted");
}
