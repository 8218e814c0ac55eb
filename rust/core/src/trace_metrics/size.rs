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

use crate::json_len::json_len;

/// `limits.max_trace_metric_size`.
pub const MAX_ITEM_BYTES: usize = 1 << 20;
/// `limits.max_container_size`: the bytes of one `trace_metric` container.
pub const MAX_CONTAINER_BYTES: usize = 12 << 20;
/// What a container (`{"items":[…]}`) adds to its items' JSON and the commas between them.
const CONTAINER_FRAME: usize = r#"{"items":[]}"#.len();

/// Which of Relay's limits a point's items are over: the point makes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLimit {
    /// One of its items is above [`MAX_ITEM_BYTES`] by Relay's measure: Relay would drop it
    /// after accepting its envelope.
    Item,
    /// Its items are more than one container takes: Relay would refuse their envelope.
    Container,
}

/// Relay's canonical size of a trace metric named `name` whose attributes take
/// `attributes` (the sum of their [`attribute_size`]s).
pub fn item_size(name: &str, attributes: usize) -> usize {
    (name.len() + 8 + attributes).max(1)
}

/// Relay's size of one attribute: its key's bytes and its value's size.
pub fn attribute_size(key: &str, value: &Json) -> usize {
    key.len() + value_size(value)
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

/// The bytes of a container of items whose JSON, commas between them included, takes
/// `items_json`.
pub fn container_bytes(items_json: usize) -> usize {
    CONTAINER_FRAME.saturating_add(items_json)
}

/// Whether Relay takes a container of `items` items in `bytes`.
pub fn container_fits(bytes: usize, items: usize) -> bool {
    bytes <= MAX_CONTAINER_BYTES && bytes / items.max(1) <= MAX_ITEM_BYTES
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn canonical_size_counts_as_relay_does() {
        // Relay's own example (eap/size.rs): 82 for these five, the last one's type unknown.
        let attributes: usize = [
            ("k1", json!("string value")),
            ("k2", json!(18_446_744_073_709_551_615u64)),
            ("k3", json!(42.012_345_678_912_35)),
            ("k4", json!(false)),
            (
                "k5",
                json!({"nested": {"array": [1.0, 2, -12, "7 bytes", false]}}),
            ),
        ]
        .iter()
        .map(|(k, v)| attribute_size(k, v))
        .sum();
        assert_eq!(attributes, 82);
        assert_eq!(item_size("m", attributes), 1 + 8 + 82);
        assert_eq!(item_size("", 0), 8);
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
        assert_eq!(container_bytes(10 + 1 + 20), 12 + 30 + 1);
        assert_eq!(container_bytes(0), 12);
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
