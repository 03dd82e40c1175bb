//! Stress scenarios, each checked for the book's invariants afterwards:
//!
//! - `burst`: a burst of 10M non-crossing adds (W1 generator) into one book; rate and RSS.
//! - `sweep`: 10k levels a side (2 orders each), taken by one market order a side.
//! - `cancel_storm`: 1M resting orders, then a cancel of every one in random order.
//! - `w2_long`: 10M ops of the W2 trading mix (the book stays near 10k orders throughout).
//!
//! `cargo run --release -p hftbook-core --example stress [scenario ...] [--scale F]`
//! (all scenarios by default; `--scale 0.1` runs a tenth of every size). Wall-clock figures
//! from one run on a shared machine: compare them within a run, not across runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use hftbook_core::batch::Command;
use hftbook_core::{workload, OrderBook, SkipLadder};

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn phase(name: &str, book: &mut OrderBook<SkipLadder>, ops: &[Command], unit: &str) {
    let rss0 = rss_bytes();
    let t = Instant::now();
    let fills = workload::run(black_box(book), black_box(ops));
    let dt = t.elapsed().as_secs_f64();
    let rss1 = rss_bytes();
    book.check_invariants()
        .expect("invariants after the stress phase");
    // A sweep is two orders: its rate is in fills (orders taken).
    let count = if unit == "fills" {
        fills as usize
    } else {
        ops.len()
    };
    println!(
        "{name:<14} {:>11} {unit:<8} {:>8.3} s {:>8.2} M/s  fills {:>9}  resting {:>9}  RSS {:+.1} MB",
        count,
        dt,
        count as f64 / dt / 1e6,
        fills,
        book.len(),
        (rss1 as f64 - rss0 as f64) / 1e6,
    );
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut scale = 1.0f64;
    if let Some(i) = args.iter().position(|a| a == "--scale") {
        scale = args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .expect("--scale F");
        args.drain(i..=i + 1);
    }
    let all = ["burst", "sweep", "cancel_storm", "w2_long"];
    let chosen: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let n = |x: f64| ((x * scale) as usize).max(1);
    for s in chosen {
        let mut book: OrderBook<SkipLadder> = OrderBook::new();
        match s {
            "burst" => {
                let ops = workload::w1(n(10e6), 1);
                phase("burst", &mut book, &ops, "adds");
            }
            "sweep" => {
                let (setup, ops) = workload::sweep(n(10e3), 2, 1);
                workload::run(&mut book, &setup);
                phase("sweep", &mut book, &ops, "fills");
                assert!(book.is_empty(), "the sweep left orders resting");
            }
            "cancel_storm" => {
                let (setup, ops) = workload::cancel_storm(n(1e6), 1);
                workload::run(&mut book, &setup);
                phase("cancel_storm", &mut book, &ops, "cancels");
                assert!(book.is_empty(), "the storm left orders resting");
            }
            "w2_long" => {
                let (prefill, ops) = workload::w2(n(10e6), 1);
                workload::run(&mut book, &prefill);
                phase("w2_long", &mut book, &ops, "ops");
            }
            other => panic!("unknown scenario {other} ({})", all.join(", ")),
        }
    }
}
