//! Helpers shared by the integration tests: a stand-in per test, a client, OTLP bodies (made by
//! the core's `testdata` builders).
#![allow(dead_code)]

use std::io::Write;

use sentry_exporter_core::testdata::{logs_request, traces_request, Resource};
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

/// `n` spans of the trace `[trace; 16]`, of `service`; span ids start at `first`.
pub fn traces(service: &str, trace: u8, first: u64, n: u32) -> Vec<u8> {
    traces_request(&[Resource::service(service, n).trace(trace).ids_from(first)])
}

/// `n` log records of `service` with `log.record.uid` = `uid-{i}`, `i` from 0.
pub fn logs(service: &str, n: u32) -> Vec<u8> {
    logs_request(&[Resource::service(service, n).log_uids()])
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
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
