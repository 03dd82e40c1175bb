//! Price ladders: one side's price levels, ordered best first.
//!
//! Three interchangeable implementations of [`Ladder`] let the same book be measured with
//! different level indexes in one benchmark run:
//! - [`SkipLadder`] (the default): a price-indexed ring of levels around the touch, where
//!   levels empty and refill with no allocation and no skiplist work, and a
//!   `crossbeam_skiplist::SkipMap` for the levels beyond it. Readers on other threads see
//!   both lock-free.
//! - [`BTreeLadder`]: a `BTreeMap` of levels, the classic single-threaded design.
//! - [`PlainSkipLadder`]: every level in a `SkipMap`, inserted and removed as it fills and
//!   empties; kept to show what the ring saves.

mod btree;
mod skip;

pub use btree::BTreeLadder;
pub use skip::{PlainSkipLadder, SidePub, SkipLadder, MAX_WINDOW, WINDOW};

use crate::arena::NIL;
use crate::types::{Price, Qty, Side};

/// One price level: aggregates and the FIFO of its orders (arena indices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// Price in ticks.
    pub price: Price,
    /// Sum of displayed lots.
    pub visible: Qty,
    /// Sum of iceberg reserve lots.
    pub hidden: Qty,
    /// First order (oldest).
    pub head: u32,
    /// Last order (newest).
    pub tail: u32,
    /// Number of orders.
    pub count: u32,
}

impl Level {
    /// An empty level at `price`.
    pub fn new(price: Price) -> Level {
        Level {
            price,
            visible: 0,
            hidden: 0,
            head: NIL,
            tail: NIL,
            count: 0,
        }
    }
}

/// Slab of levels with a free list; indices are stable while a level exists.
#[derive(Debug, Default)]
pub struct LevelSlab {
    levels: Vec<Level>,
    free: Vec<u32>,
}

impl LevelSlab {
    /// Store a new empty level.
    #[inline]
    pub fn alloc(&mut self, price: Price) -> u32 {
        if let Some(i) = self.free.pop() {
            self.levels[i as usize] = Level::new(price);
            i
        } else {
            self.levels.push(Level::new(price));
            (self.levels.len() - 1) as u32
        }
    }
    /// Release a level.
    #[inline]
    pub fn free(&mut self, idx: u32) {
        self.free.push(idx);
    }
    /// The level at `idx`.
    #[inline]
    pub fn get(&self, idx: u32) -> &Level {
        &self.levels[idx as usize]
    }
    /// The level at `idx`, mutable.
    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut Level {
        &mut self.levels[idx as usize]
    }
    /// The level at `idx`, without a bounds check.
    ///
    /// # Safety
    /// `idx` must have been returned by [`LevelSlab::alloc`] on this slab (freed since or
    /// not: the slab never shrinks).
    #[inline(always)]
    pub unsafe fn get_unchecked(&self, idx: u32) -> &Level {
        debug_assert!((idx as usize) < self.levels.len());
        // SAFETY: in bounds by the caller's contract.
        unsafe { self.levels.get_unchecked(idx as usize) }
    }
    /// The level at `idx`, mutable, without a bounds check.
    ///
    /// # Safety
    /// As [`LevelSlab::get_unchecked`].
    #[inline(always)]
    pub unsafe fn get_unchecked_mut(&mut self, idx: u32) -> &mut Level {
        debug_assert!((idx as usize) < self.levels.len());
        // SAFETY: in bounds by the caller's contract.
        unsafe { self.levels.get_unchecked_mut(idx as usize) }
    }
}

/// The side-aware key: ascending keys go from the best price to the worst on both sides.
#[inline]
pub fn key(side: Side, price: Price) -> i64 {
    match side {
        Side::Buy => -price.0,
        Side::Sell => price.0,
    }
}

/// Price back from a side-aware key.
#[inline]
pub fn price_of(side: Side, key: i64) -> Price {
    match side {
        Side::Buy => Price(-key),
        Side::Sell => Price(key),
    }
}

mod sealed {
    /// Only this crate's ladders implement [`super::Ladder`].
    pub trait Sealed {}
}

/// One side's price levels. Only the book's writer thread calls these.
///
/// A level exists in the ladder from [`Ladder::find_or_create`] until [`Ladder::deactivate`];
/// the book adds an order right after creating a level, so no empty level is ever seen by
/// [`Ladder::best`] or [`Ladder::visit`].
///
/// The trait is **sealed**: the book trusts a ladder's answers for unchecked reads (a level's
/// `head` / `tail` index the order arena without bounds checks), so only the crate's own
/// ladders ([`SkipLadder`], [`BTreeLadder`], [`PlainSkipLadder`]), whose indices come from the
/// arena and the level slab, may implement it. A ladder written elsewhere does not compile:
///
/// ```compile_fail,E0277
/// use hftbook_core::ladder::{Ladder, Level};
/// use hftbook_core::{Price, Side};
/// #[derive(Debug)]
/// struct Liar(Level);
/// impl Ladder for Liar {
///     fn new(_: Side) -> Self { Liar(Level { head: 40_000_000, ..Level::new(Price(1)) }) }
///     fn level(&self, _: u32) -> &Level { &self.0 }
///     fn level_mut(&mut self, _: u32) -> &mut Level { &mut self.0 }
///     fn find(&self, _: Price) -> Option<u32> { Some(0) }
///     fn find_or_create(&mut self, _: Price) -> (u32, bool) { (0, false) }
///     fn activate(&mut self, _: u32) {}
///     fn deactivate(&mut self, _: u32) {}
///     fn best(&self) -> Option<u32> { Some(0) }
///     fn visit<F: FnMut(&Level) -> bool>(&self, _: F) {}
///     fn len(&self) -> usize { 1 }
/// }
/// ```
pub trait Ladder: sealed::Sealed + Send + std::fmt::Debug {
    /// An empty ladder for `side`.
    fn new(side: Side) -> Self
    where
        Self: Sized;
    /// The level at `idx`.
    fn level(&self, idx: u32) -> &Level;
    /// The level at `idx`, mutable. Call [`Ladder::publish`] after changing aggregates.
    fn level_mut(&mut self, idx: u32) -> &mut Level;
    /// [`Ladder::level`] without a bounds check (the book's hot paths).
    ///
    /// # Safety
    /// `idx` must have been returned by this ladder's [`Ladder::find_or_create`] (the level
    /// may have left the ladder since: level storage never shrinks).
    #[inline(always)]
    unsafe fn level_unchecked(&self, idx: u32) -> &Level {
        self.level(idx)
    }
    /// [`Ladder::level_mut`] without a bounds check.
    ///
    /// # Safety
    /// As [`Ladder::level_unchecked`].
    #[inline(always)]
    unsafe fn level_unchecked_mut(&mut self, idx: u32) -> &mut Level {
        self.level_mut(idx)
    }
    /// The level holding orders at `price`, if any.
    fn find(&self, price: Price) -> Option<u32>;
    /// The level at `price`, created empty if there is none. Returns `(idx, was_empty)`;
    /// when `was_empty` the caller adds an order and calls [`Ladder::activate`].
    fn find_or_create(&mut self, price: Price) -> (u32, bool);
    /// The level at `idx` received its first order.
    fn activate(&mut self, idx: u32);
    /// The level at `idx` lost its last order: it leaves the ladder.
    fn deactivate(&mut self, idx: u32);
    /// The best level.
    fn best(&self) -> Option<u32>;
    /// Visit levels from best to worst until `f` returns false.
    fn visit<F: FnMut(&Level) -> bool>(&self, f: F);
    /// Number of non-empty levels.
    fn len(&self) -> usize;
    /// Whether the side is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Aggregates of level `idx` changed: make them visible to concurrent readers.
    #[inline]
    fn publish(&self, _idx: u32) {}
    /// Publish every level (when the first reader appears).
    fn publish_all(&mut self) {}
    /// The lock-free view of this side for readers on other threads, if the ladder has one.
    fn side_pub(&self) -> Option<std::sync::Arc<SidePub>> {
        None
    }
}
