//! What a call costs, the same on every run of the same input, in two measures: the code
//! regions it ran in every crate built for the target, the standard library included
//! (`scripts/fuzz.sh` builds them all with `-Cinstrument-coverage`, whose counters count each
//! region's runs), and the bytes it allocated (the copies libc's `memcpy` makes are not
//! Rust). A linear parse costs at most a fixed amount of each per input byte, and the same
//! input repeated four times as often costs about four times as much; `assert_linear` fails
//! a parse that does not.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// What any call may cost whatever its input's size (setting up, the first allocation of each
/// table), so that tiny inputs are not held to a per-byte rate.
const FIXED: Cost = Cost {
    regions: 100_000,
    allocated: 256 << 10,
};

/// What a call cost, or may cost per input byte.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Runs of instrumented code regions.
    pub regions: u64,
    /// Bytes allocated (freed or not).
    pub allocated: u64,
}

/// The system allocator, counting the bytes allocated.
struct Counting;

static ALLOCATED: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size as u64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// The bounds of the section that holds `-Cinstrument-coverage`'s counters, one u64 per
// region; weak, so that a build without the flag links and `regions_run` can say so.
unsafe extern "C" {
    #[linkage = "extern_weak"]
    static __start___llvm_prf_cnts: *const u64;
    #[linkage = "extern_weak"]
    static __stop___llvm_prf_cnts: *const u64;
}

const COUNTER_BYTES: usize = size_of::<u64>();

/// Runs of every instrumented region so far. Itself uninstrumented, and calling nothing that
/// is, so that reading costs nothing.
#[coverage(off)]
fn regions_run() -> u64 {
    // SAFETY: the linker defines both symbols as the bounds of the counters' section, an array
    // of u64 that only the instrumented code writes, on this thread.
    unsafe {
        let (start, stop) = (__start___llvm_prf_cnts, __stop___llvm_prf_cnts);
        assert!(
            !start.is_null() && stop > start,
            "no coverage counters: build with RUSTFLAGS=-Cinstrument-coverage (scripts/fuzz.sh does)"
        );
        // Only the language's own operations here: a call into the (instrumented) standard
        // library, even `size_of`, would count itself on every counter read.
        let (mut at, mut sum) = (start as usize, 0u64);
        while at < stop as usize {
            sum += *(at as *const u64);
            at += COUNTER_BYTES;
        }
        sum
    }
}

#[coverage(off)]
fn so_far() -> Cost {
    Cost {
        regions: regions_run(),
        allocated: ALLOCATED.load(Ordering::Relaxed),
    }
}

/// `f`'s result and what it cost.
#[coverage(off)]
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Cost) {
    let before = so_far();
    let result = f();
    let after = so_far();
    let cost = Cost {
        regions: after.regions - before.regions,
        allocated: after.allocated - before.allocated,
    };
    (result, cost)
}

/// `assert_linear` repeats an input `REPEATS.0` and `REPEATS.1` times: a linear parse of the
/// larger costs at most their ratio (4) times the smaller, where a quadratic one costs its
/// square (16). Not the input once against it repeated: a parse's cost may jump where a
/// repetition first completes what the input began (a frame for a repeat line to repeat, up
/// to the frames an exception keeps), and stay linear after.
const REPEATS: (usize, usize) = (4, 16);
/// The larger may cost this many times the smaller (the ratio 4, and a vector's growth that
/// may allocate up to twice what it ends with, in steps that do not scale exactly).
const REPEATED_BOUND: u64 = 8;
/// Inputs repeated only up to this size, so that a run stays fast.
const MAX_REPEATED_INPUT: usize = 2 << 10;

/// Fails when `cost` exceeds `per_byte` for each of `input_bytes` in either measure, plus a
/// fixed amount.
pub fn assert_per_byte(what: &str, input_bytes: usize, cost: Cost, per_byte: Cost) {
    let n = input_bytes as u64;
    let (regions, allocated) = (
        per_byte.regions * n + FIXED.regions,
        per_byte.allocated * n + FIXED.allocated,
    );
    assert!(
        cost.regions <= regions && cost.allocated <= allocated,
        "{what}: {cost:?} for {input_bytes} bytes, more than {per_byte:?} a byte"
    );
}

/// `parse(input)`, after failing when it costs more than `per_byte` (`assert_per_byte`), or
/// when `input` repeated `REPEATS.1` times costs more than `REPEATED_BOUND` times as much as
/// repeated `REPEATS.0` times, plus the fixed amount: a parse that is not linear shows on small inputs that way,
/// where its cost per byte still looks ordinary.
pub fn assert_linear<T>(what: &str, input: &[u8], per_byte: Cost, parse: impl Fn(&[u8]) -> T) -> T {
    let (parsed, once) = measure(|| parse(input));
    assert_per_byte(what, input.len(), once, per_byte);
    if input.len() <= MAX_REPEATED_INPUT {
        let (_, fewer) = measure(|| parse(&input.repeat(REPEATS.0)));
        let (_, more) = measure(|| parse(&input.repeat(REPEATS.1)));
        assert!(
            more.regions <= fewer.regions * REPEATED_BOUND + FIXED.regions
                && more.allocated <= fewer.allocated * REPEATED_BOUND + FIXED.allocated,
            "{what}: {more:?} for the input repeated {} times, {fewer:?} for it repeated {} times",
            REPEATS.1,
            REPEATS.0
        );
    }
    parsed
}
