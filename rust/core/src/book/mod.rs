//! The order book: price-time priority matching over two [`Ladder`]s.
//!
//! One thread owns an [`OrderBook`] and mutates it; other threads read its top of book and
//! depth lock-free through a [`BookReader`].
//!
//! The parts: [`types`] (prices, quantities, orders), [`arena`] (order records and the id
//! index), [`ladder`] (price levels: a ring at the touch over a `SkipMap`), [`report`] (what
//! every operation reports) and [`batch`] (fixed-size command records applied in bulk).

pub mod arena;
pub mod batch;
pub mod ladder;
pub mod report;
#[cfg(not(loom))]
mod seqlock;
#[cfg(loom)]
pub mod seqlock;
pub mod types;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use self::seqlock::TopSeqlock;
use crate::arena::{IdIndex, OrderArena, OrderRecord, Slot, NIL};
use crate::clock::Clock;
use crate::error::OrderError;
use crate::ladder::{Ladder, SidePub, SkipLadder};
use crate::report::{
    CancelReason, Execution, Fill, OrderStatus, Reason, RejectReason, Report, ReportSink,
};
use crate::types::{
    AccountId, NewOrder, OrderId, OrderType, Price, Qty, QtyLimits, Side, StpMode, TimeInForce,
};

/// One price level as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelView {
    /// Price in ticks.
    pub price: Price,
    /// Displayed lots.
    pub qty: Qty,
    /// Number of orders.
    pub orders: u32,
}

/// One resting order as seen from outside (L3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    /// Order id.
    pub id: OrderId,
    /// Side.
    pub side: Side,
    /// Price in ticks.
    pub price: Price,
    /// Open lots (displayed + reserve).
    pub qty: Qty,
    /// Displayed lots.
    pub visible: Qty,
    /// Iceberg reserve lots.
    pub hidden: Qty,
    /// Iceberg display size (0 = not an iceberg).
    pub display: Qty,
    /// Account.
    pub account: AccountId,
    /// Time-priority timestamp.
    pub ts: u64,
}

/// A resting order with everything needed to put it back exactly ([`OrderBook::resting`],
/// [`OrderBook::restore`]: engine snapshots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    /// Order id.
    pub id: OrderId,
    /// Side.
    pub side: Side,
    /// Price in ticks.
    pub price: Price,
    /// Displayed lots.
    pub visible: Qty,
    /// Iceberg reserve lots.
    pub hidden: Qty,
    /// Iceberg display size (0 = not an iceberg).
    pub display: Qty,
    /// Account.
    pub account: AccountId,
    /// Time-priority timestamp.
    pub ts: u64,
    /// Self-trade prevention mode the order rests with.
    pub stp: StpMode,
    /// Post-only.
    pub post_only: bool,
}

/// Top of book and depth at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketDataSnapshot {
    /// Operation sequence number the snapshot reflects.
    pub seq: u64,
    /// Bid levels, best first.
    pub bids: Vec<LevelView>,
    /// Ask levels, best first.
    pub asks: Vec<LevelView>,
}

impl MarketDataSnapshot {
    /// Best bid.
    pub fn best_bid(&self) -> Option<LevelView> {
        self.bids.first().copied()
    }
    /// Best ask.
    pub fn best_ask(&self) -> Option<LevelView> {
        self.asks.first().copied()
    }
}

/// A consistent best bid / best ask pair, read lock-free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopOfBook {
    /// Operation sequence number this pair belongs to.
    pub seq: u64,
    /// Best bid.
    pub bid: Option<LevelView>,
    /// Best ask.
    pub ask: Option<LevelView>,
}

#[derive(Debug)]
struct BookShared {
    /// Live `BookReader`s; the writer publishes only while there is one.
    readers: AtomicUsize,
    /// The top of book and the seqlock counter that guards it (and the depth view).
    top: TopSeqlock,
    bids: Option<Arc<SidePub>>,
    asks: Option<Arc<SidePub>>,
}

/// A lock-free read handle on a book owned by another thread. Cheap to clone; `Send + Sync`.
///
/// [`BookReader::top`] returns a best bid/ask pair that existed together at one sequence
/// number (a seqlock: the writer never waits for readers). [`BookReader::depth`] reads
/// per-level aggregates lock-free.
#[derive(Debug)]
pub struct BookReader {
    shared: Arc<BookShared>,
}

impl Clone for BookReader {
    fn clone(&self) -> Self {
        self.shared.readers.fetch_add(1, Ordering::Relaxed);
        BookReader {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for BookReader {
    fn drop(&mut self) {
        self.shared.readers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl BookReader {
    /// The best bid and ask as of one operation. Never torn, never crossed.
    pub fn top(&self) -> TopOfBook {
        let (seq, bid, ask) = self.shared.top.read();
        let lv = |(p, q, n): seqlock::RawLevel| {
            (n > 0).then_some(LevelView {
                price: Price(p),
                qty: q,
                orders: n,
            })
        };
        TopOfBook {
            seq,
            bid: lv(bid),
            ask: lv(ask),
        }
    }

    /// Up to `n` levels per side, best first, read lock-free. Returns `(seq, bids, asks)`
    /// where `seq` is `Some` when no operation ran during the read (a consistent snapshot).
    pub fn depth(&self, n: usize) -> (Option<u64>, Vec<LevelView>, Vec<LevelView>) {
        let s = &self.shared;
        let (s1, seq) = s.top.read_begin();
        let mut raw = Vec::with_capacity(n.min(1024));
        let mut side = |p: &Option<Arc<SidePub>>| {
            p.as_ref().map_or_else(Vec::new, |p| {
                p.levels(n, &mut raw);
                raw.iter()
                    .map(|&(price, qty, orders)| LevelView { price, qty, orders })
                    .collect()
            })
        };
        let bids = side(&s.bids);
        let asks = side(&s.asks);
        let consistent = s.top.read_end(s1);
        (consistent.then_some(seq), bids, asks)
    }
}

/// A limit order book for one instrument with price-time priority matching.
///
/// Prices are integer ticks, quantities integer lots. Generic over the level index so that
/// benchmarks can put ladders side by side; the default [`SkipLadder`] is the fast one and
/// the only one with a lock-free [`BookReader`] depth view.
///
/// # Examples
/// ```
/// use hftbook_core::{NewOrder, OrderBook, OrderStatus, Side};
/// let mut book: OrderBook = OrderBook::new();
/// let mut reports = Vec::new();
/// book.submit(&NewOrder::limit(Side::Sell, 10_025, 10), &mut reports).unwrap();
/// let ex = book.submit(&NewOrder::limit(Side::Buy, 10_030, 4), &mut reports).unwrap();
/// assert_eq!(ex.status, OrderStatus::Filled);
/// assert_eq!(book.best_ask().unwrap().qty, 6);
/// ```
#[derive(Debug)]
pub struct OrderBook<L: Ladder = SkipLadder> {
    bids: L,
    asks: L,
    orders: OrderArena,
    ids: IdIndex,
    next_id: Arc<AtomicU64>,
    clock: Clock,
    /// While a batch runs, every operation of it carries the batch's arrival time.
    batch_ts: Option<u64>,
    stp_default: StpMode,
    limits: QtyLimits,
    trade_seq: u64,
    op_seq: u64,
    lock: u64,
    /// Whether the current operation publishes for readers (set by `begin`).
    publishing: bool,
    shared: Arc<BookShared>,
    fok_scratch: VecDeque<(Qty, Qty, Qty, bool)>,
}

impl<L: Ladder> Default for OrderBook<L> {
    fn default() -> Self {
        Self::new()
    }
}

/// Self-trade decision for a taker meeting a maker.
#[inline]
fn self_trade(account: AccountId, stp: StpMode, maker_account: AccountId) -> bool {
    account != 0 && stp != StpMode::None && maker_account == account
}

/// The price a market order is shown at in its reports (it has no limit): [`Price::MAX`]
/// for a buy, [`Price::MIN`] for a sell.
#[inline(always)]
fn market_price(side: Side) -> Price {
    match side {
        Side::Buy => Price::MAX,
        Side::Sell => Price::MIN,
    }
}

/// Report the cancel of an incoming order's residual (IOC/market, or stopped by STP), at
/// its limit price or, for a market order, the side's sentinel.
///
/// Out of line on purpose: built inline in `match_and_rest`, this report changed how the
/// submit path was compiled into its callers (W2 +1.4 % instructions under callgrind, even
/// with a sink that drops cancels). Out of line it costs nothing where the sink ignores
/// cancels (the call is removed) and one call per cancelled residual where it does not.
#[inline(never)]
fn report_residual_cancel<S: ReportSink>(
    sink: &mut S,
    id: OrderId,
    side: Side,
    limit: Option<Price>,
    qty: Qty,
    reason: CancelReason,
) {
    sink.report(Report::Cancelled {
        id,
        side,
        price: limit.unwrap_or(market_price(side)),
        qty,
        reason,
    });
}

impl<L: Ladder> OrderBook<L> {
    /// An empty book with a monotonic clock, default quantity limits and STP cancel-newest.
    pub fn new() -> Self {
        Self::with_options(Clock::default(), QtyLimits::default(), StpMode::default())
    }

    /// An empty book with the given clock, limits and default STP mode.
    pub fn with_options(clock: Clock, limits: QtyLimits, stp_default: StpMode) -> Self {
        let bids = L::new(Side::Buy);
        let asks = L::new(Side::Sell);
        let shared = Arc::new(BookShared {
            readers: AtomicUsize::new(0),
            top: TopSeqlock::new(),
            bids: bids.side_pub(),
            asks: asks.side_pub(),
        });
        OrderBook {
            bids,
            asks,
            orders: OrderArena::new(),
            ids: IdIndex::default(),
            next_id: Arc::new(AtomicU64::new(1)),
            clock,
            batch_ts: None,
            stp_default,
            limits,
            trade_seq: 0,
            op_seq: 0,
            lock: 0,
            publishing: false,
            shared,
            fok_scratch: VecDeque::new(),
        }
    }

    /// Share an id counter (e.g. one per engine) instead of the book's own.
    pub fn set_id_counter(&mut self, counter: Arc<AtomicU64>) {
        self.next_id = counter;
    }

    /// The quantity limits.
    pub fn limits(&self) -> QtyLimits {
        self.limits
    }

    /// Let the order arena hold at most `chunks` chunks of 4096 resting orders (`None`: no
    /// limit but memory). For tests: growing beyond them then fails as an allocation
    /// failure would ([`OrderError::OutOfMemory`]).
    #[doc(hidden)]
    pub fn set_arena_chunk_limit(&mut self, chunks: Option<usize>) {
        self.orders.set_chunk_limit(chunks);
    }

    /// The default self-trade prevention mode.
    pub fn stp_default(&self) -> StpMode {
        self.stp_default
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    #[inline]
    fn now(&self) -> u64 {
        match self.batch_ts {
            Some(t) => t,
            None => self.clock.now(),
        }
    }

    /// Run `f` with the clock read once: every operation inside gets the same timestamp
    /// (a batch is one arrival; priority within it is its order, as always).
    pub fn at_one_time<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let outer = self.batch_ts;
        self.batch_ts = Some(self.now());
        let r = f(self);
        self.batch_ts = outer;
        r
    }

    /// A lock-free read handle for other threads.
    ///
    /// The book publishes its top of book and level aggregates for readers only while at
    /// least one `BookReader` is alive (a book nobody watches pays nothing for it); creating
    /// the first one publishes the current state.
    pub fn reader(&mut self) -> BookReader {
        self.shared.readers.fetch_add(1, Ordering::Relaxed);
        let r = BookReader {
            shared: self.shared.clone(),
        };
        self.begin();
        self.bids.publish_all();
        self.asks.publish_all();
        self.op_seq -= 1; // publishing is not an operation
        self.end();
        r
    }

    /// Number of resting orders.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Whether no order rests.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// Operations applied so far (the sequence number of the last one).
    pub fn seq(&self) -> u64 {
        self.op_seq
    }

    /// Trades printed so far.
    pub fn trade_count(&self) -> u64 {
        self.trade_seq
    }

    /// The order-id index (read-only: its statistics, for tests and benchmarks).
    pub fn id_index(&self) -> &IdIndex {
        &self.ids
    }

    /// One side's price ladder (read-only: its statistics, for tests and benchmarks).
    #[inline]
    pub fn ladder(&self, side: Side) -> &L {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    #[inline]
    fn level_view(l: &crate::ladder::Level) -> LevelView {
        LevelView {
            price: l.price,
            qty: l.visible,
            orders: l.count,
        }
    }

    /// Best bid level.
    #[inline]
    pub fn best_bid(&self) -> Option<LevelView> {
        self.bids
            .best()
            .map(|i| Self::level_view(self.bids.level(i)))
    }

    /// Best ask level.
    #[inline]
    pub fn best_ask(&self) -> Option<LevelView> {
        self.asks
            .best()
            .map(|i| Self::level_view(self.asks.level(i)))
    }

    /// Best level on `side`.
    pub fn best(&self, side: Side) -> Option<LevelView> {
        match side {
            Side::Buy => self.best_bid(),
            Side::Sell => self.best_ask(),
        }
    }

    /// Up to `n` levels of `side`, best first.
    pub fn depth(&self, side: Side, n: usize) -> Vec<LevelView> {
        let mut out = Vec::with_capacity(n.min(1024));
        if n == 0 {
            return out;
        }
        self.ladder(side).visit(|l| {
            out.push(Self::level_view(l));
            out.len() < n
        });
        out
    }

    /// Up to `n` levels of `side`, best first, written into `out` (cleared first; no
    /// allocation once `out` has the capacity).
    pub fn depth_into(&self, side: Side, n: usize, out: &mut Vec<LevelView>) {
        out.clear();
        if n == 0 {
            return;
        }
        self.ladder(side).visit(|l| {
            out.push(Self::level_view(l));
            out.len() < n
        });
    }

    /// Top `n` levels of both sides.
    pub fn snapshot(&self, n: usize) -> MarketDataSnapshot {
        MarketDataSnapshot {
            seq: self.op_seq,
            bids: self.depth(Side::Buy, n),
            asks: self.depth(Side::Sell, n),
        }
    }

    /// Number of non-empty levels on `side`.
    pub fn level_count(&self, side: Side) -> usize {
        self.ladder(side).len()
    }

    fn order_view(&self, side: Side, price: Price, r: &OrderRecord) -> OrderView {
        OrderView {
            id: r.id,
            side,
            price,
            qty: r.open(),
            visible: r.visible,
            hidden: r.hidden,
            display: r.display,
            account: r.account,
            ts: r.ts,
        }
    }

    /// A resting order by id.
    pub fn order(&self, id: OrderId) -> Option<OrderView> {
        let idx = self.ids.get(id)?;
        let r = self.orders.get(idx);
        let price = self.ladder(r.side()).level(r.level()).price;
        Some(self.order_view(r.side(), price, r))
    }

    /// All resting orders of `side` in priority order (best level first, FIFO within).
    pub fn orders(&self, side: Side) -> Vec<OrderView> {
        let mut out = Vec::new();
        self.ladder(side).visit(|l| {
            let mut cur = l.head;
            while cur != NIL {
                let r = self.orders.get(cur);
                out.push(self.order_view(side, l.price, r));
                cur = r.next;
            }
            true
        });
        out
    }

    /// All resting orders of `side` in priority order with their whole state (what
    /// [`OrderBook::restore`] takes back).
    pub fn resting(&self, side: Side) -> Vec<RestingOrder> {
        let mut out = Vec::new();
        self.ladder(side).visit(|l| {
            let mut cur = l.head;
            while cur != NIL {
                let r = self.orders.get(cur);
                out.push(RestingOrder {
                    id: r.id,
                    side,
                    price: l.price,
                    visible: r.visible,
                    hidden: r.hidden,
                    display: r.display,
                    account: r.account,
                    ts: r.ts,
                    stp: r.stp(),
                    post_only: r.post_only(),
                });
                cur = r.next;
            }
            true
        });
        out
    }

    /// Put a resting order back at the back of its level, exactly as [`OrderBook::resting`]
    /// gave it (displayed and reserve lots included): no matching, no reports. Restoring the
    /// orders of a book in the order `resting` lists them rebuilds its queues.
    ///
    /// # Errors
    /// A duplicate id, an empty order, a price the opposite side would cross, or no room.
    ///
    /// ```
    /// use hftbook_core::{NewOrder, OrderBook, Side};
    /// let mut a: OrderBook = OrderBook::new();
    /// a.submit(&NewOrder::limit(Side::Buy, 100, 9).with_id(1).with_display(4), &mut ()).unwrap();
    /// a.submit(&NewOrder::limit(Side::Sell, 100, 2).with_id(2), &mut ()).unwrap();
    /// let mut b: OrderBook = OrderBook::new();
    /// for o in a.resting(Side::Buy) {
    ///     b.restore(&o).unwrap();
    /// }
    /// assert_eq!(b.resting(Side::Buy), a.resting(Side::Buy));
    /// assert_eq!(b.best_bid().unwrap().qty, 2); // 4 shown, 2 of them taken
    /// ```
    pub fn restore(&mut self, o: &RestingOrder) -> Result<(), OrderError> {
        let qty = o.visible + o.hidden;
        if o.id == 0 || self.ids.contains(o.id) {
            return Err(OrderError::DuplicateOrderId { id: o.id });
        }
        if o.visible == 0 || (o.display == 0 && o.hidden != 0) {
            return Err(OrderError::ZeroQuantity { field: "visible" });
        }
        let crosses = match o.side {
            Side::Buy => self.best_ask().is_some_and(|a| a.price <= o.price),
            Side::Sell => self.best_bid().is_some_and(|b| b.price >= o.price),
        };
        if crosses {
            return Err(OrderError::InvalidCombination {
                field: "price",
                rule: "price of a restored order must not cross the opposite side",
            });
        }
        let slot = self.orders.reserve().map_err(OrderError::from)?;
        self.begin();
        let f = RestFlags {
            account: o.account,
            stp: o.stp,
            post_only: o.post_only,
            display: o.display,
        };
        self.rest::<false>(o.id, o.side, o.price, qty, f, o.ts, slot);
        if let Some(idx) = self.ids.get(o.id) {
            let r = self.orders.get_mut(idx);
            let (v0, h0, li) = (r.visible, r.hidden, r.level());
            r.visible = o.visible;
            r.hidden = o.hidden;
            let ladder = match o.side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            let l = ladder.level_mut(li);
            l.visible = l.visible - v0 + o.visible;
            l.hidden = l.hidden - h0 + o.hidden;
            if self.publishing {
                ladder.publish(li);
            }
        }
        self.end();
        Ok(())
    }

    /// Displayed lots resting at `price` (on whichever side has a level there).
    pub fn volume_at(&self, price: Price) -> Qty {
        self.bids
            .find(price)
            .map(|i| self.bids.level(i).visible)
            .or_else(|| self.asks.find(price).map(|i| self.asks.level(i).visible))
            .unwrap_or(0)
    }

    /// The level of `side` at `price`, if one rests there.
    pub fn level(&self, side: Side, price: Price) -> Option<LevelView> {
        let ladder = self.ladder(side);
        ladder
            .find(price)
            .map(|i| Self::level_view(ladder.level(i)))
    }

    /// The orders resting at `price` on `side`, in FIFO (time priority) order.
    pub fn level_orders(&self, side: Side, price: Price) -> Vec<OrderView> {
        let ladder = self.ladder(side);
        let Some(li) = ladder.find(price) else {
            return Vec::new();
        };
        let l = ladder.level(li);
        let mut out = Vec::with_capacity(l.count as usize);
        let mut cur = l.head;
        while cur != NIL {
            let r = self.orders.get(cur);
            out.push(self.order_view(side, l.price, r));
            cur = r.next;
        }
        out
    }

    /// Where a resting order stands in its level's FIFO: `(position, qty_ahead)`, where
    /// `position` is the number of orders ahead of it (0 = head of the queue) and
    /// `qty_ahead` the displayed lots of those orders. `None` if `id` is not resting.
    /// O(position).
    ///
    /// ```
    /// use hftbook_core::{NewOrder, OrderBook, Side};
    /// let mut book: OrderBook = OrderBook::new();
    /// for (id, qty) in [(1, 5), (2, 3), (3, 4)] {
    ///     book.submit(&NewOrder::limit(Side::Buy, 100, qty).with_id(id), &mut ()).unwrap();
    /// }
    /// assert_eq!(book.queue_position(1), Some((0, 0)));
    /// assert_eq!(book.queue_position(3), Some((2, 8)));
    /// assert_eq!(book.queue_position(9), None);
    /// let ids: Vec<u64> = book.level_orders(Side::Buy, hftbook_core::Price(100)).iter().map(|o| o.id).collect();
    /// assert_eq!(ids, [1, 2, 3]);
    /// ```
    pub fn queue_position(&self, id: OrderId) -> Option<(u32, Qty)> {
        let idx = self.ids.get(id)?;
        let r = self.orders.get(idx);
        let mut cur = self.ladder(r.side()).level(r.level()).head;
        let (mut pos, mut ahead) = (0u32, 0 as Qty);
        while cur != NIL && cur != idx {
            let o = self.orders.get(cur);
            pos += 1;
            ahead += o.visible;
            cur = o.next;
        }
        Some((pos, ahead))
    }

    /// Check a new order without touching the book.
    ///
    /// # Errors
    /// The first rule the order breaks.
    #[inline]
    pub fn validate(&self, o: &NewOrder) -> Result<(), OrderError> {
        o.check(self.limits)?;
        if o.id != 0 && self.ids.contains(o.id) {
            return Err(OrderError::DuplicateOrderId { id: o.id });
        }
        if self.orders.len() >= (u32::MAX - 1) as usize {
            return Err(OrderError::BookFull);
        }
        Ok(())
    }

    fn check_qty(&self, qty: Qty) -> Result<(), OrderError> {
        crate::types::check_qty(qty, self.limits)
    }

    /// The next id from the counter that no live order uses.
    fn assign_id(&self) -> OrderId {
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 && !self.ids.contains(id) {
                return id;
            }
        }
    }

    #[inline]
    fn begin(&mut self) {
        self.op_seq += 1;
        self.lock += 2;
        self.publishing = self.shared.readers.load(Ordering::Relaxed) > 0;
        if self.publishing {
            self.shared.top.begin_write(self.lock - 1);
        }
    }

    #[inline(always)]
    fn end(&mut self) {
        if self.publishing {
            self.publish_top();
        }
    }

    /// Publish the top of book and close the seqlock write (only while readers exist).
    #[inline(never)]
    fn publish_top(&mut self) {
        let (bids, asks) = (&self.bids, &self.asks);
        let best = |side: &L| {
            side.best().map_or((0, 0, 0), |i| {
                let l = side.level(i);
                (l.price.0, l.visible, l.count)
            })
        };
        self.shared
            .top
            .publish(self.op_seq, || (best(bids), best(asks)), self.lock);
    }

    /// Submit a new order: validate, match, rest or cancel the residual. Reports go to `sink`.
    ///
    /// # Errors
    /// An [`OrderError`] if the order is invalid; the book is then unchanged and no report is
    /// sent. Matching outcomes (FOK not fillable, post-only would take, self-trade) are not
    /// errors: they come back in the [`Execution`] and the report stream.
    pub fn submit<S: ReportSink>(
        &mut self,
        o: &NewOrder,
        sink: &mut S,
    ) -> Result<Execution, OrderError> {
        self.validate(o)?;
        self.enter(o, sink)
    }

    /// Enter a validated order: take the arena slot it would rest in, assign its id, stamp
    /// it, match it, rest or cancel the residual.
    ///
    /// The slot is taken first, so that running out of memory is an error before anything
    /// changed rather than an order reported `Rested` that is not on the book. Only an order
    /// that can rest (a GTC limit) takes one; holding a slot is what lets the residual rest.
    #[inline]
    fn enter<S: ReportSink>(
        &mut self,
        o: &NewOrder,
        sink: &mut S,
    ) -> Result<Execution, OrderError> {
        let rests = o.order_type == OrderType::Limit && o.tif == TimeInForce::Gtc;
        let slot = if rests {
            Some(self.orders.reserve().map_err(OrderError::from)?)
        } else {
            None
        };
        let id = if o.id == 0 { self.assign_id() } else { o.id };
        let ts = self.now();
        self.begin();
        let ex = self.execute(id, o, ts, slot, sink);
        self.end();
        Ok(ex)
    }

    /// [`OrderBook::submit`] for an order that already passed [`OrderBook::validate`]
    /// (batches validate every row first); only the live-id check is repeated.
    pub(crate) fn submit_prevalidated<S: ReportSink>(
        &mut self,
        o: &NewOrder,
        sink: &mut S,
    ) -> Result<Execution, OrderError> {
        if o.id != 0 && self.ids.contains(o.id) {
            return Err(OrderError::DuplicateOrderId { id: o.id });
        }
        if self.orders.len() >= (u32::MAX - 1) as usize {
            return Err(OrderError::BookFull);
        }
        self.enter(o, sink)
    }

    fn execute<S: ReportSink>(
        &mut self,
        id: OrderId,
        o: &NewOrder,
        ts: u64,
        slot: Option<Slot>,
        sink: &mut S,
    ) -> Execution {
        let market = o.order_type == OrderType::Market;
        let limit = (!market).then_some(o.price);
        let stp = o.stp.unwrap_or(self.stp_default);
        let reject = |sink: &mut S, reason| {
            sink.report(Report::Rejected { id, reason });
            Execution {
                order_id: id,
                status: OrderStatus::Rejected,
                filled_qty: 0,
                remaining_qty: 0,
                cancelled_qty: 0,
                reason: Some(Reason::Reject(reason)),
            }
        };
        if o.post_only && self.would_cross(o.side, o.price) {
            self.release(slot);
            return reject(sink, RejectReason::PostOnlyWouldTake);
        }
        if o.tif == TimeInForce::Fok && !self.fok_fillable(o.side, limit, o.qty, o.account, stp) {
            self.release(slot);
            return reject(sink, RejectReason::FokNotFillable);
        }
        let shown_price = limit.unwrap_or(match o.side {
            Side::Buy => Price::MAX,
            Side::Sell => Price::MIN,
        });
        sink.report(Report::Accepted {
            id,
            side: o.side,
            price: shown_price,
            qty: o.qty,
            ts,
        });
        let display = if o.display_qty >= o.qty {
            0
        } else {
            o.display_qty
        };
        let flags = RestFlags {
            account: o.account,
            stp,
            post_only: o.post_only,
            display,
        };
        self.match_and_rest::<false, S>(id, o.side, limit, o.qty, flags, ts, slot, sink)
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn match_and_rest<const INDEXED: bool, S: ReportSink>(
        &mut self,
        id: OrderId,
        side: Side,
        limit: Option<Price>,
        qty: Qty,
        flags: RestFlags,
        ts: u64,
        slot: Option<Slot>,
        sink: &mut S,
    ) -> Execution {
        // Most limit orders do not cross: decide that here, before the call.
        let crosses = limit.is_none_or(|l| self.would_cross(side, l));
        let (filled, stp_stop) = if crosses {
            self.match_against(id, side, limit, qty, flags.account, flags.stp, ts, sink)
        } else {
            (0, false)
        };
        let rem = qty - filled;
        let mut ex = Execution {
            order_id: id,
            status: OrderStatus::Filled,
            filled_qty: filled,
            remaining_qty: 0,
            cancelled_qty: 0,
            reason: None,
        };
        if rem == 0 {
            self.release(slot);
            if INDEXED {
                self.ids.remove(id);
            }
            return ex;
        }
        let cancel_reason = if stp_stop {
            Some(CancelReason::SelfTrade)
        } else if slot.is_none() {
            Some(CancelReason::UnfilledIoc)
        } else {
            None
        };
        match (cancel_reason, limit, slot) {
            (None, Some(price), Some(slot)) => {
                self.rest::<INDEXED>(id, side, price, rem, flags, ts, slot);
                sink.report(Report::Rested {
                    id,
                    price,
                    qty: rem,
                });
                ex.remaining_qty = rem;
                ex.status = if filled == 0 {
                    OrderStatus::New
                } else {
                    OrderStatus::PartiallyFilled
                };
            }
            (reason, _, slot) => {
                self.release(slot);
                if INDEXED {
                    self.ids.remove(id);
                }
                let reason = reason.unwrap_or(CancelReason::UnfilledIoc);
                report_residual_cancel(sink, id, side, limit, rem, reason);
                ex.cancelled_qty = rem;
                ex.status = OrderStatus::Cancelled;
                ex.reason = Some(Reason::Cancel(reason));
            }
        }
        ex
    }

    #[inline(always)]
    fn would_cross(&self, side: Side, price: Price) -> bool {
        let opp = self.ladder(side.opposite());
        // SAFETY: `best` returns an index the ladder handed out.
        opp.best()
            .is_some_and(|i| side.crosses(price, unsafe { opp.level_unchecked(i) }.price))
    }

    /// Whether a FOK order can fill completely, simulating matching exactly (STP and iceberg
    /// replenishment included) without changing anything.
    fn fok_fillable(
        &mut self,
        side: Side,
        limit: Option<Price>,
        qty: Qty,
        account: AccountId,
        stp: StpMode,
    ) -> bool {
        let mut need = qty;
        let mut ok = false;
        let simple = account == 0 || stp == StpMode::None;
        let mut q = std::mem::take(&mut self.fok_scratch);
        let orders = &self.orders;
        self.ladder(side.opposite()).visit(|lvl| {
            if let Some(l) = limit {
                if !side.crosses(l, lvl.price) {
                    return false;
                }
            }
            if simple {
                let avail = lvl.visible + lvl.hidden;
                if avail >= need {
                    ok = true;
                    return false;
                }
                need -= avail;
                return true;
            }
            // Exact simulation of this level's queue: (visible, hidden, display, is_self).
            q.clear();
            let mut selfs = 0usize;
            let mut rest_open: Qty = 0;
            let mut cur = lvl.head;
            while cur != NIL {
                let r = orders.get(cur);
                let is_self = r.account == account;
                selfs += usize::from(is_self);
                if !is_self {
                    rest_open += r.open();
                }
                q.push_back((r.visible, r.hidden, r.display, is_self));
                cur = r.next;
            }
            while let Some((vis, hid, disp, is_self)) = q.pop_front() {
                if selfs == 0 {
                    // No self order left: everything remaining is fillable.
                    if rest_open >= need {
                        ok = true;
                        return false;
                    }
                    need -= rest_open;
                    return true;
                }
                if is_self {
                    selfs -= 1;
                    if stp == StpMode::CancelOldest {
                        continue;
                    }
                    return false; // the taker is cancelled here
                }
                let take = need.min(vis);
                need -= take;
                rest_open -= take;
                if need == 0 {
                    ok = true;
                    return false;
                }
                if hid > 0 {
                    let v = disp.min(hid);
                    q.push_back((v, hid - v, disp, false));
                }
            }
            true
        });
        self.fok_scratch = q;
        ok
    }

    /// Match an incoming order against the opposite side. Returns (filled, stopped by STP).
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn match_against<S: ReportSink>(
        &mut self,
        taker: OrderId,
        side: Side,
        limit: Option<Price>,
        qty: Qty,
        account: AccountId,
        stp: StpMode,
        ts: u64,
        sink: &mut S,
    ) -> (Qty, bool) {
        let publishing = self.publishing;
        // Every unchecked access below: level indices come from the ladder's `best`, record
        // indices from a level's FIFO links; both were handed out by the ladder / arena,
        // whose storage never shrinks.
        let (opp, orders, ids) = match side {
            Side::Buy => (&mut self.asks, &mut self.orders, &mut self.ids),
            Side::Sell => (&mut self.bids, &mut self.orders, &mut self.ids),
        };
        let mut remaining = qty;
        let mut stp_stop = false;
        while remaining > 0 {
            let Some(li) = opp.best() else { break };
            // SAFETY: `li` came from the ladder's `best()`; level storage never shrinks.
            let lprice = unsafe { opp.level_unchecked(li) }.price;
            if let Some(l) = limit {
                if !side.crosses(l, lprice) {
                    break;
                }
            }
            // SAFETY: `li` came from the ladder's `best()`; level storage never shrinks.
            let mut cur = unsafe { opp.level_unchecked(li) }.head;
            while remaining > 0 && cur != NIL {
                // SAFETY: `cur` is a live record of level `li`'s FIFO (its head or a `next`
                // link), handed out by the arena, whose storage never shrinks.
                let rec = unsafe { orders.get_unchecked_mut(cur) };
                if self_trade(account, stp, rec.account) {
                    if stp == StpMode::CancelNewest {
                        stp_stop = true;
                        break;
                    }
                    let next = rec.next;
                    let (mid, open) = (rec.id, rec.open());
                    unlink(opp, orders, cur);
                    // SAFETY: `cur` is a live record of the arena, just unlinked from its
                    // level and not used again (`next` was read before).
                    unsafe { orders.free_unchecked(cur) };
                    ids.remove(mid);
                    sink.report(Report::Cancelled {
                        id: mid,
                        side: side.opposite(),
                        price: lprice,
                        qty: open,
                        reason: CancelReason::SelfTrade,
                    });
                    if stp == StpMode::CancelBoth {
                        stp_stop = true;
                        break;
                    }
                    cur = next;
                    continue;
                }
                let q = remaining.min(rec.visible);
                rec.visible -= q;
                remaining -= q;
                let maker_remaining = rec.visible + rec.hidden;
                let mid = rec.id;
                let next = rec.next;
                self.trade_seq += 1;
                sink.report(Report::Fill(Fill {
                    seq: self.trade_seq,
                    ts,
                    maker_id: mid,
                    taker_id: taker,
                    price: lprice.0,
                    qty: q,
                    maker_remaining,
                    taker_side: side as u8,
                    _pad: [0; 7],
                }));
                // SAFETY: `li` came from the ladder's `best()`; level storage never shrinks.
                unsafe { opp.level_unchecked_mut(li) }.visible -= q;
                if rec.visible == 0 {
                    if rec.hidden > 0 {
                        // Iceberg: replenish the display and go to the back of the level.
                        let v = rec.display.min(rec.hidden);
                        rec.hidden -= v;
                        rec.visible = v;
                        rec.ts = ts;
                        // SAFETY: `li` came from the ladder's `best()`; level storage never
                        // shrinks.
                        let lvl = unsafe { opp.level_unchecked_mut(li) };
                        lvl.hidden -= v;
                        lvl.visible += v;
                        if next != NIL {
                            list_remove(opp, orders, cur);
                            list_push_back(opp, orders, li, cur);
                            cur = next;
                        }
                    } else {
                        // Fully filled. Matching takes from the front, so `cur` is the
                        // level's head (no previous record), and its open lots are already
                        // off the level's totals: only the links and the count change.
                        // SAFETY: `li` came from the ladder's `best()`; level storage never
                        // shrinks.
                        debug_assert_eq!(unsafe { opp.level_unchecked(li) }.head, cur);
                        list_remove_links(opp, orders, cur, NIL, next, li);
                        // SAFETY: `li` came from the ladder's `best()`; level storage never
                        // shrinks.
                        unsafe { opp.level_unchecked_mut(li) }.count -= 1;
                        // SAFETY: `cur` is a live record of the arena, just unlinked from its
                        // level and not used again (`next` was read before).
                        unsafe { orders.free_unchecked(cur) };
                        ids.remove(mid);
                        cur = next;
                    }
                }
            }
            // SAFETY: `li` came from the ladder's `best()`; level storage never shrinks.
            if unsafe { opp.level_unchecked(li) }.count == 0 {
                opp.deactivate(li);
            } else if publishing {
                opp.publish(li);
            }
            if stp_stop || cur != NIL {
                break;
            }
        }
        (qty - remaining, stp_stop)
    }

    /// Hand back the slot of an order that does not rest.
    #[inline(always)]
    fn release(&mut self, slot: Option<Slot>) {
        if let Some(slot) = slot {
            self.orders.release(slot);
        }
    }

    /// Rest `qty` of order `id` at the back of its level, in the arena slot reserved for it
    /// before matching (so resting cannot fail).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn rest<const INDEXED: bool>(
        &mut self,
        id: OrderId,
        side: Side,
        price: Price,
        qty: Qty,
        f: RestFlags,
        ts: u64,
        slot: Slot,
    ) {
        let (ladder, orders) = match side {
            Side::Buy => (&mut self.bids, &mut self.orders),
            Side::Sell => (&mut self.asks, &mut self.orders),
        };
        let (li, was_empty) = ladder.find_or_create(price);
        let visible = if f.display > 0 {
            f.display.min(qty)
        } else {
            qty
        };
        // Join the back of the level's FIFO: the record is built already linked.
        // SAFETY: `li` was just handed out by `find_or_create`; level storage never shrinks.
        let tail = unsafe { ladder.level_unchecked(li) }.tail;
        let rec = OrderRecord {
            id,
            visible,
            hidden: qty - visible,
            display: f.display,
            ts,
            prev: tail,
            next: NIL,
            meta: OrderRecord::pack_meta(li, side, f.stp, f.post_only),
            account: f.account,
        };
        let idx = orders.fill(slot, rec);
        if tail != NIL {
            // SAFETY: `tail` (not NIL) is a live record of level `li`'s FIFO, handed out by
            // the arena, whose storage never shrinks.
            unsafe { orders.get_unchecked_mut(tail) }.next = idx;
        }
        // SAFETY: `li` was just handed out by `find_or_create`; level storage never shrinks.
        let lvl = unsafe { ladder.level_unchecked_mut(li) };
        if tail == NIL {
            lvl.head = idx;
        }
        lvl.tail = idx;
        lvl.count += 1;
        lvl.visible += visible;
        lvl.hidden += qty - visible;
        if was_empty {
            ladder.activate(li);
        }
        if self.publishing {
            ladder.publish(li);
        }
        if !INDEXED {
            self.ids.insert(id, idx);
        } else {
            debug_assert_eq!(self.ids.get(id), Some(idx));
        }
    }

    /// Take the live record `idx` off its level and free it; `FORGET_ID`: also drop its id
    /// from the id index (a cancel has already taken it out with its one lookup). Returns
    /// its record (as it was) and the price of the level it rested at.
    #[inline(always)]
    fn remove_resting<const FORGET_ID: bool>(&mut self, idx: u32) -> (OrderRecord, Price) {
        let out = self.unlink_resting::<FORGET_ID>(idx);
        // SAFETY: `idx` is a live record's index (the caller's contract, see
        // `unlink_resting`), now off its level.
        unsafe { self.orders.free_unchecked(idx) };
        out
    }

    /// [`OrderBook::remove_resting`] without freeing the record: the caller frees it or
    /// reuses its slot. Returns the record (as it was) and the price of the level it rested
    /// at, read from the level `unlink` just updated, next to the count read anyway (no
    /// second lookup), and before `deactivate` may release the level.
    #[inline(always)]
    fn unlink_resting<const FORGET_ID: bool>(&mut self, idx: u32) -> (OrderRecord, Price) {
        // SAFETY: callers pass a live record's index (from the id index or a FIFO link),
        // and `rec.level()` is the level it rests on.
        let rec = *unsafe { self.orders.get_unchecked(idx) };
        let ladder = match rec.side() {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        unlink(ladder, &mut self.orders, idx);
        let li = rec.level();
        // SAFETY: `li` is the level the live record `idx` rested on (see above); level
        // storage never shrinks.
        let lvl = unsafe { ladder.level_unchecked(li) };
        let price = lvl.price;
        if lvl.count == 0 {
            ladder.deactivate(li);
        } else if self.publishing {
            ladder.publish(li);
        }
        if FORGET_ID {
            self.ids.remove(rec.id);
        }
        (rec, price)
    }

    /// Cancel a resting order; returns the open lots cancelled. The [`Report::Cancelled`]
    /// sent to `sink` also carries the order's side and price.
    ///
    /// # Errors
    /// [`OrderError::UnknownOrder`] if `id` is not resting (a `Rejected` report is sent too).
    pub fn cancel<S: ReportSink>(&mut self, id: OrderId, sink: &mut S) -> Result<Qty, OrderError> {
        let Some(idx) = self.ids.take(id) else {
            sink.report(Report::Rejected {
                id,
                reason: RejectReason::UnknownOrder,
            });
            return Err(OrderError::UnknownOrder { id });
        };
        self.begin();
        let (rec, price) = self.remove_resting::<false>(idx);
        sink.report(Report::Cancelled {
            id,
            side: rec.side(),
            price,
            qty: rec.open(),
            reason: CancelReason::Requested,
        });
        self.end();
        Ok(rec.open())
    }

    /// Modify a resting order's price and/or open quantity.
    ///
    /// A quantity decrease at the same price keeps time priority; a price change or a
    /// quantity increase loses it (the order goes to the back of its new level), and a new
    /// price that crosses matches at once at the makers' prices. A post-only order whose new
    /// price would take is rejected and left unchanged.
    ///
    /// # Errors
    /// [`OrderError::UnknownOrder`] if `id` is not resting (a `Rejected` report is sent too),
    /// or a price/quantity error; the book is then unchanged.
    pub fn modify<S: ReportSink>(
        &mut self,
        id: OrderId,
        price: Option<Price>,
        qty: Option<Qty>,
        sink: &mut S,
    ) -> Result<Execution, OrderError> {
        let Some(idx) = self.ids.get(id) else {
            sink.report(Report::Rejected {
                id,
                reason: RejectReason::UnknownOrder,
            });
            return Err(OrderError::UnknownOrder { id });
        };
        let rec = *self.orders.get(idx);
        let side = rec.side();
        let old_price = self.ladder(side).level(rec.level()).price;
        let new_price = match price {
            Some(p) => Price::new_checked(p.0)?,
            None => old_price,
        };
        let open = rec.open();
        let new_qty = qty.unwrap_or(open);
        self.check_qty(new_qty)?;
        let ts = self.now();
        self.begin();
        let ex = if new_price == old_price && new_qty <= open {
            let cut = open - new_qty;
            let from_hidden = cut.min(rec.hidden);
            let from_visible = cut - from_hidden;
            let ladder = match side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            let r = self.orders.get_mut(idx);
            r.hidden -= from_hidden;
            r.visible -= from_visible;
            let lvl = ladder.level_mut(rec.level());
            lvl.hidden -= from_hidden;
            lvl.visible -= from_visible;
            if self.publishing {
                ladder.publish(rec.level());
            }
            sink.report(Report::Modified {
                id,
                price: new_price,
                qty: new_qty,
                priority_kept: true,
            });
            Execution {
                order_id: id,
                status: OrderStatus::New,
                filled_qty: 0,
                remaining_qty: new_qty,
                cancelled_qty: 0,
                reason: None,
            }
        } else if rec.post_only() && self.would_cross(side, new_price) {
            sink.report(Report::Rejected {
                id,
                reason: RejectReason::PostOnlyWouldTake,
            });
            Execution {
                order_id: id,
                status: OrderStatus::Rejected,
                filled_qty: 0,
                remaining_qty: open,
                cancelled_qty: 0,
                reason: Some(Reason::Reject(RejectReason::PostOnlyWouldTake)),
            }
        } else {
            // The id stays in the index: the order re-queues in its own record's slot (it
            // can always rest again), so its entry stays right; `match_and_rest::<true>`
            // drops it if the order does not rest (one id lookup per modify, not three).
            self.unlink_resting::<false>(idx);
            let slot = Some(self.orders.vacate(idx));
            sink.report(Report::Modified {
                id,
                price: new_price,
                qty: new_qty,
                priority_kept: false,
            });
            let flags = RestFlags {
                account: rec.account,
                stp: rec.stp(),
                post_only: rec.post_only(),
                display: rec.display,
            };
            self.match_and_rest::<true, S>(
                id,
                side,
                Some(new_price),
                new_qty,
                flags,
                ts,
                slot,
                sink,
            )
        };
        self.end();
        Ok(ex)
    }

    /// Check the book's internal invariants (levels, aggregates, FIFO links, id index).
    /// For tests; O(orders).
    ///
    /// # Errors
    /// A description of the first broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut total = 0usize;
        for side in [Side::Buy, Side::Sell] {
            let ladder = self.ladder(side);
            let mut prev: Option<Price> = None;
            let mut err = None;
            let mut levels = 0usize;
            ladder.visit(|l| {
                levels += 1;
                if let Some(p) = prev {
                    let better = match side {
                        Side::Buy => p > l.price,
                        Side::Sell => p < l.price,
                    };
                    if !better {
                        err = Some(format!("{side:?} levels out of order at {:?}", l.price));
                        return false;
                    }
                }
                prev = Some(l.price);
                // The ladder's price index (ring slot, or deep-level hash) finds this level.
                if !ladder
                    .find(l.price)
                    .is_some_and(|i| std::ptr::eq(ladder.level(i), l))
                {
                    err = Some(format!(
                        "{side:?} level {:?} not found by its price",
                        l.price
                    ));
                    return false;
                }
                let (mut v, mut h, mut n) = (0, 0, 0u32);
                let mut cur = l.head;
                let mut back = NIL;
                while cur != NIL {
                    let r = self.orders.get(cur);
                    if r.prev != back {
                        err = Some(format!("broken prev link at order {}", r.id));
                        return false;
                    }
                    if r.visible == 0 {
                        err = Some(format!("order {} rests with nothing displayed", r.id));
                        return false;
                    }
                    if self.ids.get(r.id) != Some(cur) {
                        err = Some(format!("order {} missing from the id index", r.id));
                        return false;
                    }
                    v += r.visible;
                    h += r.hidden;
                    n += 1;
                    back = cur;
                    cur = r.next;
                }
                if back != l.tail || n != l.count || v != l.visible || h != l.hidden || n == 0 {
                    err = Some(format!("level {:?} aggregates or tail are wrong", l.price));
                    return false;
                }
                total += n as usize;
                true
            });
            if let Some(e) = err {
                return Err(e);
            }
            if levels != ladder.len() {
                return Err(format!(
                    "{side:?}: {levels} levels visited, len() says {}",
                    ladder.len()
                ));
            }
        }
        self.ids.check().map_err(|e| format!("id index: {e}"))?;
        if total != self.orders.len() || total != self.ids.len() {
            return Err(format!(
                "{total} orders in levels, {} in arena, {} in id index",
                self.orders.len(),
                self.ids.len()
            ));
        }
        if let (Some(b), Some(a)) = (self.best_bid(), self.best_ask()) {
            if b.price >= a.price {
                return Err(format!(
                    "book is crossed: bid {:?} >= ask {:?}",
                    b.price, a.price
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
struct RestFlags {
    account: AccountId,
    stp: StpMode,
    post_only: bool,
    display: Qty,
}

// The FIFO helpers below take a live record's index and follow its links and level: every
// index was handed out by the arena / ladder (whose storage never shrinks), hence the
// unchecked accesses (each with its own SAFETY comment).

/// Unlink a record from its level's FIFO and take it out of the level's aggregates.
#[inline(always)]
fn unlink<L: Ladder>(ladder: &mut L, orders: &mut OrderArena, idx: u32) {
    // SAFETY: callers pass a live record's index, handed out by the arena (never shrinks).
    let r = unsafe { orders.get_unchecked(idx) };
    let (prev, next, li, visible, hidden) = (r.prev, r.next, r.level(), r.visible, r.hidden);
    list_remove_links(ladder, orders, idx, prev, next, li);
    // SAFETY: `li` is the live record's level, handed out by the ladder (never shrinks).
    let lvl = unsafe { ladder.level_unchecked_mut(li) };
    lvl.count -= 1;
    lvl.visible -= visible;
    lvl.hidden -= hidden;
}

#[inline(always)]
fn list_remove<L: Ladder>(ladder: &mut L, orders: &mut OrderArena, idx: u32) {
    // SAFETY: callers pass a live record's index, handed out by the arena (never shrinks).
    let r = unsafe { orders.get_unchecked(idx) };
    let (prev, next, li) = (r.prev, r.next, r.level());
    list_remove_links(ladder, orders, idx, prev, next, li);
}

/// Splice record `idx` out of its FIFO given its links (only the three fields are read).
///
/// Whether a neighbour exists is data the branch predictor cannot guess (a cancelled order
/// is its level's last one about a third of the time on W2), so each link is written
/// through a pointer chosen without a branch: the neighbour's field or the level's
/// head/tail. A missing neighbour is stood in for by `idx` itself, so no out-of-bounds
/// address is ever formed. (Storing a selected value into both candidates instead lets the
/// compiler turn the stores back into branches; measured 0.95x.)
#[inline(always)]
fn list_remove_links<L: Ladder>(
    ladder: &mut L,
    orders: &mut OrderArena,
    idx: u32,
    prev: u32,
    next: u32,
    li: u32,
) {
    use std::hint::select_unpredictable as pick;
    let (has_prev, has_next) = (prev != NIL, next != NIL);
    // `idx`, and `prev` / `next` when not NIL, are records of the arena, and `li` is their
    // level. `record_raw` forms its pointers without creating references, so both stay
    // valid while written through one after the other; the level pointer comes from a
    // different structure.
    // SAFETY: `li` is the level of the live record `idx`, handed out by the ladder (never
    // shrinks).
    let lvl: *mut crate::ladder::Level = unsafe { ladder.level_unchecked_mut(li) };
    // SAFETY: `prev` when not NIL, else `idx`, is a record index handed out by the arena.
    let p_rec = unsafe { orders.record_raw(pick(has_prev, prev, idx)) };
    // SAFETY: `next` when not NIL, else `idx`, is a record index handed out by the arena.
    let n_rec = unsafe { orders.record_raw(pick(has_next, next, idx)) };
    // SAFETY: `p_rec` points to a record in the arena's storage; only its address is formed.
    let p_next = unsafe { &raw mut (*p_rec).next };
    // SAFETY: `n_rec` points to a record in the arena's storage; only its address is formed.
    let n_prev = unsafe { &raw mut (*n_rec).prev };
    // SAFETY: `lvl` points to a level in the ladder's storage; only its address is formed.
    let l_head = unsafe { &raw mut (*lvl).head };
    // SAFETY: `lvl` points to a level in the ladder's storage; only its address is formed.
    let l_tail = unsafe { &raw mut (*lvl).tail };
    // SAFETY: either pointer is valid for writes and no reference to its target is live
    // (see above).
    unsafe { *pick(has_prev, p_next, l_head) = next };
    // SAFETY: either pointer is valid for writes and no reference to its target is live
    // (see above); the write before went through a raw pointer, so it invalidated neither.
    unsafe { *pick(has_next, n_prev, l_tail) = prev };
}

#[inline(always)]
fn list_push_back<L: Ladder>(ladder: &mut L, orders: &mut OrderArena, li: u32, idx: u32) {
    // SAFETY: `li` is a level handed out by the ladder, whose storage never shrinks.
    let tail = unsafe { ladder.level_unchecked(li) }.tail;
    {
        // SAFETY: callers pass a live record's index, handed out by the arena (never
        // shrinks).
        let r = unsafe { orders.get_unchecked_mut(idx) };
        r.prev = tail;
        r.next = NIL;
    }
    if tail != NIL {
        // SAFETY: `tail` (not NIL) is a live record of level `li`'s FIFO, handed out by the
        // arena, whose storage never shrinks.
        unsafe { orders.get_unchecked_mut(tail) }.next = idx;
    } else {
        // SAFETY: `li` is a level handed out by the ladder, whose storage never shrinks.
        unsafe { ladder.level_unchecked_mut(li) }.head = idx;
    }
    // SAFETY: `li` is a level handed out by the ladder, whose storage never shrinks.
    unsafe { ladder.level_unchecked_mut(li) }.tail = idx;
}
