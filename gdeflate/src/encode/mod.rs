//! GDeflate encoder (feature `alloc`): compresses data into the DirectStorage
//! tile-stream container (SPEC §2) of 32-lane GDeflate tiles (SPEC §3).
//!
//! Levels follow the reference encoder (libdeflate-style):
//! - 0: stored blocks only;
//! - 1-4: greedy parsing over hash chains, searching deeper with the level;
//! - 5-7: lazy parsing (one position of look-ahead), longer chains;
//! - 8-12: near-optimal parsing over binary-tree matches with an iterated
//!   Huffman cost model (more passes, deeper search with the level). The
//!   reference also switches to near-optimal parsing at level 8, and its
//!   level 9 (DirectStorage's DEFAULT) is only reachable that way.
//!
//! Every level cuts each tile into blocks where symbol statistics change,
//! and codes each block as dynamic Huffman, fixed Huffman or stored,
//! whichever is smallest. Output is deterministic: a tile's bytes depend only
//! on the tile's data and the level, so [`compress_parallel`] is
//! byte-identical to [`compress`] for any thread count.
//!
//! Module map: `tables` (alphabets), `huffman` (length-limited codes),
//! `lanes` (32-lane serializer), `block` (block coding and turn order),
//! `hc` (hash chains, greedy/lazy), `bt` + `optimal` (near-optimal), `split`
//! (block splitting), `tile` (one tile, all of the above).

#![forbid(unsafe_code)]

mod block;
mod bt;
mod hc;
mod huffman;
mod lanes;
mod optimal;
mod split;
mod tables;
mod tile;

use alloc::vec::Vec;
use core::fmt;

use tile::TileEncoder;

/// Lowest compression level (levels 0..=[`MAX_LEVEL`] are accepted; 0 means
/// stored blocks only).
pub const MIN_LEVEL: u8 = 1;
/// Highest compression level.
pub const MAX_LEVEL: u8 = 12;
/// DirectStorage's DEFAULT setting.
pub const DEFAULT_LEVEL: u8 = 9;
/// Uncompressed bytes per tile.
pub const TILE_SIZE: usize = 65536;
/// Most tiles a stream can hold (the tile count is a u16).
pub const MAX_TILES: usize = 65535;
/// Largest input [`compress`] accepts: 65535 full tiles.
pub const MAX_INPUT: usize = MAX_TILES * TILE_SIZE;

/// Stream header bytes.
const HEADER_LEN: usize = 8;
/// Worst-case compressed bytes of one tile plus its table entry, per the
/// reference's CompressBound.
const TILE_BOUND: usize = TILE_SIZE + 4 + 832 + 32;

/// Why compression failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The level is above [`MAX_LEVEL`].
    BadLevel {
        /// The level asked for.
        level: u8,
    },
    /// The input needs more than 65535 tiles.
    InputTooLarge {
        /// Input length in bytes.
        len: usize,
        /// Largest accepted length ([`MAX_INPUT`]).
        max: usize,
    },
    /// [`compress_tile`] was given more than one tile of data.
    TileTooLarge {
        /// Tile length in bytes.
        len: usize,
    },
    /// The caller's buffer cannot hold the stream.
    OutputTooSmall {
        /// The tile being written when the buffer ran out (or `None` for the
        /// header and tile table).
        tile: Option<usize>,
        /// Bytes needed up to and including that part.
        needed: usize,
        /// Size of the caller's buffer.
        available: usize,
    },
    /// A tile's offset does not fit the 32-bit tile table (only possible
    /// for nearly incompressible inputs close to [`MAX_INPUT`]).
    OffsetOverflow {
        /// The tile whose offset overflowed.
        tile: usize,
        /// Its offset from the start of the tile data.
        offset: u64,
    },
    /// [`assemble`] was given a number of tile payloads other than the
    /// input length's tile count.
    PayloadCount {
        /// Tiles of the input length.
        tiles: usize,
        /// Payloads given.
        payloads: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BadLevel { level } => write!(
                f,
                "GDeflate compression level {level} is not supported (0..={MAX_LEVEL})"
            ),
            EncodeError::InputTooLarge { len, max } => write!(
                f,
                "input of {len} bytes is larger than a GDeflate stream can hold ({max} bytes, {MAX_TILES} tiles)"
            ),
            EncodeError::TileTooLarge { len } => write!(
                f,
                "tile of {len} bytes is larger than {TILE_SIZE} bytes"
            ),
            EncodeError::OutputTooSmall {
                tile: Some(t),
                needed,
                available,
            } => write!(
                f,
                "output buffer of {available} bytes too small: tile {t} needs at least {needed} bytes"
            ),
            EncodeError::OutputTooSmall {
                tile: None,
                needed,
                available,
            } => write!(
                f,
                "output buffer of {available} bytes too small for the stream header and tile table ({needed} bytes)"
            ),
            EncodeError::OffsetOverflow { tile, offset } => write!(
                f,
                "tile {tile} starts at offset {offset}, beyond the 32-bit tile table"
            ),
            EncodeError::PayloadCount { tiles, payloads } => write!(
                f,
                "{payloads} tile payloads given for an input of {tiles} tiles"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// Upper bound of the compressed size of `n` input bytes (SPEC §2.3,
/// the reference's CompressBound). [`compress_into`] never needs more.
pub const fn compress_bound(n: usize) -> usize {
    let tiles = n.div_ceil(TILE_SIZE);
    let tiles = if tiles == 0 { 1 } else { tiles };
    tiles * TILE_BOUND + 16
}

fn check_level(level: u8) -> Result<(), EncodeError> {
    if level > MAX_LEVEL {
        Err(EncodeError::BadLevel { level })
    } else {
        Ok(())
    }
}

fn tile_count(len: usize) -> Result<usize, EncodeError> {
    if len > MAX_INPUT {
        return Err(EncodeError::InputTooLarge {
            len,
            max: MAX_INPUT,
        });
    }
    Ok(len.div_ceil(TILE_SIZE))
}

/// The 8-byte stream header for `len` input bytes in `tiles` tiles.
fn header(len: usize, tiles: usize) -> [u8; HEADER_LEN] {
    let word2 = 1u32 | (((len % TILE_SIZE) as u32) << 2);
    let t = (tiles as u16).to_le_bytes();
    let w = word2.to_le_bytes();
    [4, 0xFB, t[0], t[1], w[0], w[1], w[2], w[3]]
}

/// A reusable compressor: keeps its match-finder tables and scratch buffers
/// between calls, for callers that compress many tiles or streams.
#[derive(Debug)]
pub struct Encoder {
    level: u8,
    tile: TileEncoder,
}

impl Encoder {
    /// A compressor for `level` (0..=[`MAX_LEVEL`]).
    pub fn new(level: u8) -> Result<Self, EncodeError> {
        check_level(level)?;
        Ok(Encoder {
            level,
            tile: TileEncoder::new(level),
        })
    }

    /// The level this compressor uses.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Appends the raw GDeflate page (tile payload, no container) of `tile`
    /// (at most 65536 bytes) to `out`; returns its length, a multiple of 4.
    pub fn compress_tile(&mut self, tile: &[u8], out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        if tile.len() > TILE_SIZE {
            return Err(EncodeError::TileTooLarge { len: tile.len() });
        }
        Ok(self.tile.encode(tile, out))
    }

    /// Compresses `input` into a complete tile stream.
    pub fn compress(&mut self, input: &[u8]) -> Result<Vec<u8>, EncodeError> {
        let tiles = tile_count(input.len())?;
        let mut out = Vec::with_capacity(HEADER_LEN + 4 * tiles + input.len() / 2);
        out.extend_from_slice(&header(input.len(), tiles));
        out.resize(HEADER_LEN + 4 * tiles, 0);
        let mut sizes = Vec::with_capacity(tiles);
        for chunk in input.chunks(TILE_SIZE) {
            sizes.push(self.tile.encode(chunk, &mut out));
        }
        write_table(&mut out, &sizes)?;
        Ok(out)
    }

    /// Compresses `input` into `out`; returns the stream length.
    pub fn compress_into(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
        let tiles = tile_count(input.len())?;
        let data_start = HEADER_LEN + 4 * tiles;
        if out.len() < data_start {
            return Err(EncodeError::OutputTooSmall {
                tile: None,
                needed: data_start,
                available: out.len(),
            });
        }
        let mut table = Vec::with_capacity(HEADER_LEN + 4 * tiles);
        table.extend_from_slice(&header(input.len(), tiles));
        table.resize(data_start, 0);
        let mut sizes = Vec::with_capacity(tiles);
        let mut pos = data_start;
        let mut scratch = Vec::new();
        for (i, chunk) in input.chunks(TILE_SIZE).enumerate() {
            scratch.clear();
            let n = self.tile.encode(chunk, &mut scratch);
            let Some(dst) = out.get_mut(pos..pos + n) else {
                return Err(EncodeError::OutputTooSmall {
                    tile: Some(i),
                    needed: pos + n,
                    available: out.len(),
                });
            };
            dst.copy_from_slice(&scratch);
            pos += n;
            sizes.push(n);
        }
        write_table(&mut table, &sizes)?;
        out[..data_start].copy_from_slice(&table);
        Ok(pos)
    }
}

/// Fills the tile table at the start of `stream` (after the header):
/// T[0] = size of the last tile, T[i] = offset of tile i.
fn write_table(stream: &mut [u8], sizes: &[usize]) -> Result<(), EncodeError> {
    let mut put = |i: usize, v: u32| {
        let at = HEADER_LEN + 4 * i;
        stream[at..at + 4].copy_from_slice(&v.to_le_bytes());
    };
    if let Some(&last) = sizes.last() {
        // A tile payload is at most TILE_BOUND bytes, so this fits.
        put(0, last as u32);
    }
    let mut offset = 0u64;
    for (i, &s) in sizes.iter().enumerate() {
        if i > 0 {
            let v = u32::try_from(offset)
                .map_err(|_| EncodeError::OffsetOverflow { tile: i, offset })?;
            put(i, v);
        }
        offset += s as u64;
    }
    Ok(())
}

/// Compresses `input` at `level` (0..=12) into a GDeflate tile stream.
/// Empty input gives the empty stream `04 FB 00 00 01 00 00 00`.
pub fn compress(input: &[u8], level: u8) -> Result<Vec<u8>, EncodeError> {
    Encoder::new(level)?.compress(input)
}

/// Compresses `input` into `out` (at most [`compress_bound`] bytes are
/// needed) and returns the stream length.
pub fn compress_into(input: &[u8], level: u8, out: &mut [u8]) -> Result<usize, EncodeError> {
    Encoder::new(level)?.compress_into(input, out)
}

/// Appends the raw GDeflate page of one tile (at most 65536 bytes) to `out`.
pub fn compress_tile(tile: &[u8], level: u8, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    Encoder::new(level)?.compress_tile(tile, out).map(|_| ())
}

/// Compresses like [`compress`], spreading tiles over `threads` threads (0 =
/// all available cores). The output is byte-identical to [`compress`].
#[cfg(feature = "std")]
pub fn compress_parallel(input: &[u8], level: u8, threads: usize) -> Result<Vec<u8>, EncodeError> {
    use std::sync::atomic::{AtomicUsize, Ordering};

    check_level(level)?;
    let tiles = tile_count(input.len())?;
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .min(tiles.max(1));
    if threads <= 1 {
        return compress(input, level);
    }
    // Workers claim tile indices from a shared counter; only the counter
    // value matters (no other memory is published through it), so Relaxed
    // suffices. Results are joined through the scoped threads.
    let next = AtomicUsize::new(0);
    let parts: Vec<Vec<(usize, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut enc = TileEncoder::new(level);
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= tiles {
                            break done;
                        }
                        let chunk = &input[i * TILE_SIZE..((i + 1) * TILE_SIZE).min(input.len())];
                        let mut payload = Vec::new();
                        enc.encode(chunk, &mut payload);
                        done.push((i, payload));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut payloads: Vec<Vec<u8>> = (0..tiles).map(|_| Vec::new()).collect();
    for (i, p) in parts.into_iter().flatten() {
        payloads[i] = p;
    }
    assemble(input.len(), &payloads)
}

/// Builds the tile stream of `len` input bytes from its tiles' payloads
/// ([`compress_tile`] output, in tile order), for callers that compress
/// tiles on their own threads or job system. With the payloads of one
/// level, the result is byte-identical to [`compress`].
pub fn assemble(len: usize, payloads: &[Vec<u8>]) -> Result<Vec<u8>, EncodeError> {
    let tiles = tile_count(len)?;
    if payloads.len() != tiles {
        return Err(EncodeError::PayloadCount {
            tiles,
            payloads: payloads.len(),
        });
    }
    let total: usize = payloads.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + 4 * tiles + total);
    out.extend_from_slice(&header(len, tiles));
    out.resize(HEADER_LEN + 4 * tiles, 0);
    let sizes: Vec<usize> = payloads.iter().map(Vec::len).collect();
    for p in payloads {
        out.extend_from_slice(p);
    }
    write_table(&mut out, &sizes)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn input_size_limits() {
        assert_eq!(tile_count(0), Ok(0));
        assert_eq!(tile_count(MAX_INPUT), Ok(MAX_TILES));
        assert_eq!(
            tile_count(MAX_INPUT + 1),
            Err(EncodeError::InputTooLarge {
                len: MAX_INPUT + 1,
                max: MAX_INPUT
            })
        );
        let e = EncodeError::InputTooLarge {
            len: MAX_INPUT + 1,
            max: MAX_INPUT,
        };
        assert!(e.to_string().contains("65535 tiles"), "{e}");
    }

    #[test]
    fn tile_table_layout_and_offset_overflow() {
        let mut s = vec![0u8; HEADER_LEN + 4 * 3];
        write_table(&mut s, &[100, 200, 300]).unwrap();
        let t = |i: usize| u32::from_le_bytes(s[8 + 4 * i..12 + 4 * i].try_into().unwrap());
        // T[0] = size of the last tile, T[i] = offset of tile i.
        assert_eq!((t(0), t(1), t(2)), (300, 100, 300));
        // 65535 incompressible tiles (65,672 bytes each) pass 4 GiB.
        let sizes = vec![65672usize; MAX_TILES];
        let mut s = vec![0u8; HEADER_LEN + 4 * MAX_TILES];
        let e = write_table(&mut s, &sizes).unwrap_err();
        let first_bad = (u32::MAX as usize) / 65672 + 1;
        assert_eq!(
            e,
            EncodeError::OffsetOverflow {
                tile: first_bad,
                offset: (first_bad * 65672) as u64
            }
        );
        assert!(e.to_string().contains("32-bit"), "{e}");
    }

    #[test]
    fn header_fields() {
        assert_eq!(header(65537, 2), [4, 0xFB, 2, 0, 5, 0, 0, 0]);
        assert_eq!(header(65536, 1), [4, 0xFB, 1, 0, 1, 0, 0, 0]);
        assert_eq!(header(0, 0), [4, 0xFB, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn assembled_tiles_equal_the_whole_stream() {
        let input: Vec<u8> = (0..2 * TILE_SIZE + 300)
            .map(|i| ((i % 251) ^ (i / 7)) as u8)
            .collect();
        for len in [0, 1, TILE_SIZE, input.len()] {
            let data = &input[..len];
            let pages: Vec<Vec<u8>> = data
                .chunks(TILE_SIZE)
                .map(|t| {
                    let mut page = Vec::new();
                    compress_tile(t, 6, &mut page).unwrap();
                    page
                })
                .collect();
            assert_eq!(assemble(len, &pages).unwrap(), compress(data, 6).unwrap());
        }
        let one = vec![vec![0u8; 4]];
        let err = assemble(2 * TILE_SIZE, &one).unwrap_err();
        assert_eq!(
            err,
            EncodeError::PayloadCount {
                tiles: 2,
                payloads: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "1 tile payloads given for an input of 2 tiles"
        );
    }
}
