//! Ingress lanes: per shard, a priority lane and a normal lane, both bounded lock-free MPMC
//! queues (`crossbeam_queue::ArrayQueue`), and the wake-up protocol between producers and the
//! shard thread.
//!
//! # Wake-up protocol
//! The shard, finding both lanes empty, spins, then yields, then announces that it is going to
//! sleep (`sleeping = true`, SeqCst), checks the lanes once more and parks. A producer pushes,
//! issues a SeqCst fence and, if `sleeping` is set, unparks the shard. Either the shard's
//! re-check sees the push or the producer sees the flag (the two SeqCst accesses cannot both
//! miss), and `unpark` before `park` is remembered by the thread's token, so a wake-up is never
//! lost. The shard parks with a timeout anyway, to run its timers (GTD expiry, halt ends,
//! breaker cool-down).
//!
//! The protocol is model-checked with loom: `tests/loom_lanes.rs` (the primitives come from
//! `crate::sync`, std in a normal build, loom's under `--cfg loom`); "Concurrency checks" in
//! `docs/architecture.md` says what the model covers and what it does not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crossbeam_utils::CachePadded;

use crate::sync::thread::{self, Thread};
use crate::sync::{fence, ArrayQueue, AtomicBool};

use crate::record::Command;

/// One item of a lane: a command, or a chunk of a batch (one queue slot for many commands).
#[derive(Debug)]
pub enum Ingress {
    /// One command.
    One(Command),
    /// Several commands, applied in order.
    Many(Box<[Command]>),
}

impl Ingress {
    /// Commands in the item.
    pub fn len(&self) -> usize {
        match self {
            Ingress::One(_) => 1,
            Ingress::Many(c) => c.len(),
        }
    }
    /// Whether the item holds no command.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Counters of one lane.
#[derive(Debug, Default)]
pub struct LaneStats {
    /// Commands pushed.
    pub pushed: AtomicU64,
    /// Times a producer found the lane full and waited.
    pub waits: AtomicU64,
    /// Pushes refused because the lane stayed full.
    pub rejections: AtomicU64,
    /// Highest depth (items) seen by the shard.
    pub high_water: AtomicU64,
}

/// A shard's two lanes and its wake-up state.
#[derive(Debug)]
pub struct Lanes {
    /// Cancels, mass cancels, halts, urgent orders.
    pub priority: ArrayQueue<Ingress>,
    /// Everything else.
    pub normal: ArrayQueue<Ingress>,
    /// Priority lane counters.
    pub priority_stats: LaneStats,
    /// Normal lane counters.
    pub normal_stats: LaneStats,
    sleeping: CachePadded<AtomicBool>,
    thread: OnceLock<Thread>,
}

impl Lanes {
    /// Lanes holding up to `priority` and `normal` items.
    pub fn new(priority: usize, normal: usize) -> Lanes {
        Lanes {
            priority: ArrayQueue::new(priority.max(1)),
            normal: ArrayQueue::new(normal.max(1)),
            priority_stats: LaneStats::default(),
            normal_stats: LaneStats::default(),
            sleeping: CachePadded::new(AtomicBool::new(false)),
            thread: OnceLock::new(),
        }
    }

    /// Record the shard thread (once, from the shard thread itself).
    pub fn set_thread(&self, t: Thread) {
        let _ = self.thread.set(t);
    }

    /// Try to push into the lane the item belongs to; gives the item back when full.
    ///
    /// # Errors
    /// The item, when the lane is full.
    pub fn try_push(&self, urgent: bool, item: Ingress) -> Result<(), Ingress> {
        let n = item.len() as u64;
        let (q, st) = if urgent {
            (&self.priority, &self.priority_stats)
        } else {
            (&self.normal, &self.normal_stats)
        };
        q.push(item)?;
        st.pushed.fetch_add(n, Ordering::Relaxed);
        self.wake();
        Ok(())
    }

    /// Wake the shard if it sleeps.
    #[inline]
    pub fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }

    /// Unpark the shard thread whether or not it sleeps in [`Lanes::park`] (the journal
    /// thread, after records became durable: the shard may wait in a plain park).
    pub fn unpark(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Whether both lanes are empty.
    pub fn is_empty(&self) -> bool {
        self.priority.is_empty() && self.normal.is_empty()
    }

    /// Park the calling shard thread for at most `timeout` unless work arrived.
    pub fn park(&self, timeout: std::time::Duration) {
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.is_empty() {
            thread::park_timeout(timeout);
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }

    /// Items queued now (both lanes).
    pub fn depth(&self) -> (usize, usize) {
        (self.priority.len(), self.normal.len())
    }
}
