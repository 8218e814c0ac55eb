//! Helpers shared by the integration tests: a stand-in per test, a client, OTLP bodies.
#![allow(dead_code)]

use std::io::Write;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use sentry_standin::{start, Config, Running};
use serde_json::Value;

pub const TOKEN: &str = "standin-token";

pub async fn standin(config: Config) -> Running {
    start(Config {
        quiet: true,
        ..config
    })
    .await
    .expect("stand-in starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub async fn get_json(url: &str) -> (u16, Value) {
    get_json_with(&client(), url).await
}

/// `get_json` through a client of the caller's (TLS, proxy).
pub async fn get_json_with(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let resp = client
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub async fn records(s: &Running) -> Value {
    get_json(&format!("{}/_standin/records", s.api)).await.1
}

/// The first active key of a project: (project id, public key, key JSON).
pub async fn key_of(s: &Running, slug: &str) -> (u64, String, Value) {
    let (status, keys) = get_json(&format!(
        "{}/api/0/projects/{}/{slug}/keys/?status=active",
        s.api, s.org
    ))
    .await;
    assert_eq!(status, 200, "keys of {slug}");
    let key = keys[0].clone();
    (
        key["projectId"].as_u64().expect("projectId"),
        key["public"].as_str().expect("public").to_string(),
        key,
    )
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", service)],
        ..Default::default()
    })
}

/// `n` spans of one trace; span ids start at `first`.
pub fn traces(service: &str, trace: u8, first: u64, n: u64) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans: (first..first + n)
                    .map(|i| Span {
                        trace_id: vec![trace; 16],
                        span_id: i.to_be_bytes().to_vec(),
                        name: format!("span {i}"),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn span_id(trace: u8, i: u64) -> String {
    let t: String = std::iter::repeat_n(format!("{trace:02x}"), 16).collect();
    format!("{t}-{i:016x}")
}

/// Log records with `log.record.uid` = `uid-{i}`.
pub fn logs(service: &str, n: u64) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                log_records: (0..n)
                    .map(|i| LogRecord {
                        attributes: vec![kv("log.record.uid", &format!("uid-{i}"))],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

pub fn proto(msg: &impl Message) -> Vec<u8> {
    msg.encode_to_vec()
}

/// Posts a gzip protobuf traces request with `X-Sentry-Auth`; returns (status, body).
pub async fn send_traces(url: &str, key: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let resp = client()
        .post(url)
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_key={key}, sentry_version=7"),
        )
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gzip(&body))
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

pub fn detail(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_string))
        .unwrap_or_default()
}

pub async fn post_json(url: &str, body: Value) -> (u16, Value) {
    let resp = client()
        .post(url)
        .header("content-type", "application/json")
        .bearer_auth(TOKEN)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}
