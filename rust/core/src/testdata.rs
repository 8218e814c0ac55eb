//! Builders of OTLP requests for the tests.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

pub struct Resource {
    attributes: Vec<KeyValue>,
    items: u32,
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

impl Resource {
    pub fn service(name: &str, items: u32) -> Resource {
        Resource::without_service(items).with("service.name", name)
    }

    pub fn without_service(items: u32) -> Resource {
        Resource {
            attributes: vec![attribute(
                "host.name",
                any_value::Value::StringValue("h1".into()),
            )],
            items,
        }
    }

    pub fn int_service(value: i64, items: u32) -> Resource {
        let mut r = Resource::without_service(items);
        r.attributes
            .push(attribute("service.name", any_value::Value::IntValue(value)));
        r
    }

    pub fn with(mut self, key: &str, value: &str) -> Resource {
        self.attributes
            .push(attribute(key, any_value::Value::StringValue(value.into())));
        self
    }

    fn resource(&self) -> Option<OtlpResource> {
        Some(OtlpResource {
            attributes: self.attributes.clone(),
            ..Default::default()
        })
    }
}

pub fn traces_request(resources: &[Resource]) -> Vec<u8> {
    let mut next_id = 0u64;
    ExportTraceServiceRequest {
        resource_spans: resources
            .iter()
            .map(|r| ResourceSpans {
                resource: r.resource(),
                scope_spans: vec![ScopeSpans {
                    spans: (0..r.items)
                        .map(|_| {
                            next_id += 1;
                            Span {
                                trace_id: vec![7; 16],
                                span_id: next_id.to_be_bytes().to_vec(),
                                name: "op".into(),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
    .encode_to_vec()
}

pub fn logs_request(resources: &[Resource]) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: resources
            .iter()
            .map(|r| ResourceLogs {
                resource: r.resource(),
                scope_logs: vec![ScopeLogs {
                    log_records: (0..r.items)
                        .map(|i| LogRecord {
                            time_unix_nano: u64::from(i),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
    .encode_to_vec()
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
