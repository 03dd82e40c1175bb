//! Injectable clocks: the CPU's invariant TSC calibrated to the monotonic clock by default
//! (via `quanta`, which falls back to the OS monotonic clock where no invariant TSC
//! exists), and a manual clock for tests and replay.
//!
//! The TSC matters here: on some virtual machines `clock_gettime` is a real system call
//! (~350 ns measured on this project's CI machines), more than a whole book operation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where the book's timestamps come from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Nanoseconds since the clock was created, from the TSC (or the OS monotonic clock).
    Monotonic {
        /// The calibrated counter.
        clock: quanta::Clock,
        /// Raw counter value at creation.
        start: u64,
    },
    /// A value the caller sets; shared, so a test or replay can advance it.
    Manual(Arc<AtomicU64>),
    /// Monotonic, plus a base the owner can move forward: a recovered engine continues the
    /// time of the journal it replayed instead of starting again at zero.
    Continued {
        /// The calibrated counter.
        clock: quanta::Clock,
        /// Raw counter value at creation.
        start: u64,
        /// Added to the elapsed time.
        base: Arc<AtomicU64>,
    },
}

impl Default for Clock {
    fn default() -> Self {
        let clock = quanta::Clock::new();
        let start = clock.raw();
        Clock::Monotonic { clock, start }
    }
}

impl Clock {
    /// A manual clock starting at `start` and the handle that moves it.
    pub fn manual(start: u64) -> (Clock, Arc<AtomicU64>) {
        let h = Arc::new(AtomicU64::new(start));
        (Clock::Manual(h.clone()), h)
    }

    /// A monotonic clock starting at zero whose base the returned handle can move.
    pub fn continued() -> (Clock, Arc<AtomicU64>) {
        let clock = quanta::Clock::new();
        let start = clock.raw();
        let base = Arc::new(AtomicU64::new(0));
        (
            Clock::Continued {
                clock,
                start,
                base: base.clone(),
            },
            base,
        )
    }

    /// Current time in nanoseconds.
    #[inline]
    pub fn now(&self) -> u64 {
        match self {
            Clock::Monotonic { clock, start } => clock.delta_as_nanos(*start, clock.raw()),
            Clock::Manual(v) => v.load(Ordering::Relaxed),
            Clock::Continued { clock, start, base } => {
                base.load(Ordering::Relaxed) + clock.delta_as_nanos(*start, clock.raw())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_advances_and_manual_is_settable() {
        let c = Clock::default();
        let a = c.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = c.now();
        assert!(b > a && b - a >= 1_000_000, "{a} -> {b}");
        let (m, h) = Clock::manual(5);
        assert_eq!(m.now(), 5);
        h.store(9, Ordering::Relaxed);
        assert_eq!(m.now(), 9);
    }
}
