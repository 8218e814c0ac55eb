//! Broken connections over real sockets: answers before the body, resets mid-upload, requests
//! that are never answered, and slow answers to work already done.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::*;
use sentry_exporter_core::testdata::span_key;
use sentry_standin::{Config, Running};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1 << 20;

async fn fault(s: &Running, rule: Value) {
    let (status, body) = post_json(&format!("{}/_standin/faults", s.api), rule).await;
    assert_eq!(status, 200, "{body}");
}

fn traces_url(s: &Running, id: u64) -> String {
    format!("{}/api/{id}/integration/otlp/v1/traces", s.ingest)
}

fn host(s: &Running) -> String {
    s.ingest.trim_start_matches("http://").to_string()
}

/// The head of an ingest POST announcing `length` body bytes.
fn ingest_head(s: &Running, id: u64, key: &str, length: usize) -> String {
    format!(
        "POST /api/{id}/integration/otlp/v1/traces HTTP/1.1\r\nHost: {}\r\n\
         X-Sentry-Auth: Sentry sentry_key={key}\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {length}\r\n\r\n",
        host(s)
    )
}

/// Reads until the server closes (or resets) the connection; what arrived and how it ended.
async fn read_to_end(conn: &mut TcpStream) -> (Vec<u8>, Option<ErrorKind>) {
    let mut got = Vec::new();
    let mut buf = vec![0; 16 << 10];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
            Err(_) => panic!(
                "the connection stayed open: {}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) => return (got, None),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (got, Some(e.kind())),
        }
    }
}

/// Writes `total` bytes in 64 KiB chunks; the error that stopped it, if any.
async fn write_body(conn: &mut TcpStream, total: usize) -> Option<ErrorKind> {
    let chunk = vec![0u8; 64 << 10];
    let mut sent = 0;
    while sent < total {
        let write = tokio::time::timeout(Duration::from_secs(5), conn.write_all(&chunk)).await;
        match write {
            Err(_) => panic!("writing stalled after {sent} bytes"),
            Ok(Err(e)) => return Some(e.kind()),
            Ok(Ok(())) => sent += chunk.len(),
        }
    }
    None
}

fn is_broken(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset)
}

async fn project(s: &Running, slug: &str) -> Value {
    records(s).await["projects"][slug].clone()
}

#[tokio::test]
async fn early_answer_comes_before_the_body_and_closes() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    fault(
        &s,
        json!({"target": "ingest", "project": "frontend", "early_answer": true}),
    )
    .await;

    // The body is announced but never sent: the answer comes anyway, then the close.
    let mut conn = TcpStream::connect(host(&s)).await.expect("connect");
    let head = ingest_head(&s, id, &key, 8 * MIB);
    conn.write_all(head.as_bytes()).await.expect("head");
    let (answer, _) = read_to_end(&mut conn).await;
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("request too large"), "{answer}");
    // A client that writes its body now writes into a closed connection.
    assert!(write_body(&mut conn, 8 * MIB).await.is_some_and(is_broken));

    let p = project(&s, "frontend").await;
    assert_eq!(p["span_total"], 0);
    assert_eq!(p["requests"][0]["status"], 413);
    assert_eq!(p["requests"][0]["fault"], true);
    assert_eq!(p["requests"][0]["body_bytes"], 0);
}

#[tokio::test]
async fn early_answer_to_a_multi_megabyte_upload_records_nothing() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    fault(
        &s,
        json!({"target": "ingest", "early_answer": true, "status": 503, "times": 1,
               "headers": {"Retry-After": "1"}}),
    )
    .await;
    // Sent plain, uncompressed: several MiB on the wire.
    let spans = traces("web", 1, 0, 80_000);
    assert!(spans.len() > 2 * MIB, "{}", spans.len());
    let sent = client()
        .post(traces_url(&s, id))
        .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
        .header("content-type", "application/x-protobuf")
        .body(spans)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            assert_eq!(resp.status().as_u16(), 503);
            assert_eq!(resp.headers()["retry-after"].as_bytes(), b"1");
        }
        // The client may see the reset of its upload before the answer.
        Err(e) => assert!(!e.is_timeout(), "{e:?}"),
    }
    let p = project(&s, "frontend").await;
    assert_eq!(p["span_total"], 0);
    assert_eq!(p["requests"][0]["status"], 503);
    // The rule is used up: the next upload is read and recorded.
    let small = traces("web", 1, 0, 3);
    assert_eq!(send_traces(&traces_url(&s, id), &key, small).await.0, 200);
    assert_eq!(project(&s, "frontend").await["span_total"], 3);
}

#[tokio::test]
async fn reset_mid_upload_resets_without_an_answer() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "backend").await;
    fault(
        &s,
        json!({"target": "ingest", "project": "backend", "reset_mid_upload": true, "times": 1}),
    )
    .await;
    let mut conn = TcpStream::connect(host(&s)).await.expect("connect");
    let head = ingest_head(&s, id, &key, 8 * MIB);
    conn.write_all(head.as_bytes()).await.expect("head");
    // The reset shows in the write that meets it, or else in the next read.
    let write_error = write_body(&mut conn, 8 * MIB).await;
    assert!(write_error.is_some_and(is_broken), "{write_error:?}");
    let (answer, end) = read_to_end(&mut conn).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let reset = [write_error, end].contains(&Some(ErrorKind::ConnectionReset));
    assert!(reset, "no reset: write {write_error:?}, read {end:?}");

    let p = project(&s, "backend").await;
    assert_eq!(p["span_total"], 0);
    let logged = &p["requests"][0];
    assert_eq!(logged["status"], Value::Null);
    assert_eq!(logged["fault"], true);
    let detail = logged["detail"].as_str().unwrap_or_default();
    // At least 64 KiB (the frame that crossed it in full), far from the 8 MiB announced.
    let read: usize = detail
        .trim_start_matches("connection reset after ")
        .trim_end_matches(" bytes of the body")
        .parse()
        .unwrap_or(0);
    assert!((64 << 10..MIB).contains(&read), "{detail}");
    // Used up: the next request is served.
    let small = traces("api", 2, 0, 2);
    assert_eq!(send_traces(&traces_url(&s, id), &key, small).await.0, 200);
}

#[tokio::test]
async fn reset_mid_upload_on_mgmt_is_an_error_for_the_client() {
    let s = standin(Config::default()).await;
    fault(
        &s,
        json!({"target": "mgmt", "method": "POST", "reset_mid_upload": true, "times": 1}),
    )
    .await;
    let url = format!("{}/api/0/teams/acme/backend/projects/", s.api);
    let sent = client()
        .post(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(json!({"name": "orders", "slug": "orders"}).to_string())
        .send()
        .await;
    assert!(sent.is_err(), "no answer: {sent:?}");
    let rec = records(&s).await;
    assert_eq!(rec["projects_created"], json!([]));
    assert_eq!(rec["mgmt_requests"][0]["status"], Value::Null);
}

/// Waits until the stand-in holds `n` requests.
async fn wait_for_hanging(s: &Running, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let hanging = records(s).await["requests_hanging"].as_u64();
        if hanging == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{hanging:?} requests held, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn impatient_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("client")
}

#[tokio::test]
async fn hang_records_ingest_data_then_never_answers() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "payments").await;
    fault(
        &s,
        json!({"target": "ingest", "project": "payments", "hang": true}),
    )
    .await;
    let c = impatient_client(Duration::from_millis(300));
    let sends = (0..40u64).map(|i| {
        c.post(traces_url(&s, id))
            .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
            .header("content-type", "application/x-protobuf")
            .body(traces("pay", 1, i * 10, 10))
            .send()
    });
    for sent in join_all(sends).await {
        assert!(sent.is_err_and(|e| e.is_timeout()), "never answered");
    }
    let p = project(&s, "payments").await;
    assert_eq!(p["span_total"], 400, "recorded before the silence");
    assert_eq!(p["span_distinct"], 400);
    assert_eq!(p["requests"][0]["status"], 200);
    assert_eq!(p["requests"][0]["detail"], "answer withheld (hang)");
    // The clients gave up: nothing is held for them any more.
    wait_for_hanging(&s, 0).await;
}

#[tokio::test]
async fn hang_on_mgmt_holds_only_the_matching_lookup() {
    let s = standin(Config::default()).await;
    fault(
        &s,
        json!({"target": "mgmt", "path_contains": "/projects/acme/frontend/keys/", "hang": true}),
    )
    .await;
    let keys_url = |slug: &str| format!("{}/api/0/projects/acme/{slug}/keys/", s.api);
    let held = tokio::spawn(
        impatient_client(Duration::from_secs(30))
            .get(keys_url("frontend"))
            .bearer_auth(TOKEN)
            .send(),
    );
    wait_for_hanging(&s, 1).await;
    assert_eq!(get_json(&keys_url("backend")).await.0, 200);
    held.abort();
    wait_for_hanging(&s, 0).await;
    let rec = records(&s).await;
    let log: Vec<(String, Value)> = rec["mgmt_requests"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap_or_default().to_string(),
                r["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        log[0],
        ("/api/0/projects/acme/frontend/keys/".into(), Value::Null)
    );
}

#[tokio::test]
async fn a_late_answer_is_recorded_even_when_the_client_gave_up() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    fault(
        &s,
        json!({"target": "ingest", "project": "frontend", "delay_ms": 1000, "times": 1}),
    )
    .await;
    let body = traces("web", 5, 0, 4);
    let started = Instant::now();
    let sent = impatient_client(Duration::from_millis(200))
        .post(traces_url(&s, id))
        .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
        .header("content-type", "application/x-protobuf")
        .body(body.clone())
        .send()
        .await;
    assert!(sent.is_err_and(|e| e.is_timeout()));
    assert!(started.elapsed() < Duration::from_millis(900));
    assert_eq!(project(&s, "frontend").await["span_total"], 4);
    // The client's retry is answered at once, and shows as a duplicate.
    assert_eq!(send_traces(&traces_url(&s, id), &key, body).await.0, 200);
    let p = project(&s, "frontend").await;
    assert_eq!(
        (p["span_total"].clone(), p["span_distinct"].clone()),
        (json!(8), json!(4))
    );
    assert_eq!(p["spans"][span_key(5, 0)], 2);
    assert_eq!(p["requests"][0]["detail"], "answered 1000 ms late");
}

#[tokio::test]
async fn a_patient_client_gets_the_late_answer_and_a_delayed_status_records_nothing() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    let url = traces_url(&s, id);
    fault(&s, json!({"target": "ingest", "delay_ms": 300, "times": 1})).await;
    let started = Instant::now();
    let late = send_traces(&url, &key, traces("web", 1, 0, 2)).await;
    assert_eq!(late.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    fault(
        &s,
        json!({"target": "ingest", "delay_ms": 300, "status": 503, "times": 1}),
    )
    .await;
    let started = Instant::now();
    let refused = send_traces(&url, &key, traces("web", 2, 0, 2)).await;
    assert_eq!(refused.0, 503);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let p = project(&s, "frontend").await;
    assert_eq!(p["span_total"], 2, "only the late 200 recorded data");
}

/// Runs the futures concurrently and collects their results in order.
async fn join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}
