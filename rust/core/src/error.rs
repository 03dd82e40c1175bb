//! Errors returned when a request is invalid. A request that returns an error changes nothing.

use thiserror::Error;

use crate::types::{OrderId, Qty};

/// Why an order, cancel or modify request was refused before touching the book.
///
/// Business outcomes (a FOK that cannot fill, a post-only that would take, self-trade
/// prevention) are not errors: they are [`crate::report::Report`]s with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OrderError {
    /// The price in ticks is outside the representable range.
    #[error("price {ticks} ticks is outside the representable range ±(2^62 - 1) ticks")]
    PriceOutOfRange {
        /// The offending tick count.
        ticks: i64,
    },
    /// The decimal price is not a whole number of ticks.
    #[error("price {price} is not a multiple of tick_size {tick_size}")]
    PriceNotOnTick {
        /// The price as given.
        price: String,
        /// The instrument's tick size.
        tick_size: String,
    },
    /// The price text is not a decimal number.
    #[error("price {value:?} is not a decimal number")]
    PriceNotANumber {
        /// The text as given.
        value: String,
    },
    /// A tick size that is not a positive decimal.
    #[error("tick_size {value:?} must be a positive decimal such as \"0.01\"")]
    InvalidTickSize {
        /// The text as given.
        value: String,
    },
    /// A limit order arrived without a price.
    #[error("a limit order needs a price")]
    MissingPrice,
    /// Quantity zero.
    #[error("{field} must be positive, got 0")]
    ZeroQuantity {
        /// `qty` or `display_qty`.
        field: &'static str,
    },
    /// Quantity below the instrument minimum.
    #[error("qty {qty} is below min_qty {min_qty}")]
    QtyBelowMin {
        /// Requested lots.
        qty: Qty,
        /// Instrument minimum.
        min_qty: Qty,
    },
    /// Quantity above the instrument maximum.
    #[error("qty {qty} is above max_qty {max_qty}")]
    QtyAboveMax {
        /// Requested lots.
        qty: Qty,
        /// Instrument maximum.
        max_qty: Qty,
    },
    /// Iceberg display larger than the order.
    #[error("display_qty {display_qty} is larger than qty {qty}")]
    DisplayAboveQty {
        /// Requested display.
        display_qty: Qty,
        /// Order quantity.
        qty: Qty,
    },
    /// Parameters that cannot go together.
    #[error("{rule}")]
    InvalidCombination {
        /// The argument that cannot go with the rest (`post_only`, `display_qty`).
        field: &'static str,
        /// The rule, as a sentence that starts with the field.
        rule: &'static str,
    },
    /// The caller's id is already used by a live order.
    #[error("order_id {id} is already used by a live order; ids may be reused only after a fill or cancel")]
    DuplicateOrderId {
        /// The id.
        id: OrderId,
    },
    /// The book holds the most resting orders it can index (2^32 - 2).
    #[error("the book is full: it cannot rest more than 4294967294 orders")]
    BookFull,
    /// Memory for the order to rest could not be allocated; checked before anything
    /// changes, so the book is as it was.
    #[error("out of memory: could not allocate {bytes} bytes for {what}; nothing was changed")]
    OutOfMemory {
        /// What could not grow.
        what: &'static str,
        /// The allocation that failed, in bytes.
        bytes: usize,
    },
    /// The order id is not resting on the book (never existed, filled or cancelled).
    #[error("order_id {id} is not resting on the book (unknown, filled or cancelled)")]
    UnknownOrder {
        /// The id.
        id: OrderId,
    },
}

impl OrderError {
    /// The request field the error is about, as the APIs name it (`price`, `qty`,
    /// `display_qty`, `post_only`, `order_id`, `tick_size`; `order` when it is about the
    /// whole order, e.g. the book is full).
    pub fn field(&self) -> &'static str {
        match self {
            OrderError::PriceOutOfRange { .. }
            | OrderError::PriceNotOnTick { .. }
            | OrderError::PriceNotANumber { .. }
            | OrderError::MissingPrice => "price",
            OrderError::ZeroQuantity { field } | OrderError::InvalidCombination { field, .. } => {
                field
            }
            OrderError::QtyBelowMin { .. } | OrderError::QtyAboveMax { .. } => "qty",
            OrderError::DisplayAboveQty { .. } => "display_qty",
            OrderError::DuplicateOrderId { .. } | OrderError::UnknownOrder { .. } => "order_id",
            OrderError::InvalidTickSize { .. } => "tick_size",
            OrderError::BookFull | OrderError::OutOfMemory { .. } => "order",
        }
    }

    /// Whether the book ran out of room (memory or index space) rather than the request
    /// breaking a rule.
    pub fn is_capacity(&self) -> bool {
        matches!(self, OrderError::BookFull | OrderError::OutOfMemory { .. })
    }
}
