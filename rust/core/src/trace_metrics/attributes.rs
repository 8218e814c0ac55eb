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

use std::borrow::Cow;

use sentry_types::protocol::v7::{LogAttribute, Map};
use serde_json::Value as Json;

use crate::otlp_messages::Attributes;
use crate::release::{environment_of, release_of, SENTRY_ENVIRONMENT, SENTRY_RELEASE};

/// Attributes as a trace metric item carries them.
pub type SentryAttributes = Map<Cow<'static, str>, LogAttribute>;

/// The prefix of the resource's attributes.
pub const RESOURCE_PREFIX: &str = "resource.";

/// The attributes every item of a point carries: its resource's, its own, release and
/// environment.
pub fn of_point(resource: &Attributes, point: &Attributes) -> SentryAttributes {
    let mut attributes = SentryAttributes::new();
    for (key, value) in resource {
        if let Some(value) = typed(value) {
            let key = format!("{RESOURCE_PREFIX}{key}");
            attributes.insert(Cow::Owned(key), LogAttribute(value));
        }
    }
    for (key, value) in point {
        if let Some(value) = typed(value) {
            attributes.insert(Cow::Owned(key.clone()), LogAttribute(value));
        }
    }
    let mut insert = |key: &'static str, value: &str| {
        attributes.insert(Cow::Borrowed(key), LogAttribute(Json::from(value)));
    };
    if let Some(release) = release_of(resource) {
        insert(SENTRY_RELEASE, release);
    }
    if let Some(environment) = environment_of(resource) {
        insert(SENTRY_ENVIRONMENT, environment);
    }
    attributes
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

    fn as_sent(attributes: &SentryAttributes) -> Json {
        serde_json::to_value(attributes).expect("attributes serialize")
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
        assert_eq!(as_sent(&of_point(&resource, &point)), want);

        let older = attributes(&[("deployment.environment", json!("staging"))]);
        let got = of_point(&older, &Attributes::new());
        assert_eq!(got[SENTRY_ENVIRONMENT].0, json!("staging"));
        assert!(!got.contains_key(SENTRY_RELEASE));
    }

    #[test]
    fn a_point_attribute_wins_over_a_resource_one_of_the_same_key_but_not_over_release() {
        let resource = attributes(&[("a", json!(1)), ("service.version", json!("2"))]);
        let point = attributes(&[
            ("resource.a", json!("mine")),
            ("sentry.release", json!("mine")),
        ]);
        let got = of_point(&resource, &point);
        assert_eq!(got["resource.a"].0, json!("mine"));
        assert_eq!(got[SENTRY_RELEASE].0, json!("2"));
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
}
