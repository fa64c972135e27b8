//! Errors of the GPU layer: Vulkan failures with the call that failed, missing device
//! capabilities, bad arguments, and per-tile decode failures reported by the shader.

use std::fmt;

use ash::vk;

/// Why a tile failed to decode on the GPU (the shader's per-tile status, see
/// `shaders/gdeflate_decode.comp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileError {
    /// The tile descriptor lies outside the bound buffers or asks for more than 64 KiB.
    Descriptor,
    /// A lane needed a word past the tile's compressed size.
    SourceOverrun,
    /// Block type 3.
    BlockType,
    /// Over-subscribed or incomplete Huffman code.
    BadCode,
    /// Bits that match no code, or literal/length symbol 286/287.
    BadSymbol,
    /// Code-length symbol 16 with no previous length.
    RepeatWithoutPrevious,
    /// Code-length run past HLIT + HDIST.
    CodeLengthOverrun,
    /// A match reaches before the start of the tile.
    Distance,
    /// The tile would produce more than its size.
    OutputOverflow,
    /// The final block ended before the tile's size was produced.
    OutputShort,
    /// An internal loop bound was hit.
    LoopBound,
    /// The shader left the status slot untouched (the dispatch did not cover the tile).
    NotWritten,
    /// A status code this crate does not know.
    Unknown(u32),
}

impl TileError {
    /// Maps a shader status code (non-zero) to an error.
    pub fn from_code(code: u32) -> TileError {
        match code {
            1 => TileError::Descriptor,
            2 => TileError::SourceOverrun,
            3 => TileError::BlockType,
            4 => TileError::BadCode,
            5 => TileError::BadSymbol,
            6 => TileError::RepeatWithoutPrevious,
            7 => TileError::CodeLengthOverrun,
            8 => TileError::Distance,
            9 => TileError::OutputOverflow,
            10 => TileError::OutputShort,
            11 => TileError::LoopBound,
            crate::decode::STATUS_UNWRITTEN => TileError::NotWritten,
            other => TileError::Unknown(other),
        }
    }
}

impl fmt::Display for TileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TileError::Descriptor => f.write_str("tile descriptor outside the bound buffers"),
            TileError::SourceOverrun => f.write_str("read past the tile's compressed data"),
            TileError::BlockType => f.write_str("block type 3"),
            TileError::BadCode => f.write_str("invalid Huffman code lengths"),
            TileError::BadSymbol => f.write_str("bits match no Huffman code or an invalid symbol"),
            TileError::RepeatWithoutPrevious => {
                f.write_str("code-length repeat with no previous length")
            }
            TileError::CodeLengthOverrun => f.write_str("code lengths overrun HLIT + HDIST"),
            TileError::Distance => f.write_str("match distance before the start of the tile"),
            TileError::OutputOverflow => f.write_str("output exceeds the tile size"),
            TileError::OutputShort => f.write_str("tile ended before producing its size"),
            TileError::LoopBound => f.write_str("decoder loop bound reached"),
            TileError::NotWritten => f.write_str("tile status not written by the shader"),
            TileError::Unknown(c) => write!(f, "unknown tile status {c}"),
        }
    }
}

/// Everything the GPU layer can fail with.
#[derive(Debug)]
pub enum GpuError {
    /// libvulkan could not be loaded.
    Loader(String),
    /// A Vulkan call returned an error.
    Vk {
        /// The Vulkan entry point.
        call: &'static str,
        /// Its result.
        result: vk::Result,
    },
    /// No physical device with a compute queue (or none matching the selection).
    NoDevice(String),
    /// The device (or the embedder's enabled features) lacks something required.
    Missing(String),
    /// The requested decode path cannot run on this device.
    PathUnavailable {
        /// The path asked for.
        path: &'static str,
        /// Why not.
        reason: String,
    },
    /// No memory type satisfies a buffer's needs.
    NoMemoryType {
        /// What the buffer was for.
        what: &'static str,
    },
    /// A size or offset argument is out of range.
    Range {
        /// What was wrong, with the numbers.
        what: String,
    },
    /// The GDeflate container is invalid (caught by the CPU-side parse).
    Container(ds_gdeflate::DecodeError),
    /// A tile failed to decode on the GPU.
    Tile {
        /// Tile index within the stream.
        tile: usize,
        /// Why.
        error: TileError,
    },
    /// Waiting for the GPU took longer than allowed.
    Timeout {
        /// What was being waited for.
        what: &'static str,
    },
}

impl GpuError {
    /// Wraps a Vulkan result with the name of the call.
    pub(crate) fn vk(call: &'static str) -> impl FnOnce(vk::Result) -> GpuError {
        move |result| GpuError::Vk { call, result }
    }
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::Loader(e) => write!(f, "cannot load the Vulkan loader: {e}"),
            GpuError::Vk { call, result } => write!(f, "{call} failed: {result}"),
            GpuError::NoDevice(why) => write!(f, "no usable Vulkan device: {why}"),
            GpuError::Missing(what) => write!(f, "Vulkan device lacks {what}"),
            GpuError::PathUnavailable { path, reason } => {
                write!(f, "decode path {path} unavailable: {reason}")
            }
            GpuError::NoMemoryType { what } => write!(f, "no Vulkan memory type for {what}"),
            GpuError::Range { what } => write!(f, "out of range: {what}"),
            GpuError::Container(e) => write!(f, "invalid GDeflate stream: {e}"),
            GpuError::Tile { tile, error } => {
                write!(f, "GPU decode of tile {tile} failed: {error}")
            }
            GpuError::Timeout { what } => write!(f, "timed out waiting for {what}"),
        }
    }
}

impl std::error::Error for GpuError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GpuError::Container(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ds_gdeflate::DecodeError> for GpuError {
    fn from(e: ds_gdeflate::DecodeError) -> Self {
        GpuError::Container(e)
    }
}
