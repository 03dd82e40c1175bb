//! The atomics of the book's top-of-book seqlock ([`crate::book::seqlock`]), behind one seam
//! so that the protocol can be model-checked with [loom](https://docs.rs/loom).
//!
//! In a normal build these are plain re-exports of `std`: no wrapper, no cost. Built with
//! `RUSTFLAGS="--cfg loom"` (only `tests/loom_seqlock.rs` is meant to be), they are loom's
//! instrumented versions, and `spin_loop` is loom's `yield_now` (a reader that spins on an
//! odd counter must let loom schedule the writer, or the model never ends).
//!
//! Only the seqlock goes through this seam: the rest of the crate (the reader count, the id
//! counter, the ladders' published level aggregates) stays on `std` atomics.

#[cfg(not(loom))]
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{fence, AtomicI64, AtomicU32, AtomicU64, Ordering};
}

#[cfg(loom)]
pub(crate) mod atomic {
    pub(crate) use loom::sync::atomic::{fence, AtomicI64, AtomicU32, AtomicU64, Ordering};
}

/// A spin-wait hint (`std::hint::spin_loop`; loom's `yield_now` in the model).
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn spin_loop() {
    std::hint::spin_loop();
}

/// A spin-wait hint (`std::hint::spin_loop`; loom's `yield_now` in the model).
#[cfg(loom)]
pub(crate) fn spin_loop() {
    loom::thread::yield_now();
}
