//! Injectable clocks: monotonic nanoseconds by default, a manual clock for tests and replay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Where the book's timestamps come from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Nanoseconds since the clock was created (monotonic).
    Monotonic(Instant),
    /// A value the caller sets; shared, so a test or replay can advance it.
    Manual(Arc<AtomicU64>),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::Monotonic(Instant::now())
    }
}

impl Clock {
    /// A manual clock starting at `start` and the handle that moves it.
    pub fn manual(start: u64) -> (Clock, Arc<AtomicU64>) {
        let h = Arc::new(AtomicU64::new(start));
        (Clock::Manual(h.clone()), h)
    }

    /// Current time in nanoseconds.
    #[inline]
    pub fn now(&self) -> u64 {
        match self {
            Clock::Monotonic(t0) => u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Clock::Manual(v) => v.load(Ordering::Relaxed),
        }
    }
}
