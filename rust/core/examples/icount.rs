//! Instruction-count driver: applies a fixed workload to one ladder inside
//! `#[inline(never)] fn run_ops`, so `callgrind_annotate --inclusive=yes` can read the
//! instructions of exactly the book work (generation and prefill excluded).
//!
//! `icount <skip|btree|plainskip> [w2|w1] [n] [seed]` (defaults: w2, 200 000 ops, seed 1).
//! `benches/icount.sh` runs it under callgrind for every ladder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use hftbook_core::batch::Command;
use hftbook_core::{workload, BTreeLadder, Ladder, OrderBook, PlainSkipLadder, SkipLadder};

#[inline(never)]
fn run_ops<L: Ladder>(book: &mut OrderBook<L>, ops: &[Command]) -> u64 {
    workload::run(book, ops)
}

fn go<L: Ladder>(prefill: &[Command], ops: &[Command]) {
    let mut book: OrderBook<L> = OrderBook::new();
    workload::run(&mut book, prefill);
    let fills = run_ops(black_box(&mut book), black_box(ops));
    println!("ops {} fills {} resting {}", ops.len(), fills, book.len());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ladder = args.get(1).map_or("skip", String::as_str);
    let wl = args.get(2).map_or("w2", String::as_str);
    let n: usize = args.get(3).map_or(200_000, |s| s.parse().expect("n"));
    let seed: u64 = args.get(4).map_or(1, |s| s.parse().expect("seed"));
    let (prefill, ops) = match wl {
        "w2" => workload::w2(n, seed),
        "w1" => (Vec::new(), workload::w1(n, seed)),
        other => panic!("unknown workload {other} (w1 or w2)"),
    };
    match ladder {
        "skip" => go::<SkipLadder>(&prefill, &ops),
        "btree" => go::<BTreeLadder>(&prefill, &ops),
        "plainskip" => go::<PlainSkipLadder>(&prefill, &ops),
        other => panic!("unknown ladder {other} (skip, btree or plainskip)"),
    }
}
