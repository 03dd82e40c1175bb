//! Pre-trade risk: every check passes at its limit and fails just above it with the limit
//! and the order's value in the event; the kill switch; account isolation; the journal
//! replaying risk decisions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{poll_until, quiet_config};
use hftbook_core::Side;
use hftbook_engine::config::{RiskLimits, RiskSection};
use hftbook_engine::journal::{Fsync, JournalOptions};
use hftbook_engine::record::{kind, order_type, reason, tif};
use hftbook_engine::{Engine, EngineConfig, Event, OrderRequest, SymbolConfig};

fn engine(limits: RiskLimits) -> (Engine, u32) {
    let mut cfg = quiet_config(1);
    cfg.risk = RiskSection {
        default: None,
        accounts: [(1, limits)].into_iter().collect(),
    };
    let e = Engine::new(cfg).unwrap();
    let s = e
        .add_symbol(
            "RSK",
            SymbolConfig {
                reference_price: Some(10_000),
                ..SymbolConfig::default()
            },
        )
        .unwrap();
    e.start().unwrap();
    (e, s)
}

fn order(s: u32, side: Side, px: i64, qty: u64, account: u32) -> OrderRequest {
    let mut r = OrderRequest::limit(s, side, px, qty);
    r.account = account;
    r
}

/// The first event about order `id` that is accepted or rejected.
fn outcome(e: &Engine, ev: &mut Vec<Event>, id: u64) -> Event {
    poll_until(e, ev, "the order's outcome", |v| {
        v.iter()
            .any(|x| x.order_id == id && matches!(x.kind, kind::ACCEPTED | kind::REJECTED))
    });
    *ev.iter()
        .find(|x| x.order_id == id && matches!(x.kind, kind::ACCEPTED | kind::REJECTED))
        .unwrap()
}

fn expect_reject(
    e: &Engine,
    ev: &mut Vec<Event>,
    r: OrderRequest,
    why: u8,
    detail: i64,
    limit: u64,
) {
    let id = e.submit(&r).unwrap();
    let o = outcome(e, ev, id);
    assert_eq!(
        (o.kind, o.reason_name(), o.detail, o.leaves_qty),
        (
            kind::REJECTED,
            hftbook_engine::REASONS[why as usize],
            detail,
            limit
        ),
        "{o:?}"
    );
}

fn expect_accept(e: &Engine, ev: &mut Vec<Event>, r: OrderRequest) -> u64 {
    let id = e.submit(&r).unwrap();
    let o = outcome(e, ev, id);
    assert_eq!(o.kind, kind::ACCEPTED, "{o:?}");
    id
}

#[test]
fn order_qty_notional_and_collar_at_and_above_their_limits() {
    let (e, s) = engine(RiskLimits {
        max_order_qty: Some(10),
        max_order_notional: Some("1000.00".into()),
        max_order_notional_nanos: Some(1_000_000_000_000),
        collar_ticks: Some(10),
        ..RiskLimits::default()
    });
    let mut ev = Vec::new();
    expect_accept(&e, &mut ev, order(s, Side::Buy, 9_990, 10, 1));
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Buy, 9_990, 11, 1),
        reason::RISK_ORDER_QTY,
        11,
        10,
    );
    // Notional: 100.00 x 10 = 1,000.00 (100,000 tick-lots) is at the limit.
    expect_accept(&e, &mut ev, order(s, Side::Buy, 10_000, 10, 1));
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Buy, 10_001, 10, 1),
        reason::RISK_ORDER_NOTIONAL,
        100_010,
        100_000,
    );
    // Collar: 10 ticks from the reference price 100.00.
    expect_accept(&e, &mut ev, order(s, Side::Sell, 10_010, 1, 1));
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Sell, 10_011, 1, 1),
        reason::RISK_PRICE_COLLAR,
        11,
        10,
    );
    // Other accounts have no limits.
    expect_accept(&e, &mut ev, order(s, Side::Sell, 20_000, 100, 2));
    e.stop(true, Duration::from_secs(5));
}

#[test]
fn position_counts_open_orders_on_the_side_that_increases_it() {
    let (e, s) = engine(RiskLimits {
        max_position: Some(5),
        ..RiskLimits::default()
    });
    let mut ev = Vec::new();
    let first = expect_accept(&e, &mut ev, order(s, Side::Buy, 9_000, 1, 1));
    // A modify changes the open lots counted: 1 -> 3.
    e.modify(first, None, Some(3), Some(s), 1, false).unwrap();
    poll_until(&e, &mut ev, "the modify", |v| {
        v.iter()
            .any(|x| x.order_id == first && x.kind == kind::MODIFIED && x.detail == 1)
    });
    expect_accept(&e, &mut ev, order(s, Side::Buy, 9_000, 2, 1));
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Buy, 9_000, 1, 1),
        reason::RISK_POSITION,
        6,
        5,
    );
    // Selling does not add to a long... it counts against the short side on its own.
    expect_accept(&e, &mut ev, order(s, Side::Sell, 11_000, 5, 1));
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Sell, 11_000, 1, 1),
        reason::RISK_POSITION,
        6,
        5,
    );
    // Fill 5 of the bids: long 5, no bids left open; buying more is refused, selling is not.
    let mut mkt = order(s, Side::Sell, 0, 5, 2);
    mkt.order_type = order_type::MARKET;
    mkt.tif = tif::IOC;
    e.submit(&mkt).unwrap();
    poll_until(&e, &mut ev, "5 lots traded", |v| {
        v.iter()
            .filter(|x| x.kind == kind::TRADE)
            .map(|x| x.qty)
            .sum::<u64>()
            == 5
    });
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Buy, 9_000, 1, 1),
        reason::RISK_POSITION,
        6,
        5,
    );
    e.stop(true, Duration::from_secs(5));
}

#[test]
fn open_orders_and_rate_limits() {
    let (e, s) = engine(RiskLimits {
        max_open_orders: Some(3),
        ..RiskLimits::default()
    });
    let mut ev = Vec::new();
    let ids: Vec<u64> = (0..3)
        .map(|i| expect_accept(&e, &mut ev, order(s, Side::Buy, 9_000 + i, 1, 1)))
        .collect();
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Buy, 8_000, 1, 1),
        reason::RISK_OPEN_ORDERS,
        4,
        3,
    );
    e.cancel(ids[0], Some(s), 1).unwrap();
    expect_accept(&e, &mut ev, order(s, Side::Buy, 8_000, 1, 1));
    // At the limit an IOC needs a slot too; with one free, an IOC that finds nothing takes it
    // and gives it back.
    let mut ioc = order(s, Side::Sell, 20_000, 1, 1);
    ioc.tif = tif::IOC;
    expect_reject(&e, &mut ev, ioc, reason::RISK_OPEN_ORDERS, 4, 3);
    e.cancel(ids[1], Some(s), 1).unwrap();
    let id = e.submit(&ioc).unwrap();
    poll_until(&e, &mut ev, "the IOC's end", |v| {
        v.iter()
            .any(|x| x.order_id == id && x.kind == kind::CANCELLED)
    });
    expect_accept(&e, &mut ev, order(s, Side::Buy, 8_000, 1, 1));
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Buy, 8_000, 1, 1),
        reason::RISK_OPEN_ORDERS,
        4,
        3,
    );
    e.stop(true, Duration::from_secs(5));

    let (e, s) = engine(RiskLimits {
        max_orders_per_second: Some(1.0),
        burst: Some(2),
        ..RiskLimits::default()
    });
    let mut ev = Vec::new();
    expect_accept(&e, &mut ev, order(s, Side::Buy, 9_000, 1, 1));
    expect_accept(&e, &mut ev, order(s, Side::Buy, 9_000, 1, 1));
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Buy, 9_000, 1, 1),
        reason::RISK_RATE,
        0,
        1,
    );
    e.stop(true, Duration::from_secs(5));
}

#[test]
fn kill_switch_and_account_isolation() {
    let (e, s) = engine(RiskLimits::default());
    let mut ev = Vec::new();
    let a = expect_accept(&e, &mut ev, order(s, Side::Buy, 9_000, 1, 1));
    let b = expect_accept(&e, &mut ev, order(s, Side::Buy, 9_001, 1, 2));
    // Account 2 cannot cancel account 1's order; the operator (account 0) can.
    e.cancel(a, Some(s), 2).unwrap();
    poll_until(&e, &mut ev, "not_owner", |v| {
        v.iter()
            .any(|x| x.order_id == a && x.reason == reason::NOT_OWNER)
    });
    e.modify(a, Some(9_005), None, Some(s), 2, false).unwrap();
    poll_until(&e, &mut ev, "two not_owner", |v| {
        v.iter()
            .filter(|x| x.order_id == a && x.reason == reason::NOT_OWNER)
            .count()
            == 2
    });
    // Kill account 1: its order is cancelled, new ones refused; account 2 trades on.
    e.kill(1, true).unwrap();
    poll_until(&e, &mut ev, "kill", |v| {
        v.iter().any(|x| {
            x.order_id == a && x.kind == kind::CANCELLED && x.reason == reason::KILL_SWITCH
        })
    });
    assert!(ev.iter().any(|x| x.kind == kind::ENGINE
        && x.reason == reason::KILL_SWITCH
        && x.account == 1
        && x.detail == 1));
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Buy, 9_000, 1, 1),
        reason::KILL_SWITCH,
        0,
        0,
    );
    expect_accept(&e, &mut ev, order(s, Side::Buy, 9_000, 1, 2));
    assert!(!ev
        .iter()
        .any(|x| x.order_id == b && x.kind == kind::CANCELLED));
    e.kill(1, false).unwrap();
    expect_accept(&e, &mut ev, order(s, Side::Buy, 9_000, 1, 1));
    assert!(e.kill(0, true).is_err());
    e.stop(true, Duration::from_secs(5));
}

#[test]
fn risk_decisions_replay_and_recovery_keeps_the_counts() {
    let dir = std::env::temp_dir().join(format!("hftbook-risk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg: EngineConfig = quiet_config(2);
    let base = RiskLimits {
        max_open_orders: Some(20),
        max_position: Some(40),
        ..RiskLimits::default()
    };
    cfg.risk.default = Some(base.clone());
    cfg.risk.accounts.insert(
        2,
        RiskLimits {
            max_orders_per_second: Some(100.0),
            burst: Some(30),
            ..base
        },
    );
    let e = Engine::with_journal(cfg, JournalOptions::new(&dir, Fsync::BATCH)).unwrap();
    let syms: Vec<u32> = ["X", "Y"]
        .iter()
        .map(|n| e.add_symbol(n, SymbolConfig::default()).unwrap())
        .collect();
    e.start().unwrap();
    let mut ev = Vec::new();
    for i in 0..400u64 {
        let s = syms[(i % 2) as usize];
        if i % 4 == 0 {
            // Account 1 rests bids far below: it fills its 20 open-order slots.
            e.submit(&order(s, Side::Buy, 50 + (i % 5) as i64, 1, 1))
                .unwrap();
        } else {
            // Account 2 trades with account 3 (no limits) around 100.
            let side = if i % 3 == 0 { Side::Sell } else { Side::Buy };
            e.submit(&order(s, side, 100 + (i % 5) as i64, 1 + i % 4, 2))
                .unwrap();
            let other = if side == Side::Buy {
                Side::Sell
            } else {
                Side::Buy
            };
            e.submit(&order(s, other, 100 + (i % 5) as i64, 1 + i % 4, 3))
                .unwrap();
        }
        if i == 300 {
            // Every order sent so far answered first: the kill is a priority command, and
            // on a loaded machine it would otherwise overtake account 2's queued orders
            // (all refused by the kill switch, none by the limits under test).
            let sent = (i / 4 + 1) + 2 * (i - i / 4);
            poll_until(&e, &mut ev, "every order answered", |ev: &[Event]| {
                ev.iter()
                    .filter(|x| x.kind == kind::ACCEPTED || x.kind == kind::REJECTED)
                    .count() as u64
                    >= sent
            });
            e.kill(2, true).unwrap();
        }
        e.poll(&mut ev, 4096, Duration::ZERO);
    }
    e.stop(true, Duration::from_secs(10));
    common::poll_rest(&e, &mut ev);
    let rej = |r: u8| {
        ev.iter()
            .filter(|x| x.kind == kind::REJECTED && x.reason == r)
            .count()
    };
    assert!(rej(reason::RISK_OPEN_ORDERS) > 0);
    assert!(rej(reason::RISK_RATE) + rej(reason::RISK_POSITION) > 0);
    assert!(rej(reason::KILL_SWITCH) > 0);
    let full = hftbook_engine::replay_journal(&dir, false).unwrap();
    assert_eq!(full.state_hash, e.state_hash().unwrap());
    assert_eq!(full.event_hash, e.event_hash().unwrap());
    // The recovered engine counts the open orders it holds against the limit.
    let rec = Engine::recover(&dir, Fsync::BATCH).unwrap();
    assert_eq!(rec.state_hash().unwrap(), e.state_hash().unwrap());
    rec.start().unwrap();
    let mut ev2 = Vec::new();
    let id = rec.submit(&order(syms[0], Side::Buy, 50, 1, 1)).unwrap();
    let o = outcome(&rec, &mut ev2, id);
    assert_eq!(o.reason, reason::RISK_OPEN_ORDERS, "{o:?}");
    // Account 2 is still killed after the restart.
    let id = rec.submit(&order(syms[0], Side::Buy, 50, 1, 2)).unwrap();
    assert_eq!(outcome(&rec, &mut ev2, id).reason, reason::KILL_SWITCH);
    rec.stop(true, Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_daily_loss_past_the_limit_turns_the_kill_switch_on() {
    let dir = std::env::temp_dir().join(format!("hftbook-loss-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = quiet_config(2);
    cfg.risk.accounts.insert(
        1,
        RiskLimits {
            max_daily_loss: Some("5.00".into()),
            max_daily_loss_nanos: Some(5_000_000_000),
            ..RiskLimits::default()
        },
    );
    let e = Engine::with_journal(cfg, JournalOptions::new(&dir, Fsync::BATCH)).unwrap();
    let s = e.add_symbol("LOSS", SymbolConfig::default()).unwrap();
    let other = e.add_symbol("OTHER", SymbolConfig::default()).unwrap();
    e.start().unwrap();
    let mut ev = Vec::new();
    // Buy 10 at 100.00, sell them at 99.70: -3.00, under the limit.
    e.submit(&order(s, Side::Sell, 10_000, 10, 2)).unwrap();
    e.submit(&order(s, Side::Buy, 10_000, 10, 1)).unwrap();
    e.submit(&order(s, Side::Buy, 9_970, 10, 3)).unwrap();
    e.submit(&order(s, Side::Sell, 9_970, 10, 1)).unwrap();
    poll_until(&e, &mut ev, "two trades", |v| {
        v.iter().filter(|x| x.kind == kind::TRADE).count() == 2
    });
    let resting = expect_accept(&e, &mut ev, order(other, Side::Buy, 50, 1, 1));
    // Another round: -3.00 more, -6.00 in all: past 5.00.
    e.submit(&order(s, Side::Sell, 10_000, 10, 2)).unwrap();
    e.submit(&order(s, Side::Buy, 10_000, 10, 1)).unwrap();
    e.submit(&order(s, Side::Buy, 9_970, 10, 3)).unwrap();
    e.submit(&order(s, Side::Sell, 9_970, 10, 1)).unwrap();
    poll_until(&e, &mut ev, "the kill switch", |v| {
        v.iter()
            .any(|x| x.kind == kind::ENGINE && x.reason == reason::KILL_SWITCH && x.account == 1)
    });
    // Its order on the other shard's symbol was cancelled; new ones are refused.
    poll_until(&e, &mut ev, "the cancel", |v| {
        v.iter()
            .any(|x| x.order_id == resting && x.reason == reason::KILL_SWITCH)
    });
    expect_reject(
        &e,
        &mut ev,
        order(other, Side::Buy, 50, 1, 1),
        reason::KILL_SWITCH,
        0,
        0,
    );
    assert!(e
        .drain_logs()
        .iter()
        .any(|l| l.message.contains("account 1 lost 6") && l.message.contains("max_daily_loss")));
    // A new session and the switch off: trading again, the loss counted from zero.
    e.end_session().unwrap();
    e.kill(1, false).unwrap();
    expect_accept(&e, &mut ev, order(other, Side::Buy, 50, 1, 1));
    e.stop(true, Duration::from_secs(5));
    let full = hftbook_engine::replay_journal(&dir, false).unwrap();
    assert_eq!(full.state_hash, e.state_hash().unwrap());
    assert_eq!(full.event_hash, e.event_hash().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Portfolio exposure: max_gross_exposure / max_net_exposure -------------------------

/// One lot at 100.00 (tick 0.01, lot 1) in nano-units of the quote currency.
const LOT_100: i64 = 100 * 1_000_000_000;

/// Limits from TOML text of an account table (`max_gross_exposure = "10000"` ...).
fn limits(toml: &str) -> RiskLimits {
    let c = EngineConfig::from_toml(&format!("[risk.accounts.1]\n{toml}"), None).unwrap();
    c.risk.accounts[&1].clone()
}

/// An engine of `shards` with `accounts` limited, and symbols EXA (shard 0) and EXB (the last
/// shard), both with reference price 100.00.
fn expo_engine(shards: usize, accounts: &[(u32, RiskLimits)]) -> (Engine, u32, u32) {
    let mut cfg = quiet_config(shards);
    cfg.risk.accounts = accounts.iter().cloned().collect();
    let e = Engine::new(cfg).unwrap();
    let sym = |name: &str, shard: usize| {
        e.add_symbol(
            name,
            SymbolConfig {
                reference_price: Some(10_000),
                shard: Some(shard),
                ..SymbolConfig::default()
            },
        )
        .unwrap()
    };
    let (a, b) = (sym("EXA", 0), sym("EXB", shards - 1));
    e.start().unwrap();
    (e, a, b)
}

/// Submit and wait until its trades are done (the fills of `qty` lots have been seen).
fn trade(e: &Engine, ev: &mut Vec<Event>, r: OrderRequest) {
    let id = e.submit(&r).unwrap();
    poll_until(e, ev, "the order filled", |v| {
        v.iter()
            .any(|x| x.order_id == id && x.kind == kind::FILL && x.leaves_qty == 0)
    });
}

#[test]
fn gross_exposure_counts_open_orders_and_passes_at_the_limit() {
    let (e, a, _) = expo_engine(1, &[(1, limits("max_gross_exposure = \"10000\""))]);
    let mut ev = Vec::new();
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 50, 1));
    // 100 lots at 100.00: exactly the limit.
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 50, 1));
    // One more lot, valued at its own price (99.00): 10,099.
    expect_reject(
        &e,
        &mut ev,
        order(a, Side::Buy, 9_900, 1, 1),
        reason::RISK_GROSS_EXPOSURE,
        10_099 * 1_000_000_000,
        10_000 * 1_000_000_000,
    );
    // Sells worth up to the open buys do not add to the gross (the buys could fill, or
    // these): 95 at 105.00 is 9,975.
    expect_accept(&e, &mut ev, order(a, Side::Sell, 10_500, 95, 1));
    // Open orders count at the mark (100.00), the new one at its price: 9,500 + 6 x 101.00.
    expect_reject(
        &e,
        &mut ev,
        order(a, Side::Sell, 10_100, 6, 1),
        reason::RISK_GROSS_EXPOSURE,
        10_106 * 1_000_000_000,
        10_000 * 1_000_000_000,
    );
    // Other accounts have no limits.
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 1_000, 2));
    e.stop(true, Duration::from_secs(5));
}

#[test]
fn exposure_adds_up_across_shards_and_a_smaller_position_makes_room() {
    let (e, a, b) = expo_engine(2, &[(1, limits("max_gross_exposure = \"10000\""))]);
    let mut ev = Vec::new();
    // 6,000 on shard 0 and 4,000 on shard 1.
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 60, 1));
    expect_accept(&e, &mut ev, order(b, Side::Buy, 10_000, 40, 1));
    for s in [b, a] {
        expect_reject(
            &e,
            &mut ev,
            order(s, Side::Buy, 10_000, 1, 1),
            reason::RISK_GROSS_EXPOSURE,
            101 * LOT_100,
            100 * LOT_100 as u64,
        );
    }
    // The bid fills: long 60 (same exposure); selling 30 of it makes room for 30 on the
    // other shard.
    trade(&e, &mut ev, order(a, Side::Sell, 10_000, 60, 2));
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 30, 3));
    trade(&e, &mut ev, order(a, Side::Sell, 10_000, 30, 1));
    expect_accept(&e, &mut ev, order(b, Side::Buy, 10_000, 30, 1));
    expect_reject(
        &e,
        &mut ev,
        order(b, Side::Buy, 10_000, 1, 1),
        reason::RISK_GROSS_EXPOSURE,
        101 * LOT_100,
        100 * LOT_100 as u64,
    );
    // Cancelling open orders makes room too.
    let bid = ev
        .iter()
        .find(|x| x.kind == kind::ACCEPTED && x.symbol == b && x.account == 1 && x.qty == 30)
        .unwrap()
        .order_id;
    e.cancel(bid, Some(b), 1).unwrap();
    poll_until(&e, &mut ev, "the cancel", |v| {
        v.iter()
            .any(|x| x.order_id == bid && x.kind == kind::CANCELLED)
    });
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 30, 1));
    e.stop(true, Duration::from_secs(5));
}

#[test]
fn net_exposure_nets_long_against_short_gross_does_not() {
    let (e, a, b) = expo_engine(
        2,
        &[
            (
                1,
                limits("max_gross_exposure = \"9000\"\nmax_net_exposure = \"5000\""),
            ),
            (4, limits("max_net_exposure = \"5000\"")),
        ],
    );
    let mut ev = Vec::new();
    for acct in [1, 4] {
        // Long 40 of EXA, short 40 of EXB: net 0, gross 8,000.
        expect_accept(&e, &mut ev, order(a, Side::Sell, 10_000, 40, 2));
        trade(&e, &mut ev, order(a, Side::Buy, 10_000, 40, acct));
        expect_accept(&e, &mut ev, order(b, Side::Buy, 10_000, 40, 3));
        trade(&e, &mut ev, order(b, Side::Sell, 10_000, 40, acct));
    }
    // Account 1: 10 more of EXA reach the gross limit (9,000) with the net at 1,000.
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 10, 1));
    // Buying back some of the short reduces both: passes at the limit.
    expect_accept(&e, &mut ev, order(b, Side::Buy, 10_000, 1, 1));
    expect_reject(
        &e,
        &mut ev,
        order(a, Side::Buy, 10_000, 1, 1),
        reason::RISK_GROSS_EXPOSURE,
        91 * LOT_100,
        90 * LOT_100 as u64,
    );
    // Account 4 (net limit only): net 0, so 50 lots more long pass, at the limit ...
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 50, 4));
    expect_reject(
        &e,
        &mut ev,
        order(b, Side::Buy, 10_000, 1, 4),
        reason::RISK_NET_EXPOSURE,
        51 * LOT_100,
        50 * LOT_100 as u64,
    );
    // ... and the short side has its own room: selling 50 more of EXB (net -5,000 if every
    // sell filled and no buy) passes, 51 do not.
    expect_accept(&e, &mut ev, order(b, Side::Sell, 10_000, 50, 4));
    expect_reject(
        &e,
        &mut ev,
        order(a, Side::Sell, 10_000, 1, 4),
        reason::RISK_NET_EXPOSURE,
        51 * LOT_100,
        50 * LOT_100 as u64,
    );
    e.stop(true, Duration::from_secs(5));
}

#[test]
fn a_reload_changes_the_exposure_limit_and_recounts() {
    let (e, a, _) = expo_engine(1, &[(1, limits("max_gross_exposure = \"10000\""))]);
    let mut ev = Vec::new();
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 100, 1));
    expect_reject(
        &e,
        &mut ev,
        order(a, Side::Buy, 10_000, 1, 1),
        reason::RISK_GROSS_EXPOSURE,
        101 * LOT_100,
        100 * LOT_100 as u64,
    );
    let reload = |toml: &str, ev: &mut Vec<Event>| {
        let mut cfg = quiet_config(1);
        if !toml.is_empty() {
            cfg.risk.accounts.insert(1, limits(toml));
        }
        e.reload(cfg).unwrap();
        // A loop of the shard after the reload runs with the new configuration.
        expect_accept(&e, ev, order(a, Side::Buy, 1, 1, 2));
        expect_accept(&e, ev, order(a, Side::Buy, 1, 1, 2));
    };
    reload("max_gross_exposure = \"20000\"", &mut ev);
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 1, 1));
    // Without a limit nothing is counted; set again, the shard counts what is open.
    reload("", &mut ev);
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 50, 1));
    reload("max_gross_exposure = \"20000\"", &mut ev);
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 49, 1));
    expect_reject(
        &e,
        &mut ev,
        order(a, Side::Buy, 10_000, 1, 1),
        reason::RISK_GROSS_EXPOSURE,
        201 * LOT_100,
        200 * LOT_100 as u64,
    );
    e.stop(true, Duration::from_secs(5));
}

#[test]
fn exposure_refusals_replay_and_recovery_recounts() {
    let dir = std::env::temp_dir().join(format!("hftbook-expo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = quiet_config(2);
    cfg.risk.accounts.insert(
        1,
        limits("max_gross_exposure = \"10000\"\nmax_net_exposure = \"8000\""),
    );
    let e = Engine::with_journal(cfg, JournalOptions::new(&dir, Fsync::BATCH)).unwrap();
    let sym = |name: &str, shard: usize| {
        e.add_symbol(
            name,
            SymbolConfig {
                reference_price: Some(10_000),
                shard: Some(shard),
                ..SymbolConfig::default()
            },
        )
        .unwrap()
    };
    let (a, b) = (sym("EXA", 0), sym("EXB", 1));
    e.start().unwrap();
    let mut ev = Vec::new();
    expect_accept(&e, &mut ev, order(a, Side::Buy, 10_000, 60, 1));
    expect_accept(&e, &mut ev, order(b, Side::Sell, 10_000, 40, 1));
    // Net: long side 6,000 + 2,100 on the other shard's symbol.
    expect_reject(
        &e,
        &mut ev,
        order(b, Side::Buy, 10_000, 21, 1),
        reason::RISK_NET_EXPOSURE,
        81 * LOT_100,
        80 * LOT_100 as u64,
    );
    expect_reject(
        &e,
        &mut ev,
        order(b, Side::Sell, 10_000, 1, 1),
        reason::RISK_GROSS_EXPOSURE,
        101 * LOT_100,
        100 * LOT_100 as u64,
    );
    e.stop(true, Duration::from_secs(10));
    common::poll_rest(&e, &mut ev);
    let full = hftbook_engine::replay_journal(&dir, false).unwrap();
    assert_eq!(full.state_hash, e.state_hash().unwrap());
    assert_eq!(full.event_hash, e.event_hash().unwrap());
    // The recovered engine counts the orders it holds (the other shard's too).
    let rec = Engine::recover(&dir, Fsync::BATCH).unwrap();
    rec.start().unwrap();
    let mut ev2 = Vec::new();
    expect_reject(
        &rec,
        &mut ev2,
        order(a, Side::Buy, 10_000, 1, 1),
        reason::RISK_GROSS_EXPOSURE,
        101 * LOT_100,
        100 * LOT_100 as u64,
    );
    rec.stop(true, Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_expired_gtd_order_gives_its_open_order_slot_back() {
    let (e, s) = engine(RiskLimits {
        max_open_orders: Some(1),
        ..RiskLimits::default()
    });
    let mut ev = Vec::new();
    let mut gtd = order(s, Side::Buy, 9_000, 5, 1);
    gtd.tif = tif::GTD;
    gtd.expire_at = e.now() + 30_000_000; // 30 ms
    let id = expect_accept(&e, &mut ev, gtd);
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Buy, 8_000, 1, 1),
        reason::RISK_OPEN_ORDERS,
        2,
        1,
    );
    poll_until(&e, &mut ev, "the GTD order's expiry", |v| {
        v.iter()
            .any(|x| x.order_id == id && x.kind == kind::EXPIRED)
    });
    // The slot is free again: the next order passes, the one after it does not.
    expect_accept(&e, &mut ev, order(s, Side::Buy, 8_000, 1, 1));
    expect_reject(
        &e,
        &mut ev,
        order(s, Side::Buy, 8_000, 1, 1),
        reason::RISK_OPEN_ORDERS,
        2,
        1,
    );
    e.stop(true, Duration::from_secs(5));
}

/// A from-scratch model of the portfolio exposure check (the module doc of `risk`): every
/// account's net position and open lots per symbol and side, and each symbol's mark, kept
/// from the events; an order's exposure summed over every symbol at the current marks.
#[derive(Default)]
struct ExposureModel {
    net: std::collections::HashMap<(u32, u32), i64>,
    open: std::collections::HashMap<(u32, u32, u8), u64>,
    marks: std::collections::HashMap<u32, i64>,
}

impl ExposureModel {
    /// One lot at one tick, nano-units (tick 0.01, lot 1).
    const PER: i128 = 10_000_000;

    fn apply(&mut self, x: &Event) {
        let lots = self.open.entry((x.account, x.symbol, x.side)).or_default();
        match x.kind {
            kind::ACCEPTED => *lots += x.qty,
            kind::FILL => {
                *lots = lots.saturating_sub(x.qty);
                let q = x.qty as i64;
                *self.net.entry((x.account, x.symbol)).or_default() +=
                    if x.side == 0 { q } else { -q };
                self.marks.insert(x.symbol, x.price);
            }
            kind::CANCELLED | kind::EXPIRED => *lots = lots.saturating_sub(x.qty),
            _ => {}
        }
    }

    /// The two ends of `account`'s reachable position in `sym`, valued at its mark.
    fn ends(&self, account: u32, sym: u32) -> (i128, i128) {
        let n = i128::from(self.net.get(&(account, sym)).copied().unwrap_or(0));
        let b = i128::from(self.open.get(&(account, sym, 0)).copied().unwrap_or(0));
        let s = i128::from(self.open.get(&(account, sym, 1)).copied().unwrap_or(0));
        let m = i128::from(self.marks.get(&sym).copied().unwrap_or(10_000));
        ((n + b) * m * Self::PER, (n - s) * m * Self::PER)
    }

    /// The refusal the engine owes the order (reason, exposure it would reach), if any.
    fn refusal(
        &self,
        r: &OrderRequest,
        syms: &[u32],
        gross: i128,
        net: i128,
    ) -> Option<(u8, i128)> {
        let v = i128::from(r.qty) * i128::from(r.price) * Self::PER;
        let buy = r.side == Side::Buy;
        let (mut rest_gross, mut up, mut down) = (0, 0, 0);
        let mut sym_gross = (0, 0);
        for &s in syms {
            let (hi, lo) = self.ends(r.account, s);
            up += hi.max(lo);
            down += hi.min(lo);
            let g = hi.abs().max(lo.abs());
            if s == r.symbol {
                let with = if buy {
                    (hi + v).abs().max(lo.abs())
                } else {
                    hi.abs().max((lo - v).abs())
                };
                sym_gross = (g, with);
            } else {
                rest_gross += g;
            }
        }
        if sym_gross.1 > sym_gross.0 && rest_gross + sym_gross.1 > gross {
            return Some((reason::RISK_GROSS_EXPOSURE, rest_gross + sym_gross.1));
        }
        let n = if buy { up + v } else { -(down - v) };
        (n > net).then_some((reason::RISK_NET_EXPOSURE, n))
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, .. proptest::prelude::ProptestConfig::default() })]

    /// The engine's exposure decisions (kept incrementally: running sums, terms revalued as
    /// marks move, one update per run of events; across shards, the published parts) equal
    /// a from-scratch computation at the current marks, over random orders and cancels of
    /// two limited accounts and a third that trades with them on three symbols, on one or
    /// two shards (each command waited for: no admission races, and every mark move
    /// republished before the next).
    #[test]
    fn exposure_decisions_equal_a_from_scratch_model(
        shards in 1usize..=2,
        ops in proptest::collection::vec(
            (0u32..3, 0usize..3, proptest::bool::ANY, 9_900i64..10_100, 1u64..30, 0u8..6),
            1..80,
        )
    ) {
        let (max_gross, max_net) = (5_000i128 * 1_000_000_000, 3_000i128 * 1_000_000_000);
        let (e, a, b) = expo_engine(shards, &[
            (1, limits("max_gross_exposure = \"5000\"")),
            (2, limits("max_net_exposure = \"3000\"")),
        ]);
        let c = e.add_symbol("EXC", SymbolConfig { reference_price: Some(10_000), ..SymbolConfig::default() }).unwrap();
        let syms = [a, b, c];
        let mut model = ExposureModel::default();
        let mut ev = Vec::new();
        let mut seen = 0;
        let mut live: Vec<(u64, u32, u32)> = Vec::new();
        for (k, &(acct, sym, buy, px, qty, what)) in ops.iter().enumerate() {
            let account = acct + 1;
            if what == 0 {
                // Cancel one of the account's orders, if it has one.
                if let Some(i) = live.iter().position(|o| o.1 == account) {
                    let (id, _, s) = live.swap_remove(i);
                    e.cancel(id, Some(s), account).unwrap();
                    poll_until(&e, &mut ev, "the cancel's outcome", |v| {
                        v[seen..].iter().any(|x| x.order_id == id && matches!(x.kind, kind::CANCELLED | kind::REJECTED))
                    });
                }
            } else {
                let side = if buy { Side::Buy } else { Side::Sell };
                let r = order(syms[sym], side, px, qty, account);
                let want = match account {
                    1 => model.refusal(&r, &syms, max_gross, i128::MAX),
                    2 => model.refusal(&r, &syms, i128::MAX, max_net),
                    _ => None,
                };
                let id = e.submit(&r).unwrap();
                let o = outcome(&e, &mut ev, id);
                let got = (o.kind == kind::REJECTED).then(|| (o.reason, i128::from(o.detail)));
                proptest::prop_assert_eq!(got, want, "op {} {:?} -> {:?}", k, r, o);
                if o.kind == kind::ACCEPTED {
                    live.push((id, account, syms[sym]));
                }
            }
            // Every event of the command before the next is modelled: a probe order (account
            // 3, far from the market) follows it on the same shard.
            let probe = e.submit(&order(syms[sym], Side::Buy, 1, 1, 3)).unwrap();
            outcome(&e, &mut ev, probe);
            for x in &ev[seen..] {
                model.apply(x);
            }
            seen = ev.len();
        }
        e.stop(true, Duration::from_secs(5));
    }
}
