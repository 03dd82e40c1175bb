//! Seeded, deterministic benchmark workloads as [`Command`] batches.
//!
//! The same `(n, seed)` gives the same commands on every run and every machine (the RNG is
//! `Xoshiro256PlusPlus` seeded with `seed_from_u64`, and the crate versions are pinned by
//! `Cargo.lock`). Every add carries a caller id, assigned sequentially from 1, so a workload
//! replays identically on any [`Ladder`].
//!
//! # W1: resting adds
//! [`w1`]: `n` GTC limit adds that never cross: a fair coin picks the side, the price is
//! 1..=500 ticks below [`MID`] for bids and 1..=500 ticks above it for asks (uniform), the
//! quantity 1..=100 lots (uniform), caller ids `1..=n`. After it the book holds all `n`
//! orders on about 1000 levels.
//!
//! # W2: a trading mix on a prefilled book
//! [`w2`] returns `(prefill, ops)`.
//!
//! *Prefill*: [`W2_PREFILL`] (10 000) resting GTC orders, alternately bids and asks, ids
//! `1..=10_000`, 1..=100 lots; 90 % of them 1..=1000 ticks from [`MID`], 10 % 1001..=4000
//! ticks away (so the deep book has levels beyond the `SkipLadder` window too).
//!
//! *Ops* (each op draws its kind independently):
//! - **~60 % passive adds** (GTC limits that do not cross). The side is a fair coin. The
//!   distance `d` from the touch is power-law distributed: `d = floor(x) - 1` with `x`
//!   Pareto(1, 1), i.e. `P(d >= k) = 1 / (k + 1)`, capped at [`W2_MAX_DIST`] ticks, so
//!   `P(d = 0) = 50 %` and `P(d <= 5) ≈ 86 %`. A bid goes at `mid - 1 - d`, an ask at
//!   `mid + 1 + d`, pulled back to one tick off the opposite touch if it would cross. Most
//!   adds join an existing level; a few per cent create one (at the touch after a sweep or a
//!   move of the mid, or behind it).
//! - **~30 % cancels** of an order that is live at that point: one of the 256 most recent
//!   ids if one of 8 random tries finds a live one (recent orders sit mostly near the
//!   touch, and on a real venue most cancels are of young orders), otherwise an order
//!   chosen uniformly among all live ones (deep levels included).
//! - **~10 % marketable orders**: half IOC limits priced at the last level they reach, half
//!   market orders, sized to take all of the first `k - 1` opposite levels and at most one
//!   average order of the `k`-th, so each trades against 1..=3 levels. `k` is uniform in
//!   1..=3 while at least [`W2_PREFILL`] orders rest and 1 while fewer do. That feedback
//!   keeps the book at about 10 000 orders over any length of run (about 1 300 levels a
//!   side, ~10 orders at the touch): with 60 % adds and 30 % cancels a marketable order
//!   must remove 3 orders on average for the book to stay the same size, so most of them
//!   (~83 % at seed 42) trade at one level and ~17 % reach 2 or 3 levels, emptying the
//!   ones before the last.
//!
//! Realized at `w2(200_000, 42)` (the `w2_mix_is_as_documented` test prints it): adds
//! 60.0 % (5.4 % of them creating a level), cancels 30.0 %, marketable 10.0 %.
//!
//! The mid does a slow random walk: before each op it moves one tick up or down with
//! probability [`W2_DRIFT`] (a standard deviation of ~220 ticks over a million ops), so the
//! touch wanders over the run and levels are created and emptied at the touch continually.
//!
//! To know which orders are live and how much a sweep takes, the generator runs an
//! `OrderBook<BTreeLadder>` while it generates; every ladder behaves identically, so the
//! cancels stay valid on all of them.
//!
//! # The five market flows
//! [`flow()`] / [`flow_with`]: steady, static, swinging and crashing markets, about two
//! messages per order (see [`mod@flow`]).
//!
//! # Runners
//! [`run`] applies commands through the public `submit` / `cancel` / `modify` API with a sink
//! that only counts fills (the book's own work); [`run_with_reports`] does the same but
//! delivers every report into a [`ReportLog`], cleared per message, as a venue's gateway
//! would.

pub mod flow;

pub use flow::{flow, flow_with, Flow};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::batch::{decode_add, kind, Command};
use crate::book::OrderBook;
use crate::clock::Clock;
use crate::ladder::{BTreeLadder, Ladder};
use crate::report::{Report, ReportSink};
use crate::types::{OrderType, QtyLimits, Side, StpMode, TimeInForce};

/// The starting mid price of every workload, in ticks.
pub const MID: i64 = 1_000_000;
/// Orders resting before W2's ops start.
pub const W2_PREFILL: usize = 10_000;
/// Per-op probability that W2's mid moves one tick.
pub const W2_DRIFT: f64 = 0.05;
/// Largest distance from the touch of a W2 passive add, in ticks.
pub const W2_MAX_DIST: i64 = 200;

const P_MARKETABLE: f64 = 0.10;
const P_CANCEL: f64 = 0.30;
/// How far back a cancel looks for a recent order, in ids.
const RECENT: u64 = 256;
/// Random tries at a live recent id before a cancel picks any live order.
const RECENT_TRIES: u32 = 8;

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

fn side(rng: &mut Xoshiro256PlusPlus) -> Side {
    if rng.random_bool(0.5) {
        Side::Buy
    } else {
        Side::Sell
    }
}

/// W1: `n` non-crossing GTC limit adds within ±500 ticks of [`MID`] (see the module docs).
pub fn w1(n: usize, seed: u64) -> Vec<Command> {
    let mut r = rng(seed);
    (0..n)
        .map(|i| {
            let s = side(&mut r);
            let d = r.random_range(1..=500i64);
            let price = match s {
                Side::Buy => MID - d,
                Side::Sell => MID + d,
            };
            let qty = r.random_range(1..=100u64);
            Command {
                id: i as u64 + 1,
                ..Command::add(s, price, qty)
            }
        })
        .collect()
}

/// Power-law tick distance: `floor(Pareto(1, 1)) - 1`, capped at [`W2_MAX_DIST`]:
/// `P(d >= k) = 1 / (k + 1)`.
fn power_dist(r: &mut Xoshiro256PlusPlus) -> i64 {
    let u: f64 = r.random::<f64>();
    // 1 - u is in (0, 1]: x is in [1, inf).
    let x = 1.0 / (1.0 - u);
    if x >= (W2_MAX_DIST + 2) as f64 {
        W2_MAX_DIST
    } else {
        (x as i64 - 1).clamp(0, W2_MAX_DIST)
    }
}

/// The set of live order ids (dense ids): O(1) insert, remove and uniform pick.
struct Live {
    ids: Vec<u64>,
    pos: Vec<u32>,
}

impl Live {
    const NONE: u32 = u32::MAX;

    fn insert(&mut self, id: u64) {
        let i = id as usize;
        if i >= self.pos.len() {
            self.pos.resize(i + 1, Self::NONE);
        }
        if self.pos[i] == Self::NONE {
            self.pos[i] = self.ids.len() as u32;
            self.ids.push(id);
        }
    }

    fn contains(&self, id: u64) -> bool {
        self.pos.get(id as usize).is_some_and(|&p| p != Self::NONE)
    }

    fn remove(&mut self, id: u64) {
        let i = id as usize;
        let Some(&p) = self.pos.get(i) else { return };
        if p == Self::NONE {
            return;
        }
        self.pos[i] = Self::NONE;
        if let Some(last) = self.ids.pop() {
            if last != id {
                self.ids[p as usize] = last;
                self.pos[last as usize] = p;
            }
        }
    }
}

/// Collects the makers a command filled completely.
struct Dead<'a>(&'a mut Vec<u64>);

impl ReportSink for Dead<'_> {
    #[inline]
    fn report(&mut self, r: Report) {
        match r {
            Report::Fill(f) if f.maker_remaining == 0 => self.0.push(f.maker_id),
            Report::Cancelled { id, .. } => self.0.push(id),
            _ => {}
        }
    }
}

/// The generator's book: applies commands and keeps the live set in step.
struct Shadow {
    book: OrderBook<BTreeLadder>,
    live: Live,
    dead: Vec<u64>,
}

impl Shadow {
    fn new(capacity: usize) -> Shadow {
        let (clock, _) = Clock::manual(0);
        Shadow {
            book: OrderBook::with_options(clock, QtyLimits::default(), StpMode::CancelNewest),
            live: Live {
                ids: Vec::with_capacity(capacity),
                pos: Vec::with_capacity(capacity),
            },
            dead: Vec::new(),
        }
    }

    fn apply(&mut self, c: &Command) {
        self.dead.clear();
        let mut sink = Dead(&mut self.dead);
        match c.kind {
            kind::ADD => {
                if let Ok(o) = decode_add(0, c) {
                    if let Ok(ex) = self.book.submit(&o, &mut sink) {
                        if ex.remaining_qty > 0 {
                            self.live.insert(ex.order_id);
                        }
                    }
                }
            }
            kind::CANCEL => {
                let _ = self.book.cancel(c.id, &mut sink);
                self.live.remove(c.id);
            }
            _ => {}
        }
        for i in 0..self.dead.len() {
            let id = self.dead[i];
            self.live.remove(id);
        }
    }
}

/// W2: the prefill and `n` ops of the trading mix described in the module docs.
pub fn w2(n: usize, seed: u64) -> (Vec<Command>, Vec<Command>) {
    let mut r = rng(seed);
    let mut sh = Shadow::new(W2_PREFILL + n);
    let mut next_id = 1u64;

    let mut prefill = Vec::with_capacity(W2_PREFILL);
    for i in 0..W2_PREFILL {
        let s = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let d = if r.random_bool(0.9) {
            r.random_range(1..=1000i64)
        } else {
            r.random_range(1001..=4000i64)
        };
        let price = match s {
            Side::Buy => MID - d,
            Side::Sell => MID + d,
        };
        let c = Command {
            id: next_id,
            ..Command::add(s, price, r.random_range(1..=100u64))
        };
        next_id += 1;
        sh.apply(&c);
        prefill.push(c);
    }

    let mut mid = MID;
    let mut ops = Vec::with_capacity(n);
    let mut levels = Vec::with_capacity(3);
    while ops.len() < n {
        if r.random_bool(W2_DRIFT) {
            mid += if r.random_bool(0.5) { 1 } else { -1 };
        }
        let u: f64 = r.random::<f64>();
        let c = if u < P_MARKETABLE {
            let s = side(&mut r);
            // Levels to trade against: 1..=3 while the book holds at least its prefill
            // size, 1 while it holds less (a feedback that keeps it near W2_PREFILL orders).
            let k = if sh.live.ids.len() >= W2_PREFILL {
                r.random_range(1..=3usize)
            } else {
                1
            };
            levels.clear();
            levels.extend(sh.book.depth(s.opposite(), k));
            let Some(last) = levels.last().copied() else {
                // Nothing to take on that side (never seen with this mix): skip the draw.
                continue;
            };
            let before: u64 = levels[..levels.len() - 1].iter().map(|l| l.qty).sum();
            // Into the last level: at most its average order size (about one order).
            let part = (last.qty / u64::from(last.orders.max(1))).max(1);
            let qty = before + r.random_range(1..=part);
            let mut c = if r.random_bool(0.5) {
                Command {
                    tif: TimeInForce::Ioc as u8,
                    ..Command::add(s, last.price.0, qty)
                }
            } else {
                Command::market(s, qty)
            };
            c.id = next_id;
            next_id += 1;
            c
        } else if u < P_MARKETABLE + P_CANCEL {
            if sh.live.ids.is_empty() {
                continue;
            }
            // A recent order if one of 8 random tries finds a live one, else any live one.
            let mut id = 0;
            for _ in 0..RECENT_TRIES {
                let back = r.random_range(1..=RECENT.min(next_id - 1));
                if sh.live.contains(next_id - back) {
                    id = next_id - back;
                    break;
                }
            }
            if id == 0 {
                id = sh.live.ids[r.random_range(0..sh.live.ids.len())];
            }
            Command::cancel(id)
        } else {
            let s = side(&mut r);
            let d = power_dist(&mut r);
            let price = match s {
                Side::Buy => {
                    let p = mid - 1 - d;
                    sh.book.best_ask().map_or(p, |a| p.min(a.price.0 - 1))
                }
                Side::Sell => {
                    let p = mid + 1 + d;
                    sh.book.best_bid().map_or(p, |b| p.max(b.price.0 + 1))
                }
            };
            let c = Command {
                id: next_id,
                ..Command::add(s, price, r.random_range(1..=100u64))
            };
            next_id += 1;
            c
        };
        sh.apply(&c);
        ops.push(c);
    }
    (prefill, ops)
}

/// Sweep: `levels` ask levels (`MID + 1 ..= MID + levels`) and as many bid levels below
/// [`MID`], `per_level` orders of 1..=100 lots on each (ids from 1); then two market orders
/// that take everything: a buy through every ask level, a sell through every bid level.
pub fn sweep(levels: usize, per_level: usize, seed: u64) -> (Vec<Command>, Vec<Command>) {
    let mut r = rng(seed);
    let mut setup = Vec::with_capacity(2 * levels * per_level);
    let (mut ask_total, mut bid_total) = (0u64, 0u64);
    for i in 0..levels as i64 {
        for _ in 0..per_level {
            let (qa, qb) = (r.random_range(1..=100u64), r.random_range(1..=100u64));
            ask_total += qa;
            bid_total += qb;
            setup.push(Command::add(Side::Sell, MID + 1 + i, qa));
            setup.push(Command::add(Side::Buy, MID - 1 - i, qb));
        }
    }
    number(&mut setup, 1);
    let mut ops = vec![
        Command::market(Side::Buy, ask_total),
        Command::market(Side::Sell, bid_total),
    ];
    number(&mut ops, setup.len() as u64 + 1);
    (setup, ops)
}

/// Cancel storm: `n` resting adds as in [`w1`] (ids `1..=n`), then a cancel of every one of
/// them in a seeded random order.
pub fn cancel_storm(n: usize, seed: u64) -> (Vec<Command>, Vec<Command>) {
    let setup = w1(n, seed);
    let mut ids: Vec<u64> = (1..=n as u64).collect();
    shuffle(&mut ids, &mut rng(seed ^ 0x5eed));
    (setup, ids.into_iter().map(Command::cancel).collect())
}

/// Deep book: one order on each of `levels` consecutive ticks a side (bids below [`MID`],
/// asks above; ids `1..=2 * levels`), then `n_ops` ops: half adds at a uniformly random
/// depth of the book (joining a level), half cancels of distinct random setup orders
/// (levels far from the touch empty and are removed).
pub fn deep_book(levels: usize, n_ops: usize, seed: u64) -> (Vec<Command>, Vec<Command>) {
    let mut r = rng(seed);
    let mut setup = Vec::with_capacity(2 * levels);
    for i in 0..levels as i64 {
        setup.push(Command::add(
            Side::Buy,
            MID - 1 - i,
            r.random_range(1..=100u64),
        ));
        setup.push(Command::add(
            Side::Sell,
            MID + 1 + i,
            r.random_range(1..=100u64),
        ));
    }
    number(&mut setup, 1);
    let mut victims: Vec<u64> = (1..=setup.len() as u64).collect();
    shuffle(&mut victims, &mut r);
    let mut victims = victims.into_iter();
    let mut ops = Vec::with_capacity(n_ops);
    let mut next_id = setup.len() as u64 + 1;
    while ops.len() < n_ops {
        let c = if r.random_bool(0.5) {
            let d = r.random_range(0..levels as i64);
            let s = side(&mut r);
            let price = match s {
                Side::Buy => MID - 1 - d,
                Side::Sell => MID + 1 + d,
            };
            let c = Command {
                id: next_id,
                ..Command::add(s, price, r.random_range(1..=100u64))
            };
            next_id += 1;
            c
        } else {
            match victims.next() {
                Some(id) => Command::cancel(id),
                None => break,
            }
        };
        ops.push(c);
    }
    (setup, ops)
}

/// One huge level: `n` bids of one lot each at `MID - 1` (ids `1..=n`) and one ask level
/// far above; then `n_ops` ops cycling through a cancel of a random order of the back half
/// of the queue, an add joining the back of the queue, and a market sell of 1..=3 lots
/// taking the front of the queue. Needs `n_ops <= n / 2` so the sells never reach the back
/// half.
pub fn huge_level(n: usize, n_ops: usize, seed: u64) -> (Vec<Command>, Vec<Command>) {
    let mut r = rng(seed);
    let mut setup: Vec<Command> = (0..n)
        .map(|_| Command::add(Side::Buy, MID - 1, 1))
        .collect();
    setup.push(Command::add(Side::Sell, MID + 1000, 1));
    number(&mut setup, 1);
    let mut victims: Vec<u64> = ((n / 2) as u64 + 1..=n as u64).collect();
    shuffle(&mut victims, &mut r);
    let mut victims = victims.into_iter();
    let mut ops = Vec::with_capacity(n_ops);
    let mut next_id = setup.len() as u64 + 1;
    while ops.len() < n_ops {
        let c = match ops.len() % 3 {
            0 => match victims.next() {
                Some(id) => Command::cancel(id),
                None => break,
            },
            1 => Command::add(Side::Buy, MID - 1, 1),
            _ => Command::market(Side::Sell, r.random_range(1..=3u64)),
        };
        let c = if c.kind == kind::ADD {
            next_id += 1;
            Command {
                id: next_id - 1,
                ..c
            }
        } else {
            c
        };
        ops.push(c);
    }
    (setup, ops)
}

/// Give the adds of `cmds` consecutive ids from `first`.
fn number(cmds: &mut [Command], first: u64) {
    for (id, c) in (first..).zip(cmds.iter_mut().filter(|c| c.kind == kind::ADD)) {
        c.id = id;
    }
}

/// Fisher-Yates with the workload RNG (deterministic for a seed).
fn shuffle<T>(v: &mut [T], r: &mut Xoshiro256PlusPlus) {
    for i in (1..v.len()).rev() {
        v.swap(i, r.random_range(0..=i));
    }
}

/// A sink that only counts fills.
#[derive(Debug, Default, Clone, Copy)]
pub struct FillCounter {
    /// Fills seen.
    pub fills: u64,
}

impl ReportSink for FillCounter {
    #[inline(always)]
    fn report(&mut self, r: Report) {
        if let Report::Fill(_) = r {
            self.fills += 1;
        }
    }
}

/// Whether a command is an add that can take liquidity (market or IOC/FOK limit).
pub fn is_marketable(c: &Command) -> bool {
    c.kind == kind::ADD
        && (c.order_type == OrderType::Market as u8 || c.tif != TimeInForce::Gtc as u8)
}

/// Apply `cmds` to `book` one by one with `submit` / `cancel` / `modify` and a sink that
/// only counts fills; returns the number of fills. Invalid rows and rejected requests are
/// skipped (the workloads here have none).
#[inline]
pub fn run<L: Ladder>(book: &mut OrderBook<L>, cmds: &[Command]) -> u64 {
    let mut sink = FillCounter::default();
    for c in cmds {
        match c.kind {
            kind::ADD => {
                if let Ok(o) = decode_add(0, c) {
                    let _ = book.submit(&o, &mut sink);
                }
            }
            kind::CANCEL => {
                let _ = book.cancel(c.id, &mut sink);
            }
            kind::MODIFY => {
                let qty = (c.qty != 0).then_some(c.qty);
                let _ = book.modify(c.id, Some(crate::types::Price(c.price)), qty, &mut sink);
            }
            _ => {}
        }
    }
    sink.fills
}

/// A venue gateway's outgoing report buffer: [`run_with_reports`] delivers every report of
/// one message into `reports`, in order, and clears it before the next message (as a gateway
/// would once it has sent them out).
#[derive(Debug, Default, Clone)]
pub struct ReportLog {
    /// The reports of the message being applied.
    pub reports: Vec<Report>,
}

impl ReportLog {
    /// An empty log with room for `capacity` reports (one message's worth).
    pub fn with_capacity(capacity: usize) -> ReportLog {
        ReportLog {
            reports: Vec::with_capacity(capacity),
        }
    }
}

impl ReportSink for ReportLog {
    #[inline(always)]
    fn report(&mut self, r: Report) {
        self.reports.push(r);
    }
}

/// Apply one command through the public API with `sink` (what [`run`] does per command).
#[inline(always)]
fn apply_one<L: Ladder, S: ReportSink>(book: &mut OrderBook<L>, c: &Command, sink: &mut S) {
    match c.kind {
        kind::ADD => {
            if let Ok(o) = decode_add(0, c) {
                let _ = book.submit(&o, sink);
            }
        }
        kind::CANCEL => {
            let _ = book.cancel(c.id, sink);
        }
        kind::MODIFY => {
            let qty = (c.qty != 0).then_some(c.qty);
            let _ = book.modify(c.id, Some(crate::types::Price(c.price)), qty, sink);
        }
        _ => {}
    }
}

/// [`run`] with report delivery, the timing path of a venue's gateway: each command goes
/// through `submit` / `cancel` / `modify` exactly as in [`run`], every report it produces
/// (accepted, fills, rested, cancelled, modified, rejected — a cancel or modify of a dead
/// order included) is pushed into `log`, and the log is cleared after each message. Returns
/// the number of reports delivered. Invalid rows are skipped as in [`run`].
#[inline]
pub fn run_with_reports<L: Ladder>(
    book: &mut OrderBook<L>,
    cmds: &[Command],
    log: &mut ReportLog,
) -> u64 {
    let mut delivered = 0u64;
    for c in cmds {
        apply_one(book, c, log);
        delivered += log.reports.len() as u64;
        log.reports.clear();
    }
    delivered
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::ladder::{PlainSkipLadder, SkipLadder};

    #[test]
    fn stress_workloads_do_what_they_say() {
        // Sweep: everything trades, nothing rests.
        let (setup, ops) = sweep(300, 2, 3);
        let mut b: OrderBook<SkipLadder> = OrderBook::new();
        run(&mut b, &setup);
        assert_eq!(b.len(), 1200);
        assert_eq!(b.level_count(Side::Sell), 300);
        assert_eq!(run(&mut b, &ops), 1200);
        assert!(b.is_empty());
        // Cancel storm: every cancel hits a live order.
        let (setup, ops) = cancel_storm(5000, 4);
        let mut b: OrderBook<SkipLadder> = OrderBook::new();
        run(&mut b, &setup);
        for c in &ops {
            b.cancel(c.id, &mut ()).unwrap();
        }
        assert!(b.is_empty());
        // Deep book: every cancel is live, the book keeps its levels' span.
        let (setup, ops) = deep_book(5000, 4000, 5);
        let mut b: OrderBook<SkipLadder> = OrderBook::new();
        run(&mut b, &setup);
        assert_eq!(b.level_count(Side::Buy), 5000);
        for c in &ops {
            if c.kind == kind::CANCEL {
                b.cancel(c.id, &mut ()).unwrap();
            } else {
                let ex = b.submit(&decode_add(0, c).unwrap(), &mut ()).unwrap();
                assert_eq!(ex.filled_qty, 0);
            }
        }
        b.check_invariants().unwrap();
        // Huge level: one bid level throughout; every cancel live; sells take the front.
        let (setup, ops) = huge_level(3000, 1500, 6);
        let mut b: OrderBook<SkipLadder> = OrderBook::new();
        run(&mut b, &setup);
        assert_eq!(b.level_count(Side::Buy), 1);
        let mut taken = 0;
        for c in &ops {
            match c.kind {
                kind::CANCEL => {
                    b.cancel(c.id, &mut ()).unwrap();
                }
                _ => {
                    let ex = b.submit(&decode_add(0, c).unwrap(), &mut ()).unwrap();
                    taken += ex.filled_qty;
                }
            }
        }
        assert_eq!(b.level_count(Side::Buy), 1);
        assert_eq!(b.len() as u64, 3000 + 1 + 500 - 500 - taken);
        b.check_invariants().unwrap();
    }

    #[test]
    fn w1_is_deterministic_and_never_crosses() {
        let a = w1(20_000, 7);
        assert_eq!(a, w1(20_000, 7));
        assert_ne!(a, w1(20_000, 8));
        for (i, c) in a.iter().enumerate() {
            assert_eq!(c.id, i as u64 + 1);
            assert!((1..=100).contains(&c.qty));
            match c.side {
                0 => assert!((MID - 500..MID).contains(&c.price)),
                _ => assert!((MID + 1..=MID + 500).contains(&c.price)),
            }
        }
        let mut b: OrderBook<SkipLadder> = OrderBook::new();
        assert_eq!(run(&mut b, &a), 0);
        assert_eq!(b.len(), a.len());
        b.check_invariants().unwrap();
    }

    #[test]
    fn w2_mix_is_as_documented() {
        let n = 200_000;
        let (pre, ops) = w2(n, 42);
        assert_eq!(pre.len(), W2_PREFILL);
        assert_eq!(ops.len(), n);
        let again = w2(n, 42);
        assert!(again.0 == pre && again.1 == ops, "w2 is not deterministic");

        // Replay on an independent book and classify every op as it is applied.
        let mut b: OrderBook<BTreeLadder> = OrderBook::new();
        assert_eq!(run(&mut b, &pre), 0);
        assert_eq!(b.len(), W2_PREFILL);
        let (mut adds, mut cancels, mut mkt) = (0usize, 0usize, 0usize);
        let (mut joins, mut creates, mut swept_levels) = (0usize, 0usize, 0usize);
        let mut touched = [0usize; 3];
        let mut sink = FillCounter::default();
        for (i, c) in ops.iter().enumerate() {
            match c.kind {
                kind::CANCEL => {
                    cancels += 1;
                    assert!(
                        b.order(c.id).is_some(),
                        "op {i}: cancel of dead id {}",
                        c.id
                    );
                    b.cancel(c.id, &mut sink).unwrap();
                }
                kind::ADD if is_marketable(c) => {
                    mkt += 1;
                    let o = decode_add(i, c).unwrap();
                    let before = b.level_count(o.side.opposite());
                    let mut fills = crate::report::FillSink::default();
                    let ex = b.submit(&o, &mut fills).unwrap();
                    let mut px: Vec<i64> = fills.fills.iter().map(|f| f.price).collect();
                    px.dedup();
                    assert!((1..=3).contains(&px.len()), "op {i}: traded at {px:?}");
                    touched[px.len() - 1] += 1;
                    assert!(ex.filled_qty > 0, "op {i}: marketable order took nothing");
                    assert_eq!(ex.remaining_qty, 0);
                    let gone = before - b.level_count(o.side.opposite());
                    assert!(gone <= 3, "op {i}: swept {gone} levels");
                    swept_levels += gone;
                }
                kind::ADD => {
                    adds += 1;
                    let o = decode_add(i, c).unwrap();
                    if b.volume_at(o.price) > 0 {
                        joins += 1;
                    } else {
                        creates += 1;
                    }
                    let ex = b.submit(&o, &mut sink).unwrap();
                    assert_eq!(ex.filled_qty, 0, "op {i}: passive add crossed");
                }
                k => panic!("unexpected kind {k}"),
            }
        }
        b.check_invariants().unwrap();
        let pct = |x: usize| 100.0 * x as f64 / n as f64;
        let (pa, pc, pm) = (pct(adds), pct(cancels), pct(mkt));
        assert!((55.0..=65.0).contains(&pa), "adds {pa:.1} %");
        assert!((25.0..=35.0).contains(&pc), "cancels {pc:.1} %");
        assert!((8.0..=12.0).contains(&pm), "marketable {pm:.1} %");
        assert!(joins > adds / 2, "joins {joins} of {adds}");
        assert!(creates > adds / 100, "creates {creates} of {adds}");
        eprintln!(
            "W2 realized mix over {n} ops: adds {pa:.1} % ({:.1} % of them creating a level), \
             cancels {pc:.1} %, marketable {pm:.1} % (trading at 1/2/3 levels: {:?}, {:.2} \
             levels emptied each); {} resting",
            100.0 * creates as f64 / adds as f64,
            touched,
            swept_levels as f64 / mkt as f64,
            b.len()
        );
        assert!(swept_levels > 0 && touched.iter().all(|&t| t > 0));
        // The book neither empties nor explodes.
        assert!(
            (2_000..=40_000).contains(&b.len()),
            "{} resting at the end",
            b.len()
        );
    }

    /// Every report of `cmds`, collected by a plain `Vec<Report>` sink.
    fn all_reports<L: Ladder>(book: &mut OrderBook<L>, cmds: &[Command]) -> Vec<Report> {
        let mut all = Vec::new();
        for c in cmds {
            apply_one(book, c, &mut all);
        }
        all
    }

    #[test]
    fn run_with_reports_delivers_every_report() {
        let (pre, ops) = w2(20_000, 9);
        let mut cases: Vec<(&str, Vec<Command>, Vec<Command>)> = vec![("w2", pre, ops)];
        for f in Flow::ALL {
            cases.push((f.name(), Vec::new(), flow(f, 5_000, 9)));
        }
        cases.push((
            "shuffled",
            Vec::new(),
            flow_with(Flow::Normal, 5_000, 9, true),
        ));
        for (name, pre, ops) in &cases {
            let mut a: OrderBook<SkipLadder> = OrderBook::new();
            let mut b: OrderBook<SkipLadder> = OrderBook::new();
            let mut c: OrderBook<BTreeLadder> = OrderBook::new();
            run(&mut a, pre);
            run(&mut b, pre);
            run(&mut c, pre);
            let trades_before = a.trade_count();
            let expected = all_reports(&mut a, ops);
            let mut log = ReportLog::default();
            let n = run_with_reports(&mut b, ops, &mut log);
            assert_eq!(n, expected.len() as u64, "{name}");
            assert!(
                log.reports.is_empty(),
                "{name}: the log is cleared per message"
            );
            assert_eq!(run_with_reports(&mut c, ops, &mut log), n, "{name}");
            // At least one report per message, and a fill report per trade.
            assert!(
                n >= ops.len() as u64,
                "{name}: {n} reports for {} msgs",
                ops.len()
            );
            let fills = expected
                .iter()
                .filter(|r| matches!(r, Report::Fill(_)))
                .count();
            assert_eq!(fills as u64, a.trade_count() - trades_before, "{name}");
            assert_eq!(a.trade_count(), b.trade_count(), "{name}");
            assert_eq!(a.snapshot(10_000), b.snapshot(10_000), "{name}");
            assert_eq!(a.snapshot(10_000), c.snapshot(10_000), "{name}");
            b.check_invariants().unwrap();
            if *name != "w2" {
                // The flows' dead cancels and stale modifies are refused and reported.
                let refused = expected
                    .iter()
                    .filter(|r| {
                        matches!(
                            r,
                            Report::Rejected {
                                reason: crate::report::RejectReason::UnknownOrder,
                                ..
                            }
                        )
                    })
                    .count();
                assert!(refused > 0, "{name}: no refused message");
            }
        }
    }

    #[test]
    fn w2_replays_identically_on_every_ladder() {
        let (pre, ops) = w2(30_000, 3);
        let mut a: OrderBook<BTreeLadder> = OrderBook::new();
        let mut s: OrderBook<SkipLadder> = OrderBook::new();
        let mut p: OrderBook<PlainSkipLadder> = OrderBook::new();
        run(&mut a, &pre);
        run(&mut s, &pre);
        run(&mut p, &pre);
        let fa = run(&mut a, &ops);
        assert_eq!(fa, run(&mut s, &ops));
        assert_eq!(fa, run(&mut p, &ops));
        assert!(fa > 0);
        assert_eq!(a.snapshot(50), s.snapshot(50));
        assert_eq!(a.snapshot(50), p.snapshot(50));
        assert_eq!(a.len(), s.len());
        s.check_invariants().unwrap();
    }
}
