//! Sentry's answers and rate limits, against the stand-in: only what failed
//! comes back for retry, nothing is lost, nothing is sent twice, and nothing is
//! sent for a key and category while its limit holds.

mod common;

use std::time::Duration;

use common::*;
use sentry_exporter_core::testdata;
use sentry_exporter_core::Signal;
use serde_json::{json, Value};

/// The ingest requests a project received, as (signal, status, fault).
fn ingest_requests(standin: &Standin, project: &str) -> Vec<(String, Option<u64>)> {
    standin.records()["projects"][project]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["signal"].as_str().unwrap().to_owned(),
                r["status"].as_u64(),
            )
        })
        .collect()
}

fn logs_of(standin: &Standin, project: &str) -> Value {
    standin.records()["projects"][project]["logs"].clone()
}

#[test]
fn one_project_answering_503_twice_gets_its_data_once_after_the_retries_and_the_others_at_once() {
    let standin = Standin::with_projects(&["p1", "p2", "p3"]);
    standin.fault(json!({"target": "ingest", "project": "p3", "status": 503, "times": 2}));
    let service = standin.exporter(json!({}));
    let outcomes = export_until_sent(&service, traces(&[("p1", 2), ("p2", 3), ("p3", 4)], 0));

    assert_eq!(outcomes.len(), 3, "two retries");
    assert_eq!((outcomes[0].sent, outcomes[0].retryable), (5, 4));
    assert_eq!((outcomes[1].sent, outcomes[1].retryable), (0, 4));
    assert_eq!((outcomes[2].sent, outcomes[2].retryable), (4, 0));
    for (project, spans) in [("p1", 2), ("p2", 3), ("p3", 4)] {
        assert_eq!(distinct(&standin.spans_of(project)), spans, "{project}");
        assert_eq!(
            total(&standin.spans_of(project)),
            spans as u64,
            "{project}: exactly once"
        );
    }
    let p3 = ingest_requests(&standin, "p3");
    assert_eq!(
        p3.iter().map(|r| r.1).collect::<Vec<_>>(),
        [Some(503), Some(503), Some(200)]
    );
}

#[test]
fn a_413_is_split_in_halves_down_to_what_passes_and_a_single_huge_item_is_dropped() {
    let standin = Standin::with_projects(&["p1"]);
    let request = traces(&[("p1", 8)], 0);
    // Over the threshold: the whole batch (and its halves) are refused; single spans pass.
    let one_span = traces(&[("p1", 1)], 0).len() as u64 + 64;
    standin.fault(json!({"target": "ingest", "project": "p1", "max_body_bytes": one_span}));
    let service = standin.exporter(json!({"http": {"compression": "none"}}));
    let outcome = service.export(Signal::Traces, &request, None).unwrap();
    assert_eq!(
        (outcome.sent, outcome.dropped, outcome.retryable),
        (8, 0, 0),
        "{:?}",
        outcome.problems
    );
    assert_eq!(total(&standin.spans_of("p1")), 8);
    assert_eq!(distinct(&standin.spans_of("p1")), 8);

    standin.clear_faults();
    standin.fault(json!({"target": "ingest", "project": "p1", "max_body_bytes": 10}));
    let outcome = service
        .export(Signal::Traces, &traces(&[("p1", 2)], 100), None)
        .unwrap();
    assert_all_dropped(&outcome, 2, "too_large");
}

#[test]
fn a_span_limit_holds_traces_of_that_key_but_not_its_logs() {
    let standin = Standin::with_projects(&["p1", "p2"]);
    standin.fault(
        json!({"target": "ingest", "project": "p1", "signal": "traces", "status": 429,
        "headers": {"X-Sentry-Rate-Limits": "30:span:key:too_many"}, "times": 1}),
    );
    let service = standin.exporter(json!({}));

    let first = service
        .export(Signal::Traces, &traces(&[("p1", 2), ("p2", 1)], 0), None)
        .unwrap();
    assert_eq!((first.sent, first.retryable), (1, 2));
    let delay = first.retry_after.unwrap();
    assert!(
        delay > Duration::from_secs(29) && delay <= Duration::from_secs(30),
        "{delay:?}"
    );

    let again = service
        .export(Signal::Traces, &first.retry_request, None)
        .unwrap();
    assert_eq!(again.retryable, 2);
    assert!(again.retry_after.unwrap() <= delay);
    assert_eq!(
        ingest_requests(&standin, "p1").len(),
        1,
        "no request while the limit holds"
    );
    let telemetry: Value = serde_json::from_str(&service.telemetry_json()).unwrap();
    let limited = telemetry["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "items_rate_limited")
        .unwrap()["points"][0]["value"]
        .clone();
    assert_eq!(limited, json!(2), "the held-back spans are counted");

    let logs = service
        .export(Signal::Logs, &logs("p1", 3, 0), None)
        .unwrap();
    assert_eq!(logs.sent, 3, "a span limit does not hold logs");
}

#[test]
fn an_organization_log_limit_holds_logs_of_every_key() {
    let standin = Standin::with_projects(&["p1", "p2"]);
    standin.fault(
        json!({"target": "ingest", "project": "p1", "signal": "logs", "status": 429,
        "headers": {"X-Sentry-Rate-Limits": "20:log_item:organization:quota"}, "times": 1}),
    );
    let service = standin.exporter(json!({}));
    let first = service
        .export(Signal::Logs, &logs("p1", 2, 0), None)
        .unwrap();
    assert_eq!(first.retryable, 2);

    let other = service
        .export(Signal::Logs, &logs("p2", 2, 10), None)
        .unwrap();
    assert_eq!((other.sent, other.retryable), (0, 2));
    assert!(other.retry_after.unwrap() > Duration::from_secs(19));
    assert!(
        ingest_requests(&standin, "p2").is_empty(),
        "no request for another key either"
    );
    let spans = service
        .export(Signal::Traces, &traces(&[("p2", 1)], 0), None)
        .unwrap();
    assert_eq!(spans.sent, 1, "traces are not held by a log limit");
}

#[test]
fn a_limit_announced_on_a_200_holds_the_next_batch() {
    let standin = Standin::with_projects(&["p1"]);
    standin.fault(json!({"target": "ingest", "project": "p1", "headers": {"X-Sentry-Rate-Limits": "30::key:x"}, "times": 1}));
    let service = standin.exporter(json!({}));
    assert_eq!(
        service
            .export(Signal::Traces, &traces(&[("p1", 1)], 0), None)
            .unwrap()
            .sent,
        1
    );
    let held = service
        .export(Signal::Logs, &logs("p1", 1, 0), None)
        .unwrap();
    assert_eq!(held.retryable, 1, "empty categories: every category");
    assert_eq!(ingest_requests(&standin, "p1").len(), 1);
}

#[test]
fn a_429_without_limits_header_waits_for_retry_after() {
    let standin = Standin::with_projects(&["p1"]);
    standin.fault(json!({"target": "ingest", "project": "p1", "status": 429, "headers": {"Retry-After": "12"}, "times": 1}));
    let service = standin.exporter(json!({}));
    let outcome = service
        .export(Signal::Traces, &traces(&[("p1", 1)], 0), None)
        .unwrap();
    let delay = outcome.retry_after.unwrap();
    assert!(
        delay > Duration::from_secs(11) && delay <= Duration::from_secs(12),
        "{delay:?}"
    );
}

#[test]
fn a_revoked_key_is_replaced_within_the_same_export() {
    let standin = Standin::with_projects(&["p1"]);
    let service = standin.exporter(json!({}));
    wait_for("preload", || service.known_projects() == 1);
    standin.control(reqwest::Method::POST, "keys/p1/revoke", None);
    let outcome = service
        .export(Signal::Traces, &traces(&[("p1", 2)], 0), None)
        .unwrap();
    assert_eq!(outcome.sent, 2, "{:?}", outcome.problems);
    assert_eq!(
        ingest_requests(&standin, "p1")
            .iter()
            .map(|r| r.1)
            .collect::<Vec<_>>(),
        [Some(401), Some(200)]
    );
    assert_eq!(
        standin.count("GET", "/api/0/projects/acme/p1/keys/"),
        1,
        "the 401 makes it look the key up again"
    );
    assert_eq!(total(&standin.spans_of("p1")), 2);
}

#[test]
fn a_deleted_project_is_recreated_and_gets_its_data_once() {
    let standin = Standin::with_projects(&["p1"]);
    let service = standin.exporter(json!({"auto_create_projects": true}));
    wait_for("preload", || service.known_projects() == 1);
    export_until_sent(&service, traces(&[("p1", 1)], 0));
    standin.control(reqwest::Method::POST, "projects/p1/delete", None);

    export_until_sent(&service, traces(&[("p1", 3)], 10));
    assert_eq!(standin.records()["projects_created"], json!(["p1"]));
    assert_eq!(distinct(&standin.spans_of("p1")), 4);
    assert_eq!(total(&standin.spans_of("p1")), 4);
}

#[test]
fn a_deleted_project_without_auto_create_drops_its_data() {
    let standin = Standin::with_projects(&["p1"]);
    let service = standin.exporter(json!({}));
    wait_for("preload", || service.known_projects() == 1);
    standin.control(reqwest::Method::POST, "projects/p1/delete", None);
    let outcome = service
        .export(Signal::Traces, &traces(&[("p1", 2)], 0), None)
        .unwrap();
    assert_all_dropped(&outcome, 2, "project_not_found");
}

#[test]
fn a_dropped_connection_is_retried_and_the_data_arrives_once() {
    let standin = Standin::with_projects(&["p1"]);
    standin
        .fault(json!({"target": "ingest", "project": "p1", "drop_connection": true, "times": 2}));
    let service = standin.exporter(json!({}));
    let outcomes = export_signal_until_sent(&service, Signal::Logs, logs("p1", 5, 0));
    assert!(outcomes.len() >= 2);
    assert_eq!(total(&logs_of(&standin, "p1")), 5);
    assert_eq!(distinct(&logs_of(&standin, "p1")), 5);
}

#[test]
fn a_slow_answer_past_the_export_timeout_comes_back_for_retry() {
    let standin = Standin::with_projects(&["p1"]);
    standin.fault(
        json!({"target": "ingest", "project": "p1", "delay_ms": 3000, "status": 503, "times": 1}),
    );
    let service = standin.exporter(json!({}));
    let started = std::time::Instant::now();
    let outcome = service
        .export(
            Signal::Traces,
            &traces(&[("p1", 1)], 0),
            Some(Duration::from_millis(500)),
        )
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(outcome.retryable, 1);
    assert!(
        outcome.problems[0].contains("timeout"),
        "{:?}",
        outcome.problems
    );
    // The request may have reached Sentry before the cut: counted as maybe delivered.
    let telemetry: Value = serde_json::from_str(&service.telemetry_json()).unwrap();
    let maybe = telemetry["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "items_maybe_delivered")
        .unwrap()["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"]["signal"] == "traces")
        .unwrap()["value"]
        .clone();
    assert_eq!(maybe, json!(1));
}

#[test]
fn refused_data_is_dropped_with_sentrys_message_not_retried() {
    let standin = Standin::with_projects(&["p1"]);
    standin.fault(json!({"target": "ingest", "project": "p1", "status": 403,
        "body": "{\"detail\":\"event submission rejected with_reason: FeatureDisabled(OurLogsIngestion)\"}", "times": 1}));
    let service = standin.exporter(json!({}));
    let outcome = service
        .export(Signal::Logs, &logs("p1", 4, 0), None)
        .unwrap();
    assert_all_dropped(&outcome, 4, "FeatureDisabled(OurLogsIngestion)");

    // A 400 to a single span: it alone is refused, and not retried.
    standin.fault(json!({"target": "ingest", "project": "p1", "status": 400, "times": 1}));
    let outcome = service
        .export(Signal::Traces, &traces(&[("p1", 1)], 0), None)
        .unwrap();
    assert_all_dropped(&outcome, 1, "rejected by Sentry (400)");
    assert_eq!(ingest_requests(&standin, "p1").len(), 2, "no retry");
}

#[test]
fn a_400_is_halved_until_the_refused_item_is_alone() {
    let standin = Standin::with_projects(&["p1"]);
    let service = standin.exporter(json!({}));
    // The whole request refused, then its first half, then the first quarter's first span.
    standin.fault(json!({"target": "ingest", "project": "p1", "status": 400, "times": 3}));
    let outcome = service
        .export(Signal::Traces, &traces(&[("p1", 4)], 0), None)
        .unwrap();
    assert_eq!(
        (outcome.sent, outcome.dropped, outcome.retryable),
        (3, 1, 0)
    );
    let statuses: Vec<_> = ingest_requests(&standin, "p1")
        .into_iter()
        .map(|(_, status)| status)
        .collect();
    let (refused, taken) = (Some(400), Some(200));
    assert_eq!(statuses, [refused, refused, refused, taken, taken]);
}

#[test]
fn repeated_refusals_warn_once_not_once_per_batch() {
    use sentry_exporter_core::{Core, Level, Logger};
    use std::sync::{Arc, Mutex};
    let standin = Standin::with_projects(&["p1"]);
    standin
        .fault(json!({"target": "ingest", "project": "p1", "status": 400, "body": "bad payload"}));
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let sink = warnings.clone();
    let logger = Logger::new(move |level, message| {
        if level == Level::Warn {
            sink.lock().unwrap().push(message.to_owned());
        }
    });
    let config = testdata::config(&standin.running.api, &standin.running.token);
    let service = Core::new(config.to_string().as_bytes(), logger).unwrap();
    service.start().unwrap();
    for i in 0..5 {
        let outcome = service
            .export(Signal::Traces, &traces(&[("p1", 1)], i), None)
            .unwrap();
        assert_eq!(outcome.dropped, 1);
    }
    let refused: Vec<_> = warnings
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains("bad payload"))
        .cloned()
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
}

#[test]
fn an_ingest_404_keeps_the_data_and_shows_in_the_status_until_ingest_works() {
    let standin = Standin::with_projects(&["p1"]);
    // Ingest is not where the keys say (a proxy path, say): every request answers 404.
    standin.fault(json!({"target": "ingest", "project": "p1", "status": 404, "times": 1}));
    let service = standin.exporter(json!({}));
    let first = service
        .export(Signal::Traces, &traces(&[("p1", 3)], 0), None)
        .unwrap();
    assert_eq!((first.sent, first.dropped, first.retryable), (0, 0, 3));
    let problem = service.health_problem().unwrap_or_default();
    assert!(problem.contains("answered 404"), "{problem}");
    let again = service
        .export(Signal::Traces, &first.retry_request, None)
        .unwrap();
    assert_eq!(again.sent, 3);
    assert_eq!(service.health_problem(), None);
}
