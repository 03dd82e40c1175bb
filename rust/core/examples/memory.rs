//! Memory per resting order: builds W1 (1M non-crossing adds by default) in a fresh
//! `OrderBook<SkipLadder>` and prints the RSS growth (from `/proc/self/statm`) and the
//! allocator's live-bytes growth (a counting global allocator) per resting order.
//!
//! `memory [n] [seed]`; `benches/memory.sh` runs it. The commands are generated and the
//! clock calibrated before the first reading, so only the book's own memory is measured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use hftbook_core::{workload, OrderBook, SkipLadder};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .expect("rss field")
        .parse()
        .expect("rss");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc_sysconf_pagesize() };
    pages * page
}

extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// `_SC_PAGESIZE` is 30 on Linux.
unsafe fn libc_sysconf_pagesize() -> usize {
    // SAFETY: sysconf(_SC_PAGESIZE) only reads a constant.
    usize::try_from(unsafe { sysconf(30) }).unwrap_or(4096)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(1_000_000, |s| s.parse().expect("n"));
    let seed: u64 = args.get(2).map_or(1, |s| s.parse().expect("seed"));
    let cmds = workload::w1(n, seed);
    // Calibrate the clock and warm the allocator outside the measured window.
    let warm: OrderBook<SkipLadder> = OrderBook::new();
    drop(warm);

    let rss0 = rss_bytes();
    let live0 = LIVE.load(Ordering::Relaxed);
    let mut book: OrderBook<SkipLadder> = OrderBook::new();
    let fills = workload::run(&mut book, &cmds);
    let rss1 = rss_bytes();
    let live1 = LIVE.load(Ordering::Relaxed);
    assert_eq!(fills, 0);
    assert_eq!(book.len(), n);

    let orders = book.len() as f64;
    let rss = rss1.saturating_sub(rss0);
    let live = live1.saturating_sub(live0);
    println!(
        "resting orders {}, levels {} bid / {} ask",
        book.len(),
        book.level_count(hftbook_core::Side::Buy),
        book.level_count(hftbook_core::Side::Sell)
    );
    println!(
        "RSS growth        {:>12} bytes = {:6.1} bytes per resting order",
        rss,
        rss as f64 / orders
    );
    println!(
        "allocator growth  {:>12} bytes = {:6.1} bytes per resting order (live heap bytes)",
        live,
        live as f64 / orders
    );
    std::hint::black_box(&book);
}
