//! When the order arena cannot grow, a new order is refused with a typed error before it
//! trades, and the book is exactly as it was. (The book used to match the order, fail to
//! store its residual silently, and report it `Rested`.) Growth failure is simulated with
//! the arena's chunk limit; `arena_oom.rs` makes the allocation itself fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hftbook_core::batch::{self, BatchOutcome, Command, REASON_NO_ROOM};
use hftbook_core::*;

/// Resting orders per arena chunk.
const CHUNK: u64 = 4096;

/// A book whose arena holds one chunk, with `n` resting orders: sells at 1000..1010, buys
/// at 900..910, ids 1..=n.
fn book_with(n: u64) -> OrderBook<SkipLadder> {
    let mut b: OrderBook<SkipLadder> = OrderBook::new();
    b.set_arena_chunk_limit(Some(1));
    for id in 1..=n {
        let mut o = if id % 2 == 0 {
            NewOrder::limit(Side::Sell, 1000 + (id % 10) as i64, 5)
        } else {
            NewOrder::limit(Side::Buy, 900 + (id % 10) as i64, 5)
        };
        o.id = id;
        b.submit(&o, &mut ()).unwrap();
    }
    b
}

/// Everything observable about the book.
fn state(b: &OrderBook<SkipLadder>) -> impl PartialEq + std::fmt::Debug {
    (
        b.len(),
        b.seq(),
        b.trade_count(),
        b.depth(Side::Buy, 100),
        b.depth(Side::Sell, 100),
        b.orders(Side::Buy),
        b.orders(Side::Sell),
    )
}

fn is_oom(e: &OrderError) -> bool {
    matches!(e, OrderError::OutOfMemory { .. }) && e.to_string().contains("order arena")
}

#[test]
fn an_order_that_would_rest_is_refused_before_anything_changes() {
    let mut b = book_with(CHUNK);
    let before = state(&b);
    let mut reports = Vec::new();
    // A passive order.
    let e = b
        .submit(&NewOrder::limit(Side::Buy, 950, 1), &mut reports)
        .unwrap_err();
    assert!(is_oom(&e), "{e}");
    assert!(e.is_capacity());
    // A marketable order that would sweep the 1000 level and rest the rest: it does not
    // trade either (the slot it would rest in is taken before matching).
    let e = b
        .submit(&NewOrder::limit(Side::Buy, 1000, 1_000_000), &mut reports)
        .unwrap_err();
    assert!(is_oom(&e), "{e}");
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(state(&b), before);
    b.check_invariants().unwrap();
}

#[test]
fn orders_that_do_not_rest_give_their_slot_back() {
    // One record short of full: each of these orders takes the last slot while it runs,
    // and must hand it back, or the next one would be refused.
    let mut b = book_with(CHUNK - 1);
    for i in 0..5_000u64 {
        let mut o = match i % 4 {
            // Fills completely against the best 5-lot sell (whose slot is freed too).
            0 => NewOrder::limit(Side::Buy, 1010, 5),
            // Nothing to trade at this price: IOC cancels it.
            1 => NewOrder {
                tif: TimeInForce::Ioc,
                ..NewOrder::limit(Side::Sell, 2000, 1)
            },
            // FOK that cannot fill: rejected before matching.
            2 => NewOrder {
                tif: TimeInForce::Fok,
                ..NewOrder::limit(Side::Buy, 1010, 1_000_000)
            },
            // Post-only that would take: rejected.
            _ => NewOrder {
                post_only: true,
                ..NewOrder::limit(Side::Sell, 900, 1)
            },
        };
        o.id = 1_000_000 + i;
        b.submit(&o, &mut ()).unwrap();
        // Keep the book one short of full: replace the maker the buy took.
        if i % 4 == 0 {
            let mut refill = NewOrder::limit(Side::Sell, 1005, 5);
            refill.id = 2_000_000 + i;
            b.submit(&refill, &mut ()).unwrap();
        }
    }
    assert_eq!(b.len() as u64, CHUNK - 1);
    b.submit(&NewOrder::limit(Side::Buy, 950, 1), &mut ())
        .unwrap();
    let e = b
        .submit(&NewOrder::limit(Side::Buy, 950, 1), &mut ())
        .unwrap_err();
    assert!(is_oom(&e), "{e}");
    b.check_invariants().unwrap();
}

#[test]
fn a_modify_that_requeues_reuses_its_own_slot_when_the_arena_is_full() {
    let mut b = book_with(CHUNK);
    // Price change: loses priority and re-queues; then a size increase at the new price.
    let ex = b.modify(3, Some(Price(920)), None, &mut ()).unwrap();
    assert_eq!((ex.status, ex.remaining_qty), (OrderStatus::New, 5));
    let ex = b.modify(3, None, Some(9), &mut ()).unwrap();
    assert_eq!(ex.remaining_qty, 9);
    // A crossing modify that sweeps the 1000 level (5-lot orders) and rests the rest.
    let at_1000 = b.volume_at(Price(1000));
    let ex = b.modify(3, Some(Price(1000)), Some(3000), &mut ()).unwrap();
    assert_eq!(ex.status, OrderStatus::PartiallyFilled);
    assert_eq!(ex.filled_qty, at_1000);
    assert_eq!(b.order(3).unwrap().qty, 3000 - at_1000);
    b.check_invariants().unwrap();
    assert_eq!(b.len() as u64, CHUNK - at_1000 / 5);
}

#[test]
fn a_batch_rejects_the_rows_it_has_no_room_for_and_applies_the_rest() {
    let mut b = book_with(CHUNK - 2);
    let cmds = [
        Command::add(Side::Buy, 950, 1),
        Command::add(Side::Buy, 951, 1),
        Command::add(Side::Buy, 952, 1),
        // Frees a slot for the next row.
        Command::cancel(2),
        Command::add(Side::Buy, 953, 1),
        Command::add(Side::Buy, 954, 1),
    ];
    let mut out = BatchOutcome::default();
    batch::apply(&mut b, &cmds, &mut out).unwrap();
    let rejected = OrderStatus::Rejected as u8;
    let new = OrderStatus::New as u8;
    assert_eq!(
        out.status,
        [
            new,
            new,
            rejected,
            OrderStatus::Cancelled as u8,
            new,
            rejected
        ]
    );
    assert_eq!(out.reason, [0, 0, REASON_NO_ROOM, 1, 0, REASON_NO_ROOM]);
    assert_eq!(b.volume_at(Price(952)), 0);
    assert_eq!(b.volume_at(Price(953)), 1);
    assert_eq!(b.len() as u64, CHUNK);
    b.check_invariants().unwrap();
}
