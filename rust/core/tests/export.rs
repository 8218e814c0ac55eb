//! The whole pipeline against the stand-in: routing, lookup, cache, sending,
//! and which data comes back for retry. (A failing management API, a revoked
//! key and refused data: see discovery.rs and failures.rs.)

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use sentry_exporter_core::testdata::span_numbers;
use sentry_exporter_core::Signal;
use serde_json::json;

mod common;

use common::*;

/// The numbers (span ids) of the spans a project received, sorted.
fn received(standin: &Standin, project: &str) -> Vec<u64> {
    let spans = standin.spans_of(project);
    let mut numbers: Vec<u64> = spans
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .map(|id| u64::from_str_radix(id.rsplit('-').next().unwrap(), 16).unwrap())
        .collect();
    numbers.sort();
    numbers
}

/// The preload's org-wide key list fails: every project is looked up on its own.
const NO_PRELOAD: &str = "/project-keys/";

#[test]
fn routes_each_service_to_its_project_with_its_key() {
    let standin = Standin::with_projects(&["checkout", "orders"]);
    let service = standin.exporter(
        json!({"routing": {"attribute_to_project_mapping": {"legacy-orders": "orders"}}}),
    );
    let request = traces(
        &[
            ("checkout", 2),
            ("legacy-orders", 3),
            ("ghost", 4),
            ("checkout", 1),
        ],
        0,
    );
    let outcome = service.export(Signal::Traces, &request, None).unwrap();

    assert_eq!(
        (outcome.sent, outcome.dropped, outcome.retryable),
        (6, 4, 0),
        "{:?}",
        outcome.problems
    );
    assert!(outcome.retry_request.is_empty());
    assert!(outcome
        .problems
        .iter()
        .any(|p| p.contains("ghost") && p.contains("project_not_found")));
    assert_eq!(received(&standin, "checkout"), [1, 2, 10]);
    assert_eq!(received(&standin, "orders"), [3, 4, 5]);

    let records = standin.records();
    for project in ["checkout", "orders"] {
        let headers = &records["projects"][project]["requests"][0]["headers"];
        assert_eq!(
            headers["x-sentry-auth"],
            format!(
                "Sentry sentry_key={}, sentry_version=7, sentry_client=otelcol-sentry/{}",
                standin.key_of(project),
                env!("CARGO_PKG_VERSION")
            ),
            "{project}"
        );
        assert_eq!(headers["content-type"], "application/x-protobuf");
        assert!(headers["user-agent"]
            .as_str()
            .unwrap()
            .starts_with("otelcol-sentry-exporter/"));
    }
}

#[test]
fn endpoints_are_cached_between_batches() {
    let standin = Standin::with_projects(&["checkout"]);
    standin.fault(json!({"target": "mgmt", "path_contains": NO_PRELOAD, "status": 500}));
    let service = standin.exporter(json!({}));
    for i in 0..5 {
        service
            .export(
                Signal::Traces,
                &traces(&[("checkout", 1), ("ghost", 1)], i * 10),
                None,
            )
            .unwrap();
    }
    assert_eq!(
        standin.count("GET", "/api/0/projects/acme/checkout/keys/"),
        1
    );
    assert_eq!(
        standin.count("GET", "/api/0/projects/acme/ghost/keys/"),
        1,
        "a 404 is remembered"
    );
    let requests = &standin.records()["projects"]["checkout"]["requests"];
    assert_eq!(requests.as_array().unwrap().len(), 5);
}

#[test]
fn only_the_failed_projects_data_comes_back_for_retry() {
    let standin = Standin::with_projects(&["checkout", "orders", "billing"]);
    standin.fault(json!([
        {"target": "ingest", "project": "orders", "status": 503, "times": 1},
        {"target": "ingest", "project": "billing", "status": 502,
            "headers": {"Retry-After": "3"}, "times": 1},
    ]));
    let service = standin.exporter(json!({}));
    let request = traces(&[("checkout", 1), ("orders", 2), ("billing", 3)], 0);
    let outcome = service.export(Signal::Traces, &request, None).unwrap();

    assert_eq!(
        (outcome.sent, outcome.dropped, outcome.retryable),
        (1, 0, 5)
    );
    assert_eq!(outcome.retry_after, Some(Duration::from_secs(3)));
    let retry = ExportTraceServiceRequest::decode(&outcome.retry_request[..]).unwrap();
    let mut retried = span_numbers(&retry);
    retried.sort();
    assert_eq!(retried, [2, 3, 4, 5, 6]);
    assert_eq!(received(&standin, "checkout"), [1]);

    // The retry sends what failed, once.
    let outcome = service
        .export(Signal::Traces, &outcome.retry_request, None)
        .unwrap();
    assert_eq!((outcome.sent, outcome.retryable), (5, 0));
    assert_eq!(received(&standin, "checkout"), [1]);
    assert_eq!(received(&standin, "orders"), [2, 3]);
    assert_eq!(received(&standin, "billing"), [4, 5, 6]);
    for project in ["checkout", "orders", "billing"] {
        assert_eq!(
            total(&standin.spans_of(project)),
            distinct(&standin.spans_of(project)) as u64,
            "{project}: exactly once"
        );
    }
}

/// `request` with its one occurrence of `from` replaced by `to`, of the same length.
fn patched(mut request: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    let at: Vec<usize> = (0..request.len())
        .filter(|&i| request[i..].starts_with(from))
        .collect();
    assert_eq!(at.len(), 1);
    request[at[0]..at[0] + to.len()].copy_from_slice(to);
    request
}

#[test]
fn invalid_utf8_is_repaired_before_routing_and_sending() {
    let standin = Standin::with_projects(&["checkout"]);
    let service = standin.exporter(json!({}));
    // A service name that ends in a byte never valid in UTF-8: prost (as Sentry's ingest)
    // refuses such a request whole.
    let request = patched(
        traces(&[("checkout!", 2)], 0),
        b"checkout!",
        b"checkout\xff",
    );
    assert!(ExportTraceServiceRequest::decode(&*request).is_err());

    let routing = service.route(Signal::Traces, &request, &[2]).unwrap();
    let projects: Vec<&str> = routing.projects.iter().map(|s| s.as_str()).collect();
    assert_eq!(projects, ["checkout"]);
    let outcome = service.export(Signal::Traces, &request, None).unwrap();
    assert_eq!(
        (outcome.sent, outcome.dropped),
        (2, 0),
        "{:?}",
        outcome.problems
    );
    assert_eq!(received(&standin, "checkout"), [1, 2]);

    let telemetry: serde_json::Value = serde_json::from_str(&service.telemetry_json()).unwrap();
    let repaired = telemetry["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "strings_repaired")
        .unwrap();
    let traces_point = repaired["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"]["signal"] == "traces")
        .unwrap();
    assert_eq!(traces_point["value"], 1, "counted once: by the export");
}
