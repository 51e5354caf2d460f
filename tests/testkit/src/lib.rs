//! Test support shared by Tipring's crates.
//!
//! [`Counting`] is a global allocator that counts the heap operations (allocations, frees,
//! reallocations) made by the current thread while [`count`] runs a closure. Both the switch
//! and the count are per thread, so tests running in parallel (one of which allocates on
//! purpose) cannot disturb each other. A test binary installs it with:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: tipring_testkit::Counting = tipring_testkit::Counting;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The counting allocator (forwards everything to the system allocator).
#[derive(Debug, Clone, Copy)]
pub struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static OPS: Cell<usize> = const { Cell::new(0) };
}

/// Counts one heap operation if this thread is counting.
fn note() {
    if ARMED.with(Cell::get) {
        OPS.with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every method forwards to the system allocator with the caller's arguments; the
// thread-local flag and counter are const-initialised `Cell`s, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` with counting on for this thread; returns its result and the heap operations
/// it made (0 unless [`Counting`] is the global allocator).
pub fn count<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = OPS.with(Cell::get);
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, OPS.with(Cell::get) - before)
}
