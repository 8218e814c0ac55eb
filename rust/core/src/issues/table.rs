//! What Sentry's answers do to an error event: each row's answers, as received, go through
//! the job ([`crate::job`]) and the event's rule ([`super::settle::fates`]), the code the
//! exporter runs. "What happens when a rate limit of category `error` arrives?" is the row
//! `429 announcing a limit of errors`.

use std::sync::Arc;
use std::time::Duration;

use sentry_types::protocol::v7::Event;

use super::envelope::EventPiece;
use super::settle::{fates, EventFate};
use crate::clock::Instant;
use crate::ingest::answer::nothing_rejected;
use crate::job::replies::{limited, replied, status, Reply};
use crate::job::Job;
use crate::payload::Panicked;

const FEATURE_403: &[u8] =
    br#"{"detail":"event submission rejected with_reason: FeatureDisabled(OurLogsIngestion)"}"#;
const PROJECT_ID_403: &[u8] = br#"{"detail":"event submission rejected with_reason: ProjectId"}"#;

/// What became of the event: `sent`, `dropped {reason}`, `owed {reason} in {s}s`, and the
/// sizes of the events sent (`shrunk` after a 413).
fn summary(fate: &EventFate, now: Instant) -> String {
    match fate {
        EventFate::Sent => "sent".into(),
        EventFate::Dropped { reason, .. } => format!("dropped {}", reason.label()),
        EventFate::Owed { event, due, reason } => {
            let shrunk = if event.0.tags.is_empty() {
                " shrunk"
            } else {
                ""
            };
            let secs = due.saturating_duration_since(now).as_secs();
            format!("owed{shrunk} {} in {secs}s", reason.label())
        }
    }
}

/// An event with what a 413 takes away first.
fn event() -> EventPiece {
    let mut event = Event {
        message: Some("checkout failed".into()),
        ..Default::default()
    };
    event.tags.insert("route".into(), "/checkout".into());
    EventPiece(Arc::new(event))
}

/// (case, limit announced before, replies, attempts so far, fate)
type Row<'a> = (&'a str, Option<&'a str>, &'a [Reply], u32, &'a str);

#[test]
fn every_answer_to_an_error_event() {
    let timed_out = Reply::TimedOut;
    let retry_after = Reply::Http(503, None, Some("30"), b"");
    let rows: [Row<'_>; 17] = [
        ("accepted", None, &[status(200)], 1, "sent"),
        ("403", None, &[status(403)], 1, "dropped rejected"),
        (
            "403 for a feature off",
            None,
            &[Reply::Http(403, None, None, FEATURE_403)],
            1,
            "dropped feature_disabled",
        ),
        (
            "403 ProjectId: the key looked up again",
            None,
            &[Reply::Http(403, None, None, PROJECT_ID_403), status(200)],
            1,
            "sent",
        ),
        ("400", None, &[status(400)], 1, "dropped rejected"),
        (
            "413: sent smaller",
            None,
            &[status(413), status(200)],
            1,
            "sent",
        ),
        (
            "413 until it cannot be smaller",
            None,
            &[status(413), status(413), status(413), status(413)],
            1,
            "dropped too_large",
        ),
        (
            "429 announcing a limit of errors",
            None,
            &[limited("60:error:key")],
            1,
            "owed too_many_requests in 60s",
        ),
        (
            "429 announcing a limit of all categories",
            None,
            &[limited("60::key")],
            1,
            "owed too_many_requests in 60s",
        ),
        (
            "429 saying nothing: a minute, as Relay reads it",
            None,
            &[status(429)],
            1,
            "owed too_many_requests in 60s",
        ),
        (
            "a limit of errors known: not sent",
            Some("60:error:key"),
            &[],
            1,
            "owed rate_limited in 60s",
        ),
        (
            "a limit of spans known: sent",
            Some("60:span:key"),
            &[status(200)],
            1,
            "sent",
        ),
        ("503", None, &[status(503)], 1, "owed unavailable in 1s"),
        (
            "503, the fourth attempt: backoff doubles",
            None,
            &[status(503)],
            4,
            "owed unavailable in 8s",
        ),
        (
            "503 with Retry-After",
            None,
            &[retry_after],
            1,
            "owed unavailable in 30s",
        ),
        (
            "no answer in time",
            None,
            &[timed_out],
            1,
            "owed timed_out in 10s",
        ),
        (
            "413 then 503: owed as shrunk",
            None,
            &[status(413), status(503)],
            1,
            "owed shrunk unavailable in 1s",
        ),
    ];
    let now = Instant::now();
    for (case, held, replies, attempts, want) in rows {
        let job = Job::new(event());
        let outcomes = replied(job, held, replies, nothing_rejected, now);
        let got: Vec<String> = fates(Ok(outcomes), &event(), attempts, now)
            .iter()
            .map(|fate| summary(fate, now))
            .collect();
        assert_eq!(got, [want], "{case}");
    }
}

#[test]
fn a_panicked_job_owes_its_event_as_it_was() {
    let now = Instant::now();
    let panicked = Err(Panicked("boom".into()));
    let event = event();
    let got = fates(panicked, &event, 2, now);
    assert_eq!(
        got,
        [EventFate::Owed {
            event,
            due: now + Duration::from_secs(2),
            reason: crate::outcome::RetryReason::Panicked("boom".into()),
        }]
    );
}
