//! Streaming archive entries through the ds-runtime request queue, the way
//! an engine would: the archive index gives each file's `(offset, stored
//! size, size, codec)`, and each file becomes one request — a GDeflate
//! request (read + CPU decode inside the queue) or a plain read. Used by
//! `dsr demo` and the end-to-end suite of `dsr bench`.
//!
//! Requests keep their completions (collected with `Queue::wait`), which
//! hold a slot until collected, so at most half the queue's capacity is in
//! flight at once and the oldest is collected before more are enqueued.

use crate::archive::{Codec, Entry};
use crate::error::CliError;
use crate::interrupt;
use ds_os_linux::{
    Backend, Completion, FileRef, Outcome, PreadConfig, Queue, QueueBuilder, Request, RequestId,
    UringConfig, UringDriver, UringStats,
};
use std::collections::VecDeque;
use std::time::Duration;

/// Default queue capacity used here.
pub const CAPACITY: usize = 1024;

/// The I/O backend the queue will use, and its name for reports.
#[derive(Debug, Clone)]
pub struct BackendChoice {
    /// The backend.
    pub backend: Backend,
    /// Its name ("pread", "io_uring").
    pub name: &'static str,
    /// Why this one was chosen.
    pub note: String,
    /// The io_uring driver's counters, when it is the io_uring backend.
    pub uring_stats: Option<UringStats>,
}

/// The pread backend with `threads` workers (0 = the default count).
pub fn pread_backend(threads: usize) -> BackendChoice {
    let backend = if threads == 0 {
        Backend::Pread(PreadConfig::default())
    } else {
        Backend::Pread(PreadConfig { threads })
    };
    BackendChoice {
        backend,
        name: "pread",
        note: "worker threads doing positioned reads".to_owned(),
        uring_stats: None,
    }
}

/// The io_uring backend with `rings` rings (0 = the default count), if
/// this kernel lets us set up a ring (seccomp, `kernel.io_uring_disabled`
/// and `DS_IO_URING=off` can forbid it); otherwise why not.
pub fn uring_backend(rings: usize) -> Result<BackendChoice, String> {
    let mut config = UringConfig::default();
    if rings > 0 {
        config.rings = rings;
    }
    UringDriver::new(config.clone()).map_err(|e| e.to_string())?;
    Ok(BackendChoice {
        note: format!(
            "{} ring(s), one worker each, batched submissions, registered files and buffers",
            config.rings
        ),
        uring_stats: Some(config.stats.clone()),
        backend: Backend::IoUring(config),
        name: "io_uring",
    })
}

/// io_uring when available, else pread (the note says why).
pub fn best_backend(threads: usize) -> BackendChoice {
    match uring_backend(threads) {
        Ok(b) => b,
        Err(why) => {
            let mut b = pread_backend(threads);
            b.note = format!("io_uring unavailable here ({why}); {}", b.note);
            b
        }
    }
}

/// Every backend that works here: pread, and io_uring when available.
pub fn available_backends(threads: usize) -> Vec<BackendChoice> {
    let mut all = vec![pread_backend(threads)];
    all.extend(uring_backend(threads).ok());
    all
}

/// Builds a queue on `choice` whose staging limit admits requests of up to
/// `largest` bytes.
pub fn build_queue(choice: &BackendChoice, largest: u64, name: &str) -> Result<Queue, CliError> {
    QueueBuilder::new()
        .name(name)
        .capacity(CAPACITY)
        .backend(choice.backend.clone())
        .staging_limit(largest.max(1 << 20))
        .build()
        .map_err(CliError::QueueBuild)
}

/// A request name: the path, cut to the queue's 64-byte limit on a
/// character boundary.
pub fn request_name(path: &str) -> &str {
    let mut end = path.len().min(ds_core::MAX_NAME_LEN);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// How to read an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// GDeflate entries decode in the queue (CPU); stored ones are read.
    Decode,
    /// Every entry's stored bytes are read as they are (for a GPU decoder).
    Raw,
}

/// One entry's result.
#[derive(Debug)]
pub struct Loaded {
    /// The entry's index in the slice given.
    pub index: usize,
    /// Decoded (or raw stored) bytes.
    pub data: Vec<u8>,
    /// Enqueue-to-completion time.
    pub latency: Duration,
}

/// Reads `entries` of `file` through `queue` (entries of zero stored bytes
/// are skipped: the queue rejects empty requests, and they hold nothing).
/// Returns the results in entry order. Any failed request is an error
/// naming the request and file.
pub fn read_entries(
    queue: &Queue,
    file: &FileRef,
    entries: &[&Entry],
    mode: Mode,
    tag: u64,
) -> Result<Vec<Loaded>, CliError> {
    let window = CAPACITY / 2;
    let mut in_flight: VecDeque<(usize, RequestId)> = VecDeque::new();
    let mut done = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if e.stored_size == 0 {
            continue;
        }
        interrupt::check()?;
        let mut req = Request::read(file, e.offset, e.stored_size)
            .name(request_name(&e.path))
            .tag(tag);
        let out_len = match (mode, e.codec) {
            (Mode::Decode, Codec::GDeflate) => {
                req = req.gdeflate(e.size);
                e.size
            }
            _ => e.stored_size,
        };
        let req = req.into_buffer(vec![0u8; out_len as usize]);
        let id = queue.enqueue(req).map_err(|r| CliError::Enqueue {
            what: format!("{:?}", e.path),
            error: r.error,
        })?;
        in_flight.push_back((i, id));
        if in_flight.len() >= window {
            let (i, id) = in_flight.pop_front().expect("non-empty");
            done.push(collect(queue, i, id)?);
        }
    }
    queue.submit();
    while let Some((i, id)) = in_flight.pop_front() {
        done.push(collect(queue, i, id)?);
    }
    Ok(done)
}

fn collect(queue: &Queue, index: usize, id: RequestId) -> Result<Loaded, CliError> {
    let c: Completion = queue.wait(id, None)?;
    match c.outcome {
        Outcome::Complete { bytes } => {
            let mut data = c.buffer.unwrap_or_default();
            data.truncate(bytes as usize);
            Ok(Loaded {
                index,
                data,
                latency: c.latency,
            })
        }
        Outcome::Failed(e) => Err(e.into()),
        Outcome::Cancelled => Err(CliError::Invalid {
            what: format!("request {} was cancelled unexpectedly", c.id),
        }),
    }
}
