//! The legacy `dsn` mode against the stand-in: every resource to the DSN's project, whatever
//! its service, with no management API request; 413 splitting and rate limits as in the
//! organization mode.

mod common;

use std::time::Duration;

use common::{distinct, export_signal_until_sent, logs, total, traces, Standin};
use sentry_exporter_core::testdata;
use sentry_exporter_core::{Core, Logger, Signal};
use serde_json::{json, Value};

/// The DSN of `project`, built as Sentry shows it; the stand-in's records are reset after, so
/// that its management requests hold only the exporter's.
fn dsn_of(standin: &Standin, project: &str) -> String {
    let key = standin.key_of(project);
    let id = &standin.records()["projects"][project]["id"];
    let id = id
        .as_u64()
        .map_or_else(|| id.as_str().unwrap().to_owned(), |n| n.to_string());
    let (scheme, host) = standin.running.ingest.split_once("://").unwrap();
    standin.control(reqwest::Method::POST, "reset", None);
    format!("{scheme}://{key}@{host}/{id}")
}

fn dsn_exporter(dsn: &str, extra: Value) -> Core {
    let mut config = testdata::config("", "");
    config["org_slug"] = json!("");
    // As the Go component sends its default routing in this mode: none.
    config["routing"]["project_from_attribute"] = json!("");
    config["dsn"] = json!(dsn);
    common::merge(&mut config, extra);
    let service = Core::new(config.to_string().as_bytes(), Logger::discard()).unwrap();
    service.start().unwrap();
    service
}

#[test]
fn every_service_goes_to_the_dsns_project_without_the_management_api() {
    let standin = Standin::with_projects(&["checkout", "backend"]);
    let service = dsn_exporter(&dsn_of(&standin, "backend"), json!({}));

    let outcome = service
        .export(
            Signal::Traces,
            &traces(&[("checkout", 3), ("billing", 2)], 0),
            None,
        )
        .unwrap();
    assert_eq!(
        (outcome.sent, outcome.dropped, outcome.retryable),
        (5, 0, 0)
    );
    export_signal_until_sent(&service, Signal::Logs, logs("", 4, 0));

    let records = standin.records();
    let backend = &records["projects"]["backend"];
    assert_eq!(distinct(&backend["spans"]), 5);
    assert_eq!(total(&backend["logs"]), 4);
    assert_eq!(backend["services"], json!(["", "billing", "checkout"]));
    assert_eq!(distinct(&records["projects"]["checkout"]["spans"]), 0);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        standin.mgmt_requests(),
        [],
        "no preload, lookup or creation"
    );
}

#[test]
fn a_too_large_request_is_split_and_a_rate_limit_is_honoured() {
    let standin = Standin::with_projects(&["backend"]);
    let dsn = dsn_of(&standin, "backend");
    let request = traces(&[("a", 4), ("b", 4)], 0);
    let one_span = traces(&[("a", 1)], 0).len() + 40;
    standin.fault(json!({"target": "ingest", "project": "backend", "max_body_bytes": one_span}));
    let service = dsn_exporter(&dsn, json!({"http": {"compression": "none"}}));
    let outcome = service.export(Signal::Traces, &request, None).unwrap();
    assert_eq!(
        (outcome.sent, outcome.dropped),
        (8, 0),
        "{:?}",
        outcome.problems
    );
    assert_eq!(distinct(&standin.spans_of("backend")), 8);

    standin.clear_faults();
    standin.fault(
        json!({"target": "ingest", "project": "backend", "status": 429,
        "headers": {"Retry-After": "12"}, "times": 1}),
    );
    let outcome = service
        .export(Signal::Traces, &traces(&[("a", 1)], 100), None)
        .unwrap();
    assert_eq!(outcome.retryable, 1, "{:?}", outcome.problems);
    assert!(outcome.retry_after.unwrap() > Duration::from_secs(10));
    assert_eq!(standin.mgmt_requests(), []);
}
