//! The Sentry stand-in (as a library) and helpers shared by the tests that
//! run the exporter against it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use sentry_exporter_core::testdata::{self, logs_request, traces_request, Resource};
use sentry_exporter_core::{Core, ExportOutcome, Logger, Signal};
use serde_json::Value;

pub struct Standin {
    pub running: sentry_standin::Running,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Standin {
    pub fn start(config: sentry_standin::Config) -> Standin {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = runtime
            .block_on(sentry_standin::start(sentry_standin::Config {
                quiet: true,
                ..config
            }))
            .unwrap();
        Standin {
            runtime,
            running,
            http: reqwest::Client::new(),
        }
    }

    pub fn with_projects(projects: &[&str]) -> Standin {
        Standin::start(sentry_standin::Config {
            projects: projects.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        })
    }

    pub fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_standin/{path}", self.running.api);
        self.runtime.block_on(async {
            let mut request = self.http.request(method, url);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            assert!(
                response.status().is_success(),
                "control {path}: {}",
                response.status()
            );
            response.json().await.unwrap()
        })
    }

    /// The public key of a project's active key, as the management API tells it.
    pub fn key_of(&self, project: &str) -> String {
        let url = format!(
            "{}/api/0/projects/{}/{project}/keys/?status=active",
            self.running.api, self.running.org
        );
        let keys: Value = self.runtime.block_on(async {
            let request = self.http.get(url).bearer_auth(&self.running.token);
            request.send().await.unwrap().json().await.unwrap()
        });
        keys[0]["public"].as_str().unwrap().to_owned()
    }

    pub fn records(&self) -> Value {
        self.control(reqwest::Method::GET, "records", None)
    }

    pub fn fault(&self, rule: Value) {
        self.control(reqwest::Method::POST, "faults", Some(rule));
    }

    pub fn clear_faults(&self) {
        self.control(reqwest::Method::DELETE, "faults", None);
    }

    /// (method, raw path) of every management request, in order.
    pub fn mgmt_requests(&self) -> Vec<(String, String, Option<u64>)> {
        self.records()["mgmt_requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["method"].as_str().unwrap().to_owned(),
                    r["path"].as_str().unwrap().to_owned(),
                    r["status"].as_u64(),
                )
            })
            .collect()
    }

    pub fn count(&self, method: &str, path_start: &str) -> usize {
        self.mgmt_requests()
            .iter()
            .filter(|(m, p, _)| m == method && p.starts_with(path_start))
            .count()
    }

    pub fn spans_of(&self, project: &str) -> Value {
        self.records()["projects"][project]["spans"].clone()
    }

    pub fn exporter(&self, extra: Value) -> Core {
        let mut config = testdata::config(&self.running.api, &self.running.token);
        merge(&mut config, extra);
        let service = Core::new(config.to_string().as_bytes(), Logger::discard()).unwrap();
        service.start().unwrap();
        service
    }
}

pub fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                merge(into.entry(k).or_insert(Value::Null), v);
            }
        }
        (into, from) => *into = from,
    }
}

/// A batch of `spans` spans of one service; span ids start after `first`.
pub fn batch(service: &str, spans: u32, first: u64) -> Vec<u8> {
    traces(&[(service, spans)], first)
}

pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Exports as the collector's queue would: what comes back is sent again
/// (without waiting its delay) until nothing is left.
pub fn export_until_sent(service: &Core, request: Vec<u8>) -> Vec<ExportOutcome> {
    export_signal_until_sent(service, Signal::Traces, request)
}

pub fn export_signal_until_sent(
    service: &Core,
    signal: Signal,
    request: Vec<u8>,
) -> Vec<ExportOutcome> {
    let mut outcomes = Vec::new();
    let mut pending = request;
    for _ in 0..200 {
        let outcome = service
            .export(signal, &pending, Some(Duration::from_secs(10)))
            .unwrap();
        pending = outcome.retry_request.clone();
        outcomes.push(outcome);
        if pending.is_empty() {
            return outcomes;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("still not sent: {:?}", outcomes.last());
}

/// Asserts that the export dropped all its `items`, sent and kept none, and that every
/// problem it tells names `reason`.
pub fn assert_all_dropped(outcome: &ExportOutcome, items: u64, reason: &str) {
    assert_eq!(
        (outcome.sent, outcome.dropped, outcome.retryable),
        (0, items, 0),
        "{:?}",
        outcome.problems
    );
    assert!(
        !outcome.problems.is_empty() && outcome.problems.iter().all(|p| p.contains(reason)),
        "{reason}: {:?}",
        outcome.problems
    );
}

pub fn total(spans: &Value) -> u64 {
    spans
        .as_object()
        .map_or(0, |m| m.values().map(|n| n.as_u64().unwrap()).sum())
}

pub fn distinct(spans: &Value) -> usize {
    spans.as_object().map_or(0, |m| m.len())
}

/// One OTLP traces request with one resource per (service, span count); span
/// ids count up from `first + 1`.
pub fn traces(services: &[(&str, u32)], first: u64) -> Vec<u8> {
    let resources: Vec<Resource> = services
        .iter()
        .enumerate()
        .map(|(i, (service, spans))| {
            let resource = Resource::service(service, *spans);
            if i == 0 {
                resource.ids_from(first + 1)
            } else {
                resource
            }
        })
        .collect();
    traces_request(&resources)
}

/// One OTLP logs request of one service; records are told apart by time, from `first + 1`.
pub fn logs(service: &str, records: u32, first: u64) -> Vec<u8> {
    logs_request(&[Resource::service(service, records).ids_from(first + 1)])
}
