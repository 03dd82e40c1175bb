//! Databento MBO (market by order) CSV: reader, replay into the real [`OrderBook`], and
//! MBP-10 (market by price, 10 levels) rows in the convention of the Blockhouse reference
//! output (`mbp.csv` of the ARL sample).
//!
//! The same records in Databento's native binary encoding (DBN) are read by
//! [`crate::mbo_dbn`]; [`read_mbo`] / [`parse_mbo`] take either, told apart by the first
//! bytes. The replay keeps one book per `instrument_id` ([`MbpReplay::instruments`]).
//!
//! # Prices
//! Databento prices are fixed point with 9 decimals (1 unit = 1e-9 dollars). The reader keeps
//! them as integer nanodollars ([`UNDEF_PRICE`] for "no price"); the replay converts them to
//! integer book ticks of `tick_nanos` nanodollars (by default the largest power of ten that
//! divides every price of the file, so every price is exact) and back when it writes rows.
//!
//! # Conventions of the reference MBP-10 output
//! - `R` (clear) empties the book and is written as a row with an empty book.
//! - `A` adds an order, `C` cancels `size` of it (a partial cancel keeps priority), `M`
//!   modifies it (not in the sample; priority rules of the book).
//! - `T` and `F` do not change the book; the `C` that follows a `T` does. A `T`→`F`→`C`
//!   sequence becomes one `T` row, placed on the side of the resting order (the side
//!   opposite the `T`'s aggressor side), with the trade's price, size, flags and times and
//!   the level depth of the resting order before the `C`. A `T` with side `N` does not touch
//!   the book and is written as a `T` row with side `N` and depth 0.
//! - With [`EmitRule::Reference`] (the default) an `A` or `C` is written when its level's
//!   depth (0-based index on its side) is at most 10: the top 10 plus the first level below,
//!   so a level that enters or leaves the top 10 is written. A bid-side `C` that empties its
//!   level is gated on depth − 1 (the reference's bid indexing; 8 rows of the ARL sample
//!   depend on it). [`EmitRule::TopChange`] writes a row only when the top 10 levels change.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use thiserror::Error;

use crate::book::{LevelView, OrderBook};
use crate::types::{NewOrder, Price, Side};

/// Databento's "no price" sentinel (`i64::MAX`).
pub const UNDEF_PRICE: i64 = i64::MAX;
/// Number of levels per side in an MBP-10 row.
pub const MBP_LEVELS: usize = 10;
/// The columns of a Databento MBO CSV file, in Databento's order.
pub const MBO_COLUMNS: [&str; 15] = [
    "ts_recv",
    "ts_event",
    "rtype",
    "publisher_id",
    "instrument_id",
    "action",
    "side",
    "price",
    "size",
    "channel_id",
    "order_id",
    "flags",
    "ts_in_delta",
    "sequence",
    "symbol",
];

/// An error reading or replaying an MBO file. Every variant names the source (path or
/// `<bytes>`), and the line (1-based, the header is line 1) and field where it applies.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MboError {
    /// The file could not be read.
    #[error("{path}: cannot read: {message}")]
    Io {
        /// The path.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// The header row is missing a column or the file is empty.
    #[error("{path}: line {line}: {message}")]
    Header {
        /// The source.
        path: String,
        /// The line (1).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A data row has the wrong number of fields (e.g. a truncated last line).
    #[error("{path}: line {line}: expected {expected} comma-separated fields, found {found}")]
    ColumnCount {
        /// The source.
        path: String,
        /// The line.
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A field does not parse.
    #[error("{path}: line {line}: field {field}: {value:?} is not {expected}")]
    Field {
        /// The source.
        path: String,
        /// The line.
        line: usize,
        /// The column name.
        field: &'static str,
        /// The text found.
        value: String,
        /// What the field must be.
        expected: &'static str,
    },
    /// A record that the book cannot apply (unknown order, a cancel larger than the order,
    /// an add that would cross the book, ...).
    #[error("{path}: line {line}: field {field}: {message}")]
    Replay {
        /// The source.
        path: String,
        /// The line.
        line: usize,
        /// The column at fault.
        field: &'static str,
        /// What happened.
        message: String,
    },
    /// A DBN file that does not decode: not DBN, truncated, corrupt, or not of the MBO
    /// schema. `offset` is the byte offset of the fault: in the file for a plain `.dbn`, in
    /// the decompressed stream for a `.dbn.zst` (or in the compressed file when the zstd
    /// stream itself is truncated or corrupt; `message` says which).
    #[error("{path}: byte offset {offset}: {message}")]
    Dbn {
        /// The source.
        path: String,
        /// Byte offset of the fault.
        offset: u64,
        /// The DBN field at fault (`"rtype"`, `"action"`, ...), if one.
        field: Option<&'static str>,
        /// What is wrong.
        message: String,
    },
    /// A DBN record that the book cannot apply (as [`MboError::Replay`] for a CSV line).
    #[error("{path}: record {record} at byte offset {offset}{stream}: field {field}: {message}")]
    DbnReplay {
        /// The source.
        path: String,
        /// 1-based record number.
        record: usize,
        /// Byte offset of the record (see [`MboError::Dbn`]).
        offset: u64,
        /// `""`, or `" of the decompressed stream"` for a zstd file.
        stream: &'static str,
        /// The field at fault.
        field: &'static str,
        /// What happened.
        message: String,
    },
}

impl MboError {
    /// The source path (or `<bytes>`).
    pub fn path(&self) -> &str {
        match self {
            MboError::Io { path, .. }
            | MboError::Header { path, .. }
            | MboError::ColumnCount { path, .. }
            | MboError::Field { path, .. }
            | MboError::Replay { path, .. }
            | MboError::Dbn { path, .. }
            | MboError::DbnReplay { path, .. } => path,
        }
    }
    /// The byte offset of a DBN error, if the error is about one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            MboError::Dbn { offset, .. } | MboError::DbnReplay { offset, .. } => Some(*offset),
            _ => None,
        }
    }
    /// The 1-based line, if the error is about one.
    pub fn line(&self) -> Option<usize> {
        match self {
            MboError::Io { .. } | MboError::Dbn { .. } | MboError::DbnReplay { .. } => None,
            MboError::Header { line, .. }
            | MboError::ColumnCount { line, .. }
            | MboError::Field { line, .. }
            | MboError::Replay { line, .. } => Some(*line),
        }
    }
    /// The column at fault, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            MboError::Field { field, .. }
            | MboError::Replay { field, .. }
            | MboError::DbnReplay { field, .. } => Some(field),
            MboError::Dbn { field, .. } => *field,
            _ => None,
        }
    }
}

/// One MBO record. Prices in nanodollars ([`UNDEF_PRICE`] when empty); times in ns since the
/// Unix epoch; `action` and `side` are the ASCII letters of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MboRecord {
    /// Capture time.
    pub ts_recv: i64,
    /// Matching-engine time.
    pub ts_event: i64,
    /// Record type (160 = MBO).
    pub rtype: u8,
    /// Databento publisher.
    pub publisher_id: u16,
    /// Instrument.
    pub instrument_id: u32,
    /// `R`, `A`, `C`, `M`, `T`, `F` or `N`.
    pub action: u8,
    /// `B`, `A` or `N`.
    pub side: u8,
    /// Price in 1e-9 units.
    pub price: i64,
    /// Size.
    pub size: u32,
    /// Channel.
    pub channel_id: u8,
    /// Order id.
    pub order_id: u64,
    /// Flags bit field.
    pub flags: u8,
    /// `ts_recv - ts_send` in ns.
    pub ts_in_delta: i32,
    /// Venue sequence number.
    pub sequence: u32,
    /// Index into [`MboFile::symbols`].
    pub symbol: u32,
    /// 1-based line of the record in a CSV file; 1-based record number in a DBN file (its
    /// byte offset is in [`MboFile::offsets`]).
    pub line: u32,
}

/// The encoding an MBO file was read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MboFormat {
    /// Databento's CSV export (a header row, then one record per line).
    #[default]
    Csv,
    /// Databento Binary Encoding, uncompressed (`.dbn`).
    Dbn,
    /// Databento Binary Encoding in a zstd stream (`.dbn.zst`).
    DbnZstd,
}

impl MboFormat {
    /// `"csv"`, `"dbn"` or `"dbn.zst"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MboFormat::Csv => "csv",
            MboFormat::Dbn => "dbn",
            MboFormat::DbnZstd => "dbn.zst",
        }
    }
}

/// A parsed MBO file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MboFile {
    /// Where the records came from (path or `<bytes>`).
    pub source: String,
    /// The records in file order.
    pub records: Vec<MboRecord>,
    /// Distinct symbols; records refer to them by index.
    pub symbols: Vec<String>,
    /// The encoding of the source.
    pub format: MboFormat,
    /// For DBN: the byte offset of each record (in the decompressed stream for zstd), so that
    /// errors can name it. Empty for CSV.
    pub offsets: Vec<u64>,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Parse an ISO-8601 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z` (or a plain integer
/// of ns since the epoch) into ns since the epoch.
pub fn parse_timestamp(s: &[u8]) -> Option<i64> {
    if s.len() < 20 || s[4] != b'-' {
        return digits(s);
    }
    if s[7] != b'-' || s[10] != b'T' || s[13] != b':' || s[16] != b':' || s.last() != Some(&b'Z') {
        return None;
    }
    let y = digits(&s[0..4])?;
    let mo = digits(&s[5..7])?;
    let d = digits(&s[8..10])?;
    let h = digits(&s[11..13])?;
    let mi = digits(&s[14..16])?;
    let se = digits(&s[17..19])?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let frac = &s[19..s.len() - 1];
    let nanos = match frac {
        [] => 0,
        [b'.', rest @ ..] if !rest.is_empty() && rest.len() <= 9 => {
            digits(rest)? * 10i64.pow(9 - rest.len() as u32)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some((((days * 24 + h) * 60 + mi) * 60 + se) * 1_000_000_000 + nanos)
}

/// Format ns since the epoch as `YYYY-MM-DDTHH:MM:SS.fffffffffZ`.
pub fn format_timestamp(ns: i64, out: &mut String) {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
}

/// Parse a decimal dollar price with at most 9 decimals into nanodollars.
pub fn parse_price_nanos(s: &[u8]) -> Option<i64> {
    let (neg, body) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    let (int, frac) = match body.iter().position(|&c| c == b'.') {
        Some(p) => (&body[..p], &body[p + 1..]),
        None => (body, &body[body.len()..]),
    };
    if int.is_empty() || frac.len() > 9 || int.len() > 10 {
        return None;
    }
    let i = digits(int)?;
    let f = if frac.is_empty() {
        0
    } else {
        digits(frac)? * 10i64.pow(9 - frac.len() as u32)
    };
    let v = i * 1_000_000_000 + f;
    Some(if neg { -v } else { v })
}

/// Format nanodollars the way the reference output does (Python's float repr of the
/// decimal): trailing zeros dropped, at least one decimal (`5.51`, `17.6`, `6.0`).
pub fn format_price(nanos: i64, out: &mut String) {
    if nanos == UNDEF_PRICE {
        return;
    }
    if nanos < 0 {
        out.push('-');
    }
    let a = nanos.unsigned_abs();
    let int = a / 1_000_000_000;
    let mut frac = a % 1_000_000_000;
    let mut width = 9;
    while width > 1 && frac.is_multiple_of(10) {
        frac /= 10;
        width -= 1;
    }
    let _ = write!(out, "{int}.{frac:0width$}");
}

fn split_fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&c| c == b',')
}

/// Parse an MBO CSV held in memory; `source` names it in errors.
///
/// The header row must hold the 15 Databento MBO columns ([`MBO_COLUMNS`], any order); CRLF
/// line ends and a missing final newline are accepted.
///
/// # Errors
/// [`MboError::Header`] for an empty file or a missing column, [`MboError::ColumnCount`] for a
/// row with a different number of fields, [`MboError::Field`] for a value that does not parse.
pub fn parse_mbo_csv(data: &[u8], source: &str) -> Result<MboFile, MboError> {
    let mut lines = data.split(|&c| c == b'\n').enumerate();
    let strip = |l: &'_ [u8]| -> Vec<u8> { l.strip_suffix(b"\r").unwrap_or(l).to_vec() };
    let header = match lines.next() {
        Some((_, l)) if !strip(l).is_empty() => strip(l),
        _ => {
            return Err(MboError::Header {
                path: source.to_string(),
                line: 1,
                message: "the file is empty; expected a header row with the Databento MBO columns"
                    .to_string(),
            })
        }
    };
    let names: Vec<&[u8]> = split_fields(&header).collect();
    let ncols = names.len();
    let mut col = [usize::MAX; 15];
    for (k, want) in MBO_COLUMNS.iter().enumerate() {
        match names.iter().position(|n| *n == want.as_bytes()) {
            Some(i) => col[k] = i,
            None => {
                return Err(MboError::Header {
                    path: source.to_string(),
                    line: 1,
                    message: format!(
                        "header has no column {want:?}; expected the Databento MBO columns {}",
                        MBO_COLUMNS.join(",")
                    ),
                })
            }
        }
    }
    let mut file = MboFile {
        source: source.to_string(),
        records: Vec::with_capacity(data.len() / 128),
        symbols: Vec::new(),
        format: MboFormat::Csv,
        offsets: Vec::new(),
    };
    let mut fields: Vec<&[u8]> = Vec::with_capacity(ncols);
    for (i, raw) in lines {
        let line_no = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        fields.clear();
        fields.extend(split_fields(raw));
        if fields.len() != ncols {
            return Err(MboError::ColumnCount {
                path: source.to_string(),
                line: line_no,
                expected: ncols,
                found: fields.len(),
            });
        }
        let get = |k: usize| fields[col[k]];
        let bad = |k: usize, expected: &'static str| MboError::Field {
            path: source.to_string(),
            line: line_no,
            field: MBO_COLUMNS[k],
            value: String::from_utf8_lossy(fields[col[k]]).into_owned(),
            expected,
        };
        let int = |k: usize, max: i64| -> Result<i64, MboError> {
            let s = get(k);
            let v = match s {
                [b'-', rest @ ..] => digits(rest).map(|v| -v),
                _ => digits(s),
            };
            v.filter(|v| (-max - 1..=max).contains(v) && (*v >= 0 || k == 12))
                .ok_or_else(|| bad(k, "an integer in range"))
        };
        let ts_recv = parse_timestamp(get(0)).ok_or_else(|| bad(0, "an ISO-8601 timestamp"))?;
        let ts_event = parse_timestamp(get(1)).ok_or_else(|| bad(1, "an ISO-8601 timestamp"))?;
        let action = match get(5) {
            [c @ (b'R' | b'A' | b'C' | b'M' | b'T' | b'F' | b'N')] => *c,
            _ => return Err(bad(5, "one of R, A, C, M, T, F, N")),
        };
        let side = match get(6) {
            [c @ (b'B' | b'A' | b'N')] => *c,
            _ => return Err(bad(6, "one of B, A, N")),
        };
        let price = match get(7) {
            [] => UNDEF_PRICE,
            s => parse_price_nanos(s)
                .ok_or_else(|| bad(7, "a decimal price with at most 9 decimals"))?,
        };
        let order_id = {
            let s = get(10);
            if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
                return Err(bad(10, "an unsigned integer"));
            }
            std::str::from_utf8(s)
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| bad(10, "an unsigned 64-bit integer"))?
        };
        let sym = get(14);
        let symbol = match file.symbols.iter().position(|s| s.as_bytes() == sym) {
            Some(p) => p as u32,
            None => {
                file.symbols.push(String::from_utf8_lossy(sym).into_owned());
                (file.symbols.len() - 1) as u32
            }
        };
        file.records.push(MboRecord {
            ts_recv,
            ts_event,
            rtype: int(2, 255)? as u8,
            publisher_id: int(3, 65_535)? as u16,
            instrument_id: int(4, u32::MAX as i64)? as u32,
            action,
            side,
            price,
            size: int(8, u32::MAX as i64)? as u32,
            channel_id: int(9, 255)? as u8,
            order_id,
            flags: int(11, 255)? as u8,
            ts_in_delta: int(12, i32::MAX as i64)? as i32,
            sequence: int(13, u32::MAX as i64)? as u32,
            symbol,
            line: line_no as u32,
        });
    }
    Ok(file)
}

/// Read and parse an MBO CSV file.
///
/// # Errors
/// [`MboError::Io`] if it cannot be read, else as [`parse_mbo_csv`].
pub fn read_mbo_csv(path: &Path) -> Result<MboFile, MboError> {
    let name = path.display().to_string();
    parse_mbo_csv(&read_bytes(path)?, &name)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, MboError> {
    std::fs::read(path).map_err(|e| MboError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Parse an MBO file held in memory, CSV or DBN: the encoding is told by the first bytes
/// ([`crate::mbo_dbn::detect`]: the `DBN` prefix or a zstd frame), not by a file name.
///
/// # Errors
/// As [`parse_mbo_csv`] or [`crate::mbo_dbn::parse_mbo_dbn`].
///
/// # Examples
/// ```
/// use hftbook_core::mbo::{parse_mbo, MboFormat};
/// let csv = b"ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,\
/// channel_id,order_id,flags,ts_in_delta,sequence,symbol\n\
/// 1,1,160,2,7,A,B,9.99,100,0,1,130,0,1,XYZ\n";
/// let f = parse_mbo(csv, "<bytes>").unwrap();
/// assert_eq!((f.format, f.records.len()), (MboFormat::Csv, 1));
/// let mut dbn = Vec::new();
/// hftbook_core::mbo_dbn::write_mbo_dbn(&f, true, &mut dbn).unwrap();
/// let g = parse_mbo(&dbn, "<bytes>").unwrap();
/// assert_eq!((g.format, g.records[0].price), (MboFormat::DbnZstd, 9_990_000_000));
/// ```
pub fn parse_mbo(data: &[u8], source: &str) -> Result<MboFile, MboError> {
    match crate::mbo_dbn::detect(data) {
        Some(_) => crate::mbo_dbn::parse_mbo_dbn(data, source),
        None => parse_mbo_csv(data, source),
    }
}

/// Read an MBO file, CSV or DBN (plain or zstd), told apart by its first bytes.
///
/// # Errors
/// [`MboError::Io`] if it cannot be read, else as [`parse_mbo`].
pub fn read_mbo(path: &Path) -> Result<MboFile, MboError> {
    parse_mbo(&read_bytes(path)?, &path.display().to_string())
}

/// When a replay writes a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EmitRule {
    /// The reference output's rule (see the module docs); reproduces the ARL `mbp.csv`.
    #[default]
    Reference,
    /// Only when the top 10 levels (price, size, count) change; trades always.
    TopChange,
}

/// One MBP-10 row. Prices in nanodollars ([`UNDEF_PRICE`] for an empty level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mbp10Row {
    /// Copied from the source record's `ts_event` (the reference writes it in both columns).
    pub ts_recv: i64,
    /// Matching-engine time.
    pub ts_event: i64,
    /// Publisher.
    pub publisher_id: u16,
    /// Instrument.
    pub instrument_id: u32,
    /// `R`, `A`, `C`, `M` or `T`.
    pub action: u8,
    /// `B`, `A` or `N`.
    pub side: u8,
    /// 0-based level index of the event on its side.
    pub depth: u8,
    /// Event price (nanodollars).
    pub price: i64,
    /// Event size.
    pub size: u32,
    /// Flags.
    pub flags: u8,
    /// `ts_in_delta`.
    pub ts_in_delta: i32,
    /// Sequence.
    pub sequence: u32,
    /// Bid prices, best first.
    pub bid_px: [i64; MBP_LEVELS],
    /// Bid sizes.
    pub bid_sz: [u32; MBP_LEVELS],
    /// Bid order counts.
    pub bid_ct: [u32; MBP_LEVELS],
    /// Ask prices, best first.
    pub ask_px: [i64; MBP_LEVELS],
    /// Ask sizes.
    pub ask_sz: [u32; MBP_LEVELS],
    /// Ask order counts.
    pub ask_ct: [u32; MBP_LEVELS],
    /// Index into the file's symbols.
    pub symbol: u32,
    /// Order id of the event.
    pub order_id: u64,
}

/// The result of [`replay_mbo`].
#[derive(Clone, Debug, Default)]
pub struct MbpReplay {
    /// Rows in order.
    pub rows: Vec<Mbp10Row>,
    /// Book tick in nanodollars.
    pub tick_nanos: i64,
    /// MBO records read.
    pub records: usize,
    /// Records that changed the book (adds, cancels, modifies, clears).
    pub book_events: usize,
    /// Orders resting at the end.
    pub resting_orders: usize,
    /// One entry per instrument (own book), in order of first appearance.
    pub instruments: Vec<InstrumentReplay>,
}

/// The counts of one instrument's book in a replay: a file with several instruments is
/// replayed into one book per `instrument_id`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstrumentReplay {
    /// Databento instrument id.
    pub instrument_id: u32,
    /// Index into the file's symbols (the symbol of the instrument's first record).
    pub symbol: u32,
    /// MBO records of this instrument.
    pub records: usize,
    /// MBP-10 rows written for it.
    pub rows: usize,
    /// Records that changed its book.
    pub book_events: usize,
    /// Orders resting in its book at the end.
    pub resting_orders: usize,
}

/// The largest power of ten (in nanodollars, 1 ..= 1e9) dividing every defined price.
pub fn auto_tick_nanos(records: &[MboRecord]) -> i64 {
    let mut tick = 1_000_000_000i64;
    for r in records {
        if r.price == UNDEF_PRICE {
            continue;
        }
        while tick > 1 && r.price % tick != 0 {
            tick /= 10;
        }
    }
    tick
}

/// One instrument's book and the state of its replay.
struct Instrument {
    id: u32,
    symbol: u32,
    book: OrderBook,
    /// A trade waiting for the cancel of its resting order.
    pending: Option<MboRecord>,
    records: usize,
    rows: usize,
    book_events: usize,
}

impl Instrument {
    fn new(id: u32, symbol: u32) -> Self {
        Instrument {
            id,
            symbol,
            book: OrderBook::new(),
            pending: None,
            records: 0,
            rows: 0,
            book_events: 0,
        }
    }
}

struct Replayer<'a> {
    file: &'a MboFile,
    /// The book of the instrument of the record being applied.
    cur: Instrument,
    /// The other instruments' books.
    parked: rustc_hash::FxHashMap<u32, Instrument>,
    /// Instrument ids in order of first appearance.
    order: Vec<u32>,
    tick: i64,
    rule: EmitRule,
    rows: Vec<Mbp10Row>,
    progress: Option<&'a std::sync::atomic::AtomicU64>,
}

fn side_of(c: u8) -> Option<Side> {
    match c {
        b'B' => Some(Side::Buy),
        b'A' => Some(Side::Sell),
        _ => None,
    }
}

fn side_char(s: Side) -> u8 {
    match s {
        Side::Buy => b'B',
        Side::Sell => b'A',
    }
}

impl Replayer<'_> {
    fn err(&self, r: &MboRecord, field: &'static str, message: String) -> MboError {
        let path = self.file.source.clone();
        match self.file.format {
            MboFormat::Csv => MboError::Replay {
                path,
                line: r.line as usize,
                field,
                message,
            },
            f @ (MboFormat::Dbn | MboFormat::DbnZstd) => MboError::DbnReplay {
                path,
                record: r.line as usize,
                offset: (r.line as usize)
                    .checked_sub(1)
                    .and_then(|i| self.file.offsets.get(i))
                    .copied()
                    .unwrap_or(0),
                stream: if f == MboFormat::DbnZstd {
                    " of the decompressed stream"
                } else {
                    ""
                },
                field,
                message,
            },
        }
    }

    /// Make `id`'s book the current one (a new empty book for a new instrument).
    fn switch_to(&mut self, id: u32, symbol: u32) {
        let next = self.parked.remove(&id).unwrap_or_else(|| {
            self.order.push(id);
            Instrument::new(id, symbol)
        });
        let prev = std::mem::replace(&mut self.cur, next);
        self.parked.insert(prev.id, prev);
    }

    fn ticks(&self, r: &MboRecord) -> Result<Price, MboError> {
        if r.price == UNDEF_PRICE {
            return Err(self.err(r, "price", "the record needs a price".to_string()));
        }
        if r.price % self.tick != 0 {
            return Err(self.err(
                r,
                "price",
                format!(
                    "price {} nanodollars is not a multiple of the tick {} nanodollars",
                    r.price, self.tick
                ),
            ));
        }
        Ok(Price(r.price / self.tick))
    }

    /// 0-based index of the level at `price` on `side` (levels better than it), scanning at
    /// most `limit` levels; `limit` if it is deeper or absent.
    fn depth_of(&self, side: Side, price: Price, limit: usize) -> usize {
        self.cur
            .book
            .depth(side, limit)
            .iter()
            .position(|l| l.price == price)
            .unwrap_or(limit)
    }

    fn exact_depth(&self, side: Side, price: Price) -> usize {
        let lv = self.cur.book.depth(side, usize::MAX);
        lv.iter().position(|l| l.price == price).unwrap_or(0)
    }

    fn top(&self) -> (Vec<LevelView>, Vec<LevelView>) {
        (
            self.cur.book.depth(Side::Buy, MBP_LEVELS),
            self.cur.book.depth(Side::Sell, MBP_LEVELS),
        )
    }

    fn push_row(&mut self, r: &MboRecord, action: u8, side: u8, depth: usize, size: u32) {
        let (bids, asks) = self.top();
        let mut row = Mbp10Row {
            ts_recv: r.ts_event,
            ts_event: r.ts_event,
            publisher_id: r.publisher_id,
            instrument_id: r.instrument_id,
            action,
            side,
            depth: depth.min(255) as u8,
            price: r.price,
            size,
            flags: r.flags,
            ts_in_delta: r.ts_in_delta,
            sequence: r.sequence,
            bid_px: [UNDEF_PRICE; MBP_LEVELS],
            bid_sz: [0; MBP_LEVELS],
            bid_ct: [0; MBP_LEVELS],
            ask_px: [UNDEF_PRICE; MBP_LEVELS],
            ask_sz: [0; MBP_LEVELS],
            ask_ct: [0; MBP_LEVELS],
            symbol: r.symbol,
            order_id: r.order_id,
        };
        for (i, l) in bids.iter().enumerate() {
            row.bid_px[i] = l.price.0 * self.tick;
            row.bid_sz[i] = l.qty.min(u64::from(u32::MAX)) as u32;
            row.bid_ct[i] = l.orders;
        }
        for (i, l) in asks.iter().enumerate() {
            row.ask_px[i] = l.price.0 * self.tick;
            row.ask_sz[i] = l.qty.min(u64::from(u32::MAX)) as u32;
            row.ask_ct[i] = l.orders;
        }
        self.rows.push(row);
        self.cur.rows += 1;
    }

    fn clear(&mut self) {
        self.cur.book = OrderBook::new();
    }

    /// Apply an add; returns the level depth after it.
    fn add(&mut self, r: &MboRecord) -> Result<usize, MboError> {
        let side = side_of(r.side)
            .ok_or_else(|| self.err(r, "side", "an add needs side B or A".into()))?;
        let price = self.ticks(r)?;
        if r.order_id == 0 {
            return Err(self.err(r, "order_id", "an add needs a non-zero order_id".into()));
        }
        if r.size == 0 {
            return Err(self.err(r, "size", "an add needs a positive size".into()));
        }
        if let Some(opp) = self.cur.book.best(side.opposite()) {
            if side.crosses(price, opp.price) {
                return Err(self.err(
                    r,
                    "price",
                    format!(
                        "add of order {} would cross the book (opposite best {} nanodollars); \
                         a market-by-order feed never shows a crossed visible book",
                        r.order_id,
                        opp.price.0 * self.tick
                    ),
                ));
            }
        }
        let o = NewOrder::limit(side, price.0, u64::from(r.size)).with_id(r.order_id);
        self.cur
            .book
            .submit(&o, &mut ())
            .map_err(|e| self.err(r, "order_id", e.to_string()))?;
        Ok(self.depth_of(side, price, MBP_LEVELS + 2))
    }

    /// Apply a cancel; returns (side, depth before, level emptied).
    fn cancel(&mut self, r: &MboRecord) -> Result<(Side, usize, bool), MboError> {
        let Some(o) = self.cur.book.order(r.order_id) else {
            return Err(self.err(
                r,
                "order_id",
                format!("cancel of order {} which is not resting", r.order_id),
            ));
        };
        if side_of(r.side) != Some(o.side) {
            return Err(self.err(
                r,
                "side",
                format!(
                    "cancel side {} differs from order {}'s side {}",
                    r.side as char,
                    r.order_id,
                    side_char(o.side) as char
                ),
            ));
        }
        if r.price != UNDEF_PRICE && self.ticks(r)? != o.price {
            return Err(self.err(
                r,
                "price",
                format!(
                    "cancel price {} nanodollars differs from order {}'s price {}",
                    r.price,
                    r.order_id,
                    o.price.0 * self.tick
                ),
            ));
        }
        let size = u64::from(r.size);
        if size == 0 || size > o.qty {
            return Err(self.err(
                r,
                "size",
                format!(
                    "cancel size {} must be between 1 and order {}'s open size {}",
                    r.size, r.order_id, o.qty
                ),
            ));
        }
        let depth = self.depth_of(o.side, o.price, MBP_LEVELS + 2);
        let level_orders = self
            .cur
            .book
            .depth(o.side, depth + 1)
            .get(depth)
            .map_or(0, |l| l.orders);
        let res = if size == o.qty {
            self.cur.book.cancel(r.order_id, &mut ()).map(|_| ())
        } else {
            self.cur
                .book
                .modify(r.order_id, None, Some(o.qty - size), &mut ())
                .map(|_| ())
        };
        res.map_err(|e| self.err(r, "order_id", e.to_string()))?;
        let emptied = size == o.qty && level_orders == 1;
        Ok((o.side, depth, emptied))
    }

    /// Apply a modify; returns (depth before, depth after).
    fn modify(&mut self, r: &MboRecord) -> Result<(usize, usize), MboError> {
        let Some(o) = self.cur.book.order(r.order_id) else {
            return Err(self.err(
                r,
                "order_id",
                format!("modify of order {} which is not resting", r.order_id),
            ));
        };
        let price = self.ticks(r)?;
        if r.size == 0 {
            return Err(self.err(r, "size", "a modify needs a positive size".into()));
        }
        if let Some(opp) = self.cur.book.best(o.side.opposite()) {
            if o.side.crosses(price, opp.price) {
                return Err(self.err(
                    r,
                    "price",
                    format!("modify of order {} would cross the book", r.order_id),
                ));
            }
        }
        let before = self.depth_of(o.side, o.price, MBP_LEVELS + 2);
        self.cur
            .book
            .modify(r.order_id, Some(price), Some(u64::from(r.size)), &mut ())
            .map_err(|e| self.err(r, "size", e.to_string()))?;
        Ok((before, self.depth_of(o.side, price, MBP_LEVELS + 2)))
    }

    fn run(&mut self) -> Result<(), MboError> {
        let file = self.file;
        for (i, r) in file.records.iter().enumerate() {
            if i % PROGRESS_EVERY == 0 {
                if let Some(p) = self.progress {
                    p.store(i as u64, std::sync::atomic::Ordering::Relaxed);
                }
            }
            if r.instrument_id != self.cur.id {
                self.switch_to(r.instrument_id, r.symbol);
            }
            self.cur.records += 1;
            let before = match self.rule {
                EmitRule::TopChange => Some(self.top()),
                EmitRule::Reference => None,
            };
            let changed = |me: &Self| before.as_ref().is_some_and(|b| *b != me.top());
            match r.action {
                b'R' => {
                    if let Some(t) = self.cur.pending.take() {
                        self.flush_trade(&t);
                    }
                    self.clear();
                    self.cur.book_events += 1;
                    self.push_row(r, b'R', b'N', 0, r.size);
                }
                b'T' => {
                    if let Some(t) = self.cur.pending.take() {
                        self.flush_trade(&t);
                    }
                    if r.side == b'N' {
                        self.push_row(r, b'T', b'N', 0, r.size);
                    } else {
                        self.cur.pending = Some(*r);
                    }
                }
                b'F' | b'N' => {}
                b'A' => {
                    if let Some(t) = self.cur.pending.take() {
                        self.flush_trade(&t);
                    }
                    let d = self.add(r)?;
                    self.cur.book_events += 1;
                    let emit = match self.rule {
                        EmitRule::Reference => d <= MBP_LEVELS,
                        EmitRule::TopChange => changed(self),
                    };
                    if emit {
                        self.push_row(r, b'A', r.side, d, r.size);
                    }
                }
                b'C' => {
                    let trade = self.cur.pending.take();
                    let (side, d, emptied) = match (&trade, self.cur.book.order(r.order_id)) {
                        (Some(t), Some(o))
                            if side_of(t.side) == Some(o.side.opposite())
                                && (t.price == UNDEF_PRICE || self.ticks(t)? == o.price) =>
                        {
                            self.cancel(r)?
                        }
                        _ => {
                            if let Some(t) = &trade {
                                self.flush_trade(t);
                            }
                            let (side, d, emptied) = self.cancel(r)?;
                            self.cur.book_events += 1;
                            let gate = if emptied && side == Side::Buy {
                                d.saturating_sub(1)
                            } else {
                                d
                            };
                            let emit = match self.rule {
                                EmitRule::Reference => gate <= MBP_LEVELS,
                                EmitRule::TopChange => changed(self),
                            };
                            if emit {
                                self.push_row(r, b'C', r.side, d, r.size);
                            }
                            continue;
                        }
                    };
                    let _ = emptied;
                    self.cur.book_events += 1;
                    if let Some(t) = trade {
                        let mut t = t;
                        if t.price == UNDEF_PRICE {
                            t.price = r.price;
                        }
                        self.push_row(&t, b'T', side_char(side), d, t.size);
                    }
                }
                b'M' => {
                    if let Some(t) = self.cur.pending.take() {
                        self.flush_trade(&t);
                    }
                    let (d0, d1) = self.modify(r)?;
                    self.cur.book_events += 1;
                    let emit = match self.rule {
                        EmitRule::Reference => d0.min(d1) <= MBP_LEVELS,
                        EmitRule::TopChange => changed(self),
                    };
                    if emit {
                        self.push_row(r, b'M', r.side, d1, r.size);
                    }
                }
                _ => {}
            }
        }
        // Trades still waiting for their cancel, instrument by instrument.
        for k in 0..self.order.len() {
            let id = self.order[k];
            if id != self.cur.id {
                let sym = self.parked.get(&id).map_or(0, |x| x.symbol);
                self.switch_to(id, sym);
            }
            if let Some(t) = self.cur.pending.take() {
                self.flush_trade(&t);
            }
        }
        Ok(())
    }

    /// Per-instrument counts, in order of first appearance.
    fn instruments(mut self) -> (Vec<InstrumentReplay>, Vec<Mbp10Row>) {
        let cur = std::mem::replace(&mut self.cur, Instrument::new(0, 0));
        self.parked.insert(cur.id, cur);
        let list = self
            .order
            .iter()
            .filter_map(|id| self.parked.get(id))
            .map(|x| InstrumentReplay {
                instrument_id: x.id,
                symbol: x.symbol,
                records: x.records,
                rows: x.rows,
                book_events: x.book_events,
                resting_orders: x.book.len(),
            })
            .collect();
        (list, self.rows)
    }

    /// A trade whose resting-order cancel never came: written on its own, book unchanged.
    fn flush_trade(&mut self, t: &MboRecord) {
        let resting = side_of(t.side).map(Side::opposite);
        let (side, depth) = match resting {
            Some(s) if t.price != UNDEF_PRICE && t.price % self.tick == 0 => (
                side_char(s),
                self.exact_depth(s, Price(t.price / self.tick)),
            ),
            Some(s) => (side_char(s), 0),
            None => (b'N', 0),
        };
        self.push_row(t, b'T', side, depth, t.size);
    }
}

/// Replay an MBO file into the book and produce MBP-10 rows.
///
/// `tick_nanos`: the book tick in nanodollars (`None`: [`auto_tick_nanos`]).
///
/// # Errors
/// [`MboError::Replay`] naming the line and field of the first record the book cannot apply
/// (cancel of an unknown order, a cancel larger than the order, an add that would cross,
/// a price off the tick grid, ...).
pub fn replay_mbo(
    file: &MboFile,
    tick_nanos: Option<i64>,
    rule: EmitRule,
) -> Result<MbpReplay, MboError> {
    replay_mbo_with_progress(file, tick_nanos, rule, None)
}

/// Records between two updates of a progress counter.
const PROGRESS_EVERY: usize = 1024;

/// [`replay_mbo`] that also stores the number of records applied so far in `progress`
/// (every 1024 records and at the end; relaxed stores, for a progress bar on another thread).
///
/// # Errors
/// As [`replay_mbo`].
pub fn replay_mbo_with_progress(
    file: &MboFile,
    tick_nanos: Option<i64>,
    rule: EmitRule,
    progress: Option<&std::sync::atomic::AtomicU64>,
) -> Result<MbpReplay, MboError> {
    let tick = tick_nanos.unwrap_or_else(|| auto_tick_nanos(&file.records));
    if tick <= 0 {
        return Err(MboError::Replay {
            path: file.source.clone(),
            line: 0,
            field: "tick_nanos",
            message: format!("tick_nanos must be positive, got {tick}"),
        });
    }
    let first = file.records.first();
    let mut rp = Replayer {
        file,
        cur: Instrument::new(
            first.map_or(0, |r| r.instrument_id),
            first.map_or(0, |r| r.symbol),
        ),
        parked: rustc_hash::FxHashMap::default(),
        order: first.map(|r| r.instrument_id).into_iter().collect(),
        tick,
        rule,
        rows: Vec::with_capacity(file.records.len()),
        progress,
    };
    rp.run()?;
    if let Some(p) = progress {
        p.store(
            file.records.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    let (instruments, rows) = rp.instruments();
    Ok(MbpReplay {
        resting_orders: instruments.iter().map(|x| x.resting_orders).sum(),
        book_events: instruments.iter().map(|x| x.book_events).sum(),
        rows,
        tick_nanos: tick,
        records: file.records.len(),
        instruments,
    })
}

/// The header line of an MBP-10 CSV (with the leading unnamed index column).
pub fn mbp10_header() -> String {
    let mut h = String::from(
        ",ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,depth,price,size,flags,ts_in_delta,sequence",
    );
    for i in 0..MBP_LEVELS {
        for k in ["bid_px", "bid_sz", "bid_ct", "ask_px", "ask_sz", "ask_ct"] {
            let _ = write!(h, ",{k}_{i:02}");
        }
    }
    h.push_str(",symbol,order_id");
    h
}

/// Append one MBP-10 CSV line (no newline) for row number `index`.
pub fn format_mbp10_row(index: usize, r: &Mbp10Row, symbols: &[String], out: &mut String) {
    let _ = write!(out, "{index},");
    format_timestamp(r.ts_recv, out);
    out.push(',');
    format_timestamp(r.ts_event, out);
    let _ = write!(
        out,
        ",10,{},{},{},{},{},",
        r.publisher_id, r.instrument_id, r.action as char, r.side as char, r.depth
    );
    format_price(r.price, out);
    let _ = write!(
        out,
        ",{},{},{},{}",
        r.size, r.flags, r.ts_in_delta, r.sequence
    );
    for i in 0..MBP_LEVELS {
        out.push(',');
        format_price(r.bid_px[i], out);
        let _ = write!(out, ",{},{},", r.bid_sz[i], r.bid_ct[i]);
        format_price(r.ask_px[i], out);
        let _ = write!(out, ",{},{}", r.ask_sz[i], r.ask_ct[i]);
    }
    let sym = symbols.get(r.symbol as usize).map_or("", String::as_str);
    let _ = write!(out, ",{sym},{}", r.order_id);
}

/// Whether a CSV's first line ends with `\r\n`, so that a file written to be compared with it
/// can use the same line ends. A text without a line end is taken as LF.
#[must_use]
pub fn ends_lines_with_crlf(text: &[u8]) -> bool {
    text.iter()
        .position(|&b| b == b'\n')
        .is_some_and(|i| i > 0 && text[i - 1] == b'\r')
}

/// Write rows as an MBP-10 CSV in the reference's format; `crlf` ends lines with `\r\n` as
/// the reference file does (pandas on Windows), else `\n`.
///
/// # Errors
/// Any I/O error of `w`.
pub fn write_mbp10_csv<W: Write>(
    rows: &[Mbp10Row],
    symbols: &[String],
    crlf: bool,
    mut w: W,
) -> std::io::Result<()> {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut buf = mbp10_header();
    buf.push_str(eol);
    for (i, r) in rows.iter().enumerate() {
        format_mbp10_row(i, r, symbols, &mut buf);
        buf.push_str(eol);
        if buf.len() > 1 << 16 {
            w.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    w.write_all(buf.as_bytes())?;
    w.flush()
}

/// A row-by-row comparison of two MBP-10 CSV texts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MbpComparison {
    /// Data rows of ours.
    pub rows_ours: usize,
    /// Data rows of the expected file.
    pub rows_expected: usize,
    /// Rows (at the same index) whose text is identical.
    pub rows_equal: usize,
    /// First differing row: (0-based data row, column name, ours, expected).
    pub first_mismatch: Option<(usize, String, String, String)>,
}

fn text_lines(t: &str) -> Vec<&str> {
    t.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Compare two MBP-10 CSV texts (header then rows) row by row, as text.
pub fn compare_mbp10_csv(ours: &str, expected: &str) -> MbpComparison {
    let a = text_lines(ours);
    let b = text_lines(expected);
    let header: Vec<&str> = b
        .first()
        .map(|h| h.split(',').collect())
        .unwrap_or_default();
    let mut cmp = MbpComparison {
        rows_ours: a.len().saturating_sub(1),
        rows_expected: b.len().saturating_sub(1),
        ..MbpComparison::default()
    };
    for i in 1..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        if x.is_some() && x == y {
            cmp.rows_equal += 1;
            continue;
        }
        if cmp.first_mismatch.is_none() {
            let xs: Vec<&str> = x.map(|l| l.split(',').collect()).unwrap_or_default();
            let ys: Vec<&str> = y.map(|l| l.split(',').collect()).unwrap_or_default();
            let n = xs.len().max(ys.len());
            let j = (0..n).find(|&j| xs.get(j) != ys.get(j)).unwrap_or(0);
            let name = header
                .get(j)
                .map_or_else(|| format!("column {j}"), |s| (*s).to_string());
            let name = if name.is_empty() {
                "index".into()
            } else {
                name
            };
            cmp.first_mismatch = Some((
                i - 1,
                name,
                xs.get(j)
                    .map_or("<missing row>".into(), |s| (*s).to_string()),
                ys.get(j)
                    .map_or("<missing row>".into(), |s| (*s).to_string()),
            ));
        }
    }
    cmp
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_ends_follow_the_first_line() {
        assert!(super::ends_lines_with_crlf(b"a,b\r\n1,2\r\n"));
        assert!(!super::ends_lines_with_crlf(b"a,b\n1,2\r\n"));
        assert!(!super::ends_lines_with_crlf(b"a,b"));
        assert!(!super::ends_lines_with_crlf(b"\n"));
        assert!(!super::ends_lines_with_crlf(b""));
    }

    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let s = "2025-07-17T07:05:09.035793433Z";
        let ns = parse_timestamp(s.as_bytes()).unwrap();
        let mut out = String::new();
        format_timestamp(ns, &mut out);
        assert_eq!(out, s);
        assert_eq!(parse_timestamp(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp(b"12345"), Some(12345));
        assert_eq!(parse_timestamp(b"2025-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp(b"2025-07-17T07:05:09.0357934331Z"), None);
    }

    #[test]
    fn prices_parse_and_format_like_the_reference() {
        let cases = [
            ("5.510000000", "5.51"),
            ("17.6", "17.6"),
            ("13.575000000", "13.575"),
            ("6", "6.0"),
            ("2147.480000000", "2147.48"),
            ("-0.5", "-0.5"),
        ];
        for (src, want) in cases {
            let mut out = String::new();
            format_price(parse_price_nanos(src.as_bytes()).unwrap(), &mut out);
            assert_eq!(out, want, "{src}");
        }
        assert_eq!(parse_price_nanos(b"1.0000000001"), None);
        assert_eq!(parse_price_nanos(b"1.2.3"), None);
        assert_eq!(parse_price_nanos(b"abc"), None);
    }

    const HDR: &str = "ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,channel_id,order_id,flags,ts_in_delta,sequence,symbol\n";

    fn line(action: char, side: char, price: &str, size: u32, id: u64, seq: u32) -> String {
        format!("2025-07-17T08:00:00.000000001Z,2025-07-17T08:00:00.000000000Z,160,2,7,{action},{side},{price},{size},0,{id},130,10,{seq},XYZ\n")
    }

    #[test]
    fn trade_fill_cancel_becomes_one_trade_row_on_the_resting_side() {
        let mut t = HDR.to_string();
        t += &line('A', 'A', "10.00", 5, 1, 1);
        t += &line('T', 'B', "10.00", 2, 0, 2);
        t += &line('F', 'A', "10.00", 2, 1, 2);
        t += &line('C', 'A', "10.00", 2, 1, 2);
        t += &line('T', 'N', "10.00", 7, 0, 3);
        let f = parse_mbo_csv(t.as_bytes(), "<t>").unwrap();
        let rp = replay_mbo(&f, None, EmitRule::Reference).unwrap();
        assert_eq!(rp.tick_nanos, 1_000_000_000);
        let acts: Vec<(u8, u8, u32, u32)> = rp
            .rows
            .iter()
            .map(|r| (r.action, r.side, r.size, r.ask_sz[0]))
            .collect();
        assert_eq!(
            acts,
            vec![(b'A', b'A', 5, 5), (b'T', b'A', 2, 3), (b'T', b'N', 7, 3)]
        );
    }

    #[test]
    fn a_trade_without_its_cancel_is_written_alone_and_r_clears() {
        let mut t = HDR.to_string();
        t += &line('A', 'A', "10.00", 5, 1, 1);
        t += &line('T', 'B', "10.00", 2, 0, 2); // no F/C follows: book unchanged
        t += &line('A', 'B', "9.00", 3, 2, 3);
        t += &line('R', 'N', "", 0, 0, 4);
        t += &line('A', 'B', "8.00", 1, 3, 5);
        let f = parse_mbo_csv(t.as_bytes(), "<t>").unwrap();
        let rp = replay_mbo(&f, None, EmitRule::Reference).unwrap();
        let got: Vec<(u8, u8, u32, u32, u32)> = rp
            .rows
            .iter()
            .map(|r| (r.action, r.side, r.size, r.ask_sz[0], r.bid_sz[0]))
            .collect();
        assert_eq!(
            got,
            vec![
                (b'A', b'A', 5, 5, 0),
                (b'T', b'A', 2, 5, 0),
                (b'A', b'B', 3, 5, 3),
                (b'R', b'N', 0, 0, 0),
                (b'A', b'B', 1, 0, 1),
            ]
        );
        assert_eq!(rp.resting_orders, 1);
    }

    #[test]
    fn modify_and_top_change_rule() {
        let mut t = HDR.to_string();
        for i in 0..12u32 {
            t += &line('A', 'B', &format!("{}.00", 50 - i), 1, u64::from(i) + 1, i);
        }
        t += &line('M', 'B', "51.00", 3, 12, 20); // deepest order jumps to the top
        let f = parse_mbo_csv(t.as_bytes(), "<t>").unwrap();
        let strict = replay_mbo(&f, None, EmitRule::TopChange).unwrap();
        assert_eq!(strict.rows.len(), 11); // the 11th and 12th adds change nothing shown
        let last = strict.rows.last().unwrap();
        assert_eq!((last.action, last.depth), (b'M', 0));
        assert_eq!(last.bid_px[0], 51_000_000_000);
        assert_eq!(last.bid_sz[0], 3);
        let reference = replay_mbo(&f, None, EmitRule::Reference).unwrap();
        assert_eq!(reference.rows.len(), 12); // depth 10 is written, depth 11 is not
    }

    #[test]
    fn bad_input_names_line_and_field() {
        let e = parse_mbo_csv(b"", "x.csv").unwrap_err();
        assert_eq!((e.path(), e.line()), ("x.csv", Some(1)));
        let mut t = HDR.to_string();
        t += &line('A', 'B', "1.00", 1, 1, 1);
        t += &line('A', 'B', "1.0x", 1, 2, 2);
        let e = parse_mbo_csv(t.as_bytes(), "x.csv").unwrap_err();
        assert_eq!((e.line(), e.field()), (Some(3), Some("price")));
        assert!(e.to_string().contains("1.0x"), "{e}");
        let mut t = HDR.to_string();
        t += "1,2,3\n";
        let e = parse_mbo_csv(t.as_bytes(), "x.csv").unwrap_err();
        assert!(
            matches!(
                e,
                MboError::ColumnCount {
                    line: 2,
                    found: 3,
                    ..
                }
            ),
            "{e}"
        );
        let mut t = HDR.to_string();
        t += &line('C', 'B', "1.00", 1, 9, 1);
        let f = parse_mbo_csv(t.as_bytes(), "x.csv").unwrap();
        let e = replay_mbo(&f, None, EmitRule::Reference).unwrap_err();
        assert_eq!((e.line(), e.field()), (Some(2), Some("order_id")));
        let mut t = HDR.to_string();
        t += &line('A', 'A', "1.00", 1, 1, 1);
        t += &line('A', 'B', "1.01", 1, 2, 2);
        let f = parse_mbo_csv(t.as_bytes(), "x.csv").unwrap();
        let e = replay_mbo(&f, None, EmitRule::Reference).unwrap_err();
        assert_eq!((e.line(), e.field()), (Some(3), Some("price")));
    }
}
