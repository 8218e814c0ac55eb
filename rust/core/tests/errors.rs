//! Error events from exceptions against the stand-in: one event per exception, in the project
//! of its span, and an event and the span it came from succeed or fail apart: a failed event
//! is retried by the exporter alone, a failed span comes back without making a second event.

mod common;

use std::time::Duration;

use common::{wait_for, Standin};
use sentry_exporter_core::testdata::{
    exception, exception_log, exception_span, logs_request, traces_request, Resource,
};
use sentry_exporter_core::{Core, Signal};
use serde_json::{json, Value};

/// A Python traceback as `exception.stacktrace` carries it.
const TRACEBACK: &str = "Traceback (most recent call last):
  File \"/srv/shop/app.py\", line 40, in checkout
    raise_checkout_error()
  File \"/srv/shop/app.py\", line 12, in raise_checkout_error
    raise ValueError(\"card declined\")
ValueError: card declined
";

fn shop() -> Resource {
    Resource::service("shop", 0)
        .with("service.version", "2.0.1")
        .with("deployment.environment.name", "staging")
        .with("telemetry.sdk.language", "python")
}

/// Span `span` of trace 7 with one exception.
fn failed_checkout(span: u64) -> Vec<u8> {
    let attributes = exception("ValueError", "card declined", TRACEBACK);
    traces_request(&[shop().with_spans(vec![exception_span(7, span, "checkout", attributes)])])
}

fn records(standin: &Standin) -> Value {
    standin.records()["projects"]["shop"].clone()
}

fn events(standin: &Standin) -> u64 {
    records(standin)["event_total"].as_u64().unwrap_or(0)
}

/// The envelope requests that reached the stand-in: (answered at, in ms; status).
fn envelope_requests(standin: &Standin) -> Vec<(u64, u64)> {
    let records = records(standin);
    let requests = records["requests"].as_array().cloned().unwrap_or_default();
    requests
        .iter()
        .filter(|r| r["signal"] == "envelope")
        .map(|r| {
            (
                r["at_ms"].as_u64().unwrap(),
                r["status"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn metric(service: &Core, name: &str, attributes: Value) -> u64 {
    let telemetry: Value = serde_json::from_str(&service.telemetry_json()).unwrap();
    let metric = telemetry["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap()
        .clone();
    let points = metric["points"].as_array().unwrap().clone();
    let point = points.iter().find(|p| p["attributes"] == attributes);
    point.map_or(0, |p| p["value"].as_u64().unwrap())
}

fn export(service: &Core, signal: Signal, request: &[u8]) -> sentry_exporter_core::ExportOutcome {
    service
        .export(signal, request, Some(Duration::from_secs(10)))
        .unwrap()
}

#[test]
fn an_exception_becomes_one_event_in_its_project_and_its_log_record_adds_none() {
    let standin = Standin::with_projects(&["shop"]);
    let service = standin.exporter(json!({}));
    assert_eq!(
        export(&service, Signal::Traces, &failed_checkout(3)).sent,
        1
    );
    wait_for("the event", || events(&standin) == 1);
    let event = &records(&standin)["events"][0];
    assert_eq!(event["release"], "2.0.1");
    assert_eq!(event["environment"], "staging");
    assert_eq!(event["platform"], "python");
    assert_eq!(event["transaction"], "checkout");
    assert_eq!(event["contexts"]["trace"]["trace_id"], "07".repeat(16));
    assert_eq!(event["contexts"]["trace"]["span_id"], format!("{:016x}", 3));
    let raised = &event["exception"]["values"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&raised["type"], &raised["value"]),
        (&json!("ValueError"), &json!("card declined"))
    );
    let functions: Vec<&str> = raised["stacktrace"]["frames"]
        .as_array()
        .map(|frames| {
            frames
                .iter()
                .filter_map(|f| f["function"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(functions, ["checkout", "raise_checkout_error"], "{event}");

    // The SDK's logging bridge reports the same exception, in the same span.
    let attributes = exception("ValueError", "card declined", TRACEBACK);
    let logged = logs_request(&[shop().with_log_records(vec![exception_log(7, 3, attributes)])]);
    assert_eq!(export(&service, Signal::Logs, &logged).sent, 1);
    assert_eq!(metric(&service, "error_events_deduplicated", json!({})), 1);
    assert_eq!(metric(&service, "error_events_sent", json!({})), 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(events(&standin), 1);
    assert_eq!(common::total(&standin.spans_of("shop")), 1);
}

#[test]
fn an_event_sentry_fails_is_retried_alone() {
    let standin = Standin::with_projects(&["shop"]);
    let service = standin.exporter(json!({}));
    standin.fault(json!({"target": "ingest", "project": "shop", "signal": "envelope", "status": 503, "times": 1}));
    let outcome = export(&service, Signal::Traces, &failed_checkout(1));
    assert_eq!((outcome.sent, outcome.retryable), (1, 0), "the span went");
    wait_for("the retried event", || events(&standin) == 1);
    let statuses: Vec<u64> = envelope_requests(&standin).iter().map(|r| r.1).collect();
    assert_eq!(statuses, [503, 200]);
    assert_eq!(
        common::total(&standin.spans_of("shop")),
        1,
        "the span was not sent again"
    );
    assert_eq!(metric(&service, "error_events_retrying", json!({})), 0);
}

#[test]
fn a_span_sentry_fails_comes_back_without_making_a_second_event() {
    let standin = Standin::with_projects(&["shop"]);
    let service = standin.exporter(json!({}));
    standin.fault(json!({"target": "ingest", "project": "shop", "signal": "traces", "status": 503, "times": 1}));
    let outcome = export(&service, Signal::Traces, &failed_checkout(1));
    assert_eq!((outcome.sent, outcome.retryable), (0, 1));
    let outcome = export(&service, Signal::Traces, &outcome.retry_request);
    assert_eq!(outcome.sent, 1);
    wait_for("the event", || events(&standin) == 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(envelope_requests(&standin).len(), 1);
    assert_eq!(metric(&service, "error_events_deduplicated", json!({})), 1);
}

#[test]
fn no_envelope_is_sent_while_an_error_limit_holds() {
    let standin = Standin::with_projects(&["shop"]);
    let service = standin.exporter(json!({}));
    let limit = json!({"X-Sentry-Rate-Limits": "2:error:key"});
    standin.fault(json!({"target": "ingest", "project": "shop", "signal": "envelope", "status": 429, "headers": limit, "times": 1}));
    assert_eq!(
        export(&service, Signal::Traces, &failed_checkout(1)).sent,
        1
    );
    // A second exception while the limit holds waits too, without a request.
    assert_eq!(
        export(&service, Signal::Traces, &failed_checkout(2)).sent,
        1
    );
    wait_for("both events", || events(&standin) == 2);
    let requests = envelope_requests(&standin);
    assert_eq!(requests.len(), 3, "{requests:?}");
    let (limited_at, _) = requests[0];
    assert!(
        requests[1..]
            .iter()
            .all(|(at, status)| *status == 200 && at - limited_at >= 1900),
        "{requests:?}"
    );
}

#[test]
fn an_event_sentry_finds_too_large_is_sent_again_cut_and_the_cap_holds() {
    let standin = Standin::with_projects(&["shop"]);
    let service = standin.exporter(json!({"errors": {"max_per_minute": 2}}));
    standin.fault(json!({"target": "ingest", "project": "shop", "signal": "envelope", "status": 413, "times": 1}));
    let spans: Vec<_> = (1..=4)
        .map(|id| {
            exception_span(
                7,
                id,
                "checkout",
                exception("E", &format!("n{id}"), TRACEBACK),
            )
        })
        .collect();
    let request = traces_request(&[shop().with_spans(spans)]);
    assert_eq!(export(&service, Signal::Traces, &request).sent, 4);
    wait_for("the events", || events(&standin) == 2);
    let events = records(&standin)["events"].as_array().cloned().unwrap();
    let cut: Vec<bool> = events
        .iter()
        .map(|e| e["contexts"].get("otel").is_none())
        .collect();
    assert_eq!(cut.iter().filter(|c| **c).count(), 1, "{events:?}");
    assert_eq!(
        metric(
            &service,
            "error_events_dropped",
            json!({"reason": "too_large"})
        ),
        0
    );
    assert_eq!(
        metric(
            &service,
            "error_events_dropped",
            json!({"reason": "capped"})
        ),
        2
    );
}

#[test]
fn an_exception_of_a_new_service_creates_its_project_and_its_issue_arrives() {
    let standin = Standin::with_projects(&[]);
    let service = standin.exporter(json!({"auto_create_projects": true}));
    let outcomes = common::export_until_sent(&service, failed_checkout(1));
    assert_eq!(outcomes.iter().map(|o| o.sent).sum::<u64>(), 1);
    wait_for("the event", || events(&standin) == 1);
    assert_eq!(
        records(&standin)["events"][0]["exception"]["values"][0]["type"],
        "ValueError"
    );
    let creations = standin.count("POST", "/api/0/teams/");
    assert_eq!(creations, 1, "{:?}", standin.mgmt_requests());
}

#[test]
fn with_errors_off_no_envelope_is_sent() {
    let standin = Standin::with_projects(&["shop"]);
    let service = standin.exporter(json!({"errors": {"enabled": false}}));
    assert_eq!(
        export(&service, Signal::Traces, &failed_checkout(1)).sent,
        1
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(envelope_requests(&standin).is_empty());
}
