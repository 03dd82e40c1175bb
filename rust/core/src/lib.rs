//! hftbook-core: a price-time priority limit order book and matching engine.
//!
//! Pure Rust (no Python): exact integer prices ([`Price`], ticks) and quantities ([`Qty`],
//! lots), a book whose price levels sit in a price-indexed ring at the touch backed by a
//! `crossbeam_skiplist::SkipMap` ([`ladder::SkipLadder`]), FIFO queues in a chunked arena of
//! 56-byte records, every order type a venue offers (limit, market, IOC, FOK, post-only,
//! iceberg, self-trade prevention), and a report stream for every operation.
//!
//! # Concurrent access
//! One thread owns and mutates an [`OrderBook`]; any number of other threads read its top of
//! book (a consistent pair, seqlock) and depth lock-free through a [`BookReader`]:
//!
//! ```
//! use hftbook_core::{NewOrder, OrderBook, Side};
//! let mut book: OrderBook = OrderBook::new();
//! let reader = book.reader();
//! let t = std::thread::spawn(move || reader.top());
//! book.submit(&NewOrder::limit(Side::Buy, 100, 5), &mut ()).unwrap();
//! let top = t.join().unwrap();
//! assert!(top.ask.is_none());
//! ```
#![warn(missing_docs)]

pub mod book;
pub mod clock;
pub mod data;
pub mod decimal;
pub mod error;
mod mem;
pub mod profile;
mod sync;
pub mod workload;

// The book's parts and the market-data readers keep their short paths
// (`hftbook_core::arena`, `hftbook_core::lobster`, ...).
pub use book::{arena, batch, ladder, report, types};
pub use data::{itch, lobster, mbo, mbo_dbn};

pub use book::{
    BookReader, LevelView, MarketDataSnapshot, OrderBook, OrderView, RestingOrder, TopOfBook,
};
pub use clock::Clock;
pub use decimal::TickSize;
pub use error::OrderError;
pub use ladder::{BTreeLadder, Ladder, PlainSkipLadder, SkipLadder, MAX_WINDOW, WINDOW};
pub use report::{
    CancelReason, Execution, Fill, FillSink, OrderStatus, Reason, ReasonCode, RejectReason, Report,
    ReportSink,
};
pub use types::{
    AccountId, NewOrder, OrderId, OrderType, Price, Qty, QtyLimits, Side, StpMode, TimeInForce,
};
