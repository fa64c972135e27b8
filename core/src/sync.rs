//! Atomics used by the state machine and the free list: `core`'s in normal
//! builds, loom's when the crate is model-checked (`--cfg loom`), so the loom
//! tests exercise exactly the production code paths.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64};

pub(crate) use core::sync::atomic::Ordering;
