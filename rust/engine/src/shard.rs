//! The shard: one thread, the only writer of its symbols' books.
//!
//! Each loop it installs symbols added since the last loop, runs its timer (GTD expiry, halt
//! ends, breaker cool-down) as a sequenced [`cmd::TICK`], drains the priority lane, takes up
//! to `batch_size` commands from the normal lane, and publishes the loop's events in one go.
//! See `docs/engine.md` for the guarantees.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hftbook_core::{
    CancelReason, NewOrder, OrderBook, OrderError, OrderType, Price, RejectReason, Report,
    ReportSink, Side, StpMode, TimeInForce,
};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::config::{EngineConfig, SymbolConfig};
use crate::engine::{Filter, Subscription, MD_KINDS};
use crate::engine::{Shared, SymbolLive, STATE_PAUSED};
use crate::journal::format::{Record, J_DERIVED, J_DISCARDED, J_EMITTED, J_RISK, KIND_CONFIG};
use crate::journal::snapshot::{Dec, Enc};
use crate::journal::writer::ShardJournal;
use crate::journal::JournalError;
use crate::lanes::{Ingress, Lanes};
use crate::positions::{Position, PositionCell};
use crate::record::{breaker, cmd, flag, kind, order_type, reason, tif, Command, Event, ALL};
use crate::record::{EVENT_GAP, EVENT_MAKER, EVENT_SNAPSHOT, SNAPSHOT_LEVELS};
use crate::risk::{
    add_open_orders, admit_every, rate_interval, reserve_open_order, with_order_term,
    AccountShared, Terms,
};
use crate::stats::{ShardStats, StatsWriter};
use hftbook_core::RestingOrder;
use xxhash_rust::xxh3::Xxh3;
use zerocopy::FromBytes;
use zerocopy::IntoBytes;

/// A symbol handed to a shard.
pub(crate) struct NewSymbol {
    pub idx: u32,
    pub book: OrderBook,
    pub cfg: SymbolConfig,
    pub live: Arc<SymbolLive>,
}

impl std::fmt::Debug for NewSymbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSymbol").field("idx", &self.idx).finish()
    }
}

#[derive(Clone, Copy)]
struct Meta {
    client_id: u64,
    account: u32,
}

struct Sym {
    idx: u32,
    book: OrderBook,
    cfg: SymbolConfig,
    live: Arc<SymbolLive>,
    symbol_seq: u64,
    last_trade: Option<i64>,
    halted_until: Option<u64>,
    halted: bool,
    /// Resting orders' client id and account.
    meta: FxHashMap<u64, Meta>,
    /// Pending stops: buy stops trigger at last >= stop, sell stops at last <= stop.
    buy_stops: BTreeMap<(i64, u64), Command>,
    sell_stops: BTreeMap<(i64, u64), Command>,
    stop_index: FxHashMap<u64, (u8, i64)>,
    day_orders: Vec<u64>,
    gtd: BinaryHeap<Reverse<(u64, u64)>>,
    /// Trades in the halt window: (time, price).
    window: VecDeque<(u64, i64)>,
    /// Positions by account (non-zero accounts), each with the cell readers see.
    positions: FxHashMap<u32, (Position, Arc<PositionCell>)>,
    /// Open orders of non-zero accounts: per account, open lots per side and the count.
    open: FxHashMap<u32, Open>,
    /// One tick-lot in nano-units of the quote currency (tick and lot are restart-only).
    per: i128,
    /// A trade moved the mark in this loop (exposure slots to republish at its end).
    mark_moved: bool,
}

impl Sym {
    /// The price positions are valued at: the last trade, else the reference price.
    fn mark(&self) -> Option<i64> {
        self.last_trade.or(self.cfg.reference_price)
    }

    /// `account`'s net position, open buy lots and open sell lots here.
    fn holding(&self, account: u32) -> (i64, u64, u64) {
        let net = self.positions.get(&account).map_or(0, |p| p.0.net);
        let o = self.open.get(&account).copied().unwrap_or_default();
        (net, o.buy, o.sell)
    }
}

/// One symbol of an account's exposure on this shard: the account's holding there (kept by
/// `book_account_events` from the events it books, the only place holdings change outside
/// a rebuild), and the exposure term at the mark it was last valued at.
#[derive(Clone, Copy, Debug)]
struct ExpoEntry {
    sym: u32,
    net: i64,
    buy: u64,
    sell: u64,
    mark: i64,
    term: Terms,
}

/// An account on this shard: its shared risk state (open orders, order rate, exposure
/// slots), and, while an exposure limit is set, the symbols here where it holds something
/// and the sum of their terms, kept up to date as each term changes, so that a check adds
/// nothing up and reads no position or open-order map.
#[derive(Debug)]
struct Acct {
    /// The shard loop in which `revalue` last ran (`Shard::expo_loop`).
    valued: u64,
    /// The sum of `entries`' terms (each at the mark it was last valued at).
    sum: Terms,
    entries: Vec<ExpoEntry>,
    /// The account's state shared by the shards.
    shared: Arc<AccountShared>,
    /// Its order-rate limit (the `f64`'s bits) and the ns between two orders at it.
    rate: (u64, u64),
}

impl Acct {
    /// Set the holding in `sym` (open lots when `lots`, the net position when `net`) and
    /// revalue its term at `px`; drop the entry once nothing is held there.
    fn set(&mut self, sym: u32, lots: Option<(u64, u64)>, net: Option<i64>, px: ExpoPx) {
        let i = match self.entries.iter().position(|e| e.sym == sym) {
            Some(i) => i,
            None => {
                self.entries.push(ExpoEntry {
                    sym,
                    net: 0,
                    buy: 0,
                    sell: 0,
                    mark: px.mark,
                    term: Terms::default(),
                });
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[i];
        if let Some((b, s)) = lots {
            e.buy = b;
            e.sell = s;
        }
        if let Some(n) = net {
            e.net = n;
        }
        let term = Terms::at(e.net, e.buy, e.sell, px.mp);
        self.sum += term;
        self.sum -= e.term;
        e.term = term;
        e.mark = px.mark;
        if e.net == 0 && e.buy == 0 && e.sell == 0 {
            self.entries.swap_remove(i);
        }
    }

    /// Revalue the terms whose symbol's mark moved since (`marks` by symbol).
    fn revalue(&mut self, marks: &[ExpoPx]) {
        for i in 0..self.entries.len() {
            let px = marks[self.entries[i].sym as usize];
            self.revalue_one(i, px);
        }
    }

    /// Revalue entry `i` at `px` if its mark moved.
    fn revalue_one(&mut self, i: usize, px: ExpoPx) {
        let e = &mut self.entries[i];
        if px.mark != e.mark {
            let term = Terms::at(e.net, e.buy, e.sell, px.mp);
            self.sum += term;
            self.sum -= e.term;
            e.term = term;
            e.mark = px.mark;
        }
    }

    fn new(shared: Arc<AccountShared>) -> Acct {
        Acct {
            valued: u64::MAX,
            sum: Terms::default(),
            entries: Vec::new(),
            shared,
            rate: (u64::MAX, 0),
        }
    }
}

/// An account's holding in a symbol after some events: (account, symbol, open buy and sell
/// lots when they changed, net position when it changed).
type HoldingChange = (u32, u32, Option<(u64, u64)>, Option<i64>);

/// A symbol's valuation for the exposure terms: its mark (0 without one), one tick-lot in
/// nano-units, and one lot at the mark (`mark x per`). Kept in a dense array by symbol so
/// that a check reads no `Sym`.
#[derive(Clone, Copy, Debug, Default)]
struct ExpoPx {
    mark: i64,
    per: i128,
    mp: i128,
}

impl ExpoPx {
    fn new(mark: i64, per: i128) -> ExpoPx {
        ExpoPx {
            mark,
            per,
            mp: i128::from(mark) * per,
        }
    }
}

/// An account's open orders in one symbol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Open {
    buy: u64,
    sell: u64,
    orders: u64,
}

impl Open {
    fn side(&mut self, side: u8) -> &mut u64 {
        if side == 0 {
            &mut self.buy
        } else {
            &mut self.sell
        }
    }
}

/// Per-loop context: the shard's events and what a command did.
struct Out {
    events: Vec<Event>,
    /// Indices in `events` of its market-data events (book, trade, status: [`MD_KINDS`]),
    /// ascending: a market-data subscriber looks at these only, not at every event of the
    /// loop (scanning them all was ~5 % of a shard's time with the feed server attached).
    md: Vec<u32>,
    cmd: Command,
    now: u64,
    trades: u32,
    last_px: i64,
    taker_filled: u64,
    rested: bool,
    book_touched: Vec<(u8, i64)>,
    want_book: bool,
    want_trades: bool,
}

struct SymSink<'a> {
    out: &'a mut Out,
    sym_idx: u32,
    symbol_seq: &'a mut u64,
    meta: &'a mut FxHashMap<u64, Meta>,
    cancel_reason: u8,
    cancel_kind: u8,
}

impl Out {
    /// Push a market-data event ([`MD_KINDS`]), its index into `md`.
    #[inline]
    fn push_md(&mut self, e: Event) {
        debug_assert!(MD_KINDS & (1 << e.kind) != 0);
        self.md.push(self.events.len() as u32);
        self.events.push(e);
    }
}

impl SymSink<'_> {
    fn ev(&mut self, kind_: u8) -> Event {
        *self.symbol_seq += 1;
        let c = &self.out.cmd;
        Event {
            symbol_seq: *self.symbol_seq,
            symbol: self.sym_idx,
            kind: kind_,
            ts_enqueued: c.ts_enqueued,
            ts_processed: self.out.now,
            cmd_seq: c.seq as u32,
            ..Event::default()
        }
    }
}

impl ReportSink for SymSink<'_> {
    fn report(&mut self, r: Report) {
        match r {
            Report::Accepted {
                id,
                side,
                price,
                qty,
                ..
            } => {
                let c = self.out.cmd;
                let mut e = self.ev(kind::ACCEPTED);
                e.order_id = id;
                e.client_id = c.client_id;
                e.account = c.account;
                e.side = side as u8;
                e.price = price.0;
                e.qty = qty;
                e.leaves_qty = qty;
                self.out.events.push(e);
            }
            Report::Fill(f) => {
                let c = self.out.cmd;
                self.out.trades += 1;
                self.out.last_px = f.price;
                self.out.taker_filled += f.qty;
                let taker_side = f.taker_side;
                let maker_meta = self.meta.get(&f.maker_id).copied().unwrap_or(Meta {
                    client_id: 0,
                    account: 0,
                });
                if f.maker_remaining == 0 {
                    self.meta.remove(&f.maker_id);
                }
                // Taker's fill.
                let mut e = self.ev(kind::FILL);
                e.order_id = f.taker_id;
                e.client_id = c.client_id;
                e.account = c.account;
                e.side = taker_side;
                e.price = f.price;
                e.qty = f.qty;
                e.leaves_qty = c.qty.saturating_sub(self.out.taker_filled);
                e.maker_id = f.maker_id;
                e.taker_id = f.taker_id;
                self.out.events.push(e);
                // Maker's fill.
                let mut e = self.ev(kind::FILL);
                e.order_id = f.maker_id;
                e.client_id = maker_meta.client_id;
                e.account = maker_meta.account;
                e.side = taker_side ^ 1;
                e.price = f.price;
                e.qty = f.qty;
                e.leaves_qty = f.maker_remaining;
                e.maker_id = f.maker_id;
                e.taker_id = f.taker_id;
                e.flags = EVENT_MAKER;
                self.out.events.push(e);
                if self.out.want_trades {
                    let mut e = self.ev(kind::TRADE);
                    e.side = taker_side;
                    e.price = f.price;
                    e.qty = f.qty;
                    e.maker_id = f.maker_id;
                    e.taker_id = f.taker_id;
                    self.out.push_md(e);
                }
                if self.out.want_book {
                    self.out.book_touched.push((taker_side ^ 1, f.price));
                }
            }
            Report::Cancelled {
                id,
                side,
                price,
                qty,
                reason: why,
            } => {
                let c = self.out.cmd;
                let m = if id == c.order_id && c.kind == cmd::SUBMIT {
                    Some(Meta {
                        client_id: c.client_id,
                        account: c.account,
                    })
                } else {
                    self.meta.remove(&id)
                };
                let m = m.unwrap_or(Meta {
                    client_id: 0,
                    account: 0,
                });
                let (k, rsn) = match why {
                    CancelReason::Requested => (self.cancel_kind, self.cancel_reason),
                    CancelReason::UnfilledIoc => (kind::CANCELLED, reason::UNFILLED_IOC),
                    CancelReason::SelfTrade => (kind::CANCELLED, reason::SELF_TRADE),
                };
                // A modify that re-entered matching and lost its residual is still that order.
                if c.kind == cmd::MODIFY && id == c.order_id {
                    self.meta.remove(&id);
                }
                let mut e = self.ev(k);
                e.order_id = id;
                e.client_id = m.client_id;
                e.account = m.account;
                e.side = side as u8;
                e.price = price.0;
                e.qty = qty;
                e.leaves_qty = 0;
                e.reason = rsn;
                self.out.events.push(e);
                if self.out.want_book && why != CancelReason::UnfilledIoc {
                    self.out.book_touched.push((side as u8, price.0));
                }
            }
            Report::Modified { id, price, qty, .. } => {
                let m = self.meta.get(&id).copied();
                let mut e = self.ev(kind::MODIFIED);
                e.order_id = id;
                if let Some(m) = m {
                    e.client_id = m.client_id;
                    e.account = m.account;
                }
                e.price = price.0;
                e.qty = qty;
                e.leaves_qty = qty;
                self.out.events.push(e);
            }
            Report::Rejected { id, reason: why } => {
                let c = self.out.cmd;
                let mut e = self.ev(kind::REJECTED);
                e.order_id = id;
                e.client_id = c.client_id;
                e.account = c.account;
                // A refused cancel or modify is not about a side or a price.
                if c.kind == cmd::SUBMIT {
                    e.side = c.side;
                    e.price = c.price;
                    e.qty = c.qty;
                } else {
                    e.side = 2;
                }
                e.reason = match why {
                    RejectReason::FokNotFillable => reason::FOK_NOT_FILLABLE,
                    RejectReason::PostOnlyWouldTake => reason::POST_ONLY_WOULD_TAKE,
                    RejectReason::UnknownOrder => reason::UNKNOWN_ORDER,
                    RejectReason::NoLiquidity => reason::NO_LIQUIDITY,
                    RejectReason::SelfTrade => reason::SELF_TRADE,
                };
                self.out.events.push(e);
            }
            Report::Rested { id, price, .. } => {
                let c = self.out.cmd;
                if c.kind == cmd::SUBMIT && id == c.order_id {
                    self.meta.insert(
                        id,
                        Meta {
                            client_id: c.client_id,
                            account: c.account,
                        },
                    );
                    self.out.rested = true;
                }
                if self.out.want_book {
                    self.out
                        .book_touched
                        .push((if c.kind == cmd::SUBMIT { c.side } else { 2 }, price.0));
                }
            }
        }
    }
}

/// Where a shard's events go.
pub(crate) struct EventOut {
    pub main: Option<rtrb::Producer<Event>>,
}

impl std::fmt::Debug for EventOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventOut")
    }
}

pub(crate) struct Shard {
    pub id: usize,
    shared: Arc<Shared>,
    lanes: Arc<Lanes>,
    stats: StatsWriter,
    syms: Vec<Option<Sym>>,
    out: Out,
    events: EventOut,
    /// Commands waiting for earlier commands that name the same order.
    parked: FxHashMap<u64, BTreeMap<u32, Command>>,
    /// New orders held while paused (queue mode).
    held: VecDeque<Command>,
    paused: bool,
    breaker: u8,
    breaker_since: u64,
    window_orders: u64,
    window_rejects: u64,
    logical_time: u64,
    /// Counts order commands; every 16th is timed through the book.
    sample: u32,
    /// Engine time of the last resume: time queued while paused is not ingress congestion.
    resumed_at: u64,
    /// The running configuration, refreshed between loops when `config_gen` moves (a load
    /// from the `ArcSwap` per command cost ~20 % of the shard's time on W2).
    cfg: Arc<EngineConfig>,
    /// The shard's end of the journal ring (journaled engines).
    pub(crate) journal: Option<ShardJournal>,
    /// Events wait for their commands' records to be durable (fsync always / batch).
    gate: bool,
    /// Events waiting for durability, and per loop (end in `held_events`, records that
    /// must be durable first).
    held_events: Vec<Event>,
    held_marks: VecDeque<(usize, u64)>,
    /// Running hash of the shard's event stream (journaled engines and replays).
    /// Chained per event (`h = xxh3(event, seed = h)`), so a snapshot can carry it.
    pub(crate) ev_hash: Option<u64>,
    /// Replay mode: the journal records still to apply.
    replay: Option<ReplayFeed>,
    /// Replay: where the replayed events go (when collecting).
    pub(crate) collect: Option<Vec<Event>>,
    /// Executing a command (records made now are derived from it).
    in_exec: bool,
    /// Highest command number and order id this shard executed (snapshots).
    last_seq: u64,
    max_order_id: u64,
    /// Journal records of this shard when it last took a snapshot, and the on-demand
    /// snapshot request it last served.
    pub(crate) snap_at: u64,
    snap_gen: u64,
    journal_failed_seen: bool,
    /// Accounts whose kill switch is on.
    killed: FxHashSet<u32>,
    /// This shard is the engine's only one: it alone writes the accounts' counters, with
    /// plain stores (see `Accounts::sole_writer`).
    sole: bool,
    /// Commands for the shards (lane, command) not sent yet.
    outbox: Vec<(usize, Command)>,
    /// Scratch of `book_account_events` (fills that changed realized PnL).
    loss_buf: Vec<(u32, u32, i128)>,
    /// Portfolio exposure is on (some account has `max_gross_exposure` / `max_net_exposure`):
    /// per account, the symbols of this shard where it has a position or open orders; its
    /// part of the exposure is published to `AccountShared::exposure[id]` (see `risk`).
    expo_on: bool,
    /// The accounts this shard has seen: their shared risk state, and their symbols on
    /// this shard with a holding and their exposure terms (index: `acct_ix`; never
    /// shrinks, so an index stays valid).
    accts: Vec<Acct>,
    acct_ix: FxHashMap<u32, u32>,
    /// The account last looked up in `acct_ix` and its index: a command's check and the
    /// bookkeeping of its events look it up once.
    acct_hit: Option<(u32, u32)>,
    /// Shard loops run: an account's other symbols are revalued at its first check in a
    /// loop (see `risk`).
    expo_loop: u64,
    /// Each symbol's mark and tick-lot value (index: symbol), current while `expo_on`.
    expo_px: Vec<ExpoPx>,
    /// Engines of several shards: symbols whose mark a trade moved in this loop (the
    /// accounts holding them republish at its end).
    marks_moved: Vec<u32>,
    /// The exposure an order refused for an exposure limit would have reached (journaled
    /// with its record, taken back from it on replay).
    risk_value: i64,
    /// Simulation: the configuration generation last applied.
    sim_gen: u64,
}

/// A symbol's touch as the simulator's agents see it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Touch {
    pub bid: Option<i64>,
    pub ask: Option<i64>,
    pub trading: bool,
}

/// Journal records fed to a replaying shard.
#[derive(Debug, Default)]
pub(crate) struct ReplayFeed {
    pub queue: VecDeque<Record>,
    /// The payload of the record `consume` took last (an exposure refusal's value).
    pub payload: Option<Box<[u8]>>,
    pub error: Option<JournalError>,
    pub max_order_id: u64,
    pub max_seq: u64,
}

impl ReplayFeed {
    /// Take the record a stamp in the replayed code stands for.
    fn consume(&mut self, shard: usize, c: &mut Command, derived: u8) -> u8 {
        let ok = self
            .queue
            .front()
            .is_some_and(|r| r.cmd.kind == c.kind && r.jflags & J_DERIVED == derived);
        if ok {
            if let Some(r) = self.queue.pop_front() {
                c.seq = r.cmd.seq;
                self.payload = r.payload;
                return r.jflags;
            }
        }
        if self.error.is_none() {
            let what = |k: u8| {
                crate::record::cmd::NAMES
                    .get(k as usize)
                    .copied()
                    .unwrap_or("?")
            };
            let found = self.queue.front().map_or_else(
                || "no record".to_owned(),
                |r| format!("a {} record (flags {})", what(r.cmd.kind), r.jflags),
            );
            self.error = Some(JournalError::Diverged {
                shard: shard as u16,
                seq: self.queue.front().map_or(0, |r| r.cmd.seq),
                problem: format!(
                    "replay made a {}{} command, the journal has {found}",
                    if derived != 0 { "derived " } else { "" },
                    what(c.kind)
                ),
            });
        }
        0
    }
}

impl Shard {
    pub fn new(
        id: usize,
        shared: Arc<Shared>,
        lanes: Arc<Lanes>,
        stats: Arc<ShardStats>,
        events: EventOut,
    ) -> Shard {
        let cfg = shared.config.load();
        let out = Out {
            events: Vec::with_capacity(4096),
            md: Vec::with_capacity(4096),
            cmd: Command::default(),
            now: 0,
            trades: 0,
            last_px: 0,
            taker_filled: 0,
            rested: false,
            book_touched: Vec::new(),
            want_book: cfg.engine.book_events,
            want_trades: cfg.engine.trade_events,
        };
        Shard {
            id,
            shared: shared.clone(),
            lanes,
            stats: StatsWriter::new(stats),
            syms: Vec::new(),
            out,
            events,
            parked: FxHashMap::default(),
            held: VecDeque::new(),
            paused: false,
            breaker: breaker::CLOSED,
            breaker_since: 0,
            window_orders: 0,
            window_rejects: 0,
            logical_time: 0,
            sample: 0,
            resumed_at: 0,
            cfg: shared.config.load_full(),
            journal: None,
            gate: false,
            held_events: Vec::new(),
            held_marks: VecDeque::new(),
            ev_hash: None,
            replay: None,
            collect: None,
            in_exec: false,
            journal_failed_seen: false,
            last_seq: 0,
            max_order_id: 0,
            snap_at: 0,
            snap_gen: 0,
            killed: FxHashSet::default(),
            sole: shared.accounts.sole_writer(),
            outbox: Vec::new(),
            loss_buf: Vec::new(),
            expo_on: false,
            accts: Vec::new(),
            acct_ix: FxHashMap::default(),
            acct_hit: None,
            expo_loop: 0,
            expo_px: Vec::new(),
            marks_moved: Vec::new(),
            risk_value: 0,
            sim_gen: u64::MAX,
        }
    }

    /// Journal this shard's commands (`gate`: hold events until their records are durable).
    pub(crate) fn attach_journal(&mut self, j: ShardJournal, gate: bool) {
        self.snap_at = j.pushed;
        self.journal = Some(j);
        self.gate = gate;
        if self.ev_hash.is_none() {
            self.ev_hash = Some(0);
        }
    }

    /// Attach the poll stream (a shard prepared by a replay gets it at start).
    pub(crate) fn attach_events(&mut self, events: EventOut) {
        self.events = events;
    }

    fn install(&mut self) {
        let mut inbox = self.shared.inbox[self.id]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for s in inbox.drain(..) {
            let i = s.idx as usize;
            if self.syms.len() <= i {
                self.syms.resize_with(i + 1, || None);
            }
            let per = tick_lot_nanos(&s.cfg);
            if self.expo_px.len() <= i {
                self.expo_px.resize(i + 1, ExpoPx::default());
            }
            self.expo_px[i] = ExpoPx::new(s.cfg.reference_price.unwrap_or(0), per);
            self.syms[i] = Some(Sym {
                idx: s.idx,
                book: s.book,
                per,
                mark_moved: false,
                cfg: s.cfg,
                live: s.live,
                symbol_seq: 0,
                last_trade: None,
                halted_until: None,
                halted: false,
                meta: FxHashMap::default(),
                buy_stops: BTreeMap::new(),
                sell_stops: BTreeMap::new(),
                stop_index: FxHashMap::default(),
                day_orders: Vec::new(),
                gtd: BinaryHeap::new(),
                window: VecDeque::new(),
                positions: FxHashMap::default(),
                open: FxHashMap::default(),
            });
        }
    }

    fn refresh_config(&mut self) {
        self.cfg = self.shared.config.load_full();
        let cfg = &self.cfg;
        self.out.want_book = cfg.engine.book_events;
        self.out.want_trades = cfg.engine.trade_events;
        let table = self.shared.symbols.load();
        for s in self.syms.iter_mut().flatten() {
            if let Some(e) = table.entries.get(s.idx as usize) {
                s.cfg = e.cfg.clone();
            }
        }
        // Limits or reference prices may have changed (and a recovered shard starts here).
        self.expo_rebuild();
        if self.journal.is_some() {
            let text = self.config_text();
            let c = Command {
                kind: KIND_CONFIG,
                seq: self.shared.cmd_seq.load(Ordering::Relaxed),
                ts_enqueued: self.out.now,
                ..Command::default()
            };
            self.journal_push(Record {
                cmd: c,
                now: self.out.now,
                shard: self.id as u16,
                jflags: 0,
                payload: Some(text.into_bytes().into_boxed_slice()),
            });
        }
    }

    /// The shard's running options and its symbols' (CONFIG records, snapshots).
    fn config_text(&self) -> String {
        let table = self.shared.symbols.load();
        let mut snap = EngineConfig {
            engine: self.cfg.engine.clone(),
            breaker: self.cfg.breaker.clone(),
            risk: self.cfg.risk.clone(),
            symbols: Default::default(),
        };
        for s in self.syms.iter().flatten() {
            if let Some(e) = table.entries.get(s.idx as usize) {
                snap.symbols.insert(e.name.clone(), s.cfg.clone());
            }
        }
        snap.to_toml()
    }

    /// Replay a CONFIG record: the shard's options and its symbols' as they were then.
    fn apply_config_record(&mut self, r: &Record) -> Result<(), JournalError> {
        let text = r
            .payload
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        self.apply_config_text(&text)
            .map_err(|problem| JournalError::Diverged {
                shard: self.id as u16,
                seq: r.cmd.seq,
                problem,
            })
    }

    fn apply_config_text(&mut self, text: &str) -> Result<(), String> {
        let parsed = EngineConfig::from_toml(text, None)
            .map_err(|e| format!("the configuration record does not parse: {e}"))?;
        let mut merged = (*self.shared.config.load_full()).clone();
        merged.engine = parsed.engine.clone();
        merged.breaker = parsed.breaker.clone();
        merged.risk = parsed.risk.clone();
        let table = self.shared.symbols.load_full();
        let mut next = (*table).clone();
        for (name, scfg) in &parsed.symbols {
            if let Some(&idx) = table.by_name.get(name) {
                if let Some(Some(s)) = self.syms.get_mut(idx as usize) {
                    s.cfg = scfg.clone();
                }
                if let Some(e) = next.entries.get_mut(idx as usize) {
                    e.cfg = scfg.clone();
                }
            }
        }
        self.shared.symbols.store(Arc::new(next));
        self.shared.config.store(Arc::new(merged.clone()));
        self.cfg = Arc::new(merged);
        self.out.want_book = self.cfg.engine.book_events;
        self.out.want_trades = self.cfg.engine.trade_events;
        Ok(())
    }

    fn journal_push(&mut self, r: Record) {
        if let Some(j) = self.journal.as_mut() {
            let _ = j.push(r);
        }
    }

    /// The thread body. Returns the shard (its books and state) when it leaves.
    pub fn run(mut self) -> Shard {
        self.lanes.set_thread(crate::sync::thread::current());
        let mut idle: u32 = 0;
        let mut config_gen = u64::MAX;
        let mut publish_at = 0u64;
        loop {
            if self.shared.inbox_flag[self.id].load(Ordering::Acquire) != 0 {
                self.shared.inbox_flag[self.id].store(0, Ordering::Release);
                self.install();
            }
            let g = self.shared.config_gen.load(Ordering::Acquire);
            if g != config_gen {
                config_gen = g;
                self.refresh_config();
            }
            let now = self.shared.clock.now();
            self.out.now = now;
            self.timers(now);
            let stopping = self.shared.stopping.load(Ordering::Acquire);
            let engine_state = self.shared.state.load(Ordering::Acquire);
            let want_pause = engine_state == STATE_PAUSED && !stopping;
            if want_pause != self.paused {
                self.set_paused(want_pause);
            }
            let mut done = 0usize;
            while let Some(item) = self.lanes.priority.pop() {
                done += self.take(item);
            }
            if !self.paused || self.cfg.engine.reject_when_paused {
                let batch = self.cfg.engine.batch_size;
                while done < batch {
                    let Some(item) = self.lanes.normal.pop() else {
                        break;
                    };
                    done += self.take(item);
                }
            }
            if !self.paused && !self.held.is_empty() {
                while let Some(c) = self.held.pop_front() {
                    self.execute(c);
                    self.release_parked(c.order_id);
                    done += 1;
                }
            }
            let (pd, nd) = self.lanes.depth();
            self.stats.lane_depth(pd as u64, nd as u64);
            if let Some(j) = self.journal.as_ref() {
                if done > 0 {
                    j.js.wake();
                }
            }
            if !self.marks_moved.is_empty() {
                self.expo_marks();
            }
            self.expo_loop += 1;
            if !self.out.events.is_empty() || !self.held_marks.is_empty() {
                let t0 = self.shared.clock.now();
                self.publish();
                let ns = self.shared.clock.now().saturating_sub(t0);
                self.stats.publish_time(ns);
            }
            if !self.outbox.is_empty() {
                self.flush_outbox();
                done += 1;
            }
            if let Some(j) = self.journal.as_ref() {
                // After publish: the event hash then covers every record stamped so far.
                let every = j.js.snapshot_every;
                let due = (every > 0 && j.pushed - self.snap_at >= every)
                    || j.js.snap_request.load(Ordering::Acquire) > self.snap_gen;
                if due && !j.js.failed.load(Ordering::Acquire) {
                    self.take_snapshot();
                }
            }
            if now >= publish_at {
                self.stats.publish();
                publish_at = now + 10_000_000;
            }
            if done == 0 {
                // Quiet: a conflated subscriber still waiting for its snapshot gets it now
                // rather than at the next event.
                self.resync_gaps();
            }
            if done > 0 {
                idle = 0;
                self.stats.busy_loops.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // Leave only when no producer is between its intake check and its push (then
            // every push it makes is in the lanes), and the lanes are empty: in this order.
            if stopping
                && self.shared.producers.load(Ordering::SeqCst) == 0
                && self.lanes.is_empty()
                && self.held_marks.is_empty()
            {
                break;
            }
            if !self.held_marks.is_empty() {
                // Events wait for the journal: the journal thread unparks us when it syncs.
                std::thread::park_timeout(Duration::from_millis(1));
                continue;
            }
            idle = idle.saturating_add(1);
            let cfg = self.shared.config.load();
            if idle <= cfg.engine.idle_spin {
                std::hint::spin_loop();
            } else if idle <= cfg.engine.idle_spin + cfg.engine.idle_yield {
                std::thread::yield_now();
            } else {
                self.stats.parks.fetch_add(1, Ordering::Relaxed);
                let park = Duration::from_millis(cfg.engine.park_ms);
                drop(cfg);
                self.stats.publish();
                self.lanes.park(park);
            }
        }
        self.stats.publish();
        let graceful = !self.shared.discard.load(Ordering::Acquire);
        if let Some(j) = self.journal.as_ref() {
            if graceful && !j.js.failed.load(Ordering::Acquire) && j.pushed > self.snap_at {
                self.take_snapshot();
            }
        }
        if let Some(j) = self.journal.as_ref() {
            j.js.shards_done.fetch_add(1, Ordering::AcqRel);
            j.js.wake();
        }
        self
    }

    /// Put the shard in replay mode (symbols already handed to it are installed).
    pub(crate) fn begin_replay(&mut self, collect: bool) {
        self.install();
        self.replay = Some(ReplayFeed::default());
        if self.ev_hash.is_none() {
            self.ev_hash = Some(0);
        }
        if collect {
            self.collect = Some(Vec::new());
        }
    }

    /// Leave replay mode; returns the highest order id and command number replayed.
    pub(crate) fn end_replay(&mut self) -> (u64, u64) {
        let f = self.replay.take().unwrap_or_default();
        (f.max_order_id, f.max_seq)
    }

    /// Account bookkeeping of the events `self.out.events[start..]` (non-zero accounts):
    /// fills into positions (published to their cells), and open orders and open lots per
    /// account (for the risk checks). Returns whether `watch` was accepted.
    fn book_account_events(&mut self, start: usize, watch: u64) -> bool {
        let mut seen = false;
        let live = self.replay.is_none();
        // (account, symbol, realized - fees change in tick-lot basis points); a buffer kept
        // across commands, so the hot path does not allocate.
        let mut loss_checks = std::mem::take(&mut self.loss_buf);
        let expo = live && self.expo_on;
        // Nobody reads an engine of one shard's slots (its check computes its own part).
        let multi = self.shared.lanes.len() > 1;
        let end = self.out.events.len();
        let mut i = start;
        while i < end {
            let first = self.out.events[i];
            let (account, symbol) = (first.account, first.symbol);
            if account == 0 {
                i += 1;
                continue;
            }
            // A run of events of one account in one symbol (an order and its fills, with
            // the book's and the tape's events between them): its position and open orders
            // are looked up, published and revalued once.
            let mut j = i + 1;
            while j < end {
                let x = &self.out.events[j];
                if x.account != 0 && (x.account != account || x.symbol != symbol) {
                    break;
                }
                j += 1;
            }
            let run = i..j;
            i = j;
            let Some(Some(s)) = self.syms.get_mut(symbol as usize) else {
                continue;
            };
            let mut open = s.open.get_mut(&account);
            let mut pos: Option<&mut (Position, Arc<PositionCell>)> = None;
            // Orders of the account that closed (filled, cancelled, expired).
            let mut closed = 0u64;
            for k in run {
                let e = self.out.events[k];
                if e.account == 0 {
                    continue;
                }
                match e.kind {
                    kind::ACCEPTED => {
                        seen |= e.order_id == watch;
                        let o = match open {
                            Some(o) => o,
                            None => s.open.entry(account).or_default(),
                        };
                        *o.side(e.side) += e.qty;
                        o.orders += 1;
                        open = Some(o);
                    }
                    kind::FILL => {
                        let fee = if e.flags & EVENT_MAKER != 0 {
                            s.cfg.maker_fee_bps
                        } else {
                            s.cfg.taker_fee_bps
                        };
                        let held = match pos {
                            Some(h) => h,
                            None => s.positions.entry(account).or_insert_with(|| {
                                let cell = Arc::new(PositionCell::new(account, symbol));
                                self.shared.positions.rcu(|v| {
                                    let mut v = (**v).clone();
                                    v.push(cell.clone());
                                    v
                                });
                                (Position::default(), cell)
                            }),
                        };
                        let p = &mut held.0;
                        let (realized, fees) = (p.realized, p.fees_bps);
                        p.fill(e.side == 0, e.price, e.qty, fee);
                        if live && (p.realized != realized || p.fees_bps != fees) {
                            let delta = (p.realized - realized) * 10_000 - (p.fees_bps - fees);
                            if delta != 0 {
                                loss_checks.push((account, symbol, delta));
                            }
                        }
                        pos = Some(held);
                        if let Some(o) = open.as_deref_mut() {
                            let l = o.side(e.side);
                            *l = l.saturating_sub(e.qty);
                            closed += u64::from(e.leaves_qty == 0);
                        }
                    }
                    kind::CANCELLED | kind::EXPIRED => {
                        if let Some(o) = open.as_deref_mut() {
                            let l = o.side(e.side);
                            *l = l.saturating_sub(e.qty);
                            closed += 1;
                        }
                    }
                    kind::MODIFIED => {
                        // `detail` = the open lots before the modify.
                        if let Some(o) = open.as_deref_mut() {
                            let l = o.side(e.side);
                            *l = l.saturating_sub(e.detail.max(0) as u64) + e.qty;
                        }
                    }
                    _ => {}
                }
            }
            // Readers see the position once per run (after its last fill).
            if let Some((p, cell)) = pos.as_deref() {
                cell.write(p);
            }
            if closed > 0 {
                if let Some(o) = open.as_deref_mut() {
                    o.orders = o.orders.saturating_sub(closed);
                }
            }
            let lots = open.map(|o| (o.buy, o.sell));
            let net = pos.map(|p| p.0.net);
            if closed > 0 && live {
                let a = self.acct_index(account);
                add_open_orders(
                    &self.accts[a].shared.open_orders,
                    -(closed as i64),
                    self.sole,
                );
            }
            if expo && (lots.is_some() || net.is_some()) {
                // Before the shard runs its next command (see `risk`: the cross-shard
                // bound).
                self.expo_set((account, symbol, lots, net), multi);
            }
        }
        for &(account, symbol, delta_bps) in &loss_checks {
            self.daily_loss(account, symbol, delta_bps);
        }
        loss_checks.clear();
        self.loss_buf = loss_checks;
        seen
    }

    /// Add a fill's realized PnL (minus fees) to the account's session total; past its
    /// `max_daily_loss`, send every shard the account's kill (once per session).
    fn daily_loss(&mut self, account: u32, symbol: u32, delta_bps: i128) {
        let Some(s) = self.syms.get(symbol as usize).and_then(Option::as_ref) else {
            return;
        };
        let per = tick_lot_nanos(&s.cfg);
        let delta = (delta_bps * per / 10_000).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        let a = self.acct_index(account);
        let acct = self.accts[a].shared.clone();
        let total = acct
            .realized_nanos
            .fetch_add(delta as i64, Ordering::AcqRel)
            + delta as i64;
        let Some(limit) = self
            .cfg
            .risk
            .limits(account)
            .and_then(|l| l.max_daily_loss_nanos)
        else {
            return;
        };
        if i128::from(total) > -limit || acct.loss_tripped.swap(true, Ordering::AcqRel) {
            return;
        }
        self.shared.log(
            "risk",
            format!(
                "account {account} lost {} (realized, fees included) this session, past its max_daily_loss: kill switch on",
                format_nanos(-i128::from(total))
            ),
        );
        let c = Command {
            kind: cmd::KILL,
            symbol: ALL,
            account,
            ts_enqueued: self.out.now,
            ..Command::default()
        };
        // Sent from the run loop, never blocking here (a full lane, even this shard's own,
        // is retried at the next loop).
        for shard in 0..self.shared.lanes.len() {
            self.outbox.push((shard, c));
        }
    }

    /// Send the commands this shard queued for the shards (kills), as far as lanes have room.
    fn flush_outbox(&mut self) {
        let shared = &self.shared;
        self.outbox.retain(|&(shard, c)| {
            let Some(lanes) = shared.lanes.get(shard) else {
                return false;
            };
            let sent = lanes.try_push(true, Ingress::One(c)).is_ok();
            if sent {
                lanes.wake();
            }
            !sent
        });
    }

    fn release_open_order(&mut self, account: u32) {
        let a = self.acct_index(account);
        add_open_orders(&self.accts[a].shared.open_orders, -1, self.sole);
    }

    /// Pre-trade risk of a submit (live only): `Ok(reserved)` when it passes (`reserved`:
    /// an open-order slot of a non-zero account was taken), `Err(reason)` otherwise.
    fn risk_check(&mut self, c: &Command) -> Result<bool, u8> {
        if c.account == 0 || (!self.killed.is_empty() && self.killed.contains(&c.account)) {
            // The anonymous flow has no limits; a killed account is refused by `submit`.
            return Ok(false);
        }
        // While the exposure entries are kept, the account's holding in the symbol is read
        // from them once, for the position limit and the exposure check.
        let found = if self.expo_on {
            self.acct_find(c.account).map(|i| {
                let j = self.accts[i].entries.iter().position(|e| e.sym == c.symbol);
                (i, j)
            })
        } else {
            None
        };
        let lim = self.cfg.risk.limits(c.account);
        if let Some(l) = lim {
            let held = self.expo_on.then(|| match found {
                Some((i, Some(j))) => {
                    let e = &self.accts[i].entries[j];
                    (e.net, e.buy, e.sell)
                }
                _ => (0, 0, 0),
            });
            if let Some(why) = self.symbol_risk(c, l, held) {
                return Err(why);
            }
        }
        let rate = lim.and_then(|l| l.max_orders_per_second);
        let burst = lim.and_then(|l| l.burst);
        let max_open = lim.and_then(|l| l.max_open_orders);
        let gross = lim.and_then(|l| l.max_gross_exposure_nanos);
        let net = lim.and_then(|l| l.max_net_exposure_nanos);
        if gross.is_some() || net.is_some() {
            // Read-only, so before the checks that take a token or a slot.
            self.exposure_risk(c, gross, net, found)?;
        }
        let now = self.out.now;
        let a = self.acct_index(c.account);
        let ax = &mut self.accts[a];
        if let Some(rate) = rate {
            let burst = burst.unwrap_or_else(|| (rate.ceil() as u64).max(1));
            if ax.rate.0 != rate.to_bits() {
                ax.rate = (rate.to_bits(), rate_interval(rate));
            }
            if admit_every(&ax.shared.tat, now, ax.rate.1, burst, self.sole).is_err() {
                return Err(reason::RISK_RATE);
            }
        }
        let acct = &ax.shared;
        match max_open {
            Some(max) => {
                if reserve_open_order(&acct.open_orders, max, self.sole).is_err() {
                    return Err(reason::RISK_OPEN_ORDERS);
                }
            }
            None => {
                add_open_orders(&acct.open_orders, 1, self.sole);
            }
        }
        Ok(true)
    }

    /// Portfolio exposure of a submit against `max_gross` / `max_net` (nano-units): this
    /// shard's part exact at the current marks, the other shards' as they last published
    /// it, plus the order. On a refusal `risk_value` holds the exposure it would reach.
    fn exposure_risk(
        &mut self,
        c: &Command,
        max_gross: Option<i128>,
        max_net: Option<i128>,
        found: Option<(usize, Option<usize>)>,
    ) -> Result<(), u8> {
        let Some(s) = self.syms.get(c.symbol as usize).and_then(Option::as_ref) else {
            return Ok(());
        };
        let mark = s.mark();
        let price = if matches!(c.order_type, order_type::LIMIT | order_type::STOP_LIMIT) {
            c.price
        } else {
            // Market and stop orders at the mark; without one, the far side's best price.
            let far = if c.side == 0 {
                s.book.best_ask()
            } else {
                s.book.best_bid()
            };
            mark.or(far.map(|l| l.price.0)).unwrap_or(0)
        };
        let per = s.per;
        #[cfg(debug_assertions)]
        self.expo_check(c.account);
        let multi = self.shared.lanes.len() > 1;
        let (rest, held, sym) = match found {
            Some((i, j)) => {
                let ax = &mut self.accts[i];
                if ax.valued != self.expo_loop {
                    ax.valued = self.expo_loop;
                    ax.revalue(&self.expo_px);
                }
                let mut rest = ax.sum;
                let (held, term) = match j {
                    Some(j) => {
                        ax.revalue_one(j, self.expo_px[c.symbol as usize]);
                        rest = ax.sum;
                        let e = &ax.entries[j];
                        rest -= e.term;
                        ((e.net, e.buy, e.sell), e.term)
                    }
                    None => ((0, 0, 0), Terms::default()),
                };
                if multi {
                    rest += Terms::others(&ax.shared, self.id);
                }
                (rest, held, term)
            }
            None if multi => {
                let a = self.acct_index(c.account);
                let acct = &self.accts[a].shared;
                (Terms::others(acct, self.id), (0, 0, 0), Terms::default())
            }
            None => Default::default(),
        };
        // A symbol without a mark values its open orders at the order's price.
        let (mark, sym) = match mark {
            Some(m) => (m, sym),
            None => (price, Terms::of(held.0, held.1, held.2, price, per)),
        };
        let (g, n) = with_order_term(&rest, &sym, mark < 0, per, c.side == 0, c.qty, price);
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        if let (Some(max), Some(v)) = (max_gross, g) {
            if v > max {
                self.risk_value = clamp(v);
                return Err(reason::RISK_GROSS_EXPOSURE);
            }
        }
        if let (Some(max), Some(v)) = (max_net, n) {
            if v > max {
                self.risk_value = clamp(v);
                return Err(reason::RISK_NET_EXPOSURE);
            }
        }
        Ok(())
    }

    /// `account`'s net position, open buy lots and open sell lots in `s`: from its exposure
    /// entries while they are kept (one lookup, usually the cached one), else from the
    /// position and open-order maps.
    fn holding(&self, s: &Sym, account: u32) -> (i64, u64, u64) {
        if !self.expo_on {
            return s.holding(account);
        }
        let i = match self.acct_hit {
            Some((a, i)) if a == account => i,
            _ => match self.acct_ix.get(&account) {
                Some(&i) => i,
                None => return (0, 0, 0),
            },
        };
        self.accts[i as usize]
            .entries
            .iter()
            .find(|e| e.sym == s.idx)
            .map_or((0, 0, 0), |e| (e.net, e.buy, e.sell))
    }

    /// The index of `account` in `accts`.
    #[inline]
    fn acct_find(&mut self, account: u32) -> Option<usize> {
        if let Some((a, i)) = self.acct_hit {
            if a == account {
                return Some(i as usize);
            }
        }
        let i = *self.acct_ix.get(&account)?;
        self.acct_hit = Some((account, i));
        Some(i as usize)
    }

    /// The index of `account` in `accts`, added when missing.
    #[inline]
    fn acct_index(&mut self, account: u32) -> usize {
        if let Some(i) = self.acct_find(account) {
            return i;
        }
        let i = self.accts.len() as u32;
        self.accts
            .push(Acct::new(self.shared.accounts.get(account)));
        self.acct_ix.insert(account, i);
        self.acct_hit = Some((account, i));
        i as usize
    }

    /// An account's holding in a symbol changed (account, symbol, open lots, net): its
    /// exposure entry and sum follow, and an engine of several shards republishes them.
    #[inline]
    fn expo_set(&mut self, h: HoldingChange, multi: bool) {
        let (account, sym, lots, net) = h;
        let i = self.acct_index(account);
        let ax = &mut self.accts[i];
        ax.set(sym, lots, net, self.expo_px[sym as usize]);
        if multi {
            if let Some(slot) = ax.shared.exposure.get(self.id) {
                slot.store(&ax.sum);
            }
        }
    }

    /// Debug builds: `account`'s exposure entries hold what the position and open-order
    /// maps hold, and their sum is the sum of their terms.
    #[cfg(debug_assertions)]
    fn expo_check(&self, account: u32) {
        let Some(&i) = self.acct_ix.get(&account) else {
            return;
        };
        let ax = &self.accts[i as usize];
        let mut sum = Terms::default();
        for e in &ax.entries {
            if let Some(Some(s)) = self.syms.get(e.sym as usize) {
                assert_eq!(
                    (e.net, e.buy, e.sell),
                    s.holding(account),
                    "stale exposure entry of account {account} in symbol {}",
                    e.sym
                );
            }
            sum += e.term;
        }
        assert_eq!(sum, ax.sum, "exposure sum of account {account}");
        for s in self.syms.iter().flatten() {
            let (n, b, l) = s.holding(account);
            if n != 0 || b != 0 || l != 0 {
                assert!(
                    ax.entries.iter().any(|e| e.sym == s.idx),
                    "no exposure entry of account {account} in symbol {}",
                    s.idx
                );
            }
        }
    }

    /// Publish this shard's part of `account`'s exposure to its slot.
    fn expo_publish(&mut self, i: usize) {
        let ax = &mut self.accts[i];
        ax.revalue(&self.expo_px);
        if let Some(slot) = ax.shared.exposure.get(self.id) {
            slot.store(&ax.sum);
        }
    }

    /// End of a loop (engines of several shards): republish the accounts that hold symbols
    /// whose mark moved.
    fn expo_marks(&mut self) {
        let mut moved = std::mem::take(&mut self.marks_moved);
        let mut touched = Vec::new();
        for &i in &moved {
            let Some(Some(s)) = self.syms.get_mut(i as usize) else {
                continue;
            };
            s.mark_moved = false;
            for a in s.positions.keys().chain(s.open.keys()) {
                if let Some(&i) = self.acct_ix.get(a) {
                    touched.push(i as usize);
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for i in touched {
            self.expo_publish(i);
        }
        moved.clear();
        self.marks_moved = moved;
    }

    /// Exposure bookkeeping from scratch (start, recovery, configuration change): on when an
    /// account has an exposure limit; the marks, every account's entries rebuilt from the
    /// positions and open orders, every slot this shard wrote republished.
    /// Publish a recovered shard's exposure before any shard thread runs, so that no
    /// shard checks an order against another's exposure before that one published it.
    pub(crate) fn publish_recovered_exposure(&mut self) {
        self.expo_rebuild();
    }

    fn expo_rebuild(&mut self) {
        self.marks_moved.clear();
        self.expo_on = self.replay.is_none() && self.cfg.risk.has_exposure();
        self.expo_px.clear();
        self.expo_px.resize(self.syms.len(), ExpoPx::default());
        for ax in &mut self.accts {
            ax.sum = Terms::default();
            ax.entries.clear();
        }
        for s in self.syms.iter_mut().flatten() {
            s.mark_moved = false;
            let px = ExpoPx::new(s.mark().unwrap_or(0), s.per);
            self.expo_px[s.idx as usize] = px;
            if !self.expo_on {
                continue;
            }
            let mut held: Vec<u32> = s.positions.keys().chain(s.open.keys()).copied().collect();
            held.sort_unstable();
            held.dedup();
            for a in held {
                let (net, buy, sell) = s.holding(a);
                let i = match self.acct_ix.get(&a) {
                    Some(&i) => i as usize,
                    None => {
                        self.accts.push(Acct::new(self.shared.accounts.get(a)));
                        self.acct_ix.insert(a, self.accts.len() as u32 - 1);
                        self.accts.len() - 1
                    }
                };
                self.accts[i].set(s.idx, Some((buy, sell)), Some(net), px);
            }
        }
        for i in 0..self.accts.len() {
            // Zeroes the slots of accounts that hold nothing here any more (or whose
            // exposure is off).
            self.expo_publish(i);
        }
    }

    /// The checks of one symbol (deterministic from the shard's state): the first broken.
    /// `held`: the account's holding in the symbol when the caller has it (else read from
    /// the maps).
    fn symbol_risk(
        &self,
        c: &Command,
        l: &crate::config::RiskLimits,
        held: Option<(i64, u64, u64)>,
    ) -> Option<u8> {
        // The checks of `risk_values`, in its order, without its per-reason dispatch and
        // division (the limits' values for a refusal's text come from `risk_values`).
        if l.max_order_qty.is_some_and(|max| c.qty > max) {
            return Some(reason::RISK_ORDER_QTY);
        }
        let s = self.syms.get(c.symbol as usize).and_then(Option::as_ref)?;
        let priced = matches!(c.order_type, order_type::LIMIT | order_type::STOP_LIMIT);
        if let (Some(max), true) = (l.max_order_notional_nanos, priced) {
            // `value > max / per` (floor) is `value * per > max` for a unit `per >= 1`.
            let value = i128::from(c.price) * i128::from(c.qty);
            if value.checked_mul(s.per).map_or(value > 0, |v| v > max) {
                return Some(reason::RISK_ORDER_NOTIONAL);
            }
        }
        if priced && (l.collar_bps.is_some() || l.collar_ticks.is_some()) {
            if let Some(reference) = s.last_trade.or(s.cfg.reference_price) {
                let (dist, allowed) = collar(c.price, reference, l);
                if dist > allowed {
                    return Some(reason::RISK_PRICE_COLLAR);
                }
            }
        }
        if let Some(max) = l.max_position {
            let held = held.unwrap_or_else(|| self.holding(s, c.account));
            if position_with(held, c) > i128::from(max) {
                return Some(reason::RISK_POSITION);
            }
        }
        None
    }

    /// For a risk reason: the order's value and the limit it is held to (`None`: no limit
    /// applies), in the units of the reason (see [`reason`]).
    fn risk_values(
        &self,
        why: u8,
        c: &Command,
        l: &crate::config::RiskLimits,
    ) -> (i128, Option<i128>) {
        let s = self.syms.get(c.symbol as usize).and_then(Option::as_ref);
        let priced = matches!(c.order_type, order_type::LIMIT | order_type::STOP_LIMIT);
        match why {
            reason::RISK_ORDER_QTY => (i128::from(c.qty), l.max_order_qty.map(i128::from)),
            reason::RISK_ORDER_NOTIONAL => {
                let (Some(s), Some(max)) = (s, l.max_order_notional_nanos) else {
                    return (0, None);
                };
                if !priced {
                    return (0, None);
                }
                (i128::from(c.price) * i128::from(c.qty), Some(max / s.per))
            }
            reason::RISK_PRICE_COLLAR => {
                let Some(s) = s else { return (0, None) };
                let Some(reference) = s.last_trade.or(s.cfg.reference_price) else {
                    return (0, None);
                };
                if !priced || (l.collar_bps.is_none() && l.collar_ticks.is_none()) {
                    return (0, None);
                }
                let (dist, allowed) = collar(c.price, reference, l);
                (dist, Some(allowed))
            }
            reason::RISK_POSITION => {
                let (Some(s), Some(max)) = (s, l.max_position) else {
                    return (0, None);
                };
                (
                    position_with(self.holding(s, c.account), c),
                    Some(i128::from(max)),
                )
            }
            reason::RISK_OPEN_ORDERS => {
                let max = l.max_open_orders.map(i128::from);
                (max.map_or(0, |m| m + 1), max)
            }
            reason::RISK_RATE => (0, l.max_orders_per_second.map(|r| r as i128)),
            // The value depended on the other shards: the one the check found (journaled).
            reason::RISK_GROSS_EXPOSURE => {
                (i128::from(self.risk_value), l.max_gross_exposure_nanos)
            }
            reason::RISK_NET_EXPOSURE => (i128::from(self.risk_value), l.max_net_exposure_nanos),
            _ => (0, None),
        }
    }

    /// Refuse a submit for a risk reason: `detail` = the order's value, `leaves_qty` = the
    /// limit (see [`reason`]).
    fn reject_risk(&mut self, c: Command, why: u8) {
        let cfg = self.cfg.clone();
        let (value, limit) = match cfg.risk.limits(c.account) {
            Some(l) => self.risk_values(why, &c, l),
            None => (0, None),
        };
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        self.reject(c, why, clamp(value));
        if let Some(e) = self.out.events.last_mut() {
            e.leaves_qty = limit.map_or(0, |v| v.clamp(0, i128::from(u64::MAX)) as u64);
        }
        self.count_order(true);
    }

    /// Kill switch of `account` on (cancel its open orders here, refuse new ones) or off.
    fn set_kill(&mut self, account: u32, on: bool) {
        if account == 0 {
            return;
        }
        if on {
            self.killed.insert(account);
            let c = Command {
                kind: cmd::MASS_CANCEL,
                symbol: ALL,
                account,
                side: 2,
                ..self.out.cmd
            };
            self.mass_cancel_why(c, reason::KILL_SWITCH);
        } else {
            self.killed.remove(&account);
        }
        if self.id == 0 {
            let seq = self.out.cmd.seq;
            self.engine_event(reason::KILL_SWITCH, i64::from(on), seq);
            if let Some(e) = self.out.events.last_mut() {
                e.account = account;
            }
        }
    }

    /// Records queued for replay.
    pub(crate) fn queued(&self) -> usize {
        self.replay.as_ref().map_or(0, |f| f.queue.len())
    }

    /// Queue a record for replay.
    pub(crate) fn feed(&mut self, r: Record) {
        if let Some(f) = self.replay.as_mut() {
            f.queue.push_back(r);
        }
    }

    /// Apply the queued records: all of them when `at_end`, otherwise all but a margin
    /// (a command's execution may need the derived records that follow it).
    pub(crate) fn replay_queued(&mut self, at_end: bool) -> Result<(), JournalError> {
        const MARGIN: usize = 64;
        loop {
            let Some(feed) = self.replay.as_mut() else {
                return Ok(());
            };
            if let Some(e) = feed.error.take() {
                return Err(e);
            }
            let n = feed.queue.len();
            if n == 0 || (!at_end && n <= MARGIN) {
                break;
            }
            let Some(r) = feed.queue.front() else { break };
            let r = Record {
                payload: None,
                ..r.clone()
            };
            self.replay_one(r)?;
        }
        self.publish();
        Ok(())
    }

    fn replay_one(&mut self, r: Record) -> Result<(), JournalError> {
        let diverged = |problem: String| JournalError::Diverged {
            shard: r.shard,
            seq: r.cmd.seq,
            problem,
        };
        let Some(feed) = self.replay.as_mut() else {
            return Ok(());
        };
        let before = feed.queue.len();
        feed.max_seq = feed.max_seq.max(r.cmd.seq);
        if matches!(r.cmd.kind, cmd::SUBMIT | cmd::NOOP) {
            feed.max_order_id = feed.max_order_id.max(r.cmd.order_id);
        }
        if r.jflags & J_DERIVED != 0 {
            return Err(diverged(format!(
                "a derived {} record with nothing before it that makes it",
                r.cmd.kind_name()
            )));
        }
        self.out.now = r.now;
        let c = r.cmd;
        match c.kind {
            KIND_CONFIG => {
                let full = feed.queue.pop_front();
                if let Some(full) = full {
                    self.apply_config_record(&full)?;
                }
            }
            cmd::TICK => self.symbol_timers(r.now),
            cmd::BREAKER => self.set_breaker(c.side, BreakerMove::Follow),
            cmd::PAUSE => self.set_paused(c.side != 0),
            k if k > cmd::LAST => {
                return Err(diverged(format!("unknown record kind {k}")));
            }
            _ if r.jflags & J_DISCARDED != 0 => {
                let mut c = c;
                self.stamp_flags(&mut c, J_DISCARDED);
                self.out.cmd = c;
                self.reject(c, reason::SHUTDOWN, 0);
            }
            _ => {
                if is_ordered(&c) {
                    let routes = &self.shared.routes;
                    if c.order_seq == 0 {
                        let _ = routes.open(c.order_id, c.symbol);
                    } else if routes.next_command(c.order_id).is_err() {
                        // An order closed before the snapshot the replay started from (its
                        // route was not kept): put its route back as of this command.
                        routes
                            .restore(c.order_id, c.symbol, c.order_seq)
                            .and_then(|()| routes.next_command(c.order_id).map(|_| ()))
                            .map_err(|e| {
                                diverged(format!(
                                    "command {} of order {} has no route: {e:?}",
                                    c.order_seq, c.order_id
                                ))
                            })?;
                    }
                }
                self.execute(c);
            }
        }
        let Some(feed) = self.replay.as_mut() else {
            return Ok(());
        };
        if let Some(e) = feed.error.take() {
            return Err(e);
        }
        if feed.queue.len() >= before {
            return Err(diverged(format!(
                "the journal's {} record had no effect on replay (nothing was due)",
                r.cmd.kind_name()
            )));
        }
        Ok(())
    }

    /// Hashes of each symbol's state (books in priority order without their internal
    /// timestamps, stops, expiry lists, status): `(symbol index, hash)`.
    pub(crate) fn symbol_digests(&self, out: &mut Vec<(u32, u64)>) {
        for s in self.syms.iter().flatten() {
            let mut h = Xxh3::new();
            fn put(h: &mut Xxh3, v: u64) {
                h.update(&v.to_le_bytes());
            }
            put(&mut h, s.symbol_seq);
            put(&mut h, u64::from(s.halted));
            put(&mut h, s.halted_until.unwrap_or(u64::MAX));
            put(&mut h, s.last_trade.map_or(u64::MAX, |p| p as u64));
            for side in [Side::Buy, Side::Sell] {
                let orders = s.book.orders(side);
                put(&mut h, orders.len() as u64);
                for o in orders {
                    put(&mut h, o.id);
                    put(&mut h, o.price.0 as u64);
                    put(&mut h, o.qty);
                    put(&mut h, o.visible);
                    put(&mut h, o.hidden);
                    put(&mut h, o.display);
                    put(&mut h, u64::from(o.account));
                }
            }
            for stops in [&s.buy_stops, &s.sell_stops] {
                put(&mut h, stops.len() as u64);
                for ((px, id), c) in stops {
                    put(&mut h, *px as u64);
                    put(&mut h, *id);
                    let mut c = *c;
                    c.seq = 0;
                    h.update(c.as_bytes());
                }
            }
            put(&mut h, s.day_orders.len() as u64);
            for id in &s.day_orders {
                put(&mut h, *id);
            }
            let mut gtd: Vec<(u64, u64)> = s.gtd.iter().map(|r| r.0).collect();
            gtd.sort_unstable();
            put(&mut h, gtd.len() as u64);
            for (t, id) in gtd {
                put(&mut h, t);
                put(&mut h, id);
            }
            let mut meta: Vec<(u64, Meta)> = s.meta.iter().map(|(k, v)| (*k, *v)).collect();
            meta.sort_unstable_by_key(|m| m.0);
            put(&mut h, meta.len() as u64);
            for (id, m) in meta {
                put(&mut h, id);
                put(&mut h, m.client_id);
                put(&mut h, u64::from(m.account));
            }
            put(&mut h, s.window.len() as u64);
            for (t, px) in &s.window {
                put(&mut h, *t);
                put(&mut h, *px as u64);
            }
            let mut pos: Vec<(u32, Position)> =
                s.positions.iter().map(|(a, (p, _))| (*a, *p)).collect();
            pos.sort_unstable_by_key(|x| x.0);
            put(&mut h, pos.len() as u64);
            for (a, p) in pos {
                put(&mut h, u64::from(a));
                put(&mut h, p.net as u64);
                for v in [p.cost, p.realized, p.fees_bps] {
                    put(&mut h, v as u64);
                    put(&mut h, (v >> 64) as u64);
                }
                put(&mut h, p.bought);
                put(&mut h, p.sold);
                put(&mut h, p.trades);
            }
            let mut open: Vec<(u32, Open)> = s.open.iter().map(|(k, v)| (*k, *v)).collect();
            open.sort_unstable_by_key(|x| x.0);
            put(&mut h, open.len() as u64);
            for (a, o) in open {
                put(&mut h, u64::from(a));
                put(&mut h, o.buy);
                put(&mut h, o.sell);
                put(&mut h, o.orders);
            }
            out.push((s.idx, h.digest()));
        }
    }

    /// Open orders per non-zero account in this shard (to rebuild the shared counters).
    pub(crate) fn open_orders_by_account(&self, out: &mut FxHashMap<u32, i64>) {
        for s in self.syms.iter().flatten() {
            for (a, o) in &s.open {
                *out.entry(*a).or_default() += o.orders as i64;
            }
        }
    }

    /// Hash of the shard's own state (breaker, pause, windows, kill switches).
    pub(crate) fn shard_digest(&self) -> u64 {
        let mut h = Xxh3::new();
        let mut killed: Vec<u32> = self.killed.iter().copied().collect();
        killed.sort_unstable();
        for a in killed {
            h.update(&a.to_le_bytes());
        }
        for v in [
            u64::from(self.breaker),
            self.breaker_since,
            u64::from(self.paused),
            self.window_orders,
            self.window_rejects,
            self.logical_time,
        ] {
            h.update(&v.to_le_bytes());
        }
        h.digest()
    }

    /// The event-stream hash so far.
    pub(crate) fn event_digest(&self) -> u64 {
        self.ev_hash.unwrap_or(0)
    }

    /// The shard's whole state as a snapshot body (see `journal::snapshot`): its own
    /// figures, its configuration, and per symbol the status, the book's resting orders in
    /// priority order (with the commands that named each), the stops, the expiry lists.
    pub(crate) fn snapshot_body(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u(3); // body layout version (2: positions; 3: open orders, kill switches)
        e.u(self.last_seq);
        e.u(self.max_order_id);
        e.u(self.ev_hash.unwrap_or(0));
        e.u(u64::from(self.breaker));
        e.u(self.breaker_since);
        e.u(u64::from(self.paused));
        e.u(self.window_orders);
        e.u(self.window_rejects);
        e.u(self.logical_time);
        e.u(self.resumed_at);
        e.u(self.out.now);
        e.bytes(self.config_text().as_bytes());
        let routes = &self.shared.routes;
        let syms: Vec<&Sym> = self.syms.iter().flatten().collect();
        e.u(syms.len() as u64);
        for s in syms {
            e.u(u64::from(s.idx));
            e.u(s.symbol_seq);
            e.opt(s.last_trade.map(|p| p as u64));
            e.u(u64::from(s.halted));
            e.opt(s.halted_until);
            e.u(s.live.trades.load(Ordering::Relaxed));
            e.u(s.window.len() as u64);
            for (t, px) in &s.window {
                e.u(*t);
                e.i(*px);
            }
            e.u(s.day_orders.len() as u64);
            for id in &s.day_orders {
                e.u(*id);
            }
            let mut gtd: Vec<(u64, u64)> = s.gtd.iter().map(|r| r.0).collect();
            gtd.sort_unstable();
            e.u(gtd.len() as u64);
            for (t, id) in gtd {
                e.u(t);
                e.u(id);
            }
            for stops in [&s.buy_stops, &s.sell_stops] {
                e.u(stops.len() as u64);
                for c in stops.values() {
                    e.0.extend_from_slice(c.as_bytes());
                    e.u(u64::from(routes.applied(c.order_id)));
                }
            }
            let mut meta: Vec<(u64, Meta)> = s.meta.iter().map(|(k, v)| (*k, *v)).collect();
            meta.sort_unstable_by_key(|m| m.0);
            e.u(meta.len() as u64);
            for (id, m) in meta {
                e.u(id);
                e.u(m.client_id);
                e.u(u64::from(m.account));
            }
            for side in [Side::Buy, Side::Sell] {
                let orders = s.book.resting(side);
                e.u(orders.len() as u64);
                for o in orders {
                    e.u(o.id);
                    e.i(o.price.0);
                    e.u(o.visible);
                    e.u(o.hidden);
                    e.u(o.display);
                    e.u(u64::from(o.account));
                    e.u(o.ts);
                    e.u(o.stp as u64);
                    e.u(u64::from(o.post_only));
                    e.u(u64::from(routes.applied(o.id)));
                }
            }
            let mut pos: Vec<(u32, Position)> =
                s.positions.iter().map(|(a, (p, _))| (*a, *p)).collect();
            pos.sort_unstable_by_key(|x| x.0);
            e.u(pos.len() as u64);
            for (a, p) in pos {
                e.u(u64::from(a));
                e.i(p.net);
                for v in [p.cost, p.realized, p.fees_bps] {
                    e.u(v as u64);
                    e.u((v >> 64) as u64);
                }
                e.u(p.bought);
                e.u(p.sold);
                e.u(p.trades);
            }
            let mut open: Vec<(u32, Open)> = s.open.iter().map(|(k, v)| (*k, *v)).collect();
            open.sort_unstable_by_key(|x| x.0);
            e.u(open.len() as u64);
            for (a, o) in open {
                e.u(u64::from(a));
                e.u(o.buy);
                e.u(o.sell);
                e.u(o.orders);
            }
        }
        let mut killed: Vec<u32> = self.killed.iter().copied().collect();
        killed.sort_unstable();
        e.u(killed.len() as u64);
        for a in killed {
            e.u(u64::from(a));
        }
        e.0
    }

    /// Load a snapshot body into this (fresh) shard: its symbols must have been handed to
    /// it already. Rebuilds the order routes of the open orders.
    pub(crate) fn restore_snapshot(&mut self, body: &[u8]) -> Result<(), String> {
        self.install();
        let bad = || "the snapshot body is cut short or malformed".to_owned();
        let mut d = Dec::new(body);
        if d.u() != Some(3) {
            return Err("unknown snapshot body layout (this build reads layout 3)".into());
        }
        self.last_seq = d.u().ok_or_else(bad)?;
        self.max_order_id = d.u().ok_or_else(bad)?;
        self.ev_hash = Some(d.u().ok_or_else(bad)?);
        self.breaker = d.u().ok_or_else(bad)? as u8;
        self.breaker_since = d.u().ok_or_else(bad)?;
        self.paused = d.u().ok_or_else(bad)? != 0;
        self.window_orders = d.u().ok_or_else(bad)?;
        self.window_rejects = d.u().ok_or_else(bad)?;
        self.logical_time = d.u().ok_or_else(bad)?;
        self.resumed_at = d.u().ok_or_else(bad)?;
        self.out.now = d.u().ok_or_else(bad)?;
        let text = String::from_utf8_lossy(d.bytes().ok_or_else(bad)?).into_owned();
        self.apply_config_text(&text)?;
        if self.breaker != breaker::CLOSED {
            self.shared.breaker.store(self.breaker, Ordering::Release);
            self.shared
                .breaker_since
                .store(self.breaker_since, Ordering::Release);
        }
        let n = d.u().ok_or_else(bad)?;
        for _ in 0..n {
            let idx = d.u().ok_or_else(bad)? as u32;
            let routes = &self.shared.routes;
            let Some(Some(s)) = self.syms.get_mut(idx as usize) else {
                return Err(format!(
                    "the snapshot has symbol #{idx}, which symbols.toml does not give this shard"
                ));
            };
            s.symbol_seq = d.u().ok_or_else(bad)?;
            s.last_trade = d.opt().ok_or_else(bad)?.map(|p| p as i64);
            if let Some(px) = s.last_trade {
                s.live.last_trade.store(px, Ordering::Release);
            }
            s.halted = d.u().ok_or_else(bad)? != 0;
            s.live.status.store(u8::from(s.halted), Ordering::Release);
            s.halted_until = d.opt().ok_or_else(bad)?;
            s.live
                .trades
                .store(d.u().ok_or_else(bad)?, Ordering::Relaxed);
            s.window.clear();
            for _ in 0..d.u().ok_or_else(bad)? {
                s.window
                    .push_back((d.u().ok_or_else(bad)?, d.i().ok_or_else(bad)?));
            }
            s.day_orders.clear();
            for _ in 0..d.u().ok_or_else(bad)? {
                s.day_orders.push(d.u().ok_or_else(bad)?);
            }
            s.gtd.clear();
            for _ in 0..d.u().ok_or_else(bad)? {
                s.gtd
                    .push(Reverse((d.u().ok_or_else(bad)?, d.u().ok_or_else(bad)?)));
            }
            for buy in [true, false] {
                for _ in 0..d.u().ok_or_else(bad)? {
                    let raw = d.raw(std::mem::size_of::<Command>()).ok_or_else(bad)?;
                    let c = Command::read_from_bytes(raw).map_err(|_| bad())?;
                    let applied = d.u().ok_or_else(bad)? as u32;
                    s.stop_index.insert(c.order_id, (c.side, c.stop_price));
                    if buy {
                        s.buy_stops.insert((c.stop_price, c.order_id), c);
                    } else {
                        s.sell_stops.insert((c.stop_price, c.order_id), c);
                    }
                    routes
                        .restore(c.order_id, idx, applied)
                        .map_err(|e| format!("order {}: {e:?}", c.order_id))?;
                }
            }
            s.meta.clear();
            for _ in 0..d.u().ok_or_else(bad)? {
                let id = d.u().ok_or_else(bad)?;
                let client_id = d.u().ok_or_else(bad)?;
                let account = d.u().ok_or_else(bad)? as u32;
                s.meta.insert(id, Meta { client_id, account });
            }
            for side in [Side::Buy, Side::Sell] {
                for _ in 0..d.u().ok_or_else(bad)? {
                    let o = RestingOrder {
                        id: d.u().ok_or_else(bad)?,
                        side,
                        price: Price(d.i().ok_or_else(bad)?),
                        visible: d.u().ok_or_else(bad)?,
                        hidden: d.u().ok_or_else(bad)?,
                        display: d.u().ok_or_else(bad)?,
                        account: d.u().ok_or_else(bad)? as u32,
                        ts: d.u().ok_or_else(bad)?,
                        stp: StpMode::from_u8(d.u().ok_or_else(bad)? as u8).ok_or_else(bad)?,
                        post_only: d.u().ok_or_else(bad)? != 0,
                    };
                    let applied = d.u().ok_or_else(bad)? as u32;
                    s.book
                        .restore(&o)
                        .map_err(|e| format!("order {} does not restore: {e}", o.id))?;
                    routes
                        .restore(o.id, idx, applied)
                        .map_err(|e| format!("order {}: {e:?}", o.id))?;
                }
            }
            let i128_of = |d: &mut Dec<'_>| -> Option<i128> {
                let lo = d.u()?;
                let hi = d.u()?;
                Some((i128::from(hi as i64) << 64) | i128::from(lo))
            };
            s.positions.clear();
            for _ in 0..d.u().ok_or_else(bad)? {
                let account = d.u().ok_or_else(bad)? as u32;
                let p = Position {
                    net: d.i().ok_or_else(bad)?,
                    cost: i128_of(&mut d).ok_or_else(bad)?,
                    realized: i128_of(&mut d).ok_or_else(bad)?,
                    fees_bps: i128_of(&mut d).ok_or_else(bad)?,
                    bought: d.u().ok_or_else(bad)?,
                    sold: d.u().ok_or_else(bad)?,
                    trades: d.u().ok_or_else(bad)?,
                };
                let cell = Arc::new(PositionCell::new(account, idx));
                cell.write(&p);
                self.shared.positions.rcu(|v| {
                    let mut v = (**v).clone();
                    v.push(cell.clone());
                    v
                });
                s.positions.insert(account, (p, cell));
            }
            s.open.clear();
            for _ in 0..d.u().ok_or_else(bad)? {
                let a = d.u().ok_or_else(bad)? as u32;
                let o = Open {
                    buy: d.u().ok_or_else(bad)?,
                    sell: d.u().ok_or_else(bad)?,
                    orders: d.u().ok_or_else(bad)?,
                };
                s.open.insert(a, o);
            }
        }
        self.killed.clear();
        for _ in 0..d.u().ok_or_else(bad)? {
            self.killed.insert(d.u().ok_or_else(bad)? as u32);
        }
        if !d.done() {
            return Err("bytes left after the snapshot body".into());
        }
        Ok(())
    }

    /// Snapshot the shard now and hand it to the journal thread, which writes it once every
    /// record it covers is durable.
    fn take_snapshot(&mut self) {
        let Some(j) = self.journal.as_ref() else {
            return;
        };
        let generation = j.js.snap_request.load(Ordering::Acquire);
        let body = self.snapshot_body();
        let records = j.pushed;
        j.js.snap_pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(crate::journal::writer::PendingSnapshot {
                shard: self.id as u16,
                records,
                seq: self.last_seq,
                generation,
                body,
            });
        j.js.wake();
        self.snap_at = records;
        self.snap_gen = generation;
    }

    /// Records this shard handed its journal in total (journaled, started shards).
    pub(crate) fn journal_records(&self) -> Option<u64> {
        self.journal.as_ref().map(|j| j.pushed)
    }

    // -- simulation mode: the shard driven on the caller's thread, in simulated time --------

    /// Prepare a shard the simulator drives (symbols installed, events collected and hashed).
    pub(crate) fn begin_sim(&mut self) {
        self.install();
        if self.ev_hash.is_none() {
            self.ev_hash = Some(0);
        }
        self.collect = Some(Vec::with_capacity(4096));
        self.gate = false;
    }

    /// Pick up symbols added since the simulation started.
    pub(crate) fn sim_install(&mut self) {
        if self.shared.inbox_flag[self.id].load(Ordering::Acquire) != 0 {
            self.shared.inbox_flag[self.id].store(0, Ordering::Release);
            self.install();
        }
    }

    /// What a thread's loop does first: new symbols, a reloaded configuration, the time.
    fn sim_sync(&mut self, now: u64) {
        self.sim_install();
        let g = self.shared.config_gen.load(Ordering::Acquire);
        if g != self.sim_gen {
            self.sim_gen = g;
            self.refresh_config();
        }
        self.out.now = self.out.now.max(now);
    }

    /// Run the timers due at `now` (GTD expiry, halt ends, the breaker's cool-down).
    pub(crate) fn sim_timers(&mut self, now: u64) {
        self.sim_sync(now);
        self.timers(now);
        self.sim_publish();
    }

    /// Execute one command arriving at simulated time `now` (as if taken from a lane).
    pub(crate) fn sim_apply(&mut self, c: Command, now: u64) {
        self.sim_sync(now);
        let engine_state = self.shared.state.load(Ordering::Acquire);
        let want_pause = engine_state == STATE_PAUSED;
        if want_pause != self.paused {
            self.set_paused(want_pause);
        }
        self.accept(c);
        if !self.paused && !self.held.is_empty() {
            while let Some(c) = self.held.pop_front() {
                self.execute(c);
                self.release_parked(c.order_id);
            }
        }
        if !self.marks_moved.is_empty() {
            self.expo_marks();
        }
        self.expo_loop += 1;
    }

    /// Events made since the last [`Shard::sim_take_events`].
    pub(crate) fn sim_pending(&self) -> bool {
        !self.out.events.is_empty()
    }

    fn sim_publish(&mut self) {
        if !self.out.events.is_empty() {
            self.publish();
        }
        if let Some(j) = self.journal.as_ref() {
            j.js.wake();
            let every = j.js.snapshot_every;
            let due = (every > 0 && j.pushed - self.snap_at >= every)
                || j.js.snap_request.load(Ordering::Acquire) > self.snap_gen;
            if due && !j.js.failed.load(Ordering::Acquire) {
                self.take_snapshot();
            }
        }
    }

    /// The events collected since the last call, appended to `out`.
    pub(crate) fn sim_take_events(&mut self, out: &mut Vec<Event>) {
        self.sim_publish();
        if let Some(c) = self.collect.as_mut() {
            if out.is_empty() {
                // No copy: `out` takes the buffer, the shard keeps `out`'s (empty) one,
                // given room for as many events as this window had (no regrowth).
                std::mem::swap(out, c);
                c.reserve(out.len());
            } else {
                out.append(c);
            }
        }
    }

    /// Serve the snapshots subscribers asked for ([`Subscription::request_snapshot`]) or
    /// still wait for after a gap.
    pub(crate) fn sim_resync(&mut self) {
        self.resync_gaps();
    }

    /// Commands this shard addressed to shards (kill switch fan-out), taken.
    pub(crate) fn sim_take_outbox(&mut self) -> Vec<(usize, Command)> {
        std::mem::take(&mut self.outbox)
    }

    /// The earliest timer of this shard (GTD expiry, halt end), engine ns.
    pub(crate) fn next_timer(&self) -> Option<u64> {
        self.syms
            .iter()
            .flatten()
            .filter_map(|s| {
                let h = s.halted_until;
                let g = s.gtd.peek().map(|Reverse((t, _))| *t);
                match (h, g) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min()
    }

    /// Best bid and ask of `sym` in ticks and whether it trades now.
    pub(crate) fn touch(&self, sym: u32) -> Option<Touch> {
        let s = self.syms.get(sym as usize)?.as_ref()?;
        Some(Touch {
            bid: s.book.best_bid().map(|l| l.price.0),
            ask: s.book.best_ask().map(|l| l.price.0),
            trading: !s.halted,
        })
    }

    /// Whether order `id` rests in `sym`'s book, and its open lots.
    pub(crate) fn resting_qty(&self, sym: u32, id: u64) -> Option<u64> {
        let s = self.syms.get(sym as usize)?.as_ref()?;
        s.book.order(id).map(|o| o.qty)
    }

    /// What a thread's run loop does when it leaves (the snapshot of a graceful stop).
    pub(crate) fn sim_finish(&mut self) {
        self.sim_publish();
        self.stats.publish();
        if let Some(j) = self.journal.as_ref() {
            if !j.js.failed.load(Ordering::Acquire) && j.pushed > self.snap_at {
                self.take_snapshot();
            }
        }
        if let Some(j) = self.journal.as_ref() {
            j.js.shards_done.fetch_add(1, Ordering::AcqRel);
            j.js.wake();
        }
    }

    /// Highest command number, order id and engine time this shard has seen.
    pub(crate) fn high_marks(&self) -> (u64, u64, u64) {
        (self.last_seq, self.max_order_id, self.out.now)
    }

    fn take(&mut self, item: Ingress) -> usize {
        match item {
            Ingress::One(c) => {
                self.accept(c);
                1
            }
            Ingress::Many(cs) => {
                let n = cs.len();
                self.shared.batch_queued[self.id].fetch_sub(n, Ordering::AcqRel);
                for c in cs.iter() {
                    self.accept(*c);
                }
                n
            }
        }
    }

    /// A command from a lane: keep per-order order, then execute.
    fn accept(&mut self, c: Command) {
        // Queued after this loop read the clock: it cannot be processed before it was queued.
        self.out.now = self.out.now.max(c.ts_enqueued);
        let delay = self.out.now.saturating_sub(c.ts_enqueued);
        self.stats.queue_wait(delay);
        let running_delay = self
            .out
            .now
            .saturating_sub(c.ts_enqueued.max(self.resumed_at));
        if self.breaker_cfg_trips_on_delay(running_delay) {
            self.trip_breaker();
        }
        if self.shared.discard.load(Ordering::Relaxed)
            && matches!(c.kind, cmd::SUBMIT | cmd::CANCEL | cmd::MODIFY)
        {
            // Stop without drain: refuse what is still queued, visibly.
            let mut c = c;
            self.stamp_flags(&mut c, J_DISCARDED);
            self.out.cmd = c;
            self.reject(c, reason::SHUTDOWN, 0);
            return;
        }
        if is_ordered(&c) {
            let applied = self.shared.routes.applied(c.order_id);
            if c.order_seq != applied {
                self.stats.parked.fetch_add(1, Ordering::Relaxed);
                self.parked
                    .entry(c.order_id)
                    .or_default()
                    .insert(c.order_seq, c);
                return;
            }
            self.run_ordered(c);
            self.release_parked(c.order_id);
        } else {
            self.execute(c);
        }
    }

    fn run_ordered(&mut self, c: Command) {
        if c.kind == cmd::SUBMIT && self.paused && !self.cfg.engine.reject_when_paused {
            // Held: applied only when it runs, so commands naming it keep waiting.
            self.held.push_back(c);
            return;
        }
        self.execute(c);
    }

    /// Run the parked commands whose turn has come after a command of order `id` ran.
    fn release_parked(&mut self, id: u64) {
        while let Some(q) = self.parked.get_mut(&id) {
            let next = self.shared.routes.applied(id);
            let Some(c) = q.remove(&next) else { break };
            if q.is_empty() {
                self.parked.remove(&id);
            }
            self.run_ordered(c);
        }
    }

    fn stamp(&mut self, c: &mut Command) {
        self.stamp_flags(c, 0);
    }

    /// Give a command its sequence number and journal it; returns its journal flags. In a
    /// replay the number (and the flags) come from the journal record it stands for.
    fn stamp_flags(&mut self, c: &mut Command, jflags: u8) -> u8 {
        let derived = if self.in_exec { J_DERIVED } else { 0 };
        let jf = if let Some(feed) = self.replay.as_mut() {
            let jf = feed.consume(self.id, c, derived);
            if let Some(p) = feed.payload.take() {
                if is_exposure_refusal(jf) {
                    let mut b = [0u8; 8];
                    let n = p.len().min(8);
                    b[..n].copy_from_slice(&p[..n]);
                    self.risk_value = i64::from_le_bytes(b);
                }
            }
            jf
        } else {
            c.seq = self.shared.cmd_seq.fetch_add(1, Ordering::Relaxed) + 1;
            let jf = jflags | derived;
            if let Some(j) = self.journal.as_mut() {
                // An exposure refusal depended on the other shards: its value goes along.
                let payload = is_exposure_refusal(jf)
                    .then(|| Box::from(self.risk_value.to_le_bytes().as_slice()));
                let _ = j.push(Record {
                    cmd: *c,
                    now: self.out.now,
                    shard: self.id as u16,
                    jflags: jf,
                    payload,
                });
            }
            jf
        };
        if c.ts_enqueued > self.logical_time {
            self.logical_time = c.ts_enqueued;
        }
        self.last_seq = self.last_seq.max(c.seq);
        if matches!(c.kind, cmd::SUBMIT | cmd::NOOP) {
            self.max_order_id = self.max_order_id.max(c.order_id);
        }
        jf
    }

    /// Execute one command (sequenced here).
    fn execute(&mut self, mut c: Command) {
        // Pre-trade risk runs before the command is sequenced, so that the journal records
        // the decision (a replay applies it rather than deciding again).
        let mut risk_flags = 0u8;
        let mut reserved = false;
        if c.kind == cmd::SUBMIT && self.replay.is_none() {
            match self.risk_check(&c) {
                Ok(r) => reserved = r,
                Err(why) => risk_flags = J_RISK | ((why - reason::RISK_ORDER_QTY) << 4),
            }
        }
        let jf = self.stamp_flags(&mut c, risk_flags);
        self.out.cmd = c;
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        let ordered = is_ordered(&c);
        let timed = c.kind <= cmd::MODIFY && {
            self.sample = self.sample.wrapping_add(1);
            self.sample & 15 == 0
        };
        let t0 = if timed { self.shared.clock.now() } else { 0 };
        self.in_exec = true;
        let ev_start = self.out.events.len();
        match c.kind {
            cmd::SUBMIT if jf & J_RISK != 0 => {
                self.reject_risk(c, reason::RISK_ORDER_QTY + (jf >> 4));
            }
            cmd::SUBMIT => self.submit(c),
            cmd::KILL => self.set_kill(c.account, true),
            cmd::RESET_KILL => self.set_kill(c.account, false),
            cmd::CANCEL => self.cancel(c, kind::CANCELLED, reason::USER),
            cmd::MODIFY => self.modify(c),
            cmd::MASS_CANCEL => self.mass_cancel(c),
            cmd::HALT => self.halt(c.symbol, reason::OPERATOR, 0, None),
            cmd::RESUME => self.resume_symbol(c.symbol, reason::OPERATOR),
            cmd::END_SESSION => self.end_session(),
            _ => {}
        }
        let accepted = self.book_account_events(ev_start, c.order_id);
        if reserved && !accepted {
            // Reserved at the risk check, never accepted: give the slot back.
            self.release_open_order(c.account);
        }
        self.in_exec = false;
        if timed {
            let ns = self.shared.clock.now().saturating_sub(t0);
            self.stats.matching(ns);
        }
        if ordered {
            self.shared.routes.mark_applied(c.order_id);
        }
    }

    fn sym_mut(&mut self, idx: u32) -> Option<&mut Sym> {
        if self.syms.get(idx as usize).is_none_or(|s| s.is_none()) {
            self.install();
        }
        self.syms.get_mut(idx as usize).and_then(|s| s.as_mut())
    }

    fn reject(&mut self, c: Command, why: u8, detail: i64) {
        let now = self.out.now;
        let Some(s) = self.sym_mut(c.symbol) else {
            return;
        };
        s.symbol_seq += 1;
        let e = Event {
            symbol_seq: s.symbol_seq,
            symbol: c.symbol,
            kind: kind::REJECTED,
            order_id: c.order_id,
            client_id: c.client_id,
            account: c.account,
            side: c.side,
            price: c.price,
            qty: c.qty,
            reason: why,
            detail,
            ts_enqueued: c.ts_enqueued,
            ts_processed: now,
            cmd_seq: c.seq as u32,
            ..Event::default()
        };
        self.out.events.push(e);
        self.stats.reject(why);
    }

    fn count_order(&mut self, rejected: bool) {
        let b = &self.cfg.breaker;
        if !b.enabled {
            return;
        }
        self.window_orders += 1;
        if rejected {
            self.window_rejects += 1;
        }
        let window = if self.breaker == breaker::HALF_OPEN {
            b.probe_orders
        } else {
            b.window
        };
        if self.window_orders >= window {
            let rate = self.window_rejects as f64 / self.window_orders as f64;
            let unhealthy = rate >= b.reject_rate;
            self.window_orders = 0;
            self.window_rejects = 0;
            if unhealthy {
                self.trip_breaker();
            } else if self.breaker == breaker::HALF_OPEN {
                self.set_breaker(breaker::CLOSED, BreakerMove::Announce);
            }
        }
    }

    fn breaker_cfg_trips_on_delay(&self, delay_ns: u64) -> bool {
        let cfg = &self.cfg;
        cfg.breaker.enabled
            && self.breaker != breaker::OPEN
            && delay_ns / 1000 > cfg.breaker.max_queue_delay_us
    }

    fn trip_breaker(&mut self) {
        if self.breaker != breaker::OPEN {
            self.set_breaker(breaker::OPEN, BreakerMove::Announce);
        }
    }

    /// Change the breaker: as a sequenced command, with an engine event when this shard made
    /// the transition. Whether it did depends on the other shards, so the journal record
    /// says (`J_EMITTED`) and a replay follows it.
    fn set_breaker(&mut self, state: u8, how: BreakerMove) {
        let now = self.out.now;
        let mut c = Command {
            kind: cmd::BREAKER,
            side: state,
            ts_enqueued: now,
            ..Command::default()
        };
        let emit_live = self.replay.is_none()
            && match how {
                BreakerMove::Follow => false,
                BreakerMove::Announce => {
                    let prev = self.shared.breaker.swap(state, Ordering::AcqRel);
                    self.shared.breaker_since.store(now, Ordering::Release);
                    prev != state
                }
                BreakerMove::HalfOpen => true,
            };
        let jf = self.stamp_flags(&mut c, if emit_live { J_EMITTED } else { 0 });
        if self.replay.is_some() {
            self.shared.breaker.store(state, Ordering::Release);
            self.shared.breaker_since.store(now, Ordering::Release);
        }
        self.breaker = state;
        self.breaker_since = now;
        self.window_orders = 0;
        self.window_rejects = 0;
        if jf & J_EMITTED != 0 {
            self.engine_event(reason::BREAKER, state as i64, c.seq);
            if self.replay.is_none() {
                self.shared.log(
                    "breaker",
                    format!(
                        "circuit breaker {} (shard {})",
                        crate::record::breaker::NAMES[state as usize],
                        self.id
                    ),
                );
            }
        }
    }

    fn engine_event(&mut self, why: u8, detail: i64, seq: u64) {
        let now = self.out.now;
        self.out.events.push(Event {
            kind: kind::ENGINE,
            symbol: u32::MAX,
            reason: why,
            detail,
            ts_enqueued: now,
            ts_processed: now,
            cmd_seq: seq as u32,
            ..Event::default()
        });
    }

    fn set_paused(&mut self, paused: bool) {
        let mut c = Command {
            kind: cmd::PAUSE,
            side: paused as u8,
            ts_enqueued: self.out.now,
            ..Command::default()
        };
        self.stamp(&mut c);
        self.paused = paused;
        if !paused {
            self.resumed_at = self.out.now;
        }
        if self.id == 0 {
            self.engine_event(reason::PAUSE, paused as i64, c.seq);
        }
    }

    fn timers(&mut self, now: u64) {
        // Breaker: follow the engine-wide state; run the cool-down.
        let global = self.shared.breaker.load(Ordering::Acquire);
        if global != self.breaker {
            self.set_breaker(global, BreakerMove::Follow);
        }
        if self.breaker == breaker::OPEN {
            let cool = self.shared.config.load().breaker.cooldown_ms * 1_000_000;
            let since = self.shared.breaker_since.load(Ordering::Acquire);
            if now.saturating_sub(since) >= cool
                && self
                    .shared
                    .breaker
                    .compare_exchange(
                        breaker::OPEN,
                        breaker::HALF_OPEN,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
            {
                self.breaker = breaker::OPEN;
                self.set_breaker(breaker::HALF_OPEN, BreakerMove::HalfOpen);
                self.shared.log(
                    "breaker",
                    format!("circuit breaker half_open (shard {})", self.id),
                );
            }
        }
        self.symbol_timers(now);
    }

    /// GTD expiry and halt ends that are due at `now`, as one sequenced tick.
    fn symbol_timers(&mut self, now: u64) {
        let due = self.syms.iter().flatten().any(|s| {
            s.halted_until.is_some_and(|t| t <= now)
                || s.gtd.peek().is_some_and(|Reverse((t, _))| *t <= now)
        });
        if !due {
            return;
        }
        let mut c = Command {
            kind: cmd::TICK,
            price: now as i64,
            ts_enqueued: now,
            ..Command::default()
        };
        self.stamp(&mut c);
        self.out.cmd = c;
        let ev_start = self.out.events.len();
        let n = self.syms.len();
        for i in 0..n {
            let (resume, expired) = {
                let Some(Some(s)) = self.syms.get_mut(i) else {
                    continue;
                };
                let resume = s.halted_until.is_some_and(|t| t <= now);
                let mut expired = Vec::new();
                while s.gtd.peek().is_some_and(|Reverse((t, _))| *t <= now) {
                    if let Some(Reverse((_, id))) = s.gtd.pop() {
                        expired.push(id);
                    }
                }
                (resume, expired)
            };
            if resume {
                self.resume_symbol(i as u32, reason::VOLATILITY);
            }
            for id in expired {
                self.expire(i as u32, id);
            }
        }
        // Expired orders close like cancelled ones: their accounts' open orders, open lots
        // and exposure are released.
        self.book_account_events(ev_start, 0);
    }

    fn submit(&mut self, c: Command) {
        let breaker_open = self.breaker == breaker::OPEN;
        let paused_reject = self.paused;
        let killed = c.account != 0 && self.killed.contains(&c.account);
        let Some(s) = self.sym_mut(c.symbol) else {
            return;
        };
        if killed {
            self.reject(c, reason::KILL_SWITCH, 0);
            self.count_order(true);
            return;
        }
        if s.halted {
            self.reject(c, reason::HALTED, 0);
            self.count_order(true);
            return;
        }
        if breaker_open {
            self.reject(c, reason::BREAKER_OPEN, 0);
            return;
        }
        if paused_reject {
            self.reject(c, reason::PAUSED, 0);
            return;
        }
        let priced = matches!(c.order_type, order_type::LIMIT | order_type::STOP_LIMIT);
        if priced {
            if let Some(edge) = band_violation(s, c.price) {
                self.reject(c, reason::PRICE_BAND, edge);
                self.count_order(true);
                return;
            }
        }
        if matches!(c.order_type, order_type::STOP | order_type::STOP_LIMIT) {
            self.accept_stop(c);
            self.count_order(false);
            return;
        }
        let rejected = self.enter(c.symbol, c);
        self.count_order(rejected);
    }

    /// Send an order into the book; returns whether it was rejected.
    fn enter(&mut self, sym: u32, c: Command) -> bool {
        self.out.cmd = c;
        let Some((res, before)) = self.book_submit(sym, &c) else {
            return true;
        };
        if let Err(e) = res {
            self.book_error(c, &e);
            return true;
        }
        let rejected = self.out.events[before..]
            .iter()
            .any(|e| e.kind == kind::REJECTED);
        self.settle(sym, &c);
        rejected
    }

    /// Run `c` through its symbol's book with the shard's sink. Returns the book's result
    /// and where the order's events start in the loop's events (None: no such symbol).
    fn book_submit(&mut self, sym: u32, c: &Command) -> Option<(Result<(), OrderError>, usize)> {
        let o = to_new_order(c);
        self.out.trades = 0;
        self.out.taker_filled = 0;
        self.out.rested = false;
        let Some(Some(s)) = self.syms.get_mut(sym as usize) else {
            return None;
        };
        let before = self.out.events.len();
        let mut sink = SymSink {
            out: &mut self.out,
            sym_idx: sym,
            symbol_seq: &mut s.symbol_seq,
            meta: &mut s.meta,
            cancel_reason: reason::USER,
            cancel_kind: kind::CANCELLED,
        };
        let res = s.book.submit(&o, &mut sink).map(|_| ());
        Some((res, before))
    }

    /// The book refused an order outright: a `rejected` event with the reason.
    fn book_error(&mut self, c: Command, e: &OrderError) {
        let why = if matches!(e, OrderError::BookFull) {
            reason::BOOK_FULL
        } else {
            reason::INVALID
        };
        self.reject(c, why, 0);
    }

    /// After the book took an order: expiry timers for a DAY or GTD order that rested, then
    /// what its trades set off.
    fn settle(&mut self, sym: u32, c: &Command) {
        if self.out.rested {
            if let Some(Some(s)) = self.syms.get_mut(sym as usize) {
                match c.tif {
                    tif::DAY => s.day_orders.push(c.order_id),
                    tif::GTD => s.gtd.push(Reverse((c.expire_at, c.order_id))),
                    _ => {}
                }
            }
        }
        self.after_match(sym);
    }

    /// Trades happened: last trade, stops, volatility guard, book deltas.
    fn after_match(&mut self, sym: u32) {
        self.flush_book(sym);
        if self.out.trades == 0 {
            return;
        }
        let px = self.out.last_px;
        let t = self.logical_time;
        let Some(Some(s)) = self.syms.get_mut(sym as usize) else {
            return;
        };
        s.last_trade = Some(px);
        s.live.last_trade.store(px, Ordering::Release);
        if self.expo_on {
            if let Some(x) = self.expo_px.get_mut(sym as usize) {
                *x = ExpoPx::new(px, x.per);
            }
            if !s.mark_moved && self.shared.lanes.len() > 1 {
                s.mark_moved = true;
                self.marks_moved.push(sym);
            }
        }
        s.live
            .trades
            .fetch_add(u64::from(self.out.trades), Ordering::Relaxed);
        self.out.trades = 0;
        // Volatility guard.
        if let Some(pct) = s.cfg.halt_pct {
            let win = s.cfg.halt_window_ms * 1_000_000;
            s.window.push_back((t, px));
            while s
                .window
                .front()
                .is_some_and(|(ts, _)| t.saturating_sub(*ts) > win)
            {
                s.window.pop_front();
            }
            let (lo, hi) = s
                .window
                .iter()
                .fold((i64::MAX, i64::MIN), |(lo, hi), (_, p)| {
                    (lo.min(*p), hi.max(*p))
                });
            if lo > 0 && !s.halted {
                let bps = (hi - lo) as f64 / lo as f64 * 10_000.0;
                if bps > pct * 100.0 {
                    let until = self.out.now + s.cfg.halt_duration_ms * 1_000_000;
                    s.window.clear();
                    self.halt(sym, reason::VOLATILITY, bps as i64, Some(until));
                    return;
                }
            }
        }
        self.trigger_stops(sym, px);
    }

    fn trigger_stops(&mut self, sym: u32, px: i64) {
        loop {
            let next = {
                let Some(Some(s)) = self.syms.get_mut(sym as usize) else {
                    return;
                };
                if s.halted {
                    return;
                }
                let buy = s
                    .buy_stops
                    .first_key_value()
                    .map(|(k, _)| *k)
                    .filter(|k| k.0 <= px);
                let sell = s
                    .sell_stops
                    .last_key_value()
                    .map(|(k, _)| *k)
                    .filter(|k| k.0 >= px);
                if let Some(k) = buy {
                    s.buy_stops.remove(&k)
                } else if let Some(k) = sell {
                    s.sell_stops.remove(&k)
                } else {
                    None
                }
            };
            let Some(c) = next else { return };
            self.fire_stop(sym, c);
        }
    }

    fn fire_stop(&mut self, sym: u32, c: Command) {
        let now = self.out.now;
        let Some(Some(s)) = self.syms.get_mut(sym as usize) else {
            return;
        };
        s.stop_index.remove(&c.order_id);
        s.symbol_seq += 1;
        let cmd_seq = self.out.cmd.seq;
        self.out.events.push(Event {
            price: c.stop_price,
            ..Event::of_order(&c, kind::TRIGGERED, s.symbol_seq, now, cmd_seq)
        });
        let mut entry = c;
        entry.order_type = if c.order_type == order_type::STOP {
            order_type::MARKET
        } else {
            order_type::LIMIT
        };
        if entry.order_type == order_type::MARKET && entry.tif != tif::FOK {
            entry.tif = tif::IOC;
        }
        entry.seq = self.out.cmd.seq;
        self.enter_triggered(sym, entry);
    }

    fn enter_triggered(&mut self, sym: u32, c: Command) {
        // As enter(), but the accepted event was sent when the stop was accepted.
        let saved = self.out.cmd;
        self.out.cmd = c;
        if let Some((res, before)) = self.book_submit(sym, &c) {
            // Drop the book's second "accepted" for the triggered order.
            if let Some(pos) = self.out.events[before..]
                .iter()
                .position(|e| e.kind == kind::ACCEPTED && e.order_id == c.order_id)
            {
                self.out.events.remove(before + pos);
                // Market-data events after it (this command's trades) moved down one.
                let gone = (before + pos) as u32;
                for i in self.out.md.iter_mut().rev() {
                    if *i < gone {
                        break;
                    }
                    *i -= 1;
                }
                // Keep symbol_seq gap-free: renumber what followed.
                if let Some(Some(s)) = self.syms.get_mut(sym as usize) {
                    s.symbol_seq -= 1;
                    for e in &mut self.out.events[before + pos..] {
                        if e.symbol == sym && e.kind != kind::ENGINE {
                            e.symbol_seq -= 1;
                        }
                    }
                }
            }
            match res {
                Err(e) => self.book_error(c, &e),
                Ok(()) => self.settle(sym, &c),
            }
        }
        self.out.cmd = saved;
    }

    fn accept_stop(&mut self, c: Command) {
        let now = self.out.now;
        let Some(Some(s)) = self.syms.get_mut(c.symbol as usize) else {
            return;
        };
        s.symbol_seq += 1;
        self.out.events.push(Event {
            price: if c.order_type == order_type::STOP {
                c.stop_price
            } else {
                c.price
            },
            detail: c.stop_price,
            ..Event::of_order(&c, kind::ACCEPTED, s.symbol_seq, now, c.seq)
        });
        let triggered = s.last_trade.is_some_and(|lt| {
            if c.side == 0 {
                lt >= c.stop_price
            } else {
                lt <= c.stop_price
            }
        });
        if triggered {
            self.fire_stop(c.symbol, c);
            return;
        }
        s.stop_index.insert(c.order_id, (c.side, c.stop_price));
        if c.tif == tif::GTD {
            // A pending GTD stop expires like a resting one (expire() finds it in the stop
            // book; once triggered and resting, enter_triggered queues it again, harmlessly).
            s.gtd.push(Reverse((c.expire_at, c.order_id)));
        }
        if c.side == 0 {
            s.buy_stops.insert((c.stop_price, c.order_id), c);
        } else {
            s.sell_stops.insert((c.stop_price, c.order_id), c);
        }
    }

    /// Take a pending stop off; returns it.
    fn take_stop(&mut self, sym: u32, id: u64) -> Option<Command> {
        let s = self.syms.get_mut(sym as usize)?.as_mut()?;
        let (side, px) = s.stop_index.remove(&id)?;
        if side == 0 {
            s.buy_stops.remove(&(px, id))
        } else {
            s.sell_stops.remove(&(px, id))
        }
    }

    fn stop_cancelled(&mut self, sym: u32, st: Command, k: u8, why: u8) {
        let now = self.out.now;
        let seq = self.out.cmd.seq;
        let Some(Some(s)) = self.syms.get_mut(sym as usize) else {
            return;
        };
        s.symbol_seq += 1;
        let ts_enqueued = self.out.cmd.ts_enqueued;
        self.out.events.push(Event {
            symbol: sym,
            leaves_qty: 0,
            reason: why,
            ts_enqueued,
            ..Event::of_order(&st, k, s.symbol_seq, now, seq)
        });
    }

    /// Cancel one order (user, mass cancel, expiry): `k` is the event kind.
    fn cancel_one(&mut self, sym: u32, id: u64, k: u8, why: u8) -> bool {
        if let Some(st) = self.take_stop(sym, id) {
            self.stop_cancelled(sym, st, k, why);
            return true;
        }
        let Some(Some(s)) = self.syms.get_mut(sym as usize) else {
            return false;
        };
        // Only a user's cancel of an unknown order is reported (by the book, as rejected).
        if why != reason::USER && s.book.order(id).is_none() {
            return false;
        }
        let mut sink = SymSink {
            out: &mut self.out,
            sym_idx: sym,
            symbol_seq: &mut s.symbol_seq,
            meta: &mut s.meta,
            cancel_reason: why,
            cancel_kind: k,
        };
        let ok = s.book.cancel(id, &mut sink).is_ok();
        if ok {
            self.flush_book(sym);
        }
        ok
    }

    /// Whether `c` (a cancel or modify) names an order of another account: only the owner,
    /// or account 0 (the operator), may touch an order.
    fn not_owner(&self, c: &Command) -> bool {
        if c.account == 0 {
            return false;
        }
        let Some(Some(s)) = self.syms.get(c.symbol as usize) else {
            return false;
        };
        let owner = s.meta.get(&c.order_id).map(|m| m.account).or_else(|| {
            s.stop_index.get(&c.order_id).and_then(|&(side, px)| {
                let book = if side == 0 {
                    &s.buy_stops
                } else {
                    &s.sell_stops
                };
                book.get(&(px, c.order_id)).map(|st| st.account)
            })
        });
        owner.is_some_and(|o| o != c.account)
    }

    fn cancel(&mut self, c: Command, k: u8, why: u8) {
        if self.sym_mut(c.symbol).is_none() {
            return;
        }
        if why == reason::USER && self.not_owner(&c) {
            self.reject(c, reason::NOT_OWNER, 0);
            return;
        }
        if !self.cancel_one(c.symbol, c.order_id, k, why) {
            // The book reports an unknown order as rejected through the sink.
            let last = self.out.events.last();
            if !last.is_some_and(|e| e.kind == kind::REJECTED && e.order_id == c.order_id) {
                self.reject(c, reason::UNKNOWN_ORDER, 0);
            } else {
                self.stats.reject(reason::UNKNOWN_ORDER);
            }
        }
    }

    fn modify(&mut self, c: Command) {
        let paused = self.paused;
        if self.sym_mut(c.symbol).is_some() && self.not_owner(&c) {
            self.reject(c, reason::NOT_OWNER, 0);
            return;
        }
        let Some(s) = self.sym_mut(c.symbol) else {
            return;
        };
        if paused {
            self.reject(c, reason::PAUSED, 0);
            return;
        }
        let has_price = c.flags & flag::HAS_PRICE != 0;
        if has_price {
            if let Some(edge) = band_violation(s, c.price) {
                self.reject(c, reason::PRICE_BAND, edge);
                return;
            }
        }
        // A pending stop: change its limit price / qty in place.
        if s.stop_index.contains_key(&c.order_id) {
            if let Some(mut st) = self.take_stop(c.symbol, c.order_id) {
                let before = st.qty;
                if has_price {
                    st.price = c.price;
                }
                if c.qty != 0 {
                    st.qty = c.qty;
                }
                let Some(Some(s)) = self.syms.get_mut(c.symbol as usize) else {
                    return;
                };
                s.stop_index.insert(st.order_id, (st.side, st.stop_price));
                if st.side == 0 {
                    s.buy_stops.insert((st.stop_price, st.order_id), st);
                } else {
                    s.sell_stops.insert((st.stop_price, st.order_id), st);
                }
                s.symbol_seq += 1;
                let e = Event {
                    symbol_seq: s.symbol_seq,
                    symbol: c.symbol,
                    kind: kind::MODIFIED,
                    order_id: st.order_id,
                    client_id: st.client_id,
                    account: st.account,
                    side: st.side,
                    price: st.price,
                    qty: st.qty,
                    leaves_qty: st.qty,
                    detail: before as i64,
                    ts_enqueued: c.ts_enqueued,
                    ts_processed: self.out.now,
                    cmd_seq: c.seq as u32,
                    ..Event::default()
                };
                self.out.events.push(e);
            }
            return;
        }
        let Some(Some(s)) = self.syms.get_mut(c.symbol as usize) else {
            return;
        };
        let old = s.book.order(c.order_id);
        self.out.cmd = c;
        if c.qty == 0 {
            // A price-only modify keeps the open lots: the taker fills of a modify that
            // crosses count their leaves from those, not from 0.
            if let Some(o) = old {
                self.out.cmd.qty = o.qty;
            }
        }
        self.out.trades = 0;
        self.out.taker_filled = 0;
        let mut sink = SymSink {
            out: &mut self.out,
            sym_idx: c.symbol,
            symbol_seq: &mut s.symbol_seq,
            meta: &mut s.meta,
            cancel_reason: reason::USER,
            cancel_kind: kind::CANCELLED,
        };
        let price = has_price.then_some(Price(c.price));
        let qty = (c.qty != 0).then_some(c.qty);
        match s.book.modify(c.order_id, price, qty, &mut sink) {
            Ok(_) => {
                if let Some(o) = old {
                    // Fill in side on the modified event.
                    for e in self.out.events.iter_mut().rev() {
                        if e.kind == kind::MODIFIED && e.order_id == c.order_id {
                            e.side = o.side as u8;
                            e.detail = o.qty as i64;
                            break;
                        }
                    }
                    if self.out.want_book {
                        self.out.book_touched.push((o.side as u8, o.price.0));
                    }
                }
                self.after_match(c.symbol);
            }
            Err(OrderError::UnknownOrder { .. }) => {
                // The book reported "rejected" through the sink.
                self.stats.reject(reason::UNKNOWN_ORDER);
            }
            Err(_) => self.reject(c, reason::INVALID, 0),
        }
    }

    fn mass_cancel(&mut self, c: Command) {
        self.mass_cancel_why(c, reason::MASS_CANCEL);
    }

    fn mass_cancel_why(&mut self, c: Command, why: u8) {
        let targets: Vec<u32> = if c.symbol == ALL {
            self.syms.iter().flatten().map(|s| s.idx).collect()
        } else {
            vec![c.symbol]
        };
        for sym in targets {
            let ids: Vec<u64> = {
                let Some(s) = self.sym_mut(sym) else { continue };
                let mut ids = Vec::new();
                for side in [Side::Buy, Side::Sell] {
                    if c.side < 2 && side as u8 != c.side {
                        continue;
                    }
                    for o in s.book.orders(side) {
                        let acct = s.meta.get(&o.id).map_or(o.account, |m| m.account);
                        if c.account == 0 || acct == c.account {
                            ids.push(o.id);
                        }
                    }
                }
                for (id, st) in s.buy_stops.iter().chain(s.sell_stops.iter()) {
                    if (c.account == 0 || st.account == c.account)
                        && (c.side >= 2 || st.side == c.side)
                    {
                        ids.push(id.1);
                    }
                }
                ids
            };
            for id in ids {
                self.cancel_one(sym, id, kind::CANCELLED, why);
            }
        }
    }

    fn halt(&mut self, sym: u32, why: u8, detail: i64, until: Option<u64>) {
        let now = self.out.now;
        let seq = self.out.cmd.seq;
        let name = self.shared.symbol_name(sym);
        if self.sym_mut(sym).is_none() {
            return;
        }
        let Some(Some(s)) = self.syms.get_mut(sym as usize) else {
            return;
        };
        s.halted = true;
        s.halted_until = until;
        s.live.status.store(1, Ordering::Release);
        s.symbol_seq += 1;
        self.out.push_md(Event {
            symbol_seq: s.symbol_seq,
            symbol: sym,
            kind: kind::STATUS,
            reason: if why == reason::VOLATILITY {
                reason::VOLATILITY
            } else {
                reason::HALTED
            },
            detail,
            leaves_qty: until.unwrap_or(0),
            ts_enqueued: now,
            ts_processed: now,
            cmd_seq: seq as u32,
            ..Event::default()
        });
        self.shared.log(
            "halt",
            format!(
                "{name} halted ({}{})",
                crate::record::REASONS[why as usize],
                if why == reason::VOLATILITY {
                    format!(", move {detail} bps")
                } else {
                    String::new()
                }
            ),
        );
    }

    fn resume_symbol(&mut self, sym: u32, why: u8) {
        let now = self.out.now;
        let seq = self.out.cmd.seq;
        if self.sym_mut(sym).is_none() {
            return;
        }
        let Some(Some(s)) = self.syms.get_mut(sym as usize) else {
            return;
        };
        if !s.halted {
            return;
        }
        s.halted = false;
        s.halted_until = None;
        s.live.status.store(0, Ordering::Release);
        s.symbol_seq += 1;
        self.out.push_md(Event {
            symbol_seq: s.symbol_seq,
            symbol: sym,
            kind: kind::STATUS,
            reason: reason::TRADING,
            detail: why as i64,
            ts_enqueued: now,
            ts_processed: now,
            cmd_seq: seq as u32,
            ..Event::default()
        });
        let name = self.shared.symbol_name(sym);
        self.shared.log("halt", format!("{name} trading again"));
    }

    fn expire(&mut self, sym: u32, id: u64) {
        self.cancel_one(sym, id, kind::EXPIRED, reason::EXPIRY);
    }

    fn end_session(&mut self) {
        let n = self.syms.len();
        for i in 0..n {
            let (ids, stops) = {
                let Some(Some(s)) = self.syms.get_mut(i) else {
                    continue;
                };
                let ids = std::mem::take(&mut s.day_orders);
                let stops: Vec<u64> = s
                    .buy_stops
                    .values()
                    .chain(s.sell_stops.values())
                    .filter(|c| c.tif == tif::DAY)
                    .map(|c| c.order_id)
                    .collect();
                (ids, stops)
            };
            for id in ids.into_iter().chain(stops) {
                let live =
                    self.syms.get(i).and_then(|s| s.as_ref()).is_some_and(|s| {
                        s.book.order(id).is_some() || s.stop_index.contains_key(&id)
                    });
                if live {
                    self.expire(i as u32, id);
                }
            }
        }
    }

    /// Emit book events for the levels the last command touched.
    fn flush_book(&mut self, sym: u32) {
        if !self.out.want_book || self.out.book_touched.is_empty() {
            return;
        }
        let mut touched = std::mem::take(&mut self.out.book_touched);
        touched.sort_unstable();
        touched.dedup();
        let now = self.out.now;
        let c = self.out.cmd;
        if let Some(Some(s)) = self.syms.get_mut(sym as usize) {
            for &(side, px) in &touched {
                let sides: &[Side] = match side {
                    0 => &[Side::Buy],
                    1 => &[Side::Sell],
                    _ => &[Side::Buy, Side::Sell],
                };
                for &sd in sides {
                    let lv = s.book.level(sd, Price(px));
                    s.symbol_seq += 1;
                    self.out.push_md(Event {
                        symbol_seq: s.symbol_seq,
                        symbol: sym,
                        kind: kind::BOOK,
                        side: sd as u8,
                        price: px,
                        qty: lv.map_or(0, |l| l.qty),
                        leaves_qty: lv.map_or(0, |l| u64::from(l.orders)),
                        ts_enqueued: c.ts_enqueued,
                        ts_processed: now,
                        cmd_seq: c.seq as u32,
                        ..Event::default()
                    });
                }
            }
        }
        touched.clear();
        self.out.book_touched = touched;
    }

    /// Offer `events` to one subscriber, with this shard's books for its resync snapshot.
    fn offer(&self, sub: &Subscription, events: &[Event], md: Option<&[u32]>) {
        let syms = &self.syms;
        let now = self.out.now;
        sub.offer(events, md, &self.shared, self.id, &mut |f, room, out| {
            snapshot(syms, f, room, now, out)
        });
    }

    /// Send the pending snapshots of conflated subscribers that lost events of this shard.
    fn resync_gaps(&mut self) {
        let subs = self.shared.subs.load();
        for sub in subs.iter().filter(|s| s.in_gap(self.id)) {
            self.offer(sub, &[], None);
        }
    }

    /// Publish the loop's events: hash them (journaled engines), hold them until their
    /// commands are durable (fsync always / batch), then release what the journal covers.
    fn publish(&mut self) {
        if let Some(h) = self.ev_hash.as_mut() {
            for e in &self.out.events {
                let mut x = *e;
                x.seq = 0;
                *h = xxhash_rust::xxh3::xxh3_64_with_seed(x.as_bytes(), *h);
            }
        }
        if !self.gate {
            let mut evs = std::mem::take(&mut self.out.events);
            let mut md = std::mem::take(&mut self.out.md);
            self.deliver(&mut evs, Some(&md));
            evs.clear();
            md.clear();
            self.out.events = evs;
            self.out.md = md;
            return;
        }
        // Held events are delivered in parts: subscribers look at all of them.
        self.out.md.clear();
        let Some(j) = self.journal.as_ref() else {
            return;
        };
        if !self.out.events.is_empty() {
            self.held_events.append(&mut self.out.events);
            let mark = j.pushed;
            match self.held_marks.back_mut() {
                Some(last) if last.1 == mark => last.0 = self.held_events.len(),
                _ => self.held_marks.push_back((self.held_events.len(), mark)),
            }
        }
        if j.js.failed.load(Ordering::Acquire) {
            // Never acknowledged: these commands are not in the journal for sure.
            if !self.journal_failed_seen {
                self.journal_failed_seen = true;
                self.stats
                    .events_discarded
                    .fetch_add(self.held_events.len() as u64, Ordering::Relaxed);
            }
            self.held_events.clear();
            self.held_marks.clear();
            return;
        }
        let durable = j.durable(self.id);
        let mut end = 0;
        while let Some(&(e, mark)) = self.held_marks.front() {
            if mark > durable {
                break;
            }
            end = e;
            self.held_marks.pop_front();
        }
        if end == 0 {
            return;
        }
        let mut held = std::mem::take(&mut self.held_events);
        self.deliver(&mut held[..end], None);
        held.drain(..end);
        self.held_events = held;
        for m in self.held_marks.iter_mut() {
            m.0 -= end;
        }
    }

    /// Number events and hand them to the poll stream and the subscribers. Waits (never
    /// drops) while a lossless consumer is full. `md`: the indices of the market-data
    /// events among `events` ([`Out::md`]), when known.
    fn deliver(&mut self, events: &mut [Event], md: Option<&[u32]>) {
        debug_assert!(md.is_none_or(|md| md.iter().map(|&i| i as usize).eq(events
            .iter()
            .enumerate()
            .filter(|(_, e)| MD_KINDS & (1 << e.kind) != 0)
            .map(|(i, _)| i))));
        let n = events.len() as u64;
        let first = self.shared.event_seq.fetch_add(n, Ordering::Relaxed) + 1;
        for (i, e) in events.iter_mut().enumerate() {
            e.seq = first + i as u64;
        }
        if let Some(c) = self.collect.as_mut() {
            c.extend_from_slice(events);
        }
        self.stats.events.fetch_add(n, Ordering::Relaxed);
        let subs = self.shared.subs.load();
        for sub in subs.iter() {
            self.offer(sub, events, md);
        }
        if let Some(p) = self.events.main.as_mut() {
            let mut rest: &[Event] = events;
            let mut waited = false;
            while !rest.is_empty() {
                let k = p.slots().min(rest.len());
                if k > 0 {
                    if let Ok(mut chunk) = p.write_chunk_uninit(k) {
                        let (a, b) = chunk.as_mut_slices();
                        let na = a.len();
                        for (slot, e) in a.iter_mut().zip(rest) {
                            slot.write(*e);
                        }
                        for (slot, e) in b.iter_mut().zip(&rest[na..]) {
                            slot.write(*e);
                        }
                        // SAFETY: every slot of both slices was written just above.
                        unsafe { chunk.commit_all() };
                        rest = &rest[k..];
                        continue;
                    }
                }
                if self.shared.abandon.load(Ordering::Acquire) {
                    self.stats
                        .events_discarded
                        .fetch_add(rest.len() as u64, Ordering::Relaxed);
                    break;
                }
                if !waited {
                    waited = true;
                    self.stats.event_waits.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }
}

/// The L2 snapshot of the symbols in `syms` that pass `filter` (see [`EVENT_SNAPSHOT`]),
/// at most [`SNAPSHOT_LEVELS`] a side, fewer when `room` events could not hold that.
fn snapshot(syms: &[Option<Sym>], filter: &Filter, room: usize, now: u64, out: &mut Vec<Event>) {
    let wanted = |s: &&Sym| {
        filter
            .symbols
            .as_ref()
            .is_none_or(|set| set.contains(&s.idx))
    };
    let n = syms.iter().flatten().filter(wanted).count().max(1);
    let levels = SNAPSHOT_LEVELS.min((room / n).saturating_sub(1) / 2);
    for s in syms.iter().flatten().filter(wanted) {
        let header = out.len();
        out.push(Event {
            symbol: s.idx,
            symbol_seq: s.symbol_seq,
            kind: kind::BOOK,
            side: 2,
            flags: EVENT_GAP | EVENT_SNAPSHOT,
            ts_enqueued: now,
            ts_processed: now,
            ..Event::default()
        });
        for side in [Side::Buy, Side::Sell] {
            for lv in s.book.depth(side, levels) {
                out.push(Event {
                    symbol: s.idx,
                    symbol_seq: s.symbol_seq,
                    kind: kind::BOOK,
                    side: side as u8,
                    price: lv.price.0,
                    qty: lv.qty,
                    leaves_qty: u64::from(lv.orders),
                    flags: EVENT_SNAPSHOT,
                    ts_enqueued: now,
                    ts_processed: now,
                    ..Event::default()
                });
            }
        }
        out[header].detail = (out.len() - header - 1) as i64;
    }
}

/// One tick-lot (a tick of price on one lot) in nano-units of the quote currency: tick
/// mantissa x 10^(9 - scale) x lot size (1 nano for ticks finer than 10^-9).
/// A priced order's distance from the collar's reference and the distance allowed, ticks.
fn collar(price: i64, reference: i64, l: &crate::config::RiskLimits) -> (i128, i128) {
    let dist = (i128::from(price) - i128::from(reference)).abs();
    let by_bps = l
        .collar_bps
        .map(|b| (b * reference.unsigned_abs() as f64 / 10_000.0).floor() as i128);
    let by_ticks = l.collar_ticks.map(i128::from);
    let allowed = match (by_bps, by_ticks) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(i128::MAX),
    };
    (dist, allowed)
}

/// The account's position in the order's direction with its open orders on that side and
/// the order: what `max_position` holds, lots.
fn position_with(held: (i64, u64, u64), c: &Command) -> i128 {
    let (net, buy, sell) = held;
    if c.side == 0 {
        i128::from(net) + i128::from(buy) + i128::from(c.qty)
    } else {
        -i128::from(net) + i128::from(sell) + i128::from(c.qty)
    }
}

fn tick_lot_nanos(cfg: &SymbolConfig) -> i128 {
    let scale = cfg.tick.scale();
    let tick = if scale <= 9 {
        i128::from(cfg.tick.mantissa()) * 10i128.pow(9 - scale)
    } else {
        1
    };
    (tick * i128::from(cfg.lot_size)).max(1)
}

/// An amount of nano-units of currency as decimal text.
fn format_nanos(v: i128) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let frac = format!("{:09}", a % 1_000_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{}", a / 1_000_000_000)
    } else {
        format!("{sign}{}.{frac}", a / 1_000_000_000)
    }
}

/// How a breaker state change came about (see [`Shard::set_breaker`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BreakerMove {
    /// Following the engine-wide state another shard set: no event.
    Follow,
    /// This shard's own trip or close: an event when the engine-wide state changed.
    Announce,
    /// Cool-down over (this shard won the change): an event.
    HalfOpen,
}

/// Whether journal flags `jf` record a refusal for a portfolio exposure limit.
fn is_exposure_refusal(jf: u8) -> bool {
    jf & J_RISK != 0 && reason::RISK_ORDER_QTY + (jf >> 4) >= reason::RISK_GROSS_EXPOSURE
}

/// Whether a command takes part in its order's command sequence.
fn is_ordered(c: &Command) -> bool {
    c.order_id != 0
        && matches!(c.kind, cmd::SUBMIT | cmd::CANCEL | cmd::MODIFY | cmd::NOOP)
        && c.order_seq != u32::MAX
}

fn band_violation(s: &Sym, price: i64) -> Option<i64> {
    let reference = s.last_trade.or(s.cfg.reference_price)?;
    let mut width = i64::MAX;
    if let Some(t) = s.cfg.band_ticks {
        width = width.min(t);
    }
    if let Some(p) = s.cfg.band_pct {
        width = width.min((reference.unsigned_abs() as f64 * p / 100.0).floor() as i64);
    }
    if width == i64::MAX {
        return None;
    }
    let (lo, hi) = (
        reference.saturating_sub(width),
        reference.saturating_add(width),
    );
    if price > hi {
        Some(hi)
    } else if price < lo {
        Some(lo)
    } else {
        None
    }
}

fn to_new_order(c: &Command) -> NewOrder {
    NewOrder {
        id: c.order_id,
        side: if c.side == 0 { Side::Buy } else { Side::Sell },
        order_type: if c.order_type == order_type::MARKET || c.order_type == order_type::STOP {
            OrderType::Market
        } else {
            OrderType::Limit
        },
        price: Price(c.price),
        qty: c.qty,
        display_qty: c.display_qty,
        tif: match c.tif {
            tif::IOC => TimeInForce::Ioc,
            tif::FOK => TimeInForce::Fok,
            _ => TimeInForce::Gtc,
        },
        post_only: c.flags & flag::POST_ONLY != 0,
        account: c.account,
        stp: match c.stp {
            1 => Some(StpMode::None),
            2 => Some(StpMode::CancelNewest),
            3 => Some(StpMode::CancelOldest),
            4 => Some(StpMode::CancelBoth),
            _ => None,
        },
    }
}
