//! The tile-stream container (SPEC §2): 8-byte header, tile table, payloads.
//!
//! [`TileStream::parse`] checks everything about the container up front
//! (SPEC §7 rules 1-8), so that afterwards every tile's payload range is
//! known to lie inside the input and the accessors cannot fail.

use crate::error::DecodeError;
use crate::TILE_SIZE;

/// Header size in bytes.
const HEADER: usize = 8;
/// Codec id of GDeflate.
const GDEFLATE_ID: u8 = 4;

/// A parsed and validated GDeflate tile stream borrowing its input.
#[derive(Clone, Copy, Debug)]
pub struct TileStream<'a> {
    input: &'a [u8],
    num_tiles: usize,
    /// Uncompressed size of the last tile (1..=65536); unused when empty.
    last_tile_len: usize,
    /// Byte offset of the payload area (8 + 4 * numTiles).
    data_start: usize,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> TileStream<'a> {
    /// Parses the header and tile table and checks every tile's range.
    ///
    /// Accepted per SPEC §7: reserved header bits set (rule 5), `numTiles`
    /// 0 as an empty stream (rule 6), `lastTileSize` 65536 as a full last
    /// tile (rule 4), and bytes after the last tile (rule 22). Tiles must be
    /// in order (`off(i) <= off(i+1)`) and inside the input; they may not
    /// overlap.
    pub fn parse(input: &'a [u8]) -> Result<Self, DecodeError> {
        if input.len() < HEADER {
            return Err(DecodeError::ShortHeader { len: input.len() });
        }
        let (id, magic) = (input[0], input[1]);
        if id != GDEFLATE_ID || magic != id ^ 0xFF {
            return Err(DecodeError::BadId { id, magic });
        }
        let num_tiles = usize::from(u16::from_le_bytes([input[2], input[3]]));
        let word2 = le32(input, 4);
        let tile_size_idx = (word2 & 3) as u8;
        if tile_size_idx != 1 {
            return Err(DecodeError::BadTileSizeIndex {
                value: tile_size_idx,
            });
        }
        let last = (word2 >> 2) & 0x3_FFFF;
        if last > TILE_SIZE as u32 {
            return Err(DecodeError::BadLastTileSize { value: last });
        }
        let last_tile_len = if last == 0 { TILE_SIZE } else { last as usize };
        let data_start = HEADER + 4 * num_tiles;
        if input.len() < data_start {
            return Err(DecodeError::ShortTileTable {
                num_tiles,
                needed: data_start,
                len: input.len(),
            });
        }
        let stream = TileStream {
            input,
            num_tiles,
            last_tile_len,
            data_start,
        };
        let area = (input.len() - data_start) as u64;
        let mut prev = 0u64;
        for i in 0..num_tiles {
            let (start, end) = stream.raw_range(i);
            if start < prev || end < start || end > area {
                return Err(DecodeError::BadTileRange {
                    tile: i,
                    start: data_start as u64 + start,
                    end: data_start as u64 + end,
                    len: input.len(),
                });
            }
            prev = start;
        }
        Ok(stream)
    }

    /// Tile `i`'s payload range relative to the payload area, unchecked.
    fn raw_range(&self, i: usize) -> (u64, u64) {
        let off = |k: usize| {
            if k == 0 {
                0
            } else {
                u64::from(le32(self.input, HEADER + 4 * k))
            }
        };
        let start = off(i);
        let end = if i + 1 == self.num_tiles {
            start + u64::from(le32(self.input, HEADER))
        } else {
            off(i + 1)
        };
        (start, end)
    }

    /// Number of tiles.
    pub fn num_tiles(&self) -> usize {
        self.num_tiles
    }

    /// Total uncompressed size of the stream.
    pub fn uncompressed_size(&self) -> u64 {
        if self.num_tiles == 0 {
            0
        } else {
            (self.num_tiles as u64 - 1) * TILE_SIZE as u64 + self.last_tile_len as u64
        }
    }

    /// The compressed bytes of tile `i`. Panics if `i >= num_tiles()`.
    pub fn tile_payload(&self, i: usize) -> &'a [u8] {
        assert!(i < self.num_tiles, "tile {i} of {}", self.num_tiles);
        let (start, end) = self.raw_range(i);
        // Checked in `parse`: start <= end <= input.len() - data_start.
        &self.input[self.data_start + start as usize..self.data_start + end as usize]
    }

    /// Uncompressed size of tile `i` (65536 except possibly the last).
    /// Panics if `i >= num_tiles()`.
    pub fn tile_uncompressed_len(&self, i: usize) -> usize {
        assert!(i < self.num_tiles, "tile {i} of {}", self.num_tiles);
        if i + 1 == self.num_tiles {
            self.last_tile_len
        } else {
            TILE_SIZE
        }
    }

    /// Byte offset of tile `i`'s payload inside the input (GPU paths upload
    /// the stream once and point each tile at this offset). Panics if
    /// `i >= num_tiles()`.
    pub fn tile_offset_in_input(&self, i: usize) -> usize {
        assert!(i < self.num_tiles, "tile {i} of {}", self.num_tiles);
        self.data_start + self.raw_range(i).0 as usize
    }

    /// Byte offset of tile `i`'s output inside the whole uncompressed data.
    pub fn tile_output_offset(&self, i: usize) -> u64 {
        i as u64 * TILE_SIZE as u64
    }

    /// The whole input the stream was parsed from.
    pub fn input(&self) -> &'a [u8] {
        self.input
    }
}
