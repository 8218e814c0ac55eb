//! Sentry Issues from OpenTelemetry exceptions. Sentry's OTLP ingest drops span events and
//! makes no issues of log records, so the exporter makes one error event per exception
//! ([`scan`] finds them, [`event`] builds the event with frames from [`stacktrace`]) and sends
//! it in its own envelope ([`envelope`], the event's JSON written by [`event_json`]) to the
//! project of its span or log record. [`dedup`] lets each exception through once,
//! [`crate::cap`] bounds the events per project and minute, and [`owed`] keeps the events
//! Sentry did not take yet, to retry them apart from their spans and log records. What an
//! answer means for an event is [`settle::fates`].

pub mod capture;
pub mod dedup;
pub mod envelope;
pub mod event;
mod event_json;
pub mod owed;
pub mod scan;
pub mod settle;
pub mod severity;
pub mod stacktrace;
#[cfg(test)]
mod table;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sentry_types::protocol::v7::Event;

use crate::cap::Cap;
use crate::clock::Instant;

use crate::ingest::envelope::EnvelopeTransport;
use crate::ingest::Transport;
use crate::job::Job;
use crate::log::Field;
use crate::outcome::{Counted, DropReason, Unit};
use crate::payload::{Part, Payload, Planned, Ran};
use crate::signal::{OtlpSignal, Signal};
use crate::slug::Slug;
use crate::sync::locked;
use crate::tally::Warnings;
use crate::telemetry::Telemetry;
use crate::wire::WireError;
use dedup::Memory;
use envelope::EventPiece;
use owed::{Full, Owed, OwedEvent};
use scan::Sources;
use settle::EventFate;
use severity::Severity;

/// Error events from exceptions (`errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorsConfig {
    pub enabled: bool,
    /// Log records carrying `exception.type` or `exception.message` become events too.
    pub from_logs: bool,
    /// Spans with status ERROR and no `exception` event become events too.
    pub from_error_spans: bool,
    /// The least severity of a log record with an exception that makes an issue; below it the
    /// record is only a Sentry log.
    pub min_log_severity: Severity,
    /// Module or path prefixes of the user's own code (frames `in_app`); empty: each
    /// runtime's default rule.
    pub in_app_include: Vec<String>,
    /// Events per project and minute at most; 0: no cap.
    pub max_per_minute: u32,
    /// Bytes of events waiting to be retried at most (their JSON); beyond, a failed event is
    /// dropped and counted.
    pub max_retry_bytes: usize,
}

/// Error events of one project sent at the same time (one envelope each).
const MAX_CONCURRENT_EVENTS: usize = 4;

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

/// The error events of one exporter (shared by its traces and logs pipelines).
pub struct Issues {
    sources: Sources,
    options: event::Options,
    memory: Mutex<Memory>,
    cap: Mutex<Cap>,
    owed: Mutex<Owed>,
    transport: Arc<EnvelopeTransport>,
    telemetry: Arc<Telemetry>,
    warnings: Arc<Warnings>,
}

/// The events of one project's plan, each with its attempts so far, and the events dropped
/// before sending (reason, events, detail).
pub struct EventsPlan {
    slug: Slug,
    events: Vec<(EventPiece, &'static str, u32)>,
    dropped: Vec<(DropReason, u64, String)>,
}

impl Issues {
    /// `None` when `errors.enabled` is false.
    pub fn new(
        config: &ErrorsConfig,
        transport: Arc<EnvelopeTransport>,
        telemetry: Arc<Telemetry>,
        warnings: Arc<Warnings>,
    ) -> Option<Issues> {
        config.enabled.then(|| Issues {
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
            transport,
            telemetry,
            warnings,
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

    /// `part`'s events, its exceptions read; none (and a warning) when they cannot be: its
    /// spans and log records are still sent as they are.
    fn events_of(&self, part: &Part<'_>, now: Instant, wall: SystemTime) -> EventsPlan {
        let slug = part.slug;
        let mut plan = EventsPlan {
            slug: slug.clone(),
            events: Vec::new(),
            dropped: Vec::new(),
        };
        let Some(signal) = OtlpSignal::of(part.signal) else {
            return plan;
        };
        match self.derive(signal, slug, part.blocks(), now, wall) {
            Ok(derived) => {
                (self.telemetry).error_events_deduplicated(derived.deduplicated);
                if derived.capped > 0 {
                    let detail = "over errors.max_per_minute".to_owned();
                    plan.dropped
                        .push((DropReason::Capped, derived.capped, detail));
                }
                let events = derived.events.into_iter();
                let piece = |event| (EventPiece(Arc::new(event)), part.platform, 1);
                plan.events = events.map(piece).collect();
            }
            Err(e) => {
                let message =
                    || format!("project {slug}: exceptions not read, no error events made: {e}");
                let fields = [Field::str("project", slug.as_str())];
                let key = format!("unread_exceptions:{slug}");
                self.warnings.warn(&key, message, &fields, now);
            }
        }
        plan
    }

    /// What one event's fate does, and counts as: an owed event is kept (counted nowhere
    /// yet), unless there is no room.
    fn keep(
        &self,
        slug: &Slug,
        platform: &'static str,
        attempts: u32,
        fate: EventFate,
    ) -> Option<Counted> {
        let dropped = |reason, detail| Counted::Dropped {
            unit: Unit::ErrorEvents,
            items: 1,
            reason,
            detail,
        };
        match fate {
            EventFate::Sent => {
                locked(&self.owed).settled(slug);
                Some(Counted::Sent {
                    unit: Unit::ErrorEvents,
                    items: 1,
                    rejected: 0,
                    message: String::new(),
                })
            }
            EventFate::Dropped { reason, detail } => {
                locked(&self.owed).settled(slug);
                Some(dropped(reason, detail))
            }
            EventFate::Owed { event, due, reason } => {
                let why = self.owe(slug, platform, attempts, &event, due).err()?;
                Some(dropped(
                    DropReason::RetryQueueFull,
                    format!("failed ({reason}) {why}"),
                ))
            }
        }
    }

    /// Keeps `event` to be sent again at `due`; `Err` says why it could not be.
    fn owe(
        &self,
        slug: &Slug,
        platform: &'static str,
        attempts: u32,
        event: &EventPiece,
        due: Instant,
    ) -> Result<(), String> {
        let json =
            serde_json::to_vec(&*event.0).map_err(|e| format!("and could not be kept: {e}"))?;
        let owed = OwedEvent {
            slug: slug.clone(),
            platform,
            event: json.into(),
            attempts,
            due,
        };
        let full = match locked(&self.owed).push(owed) {
            Ok(()) => return Ok(()),
            Err((_, Full::Count)) => format!("{} events", owed::CAPACITY),
            Err((_, Full::Bytes)) => "events filling errors.max_retry_mib".to_owned(),
        };
        Err(format!("while {full} already wait to be retried"))
    }

    /// Events waiting to be retried, and their bytes.
    pub fn owed(&self) -> (usize, usize) {
        let owed = locked(&self.owed);
        (owed.waiting(), owed.bytes())
    }
}

impl Payload for Issues {
    type Piece = EventPiece;
    type Plan = EventsPlan;

    fn takes(&self, signal: Signal) -> bool {
        OtlpSignal::of(signal).is_some()
    }

    fn transport(&self) -> &dyn Transport<EventPiece> {
        &*self.transport
    }

    async fn plan(&self, part: &Part<'_>, now: Instant, wall: SystemTime) -> Planned<Issues> {
        planned(self.events_of(part, now, wall))
    }

    fn settle(&self, plan: EventsPlan, ran: Vec<Ran<EventPiece>>, now: Instant) -> Vec<Counted> {
        let EventsPlan {
            slug,
            events,
            dropped,
        } = plan;
        let dropped = dropped
            .into_iter()
            .map(|(reason, items, detail)| Counted::Dropped {
                unit: Unit::ErrorEvents,
                items,
                reason,
                detail,
            });
        let mut counted: Vec<Counted> = dropped.collect();
        for ((event, platform, attempts), ran) in events.iter().zip(ran) {
            for fate in settle::fates(ran, event, *attempts, now) {
                counted.extend(self.keep(&slug, platform, *attempts, fate));
            }
        }
        self.telemetry.error_events_owed(self.owed());
        counted
    }

    /// The owed events due at `now`, by project; one that cannot be read back is dropped.
    fn due(&self, now: Instant) -> Vec<(Slug, Planned<Issues>)> {
        let mut plans: BTreeMap<Slug, EventsPlan> = BTreeMap::new();
        for owed in locked(&self.owed).take_due(now) {
            let plan = plans
                .entry(owed.slug.clone())
                .or_insert_with(|| EventsPlan {
                    slug: owed.slug.clone(),
                    events: Vec::new(),
                    dropped: Vec::new(),
                });
            match owed.piece() {
                Ok(piece) => plan.events.push((piece, owed.platform, owed.attempts + 1)),
                Err(e) => {
                    let detail = format!("could not be read back to retry it: {e}");
                    plan.dropped.push((DropReason::RetryQueueFull, 1, detail));
                }
            }
        }
        plans
            .into_iter()
            .map(|(slug, plan)| (slug, planned(plan)))
            .collect()
    }

    fn abandon(&self) -> Vec<(Slug, Counted)> {
        let owed = locked(&self.owed).take_all();
        self.telemetry.error_events_owed((0, 0));
        let detail = "still waiting to be retried when the exporter stopped";
        let dropped = |event: OwedEvent| {
            let counted = Counted::Dropped {
                unit: Unit::ErrorEvents,
                items: 1,
                reason: DropReason::Shutdown,
                detail: detail.to_owned(),
            };
            (event.slug, counted)
        };
        owed.into_iter().map(dropped).collect()
    }
}

/// One job per event of `plan`, each in its own envelope.
fn planned(plan: EventsPlan) -> Planned<Issues> {
    let job = |(piece, platform, _): &(EventPiece, &'static str, u32)| {
        Job::new(piece.clone()).with_platform(platform)
    };
    Planned {
        jobs: plan.events.iter().map(job).collect(),
        concurrency: MAX_CONCURRENT_EVENTS,
        plan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Logger;
    use crate::outcome::{Outcome, RetryReason};
    use crate::testdata::{
        envelope_transport, exception, exception_log, exception_span, logs_request, traces_request,
        Resource,
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

    fn issues(config: &ErrorsConfig) -> Option<Issues> {
        let telemetry = Arc::new(Telemetry::default());
        let warnings = Arc::new(Warnings::new(Logger::discard()));
        Issues::new(config, envelope_transport(), telemetry, warnings)
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
        let issues = issues(&config(0)).unwrap();
        let now = Instant::now();
        let derive = |signal, request: &[u8]| {
            issues
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
        let issues = issues(&config(3)).unwrap();
        let request = spans(1..6);
        let derived = issues
            .derive(
                OtlpSignal::Traces,
                &shop(),
                [&request[..]],
                Instant::now(),
                SystemTime::UNIX_EPOCH,
            )
            .unwrap();
        assert_eq!((derived.events.len(), derived.capped), (3, 2));
    }

    #[test]
    fn a_plan_counts_the_capped_events_once_with_their_number() {
        let issues = issues(&config(3)).unwrap();
        let request = spans(1..6);
        let routed = crate::routing::ProjectPart {
            slug: shop(),
            blocks: std::iter::once(0..request.len()).collect(),
            items: 5,
            platform: None,
        };
        let part = Part::new(Signal::Traces, &routed, &request);
        let plan = issues.events_of(&part, Instant::now(), SystemTime::UNIX_EPOCH);
        let sent = |(piece, _, _): &(EventPiece, &str, u32)| {
            Ok(vec![crate::outcome::Outcome::Sent {
                piece: piece.clone(),
                items: 1,
                rejected: 0,
                message: String::new(),
            }])
        };
        let ran = plan.events.iter().map(sent).collect();
        let counted = issues.settle(plan, ran, Instant::now());
        let capped: Vec<&Counted> = (counted.iter())
            .filter(|c| matches!(c, Counted::Dropped { .. }))
            .collect();
        assert!(
            matches!(
                capped[..],
                [Counted::Dropped {
                    items: 2,
                    reason: DropReason::Capped,
                    ..
                }]
            ),
            "{counted:?}"
        );
        assert_eq!(counted.len(), 4, "three events sent");
    }

    #[test]
    fn off_means_none() {
        let off = ErrorsConfig {
            enabled: false,
            ..config(0)
        };
        assert!(issues(&off).is_none());
    }

    /// One event's plan, as a batch's or a retry's.
    fn plan_of(piece: &EventPiece, attempts: u32) -> EventsPlan {
        EventsPlan {
            slug: shop(),
            events: vec![(piece.clone(), "python", attempts)],
            dropped: Vec::new(),
        }
    }

    #[test]
    fn failed_events_are_owed_until_due_and_counted_once_settled() {
        let issues = issues(&config(0)).unwrap();
        let now = Instant::now();
        let mut event = Event {
            message: Some("payment failed".into()),
            // A float in JSON: one that binary keeps exactly reads back the same.
            timestamp: std::time::UNIX_EPOCH + Duration::from_millis(1_796_558_030_500),
            ..Default::default()
        };
        event.tags.insert("route".into(), "/checkout".into());
        let piece = EventPiece(Arc::new(event));
        let retry = |delay| Outcome::Retry {
            piece: piece.clone(),
            items: 1,
            reason: RetryReason::Unavailable("503".into()),
            delay,
        };
        let sent = || Outcome::Sent {
            piece: piece.clone(),
            items: 1,
            rejected: 0,
            message: String::new(),
        };
        let settle = |outcome, attempts, at| {
            issues.settle(plan_of(&piece, attempts), vec![Ok(vec![outcome])], at)
        };
        let events = |items| Counted::Sent {
            unit: Unit::ErrorEvents,
            items,
            rejected: 0,
            message: String::new(),
        };
        assert_eq!(settle(sent(), 1, now), [events(1)]);
        assert_eq!(settle(retry(Some(Duration::from_secs(30))), 1, now), []);
        assert_eq!(settle(retry(None), 1, now), [], "owed: counted nowhere yet");
        let (owed, bytes) = issues.owed();
        assert_eq!(owed, 2);
        assert!(bytes > 0);
        let later = now + Duration::from_secs(30);
        assert_eq!(issues.due(now + Duration::from_secs(1)).len(), 1);
        assert!(issues.due(later).is_empty(), "one at a time while it fails");
        assert_eq!(settle(sent(), 2, later), [events(1)]);
        let due = issues.due(later);
        let (slug, planned) = &due[0];
        let (again, platform, attempts) = &planned.plan.events[0];
        assert_eq!((slug, *platform, *attempts), (&shop(), "python", 2));
        let json = |piece: &EventPiece| serde_json::to_value(&*piece.0).unwrap();
        assert_eq!(json(again), json(&piece), "read back whole");
        assert_eq!(issues.owed(), (0, 0));
    }

    #[test]
    fn what_is_still_owed_at_shutdown_is_dropped_and_counted() {
        let issues = issues(&config(0)).unwrap();
        let piece = EventPiece(Arc::new(Event::default()));
        let retry = Outcome::Retry {
            piece: piece.clone(),
            items: 1,
            reason: RetryReason::Unavailable("503".into()),
            delay: None,
        };
        issues.settle(plan_of(&piece, 1), vec![Ok(vec![retry])], Instant::now());
        let abandoned = issues.abandon();
        assert_eq!(abandoned.len(), 1);
        assert!(matches!(
            abandoned[0].1,
            Counted::Dropped {
                unit: Unit::ErrorEvents,
                items: 1,
                reason: DropReason::Shutdown,
                ..
            }
        ));
        assert_eq!(issues.owed(), (0, 0));
    }
}
