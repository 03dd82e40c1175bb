//! Concurrency stress test of the lock-free read side of `OrderBook<SkipLadder>`.
//!
//! A long random flow is first run single-threaded to record, for every operation sequence
//! number, the exact top of book and digests of the 10-level and of the full depth. The same
//! flow is then replayed by a writer thread while three reader threads hammer
//! `BookReader::top` and `BookReader::depth`. Every observation must match the record for
//! its sequence number (never torn), top of book must never be crossed, each reader's
//! sequence numbers must never go backwards, and once the writer stops the readers must
//! see its last state. The book publishes only while a reader exists, so parts of the flow
//! run with no reader at all and fresh readers then join a book that changed unobserved.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use hftbook_core::{
    BookReader, Clock, Ladder, LevelView, NewOrder, OrderBook, OrderId, Price, Qty, QtyLimits,
    Side, SkipLadder, StpMode, TimeInForce, WINDOW,
};

const OPS: usize = 60_000;
/// Levels per side in the short depth reads; readers alternate them with `depth(usize::MAX)`
/// (every level, including the skiplist's deep ones).
const DEPTH: usize = 10;
const READERS: usize = 3;

/// splitmix64: a tiny deterministic generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Submit(NewOrder),
    Cancel(OrderId),
    Modify(OrderId, Option<Price>, Option<Qty>),
}

/// A flow with a drifting (and sometimes jumping) mid, deep passive orders far from the
/// touch, icebergs, STP accounts, cancels, modifies and sweeps, so that the SkipLadder's
/// window re-centres often and its skiplist holds many levels.
fn flow(seed: u64, n: usize) -> Vec<Op> {
    let mut rng = Rng(seed);
    let mut mid: i64 = 100_000;
    let mut next_id: OrderId = 1;
    let mut ids: Vec<OrderId> = Vec::new();
    let mut ops = Vec::with_capacity(n);
    while ops.len() < n {
        mid += rng.range(-3, 3);
        if rng.chance(1) {
            mid += rng.range(-3000, 3000);
        }
        let side = if rng.chance(50) {
            Side::Buy
        } else {
            Side::Sell
        };
        let dir = if side == Side::Buy { -1 } else { 1 };
        let roll = rng.below(100);
        let pick = |rng: &mut Rng, ids: &Vec<OrderId>| {
            if ids.is_empty() {
                1
            } else {
                // Mostly recent ids (likely still live), sometimes any.
                let back = if rng.chance(80) {
                    rng.below(200)
                } else {
                    rng.below(ids.len() as u64)
                };
                ids[ids.len() - 1 - (back as usize).min(ids.len() - 1)]
            }
        };
        let op = if roll < 60 {
            let off = match rng.below(100) {
                0..=59 => rng.range(0, 20),
                60..=84 => rng.range(0, 3000),
                85..=94 => rng.range(0, 20_000),
                _ => -rng.range(0, 30),
            };
            let qty = rng.range(1, 20) as Qty;
            let mut o = NewOrder::limit(side, mid + dir * off, qty).with_id(next_id);
            if rng.chance(10) {
                o = o.with_display(rng.range(1, 5) as Qty);
            }
            if rng.chance(30) {
                o = o.with_account(rng.range(1, 3) as u32);
                if rng.chance(50) {
                    o = o.with_stp(StpMode::CancelOldest);
                }
            }
            if rng.chance(5) {
                o = o.post_only();
            }
            ids.push(next_id);
            next_id += 1;
            Op::Submit(o)
        } else if roll < 72 {
            Op::Cancel(pick(&mut rng, &ids))
        } else if roll < 84 {
            let id = pick(&mut rng, &ids);
            let price = rng
                .chance(60)
                .then(|| Price(mid + dir * rng.range(-10, 200)));
            let qty = rng.chance(60).then(|| rng.range(1, 25) as Qty);
            Op::Modify(id, price, qty)
        } else if roll < 98 {
            let qty = rng.range(1, 40) as Qty;
            let o = if rng.chance(50) {
                NewOrder::market(side, qty)
            } else {
                NewOrder::limit(side, mid - dir * rng.range(0, 50), qty).with_tif(TimeInForce::Ioc)
            };
            Op::Submit(o)
        } else {
            Op::Submit(NewOrder::market(side, rng.range(100, 1500) as Qty))
        };
        ops.push(op);
    }
    ops
}

fn apply<L: Ladder>(book: &mut OrderBook<L>, op: &Op) {
    match *op {
        Op::Submit(o) => {
            let _ = book.submit(&o, &mut ());
        }
        Op::Cancel(id) => {
            let _ = book.cancel(id, &mut ());
        }
        Op::Modify(id, p, q) => {
            let _ = book.modify(id, p, q, &mut ());
        }
    }
}

fn new_book<L: Ladder>() -> OrderBook<L> {
    let (clock, _handle) = Clock::manual(1);
    OrderBook::with_options(clock, QtyLimits::default(), StpMode::CancelNewest)
}

fn digest(bids: &[LevelView], asks: &[LevelView]) -> u64 {
    let mut h = DefaultHasher::new();
    for side in [bids, asks] {
        side.len().hash(&mut h);
        for l in side {
            (l.price.0, l.qty, l.orders).hash(&mut h);
        }
    }
    h.finish()
}

type Top = (Option<LevelView>, Option<LevelView>);

/// What the book looked like after each operation, indexed by sequence number.
struct Record {
    top: Vec<Top>,
    /// Digest of `depth(DEPTH)` on both sides.
    depth: Vec<u64>,
    /// Digest of every level on both sides.
    depth_all: Vec<u64>,
    /// `book.seq()` after each op of the flow (to check the replay is identical).
    seq_after: Vec<u64>,
}

fn record<L: Ladder>(ops: &[Op]) -> Record {
    let mut book = new_book::<L>();
    let snap = |b: &OrderBook<L>| {
        (
            (b.best_bid(), b.best_ask()),
            digest(&b.depth(Side::Buy, DEPTH), &b.depth(Side::Sell, DEPTH)),
            digest(
                &b.depth(Side::Buy, usize::MAX),
                &b.depth(Side::Sell, usize::MAX),
            ),
        )
    };
    let (t, d, a) = snap(&book);
    let mut rec = Record {
        top: vec![t],
        depth: vec![d],
        depth_all: vec![a],
        seq_after: Vec::with_capacity(ops.len()),
    };
    for op in ops {
        apply(&mut book, op);
        let seq = book.seq() as usize;
        if seq == rec.top.len() {
            let (t, d, a) = snap(&book);
            rec.top.push(t);
            rec.depth.push(d);
            rec.depth_all.push(a);
        }
        assert_eq!(seq + 1, rec.top.len(), "one op moved seq by more than one");
        rec.seq_after.push(book.seq());
    }
    rec
}

#[derive(Debug, Default)]
struct ReaderStats {
    tops: u64,
    depths: u64,
    consistent_depths: u64,
    distinct_top_seqs: u64,
}

fn reader_loop(
    reader: BookReader,
    rec: &Record,
    final_seq: u64,
    polite: bool,
    done: &AtomicBool,
    start: &Barrier,
) -> Result<ReaderStats, String> {
    start.wait();
    let mut st = ReaderStats::default();
    let mut last_seq = 0u64;
    loop {
        // Read `done` first so that the final state is observed at least once after it.
        let finished = done.load(Ordering::Acquire);
        let top = reader.top();
        st.tops += 1;
        if top.seq < last_seq {
            return Err(format!("top seq went back: {} after {}", top.seq, last_seq));
        }
        if top.seq != last_seq {
            st.distinct_top_seqs += 1;
        }
        last_seq = top.seq;
        let Some(&(bid, ask)) = rec.top.get(top.seq as usize) else {
            return Err(format!("top seq {} was never recorded", top.seq));
        };
        if (top.bid, top.ask) != (bid, ask) {
            return Err(format!(
                "torn top at seq {}: read {:?} / {:?}, recorded {:?} / {:?}",
                top.seq, top.bid, top.ask, bid, ask
            ));
        }
        if let (Some(b), Some(a)) = (top.bid, top.ask) {
            if b.price >= a.price {
                return Err(format!("crossed top at seq {}: {b:?} / {a:?}", top.seq));
            }
        }

        // Alternate between the top levels and the whole book (deep skiplist levels).
        let all = st.depths % 2 == 1;
        let n = if all { usize::MAX } else { DEPTH };
        let (seq, bids, asks) = reader.depth(n);
        st.depths += 1;
        if bids.len() > n || asks.len() > n {
            return Err(format!(
                "depth({n}) returned {} / {} levels",
                bids.len(),
                asks.len()
            ));
        }
        if let Some(seq) = seq {
            st.consistent_depths += 1;
            if seq < last_seq {
                return Err(format!("depth seq went back: {seq} after {last_seq}"));
            }
            last_seq = seq;
            let recorded = if all { &rec.depth_all } else { &rec.depth };
            match recorded.get(seq as usize) {
                Some(&d) if d == digest(&bids, &asks) => {}
                Some(_) => {
                    return Err(format!(
                        "consistent depth({n}) at seq {seq} differs from the record: {bids:?} / {asks:?}"
                    ))
                }
                None => return Err(format!("depth seq {seq} was never recorded")),
            }
        }
        if polite && st.tops % 8 == 0 {
            // Three spinning readers on a small machine would starve the writer; one reader
            // spins flat out so that reads keep overlapping writes.
            std::thread::yield_now();
        }
        if finished {
            // `done` was set after the writer's last operation: that state must be visible.
            if top.seq != final_seq {
                return Err(format!(
                    "after the writer finished, top seq is {} not {final_seq}",
                    top.seq
                ));
            }
            return Ok(st);
        }
    }
}

#[test]
fn readers_never_see_torn_or_crossed_books() {
    let book = readers_race_the_writer::<SkipLadder>();
    // The window grew while readers were reading (its reader mirror was replaced).
    for side in [Side::Buy, Side::Sell] {
        assert!(
            book.ladder(side).window_width() > WINDOW,
            "{side:?} never grew"
        );
    }
}

#[test]
fn readers_never_see_torn_or_crossed_books_with_a_fixed_window() {
    // The window held at its smallest: deep levels live in the skiplist and the window
    // re-centres, under the readers' feet.
    let book = readers_race_the_writer::<SkipLadder<WINDOW>>();
    let far = book.ladder(Side::Buy).far_levels() + book.ladder(Side::Sell).far_levels();
    let moves = book.ladder(Side::Buy).window_moves() + book.ladder(Side::Sell).window_moves();
    assert!(far > 0 && moves > 10, "far {far}, moves {moves}");
}

fn readers_race_the_writer<L: Ladder>() -> OrderBook<L> {
    let t0 = Instant::now();
    let ops = flow(0x5EED_0001, OPS);
    let rec = Arc::new(record::<L>(&ops));
    let last = rec.top.len() - 1;
    assert!(
        last > OPS / 2,
        "the flow should mostly change the book ({last} ops did)"
    );

    // The book publishes only while a reader exists: run stretches of the flow with no
    // reader at all, so each new set of readers starts from a book that changed unobserved.
    let mut book = new_book::<L>();
    let mut total = ReaderStats::default();
    let cuts = [0, OPS / 10, OPS / 2, OPS * 6 / 10, OPS];
    for (k, w) in cuts.windows(2).enumerate() {
        let range = w[0]..w[1];
        if k % 2 == 0 {
            for i in range {
                apply(&mut book, &ops[i]);
                assert_eq!(book.seq(), rec.seq_after[i], "replay diverged at op {i}");
            }
            continue;
        }
        let st = replay_with_readers(&mut book, &ops, range, &rec);
        total.tops += st.tops;
        total.depths += st.depths;
        total.consistent_depths += st.consistent_depths;
        total.distinct_top_seqs += st.distinct_top_seqs;
    }
    book.check_invariants().unwrap();
    // The readers must actually have raced the writer, not just read the final state.
    assert!(total.distinct_top_seqs > 50, "{total:?}");
    assert!(total.consistent_depths > 100, "{total:?}");
    eprintln!(
        "{} ops, {} seqs, readers: {total:?}, {:?}",
        ops.len(),
        last,
        t0.elapsed()
    );
    book
}

/// Apply `ops[range]` while `READERS` threads read the book; returns their summed stats.
fn replay_with_readers<L: Ladder>(
    book: &mut OrderBook<L>,
    ops: &[Op],
    range: std::ops::Range<usize>,
    rec: &Arc<Record>,
) -> ReaderStats {
    let final_seq = rec.seq_after[range.end - 1];
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(READERS + 1));
    let handles: Vec<_> = (0..READERS)
        .map(|k| {
            let (reader, rec, done, start) =
                (book.reader(), rec.clone(), done.clone(), start.clone());
            std::thread::spawn(move || reader_loop(reader, &rec, final_seq, k > 0, &done, &start))
        })
        .collect();

    start.wait();
    // Stop the readers even if the writer panics, so a failure cannot hang the test.
    let stop = StopOnDrop(done.clone());
    for i in range {
        apply(book, &ops[i]);
        assert_eq!(book.seq(), rec.seq_after[i], "replay diverged at op {i}");
        if i % 64 == 0 {
            // Let readers in between bursts of operations too.
            std::thread::yield_now();
        }
    }
    book.check_invariants().unwrap();
    drop(stop);

    let mut total = ReaderStats::default();
    for h in handles {
        let st = h
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("reader failed: {e}"));
        assert!(st.tops > 0 && st.depths > 0);
        total.tops += st.tops;
        total.depths += st.depths;
        total.consistent_depths += st.consistent_depths;
        total.distinct_top_seqs += st.distinct_top_seqs;
    }
    total
}

/// Sets the readers' stop flag when dropped (normally or while the writer panics).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}
