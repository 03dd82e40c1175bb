//! The seqlock through which a book publishes its top of book to [`super::BookReader`]s.
//!
//! One writer (the book's thread), any number of readers, and the writer never waits:
//! - the writer stores an odd counter (Relaxed) and issues a Release fence
//!   ([`TopSeqlock::begin_write`], at the start of an operation), then stores the sequence
//!   number and the best bid and ask fields (Relaxed) and the next even counter (Release)
//!   ([`TopSeqlock::publish`], at its end);
//! - a reader loads the counter (Acquire), retries while it is odd, loads the fields
//!   (Relaxed), issues an Acquire fence and loads the counter again (Relaxed); the fields form
//!   one published tuple when both loads saw the same even value ([`TopSeqlock::read`]).
//!
//! The atomics come from [`crate::sync`], so that the very code the book runs is what the loom
//! model `tests/loom_seqlock.rs` checks (built with `RUSTFLAGS="--cfg loom"`, where this
//! module is public for the test; in a normal build it is private to the crate).

use crate::sync::atomic::{fence, AtomicI64, AtomicU32, AtomicU64, Ordering};
use crate::sync::spin_loop;

/// One side's best level as published: (price in ticks, visible quantity, order count). An
/// order count of 0 means no level.
pub type RawLevel = (i64, u64, u32);

/// The seqlock counter and the top-of-book fields it guards.
#[derive(Debug)]
pub struct TopSeqlock {
    /// Seqlock counter: odd while the writer is inside an operation.
    lock: AtomicU64,
    op_seq: AtomicU64,
    bid_px: AtomicI64,
    bid_qty: AtomicU64,
    bid_n: AtomicU32,
    ask_px: AtomicI64,
    ask_qty: AtomicU64,
    ask_n: AtomicU32,
}

impl Default for TopSeqlock {
    fn default() -> Self {
        Self::new()
    }
}

impl TopSeqlock {
    /// Counter 0, sequence 0, no bid, no ask.
    pub fn new() -> Self {
        TopSeqlock {
            lock: AtomicU64::new(0),
            op_seq: AtomicU64::new(0),
            bid_px: AtomicI64::new(0),
            bid_qty: AtomicU64::new(0),
            bid_n: AtomicU32::new(0),
            ask_px: AtomicI64::new(0),
            ask_qty: AtomicU64::new(0),
            ask_n: AtomicU32::new(0),
        }
    }

    /// Writer: open a write by storing the odd counter `odd` (readers then retry until
    /// [`TopSeqlock::publish`] stores the next even one).
    #[inline(always)]
    pub fn begin_write(&self, odd: u64) {
        self.lock.store(odd, Ordering::Relaxed);
        // Orders the odd counter before the field stores that follow.
        fence(Ordering::Release);
    }

    /// Writer: store the sequence number `seq` (before `top` is called, which computes the
    /// best bid and ask), the fields, and close the write with the even counter `even`.
    #[inline(always)]
    pub fn publish(&self, seq: u64, top: impl FnOnce() -> (RawLevel, RawLevel), even: u64) {
        self.op_seq.store(seq, Ordering::Relaxed);
        let ((bp, bq, bn), (ap, aq, an)) = top();
        self.bid_px.store(bp, Ordering::Relaxed);
        self.bid_qty.store(bq, Ordering::Relaxed);
        self.bid_n.store(bn, Ordering::Relaxed);
        self.ask_px.store(ap, Ordering::Relaxed);
        self.ask_qty.store(aq, Ordering::Relaxed);
        self.ask_n.store(an, Ordering::Relaxed);
        self.lock.store(even, Ordering::Release);
    }

    /// Reader: one published `(seq, bid, ask)` tuple, never torn; retries while a write is
    /// open or ran during the read.
    #[inline]
    pub fn read(&self) -> (u64, RawLevel, RawLevel) {
        loop {
            let s1 = self.lock.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                spin_loop();
                continue;
            }
            let seq = self.op_seq.load(Ordering::Relaxed);
            let bn = self.bid_n.load(Ordering::Relaxed);
            let bp = self.bid_px.load(Ordering::Relaxed);
            let bq = self.bid_qty.load(Ordering::Relaxed);
            let an = self.ask_n.load(Ordering::Relaxed);
            let ap = self.ask_px.load(Ordering::Relaxed);
            let aq = self.ask_qty.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.lock.load(Ordering::Relaxed) != s1 {
                continue;
            }
            return (seq, (bp, bq, bn), (ap, aq, an));
        }
    }

    /// Reader, for a read of other published data (the depth view): the counter and the
    /// sequence number at its start. Pass the counter to [`TopSeqlock::read_end`] afterwards.
    #[inline]
    pub fn read_begin(&self) -> (u64, u64) {
        let s1 = self.lock.load(Ordering::Acquire);
        (s1, self.op_seq.load(Ordering::Relaxed))
    }

    /// Reader: whether no write was open at [`TopSeqlock::read_begin`] (counter `s1`) or ran
    /// since, i.e. whether what was read in between is one consistent state.
    #[inline]
    pub fn read_end(&self, s1: u64) -> bool {
        fence(Ordering::Acquire);
        s1 & 1 == 0 && self.lock.load(Ordering::Relaxed) == s1
    }
}
