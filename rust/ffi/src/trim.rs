//! Gives the memory the core freed back to the system. glibc's malloc keeps what is freed in
//! its arenas (one per thread that allocated) for reuse, so after a burst (an outage's events
//! waiting to be retried, a huge request) the process stayed at its peak RSS although the
//! core's heap was small again: 2.9 GB resident with 2 MiB live. A thread of the library
//! looks every few seconds and calls `malloc_trim` once the core has freed enough since the
//! last time, so the resident size follows the heap down within seconds.

use std::sync::Once;
use std::time::Duration;

use sentry_exporter_core::heap;

/// How often the thread looks.
const INTERVAL: Duration = Duration::from_secs(5);
/// Bytes the core frees before the arenas are trimmed: a steady flow of small batches frees
/// about this much a minute, a burst far more.
const FREED_BEFORE_TRIM: u64 = 32 << 20;

/// Whether to trim now, the core having freed `freed` bytes since the process started and
/// `freed_at_last_trim` when last trimmed.
fn due(freed: u64, freed_at_last_trim: u64) -> bool {
    freed.saturating_sub(freed_at_last_trim) >= FREED_BEFORE_TRIM
}

/// Starts the trimming thread, once per process; a no-op where malloc is not glibc's.
pub fn start() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("sentry-heap-trim".into())
            .spawn(run);
        // Without the thread the process keeps its peak RSS, as it did before: no reason to
        // fail the exporter.
        drop(spawned);
    });
}

fn run() {
    let mut freed_at_last_trim = 0;
    loop {
        std::thread::sleep(INTERVAL);
        let stats = heap::stats();
        let freed = stats.allocated_bytes.saturating_sub(stats.live_bytes);
        if due(freed, freed_at_last_trim) {
            trim();
            freed_at_last_trim = freed;
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases free memory of malloc's own arenas; it takes no
    // pointer and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_enough_was_freed_since_the_last_time() {
        let table = [
            (0, 0, false),
            (FREED_BEFORE_TRIM - 1, 0, false),
            (FREED_BEFORE_TRIM, 0, true),
            (3 * FREED_BEFORE_TRIM, 2 * FREED_BEFORE_TRIM + 1, false),
            (3 * FREED_BEFORE_TRIM, 2 * FREED_BEFORE_TRIM, true),
        ];
        for (freed, at_last, want) in table {
            assert_eq!(due(freed, at_last), want, "{freed} {at_last}");
        }
    }
}
