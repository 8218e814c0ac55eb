//! What happens to the items of an envelope relay has parsed: rate limits first (at the
//! endpoint, before the answer), then what relay's processing does after a 200: the
//! `organizations:tracemetrics-ingestion` feature (relay-server
//! `src/processing/trace_metrics/filter.rs`: without it trace metrics are dropped, the answer
//! stays 200), and container parsing (`src/envelope/container.rs` `ItemContainer::parse`: the
//! content type must be the container's, and `item_count` the number of `items`; else the
//! container is dropped as invalid, also after a 200). Each event is checked as relay's event
//! processing does (`event`): one relay would drop is counted as invalid and listed under
//! `event_drops` with relay's discard reason; one it keeps is recorded as relay would store it
//! (`event_normalize`), with what relay would change in it under `event_notes`. Each trace
//! metric of a container likewise (`trace_metric`): `trace_metric_drops`,
//! `trace_metric_notes`. Pure functions, no I/O but reading the clock.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::envelope::{Item, TRACE_METRIC_CONTAINER};
use crate::event;
use crate::quota::{self, RateLimit};
use crate::trace_metric::{self, Discard};

/// Why items were not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    RateLimited,
    FeatureDisabled,
    Invalid,
    TooLarge,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::RateLimited => "rate_limited",
            DropReason::FeatureDisabled => "feature_disabled",
            DropReason::Invalid => "invalid",
            DropReason::TooLarge => "too_large",
        }
    }
}

/// What an envelope left: the events and trace metrics kept, and counts of what was dropped,
/// by data category and reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kept {
    /// Each event's JSON as relay would store it (`event::check`: normalized and trimmed; invalid
    /// values as received, noted).
    pub events: Vec<Value>,
    /// Each trace metric of the containers, as received.
    pub trace_metrics: Vec<Value>,
    pub dropped: BTreeMap<(&'static str, DropReason), u64>,
    /// The events relay would drop after a 200: `{"reason", "event_id"}` (reason as relay's
    /// outcome names it: `invalid_json`, `no_event_payload`, `invalid_transaction`).
    pub event_drops: Vec<Value>,
    /// For each kept event that relay would change: `{"event_id", "notes": [{"path",
    /// "problem"}]}`.
    pub event_notes: Vec<Value>,
    /// The trace metrics relay would drop after a 200: `{"reason", "problem", "name"}` (reason
    /// as relay's outcome names it: `invalid_trace_metric`, `too_large`).
    pub trace_metric_drops: Vec<Value>,
    /// For each kept trace metric that relay would change: `{"name", "notes": [{"path",
    /// "problem"}]}`.
    pub trace_metric_notes: Vec<Value>,
    /// Items of types the stand-in does not record (`log`, `span`, `attachment`, ...), by type.
    pub ignored: BTreeMap<String, u64>,
}

impl Kept {
    fn drop(&mut self, category: &'static str, reason: DropReason, n: u64) {
        *self.dropped.entry((category, reason)).or_insert(0) += n;
    }

    pub fn items(&self) -> usize {
        self.events.len() + self.trace_metrics.len()
    }
}

/// The data categories of an item, as relay's rate limits see them.
fn categories(ty: &str) -> &'static [&'static str] {
    match ty {
        "event" => &["error"],
        "transaction" => &["transaction"],
        "trace_metric" => &["trace_metric", "trace_metric_byte"],
        "log" => &["log_item", "log_byte"],
        "span" => &["span"],
        _ => &[],
    }
}

/// The category under which drops of an item are counted.
fn drop_category(ty: &str) -> &'static str {
    categories(ty).first().copied().unwrap_or("default")
}

/// How many items an item stands for: a container's `item_count`, else 1.
fn quantity(item: &Item<'_>) -> u64 {
    item.item_count.map_or(1, u64::from)
}

/// Removes the items `limits` cover and counts them as rate limited in `kept`. Returns the
/// items left and the limits that dropped something.
pub fn apply_limits<'a>(
    items: Vec<Item<'a>>,
    limits: &[RateLimit],
    kept: &mut Kept,
) -> (Vec<Item<'a>>, Vec<RateLimit>) {
    let hit: Vec<RateLimit> = limits
        .iter()
        .filter(|l| items.iter().any(|i| l.covers(categories(&i.ty))))
        .cloned()
        .collect();
    let left = items
        .into_iter()
        .filter(|item| {
            let limited = quota::limited(&hit, categories(&item.ty));
            if limited {
                kept.drop(
                    drop_category(&item.ty),
                    DropReason::RateLimited,
                    quantity(item),
                );
            }
            !limited
        })
        .collect();
    (left, hit)
}

/// Relay's processing of the items left: events, trace metrics (when `trace_metrics` is on).
pub fn process(items: &[Item<'_>], trace_metrics: bool, kept: &mut Kept) {
    process_at(items, trace_metrics, now_secs(), kept);
}

/// Seconds since the Unix epoch.
fn now_secs() -> f64 {
    crate::clock::unix_millis() as f64 / 1000.0
}

/// `process` at `now` (seconds since the Unix epoch), the time the envelope was received.
fn process_at(items: &[Item<'_>], trace_metrics: bool, now: f64, kept: &mut Kept) {
    for item in items {
        match item.ty.as_str() {
            "event" => keep_event(item.payload, now, kept),
            "trace_metric" if !trace_metrics => {
                kept.drop("trace_metric", DropReason::FeatureDisabled, quantity(item));
            }
            "trace_metric" => match container_items(item, TRACE_METRIC_CONTAINER) {
                Some(metrics) => keep_metrics(metrics, kept),
                None => kept.drop("trace_metric", DropReason::Invalid, quantity(item)),
            },
            other => *kept.ignored.entry(other.to_string()).or_insert(0) += 1,
        }
    }
}

/// Keeps an event relay keeps (as relay would store it, noting what relay would change), else
/// counts it as invalid with relay's reason.
fn keep_event(payload: &[u8], now: f64, kept: &mut Kept) {
    match event::check(payload, now) {
        Ok(checked) => {
            if !checked.notes.is_empty() {
                kept.event_notes.push(json!({
                    "event_id": checked.event.get("event_id"),
                    "notes": checked.notes,
                }));
            }
            kept.events.push(checked.event);
        }
        Err(discard) => {
            kept.drop("error", DropReason::Invalid, 1);
            let event_id = serde_json::from_slice::<Value>(payload)
                .ok()
                .and_then(|v| v.get("event_id").cloned());
            kept.event_drops
                .push(json!({ "reason": discard.as_str(), "event_id": event_id }));
        }
    }
}

/// The `items` of a container with this content type, if `item_count` matches them.
fn container_items(item: &Item<'_>, content_type: &str) -> Option<Vec<Value>> {
    if !item
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.eq_ignore_ascii_case(content_type))
    {
        return None;
    }
    let Ok(Value::Object(mut container)) = serde_json::from_slice::<Value>(item.payload) else {
        return None;
    };
    let Some(Value::Array(items)) = container.remove("items") else {
        return None;
    };
    (Some(items.len()) == item.item_count.map(|n| n as usize)).then_some(items)
}

/// Keeps the trace metrics relay keeps (as received, noting what relay would change), and
/// counts the others with relay's reason.
fn keep_metrics(metrics: Vec<Value>, kept: &mut Kept) {
    for metric in metrics {
        let name = metric.get("name").cloned().unwrap_or(Value::Null);
        match trace_metric::check(&metric) {
            Ok(notes) => {
                if !notes.is_empty() {
                    kept.trace_metric_notes
                        .push(json!({ "name": name, "notes": notes }));
                }
                kept.trace_metrics.push(metric);
            }
            Err(dropped) => {
                let reason = match dropped.reason {
                    Discard::InvalidTraceMetric => DropReason::Invalid,
                    Discard::TooLarge => DropReason::TooLarge,
                };
                kept.drop("trace_metric", reason, 1);
                kept.trace_metric_drops.push(json!({
                    "reason": dropped.reason.as_str(),
                    "problem": dropped.problem,
                    "name": name,
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metrics_item<'a>(payload: &'a [u8], count: Option<u32>, ct: &str) -> Item<'a> {
        Item {
            ty: "trace_metric".into(),
            content_type: Some(ct.into()),
            item_count: count,
            payload,
        }
    }

    fn event(payload: &[u8]) -> Item<'_> {
        Item {
            ty: "event".into(),
            content_type: None,
            item_count: None,
            payload,
        }
    }

    fn metric(name: &str) -> Value {
        json!({
            "timestamp": 1_767_225_600.0,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "name": name,
            "type": "counter",
            "value": 1,
        })
    }

    #[test]
    fn containers_are_checked_as_relay_parses_them() {
        let two = json!({"items": [metric("a"), metric("b")]}).to_string();
        let two = two.as_bytes();
        let mut kept = Kept::default();
        process(
            &[metrics_item(two, Some(2), TRACE_METRIC_CONTAINER)],
            true,
            &mut kept,
        );
        assert_eq!(kept.trace_metrics, [metric("a"), metric("b")]);
        let mut kept = Kept::default();
        process(
            &[
                metrics_item(two, Some(3), TRACE_METRIC_CONTAINER),
                metrics_item(two, None, TRACE_METRIC_CONTAINER),
                metrics_item(two, Some(2), "application/json"),
                metrics_item(b"[]", Some(2), TRACE_METRIC_CONTAINER),
            ],
            true,
            &mut kept,
        );
        assert!(kept.trace_metrics.is_empty());
        assert_eq!(
            kept.dropped[&("trace_metric", DropReason::Invalid)],
            3 + 1 + 2 + 2
        );
        assert!(
            kept.trace_metric_drops.is_empty(),
            "whole containers, not items"
        );
    }

    #[test]
    fn each_trace_metric_is_checked_as_relay_processes_it() {
        let mut renamed = metric("jobs-done");
        renamed["unit"] = json!("ms");
        let mut histogram = metric("latency");
        histogram["type"] = json!("histogram");
        let mut big = metric("big");
        big["attributes"] = json!({"blob": {"type": "string", "value": "x".repeat(2 << 20)}});
        let container = json!({"items": [metric("ok"), renamed, histogram, big, 5]}).to_string();
        let mut kept = Kept::default();
        process(
            &[metrics_item(
                container.as_bytes(),
                Some(5),
                TRACE_METRIC_CONTAINER,
            )],
            true,
            &mut kept,
        );
        let names: Vec<&Value> = kept.trace_metrics.iter().map(|m| &m["name"]).collect();
        assert_eq!(names, ["ok", "jobs-done"], "kept as received");
        assert_eq!(kept.trace_metric_notes.len(), 1);
        assert_eq!(kept.trace_metric_notes[0]["name"], "jobs-done");
        let paths: Vec<&Value> = kept.trace_metric_notes[0]["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .map(|n| &n["path"])
            .collect();
        assert_eq!(paths, ["name", "unit"]);
        let drops: Vec<(&Value, &Value)> = kept
            .trace_metric_drops
            .iter()
            .map(|d| (&d["reason"], &d["name"]))
            .collect();
        assert_eq!(
            drops,
            [
                (&json!("invalid_trace_metric"), &json!("latency")),
                (&json!("too_large"), &json!("big")),
                (&json!("invalid_trace_metric"), &Value::Null),
            ]
        );
        assert_eq!(kept.dropped[&("trace_metric", DropReason::Invalid)], 2);
        assert_eq!(kept.dropped[&("trace_metric", DropReason::TooLarge)], 1);
    }

    #[test]
    fn feature_flag_events_and_others() {
        let two = br#"{"items":[{},{}]}"#;
        let other = Item {
            ty: "log".into(),
            ..event(b"{}")
        };
        let mut kept = Kept::default();
        let items = [
            metrics_item(two, Some(2), TRACE_METRIC_CONTAINER),
            event(br#"{"message":"m"}"#),
            event(b"[]"),
            other,
        ];
        process(&items, false, &mut kept);
        assert_eq!(
            kept.dropped[&("trace_metric", DropReason::FeatureDisabled)],
            2
        );
        assert_eq!(kept.dropped[&("error", DropReason::Invalid)], 1);
        assert_eq!(kept.events, [json!({"message":"m"})]);
        assert_eq!(kept.ignored["log"], 1);
        assert_eq!(kept.items(), 1);
    }

    #[test]
    fn events_are_checked_as_relay_processes_them() {
        let now = 1_767_225_600.0;
        let items = [
            event(br#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","level":"error"}"#),
            event(br#"{"event_id":"0ec79c33ec9942ab8353589fcb2e04dc","level":"warn"}"#),
            event(br#"{"event_id":"1ec79c33ec9942ab8353589fcb2e04dc","start_timestamp":-1}"#),
            event(b"{not json"),
            event(b"null"),
        ];
        let mut kept = Kept::default();
        process_at(&items, false, now, &mut kept);
        assert_eq!(kept.events.len(), 2, "kept as received, notes or not");
        assert_eq!(kept.events[1]["level"], "warn");
        assert_eq!(
            kept.event_notes,
            [json!({
                "event_id": "0ec79c33ec9942ab8353589fcb2e04dc",
                "notes": [{"path": "level", "problem": "invalid_data: unknown level; relay removes it and uses error"}],
            })]
        );
        assert_eq!(kept.dropped[&("error", DropReason::Invalid)], 3);
        let reasons: Vec<&Value> = kept.event_drops.iter().map(|d| &d["reason"]).collect();
        assert_eq!(
            reasons,
            ["invalid_transaction", "invalid_json", "no_event_payload"]
        );
        assert_eq!(
            kept.event_drops[0]["event_id"],
            "1ec79c33ec9942ab8353589fcb2e04dc"
        );
        assert_eq!(kept.event_drops[1]["event_id"], Value::Null);
    }

    #[test]
    fn limits_remove_items_of_their_categories() {
        let limit = |v| serde_json::from_value::<RateLimit>(v).expect("limit");
        let limits = [
            limit(json!({"categories":["trace_metric_byte"]})),
            limit(json!({"categories":["span"]})),
        ];
        let two = br#"{"items":[{},{}]}"#;
        let mut kept = Kept::default();
        let items = vec![
            event(b"{}"),
            metrics_item(two, Some(2), TRACE_METRIC_CONTAINER),
        ];
        let (left, hit) = apply_limits(items, &limits, &mut kept);
        assert_eq!(hit, limits[..1], "only limits that dropped something");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].ty, "event");
        assert_eq!(kept.dropped[&("trace_metric", DropReason::RateLimited)], 2);
    }
}
