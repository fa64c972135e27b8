//! The dsr asset archive (`.dsra`): GDeflate-compressed files with an index,
//! laid out for streaming through the request queue. The byte-level layout
//! is documented in `docs/archive.md`; in short:
//!
//! ```text
//! 0      header (128 bytes): magic, version, counts, offsets, SHA-256s
//! 128    index: one record per file, sorted by path
//!        zero padding to 4096
//! D      entry data, each entry starting on a 4096-byte boundary
//!        (GDeflate tile stream, or the raw bytes when compression does
//!        not make the file smaller), zero padding between entries and
//!        after the last one (the archive size is a multiple of 4096)
//! ```
//!
//! An engine reads the header and index once (one small read), then issues
//! one queue request per file: `(offset, stored size)` plus, for GDeflate
//! entries, the uncompressed size. 4 KiB alignment lets O_DIRECT and
//! GPU-direct paths read entries without bounce buffers.
//!
//! The reader ([`Archive::open`]) treats the file as untrusted and checks
//! everything before returning: magic, version, reserved fields, both
//! SHA-256s, that index and entries lie inside the file, alignment, that no
//! two entries overlap, that sizes agree with the codec, and that every
//! path is a safe relative path (no `..`, no absolute paths, no empty or
//! `.` components, no backslashes or control characters) and unique, and
//! that no path is both a file and a directory. Entry data is checked when
//! read: the stream must decode to the recorded size and match the
//! recorded SHA-256.

use crate::sha::{sha256, Sha256Digest};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// First 8 bytes of every archive: a non-ASCII byte, "DSRA", CR LF and ^Z
/// (catches 7-bit transfers and newline translation, as PNG's does).
pub const MAGIC: [u8; 8] = *b"\x89DSRA\r\n\x1a";
/// The format version this code reads and writes.
pub const VERSION: u16 = 1;
/// Header size in bytes.
pub const HEADER_SIZE: u64 = 128;
/// Alignment of the data area, of every entry and of the archive size.
pub const ALIGN: u64 = 4096;
/// Size of an index record without its path.
pub const RECORD_FIXED: usize = 64;
/// Longest path, in bytes.
pub const MAX_PATH: usize = 1024;

/// How an entry's bytes are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// The file's bytes as they are (code 0), used when GDeflate would not
    /// make the file smaller.
    Stored,
    /// A GDeflate tile stream (code 4, the DirectStorage codec id).
    GDeflate,
}

impl Codec {
    /// The codec's byte in an index record.
    pub fn code(self) -> u8 {
        match self {
            Codec::Stored => 0,
            Codec::GDeflate => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Codec::Stored),
            4 => Some(Codec::GDeflate),
            _ => None,
        }
    }

    /// Name for listings.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Stored => "stored",
            Codec::GDeflate => "gdeflate",
        }
    }
}

/// One file of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative path, `/`-separated.
    pub path: String,
    /// Absolute offset of the entry's data (a multiple of [`ALIGN`]).
    pub offset: u64,
    /// Bytes of data in the archive.
    pub stored_size: u64,
    /// Size of the file.
    pub size: u64,
    /// SHA-256 of the file's (uncompressed) bytes.
    pub sha256: Sha256Digest,
    /// How the data is stored.
    pub codec: Codec,
}

/// The decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u16,
    /// Number of index records.
    pub entry_count: u32,
    /// Offset of the index.
    pub index_offset: u64,
    /// Size of the index in bytes.
    pub index_size: u64,
    /// Offset of the data area.
    pub data_offset: u64,
    /// Size of the whole archive.
    pub archive_size: u64,
    /// Sum of the entries' uncompressed sizes.
    pub total_size: u64,
    /// SHA-256 of the index bytes.
    pub index_sha256: Sha256Digest,
}

/// What is wrong with a path in the index (or a file name given to pack).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathProblem {
    /// Zero bytes long.
    Empty,
    /// Longer than [`MAX_PATH`] bytes.
    TooLong,
    /// Not UTF-8.
    NotUtf8,
    /// Starts with `/`.
    Absolute,
    /// Has a `..` component.
    ParentComponent,
    /// Has an empty (`a//b`, trailing `/`) or `.` component.
    EmptyOrDotComponent,
    /// Contains `\` (a separator on Windows).
    Backslash,
    /// Contains NUL or another control character.
    ControlCharacter,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::Empty => "empty path",
            PathProblem::TooLong => "path longer than 1024 bytes",
            PathProblem::NotUtf8 => "path is not UTF-8",
            PathProblem::Absolute => "absolute path",
            PathProblem::ParentComponent => "path escapes with '..'",
            PathProblem::EmptyOrDotComponent => "empty or '.' path component",
            PathProblem::Backslash => "backslash in path",
            PathProblem::ControlCharacter => "control character in path",
        })
    }
}

/// Checks that `path` is a safe relative archive path.
pub fn check_path(path: &str) -> Result<(), PathProblem> {
    if path.is_empty() {
        return Err(PathProblem::Empty);
    }
    if path.len() > MAX_PATH {
        return Err(PathProblem::TooLong);
    }
    if path.starts_with('/') {
        return Err(PathProblem::Absolute);
    }
    if path.contains('\\') {
        return Err(PathProblem::Backslash);
    }
    if path.chars().any(char::is_control) {
        return Err(PathProblem::ControlCharacter);
    }
    for part in path.split('/') {
        match part {
            ".." => return Err(PathProblem::ParentComponent),
            "" | "." => return Err(PathProblem::EmptyOrDotComponent),
            _ => {}
        }
    }
    Ok(())
}

/// Everything that can be wrong with an archive.
#[derive(Debug)]
pub enum ArchiveError {
    /// Reading the archive failed.
    Io(io::Error),
    /// Shorter than the header.
    TooShort {
        /// File length.
        len: u64,
    },
    /// Not a dsr archive.
    BadMagic {
        /// The first 8 bytes.
        found: [u8; 8],
    },
    /// A version this code does not read.
    UnsupportedVersion {
        /// The version field.
        version: u16,
    },
    /// A reserved header field or flag is not zero.
    ReservedHeaderField {
        /// Which field.
        field: &'static str,
    },
    /// The header's SHA-256 does not match its bytes.
    HeaderChecksum,
    /// The header's archive size is not the file's length (truncated or
    /// extended file), or not a multiple of [`ALIGN`].
    ArchiveSize {
        /// From the header.
        header: u64,
        /// The file's length.
        actual: u64,
    },
    /// The index does not lie between the header and the data area.
    IndexRange {
        /// Index offset.
        offset: u64,
        /// Index size.
        size: u64,
        /// Data area offset.
        data_offset: u64,
    },
    /// The data area offset is not aligned or lies past the archive's end.
    DataOffset {
        /// The data offset.
        data_offset: u64,
        /// The archive size.
        archive_size: u64,
    },
    /// The index's SHA-256 does not match its bytes.
    IndexChecksum,
    /// A record runs past the end of the index.
    IndexTruncated {
        /// Record number.
        entry: usize,
        /// Offset of the record inside the index.
        at: usize,
    },
    /// Bytes are left in the index after the last record.
    IndexTrailing {
        /// Bytes used by the records.
        used: usize,
        /// Index size.
        size: usize,
    },
    /// A record's path is unsafe or malformed.
    BadPath {
        /// Record number.
        entry: usize,
        /// The path (lossy UTF-8).
        path: String,
        /// What is wrong.
        problem: PathProblem,
    },
    /// Paths are not in strictly ascending byte order (a duplicate, or an
    /// unsorted index).
    PathOrder {
        /// Record number.
        entry: usize,
        /// This path.
        path: String,
        /// The previous record's path.
        previous: String,
    },
    /// A path is a file and also the directory of another path.
    PathConflict {
        /// The file.
        file: String,
        /// A path below it.
        below: String,
    },
    /// Unknown codec byte.
    BadCodec {
        /// Entry path.
        path: String,
        /// The codec byte.
        codec: u8,
    },
    /// A reserved record field is not zero.
    ReservedEntryField {
        /// Entry path.
        path: String,
    },
    /// Entry data is not on a 4096-byte boundary.
    Misaligned {
        /// Entry path.
        path: String,
        /// Its offset.
        offset: u64,
    },
    /// Entry data lies outside the data area.
    EntryRange {
        /// Entry path.
        path: String,
        /// Offset.
        offset: u64,
        /// Stored size.
        stored_size: u64,
        /// Data area start.
        data_offset: u64,
        /// Archive size.
        archive_size: u64,
    },
    /// Two entries' data overlap.
    Overlap {
        /// The entry that starts first.
        first: String,
        /// The entry that starts inside it.
        second: String,
        /// Where the second starts.
        at: u64,
    },
    /// Sizes impossible for the codec (stored with stored size != size, or
    /// a GDeflate stream shorter than its 8-byte header).
    EntrySizes {
        /// Entry path.
        path: String,
        /// Codec.
        codec: Codec,
        /// Stored size.
        stored_size: u64,
        /// Uncompressed size.
        size: u64,
    },
    /// The header's total size is not the sum of the entries' sizes.
    TotalSize {
        /// From the header.
        header: u64,
        /// The sum.
        sum: u64,
    },
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchiveError::Io(e) => write!(f, "read failed: {e}"),
            ArchiveError::TooShort { len } => {
                write!(f, "{len} bytes is shorter than the {HEADER_SIZE}-byte archive header")
            }
            ArchiveError::BadMagic { found } => {
                write!(f, "not a dsr archive (magic {})", crate::sha::to_hex(found))
            }
            ArchiveError::UnsupportedVersion { version } => {
                write!(f, "archive version {version} (this dsr reads version {VERSION})")
            }
            ArchiveError::ReservedHeaderField { field } => {
                write!(f, "reserved header field {field} is not zero")
            }
            ArchiveError::HeaderChecksum => f.write_str("header checksum mismatch"),
            ArchiveError::ArchiveSize { header, actual } => write!(
                f,
                "header says {header} bytes (a multiple of {ALIGN}), file has {actual}"
            ),
            ArchiveError::IndexRange {
                offset,
                size,
                data_offset,
            } => write!(
                f,
                "index at {offset} of {size} bytes does not fit between the header and the data at {data_offset}"
            ),
            ArchiveError::DataOffset {
                data_offset,
                archive_size,
            } => write!(
                f,
                "data offset {data_offset} is not a multiple of {ALIGN} inside the {archive_size}-byte archive"
            ),
            ArchiveError::IndexChecksum => f.write_str("index checksum mismatch"),
            ArchiveError::IndexTruncated { entry, at } => {
                write!(f, "index record {entry} at index byte {at} runs past the index")
            }
            ArchiveError::IndexTrailing { used, size } => {
                write!(f, "index has {size} bytes but its records use {used}")
            }
            ArchiveError::BadPath {
                entry,
                path,
                problem,
            } => write!(f, "index record {entry}: {problem}: {path:?}"),
            ArchiveError::PathOrder {
                entry,
                path,
                previous,
            } => write!(
                f,
                "index record {entry}: path {path:?} does not sort after {previous:?} (duplicate or unsorted)"
            ),
            ArchiveError::PathConflict { file, below } => {
                write!(f, "{file:?} is a file but {below:?} puts a directory there")
            }
            ArchiveError::BadCodec { path, codec } => {
                write!(f, "entry {path:?}: unknown codec {codec}")
            }
            ArchiveError::ReservedEntryField { path } => {
                write!(f, "entry {path:?}: reserved field is not zero")
            }
            ArchiveError::Misaligned { path, offset } => {
                write!(f, "entry {path:?}: offset {offset} is not a multiple of {ALIGN}")
            }
            ArchiveError::EntryRange {
                path,
                offset,
                stored_size,
                data_offset,
                archive_size,
            } => write!(
                f,
                "entry {path:?}: bytes {offset}+{stored_size} outside the data area {data_offset}..{archive_size}"
            ),
            ArchiveError::Overlap { first, second, at } => write!(
                f,
                "entries {first:?} and {second:?} overlap (the second starts at {at})"
            ),
            ArchiveError::EntrySizes {
                path,
                codec,
                stored_size,
                size,
            } => write!(
                f,
                "entry {path:?}: {} with {stored_size} stored bytes for {size} bytes",
                codec.name()
            ),
            ArchiveError::TotalSize { header, sum } => write!(
                f,
                "header total size {header} differs from the entries' sum {sum}"
            ),
        }
    }
}

impl std::error::Error for ArchiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ArchiveError::Io(e) => Some(e),
            _ => None,
        }
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn align_up(v: u64) -> u64 {
    v.div_ceil(ALIGN) * ALIGN
}

/// Bytes of an index record with a `path_len`-byte path.
pub fn record_size(path_len: usize) -> usize {
    (RECORD_FIXED + path_len).div_ceil(8) * 8
}

/// Whether `prefix` starts with the archive magic.
pub fn has_magic(prefix: &[u8]) -> bool {
    prefix.len() >= MAGIC.len() && prefix[..MAGIC.len()] == MAGIC
}

/// A validated archive index.
#[derive(Clone, Debug)]
pub struct Archive {
    /// The header.
    pub header: Header,
    /// The entries, sorted by path.
    pub entries: Vec<Entry>,
}

impl Archive {
    /// Reads and validates the header and index of `file`.
    pub fn open(file: &File) -> Result<Self, ArchiveError> {
        let len = file.metadata().map_err(ArchiveError::Io)?.len();
        Self::parse_with(len, |offset, size| {
            let mut buf = vec![0u8; size];
            file.read_exact_at(&mut buf, offset)?;
            Ok(buf)
        })
    }

    /// Validates an archive held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Self, ArchiveError> {
        Self::parse_with(bytes.len() as u64, |offset, size| {
            let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
            bytes
                .get(start..start + size)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
        })
    }

    /// Validates an archive of `len` bytes whose ranges `read(offset, size)`
    /// returns. Only ranges inside `len` are requested.
    pub fn parse_with(
        len: u64,
        mut read: impl FnMut(u64, usize) -> io::Result<Vec<u8>>,
    ) -> Result<Self, ArchiveError> {
        if len < HEADER_SIZE {
            return Err(ArchiveError::TooShort { len });
        }
        let h = read(0, HEADER_SIZE as usize).map_err(ArchiveError::Io)?;
        let header = parse_header(&h, len)?;
        // parse_header checked index_offset + index_size <= data_offset <= len.
        let index =
            read(header.index_offset, header.index_size as usize).map_err(ArchiveError::Io)?;
        if sha256(&index) != header.index_sha256 {
            return Err(ArchiveError::IndexChecksum);
        }
        let entries = parse_index(&index, &header)?;
        Ok(Archive { header, entries })
    }

    /// The entry at `path`.
    pub fn find(&self, path: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_bytes().cmp(path.as_bytes()))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The stored bytes of `entry`.
    pub fn read_stored(file: &File, entry: &Entry) -> io::Result<Vec<u8>> {
        let len = usize::try_from(entry.stored_size).map_err(|_| io::ErrorKind::OutOfMemory)?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, entry.offset)?;
        Ok(buf)
    }
}

fn parse_header(h: &[u8], len: u64) -> Result<Header, ArchiveError> {
    let found: [u8; 8] = h[..8].try_into().expect("8 bytes");
    if found != MAGIC {
        return Err(ArchiveError::BadMagic { found });
    }
    let version = le16(h, 8);
    if version != VERSION {
        return Err(ArchiveError::UnsupportedVersion { version });
    }
    if sha256(&h[..96]) != h[96..128] {
        return Err(ArchiveError::HeaderChecksum);
    }
    if le16(h, 10) != 0 {
        return Err(ArchiveError::ReservedHeaderField { field: "flags" });
    }
    if le64(h, 56) != 0 {
        return Err(ArchiveError::ReservedHeaderField {
            field: "bytes 56..64",
        });
    }
    let header = Header {
        version,
        entry_count: le32(h, 12),
        index_offset: le64(h, 16),
        index_size: le64(h, 24),
        data_offset: le64(h, 32),
        archive_size: le64(h, 40),
        total_size: le64(h, 48),
        index_sha256: h[64..96].try_into().expect("32 bytes"),
    };
    if header.archive_size != len || !header.archive_size.is_multiple_of(ALIGN) {
        return Err(ArchiveError::ArchiveSize {
            header: header.archive_size,
            actual: len,
        });
    }
    if !header.data_offset.is_multiple_of(ALIGN) || header.data_offset > header.archive_size {
        return Err(ArchiveError::DataOffset {
            data_offset: header.data_offset,
            archive_size: header.archive_size,
        });
    }
    let index_end = header.index_offset.checked_add(header.index_size);
    if header.index_offset < HEADER_SIZE || index_end.is_none_or(|end| end > header.data_offset) {
        return Err(ArchiveError::IndexRange {
            offset: header.index_offset,
            size: header.index_size,
            data_offset: header.data_offset,
        });
    }
    Ok(header)
}

fn parse_index(index: &[u8], header: &Header) -> Result<Vec<Entry>, ArchiveError> {
    // Each record takes at least RECORD_FIXED bytes, so the count is bounded
    // by the (already read) index before anything is allocated for it.
    let count = header.entry_count as usize;
    if count > index.len() / RECORD_FIXED {
        return Err(ArchiveError::IndexTruncated {
            entry: index.len() / RECORD_FIXED,
            at: index.len() / RECORD_FIXED * RECORD_FIXED,
        });
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(count);
    let mut at = 0usize;
    for i in 0..count {
        let Some(fixed) = index.get(at..at + RECORD_FIXED) else {
            return Err(ArchiveError::IndexTruncated { entry: i, at });
        };
        let path_len = usize::from(le16(fixed, 58));
        let size = record_size(path_len);
        let Some(path_bytes) = index.get(at + RECORD_FIXED..at + RECORD_FIXED + path_len) else {
            return Err(ArchiveError::IndexTruncated { entry: i, at });
        };
        if at + size > index.len() {
            return Err(ArchiveError::IndexTruncated { entry: i, at });
        }
        let lossy = String::from_utf8_lossy(path_bytes).into_owned();
        let bad = |problem| ArchiveError::BadPath {
            entry: i,
            path: lossy.clone(),
            problem,
        };
        let path = std::str::from_utf8(path_bytes).map_err(|_| bad(PathProblem::NotUtf8))?;
        check_path(path).map_err(bad)?;
        if let Some(prev) = entries.last() {
            if prev.path.as_bytes() >= path.as_bytes() {
                return Err(ArchiveError::PathOrder {
                    entry: i,
                    path: path.to_owned(),
                    previous: prev.path.clone(),
                });
            }
        }
        let codec = Codec::from_code(fixed[56]).ok_or_else(|| ArchiveError::BadCodec {
            path: path.to_owned(),
            codec: fixed[56],
        })?;
        let padding_zero = index[at + RECORD_FIXED + path_len..at + size]
            .iter()
            .all(|&b| b == 0);
        if fixed[57] != 0 || le32(fixed, 60) != 0 || !padding_zero {
            return Err(ArchiveError::ReservedEntryField {
                path: path.to_owned(),
            });
        }
        let entry = Entry {
            path: path.to_owned(),
            offset: le64(fixed, 0),
            stored_size: le64(fixed, 8),
            size: le64(fixed, 16),
            sha256: fixed[24..56].try_into().expect("32 bytes"),
            codec,
        };
        check_entry(&entry, header)?;
        entries.push(entry);
        at += size;
    }
    if at != index.len() {
        return Err(ArchiveError::IndexTrailing {
            used: at,
            size: index.len(),
        });
    }
    check_layout(&entries, header)?;
    Ok(entries)
}

fn check_entry(e: &Entry, h: &Header) -> Result<(), ArchiveError> {
    if !e.offset.is_multiple_of(ALIGN) {
        return Err(ArchiveError::Misaligned {
            path: e.path.clone(),
            offset: e.offset,
        });
    }
    let end = e.offset.checked_add(e.stored_size);
    if e.offset < h.data_offset || end.is_none_or(|end| end > h.archive_size) {
        return Err(ArchiveError::EntryRange {
            path: e.path.clone(),
            offset: e.offset,
            stored_size: e.stored_size,
            data_offset: h.data_offset,
            archive_size: h.archive_size,
        });
    }
    let sizes_ok = match e.codec {
        Codec::Stored => e.stored_size == e.size,
        Codec::GDeflate => e.stored_size >= 8,
    };
    if !sizes_ok {
        return Err(ArchiveError::EntrySizes {
            path: e.path.clone(),
            codec: e.codec,
            stored_size: e.stored_size,
            size: e.size,
        });
    }
    Ok(())
}

/// Overlaps, file/directory conflicts and the total size.
fn check_layout(entries: &[Entry], h: &Header) -> Result<(), ArchiveError> {
    let mut ranges: Vec<(u64, u64, usize)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.stored_size > 0)
        .map(|(i, e)| (e.offset, e.offset + e.stored_size, i))
        .collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let ((_, end, a), (start, _, b)) = (pair[0], pair[1]);
        if start < end {
            return Err(ArchiveError::Overlap {
                first: entries[a].path.clone(),
                second: entries[b].path.clone(),
                at: start,
            });
        }
    }
    let files: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    for e in entries {
        let mut rest = e.path.as_str();
        while let Some(cut) = rest.rfind('/') {
            rest = &rest[..cut];
            if files.contains(rest) {
                return Err(ArchiveError::PathConflict {
                    file: rest.to_owned(),
                    below: e.path.clone(),
                });
            }
        }
    }
    let sum = entries
        .iter()
        .try_fold(0u64, |acc, e| acc.checked_add(e.size))
        .unwrap_or(u64::MAX);
    if sum != h.total_size {
        return Err(ArchiveError::TotalSize {
            header: h.total_size,
            sum,
        });
    }
    Ok(())
}

/// Serializes `entries` (already sorted by path) into index bytes.
pub fn encode_index(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let start = out.len();
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.stored_size.to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&e.sha256);
        out.push(e.codec.code());
        out.push(0);
        out.extend_from_slice(&(e.path.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(e.path.as_bytes());
        out.resize(start + record_size(e.path.len()), 0);
    }
    out
}

/// Serializes a header, computing its own checksum.
pub fn encode_header(h: &Header) -> [u8; HEADER_SIZE as usize] {
    let mut b = [0u8; HEADER_SIZE as usize];
    b[..8].copy_from_slice(&MAGIC);
    b[8..10].copy_from_slice(&h.version.to_le_bytes());
    b[12..16].copy_from_slice(&h.entry_count.to_le_bytes());
    b[16..24].copy_from_slice(&h.index_offset.to_le_bytes());
    b[24..32].copy_from_slice(&h.index_size.to_le_bytes());
    b[32..40].copy_from_slice(&h.data_offset.to_le_bytes());
    b[40..48].copy_from_slice(&h.archive_size.to_le_bytes());
    b[48..56].copy_from_slice(&h.total_size.to_le_bytes());
    b[64..96].copy_from_slice(&h.index_sha256);
    let digest: [u8; 32] = Sha256::digest(&b[..96]).into();
    b[96..128].copy_from_slice(&digest);
    b
}

/// Misuse of [`Writer`] or a bad input path.
#[derive(Debug)]
pub enum WriteError {
    /// A path given to the writer is not a safe archive path.
    BadPath {
        /// The path.
        path: String,
        /// What is wrong.
        problem: PathProblem,
    },
    /// The paths are not sorted and unique.
    Unsorted {
        /// The path out of order.
        path: String,
    },
    /// Writing the file failed.
    Io(io::Error),
    /// More entries were added than paths were planned, or fewer.
    Count {
        /// Paths planned.
        planned: usize,
        /// Entries added.
        added: usize,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::BadPath { path, problem } => write!(f, "{problem}: {path:?}"),
            WriteError::Unsorted { path } => write!(f, "path {path:?} out of order or repeated"),
            WriteError::Io(e) => write!(f, "write failed: {e}"),
            WriteError::Count { planned, added } => {
                write!(f, "{added} entries written for {planned} planned paths")
            }
        }
    }
}

impl std::error::Error for WriteError {}

/// Writes an archive into a file, entry by entry, in path order: the paths
/// are known up front so the index size (and the data offset) is fixed
/// before any data is written, and memory holds one entry at a time.
#[derive(Debug)]
pub struct Writer {
    file: File,
    paths: Vec<String>,
    entries: Vec<Entry>,
    data_offset: u64,
    next: u64,
}

impl Writer {
    /// A writer for `paths` (sorted by bytes, unique, each a safe path).
    pub fn new(file: File, paths: Vec<String>) -> Result<Self, WriteError> {
        for (i, p) in paths.iter().enumerate() {
            check_path(p).map_err(|problem| WriteError::BadPath {
                path: p.clone(),
                problem,
            })?;
            if i > 0 && paths[i - 1].as_bytes() >= p.as_bytes() {
                return Err(WriteError::Unsorted { path: p.clone() });
            }
        }
        let index_size: u64 = paths.iter().map(|p| record_size(p.len()) as u64).sum();
        let data_offset = align_up(HEADER_SIZE + index_size);
        Ok(Writer {
            file,
            paths,
            entries: Vec::new(),
            data_offset,
            next: data_offset,
        })
    }

    /// The path of the next entry to add, if any is left.
    pub fn next_path(&self) -> Option<&str> {
        self.paths.get(self.entries.len()).map(String::as_str)
    }

    /// Writes the next entry: `data` stored with `codec`, for a file of
    /// `size` bytes whose SHA-256 is `sha256`.
    pub fn add(
        &mut self,
        codec: Codec,
        data: &[u8],
        size: u64,
        sha256: Sha256Digest,
    ) -> Result<&Entry, WriteError> {
        let Some(path) = self.next_path().map(str::to_owned) else {
            return Err(WriteError::Count {
                planned: self.paths.len(),
                added: self.entries.len() + 1,
            });
        };
        self.file
            .write_all_at(data, self.next)
            .map_err(WriteError::Io)?;
        self.entries.push(Entry {
            path,
            offset: self.next,
            stored_size: data.len() as u64,
            size,
            sha256,
            codec,
        });
        self.next = align_up(self.next + data.len() as u64);
        Ok(self.entries.last().expect("just pushed"))
    }

    /// Writes the index and the header, pads the file to a multiple of
    /// [`ALIGN`], flushes it to disk and returns it with the header.
    pub fn finish(self) -> Result<(File, Header), WriteError> {
        if self.entries.len() != self.paths.len() {
            return Err(WriteError::Count {
                planned: self.paths.len(),
                added: self.entries.len(),
            });
        }
        let index = encode_index(&self.entries);
        let header = Header {
            version: VERSION,
            entry_count: self.entries.len() as u32,
            index_offset: HEADER_SIZE,
            index_size: index.len() as u64,
            data_offset: self.data_offset,
            archive_size: self.next,
            total_size: self.entries.iter().map(|e| e.size).sum(),
            index_sha256: sha256(&index),
        };
        let io = |r: io::Result<()>| r.map_err(WriteError::Io);
        io(self.file.write_all_at(&index, HEADER_SIZE))?;
        io(self.file.write_all_at(&encode_header(&header), 0))?;
        io(self.file.set_len(self.next))?;
        io(self.file.sync_all())?;
        Ok((self.file, header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        for ok in ["a", "a/b", "dir/file.bin", "x..y", ".hidden/f", "C:x"] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        let bad = [
            ("", PathProblem::Empty),
            ("/etc/passwd", PathProblem::Absolute),
            ("../x", PathProblem::ParentComponent),
            ("a/../../x", PathProblem::ParentComponent),
            ("a//b", PathProblem::EmptyOrDotComponent),
            ("a/", PathProblem::EmptyOrDotComponent),
            ("./a", PathProblem::EmptyOrDotComponent),
            ("a\\..\\b", PathProblem::Backslash),
            ("a\0b", PathProblem::ControlCharacter),
            ("a\nb", PathProblem::ControlCharacter),
        ];
        for (p, want) in bad {
            assert_eq!(check_path(p), Err(want), "{p:?}");
        }
        assert_eq!(
            check_path(&"a".repeat(MAX_PATH + 1)),
            Err(PathProblem::TooLong)
        );
    }

    #[test]
    fn record_sizes_are_multiples_of_eight() {
        assert_eq!(record_size(1), 72);
        assert_eq!(record_size(8), 72);
        assert_eq!(record_size(9), 80);
    }
}
