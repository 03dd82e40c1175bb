//! Instruction-count driver: applies a fixed workload to one ladder inside
//! `#[inline(never)] fn run_ops`, so `callgrind_annotate --inclusive=yes` can read the
//! instructions of exactly the book work (generation and setup excluded). The book uses a
//! manual clock, so the count does not depend on clock calibration.
//!
//! `icount <skip|btree|plainskip> <workload> [n] [seed]` (defaults: w2, 200 000 ops, seed 1).
//! Workloads (see `hftbook_core::workload`):
//! - `w1`: n resting adds; `w2`: n ops of the trading mix on the 10k prefill;
//! - `batch_w2`: the same W2 ops through `batch::apply` (validation, decode, result arrays);
//! - `sweep`: n/2 levels a side, 2 orders each, swept by two market orders;
//! - `cancel_storm`: n resting orders, then a cancel of each in random order;
//! - `deep`: n levels a side, then n/2 adds at random depths and cancels;
//! - `huge_level`: n orders on one level, then n/4 cancels / adds / takes.
//!
//! `benches/icount.sh` compares the ladders; `benches/icount_gate.py` is CI's regression gate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use hftbook_core::batch::{self, BatchOutcome, Command};
use hftbook_core::{
    workload, BTreeLadder, Clock, Ladder, OrderBook, PlainSkipLadder, QtyLimits, SkipLadder,
    StpMode,
};

#[inline(never)]
fn run_ops<L: Ladder>(book: &mut OrderBook<L>, ops: &[Command], batched: bool) -> u64 {
    if batched {
        let mut out = BatchOutcome::default();
        batch::apply(book, ops, &mut out).expect("valid batch");
        out.fills.len() as u64
    } else {
        workload::run(book, ops)
    }
}

fn go<L: Ladder>(setup: &[Command], ops: &[Command], batched: bool) {
    let (clock, _) = Clock::manual(1);
    let mut book: OrderBook<L> =
        OrderBook::with_options(clock, QtyLimits::default(), StpMode::default());
    workload::run(&mut book, setup);
    let fills = run_ops(black_box(&mut book), black_box(ops), batched);
    book.check_invariants().expect("invariants");
    println!("ops {} fills {} resting {}", ops.len(), fills, book.len());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ladder = args.get(1).map_or("skip", String::as_str);
    let wl = args.get(2).map_or("w2", String::as_str);
    let n: usize = args.get(3).map_or(200_000, |s| s.parse().expect("n"));
    let seed: u64 = args.get(4).map_or(1, |s| s.parse().expect("seed"));
    let ((setup, ops), batched) = match wl {
        "w2" => (workload::w2(n, seed), false),
        "batch_w2" => (workload::w2(n, seed), true),
        "w1" => ((Vec::new(), workload::w1(n, seed)), false),
        "sweep" => (workload::sweep(n / 2, 2, seed), false),
        "cancel_storm" => (workload::cancel_storm(n, seed), false),
        "deep" => (workload::deep_book(n, n / 2, seed), false),
        "huge_level" => (workload::huge_level(n, n / 4, seed), false),
        other => panic!(
            "unknown workload {other} (w1, w2, batch_w2, sweep, cancel_storm, deep, huge_level)"
        ),
    };
    match ladder {
        "skip" => go::<SkipLadder>(&setup, &ops, batched),
        "btree" => go::<BTreeLadder>(&setup, &ops, batched),
        "plainskip" => go::<PlainSkipLadder>(&setup, &ops, batched),
        other => panic!("unknown ladder {other} (skip, btree or plainskip)"),
    }
}
