//! What Sentry's answers do to a project's trace metric envelopes and its batch of metrics:
//! each row's answers, as received, go through the job ([`crate::job`], in order) and the
//! batch's rule ([`super::settle::fate`]), the code the exporter runs. "What happens on a 403
//! to a metric envelope?" is the row `403 to the first`.

use sentry_types::protocol::v7::{Map, Metric, MetricType};

use super::envelope::MetricsEnvelope;
use super::settle::{fate, EnvelopesFate};
use crate::clock::Instant;
use crate::ingest::answer::nothing_rejected;
use crate::job::replies::{limited, replied, status, Reply};
use crate::job::Job;
use crate::payload::Panicked;

const FEATURE_403: &[u8] = br#"{"detail":"event submission rejected with_reason: FeatureDisabled(TraceMetricsIngestion)"}"#;

/// An envelope of one point's `items` items.
fn envelope(point: usize, items: usize) -> MetricsEnvelope {
    let item = Metric {
        r#type: MetricType::Counter,
        name: "orders".into(),
        value: 1.0,
        timestamp: std::time::SystemTime::UNIX_EPOCH,
        trace_id: [1; 16].into(),
        span_id: None,
        unit: None,
        attributes: Map::new(),
    };
    MetricsEnvelope::of([(point, vec![item; items])])
}

/// The batch's fate: envelopes accepted and retried (by point), items dropped, whether (and
/// after how long) the batch goes back to the collector, and what its metrics count as.
fn summary(fate: &EnvelopesFate) -> String {
    let points = |envelopes: &[MetricsEnvelope]| -> Vec<usize> {
        envelopes
            .iter()
            .flat_map(|e| e.points().iter().map(|p| p.point))
            .collect()
    };
    let dropped: Vec<String> = (fate.dropped.iter())
        .map(|(reason, items, _)| format!("{items} {}", reason.label()))
        .collect();
    let back = match &fate.back {
        Some((reason, Some(delay))) => format!("back ({} in {}s)", reason.label(), delay.as_secs()),
        Some((reason, None)) => format!("back ({})", reason.label()),
        None => match fate.metrics_dropped() {
            Some((reason, _)) => format!("metrics dropped ({})", reason.label()),
            None => "metrics sent".into(),
        },
    };
    format!(
        "accepted {:?}, retried {:?}, dropped {dropped:?}, {back}",
        points(&fate.accepted),
        points(&fate.retried)
    )
}

#[test]
fn every_answer_to_a_batch_of_trace_metrics() {
    let retry_after = Reply::Http(503, None, Some("30"), b"");
    // Two envelopes: the first of point 0 (2 items), the second of point 1 (3 items).
    // (case, limit announced before, replies in order, fate)
    let rows: [(&str, Option<&str>, &[Reply], &str); 13] = [
        ("accepted", None, &[status(200), status(200)],
            "accepted [0, 1], retried [], dropped [], metrics sent"),
        ("403 to the first", None, &[status(403), status(200)],
            "accepted [1], retried [], dropped [\"2 rejected\"], metrics sent"),
        ("403 to both", None, &[status(403), status(403)],
            "accepted [], retried [], dropped [\"2 rejected\", \"3 rejected\"], metrics dropped (rejected)"),
        ("403: trace metrics are off for the organization", None,
            &[Reply::Http(403, None, None, FEATURE_403), Reply::Http(403, None, None, FEATURE_403)],
            "accepted [], retried [], dropped [\"2 feature_disabled\", \"3 feature_disabled\"], metrics dropped (feature_disabled)"),
        ("413 to one point's envelope", None, &[status(413), status(200)],
            "accepted [1], retried [], dropped [\"2 too_large\"], metrics sent"),
        ("429 announcing a limit of trace metrics", None, &[limited("60:trace_metric:key")],
            "accepted [], retried [0, 1], dropped [], back (too_many_requests in 60s)"),
        ("429 to the second", None, &[status(200), limited("60:trace_metric:key")],
            "accepted [0], retried [1], dropped [], back (too_many_requests in 60s)"),
        ("a limit of trace metrics known: nothing sent", Some("60:trace_metric:key"), &[],
            "accepted [], retried [0, 1], dropped [], back (rate_limited in 60s)"),
        ("a limit of errors known: sent", Some("60:error:key"), &[status(200), status(200)],
            "accepted [0, 1], retried [], dropped [], metrics sent"),
        ("503 to the first: the second not sent", None, &[status(503)],
            "accepted [], retried [0, 1], dropped [], back (unavailable)"),
        ("503 with Retry-After to the second", None, &[status(200), retry_after],
            "accepted [0], retried [1], dropped [], back (unavailable in 30s)"),
        ("no answer in time", None, &[Reply::TimedOut],
            "accepted [], retried [0, 1], dropped [], back (timed_out in 10s)"),
        ("403 to the first, 503 to the second", None, &[status(403), status(503)],
            "accepted [], retried [1], dropped [\"2 rejected\"], back (unavailable)"),
    ];
    let now = Instant::now();
    for (case, held, replies, want) in rows {
        let job = Job::in_order(vec![envelope(0, 2), envelope(1, 3)]);
        let outcomes = replied(job, held, replies, nothing_rejected, now);
        assert_eq!(summary(&fate(vec![Ok(outcomes)])), want, "{case}");
    }
}

#[test]
fn after_a_panic_the_batch_goes_back_and_no_series_moves() {
    let fate = fate(vec![Err(Panicked("boom".into()))]);
    assert_eq!(
        summary(&fate),
        "accepted [], retried [], dropped [], back (panicked)"
    );
    assert!(!fate.known);
}
