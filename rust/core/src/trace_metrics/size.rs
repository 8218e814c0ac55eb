//! Relay's size limits for trace metrics, and its measure of one (relay-config `Limits`,
//! relay-server `processing/trace_metrics/validate.rs` `size`, relay-event-normalization
//! `eap/size.rs`, and `utils/sizes.rs` `check_envelope_size_limits` for the container):
//!
//! - one trace metric whose canonical size (its name's bytes, 8 for its value, each
//!   attribute's key bytes and value size: a string its bytes, a number 8, a boolean 1, an
//!   array the sum of its elements) is above `max_trace_metric_size`, 1 MiB since relay#5779
//!   (Relay 26.4.0; 2 KiB before), is dropped after its envelope was accepted;
//! - an envelope whose `trace_metric` container is above `max_container_size` (12 MiB), or
//!   above 1 MiB per item on average, is refused whole (413).
//!
//! Relay cuts no attribute of a trace metric for its size: it keeps it whole or drops it.

use serde_json::Value as Json;

use super::attributes::SentryAttributes;
use crate::json_len::json_len;

/// `limits.max_trace_metric_size`.
pub const MAX_ITEM_BYTES: usize = 1 << 20;
/// `limits.max_container_size`: the bytes of one `trace_metric` container.
pub const MAX_CONTAINER_BYTES: usize = 12 << 20;
/// What a container (`{"items":[…]}`) adds to its items' JSON, besides one comma between two.
const CONTAINER_FRAME: usize = r#"{"items":[]}"#.len();

/// Relay's canonical size of a trace metric named `name` with `attributes`.
pub fn canonical(name: &str, attributes: &SentryAttributes) -> usize {
    (name.len() + 8 + attributes_size(attributes)).max(1)
}

/// Each attribute's key bytes and value size.
pub fn attributes_size(attributes: &SentryAttributes) -> usize {
    let entry = |(key, value): (&std::borrow::Cow<'static, str>, _)| key.len() + value_size(value);
    attributes.iter().map(|(k, v)| entry((k, &v.0))).sum()
}

/// Relay's size of an attribute value. An array counts as the larger of its elements' sizes
/// and its JSON text: it goes as one or the other, as the envelope writer can (see
/// [`super::attributes`]).
pub fn value_size(value: &Json) -> usize {
    match value {
        Json::Null => 0,
        Json::Bool(_) => 1,
        Json::Number(_) => 8,
        Json::String(text) => text.len(),
        Json::Array(elements) => {
            let typed: usize = elements.iter().map(value_size).sum();
            typed.max(json_len(value))
        }
        Json::Object(fields) => fields.iter().map(|(k, v)| k.len() + value_size(v)).sum(),
    }
}

/// The bytes of a container of items whose JSON takes `item_bytes` each.
pub fn container_bytes(item_bytes: impl IntoIterator<Item = usize>) -> usize {
    let (count, bytes) = (item_bytes.into_iter()).fold((0usize, 0usize), |(n, total), bytes| {
        (n + 1, total.saturating_add(bytes))
    });
    CONTAINER_FRAME + bytes + count.saturating_sub(1)
}

/// Whether Relay takes a container of `items` items in `bytes`.
pub fn container_fits(bytes: usize, items: usize) -> bool {
    bytes <= MAX_CONTAINER_BYTES && bytes / items.max(1) <= MAX_ITEM_BYTES
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sentry_types::protocol::v7::LogAttribute;
    use serde_json::json;

    use super::*;

    #[test]
    fn canonical_size_counts_as_relay_does() {
        // Relay's own example (eap/size.rs): 82 for these five, the last one's type unknown.
        let attributes: SentryAttributes = [
            ("k1", json!("string value")),
            ("k2", json!(18_446_744_073_709_551_615u64)),
            ("k3", json!(42.012_345_678_912_35)),
            ("k4", json!(false)),
            (
                "k5",
                json!({"nested": {"array": [1.0, 2, -12, "7 bytes", false]}}),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (Cow::Borrowed(k), LogAttribute(v)))
        .collect();
        assert_eq!(attributes_size(&attributes), 82);
        assert_eq!(canonical("m", &attributes), 1 + 8 + 82);
        assert_eq!(canonical("", &SentryAttributes::new()), 8);
    }

    #[test]
    fn an_array_counts_as_the_larger_of_its_elements_and_its_text() {
        let cases = [
            (json!(["ab", "c"]), 10),   // ["ab","c"]: its text
            (json!([1, 2, 3]), 24),     // three numbers of 8
            (json!([]), 2),             // []
            (json!([true, false]), 12), // [true,false]
        ];
        for (value, want) in cases {
            assert_eq!(value_size(&value), want, "{value}");
        }
    }

    #[test]
    fn containers_fit_within_both_of_relays_limits() {
        assert_eq!(container_bytes([10, 20]), 12 + 30 + 1);
        assert_eq!(container_bytes([]), 12);
        let cases = [
            ("small", 1_000, 10, true),
            ("the total at the limit", MAX_CONTAINER_BYTES, 12, true),
            ("over the total", MAX_CONTAINER_BYTES + 1, 1000, false),
            ("one item of 1 MiB", MAX_ITEM_BYTES, 1, true),
            ("one item over 1 MiB", MAX_ITEM_BYTES + 1, 1, false),
            ("one large among small ones", MAX_ITEM_BYTES + 100, 2, true),
        ];
        for (name, bytes, items, want) in cases {
            assert_eq!(container_fits(bytes, items), want, "{name}");
        }
    }
}
