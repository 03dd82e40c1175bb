//! Databento Binary Encoding (DBN) for MBO files: Databento's native delivery format
//! (`.dbn`, or `.dbn.zst` in a zstd stream), decoded into the same [`MboFile`] as the CSV
//! export so that [`crate::mbo::replay_mbo`] replays both alike, and encoded from one (for
//! tests and conversions). Decoding and encoding are Databento's own `dbn` crate; this module
//! maps its `MboMsg` records to [`MboRecord`], names instruments through the file's symbology
//! mappings, and turns every fault into an [`MboError::Dbn`] with its byte offset.
//!
//! # Offsets
//! For a plain `.dbn` the offset is in the file. For `.dbn.zst` a record's offset is in the
//! decompressed DBN stream (zstd has no record boundaries); a fault of the zstd stream itself
//! (truncated or corrupt frame) is reported at the offset in the compressed file where the
//! decompressor stopped.
//!
//! # Example
//! ```
//! use hftbook_core::mbo::{parse_mbo_csv, replay_mbo, EmitRule, MboFormat};
//! use hftbook_core::mbo_dbn::{parse_mbo_dbn, write_mbo_dbn};
//! let csv = b"ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,\
//! channel_id,order_id,flags,ts_in_delta,sequence,symbol\n\
//! 2025-07-17T08:00:00Z,2025-07-17T08:00:00Z,160,2,7,A,B,9.99,100,0,1,130,0,1,XYZ\n\
//! 2025-07-17T08:00:01Z,2025-07-17T08:00:01Z,160,2,7,A,A,10.01,50,0,2,130,0,2,XYZ\n";
//! let f = parse_mbo_csv(csv, "<csv>").unwrap();
//! let mut plain = Vec::new();
//! write_mbo_dbn(&f, false, &mut plain).unwrap();
//! assert_eq!(&plain[..3], b"DBN");
//! let g = parse_mbo_dbn(&plain, "<dbn>").unwrap();
//! assert_eq!(g.format, MboFormat::Dbn);
//! assert_eq!(g.symbols, ["XYZ"]); // from the metadata's symbology mappings
//! let rows = replay_mbo(&g, None, EmitRule::Reference).unwrap().rows;
//! assert_eq!(rows.len(), 2);
//! // A truncated file is an error with the offset of the cut record, never a panic.
//! let e = parse_mbo_dbn(&plain[..plain.len() - 3], "<dbn>").unwrap_err();
//! assert_eq!(e.offset(), Some(plain.len() as u64 - 56));
//! ```

use std::borrow::Cow;
use std::ffi::c_char;
use std::io::{Read, Write};
use std::path::Path;

use dbn::decode::{DbnDecoder, DbnMetadata, DecodeRecordRef};
use dbn::encode::{DbnEncoder, EncodeRecord};
use dbn::{
    rtype, FlagSet, MappingInterval, MboMsg, Metadata, RType, RecordHeader, SType, Schema,
    SymbolMapping, TsSymbolMap, VersionUpgradePolicy,
};
use rustc_hash::FxHashMap;

use crate::mbo::{MboError, MboFile, MboFormat, MboRecord};

/// The first three bytes of an uncompressed DBN stream; the fourth is the DBN version.
pub const DBN_PREFIX: &[u8; 3] = b"DBN";
/// The magic number of a zstd frame (little-endian `0xFD2FB528`).
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Bytes before a DBN file's metadata: `DBN`, the version, and the metadata's length (`u32`).
const PREFIX_LEN: usize = 8;
/// The size of an `MboMsg` record.
const MBO_RECORD_LEN: usize = std::mem::size_of::<MboMsg>();

/// The encoding that a file's first bytes announce: [`MboFormat::Dbn`] for the `DBN` prefix,
/// [`MboFormat::DbnZstd`] for a zstd frame (or a zstd skippable frame), `None` otherwise (the
/// CSV reader takes it). File names play no part.
///
/// ```
/// use hftbook_core::{mbo::MboFormat, mbo_dbn::detect};
/// assert_eq!(detect(b"DBN\x03...."), Some(MboFormat::Dbn));
/// assert_eq!(detect(&[0x28, 0xB5, 0x2F, 0xFD, 0]), Some(MboFormat::DbnZstd));
/// assert_eq!(detect(b"ts_recv,ts_event"), None);
/// ```
#[must_use]
pub fn detect(data: &[u8]) -> Option<MboFormat> {
    if data.starts_with(DBN_PREFIX) {
        Some(MboFormat::Dbn)
    } else if data.starts_with(&ZSTD_MAGIC)
        || (data.len() >= 4 && data[0] & 0xF0 == 0x50 && data[1..4] == [0x2A, 0x4D, 0x18])
    {
        Some(MboFormat::DbnZstd)
    } else {
        None
    }
}

fn dbn_err(source: &str, offset: usize, field: Option<&'static str>, message: String) -> MboError {
    MboError::Dbn {
        path: source.to_string(),
        offset: offset as u64,
        field,
        message,
    }
}

/// Decompress a whole zstd stream (several frames allowed).
fn decompress(data: &[u8], source: &str) -> Result<Vec<u8>, MboError> {
    let mut dec = zstd::stream::read::Decoder::with_buffer(data)
        .map_err(|e| dbn_err(source, 0, None, format!("cannot start a zstd decoder: {e}")))?;
    let mut out = Vec::with_capacity(data.len().saturating_mul(4));
    match dec.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => {
            // `&[u8]` as a `BufRead` advances past what the decompressor consumed.
            let consumed = data.len() - dec.get_ref().len();
            Err(dbn_err(
                source,
                consumed,
                None,
                format!(
                    "zstd stream of the compressed file is truncated or corrupt ({e}; {} bytes \
                     decompressed before it)",
                    out.len()
                ),
            ))
        }
    }
}

fn check_letter(
    source: &str,
    offset: usize,
    record: usize,
    field: &'static str,
    value: c_char,
    allowed: &[u8],
) -> Result<u8, MboError> {
    let v = value as u8;
    if allowed.contains(&v) {
        return Ok(v);
    }
    let list: Vec<String> = allowed.iter().map(|&c| (c as char).to_string()).collect();
    Err(dbn_err(
        source,
        offset,
        Some(field),
        format!(
            "record {record}: {field} {:?} (byte {v:#04x}) is not one of {}",
            v as char,
            list.join(", ")
        ),
    ))
}

/// Check the framing of the records before the `dbn` decoder sees them: every record's
/// length byte (in 4-byte words) gives at least a header and a multiple of 8 bytes (DBN
/// records are 8-byte aligned structs), and the last record ends with the data. The decoder
/// reads a batch of records ahead, so one corrupt length would otherwise put the records
/// after it at unaligned addresses (`dbn` 0.73 asserts on that in debug builds) before the
/// corrupt record reaches us.
fn check_framing(
    records: &[u8],
    body: usize,
    source: &str,
    stream: &'static str,
) -> Result<(), MboError> {
    let header = std::mem::size_of::<RecordHeader>();
    let mut at = 0;
    let mut n = 0usize;
    while at < records.len() {
        n += 1;
        let len = usize::from(records[at]) * RecordHeader::LENGTH_MULTIPLIER;
        if len < header || !len.is_multiple_of(8) {
            return Err(dbn_err(
                source,
                body + at,
                Some("length"),
                format!(
                    "record {n}{stream}: corrupt length byte {} ({len} bytes): a DBN record is \
                     a multiple of 8 bytes and at least {header}",
                    records[at]
                ),
            ));
        }
        if at + len > records.len() {
            return Err(dbn_err(
                source,
                body + at,
                None,
                format!(
                    "truncated DBN record {n}{stream}: the stream ends {} bytes into a record \
                     of {len} bytes",
                    records.len() - at
                ),
            ));
        }
        at += len;
    }
    Ok(())
}

/// Decode an MBO file in DBN (plain, or zstd-compressed: told by its first bytes); `source`
/// names it in errors.
///
/// Records keep Databento's integer fields as they are (prices in 1e-9 dollars, times in ns).
/// Each record's symbol comes from the metadata's symbology mappings (the `raw_symbol`
/// mapped to its `instrument_id` at its `ts_recv`); a record without a mapping gets the empty
/// symbol. `line` of each record is its 1-based record number and [`MboFile::offsets`] holds
/// its byte offset. System, error and symbol-mapping records (found in live captures) are
/// skipped; a symbol-mapping record updates the names.
///
/// # Errors
/// [`MboError::Dbn`] with the byte offset: not DBN, a truncated or corrupt zstd stream,
/// truncated or corrupt metadata, a schema other than MBO (the message names it), a record
/// that is not MBO (its rtype is named), a record cut short by the end of the file, or an
/// `action`/`side` that is not a Databento letter.
pub fn parse_mbo_dbn(data: &[u8], source: &str) -> Result<MboFile, MboError> {
    let (format, plain): (MboFormat, Cow<'_, [u8]>) = match detect(data) {
        Some(MboFormat::DbnZstd) => (MboFormat::DbnZstd, Cow::Owned(decompress(data, source)?)),
        Some(_) => (MboFormat::Dbn, Cow::Borrowed(data)),
        None => {
            return Err(dbn_err(
                source,
                0,
                None,
                format!(
                    "not a DBN file: it starts with {:02x?}, not \"DBN\" or a zstd frame",
                    &data[..data.len().min(4)]
                ),
            ))
        }
    };
    let stream = if format == MboFormat::DbnZstd {
        " of the decompressed stream"
    } else {
        ""
    };
    let plain: &[u8] = &plain;
    if !plain.starts_with(DBN_PREFIX) {
        return Err(dbn_err(
            source,
            0,
            None,
            format!(
                "the zstd stream does not hold DBN: its data starts with {:02x?}, not \"DBN\"",
                &plain[..plain.len().min(4)]
            ),
        ));
    }
    if plain.len() < PREFIX_LEN {
        return Err(dbn_err(
            source,
            plain.len(),
            None,
            format!(
                "truncated DBN prefix{stream}: {} bytes, the prefix has {PREFIX_LEN}",
                plain.len()
            ),
        ));
    }
    let meta_len = u32::from_le_bytes([plain[4], plain[5], plain[6], plain[7]]) as usize;
    let body = PREFIX_LEN.saturating_add(meta_len);
    if plain.len() < body {
        return Err(dbn_err(
            source,
            plain.len(),
            None,
            format!(
                "truncated DBN metadata{stream}: the prefix announces {meta_len} bytes of \
                 metadata but the stream ends after {}",
                plain.len() - PREFIX_LEN
            ),
        ));
    }
    let mut dec =
        DbnDecoder::with_upgrade_policy(plain, VersionUpgradePolicy::AsIs).map_err(|e| {
            dbn_err(
                source,
                PREFIX_LEN,
                None,
                format!("corrupt DBN metadata{stream}: {e}"),
            )
        })?;
    let meta = dec.metadata().clone();
    match meta.schema {
        Some(Schema::Mbo) | None => {}
        Some(other) => {
            return Err(dbn_err(
                source,
                PREFIX_LEN,
                Some("schema"),
                format!(
                    "the file's schema is {other} (Databento's {other} records), not mbo: \
                     only market-by-order (MBO) files can be replayed into a book"
                ),
            ))
        }
    }
    // Only the metadata is decoded so far: the records are checked before the first is.
    check_framing(&plain[body..], body, source, stream)?;
    // With `ts_out`, each record carries the gateway's send time (8 bytes) after it.
    let mbo_len = MBO_RECORD_LEN + if meta.ts_out { 8 } else { 0 };
    let mut names = TsSymbolMap::from_metadata(&meta).unwrap_or_default();
    let mut file = MboFile {
        source: source.to_string(),
        records: Vec::with_capacity((plain.len() - body) / MBO_RECORD_LEN),
        symbols: Vec::new(),
        format,
        offsets: Vec::with_capacity((plain.len() - body) / MBO_RECORD_LEN),
    };
    let mut interned: FxHashMap<String, u32> = FxHashMap::default();
    let mut intern = |file: &mut MboFile, s: &str| -> u32 {
        if let Some(&i) = interned.get(s) {
            return i;
        }
        file.symbols.push(s.to_string());
        let i = (file.symbols.len() - 1) as u32;
        interned.insert(s.to_string(), i);
        i
    };
    // The symbol of the last record's instrument, while its mapping stays the same.
    let mut last: Option<(u32, *const String, u32)> = None;
    let mut pos = body;
    let mut n = 0usize;
    loop {
        let rec = match dec.decode_record_ref() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                return Err(dbn_err(
                    source,
                    pos,
                    None,
                    format!("record {}{stream}: corrupt DBN record: {e}", n + 1),
                ))
            }
        };
        n += 1;
        let hd = rec.header();
        let size = hd.record_size();
        match hd.rtype {
            rtype::MBO => {}
            rtype::SYSTEM | rtype::ERROR => {
                pos += size;
                continue;
            }
            rtype::SYMBOL_MAPPING => {
                // A live capture's mapping record: later records of its instrument use it.
                let _ = names.on_record(rec);
                last = None;
                pos += size;
                continue;
            }
            other => {
                let name = RType::try_from(other)
                    .map_or_else(|_| "unknown".to_string(), |t| format!("{t:?}"));
                return Err(dbn_err(
                    source,
                    pos,
                    Some("rtype"),
                    format!(
                        "record {n}{stream}: rtype {other:#04x} ({name}) is not an MBO record \
                         (rtype {:#04x})",
                        rtype::MBO
                    ),
                ));
            }
        }
        // Checked before `get`, which panics on a record shorter than the type.
        if size != mbo_len {
            return Err(dbn_err(
                source,
                pos,
                Some("length"),
                format!(
                    "record {n}{stream}: its length byte says {size} bytes, an MBO record has \
                     {mbo_len}"
                ),
            ));
        }
        let m = rec.try_get::<MboMsg>().map_err(|e| {
            dbn_err(
                source,
                pos,
                None,
                format!("record {n}{stream}: corrupt MBO record: {e}"),
            )
        })?;
        let action = check_letter(source, pos, n, "action", m.action, b"RACMTFN")?;
        let side = check_letter(source, pos, n, "side", m.side, b"BAN")?;
        let iid = m.hd.instrument_id;
        let symbol = match names.get_for_ts(m.ts_recv, iid) {
            Some(s) => match last {
                Some((id, p, k)) if id == iid && std::ptr::eq(p, s) => k,
                _ => {
                    let k = intern(&mut file, s);
                    last = Some((iid, s, k));
                    k
                }
            },
            None => {
                last = None;
                intern(&mut file, "")
            }
        };
        file.records.push(MboRecord {
            ts_recv: m.ts_recv as i64,
            ts_event: m.hd.ts_event as i64,
            rtype: m.hd.rtype,
            publisher_id: m.hd.publisher_id,
            instrument_id: iid,
            action,
            side,
            price: m.price,
            size: m.size,
            channel_id: m.channel_id,
            order_id: m.order_id,
            flags: m.flags.raw(),
            ts_in_delta: m.ts_in_delta,
            sequence: m.sequence,
            symbol,
            line: n.min(u32::MAX as usize) as u32,
        });
        file.offsets.push(pos as u64);
        pos += size;
    }
    if pos != plain.len() {
        let left = plain.len().saturating_sub(pos);
        let announced = plain
            .get(pos)
            .map_or(0, |&l| usize::from(l) * RecordHeader::LENGTH_MULTIPLIER);
        return Err(dbn_err(
            source,
            pos,
            None,
            format!(
                "truncated DBN record {}{stream}: the stream ends {left} bytes into a record of \
                 {announced} bytes",
                n + 1
            ),
        ));
    }
    Ok(file)
}

/// Read and decode a DBN MBO file (plain or zstd).
///
/// # Errors
/// [`MboError::Io`] if it cannot be read, else as [`parse_mbo_dbn`].
pub fn read_mbo_dbn(path: &Path) -> Result<MboFile, MboError> {
    let data = std::fs::read(path).map_err(|e| MboError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_mbo_dbn(&data, &path.display().to_string())
}

fn date_of(ns: i64) -> Option<time::Date> {
    let days = ns.div_euclid(86_400_000_000_000);
    // 1970-01-01 is Julian day 2_440_588.
    time::Date::from_julian_day(i32::try_from(days + 2_440_588).ok()?).ok()
}

/// The metadata of a file holding `file`'s records: schema MBO, dataset from the first
/// record's publisher, start/end from `ts_recv`, and one symbology mapping (`raw_symbol` to
/// `instrument_id`, over the dates of its records) per distinct non-empty symbol.
fn metadata_of(file: &MboFile) -> Result<Metadata, MboError> {
    let bad = |message: String| dbn_err(&file.source, 0, None, message);
    let dataset = file
        .records
        .first()
        .and_then(|r| dbn::Publisher::try_from(r.publisher_id).ok())
        .map_or("", |p| p.dataset().as_str());
    let mut start = u64::MAX;
    let mut end = 0u64;
    // (symbol index, instrument_id) -> (first ts_recv, last ts_recv)
    let mut spans: Vec<((u32, u32), (i64, i64))> = Vec::new();
    let mut at: FxHashMap<(u32, u32), usize> = FxHashMap::default();
    for r in &file.records {
        let ts = u64::try_from(r.ts_recv)
            .map_err(|_| bad(format!("ts_recv {} is before 1970", r.ts_recv)))?;
        start = start.min(ts);
        end = end.max(ts);
        let key = (r.symbol, r.instrument_id);
        match at.get(&key) {
            Some(&i) => {
                let span = &mut spans[i].1;
                span.0 = span.0.min(r.ts_recv);
                span.1 = span.1.max(r.ts_recv);
            }
            None => {
                at.insert(key, spans.len());
                spans.push((key, (r.ts_recv, r.ts_recv)));
            }
        }
    }
    if file.records.is_empty() {
        start = 0;
    }
    let mut mappings: Vec<SymbolMapping> = Vec::new();
    for ((sym, iid), (t0, t1)) in spans {
        let raw = file.symbols.get(sym as usize).map_or("", String::as_str);
        if raw.is_empty() {
            continue;
        }
        let (Some(d0), Some(d1)) = (date_of(t0), date_of(t1).and_then(time::Date::next_day)) else {
            return Err(bad(format!(
                "ts_recv {t0}..{t1} is out of the range of dates"
            )));
        };
        let interval = MappingInterval {
            start_date: d0,
            end_date: d1,
            symbol: iid.to_string(),
        };
        match mappings.iter_mut().find(|m| m.raw_symbol == raw) {
            Some(m) => m.intervals.push(interval),
            None => mappings.push(SymbolMapping {
                raw_symbol: raw.to_string(),
                intervals: vec![interval],
            }),
        }
    }
    Ok(Metadata::builder()
        .dataset(dataset)
        .schema(Some(Schema::Mbo))
        .start(start)
        .end(std::num::NonZeroU64::new(end.saturating_add(1)))
        .stype_in(Some(SType::RawSymbol))
        .stype_out(SType::InstrumentId)
        .symbols(mappings.iter().map(|m| m.raw_symbol.clone()).collect())
        .mappings(mappings)
        .build())
}

/// Encode `file`'s records as a DBN MBO stream (the crate's current DBN version) with
/// Databento's encoder, zstd-compressed if `zstd`. The metadata carries the symbology
/// mappings, so that decoding names the records as `file` does.
///
/// # Errors
/// [`MboError::Dbn`] (offset 0) for a record the encoding cannot hold (a negative time) or
/// an error of the encoder or of `w`.
pub fn write_mbo_dbn<W: Write>(file: &MboFile, zstd: bool, w: W) -> Result<(), MboError> {
    let meta = metadata_of(file)?;
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        dbn_err(
            &file.source,
            0,
            None,
            format!("cannot write DBN ({what}): {e}"),
        )
    };
    let encode = |w: &mut dyn Write| -> Result<(), MboError> {
        let mut enc = DbnEncoder::new(w, &meta).map_err(|e| fail("metadata", &e))?;
        for r in &file.records {
            let ts = |v: i64, name: &str| {
                u64::try_from(v).map_err(|_| fail("record", &format!("{name} {v} is before 1970")))
            };
            let hd = RecordHeader::new::<MboMsg>(
                rtype::MBO,
                r.publisher_id,
                r.instrument_id,
                ts(r.ts_event, "ts_event")?,
            );
            let msg = MboMsg {
                hd,
                order_id: r.order_id,
                price: r.price,
                size: r.size,
                flags: FlagSet::new(r.flags),
                channel_id: r.channel_id,
                action: r.action as c_char,
                side: r.side as c_char,
                ts_recv: ts(r.ts_recv, "ts_recv")?,
                ts_in_delta: r.ts_in_delta,
                sequence: r.sequence,
            };
            enc.encode_record(&msg).map_err(|e| fail("record", &e))?;
        }
        Ok(())
    };
    if zstd {
        let mut z = zstd::stream::write::Encoder::new(w, 0).map_err(|e| fail("zstd", &e))?;
        encode(&mut z)?;
        z.finish()
            .and_then(|mut w| w.flush())
            .map_err(|e| fail("zstd", &e))
    } else {
        let mut w = w;
        encode(&mut w)?;
        w.flush().map_err(|e| fail("write", &e))
    }
}

/// Write `file`'s records to `path` as DBN ([`write_mbo_dbn`]).
///
/// # Errors
/// [`MboError::Io`] if the file cannot be created, else as [`write_mbo_dbn`].
pub fn write_mbo_dbn_file(file: &MboFile, path: &Path, zstd: bool) -> Result<(), MboError> {
    let f = std::fs::File::create(path).map_err(|e| MboError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    write_mbo_dbn(file, zstd, std::io::BufWriter::new(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mbo::{parse_mbo_csv, replay_mbo, EmitRule};

    const HDR: &str = "ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,channel_id,order_id,flags,ts_in_delta,sequence,symbol\n";

    #[allow(clippy::too_many_arguments)] // one CSV line's fields, in column order
    fn line(iid: u32, sym: &str, a: char, s: char, px: &str, q: u32, id: u64, seq: u32) -> String {
        format!("2025-07-17T08:00:00.000000001Z,2025-07-17T08:00:00.000000000Z,160,2,{iid},{a},{s},{px},{q},0,{id},130,10,{seq},{sym}\n")
    }

    fn sample() -> MboFile {
        let mut t = HDR.to_string();
        t += &line(7, "XYZ", 'A', 'B', "9.99", 100, 1, 1);
        t += &line(7, "XYZ", 'A', 'A', "10.01", 50, 2, 2);
        t += &line(7, "XYZ", 'C', 'A', "10.01", 20, 2, 3);
        parse_mbo_csv(t.as_bytes(), "<t>").unwrap()
    }

    fn encode(f: &MboFile, zstd: bool) -> Vec<u8> {
        let mut v = Vec::new();
        write_mbo_dbn(f, zstd, &mut v).unwrap();
        v
    }

    fn same_records(a: &MboFile, b: &MboFile) {
        assert_eq!(a.records.len(), b.records.len());
        for (x, y) in a.records.iter().zip(&b.records) {
            let mut x = *x;
            x.line = y.line;
            x.symbol = y.symbol;
            assert_eq!(x, *y);
            assert_eq!(a.symbols[x.symbol as usize], b.symbols[y.symbol as usize]);
        }
    }

    #[test]
    fn round_trip_plain_and_zstd() {
        let f = sample();
        for z in [false, true] {
            let bytes = encode(&f, z);
            let g = parse_mbo_dbn(&bytes, "<dbn>").unwrap();
            assert_eq!(
                g.format,
                if z {
                    MboFormat::DbnZstd
                } else {
                    MboFormat::Dbn
                }
            );
            same_records(&g, &f);
            assert_eq!(g.records[2].line, 3);
            assert_eq!(g.offsets[1] - g.offsets[0], MBO_RECORD_LEN as u64);
        }
    }

    #[test]
    fn two_instruments_get_two_books() {
        let mut t = HDR.to_string();
        t += &line(7, "XYZ", 'A', 'B', "9.99", 100, 1, 1);
        t += &line(8, "ABC", 'A', 'A', "9.00", 5, 2, 2); // would cross XYZ's bid in one book
        t += &line(7, "XYZ", 'A', 'A', "10.01", 50, 3, 3);
        t += &line(8, "ABC", 'T', 'B', "9.00", 2, 0, 4);
        t += &line(7, "XYZ", 'C', 'B', "9.99", 100, 1, 5); // does not take ABC's trade
        t += &line(8, "ABC", 'C', 'A', "9.00", 2, 2, 6);
        let f = parse_mbo_csv(t.as_bytes(), "<t>").unwrap();
        let g = parse_mbo_dbn(&encode(&f, true), "<dbn>").unwrap();
        let rp = replay_mbo(&g, None, EmitRule::Reference).unwrap();
        let ids: Vec<(u32, &str, usize, usize)> = rp
            .instruments
            .iter()
            .map(|x| {
                (
                    x.instrument_id,
                    g.symbols[x.symbol as usize].as_str(),
                    x.records,
                    x.resting_orders,
                )
            })
            .collect();
        assert_eq!(ids, vec![(7, "XYZ", 3, 1), (8, "ABC", 3, 1)]);
        let abc: Vec<(u8, u8, u32)> = rp
            .rows
            .iter()
            .filter(|r| r.instrument_id == 8)
            .map(|r| (r.action, r.side, r.ask_sz[0]))
            .collect();
        assert_eq!(abc, vec![(b'A', b'A', 5), (b'T', b'A', 3)]);
        assert_eq!(rp.rows.len(), 5);
    }

    #[test]
    fn truncated_and_corrupt_files_name_the_offset() {
        let f = sample();
        let plain = encode(&f, false);
        let body = plain.len() - 3 * MBO_RECORD_LEN;
        // Cut inside the last record.
        let e = parse_mbo_dbn(&plain[..plain.len() - 1], "x.dbn").unwrap_err();
        assert_eq!(e.offset(), Some((body + 2 * MBO_RECORD_LEN) as u64), "{e}");
        assert!(e.to_string().contains("truncated"), "{e}");
        // Cut inside the metadata.
        let e = parse_mbo_dbn(&plain[..20], "x.dbn").unwrap_err();
        assert_eq!(e.offset(), Some(20), "{e}");
        // Cut inside the prefix.
        let e = parse_mbo_dbn(&plain[..5], "x.dbn").unwrap_err();
        assert_eq!(e.offset(), Some(5), "{e}");
        // A corrupt rtype in the second record.
        let mut bad = plain.clone();
        bad[body + MBO_RECORD_LEN + 1] = 0x01;
        let e = parse_mbo_dbn(&bad, "x.dbn").unwrap_err();
        assert_eq!(e.offset(), Some((body + MBO_RECORD_LEN) as u64), "{e}");
        assert!(e.to_string().contains("rtype 0x01"), "{e}");
        // A corrupt length byte: the error is at the record whose length is wrong.
        for len in [0u8, 1, 13, 15, 255] {
            let mut bad = plain.clone();
            bad[body + MBO_RECORD_LEN] = len;
            let e = parse_mbo_dbn(&bad, "x.dbn").unwrap_err();
            assert_eq!(e.offset(), Some((body + MBO_RECORD_LEN) as u64), "{e}");
        }
        // A bad action letter.
        let mut bad = plain.clone();
        bad[body + 2 * MBO_RECORD_LEN + 38] = b'Q';
        let e = parse_mbo_dbn(&bad, "x.dbn").unwrap_err();
        assert_eq!(e.field(), Some("action"), "{e}");
        // Zstd truncated: the offset is in the compressed file.
        let z = encode(&f, true);
        let e = parse_mbo_dbn(&z[..z.len() - 4], "x.dbn.zst").unwrap_err();
        assert!(e.offset().is_some_and(|o| o <= z.len() as u64), "{e}");
        assert!(e.to_string().contains("zstd"), "{e}");
        // Garbage.
        let e = parse_mbo_dbn(b"hello", "x").unwrap_err();
        assert_eq!(e.offset(), Some(0));
        // Every prefix of the file fails cleanly or decodes fewer records; none panics.
        for cut in 0..plain.len() {
            let _ = parse_mbo_dbn(&plain[..cut], "x.dbn");
        }
        for cut in 0..z.len() {
            let _ = parse_mbo_dbn(&z[..cut], "x.dbn.zst");
        }
    }

    #[test]
    fn no_byte_flip_panics() {
        let mut t = HDR.to_string();
        for i in 0..20u32 {
            let px = format!("{}.00", 10 + i);
            t += &line(7 + i % 2, "XYZ", 'A', 'A', &px, 5, u64::from(i) + 1, i);
        }
        t += &line(7, "XYZ", 'C', 'A', "10.00", 5, 1, 99);
        let f = parse_mbo_csv(t.as_bytes(), "<t>").unwrap();
        for bytes in [encode(&f, false), encode(&f, true)] {
            for i in 0..bytes.len() {
                for v in [
                    0u8,
                    1,
                    0x7f,
                    0x80,
                    0xff,
                    bytes[i] ^ 0xff,
                    bytes[i].wrapping_add(1),
                ] {
                    let mut bad = bytes.clone();
                    bad[i] = v;
                    if let Ok(g) = parse_mbo_dbn(&bad, "x") {
                        let _ = replay_mbo(&g, None, EmitRule::Reference);
                    }
                }
            }
        }
    }

    /// Records of `sample()` as `MboMsg`s, for files built with the crate's encoder directly.
    fn msgs(f: &MboFile) -> Vec<MboMsg> {
        f.records
            .iter()
            .map(|r| MboMsg {
                hd: RecordHeader::new::<MboMsg>(
                    rtype::MBO,
                    r.publisher_id,
                    r.instrument_id,
                    r.ts_event as u64,
                ),
                order_id: r.order_id,
                price: r.price,
                size: r.size,
                flags: FlagSet::new(r.flags),
                channel_id: r.channel_id,
                action: r.action as c_char,
                side: r.side as c_char,
                ts_recv: r.ts_recv as u64,
                ts_in_delta: r.ts_in_delta,
                sequence: r.sequence,
            })
            .collect()
    }

    fn bare_metadata(version: u8, ts_out: bool) -> Metadata {
        Metadata::builder()
            .version(version)
            .dataset("XNAS.ITCH")
            .schema(Some(Schema::Mbo))
            .start(0)
            .stype_in(Some(SType::RawSymbol))
            .stype_out(SType::InstrumentId)
            .ts_out(ts_out)
            .build()
    }

    #[test]
    fn older_dbn_versions_and_ts_out_decode() {
        let f = sample();
        // Written without symbology mappings: decoded records have no names.
        let unnamed = MboFile {
            symbols: vec![String::new()],
            ..f.clone()
        };
        for version in [1u8, 2, 3] {
            let mut v = Vec::new();
            let mut enc = DbnEncoder::new(&mut v, &bare_metadata(version, false)).unwrap();
            for m in msgs(&f) {
                enc.encode_record(&m).unwrap();
            }
            assert_eq!(v[3], version);
            let g = parse_mbo_dbn(&v, "v").unwrap();
            same_records(&g, &unnamed);
            assert_eq!(g.symbols, [""]); // no mappings: no names
        }
        // ts_out: each record carries 8 more bytes.
        let mut v = Vec::new();
        let mut enc = DbnEncoder::new(&mut v, &bare_metadata(3, true)).unwrap();
        for m in msgs(&f) {
            enc.encode_record(&dbn::WithTsOut::new(m, 1)).unwrap();
        }
        let g = parse_mbo_dbn(&v, "t").unwrap();
        same_records(&g, &unnamed);
        assert_eq!(g.offsets[1] - g.offsets[0], 64);
    }

    #[test]
    fn wrong_schema_is_named() {
        let meta = Metadata::builder()
            .dataset("XNAS.ITCH")
            .schema(Some(Schema::Mbp10))
            .start(0)
            .stype_in(Some(SType::RawSymbol))
            .stype_out(SType::InstrumentId)
            .build();
        let mut v = Vec::new();
        DbnEncoder::new(&mut v, &meta).unwrap(); // metadata only, no record
        let e = parse_mbo_dbn(&v, "x.dbn").unwrap_err();
        assert!(e.to_string().contains("mbp-10"), "{e}");
        assert_eq!(e.field(), Some("schema"));
        // The schema is named before anything about the records (here a cut one).
        v.extend_from_slice(&[20, 0x0a, 0]);
        let e = parse_mbo_dbn(&v, "x.dbn").unwrap_err();
        assert_eq!(e.field(), Some("schema"), "{e}");
    }

    #[test]
    fn replay_errors_name_record_and_offset() {
        let mut t = HDR.to_string();
        t += &line(7, "XYZ", 'A', 'B', "9.99", 100, 1, 1);
        t += &line(7, "XYZ", 'C', 'B', "9.99", 100, 99, 2);
        let f = parse_mbo_csv(t.as_bytes(), "<t>").unwrap();
        let g = parse_mbo_dbn(&encode(&f, false), "x.dbn").unwrap();
        let e = replay_mbo(&g, None, EmitRule::Reference).unwrap_err();
        assert_eq!(e.offset(), Some(g.offsets[1]));
        assert!(e.to_string().contains("record 2"), "{e}");
    }
}
