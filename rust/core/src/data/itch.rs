//! NASDAQ TotalView-ITCH 5.0: binary parser, encoder, per-symbol books, and a seeded
//! generator of realistic streams with its own reference books.
//!
//! # Framing
//! NASDAQ's `BinaryFILE` format: every message is preceded by its length as a 2-byte
//! big-endian integer. Inside a message every integer is big-endian; prices are 4-decimal
//! fixed point (`u32`, 1 unit = $0.0001); timestamps are 6-byte ns since midnight.
//!
//! # Messages
//! One flat record, [`Message`], holds every message type: the fields a type does not use are
//! zero. Book-building types are decoded field by field (S, R, H, A, F, E, C, X, D, U, P);
//! the other ITCH 5.0 types (L, Y, V, W, K, J, h, Q, B, I, N, O) are length-checked and kept
//! with their header only. A type byte outside ITCH 5.0 is an error.
//!
//! # Errors
//! Every [`ItchError`] carries the byte offset of the message (of its length prefix) and its
//! type byte when one was read. Parsing never panics on any input (property-tested).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::book::{LevelView, OrderBook};
use crate::types::{NewOrder, Price, Side};

/// One ITCH message, flattened: fields a type does not use are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Message {
    /// Type byte (`b'A'`, ...).
    pub msg_type: u8,
    /// Stock locate code.
    pub locate: u16,
    /// Tracking number.
    pub tracking: u16,
    /// ns since midnight (48 bits).
    pub timestamp: u64,
    /// Order reference (A, F, E, C, X, D, P; the original reference of U).
    pub order_ref: u64,
    /// New order reference (U).
    pub new_order_ref: u64,
    /// `B` or `S` (A, F, P).
    pub side: u8,
    /// Shares (A, F, P, U; executed shares of E, C; cancelled shares of X).
    pub shares: u32,
    /// Price, 4-decimal fixed point (A, F, P, U; execution price of C).
    pub price: u32,
    /// Stock symbol, space padded (R, H, A, F, P).
    pub stock: [u8; 8],
    /// Match number (E, C, P).
    pub match_number: u64,
    /// Market participant id (F).
    pub mpid: [u8; 4],
    /// Printable flag `Y`/`N` (C).
    pub printable: u8,
    /// System event code (S) or trading state (H).
    pub event_code: u8,
    /// Trading action reason (H).
    pub reason: [u8; 4],
    /// Reserved byte (H).
    pub reserved: u8,
    /// Market category (R).
    pub market_category: u8,
    /// Financial status indicator (R).
    pub financial_status: u8,
    /// Round lot size (R).
    pub round_lot_size: u32,
    /// Round lots only (R).
    pub round_lots_only: u8,
    /// Issue classification (R).
    pub issue_classification: u8,
    /// Issue sub-type (R).
    pub issue_subtype: [u8; 2],
    /// Authenticity (R).
    pub authenticity: u8,
    /// Short sale threshold indicator (R).
    pub short_sale_threshold: u8,
    /// IPO flag (R).
    pub ipo_flag: u8,
    /// LULD reference price tier (R).
    pub luld_tier: u8,
    /// ETP flag (R).
    pub etp_flag: u8,
    /// ETP leverage factor (R).
    pub etp_leverage: u32,
    /// Inverse indicator (R).
    pub inverse: u8,
}

impl Message {
    /// The stock symbol without padding.
    pub fn symbol(&self) -> String {
        String::from_utf8_lossy(&self.stock).trim_end().to_string()
    }
}

/// Pad a symbol to the 8-byte ITCH field.
pub fn stock8(symbol: &str) -> [u8; 8] {
    let mut s = [b' '; 8];
    for (d, c) in s.iter_mut().zip(symbol.bytes()) {
        *d = c;
    }
    s
}

/// The body length (without the 2-byte prefix) of every ITCH 5.0 message type.
pub const fn message_length(t: u8) -> Option<usize> {
    Some(match t {
        b'S' => 12,
        b'R' => 39,
        b'H' => 25,
        b'Y' => 20,
        b'L' => 26,
        b'V' => 35,
        b'W' => 12,
        b'K' => 28,
        b'J' => 35,
        b'h' => 21,
        b'A' => 36,
        b'F' => 40,
        b'E' => 31,
        b'C' => 36,
        b'X' => 23,
        b'D' => 19,
        b'U' => 35,
        b'P' => 44,
        b'Q' => 40,
        b'B' => 19,
        b'I' => 50,
        b'N' => 20,
        b'O' => 48,
        _ => return None,
    })
}

/// What went wrong in an [`ItchError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItchErrorKind {
    /// The stream ends inside a length prefix or a message.
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The length prefix disagrees with the message type.
    BadLength {
        /// The type's length (0 if the frame is empty).
        expected: usize,
        /// The prefix's length.
        found: usize,
    },
    /// A type byte that is not an ITCH 5.0 message.
    UnknownType,
    /// A field with a value the format does not allow.
    BadField {
        /// Field name.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// The source could not be read.
    Io {
        /// The operating system's message.
        message: String,
    },
    /// A message the books cannot apply.
    Replay {
        /// Field at fault.
        field: &'static str,
        /// What happened.
        message: String,
    },
}

/// An error at a byte offset of an ITCH stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItchError {
    /// Offset of the message's length prefix in the stream.
    pub offset: u64,
    /// The message's type byte, when one was read.
    pub msg_type: Option<u8>,
    /// What went wrong.
    pub kind: ItchErrorKind,
}

impl ItchError {
    /// The field at fault, if any.
    pub fn field(&self) -> Option<&'static str> {
        match &self.kind {
            ItchErrorKind::BadField { field, .. } | ItchErrorKind::Replay { field, .. } => {
                Some(field)
            }
            ItchErrorKind::BadLength { .. } | ItchErrorKind::Truncated { .. } => Some("length"),
            ItchErrorKind::UnknownType => Some("message_type"),
            ItchErrorKind::Io { .. } => None,
        }
    }
}

impl fmt::Display for ItchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte offset {}", self.offset)?;
        if let Some(t) = self.msg_type {
            if t.is_ascii_graphic() {
                write!(f, ", message type '{}'", t as char)?;
            } else {
                write!(f, ", message type 0x{t:02x}")?;
            }
        }
        match &self.kind {
            ItchErrorKind::Truncated { needed, available } => write!(
                f,
                ": truncated stream: the frame needs {needed} bytes, {available} left"
            ),
            ItchErrorKind::BadLength { expected, found } => write!(
                f,
                ": length prefix {found} does not match the message type's length {expected}"
            ),
            ItchErrorKind::UnknownType => write!(f, ": not an ITCH 5.0 message type"),
            ItchErrorKind::BadField { field, value } => {
                write!(f, ": field {field}: invalid value {value}")
            }
            ItchErrorKind::Replay { field, message } => write!(f, ": field {field}: {message}"),
            ItchErrorKind::Io { message } => write!(f, ": read error: {message}"),
        }
    }
}

impl std::error::Error for ItchError {}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
#[inline]
fn be48(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x[2..].copy_from_slice(&b[at..at + 6]);
    u64::from_be_bytes(x)
}
#[inline]
fn be64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}
#[inline]
fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut x = [0u8; N];
    x.copy_from_slice(&b[at..at + N]);
    x
}

fn bad(offset: u64, t: u8, field: &'static str, value: String) -> ItchError {
    ItchError {
        offset,
        msg_type: Some(t),
        kind: ItchErrorKind::BadField { field, value },
    }
}

fn check_stock(offset: u64, t: u8, s: &[u8; 8]) -> Result<(), ItchError> {
    if s.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        Ok(())
    } else {
        Err(bad(offset, t, "stock", format!("{s:?} (not ASCII)")))
    }
}

fn check_side(offset: u64, t: u8, s: u8) -> Result<(), ItchError> {
    if s == b'B' || s == b'S' {
        Ok(())
    } else {
        Err(bad(
            offset,
            t,
            "side",
            format!("0x{s:02x} (must be 'B' or 'S')"),
        ))
    }
}

/// Decode one message body (type byte first, no length prefix). `offset` is used in errors.
///
/// # Errors
/// [`ItchErrorKind::UnknownType`], [`ItchErrorKind::BadLength`] if `body` has the wrong
/// length for its type, or [`ItchErrorKind::BadField`] for a side, printable flag, event
/// code or symbol the format does not allow.
#[inline]
pub fn decode(body: &[u8], offset: u64) -> Result<Message, ItchError> {
    let Some(&t) = body.first() else {
        return Err(ItchError {
            offset,
            msg_type: None,
            kind: ItchErrorKind::BadLength {
                expected: 0,
                found: 0,
            },
        });
    };
    let Some(len) = message_length(t) else {
        return Err(ItchError {
            offset,
            msg_type: Some(t),
            kind: ItchErrorKind::UnknownType,
        });
    };
    if body.len() != len {
        return Err(ItchError {
            offset,
            msg_type: Some(t),
            kind: ItchErrorKind::BadLength {
                expected: len,
                found: body.len(),
            },
        });
    }
    let b = body;
    let mut m = Message {
        msg_type: t,
        locate: be16(b, 1),
        tracking: be16(b, 3),
        timestamp: be48(b, 5),
        ..Message::default()
    };
    match t {
        b'A' | b'F' => {
            m.order_ref = be64(b, 11);
            m.side = b[19];
            m.shares = be32(b, 20);
            m.stock = arr(b, 24);
            m.price = be32(b, 32);
            if t == b'F' {
                m.mpid = arr(b, 36);
            }
            check_side(offset, t, m.side)?;
            check_stock(offset, t, &m.stock)?;
        }
        b'E' => {
            m.order_ref = be64(b, 11);
            m.shares = be32(b, 19);
            m.match_number = be64(b, 23);
        }
        b'C' => {
            m.order_ref = be64(b, 11);
            m.shares = be32(b, 19);
            m.match_number = be64(b, 23);
            m.printable = b[31];
            m.price = be32(b, 32);
            if m.printable != b'Y' && m.printable != b'N' {
                return Err(bad(
                    offset,
                    t,
                    "printable",
                    format!("0x{:02x} (must be 'Y' or 'N')", m.printable),
                ));
            }
        }
        b'X' => {
            m.order_ref = be64(b, 11);
            m.shares = be32(b, 19);
        }
        b'D' => m.order_ref = be64(b, 11),
        b'U' => {
            m.order_ref = be64(b, 11);
            m.new_order_ref = be64(b, 19);
            m.shares = be32(b, 27);
            m.price = be32(b, 31);
        }
        b'P' => {
            m.order_ref = be64(b, 11);
            m.side = b[19];
            m.shares = be32(b, 20);
            m.stock = arr(b, 24);
            m.price = be32(b, 32);
            m.match_number = be64(b, 36);
            check_side(offset, t, m.side)?;
            check_stock(offset, t, &m.stock)?;
        }
        b'S' => {
            m.event_code = b[11];
            if !b"OSQMEC".contains(&m.event_code) {
                return Err(bad(
                    offset,
                    t,
                    "event_code",
                    format!("0x{:02x} (must be one of O S Q M E C)", m.event_code),
                ));
            }
        }
        b'R' => {
            m.stock = arr(b, 11);
            m.market_category = b[19];
            m.financial_status = b[20];
            m.round_lot_size = be32(b, 21);
            m.round_lots_only = b[25];
            m.issue_classification = b[26];
            m.issue_subtype = arr(b, 27);
            m.authenticity = b[29];
            m.short_sale_threshold = b[30];
            m.ipo_flag = b[31];
            m.luld_tier = b[32];
            m.etp_flag = b[33];
            m.etp_leverage = be32(b, 34);
            m.inverse = b[38];
            check_stock(offset, t, &m.stock)?;
        }
        b'H' => {
            m.stock = arr(b, 11);
            m.event_code = b[19];
            m.reserved = b[20];
            m.reason = arr(b, 21);
            check_stock(offset, t, &m.stock)?;
            if !b"HPQT".contains(&m.event_code) {
                return Err(bad(
                    offset,
                    t,
                    "trading_state",
                    format!("0x{:02x} (must be one of H P Q T)", m.event_code),
                ));
            }
        }
        _ => {}
    }
    Ok(m)
}

/// Iterate over the frames of a `BinaryFILE` stream: `(offset, body)`.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Frames<'a> {
    /// Frames of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Frames {
            data,
            pos: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<(u64, &'a [u8]), ItchError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let at = self.pos;
        let rest = &self.data[at..];
        let err = |kind, t| {
            Some(Err(ItchError {
                offset: at as u64,
                msg_type: t,
                kind,
            }))
        };
        if rest.len() < 2 {
            self.failed = true;
            return err(
                ItchErrorKind::Truncated {
                    needed: 2,
                    available: rest.len(),
                },
                None,
            );
        }
        let len = usize::from(be16(rest, 0));
        if rest.len() < 2 + len {
            self.failed = true;
            return err(
                ItchErrorKind::Truncated {
                    needed: 2 + len,
                    available: rest.len(),
                },
                rest.get(2).copied(),
            );
        }
        self.pos += 2 + len;
        Some(Ok((at as u64, &rest[2..2 + len])))
    }
}

/// Call `f(offset, message)` for every message of a stream, in order.
///
/// # Errors
/// The first framing or decoding error, or the first error `f` returns.
#[inline]
pub fn for_each_message<E>(
    data: &[u8],
    mut f: impl FnMut(u64, &Message) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<ItchError>,
{
    for fr in Frames::new(data) {
        let (off, body) = fr?;
        let m = decode(body, off)?;
        f(off, &m)?;
    }
    Ok(())
}

/// Parse a whole stream into messages.
///
/// # Errors
/// The first framing or decoding error.
pub fn parse(data: &[u8]) -> Result<Vec<Message>, ItchError> {
    let mut out = Vec::with_capacity(data.len() / 30);
    for_each_message(data, |_, m| {
        out.push(*m);
        Ok::<(), ItchError>(())
    })?;
    Ok(out)
}

/// Append `m` to `out` with its 2-byte length prefix. Types outside the book-building set
/// are written as their header followed by zeros.
///
/// # Errors
/// [`ItchErrorKind::UnknownType`] for a type byte outside ITCH 5.0 (`offset` = bytes
/// written so far).
pub fn encode(m: &Message, out: &mut Vec<u8>) -> Result<(), ItchError> {
    let t = m.msg_type;
    let Some(len) = message_length(t) else {
        return Err(ItchError {
            offset: out.len() as u64,
            msg_type: Some(t),
            kind: ItchErrorKind::UnknownType,
        });
    };
    out.extend_from_slice(&(len as u16).to_be_bytes());
    let start = out.len();
    out.push(t);
    out.extend_from_slice(&m.locate.to_be_bytes());
    out.extend_from_slice(&m.tracking.to_be_bytes());
    out.extend_from_slice(&(m.timestamp & 0xFFFF_FFFF_FFFF).to_be_bytes()[2..]);
    match t {
        b'A' | b'F' => {
            out.extend_from_slice(&m.order_ref.to_be_bytes());
            out.push(m.side);
            out.extend_from_slice(&m.shares.to_be_bytes());
            out.extend_from_slice(&m.stock);
            out.extend_from_slice(&m.price.to_be_bytes());
            if t == b'F' {
                out.extend_from_slice(&m.mpid);
            }
        }
        b'E' | b'C' => {
            out.extend_from_slice(&m.order_ref.to_be_bytes());
            out.extend_from_slice(&m.shares.to_be_bytes());
            out.extend_from_slice(&m.match_number.to_be_bytes());
            if t == b'C' {
                out.push(m.printable);
                out.extend_from_slice(&m.price.to_be_bytes());
            }
        }
        b'X' => {
            out.extend_from_slice(&m.order_ref.to_be_bytes());
            out.extend_from_slice(&m.shares.to_be_bytes());
        }
        b'D' => out.extend_from_slice(&m.order_ref.to_be_bytes()),
        b'U' => {
            out.extend_from_slice(&m.order_ref.to_be_bytes());
            out.extend_from_slice(&m.new_order_ref.to_be_bytes());
            out.extend_from_slice(&m.shares.to_be_bytes());
            out.extend_from_slice(&m.price.to_be_bytes());
        }
        b'P' => {
            out.extend_from_slice(&m.order_ref.to_be_bytes());
            out.push(m.side);
            out.extend_from_slice(&m.shares.to_be_bytes());
            out.extend_from_slice(&m.stock);
            out.extend_from_slice(&m.price.to_be_bytes());
            out.extend_from_slice(&m.match_number.to_be_bytes());
        }
        b'S' => out.push(m.event_code),
        b'R' => {
            out.extend_from_slice(&m.stock);
            out.push(m.market_category);
            out.push(m.financial_status);
            out.extend_from_slice(&m.round_lot_size.to_be_bytes());
            out.push(m.round_lots_only);
            out.push(m.issue_classification);
            out.extend_from_slice(&m.issue_subtype);
            out.push(m.authenticity);
            out.push(m.short_sale_threshold);
            out.push(m.ipo_flag);
            out.push(m.luld_tier);
            out.push(m.etp_flag);
            out.extend_from_slice(&m.etp_leverage.to_be_bytes());
            out.push(m.inverse);
        }
        b'H' => {
            out.extend_from_slice(&m.stock);
            out.push(m.event_code);
            out.push(m.reserved);
            out.extend_from_slice(&m.reason);
        }
        _ => {}
    }
    out.resize(start + len, 0);
    Ok(())
}

/// Encode messages into a `BinaryFILE` stream.
///
/// # Errors
/// As [`encode`].
pub fn encode_all(messages: &[Message]) -> Result<Vec<u8>, ItchError> {
    let mut out = Vec::with_capacity(messages.len() * 38);
    for m in messages {
        encode(m, &mut out)?;
    }
    Ok(out)
}

// ----------------------------------------------------------------------------------- books

/// Best bid/ask of one symbol at one time (prices in 1e-4 dollars; 0 qty = empty side).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TopPoint {
    /// ns since midnight.
    pub timestamp: u64,
    /// Best bid price.
    pub bid: i64,
    /// Shares at the best bid.
    pub bid_qty: u64,
    /// Best ask price.
    pub ask: i64,
    /// Shares at the best ask.
    pub ask_qty: u64,
}

/// Message counts of one symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SymbolCounts {
    /// A and F.
    pub adds: u64,
    /// E and C.
    pub executions: u64,
    /// Shares executed by E and C.
    pub executed_shares: u64,
    /// X.
    pub cancels: u64,
    /// D.
    pub deletes: u64,
    /// U.
    pub replaces: u64,
    /// P.
    pub trades: u64,
    /// Shares of P.
    pub trade_shares: u64,
}

/// ITCH price units (1e-4 dollars) per cent: the Reg NMS Rule 612 quoting increment at or
/// above $1.00.
pub const CENT: i64 = 100;
/// $1.00 in ITCH price units: below it, Rule 612 allows quotes in $0.0001.
pub const ONE_DOLLAR: i64 = 10_000;

/// The tick a symbol's book uses when none is set for it: $0.01 when the first order's price
/// is at or above $1.00, $0.0001 below (Reg NMS Rule 612 quoting increments).
pub fn rule_612_tick(price: i64) -> i64 {
    if price >= ONE_DOLLAR {
        CENT
    } else {
        1
    }
}

/// The book of one symbol.
#[derive(Debug)]
pub struct SymbolBook {
    /// Symbol (empty if no directory message named it).
    pub symbol: String,
    /// Stock locate.
    pub locate: u16,
    /// The book, in ticks of [`SymbolBook::tick`] (see [`SymbolBook::levels`] for prices in
    /// ITCH units).
    pub book: OrderBook,
    /// The book's tick in ITCH units (1e-4 dollars): set for the symbol, or by
    /// [`rule_612_tick`] from its first order (0 until then).
    pub tick: i64,
    /// Whether the tick was set for the symbol (an order off it is then an error).
    pub tick_fixed: bool,
    /// Times an order off the Rule 612 tick (a cent-priced stock quoted below $1.00) moved
    /// the book to the $0.0001 tick.
    pub reticks: u64,
    /// Execution-with-price (C) and trade (P) prices off the tick: they never touch the
    /// book (sub-penny executions are allowed), and are counted here.
    pub off_tick_prices: u64,
    /// Last trading state from H (`T` trading, `H` halted, `P` paused, `Q` quotation only;
    /// 0 = none seen).
    pub trading_state: u8,
    /// Message counts.
    pub counts: SymbolCounts,
    /// Top-of-book changes (only when tracking is on).
    pub tops: Vec<TopPoint>,
}

/// Per-symbol books built from a stream.
#[derive(Debug)]
pub struct ItchBooks {
    slots: Vec<Option<u32>>,
    /// Ticks set per symbol (ITCH units).
    ticks: Vec<([u8; 8], i64)>,
    /// Books in order of first appearance.
    pub books: Vec<SymbolBook>,
    ignored: Vec<bool>,
    filter: Option<Vec<[u8; 8]>>,
    track: bool,
    /// Messages applied (all types, including ignored symbols).
    pub messages: u64,
    /// Count of each type byte.
    pub type_counts: [u64; 256],
    /// System event codes seen, in order.
    pub system_events: Vec<u8>,
}

fn top_of(book: &OrderBook, tick: i64, ts: u64) -> TopPoint {
    let b = book.best_bid();
    let a = book.best_ask();
    TopPoint {
        timestamp: ts,
        bid: b.map_or(0, |l| l.price.0 * tick),
        bid_qty: b.map_or(0, |l| l.qty),
        ask: a.map_or(0, |l| l.price.0 * tick),
        ask_qty: a.map_or(0, |l| l.qty),
    }
}

impl SymbolBook {
    /// Full depth as `(price in ITCH units, shares, orders)` per side, best first.
    pub fn levels(&self) -> (Levels, Levels) {
        let t = self.tick.max(1);
        let f = |v: Vec<LevelView>| v.iter().map(|l| (l.price.0 * t, l.qty, l.orders)).collect();
        (
            f(self.book.depth(Side::Buy, usize::MAX)),
            f(self.book.depth(Side::Sell, usize::MAX)),
        )
    }

    /// The book's price in ticks of an ITCH price: fixes the tick on the first order,
    /// moves the book to $0.0001 when a Rule 612 tick no longer fits.
    fn ticks_of(
        &mut self,
        price: u32,
        err: &impl Fn(&'static str, String) -> ItchError,
    ) -> Result<i64, ItchError> {
        let p = i64::from(price);
        if self.tick == 0 {
            self.tick = rule_612_tick(p);
        }
        if p % self.tick != 0 {
            if self.tick_fixed {
                return Err(err(
                    "price",
                    format!(
                        "{} is not on the tick {} set for {}",
                        fmt_price(p),
                        fmt_price(self.tick),
                        self.symbol
                    ),
                ));
            }
            self.retick(1).map_err(|e| err("price", e))?;
        }
        Ok(p / self.tick)
    }

    /// Rebuild the book at a finer tick, every queue in its order.
    fn retick(&mut self, tick: i64) -> Result<(), String> {
        let scale = self.tick / tick;
        let mut fresh = OrderBook::new();
        for side in [Side::Buy, Side::Sell] {
            for mut o in self.book.resting(side) {
                o.price = Price(o.price.0 * scale);
                fresh.restore(&o).map_err(|e| e.to_string())?;
            }
        }
        self.book = fresh;
        self.tick = tick;
        self.reticks += 1;
        Ok(())
    }
}

impl ItchBooks {
    /// Empty books. `symbols`: build books only for these (None: all); `track`: record the
    /// top of book after every change.
    pub fn new(symbols: Option<&[String]>, track: bool) -> Self {
        ItchBooks {
            slots: vec![None; 65_536],
            ticks: Vec::new(),
            books: Vec::new(),
            ignored: vec![false; 65_536],
            filter: symbols.map(|s| s.iter().map(|x| stock8(x)).collect()),
            track,
            messages: 0,
            type_counts: [0; 256],
            system_events: Vec::new(),
        }
    }

    /// Set the tick (ITCH units, 1e-4 dollars; 100 = $0.01) of `symbol`'s book instead of
    /// the Rule 612 one; an order off it is then a replay error. Call before applying
    /// messages.
    ///
    /// # Errors
    /// A tick that is not positive.
    pub fn set_tick(&mut self, symbol: &str, tick: i64) -> Result<(), String> {
        if tick <= 0 {
            return Err(format!("the tick of {symbol} must be positive, not {tick}"));
        }
        let key = stock8(symbol);
        self.ticks.retain(|(k, _)| *k != key);
        self.ticks.push((key, tick));
        Ok(())
    }

    /// The book of `symbol`, if built.
    pub fn get(&self, symbol: &str) -> Option<&SymbolBook> {
        self.books.iter().find(|b| b.symbol == symbol)
    }

    fn slot(&mut self, locate: u16, stock: Option<[u8; 8]>) -> Option<usize> {
        let li = usize::from(locate);
        if self.ignored[li] {
            return None;
        }
        if let Some(i) = self.slots[li] {
            return Some(i as usize);
        }
        if let Some(f) = &self.filter {
            match stock {
                Some(s) if f.contains(&s) => {}
                _ => {
                    self.ignored[li] = true;
                    return None;
                }
            }
        }
        let symbol = stock.map_or_else(String::new, |s| {
            String::from_utf8_lossy(&s).trim_end().to_string()
        });
        let set = stock.and_then(|s| self.ticks.iter().find(|(k, _)| *k == s).map(|&(_, t)| t));
        self.books.push(SymbolBook {
            symbol,
            locate,
            book: OrderBook::new(),
            tick: set.unwrap_or(0),
            tick_fixed: set.is_some(),
            reticks: 0,
            off_tick_prices: 0,
            trading_state: 0,
            counts: SymbolCounts::default(),
            tops: Vec::new(),
        });
        self.slots[li] = Some((self.books.len() - 1) as u32);
        Some(self.books.len() - 1)
    }

    /// Apply one message at `offset`.
    ///
    /// # Errors
    /// [`ItchErrorKind::Replay`] for a message the book cannot apply: a duplicate or zero
    /// order reference, an unknown order, more shares executed or cancelled than the order
    /// has, or an add/replace that would cross the book.
    pub fn apply(&mut self, offset: u64, m: &Message) -> Result<(), ItchError> {
        self.messages += 1;
        self.type_counts[usize::from(m.msg_type)] += 1;
        let t = m.msg_type;
        let stock = match t {
            b'R' | b'H' | b'A' | b'F' | b'P' => Some(m.stock),
            _ => None,
        };
        match t {
            b'S' => {
                self.system_events.push(m.event_code);
                return Ok(());
            }
            b'A' | b'F' | b'E' | b'C' | b'X' | b'D' | b'U' | b'P' | b'R' | b'H' => {}
            _ => return Ok(()),
        }
        let Some(i) = self.slot(m.locate, stock) else {
            return Ok(());
        };
        let track = self.track;
        let sb = &mut self.books[i];
        let err = |field: &'static str, message: String| ItchError {
            offset,
            msg_type: Some(t),
            kind: ItchErrorKind::Replay { field, message },
        };
        let before = if track {
            Some(top_of(&sb.book, sb.tick, m.timestamp))
        } else {
            None
        };
        match t {
            b'R' if sb.symbol.is_empty() => {
                sb.symbol = m.symbol();
                if let Some(&(_, tk)) = self.ticks.iter().find(|(k, _)| *k == m.stock) {
                    if sb.tick == 0 {
                        sb.tick = tk;
                        sb.tick_fixed = true;
                    }
                }
            }
            b'H' => sb.trading_state = m.event_code,
            b'A' | b'F' => {
                let p = sb.ticks_of(m.price, &err)?;
                add(
                    &mut sb.book,
                    m.order_ref,
                    m.side,
                    m.shares,
                    p,
                    sb.tick,
                    &err,
                )?;
                sb.counts.adds += 1;
            }
            b'E' | b'C' | b'X' => {
                if t == b'C' && sb.tick > 0 && i64::from(m.price) % sb.tick != 0 {
                    sb.off_tick_prices += 1;
                }
                reduce(&mut sb.book, m.order_ref, m.shares, &err)?;
                if t == b'X' {
                    sb.counts.cancels += 1;
                } else {
                    sb.counts.executions += 1;
                    sb.counts.executed_shares += u64::from(m.shares);
                }
            }
            b'D' => {
                sb.book
                    .cancel(m.order_ref, &mut ())
                    .map_err(|_| err("order_ref", unknown(m.order_ref)))?;
                sb.counts.deletes += 1;
            }
            b'U' => {
                let Some(o) = sb.book.order(m.order_ref) else {
                    return Err(err("order_ref", unknown(m.order_ref)));
                };
                if m.new_order_ref != m.order_ref && sb.book.order(m.new_order_ref).is_some() {
                    return Err(err(
                        "new_order_ref",
                        format!("order reference {} is already live", m.new_order_ref),
                    ));
                }
                let side = match o.side {
                    Side::Buy => b'B',
                    Side::Sell => b'S',
                };
                let p = sb.ticks_of(m.price, &err)?;
                // the book may have been re-ticked: the original in the book's ticks now
                let Some(o) = sb.book.order(m.order_ref) else {
                    return Err(err("order_ref", unknown(m.order_ref)));
                };
                sb.book
                    .cancel(m.order_ref, &mut ())
                    .map_err(|_| err("order_ref", unknown(m.order_ref)))?;
                if let Err(e) = add(
                    &mut sb.book,
                    m.new_order_ref,
                    side,
                    m.shares,
                    p,
                    sb.tick,
                    &err,
                ) {
                    // put the original back so a failed replace changes nothing
                    let back = NewOrder::limit(o.side, o.price.0, o.qty).with_id(o.id);
                    let _ = sb.book.submit(&back, &mut ());
                    return Err(e);
                }
                sb.counts.replaces += 1;
            }
            b'P' => {
                let tick = if sb.tick > 0 {
                    sb.tick
                } else {
                    rule_612_tick(i64::from(m.price))
                };
                if i64::from(m.price) % tick != 0 {
                    sb.off_tick_prices += 1;
                }
                sb.counts.trades += 1;
                sb.counts.trade_shares += u64::from(m.shares);
            }
            _ => {}
        }
        if let Some(b) = before {
            let after = top_of(&sb.book, sb.tick, m.timestamp);
            let same = (b.bid, b.bid_qty, b.ask, b.ask_qty)
                == (after.bid, after.bid_qty, after.ask, after.ask_qty);
            if !same || sb.tops.is_empty() {
                sb.tops.push(after);
            }
        }
        Ok(())
    }

    /// Apply every message of a stream.
    ///
    /// # Errors
    /// The first framing, decoding or replay error, with its byte offset.
    pub fn apply_stream(&mut self, data: &[u8]) -> Result<(), ItchError> {
        for_each_message(data, |off, m| self.apply(off, m))
    }

    /// Apply every message read from `reader` (a file, a pipe, a socket) in chunks of
    /// `chunk` bytes (at least 64 KiB are used), so memory stays bounded whatever the size
    /// of the stream; frames may straddle reads. Offsets in errors count from the first byte
    /// read. Returns the bytes read.
    ///
    /// # Errors
    /// As [`ItchBooks::apply_stream`], and [`ItchErrorKind::Io`] if a read fails.
    pub fn apply_reader<R: std::io::Read>(
        &mut self,
        mut reader: R,
        chunk: usize,
    ) -> Result<u64, ItchError> {
        let mut buf = vec![0u8; chunk.max(1 << 16) + 2 + usize::from(u16::MAX)];
        let mut have = 0usize;
        let mut base = 0u64;
        loop {
            let n = loop {
                match reader.read(&mut buf[have..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(ItchError {
                            offset: base + have as u64,
                            msg_type: None,
                            kind: ItchErrorKind::Io {
                                message: e.to_string(),
                            },
                        })
                    }
                }
            };
            let end = have + n;
            let mut pos = 0usize;
            while end - pos >= 2 {
                let len = usize::from(be16(&buf, pos));
                if end - pos < 2 + len {
                    break;
                }
                let off = base + pos as u64;
                let m = decode(&buf[pos + 2..pos + 2 + len], off)?;
                self.apply(off, &m)?;
                pos += 2 + len;
            }
            if n == 0 {
                if pos < end {
                    // the same error the in-memory parser gives for the cut frame
                    for fr in Frames::new(&buf[pos..end]) {
                        if let Err(mut e) = fr {
                            e.offset += base + pos as u64;
                            return Err(e);
                        }
                    }
                }
                return Ok(base + end as u64);
            }
            buf.copy_within(pos..end, 0);
            have = end - pos;
            base += pos as u64;
        }
    }
}

fn unknown(r: u64) -> String {
    format!("order reference {r} is not resting on the book")
}

/// Add an order at `price` ticks of `tick` ITCH units.
fn add(
    book: &mut OrderBook,
    id: u64,
    side: u8,
    shares: u32,
    price: i64,
    tick: i64,
    err: &impl Fn(&'static str, String) -> ItchError,
) -> Result<(), ItchError> {
    let side = if side == b'B' { Side::Buy } else { Side::Sell };
    if id == 0 {
        return Err(err("order_ref", "order reference 0 is not allowed".into()));
    }
    if shares == 0 {
        return Err(err("shares", "an order needs at least 1 share".into()));
    }
    let p = Price(price);
    if let Some(opp) = book.best(side.opposite()) {
        if side.crosses(p, opp.price) {
            return Err(err(
                "price",
                format!(
                    "order {id} at {} would cross the opposite best {}",
                    fmt_price(p.0 * tick),
                    fmt_price(opp.price.0 * tick)
                ),
            ));
        }
    }
    book.submit(
        &NewOrder::limit(side, p.0, u64::from(shares)).with_id(id),
        &mut (),
    )
    .map(|_| ())
    .map_err(|e| err("order_ref", e.to_string()))
}

fn reduce(
    book: &mut OrderBook,
    id: u64,
    shares: u32,
    err: &impl Fn(&'static str, String) -> ItchError,
) -> Result<(), ItchError> {
    let Some(o) = book.order(id) else {
        return Err(err("order_ref", unknown(id)));
    };
    let s = u64::from(shares);
    if s == 0 || s > o.qty {
        return Err(err(
            "shares",
            format!(
                "{shares} shares must be between 1 and order {id}'s open {}",
                o.qty
            ),
        ));
    }
    let r = if s == o.qty {
        book.cancel(id, &mut ()).map(|_| ())
    } else {
        book.modify(id, None, Some(o.qty - s), &mut ()).map(|_| ())
    };
    r.map_err(|e| err("order_ref", e.to_string()))
}

/// A 4-decimal price as text (`1234500` → `123.4500`).
pub fn fmt_price(p: i64) -> String {
    let sign = if p < 0 { "-" } else { "" };
    let a = p.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10_000, a % 10_000)
}

/// Price levels `(price, shares, orders)`, best first.
pub type Levels = Vec<(i64, u64, u32)>;

// ------------------------------------------------------------------------------- generator

/// A reference book kept by the generator (independent of [`OrderBook`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferenceBook {
    /// Symbol.
    pub symbol: String,
    /// Stock locate.
    pub locate: u16,
    /// Bids `(price, shares, orders)`, best first.
    pub bids: Levels,
    /// Asks, best first.
    pub asks: Levels,
}

#[derive(Default)]
struct GenSym {
    bids: BTreeMap<u32, VecDeque<(u64, u32)>>,
    asks: BTreeMap<u32, VecDeque<(u64, u32)>>,
    mid: u32,
}

impl GenSym {
    fn side(&mut self, buy: bool) -> &mut BTreeMap<u32, VecDeque<(u64, u32)>> {
        if buy {
            &mut self.bids
        } else {
            &mut self.asks
        }
    }
    fn best_bid(&self) -> Option<u32> {
        self.bids.keys().next_back().copied()
    }
    fn best_ask(&self) -> Option<u32> {
        self.asks.keys().next().copied()
    }
}

/// A seeded generator of realistic ITCH streams: system events, a stock directory, trading
/// actions, then adds (A, F) near the touch, executions of the head order of the best level
/// (E, C), partial cancels (X), deletes (D), replaces (U) and non-displayed trades (P), for
/// several symbols. It keeps its own simple reference books (price-level maps of FIFO queues).
#[derive(Debug, Clone)]
pub struct Generator {
    /// Total messages to generate (at least the 2 + 2 per symbol of the header and trailer).
    pub messages: usize,
    /// Seed.
    pub seed: u64,
    /// Symbols (locate codes 1, 2, ...).
    pub symbols: Vec<String>,
}

/// Output of [`Generator::generate`].
#[derive(Debug, Clone)]
pub struct Generated {
    /// The messages.
    pub messages: Vec<Message>,
    /// The generator's books after the last message, one per symbol.
    pub reference: Vec<ReferenceBook>,
}

impl Generator {
    /// A generator of `messages` messages over `symbols`.
    pub fn new(messages: usize, seed: u64, symbols: &[&str]) -> Self {
        Generator {
            messages,
            seed,
            symbols: symbols.iter().map(|s| (*s).to_string()).collect(),
        }
    }

    /// Generate the stream and the reference books.
    pub fn generate(&self) -> Generated {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let n_sym = self.symbols.len().clamp(1, 65_000);
        let symbols: Vec<String> = if self.symbols.is_empty() {
            vec!["TEST".to_string()]
        } else {
            self.symbols[..n_sym].to_vec()
        };
        let mut out = Vec::with_capacity(self.messages.max(8));
        let mut ts: u64 = 34_200_000_000_000 - 1_000_000; // just before 09:30
        let mut tracking: u16 = 0;
        let mut hdr = |t: u8, locate: u16, rng: &mut Xoshiro256PlusPlus| {
            ts += rng.random_range(1..20_000u64);
            tracking = tracking.wrapping_add(1);
            Message {
                msg_type: t,
                locate,
                tracking,
                timestamp: ts,
                ..Message::default()
            }
        };
        out.push(Message {
            event_code: b'O',
            ..hdr(b'S', 0, &mut rng)
        });
        let mut syms: Vec<GenSym> = Vec::with_capacity(symbols.len());
        for (i, s) in symbols.iter().enumerate() {
            let loc = (i + 1) as u16;
            out.push(Message {
                stock: stock8(s),
                market_category: b'Q',
                financial_status: b'N',
                round_lot_size: 100,
                round_lots_only: b'N',
                issue_classification: b'C',
                issue_subtype: *b"Z ",
                authenticity: b'P',
                short_sale_threshold: b'N',
                ipo_flag: b'N',
                luld_tier: b'1',
                etp_flag: b'N',
                etp_leverage: 0,
                inverse: b'N',
                ..hdr(b'R', loc, &mut rng)
            });
            out.push(Message {
                stock: stock8(s),
                event_code: b'T',
                reason: *b"    ",
                ..hdr(b'H', loc, &mut rng)
            });
            syms.push(GenSym {
                mid: rng.random_range(20..500u32) * 10_000,
                ..GenSym::default()
            });
        }
        let mut live: Vec<Vec<u64>> = vec![Vec::new(); symbols.len()]; // per symbol
        let mut pos: HashMap<u64, usize> = HashMap::new();
        let mut order_side: HashMap<u64, (bool, u32)> = HashMap::new();
        let mut next_ref: u64 = 1_000;
        let mut match_no: u64 = 1;
        let target = self.messages.saturating_sub(1).max(out.len());
        let mut budget = target.saturating_mul(4) + 64;
        let mpids = [*b"GSCO", *b"MSCO", *b"JPMS", *b"UBSS"];

        fn remove_live(live: &mut Vec<u64>, pos: &mut HashMap<u64, usize>, r: u64) {
            if let Some(i) = pos.remove(&r) {
                live.swap_remove(i);
                if let Some(&moved) = live.get(i) {
                    pos.insert(moved, i);
                }
            }
        }

        while out.len() < target && budget > 0 {
            budget -= 1;
            let si = rng.random_range(0..symbols.len());
            let loc = (si + 1) as u16;
            let x: f64 = rng.random();
            let g = &mut syms[si];
            // the fair value walks in one-cent steps
            if rng.random_bool(0.03) {
                g.mid = if rng.random_bool(0.5) {
                    g.mid + 100
                } else {
                    g.mid.saturating_sub(100).max(10_000)
                };
            }
            // a random live order of this symbol, for cancels/deletes/replaces
            let pick = |rng: &mut Xoshiro256PlusPlus, live: &Vec<u64>| {
                if live.is_empty() {
                    None
                } else {
                    Some(live[rng.random_range(0..live.len())])
                }
            };
            let empty = g.bids.is_empty() && g.asks.is_empty();
            // books stay bounded: above 400 orders, 40 % of the adds become deletes
            let crowded = live[si].len() > 400 && rng.random_bool(0.4);
            let kind = if crowded && x < 0.46 {
                2
            } else if empty || x < 0.46 {
                0 // add
            } else if x < 0.58 {
                1 // partial cancel
            } else if x < 0.73 {
                2 // delete
            } else if x < 0.81 {
                3 // replace
            } else if x < 0.92 {
                4 // execute head of best level
            } else if x < 0.96 {
                5 // execute with price
            } else {
                6 // non-displayed trade
            };
            let target = if matches!(kind, 1..=3) {
                pick(&mut rng, &live[si])
            } else {
                None
            };
            let kind = if matches!(kind, 1..=3) && target.is_none() {
                0
            } else {
                kind
            };
            match kind {
                0 => {
                    let buy = match (g.best_bid(), g.best_ask()) {
                        (None, Some(_)) => true,
                        (Some(_), None) => false,
                        _ => rng.random_bool(0.5),
                    };
                    // cents behind the fair value, never crossing the other side
                    let dist = (rng.random::<f64>().powi(2) * 12.0) as u32;
                    let price = if buy {
                        let p = g.mid.saturating_sub(100 * (1 + dist)).max(100);
                        g.best_ask().map_or(p, |a| p.min(a.saturating_sub(100)))
                    } else {
                        let p = g.mid + 100 * (1 + dist);
                        g.best_bid().map_or(p, |b| p.max(b + 100))
                    };
                    if buy && g.best_ask().is_some_and(|a| price >= a) {
                        continue;
                    }
                    if !buy && g.best_bid().is_some_and(|b| price <= b) {
                        continue;
                    }
                    let shares = if rng.random_bool(0.8) {
                        100 * rng.random_range(1..=10u32)
                    } else {
                        rng.random_range(1..100u32)
                    };
                    let r = next_ref;
                    next_ref += rng.random_range(1..5u64);
                    g.side(buy).entry(price).or_default().push_back((r, shares));
                    pos.insert(r, live[si].len());
                    live[si].push(r);
                    order_side.insert(r, (buy, price));
                    let f = rng.random_bool(0.2);
                    let mut m = Message {
                        order_ref: r,
                        side: if buy { b'B' } else { b'S' },
                        shares,
                        stock: stock8(&symbols[si]),
                        price,
                        ..hdr(if f { b'F' } else { b'A' }, loc, &mut rng)
                    };
                    if f {
                        m.mpid = mpids[rng.random_range(0..mpids.len())];
                    }
                    out.push(m);
                }
                1..=3 => {
                    let Some(r) = target else { continue };
                    let Some(&(buy, price)) = order_side.get(&r) else {
                        continue;
                    };
                    let level = g.side(buy).get_mut(&price);
                    let Some(q) = level else { continue };
                    let Some(i) = q.iter().position(|&(x, _)| x == r) else {
                        continue;
                    };
                    let shares = q[i].1;
                    if kind == 1 && shares > 1 {
                        let c = rng.random_range(1..shares);
                        q[i].1 -= c;
                        out.push(Message {
                            order_ref: r,
                            shares: c,
                            ..hdr(b'X', loc, &mut rng)
                        });
                    } else if kind == 3 {
                        // replace: new price near the old one, never crossing
                        q.remove(i);
                        if q.is_empty() {
                            g.side(buy).remove(&price);
                        }
                        let step = rng.random_range(-3i64..=3) * 100;
                        let mut np = (i64::from(price) + step).max(100) as u32;
                        if buy {
                            if let Some(a) = g.best_ask() {
                                np = np.min(a - 100);
                            }
                        } else if let Some(b) = g.best_bid() {
                            np = np.max(b + 100);
                        }
                        let ns = 100 * rng.random_range(1..=10u32);
                        let nr = next_ref;
                        next_ref += rng.random_range(1..5u64);
                        g.side(buy).entry(np).or_default().push_back((nr, ns));
                        remove_live(&mut live[si], &mut pos, r);
                        order_side.remove(&r);
                        pos.insert(nr, live[si].len());
                        live[si].push(nr);
                        order_side.insert(nr, (buy, np));
                        out.push(Message {
                            order_ref: r,
                            new_order_ref: nr,
                            shares: ns,
                            price: np,
                            ..hdr(b'U', loc, &mut rng)
                        });
                    } else {
                        q.remove(i);
                        if q.is_empty() {
                            g.side(buy).remove(&price);
                        }
                        remove_live(&mut live[si], &mut pos, r);
                        order_side.remove(&r);
                        out.push(Message {
                            order_ref: r,
                            ..hdr(b'D', loc, &mut rng)
                        });
                    }
                }
                4 | 5 => {
                    // aggressors trade toward the fair value: a stale side gets hit
                    let buy = match (g.best_bid(), g.best_ask()) {
                        (Some(_), None) => true,
                        (None, Some(_)) => false,
                        (None, None) => continue,
                        (_, Some(a)) if a <= g.mid => false,
                        (Some(b), _) if b >= g.mid => true,
                        _ => rng.random_bool(0.5),
                    };
                    let price = if buy { g.best_bid() } else { g.best_ask() };
                    let Some(price) = price else { continue };
                    let Some(q) = g.side(buy).get_mut(&price) else {
                        continue;
                    };
                    let Some(&(r, shares)) = q.front() else {
                        continue;
                    };
                    let e = if rng.random_bool(0.6) {
                        shares
                    } else {
                        rng.random_range(1..=shares)
                    };
                    if e == shares {
                        q.pop_front();
                        if q.is_empty() {
                            g.side(buy).remove(&price);
                        }
                        remove_live(&mut live[si], &mut pos, r);
                        order_side.remove(&r);
                    } else if let Some(front) = q.front_mut() {
                        front.1 -= e;
                    }
                    match_no += 1;
                    let mut m = Message {
                        order_ref: r,
                        shares: e,
                        match_number: match_no,
                        ..hdr(if kind == 4 { b'E' } else { b'C' }, loc, &mut rng)
                    };
                    if kind == 5 {
                        m.printable = if rng.random_bool(0.9) { b'Y' } else { b'N' };
                        m.price = price;
                    }
                    out.push(m);
                }
                _ => {
                    match_no += 1;
                    let mid = match (g.best_bid(), g.best_ask()) {
                        (Some(b), Some(a)) => (b + a) / 2,
                        _ => g.mid,
                    };
                    out.push(Message {
                        order_ref: 0,
                        side: if rng.random_bool(0.5) { b'B' } else { b'S' },
                        shares: 100 * rng.random_range(1..=5u32),
                        stock: stock8(&symbols[si]),
                        price: mid,
                        match_number: match_no,
                        ..hdr(b'P', loc, &mut rng)
                    });
                }
            }
        }
        out.push(Message {
            event_code: b'C',
            ..hdr(b'S', 0, &mut rng)
        });
        let reference = symbols
            .iter()
            .zip(&syms)
            .enumerate()
            .map(|(i, (s, g))| ReferenceBook {
                symbol: s.clone(),
                locate: (i + 1) as u16,
                bids: g
                    .bids
                    .iter()
                    .rev()
                    .map(|(p, q)| {
                        (
                            i64::from(*p),
                            q.iter().map(|x| u64::from(x.1)).sum(),
                            q.len() as u32,
                        )
                    })
                    .collect(),
                asks: g
                    .asks
                    .iter()
                    .map(|(p, q)| {
                        (
                            i64::from(*p),
                            q.iter().map(|x| u64::from(x.1)).sum(),
                            q.len() as u32,
                        )
                    })
                    .collect(),
            })
            .collect();
        Generated {
            messages: out,
            reference,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_parse_round_trip_and_replay_matches_reference() {
        let g = Generator::new(20_000, 7, &["AAPL", "MSFT", "ZVZZT"]).generate();
        assert_eq!(g.messages.len(), 20_000);
        let bytes = encode_all(&g.messages).unwrap();
        assert_eq!(parse(&bytes).unwrap(), g.messages);
        let mut books = ItchBooks::new(None, false);
        books.apply_stream(&bytes).unwrap();
        assert_eq!(books.books.len(), 3);
        for r in &g.reference {
            let b = books.get(&r.symbol).unwrap();
            let (bids, asks) = b.levels();
            assert_eq!((b.tick, b.reticks), (CENT, 0), "{}", r.symbol);
            assert_eq!((&bids, &asks), (&r.bids, &r.asks), "{}", r.symbol);
            assert!(!bids.is_empty() && !asks.is_empty());
            let orders: u32 = bids.iter().chain(&asks).map(|l| l.2).sum();
            assert!(
                (50..1_000).contains(&orders),
                "book size stays realistic: {orders}"
            );
            b.book.check_invariants().unwrap();
        }
        for t in b"AFEXDUPCSRH" {
            assert!(books.type_counts[usize::from(*t)] > 0, "{}", *t as char);
        }
    }

    #[test]
    fn books_stay_bounded_with_many_symbols() {
        let syms = ["A", "B", "C", "D", "E", "F", "G", "H"];
        let g = Generator::new(200_000, 5, &syms).generate();
        for r in &g.reference {
            let orders: u32 = r.bids.iter().chain(&r.asks).map(|l| l.2).sum();
            assert!(
                (200..700).contains(&orders),
                "{}: {orders} orders",
                r.symbol
            );
        }
    }

    #[test]
    fn reader_in_small_chunks_equals_in_memory() {
        let g = Generator::new(30_000, 2, &["AAPL", "MSFT"]).generate();
        let bytes = encode_all(&g.messages).unwrap();
        let mut a = ItchBooks::new(None, true);
        a.apply_stream(&bytes).unwrap();
        // a reader that returns at most 777 bytes per call: frames straddle every read
        struct Dribble<'a>(&'a [u8]);
        impl std::io::Read for Dribble<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = out.len().min(self.0.len()).min(777);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut b = ItchBooks::new(None, true);
        assert_eq!(
            b.apply_reader(Dribble(&bytes), 0).unwrap(),
            bytes.len() as u64
        );
        assert_eq!(a.messages, b.messages);
        for (x, y) in a.books.iter().zip(&b.books) {
            assert_eq!(x.levels(), y.levels());
            assert_eq!(x.tops, y.tops);
        }
        for cut in [1usize, 2, 3, 20_000, bytes.len() - 1] {
            let want = ItchBooks::new(None, false)
                .apply_stream(&bytes[..cut])
                .unwrap_err();
            let got = ItchBooks::new(None, false)
                .apply_reader(Dribble(&bytes[..cut]), 1)
                .unwrap_err();
            assert_eq!(got, want, "cut at {cut}");
        }
    }

    fn msg(t: u8, order_ref: u64, side: u8, shares: u32, price: u32) -> Message {
        Message {
            msg_type: t,
            locate: 1,
            order_ref,
            side,
            shares,
            price,
            stock: stock8("PENY"),
            ..Message::default()
        }
    }

    #[test]
    fn books_use_the_rule_612_tick_and_move_to_sub_penny_with_queues_intact() {
        // At or above $1.00: the cent tick.
        let mut b = ItchBooks::new(None, false);
        b.apply(0, &msg(b'A', 1, b'B', 100, 10_100)).unwrap(); // $1.01
        b.apply(0, &msg(b'A', 2, b'B', 200, 10_100)).unwrap();
        b.apply(0, &msg(b'A', 3, b'S', 50, 10_300)).unwrap();
        let sb = &b.books[0];
        assert_eq!((sb.tick, sb.reticks), (CENT, 0));
        assert_eq!(sb.book.best_bid().unwrap().price.0, 101);
        // A sub-penny execution price never touches the book: counted.
        let mut c = msg(b'C', 1, 0, 10, 10_101);
        c.printable = b'Y';
        b.apply(0, &c).unwrap();
        assert_eq!(b.books[0].off_tick_prices, 1);
        // Quoted below $1.00: the book moves to $0.0001, FIFO kept (order 1 still first).
        b.apply(0, &msg(b'A', 4, b'B', 70, 9_999)).unwrap();
        let sb = &b.books[0];
        assert_eq!((sb.tick, sb.reticks), (1, 1));
        assert_eq!(
            sb.levels(),
            (
                vec![(10_100, 290, 2), (9_999, 70, 1)],
                vec![(10_300, 50, 1)]
            )
        );
        assert_eq!(sb.book.queue_position(1), Some((0, 0)));
        assert_eq!(sb.book.queue_position(2), Some((1, 90)));
        // Replace onto a sub-penny price keeps working on the finer book.
        let mut u = msg(b'U', 3, 0, 40, 10_250);
        u.new_order_ref = 5;
        b.apply(0, &u).unwrap();
        assert_eq!(b.books[0].levels().1, vec![(10_250, 40, 1)]);
        // Below $1.00 from the first order: $0.0001 from the start.
        let mut b = ItchBooks::new(None, false);
        b.apply(0, &msg(b'A', 1, b'B', 100, 5_123)).unwrap();
        assert_eq!((b.books[0].tick, b.books[0].reticks), (1, 0));
    }

    #[test]
    fn a_tick_set_for_a_symbol_is_kept_and_orders_off_it_are_errors() {
        let mut b = ItchBooks::new(None, false);
        assert!(b.set_tick("PENY", 0).is_err());
        b.set_tick("PENY", 500).unwrap(); // $0.05
        b.apply(0, &msg(b'A', 1, b'B', 100, 10_500)).unwrap();
        assert_eq!(b.books[0].tick, 500);
        assert_eq!(b.books[0].book.best_bid().unwrap().price.0, 21);
        let e = b.apply(77, &msg(b'A', 2, b'B', 100, 10_600)).unwrap_err();
        assert_eq!((e.offset, e.msg_type), (77, Some(b'A')));
        assert!(
            e.to_string()
                .contains("1.0600 is not on the tick 0.0500 set for PENY"),
            "{e}"
        );
    }

    #[test]
    fn errors_carry_offset_and_type() {
        let g = Generator::new(50, 1, &["AAPL"]).generate();
        let bytes = encode_all(&g.messages).unwrap();
        let cut = &bytes[..bytes.len() - 3];
        let e = parse(cut).unwrap_err();
        assert_eq!(e.msg_type, Some(b'S'));
        assert!(matches!(e.kind, ItchErrorKind::Truncated { .. }));
        assert_eq!(e.offset as usize, bytes.len() - 14);
        assert!(e.to_string().contains("message type 'S'"), "{e}");
        let mut bad = bytes.clone();
        bad[2] = b'Z';
        let e = parse(&bad).unwrap_err();
        assert_eq!((e.offset, e.msg_type), (0, Some(b'Z')));
        assert_eq!(e.kind, ItchErrorKind::UnknownType);
    }
}
