//! Lifecycle: pause / resume, graceful stop with full lanes, hot reload, configuration errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{engine_with, has, poll_rest, poll_until, quiet_config, story};
use hftbook_core::Side;
use hftbook_engine::record::{kind, reason};
use hftbook_engine::{Engine, EngineConfig, EngineError, Event, OrderRequest, SymbolConfig};

fn pause_events(ev: &[Event]) -> Vec<i64> {
    ev.iter()
        .filter(|e| e.kind == kind::ENGINE && e.reason == reason::PAUSE)
        .map(|e| e.detail)
        .collect()
}

/// Pause and wait until shard 0 has acknowledged it (its engine event).
fn pause_acked(e: &Engine, ev: &mut Vec<Event>) {
    e.pause().unwrap();
    let n = pause_events(ev).len();
    poll_until(e, ev, "the pause", |ev| pause_events(ev).len() > n);
}

#[test]
fn paused_engine_queues_orders_and_still_cancels() {
    let (e, s) = engine_with(quiet_config(1), &["X"]);
    let x = s[0];
    e.start().unwrap();
    let resting = e.submit(&OrderRequest::limit(x, Side::Buy, 90, 1)).unwrap();
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "accept", |ev| has(ev, kind::ACCEPTED, resting));
    pause_acked(&e, &mut ev);
    assert_eq!(pause_events(&ev), [1]);
    assert!(matches!(
        e.pause(),
        Err(EngineError::Lifecycle {
            action: "pause",
            ..
        })
    ));
    let sell = e
        .submit(&OrderRequest::limit(x, Side::Sell, 100, 2))
        .unwrap();
    let buy = e
        .submit(&OrderRequest::limit(x, Side::Buy, 100, 2))
        .unwrap();
    e.cancel(resting, Some(x), 0).unwrap();
    poll_until(&e, &mut ev, "the cancel while paused", |ev| {
        has(ev, kind::CANCELLED, resting)
    });
    // Give a running shard every chance to match, then check it did not.
    std::thread::sleep(Duration::from_millis(30));
    e.poll(&mut ev, 1000, Duration::from_millis(5));
    assert!(story(&ev, sell).is_empty() && story(&ev, buy).is_empty());
    e.resume().unwrap();
    poll_until(&e, &mut ev, "the match after resume", |ev| {
        has(ev, kind::FILL, buy)
    });
    assert_eq!(story(&ev, sell), ["accepted", "fill"]);
    assert_eq!(story(&ev, buy), ["accepted", "fill"]);
    assert_eq!(pause_events(&ev), [1, 0]);
    assert!(e.resume().is_err(), "resume of a running engine");
    e.stop(true, Duration::from_secs(10));
}

#[test]
fn paused_engine_rejects_orders_when_configured() {
    let mut cfg = quiet_config(1);
    cfg.engine.reject_when_paused = true;
    let (e, s) = engine_with(cfg, &["X"]);
    e.start().unwrap();
    let mut ev = Vec::new();
    pause_acked(&e, &mut ev);
    let r = e
        .submit(&OrderRequest::limit(s[0], Side::Buy, 100, 1))
        .unwrap();
    poll_until(&e, &mut ev, "the rejection", |ev| {
        has(ev, kind::REJECTED, r)
    });
    assert_eq!(story(&ev, r), ["rejected/paused"]);
    e.resume().unwrap();
    let ok = e
        .submit(&OrderRequest::limit(s[0], Side::Buy, 100, 1))
        .unwrap();
    poll_until(&e, &mut ev, "accept", |ev| has(ev, kind::ACCEPTED, ok));
    e.stop(true, Duration::from_secs(10));
}

/// A running engine with `n` orders stuck in its normal lane (paused, queue mode).
fn full_lanes(n: u64) -> (Engine, Vec<u64>, Vec<Event>) {
    let (e, s) = engine_with(quiet_config(1), &["X"]);
    e.start().unwrap();
    let mut ev = Vec::new();
    pause_acked(&e, &mut ev);
    let ids = (0..n)
        .map(|i| {
            e.submit(&OrderRequest::limit(s[0], Side::Buy, 100 + i as i64, 1))
                .unwrap()
        })
        .collect();
    assert_eq!(e.shard_stats()[0].depth.1, n);
    (e, ids, ev)
}

#[test]
fn stop_with_drain_processes_everything_queued() {
    let (e, ids, mut ev) = full_lanes(200);
    let rep = e.stop(true, Duration::from_secs(30));
    assert!(rep.clean, "{rep:?}");
    assert_eq!(rep.refused, 0);
    assert!(rep.drained >= 200, "{rep:?}");
    poll_rest(&e, &mut ev);
    for id in &ids {
        assert_eq!(story(&ev, *id), ["accepted"], "order {id}");
    }
    assert!(matches!(
        e.submit(&OrderRequest::limit(0, Side::Buy, 1, 1)),
        Err(EngineError::NotRunning { .. })
    ));
    assert!(e.cancel(ids[0], None, 0).is_err());
}

#[test]
fn stop_without_drain_refuses_queued_commands_visibly() {
    let (e, ids, mut ev) = full_lanes(200);
    let rep = e.stop(false, Duration::from_secs(30));
    assert!(rep.clean, "{rep:?}");
    assert_eq!(rep.refused, 200, "{rep:?}");
    poll_rest(&e, &mut ev);
    for id in &ids {
        assert_eq!(story(&ev, *id), ["rejected/shutdown"], "order {id}");
    }
}

#[test]
fn stop_of_a_never_started_engine_accounts_for_queued_commands() {
    for drain in [true, false] {
        let (e, s) = engine_with(quiet_config(2), &["X", "Y"]);
        let ids: Vec<u64> = (0..50)
            .map(|i| {
                e.submit(&OrderRequest::limit(s[i % 2], Side::Buy, 100, 1))
                    .unwrap()
            })
            .collect();
        let rep = e.stop(drain, Duration::from_secs(30));
        assert!(rep.clean, "{rep:?}");
        let mut ev = Vec::new();
        poll_rest(&e, &mut ev);
        let want = if drain {
            "accepted"
        } else {
            "rejected/shutdown"
        };
        for id in &ids {
            assert_eq!(story(&ev, *id), [want], "drain={drain}: order {id}");
        }
        if drain {
            assert_eq!((rep.drained, rep.refused), (50, 0), "{rep:?}");
        } else {
            assert_eq!(rep.refused, 50, "{rep:?}");
        }
    }
}

const BASE: &str = r#"
[engine]
shards = 2
batch_size = 64
[breaker]
enabled = false
[symbols.AAA]
tick_size = "0.01"
shard = 0
"#;

#[test]
fn hot_reload_applies_safe_keys_and_lists_restart_only_ones() {
    let cfg = EngineConfig::from_toml(BASE, Some("hftbook.toml")).unwrap();
    let e = Engine::new(cfg).unwrap();
    e.start().unwrap();
    let a = e.symbol_index("AAA").unwrap();
    let before = e
        .submit(&OrderRequest::limit(a, Side::Sell, 20_000, 1))
        .unwrap();
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "accept", |ev| has(ev, kind::ACCEPTED, before));
    let text = r#"
[engine]
shards = 4
batch_size = 8
[breaker]
enabled = false
cooldown_ms = 5
[symbols.AAA]
tick_size = "0.01"
shard = 0
band_ticks = 10
reference_price = "100.00"
[symbols.BBB]
tick_size = "0.01"
"#;
    let new = EngineConfig::from_toml(text, Some("hftbook.toml")).unwrap();
    let rep = e.reload(new).unwrap();
    assert!(
        rep.applied.contains(&"engine.batch_size".to_string()),
        "{rep:?}"
    );
    assert!(
        rep.applied.contains(&"breaker.cooldown_ms".to_string()),
        "{rep:?}"
    );
    assert!(
        rep.applied.iter().any(|k| k.starts_with("symbols.AAA")),
        "{rep:?}"
    );
    assert_eq!(rep.restart_only, ["engine.shards"]);
    assert_eq!(rep.added_symbols, ["BBB"]);
    let running = e.config();
    assert_eq!(running.engine.shards, 2, "restart-only key applied");
    assert_eq!(running.engine.batch_size, 8);
    assert_eq!(running.breaker.cooldown_ms, 5);
    assert_eq!(e.shards(), 2);
    // The band applies at once: reference 100.00 = 10000 ticks, +-10.
    let out = e
        .submit(&OrderRequest::limit(a, Side::Buy, 10_011, 1))
        .unwrap();
    let inside = e
        .submit(&OrderRequest::limit(a, Side::Buy, 10_010, 1))
        .unwrap();
    // The new symbol trades.
    let b = e.symbol_index("BBB").expect("BBB added");
    let bm = e
        .submit(&OrderRequest::limit(b, Side::Sell, 500, 2))
        .unwrap();
    let bt = e
        .submit(&OrderRequest::limit(b, Side::Buy, 500, 2))
        .unwrap();
    poll_until(&e, &mut ev, "outcomes", |ev| {
        has(ev, kind::REJECTED, out) && has(ev, kind::ACCEPTED, inside) && has(ev, kind::FILL, bt)
    });
    assert_eq!(story(&ev, out), ["rejected/price_band"]);
    assert_eq!(story(&ev, bm), ["accepted", "fill"]);
    let applied: Vec<&Event> = ev
        .iter()
        .filter(|x| x.kind == kind::ENGINE && x.reason == reason::CONFIG_APPLIED)
        .collect();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].detail, 1, "one restart-only key skipped");
    // An invalid file: rejected with an event, the running config stays.
    let err =
        EngineConfig::from_toml("[engine]\nbatch_size = 0\n", Some("hftbook.toml")).unwrap_err();
    e.config_rejected(&err);
    poll_until(&e, &mut ev, "the rejection event", |ev| {
        ev.iter()
            .any(|x| x.kind == kind::ENGINE && x.reason == reason::CONFIG_REJECTED)
    });
    assert_eq!(e.config().engine.batch_size, 8);
    let logs = e.drain_logs();
    assert!(
        logs.iter()
            .any(|l| l.topic == "config" && l.message.contains("engine.batch_size = 0")),
        "{logs:?}"
    );
    e.stop(true, Duration::from_secs(10));
}

#[test]
fn config_errors_name_key_value_and_rule() {
    let cases: &[(&str, &str, &str)] = &[
        ("engine = 3", "engine", "must be a table"),
        (
            "[engine]\nlane_capacity = 1",
            "engine.lane_capacity",
            "between 2",
        ),
        (
            "[engine]\npriority_capacity = 0",
            "engine.priority_capacity",
            "between 2",
        ),
        (
            "[engine]\nevent_capacity = 10",
            "engine.event_capacity",
            "between 64",
        ),
        ("[engine]\nbatch_size = 0", "engine.batch_size", "between 1"),
        (
            "[engine]\nfull_timeout_ms = -1",
            "engine.full_timeout_ms",
            "between 0",
        ),
        ("[engine]\nidle_spin = \"x\"", "engine.idle_spin", "integer"),
        ("[engine]\npark_ms = 0", "engine.park_ms", "between 1"),
        (
            "[engine]\npaused_orders = \"drop\"",
            "engine.paused_orders",
            "one of",
        ),
        (
            "[engine]\nkeep_events = 1",
            "engine.keep_events",
            "true or false",
        ),
        ("[breaker]\nwindow = 0", "breaker.window", "between 1"),
        ("[breaker]\nreject_rate = 0", "breaker.reject_rate", "> 0"),
        ("[breaker]\nbogus = 1", "breaker.bogus", "unknown key"),
        ("[symbols.X]\nband_pct = 0", "symbols.X.band_pct", "> 0"),
        (
            "[symbols.X]\nband_ticks = 0",
            "symbols.X.band_ticks",
            "between 1",
        ),
        ("[symbols.X]\nhalt_pct = -5", "symbols.X.halt_pct", "> 0"),
        (
            "[symbols.X]\nhalt_window_ms = 0",
            "symbols.X.halt_window_ms",
            "between 1",
        ),
        ("[symbols.X]\nstp = \"maybe\"", "symbols.X.stp", "one of"),
        ("[symbols.X]\ncolour = 1", "symbols.X.colour", "unknown key"),
        (
            "[symbols.\"bad name\"]\nlot_size = 1",
            "symbols.bad name",
            "1 to 32",
        ),
        (
            "[symbols.X]\nreference_price = true",
            "symbols.X.reference_price",
            "decimal",
        ),
        ("symbols = 1", "symbols", "must be a table"),
    ];
    for (text, key, rule) in cases {
        let err = EngineConfig::from_toml(text, Some("conf.toml")).unwrap_err();
        assert_eq!(err.key, *key, "{text}: {err}");
        assert!(err.rule.contains(rule), "{text}: {err}");
        assert_eq!(err.file.as_deref(), Some("conf.toml"));
    }
    // Symbols added at run time are checked as well.
    let e = Engine::new(quiet_config(2)).unwrap();
    e.add_symbol("OK", SymbolConfig::default()).unwrap();
    assert_eq!(
        e.add_symbol("OK", SymbolConfig::default()),
        Err(EngineError::DuplicateSymbol("OK".into()))
    );
    assert!(matches!(
        e.add_symbol("", SymbolConfig::default()),
        Err(EngineError::Invalid {
            field: "symbol",
            ..
        })
    ));
    assert!(matches!(
        e.add_symbol(
            "FAR",
            SymbolConfig {
                shard: Some(2),
                ..SymbolConfig::default()
            }
        ),
        Err(EngineError::Invalid { field: "shard", .. })
    ));
    assert!(e.start().is_ok());
    assert!(matches!(
        e.start(),
        Err(EngineError::Lifecycle {
            action: "start",
            ..
        })
    ));
    e.stop(true, Duration::from_secs(10));
}

/// Producers racing with `stop`: every submit that returned an order id has an outcome
/// (accepted or rejected) in the events; none is left in a lane when the shards exit.
#[test]
fn submits_racing_with_stop_are_never_lost() {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    for round in 0..20 {
        let mut cfg = common::quiet_config(2);
        cfg.engine.event_capacity = 1 << 20;
        let (e, s) = common::engine_with(cfg, &["A", "B"]);
        let e = Arc::new(e);
        e.start().unwrap();
        let go = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..3)
            .map(|t| {
                let (e, go, sym) = (e.clone(), go.clone(), s[t % 2]);
                std::thread::spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    let mut ids = Vec::new();
                    for i in 0..20_000u64 {
                        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
                        let px = if side == Side::Buy { 90 } else { 110 };
                        match e.submit(&OrderRequest::limit(sym, side, px, 1)) {
                            Ok(id) => ids.push(id),
                            Err(_) => break, // stopped
                        }
                    }
                    ids
                })
            })
            .collect();
        go.store(true, Ordering::Release);
        std::thread::sleep(Duration::from_micros(200 * (round % 5)));
        e.stop(true, Duration::from_secs(30));
        let sent: HashSet<u64> = producers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let mut ev = Vec::new();
        common::poll_rest(&e, &mut ev);
        let answered: HashSet<u64> = ev
            .iter()
            .filter(|x| x.kind == kind::ACCEPTED || x.kind == kind::REJECTED)
            .map(|x| x.order_id)
            .collect();
        let lost: Vec<_> = sent.difference(&answered).take(5).collect();
        assert!(
            lost.is_empty(),
            "round {round}: ids without an outcome: {lost:?}"
        );
    }
}
