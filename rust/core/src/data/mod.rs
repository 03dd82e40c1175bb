//! Market-data readers: real venues' order-by-order files replayed through the book.
//!
//! - [`lobster`]: LOBSTER message + orderbook CSV pairs (NASDAQ), checked against the recorded
//!   book row by row.
//! - [`mbo`]: Databento MBO (market by order) CSV, rebuilt into MBP-10 and checked against the
//!   vendor's own MBP-10.
//! - [`mbo_dbn`]: the same MBO records in Databento's native binary encoding (DBN, plain or
//!   zstd), decoded and encoded with Databento's `dbn` crate.
//! - [`itch`]: NASDAQ TotalView-ITCH 5.0 binary feeds.

pub mod itch;
pub mod lobster;
pub mod mbo;
pub mod mbo_dbn;
