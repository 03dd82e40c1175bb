//! The real Databento ARL MBO sample, encoded to DBN (plain and zstd) in a temporary buffer
//! with Databento's encoder, decodes to the same records as the CSV and replays to the same
//! MBP-10 rows: byte for byte the reference `mbp.csv` (shared data:
//! `../shared/data/databento_arl/`). No DBN file is kept in the repository.

use std::path::PathBuf;

use hftbook_core::mbo::{
    parse_mbo, read_mbo_csv, replay_mbo, write_mbp10_csv, EmitRule, MboFile, MboFormat,
};
use hftbook_core::mbo_dbn::{parse_mbo_dbn, write_mbo_dbn, write_mbo_dbn_file};

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
    dir.join("databento_arl")
}

fn mbp_csv(f: &MboFile) -> Result<String, Box<dyn std::error::Error>> {
    let rp = replay_mbo(f, None, EmitRule::Reference)?;
    let mut out = Vec::new();
    write_mbp10_csv(&rp.rows, &f.symbols, true, &mut out)?;
    Ok(String::from_utf8(out)?)
}

#[test]
fn arl_from_dbn_reproduces_the_reference_mbp10_exactly() {
    let dir = shared_data();
    let csv = read_mbo_csv(&dir.join("mbo.csv")).unwrap();
    let expected = std::fs::read_to_string(dir.join("mbp.csv")).unwrap();
    for (zstd, format) in [(false, MboFormat::Dbn), (true, MboFormat::DbnZstd)] {
        let mut bytes = Vec::new();
        write_mbo_dbn(&csv, zstd, &mut bytes).unwrap();
        let dbn = parse_mbo(&bytes, "arl.dbn").unwrap();
        assert_eq!(dbn.format, format);
        assert_eq!(dbn.records.len(), 5886);
        assert_eq!(dbn.symbols, vec!["ARL".to_string()]);
        for (a, b) in csv.records.iter().zip(&dbn.records) {
            assert_eq!(
                (a.ts_recv, a.ts_event, a.price, a.size, a.order_id, a.flags),
                (b.ts_recv, b.ts_event, b.price, b.size, b.order_id, b.flags)
            );
            assert_eq!(
                (a.action, a.side, a.sequence, a.ts_in_delta, a.instrument_id),
                (b.action, b.side, b.sequence, b.ts_in_delta, b.instrument_id)
            );
        }
        let rp = replay_mbo(&dbn, None, EmitRule::Reference).unwrap();
        assert_eq!(rp.rows.len(), 3928);
        assert_eq!(rp.instruments.len(), 1);
        assert_eq!(
            (rp.instruments[0].instrument_id, rp.instruments[0].records),
            (1108, 5886)
        );
        assert!(
            mbp_csv(&dbn).unwrap() == expected,
            "zstd={zstd}: not byte-for-byte the reference"
        );
    }
}

#[test]
fn arl_dbn_file_on_disk_is_told_by_its_magic_not_its_name() {
    let dir = shared_data();
    let csv = read_mbo_csv(&dir.join("mbo.csv")).unwrap();
    let tmp = std::env::temp_dir().join(format!("hftbook-dbn-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    // A zstd DBN under a misleading name.
    let path = tmp.join("arl.csv");
    write_mbo_dbn_file(&csv, &path, true).unwrap();
    let f = hftbook_core::mbo::read_mbo(&path).unwrap();
    assert_eq!(f.format, MboFormat::DbnZstd);
    assert_eq!(mbp_csv(&f).unwrap(), mbp_csv(&csv).unwrap());
    // The uncompressed bytes decode the same.
    let mut plain = Vec::new();
    write_mbo_dbn(&csv, false, &mut plain).unwrap();
    assert_eq!(parse_mbo_dbn(&plain, "p").unwrap().records.len(), 5886);
    std::fs::remove_dir_all(&tmp).unwrap();
}
