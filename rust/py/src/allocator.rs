//! mimalloc options the extension sets when it loads, through mimalloc's own API.
//!
//! They used to be written into `os.environ` by `hftbook/__init__.py` before `_core` loaded,
//! which every child process of the user's program then inherited. Now the module's init
//! calls [`configure`] instead, and the environment is left alone.
//!
//! mimalloc (statically linked, built by `libmimalloc-sys`) reads every option from the
//! environment in its ELF constructor, when the extension is loaded, before any Rust code
//! runs. An option found there is marked *initialised*; `mi_option_set_default` changes only
//! options that are not, so a value the user put in the environment (also under mimalloc's
//! legacy names) still wins. Both options are read when they are used (a new arena's
//! reservation, a purge), not at process start, and when the module's init runs mimalloc
//! has reserved no arena yet (the extension's first Rust allocation happens in that init;
//! `MIMALLOC_VERBOSE=1` shows the first arena reserved after it), so setting them here has
//! the same effect as the environment had: `benches/memory_py.py` measures 63.5 B RSS per
//! resting order with it, 72.2 B with mimalloc's default. `tests/test_allocator.py` checks
//! the values and that the environment is left alone.

use std::os::raw::c_long;

use libmimalloc_sys::{mi_option_get, mi_option_set_default, mi_option_t};

/// `mi_option_arena_eager_commit` (mimalloc.h; the same index in mimalloc v2 and v3).
///
/// mimalloc's default on Linux (2: commit whole arena reservations up front on overcommit
/// systems) shows as ~9 bytes more RSS per resting order: 72.2 instead of 63.5 for 1M
/// orders (docs/performance.md). Committing on demand (0) costs nothing measurable.
const ARENA_EAGER_COMMIT: mi_option_t = 4;

/// `mi_option_purge_decommits` (mimalloc.h; the same index in mimalloc v2 and v3).
///
/// Memory mimalloc frees back is "purged" after a delay. Its default purge (1: decommit,
/// `MADV_DONTNEED` on Linux) drops the pages, so the next large allocation (a 1M-row batch
/// writes ~50 MB of results) faults every page in again and the kernel zeroes it: on this
/// project's VMs that cost up to 70 ms of system time inside a 50 ms batch. 0 purges with
/// `MADV_FREE` instead, which leaves the pages mapped until the kernel needs them (RSS shown
/// by `top` falls only then; the memory is available to other processes all along).
const PURGE_DECOMMITS: mi_option_t = 5;

/// The options [`configure`] sets and [`options`] reports, by mimalloc's name.
const OPTIONS: [(&str, mi_option_t, c_long); 2] = [
    ("arena_eager_commit", ARENA_EAGER_COMMIT, 0),
    ("purge_decommits", PURGE_DECOMMITS, 0),
];

/// Set hftbook's defaults for the mimalloc options above, unless the environment set them.
pub fn configure() {
    for (_, option, value) in OPTIONS {
        // SAFETY: `mi_option_set_default` takes any option index (it ignores one out of
        // range), touches only mimalloc's option table and may be called at any time.
        unsafe { mi_option_set_default(option, value) };
    }
}

/// The current value of each option [`configure`] sets, by mimalloc's name.
pub fn options() -> Vec<(&'static str, c_long)> {
    OPTIONS
        .iter()
        .map(|&(name, option, _)| {
            // SAFETY: `mi_option_get` takes any option index (0 for one out of range) and
            // only reads mimalloc's option table (reading the environment on first use).
            (name, unsafe { mi_option_get(option) })
        })
        .collect()
}
