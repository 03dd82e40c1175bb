//! The engine: symbols dealt to shards, the producer API, events out, lifecycle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use hftbook_core::{
    BookReader, Clock, NewOrder, OrderBook, OrderError, OrderType, Price, QtyLimits, Side,
    TimeInForce,
};
use rustc_hash::FxHashSet;

use crate::config::{valid_symbol_name, ConfigError, EngineConfig, OnFull, SymbolConfig};
use crate::lanes::{Ingress, Lanes};
use crate::record::{cmd, flag, kind, order_type, reason, tif, Command, Event, ALL};

use crate::route::{OrderRoutes, RouteError};
use crate::shard::{EventOut, NewSymbol, Shard};
use crate::stats::{Latencies, ShardStats};

/// Engine states.
pub const STATE_CREATED: u8 = 0;
/// Running.
pub const STATE_RUNNING: u8 = 1;
/// Paused: no matching; cancels run; new orders queued or rejected.
pub const STATE_PAUSED: u8 = 2;
/// Stopping: intake closed, lanes draining.
pub const STATE_STOPPING: u8 = 3;
/// Stopped: every thread joined.
pub const STATE_STOPPED: u8 = 4;
/// State names, by code.
pub const STATE_NAMES: [&str; 5] = ["created", "running", "paused", "stopping", "stopped"];

/// What can go wrong when calling the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A symbol the engine does not trade.
    #[error("symbol {0:?} is not traded by this engine (add it with add_symbol)")]
    UnknownSymbol(String),
    /// A symbol added twice.
    #[error("symbol {0:?} is already traded by this engine")]
    DuplicateSymbol(String),
    /// An argument breaks a rule.
    #[error("{field} = {value}: {rule}")]
    Invalid {
        /// Argument or column.
        field: &'static str,
        /// Its value.
        value: String,
        /// The rule.
        rule: String,
    },
    /// A batch row breaks a rule (nothing of the batch was queued).
    #[error("row {row}: {field} = {value}: {rule}")]
    InvalidRow {
        /// Row index.
        row: usize,
        /// Column.
        field: &'static str,
        /// Its value.
        value: String,
        /// The rule.
        rule: String,
    },
    /// The lane stayed full.
    #[error("the {lane} lane of shard {shard} is full (waited {waited_us} µs); {enqueued} of the call's commands were queued before it")]
    Backpressure {
        /// "priority" or "normal".
        lane: &'static str,
        /// Shard.
        shard: usize,
        /// How long the call waited.
        waited_us: u64,
        /// Commands of this call queued before the lane refused (batches).
        enqueued: usize,
    },
    /// The engine is stopping or stopped.
    #[error("the engine is {state}: it takes no new commands")]
    NotRunning {
        /// State name.
        state: &'static str,
    },
    /// A cancel or modify of an id this engine never issued.
    #[error("order_id {0} was never issued by this engine")]
    UnknownOrder(u64),
    /// A lifecycle call in the wrong state.
    #[error("cannot {action} an engine that is {state}")]
    Lifecycle {
        /// What was asked.
        action: &'static str,
        /// State name.
        state: &'static str,
    },
    /// Configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The journal could not be created, read, recovered or written.
    #[error("{message}")]
    Journal {
        /// What went wrong: `io`, `corrupt`, `missing_segment`, `config_mismatch`,
        /// `diverged` or `invalid`.
        kind: &'static str,
        /// The file it is about (segment, config.toml ...).
        file: Option<String>,
        /// Byte offset in that file.
        offset: Option<u64>,
        /// The whole message (what is wrong and what was expected).
        message: String,
    },
    /// The journal failed while running: nothing more can be acknowledged.
    #[error(
        "the journal failed, the engine takes no new commands (recover it from the journal): {0}"
    )]
    JournalFailed(String),
}

impl From<crate::journal::JournalError> for EngineError {
    fn from(e: crate::journal::JournalError) -> Self {
        use crate::journal::JournalError as J;
        let message = e.to_string();
        let (kind, file, offset) = match e {
            J::Io { path, .. } => ("io", Some(path), None),
            J::Corrupt {
                segment, offset, ..
            } => ("corrupt", Some(segment), Some(offset)),
            J::MissingSegment { segment, .. } => ("missing_segment", Some(segment), Some(0)),
            J::ConfigMismatch { segment, .. } => ("config_mismatch", Some(segment), None),
            J::Diverged { .. } => ("diverged", None, None),
            J::Invalid { path, .. } => ("invalid", Some(path), None),
        };
        EngineError::Journal {
            kind,
            file,
            offset,
            message,
        }
    }
}

/// A symbol's live figures, readable from any thread.
#[derive(Debug)]
pub struct SymbolLive {
    /// Last trade price, ticks (`i64::MIN` before the first trade).
    pub last_trade: AtomicI64,
    /// Trades printed.
    pub trades: AtomicU64,
    /// 0 trading, 1 halted.
    pub status: AtomicU8,
    /// The book's lock-free read side.
    pub reader: BookReader,
}

/// One symbol of the table.
#[derive(Debug, Clone)]
pub struct SymbolEntry {
    /// Name.
    pub name: String,
    /// Shard that owns it.
    pub shard: usize,
    /// Options (the hot-reloadable ones change in place).
    pub cfg: SymbolConfig,
    /// Live figures.
    pub live: Arc<SymbolLive>,
}

/// Symbols by index and by name. Replaced as a whole (copy on write) when a symbol is added
/// or reconfigured; producers read it lock-free.
#[derive(Debug, Default, Clone)]
pub struct SymbolTable {
    /// By index.
    pub entries: Vec<SymbolEntry>,
    /// Name → index.
    pub by_name: HashMap<String, u32>,
}

/// A log line for the host (Python's `logging`).
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Topic: lifecycle, config, breaker, halt.
    pub topic: &'static str,
    /// Text.
    pub message: String,
    /// Engine time (ns).
    pub ts: u64,
}

/// State shared by the engine handle, the producers and the shards.
#[derive(Debug)]
pub(crate) struct Shared {
    pub routes: OrderRoutes,
    pub next_order_id: AtomicU64,
    pub cmd_seq: AtomicU64,
    pub event_seq: AtomicU64,
    pub clock: Clock,
    pub breaker: AtomicU8,
    pub breaker_since: AtomicU64,
    pub config: ArcSwap<EngineConfig>,
    pub config_gen: AtomicU64,
    pub symbols: ArcSwap<SymbolTable>,
    pub state: AtomicU8,
    pub stopping: AtomicBool,
    pub discard: AtomicBool,
    pub abandon: AtomicBool,
    pub subs: ArcSwap<Vec<Arc<Subscription>>>,
    pub inbox: Vec<Mutex<Vec<NewSymbol>>>,
    pub inbox_flag: Vec<AtomicU8>,
    /// Per shard: commands queued in its normal lane inside batch chunks. `submit_batch`
    /// keeps it at most `lane_capacity`, so a batch producer meets backpressure after as
    /// many queued commands as a per-order producer does (a lane slot holds a whole chunk).
    pub batch_queued: Vec<CachePadded<AtomicUsize>>,
    /// Producer calls between their check of `stopping` and their push.
    pub producers: CachePadded<AtomicUsize>,
    pub logs: ArrayQueue<LogRecord>,
    pub control: ArrayQueue<Event>,
    /// Every published position (account, symbol), appended by the shards.
    pub positions: ArcSwap<Vec<Arc<crate::positions::PositionCell>>>,
    /// Per account: the risk state the shards share (open orders, order rate).
    pub accounts: crate::risk::Accounts,
    /// Every shard's lanes (a shard sends the other shards a kill when an account hits its
    /// daily loss).
    pub lanes: Vec<Arc<Lanes>>,
}

impl Shared {
    pub fn log(&self, topic: &'static str, message: String) {
        let ts = self.clock.now();
        let _ = self.logs.force_push(LogRecord { topic, message, ts });
    }
    pub fn symbol_name(&self, idx: u32) -> String {
        self.symbols
            .load()
            .entries
            .get(idx as usize)
            .map_or_else(|| format!("#{idx}"), |e| e.name.clone())
    }
}

/// Which events a subscriber receives. Empty sets mean "all".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Bit per event kind code (0 = all kinds).
    pub kinds: u32,
    /// Symbol indices.
    pub symbols: Option<FxHashSet<u32>>,
    /// Accounts (events with another account, or none, are not delivered).
    pub accounts: Option<FxHashSet<u32>>,
    /// Kinds (a bit per code) delivered for every symbol, even one outside `symbols` (a
    /// feed follows some symbols' books, and every symbol's trading status).
    pub every_symbol_kinds: u32,
}

impl Filter {
    /// Whether `e` passes.
    #[inline]
    pub fn matches(&self, e: &Event) -> bool {
        let bit = 1u32.checked_shl(u32::from(e.kind)).unwrap_or(0);
        (self.kinds == 0 || self.kinds & bit != 0)
            && (self.every_symbol_kinds & bit != 0
                || self.symbols.as_ref().is_none_or(|s| s.contains(&e.symbol)))
            && self
                .accounts
                .as_ref()
                .is_none_or(|a| a.contains(&e.account))
    }
}

/// A [`Filter`] as a shard checks it, once per offered event: the followed symbols as a
/// bitset by symbol index instead of a hash lookup, the kind tests first.
#[derive(Debug)]
struct FilterCheck {
    filter: Arc<Filter>,
    symbols: SymbolSet,
    /// Only market-data kinds pass ([`MD_KINDS`]): the shard's index of those is enough.
    md_only: bool,
}

/// The symbols a [`FilterCheck`] lets through.
#[derive(Debug)]
enum SymbolSet {
    Every,
    /// Bit `i % 64` of word `i / 64` per symbol index `i` (symbol indices are dense).
    Bits(Box<[u64]>),
    /// Indices too large for a bitset (never from the engine's own symbol table).
    Hashed,
}

impl FilterCheck {
    /// Largest symbol index kept as a bit (a bitset of 8 KiB).
    const MAX_BIT: u32 = 1 << 16;

    fn new(filter: Filter) -> Self {
        let symbols = match &filter.symbols {
            None => SymbolSet::Every,
            Some(s) if s.iter().all(|&i| i < Self::MAX_BIT) => {
                let words = s.iter().max().map_or(0, |&m| m as usize / 64 + 1);
                let mut bits = vec![0u64; words].into_boxed_slice();
                for &i in s {
                    bits[i as usize / 64] |= 1 << (i % 64);
                }
                SymbolSet::Bits(bits)
            }
            Some(_) => SymbolSet::Hashed,
        };
        FilterCheck {
            md_only: filter.kinds != 0 && filter.kinds & !MD_KINDS == 0,
            filter: Arc::new(filter),
            symbols,
        }
    }

    /// The filter's fields in hand (copied into registers once per offer, not reloaded
    /// through two pointers for every event).
    #[inline]
    fn check(&self) -> Check<'_> {
        let f = &*self.filter;
        let (bits, hashed): (Option<&[u64]>, _) = match &self.symbols {
            SymbolSet::Every => (None, None),
            SymbolSet::Bits(b) => (Some(b), None),
            SymbolSet::Hashed => (None, f.symbols.as_ref()),
        };
        Check {
            kinds: f.kinds,
            every_symbol_kinds: f.every_symbol_kinds,
            bits,
            hashed,
            accounts: f.accounts.as_ref(),
        }
    }

    /// [`Filter::matches`].
    fn matches(&self, e: &Event) -> bool {
        self.check().matches(e)
    }
}

/// [`FilterCheck::check`].
#[derive(Clone, Copy)]
struct Check<'a> {
    kinds: u32,
    every_symbol_kinds: u32,
    bits: Option<&'a [u64]>,
    hashed: Option<&'a FxHashSet<u32>>,
    accounts: Option<&'a FxHashSet<u32>>,
}

impl Check<'_> {
    /// [`Filter::matches`].
    #[inline(always)]
    fn matches(self, e: &Event) -> bool {
        let bit = 1u32.checked_shl(u32::from(e.kind)).unwrap_or(0);
        if self.kinds != 0 && self.kinds & bit == 0 {
            return false;
        }
        if self.every_symbol_kinds & bit == 0 {
            let i = e.symbol as usize;
            if let Some(b) = self.bits {
                if b.get(i / 64).is_none_or(|w| w >> (i % 64) & 1 == 0) {
                    return false;
                }
            } else if let Some(h) = self.hashed {
                if !h.contains(&e.symbol) {
                    return false;
                }
            }
        }
        self.accounts.is_none_or(|a| a.contains(&e.account))
    }
}

/// A subscriber's queue. Lossless subscribers make the shard wait when full (backpressure);
/// conflating ones (market data) lose events instead, and after a gap receive an L2 snapshot
/// of the symbols they follow, marked [`crate::record::EVENT_GAP`] | [`crate::record::EVENT_SNAPSHOT`].
///
/// One single-producer ring per shard (its shard is the only writer: a shard offers its
/// published events in one chunk, one atomic store, instead of a compare-and-swap per event
/// on a queue every shard shares), the capacity split evenly between them; engine events
/// raised outside the shards go through a small queue of their own. A pop drains the
/// engine events first, then each shard's ring in turn: a symbol's events stay in order (a
/// symbol lives on one shard); events of different shards are not interleaved by time.
#[derive(Debug)]
pub struct Subscription {
    /// Replaceable ([`Subscription::set_symbols`]); a shard loads it once per offer.
    filter: ArcSwap<FilterCheck>,
    rings: Box<[SubRing]>,
    /// Symbols whose L2 snapshot was asked for by [`Subscription::set_symbols`], each
    /// served (and removed) by its own shard.
    wanted: Mutex<FxHashSet<u32>>,
    /// Per shard: `wanted` may hold one of its symbols.
    wants: Box<[AtomicBool]>,
    /// Engine events raised outside the shards (config applied or rejected).
    control: ArrayQueue<Event>,
    conflate: bool,
    /// Per shard: events of that shard's symbols were conflated away and no snapshot has
    /// been delivered since.
    gaps: Box<[AtomicBool]>,
    /// Events this subscriber lost to conflation.
    pub conflated: AtomicU64,
    /// Snapshots delivered after gaps.
    pub snapshots: AtomicU64,
    closed: AtomicBool,
}

/// One shard's ring of a [`Subscription`]. Each end is behind a lock that only one thread
/// takes (the shard's for `tx`, the consumer's for `rx`): never contended, taken once per
/// offer or pop, not per event.
#[derive(Debug)]
struct SubRing {
    tx: Mutex<rtrb::Producer<Event>>,
    rx: Mutex<rtrb::Consumer<Event>>,
}

/// The event kinds of market data (book, trade, status), whose indices a shard keeps as
/// it emits them: a subscriber that takes no other kind looks at these only.
pub(crate) const MD_KINDS: u32 = (1 << kind::BOOK) | (1 << kind::TRADE) | (1 << kind::STATUS);

/// The events an offer looks at, by position: every event of a batch, or those at the
/// given indices (the shard's market-data events).
trait Candidates<'a>: Copy {
    fn len(self) -> usize;
    fn at(self, i: usize) -> &'a Event;
    /// The first position from `from` on whose event passes `keep`.
    fn find(self, from: usize, keep: impl Fn(&Event) -> bool) -> Option<usize>;
    /// How many events from `from` on pass `keep`.
    fn count(self, from: usize, keep: impl Fn(&Event) -> bool) -> usize {
        (from..self.len()).filter(|&i| keep(self.at(i))).count()
    }
}

impl<'a> Candidates<'a> for &'a [Event] {
    fn len(self) -> usize {
        <[Event]>::len(self)
    }
    fn at(self, i: usize) -> &'a Event {
        &self[i]
    }
    #[inline(always)]
    fn find(self, from: usize, keep: impl Fn(&Event) -> bool) -> Option<usize> {
        self[from..].iter().position(keep).map(|k| from + k)
    }
}

/// The events of `events` at the positions `at` (ascending).
#[derive(Clone, Copy)]
struct Indexed<'a> {
    events: &'a [Event],
    at: &'a [u32],
}

impl<'a> Candidates<'a> for Indexed<'a> {
    fn len(self) -> usize {
        self.at.len()
    }
    fn at(self, i: usize) -> &'a Event {
        &self.events[self.at[i] as usize]
    }
    #[inline(always)]
    fn find(self, from: usize, keep: impl Fn(&Event) -> bool) -> Option<usize> {
        let events = self.events;
        self.at[from..]
            .iter()
            .position(|&j| keep(&events[j as usize]))
            .map(|k| from + k)
    }
}

/// Write as many of the events of `c` from position `from` on as fit into `tx` (those
/// passing `keep`); returns the position reached: the end, or the first passing event that
/// did not fit.
fn write_some<'a>(
    tx: &mut rtrb::Producer<Event>,
    c: impl Candidates<'a>,
    from: usize,
    keep: impl Fn(&Event) -> bool + Copy,
) -> usize {
    let end = c.len();
    let mut used = from;
    while used < end {
        let room = tx.slots();
        if room == 0 {
            // Nothing more fits: the events that would not be written anyway are consumed
            // too (else a conflating subscriber saw a gap where it lost nothing).
            used = c.find(used, keep).unwrap_or(end);
            break;
        }
        let Ok(mut chunk) = tx.write_chunk_uninit(room) else {
            break;
        };
        // A plain loop over both halves of the ring (`fill_from_iter` through an iterator
        // chain: 36 instructions per offered event against 24, most events skipped).
        let (a, b) = chunk.as_mut_slices();
        let mut wrote = 0;
        for slots in [a, b] {
            let mut k = 0;
            while k < slots.len() {
                let Some(next) = c.find(used, keep) else {
                    used = end;
                    break;
                };
                slots[k].write(*c.at(next));
                used = next + 1;
                k += 1;
            }
            wrote += k;
        }
        // SAFETY: the first `wrote` slots of the chunk (all of `a` before any of `b`) were
        // written just above.
        unsafe { chunk.commit(wrote) };
        // At the end (else the ring is full: see above).
        if wrote < room {
            break;
        }
    }
    used
}

/// Move up to `want` events from `rx` to `out` (one chunk: both halves of the ring).
fn read_ring(rx: &mut rtrb::Consumer<Event>, out: &mut Vec<Event>, want: usize) {
    let n = rx.slots().min(want);
    if n == 0 {
        return;
    }
    if let Ok(chunk) = rx.read_chunk(n) {
        let (a, b) = chunk.as_slices();
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        chunk.commit_all();
    }
}

impl Subscription {
    /// Offer a shard's published events (`md`: the indices of the market-data events among
    /// them, when the shard knows them). `snapshot` writes the L2 snapshot of the shard's
    /// symbols that pass the filter (see [`EVENT_SNAPSHOT`]); a conflated subscriber in a gap
    /// gets that instead of the events, once its queue has room for all of it.
    pub(crate) fn offer(
        &self,
        events: &[Event],
        md: Option<&[u32]>,
        shared: &Shared,
        shard: usize,
        snapshot: &mut dyn FnMut(&Filter, usize, &mut Vec<Event>),
    ) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let filter = self.filter.load();
        match md {
            Some(at) if filter.md_only => {
                self.offer_from(Indexed { events, at }, &filter, shared, shard, snapshot);
            }
            _ => self.offer_from(events, &filter, shared, shard, snapshot),
        }
    }

    /// [`Subscription::offer`] of the events `c` (all those `filter` may pass).
    fn offer_from<'a>(
        &self,
        c: impl Candidates<'a>,
        filter: &FilterCheck,
        shared: &Shared,
        shard: usize,
        snapshot: &mut dyn FnMut(&Filter, usize, &mut Vec<Event>),
    ) {
        let i = shard.min(self.rings.len() - 1);
        let gap = &self.gaps[i];
        let ring = &self.rings[i];
        let check = filter.check();
        let keep = |e: &Event| check.matches(e);
        let mut tx = ring.tx.lock().unwrap_or_else(|p| p.into_inner());
        if self.conflate && gap.load(Ordering::Relaxed) {
            // A snapshot is built only once the reader has emptied half the ring, sized to
            // the room there is (fewer levels a side only if that is small): a reader
            // starved of CPU leaves the ring full, and the shard would otherwise build and
            // drop a snapshot at every offer (~10 % of a shard, `engine_bench --only s`
            // with `HFTBOOK_SUB_STARVED=1`).
            let room = tx.slots();
            let mut snap = Vec::new();
            if room >= Self::half(&tx) {
                snapshot(&filter.filter, room, &mut snap);
            }
            // A snapshot cut short stays a gap and is sent again: all of it or nothing.
            let mut sent = 0;
            if !snap.is_empty() && snap.len() <= tx.slots() {
                let all = write_some(&mut tx, &snap[..], 0, |_| true);
                debug_assert_eq!(all, snap.len());
                gap.store(false, Ordering::Relaxed);
                self.snapshots.fetch_add(1, Ordering::Relaxed);
                // A halt or resume is no part of the books: it follows the snapshot (or a
                // subscriber would show a halted symbol as trading until the next change).
                let mut status: Vec<Event> = (0..c.len())
                    .map(|k| *c.at(k))
                    .filter(|e| e.kind == kind::STATUS && keep(e))
                    .collect();
                status.truncate(tx.slots());
                sent = write_some(&mut tx, &status[..], 0, |_| true);
            }
            // The snapshot shows the books after these events: they are not sent.
            let lost = c.count(0, keep) - sent;
            self.conflated.fetch_add(lost as u64, Ordering::Relaxed);
            return;
        }
        // Cleared before `wanted` is read: a symbol added after the read sets it again.
        if self.conflate && self.wants[i].swap(false, Ordering::AcqRel) {
            self.serve_wanted(&mut tx, i, snapshot);
        }
        let mut at = 0;
        loop {
            at = write_some(&mut tx, c, at, keep);
            if at == c.len() {
                return;
            }
            if self.conflate {
                gap.store(true, Ordering::Relaxed);
                let lost = c.count(at, keep);
                self.conflated.fetch_add(lost as u64, Ordering::Relaxed);
                return;
            }
            if self.closed.load(Ordering::Acquire) || shared.abandon.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    /// Half a ring's capacity (at least one slot).
    fn half(tx: &rtrb::Producer<Event>) -> usize {
        tx.buffer().capacity().div_ceil(2)
    }

    /// Write the snapshots of the symbols of `wanted` that live on this shard (the
    /// `snapshot` callback writes only its own), all of them or, without room for all,
    /// none: then asked again at the shard's next offer.
    fn serve_wanted(
        &self,
        tx: &mut rtrb::Producer<Event>,
        shard: usize,
        snapshot: &mut dyn FnMut(&Filter, usize, &mut Vec<Event>),
    ) {
        let mut wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
        if wanted.is_empty() {
            return;
        }
        // As after a gap: once half the ring is free, sized to the room there is.
        let room = tx.slots();
        if room < Self::half(tx) {
            self.wants[shard].store(true, Ordering::Release);
            return;
        }
        let only = Filter {
            symbols: Some(wanted.clone()),
            ..Filter::default()
        };
        let mut snap = Vec::new();
        snapshot(&only, room, &mut snap);
        if snap.is_empty() {
            return;
        }
        if snap.len() > tx.slots() {
            self.wants[shard].store(true, Ordering::Release);
            return;
        }
        let all = write_some(tx, &snap[..], 0, |_| true);
        debug_assert_eq!(all, snap.len());
        for e in snap.iter().filter(|e| e.side == 2) {
            wanted.remove(&e.symbol);
        }
        self.snapshots.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether this conflating subscriber lost events of `shard` and still waits for its
    /// snapshot, or asked for the snapshot of a symbol it newly follows.
    pub(crate) fn in_gap(&self, shard: usize) -> bool {
        let i = shard.min(self.gaps.len() - 1);
        self.conflate
            && !self.closed.load(Ordering::Relaxed)
            && (self.gaps[i].load(Ordering::Relaxed) || self.wants[i].load(Ordering::Relaxed))
    }

    /// The filter in force.
    pub fn filter(&self) -> Arc<Filter> {
        self.filter.load().filter.clone()
    }

    /// Follow `symbols` from now on (`None`: every symbol), the rest of the filter kept.
    /// A conflating subscriber first gets, from each symbol's shard, the L2 snapshot of
    /// every symbol of `snapshot_of` (those it newly follows; flagged
    /// [`crate::record::EVENT_SNAPSHOT`]), then that symbol's events: the first of them may
    /// be already in the snapshot (`symbol_seq` up to the snapshot's), which the
    /// subscriber skips. Nothing is lost for the symbols it kept.
    pub fn set_symbols(&self, symbols: Option<FxHashSet<u32>>, snapshot_of: &[u32]) {
        if self.conflate && !snapshot_of.is_empty() {
            self.wanted
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(snapshot_of.iter().copied());
            // Before the new filter: a shard that sees the filter sees these (its offer
            // loads the filter, then reads its flag).
            for w in self.wants.iter() {
                w.store(true, Ordering::SeqCst);
            }
        }
        let mut f = (*self.filter()).clone();
        f.symbols = symbols;
        self.filter.store(Arc::new(FilterCheck::new(f)));
    }

    /// Offer an engine event raised outside the shards (config applied or rejected): no
    /// book is behind it, so a conflated subscriber that has no room just counts it lost.
    pub(crate) fn offer_control(&self, e: &Event, shared: &Shared) {
        if self.closed.load(Ordering::Acquire) || !self.filter.load().matches(e) {
            return;
        }
        let mut ev = *e;
        while let Err(back) = self.control.push(ev) {
            if self.conflate {
                self.conflated.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if self.closed.load(Ordering::Acquire) || shared.abandon.load(Ordering::Acquire) {
                return;
            }
            ev = back;
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    /// Move up to `max` queued events to `out` (engine events, then each shard's).
    fn drain(&self, out: &mut Vec<Event>, max: usize) {
        let start = out.len();
        while out.len() - start < max {
            match self.control.pop() {
                Some(e) => out.push(e),
                None => break,
            }
        }
        for ring in self.rings.iter() {
            let want = max - (out.len() - start);
            if want == 0 {
                break;
            }
            let mut rx = ring.rx.lock().unwrap_or_else(|p| p.into_inner());
            read_ring(&mut rx, out, want);
        }
    }

    /// Take up to `max` events, waiting up to `timeout` for the first.
    pub fn pop_batch(&self, out: &mut Vec<Event>, max: usize, timeout: Duration) -> usize {
        let start = out.len();
        let deadline = Instant::now() + timeout;
        loop {
            self.drain(out, max);
            if out.len() > start
                || Instant::now() >= deadline
                || self.closed.load(Ordering::Acquire)
            {
                return out.len() - start;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Ask every shard for a fresh L2 snapshot of this conflating subscriber's symbols, as
    /// after a gap: each shard delivers it (flagged [`crate::record::EVENT_SNAPSHOT`]) at its
    /// next publish or idle loop, instead of its events until then. A subscriber that starts
    /// after the books have orders calls it once to learn them. No-op when not conflating.
    pub fn request_snapshot(&self) {
        if self.conflate {
            for g in self.gaps.iter() {
                g.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Stop delivering to this subscriber.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
    /// Whether closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// A producer inside intake (see `Engine::intake`).
pub(crate) struct IntakeGuard<'a>(&'a AtomicUsize);

impl Drop for IntakeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What [`Engine::try_submit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySubmit {
    /// Queued under this order id.
    Queued(u64),
    /// The lane was full: the prepared command (id assigned), for
    /// [`Engine::submit_prepared`].
    Full(Command),
}

/// A new order, as the producer API takes it (prices in ticks, quantities in lots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest {
    /// Symbol index ([`Engine::symbol_index`]).
    pub symbol: u32,
    /// Side.
    pub side: Side,
    /// [`order_type`] code.
    pub order_type: u8,
    /// Limit price (limit, stop-limit).
    pub price: i64,
    /// Trigger (stop, stop-limit).
    pub stop_price: i64,
    /// Lots.
    pub qty: u64,
    /// Iceberg display lots (0 = all).
    pub display_qty: u64,
    /// [`tif`] code.
    pub tif: u8,
    /// GTD expiry (engine time, ns).
    pub expire_at: u64,
    /// Post-only.
    pub post_only: bool,
    /// STP code (0 = symbol default).
    pub stp: u8,
    /// Account.
    pub account: u32,
    /// Client id.
    pub client_id: u64,
    /// Send through the priority lane.
    pub urgent: bool,
}

impl OrderRequest {
    /// A GTC limit order.
    pub fn limit(symbol: u32, side: Side, price: i64, qty: u64) -> OrderRequest {
        OrderRequest {
            symbol,
            side,
            order_type: order_type::LIMIT,
            price,
            stop_price: 0,
            qty,
            display_qty: 0,
            tif: tif::GTC,
            expire_at: 0,
            post_only: false,
            stp: 0,
            account: 0,
            client_id: 0,
            urgent: false,
        }
    }
    /// The command record (order id 0).
    pub fn to_command(&self) -> Command {
        Command {
            kind: cmd::SUBMIT,
            symbol: self.symbol,
            side: self.side as u8,
            order_type: self.order_type,
            price: self.price,
            stop_price: self.stop_price,
            qty: self.qty,
            display_qty: self.display_qty,
            tif: self.tif,
            expire_at: self.expire_at,
            stp: self.stp,
            account: self.account,
            client_id: self.client_id,
            flags: (if self.urgent { flag::URGENT } else { 0 })
                | (if self.post_only { flag::POST_ONLY } else { 0 }),
            ..Command::default()
        }
    }
}

/// What `stop` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StopReport {
    /// Commands executed after intake closed (the drain).
    pub drained: u64,
    /// Queued commands refused with `rejected: shutdown` (stop without drain).
    pub refused: u64,
    /// Events nobody could receive (the engine stopped while its event buffer was full).
    pub events_discarded: u64,
    /// Whether every thread ended within the timeout.
    pub clean: bool,
}

/// What `reload_config` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Keys applied.
    pub applied: Vec<String>,
    /// Keys that changed but need a restart (not applied).
    pub restart_only: Vec<String>,
    /// Symbols added.
    pub added_symbols: Vec<String>,
}

/// A shard's figures.
#[derive(Debug, Clone)]
pub struct ShardSnapshot {
    /// Commands executed.
    pub commands: u64,
    /// Events published.
    pub events: u64,
    /// Rejections by reason code.
    pub rejects: Vec<u64>,
    /// Lane depths now (priority, normal) and highest seen.
    pub depth: (u64, u64),
    /// Highest depths seen.
    pub high_water: (u64, u64),
    /// Commands queued (priority, normal).
    pub pushed: (u64, u64),
    /// Producer waits on a full lane (priority, normal).
    pub waits: (u64, u64),
    /// Producer calls refused by a full lane (priority, normal).
    pub lane_rejections: (u64, u64),
    /// Commands that waited for an earlier command of the same order.
    pub parked: u64,
    /// Times the shard parked idle.
    pub parks: u64,
    /// Times the shard waited on a full event buffer.
    pub event_waits: u64,
    /// Events discarded at shutdown.
    pub events_discarded: u64,
    /// Thread CPU time, ns.
    pub cpu_ns: u64,
    /// Latency histograms.
    pub latencies: Latencies,
}

/// The trading engine. See the crate docs.
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
    pub(crate) lanes: Vec<Arc<Lanes>>,
    pub(crate) stats: Vec<Arc<ShardStats>>,
    consumers: Vec<Mutex<Option<rtrb::Consumer<Event>>>>,
    producers: Mutex<Vec<Option<rtrb::Producer<Event>>>>,
    threads: Mutex<Vec<JoinHandle<Shard>>>,
    pub(crate) admin: Mutex<()>,
    pub(crate) next_shard: AtomicUsize,
    poll_cursor: AtomicUsize,
    /// The journal (journaled engines).
    pub(crate) journal: Option<Arc<crate::recovery::JournalHandle>>,
    /// Shards built before start (by a recovery), used by `start`.
    pub(crate) prepared: Mutex<Vec<Option<Shard>>>,
    /// Shards after stop (their books and state, for hashes).
    pub(crate) finished: Mutex<Vec<Shard>>,
    /// What the recovery that built this engine found.
    pub(crate) recovery: Mutex<Option<crate::recovery::RecoveryReport>>,
    /// Simulation mode: the simulator that drives the shards.
    pub(crate) sim: Option<Box<crate::sim::Sim>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("shards", &self.lanes.len())
            .field("state", &self.state())
            .finish()
    }
}

impl Engine {
    /// An engine (not started) with the config's symbols.
    ///
    /// # Errors
    /// A symbol that cannot be added.
    pub fn new(config: EngineConfig) -> Result<Engine, EngineError> {
        Self::with_clock(config, Clock::default())
    }

    /// An engine with a given clock (tests and replay use a manual one).
    ///
    /// # Errors
    /// A symbol that cannot be added.
    pub fn with_clock(config: EngineConfig, clock: Clock) -> Result<Engine, EngineError> {
        let shards = config.engine.shards.max(1);
        let mut consumers = Vec::new();
        let mut producers = Vec::new();
        for _ in 0..shards {
            if config.engine.keep_events {
                let (p, c) = rtrb::RingBuffer::new(config.engine.event_capacity);
                producers.push(Some(p));
                consumers.push(Mutex::new(Some(c)));
            } else {
                producers.push(None);
                consumers.push(Mutex::new(None));
            }
        }
        let lanes: Vec<Arc<Lanes>> = (0..shards)
            .map(|_| {
                Arc::new(Lanes::new(
                    config.engine.priority_capacity,
                    config.engine.lane_capacity,
                ))
            })
            .collect();
        let symbols = config.symbols.clone();
        let shared = Arc::new(Shared {
            routes: OrderRoutes::new(),
            next_order_id: AtomicU64::new(1),
            cmd_seq: AtomicU64::new(0),
            event_seq: AtomicU64::new(0),
            clock,
            breaker: AtomicU8::new(0),
            breaker_since: AtomicU64::new(0),
            config: ArcSwap::from_pointee(config),
            config_gen: AtomicU64::new(0),
            symbols: ArcSwap::from_pointee(SymbolTable::default()),
            state: AtomicU8::new(STATE_CREATED),
            stopping: AtomicBool::new(false),
            discard: AtomicBool::new(false),
            abandon: AtomicBool::new(false),
            subs: ArcSwap::from_pointee(Vec::new()),
            inbox: (0..shards).map(|_| Mutex::new(Vec::new())).collect(),
            inbox_flag: (0..shards).map(|_| AtomicU8::new(0)).collect(),
            producers: CachePadded::new(AtomicUsize::new(0)),
            batch_queued: (0..shards)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
            logs: ArrayQueue::new(4096),
            control: ArrayQueue::new(4096),
            positions: ArcSwap::from_pointee(Vec::new()),
            accounts: crate::risk::Accounts::new(shards),
            lanes: lanes.clone(),
        });
        let engine = Engine {
            shared,
            lanes,
            stats: (0..shards)
                .map(|_| Arc::new(ShardStats::default()))
                .collect(),
            consumers,
            producers: Mutex::new(producers),
            threads: Mutex::new(Vec::new()),
            admin: Mutex::new(()),
            next_shard: AtomicUsize::new(0),
            poll_cursor: AtomicUsize::new(0),
            journal: None,
            prepared: Mutex::new(Vec::new()),
            finished: Mutex::new(Vec::new()),
            recovery: Mutex::new(None),
            sim: None,
        };
        for (name, cfg) in symbols {
            engine.add_symbol_inner(&name, cfg, false)?;
        }
        Ok(engine)
    }

    /// Shards.
    pub fn shards(&self) -> usize {
        self.lanes.len()
    }

    /// The engine's clock (ns): the time base of `expire_at`, timestamps and halts.
    pub fn now(&self) -> u64 {
        self.shared.clock.now()
    }

    /// The running configuration.
    pub fn config(&self) -> Arc<EngineConfig> {
        self.shared.config.load_full()
    }

    /// The symbol table.
    pub fn symbols(&self) -> Arc<SymbolTable> {
        self.shared.symbols.load_full()
    }

    /// A symbol's index.
    pub fn symbol_index(&self, name: &str) -> Option<u32> {
        self.shared.symbols.load().by_name.get(name).copied()
    }

    /// State code ([`STATE_NAMES`]).
    pub fn state(&self) -> u8 {
        self.shared.state.load(Ordering::Acquire)
    }

    /// Add a symbol (at any time; a running engine starts trading it at once).
    ///
    /// # Errors
    /// An invalid name, a duplicate, or a shard beyond the engine's.
    pub fn add_symbol(&self, name: &str, cfg: SymbolConfig) -> Result<u32, EngineError> {
        self.add_symbol_inner(name, cfg, true)
    }

    pub(crate) fn add_symbol_inner(
        &self,
        name: &str,
        cfg: SymbolConfig,
        log: bool,
    ) -> Result<u32, EngineError> {
        let _g = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        if !valid_symbol_name(name) {
            return Err(EngineError::Invalid {
                field: "symbol",
                value: format!("{name:?}"),
                rule: "a symbol is 1 to 32 characters: letters, digits and . _ - / :".into(),
            });
        }
        let table = self.shared.symbols.load_full();
        if table.by_name.contains_key(name) {
            return Err(EngineError::DuplicateSymbol(name.to_owned()));
        }
        let shard = match cfg.shard {
            Some(s) if s >= self.lanes.len() => {
                return Err(EngineError::Invalid {
                    field: "shard",
                    value: s.to_string(),
                    rule: format!("must be below the engine's shards ({})", self.lanes.len()),
                })
            }
            Some(s) => s,
            None => self.next_shard.fetch_add(1, Ordering::Relaxed) % self.lanes.len(),
        };
        let idx = table.entries.len() as u32;
        if let Some(j) = &self.journal {
            // Durable before the symbol can be traded (recovery re-adds it from the file).
            j.record_symbol(&table, name, shard, &cfg)?;
        }
        let limits = QtyLimits {
            min_qty: cfg.min_qty,
            max_qty: cfg.max_qty,
        };
        let mut book: OrderBook =
            OrderBook::with_options(self.shared.clock.clone(), limits, cfg.stp);
        let live = Arc::new(SymbolLive {
            last_trade: AtomicI64::new(i64::MIN),
            trades: AtomicU64::new(0),
            status: AtomicU8::new(0),
            reader: book.reader(),
        });
        {
            let mut inbox = self.shared.inbox[shard]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            inbox.push(NewSymbol {
                idx,
                book,
                cfg: cfg.clone(),
                live: live.clone(),
            });
        }
        let mut next = (*table).clone();
        next.entries.push(SymbolEntry {
            name: name.to_owned(),
            shard,
            cfg,
            live,
        });
        next.by_name.insert(name.to_owned(), idx);
        self.shared.symbols.store(Arc::new(next));
        self.shared.inbox_flag[shard].store(1, Ordering::Release);
        self.lanes[shard].wake();
        if log {
            self.shared
                .log("config", format!("symbol {name} added on shard {shard}"));
        }
        Ok(idx)
    }

    /// Start the shard threads.
    ///
    /// # Errors
    /// Already started, or stopped.
    pub fn start(&self) -> Result<(), EngineError> {
        let _g = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let st = self.state();
        if st != STATE_CREATED {
            return Err(EngineError::Lifecycle {
                action: "start",
                state: STATE_NAMES[st as usize],
            });
        }
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        let mut prepared = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(j) = &self.journal {
            j.start_writer(&self.lanes)?;
        }
        self.shared.state.store(STATE_RUNNING, Ordering::Release);
        // Recovered shards publish their accounts' exposure first: portfolio limits are
        // checked against every shard's part from the first order on.
        for s in prepared.iter_mut().flatten() {
            s.publish_recovered_exposure();
        }
        let mut sim_shards = Vec::new();
        for (i, lanes) in self.lanes.iter().enumerate() {
            let events = EventOut {
                // Simulation mode: events go to `sim_run`'s caller, not the poll stream.
                main: if self.sim.is_some() {
                    None
                } else {
                    producers.get_mut(i).and_then(Option::take)
                },
            };
            let mut shard = match prepared.get_mut(i).and_then(Option::take) {
                Some(s) => s,
                None => Shard::new(
                    i,
                    self.shared.clone(),
                    lanes.clone(),
                    self.stats[i].clone(),
                    EventOut { main: None },
                ),
            };
            shard.attach_events(events);
            if let Some(j) = &self.journal {
                if let Some(tx) = j.take_shard_end(i) {
                    shard.attach_journal(tx, j.opts.fsync.gates_events());
                }
            }
            if self.sim.is_some() {
                sim_shards.push(shard);
                continue;
            }
            let h = std::thread::Builder::new()
                .name(format!("hftbook-shard-{i}"))
                .spawn(move || shard.run());
            match h {
                Ok(h) => threads.push(h),
                Err(e) => {
                    self.shared
                        .log("lifecycle", format!("could not start shard {i}: {e}"));
                    return Err(EngineError::Lifecycle {
                        action: "start (thread spawn failed)",
                        state: "created",
                    });
                }
            }
        }
        if self.sim.is_some() {
            self.start_sim(sim_shards);
            self.shared.log(
                "lifecycle",
                format!(
                    "engine started in simulation mode with {} shard(s)",
                    self.lanes.len()
                ),
            );
            return Ok(());
        }
        self.shared.log(
            "lifecycle",
            format!("engine started with {} shard(s)", self.lanes.len()),
        );
        Ok(())
    }

    /// Pause matching (cancels still run; new orders queue or are rejected per config).
    ///
    /// # Errors
    /// Not running.
    pub fn pause(&self) -> Result<(), EngineError> {
        self.transition(STATE_RUNNING, STATE_PAUSED, "pause")
    }

    /// Resume after `pause`.
    ///
    /// # Errors
    /// Not paused.
    pub fn resume(&self) -> Result<(), EngineError> {
        self.transition(STATE_PAUSED, STATE_RUNNING, "resume")
    }

    fn transition(&self, from: u8, to: u8, action: &'static str) -> Result<(), EngineError> {
        self.shared
            .state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|st| EngineError::Lifecycle {
                action,
                state: STATE_NAMES[st as usize],
            })?;
        for l in &self.lanes {
            l.wake();
        }
        self.shared
            .log("lifecycle", format!("engine {}", STATE_NAMES[to as usize]));
        Ok(())
    }

    /// Stop: close intake, drain (or refuse) what is queued, join every thread.
    pub fn stop(&self, drain: bool, timeout: Duration) -> StopReport {
        let _g = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let st = self.state();
        if st == STATE_STOPPED {
            return StopReport {
                clean: true,
                ..StopReport::default()
            };
        }
        let before: u64 = self
            .stats
            .iter()
            .map(|s| s.commands.load(Ordering::Relaxed))
            .sum();
        let refused_before = self
            .stats
            .iter()
            .map(|s| s.rejects[reason::SHUTDOWN as usize].load(Ordering::Relaxed))
            .sum::<u64>();
        if st == STATE_CREATED {
            self.shared.stopping.store(true, Ordering::SeqCst);
            if self.shared.producers.load(Ordering::SeqCst) == 0
                && self.lanes.iter().all(|l| l.is_empty())
            {
                // Never started and nothing queued: nothing to run (a recovered engine
                // dropped unstarted leaves its journal as it found it).
                self.shared.state.store(STATE_STOPPED, Ordering::Release);
                self.shared
                    .log("lifecycle", "engine stopped (never started)".into());
                return StopReport {
                    clean: true,
                    ..StopReport::default()
                };
            }
        }
        self.shared.state.store(STATE_STOPPING, Ordering::Release);
        self.shared.discard.store(!drain, Ordering::Release);
        self.shared.stopping.store(true, Ordering::SeqCst);
        if self.sim.is_some() {
            let (drained, shards) = self.stop_sim(drain);
            *self.finished.lock().unwrap_or_else(|p| p.into_inner()) = shards;
            if let Some(j) = &self.journal {
                j.join_writer();
            }
            self.shared.state.store(STATE_STOPPED, Ordering::Release);
            self.shared.log(
                "lifecycle",
                format!("simulation stopped: {drained} queued command(s) applied"),
            );
            return StopReport {
                drained,
                clean: true,
                ..StopReport::default()
            };
        }
        let mut threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        if st == STATE_CREATED {
            // Never started: run the shards now so that queued commands are drained, or
            // refused with `rejected: shutdown` (never dropped silently).
            drop(threads);
            drop(_g);
            let _ = self.start_for_drain();
            threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        }
        let deadline = Instant::now() + timeout;
        let mut clean = true;
        loop {
            for l in &self.lanes {
                l.wake();
            }
            if threads.iter().all(|h| h.is_finished()) {
                break;
            }
            if Instant::now() >= deadline && !self.shared.abandon.load(Ordering::Acquire) {
                // Nobody is taking events: let the shards finish without delivering them.
                clean = false;
                self.shared.abandon.store(true, Ordering::Release);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut done = Vec::new();
        for h in threads {
            if let Ok(s) = h.join() {
                done.push(s);
            }
        }
        done.sort_by_key(|s| s.id);
        *self.finished.lock().unwrap_or_else(|p| p.into_inner()) = done;
        if let Some(j) = &self.journal {
            j.join_writer();
        }
        self.shared.state.store(STATE_STOPPED, Ordering::Release);
        let after: u64 = self
            .stats
            .iter()
            .map(|s| s.commands.load(Ordering::Relaxed))
            .sum();
        let refused = self
            .stats
            .iter()
            .map(|s| s.rejects[reason::SHUTDOWN as usize].load(Ordering::Relaxed))
            .sum::<u64>()
            - refused_before;
        let discarded = self
            .stats
            .iter()
            .map(|s| s.events_discarded.load(Ordering::Relaxed))
            .sum();
        let report = StopReport {
            drained: after - before,
            refused,
            events_discarded: discarded,
            clean,
        };
        self.shared.log(
            "lifecycle",
            format!(
                "engine stopped: {} command(s) drained, {} refused, {} event(s) discarded",
                report.drained, report.refused, report.events_discarded
            ),
        );
        report
    }

    fn start_for_drain(&self) -> Result<(), EngineError> {
        // Same as start, from the stopping state.
        self.shared.state.store(STATE_CREATED, Ordering::Release);
        let r = self.start();
        self.shared.state.store(STATE_STOPPING, Ordering::Release);
        r
    }

    /// Enter intake: counted in `Shared::producers` until the guard drops, so that a shard
    /// never exits between a producer's check of `stopping` and its push (the shard leaves
    /// only when it sees `stopping`, then no producer inside, then empty lanes: all SeqCst).
    pub(crate) fn intake(&self) -> Result<IntakeGuard<'_>, EngineError> {
        self.shared.producers.fetch_add(1, Ordering::SeqCst);
        let guard = IntakeGuard(&self.shared.producers);
        self.check_intake()?;
        Ok(guard)
    }

    fn check_intake(&self) -> Result<(), EngineError> {
        if let Some(j) = &self.journal {
            if j.js.failed.load(Ordering::Acquire) {
                return Err(EngineError::JournalFailed(
                    j.js.failure().unwrap_or_default(),
                ));
            }
        }
        if self.shared.stopping.load(Ordering::SeqCst) {
            let st = self.state();
            return Err(EngineError::NotRunning {
                state: STATE_NAMES[st as usize],
            });
        }
        Ok(())
    }

    fn push(
        &self,
        shard: usize,
        urgent: bool,
        item: Ingress,
        enqueued: usize,
    ) -> Result<(), EngineError> {
        let lanes = &self.lanes[shard];
        self.push_with(shard, urgent, item, enqueued, |item| {
            lanes.try_push(urgent, item)
        })
    }

    /// Push a batch chunk: within the shard's batch budget (`lane_capacity` commands queued
    /// in chunks), then into the normal lane.
    fn push_chunk(
        &self,
        shard: usize,
        chunk: &[Command],
        enqueued: usize,
    ) -> Result<(), EngineError> {
        let lanes = &self.lanes[shard];
        let budget = &self.shared.batch_queued[shard];
        let cap = self.shared.config.load().engine.lane_capacity;
        let n = chunk.len();
        let item = Ingress::Many(chunk.into());
        self.push_with(shard, false, item, enqueued, |item| {
            let queued = budget.load(Ordering::Acquire);
            // An empty budget always takes one chunk, so a chunk larger than the lane fits.
            if queued > 0 && queued + n > cap {
                return Err(item);
            }
            budget.fetch_add(n, Ordering::AcqRel);
            lanes.try_push(false, item).inspect_err(|_| {
                budget.fetch_sub(n, Ordering::AcqRel);
            })
        })
    }

    /// Try `try_once` until it succeeds, the `on_full` policy gives up, or intake closes.
    fn push_with(
        &self,
        shard: usize,
        urgent: bool,
        item: Ingress,
        enqueued: usize,
        mut try_once: impl FnMut(Ingress) -> Result<(), Ingress>,
    ) -> Result<(), EngineError> {
        if let Some(sim) = self.sim.as_deref() {
            // Simulation mode: into the simulator's time line, never a lane.
            match item {
                Ingress::One(c) => sim.enqueue(shard, c),
                Ingress::Many(cs) => {
                    for c in cs.iter() {
                        sim.enqueue(shard, *c);
                    }
                }
            }
            return Ok(());
        }
        let lanes = &self.lanes[shard];
        let mut item = match try_once(item) {
            Ok(()) => return Ok(()),
            Err(back) => back,
        };
        let cfg = self.shared.config.load();
        let stats = if urgent {
            &lanes.priority_stats
        } else {
            &lanes.normal_stats
        };
        let lane = if urgent { "priority" } else { "normal" };
        let start = Instant::now();
        if cfg.engine.on_full == OnFull::Reject {
            stats.rejections.fetch_add(1, Ordering::Relaxed);
            return Err(EngineError::Backpressure {
                lane,
                shard,
                waited_us: 0,
                enqueued,
            });
        }
        stats.waits.fetch_add(1, Ordering::Relaxed);
        let deadline = start + Duration::from_millis(cfg.engine.full_timeout_ms);
        let mut spins = 0u32;
        loop {
            match try_once(item) {
                Ok(()) => return Ok(()),
                Err(back) => item = back,
            }
            if self.shared.stopping.load(Ordering::Acquire) {
                return Err(EngineError::NotRunning {
                    state: STATE_NAMES[self.state() as usize],
                });
            }
            let now = Instant::now();
            if now >= deadline {
                stats.rejections.fetch_add(1, Ordering::Relaxed);
                return Err(EngineError::Backpressure {
                    lane,
                    shard,
                    waited_us: now.duration_since(start).as_micros() as u64,
                    enqueued,
                });
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else if spins < 128 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(10));
            }
        }
    }

    pub(crate) fn shard_of(&self, symbol: u32) -> Result<usize, EngineError> {
        self.shared
            .symbols
            .load()
            .entries
            .get(symbol as usize)
            .map(|e| e.shard)
            .ok_or_else(|| EngineError::UnknownSymbol(format!("#{symbol}")))
    }

    /// Check a submit command against the symbol's rules (producer side, nothing queued).
    ///
    /// # Errors
    /// The first field that breaks a rule.
    pub fn validate_submit(&self, c: &Command) -> Result<(), EngineError> {
        self.check_submit(c).map(|_| ())
    }

    /// [`Engine::validate_submit`], giving the symbol's shard (one load of the symbol table
    /// per order).
    fn check_submit(&self, c: &Command) -> Result<usize, EngineError> {
        let table = self.shared.symbols.load();
        let Some(entry) = table.entries.get(c.symbol as usize) else {
            return Err(EngineError::UnknownSymbol(format!("#{}", c.symbol)));
        };
        let bad = |field: &'static str, value: String, rule: &str| EngineError::Invalid {
            field,
            value,
            rule: rule.to_owned(),
        };
        if c.side > 1 {
            return Err(bad(
                "side",
                c.side.to_string(),
                "must be 0 (buy) or 1 (sell)",
            ));
        }
        if c.order_type > order_type::STOP_LIMIT {
            return Err(bad(
                "order_type",
                c.order_type.to_string(),
                "must be 0 limit, 1 market, 2 stop or 3 stop_limit",
            ));
        }
        if c.tif > tif::GTD {
            return Err(bad(
                "tif",
                c.tif.to_string(),
                "must be 0 gtc, 1 ioc, 2 fok, 3 day or 4 gtd",
            ));
        }
        if c.stp > 4 {
            return Err(bad(
                "stp",
                c.stp.to_string(),
                "must be 0 (symbol default) to 4",
            ));
        }
        if c.flags & !(flag::URGENT | flag::POST_ONLY) != 0 {
            return Err(bad(
                "flags",
                c.flags.to_string(),
                "only urgent (1) and post_only (2) may be set",
            ));
        }
        let stop = matches!(c.order_type, order_type::STOP | order_type::STOP_LIMIT);
        let market = matches!(c.order_type, order_type::MARKET | order_type::STOP);
        if stop {
            Price::new_checked(c.stop_price)
                .map_err(|e| bad("stop_price", c.stop_price.to_string(), &e.to_string()))?;
        } else if c.stop_price != 0 {
            return Err(bad(
                "stop_price",
                c.stop_price.to_string(),
                "only stop and stop_limit orders take a stop_price",
            ));
        }
        if c.order_type == order_type::MARKET && matches!(c.tif, tif::DAY | tif::GTD) {
            return Err(bad(
                "tif",
                tif::NAMES[c.tif as usize].to_owned(),
                "a market order never rests: use ioc or fok",
            ));
        }
        if c.tif == tif::GTD {
            let now = self.shared.clock.now();
            if c.expire_at <= now {
                return Err(bad(
                    "expire_at",
                    c.expire_at.to_string(),
                    &format!("a GTD order must expire after the engine's now ({now} ns)"),
                ));
            }
        } else if c.expire_at != 0 {
            return Err(bad(
                "expire_at",
                c.expire_at.to_string(),
                "only GTD orders (tif gtd) take expire_at",
            ));
        }
        let book_tif = match c.tif {
            tif::IOC => TimeInForce::Ioc,
            tif::FOK => TimeInForce::Fok,
            _ => TimeInForce::Gtc,
        };
        let o = NewOrder {
            id: 0,
            side: if c.side == 0 { Side::Buy } else { Side::Sell },
            order_type: if market {
                OrderType::Market
            } else {
                OrderType::Limit
            },
            price: Price(c.price),
            qty: c.qty,
            display_qty: c.display_qty,
            tif: book_tif,
            post_only: c.flags & flag::POST_ONLY != 0,
            account: c.account,
            stp: None,
        };
        let limits = QtyLimits {
            min_qty: entry.cfg.min_qty,
            max_qty: entry.cfg.max_qty,
        };
        o.check(limits).map_err(|e| order_error(&e, c))?;
        Ok(entry.shard)
    }

    /// Submit a new order; returns its engine order id at once (the outcome comes as events).
    ///
    /// # Errors
    /// Invalid arguments (nothing queued), backpressure, a stopped engine.
    pub fn submit(&self, r: &OrderRequest) -> Result<u64, EngineError> {
        self.submit_command(r.to_command())
    }

    /// Submit a command record (`kind` submit; `order_id` is assigned here).
    ///
    /// # Errors
    /// As [`Engine::submit`].
    pub fn submit_command(&self, c: Command) -> Result<u64, EngineError> {
        let _intake = self.intake()?;
        let (_, c) = self.prepare_submit(c)?;
        self.submit_prepared(c)
    }

    /// Submit without waiting: a full lane gives the prepared command back (its id
    /// assigned) for [`Engine::submit_prepared`], which waits per `on_full`. The binding
    /// uses it to wait for room without holding the GIL.
    ///
    /// # Errors
    /// Invalid arguments (nothing queued), a stopped engine.
    pub fn try_submit(&self, r: &OrderRequest) -> Result<TrySubmit, EngineError> {
        let _intake = self.intake()?;
        let (shard, c) = self.prepare_submit(r.to_command())?;
        let urgent = c.flags & flag::URGENT != 0;
        if let Some(sim) = self.sim.as_deref() {
            sim.enqueue(shard, c);
            return Ok(TrySubmit::Queued(c.order_id));
        }
        match self.lanes[shard].try_push(urgent, Ingress::One(c)) {
            Ok(()) => Ok(TrySubmit::Queued(c.order_id)),
            Err(_) => Ok(TrySubmit::Full(c)),
        }
    }

    /// Queue a command from [`Engine::try_submit`], waiting for room per `on_full`. On an
    /// error the order id is burnt (later commands naming it are reported unknown).
    ///
    /// # Errors
    /// Backpressure, a stopped engine.
    pub fn submit_prepared(&self, c: Command) -> Result<u64, EngineError> {
        let _intake = match self.intake() {
            Ok(g) => g,
            Err(e) => {
                // Stopped while the caller waited: the id is burnt.
                self.shared.routes.mark_applied(c.order_id);
                return Err(e);
            }
        };
        let shard = self.shard_of(c.symbol)?;
        let urgent = c.flags & flag::URGENT != 0;
        if let Err(e) = self.push(shard, urgent, Ingress::One(c), 0) {
            // The id is burnt: mark its submit as done so later commands naming it run
            // (and report it unknown) instead of waiting for it.
            self.shared.routes.mark_applied(c.order_id);
            return Err(e);
        }
        Ok(c.order_id)
    }

    /// A simulation agent's new order: checked and numbered as [`Engine::submit`] does, with
    /// its shard, not queued.
    pub(crate) fn agent_submit(&self, r: &OrderRequest) -> Result<(usize, Command), EngineError> {
        self.prepare_submit(r.to_command())
    }

    /// Validate a new order and give it an id, its command number and its enqueue time;
    /// with its symbol's shard.
    fn prepare_submit(&self, mut c: Command) -> Result<(usize, Command), EngineError> {
        c.kind = cmd::SUBMIT;
        // Also refuses an unknown symbol (symbols are only ever added).
        let shard = self.check_submit(&c)?;
        let id = self.shared.next_order_id.fetch_add(1, Ordering::Relaxed);
        if let Some(j) = &self.journal {
            j.reserve_ids(id + 1)?;
        }
        self.shared
            .routes
            .open(id, c.symbol)
            .map_err(|_| EngineError::Invalid {
                field: "order_id",
                value: id.to_string(),
                rule: "the engine ran out of order ids (2^32)".into(),
            })?;
        c.order_id = id;
        c.order_seq = 0;
        c.seq = 0;
        c.ts_enqueued = self.shared.clock.now();
        Ok((shard, c))
    }

    fn order_command(&self, order_id: u64, symbol: Option<u32>) -> Result<(u32, u32), EngineError> {
        match self.shared.routes.next_command(order_id) {
            Ok((sym, seq)) => {
                if let Some(s) = symbol {
                    if s != sym {
                        return Err(EngineError::Invalid {
                            field: "symbol",
                            value: self.shared.symbol_name(s),
                            rule: format!(
                                "order {order_id} belongs to {}",
                                self.shared.symbol_name(sym)
                            ),
                        });
                    }
                }
                Ok((sym, seq))
            }
            Err(RouteError::TooManyCommands) => Err(EngineError::Invalid {
                field: "order_id",
                value: order_id.to_string(),
                rule: format!(
                    "an order takes at most {} commands",
                    crate::route::MAX_ORDER_COMMANDS
                ),
            }),
            Err(_) => match symbol {
                // Not issued here: let the shard report it as unknown, in sequence.
                Some(s) => Ok((s, u32::MAX)),
                None => Err(EngineError::UnknownOrder(order_id)),
            },
        }
    }

    /// Cancel an order (priority lane). The outcome comes as a `cancelled` or `rejected`
    /// event.
    ///
    /// # Errors
    /// An id never issued (without `symbol`), backpressure, a stopped engine.
    pub fn cancel(
        &self,
        order_id: u64,
        symbol: Option<u32>,
        account: u32,
    ) -> Result<(), EngineError> {
        let _intake = self.intake()?;
        let (shard, c) = self.cancel_command(order_id, symbol, account)?;
        self.push_ordered(shard, true, c)
    }

    /// The cancel command of [`Engine::cancel`], numbered, and its shard (not queued).
    pub(crate) fn cancel_command(
        &self,
        order_id: u64,
        symbol: Option<u32>,
        account: u32,
    ) -> Result<(usize, Command), EngineError> {
        // The symbol named is the order's (or the call is refused): its shard is the order's.
        let named = symbol.map(|s| self.shard_of(s)).transpose()?;
        let (sym, seq) = self.order_command(order_id, symbol)?;
        let shard = match named {
            Some(shard) => shard,
            None => self.shard_of(sym)?,
        };
        let c = Command {
            kind: cmd::CANCEL,
            symbol: sym,
            order_id,
            order_seq: seq,
            account,
            ts_enqueued: self.shared.clock.now(),
            ..Command::default()
        };
        Ok((shard, c))
    }

    fn push_ordered(&self, shard: usize, urgent: bool, c: Command) -> Result<(), EngineError> {
        let r = self.push(shard, urgent, Ingress::One(c), 0);
        if r.is_err() && c.order_seq != u32::MAX {
            // Keep the order's command count consistent: the refused command counts as run.
            self.burn(vec![c]);
        }
        r
    }

    fn burn(&self, cmds: Vec<Command>) {
        // The shard runs a no-op for each command's order_seq: send them when there is
        // room, from one helper thread, so the caller gets its error now.
        if cmds.is_empty() {
            return;
        }
        let lanes = self.lanes.clone();
        let noops: Vec<(usize, Command)> = cmds
            .into_iter()
            .map(|c| {
                let mut noop = c;
                noop.kind = cmd::NOOP;
                noop.price = 0;
                (self.shard_of(c.symbol).unwrap_or(0), noop)
            })
            .collect();
        let shared = self.shared.clone();
        let _ = std::thread::Builder::new()
            .name("hftbook-burn".into())
            .spawn(move || {
                for (shard, noop) in noops {
                    let mut item = Ingress::One(noop);
                    loop {
                        match lanes[shard].try_push(true, item) {
                            Ok(()) => break,
                            Err(back) => item = back,
                        }
                        if shared.stopping.load(Ordering::Acquire) {
                            return;
                        }
                        std::thread::sleep(Duration::from_micros(100));
                    }
                }
            });
    }

    /// Modify an order's price and/or open lots (normal lane, or priority with `urgent`).
    ///
    /// # Errors
    /// Invalid arguments, an id never issued (without `symbol`), backpressure, stopped.
    pub fn modify(
        &self,
        order_id: u64,
        price: Option<i64>,
        qty: Option<u64>,
        symbol: Option<u32>,
        account: u32,
        urgent: bool,
    ) -> Result<(), EngineError> {
        let _intake = self.intake()?;
        let (shard, c) = self.modify_command(order_id, price, qty, symbol, account, urgent)?;
        self.push_ordered(shard, urgent, c)
    }

    /// The modify command of [`Engine::modify`], checked and numbered, and its shard (not
    /// queued).
    pub(crate) fn modify_command(
        &self,
        order_id: u64,
        price: Option<i64>,
        qty: Option<u64>,
        symbol: Option<u32>,
        account: u32,
        urgent: bool,
    ) -> Result<(usize, Command), EngineError> {
        if price.is_none() && qty.is_none() {
            return Err(EngineError::Invalid {
                field: "price",
                value: "None".into(),
                rule: "a modify needs a new price, a new qty or both".into(),
            });
        }
        if let Some(p) = price {
            Price::new_checked(p).map_err(|e| EngineError::Invalid {
                field: "price",
                value: p.to_string(),
                rule: e.to_string(),
            })?;
        }
        if qty == Some(0) {
            return Err(EngineError::Invalid {
                field: "qty",
                value: "0".into(),
                rule: "must be positive (cancel the order to take it off)".into(),
            });
        }
        // One load of the symbol table (symbols are only ever added: an order's symbol is
        // in it unless the symbol was added since, which the fallback below covers).
        let table = self.shared.symbols.load();
        let shard_in = |s: u32| table.entries.get(s as usize).map(|e| e.shard);
        if let Some(s) = symbol {
            if shard_in(s).is_none() {
                return Err(EngineError::UnknownSymbol(format!("#{s}")));
            }
        }
        // Check the quantity against the order's symbol before numbering the command, so a
        // refused call leaves nothing behind.
        let known = self.order_symbol(order_id).or(symbol);
        let limits = known.and_then(|s| {
            table
                .entries
                .get(s as usize)
                .map(|e| (e.cfg.min_qty, e.cfg.max_qty))
        });
        if let (Some(q), Some((min_qty, max_qty))) = (qty, limits) {
            if q > max_qty || q < min_qty {
                return Err(EngineError::Invalid {
                    field: "qty",
                    value: q.to_string(),
                    rule: format!("must be between min_qty {min_qty} and max_qty {max_qty}"),
                });
            }
        }
        let (sym, seq) = self.order_command(order_id, symbol)?;
        let shard = match shard_in(sym) {
            Some(shard) => shard,
            None => self.shard_of(sym)?,
        };
        let mut c = Command::modify(sym, order_id, price, qty.unwrap_or(0));
        c.order_seq = seq;
        c.account = account;
        c.ts_enqueued = self.shared.clock.now();
        if urgent {
            c.flags |= flag::URGENT;
        }
        Ok((shard, c))
    }

    /// Cancel every open order of a symbol (or all symbols), optionally one account's and one
    /// side's.
    ///
    /// # Errors
    /// Unknown symbol, backpressure, stopped.
    pub fn mass_cancel(
        &self,
        account: u32,
        symbol: Option<u32>,
        side: Option<Side>,
    ) -> Result<(), EngineError> {
        let _intake = self.intake()?;
        let c = Command {
            kind: cmd::MASS_CANCEL,
            account,
            symbol: symbol.unwrap_or(ALL),
            side: side.map_or(2, |s| s as u8),
            ts_enqueued: self.shared.clock.now(),
            ..Command::default()
        };
        match symbol {
            Some(s) => self.push(self.shard_of(s)?, true, Ingress::One(c), 0),
            None => {
                for sh in 0..self.lanes.len() {
                    self.push(sh, true, Ingress::One(c), 0)?;
                }
                Ok(())
            }
        }
    }

    /// Halt a symbol (new orders rejected; cancels work).
    ///
    /// # Errors
    /// Unknown symbol, backpressure, stopped.
    pub fn halt(&self, symbol: u32) -> Result<(), EngineError> {
        self.symbol_command(cmd::HALT, symbol)
    }

    /// Resume a halted symbol.
    ///
    /// # Errors
    /// Unknown symbol, backpressure, stopped.
    pub fn resume_symbol(&self, symbol: u32) -> Result<(), EngineError> {
        self.symbol_command(cmd::RESUME, symbol)
    }

    fn symbol_command(&self, k: u8, symbol: u32) -> Result<(), EngineError> {
        let _intake = self.intake()?;
        let shard = self.shard_of(symbol)?;
        let c = Command {
            kind: k,
            symbol,
            ts_enqueued: self.shared.clock.now(),
            ..Command::default()
        };
        self.push(shard, true, Ingress::One(c), 0)
    }

    /// End the session: every DAY order expires, including the ones queued before this
    /// call (the command takes the normal lane, behind them).
    ///
    /// # Errors
    /// Backpressure, stopped.
    pub fn end_session(&self) -> Result<(), EngineError> {
        let _intake = self.intake()?;
        let c = Command {
            kind: cmd::END_SESSION,
            symbol: ALL,
            ts_enqueued: self.shared.clock.now(),
            ..Command::default()
        };
        for sh in 0..self.lanes.len() {
            self.push(sh, false, Ingress::One(c), 0)?;
        }
        // A new session: the daily-loss counters start again.
        self.shared.accounts.reset_daily();
        Ok(())
    }

    /// Kill switch of `account` on (`true`: every shard cancels its open orders and refuses
    /// its new ones, reason `kill_switch`) or off. Sent through every shard's priority lane;
    /// an engine event (`reason` `kill_switch`, `account`, `detail` 1 / 0) says when it took
    /// effect.
    ///
    /// # Errors
    /// Account 0 (the anonymous flow has no kill switch), backpressure, stopped.
    pub fn kill(&self, account: u32, on: bool) -> Result<(), EngineError> {
        if account == 0 {
            return Err(EngineError::Invalid {
                field: "account",
                value: "0".into(),
                rule: "the kill switch is per account; account 0 (no account) has none".into(),
            });
        }
        let _intake = self.intake()?;
        let c = Command {
            kind: if on { cmd::KILL } else { cmd::RESET_KILL },
            symbol: ALL,
            account,
            ts_enqueued: self.shared.clock.now(),
            ..Command::default()
        };
        for sh in 0..self.lanes.len() {
            self.push(sh, true, Ingress::One(c), 0)?;
        }
        self.shared.log(
            "risk",
            format!(
                "kill switch {} for account {account}",
                if on { "on" } else { "off" }
            ),
        );
        Ok(())
    }

    /// Validate a batch of commands (every row first: nothing is queued if one is bad), assign
    /// order ids to its submits (written into `cmds`), and queue it in row order (normal
    /// lane: a batch keeps its rows in order; its cancels do not jump the queue).
    ///
    /// # Errors
    /// The first bad row (nothing queued), or backpressure / stopped (the error says how many
    /// commands were queued before it).
    pub fn submit_batch(&self, cmds: &mut [Command]) -> Result<(), EngineError> {
        let _intake = self.intake()?;
        let table = self.shared.symbols.load_full();
        let mut submits = 0u64;
        for (row, c) in cmds.iter().enumerate() {
            let row_err = |e: EngineError| match e {
                EngineError::Invalid { field, value, rule } => EngineError::InvalidRow {
                    row,
                    field,
                    value,
                    rule,
                },
                EngineError::UnknownSymbol(s) => EngineError::InvalidRow {
                    row,
                    field: "symbol",
                    value: s,
                    rule: "no such symbol index".into(),
                },
                other => other,
            };
            match c.kind {
                cmd::SUBMIT => {
                    self.validate_submit(c).map_err(row_err)?;
                    submits += 1;
                }
                cmd::CANCEL | cmd::MODIFY => {
                    if table.entries.get(c.symbol as usize).is_none() {
                        return Err(row_err(EngineError::UnknownSymbol(format!(
                            "#{}",
                            c.symbol
                        ))));
                    }
                    if c.order_id == 0 {
                        return Err(row_err(EngineError::Invalid {
                            field: "order_id",
                            value: "0".into(),
                            rule: "a cancel or modify names an order".into(),
                        }));
                    }
                    if c.kind == cmd::MODIFY {
                        if c.flags & flag::HAS_PRICE != 0 {
                            Price::new_checked(c.price).map_err(|e| {
                                row_err(EngineError::Invalid {
                                    field: "price",
                                    value: c.price.to_string(),
                                    rule: e.to_string(),
                                })
                            })?;
                        } else if c.qty == 0 {
                            return Err(row_err(EngineError::Invalid {
                                field: "qty",
                                value: "0".into(),
                                rule: "a modify needs a new price (flags has_price) or a new qty"
                                    .into(),
                            }));
                        }
                    }
                }
                other => {
                    return Err(row_err(EngineError::Invalid {
                        field: "kind",
                        value: other.to_string(),
                        rule: "a batch row is 0 submit, 1 cancel or 2 modify".into(),
                    }))
                }
            }
        }
        // Assign ids (one atomic add for the batch) and per-order command numbers.
        let mut next = self
            .shared
            .next_order_id
            .fetch_add(submits, Ordering::Relaxed);
        if let Some(j) = &self.journal {
            j.reserve_ids(next + submits)?;
        }
        let now = self.shared.clock.now();
        let shards = self.lanes.len();
        let mut per_shard: Vec<Vec<Command>> = vec![Vec::new(); shards];
        for c in cmds.iter_mut() {
            c.seq = 0;
            c.ts_enqueued = now;
            c.flags &= !flag::URGENT;
            if c.kind == cmd::SUBMIT {
                c.order_id = next;
                c.order_seq = 0;
                let _ = self.shared.routes.open(next, c.symbol);
                next += 1;
            } else {
                c.order_seq = match self.shared.routes.next_command(c.order_id) {
                    Ok((sym, seq)) if sym == c.symbol => seq,
                    _ => u32::MAX,
                };
            }
            let shard = table.entries.get(c.symbol as usize).map_or(0, |e| e.shard);
            per_shard[shard].push(*c);
        }
        let mut enqueued = 0usize;
        const CHUNK: usize = 1024;
        for (shard, list) in per_shard.iter().enumerate() {
            for (k, chunk) in list.chunks(CHUNK).enumerate() {
                if let Err(e) = self.push_chunk(shard, chunk, enqueued) {
                    // Nothing after this point was queued: settle those commands' order
                    // numbering so that later commands naming them do not wait forever.
                    let rest = per_shard[shard][k * CHUNK..]
                        .iter()
                        .chain(per_shard[shard + 1..].iter().flatten());
                    self.settle_unqueued(rest.copied().collect());
                    return Err(e);
                }
                enqueued += chunk.len();
            }
        }
        Ok(())
    }

    /// Commands that were numbered for their orders but never queued (a batch refused half
    /// way): their submits count as done (the ids are burnt, later commands naming them are
    /// reported unknown) and their cancels / modifies run as no-ops.
    fn settle_unqueued(&self, cmds: Vec<Command>) {
        let mut noops = Vec::new();
        for c in cmds {
            if c.kind == cmd::SUBMIT {
                self.shared.routes.mark_applied(c.order_id);
            } else if c.order_seq != u32::MAX {
                noops.push(c);
            }
        }
        self.burn(noops);
    }

    /// Take up to `max` events from the poll stream into `out`, waiting up to `timeout` for
    /// the first. Returns how many were taken.
    pub fn poll(&self, out: &mut Vec<Event>, max: usize, timeout: Duration) -> usize {
        let start_len = out.len();
        let deadline = Instant::now() + timeout;
        let n = self.consumers.len();
        let mut spins = 0u32;
        loop {
            while out.len() - start_len < max {
                match self.shared.control.pop() {
                    Some(e) => out.push(e),
                    None => break,
                }
            }
            let first = self.poll_cursor.fetch_add(1, Ordering::Relaxed);
            for k in 0..n {
                let want = max - (out.len() - start_len);
                if want == 0 {
                    break;
                }
                let i = (first + k) % n;
                let mut g = self.consumers[i].lock().unwrap_or_else(|p| p.into_inner());
                let Some(c) = g.as_mut() else { continue };
                read_ring(c, out, want);
            }
            let got = out.len() - start_len;
            if got > 0 || timeout.is_zero() || Instant::now() >= deadline {
                return got;
            }
            spins += 1;
            if spins < 100 {
                std::hint::spin_loop();
            } else if spins < 200 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// Subscribe: a queue of the events that pass `filter`. Lossless subscribers (`conflate`
    /// false) make the shards wait when their queue is full.
    pub fn subscribe(&self, filter: Filter, capacity: usize, conflate: bool) -> Arc<Subscription> {
        let shards = self.lanes.len().max(1);
        let per_ring = capacity.max(1).div_ceil(shards);
        let sub = Arc::new(Subscription {
            filter: ArcSwap::from_pointee(FilterCheck::new(filter)),
            wanted: Mutex::new(FxHashSet::default()),
            wants: (0..shards).map(|_| AtomicBool::new(false)).collect(),
            rings: (0..shards)
                .map(|_| {
                    let (tx, rx) = rtrb::RingBuffer::new(per_ring);
                    SubRing {
                        tx: Mutex::new(tx),
                        rx: Mutex::new(rx),
                    }
                })
                .collect(),
            control: ArrayQueue::new(capacity.clamp(1, 1024)),
            conflate,
            gaps: (0..self.lanes.len())
                .map(|_| AtomicBool::new(false))
                .collect(),
            conflated: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        self.shared.subs.rcu(|v| {
            let mut v: Vec<Arc<Subscription>> =
                v.iter().filter(|s| !s.is_closed()).cloned().collect();
            v.push(sub.clone());
            v
        });
        sub
    }

    /// Remove a subscriber.
    pub fn unsubscribe(&self, sub: &Arc<Subscription>) {
        sub.close();
        self.shared.subs.rcu(|v| {
            v.iter()
                .filter(|s| !Arc::ptr_eq(s, sub) && !s.is_closed())
                .cloned()
                .collect::<Vec<_>>()
        });
    }

    /// Apply a new configuration between batches: safe changes now, restart-only ones
    /// reported and skipped. Emits an engine event either way.
    ///
    /// # Errors
    /// A new symbol that cannot be added (the rest is applied).
    pub fn reload(&self, new: EngineConfig) -> Result<ReloadReport, EngineError> {
        let old = self.shared.config.load_full();
        let restart_only = old.restart_only_changes(&new);
        let mut merged = (*old).clone();
        let mut applied = Vec::new();
        macro_rules! take {
            ($sec:ident . $f:ident) => {
                if merged.$sec.$f != new.$sec.$f {
                    merged.$sec.$f = new.$sec.$f.clone();
                    applied.push(concat!(stringify!($sec), ".", stringify!($f)).to_string());
                }
            };
        }
        take!(engine.batch_size);
        take!(engine.on_full);
        take!(engine.full_timeout_ms);
        take!(engine.idle_spin);
        take!(engine.idle_yield);
        take!(engine.park_ms);
        take!(engine.reject_when_paused);
        take!(engine.trade_events);
        take!(engine.book_events);
        take!(breaker.enabled);
        take!(breaker.reject_rate);
        take!(breaker.window);
        take!(breaker.max_queue_delay_us);
        take!(breaker.cooldown_ms);
        take!(breaker.probe_orders);
        if merged.risk != new.risk {
            merged.risk = new.risk.clone();
            applied.push("risk".to_string());
        }
        // Symbols: bands and halts change in place; new ones are added.
        let table = self.shared.symbols.load_full();
        let mut next = (*table).clone();
        let mut added = Vec::new();
        for (name, s) in &new.symbols {
            match table.by_name.get(name) {
                Some(&idx) => {
                    let e = &mut next.entries[idx as usize];
                    let c = &mut e.cfg;
                    let before = (
                        c.band_pct,
                        c.band_ticks,
                        c.reference_price,
                        c.halt_pct,
                        c.halt_window_ms,
                        c.halt_duration_ms,
                    );
                    let after = (
                        s.band_pct,
                        s.band_ticks,
                        s.reference_price,
                        s.halt_pct,
                        s.halt_window_ms,
                        s.halt_duration_ms,
                    );
                    if before != after {
                        c.band_pct = s.band_pct;
                        c.band_ticks = s.band_ticks;
                        c.reference_price = s.reference_price;
                        c.halt_pct = s.halt_pct;
                        c.halt_window_ms = s.halt_window_ms;
                        c.halt_duration_ms = s.halt_duration_ms;
                        applied.push(format!("symbols.{name} (bands, halts)"));
                    }
                    if let Some(m) = merged.symbols.get_mut(name) {
                        *m = c.clone();
                    }
                }
                None => added.push((name.clone(), s.clone())),
            }
        }
        self.shared.symbols.store(Arc::new(next));
        self.shared.config.store(Arc::new(merged.clone()));
        let mut report = ReloadReport {
            applied,
            restart_only,
            added_symbols: Vec::new(),
        };
        for (name, s) in added {
            self.add_symbol(&name, s.clone())?;
            let mut m = (*self.shared.config.load_full()).clone();
            m.symbols.insert(name.clone(), s);
            self.shared.config.store(Arc::new(m));
            report.added_symbols.push(name);
        }
        self.shared.config_gen.fetch_add(1, Ordering::AcqRel);
        for l in &self.lanes {
            l.wake();
        }
        self.control_event(reason::CONFIG_APPLIED, report.restart_only.len() as i64);
        self.shared.log(
            "config",
            format!(
                "configuration reloaded: applied [{}]; added symbols [{}]; restart-only, not applied [{}]",
                report.applied.join(", "),
                report.added_symbols.join(", "),
                report.restart_only.join(", ")
            ),
        );
        Ok(report)
    }

    /// Report a rejected configuration (the running one stays).
    pub fn config_rejected(&self, err: &ConfigError) {
        self.control_event(reason::CONFIG_REJECTED, 0);
        self.shared.log(
            "config",
            format!("configuration rejected, running config kept: {err}"),
        );
    }

    pub(crate) fn control_event(&self, why: u8, detail: i64) {
        let now = self.shared.clock.now();
        let e = Event {
            seq: self.shared.event_seq.fetch_add(1, Ordering::Relaxed) + 1,
            kind: kind::ENGINE,
            symbol: u32::MAX,
            reason: why,
            detail,
            ts_enqueued: now,
            ts_processed: now,
            ..Event::default()
        };
        for s in self.shared.subs.load().iter() {
            s.offer_control(&e, &self.shared);
        }
        if self.config().engine.keep_events {
            let _ = self.shared.control.force_push(e);
        }
    }

    /// Log lines since the last call.
    pub fn drain_logs(&self) -> Vec<LogRecord> {
        let mut v = Vec::new();
        while let Some(r) = self.shared.logs.pop() {
            v.push(r);
        }
        v
    }

    /// Per-shard figures.
    pub fn shard_stats(&self) -> Vec<ShardSnapshot> {
        self.stats
            .iter()
            .zip(&self.lanes)
            .map(|(s, l)| {
                let ld = |x: &AtomicU64| x.load(Ordering::Relaxed);
                ShardSnapshot {
                    commands: ld(&s.commands),
                    events: ld(&s.events),
                    rejects: s.rejects.iter().map(ld).collect(),
                    depth: (l.priority.len() as u64, l.normal.len() as u64),
                    high_water: (ld(&s.priority_high), ld(&s.normal_high)),
                    pushed: (ld(&l.priority_stats.pushed), ld(&l.normal_stats.pushed)),
                    waits: (ld(&l.priority_stats.waits), ld(&l.normal_stats.waits)),
                    lane_rejections: (
                        ld(&l.priority_stats.rejections),
                        ld(&l.normal_stats.rejections),
                    ),
                    parked: ld(&s.parked),
                    parks: ld(&s.parks),
                    event_waits: ld(&s.event_waits),
                    events_discarded: ld(&s.events_discarded),
                    cpu_ns: ld(&s.cpu_ns),
                    latencies: s.latencies(),
                }
            })
            .collect()
    }

    /// Breaker state code.
    pub fn breaker_state(&self) -> u8 {
        self.shared.breaker.load(Ordering::Acquire)
    }

    /// The symbol of an order id this engine issued.
    pub fn order_symbol(&self, order_id: u64) -> Option<u32> {
        self.shared.routes.symbol(order_id)
    }

    /// Positions of `account` (every account with `None`): (account, symbol, position),
    /// as last published by the shards (each read whole), sorted by account then symbol.
    pub fn positions(&self, account: Option<u32>) -> Vec<(u32, u32, crate::positions::Position)> {
        let mut v: Vec<_> = self
            .shared
            .positions
            .load()
            .iter()
            .filter(|c| account.is_none_or(|a| c.account == a))
            .map(|c| (c.account, c.symbol, c.read()))
            .collect();
        v.sort_unstable_by_key(|x| (x.0, x.1));
        v
    }

    /// Orders issued so far (the next id minus one).
    pub fn orders_issued(&self) -> u64 {
        self.shared.next_order_id.load(Ordering::Relaxed) - 1
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let st = self.state();
        if st != STATE_STOPPED {
            let _ = self.stop(true, Duration::from_secs(1));
        }
    }
}

fn order_error(e: &OrderError, c: &Command) -> EngineError {
    let (field, value) = match e {
        OrderError::PriceOutOfRange { .. } => ("price", c.price.to_string()),
        OrderError::ZeroQuantity { field } => (*field, "0".to_string()),
        OrderError::QtyBelowMin { .. } | OrderError::QtyAboveMax { .. } => {
            ("qty", c.qty.to_string())
        }
        OrderError::DisplayAboveQty { .. } => ("display_qty", c.display_qty.to_string()),
        OrderError::InvalidCombination { field, .. } => (
            *field,
            match *field {
                "display_qty" => c.display_qty.to_string(),
                "price" => c.price.to_string(),
                _ => "True".to_string(),
            },
        ),
        _ => ("order", String::new()),
    };
    EngineError::Invalid {
        field,
        value,
        rule: e.to_string(),
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;
    use proptest::prelude::*;

    fn event(kind: u8, symbol: u32, account: u32, seq: u64) -> Event {
        Event {
            kind,
            symbol,
            account,
            seq,
            ..Event::default()
        }
    }

    /// A symbol index: mostly small (a bitset), now and then past the bitset's range.
    fn symbol() -> impl Strategy<Value = u32> {
        prop_oneof![8 => 0u32..140, 1 => (FilterCheck::MAX_BIT - 2)..(FilterCheck::MAX_BIT + 2), 1 => any::<u32>()]
    }

    fn filter() -> impl Strategy<Value = Filter> {
        (
            prop_oneof![Just(0u32), any::<u32>()],
            prop_oneof![Just(0u32), any::<u32>()],
            proptest::option::of(proptest::collection::hash_set(symbol(), 0..6)),
            proptest::option::of(proptest::collection::hash_set(0u32..4, 0..3)),
        )
            .prop_map(|(kinds, every, symbols, accounts)| Filter {
                kinds,
                every_symbol_kinds: every,
                symbols: symbols.map(|s| s.into_iter().collect()),
                accounts: accounts.map(|s| s.into_iter().collect()),
            })
    }

    fn events() -> impl Strategy<Value = Vec<Event>> {
        proptest::collection::vec((0u8..40, symbol(), 0u32..5), 0..60).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (k, s, a))| event(k, s, a, i as u64))
                .collect()
        })
    }

    /// A ring of `cap` slots whose ends moved by `filled` pushes and `popped` pops.
    fn ring(
        cap: usize,
        filled: usize,
        popped: usize,
    ) -> (rtrb::Producer<Event>, rtrb::Consumer<Event>) {
        let (mut tx, mut rx) = rtrb::RingBuffer::<Event>::new(cap);
        let filled = filled.min(cap);
        for i in 0..filled {
            tx.push(event(0, 0, 0, 1000 + i as u64)).unwrap();
        }
        for _ in 0..popped.min(filled) {
            rx.pop().unwrap();
        }
        (tx, rx)
    }

    fn drain(rx: &mut rtrb::Consumer<Event>) -> Vec<u64> {
        let mut got = Vec::new();
        while let Ok(e) = rx.pop() {
            if e.seq < 1000 {
                got.push(e.seq);
            }
        }
        got
    }

    proptest! {
        /// Offering only the market-data events (the shard's index of them) to a filter of
        /// market-data kinds writes what offering all of them writes, and stops at the same
        /// event.
        #[test]
        fn the_market_data_index_writes_what_the_scan_writes(
            kinds in 1u32..8,
            every in 0u32..8,
            f in filter(),
            evs in events(),
            cap in 1usize..20,
            filled in 0usize..20,
            popped in 0usize..20,
        ) {
            let md_bits = [kind::BOOK, kind::TRADE, kind::STATUS];
            let pick = |m: u32| md_bits.iter().enumerate().filter(|(b, _)| m >> b & 1 != 0).fold(0, |a, (_, &k)| a | 1 << k);
            let f = Filter { kinds: pick(kinds), every_symbol_kinds: pick(every), ..f };
            // Market-data kinds are common among the events.
            let evs: Vec<Event> = evs.into_iter().map(|mut e| {
                if e.kind >= 20 { e.kind = md_bits[e.kind as usize % 3]; }
                e
            }).collect();
            let at: Vec<u32> = (0..evs.len() as u32).filter(|&i| MD_KINDS & (1 << evs[i as usize].kind) != 0).collect();
            let c = FilterCheck::new(f);
            prop_assert!(c.md_only);
            let check = c.check();
            let keep = |e: &Event| check.matches(e);
            let (mut tx1, mut rx1) = ring(cap, filled, popped);
            let (mut tx2, mut rx2) = ring(cap, filled, popped);
            let all = write_some(&mut tx1, &evs[..], 0, keep);
            let idx = write_some(&mut tx2, Indexed { events: &evs, at: &at }, 0, keep);
            prop_assert_eq!(drain(&mut rx1), drain(&mut rx2));
            // The same place: the end, or the same first event that did not fit.
            let idx_pos = at.get(idx).map_or(evs.len(), |&i| i as usize);
            prop_assert_eq!(all, idx_pos);
        }

        /// The shard's check (symbols as a bitset, fields in registers) passes exactly the
        /// events `Filter::matches` passes.
        #[test]
        fn the_shards_check_equals_the_filter(f in filter(), evs in events()) {
            let c = FilterCheck::new(f.clone());
            for e in &evs {
                prop_assert_eq!(c.matches(e), f.matches(e), "{:?} {:?}", f, e);
            }
        }

        /// `write_some` writes the events that pass, in order, as many as fit (across the
        /// ring's wrap), and consumes every event up to the first passing one that did not
        /// fit (all of them if all fit: a full ring is no loss when the rest would not pass).
        #[test]
        fn write_some_writes_the_passing_events_that_fit(
            f in filter(),
            evs in events(),
            cap in 1usize..20,
            filled in 0usize..20,
            popped in 0usize..20,
        ) {
            let (mut tx, mut rx) = rtrb::RingBuffer::<Event>::new(cap);
            // Move the ring's ends so the chunk can wrap.
            let filled = filled.min(cap);
            for i in 0..filled {
                tx.push(event(0, 0, 0, 1000 + i as u64)).unwrap();
            }
            let popped = popped.min(filled);
            for _ in 0..popped {
                rx.pop().unwrap();
            }
            let room = tx.slots();
            let c = FilterCheck::new(f.clone());
            let check = c.check();
            let used = write_some(&mut tx, &evs[..], 0, |e| check.matches(e));
            let mut got = Vec::new();
            while let Ok(e) = rx.pop() {
                if e.seq < 1000 {
                    got.push(e.seq);
                }
            }
            let passing: Vec<u64> = evs.iter().filter(|e| f.matches(e)).map(|e| e.seq).collect();
            let want: Vec<u64> = passing.iter().copied().take(room).collect();
            prop_assert_eq!(&got, &want);
            if passing.len() <= room {
                prop_assert_eq!(used, evs.len());
            } else {
                // Stopped at the first passing event that did not fit.
                prop_assert_eq!(used, passing[room] as usize);
            }
        }
    }
}
