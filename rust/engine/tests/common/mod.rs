//! Helpers shared by the engine's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hftbook_engine::record::kind;
use hftbook_engine::{Engine, EngineConfig, Event, SymbolConfig};

/// Generous bound for anything a shard has to do on a loaded 2-core debug build.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A config with the breaker off (debug builds on a busy machine can see queueing delays that
/// would trip it) and a modest event buffer.
pub fn quiet_config(shards: usize) -> EngineConfig {
    let mut c = EngineConfig::default();
    c.engine.shards = shards;
    c.engine.event_capacity = 1 << 16;
    c.engine.park_ms = 2;
    c.breaker.enabled = false;
    c
}

/// An engine with `names` added (round robin over the shards), not started.
pub fn engine_with(cfg: EngineConfig, names: &[&str]) -> (Engine, Vec<u32>) {
    let e = Engine::new(cfg).unwrap();
    let idx = names
        .iter()
        .map(|n| e.add_symbol(n, SymbolConfig::default()).unwrap())
        .collect();
    (e, idx)
}

/// Poll into `out` until `done(out)` holds; panics after [`PATIENCE`].
pub fn poll_until(e: &Engine, out: &mut Vec<Event>, what: &str, done: impl Fn(&[Event]) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done(out) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; events so far:\n{}",
            dump(out)
        );
        e.poll(out, 4096, Duration::from_millis(5));
    }
}

/// Wait for a condition that is not about events (state, stats).
pub fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Everything left in the poll stream (call after `stop`).
pub fn poll_rest(e: &Engine, out: &mut Vec<Event>) {
    while e.poll(out, 1 << 16, Duration::ZERO) > 0 {}
}

/// The first event of `kind_` naming `order_id`.
pub fn find(events: &[Event], kind_: u8, order_id: u64) -> Option<&Event> {
    events
        .iter()
        .find(|e| e.kind == kind_ && e.order_id == order_id)
}

/// Whether some event of `kind_` names `order_id`.
pub fn has(events: &[Event], kind_: u8, order_id: u64) -> bool {
    find(events, kind_, order_id).is_some()
}

/// The events naming `order_id`, as "kind/reason" strings, in per-symbol order.
pub fn story(events: &[Event], order_id: u64) -> Vec<String> {
    let mut v: Vec<&Event> = events.iter().filter(|e| e.order_id == order_id).collect();
    v.sort_by_key(|e| (e.symbol, e.symbol_seq));
    v.iter()
        .filter(|e| e.kind != kind::BOOK && e.kind != kind::TRADE)
        .map(|e| {
            if e.reason == 0 {
                e.kind_name().to_string()
            } else {
                format!("{}/{}", e.kind_name(), e.reason_name())
            }
        })
        .collect()
}

/// One line per event, for failure messages.
pub fn dump(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "  seq {} sym {} sseq {} cmd {} {} {} id {} px {} qty {} leaves {} maker {} taker {} detail {}",
                e.seq,
                e.symbol,
                e.symbol_seq,
                e.cmd_seq,
                e.kind_name(),
                e.reason_name(),
                e.order_id,
                e.price,
                e.qty,
                e.leaves_qty,
                e.maker_id,
                e.taker_id,
                e.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Per-symbol sequences are gap-free (1..=n) and engine sequence numbers unique.
pub fn check_sequences(events: &[Event]) {
    let mut per: HashMap<u32, Vec<u64>> = HashMap::new();
    let mut seqs: Vec<u64> = Vec::with_capacity(events.len());
    for e in events {
        seqs.push(e.seq);
        if e.kind == kind::ENGINE {
            assert_eq!(e.symbol, u32::MAX, "engine event with a symbol");
            assert_eq!(e.symbol_seq, 0, "engine event with a symbol_seq");
            continue;
        }
        per.entry(e.symbol).or_default().push(e.symbol_seq);
    }
    seqs.sort_unstable();
    let before = seqs.len();
    seqs.dedup();
    assert_eq!(
        before,
        seqs.len(),
        "duplicate engine event sequence numbers"
    );
    for (sym, mut v) in per {
        v.sort_unstable();
        let want: Vec<u64> = (1..=v.len() as u64).collect();
        assert!(
            v == want,
            "symbol {sym}: symbol_seq is not gap-free 1..={}: first differences {:?}",
            v.len(),
            v.iter()
                .zip(&want)
                .filter(|(a, b)| a != b)
                .take(5)
                .collect::<Vec<_>>()
        );
    }
}

/// A tiny deterministic RNG (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Thread names of this process (from /proc/self/task/*/comm).
pub fn thread_names() -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for t in rd.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("comm")) {
                v.push(s.trim().to_string());
            }
        }
    }
    v
}
