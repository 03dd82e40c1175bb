//! Positions and PnL of one account in one symbol: average-cost accounting in exact
//! integers.
//!
//! Quantities are lots, prices ticks; money is in **tick-lots** (one tick of price on one
//! lot), so every figure is an integer and the instrument's tick and lot sizes turn it into
//! currency only for display. Fees are kept in **tick-lot basis points**
//! (`price × qty × bps`), exact for any integer bps; divide by 10 000 for tick-lots.
//!
//! Average cost: buying adds `price × qty` to the position's cost; a fill that reduces the
//! position takes off the cost of the lots it closes, `cost × closed / |net|`, and books
//! `(exit price − average) × closed` as realized PnL. That division is exact when it comes
//! out even and otherwise leaves its remainder (less than one tick-lot) in the cost of the
//! lots still open; so realized + unrealized is always exactly the sum of the cash flows
//! plus the marked position, and a position closed to zero has exactly its realized PnL.
//! A fill that crosses through zero closes the position and opens the rest on the other
//! side at the fill price.

/// One account's position in one symbol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// Lots: positive long, negative short.
    pub net: i64,
    /// Cost of the open lots, tick-lots, with the sign of `net` (0 when flat).
    pub cost: i128,
    /// Realized PnL, tick-lots.
    pub realized: i128,
    /// Fees paid (negative: rebates received), tick-lot basis points.
    pub fees_bps: i128,
    /// Lots bought and sold.
    pub bought: u64,
    /// Lots sold.
    pub sold: u64,
    /// Fills.
    pub trades: u64,
}

/// `a * b / c` (`c > 0`), truncated toward zero, exactly as in `i128`.
#[inline]
fn mul_div(a: i128, b: i128, c: i128) -> i128 {
    let p = a * b;
    match (i64::try_from(p), i64::try_from(c)) {
        (Ok(p), Ok(c)) => i128::from(p / c),
        _ => p / c,
    }
}

impl Position {
    /// Book a fill: `buy`, `qty` lots at `price` ticks, paying `fee_bps` basis points of
    /// its notional (negative for a rebate).
    pub fn fill(&mut self, buy: bool, price: i64, qty: u64, fee_bps: i64) {
        let q = i128::from(qty);
        let px = i128::from(price);
        self.trades += 1;
        if fee_bps != 0 {
            self.fees_bps += px * q * i128::from(fee_bps);
        }
        if buy {
            self.bought += qty;
        } else {
            self.sold += qty;
        }
        let dir: i128 = if buy { 1 } else { -1 };
        let net = i128::from(self.net);
        if net == 0 || (net > 0) == buy {
            self.cost += dir * px * q;
            self.net = (net + dir * q) as i64;
            return;
        }
        // Reducing: close min(q, |net|) lots at the average cost.
        let open = net.abs();
        let closed = q.min(open);
        // A full close removes the whole cost; a partial one its share, divided in 64 bits
        // when the product fits (the 128-bit division is a slow library call).
        let removed = if closed == open {
            self.cost
        } else {
            mul_div(self.cost, closed, open)
        };
        let side: i128 = net.signum();
        self.realized += side * px * closed - removed;
        self.cost -= removed;
        let left = open - closed;
        if left == 0 {
            // The remainder of the division, if any, belongs to the lots just closed.
            self.realized -= self.cost;
            self.cost = 0;
        }
        self.net = (side * left) as i64;
        let rest = q - closed;
        if rest > 0 {
            // Through zero: the rest opens a position on the other side at this price.
            self.cost = dir * px * rest;
            self.net = (dir * rest) as i64;
        }
    }

    /// PnL of the open lots marked at `mark` ticks, tick-lots.
    pub fn unrealized(&self, mark: i64) -> i128 {
        i128::from(mark) * i128::from(self.net) - self.cost
    }

    /// Realized + unrealized at `mark` − fees, tick-lots (fees rounded toward zero).
    pub fn total(&self, mark: i64) -> i128 {
        self.realized + self.unrealized(mark) - self.fees_bps / 10_000
    }

    /// Lots traded.
    pub fn volume(&self) -> u64 {
        self.bought + self.sold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn mul_div_is_the_128_bit_division(
            a in prop_oneof![any::<i64>().prop_map(i128::from), any::<i128>().prop_map(|x| x >> 50)],
            b in 0i128..(1 << 40),
            c in 1i128..(1 << 40),
        ) {
            prop_assert_eq!(mul_div(a, b, c), a * b / c);
        }
    }

    #[test]
    fn long_short_partial_and_through_zero_by_hand() {
        let mut p = Position::default();
        p.fill(true, 100, 10, 0); // long 10 @ 100
        p.fill(true, 110, 10, 0); // long 20, cost 2100, average 105
        assert_eq!((p.net, p.cost), (20, 2100));
        assert_eq!(p.unrealized(120), 20 * 120 - 2100);
        p.fill(false, 120, 5, 0); // close 5 @ 120: realized 5 × (120 − 105) = 75
        assert_eq!((p.net, p.cost, p.realized), (15, 1575, 75));
        p.fill(false, 90, 25, 0); // close 15 @ 90 (−225), then short 10 @ 90
        assert_eq!((p.net, p.cost, p.realized), (-10, -900, 75 - 225));
        assert_eq!(p.unrealized(80), 100); // short 10 from 90, marked at 80
        p.fill(true, 80, 10, 0); // cover: +100
        assert_eq!((p.net, p.cost, p.realized), (0, 0, -50));
        assert_eq!((p.bought, p.sold, p.trades), (30, 30, 5));
    }

    #[test]
    fn uneven_average_keeps_the_remainder_and_closes_exactly() {
        let mut p = Position::default();
        p.fill(true, 100, 1, 0);
        p.fill(true, 101, 2, 0); // cost 302 over 3 lots: average 100.67
        p.fill(false, 101, 1, 0); // removes 302 / 3 = 100 (remainder stays)
        assert_eq!((p.net, p.cost, p.realized), (2, 202, 1));
        p.fill(false, 101, 2, 0); // closes: realized exactly 3 × 101 − 302 = 1
        assert_eq!((p.net, p.cost, p.realized), (0, 0, 1));
    }

    #[test]
    fn fees_and_rebates() {
        let mut p = Position::default();
        p.fill(true, 10_000, 10, 3); // taker 3 bps on 100 000 tick-lots: 30 tick-lots
        p.fill(false, 10_000, 10, -1); // maker rebate 1 bp: −10
        assert_eq!(p.fees_bps, 300_000 - 100_000);
        assert_eq!(p.total(10_000), -20);
    }

    proptest! {
        /// Conservation: realized + unrealized = −Σ signed cash flows + mark × net, exactly,
        /// after every fill; flat means the realized PnL is exactly the cash.
        #[test]
        fn pnl_is_conserved(fills in proptest::collection::vec((any::<bool>(), 1i64..10_000, 1u64..1_000), 1..200), mark in 1i64..10_000) {
            let mut p = Position::default();
            let mut cash: i128 = 0;
            let mut net: i128 = 0;
            for (buy, px, q) in fills {
                p.fill(buy, px, q, 0);
                let signed = if buy { i128::from(q) } else { -i128::from(q) };
                cash -= signed * i128::from(px);
                net += signed;
                prop_assert_eq!(i128::from(p.net), net);
                prop_assert_eq!(p.realized + p.unrealized(mark), cash + i128::from(mark) * net);
                if net == 0 {
                    prop_assert_eq!(p.cost, 0);
                    prop_assert_eq!(p.realized, cash);
                } else {
                    // The average cost is a price the open lots could have been bought at.
                    prop_assert_eq!(p.cost.signum(), net.signum());
                }
            }
        }
    }
}

use std::sync::atomic::{fence, AtomicU64, Ordering};

/// A position published by its shard (the only writer) for readers on any thread: a
/// seqlock over the position's words. The writer never waits; a reader retries while a
/// write is in progress.
#[derive(Debug)]
pub struct PositionCell {
    /// Account.
    pub account: u32,
    /// Symbol index.
    pub symbol: u32,
    seq: AtomicU64,
    words: [AtomicU64; 10],
}

impl PositionCell {
    /// A flat position of `account` in `symbol`.
    pub fn new(account: u32, symbol: u32) -> PositionCell {
        PositionCell {
            account,
            symbol,
            seq: AtomicU64::new(0),
            words: Default::default(),
        }
    }

    /// Writer (the shard): publish `p`.
    pub fn write(&self, p: &Position) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let w = to_words(p);
        for (slot, v) in self.words.iter().zip(w) {
            slot.store(v, Ordering::Relaxed);
        }
        self.seq.store(s + 2, Ordering::Release);
    }

    /// Reader: the last position published.
    pub fn read(&self) -> Position {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut w = [0u64; 10];
            for (v, slot) in w.iter_mut().zip(&self.words) {
                *v = slot.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return from_words(&w);
            }
        }
    }
}

fn split(v: i128) -> (u64, u64) {
    (v as u64, (v >> 64) as u64)
}

fn join(lo: u64, hi: u64) -> i128 {
    (i128::from(hi as i64) << 64) | i128::from(lo)
}

fn to_words(p: &Position) -> [u64; 10] {
    let (c0, c1) = split(p.cost);
    let (r0, r1) = split(p.realized);
    let (f0, f1) = split(p.fees_bps);
    [
        p.net as u64,
        c0,
        c1,
        r0,
        r1,
        f0,
        f1,
        p.bought,
        p.sold,
        p.trades,
    ]
}

fn from_words(w: &[u64; 10]) -> Position {
    Position {
        net: w[0] as i64,
        cost: join(w[1], w[2]),
        realized: join(w[3], w[4]),
        fees_bps: join(w[5], w[6]),
        bought: w[7],
        sold: w[8],
        trades: w[9],
    }
}

#[cfg(test)]
mod cell_tests {
    use super::*;

    #[test]
    fn cells_round_trip_and_readers_see_whole_positions() {
        let c = std::sync::Arc::new(PositionCell::new(7, 1));
        let mut p = Position::default();
        p.fill(false, -5, 3, 2);
        p.realized = -(1i128 << 100);
        c.write(&p);
        assert_eq!(c.read(), p);
        let r = c.clone();
        let first = p;
        let reader = std::thread::spawn(move || {
            for _ in 0..20_000 {
                let q = r.read();
                // The first position, or one of the loop's, which all have bought == trades:
                // never a mix of two writes.
                assert!(q == first || q.bought == q.trades, "torn read: {q:?}");
            }
        });
        let mut q = Position::default();
        for i in 0..20_000 {
            q.fill(true, 100 + i % 7, 1, 0);
            c.write(&q);
        }
        reader.join().unwrap();
    }
}
