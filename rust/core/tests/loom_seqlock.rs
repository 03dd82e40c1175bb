//! A loom model of the book's top-of-book seqlock (`hftbook_core::book::seqlock`).
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p hftbook-core --test loom_seqlock --release`
//! (`scripts/test.sh` does; add `-- --nocapture` to see how many executions each model
//! explored).
//!
//! The code under test is the real `TopSeqlock::{begin_write, publish, read}`, the functions
//! `OrderBook::{begin, publish_top}` and `BookReader::top` call, built against loom's atomics
//! and fences (see `src/sync.rs`). The writer publishes successive tops exactly as the book
//! does (odd counter at the start of operation `k`, fields and even counter at its end), each
//! a tuple in which every field is a function of `k`; readers read concurrently and check
//! that every read is one whole published tuple (never torn, never mixed from two
//! operations) and that a reader never sees an older sequence number than one it already
//! saw.
//!
//! How much is explored: every execution of [`reader_during_a_write`] (about 770,000; 20 to
//! 40 s on a 2-core machine). Larger models (two concurrent tops, two reads per reader, two
//! readers) run to millions of executions: each of the seven Relaxed field loads may see any
//! value the writer stored, and loom's preemption bound does not cut those choices.
//!
//! Teeth (checked by hand, not kept): without the reader's Acquire fence before its second
//! counter load, loom reports a torn read in the first executions.
#![cfg(loom)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::AtomicUsize as StdAtomicUsize;

use hftbook_core::book::seqlock::{RawLevel, TopSeqlock};
use loom::sync::Arc;
use loom::thread;

/// The tuple of operation `k` (operation 0: the initial, empty state). Every field depends on
/// `k`, and no two fields of different operations are equal, so a mixed tuple cannot pass.
fn tuple(k: u64) -> (u64, RawLevel, RawLevel) {
    if k == 0 {
        return (0, (0, 0, 0), (0, 0, 0));
    }
    let b = k as i64;
    (
        k,
        (b, 10 + k, 20 + k as u32),
        (b + 100, 30 + k, 40 + k as u32),
    )
}

/// The writer: operations `1..=n`, as `OrderBook::{begin, end}` run them (counter `2k - 1`
/// while operation `k` runs, `2k` once its top is published).
fn write(top: &TopSeqlock, from: u64, n: u64) {
    for k in from..=n {
        top.begin_write(2 * k - 1);
        let (_, bid, ask) = tuple(k);
        top.publish(k, || (bid, ask), 2 * k);
    }
}

/// A reader: `reads` reads, each a whole tuple of some operation `<= n`, their sequence
/// numbers never going back, nor below `seen` (the operation the reader already saw).
fn read(top: &TopSeqlock, reads: usize, seen: u64, n: u64) {
    let mut last = seen;
    for _ in 0..reads {
        let got = top.read();
        let k = got.0;
        assert!(k <= n, "sequence {k} was never published");
        assert_eq!(got, tuple(k), "torn read: fields of different operations");
        assert!(k >= last, "sequence went back from {last} to {k}");
        last = k;
    }
}

/// Run `f` under loom, every execution (`bound: None`) or those with at most `bound`
/// preemptions (`LOOM_MAX_PREEMPTIONS` overrides); returns how many executions it explored.
fn check<F: Fn() + Sync + Send + 'static>(name: &str, bound: Option<usize>, f: F) -> usize {
    let runs = std::sync::Arc::new(StdAtomicUsize::new(0));
    let t0 = std::time::Instant::now();
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = bound;
    }
    let r = runs.clone();
    b.check(move || {
        r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let n = runs.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "loom {name}: {n} executions explored ({}) in {:.2?}",
        match b.preemption_bound {
            Some(p) => format!("at most {p} preemptions"),
            None => "all of them".to_owned(),
        },
        t0.elapsed()
    );
    n
}

/// Publish tops `1..=pre`, then run a writer of tops `pre + 1..=n` and `readers` readers
/// (spawned after top `pre`) of `reads` reads each.
fn model(pre: u64, n: u64, readers: usize, reads: usize) {
    let top = Arc::new(TopSeqlock::new());
    write(&top, 1, pre);
    let rs: Vec<_> = (0..readers)
        .map(|_| {
            let top = top.clone();
            thread::spawn(move || read(&top, reads, pre, n))
        })
        .collect();
    write(&top, pre + 1, n);
    for r in rs {
        r.join().unwrap();
    }
    // Once the writer is done, a read sees the last top.
    assert_eq!(top.read(), tuple(n));
}

/// One writer publishes top 1, then (concurrently with a reader, spawned after top 1) top 2;
/// the reader reads once: it gets top 1 or top 2 whole, never top 0 (older than the top 1 its
/// spawn made it see), never a mix. Every execution: about 770,000, 20 to 40 s.
#[test]
fn reader_during_a_write() {
    check("reader_during_a_write", None, || model(1, 2, 1, 1));
}
