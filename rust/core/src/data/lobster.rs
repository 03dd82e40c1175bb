//! LOBSTER replay: parse LOBSTER message and orderbook files, replay the messages into a real
//! [`OrderBook`], check the book against the recorded levels after every message, and measure
//! queue position at execution time.
//!
//! # Format
//! LOBSTER files have no header and are comma separated. A message row is
//! `Time,Type,OrderID,Size,Price,Direction`: time in seconds after midnight (decimal, up to
//! nanoseconds), type 1 add, 2 partial cancel, 3 delete, 4 visible execution, 5 hidden
//! execution, 6 cross trade, 7 trading halt; the price in dollars × 10000; direction 1 buy,
//! -1 sell (of the resting order for executions). Orderbook row `k` is the book after message
//! `k`: for each level `AskPrice,AskSize,BidPrice,BidSize`, empty levels written as
//! `9999999999,0` (ask) and `-9999999999,0` (bid).
//!
//! [`parse_messages`] gives a flat `Vec<i64>` of 6 columns per row, the time converted exactly
//! to integer nanoseconds after midnight; [`parse_orderbook`] gives a flat `Vec<i64>` of `4L`
//! columns. Parsing never panics: bad input is a [`LobsterError::Format`] naming the file, the
//! 1-based line and the field.
//!
//! # Prices
//! Types 1–4 sit on the $0.01 tick, so the book runs in ticks of `price / 100`; a price that is
//! not a multiple of 100 is an error. Type 5 hidden executions may sit on a half cent: they
//! never touch the visible book and are only recorded as trades.
//!
//! # Seeding, unknown ids and edge-sync
//! The replay starts from orderbook row 0 (the book after message 0). Its liquidity belongs to
//! orders whose ids the file never showed, so each level gets a synthetic *residual* order with
//! an id from [`RESIDUAL_ID_BASE`] upward (LOBSTER ids are below it); if message 0 is an add,
//! that order is seeded as itself behind the residual. A reduction, delete or execution of an
//! unknown id comes out of its level: residual orders first (oldest first), then the oldest
//! known order holding exactly the missing size (one unseen delete removes one whole order),
//! else known orders from the back of the queue. Which orders give up the shares never
//! changes a level's size, only the queue analytics.
//!
//! A level-L message file holds only the events inside the top-L price window, so a plain
//! replay goes stale within a few dozen rows. With [`ReplayOptions::edge_sync`] (the default)
//! the replay adds, after every message `i ≥ 1`:
//! 1. every price shown in row `i` but not in row `i-1`, other than the price of the message
//!    itself (types 1–4), is liquidity that entered the window from outside: its level is set
//!    to the size the row shows (a residual order is added, or the level is reduced);
//! 2. every level of ours that lies inside the shown window of row `i` (all of a side when the
//!    row shows fewer than L levels on it) and is absent from both row `i` and row `i-1` was
//!    cancelled out of sight and is dropped;
//! 3. when a known order is deleted or executed for a size other than the one we hold (it
//!    changed while outside the window), the difference goes to the level: a residual is added
//!    if we held more, the level is reduced if we held less.
//!
//! Rows matched are counted after the adapter ran; the adapter never touches a price that is
//! in both rows `i-1` and `i`, so those levels are checked by the message stream alone.
//! [`ReplayReport::rows_synced`] counts rows where it changed anything.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rustc_hash::FxHashMap;
use thiserror::Error;

use crate::book::{LevelView, OrderBook};
use crate::error::OrderError;
use crate::types::{NewOrder, OrderId, Price, Qty, Side};

/// First id of the synthetic residual orders (liquidity of unknown ids). LOBSTER order ids
/// must be below it.
pub const RESIDUAL_ID_BASE: OrderId = 1 << 62;
/// Price LOBSTER writes for an empty ask level.
pub const EMPTY_ASK_PRICE: i64 = 9_999_999_999;
/// Price LOBSTER writes for an empty bid level.
pub const EMPTY_BID_PRICE: i64 = -9_999_999_999;
/// LOBSTER price units (dollars × 10000) per $0.01 tick.
pub const PRICE_PER_TICK: i64 = 100;
/// Columns of a message row.
pub const MESSAGE_COLUMNS: usize = 6;
/// Names of the message columns, as used in errors.
pub const MESSAGE_FIELDS: [&str; MESSAGE_COLUMNS] =
    ["Time", "Type", "OrderID", "Size", "Price", "Direction"];
const BOOK_FIELDS: [&str; 4] = ["AskPrice", "AskSize", "BidPrice", "BidSize"];
const MAX_FRACTION_DIGITS: usize = 9;
const MAX_SIZE: i64 = 1 << 48;

/// Why LOBSTER input could not be read or replayed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LobsterError {
    /// A file's content does not follow the LOBSTER format.
    #[error("{file}: line {line}, field {field}: {reason}")]
    Format {
        /// The file (as named by the caller).
        file: String,
        /// 1-based line number.
        line: usize,
        /// The field: a column name such as `Price` or `BidSize_3`, or `row` / `row count`.
        field: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// A file that cannot be read, or a zip archive that is truncated, corrupt or lacks the
    /// LOBSTER members.
    #[error("{file}: {reason}")]
    File {
        /// The file (as named by the caller).
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// Replay arguments that do not fit together (array shapes, level count).
    #[error("invalid LOBSTER replay input: {0}")]
    Input(String),
    /// The book refused an operation the replay derived from a message.
    #[error("message {index} (line {line}) {message:?}: the book refused it: {source}")]
    Book {
        /// 0-based message index.
        index: usize,
        /// 1-based line of the message file.
        line: usize,
        /// The message row.
        message: [i64; MESSAGE_COLUMNS],
        /// The book's error.
        source: OrderError,
    },
}

/// The name of column `col` (0-based) of a LOBSTER orderbook file, e.g. `AskPrice_1`.
pub fn orderbook_field(col: usize) -> String {
    format!("{}_{}", BOOK_FIELDS[col % 4], col / 4 + 1)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Orderbook,
}

fn field_name(kind: Kind, col: usize) -> String {
    match kind {
        Kind::Message => MESSAGE_FIELDS
            .get(col)
            .map_or_else(|| format!("field {}", col + 1), |s| (*s).to_string()),
        Kind::Orderbook => orderbook_field(col),
    }
}

fn show(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(40)];
    let s = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > 40 {
        format!("{s:?}…")
    } else {
        format!("{s:?}")
    }
}

/// The bytes of the field starting at `pos` (up to the next delimiter).
fn field_text(data: &[u8], pos: usize) -> &[u8] {
    let end = data[pos..]
        .iter()
        .position(|&c| c == b',' || c == b'\n' || c == b'\r')
        .map_or(data.len(), |e| pos + e);
    &data[pos..end]
}

const POW10: [i64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The decimal digits at the start of `chunk` (8 bytes, first character in the lowest byte):
/// how many there are (0..=8) and their value. SWAR: one load, a few multiplies.
#[inline(always)]
fn swar_digits(chunk: u64) -> (usize, i64) {
    const LO: u64 = 0x3030_3030_3030_3030;
    let hi = chunk & 0xF0F0_F0F0_F0F0_F0F0;
    let hi6 = chunk.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0;
    // A byte is a digit iff its high nibble is 3 before and after adding 6 (0x30..=0x39);
    // a carry out of a non-digit byte only disturbs later bytes, which are not digits' business.
    let bad = (hi ^ LO) | (hi6 ^ LO);
    let len = (bad.trailing_zeros() / 8) as usize;
    if len == 0 {
        return (0, 0);
    }
    let v = chunk.wrapping_sub(LO) << (8 * (8 - len));
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    let v = (v.wrapping_mul(10_000) + (v >> 32)) & 0x0000_0000_FFFF_FFFF;
    (len, v as i64)
}

/// Parse a signed integer at `pos`; returns the value and the position after it, or `None`
/// (then [`int_error`] says why).
#[inline(always)]
fn parse_int(data: &[u8], pos: usize) -> Option<(i64, usize)> {
    let rest = data.get(pos..).unwrap_or(&[]);
    let sign = usize::from(rest.first() == Some(&b'-'));
    let mut i = sign;
    let mut v: i64 = 0;
    // 8 digits at a time while 8 bytes remain; at most 16 digits this way (no overflow).
    while i - sign < 16 {
        let Some(bytes) = rest.get(i..i + 8) else {
            break;
        };
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        let (len, d) = swar_digits(u64::from_le_bytes(b));
        v = v * POW10[len] + d;
        i += len;
        if len < 8 {
            return finish_int(pos, sign, i, v);
        }
    }
    parse_int_tail(data, pos, sign, i, v)
}

/// The digits after `i` one by one, with overflow checks.
#[cold]
fn parse_int_tail(
    data: &[u8],
    pos: usize,
    sign: usize,
    mut i: usize,
    mut v: i64,
) -> Option<(i64, usize)> {
    let rest = data.get(pos..).unwrap_or(&[]);
    while let Some(&c) = rest.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(d))?;
        i += 1;
    }
    finish_int(pos, sign, i, v)
}

#[inline(always)]
fn finish_int(pos: usize, sign: usize, i: usize, v: i64) -> Option<(i64, usize)> {
    (i != sign).then_some((if sign == 1 { -v } else { v }, pos + i))
}

/// Why [`parse_int`] refused the field at `pos`.
#[cold]
fn int_error(data: &[u8], pos: usize) -> String {
    let text = field_text(data, pos);
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        format!("integer {} does not fit in 64 bits", show(text))
    } else {
        not_number(data, pos, "an integer")
    }
}

/// The 8 bytes of `s` from `at` as a little-endian word (`at + 8 <= 17`).
#[inline(always)]
fn word_at(s: &[u8; 17], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Fast path for a line of plain integers: fills `out` (one value per field) from the line
/// at `pos` and returns the position after its `\n`. Each field is an optional `-` and 1 to
/// 15 digits followed by `,` (`\n` after the last one), read 8 digits at a time from a fixed
/// 17-byte window. Anything else (CRLF, the last bytes of the buffer, longer numbers, bad
/// input) gives `None` and the careful per-field parser takes the line, so errors and edge
/// cases have exactly one implementation.
#[inline(always)]
fn fast_int_row(data: &[u8], mut pos: usize, out: &mut [i64]) -> Option<usize> {
    let last = out.len().checked_sub(1)?;
    for (c, slot) in out.iter_mut().enumerate() {
        let s = data.get(pos..)?.first_chunk::<17>()?;
        let neg = s[0] == b'-';
        let sign = usize::from(neg);
        let (len, mut v) = swar_digits(word_at(s, sign));
        if len == 0 {
            return None;
        }
        let mut n = len;
        if len == 8 {
            let (len2, v2) = swar_digits(word_at(s, sign + 8));
            if len2 == 8 {
                return None;
            }
            v = v * POW10[len2] + v2;
            n += len2;
        }
        let delim = if c == last { b'\n' } else { b',' };
        if s[sign + n] != delim {
            return None;
        }
        *slot = if neg { -v } else { v };
        pos += sign + n + 1;
    }
    Some(pos)
}

/// Per byte of a 64-byte block, as bit masks: delimiters (`,` or `\n`), bytes an integer
/// line may hold (digits, delimiters, `-`), and `-`. SSE2 (part of every x86-64 CPU):
/// 16 bytes per compare, `movemask` to bits.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_masks(b: &[u8; 64]) -> (u64, u64, u64) {
    let (mut delim, mut ok, mut minus) = (0u64, 0u64, 0u64);
    for (k, q) in b.chunks_exact(16).enumerate() {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&q[..8]);
        hi.copy_from_slice(&q[8..]);
        // SAFETY: `sse2_masks` only requires SSE2, which is part of the x86-64 baseline
        // (enabled in every x86-64 build), so every CPU this code runs on has it.
        let (d, m, o) = unsafe { sse2_masks(lo, hi) };
        delim |= u64::from(d) << (16 * k);
        minus |= u64::from(m) << (16 * k);
        ok |= u64::from(o) << (16 * k);
    }
    (delim, ok, minus)
}

/// The masks of [`block_masks`] for one 16-byte group (`lo`: bytes 0-7, `hi`: 8-15). The
/// intrinsics only compute on values (no memory access); they are safe to call here since
/// this function enables SSE2, the one feature they need. Inlined into `block_masks`
/// (SSE2 is already enabled there, so inlining is allowed).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn sse2_masks(lo: [u8; 8], hi: [u8; 8]) -> (u16, u16, u16) {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x, _mm_sub_epi8,
    };
    let v = _mm_set_epi64x(i64::from_le_bytes(hi), i64::from_le_bytes(lo));
    let d = _mm_or_si128(
        _mm_cmpeq_epi8(v, _mm_set1_epi8(b',' as i8)),
        _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)),
    );
    let m = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'-' as i8));
    let t = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
    let digit = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(9)), t);
    let o = _mm_or_si128(_mm_or_si128(d, m), digit);
    (
        _mm_movemask_epi8(d) as u16,
        _mm_movemask_epi8(m) as u16,
        _mm_movemask_epi8(o) as u16,
    )
}

/// [`block_masks`] for other CPUs: a plain loop.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn block_masks(b: &[u8; 64]) -> (u64, u64, u64) {
    let (mut delim, mut ok, mut minus) = (0u64, 0u64, 0u64);
    for (i, &c) in b.iter().enumerate() {
        let d = (c == b',') | (c == b'\n');
        let m = c == b'-';
        delim |= u64::from(d) << i;
        minus |= u64::from(m) << i;
        ok |= u64::from(d | m | (c.wrapping_sub(b'0') < 10)) << i;
    }
    (delim, ok, minus)
}

/// The value of the `len` (1..=8) digits that end just before `end` (`end >= 8`; the digits
/// are known to be ASCII digits): one load of the 8 bytes before `end`, the bytes before the
/// digits masked off.
#[inline(always)]
fn digits_before(data: &[u8], end: usize, len: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[end - 8..end]);
    let w = (u64::from_le_bytes(b) ^ 0x3030_3030_3030_3030) & (u64::MAX << (8 * (8 - len)));
    let v = (w.wrapping_mul(10) + (w >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    let v = (v.wrapping_mul(10_000) + (v >> 32)) & 0x0000_0000_FFFF_FFFF;
    v as i64
}

/// Fastest path for a line of plain integers (see [`fast_int_row`] for the contract): the
/// delimiters of 64 bytes at a time become a bit mask, so each field's end is found with
/// one `trailing_zeros` instead of by walking its digits, and the fields of a line are
/// converted independently of each other. Every byte of the line is checked (digits,
/// delimiters, `-` only at a field start); any doubt gives `None`. Needs 16 bytes before
/// `pos` (digits are loaded backwards from their delimiter) and 64 from each block start.
#[inline(always)]
fn fast_int_row_masked(data: &[u8], pos: usize, out: &mut [i64]) -> Option<usize> {
    if pos < 16 {
        return None;
    }
    let cols = out.len();
    let mut col = 0usize;
    let mut s = pos; // start of the current field
    let mut base = pos;
    // bit 0 of the next block is a field start if the line starts there
    let mut start_carry = 1u64;
    loop {
        let blk = data.get(base..)?.first_chunk::<64>()?;
        let (delim, ok, minus) = block_masks(blk);
        let starts = (delim << 1) | start_carry;
        let mut rest = delim;
        while rest != 0 {
            let bit = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let d = base + bit;
            let neg = data[s] == b'-';
            let len = d - s - usize::from(neg);
            if len == 0 || len > 16 || col >= cols {
                return None;
            }
            let v = if len <= 8 {
                digits_before(data, d, len)
            } else {
                digits_before(data, d - 8, len - 8) * 100_000_000 + digits_before(data, d, 8)
            };
            out[col] = if neg { -v } else { v };
            col += 1;
            s = d + 1;
            if blk[bit] == b'\n' {
                // bits 0..=bit of this block belong to the line
                let line = if bit == 63 {
                    u64::MAX
                } else {
                    (1u64 << (bit + 1)) - 1
                };
                let bad = (!ok | (minus & !starts)) & line;
                return (col == cols && bad == 0).then_some(d + 1);
            }
        }
        if ok != u64::MAX || minus & !starts != 0 {
            return None;
        }
        start_carry = delim >> 63;
        base += 64;
    }
}

/// Fast path for a message line (see [`fast_int_row`]): the time, then 5 integers.
#[inline(always)]
fn fast_message_row(data: &[u8], pos: usize, out: &mut [i64]) -> Option<usize> {
    let (first, rest) = out.split_first_mut()?;
    let (t, next) = fast_time(data, pos)?;
    if data.get(next) != Some(&b',') {
        return None;
    }
    *first = t;
    fast_int_row_masked(data, next + 1, rest).or_else(|| fast_int_row(data, next + 1, rest))
}

/// Fast path for a time field (see [`parse_time`]): 1 to 7 digits of seconds, optionally a
/// `.` and up to 9 decimals, read 8 bytes at a time; `None` for anything else.
#[inline(always)]
fn fast_time(data: &[u8], pos: usize) -> Option<(i64, usize)> {
    let s = data.get(pos..)?.first_chunk::<24>()?;
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let (l1, secs) = swar_digits(word(0));
    if l1 == 0 || l1 == 8 {
        return None;
    }
    let mut p = l1;
    let mut frac = 0i64;
    let mut n = 0usize;
    if s[p] == b'.' {
        p += 1;
        let (l2, f) = swar_digits(word(p));
        frac = f;
        n = l2;
        p += l2;
        if l2 == 8 {
            let d = s[p].wrapping_sub(b'0');
            if d < 10 {
                frac = frac * 10 + i64::from(d);
                n = 9;
                p += 1;
            }
        }
    }
    if s[p].is_ascii_digit() {
        return None; // more than 9 decimals: the careful parser rounds them
    }
    let scale = POW10
        .get(MAX_FRACTION_DIGITS - n)
        .copied()
        .unwrap_or(1_000_000_000);
    Some((secs * 1_000_000_000 + frac * scale, pos + p))
}

/// Number of `\n` bytes (vectorises: byte-wide counters per 128-byte block).
fn count_newlines(data: &[u8]) -> usize {
    let mut n = 0usize;
    let mut blocks = data.chunks_exact(128);
    for b in &mut blocks {
        let mut k = 0u8;
        for &c in b {
            k += u8::from(c == b'\n');
        }
        n += usize::from(k);
    }
    n + blocks.remainder().iter().filter(|&&c| c == b'\n').count()
}

fn not_number(data: &[u8], start: usize, what: &str) -> String {
    let text = field_text(data, start);
    if text.is_empty() {
        format!("empty field, expected {what}")
    } else {
        format!("{} is not {what}", show(text))
    }
}

/// Parse a non-negative decimal number of seconds at `pos` into nanoseconds. Any number of
/// decimals is accepted: past the 9th, the time is rounded to the nearest nanosecond (a
/// 10th decimal of 5 or more rounds up, carrying into the seconds if it must), and the
/// third value says whether a non-zero decimal was dropped.
#[inline]
fn parse_time(data: &[u8], pos: usize) -> Result<(i64, usize, bool), String> {
    const WHAT: &str = "a time in seconds such as 34200.004241176";
    let start = pos;
    if data.get(pos) == Some(&b'-') {
        return Err(format!(
            "{} is negative, expected {WHAT}",
            show(field_text(data, start))
        ));
    }
    let (secs, mut pos) = parse_int(data, pos).ok_or_else(|| not_number(data, start, WHAT))?;
    let mut frac: i64 = 0;
    let mut n = 0usize;
    let mut round_up = false;
    let mut rounded = false;
    if data.get(pos) == Some(&b'.') {
        pos += 1;
        while let Some(&c) = data.get(pos) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            n += 1;
            if n <= MAX_FRACTION_DIGITS {
                frac = frac * 10 + i64::from(d);
            } else {
                if n == MAX_FRACTION_DIGITS + 1 {
                    round_up = d >= 5;
                }
                rounded |= d != 0;
            }
            pos += 1;
        }
    }
    for _ in n..MAX_FRACTION_DIGITS {
        frac *= 10;
    }
    let ns = secs
        .checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(frac + i64::from(round_up)))
        .ok_or_else(|| format!("{} is too large", show(field_text(data, start))))?;
    Ok((ns, pos, rounded))
}

/// Chunks per parsing thread for large inputs (see [`parse_rows_with`]).
const CHUNKS_PER_THREAD: usize = 4;

/// Inputs below this size are parsed on the calling thread only.
const PARALLEL_MIN_BYTES: usize = 4 << 20;

/// Parse a whole file into one exactly sized array. Large inputs are split into chunks at line
/// starts and parsed on several threads, each into its own part of the array; an error names
/// the earliest bad line of the file.
fn parse_rows(
    data: &[u8],
    file: &str,
    kind: Kind,
    fixed_cols: Option<usize>,
) -> Result<(Vec<i64>, usize), LobsterError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    parse_rows_with(data, file, kind, fixed_cols, threads, PARALLEL_MIN_BYTES)
}

fn parse_rows_with(
    data: &[u8],
    file: &str,
    kind: Kind,
    fixed_cols: Option<usize>,
    threads: usize,
    min_bytes: usize,
) -> Result<(Vec<i64>, usize), LobsterError> {
    parse_rows_into(data, file, kind, fixed_cols, threads, min_bytes, None)
        .map(|p| (p.values, p.cols))
}

/// [`parse_rows_with`] that writes into `ready` when it has exactly the size the file needs
/// (a buffer another thread allocated and faulted in while this data was still being read).
fn parse_rows_into(
    data: &[u8],
    file: &str,
    kind: Kind,
    fixed_cols: Option<usize>,
    threads: usize,
    min_bytes: usize,
    ready: Option<Vec<i64>>,
) -> Result<Parsed, LobsterError> {
    let err = |line: usize, field: &str, reason: String| LobsterError::Format {
        file: file.to_string(),
        line,
        field: field.to_string(),
        reason,
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(err(1, "row", "the file is empty (no rows)".to_string()));
    }
    // The first line fixes the column count of an orderbook file.
    let cols = match fixed_cols {
        Some(c) => c,
        None => {
            let first = data.iter().take_while(|&&c| c != b'\n');
            let c = 1 + first.filter(|&&c| c == b',').count();
            if c % 4 != 0 {
                return Err(err(
                    1,
                    "row",
                    format!(
                        "{c} fields: an orderbook row has 4 per level (AskPrice, AskSize, \
                         BidPrice, BidSize)"
                    ),
                ));
            }
            c
        }
    };
    // Chunk boundaries just after a newline, so every chunk starts a line.
    // Several chunks per thread, taken from a shared queue: on a busy machine a thread that
    // loses its core for a while leaves its remaining chunks to the others.
    let mut bounds = vec![0usize];
    let pieces = threads.saturating_mul(CHUNKS_PER_THREAD);
    if threads > 1 && data.len() >= min_bytes {
        for k in 1..pieces {
            let target = data.len() * k / pieces;
            if target <= bounds.last().copied().unwrap_or(0) {
                continue;
            }
            match data[target..].iter().position(|&c| c == b'\n') {
                Some(i) if target + i + 1 < data.len() => bounds.push(target + i + 1),
                _ => break,
            }
        }
    }
    bounds.push(data.len());
    let mut chunks: Vec<&[u8]> = bounds.windows(2).map(|w| &data[w[0]..w[1]]).collect();
    let lines: Vec<usize> = chunks.iter().map(|c| count_newlines(c)).collect();
    let mut slots: Vec<usize> = chunks
        .iter()
        .zip(&lines)
        .map(|(c, &l)| (l + usize::from(c.last() != Some(&b'\n'))).saturating_mul(cols))
        .collect();
    // Every value takes at least 2 bytes (a digit and a delimiter), so a valid file never
    // needs more; a file whose first line promises more is parsed in one piece and fails.
    let most = data.len() / 2 + 1;
    if slots.iter().fold(0usize, |a, &b| a.saturating_add(b)) > most {
        chunks = vec![data];
        slots = vec![most];
    }
    let total: usize = slots.iter().sum();
    let mut out = match ready {
        Some(v) if v.len() == total => v,
        _ => {
            let v = vec![0i64; total];
            crate::mem::advise_huge_pages(&v);
            v
        }
    };
    let n_chunks = chunks.len();
    let results: Vec<Result<(usize, usize), LobsterError>> = {
        let mut parts: Vec<&mut [i64]> = Vec::with_capacity(n_chunks);
        let mut rest: &mut [i64] = &mut out;
        for &k in &slots {
            let (head, tail) = rest.split_at_mut(k);
            parts.push(head);
            rest = tail;
        }
        if n_chunks == 1 {
            parts
                .into_iter()
                .map(|p| parse_chunk(data, file, kind, cols, true, p))
                .collect()
        } else {
            type Job<'d, 'o> = Mutex<Option<(&'d [u8], &'o mut [i64])>>;
            let jobs: Vec<Job<'_, '_>> = chunks
                .iter()
                .zip(parts)
                .map(|(c, p)| Mutex::new(Some((*c, p))))
                .collect();
            type Done = Mutex<Option<Result<(usize, usize), LobsterError>>>;
            let done: Vec<Done> = (0..n_chunks).map(|_| Mutex::new(None)).collect();
            let next = AtomicUsize::new(0);
            let work = || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(k) else { break };
                let Some((c, p)) = job.lock().ok().and_then(|mut j| j.take()) else {
                    continue;
                };
                let r = parse_chunk(c, file, kind, cols, k + 1 == n_chunks, p);
                if let Ok(mut slot) = done[k].lock() {
                    *slot = Some(r);
                }
            };
            std::thread::scope(|s| {
                let helpers: Vec<_> = (1..threads.min(n_chunks)).map(|_| s.spawn(work)).collect();
                work();
                for h in helpers {
                    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                }
            });
            done.into_iter()
                .map(|m| {
                    m.into_inner().ok().flatten().unwrap_or_else(|| {
                        Err(LobsterError::Input(
                            "a parse chunk was not parsed".to_string(),
                        ))
                    })
                })
                .collect()
        }
    };
    let mut lines_before = 0usize;
    let mut end = 0usize;
    let mut rounded = 0usize;
    for (k, r) in results.into_iter().enumerate() {
        let (written, r_k) = r.map_err(|e| match e {
            LobsterError::Format {
                file,
                line,
                field,
                reason,
            } => LobsterError::Format {
                file,
                line: line + lines_before,
                field,
                reason,
            },
            other => other,
        })?;
        // Only the last chunk may stop short (trailing blank lines).
        end = slots[..k].iter().sum::<usize>() + written;
        rounded += r_k;
        lines_before += lines.get(k).copied().unwrap_or(0);
    }
    out.truncate(end);
    if out.is_empty() {
        return Err(err(1, "row", "the file is empty (no rows)".to_string()));
    }
    Ok(Parsed {
        values: out,
        cols,
        rounded_times: rounded,
    })
}

/// LOBSTER writes messages in time order (rows at the same nanosecond are common, more so
/// after rounding): a row whose time is before the previous row's is an error naming its line.
/// Checked when a pair is loaded from files ([`load_csv`], [`load_zip`]); [`parse_messages`]
/// parses rows in any order.
fn check_time_order(values: &[i64], file: &str) -> Result<(), LobsterError> {
    let mut prev = i64::MIN;
    for (i, row) in values.chunks_exact(MESSAGE_COLUMNS).enumerate() {
        let t = row[0];
        if t < prev {
            let secs = |ns: i64| format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
            return Err(LobsterError::Format {
                file: file.to_string(),
                line: i + 1,
                field: "Time".to_string(),
                reason: format!(
                    "{} is before the previous row's {} (times must not go backwards)",
                    secs(t),
                    secs(prev)
                ),
            });
        }
        prev = t;
    }
    Ok(())
}

/// A parsed file: its values, columns per row, and message times rounded to the nanosecond.
struct Parsed {
    values: Vec<i64>,
    cols: usize,
    rounded_times: usize,
}

/// Parse one chunk of whole lines of `cols` fields into `out`; `last` allows trailing blank
/// lines. Returns the number of values written and of times rounded to the nanosecond.
fn parse_chunk(
    data: &[u8],
    file: &str,
    kind: Kind,
    cols: usize,
    last: bool,
    out: &mut [i64],
) -> Result<(usize, usize), LobsterError> {
    let err = |line: usize, field: String, reason: String| LobsterError::Format {
        file: file.to_string(),
        line,
        field,
        reason,
    };
    let n = data.len();
    let mut w = 0usize;
    let mut pos = 0usize;
    let mut line = 0usize;
    let mut rounded = 0usize;
    while pos < n {
        line += 1;
        if data[pos] == b'\n' || data[pos] == b'\r' {
            if last && data[pos..].iter().all(u8::is_ascii_whitespace) {
                break; // trailing blank lines
            }
            return Err(err(
                line,
                "row".to_string(),
                "empty line inside the file".to_string(),
            ));
        }
        #[cfg(test)]
        let fast_ok = !tests::CAREFUL_ONLY.with(std::cell::Cell::get);
        #[cfg(not(test))]
        let fast_ok = true;
        if let Some(row) = out.get_mut(w..w + cols).filter(|_| fast_ok) {
            let fast = match kind {
                Kind::Orderbook => {
                    fast_int_row_masked(data, pos, row).or_else(|| fast_int_row(data, pos, row))
                }
                Kind::Message => fast_message_row(data, pos, row),
            };
            if let Some(next) = fast {
                w += cols;
                pos = next;
                continue;
            }
        }
        let mut col = 0usize;
        loop {
            if col >= cols {
                return Err(err(
                    line,
                    "row".to_string(),
                    format!("too many fields: expected {cols}, found more"),
                ));
            }
            let parsed = if kind == Kind::Message && col == 0 {
                parse_time(data, pos).ok().map(|(v, next, r)| {
                    rounded += usize::from(r);
                    (v, next)
                })
            } else {
                parse_int(data, pos)
            };
            let Some((v, next)) = parsed else {
                let why = if kind == Kind::Message && col == 0 {
                    parse_time(data, pos).err().unwrap_or_default()
                } else {
                    int_error(data, pos)
                };
                return Err(err(line, field_name(kind, col), why));
            };
            let Some(slot) = out.get_mut(w) else {
                return Err(err(
                    line,
                    "row".to_string(),
                    "more values than the lines of the file can hold (is the first line \
                     complete?)"
                        .to_string(),
                ));
            };
            *slot = v;
            w += 1;
            col += 1;
            pos = next;
            match data.get(pos) {
                Some(b',') => pos += 1,
                Some(b'\n') => {
                    pos += 1;
                    break;
                }
                Some(b'\r') if matches!(data.get(pos + 1), Some(b'\n') | None) => {
                    pos += if data.get(pos + 1).is_some() { 2 } else { 1 };
                    break;
                }
                None => break,
                Some(_) => {
                    return Err(err(
                        line,
                        field_name(kind, col - 1),
                        format!(
                            "unexpected characters after the number: {}",
                            show(field_text(data, pos))
                        ),
                    ))
                }
            }
        }
        if col != cols {
            return Err(err(
                line,
                field_name(kind, col),
                format!("missing: expected {cols} fields, found {col} (truncated line?)"),
            ));
        }
    }
    Ok((w, rounded))
}

/// Parse a LOBSTER message file: a flat array of 6 columns per row (`Time` as integer
/// nanoseconds after midnight).
///
/// # Errors
/// [`LobsterError::Format`] naming `file`, the line and the field.
pub fn parse_messages(data: &[u8], file: &str) -> Result<Vec<i64>, LobsterError> {
    parse_messages_counted(data, file).map(|(v, _)| v)
}

/// [`parse_messages`], and how many rows had a time with more than 9 decimals that was
/// rounded to the nearest nanosecond (0 on a clean file).
///
/// # Errors
/// As [`parse_messages`].
pub fn parse_messages_counted(data: &[u8], file: &str) -> Result<(Vec<i64>, usize), LobsterError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let p = parse_rows_into(
        data,
        file,
        Kind::Message,
        Some(MESSAGE_COLUMNS),
        threads,
        PARALLEL_MIN_BYTES,
        None,
    )?;
    Ok((p.values, p.rounded_times))
}

/// Parse a LOBSTER orderbook file: a flat array and its column count (4 × levels), which the
/// first row fixes.
///
/// # Errors
/// [`LobsterError::Format`] naming `file`, the line and the field.
pub fn parse_orderbook(data: &[u8], file: &str) -> Result<(Vec<i64>, usize), LobsterError> {
    parse_rows(data, file, Kind::Orderbook, None)
}

/// A LOBSTER pair read and parsed by [`load_zip`] or [`load_csv`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPair {
    /// Messages, 6 columns per row (see [`parse_messages`]).
    pub messages: Vec<i64>,
    /// Orderbook rows, `orderbook_cols` columns each (see [`parse_orderbook`]).
    pub orderbook: Vec<i64>,
    /// 4 × the levels of the orderbook file.
    pub orderbook_cols: usize,
    /// The message file's name as errors give it (`archive.zip!member.csv` for a zip).
    pub message_file: String,
    /// The orderbook file's name as errors give it.
    pub orderbook_file: String,
    /// Wall-clock seconds of parsing: the message file's parse plus the orderbook's (the
    /// message file is parsed while the orderbook is still being read or inflated).
    pub parse_seconds: f64,
    /// Message rows whose time had more than 9 decimals and was rounded to the nearest
    /// nanosecond (0 on a clean file).
    pub rounded_times: usize,
}

/// Read a whole file into a buffer backed by huge pages where the kernel allows it.
fn read_file(path: &std::path::Path, name: &str) -> Result<Vec<u8>, LobsterError> {
    use std::io::Read;
    let fail = |e: std::io::Error| LobsterError::File {
        file: name.to_string(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "file not found".to_string()
        } else {
            format!("cannot read: {e}")
        },
    };
    let mut f = std::fs::File::open(path).map_err(fail)?;
    let len = f.metadata().map_err(fail)?.len();
    let mut buf: Vec<u8> = Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 1);
    crate::mem::advise_huge_pages(buf.spare_capacity_mut());
    f.read_to_end(&mut buf).map_err(fail)?;
    Ok(buf)
}

/// Parse a message file on the calling thread only (the orderbook has the other cores).
fn parse_messages_here(data: &[u8], file: &str) -> Result<(Vec<i64>, f64, usize), LobsterError> {
    let t = Instant::now();
    let p = parse_rows_into(
        data,
        file,
        Kind::Message,
        Some(MESSAGE_COLUMNS),
        1,
        usize::MAX,
        None,
    )?;
    check_time_order(&p.values, file)?;
    Ok((p.values, t.elapsed().as_secs_f64(), p.rounded_times))
}

/// The orderbook array a valid pair needs, allocated and faulted in ahead of time: one row
/// per message, 4 columns per level (the level from the file name, `..._orderbook_L.csv`).
fn orderbook_ahead(rows: usize, orderbook_file: &str) -> Option<Vec<i64>> {
    let level = member_level(orderbook_file.rsplit('!').next()?, "orderbook")?;
    let n = rows.checked_mul(4 * usize::try_from(level).ok()?)?;
    if n > (1 << 30) {
        return None;
    }
    let mut v = vec![0i64; n];
    crate::mem::advise_huge_pages(&v);
    // One write per 4 KiB page (`black_box`: the compiler must not drop stores of a zero it
    // knows is there); the parser overwrites every value.
    for x in v.iter_mut().step_by(512) {
        *x = std::hint::black_box(0);
    }
    Some(v)
}

/// With `parallel`, the message file is fetched (read or inflated) and parsed on a second
/// thread while this one fetches the orderbook file; that thread then allocates and faults
/// in the orderbook's output array (its size follows from the message count and the level
/// in the file name), and the orderbook is parsed on every core. Small pairs (`parallel`
/// false) are done on the calling thread: on a busy machine a new thread can wait
/// milliseconds for a core, longer than their whole parse.
fn load_pair<'a>(
    message: impl FnOnce() -> Result<std::borrow::Cow<'a, [u8]>, LobsterError> + Send,
    orderbook: impl FnOnce() -> Result<std::borrow::Cow<'a, [u8]>, LobsterError>,
    message_file: String,
    orderbook_file: String,
    parallel: bool,
) -> Result<LoadedPair, LobsterError> {
    let mname = message_file.as_str();
    let oname = orderbook_file.as_str();
    let (book_bytes, msgs) = if parallel {
        std::thread::scope(|s| {
            let h = s.spawn(move || {
                let (m, secs, rounded) = parse_messages_here(&message()?, mname)?;
                let ahead = orderbook_ahead(m.len() / MESSAGE_COLUMNS, oname);
                Ok((m, secs, rounded, ahead))
            });
            let book = orderbook();
            let msgs = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (book, msgs)
        })
    } else {
        let msgs = message()
            .and_then(|m| parse_messages_here(&m, mname))
            .map(|(m, secs, rounded)| (m, secs, rounded, None));
        (orderbook(), msgs)
    };
    let (messages, msg_secs, rounded_times, ahead) = msgs?;
    check_time_order(&messages, &message_file)?;
    let book_bytes = book_bytes?;
    let t = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let Parsed {
        values: orderbook,
        cols: orderbook_cols,
        ..
    } = parse_rows_into(
        &book_bytes,
        &orderbook_file,
        Kind::Orderbook,
        None,
        threads,
        PARALLEL_MIN_BYTES,
        ahead,
    )?;
    let parse_seconds = msg_secs + t.elapsed().as_secs_f64();
    Ok(LoadedPair {
        messages,
        orderbook,
        orderbook_cols,
        message_file,
        orderbook_file,
        parse_seconds,
        rounded_times,
    })
}

/// Read and parse a LOBSTER message CSV and its orderbook CSV (both parsed in parallel: see
/// `load_pair`). Files are named in errors as `message_name` and `orderbook_name`.
///
/// # Errors
/// [`LobsterError::File`] for a file that cannot be read, [`LobsterError::Format`] naming
/// the file, line and field of bad content.
pub fn load_csv(
    message: &std::path::Path,
    orderbook: &std::path::Path,
    message_name: &str,
    orderbook_name: &str,
) -> Result<LoadedPair, LobsterError> {
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let parallel = size(message).saturating_add(size(orderbook)) >= PARALLEL_MIN_BYTES as u64;
    load_pair(
        || read_file(message, message_name).map(std::borrow::Cow::Owned),
        || read_file(orderbook, orderbook_name).map(std::borrow::Cow::Owned),
        message_name.to_string(),
        orderbook_name.to_string(),
        parallel,
    )
}

/// Where a member's compressed bytes lie in the archive and what they must inflate to.
#[derive(Debug, Clone)]
struct ZipMember {
    name: String,
    deflated: bool,
    start: usize,
    compressed: usize,
    size: usize,
    crc: u32,
}

/// `L` of a member named `..._{what}_L.csv` (any folder), else `None`.
fn member_level(name: &str, what: &str) -> Option<u32> {
    let stem = name.strip_suffix(".csv")?;
    let (_, level) = stem.rsplit_once(&format!("_{what}_"))?;
    (!level.is_empty() && level.bytes().all(|c| c.is_ascii_digit()))
        .then(|| level.parse().ok())
        .flatten()
}

fn zip_error(file: &str, detail: impl std::fmt::Display) -> LobsterError {
    LobsterError::File {
        file: file.to_string(),
        reason: format!("not a readable zip archive (truncated or corrupt?): {detail}"),
    }
}

/// The message and orderbook members of a LOBSTER sample zip, from its central directory.
fn zip_members(archive: &[u8], file: &str) -> Result<[ZipMember; 2], LobsterError> {
    let mut z =
        zip::ZipArchive::new(std::io::Cursor::new(archive)).map_err(|e| zip_error(file, e))?;
    let names: Vec<String> = z.file_names().map(str::to_string).collect();
    let mut found = Vec::with_capacity(2);
    for what in ["message", "orderbook"] {
        let hits: Vec<usize> = (0..z.len())
            .filter(|&i| {
                z.name_for_index(i)
                    .is_some_and(|n| member_level(n, what).is_some())
            })
            .collect();
        let [index] = hits[..] else {
            let listed: Vec<&str> = hits.iter().filter_map(|&i| z.name_for_index(i)).collect();
            return Err(LobsterError::File {
                file: file.to_string(),
                reason: format!(
                    "expected exactly one member named *_{what}_<L>.csv, found {} ({}); \
                     members: {}",
                    hits.len(),
                    if listed.is_empty() {
                        "none".to_string()
                    } else {
                        listed.join(", ")
                    },
                    names.join(", ")
                ),
            });
        };
        let f = z.by_index_raw(index).map_err(|e| zip_error(file, e))?;
        let name = f.name().to_string();
        let method = f.compression();
        let deflated = if method == zip::CompressionMethod::DEFLATE {
            true
        } else if method == zip::CompressionMethod::STORE {
            false
        } else {
            return Err(LobsterError::File {
                file: file.to_string(),
                reason: format!(
                    "member {name}: compression method {method:?} is not supported (stored or \
                     deflate)"
                ),
            });
        };
        let too_big = |v: u64| zip_error(file, format!("member {name}: size {v} does not fit"));
        let start = usize::try_from(f.data_start()).map_err(|_| too_big(f.data_start()))?;
        let compressed =
            usize::try_from(f.compressed_size()).map_err(|_| too_big(f.compressed_size()))?;
        let size = usize::try_from(f.size()).map_err(|_| too_big(f.size()))?;
        if start
            .checked_add(compressed)
            .is_none_or(|end| end > archive.len())
        {
            return Err(zip_error(
                file,
                format!(
                    "member {name}: its {compressed} compressed bytes at offset {start} run past \
                     the end of the file ({} bytes)",
                    archive.len()
                ),
            ));
        }
        // Deflate expands at most ~1032:1; a larger claim is corruption, not a reason to
        // allocate it.
        if size > compressed.saturating_mul(1032).saturating_add(1024) {
            return Err(zip_error(
                file,
                format!("member {name}: {compressed} compressed bytes cannot hold {size}"),
            ));
        }
        found.push(ZipMember {
            name,
            deflated,
            start,
            compressed,
            size,
            crc: f.crc32(),
        });
    }
    let [m, o]: [ZipMember; 2] = found
        .try_into()
        .map_err(|_| zip_error(file, "member lookup failed"))?;
    Ok([m, o])
}

/// A member's bytes: inflated (libdeflate, whole buffer, exact size) or stored, CRC-checked.
fn inflate<'a>(
    archive: &'a [u8],
    m: &ZipMember,
    file: &str,
) -> Result<std::borrow::Cow<'a, [u8]>, LobsterError> {
    let raw = &archive[m.start..m.start + m.compressed];
    let bytes = if m.deflated {
        let mut out = vec![0u8; m.size];
        crate::mem::advise_huge_pages(&out);
        let n = libdeflater::Decompressor::new()
            .deflate_decompress(raw, &mut out)
            .map_err(|e| {
                let why = match e {
                    libdeflater::DecompressionError::BadData => "corrupt deflate stream",
                    libdeflater::DecompressionError::InsufficientSpace => {
                        "it inflates to more bytes than the archive directory says"
                    }
                };
                zip_error(file, format!("member {}: {why}", m.name))
            })?;
        if n != m.size {
            return Err(zip_error(
                file,
                format!(
                    "member {}: it inflates to {n} bytes, the archive directory says {}",
                    m.name, m.size
                ),
            ));
        }
        std::borrow::Cow::Owned(out)
    } else {
        if m.compressed != m.size {
            return Err(zip_error(
                file,
                format!(
                    "member {}: stored with {} bytes, the archive directory says {}",
                    m.name, m.compressed, m.size
                ),
            ));
        }
        std::borrow::Cow::Borrowed(raw)
    };
    let crc = libdeflater::crc32(&bytes);
    if crc != m.crc {
        return Err(zip_error(
            file,
            format!(
                "member {}: CRC-32 {crc:08x}, the archive says {:08x}",
                m.name, m.crc
            ),
        ));
    }
    Ok(bytes)
}

/// Parse the message and orderbook members of a LOBSTER sample zip held in memory. The two
/// members are inflated on two threads (the message file is parsed as soon as it is
/// inflated) and the orderbook is parsed on every core. Files are named in errors as
/// `file!member`.
///
/// # Errors
/// [`LobsterError::File`] naming `file` for a truncated or corrupt archive, a corrupt
/// member (bad deflate data, wrong size or CRC) or missing members;
/// [`LobsterError::Format`] for bad content.
pub fn load_zip(archive: &[u8], file: &str) -> Result<LoadedPair, LobsterError> {
    let [m, o] = zip_members(archive, file)?;
    load_pair(
        || inflate(archive, &m, file),
        || inflate(archive, &o, file),
        format!("{file}!{}", m.name),
        format!("{file}!{}", o.name),
        m.size.saturating_add(o.size) >= PARALLEL_MIN_BYTES,
    )
}

/// Read a LOBSTER sample zip from disk and parse it (see [`load_zip`]).
///
/// # Errors
/// As [`load_zip`], and [`LobsterError::File`] if the file cannot be read.
pub fn load_zip_file(path: &std::path::Path, name: &str) -> Result<LoadedPair, LobsterError> {
    load_zip(&read_file(path, name)?, name)
}

/// How to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Levels compared and synchronised (at most the orderbook file's level count).
    pub levels: usize,
    /// Apply the edge synchronisation described in the module docs (on by default).
    pub edge_sync: bool,
    /// Compare our top levels with every orderbook row.
    pub validate: bool,
    /// Name of the message file, for errors.
    pub message_file: String,
    /// Name of the orderbook file, for errors.
    pub orderbook_file: String,
}

impl ReplayOptions {
    /// Defaults: edge-sync and validation on, files named `messages` and `orderbook`.
    pub fn new(levels: usize) -> Self {
        ReplayOptions {
            levels,
            edge_sync: true,
            validate: true,
            message_file: "messages".to_string(),
            orderbook_file: "orderbook".to_string(),
        }
    }
}

/// The first row where our book differed from the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// 0-based message index (the orderbook row is the same index).
    pub index: usize,
    /// The message just applied.
    pub message: [i64; MESSAGE_COLUMNS],
    /// Our top levels in the orderbook-row layout (dummy values for empty levels).
    pub ours: Vec<i64>,
    /// The recorded row.
    pub recorded: Vec<i64>,
    /// The recorded row before the message.
    pub previous: Vec<i64>,
}

/// What a replay did and found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayReport {
    /// Messages in the file (message 0 is part of the seed).
    pub messages: usize,
    /// Levels compared.
    pub levels: usize,
    /// Whether edge-sync was on.
    pub edge_sync: bool,
    /// Rows compared (messages 1..N when validating, else 0).
    pub rows_compared: usize,
    /// Rows whose top levels equal the recorded row.
    pub rows_matched: usize,
    /// The first row that differed.
    pub first_mismatch: Option<Mismatch>,
    /// Rows where edge-sync changed the book.
    pub rows_synced: usize,
    /// Levels edge-sync set from the file (liquidity entering the window).
    pub levels_injected: usize,
    /// Levels edge-sync dropped (cancelled out of sight).
    pub levels_dropped: usize,
    /// Deletes/executions of known orders whose size differed from ours (rule 3).
    pub size_adjustments: usize,
    /// Reductions (types 2, 3, 4) of ids the replay never saw added.
    pub unknown_id_reductions: usize,
    /// Count of messages per type 1..=7 (index 0 unused).
    pub type_counts: [usize; 8],
    /// Wall time of the replay in nanoseconds.
    pub elapsed_ns: u64,
    /// Per visible execution (type 4) of a known order: message index.
    pub exec_index: Vec<u64>,
    /// ... its order id.
    pub exec_order_id: Vec<u64>,
    /// ... lots executed.
    pub exec_size: Vec<u64>,
    /// ... orders ahead of it in its level's FIFO (0 = head).
    pub exec_queue_position: Vec<u32>,
    /// ... displayed lots ahead of it.
    pub exec_qty_ahead: Vec<u64>,
    /// ... execution time minus the order's add time, in nanoseconds.
    pub exec_time_to_fill_ns: Vec<i64>,
    /// Per hidden execution or cross trade (types 5, 6): message index.
    pub trade_index: Vec<u64>,
    /// ... time in nanoseconds after midnight.
    pub trade_time_ns: Vec<i64>,
    /// ... message type (5 or 6).
    pub trade_type: Vec<i8>,
    /// ... price in dollars × 10000 (may be a half cent).
    pub trade_price: Vec<i64>,
    /// ... lots.
    pub trade_size: Vec<u64>,
    /// ... direction of the (hidden) resting order.
    pub trade_direction: Vec<i8>,
    /// Per trading-halt message (type 7): message index.
    pub halt_index: Vec<u64>,
    /// ... its price code (-1 halt, 0 quoting resumes, 1 trading resumes).
    pub halt_code: Vec<i64>,
    /// After every message: best bid price (dollars × 10000; the empty value if none).
    pub best_bid_price: Vec<i64>,
    /// ... lots at the best bid.
    pub best_bid_size: Vec<u64>,
    /// ... best ask price.
    pub best_ask_price: Vec<i64>,
    /// ... lots at the best ask.
    pub best_ask_size: Vec<u64>,
}

impl ReplayReport {
    /// Percentage of compared rows that matched (`None` without validation).
    pub fn match_percent(&self) -> Option<f64> {
        (self.rows_compared > 0)
            .then(|| 100.0 * self.rows_matched as f64 / self.rows_compared as f64)
    }

    /// Percentage of known-order executions that hit the head of their level's FIFO.
    pub fn fifo_conformity_percent(&self) -> Option<f64> {
        let n = self.exec_queue_position.len();
        (n > 0).then(|| {
            let head = self.exec_queue_position.iter().filter(|&&p| p == 0).count();
            100.0 * head as f64 / n as f64
        })
    }

    /// Messages replayed per second.
    pub fn messages_per_second(&self) -> f64 {
        self.messages as f64 / (self.elapsed_ns.max(1) as f64 / 1e9)
    }
}

fn format_err(file: &str, line: usize, field: String, reason: String) -> LobsterError {
    LobsterError::Format {
        file: file.to_string(),
        line,
        field,
        reason,
    }
}

fn check_messages(messages: &[i64], file: &str) -> Result<(), LobsterError> {
    for (i, m) in messages.chunks_exact(MESSAGE_COLUMNS).enumerate() {
        let line = i + 1;
        let bad =
            |col: usize, reason: String| format_err(file, line, MESSAGE_FIELDS[col].into(), reason);
        let (kind, id, size, price, dir) = (m[1], m[2], m[3], m[4], m[5]);
        if !(1..=7).contains(&kind) {
            return Err(bad(1, format!("event type {kind} is not one of 1..7")));
        }
        if m[0] < 0 {
            return Err(bad(0, format!("time {} ns is negative", m[0])));
        }
        if kind <= 4 {
            if dir != 1 && dir != -1 {
                return Err(bad(
                    5,
                    format!("direction {dir} is not 1 (buy) or -1 (sell)"),
                ));
            }
            if size <= 0 || size > MAX_SIZE {
                return Err(bad(3, format!("size {size} must be in 1..=2^48")));
            }
            if price <= 0 || price >= EMPTY_ASK_PRICE || price % PRICE_PER_TICK != 0 {
                return Err(bad(
                    4,
                    format!(
                        "price {price} (dollars x 10000) is not a positive multiple of \
                         {PRICE_PER_TICK} (the $0.01 tick)"
                    ),
                ));
            }
            if id <= 0 || id as u64 >= RESIDUAL_ID_BASE {
                return Err(bad(
                    2,
                    format!("order id {id} must be in 1..2^62 for an event of type {kind}"),
                ));
            }
        } else if kind <= 6 && size < 0 {
            return Err(bad(3, format!("size {size} is negative")));
        }
    }
    Ok(())
}

fn check_orderbook(book: &[i64], cols: usize, file: &str) -> Result<(), LobsterError> {
    for (i, row) in book.chunks_exact(cols).enumerate() {
        for (k, lvl) in row.chunks_exact(2).enumerate() {
            let ask = k % 2 == 0;
            let (p, q) = (lvl[0], lvl[1]);
            let empty = if ask {
                EMPTY_ASK_PRICE
            } else {
                EMPTY_BID_PRICE
            };
            let ok = if q == 0 {
                p == empty
            } else {
                q > 0 && q <= MAX_SIZE && p > 0 && p < EMPTY_ASK_PRICE && p % PRICE_PER_TICK == 0
            };
            if !ok {
                let col = 2 * k + usize::from(q != 0 && !(q > 0 && q <= MAX_SIZE));
                return Err(format_err(
                    file,
                    i + 1,
                    orderbook_field(col),
                    format!(
                        "level ({p}, {q}) is neither a positive price on the $0.01 tick \
                         (multiple of {PRICE_PER_TICK}) with a positive size nor the empty \
                         level ({empty}, 0)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The `(price, size)` levels of one side of an orderbook row (top `levels`), best first.
fn row_side(row: &[i64], levels: usize, side: Side, out: &mut Vec<(i64, i64)>) {
    out.clear();
    let off = match side {
        Side::Sell => 0,
        Side::Buy => 2,
    };
    for k in 0..levels {
        let (p, q) = (row[4 * k + off], row[4 * k + off + 1]);
        if q > 0 {
            out.push((p, q));
        }
    }
}

fn ticks(raw: i64) -> Price {
    Price(raw / PRICE_PER_TICK)
}

fn lots(v: i64) -> Qty {
    v.max(0) as Qty
}

struct Replayer {
    book: OrderBook,
    edge_sync: bool,
    levels: usize,
    residuals: FxHashMap<(Side, i64), VecDeque<OrderId>>,
    next_residual: OrderId,
    add_time: FxHashMap<OrderId, i64>,
    report: ReplayReport,
    /// Set when the current row's sync changed something.
    synced: bool,
    cur: [Vec<(i64, i64)>; 2],
    prev: [Vec<(i64, i64)>; 2],
    /// Our top levels per side (asks, bids), refreshed by `refresh_ours`.
    ours: [Vec<LevelView>; 2],
}

type Step = Result<(), OrderError>;

fn side_ix(side: Side) -> usize {
    match side {
        Side::Sell => 0,
        Side::Buy => 1,
    }
}

impl Replayer {
    fn new(levels: usize, edge_sync: bool) -> Self {
        Replayer {
            book: OrderBook::new(),
            edge_sync,
            levels,
            residuals: FxHashMap::default(),
            next_residual: RESIDUAL_ID_BASE,
            add_time: FxHashMap::default(),
            report: ReplayReport::default(),
            synced: false,
            cur: [Vec::new(), Vec::new()],
            prev: [Vec::new(), Vec::new()],
            ours: [Vec::new(), Vec::new()],
        }
    }

    fn remove_order(&mut self, id: OrderId) -> Step {
        self.book.cancel(id, &mut ())?;
        if id < RESIDUAL_ID_BASE {
            self.add_time.remove(&id);
        }
        Ok(())
    }

    /// Take `take` lots off resting order `id` holding `held` (keeps priority; removes it at 0).
    fn shrink(&mut self, id: OrderId, held: Qty, take: Qty) -> Step {
        if take >= held {
            self.remove_order(id)
        } else {
            self.book
                .modify(id, None, Some(held - take), &mut ())
                .map(|_| ())
        }
    }

    /// Drop opposite levels that a new order at `price` on `side` would cross (stale levels
    /// left by liquidity that vanished out of sight).
    fn uncross(&mut self, side: Side, price: Price) -> Step {
        let opp = side.opposite();
        while let Some(best) = self.book.best(opp) {
            if !side.crosses(price, best.price) {
                break;
            }
            self.drop_level(opp, best.price)?;
        }
        Ok(())
    }

    /// Add `qty` lots of unknown-id liquidity at the back of the level.
    fn add_residual(&mut self, side: Side, price: Price, qty: Qty) -> Step {
        if qty == 0 {
            return Ok(());
        }
        self.uncross(side, price)?;
        let id = self.next_residual;
        self.next_residual += 1;
        self.book
            .submit(&NewOrder::limit(side, price.0, qty).with_id(id), &mut ())?;
        self.residuals
            .entry((side, price.0))
            .or_default()
            .push_back(id);
        Ok(())
    }

    /// Take `amount` lots out of a level: residual orders first (oldest first), then the
    /// oldest known order holding exactly what is left, else known orders from the back of
    /// the queue. Returns the lots actually removed.
    fn reduce_level(
        &mut self,
        side: Side,
        price: Price,
        mut amount: Qty,
    ) -> Result<Qty, OrderError> {
        let start = amount;
        while amount > 0 {
            let Some(q) = self.residuals.get_mut(&(side, price.0)) else {
                break;
            };
            let Some(&rid) = q.front() else {
                self.residuals.remove(&(side, price.0));
                break;
            };
            let Some(o) = self.book.order(rid) else {
                q.pop_front();
                continue;
            };
            let take = o.qty.min(amount);
            if take == o.qty {
                q.pop_front();
            }
            self.shrink(rid, o.qty, take)?;
            amount -= take;
        }
        if amount > 0 {
            let orders = self.book.level_orders(side, price);
            // One unseen delete removes exactly one order's size: if a known order holds
            // exactly the missing lots, it is the one that went (the oldest such).
            if let Some(o) = orders.iter().find(|o| o.qty == amount) {
                self.remove_order(o.id)?;
                return Ok(start);
            }
            for o in orders.into_iter().rev() {
                let take = o.qty.min(amount);
                self.shrink(o.id, o.qty, take)?;
                amount -= take;
                if amount == 0 {
                    break;
                }
            }
        }
        Ok(start - amount)
    }

    fn drop_level(&mut self, side: Side, price: Price) -> Step {
        for o in self.book.level_orders(side, price) {
            self.remove_order(o.id)?;
        }
        self.residuals.remove(&(side, price.0));
        Ok(())
    }

    /// Set the level's displayed size to `target` lots.
    fn set_level(&mut self, side: Side, price: Price, target: Qty) -> Step {
        let have = self.book.level(side, price).map_or(0, |l| l.qty);
        if target > have {
            self.add_residual(side, price, target - have)?;
        } else if target < have {
            self.reduce_level(side, price, have - target)?;
        }
        if target != have {
            self.report.levels_injected += 1;
            self.synced = true;
        }
        Ok(())
    }

    fn seed(&mut self, row: &[i64], first: &[i64]) -> Step {
        let (kind, id, size, price, dir) = (first[1], first[2], first[3], first[4], first[5]);
        for side in [Side::Sell, Side::Buy] {
            let mut lv = Vec::new();
            row_side(row, self.levels, side, &mut lv);
            for (p, q) in lv {
                let mine =
                    kind == 1 && p == price && (dir == 1) == (side == Side::Buy) && size <= q;
                let known = if mine { size } else { 0 };
                self.add_residual(side, ticks(p), lots(q - known))?;
                if mine {
                    self.book.submit(
                        &NewOrder::limit(side, p / PRICE_PER_TICK, lots(size)).with_id(id as u64),
                        &mut (),
                    )?;
                    self.add_time.insert(id as u64, first[0]);
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, index: usize, m: &[i64]) -> Step {
        let (t, kind, size, raw) = (m[0], m[1], m[3], m[4]);
        let id = m[2].max(0) as u64;
        let side = if m[5] == 1 { Side::Buy } else { Side::Sell };
        self.report.type_counts[kind as usize] += 1;
        let price = ticks(raw);
        let size_l = lots(size);
        match kind {
            1 => {
                if self.book.order(id).is_some() {
                    self.remove_order(id)?;
                }
                if self.edge_sync {
                    self.uncross(side, price)?;
                }
                self.book
                    .submit(&NewOrder::limit(side, price.0, size_l).with_id(id), &mut ())?;
                self.add_time.insert(id, t);
            }
            2..=4 => match self.book.order(id) {
                Some(o) => {
                    if kind == 4 {
                        let (pos, ahead) = self.book.queue_position(id).unwrap_or((0, 0));
                        let r = &mut self.report;
                        r.exec_index.push(index as u64);
                        r.exec_order_id.push(id);
                        r.exec_size.push(size_l);
                        r.exec_queue_position.push(pos);
                        r.exec_qty_ahead.push(ahead);
                        let added = self.add_time.get(&id).copied().unwrap_or(t);
                        r.exec_time_to_fill_ns.push(t - added);
                    }
                    let whole = kind == 3;
                    if whole {
                        self.remove_order(id)?;
                    } else {
                        self.shrink(id, o.qty, size_l)?;
                    }
                    if self.edge_sync {
                        if o.qty > size_l && whole {
                            self.report.size_adjustments += 1;
                            self.add_residual(o.side, o.price, o.qty - size_l)?;
                        } else if o.qty < size_l {
                            self.report.size_adjustments += 1;
                            self.reduce_level(o.side, o.price, size_l - o.qty)?;
                        }
                    }
                }
                None => {
                    self.report.unknown_id_reductions += 1;
                    self.reduce_level(side, price, size_l)?;
                }
            },
            5 | 6 => {
                let r = &mut self.report;
                r.trade_index.push(index as u64);
                r.trade_time_ns.push(t);
                r.trade_type.push(kind as i8);
                r.trade_price.push(raw);
                r.trade_size.push(size_l);
                r.trade_direction.push(m[5].clamp(-1, 1) as i8);
            }
            _ => {
                self.report.halt_index.push(index as u64);
                self.report.halt_code.push(raw);
            }
        }
        Ok(())
    }

    /// Our levels of `side` inside the window that ends at `bound` (all levels if `None`).
    fn levels_inside(&self, side: Side, bound: Option<Price>) -> Vec<LevelView> {
        let inside = |p: Price| match (bound, side) {
            (None, _) => true,
            (Some(b), Side::Buy) => p >= b,
            (Some(b), Side::Sell) => p <= b,
        };
        let mut n = 2 * self.levels + 8;
        loop {
            let d = self.book.depth(side, n);
            let more = d.len() == n && d.last().is_some_and(|l| inside(l.price));
            if !more {
                return d.into_iter().take_while(|l| inside(l.price)).collect();
            }
            n *= 4;
        }
    }

    fn sync(&mut self, m: &[i64]) -> Step {
        let msg_side = if m[5] == 1 { Side::Buy } else { Side::Sell };
        let visible_kind = (1..=4).contains(&m[1]);
        for side in [Side::Sell, Side::Buy] {
            let s = side_ix(side);
            let cur = std::mem::take(&mut self.cur[s]);
            let prev = std::mem::take(&mut self.prev[s]);
            let shown = |p: i64, v: &[(i64, i64)]| v.iter().any(|&(x, _)| x == p);
            // Fast path: when our top levels already equal the row, neither rule can change
            // anything (every level inside the window is shown, and shown at its size).
            if self.synced {
                // The other side's sync may have uncrossed this side.
                self.book.depth_into(side, self.levels, &mut self.ours[s]);
            }
            let ours = &self.ours[s];
            let same = ours.len() == cur.len()
                && ours
                    .iter()
                    .zip(&cur)
                    .all(|(l, &(p, q))| l.price.0 * PRICE_PER_TICK == p && l.qty as i64 == q);
            if same {
                self.cur[s] = cur;
                self.prev[s] = prev;
                continue;
            }
            // Rule 2: levels inside the window absent from both rows were cancelled unseen.
            let bound = (cur.len() == self.levels)
                .then(|| cur.last().map(|&(p, _)| ticks(p)))
                .flatten();
            for l in self.levels_inside(side, bound) {
                let p = l.price.0 * PRICE_PER_TICK;
                if !shown(p, &cur) && !shown(p, &prev) {
                    self.drop_level(side, l.price)?;
                    self.report.levels_dropped += 1;
                    self.synced = true;
                }
            }
            // Rule 1: prices entering the window take the size the row shows.
            for &(p, q) in &cur {
                let own = visible_kind && side == msg_side && p == m[4];
                if !own && !shown(p, &prev) {
                    self.set_level(side, ticks(p), lots(q))?;
                }
            }
            self.cur[s] = cur;
            self.prev[s] = prev;
        }
        Ok(())
    }

    fn refresh_ours(&mut self) {
        for side in [Side::Sell, Side::Buy] {
            let s = side_ix(side);
            self.book.depth_into(side, self.levels, &mut self.ours[s]);
        }
    }

    /// Compare our top levels with `row`; returns our row on a mismatch.
    fn compare(&self, row: &[i64], asks: &[LevelView], bids: &[LevelView]) -> bool {
        for k in 0..self.levels {
            let (ap, aq) = asks.get(k).map_or((EMPTY_ASK_PRICE, 0), |l| {
                (l.price.0 * PRICE_PER_TICK, l.qty as i64)
            });
            let (bp, bq) = bids.get(k).map_or((EMPTY_BID_PRICE, 0), |l| {
                (l.price.0 * PRICE_PER_TICK, l.qty as i64)
            });
            if row[4 * k] != ap
                || row[4 * k + 1] != aq
                || row[4 * k + 2] != bp
                || row[4 * k + 3] != bq
            {
                return false;
            }
        }
        true
    }

    fn our_row(&self, asks: &[LevelView], bids: &[LevelView]) -> Vec<i64> {
        let mut out = Vec::with_capacity(4 * self.levels);
        for k in 0..self.levels {
            match asks.get(k) {
                Some(l) => out.extend([l.price.0 * PRICE_PER_TICK, l.qty as i64]),
                None => out.extend([EMPTY_ASK_PRICE, 0]),
            }
            match bids.get(k) {
                Some(l) => out.extend([l.price.0 * PRICE_PER_TICK, l.qty as i64]),
                None => out.extend([EMPTY_BID_PRICE, 0]),
            }
        }
        out
    }

    fn record_top(&mut self) {
        let r = &mut self.report;
        match self.book.best_bid() {
            Some(l) => {
                r.best_bid_price.push(l.price.0 * PRICE_PER_TICK);
                r.best_bid_size.push(l.qty);
            }
            None => {
                r.best_bid_price.push(EMPTY_BID_PRICE);
                r.best_bid_size.push(0);
            }
        }
        match self.book.best_ask() {
            Some(l) => {
                r.best_ask_price.push(l.price.0 * PRICE_PER_TICK);
                r.best_ask_size.push(l.qty);
            }
            None => {
                r.best_ask_price.push(EMPTY_ASK_PRICE);
                r.best_ask_size.push(0);
            }
        }
    }
}

fn message_row(m: &[i64]) -> [i64; MESSAGE_COLUMNS] {
    let mut a = [0i64; MESSAGE_COLUMNS];
    a.copy_from_slice(&m[..MESSAGE_COLUMNS]);
    a
}

/// Replay LOBSTER `messages` (flat, 6 columns per row, time in ns) against `orderbook` (flat,
/// `orderbook_cols` = 4 × file levels per row) into a fresh [`OrderBook`].
///
/// # Errors
/// [`LobsterError::Input`] if the shapes or `opts.levels` do not fit,
/// [`LobsterError::Format`] for a row count mismatch or a message/level that breaks the
/// format (off-tick price, unknown type, ...), [`LobsterError::Book`] if the book refuses an
/// operation.
pub fn replay(
    messages: &[i64],
    orderbook: &[i64],
    orderbook_cols: usize,
    opts: &ReplayOptions,
) -> Result<ReplayReport, LobsterError> {
    replay_with_progress(messages, orderbook, orderbook_cols, opts, None)
}

/// Messages between two updates of a progress counter.
const PROGRESS_EVERY: usize = 4096;

/// [`replay`] that also stores the number of messages replayed so far in `progress` (every
/// 4096 messages and at the end; relaxed stores, read by a progress bar on another thread).
///
/// # Errors
/// As [`replay`].
pub fn replay_with_progress(
    messages: &[i64],
    orderbook: &[i64],
    orderbook_cols: usize,
    opts: &ReplayOptions,
    progress: Option<&std::sync::atomic::AtomicU64>,
) -> Result<ReplayReport, LobsterError> {
    let started = Instant::now();
    if orderbook_cols == 0 || !orderbook_cols.is_multiple_of(4) {
        return Err(LobsterError::Input(format!(
            "the orderbook has {orderbook_cols} columns; it needs 4 per level"
        )));
    }
    let file_levels = orderbook_cols / 4;
    if opts.levels == 0 || opts.levels > file_levels {
        return Err(LobsterError::Input(format!(
            "levels={} but the orderbook file has {file_levels} levels (use 1..={file_levels})",
            opts.levels
        )));
    }
    if !messages.len().is_multiple_of(MESSAGE_COLUMNS)
        || !orderbook.len().is_multiple_of(orderbook_cols)
    {
        return Err(LobsterError::Input(
            "array lengths are not whole rows (6 message columns, 4 x levels orderbook columns)"
                .to_string(),
        ));
    }
    let n = messages.len() / MESSAGE_COLUMNS;
    let rows = orderbook.len() / orderbook_cols;
    if n != rows {
        return Err(format_err(
            &opts.orderbook_file,
            n.min(rows) + 1,
            "row count".to_string(),
            format!(
                "the message file {} has {n} rows but the orderbook file has {rows}; row k \
                 of the orderbook must be the book after message k",
                opts.message_file
            ),
        ));
    }
    if n == 0 {
        return Err(format_err(
            &opts.message_file,
            1,
            "row".to_string(),
            "no messages".to_string(),
        ));
    }
    check_messages(messages, &opts.message_file)?;
    check_orderbook(orderbook, orderbook_cols, &opts.orderbook_file)?;

    let levels = opts.levels;
    let mut rp = Replayer::new(levels, opts.edge_sync);
    let row = |i: usize| &orderbook[i * orderbook_cols..(i + 1) * orderbook_cols];
    let msg = |i: usize| &messages[i * MESSAGE_COLUMNS..(i + 1) * MESSAGE_COLUMNS];
    let book_err = |i: usize, source: OrderError| LobsterError::Book {
        index: i,
        line: i + 1,
        message: message_row(msg(i)),
        source,
    };
    rp.report.messages = n;
    rp.report.levels = levels;
    rp.report.edge_sync = opts.edge_sync;
    if messages[1] >= 5 {
        rp.apply(0, msg(0)).map_err(|e| book_err(0, e))?;
    } else {
        rp.report.type_counts[messages[1] as usize] += 1;
    }
    rp.seed(row(0), msg(0)).map_err(|e| book_err(0, e))?;
    rp.record_top();
    for side in [Side::Sell, Side::Buy] {
        row_side(row(0), levels, side, &mut rp.cur[side_ix(side)]);
    }
    for i in 1..n {
        if i % PROGRESS_EVERY == 0 {
            if let Some(p) = progress {
                p.store(i as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let m = msg(i);
        rp.apply(i, m).map_err(|e| book_err(i, e))?;
        std::mem::swap(&mut rp.cur, &mut rp.prev);
        for side in [Side::Sell, Side::Buy] {
            row_side(row(i), levels, side, &mut rp.cur[side_ix(side)]);
        }
        if opts.edge_sync || opts.validate {
            rp.refresh_ours();
        }
        if opts.edge_sync {
            rp.synced = false;
            rp.sync(m).map_err(|e| book_err(i, e))?;
            if rp.synced {
                rp.report.rows_synced += 1;
                rp.refresh_ours();
            }
        }
        if opts.validate {
            let [asks, bids] = &rp.ours;
            rp.report.rows_compared += 1;
            if rp.compare(row(i), asks, bids) {
                rp.report.rows_matched += 1;
            } else if rp.report.first_mismatch.is_none() {
                rp.report.first_mismatch = Some(Mismatch {
                    index: i,
                    message: message_row(m),
                    ours: rp.our_row(asks, bids),
                    recorded: row(i)[..4 * levels].to_vec(),
                    previous: row(i - 1)[..4 * levels].to_vec(),
                });
            }
        }
        rp.record_top();
    }
    rp.report.elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    if let Some(p) = progress {
        p.store(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(rp.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "34200.004241176,1,16113575,18,5853300,1\n\
                       34200.00426064,1,16113584,18,5853200,1\n\
                       34200.1,3,16113575,18,5853300,1\n";
    const OB: &str = "5859400,200,5853300,18\n\
                      5859400,200,5853300,18\n\
                      5859400,200,5853200,18\n";

    fn fmt_field(e: &LobsterError) -> (usize, String) {
        match e {
            LobsterError::Format { line, field, .. } => (*line, field.clone()),
            other => panic!("not a format error: {other}"),
        }
    }

    #[test]
    fn parallel_parse_equals_sequential_and_reports_global_lines() {
        let mut text = String::new();
        for i in 0..500 {
            text.push_str(&format!(
                "{i}.5,1,{},{},{},1\n",
                i + 1,
                i % 7 + 1,
                1_000_000 + i
            ));
        }
        let seq = parse_rows_with(text.as_bytes(), "m", Kind::Message, Some(6), 1, 0).unwrap();
        for threads in [2, 3, 7] {
            let par =
                parse_rows_with(text.as_bytes(), "m", Kind::Message, Some(6), threads, 0).unwrap();
            assert_eq!(par, seq);
        }
        // An error deep in the file names its global line, whichever chunk holds it.
        let bad = text.replacen("400.5,1,401,", "400.5,1,x,", 1);
        for threads in [1, 2, 3, 7] {
            let e = parse_rows_with(bad.as_bytes(), "m", Kind::Message, Some(6), threads, 0)
                .unwrap_err();
            assert_eq!(
                fmt_field(&e),
                (401, "OrderID".to_string()),
                "{threads} threads"
            );
        }
        // A blank line inside the file is an error even at a chunk boundary.
        let gap = text.replacen("\n250.5", "\n\n250.5", 1);
        for threads in [1, 2, 3] {
            let e = parse_rows_with(gap.as_bytes(), "m", Kind::Message, Some(6), threads, 0)
                .unwrap_err();
            assert_eq!(fmt_field(&e), (251, "row".to_string()), "{threads} threads");
        }
        // Orderbook rows whose width changes in a later chunk.
        let mut ob = String::new();
        for i in 0..300 {
            ob.push_str(if i == 200 {
                "1,2,3,4,5,6,7,8\n"
            } else {
                "1,2,3,4\n"
            });
        }
        for threads in [1, 2, 3] {
            let e =
                parse_rows_with(ob.as_bytes(), "o", Kind::Orderbook, None, threads, 0).unwrap_err();
            assert_eq!(fmt_field(&e).0, 201, "{threads} threads: {e}");
        }
    }

    #[test]
    fn integers_of_every_length_and_position() {
        for text in [
            "0",
            "7",
            "-7",
            "12",
            "123456",
            "12345678",
            "123456789",
            "9999999999",
            "-9999999999",
            "123456789012345678",
            "9223372036854775807",
            "-9223372036854775807",
        ] {
            let want: i64 = text.parse().unwrap();
            for pad in ["", ",1,2,3,4,5,6,7,8,9"] {
                let data = format!("{text}{pad}");
                assert_eq!(
                    parse_int(data.as_bytes(), 0),
                    Some((want, text.len())),
                    "{data}"
                );
            }
        }
        assert_eq!(parse_int(b"9223372036854775808", 0), None);
        assert!(int_error(b"9223372036854775808", 0).contains("64 bits"));
        assert_eq!(parse_int(b"12345678901234567890123,", 0), None);
        assert_eq!(parse_int(b",5", 0), None);
        assert!(int_error(b",5", 0).contains("empty field"));
        assert_eq!(parse_int(b"-", 0), None);
        assert!(int_error(b"-,", 0).contains("is not an integer"));
        assert_eq!(count_newlines(&[b'\n'; 1000]), 1000);
    }

    /// The fast line path and the careful per-field parser agree on every integer length,
    /// sign and position in the buffer, and bad fields far from the end (where the fast
    /// path runs first) still name their line and field.
    #[test]
    fn fast_rows_equal_careful_parsing() {
        let mut values: Vec<i64> = Vec::new();
        let mut text = String::new();
        for digits in 1..=19u32 {
            for neg in [false, true] {
                let v = if digits == 19 {
                    i64::MAX
                } else {
                    10i64.pow(digits) - 3
                };
                let v = if neg { -v } else { v };
                values.extend([v, 5, v, 100]);
                text.push_str(&format!("{v},5,{v},100\n"));
            }
        }
        // Padding rows so that every row above is far from the end of the buffer.
        for _ in 0..5 {
            values.extend([1, 2, 3, 4]);
            text.push_str("1,2,3,4\n");
        }
        let (got, cols) = parse_orderbook(text.as_bytes(), "o").unwrap();
        assert_eq!((got, cols), (values.clone(), 4));
        // The same rows with CRLF endings take the careful path and agree too.
        let (crlf, _) = parse_orderbook(text.replace('\n', "\r\n").as_bytes(), "o").unwrap();
        assert_eq!(crlf, values);
        for (bad, field) in [
            ("1,x,3,4", "AskSize_1"),
            ("1,2,,4", "BidPrice_1"),
            ("1,2,3,4,", "row"),
            ("1,2,3", "row"),
            ("1,2,3,4 ", "BidSize_1"),
            ("+1,2,3,4", "AskPrice_1"),
            ("1,2,3,99999999999999999999", "BidSize_1"),
        ] {
            let t = text.replacen("1,2,3,4\n", &format!("{bad}\n"), 1);
            let e = parse_orderbook(t.as_bytes(), "o").unwrap_err();
            let (line, f) = fmt_field(&e);
            assert_eq!(line, 39, "{bad}: {e}");
            if field != "row" {
                assert_eq!(f, field, "{bad}: {e}");
            }
        }
        let msgs = "34200.004241176,1,16113575,18,5853300,1\n".repeat(4);
        let m = parse_messages(msgs.as_bytes(), "m").unwrap();
        assert_eq!(
            &m[..6],
            &[34_200_004_241_176, 1, 16_113_575, 18, 5_853_300, 1]
        );
        assert_eq!(m.len(), 24);
        let bad = msgs.replacen("34200.004241176", "-34200.0", 1);
        assert_eq!(
            fmt_field(&parse_messages(bad.as_bytes(), "m").unwrap_err()).1,
            "Time"
        );
    }

    thread_local! {
        /// Set by a test to parse with the careful per-field parser only (this thread).
        pub(super) static CAREFUL_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    fn parse_careful(data: &[u8], kind: Kind) -> Result<(Vec<i64>, usize), LobsterError> {
        CAREFUL_ONLY.with(|c| c.set(true));
        let r = parse_rows_with(data, "o", kind, None, 1, usize::MAX);
        CAREFUL_ONLY.with(|c| c.set(false));
        r
    }

    /// Wide rows (40 fields over several 64-byte blocks, signs and lengths everywhere) and
    /// every single-byte corruption of them: the fast paths give exactly what the careful
    /// parser gives, values or the error (line, field, reason).
    #[test]
    fn fast_paths_equal_careful_parser_on_wide_rows_and_corruptions() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut text = String::new();
        for _ in 0..8 {
            let row: Vec<String> = (0..40)
                .map(|_| {
                    let digits = (next() % 16 + 1) as u32;
                    let v = (next() % 10u64.pow(digits)) as i64;
                    if next() % 5 == 0 {
                        format!("-{v}")
                    } else {
                        v.to_string()
                    }
                })
                .collect();
            text.push_str(&row.join(","));
            text.push('\n');
        }
        let good = text.as_bytes();
        assert_eq!(
            parse_orderbook(good, "o").unwrap(),
            parse_careful(good, Kind::Orderbook).unwrap()
        );
        let mut bad = good.to_vec();
        // every byte of lines 3 and 4 (the fast paths need bytes before and after a line)
        let line_start = |k: usize| {
            good.iter()
                .enumerate()
                .filter(|&(_, &c)| c == b'\n')
                .nth(k - 1)
                .map_or(0, |(i, _)| i + 1)
        };
        // the masked path does take these lines
        let mut row = vec![0i64; 40];
        assert_eq!(
            fast_int_row_masked(good, line_start(2), &mut row),
            Some(line_start(3))
        );
        assert_eq!(row, parse_orderbook(good, "o").unwrap().0[80..120]);
        for at in line_start(2)..line_start(4) {
            for c in [b'x', b',', b'\n', b'-', b'7', b'\r', b' '] {
                if good[at] == c {
                    continue;
                }
                bad[at] = c;
                let fast = parse_orderbook(&bad, "o");
                assert_eq!(
                    fast,
                    parse_careful(&bad, Kind::Orderbook),
                    "byte {at} -> {c}"
                );
            }
            bad[at] = good[at];
        }
    }

    /// Message rows (times with 0 to 9 decimals, signs, long ids) and every single-byte
    /// corruption of some of them: the fast paths give exactly what the careful parser gives.
    #[test]
    fn fast_message_rows_equal_careful_parser() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut text = String::new();
        for k in 0..12u64 {
            let decimals = (k % 10) as usize;
            let secs = next() % 90_000;
            let frac = next() % 1_000_000_000;
            let time = if decimals == 0 {
                secs.to_string()
            } else {
                format!("{secs}.{:0>9}", frac)[..secs.to_string().len() + 1 + decimals].to_string()
            };
            let id = next() % 10u64.pow((next() % 12 + 1) as u32);
            let dir = if next() % 2 == 0 { "1" } else { "-1" };
            text.push_str(&format!(
                "{time},{},{id},{},{},{dir}\n",
                next() % 7 + 1,
                next() % 5000,
                next() % 100_000_000
            ));
        }
        let good = text.as_bytes();
        let careful = |d: &[u8]| {
            CAREFUL_ONLY.with(|c| c.set(true));
            let r = parse_rows_with(d, "m", Kind::Message, Some(6), 1, usize::MAX);
            CAREFUL_ONLY.with(|c| c.set(false));
            r
        };
        assert_eq!(parse_messages(good, "m"), careful(good).map(|(v, _)| v));
        let mut row = [0i64; 6];
        let second = good.iter().position(|&c| c == b'\n').unwrap() + 1;
        assert!(fast_message_row(good, second, &mut row).is_some());
        let mut bad = good.to_vec();
        for at in second..good.len() * 2 / 3 {
            for c in [b'x', b',', b'\n', b'-', b'7', b'.', b'\r'] {
                if good[at] == c {
                    continue;
                }
                bad[at] = c;
                let fast = parse_messages(&bad, "m");
                assert_eq!(fast, careful(&bad).map(|(v, _)| v), "byte {at} -> {c}");
            }
            bad[at] = good[at];
        }
    }

    /// A zip archive of `(name, data, deflate?)` members (no zip writer needed).
    fn make_zip(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let (mut out, mut central) = (Vec::new(), Vec::new());
        for &(name, data, deflate) in members {
            let body = if deflate {
                let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
                let mut buf = vec![0u8; c.deflate_compress_bound(data.len())];
                let n = c.deflate_compress(data, &mut buf).unwrap();
                buf.truncate(n);
                buf
            } else {
                data.to_vec()
            };
            let method: u16 = if deflate { 8 } else { 0 };
            let crc = libdeflater::crc32(data);
            let offset = out.len() as u32;
            let fixed = |v: &mut Vec<u8>| {
                v.extend(20u16.to_le_bytes()); // version needed
                v.extend(0u16.to_le_bytes()); // flags
                v.extend(method.to_le_bytes());
                v.extend(0u32.to_le_bytes()); // time, date
                v.extend(crc.to_le_bytes());
                v.extend((body.len() as u32).to_le_bytes());
                v.extend((data.len() as u32).to_le_bytes());
                v.extend((name.len() as u16).to_le_bytes());
                v.extend(0u16.to_le_bytes()); // extra
            };
            out.extend(0x0403_4b50u32.to_le_bytes());
            fixed(&mut out);
            out.extend(name.as_bytes());
            out.extend(&body);
            central.extend(0x0201_4b50u32.to_le_bytes());
            central.extend(20u16.to_le_bytes()); // made by
            fixed(&mut central);
            central.extend([0u8; 10]); // comment length, disk, attributes
            central.extend(offset.to_le_bytes());
            central.extend(name.as_bytes());
        }
        let (cd_offset, n) = (out.len() as u32, members.len() as u16);
        out.extend(&central);
        out.extend(0x0605_4b50u32.to_le_bytes());
        out.extend([0u8; 4]);
        out.extend(n.to_le_bytes());
        out.extend(n.to_le_bytes());
        out.extend((central.len() as u32).to_le_bytes());
        out.extend(cd_offset.to_le_bytes());
        out.extend([0u8; 2]);
        out
    }

    fn file_reason(e: &LobsterError) -> String {
        match e {
            LobsterError::File { file, reason } => {
                assert_eq!(file, "s.zip");
                reason.clone()
            }
            other => panic!("expected a File error, got {other:?}"),
        }
    }

    const M_NAME: &str = "X_2012-06-21_34200000_57600000_message_1.csv";
    const O_NAME: &str = "X_2012-06-21_34200000_57600000_orderbook_1.csv";

    #[test]
    fn loads_a_zip_like_the_csv_files() {
        for deflate in [true, false] {
            let z = make_zip(&[
                ("ReadMe.txt", b"readme", deflate),
                (M_NAME, MSG.as_bytes(), deflate),
                (O_NAME, OB.as_bytes(), deflate),
            ]);
            let p = load_zip(&z, "s.zip").unwrap();
            assert_eq!(p.messages, parse_messages(MSG.as_bytes(), "m").unwrap());
            assert_eq!(
                (p.orderbook, p.orderbook_cols),
                parse_orderbook(OB.as_bytes(), "o").unwrap()
            );
            assert_eq!(p.message_file, format!("s.zip!{M_NAME}"));
            assert_eq!(p.orderbook_file, format!("s.zip!{O_NAME}"));
        }
    }

    #[test]
    fn corrupt_and_truncated_zips_are_file_errors() {
        let ob = OB.repeat(2000);
        let z = make_zip(&[
            (M_NAME, MSG.as_bytes(), true),
            (O_NAME, ob.as_bytes(), true),
        ]);
        assert!(load_zip(&z, "s.zip").is_ok());
        // Every truncation is an error naming the archive, never a panic.
        for cut in (0..z.len()).step_by(7) {
            let r = file_reason(&load_zip(&z[..cut], "s.zip").unwrap_err());
            assert!(r.contains("not a readable zip archive"), "cut {cut}: {r}");
        }
        // A corrupt deflate stream (bytes inside the orderbook member's data changed).
        let data_at = z
            .windows(O_NAME.len())
            .position(|w| w == O_NAME.as_bytes())
            .unwrap()
            + O_NAME.len();
        for (i, flip) in [(2usize, 0xffu8), (10, 0x55), (30, 0x0f)] {
            let mut bad = z.clone();
            bad[data_at + i] ^= flip;
            let r = file_reason(&load_zip(&bad, "s.zip").unwrap_err());
            assert!(r.contains(O_NAME), "{r}");
            assert!(
                r.contains("corrupt deflate stream")
                    || r.contains("CRC-32")
                    || r.contains("inflates to"),
                "{r}"
            );
        }
        // A stored member whose bytes changed fails its CRC.
        let mut stored = make_zip(&[
            (M_NAME, MSG.as_bytes(), false),
            (O_NAME, OB.as_bytes(), false),
        ]);
        let at = stored.windows(7).position(|w| w == b"34200.0").unwrap();
        stored[at] = b'4';
        assert!(file_reason(&load_zip(&stored, "s.zip").unwrap_err()).contains("CRC-32"));
        // Missing or doubled members.
        let one = make_zip(&[(M_NAME, MSG.as_bytes(), true)]);
        let r = file_reason(&load_zip(&one, "s.zip").unwrap_err());
        assert!(
            r.contains("exactly one member named *_orderbook_<L>.csv, found 0 (none)"),
            "{r}"
        );
        let two = make_zip(&[
            (M_NAME, MSG.as_bytes(), true),
            ("b_message_1.csv", MSG.as_bytes(), true),
            (O_NAME, OB.as_bytes(), true),
        ]);
        let r = file_reason(&load_zip(&two, "s.zip").unwrap_err());
        assert!(r.contains("found 2"), "{r}");
    }

    /// A bad field in the second half of a large orderbook member (parsed in chunks on
    /// several threads) names its line in the whole file, and the member as the file.
    #[test]
    fn zip_errors_keep_global_lines_in_large_members() {
        let row = "5859400,200,5853300,18,5859500,100,5853200,7\n";
        let rows = (PARALLEL_MIN_BYTES / row.len()) * 2;
        let mut ob = row.repeat(rows);
        let bad_line = rows * 3 / 4;
        let at = (bad_line - 1) * row.len();
        ob.replace_range(at + 8..at + 11, "2x0");
        let msgs = "34200.1,5,0,10,5853300,1\n".repeat(rows);
        let z = make_zip(&[
            (M_NAME, msgs.as_bytes(), true),
            (O_NAME, ob.as_bytes(), true),
        ]);
        let e = load_zip(&z, "s.zip").unwrap_err();
        match &e {
            LobsterError::Format {
                file, line, field, ..
            } => {
                assert_eq!(file, &format!("s.zip!{O_NAME}"));
                assert_eq!((*line, field.as_str()), (bad_line, "AskSize_1"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let mut msgs_bad = msgs.clone();
        let at = (bad_line - 1) * 25;
        msgs_bad.replace_range(at + 8..at + 9, "9");
        assert_eq!(&msgs_bad[at..at + 10], "34200.1,9,");
        let z = make_zip(&[
            (M_NAME, msgs_bad.as_bytes(), true),
            (O_NAME, row.repeat(rows).as_bytes(), true),
        ]);
        let p = load_zip(&z, "s.zip").unwrap();
        assert_eq!(
            p.messages[(bad_line - 1) * 6 + 1],
            9,
            "type 9 parses (replay rejects it)"
        );
        // Named level 2 (8 columns), the orderbook array is allocated ahead (while the
        // orderbook member inflates) and must come out the same.
        let o2 = O_NAME.replace("_1.csv", "_2.csv");
        let ob = row.repeat(rows);
        assert_eq!(
            orderbook_ahead(rows, &format!("s.zip!{o2}")).map(|v| v.len()),
            Some(rows * 8)
        );
        let z = make_zip(&[(M_NAME, msgs.as_bytes(), true), (&o2, ob.as_bytes(), true)]);
        let p = load_zip(&z, "s.zip").unwrap();
        assert_eq!(
            (p.orderbook, p.orderbook_cols),
            parse_orderbook(ob.as_bytes(), "o").unwrap()
        );
        assert_eq!(p.messages, parse_messages(msgs.as_bytes(), "m").unwrap());
    }

    #[test]
    fn parses_time_exactly_and_crlf() {
        let m =
            parse_messages(b"34200.004241176,1,5,18,5853300,1\r\n1.5,2,5,1,100,-1", "m").unwrap();
        assert_eq!(
            m,
            vec![
                34_200_004_241_176,
                1,
                5,
                18,
                5_853_300,
                1,
                1_500_000_000,
                2,
                5,
                1,
                100,
                -1
            ]
        );
        let (b, c) = parse_orderbook(OB.as_bytes(), "o").unwrap();
        assert_eq!((b.len(), c), (12, 4));
    }

    #[test]
    fn parse_errors_name_line_and_field() {
        let e = parse_messages(b"1.0,1,5,18,100,1\n1.0,1,x5,18,100,1\n", "m").unwrap_err();
        assert_eq!(fmt_field(&e), (2, "OrderID".into()));
        assert!(e.to_string().contains("\"x5\" is not an integer"), "{e}");
        let e = parse_messages(b"1.0,1,5,18,100\n", "m").unwrap_err();
        assert_eq!(fmt_field(&e), (1, "Direction".into()));
        let e = parse_messages(b"1.0,1,5,18,100,1,7\n", "m").unwrap_err();
        assert_eq!(fmt_field(&e), (1, "row".into()));
        let e = parse_orderbook(b"1,2,3,4\n1,2,3\n", "o").unwrap_err();
        assert_eq!(fmt_field(&e), (2, "BidSize_1".into()));
        let e = parse_orderbook(b"1,2,3\n", "o").unwrap_err();
        assert_eq!(fmt_field(&e), (1, "row".into()));
        let e = parse_orderbook(b"1,2,3,4,5,6,7,8,9,10,11,12\n1\n", "o").unwrap_err();
        assert_eq!(fmt_field(&e), (2, "AskSize_1".into()));
        let e = parse_orderbook(b"", "o").unwrap_err();
        assert_eq!(fmt_field(&e), (1, "row".into()));
        // What is really malformed stays an error naming the Time field.
        for bad in [
            &b"1.0x,1,5,18,100,1\n"[..],
            b"1.2.3,1,5,18,100,1\n",
            b",1,5,18,100,1\n",
            b"-1.5,1,5,18,100,1\n",
            b"abc,1,5,18,100,1\n",
        ] {
            let e = parse_messages(bad, "m").unwrap_err();
            assert_eq!(fmt_field(&e), (1, "Time".into()), "{e}");
        }
        let e = parse_messages(b"1.0,1,99999999999999999999,18,100,1\n", "m").unwrap_err();
        assert_eq!(fmt_field(&e), (1, "OrderID".into()));
    }

    #[test]
    fn times_past_nanoseconds_round_to_the_nearest_and_are_counted() {
        for careful in [false, true] {
            CAREFUL_ONLY.with(|c| c.set(careful));
            let text = "43002.632812672004,1,1,1,100,1\n\
                        43002.6328126724,1,2,1,100,1\n\
                        43002.632812672000000000,1,4,1,100,1\n\
                        43002.6328126725,1,3,1,100,1\n\
                        43002.999999999500000001,1,5,1,100,1\n\
                        43003.5,1,6,1,100,1\n";
            let (m, rounded) = parse_messages_counted(text.as_bytes(), "m").unwrap();
            let times: Vec<i64> = m.chunks(MESSAGE_COLUMNS).map(|r| r[0]).collect();
            assert_eq!(
                times,
                vec![
                    43_002_632_812_672, // 12 decimals: ...672|004 rounds down
                    43_002_632_812_672, // 10 decimals: ...672|4 down
                    43_002_632_812_672, // 18 decimals, all zero past the 9th: not rounded
                    43_002_632_812_673, // 10 decimals: ...672|5 up (half up)
                    43_003_000_000_000, // 18 decimals: rounds up across the second
                    43_003_500_000_000,
                ]
            );
            assert_eq!(rounded, 4, "careful={careful}");
            CAREFUL_ONLY.with(|c| c.set(false));
        }
        // Many rows over several parse chunks: the counts of the chunks add up.
        let mut big = String::new();
        for i in 0..200_000u64 {
            let extra = if i % 1000 == 7 { "123" } else { "" };
            big.push_str(&format!(
                "{}.{:09}{extra},1,{},1,100,1\n",
                34_200 + i / 1000,
                i % 1000,
                i + 1
            ));
        }
        let (_, rounded) = parse_messages_counted(big.as_bytes(), "m").unwrap();
        assert_eq!(rounded, 200);
        // Ties are fine; a row before the previous one is an error naming its line.
        let ok = "1.5,1,1,1,100,1\n1.5,1,2,1,100,1\n1.50000000049,1,3,1,100,1\n";
        let m = parse_messages(ok.as_bytes(), "m").unwrap();
        assert!(check_time_order(&m, "m").is_ok());
        let back = "1.5,1,1,1,100,1\n1.6,1,2,1,100,1\n1.55,1,3,1,100,1\n";
        let m = parse_messages(back.as_bytes(), "m").unwrap();
        let e = check_time_order(&m, "m").unwrap_err();
        assert_eq!(fmt_field(&e), (3, "Time".into()));
        assert!(
            e.to_string()
                .contains("1.550000000 is before the previous row's 1.600000000"),
            "{e}"
        );
    }

    #[test]
    fn replays_a_tiny_file_and_checks_rows() {
        let m = parse_messages(MSG.as_bytes(), "m").unwrap();
        let (b, c) = parse_orderbook(OB.as_bytes(), "o").unwrap();
        let r = replay(&m, &b, c, &ReplayOptions::new(1)).unwrap();
        assert_eq!((r.rows_compared, r.rows_matched), (2, 2));
        assert_eq!(r.first_mismatch, None);
        assert_eq!(r.best_bid_price, vec![5_853_300, 5_853_300, 5_853_200]);
    }

    #[test]
    fn reports_first_mismatch_without_sync() {
        let m = parse_messages(MSG.as_bytes(), "m").unwrap();
        // Row 2 claims a size our book cannot have.
        let ob = "5859400,200,5853300,18\n5859400,200,5853300,18\n5859400,200,5853200,17\n";
        let (b, c) = parse_orderbook(ob.as_bytes(), "o").unwrap();
        let mut o = ReplayOptions::new(1);
        o.edge_sync = false;
        let r = replay(&m, &b, c, &o).unwrap();
        assert_eq!((r.rows_compared, r.rows_matched), (2, 1));
        let mm = r.first_mismatch.unwrap();
        assert_eq!(mm.index, 2);
        assert_eq!(mm.ours, vec![5_859_400, 200, 5_853_200, 18]);
        assert_eq!(mm.recorded, vec![5_859_400, 200, 5_853_200, 17]);
    }

    #[test]
    fn unknown_ids_and_queue_position() {
        // Seed: bid 100.00 x 10 (unknown). Add known 7 x 5 behind it, execute 4 of the
        // unknown (residual), then execute known 7 (now at the head), then delete unknown 6.
        let msgs = "1.0,5,0,1,1000000,1\n\
                    2.0,1,7,5,1000000,1\n\
                    3.0,4,99,4,1000000,1\n\
                    4.5,4,7,5,1000000,1\n\
                    5.0,3,98,6,1000000,1\n";
        let ob = "9999999999,0,1000000,10\n\
                  9999999999,0,1000000,15\n\
                  9999999999,0,1000000,11\n\
                  9999999999,0,1000000,6\n\
                  9999999999,0,-9999999999,0\n";
        let m = parse_messages(msgs.as_bytes(), "m").unwrap();
        let (b, c) = parse_orderbook(ob.as_bytes(), "o").unwrap();
        let r = replay(&m, &b, c, &ReplayOptions::new(1)).unwrap();
        assert_eq!(r.rows_matched, 4, "{:?}", r.first_mismatch);
        assert_eq!(r.exec_order_id, vec![7]);
        assert_eq!(r.exec_queue_position, vec![1]);
        assert_eq!(r.exec_qty_ahead, vec![6]);
        assert_eq!(r.exec_time_to_fill_ns, vec![2_500_000_000]);
        assert_eq!(r.unknown_id_reductions, 2);
        assert_eq!(r.fifo_conformity_percent(), Some(0.0));
        assert_eq!(r.trade_index, vec![0]);
        assert_eq!(r.type_counts, [0, 1, 0, 1, 2, 1, 0, 0]);
    }

    #[test]
    fn an_unknown_delete_takes_the_order_of_exactly_that_size() {
        // Known A(5), B(3), C(4) at 100.00; an unknown id deletes 3: that is B, not 3 lots
        // off the back (C). C then executes behind A only.
        let msgs = "1.0,1,1,5,1000000,1\n\
                    2.0,1,2,3,1000000,1\n\
                    3.0,1,3,4,1000000,1\n\
                    4.0,3,77,3,1000000,1\n\
                    5.0,4,3,4,1000000,1\n";
        let ob = "9999999999,0,1000000,5\n\
                  9999999999,0,1000000,8\n\
                  9999999999,0,1000000,12\n\
                  9999999999,0,1000000,9\n\
                  9999999999,0,1000000,5\n";
        let m = parse_messages(msgs.as_bytes(), "m").unwrap();
        let (b, c) = parse_orderbook(ob.as_bytes(), "o").unwrap();
        let r = replay(&m, &b, c, &ReplayOptions::new(1)).unwrap();
        assert_eq!(r.rows_matched, 4, "{:?}", r.first_mismatch);
        assert_eq!(r.exec_order_id, vec![3]);
        assert_eq!((r.exec_queue_position[0], r.exec_qty_ahead[0]), (1, 5));
        assert_eq!(r.exec_size, vec![4]);
    }

    #[test]
    fn edge_sync_injects_and_drops_levels() {
        // L1 window. The bid at 99.99 enters from outside when 100.00 is deleted; then it
        // vanishes out of sight while a better bid is added (no message for it).
        let msgs = "1.0,1,1,5,1000000,1\n\
                    2.0,3,1,5,1000000,1\n\
                    3.0,1,2,3,1000100,1\n\
                    4.0,3,2,3,1000100,1\n";
        let ob = "9999999999,0,1000000,5\n\
                  9999999999,0,999900,8\n\
                  9999999999,0,1000100,3\n\
                  9999999999,0,999800,2\n";
        let m = parse_messages(msgs.as_bytes(), "m").unwrap();
        let (b, c) = parse_orderbook(ob.as_bytes(), "o").unwrap();
        let r = replay(&m, &b, c, &ReplayOptions::new(1)).unwrap();
        assert_eq!(r.rows_matched, 3, "{:?}", r.first_mismatch);
        assert_eq!((r.levels_injected, r.levels_dropped), (2, 1));
        let mut o = ReplayOptions::new(1);
        o.edge_sync = false;
        let r = replay(&m, &b, c, &o).unwrap();
        assert_eq!(r.rows_matched, 1);
        assert_eq!(r.first_mismatch.unwrap().index, 1);
    }

    #[test]
    fn bad_messages_are_format_errors() {
        let ob = "9999999999,0,-9999999999,0\n";
        let (b, c) = parse_orderbook(ob.as_bytes(), "o").unwrap();
        for (msg, field) in [
            ("1.0,9,1,5,1000000,1\n", "Type"),
            ("1.0,1,1,5,1000050,1\n", "Price"),
            ("1.0,1,1,0,1000000,1\n", "Size"),
            ("1.0,1,1,5,1000000,2\n", "Direction"),
            ("1.0,1,0,5,1000000,1\n", "OrderID"),
        ] {
            let m = parse_messages(msg.as_bytes(), "m").unwrap();
            let e = replay(&m, &b, c, &ReplayOptions::new(1)).unwrap_err();
            assert_eq!(fmt_field(&e), (1, field.to_string()), "{e}");
        }
        let m = parse_messages(b"1.0,1,1,5,1000000,1\n2.0,1,2,5,1000000,1\n", "m").unwrap();
        let e = replay(&m, &b, c, &ReplayOptions::new(1)).unwrap_err();
        assert_eq!(fmt_field(&e), (2, "row count".to_string()));
        let (b, c) = parse_orderbook(b"1000050,3,-9999999999,0\n", "o").unwrap();
        let m = parse_messages(b"1.0,5,0,1,1000050,1\n", "m").unwrap();
        let e = replay(&m, &b, c, &ReplayOptions::new(1)).unwrap_err();
        assert_eq!(fmt_field(&e), (1, "AskPrice_1".to_string()));
        assert!(matches!(
            replay(&m, &b, c, &ReplayOptions::new(2)),
            Err(LobsterError::Input(_))
        ));
    }
}
