//! What a request asks for, as plain data: where the bytes come from, where
//! they go, how they are compressed, its cancellation tag, priority and name,
//! plus the checks every queue applies before accepting one.
//!
//! Addresses and handles are plain integers here: `ds-core` never touches
//! memory or files. The OS layer keeps whatever owns them (a file descriptor,
//! an owned buffer, a GPU buffer) alive while the request is live, and the C
//! ABI maps its structs onto these types one to one.

use core::fmt;

/// Longest request name in bytes (DirectStorage's `DSTORAGE_REQUEST_MAX_NAME`).
pub const MAX_NAME_LEN: usize = 64;

/// Direction of the transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// File or memory -> host memory or GPU buffer.
    Read,
    /// Host memory -> file.
    Write,
}

/// How the source bytes are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// The source holds the bytes as they should land.
    None,
    /// The source is a GDeflate stream (tile header + tiles).
    GDeflate,
}

/// Request priority, with DirectStorage's numbering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum Priority {
    /// `DSTORAGE_PRIORITY_LOW`
    Low = -1,
    /// `DSTORAGE_PRIORITY_NORMAL`
    #[default]
    Normal = 0,
    /// `DSTORAGE_PRIORITY_HIGH`
    High = 1,
    /// `DSTORAGE_PRIORITY_REALTIME`
    Realtime = 2,
}

impl Priority {
    /// Number of priority levels.
    pub const COUNT: usize = 4;

    /// All levels, most urgent first (the order workers drain them in).
    pub const MOST_URGENT_FIRST: [Priority; 4] = [
        Priority::Realtime,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];

    /// Maps DirectStorage's value; anything else is `None`.
    pub const fn from_i8(v: i8) -> Option<Self> {
        match v {
            -1 => Some(Priority::Low),
            0 => Some(Priority::Normal),
            1 => Some(Priority::High),
            2 => Some(Priority::Realtime),
            _ => None,
        }
    }

    /// Dense index 0..COUNT, 0 most urgent.
    pub const fn urgency_index(self) -> usize {
        (2 - self as i8) as usize
    }
}

/// Where the bytes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// `size` bytes of an open file at `offset`. `handle` is OS-specific
    /// (a file descriptor on Linux).
    File {
        /// OS file handle.
        handle: u64,
        /// Byte offset in the file.
        offset: u64,
        /// Number of bytes to read (compressed size for GDeflate).
        size: u64,
    },
    /// `len` bytes of host memory at `addr`.
    Memory {
        /// Address of the first byte.
        addr: usize,
        /// Number of bytes.
        len: u64,
    },
}

impl Source {
    /// Bytes taken from the source.
    pub const fn size(&self) -> u64 {
        match *self {
            Source::File { size, .. } => size,
            Source::Memory { len, .. } => len,
        }
    }

    /// Short name of the variant, for messages.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Source::File { .. } => "file",
            Source::Memory { .. } => "memory",
        }
    }
}

/// Kinds of destination, as a small bit set so an executor can say which it
/// serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DestinationKinds(u8);

impl DestinationKinds {
    /// No destination.
    pub const NONE: Self = DestinationKinds(0);
    /// [`Destination::HostMemory`].
    pub const HOST_MEMORY: Self = DestinationKinds(1);
    /// [`Destination::GpuBuffer`].
    pub const GPU_BUFFER: Self = DestinationKinds(2);
    /// [`Destination::File`] (write requests).
    pub const FILE: Self = DestinationKinds(4);

    /// Both sets together.
    pub const fn union(self, other: Self) -> Self {
        DestinationKinds(self.0 | other.0)
    }

    /// True when every kind in `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Where the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    /// `len` bytes of host memory at `addr`.
    HostMemory {
        /// Address of the first byte.
        addr: usize,
        /// Capacity of the destination in bytes.
        len: u64,
    },
    /// A range of a GPU buffer. `buffer` is an opaque handle the GPU executor
    /// understands (for example a `VkBuffer` registered with it).
    GpuBuffer {
        /// Opaque device-buffer handle.
        buffer: u64,
        /// Byte offset inside the buffer.
        offset: u64,
        /// Bytes available from `offset`.
        size: u64,
    },
    /// A file range (write requests).
    File {
        /// OS file handle.
        handle: u64,
        /// Byte offset in the file.
        offset: u64,
    },
}

impl Destination {
    /// The kind of this destination.
    pub const fn kind(&self) -> DestinationKinds {
        match self {
            Destination::HostMemory { .. } => DestinationKinds::HOST_MEMORY,
            Destination::GpuBuffer { .. } => DestinationKinds::GPU_BUFFER,
            Destination::File { .. } => DestinationKinds::FILE,
        }
    }

    /// Short name of the variant, for messages.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Destination::HostMemory { .. } => "host memory",
            Destination::GpuBuffer { .. } => "GPU buffer",
            Destination::File { .. } => "file",
        }
    }

    /// Bytes the destination can take (`None` for files, which grow).
    pub const fn capacity(&self) -> Option<u64> {
        match *self {
            Destination::HostMemory { len, .. } => Some(len),
            Destination::GpuBuffer { size, .. } => Some(size),
            Destination::File { .. } => None,
        }
    }
}

/// A request name of at most [`MAX_NAME_LEN`] bytes, stored inline.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Name(heapless::String<MAX_NAME_LEN>);

impl Name {
    /// The empty name.
    pub const fn empty() -> Self {
        Name(heapless::String::new())
    }

    /// Copies `s`; longer than [`MAX_NAME_LEN`] bytes is an error.
    pub fn new(s: &str) -> Result<Self, DescError> {
        let mut out = heapless::String::new();
        out.push_str(s).map_err(|()| DescError::NameTooLong {
            len: s.len(),
            max: MAX_NAME_LEN,
        })?;
        Ok(Name(out))
    }

    /// Copies `s`, cutting it at the last character boundary that fits (the
    /// C ABI's lenient path for over-long names).
    pub fn truncated(s: &str) -> Self {
        let mut end = s.len().min(MAX_NAME_LEN);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut out = heapless::String::new();
        // `end` bytes fit by construction, so this push cannot fail.
        let pushed = out.push_str(&s[..end]);
        debug_assert!(pushed.is_ok());
        Name(out)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// True for the empty name.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a queue needs to know about one request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestDesc {
    /// Read or write.
    pub operation: Operation,
    /// Where the bytes come from.
    pub source: Source,
    /// Where they go.
    pub destination: Destination,
    /// Encoding of the source bytes.
    pub compression: Compression,
    /// Bytes that land in the destination (equal to the source size when
    /// uncompressed).
    pub uncompressed_size: u64,
    /// Tag for `cancel_by_tag(mask, value)`: cancelled when
    /// `tag & mask == value`.
    pub cancellation_tag: u64,
    /// Scheduling priority.
    pub priority: Priority,
    /// Name for logs and error records.
    pub name: Name,
}

impl RequestDesc {
    /// An uncompressed read of `size` bytes at `offset` of file `handle` into
    /// `len` bytes of host memory at `addr`.
    pub fn read_file(handle: u64, offset: u64, size: u64, addr: usize, len: u64) -> Self {
        RequestDesc {
            operation: Operation::Read,
            source: Source::File {
                handle,
                offset,
                size,
            },
            destination: Destination::HostMemory { addr, len },
            compression: Compression::None,
            uncompressed_size: size,
            cancellation_tag: 0,
            priority: Priority::Normal,
            name: Name::empty(),
        }
    }

    /// A write of `len` bytes of host memory at `addr` to file `handle` at
    /// `offset`.
    pub fn write_file(addr: usize, len: u64, handle: u64, offset: u64) -> Self {
        RequestDesc {
            operation: Operation::Write,
            source: Source::Memory { addr, len },
            destination: Destination::File { handle, offset },
            compression: Compression::None,
            uncompressed_size: len,
            cancellation_tag: 0,
            priority: Priority::Normal,
            name: Name::empty(),
        }
    }

    /// Checks the request for errors every executor would reject, so a bad
    /// request fails at enqueue with a precise reason and never takes a slot.
    pub fn validate(&self) -> Result<(), DescError> {
        let src = self.source.size();
        if src == 0 {
            return Err(DescError::ZeroSize);
        }
        match (self.operation, &self.source, &self.destination) {
            (
                Operation::Read,
                _,
                Destination::HostMemory { .. } | Destination::GpuBuffer { .. },
            )
            | (Operation::Write, Source::Memory { .. }, Destination::File { .. }) => {}
            (op, s, d) => {
                return Err(DescError::InvalidCombination {
                    operation: op,
                    source: s.kind_name(),
                    destination: d.kind_name(),
                })
            }
        }
        if self.operation == Operation::Write && self.compression != Compression::None {
            return Err(DescError::CompressedWrite);
        }
        if let Source::File { offset, size, .. } = self.source {
            if offset
                .checked_add(size)
                .is_none_or(|end| end > i64::MAX as u64)
            {
                return Err(DescError::OffsetOverflow { offset, size });
            }
        }
        if let Destination::File { offset, .. } = self.destination {
            if offset
                .checked_add(src)
                .is_none_or(|end| end > i64::MAX as u64)
            {
                return Err(DescError::OffsetOverflow { offset, size: src });
            }
        }
        if let Source::Memory { addr: 0, .. } = self.source {
            return Err(DescError::NullAddress);
        }
        if let Destination::HostMemory { addr: 0, .. } = self.destination {
            return Err(DescError::NullAddress);
        }
        if let Destination::GpuBuffer { offset, size, .. } = self.destination {
            if offset.checked_add(size).is_none() {
                return Err(DescError::OffsetOverflow { offset, size });
            }
        }
        if self.uncompressed_size == 0 {
            return Err(DescError::ZeroSize);
        }
        if self.compression == Compression::None && self.uncompressed_size != src {
            return Err(DescError::SizeMismatch {
                source: src,
                uncompressed: self.uncompressed_size,
            });
        }
        if let Some(cap) = self.destination.capacity() {
            if cap == 0 {
                return Err(DescError::ZeroSize);
            }
            if cap < self.uncompressed_size {
                return Err(DescError::DestinationTooSmall {
                    needed: self.uncompressed_size,
                    available: cap,
                });
            }
        }
        let host_len = |n: u64| usize::try_from(n).is_ok() && n <= isize::MAX as u64;
        if !host_len(src) || !host_len(self.uncompressed_size) {
            return Err(DescError::TooLarge {
                size: src.max(self.uncompressed_size),
            });
        }
        Ok(())
    }
}

/// Why a request description was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DescError {
    /// A size of zero bytes (source, destination or uncompressed size).
    ZeroSize,
    /// `offset + size` overflows or passes the largest file offset.
    OffsetOverflow {
        /// Requested offset.
        offset: u64,
        /// Requested size.
        size: u64,
    },
    /// The destination holds fewer bytes than the request produces.
    DestinationTooSmall {
        /// Bytes the request writes.
        needed: u64,
        /// Bytes the destination has.
        available: u64,
    },
    /// Uncompressed request whose uncompressed size differs from its source size.
    SizeMismatch {
        /// Source size.
        source: u64,
        /// Declared uncompressed size.
        uncompressed: u64,
    },
    /// Source and destination kinds that the operation cannot combine.
    InvalidCombination {
        /// The operation.
        operation: Operation,
        /// Source kind.
        source: &'static str,
        /// Destination kind.
        destination: &'static str,
    },
    /// Writes are never compressed.
    CompressedWrite,
    /// A memory source or destination at address 0.
    NullAddress,
    /// A size that does not fit in this machine's address space.
    TooLarge {
        /// The size.
        size: u64,
    },
    /// A name longer than [`MAX_NAME_LEN`] bytes.
    NameTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for DescError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescError::ZeroSize => f.write_str("zero-sized request"),
            DescError::OffsetOverflow { offset, size } => write!(
                f,
                "offset {offset} + size {size} overflows the largest file offset"
            ),
            DescError::DestinationTooSmall { needed, available } => write!(
                f,
                "destination too small: request writes {needed} bytes, destination has {available}"
            ),
            DescError::SizeMismatch {
                source,
                uncompressed,
            } => write!(
                f,
                "uncompressed request with source size {source} but uncompressed size {uncompressed}"
            ),
            DescError::InvalidCombination {
                operation,
                source,
                destination,
            } => write!(
                f,
                "{operation:?} from {source} to {destination} is not a valid request"
            ),
            DescError::CompressedWrite => f.write_str("write requests cannot be compressed"),
            DescError::NullAddress => f.write_str("memory address is null"),
            DescError::TooLarge { size } => {
                write!(f, "size {size} does not fit in this address space")
            }
            DescError::NameTooLong { len, max } => {
                write!(f, "request name is {len} bytes, the limit is {max}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(size: u64, len: u64) -> RequestDesc {
        RequestDesc::read_file(3, 0, size, 0x1000, len)
    }

    #[test]
    fn valid_read_and_write_pass() {
        assert_eq!(read(4096, 4096).validate(), Ok(()));
        assert_eq!(read(10, 4096).validate(), Ok(()));
        assert_eq!(RequestDesc::write_file(0x1000, 5, 3, 7).validate(), Ok(()));
    }

    #[test]
    fn zero_sizes_rejected() {
        assert_eq!(read(0, 16).validate(), Err(DescError::ZeroSize));
        let mut d = read(16, 16);
        d.destination = Destination::HostMemory {
            addr: 0x1000,
            len: 0,
        };
        d.compression = Compression::GDeflate;
        assert_eq!(d.validate(), Err(DescError::ZeroSize));
    }

    #[test]
    fn destination_too_small_rejected() {
        assert_eq!(
            read(100, 99).validate(),
            Err(DescError::DestinationTooSmall {
                needed: 100,
                available: 99
            })
        );
    }

    #[test]
    fn offset_overflow_rejected() {
        let d = RequestDesc::read_file(3, u64::MAX - 1, 4, 0x1000, 4);
        assert!(matches!(
            d.validate(),
            Err(DescError::OffsetOverflow { .. })
        ));
        let w = RequestDesc::write_file(0x1000, 5, 3, i64::MAX as u64);
        assert!(matches!(
            w.validate(),
            Err(DescError::OffsetOverflow { .. })
        ));
    }

    #[test]
    fn combinations_checked() {
        let mut d = read(4, 4);
        d.operation = Operation::Write;
        assert!(matches!(
            d.validate(),
            Err(DescError::InvalidCombination { .. })
        ));
        let mut w = RequestDesc::write_file(0x1000, 5, 3, 0);
        w.compression = Compression::GDeflate;
        assert_eq!(w.validate(), Err(DescError::CompressedWrite));
    }

    #[test]
    fn uncompressed_size_must_match_when_uncompressed() {
        let mut d = read(8, 16);
        d.uncompressed_size = 16;
        assert_eq!(
            d.validate(),
            Err(DescError::SizeMismatch {
                source: 8,
                uncompressed: 16
            })
        );
        d.compression = Compression::GDeflate;
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn null_addresses_rejected() {
        let d = RequestDesc::read_file(3, 0, 4, 0, 4);
        assert_eq!(d.validate(), Err(DescError::NullAddress));
    }

    #[test]
    fn names_are_bounded() {
        assert_eq!(Name::new("tex/albedo").unwrap().as_str(), "tex/albedo");
        let long = "x".repeat(65);
        assert_eq!(
            Name::new(&long),
            Err(DescError::NameTooLong { len: 65, max: 64 })
        );
        assert_eq!(Name::truncated(&long).as_str().len(), 64);
        let multibyte = "é".repeat(40);
        let cut = Name::truncated(&multibyte);
        assert_eq!(cut.as_str().len(), 64);
        assert!(cut.as_str().chars().all(|c| c == 'é'));
    }

    #[test]
    fn priorities_map_directstorage_values() {
        for p in Priority::MOST_URGENT_FIRST {
            assert_eq!(Priority::from_i8(p as i8), Some(p));
        }
        assert_eq!(Priority::from_i8(3), None);
        assert_eq!(Priority::Realtime.urgency_index(), 0);
        assert_eq!(Priority::Low.urgency_index(), 3);
    }

    #[test]
    fn destination_kinds_set() {
        let both = DestinationKinds::HOST_MEMORY.union(DestinationKinds::FILE);
        assert!(both.contains(DestinationKinds::FILE));
        assert!(!both.contains(DestinationKinds::GPU_BUFFER));
        assert!(DestinationKinds::NONE.is_empty());
    }
}
