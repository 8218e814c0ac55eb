//! The envelope endpoint: envelopes built as Sentry SDKs build them (`sentry-types`), relay's
//! answers, and the error events and trace metrics recorded per project.

mod common;

use std::time::SystemTime;

use common::*;
use sentry_standin::{Config, Running};
use sentry_types::protocol::v7::{Envelope, Event, Metric, MetricType, TraceId};
use serde_json::{json, Value};

fn envelope_url(s: &Running, id: u64) -> String {
    format!("{}/api/{id}/envelope/", s.ingest)
}

fn metric(name: &str) -> Metric {
    Metric {
        r#type: MetricType::Counter,
        name: name.to_string().into(),
        value: 1.0,
        timestamp: SystemTime::now(),
        trace_id: TraceId::default(),
        span_id: None,
        unit: None,
        attributes: Default::default(),
    }
}

fn event(message: &str) -> Event<'static> {
    Event {
        message: Some(message.to_string()),
        ..Default::default()
    }
}

/// An envelope of `items`, serialized as SDKs send it.
fn envelope(event: Option<Event<'static>>, containers: &[Vec<Metric>]) -> Vec<u8> {
    let mut env = Envelope::new();
    if let Some(e) = event {
        env.add_item(e);
    }
    for metrics in containers {
        env.add_item(metrics.clone());
    }
    let mut out = Vec::new();
    env.to_writer(&mut out).expect("serialize");
    out
}

/// Posts an envelope with `X-Sentry-Auth` (when `key` is given); (status, rate limit header,
/// body).
async fn post(url: &str, key: Option<&str>, body: Vec<u8>) -> (u16, Option<String>, Value) {
    let mut req = client()
        .post(url)
        .header("content-type", "application/x-sentry-envelope");
    if let Some(key) = key {
        req = req.header(
            "x-sentry-auth",
            format!("Sentry sentry_key={key}, sentry_version=7"),
        );
    }
    let resp = req.body(body).send().await.expect("send");
    let status = resp.status().as_u16();
    let limits = resp
        .headers()
        .get("x-sentry-rate-limits")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.bytes().await.expect("body");
    (
        status,
        limits,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

async fn project(s: &Running, slug: &str) -> Value {
    records(s).await["projects"][slug].clone()
}

#[tokio::test]
async fn events_and_trace_metrics_are_recorded_per_project() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    let e = event("disk full");
    let event_id = e.event_id.simple().to_string();
    let body = envelope(Some(e), &[vec![metric("jobs.done"), metric("jobs.failed")]]);
    let (status, _, answer) = post(&envelope_url(&s, id), Some(&key), body).await;
    assert_eq!((status, answer), (200, json!({ "id": event_id })));

    // Trace metrics alone, gzip, key in the query, no trailing slash: `{}`, under backend.
    let (bid, bkey, _) = key_of(&s, "backend").await;
    let resp = client()
        .post(format!("{}/api/{bid}/envelope?sentry_key={bkey}", s.ingest))
        .header("content-encoding", "gzip")
        .body(gzip(&envelope(None, &[vec![metric("queue.depth")]])))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.expect("text"), "{}");

    let p = project(&s, "frontend").await;
    assert_eq!(
        (p["event_total"].clone(), p["trace_metric_total"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(p["events"][0]["message"], "disk full");
    assert_eq!(
        p["events"][0]["event_id"]
            .as_str()
            .map(|i| i.replace('-', "")),
        Some(event_id)
    );
    assert_eq!(p["trace_metrics"][1]["name"], "jobs.failed");
    assert_eq!(p["trace_metrics"][1]["type"], "counter");
    assert_eq!(p["requests"][0]["signal"], "envelope");
    assert_eq!(p["requests"][0]["items"], 3);
    assert_eq!(p["span_total"], 0);
    let b = project(&s, "backend").await;
    assert_eq!(
        (b["event_total"].clone(), b["trace_metric_total"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(b["trace_metrics"][0]["name"], "queue.depth");
    assert_eq!(b["dropped"], json!({}));
}

#[tokio::test]
async fn containers_relay_drops_after_answering_and_framing_it_refuses() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    let url = envelope_url(&s, id);
    let good = String::from_utf8(envelope(None, &[vec![metric("a"), metric("b")]])).expect("utf8");
    assert!(good.contains(
        r#""item_count":2,"content_type":"application/vnd.sentry.items.trace-metric+json""#
    ));

    // Relay parses containers after it answered: a wrong `item_count` or content type is a
    // 200 and the container is dropped as invalid.
    let wrong_count = good.replace(r#""item_count":2"#, r#""item_count":3"#);
    let wrong_type = good.replace(
        "application/vnd.sentry.items.trace-metric+json",
        "application/json",
    );
    for body in [wrong_count, wrong_type] {
        let (status, _, answer) = post(&url, Some(&key), body.into_bytes()).await;
        assert_eq!((status, answer), (200, json!({})));
    }
    let p = project(&s, "frontend").await;
    assert_eq!(p["trace_metric_total"], 0);
    assert_eq!(p["dropped"]["trace_metric"]["invalid"], 3 + 2);
    assert!(p["requests"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("invalid"));

    // The framing is checked before the answer: 400 with relay's detail and cause.
    let header_end = good.find('\n').expect("header line");
    for (body, cause) in [
        (format!("{} x", &good[..header_end]), "missing newline"),
        (
            format!(
                "{}\n{{\"type\":\"event\",\"length\":99}}\n{{}}\n",
                &good[..header_end]
            ),
            "unexpected end of file",
        ),
        ("not json\n".to_string(), "invalid envelope header"),
    ] {
        let (status, _, answer) = post(&url, Some(&key), body.into_bytes()).await;
        assert_eq!(
            (status, answer["detail"].as_str()),
            (400, Some("invalid event envelope"))
        );
        assert!(
            answer["causes"][0]
                .as_str()
                .unwrap_or_default()
                .contains(cause),
            "{answer}"
        );
    }
    let (status, _, answer) = post(&url, Some(&key), Vec::new()).await;
    assert_eq!(
        (status, answer),
        (400, json!({"detail": "empty request body"}))
    );
}

#[tokio::test]
async fn one_container_of_a_kind_and_events_up_to_1_mib() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "payments").await;
    let url = envelope_url(&s, id);
    let two = envelope(None, &[vec![metric("a")], vec![metric("b")]]);
    let (status, _, answer) = post(&url, Some(&key), two).await;
    assert_eq!(status, 413);
    let detail = answer["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("envelope exceeded size limits for type 'trace_metric'"),
        "{detail}"
    );

    let big = envelope(Some(event(&"x".repeat(1 << 20))), &[]);
    let (status, _, answer) = post(&url, Some(&key), big).await;
    assert_eq!(status, 413);
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("'event'"),
        "{answer}"
    );
    let p = project(&s, "payments").await;
    assert_eq!(
        (p["event_total"].clone(), p["trace_metric_total"].clone()),
        (json!(0), json!(0))
    );
    let statuses: Vec<u64> = p["requests"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["status"].as_u64())
        .collect();
    assert_eq!(statuses, [413, 413]);
}

#[tokio::test]
async fn without_the_tracemetrics_feature_metrics_are_dropped_after_a_200() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    let features = format!("{}/_standin/projects/frontend/features", s.api);
    let flag = "organizations:tracemetrics-ingestion";
    let (status, on) = get_json(&features).await;
    assert_eq!((status, on["features"][flag].clone()), (200, json!(true)));
    let (status, off) = post_json(&features, json!({ flag: false })).await;
    assert_eq!(
        (status, off),
        (
            200,
            json!({"project": "frontend", "features": { flag: false }})
        )
    );
    let (status, _) = post_json(&features, json!({"organizations:nope": false})).await;
    assert_eq!(status, 400);

    let body = envelope(Some(event("kept")), &[vec![metric("a"), metric("b")]]);
    let (status, _, _) = post(&envelope_url(&s, id), Some(&key), body.clone()).await;
    assert_eq!(status, 200);
    let p = project(&s, "frontend").await;
    assert_eq!(
        (p["event_total"].clone(), p["trace_metric_total"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(p["dropped"]["trace_metric"]["feature_disabled"], 2);
    // Other projects keep the feature; switched back on, metrics are recorded again.
    assert_eq!(
        get_json(&features.replace("frontend", "backend")).await.1["features"][flag],
        true
    );
    post_json(&features, json!({ flag: true })).await;
    post(&envelope_url(&s, id), Some(&key), body).await;
    assert_eq!(project(&s, "frontend").await["trace_metric_total"], 2);
}

#[tokio::test]
async fn rate_limited_errors_answer_429_and_keep_the_rest() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "backend").await;
    let url = envelope_url(&s, id);
    let (status, rules) = post_json(
        &format!("{}/_standin/faults", s.api),
        json!({"target": "ingest", "signal": "envelope", "rate_limit": {"categories": ["error"]}}),
    )
    .await;
    assert_eq!(status, 200, "{rules}");

    let (status, limits, answer) = post(&url, Some(&key), envelope(Some(event("e1")), &[])).await;
    assert_eq!((status, limits.as_deref()), (429, Some("60:error:key")));
    assert!(answer["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("rate limit"));
    // Some items limited: the rest is kept, the answer still 429 with the limits (relay).
    let mixed = envelope(Some(event("e2")), &[vec![metric("m")]]);
    let (status, limits, _) = post(&url, Some(&key), mixed).await;
    assert_eq!((status, limits.as_deref()), (429, Some("60:error:key")));
    let (status, limits, _) = post(&url, Some(&key), envelope(None, &[vec![metric("n")]])).await;
    assert_eq!((status, limits), (200, None));

    let p = project(&s, "backend").await;
    assert_eq!(
        (p["event_total"].clone(), p["trace_metric_total"].clone()),
        (json!(0), json!(2))
    );
    assert_eq!(p["dropped"]["error"]["rate_limited"], 2);
    // OTLP traces are not of a limited category.
    let traces = format!("{}/api/{id}/integration/otlp/v1/traces", s.ingest);
    assert_eq!(send_traces(&traces, &key, traces_body()).await.0, 200);
}

/// One span (`traces` is shadowed by a URL where it is sent).
fn traces_body() -> Vec<u8> {
    traces("svc", 1, 0, 1)
}

#[tokio::test]
async fn keys_are_checked_as_on_the_otlp_endpoints() {
    let s = standin(Config::default()).await;
    let (id, _, dsn) = key_of(&s, "frontend").await;
    let (_, other, _) = key_of(&s, "backend").await;
    let url = envelope_url(&s, id);
    let body = envelope(Some(event("e")), &[]);
    let cases = [
        (None, 401, "missing authorization information"),
        (Some("abc"), 400, "bad sentry DSN public key"),
        (
            Some("00000000000000000000000000000000"),
            401,
            "invalid api key",
        ),
        (
            Some(other.as_str()),
            403,
            "event submission rejected with_reason: ProjectId",
        ),
    ];
    for (k, want_status, want_detail) in cases {
        let (status, _, answer) = post(&url, k, body.clone()).await;
        assert_eq!(
            (status, answer["detail"].as_str()),
            (want_status, Some(want_detail)),
            "{k:?}"
        );
    }
    // Without auth in the request, relay takes the key from the envelope header's `dsn`.
    let public = dsn["dsn"]["public"].as_str().expect("dsn");
    let text = String::from_utf8(body).expect("utf8");
    let with_dsn = text.replacen('{', &format!("{{\"dsn\":\"{public}\","), 1);
    let (status, _, _) = post(&url, None, with_dsn.clone().into_bytes()).await;
    assert_eq!(status, 200);
    // A `dsn` for another project than the URL's is refused.
    let other_url = envelope_url(&s, 2);
    let (status, _, answer) = post(&other_url, Some(&other), with_dsn.into_bytes()).await;
    assert_eq!(
        (status, answer["detail"].as_str()),
        (400, Some("invalid event envelope"))
    );
    assert_eq!(project(&s, "frontend").await["event_total"], 1);
}

#[tokio::test]
async fn fault_rules_target_envelopes() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    post_json(
        &format!("{}/_standin/faults", s.api),
        json!({"target": "ingest", "signal": "envelope", "status": 503, "times": 1}),
    )
    .await;
    let traces = format!("{}/api/{id}/integration/otlp/v1/traces", s.ingest);
    assert_eq!(send_traces(&traces, &key, traces_body()).await.0, 200);
    let body = envelope(Some(event("e")), &[]);
    assert_eq!(
        post(&envelope_url(&s, id), Some(&key), body.clone())
            .await
            .0,
        503
    );
    assert_eq!(post(&envelope_url(&s, id), Some(&key), body).await.0, 200);
    let p = project(&s, "frontend").await;
    let reqs: Vec<(String, bool)> = p["requests"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["signal"].as_str().unwrap_or_default().to_string(),
                r["fault"] == true,
            )
        })
        .collect();
    assert_eq!(
        reqs,
        [
            ("traces".into(), false),
            ("envelope".into(), true),
            ("envelope".into(), false)
        ]
    );
}
