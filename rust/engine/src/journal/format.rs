//! The journal's on-disk format: segment header, record framing and the compact record body.
//!
//! A segment is a 64-byte [`Header`] followed by records. A record is
//!
//! ```text
//! varint  len      body length in bytes (1..=MAX_BODY)
//! u32 LE  crc      CRC32C of the len bytes followed by the body
//! body:
//!   u8      kind     a command kind (record::cmd) or SYMBOL / CONFIG
//!   u8      jflags   DISCARDED 1 | EMITTED 2 | DERIVED 4 | RISK 8 (+ reason << 4)
//!   varint  shard
//!   varint  mask     which of the fields below follow (bit i = field i)
//!   fields, in bit order (varint = LEB128, zigzag = signed LEB128 of (v<<1)^(v>>63)):
//!    0 seq          zigzag delta from the previous record of the shard in this segment
//!    1 now          zigzag delta, likewise (shard's engine time when it executed the command)
//!    2 order_id     zigzag delta from the shard's previous non-zero order id (absent = 0)
//!    3 client_id    varint
//!    4 price        zigzag delta from the shard's previous non-zero price (absent = 0)
//!    5 stop_price   zigzag
//!    6 qty          varint
//!    7 display_qty  varint
//!    8 expire_at    varint
//!    9 ts_enqueued  zigzag of (now - ts_enqueued) (absent = equal to now)
//!   10 account      varint
//!   11 symbol       varint
//!   12 order_seq    varint
//!   13 attrs        varint: side | order_type<<2 | tif<<4 | stp<<7 | flags<<10
//!   14 payload      varint length, then bytes (SYMBOL / CONFIG records; a submit refused
//!                   for a portfolio exposure limit: the exposure it would have reached,
//!                   i64 little-endian nano-units, which depended on the other shards)
//! ```
//!
//! The delta contexts (previous seq, now, order id, price) are per shard and reset at the
//! start of every segment, so each segment decodes on its own. All integers little-endian.

use crate::record::Command;

/// First eight bytes of every segment.
pub const MAGIC: [u8; 8] = *b"HFBJRNL\0";
/// Format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Header size in bytes.
pub const HEADER_LEN: usize = 64;
/// Largest record body accepted (a CONFIG payload with many symbols fits easily).
pub const MAX_BODY: usize = 1 << 20;

/// Record kind (journal-only): the shard's running configuration changed; the payload is
/// the configuration as TOML (engine and breaker sections, this shard's symbols).
pub const KIND_CONFIG: u8 = 32;

/// `jflags`: the command was refused with reason `shutdown` (stop without drain).
pub const J_DISCARDED: u8 = 1;
/// `jflags` of a breaker record: the shard emitted the engine event of the transition.
pub const J_EMITTED: u8 = 2;
/// `jflags`: the record was made while executing the record before it (a breaker trip by
/// the reject rate); replay re-creates it and checks it against this one.
pub const J_DERIVED: u8 = 4;
/// `jflags` of a submit: pre-trade risk refused it; bits 4..8 hold the reason minus
/// [`crate::record::reason::RISK_ORDER_QTY`]. Replay applies the recorded decision (it may
/// have depended on other shards or on time) instead of checking again. A refusal for
/// `max_gross_exposure` / `max_net_exposure` carries the exposure it would have reached as
/// the record's payload (8 bytes, i64 little-endian nano-units), so the replayed `rejected`
/// event has the same `detail`.
pub const J_RISK: u8 = 8;

/// A segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u16,
    /// Shards of the engine that wrote it.
    pub shards: u16,
    /// Hash of the engine configuration the journal was created with.
    pub config_hash: u64,
    /// Journal record number of the segment's first record (0-based, gap-free over the
    /// journal).
    pub first_record: u64,
    /// Segment number (0, 1, 2 ...).
    pub segment: u64,
    /// Wall clock at creation, ns since the Unix epoch (informational).
    pub created_unix_ns: u64,
}

impl Header {
    /// The 64 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.version.to_le_bytes());
        b[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        b[12..14].copy_from_slice(&self.shards.to_le_bytes());
        b[16..24].copy_from_slice(&self.config_hash.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_record.to_le_bytes());
        b[32..40].copy_from_slice(&self.segment.to_le_bytes());
        b[40..48].copy_from_slice(&self.created_unix_ns.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parse header bytes; `Err` says what is wrong.
    pub fn decode(b: &[u8]) -> Result<Header, String> {
        if b.len() < HEADER_LEN {
            return Err(format!(
                "the header is {} bytes, expected {HEADER_LEN}",
                b.len()
            ));
        }
        if b[0..8] != MAGIC {
            return Err(format!(
                "not a journal segment: format id {:?}, expected {:?}",
                String::from_utf8_lossy(&b[0..8]),
                String::from_utf8_lossy(&MAGIC)
            ));
        }
        let crc = u32::from_le_bytes(le(&b[60..64]));
        if crc32c::crc32c(&b[..60]) != crc {
            return Err("header checksum mismatch (the header is corrupt)".into());
        }
        let version = u16::from_le_bytes(le(&b[8..10]));
        if version != VERSION {
            return Err(format!(
                "format version {version}, this build reads version {VERSION}"
            ));
        }
        Ok(Header {
            version,
            shards: u16::from_le_bytes(le(&b[12..14])),
            config_hash: u64::from_le_bytes(le(&b[16..24])),
            first_record: u64::from_le_bytes(le(&b[24..32])),
            segment: u64::from_le_bytes(le(&b[32..40])),
            created_unix_ns: u64::from_le_bytes(le(&b[40..48])),
        })
    }
}

fn le<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// One journal record in memory: the command as the shard executed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The command (with its sequence number stamped).
    pub cmd: Command,
    /// The shard's engine time when it executed the command (ns).
    pub now: u64,
    /// The shard.
    pub shard: u16,
    /// Journal flags (`J_*`).
    pub jflags: u8,
    /// Payload of a CONFIG record.
    pub payload: Option<Box<[u8]>>,
}

/// Per-shard delta state of a segment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ctx {
    seq: u64,
    now: u64,
    order_id: u64,
    price: i64,
}

/// Delta state of every shard of a segment.
#[derive(Debug, Clone, Default)]
pub struct Contexts(Vec<Ctx>);

impl Contexts {
    /// Forget every shard's state (a new segment).
    pub fn reset(&mut self) {
        self.0.clear();
    }
    fn get(&mut self, shard: u16) -> &mut Ctx {
        let i = shard as usize;
        if self.0.len() <= i {
            self.0.resize(i + 1, Ctx::default());
        }
        &mut self.0[i]
    }
}

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn zig(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzig(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Append one framed record (len, crc, body) to `out`.
pub fn encode(r: &Record, ctx: &mut Contexts, out: &mut Vec<u8>, body: &mut Vec<u8>) {
    let c = &r.cmd;
    let x = ctx.get(r.shard);
    body.clear();
    body.push(c.kind);
    body.push(r.jflags);
    put_varint(body, u64::from(r.shard));
    let mut mask: u32 = 0;
    let dseq = c.seq.wrapping_sub(x.seq) as i64;
    let dnow = r.now.wrapping_sub(x.now) as i64;
    if dseq != 0 {
        mask |= 1;
    }
    if dnow != 0 {
        mask |= 1 << 1;
    }
    if c.order_id != 0 {
        mask |= 1 << 2;
    }
    if c.client_id != 0 {
        mask |= 1 << 3;
    }
    if c.price != 0 {
        mask |= 1 << 4;
    }
    if c.stop_price != 0 {
        mask |= 1 << 5;
    }
    if c.qty != 0 {
        mask |= 1 << 6;
    }
    if c.display_qty != 0 {
        mask |= 1 << 7;
    }
    if c.expire_at != 0 {
        mask |= 1 << 8;
    }
    if c.ts_enqueued != r.now {
        mask |= 1 << 9;
    }
    if c.account != 0 {
        mask |= 1 << 10;
    }
    if c.symbol != 0 {
        mask |= 1 << 11;
    }
    if c.order_seq != 0 {
        mask |= 1 << 12;
    }
    let attrs = attrs_of(c);
    if attrs != 0 {
        mask |= 1 << 13;
    }
    if r.payload.is_some() {
        mask |= 1 << 14;
    }
    put_varint(body, u64::from(mask));
    if mask & 1 != 0 {
        put_varint(body, zig(dseq));
    }
    if mask & (1 << 1) != 0 {
        put_varint(body, zig(dnow));
    }
    if mask & (1 << 2) != 0 {
        put_varint(body, zig(c.order_id.wrapping_sub(x.order_id) as i64));
        x.order_id = c.order_id;
    }
    if mask & (1 << 3) != 0 {
        put_varint(body, c.client_id);
    }
    if mask & (1 << 4) != 0 {
        put_varint(body, zig(c.price.wrapping_sub(x.price)));
        x.price = c.price;
    }
    if mask & (1 << 5) != 0 {
        put_varint(body, zig(c.stop_price));
    }
    if mask & (1 << 6) != 0 {
        put_varint(body, c.qty);
    }
    if mask & (1 << 7) != 0 {
        put_varint(body, c.display_qty);
    }
    if mask & (1 << 8) != 0 {
        put_varint(body, c.expire_at);
    }
    if mask & (1 << 9) != 0 {
        put_varint(body, zig(r.now.wrapping_sub(c.ts_enqueued) as i64));
    }
    if mask & (1 << 10) != 0 {
        put_varint(body, u64::from(c.account));
    }
    if mask & (1 << 11) != 0 {
        put_varint(body, u64::from(c.symbol));
    }
    if mask & (1 << 12) != 0 {
        put_varint(body, u64::from(c.order_seq));
    }
    if mask & (1 << 13) != 0 {
        put_varint(body, attrs);
    }
    if let Some(p) = &r.payload {
        put_varint(body, p.len() as u64);
        body.extend_from_slice(p);
    }
    x.seq = c.seq;
    x.now = r.now;
    let start = out.len();
    put_varint(out, body.len() as u64);
    let len_end = out.len();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[start..len_end]), body);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(body);
}

fn attrs_of(c: &Command) -> u64 {
    u64::from(c.side)
        | u64::from(c.order_type) << 2
        | u64::from(c.tif) << 4
        | u64::from(c.stp) << 7
        | u64::from(c.flags) << 10
}

/// Why a record could not be read at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// The bytes end inside the record (a torn write).
    Truncated,
    /// The length or the checksum is wrong.
    Checksum,
    /// The checksum holds but the body does not parse.
    Malformed(String),
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::Truncated => f.write_str("the record is cut short (torn write)"),
            Bad::Checksum => f.write_str("checksum mismatch"),
            Bad::Malformed(w) => write!(f, "malformed record: {w}"),
        }
    }
}

fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        if shift >= 64 {
            return None;
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

/// Check the frame at `b[0..]`: `Ok((header_len, body_len))` when the length and the
/// checksum hold.
pub fn frame(b: &[u8]) -> Result<(usize, usize), Bad> {
    let mut pos = 0;
    let Some(len) = get_varint(b, &mut pos) else {
        return Err(if b.len() < 10 {
            Bad::Truncated
        } else {
            Bad::Checksum
        });
    };
    if len == 0 || len as usize > MAX_BODY {
        return Err(Bad::Checksum);
    }
    let len = len as usize;
    if b.len() < pos + 4 + len {
        return Err(Bad::Truncated);
    }
    let crc = u32::from_le_bytes(le(&b[pos..pos + 4]));
    let got = crc32c::crc32c_append(crc32c::crc32c(&b[..pos]), &b[pos + 4..pos + 4 + len]);
    if got != crc {
        return Err(Bad::Checksum);
    }
    Ok((pos + 4, len))
}

/// Decode the record framed at `b[0..]`; returns it and the bytes it took.
pub fn decode(b: &[u8], ctx: &mut Contexts) -> Result<(Record, usize), Bad> {
    let (head, len) = frame(b)?;
    let body = &b[head..head + len];
    let r = decode_body(body, ctx).ok_or_else(|| Bad::Malformed("fields past the body".into()))?;
    Ok((r, head + len))
}

/// [`decode`] for bytes whose checksums were already verified (a scan): the length is
/// checked, the CRC is not computed again.
pub fn decode_verified(b: &[u8], ctx: &mut Contexts) -> Result<(Record, usize), Bad> {
    let mut pos = 0;
    let len = get_varint(b, &mut pos).ok_or(Bad::Truncated)? as usize;
    let head = pos + 4;
    let body = b.get(head..head + len).ok_or(Bad::Truncated)?;
    let r = decode_body(body, ctx).ok_or_else(|| Bad::Malformed("fields past the body".into()))?;
    Ok((r, head + len))
}

fn decode_body(b: &[u8], ctx: &mut Contexts) -> Option<Record> {
    let mut pos = 0usize;
    let kind = *b.first()?;
    let jflags = *b.get(1)?;
    pos += 2;
    let shard = u16::try_from(get_varint(b, &mut pos)?).ok()?;
    let mask = get_varint(b, &mut pos)?;
    let x = ctx.get(shard);
    let mut c = Command {
        kind,
        ..Command::default()
    };
    let field = |i: u32, pos: &mut usize| -> Option<Option<u64>> {
        if mask & (1 << i) != 0 {
            Some(Some(get_varint(b, pos)?))
        } else {
            Some(None)
        }
    };
    let dseq = field(0, &mut pos)?.map_or(0, unzig);
    let dnow = field(1, &mut pos)?.map_or(0, unzig);
    c.seq = x.seq.wrapping_add(dseq as u64);
    let now = x.now.wrapping_add(dnow as u64);
    if let Some(v) = field(2, &mut pos)? {
        c.order_id = x.order_id.wrapping_add(unzig(v) as u64);
        x.order_id = c.order_id;
    }
    c.client_id = field(3, &mut pos)?.unwrap_or(0);
    if let Some(v) = field(4, &mut pos)? {
        c.price = x.price.wrapping_add(unzig(v));
        x.price = c.price;
    }
    c.stop_price = field(5, &mut pos)?.map_or(0, unzig);
    c.qty = field(6, &mut pos)?.unwrap_or(0);
    c.display_qty = field(7, &mut pos)?.unwrap_or(0);
    c.expire_at = field(8, &mut pos)?.unwrap_or(0);
    c.ts_enqueued = match field(9, &mut pos)? {
        Some(v) => now.wrapping_sub(unzig(v) as u64),
        None => now,
    };
    c.account = u32::try_from(field(10, &mut pos)?.unwrap_or(0)).ok()?;
    c.symbol = u32::try_from(field(11, &mut pos)?.unwrap_or(0)).ok()?;
    c.order_seq = u32::try_from(field(12, &mut pos)?.unwrap_or(0)).ok()?;
    let attrs = field(13, &mut pos)?.unwrap_or(0);
    c.side = (attrs & 3) as u8;
    c.order_type = ((attrs >> 2) & 3) as u8;
    c.tif = ((attrs >> 4) & 7) as u8;
    c.stp = ((attrs >> 7) & 7) as u8;
    c.flags = ((attrs >> 10) & 0xff) as u8;
    let payload = match field(14, &mut pos)? {
        Some(n) => {
            let n = usize::try_from(n).ok()?;
            let end = pos.checked_add(n)?;
            let p: Box<[u8]> = b.get(pos..end)?.into();
            pos = end;
            Some(p)
        }
        None => None,
    };
    if pos != b.len() || mask >> 15 != 0 {
        return None;
    }
    x.seq = c.seq;
    x.now = now;
    Some(Record {
        cmd: c,
        now,
        shard,
        jflags,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_cmd() -> impl Strategy<Value = (Command, u64, u16, u8)> {
        (
            (
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<i64>(),
                any::<i64>(),
            ),
            (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
            (any::<u32>(), any::<u32>(), any::<u32>(), 0u8..13),
            (0u8..3, 0u8..4, 0u8..5, 0u8..5, any::<u8>()),
            (any::<u64>(), 0u16..8, 0u8..8),
        )
            .prop_map(|(a, b, c, d, e)| {
                let cmd = Command {
                    seq: a.0,
                    order_id: a.1,
                    client_id: a.2,
                    price: a.3,
                    stop_price: a.4,
                    qty: b.0,
                    display_qty: b.1,
                    expire_at: b.2,
                    ts_enqueued: b.3,
                    account: c.0,
                    symbol: c.1,
                    order_seq: c.2,
                    kind: c.3,
                    side: d.0,
                    order_type: d.1,
                    tif: d.2,
                    stp: d.3,
                    flags: d.4,
                    _pad: [0; 6],
                };
                (cmd, e.0, e.1, e.2)
            })
    }

    proptest! {
        #[test]
        fn records_round_trip(cmds in proptest::collection::vec(arb_cmd(), 1..60)) {
            let mut enc = Contexts::default();
            let mut out = Vec::new();
            let mut body = Vec::new();
            let recs: Vec<Record> = cmds.iter().enumerate().map(|(i, (c, now, shard, jf))| Record {
                cmd: *c, now: *now, shard: *shard, jflags: *jf,
                payload: (i % 7 == 3).then(|| vec![i as u8; i].into_boxed_slice()),
            }).collect();
            for r in &recs {
                encode(r, &mut enc, &mut out, &mut body);
            }
            let mut dec = Contexts::default();
            let mut pos = 0;
            for r in &recs {
                let (got, n) = decode(&out[pos..], &mut dec).unwrap();
                prop_assert_eq!(&got, r);
                pos += n;
            }
            prop_assert_eq!(pos, out.len());
        }

        #[test]
        fn any_flipped_bit_is_caught(cmds in proptest::collection::vec(arb_cmd(), 1..10), bit in any::<usize>()) {
            let mut enc = Contexts::default();
            let mut out = Vec::new();
            let mut body = Vec::new();
            for (c, now, shard, jf) in &cmds {
                encode(&Record { cmd: *c, now: *now, shard: *shard, jflags: *jf, payload: None }, &mut enc, &mut out, &mut body);
            }
            let bit = bit % (out.len() * 8);
            out[bit / 8] ^= 1 << (bit % 8);
            let mut dec = Contexts::default();
            let mut pos = 0;
            let mut bad = false;
            while pos < out.len() {
                match decode(&out[pos..], &mut dec) {
                    Ok((_, n)) => pos += n,
                    Err(_) => { bad = true; break; }
                }
            }
            prop_assert!(bad);
        }
    }

    #[test]
    fn header_round_trip_and_errors() {
        let h = Header {
            version: VERSION,
            shards: 3,
            config_hash: 0xdead_beef,
            first_record: 42,
            segment: 7,
            created_unix_ns: 1,
        };
        let b = h.encode();
        assert_eq!(Header::decode(&b), Ok(h));
        let mut v2 = h;
        v2.version = 2;
        let e = Header::decode(&v2.encode()).unwrap_err();
        assert!(e.contains("version 2"), "{e}");
        let mut flipped = b;
        flipped[30] ^= 4;
        assert!(Header::decode(&flipped).unwrap_err().contains("checksum"));
        assert!(Header::decode(&b[..20]).unwrap_err().contains("20 bytes"));
    }
}
