//! io_uring set-up failures, each forced for real in a child process of
//! this test binary (own harness, `harness = false`, because every case
//! changes process-wide state: an environment variable, a seccomp filter,
//! a capability and a resource limit):
//!
//! * `DS_IO_URING=off`, and a seccomp filter making `io_uring_setup` fail
//!   with ENOSYS or EPERM: the queue falls back to the pread backend, says
//!   so exactly once through the log (naming the errno), and serves reads.
//! * `RLIMIT_MEMLOCK` lowered (and `CAP_IPC_LOCK` dropped, so root is
//!   limited too): registering the staging pool fails with ENOMEM, reported
//!   with the limit; the rings run without the registration and every
//!   request still completes. With a limit too small for the rings
//!   themselves, set-up fails and the queue falls back as above.

#![allow(unsafe_code)]

mod common;

use common::{pattern, TempDir};
use ds_os_linux::uring::{Ring, RingOptions};
use ds_os_linux::{
    Backend, FileRef, Queue, QueueBuilder, Request, UringConfig, UringDriver, UringError,
};
use std::process::Command;
use std::sync::Mutex;

const CHILD_VAR: &str = "DS_URING_FALLBACK_CHILD";

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {}", r.level(), r.args()));
        }
    }
    fn flush(&self) {}
}

static LOG: Capture = Capture(Mutex::new(Vec::new()));

fn logs_matching(s: &str) -> Vec<String> {
    LOG.0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(s))
        .cloned()
        .collect()
}

fn uring_queue(cfg: UringConfig) -> Queue {
    QueueBuilder::new()
        .backend(Backend::IoUring(cfg))
        .build()
        .unwrap()
}

/// Reads through the queue and checks the bytes.
fn serves_reads(q: &Queue) {
    let dir = TempDir::new("fallback");
    let data = pattern(200_000, 3);
    let file = FileRef::open(dir.file("d", &data)).unwrap();
    let ids: Vec<_> = (0..20u64)
        .map(|i| {
            q.enqueue(Request::read(&file, i * 9_000, 9_000).into_buffer(vec![0; 9_000]))
                .unwrap()
        })
        .collect();
    for (i, id) in ids.into_iter().enumerate() {
        let c = q.wait(id, None).unwrap();
        assert_eq!(c.result(), Ok(9_000));
        assert!(c.buffer.unwrap()[..] == data[i * 9_000..(i + 1) * 9_000]);
    }
}

/// Builds two io_uring queues where io_uring is unavailable: both run on
/// pread and the fallback is logged once, naming `reason`.
fn falls_back_once(reason: &str) {
    for _ in 0..2 {
        let q = uring_queue(UringConfig::default());
        assert_eq!(q.info().executors, vec!["pread"]);
        serves_reads(&q);
    }
    let lines = logs_matching("falling back to the pread backend");
    assert_eq!(lines.len(), 1, "logged once: {lines:?}");
    assert!(lines[0].contains(reason), "{lines:?} names {reason}");
}

fn child_env_off() {
    falls_back_once("DS_IO_URING=off");
    let e = UringDriver::new(UringConfig::default()).unwrap_err();
    assert!(matches!(e, UringError::Disabled { .. }) && e.is_unavailable());
}

/// Installs a seccomp filter that fails `io_uring_setup` with `errno`.
fn deny_io_uring_setup(errno: i32) {
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    let ld_abs = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let insn = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let filter = [
        // seccomp_data.arch: other architectures are left alone.
        insn(ld_abs, 0, 0, 4),
        insn(jeq, 0, 3, AUDIT_ARCH_X86_64),
        // seccomp_data.nr
        insn(ld_abs, 0, 0, 0),
        insn(jeq, 0, 1, libc::SYS_io_uring_setup as u32),
        insn(ret, 0, 0, libc::SECCOMP_RET_ERRNO | errno as u32),
        insn(ret, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: plain prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(r, 0, "PR_SET_NO_NEW_PRIVS");
    // SAFETY: `prog` points to `filter`, both alive for the call; the
    // kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    assert_eq!(r, 0, "seccomp: {}", std::io::Error::last_os_error());
}

fn child_seccomp(errno: i32) {
    deny_io_uring_setup(errno);
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    falls_back_once(&text);
    match UringDriver::new(UringConfig::default()).unwrap_err() {
        e @ UringError::Setup { errno: got, .. } => {
            assert_eq!(got, errno);
            assert!(e.is_unavailable());
        }
        e => panic!("{e:?}"),
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops CAP_IPC_LOCK (which exempts root from RLIMIT_MEMLOCK).
fn drop_ipc_lock() {
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_IPC_LOCK: u32 = 14;
    let mut hdr = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and two data structs as capget(2) version 3 wants.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0, "capget");
    data[0].effective &= !(1 << CAP_IPC_LOCK);
    data[0].permitted &= !(1 << CAP_IPC_LOCK);
    // SAFETY: as above; the kernel only reads them.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    assert_eq!(r, 0, "capset: {}", std::io::Error::last_os_error());
}

/// Limits locked memory to `bytes`. The kernel charges io_uring memory to
/// the user (all its processes together), so root switches to the `nobody`
/// user, which also drops CAP_IPC_LOCK; others drop the capability if
/// they have it.
fn limit_memlock(bytes: u64) {
    rustix::process::setrlimit(
        rustix::process::Resource::Memlock,
        rustix::process::Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    )
    .unwrap();
    if rustix::process::geteuid().is_root() {
        // SAFETY: plain id-changing syscall with an integer argument, made
        // while this process has a single thread.
        let g = unsafe { libc::setgid(NOBODY) };
        // SAFETY: as above.
        let u = unsafe { libc::setuid(NOBODY) };
        let r = (g, u);
        assert_eq!(r, (0, 0), "switch to uid {NOBODY}");
    } else {
        drop_ipc_lock();
    }
}

/// The `nobody` user and group id.
const NOBODY: u32 = 65534;

/// Ring memory itself is accounted to RLIMIT_MEMLOCK: with 4 KiB not even
/// the rings fit, which is a set-up failure and falls back.
fn child_memlock_setup() {
    limit_memlock(4 << 10);
    falls_back_once("Cannot allocate memory");
}

fn child_memlock() {
    // Room for the rings (about 28 KiB each at depth 256), not for a 1 MiB
    // pool registration.
    const LIMIT: u64 = 512 << 10;
    limit_memlock(LIMIT);
    // The precise error of the registration itself.
    let mut ring = Ring::new(RingOptions {
        entries: 8,
        sqpoll_idle: None,
        single_thread: false,
    })
    .unwrap();
    let mut region = ds_os_linux::aligned::AlignedBuf::zeroed(1 << 20, 4096).unwrap();
    // SAFETY: `region` outlives `ring` (declared later, dropped first).
    let e = unsafe { ring.register_buffers(&[(region.as_mut_ptr(), 1 << 20)]) }.unwrap_err();
    assert_eq!(
        e,
        UringError::RegisterBuffers {
            bytes: 1 << 20,
            regions: 1,
            errno: libc::ENOMEM,
            memlock_limit: Some(LIMIT)
        }
    );
    assert!(
        e.to_string().contains("RLIMIT_MEMLOCK is 524288 bytes"),
        "{e}"
    );
    assert!(!e.is_unavailable());
    drop(ring);
    // The driver runs on without registered buffers, O_DIRECT bounces and
    // GDeflate staging included.
    let cfg = UringConfig {
        rings: 2,
        direct: true,
        pool_bytes: 1 << 20,
        ..UringConfig::default()
    };
    let stats = cfg.stats.clone();
    let q = uring_queue(cfg);
    assert_eq!(q.info().executors, vec!["io_uring"]);
    serves_reads(&q);
    drop(q);
    let s = stats.snapshot();
    assert_eq!((s.rings, s.rings_with_fixed_buffers), (2, 0), "{s:?}");
    assert!(s.bounced_reads > 0 && s.fixed_buffer_ops == 0, "{s:?}");
    let warned = logs_matching("used without registration");
    assert_eq!(warned.len(), 1, "one warning per driver: {warned:?}");
    assert!(warned[0].contains("Cannot allocate memory"), "{warned:?}");
}

const CASES: &[(&str, &str)] = &[
    (
        "env_off",
        "DS_IO_URING=off falls back to pread, logged once",
    ),
    (
        "seccomp_enosys",
        "seccomp ENOSYS on io_uring_setup falls back, logged once",
    ),
    (
        "seccomp_eperm",
        "seccomp EPERM on io_uring_setup falls back, logged once",
    ),
    (
        "memlock_enomem",
        "ENOMEM registering buffers is precise; rings run unregistered",
    ),
    (
        "memlock_setup",
        "ENOMEM setting up the rings falls back, logged once",
    ),
];

fn run_child(case: &str) {
    log::set_logger(&LOG).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    match case {
        "env_off" => child_env_off(),
        "seccomp_enosys" => child_seccomp(libc::ENOSYS),
        "seccomp_eperm" => child_seccomp(libc::EPERM),
        "memlock_enomem" => child_memlock(),
        "memlock_setup" => child_memlock_setup(),
        other => panic!("unknown case {other}"),
    }
}

fn main() {
    if let Ok(case) = std::env::var(CHILD_VAR) {
        run_child(&case);
        return;
    }
    // libtest-style arguments: a name filter; `--skip NAME` excludes.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filter = None;
    let mut skip = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--skip" {
            skip.extend(it.next().cloned());
        } else if !a.starts_with('-') {
            filter = Some(a.clone());
        }
    }
    let exe = std::env::current_exe().unwrap();
    let (mut passed, mut failed) = (0, 0);
    let cases: Vec<_> = CASES
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .filter(|(name, _)| !skip.iter().any(|s| name.contains(s.as_str())))
        .collect();
    println!("\nrunning {} tests", cases.len());
    for (name, what) in cases {
        let mut cmd = Command::new(&exe);
        cmd.env(CHILD_VAR, name);
        if *name == "env_off" {
            cmd.env("DS_IO_URING", "off");
        }
        let out = cmd.output().unwrap();
        if out.status.success() {
            passed += 1;
            println!("test {name} ... ok ({what})");
        } else {
            failed += 1;
            println!(
                "test {name} ... FAILED ({what})\n--- child stdout\n{}\n--- child stderr\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
