//! Basic end-to-end checks of the book on every ladder.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use hftbook_core::*;

fn run<L: Ladder>() {
    let mut b: OrderBook<L> = OrderBook::new();
    let mut r = Vec::new();
    for i in 0..10 {
        b.submit(&NewOrder::limit(Side::Sell, 100 + i, 10), &mut r)
            .unwrap();
        b.submit(&NewOrder::limit(Side::Buy, 90 - i, 10), &mut r)
            .unwrap();
    }
    b.check_invariants().unwrap();
    assert_eq!(b.best_ask().unwrap().price, Price(100));
    assert_eq!(b.best_bid().unwrap().price, Price(90));
    let ex = b
        .submit(&NewOrder::limit(Side::Buy, 102, 25), &mut r)
        .unwrap();
    assert_eq!(ex.status, OrderStatus::Filled);
    assert_eq!(b.best_ask().unwrap().price, Price(102));
    assert_eq!(b.best_ask().unwrap().qty, 5);
    b.check_invariants().unwrap();
    // far away levels, skiplist path
    for i in 0..50 {
        b.submit(&NewOrder::limit(Side::Sell, 100_000 + i * 1000, 1), &mut r)
            .unwrap();
    }
    let ex = b
        .submit(&NewOrder::market(Side::Buy, 1_000), &mut r)
        .unwrap();
    assert_eq!(ex.filled_qty, 5 + 70 + 50);
    assert!(b.best_ask().is_none());
    b.check_invariants().unwrap();
    for i in 0..5000 {
        b.submit(
            &NewOrder::limit(Side::Sell, 500 + (i * 7919) % 10_000, 1),
            &mut r,
        )
        .unwrap();
        b.check_invariants().unwrap();
    }
    let ex = b
        .submit(&NewOrder::market(Side::Buy, 6_000), &mut r)
        .unwrap();
    assert_eq!(ex.filled_qty, 5000);
    b.check_invariants().unwrap();
    let ex = b
        .submit(&NewOrder::market(Side::Sell, 1_000), &mut r)
        .unwrap();
    assert_eq!(ex.filled_qty, 100);
    assert!(b.is_empty());
}

#[test]
fn smoke_skip() {
    run::<SkipLadder>();
}
#[test]
fn smoke_btree() {
    run::<BTreeLadder>();
}
#[test]
fn smoke_plain() {
    run::<PlainSkipLadder>();
}
