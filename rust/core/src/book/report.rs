//! The report stream: every operation tells the caller what happened, in order.

use crate::types::{OrderId, Price, Qty, Side};

/// One trade between a resting (maker) order and an incoming (taker) order.
///
/// Plain data (`#[repr(C)]`, 64 bytes, no padding: the `zerocopy` derives prove it) so that a
/// slice of fills can be viewed as bytes or as a numpy structured array
/// (`hftbook.FILL_DTYPE`) without copying.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
    zerocopy::KnownLayout,
)]
#[repr(C)]
pub struct Fill {
    /// Trade sequence number in this book (1, 2, 3, ...).
    pub seq: u64,
    /// Timestamp of the operation that printed the trade (clock nanoseconds).
    pub ts: u64,
    /// Resting order.
    pub maker_id: OrderId,
    /// Incoming order.
    pub taker_id: OrderId,
    /// Trade price in ticks: always the maker's price.
    pub price: i64,
    /// Traded lots.
    pub qty: Qty,
    /// Lots the maker still has open after this trade (visible + iceberg reserve).
    pub maker_remaining: Qty,
    /// 0 = the taker bought, 1 = the taker sold.
    pub taker_side: u8,
    /// Padding, always zero.
    pub _pad: [u8; 7],
}

// The layout `hftbook._dtypes.FILL_DTYPE` mirrors (no hole: `IntoBytes` is derived).
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Fill>() == 64 && align_of::<Fill>() == 8);
    assert!(offset_of!(Fill, price) == 32 && offset_of!(Fill, maker_remaining) == 48);
    assert!(offset_of!(Fill, taker_side) == 56 && offset_of!(Fill, _pad) == 57);
};

impl Fill {
    /// The taker's side.
    pub fn taker_side(&self) -> Side {
        if self.taker_side == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }
}

/// Why an order's remaining quantity was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CancelReason {
    /// The owner asked for it.
    Requested = 1,
    /// IOC or market order: what did not fill at once is cancelled.
    UnfilledIoc = 2,
    /// Self-trade prevention cancelled it.
    SelfTrade = 3,
}

impl CancelReason {
    /// Snake-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            CancelReason::Requested => "requested",
            CancelReason::UnfilledIoc => "unfilled_ioc",
            CancelReason::SelfTrade => "self_trade",
        }
    }
}

/// Why a request was rejected by the matching rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RejectReason {
    /// A fill-or-kill order could not be filled completely at once.
    FokNotFillable = 1,
    /// A post-only order would have taken liquidity.
    PostOnlyWouldTake = 2,
    /// Cancel or modify of an order that is not resting (unknown, filled or cancelled).
    UnknownOrder = 3,
    /// A market or IOC order found nothing to trade against.
    NoLiquidity = 4,
    /// Self-trade prevention stopped the order before it traded at all.
    SelfTrade = 5,
}

impl RejectReason {
    /// Snake-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::FokNotFillable => "fok_not_fillable",
            RejectReason::PostOnlyWouldTake => "post_only_would_take",
            RejectReason::UnknownOrder => "unknown_order",
            RejectReason::NoLiquidity => "no_liquidity",
            RejectReason::SelfTrade => "self_trade",
        }
    }
}

/// The one table of reason codes a batch row (`BatchOutcome::reason`, numpy `reason`) and
/// Python's `hftbook.REASON_NAMES` use: 0 none, 1–3 cancels ([`CancelReason`]), 11–15
/// rejections (10 + [`RejectReason`]), 16–21 the batch path's own refusals. The numbers are
/// part of the numpy interface and never change; new codes take new numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReasonCode {
    /// No reason: the row was accepted / filled / resting.
    None = 0,
    /// Cancelled: the owner asked for it.
    Requested = 1,
    /// Cancelled: what an IOC or market order did not fill at once.
    UnfilledIoc = 2,
    /// Cancelled by self-trade prevention.
    SelfTradeCancelled = 3,
    /// Rejected: a fill-or-kill order could not fill completely.
    FokNotFillable = 11,
    /// Rejected: a post-only order would have taken liquidity.
    PostOnlyWouldTake = 12,
    /// Rejected: the cancel or modify named an order that is not resting.
    UnknownOrder = 13,
    /// Rejected: a market or IOC order found nothing to trade against.
    NoLiquidity = 14,
    /// Rejected by self-trade prevention before it traded.
    SelfTradeRejected = 15,
    /// Rejected: a modify broke an order rule when it was applied (a price or quantity
    /// out of range for the book).
    Invalid = 16,
    /// Rejected: an add whose caller-given id was live when the row was applied.
    DuplicateOrderId = 20,
    /// Rejected: the book had no room for the order when the row was applied.
    NoRoom = 21,
}

impl ReasonCode {
    /// Every code, in numeric order.
    pub const ALL: [ReasonCode; 12] = [
        ReasonCode::None,
        ReasonCode::Requested,
        ReasonCode::UnfilledIoc,
        ReasonCode::SelfTradeCancelled,
        ReasonCode::FokNotFillable,
        ReasonCode::PostOnlyWouldTake,
        ReasonCode::UnknownOrder,
        ReasonCode::NoLiquidity,
        ReasonCode::SelfTradeRejected,
        ReasonCode::Invalid,
        ReasonCode::DuplicateOrderId,
        ReasonCode::NoRoom,
    ];

    /// Snake-case name ("" for none).
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasonCode::None => "",
            ReasonCode::Requested => CancelReason::Requested.as_str(),
            ReasonCode::UnfilledIoc => CancelReason::UnfilledIoc.as_str(),
            ReasonCode::SelfTradeCancelled => CancelReason::SelfTrade.as_str(),
            ReasonCode::FokNotFillable => RejectReason::FokNotFillable.as_str(),
            ReasonCode::PostOnlyWouldTake => RejectReason::PostOnlyWouldTake.as_str(),
            ReasonCode::UnknownOrder => RejectReason::UnknownOrder.as_str(),
            ReasonCode::NoLiquidity => RejectReason::NoLiquidity.as_str(),
            ReasonCode::SelfTradeRejected => RejectReason::SelfTrade.as_str(),
            ReasonCode::Invalid => "invalid",
            ReasonCode::DuplicateOrderId => "duplicate_order_id",
            ReasonCode::NoRoom => "no_room",
        }
    }

    /// Names indexed by code ("" where no code is assigned), for tables.
    pub fn names() -> Vec<&'static str> {
        let mut v = vec![""; ReasonCode::NoRoom as usize + 1];
        for r in ReasonCode::ALL {
            v[r as usize] = r.as_str();
        }
        v
    }

    /// The code of an execution's reason.
    pub const fn of(r: Option<Reason>) -> ReasonCode {
        match r {
            None => ReasonCode::None,
            Some(Reason::Cancel(CancelReason::Requested)) => ReasonCode::Requested,
            Some(Reason::Cancel(CancelReason::UnfilledIoc)) => ReasonCode::UnfilledIoc,
            Some(Reason::Cancel(CancelReason::SelfTrade)) => ReasonCode::SelfTradeCancelled,
            Some(Reason::Reject(RejectReason::FokNotFillable)) => ReasonCode::FokNotFillable,
            Some(Reason::Reject(RejectReason::PostOnlyWouldTake)) => ReasonCode::PostOnlyWouldTake,
            Some(Reason::Reject(RejectReason::UnknownOrder)) => ReasonCode::UnknownOrder,
            Some(Reason::Reject(RejectReason::NoLiquidity)) => ReasonCode::NoLiquidity,
            Some(Reason::Reject(RejectReason::SelfTrade)) => ReasonCode::SelfTradeRejected,
        }
    }

    /// The code of an operation the book refused with `e` while applying a row.
    pub const fn of_error(e: &crate::error::OrderError) -> ReasonCode {
        use crate::error::OrderError as E;
        match e {
            E::UnknownOrder { .. } => ReasonCode::UnknownOrder,
            E::DuplicateOrderId { .. } => ReasonCode::DuplicateOrderId,
            E::BookFull | E::OutOfMemory { .. } => ReasonCode::NoRoom,
            _ => ReasonCode::Invalid,
        }
    }
}

/// One event of the report stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// A new order passed validation and entered matching.
    Accepted {
        /// Order id (assigned or the caller's).
        id: OrderId,
        /// Side.
        side: Side,
        /// Limit price (for a market order: the sentinel [`Price::MAX`]/[`Price::MIN`]).
        price: Price,
        /// Total lots.
        qty: Qty,
        /// Timestamp.
        ts: u64,
    },
    /// A trade.
    Fill(Fill),
    /// Lots of an order were taken off the book or not allowed to rest.
    ///
    /// Carries what a venue's cancel acknowledgement carries (side, price, lots), so that a
    /// consumer needs no lookup of its own. Who is cancelled, by `reason`:
    ///
    /// - [`CancelReason::Requested`] ([`OrderBook::cancel`](crate::OrderBook::cancel)): the
    ///   resting order, at the price it rested at.
    /// - [`CancelReason::SelfTrade`], a resting maker (STP `cancel_oldest` / `cancel_both`):
    ///   the maker, on the side opposite the incoming order's, at its level's price.
    /// - [`CancelReason::SelfTrade`], the incoming order (STP `cancel_newest` /
    ///   `cancel_both`), and [`CancelReason::UnfilledIoc`] (IOC or market residual): the
    ///   incoming order (or a modified order that re-entered matching), on its side, at its
    ///   limit price — for a market order the sentinel [`Report::Accepted`] shows too:
    ///   [`Price::MAX`] for a buy, [`Price::MIN`] for a sell.
    Cancelled {
        /// Order id.
        id: OrderId,
        /// The cancelled order's side.
        side: Side,
        /// The cancelled order's price: the level it rested at, or an incoming order's limit
        /// (the sentinel [`Price::MAX`]/[`Price::MIN`] for a market order).
        price: Price,
        /// Lots cancelled, which is every lot the order still had open: for a requested
        /// cancel or an STP-cancelled maker, its open lots (displayed + iceberg reserve);
        /// for an IOC/market residual or an STP-stopped incoming order, the residual that
        /// was not allowed to rest (its lots minus what it filled in this operation).
        qty: Qty,
        /// Why.
        reason: CancelReason,
    },
    /// A modify was applied.
    Modified {
        /// Order id.
        id: OrderId,
        /// New price.
        price: Price,
        /// New open lots.
        qty: Qty,
        /// Whether the order kept its place in the queue.
        priority_kept: bool,
    },
    /// A request was refused by the matching rules. Nothing changed.
    Rejected {
        /// Order id.
        id: OrderId,
        /// Why.
        reason: RejectReason,
    },
    /// The order (or its residual) now rests on the book.
    Rested {
        /// Order id.
        id: OrderId,
        /// Price.
        price: Price,
        /// Open lots resting (visible + reserve).
        qty: Qty,
    },
}

/// Where reports go. Implemented for `Vec<Report>` (collect everything), `()` (discard) and
/// [`FillSink`] (keep only fills).
pub trait ReportSink {
    /// Receive one report.
    fn report(&mut self, report: Report);
}

impl ReportSink for Vec<Report> {
    #[inline]
    fn report(&mut self, report: Report) {
        self.push(report);
    }
}

impl ReportSink for () {
    #[inline]
    fn report(&mut self, _report: Report) {}
}

/// A sink that keeps only the fills (what batch callers need).
#[derive(Debug, Default, Clone)]
pub struct FillSink {
    /// Fills received, in order.
    pub fills: Vec<Fill>,
}

impl ReportSink for FillSink {
    #[inline]
    fn report(&mut self, report: Report) {
        if let Report::Fill(f) = report {
            self.fills.push(f);
        }
    }
}

/// Final state of an order after an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderStatus {
    /// Resting with nothing filled.
    New = 0,
    /// Resting, some filled.
    PartiallyFilled = 1,
    /// Completely filled.
    Filled = 2,
    /// Not resting; its remaining quantity was cancelled (IOC residual, STP, requested).
    Cancelled = 3,
    /// Refused; nothing changed.
    Rejected = 4,
}

impl OrderStatus {
    /// Snake-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Rejected => "rejected",
        }
    }
}

/// Why an order ended cancelled or rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// See [`CancelReason`].
    Cancel(CancelReason),
    /// See [`RejectReason`].
    Reject(RejectReason),
}

impl Reason {
    /// Snake-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Cancel(c) => c.as_str(),
            Reason::Reject(r) => r.as_str(),
        }
    }
}

/// Summary of one submit or modify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Execution {
    /// The order id.
    pub order_id: OrderId,
    /// Final status.
    pub status: OrderStatus,
    /// Lots filled by this operation.
    pub filled_qty: Qty,
    /// Lots left resting on the book after this operation.
    pub remaining_qty: Qty,
    /// Lots cancelled by this operation (IOC residual, STP).
    pub cancelled_qty: Qty,
    /// Why it was cancelled or rejected.
    pub reason: Option<Reason>,
}

#[cfg(test)]
mod reason_code_tests {
    use super::*;

    #[test]
    fn codes_keep_their_numbers_and_names() {
        let names = ReasonCode::names();
        assert_eq!(names.len(), 22);
        let named: Vec<(usize, &str)> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.is_empty())
            .map(|(i, n)| (i, *n))
            .collect();
        assert_eq!(
            named,
            [
                (1, "requested"),
                (2, "unfilled_ioc"),
                (3, "self_trade"),
                (11, "fok_not_fillable"),
                (12, "post_only_would_take"),
                (13, "unknown_order"),
                (14, "no_liquidity"),
                (15, "self_trade"),
                (16, "invalid"),
                (20, "duplicate_order_id"),
                (21, "no_room"),
            ]
        );
        // Every execution reason maps to the code of the same name.
        for r in [
            Reason::Cancel(CancelReason::Requested),
            Reason::Cancel(CancelReason::UnfilledIoc),
            Reason::Cancel(CancelReason::SelfTrade),
            Reason::Reject(RejectReason::FokNotFillable),
            Reason::Reject(RejectReason::PostOnlyWouldTake),
            Reason::Reject(RejectReason::UnknownOrder),
            Reason::Reject(RejectReason::NoLiquidity),
            Reason::Reject(RejectReason::SelfTrade),
        ] {
            let name = match r {
                Reason::Cancel(c) => c.as_str(),
                Reason::Reject(j) => j.as_str(),
            };
            assert_eq!(ReasonCode::of(Some(r)).as_str(), name);
        }
        assert_eq!(ReasonCode::of(None), ReasonCode::None);
    }
}
