//! SkipMap ladders.
//!
//! [`SkipLadder`] keeps the skiplist off the common path. Levels whose side-aware key lies in
//! a window of `width` ticks starting at `base` live in a ring indexed by price
//! (`key mod width`), with a three-level bitmap of non-empty slots: finding, creating,
//! emptying and refilling a level there is an array access and a bit flip, and the best
//! level is at most three `trailing_zeros`. An emptied level stays cached in its slot, so a
//! level at the touch that empties and refills costs no allocation and no skiplist
//! insert/remove. Only levels worse than the window live in the `SkipMap`.
//!
//! The window grows with the book: it starts at [`WINDOW`] ticks and doubles (up to the
//! ladder's `MAX`, [`MAX_WINDOW`] by default) whenever a level would otherwise have to leave
//! it for the skiplist: a new level worse than the window, or a better price whose re-centre
//! would push resting levels out. So a book whose side spans up to `MAX` ticks keeps every
//! level in the ring, however far and often its touch jumps, and nothing moves between the
//! structures per operation. A side that spans more keeps its deepest levels in the skiplist.
//!
//! The window re-centres (`rebase`) when a better price arrives below `base`, when the best
//! level drifts more than half the window from `base`, or when the window empties while the
//! skiplist holds levels. A re-centre walks the bitmap words of the range that leaves the
//! window (64 ticks a word) and moves only the levels it finds there: its cost is the
//! levels moved plus `range / 64` words, never a walk over every tick. Between two
//! re-centres the best must move at least an eighth of the window (hysteresis).
//!
//! Invariant: every key in the `SkipMap` is `>= base + width`, so the window's levels are
//! always better than the skiplist's and best-first order is "window, then skiplist".
//!
//! Readers on other threads see the window through a [`SidePub`]: the writer mirrors the
//! bitmap and per-slot aggregates into atomics once the first reader appears, and replaces
//! the mirror (through `crossbeam_epoch`) when the window grows.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_epoch::{self as epoch, Atomic, Owned};
use crossbeam_skiplist::SkipMap;
use rustc_hash::FxHashMap;

use super::{key, price_of, Ladder, Level, LevelSlab};
use crate::arena::NIL;
use crate::types::{Price, Qty, Side};

/// Ticks covered by a new ladder's price-indexed window (a power of two).
pub const WINDOW: usize = 2048;
/// The default ladder's largest window, in ticks: a side spanning up to this many ticks keeps
/// every level in the ring.
pub const MAX_WINDOW: usize = 1 << 16;

const _: () = assert!(WINDOW.is_power_of_two() && MAX_WINDOW.is_power_of_two());
const _: () = assert!(WINDOW >= 64 && MAX_WINDOW >= WINDOW && MAX_WINDOW <= 1 << 24);

/// Where the best level sits in a window of `width` after a re-centre: room for this many
/// better ticks before the window has to move down.
#[inline]
fn head(width: usize) -> i64 {
    (width / 8) as i64
}

/// Bits `0..n` set (`n <= 64`).
#[inline]
fn low_mask(n: u64) -> u64 {
    if n >= 64 {
        !0
    } else {
        (1u64 << n) - 1
    }
}

/// A three-level bitmap over ring positions: a bit per slot, a bit per non-zero word, a bit
/// per non-zero summary word. Finding the next set position is at most three
/// `trailing_zeros`.
#[derive(Debug)]
struct Bits {
    words: Box<[u64]>,
    mid: Box<[u64]>,
    top: u64,
}

impl Bits {
    fn new(width: usize) -> Bits {
        let words = width / 64;
        Bits {
            words: vec![0; words].into_boxed_slice(),
            mid: vec![0; words.div_ceil(64)].into_boxed_slice(),
            top: 0,
        }
    }

    /// Set position `p`.
    ///
    /// # Safety
    /// `p` must be below the width the bitmap was made for.
    #[inline(always)]
    unsafe fn set(&mut self, p: usize) {
        let w = p / 64;
        debug_assert!(w < self.words.len());
        // SAFETY: `p < width`, so `w < width / 64 = words.len()`.
        *unsafe { self.words.get_unchecked_mut(w) } |= 1 << (p % 64);
        // SAFETY: `w < words.len()` (above), so `w / 64 < mid.len()` (its length is
        // `words.len()` rounded up to 64).
        *unsafe { self.mid.get_unchecked_mut(w / 64) } |= 1 << (w % 64);
        self.top |= 1 << (w / 64);
    }

    /// Clear position `p`.
    ///
    /// # Safety
    /// As [`Bits::set`].
    #[inline(always)]
    unsafe fn clear(&mut self, p: usize) {
        let w = p / 64;
        debug_assert!(w < self.words.len());
        // SAFETY: as in `set`.
        let word = unsafe { self.words.get_unchecked_mut(w) };
        *word &= !(1 << (p % 64));
        if *word == 0 {
            let m = w / 64;
            // SAFETY: as in `set`.
            let mid = unsafe { self.mid.get_unchecked_mut(m) };
            *mid &= !(1 << (w % 64));
            if *mid == 0 {
                self.top &= !(1 << m);
            }
        }
    }

    /// Whether position `p` is set (`p` below the width, masked by the caller).
    #[inline(always)]
    fn test(&self, p: usize) -> bool {
        debug_assert!(p / 64 < self.words.len());
        // SAFETY: `p < width`, so `p / 64 < words.len()`.
        (unsafe { *self.words.get_unchecked(p / 64) } >> (p % 64)) & 1 == 1
    }

    /// First set position in the summary word `m` (which must be non-zero).
    #[inline]
    fn first_in_mid(&self, m: usize) -> usize {
        let w = m * 64 + self.mid[m].trailing_zeros() as usize;
        w * 64 + self.words[w].trailing_zeros() as usize
    }

    /// First set position at or after `start`, wrapping around to the lowest set position.
    ///
    /// # Safety
    /// `start` must be below the width the bitmap was made for.
    #[inline]
    unsafe fn first_from(&self, start: usize) -> Option<usize> {
        let w = start / 64;
        debug_assert!(w < self.words.len());
        // SAFETY: `start < width`, so `w < width / 64 = words.len()`.
        let m = unsafe { *self.words.get_unchecked(w) } & (!0u64 << (start % 64));
        if m != 0 {
            return Some(w * 64 + m.trailing_zeros() as usize);
        }
        let mw = w / 64;
        let after = (w % 64) as u64 + 1;
        let mm = if after >= 64 {
            0
        } else {
            self.mid[mw] & (!0u64 << after)
        };
        if mm != 0 {
            let w2 = mw * 64 + mm.trailing_zeros() as usize;
            return Some(w2 * 64 + self.words[w2].trailing_zeros() as usize);
        }
        let tafter = mw as u64 + 1;
        let tm = if tafter >= 64 {
            0
        } else {
            self.top & (!0u64 << tafter)
        };
        if tm != 0 {
            return Some(self.first_in_mid(tm.trailing_zeros() as usize));
        }
        if self.top == 0 {
            return None;
        }
        Some(self.first_in_mid(self.top.trailing_zeros() as usize))
    }
}

/// A level beyond the window, as stored in the `SkipMap`.
#[derive(Debug)]
pub struct FarLevel {
    idx: u32,
    qty: AtomicU64,
    count: AtomicU32,
}

/// The reader-visible mirror of a window: its base, bitmap and per-slot aggregates.
#[derive(Debug)]
struct PubWindow {
    base: AtomicI64,
    width: usize,
    bits: Box<[AtomicU64]>,
    qty: Box<[AtomicU64]>,
    count: Box<[AtomicU32]>,
}

impl PubWindow {
    fn new(base: i64, width: usize) -> PubWindow {
        PubWindow {
            base: AtomicI64::new(base),
            width,
            bits: (0..width / 64).map(|_| AtomicU64::new(0)).collect(),
            qty: (0..width).map(|_| AtomicU64::new(0)).collect(),
            count: (0..width).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    #[inline]
    fn pos(&self, k: i64) -> usize {
        (k as u64 as usize) & (self.width - 1)
    }
}

/// The lock-free, reader-visible image of one side: a mirror of the window (present once a
/// reader has appeared) and the `SkipMap` of levels beyond it. Written only by the book's
/// writer.
#[derive(Debug)]
pub struct SidePub {
    side: Side,
    win: Atomic<PubWindow>,
    far: SkipMap<i64, FarLevel>,
}

impl Drop for SidePub {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader holds this side any more, so loading without a
        // pin (`unprotected`) cannot race a concurrent reclamation.
        let w = self
            .win
            .load(Ordering::Relaxed, unsafe { epoch::unprotected() });
        if !w.is_null() {
            // SAFETY: `w` is the side's current window, owned by it alone (a window replaced
            // earlier was handed to the epoch collector, not left here), and it is dropped
            // once, with the side.
            drop(unsafe { w.into_owned() });
        }
    }
}

impl SidePub {
    fn new(side: Side) -> SidePub {
        SidePub {
            side,
            win: Atomic::null(),
            far: SkipMap::new(),
        }
    }

    /// Up to `n` levels `(price, displayed lots, orders)`, best first, read lock-free.
    ///
    /// Each level's figures are individually atomic; the list is re-read if the window moved
    /// or grew while it was being read. For a snapshot consistent across levels use the
    /// writer's `depth` or validate with [`crate::BookReader`]'s sequence.
    pub fn levels(&self, n: usize, out: &mut Vec<(Price, Qty, u32)>) {
        let guard = epoch::pin();
        for _attempt in 0..16 {
            out.clear();
            let shared = self.win.load(Ordering::Acquire, &guard);
            // SAFETY: the window is only destroyed through the epoch collector, after it was
            // replaced; `guard` keeps it alive while it is read here.
            let win = unsafe { shared.as_ref() };
            let mut base = 0;
            if let Some(w) = win {
                base = w.base.load(Ordering::Acquire);
                let start = w.pos(base);
                let mut step = 0usize;
                while step < w.width && out.len() < n {
                    let p = (start + step) & (w.width - 1);
                    let word = w.bits[p / 64].load(Ordering::Relaxed) >> (p % 64);
                    if word == 0 {
                        step += 64 - p % 64;
                        continue;
                    }
                    step += word.trailing_zeros() as usize;
                    if step >= w.width {
                        break;
                    }
                    let p = (start + step) & (w.width - 1);
                    let c = w.count[p].load(Ordering::Relaxed);
                    if c > 0 {
                        let q = w.qty[p].load(Ordering::Relaxed);
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
            let again = self.win.load(Ordering::Acquire, &guard);
            if again == shared && win.is_none_or(|w| w.base.load(Ordering::Acquire) == base) {
                return;
            }
        }
    }
}

/// The default ladder: a price-indexed ring at the touch, growing with the book up to `MAX`
/// ticks, plus a `SkipMap` for levels beyond it. See the module docs.
///
/// `MAX` (a power of two, at least [`WINDOW`]) is the widest the window may grow; the default
/// [`MAX_WINDOW`] suits every instrument whose book spans less than 65 536 ticks a side. A
/// smaller `MAX` trades memory (16 bytes a tick a side while readers exist, 4 without) for
/// skiplist work on wide books; the tests use `SkipLadder<WINDOW>` to exercise the skiplist.
#[derive(Debug)]
pub struct SkipLadder<const MAX: usize = MAX_WINDOW> {
    side: Side,
    slab: LevelSlab,
    init: bool,
    /// `width` once the window exists, 0 before (`in_window`'s single compare).
    span: u64,
    base: i64,
    /// Window width in ticks (a power of two, `WINDOW..=MAX`), and `width - 1`.
    width: usize,
    mask: usize,
    /// Ring slot -> level index (`NIL`: no level cached there).
    slots: Box<[u32]>,
    /// Slots holding a non-empty level.
    active: Bits,
    /// Slots holding a level, empty or not (what a re-centre has to move or free).
    cached: Box<[u64]>,
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
    /// Whether the window is mirrored for readers (since the first `publish_all`).
    mirror: bool,
    /// Re-centre scratch: keys of the levels in a departing range.
    scratch: Vec<i64>,
    /// Window moves and growths so far (for tests and benchmarks).
    moves: u64,
    shared: Arc<SidePub>,
}

impl<const MAX: usize> SkipLadder<MAX> {
    const VALID: () = assert!(MAX.is_power_of_two() && MAX >= WINDOW && MAX <= 1 << 24);

    #[inline]
    fn pos(&self, k: i64) -> usize {
        (k as u64 as usize) & self.mask
    }

    #[inline]
    fn in_window(&self, k: i64) -> bool {
        // `k - base` can exceed i64::MAX (keys span ±(2^62 - 1), `base` sits below a key):
        // with `k >= base` the difference is exact as a u64.
        // With `span == 0` before the first level, and `k - base` wrapping to at least 2^63
        // for a key below the base (keys span ±(2^62 - 1)), one compare decides.
        (k.wrapping_sub(self.base) as u64) < self.span
    }

    /// The reader mirror of the window, if readers have appeared. Writer only.
    #[inline]
    fn pub_window(&self) -> Option<&PubWindow> {
        if !self.mirror {
            return None;
        }
        // SAFETY: only this ladder (the writer) replaces or frees the window, and only
        // through `&mut self`, so no reclamation can run while the `&self` borrow lasts and
        // the unpinned load is sound.
        let guard = unsafe { epoch::unprotected() };
        // SAFETY: the pointer is null or the live window (see above), which outlives the
        // `&self` borrow the returned reference is tied to.
        unsafe { self.shared.win.load(Ordering::Acquire, guard).as_ref() }
    }

    #[cold]
    #[inline(never)]
    fn mirror_word(&self, p: usize) {
        if let Some(w) = self.pub_window() {
            w.bits[p / 64].store(self.active.words[p / 64], Ordering::Relaxed);
        }
    }

    /// Mark ring position `p` non-empty (`p` comes from `pos`, hence `< width`).
    #[inline(always)]
    fn set_active(&mut self, p: usize) {
        debug_assert!(p < self.width);
        // SAFETY: masked with `width - 1`; `active` is made for `width`.
        unsafe { self.active.set(p & self.mask) };
        if self.mirror {
            self.mirror_word(p);
        }
    }

    /// Mark ring position `p` empty (`p < width`).
    #[inline(always)]
    fn clear_active(&mut self, p: usize) {
        debug_assert!(p < self.width);
        // SAFETY: as in `set_active`.
        unsafe { self.active.clear(p & self.mask) };
        if self.mirror {
            self.mirror_word(p);
        }
    }

    /// The level cached at ring position `p` (`NIL` if none), without a bounds check.
    #[inline(always)]
    fn slot(&self, p: usize) -> u32 {
        // SAFETY: `slots.len() == width` and `mask == width - 1`.
        unsafe { *self.slots.get_unchecked(p & self.mask) }
    }

    fn publish_slot(&self, p: usize, lvl: Option<&Level>) {
        if let Some(w) = self.pub_window() {
            let (q, c) = lvl.map_or((0, 0), |l| (l.visible, l.count));
            w.qty[p].store(q, Ordering::Relaxed);
            w.count[p].store(c, Ordering::Relaxed);
        }
    }

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

    /// The best window level emptied: find the next one (re-centring if the window empties).
    #[inline(never)]
    fn deactivate_best(&mut self, k: i64) {
        self.next_best(k);
        self.maybe_recenter();
    }

    /// A skiplist level emptied: it leaves the skiplist and is freed.
    #[cold]
    #[inline(never)]
    fn deactivate_far(&mut self, idx: u32, k: i64) {
        self.shared.far.remove(&k);
        self.far_index.remove(&k);
        self.far_len -= 1;
        self.slab.free(idx);
    }

    fn far_front_key(&self) -> Option<i64> {
        if self.far_len > 0 {
            self.shared.far.front().map(|e| *e.key())
        } else {
            None
        }
    }

    /// [`Ladder::find_or_create`] beyond its fast path: a new window level, a move or growth
    /// of the window, or a level in the skiplist.
    #[cold]
    #[inline(never)]
    fn find_or_create_slow(&mut self, price: Price, k: i64) -> (u32, bool) {
        if !self.init {
            self.rebase(k - head(self.width));
        } else if k < self.base {
            // A better price than the window: move it down, growing it first if resting
            // levels would otherwise leave it for the skiplist.
            while self.width < MAX {
                let w = self.width as i64;
                let lo = (k - head(self.width) + w).max(self.base);
                let hi = self.base + w;
                if lo >= hi || !self.any_active(lo, (hi - lo) as u64) {
                    break;
                }
                self.grow(self.width * 2);
            }
            self.rebase(k - head(self.width));
        } else if !self.in_window(k) {
            if self.win_active == 0 {
                // Nothing in the window: move it to the new best instead of growing it.
                let front = self.far_front_key();
                self.rebase(front.map_or(k, |f| f.min(k)) - head(self.width));
            } else {
                // A level worse than the window: grow to take it in; at the largest width,
                // move the window up to the best instead (what leaves it then is empty).
                let need = k.wrapping_sub(self.base) as u64 + 1;
                if need > MAX as u64 && self.best_key - head(self.width) > self.base {
                    self.rebase(self.best_key - head(self.width));
                }
                let need = k.wrapping_sub(self.base) as u64 + 1;
                if need <= MAX as u64 {
                    self.grow(need.next_power_of_two() as usize);
                }
            }
        }
        if self.in_window(k) {
            let p = self.pos(k);
            let mut idx = self.slots[p];
            if idx == NIL {
                idx = self.slab.alloc(price);
                self.slots[p] = idx;
                self.cached[p / 64] |= 1 << (p % 64);
            }
            (idx, self.slab.get(idx).count == 0)
        } else if let Some(idx) = self.far_index.get(&k).copied() {
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

    /// Whether a non-empty level lies in the window's keys `[lo, lo + len)`
    /// (`len <= width`). Walks bitmap words, 64 keys at a time.
    fn any_active(&self, lo: i64, len: u64) -> bool {
        let mut off = 0u64;
        while off < len {
            let p = self.pos(lo.wrapping_add(off as i64));
            let b = (p % 64) as u64;
            let chunk = (64 - b).min(len - off);
            if (self.active.words[p / 64] >> b) & low_mask(chunk) != 0 {
                return true;
            }
            off += chunk;
        }
        false
    }

    /// Keys of the levels cached in the window's keys `[lo, lo + len)` (`len <= width`),
    /// ascending, into `self.scratch`. Walks bitmap words, 64 keys at a time.
    fn collect_cached(&mut self, lo: i64, len: u64) {
        self.scratch.clear();
        let mut off = 0u64;
        while off < len {
            let p = self.pos(lo.wrapping_add(off as i64));
            let b = (p % 64) as u64;
            let chunk = (64 - b).min(len - off);
            let mut bits = (self.cached[p / 64] >> b) & low_mask(chunk);
            while bits != 0 {
                let t = u64::from(bits.trailing_zeros());
                self.scratch.push(lo.wrapping_add((off + t) as i64));
                bits &= bits - 1;
            }
            off += chunk;
        }
    }

    /// Find the best window level again from the bitmap.
    fn recompute_best(&mut self) {
        if self.win_active == 0 {
            return;
        }
        let start = self.pos(self.base);
        // SAFETY: ring positions are masked with `width - 1`.
        if let Some(p) = unsafe { self.active.first_from(start) } {
            self.best_key = self.base + ((p + self.width - start) & self.mask) as i64;
            self.best_idx = self.slots[p];
        }
    }

    /// The best level `k` emptied: the new best is the first non-empty slot after it. The
    /// search starts at the old best, whose bitmap words are hot, not at `base`, which the
    /// touch may have left far behind.
    #[inline]
    fn next_best(&mut self, k: i64) {
        if self.win_active == 0 {
            return;
        }
        let start = self.pos(k);
        // SAFETY: ring positions are masked with `width - 1`.
        if let Some(p) = unsafe { self.active.first_from(start) } {
            // Nothing is better than `k` in the window, so the ring order from `k` is key order.
            self.best_key = k + ((p + self.width - start) & self.mask) as i64;
            self.best_idx = self.slot(p);
        }
    }

    /// Move the window to start at `nb`. Levels leaving it go to the skiplist (if they hold
    /// orders; only allowed for keys worse than the new window) or are freed (if empty);
    /// skiplist levels entering it move into the ring.
    fn rebase(&mut self, nb: i64) {
        let w = self.width as i64;
        if !self.init {
            self.init = true;
            self.span = self.width as u64;
            self.base = nb;
        } else if nb < self.base {
            // Moving down: keys [max(nb + W, base), base + W) leave, to the skiplist.
            let lo = (nb + w).max(self.base);
            let hi = self.base + w;
            if lo < hi {
                self.collect_cached(lo, (hi - lo) as u64);
                for i in 0..self.scratch.len() {
                    self.evict(self.scratch[i], true);
                }
            }
            self.base = nb;
            self.moves += 1;
        } else if nb > self.base {
            // Moving up: keys [base, min(nb, base + W)) leave; they are better than the best
            // level, hence empty.
            let hi = nb.min(self.base + w);
            self.collect_cached(self.base, (hi - self.base) as u64);
            for i in 0..self.scratch.len() {
                self.evict(self.scratch[i], false);
            }
            self.base = nb;
            self.moves += 1;
            self.pull_far();
        }
        self.recompute_best();
        if let Some(pw) = self.pub_window() {
            pw.base.store(self.base, Ordering::Release);
        }
    }

    /// Move the skiplist's levels that are now inside the window into the ring.
    fn pull_far(&mut self) {
        let end = self.base + self.width as i64;
        while self.far_len > 0 {
            let Some((k, idx)) = self.shared.far.front().map(|e| {
                let kv = (*e.key(), e.value().idx);
                if kv.0 < end {
                    e.remove();
                }
                kv
            }) else {
                break;
            };
            if k >= end {
                break;
            }
            self.far_len -= 1;
            self.far_index.remove(&k);
            let p = self.pos(k);
            debug_assert_eq!(self.slots[p], NIL);
            self.slots[p] = idx;
            self.cached[p / 64] |= 1 << (p % 64);
            self.set_active(p);
            self.win_active += 1;
            self.publish_slot(p, Some(self.slab.get(idx)));
        }
    }

    fn evict(&mut self, k: i64, to_far: bool) {
        let p = self.pos(k);
        let idx = self.slots[p];
        if idx == NIL {
            return;
        }
        self.slots[p] = NIL;
        self.cached[p / 64] &= !(1 << (p % 64));
        let lvl = *self.slab.get(idx);
        if lvl.count > 0 {
            debug_assert!(
                to_far,
                "a non-empty level cannot leave the window on the better side"
            );
            self.clear_active(p);
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
        self.publish_slot(p, None);
    }

    /// Widen the window to `new_width` ticks (a power of two, `<= MAX`), keeping its base:
    /// every cached level is re-placed in the wider ring and skiplist levels now inside it
    /// move in. Costs the old width / 64 words plus the levels moved; at most
    /// `log2(MAX / WINDOW)` times in a ladder's life.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, new_width: usize) {
        let new_width = new_width.clamp(self.width, MAX);
        if new_width == self.width {
            return;
        }
        let old_mask = self.mask;
        let old_start = self.pos(self.base);
        let old_slots = std::mem::replace(&mut self.slots, vec![NIL; new_width].into_boxed_slice());
        let old_cached =
            std::mem::replace(&mut self.cached, vec![0; new_width / 64].into_boxed_slice());
        self.active = Bits::new(new_width);
        self.width = new_width;
        if self.init {
            self.span = new_width as u64;
        }
        self.mask = new_width - 1;
        // The mirror is rebuilt whole below: nothing is published meanwhile.
        let mirror = std::mem::replace(&mut self.mirror, false);
        for (wi, &word) in old_cached.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let p = wi * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let k = self.base + ((p + old_mask + 1 - old_start) & old_mask) as i64;
                let np = self.pos(k);
                let idx = old_slots[p];
                self.slots[np] = idx;
                self.cached[np / 64] |= 1 << (np % 64);
                if self.slab.get(idx).count > 0 {
                    // SAFETY: `np` comes from `pos`, below the new width `active` was made for.
                    unsafe { self.active.set(np) };
                }
            }
        }
        self.pull_far();
        self.recompute_best();
        self.moves += 1;
        self.mirror = mirror;
        if mirror {
            self.install_mirror();
        }
    }

    /// Build a complete reader mirror of the window and publish it, retiring the old one
    /// through the epoch collector.
    fn install_mirror(&mut self) {
        let w = PubWindow::new(self.base, self.width);
        for (wi, &word) in self.active.words.iter().enumerate() {
            w.bits[wi].store(word, Ordering::Relaxed);
            let mut bits = word;
            while bits != 0 {
                let p = wi * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let lvl = self.slab.get(self.slots[p]);
                w.qty[p].store(lvl.visible, Ordering::Relaxed);
                w.count[p].store(lvl.count, Ordering::Relaxed);
            }
        }
        let guard = epoch::pin();
        let old = self
            .shared
            .win
            .swap(Owned::new(w), Ordering::AcqRel, &guard);
        if !old.is_null() {
            // SAFETY: `old` is no longer reachable from `win`; readers that loaded it hold
            // a guard, so destruction waits for them.
            unsafe { guard.defer_destroy(old) };
        }
        self.mirror = true;
    }

    /// The window emptied: if the skiplist holds levels, move the window to its best.
    fn maybe_recenter(&mut self) {
        if self.win_active == 0 {
            if let Some(k) = self.far_front_key() {
                self.rebase(k - head(self.width));
            }
        }
    }

    /// Levels in the skiplist (beyond the window); for tests and benchmarks.
    pub fn far_levels(&self) -> usize {
        self.shared.far.len()
    }

    /// The window's width in ticks; for tests and benchmarks.
    pub fn window_width(&self) -> usize {
        self.width
    }

    /// Re-centres and growths of the window so far; for tests and benchmarks.
    pub fn window_moves(&self) -> u64 {
        self.moves
    }
}

impl<const MAX: usize> super::sealed::Sealed for SkipLadder<MAX> {}

impl<const MAX: usize> Ladder for SkipLadder<MAX> {
    fn new(side: Side) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::VALID;
        SkipLadder {
            side,
            slab: LevelSlab::default(),
            init: false,
            span: 0,
            base: 0,
            width: WINDOW,
            mask: WINDOW - 1,
            slots: vec![NIL; WINDOW].into_boxed_slice(),
            active: Bits::new(WINDOW),
            cached: vec![0; WINDOW / 64].into_boxed_slice(),
            win_active: 0,
            far_len: 0,
            far_index: FxHashMap::default(),
            best_key: 0,
            best_idx: NIL,
            mirror: false,
            scratch: Vec::new(),
            moves: 0,
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
            let idx = self.slots[self.pos(k)];
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
            let p = self.pos(k);
            let idx = self.slot(p);
            if idx != NIL {
                // Empty or not from the bitmap (small, hot), not from the level record: the
                // record's load then overlaps with the caller's work instead of stalling here.
                return (idx, !self.active.test(p));
            }
        }
        self.find_or_create_slow(price, k)
    }
    #[inline]
    fn activate(&mut self, idx: u32) {
        let k = key(self.side, self.slab.get(idx).price);
        if self.in_window(k) {
            self.set_active(self.pos(k));
            self.win_active += 1;
            if self.win_active == 1 || k < self.best_key {
                self.best_key = k;
                self.best_idx = idx;
            }
        }
    }
    #[inline]
    fn deactivate(&mut self, idx: u32) {
        // The common case inline (a window level empties); the best level's replacement and
        // the skiplist's removal out of line, so the caller keeps its registers.
        let k = key(self.side, self.slab.get(idx).price);
        if self.in_window(k) {
            let p = self.pos(k);
            self.clear_active(p);
            self.win_active -= 1;
            if self.mirror {
                self.publish_slot(p, None);
            }
            if k == self.best_key {
                self.deactivate_best(k);
            }
        } else {
            self.deactivate_far(idx, k);
        }
    }
    #[inline(always)]
    fn best(&self) -> Option<u32> {
        if self.win_active > 0 {
            Some(self.best_idx)
        } else if self.far_len > 0 {
            self.best_far()
        } else {
            None
        }
    }
    fn visit<F: FnMut(&Level) -> bool>(&self, mut f: F) {
        if self.win_active > 0 {
            let mut seen = 0;
            let mut p = self.pos(self.base);
            while seen < self.win_active {
                // SAFETY: ring positions are masked with `width - 1`.
                let Some(q) = (unsafe { self.active.first_from(p) }) else {
                    break;
                };
                if !f(self.slab.get(self.slots[q])) {
                    return;
                }
                seen += 1;
                p = (q + 1) & self.mask;
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
            self.publish_slot(self.pos(k), Some(lvl));
        } else if let Some(e) = self.shared.far.get(&k) {
            e.value().qty.store(lvl.visible, Ordering::Relaxed);
            e.value().count.store(lvl.count, Ordering::Relaxed);
        }
    }
    fn publish_all(&mut self) {
        self.install_mirror();
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

impl super::sealed::Sealed for PlainSkipLadder {}

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
