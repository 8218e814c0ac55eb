//! The one way the core takes a lock.

use std::sync::{Mutex, MutexGuard};

/// Takes `mutex`, also after a thread panicked while holding it: every value the core guards
/// stays consistent between statements (counters, caches, queues), so a panic elsewhere is no
/// reason to stop exporting.
pub fn locked<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
