//! Counts the core's own heap use. The collector's `memory_limiter` and Go's
//! runtime metrics see only Go's heap, so without this the memory held by the
//! Rust side (requests being sent, caches) would be invisible to operators.
//! The C ABI crate's global allocator reports to [`allocated`] and [`freed`].

use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static FREED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Records an allocation of `size` bytes; called by the global allocator.
pub fn allocated(size: usize) {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    ALLOCATED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
}

/// Records that `size` bytes were freed; called by the global allocator.
pub fn freed(size: usize) {
    FREED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_bytes_are_allocated_minus_freed() {
        // No global allocator reports here in the core's tests: only these calls count.
        let before = stats();
        allocated(100);
        allocated(50);
        freed(100);
        let after = stats();
        assert_eq!(after.allocations - before.allocations, 2);
        assert_eq!(after.allocated_bytes - before.allocated_bytes, 150);
        assert_eq!(after.live_bytes - before.live_bytes, 50);
    }
}
