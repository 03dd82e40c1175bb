//! Batches: a plain-data command record (viewable as a numpy structured array) and a
//! validate-everything-then-apply driver.

use crate::book::OrderBook;
use crate::error::OrderError;
use crate::ladder::Ladder;
use crate::report::{Fill, OrderStatus, Reason, ReportSink};
use crate::types::{NewOrder, OrderType, Price, Side, StpMode, TimeInForce};

/// Command kinds.
pub mod kind {
    /// Submit a new order.
    pub const ADD: u8 = 0;
    /// Cancel `id`.
    pub const CANCEL: u8 = 1;
    /// Modify `id` to `price` / `qty` (0 keeps the current value of `qty`; `price` is
    /// always applied).
    pub const MODIFY: u8 = 2;
}

/// One command of a batch. `#[repr(C)]`, 48 bytes, no pointers: a numpy structured array
/// with `hftbook.COMMAND_DTYPE` is a `&[Command]` without copying.
///
/// Field codes: `side` 0 buy / 1 sell; `order_type` 0 limit / 1 market; `tif` 0 gtc / 1 ioc /
/// 2 fok; `post_only` 0/1; `stp` 0 = book default, 1 none, 2 cancel-newest, 3 cancel-oldest,
/// 4 cancel-both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Command {
    /// Order id (0 on an add: the book assigns one).
    pub id: u64,
    /// Limit price in ticks.
    pub price: i64,
    /// Lots.
    pub qty: u64,
    /// Iceberg display lots (0 = fully displayed).
    pub display_qty: u64,
    /// STP account (0 = none).
    pub account: u32,
    /// [`kind`] code.
    pub kind: u8,
    /// Side code.
    pub side: u8,
    /// Order type code.
    pub order_type: u8,
    /// Time-in-force code.
    pub tif: u8,
    /// Post-only flag.
    pub post_only: u8,
    /// STP mode code.
    pub stp: u8,
    /// Padding.
    pub _pad: [u8; 2],
}

const _: () = assert!(std::mem::size_of::<Command>() == 48);

impl Command {
    /// A limit add.
    pub fn add(side: Side, price: i64, qty: u64) -> Command {
        Command {
            kind: kind::ADD,
            side: side as u8,
            price,
            qty,
            ..Command::default()
        }
    }
    /// A market add.
    pub fn market(side: Side, qty: u64) -> Command {
        Command {
            order_type: 1,
            tif: 1,
            ..Command::add(side, 0, qty)
        }
    }
    /// A cancel.
    pub fn cancel(id: u64) -> Command {
        Command {
            kind: kind::CANCEL,
            id,
            ..Command::default()
        }
    }
    /// A modify.
    pub fn modify(id: u64, price: i64, qty: u64) -> Command {
        Command {
            kind: kind::MODIFY,
            id,
            price,
            qty,
            ..Command::default()
        }
    }
}

/// A row of a batch failed validation: which row, which field, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}: {field}: {message}")]
pub struct RowError {
    /// Row index.
    pub row: usize,
    /// Field name.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
    /// The underlying order error, when there is one.
    pub source_error: Option<OrderError>,
}

fn bad(row: usize, field: &'static str, value: u8) -> RowError {
    RowError {
        row,
        field,
        message: format!("code {value} is not valid"),
        source_error: None,
    }
}

/// Decode an add row into a [`NewOrder`] (codes only; rules are checked by the book).
///
/// # Errors
/// A [`RowError`] naming the field with an unknown code.
pub fn decode_add(row: usize, c: &Command) -> Result<NewOrder, RowError> {
    decode(c).ok_or_else(|| decode_error(row, c))
}

/// Decode an add row; `None` if a code is unknown (see [`decode_add`] for the error).
#[inline]
pub fn decode(c: &Command) -> Option<NewOrder> {
    let stp = match c.stp {
        0 => None,
        s => Some(StpMode::from_u8(s - 1)?),
    };
    if c.post_only > 1 {
        return None;
    }
    Some(NewOrder {
        id: c.id,
        side: Side::from_u8(c.side)?,
        order_type: OrderType::from_u8(c.order_type)?,
        price: Price(c.price),
        qty: c.qty,
        display_qty: c.display_qty,
        tif: TimeInForce::from_u8(c.tif)?,
        post_only: c.post_only == 1,
        account: c.account,
        stp,
    })
}

#[cold]
fn decode_error(row: usize, c: &Command) -> RowError {
    if Side::from_u8(c.side).is_none() {
        bad(row, "side", c.side)
    } else if OrderType::from_u8(c.order_type).is_none() {
        bad(row, "order_type", c.order_type)
    } else if TimeInForce::from_u8(c.tif).is_none() {
        bad(row, "tif", c.tif)
    } else if c.post_only > 1 {
        bad(row, "post_only", c.post_only)
    } else {
        bad(row, "stp", c.stp)
    }
}

/// Per-row outcome codes: `status` is an [`OrderStatus`] code; `reason` is 0 (none),
/// a [`crate::report::CancelReason`] code, or 10 + a [`crate::report::RejectReason`] code.
#[derive(Debug, Default, Clone)]
pub struct BatchOutcome {
    /// Order id per row (assigned ids included).
    pub order_ids: Vec<u64>,
    /// Status code per row.
    pub status: Vec<u8>,
    /// Reason code per row.
    pub reason: Vec<u8>,
    /// Lots filled per row.
    pub filled_qty: Vec<u64>,
    /// Lots resting after the row.
    pub remaining_qty: Vec<u64>,
    /// Every fill, in order.
    pub fills: Vec<Fill>,
}

/// One batch row's outcome: (order id, status code, reason code, filled, remaining).
#[inline]
fn row_of(ex: &crate::report::Execution) -> (u64, u8, u8, u64, u64) {
    (
        ex.order_id,
        ex.status as u8,
        reason_code(ex.reason),
        ex.filled_qty,
        ex.remaining_qty,
    )
}

/// Reason code of an add whose caller id was live when the row was applied.
pub const REASON_DUPLICATE_ID: u8 = 20;

/// Reason code of an [`Execution`](crate::report::Execution) reason.
pub fn reason_code(r: Option<Reason>) -> u8 {
    match r {
        None => 0,
        Some(Reason::Cancel(c)) => c as u8,
        Some(Reason::Reject(r)) => 10 + r as u8,
    }
}

struct Fills<'a>(&'a mut Vec<Fill>);
impl ReportSink for Fills<'_> {
    #[inline]
    fn report(&mut self, r: crate::report::Report) {
        if let crate::report::Report::Fill(f) = r {
            self.0.push(f);
        }
    }
}

/// Validate that every row decodes and is well-formed (codes, quantities, price range,
/// order rules). Nothing is applied. Whether a caller id is live depends on the rows before
/// it, so duplicates are per-row outcomes of [`apply`].
///
/// # Errors
/// The first bad row.
pub fn validate<L: Ladder>(
    book: &OrderBook<L>,
    cmds: &[Command],
    adds_only: bool,
) -> Result<(), RowError> {
    let limits = book.limits();
    let room = book.len() < (u32::MAX - 1) as usize;
    for (row, c) in cmds.iter().enumerate() {
        match if adds_only { kind::ADD } else { c.kind } {
            kind::ADD => {
                if room && add_row_ok(c, limits) {
                    continue;
                }
                // Something is wrong: find it the exact way, for the exact error.
                let o = decode_add(row, c)?;
                let mut o2 = o;
                // Live-id duplicates depend on earlier rows; they are checked while applying.
                o2.id = 0;
                book.validate(&o2).map_err(|e| row_error(row, e))?;
            }
            kind::CANCEL => {}
            kind::MODIFY => {
                Price::new_checked(c.price).map_err(|e| row_error(row, e))?;
                if c.qty != 0 && c.qty < book.limits().min_qty {
                    return Err(row_error(
                        row,
                        OrderError::QtyBelowMin {
                            qty: c.qty,
                            min_qty: book.limits().min_qty,
                        },
                    ));
                }
                if c.qty > book.limits().max_qty {
                    return Err(row_error(
                        row,
                        OrderError::QtyAboveMax {
                            qty: c.qty,
                            max_qty: book.limits().max_qty,
                        },
                    ));
                }
            }
            k => return Err(bad(row, "kind", k)),
        }
    }
    Ok(())
}

/// Whether an add row passes every check of [`decode`] and [`OrderBook::validate`] but the
/// live-id one, as one branch-light test (the common case of a batch; a `false` is
/// re-checked the exact way, which names the error).
#[inline]
fn add_row_ok(c: &Command, limits: crate::types::QtyLimits) -> bool {
    let codes =
        (c.side <= 1) & (c.order_type <= 1) & (c.tif <= 2) & (c.post_only <= 1) & (c.stp <= 4);
    let qty = (c.qty != 0) & (c.qty >= limits.min_qty) & (c.qty <= limits.max_qty);
    let iceberg = (c.display_qty > 0) & (c.display_qty < c.qty);
    let shape = if c.order_type == 0 {
        // Limit: price in range; post-only and iceberg need GTC.
        (Price::MIN.0..=Price::MAX.0).contains(&c.price)
            & ((c.post_only == 0 && !iceberg) | (c.tif == 0))
    } else {
        // Market: neither post-only nor iceberg.
        (c.post_only == 0) & !iceberg
    };
    codes & qty & (c.display_qty <= c.qty) & shape
}

/// The field an [`OrderError`] is about.
pub fn error_field(e: &OrderError) -> &'static str {
    match e {
        OrderError::PriceOutOfRange { .. }
        | OrderError::PriceNotOnTick { .. }
        | OrderError::PriceNotANumber { .. }
        | OrderError::MissingPrice => "price",
        OrderError::ZeroQuantity { field } => field,
        OrderError::QtyBelowMin { .. } | OrderError::QtyAboveMax { .. } => "qty",
        OrderError::DisplayAboveQty { .. } => "display_qty",
        OrderError::DuplicateOrderId { .. } | OrderError::UnknownOrder { .. } => "id",
        OrderError::InvalidTickSize { .. } => "tick_size",
        OrderError::InvalidCombination(_) | OrderError::BookFull => "order",
    }
}

fn row_error(row: usize, e: OrderError) -> RowError {
    RowError {
        row,
        field: error_field(&e),
        message: e.to_string(),
        source_error: Some(e),
    }
}

/// Validate the whole batch, then apply it. Business outcomes are per-row codes; a cancel or
/// modify of an order that is not resting gives status `Rejected` with reason
/// `10 + UnknownOrder`; an add whose caller id is live at that point gives `Rejected` with
/// reason [`REASON_DUPLICATE_ID`] and does nothing.
///
/// # Errors
/// The first invalid row; nothing is applied then.
pub fn apply<L: Ladder>(
    book: &mut OrderBook<L>,
    cmds: &[Command],
    out: &mut BatchOutcome,
) -> Result<(), RowError> {
    apply_with(book, cmds, false, out)
}

/// [`apply`], with `adds_only` treating every row as an add whatever its `kind` byte (for
/// arrays of new orders that have no `kind` field).
///
/// # Errors
/// The first invalid row; nothing is applied then.
pub fn apply_with<L: Ladder>(
    book: &mut OrderBook<L>,
    cmds: &[Command],
    adds_only: bool,
    out: &mut BatchOutcome,
) -> Result<(), RowError> {
    validate(book, cmds, adds_only)?;
    let n = cmds.len();
    // Reserved once and written in place: no zero-fill pass over the outputs and no
    // capacity check per row. Fills are reserved at one per two rows (W2 makes 0.4), so a
    // typical batch never reallocates and copies them; a result with far fewer gives the
    // spare capacity back at the end.
    out.order_ids.reserve(n);
    out.status.reserve(n);
    out.reason.reserve(n);
    out.filled_qty.reserve(n);
    out.remaining_qty.reserve(n);
    out.fills.reserve(n / 2 + 16);
    crate::mem::advise_huge_pages(out.order_ids.spare_capacity_mut());
    crate::mem::advise_huge_pages(out.filled_qty.spare_capacity_mut());
    crate::mem::advise_huge_pages(out.remaining_qty.spare_capacity_mut());
    crate::mem::advise_huge_pages(out.fills.spare_capacity_mut());
    let BatchOutcome {
        order_ids,
        status,
        reason,
        filled_qty,
        remaining_qty,
        fills,
    } = out;
    let rows = order_ids.spare_capacity_mut()[..n]
        .iter_mut()
        .zip(&mut status.spare_capacity_mut()[..n])
        .zip(&mut reason.spare_capacity_mut()[..n])
        .zip(&mut filled_qty.spare_capacity_mut()[..n])
        .zip(&mut remaining_qty.spare_capacity_mut()[..n]);
    let mut written = 0usize;
    let result = book.at_one_time(|book| {
        for (row, (c, ((((o_id, o_status), o_reason), o_filled), o_remaining))) in
            cmds.iter().zip(rows).enumerate()
        {
            let mut sink = Fills(fills);
            let (id, st, why, filled, remaining) = match if adds_only { kind::ADD } else { c.kind }
            {
                kind::ADD => {
                    let Some(o) = decode(c) else {
                        return Err(decode_error(row, c));
                    };
                    // Every rule but the live-id check was validated for the whole batch.
                    match book.submit_prevalidated(&o, &mut sink) {
                        Ok(ex) => row_of(&ex),
                        Err(_) => (c.id, OrderStatus::Rejected as u8, REASON_DUPLICATE_ID, 0, 0),
                    }
                }
                kind::CANCEL => match book.cancel(c.id, &mut ()) {
                    Ok(_) => (c.id, OrderStatus::Cancelled as u8, 1, 0, 0),
                    Err(_) => (c.id, OrderStatus::Rejected as u8, 13, 0, 0),
                },
                _ => {
                    let qty = (c.qty != 0).then_some(c.qty);
                    match book.modify(c.id, Some(Price(c.price)), qty, &mut sink) {
                        Ok(ex) => row_of(&ex),
                        Err(OrderError::UnknownOrder { .. }) => {
                            (c.id, OrderStatus::Rejected as u8, 13, 0, 0)
                        }
                        Err(_) => (c.id, OrderStatus::Rejected as u8, 0, 0, 0),
                    }
                }
            };
            o_id.write(id);
            o_status.write(st);
            o_reason.write(why);
            o_filled.write(filled);
            o_remaining.write(remaining);
            written += 1;
        }
        Ok(())
    });
    // SAFETY: the first `written` slots past each vector's length were initialised above
    // (capacity for `n >= written` of them was reserved).
    unsafe {
        order_ids.set_len(order_ids.len() + written);
        status.set_len(status.len() + written);
        reason.set_len(reason.len() + written);
        filled_qty.set_len(filled_qty.len() + written);
        remaining_qty.set_len(remaining_qty.len() + written);
    }
    if fills.capacity() > 2 * fills.len() + 4096 {
        fills.shrink_to_fit();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ladder::SkipLadder;
    use crate::types::QtyLimits;
    use proptest::prelude::*;

    fn edge_u64() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..6,
            Just(u64::MAX),
            Just(99),
            Just(100),
            Just(101),
            any::<u64>()
        ]
    }

    fn edge_price() -> impl Strategy<Value = i64> {
        prop_oneof![
            -5i64..5,
            Just(Price::MAX.0),
            Just(Price::MAX.0 + 1),
            Just(Price::MIN.0),
            Just(Price::MIN.0 - 1),
            Just(i64::MIN),
            any::<i64>()
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// The one-branch validity test of a batch's add rows agrees with decoding plus the
        /// book's own validation on every row, valid or not.
        #[test]
        fn add_row_ok_matches_the_exact_checks(
            side in 0u8..4, order_type in 0u8..3, tif in 0u8..4, post_only in 0u8..3,
            stp in 0u8..6, qty in edge_u64(), display_qty in edge_u64(), price in edge_price(),
        ) {
            let limits = QtyLimits { min_qty: 2, max_qty: 100 };
            let book: OrderBook<SkipLadder> = OrderBook::with_options(
                crate::clock::Clock::manual(1).0, limits, StpMode::default());
            let c = Command {
                id: 0, price, qty, display_qty, account: 0, kind: kind::ADD, side, order_type,
                tif, post_only, stp, _pad: [0; 2],
            };
            let exact = decode(&c).is_some_and(|o| book.validate(&o).is_ok());
            prop_assert_eq!(add_row_ok(&c, limits), exact, "{:?}", c);
        }
    }
}
