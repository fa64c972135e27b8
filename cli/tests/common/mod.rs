//! Shared helpers of the `dsr` integration tests: running the binary,
//! scratch directories, the shared-data folder (with DS_REQUIRE_SHARED),
//! hardware requirements (DS_REQUIRE_ALL / DS_REQUIRE_VULKAN), and SHA-256.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `dsr` binary under test.
pub fn dsr() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dsr"));
    c.stdin(Stdio::null());
    c
}

/// Runs `dsr args...` and returns its output.
pub fn run(args: &[&str]) -> Output {
    dsr().args(args).output().expect("start dsr")
}

/// Runs `dsr` with `input` on stdin.
pub fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = dsr()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dsr");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait for dsr");
    feeder.join().expect("feeder").expect("write stdin");
    out
}

/// Exit code, stdout and stderr as text, for assertion messages.
pub fn describe(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts success and returns stdout as text.
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "dsr failed:\n{}", describe(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts exit code `code` and returns stderr as text.
pub fn fails_with(o: &Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "{}", describe(o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A committed vector under `cli/tests/data`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A fresh scratch directory.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dsr-test-")
        .tempdir()
        .expect("scratch dir")
}

/// Path as &str.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn env_on(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// Whether the GPU part must run (CI: lavapipe is installed).
pub fn vulkan_required() -> bool {
    env_on("DS_REQUIRE_VULKAN") || env_on("DS_REQUIRE_ALL")
}

/// `../shared` (or $DS_SHARED_DIR) if it holds the GDeflate vectors;
/// panics when DS_REQUIRE_SHARED=1 and it does not, prints a skip otherwise.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DS_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    if dir.join("gdeflate/vectors/manifest.tsv").is_file() {
        return Some(dir);
    }
    if env_on("DS_REQUIRE_SHARED") {
        panic!(
            "DS_REQUIRE_SHARED=1 but {} has no gdeflate/vectors/manifest.tsv",
            dir.display()
        );
    }
    println!("skipped: no shared data at {}", dir.display());
    None
}

/// Rows of a tab-separated manifest as maps from column name to value.
pub fn tsv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("read manifest");
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            head.iter()
                .zip(l.split('\t'))
                .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// SHA-256 in hex.
pub fn sha_hex(data: &[u8]) -> String {
    ds_cli::sha::to_hex(&ds_cli::sha::sha256(data))
}

/// Names in `dir` (not recursive), sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
