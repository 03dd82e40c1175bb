//! A real allocation failure of the order arena (through a global allocator that refuses
//! the arena's chunk size on demand) is an `OutOfMemory` error that changes nothing, not an
//! abort and not an order reported `Rested` that is not on the book.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

use hftbook_core::arena::CHUNK_BYTES;
use hftbook_core::*;

/// The system allocator, refusing allocations of exactly one arena chunk while `REFUSE`.
struct Refusing;

static REFUSE: AtomicBool = AtomicBool::new(false);

// SAFETY: every call is forwarded to `System` unchanged, except that an allocation may
// return null, which `GlobalAlloc` allows (allocation failure).
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() == CHUNK_BYTES && REFUSE.load(Ordering::Relaxed) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (only `System` allocates).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Refusing = Refusing;

#[test]
fn the_arena_reports_a_failed_allocation_and_the_book_is_unchanged() {
    let mut b: OrderBook<SkipLadder> = OrderBook::new();
    // One chunk (4096 records): fill it. One 4-lot sell at 1000, the rest above.
    b.submit(&NewOrder::limit(Side::Sell, 1000, 4), &mut ())
        .unwrap();
    for i in 1..4096i64 {
        b.submit(&NewOrder::limit(Side::Sell, 1001 + i % 7, 1), &mut ())
            .unwrap();
    }
    let seq = b.seq();
    REFUSE.store(true, Ordering::Relaxed);
    let mut reports = Vec::new();
    // Would trade 4 lots and rest 6: refused before trading.
    let r = b.submit(&NewOrder::limit(Side::Buy, 1000, 10), &mut reports);
    REFUSE.store(false, Ordering::Relaxed);
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            OrderError::OutOfMemory {
                bytes: CHUNK_BYTES,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("order arena"), "{e}");
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!((b.len(), b.seq(), b.trade_count()), (4096, seq, 0));
    b.check_invariants().unwrap();
    // Memory is back: the same order goes through.
    let ex = b
        .submit(&NewOrder::limit(Side::Buy, 1000, 10), &mut reports)
        .unwrap();
    assert_eq!((ex.filled_qty, ex.remaining_qty), (4, 6));
    assert_eq!(b.len(), 4096);
    b.check_invariants().unwrap();
}
