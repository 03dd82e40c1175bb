//! Pre-trade risk: the per-account state the shards share (lock-free), and the two checks
//! that span shards.
//!
//! Most limits are per symbol and checked by the symbol's shard from its own state: order
//! quantity and notional, the price collar, the position with the open orders that would
//! increase it. Two span the account's symbols on every shard, and use atomics, never a lock:
//!
//! * **open orders**: a per-account counter. A submit reserves its slot with a
//!   compare-exchange that fails at the limit; the slot is given back when the order closes
//!   (filled, cancelled, expired) or was never accepted. The limit is exact: concurrent
//!   submits on different shards cannot pass it together.
//! * **order rate**: a per-account GCRA (generic cell rate algorithm, a token bucket in one
//!   word): the theoretical arrival time moves by `1 / rate` per order and an order is
//!   admitted while it is at most `burst / rate` ahead of the engine clock; one
//!   compare-exchange, exact across shards.
//!
//! In an engine of one shard both are written by that shard alone, which then uses a load
//! and a store instead of the locked instructions ([`Accounts::sole_writer`]): the same
//! values, about 15 ns less per order.
//!
//! ## Portfolio exposure (`max_gross_exposure`, `max_net_exposure`)
//!
//! An account's exposure sums over every symbol on every shard. A symbol is valued at its
//! *mark*: the last trade, else its `reference_price` (the collar's reference); one lot at
//! mark `m` ticks is worth `m x tick-lot` nano-units of the quote currency (exact integers).
//! Per symbol, with net position `n`, open buy lots `b` and open sell lots `s` (stops
//! included), the fills still possible move the position anywhere in `[n - s, n + b]`, so
//!
//! * gross term `= |m| x max(|n + b|, |n - s|)` (|position| with the open orders that would
//!   increase it);
//! * net range `[n·m + min(b·m, -s·m), n·m + max(b·m, -s·m)]` (`down`, `up`: every open
//!   sell, every open buy filled).
//!
//! Gross exposure is the sum of the gross terms; net exposure the larger of `|Σ up|` and
//! `|Σ down|` on the side an order moves it. A new order is valued at its limit price
//! (market and stop orders: at the mark; a symbol without a mark uses the order's price for
//! its open orders too). It is refused when the exposure with it passes the limit and it
//! increases it: a buy of `q` at `p` adds `q·p` to `Σ up`; its symbol's gross term becomes
//! `max(|(n + b)·m + q·p|, |(n - s)·m|)`. An order that reduces the exposure is never
//! refused, even above the limit (after a mark move).
//!
//! **Per shard, kept as it changes.** A shard keeps, per account, an entry per symbol where
//! the account holds something there (its net position, open buy and sell lots, and the
//! term at the mark it was last valued at) and the running sum of those terms. The entry is
//! updated where the shard books the account's events (once per run of events of one
//! account in one symbol: an order and its fills), so the check reads no position or
//! open-order map and adds nothing up: it revalues the order's symbol at its current mark,
//! and the account's other symbols there at most once per shard loop (at its first check in
//! the loop, or when they change), where their mark moved. The terms are two
//! multiplications each ([`Terms::at`], from the value of one lot at the mark).
//!
//! **No lock.** Each shard *publishes* its own part of each account's exposure — gross, up,
//! down, in nano-units, saturating at the `i64` range — in three atomics of the account's
//! [`AccountShared::exposure`], one cache-line slot per shard, written only by that shard
//! (Release) and read by the others (Acquire). A shard republishes an account's slot
//! after every run of events that changed the account's positions or open orders there
//! (before it runs its next command), and, for accounts it did not touch, at the end of
//! every loop in which a trade moved the mark of a symbol they hold (so a slot can lag a
//! mark move by at most one shard loop, `batch_size` commands). The check reads the other
//! shards' slots, and computes its own shard's part from its current state: the order's
//! symbol at its current mark, the account's other symbols there at their marks as of the
//! account's first check in the current loop (the same lag of at most one loop; in a
//! simulation, where a loop is one command, none). An engine of one shard publishes
//! nothing (no other shard reads the slots).
//!
//! **Guarantee.** Within one shard the check counts every order: every order it admitted
//! is in its state before it checks the next, so orders of an account whose symbols are
//! all on one shard never pass the limit together. Across shards, an order is invisible to
//! the other shards between its check and the republication after its command, so
//! concurrent admissions on different shards can overshoot: by at most, per other shard,
//! the increase of the one order it had checked but not yet published — `(shards - 1) x`
//! the largest single order's increase — plus the revaluation of the holdings by mark moves
//! within the current shard loops (the order's own symbol is always at its current mark).
//! Fills do not add to it: a fill turns counted open lots into position lots. Orders are
//! not re-checked after admission: a mark move can take an account past its limit, after
//! which only orders that reduce the exposure pass.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;

/// One shard's published part of an account's exposure, nano-units of the quote currency
/// (see the module doc). Written by that shard only; one cache line per shard.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct ShardExposure {
    /// Sum of the shard's gross terms.
    pub gross: AtomicI64,
    /// Net exposure if every open buy order filled.
    pub up: AtomicI64,
    /// Net exposure if every open sell order filled.
    pub down: AtomicI64,
}

impl ShardExposure {
    /// Publish `t` (saturating at the `i64` range).
    pub fn store(&self, t: &Terms) {
        let c = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        self.gross.store(c(t.gross), Ordering::Release);
        self.up.store(c(t.up), Ordering::Release);
        self.down.store(c(t.down), Ordering::Release);
    }
}

/// Exposure terms (one symbol's, or sums), nano-units of the quote currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Terms {
    /// Gross: |position| x mark with the open orders that would increase it.
    pub gross: i128,
    /// Net if every open buy filled.
    pub up: i128,
    /// Net if every open sell filled.
    pub down: i128,
}

impl std::ops::AddAssign for Terms {
    fn add_assign(&mut self, o: Terms) {
        self.gross += o.gross;
        self.up += o.up;
        self.down += o.down;
    }
}

impl std::ops::SubAssign for Terms {
    fn sub_assign(&mut self, o: Terms) {
        self.gross -= o.gross;
        self.up -= o.up;
        self.down -= o.down;
    }
}

impl Terms {
    /// One symbol's terms: net position `net`, open `buy` / `sell` lots, `mark` ticks, `per`
    /// nano-units per tick-lot.
    pub fn of(net: i64, buy: u64, sell: u64, mark: i64, per: i128) -> Terms {
        Terms::at(net, buy, sell, i128::from(mark) * per)
    }

    /// One symbol's terms with the value of one lot at the mark, `mp` = mark x tick-lot:
    /// the positions the open orders can reach are `[net - sell, net + buy]`, worth `hi`
    /// and `lo` at the two ends (two multiplications).
    pub fn at(net: i64, buy: u64, sell: u64, mp: i128) -> Terms {
        let n = i128::from(net);
        let hi = (n + i128::from(buy)) * mp;
        let lo = (n - i128::from(sell)) * mp;
        Terms {
            gross: hi.abs().max(lo.abs()),
            up: hi.max(lo),
            down: hi.min(lo),
        }
    }

    /// Sum the other shards' published parts of `shared` (all but `me`).
    pub fn others(shared: &AccountShared, me: usize) -> Terms {
        let mut t = Terms::default();
        for (k, x) in shared.exposure.iter().enumerate() {
            if k != me {
                t.gross += i128::from(x.gross.load(Ordering::Acquire));
                t.up += i128::from(x.up.load(Ordering::Acquire));
                t.down += i128::from(x.down.load(Ordering::Acquire));
            }
        }
        t
    }
}

/// A new order against the exposure limits: `rest` = the account's terms without the
/// order's symbol (every shard), the symbol's net, open buy and sell lots, `mark`, `per`,
/// the order's side, lots and valuation price. Returns `(gross, net)`: each `Some(value
/// with the order)` when the order increases that exposure, `None` when it does not.
#[allow(clippy::too_many_arguments)]
pub fn with_order(
    rest: &Terms,
    net: i64,
    buy: u64,
    sell: u64,
    mark: i64,
    per: i128,
    is_buy: bool,
    qty: u64,
    price: i64,
) -> (Option<i128>, Option<i128>) {
    let sym = Terms::of(net, buy, sell, mark, per);
    with_order_term(rest, &sym, mark < 0, per, is_buy, qty, price)
}

/// [`with_order`] from the symbol's terms at its mark (`sym`, see [`Terms::at`]):
/// `negative` = the mark is below zero. The two ends of the symbol's reachable positions are
/// its `up` and `down` (swapped under a negative mark), so this multiplies only to value the
/// order.
pub fn with_order_term(
    rest: &Terms,
    sym: &Terms,
    negative: bool,
    per: i128,
    is_buy: bool,
    qty: u64,
    price: i64,
) -> (Option<i128>, Option<i128>) {
    let (hi, lo) = if negative {
        (sym.down, sym.up)
    } else {
        (sym.up, sym.down)
    };
    let v = i128::from(qty) * i128::from(price) * per;
    let v = if is_buy { v } else { -v };
    let gross_sym = if is_buy {
        (hi + v).abs().max(lo.abs())
    } else {
        hi.abs().max((lo + v).abs())
    };
    let gross = (gross_sym > sym.gross).then_some(rest.gross + gross_sym);
    let net = match v.signum() {
        1 => Some(rest.up + sym.up + v),
        -1 => Some(-(rest.down + sym.down + v)),
        _ => None,
    };
    (gross, net)
}

/// One account's cross-shard risk state.
#[derive(Debug, Default)]
pub struct AccountShared {
    /// Open orders (all symbols, stops included), reserved at submit.
    pub open_orders: AtomicI64,
    /// GCRA theoretical arrival time, engine ns.
    pub tat: AtomicU64,
    /// Realized PnL minus fees since the start or the last end of session, nano-units of
    /// the quote currency (summed over the shards).
    pub realized_nanos: AtomicI64,
    /// The daily-loss kill switch fired (cleared with the counter).
    pub loss_tripped: std::sync::atomic::AtomicBool,
    /// Each shard's published part of the account's exposure, indexed by shard.
    pub exposure: Box<[ShardExposure]>,
}

impl AccountShared {
    /// Fresh state for an engine of `shards` shards.
    pub fn new(shards: usize) -> AccountShared {
        AccountShared {
            exposure: (0..shards).map(|_| ShardExposure::default()).collect(),
            ..AccountShared::default()
        }
    }
}

/// Every account's shared state, created on first use (copy on write, rare).
#[derive(Debug, Default)]
pub struct Accounts {
    map: ArcSwap<FxHashMap<u32, Arc<AccountShared>>>,
    shards: usize,
}

impl Accounts {
    /// No accounts yet, for an engine of `shards` shards.
    pub fn new(shards: usize) -> Accounts {
        Accounts {
            map: ArcSwap::default(),
            shards,
        }
    }

    /// Whether one shard writes every account's counters (an engine of one shard): the
    /// shard then updates them with plain loads and stores, no locked instruction
    /// ([`reserve_open_order`], [`admit_rate`], [`add_open_orders`] with `sole`).
    pub fn sole_writer(&self) -> bool {
        self.shards <= 1
    }

    /// The state of `account`, created when missing.
    pub fn get(&self, account: u32) -> Arc<AccountShared> {
        if let Some(a) = self.map.load().get(&account) {
            return a.clone();
        }
        let fresh = Arc::new(AccountShared::new(self.shards));
        let mut out = fresh.clone();
        self.map.rcu(|m| {
            let mut m = (**m).clone();
            out = m.entry(account).or_insert_with(|| fresh.clone()).clone();
            m
        });
        out
    }

    /// Start a new session: every account's realized-loss counter back to zero.
    pub fn reset_daily(&self) {
        for s in self.map.load().values() {
            s.realized_nanos.store(0, Ordering::Release);
            s.loss_tripped.store(false, Ordering::Release);
        }
    }

    /// Set every account's open-order count (after a recovery rebuilt the books).
    pub fn reset_open_orders(&self, counts: &FxHashMap<u32, i64>) {
        for (a, s) in self.map.load().iter() {
            s.open_orders
                .store(counts.get(a).copied().unwrap_or(0), Ordering::Release);
        }
        for (a, n) in counts {
            self.get(*a).open_orders.store(*n, Ordering::Release);
        }
    }
}

/// Reserve one open order below `limit`; `Err(open)` when the account is at it.
///
/// `sole`: only the calling thread ever writes `open` (an engine of one shard; see
/// [`Accounts::sole_writer`]), so a load and a store give the same result as the
/// compare-exchange loop, without its locked instruction. Readers on other threads see
/// each value whole either way.
pub fn reserve_open_order(open: &AtomicI64, limit: u64, sole: bool) -> Result<(), i64> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    if sole {
        let cur = open.load(Ordering::Relaxed);
        if cur >= limit {
            return Err(cur);
        }
        open.store(cur + 1, Ordering::Release);
        return Ok(());
    }
    let mut cur = open.load(Ordering::Acquire);
    loop {
        if cur >= limit {
            return Err(cur);
        }
        match open.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(()),
            Err(v) => cur = v,
        }
    }
}

/// Add `delta` to an account's open-order count (`sole`: as in [`reserve_open_order`]).
pub fn add_open_orders(open: &AtomicI64, delta: i64, sole: bool) {
    if sole {
        open.store(open.load(Ordering::Relaxed) + delta, Ordering::Release);
    } else {
        open.fetch_add(delta, Ordering::AcqRel);
    }
}

/// Admit one order at engine time `now` under `rate` orders/s with `burst`; `Err(wait_ns)`
/// when it comes too early (`sole`: as in [`reserve_open_order`]).
pub fn admit_rate(tat: &AtomicU64, now: u64, rate: f64, burst: u64, sole: bool) -> Result<(), u64> {
    admit_every(tat, now, rate_interval(rate), burst, sole)
}

/// The engine ns between two orders at `rate` orders/s (at least 1).
pub fn rate_interval(rate: f64) -> u64 {
    (1e9 / rate).max(1.0) as u64
}

/// [`admit_rate`] with the rate's [`rate_interval`] known (a shard keeps it per account, so
/// an order pays no division).
pub fn admit_every(
    tat: &AtomicU64,
    now: u64,
    interval: u64,
    burst: u64,
    sole: bool,
) -> Result<(), u64> {
    let tolerance = interval.saturating_mul(burst.max(1));
    let next_after = |cur: u64| {
        let next = cur.max(now).saturating_add(interval);
        if next > now.saturating_add(tolerance) {
            Err(next - now - tolerance)
        } else {
            Ok(next)
        }
    };
    if sole {
        let next = next_after(tat.load(Ordering::Relaxed))?;
        tat.store(next, Ordering::Release);
        return Ok(());
    }
    let mut cur = tat.load(Ordering::Acquire);
    loop {
        let next = next_after(cur)?;
        match tat.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(()),
            Err(v) => cur = v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_orders_stop_exactly_at_the_limit_across_threads() {
        let open = Arc::new(AtomicI64::new(0));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let o = open.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| reserve_open_order(&o, 100, false).is_ok())
                        .count()
                })
            })
            .collect();
        let won: usize = hs.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        assert_eq!(won, 100);
        assert_eq!(open.load(Ordering::Relaxed), 100);
    }

    proptest::proptest! {
        /// The two-multiplication terms equal the definition: |mark| x the largest
        /// |position| the open orders reach; the net range with every buy or every sell
        /// filled.
        #[test]
        fn terms_at_the_mark_equal_their_definition(
            net in -1_000_000i64..1_000_000,
            buy in 0u64..1_000_000,
            sell in 0u64..1_000_000,
            mark in -100_000i64..1_000_000,
            per in 1i128..1_000_000_000,
        ) {
            let (n, b, s, m) = (i128::from(net), i128::from(buy), i128::from(sell), i128::from(mark));
            let want = Terms {
                gross: m.abs() * (n + b).abs().max((n - s).abs()) * per,
                up: (n * m + (b * m).max(-s * m)) * per,
                down: (n * m + (b * m).min(-s * m)) * per,
            };
            proptest::prop_assert_eq!(Terms::of(net, buy, sell, mark, per), want);
        }
    }

    #[test]
    fn exposure_terms_count_the_open_orders_that_increase_it() {
        // Long 10 at mark 100 (1 nano per tick-lot), 5 open buys, 30 open sells.
        let t = Terms::of(10, 5, 30, 100, 1);
        assert_eq!(t.gross, 100 * 20); // all sells filled: short 20
        assert_eq!((t.up, t.down), (1500, -2000));
        // A buy of 3 at 101: gross term max(|1500 + 303|, |-2000|) = 2000, unchanged.
        let none = Terms::default();
        let (g, n) = with_order(&none, 10, 5, 30, 100, 1, true, 3, 101);
        assert_eq!((g, n), (None, Some(1803)));
        // A sell of 3 at 99 adds to the short side of both.
        let (g, n) = with_order(&none, 10, 5, 30, 100, 1, false, 3, 99);
        assert_eq!((g, n), (Some(2297), Some(2297)));
        // Net across symbols: long here, short elsewhere.
        let short = Terms::of(-10, 0, 0, 100, 1);
        let (g, n) = with_order(&short, 0, 0, 0, 100, 1, true, 10, 100);
        assert_eq!((g, n), (Some(2000), Some(0)));
    }

    #[test]
    fn rate_admits_the_burst_then_one_per_interval() {
        // The same answers with the compare-exchange and with the single writer's store.
        for sole in [false, true] {
            let tat = AtomicU64::new(0);
            let now = 1_000_000_000;
            // 10 orders/s, burst 3: three at once, then one every 100 ms.
            assert!((0..3).all(|_| admit_rate(&tat, now, 10.0, 3, sole).is_ok()));
            let wait = admit_rate(&tat, now, 10.0, 3, sole).unwrap_err();
            assert_eq!(wait, 100_000_000);
            assert!(admit_rate(&tat, now + 100_000_000, 10.0, 3, sole).is_ok());
            assert!(admit_rate(&tat, now + 100_000_000, 10.0, 3, sole).is_err());
        }
    }

    #[test]
    fn a_single_writer_counts_open_orders_like_the_shared_counter() {
        for sole in [false, true] {
            let open = AtomicI64::new(0);
            assert!((0..5).all(|_| reserve_open_order(&open, 5, sole).is_ok()));
            assert_eq!(reserve_open_order(&open, 5, sole), Err(5));
            add_open_orders(&open, -2, sole);
            assert_eq!(open.load(Ordering::Relaxed), 3);
            add_open_orders(&open, 1, sole);
            assert!(reserve_open_order(&open, 5, sole).is_ok());
            assert_eq!(reserve_open_order(&open, 5, sole), Err(5));
        }
    }
}
