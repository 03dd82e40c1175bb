//! `Report::Cancelled` carries the cancelled order's side, price and open lots, for every
//! kind of cancel (requested, IOC residual, market residual, STP maker, STP taker), on every
//! ladder.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use hftbook_core::*;

/// The `Cancelled` reports in a stream, as (id, side, price, qty, reason).
fn cancels(reports: &[Report]) -> Vec<(OrderId, Side, Price, Qty, CancelReason)> {
    reports
        .iter()
        .filter_map(|r| match *r {
            Report::Cancelled {
                id,
                side,
                price,
                qty,
                reason,
            } => Some((id, side, price, qty, reason)),
            _ => None,
        })
        .collect()
}

fn book<L: Ladder>() -> OrderBook<L> {
    let (clock, _) = Clock::manual(1);
    OrderBook::with_options(clock, QtyLimits::default(), StpMode::CancelNewest)
}

fn requested<L: Ladder>() {
    let mut b = book::<L>();
    let mut r = Vec::new();
    // Bids at a negative price (allowed: spreads, some futures).
    b.submit(&NewOrder::limit(Side::Buy, -12, 5).with_id(1), &mut r)
        .unwrap();
    b.submit(&NewOrder::limit(Side::Buy, -12, 3).with_id(2), &mut r)
        .unwrap();
    // An iceberg: 2 shown, 8 in reserve; the cancel takes both.
    b.submit(
        &NewOrder::limit(Side::Sell, 7, 10)
            .with_id(3)
            .with_display(2),
        &mut r,
    )
    .unwrap();
    // Part of it trades first: 10 - 1 = 9 open (1 shown, 8 reserve).
    b.submit(
        &NewOrder::limit(Side::Buy, 7, 1)
            .with_id(4)
            .with_tif(TimeInForce::Ioc),
        &mut r,
    )
    .unwrap();
    let o = b.order(3).unwrap();
    assert_eq!((o.visible, o.hidden), (1, 8));

    r.clear();
    assert_eq!(b.cancel(1, &mut r), Ok(5));
    assert_eq!(
        cancels(&r),
        [(1, Side::Buy, Price(-12), 5, CancelReason::Requested)]
    );
    assert_eq!(r.len(), 1);
    r.clear();
    // The level's last order: the level goes away, the report still has its price.
    assert_eq!(b.cancel(2, &mut r), Ok(3));
    assert_eq!(
        cancels(&r),
        [(2, Side::Buy, Price(-12), 3, CancelReason::Requested)]
    );
    r.clear();
    assert_eq!(b.cancel(3, &mut r), Ok(9));
    assert_eq!(
        cancels(&r),
        [(3, Side::Sell, Price(7), 9, CancelReason::Requested)]
    );
    assert!(b.is_empty());
    b.check_invariants().unwrap();
    // A second cancel is rejected: no Cancelled report.
    r.clear();
    assert!(b.cancel(3, &mut r).is_err());
    assert!(cancels(&r).is_empty());
}

fn ioc_and_market_residual<L: Ladder>() {
    let mut b = book::<L>();
    let mut r = Vec::new();
    b.submit(&NewOrder::limit(Side::Sell, 100, 4).with_id(1), &mut r)
        .unwrap();
    r.clear();
    // IOC buy of 10 at 101: 4 fill, 6 cancelled at its limit.
    let ex = b
        .submit(
            &NewOrder::limit(Side::Buy, 101, 10)
                .with_id(2)
                .with_tif(TimeInForce::Ioc),
            &mut r,
        )
        .unwrap();
    assert_eq!((ex.filled_qty, ex.cancelled_qty), (4, 6));
    assert_eq!(
        cancels(&r),
        [(2, Side::Buy, Price(101), 6, CancelReason::UnfilledIoc)]
    );
    // An IOC that does not cross at all: everything cancelled.
    r.clear();
    b.submit(
        &NewOrder::limit(Side::Sell, 105, 3)
            .with_id(3)
            .with_tif(TimeInForce::Ioc),
        &mut r,
    )
    .unwrap();
    assert_eq!(
        cancels(&r),
        [(3, Side::Sell, Price(105), 3, CancelReason::UnfilledIoc)]
    );
    // Market orders: the residual is shown at the side's sentinel, as in `Accepted`.
    b.submit(&NewOrder::limit(Side::Buy, 90, 2).with_id(4), &mut r)
        .unwrap();
    b.submit(&NewOrder::limit(Side::Sell, 110, 2).with_id(5), &mut r)
        .unwrap();
    r.clear();
    b.submit(&NewOrder::market(Side::Sell, 7).with_id(6), &mut r)
        .unwrap();
    assert!(matches!(r[0], Report::Accepted { price, .. } if price == Price::MIN));
    assert_eq!(
        cancels(&r),
        [(6, Side::Sell, Price::MIN, 5, CancelReason::UnfilledIoc)]
    );
    r.clear();
    b.submit(&NewOrder::market(Side::Buy, 3).with_id(7), &mut r)
        .unwrap();
    assert!(matches!(r[0], Report::Accepted { price, .. } if price == Price::MAX));
    assert_eq!(
        cancels(&r),
        [(7, Side::Buy, Price::MAX, 1, CancelReason::UnfilledIoc)]
    );
    assert!(b.is_empty());
    b.check_invariants().unwrap();
}

fn stp_maker<L: Ladder>() {
    let mut b = book::<L>();
    let mut r = Vec::new();
    // Account 1's iceberg at 100 (3 shown + 6 reserve), account 2's order at 100, and
    // account 1's order at 101.
    b.submit(
        &NewOrder::limit(Side::Sell, 100, 9)
            .with_id(1)
            .with_account(1)
            .with_display(3),
        &mut r,
    )
    .unwrap();
    b.submit(
        &NewOrder::limit(Side::Sell, 100, 2)
            .with_id(2)
            .with_account(2),
        &mut r,
    )
    .unwrap();
    b.submit(
        &NewOrder::limit(Side::Sell, 101, 4)
            .with_id(3)
            .with_account(1),
        &mut r,
    )
    .unwrap();
    r.clear();
    let ex = b
        .submit(
            &NewOrder::limit(Side::Buy, 101, 5)
                .with_id(4)
                .with_account(1)
                .with_stp(StpMode::CancelOldest),
            &mut r,
        )
        .unwrap();
    // Both own makers cancelled with their open lots (the iceberg's reserve included), on
    // the sell side at their own levels; the taker fills 2 and rests 3.
    assert_eq!(
        cancels(&r),
        [
            (1, Side::Sell, Price(100), 9, CancelReason::SelfTrade),
            (3, Side::Sell, Price(101), 4, CancelReason::SelfTrade),
        ]
    );
    assert_eq!((ex.filled_qty, ex.remaining_qty), (2, 3));
    b.check_invariants().unwrap();

    // cancel_both: the maker at its price, then the taker's residual at its limit.
    r.clear();
    let ex = b
        .submit(
            &NewOrder::limit(Side::Sell, 95, 8)
                .with_id(5)
                .with_account(1)
                .with_stp(StpMode::CancelBoth),
            &mut r,
        )
        .unwrap();
    assert_eq!(
        cancels(&r),
        [
            (4, Side::Buy, Price(101), 3, CancelReason::SelfTrade),
            (5, Side::Sell, Price(95), 8, CancelReason::SelfTrade),
        ]
    );
    assert_eq!(ex.cancelled_qty, 8);
    assert!(b.is_empty());
    b.check_invariants().unwrap();
}

fn stp_taker<L: Ladder>() {
    let mut b = book::<L>();
    let mut r = Vec::new();
    b.submit(
        &NewOrder::limit(Side::Buy, 50, 2).with_id(1).with_account(2),
        &mut r,
    )
    .unwrap();
    b.submit(
        &NewOrder::limit(Side::Buy, 50, 4).with_id(2).with_account(7),
        &mut r,
    )
    .unwrap();
    r.clear();
    // cancel_newest (the book's default): trades 2 with account 2, then meets its own
    // order and its residual 10 - 2 = 8 is cancelled at its limit.
    let ex = b
        .submit(
            &NewOrder::limit(Side::Sell, 48, 10)
                .with_id(3)
                .with_account(7),
            &mut r,
        )
        .unwrap();
    assert_eq!((ex.filled_qty, ex.cancelled_qty), (2, 8));
    assert_eq!(
        cancels(&r),
        [(3, Side::Sell, Price(48), 8, CancelReason::SelfTrade)]
    );
    // A market order stopped by STP: the sentinel price.
    r.clear();
    b.submit(
        &NewOrder::market(Side::Sell, 3).with_id(4).with_account(7),
        &mut r,
    )
    .unwrap();
    assert_eq!(
        cancels(&r),
        [(4, Side::Sell, Price::MIN, 3, CancelReason::SelfTrade)]
    );
    // A modify that re-enters matching and is stopped by STP: at its new price.
    b.submit(
        &NewOrder::limit(Side::Sell, 60, 5)
            .with_id(5)
            .with_account(7),
        &mut r,
    )
    .unwrap();
    r.clear();
    b.modify(5, Some(Price(50)), None, &mut r).unwrap();
    assert_eq!(
        cancels(&r),
        [(5, Side::Sell, Price(50), 5, CancelReason::SelfTrade)]
    );
    assert_eq!(b.len(), 1);
    b.check_invariants().unwrap();
}

fn all<L: Ladder>() {
    requested::<L>();
    ioc_and_market_residual::<L>();
    stp_maker::<L>();
    stp_taker::<L>();
}

#[test]
fn cancel_reports_skip() {
    all::<SkipLadder>();
}
#[test]
fn cancel_reports_btree() {
    all::<BTreeLadder>();
}
#[test]
fn cancel_reports_plain() {
    all::<PlainSkipLadder>();
}
