//! The pread backend: a pool of worker threads, each taking batches of
//! started requests from the queue and executing them with positioned
//! `pread`/`pwrite` (via `rustix`) and CPU GDeflate decoding.

use crate::driver::{Driver, Job, JobFeed};
use crate::exec::{run_job, Scratch};
use ds_core::DestinationKinds;
use std::thread::JoinHandle;

/// Jobs a worker takes per visit to the queue's ready lists.
const BATCH: usize = 8;

/// Settings of the pread backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreadConfig {
    /// Worker threads (at least 1).
    pub threads: usize,
}

impl Default for PreadConfig {
    /// One worker per available core, at most 16.
    fn default() -> Self {
        PreadConfig {
            threads: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 16),
        }
    }
}

/// The pread executor (host-memory destinations and writes).
#[derive(Debug)]
pub struct PreadDriver {
    config: PreadConfig,
    workers: Vec<JoinHandle<()>>,
}

impl PreadDriver {
    /// A driver that starts `config.threads` workers.
    pub fn new(config: PreadConfig) -> Self {
        PreadDriver {
            config,
            workers: Vec::new(),
        }
    }
}

impl Driver for PreadDriver {
    fn name(&self) -> &'static str {
        "pread"
    }

    fn destinations(&self) -> DestinationKinds {
        DestinationKinds::HOST_MEMORY.union(DestinationKinds::FILE)
    }

    fn start(&mut self, feed: JobFeed) -> std::io::Result<()> {
        for n in 0..self.config.threads.max(1) {
            let feed = feed.clone();
            let handle = std::thread::Builder::new()
                .name(format!("ds-pread-{n}"))
                .spawn(move || worker(feed))?;
            self.workers.push(handle);
        }
        Ok(())
    }

    fn stop(&mut self) {
        let me = std::thread::current().id();
        for w in self.workers.drain(..) {
            // The last queue handle can be dropped inside a callback running
            // on a worker: that worker cannot join itself; it exits on its
            // own once it returns to its (closed) feed.
            if w.thread().id() != me && w.join().is_err() {
                log::error!("a pread worker panicked");
            }
        }
    }
}

fn worker(feed: JobFeed) {
    let mut scratch = Scratch::default();
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
    let threads = feed.decompress_threads();
    while feed.next_batch(&mut batch, BATCH) {
        let last = batch.pop();
        for job in batch.drain(..) {
            run_job(job, &mut scratch, threads);
        }
        if let Some(job) = last {
            // Requests the last job's callback submits are this worker's
            // next batch: it goes straight back to the queue, so nobody else
            // is woken for them (idle workers are, for more than its share).
            let scope = feed.local_scope();
            run_job(job, &mut scratch, threads);
            scope.end();
        }
    }
}
