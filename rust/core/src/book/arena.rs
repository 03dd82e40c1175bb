//! Storage for resting orders: a chunked arena of fixed 56-byte records threaded into
//! per-level FIFO lists, and an id index that costs ~4 bytes per order for dense ids.

use crate::error::OrderError;
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
    /// Chunks the arena may hold (`None`: as many as memory and the index space allow).
    /// Set by tests to make growth fail as an allocation failure would.
    chunk_limit: Option<usize>,
}

/// A record slot taken out of an [`OrderArena`] before an operation changes anything, so
/// that the order it is for can rest whatever matching does: [`OrderArena::fill`] stores the
/// record in it, [`OrderArena::release`] hands it back. Only the arena creates one (from its
/// free list or fresh storage it has already allocated), so filling it cannot fail.
#[derive(Debug)]
#[must_use = "a reserved slot is filled or released, or it is lost to the arena"]
pub(crate) struct Slot(u32);

/// Why [`OrderArena::reserve`] found no slot (a register-sized error for the hot path;
/// [`OrderError`] carries the details).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// 2^32 - 1 slots are in use.
    Full,
    /// A new chunk could not be allocated.
    OutOfMemory,
}

impl From<NoRoom> for OrderError {
    #[cold]
    fn from(e: NoRoom) -> Self {
        match e {
            NoRoom::Full => OrderError::BookFull,
            NoRoom::OutOfMemory => OrderError::OutOfMemory {
                what: "the order arena (room for 4096 more resting orders)",
                bytes: CHUNK_BYTES,
            },
        }
    }
}

/// Bytes of one arena chunk (4096 records of 56 bytes).
pub const CHUNK_BYTES: usize = CHUNK * std::mem::size_of::<OrderRecord>();

impl OrderArena {
    /// An empty arena.
    pub fn new() -> Self {
        OrderArena {
            chunks: Vec::new(),
            free: NIL,
            used: 0,
            live: 0,
            chunk_limit: None,
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

    /// Store a record and return its index.
    ///
    /// # Errors
    /// As [`OrderArena::reserve`].
    #[inline]
    pub fn alloc(&mut self, rec: OrderRecord) -> Result<u32, OrderError> {
        let slot = self.reserve().map_err(OrderError::from)?;
        Ok(self.fill(slot, rec))
    }

    /// Take a slot for one record: the most recently freed one, or the next fresh one
    /// (allocating a chunk of 4096 if the last is full).
    ///
    /// # Errors
    /// [`NoRoom::Full`] when 2^32 - 1 slots are in use, or [`NoRoom::OutOfMemory`] when a
    /// new chunk cannot be allocated. The arena is then unchanged.
    #[inline(always)]
    pub(crate) fn reserve(&mut self) -> Result<Slot, NoRoom> {
        if self.free != NIL {
            let idx = self.free;
            // SAFETY: free-list indices are records this arena allocated.
            self.free = unsafe { self.get_unchecked(idx) }.next;
            return Ok(Slot(idx));
        }
        self.reserve_fresh()
    }

    #[cold]
    #[inline(never)]
    fn reserve_fresh(&mut self) -> Result<Slot, NoRoom> {
        if self.used == NIL {
            return Err(NoRoom::Full);
        }
        let idx = self.used;
        if (idx as usize) >> CHUNK_BITS == self.chunks.len() {
            self.grow()?;
        }
        self.used += 1;
        Ok(Slot(idx))
    }

    /// Add one chunk, or fail without changing anything (no abort on allocation failure).
    fn grow(&mut self) -> Result<(), NoRoom> {
        let oom = NoRoom::OutOfMemory;
        if self.chunk_limit.is_some_and(|l| self.chunks.len() >= l) {
            return Err(oom);
        }
        let mut records = Vec::new();
        if records.try_reserve_exact(CHUNK).is_err() || self.chunks.try_reserve(1).is_err() {
            return Err(oom);
        }
        records.resize(CHUNK, OrderRecord::EMPTY);
        // A fixed-size chunk type lets the compiler drop the inner bounds check.
        let Ok(chunk) = records.into_boxed_slice().try_into() else {
            return Err(oom);
        };
        self.chunks.push(chunk);
        Ok(())
    }

    /// Store `rec` in a reserved slot; returns its index. Cannot fail: the slot is the
    /// arena's own, in storage it has already allocated.
    #[inline(always)]
    pub(crate) fn fill(&mut self, slot: Slot, rec: OrderRecord) -> u32 {
        // SAFETY: a `Slot` holds an index this arena handed out (`reserve` or `vacate`; the
        // type is crate-private and each book owns one arena), in storage that never
        // shrinks.
        *unsafe { self.get_unchecked_mut(slot.0) } = rec;
        self.live += 1;
        slot.0
    }

    /// Hand a reserved slot back unused (the order did not rest).
    #[inline(always)]
    pub(crate) fn release(&mut self, slot: Slot) {
        let head = self.free;
        // SAFETY: as in `fill`.
        let r = unsafe { self.get_unchecked_mut(slot.0) };
        r.id = 0;
        r.next = head;
        self.free = slot.0;
    }

    /// Turn the live record `idx` (already unlinked from its level) into a reserved slot
    /// for the record that replaces it: a modify that re-queues an order reuses its slot,
    /// so it can always rest again.
    #[inline(always)]
    pub(crate) fn vacate(&mut self, idx: u32) -> Slot {
        debug_assert!(self.get(idx).id != 0, "vacating a free record");
        self.live -= 1;
        Slot(idx)
    }

    /// Let the arena hold at most `chunks` chunks of 4096 records (tests: growth beyond
    /// them then fails as an allocation failure does).
    #[doc(hidden)]
    pub fn set_chunk_limit(&mut self, chunks: Option<usize>) {
        self.chunk_limit = chunks;
    }

    /// Free a record.
    #[inline]
    pub fn free(&mut self, idx: u32) {
        // The bounds check of the safe entry point (panics on a bad index).
        let _ = self.get(idx);
        // SAFETY: `idx` is in bounds (checked just above).
        unsafe { self.free_unchecked(idx) }
    }

    /// Free a record without a bounds check (the book's hot paths).
    ///
    /// # Safety
    /// As [`OrderArena::get_unchecked`].
    #[inline(always)]
    pub unsafe fn free_unchecked(&mut self, idx: u32) {
        let head = self.free;
        // SAFETY: in bounds by the caller's contract.
        let slot = unsafe { self.get_unchecked_mut(idx) };
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

    /// The record at `idx`, without a bounds check (the book's hot paths).
    ///
    /// # Safety
    /// `idx` must have been returned by [`OrderArena::alloc`] on this arena (the record may
    /// have been freed since: the arena never shrinks, so such an index stays in bounds).
    #[inline(always)]
    pub unsafe fn get_unchecked(&self, idx: u32) -> &OrderRecord {
        debug_assert!(((idx >> CHUNK_BITS) as usize) < self.chunks.len());
        // SAFETY: the chunk index is in bounds by the caller's contract (`idx` came from
        // `alloc`, and chunks are never released).
        let chunk = unsafe { self.chunks.get_unchecked((idx >> CHUNK_BITS) as usize) };
        // SAFETY: the inner index is masked below `CHUNK`, the length of every chunk.
        unsafe { chunk.get_unchecked(idx as usize & (CHUNK - 1)) }
    }

    /// The record at `idx`, mutable, without a bounds check.
    ///
    /// # Safety
    /// As [`OrderArena::get_unchecked`].
    #[inline(always)]
    pub unsafe fn get_unchecked_mut(&mut self, idx: u32) -> &mut OrderRecord {
        debug_assert!(((idx >> CHUNK_BITS) as usize) < self.chunks.len());
        // SAFETY: the chunk index is in bounds by the caller's contract (`idx` came from
        // `alloc`, and chunks are never released).
        let chunk = unsafe { self.chunks.get_unchecked_mut((idx >> CHUNK_BITS) as usize) };
        // SAFETY: the inner index is masked below `CHUNK`, the length of every chunk.
        unsafe { chunk.get_unchecked_mut(idx as usize & (CHUNK - 1)) }
    }

    /// A raw pointer to the record at `idx`, formed without creating a reference to it or
    /// its chunk, so that several such pointers can be held and written through in turn.
    ///
    /// # Safety
    /// As [`OrderArena::get_unchecked`].
    #[inline(always)]
    pub unsafe fn record_raw(&mut self, idx: u32) -> *mut OrderRecord {
        debug_assert!(((idx >> CHUNK_BITS) as usize) < self.chunks.len());
        // SAFETY: the chunk index is in bounds by the caller's contract, so the offset stays
        // inside the vector's buffer.
        let chunk = unsafe { self.chunks.as_mut_ptr().add((idx >> CHUNK_BITS) as usize) };
        // SAFETY: `chunk` points to an initialised `Box` of the vector; `**chunk` is the
        // boxed array, addressed in place (no reference to it or its chunk is created).
        let first = unsafe { &raw mut **chunk }.cast::<OrderRecord>();
        // SAFETY: the inner index is masked below `CHUNK`, so the offset stays inside the
        // boxed array.
        unsafe { first.add(idx as usize & (CHUNK - 1)) }
    }

    /// Bytes reserved by the arena.
    pub fn reserved_bytes(&self) -> usize {
        self.chunks.len() * CHUNK * std::mem::size_of::<OrderRecord>()
    }
}

/// The hash tier of [`IdIndex`]: order id → arena index in an open-addressing table.
///
/// Linear probing over a power-of-two array of 16-byte entries, kept at most a quarter full;
/// the slot is the top bits of `id × 2^64/φ` (Fibonacci hashing: one multiply, and
/// consecutive or permuted ids spread evenly); deletion shifts the following entries back
/// (no tombstones, so probe lengths never degrade under churn). Id 0 marks an empty slot; the
/// book never rests an order with id 0 (it asks the book to assign one), and the index keeps
/// it aside if anyone does.
///
/// Measured against `hashbrown` (SwissTable, the same multiply hash, `insert_unique` without
/// a duplicate search) on the normal flow, whose ids all live here (callgrind, per call):
/// lookup 25.7 → 22 instructions, insert path 95 → 62, remove path 46 → 43; the whole id
/// index 6.87 M → 5.74 M instructions of 34.6 M (measured when the index was written).
/// hashbrown inlined into the book's hot paths also cost W2 up to 15 % through worse code around them. A map
/// for any key pays for tags, groups and tombstones that an integer key with a known empty
/// value and a small live set does not need. The table keeps the capacity of its largest live set (it
/// never shrinks on removal: a book's live set swings, and halving and doubling again costs
/// more than the memory, 64 bytes per id of that peak).
#[derive(Debug)]
struct IdMap {
    slots: Box<[IdSlot]>,
    len: usize,
    /// The entry of id 0, which cannot live in a slot.
    zero: Option<u32>,
    /// `64 - log2(capacity)`: the hash's top bits index the table.
    shift: u32,
    /// `capacity - 1` (a field: one load instead of the length's load and a decrement).
    mask: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct IdSlot {
    id: OrderId,
    idx: u32,
}

const ID_MAP_MIN: usize = 16;
/// The table is kept at most 1 / this full: a miss (every new order's duplicate check)
/// then probes about 1.4 slots, at 64 bytes per id.
const ID_MAP_SPREAD: usize = 4;

impl Default for IdMap {
    fn default() -> Self {
        IdMap::with_capacity(ID_MAP_MIN)
    }
}

impl IdMap {
    fn with_capacity(cap: usize) -> IdMap {
        debug_assert!(cap.is_power_of_two() && cap >= ID_MAP_MIN);
        IdMap {
            slots: vec![IdSlot::default(); cap].into_boxed_slice(),
            len: 0,
            zero: None,
            shift: 64 - cap.trailing_zeros(),
            mask: cap - 1,
        }
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        debug_assert_eq!(self.mask, self.slots.len() - 1);
        self.mask
    }

    #[inline(always)]
    fn home(&self, id: OrderId) -> usize {
        (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline(always)]
    fn slot(&self, i: usize) -> IdSlot {
        // SAFETY: every index is masked with `len - 1` (the length is a power of two), or is
        // a home slot (`< 2^(64 - shift) = len`).
        unsafe { *self.slots.get_unchecked(i & self.mask()) }
    }

    #[inline(always)]
    fn slot_mut(&mut self, i: usize) -> &mut IdSlot {
        let m = self.mask();
        // SAFETY: as in `slot`.
        unsafe { self.slots.get_unchecked_mut(i & m) }
    }

    /// Where `id` sits, if it is in the map.
    #[inline]
    fn find(&self, id: OrderId) -> Option<usize> {
        debug_assert_ne!(id, 0, "id 0 lives in `zero`, not in a slot");
        let h = self.home(id);
        // The home slot first, unmasked (`h < capacity`): at most a quarter full, the table
        // answers most lookups there.
        // SAFETY: `h < 2^(64 - shift) = capacity`.
        let s = unsafe { *self.slots.get_unchecked(h) };
        if s.id == id {
            return Some(h);
        }
        if s.id == 0 {
            return None;
        }
        let mut i = h + 1;
        loop {
            let s = self.slot(i);
            if s.id == id {
                return Some(i & self.mask());
            }
            if s.id == 0 {
                return None;
            }
            i += 1;
        }
    }

    #[inline]
    fn get(&self, id: OrderId) -> Option<u32> {
        if id == 0 {
            return self.zero;
        }
        self.find(id).map(|i| self.slot(i).idx)
    }

    /// Insert an id that is not in the map (the book checked it is not live).
    #[inline]
    fn insert(&mut self, id: OrderId, idx: u32) {
        debug_assert!(self.get(id).is_none());
        if id == 0 {
            self.zero = Some(idx);
            return;
        }
        if (self.len + 1) * ID_MAP_SPREAD > self.slots.len() {
            self.resize(self.slots.len() * 2);
        }
        let mut i = self.home(id);
        while self.slot(i).id != 0 {
            i += 1;
        }
        *self.slot_mut(i) = IdSlot { id, idx };
        self.len += 1;
    }

    /// Remove `id`, returning its index; the entries after it shift back into the hole.
    #[inline]
    fn remove(&mut self, id: OrderId) -> Option<u32> {
        if id == 0 {
            return self.zero.take();
        }
        let i = self.find(id)?;
        let idx = self.slot(i).idx;
        let mask = self.mask();
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let s = self.slot(j);
            if s.id == 0 {
                break;
            }
            // `s` may fill the hole if the hole lies on its probe path (home ..= j).
            let home = self.home(s.id);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                *self.slot_mut(hole) = s;
                hole = j;
            }
        }
        *self.slot_mut(hole) = IdSlot::default();
        self.len -= 1;
        Some(idx)
    }

    #[cold]
    #[inline(never)]
    fn resize(&mut self, cap: usize) {
        let old = std::mem::replace(self, IdMap::with_capacity(cap.max(ID_MAP_MIN)));
        self.zero = old.zero;
        for s in old.slots.iter().filter(|s| s.id != 0) {
            self.insert(s.id, s.idx);
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(OrderId, u32) -> bool) {
        let old = std::mem::take(self);
        let mut cap = ID_MAP_MIN;
        while cap < old.len * ID_MAP_SPREAD {
            cap *= 2;
        }
        *self = IdMap::with_capacity(cap);
        self.zero = old.zero.filter(|&v| keep(0, v));
        for s in old.slots.iter().filter(|s| s.id != 0) {
            if keep(s.id, s.idx) {
                self.insert(s.id, s.idx);
            }
        }
    }

    fn reserve(&mut self, n: usize) {
        let mut cap = self.slots.len();
        while (self.len + n) * ID_MAP_SPREAD > cap {
            cap *= 2;
        }
        if cap != self.slots.len() {
            self.resize(cap);
        }
    }

    fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn ids(&self) -> impl Iterator<Item = OrderId> + '_ {
        let zero = self.zero.map(|_| 0);
        zero.into_iter()
            .chain(self.slots.iter().filter(|s| s.id != 0).map(|s| s.id))
    }
}

const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;
/// How far (in pages) past the table's end an id may land and still extend the table.
const MAX_GROW: u64 = 1024;
/// A rising stream moves on to the next page once the newest page took in at least this
/// many ids (1 in 8: a page then costs at most 32 bytes per id it took in).
const RISING_FILL: u32 = (PAGE / 8) as u32;
/// A page other than the newest that falls to this many live ids is "thin": it moves them to
/// the hash map and is freed if it falls to [`STRAGGLERS`], or if pages hold fewer than
/// [`MIN_AVG_LIVE`] live ids on average. The few long-lived orders of an old id range must
/// not keep whole pages alive.
const DEMOTE_LIVE: u32 = (PAGE / 16) as u32;
/// A thin page with this many live ids or fewer is always demoted.
const STRAGGLERS: u32 = 16;
/// Thin pages are demoted while pages hold fewer live ids than this on average (more than
/// 256 bytes of pages per live id); above it they stay, so a book whose orders all leave
/// (a cancel storm, a session end) does not move its last ids to the hash map first.
const MIN_AVG_LIVE: usize = 64;
/// This many ids in a row of one page going to the hash map open that page (taking them
/// in): the start of a dense stream (a fresh book), or one that jumped. Ids in random order
/// over a range never do that.
const RUN_OPENS: u32 = 64;

#[derive(Debug)]
struct IdPage {
    slots: Box<[u32; PAGE]>,
    /// Live ids in the page.
    live: u32,
    /// Ids ever inserted into it, and the hash map's insert count when it was created (the
    /// rising-stream test).
    inserted: u64,
    born: u64,
}

/// Order id → arena index.
///
/// Two tiers, chosen per id range by how ids arrive, with no global re-balancing:
/// - **pages** for dense rising streams (ids from a counter, a venue's sequence): 4096-entry
///   pages (4 bytes per id) in a table indexed directly by page number (`id >> 12` minus the
///   table's first page), so a lookup is a subtraction and two loads. A page is created for
///   the next page of a rising stream (the newest page took in at least 1 in 8 of its ids)
///   or for the first id of a fresh book; it is freed when it empties, and a page other than
///   the newest that falls to `DEMOTE_LIVE` live ids (its long-lived stragglers) moves them
///   to the hash map, once.
/// - **a hash map** (`IdMap`: open addressing, one multiply) for everything else: sparse ids, ids
///   arriving in random order over a range (a permutation), ids far from the table,
///   stragglers of old pages. It is a plain map: no id ever moves between the tiers on
///   the common path.
///
/// Invariant: while a page exists, no id of its range is in the hash map, so a lookup that
/// finds the page never needs the map (in particular the live-id check of every new order).
/// A page is only created where the map holds no id of its range (checked against the map's
/// id bounds, exactly only when they overlap).
///
/// Measured on the five market flows and W1/W2 in `docs/performance.md`.
#[derive(Debug, Default)]
pub struct IdIndex {
    /// Page number of `table[0]`.
    first: u64,
    table: Vec<Option<IdPage>>,
    pages: usize,
    in_pages: usize,
    /// Highest page number that exists (valid while `pages > 0`).
    newest_pno: u64,
    sparse: IdMap,
    /// Upper bound of the ids put into `sparse` since it was last empty (may be loose; 0
    /// while it is empty). One bound is enough: a page a rising stream opens lies above
    /// every id in the map, and a page opened anywhere else (rare) takes in the map's ids
    /// of its range.
    sparse_hi: OrderId,
    spare: Option<Box<[u32; PAGE]>>,
    /// Ids ever inserted into the hash map.
    map_inserts: u64,
    /// The page of the last ids that went to the hash map, and how many in a row did.
    run_pno: u64,
    run_len: u32,
    /// Pages created and demoted so far (for tests and benchmarks).
    created: u64,
    demoted: u64,
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
            // Slots hold `index + 1` (0: no id), so a new page is zeroed memory.
            return p.slots[(id as usize) & (PAGE - 1)].checked_sub(1);
        }
        if self.sparse.is_empty() {
            None
        } else {
            self.get_sparse(id)
        }
    }

    /// The hash tier's lookup (after the page path found no page).
    #[inline]
    fn get_sparse(&self, id: OrderId) -> Option<u32> {
        self.sparse.get(id)
    }

    /// Whether `id` is live.
    #[inline]
    pub fn contains(&self, id: OrderId) -> bool {
        self.get(id).is_some()
    }

    /// Record a new live id (must not be live already).
    #[inline(always)]
    pub fn insert(&mut self, id: OrderId, idx: u32) {
        let slot = (id as usize) & (PAGE - 1);
        let rel = (id >> PAGE_BITS).wrapping_sub(self.first);
        if let Some(Some(p)) = usize::try_from(rel)
            .ok()
            .and_then(|r| self.table.get_mut(r))
        {
            debug_assert_eq!(p.slots[slot], 0);
            p.slots[slot] = idx + 1;
            p.live += 1;
            p.inserted += 1;
            self.in_pages += 1;
            return;
        }
        self.insert_slow(id, idx);
    }

    #[inline]
    fn in_reach(&self, pno: u64) -> bool {
        self.table.is_empty()
            || (pno >= self.first && pno - self.first < self.table.len() as u64 + MAX_GROW)
    }

    /// Whether the id `id` (whose page does not exist) should open a page.
    fn opens_page(&self, pno: u64) -> bool {
        if !self.in_reach(pno) {
            return false;
        }
        if self.pages == 0 {
            return false;
        }
        // The next page of a rising stream: the newest page took in enough ids, and more than
        // the hash map did since the page was created (ids in random order over a range fill
        // every page slowly and evenly; they stay in the hash map).
        pno == self.newest_pno + 1
            && self
                .table
                .get((self.newest_pno - self.first) as usize)
                .and_then(Option::as_ref)
                .is_some_and(|p| {
                    p.inserted >= u64::from(RISING_FILL) && p.inserted >= self.map_inserts - p.born
                })
    }

    /// [`IdIndex::insert`] when the id's page does not exist: the hash map, unless the id
    /// opens a page. Lean on purpose (the page rules are out of line), so that a map insert
    /// does not pay the page machinery's register saves.
    #[inline(always)]
    fn insert_slow(&mut self, id: OrderId, idx: u32) {
        let pno = id >> PAGE_BITS;
        if self.pages != 0 && pno == self.newest_pno.wrapping_add(1) && self.open_next(pno) {
            self.insert(id, idx);
            return;
        }
        if self.run_pno == pno && self.run_len > 0 {
            self.run_len += 1;
            if self.run_len >= RUN_OPENS && self.open_run(pno) {
                self.insert(id, idx);
                return;
            }
        } else {
            self.run_pno = pno;
            self.run_len = 1;
        }
        self.map_inserts += 1;
        // Reset to 0 whenever the map empties (`take_sparse`).
        self.sparse_hi = self.sparse_hi.max(id);
        self.sparse.insert(id, idx);
    }

    /// The next page of a rising stream, if the stream is one (see `opens_page`).
    #[cold]
    #[inline(never)]
    fn open_next(&mut self, pno: u64) -> bool {
        self.opens_page(pno) && self.create_page(pno)
    }

    /// A run of `RUN_OPENS` ids of page `pno` went to the hash map: open the page.
    #[cold]
    #[inline(never)]
    fn open_run(&mut self, pno: u64) -> bool {
        if self.in_reach(pno) && self.create_page(pno) {
            self.run_len = 0;
            true
        } else {
            false
        }
    }

    /// Create the page `pno` (in reach), taking in any ids of its range from the hash map.
    fn create_page(&mut self, pno: u64) -> bool {
        let page = self
            .spare
            .take()
            .or_else(|| vec![0u32; PAGE].into_boxed_slice().try_into().ok());
        let Some(mut slots) = page else {
            return false;
        };
        let mut live = 0u32;
        let lo = pno << PAGE_BITS;
        if !self.sparse.is_empty() && lo <= self.sparse_hi {
            self.sparse.retain(|k, v| {
                if k >> PAGE_BITS == pno {
                    slots[(k as usize) & (PAGE - 1)] = v + 1;
                    live += 1;
                    false
                } else {
                    true
                }
            });
        }
        if self.table.is_empty() {
            self.first = pno;
        }
        let r = (pno - self.first) as usize;
        if r >= self.table.len() {
            self.table.resize_with(r + 1, || None);
        }
        self.table[r] = Some(IdPage {
            slots,
            live,
            inserted: u64::from(live),
            born: self.map_inserts,
        });
        self.newest_pno = if self.pages == 0 {
            pno
        } else {
            self.newest_pno.max(pno)
        };
        self.pages += 1;
        self.in_pages += live as usize;
        self.created += 1;
        true
    }

    /// Forget a live id.
    #[inline(always)]
    pub fn remove(&mut self, id: OrderId) {
        let _ = self.take(id);
    }

    /// Forget a live id and return its arena index (`None` if it was not live): one lookup
    /// for a cancel, where `get` then `remove` would be two.
    #[inline(always)]
    pub fn take(&mut self, id: OrderId) -> Option<u32> {
        let slot = (id as usize) & (PAGE - 1);
        let rel = (id >> PAGE_BITS).wrapping_sub(self.first);
        if let Some(Some(p)) = usize::try_from(rel)
            .ok()
            .and_then(|r| self.table.get_mut(r))
        {
            let v = p.slots[slot];
            if v != 0 {
                p.slots[slot] = 0;
                p.live -= 1;
                self.in_pages -= 1;
                // Thinned, and not the newest page (which a rising stream is filling: it stays,
                // even empty): free it if empty; demote it if it holds only stragglers, or
                // pages hold too few live ids overall.
                let live = p.live;
                if live <= DEMOTE_LIVE
                    && rel != self.newest_pno.wrapping_sub(self.first)
                    && (live <= STRAGGLERS || self.pages * MIN_AVG_LIVE > self.len())
                {
                    self.page_thinned(rel as usize);
                }
            }
            return v.checked_sub(1);
        }
        self.take_sparse(id)
    }

    #[inline]
    fn take_sparse(&mut self, id: OrderId) -> Option<u32> {
        let v = self.sparse.remove(id);
        if v.is_some() && self.sparse.is_empty() {
            self.sparse_hi = 0;
        }
        v
    }

    /// The page `table[r]` thinned out (see `remove`): free it if empty, else demote it.
    #[cold]
    #[inline(never)]
    fn page_thinned(&mut self, r: usize) {
        let Some(live) = self.table[r].as_ref().map(|p| p.live) else {
            return;
        };
        if live == 0 {
            self.free_page(r);
        } else {
            self.demote_page(r);
        }
    }

    fn free_page(&mut self, r: usize) {
        if let Some(page) = self.table[r].take() {
            // An empty page is all zero again: keep one to reuse without a memset.
            self.spare = Some(page.slots);
        }
        self.pages -= 1;
        if self.pages > 0 && self.first + r as u64 == self.newest_pno {
            let last = self.table.iter().rposition(Option::is_some).unwrap_or(0);
            self.newest_pno = self.first + last as u64;
        }
        // Drop leading empty pages so a long-running book's table follows its live ids.
        let lead = self.table.iter().take_while(|p| p.is_none()).count();
        if lead == self.table.len() {
            self.table.clear();
        } else if lead >= 64 && lead * 2 >= self.table.len() {
            self.table.drain(..lead);
            self.first += lead as u64;
        }
    }

    /// Move the live ids of the thinned old page `table[r]` to the hash map and free it.
    fn demote_page(&mut self, r: usize) {
        let Some(mut page) = self.table[r].take() else {
            return;
        };
        let base = (self.first + r as u64) << PAGE_BITS;
        self.sparse_hi = self.sparse_hi.max(base | (PAGE as u64 - 1));
        self.sparse.reserve(page.live as usize);
        // A thin page is mostly zeros: skip 16 empty slots at a time (one vector OR).
        for (c, chunk) in page.slots.chunks_exact_mut(16).enumerate() {
            if chunk.iter().fold(0, |a, &v| a | v) == 0 {
                continue;
            }
            for (i, v) in chunk.iter_mut().enumerate() {
                if *v != 0 {
                    self.sparse.insert(base + (c * 16 + i) as u64, *v - 1);
                    *v = 0;
                }
            }
        }
        self.in_pages -= page.live as usize;
        page.live = 0;
        self.table[r] = Some(page);
        self.demoted += 1;
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

    /// Pages created and pages demoted to the hash map so far (for tests and benchmarks:
    /// both stay small on every flow; a churning index would show here first).
    pub fn page_moves(&self) -> (u64, u64) {
        (self.created, self.demoted)
    }

    /// Check the index's internal consistency (tests and `OrderBook::check_invariants`).
    pub fn check(&self) -> Result<(), String> {
        for id in self.sparse.ids() {
            if self.page(id).is_some() {
                return Err(format!("id {id} is in the hash map while its page exists"));
            }
            if id > self.sparse_hi {
                return Err(format!("id {id} is outside the hash map's bounds"));
            }
        }
        let mut pages = 0;
        let mut in_pages = 0;
        let mut newest = None;
        for (r, p) in self.table.iter().enumerate() {
            let Some(p) = p else { continue };
            let live = p.slots.iter().filter(|&&v| v != 0).count();
            if live != p.live as usize {
                return Err(format!("page live {} but {live} slots used", p.live));
            }
            pages += 1;
            in_pages += live;
            newest = Some(self.first + r as u64);
        }
        if pages != self.pages || in_pages != self.in_pages {
            return Err(format!(
                "pages {pages}/{} ids in pages {in_pages}/{}",
                self.pages, self.in_pages
            ));
        }
        if newest.is_some_and(|n| n != self.newest_pno) {
            return Err(format!(
                "newest page {newest:?}, recorded {}",
                self.newest_pno
            ));
        }
        Ok(())
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
    fn a_reserved_slot_is_never_handed_out_twice_and_release_returns_it() {
        let mut a = OrderArena::new();
        let r = OrderRecord {
            id: 7,
            ..OrderRecord::EMPTY
        };
        let i = a.alloc(r).unwrap();
        a.free(i);
        let s = a.reserve().unwrap();
        assert_eq!(s.0, i);
        // The freed record is reserved: the next slot is a fresh one.
        let t = a.reserve().unwrap();
        assert_ne!(t.0, i);
        assert_eq!(a.len(), 0);
        a.release(s);
        assert_eq!(a.fill(t, r), 1);
        assert_eq!(a.alloc(r).unwrap(), i);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn growth_beyond_the_chunk_limit_is_an_error_that_changes_nothing() {
        let mut a = OrderArena::new();
        a.set_chunk_limit(Some(1));
        let r = OrderRecord {
            id: 7,
            ..OrderRecord::EMPTY
        };
        for _ in 0..CHUNK {
            a.alloc(r).unwrap();
        }
        let e = a.alloc(r).unwrap_err();
        assert!(
            matches!(
                e,
                OrderError::OutOfMemory {
                    bytes: CHUNK_BYTES,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("order arena"), "{e}");
        assert_eq!((a.len(), a.reserved_bytes()), (CHUNK, CHUNK_BYTES));
        a.free(5);
        assert_eq!(a.alloc(r).unwrap(), 5);
        a.set_chunk_limit(None);
        assert_eq!(a.alloc(r).unwrap(), CHUNK as u32);
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
            ix.pages <= ix.len() / MIN_AVG_LIVE + 1,
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
    fn id_index_evicts_old_pages_for_a_rising_stream() {
        // Long-lived ids scattered over many old pages (more than DEMOTE_LIVE each) exhaust
        // the page bound; new ids of the rising stream must still get pages.
        let mut ix = IdIndex::default();
        let mut live = std::collections::BTreeMap::new();
        for id in 1..600_000u64 {
            ix.insert(id, (id % 777) as u32);
            live.insert(id, (id % 777) as u32);
            // Every 64th id lives forever (64 per page > DEMOTE_LIVE), the rest die soon.
            if id > 50 && (id - 50) % 64 != 0 {
                ix.remove(id - 50);
                live.remove(&(id - 50));
            }
            if id % 50_000 == 0 {
                ix.check().unwrap();
            }
        }
        ix.check().unwrap();
        assert_eq!(ix.len(), live.len());
        for (&id, &v) in &live {
            assert_eq!(ix.get(id), Some(v), "id {id}");
        }
        // The bound holds when a page is created; removals since may lower len() a little.
        assert!(
            ix.pages <= ix.len() / MIN_AVG_LIVE + 2,
            "{} pages",
            ix.pages
        );
        ix.insert(600_000, 1);
        assert!(ix.page(600_000).is_some(), "a new id went to the hash map");
    }

    #[test]
    fn id_index_page_takes_in_ids_from_the_hash_map() {
        let mut ix = IdIndex::default();
        // A fresh index: ids go to the hash map until a run of them in one page opens it.
        for id in 0..RUN_OPENS as u64 - 1 {
            ix.insert(id, 1);
        }
        assert_eq!(ix.pages, 0);
        for id in RUN_OPENS as u64 - 1..100 {
            ix.insert(id, 1);
        }
        assert_eq!(ix.pages, 1);
        assert!(ix.sparse.is_empty());
        // The next page's ids while the first is still thin: not yet a rising stream.
        for id in PAGE as u64..PAGE as u64 + 10 {
            ix.insert(id, 2);
        }
        ix.insert(5 * PAGE as u64 + 3, 9);
        ix.check().unwrap();
        assert!(ix.page(PAGE as u64).is_none());
        assert_eq!(ix.sparse.len(), 11);
        // The first page fills: the next id of page 1 opens it and takes its ids in.
        for id in 100..(RISING_FILL as u64 + 100) {
            ix.insert(id, 1);
        }
        ix.insert(PAGE as u64 + 10, 7);
        ix.check().unwrap();
        assert!(ix.page(PAGE as u64).is_some());
        assert_eq!(ix.get(PAGE as u64 + 3), Some(2));
        assert_eq!(ix.get(PAGE as u64 + 10), Some(7));
        assert_eq!(ix.get(5 * PAGE as u64 + 3), Some(9));
        assert_eq!(ix.get(7), Some(1));
        assert_eq!(ix.sparse.len(), 1);
    }

    #[test]
    fn id_index_serves_a_permutation_from_the_hash_map_without_churn() {
        // The cross-engine benchmark's ids: 1..=n in a random order, most dying soon, 5 %
        // living long. No page may be created and demoted over and over.
        use rand::{seq::SliceRandom, SeedableRng};
        let n = 300_000u64;
        let mut ids: Vec<u64> = (1..=n).collect();
        ids.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5));
        let mut ix = IdIndex::default();
        let mut live = std::collections::VecDeque::new();
        let mut long = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            ix.insert(id, i as u32);
            if i % 20 == 0 {
                long.push(id);
            } else {
                live.push_back(id);
            }
            if live.len() > 300 {
                let old = live.pop_front().unwrap();
                assert!(ix.contains(old));
                ix.remove(old);
            }
        }
        ix.check().unwrap();
        assert_eq!(ix.len(), live.len() + long.len());
        let (created, demoted) = ix.page_moves();
        assert!(
            created <= 2 && demoted <= 1,
            "{created} pages created, {demoted} demoted"
        );
        for &id in &long {
            assert!(ix.contains(id));
            ix.remove(id);
        }
        for id in live {
            ix.remove(id);
        }
        assert!(ix.is_empty());
    }

    #[test]
    fn id_index_rising_stream_with_stragglers_demotes_each_page_once() {
        // The flows with ids in arrival order: a rising stream, 5 % of ids living long.
        let mut ix = IdIndex::default();
        let mut short = std::collections::VecDeque::new();
        let n = 400_000u64;
        for id in 1..=n {
            ix.insert(id, id as u32);
            if id % 20 != 0 {
                short.push_back(id);
            }
            if short.len() > 300 {
                ix.remove(short.pop_front().unwrap());
            }
        }
        ix.check().unwrap();
        let (created, demoted) = ix.page_moves();
        let pages = n / PAGE as u64 + 1;
        assert!(created <= pages + 1, "{created} created for {pages} pages");
        assert!(demoted <= pages, "{demoted} demoted");
        // Every new id went to a page, every straggler is still found.
        assert!(ix.page(n).is_some());
        for id in (20..=n).step_by(20) {
            assert_eq!(ix.get(id), Some(id as u32));
        }
    }

    proptest::proptest! {
        #[test]
        fn id_map_matches_a_hash_map(ops in proptest::collection::vec(
            (0u8..3, 1u64..200, proptest::bool::ANY), 1..3000)) {
            // Small key ranges (and keys that collide on their home slot) exercise probing,
            // backward-shift deletion across the table's end, growth and shrinking.
            let mut m = IdMap::default();
            let mut model = std::collections::HashMap::new();
            for (i, (kind, k, far)) in ops.into_iter().enumerate() {
                let id = if far { k << 40 } else { k - 1 };
                match kind {
                    0 => {
                        if let std::collections::hash_map::Entry::Vacant(e) = model.entry(id) {
                            e.insert(i as u32);
                            m.insert(id, i as u32);
                        }
                    }
                    1 => proptest::prop_assert_eq!(m.remove(id), model.remove(&id)),
                    _ => proptest::prop_assert_eq!(m.get(id), model.get(&id).copied()),
                }
                proptest::prop_assert_eq!(m.len(), model.len());
            }
            for (&id, &v) in &model {
                proptest::prop_assert_eq!(m.get(id), Some(v));
            }
            let mut ids: Vec<u64> = m.ids().collect();
            ids.sort_unstable();
            let mut want: Vec<u64> = model.keys().copied().collect();
            want.sort_unstable();
            proptest::prop_assert_eq!(ids, want);
            m.retain(|id, _| id % 2 == 0);
            for (&id, &v) in &model {
                proptest::prop_assert_eq!(m.get(id), (id % 2 == 0).then_some(v));
            }
        }

        #[test]
        fn id_index_matches_a_hash_map(ops in proptest::collection::vec(
            (0u8..4, 0u64..64, 0u64..4096), 1..2000)) {
            let mut ix = IdIndex::default();
            let mut model = std::collections::HashMap::new();
            let mut next = 1u64;
            for (i, (kind, a, b)) in ops.into_iter().enumerate() {
                match kind {
                    // a rising stream
                    0 => {
                        next += a;
                        if let std::collections::hash_map::Entry::Vacant(e) = model.entry(next) {
                            e.insert(i as u32);
                            ix.insert(next, i as u32);
                        }
                    }
                    // scattered ids, some far away
                    1 => {
                        let id = if a % 2 == 0 { a * PAGE as u64 * 37 + b } else { u64::MAX - b * a };
                        if let std::collections::hash_map::Entry::Vacant(e) = model.entry(id) {
                            e.insert(i as u32);
                            ix.insert(id, i as u32);
                        }
                    }
                    // remove a live id (the a-th smallest modulo len)
                    _ => {
                        if !model.is_empty() {
                            let mut keys: Vec<u64> = model.keys().copied().collect();
                            keys.sort_unstable();
                            let id = keys[(a * 4096 + b) as usize % keys.len()];
                            model.remove(&id);
                            ix.remove(id);
                        }
                    }
                }
                proptest::prop_assert_eq!(ix.len(), model.len());
            }
            ix.check().map_err(proptest::test_runner::TestCaseError::fail)?;
            for (&id, &v) in &model {
                proptest::prop_assert_eq!(ix.get(id), Some(v));
            }
        }
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
