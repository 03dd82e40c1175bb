//! A counting wrapper around any global allocator: live bytes, peak bytes and call counts,
//! kept with relaxed atomics (one `fetch_add` per call, plus a `fetch_max` only when a new
//! peak is reached), cheap enough to leave on.
//!
//! ```
//! use std::alloc::{GlobalAlloc, Layout, System};
//! use hftbook_core::profile::alloc::CountingAlloc;
//! static A: CountingAlloc<System> = CountingAlloc::new(System);
//! let l = Layout::from_size_align(100, 8).unwrap();
//! let p = unsafe { A.alloc(l) };
//! assert_eq!(A.stats().live_bytes, 100);
//! unsafe { A.dealloc(p, l) };
//! let s = A.stats();
//! assert_eq!((s.live_bytes, s.peak_bytes, s.allocations, s.deallocations), (0, 100, 1, 1));
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of a [`CountingAlloc`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Bytes currently allocated (requested sizes, not the allocator's rounding).
    pub live_bytes: u64,
    /// Highest `live_bytes` seen since start or the last [`CountingAlloc::reset_peak`].
    pub peak_bytes: u64,
    /// `alloc` / `alloc_zeroed` calls that succeeded.
    pub allocations: u64,
    /// `dealloc` calls.
    pub deallocations: u64,
    /// `realloc` calls that succeeded.
    pub reallocations: u64,
}

/// Wraps a [`GlobalAlloc`] and counts what goes through it.
#[derive(Debug)]
pub struct CountingAlloc<A> {
    inner: A,
    live: AtomicU64,
    peak: AtomicU64,
    allocs: AtomicU64,
    deallocs: AtomicU64,
    reallocs: AtomicU64,
}

impl<A> CountingAlloc<A> {
    /// Wrap `inner` (usable in a `static`).
    pub const fn new(inner: A) -> Self {
        CountingAlloc {
            inner,
            live: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            allocs: AtomicU64::new(0),
            deallocs: AtomicU64::new(0),
            reallocs: AtomicU64::new(0),
        }
    }

    /// The counters now (each read on its own: not one atomic snapshot).
    pub fn stats(&self) -> AllocStats {
        AllocStats {
            live_bytes: self.live.load(Relaxed),
            peak_bytes: self.peak.load(Relaxed),
            allocations: self.allocs.load(Relaxed),
            deallocations: self.deallocs.load(Relaxed),
            reallocations: self.reallocs.load(Relaxed),
        }
    }

    /// Restart peak tracking from the current live bytes.
    pub fn reset_peak(&self) {
        self.peak.store(self.live.load(Relaxed), Relaxed);
    }

    #[inline(always)]
    fn grew(&self, n: u64) {
        let now = self.live.fetch_add(n, Relaxed).wrapping_add(n);
        if now > self.peak.load(Relaxed) {
            self.peak.fetch_max(now, Relaxed);
        }
    }
}

// SAFETY: every method forwards to `inner` with the caller's arguments unchanged and only
// adds counter updates, so `inner`'s guarantees carry over.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            self.allocs.fetch_add(1, Relaxed);
            self.grew(layout.size() as u64);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            self.allocs.fetch_add(1, Relaxed);
            self.grew(layout.size() as u64);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.inner.dealloc(ptr, layout) };
        self.deallocs.fetch_add(1, Relaxed);
        self.live.fetch_sub(layout.size() as u64, Relaxed);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.reallocs.fetch_add(1, Relaxed);
            let (old, new) = (layout.size() as u64, new_size as u64);
            if new >= old {
                self.grew(new - old);
            } else {
                self.live.fetch_sub(old - new, Relaxed);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn counts_alloc_realloc_dealloc() {
        let a = CountingAlloc::new(System);
        let l = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: `l` has a non-zero size.
        let p = unsafe { a.alloc(l) };
        // SAFETY: `l` has a non-zero size.
        let q = unsafe { a.alloc_zeroed(l) };
        assert_eq!(a.stats().live_bytes, 128);
        // SAFETY: `p` was allocated by `a` with layout `l`; 256 is non-zero and no overflow.
        let p = unsafe { a.realloc(p, l, 256) };
        assert_eq!(a.stats().live_bytes, 320);
        let l2 = Layout::from_size_align(256, 8).unwrap();
        // SAFETY: `p` is now a block of `a` with layout `l2`; 16 is non-zero.
        let p = unsafe { a.realloc(p, l2, 16) };
        assert_eq!(a.stats().live_bytes, 80);
        // SAFETY: `p` is a block of `a` with size 16, alignment 8.
        unsafe { a.dealloc(p, Layout::from_size_align(16, 8).unwrap()) };
        // SAFETY: `q` was allocated by `a` with layout `l` and not freed yet.
        unsafe { a.dealloc(q, l) };
        let s = a.stats();
        assert_eq!(
            s,
            AllocStats {
                live_bytes: 0,
                peak_bytes: 320,
                allocations: 2,
                deallocations: 2,
                reallocations: 2
            }
        );
        a.reset_peak();
        assert_eq!(a.stats().peak_bytes, 0);
    }

    #[test]
    fn exact_under_threads() {
        static A: CountingAlloc<System> = CountingAlloc::new(System);
        let hs: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    let l = Layout::from_size_align(24, 8).unwrap();
                    for _ in 0..10_000 {
                        // SAFETY: `l` has a non-zero size.
                        let p = unsafe { A.alloc(l) };
                        // SAFETY: `p` was allocated by `A` with layout `l`.
                        unsafe { A.dealloc(p, l) };
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let s = A.stats();
        assert_eq!(
            (s.live_bytes, s.allocations, s.deallocations),
            (0, 40_000, 40_000)
        );
        assert!(s.peak_bytes >= 24 && s.peak_bytes <= 96);
    }
}
