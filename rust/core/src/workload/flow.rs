//! The five market flows: steady, static, swinging and crashing markets, as an independent
//! cross-engine benchmark drives a matching engine (the book's worst case).
//!
//! Each flow is one symbol's message stream of adds, cancels and modifies — about two
//! messages per order — built from these facts (this generator is hftbook's own):
//!
//! - **Prices**: $0.005 ticks around $167.52 ([`FLOW_MID`] = 33 504 ticks). The mid follows a
//!   driftless geometric Brownian motion over the run whose total diffusion is the flow's
//!   swing ([`Flow::swing`]: 0 for `static`, 2 % `normal`, 25 %, 40 %, 60 % `flash_crash`):
//!   `n` steps of `exp(-σ²/2 + σ·z)` with `σ = swing / √n`.
//! - **Sides**: orders priced off the first half of the path are buys, off the second half
//!   sells; then the arrival order is shuffled. Each side's prices keep their half's range,
//!   so when the path moves the book spans thousands of ticks, the sides cross wherever the
//!   halves overlap, and the touch jumps far from one message to the next.
//! - **Distance** from the path's mid, `k` ticks (a buy at `mid - 1 - k`, a sell at
//!   `mid + 1 + k`, never below 1): drawn with weight `1/(k+1)^2.23 + 5·exp(-(k-8)²/2)`,
//!   `k ≤ 799` (a power law with a hump 8 ticks out). Quantity: 1..=100 lots, uniform.
//! - **Lifecycle**: 15 % of orders are IOC. Of the others (GTC), 95 % are cancelled after an
//!   exponential life with median [`FLOW_MEDIAN_LIFE_NS`] (0.4 ms); 20 % are modified once
//!   during that life (to one more lot, and 80 % of them also one tick toward the touch);
//!   2 % of the cancels are sent twice (the second is refused: unknown order) and 2 % of
//!   the modified and cancelled orders get a stale modify after their cancel (refused too).
//!   The 5 % never cancelled rest until they trade, so a standing book builds up.
//! - **Time**: orders arrive as a Poisson process with a mean gap of
//!   [`FLOW_MEAN_GAP_NS`] (2 µs, a busy symbol in a burst), so a few hundred short-lived
//!   orders are live at once; messages are sorted by time (ties keep generation order).
//! - **Ids**: `1..=n` numbered in generation order, along the path, before the shuffle (the
//!   benchmark's construction), so they arrive as a random permutation ([`flow`]); or
//!   numbered in arrival order ([`flow_with`] with `shuffled_ids = false`), the shape of ids
//!   from a counter.
//!
//! The same `(flow, n, seed)` gives the same messages on every run (the RNG is
//! `Xoshiro256PlusPlus`; normals by Box–Muller; the crate versions are pinned by
//! `Cargo.lock`; `exp`/`ln`/`cos` come from the platform's libm, identical on every glibc).

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::batch::Command;
use crate::types::{Side, TimeInForce};

/// The flows' starting mid: $167.52 in $0.005 ticks.
pub const FLOW_MID: i64 = 33_504;
/// The flows' tick size in dollars.
pub const FLOW_TICK_SIZE: &str = "0.005";
/// Deepest distance from the mid an order is placed at, in ticks.
pub const FLOW_MAX_DIST: usize = 799;
/// Median life of a cancelled order, in nanoseconds (0.4 ms).
pub const FLOW_MEDIAN_LIFE_NS: f64 = 400_000.0;
/// Mean gap between two order arrivals, in nanoseconds.
pub const FLOW_MEAN_GAP_NS: f64 = 2_000.0;

const ALPHA: f64 = 2.23;
const HUMP: f64 = 5.0;
const HUMP_AT: f64 = 8.0;
const P_IOC: f64 = 0.15;
const P_CANCEL: f64 = 0.95;
const P_MODIFY: f64 = 0.20;
const P_DUP_CANCEL: f64 = 0.02;
const P_STALE_MODIFY: f64 = 0.02;
const P_REPRICE: f64 = 0.80;

/// One of the five market flows (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// The mid never moves.
    Static,
    /// A routine session: 2 % total diffusion.
    Normal,
    /// A high-volatility day: 25 %.
    Swing25,
    /// A stressed market: 40 %.
    Swing40,
    /// A dislocation: 60 %.
    FlashCrash,
}

impl Flow {
    /// Every flow, in the order of the reports.
    pub const ALL: [Flow; 5] = [
        Flow::Normal,
        Flow::Static,
        Flow::Swing25,
        Flow::Swing40,
        Flow::FlashCrash,
    ];

    /// The flow's name (`normal`, `static`, `swing_25`, `swing_40`, `flash_crash`).
    pub const fn name(self) -> &'static str {
        match self {
            Flow::Static => "static",
            Flow::Normal => "normal",
            Flow::Swing25 => "swing_25",
            Flow::Swing40 => "swing_40",
            Flow::FlashCrash => "flash_crash",
        }
    }

    /// The flow named `name` (`-` and `_` are the same).
    pub fn from_name(name: &str) -> Option<Flow> {
        let n = name.replace('-', "_");
        Flow::ALL.into_iter().find(|f| f.name() == n)
    }

    /// Total diffusion of the mid over the run (0.25 = 25 %).
    pub const fn swing(self) -> f64 {
        match self {
            Flow::Static => 0.0,
            Flow::Normal => 0.02,
            Flow::Swing25 => 0.25,
            Flow::Swing40 => 0.40,
            Flow::FlashCrash => 0.60,
        }
    }
}

/// Cumulative weights of the distance law, `k = 0..=FLOW_MAX_DIST`.
fn distance_cdf() -> Vec<f64> {
    let mut acc = 0.0;
    (0..=FLOW_MAX_DIST)
        .map(|k| {
            let k = k as f64;
            let z = k - HUMP_AT;
            acc += 1.0 / (k + 1.0).powf(ALPHA) + HUMP * (-0.5 * z * z).exp();
            acc
        })
        .collect()
}

fn normal(r: &mut Xoshiro256PlusPlus) -> f64 {
    // Box–Muller, cosine branch; 1 - u is in (0, 1].
    let u1 = 1.0 - r.random::<f64>();
    let u2: f64 = r.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Exponential with the given mean; `1 - u` is in (0, 1].
fn exponential(r: &mut Xoshiro256PlusPlus, mean: f64) -> f64 {
    -(1.0 - r.random::<f64>()).ln() * mean
}

/// `flow` with `n` orders (about `2 n` messages), ids numbered in generation order (they
/// arrive shuffled). See the module docs.
pub fn flow(flow: Flow, n: usize, seed: u64) -> Vec<Command> {
    flow_with(flow, n, seed, true)
}

/// [`flow`], with the ids numbered in generation order (`shuffled_ids`: they arrive as a
/// random permutation of `1..=n`, as in the benchmark) or in arrival order (sequential).
pub fn flow_with(flow: Flow, n: usize, seed: u64, shuffled_ids: bool) -> Vec<Command> {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xF10_u64.rotate_left(40));
    let cdf = distance_cdf();
    let total = cdf.last().copied().unwrap_or(1.0);

    // 1. Prices along the GBM path: buys off its first half, sells off its second.
    let sigma = flow.swing() / (n.max(1) as f64).sqrt();
    let drift = -0.5 * sigma * sigma;
    let mut log_mid = 0.0f64;
    let mut orders: Vec<(Side, i64, u64, u64)> = Vec::with_capacity(n);
    for i in 0..n {
        if sigma > 0.0 {
            log_mid += drift + sigma * normal(&mut r);
        }
        let mid = (FLOW_MID as f64 * log_mid.exp()).round() as i64;
        let x = r.random::<f64>() * total;
        let k = cdf.partition_point(|&c| c < x).min(FLOW_MAX_DIST) as i64;
        let qty = r.random_range(1..=100u64);
        let (side, price) = if i < n / 2 {
            (Side::Buy, mid - 1 - k)
        } else {
            (Side::Sell, mid + 1 + k)
        };
        orders.push((side, price.max(1), qty, i as u64 + 1));
    }

    // 2. Arrival order: a Fisher–Yates shuffle.
    for i in (1..orders.len()).rev() {
        orders.swap(i, r.random_range(0..=i));
    }

    // 3. The lifecycle of each order on a nanosecond timeline.
    let mut events: Vec<(u64, Command)> = Vec::with_capacity(n * 9 / 4);
    let mut now = 0f64;
    for (k, &(side, price, qty, gen_id)) in orders.iter().enumerate() {
        let id = if shuffled_ids { gen_id } else { k as u64 + 1 };
        now += exponential(&mut r, FLOW_MEAN_GAP_NS);
        let t = now as u64;
        if r.random_bool(P_IOC) {
            let c = Command {
                id,
                tif: TimeInForce::Ioc as u8,
                ..Command::add(side, price, qty)
            };
            events.push((t, c));
            continue;
        }
        events.push((
            t,
            Command {
                id,
                ..Command::add(side, price, qty)
            },
        ));
        let life = exponential(&mut r, FLOW_MEDIAN_LIFE_NS / std::f64::consts::LN_2);
        let cancelled = r.random_bool(P_CANCEL);
        let modify = r.random_bool(P_MODIFY).then(|| {
            let toward = match side {
                Side::Buy => 1,
                Side::Sell => -1,
            };
            let new_price = if r.random_bool(P_REPRICE) {
                (price + toward).max(1)
            } else {
                price
            };
            Command::modify(id, new_price, qty + 1)
        });
        // A modify comes during the order's life (before its cancel, if any).
        if let Some(m) = modify {
            let at = life * r.random_range(0.05..0.95);
            events.push((t + at as u64, m));
        }
        if cancelled {
            let end = t + life as u64;
            events.push((end, Command::cancel(id)));
            if r.random_bool(P_DUP_CANCEL) {
                events.push((end + r.random_range(1_000..=20_000), Command::cancel(id)));
            }
            if let Some(m) = modify {
                if r.random_bool(P_STALE_MODIFY) {
                    events.push((end + r.random_range(1_000..=20_000), m));
                }
            }
        }
    }
    // Stable: messages at the same nanosecond keep their generation order.
    events.sort_by_key(|&(t, _)| t);
    events.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::batch::kind;
    use crate::book::OrderBook;
    use crate::ladder::{BTreeLadder, Ladder, PlainSkipLadder, SkipLadder, WINDOW};
    use crate::workload::run;

    #[test]
    fn flows_are_deterministic_and_shaped_as_documented() {
        for f in Flow::ALL {
            let a = flow(f, 20_000, 23);
            assert_eq!(a, flow(f, 20_000, 23), "{}", f.name());
            assert_ne!(a, flow(f, 20_000, 24), "{}", f.name());
            let adds = a.iter().filter(|c| c.kind == kind::ADD).count();
            let iocs = a
                .iter()
                .filter(|c| c.kind == kind::ADD && c.tif == TimeInForce::Ioc as u8)
                .count();
            let cancels = a.iter().filter(|c| c.kind == kind::CANCEL).count();
            let modifies = a.iter().filter(|c| c.kind == kind::MODIFY).count();
            assert_eq!(adds, 20_000);
            let pct = |x: usize| 100.0 * x as f64 / adds as f64;
            assert!((13.5..=16.5).contains(&pct(iocs)), "ioc {}", pct(iocs));
            // GTC 85 %: 95 % cancelled (+2 % of them twice), 20 % modified (+ stale ones).
            assert!(
                (79.0..=83.5).contains(&pct(cancels)),
                "cancels {}",
                pct(cancels)
            );
            assert!(
                (15.5..=18.5).contains(&pct(modifies)),
                "mods {}",
                pct(modifies)
            );
            assert!(a.iter().all(|c| c.kind != kind::ADD || c.price >= 1));
            // Ids arrive as a permutation of 1..=n; the same orders with sequential ids.
            let mut ids: Vec<u64> = a
                .iter()
                .filter(|c| c.kind == kind::ADD)
                .map(|c| c.id)
                .collect();
            assert!(ids.windows(2).any(|w| w[0] + 1 != w[1]));
            ids.sort_unstable();
            assert_eq!(ids, (1..=20_000).collect::<Vec<_>>());
            let s = flow_with(f, 20_000, 23, false);
            let seq: Vec<u64> = s
                .iter()
                .filter(|c| c.kind == kind::ADD)
                .map(|c| c.id)
                .collect();
            assert!(seq.windows(2).all(|w| w[0] + 1 == w[1]));
            assert_eq!(s.len(), a.len());
        }
    }

    #[test]
    fn swings_spread_the_book_over_thousands_of_ticks() {
        let span = |f: Flow| {
            let c = flow(f, 100_000, 23);
            let (lo, hi) = c
                .iter()
                .filter(|c| c.kind == kind::ADD)
                .fold((i64::MAX, i64::MIN), |(lo, hi), c| {
                    (lo.min(c.price), hi.max(c.price))
                });
            hi - lo
        };
        assert!(span(Flow::Static) <= 2 * FLOW_MAX_DIST as i64 + 1);
        assert!(span(Flow::Normal) < 4_000);
        assert!(span(Flow::Swing25) > 4_000, "{}", span(Flow::Swing25));
        assert!(span(Flow::FlashCrash) > span(Flow::Swing25));
    }

    fn replay<L: Ladder>(cmds: &[Command]) -> OrderBook<L> {
        let mut b: OrderBook<L> = OrderBook::new();
        run(&mut b, cmds);
        b.check_invariants().unwrap();
        b
    }

    #[test]
    fn flows_replay_identically_on_every_ladder() {
        for f in Flow::ALL {
            let c = flow(f, 30_000, 5);
            let a = replay::<BTreeLadder>(&c);
            let s = replay::<SkipLadder>(&c);
            let p = replay::<PlainSkipLadder>(&c);
            let m = replay::<SkipLadder<WINDOW>>(&c);
            assert_eq!(a.snapshot(10_000), m.snapshot(10_000), "{}", f.name());
            assert_eq!(a.trade_count(), s.trade_count(), "{}", f.name());
            assert_eq!(a.trade_count(), p.trade_count(), "{}", f.name());
            assert_eq!(a.snapshot(10_000), s.snapshot(10_000), "{}", f.name());
            assert_eq!(a.snapshot(10_000), p.snapshot(10_000), "{}", f.name());
            assert!(a.trade_count() > 0, "{}", f.name());
        }
    }

    #[test]
    fn the_default_ladder_keeps_swinging_books_in_its_window() {
        // The book's worst case: the window grows to the book's span once, then nothing moves
        // between the ring and the skiplist, however far the touch jumps.
        for f in [Flow::Swing25, Flow::FlashCrash] {
            let c = flow(f, 100_000, 23);
            let mut b: OrderBook<SkipLadder> = OrderBook::new();
            for chunk in c.chunks(5_000) {
                run(&mut b, chunk);
                for side in [Side::Buy, Side::Sell] {
                    assert_eq!(b.ladder(side).far_levels(), 0, "{}", f.name());
                }
            }
            for side in [Side::Buy, Side::Sell] {
                let l = b.ladder(side);
                assert!(l.window_width() > WINDOW, "{}: never grew", f.name());
                assert!(
                    l.window_moves() < 40,
                    "{}: {} moves",
                    f.name(),
                    l.window_moves()
                );
            }
            // Ids arriving as a permutation live in the hash map: no page churn.
            let (created, demoted) = b.id_index().page_moves();
            assert!(
                created < 64 && demoted < 8,
                "{}: {created}/{demoted}",
                f.name()
            );
            b.check_invariants().unwrap();
        }
    }
}
