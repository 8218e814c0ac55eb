//! The whole pipeline against a local fake Sentry: routing, lookup, cache,
//! sending, and which data comes back for retry.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use sentry_exporter_core::{Logger, Service, Signal};

mod common;

use common::traces;

/// A canned ingest answer: status and extra headers.
type Answer = (StatusCode, Vec<(&'static str, &'static str)>);

#[derive(Default)]
struct Fake {
    /// slug -> project id; key = the id as 32 hex digits.
    projects: HashMap<String, u64>,
    keys_requests: HashMap<String, usize>,
    keys_status: Option<StatusCode>,
    /// project id -> status for its next ingest answers (popped front first).
    ingest_answers: HashMap<u64, Vec<Answer>>,
    /// project id -> (headers, decoded request) per accepted request.
    received: HashMap<u64, Vec<(HeaderMap, ExportTraceServiceRequest)>>,
}

type Shared = Arc<Mutex<Fake>>;

fn key_of(id: u64) -> String {
    format!("{id:032x}")
}

async fn keys(
    State(fake): State<Shared>,
    Path((_org, slug)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    assert_eq!(headers["authorization"], "Bearer tok");
    let mut fake = fake.lock().unwrap();
    *fake.keys_requests.entry(slug.clone()).or_default() += 1;
    if let Some(status) = fake.keys_status {
        return status.into_response();
    }
    let Some(&id) = fake.projects.get(&slug) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let host = headers["host"].to_str().unwrap().to_owned();
    Json(serde_json::json!([
        {"public": key_of(id), "projectId": id, "isActive": false, "dsn": {"public": format!("http://{}@{host}/999", key_of(999))}},
        {"public": key_of(id), "projectId": id, "isActive": true, "dsn": {"public": format!("http://{}@{host}/{id}", key_of(id))}},
    ]))
    .into_response()
}

async fn ingest(
    State(fake): State<Shared>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    if let Some((status, extra)) = fake
        .ingest_answers
        .get_mut(&id)
        .and_then(|a| (!a.is_empty()).then(|| a.remove(0)))
    {
        let mut response = status.into_response();
        for (k, v) in extra {
            response.headers_mut().insert(k, v.parse().unwrap());
        }
        return response;
    }
    assert_eq!(headers["content-encoding"], "gzip");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut raw)
        .unwrap();
    let request = ExportTraceServiceRequest::decode(&raw[..]).unwrap();
    fake.received
        .entry(id)
        .or_default()
        .push((headers, request));
    StatusCode::OK.into_response()
}

fn start_fake(projects: &[(&str, u64)]) -> (SocketAddr, Shared) {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        projects: projects
            .iter()
            .map(|(s, id)| (s.to_string(), *id))
            .collect(),
        ..Default::default()
    }));
    let app = Router::new()
        .route("/api/0/projects/{org}/{slug}/keys/", get(keys))
        // The organization exists (a 404 for a project means the project is missing), and
        // its lists for the preload are empty.
        .route(
            "/api/0/organizations/{org}/",
            get(|| async { Json(serde_json::json!({"slug": "acme"})) }),
        )
        .route(
            "/api/0/organizations/{org}/{list}/",
            get(|| async { Json(serde_json::json!([])) }),
        )
        .route("/api/{id}/integration/otlp/v1/traces/", post(ingest))
        .with_state(fake.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), fake)
}

fn service(addr: SocketAddr) -> Service {
    let json = format!(
        r#"{{"url":"http://{addr}","org_slug":"acme","auth_token":"tok","routing":{{"attribute_to_project_mapping":{{"legacy-orders":"orders"}}}}}}"#
    );
    let service = Service::new(json.as_bytes(), Logger::discard()).unwrap();
    service.start().unwrap();
    service
}

fn batch(services: &[(&str, u64)], first_id: u64) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(&traces(services, first_id)[..]).unwrap()
}

fn span_ids(requests: &[&ExportTraceServiceRequest]) -> Vec<u64> {
    let mut ids: Vec<u64> = requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| u64::from_be_bytes(s.span_id.clone().try_into().unwrap()))
        .collect();
    ids.sort();
    ids
}

fn received_ids(fake: &Shared, id: u64) -> Vec<u64> {
    let fake = fake.lock().unwrap();
    let requests: Vec<_> = fake
        .received
        .get(&id)
        .map(|v| v.iter().map(|(_, r)| r).collect())
        .unwrap_or_default();
    span_ids(&requests)
}

#[test]
fn routes_each_service_to_its_project_with_its_key() {
    let (addr, fake) = start_fake(&[("checkout", 1), ("orders", 2)]);
    let service = service(addr);
    let request = batch(
        &[
            ("checkout", 2),
            ("legacy-orders", 3),
            ("ghost", 4),
            ("checkout", 1),
        ],
        0,
    );
    let outcome = service
        .export(Signal::Traces, &request.encode_to_vec(), None)
        .unwrap();

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
    assert_eq!(received_ids(&fake, 1), [1, 2, 10]);
    assert_eq!(received_ids(&fake, 2), [3, 4, 5]);

    let fake = fake.lock().unwrap();
    let (headers, _) = &fake.received[&1][0];
    assert_eq!(
        headers["x-sentry-auth"],
        format!("Sentry sentry_key={}, sentry_version=7", key_of(1))
    );
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert!(headers["user-agent"]
        .to_str()
        .unwrap()
        .starts_with("otelcol-sentry-exporter/"));
    let (headers, _) = &fake.received[&2][0];
    assert_eq!(
        headers["x-sentry-auth"],
        format!("Sentry sentry_key={}, sentry_version=7", key_of(2))
    );
}

#[test]
fn endpoints_are_cached_between_batches() {
    let (addr, fake) = start_fake(&[("checkout", 1)]);
    let service = service(addr);
    for i in 0..5 {
        let request = batch(&[("checkout", 1), ("ghost", 1)], i * 10);
        service
            .export(Signal::Traces, &request.encode_to_vec(), None)
            .unwrap();
    }
    let fake = fake.lock().unwrap();
    assert_eq!(fake.keys_requests["checkout"], 1);
    assert_eq!(fake.keys_requests["ghost"], 1, "a 404 is remembered");
    assert_eq!(fake.received[&1].len(), 5);
}

#[test]
fn only_the_failed_projects_data_comes_back_for_retry() {
    let (addr, fake) = start_fake(&[("checkout", 1), ("orders", 2), ("billing", 3)]);
    fake.lock()
        .unwrap()
        .ingest_answers
        .insert(2, vec![(StatusCode::SERVICE_UNAVAILABLE, vec![])]);
    fake.lock().unwrap().ingest_answers.insert(
        3,
        vec![(StatusCode::BAD_GATEWAY, vec![("retry-after", "3")])],
    );
    let service = service(addr);
    let request = batch(&[("checkout", 1), ("orders", 2), ("billing", 3)], 0);
    let outcome = service
        .export(Signal::Traces, &request.encode_to_vec(), None)
        .unwrap();

    assert_eq!(
        (outcome.sent, outcome.dropped, outcome.retryable),
        (1, 0, 5)
    );
    assert_eq!(outcome.retry_after, Some(Duration::from_secs(3)));
    let retry = ExportTraceServiceRequest::decode(&outcome.retry_request[..]).unwrap();
    assert_eq!(span_ids(&[&retry]), [2, 3, 4, 5, 6]);
    assert_eq!(received_ids(&fake, 1), [1]);

    // The retry sends what failed, once.
    let outcome = service
        .export(Signal::Traces, &outcome.retry_request, None)
        .unwrap();
    assert_eq!((outcome.sent, outcome.retryable), (5, 0));
    assert_eq!(received_ids(&fake, 1), [1]);
    assert_eq!(received_ids(&fake, 2), [2, 3]);
    assert_eq!(received_ids(&fake, 3), [4, 5, 6]);
}

#[test]
fn a_failing_management_api_creates_nothing_and_keeps_the_data() {
    let (addr, fake) = start_fake(&[("checkout", 1)]);
    fake.lock().unwrap().keys_status = Some(StatusCode::INTERNAL_SERVER_ERROR);
    let service = service(addr);
    let request = batch(&[("checkout", 2)], 0).encode_to_vec();
    let outcome = service.export(Signal::Traces, &request, None).unwrap();
    assert_eq!((outcome.sent, outcome.retryable), (0, 2));
    assert_eq!(outcome.retry_request, request);

    fake.lock().unwrap().keys_status = None;
    let outcome = service
        .export(Signal::Traces, &outcome.retry_request, None)
        .unwrap();
    assert_eq!((outcome.sent, outcome.retryable), (2, 0));
    assert_eq!(received_ids(&fake, 1), [1, 2]);
}

#[test]
fn a_revoked_key_is_looked_up_again_and_sent_once_more() {
    let (addr, fake) = start_fake(&[("checkout", 1)]);
    fake.lock()
        .unwrap()
        .ingest_answers
        .insert(1, vec![(StatusCode::UNAUTHORIZED, vec![])]);
    let service = service(addr);
    let outcome = service
        .export(
            Signal::Traces,
            &batch(&[("checkout", 1)], 0).encode_to_vec(),
            None,
        )
        .unwrap();
    assert_eq!((outcome.sent, outcome.retryable), (1, 0));
    assert_eq!(fake.lock().unwrap().keys_requests["checkout"], 2);
    assert_eq!(received_ids(&fake, 1), [1]);
}

#[test]
fn refused_data_is_dropped_not_retried() {
    let (addr, fake) = start_fake(&[("checkout", 1)]);
    fake.lock()
        .unwrap()
        .ingest_answers
        .insert(1, vec![(StatusCode::BAD_REQUEST, vec![])]);
    let service = service(addr);
    let outcome = service
        .export(
            Signal::Traces,
            &batch(&[("checkout", 3)], 0).encode_to_vec(),
            None,
        )
        .unwrap();
    assert_eq!(
        (outcome.sent, outcome.dropped, outcome.retryable),
        (0, 3, 0)
    );
    assert!(
        outcome.problems[0].contains("rejected by Sentry (400)"),
        "{:?}",
        outcome.problems
    );
}
