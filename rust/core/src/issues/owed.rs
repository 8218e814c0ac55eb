//! Error events Sentry did not take yet, kept by the core: an event and the span or log
//! record it came from succeed or fail apart, and the collector's retry of a batch can only
//! carry spans and log records. So a failed event is retried here, on its own, bounded in
//! number and in bytes, and the batch's retry never resends it (its id is remembered, see
//! `dedup`). An event waits as its JSON, what it is sent as: the bound in bytes is then the
//! memory it holds (the event as a value takes about three times as much, mostly its frames). While a project's events fail, they go one at a time: one event probes Sentry
//! when its delay is over, the others wait until one is taken.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sentry_types::protocol::v7::Event;

use super::envelope::EventPiece;
use crate::clock::Instant;
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
    /// The event's JSON: what it holds of the bound in bytes.
    pub event: Box<[u8]>,
    /// Attempts made so far.
    pub attempts: u32,
    pub due: Instant,
}

impl OwedEvent {
    /// The event to send again, read back from its JSON.
    pub fn piece(&self) -> Result<EventPiece, serde_json::Error> {
        let event: Event<'static> = serde_json::from_slice(&self.event)?;
        Ok(EventPiece(Arc::new(event)))
    }
}

/// When an event that failed its `attempts`-th attempt is tried again: after the delay
/// Sentry asked for, or a doubling backoff.
pub fn due(now: Instant, attempts: u32, asked: Option<Duration>) -> Instant {
    let backoff = FIRST_BACKOFF.saturating_mul(1 << attempts.saturating_sub(1).min(16));
    now + asked.unwrap_or(backoff.min(MAX_BACKOFF))
}

/// Why an event could not be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// [`CAPACITY`] events wait already.
    Count,
    /// Keeping it would pass the bound in bytes.
    Bytes,
}

/// Where a failing project's probe is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Probe {
    /// The next goes out when its time has come.
    At(Instant),
    /// One is being sent.
    InFlight,
}

#[derive(Debug)]
pub struct Owed {
    events: Vec<OwedEvent>,
    bytes: usize,
    max_bytes: usize,
    /// Projects whose last attempt failed: those with events waiting or a probe out.
    failing: HashMap<Slug, Probe>,
}

impl Owed {
    pub fn new(max_bytes: usize) -> Owed {
        Owed {
            events: Vec::new(),
            bytes: 0,
            max_bytes,
            failing: HashMap::new(),
        }
    }

    /// Keeps `event`, which just failed; hands it back when the queue is full. Its project is
    /// failing from now on: its events go one at a time, the next when this one is due (a
    /// probe's failure sets that time; another event's does not while a probe is out).
    pub fn push(&mut self, event: OwedEvent) -> Result<(), (OwedEvent, Full)> {
        // Before the bounds: a probe refused for room still ends its flight, or the project's
        // other events would wait for it forever.
        let probe = Probe::At(event.due);
        match self.failing.get_mut(&event.slug) {
            Some(current) if event.attempts == 1 && *current == Probe::InFlight => {}
            Some(current) => *current = probe,
            None => {
                self.failing.insert(event.slug.clone(), probe);
            }
        }
        if self.events.len() >= CAPACITY {
            return Err((event, Full::Count));
        }
        if self.bytes.saturating_add(event.event.len()) > self.max_bytes {
            return Err((event, Full::Bytes));
        }
        self.bytes += event.event.len();
        self.events.push(event);
        Ok(())
    }

    /// An event of `slug` was sent or dropped for good: the project takes its events again.
    pub fn settled(&mut self, slug: &Slug) {
        self.failing.remove(slug);
    }

    /// The events due at `now`, taken out: all of those of projects that take them, one of a
    /// failing project's whose probe time has come.
    pub fn take_due(&mut self, now: Instant) -> Vec<OwedEvent> {
        let mut due = Vec::new();
        let mut waiting = Vec::new();
        for event in std::mem::take(&mut self.events) {
            let goes = event.due <= now
                && match self.failing.get_mut(&event.slug) {
                    None => true,
                    Some(probe) => match *probe {
                        Probe::At(at) if at <= now => {
                            *probe = Probe::InFlight;
                            true
                        }
                        _ => false,
                    },
                };
            if goes {
                self.bytes -= event.event.len();
                due.push(event);
            } else {
                waiting.push(event);
            }
        }
        self.events = waiting;
        // A failing project with nothing waiting and no probe out has nothing to pace: kept,
        // its entry would outlive its events (10,000 projects failing once, 10,000 entries).
        let waiting: HashSet<&Slug> = self.events.iter().map(|e| &e.slug).collect();
        self.failing
            .retain(|slug, probe| *probe == Probe::InFlight || waiting.contains(slug));
        due
    }

    /// Every event, taken out (the exporter stops).
    pub fn take_all(&mut self) -> Vec<OwedEvent> {
        self.bytes = 0;
        self.failing.clear();
        std::mem::take(&mut self.events)
    }

    /// Events waiting.
    pub fn waiting(&self) -> usize {
        self.events.len()
    }

    /// Bytes of the events waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owed(slug: &str, bytes: usize, attempts: u32, due: Instant) -> OwedEvent {
        OwedEvent {
            slug: Slug::parse(slug).unwrap(),
            platform: "python",
            event: vec![b' '; bytes].into(),
            attempts,
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
    fn bounded_in_number_and_in_bytes() {
        let now = Instant::now();
        let mut queue = Owed::new(250);
        queue.push(owed("shop", 100, 1, now)).unwrap();
        queue.push(owed("shop", 100, 1, now)).unwrap();
        let refused = queue
            .push(owed("shop", 100, 1, now))
            .map_err(|(_, full)| full);
        assert_eq!(refused, Err(Full::Bytes));
        assert_eq!((queue.waiting(), queue.bytes()), (2, 200));
        queue.settled(&Slug::parse("shop").unwrap());
        assert_eq!(queue.take_due(now).len(), 2);
        assert_eq!((queue.waiting(), queue.bytes()), (0, 0));

        let mut queue = Owed::new(usize::MAX);
        for _ in 0..CAPACITY {
            queue.push(owed("shop", 1, 1, now)).unwrap();
        }
        let refused = queue
            .push(owed("shop", 1, 1, now))
            .map_err(|(_, full)| full);
        assert_eq!(refused, Err(Full::Count));
        assert_eq!(queue.take_all().len(), CAPACITY);
        assert_eq!((queue.waiting(), queue.bytes()), (0, 0));
    }

    #[test]
    fn a_failing_project_is_probed_one_event_at_a_time() {
        let now = Instant::now();
        let secs = |s| now + Duration::from_secs(s);
        let mut queue = Owed::new(usize::MAX);
        for _ in 0..5 {
            queue.push(owed("sick", 10, 1, now)).unwrap();
        }
        queue.push(owed("healthy", 10, 1, now)).unwrap();
        queue.settled(&Slug::parse("healthy").unwrap());
        // Rows: (what happens, events handed out).
        let probe = queue.take_due(now);
        let slugs: Vec<&str> = probe.iter().map(|e| e.slug.as_str()).collect();
        assert_eq!(slugs, ["sick", "healthy"]);
        assert!(queue.take_due(secs(10)).is_empty(), "the probe is out");
        // A fresh event failing meanwhile does not send another.
        queue.push(owed("sick", 10, 1, secs(1))).unwrap();
        assert!(
            queue.take_due(secs(10)).is_empty(),
            "the probe is still out"
        );
        // The probe failed again: the next goes when it is due.
        queue.push(owed("sick", 10, 2, secs(12))).unwrap();
        assert!(queue.take_due(secs(11)).is_empty());
        assert_eq!(queue.take_due(secs(12)).len(), 1);
        // A probe that fails when there is no room is dropped, and the next still goes.
        let mut full = Owed::new(20);
        full.push(owed("sick", 10, 1, now)).unwrap();
        full.push(owed("sick", 10, 1, now)).unwrap();
        assert_eq!(full.take_due(now).len(), 1);
        full.push(owed("sick", 15, 1, now)).unwrap_err();
        assert!(full.push(owed("sick", 15, 2, secs(3))).is_err());
        assert_eq!(
            full.take_due(secs(3)).len(),
            1,
            "not stuck behind the refused probe"
        );
        // A project whose failed events were all refused is forgotten at the next look.
        let mut refused = Owed::new(5);
        assert!(refused.push(owed("gone", 10, 1, now)).is_err());
        assert_eq!(refused.failing.len(), 1);
        refused.take_due(now);
        assert!(refused.failing.is_empty());
        // Sentry took it: the rest go at once.
        queue.settled(&Slug::parse("sick").unwrap());
        assert_eq!(queue.take_due(secs(12)).len(), 5);
        assert_eq!(queue.waiting(), 0);
    }
}
