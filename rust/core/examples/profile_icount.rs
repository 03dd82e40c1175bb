//! Instruction-count driver of the profiler's cost on book calls: `n` submit + cancel
//! pairs of a resting order inside `#[inline(never)] fn run`, with no profiling code, with
//! the profiler off, or on (each call timed as the binding does).
//!
//! `profile_icount <unprofiled|off|on> [n]` (default 100 000 pairs). Under
//! `valgrind --tool=callgrind`, `callgrind_annotate --inclusive=yes` of `run` divided by
//! `2 n` is the instructions per book call:
//!
//! ```text
//! cargo build --release -p hftbook-core --example profile_icount
//! for m in unprofiled off on; do
//!   valgrind --tool=callgrind --callgrind-out-file=cg.$m target/release/examples/profile_icount $m
//!   callgrind_annotate --inclusive=yes cg.$m | grep -m1 'profile_icount::run'
//! done
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use hftbook_core::profile::{OpKind, Profiler, Recorder};
use hftbook_core::{NewOrder, OrderBook, Side};

#[inline(never)]
fn run(book: &mut OrderBook, rec: Option<&mut Recorder>, n: i64) {
    match rec {
        None => {
            for i in 0..n {
                let o = NewOrder::limit(Side::Buy, 10_000 + (i & 63), 5);
                let id = book.submit(&o, &mut ()).unwrap().order_id;
                book.cancel(id, &mut ()).unwrap();
            }
        }
        Some(rec) => {
            for i in 0..n {
                let o = NewOrder::limit(Side::Buy, 10_000 + (i & 63), 5);
                let t = rec.start();
                let id = book.submit(&o, &mut ()).unwrap().order_id;
                rec.stop(OpKind::ADD, t);
                let t = rec.start();
                book.cancel(id, &mut ()).unwrap();
                rec.stop(OpKind::CANCEL, t);
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("on", String::as_str);
    let n: i64 = args.get(2).map_or(100_000, |s| s.parse().expect("n"));
    let mut book: OrderBook = OrderBook::new();
    for i in 0..1000 {
        book.submit(&NewOrder::limit(Side::Sell, 20_000 + i, 10), &mut ())
            .unwrap();
    }
    let prof = Profiler::new(mode == "on");
    let mut rec = prof.recorder();
    let rec = match mode {
        "unprofiled" => None,
        "off" | "on" => Some(&mut rec),
        other => panic!("mode {other:?} is not unprofiled, off or on"),
    };
    run(black_box(&mut book), rec, black_box(n));
    let s = prof.snapshot();
    println!(
        "{mode}: {} adds, {} cancels recorded",
        s.kind("add").map_or(0, |k| k.count),
        s.kind("cancel").map_or(0, |k| k.count)
    );
}
