//! Helpers shared by the queue's integration tests: temporary files with
//! known contents, and a gated test executor that holds a request inside
//! (or just before) its destination-write bracket until the test releases
//! it, so in-flight cancellation can be tested deterministically.

#![allow(dead_code)]

use ds_core::DestinationKinds;
use ds_os_linux::{Backend, Driver, Job, JobFeed, PreadConfig, Queue, QueueBuilder, RequestId};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "ds-os-linux-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `data` to a new file and returns its path.
    pub fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic bytes (xorshift) for file contents.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A small xorshift generator for random test decisions.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A queue over the pread backend.
pub fn pread_queue(capacity: usize, threads: usize) -> Queue {
    QueueBuilder::new()
        .capacity(capacity)
        .backend(Backend::Pread(PreadConfig { threads }))
        .build()
        .unwrap()
}

/// Where the gated executor stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateAt {
    /// After start, before `begin_write`.
    BeforeWrite,
    /// Inside the write bracket, before writing.
    InsideWrite,
}

/// A test executor: for each job, stops at `at`, reports the id on
/// `entered`, waits for one message on the release channel, then fills the
/// host destination with `0xAB` and completes. Serves `kinds`.
pub struct GateDriver {
    kinds: DestinationKinds,
    at: GateAt,
    entered: Sender<RequestId>,
    release: Arc<Mutex<Receiver<()>>>,
    worker: Option<JoinHandle<()>>,
}

pub struct GateHandles {
    pub entered: Receiver<RequestId>,
    pub release: Sender<()>,
}

impl GateDriver {
    pub fn new(kinds: DestinationKinds, at: GateAt) -> (GateDriver, GateHandles) {
        let (etx, erx) = channel();
        let (rtx, rrx) = channel();
        (
            GateDriver {
                kinds,
                at,
                entered: etx,
                release: Arc::new(Mutex::new(rrx)),
                worker: None,
            },
            GateHandles {
                entered: erx,
                release: rtx,
            },
        )
    }
}

/// Waits for a release message, giving up once the queue shuts down.
fn hold(feed: &JobFeed, release: &Mutex<Receiver<()>>) {
    let rx = release.lock().unwrap();
    while !feed.is_closed() {
        if rx.recv_timeout(Duration::from_millis(10)).is_ok() {
            return;
        }
    }
}

fn gate_job(
    mut job: Job,
    at: GateAt,
    feed: &JobFeed,
    entered: &Sender<RequestId>,
    release: &Mutex<Receiver<()>>,
) {
    let id = job.id();
    if at == GateAt::BeforeWrite {
        let _ = entered.send(id);
        hold(feed, release);
    }
    if job.begin_write().is_err() {
        return job.finish_cancelled();
    }
    if at == GateAt::InsideWrite {
        let _ = entered.send(id);
        hold(feed, release);
    }
    let n = job.desc().uncompressed_size;
    if let Some(dst) = job.io_parts().destination {
        dst[..n as usize].fill(0xAB);
    }
    job.complete(n);
}

impl Driver for GateDriver {
    fn name(&self) -> &'static str {
        "gate"
    }

    fn destinations(&self) -> DestinationKinds {
        self.kinds
    }

    fn start(&mut self, feed: JobFeed) -> std::io::Result<()> {
        let (at, entered, release) = (self.at, self.entered.clone(), self.release.clone());
        self.worker = Some(std::thread::spawn(move || {
            let mut batch = Vec::new();
            while feed.next_batch(&mut batch, 1) {
                for job in batch.drain(..) {
                    gate_job(job, at, &feed, &entered, &release);
                }
            }
        }));
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.join().unwrap();
        }
    }
}
