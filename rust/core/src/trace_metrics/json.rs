//! One trace metric item's JSON, written as sentry-types writes its `Metric` (its fields in
//! order, the optional ones left out as it leaves them out, each value as `serde_json` writes
//! it), straight into the envelope's buffer: no `Metric` is built, and the attributes the
//! items of a point share are written once ([`PointAttributes`]). A test holds the two byte
//! for byte.

use std::time::Duration;

use sentry_types::protocol::v7::{MetricType, Unit};

use super::attributes::PointAttributes;

/// What one item has besides the attributes of its point.
pub struct Item<'a> {
    pub r#type: MetricType,
    pub name: &'a str,
    pub value: f64,
    pub time_unix_nano: u64,
    pub trace_id: [u8; 16],
    pub span_id: Option<[u8; 8]>,
    pub unit: Option<&'a Unit>,
    /// A distribution's `sentry.client_sample_rate`.
    pub sample_rate: Option<f64>,
}

/// Writes `item`'s JSON, with `attributes`, into `out`.
pub fn write(item: &Item<'_>, attributes: &PointAttributes, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"type\":");
    value(out, &item.r#type);
    out.extend_from_slice(b",\"name\":");
    value(out, item.name);
    out.extend_from_slice(b",\"value\":");
    value(out, &item.value);
    out.extend_from_slice(b",\"timestamp\":");
    timestamp(out, item.time_unix_nano);
    out.extend_from_slice(b",\"trace_id\":");
    hex(out, &item.trace_id);
    if let Some(span_id) = &item.span_id {
        out.extend_from_slice(b",\"span_id\":");
        hex(out, span_id);
    }
    if let Some(unit) = item.unit {
        out.extend_from_slice(b",\"unit\":");
        value(out, unit);
    }
    attributes.write_into(item.sample_rate, out);
    out.push(b'}');
}

fn value<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing to a Vec fails only if serializing does, which these values' does not (a float
    // that is not finite is written `null`; the items' values are finite).
    let _ = serde_json::to_writer(out, value);
}

/// Seconds since the epoch: whole, or with their fraction (sentry-types' `ts_seconds_float`).
fn timestamp(out: &mut Vec<u8>, unix_nano: u64) {
    let since_epoch = Duration::from_nanos(unix_nano);
    match since_epoch.subsec_nanos() {
        0 => value(out, &since_epoch.as_secs()),
        _ => value(out, &since_epoch.as_secs_f64()),
    }
}

/// `id` as a string of lowercase hex digits, as sentry-types writes trace and span ids.
fn hex(out: &mut Vec<u8>, id: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for byte in id {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0xf)]);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::SystemTime;

    use sentry_types::protocol::v7::{LogAttribute, Map, Metric, SpanId, TraceId};
    use serde_json::{json, Value as Json};

    use super::*;
    use crate::otlp_messages::Attributes;
    use crate::trace_metrics::attributes::{ResourceAttributes, SAMPLE_RATE};

    /// (case, item, resource, point, the attributes sentry-types is given)
    type Case<'a> = (
        &'a str,
        &'a Item<'a>,
        &'a Attributes,
        &'a Attributes,
        &'a [(&'a str, Json)],
    );

    fn attributes(pairs: &[(&str, Json)]) -> Attributes {
        let pair = |(k, v): &(&str, Json)| (k.to_string(), v.clone());
        pairs.iter().map(pair).collect()
    }

    /// The sentry-types item of `item` with `attributes` (key, value as sent).
    fn theirs(item: &Item<'_>, attributes: &[(&str, Json)]) -> Metric {
        let attribute = |(key, value): &(&str, Json)| {
            (Cow::Owned(key.to_string()), LogAttribute(value.clone()))
        };
        let mut map: Map<_, _> = attributes.iter().map(attribute).collect();
        if let Some(rate) = item.sample_rate {
            map.insert(Cow::Borrowed(SAMPLE_RATE), LogAttribute(Json::from(rate)));
        }
        Metric {
            r#type: item.r#type,
            name: Cow::Owned(item.name.to_owned()),
            value: item.value,
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_nanos(item.time_unix_nano),
            trace_id: TraceId::from(item.trace_id),
            span_id: item.span_id.map(SpanId::from),
            unit: item.unit.cloned(),
            attributes: map,
        }
    }

    #[test]
    fn items_are_written_as_sentry_types_writes_them() {
        let ms = Unit::Millisecond;
        let other = Unit::Other(Cow::Borrowed("{request}/s"));
        let plain = Item {
            r#type: MetricType::Gauge,
            name: "m",
            value: 2.5,
            time_unix_nano: 1_700_000_000_000_000_000,
            trace_id: [0xab; 16],
            span_id: None,
            unit: None,
            sample_rate: None,
        };
        let full = Item {
            r#type: MetricType::Distribution,
            name: "http.server \"duration\" é",
            value: -1e-7,
            time_unix_nano: 1_700_000_000_123_456_789,
            trace_id: [0x0f; 16],
            span_id: Some([0x10; 8]),
            unit: Some(&ms),
            sample_rate: Some(1.0 / 3.0),
        };
        let counter = Item {
            r#type: MetricType::Counter,
            value: 1e300,
            unit: Some(&other),
            sample_rate: Some(1.0),
            ..plain
        };
        let resource = attributes(&[
            ("service.name", json!("checkout")),
            ("service.version", json!("1.2")),
            ("process.pid", json!(42)),
            ("big", json!(u64::MAX)),
        ]);
        let point = attributes(&[
            ("http.route", json!("/pay")),
            ("sentry.client_sample_rate", json!(0.5)),
            ("z", json!([1, 2])),
            ("a", json!(true)),
        ]);
        let none = Attributes::new();
        let first = attributes(&[("a", json!(1))]);
        let cases: [Case<'_>; 5] = [
            ("no attributes", &plain, &none, &none, &[]),
            (
                "a distribution without attributes",
                &full,
                &none,
                &none,
                &[],
            ),
            ("the rate last", &full, &none, &first, &[("a", json!(1))]),
            (
                "a gauge's attributes",
                &plain,
                &resource,
                &point,
                &[
                    ("resource.service.name", json!("checkout")),
                    ("resource.service.version", json!("1.2")),
                    ("resource.process.pid", json!(42)),
                    ("resource.big", json!(u64::MAX)),
                    ("http.route", json!("/pay")),
                    ("sentry.client_sample_rate", json!(0.5)),
                    ("z", json!([1, 2])),
                    ("a", json!(true)),
                    ("sentry.release", json!("1.2")),
                ],
            ),
            (
                "a sample rate replaces the point's",
                &counter,
                &resource,
                &point,
                &[
                    ("resource.service.name", json!("checkout")),
                    ("resource.service.version", json!("1.2")),
                    ("resource.process.pid", json!(42)),
                    ("resource.big", json!(u64::MAX)),
                    ("http.route", json!("/pay")),
                    ("z", json!([1, 2])),
                    ("a", json!(true)),
                    ("sentry.release", json!("1.2")),
                ],
            ),
        ];
        for (name, item, resource, point, sent) in cases {
            let mut written = PointAttributes::default();
            let resource = ResourceAttributes::new(resource);
            written.write(&resource, point, item.sample_rate.is_some());
            let mut ours = Vec::new();
            write(item, &written, &mut ours);
            let theirs = serde_json::to_vec(&theirs(item, sent)).expect("writes");
            assert_eq!(String::from_utf8(ours), String::from_utf8(theirs), "{name}");
        }
    }
}
