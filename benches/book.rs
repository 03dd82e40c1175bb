//! Criterion benchmarks of the book, the three ladders side by side in every group.
//!
//! `CARGO_TARGET_DIR=... cargo bench -p hftbook-core --bench book`
//!
//! - `w1`: 1M non-crossing adds into an empty book (`workload::w1`).
//! - `w2`: 1M ops of the trading mix on the 10k-order prefill (`workload::w2`); the prefill
//!   is applied in the untimed setup.
//! - `flows`: the five market flows (`workload::flow`: `normal`, `static`, `swing_25`,
//!   `swing_40`, `flash_crash`; 200k orders, about 400k messages of adds, cancels, modifies
//!   and refused cancels / modifies of dead orders) replayed on a fresh, empty book per
//!   iteration, throughput per message (ids arriving as a random permutation, the benchmark's
//!   construction); plus `normal_seq_ids` (`workload::flow_with`, ids in arrival order) on
//!   the default ladder only. The streams are generated once,
//!   before any timing.
//! - micro-ops: add at an existing level, add creating a level, cancel the head / middle /
//!   tail of a 2000-order FIFO, an aggressive order matching across 1 / 3 / 10 levels, and
//!   modify keeping / losing time priority. Operations that change the book's shape are
//!   timed in chunks and undone outside the timed window (`iter_custom`), so every timed
//!   operation meets the same book.
//!
//! Throughput is reported per operation (`Throughput::Elements`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use hftbook_core::batch::Command;
use hftbook_core::workload::{self, MID};
use hftbook_core::{
    BTreeLadder, Ladder, NewOrder, OrderBook, PlainSkipLadder, Price, Side, SkipLadder, TimeInForce,
};

const SEED: u64 = 1;
const N_BIG: usize = 1_000_000;

/// Register the same benchmark for the three ladders in one group.
macro_rules! trio {
    ($g:expr, $f:ident $(, $arg:expr)*) => {{
        $f::<SkipLadder>(&mut $g, "skip" $(, $arg)*);
        $f::<BTreeLadder>(&mut $g, "btree" $(, $arg)*);
        $f::<PlainSkipLadder>(&mut $g, "plainskip" $(, $arg)*);
    }};
}

type G<'a> = BenchmarkGroup<'a, WallTime>;

// ---------------------------------------------------------------- workloads

/// `cmds` replayed on a fresh, empty book per iteration (W1 and the flows).
fn w1_one<L: Ladder>(g: &mut G<'_>, name: &str, cmds: &[Command]) {
    g.bench_function(name, |b| {
        b.iter_batched(
            OrderBook::<L>::new,
            |mut book| {
                black_box(workload::run(&mut book, black_box(cmds)));
                book
            },
            BatchSize::PerIteration,
        );
    });
}

fn w2_one<L: Ladder>(g: &mut G<'_>, name: &str, w: &(Vec<Command>, Vec<Command>)) {
    let (prefill, ops) = w;
    g.bench_function(name, |b| {
        b.iter_batched(
            || {
                let mut book = OrderBook::<L>::new();
                workload::run(&mut book, prefill);
                book
            },
            |mut book| {
                black_box(workload::run(&mut book, black_box(ops)));
                book
            },
            BatchSize::PerIteration,
        );
    });
}

fn workloads(c: &mut Criterion) {
    let w1 = workload::w1(N_BIG, SEED);
    let mut g = c.benchmark_group("w1_1M_adds");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Elements(N_BIG as u64));
    trio!(g, w1_one, &w1);
    g.finish();
    drop(w1);

    let w2 = workload::w2(N_BIG, SEED);
    let mut g = c.benchmark_group("w2_1M_ops");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Elements(N_BIG as u64));
    trio!(g, w2_one, &w2);
    g.finish();
}

/// Orders of each flow in the `flows` group (about twice as many messages).
const FLOW_ORDERS: usize = 200_000;

fn flows(c: &mut Criterion) {
    let streams: Vec<(&str, Vec<Command>)> = workload::Flow::ALL
        .into_iter()
        .map(|f| (f.name(), workload::flow(f, FLOW_ORDERS, SEED)))
        .collect();
    let seq = workload::flow_with(workload::Flow::Normal, FLOW_ORDERS, SEED, false);
    let mut g = c.benchmark_group("flows");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, cmds) in &streams {
        g.throughput(Throughput::Elements(cmds.len() as u64));
        // Ids `flows/<flow>/<ladder>`: a filter `flows/swing_25` picks one flow.
        w1_one::<SkipLadder>(&mut g, &format!("{name}/skip"), cmds);
        w1_one::<BTreeLadder>(&mut g, &format!("{name}/btree"), cmds);
        w1_one::<PlainSkipLadder>(&mut g, &format!("{name}/plainskip"), cmds);
    }
    g.throughput(Throughput::Elements(seq.len() as u64));
    w1_one::<SkipLadder>(&mut g, "normal_seq_ids/skip", &seq);
    g.finish();
}

// ---------------------------------------------------------------- micro-ops

/// Ids for orders added by a benchmark, far above the setup's.
struct Ids(u64);
impl Ids {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn limit(id: u64, side: Side, price: i64, qty: u64) -> NewOrder {
    NewOrder::limit(side, price, qty).with_id(id)
}

/// `levels` levels a side (bids `MID - 1 - i*step`, asks `MID + 1 + i*step`), `per` orders of
/// `qty` lots each.
fn ladder_book<L: Ladder>(
    levels: i64,
    step: i64,
    per: usize,
    qty: u64,
    ids: &mut Ids,
) -> OrderBook<L> {
    let mut b = OrderBook::<L>::new();
    for i in 0..levels {
        for _ in 0..per {
            b.submit(
                &limit(ids.next(), Side::Buy, MID - 1 - i * step, qty),
                &mut (),
            )
            .unwrap();
            b.submit(
                &limit(ids.next(), Side::Sell, MID + 1 + i * step, qty),
                &mut (),
            )
            .unwrap();
        }
    }
    b
}

const CHUNK: u64 = 512;

/// Time `iters` operations in chunks of [`CHUNK`]: `timed(state, k)` does `k` operations,
/// `undo(state)` restores the book outside the timed window.
fn chunked<S>(iters: u64, st: &mut S, timed: fn(&mut S, u64), undo: fn(&mut S)) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let k = left.min(CHUNK);
        let t = Instant::now();
        timed(st, k);
        total += t.elapsed();
        undo(st);
        left -= k;
    }
    total
}

struct St<L: Ladder> {
    book: OrderBook<L>,
    ids: Ids,
    /// Orders to undo / the FIFO of the deep level, oldest first.
    list: VecDeque<u64>,
    /// A cursor for round-robin benches.
    at: usize,
    /// Per-order state for modify benches: (id, qty or side-of-flip).
    rr: Vec<(u64, u64)>,
}

impl<L: Ladder> St<L> {
    fn new(book: OrderBook<L>, ids: Ids) -> Self {
        St {
            book,
            ids,
            list: VecDeque::new(),
            at: 0,
            rr: Vec::new(),
        }
    }
    fn cancel_list(&mut self) {
        while let Some(id) = self.list.pop_front() {
            self.book.cancel(id, &mut ()).unwrap();
        }
    }
}

fn micro<S>(g: &mut G<'_>, name: &str, st: &mut S, timed: fn(&mut S, u64), undo: fn(&mut S)) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| chunked(iters, st, timed, undo))
    });
}

/// Add at one of the 50 best bid levels, each holding 10 orders (level exists).
fn add_existing<L: Ladder>(g: &mut G<'_>, name: &str) {
    let mut ids = Ids(0);
    let book = ladder_book::<L>(100, 1, 10, 10, &mut ids);
    let mut st = St::new(book, ids);
    micro(
        g,
        name,
        &mut st,
        |st, k| {
            for i in 0..k as i64 {
                let id = st.ids.next();
                let o = limit(id, Side::Buy, MID - 1 - i % 50, 10);
                black_box(st.book.submit(black_box(&o), &mut ()).unwrap());
                st.list.push_back(id);
            }
        },
        St::cancel_list,
    );
}

/// Add at an empty tick between bid levels (every other tick holds 2 orders): creates a
/// level; the undo empties it again.
fn add_new_level<L: Ladder>(g: &mut G<'_>, name: &str) {
    let mut ids = Ids(0);
    let book = ladder_book::<L>(1000, 2, 2, 10, &mut ids);
    let mut st = St::new(book, ids);
    micro(
        g,
        name,
        &mut st,
        |st, k| {
            for i in 0..k as i64 {
                let id = st.ids.next();
                // Odd distances are empty: MID - 2, MID - 4, ... hold the setup's bids.
                let o = limit(id, Side::Buy, MID - 2 - (2 * i + 1), 10);
                black_box(st.book.submit(black_box(&o), &mut ()).unwrap());
                st.list.push_back(id);
            }
        },
        St::cancel_list,
    );
}

const DEEP: usize = 2000;

/// A book with a 2000-order bid level at `MID - 1` (FIFO in `list`) and 50 levels of 5
/// orders a side around it.
fn deep_fifo<L: Ladder>() -> St<L> {
    let mut ids = Ids(0);
    let mut book = ladder_book::<L>(50, 1, 5, 10, &mut ids);
    let mut list = VecDeque::new();
    // The setup's orders at MID - 1 are older: cancel them so the FIFO is ours alone.
    for o in book.orders(Side::Buy) {
        if o.price == Price(MID - 1) {
            book.cancel(o.id, &mut ()).unwrap();
        }
    }
    for _ in 0..DEEP {
        let id = ids.next();
        book.submit(&limit(id, Side::Buy, MID - 1, 10), &mut ())
            .unwrap();
        list.push_back(id);
    }
    let mut st = St::new(book, ids);
    st.list = list;
    st
}

/// Refill the deep FIFO to [`DEEP`] orders at its back.
fn refill(st: &mut St<impl Ladder>) {
    while st.list.len() < DEEP {
        let id = st.ids.next();
        st.book
            .submit(&limit(id, Side::Buy, MID - 1, 10), &mut ())
            .unwrap();
        st.list.push_back(id);
    }
}

fn cancel_head<L: Ladder>(g: &mut G<'_>, name: &str) {
    let mut st = deep_fifo::<L>();
    micro(
        g,
        name,
        &mut st,
        |st, k| {
            for _ in 0..k {
                let id = st.list.pop_front().unwrap();
                black_box(st.book.cancel(black_box(id), &mut ()).unwrap());
            }
        },
        refill,
    );
}

/// Put the FIFO back to [`DEEP`] orders and set aside the [`CHUNK`] ids in its middle
/// (positions `DEEP/2 - CHUNK/2 ..`) for the next timed chunk.
fn prep_middle(st: &mut St<impl Ladder>) {
    for (id, _) in st.rr.drain(..) {
        st.book.cancel(id, &mut ()).unwrap();
    }
    refill(st);
    let from = DEEP / 2 - CHUNK as usize / 2;
    st.rr = st
        .list
        .drain(from..from + CHUNK as usize)
        .map(|id| (id, 0))
        .collect();
    st.at = 0;
    // The set-aside orders are still in the book: the level stays DEEP orders deep.
}

fn cancel_middle<L: Ladder>(g: &mut G<'_>, name: &str) {
    let mut st = deep_fifo::<L>();
    prep_middle(&mut st);
    micro(
        g,
        name,
        &mut st,
        |st, k| {
            for _ in 0..k {
                let id = st.rr[st.at].0;
                st.at += 1;
                black_box(st.book.cancel(black_box(id), &mut ()).unwrap());
            }
        },
        |st| {
            let done = st.at;
            st.rr.drain(..done);
            prep_middle(st);
        },
    );
}

fn cancel_last<L: Ladder>(g: &mut G<'_>, name: &str) {
    let mut st = deep_fifo::<L>();
    micro(
        g,
        name,
        &mut st,
        |st, k| {
            for _ in 0..k {
                let id = st.list.pop_back().unwrap();
                black_box(st.book.cancel(black_box(id), &mut ()).unwrap());
            }
        },
        refill,
    );
}

const PER_LEVEL: usize = 4;
const LOTS: u64 = 10;

/// Asks at MID + 1 .. MID + levels (4 orders of 10 lots each), bids below.
fn refill_asks(st: &mut St<impl Ladder>, levels: i64) {
    for i in 0..levels {
        for _ in 0..PER_LEVEL {
            let id = st.ids.next();
            st.book
                .submit(&limit(id, Side::Sell, MID + 1 + i, LOTS), &mut ())
                .unwrap();
        }
    }
}

/// A buy IOC taking exactly `n` ask levels (4 orders of 10 lots each); `512 / n` of them in
/// a row, then the asks are put back.
fn sweep<L: Ladder>(g: &mut G<'_>, name: &str, n: i64) {
    // Sweeps per timed chunk: about 512 ask levels are taken per chunk whatever `n` is, so
    // every case meets a book of the same depth (inside the SkipLadder's ring).
    let chunk = (CHUNK / n as u64).max(1);
    let levels = chunk as i64 * n;
    let mut ids = Ids(0);
    let mut book = OrderBook::<L>::new();
    for i in 0..100 {
        for _ in 0..PER_LEVEL {
            book.submit(&limit(ids.next(), Side::Buy, MID - 1 - i, LOTS), &mut ())
                .unwrap();
        }
    }
    let mut st = St::new(book, ids);
    refill_asks(&mut st, levels);
    st.at = n as usize;
    // The state carries n in `at`; the undo refills what the chunk took.
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let k = left.min(chunk);
                let n = st.at as i64;
                let t = Instant::now();
                for _ in 0..k {
                    let best = st.book.best_ask().unwrap().price.0;
                    let id = st.ids.next();
                    let o = limit(
                        id,
                        Side::Buy,
                        best + n - 1,
                        n as u64 * PER_LEVEL as u64 * LOTS,
                    )
                    .with_tif(TimeInForce::Ioc);
                    let ex = st.book.submit(black_box(&o), &mut ()).unwrap();
                    debug_assert_eq!(ex.filled_qty, o.qty);
                    black_box(ex);
                }
                total += t.elapsed();
                // Put back the levels taken (all of them after a full chunk).
                let taken = k as i64 * n;
                for i in 0..taken {
                    for _ in 0..PER_LEVEL {
                        let id = st.ids.next();
                        st.book
                            .submit(&limit(id, Side::Sell, MID + 1 + i, LOTS), &mut ())
                            .unwrap();
                    }
                }
                left -= k;
            }
            total
        })
    });
}

/// Cut the quantity of one of 2000 orders by one lot: keeps time priority.
fn modify_keep<L: Ladder>(g: &mut G<'_>, name: &str) {
    let mut st = deep_fifo::<L>();
    let big = 1u64 << 40;
    for &id in &st.list {
        st.book.modify(id, None, Some(big), &mut ()).unwrap();
    }
    // The raise above lost priority; ids keep their new order. Track quantities.
    st.rr = st.list.iter().map(|&id| (id, big)).collect();
    micro(
        g,
        name,
        &mut st,
        |st, k| {
            for _ in 0..k {
                let (id, q) = &mut st.rr[st.at];
                *q -= 1;
                let ex = st.book.modify(*id, None, Some(*q), &mut ()).unwrap();
                black_box(ex);
                st.at = (st.at + 1) % st.rr.len();
            }
        },
        |_| (),
    );
}

/// Move one of 2000 orders between two existing levels (MID - 1 and MID - 2): loses time
/// priority (remove + add at the back of the other level).
fn modify_lose<L: Ladder>(g: &mut G<'_>, name: &str) {
    let mut st = deep_fifo::<L>();
    st.rr = st.list.iter().map(|&id| (id, 0)).collect();
    micro(
        g,
        name,
        &mut st,
        |st, k| {
            for _ in 0..k {
                let (id, flip) = &mut st.rr[st.at];
                *flip ^= 1;
                let price = Price(MID - 1 - *flip as i64);
                let ex = st.book.modify(*id, Some(price), None, &mut ()).unwrap();
                black_box(ex);
                st.at = (st.at + 1) % st.rr.len();
            }
        },
        |_| (),
    );
}

fn micro_group<'a>(c: &'a mut Criterion, name: &str) -> G<'a> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    g
}

fn micro_ops(c: &mut Criterion) {
    let mut g = micro_group(c, "add_existing_level");
    trio!(g, add_existing);
    g.finish();
    let mut g = micro_group(c, "add_new_level");
    trio!(g, add_new_level);
    g.finish();
    let mut g = micro_group(c, "cancel_head_of_2000");
    trio!(g, cancel_head);
    g.finish();
    let mut g = micro_group(c, "cancel_middle_of_2000");
    trio!(g, cancel_middle);
    g.finish();
    let mut g = micro_group(c, "cancel_last_of_2000");
    trio!(g, cancel_last);
    g.finish();
    for n in [1, 3, 10] {
        let mut g = micro_group(c, &format!("match_{n}_levels"));
        trio!(g, sweep, n);
        g.finish();
    }
    let mut g = micro_group(c, "modify_keep_priority");
    trio!(g, modify_keep);
    g.finish();
    let mut g = micro_group(c, "modify_lose_priority");
    trio!(g, modify_lose);
    g.finish();
}

criterion_group!(benches, micro_ops, workloads, flows);
criterion_main!(benches);
