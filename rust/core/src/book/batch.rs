//! Batches: a plain-data command record (viewable as a numpy structured array) and a
//! validate-everything-then-apply driver.

use crate::book::OrderBook;
use crate::error::OrderError;
use crate::ladder::Ladder;
use crate::report::{Fill, OrderStatus, Reason, ReasonCode, ReportSink};
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

/// One command of a batch. `#[repr(C)]`, 48 bytes, no pointers and no padding: the layout of
/// a row of a numpy structured array with `hftbook.COMMAND_DTYPE`.
///
/// Plain data proven by the compiler: the `zerocopy` derives refuse to compile if the
/// struct had a padding byte (`IntoBytes`: every byte of a value is initialised, so a slice
/// of commands can be viewed as bytes) or a field with invalid bit patterns (`FromBytes`:
/// any 48 bytes, e.g. a row of a numpy array, are a `Command`). The last field used to end
/// at byte 44, leaving 4 uninitialised padding bytes per row; `_pad` now fills them.
///
/// Field codes: `side` 0 buy / 1 sell; `order_type` 0 limit / 1 market; `tif` 0 gtc / 1 ioc /
/// 2 fok; `post_only` 0/1; `stp` 0 = book default, 1 none, 2 cancel-newest, 3 cancel-oldest,
/// 4 cancel-both.
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
    /// Padding to the 8-byte boundary (ignored when applied; zero in the records the crate
    /// builds).
    pub _pad: [u8; 6],
}

// The layout `hftbook._dtypes.COMMAND_DTYPE` mirrors (no hole: `IntoBytes` is derived).
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Command>() == 48 && align_of::<Command>() == 8);
    assert!(offset_of!(Command, id) == 0 && offset_of!(Command, price) == 8);
    assert!(offset_of!(Command, qty) == 16 && offset_of!(Command, display_qty) == 24);
    assert!(offset_of!(Command, account) == 32 && offset_of!(Command, kind) == 36);
    assert!(offset_of!(Command, side) == 37 && offset_of!(Command, order_type) == 38);
    assert!(offset_of!(Command, tif) == 39 && offset_of!(Command, post_only) == 40);
    assert!(offset_of!(Command, stp) == 41 && offset_of!(Command, _pad) == 42);
};

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

#[cold]
fn bad(row: usize, field: &'static str, value: u8) -> RowError {
    RowError {
        row,
        field,
        message: format!("code {value} is not valid (valid: {})", valid_codes(field)),
        source_error: None,
    }
}

/// The valid codes of a command column and their names, for error messages.
fn valid_codes(field: &str) -> &'static str {
    match field {
        "kind" => "0 add, 1 cancel, 2 modify",
        "side" => "0 buy, 1 sell",
        "order_type" => "0 limit, 1 market",
        "tif" => "0 gtc, 1 ioc, 2 fok",
        "post_only" => "0 false, 1 true",
        "stp" => "0 book default, 1 none, 2 cancel_newest, 3 cancel_oldest, 4 cancel_both",
        _ => "see the dtype's documentation",
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

/// Per-row outcome codes: `status` is an [`OrderStatus`] code; `reason` a
/// [`ReasonCode`].
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
pub const REASON_DUPLICATE_ID: u8 = ReasonCode::DuplicateOrderId as u8;

/// Reason code of an add the book had no room for when the row was applied (the order
/// arena could not allocate, or the book holds the most orders it can index): nothing of
/// the row was applied.
pub const REASON_NO_ROOM: u8 = ReasonCode::NoRoom as u8;

/// Reason code of an [`Execution`](crate::report::Execution) reason.
pub const fn reason_code(r: Option<Reason>) -> u8 {
    ReasonCode::of(r) as u8
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
    // Nearly every row of a real batch is a plain add, cancel or modify, which one short
    // branch-free test clears; anything else (icebergs, post-only, market orders carrying a
    // price, bad rows) is checked the exact way, which names the error.
    let fast = FastCheck::new(book, adds_only);
    // Large batches: the fast test first runs on two threads (it is memory-bound, ~5 ns a
    // row on one core) and leaves only the row ranges that hold a refused row.
    let ranges = if cmds.len() >= PAR_MIN_ROWS {
        fast.refused_ranges(cmds)
    } else {
        vec![(0, cmds.len())]
    };
    for (start, end) in ranges {
        for (i, c) in cmds[start..end].iter().enumerate() {
            if !fast.clears(c) {
                validate_row(book, start + i, c, adds_only)?;
            }
        }
    }
    Ok(())
}

/// The helper thread's entry: a named frame, so instruction counts can include its work
/// (`benches/icount_gate.py` collects under `run_ops` and under this).
#[inline(never)]
fn validate_helper(work: &impl Fn() -> Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    work()
}

/// Batches of at least this many rows are validated on two threads.
const PAR_MIN_ROWS: usize = 1 << 17;
/// Rows per block the two threads take in turn.
const PAR_BLOCK: usize = 1 << 15;

/// Code bytes of a row (kind, side, order type, tif, post-only, STP) in one word, kind in
/// the low byte.
#[inline(always)]
fn code_word(c: &Command) -> u64 {
    u64::from_le_bytes([
        c.kind,
        c.side,
        c.order_type,
        c.tif,
        c.post_only,
        c.stp,
        0,
        0,
    ])
}

/// The high bit of each of the six code bytes.
const CODE_HIGH: u64 = 0x0000_8080_8080_8080;

/// A sufficient test for a valid row: whatever it clears, [`validate_row`] accepts (a
/// proptest checks this); it may refuse valid rows, which then take the exact path.
#[derive(Clone, Copy)]
struct FastCheck {
    /// Per byte, `0x7f - max` for the code bytes' largest plain values (kind 2, side 1,
    /// order type 1, tif 2, post-only 0, STP 4): a byte `b < 0x80` is at most its maximum
    /// iff `b + add` keeps the byte's high bit clear, and carries nothing.
    add: u64,
    /// Clears the kind byte when every row is an add.
    kind_mask: u64,
    /// Quantity limits as `qty - lo <= span`; `sane` is false if they admit nothing.
    lo: u64,
    span: u64,
    sane: bool,
    /// Room for another resting order.
    room: bool,
}

impl FastCheck {
    fn new<L: Ladder>(book: &OrderBook<L>, adds_only: bool) -> Self {
        let limits = book.limits();
        let lo = limits.min_qty.max(1);
        let max = [2u8, 1, 1, 2, 0, 4, 0x7f, 0x7f];
        FastCheck {
            add: u64::from_le_bytes(max.map(|m| 0x7f - m)),
            kind_mask: if adds_only { !0xff } else { !0 },
            lo,
            span: limits.max_qty.wrapping_sub(lo),
            sane: limits.max_qty >= lo,
            room: book.len() < (u32::MAX - 1) as usize,
        }
    }

    /// For each block (of [`PAR_BLOCK`] rows) holding a row the fast test refuses, in row
    /// order, the rows from the first refused one to the block's end. The calling thread
    /// and one helper take blocks in turn from a shared counter, so a helper the OS does
    /// not schedule delays nothing but its current block.
    fn refused_ranges(&self, cmds: &[Command]) -> Vec<(usize, usize)> {
        let blocks = cmds.len().div_ceil(PAR_BLOCK);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || {
            let mut refused = Vec::new();
            loop {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if b >= blocks {
                    return refused;
                }
                let (start, end) = (b * PAR_BLOCK, ((b + 1) * PAR_BLOCK).min(cmds.len()));
                if let Some(i) = cmds[start..end].iter().position(|c| !self.clears(c)) {
                    refused.push((start + i, end));
                }
            }
        };
        let mut refused = std::thread::scope(|s| {
            let helper = std::thread::Builder::new().spawn_scoped(s, || validate_helper(&work));
            let mut mine = work();
            match helper.map(|h| h.join()) {
                Ok(Ok(theirs)) => mine.extend(theirs),
                // Not started: this thread took every block.
                Err(_) => {}
                // Cannot happen (the test does not panic), but a lost block must not pass
                // unchecked: every block goes to the exact path.
                Ok(Err(_)) => mine = vec![(0, cmds.len())],
            }
            mine
        });
        refused.sort_unstable();
        refused
    }

    #[inline(always)]
    fn clears(&self, c: &Command) -> bool {
        let w = code_word(c) & self.kind_mask;
        let codes = (w | w.wrapping_add(self.add)) & CODE_HIGH == 0;
        let add = w & 0xff == u64::from(kind::ADD);
        // Price::MIN == -Price::MAX: one unsigned compare for the range.
        let price = (c.price.wrapping_add(Price::MAX.0) as u64) <= 2 * Price::MAX.0 as u64;
        let qty = (self.sane & (c.qty.wrapping_sub(self.lo) <= self.span)) | (!add & (c.qty == 0));
        // A market add takes no price (any other row goes to the exact check, which decides).
        let market_px = !add | (c.order_type == 0) | (c.price == 0);
        codes & price & qty & market_px & (c.display_qty == 0) & (self.room | !add)
    }
}

/// The exact checks of [`validate`] on one row.
#[cold]
#[inline(never)]
fn validate_row<L: Ladder>(
    book: &OrderBook<L>,
    row: usize,
    c: &Command,
    adds_only: bool,
) -> Result<(), RowError> {
    let limits = book.limits();
    let room = book.len() < (u32::MAX - 1) as usize;
    match if adds_only { kind::ADD } else { c.kind } {
        kind::ADD => {
            if room && add_row_ok(c, limits) {
                return Ok(());
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
            if c.qty != 0 && c.qty < limits.min_qty {
                return Err(row_error(
                    row,
                    OrderError::QtyBelowMin {
                        qty: c.qty,
                        min_qty: limits.min_qty,
                    },
                ));
            }
            if c.qty > limits.max_qty {
                return Err(row_error(
                    row,
                    OrderError::QtyAboveMax {
                        qty: c.qty,
                        max_qty: limits.max_qty,
                    },
                ));
            }
        }
        k => return Err(bad(row, "kind", k)),
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
        // Market: no price, neither post-only nor iceberg.
        (c.price == 0) & (c.post_only == 0) & !iceberg
    };
    codes & qty & (c.display_qty <= c.qty) & shape
}

/// The field an [`OrderError`] is about ([`OrderError::field`]).
pub fn error_field(e: &OrderError) -> &'static str {
    e.field()
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
/// reason [`REASON_DUPLICATE_ID`] and does nothing, and one the book has no room for
/// (out of memory) `Rejected` with [`REASON_NO_ROOM`].
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
                        // Validated already: a live caller id or no room.
                        Err(e) => (
                            c.id,
                            OrderStatus::Rejected as u8,
                            ReasonCode::of_error(&e) as u8,
                            0,
                            0,
                        ),
                    }
                }
                kind::CANCEL => match book.cancel(c.id, &mut ()) {
                    Ok(_) => (
                        c.id,
                        OrderStatus::Cancelled as u8,
                        ReasonCode::Requested as u8,
                        0,
                        0,
                    ),
                    Err(e) => (
                        c.id,
                        OrderStatus::Rejected as u8,
                        ReasonCode::of_error(&e) as u8,
                        0,
                        0,
                    ),
                },
                _ => {
                    let qty = (c.qty != 0).then_some(c.qty);
                    match book.modify(c.id, Some(Price(c.price)), qty, &mut sink) {
                        Ok(ex) => row_of(&ex),
                        // The book's own code for why (unknown order, no room, a rule).
                        Err(e) => (
                            c.id,
                            OrderStatus::Rejected as u8,
                            ReasonCode::of_error(&e) as u8,
                            0,
                            0,
                        ),
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
    // SAFETY: the first `written` slots past `order_ids`'s length were initialised above
    // (capacity for `n >= written` of them was reserved).
    unsafe { order_ids.set_len(order_ids.len() + written) };
    // SAFETY: the first `written` slots past `status`'s length were initialised above
    // (capacity for `n >= written` of them was reserved).
    unsafe { status.set_len(status.len() + written) };
    // SAFETY: the first `written` slots past `reason`'s length were initialised above
    // (capacity for `n >= written` of them was reserved).
    unsafe { reason.set_len(reason.len() + written) };
    // SAFETY: the first `written` slots past `filled_qty`'s length were initialised above
    // (capacity for `n >= written` of them was reserved).
    unsafe { filled_qty.set_len(filled_qty.len() + written) };
    // SAFETY: the first `written` slots past `remaining_qty`'s length were initialised above
    // (capacity for `n >= written` of them was reserved).
    unsafe { remaining_qty.set_len(remaining_qty.len() + written) };
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

    #[test]
    fn a_market_row_takes_no_price() {
        let limits = QtyLimits {
            min_qty: 1,
            max_qty: 100,
        };
        let book: OrderBook<SkipLadder> =
            OrderBook::with_options(crate::clock::Clock::manual(1).0, limits, StpMode::default());
        let mut c = Command::market(Side::Buy, 5);
        assert!(add_row_ok(&c, limits));
        assert_eq!(validate_row(&book, 0, &c, false), Ok(()));
        c.price = 100;
        assert!(!add_row_ok(&c, limits));
        let e = validate_row(&book, 3, &c, false).unwrap_err();
        assert_eq!((e.row, e.field), (3, "price"));
        assert_eq!(e.message, crate::types::MARKET_TAKES_NO_PRICE);
        assert!(matches!(
            e.source_error,
            Some(OrderError::InvalidCombination { field: "price", .. })
        ));
    }

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
                tif, post_only, stp, _pad: [0; 6],
            };
            let exact = decode(&c).is_some_and(|o| book.validate(&o).is_ok());
            prop_assert_eq!(add_row_ok(&c, limits), exact, "{:?}", c);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6000))]
        /// Whatever the fast test clears, the exact checks accept: it is a sufficient test.
        #[test]
        fn fast_check_clears_only_valid_rows(
            kind_ in 0u8..4, side in 0u8..3, order_type in 0u8..3, tif in 0u8..4,
            post_only in 0u8..3, stp in 0u8..6, qty in edge_u64(), display_qty in edge_u64(),
            price in edge_price(), adds_only in any::<bool>(), pad in any::<[u8; 6]>(),
            min_qty in prop_oneof![Just(1u64), Just(2), Just(100), Just(0)],
            max_qty in prop_oneof![Just(100u64), Just(1 << 48), Just(1), Just(u64::MAX)],
        ) {
            let limits = QtyLimits { min_qty, max_qty };
            let book: OrderBook<SkipLadder> = OrderBook::with_options(
                crate::clock::Clock::manual(1).0, limits, StpMode::default());
            let c = Command {
                id: 7, price, qty, display_qty, account: 0, kind: kind_, side, order_type,
                tif, post_only, stp, _pad: pad,
            };
            let fast = FastCheck::new(&book, adds_only);
            if fast.clears(&c) {
                prop_assert!(validate_row(&book, 0, &c, adds_only).is_ok(), "{:?}", c);
            }
        }
    }

    fn plain_add(i: usize) -> Command {
        Command::add(
            if i.is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            },
            10_000 + (i % 50) as i64,
            1 + (i % 7) as u64,
        )
    }

    #[test]
    fn large_batches_name_the_first_bad_row_whatever_block_it_is_in() {
        let n = PAR_MIN_ROWS + 3 * PAR_BLOCK + 17;
        let book: OrderBook<SkipLadder> = OrderBook::new();
        let mut cmds: Vec<Command> = (0..n).map(plain_add).collect();
        // Valid rows the fast test refuses (icebergs, post-only), in several blocks.
        for r in [5, PAR_BLOCK + 1, 2 * PAR_BLOCK - 1, n - 1] {
            cmds[r].display_qty = 1;
            cmds[r].qty = 5;
        }
        cmds[PAR_BLOCK * 3 + 2].post_only = 1;
        assert_eq!(validate(&book, &cmds, false), Ok(()));
        // Two bad rows: the earlier one is named, even when it sits in a later block than
        // a refused-but-valid row.
        let late = n - 5;
        let early = PAR_BLOCK * 2 + 9;
        cmds[late].qty = 0;
        cmds[early].side = 9;
        let e = validate(&book, &cmds, false).unwrap_err();
        assert_eq!((e.row, e.field), (early, "side"));
        cmds[early].side = 0;
        let e = validate(&book, &cmds, false).unwrap_err();
        assert_eq!((e.row, e.field), (late, "qty"));
        // The same verdicts as one thread gives, row for row.
        cmds[late].qty = 3;
        cmds[PAR_BLOCK + 3].kind = 7;
        let e = validate(&book, &cmds, false).unwrap_err();
        assert_eq!((e.row, e.field), (PAR_BLOCK + 3, "kind"));
        let e1 = validate(&book, &cmds[..PAR_MIN_ROWS - 1], false).unwrap_err();
        assert_eq!(e1.row, e.row);
    }
}
