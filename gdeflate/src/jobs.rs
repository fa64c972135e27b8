//! Tile-parallel decoding: independent per-tile jobs (no_std) and, with
//! `std`, a helper that runs them on all cores with scoped threads.
//!
//! Tiles share nothing (SPEC §1), so a stream splits into one job per tile,
//! each owning its payload and its own disjoint 64 KiB slice of the output.
//! An engine can hand [`TileJob`]s to its own job system; [`decompress_parallel`]
//! does it with `std::thread::scope`.
//!
//! Threads rather than rayon: no dependency and no global pool for a
//! `no_std`-first crate; each worker reuses one set of decode tables and
//! pulls the next tile from a shared iterator, so load balances itself when
//! tiles differ in cost (stored tiles decode far faster than dense ones).
//! Engines with a pool of their own use [`tile_jobs`] instead.

use crate::decode::TileDecoder;
use crate::error::DecodeError;
use crate::{DecodeOptions, TileStream, TILE_SIZE};
use core::slice::ChunksMut;

/// One tile to decode: its index, payload and output slice.
#[derive(Debug)]
pub struct TileJob<'a, 'o> {
    /// Tile index in the stream.
    pub index: usize,
    /// The tile's compressed bytes.
    pub payload: &'a [u8],
    /// Where the tile's bytes go: exactly its uncompressed length.
    pub out: &'o mut [u8],
    strict: bool,
}

impl TileJob<'_, '_> {
    /// Decodes the tile into `out`.
    pub fn run(self) -> Result<(), DecodeError> {
        let mut dec = TileDecoder::new(self.strict);
        self.run_with(&mut dec)
    }

    /// Decodes the tile reusing `dec`'s table storage.
    pub(crate) fn run_with(self, dec: &mut TileDecoder) -> Result<(), DecodeError> {
        dec.strict = self.strict;
        dec.decode(self.payload, self.out)
            .map_err(|f| DecodeError::Corrupt {
                tile: self.index,
                offset: f.offset,
                kind: f.kind,
            })
    }
}

/// Iterator over the [`TileJob`]s of a stream, in tile order.
#[derive(Debug)]
pub struct TileJobs<'a, 'o> {
    stream: TileStream<'a>,
    chunks: ChunksMut<'o, u8>,
    next: usize,
    strict: bool,
}

impl<'a, 'o> Iterator for TileJobs<'a, 'o> {
    type Item = TileJob<'a, 'o>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.stream.num_tiles() {
            return None;
        }
        let out = self.chunks.next()?;
        let index = self.next;
        self.next += 1;
        Some(TileJob {
            index,
            payload: self.stream.tile_payload(index),
            out,
            strict: self.strict,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.stream.num_tiles() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for TileJobs<'_, '_> {}

/// Splits `output` into one job per tile of `stream` (no_std hook for an
/// engine's job system). Fails if `output` is smaller than the stream's
/// uncompressed size; bytes past that size are left untouched.
pub fn tile_jobs<'a, 'o>(
    stream: &TileStream<'a>,
    output: &'o mut [u8],
) -> Result<TileJobs<'a, 'o>, DecodeError> {
    tile_jobs_with(stream, output, DecodeOptions::default())
}

/// [`tile_jobs`] with options.
pub fn tile_jobs_with<'a, 'o>(
    stream: &TileStream<'a>,
    output: &'o mut [u8],
    options: DecodeOptions,
) -> Result<TileJobs<'a, 'o>, DecodeError> {
    let size = stream.uncompressed_size();
    if (output.len() as u64) < size {
        return Err(DecodeError::DestinationTooSmall {
            needed: size,
            available: output.len(),
        });
    }
    Ok(TileJobs {
        stream: *stream,
        chunks: output[..size as usize].chunks_mut(TILE_SIZE),
        next: 0,
        strict: options.strict,
    })
}

/// Decodes a whole stream with tiles spread over `threads` threads (0 = all
/// available cores). Same result as [`crate::decompress`]: on corrupt input
/// the error of the lowest-numbered failing tile.
#[cfg(feature = "std")]
pub fn decompress_parallel(
    input: &[u8],
    output: &mut [u8],
    threads: usize,
) -> Result<usize, DecodeError> {
    decompress_parallel_with(input, output, threads, DecodeOptions::default())
}

/// [`decompress_parallel`] with options.
#[cfg(feature = "std")]
pub fn decompress_parallel_with(
    input: &[u8],
    output: &mut [u8],
    threads: usize,
    options: DecodeOptions,
) -> Result<usize, DecodeError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    let stream = TileStream::parse(input)?;
    let size = stream.uncompressed_size() as usize;
    let jobs = tile_jobs_with(&stream, output, options)?;
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .min(stream.num_tiles());
    if threads <= 1 {
        let mut dec = TileDecoder::new(options.strict);
        for job in jobs {
            job.run_with(&mut dec)?;
        }
        return Ok(size);
    }

    let jobs = Mutex::new(jobs);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<DecodeError>> = Mutex::new(None);
    let worker = || {
        let mut dec = TileDecoder::new(options.strict);
        loop {
            // Relaxed: `stop` only cuts work short; which error is
            // reported is decided under the `first_error` lock.
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let job = match jobs.lock() {
                Ok(mut it) => it.next(),
                Err(poisoned) => poisoned.into_inner().next(),
            };
            let Some(job) = job else { break };
            let index = job.index;
            if let Err(e) = job.run_with(&mut dec) {
                // Tiles are handed out in order, so every tile below
                // `index` is already taken and will finish: keeping the
                // lowest index reproduces the sequential decoder's error.
                let mut slot = match first_error.lock() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                if slot.is_none_or(|old| old.tile().unwrap_or(usize::MAX) > index) {
                    *slot = Some(e);
                }
                stop.store(true, Ordering::Relaxed);
            }
        }
    };
    std::thread::scope(|s| {
        // The calling thread is one of the workers. A thread the OS
        // refuses to start is simply not there: the others take its tiles.
        for _ in 1..threads {
            let _ = std::thread::Builder::new().spawn_scoped(s, worker);
        }
        worker();
    });
    let first = match first_error.into_inner() {
        Ok(v) => v,
        Err(poisoned) => poisoned.into_inner(),
    };
    match first {
        Some(e) => Err(e),
        None => Ok(size),
    }
}
