//! The envelope transport against the stand-in: an error event and a trace-metric container
//! meet the same answers as OTLP spans, and come to the same outcomes.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{batch, Standin};
use sentry_exporter_core::deadline::Deadline;
use sentry_exporter_core::exporter::Exporter;
use sentry_exporter_core::ingest::otlp::OtlpPiece;
use sentry_exporter_core::ingest::{Piece, Transport};
use sentry_exporter_core::issues::envelope::EventPiece;
use sentry_exporter_core::job::Job;
use sentry_exporter_core::outcome::Outcome;
use sentry_exporter_core::signal::OtlpSignal;
use sentry_exporter_core::slug::Slug;
use sentry_exporter_core::testdata;
use sentry_exporter_core::trace_metrics::envelope::MetricsEnvelope;
use sentry_exporter_core::{Config, Logger};
use sentry_types::protocol::v7::{Event, Level, Map, Metric, MetricType};
use serde_json::{json, Value};

fn error_event() -> EventPiece {
    EventPiece(Arc::new(Event {
        level: Level::Error,
        message: Some("checkout failed".into()),
        ..Default::default()
    }))
}

fn trace_metric() -> MetricsEnvelope {
    let items = vec![Metric {
        r#type: MetricType::Counter,
        name: "orders.placed".into(),
        value: 3.0,
        timestamp: SystemTime::now(),
        trace_id: [7; 16].into(),
        span_id: None,
        unit: None,
        attributes: Map::new(),
    }];
    MetricsEnvelope::of([(0, items)])
}

fn one_span() -> OtlpPiece {
    OtlpPiece {
        signal: OtlpSignal::Traces,
        request: batch("shop", 1, 0).into(),
        items: 1,
    }
}

/// The outcome without its piece: kind, reason, items, delay.
fn summary<P>(outcomes: Vec<Outcome<P>>) -> Vec<String> {
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Sent {
                items, rejected, ..
            } => format!("sent {items} ({rejected} rejected)"),
            Outcome::Dropped { items, reason, .. } => {
                format!("dropped {items}: {}", reason.label())
            }
            Outcome::Retry {
                items,
                reason,
                delay,
                ..
            } => format!("retry {items} after {delay:?}: {}", reason.label()),
        })
        .collect()
}

struct Run {
    standin: Standin,
    runtime: tokio::runtime::Runtime,
    exporter: Exporter,
}

impl Run {
    fn new() -> Run {
        let standin = Standin::with_projects(&["shop"]);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let config = testdata::config(&standin.running.api, &standin.running.token);
        let config = Config::from_json(config.to_string().as_bytes()).unwrap();
        let exporter = runtime.block_on(async { Exporter::new(&config, Logger::discard()) });
        Run {
            standin,
            runtime,
            exporter: exporter.unwrap(),
        }
    }

    fn send<P: Piece>(&self, piece: P, transport: &dyn Transport<P>) -> Vec<String> {
        let clock = self.exporter.clock();
        let (_stop, stop_at) = tokio::sync::watch::channel(None);
        let deadline = Deadline::new(clock.now() + Duration::from_secs(30), stop_at, clock);
        let slug = Slug::parse("shop").unwrap();
        let job = Job::new(piece);
        summary(
            self.runtime.block_on(
                self.exporter
                    .driver()
                    .run_job(&slug, job, transport, &deadline),
            ),
        )
    }

    /// The next request of `signal` to the project gets `answer`.
    fn fault(&self, signal: &str, answer: Value) {
        let mut rule = json!({"target": "ingest", "project": "shop", "times": 1, "signal": signal});
        common::merge(&mut rule, answer);
        self.standin.fault(rule);
    }

    /// The outcomes of the error event, the trace metric and a span meeting one answer
    /// (`None`: the stand-in's own, a 200 that records the data).
    fn answered(&self, answer: Option<Value>) -> [Vec<String>; 3] {
        let fault = |signal| {
            if let Some(answer) = &answer {
                self.fault(signal, answer.clone());
            }
        };
        fault("envelope");
        let error = self.send(error_event(), self.exporter.envelopes());
        fault("envelope");
        let metric = self.send(trace_metric(), self.exporter.envelopes());
        fault("traces");
        let span = self.send(one_span(), self.exporter.otlp());
        [error, metric, span]
    }
}

#[test]
fn envelopes_meet_the_answers_of_otlp_with_the_same_outcomes() {
    let run = Run::new();
    let table = [
        (None, "sent 1 (0 rejected)"),
        (Some(json!({"status": 413})), "dropped 1: too_large"),
        (Some(json!({"status": 403})), "dropped 1: rejected"),
    ];
    for (answer, want) in table {
        let [error, metric, span] = run.answered(answer.clone());
        assert_eq!(error, [want], "{answer:?}");
        assert_eq!(metric, error, "{answer:?}");
        assert_eq!(span, error, "{answer:?}");
    }
    let records = &run.standin.records()["projects"]["shop"];
    assert_eq!(records["event_total"], 1, "{records}");
    assert_eq!(records["trace_metric_total"], 1, "{records}");
    assert_eq!(records["events"][0]["message"], "checkout failed");
    assert_eq!(records["trace_metrics"][0]["name"], "orders.placed");
}

#[test]
fn a_429_for_errors_holds_errors_only_as_a_429_for_spans_holds_spans() {
    let run = Run::new();
    let limited = |category: &str| json!({"status": 429, "headers": {"X-Sentry-Rate-Limits": format!("60:{category}:key")}});
    let retry = "retry 1 after Some(60s): too_many_requests";
    run.fault("envelope", limited("error"));
    assert_eq!(run.send(error_event(), run.exporter.envelopes()), [retry]);
    // The limit now holds errors of this key without asking Sentry, and nothing else.
    let held = run.send(error_event(), run.exporter.envelopes());
    assert!(held[0].ends_with(": rate_limited"), "{held:?}");
    assert_eq!(
        run.send(trace_metric(), run.exporter.envelopes()),
        ["sent 1 (0 rejected)"]
    );
    assert_eq!(
        run.send(one_span(), run.exporter.otlp()),
        ["sent 1 (0 rejected)"]
    );

    run.fault("traces", limited("span"));
    assert_eq!(run.send(one_span(), run.exporter.otlp()), [retry]);
}
