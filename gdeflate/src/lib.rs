//! GDeflate 1.0 codec: a `no_std`, allocation-free decoder for
//! DirectStorage tile streams and single 64 KiB tiles (pages), and, with the
//! `alloc` feature, an encoder.
//!
//! The format is described in `../shared/gdeflate/SPEC.md` (the authority;
//! a summary and the decoder design are in `docs/gdeflate.md`). Decoding
//! treats its input as untrusted: any byte string yields `Ok` or a
//! [`DecodeError`] naming the tile and what was wrong, never a panic, an
//! overflow, an unbounded loop or an out-of-bounds access.
//!
//! Entry points:
//! - [`decompress`]: a whole tile stream into a caller buffer;
//! - [`decompress_parallel`] (`std`): the same over all cores;
//! - [`TileStream`] + [`tile_jobs`]: per-tile jobs for an engine's own job
//!   system (no_std);
//! - [`decompress_tile`]: one raw tile payload (a Vulkan / nvCOMP "page").
//!
//! Choices where the spec leaves room (SPEC §7): `tileSizeIdx` other than 1
//! is rejected; reserved header bits are ignored; `numTiles = 0` is an empty
//! stream; data after the last tile is ignored; a tile must produce exactly
//! its size. Consuming every payload byte of a tile (rule 21) is not
//! required by default (reference decoders do not check it) and is enforced
//! with [`DecodeOptions::strict`].

#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod container;
mod copy;
mod cpu;
mod decode;
mod error;
mod huffman;
mod jobs;
#[cfg(target_arch = "x86_64")]
mod round;
#[cfg(target_arch = "x86_64")]
mod stored;
mod transpose;
mod words;

#[cfg(feature = "alloc")]
pub mod encode;

pub use container::TileStream;
pub use error::{CodeKind, Corruption, DecodeError};
#[cfg(feature = "std")]
pub use jobs::{decompress_parallel, decompress_parallel_with};
pub use jobs::{tile_jobs, tile_jobs_with, TileJob, TileJobs};

use decode::TileDecoder;

/// Uncompressed size of every tile but the last.
pub const TILE_SIZE: usize = 65536;

/// Decoder options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Require every tile to consume exactly its compressed size (SPEC §7
    /// rule 21). Always true of reference-encoder output; off by default
    /// because the reference decoders do not check it.
    pub strict: bool,
}

/// Uncompressed size of a stream, from its header and tile table (the whole
/// container is validated).
pub fn uncompressed_size(input: &[u8]) -> Result<u64, DecodeError> {
    Ok(TileStream::parse(input)?.uncompressed_size())
}

/// Decodes a whole tile stream into `output` (at least
/// [`uncompressed_size`] bytes; bytes past that are left untouched).
/// Returns the number of bytes written.
pub fn decompress(input: &[u8], output: &mut [u8]) -> Result<usize, DecodeError> {
    decompress_with(input, output, DecodeOptions::default())
}

/// [`decompress`] with options.
pub fn decompress_with(
    input: &[u8],
    output: &mut [u8],
    options: DecodeOptions,
) -> Result<usize, DecodeError> {
    let stream = TileStream::parse(input)?;
    let size = stream.uncompressed_size() as usize;
    let mut dec = TileDecoder::new(options.strict);
    for job in tile_jobs_with(&stream, output, options)? {
        job.run_with(&mut dec)?;
    }
    Ok(size)
}

/// Decodes one raw tile payload (a "page" outside the container, as in
/// nvCOMP and Vulkan memory decompression). `output.len()` is the expected
/// uncompressed size (at most 65,536) and must be produced exactly. Errors
/// report tile 0.
pub fn decompress_tile(payload: &[u8], output: &mut [u8]) -> Result<usize, DecodeError> {
    decompress_tile_with(payload, output, DecodeOptions::default())
}

/// [`decompress_tile`] with options.
pub fn decompress_tile_with(
    payload: &[u8],
    output: &mut [u8],
    options: DecodeOptions,
) -> Result<usize, DecodeError> {
    if output.len() > TILE_SIZE {
        return Err(DecodeError::TileTooLarge { len: output.len() });
    }
    let mut dec = TileDecoder::new(options.strict);
    dec.decode(payload, output)
        .map_err(|f| DecodeError::Corrupt {
            tile: 0,
            offset: f.offset,
            kind: f.kind,
        })?;
    Ok(output.len())
}
