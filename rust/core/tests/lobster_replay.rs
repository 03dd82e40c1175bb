//! Replays the truncated AAPL level-10 LOBSTER pair from the shared data (plain CSV) and
//! checks every row; fuzzes the CSV parsers with arbitrary bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hftbook_core::lobster::{
    parse_messages, parse_orderbook, replay, LobsterError, ReplayOptions, MESSAGE_COLUMNS,
};
use proptest::prelude::*;

fn shared_data() -> PathBuf {
    let dir = match std::env::var_os("HFTBOOK_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    assert!(
        dir.is_dir(),
        "shared test data not found at {} (set HFTBOOK_SHARED_DATA)",
        dir.display()
    );
    dir
}

fn aapl() -> (Vec<i64>, Vec<i64>, usize) {
    let dir = shared_data().join("lobster/truncated_aapl_10");
    let stem = "AAPL_2012-06-21_34200000_57600000";
    let m = std::fs::read(dir.join(format!("{stem}_message_10.csv"))).unwrap();
    let b = std::fs::read(dir.join(format!("{stem}_orderbook_10.csv"))).unwrap();
    let msgs = parse_messages(&m, "message_10.csv").unwrap();
    let (book, cols) = parse_orderbook(&b, "orderbook_10.csv").unwrap();
    (msgs, book, cols)
}

#[test]
fn aapl_level10_matches_every_row() {
    let (msgs, book, cols) = aapl();
    assert_eq!((msgs.len() / MESSAGE_COLUMNS, cols), (999, 40));
    assert_eq!(
        msgs[..6],
        [34_200_004_241_176, 1, 16_113_575, 18, 5_853_300, 1]
    );
    let r = replay(&msgs, &book, cols, &ReplayOptions::new(10)).unwrap();
    assert_eq!(r.first_mismatch, None);
    assert_eq!((r.rows_compared, r.rows_matched), (998, 998));
    // Every type-4 message either hit a known order (analysed) or an unknown one.
    let type4 = msgs.chunks(6).skip(1).filter(|m| m[1] == 4).count();
    assert!(r.exec_order_id.len() <= type4);
    assert!(r.exec_time_to_fill_ns.iter().all(|&t| t >= 0));
    assert_eq!(r.best_bid_price.len(), 999);
    // Lower levels replay from the same level-10 message file too.
    for levels in [1, 5] {
        let r = replay(&msgs, &book, cols, &ReplayOptions::new(levels)).unwrap();
        assert_eq!(
            r.rows_matched, 998,
            "levels {levels}: {:?}",
            r.first_mismatch
        );
    }
}

#[test]
fn aapl_without_edge_sync_goes_stale() {
    let (msgs, book, cols) = aapl();
    let mut o = ReplayOptions::new(10);
    o.edge_sync = false;
    let r = replay(&msgs, &book, cols, &o).unwrap();
    assert!(r.rows_matched < r.rows_compared);
    let mm = r.first_mismatch.unwrap();
    assert_ne!(mm.ours, mm.recorded);
    assert_eq!(mm.message[..], msgs[mm.index * 6..mm.index * 6 + 6]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        for r in [parse_messages(&data, "m").map(|_| ()), parse_orderbook(&data, "o").map(|_| ())] {
            if let Err(e) = r {
                match e {
                    LobsterError::Format { line, ref field, .. } => {
                        prop_assert!(line >= 1);
                        prop_assert!(!field.is_empty());
                    }
                    other => prop_assert!(false, "unexpected error {other}"),
                }
            }
        }
    }

    #[test]
    fn csv_like_input_never_panics_and_replays_or_errors(
        rows in proptest::collection::vec(
            (0u8..10, 0i64..30, -5i64..50, 99_990i64..100_010, -2i64..3), 1..40),
        cut in 0usize..2000,
    ) {
        let mut text = String::new();
        let mut ob = String::new();
        for (i, (t, id, size, px, dir)) in rows.iter().enumerate() {
            text.push_str(&format!("{i}.5,{t},{id},{size},{},{dir}\n", px * 10));
            ob.push_str("9999999999,0,-9999999999,0\n");
        }
        let cut = cut.min(text.len());
        if let Ok(m) = parse_messages(&text.as_bytes()[..cut], "m") {
            let (b, c) = parse_orderbook(ob.as_bytes(), "o").unwrap();
            // Any outcome but a panic is fine: a report or a typed error.
            let _ = replay(&m, &b, c, &ReplayOptions::new(1));
        }
    }
}
