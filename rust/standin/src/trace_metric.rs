//! One item of a `trace_metric` container as relay's processing sees it: what makes relay drop
//! the trace metric after the envelope was answered 200, and what it would change or remove in
//! one it keeps. Pure functions; the stand-in records a kept trace metric as received, with
//! these notes next to it.
//!
//! Mirrored from relay (getsentry/relay), in the order of `TraceMetricsProcessor::process`
//! (relay-server `src/processing/trace_metrics/mod.rs`):
//! - `validate::size`: a trace metric whose canonical size (relay-event-normalization
//!   `eap::size`: the name's bytes, plus the value's, plus each attribute's key and value bytes;
//!   a number counts 8 bytes, a boolean 1, a string its UTF-8 bytes) is above
//!   `limits.max_trace_metric_size` (relay-config: 1 MiB since relay#5779; 2 KiB before) is
//!   dropped, outcome `too_large`.
//! - `validate::validate` and `process::normalize`: no payload object, or a `type` missing or
//!   other than `counter`, `gauge`, `distribution`, drops it (`invalid_trace_metric`);
//!   relay-event-normalization `eap::trace_metric::normalize_metric_name` drops a blank `name`
//!   and replaces each run of characters outside `[a-zA-Z0-9_.]` with `_`;
//!   `normalize_metric_unit` turns a unit outside the duration, information and fraction
//!   families into `none`; `eap::normalize_attribute_types` removes an attribute whose `type`
//!   (`boolean`, `integer`, `double`, `string`, `array`) does not match its `value`: an
//!   `integer` must fit an i64 (relay#5621), a `double` may be any number, an `array` (relay#5394,
//!   Relay 25.12.1) must hold only strings, only booleans or only numbers (`null`s aside;
//!   empty is fine: `is_supported_array`), not nested arrays or objects.
//! - `store::convert`: `timestamp` (seconds or RFC 3339), `trace_id` (a UUID, dashes or not),
//!   `name`, `type` and a numeric `value` are required, else the trace metric is dropped
//!   (`invalid_trace_metric`); the attribute `sentry.client_sample_rate` is used only when it is
//!   a number in (0, 1], else the item counts once (rate 1.0).
//!   The schema (relay-event-schema `protocol/trace_metric.rs`) reads a field of the wrong JSON
//!   type as missing; an optional `span_id` that is no 16 hex digits is removed.

use serde_json::{Map, Value};

use crate::envelope::MAX_TRACE_METRIC;
use crate::event::{self, Note};

/// The attribute whose value is the share of data points an item stands for.
pub const CLIENT_SAMPLE_RATE: &str = "sentry.client_sample_rate";

/// relay-base-schema `MetricUnit`: the units of the duration, information and fraction families
/// (`none` and the empty unit are none).
const KNOWN_UNITS: &[&str] = &[
    "nanosecond",
    "microsecond",
    "millisecond",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "bit",
    "byte",
    "kilobyte",
    "kibibyte",
    "megabyte",
    "mebibyte",
    "gigabyte",
    "gibibyte",
    "terabyte",
    "tebibyte",
    "petabyte",
    "pebibyte",
    "exabyte",
    "exbibyte",
    "ratio",
    "percent",
    "none",
    "",
];

/// Why relay drops a trace metric after its envelope was accepted: the outcome's discard reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    InvalidTraceMetric,
    TooLarge,
}

impl Discard {
    pub fn as_str(self) -> &'static str {
        match self {
            Discard::InvalidTraceMetric => "invalid_trace_metric",
            Discard::TooLarge => "too_large",
        }
    }
}

/// A trace metric relay drops: its outcome's reason and what in it made relay drop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub reason: Discard,
    pub problem: String,
}

fn invalid(problem: impl Into<String>) -> Dropped {
    Dropped {
        reason: Discard::InvalidTraceMetric,
        problem: problem.into(),
    }
}

/// Checks one trace metric of a container; `Ok` holds what relay would change in a kept one.
pub fn check(metric: &Value) -> Result<Vec<Note>, Dropped> {
    let Value::Object(fields) = metric else {
        return Err(invalid("not an object"));
    };
    let size = canonical_size(fields);
    if size > MAX_TRACE_METRIC {
        return Err(Dropped {
            reason: Discard::TooLarge,
            problem: format!(
                "{size} bytes (relay's measure) above max_trace_metric_size {MAX_TRACE_METRIC}"
            ),
        });
    }
    match present(fields, "type").and_then(Value::as_str) {
        Some("counter" | "gauge" | "distribution") => {}
        Some(other) => {
            return Err(invalid(format!(
                "type {other:?} is not counter, gauge or distribution"
            )))
        }
        None => return Err(invalid("type is missing or not a string")),
    }
    let mut notes = Vec::new();
    match present(fields, "name").and_then(Value::as_str) {
        Some(name) if !name.trim().is_empty() => {
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            {
                notes.push(note(
                    "name",
                    "characters outside [a-zA-Z0-9_.]: relay replaces each run of them with _",
                ));
            }
        }
        _ => return Err(invalid("name is missing, blank or not a string")),
    }
    if present(fields, "timestamp")
        .and_then(event::timestamp_secs)
        .is_none()
    {
        return Err(invalid(
            "timestamp is missing or neither seconds nor RFC 3339",
        ));
    }
    if !present(fields, "trace_id")
        .and_then(Value::as_str)
        .is_some_and(event::is_uuid)
    {
        return Err(invalid("trace_id is missing or not a UUID (32 hex digits)"));
    }
    if !present(fields, "value").is_some_and(Value::is_number) {
        return Err(invalid("value is missing or not a number"));
    }
    if let Some(span_id) = present(fields, "span_id") {
        if !span_id.as_str().is_some_and(event::is_span_id) {
            notes.push(note("span_id", "not 16 hex digits: relay removes it"));
        }
    }
    if let Some(unit) = present(fields, "unit") {
        if !unit.as_str().is_some_and(|u| KNOWN_UNITS.contains(&u)) {
            notes.push(note(
                "unit",
                "not a duration, information or fraction unit: relay makes it none",
            ));
        }
    }
    if let Some(attributes) = present(fields, "attributes") {
        check_attributes(attributes, &mut notes);
    }
    Ok(notes)
}

fn note(path: impl Into<String>, problem: impl Into<String>) -> Note {
    Note {
        path: path.into(),
        problem: problem.into(),
    }
}

/// A field that is there and not `null` (relay reads `null` as missing).
fn present<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    fields.get(key).filter(|v| !v.is_null())
}

fn check_attributes(attributes: &Value, notes: &mut Vec<Note>) {
    let Value::Object(attributes) = attributes else {
        notes.push(note("attributes", "not an object: relay removes them"));
        return;
    };
    for (key, attribute) in attributes {
        let path = format!("attributes.{key}");
        let ty = attribute.get("type").and_then(Value::as_str);
        let value = attribute.get("value").filter(|v| !v.is_null());
        if !type_matches(ty, value) {
            notes.push(note(
                path,
                "type missing, unknown or not matching the value: relay removes the attribute",
            ));
        } else if key == CLIENT_SAMPLE_RATE
            && !value
                .and_then(Value::as_f64)
                .is_some_and(|rate| rate > 0.0 && rate <= 1.0)
        {
            notes.push(note(
                path,
                "not a number in (0, 1]: relay ignores it and counts the item once",
            ));
        }
    }
}

/// Relay's `normalize_attribute_types`: whether an attribute of type `ty` keeps `value`.
fn type_matches(ty: Option<&str>, value: Option<&Value>) -> bool {
    match (ty, value) {
        (Some("boolean"), Some(Value::Bool(_))) | (Some("string"), Some(Value::String(_))) => true,
        // A u64 above i64::MAX does not fit (relay#5621).
        (Some("integer"), Some(Value::Number(n))) => n.is_i64(),
        (Some("double"), Some(Value::Number(_))) => true,
        (Some("array"), Some(Value::Array(elements))) => is_supported_array(elements),
        _ => false,
    }
}

/// Relay's `is_supported_array`: elements of one kind (strings, booleans, or numbers of any
/// representation), `null`s aside; no nested arrays or objects.
fn is_supported_array(elements: &[Value]) -> bool {
    let kind = |v: &Value| match v {
        Value::String(_) => Some(0),
        Value::Bool(_) => Some(1),
        Value::Number(_) => Some(2),
        Value::Array(_) | Value::Object(_) => Some(3),
        Value::Null => None,
    };
    let mut kinds = elements.iter().filter_map(kind);
    match kinds.next() {
        None => true,
        Some(3) => false,
        Some(first) => kinds.all(|k| k == first),
    }
}

/// relay's canonical size of a trace metric (`validate::size`), at least 1.
fn canonical_size(fields: &Map<String, Value>) -> usize {
    let name = fields
        .get("name")
        .and_then(Value::as_str)
        .map_or(0, str::len);
    let value = fields.get("value").map_or(0, value_size);
    let attributes = match fields.get("attributes") {
        Some(Value::Object(attributes)) => attributes
            .iter()
            .map(|(key, attribute)| key.len() + attribute.get("value").map_or(0, value_size))
            .sum(),
        _ => 0,
    };
    (name + value + attributes).max(1)
}

/// relay-event-normalization `eap::value_size`.
fn value_size(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 8,
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(value_size).sum(),
        Value::Object(fields) => fields.iter().map(|(k, v)| k.len() + value_size(v)).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "timestamp": 1_767_225_600.25,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "name": "http.server.request.duration",
            "type": "distribution",
            "unit": "millisecond",
            "value": 12.5,
            "attributes": {
                "http.route": {"type": "string", "value": "/orders"},
                "sentry.client_sample_rate": {"type": "double", "value": 0.25},
                "retry": {"type": "boolean", "value": false},
                "status": {"type": "integer", "value": 200},
            },
        })
    }

    fn with(key: &str, value: Option<Value>) -> Value {
        let mut metric = valid();
        let fields = metric.as_object_mut().expect("object");
        match value {
            Some(v) => fields.insert(key.to_string(), v),
            None => fields.remove(key),
        };
        metric
    }

    fn paths(metric: &Value) -> Vec<String> {
        check(metric)
            .expect("kept")
            .into_iter()
            .map(|n| n.path)
            .collect()
    }

    #[test]
    fn a_valid_trace_metric_is_kept_without_notes() {
        assert_eq!(check(&valid()), Ok(vec![]));
        for ty in ["counter", "gauge"] {
            assert_eq!(check(&with("type", Some(json!(ty)))), Ok(vec![]));
        }
        let rfc3339 = with("timestamp", Some(json!("2026-01-01T00:00:00.5Z")));
        assert_eq!(check(&rfc3339), Ok(vec![]));
        assert_eq!(check(&with("value", Some(json!(-3)))), Ok(vec![]));
        assert_eq!(check(&with("span_id", None)), Ok(vec![]));
        assert_eq!(check(&with("attributes", None)), Ok(vec![]));
    }

    #[test]
    fn required_fields_are_checked_as_relay_stores_them() {
        let cases = [
            (json!([]), "not an object"),
            (with("type", None), "type"),
            (with("type", Some(json!("histogram"))), "type \"histogram\""),
            (with("type", Some(json!(1))), "type"),
            (with("name", None), "name"),
            (with("name", Some(json!("  "))), "name"),
            (with("timestamp", None), "timestamp"),
            (with("timestamp", Some(json!("yesterday"))), "timestamp"),
            (with("trace_id", None), "trace_id"),
            (
                with("trace_id", Some(json!("4bf92f3577b34da6"))),
                "trace_id",
            ),
            (with("value", None), "value"),
            (with("value", Some(json!("12.5"))), "value"),
            (with("value", Some(Value::Null)), "value"),
        ];
        for (metric, problem) in cases {
            let dropped = check(&metric).expect_err(problem);
            assert_eq!(dropped.reason, Discard::InvalidTraceMetric, "{problem}");
            assert!(dropped.problem.starts_with(problem), "{}", dropped.problem);
        }
        let dashed = with(
            "trace_id",
            Some(json!("4bf92f35-77b3-4da6-a3ce-929d0e0e4736")),
        );
        assert_eq!(check(&dashed), Ok(vec![]), "relay parses it as a UUID");
    }

    #[test]
    fn too_large_by_relays_measure() {
        let key_and_value = "sentry.client_sample_rate".len() + 8 + "http.route".len() + 7;
        let base = "http.server.request.duration".len()
            + 8
            + key_and_value
            + "retry".len()
            + 1
            + "status".len()
            + 8;
        let fields = valid().as_object().cloned().expect("object");
        assert_eq!(canonical_size(&fields), base);
        let fill = "x".repeat(MAX_TRACE_METRIC - base + 1);
        let mut big = valid();
        big["attributes"]["http.route"]["value"] = json!(format!("/orders{fill}"));
        let dropped = check(&big).expect_err("too large");
        assert_eq!(dropped.reason, Discard::TooLarge);
        big["attributes"]["http.route"]["value"] = json!(format!("/orders{}", &fill[1..]));
        assert!(check(&big).is_ok(), "exactly the limit is kept");
    }

    #[test]
    fn what_relay_changes_in_a_kept_trace_metric() {
        assert_eq!(
            paths(&with("name", Some(json!("http-requests/total")))),
            ["name"]
        );
        assert_eq!(paths(&with("unit", Some(json!("ms")))), ["unit"]);
        assert_eq!(paths(&with("unit", Some(json!("By")))), ["unit"]);
        assert!(paths(&with("unit", Some(json!("none")))).is_empty());
        assert_eq!(paths(&with("span_id", Some(json!("xyz")))), ["span_id"]);
        assert_eq!(paths(&with("attributes", Some(json!([])))), ["attributes"]);
        let attributes = json!({
            "a": {"type": "integer", "value": 1.5},
            "b": {"type": "string", "value": 3},
            "c": {"value": "no type"},
            "d": {"type": "custom", "value": "x"},
            "e": {"type": "double", "value": 3},
            "f": {"type": "integer", "value": "42"},
        });
        assert_eq!(
            paths(&with("attributes", Some(attributes))),
            [
                "attributes.a",
                "attributes.b",
                "attributes.c",
                "attributes.d",
                "attributes.f"
            ]
        );
    }

    #[test]
    fn attribute_types_are_checked_as_relay_normalizes_them() {
        // (case, attribute, kept)
        let cases = [
            (
                "strings",
                json!({"type": "array", "value": ["a", "b"]}),
                true,
            ),
            (
                "booleans",
                json!({"type": "array", "value": [true, false]}),
                true,
            ),
            (
                "integers and doubles",
                json!({"type": "array", "value": [1, 2.5, -3]}),
                true,
            ),
            ("empty", json!({"type": "array", "value": []}), true),
            (
                "nulls aside",
                json!({"type": "array", "value": [null, "a", null]}),
                true,
            ),
            (
                "only nulls",
                json!({"type": "array", "value": [null]}),
                true,
            ),
            ("mixed", json!({"type": "array", "value": [1, "a"]}), false),
            (
                "nested array",
                json!({"type": "array", "value": [[1], [2]]}),
                false,
            ),
            (
                "objects",
                json!({"type": "array", "value": [{"a": 1}]}),
                false,
            ),
            (
                "an array typed string",
                json!({"type": "string", "value": ["a"]}),
                false,
            ),
            (
                "text typed array",
                json!({"type": "array", "value": "[\"a\"]"}),
                false,
            ),
            (
                "an i64",
                json!({"type": "integer", "value": i64::MIN}),
                true,
            ),
            (
                "a u64 within i64",
                json!({"type": "integer", "value": 42u64}),
                true,
            ),
            (
                "a u64 above i64",
                json!({"type": "integer", "value": u64::MAX}),
                false,
            ),
            (
                "a u64 as double",
                json!({"type": "double", "value": u64::MAX}),
                true,
            ),
            (
                "object typed",
                json!({"type": "object", "value": {"a": 1}}),
                false,
            ),
        ];
        for (name, attribute, kept) in cases {
            let metric = with("attributes", Some(json!({ "a": attribute })));
            let want: Vec<String> = match kept {
                true => vec![],
                false => vec!["attributes.a".into()],
            };
            assert_eq!(paths(&metric), want, "{name}");
        }
    }

    #[test]
    fn an_array_counts_its_elements_toward_the_size_limit() {
        let fields = |value: Value| {
            let metric = json!({"name": "m", "value": 1, "attributes": {
                "k": {"type": "array", "value": value}
            }});
            canonical_size(metric.as_object().expect("object"))
        };
        assert_eq!(fields(json!(["ab", "c"])), 1 + 8 + 1 + 3);
        assert_eq!(fields(json!([1, 2.5, true])), 1 + 8 + 1 + 17);
        assert_eq!(fields(json!([])), 1 + 8 + 1);
    }

    #[test]
    fn client_sample_rate_counts_only_within_zero_and_one() {
        for rate in [json!(0.0), json!(1.5), json!(-0.5)] {
            let mut metric = valid();
            metric["attributes"][CLIENT_SAMPLE_RATE]["value"] = rate.clone();
            assert_eq!(
                paths(&metric),
                [format!("attributes.{CLIENT_SAMPLE_RATE}")],
                "{rate}"
            );
        }
        let mut metric = valid();
        metric["attributes"][CLIENT_SAMPLE_RATE] = json!({"type": "double", "value": 1});
        assert!(paths(&metric).is_empty(), "an integer 1 is a valid double");
        metric["attributes"][CLIENT_SAMPLE_RATE] = json!({"type": "string", "value": "0.5"});
        assert_eq!(paths(&metric), [format!("attributes.{CLIENT_SAMPLE_RATE}")]);
    }
}
