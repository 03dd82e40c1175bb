//! Parse and replay a LOBSTER pair from plain CSV files, timing each step: wall clock and the
//! process's CPU time (`CLOCK_PROCESS_CPUTIME_ID`, all threads: large files are parsed on
//! several; it leaves out the time other processes held the cores on a shared machine).
//! The best of `reps` runs is printed.
//!
//! `lobster MESSAGE.csv ORDERBOOK.csv [reps]` (default 5 repetitions), or
//! `lobster SAMPLE.zip [reps]`: the whole zip load (read, inflate, parse), with the time of
//! each step on its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use hftbook_core::lobster::{
    load_csv, load_zip, load_zip_file, parse_messages, parse_orderbook, replay, ReplayOptions,
};

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CPU time of the process (all threads) in seconds.
fn process_cpu() -> f64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; clock 2 is CLOCK_PROCESS_CPUTIME_ID.
    unsafe { clock_gettime(2, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

/// Best (wall, cpu) seconds of `reps` runs of `f`.
fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, f64) {
    let (mut w, mut c) = (f64::MAX, f64::MAX);
    for _ in 0..reps {
        let (t0, c0) = (Instant::now(), process_cpu());
        black_box(f());
        w = w.min(t0.elapsed().as_secs_f64());
        c = c.min(process_cpu() - c0);
    }
    (w, c)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 2 && args[1].ends_with(".zip") {
        let reps: usize = args.get(2).map_or(5, |s| s.parse().unwrap());
        let path = std::path::Path::new(&args[1]);
        let z = std::fs::read(path).unwrap();
        let p = load_zip(&z, &args[1]).unwrap();
        let n = p.messages.len() / 6;
        let rate = |s: f64| n as f64 / s / 1e6;
        let (w, c) = best(reps, || load_zip_file(path, &args[1]).unwrap());
        println!(
            "load zip (read, inflate, parse): {:6.2} M rows/s wall, {:6.2} M rows/s cpu",
            rate(w),
            rate(c)
        );
        let (w, c) = best(reps, || load_zip(&z, &args[1]).unwrap().parse_seconds);
        println!(
            "load zip from memory           : {:6.2} M rows/s wall, {:6.2} M rows/s cpu",
            rate(w),
            rate(c)
        );
        return;
    }
    assert!(
        args.len() >= 3,
        "usage: lobster MESSAGE.csv ORDERBOOK.csv [reps]"
    );
    let reps: usize = args.get(3).map_or(5, |s| s.parse().unwrap());
    let m = std::fs::read(&args[1]).unwrap();
    let b = std::fs::read(&args[2]).unwrap();
    let msgs = parse_messages(&m, &args[1]).unwrap();
    let (book, cols) = parse_orderbook(&b, &args[2]).unwrap();
    let n = msgs.len() / 6;
    let rate = |s: f64| n as f64 / s / 1e6;
    let (w, c) = best(reps, || parse_messages(&m, &args[1]).unwrap());
    println!(
        "parse messages : {:6.2} M rows/s wall, {:6.2} M rows/s cpu ({:.0} MB)",
        rate(w),
        rate(c),
        m.len() as f64 / 1e6
    );
    let (w, c) = best(reps, || parse_orderbook(&b, &args[2]).unwrap());
    println!(
        "parse orderbook: {:6.2} M rows/s wall, {:6.2} M rows/s cpu ({:.0} MB)",
        rate(w),
        rate(c),
        b.len() as f64 / 1e6
    );
    let (w, c) = best(reps, || {
        load_csv(
            std::path::Path::new(&args[1]),
            std::path::Path::new(&args[2]),
            &args[1],
            &args[2],
        )
        .unwrap()
    });
    println!(
        "load both files (read, parse): {:6.2} M rows/s wall, {:6.2} M rows/s cpu",
        rate(w),
        rate(c)
    );
    let opts = ReplayOptions::new(cols / 4);
    let (w, c) = best(reps, || replay(&msgs, &book, cols, &opts).unwrap());
    let r = replay(&msgs, &book, cols, &opts).unwrap();
    println!(
        "replay+validate: {:6.2} M msg/s wall, {:6.2} M msg/s cpu; rows matched {}/{}",
        rate(w),
        rate(c),
        r.rows_matched,
        r.rows_compared
    );
}
