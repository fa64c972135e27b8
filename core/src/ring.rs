//! A bounded FIFO of request ids over caller-provided storage: the OS layer
//! uses it for the not-yet-submitted list and the per-priority ready lists.
//! Own code rather than `heapless::Deque` because the capacity is the queue's,
//! chosen at run time. Full is an error, never a panic or a reallocation.

use crate::id::RequestId;
use core::fmt;

/// The ring had no room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingFull {
    /// The ring's capacity.
    pub capacity: usize,
}

impl fmt::Display for RingFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "id ring of capacity {} is full", self.capacity)
    }
}

/// Bounded FIFO of ids.
pub struct IdRing<S> {
    buf: S,
    head: usize,
    len: usize,
}

impl<S: AsRef<[RequestId]>> fmt::Debug for IdRing<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdRing")
            .field("len", &self.len)
            .field("capacity", &self.buf.as_ref().len())
            .finish()
    }
}

impl<S: AsRef<[RequestId]> + AsMut<[RequestId]>> IdRing<S> {
    /// An empty ring over `buf` (its contents are ignored).
    pub fn new(buf: S) -> Self {
        IdRing {
            buf,
            head: 0,
            len: 0,
        }
    }

    /// Maximum number of ids.
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().len()
    }

    /// Number of ids held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot(&self, i: usize) -> usize {
        let cap = self.capacity();
        let j = self.head + i;
        if j >= cap {
            j - cap
        } else {
            j
        }
    }

    /// Appends `id`.
    pub fn push(&mut self, id: RequestId) -> Result<(), RingFull> {
        let cap = self.capacity();
        if self.len == cap {
            return Err(RingFull { capacity: cap });
        }
        let at = self.slot(self.len);
        self.buf.as_mut()[at] = id;
        self.len += 1;
        Ok(())
    }

    /// Removes the oldest id.
    pub fn pop(&mut self) -> Option<RequestId> {
        if self.len == 0 {
            return None;
        }
        let id = self.buf.as_ref()[self.head];
        self.head = self.slot(1);
        self.len -= 1;
        Some(id)
    }

    /// Keeps only the ids for which `keep` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(RequestId) -> bool) {
        let n = self.len;
        let mut kept = 0;
        for i in 0..n {
            let id = self.buf.as_ref()[self.slot(i)];
            if keep(id) {
                let to = self.slot(kept);
                self.buf.as_mut()[to] = id;
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Removes every id.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> RequestId {
        RequestId::new(n, 1)
    }

    #[test]
    fn fifo_wraps_and_reports_full() {
        let mut r = IdRing::new([RequestId::from_raw(0); 3]);
        for round in 0..5 {
            r.push(id(round)).unwrap();
            r.push(id(round + 100)).unwrap();
            r.push(id(round + 200)).unwrap();
            assert_eq!(r.push(id(9)), Err(RingFull { capacity: 3 }));
            assert_eq!(r.pop(), Some(id(round)));
            assert_eq!(r.pop(), Some(id(round + 100)));
            assert_eq!(r.pop(), Some(id(round + 200)));
            assert_eq!(r.pop(), None);
            r.push(id(1)).unwrap();
            assert_eq!(r.pop(), Some(id(1)));
        }
    }

    #[test]
    fn retain_keeps_order_across_the_wrap() {
        let mut r = IdRing::new([RequestId::from_raw(0); 4]);
        r.push(id(0)).unwrap();
        r.push(id(0)).unwrap();
        r.pop();
        r.pop();
        for n in 1..=4 {
            r.push(id(n)).unwrap();
        }
        r.retain(|i| i.index() % 2 == 0);
        assert_eq!(r.len(), 2);
        assert_eq!(r.pop(), Some(id(2)));
        assert_eq!(r.pop(), Some(id(4)));
        r.push(id(5)).unwrap();
        r.clear();
        assert!(r.is_empty());
    }
}
