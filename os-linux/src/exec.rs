//! Executing one request on the CPU with positioned reads and writes: the
//! body of the pread backend, kept separate so other drivers can reuse it
//! (io_uring's fallback path, and the CPU GDeflate step after any read).
//!
//! Short reads and writes are continued, EINTR is retried, end of file
//! before the range ends is an error naming the file length. Cancellation is
//! checked before any I/O, and the destination is only written inside the
//! job's write bracket, which also decides (by compare-and-swap) whether the
//! result is published.

use crate::driver::Job;
use crate::error::RequestErrorKind;
use ds_core::{Compression, Operation, Source};
use rustix::io::Errno;
use std::os::fd::AsFd;

/// Requests at least this large (uncompressed) decode with several threads.
pub const PARALLEL_DECODE_MIN: u64 = 4 << 20;

/// Per-worker reusable buffers for GDeflate requests (compressed bytes and
/// the decoded result, so a failed decode never touches the destination).
#[derive(Debug, Default)]
pub struct Scratch {
    compressed: Vec<u8>,
    decoded: Vec<u8>,
}

/// The request error for a failed OS call: `BadHandle` for EBADF, else `Io`.
pub fn io_error(call: &'static str, e: Errno) -> RequestErrorKind {
    if e == Errno::BADF {
        RequestErrorKind::BadHandle {
            call,
            errno: e.raw_os_error(),
        }
    } else {
        RequestErrorKind::Io {
            call,
            errno: e.raw_os_error(),
        }
    }
}

/// Fills `buf` from `read(buf_rest, offset)` calls, continuing short reads
/// and retrying EINTR. `Ok(n)` with `n < buf.len()` means end of file.
pub fn read_full_with(
    buf: &mut [u8],
    offset: u64,
    mut read: impl FnMut(&mut [u8], u64) -> Result<usize, Errno>,
) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        match read(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Writes all of `buf` through `write(rest, offset)` calls, continuing
/// short writes and retrying EINTR. `Ok(n)` with `n < buf.len()` means the
/// file accepted no more bytes.
pub fn write_full_with(
    buf: &[u8],
    offset: u64,
    mut write: impl FnMut(&[u8], u64) -> Result<usize, Errno>,
) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        match write(&buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// `pread` all of `buf` at `offset` of `fd`, with a precise error.
pub fn pread_exact(fd: impl AsFd, buf: &mut [u8], offset: u64) -> Result<(), RequestErrorKind> {
    let fd = fd.as_fd();
    let got = read_full_with(buf, offset, |b, off| rustix::io::pread(fd, b, off))
        .map_err(|e| io_error("pread", e))?;
    if got < buf.len() {
        let file_len = rustix::fs::fstat(fd).ok().map(|s| s.st_size as u64);
        return Err(RequestErrorKind::EndOfFile {
            available: got as u64,
            file_len,
        });
    }
    Ok(())
}

/// `pwrite` all of `buf` at `offset` of `fd`, with a precise error.
pub fn pwrite_all(fd: impl AsFd, buf: &[u8], offset: u64) -> Result<(), RequestErrorKind> {
    let fd = fd.as_fd();
    let put = write_full_with(buf, offset, |b, off| rustix::io::pwrite(fd, b, off))
        .map_err(|e| io_error("pwrite", e))?;
    if put < buf.len() {
        return Err(RequestErrorKind::ShortWrite {
            written: put as u64,
        });
    }
    Ok(())
}

/// Runs one job to its end on this thread: the pread backend's worker body.
pub fn run_job(mut job: Job, scratch: &mut Scratch, decompress_threads: usize) {
    if job.is_cancelled() {
        return job.finish_cancelled();
    }
    if job.file().is_some_and(|f| f.is_closed()) {
        return job.fail(RequestErrorKind::FileClosed);
    }
    let d = job.desc();
    let (operation, compression, source, declared) =
        (d.operation, d.compression, d.source, d.uncompressed_size);
    let result = match (operation, compression) {
        (Operation::Write, _) => write_request(&mut job),
        (Operation::Read, Compression::None) => read_plain(&mut job, &source),
        (Operation::Read, Compression::GDeflate) => {
            read_gdeflate(&mut job, &source, declared, scratch, decompress_threads)
        }
    };
    finish(job, result);
}

/// The outcome of executing a job: `Ok(Some(bytes))` done, `Ok(None)`
/// cancelled, `Err` failed.
pub type Step = Result<Option<u64>, RequestErrorKind>;

/// Reports `step` as the job's result.
pub fn finish(job: Job, step: Step) {
    match step {
        Ok(Some(bytes)) => job.complete(bytes),
        Ok(None) => job.finish_cancelled(),
        Err(kind) => job.fail(kind),
    }
}

fn unsupported(job: &Job, what: &'static str) -> RequestErrorKind {
    RequestErrorKind::Unsupported {
        executor: job.executor,
        what,
    }
}

fn write_request(job: &mut Job) -> Step {
    if job.begin_write().is_err() {
        return Ok(None);
    }
    let parts = job.io_parts();
    let (Some(file), Some(src), ds_core::Destination::File { offset, .. }) =
        (parts.file, parts.source, parts.desc.destination)
    else {
        return Err(unsupported(job, "write to this destination"));
    };
    pwrite_all(file, src, offset)?;
    Ok(Some(src.len() as u64))
}

fn read_plain(job: &mut Job, source: &Source) -> Step {
    if job.begin_write().is_err() {
        return Ok(None);
    }
    let parts = job.io_parts();
    let Some(dst) = parts.destination else {
        return Err(unsupported(job, "read into this destination"));
    };
    let n = source.size() as usize;
    let dst = &mut dst[..n];
    match (source, parts.file, parts.source) {
        (Source::File { offset, .. }, Some(file), _) => pread_exact(file, dst, *offset)?,
        (Source::Memory { .. }, _, Some(src)) => dst.copy_from_slice(&src[..n]),
        _ => return Err(unsupported(job, "read from this source")),
    }
    Ok(Some(n as u64))
}

fn read_gdeflate(
    job: &mut Job,
    source: &Source,
    declared: u64,
    scratch: &mut Scratch,
    threads: usize,
) -> Step {
    let Scratch {
        compressed,
        decoded,
    } = scratch;
    // The compressed bytes: read into private staging (no write bracket:
    // the destination is not touched), or borrowed from a memory source.
    let parts = job.io_parts();
    let input: &[u8] = match (source, parts.file, parts.source) {
        (Source::File { offset, size, .. }, Some(file), _) => {
            compressed.clear();
            compressed.resize(*size as usize, 0);
            pread_exact(file, compressed, *offset)?;
            compressed
        }
        (Source::Memory { .. }, _, Some(src)) => src,
        _ => return Err(unsupported(job, "read from this source")),
    };
    decode(input, declared, decoded, threads)?;
    deliver(job, decoded)
}

/// Decodes the GDeflate stream `input` (a request's compressed bytes, in
/// private memory) into `decoded`, checking the declared size first. Shared
/// by every driver that decompresses on the CPU after its read.
pub fn decode(
    input: &[u8],
    declared: u64,
    decoded: &mut Vec<u8>,
    threads: usize,
) -> Result<(), RequestErrorKind> {
    let corrupt = |e: ds_gdeflate::DecodeError| RequestErrorKind::Corrupt {
        message: e.to_string(),
    };
    let stream = ds_gdeflate::uncompressed_size(input).map_err(corrupt)?;
    if stream != declared {
        return Err(RequestErrorKind::SizeMismatch { stream, declared });
    }
    decoded.clear();
    decoded.resize(declared as usize, 0);
    if declared >= PARALLEL_DECODE_MIN && threads > 1 {
        ds_gdeflate::decompress_parallel(input, decoded, threads).map_err(corrupt)?;
    } else {
        ds_gdeflate::decompress(input, decoded).map_err(corrupt)?;
    }
    Ok(())
}

/// Copies `bytes` (a finished result in private memory) into the job's
/// host destination inside the write bracket; `Ok(None)` if it was
/// cancelled first.
pub fn deliver(job: &mut Job, bytes: &[u8]) -> Step {
    if job.begin_write().is_err() {
        return Ok(None);
    }
    let parts = job.io_parts();
    let Some(dst) = parts.destination else {
        return Err(unsupported(job, "deliver into this destination"));
    };
    dst[..bytes.len()].copy_from_slice(bytes);
    Ok(Some(bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_are_continued_and_eintr_retried() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut calls = 0;
        let mut buf = [0u8; 100];
        let got = read_full_with(&mut buf, 0, |b, off| {
            calls += 1;
            if calls % 3 == 0 {
                return Err(Errno::INTR);
            }
            let n = b.len().min(7);
            b[..n].copy_from_slice(&data[off as usize..off as usize + n]);
            Ok(n)
        })
        .unwrap();
        assert_eq!(got, 100);
        assert_eq!(&buf[..], &data[..]);
        assert!(calls > 15, "read in several short pieces: {calls}");
    }

    #[test]
    fn end_of_file_and_errors_stop_the_loop() {
        let mut buf = [0u8; 10];
        let got = read_full_with(&mut buf, 5, |b, off| {
            assert!(off >= 5);
            Ok(if off < 9 { b.len().min(2) } else { 0 })
        })
        .unwrap();
        assert_eq!(got, 4);
        let err = read_full_with(&mut buf, 0, |_, _| Err(Errno::IO)).unwrap_err();
        assert_eq!(err, Errno::IO);
    }

    #[test]
    fn short_writes_are_continued_and_eintr_retried() {
        let mut out = vec![0u8; 50];
        let mut interrupted = false;
        let src: Vec<u8> = (0..50u8).collect();
        let put = write_full_with(&src, 0, |b, off| {
            if !interrupted {
                interrupted = true;
                return Err(Errno::INTR);
            }
            let n = b.len().min(9);
            out[off as usize..off as usize + n].copy_from_slice(&b[..n]);
            Ok(n)
        })
        .unwrap();
        assert_eq!(put, 50);
        assert_eq!(out, src);
        let stuck = write_full_with(&src, 0, |_, _| Ok(0)).unwrap();
        assert_eq!(stuck, 0);
    }
}
