//! Metrics as Sentry trace metrics against the stand-in: cumulative counters and histograms
//! arrive as exact deltas, also when Sentry fails a batch and the collector retries it, and
//! when one project of a batch fails while another succeeds.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Standin;
use sentry_exporter_core::testdata::{cumulative_counter, cumulative_histogram, metrics_request};
use sentry_exporter_core::{Core, ExportOutcome, Signal};
use serde_json::{json, Value};

/// Nanoseconds since the epoch, `secs` from now.
fn at(secs: u64) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now + Duration::from_secs(secs)).as_nanos() as u64
}

fn export(service: &Core, request: &[u8]) -> ExportOutcome {
    service
        .export(Signal::Metrics, request, Some(Duration::from_secs(10)))
        .unwrap()
}

fn items(standin: &Standin, project: &str, name: &str) -> Vec<Value> {
    let records = standin.records();
    let all = records["projects"][project]["trace_metrics"]
        .as_array()
        .cloned();
    all.unwrap_or_default()
        .into_iter()
        .filter(|m| m["name"] == name)
        .collect()
}

/// The sum of a counter's items.
fn total(standin: &Standin, project: &str, name: &str) -> f64 {
    items(standin, project, name)
        .iter()
        .map(|m| m["value"].as_f64().unwrap())
        .sum()
}

/// What Sentry extrapolates from a distribution's items: (count, sum).
fn extrapolated(standin: &Standin, project: &str, name: &str) -> (f64, f64) {
    items(standin, project, name)
        .iter()
        .fold((0.0, 0.0), |(n, s), m| {
            let rate = m["attributes"]["sentry.client_sample_rate"]["value"]
                .as_f64()
                .unwrap_or(1.0);
            (n + 1.0 / rate, s + m["value"].as_f64().unwrap() / rate)
        })
}

/// Two batches of a cumulative counter (5, then 12) and histogram (10, 20, then 10..40) of
/// `project`, counted from one start after the exporter started.
fn two_batches(project: &str) -> [Vec<u8>; 2] {
    let start = at(1);
    let batch = |time, counter, values: &[f64]| {
        metrics_request(
            project,
            vec![
                cumulative_counter("orders", start, time, counter),
                cumulative_histogram("latency", start, time, values),
            ],
        )
    };
    [
        batch(at(2), 5.0, &[10.0, 20.0]),
        batch(at(3), 12.0, &[10.0, 20.0, 30.0, 40.0]),
    ]
}

fn fail_once(standin: &Standin, project: &str) {
    standin.fault(json!({"target": "ingest", "project": project, "signal": "envelope", "status": 503, "times": 1}));
}

#[test]
fn a_batch_sentry_fails_is_retried_without_losing_or_double_counting_a_delta() {
    let standin = Standin::with_projects(&["shop"]);
    let service = standin.exporter(json!({}));
    let [first, second] = two_batches("shop");
    assert_eq!(export(&service, &first).retryable, 0);
    fail_once(&standin, "shop");
    let failed = export(&service, &second);
    assert_eq!(failed.retryable, 2, "{:?}", failed.problems);
    assert_eq!(export(&service, &failed.retry_request).retryable, 0);
    // The collector may also send a batch again after it was accepted.
    assert_eq!(export(&service, &second).retryable, 0);
    assert_eq!(total(&standin, "shop", "orders"), 12.0);
    let (count, sum) = extrapolated(&standin, "shop", "latency");
    assert_eq!(count, 4.0);
    assert!((sum - 100.0).abs() <= 10.0, "{sum}");
}

#[test]
fn when_one_project_fails_only_its_part_comes_back_and_both_totals_hold() {
    let standin = Standin::with_projects(&["shop", "api"]);
    let service = standin.exporter(json!({}));
    let [shop_first, shop_second] = two_batches("shop");
    let [api_first, api_second] = two_batches("api");
    let both = |a: &[u8], b: &[u8]| [a, b].concat();
    assert_eq!(
        export(&service, &both(&shop_first, &api_first)).retryable,
        0
    );
    fail_once(&standin, "api");
    let failed = export(&service, &both(&shop_second, &api_second));
    assert_eq!(failed.retry_request, api_second, "only api's part");
    export(&service, &failed.retry_request);
    for project in ["shop", "api"] {
        assert_eq!(total(&standin, project, "orders"), 12.0, "{project}");
        assert_eq!(
            extrapolated(&standin, project, "latency").0,
            4.0,
            "{project}"
        );
    }
}

#[test]
fn series_that_began_before_the_exporter_count_from_their_next_point() {
    let standin = Standin::with_projects(&["shop"]);
    let service = standin.exporter(json!({}));
    let long_ago = 1_000_000_000;
    let restart = |time, value| {
        metrics_request(
            "shop",
            vec![cumulative_counter("orders", long_ago, time, value)],
        )
    };
    export(&service, &restart(at(1), 100.0));
    export(&service, &restart(at(2), 107.0));
    assert_eq!(
        total(&standin, "shop", "orders"),
        7.0,
        "the 100 were sent before the restart"
    );
}

#[test]
fn excluded_metrics_are_not_sent() {
    let standin = Standin::with_projects(&["shop"]);
    let service = standin.exporter(json!({"metrics": {"exclude": ["lat*"]}}));
    let [first, _] = two_batches("shop");
    export(&service, &first);
    assert_eq!(total(&standin, "shop", "orders"), 5.0);
    assert!(items(&standin, "shop", "latency").is_empty());
}

#[test]
fn items_refused_beside_accepted_ones_are_counted_and_the_part_counts_as_sent() {
    let standin = Standin::with_projects(&["shop"]);
    let service = standin.exporter(json!({}));
    let start = at(1);
    let counters = (0..1001)
        .map(|i| cumulative_counter(&format!("c{i}"), start, at(2), 1.0))
        .collect();
    standin.fault(json!({"target": "ingest", "project": "shop", "signal": "envelope", "status": 403, "times": 1}));
    let outcome = export(&service, &metrics_request("shop", counters));
    assert_eq!(
        (outcome.sent, outcome.dropped, outcome.retryable),
        (1001, 0, 0)
    );
    let telemetry: Value = serde_json::from_str(&service.telemetry_json()).unwrap();
    let dropped = telemetry["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "metric_items_dropped")
        .unwrap()["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"]["reason"] == "rejected")
        .unwrap()["value"]
        .clone();
    assert_eq!(dropped, 1000, "the first envelope's items");
    let arrived = standin.records()["projects"]["shop"]["trace_metric_total"].clone();
    assert_eq!(arrived, 1);
}
