//! The control API: faults at run time, reset, and the records they leave.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sentry_standin::{Config, Running};
use serde_json::{json, Value};

async fn fault(s: &Running, rule: Value) -> (u16, Value) {
    post_json(&format!("{}/_standin/faults", s.api), rule).await
}

#[tokio::test]
async fn status_fault_with_times_then_normal() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    let (status, rules) = fault(
        &s,
        json!({"target": "ingest", "project": "frontend", "status": 503, "times": 2,
               "headers": {"Retry-After": "2"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(rules["rules"][0]["times"], 2);
    let url = format!("{}/api/{id}/integration/otlp/v1/traces", s.ingest);
    let body = traces("web", 1, 0, 5);
    for _ in 0..2 {
        let resp = client()
            .post(&url)
            .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 503);
        assert_eq!(
            resp.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"2"[..])
        );
    }
    assert_eq!(send_traces(&url, &key, body).await.0, 200);
    let p = &records(&s).await["projects"]["frontend"];
    assert_eq!(p["span_total"], 5);
    let reqs: Vec<(u64, bool)> = p["requests"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| (r["status"].as_u64().unwrap_or(0), r["fault"] == true))
        .collect();
    assert_eq!(reqs, [(503, true), (503, true), (200, false)]);
    let (_, rules) = get_json(&format!("{}/_standin/faults", s.api)).await;
    assert_eq!(rules["rules"], json!([]));
}

#[tokio::test]
async fn rate_limit_for_logs_only() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "backend").await;
    fault(
        &s,
        json!({"target": "ingest", "signal": "logs", "status": 429,
               "headers": {"Retry-After": "60", "X-Sentry-Rate-Limits": "60:log_item:project"}}),
    )
    .await;
    let logs_url = format!("{}/api/{id}/integration/otlp/v1/logs", s.ingest);
    let resp = client()
        .post(&logs_url)
        .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
        .header("content-type", "application/x-protobuf")
        .body(logs("svc", 1))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(
        resp.headers()
            .get("x-sentry-rate-limits")
            .map(|v| v.as_bytes()),
        Some(&b"60:log_item:project"[..])
    );
    let traces_url = format!("{}/api/{id}/integration/otlp/v1/traces", s.ingest);
    assert_eq!(
        send_traces(&traces_url, &key, traces("svc", 1, 0, 1))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn dropped_connection_and_size_limit() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    let url = format!("{}/api/{id}/integration/otlp/v1/traces", s.ingest);
    fault(
        &s,
        json!({"target": "ingest", "drop_connection": true, "times": 1}),
    )
    .await;
    let sent = client()
        .post(&url)
        .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
        .header("content-type", "application/x-protobuf")
        .body(traces("web", 1, 0, 1))
        .send()
        .await;
    assert!(sent.is_err(), "no answer: {sent:?}");

    fault(&s, json!({"target": "ingest", "max_body_bytes": 200})).await;
    let small = traces("web", 1, 0, 1);
    let big = traces("web", 1, 0, 500);
    assert_eq!(send_traces(&url, &key, small).await.0, 200);
    assert_eq!(send_traces(&url, &key, big).await.0, 413);

    let p = &records(&s).await["projects"]["frontend"];
    assert_eq!(p["requests"][0]["status"], Value::Null);
    assert_eq!(p["requests"][0]["fault"], true);
    assert_eq!(p["requests"][2]["status"], 413);
    assert_eq!(p["span_total"], 1);
}

#[tokio::test]
async fn mgmt_faults_and_delay() {
    let s = standin(Config::default()).await;
    fault(
        &s,
        json!([{"target": "mgmt", "path_contains": "/keys/", "status": 500, "times": 1},
               {"target": "mgmt", "method": "GET", "path_contains": "/teams/", "delay_ms": 150}]),
    )
    .await;
    let keys_url = format!("{}/api/0/projects/acme/frontend/keys/", s.api);
    assert_eq!(get_json(&keys_url).await.0, 500);
    assert_eq!(get_json(&keys_url).await.0, 200);
    let started = Instant::now();
    let (status, teams) = get_json(&format!("{}/api/0/organizations/acme/teams/", s.api)).await;
    assert_eq!(status, 200, "a delay alone answers normally");
    assert_eq!(teams[0]["slug"], "backend");
    assert!(started.elapsed() >= Duration::from_millis(150));

    let rec = records(&s).await;
    let log: Vec<(u64, bool)> = rec["mgmt_requests"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| (r["status"].as_u64().unwrap_or(0), r["fault"] == true))
        .collect();
    assert_eq!(log, [(500, true), (200, false), (200, false)]);

    let resp = client()
        .delete(format!("{}/_standin/faults", s.api))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let (_, rules) = get_json(&format!("{}/_standin/faults", s.api)).await;
    assert_eq!(rules["rules"], json!([]));
}

#[tokio::test]
async fn bad_rules_are_refused() {
    let s = standin(Config::default()).await;
    for bad in [
        json!({"target": "ingest"}),
        json!({"target": "nowhere", "status": 500}),
        json!({"target": "ingest", "stauts": 500}),
        json!({"target": "mgmt", "project": "frontend", "status": 500}),
    ] {
        let (status, body) = fault(&s, bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("invalid fault rule")));
    }
}

#[tokio::test]
async fn reset_clears_records_but_keeps_projects() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "payments").await;
    let url = format!("{}/api/{id}/integration/otlp/v1/traces", s.ingest);
    assert_eq!(send_traces(&url, &key, traces("x", 1, 0, 3)).await.0, 200);
    let resp = client()
        .post(format!("{}/_standin/reset", s.api))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let rec = records(&s).await;
    assert_eq!(rec["projects"]["payments"]["span_total"], 0);
    assert_eq!(rec["projects"]["payments"]["requests"], json!([]));
    assert_eq!(rec["mgmt_requests"], json!([]));
    assert_eq!(key_of(&s, "payments").await.0, id);
    let (status, health) = get_json(&format!("{}/_standin/health", s.api)).await;
    assert_eq!((status, health), (200, json!({"status": "ok"})));
}
