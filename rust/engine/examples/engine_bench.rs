//! The engine's benchmarks (issue 11, section 7), with Rust producers.
//!
//! `cargo run --release -p hftbook-engine --example engine_bench [-- --quick] [options]`
//!
//! The flow is W2 (`hftbook_core::workload::w2`: ~60 % passive adds, ~30 % cancels of live
//! orders, ~10 % marketable IOC / market orders on a 10k-order prefill) generated once per
//! symbol (seed 42 + symbol) and interleaved round robin across the symbols. The prefill is
//! queued and consumed untimed; each repetition runs on a fresh engine (fresh books).
//!
//! - **a** throughput, 4 symbols on 1 shard: producer → matched → every event polled back.
//!   The producer thread is also the consumer (it polls, non-blocking, every 128 commands and
//!   between batches), so the run uses two threads: the producer/consumer and the shard.
//!   Two producer paths: one call per command (`submit_command` / `cancel`) and
//!   `submit_batch` of 4096-row chunks. The end of a run is detected with sentinel orders
//!   sent after the flow through both lanes of every symbol.
//! - **b** 2 shards vs 1 on two symbols with disjoint flow: the same two producer paths, and
//!   "preloaded": every command queued (batches) before `start`, no event stream
//!   (`keep_events = false`), timed from `start` until the shards executed them all: the
//!   shards' own scaling with no producer or consumer competing for the two cores.
//! - **c** open-loop latency: W2 over 4 symbols on 1 shard, one command every `1e9 / rate`
//!   ns (constant inter-arrival), sent by one thread at its intended time (busy wait) and
//!   measured from that intended time, so a late send counts against the engine (no
//!   coordinated omission). The same thread polls events between sends; a command's latency
//!   ends when its first event (accepted / rejected / cancelled) is received by `poll`
//!   (consumer side, engine clock). Also shown: intended → `ts_processed` (the shard's loop
//!   time when it took the command, from the event) and `ts_processed - ts_enqueued`.
//! - **d** CPU of the shard thread (`/proc/self/task/<tid>/schedstat`, ns on CPU) over the
//!   latency run, and over an idle period after it.
//! - **e** the bare book: the same interleaved flow through four `hftbook_core::OrderBook`s
//!   directly (a sink that counts fills), interleaved with (a) in the same repetitions.
//! - **p** the shard alone: the flow of (a) preloaded before `start`, no event stream.
//! - **s** the shard alone (as p, book events on) without and with a market-data subscriber
//!   (book and trade events of every symbol, conflating, drained by its own thread), paired
//!   per repetition: what a subscription (the feed server's, say) costs the shard. Its queue
//!   holds `HFTBOOK_SUB_CAPACITY` events (default 2^20).
//! - **r** the pre-trade risk stage (issue 13): the shard alone (as p) on W2 with every
//!   order on account 0 (no risk path), on account 1 without limits (open-order counting and
//!   position keeping only), on account 1 with every per-order limit set (none binding), and
//!   with the portfolio exposure limits on top (none binding; no risk rejection is
//!   asserted); interleaved; the difference in ns per command.
//! - **j** the journal (issue 12): (a)'s flow per command and in batches without a journal
//!   and with fsync `never`, `batch`, `always` (interleaved in each repetition; journals in
//!   `$HFTBOOK_BENCH_DIR` or the temp dir, on the same disk), the sync latency of this disk,
//!   journal bytes per record and per order, the open-loop latency of (c) at 1M orders/s
//!   with `batch`, the read-only replay speed (warm page cache), and the recovery time of a
//!   `--recovery-ops` journal with a snapshot every million records of a shard.
//!
//! Options: `--quick` (short run), `--reps N`, `--ops N` (flow ops of a and e), `--ops2 N`
//! (ops of b), `--rate R[,R...]` (c, orders/s; default 1M and 200k), `--lat-ops N` (c), `--idle S` (d, seconds),
//! `--only abcdepj`, `--recovery-ops N` (j; default 10M, 1M with --quick), `--event-capacity N` (the poll ring, default the engine's 1M events),
//! `--breaker` (keep the circuit breaker on in a and b; a closed-loop flood then trips it on
//! queueing delay), `ENGINE_BENCH_DEBUG=1` (per-run shard CPU, parks, waits).
//! Wall-clock figures on a shared 2-core machine swing: compare within one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hftbook_core::batch::{decode_add, kind as bk, Command as BookCmd};
use hftbook_core::workload::{w2, FillCounter};
use hftbook_core::{Clock, OrderBook, QtyLimits, StpMode};
use hftbook_engine::journal::{Fsync, JournalOptions};
use hftbook_engine::record::{cmd, flag, kind, reason};
use hftbook_engine::{Command, Engine, EngineConfig, Event, JournalStats, SymbolConfig};
use std::cell::{Cell, RefCell};
use std::path::PathBuf;

thread_local! {
    /// Section j: journal the engines `engine()` builds with this policy.
    static JOURNAL: Cell<Option<Fsync>> = const { Cell::new(None) };
    /// Section j: the journal figures of each journaled run, and its directory.
    static JOURNAL_RUNS: RefCell<Vec<(JournalStats, PathBuf)>> = const { RefCell::new(Vec::new()) };
    /// Section r: the symbols' tick size (W2's prices at 0.01 a tick put one account's
    /// open orders past the largest exposure limit, 9.2 billion).
    static TICK: Cell<Option<&'static str>> = const { Cell::new(None) };
}

fn bench_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let base = std::env::var_os("HFTBOOK_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    base.join(format!(
        "hftbook-bench-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

/// After a journaled run's stop: keep its figures, remove its directory unless `keep`.
fn journal_done(e: &Engine, keep: bool) {
    if let Some(st) = e.journal_stats() {
        if !keep {
            let _ = std::fs::remove_dir_all(&st.dir);
        }
        let dir = st.dir.clone();
        JOURNAL_RUNS.with(|r| r.borrow_mut().push((st, dir)));
    }
}

const SENTINEL: u64 = u64::MAX;
const CHUNK: usize = 4096;
const POLL_EVERY: usize = 128;
const POLL_MAX: usize = 8192;

// ---------------------------------------------------------------------------------------
// Flow

struct Flow {
    symbols: usize,
    prefill: Vec<Vec<BookCmd>>,
    /// (symbol, command), interleaved round robin.
    ops: Vec<(u32, BookCmd)>,
}

fn flow(symbols: usize, total_ops: usize, seed: u64) -> Flow {
    let per = total_ops / symbols;
    let sets: Vec<_> = (0..symbols).map(|s| w2(per, seed + s as u64)).collect();
    let mut ops = Vec::with_capacity(per * symbols);
    for i in 0..per {
        for (s, set) in sets.iter().enumerate() {
            ops.push((s as u32, set.1[i]));
        }
    }
    Flow {
        symbols,
        prefill: sets.into_iter().map(|s| s.0).collect(),
        ops,
    }
}

/// Engine order ids, predicted: one producer, so the k-th submit gets the k-th id.
struct Ids {
    next: u64,
    /// Per symbol: W2 caller id → engine id.
    map: Vec<Vec<u64>>,
}

impl Ids {
    fn new(engine: &Engine, f: &Flow) -> Ids {
        let cap = f.ops.len() / f.symbols + f.prefill[0].len() + 2;
        Ids {
            next: engine.orders_issued() + 1,
            map: vec![vec![0; cap]; f.symbols],
        }
    }
    fn take(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        id
    }
}

fn to_engine(sym: u32, c: &BookCmd, ids: &mut Ids) -> Command {
    match c.kind {
        bk::ADD => {
            let id = ids.take();
            ids.map[sym as usize][c.id as usize] = id;
            Command {
                kind: cmd::SUBMIT,
                symbol: sym,
                side: c.side,
                order_type: c.order_type,
                tif: c.tif,
                price: c.price,
                qty: c.qty,
                client_id: c.id,
                order_id: id,
                ..Command::default()
            }
        }
        bk::CANCEL => Command {
            kind: cmd::CANCEL,
            symbol: sym,
            order_id: ids.map[sym as usize][c.id as usize],
            ..Command::default()
        },
        k => panic!("W2 has no command kind {k}"),
    }
}

// ---------------------------------------------------------------------------------------
// Engine helpers

fn engine(shards: usize, symbols: usize, tweak: &dyn Fn(&mut EngineConfig)) -> Engine {
    let mut cfg = EngineConfig::default();
    cfg.engine.shards = shards;
    tweak(&mut cfg);
    let e = match JOURNAL.with(Cell::get) {
        None => Engine::new(cfg).expect("engine"),
        Some(policy) => {
            let dir = bench_dir();
            let _ = std::fs::remove_dir_all(&dir);
            Engine::with_journal(cfg, JournalOptions::new(dir, policy)).expect("journaled engine")
        }
    };
    for s in 0..symbols {
        let mut sc = SymbolConfig {
            shard: Some(s % shards),
            ..SymbolConfig::default()
        };
        if let Some(t) = TICK.with(Cell::get) {
            sc.tick_size = t.into();
            sc.tick = hftbook_core::TickSize::parse(t).expect("tick size");
        }
        assert_eq!(
            e.add_symbol(&format!("S{s}"), sc).expect("symbol"),
            s as u32
        );
    }
    e
}

#[derive(Default)]
struct Sink {
    buf: Vec<Event>,
    events: u64,
    sentinels: usize,
    rejected: u64,
}

impl Sink {
    #[inline]
    fn drain(&mut self, e: &Engine) -> usize {
        self.buf.clear();
        let n = e.poll(&mut self.buf, POLL_MAX, Duration::ZERO);
        for ev in &self.buf {
            if ev.kind == kind::REJECTED {
                self.rejected += 1;
            } else if ev.kind == kind::ACCEPTED && ev.client_id == SENTINEL {
                self.sentinels += 1;
            }
        }
        self.events += n as u64;
        n
    }
}

/// One far-away resting buy per symbol through each lane; returns how many were sent.
fn send_sentinels(e: &Engine, symbols: usize, ids: &mut Ids) -> usize {
    for s in 0..symbols {
        for urgent in [false, true] {
            let c = Command {
                kind: cmd::SUBMIT,
                symbol: s as u32,
                price: 1,
                qty: 1,
                client_id: SENTINEL,
                flags: if urgent { flag::URGENT } else { 0 },
                ..Command::default()
            };
            let id = e.submit_command(c).expect("sentinel");
            assert_eq!(id, ids.take(), "order id prediction");
        }
    }
    2 * symbols
}

fn wait_sentinels(e: &Engine, sink: &mut Sink, want: usize) {
    let t = Instant::now();
    let mut warned = false;
    while sink.sentinels < want {
        if !warned && t.elapsed() > Duration::from_secs(5) {
            warned = true;
            let st = e.shard_stats();
            eprintln!(
                "waiting for sentinels: {} of {want}; events polled {}, rejected {}; shard commands {:?} events {:?} rejects {:?}",
                sink.sentinels,
                sink.events,
                sink.rejected,
                st.iter().map(|s| s.commands).collect::<Vec<_>>(),
                st.iter().map(|s| s.events).collect::<Vec<_>>(),
                st.iter().map(|s| s.rejects.clone()).collect::<Vec<_>>(),
            );
        }
        if sink.drain(e) == 0 {
            std::hint::spin_loop();
        }
    }
}

/// Queue the prefill (batches) and consume its events, untimed.
fn prefill(e: &Engine, f: &Flow, ids: &mut Ids, sink: &mut Sink) {
    for (s, pre) in f.prefill.iter().enumerate() {
        let mut cmds: Vec<Command> = pre.iter().map(|c| to_engine(s as u32, c, ids)).collect();
        for chunk in cmds.chunks_mut(CHUNK) {
            e.submit_batch(chunk).expect("prefill");
            sink.drain(e);
        }
    }
    let want = sink.sentinels + send_sentinels(e, f.symbols, ids);
    wait_sentinels(e, sink, want);
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    PerCommand,
    Batch,
}

struct RunOut {
    secs: f64,
    /// The shard threads' CPU time over the run / wall time / shards.
    shard_cpu: f64,
    ops: usize,
    events: u64,
    rejected: u64,
}

/// Throughput: the flow's ops through a fresh started engine, every event polled back.
fn run_engine(f: &Flow, shards: usize, mode: Mode, tweak: &dyn Fn(&mut EngineConfig)) -> RunOut {
    let e = engine(shards, f.symbols, tweak);
    e.start().expect("start");
    let mut ids = Ids::new(&e, f);
    let mut sink = Sink {
        buf: Vec::with_capacity(POLL_MAX),
        ..Sink::default()
    };
    prefill(&e, f, &mut ids, &mut sink);
    let (ev0, rej0) = (sink.events, sink.rejected);
    // Untimed: the engine records of the flow (ids predicted).
    let mut cmds: Vec<Command> = f
        .ops
        .iter()
        .map(|(s, c)| to_engine(*s, c, &mut ids))
        .collect();
    let want = sink.sentinels + 2 * f.symbols;
    let tids = shard_tids();
    assert_eq!(
        tids.len(),
        shards,
        "shard threads not found in /proc/self/task"
    );
    let cpu0 = cpu_ns(&tids);
    let st0 = e.shard_stats();
    let t = Instant::now();
    match mode {
        Mode::PerCommand => {
            for (i, c) in cmds.iter().enumerate() {
                if c.kind == cmd::SUBMIT {
                    let id = e.submit_command(*c).expect("submit");
                    debug_assert_eq!(id, c.order_id);
                } else {
                    e.cancel(c.order_id, Some(c.symbol), 0).expect("cancel");
                }
                if i % POLL_EVERY == POLL_EVERY - 1 {
                    sink.drain(&e);
                }
            }
        }
        Mode::Batch => {
            for chunk in cmds.chunks_mut(CHUNK) {
                e.submit_batch(chunk).expect("batch");
                sink.drain(&e);
            }
        }
    }
    send_sentinels(&e, f.symbols, &mut ids);
    wait_sentinels(&e, &mut sink, want);
    let secs = t.elapsed().as_secs_f64();
    let shard_cpu = (cpu_ns(&tids) - cpu0) as f64 / 1e9 / secs / tids.len() as f64;
    if std::env::var_os("ENGINE_BENCH_DEBUG").is_some() {
        let st = e.shard_stats();
        let d = |f: &dyn Fn(&hftbook_engine::ShardSnapshot) -> u64| -> u64 {
            st.iter().map(f).sum::<u64>() - st0.iter().map(f).sum::<u64>()
        };
        eprintln!(
            "    [debug] {shards} shard(s) {:?}: {:.3} s, shard CPU {:.0} % of the wall, parks {}, event waits {}, lane waits {}",
            if mode == Mode::Batch { "batch" } else { "per command" },
            secs,
            (cpu_ns(&tids) - cpu0) as f64 / 1e9 / secs / tids.len() as f64 * 100.0,
            d(&|s| s.parks),
            d(&|s| s.event_waits),
            d(&|s| s.waits.0 + s.waits.1),
        );
    }
    assert_eq!(e.orders_issued() + 1, ids.next, "order id prediction");
    e.stop(true, Duration::from_secs(5));
    journal_done(&e, false);
    RunOut {
        secs,
        shard_cpu,
        ops: f.ops.len(),
        events: sink.events - ev0,
        rejected: sink.rejected - rej0,
    }
}

/// Shard scaling alone: everything queued before `start`, no event stream; timed from
/// `start` until every command ran.
fn run_preloaded(f: &Flow, shards: usize) -> f64 {
    run_preloaded_as(f, shards, 0, &|_| {})
}

/// [`run_preloaded`] with every command on `account` and the config tweaked by `tweak`.
fn run_preloaded_as(
    f: &Flow,
    shards: usize,
    account: u32,
    tweak: &dyn Fn(&mut EngineConfig),
) -> f64 {
    let e = engine(shards, f.symbols, &|c| {
        c.engine.keep_events = false;
        c.breaker.enabled = false;
        // Everything is queued before start: the batch budget is the lane capacity.
        c.engine.lane_capacity = (f.ops.len() + f.prefill.iter().map(Vec::len).sum::<usize>())
            .next_power_of_two()
            .max(1 << 16);
        tweak(c);
    });
    let mut ids = Ids::new(&e, f);
    let mut all: Vec<Command> = Vec::new();
    for (s, pre) in f.prefill.iter().enumerate() {
        all.extend(pre.iter().map(|c| to_engine(s as u32, c, &mut ids)));
    }
    all.extend(f.ops.iter().map(|(s, c)| to_engine(*s, c, &mut ids)));
    for c in all.iter_mut() {
        c.account = account;
    }
    let total = all.len() as u64;
    for chunk in all.chunks_mut(1024) {
        e.submit_batch(chunk).expect("preload");
    }
    // `stop(drain)` closes intake, lets the shards run every queued command and joins them:
    // start → stop returning is the time to execute everything (no polling of the stats,
    // whose histogram copies would compete for the cores).
    let t = Instant::now();
    e.start().expect("start");
    let report = e.stop(true, Duration::from_secs(120));
    let secs = t.elapsed().as_secs_f64();
    let stats = e.shard_stats();
    let done: u64 = stats.iter().map(|s| s.commands).sum();
    assert!(
        report.clean && done >= total,
        "{done} of {total} commands ran"
    );
    // The risk variants set limits that never bind: the flow must be the same.
    let risk: u64 = stats
        .iter()
        .flat_map(|s| {
            (reason::RISK_ORDER_QTY..=reason::RISK_RATE)
                .chain([reason::RISK_GROSS_EXPOSURE, reason::RISK_NET_EXPOSURE])
                .map(|r| s.rejects.get(r as usize).copied().unwrap_or(0))
        })
        .sum();
    assert_eq!(
        risk,
        0,
        "risk limits refused {risk} orders: {:?}",
        stats.first().map(|s| &s.rejects)
    );
    secs
}

/// [`run_preloaded`] with `subs` market-data subscribers (book and trade events of every
/// symbol, conflating, room for `HFTBOOK_SUB_CAPACITY` events, default 2^20, each), each
/// drained by its own thread (`HFTBOOK_SUB_STARVED=1`: only once the run ended): the cost
/// of the subscriptions on the shard's path. Returns the seconds and the events delivered.
fn run_preloaded_subs(f: &Flow, subs: usize) -> (f64, u64) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let e = engine(1, f.symbols, &|c| {
        c.engine.keep_events = false;
        // L2 deltas, as the feed server's subscription needs.
        c.engine.book_events = true;
        c.breaker.enabled = false;
        c.engine.lane_capacity = (f.ops.len() + f.prefill.iter().map(Vec::len).sum::<usize>())
            .next_power_of_two()
            .max(1 << 16);
    });
    let mut ids = Ids::new(&e, f);
    let mut all: Vec<Command> = Vec::new();
    for (s, pre) in f.prefill.iter().enumerate() {
        all.extend(pre.iter().map(|c| to_engine(s as u32, c, &mut ids)));
    }
    all.extend(f.ops.iter().map(|(s, c)| to_engine(*s, c, &mut ids)));
    for chunk in all.chunks_mut(1024) {
        e.submit_batch(chunk).expect("preload");
    }
    // HFTBOOK_SUB_SYMBOLS=0,2: only those symbols' events (the feed server follows the
    // symbols its clients asked for; statuses of every symbol).
    let symbols = std::env::var("HFTBOOK_SUB_SYMBOLS").ok().map(|v| {
        v.split(',')
            .map(|x| {
                x.trim()
                    .parse::<u32>()
                    .expect("HFTBOOK_SUB_SYMBOLS: symbol indices")
            })
            .collect()
    });
    let filter = hftbook_engine::Filter {
        kinds: (1 << kind::BOOK) | (1 << kind::TRADE) | (1 << kind::STATUS),
        every_symbol_kinds: 1 << kind::STATUS,
        symbols,
        ..hftbook_engine::Filter::default()
    };
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..subs)
        .map(|_| {
            let cap = std::env::var("HFTBOOK_SUB_CAPACITY")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1 << 20);
            let sub = e.subscribe(filter.clone(), cap, true);
            let done = done.clone();
            // HFTBOOK_SUB_STARVED=1: the reader takes nothing until the run ends (a feed
            // starved of CPU): the subscriber sits in a gap and the shard keeps offering.
            let starved = std::env::var("HFTBOOK_SUB_STARVED").is_ok_and(|v| v == "1");
            std::thread::spawn(move || {
                let mut out = Vec::with_capacity(1 << 16);
                let mut n = 0u64;
                while starved && !done.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                loop {
                    out.clear();
                    let got = sub.pop_batch(&mut out, 1 << 16, Duration::from_millis(1));
                    n += got as u64;
                    if got == 0 && done.load(Ordering::Acquire) {
                        return n;
                    }
                }
            })
        })
        .collect();
    let t = Instant::now();
    e.start().expect("start");
    let report = e.stop(true, Duration::from_secs(120));
    let secs = t.elapsed().as_secs_f64();
    assert!(report.clean);
    done.store(true, Ordering::Release);
    let delivered = readers.into_iter().map(|h| h.join().expect("reader")).sum();
    (secs, delivered)
}

/// The bare book: the same interleaved flow through one `OrderBook` per symbol.
fn run_book(f: &Flow) -> f64 {
    let mut books: Vec<OrderBook> = (0..f.symbols)
        .map(|_| OrderBook::with_options(Clock::default(), QtyLimits::default(), StpMode::None))
        .collect();
    let mut sink = FillCounter::default();
    for (b, pre) in books.iter_mut().zip(&f.prefill) {
        for c in pre {
            let o = decode_add(0, c).expect("add");
            let _ = b.submit(&o, &mut sink);
        }
    }
    let t = Instant::now();
    for (s, c) in &f.ops {
        let b = &mut books[*s as usize];
        match c.kind {
            bk::ADD => {
                if let Ok(o) = decode_add(0, c) {
                    let _ = b.submit(&o, &mut sink);
                }
            }
            _ => {
                let _ = b.cancel(c.id, &mut sink);
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    black_box(sink.fills);
    secs
}

// ---------------------------------------------------------------------------------------
// CPU time of the shard threads

fn shard_tids() -> Vec<u32> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for d in rd.flatten() {
            let comm = std::fs::read_to_string(d.path().join("comm")).unwrap_or_default();
            if comm.starts_with("hftbook-shard") {
                if let Some(tid) = d.file_name().to_str().and_then(|s| s.parse().ok()) {
                    v.push(tid);
                }
            }
        }
    }
    v
}

/// ns on CPU of the threads (schedstat's first field).
fn cpu_ns(tids: &[u32]) -> u64 {
    tids.iter()
        .map(|t| {
            std::fs::read_to_string(format!("/proc/self/task/{t}/schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
                .unwrap_or(0u64)
        })
        .sum()
}

// ---------------------------------------------------------------------------------------
// Open-loop latency

struct LatOut {
    recv: Histogram<u64>,
    processed: Histogram<u64>,
    queue: Histogram<u64>,
    achieved: f64,
    late_sends: u64,
    cpu_busy: f64,
    cpu_idle: f64,
    idle_secs: f64,
    parks_idle: u64,
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")
}

fn run_latency(f: &Flow, rate: f64, idle_secs: f64, tweak: &dyn Fn(&mut EngineConfig)) -> LatOut {
    let e = engine(1, f.symbols, tweak);
    e.start().expect("start");
    let mut ids = Ids::new(&e, f);
    let mut sink = Sink {
        buf: Vec::with_capacity(POLL_MAX),
        ..Sink::default()
    };
    prefill(&e, f, &mut ids, &mut sink);
    // After the prefill: the shard thread runs and has its name.
    let tids = shard_tids();
    assert_eq!(tids.len(), 1, "shard thread not found in /proc/self/task");
    let cmds: Vec<Command> = f
        .ops
        .iter()
        .map(|(s, c)| to_engine(*s, c, &mut ids))
        .collect();
    let n = cmds.len();
    // Intended send time of the command whose first event names order id `id`: submits by
    // their own id, cancels by the id they cancel.
    // (Indexed by engine order id: cancels also name prefill orders.)
    let span = ids.next as usize;
    let mut submit_at = vec![0u64; span];
    let mut cancel_at = vec![0u64; span];
    let period = 1e9 / rate;
    let (mut recv, mut processed, mut queue) = (hist(), hist(), hist());
    let mut seen = 0usize;
    let mut late = 0u64;
    let mut i = 0usize;
    let t0 = e.now() + 2_000_000;
    while e.now() < t0 {
        sink.drain(&e);
    }
    let cpu0 = cpu_ns(&tids);
    let wall0 = Instant::now();
    let mut last_progress = Instant::now();
    while seen < n {
        if i == n && last_progress.elapsed() > Duration::from_secs(5) {
            println!(
                "  !! {} of {n} commands never produced a first event",
                n - seen
            );
            break;
        }
        let now = e.now();
        while i < n {
            let at = t0 + (i as f64 * period) as u64;
            if at > now {
                break;
            }
            if now - at > 1_000 {
                late += 1;
            }
            let c = &cmds[i];
            let k = c.order_id as usize;
            if c.kind == cmd::SUBMIT {
                submit_at[k] = at;
                e.submit_command(*c).expect("submit");
            } else {
                cancel_at[k] = at;
                e.cancel(c.order_id, Some(c.symbol), 0).expect("cancel");
            }
            i += 1;
        }
        sink.buf.clear();
        if e.poll(&mut sink.buf, POLL_MAX, Duration::ZERO) == 0 {
            continue;
        }
        let got = e.now();
        last_progress = Instant::now();
        for ev in &sink.buf {
            if ev.order_id >= ids.next {
                continue;
            }
            let k = ev.order_id as usize;
            let at = match ev.kind {
                kind::ACCEPTED if ev.client_id == SENTINEL => continue,
                kind::ACCEPTED => submit_at[k],
                kind::REJECTED if ev.side == 2 || ev.reason == reason::UNKNOWN_ORDER => {
                    cancel_at[k]
                }
                kind::REJECTED => submit_at[k],
                kind::CANCELLED if ev.reason == reason::USER => cancel_at[k],
                _ => continue,
            };
            if ev.kind == kind::REJECTED {
                sink.rejected += 1;
            }
            seen += 1;
            let _ = recv.record(got.saturating_sub(at).max(1));
            let _ = processed.record(ev.ts_processed.saturating_sub(at).max(1));
            let _ = queue.record(ev.ts_processed.saturating_sub(ev.ts_enqueued).max(1));
        }
    }
    let wall = wall0.elapsed().as_secs_f64();
    let cpu_busy = (cpu_ns(&tids) - cpu0) as f64 / 1e9 / wall;
    let achieved = n as f64 / ((e.now() - t0) as f64 / 1e9);
    // Idle: nothing queued; the shard spins, yields, then parks.
    std::thread::sleep(Duration::from_millis(200));
    let parks0: u64 = e.shard_stats().iter().map(|s| s.parks).sum();
    let c0 = cpu_ns(&tids);
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(idle_secs));
    let cpu_idle = (cpu_ns(&tids) - c0) as f64 / 1e9 / w0.elapsed().as_secs_f64();
    let parks_idle = e.shard_stats().iter().map(|s| s.parks).sum::<u64>() - parks0;
    e.stop(true, Duration::from_secs(5));
    journal_done(&e, false);
    LatOut {
        recv,
        processed,
        queue,
        achieved,
        late_sends: late,
        cpu_busy,
        cpu_idle,
        idle_secs,
        parks_idle,
    }
}

// ---------------------------------------------------------------------------------------
// Reporting

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn list(v: &[f64], scale: f64) -> String {
    v.iter()
        .map(|x| format!("{:.2}", x / scale))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1e3
}

fn lat_line(name: &str, h: &Histogram<u64>) {
    println!(
        "  {name:<44} p50 {:>8.2} µs  p99 {:>9.2} µs  p99.9 {:>9.2} µs  p99.99 {:>9.2} µs  max {:>9.2} µs  (n {})",
        us(h, 0.5),
        us(h, 0.99),
        us(h, 0.999),
        us(h, 0.9999),
        h.max() as f64 / 1e3,
        h.len()
    );
}

struct Args {
    reps: usize,
    ops: usize,
    ops2: usize,
    rates: Vec<f64>,
    lat_ops: usize,
    idle: f64,
    only: String,
    event_capacity: Option<usize>,
    breaker: bool,
    recovery_ops: usize,
}

fn args() -> Args {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let quick = v.iter().any(|a| a == "--quick");
    let mut a = Args {
        reps: if quick { 3 } else { 5 },
        ops: if quick { 200_000 } else { 1_000_000 },
        ops2: if quick { 200_000 } else { 1_000_000 },
        rates: vec![1e6, 2e5],
        lat_ops: if quick { 500_000 } else { 2_000_000 },
        idle: if quick { 1.0 } else { 3.0 },
        only: "abcdeprj".into(),
        event_capacity: None,
        breaker: v.iter().any(|a| a == "--breaker"),
        recovery_ops: if quick { 1_000_000 } else { 10_000_000 },
    };
    let get = |k: &str| {
        v.iter()
            .position(|x| x == k)
            .and_then(|i| v.get(i + 1))
            .cloned()
    };
    if let Some(x) = get("--reps") {
        a.reps = x.parse().expect("--reps N");
    }
    if let Some(x) = get("--ops") {
        a.ops = x.parse().expect("--ops N");
    }
    if let Some(x) = get("--ops2") {
        a.ops2 = x.parse().expect("--ops2 N");
    }
    if let Some(x) = get("--rate") {
        a.rates = x
            .split(',')
            .map(|r| r.parse().expect("--rate R[,R...]"))
            .collect();
    }
    if let Some(x) = get("--lat-ops") {
        a.lat_ops = x.parse().expect("--lat-ops N");
    }
    if let Some(x) = get("--idle") {
        a.idle = x.parse().expect("--idle S");
    }
    if let Some(x) = get("--only") {
        a.only = x;
    }
    if let Some(x) = get("--recovery-ops") {
        a.recovery_ops = x.parse().expect("--recovery-ops N");
    }
    if let Some(x) = get("--event-capacity") {
        a.event_capacity = Some(x.parse().expect("--event-capacity N"));
    }
    a
}

fn main() {
    let a = args();
    let cap = a.event_capacity;
    let tweak = move |c: &mut EngineConfig| {
        if let Some(n) = cap {
            c.engine.event_capacity = n;
        }
    };
    // A closed-loop flood queues up to a full lane; the breaker then opens on queueing delay
    // (max_queue_delay_us) and sheds orders: the throughput runs switch it off unless asked.
    let breaker = a.breaker;
    let flood = move |c: &mut EngineConfig| {
        tweak(c);
        c.breaker.enabled = breaker;
    };
    println!(
        "engine_bench: reps {}, W2 flow, {} cores, event ring {} events/shard",
        a.reps,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cap.unwrap_or(EngineConfig::default().engine.event_capacity)
    );

    if a.only.contains('a') || a.only.contains('e') {
        let f = flow(4, a.ops, 42);
        println!(
            "\n[a, e] throughput: {} W2 ops over 4 symbols on 1 shard (+ 4 x 10k prefill, untimed)",
            f.ops.len()
        );
        let (mut book, mut per_cmd, mut batch) = (Vec::new(), Vec::new(), Vec::new());
        let (mut ev, mut rej) = (0u64, 0u64);
        let (mut cpu_c, mut cpu_b) = (Vec::new(), Vec::new());
        for _ in 0..a.reps {
            book.push(f.ops.len() as f64 / run_book(&f));
            let r = run_engine(&f, 1, Mode::PerCommand, &flood);
            per_cmd.push(r.ops as f64 / r.secs);
            cpu_c.push(r.shard_cpu * 100.0);
            rej = rej.max(r.rejected);
            let r = run_engine(&f, 1, Mode::Batch, &flood);
            batch.push(r.ops as f64 / r.secs);
            cpu_b.push(r.shard_cpu * 100.0);
            ev = r.events;
            rej = rej.max(r.rejected);
        }
        println!(
            "  (events per run {ev}, {:.2} per op; most rejections in one run: {rej})",
            ev as f64 / f.ops.len() as f64
        );
        let (mb, mc, mbt) = (median(&book), median(&per_cmd), median(&batch));
        println!(
            "  bare book (4 OrderBooks, same flow)       median {:>7.2} M ops/s   [{}]",
            mb / 1e6,
            list(&book, 1e6)
        );
        println!(
            "  engine, one call per command              median {:>7.2} M ops/s   [{}]  shard CPU % of wall [{}]",
            mc / 1e6,
            list(&per_cmd, 1e6),
            list(&cpu_c, 1.0)
        );
        println!(
            "  engine, submit_batch of {CHUNK}             median {:>7.2} M ops/s   [{}]  shard CPU % of wall [{}]",
            mbt / 1e6,
            list(&batch, 1e6),
            list(&cpu_b, 1.0)
        );
        let r1: Vec<f64> = book.iter().zip(&per_cmd).map(|(b, c)| b / c).collect();
        let r2: Vec<f64> = book.iter().zip(&batch).map(|(b, c)| b / c).collect();
        println!(
            "  book / engine (per rep): per command median {:.2}x [{}]; batch median {:.2}x [{}]",
            median(&r1),
            list(&r1, 1.0),
            median(&r2),
            list(&r2, 1.0)
        );
    }

    if a.only.contains('p') {
        let f = flow(4, a.ops, 42);
        let total = f.ops.len() + f.prefill.iter().map(Vec::len).sum::<usize>();
        let v: Vec<f64> = (0..a.reps)
            .map(|_| total as f64 / run_preloaded(&f, 1))
            .collect();
        println!(
            "\n[p] shard alone: {total} commands (4 x 10k prefill + {} W2 ops, 4 symbols) preloaded, 1 shard, no event stream: median {:.2} M/s [{}]",
            f.ops.len(),
            median(&v) / 1e6,
            list(&v, 1e6)
        );
    }

    if a.only.contains('s') {
        let f = flow(4, a.ops, 42);
        let total = (f.ops.len() + f.prefill.iter().map(Vec::len).sum::<usize>()) as f64;
        let (mut none, mut one, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        let mut delivered = 0;
        for _ in 0..a.reps {
            let (t0, _) = run_preloaded_subs(&f, 0);
            let (t1, d) = run_preloaded_subs(&f, 1);
            delivered = d;
            none.push(total / t0);
            one.push(total / t1);
            ratio.push(t0 / t1);
        }
        println!(
            "\n[s] shard alone (as p) with a market-data subscriber (book + trade events of every symbol, drained by a thread; {delivered} events): none {:.2} M/s [{}], one {:.2} M/s [{}]; paired ratio median {:.3} [{}]",
            median(&none) / 1e6,
            list(&none, 1e6),
            median(&one) / 1e6,
            list(&one, 1e6),
            median(&ratio),
            list(&ratio, 1.0)
        );
    }

    if a.only.contains('b') {
        let f = flow(2, a.ops2, 142);
        println!(
            "\n[b] 2 shards vs 1: {} W2 ops over 2 symbols (disjoint flows), 1 producer",
            f.ops.len()
        );
        for (name, mode) in [
            ("one call per command", Some(Mode::PerCommand)),
            ("submit_batch", Some(Mode::Batch)),
            ("preloaded, no event stream", None),
        ] {
            let (mut one, mut two) = (Vec::new(), Vec::new());
            let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
            for _ in 0..a.reps {
                for (shards, out) in [(1, &mut one), (2, &mut two)] {
                    let r = match mode {
                        Some(m) => {
                            let r = run_engine(&f, shards, m, &flood);
                            cpu[shards - 1].push(r.shard_cpu * 100.0);
                            r.ops as f64 / r.secs
                        }
                        None => {
                            let total = f.ops.len() + f.prefill.iter().map(Vec::len).sum::<usize>();
                            total as f64 / run_preloaded(&f, shards)
                        }
                    };
                    out.push(r);
                }
            }
            let ratio: Vec<f64> = two.iter().zip(&one).map(|(t, o)| t / o).collect();
            println!(
                "  {name:<28} 1 shard {:>6.2} M/s [{}]  2 shards {:>6.2} M/s [{}]  ratio median {:.2}x [{}]",
                median(&one) / 1e6,
                list(&one, 1e6),
                median(&two) / 1e6,
                list(&two, 1e6),
                median(&ratio),
                list(&ratio, 1.0)
            );
            if mode.is_some() {
                println!(
                    "  {:<28} shard CPU % of wall per shard: 1 shard [{}]  2 shards [{}]",
                    "",
                    list(&cpu[0], 1.0),
                    list(&cpu[1], 1.0)
                );
            }
        }
    }

    if a.only.contains('c') || a.only.contains('d') {
        let f = flow(4, a.lat_ops, 7);
        for &rate in &a.rates {
            // The same run length in time at every rate.
            let n = ((a.lat_ops as f64 * rate / a.rates[0]) as usize).max(40_000);
            let other = (n != f.ops.len()).then(|| flow(4, n, 7));
            let f = other.as_ref().unwrap_or(&f);
            println!(
                "\n[c, d] open loop: {} W2 ops over 4 symbols on 1 shard at {:.2} M orders/s offered (constant inter-arrival)",
                f.ops.len(),
                rate / 1e6
            );
            for (label, park_at_once) in [
                ("default idle policy", false),
                ("idle_spin 0, idle_yield 0 (park at once)", true),
            ] {
                let r = run_latency(f, rate, a.idle, &|c: &mut EngineConfig| {
                    tweak(c);
                    if park_at_once {
                        c.engine.idle_spin = 0;
                        c.engine.idle_yield = 0;
                    }
                });
                println!(
                    "  -- {label}: achieved {:.3} M/s, sends > 1 µs late {} ({:.2} %)",
                    r.achieved / 1e6,
                    r.late_sends,
                    r.late_sends as f64 * 100.0 / f.ops.len() as f64
                );
                lat_line("intended send -> first event polled", &r.recv);
                lat_line("intended send -> ts_processed (event)", &r.processed);
                lat_line("ts_enqueued -> ts_processed (event)", &r.queue);
                println!(
                    "  shard CPU: {:.1} % of a core under load; idle {:.3} % over {:.1} s ({} parks)",
                    r.cpu_busy * 100.0,
                    r.cpu_idle * 100.0,
                    r.idle_secs,
                    r.parks_idle
                );
            }
        }
    }

    if a.only.contains('r') {
        risk_section(&a);
    }
    if a.only.contains('j') {
        journal_section(&a, &flood, &tweak);
    }
}

fn risk_section(a: &Args) {
    use hftbook_engine::config::RiskLimits;
    let f = flow(4, a.ops, 42);
    let n = f.ops.len() + f.prefill.iter().map(Vec::len).sum::<usize>();
    println!("\n[r] pre-trade risk: the shard alone, W2 over 4 symbols ({n} commands), one shard");
    let limits = |c: &mut EngineConfig| {
        c.risk.default = Some(RiskLimits {
            max_order_qty: Some(1 << 40),
            max_order_notional: Some("1000000000000".into()),
            max_order_notional_nanos: Some(1_000_000_000_000 * 1_000_000_000),
            collar_ticks: Some(1 << 40),
            max_open_orders: Some(1 << 32),
            max_position: Some(1 << 47),
            max_orders_per_second: Some(1e9),
            burst: Some(1 << 30),
            ..RiskLimits::default()
        });
    };
    // The portfolio limits on top (the largest allowed: never binding here). Every command
    // of account 1 then republishes its exposure, and every submit computes it.
    let exposure = |c: &mut EngineConfig| {
        limits(c);
        if let Some(l) = c.risk.default.as_mut() {
            let max = i128::from(i64::MAX);
            l.max_gross_exposure = Some("9223372036.854775807".into());
            l.max_gross_exposure_nanos = Some(max);
            l.max_net_exposure = Some("9223372036.854775807".into());
            l.max_net_exposure_nanos = Some(max);
        }
    };
    // `HFTBOOK_RISK_ONLY=none|account|limits|exposure`: that variant alone, once (to count
    // one variant's instructions under callgrind).
    if let Ok(v) = std::env::var("HFTBOOK_RISK_ONLY") {
        TICK.with(|t| t.set(Some("0.00001")));
        let secs = match v.as_str() {
            "none" => run_preloaded_as(&f, 1, 0, &|_| {}),
            "account" => run_preloaded_as(&f, 1, 1, &|_| {}),
            "limits" => run_preloaded_as(&f, 1, 1, &limits),
            "exposure" => run_preloaded_as(&f, 1, 1, &exposure),
            other => panic!("HFTBOOK_RISK_ONLY={other}: none, account, limits or exposure"),
        };
        TICK.with(|t| t.set(None));
        println!("  {v}: {:.1} ns/command", secs * 1e9 / n as f64);
        return;
    }
    let (mut none, mut acct, mut lim, mut expo) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    TICK.with(|t| t.set(Some("0.00001")));
    for _ in 0..a.reps {
        none.push(run_preloaded_as(&f, 1, 0, &|_| {}));
        acct.push(run_preloaded_as(&f, 1, 1, &|_| {}));
        lim.push(run_preloaded_as(&f, 1, 1, &limits));
        expo.push(run_preloaded_as(&f, 1, 1, &exposure));
    }
    TICK.with(|t| t.set(None));
    let ns = |v: &[f64]| -> Vec<f64> { v.iter().map(|s| s * 1e9 / n as f64).collect() };
    let (n0, n1, n2, n3) = (ns(&none), ns(&acct), ns(&lim), ns(&expo));
    for (name, v) in [
        ("account 0 (no risk path)", &n0),
        ("account 1, no limits", &n1),
        ("account 1, every limit", &n2),
        ("+ gross and net exposure", &n3),
    ] {
        println!(
            "  {name:<26} {:>7.1} ns/command [{}]",
            median(v),
            list(v, 1.0)
        );
    }
    let d: Vec<f64> = n2.iter().zip(&n0).map(|(x, y)| x - y).collect();
    let d1: Vec<f64> = n1.iter().zip(&n0).map(|(x, y)| x - y).collect();
    let d2: Vec<f64> = n2.iter().zip(&n1).map(|(x, y)| x - y).collect();
    println!(
        "  per command, paired by repetition (medians): the checks (every limit vs account 1 without): {:.1} ns [{}] (goal <= 50); account bookkeeping (account 1 without limits vs account 0): {:.1} ns [{}]; both: {:.1} ns [{}]",
        median(&d2),
        list(&d2, 1.0),
        median(&d1),
        list(&d1, 1.0),
        median(&d),
        list(&d, 1.0)
    );
    let d3: Vec<f64> = n3.iter().zip(&n2).map(|(x, y)| x - y).collect();
    println!(
        "  the exposure limits (every limit + exposure vs every limit), paired: {:.1} ns [{}]",
        median(&d3),
        list(&d3, 1.0)
    );
    let d4: Vec<f64> = n3.iter().zip(&n0).map(|(x, y)| x - y).collect();
    println!(
        "  the whole risk stage with exposure limits (every limit + exposure vs account 0), paired: {:.1} ns [{}] (goal <= 50)",
        median(&d4),
        list(&d4, 1.0)
    );
}

fn journal_section(a: &Args, flood: &dyn Fn(&mut EngineConfig), tweak: &dyn Fn(&mut EngineConfig)) {
    let f = flow(4, a.ops, 42);
    let orders = f.ops.iter().filter(|(_, c)| c.kind == bk::ADD).count()
        + f.prefill.iter().map(Vec::len).sum::<usize>();
    println!(
        "\n[j] journal: {} W2 ops over 4 symbols on 1 shard (+ 4 x 10k prefill), {} orders per run",
        f.ops.len(),
        orders
    );
    let policies: [(&str, Option<Fsync>); 4] = [
        ("no journal", None),
        ("fsync never", Some(Fsync::Never)),
        ("fsync batch", Some(Fsync::BATCH)),
        ("fsync always", Some(Fsync::Always)),
    ];
    let mut per_cmd = vec![Vec::new(); 4];
    let mut batch = vec![Vec::new(); 4];
    JOURNAL_RUNS.with(|r| r.borrow_mut().clear());
    for _ in 0..a.reps {
        for (i, (_, p)) in policies.iter().enumerate() {
            JOURNAL.with(|j| j.set(*p));
            let r = run_engine(&f, 1, Mode::PerCommand, flood);
            per_cmd[i].push(r.ops as f64 / r.secs);
            let r = run_engine(&f, 1, Mode::Batch, flood);
            batch[i].push(r.ops as f64 / r.secs);
        }
    }
    JOURNAL.with(|j| j.set(None));
    for (i, (name, _)) in policies.iter().enumerate() {
        println!(
            "  {name:<14} per command {:>6.2} M/s [{}] ({:>3.0} % of no journal)   submit_batch {:>6.2} M/s [{}] ({:>3.0} %)",
            median(&per_cmd[i]) / 1e6,
            list(&per_cmd[i], 1e6),
            median(&per_cmd[i]) / median(&per_cmd[0]) * 100.0,
            median(&batch[i]) / 1e6,
            list(&batch[i], 1e6),
            median(&batch[i]) / median(&batch[0]) * 100.0,
        );
    }
    let ratio = |i: usize, v: &[Vec<f64>]| -> Vec<f64> {
        v[i].iter().zip(&v[1]).map(|(b, n)| b / n).collect()
    };
    println!(
        "  batch / never, per repetition: per command [{}] median {:.2}; submit_batch [{}] median {:.2} (goal >= 0.80)",
        list(&ratio(2, &per_cmd), 1.0),
        median(&ratio(2, &per_cmd)),
        list(&ratio(2, &batch), 1.0),
        median(&ratio(2, &batch)),
    );
    let runs = JOURNAL_RUNS.with(|r| r.borrow_mut().drain(..).collect::<Vec<_>>());
    for name in ["never", "batch", "always"] {
        let mine: Vec<&JournalStats> = runs
            .iter()
            .map(|(s, _)| s)
            .filter(|s| s.fsync == name)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let recs: u64 = mine.iter().map(|s| s.records).sum();
        let bytes: u64 = mine.iter().map(|s| s.bytes).sum();
        let syncs: u64 = mine.iter().map(|s| s.syncs).sum();
        let sync_ns: u64 = mine.iter().map(|s| s.sync_ns_total).sum();
        let max_ns = mine.iter().map(|s| s.sync_ns_max).max().unwrap_or(0);
        println!(
            "  {name:<6}: {:.1} bytes/record, {:.1} bytes/order ({} runs); {} syncs, mean {:.0} µs, max {:.0} µs, {:.0} records/sync",
            bytes as f64 / recs.max(1) as f64,
            bytes as f64 / (orders * mine.len()) as f64,
            mine.len(),
            syncs,
            sync_ns as f64 / syncs.max(1) as f64 / 1e3,
            max_ns as f64 / 1e3,
            recs as f64 / syncs.max(1) as f64,
        );
    }

    // Latency at 1M orders/s offered, with and without the journal (batch).
    let lf = flow(4, a.lat_ops, 7);
    for (name, p) in [("no journal", None), ("fsync batch", Some(Fsync::BATCH))] {
        JOURNAL.with(|j| j.set(p));
        let r = run_latency(&lf, 1e6, 0.0, tweak);
        println!(
            "  open loop 1.00 M/s offered, {name}: achieved {:.3} M/s, sends > 1 µs late {:.2} %",
            r.achieved / 1e6,
            r.late_sends as f64 * 100.0 / lf.ops.len() as f64
        );
        lat_line("intended send -> first event polled", &r.recv);
    }
    JOURNAL.with(|j| j.set(None));
    JOURNAL_RUNS.with(|r| r.borrow_mut().clear());

    // Replay and recovery: a long journal, a snapshot every million records of the shard.
    let big = flow(4, a.recovery_ops, 99);
    let dir = bench_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = EngineConfig::default();
    tweak(&mut cfg);
    cfg.breaker.enabled = false;
    cfg.engine.keep_events = false;
    let e = Engine::with_journal(cfg, JournalOptions::new(&dir, Fsync::BATCH)).expect("journal");
    for s in 0..4 {
        e.add_symbol(&format!("S{s}"), SymbolConfig::default())
            .expect("symbol");
    }
    let mut ids = Ids::new(&e, &big);
    let mut cmds: Vec<Command> = big
        .prefill
        .iter()
        .enumerate()
        .flat_map(|(s, pre)| pre.iter().map(move |c| (s as u32, *c)))
        .chain(big.ops.iter().copied())
        .map(|(s, c)| to_engine(s, &c, &mut ids))
        .collect();
    e.start().expect("start");
    let t = Instant::now();
    for chunk in cmds.chunks_mut(CHUNK) {
        e.submit_batch(chunk).expect("batch");
    }
    e.stop(true, Duration::from_secs(60));
    let st = e.journal_stats().expect("stats");
    println!(
        "  long journal: {} records, {:.1} MB, {} snapshot files, written in {:.2} s",
        st.records,
        st.bytes as f64 / 1e6,
        st.snapshots,
        t.elapsed().as_secs_f64()
    );
    drop(e);
    // Crash-like state: drop the snapshot the graceful stop wrote, so the newest left is a
    // periodic one and recovery replays the tail after it.
    let mut snaps: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    snaps.sort();
    if snaps.len() > 1 {
        let _ = std::fs::remove_file(snaps.last().expect("snap"));
    }
    let mut rec = Vec::new();
    let mut replayed = 0;
    for _ in 0..a.reps.min(3) {
        let t = Instant::now();
        let r = Engine::recover(&dir, Fsync::BATCH).expect("recover");
        rec.push(t.elapsed().as_secs_f64());
        replayed = r.recovery().map_or(0, |x| x.replayed);
        // Dropped unstarted: the journal stays as it was.
        drop(r);
    }
    println!(
        "  recovery of {} records (snapshot every 1M, {} replayed after it): median {:.3} s [{}] (goal <= 2 s)",
        st.records,
        replayed,
        median(&rec),
        list(&rec, 1.0)
    );
    let mut speeds = Vec::new();
    for _ in 0..a.reps.min(3) {
        let r = hftbook_engine::replay_journal(&dir, false).expect("replay");
        speeds.push(r.records as f64 / r.seconds);
    }
    println!(
        "  read-only replay of every record (warm page cache): median {:.2} M records/s [{}] (goal >= 5)",
        median(&speeds) / 1e6,
        list(&speeds, 1e6)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
