//! `BTreeMap` ladder: the classic single-threaded level index (benchmark baseline).

use std::collections::BTreeMap;

use super::{key, Ladder, Level, LevelSlab};
use crate::types::{Price, Side};

/// Levels keyed by side-aware price in a `BTreeMap`.
#[derive(Debug)]
pub struct BTreeLadder {
    side: Side,
    map: BTreeMap<i64, u32>,
    slab: LevelSlab,
}

impl super::sealed::Sealed for BTreeLadder {}

impl Ladder for BTreeLadder {
    fn new(side: Side) -> Self {
        BTreeLadder {
            side,
            map: BTreeMap::new(),
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
        self.map.get(&key(self.side, price)).copied()
    }
    #[inline]
    fn find_or_create(&mut self, price: Price) -> (u32, bool) {
        let slab = &mut self.slab;
        let mut created = false;
        let idx = *self.map.entry(key(self.side, price)).or_insert_with(|| {
            created = true;
            slab.alloc(price)
        });
        (idx, created)
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
        self.map.first_key_value().map(|(_, &i)| i)
    }
    fn visit<F: FnMut(&Level) -> bool>(&self, mut f: F) {
        for &i in self.map.values() {
            if !f(self.slab.get(i)) {
                break;
            }
        }
    }
    fn len(&self) -> usize {
        self.map.len()
    }
}
