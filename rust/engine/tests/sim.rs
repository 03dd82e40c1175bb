//! Simulation mode: the engine's shards driven in simulated time with calibrated background
//! flow; same seed, same config, same actions => the same events, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::quiet_config;
use hftbook_core::Side;
use hftbook_engine::record::kind;
use hftbook_engine::{Engine, EngineConfig, Event, OrderRequest, SimConfig, SymbolConfig};

fn sim_engine(shards: usize, seed: u64, rate: f64) -> Engine {
    let mut c: EngineConfig = quiet_config(shards);
    c.engine.book_events = true;
    for name in ["AAPL", "MSFT", "GOOG"] {
        let s = SymbolConfig {
            reference_price: Some(10_000),
            ..SymbolConfig::default()
        };
        c.symbols.insert(name.to_owned(), s);
    }
    let sim = SimConfig {
        seed,
        rate_per_s: rate,
        ..SimConfig::default()
    };
    let e = Engine::simulation(c, sim).unwrap();
    e.start().unwrap();
    e
}

fn run(e: &Engine, until: u64) -> Vec<Event> {
    let mut out = Vec::new();
    let mut t = 0;
    while t < until {
        t = e.sim_run(until, 0, &mut out).unwrap();
    }
    out
}

fn count(ev: &[Event], k: u8) -> usize {
    ev.iter().filter(|e| e.kind == k).count()
}

#[test]
fn background_flow_builds_books_and_trades_a_few_percent() {
    let e = sim_engine(1, 7, 50_000.0);
    let ev = run(&e, 1_000_000_000);
    let c = e.sim_counters().unwrap();
    assert!(c.background_orders > 20_000, "{c:?}");
    assert_eq!(c.now, 1_000_000_000);
    let accepted = count(&ev, kind::ACCEPTED);
    let trades = count(&ev, kind::TRADE);
    let rejected = count(&ev, kind::REJECTED);
    assert!(accepted > 10_000, "accepted {accepted}");
    assert!(trades > 0, "no trades");
    // A real book trades on a few percent of its messages, not on half of them.
    let messages = c.background_orders + c.background_cancels;
    assert!(
        (trades as f64) < 0.25 * messages as f64,
        "{trades} trades / {messages}"
    );
    assert!(rejected * 100 < accepted, "{rejected} rejections");
    // Events come in time order per symbol, at simulated times within the run.
    for s in 0..3 {
        let ts: Vec<u64> = ev
            .iter()
            .filter(|x| x.symbol == s)
            .map(|x| x.ts_processed)
            .collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        assert!(ts.last().is_some_and(|&t| t <= 1_000_000_000));
    }
    e.stop(true, Duration::from_secs(5));
}

#[test]
fn same_seed_same_events_across_shard_counts_and_steps() {
    let digest = |shards: usize, step: u64, seed: u64| {
        let e = sim_engine(shards, seed, 20_000.0);
        let mut out = Vec::new();
        let mut t = 0;
        let until = 300_000_000;
        // A strategy-like actor: a resting bid on account 9 at 1 ms.
        while t < until {
            let next = (t + step).min(until);
            t = e.sim_run(next, 0, &mut out).unwrap();
            if t == 1_000_000 {
                let mut r = OrderRequest::limit(0, Side::Buy, 9_990, 10);
                r.account = 9;
                e.submit(&r).unwrap();
            }
        }
        e.stop(true, Duration::from_secs(5));
        let h = e.state_hash().unwrap();
        let eh = e.event_hash().unwrap();
        let trades: Vec<(u64, i64, u64)> = out
            .iter()
            .filter(|x| x.kind == kind::TRADE)
            .map(|x| (x.ts_processed, x.price, x.qty))
            .collect();
        (h, eh, trades, out.len())
    };
    let a = digest(1, 1_000_000, 3);
    let b = digest(1, 1_000_000, 3);
    assert_eq!(a, b);
    let other_seed = digest(1, 1_000_000, 4);
    assert_ne!(a.0, other_seed.0);
    // Stepping in other sizes gives the same run (the actor acts at the same time).
    let c = digest(1, 500_000, 3);
    assert_eq!(a.0, c.0);
    assert_eq!(a.2, c.2);
    // Two shards: the same trades at the same times, the same number of events (the
    // state hash covers per-shard state, so it differs with the shard count).
    let d = digest(2, 1_000_000, 3);
    assert_eq!(a.2, d.2);
    assert_eq!(a.3, d.3);
}

#[test]
fn api_orders_arrive_after_the_entry_latency() {
    let e = sim_engine(1, 1, 1_000.0);
    let mut out = Vec::new();
    e.sim_run(5_000_000, 0, &mut out).unwrap();
    let mut r = OrderRequest::limit(1, Side::Buy, 1, 1);
    r.account = 5;
    let id = e.submit(&r).unwrap();
    out.clear();
    e.sim_run(6_000_000, 0, &mut out).unwrap();
    let acc = out
        .iter()
        .find(|x| x.order_id == id && x.kind == kind::ACCEPTED)
        .expect("accepted");
    assert_eq!(acc.ts_enqueued, 5_000_000);
    assert_eq!(
        acc.ts_processed,
        5_000_000 + SimConfig::default().order_entry_latency_ns
    );
}

#[test]
fn period_stops_at_the_end_of_the_first_busy_window() {
    let e = sim_engine(1, 2, 100_000.0);
    let mut out = Vec::new();
    let t = e.sim_run(1_000_000_000, 100_000, &mut out).unwrap();
    assert!(!out.is_empty());
    assert_eq!(t % 100_000, 0);
    assert!(out.iter().all(|x| x.ts_processed <= t));
    assert!(out.iter().any(|x| x.ts_processed > t - 100_000));
}

#[test]
fn not_in_simulation_mode_is_an_error() {
    let e = Engine::new(quiet_config(1)).unwrap();
    e.start().unwrap();
    assert!(e.sim_run(1, 0, &mut Vec::new()).is_err());
    e.stop(true, Duration::from_secs(5));
    let bad = SimConfig::from_json(r#"{"rate_per_s": -1}"#).unwrap_err();
    assert!(bad.to_string().contains("rate_per_s"), "{bad}");
    let unknown = SimConfig::from_json(r#"{"rate": 5}"#).unwrap_err();
    assert!(unknown.to_string().contains("rate"), "{unknown}");
}

#[test]
fn the_shipped_calibration_is_a_valid_flow() {
    let p = hftbook_engine::sim::FlowParams::calibrated();
    p.validate().unwrap();
    assert!(p.marketable_share > 0.0 && p.marketable_share < 0.5);
    assert!(p.life.cancelled_share > 0.5);
}

#[test]
fn a_journaled_simulation_replays_and_recovers_to_its_state() {
    use hftbook_engine::journal::{Fsync, JournalOptions};
    let dir = std::env::temp_dir().join(format!("hftbook-sim-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for shards in [1usize, 2] {
        let _ = std::fs::remove_dir_all(&dir);
        let mut c: EngineConfig = quiet_config(shards);
        c.engine.book_events = true;
        for name in ["AAPL", "MSFT"] {
            let s = SymbolConfig {
                reference_price: Some(10_000),
                ..SymbolConfig::default()
            };
            c.symbols.insert(name.to_owned(), s);
        }
        let sim = SimConfig {
            seed: 5,
            rate_per_s: 20_000.0,
            ..SimConfig::default()
        };
        let mut o = JournalOptions::new(&dir, Fsync::Never);
        o.snapshot_every = 2_000; // snapshots taken mid-run too
        let e = Engine::simulation_with_journal(c.clone(), sim.clone(), o).unwrap();
        e.start().unwrap();
        let mut out = Vec::new();
        let mut t = 0;
        let mut sent = false;
        while t < 200_000_000 {
            t = e.sim_run(200_000_000, 1_000_000, &mut out).unwrap();
            if t >= 50_000_000 && !sent {
                sent = true;
                let mut r = OrderRequest::limit(0, Side::Sell, 10_050, 7);
                r.account = 3;
                e.submit(&r).unwrap();
            }
        }
        assert!(out
            .iter()
            .any(|x| x.account == 3 && x.kind == kind::ACCEPTED));
        e.stop(true, Duration::from_secs(5));
        let (state, events) = (e.state_hash().unwrap(), e.event_hash().unwrap());
        drop(e);
        let rep = hftbook_engine::replay_journal(&dir, false).unwrap();
        assert_eq!(rep.state_hash, state, "{shards} shard(s)");
        assert_eq!(rep.event_hash, events, "{shards} shard(s)");
        let rec = Engine::recover(&dir, Fsync::Never).unwrap();
        assert_eq!(rec.state_hash().unwrap(), state);
        drop(rec);
        // A simulation never journals into an existing journal.
        let o = JournalOptions::new(&dir, Fsync::Never);
        assert!(Engine::simulation_with_journal(c, sim, o).is_err());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Subscriptions in simulation mode: a market-data subscriber sees the trades and book
/// changes `sim_run` returns (per symbol, in the same order), a snapshot it asks for arrives
/// inside the next `sim_run` even when nothing happens, and subscribing changes nothing in
/// the run itself.
#[test]
fn subscriptions_receive_the_simulation_and_its_snapshots() {
    use hftbook_engine::record::EVENT_SNAPSHOT;
    use hftbook_engine::Filter;
    use std::collections::BTreeMap;

    let market = (1 << kind::TRADE) | (1 << kind::BOOK) | (1 << kind::STATUS);
    let plain = sim_engine(2, 11, 20_000.0);
    let watched = sim_engine(2, 11, 20_000.0);
    let filter = Filter {
        kinds: market,
        ..Filter::default()
    };
    let sub = watched.subscribe(filter, 1 << 20, true);
    let (a, b) = (run(&plain, 50_000_000), run(&watched, 50_000_000));
    assert_eq!(a, b, "a subscriber changed the simulation");

    let mut got = Vec::new();
    while sub.pop_batch(&mut got, 1 << 16, Duration::ZERO) > 0 {}
    let per_symbol = |v: &[Event]| {
        let mut m: BTreeMap<u32, Vec<(u64, u8, i64, u64)>> = BTreeMap::new();
        for e in v.iter().filter(|e| market & (1 << e.kind) != 0) {
            m.entry(e.symbol)
                .or_default()
                .push((e.symbol_seq, e.kind, e.price, e.qty));
        }
        m
    };
    let want = per_symbol(&b);
    assert!(want.values().map(Vec::len).sum::<usize>() > 1_000);
    assert!(b.iter().any(|e| e.kind == kind::TRADE));
    assert_eq!(per_symbol(&got), want);
    assert!(got.iter().all(|e| e.flags & EVENT_SNAPSHOT == 0));

    // The books as the returned events built them (ticks -> lots), per symbol and side.
    let mut truth: BTreeMap<(u32, u8), BTreeMap<i64, u64>> = BTreeMap::new();
    for e in b.iter().filter(|e| e.kind == kind::BOOK) {
        let side = truth.entry((e.symbol, e.side)).or_default();
        if e.qty == 0 {
            side.remove(&e.price);
        } else {
            side.insert(e.price, e.qty);
        }
    }

    // A snapshot asked for while the market is quiet (no time passes): served all the same.
    sub.request_snapshot();
    let now = watched.sim_counters().unwrap().now;
    let mut quiet = Vec::new();
    watched.sim_run(now, 0, &mut quiet).unwrap();
    let mut snap = Vec::new();
    sub.pop_batch(&mut snap, 1 << 16, Duration::ZERO);
    let headers: Vec<&Event> = snap.iter().filter(|e| e.side == 2).collect();
    assert_eq!(headers.len(), 3, "one snapshot per symbol");
    assert!(snap.iter().all(|e| e.flags & EVENT_SNAPSHOT != 0));
    let mut seen: BTreeMap<(u32, u8), BTreeMap<i64, u64>> = BTreeMap::new();
    for e in snap.iter().filter(|e| e.side != 2) {
        seen.entry((e.symbol, e.side))
            .or_default()
            .insert(e.price, e.qty);
    }
    for (key, levels) in &seen {
        let best: Vec<(i64, u64)> = if key.1 == 0 {
            truth[key]
                .iter()
                .rev()
                .take(levels.len())
                .map(|(p, q)| (*p, *q))
                .collect()
        } else {
            truth[key]
                .iter()
                .take(levels.len())
                .map(|(p, q)| (*p, *q))
                .collect()
        };
        let mut mine: Vec<(i64, u64)> = levels.iter().map(|(p, q)| (*p, *q)).collect();
        if key.1 == 0 {
            mine.reverse();
        }
        assert_eq!(mine, best, "snapshot of {key:?}");
    }
    assert!(seen.len() >= 4, "the books have levels: {:?}", seen.keys());
    plain.stop(true, Duration::from_secs(5));
    watched.stop(true, Duration::from_secs(5));
    assert_eq!(plain.event_hash().unwrap(), watched.event_hash().unwrap());
    assert_eq!(plain.state_hash().unwrap(), watched.state_hash().unwrap());
}
