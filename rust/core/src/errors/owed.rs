//! Error events Sentry did not take yet, kept by the core: an event and the span or log
//! record it came from succeed or fail apart, and the collector's retry of a batch can only
//! carry spans and log records. So a failed event is retried here, on its own, bounded in
//! number, and the batch's retry never resends it (its id is remembered, see `dedup`).

use std::time::Duration;

use crate::clock::Instant;
use crate::ingest::envelope::EnvelopePiece;
use crate::slug::Slug;

/// Events waiting at most; beyond, a failed event is dropped (and counted).
pub const CAPACITY: usize = 10_000;
/// The first wait when Sentry says none; it doubles per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// One event owed to Sentry.
#[derive(Debug, Clone, PartialEq)]
pub struct OwedEvent {
    pub slug: Slug,
    /// The platform of a project created for it.
    pub platform: &'static str,
    pub piece: EnvelopePiece,
    /// Attempts made so far.
    pub attempts: u32,
    pub due: Instant,
}

/// When an event that failed its `attempts`-th attempt is tried again: after the delay
/// Sentry asked for, or a doubling backoff.
pub fn due(now: Instant, attempts: u32, asked: Option<Duration>) -> Instant {
    let backoff = FIRST_BACKOFF.saturating_mul(1 << attempts.saturating_sub(1).min(16));
    now + asked.unwrap_or(backoff.min(MAX_BACKOFF))
}

#[derive(Debug, Default)]
pub struct Owed {
    events: Vec<OwedEvent>,
}

impl Owed {
    /// Keeps `event`; hands it back when [`CAPACITY`] events wait already.
    pub fn push(&mut self, event: OwedEvent) -> Result<(), OwedEvent> {
        if self.events.len() >= CAPACITY {
            return Err(event);
        }
        self.events.push(event);
        Ok(())
    }

    /// The events due at `now`, taken out.
    pub fn take_due(&mut self, now: Instant) -> Vec<OwedEvent> {
        let (due, waiting) = std::mem::take(&mut self.events)
            .into_iter()
            .partition(|e| e.due <= now);
        self.events = waiting;
        due
    }

    /// Every event, taken out (the exporter stops).
    pub fn take_all(&mut self) -> Vec<OwedEvent> {
        std::mem::take(&mut self.events)
    }

    /// Events waiting.
    pub fn waiting(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owed(due: Instant) -> OwedEvent {
        OwedEvent {
            slug: Slug::parse("shop").unwrap(),
            platform: "python",
            piece: EnvelopePiece::Error(Box::default()),
            attempts: 1,
            due,
        }
    }

    #[test]
    fn waits_as_asked_or_doubling() {
        let now = Instant::now();
        let secs = |s| now + Duration::from_secs(s);
        let table = [
            (1, None, secs(1)),
            (2, None, secs(2)),
            (4, None, secs(8)),
            (7, None, secs(60)),
            (40, None, secs(60)),
            (1, Some(Duration::from_secs(90)), secs(90)),
        ];
        for (attempts, asked, want) in table {
            assert_eq!(due(now, attempts, asked), want, "{attempts} {asked:?}");
        }
    }

    #[test]
    fn hands_out_what_is_due_and_refuses_beyond_capacity() {
        let now = Instant::now();
        let mut queue = Owed::default();
        queue.push(owed(now)).unwrap();
        queue.push(owed(now + Duration::from_secs(5))).unwrap();
        assert_eq!(queue.take_due(now).len(), 1);
        assert_eq!(queue.waiting(), 1);
        assert!(queue.take_due(now).is_empty());
        assert_eq!(queue.take_due(now + Duration::from_secs(5)).len(), 1);
        for _ in 0..CAPACITY {
            queue.push(owed(now)).unwrap();
        }
        assert!(queue.push(owed(now)).is_err());
        assert_eq!(queue.take_all().len(), CAPACITY);
        assert_eq!(queue.waiting(), 0);
    }
}
