//! Counters of what the exporter did, for the host to publish (the Go component
//! turns them into the collector's own metrics). Every label takes values from
//! a fixed set, none names a project, so the number of series stays bounded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::health::Health;
use crate::outcome::{DropReason, RetryReason, Unit};
use crate::signal::Signal;
use crate::sync::locked;

/// The class of an ingest answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    RateLimited,
    ClientError,
    ServerError,
    /// No answer: connection error or timeout.
    NoAnswer,
}

impl StatusClass {
    const ALL: [StatusClass; 5] = [
        StatusClass::Success,
        StatusClass::RateLimited,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::NoAnswer,
    ];

    pub fn of(status: u16) -> StatusClass {
        match status {
            429 => StatusClass::RateLimited,
            200..=399 => StatusClass::Success,
            400..=499 => StatusClass::ClientError,
            _ => StatusClass::ServerError,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            StatusClass::Success => "2xx",
            StatusClass::RateLimited => "429",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::NoAnswer => "no_answer",
        }
    }
}

const SIGNALS: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Logs => 1,
        Signal::Metrics => 2,
    }
}

#[derive(Debug, Default)]
struct PerSignal([AtomicU64; 3]);

impl PerSignal {
    fn add(&self, signal: Signal, n: u64) {
        self.0[signal_index(signal)].fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self, signal: Signal) -> u64 {
        self.0[signal_index(signal)].load(Ordering::Relaxed)
    }
}

/// Items per signal and reason label.
type ByReason = Mutex<BTreeMap<(usize, &'static str), u64>>;

/// The points of a [`ByReason`] counter: one per signal and reason, zero ones included.
fn by_reason(counter: &ByReason, reasons: &[&'static str]) -> Vec<Value> {
    let counts = locked(counter);
    let point = |signal: Signal, reason: &str| {
        let value = counts.get(&(signal_index(signal), reason)).copied();
        json!({"attributes": {"signal": signal.name(), "reason": reason}, "value": value.unwrap_or(0)})
    };
    SIGNALS
        .iter()
        .flat_map(|s| reasons.iter().map(|r| point(*s, r)))
        .collect()
}

const UNITS: usize = 5;

/// Where a [`Unit`]'s counts are kept.
fn unit_index(unit: Unit) -> usize {
    match unit {
        Unit::Items(signal) => signal_index(signal),
        Unit::ErrorEvents => 3,
        Unit::TraceMetricItems => 4,
    }
}

/// The points of `unit`'s drops: one per reason, zero ones included.
fn dropped_points(counter: &ByReason, unit: Unit) -> Vec<Value> {
    let counts = locked(counter);
    let value = |reason: &str| counts.get(&(unit_index(unit), reason)).copied();
    let attributes = |reason: &str| match unit {
        Unit::Items(signal) => json!({"signal": signal.name(), "reason": reason}),
        Unit::ErrorEvents | Unit::TraceMetricItems => json!({"reason": reason}),
    };
    DropReason::LABELS
        .iter()
        .map(|r| json!({"attributes": attributes(r), "value": value(r).unwrap_or(0)}))
        .collect()
}

/// What the series of trace metrics hold (see `trace_metrics::TraceMetrics::series`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesUse {
    pub held: usize,
    pub bytes: usize,
    pub evicted: u64,
}

#[derive(Debug, Default)]
pub struct Telemetry {
    /// By [`unit_index`].
    sent: [AtomicU64; UNITS],
    items_failed: ByReason,
    items_rate_limited: PerSignal,
    items_maybe_delivered: PerSignal,
    /// By [`unit_index`] and reason.
    dropped: ByReason,
    strings_repaired: PerSignal,
    ingest_requests: [AtomicU64; 5],
    mgmt_calls: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    projects_created: AtomicU64,
    project_creations_failed: AtomicU64,
    error_events_deduplicated: AtomicU64,
    error_events_owed: AtomicU64,
    error_events_owed_bytes: AtomicU64,
    metric_points_received: AtomicU64,
    metric_points_excluded: AtomicU64,
    metric_series: AtomicU64,
    metric_series_bytes: AtomicU64,
    metric_series_evicted: AtomicU64,
    core_memory_limit: AtomicU64,
    exports_refused_for_memory: AtomicU64,
    health: Health,
}

impl Telemetry {
    /// Items of `unit` Sentry accepted.
    pub fn sent(&self, unit: Unit, items: u64) {
        self.sent[unit_index(unit)].fetch_add(items, Ordering::Relaxed);
    }

    /// Items handed back to the collector to retry, by [`RetryReason::label`].
    pub fn failed(&self, signal: Signal, reason: &RetryReason, items: u64) {
        let mut failed = locked(&self.items_failed);
        *failed
            .entry((signal_index(signal), reason.label()))
            .or_default() += items;
    }

    /// Items held back because a rate limit held (they are retried too).
    pub fn rate_limited(&self, signal: Signal, items: u64) {
        self.items_rate_limited.add(signal, items);
    }

    /// Items of requests that got no answer in time: Sentry may hold them already.
    pub fn maybe_delivered(&self, signal: Signal, items: u64) {
        self.items_maybe_delivered.add(signal, items);
    }

    /// Items of `unit` dropped for good.
    pub fn dropped(&self, unit: Unit, reason: DropReason, items: u64) {
        let mut dropped = locked(&self.dropped);
        *dropped
            .entry((unit_index(unit), reason.label()))
            .or_default() += items;
    }

    /// String fields whose invalid UTF-8 was replaced before sending (see [`crate::utf8`]).
    pub fn strings_repaired(&self, signal: Signal, strings: u64) {
        self.strings_repaired.add(signal, strings);
    }

    pub fn ingest_request(&self, class: StatusClass) {
        let i = StatusClass::ALL
            .iter()
            .position(|c| *c == class)
            .unwrap_or(0);
        self.ingest_requests[i].fetch_add(1, Ordering::Relaxed);
    }

    /// One management API call: which endpoint, and how it ended.
    pub fn mgmt_call(&self, endpoint: &'static str, result: &'static str) {
        let mut calls = locked(&self.mgmt_calls);
        *calls.entry((endpoint, result)).or_default() += 1;
    }

    pub fn project_created(&self) {
        self.projects_created.fetch_add(1, Ordering::Relaxed);
    }

    pub fn projects_created(&self) -> u64 {
        self.projects_created.load(Ordering::Relaxed)
    }

    pub fn project_creation_failed(&self) {
        self.project_creations_failed
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Exceptions that made no event: already seen.
    pub fn error_events_deduplicated(&self, events: u64) {
        self.error_events_deduplicated
            .fetch_add(events, Ordering::Relaxed);
    }

    /// Error events waiting to be retried now, and their bytes.
    pub fn error_events_owed(&self, (events, bytes): (usize, usize)) {
        self.error_events_owed
            .store(events as u64, Ordering::Relaxed);
        self.error_events_owed_bytes
            .store(bytes as u64, Ordering::Relaxed);
    }

    /// Metric data points read from the collector's batches.
    pub fn metric_points_received(&self, points: u64) {
        self.metric_points_received
            .fetch_add(points, Ordering::Relaxed);
    }

    /// Metric data points not made into items: left out by `metrics.include` / `exclude`, or
    /// unreadable.
    pub fn metric_points_excluded(&self, points: u64) {
        self.metric_points_excluded
            .fetch_add(points, Ordering::Relaxed);
    }

    /// The series whose state is kept now, and how many were evicted so far.
    pub fn metric_series(&self, series: SeriesUse) {
        self.metric_series
            .store(series.held as u64, Ordering::Relaxed);
        self.metric_series_bytes
            .store(series.bytes as u64, Ordering::Relaxed);
        self.metric_series_evicted
            .store(series.evicted, Ordering::Relaxed);
    }

    /// The bytes the core's heap may hold before exports wait; 0: no limit.
    pub fn core_memory_limit(&self, bytes: Option<u64>) {
        self.core_memory_limit
            .store(bytes.unwrap_or(0), Ordering::Relaxed);
    }

    /// An export that did not start: the core's heap was over its limit.
    pub fn export_refused_for_memory(&self) {
        self.exports_refused_for_memory
            .fetch_add(1, Ordering::Relaxed);
    }

    /// What keeps Sentry from being used, by cause.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The points of `ingest_requests`, by status class.
    fn requests(&self) -> Vec<Value> {
        (StatusClass::ALL.iter().zip(&self.ingest_requests))
            .map(|(c, n)| json!({"attributes": {"status_class": c.as_str()}, "value": n.load(Ordering::Relaxed)}))
            .collect()
    }

    /// The points of `management_calls`, by endpoint and result.
    fn mgmt_calls(&self) -> Vec<Value> {
        let calls = locked(&self.mgmt_calls);
        calls
            .iter()
            .map(|((endpoint, result), n)| json!({"attributes": {"endpoint": endpoint, "result": result}, "value": n}))
            .collect()
    }

    /// Every metric with its points, zero ones included, so the host can
    /// register all instruments up front:
    /// `{"metrics": [{"name", "description", "unit", "kind": "counter"|"gauge", "points": [{"attributes": {..}, "value"}]}]}`.
    pub fn snapshot(&self, projects_cached: u64) -> Value {
        let per_signal = |counter: &PerSignal| -> Vec<Value> {
            SIGNALS
                .iter()
                .map(|s| json!({"attributes": {"signal": s.name()}, "value": counter.get(*s)}))
                .collect()
        };
        let dropped: Vec<Value> = SIGNALS
            .iter()
            .flat_map(|s| dropped_points(&self.dropped, Unit::Items(*s)))
            .collect();
        let failed = by_reason(&self.items_failed, RetryReason::LABELS);
        let (requests, mgmt) = (self.requests(), self.mgmt_calls());
        let metric = |name: &str, description: &str, unit: &str, kind: &str, points: Vec<Value>| json!({"name": name, "description": description, "unit": unit, "kind": kind, "points": points});
        let one = |value: u64| vec![json!({"attributes": {}, "value": value})];
        let heap = crate::heap::stats();
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let sent = |unit: Unit| load(&self.sent[unit_index(unit)]);
        let events_dropped = dropped_points(&self.dropped, Unit::ErrorEvents);
        let items_dropped = dropped_points(&self.dropped, Unit::TraceMetricItems);
        json!({"metrics": [
            metric("items_sent", "Spans, log records and metrics accepted by Sentry", "{items}", "counter", SIGNALS.iter().map(|s| json!({"attributes": {"signal": s.name()}, "value": sent(Unit::Items(*s))})).collect()),
            metric("items_failed", "Spans, log records and metrics handed back to the collector to retry, by reason", "{items}", "counter", failed),
            metric("items_rate_limited", "Spans, log records and metrics held back while a Sentry rate limit held", "{items}", "counter", per_signal(&self.items_rate_limited)),
            metric("items_maybe_delivered", "Spans, log records and metrics sent again after a request got no answer in time: Sentry may hold them twice", "{items}", "counter", per_signal(&self.items_maybe_delivered)),
            metric("items_dropped", "Spans, log records and metrics dropped for good, by reason", "{items}", "counter", dropped),
            metric("strings_repaired", "OTLP string fields whose invalid UTF-8 was replaced with U+FFFD before sending", "{strings}", "counter", per_signal(&self.strings_repaired)),
            metric("ingest_requests", "Requests to Sentry's ingest (OTLP and envelopes), by answer", "{requests}", "counter", requests),
            metric("error_events_sent", "Error events (from exceptions) accepted by Sentry", "{events}", "counter", one(sent(Unit::ErrorEvents))),
            metric("error_events_deduplicated", "Exceptions seen again (as a span event and a log record, or in a retried batch) that made no second event", "{events}", "counter", one(load(&self.error_events_deduplicated))),
            metric("error_events_dropped", "Error events dropped for good, by reason", "{events}", "counter", events_dropped),
            metric("metric_points_received", "OpenTelemetry metric data points received", "{points}", "counter", one(load(&self.metric_points_received))),
            metric("metric_points_excluded", "Metric data points left out by metrics.include / exclude, or unreadable", "{points}", "counter", one(load(&self.metric_points_excluded))),
            metric("metric_items_sent", "Sentry trace metric items accepted by Sentry", "{items}", "counter", one(sent(Unit::TraceMetricItems))),
            metric("metric_items_dropped", "Trace metric items not sent, for good, by reason", "{items}", "counter", items_dropped),
            metric("metric_series", "Metric series whose last cumulative value is kept (for deltas)", "{series}", "gauge", one(load(&self.metric_series))),
            metric("metric_series_bytes", "Bytes of the metric series' state, bounded by metrics.max_series_mib", "By", "gauge", one(load(&self.metric_series_bytes))),
            metric("metric_series_evicted", "Metric series forgotten to keep their memory within metrics.max_series_mib", "{series}", "counter", one(load(&self.metric_series_evicted))),
            metric("error_events_retrying", "Error events Sentry did not take yet, waiting in the exporter to be sent again", "{events}", "gauge", one(load(&self.error_events_owed))),
            metric("error_events_retrying_bytes", "Bytes of the error events waiting to be sent again (their JSON), bounded by errors.max_retry_mib", "By", "gauge", one(load(&self.error_events_owed_bytes))),
            metric("management_calls", "Calls to Sentry's management API, by endpoint and result", "{calls}", "counter", mgmt),
            metric("projects_cached", "Projects whose ingest endpoint is known", "{projects}", "gauge", one(projects_cached)),
            metric("projects_created", "Projects created by this exporter", "{projects}", "counter", one(self.projects_created.load(Ordering::Relaxed))),
            metric("project_creations_failed", "Project creations that failed", "{projects}", "counter", one(self.project_creations_failed.load(Ordering::Relaxed))),
            metric("core_heap_bytes", "Heap memory held by the Rust core (not seen by Go's runtime metrics)", "By", "gauge", one(heap.live_bytes)),
            metric("core_allocations", "Heap allocations made by the Rust core", "{allocations}", "counter", one(heap.allocations)),
            metric("core_allocated_bytes", "Heap bytes allocated by the Rust core", "By", "counter", one(heap.allocated_bytes)),
            metric("core_memory_limit_bytes", "Heap bytes the Rust core may hold before exports wait (core_memory_limit_mib); 0: no limit", "By", "gauge", one(load(&self.core_memory_limit))),
            metric("exports_refused_for_memory", "Exports that waited in their queue because the Rust core's heap was over its limit", "{exports}", "counter", one(load(&self.exports_refused_for_memory))),
        ]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn point(snapshot: &Value, name: &str, attributes: Value) -> u64 {
        let metric = snapshot["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap();
        let point = metric["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["attributes"] == attributes);
        point.map_or(0, |p| p["value"].as_u64().unwrap())
    }

    #[test]
    fn snapshot_holds_every_count_under_its_labels() {
        let t = Telemetry::default();
        t.sent(Unit::Items(Signal::Traces), 5);
        t.sent(Unit::Items(Signal::Logs), 2);
        t.failed(Signal::Logs, &RetryReason::ExportTimeout, 3);
        t.rate_limited(Signal::Traces, 4);
        t.maybe_delivered(Signal::Logs, 6);
        t.dropped(Unit::Items(Signal::Traces), DropReason::MissingAttribute, 7);
        t.dropped(Unit::Items(Signal::Traces), DropReason::MissingAttribute, 1);
        t.dropped(Unit::Items(Signal::Logs), DropReason::TooLarge, 1);
        t.strings_repaired(Signal::Logs, 2);
        t.ingest_request(StatusClass::of(200));
        t.ingest_request(StatusClass::of(429));
        t.ingest_request(StatusClass::of(503));
        t.ingest_request(StatusClass::NoAnswer);
        t.mgmt_call("project_keys", "not_found");
        t.project_created();
        t.sent(Unit::ErrorEvents, 1);
        t.error_events_deduplicated(2);
        t.dropped(Unit::ErrorEvents, DropReason::Capped, 3);
        t.dropped(Unit::ErrorEvents, DropReason::TooLarge, 1);
        t.error_events_owed((4, 4096));
        let s = t.snapshot(9);
        assert_eq!(point(&s, "error_events_sent", json!({})), 1);
        assert_eq!(point(&s, "error_events_deduplicated", json!({})), 2);
        assert_eq!(
            point(&s, "error_events_dropped", json!({"reason": "capped"})),
            3
        );
        assert_eq!(
            point(&s, "error_events_dropped", json!({"reason": "too_large"})),
            1
        );
        assert_eq!(
            point(&s, "error_events_dropped", json!({"reason": "shutdown"})),
            0
        );
        assert_eq!(point(&s, "error_events_retrying", json!({})), 4);
        assert_eq!(point(&s, "error_events_retrying_bytes", json!({})), 4096);
        t.metric_points_received(7);
        t.sent(Unit::TraceMetricItems, 5);
        t.dropped(Unit::TraceMetricItems, DropReason::Capped, 2);
        t.metric_series(SeriesUse {
            held: 3,
            bytes: 300,
            evicted: 1,
        });
        let s = t.snapshot(9);
        assert_eq!(point(&s, "metric_points_received", json!({})), 7);
        assert_eq!(point(&s, "metric_items_sent", json!({})), 5);
        assert_eq!(
            point(&s, "metric_items_dropped", json!({"reason": "capped"})),
            2
        );
        assert_eq!(point(&s, "metric_series", json!({})), 3);
        assert_eq!(point(&s, "metric_series_bytes", json!({})), 300);
        assert_eq!(point(&s, "metric_series_evicted", json!({})), 1);
        t.core_memory_limit(Some(1 << 30));
        t.export_refused_for_memory();
        let s = t.snapshot(9);
        assert_eq!(point(&s, "core_memory_limit_bytes", json!({})), 1 << 30);
        assert_eq!(point(&s, "exports_refused_for_memory", json!({})), 1);
        assert_eq!(point(&s, "items_sent", json!({"signal": "traces"})), 5);
        assert_eq!(point(&s, "items_sent", json!({"signal": "logs"})), 2);
        assert_eq!(point(&s, "strings_repaired", json!({"signal": "logs"})), 2);
        assert_eq!(
            point(
                &s,
                "items_failed",
                json!({"signal": "logs", "reason": "export_timeout"})
            ),
            3
        );
        assert_eq!(
            point(&s, "items_rate_limited", json!({"signal": "traces"})),
            4
        );
        assert_eq!(
            point(&s, "items_maybe_delivered", json!({"signal": "logs"})),
            6
        );
        assert_eq!(
            point(
                &s,
                "items_dropped",
                json!({"signal": "traces", "reason": "missing_attribute"})
            ),
            8
        );
        assert_eq!(
            point(
                &s,
                "items_dropped",
                json!({"signal": "logs", "reason": "too_large"})
            ),
            1
        );
        assert_eq!(
            point(
                &s,
                "items_dropped",
                json!({"signal": "logs", "reason": "rejected"})
            ),
            0
        );
        for class in ["2xx", "429", "5xx", "no_answer"] {
            assert_eq!(
                point(&s, "ingest_requests", json!({"status_class": class})),
                1,
                "{class}"
            );
        }
        assert_eq!(
            point(
                &s,
                "management_calls",
                json!({"endpoint": "project_keys", "result": "not_found"})
            ),
            1
        );
        assert_eq!(point(&s, "projects_cached", json!({})), 9);
        assert_eq!(point(&s, "projects_created", json!({})), 1);
    }

    #[test]
    fn every_reason_counted_is_published() {
        let t = Telemetry::default();
        let units = [
            (
                "items_dropped",
                Unit::Items(Signal::Traces),
                json!({"signal": "traces"}),
            ),
            (
                "items_dropped",
                Unit::Items(Signal::Metrics),
                json!({"signal": "metrics"}),
            ),
            ("error_events_dropped", Unit::ErrorEvents, json!({})),
            ("metric_items_dropped", Unit::TraceMetricItems, json!({})),
        ];
        for (_, unit, _) in &units {
            for reason in DropReason::ALL {
                t.dropped(*unit, *reason, 1);
            }
        }
        let reasons = [
            RetryReason::RateLimited {
                wait: Duration::ZERO,
            },
            RetryReason::Panicked(String::new()),
        ];
        for reason in &reasons {
            t.failed(Signal::Logs, reason, 1);
        }
        let s = t.snapshot(0);
        for (metric, _, attributes) in units {
            for reason in DropReason::ALL {
                let mut attributes = attributes.clone();
                attributes["reason"] = json!(reason.label());
                assert_eq!(point(&s, metric, attributes), 1, "{metric} {reason:?}");
            }
        }
        for reason in RetryReason::LABELS {
            let attributes = json!({"signal": "logs", "reason": reason});
            let counted = ["rate_limited", "panicked"].contains(reason);
            assert_eq!(
                point(&s, "items_failed", attributes),
                u64::from(counted),
                "{reason}"
            );
        }
    }

    #[test]
    fn every_metric_is_listed_even_before_anything_happened() {
        let s = Telemetry::default().snapshot(0);
        let names: Vec<&str> = s["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 28);
        assert_eq!(
            point(
                &s,
                "items_dropped",
                json!({"signal": "logs", "reason": "invalid_slug"})
            ),
            0
        );
    }
}
