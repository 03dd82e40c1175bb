//! Interleaved throughput of the three ladders on W1 and W2: every repetition runs skip,
//! btree, plainskip back to back (A B C A B C ...), and the medians and their ratios are
//! printed — the comparison that survives a noisy shared machine. Each run is timed twice:
//! wall clock, and the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, which leaves out the
//! time other processes held the core; their cache pollution still counts).
//!
//! `throughput [reps] [n] [seed] [workloads]` (defaults: 7 repetitions, 1 000 000 ops, seed 1,
//! `w1,w2`). `workloads` is a comma-separated list of `w1`, `w2` and the five market flows
//! (`normal`, `static`, `swing_25`, `swing_40`, `flash_crash`, or `flows` for all five; a
//! flow has `n` orders, about `2 n` messages, see `workload::flow`).
//! The workloads are generated, and each book built and prefilled, before its timed window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use hftbook_core::batch::Command;
use hftbook_core::{workload, BTreeLadder, Ladder, OrderBook, PlainSkipLadder, SkipLadder};

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CPU time of the calling thread in seconds.
fn thread_cpu() -> f64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; clock 3 is CLOCK_THREAD_CPUTIME_ID.
    unsafe { clock_gettime(3, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

/// (wall, thread CPU) seconds to apply `ops` to a fresh book after `prefill`.
fn time_one<L: Ladder>(prefill: &[Command], ops: &[Command]) -> (f64, f64) {
    let mut book: OrderBook<L> = OrderBook::new();
    workload::run(&mut book, prefill);
    let c = thread_cpu();
    let t = Instant::now();
    let fills = workload::run(black_box(&mut book), black_box(ops));
    let dt = t.elapsed().as_secs_f64();
    let dc = thread_cpu() - c;
    black_box(fills);
    drop(book);
    (dt, dc)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args.get(1).map_or(7, |s| s.parse().expect("reps"));
    let n: usize = args.get(2).map_or(1_000_000, |s| s.parse().expect("n"));
    let seed: u64 = args.get(3).map_or(1, |s| s.parse().expect("seed"));
    let which = args.get(4).map_or("w1,w2", String::as_str);
    let names = ["skip", "btree", "plainskip"];
    let mut loads: Vec<(String, Vec<Command>, Vec<Command>)> = Vec::new();
    for w in which.split(',') {
        match w {
            "w1" => loads.push(("W1".into(), Vec::new(), workload::w1(n, seed))),
            "w2" => {
                let (p, o) = workload::w2(n, seed);
                loads.push(("W2".into(), p, o));
            }
            "flows" => {
                for f in workload::Flow::ALL {
                    loads.push((f.name().into(), Vec::new(), workload::flow(f, n, seed)));
                }
            }
            other => {
                let f = workload::Flow::from_name(other).expect("unknown workload");
                loads.push((f.name().into(), Vec::new(), workload::flow(f, n, seed)));
            }
        }
    }
    for (wl, prefill, ops) in &loads {
        let (prefill, ops) = (prefill.as_slice(), ops.as_slice());
        let mut wall = [vec![], vec![], vec![]];
        let mut cpu = [vec![], vec![], vec![]];
        // One unrecorded warm-up round, then `reps` interleaved rounds.
        for rep in 0..=reps {
            let t = [
                time_one::<SkipLadder>(prefill, ops),
                time_one::<BTreeLadder>(prefill, ops),
                time_one::<PlainSkipLadder>(prefill, ops),
            ];
            if rep > 0 {
                for i in 0..3 {
                    wall[i].push(t[i].0);
                    cpu[i].push(t[i].1);
                }
            }
        }
        let nops = ops.len() as f64;
        println!(
            "{wl}: {} ops, {reps} interleaved repetitions (Mops/s per repetition)",
            ops.len()
        );
        for (what, secs) in [("wall", &mut wall), ("thread-cpu", &mut cpu)] {
            let mut med = [0.0; 3];
            for (i, s) in secs.iter_mut().enumerate() {
                let rates: Vec<String> =
                    s.iter().map(|x| format!("{:.2}", nops / x / 1e6)).collect();
                med[i] = nops / median(s);
                println!(
                    "  {what:<10} {:<10} median {:>6.2} Mops/s ({:>6.1} ns/op)   [{}]",
                    names[i],
                    med[i] / 1e6,
                    1e9 / med[i],
                    rates.join(" ")
                );
            }
            println!(
                "  {what:<10} ratio skip/btree {:.3}, skip/plainskip {:.3} (medians)",
                med[0] / med[1],
                med[0] / med[2]
            );
        }
    }
}
