//! The synchronisation primitives of the lanes' wake-up protocol ([`crate::lanes`]), behind one
//! seam so that the protocol can be model-checked with [loom](https://docs.rs/loom).
//!
//! In a normal build these are plain re-exports of `std` (and of `crossbeam_queue::ArrayQueue`):
//! no wrapper, no cost. Built with `RUSTFLAGS="--cfg loom"` (only `tests/loom_lanes.rs` is
//! meant to be), they are loom's instrumented versions, and:
//! - `park_timeout` is loom's plain `park`: loom has no timed park, and a park without timeout
//!   is what turns a lost wake-up into a deadlock that loom reports (with the timeout, a lost
//!   wake-up only costs `park_ms` of latency, which no test could see);
//! - `ArrayQueue` is `ModelQueue`, a bounded queue with the same small interface. crossbeam's
//!   `ArrayQueue` is not loom-aware (its atomics are invisible to loom), so it cannot be in
//!   the model. The stand-in is a ring whose consumer (the shard) takes no lock and reads
//!   the `head`/`tail` atomics, as crossbeam's `pop`/`is_empty` do: the shard's re-check
//!   before it parks goes through the memory model as it does with the real queue, and gets
//!   no free happens-before from a lock. What the model checks is the wake-up protocol (no
//!   lost wake-up, every pushed command consumed, stop drains everything); the queue itself
//!   is crossbeam's, which has its own loom tests.
//!
//! Only the protocol goes through this seam: the lanes' statistics counters stay `std`
//! atomics (Relaxed counters that no decision depends on; in the model they would only add
//! states).

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool};

#[cfg(not(loom))]
pub use crossbeam_queue::ArrayQueue;

#[cfg(loom)]
pub use model_queue::ModelQueue as ArrayQueue;

/// `std::thread` (or loom's): the shard's handle, and parking.
pub(crate) mod thread {
    #[cfg(not(loom))]
    pub(crate) use std::thread::{current, park_timeout, Thread};

    #[cfg(loom)]
    pub(crate) use loom::thread::{current, Thread};

    /// loom's `park`: no timeout in the model (see the module doc).
    #[cfg(loom)]
    pub(crate) fn park_timeout(_timeout: std::time::Duration) {
        loom::thread::park();
    }
}

#[cfg(loom)]
mod model_queue {
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Mutex;

    /// The model's stand-in for `crossbeam_queue::ArrayQueue`: a bounded FIFO ring for many
    /// producers and **one consumer** (a lane's only consumer is its shard).
    ///
    /// Producers take turns on a lock; the consumer takes none. `push` writes the slot and
    /// then publishes it by storing `tail` (crossbeam: the `tail` CAS, SeqCst, and the slot's
    /// stamp, Release); `pop`, `len` and `is_empty` read `head`/`tail` (crossbeam: SeqCst
    /// loads). So the shard's re-check before parking is ordered only by the atomics and the
    /// fences of the wake-up protocol, and the shard never blocks on anything but its park:
    /// loom's `unpark` of a thread blocked on a loom lock would be a false alarm, whereas a
    /// real unpark before the park is remembered. The slots are loom cells: loom also checks
    /// that no slot is read and written at once.
    #[derive(Debug)]
    pub struct ModelQueue<T> {
        slots: Box<[UnsafeCell<Option<T>>]>,
        /// Next slot to pop; written by the consumer only.
        head: AtomicUsize,
        /// Next slot to push; written under `push`.
        tail: AtomicUsize,
        push: Mutex<()>,
    }

    // SAFETY: a slot is written by a producer (holding `push`) only while it is outside
    // `head..tail`, then published by the Release store of `tail`; it is read by the single
    // consumer only once inside `head..tail` (Acquire load of `tail`), and handed back to the
    // producers by the Release store of `head`. loom checks this access discipline.
    unsafe impl<T: Send> Sync for ModelQueue<T> {}

    impl<T> ModelQueue<T> {
        /// A queue of at most `cap` items.
        ///
        /// # Panics
        /// When `cap` is 0, like crossbeam's.
        pub fn new(cap: usize) -> ModelQueue<T> {
            assert!(cap > 0, "capacity must be non-zero");
            ModelQueue {
                slots: (0..cap).map(|_| UnsafeCell::new(None)).collect(),
                head: AtomicUsize::new(0),
                tail: AtomicUsize::new(0),
                push: Mutex::new(()),
            }
        }

        /// Push at the back; gives the item back when full.
        ///
        /// # Errors
        /// The item, when the queue is full.
        pub fn push(&self, v: T) -> Result<(), T> {
            let _turn = self.push.lock().unwrap_or_else(|p| p.into_inner());
            let t = self.tail.load(Ordering::Relaxed);
            let h = self.head.load(Ordering::Acquire);
            if t - h == self.slots.len() {
                return Err(v);
            }
            self.slots[t % self.slots.len()].with_mut(|p| {
                // SAFETY: slot `t` is outside `head..tail`: no consumer reads it, and the
                // other producers wait for `push`.
                unsafe { *p = Some(v) }
            });
            self.tail.store(t + 1, Ordering::SeqCst);
            Ok(())
        }

        /// Pop from the front (the single consumer only).
        pub fn pop(&self) -> Option<T> {
            let h = self.head.load(Ordering::Relaxed);
            if self.tail.load(Ordering::SeqCst) == h {
                return None;
            }
            let v = self.slots[h % self.slots.len()].with_mut(|p| {
                // SAFETY: slot `h` is inside `head..tail` (published by the store of `tail`
                // read above) and only this consumer takes it.
                unsafe { (*p).take() }
            });
            self.head.store(h + 1, Ordering::SeqCst);
            v
        }

        /// Items queued.
        pub fn len(&self) -> usize {
            let h = self.head.load(Ordering::SeqCst);
            self.tail.load(Ordering::SeqCst).saturating_sub(h)
        }

        /// Whether no item is queued.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }
}
