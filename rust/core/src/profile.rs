//! Latency profiler: per-operation nanosecond timings recorded lock-free on the hot path,
//! merged on read into HDR histogram statistics; plus allocation counting ([`alloc`]) and
//! CPU time ([`cpu`]).
//!
//! # Design
//! A [`Profiler`] is a shared handle (cheap to clone, `Send + Sync`). Each writing thread
//! takes its own [`Recorder`] from it and times operations with [`Recorder::start`] /
//! [`Recorder::stop`]. A recorder owns, per operation kind, a fixed log-linear array of
//! [`BUCKETS`] counters plus count, sum, sum of squares, min and max. Its single owner writes
//! them with relaxed *load + store* (no read-modify-write instruction, no lock, no fence), so
//! recording costs a clock read pair and a handful of L1 stores. Any other thread calls
//! [`Profiler::snapshot`] at any time: it reads every recorder's counters (relaxed loads),
//! sums them and computes the statistics with an [`hdrhistogram::Histogram`]. The writer is
//! never stopped, locked or slowed by a snapshot; the snapshot's mutex only serialises
//! snapshots, registration and recorder retirement against each other.
//!
//! Switching off ([`Profiler::set_enabled`]) makes [`Recorder::start`] one relaxed load that
//! returns `None`; nothing else runs (no clock read, no store).
//!
//! # Clock
//! Durations come from `quanta`: the CPU's time-stamp counter, calibrated once per process
//! against the OS monotonic clock, when the CPU reports an invariant (or constant) TSC;
//! otherwise `quanta` transparently reads the OS monotonic clock instead (slower:
//! `clock_gettime`, a real system call on some VMs). [`Profiler::clock_source`] says which.
//!
//! # Resolution
//! Values below 128 ns land in their own bucket (exact). Above, a bucket spans at most 1/64
//! of its lower bound; the histogram is fed each bucket's midpoint and an HDR histogram with
//! 3 significant digits, so a reported percentile is within 1/128 + 1/1024 < 0.9 % of a
//! sample of that rank. `count`, `min`, `max`, `mean` and `stddev` are exact (from the
//! counters, not the buckets). Values above [`MAX_VALUE`] ns (~18 minutes) count in the
//! last bucket; `max` still holds the true value.
//!
//! # Example
//! ```
//! use hftbook_core::profile::{OpKind, Profiler};
//! let prof = Profiler::new(true);
//! let mut rec = prof.recorder();
//! let reader = prof.clone();
//! let t = std::thread::spawn(move || reader.snapshot()); // while recording goes on
//! for _ in 0..1000 {
//!     let s = rec.start();
//!     std::hint::black_box((0..10).sum::<u64>());
//!     rec.stop(OpKind::ADD, s);
//! }
//! assert!(t.join().unwrap().kind("add").unwrap().count <= 1000);
//! let snap = prof.snapshot();
//! assert_eq!(snap.kind("add").unwrap().count, 1000);
//! prof.set_enabled(false);
//! assert!(rec.start().is_none()); // switched off: nothing is timed
//! ```

pub mod alloc;
pub mod cpu;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use hdrhistogram::Histogram;

/// Maximum number of operation kinds one profiler tracks (5 built in, the rest named).
pub const MAX_KINDS: usize = 16;
/// Largest value with its own bucket range, in ns (2^40 - 1, about 18 minutes).
pub const MAX_VALUE: u64 = (1 << 40) - 1;
/// Sub-buckets per power of two above 128 ns (bucket width <= lower bound / 64).
const HALF: u64 = 64;
/// Number of buckets per operation kind.
pub const BUCKETS: usize = bucket_index(MAX_VALUE) + 1;

const BUILTIN: [&str; 5] = ["add", "cancel", "modify", "match", "batch"];

/// An operation kind: one of the built-in constants or a name registered with
/// [`Profiler::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpKind(u8);

impl OpKind {
    /// A new resting order that did not trade.
    pub const ADD: OpKind = OpKind(0);
    /// A cancel.
    pub const CANCEL: OpKind = OpKind(1);
    /// A modify (amend).
    pub const MODIFY: OpKind = OpKind(2);
    /// A submit that traded.
    pub const MATCH: OpKind = OpKind(3);
    /// A whole batch call.
    pub const BATCH: OpKind = OpKind(4);

    /// Index of this kind (0..[`MAX_KINDS`]).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Error of [`Profiler::kind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The profiler already tracks [`MAX_KINDS`] kinds.
    #[error("cannot register operation kind {name:?}: a profiler tracks at most {max} kinds")]
    TooManyKinds {
        /// The name asked for.
        name: String,
        /// [`MAX_KINDS`].
        max: usize,
    },
    /// The name is empty or not `[a-z0-9_]`.
    #[error("operation kind name {name:?} must be 1-32 characters of a-z, 0-9 and _")]
    InvalidName {
        /// The name asked for.
        name: String,
    },
}

/// Bucket of a value in ns: exact below 128, then 64 buckets per power of two.
#[inline]
pub const fn bucket_index(v: u64) -> usize {
    let v = if v > MAX_VALUE { MAX_VALUE } else { v };
    let msb = 63 - (v | 1).leading_zeros();
    let shift = msb.saturating_sub(6);
    (shift as u64 * HALF + (v >> shift)) as usize
}

/// Inclusive value range `(low, high)` of bucket `i`.
pub const fn bucket_bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    let shift = (i / HALF).saturating_sub(1);
    let low = (i - shift * HALF) << shift;
    (low, low + (1 << shift) - 1)
}

/// One kind's counters in one recorder. Written by one thread with load + store.
#[derive(Debug)]
struct Cells {
    count: AtomicU64,
    sum: AtomicU64,
    /// f64 bits of the sum of squares (a u64 would overflow at ~10^9 samples of 100 µs).
    sum_sq: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl Cells {
    fn new() -> Self {
        Cells {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            sum_sq: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Single-writer update: every store is a plain `mov` on x86; no RMW.
    #[inline]
    fn record(&self, ns: u64) {
        let b = &self.buckets[bucket_index(ns)];
        b.store(b.load(Relaxed) + 1, Relaxed);
        self.sum
            .store(self.sum.load(Relaxed).wrapping_add(ns), Relaxed);
        let sq = f64::from_bits(self.sum_sq.load(Relaxed)) + (ns as f64) * (ns as f64);
        self.sum_sq.store(sq.to_bits(), Relaxed);
        if ns < self.min.load(Relaxed) {
            self.min.store(ns, Relaxed);
        }
        if ns > self.max.load(Relaxed) {
            self.max.store(ns, Relaxed);
        }
        // Count last, Release: a reader that loads it (Acquire) sees at least that many
        // samples in the other counters.
        self.count.store(
            self.count.load(Relaxed) + 1,
            std::sync::atomic::Ordering::Release,
        );
    }

    fn clear(&self) {
        self.count.store(0, Relaxed);
        self.sum.store(0, Relaxed);
        self.sum_sq.store(0f64.to_bits(), Relaxed);
        self.min.store(u64::MAX, Relaxed);
        self.max.store(0, Relaxed);
        for b in self.buckets.iter() {
            b.store(0, Relaxed);
        }
    }
}

/// The counters of one recorder (or of the retired recorders).
#[derive(Debug)]
struct RecorderState {
    kinds: [OnceLock<Cells>; MAX_KINDS],
    /// Reset generation these counters belong to.
    generation: AtomicU64,
}

impl RecorderState {
    fn new(generation: u64) -> Self {
        RecorderState {
            kinds: std::array::from_fn(|_| OnceLock::new()),
            generation: AtomicU64::new(generation),
        }
    }

    fn clear(&self) {
        for c in self.kinds.iter().filter_map(OnceLock::get) {
            c.clear();
        }
    }
}

#[derive(Debug)]
struct Registry {
    live: Vec<Arc<RecorderState>>,
    /// Totals of dropped recorders (written only under the registry mutex).
    retired: RecorderState,
    names: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    /// bit 0: enabled; bits 1..: reset generation.
    state: AtomicU64,
    registry: Mutex<Registry>,
    clock: quanta::Clock,
}

/// A latency profiler shared by its recorders and readers. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Profiler {
    shared: Arc<Shared>,
}

impl Default for Profiler {
    fn default() -> Self {
        Profiler::new(false)
    }
}

/// A started timing: the raw clock value and the profiler state it was taken under.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    raw: u64,
    state: u64,
}

/// The per-thread writer of a [`Profiler`]. Not `Clone`: exactly one owner writes its
/// counters, which is what lets it record without read-modify-write instructions.
#[derive(Debug)]
pub struct Recorder {
    shared: Arc<Shared>,
    state: Arc<RecorderState>,
    clock: quanta::Clock,
    generation: u64,
}

impl Profiler {
    /// A profiler with the built-in kinds (add, cancel, modify, match, batch), recording
    /// or not.
    pub fn new(enabled: bool) -> Self {
        Profiler {
            shared: Arc::new(Shared {
                state: AtomicU64::new(u64::from(enabled)),
                registry: Mutex::new(Registry {
                    live: Vec::new(),
                    retired: RecorderState::new(0),
                    names: BUILTIN.iter().map(|s| (*s).to_string()).collect(),
                }),
                clock: quanta::Clock::new(),
            }),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.shared
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new recorder for the calling thread (or for a single-owner object such as a book).
    pub fn recorder(&self) -> Recorder {
        let generation = self.shared.state.load(Relaxed) >> 1;
        let state = Arc::new(RecorderState::new(generation));
        self.registry().live.push(state.clone());
        Recorder {
            shared: self.shared.clone(),
            state,
            clock: self.shared.clock.clone(),
            generation,
        }
    }

    /// The kind named `name`, registering it if new (names are `[a-z0-9_]{1,32}`).
    ///
    /// # Errors
    /// [`ProfileError::InvalidName`] for a bad name, [`ProfileError::TooManyKinds`] when
    /// [`MAX_KINDS`] kinds exist.
    pub fn kind(&self, name: &str) -> Result<OpKind, ProfileError> {
        if name.is_empty()
            || name.len() > 32
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ProfileError::InvalidName { name: name.into() });
        }
        let mut reg = self.registry();
        if let Some(i) = reg.names.iter().position(|n| n == name) {
            return Ok(OpKind(i as u8));
        }
        if reg.names.len() >= MAX_KINDS {
            return Err(ProfileError::TooManyKinds {
                name: name.into(),
                max: MAX_KINDS,
            });
        }
        reg.names.push(name.to_string());
        Ok(OpKind((reg.names.len() - 1) as u8))
    }

    /// Names of the registered kinds, by index.
    pub fn kind_names(&self) -> Vec<String> {
        self.registry().names.clone()
    }

    /// Whether recorders record.
    pub fn is_enabled(&self) -> bool {
        self.shared.state.load(Relaxed) & 1 == 1
    }

    /// Switch recording on or off (takes effect at each recorder's next `start`).
    pub fn set_enabled(&self, on: bool) {
        if on {
            self.shared.state.fetch_or(1, Relaxed);
        } else {
            self.shared.state.fetch_and(!1, Relaxed);
        }
    }

    /// Discard everything recorded so far. Each recorder clears its own counters at its
    /// next recording; until then snapshots ignore them. A snapshot racing the reset may
    /// still see part of the old counts.
    pub fn reset(&self) {
        let reg = self.registry();
        self.shared.state.fetch_add(2, Relaxed);
        reg.retired.clear();
    }

    /// `"tsc"` when durations come from the calibrated time-stamp counter, `"monotonic"`
    /// when `quanta` fell back to the OS monotonic clock.
    pub fn clock_source(&self) -> &'static str {
        // With the TSC, raw deltas are scaled by the calibration; the OS clock is identity.
        let probe = 1_000_000_007;
        if self.shared.clock.delta_as_nanos(0, probe) == probe {
            "monotonic"
        } else {
            "tsc"
        }
    }

    /// Statistics of every registered kind (recorded or not), merged over all recorders.
    /// Never blocks or slows a recorder.
    pub fn snapshot(&self) -> ProfileSnapshot {
        let reg = self.registry();
        let generation = self.shared.state.load(Relaxed) >> 1;
        let enabled = self.is_enabled();
        let current: Vec<&RecorderState> = reg
            .live
            .iter()
            .map(|s| &**s)
            .filter(|s| s.generation.load(std::sync::atomic::Ordering::Acquire) == generation)
            .chain(std::iter::once(&reg.retired))
            .collect();
        let kinds = reg
            .names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let mut acc = Accum::new();
                for s in &current {
                    if let Some(c) = s.kinds[k].get() {
                        acc.add(c);
                    }
                }
                acc.stats(name)
            })
            .collect();
        ProfileSnapshot {
            kinds,
            enabled,
            clock_source: self.clock_source(),
        }
    }
}

impl Recorder {
    /// Start timing an operation: `None` (one relaxed load, nothing else) when profiling
    /// is off.
    #[inline(always)]
    pub fn start(&self) -> Option<Start> {
        let state = self.shared.state.load(Relaxed);
        if state & 1 == 0 {
            None
        } else {
            Some(Start {
                raw: self.clock.raw(),
                state,
            })
        }
    }

    /// Finish timing: record the elapsed ns under `kind` (nothing when `start` is `None`).
    /// Returns the recorded duration.
    #[inline(always)]
    pub fn stop(&mut self, kind: OpKind, start: Option<Start>) -> Option<u64> {
        let s = start?;
        let ns = self.clock.delta_as_nanos(s.raw, self.clock.raw());
        self.put(kind, ns, s.state >> 1);
        Some(ns)
    }

    /// Time `f` under `kind`.
    #[inline]
    pub fn time<R>(&mut self, kind: OpKind, f: impl FnOnce() -> R) -> R {
        let s = self.start();
        let r = f();
        self.stop(kind, s);
        r
    }

    /// Record a duration measured elsewhere (if profiling is on).
    #[inline]
    pub fn record(&mut self, kind: OpKind, ns: u64) {
        let state = self.shared.state.load(Relaxed);
        if state & 1 == 1 {
            self.put(kind, ns, state >> 1);
        }
    }

    #[inline(always)]
    fn put(&mut self, kind: OpKind, ns: u64, generation: u64) {
        if generation != self.generation {
            self.catch_up(generation);
        }
        self.state.kinds[kind.index()]
            .get_or_init(Cells::new)
            .record(ns);
    }

    #[cold]
    fn catch_up(&mut self, generation: u64) {
        self.state.clear();
        self.generation = generation;
        self.state
            .generation
            .store(generation, std::sync::atomic::Ordering::Release);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let shared = self.shared.clone();
        let mut reg = shared
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reg.live.retain(|s| !Arc::ptr_eq(s, &self.state));
        if self.state.generation.load(Relaxed) == shared.state.load(Relaxed) >> 1 {
            for (k, cells) in self.state.kinds.iter().enumerate() {
                let Some(c) = cells.get() else { continue };
                let r = reg.retired.kinds[k].get_or_init(Cells::new);
                let add = |a: &AtomicU64, b: &AtomicU64| {
                    a.store(a.load(Relaxed).wrapping_add(b.load(Relaxed)), Relaxed)
                };
                add(&r.count, &c.count);
                add(&r.sum, &c.sum);
                let sq =
                    f64::from_bits(r.sum_sq.load(Relaxed)) + f64::from_bits(c.sum_sq.load(Relaxed));
                r.sum_sq.store(sq.to_bits(), Relaxed);
                r.min
                    .store(r.min.load(Relaxed).min(c.min.load(Relaxed)), Relaxed);
                r.max
                    .store(r.max.load(Relaxed).max(c.max.load(Relaxed)), Relaxed);
                for (rb, cb) in r.buckets.iter().zip(c.buckets.iter()) {
                    add(rb, cb);
                }
            }
        }
    }
}

/// Sums of counters over recorders.
struct Accum {
    count: u64,
    sum: u64,
    sum_sq: f64,
    min: u64,
    max: u64,
    buckets: Vec<u64>,
}

impl Accum {
    fn new() -> Self {
        Accum {
            count: 0,
            sum: 0,
            sum_sq: 0.0,
            min: u64::MAX,
            max: 0,
            buckets: vec![0; BUCKETS],
        }
    }

    fn add(&mut self, c: &Cells) {
        // Count first (Acquire pairs with the writer's Release): the rest holds >= count.
        self.count += c.count.load(std::sync::atomic::Ordering::Acquire);
        self.sum = self.sum.wrapping_add(c.sum.load(Relaxed));
        self.sum_sq += f64::from_bits(c.sum_sq.load(Relaxed));
        self.min = self.min.min(c.min.load(Relaxed));
        self.max = self.max.max(c.max.load(Relaxed));
        for (a, b) in self.buckets.iter_mut().zip(c.buckets.iter()) {
            *a += b.load(Relaxed);
        }
    }

    fn stats(self, name: &str) -> KindStats {
        let mut st = KindStats {
            name: name.to_string(),
            ..KindStats::default()
        };
        if self.count == 0 {
            return st;
        }
        st.count = self.count;
        st.min = self.min;
        st.max = self.max;
        let n = self.count as f64;
        st.mean = self.sum as f64 / n;
        st.stddev = (self.sum_sq / n - st.mean * st.mean).max(0.0).sqrt();
        st.buckets = self
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| {
                let (lo, hi) = bucket_bounds(i);
                (lo, hi, c)
            })
            .collect();
        // Bounds cover every bucket midpoint; `new_with_bounds` cannot fail for them.
        if let Ok(mut h) = Histogram::<u64>::new_with_bounds(1, MAX_VALUE, 3) {
            for &(lo, hi, c) in &st.buckets {
                let _ = h.record_n((lo + (hi - lo) / 2).max(1), c);
            }
            let q = |p: f64| h.value_at_quantile(p).clamp(self.min, self.max);
            st.p50 = q(0.50);
            st.p90 = q(0.90);
            st.p99 = q(0.99);
            st.p999 = q(0.999);
            st.p9999 = q(0.9999);
        }
        st
    }
}

/// Statistics of one operation kind, in nanoseconds (all 0 when `count` is 0).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindStats {
    /// Kind name (`add`, `cancel`, ...).
    pub name: String,
    /// Operations recorded.
    pub count: u64,
    /// Fastest (exact).
    pub min: u64,
    /// Slowest (exact).
    pub max: u64,
    /// Mean (exact).
    pub mean: f64,
    /// Population standard deviation (exact up to f64 rounding).
    pub stddev: f64,
    /// Median (within 0.9 %).
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Non-empty histogram buckets: `(low, high, count)`, `low..=high` ns, ascending.
    pub buckets: Vec<(u64, u64, u64)>,
}

/// What [`Profiler::snapshot`] returns.
#[derive(Debug, Clone)]
pub struct ProfileSnapshot {
    /// One entry per registered kind, by kind index.
    pub kinds: Vec<KindStats>,
    /// Whether profiling was on.
    pub enabled: bool,
    /// `"tsc"` or `"monotonic"` (see [`Profiler::clock_source`]).
    pub clock_source: &'static str,
}

impl ProfileSnapshot {
    /// The statistics of the kind named `name`.
    pub fn kind(&self, name: &str) -> Option<&KindStats> {
        self.kinds.iter().find(|k| k.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        assert_eq!(bucket_index(0), 0);
        assert_eq!(bucket_index(127), 127);
        let mut prev_hi = None;
        for i in 0..BUCKETS {
            let (lo, hi) = bucket_bounds(i);
            if let Some(p) = prev_hi {
                assert_eq!(lo, p + 1, "bucket {i}");
            }
            assert_eq!(bucket_index(lo), i);
            assert_eq!(bucket_index(hi), i);
            if lo >= 128 {
                assert!((hi - lo + 1) * 64 <= lo, "bucket {i} too wide: {lo}..{hi}");
            } else {
                assert_eq!(lo, hi);
            }
            prev_hi = Some(hi);
        }
        assert_eq!(bucket_bounds(BUCKETS - 1).1, MAX_VALUE);
        assert_eq!(bucket_index(u64::MAX), BUCKETS - 1);
    }

    fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn stats_match_exact_values_within_resolution() {
        let prof = Profiler::new(true);
        let mut rec = prof.recorder();
        // A skewed, wide set: 1 ns .. ~50 ms.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut vals = Vec::new();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = 1 + ((x % 1000) * (x % 1000) * (x >> 54)) / 20 + (x % 97);
            vals.push(v);
            rec.record(OpKind::CANCEL, v);
        }
        let s = prof.snapshot();
        let st = s.kind("cancel").unwrap();
        vals.sort_unstable();
        let n = vals.len() as f64;
        assert_eq!(st.count, vals.len() as u64);
        assert_eq!(st.min, vals[0]);
        assert_eq!(st.max, *vals.last().unwrap());
        let mean = vals.iter().sum::<u64>() as f64 / n;
        assert!((st.mean - mean).abs() < 1e-9 * mean);
        let var = vals.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!((st.stddev - var.sqrt()).abs() < 1e-6 * var.sqrt());
        for (q, got) in [
            (0.5, st.p50),
            (0.9, st.p90),
            (0.99, st.p99),
            (0.999, st.p999),
            (0.9999, st.p9999),
        ] {
            let want = exact_quantile(&vals, q);
            let err = (got as f64 - want as f64).abs() / want as f64;
            assert!(err <= 0.009, "q={q}: got {got}, exact {want}, err {err}");
        }
        assert_eq!(st.buckets.iter().map(|b| b.2).sum::<u64>(), st.count);
        // Small values are exact.
        let mut r2 = prof.recorder();
        for v in [5, 5, 7, 100, 127] {
            r2.record(OpKind::MODIFY, v);
        }
        let m = prof.snapshot();
        let m = m.kind("modify").unwrap();
        assert_eq!((m.p50, m.p90, m.min, m.max), (7, 127, 5, 127));
    }

    #[test]
    fn off_records_nothing_and_reset_clears() {
        let prof = Profiler::new(false);
        let mut rec = prof.recorder();
        assert!(rec.start().is_none());
        rec.time(OpKind::ADD, || ());
        rec.record(OpKind::ADD, 10);
        assert_eq!(prof.snapshot().kind("add").unwrap().count, 0);
        prof.set_enabled(true);
        assert!(prof.is_enabled());
        rec.time(OpKind::ADD, || ());
        rec.record(OpKind::ADD, 10);
        assert_eq!(prof.snapshot().kind("add").unwrap().count, 2);
        prof.reset();
        let s = prof.snapshot();
        assert_eq!(
            s.kind("add").unwrap().count,
            0,
            "reset hides old counts at once"
        );
        rec.record(OpKind::MATCH, 50);
        let s = prof.snapshot();
        assert_eq!(s.kind("add").unwrap().count, 0);
        assert_eq!(s.kind("match").unwrap().count, 1);
        assert_eq!(s.kind("match").unwrap().p50, 50);
    }

    #[test]
    fn named_kinds_and_errors() {
        let prof = Profiler::new(true);
        let k = prof.kind("risk_check").unwrap();
        assert_eq!(k.index(), 5);
        assert_eq!(prof.kind("risk_check").unwrap(), k);
        assert_eq!(prof.kind("add").unwrap(), OpKind::ADD);
        assert!(matches!(
            prof.kind("Bad Name"),
            Err(ProfileError::InvalidName { .. })
        ));
        for i in 6..MAX_KINDS {
            prof.kind(&format!("k{i}")).unwrap();
        }
        let e = prof.kind("one_too_many").unwrap_err();
        assert!(e.to_string().contains("at most 16"), "{e}");
        let mut rec = prof.recorder();
        rec.record(k, 1234);
        let s = prof.snapshot();
        assert_eq!(s.kinds.len(), MAX_KINDS);
        assert_eq!(s.kind("risk_check").unwrap().count, 1);
    }

    #[test]
    fn dropped_recorders_keep_their_counts() {
        let prof = Profiler::new(true);
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let mut rec = prof.recorder();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        rec.record(OpKind::ADD, 100 + t * 1000 + i);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let s = prof.snapshot();
        let a = s.kind("add").unwrap();
        assert_eq!(a.count, 4000);
        assert_eq!((a.min, a.max), (100, 3000 + 100 + 999));
        prof.reset();
        assert_eq!(prof.snapshot().kind("add").unwrap().count, 0);
    }

    #[test]
    fn snapshot_while_writing_is_monotone_and_final_total_exact() {
        const N: u64 = 300_000;
        let prof = Profiler::new(true);
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let mut rec = prof.recorder();
                std::thread::spawn(move || {
                    for i in 0..N {
                        let s = rec.start();
                        std::hint::black_box(i);
                        rec.stop(
                            if i % 3 == 0 {
                                OpKind::CANCEL
                            } else {
                                OpKind::ADD
                            },
                            s,
                        );
                    }
                })
            })
            .collect();
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let prof = prof.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut last = (0, 0);
                let mut snaps = 0;
                while !done.load(Relaxed) || snaps == 0 {
                    let s = prof.snapshot();
                    let a = s.kind("add").unwrap();
                    let c = s.kind("cancel").unwrap();
                    assert!(a.count >= last.0 && c.count >= last.1, "counts went back");
                    let in_buckets: u64 = a.buckets.iter().map(|b| b.2).sum();
                    assert!(in_buckets >= a.count, "buckets behind count");
                    last = (a.count, c.count);
                    snaps += 1;
                }
                snaps
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Relaxed);
        assert!(reader.join().unwrap() > 0);
        let s = prof.snapshot();
        let per_writer_cancels = N.div_ceil(3);
        assert_eq!(s.kind("cancel").unwrap().count, 2 * per_writer_cancels);
        assert_eq!(s.kind("add").unwrap().count, 2 * (N - per_writer_cancels));
    }

    #[test]
    fn clock_source_is_named() {
        let p = Profiler::default();
        assert!(["tsc", "monotonic"].contains(&p.clock_source()));
        assert!(!p.is_enabled());
    }
}
