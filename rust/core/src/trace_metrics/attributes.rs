//! The attributes of a point's trace metric items, keyed and typed as Relay's own OTLP
//! conversion keys those of the same service's spans, logs and metrics (relay-otel
//! `otel_value_to_attribute` and `otel_scope_into_attributes`, relay-ourlogs
//! `otel_to_sentry.rs`, relay-server `processing/trace_metrics/integrations/otel.rs`), so that
//! one resource attribute is one key in Sentry whatever signal carries it:
//!
//! - every resource attribute as `resource.<key>` (`resource.service.name`,
//!   `resource.host.name`, ...);
//! - the point's attributes under their own keys, winning over a resource one of the same key
//!   (Relay inserts them last);
//! - `sentry.release` from the resource's `service.version`, `sentry.environment` from
//!   `deployment.environment.name`, else `deployment.environment`: Sentry's release and
//!   environment filters read these, on trace metrics as on the SDKs' own;
//! - strings, booleans, integers and doubles as such; a map as its JSON text (Relay: "handling
//!   varies between spans and logs, so we serialize to JSON"), nested arrays and maps left out
//!   of it as Relay leaves them out; an empty value left out.
//! - An array of strings, of booleans or of numbers is kept an array: Relay takes
//!   `"type": "array"` for such (relay#5394, Relay 25.12.1; `is_supported_array` in
//!   relay-event-normalization `eap/mod.rs`) and Sentry searches them on trace metrics. The
//!   envelope writer (sentry-types' `LogAttribute`) writes an array as its JSON text, of type
//!   `string`, which is also how Relay's OTLP conversion writes arrays; the day it writes typed
//!   arrays, these go typed. Any other array (mixed, nested) is its JSON text here and stays so:
//!   Relay would drop it as an `array`.
//!
//! Written as sentry-types writes a `Metric`'s attribute map (`LogAttribute`s by key, in key
//! order), without the map: a resource's attributes once per resource
//! ([`ResourceAttributes`]), merged with a point's own once per point ([`PointAttributes`]),
//! whose JSON every item of the point copies.

use std::cmp::Ordering;
use std::ops::Range;

use sentry_types::protocol::v7::LogAttribute;
use serde_json::Value as Json;

use super::size::attribute_size;
use crate::otlp_messages::Attributes;
use crate::release::{environment_of, release_of, SENTRY_ENVIRONMENT, SENTRY_RELEASE};

/// The prefix of the resource's attributes.
pub const RESOURCE_PREFIX: &str = "resource.";
/// The attribute of a distribution item's sample rate: it wins over a point's own.
pub const SAMPLE_RATE: &str = "sentry.client_sample_rate";

/// The attributes a resource gives each of its points' items, written: `resource.<key>`s,
/// release and environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceAttributes {
    /// `"key":{"value":…,"type":…}` of each, by key.
    json: Vec<u8>,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    key: String,
    /// Its `"key":{…}` in the JSON.
    at: Range<usize>,
    /// Relay's size of it.
    size: usize,
    /// Release and environment win over a point's attribute of the same key; a
    /// `resource.<key>` loses to it (Relay inserts the point's last).
    wins: bool,
}

impl ResourceAttributes {
    pub fn new(resource: &Attributes) -> ResourceAttributes {
        let prefixed = resource.iter().filter_map(|(key, value)| {
            Some((format!("{RESOURCE_PREFIX}{key}"), typed(value)?, false))
        });
        let derived = [
            (SENTRY_RELEASE, release_of(resource)),
            (SENTRY_ENVIRONMENT, environment_of(resource)),
        ];
        let derived = (derived.into_iter())
            .filter_map(|(key, value)| Some((key.to_owned(), Json::from(value?), true)));
        let mut all: Vec<(String, Json, bool)> = prefixed.chain(derived).collect();
        by_key_last_wins(&mut all, |(key, _, _)| key);
        let mut written = ResourceAttributes::default();
        for (key, value, wins) in all {
            if !written.json.is_empty() {
                written.json.push(b',');
            }
            let start = written.json.len();
            let size = attribute_size(&key, &value);
            write_attribute(&mut written.json, &key, value);
            let at = start..written.json.len();
            written.entries.push(Entry {
                key,
                at,
                size,
                wins,
            });
        }
        written
    }
}

/// The attributes every item of a point carries, written once per point: its resource's and
/// its own (see the module doc), and where a distribution's sample rate sorts among them.
#[derive(Debug, Default)]
pub struct PointAttributes {
    /// `"key":{…}` of each, by key, comma-separated.
    json: Vec<u8>,
    /// When the items carry a sample rate: where its attribute goes in `json`, after the
    /// comma of the attribute that follows it (`json.len() + 1` when none does).
    rate_at: Option<usize>,
    /// Relay's size of them all, a sample rate's aside.
    size: usize,
}

/// An attribute of a point's items: its resource's, or its own.
enum Merged<'a> {
    Resource(&'a Entry),
    Own(&'a str, Json),
}

impl PointAttributes {
    /// Writes those of a point of `resource` with the attributes `point`; `with_rate` when
    /// its items carry a sample rate (which then replaces a point attribute of its key).
    pub fn write(&mut self, resource: &ResourceAttributes, point: &Attributes, with_rate: bool) {
        self.json.clear();
        (self.rate_at, self.size) = (None, 0);
        let own = (point.iter())
            .filter(|(key, _)| !(with_rate && key == SAMPLE_RATE))
            .filter_map(|(key, value)| Some((key.as_str(), typed(value)?)));
        let mut own: Vec<(&str, Json)> = own.collect();
        by_key_last_wins(&mut own, |(key, _)| key);
        for attribute in merge(&resource.entries, own) {
            let key = match &attribute {
                Merged::Resource(entry) => entry.key.as_str(),
                Merged::Own(key, _) => key,
            };
            if with_rate && key > SAMPLE_RATE {
                self.rate_here();
            }
            if !self.json.is_empty() {
                self.json.push(b',');
            }
            self.size += match attribute {
                Merged::Resource(entry) => {
                    self.json
                        .extend_from_slice(&resource.json[entry.at.clone()]);
                    entry.size
                }
                Merged::Own(key, value) => {
                    let size = attribute_size(key, &value);
                    write_attribute(&mut self.json, key, value);
                    size
                }
            };
        }
        if with_rate {
            self.rate_here();
        }
    }

    /// The sample rate goes before the attribute written next, unless it has its place.
    fn rate_here(&mut self) {
        let after_comma = self.json.len() + usize::from(!self.json.is_empty());
        self.rate_at.get_or_insert(after_comma);
    }

    /// Relay's size of them, a sample rate's aside.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Writes `,"attributes":{…}` into an item's JSON (nothing when there are none), with
    /// `rate` as the sample rate (only when written `with_rate`).
    pub fn write_into(&self, rate: Option<f64>, out: &mut Vec<u8>) {
        let rate = rate.zip(self.rate_at);
        if self.json.is_empty() && rate.is_none() {
            return;
        }
        out.extend_from_slice(b",\"attributes\":{");
        match rate {
            None => out.extend_from_slice(&self.json),
            Some((rate, at)) => {
                let (before, after) = self.json.split_at(at.min(self.json.len()));
                out.extend_from_slice(before);
                if at > self.json.len() {
                    out.push(b',');
                }
                write_attribute(out, SAMPLE_RATE, Json::from(rate));
                if !after.is_empty() {
                    out.push(b',');
                }
                out.extend_from_slice(after);
            }
        }
        out.push(b'}');
    }
}

/// `resource`'s and `own` attributes (each by key, one per key) by key; of the same key, a
/// winning resource one (release, environment), else the point's own.
fn merge<'a>(
    resource: &'a [Entry],
    own: Vec<(&'a str, Json)>,
) -> impl Iterator<Item = Merged<'a>> + 'a {
    let mut resource = resource.iter().peekable();
    let mut own = own.into_iter().peekable();
    std::iter::from_fn(move || {
        let next = (resource.peek().copied(), own.peek().map(|(key, _)| *key));
        let from_resource = match next {
            (Some(entry), Some(key)) => match entry.key.as_str().cmp(key) {
                Ordering::Less => true,
                Ordering::Greater => false,
                // Of the same key, the loser is left out.
                Ordering::Equal if entry.wins => {
                    own.next();
                    true
                }
                Ordering::Equal => {
                    resource.next();
                    false
                }
            },
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        match from_resource {
            true => resource.next().map(Merged::Resource),
            false => own.next().map(|(key, value)| Merged::Own(key, value)),
        }
    })
}

/// `items` by key, one per key: the last of each, as a map into which they were inserted in
/// order keeps.
fn by_key_last_wins<T>(items: &mut Vec<T>, key: fn(&T) -> &str) {
    items.reverse();
    // Stable: of the same key, the last inserted comes first now, and is the one kept.
    items.sort_by(|a, b| key(a).cmp(key(b)));
    items.dedup_by(|earlier, kept| key(earlier) == key(kept));
}

/// `"key":{"value":…,"type":…}`, as sentry-types writes a `LogAttribute` in a map.
fn write_attribute(out: &mut Vec<u8>, key: &str, value: Json) {
    // Writing to a Vec fails only if serializing does, which a string's and a
    // `LogAttribute`'s do not.
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
    let _ = serde_json::to_writer(&mut *out, &LogAttribute(value));
}

/// `value` as an attribute's value (see the module doc); `None` to leave it out.
fn typed(value: &Json) -> Option<Json> {
    match value {
        Json::Null => None,
        Json::Array(elements) => {
            let scalars: Vec<Json> = elements.iter().filter(|e| is_scalar(e)).cloned().collect();
            Some(match is_homogeneous(&scalars) {
                true => Json::Array(scalars),
                false => Json::String(Json::Array(scalars).to_string()),
            })
        }
        Json::Object(fields) => {
            let scalars = fields.iter().filter(|(_, v)| is_scalar(v));
            let map = scalars.map(|(k, v)| (k.clone(), v.clone())).collect();
            Some(Json::String(Json::Object(map).to_string()))
        }
        scalar => Some(scalar.clone()),
    }
}

fn is_scalar(value: &Json) -> bool {
    matches!(value, Json::Bool(_) | Json::Number(_) | Json::String(_))
}

/// All strings, all booleans or all numbers (integers and doubles together, as Relay takes
/// them); an empty array is.
fn is_homogeneous(scalars: &[Json]) -> bool {
    let kind = |value: &Json| std::mem::discriminant(value);
    scalars
        .windows(2)
        .all(|pair| kind(&pair[0]) == kind(&pair[1]))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attributes(pairs: &[(&str, Json)]) -> Attributes {
        let pair = |(k, v): &(&str, Json)| (k.to_string(), v.clone());
        pairs.iter().map(pair).collect()
    }

    /// The attributes of a point's items as written: with `rate` when given, and Relay's size
    /// of them (the rate's aside).
    fn written(resource: &Attributes, point: &Attributes, rate: Option<f64>) -> (String, usize) {
        let mut written = PointAttributes::default();
        written.write(&ResourceAttributes::new(resource), point, rate.is_some());
        let mut out = Vec::new();
        written.write_into(rate, &mut out);
        let text = String::from_utf8(out).expect("text");
        let object = text.strip_prefix(",\"attributes\":").unwrap_or("{}");
        (object.to_owned(), written.size())
    }

    fn as_sent(resource: &Attributes, point: &Attributes) -> Json {
        let (object, _) = written(resource, point, None);
        serde_json::from_str(&object).expect("JSON")
    }

    #[test]
    fn resource_attributes_are_prefixed_as_relay_converts_spans_and_logs() {
        let resource = attributes(&[
            ("service.name", json!("checkout")),
            ("service.version", json!("1.2")),
            ("deployment.environment", json!("old")),
            ("deployment.environment.name", json!("prod")),
            ("host.name", json!("h")),
            ("telemetry.sdk.name", json!("opentelemetry")),
            ("process.pid", json!(42)),
        ]);
        let point = attributes(&[("http.route", json!("/pay")), ("empty", Json::Null)]);
        let want = json!({
            "resource.service.name": {"value": "checkout", "type": "string"},
            "resource.service.version": {"value": "1.2", "type": "string"},
            "resource.deployment.environment": {"value": "old", "type": "string"},
            "resource.deployment.environment.name": {"value": "prod", "type": "string"},
            "resource.host.name": {"value": "h", "type": "string"},
            "resource.telemetry.sdk.name": {"value": "opentelemetry", "type": "string"},
            "resource.process.pid": {"value": 42, "type": "integer"},
            "http.route": {"value": "/pay", "type": "string"},
            "sentry.release": {"value": "1.2", "type": "string"},
            "sentry.environment": {"value": "prod", "type": "string"},
        });
        assert_eq!(as_sent(&resource, &point), want);

        let older = attributes(&[("deployment.environment", json!("staging"))]);
        let got = as_sent(&older, &Attributes::new());
        assert_eq!(got[SENTRY_ENVIRONMENT]["value"], json!("staging"));
        assert_eq!(got.get(SENTRY_RELEASE), None);
    }

    #[test]
    fn a_point_attribute_wins_over_a_resource_one_of_the_same_key_but_not_over_release() {
        let resource = attributes(&[("a", json!(1)), ("service.version", json!("2"))]);
        let point = attributes(&[
            ("resource.a", json!("mine")),
            ("sentry.release", json!("mine")),
        ]);
        let got = as_sent(&resource, &point);
        assert_eq!(got["resource.a"]["value"], json!("mine"));
        assert_eq!(got[SENTRY_RELEASE]["value"], json!("2"));
    }

    #[test]
    fn values_are_typed_as_relay_takes_them() {
        // (case, value, kept as, JSON as the envelope writer sends it)
        let cases = [
            (
                "string",
                json!("x"),
                Some(json!("x")),
                json!({"value": "x", "type": "string"}),
            ),
            (
                "integer",
                json!(3),
                Some(json!(3)),
                json!({"value": 3, "type": "integer"}),
            ),
            (
                "double",
                json!(1.5),
                Some(json!(1.5)),
                json!({"value": 1.5, "type": "double"}),
            ),
            (
                "boolean",
                json!(true),
                Some(json!(true)),
                json!({"value": true, "type": "boolean"}),
            ),
            (
                "strings: an array",
                json!(["a", "b"]),
                Some(json!(["a", "b"])),
                json!({"value": "[\"a\",\"b\"]", "type": "string"}),
            ),
            (
                "integers and doubles: an array",
                json!([1, 2.5]),
                Some(json!([1, 2.5])),
                json!({"value": "[1,2.5]", "type": "string"}),
            ),
            (
                "empty: an array",
                json!([]),
                Some(json!([])),
                json!({"value": "[]", "type": "string"}),
            ),
            (
                "mixed: its text",
                json!([1, "a"]),
                Some(json!("[1,\"a\"]")),
                json!({"value": "[1,\"a\"]", "type": "string"}),
            ),
            (
                "nested and empty elements left out",
                json!(["a", ["b"], {"c": 1}, null]),
                Some(json!(["a"])),
                json!({"value": "[\"a\"]", "type": "string"}),
            ),
            (
                "a map: its JSON text, scalars only",
                json!({"b": 1, "a": "x", "n": [1], "m": {"k": 1}}),
                Some(json!("{\"a\":\"x\",\"b\":1}")),
                json!({"value": "{\"a\":\"x\",\"b\":1}", "type": "string"}),
            ),
        ];
        for (name, value, want, sent) in cases {
            let got = typed(&value);
            assert_eq!(got, want, "{name}");
            let written = got.map(|v| serde_json::to_value(LogAttribute(v)).expect("writes"));
            assert_eq!(written, Some(sent), "{name}");
        }
        assert_eq!(typed(&Json::Null), None);
    }

    #[test]
    fn of_the_same_key_the_last_is_kept_and_nothing_is_written_for_none() {
        let resource = attributes(&[("a", json!(1)), ("b", json!(2)), ("a", json!(3))]);
        let point = attributes(&[("x", json!("1")), ("x", Json::Null), ("x", json!("2"))]);
        let want = json!({
            "resource.a": {"value": 3, "type": "integer"},
            "resource.b": {"value": 2, "type": "integer"},
            "x": {"value": "2", "type": "string"},
        });
        assert_eq!(as_sent(&resource, &point), want);
        let none = (String::from("{}"), 0);
        assert_eq!(written(&Attributes::new(), &Attributes::new(), None), none);
    }

    #[test]
    fn the_sample_rate_sorts_among_the_attributes_and_replaces_a_points_own() {
        let rate = r#""sentry.client_sample_rate":{"value":0.5,"type":"double"}"#;
        let a = r#""a":{"value":1,"type":"integer"}"#;
        let z = r#""z":{"value":2,"type":"integer"}"#;
        let own_rate = ("sentry.client_sample_rate", json!("mine"));
        // (case, point attributes, as written)
        let cases = [
            ("alone", vec![], format!("{{{rate}}}")),
            ("last", vec![("a", json!(1))], format!("{{{a},{rate}}}")),
            ("first", vec![("z", json!(2))], format!("{{{rate},{z}}}")),
            (
                "between, replacing the point's",
                vec![("z", json!(2)), own_rate.clone(), ("a", json!(1))],
                format!("{{{a},{rate},{z}}}"),
            ),
        ];
        for (name, point, want) in cases {
            let (got, size) = written(&Attributes::new(), &attributes(&point), Some(0.5));
            assert_eq!(got, want, "{name}");
            let own: usize = (point.iter())
                .filter(|(key, _)| *key != SAMPLE_RATE)
                .map(|(key, value)| attribute_size(key, value))
                .sum();
            assert_eq!(size, own, "{name}");
        }
        let (kept, _) = written(&Attributes::new(), &attributes(&[own_rate]), None);
        assert_eq!(
            kept,
            r#"{"sentry.client_sample_rate":{"value":"mine","type":"string"}}"#
        );
    }
}
