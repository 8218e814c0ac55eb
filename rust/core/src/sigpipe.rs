//! A write to a connection the peer has closed raises SIGPIPE on the writing thread: hyper
//! writes requests with `writev`, which cannot ask for `MSG_NOSIGNAL`. In a Go host, SIGPIPE
//! on a thread Go did not create gets the default action and kills the whole process (exit
//! 141, nothing logged). Every thread of the core's runtime blocks it, so the write fails with
//! `EPIPE` instead: a transport error like any other. (The host's own threads that call into
//! the core are Go's, whose handler ignores SIGPIPE on sockets.)

use nix::sys::signal::{SigSet, Signal};

/// Blocks SIGPIPE on the calling thread; for the runtime's `on_thread_start`.
pub fn block_on_this_thread() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    // Fails only for an invalid `how`, which this is not; nothing to do about it if it did.
    let _ = set.thread_block();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigpipe_is_blocked_on_the_thread_that_asks() {
        let blocked = std::thread::spawn(|| {
            block_on_this_thread();
            SigSet::thread_get_mask().map(|mask| mask.contains(Signal::SIGPIPE))
        })
        .join()
        .ok();
        assert_eq!(blocked, Some(Ok(true)));
        let other = std::thread::spawn(|| {
            SigSet::thread_get_mask().map(|mask| mask.contains(Signal::SIGPIPE))
        })
        .join()
        .ok();
        assert_eq!(other, Some(Ok(false)), "only the asking thread is changed");
    }
}
