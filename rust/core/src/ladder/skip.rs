//! SkipMap ladders.
//!
//! [`SkipLadder`] keeps the skiplist off the common path. Levels whose side-aware key lies in
//! a window of [`WINDOW`] ticks starting at `base` live in a ring indexed by price
//! (`key mod WINDOW`), with a bitmap of non-empty slots: finding, creating, emptying and
//! refilling a level there is an array access and a bit flip, and the best level is two
//! `trailing_zeros`. An emptied level stays cached in its slot, so a level at the touch that
//! empties and refills costs no allocation and no skiplist insert/remove. Only levels worse
//! than the window (deep in the book) live in the `SkipMap`. When the touch moves, the
//! window re-centres (`rebase`): levels that leave it move into the `SkipMap`, levels that
//! enter it move out — a cost paid once per move of `WINDOW / 2` ticks or more, not per level
//! life.
//!
//! Invariant: every key in the `SkipMap` is `>= base + WINDOW`, so the window's levels are
//! always better than the skiplist's and best-first order is "window, then skiplist".

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_skiplist::SkipMap;
use rustc_hash::FxHashMap;

use super::{key, price_of, Ladder, Level, LevelSlab};
use crate::arena::NIL;
use crate::types::{Price, Qty, Side};

/// Ticks covered by the price-indexed window (a power of two).
pub const WINDOW: usize = 2048;
const WORDS: usize = WINDOW / 64;
/// Where the best level sits in the window after a re-centre: room for this many better
/// ticks before the window has to move down.
const HEAD: i64 = (WINDOW / 8) as i64;
/// Re-centre when the best level drifts further than this from `base`.
const DRIFT: i64 = (WINDOW / 2) as i64;

const _: () = assert!(WINDOW.is_power_of_two() && WORDS <= 64);

#[inline]
fn pos(k: i64) -> usize {
    (k as u64 as usize) & (WINDOW - 1)
}

/// A level beyond the window, as stored in the `SkipMap`.
#[derive(Debug)]
pub struct FarLevel {
    idx: u32,
    qty: AtomicU64,
    count: AtomicU32,
}

/// The lock-free, reader-visible image of one side: the window's bitmap and per-slot
/// aggregates, and the `SkipMap` of levels beyond it. Written only by the book's writer.
#[derive(Debug)]
pub struct SidePub {
    side: Side,
    init: AtomicBool,
    base: AtomicI64,
    bits: [AtomicU64; WORDS],
    qty: Box<[AtomicU64]>,
    count: Box<[AtomicU32]>,
    far: SkipMap<i64, FarLevel>,
}

impl SidePub {
    fn new(side: Side) -> SidePub {
        SidePub {
            side,
            init: AtomicBool::new(false),
            base: AtomicI64::new(0),
            bits: std::array::from_fn(|_| AtomicU64::new(0)),
            qty: (0..WINDOW).map(|_| AtomicU64::new(0)).collect(),
            count: (0..WINDOW).map(|_| AtomicU32::new(0)).collect(),
            far: SkipMap::new(),
        }
    }

    /// Up to `n` levels `(price, displayed lots, orders)`, best first, read lock-free.
    ///
    /// Each level's figures are individually atomic; the list is re-read if the window moved
    /// while it was being read. For a snapshot consistent across levels use the writer's
    /// `depth` or validate with [`crate::BookReader`]'s sequence.
    pub fn levels(&self, n: usize, out: &mut Vec<(Price, Qty, u32)>) {
        for _attempt in 0..16 {
            out.clear();
            let base = self.base.load(Ordering::Acquire);
            if self.init.load(Ordering::Acquire) {
                let start = pos(base);
                let mut step = 0usize;
                while step < WINDOW && out.len() < n {
                    let p = (start + step) & (WINDOW - 1);
                    let word = self.bits[p / 64].load(Ordering::Relaxed) >> (p % 64);
                    if word == 0 {
                        step += 64 - p % 64;
                        continue;
                    }
                    step += word.trailing_zeros() as usize;
                    if step >= WINDOW {
                        break;
                    }
                    let p = (start + step) & (WINDOW - 1);
                    let c = self.count[p].load(Ordering::Relaxed);
                    if c > 0 {
                        let q = self.qty[p].load(Ordering::Relaxed);
                        out.push((price_of(self.side, base + step as i64), q, c));
                    }
                    step += 1;
                }
            }
            for e in self.far.iter() {
                if out.len() >= n {
                    break;
                }
                let c = e.value().count.load(Ordering::Relaxed);
                if c > 0 {
                    out.push((
                        price_of(self.side, *e.key()),
                        e.value().qty.load(Ordering::Relaxed),
                        c,
                    ));
                }
            }
            if self.base.load(Ordering::Acquire) == base {
                return;
            }
        }
    }
}

/// The default ladder: a price-indexed ring at the touch plus a `SkipMap` for deep levels.
/// See the module docs.
#[derive(Debug)]
pub struct SkipLadder {
    side: Side,
    slab: LevelSlab,
    init: bool,
    base: i64,
    slots: Box<[u32; WINDOW]>,
    bits: [u64; WORDS],
    summary: u64,
    win_active: usize,
    /// Levels in the skiplist, tracked here so an empty skiplist costs no epoch pin.
    far_len: usize,
    /// The writer's own price index of the skiplist's levels (key -> level): finding a deep
    /// level to join or publish is a hash probe, not a skiplist search with an epoch pin.
    /// The skiplist is touched only when a deep level is created or removed (readers need
    /// it) and when the window moves.
    far_index: FxHashMap<i64, u32>,
    /// Key and level of the best window level (valid while `win_active > 0`).
    best_key: i64,
    best_idx: u32,
    shared: Arc<SidePub>,
}

impl SkipLadder {
    /// The best level when the window is empty: the skiplist's front, if any.
    #[cold]
    #[inline(never)]
    fn best_far(&self) -> Option<u32> {
        if self.far_len > 0 {
            self.shared.far.front().map(|e| e.value().idx)
        } else {
            None
        }
    }

    /// [`Ladder::find_or_create`] beyond its fast path: a new window level, a move of the
    /// window, or a level in the skiplist.
    #[cold]
    #[inline(never)]
    fn find_or_create_slow(&mut self, price: Price, k: i64) -> (u32, bool) {
        if !self.init || k < self.base {
            self.rebase(k - HEAD);
        } else if !self.in_window(k) && self.win_active == 0 {
            // Nothing in the window: move it to the new best instead of using the skiplist.
            let front = if self.far_len > 0 {
                self.shared.far.front().map(|e| *e.key())
            } else {
                None
            };
            self.rebase(front.map_or(k, |f| f.min(k)) - HEAD);
        }
        if self.in_window(k) {
            let p = pos(k);
            let mut idx = self.slots[p];
            if idx == NIL {
                idx = self.slab.alloc(price);
                self.slots[p] = idx;
            }
            (idx, self.slab.get(idx).count == 0)
        } else if let Some(idx) = self.find(price) {
            (idx, false)
        } else {
            let idx = self.slab.alloc(price);
            self.far_len += 1;
            self.far_index.insert(k, idx);
            self.shared.far.insert(
                k,
                FarLevel {
                    idx,
                    qty: AtomicU64::new(0),
                    count: AtomicU32::new(0),
                },
            );
            (idx, true)
        }
    }

    #[inline]
    fn in_window(&self, k: i64) -> bool {
        // `k - base` can exceed i64::MAX (keys span ±(2^62 - 1), `base` sits HEAD below a
        // key): with `k >= base` the difference is exact as a u64.
        self.init && k >= self.base && (k.wrapping_sub(self.base) as u64) < WINDOW as u64
    }

    #[inline]
    fn set_bit(&mut self, p: usize) {
        let w = p / 64;
        self.bits[w] |= 1 << (p % 64);
        self.summary |= 1 << w;
        self.shared.bits[w].store(self.bits[w], Ordering::Relaxed);
    }

    #[inline]
    fn clear_bit(&mut self, p: usize) {
        let w = p / 64;
        self.bits[w] &= !(1 << (p % 64));
        if self.bits[w] == 0 {
            self.summary &= !(1 << w);
        }
        self.shared.bits[w].store(self.bits[w], Ordering::Relaxed);
    }

    /// First non-empty slot at or after ring position `start`, in ring order.
    #[inline]
    fn first_from(&self, start: usize) -> Option<usize> {
        let w = start / 64;
        let m = self.bits[w] & (!0u64 << (start % 64));
        if m != 0 {
            return Some(w * 64 + m.trailing_zeros() as usize);
        }
        let after = if w + 1 >= 64 {
            0
        } else {
            self.summary & (!0u64 << (w + 1))
        };
        let s = if after != 0 { after } else { self.summary };
        if s == 0 {
            return None;
        }
        let w2 = s.trailing_zeros() as usize;
        Some(w2 * 64 + self.bits[w2].trailing_zeros() as usize)
    }

    /// Key of the best level in the window (cached).
    #[inline]
    fn best_window_key(&self) -> Option<i64> {
        (self.win_active > 0).then_some(self.best_key)
    }

    /// Find the best window level again from the bitmap.
    fn recompute_best(&mut self) {
        if self.win_active == 0 {
            return;
        }
        let start = pos(self.base);
        if let Some(p) = self.first_from(start) {
            self.best_key = self.base + ((p + WINDOW - start) & (WINDOW - 1)) as i64;
            self.best_idx = self.slots[p];
        }
    }

    fn publish_slot(&self, p: usize, lvl: &Level) {
        self.shared.qty[p].store(lvl.visible, Ordering::Relaxed);
        self.shared.count[p].store(lvl.count, Ordering::Relaxed);
    }

    /// Move the window to start at `nb`. Levels leaving it go to the skiplist (if they hold
    /// orders; only allowed for keys worse than the new window) or are freed (if empty);
    /// skiplist levels entering it move into the ring.
    fn rebase(&mut self, nb: i64) {
        let w = WINDOW as i64;
        if !self.init {
            self.init = true;
            self.base = nb;
        } else if nb < self.base {
            // Moving down: keys [max(nb + W, base), base + W) leave, to the skiplist.
            let lo = (nb + w).max(self.base);
            for k in lo..self.base + w {
                self.evict(k, true);
            }
            self.base = nb;
        } else if nb > self.base {
            // Moving up: keys [base, min(nb, base + W)) leave; they are better than the best
            // level, hence empty.
            let hi = nb.min(self.base + w);
            for k in self.base..hi {
                self.evict(k, false);
            }
            self.base = nb;
            // Pull skiplist levels now inside the window.
            while self.far_len > 0 {
                let Some((k, idx)) = self.shared.far.front().map(|e| {
                    let kv = (*e.key(), e.value().idx);
                    if kv.0 < nb + w {
                        e.remove();
                    }
                    kv
                }) else {
                    break;
                };
                if k >= nb + w {
                    break;
                }
                self.far_len -= 1;
                self.far_index.remove(&k);
                let p = pos(k);
                debug_assert_eq!(self.slots[p], NIL);
                self.slots[p] = idx;
                self.set_bit(p);
                self.win_active += 1;
                self.publish_slot(p, self.slab.get(idx));
            }
        }
        self.recompute_best();
        self.shared.base.store(self.base, Ordering::Release);
        self.shared.init.store(true, Ordering::Release);
    }

    fn evict(&mut self, k: i64, to_far: bool) {
        let p = pos(k);
        let idx = self.slots[p];
        if idx == NIL {
            return;
        }
        self.slots[p] = NIL;
        let lvl = *self.slab.get(idx);
        if lvl.count > 0 {
            debug_assert!(
                to_far,
                "a non-empty level cannot leave the window on the better side"
            );
            self.clear_bit(p);
            self.win_active -= 1;
            self.far_len += 1;
            self.far_index.insert(k, idx);
            self.shared.far.insert(
                k,
                FarLevel {
                    idx,
                    qty: AtomicU64::new(lvl.visible),
                    count: AtomicU32::new(lvl.count),
                },
            );
        } else {
            self.slab.free(idx);
        }
        self.shared.qty[p].store(0, Ordering::Relaxed);
        self.shared.count[p].store(0, Ordering::Relaxed);
    }

    fn maybe_recenter(&mut self) {
        match self.best_window_key() {
            Some(b) if b - self.base > DRIFT => self.rebase(b - HEAD),
            Some(_) => {}
            None if self.far_len > 0 => {
                let front = self.shared.far.front().map(|e| *e.key());
                if let Some(k) = front {
                    self.rebase(k - HEAD);
                }
            }
            None => {}
        }
    }

    /// Levels in the skiplist (beyond the window); for tests and benchmarks.
    pub fn far_levels(&self) -> usize {
        self.shared.far.len()
    }
}

impl Ladder for SkipLadder {
    fn new(side: Side) -> Self {
        SkipLadder {
            side,
            slab: LevelSlab::default(),
            init: false,
            base: 0,
            slots: Box::new([NIL; WINDOW]),
            bits: [0; WORDS],
            summary: 0,
            win_active: 0,
            far_len: 0,
            far_index: FxHashMap::default(),
            best_key: 0,
            best_idx: NIL,
            shared: Arc::new(SidePub::new(side)),
        }
    }
    #[inline]
    fn level(&self, idx: u32) -> &Level {
        self.slab.get(idx)
    }
    #[inline]
    fn level_mut(&mut self, idx: u32) -> &mut Level {
        self.slab.get_mut(idx)
    }
    #[inline(always)]
    unsafe fn level_unchecked(&self, idx: u32) -> &Level {
        // SAFETY: the caller's contract is the slab's (indices come from its `alloc`).
        unsafe { self.slab.get_unchecked(idx) }
    }
    #[inline(always)]
    unsafe fn level_unchecked_mut(&mut self, idx: u32) -> &mut Level {
        // SAFETY: as above.
        unsafe { self.slab.get_unchecked_mut(idx) }
    }
    #[inline]
    fn find(&self, price: Price) -> Option<u32> {
        let k = key(self.side, price);
        if self.in_window(k) {
            let idx = self.slots[pos(k)];
            if idx != NIL && self.slab.get(idx).count > 0 {
                return Some(idx);
            }
            None
        } else if self.init && k >= self.base && self.far_len > 0 {
            self.far_index.get(&k).copied()
        } else {
            None
        }
    }
    #[inline(always)]
    fn find_or_create(&mut self, price: Price) -> (u32, bool) {
        // The common case first: a window level that exists (resting, or emptied and kept).
        let k = key(self.side, price);
        if self.in_window(k) {
            let idx = self.slots[pos(k)];
            if idx != NIL {
                // SAFETY: window slots hold indices the slab handed out.
                return (idx, unsafe { self.slab.get_unchecked(idx) }.count == 0);
            }
        }
        self.find_or_create_slow(price, k)
    }
    #[inline]
    fn activate(&mut self, idx: u32) {
        let k = key(self.side, self.slab.get(idx).price);
        if self.in_window(k) {
            self.set_bit(pos(k));
            self.win_active += 1;
            if self.win_active == 1 || k < self.best_key {
                self.best_key = k;
                self.best_idx = idx;
            }
        }
    }
    #[inline]
    fn deactivate(&mut self, idx: u32) {
        let k = key(self.side, self.slab.get(idx).price);
        if self.in_window(k) {
            let p = pos(k);
            self.clear_bit(p);
            self.win_active -= 1;
            self.shared.count[p].store(0, Ordering::Relaxed);
            self.shared.qty[p].store(0, Ordering::Relaxed);
            if k == self.best_key {
                self.recompute_best();
            }
            self.maybe_recenter();
        } else {
            self.shared.far.remove(&k);
            self.far_index.remove(&k);
            self.far_len -= 1;
            self.slab.free(idx);
        }
    }
    #[inline(always)]
    fn best(&self) -> Option<u32> {
        if self.win_active > 0 {
            Some(self.best_idx)
        } else {
            self.best_far()
        }
    }
    fn visit<F: FnMut(&Level) -> bool>(&self, mut f: F) {
        if self.win_active > 0 {
            let start = pos(self.base);
            let mut seen = 0;
            let mut p = start;
            while seen < self.win_active {
                let Some(q) = self.first_from(p) else { break };
                if !f(self.slab.get(self.slots[q])) {
                    return;
                }
                seen += 1;
                p = (q + 1) & (WINDOW - 1);
            }
        }
        if self.far_len == 0 {
            return;
        }
        for e in self.shared.far.iter() {
            if !f(self.slab.get(e.value().idx)) {
                return;
            }
        }
    }
    fn len(&self) -> usize {
        self.win_active + self.far_len
    }
    #[inline]
    fn publish(&self, idx: u32) {
        let lvl = self.slab.get(idx);
        let k = key(self.side, lvl.price);
        if self.in_window(k) {
            self.publish_slot(pos(k), lvl);
        } else if let Some(e) = self.shared.far.get(&k) {
            e.value().qty.store(lvl.visible, Ordering::Relaxed);
            e.value().count.store(lvl.count, Ordering::Relaxed);
        }
    }
    fn publish_all(&self) {
        for p in 0..WINDOW {
            let idx = self.slots[p];
            if idx != NIL && self.bits[p / 64] & (1 << (p % 64)) != 0 {
                self.publish_slot(p, self.slab.get(idx));
            } else {
                self.shared.qty[p].store(0, Ordering::Relaxed);
                self.shared.count[p].store(0, Ordering::Relaxed);
            }
        }
        if self.far_len > 0 {
            for e in self.shared.far.iter() {
                let lvl = self.slab.get(e.value().idx);
                e.value().qty.store(lvl.visible, Ordering::Relaxed);
                e.value().count.store(lvl.count, Ordering::Relaxed);
            }
        }
    }
    fn side_pub(&self) -> Option<Arc<SidePub>> {
        Some(self.shared.clone())
    }
}

/// Every level in a `SkipMap`, inserted when it fills and removed when it empties: the
/// straightforward SkipMap book, kept as a benchmark baseline.
#[derive(Debug)]
pub struct PlainSkipLadder {
    side: Side,
    map: SkipMap<i64, u32>,
    slab: LevelSlab,
}

impl Ladder for PlainSkipLadder {
    fn new(side: Side) -> Self {
        PlainSkipLadder {
            side,
            map: SkipMap::new(),
            slab: LevelSlab::default(),
        }
    }
    #[inline]
    fn level(&self, idx: u32) -> &Level {
        self.slab.get(idx)
    }
    #[inline]
    fn level_mut(&mut self, idx: u32) -> &mut Level {
        self.slab.get_mut(idx)
    }
    #[inline(always)]
    unsafe fn level_unchecked(&self, idx: u32) -> &Level {
        // SAFETY: the caller's contract is the slab's (indices come from its `alloc`).
        unsafe { self.slab.get_unchecked(idx) }
    }
    #[inline(always)]
    unsafe fn level_unchecked_mut(&mut self, idx: u32) -> &mut Level {
        // SAFETY: as above.
        unsafe { self.slab.get_unchecked_mut(idx) }
    }
    #[inline]
    fn find(&self, price: Price) -> Option<u32> {
        self.map.get(&key(self.side, price)).map(|e| *e.value())
    }
    #[inline]
    fn find_or_create(&mut self, price: Price) -> (u32, bool) {
        let k = key(self.side, price);
        if let Some(e) = self.map.get(&k) {
            return (*e.value(), false);
        }
        let idx = self.slab.alloc(price);
        self.map.insert(k, idx);
        (idx, true)
    }
    #[inline]
    fn activate(&mut self, _idx: u32) {}
    #[inline]
    fn deactivate(&mut self, idx: u32) {
        let p = self.slab.get(idx).price;
        self.map.remove(&key(self.side, p));
        self.slab.free(idx);
    }
    #[inline]
    fn best(&self) -> Option<u32> {
        self.map.front().map(|e| *e.value())
    }
    fn visit<F: FnMut(&Level) -> bool>(&self, mut f: F) {
        for e in self.map.iter() {
            if !f(self.slab.get(*e.value())) {
                break;
            }
        }
    }
    fn len(&self) -> usize {
        self.map.len()
    }
}
