//! Per-ring state of the files requests touch: the slot of the ring's fixed
//! file table that holds each file, and for O_DIRECT reads a second
//! descriptor opened with `O_DIRECT` (a new open file description, so the
//! caller's descriptor keeps its flags) and the alignment direct I/O needs
//! on it (`statx` `STATX_DIOALIGN`, else the page size).
//!
//! Entries are keyed by [`FileRef::identity`] and hold only a [`WeakFile`],
//! so the cache never keeps a file open on its own account: entries of
//! files nobody holds any more are swept (their slots emptied, O_DIRECT
//! descriptors closed) whenever the ring goes idle or the table is full.

use super::ring::{Ring, Target};
use super::IdHash;
use crate::file::{FileRef, WeakFile};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatxFlags};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Alignment assumed when the file system does not report one.
const DEFAULT_DIO_ALIGN: usize = 4096;

/// How O_DIRECT reads of a file go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Direct {
    /// The O_DIRECT descriptor (fixed slot or number).
    pub target: Target,
    /// Required alignment of memory addresses.
    pub mem_align: usize,
    /// Required alignment of file offsets and lengths.
    pub io_align: usize,
}

enum DirectState {
    Unknown,
    Open {
        fd: OwnedFd,
        slot: Option<u32>,
        mem_align: usize,
        io_align: usize,
    },
    /// Not a regular file, or the file system refuses O_DIRECT.
    Refused,
}

struct Entry {
    weak: WeakFile,
    slot: Option<u32>,
    direct: DirectState,
}

/// The file cache of one ring.
pub struct FileCache {
    map: HashMap<usize, Entry, IdHash>,
    free: Vec<u32>,
}

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCache")
            .field("files", &self.map.len())
            .field("free_slots", &self.free.len())
            .finish()
    }
}

impl FileCache {
    /// A cache using the ring's fixed file table (if it has one).
    pub fn new(ring: &Ring) -> FileCache {
        FileCache {
            map: HashMap::default(),
            free: (0..ring.file_slots()).rev().collect(),
        }
    }

    /// Files with an entry now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no file has an entry.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn take_slot(&mut self, ring: &mut Ring, fd: i32) -> Option<u32> {
        if self.free.is_empty() {
            self.sweep(ring);
        }
        let slot = self.free.pop()?;
        match ring.set_file(slot, Some(fd)) {
            Ok(()) => Some(slot),
            Err(e) => {
                log::debug!("io_uring: {e}; using the plain descriptor");
                self.free.push(slot);
                None
            }
        }
    }

    fn entry(&mut self, ring: &mut Ring, file: &FileRef) -> &mut Entry {
        let key = file.identity();
        if !self.map.contains_key(&key) {
            let slot = self.take_slot(ring, file.raw_fd());
            self.map.insert(
                key,
                Entry {
                    weak: file.downgrade(),
                    slot,
                    direct: DirectState::Unknown,
                },
            );
        }
        self.map.get_mut(&key).expect("inserted above")
    }

    /// The operand for buffered I/O on `file`.
    pub fn buffered(&mut self, ring: &mut Ring, file: &FileRef) -> Target {
        let e = self.entry(ring, file);
        match e.slot {
            Some(s) => Target::Fixed(s),
            None => Target::Fd(file.raw_fd()),
        }
    }

    /// The operand and alignment for O_DIRECT reads of `file`, or `None`
    /// when the file cannot be read with O_DIRECT (then buffered I/O is
    /// used for it).
    pub fn direct(&mut self, ring: &mut Ring, file: &FileRef) -> Option<Direct> {
        let key = file.identity();
        if matches!(self.entry(ring, file).direct, DirectState::Unknown) {
            let state = open_direct(file);
            let state = match state {
                DirectState::Open {
                    fd,
                    mem_align,
                    io_align,
                    ..
                } => {
                    let slot = self.take_slot(ring, fd.as_raw_fd());
                    DirectState::Open {
                        fd,
                        slot,
                        mem_align,
                        io_align,
                    }
                }
                other => other,
            };
            self.map.get_mut(&key).expect("entry made above").direct = state;
        }
        match &self.map[&key].direct {
            DirectState::Open {
                fd,
                slot,
                mem_align,
                io_align,
            } => Some(Direct {
                target: slot.map_or(Target::Fd(fd.as_raw_fd()), Target::Fixed),
                mem_align: *mem_align,
                io_align: *io_align,
            }),
            _ => None,
        }
    }

    /// Drops the entries of files nobody holds any more.
    pub fn sweep(&mut self, ring: &mut Ring) {
        let dead: Vec<usize> = self
            .map
            .iter()
            .filter(|(_, e)| !e.weak.is_alive())
            .map(|(&k, _)| k)
            .collect();
        for key in dead {
            let e = self.map.remove(&key).expect("listed above");
            let direct_slot = match e.direct {
                DirectState::Open { slot, .. } => slot,
                _ => None,
            };
            for slot in [e.slot, direct_slot].into_iter().flatten() {
                if ring.set_file(slot, None).is_ok() {
                    self.free.push(slot);
                }
            }
        }
    }
}

/// Opens `file` again with O_DIRECT and finds its alignment.
fn open_direct(file: &FileRef) -> DirectState {
    let regular = rustix::fs::fstat(file.as_fd())
        .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
        .unwrap_or(false);
    if !regular {
        return DirectState::Refused;
    }
    let path = format!("/proc/self/fd/{}", file.raw_fd());
    let fd = match rustix::fs::open(
        path.as_str(),
        OFlags::RDONLY | OFlags::DIRECT | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            log::info!(
                "io_uring: O_DIRECT refused for {}: {e}; reading it buffered",
                crate::error::FileLabel::of(file)
            );
            return DirectState::Refused;
        }
    };
    let (mem_align, io_align) =
        match rustix::fs::statx(&fd, "", AtFlags::EMPTY_PATH, StatxFlags::DIOALIGN) {
            Ok(st) if StatxFlags::from_bits_retain(st.stx_mask).contains(StatxFlags::DIOALIGN) => {
                if st.stx_dio_offset_align == 0 {
                    log::info!(
                        "io_uring: {} does not support direct I/O; reading it buffered",
                        crate::error::FileLabel::of(file)
                    );
                    return DirectState::Refused;
                }
                (
                    st.stx_dio_mem_align as usize,
                    st.stx_dio_offset_align as usize,
                )
            }
            _ => (DEFAULT_DIO_ALIGN, DEFAULT_DIO_ALIGN),
        };
    DirectState::Open {
        fd,
        slot: None,
        mem_align: mem_align.max(1).next_power_of_two(),
        io_align: io_align.max(1).next_power_of_two(),
    }
}
