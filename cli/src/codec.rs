//! Tile-parallel GDeflate compression and decompression for the tool: the
//! same results as `ds_gdeflate::encode::compress_parallel` and
//! `ds_gdeflate::decompress_parallel`, plus what a command-line tool needs
//! on top: a progress bar advanced tile by tile, and a check of the Ctrl-C
//! flag between tiles so a long run stops within one tile's time.
//!
//! Workers are scoped threads that claim the next tile index from a shared
//! counter (tiles differ in cost, so this balances load by itself). The
//! per-tile pages ([`ds_gdeflate::encode::Encoder::compress_tile`]) become a
//! stream with [`ds_gdeflate::encode::assemble`]. Pages depend only on their
//! tile and the level, so the result is byte-identical to
//! `ds_gdeflate::encode::compress` for any thread count (a test checks it).

use crate::error::CliError;
use crate::interrupt;
use ds_gdeflate::encode::{EncodeError, Encoder, MAX_INPUT, MAX_LEVEL};
use ds_gdeflate::{tile_jobs_with, DecodeError, DecodeOptions, TileStream, TILE_SIZE};
use indicatif::ProgressBar;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// How a codec run is driven: threads, progress bar, and a name for errors.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// Worker threads (0 = all available cores).
    pub threads: usize,
    /// Advanced by each tile's uncompressed size.
    pub progress: &'a ProgressBar,
    /// What is being processed, for error messages (a file name, an entry).
    pub what: &'a str,
}

/// Threads to use for `requested` (0 = all cores) and `tiles` tiles.
pub fn thread_count(requested: usize, tiles: usize) -> usize {
    let n = if requested == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        requested
    };
    n.min(tiles).max(1)
}

/// Why a worker stopped early.
enum Stop<E> {
    Interrupted,
    Failed(usize, E),
}

/// Compresses `input` at `level` into a GDeflate tile stream.
pub fn compress(input: &[u8], level: u8, run: &Run<'_>) -> Result<Vec<u8>, CliError> {
    let encode_err = |error| CliError::Encode {
        what: run.what.to_owned(),
        error,
    };
    if level > MAX_LEVEL {
        return Err(encode_err(EncodeError::BadLevel { level }));
    }
    if input.len() > MAX_INPUT {
        return Err(encode_err(EncodeError::InputTooLarge {
            len: input.len(),
            max: MAX_INPUT,
        }));
    }
    let tiles = input.len().div_ceil(TILE_SIZE);
    let threads = thread_count(run.threads, tiles);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let pages: Vec<Mutex<Vec<u8>>> = (0..tiles).map(|_| Mutex::new(Vec::new())).collect();
    let first_stop: Mutex<Option<Stop<EncodeError>>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut enc = match Encoder::new(level) {
                    Ok(e) => e,
                    Err(e) => return record(&first_stop, &stop, Stop::Failed(0, e)),
                };
                loop {
                    // Relaxed: `stop` only cuts work short; the reported
                    // error is chosen under the `first_stop` lock. The tile
                    // counter publishes no other memory.
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if interrupt::requested() {
                        return record(&first_stop, &stop, Stop::Interrupted);
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= tiles {
                        return;
                    }
                    let tile = &input[i * TILE_SIZE..((i + 1) * TILE_SIZE).min(input.len())];
                    let mut page = Vec::with_capacity(tile.len() / 2 + 1024);
                    if let Err(e) = enc.compress_tile(tile, &mut page) {
                        return record(&first_stop, &stop, Stop::Failed(i, e));
                    }
                    *lock(&pages[i]) = page;
                    run.progress.inc(tile.len() as u64);
                }
            });
        }
    });
    match first_stop
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        Some(Stop::Interrupted) => return Err(CliError::Interrupted),
        Some(Stop::Failed(_, e)) => return Err(encode_err(e)),
        None => {}
    }
    let pages: Vec<Vec<u8>> = pages
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
        .collect();
    ds_gdeflate::encode::assemble(input.len(), &pages).map_err(encode_err)
}

/// Decompresses a whole stream into a new buffer. Errors name the tile, the
/// offset inside its payload and the offset in the input.
pub fn decompress(input: &[u8], strict: bool, run: &Run<'_>) -> Result<Vec<u8>, CliError> {
    let decode_err = |error: DecodeError, stream: Option<&TileStream<'_>>| CliError::Decode {
        what: run.what.to_owned(),
        error,
        file_offset: file_offset(&error, stream),
    };
    let stream = TileStream::parse(input).map_err(|e| decode_err(e, None))?;
    let size = usize::try_from(stream.uncompressed_size()).map_err(|_| CliError::Invalid {
        what: format!("{}: stream too large for this machine", run.what),
    })?;
    let mut out = vec![0u8; size];
    let options = DecodeOptions { strict };
    let jobs = tile_jobs_with(&stream, &mut out, options).map_err(|e| decode_err(e, None))?;
    let threads = thread_count(run.threads, stream.num_tiles());
    let jobs = Mutex::new(jobs);
    let stop = AtomicBool::new(false);
    let first_stop: Mutex<Option<Stop<DecodeError>>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                // Relaxed: as in `compress`.
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if interrupt::requested() {
                    return record(&first_stop, &stop, Stop::Interrupted);
                }
                let Some(job) = lock(&jobs).next() else {
                    return;
                };
                let (index, len) = (job.index, job.out.len());
                if let Err(e) = job.run() {
                    return record(&first_stop, &stop, Stop::Failed(index, e));
                }
                run.progress.inc(len as u64);
            });
        }
    });
    match first_stop
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        Some(Stop::Interrupted) => Err(CliError::Interrupted),
        Some(Stop::Failed(_, e)) => Err(decode_err(e, Some(&stream))),
        None => Ok(out),
    }
}

/// Absolute input offset of a decode error's position, when it has one.
pub fn file_offset(error: &DecodeError, stream: Option<&TileStream<'_>>) -> Option<u64> {
    match (*error, stream) {
        (DecodeError::Corrupt { tile, offset, .. }, Some(s)) if tile < s.num_tiles() => {
            Some((s.tile_offset_in_input(tile) + offset) as u64)
        }
        (DecodeError::BadTileRange { start, .. }, _) => Some(start),
        _ => None,
    }
}

/// Keeps the most useful stop reason: an interrupt wins, otherwise the
/// failure of the lowest-numbered tile (what a sequential run reports: all
/// lower tiles were handed out earlier and finish).
fn record<E>(slot: &Mutex<Option<Stop<E>>>, stop: &AtomicBool, why: Stop<E>) {
    let mut s = lock(slot);
    let replace = match (&*s, &why) {
        (None, _) => true,
        (Some(Stop::Interrupted), _) => false,
        (Some(Stop::Failed(..)), Stop::Interrupted) => true,
        (Some(Stop::Failed(old, _)), Stop::Failed(new, _)) => new < old,
    };
    if replace {
        *s = Some(why);
    }
    // Relaxed: see `compress`.
    stop.store(true, Ordering::Relaxed);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section here is a single assignment or iterator step,
    // so a poisoned lock holds consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress;

    fn run(threads: usize, bar: &ProgressBar) -> Run<'_> {
        Run {
            threads,
            progress: bar,
            what: "test input",
        }
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut x = 0x1234_5678_9ABC_DEF1u64;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 3 == 0 {
                    (x >> 40) as u8
                } else {
                    b"abcab"[i % 5]
                }
            })
            .collect()
    }

    #[test]
    fn byte_identical_to_the_library_encoder() {
        let bar = progress::hidden();
        for len in [0, 1, 4095, TILE_SIZE, TILE_SIZE + 1, 3 * TILE_SIZE + 17] {
            let data = sample(len);
            for level in [0, 1, 6] {
                let ours = compress(&data, level, &run(3, &bar)).unwrap();
                let lib = ds_gdeflate::encode::compress(&data, level).unwrap();
                assert_eq!(ours, lib, "len {len} level {level}");
                let back = decompress(&ours, true, &run(2, &bar)).unwrap();
                assert_eq!(back, data);
            }
        }
    }

    #[test]
    fn corrupt_tile_error_names_tile_and_file_offset() {
        let bar = progress::hidden();
        let data = sample(3 * TILE_SIZE);
        let mut stream = compress(&data, 1, &run(1, &bar)).unwrap();
        let parsed = TileStream::parse(&stream).unwrap();
        let at = parsed.tile_offset_in_input(1);
        let len = parsed.tile_payload(1).len();
        stream[at..at + len].fill(0xFF);
        let err = decompress(&stream, false, &run(2, &bar)).unwrap_err();
        let CliError::Decode {
            error, file_offset, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(error.tile(), Some(1));
        let off = file_offset.expect("offset known");
        assert!(off >= at as u64 && off <= (at + len) as u64, "{off}");
        assert!(err.to_string().starts_with("test input: tile 1 corrupt"));
    }

    #[test]
    fn bad_level_is_an_encode_error() {
        let bar = progress::hidden();
        let err = compress(b"x", 13, &run(1, &bar)).unwrap_err();
        assert!(matches!(
            err,
            CliError::Encode {
                error: EncodeError::BadLevel { level: 13 },
                ..
            }
        ));
    }
}
