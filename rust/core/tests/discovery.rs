//! Project discovery and auto-creation against the Sentry stand-in: paging,
//! preload, single lookups, negative cache, transient errors, 201/409/429,
//! self-hosted ingest URLs and hostile service names.

use std::time::Duration;

use sentry_exporter_core::Signal;
use serde_json::json;

mod common;

use common::*;

const SEVEN: [&str; 7] = ["a1", "b2", "c3", "d4", "e5", "f6", "g7"];

#[test]
fn preload_pages_through_projects_and_keys_so_known_projects_need_no_lookup() {
    let standin = Standin::start(sentry_standin::Config {
        projects: SEVEN.iter().map(|p| p.to_string()).collect(),
        page_size: 2,
        ..Default::default()
    });
    let service = standin.exporter(json!({}));
    wait_for("7 projects preloaded", || service.known_projects() == 7);
    assert_eq!(
        standin.count("GET", "/api/0/organizations/acme/projects/"),
        4
    );
    assert_eq!(
        standin.count("GET", "/api/0/organizations/acme/project-keys/"),
        4
    );

    let outcome = service
        .export(Signal::Traces, &batch("c3", 3, 0), None)
        .unwrap();
    assert_eq!(outcome.sent, 3);
    assert_eq!(
        standin.count("GET", "/api/0/projects/"),
        0,
        "no keys lookup"
    );
    assert_eq!(distinct(&standin.spans_of("c3")), 3);
}

#[test]
fn fifty_concurrent_batches_of_a_new_service_make_one_lookup_and_one_creation_and_lose_nothing() {
    let standin = Standin::with_projects(&["frontend"]);
    let service = standin.exporter(json!({"auto_create_projects": true}));
    wait_for("preload", || service.known_projects() == 1);

    std::thread::scope(|scope| {
        for i in 0..50 {
            let service = &service;
            scope.spawn(move || export_until_sent(service, batch("checkout", 4, i * 4)));
        }
    });

    let requests = standin.mgmt_requests();
    let creates: Vec<_> = requests.iter().filter(|(m, _, _)| m == "POST").collect();
    assert_eq!(creates.len(), 1, "{requests:#?}");
    assert_eq!(creates[0].1, "/api/0/teams/acme/backend/projects/");
    let first_create = requests.iter().position(|(m, _, _)| m == "POST").unwrap();
    let lookups_before_create = requests[..first_create]
        .iter()
        .filter(|(_, p, _)| p.starts_with("/api/0/projects/acme/checkout/keys/"))
        .count();
    assert_eq!(lookups_before_create, 1, "{requests:#?}");

    let spans = standin.spans_of("checkout");
    assert_eq!(
        distinct(&spans),
        200,
        "every span of every first batch arrives"
    );
    assert_eq!(total(&spans), 200, "exactly once");
    assert_eq!(service.created_projects(), 1);
}

#[test]
fn unknown_project_without_auto_create_is_dropped_and_not_asked_again_soon() {
    let standin = Standin::with_projects(&["frontend"]);
    let service = standin.exporter(json!({}));
    wait_for("preload", || service.known_projects() == 1);

    let outcome = service
        .export(Signal::Traces, &batch("ghost", 2, 0), None)
        .unwrap();
    assert_all_dropped(&outcome, 2, "project_not_found");
    let outcome = service
        .export(Signal::Traces, &batch("ghost", 2, 2), None)
        .unwrap();
    assert_eq!(outcome.dropped, 2);
    assert_eq!(standin.count("GET", "/api/0/projects/acme/ghost/keys/"), 1);
    assert_eq!(standin.count("POST", "/"), 0);
}

#[test]
fn a_failing_keys_endpoint_creates_nothing_and_the_data_arrives_after_recovery() {
    let standin = Standin::with_projects(&["payments"]);
    // No preload, and the project's own lookup fails.
    standin.fault(json!([
        {"target": "mgmt", "path_contains": "/project-keys/", "status": 500},
        {"target": "mgmt", "path_contains": "/projects/acme/payments/keys/", "status": 500},
    ]));
    let service = standin.exporter(json!({"auto_create_projects": true}));
    let request = batch("payments", 5, 0);
    let outcome = service.export(Signal::Traces, &request, None).unwrap();
    assert_eq!((outcome.sent, outcome.retryable), (0, 5));
    assert_eq!(outcome.retry_request, request);
    let outcome = service
        .export(Signal::Traces, &outcome.retry_request, None)
        .unwrap();
    assert_eq!(outcome.retryable, 5);
    assert_eq!(
        standin.count("POST", "/"),
        0,
        "a 500 never creates a project"
    );

    standin.clear_faults();
    export_until_sent(&service, outcome.retry_request);
    assert_eq!(distinct(&standin.spans_of("payments")), 5);
    assert_eq!(total(&standin.spans_of("payments")), 5);
}

#[test]
fn a_management_api_rate_limit_delays_the_data_by_its_reset() {
    let standin = Standin::with_projects(&["payments"]);
    standin.fault(json!([
        {"target": "mgmt", "path_contains": "/project-keys/", "status": 500},
        {"target": "mgmt", "path_contains": "/projects/acme/payments/keys/", "status": 429, "headers": {"Retry-After": "7"}, "times": 1},
    ]));
    let service = standin.exporter(json!({}));
    let outcome = service
        .export(Signal::Traces, &batch("payments", 1, 0), None)
        .unwrap();
    assert_eq!(outcome.retryable, 1);
    assert_eq!(outcome.retry_after, Some(Duration::from_secs(7)));
}

#[test]
fn a_409_on_create_ends_with_the_data_in_the_existing_project() {
    let standin = Standin::with_projects(&["payments"]);
    standin.fault(json!([
        {"target": "mgmt", "path_contains": "/project-keys/", "status": 500},
        {"target": "mgmt", "path_contains": "/projects/acme/payments/keys/", "status": 404, "times": 1},
    ]));
    let service = standin.exporter(json!({"auto_create_projects": true}));
    export_until_sent(&service, batch("payments", 3, 0));
    let requests = standin.mgmt_requests();
    assert!(
        requests
            .iter()
            .any(|(m, _, s)| m == "POST" && *s == Some(409)),
        "{requests:#?}"
    );
    assert_eq!(total(&standin.spans_of("payments")), 3);
    assert_eq!(service.created_projects(), 0, "409: it already existed");
}

#[test]
fn a_429_on_create_waits_for_its_reset_while_another_project_is_created() {
    let standin = Standin::with_projects(&["frontend"]);
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    standin.fault(
        json!({"target": "mgmt", "method": "POST", "path_contains": "/projects/", "status": 429,
        "headers": {"X-Sentry-Rate-Limit-Reset": reset.to_string()}, "times": 1}),
    );
    let service = standin.exporter(json!({"auto_create_projects": true}));
    wait_for("preload", || service.known_projects() == 1);

    let slow = service
        .export(Signal::Traces, &batch("alpha", 1, 0), None)
        .unwrap();
    assert_eq!(slow.retryable, 1);
    wait_for("alpha's create to be rate limited", || {
        standin.count("POST", "/") == 1
    });
    export_until_sent(&service, batch("beta", 1, 10));
    let created = standin.records()["projects_created"].clone();
    assert_eq!(
        created,
        json!(["beta"]),
        "beta is created while alpha waits"
    );

    export_until_sent(&service, slow.retry_request);
    let statuses: Vec<_> = standin
        .mgmt_requests()
        .into_iter()
        .filter(|(m, _, _)| m == "POST")
        .map(|(_, _, s)| s)
        .collect();
    assert_eq!(statuses, [Some(429), Some(201), Some(201)]);
    assert_eq!(
        standin.records()["projects_created"],
        json!(["beta", "alpha"])
    );
    assert_eq!(service.created_projects(), 2);
}

#[test]
fn creation_stops_at_max_created_projects() {
    let standin = Standin::with_projects(&["frontend"]);
    let service =
        standin.exporter(json!({"auto_create_projects": true, "max_created_projects": 1}));
    export_until_sent(&service, batch("one", 1, 0));
    let outcome = service
        .export(Signal::Traces, &batch("two", 1, 1), None)
        .unwrap();
    assert_eq!((outcome.dropped, outcome.retryable), (1, 0));
    assert_eq!(standin.records()["projects_created"], json!(["one"]));
}

#[test]
fn self_hosted_ingest_on_another_port_and_path_prefix_receives_the_data() {
    for otlp_dsn in [true, false] {
        let standin = Standin::start(sentry_standin::Config {
            projects: vec!["frontend".into()],
            ingest_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            ingest_path_prefix: "/sentry/eu".into(),
            otlp_dsn,
            ..Default::default()
        });
        assert_ne!(standin.running.ingest, standin.running.api);
        let service = standin.exporter(json!({}));
        let outcome = service
            .export(Signal::Traces, &batch("frontend", 2, 0), None)
            .unwrap();
        assert_eq!(
            outcome.sent, 2,
            "otlp_dsn={otlp_dsn}: {:?}",
            outcome.problems
        );
        let request = &standin.records()["projects"]["frontend"]["requests"][0];
        assert!(
            request["path"]
                .as_str()
                .unwrap()
                .starts_with("/sentry/eu/api/"),
            "otlp_dsn={otlp_dsn}: {request}"
        );
    }
}

#[test]
fn a_hostile_service_name_reaches_the_management_api_only_as_one_escaped_segment() {
    let standin = Standin::with_projects(&["frontend"]);
    let service =
        standin.exporter(json!({"auto_create_projects": true, "max_created_projects": 0}));
    wait_for("preload", || service.known_projects() == 1);
    for name in [
        "../../organizations/x/members?a=",
        "..%2F..%2Fx",
        "a/../../b#frag",
    ] {
        service
            .export(Signal::Traces, &batch(name, 1, 0), None)
            .unwrap();
    }
    for (method, path, _) in standin.mgmt_requests() {
        let (path, query) = path.split_once('?').unwrap_or((&path, ""));
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let ok = match segments.as_slice() {
            ["api", "0", "organizations", "acme", "projects" | "project-keys" | "teams"] => true,
            ["api", "0", "projects", "acme", slug, "keys"] => slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            _ => false,
        };
        assert!(
            ok && method == "GET" && (query.is_empty() || query == "status=active"),
            "{method} {path}?{query}"
        );
    }
    assert_eq!(
        standin.count(
            "GET",
            "/api/0/projects/acme/organizations-x-members-a/keys/"
        ),
        1
    );
}

#[test]
fn preload_catches_up_when_the_management_api_returns() {
    let standin = Standin::with_projects(&["frontend", "backend"]);
    standin
        .fault(json!({"target": "mgmt", "path_contains": "/organizations/acme/", "status": 503}));
    let service = standin.exporter(json!({}));
    wait_for("a failed preload", || {
        standin.count("GET", "/api/0/organizations/acme/projects/") >= 1
    });
    assert_eq!(service.known_projects(), 0);
    standin.clear_faults();
    wait_for("the preload retry", || service.known_projects() == 2);
}
