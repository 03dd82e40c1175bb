//! Protection: price bands, volatility halts, operator halts, the engine circuit breaker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{find, has, poll_until, quiet_config, story};
use hftbook_core::Side;
use hftbook_engine::record::{breaker, kind, reason, tif};
use hftbook_engine::{Engine, Event, OrderRequest, SymbolConfig};

fn rejected(ev: &[Event], id: u64) -> Option<(&'static str, i64)> {
    find(ev, kind::REJECTED, id).map(|e| (e.reason_name(), e.detail))
}

#[test]
fn price_bands_reject_with_the_edge() {
    let e = Engine::new(quiet_config(1)).unwrap();
    let x = e
        .add_symbol(
            "X",
            SymbolConfig {
                band_pct: Some(10.0),
                band_ticks: Some(50),
                reference_price: Some(1000),
                ..SymbolConfig::default()
            },
        )
        .unwrap();
    let y = e
        .add_symbol(
            "Y",
            SymbolConfig {
                band_pct: Some(5.0),
                reference_price: Some(1000),
                ..SymbolConfig::default()
            },
        )
        .unwrap();
    let open = e.add_symbol("Z", SymbolConfig::default()).unwrap();
    e.start().unwrap();
    let lim = |sym, side, px| e.submit(&OrderRequest::limit(sym, side, px, 1)).unwrap();
    // X: the tighter of 10 % (100 ticks) and 50 ticks applies: [950, 1050].
    let hi = lim(x, Side::Buy, 1051);
    let lo = lim(x, Side::Sell, 949);
    let edge_hi = lim(x, Side::Sell, 1050);
    let edge_lo = lim(x, Side::Buy, 950);
    // Y: 5 % of 1000 = [950, 1050].
    let y_hi = lim(y, Side::Sell, 1051);
    let y_ok = lim(y, Side::Sell, 1049);
    // No band configured: anything goes.
    let z = lim(open, Side::Buy, 1_000_000);
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "outcomes", |ev| {
        [hi, lo, edge_hi, edge_lo, y_hi, y_ok, z]
            .iter()
            .all(|&id| has(ev, kind::ACCEPTED, id) || has(ev, kind::REJECTED, id))
    });
    assert_eq!(rejected(&ev, hi), Some(("price_band", 1050)));
    assert_eq!(rejected(&ev, lo), Some(("price_band", 950)));
    assert_eq!(rejected(&ev, y_hi), Some(("price_band", 1050)));
    for id in [edge_hi, edge_lo, y_ok, z] {
        assert_eq!(story(&ev, id), ["accepted"], "order {id}");
    }
    // A modify out of the band is rejected too, and the order keeps its price.
    e.modify(edge_lo, Some(900), None, Some(x), 0, false)
        .unwrap();
    poll_until(&e, &mut ev, "the modify", |ev| {
        has(ev, kind::REJECTED, edge_lo)
    });
    assert_eq!(rejected(&ev, edge_lo), Some(("price_band", 950)));
    // After a trade the reference is the last trade: 1040 -> [990, 1090].
    lim(x, Side::Sell, 1040);
    let taker = lim(x, Side::Buy, 1040);
    poll_until(&e, &mut ev, "the trade", |ev| has(ev, kind::FILL, taker));
    let now_ok = lim(x, Side::Sell, 1085);
    let now_low = lim(x, Side::Buy, 985);
    poll_until(&e, &mut ev, "outcomes", |ev| {
        has(ev, kind::ACCEPTED, now_ok) && has(ev, kind::REJECTED, now_low)
    });
    assert_eq!(rejected(&ev, now_low), Some(("price_band", 990)));
    e.stop(true, Duration::from_secs(10));
}

fn status_events(ev: &[Event], sym: u32) -> Vec<(&'static str, i64)> {
    ev.iter()
        .filter(|e| e.kind == kind::STATUS && e.symbol == sym)
        .map(|e| (e.reason_name(), e.detail))
        .collect()
}

#[test]
fn volatility_halt_rejects_orders_keeps_cancels_and_resumes() {
    let e = Engine::new(quiet_config(1)).unwrap();
    let x = e
        .add_symbol(
            "X",
            SymbolConfig {
                halt_pct: Some(5.0),
                halt_window_ms: 60_000,
                halt_duration_ms: 300,
                ..SymbolConfig::default()
            },
        )
        .unwrap();
    e.start().unwrap();
    let lim = |side, px, qty| e.submit(&OrderRequest::limit(x, side, px, qty)).unwrap();
    let resting = lim(Side::Buy, 900, 5);
    lim(Side::Sell, 1000, 1);
    lim(Side::Buy, 1000, 1);
    // 4 % move: no halt.
    lim(Side::Sell, 1040, 1);
    let t2 = lim(Side::Buy, 1040, 1);
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "two trades", |ev| has(ev, kind::FILL, t2));
    assert!(status_events(&ev, x).is_empty(), "halted on a 4 % move");
    // 6 % from the window's low: halt.
    lim(Side::Sell, 1060, 1);
    let t3 = lim(Side::Buy, 1060, 1);
    poll_until(&e, &mut ev, "the halt", |ev| {
        !status_events(ev, x).is_empty()
    });
    assert!(
        has(&ev, kind::FILL, t3),
        "the trade that moved the price printed"
    );
    let (why, bps) = status_events(&ev, x)[0];
    assert_eq!(why, "volatility");
    assert_eq!(bps, 600, "move in basis points");
    assert_eq!(
        e.symbols().entries[x as usize]
            .live
            .status
            .load(std::sync::atomic::Ordering::Acquire),
        1
    );
    let refused = lim(Side::Buy, 1000, 1);
    e.cancel(resting, Some(x), 0).unwrap();
    poll_until(&e, &mut ev, "reject and cancel", |ev| {
        has(ev, kind::REJECTED, refused) && has(ev, kind::CANCELLED, resting)
    });
    assert_eq!(rejected(&ev, refused).map(|r| r.0), Some("halted"));
    // Resumes by itself after halt_duration_ms.
    poll_until(&e, &mut ev, "the resume", |ev| {
        status_events(ev, x).len() == 2
    });
    assert_eq!(status_events(&ev, x)[1].0, "trading");
    let after = lim(Side::Buy, 1000, 1);
    poll_until(&e, &mut ev, "an accept", |ev| {
        has(ev, kind::ACCEPTED, after)
    });
    e.stop(true, Duration::from_secs(10));
    common::check_sequences(&ev);
}

#[test]
fn operator_halt_and_resume() {
    let (e, s) = common::engine_with(quiet_config(2), &["X", "Y"]);
    let (x, y) = (s[0], s[1]);
    e.start().unwrap();
    let resting = e
        .submit(&OrderRequest::limit(x, Side::Buy, 100, 1))
        .unwrap();
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "accept", |ev| has(ev, kind::ACCEPTED, resting));
    e.halt(x).unwrap();
    poll_until(&e, &mut ev, "the halt", |ev| {
        !status_events(ev, x).is_empty()
    });
    assert_eq!(status_events(&ev, x)[0].0, "halted");
    let refused = e
        .submit(&OrderRequest::limit(x, Side::Buy, 100, 1))
        .unwrap();
    let other = e
        .submit(&OrderRequest::limit(y, Side::Buy, 100, 1))
        .unwrap();
    e.cancel(resting, Some(x), 0).unwrap();
    poll_until(&e, &mut ev, "outcomes", |ev| {
        has(ev, kind::REJECTED, refused)
            && has(ev, kind::ACCEPTED, other)
            && has(ev, kind::CANCELLED, resting)
    });
    assert_eq!(rejected(&ev, refused).map(|r| r.0), Some("halted"));
    // No auto-resume for an operator halt.
    std::thread::sleep(Duration::from_millis(50));
    e.poll(&mut ev, 100, Duration::from_millis(10));
    assert_eq!(status_events(&ev, x).len(), 1);
    e.resume_symbol(x).unwrap();
    poll_until(&e, &mut ev, "the resume", |ev| {
        status_events(ev, x).len() == 2
    });
    assert_eq!(status_events(&ev, x)[1].0, "trading");
    let ok = e
        .submit(&OrderRequest::limit(x, Side::Buy, 100, 1))
        .unwrap();
    poll_until(&e, &mut ev, "accept", |ev| has(ev, kind::ACCEPTED, ok));
    e.stop(true, Duration::from_secs(10));
}

fn breaker_events(ev: &[Event]) -> Vec<i64> {
    ev.iter()
        .filter(|e| e.kind == kind::ENGINE && e.reason == reason::BREAKER)
        .map(|e| e.detail)
        .collect()
}

#[test]
fn breaker_opens_half_opens_and_closes() {
    let mut cfg = quiet_config(2);
    cfg.breaker.enabled = true;
    cfg.breaker.window = 20;
    cfg.breaker.reject_rate = 0.5;
    cfg.breaker.cooldown_ms = 300;
    cfg.breaker.probe_orders = 5;
    cfg.breaker.max_queue_delay_us = 60_000_000;
    let (e, s) = common::engine_with(cfg, &["X", "Y"]);
    let (x, y) = (s[0], s[1]);
    e.start().unwrap();
    let resting = e.submit(&OrderRequest::limit(x, Side::Buy, 50, 1)).unwrap();
    let fok = OrderRequest {
        tif: tif::FOK,
        ..OrderRequest::limit(x, Side::Buy, 100, 10)
    };
    // 1 healthy + 19 unfillable FOKs: 95 % rejected over a window of 20.
    let floods: Vec<u64> = (0..19).map(|_| e.submit(&fok).unwrap()).collect();
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "breaker open", |ev| {
        breaker_events(ev).contains(&i64::from(breaker::OPEN))
    });
    for id in &floods {
        assert_eq!(rejected(&ev, *id).map(|r| r.0), Some("fok_not_fillable"));
    }
    assert_eq!(e.breaker_state(), breaker::OPEN);
    // Open: new orders rejected on every shard; cancels still work.
    let r1 = e.submit(&OrderRequest::limit(x, Side::Buy, 60, 1)).unwrap();
    let r2 = e.submit(&OrderRequest::limit(y, Side::Buy, 60, 1)).unwrap();
    e.cancel(resting, Some(x), 0).unwrap();
    poll_until(&e, &mut ev, "outcomes while open", |ev| {
        has(ev, kind::REJECTED, r1)
            && has(ev, kind::REJECTED, r2)
            && has(ev, kind::CANCELLED, resting)
    });
    assert_eq!(rejected(&ev, r1).map(|r| r.0), Some("breaker_open"));
    assert_eq!(rejected(&ev, r2).map(|r| r.0), Some("breaker_open"));
    // Half-open after the cool-down.
    poll_until(&e, &mut ev, "half open", |ev| {
        breaker_events(ev).contains(&i64::from(breaker::HALF_OPEN))
    });
    assert_eq!(e.breaker_state(), breaker::HALF_OPEN);
    // probe_orders healthy orders close it.
    let probes: Vec<u64> = (0..5)
        .map(|i| {
            e.submit(&OrderRequest::limit(x, Side::Buy, 60 + i, 1))
                .unwrap()
        })
        .collect();
    poll_until(&e, &mut ev, "closed", |ev| {
        breaker_events(ev).last() == Some(&i64::from(breaker::CLOSED))
    });
    for id in probes {
        assert_eq!(story(&ev, id), ["accepted"]);
    }
    assert_eq!(e.breaker_state(), breaker::CLOSED);
    assert_eq!(
        breaker_events(&ev),
        [
            i64::from(breaker::OPEN),
            i64::from(breaker::HALF_OPEN),
            i64::from(breaker::CLOSED)
        ]
    );
    let ok = e.submit(&OrderRequest::limit(y, Side::Buy, 60, 1)).unwrap();
    poll_until(&e, &mut ev, "normal again", |ev| {
        has(ev, kind::ACCEPTED, ok)
    });
    let logs = e.drain_logs();
    assert!(
        logs.iter().filter(|l| l.topic == "breaker").count() >= 3,
        "every transition is logged: {logs:?}"
    );
    e.stop(true, Duration::from_secs(10));
}

#[test]
fn breaker_half_open_reopens_on_unhealthy_probes() {
    let mut cfg = quiet_config(1);
    cfg.breaker.enabled = true;
    cfg.breaker.window = 10;
    cfg.breaker.reject_rate = 0.5;
    cfg.breaker.cooldown_ms = 100;
    cfg.breaker.probe_orders = 4;
    cfg.breaker.max_queue_delay_us = 60_000_000;
    let (e, s) = common::engine_with(cfg, &["X"]);
    e.start().unwrap();
    let fok = OrderRequest {
        tif: tif::FOK,
        ..OrderRequest::limit(s[0], Side::Buy, 100, 10)
    };
    for _ in 0..10 {
        e.submit(&fok).unwrap();
    }
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "half open", |ev| {
        breaker_events(ev).contains(&i64::from(breaker::HALF_OPEN))
    });
    for _ in 0..4 {
        e.submit(&fok).unwrap();
    }
    poll_until(&e, &mut ev, "reopened", |ev| breaker_events(ev).len() >= 3);
    assert_eq!(
        breaker_events(&ev)[..3],
        [
            i64::from(breaker::OPEN),
            i64::from(breaker::HALF_OPEN),
            i64::from(breaker::OPEN)
        ]
    );
    e.stop(true, Duration::from_secs(10));
}
