//! Memory hints for large buffers.

/// Ask the kernel to back a large, not yet touched buffer with transparent huge pages.
///
/// Parsing a level-10 LOBSTER sample writes ~47 MB of fresh output (and a zip load inflates
/// ~34 MB), a 1M-row batch ~50 MB of result arrays: with 4 KiB pages that is ~12,000-20,000
/// page faults, which on a VM cost about as much as the parsing itself. `MADV_HUGEPAGE` makes
/// that a few dozen 2 MiB faults where the kernel's THP mode is `madvise` (or `always`). A hint only: contents and semantics do not change, and
/// failure is ignored. Buffers below 4 MiB are left alone.
pub(crate) fn advise_huge_pages<T>(buf: &[T]) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let bytes = std::mem::size_of_val(buf);
        if bytes < (4 << 20) {
            return;
        }
        let start = buf.as_ptr() as usize;
        let aligned = start.next_multiple_of(PAGE);
        let len = (start + bytes).saturating_sub(aligned) / PAGE * PAGE;
        // SAFETY: [aligned, aligned + len) lies inside `buf`, memory this process owns;
        // MADV_HUGEPAGE changes only how it is backed, never its contents.
        unsafe {
            libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}
