//! Sentry Issues from OpenTelemetry exceptions. Sentry's OTLP ingest drops span events and
//! makes no issues of log records, so the exporter makes one error event per exception
//! ([`scan`] finds them, [`event`] builds the event with frames from [`stacktrace`]) and sends
//! it in an envelope to the project of its span or log record. [`dedup`] lets each exception
//! through once, [`crate::cap`] bounds the events per project and minute, and [`owed`] keeps the
//! events Sentry did not take yet, to retry them apart from their spans and log records.

pub mod capture;
pub mod dedup;
pub mod event;
pub mod owed;
pub mod scan;
pub mod severity;
pub mod stacktrace;

use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use sentry_types::protocol::v7::Event;

use crate::cap::Cap;
use crate::clock::Instant;
use crate::config::ErrorsConfig;
use crate::ingest::envelope::EnvelopePiece;
use crate::outcome::{DropReason, Outcome};
use crate::signal::OtlpSignal;
use crate::slug::Slug;
use crate::wire::WireError;
use dedup::Memory;
use owed::{Full, Owed, OwedEvent};
use scan::Sources;

/// Why an error event was not sent, for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventDrop {
    /// As spans and log records are dropped (refused by Sentry, too large, no project).
    Ingest(DropReason),
    /// Over `errors.max_per_minute` for its project.
    Capped,
    /// Failed while [`owed::CAPACITY`] events, or `errors.max_retry_mib` of them, waited to
    /// be retried already.
    RetryQueueFull,
    /// Still owed when the exporter stopped.
    Shutdown,
}

impl EventDrop {
    /// Every label of [`EventDrop::label`].
    pub const LABELS: [&'static str; 7] = [
        "project_not_found",
        "rejected",
        "feature_disabled",
        "too_large",
        "capped",
        "retry_queue_full",
        "shutdown",
    ];

    pub fn label(self) -> &'static str {
        match self {
            EventDrop::Ingest(reason) => reason.as_str(),
            EventDrop::Capped => "capped",
            EventDrop::RetryQueueFull => "retry_queue_full",
            EventDrop::Shutdown => "shutdown",
        }
    }
}

/// The exceptions of one project's part of a batch.
#[derive(Debug, Default)]
pub struct Derived {
    /// One per exception seen for the first time and within the cap.
    pub events: Vec<Event<'static>>,
    /// Exceptions already seen (in this batch, or another of either signal).
    pub deduplicated: u64,
    /// Exceptions over the project's cap.
    pub capped: u64,
}

/// What becomes of one envelope job's outcome.
#[derive(Debug, PartialEq)]
pub enum Settled {
    Sent,
    Dropped(EventDrop, String),
    /// Kept to be retried.
    Owed,
}

/// The error events of one exporter (shared by its traces and logs pipelines).
pub struct Errors {
    sources: Sources,
    options: event::Options,
    memory: Mutex<Memory>,
    cap: Mutex<Cap>,
    owed: Mutex<Owed>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Errors {
    /// `None` when `errors.enabled` is false.
    pub fn new(config: &ErrorsConfig) -> Option<Errors> {
        config.enabled.then(|| Errors {
            sources: Sources {
                logs: config.from_logs,
                min_log_severity: config.min_log_severity,
                error_spans: config.from_error_spans,
            },
            options: event::Options {
                in_app_include: config.in_app_include.clone(),
            },
            memory: Mutex::default(),
            cap: Mutex::new(Cap::new(config.max_per_minute)),
            owed: Mutex::new(Owed::new(config.max_retry_bytes)),
        })
    }

    /// The events of `slug`'s resource blocks (each an OTLP request of one block) of
    /// `signal`, at `now` (`wall` for events whose telemetry gives no time).
    pub fn derive<'a>(
        &self,
        signal: OtlpSignal,
        slug: &Slug,
        blocks: impl IntoIterator<Item = &'a [u8]>,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Derived, WireError> {
        let mut derived = Derived::default();
        for block in blocks {
            for found in scan::scan(signal, block, self.sources)? {
                let id = dedup::event_id(&found);
                if !locked(&self.memory).first_sighting(id, now) {
                    derived.deduplicated += 1;
                } else if !locked(&self.cap).admit(slug, 1, now) {
                    derived.capped += 1;
                } else {
                    let event = event::build(&found, id, &self.options, wall);
                    derived.events.push(event);
                }
            }
        }
        Ok(derived)
    }

    /// What becomes of an event job's `outcome` after its `attempts`-th attempt: a retry is
    /// kept (as `owed`) until it is due.
    pub fn settle(
        &self,
        slug: &Slug,
        platform: &'static str,
        outcome: Outcome<EnvelopePiece>,
        attempts: u32,
        now: Instant,
    ) -> Settled {
        match outcome {
            Outcome::Sent { .. } => {
                locked(&self.owed).settled(slug);
                Settled::Sent
            }
            Outcome::Dropped { reason, detail, .. } => {
                locked(&self.owed).settled(slug);
                Settled::Dropped(EventDrop::Ingest(reason), detail)
            }
            Outcome::Retry {
                piece,
                reason,
                delay,
                ..
            } => {
                let json = match &piece {
                    EnvelopePiece::Error(event) => serde_json::to_vec(event),
                    EnvelopePiece::TraceMetrics(_) => {
                        let detail = "trace metrics are retried by the collector, not here";
                        return Settled::Dropped(EventDrop::RetryQueueFull, detail.into());
                    }
                };
                let json = match json {
                    Ok(json) => json,
                    Err(e) => {
                        let detail = format!("failed ({reason}) and could not be kept: {e}");
                        return Settled::Dropped(EventDrop::RetryQueueFull, detail);
                    }
                };
                let owed = OwedEvent {
                    slug: slug.clone(),
                    platform,
                    event: json.into(),
                    attempts,
                    due: owed::due(now, attempts, delay),
                };
                let full = match locked(&self.owed).push(owed) {
                    Ok(()) => return Settled::Owed,
                    Err((_, full)) => full,
                };
                let full = match full {
                    Full::Count => format!("{} events", owed::CAPACITY),
                    Full::Bytes => "events filling errors.max_retry_mib".to_owned(),
                };
                Settled::Dropped(
                    EventDrop::RetryQueueFull,
                    format!("failed ({reason}) while {full} already wait to be retried"),
                )
            }
        }
    }

    /// The owed events due at `now`.
    pub fn take_due(&self, now: Instant) -> Vec<OwedEvent> {
        locked(&self.owed).take_due(now)
    }

    /// Every owed event (the exporter stops).
    pub fn take_all(&self) -> Vec<OwedEvent> {
        locked(&self.owed).take_all()
    }

    /// Events waiting to be retried, and their bytes.
    pub fn owed(&self) -> (usize, usize) {
        let owed = locked(&self.owed);
        (owed.waiting(), owed.bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::RetryReason;
    use crate::testdata::{
        exception, exception_log, exception_span, logs_request, traces_request, Resource,
    };
    use std::time::Duration;

    fn config(max_per_minute: u32) -> ErrorsConfig {
        ErrorsConfig {
            enabled: true,
            from_logs: true,
            from_error_spans: false,
            min_log_severity: severity::Severity::Error,
            in_app_include: Vec::new(),
            max_per_minute,
            max_retry_bytes: 1 << 20,
        }
    }

    fn shop() -> Slug {
        Slug::parse("shop").unwrap()
    }

    fn spans(ids: std::ops::Range<u64>) -> Vec<u8> {
        let spans = ids
            .map(|id| exception_span(7, id, "op", exception("E", "failed", "")))
            .collect();
        traces_request(&[Resource::service("shop", 0).with_spans(spans)])
    }

    #[test]
    fn each_exception_makes_one_event_across_signals_and_batches() {
        let errors = Errors::new(&config(0)).unwrap();
        let now = Instant::now();
        let derive = |signal, request: &[u8]| {
            errors
                .derive(signal, &shop(), [request], now, SystemTime::UNIX_EPOCH)
                .unwrap()
        };
        let first = derive(OtlpSignal::Traces, &spans(1..3));
        assert_eq!((first.events.len(), first.deduplicated), (2, 0));
        let ids: Vec<_> = first.events.iter().map(|e| e.event_id).collect();

        let logged = logs_request(&[Resource::service("shop", 0)
            .with_log_records(vec![exception_log(7, 2, exception("E", "failed", ""))])]);
        let again = derive(OtlpSignal::Logs, &logged);
        assert_eq!((again.events.len(), again.deduplicated), (0, 1));
        let retried = derive(OtlpSignal::Traces, &spans(1..4));
        assert_eq!((retried.events.len(), retried.deduplicated), (1, 2));
        assert!(!ids.contains(&retried.events[0].event_id));
    }

    #[test]
    fn the_cap_counts_what_it_holds_back() {
        let errors = Errors::new(&config(3)).unwrap();
        let derived = errors
            .derive(
                OtlpSignal::Traces,
                &shop(),
                [&spans(1..6)[..]],
                Instant::now(),
                SystemTime::UNIX_EPOCH,
            )
            .unwrap();
        assert_eq!((derived.events.len(), derived.capped), (3, 2));
    }

    #[test]
    fn off_means_none() {
        let off = ErrorsConfig {
            enabled: false,
            ..config(0)
        };
        assert!(Errors::new(&off).is_none());
    }

    #[test]
    fn failed_events_are_owed_until_due() {
        let errors = Errors::new(&config(0)).unwrap();
        let now = Instant::now();
        let mut event = Event {
            message: Some("payment failed".into()),
            // A float in JSON: one that binary keeps exactly reads back the same.
            timestamp: std::time::UNIX_EPOCH + Duration::from_millis(1_796_558_030_500),
            ..Default::default()
        };
        event.tags.insert("route".into(), "/checkout".into());
        let piece = EnvelopePiece::Error(Box::new(event));
        let retry = |delay| Outcome::Retry {
            piece: piece.clone(),
            items: 1,
            reason: RetryReason::Unavailable("503".into()),
            delay,
        };
        let sent = Outcome::Sent {
            piece: piece.clone(),
            items: 1,
            rejected: 0,
            message: String::new(),
        };
        let dropped = Outcome::Dropped {
            items: 1,
            reason: DropReason::TooLarge,
            detail: "413".into(),
        };
        let table = [
            (sent, Settled::Sent),
            (
                dropped,
                Settled::Dropped(EventDrop::Ingest(DropReason::TooLarge), "413".into()),
            ),
            (retry(Some(Duration::from_secs(30))), Settled::Owed),
            (retry(None), Settled::Owed),
        ];
        for (outcome, want) in table {
            assert_eq!(errors.settle(&shop(), "python", outcome, 1, now), want);
        }
        let (events, bytes) = errors.owed();
        assert_eq!(events, 2);
        assert!(bytes > 0);
        let later = now + Duration::from_secs(30);
        assert_eq!(errors.take_due(now + Duration::from_secs(1)).len(), 1);
        assert!(
            errors.take_due(later).is_empty(),
            "one at a time while it fails"
        );
        let probe_sent = Outcome::Sent {
            piece: piece.clone(),
            items: 1,
            rejected: 0,
            message: String::new(),
        };
        let settled = errors.settle(&shop(), "python", probe_sent, 2, later);
        assert_eq!(settled, Settled::Sent);
        let due = errors.take_due(later);
        assert_eq!(
            (due.len(), due[0].platform, due[0].attempts),
            (1, "python", 1)
        );
        let json = |piece: EnvelopePiece| match piece {
            EnvelopePiece::Error(event) => serde_json::to_value(event).unwrap(),
            EnvelopePiece::TraceMetrics(_) => unreachable!("an error event was owed"),
        };
        assert_eq!(
            json(due[0].piece().unwrap()),
            json(piece),
            "read back whole"
        );
        assert_eq!(errors.owed(), (0, 0));
    }
}
