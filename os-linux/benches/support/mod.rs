//! Measurement helpers shared by the ds-os-linux benchmarks.
#![allow(unsafe_code)]

use std::time::Duration;

/// CPU time used by this process so far (all threads, user + system).
pub fn process_cpu() -> Duration {
    // SAFETY: `rusage` is plain old data (integers and timevals), for
    // which all-zero bytes are a valid value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable `rusage`; for RUSAGE_SELF getrusage
    // only fills it in.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    debug_assert_eq!(rc, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}
