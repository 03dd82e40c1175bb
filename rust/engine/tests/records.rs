//! The command and event records are plain bytes: they round-trip through zerocopy, singly
//! and as slices, and their layout (what numpy dtypes and journals read) stays put.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::mem::{offset_of, size_of};

use hftbook_engine::record::{cmd, kind, order_type, reason, tif, Command, Event, EVENT_KINDS};
use zerocopy::{FromBytes, IntoBytes};

fn sample_command(i: u64) -> Command {
    Command {
        seq: 0x0102_0304_0506_0708 + i,
        order_id: 11 + i,
        client_id: u64::MAX - i,
        price: -12_345 - i as i64,
        stop_price: 777,
        qty: 42,
        display_qty: 7,
        expire_at: 1_000_000_007,
        ts_enqueued: 99,
        account: 5,
        symbol: 3,
        order_seq: 2,
        kind: cmd::MODIFY,
        side: 1,
        order_type: order_type::STOP_LIMIT,
        tif: tif::GTD,
        stp: 4,
        flags: 6,
        _pad: [0; 6],
    }
}

fn sample_event(i: u64) -> Event {
    Event {
        seq: 1 + i,
        symbol_seq: 2 + i,
        order_id: 3,
        client_id: 4,
        maker_id: 5,
        taker_id: 6,
        price: -7,
        qty: 8,
        leaves_qty: 9,
        detail: i64::MIN,
        ts_enqueued: 10,
        ts_processed: 11,
        account: 12,
        symbol: u32::MAX,
        cmd_seq: 13,
        kind: kind::ENGINE,
        side: 1,
        reason: reason::CONFIG_REJECTED,
        flags: 3,
    }
}

#[test]
fn command_round_trips_through_bytes() {
    let c = sample_command(0);
    let bytes = c.as_bytes();
    assert_eq!(bytes.len(), 96);
    assert_eq!(Command::read_from_bytes(bytes).unwrap(), c);
    assert_eq!(Command::ref_from_bytes(bytes).unwrap(), &c);
    // Little-endian, field at its offset.
    assert_eq!(&bytes[0..8], &c.seq.to_le_bytes());
    assert_eq!(bytes[offset_of!(Command, kind)], cmd::MODIFY);
    // Slices: one contiguous byte view, back to the same records.
    let cs: Vec<Command> = (0..5).map(sample_command).collect();
    let raw = cs.as_slice().as_bytes();
    assert_eq!(raw.len(), 5 * 96);
    assert_eq!(<[Command]>::ref_from_bytes(raw).unwrap(), cs.as_slice());
    // A wrong length is refused, not misread.
    assert!(<[Command]>::ref_from_bytes(&raw[..raw.len() - 1]).is_err());
    assert!(Command::read_from_bytes(&raw[..95]).is_err());
}

#[test]
fn event_round_trips_through_bytes() {
    let e = sample_event(0);
    let bytes = e.as_bytes();
    assert_eq!(bytes.len(), 112);
    assert_eq!(Event::read_from_bytes(bytes).unwrap(), e);
    let es: Vec<Event> = (0..7).map(sample_event).collect();
    let raw = Event::as_bytes_slice(&es);
    assert_eq!(raw.len(), 7 * 112);
    assert_eq!(raw, es.as_slice().as_bytes());
    assert_eq!(<[Event]>::ref_from_bytes(raw).unwrap(), es.as_slice());
    // A copy through an owned byte buffer (a journal / socket) reads back equal.
    let owned: Vec<u8> = raw.to_vec();
    let back: Vec<Event> = owned
        .chunks_exact(112)
        .map(|ch| Event::read_from_bytes(ch).unwrap())
        .collect();
    assert_eq!(back, es);
    assert_eq!(e.kind_name(), "engine");
    assert_eq!(e.reason_name(), "config_rejected");
    assert_eq!(EVENT_KINDS.len(), kind::ENGINE as usize + 1);
}

#[test]
fn record_layouts_are_fixed() {
    assert_eq!(size_of::<Command>(), 96);
    assert_eq!(size_of::<Event>(), 112);
    let command = [
        offset_of!(Command, seq),
        offset_of!(Command, order_id),
        offset_of!(Command, client_id),
        offset_of!(Command, price),
        offset_of!(Command, stop_price),
        offset_of!(Command, qty),
        offset_of!(Command, display_qty),
        offset_of!(Command, expire_at),
        offset_of!(Command, ts_enqueued),
        offset_of!(Command, account),
        offset_of!(Command, symbol),
        offset_of!(Command, order_seq),
        offset_of!(Command, kind),
        offset_of!(Command, side),
        offset_of!(Command, order_type),
        offset_of!(Command, tif),
        offset_of!(Command, stp),
        offset_of!(Command, flags),
        offset_of!(Command, _pad),
    ];
    assert_eq!(
        command,
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 76, 80, 84, 85, 86, 87, 88, 89, 90]
    );
    let event = [
        offset_of!(Event, seq),
        offset_of!(Event, symbol_seq),
        offset_of!(Event, order_id),
        offset_of!(Event, client_id),
        offset_of!(Event, maker_id),
        offset_of!(Event, taker_id),
        offset_of!(Event, price),
        offset_of!(Event, qty),
        offset_of!(Event, leaves_qty),
        offset_of!(Event, detail),
        offset_of!(Event, ts_enqueued),
        offset_of!(Event, ts_processed),
        offset_of!(Event, account),
        offset_of!(Event, symbol),
        offset_of!(Event, cmd_seq),
        offset_of!(Event, kind),
        offset_of!(Event, side),
        offset_of!(Event, reason),
        offset_of!(Event, flags),
    ];
    assert_eq!(
        event,
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 100, 104, 108, 109, 110, 111]
    );
}
