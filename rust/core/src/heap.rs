//! Counts the core's own heap use. The collector's `memory_limiter` and Go's
//! runtime metrics see only Go's heap, so without this the memory held by the
//! Rust side (requests being sent, caches) would be invisible to operators.
//! The C ABI crate installs [`CountingAllocator`] as the global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static FREED_BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting what passes through it.
pub struct CountingAllocator;

impl CountingAllocator {
    fn allocated(size: usize) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }

    fn freed(size: usize) {
        FREED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            Self::allocated(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            Self::allocated(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        Self::freed(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            Self::freed(layout.size());
            Self::allocated(new_size);
        }
        new
    }
}

/// Totals since the process started; all zero when the allocator is not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    pub allocations: u64,
    pub allocated_bytes: u64,
    /// Bytes allocated and not yet freed.
    pub live_bytes: u64,
}

pub fn stats() -> HeapStats {
    // Freed first: a free counted after its allocation was read would make live negative.
    let freed = FREED_BYTES.load(Ordering::Relaxed);
    let allocated_bytes = ALLOCATED_BYTES.load(Ordering::Relaxed);
    HeapStats {
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
        allocated_bytes,
        live_bytes: allocated_bytes.saturating_sub(freed),
    }
}
