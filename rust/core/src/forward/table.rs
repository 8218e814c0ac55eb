//! What Sentry's answers do to a project's spans and log records: each row's answers, as
//! received, go through the job ([`crate::job`], whose own table holds every lookup and
//! creation) and what forwarding counts ([`super::counted`]), the code the exporter runs.

use crate::clock::Instant;
use crate::ingest::otlp::{partial_success, OtlpPiece};
use crate::job::replies::{limited, replied, status, Reply};
use crate::job::Job;
use crate::outcome::Counted;
use crate::signal::OtlpSignal;
use crate::testdata::{logs_request, traces_request, Resource};

const FEATURE_403: &[u8] =
    br#"{"detail":"event submission rejected with_reason: FeatureDisabled(OurLogsIngestion)"}"#;

/// What the tally counts: `sent N`, `dropped N reason`, `back N reason in Xs`.
fn summary(counted: &Counted) -> String {
    match counted {
        Counted::Sent {
            items, rejected, ..
        } => format!("sent {items} ({rejected} rejected)"),
        Counted::Dropped { items, reason, .. } => format!("dropped {items} {}", reason.label()),
        Counted::Retry {
            items,
            reason,
            delay,
            request,
            ..
        } => {
            assert!(!request.is_empty(), "the collector gets them back");
            let after = delay.map_or(String::new(), |d| format!(" in {}s", d.as_secs()));
            format!("back {items} {}{after}", reason.label())
        }
    }
}

fn piece(signal: OtlpSignal) -> OtlpPiece {
    let resource = [Resource::service("shop", 1)];
    let request = match signal {
        OtlpSignal::Traces => traces_request(&resource),
        OtlpSignal::Logs => logs_request(&resource),
    };
    OtlpPiece {
        signal,
        request: request.into(),
        items: 1,
    }
}

/// (case, signal, limit announced before, replies, counted)
type Row<'a> = (&'a str, OtlpSignal, Option<&'a str>, &'a [Reply], &'a str);

#[test]
fn every_answer_to_spans_and_log_records() {
    let (traces, logs) = (OtlpSignal::Traces, OtlpSignal::Logs);
    let retry_after = Reply::Http(503, None, Some("30"), b"");
    let rows: [Row<'_>; 13] = [
        (
            "accepted",
            traces,
            None,
            &[status(200)],
            "sent 1 (0 rejected)",
        ),
        ("403", traces, None, &[status(403)], "dropped 1 rejected"),
        (
            "403: logs are off for the organization",
            logs,
            None,
            &[Reply::Http(403, None, None, FEATURE_403)],
            "dropped 1 feature_disabled",
        ),
        (
            "413 to one span",
            traces,
            None,
            &[status(413)],
            "dropped 1 too_large",
        ),
        (
            "429 announcing a limit of spans",
            traces,
            None,
            &[limited("60:span:key")],
            "back 1 too_many_requests in 60s",
        ),
        (
            "429 announcing a limit of log items",
            logs,
            None,
            &[limited("60:log_item:key")],
            "back 1 too_many_requests in 60s",
        ),
        (
            "429 saying nothing",
            traces,
            None,
            &[status(429)],
            "back 1 too_many_requests in 60s",
        ),
        (
            "a limit of spans known: not sent",
            traces,
            Some("60:span:key"),
            &[],
            "back 1 rate_limited in 60s",
        ),
        (
            "a limit of errors known: spans sent",
            traces,
            Some("60:error:key"),
            &[status(200)],
            "sent 1 (0 rejected)",
        ),
        (
            "a limit of log bytes known: not sent",
            logs,
            Some("60:log_byte:key"),
            &[],
            "back 1 rate_limited in 60s",
        ),
        ("503", traces, None, &[status(503)], "back 1 unavailable"),
        (
            "503 with Retry-After",
            logs,
            None,
            &[retry_after],
            "back 1 unavailable in 30s",
        ),
        (
            "no answer in time",
            traces,
            None,
            &[Reply::TimedOut],
            "back 1 timed_out in 10s",
        ),
    ];
    let now = Instant::now();
    for (case, signal, held, replies, want) in rows {
        let job = Job::new(piece(signal));
        let outcomes = replied(job, held, replies, partial_success, now);
        let got: Vec<String> = (outcomes.into_iter())
            .map(|outcome| summary(&super::counted(signal, outcome)))
            .collect();
        assert_eq!(got, [want], "{case}");
    }
}
