//! A loom model of the shard's lanes and wake-up protocol (`hftbook_engine::lanes`).
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p hftbook-engine --test loom_lanes --release`
//! (`scripts/test.sh` does; add `-- --nocapture` to see how many executions each model
//! explored).
//!
//! The code under test is the real `Lanes::{try_push, wake, park, is_empty}` and the real
//! `sleeping` flag and fences, built against loom's atomics, fence and park/unpark (see
//! `src/sync.rs`). Two things are the model's own:
//! - the queue is a loom-aware stand-in for `crossbeam_queue::ArrayQueue` (crossbeam's is
//!   invisible to loom; it has its own loom tests): a ring whose consumer takes no lock and
//!   reads `head`/`tail` atomics, so the shard's re-check before parking is ordered only by
//!   those atomics and the protocol's fences, and the shard blocks on nothing but its park;
//! - the shard thread is [`shard`] below: the lane part of `Shard::run` (priority lane
//!   drained first, then the normal lane, exit when stopping with both lanes empty, park
//!   otherwise), without the books. Its spin and yield phases are left out (they only delay
//!   the park), and the park has no timeout (loom has none): a lost wake-up therefore leaves
//!   the shard parked for ever, and loom reports the deadlock.
//!
//! How much is explored: every execution of (a), (a') and (b) (loom's DPOR: 35, about
//! 1,800 and about 105,000), and those of (c) with at most 7 preemptions (about 215,000;
//! exhaustively it is millions, minutes). 15 to 30 s in all on a 2-core machine.
//!
//! Teeth (checked by hand, not kept): each of these breakages of `Lanes` makes loom report
//! the lost wake-up as a deadlock, within the first few executions of (a), (a') and (b):
//! - `park` without the re-check of the lanes after `sleeping = true`;
//! - `sleeping` stored Release and loaded Acquire, with no fences (the store-buffering bug);
//! - either one of the two SeqCst fences removed (loom treats SeqCst loads and stores as
//!   AcqRel, so in the model the fences are what carries the protocol; in C11 the SeqCst
//!   accesses, together with crossbeam's SeqCst index accesses, would also do);
//! - `wake` that does not unpark.
//!
//! With both fences kept and `sleeping` Relaxed, the models pass, as they should (fence to
//! fence is enough). Without the re-check, (c) still passes, because `Engine::stop` wakes the
//! lanes again and again; see `stop_needs_the_repeated_wake` for what a single wake after
//! `stopping` would do.
#![cfg(loom)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::time::Duration;

use hftbook_engine::lanes::{Ingress, Lanes};
use hftbook_engine::Command;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

const PRIORITY: bool = true;
const NORMAL: bool = false;

fn item(id: u64) -> Ingress {
    Ingress::One(Command {
        order_id: id,
        ..Command::default()
    })
}

fn id_of(item: Ingress) -> u64 {
    match item {
        Ingress::One(c) => c.order_id,
        Ingress::Many(cs) => cs[0].order_id,
    }
}

/// What the model shard took, round by round.
#[derive(Debug, Default)]
struct Taken {
    /// Ids in the order taken.
    ids: Vec<u64>,
    /// For each round that took something: the ids it took, and whether both lanes were
    /// seen non-empty when the round began.
    rounds: Vec<(Vec<u64>, bool)>,
}

/// The lane part of `Shard::run`: each round drains the priority lane, then the normal lane;
/// a round that took nothing exits if `stopping` was set (read at the top of the round, as
/// the shard does) and both lanes are empty, and parks otherwise. Without a stop flag, the
/// shard exits once it has taken `until` items. With `snapshot`, each round first reads the
/// depth of both lanes (more states: only the priority test needs it).
fn shard(lanes: &Lanes, stopping: Option<&AtomicBool>, until: usize, snapshot: bool) -> Taken {
    lanes.set_thread(thread::current());
    let mut t = Taken::default();
    loop {
        let stop = stopping.is_some_and(|s| s.load(Ordering::Acquire));
        let (pd, nd) = if snapshot { lanes.depth() } else { (0, 0) };
        let mut round = Vec::new();
        while let Some(it) = lanes.priority.pop() {
            round.push(id_of(it));
        }
        while let Some(it) = lanes.normal.pop() {
            round.push(id_of(it));
        }
        if !round.is_empty() {
            t.ids.extend_from_slice(&round);
            t.rounds.push((round, pd > 0 && nd > 0));
            continue;
        }
        if stop && lanes.is_empty() {
            break;
        }
        if stopping.is_none() && t.ids.len() == until {
            break;
        }
        lanes.park(Duration::from_millis(1));
    }
    t
}

/// Run `f` under loom, every execution (`bound: None`) or those with at most `bound`
/// preemptions (`LOOM_MAX_PREEMPTIONS` overrides); returns how many executions it explored.
fn check<F: Fn() + Sync + Send + 'static>(name: &str, bound: Option<usize>, f: F) -> usize {
    let runs = std::sync::Arc::new(StdAtomicUsize::new(0));
    let t0 = std::time::Instant::now();
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = bound;
    }
    let r = runs.clone();
    b.check(move || {
        r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let n = runs.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "loom {name}: {n} executions explored ({}) in {:.2?}",
        match b.preemption_bound {
            Some(p) => format!("at most {p} preemptions"),
            None => "all of them".to_owned(),
        },
        t0.elapsed()
    );
    n
}

/// (a) One producer pushes while the shard runs out of work and parks: whatever the
/// interleaving, the shard takes the item and the model ends (a lost wake-up would leave
/// the shard parked for ever: loom's deadlock).
#[test]
fn push_then_park() {
    check("push_then_park", None, || {
        let lanes = Arc::new(Lanes::new(4, 4));
        let sh = {
            let lanes = lanes.clone();
            thread::spawn(move || shard(&lanes, None, 1, false))
        };
        lanes.try_push(NORMAL, item(1)).unwrap();
        let t = sh.join().unwrap();
        assert_eq!(t.ids, [1]);
    });
}

/// (a') The same with two items pushed one after the other: the shard may wake, take the
/// first and park again between the two pushes; the second wake-up must not be lost either.
#[test]
fn two_pushes_two_parks() {
    check("two_pushes_two_parks", None, || {
        let lanes = Arc::new(Lanes::new(4, 4));
        let sh = {
            let lanes = lanes.clone();
            thread::spawn(move || shard(&lanes, None, 2, false))
        };
        lanes.try_push(NORMAL, item(1)).unwrap();
        lanes.try_push(NORMAL, item(2)).unwrap();
        let t = sh.join().unwrap();
        assert_eq!(t.ids, [1, 2]);
    });
}

/// (b) Two producers, one on each lane: the shard takes both, and takes the priority item
/// first whenever both were queued when its round began.
#[test]
fn two_lanes_priority_first() {
    check("two_lanes_priority_first", None, || {
        let lanes = Arc::new(Lanes::new(4, 4));
        let sh = {
            let lanes = lanes.clone();
            thread::spawn(move || shard(&lanes, None, 2, true))
        };
        let urgent = {
            let lanes = lanes.clone();
            thread::spawn(move || lanes.try_push(PRIORITY, item(1)).unwrap())
        };
        lanes.try_push(NORMAL, item(2)).unwrap();
        urgent.join().unwrap();
        let t = sh.join().unwrap();
        let mut ids = t.ids.clone();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2], "both taken once");
        for (round, both_seen) in &t.rounds {
            if *both_seen {
                assert_eq!(round, &[1, 2], "priority item first");
            }
        }
    });
}

/// (c) Stop with drain, as `Engine::stop` does it (executions with at most 7 preemptions): after the producer's pushes (here: the
/// same thread), set `stopping` and wake the shard until it has exited. The shard takes every
/// item before it exits, and nothing is left in the lanes.
#[test]
fn stop_drains_everything() {
    check("stop_drains_everything", Some(7), || {
        let lanes = Arc::new(Lanes::new(4, 4));
        let stopping = Arc::new(AtomicBool::new(false));
        let exited = Arc::new(AtomicBool::new(false));
        let sh = {
            let (lanes, stopping, exited) = (lanes.clone(), stopping.clone(), exited.clone());
            thread::spawn(move || {
                let t = shard(&lanes, Some(&stopping), usize::MAX, false);
                exited.store(true, Ordering::Release);
                t
            })
        };
        lanes.try_push(NORMAL, item(1)).unwrap();
        lanes.try_push(PRIORITY, item(2)).unwrap();
        // Engine::stop: `stopping` (Release), then wake every lane until every shard is done.
        stopping.store(true, Ordering::Release);
        while !exited.load(Ordering::Acquire) {
            lanes.wake();
            thread::yield_now();
        }
        let t = sh.join().unwrap();
        let mut ids = t.ids.clone();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2], "every item taken before the shard exited");
        assert!(lanes.is_empty());
    });
}

/// Why `Engine::stop` keeps waking the lanes (every millisecond) until the shards are done,
/// instead of waking them once: the park's re-check looks at the lanes, not at `stopping`, so
/// a stop that lands after the shard read `stopping` and before it announced its sleep is not
/// seen by that park. With a single wake, loom finds that execution and reports a deadlock
/// (in production the park's timeout would end it after `park_ms`). Ignored because a loom
/// deadlock aborts the test binary (it cannot be `#[should_panic]`); run it alone with
/// `-- --ignored stop_needs_the_repeated_wake` to see it. If the park ever re-checks the stop
/// flag too, this model passes, and `Engine::stop` could wake once.
#[test]
#[ignore = "demonstrates a deadlock; a loom deadlock aborts the test binary"]
fn stop_needs_the_repeated_wake() {
    check("stop_needs_the_repeated_wake", None, || {
        let lanes = Arc::new(Lanes::new(4, 4));
        let stopping = Arc::new(AtomicBool::new(false));
        let sh = {
            let (lanes, stopping) = (lanes.clone(), stopping.clone());
            thread::spawn(move || shard(&lanes, Some(&stopping), usize::MAX, false))
        };
        stopping.store(true, Ordering::Release);
        lanes.wake();
        sh.join().unwrap();
    });
}
