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
//! - `huge_level`: n orders on one level, then n/4 cancels / adds / takes;
//! - `flow_normal`, `flow_static`, `flow_swing_25`, `flow_swing_40`, `flow_flash_crash`: the
//!   five market flows (`workload::flow`) with n *orders* (about 2 n messages: adds, cancels,
//!   modifies, and cancels / modifies of dead orders the book refuses) on an empty book;
//!   `flow_normal_seq_ids`: the normal flow with its ids numbered in arrival order
//!   (`workload::flow_with`).
//!
//! The flows run through `workload::run_with_reports` (in `run_ops_with_reports`), not
//! `workload::run`: their count includes delivering every report (accepted, fills, rested,
//! cancelled, modified, rejected) into a `ReportLog` cleared per message, as a venue's
//! gateway would; the other workloads count only fills. The printed `ops` is the number of
//! commands applied (for a flow, its messages), so the gate's per-op figure is per message.
//!
//! `benches/icount.sh` compares the ladders; `benches/icount_gate.py` is CI's regression gate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use hftbook_core::batch::{self, BatchOutcome, Command};
use hftbook_core::workload::{Flow, ReportLog};
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

/// `run_ops` for the flows: every report delivered into `log` (its own frame, so the other
/// workloads' `run_ops` compiles as before; the gate reads either, `run_ops*`).
#[inline(never)]
fn run_ops_with_reports<L: Ladder>(
    book: &mut OrderBook<L>,
    ops: &[Command],
    log: &mut ReportLog,
) -> u64 {
    workload::run_with_reports(book, ops, log)
}

/// How the commands are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `workload::run`: per-call API, fills counted.
    Run,
    /// `batch::apply`.
    Batch,
    /// `workload::run_with_reports`: per-call API, every report delivered.
    Reports,
}

fn go<L: Ladder>(setup: &[Command], ops: &[Command], mode: Mode) {
    let (clock, _) = Clock::manual(1);
    let mut book: OrderBook<L> =
        OrderBook::with_options(clock, QtyLimits::default(), StpMode::default());
    workload::run(&mut book, setup);
    if mode == Mode::Reports {
        // Room for any one message's reports up front: growing it is not book work.
        let mut log = ReportLog::with_capacity(4096);
        let trades = book.trade_count();
        let reports = run_ops_with_reports(black_box(&mut book), black_box(ops), &mut log);
        book.check_invariants().expect("invariants");
        println!(
            "ops {} reports {} fills {} resting {}",
            ops.len(),
            reports,
            book.trade_count() - trades,
            book.len()
        );
    } else {
        let fills = run_ops(black_box(&mut book), black_box(ops), mode == Mode::Batch);
        book.check_invariants().expect("invariants");
        println!("ops {} fills {} resting {}", ops.len(), fills, book.len());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ladder = args.get(1).map_or("skip", String::as_str);
    let wl = args.get(2).map_or("w2", String::as_str);
    let n: usize = args.get(3).map_or(200_000, |s| s.parse().expect("n"));
    let seed: u64 = args.get(4).map_or(1, |s| s.parse().expect("seed"));
    let flow = |name: &str, shuffled: bool| {
        let f = Flow::from_name(name).expect("flow name");
        (
            (Vec::new(), workload::flow_with(f, n, seed, shuffled)),
            Mode::Reports,
        )
    };
    let ((setup, ops), mode) = match wl {
        "w2" => (workload::w2(n, seed), Mode::Run),
        "batch_w2" => (workload::w2(n, seed), Mode::Batch),
        "w1" => ((Vec::new(), workload::w1(n, seed)), Mode::Run),
        "sweep" => (workload::sweep(n / 2, 2, seed), Mode::Run),
        "cancel_storm" => (workload::cancel_storm(n, seed), Mode::Run),
        "deep" => (workload::deep_book(n, n / 2, seed), Mode::Run),
        "huge_level" => (workload::huge_level(n, n / 4, seed), Mode::Run),
        "flow_normal_seq_ids" => flow("normal", false),
        other => match other.strip_prefix("flow_") {
            Some(f) if Flow::from_name(f).is_some() => flow(f, true),
            _ => panic!(
                "unknown workload {other} (w1, w2, batch_w2, sweep, cancel_storm, deep, \
                 huge_level, flow_normal, flow_static, flow_swing_25, flow_swing_40, \
                 flow_flash_crash, flow_normal_seq_ids)"
            ),
        },
    };
    match ladder {
        "skip" => go::<SkipLadder>(&setup, &ops, mode),
        "btree" => go::<BTreeLadder>(&setup, &ops, mode),
        "plainskip" => go::<PlainSkipLadder>(&setup, &ops, mode),
        other => panic!("unknown ladder {other} (skip, btree or plainskip)"),
    }
}
