//! Order routes: which symbol an engine order id belongs to, and how many commands named it.
//!
//! Ids come from one engine-wide counter, so the table is a lazily allocated array indexed by
//! id: a directory of pages of 65,536 `AtomicU64` entries (512 KiB a page, allocated on first
//! use with a compare-exchange, never freed while the engine lives: 8 bytes per order id
//! issued). An entry packs
//!
//! ```text
//! bits  0..20  applied: commands naming the order the shard has executed (submit included)
//! bits 20..40  issued:  commands naming the order producers have sent (submit included)
//! bits 40..64  symbol + 1 (0 = id never issued)
//! ```
//!
//! A producer's cancel or modify takes the next `issued` number as its `order_seq`; the shard
//! executes a command only when its `order_seq` equals `applied`, and parks it otherwise
//! until the commands before it have run. So commands that name one order take effect in the
//! order they were sent, whichever lane they took, and a cancel can never overtake the order
//! it names.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

const PAGE_BITS: u32 = 16;
const PAGE: usize = 1 << PAGE_BITS;
const DIR: usize = 1 << 16;
const FIELD: u64 = (1 << 20) - 1;
/// Most commands one order can receive (submit, cancels and modifies).
pub const MAX_ORDER_COMMANDS: u32 = FIELD as u32;

/// Why a route could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// The id was never issued by this engine.
    Unknown,
    /// The order already received [`MAX_ORDER_COMMANDS`] commands.
    TooManyCommands,
    /// The id is beyond the table (more than 2^32 orders).
    OutOfRange,
}

/// The id → (symbol, command counts) table. See the module docs.
#[derive(Debug)]
pub struct OrderRoutes {
    dir: Box<[AtomicPtr<AtomicU64>]>,
}

impl Default for OrderRoutes {
    fn default() -> Self {
        Self::new()
    }
}

impl OrderRoutes {
    /// An empty table.
    pub fn new() -> OrderRoutes {
        OrderRoutes {
            dir: (0..DIR)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        }
    }

    fn page(&self, id: u64, create: bool) -> Option<&[AtomicU64]> {
        let p = usize::try_from(id >> PAGE_BITS).ok()?;
        let slot = self.dir.get(p)?;
        let mut ptr = slot.load(Ordering::Acquire);
        if ptr.is_null() {
            if !create {
                return None;
            }
            let fresh: Box<[AtomicU64]> = (0..PAGE).map(|_| AtomicU64::new(0)).collect();
            let raw = Box::into_raw(fresh).cast::<AtomicU64>();
            match slot.compare_exchange(
                std::ptr::null_mut(),
                raw,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => ptr = raw,
                Err(existing) => {
                    let slice = std::ptr::slice_from_raw_parts_mut(raw, PAGE);
                    // SAFETY: `raw` came from `Box::into_raw` of a PAGE-long boxed slice above
                    // and was not published.
                    drop(unsafe { Box::from_raw(slice) });
                    ptr = existing;
                }
            }
        }
        let slice = std::ptr::slice_from_raw_parts(ptr.cast_const(), PAGE);
        // SAFETY: a non-null directory pointer is a PAGE-long page published with Release by
        // the CAS above and freed only in `Drop`, which needs `&mut self`.
        Some(unsafe { &*slice })
    }

    fn entry(&self, id: u64, create: bool) -> Option<&AtomicU64> {
        let page = self.page(id, create)?;
        page.get((id as usize) & (PAGE - 1))
    }

    /// Record a new order of `symbol` (its submit is command 0).
    ///
    /// # Errors
    /// [`RouteError::OutOfRange`] past 2^32 ids.
    pub fn open(&self, id: u64, symbol: u32) -> Result<(), RouteError> {
        let e = self.entry(id, true).ok_or(RouteError::OutOfRange)?;
        e.store(((symbol as u64 + 1) << 40) | (1 << 20), Ordering::Release);
        Ok(())
    }

    /// The symbol of an issued id.
    pub fn symbol(&self, id: u64) -> Option<u32> {
        let v = self.entry(id, false)?.load(Ordering::Acquire);
        let s = v >> 40;
        (s != 0).then(|| (s - 1) as u32)
    }

    /// Take the next command number of order `id`: its symbol and the `order_seq` the command
    /// must carry.
    ///
    /// # Errors
    /// Unknown id, or too many commands for one order.
    pub fn next_command(&self, id: u64) -> Result<(u32, u32), RouteError> {
        let e = self.entry(id, false).ok_or(RouteError::Unknown)?;
        let mut v = e.load(Ordering::Acquire);
        loop {
            if v >> 40 == 0 {
                return Err(RouteError::Unknown);
            }
            let issued = (v >> 20) & FIELD;
            if issued >= FIELD {
                return Err(RouteError::TooManyCommands);
            }
            match e.compare_exchange_weak(v, v + (1 << 20), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok((((v >> 40) - 1) as u32, issued as u32)),
                Err(now) => v = now,
            }
        }
    }

    /// Put back the route of an open order after a snapshot: `count` commands named it
    /// and all of them ran.
    ///
    /// # Errors
    /// [`RouteError::OutOfRange`] past 2^32 ids.
    pub fn restore(&self, id: u64, symbol: u32, count: u32) -> Result<(), RouteError> {
        let e = self.entry(id, true).ok_or(RouteError::OutOfRange)?;
        let c = u64::from(count) & FIELD;
        e.store(
            ((symbol as u64 + 1) << 40) | (c << 20) | c,
            Ordering::Release,
        );
        Ok(())
    }

    /// Commands of order `id` the shard has executed.
    pub fn applied(&self, id: u64) -> u32 {
        self.entry(id, false)
            .map_or(0, |e| (e.load(Ordering::Acquire) & FIELD) as u32)
    }

    /// The shard executed one more command of order `id`.
    pub fn mark_applied(&self, id: u64) {
        if let Some(e) = self.entry(id, false) {
            e.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for OrderRoutes {
    fn drop(&mut self) {
        for slot in self.dir.iter() {
            let p = slot.load(Ordering::Acquire);
            if !p.is_null() {
                let slice = std::ptr::slice_from_raw_parts_mut(p, PAGE);
                // SAFETY: every non-null pointer came from `Box::into_raw` in `page` and is
                // dropped once, here, with no other reference alive (`&mut self`).
                drop(unsafe { Box::from_raw(slice) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_commands_per_order() {
        let r = OrderRoutes::new();
        assert_eq!(r.next_command(5), Err(RouteError::Unknown));
        r.open(5, 3).unwrap();
        r.open(70_000, 0).unwrap();
        assert_eq!(r.symbol(5), Some(3));
        assert_eq!(r.symbol(70_000), Some(0));
        assert_eq!(r.symbol(6), None);
        assert_eq!(r.next_command(5), Ok((3, 1)));
        assert_eq!(r.next_command(5), Ok((3, 2)));
        assert_eq!(r.applied(5), 0);
        r.mark_applied(5);
        assert_eq!(r.applied(5), 1);
        assert_eq!(r.next_command(5), Ok((3, 3)));
        assert_eq!(r.applied(5), 1);
    }

    #[test]
    fn concurrent_open_of_one_page() {
        let r = std::sync::Arc::new(OrderRoutes::new());
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        r.open(i * 4 + t, t as u32).unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        for i in 0..40_000u64 {
            assert_eq!(r.symbol(i), Some((i % 4) as u32));
        }
    }
}
