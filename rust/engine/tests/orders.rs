//! Engine-level order types: stop, stop-limit, GTD, DAY; and mass cancel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{engine_with, find, has, poll_until, quiet_config, story};
use hftbook_core::{Clock, Side};
use hftbook_engine::record::{kind, order_type, reason, tif};
use hftbook_engine::{Engine, OrderRequest, SymbolConfig};

fn stop(sym: u32, side: Side, stop_price: i64, qty: u64) -> OrderRequest {
    OrderRequest {
        order_type: order_type::STOP,
        stop_price,
        price: 0,
        ..OrderRequest::limit(sym, side, 0, qty)
    }
}

fn stop_limit(sym: u32, side: Side, stop_price: i64, price: i64, qty: u64) -> OrderRequest {
    OrderRequest {
        order_type: order_type::STOP_LIMIT,
        stop_price,
        ..OrderRequest::limit(sym, side, price, qty)
    }
}

#[test]
fn stops_trigger_on_the_last_trade() {
    let (e, s) = engine_with(quiet_config(1), &["X"]);
    let x = s[0];
    e.start().unwrap();
    let m1 = e
        .submit(&OrderRequest::limit(x, Side::Sell, 100, 1))
        .unwrap();
    let m2 = e
        .submit(&OrderRequest::limit(x, Side::Sell, 105, 10))
        .unwrap();
    let st = e.submit(&stop(x, Side::Buy, 100, 3)).unwrap();
    let sl = e.submit(&stop_limit(x, Side::Buy, 100, 104, 2)).unwrap();
    let far = e.submit(&stop(x, Side::Sell, 90, 4)).unwrap();
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "the stops accepted", |ev| {
        has(ev, kind::ACCEPTED, far)
    });
    assert!(!has(&ev, kind::TRIGGERED, st), "no trade yet, no trigger");
    let acc = find(&ev, kind::ACCEPTED, st).unwrap();
    assert_eq!(acc.detail, 100, "accepted stop carries its stop price");
    // A trade at 100 triggers both buy stops; the sell stop at 90 waits.
    let t = e
        .submit(&OrderRequest::limit(x, Side::Buy, 100, 1))
        .unwrap();
    poll_until(&e, &mut ev, "the triggers", |ev| {
        has(ev, kind::TRIGGERED, st) && has(ev, kind::TRIGGERED, sl)
    });
    poll_until(&e, &mut ev, "the stop's fill", |ev| {
        ev.iter()
            .filter(|x| x.kind == kind::FILL && x.order_id == st)
            .count()
            == 1
    });
    assert_eq!(story(&ev, m1), ["accepted", "fill"]);
    assert_eq!(story(&ev, t), ["accepted", "fill"]);
    assert_eq!(story(&ev, st), ["accepted", "triggered", "fill"]);
    let f = find(&ev, kind::FILL, st).unwrap();
    assert_eq!((f.price, f.qty, f.maker_id, f.leaves_qty), (105, 3, m2, 0));
    // The stop-limit at 104 cannot reach 105: it rests.
    assert_eq!(story(&ev, sl), ["accepted", "triggered"]);
    assert_eq!(story(&ev, far), ["accepted"]);
    let table = e.symbols();
    let top = table.entries[x as usize].live.reader.top();
    assert_eq!(top.bid.map(|l| (l.price.0, l.qty)), Some((104, 2)));
    assert_eq!(top.ask.map(|l| (l.price.0, l.qty)), Some((105, 7)));
    // A pending stop can be cancelled.
    e.cancel(far, Some(x), 0).unwrap();
    poll_until(&e, &mut ev, "the stop's cancel", |ev| {
        has(ev, kind::CANCELLED, far)
    });
    // A stop whose trigger the last trade (105) already passed fires at once.
    let now = e.submit(&stop(x, Side::Buy, 101, 1)).unwrap();
    poll_until(&e, &mut ev, "the immediate trigger", |ev| {
        has(ev, kind::FILL, now)
    });
    assert_eq!(story(&ev, now), ["accepted", "triggered", "fill"]);
    e.stop(true, Duration::from_secs(10));
    common::check_sequences(&ev);
}

#[test]
fn gtd_orders_expire_on_the_engine_clock() {
    let (clock, hand) = Clock::manual(1_000_000_000);
    let e = Engine::with_clock(quiet_config(1), clock).unwrap();
    let x = e.add_symbol("X", SymbolConfig::default()).unwrap();
    e.start().unwrap();
    let gtd = |side, px, at| OrderRequest {
        tif: tif::GTD,
        expire_at: at,
        ..OrderRequest::limit(x, side, px, 2)
    };
    let a = e.submit(&gtd(Side::Buy, 100, 1_000_005_000)).unwrap();
    let b = e.submit(&gtd(Side::Buy, 99, 1_000_900_000)).unwrap();
    let g = e.submit(&OrderRequest::limit(x, Side::Buy, 98, 2)).unwrap();
    // A pending GTD stop expires too.
    let st = e
        .submit(&OrderRequest {
            tif: tif::GTD,
            expire_at: 1_000_005_000,
            ..stop(x, Side::Sell, 50, 1)
        })
        .unwrap();
    // An expiry in the engine's past is refused at the producer.
    assert!(e.submit(&gtd(Side::Buy, 97, 999)).is_err());
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "accepts", |ev| has(ev, kind::ACCEPTED, st));
    // Time does not move: nothing expires, however long we wait.
    std::thread::sleep(Duration::from_millis(30));
    e.poll(&mut ev, 100, Duration::from_millis(10));
    assert!(!ev.iter().any(|x| x.kind == kind::EXPIRED), "expired early");
    hand.store(1_000_005_000, std::sync::atomic::Ordering::Relaxed);
    poll_until(&e, &mut ev, "the first expiries", |ev| {
        has(ev, kind::EXPIRED, a) && has(ev, kind::EXPIRED, st)
    });
    let x_ev = find(&ev, kind::EXPIRED, a).unwrap();
    assert_eq!(
        (x_ev.reason, x_ev.qty, x_ev.leaves_qty),
        (reason::EXPIRY, 2, 0)
    );
    assert!(!has(&ev, kind::EXPIRED, b));
    hand.store(1_000_900_000, std::sync::atomic::Ordering::Relaxed);
    poll_until(&e, &mut ev, "the second expiry", |ev| {
        has(ev, kind::EXPIRED, b)
    });
    assert_eq!(story(&ev, g), ["accepted"], "GTC stays");
    let top = e.symbols().entries[x as usize].live.reader.top();
    assert_eq!(top.bid.map(|l| l.price.0), Some(98));
    e.stop(true, Duration::from_secs(10));
    common::check_sequences(&ev);
}

#[test]
fn end_session_expires_day_orders_only() {
    let (e, s) = engine_with(quiet_config(2), &["X", "Y"]);
    e.start().unwrap();
    let day = |sym, px| OrderRequest {
        tif: tif::DAY,
        ..OrderRequest::limit(sym, Side::Buy, px, 3)
    };
    let d1 = e.submit(&day(s[0], 100)).unwrap();
    let d2 = e.submit(&day(s[1], 100)).unwrap();
    let dstop = e
        .submit(&OrderRequest {
            tif: tif::DAY,
            ..stop(s[0], Side::Sell, 50, 1)
        })
        .unwrap();
    let gtc = e
        .submit(&OrderRequest::limit(s[0], Side::Buy, 99, 3))
        .unwrap();
    // A DAY order filled before the close has nothing to expire.
    let filled = e.submit(&day(s[1], 101)).unwrap();
    e.submit(&OrderRequest::limit(s[1], Side::Sell, 101, 3))
        .unwrap();
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "the fill", |ev| has(ev, kind::FILL, filled));
    poll_until(&e, &mut ev, "accepts", |ev| {
        [d1, d2, dstop, gtc]
            .iter()
            .all(|&id| has(ev, kind::ACCEPTED, id))
    });
    e.end_session().unwrap();
    poll_until(&e, &mut ev, "the expiries", |ev| {
        [d1, d2, dstop].iter().all(|&id| has(ev, kind::EXPIRED, id))
    });
    e.stop(true, Duration::from_secs(10));
    common::poll_rest(&e, &mut ev);
    assert_eq!(story(&ev, gtc), ["accepted"]);
    assert_eq!(story(&ev, filled), ["accepted", "fill"]);
    assert_eq!(story(&ev, d1), ["accepted", "expired/expiry"]);
    assert_eq!(story(&ev, dstop), ["accepted", "expired/expiry"]);
    common::check_sequences(&ev);
}

#[test]
fn mass_cancel_by_account_side_and_symbol() {
    let (e, s) = engine_with(quiet_config(2), &["A", "B"]);
    let (a, b) = (s[0], s[1]);
    e.start().unwrap();
    let with = |sym, side, px, acct| OrderRequest {
        account: acct,
        ..OrderRequest::limit(sym, side, px, 1)
    };
    let a1_buy = e.submit(&with(a, Side::Buy, 90, 1)).unwrap();
    let a1_sell = e.submit(&with(a, Side::Sell, 110, 1)).unwrap();
    let a2_buy = e.submit(&with(a, Side::Buy, 91, 2)).unwrap();
    let b1_buy = e.submit(&with(b, Side::Buy, 90, 1)).unwrap();
    let b2_sell = e.submit(&with(b, Side::Sell, 110, 2)).unwrap();
    let a1_stop = e
        .submit(&OrderRequest {
            account: 1,
            ..stop(a, Side::Buy, 200, 1)
        })
        .unwrap();
    let all = [a1_buy, a1_sell, a2_buy, b1_buy, b2_sell, a1_stop];
    let mut ev = Vec::new();
    poll_until(&e, &mut ev, "accepts", |ev| {
        all.iter().all(|&id| has(ev, kind::ACCEPTED, id))
    });
    let cancelled = |ev: &[hftbook_engine::Event]| -> Vec<u64> {
        let mut v: Vec<u64> = all
            .iter()
            .copied()
            .filter(|&id| {
                ev.iter().any(|x| {
                    x.kind == kind::CANCELLED && x.order_id == id && x.reason == reason::MASS_CANCEL
                })
            })
            .collect();
        v.sort_unstable();
        v
    };
    e.mass_cancel(1, Some(a), Some(Side::Buy)).unwrap();
    poll_until(&e, &mut ev, "account 1's buys on A", |ev| {
        cancelled(ev).len() >= 2
    });
    assert_eq!(cancelled(&ev), [a1_buy, a1_stop]);
    e.mass_cancel(2, None, None).unwrap();
    poll_until(&e, &mut ev, "account 2 everywhere", |ev| {
        cancelled(ev).len() >= 4
    });
    let mut want = vec![a1_buy, a1_stop, a2_buy, b2_sell];
    want.sort_unstable();
    assert_eq!(cancelled(&ev), want);
    e.mass_cancel(0, None, None).unwrap();
    poll_until(&e, &mut ev, "the rest", |ev| cancelled(ev).len() == 6);
    let m = find(&ev, kind::CANCELLED, a2_buy).unwrap();
    assert_eq!((m.account, m.qty, m.leaves_qty), (2, 1, 0));
    for sym in [a, b] {
        let (_, bids, asks) = e.symbols().entries[sym as usize].live.reader.depth(10);
        assert!(bids.is_empty() && asks.is_empty(), "symbol {sym} not empty");
    }
    e.stop(true, Duration::from_secs(10));
    common::check_sequences(&ev);
}
