//! The one counting global allocator of the workspace's tests and benches. Including this file
//! (`#[path = ".../tests/support/counting_alloc.rs"] mod counting_alloc;`) installs it as the
//! binary's `#[global_allocator]`; it is the only `unsafe` of the targets that include it.
//!
//! Every call is forwarded unchanged to the system allocator; what it keeps beside:
//!
//! - the live heap bytes of the whole process and their high-water mark ([`live`], [`peak`],
//!   [`reset_peak`]), over all threads, always on: the memory benches and the soak test;
//! - the number of allocations, reallocations and requested bytes made on one thread while it
//!   runs [`count`], and the sizes of the first of those in order ([`sizes`]): the allocation
//!   counts of `sigv4-core`'s `tests/allocations.rs` and `benches/allocations.rs`.
//!
//! A failed (null) allocation or reallocation changes nothing: no block was handed out or moved.
//!
//! It lives in the root `tests/support/` rather than in `sigv4-testkit` because it must reach
//! `sigv4-core`'s own tests (which cannot depend on the testkit, built on top of them) and it
//! needs `unsafe`, which the library crates forbid.
#![allow(dead_code)] // Each including target uses a part of this module.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The system allocator, observed by the counters of this module.
pub struct Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap bytes allocated and not yet freed, by every thread.
static LIVE: AtomicI64 = AtomicI64::new(0);
/// The highest [`LIVE`] since the start or the last [`reset_peak`].
static PEAK: AtomicI64 = AtomicI64::new(0);

/// Allocations, reallocations and their requested bytes on threads that are inside [`count`].
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
/// The sizes of the first few counted (re)allocations, in order.
static SIZES: [AtomicUsize; 16] = [const { AtomicUsize::new(0) }; 16];

thread_local! {
    /// Whether this thread is inside [`count`]. A `const` `Cell<bool>`: reading it never allocates.
    static ON: Cell<bool> = const { Cell::new(false) };
}

/// The live heap changed by `by` bytes (negative: shrank); raises the mark when it grew.
fn live_changed(by: i64) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    if by > 0 {
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

/// A (re)allocation of `size` bytes on this thread: counted when the thread is inside [`count`].
fn counted(realloc: bool, size: usize) {
    if !ON.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    if realloc {
        REALLOCS.fetch_add(1, Ordering::Relaxed);
    } else {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
    let n = ALLOCS.load(Ordering::Relaxed) + REALLOCS.load(Ordering::Relaxed);
    if let Some(slot) = SIZES.get(n.wrapping_sub(1)) {
        slot.store(size, Ordering::Relaxed);
    }
    BYTES.fetch_add(size, Ordering::Relaxed);
}

/// A new block of `size` bytes at `ptr` (nothing when null: the allocation failed); returns `ptr`.
fn allocated(ptr: *mut u8, size: usize) -> *mut u8 {
    if !ptr.is_null() {
        live_changed(size as i64);
        counted(false, size);
    }
    ptr
}

// SAFETY: every call is forwarded unchanged to the system allocator and its result returned
// unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours, passed through.
        allocated(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours, passed through.
        allocated(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, passed through.
        unsafe { System.dealloc(ptr, layout) };
        live_changed(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours, passed through.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            live_changed(new_size as i64 - layout.size() as i64);
            counted(true, new_size);
        }
        new
    }
}

/// Heap bytes allocated and not yet freed, by every thread of this binary.
pub fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// The highest [`live`] since the start or the last [`reset_peak`].
pub fn peak() -> i64 {
    PEAK.load(Ordering::Relaxed)
}

/// Lowers the high-water mark to the live heap now and returns that level: the baseline a
/// following [`peak`] is measured from.
pub fn reset_peak() -> i64 {
    let now = live();
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// What [`count`] saw: allocations, reallocations (which may move the block) and the bytes they
/// asked for, on the calling thread only.
pub type Counts = (usize, usize, usize);

/// One [`count`] at a time: its counters are shared by every thread of the binary, and the test
/// harness runs tests in parallel.
static MEASURING: Mutex<()> = Mutex::new(());

/// Runs `f` with counting on for this thread and returns what it gave and the [`Counts`] of its
/// (re)allocations on this thread.
pub fn count<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    ALLOCS.store(0, Ordering::Relaxed);
    REALLOCS.store(0, Ordering::Relaxed);
    BYTES.store(0, Ordering::Relaxed);
    ON.with(|on| on.set(true));
    let result = f();
    ON.with(|on| on.set(false));
    let counts = (
        ALLOCS.load(Ordering::Relaxed),
        REALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    (result, counts)
}

/// The sizes of the first `n` (at most 16) (re)allocations of the last [`count`], in order.
pub fn sizes(n: usize) -> Vec<usize> {
    SIZES
        .iter()
        .take(n)
        .map(|s| s.load(Ordering::Relaxed))
        .collect()
}
