//! Pre-trade risk: the per-account state the shards share (lock-free), and the two checks
//! that span shards.
//!
//! Most limits are per symbol and checked by the symbol's shard from its own state: order
//! quantity and notional, the price collar, the position with the open orders that would
//! increase it. Two span the account's symbols on every shard, and use atomics, never a lock:
//!
//! * **open orders**: a per-account counter. A submit reserves its slot with a
//!   compare-exchange that fails at the limit; the slot is given back when the order closes
//!   (filled, cancelled, expired) or was never accepted. The limit is exact: concurrent
//!   submits on different shards cannot pass it together.
//! * **order rate**: a per-account GCRA (generic cell rate algorithm, a token bucket in one
//!   word): the theoretical arrival time moves by `1 / rate` per order and an order is
//!   admitted while it is at most `burst / rate` ahead of the engine clock; one
//!   compare-exchange, exact across shards.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;

/// One account's cross-shard risk state.
#[derive(Debug, Default)]
pub struct AccountShared {
    /// Open orders (all symbols, stops included), reserved at submit.
    pub open_orders: AtomicI64,
    /// GCRA theoretical arrival time, engine ns.
    pub tat: AtomicU64,
    /// Realized PnL minus fees since the start or the last end of session, nano-units of
    /// the quote currency (summed over the shards).
    pub realized_nanos: AtomicI64,
    /// The daily-loss kill switch fired (cleared with the counter).
    pub loss_tripped: std::sync::atomic::AtomicBool,
}

/// Every account's shared state, created on first use (copy on write, rare).
#[derive(Debug, Default)]
pub struct Accounts {
    map: ArcSwap<FxHashMap<u32, Arc<AccountShared>>>,
}

impl Accounts {
    /// The state of `account`, created when missing.
    pub fn get(&self, account: u32) -> Arc<AccountShared> {
        if let Some(a) = self.map.load().get(&account) {
            return a.clone();
        }
        let fresh = Arc::new(AccountShared::default());
        let mut out = fresh.clone();
        self.map.rcu(|m| {
            let mut m = (**m).clone();
            out = m.entry(account).or_insert_with(|| fresh.clone()).clone();
            m
        });
        out
    }

    /// Start a new session: every account's realized-loss counter back to zero.
    pub fn reset_daily(&self) {
        for s in self.map.load().values() {
            s.realized_nanos.store(0, Ordering::Release);
            s.loss_tripped.store(false, Ordering::Release);
        }
    }

    /// Set every account's open-order count (after a recovery rebuilt the books).
    pub fn reset_open_orders(&self, counts: &FxHashMap<u32, i64>) {
        for (a, s) in self.map.load().iter() {
            s.open_orders
                .store(counts.get(a).copied().unwrap_or(0), Ordering::Release);
        }
        for (a, n) in counts {
            self.get(*a).open_orders.store(*n, Ordering::Release);
        }
    }
}

/// Reserve one open order below `limit`; `Err(open)` when the account is at it.
pub fn reserve_open_order(open: &AtomicI64, limit: u64) -> Result<(), i64> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut cur = open.load(Ordering::Acquire);
    loop {
        if cur >= limit {
            return Err(cur);
        }
        match open.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(()),
            Err(v) => cur = v,
        }
    }
}

/// Admit one order at engine time `now` under `rate` orders/s with `burst`; `Err(wait_ns)`
/// when it comes too early.
pub fn admit_rate(tat: &AtomicU64, now: u64, rate: f64, burst: u64) -> Result<(), u64> {
    let interval = (1e9 / rate).max(1.0) as u64;
    let tolerance = interval.saturating_mul(burst.max(1));
    let mut cur = tat.load(Ordering::Acquire);
    loop {
        let next = cur.max(now).saturating_add(interval);
        if next > now.saturating_add(tolerance) {
            return Err(next - now - tolerance);
        }
        match tat.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(()),
            Err(v) => cur = v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_orders_stop_exactly_at_the_limit_across_threads() {
        let open = Arc::new(AtomicI64::new(0));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let o = open.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| reserve_open_order(&o, 100).is_ok())
                        .count()
                })
            })
            .collect();
        let won: usize = hs.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        assert_eq!(won, 100);
        assert_eq!(open.load(Ordering::Relaxed), 100);
    }

    #[test]
    fn rate_admits_the_burst_then_one_per_interval() {
        let tat = AtomicU64::new(0);
        let now = 1_000_000_000;
        // 10 orders/s, burst 3: three at once, then one every 100 ms.
        assert!((0..3).all(|_| admit_rate(&tat, now, 10.0, 3).is_ok()));
        let wait = admit_rate(&tat, now, 10.0, 3).unwrap_err();
        assert_eq!(wait, 100_000_000);
        assert!(admit_rate(&tat, now + 100_000_000, 10.0, 3).is_ok());
        assert!(admit_rate(&tat, now + 100_000_000, 10.0, 3).is_err());
    }
}
