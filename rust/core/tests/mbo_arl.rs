//! Replays the real Databento ARL MBO sample and checks the MBP-10 rows against the
//! reference `mbp.csv` byte for byte (shared data: `../shared/data/databento_arl/`).

use std::path::PathBuf;

use hftbook_core::mbo::{compare_mbp10_csv, read_mbo_csv, replay_mbo, write_mbp10_csv, EmitRule};

fn shared_data() -> PathBuf {
    let dir = std::env::var_os("HFTBOOK_SHARED_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    );
    assert!(
        dir.join("databento_arl/mbo.csv").is_file(),
        "shared data not found at {} (set HFTBOOK_SHARED_DATA to the shared/data directory)",
        dir.display()
    );
    dir
}

#[test]
fn arl_mbo_reproduces_the_reference_mbp10_exactly() {
    let dir = shared_data().join("databento_arl");
    let file = read_mbo_csv(&dir.join("mbo.csv")).unwrap();
    assert_eq!(file.records.len(), 5886);
    assert_eq!(file.symbols, vec!["ARL".to_string()]);
    let rp = replay_mbo(&file, None, EmitRule::Reference).unwrap();
    assert_eq!(rp.tick_nanos, 1_000_000, "13.575 needs a 0.001 tick");
    let mut out = Vec::new();
    write_mbp10_csv(&rp.rows, &file.symbols, true, &mut out).unwrap();
    let ours = String::from_utf8(out).unwrap();
    let expected = std::fs::read_to_string(dir.join("mbp.csv")).unwrap();
    let cmp = compare_mbp10_csv(&ours, &expected);
    assert_eq!(cmp.first_mismatch, None);
    assert_eq!(
        (cmp.rows_ours, cmp.rows_expected, cmp.rows_equal),
        (3928, 3928, 3928)
    );
    assert!(ours == expected, "not byte-for-byte equal (line ends?)");
}

#[test]
fn arl_top_change_rule_is_a_subset_with_the_same_books() {
    let dir = shared_data().join("databento_arl");
    let file = read_mbo_csv(&dir.join("mbo.csv")).unwrap();
    let reference = replay_mbo(&file, None, EmitRule::Reference).unwrap();
    let strict = replay_mbo(&file, None, EmitRule::TopChange).unwrap();
    assert!(strict.rows.len() < reference.rows.len());
    // every strict row is a reference row (same event, same book)
    let mut it = reference.rows.iter();
    for r in &strict.rows {
        assert!(
            it.any(|x| x == r),
            "strict row {r:?} missing from the reference rows"
        );
    }
    // a finer tick gives the same rows
    let fine = replay_mbo(&file, Some(1), EmitRule::Reference).unwrap();
    assert_eq!(fine.rows, reference.rows);
}
