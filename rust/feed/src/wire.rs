//! The binary encoding of the feed (`/ws?encoding=binary`): one WebSocket binary frame per
//! message, little-endian, fixed layouts (the byte tables are in `docs/feed.md`).
//!
//! Every frame starts with the same 24-byte header:
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u8 | version ([`VERSION`]) |
//! | 1 | u8 | message type (`T_*`) |
//! | 2 | u16 | reserved, 0 |
//! | 4 | u32 | symbol id (index in `/symbols`) |
//! | 8 | u64 | `seq`: the engine's per-symbol sequence number |
//! | 16 | u64 | `cseq`: this connection's message number on the channel (0 in `symbol`) |
//!
//! The pump encodes a message once; each connection's writer copies those bytes and stamps
//! its own `cseq` at offset 16 ([`stamp`]).

use hftbook_core::TickSize;

/// The version byte of every binary frame.
pub const VERSION: u8 = 1;
/// Header length, bytes.
pub const HEADER: usize = 24;
/// Offset of the `cseq` field.
pub const CSEQ_AT: usize = 16;

/// L2 snapshot: `u32` bid count, `u32` ask count, then the levels (24 bytes each).
pub const T_SNAPSHOT: u8 = 1;
/// L2 delta: `i64` price ticks, `u64` lots, `u64` orders, `u8` side, 7 bytes 0.
pub const T_DELTA: u8 = 2;
/// L1: bid `i64` price ticks, `u64` lots; ask the same (lots 0: no such side).
pub const T_L1: u8 = 3;
/// Trade: `i64` price ticks, `u64` lots, `u64` engine time ns, `u8` aggressor, 7 bytes 0.
pub const T_TRADE: u8 = 4;
/// Status: `u8` state, `u8` reason code, `u8` reason length, the reason (UTF-8).
pub const T_STATUS: u8 = 5;
/// Symbol facts (sent before a symbol's first message on a connection): `u64` tick
/// mantissa, `u8` tick scale (tick = mantissa × 10^-scale), `u8` name length, the name.
pub const T_SYMBOL: u8 = 6;

fn header(ty: u8, sym: u32, seq: u64, extra: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER + extra);
    b.push(VERSION);
    b.push(ty);
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&sym.to_le_bytes());
    b.extend_from_slice(&seq.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b
}

/// An L2 snapshot; levels `(price ticks, lots, orders)` best first.
pub fn snapshot<'a>(
    sym: u32,
    seq: u64,
    bids: impl ExactSizeIterator<Item = (i64, u64, u64)>,
    asks: impl ExactSizeIterator<Item = (i64, u64, u64)> + 'a,
) -> Vec<u8> {
    let (nb, na) = (bids.len(), asks.len());
    let mut b = header(T_SNAPSHOT, sym, seq, 8 + 24 * (nb + na));
    b.extend_from_slice(&u32::try_from(nb).unwrap_or(u32::MAX).to_le_bytes());
    b.extend_from_slice(&u32::try_from(na).unwrap_or(u32::MAX).to_le_bytes());
    for (p, q, n) in bids.chain(asks) {
        b.extend_from_slice(&p.to_le_bytes());
        b.extend_from_slice(&q.to_le_bytes());
        b.extend_from_slice(&n.to_le_bytes());
    }
    b
}

/// An L2 delta; `side` 0 bid, 1 ask; `qty` 0: the level is gone.
pub fn delta(sym: u32, seq: u64, side: u8, price: i64, qty: u64, orders: u64) -> Vec<u8> {
    let mut b = header(T_DELTA, sym, seq, 32);
    b.extend_from_slice(&price.to_le_bytes());
    b.extend_from_slice(&qty.to_le_bytes());
    b.extend_from_slice(&orders.to_le_bytes());
    b.push(side);
    b.extend_from_slice(&[0; 7]);
    b
}

/// L1: `(price ticks, lots)` per side, none: price 0 and lots 0.
pub fn l1(sym: u32, seq: u64, bid: Option<(i64, u64)>, ask: Option<(i64, u64)>) -> Vec<u8> {
    let mut b = header(T_L1, sym, seq, 32);
    for (p, q) in [bid.unwrap_or((0, 0)), ask.unwrap_or((0, 0))] {
        b.extend_from_slice(&p.to_le_bytes());
        b.extend_from_slice(&q.to_le_bytes());
    }
    b
}

/// A trade; `aggressor` 0 buy, 1 sell; `ts` engine time ns.
pub fn trade(sym: u32, seq: u64, price: i64, qty: u64, ts: u64, aggressor: u8) -> Vec<u8> {
    let mut b = header(T_TRADE, sym, seq, 32);
    b.extend_from_slice(&price.to_le_bytes());
    b.extend_from_slice(&qty.to_le_bytes());
    b.extend_from_slice(&ts.to_le_bytes());
    b.push(aggressor);
    b.extend_from_slice(&[0; 7]);
    b
}

/// A status; `halted` 1 halted, 0 trading; the reason's code and name.
pub fn status(sym: u32, seq: u64, halted: bool, code: u8, why: &str) -> Vec<u8> {
    let why = clip(why);
    let mut b = header(T_STATUS, sym, seq, 3 + why.len());
    b.push(u8::from(halted));
    b.push(code);
    b.push(why.len() as u8);
    b.extend_from_slice(why);
    b
}

/// A symbol's facts: its tick size and name.
pub fn symbol(sym: u32, tick: TickSize, name: &str) -> Vec<u8> {
    let name = clip(name);
    let mut b = header(T_SYMBOL, sym, 0, 10 + name.len());
    b.extend_from_slice(&tick.mantissa().to_le_bytes());
    b.push(u8::try_from(tick.scale()).unwrap_or(u8::MAX));
    b.push(name.len() as u8);
    b.extend_from_slice(name);
    b
}

/// At most 255 bytes of `s`, cut on a character boundary.
fn clip(s: &str) -> &[u8] {
    let mut i = s.len().min(255);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s.as_bytes()[..i]
}

/// `body` with `cseq` written at offset 16 (a copy: the body is shared by the clients).
pub fn stamp(body: &[u8], cseq: u64) -> Vec<u8> {
    let mut v = body.to_vec();
    if let Some(f) = v.get_mut(CSEQ_AT..CSEQ_AT + 8) {
        f.copy_from_slice(&cseq.to_le_bytes());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn layouts() {
        let d = stamp(&delta(3, 77, 1, -5, 9, 2), 42);
        assert_eq!(d.len(), HEADER + 32);
        assert_eq!(&d[..4], &[VERSION, T_DELTA, 0, 0]);
        assert_eq!(u32::from_le_bytes(d[4..8].try_into().unwrap()), 3);
        assert_eq!(u64_at(&d, 8), 77);
        assert_eq!(u64_at(&d, 16), 42);
        assert_eq!(u64_at(&d, 24) as i64, -5);
        assert_eq!(u64_at(&d, 32), 9);
        assert_eq!(u64_at(&d, 40), 2);
        assert_eq!(d[48], 1);
        let s = snapshot(
            0,
            5,
            [(10, 1, 1)].into_iter(),
            [(11, 2, 1), (12, 3, 2)].into_iter(),
        );
        assert_eq!(s.len(), HEADER + 8 + 3 * 24);
        assert_eq!(&s[24..32], &[1, 0, 0, 0, 2, 0, 0, 0]);
        let t = TickSize::parse("0.05").unwrap();
        let y = symbol(1, t, "AAPL");
        assert_eq!(u64_at(&y, 24), 5);
        assert_eq!(y[32], 2);
        assert_eq!(&y[33..], b"\x04AAPL");
        let st = status(0, 1, true, 2, "é".repeat(200).as_str());
        assert_eq!(st[26] as usize, st.len() - 27);
        assert!(std::str::from_utf8(&st[27..]).is_ok());
    }
}
