//! Request ids: a slot index and that slot's generation packed in one `u64`.
//!
//! ```text
//!  63                     32 31                      0
//! [ generation (>= 1)       ][ slot index             ]
//! ```
//!
//! A slot's generation is bumped each time the slot is handed out again, so an
//! id is never reused while its request is live: the generation only changes
//! after the previous request in that slot was finished and released. The same
//! generation is stored in the slot's state word, so every compare-and-swap on
//! that word checks the id as part of the swap (no ABA window). Generation 0 is
//! never issued, so the raw value 0 is never a valid id (C callers may use it
//! as "no request").

use core::fmt;

/// Identifies one request (or ordering command) of one queue.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

impl RequestId {
    /// Builds an id from its parts. `generation` 0 is reserved; ids built
    /// with it never match a slot.
    pub const fn new(index: u32, generation: u32) -> Self {
        RequestId(((generation as u64) << 32) | index as u64)
    }

    /// The id as the raw `u64` the C ABI hands out.
    pub const fn to_raw(self) -> u64 {
        self.0
    }

    /// Rebuilds an id from [`RequestId::to_raw`]. Any value is accepted; an
    /// id that names no live request is simply not found.
    pub const fn from_raw(raw: u64) -> Self {
        RequestId(raw)
    }

    /// Index of the slot that holds the request.
    pub const fn index(self) -> u32 {
        self.0 as u32
    }

    /// Generation of the slot when the request was enqueued.
    pub const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({}#{})", self.index(), self.generation())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request {}#{}", self.index(), self.generation())
    }
}

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn parts_round_trip() {
        let id = RequestId::new(0xDEAD_BEEF, 7);
        assert_eq!(id.index(), 0xDEAD_BEEF);
        assert_eq!(id.generation(), 7);
        assert_eq!(RequestId::from_raw(id.to_raw()), id);
        assert_eq!(id.to_raw(), (7u64 << 32) | 0xDEAD_BEEF);
    }
}
