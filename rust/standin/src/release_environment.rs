//! The release and environment Sentry shows for a span or log record that arrived over OTLP:
//! what relay derives from the item's attributes, so that a test can assert what Sentry's
//! release and environment filters would find. Pure functions.
//!
//! Mirrored from relay (getsentry/relay, the source after 26.4.2; 26.9's own source is not
//! available to this project, and neither file has changed since 26.3 in what is read here):
//! - relay-spans `src/otel_to_sentry_v2.rs` `otel_to_sentry_span` (through relay-server
//!   `src/processing/spans/integrations/otel.rs` `expand`) and relay-ourlogs
//!   `src/otel_to_sentry.rs` `otel_to_sentry_log` (through relay-server
//!   `src/processing/logs/integrations/otel.rs` `expand`): one attribute map per item, first
//!   every resource attribute under `resource.{key}` (relay-otel `src/lib.rs`
//!   `otel_scope_into_attributes`), then the scope's under `instrumentation.{key}`, then the
//!   item's own attributes under their own keys, a later key replacing an earlier one. A value is
//!   kept as relay-otel `otel_value_to_attribute` converts it: string, bool, int, double; bytes
//!   only when UTF-8 (as a string); arrays and key-value lists as JSON text; an `AnyValue`
//!   without a value is skipped (an earlier value of the key stays).
//! - relay-event-normalization `src/eap/mod.rs` `normalize_attribute_names`, run on spans
//!   (relay-server `src/processing/spans/process.rs` `normalize_span`) and logs
//!   (`src/processing/logs/process.rs` `normalize_log`): attributes that sentry-conventions
//!   deprecates with status `backfill` are copied to their replacement when the replacement is
//!   not set, in the order of the map's keys (relay's `Object` is a `BTreeMap`). The only ones
//!   whose replacement is `sentry.environment` are `resource.deployment.environment.name`
//!   (sentry-conventions `model/attributes/resource/resource__deployment__environment__name.json`,
//!   relay#5412) and `resource.deployment.environment` (`resource__deployment__environment.json`,
//!   relay#5691, Relay 26.3.0). `resource.deployment.environment` sorts first, so with both set
//!   it wins. Nothing has `sentry.release` as a backfill replacement: `service.version` only
//!   lists `sentry.release` as an alias (`model/attributes/service/service__version.json`), and
//!   relay does not act on aliases; a resource's `service.version` becomes
//!   `resource.service.version`, which no convention maps at all; the plain `release` and
//!   `environment` attributes are deprecated with `_status: null` (no rewrite).
//!
//! So Sentry's release is the item's own `sentry.release` attribute, and nothing else; its
//! environment is the item's own `sentry.environment`, else the resource's
//! `deployment.environment`, else the resource's `deployment.environment.name`.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use serde::Serialize;
use serde_json::Value;

/// The attribute Sentry's release filter reads.
pub const RELEASE: &str = "sentry.release";
/// The attribute Sentry's environment filter reads.
pub const ENVIRONMENT: &str = "sentry.environment";
/// The attributes backfilled into [`ENVIRONMENT`], in the order relay tries them (its map's key
/// order), with the resource attribute each comes from.
const ENVIRONMENT_BACKFILLS: [(&str, &str); 2] = [
    ("resource.deployment.environment", "deployment.environment"),
    (
        "resource.deployment.environment.name",
        "deployment.environment.name",
    ),
];

/// What relay stores as `sentry.release` and `sentry.environment` for one span or log record;
/// `None` when it stores none. Values keep their attribute type (a string, usually).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReleaseEnvironment {
    pub release: Option<Value>,
    pub environment: Option<Value>,
}

impl ReleaseEnvironment {
    pub fn is_empty(&self) -> bool {
        self.release.is_none() && self.environment.is_none()
    }
}

/// Relay's release and environment for an item with these resource and own attributes.
pub fn derive(resource: &[KeyValue], item: &[KeyValue]) -> ReleaseEnvironment {
    // An item attribute under a `resource.` key replaces the resource's own: the later insert.
    let merged = |key: &str, resource_key: &str| {
        last_value(item, key).or_else(|| last_value(resource, resource_key))
    };
    let environment = last_value(item, ENVIRONMENT).or_else(|| {
        ENVIRONMENT_BACKFILLS
            .iter()
            .find_map(|(key, resource_key)| merged(key, resource_key))
    });
    ReleaseEnvironment {
        release: last_value(item, RELEASE),
        environment,
    }
}

/// The value relay keeps for `key`: the last attribute of that key whose value converts.
fn last_value(attributes: &[KeyValue], key: &str) -> Option<Value> {
    attributes
        .iter()
        .rev()
        .filter(|kv| kv.key == key)
        .find_map(|kv| kv.value.as_ref().and_then(attribute_value))
}

/// relay-otel `otel_value_to_attribute`, as JSON.
fn attribute_value(value: &AnyValue) -> Option<Value> {
    use any_value::Value as V;
    Some(match value.value.as_ref()? {
        V::StringValue(s) => Value::String(s.clone()),
        V::BoolValue(b) => Value::Bool(*b),
        V::IntValue(i) => Value::from(*i),
        V::DoubleValue(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
        V::BytesValue(bytes) => Value::String(String::from_utf8(bytes.clone()).ok()?),
        V::ArrayValue(array) => {
            let values: Vec<Value> = array.values.iter().filter_map(scalar).collect();
            Value::String(serde_json::to_string(&values).ok()?)
        }
        V::KvlistValue(list) => {
            let object: serde_json::Map<String, Value> = list
                .values
                .iter()
                .filter_map(|kv| Some((kv.key.clone(), scalar(kv.value.as_ref()?)?)))
                .collect();
            Value::String(serde_json::to_string(&object).ok()?)
        }
        // Newer than relay's protocol (a profiles dictionary index): unknown to it, no value.
        V::StringValueStrindex(_) => return None,
    })
}

/// An array's or list's member as relay-otel keeps it: nested arrays and lists are skipped.
fn scalar(value: &AnyValue) -> Option<Value> {
    use any_value::Value as V;
    match value.value.as_ref()? {
        V::ArrayValue(_) | V::KvlistValue(_) => None,
        V::DoubleValue(d) => serde_json::Number::from_f64(*d).map(Value::Number),
        _ => attribute_value(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::ArrayValue;
    use serde_json::json;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn s(key: &str, value: &str) -> KeyValue {
        kv(key, any_value::Value::StringValue(value.into()))
    }

    fn empty(key: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: None }),
            ..Default::default()
        }
    }

    /// Each row: resource attributes, the span's or log record's attributes, and the release and
    /// environment relay stores (relay-otel `src/lib.rs`, relay-spans `src/otel_to_sentry_v2.rs`,
    /// relay-ourlogs `src/otel_to_sentry.rs`, relay-event-normalization `src/eap/mod.rs`
    /// `normalize_attribute_names` with sentry-conventions' `resource.deployment.*`).
    #[test]
    fn release_and_environment_as_relay_derives_them() {
        /// (name, resource attributes, item attributes, release, environment)
        type Case = (
            &'static str,
            Vec<KeyValue>,
            Vec<KeyValue>,
            Option<Value>,
            Option<Value>,
        );
        let cases: Vec<Case> = vec![
            (
                "the issue's question: service.version is no release",
                vec![
                    s("service.version", "1.4.2"),
                    s("deployment.environment.name", "prod"),
                ],
                vec![],
                None,
                Some(json!("prod")),
            ),
            (
                "the older deployment.environment",
                vec![s("deployment.environment", "staging")],
                vec![],
                None,
                Some(json!("staging")),
            ),
            (
                "both: deployment.environment sorts first and wins",
                vec![
                    s("deployment.environment.name", "prod"),
                    s("deployment.environment", "old"),
                ],
                vec![],
                None,
                Some(json!("old")),
            ),
            (
                "the item's own sentry attributes",
                vec![s("deployment.environment.name", "prod")],
                vec![s("sentry.release", "1.4.2"), s("sentry.environment", "eu")],
                Some(json!("1.4.2")),
                Some(json!("eu")),
            ),
            (
                "sentry.* on the resource is resource.sentry.*: ignored",
                vec![s("sentry.release", "1.4.2"), s("sentry.environment", "eu")],
                vec![],
                None,
                None,
            ),
            (
                "plain release and environment are not rewritten",
                vec![],
                vec![s("release", "1.4.2"), s("environment", "eu")],
                None,
                None,
            ),
            (
                "an item attribute under the resource key replaces the resource's",
                vec![s("deployment.environment.name", "prod")],
                vec![s("resource.deployment.environment.name", "canary")],
                None,
                Some(json!("canary")),
            ),
            (
                "the last of a repeated key, skipping values that do not convert",
                vec![],
                vec![
                    s("sentry.release", "1"),
                    s("sentry.release", "2"),
                    empty("sentry.release"),
                ],
                Some(json!("2")),
                None,
            ),
            (
                "types are kept",
                vec![kv("deployment.environment", any_value::Value::IntValue(3))],
                vec![kv("sentry.release", any_value::Value::BoolValue(true))],
                Some(json!(true)),
                Some(json!(3)),
            ),
            (
                "bytes only as UTF-8",
                vec![kv(
                    "deployment.environment.name",
                    any_value::Value::BytesValue(vec![0xff]),
                )],
                vec![kv(
                    "sentry.release",
                    any_value::Value::BytesValue(b"7.0".to_vec()),
                )],
                Some(json!("7.0")),
                None,
            ),
            (
                "arrays as JSON text",
                vec![],
                vec![kv(
                    "sentry.environment",
                    any_value::Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(any_value::Value::StringValue("a".into())),
                        }],
                    }),
                )],
                None,
                Some(json!("[\"a\"]")),
            ),
            (
                "an empty string is a value",
                vec![s("deployment.environment.name", "prod")],
                vec![s("sentry.environment", "")],
                None,
                Some(json!("")),
            ),
        ];
        for (name, resource, item, release, environment) in cases {
            let got = derive(&resource, &item);
            assert_eq!(
                got,
                ReleaseEnvironment {
                    release,
                    environment
                },
                "{name}"
            );
        }
    }
}
