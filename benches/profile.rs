//! Criterion benchmarks of the latency profiler's recording cost and of the counting
//! allocator.
//!
//! `CARGO_TARGET_DIR=... cargo bench -p hftbook-core --bench profile`
//!
//! - `record`: what one timed operation adds: `start` + `stop` (two TSC reads, the delta
//!   scaled to ns, the bucket/count/sum/min/max stores) with profiling on; the same with
//!   profiling off (one relaxed load); `record` of an already known duration; the bare
//!   clock pair and a single clock read (what the hardware charges: `rdtsc`); and
//!   `start` + `stop` while another thread snapshots in a loop.
//! - `alloc`: `alloc` + `dealloc` of 64 bytes through mimalloc directly and through
//!   `CountingAlloc<MiMalloc>` (what `hftbook._core` installs as its global allocator).
//!
//! - `book_submit_cancel`: submit + cancel of a resting order on a 1,000-order book, with no
//!   profiling code, with the profiler off, and on (each call timed as the binding does).
//!
//! Every iteration runs 1,000 operations (2,000 book calls in the last group); throughput
//! is per operation.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hftbook_core::profile::alloc::CountingAlloc;
use hftbook_core::profile::{OpKind, Profiler};
use hftbook_core::{NewOrder, OrderBook, Side};
use mimalloc::MiMalloc;

const OPS: u64 = 1_000;

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(OPS));

    let prof = Profiler::new(true);
    let mut rec = prof.recorder();
    g.bench_function("start_stop_on", |b| {
        b.iter(|| {
            for i in 0..OPS {
                let s = rec.start();
                black_box(i);
                rec.stop(OpKind::ADD, s);
            }
        })
    });

    let off = Profiler::new(false);
    let mut rec_off = off.recorder();
    g.bench_function("start_stop_off", |b| {
        b.iter(|| {
            for i in 0..OPS {
                let s = rec_off.start();
                black_box(i);
                rec_off.stop(OpKind::ADD, s);
            }
        })
    });

    g.bench_function("no_profiling", |b| {
        b.iter(|| {
            for i in 0..OPS {
                black_box(i);
            }
        })
    });

    g.bench_function("record_known_ns", |b| {
        b.iter(|| {
            for i in 0..OPS {
                // Spread over ~40 buckets, as real latencies are.
                rec.record(OpKind::CANCEL, black_box(200 + (i & 63) * 37));
            }
        })
    });

    let clock = quanta::Clock::new();
    g.bench_function("clock_pair_only", |b| {
        b.iter(|| {
            for i in 0..OPS {
                let s = clock.raw();
                black_box(i);
                black_box(clock.delta_as_nanos(s, clock.raw()));
            }
        })
    });

    g.bench_function("clock_read_only", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                black_box(clock.raw());
            }
        })
    });

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let prof = prof.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += black_box(prof.snapshot()).kinds[0].count.min(1);
            }
            n
        })
    };
    g.bench_function("start_stop_on_while_snapshotting", |b| {
        b.iter(|| {
            for i in 0..OPS {
                let s = rec.start();
                black_box(i);
                rec.stop(OpKind::ADD, s);
            }
        })
    });
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    g.finish();
}

fn alloc(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc");
    g.throughput(Throughput::Elements(OPS));
    let layout = Layout::from_size_align(64, 8).unwrap();
    let plain = MiMalloc;
    g.bench_function("mimalloc_64b", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                // SAFETY: `layout` has a non-zero size.
                let p = unsafe { plain.alloc(layout) };
                black_box(p);
                // SAFETY: `p` was allocated by `plain` with `layout` and is freed once.
                unsafe { plain.dealloc(p, layout) };
            }
        })
    });
    let counting = CountingAlloc::new(MiMalloc);
    g.bench_function("counting_mimalloc_64b", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                // SAFETY: `layout` has a non-zero size.
                let p = unsafe { counting.alloc(layout) };
                black_box(p);
                // SAFETY: `p` was allocated by `counting` with `layout` and is freed once.
                unsafe { counting.dealloc(p, layout) };
            }
        })
    });
    g.finish();
}

/// submit + cancel of a resting order on a book holding 1,000 orders: unprofiled, with the
/// profiler off, and on (each call timed as the binding does).
fn book(c: &mut Criterion) {
    let mut g = c.benchmark_group("book_submit_cancel");
    g.throughput(Throughput::Elements(2 * OPS));
    let fresh = || {
        let mut b: OrderBook = OrderBook::new();
        for i in 0..1000 {
            b.submit(&NewOrder::limit(Side::Sell, 20_000 + i, 10), &mut ())
                .unwrap();
        }
        b
    };
    let mut b = fresh();
    g.bench_function("unprofiled", |bch| {
        bch.iter(|| {
            for i in 0..OPS as i64 {
                let id = b
                    .submit(&NewOrder::limit(Side::Buy, 10_000 + (i & 63), 5), &mut ())
                    .unwrap()
                    .order_id;
                b.cancel(id, &mut ()).unwrap();
            }
        })
    });
    for (name, on) in [("profiler_off", false), ("profiler_on", true)] {
        let prof = Profiler::new(on);
        let mut rec = prof.recorder();
        let mut b = fresh();
        g.bench_function(name, |bch| {
            bch.iter(|| {
                for i in 0..OPS as i64 {
                    let t = rec.start();
                    let id = b
                        .submit(&NewOrder::limit(Side::Buy, 10_000 + (i & 63), 5), &mut ())
                        .unwrap()
                        .order_id;
                    rec.stop(OpKind::ADD, t);
                    let t = rec.start();
                    b.cancel(id, &mut ()).unwrap();
                    rec.stop(OpKind::CANCEL, t);
                }
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = record, alloc, book
}
criterion_main!(benches);
