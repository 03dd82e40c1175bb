//! Positions and PnL kept by the shards: hand-computed fills (long, short, through zero,
//! partial closes, fees), readers on other threads, and the journal (snapshots and replay)
//! carrying them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{poll_until, quiet_config};
use hftbook_core::Side;
use hftbook_engine::journal::{Fsync, JournalOptions};
use hftbook_engine::record::kind;
use hftbook_engine::{Engine, OrderRequest, SymbolConfig};

fn order(sym: u32, side: Side, px: i64, qty: u64, account: u32) -> OrderRequest {
    let mut r = OrderRequest::limit(sym, side, px, qty);
    r.account = account;
    r
}

#[test]
fn positions_follow_hand_computed_fills_with_fees() {
    let e = Engine::new(quiet_config(1)).unwrap();
    let cfg = SymbolConfig {
        maker_fee_bps: -1,
        taker_fee_bps: 3,
        ..SymbolConfig::default()
    };
    let s = e.add_symbol("FEE", cfg).unwrap();
    e.start().unwrap();
    let mut ev = Vec::new();
    // Account 1 makes, account 2 takes: 1 buys 10 @ 100, then 10 @ 110.
    e.submit(&order(s, Side::Buy, 100, 10, 1)).unwrap();
    e.submit(&order(s, Side::Sell, 100, 10, 2)).unwrap();
    e.submit(&order(s, Side::Buy, 110, 10, 1)).unwrap();
    e.submit(&order(s, Side::Sell, 110, 10, 2)).unwrap();
    // Account 1 sells 25 @ 120 (through zero: closes 20, short 5) against account 2's bid.
    e.submit(&order(s, Side::Buy, 120, 25, 2)).unwrap();
    e.submit(&order(s, Side::Sell, 120, 25, 1)).unwrap();
    poll_until(&e, &mut ev, "3 trades", |v| {
        v.iter().filter(|x| x.kind == kind::TRADE).count() == 3
    });
    e.stop(true, Duration::from_secs(5));
    let pos = e.positions(None);
    assert_eq!(pos.len(), 2);
    let (a1, p1) = (pos[0].0, pos[0].2);
    let (a2, p2) = (pos[1].0, pos[1].2);
    assert_eq!((a1, a2), (1, 2));
    // Account 1: long 20 at 2100, sells 25 @ 120: realized 20*120 - 2100 = 300, short 5 @ 120.
    assert_eq!((p1.net, p1.cost, p1.realized), (-5, -600, 300));
    assert_eq!((p1.bought, p1.sold, p1.trades), (20, 25, 3));
    // Account 1 was maker on its two buys (rebate 1 bp) and taker on the sell (3 bps).
    assert_eq!(p1.fees_bps, -(100 * 10 + 110 * 10) + 3 * 120 * 25);
    // Account 2 mirrors it: short 20 then buys 25 as the maker.
    assert_eq!((p2.net, p2.cost, p2.realized), (5, 600, -300));
    assert_eq!(p2.fees_bps, 3 * (100 * 10 + 110 * 10) - 120 * 25);
    assert_eq!(p1.unrealized(130), -5 * 130 + 600);
    assert_eq!(e.positions(Some(2)).len(), 1);
    // Account 0 (anonymous flow) has no position.
    assert!(e.positions(Some(0)).is_empty());
}

#[test]
fn positions_survive_recovery_and_replay() {
    let dir = std::env::temp_dir().join(format!("hftbook-positions-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut o = JournalOptions::new(&dir, Fsync::BATCH);
    o.snapshot_every = 50;
    let e = Engine::with_journal(quiet_config(2), o).unwrap();
    let syms: Vec<u32> = ["A", "B"]
        .iter()
        .map(|n| e.add_symbol(n, SymbolConfig::default()).unwrap())
        .collect();
    e.start().unwrap();
    let mut ev = Vec::new();
    for i in 0..300u64 {
        let s = syms[(i % 2) as usize];
        let px = 100 + (i % 7) as i64;
        e.submit(&order(s, Side::Buy, px, 1 + i % 3, 1 + (i % 3) as u32))
            .unwrap();
        e.submit(&order(
            s,
            Side::Sell,
            px,
            1 + i % 4,
            1 + ((i + 1) % 3) as u32,
        ))
        .unwrap();
        e.poll(&mut ev, 4096, Duration::ZERO);
    }
    e.stop(true, Duration::from_secs(10));
    let before = e.positions(None);
    assert!(before.len() >= 4, "{before:?}");
    let rec = Engine::recover(&dir, Fsync::BATCH).unwrap();
    assert!(!rec.recovery().unwrap().snapshots.is_empty());
    assert_eq!(rec.positions(None), before);
    assert_eq!(rec.state_hash().unwrap(), e.state_hash().unwrap());
    let full = hftbook_engine::replay_journal(&dir, false).unwrap();
    assert_eq!(full.state_hash, e.state_hash().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}
