//! When one export must end: its own timeout, or the end of the host's shutdown grace,
//! whichever comes first. The shutdown deadline can arrive while the export runs.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

use crate::clock::{Clock, Instant};

/// The shutdown deadline shared by every export: `None` until the host begins to stop.
pub type StopAt = watch::Receiver<Option<Instant>>;

#[derive(Clone)]
pub struct Deadline {
    own: Instant,
    stop: StopAt,
    clock: Arc<dyn Clock>,
}

/// The deadline passed before the work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineReached;

impl Deadline {
    pub fn new(own: Instant, stop: StopAt, clock: Arc<dyn Clock>) -> Deadline {
        Deadline { own, stop, clock }
    }

    /// The earlier of the export's own deadline and the shutdown deadline, as known now.
    fn current(&self) -> Instant {
        match *self.stop.borrow() {
            Some(stop) => stop.min(self.own),
            None => self.own,
        }
    }

    /// Resolves when the deadline passes, following a shutdown deadline set meanwhile.
    pub async fn reached(&self) {
        let mut stop = self.stop.clone();
        loop {
            let at = self.current();
            tokio::select! {
                _ = self.clock.sleep_until(at) => return,
                changed = stop.changed() => {
                    if changed.is_err() {
                        // The sender is gone with its service: only the own deadline is left.
                        self.clock.sleep_until(self.own).await;
                        return;
                    }
                }
            }
        }
    }

    /// `work`, unless the deadline passes first (then `work` is dropped, cancelling it).
    pub async fn within<F: Future>(&self, work: F) -> Result<F::Output, DeadlineReached> {
        tokio::select! {
            biased;
            out = work => Ok(out),
            _ = self.reached() => Err(DeadlineReached),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn ends_at_its_own_deadline_without_shutdown() {
        let (_stop, rx) = watch::channel(None);
        let start = Instant::now();
        let deadline = Deadline::new(
            start + Duration::from_secs(30),
            rx,
            Arc::new(TokioClock::new()),
        );
        deadline.reached().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_deadline_set_meanwhile_cuts_it_short() {
        let (stop, rx) = watch::channel(None);
        let start = Instant::now();
        let deadline = Deadline::new(
            start + Duration::from_secs(30),
            rx,
            Arc::new(TokioClock::new()),
        );
        let waiting = tokio::spawn(async move {
            deadline
                .within(std::future::pending::<()>())
                .await
                .map(|_| ())
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.send_replace(Some(Instant::now() + Duration::from_secs(3)));
        assert_eq!(waiting.await.ok(), Some(Err(DeadlineReached)));
        assert_eq!(Instant::now() - start, Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_shutdown_deadline_does_not_extend_its_own() {
        let start = Instant::now();
        let (_stop, rx) = watch::channel(Some(start + Duration::from_secs(60)));
        let deadline = Deadline::new(
            start + Duration::from_secs(5),
            rx,
            Arc::new(TokioClock::new()),
        );
        deadline.reached().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn work_done_in_time_gives_its_output() {
        let (_stop, rx) = watch::channel(None);
        let deadline = Deadline::new(
            Instant::now() + Duration::from_secs(5),
            rx,
            Arc::new(TokioClock::new()),
        );
        assert_eq!(deadline.within(async { 7 }).await, Ok(7));
    }
}
