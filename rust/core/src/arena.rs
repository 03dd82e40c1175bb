//! Storage for resting orders: a chunked arena of fixed 56-byte records threaded into
//! per-level FIFO lists, and an id index that costs ~4 bytes per order for dense ids.

use rustc_hash::FxHashMap;

use crate::types::{AccountId, OrderId, Qty, Side, StpMode};

/// "No record": the end of a list.
pub const NIL: u32 = u32::MAX;

/// A resting order. `#[repr(C)]` plain data, 56 bytes, no pointers: a level's FIFO is an
/// intrusive doubly linked list of arena indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct OrderRecord {
    /// Order id.
    pub id: OrderId,
    /// Displayed open lots (what depth shows).
    pub visible: Qty,
    /// Iceberg reserve lots (hidden).
    pub hidden: Qty,
    /// Iceberg display size (0 = not an iceberg).
    pub display: Qty,
    /// Time priority stamp (set when the order, or its replenished slice, joined the queue).
    pub ts: u64,
    /// Previous record in the level's FIFO.
    pub prev: u32,
    /// Next record in the level's FIFO (also the free-list link).
    pub next: u32,
    /// Level index (bits 0..28), STP mode (28..30), post-only (30), side (31).
    pub meta: u32,
    /// Account for self-trade prevention.
    pub account: AccountId,
}

const _: () = assert!(std::mem::size_of::<OrderRecord>() == 56);

const LEVEL_MASK: u32 = (1 << 28) - 1;
/// Largest level index a record can point at.
pub const MAX_LEVELS: u32 = LEVEL_MASK;

impl OrderRecord {
    const EMPTY: OrderRecord = OrderRecord {
        id: 0,
        visible: 0,
        hidden: 0,
        display: 0,
        ts: 0,
        prev: NIL,
        next: NIL,
        meta: 0,
        account: 0,
    };

    /// Pack level/side/flags.
    #[inline]
    pub fn pack_meta(level: u32, side: Side, stp: StpMode, post_only: bool) -> u32 {
        debug_assert!(level <= LEVEL_MASK);
        level | ((stp as u32) << 28) | (u32::from(post_only) << 30) | ((side as u32) << 31)
    }
    /// Level index on its side.
    #[inline]
    pub fn level(&self) -> u32 {
        self.meta & LEVEL_MASK
    }
    /// Side.
    #[inline]
    pub fn side(&self) -> Side {
        if self.meta >> 31 == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }
    /// STP mode it was entered with.
    #[inline]
    pub fn stp(&self) -> StpMode {
        StpMode::from_u8(((self.meta >> 28) & 3) as u8).unwrap_or_default()
    }
    /// Post-only flag.
    #[inline]
    pub fn post_only(&self) -> bool {
        (self.meta >> 30) & 1 == 1
    }
    /// Open lots (visible + reserve).
    #[inline]
    pub fn open(&self) -> Qty {
        self.visible + self.hidden
    }
}

const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Chunked arena of [`OrderRecord`]s. Chunks never move, so growth never copies and never
/// doubles the memory; freed records are reused first (LIFO, cache-warm).
#[derive(Debug, Default)]
pub struct OrderArena {
    chunks: Vec<Box<[OrderRecord; CHUNK]>>,
    free: u32,
    used: u32,
    live: usize,
}

impl OrderArena {
    /// An empty arena.
    pub fn new() -> Self {
        OrderArena {
            chunks: Vec::new(),
            free: NIL,
            used: 0,
            live: 0,
        }
    }

    /// Number of live records.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no record is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Store a record and return its index. Returns `None` when 2^32 - 1 records are live.
    #[inline(always)]
    pub fn alloc(&mut self, rec: OrderRecord) -> Option<u32> {
        if self.free != NIL {
            self.live += 1;
            let idx = self.free;
            let slot = self.get_mut(idx);
            let next_free = slot.next;
            *slot = rec;
            self.free = next_free;
            return Some(idx);
        }
        self.alloc_fresh(rec)
    }

    #[cold]
    #[inline(never)]
    fn alloc_fresh(&mut self, rec: OrderRecord) -> Option<u32> {
        self.live += 1;
        if self.used == NIL {
            self.live -= 1;
            return None;
        }
        let idx = self.used;
        if (idx as usize) >> CHUNK_BITS == self.chunks.len() {
            // A fixed-size chunk type lets the compiler drop the inner bounds check.
            let Ok(chunk) = vec![OrderRecord::EMPTY; CHUNK]
                .into_boxed_slice()
                .try_into()
            else {
                self.live -= 1;
                return None;
            };
            self.chunks.push(chunk);
        }
        self.used += 1;
        *self.get_mut(idx) = rec;
        Some(idx)
    }

    /// Free a record.
    #[inline]
    pub fn free(&mut self, idx: u32) {
        let head = self.free;
        let slot = self.get_mut(idx);
        slot.id = 0;
        slot.next = head;
        self.free = idx;
        self.live -= 1;
    }

    /// The record at `idx`.
    #[inline]
    pub fn get(&self, idx: u32) -> &OrderRecord {
        &self.chunks[(idx >> CHUNK_BITS) as usize][idx as usize & (CHUNK - 1)]
    }

    /// The record at `idx`, mutable.
    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut OrderRecord {
        &mut self.chunks[(idx >> CHUNK_BITS) as usize][idx as usize & (CHUNK - 1)]
    }

    /// Bytes reserved by the arena.
    pub fn reserved_bytes(&self) -> usize {
        self.chunks.len() * CHUNK * std::mem::size_of::<OrderRecord>()
    }
}

const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;
/// A page is created only while pages hold on average at least this many live ids;
/// sparser ids go to a hash map, so random ids never cost a 16 KiB page each.
const MIN_PAGE_FILL: usize = 256;
/// How far (in pages) past the table's end an id may land and still extend the table.
const MAX_GROW: u64 = 1024;
/// A page that is not the newest and falls to this many live ids or fewer moves
/// them to the hash map and is freed: the few long-lived orders of an old id range
/// ("stragglers") must not keep whole pages alive, or the page budget above runs out and
/// every new id goes to the hash map (measured on W2 over 1M ops: +39 instructions per op
/// in the slow insert path alone before this rule).
const DEMOTE_LIVE: u32 = 16;

#[derive(Debug)]
struct IdPage {
    slots: Box<[u32; PAGE]>,
    live: u32,
}

/// Order id → arena index. Ids are dense in practice (assigned from a counter, or a venue's
/// sequence), so they go to 4096-entry pages (4 bytes per id, freed when a page empties)
/// held in a table indexed directly by page number (`id >> 12` minus the table's first
/// page): a lookup is a subtraction and two loads. Ids too sparse or too far from the
/// table go to a hash map.
#[derive(Debug, Default)]
pub struct IdIndex {
    /// Page number of `table[0]`.
    first: u64,
    table: Vec<Option<IdPage>>,
    pages: usize,
    sparse: FxHashMap<OrderId, u32>,
    in_pages: usize,
    spare: Option<Box<[u32; PAGE]>>,
}

impl IdIndex {
    #[inline]
    fn page(&self, id: OrderId) -> Option<&IdPage> {
        let rel = (id >> PAGE_BITS).wrapping_sub(self.first);
        self.table.get(usize::try_from(rel).ok()?)?.as_ref()
    }

    /// Arena index of a live id.
    #[inline(always)]
    pub fn get(&self, id: OrderId) -> Option<u32> {
        if let Some(p) = self.page(id) {
            let v = p.slots[(id as usize) & (PAGE - 1)];
            if v != NIL {
                return Some(v);
            }
        }
        if self.sparse.is_empty() {
            None
        } else {
            self.sparse.get(&id).copied()
        }
    }

    /// Whether `id` is live.
    #[inline]
    pub fn contains(&self, id: OrderId) -> bool {
        self.get(id).is_some()
    }

    /// Record a new live id (must not be live already).
    #[inline(always)]
    pub fn insert(&mut self, id: OrderId, idx: u32) {
        let pno = id >> PAGE_BITS;
        let slot = (id as usize) & (PAGE - 1);
        let rel = pno.wrapping_sub(self.first);
        if let Some(Some(p)) = usize::try_from(rel)
            .ok()
            .and_then(|r| self.table.get_mut(r))
        {
            debug_assert_eq!(p.slots[slot], NIL);
            p.slots[slot] = idx;
            p.live += 1;
            self.in_pages += 1;
            return;
        }
        self.insert_slow(id, idx);
    }

    #[cold]
    #[inline(never)]
    fn insert_slow(&mut self, id: OrderId, idx: u32) {
        let pno = id >> PAGE_BITS;
        let slot = (id as usize) & (PAGE - 1);
        // Live ids of every kind count: ids moved to the hash map by `demote_page` are part of
        // a dense stream, not evidence of sparse ids.
        let dense_enough = self.pages * MIN_PAGE_FILL <= self.len() + MIN_PAGE_FILL;
        let in_reach = |ix: &Self| {
            ix.table.is_empty()
                || (pno >= ix.first && pno - ix.first < ix.table.len() as u64 + MAX_GROW)
        };
        if dense_enough && in_reach(self) {
            // A page is about to be created: first demote old pages that only stragglers
            // keep alive (their last removal may have come while they were the newest).
            self.demote_straggler_pages();
            if self.table.is_empty() {
                self.first = pno;
            }
            if in_reach(self) {
                let r = (pno - self.first) as usize;
                if r >= self.table.len() {
                    self.table.resize_with(r + 1, || None);
                }
                let page = self
                    .spare
                    .take()
                    .or_else(|| vec![NIL; PAGE].into_boxed_slice().try_into().ok());
                if let Some(mut slots) = page {
                    slots[slot] = idx;
                    self.table[r] = Some(IdPage { slots, live: 1 });
                    self.pages += 1;
                    self.in_pages += 1;
                    return;
                }
            }
        }
        self.sparse.insert(id, idx);
    }

    /// Demote every page but the newest that holds [`DEMOTE_LIVE`] live ids or fewer.
    fn demote_straggler_pages(&mut self) {
        if self.pages <= 1 {
            return;
        }
        // Freeing a page may drop leading empty entries (the indexes shift): the bound is
        // re-read every step, and a page skipped here is demoted at a later page.
        let mut r = 0;
        while r + 1 < self.table.len() {
            if self.table[r]
                .as_ref()
                .is_some_and(|p| p.live <= DEMOTE_LIVE)
            {
                self.demote_page(r);
            }
            r += 1;
        }
    }

    /// Forget a live id.
    #[inline(always)]
    pub fn remove(&mut self, id: OrderId) {
        let slot = (id as usize) & (PAGE - 1);
        let rel = (id >> PAGE_BITS).wrapping_sub(self.first);
        if let Some(Some(p)) = usize::try_from(rel)
            .ok()
            .and_then(|r| self.table.get_mut(r))
        {
            if p.slots[slot] != NIL {
                p.slots[slot] = NIL;
                p.live -= 1;
                self.in_pages -= 1;
                if p.live == 0 {
                    self.free_page(rel as usize);
                } else if p.live <= DEMOTE_LIVE && (rel as usize) + 1 < self.table.len() {
                    self.demote_page(rel as usize);
                }
                return;
            }
        }
        self.sparse.remove(&id);
    }

    #[cold]
    #[inline(never)]
    fn free_page(&mut self, r: usize) {
        if let Some(page) = self.table[r].take() {
            // An empty page is all NIL again: keep one to reuse without a memset.
            self.spare = Some(page.slots);
        }
        self.pages -= 1;
        // Drop leading empty pages so a long-running book's table follows its live ids.
        let lead = self.table.iter().take_while(|p| p.is_none()).count();
        if lead == self.table.len() {
            self.table.clear();
        } else if lead >= 64 && lead * 2 >= self.table.len() {
            self.table.drain(..lead);
            self.first += lead as u64;
        }
    }

    /// Move the live ids of the sparse old page `table[r]` to the hash map and free it.
    #[cold]
    #[inline(never)]
    fn demote_page(&mut self, r: usize) {
        let Some(mut page) = self.table[r].take() else {
            return;
        };
        let base = (self.first + r as u64) << PAGE_BITS;
        for (i, v) in page.slots.iter_mut().enumerate() {
            if *v != NIL {
                self.sparse.insert(base + i as u64, *v);
                *v = NIL;
            }
        }
        self.in_pages -= page.live as usize;
        page.live = 0;
        self.table[r] = Some(page);
        self.free_page(r);
    }

    /// Number of live ids.
    pub fn len(&self) -> usize {
        self.in_pages + self.sparse.len()
    }

    /// Whether no id is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_reuses_freed_records() {
        let mut a = OrderArena::new();
        let r = OrderRecord {
            id: 7,
            ..OrderRecord::EMPTY
        };
        let i = a.alloc(r).unwrap();
        let j = a.alloc(r).unwrap();
        assert_ne!(i, j);
        a.free(i);
        assert_eq!(a.alloc(r).unwrap(), i);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn id_index_dense_and_sparse() {
        let mut ix = IdIndex::default();
        for id in 1..10_000u64 {
            ix.insert(id, id as u32);
        }
        // sparse ids far away
        for k in 0..1000u64 {
            ix.insert(u64::MAX - k * 1_000_003, k as u32);
        }
        assert_eq!(ix.len(), 9_999 + 1000);
        // Pages are bounded by live ids / MIN_PAGE_FILL (+1): sparse ids cannot blow memory up.
        assert!(
            ix.pages <= ix.len() / MIN_PAGE_FILL + 1,
            "{} pages",
            ix.pages
        );
        for id in 1..10_000u64 {
            assert_eq!(ix.get(id), Some(id as u32));
        }
        for k in 0..1000u64 {
            assert_eq!(ix.get(u64::MAX - k * 1_000_003), Some(k as u32));
        }
        for id in 1..10_000u64 {
            ix.remove(id);
        }
        assert_eq!(ix.get(5), None);
        assert_eq!(ix.len(), 1000);
        ix.insert(5, 3);
        assert_eq!(ix.get(5), Some(3));
        ix.remove(u64::MAX);
        assert_eq!(ix.get(u64::MAX), None);
    }

    #[test]
    fn id_index_demotes_stragglers_and_keeps_new_ids_in_pages() {
        // A W2-like id stream: ids rise forever, a few per page live long.
        let mut ix = IdIndex::default();
        let mut live = std::collections::BTreeMap::new();
        for id in 1..400_000u64 {
            ix.insert(id, (id % 1000) as u32);
            live.insert(id, (id % 1000) as u32);
            // Everything but every 500th id dies 100 ids later.
            if id > 100 && (id - 100) % 500 != 0 {
                ix.remove(id - 100);
                live.remove(&(id - 100));
            }
        }
        assert_eq!(ix.len(), live.len());
        for (&id, &v) in &live {
            assert_eq!(ix.get(id), Some(v), "id {id}");
        }
        assert_eq!(ix.get(150), None);
        // Old pages were demoted: only the newest pages remain, new ids still land in them.
        assert!(ix.pages <= 3, "{} pages alive", ix.pages);
        ix.insert(400_000, 7);
        assert!(ix.page(400_000).is_some(), "a new id went to the hash map");
        for &id in live.keys() {
            ix.remove(id);
        }
        ix.remove(400_000);
        assert!(ix.is_empty());
    }

    #[test]
    fn meta_packing() {
        let m = OrderRecord::pack_meta(12345, Side::Sell, StpMode::CancelBoth, true);
        let r = OrderRecord {
            meta: m,
            ..OrderRecord::EMPTY
        };
        assert_eq!(r.level(), 12345);
        assert_eq!(r.side(), Side::Sell);
        assert_eq!(r.stp(), StpMode::CancelBoth);
        assert!(r.post_only());
    }
}
