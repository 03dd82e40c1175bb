//! Dropping an engine without `stop` stops it: no shard thread survives. One test in its own
//! binary, because it counts the threads of the whole process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{engine_with, quiet_config, thread_names, wait_for};
use hftbook_core::Side;
use hftbook_engine::{EngineError, OnFull, OrderRequest};

fn shard_threads() -> Vec<String> {
    thread_names()
        .into_iter()
        .filter(|n| n.starts_with("hftbook-shard"))
        .collect()
}

#[test]
fn drop_without_stop_joins_every_thread() {
    assert!(shard_threads().is_empty());
    // Running, with work done.
    {
        let (e, s) = engine_with(quiet_config(3), &["A", "B", "C"]);
        e.start().unwrap();
        for i in 0..300 {
            e.submit(&OrderRequest::limit(s[i % 3], Side::Buy, 100, 1))
                .unwrap();
        }
        // A new thread names itself once it runs: wait for that, not for start().
        wait_for("three named shard threads", || shard_threads().len() == 3);
    }
    assert!(shard_threads().is_empty(), "{:?}", shard_threads());
    // Never started, commands queued.
    {
        let (e, s) = engine_with(quiet_config(2), &["A", "B"]);
        for i in 0..100 {
            e.submit(&OrderRequest::limit(s[i % 2], Side::Sell, 100, 1))
                .unwrap();
        }
    }
    assert!(shard_threads().is_empty(), "{:?}", shard_threads());
    // Paused.
    {
        let (e, _) = engine_with(quiet_config(2), &["A"]);
        e.start().unwrap();
        e.pause().unwrap();
    }
    assert!(shard_threads().is_empty(), "{:?}", shard_threads());
    // A full event buffer nobody polls: the shard is stuck publishing; drop still ends it.
    let t = Instant::now();
    {
        let mut cfg = quiet_config(1);
        cfg.engine.event_capacity = 64;
        cfg.engine.lane_capacity = 64;
        cfg.engine.on_full = OnFull::Reject;
        let (e, s) = engine_with(cfg, &["A"]);
        e.start().unwrap();
        let mut refused = false;
        for _ in 0..10_000 {
            match e.submit(&OrderRequest::limit(s[0], Side::Buy, 100, 1)) {
                Ok(_) => {}
                Err(EngineError::Backpressure { .. }) => {
                    if e.shard_stats()[0].event_waits > 0 {
                        refused = true;
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        assert!(refused, "the event buffer never filled");
    }
    assert!(shard_threads().is_empty(), "{:?}", shard_threads());
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    // A refused cancel leaves a helper thread that queues its placeholder; it ends too.
    {
        let mut cfg = quiet_config(1);
        cfg.engine.on_full = OnFull::Reject;
        cfg.engine.priority_capacity = 2;
        let (e, s) = engine_with(cfg, &["A"]);
        let ids: Vec<u64> = (0..3)
            .map(|_| {
                e.submit(&OrderRequest::limit(s[0], Side::Buy, 100, 1))
                    .unwrap()
            })
            .collect();
        for id in &ids[..2] {
            e.cancel(*id, None, 0).unwrap();
        }
        assert!(e.cancel(ids[2], None, 0).is_err());
    }
    assert!(shard_threads().is_empty(), "{:?}", shard_threads());
    wait_for("the helper threads to end", || {
        !thread_names().iter().any(|n| n.starts_with("hftbook"))
    });
}
