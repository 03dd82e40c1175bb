//! Criterion benchmarks of books at scale and under stress, SkipLadder beside the BTreeMap
//! ladder in every group, and one writer with concurrent readers.
//!
//! `CARGO_TARGET_DIR=... cargo bench -p hftbook-core --bench scale`
//!
//! - `deep_100k_levels`: 100k levels a side (one order each), then 50k adds at random depths
//!   and cancels of random orders (`workload::deep_book`).
//! - `huge_level_1M`: 1M orders on one price level, then 250k ops cycling cancel (back half
//!   of the queue) / add (back) / market sell of 1-3 lots (front) (`workload::huge_level`).
//! - `sweep_10k_levels`: two market orders that each take 10k levels x 2 orders
//!   (`workload::sweep`); throughput counts the fills.
//! - `cancel_storm_1M`: cancel 1M resting orders in random order (`workload::cancel_storm`).
//! - `readers`: the W2 stream (200k ops) with 0, 1, 2 and 4 threads reading the top of book
//!   and 5 levels of depth in a loop through `BookReader` (on a 2-core machine, 2 and 4
//!   readers share the cores with the writer).
//!
//! Setup (building the book) is outside the timed window in every group.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use hftbook_core::batch::Command;
use hftbook_core::{workload, BTreeLadder, Ladder, OrderBook, SkipLadder};

const SEED: u64 = 1;

fn built<L: Ladder>(setup: &[Command]) -> OrderBook<L> {
    let mut b = OrderBook::<L>::new();
    workload::run(&mut b, setup);
    b
}

fn pair(
    c: &mut Criterion,
    group: &str,
    elements: u64,
    w: &(Vec<Command>, Vec<Command>),
    secs: u64,
) {
    let (setup, ops) = w;
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(secs))
        .throughput(Throughput::Elements(elements));
    g.bench_function("skip", |b| {
        b.iter_batched(
            || built::<SkipLadder>(setup),
            |mut book| {
                black_box(workload::run(&mut book, black_box(ops)));
                book
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("btree", |b| {
        b.iter_batched(
            || built::<BTreeLadder>(setup),
            |mut book| {
                black_box(workload::run(&mut book, black_box(ops)));
                book
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn scale(c: &mut Criterion) {
    let w = workload::deep_book(100_000, 50_000, SEED);
    pair(c, "deep_100k_levels", w.1.len() as u64, &w, 5);
    let w = workload::huge_level(1_000_000, 250_000, SEED);
    pair(c, "huge_level_1M", w.1.len() as u64, &w, 8);
    let w = workload::sweep(10_000, 2, SEED);
    pair(c, "sweep_10k_levels", 40_000, &w, 3);
    let w = workload::cancel_storm(1_000_000, SEED);
    pair(c, "cancel_storm_1M", w.1.len() as u64, &w, 8);
}

fn readers(c: &mut Criterion) {
    let (prefill, ops) = workload::w2(200_000, SEED);
    let mut g = c.benchmark_group("readers_w2_200k");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(ops.len() as u64));
    for n_readers in [0usize, 1, 2, 4] {
        let reads = Arc::new(AtomicU64::new(0));
        g.bench_function(format!("{n_readers}_readers"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut book = built::<SkipLadder>(&prefill);
                    let stop = Arc::new(AtomicBool::new(false));
                    let handles: Vec<_> = (0..n_readers)
                        .map(|_| {
                            let r = book.reader();
                            let stop = stop.clone();
                            let reads = reads.clone();
                            std::thread::spawn(move || {
                                let mut k = 0u64;
                                while !stop.load(Ordering::Relaxed) {
                                    black_box(r.top());
                                    black_box(r.depth(5));
                                    k += 1;
                                }
                                reads.fetch_add(k, Ordering::Relaxed);
                            })
                        })
                        .collect();
                    let t = std::time::Instant::now();
                    black_box(workload::run(&mut book, black_box(&ops)));
                    total += t.elapsed();
                    stop.store(true, Ordering::Relaxed);
                    for h in handles {
                        h.join().unwrap();
                    }
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, scale, readers);
criterion_main!(benches);
