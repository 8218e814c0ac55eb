//! Release and environment on every span and log record, where Sentry's filters read them.
//!
//! Relay's OTLP conversion (relay-spans `otel_to_sentry_span`, relay-ourlogs
//! `otel_to_sentry_log`) names each resource attribute `resource.<key>`, and then fills
//! `sentry.environment` from `resource.deployment.environment(.name)` (sentry-conventions'
//! backfill); nothing fills `sentry.release`, so a service's `service.version` never becomes the
//! release of its spans and logs. Each span and log record of a resource with a
//! `service.version` gets `sentry.release` here. Where the resource states both environment
//! attributes with different values, Relay would take `deployment.environment` (the first in its
//! sorted map) while the exporter's events and metrics take `deployment.environment.name`, so
//! such records get `sentry.environment` too.
//!
//! The attributes go first in the record: a record's own `sentry.release` comes later and wins
//! in Relay's map. Works on the wire bytes: only the resource blocks that get attributes are
//! re-encoded, the records copied whole after them.

use std::borrow::Cow;

use serde_json::Value as Json;

use crate::otlp_messages::get_str;
use crate::signal::OtlpSignal;
use crate::wire::{
    field, fields, put_field, put_header, rewrite_resource_blocks, varint_len, Value, WireError,
};

/// The resource attribute that states a service's release.
pub const VERSION_ATTRIBUTE: &str = "service.version";
/// The resource attributes that state an environment, in the order they are taken: the
/// semantic conventions' current name, then the older one.
pub const ENVIRONMENT_ATTRIBUTES: [&str; 2] =
    ["deployment.environment.name", "deployment.environment"];
/// Where Sentry's release and environment filters read them on spans, logs and trace metrics.
pub const SENTRY_RELEASE: &str = "sentry.release";
pub const SENTRY_ENVIRONMENT: &str = "sentry.environment";

/// A decoded resource's release: its `service.version` when Sentry takes it as one
/// ([`is_release`]). Events, trace metrics and the stamp of spans and logs all take this one.
pub fn release_of(resource: &[(String, Json)]) -> Option<&str> {
    get_str(resource, VERSION_ATTRIBUTE).filter(|version| is_release(version.as_bytes()))
}

/// A decoded resource's environment: the first of [`ENVIRONMENT_ATTRIBUTES`] with a value.
pub fn environment_of(resource: &[(String, Json)]) -> Option<&str> {
    ENVIRONMENT_ATTRIBUTES
        .iter()
        .find_map(|key| get_str(resource, key).filter(|value| !value.is_empty()))
}

// The same keys as the wire holds them.
const VERSION_KEY: &[u8] = VERSION_ATTRIBUTE.as_bytes();
const ENVIRONMENT_NAME: &[u8] = ENVIRONMENT_ATTRIBUTES[0].as_bytes();
const ENVIRONMENT_LEGACY: &[u8] = ENVIRONMENT_ATTRIBUTES[1].as_bytes();

/// `Span.attributes` and `LogRecord.attributes`.
fn item_attributes(signal: OtlpSignal) -> u32 {
    match signal {
        OtlpSignal::Traces => 9,
        OtlpSignal::Logs => 6,
    }
}

/// `request` with the release (and where needed the environment) of each resource on its
/// spans or log records; borrowed when no resource has one.
pub fn stamp(signal: OtlpSignal, request: &[u8]) -> Result<Cow<'_, [u8]>, WireError> {
    let number = item_attributes(signal);
    rewrite_resource_blocks(request, |block| {
        let attributes = attributes_of(number, &stated(block)?);
        if attributes.is_empty() || records(block)? * attributes.len() > block.len() {
            // A block of records smaller than the attributes (empty ones, in a hostile
            // request) would grow without bound: it goes unstamped.
            return Ok(None);
        }
        stamp_block(block, &attributes).map(Some)
    })
}

/// A project's `request` stamped; as it is when its records cannot be read (Sentry judges
/// them then, as it would unstamped).
pub fn stamped(signal: OtlpSignal, request: Vec<u8>) -> Vec<u8> {
    match stamp(signal, &request) {
        Ok(Cow::Owned(stamped)) => stamped,
        Ok(Cow::Borrowed(_)) | Err(_) => request,
    }
}

/// Longest release Sentry takes (Relay's limit is 200 characters).
const MAX_RELEASE: usize = 200;

/// Whether Sentry takes `version` as a release (Relay's `validate_release`): not empty, at most
/// [`MAX_RELEASE`] bytes, no line break, tab, slash or backslash, and not `.`, `..` or
/// `latest`.
pub fn is_release(version: &[u8]) -> bool {
    !version.is_empty()
        && version.len() <= MAX_RELEASE
        && !version
            .iter()
            .any(|b| matches!(b, b'\n' | b'\r' | b'\t' | b'\x0c' | b'/' | b'\\'))
        && !matches!(version, b"." | b".." | b"latest")
        && std::str::from_utf8(version).is_ok_and(|v| v.trim() == v)
}

/// The records of a resource block.
fn records(block: &[u8]) -> Result<usize, WireError> {
    let mut records = 0;
    for f in fields(block) {
        let f = f?;
        if let (field::SCOPE_BLOCK, Value::Bytes(scope)) = (f.number, f.value) {
            for item in fields(scope) {
                records += usize::from(item?.number == field::ITEM);
            }
        }
    }
    Ok(records)
}

/// What a resource states: its `service.version` and environment attributes.
#[derive(Debug, Default, PartialEq)]
struct Stated<'a> {
    version: Option<&'a [u8]>,
    environment: Option<&'a [u8]>,
    legacy_environment: Option<&'a [u8]>,
}

/// The string attributes of a resource block's resource that decide the stamp.
fn stated(block: &[u8]) -> Result<Stated<'_>, WireError> {
    let mut stated = Stated::default();
    for f in fields(block) {
        let f = f?;
        let (field::RESOURCE, Value::Bytes(resource)) = (f.number, f.value) else {
            continue;
        };
        for attribute in fields(resource) {
            let attribute = attribute?;
            let (field::ATTRIBUTE, Value::Bytes(key_value)) = (attribute.number, attribute.value)
            else {
                continue;
            };
            let (key, value) = string_key_value(key_value)?;
            let slot = match key {
                Some(VERSION_KEY) => &mut stated.version,
                Some(ENVIRONMENT_NAME) => &mut stated.environment,
                Some(ENVIRONMENT_LEGACY) => &mut stated.legacy_environment,
                _ => continue,
            };
            *slot = value.filter(|v| !v.is_empty());
        }
    }
    Ok(stated)
}

/// A `KeyValue`'s key, and its value when it is a string.
type KeyAndString<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

fn string_key_value(key_value: &[u8]) -> Result<KeyAndString<'_>, WireError> {
    let (mut key, mut value) = (None, None);
    for f in fields(key_value) {
        let f = f?;
        match (f.number, f.value) {
            (field::KEY, Value::Bytes(k)) => key = Some(k),
            (field::VALUE, Value::Bytes(any)) => {
                value = None;
                for v in fields(any) {
                    let v = v?;
                    if let (field::STRING_VALUE, Value::Bytes(s)) = (v.number, v.value) {
                        value = Some(s);
                    }
                }
            }
            _ => {}
        }
    }
    Ok((key, value))
}

/// The attribute fields (field `number` of a span or log record) a resource's records get.
fn attributes_of(number: u32, stated: &Stated<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |key: &str, value: &[u8]| {
        let mut any_value = Vec::with_capacity(value.len() + 4);
        put_field(&mut any_value, field::STRING_VALUE, value);
        let mut key_value = Vec::with_capacity(key.len() + any_value.len() + 8);
        put_field(&mut key_value, field::KEY, key.as_bytes());
        put_field(&mut key_value, field::VALUE, &any_value);
        put_field(&mut out, number, &key_value);
    };
    if let Some(version) = stated.version.filter(|v| is_release(v)) {
        put(SENTRY_RELEASE, version);
    }
    if let (Some(name), Some(legacy)) = (stated.environment, stated.legacy_environment) {
        if name != legacy {
            put(SENTRY_ENVIRONMENT, name);
        }
    }
    out
}

/// A resource block's body with `attributes` first in each of its records.
fn stamp_block(block: &[u8], attributes: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(block.len() + block.len() / 4);
    for f in fields(block) {
        let f = f?;
        match (f.number, f.value) {
            (field::SCOPE_BLOCK, Value::Bytes(scope)) => {
                put_header(
                    &mut out,
                    field::SCOPE_BLOCK,
                    stamped_len(scope, attributes)?,
                );
                for item in fields(scope) {
                    let item = item?;
                    match (item.number, item.value) {
                        (field::ITEM, Value::Bytes(record)) => {
                            put_header(&mut out, field::ITEM, attributes.len() + record.len());
                            out.extend_from_slice(attributes);
                            out.extend_from_slice(record);
                        }
                        _ => out.extend_from_slice(&scope[item.span]),
                    }
                }
            }
            _ => out.extend_from_slice(&block[f.span]),
        }
    }
    Ok(out)
}

/// The length of a scope block once each of its records holds `attributes`.
fn stamped_len(scope: &[u8], attributes: &[u8]) -> Result<usize, WireError> {
    let mut len = scope.len();
    for item in fields(scope) {
        let item = item?;
        if let (field::ITEM, Value::Bytes(record)) = (item.number, item.value) {
            let grown = attributes.len() + record.len();
            len += attributes.len() + varint_len(grown as u64) - varint_len(record.len() as u64);
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{logs_request, string_attribute, traces_request, Resource};
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;

    /// The `sentry.*` string attributes of a record, in order.
    fn sentry_attributes(attributes: &[KeyValue]) -> Vec<(String, String)> {
        attributes
            .iter()
            .filter(|kv| kv.key.starts_with("sentry."))
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    other => format!("{other:?}"),
                };
                (kv.key.clone(), value)
            })
            .collect()
    }

    /// The `sentry.*` attributes a record was stamped with: key and value.
    type Stamped = Vec<(String, String)>;

    fn pairs(pairs: &[(&str, &str)]) -> Stamped {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_record_gets_its_resources_release_and_the_environment_events_take() {
        let release = [("sentry.release", "1.4.2")];
        let table: Vec<(&str, Resource, Stamped)> = vec![
            ("no version", Resource::service("api", 2), vec![]),
            (
                "a version",
                Resource::service("api", 2).with("service.version", "1.4.2"),
                pairs(&release),
            ),
            (
                "an empty version",
                Resource::service("api", 1).with("service.version", ""),
                vec![],
            ),
            (
                "a version Sentry refuses as a release",
                Resource::service("api", 1).with("service.version", "main/1.4"),
                vec![],
            ),
            (
                "both environments, different",
                Resource::service("api", 1)
                    .with("service.version", "1.4.2")
                    .with("deployment.environment", "staging")
                    .with("deployment.environment.name", "prod"),
                pairs(&[("sentry.release", "1.4.2"), ("sentry.environment", "prod")]),
            ),
            (
                "both environments, the same",
                Resource::service("api", 1)
                    .with("deployment.environment", "prod")
                    .with("deployment.environment.name", "prod"),
                vec![],
            ),
            (
                "one environment: Relay's backfill takes it",
                Resource::service("api", 1).with("deployment.environment.name", "prod"),
                vec![],
            ),
        ];
        for (name, resource, want) in table {
            let request = traces_request(std::slice::from_ref(&resource));
            let stamped = stamp(OtlpSignal::Traces, &request).unwrap();
            assert_eq!(
                matches!(stamped, Cow::Borrowed(_)),
                want.is_empty(),
                "{name}: copied only when stamped"
            );
            let decoded = ExportTraceServiceRequest::decode(&*stamped).unwrap();
            let spans: Vec<_> = decoded.resource_spans[0]
                .scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .collect();
            assert!(!spans.is_empty(), "{name}");
            for span in spans {
                assert_eq!(sentry_attributes(&span.attributes), want, "{name}");
            }
            let request = logs_request(&[resource]);
            let stamped = stamp(OtlpSignal::Logs, &request).unwrap();
            let decoded = ExportLogsServiceRequest::decode(&*stamped).unwrap();
            for record in decoded.resource_logs[0]
                .scope_logs
                .iter()
                .flat_map(|s| &s.log_records)
            {
                assert_eq!(sentry_attributes(&record.attributes), want, "{name} logs");
            }
        }
    }

    #[test]
    fn only_the_stamped_resources_change_and_a_records_own_release_comes_last() {
        let own = Resource::service("web", 1)
            .with("service.version", "2.0.0")
            .with_spans(vec![Span {
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                name: "GET /".into(),
                attributes: vec![string_attribute("sentry.release", "web@hotfix")],
                ..Default::default()
            }]);
        let request =
            traces_request(&[Resource::service("api", 3), own, Resource::service("db", 2)]);
        let stamped = stamp(OtlpSignal::Traces, &request).unwrap();
        let decoded = ExportTraceServiceRequest::decode(&*stamped).unwrap();
        let original = ExportTraceServiceRequest::decode(&*request).unwrap();
        assert_eq!(decoded.resource_spans[0], original.resource_spans[0]);
        assert_eq!(decoded.resource_spans[2], original.resource_spans[2]);
        let span = &decoded.resource_spans[1].scope_spans[0].spans[0];
        // Relay keeps the last of a key: the record's own.
        assert_eq!(
            sentry_attributes(&span.attributes),
            pairs(&[
                ("sentry.release", "2.0.0"),
                ("sentry.release", "web@hotfix")
            ])
        );
        let mut unstamped = span.clone();
        unstamped.attributes.remove(0);
        assert_eq!(
            unstamped,
            original.resource_spans[1].scope_spans[0].spans[0]
        );
    }

    #[test]
    fn releases_as_relay_validates_them() {
        let long = "1".repeat(MAX_RELEASE + 1);
        let table = [
            ("1.4.2", true),
            ("shop@1.4.2+abc", true),
            ("", false),
            (".", false),
            ("latest", false),
            ("a/b", false),
            ("a\\b", false),
            ("1.0\n", false),
            (" 1.0", false),
            (&long[1..], true),
            (&long, false),
        ];
        for (version, want) in table {
            assert_eq!(is_release(version.as_bytes()), want, "{version:?}");
        }
    }

    #[test]
    fn records_smaller_than_the_attributes_stay_unstamped() {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
        let empty_spans = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Resource::service("api", 0)
                    .with("service.version", "1.4.2")
                    .resource(),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default(); 1000],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        let stamped = stamp(OtlpSignal::Traces, &empty_spans).unwrap();
        assert!(matches!(stamped, Cow::Borrowed(_)));
    }

    #[test]
    fn a_malformed_request_is_an_error() {
        let request = traces_request(&[Resource::service("api", 1).with("service.version", "1")]);
        let cut = &request[..request.len() - 3];
        assert!(stamp(OtlpSignal::Traces, cut).is_err());
    }
}
