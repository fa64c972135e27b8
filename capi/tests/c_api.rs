//! Runs the C test programs in `tests/c/` against the libraries cargo just
//! built: each is compiled with the system C compiler (`$CC`, else `cc`)
//! against `libds_runtime.a` and against `libds_runtime.so` (through its
//! soname link, as an installed library is used) and run; one run of each
//! under valgrind fails on any invalid access or definite/indirect leak;
//! and the static library is linked into a shared object, as Wine's
//! unix-side `dstorage.so` links it, which only works if it is
//! position-independent.
//!
//! Valgrind missing: the valgrind test prints "skipped" and passes, unless
//! `DS_REQUIRE_ALL=1` (CI), where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The static library's native dependencies (`--print native-static-libs`).
const STATIC_DEPS: &[&str] = &[
    "-ldl",
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-lc",
];

/// Longest a C test may run (valgrind included) before it counts as hung.
const TIMEOUT: Duration = Duration::from_secs(600);

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>/deps/, where cargo puts the libds_runtime.{a,so} it
/// builds with this package's tests (a test build does not copy them up to
/// target/<profile>/, so those may be stale).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .expect("test binaries live in target/<profile>/deps");
    for lib in ["libds_runtime.a", "libds_runtime.so"] {
        assert!(
            dir.join(lib).is_file(),
            "{} missing: cargo builds it with this package's tests",
            dir.join(lib).display()
        );
    }
    dir.to_path_buf()
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ds-capi-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn c_compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_owned())
}

fn c_tests() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(manifest_dir().join("tests/c"))
        .expect("tests/c")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    v.sort();
    assert!(v.len() >= 4, "C tests found: {v:?}");
    v
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd` to completion, killing it after [`TIMEOUT`].
fn run_with_timeout(mut cmd: Command, what: &str) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let start = Instant::now();
    // Drain the pipes on threads so a chatty child cannot block.
    let mut so = child.stdout.take().expect("piped");
    let mut se = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).map(|_| v)
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).map(|_| v)
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for child") {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} ran longer than {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_t.join().expect("reader").unwrap_or_default(),
        stderr: err_t.join().expect("reader").unwrap_or_default(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Static,
    Shared,
}

/// Compiles `src` into `out` linked against the library.
fn compile(src: &Path, link: Link, out: &Path, shared_dir: &Path) {
    let lib = lib_dir();
    let mut cmd = Command::new(c_compiler());
    cmd.args([
        "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-pthread",
    ])
    .arg("-I")
    .arg(manifest_dir().join("include"))
    .arg(src)
    .arg("-o")
    .arg(out);
    match link {
        Link::Static => {
            cmd.arg(lib.join("libds_runtime.a")).args(STATIC_DEPS);
        }
        Link::Shared => {
            cmd.arg(format!("-L{}", shared_dir.display()))
                .arg("-lds_runtime")
                .arg(format!("-Wl,-rpath,{}", shared_dir.display()));
        }
    }
    let what = format!("compiling {} ({link:?})", src.display());
    check(&run_with_timeout(cmd, &what), &what);
}

/// A directory laid out like an installed library: the file under its
/// soname and the development link.
fn shared_layout(dir: &Path) {
    let so = lib_dir().join("libds_runtime.so");
    std::fs::copy(&so, dir.join("libds_runtime.so.0")).expect("copy the shared library");
    std::os::unix::fs::symlink("libds_runtime.so.0", dir.join("libds_runtime.so"))
        .expect("symlink");
}

fn test_env(cmd: &mut Command, tmp: &Path) {
    cmd.env("TMPDIR", tmp)
        .env(
            "DS_VECTORS_DIR",
            manifest_dir().join("../gdeflate/tests/vectors"),
        )
        .env_remove("DS_TEST_LIGHT");
}

#[test]
fn c_tests_pass_against_static_and_shared_libraries() {
    let scratch = Scratch::new("c");
    let shared = scratch.0.join("lib");
    std::fs::create_dir_all(&shared).expect("lib dir");
    shared_layout(&shared);
    for src in c_tests() {
        let stem = src
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        for link in [Link::Static, Link::Shared] {
            let exe = scratch.0.join(format!("{stem}-{link:?}"));
            compile(&src, link, &exe, &shared);
            let mut cmd = Command::new(&exe);
            test_env(&mut cmd, &scratch.0);
            let what = format!("{stem} ({link:?})");
            let out = run_with_timeout(cmd, &what);
            check(&out, &what);
            eprintln!("{what}: ok");
        }
    }
}

#[test]
fn c_tests_are_clean_under_valgrind() {
    let have = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var_os("DS_REQUIRE_ALL").is_none_or(|v| v != "1"),
            "valgrind is required (DS_REQUIRE_ALL=1) but not installed"
        );
        eprintln!("skipped: valgrind not installed");
        return;
    }
    let scratch = Scratch::new("valgrind");
    for src in c_tests() {
        let stem = src
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let exe = scratch.0.join(&stem);
        compile(&src, Link::Static, &exe, &scratch.0);
        let mut cmd = Command::new("valgrind");
        cmd.args([
            "--error-exitcode=1",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect",
            "--quiet",
        ])
        .arg(&exe);
        test_env(&mut cmd, &scratch.0);
        // Fewer iterations, and pread instead of io_uring: valgrind does not
        // see the kernel filling memory asynchronously for io_uring.
        cmd.env("DS_TEST_LIGHT", "1").env("DS_IO_URING", "off");
        let what = format!("{stem} under valgrind");
        let out = run_with_timeout(cmd, &what);
        check(&out, &what);
        eprintln!("{what}: ok");
    }
}

#[test]
fn static_library_links_into_a_shared_object() {
    let scratch = Scratch::new("pic");
    let wrapper = scratch.0.join("wrapper.c");
    std::fs::write(
        &wrapper,
        r#"#include "ds_runtime.h"
#include <string.h>
/* What a unix-side Wine module does: calls into the static library. */
int wrapper_roundtrip(void) {
    static const char text[] = "position-independent static library, position-independent";
    uint8_t packed[4096], back[sizeof text];
    uint64_t n = 0, m = 0;
    if (ds_gdeflate_compress((const uint8_t *)text, sizeof text, packed, sizeof packed,
                             DS_GDEFLATE_LEVEL_DEFAULT, 1, &n) != DS_OK) return 1;
    if (ds_gdeflate_decompress(packed, n, back, sizeof back, 1, &m) != DS_OK) return 2;
    return m == sizeof text && memcmp(text, back, m) == 0 ? 0 : 3;
}
"#,
    )
    .expect("write wrapper");
    let so = scratch.0.join("libwrapper.so");
    let mut cmd = Command::new(c_compiler());
    cmd.args(["-shared", "-fPIC", "-Wl,--no-undefined", "-o"])
        .arg(&so)
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg(&wrapper)
        .arg(lib_dir().join("libds_runtime.a"))
        .args(STATIC_DEPS);
    check(
        &run_with_timeout(cmd, "linking libds_runtime.a into a shared object"),
        "linking libds_runtime.a into a shared object (needs PIC)",
    );
    let main = scratch.0.join("main.c");
    std::fs::write(
        &main,
        r#"#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    (void)argc;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 10; }
    int (*f)(void) = (int (*)(void))dlsym(h, "wrapper_roundtrip");
    if (!f) return 11;
    int r = f();
    dlclose(h);
    return r;
}
"#,
    )
    .expect("write main");
    let exe = scratch.0.join("main");
    let mut cmd = Command::new(c_compiler());
    cmd.arg(&main).arg("-o").arg(&exe).arg("-ldl");
    check(
        &run_with_timeout(cmd, "compiling the loader"),
        "compiling the loader",
    );
    let mut cmd = Command::new(&exe);
    cmd.arg(&so);
    check(
        &run_with_timeout(cmd, "the dlopen'ed wrapper"),
        "calling the static library through a dlopen'ed shared object",
    );
}
