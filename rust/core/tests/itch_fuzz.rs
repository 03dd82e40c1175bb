//! ITCH 5.0: arbitrary bytes and truncated or corrupted valid streams never panic and give an
//! error carrying the byte offset and message type; generated streams of any seed round-trip
//! through the encoder and replay into books equal to the generator's reference books.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hftbook_core::itch::{encode_all, parse, Frames, Generator, ItchBooks, ItchErrorKind};
use proptest::prelude::*;

fn stream(seed: u64, n: usize) -> (Vec<u8>, Vec<usize>) {
    let g = Generator::new(n, seed, &["AAPL", "MSFT"]).generate();
    let bytes = encode_all(&g.messages).unwrap();
    let starts = Frames::new(&bytes).map(|f| f.unwrap().0 as usize).collect();
    (bytes, starts)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        match parse(&data) {
            Ok(ms) => prop_assert!(ms.len() <= data.len() / 3 + 1),
            Err(e) => {
                prop_assert!((e.offset as usize) < data.len().max(1));
                let head = format!("byte offset {}", e.offset);
                prop_assert!(e.to_string().starts_with(&head));
            }
        }
        let mut books = ItchBooks::new(None, true);
        if let Err(e) = books.apply_stream(&data) {
            prop_assert!((e.offset as usize) < data.len().max(1));
        }
    }

    #[test]
    fn arbitrary_frames_of_known_types_never_panic(
        frames in proptest::collection::vec(
            (prop::sample::select(b"SRHAFECXDUPLQI".to_vec()), proptest::collection::vec(any::<u8>(), 0..60)),
            0..30,
        ),
        fix_len in any::<bool>(),
    ) {
        let mut data = Vec::new();
        for (t, mut body) in frames {
            if fix_len {
                body.resize(hftbook_core::itch::message_length(t).unwrap() - 1, 0);
            }
            data.extend_from_slice(&((body.len() + 1) as u16).to_be_bytes());
            data.push(t);
            data.extend_from_slice(&body);
        }
        let _ = parse(&data);
        let mut books = ItchBooks::new(None, true);
        let _ = books.apply_stream(&data);
    }

    #[test]
    fn truncated_streams_name_the_cut_message(seed in any::<u64>(), cut in any::<prop::sample::Index>()) {
        let (bytes, starts) = stream(seed, 200);
        let at = cut.index(bytes.len());
        let frame = *starts.iter().rev().find(|&&s| s <= at).unwrap();
        match parse(&bytes[..at]) {
            Ok(ms) => prop_assert_eq!(at, frame, "only a cut at a frame boundary parses; {} msgs", ms.len()),
            Err(e) => {
                prop_assert_eq!(e.offset as usize, frame);
                let truncated = matches!(e.kind, ItchErrorKind::Truncated { .. });
                prop_assert!(truncated);
                let typed = at >= frame + 3;
                prop_assert_eq!(e.msg_type, if typed { Some(bytes[frame + 2]) } else { None });
                prop_assert!(e.to_string().contains("truncated"));
            }
        }
    }

    #[test]
    fn corrupted_streams_never_panic(seed in any::<u64>(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (mut bytes, _) = stream(seed, 200);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let mut books = ItchBooks::new(None, true);
        if let Err(e) = books.apply_stream(&bytes) {
            prop_assert!((e.offset as usize) < bytes.len());
            prop_assert!(e.field().is_some());
        }
    }

    #[test]
    fn generated_streams_round_trip_and_match_the_reference(seed in any::<u64>(), n in 20usize..800) {
        let g = Generator::new(n, seed, &["AAPL", "MSFT", "IBM"]).generate();
        let bytes = encode_all(&g.messages).unwrap();
        prop_assert_eq!(parse(&bytes).unwrap(), g.messages.clone());
        let mut books = ItchBooks::new(None, false);
        books.apply_stream(&bytes).unwrap();
        for r in &g.reference {
            let b = books.get(&r.symbol).unwrap();
            let (bids, asks) = b.levels();
            prop_assert_eq!(&bids, &r.bids);
            prop_assert_eq!(&asks, &r.asks);
        }
    }
}

#[test]
fn symbol_filter_builds_only_the_named_books() {
    let g = Generator::new(5_000, 3, &["AAPL", "MSFT", "IBM"]).generate();
    let bytes = encode_all(&g.messages).unwrap();
    let mut books = ItchBooks::new(Some(&["MSFT".to_string()]), true);
    books.apply_stream(&bytes).unwrap();
    assert_eq!(books.books.len(), 1);
    let b = books.get("MSFT").unwrap();
    assert_eq!(b.trading_state, b'T');
    let r = g.reference.iter().find(|r| r.symbol == "MSFT").unwrap();
    assert_eq!(b.levels(), (r.bids.clone(), r.asks.clone()));
    assert!(b.tops.len() > 10);
    let last = b.tops.last().unwrap();
    assert_eq!((last.bid, last.ask), (r.bids[0].0, r.asks[0].0));
    assert_eq!(books.system_events, vec![b'O', b'C']);
}

#[test]
fn replay_errors_name_offset_type_and_field() {
    let g = Generator::new(300, 9, &["AAPL"]).generate();
    let mut msgs = g.messages.clone();
    // an execute of an order that does not exist
    let k = msgs.iter().position(|m| m.msg_type == b'E').unwrap();
    msgs[k].order_ref = 999_999_999;
    let bytes = encode_all(&msgs).unwrap();
    let off: u64 = msgs[..k]
        .iter()
        .map(|m| 2 + hftbook_core::itch::message_length(m.msg_type).unwrap() as u64)
        .sum();
    let mut books = ItchBooks::new(None, false);
    let e = books.apply_stream(&bytes).unwrap_err();
    assert_eq!(
        (e.offset, e.msg_type, e.field()),
        (off, Some(b'E'), Some("order_ref"))
    );
    assert!(e.to_string().contains("999999999"), "{e}");
}
