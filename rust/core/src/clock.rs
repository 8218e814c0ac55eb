//! The one clock of the core: every time read and every sleep goes through a [`Clock`], so
//! that tests run the core on tokio's paused time. Instants are tokio's; the wall clock
//! follows them from the moment the clock was made, so a paused test moves both.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

pub use tokio::time::Instant;

/// A sleep of the clock, owning nothing.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Time, as the core sees it.
pub trait Clock: Send + Sync + 'static {
    /// The monotonic time: deadlines, TTLs, backoffs.
    fn now(&self) -> Instant;
    /// The wall clock: for HTTP dates and epoch seconds in Sentry's answers.
    fn wall(&self) -> SystemTime;
    /// Ends at `at` (at once when it is past).
    fn sleep_until(&self, at: Instant) -> Sleep;

    /// Ends after `wait`.
    fn sleep(&self, wait: Duration) -> Sleep {
        self.sleep_until(self.now() + wait)
    }
}

/// tokio's time: real in production, paused and advanced by hand in tests.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    started: Instant,
    started_wall: SystemTime,
}

impl TokioClock {
    pub fn new() -> TokioClock {
        TokioClock {
            started: Instant::now(),
            started_wall: SystemTime::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> TokioClock {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> SystemTime {
        self.started_wall + self.now().duration_since(self.started)
    }

    fn sleep_until(&self, at: Instant) -> Sleep {
        Box::pin(tokio::time::sleep_until(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_time_moves_the_wall_clock_with_the_monotonic_one() {
        let clock = TokioClock::new();
        let (t0, w0) = (clock.now(), clock.wall());
        clock.sleep(Duration::from_secs(90)).await;
        assert_eq!(clock.now() - t0, Duration::from_secs(90));
        assert_eq!(
            clock.wall().duration_since(w0).ok(),
            Some(Duration::from_secs(90))
        );
    }
}
