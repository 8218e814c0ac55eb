//! OTLP ingest over HTTP: relay's status codes, encodings, formats, and what gets recorded.

mod common;

use common::*;
use sentry_exporter_core::testdata::span_key;
use sentry_standin::Config;
use serde_json::json;

fn traces_url(base: &str, id: u64) -> String {
    format!("{base}/api/{id}/integration/otlp/v1/traces")
}

#[tokio::test]
async fn gzip_protobuf_traces_are_recorded_per_span() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    let url = traces_url(&s.ingest, id);
    let (status, body) = send_traces(&url, &key, traces("web", 7, 0, 12)).await;
    assert_eq!(status, 200);
    assert!(body.is_empty(), "empty ExportTraceServiceResponse");
    // Resend two spans through the trailing-slash route: counted twice.
    let (status, _) = send_traces(&format!("{url}/"), &key, traces("web", 7, 0, 2)).await;
    assert_eq!(status, 200);

    let rec = records(&s).await;
    let p = &rec["projects"]["frontend"];
    assert_eq!(p["id"], 1);
    assert_eq!(p["span_total"], 14);
    assert_eq!(p["span_distinct"], 12);
    assert_eq!(p["spans"][span_key(7, 0)], 2);
    assert_eq!(p["spans"][span_key(7, 11)], 1);
    assert_eq!(p["services"], json!(["web"]));
    let req = &p["requests"][0];
    assert_eq!(req["signal"], "traces");
    assert_eq!(req["status"], 200);
    assert_eq!(req["items"], 12);
    assert_eq!(req["headers"]["content-encoding"], "gzip");
    assert_eq!(req["headers"]["content-type"], "application/x-protobuf");
    assert!(req["headers"]["x-sentry-auth"]
        .as_str()
        .unwrap_or_default()
        .contains(&key));
    assert!(req["body_bytes"].as_u64().unwrap_or(0) > 0);
    assert_eq!(rec["projects"]["backend"]["span_total"], 0);
}

#[tokio::test]
async fn json_logs_and_zstd_query_key() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "payments").await;
    let url = format!("{}/api/{id}/integration/otlp/v1/logs/", s.ingest);
    let body = json!({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "billing"}}]},
        "scopeLogs": [{"logRecords": [
            {"body": {"stringValue": "a"}, "attributes": [
                {"key": "log.record.uid", "value": {"stringValue": "u-1"}}]},
            {"body": {"stringValue": "b"}}]}]}]});
    let resp = client()
        .post(&url)
        .header("x-sentry-auth", format!("sentry sentry_key={key}"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.expect("text"), "{}");

    let zst = zstd::encode_all(logs("billing", 3).as_slice(), 3).expect("zstd");
    let resp = client()
        .post(format!("{url}?sentry_key={key}"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "zstd")
        .body(zst)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);

    let p = &records(&s).await["projects"]["payments"];
    assert_eq!(p["log_total"], 5);
    assert_eq!(p["logs"]["u-1"], 1);
    assert_eq!(p["logs"]["uid-2"], 1);
    assert_eq!(p["log_distinct"], 5);
    assert_eq!(p["services"], json!(["billing"]));
}

#[tokio::test]
async fn relay_status_codes() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    let (_, other_key, _) = key_of(&s, "backend").await;
    let url = traces_url(&s.ingest, id);
    let good = traces("web", 1, 0, 1);
    let c = client();

    let r = c
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(good.clone());
    let r = r.send().await.expect("send");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        detail(&r.bytes().await.expect("b")),
        "missing authorization information"
    );

    let (status, body) = send_traces(&url, "abc", good.clone()).await;
    assert_eq!(
        (status, detail(&body).as_str()),
        (400, "bad sentry DSN public key")
    );

    let unknown = "0".repeat(32);
    let (status, body) = send_traces(&url, &unknown, good.clone()).await;
    assert_eq!((status, detail(&body).as_str()), (401, "invalid api key"));

    let rejected = "event submission rejected with_reason: ProjectId";
    let (status, body) = send_traces(&url, &other_key, good.clone()).await;
    assert_eq!((status, detail(&body).as_str()), (403, rejected));
    let (status, body) = send_traces(&traces_url(&s.ingest, 99), &key, good.clone()).await;
    assert_eq!((status, detail(&body).as_str()), (403, rejected));

    let send = |ct: &'static str, ce: &'static str, body: Vec<u8>| {
        let req = c
            .post(&url)
            .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
            .header("content-type", ct)
            .header("content-encoding", ce)
            .body(body);
        async move {
            let r = req.send().await.expect("send");
            let status = r.status().as_u16();
            (status, detail(&r.bytes().await.expect("b")))
        }
    };
    let (status, msg) = send("text/plain", "identity", good.clone()).await;
    assert_eq!((status, msg.as_str()), (415, "unsupported media type"));
    let (status, msg) = send("application/x-protobuf", "br", good.clone()).await;
    assert_eq!(status, 400);
    assert!(msg.contains("encoding"), "{msg}");
    let (status, _) = send("application/x-protobuf", "gzip", good.clone()).await;
    assert_eq!(status, 400, "not gzip data");
    let (status, msg) = send("application/x-protobuf", "identity", b"\xff\xff".to_vec()).await;
    assert_eq!(status, 400);
    assert!(msg.contains("invalid OTLP"), "{msg}");
    let (status, _) = send("application/json", "identity", b"{nope".to_vec()).await;
    assert_eq!(status, 400);

    let rec = records(&s).await;
    let p = &rec["projects"]["frontend"];
    assert_eq!(p["span_total"], 0, "rejected requests add no spans");
    let statuses: Vec<u64> = p["requests"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["status"].as_u64())
        .collect();
    assert_eq!(statuses, [401, 400, 401, 403, 415, 400, 400, 400, 400]);
    assert_eq!(rec["unknown_project_requests"][0]["project_id"], "99");
    assert_eq!(rec["unknown_project_requests"][0]["status"], 403);
}

#[tokio::test]
async fn revoked_keys_and_deleted_projects() {
    let s = standin(Config::default()).await;
    let (id, old, _) = key_of(&s, "frontend").await;
    let url = traces_url(&s.ingest, id);
    let body = traces("web", 2, 0, 3);
    assert_eq!(send_traces(&url, &old, body.clone()).await.0, 200);

    let c = client();
    let (status, r) = post_json(
        &format!("{}/_standin/keys/frontend/revoke", s.api),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(r["revoked"], json!([old]));
    let (status, body401) = send_traces(&url, &old, body.clone()).await;
    assert_eq!(
        (status, detail(&body401).as_str()),
        (401, "invalid api key")
    );
    let (_, new, _) = key_of(&s, "frontend").await;
    assert_eq!(Some(new.as_str()), r["key"].as_str());
    assert_eq!(send_traces(&url, &new, body.clone()).await.0, 200);

    let r = c
        .post(format!("{}/_standin/projects/frontend/delete", s.api))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let (status, b) = send_traces(&url, &new, body.clone()).await;
    assert_eq!(
        (status, detail(&b).as_str()),
        (403, "event submission rejected with_reason: ProjectId")
    );
    let (status, _) = get_json(&format!("{}/api/0/projects/acme/frontend/keys/", s.api)).await;
    assert_eq!(status, 404);
    let p = &records(&s).await["projects"]["frontend"];
    assert_eq!(p["deleted"], true);
    assert_eq!(p["span_total"], 6, "what arrived before the delete is kept");
}

#[tokio::test]
async fn separate_ingest_listener_serves_only_ingest_under_its_prefix() {
    let s = standin(Config {
        ingest_listen: Some("127.0.0.1:0".parse().expect("addr")),
        ingest_path_prefix: "/sentry".into(),
        ..Config::default()
    })
    .await;
    let (id, key, dsn) = key_of(&s, "backend").await;
    let url = dsn["dsn"]["otlp_traces"]
        .as_str()
        .expect("otlp_traces")
        .to_string();
    assert_eq!(url, traces_url(&s.ingest, id));
    let body = traces("api", 3, 0, 4);
    assert_eq!(send_traces(&url, &key, body.clone()).await.0, 200);
    // The main listener does not serve ingest, and the ingest listener nothing else.
    assert_eq!(
        send_traces(&traces_url(&s.api, id), &key, body.clone())
            .await
            .0,
        404
    );
    let without_prefix = url.replace("/sentry/", "/");
    assert_eq!(send_traces(&without_prefix, &key, body).await.0, 404);
    let ingest_root = s.ingest.trim_end_matches("/sentry");
    let (status, _) = get_json(&format!("{ingest_root}/api/0/organizations/acme/projects/")).await;
    assert_eq!(status, 404);
    assert_eq!(records(&s).await["projects"]["backend"]["span_total"], 4);
}
