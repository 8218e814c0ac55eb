//! Stack-trace text (`exception.stacktrace`) parsed into Sentry exceptions
//! (`errors::stacktrace::parse`).
//!
//! Input: any bytes, read as UTF-8 with invalid sequences replaced.
//! Properties: no panic, with every runtime hint and with none; at most
//! `MAX_EXCEPTIONS` exceptions, each with at most `MAX_FRAMES` frames and
//! `frames_omitted` only when frames were dropped (then exactly `MAX_FRAMES`);
//! `apply_in_app` sets every frame's `in_app` when given prefixes; the cost of a parse is
//! linear: at most `ALLOCATIONS_PER_LINE` allocations per line of input per parser tried, and
//! `ALLOCATIONS_PER_FRAME` per frame of the result (allocations count the work that copies
//! frames and texts, where a parse that is not linear spends it).

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use sentry_exporter_core::errors::stacktrace::{
    apply_in_app, parse, Runtime, MAX_EXCEPTIONS, MAX_FRAMES,
};

const ALLOCATIONS_PER_LINE: u64 = 16;
const ALLOCATIONS_PER_FRAME: u64 = 8;
const ALLOCATIONS_AT_MOST_ANYWAY: u64 = 256;

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count() as u64 + 1;
    let hints = Runtime::ALL.into_iter().map(Some).chain([None]);
    for hint in hints {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let parsed = parse(&text, hint);
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let frames: u64 = parsed
            .iter()
            .flatten()
            .filter_map(|e| e.stacktrace.as_ref())
            .map(|s| s.frames.len() as u64)
            .sum();
        let parsers = Runtime::ALL.len() as u64;
        let bound = ALLOCATIONS_PER_LINE * lines * parsers
            + ALLOCATIONS_PER_FRAME * frames
            + ALLOCATIONS_AT_MOST_ANYWAY;
        assert!(
            allocations <= bound,
            "{hint:?}: {allocations} allocations for {lines} lines and {frames} frames"
        );
        let Some(mut exceptions) = parsed else {
            continue;
        };
        assert!(!exceptions.is_empty(), "{hint:?}");
        assert!(exceptions.len() <= MAX_EXCEPTIONS, "{hint:?}");
        for exception in &exceptions {
            let Some(stacktrace) = &exception.stacktrace else {
                continue;
            };
            assert!(!stacktrace.frames.is_empty(), "{hint:?}");
            assert!(stacktrace.frames.len() <= MAX_FRAMES, "{hint:?}");
            if stacktrace.frames_omitted.is_some() {
                assert_eq!(stacktrace.frames.len(), MAX_FRAMES, "{hint:?}");
            }
        }
        apply_in_app(&mut exceptions, &["/".to_owned(), "com.".to_owned()]);
        let frames = exceptions
            .iter()
            .filter_map(|e| e.stacktrace.as_ref())
            .flat_map(|s| &s.frames);
        for frame in frames {
            assert!(frame.in_app.is_some(), "{hint:?}");
        }
    }
});
