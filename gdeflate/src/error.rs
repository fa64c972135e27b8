//! Decoder errors: what was wrong with a stream, and where.
//!
//! Container problems (header, tile table, destination size) are reported
//! with the numbers that did not fit. Problems inside a tile's bitstream are
//! reported as [`DecodeError::Corrupt`] with the tile index, the byte offset
//! of the read cursor inside that tile's payload when the problem was found,
//! and a [`Corruption`] saying what was wrong.

use core::fmt;

/// Which Huffman code a problem concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodeKind {
    /// The code-length code ("precode") of a dynamic block header.
    Precode,
    /// The literal/length code.
    LitLen,
    /// The distance code.
    Distance,
}

impl fmt::Display for CodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodeKind::Precode => "code-length",
            CodeKind::LitLen => "literal/length",
            CodeKind::Distance => "distance",
        })
    }
}

/// What was wrong inside one tile's bitstream (SPEC §7, rules 10-21).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Corruption {
    /// A lane needed another 32-bit word but the tile payload ends
    /// (rule 10). `word_offset` is the byte offset of the missing word.
    ReadPastEnd {
        /// Byte offset, inside the tile payload, of the word that was needed.
        word_offset: usize,
    },
    /// Block type 3 is reserved (rule 11).
    ReservedBlockType,
    /// A set of code lengths that claims more code space than exists (rule 12).
    OverSubscribedCode(CodeKind),
    /// A set of code lengths that leaves code space unused and is neither
    /// empty nor a single one-bit code (rule 12).
    IncompleteCode(CodeKind),
    /// The literal/length code of a dynamic block gives the end-of-block
    /// symbol no code, so the block could never end (rule 17).
    NoEndOfBlockCode,
    /// Code-length symbol 16 ("repeat previous") came before any length (rule 13).
    RepeatWithoutPrevious,
    /// A code-length repeat runs past HLIT + HDIST lengths (rule 14).
    RepeatOverrun {
        /// Lengths that would have been produced.
        produced: usize,
        /// HLIT + HDIST.
        wanted: usize,
    },
    /// The bits select a codeword that is not part of the code (only
    /// possible with an empty code, rule 16).
    EmptyCodeUsed(CodeKind),
    /// Literal/length symbol 286 or 287 (rule 15).
    InvalidLengthSymbol(u16),
    /// A match reaches before the start of the tile (rule 18).
    DistanceTooFar {
        /// The match distance.
        distance: usize,
        /// Output position (inside the tile) where the match starts.
        position: usize,
    },
    /// The tile would produce more bytes than its expected size (rule 19).
    OutputOverrun {
        /// Output position (inside the tile) of the item that did not fit.
        position: usize,
        /// Bytes that item wanted to write.
        wanted: usize,
        /// The tile's expected uncompressed size.
        expected: usize,
    },
    /// The tile ended (final block done) before producing its expected
    /// size (rule 20).
    ShortOutput {
        /// Bytes produced.
        produced: usize,
        /// The tile's expected uncompressed size.
        expected: usize,
    },
    /// Strict mode only: the tile's last block ended but not every payload
    /// byte was consumed (rule 21).
    UnconsumedInput {
        /// Payload bytes consumed.
        consumed: usize,
        /// The tile's compressed size.
        size: usize,
    },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Corruption::ReadPastEnd { word_offset } => {
                write!(f, "read past end of tile data at byte {word_offset}")
            }
            Corruption::ReservedBlockType => f.write_str("reserved block type 3"),
            Corruption::OverSubscribedCode(k) => write!(f, "over-subscribed {k} code"),
            Corruption::IncompleteCode(k) => write!(f, "incomplete {k} code"),
            Corruption::NoEndOfBlockCode => {
                f.write_str("literal/length code has no end-of-block symbol")
            }
            Corruption::RepeatWithoutPrevious => {
                f.write_str("code-length repeat (16) before any length")
            }
            Corruption::RepeatOverrun { produced, wanted } => write!(
                f,
                "code-length repeat overruns the header: {produced} lengths for {wanted}"
            ),
            Corruption::EmptyCodeUsed(k) => write!(f, "symbol decoded from an empty {k} code"),
            Corruption::InvalidLengthSymbol(s) => write!(f, "invalid literal/length symbol {s}"),
            Corruption::DistanceTooFar { distance, position } => write!(
                f,
                "distance {distance} beyond tile start (output position {position})"
            ),
            Corruption::OutputOverrun {
                position,
                wanted,
                expected,
            } => write!(
                f,
                "output overrun: {wanted} bytes at position {position} of a {expected}-byte tile"
            ),
            Corruption::ShortOutput { produced, expected } => {
                write!(f, "tile decoded to {produced} bytes, expected {expected}")
            }
            Corruption::UnconsumedInput { consumed, size } => write!(
                f,
                "strict mode: tile ended after {consumed} of {size} payload bytes"
            ),
        }
    }
}

/// Everything that can go wrong decoding a GDeflate stream or tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The stream is shorter than the 8-byte header (rule 1).
    ShortHeader {
        /// Stream length.
        len: usize,
    },
    /// Codec id is not 4 or the magic byte is not `id ^ 0xFF` (rule 2).
    BadId {
        /// Byte 0.
        id: u8,
        /// Byte 1.
        magic: u8,
    },
    /// `tileSizeIdx` is not 1 (rule 3).
    BadTileSizeIndex {
        /// The 2-bit field's value.
        value: u8,
    },
    /// `lastTileSize` is larger than 65536 (rule 4).
    BadLastTileSize {
        /// The 18-bit field's value.
        value: u32,
    },
    /// The tile table does not fit in the stream (rule 7).
    ShortTileTable {
        /// `numTiles` from the header.
        num_tiles: usize,
        /// Bytes needed for header and table.
        needed: usize,
        /// Stream length.
        len: usize,
    },
    /// A tile's payload range is out of order or outside the stream (rule 8).
    BadTileRange {
        /// Tile index.
        tile: usize,
        /// Start of the tile, as a byte offset into the stream.
        start: u64,
        /// End of the tile (exclusive), as a byte offset into the stream.
        end: u64,
        /// Stream length.
        len: usize,
    },
    /// The destination buffer is smaller than the stream's uncompressed size
    /// (rule 9), or, for a single tile, the wanted size is over 64 KiB.
    DestinationTooSmall {
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: usize,
    },
    /// A single-tile decode was asked for more than 65,536 output bytes.
    TileTooLarge {
        /// The requested output size.
        len: usize,
    },
    /// The bitstream of a tile is corrupt.
    Corrupt {
        /// Tile index (0 for [`crate::decompress_tile`]).
        tile: usize,
        /// Byte offset of the read cursor in the tile payload when the
        /// problem was found (all 32 initial words count as read).
        offset: usize,
        /// What was wrong.
        kind: Corruption,
    },
}

impl DecodeError {
    /// The tile the error concerns, if it concerns one.
    pub fn tile(&self) -> Option<usize> {
        match *self {
            DecodeError::BadTileRange { tile, .. } | DecodeError::Corrupt { tile, .. } => {
                Some(tile)
            }
            _ => None,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::ShortHeader { len } => {
                write!(f, "stream of {len} bytes is shorter than the 8-byte header")
            }
            DecodeError::BadId { id, magic } => write!(
                f,
                "not a GDeflate stream: id {id:#04x}, magic {magic:#04x} (want 0x04, 0xfb)"
            ),
            DecodeError::BadTileSizeIndex { value } => {
                write!(f, "tile size index {value} (only 1 = 64 KiB is defined)")
            }
            DecodeError::BadLastTileSize { value } => {
                write!(f, "last tile size {value} exceeds 65536")
            }
            DecodeError::ShortTileTable {
                num_tiles,
                needed,
                len,
            } => write!(
                f,
                "tile table of {num_tiles} tiles needs {needed} bytes, stream has {len}"
            ),
            DecodeError::BadTileRange {
                tile,
                start,
                end,
                len,
            } => write!(
                f,
                "tile {tile} bounds: bytes {start}..{end} out of order or outside the {len}-byte stream"
            ),
            DecodeError::DestinationTooSmall { needed, available } => write!(
                f,
                "destination too small: {needed} bytes needed, {available} available"
            ),
            DecodeError::TileTooLarge { len } => {
                write!(f, "a tile decodes to at most 65536 bytes, {len} requested")
            }
            DecodeError::Corrupt { tile, offset, kind } => {
                write!(f, "tile {tile} corrupt at payload byte {offset}: {kind}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}
