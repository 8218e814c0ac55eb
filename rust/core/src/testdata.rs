//! Builders of OTLP requests for tests, benchmarks and the fuzz corpus: the one place where
//! test code writes OTLP (the core's own tests, the stand-in's, the C ABI's, the router
//! benchmark, the fuzz seeds).
//!
//! A request is a list of [`Resource`]s, each with its attributes and its items. Items are
//! numbered: a span's id is its number (big-endian), a log record's time its number (and, with
//! [`Resource::log_uids`], its `log.record.uid` is `uid-{number}`). Unless a resource says
//! where its numbers start ([`Resource::ids_from`]), spans count on from the previous
//! resource's (the first from 1), log records of each resource from 0.
//!
//! The default output must not change: the fuzz seeds in `rust/fuzz/corpus/` are made with it.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

/// The key of the attribute the stand-in takes as a log record's id.
pub const LOG_UID: &str = "log.record.uid";

/// One resource of a request and its items.
#[derive(Debug, Clone)]
pub struct Resource {
    attributes: Vec<KeyValue>,
    items: u32,
    first_id: Option<u64>,
    trace: u8,
    log_uids: bool,
    spans: Option<Vec<Span>>,
    log_records: Option<Vec<LogRecord>>,
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// A string attribute (of a resource, a span, a log record).
pub fn string_attribute(key: &str, value: &str) -> KeyValue {
    attribute(key, any_value::Value::StringValue(value.into()))
}

/// An integer attribute.
pub fn int_attribute(key: &str, value: i64) -> KeyValue {
    attribute(key, any_value::Value::IntValue(value))
}

impl Resource {
    /// `items` items and no attributes.
    pub fn new(items: u32) -> Resource {
        Resource {
            attributes: Vec::new(),
            items,
            first_id: None,
            trace: 7,
            log_uids: false,
            spans: None,
            log_records: None,
        }
    }

    /// `service.name` = `name` (after `host.name` = `h1`).
    pub fn service(name: &str, items: u32) -> Resource {
        Resource::without_service(items).with("service.name", name)
    }

    /// Only `host.name` = `h1`.
    pub fn without_service(items: u32) -> Resource {
        Resource::new(items).with("host.name", "h1")
    }

    /// An integer `service.name`, which names no project.
    pub fn int_service(value: i64, items: u32) -> Resource {
        Resource::without_service(items).with_int("service.name", value)
    }

    /// One string attribute more.
    pub fn with(mut self, key: &str, value: &str) -> Resource {
        self.attributes.push(string_attribute(key, value));
        self
    }

    /// One integer attribute more.
    pub fn with_int(mut self, key: &str, value: i64) -> Resource {
        self.attributes.push(int_attribute(key, value));
        self
    }

    /// The items of this resource are numbered from `first`.
    pub fn ids_from(mut self, first: u64) -> Resource {
        self.first_id = Some(first);
        self
    }

    /// Spans of the trace `[byte; 16]` (default 7).
    pub fn trace(mut self, byte: u8) -> Resource {
        self.trace = byte;
        self
    }

    /// Log records carry `log.record.uid` = `uid-{number}`.
    pub fn log_uids(mut self) -> Resource {
        self.log_uids = true;
        self
    }

    /// Traces: these spans instead of `items` numbered ones (a benchmark's heavy spans).
    pub fn with_spans(mut self, spans: Vec<Span>) -> Resource {
        self.spans = Some(spans);
        self
    }

    /// Logs: these log records instead of `items` numbered ones.
    pub fn with_log_records(mut self, records: Vec<LogRecord>) -> Resource {
        self.log_records = Some(records);
        self
    }

    pub fn resource(&self) -> Option<OtlpResource> {
        Some(OtlpResource {
            attributes: self.attributes.clone(),
            ..Default::default()
        })
    }

    /// The spans, numbered on from `*last`, which ends at this resource's last number.
    fn spans(&self, last: &mut u64) -> Vec<Span> {
        if let Some(spans) = &self.spans {
            return spans.clone();
        }
        if let Some(first) = self.first_id {
            *last = first.wrapping_sub(1);
        }
        (0..self.items)
            .map(|_| {
                *last = last.wrapping_add(1);
                Span {
                    trace_id: vec![self.trace; 16],
                    span_id: last.to_be_bytes().to_vec(),
                    name: "op".into(),
                    ..Default::default()
                }
            })
            .collect()
    }

    fn log_records(&self) -> Vec<LogRecord> {
        if let Some(records) = &self.log_records {
            return records.clone();
        }
        let first = self.first_id.unwrap_or(0);
        (first..first + u64::from(self.items))
            .map(|n| LogRecord {
                time_unix_nano: n,
                attributes: if self.log_uids {
                    vec![string_attribute(LOG_UID, &format!("uid-{n}"))]
                } else {
                    Vec::new()
                },
                ..Default::default()
            })
            .collect()
    }
}

/// The attributes of an exception (`exception.type`, `.message`, `.stacktrace` when not
/// empty).
pub fn exception(ty: &str, message: &str, stacktrace: &str) -> Vec<KeyValue> {
    [
        ("exception.type", ty),
        ("exception.message", message),
        ("exception.stacktrace", stacktrace),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| string_attribute(k, v))
    .collect()
}

/// Span `id` of trace `[trace; 16]`, named `name`, with an `exception` event (at 1,000 ns
/// past the epoch plus `id`) of `attributes`; status ERROR.
pub fn exception_span(trace: u8, id: u64, name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: id.to_be_bytes().to_vec(),
        name: name.into(),
        events: vec![span::Event {
            time_unix_nano: 1_000 + id,
            name: "exception".into(),
            attributes,
            ..Default::default()
        }],
        status: Some(Status {
            code: 2,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A log record of span `span` of trace `[trace; 16]` with `attributes`.
pub fn exception_log(trace: u8, span: u64, attributes: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        time_unix_nano: 2_000 + span,
        trace_id: vec![trace; 16],
        span_id: span.to_be_bytes().to_vec(),
        attributes,
        ..Default::default()
    }
}

/// An OTLP metrics request of one resource (`service.name` = `service`) and `metrics`.
pub fn metrics_request(service: &str, metrics: Vec<Metric>) -> Vec<u8> {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Resource::service(service, 0).resource(),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// A monotonic cumulative sum `name` with one point: `value` at `time`, counted from `start`
/// (nanoseconds since the epoch).
pub fn cumulative_counter(name: &str, start: u64, time: u64, value: f64) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: time,
                value: Some(number_data_point::Value::AsDouble(value)),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

/// A cumulative histogram `name` with one point of `values` at `time`, counted from `start`,
/// over the OpenTelemetry SDKs' default bounds.
pub fn cumulative_histogram(name: &str, start: u64, time: u64, values: &[f64]) -> Metric {
    let bounds = vec![
        0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
        7500.0, 10000.0,
    ];
    let mut counts = vec![0; bounds.len() + 1];
    for value in values {
        counts[bounds.iter().take_while(|b| *b < value).count()] += 1;
    }
    Metric {
        name: name.into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: values.len() as u64,
                sum: Some(values.iter().sum()),
                min: values.iter().copied().reduce(f64::min),
                max: values.iter().copied().reduce(f64::max),
                bucket_counts: counts,
                explicit_bounds: bounds,
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}

/// The decoded traces request of `resources`.
pub fn traces(resources: &[Resource]) -> ExportTraceServiceRequest {
    let mut last = 0u64;
    ExportTraceServiceRequest {
        resource_spans: resources
            .iter()
            .map(|r| ResourceSpans {
                resource: r.resource(),
                scope_spans: vec![ScopeSpans {
                    spans: r.spans(&mut last),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

/// The decoded logs request of `resources`.
pub fn logs(resources: &[Resource]) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: resources
            .iter()
            .map(|r| ResourceLogs {
                resource: r.resource(),
                scope_logs: vec![ScopeLogs {
                    log_records: r.log_records(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

/// The encoded traces request of `resources`.
pub fn traces_request(resources: &[Resource]) -> Vec<u8> {
    traces(resources).encode_to_vec()
}

/// The encoded logs request of `resources`.
pub fn logs_request(resources: &[Resource]) -> Vec<u8> {
    logs(resources).encode_to_vec()
}

/// How the stand-in names a span: `{trace id}-{span id}` in hex.
pub fn span_key(trace: u8, number: u64) -> String {
    format!("{}-{number:016x}", format!("{trace:02x}").repeat(16))
}

/// The numbers of the spans of a traces request (their ids), in order.
pub fn span_numbers(request: &ExportTraceServiceRequest) -> Vec<u64> {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| {
            s.span_id
                .as_slice()
                .try_into()
                .map_or(0, u64::from_be_bytes)
        })
        .collect()
}

pub fn spans_of(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

pub fn service_of(resource: &Option<OtlpResource>) -> String {
    resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The config JSON the Go component sends for `url` and `token`, with the defaults of its
/// `createDefaultConfig()` (go-shim/factory.go) and org `acme`.
pub fn config(url: &str, token: &str) -> serde_json::Value {
    serde_json::json!({
        "dsn": "",
        "environment": "",
        "insecure_skip_verify": false,
        "url": url,
        "org_slug": "acme",
        "auth_token": token,
        "auto_create_projects": false,
        "team": "",
        "max_created_projects": 1000,
        "core_memory_limit_mib": 0,
        "max_project_queues": 200,
        "routing": {
            "project_from_attribute": "service.name",
            "attribute_to_project_mapping": {},
            "fallback_project": "",
        },
        "http": {
            "timeout_ms": 30000,
            "compression": "gzip",
            "tls": {"ca_file": "", "cert_file": "", "key_file": "", "insecure_skip_verify": false},
            "proxy_url": "",
            "headers": {},
        },
        "errors": {
            "enabled": true,
            "from_logs": true,
            "from_error_spans": false,
            "min_log_severity": "error",
            "in_app_include": [],
            "max_per_minute": 600,
            "max_retry_mib": 64,
        },
        "metrics": {
            "include": [],
            "exclude": [],
            "max_items_per_minute": 10000,
            "max_series_mib": 64,
        },
    })
}

/// An envelope transport for payloads under test that send nothing through it.
pub fn envelope_transport() -> std::sync::Arc<crate::ingest::envelope::EnvelopeTransport> {
    use std::sync::Arc;
    let poster = crate::ingest::Poster::new(
        reqwest::Client::new(),
        crate::compress::Compression::None,
        Arc::default(),
        Arc::default(),
        Arc::new(crate::clock::TokioClock::new()),
    );
    Arc::new(crate::ingest::envelope::EnvelopeTransport::new(poster))
}
