//! Counters and latency histograms of a shard.
//!
//! Counters are atomics the shard bumps (relaxed) and anyone reads. Latencies go into
//! histograms owned by the shard thread ([`StatsWriter`]) and are copied into a shared snapshot
//! every 10 ms and whenever the shard goes idle, so `stats()` never touches the hot path.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

use crate::record::REASONS;

/// Latency histograms (ns): queue wait (enqueue → the shard takes it), match (one command in
/// the book, sampled 1 in 16), publish (a loop's events handed out).
#[derive(Debug, Clone)]
pub struct Latencies {
    /// Enqueue → taken by the shard.
    pub queue_wait: Histogram<u64>,
    /// One command through the book (sampled).
    pub matching: Histogram<u64>,
    /// Publishing one loop's events.
    pub publish: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        // Two significant digits (values to within 1 %): the shard copies these out every
        // 10 ms and whenever it goes idle, and at three digits that copy was 221 KB a
        // histogram, ~20 µs of the shard's time hot in cache (8x less at two digits).
        let h = || {
            Histogram::new_with_bounds(1, 60_000_000_000, 2)
                .unwrap_or_else(|_| unreachable!("1 ns .. 60 s at 2 digits are valid bounds"))
        };
        Latencies {
            queue_wait: h(),
            matching: h(),
            publish: h(),
        }
    }
}

/// Rejections by reason code (one counter per [`REASONS`] entry).
#[derive(Debug)]
pub struct Rejects([AtomicU64; REASONS.len()]);

impl Default for Rejects {
    fn default() -> Self {
        Rejects(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl std::ops::Deref for Rejects {
    type Target = [AtomicU64; REASONS.len()];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// A shard's shared counters.
#[derive(Debug, Default)]
pub struct ShardStats {
    /// Commands executed (sequenced).
    pub commands: AtomicU64,
    /// Events published.
    pub events: AtomicU64,
    /// Rejections by reason code.
    pub rejects: Rejects,
    /// Commands parked behind an earlier command naming the same order.
    pub parked: AtomicU64,
    /// Loops that did work.
    pub busy_loops: AtomicU64,
    /// Times the shard parked.
    pub parks: AtomicU64,
    /// Times the shard waited for a full event buffer.
    pub event_waits: AtomicU64,
    /// Events discarded because the engine was dropped or stopped with nobody polling.
    pub events_discarded: AtomicU64,
    /// Priority lane depth now / highest.
    pub priority_depth: AtomicU64,
    /// Highest priority lane depth seen.
    pub priority_high: AtomicU64,
    /// Normal lane depth now.
    pub normal_depth: AtomicU64,
    /// Highest normal lane depth seen.
    pub normal_high: AtomicU64,
    /// Thread CPU time, ns (updated with the snapshot).
    pub cpu_ns: AtomicU64,
    /// Latency snapshot.
    pub latencies: Mutex<Latencies>,
}

impl ShardStats {
    /// Count one rejection.
    pub fn reject(&self, reason: u8) {
        if let Some(c) = self.rejects.get(reason as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
    /// A copy of the latency histograms.
    pub fn latencies(&self) -> Latencies {
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The shard thread's side: the shared counters plus its own histograms.
#[derive(Debug)]
pub struct StatsWriter {
    shared: Arc<ShardStats>,
    local: Latencies,
    dirty: bool,
}

impl Deref for StatsWriter {
    type Target = ShardStats;
    fn deref(&self) -> &ShardStats {
        &self.shared
    }
}

impl StatsWriter {
    /// A writer for `shared`.
    pub fn new(shared: Arc<ShardStats>) -> StatsWriter {
        StatsWriter {
            shared,
            local: Latencies::default(),
            dirty: false,
        }
    }
    /// Record a queue wait.
    #[inline]
    pub fn queue_wait(&mut self, ns: u64) {
        let _ = self.local.queue_wait.record(ns.max(1));
        self.dirty = true;
    }
    /// Record a match time.
    #[inline]
    pub fn matching(&mut self, ns: u64) {
        let _ = self.local.matching.record(ns.max(1));
    }
    /// Record a publish time.
    #[inline]
    pub fn publish_time(&mut self, ns: u64) {
        let _ = self.local.publish.record(ns.max(1));
    }
    /// Record lane depths.
    #[inline]
    pub fn lane_depth(&self, priority: u64, normal: u64) {
        let s = &self.shared;
        s.priority_depth.store(priority, Ordering::Relaxed);
        s.normal_depth.store(normal, Ordering::Relaxed);
        if priority > s.priority_high.load(Ordering::Relaxed) {
            s.priority_high.store(priority, Ordering::Relaxed);
        }
        if normal > s.normal_high.load(Ordering::Relaxed) {
            s.normal_high.store(normal, Ordering::Relaxed);
        }
    }
    /// Copy the histograms and the thread's CPU time into the shared snapshot.
    pub fn publish(&mut self) {
        self.shared.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let mut g = self
            .shared
            .latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        g.clone_from(&self.local);
    }
}

/// CPU time of the calling thread, ns.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Name of a reason code, for stats tables.
pub fn reason_name(code: usize) -> &'static str {
    REASONS.get(code).copied().unwrap_or("?")
}
