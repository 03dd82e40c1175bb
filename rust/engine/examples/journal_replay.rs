//! Replay speed of a journal, read-only (`hftbook_engine::replay_journal`), warm page cache.
//!
//! `cargo run --release -p hftbook-engine --example journal_replay -- DIR [OPS] [REPS]`
//!
//! When DIR holds no journal, one is written first: OPS (default 2M) commands of the W2 flow
//! over 4 symbols on 1 shard, queued in batches, fsync `never`. Then the journal is replayed
//! REPS times (default 5) and records/s is printed per repetition and as the median.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hftbook_core::batch::kind as bk;
use hftbook_core::workload::w2;
use hftbook_engine::journal::{Fsync, JournalOptions};
use hftbook_engine::record::cmd;
use hftbook_engine::{Command, Engine, EngineConfig, SymbolConfig};

fn write(dir: &std::path::Path, ops: usize) {
    let mut cfg = EngineConfig::default();
    cfg.engine.keep_events = false;
    cfg.breaker.enabled = false;
    let mut o = JournalOptions::new(dir, Fsync::Never);
    o.snapshot_every = 0;
    let e = Engine::with_journal(cfg, o).expect("journal");
    for s in 0..4 {
        e.add_symbol(&format!("S{s}"), SymbolConfig::default())
            .expect("symbol");
    }
    // Book ids of the flow -> engine ids (assigned in submit order from 1).
    let mut next = 1u64;
    let mut map = std::collections::HashMap::new();
    let mut cmds = Vec::new();
    for s in 0..4u32 {
        let (pre, flow) = w2(ops / 4, 42 + u64::from(s));
        for c in pre.iter().chain(flow.iter()) {
            if c.kind == bk::ADD {
                map.insert((s, c.id), next);
                next += 1;
                // W2's side / order type / time-in-force codes are the engine's.
                cmds.push(Command {
                    kind: cmd::SUBMIT,
                    symbol: s,
                    side: c.side,
                    order_type: c.order_type,
                    tif: c.tif,
                    price: c.price,
                    qty: c.qty,
                    client_id: c.id,
                    ..Command::default()
                });
            } else if let Some(&id) = map.get(&(s, c.id)) {
                cmds.push(Command::cancel(s, id));
            }
        }
    }
    e.start().expect("start");
    for chunk in cmds.chunks_mut(4096) {
        e.submit_batch(chunk).expect("batch");
    }
    e.stop(true, Duration::from_secs(60));
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::path::PathBuf::from(a.first().expect("DIR"));
    let ops: usize = a.get(1).map_or(2_000_000, |x| x.parse().expect("OPS"));
    let reps: usize = a.get(2).map_or(5, |x| x.parse().expect("REPS"));
    if !dir.join("config.toml").exists() {
        write(&dir, ops);
    }
    let mut v = Vec::new();
    for _ in 0..reps {
        let r = hftbook_engine::replay_journal(&dir, false).expect("replay");
        let speed = r.records as f64 / r.seconds;
        println!(
            "{} records in {:.3} s: {:.2} M records/s",
            r.records,
            r.seconds,
            speed / 1e6
        );
        v.push(speed);
    }
    v.sort_by(f64::total_cmp);
    println!("median {:.2} M records/s", v[v.len() / 2] / 1e6);
}
