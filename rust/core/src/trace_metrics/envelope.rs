//! Trace metric items in one envelope: one `trace_metric` container (its item header carries
//! `item_count` and the content type). The items are written by sentry-types; the envelope's
//! framing is written here, as sentry-types writes it (a test holds the two byte for byte):
//! its container takes the items by value, and writing through it cloned every item, its
//! attributes included, a tenth of the metrics path's CPU.

use std::io::Write;

use sentry_types::protocol::v7::Metric;

use crate::ingest::envelope::EnvelopeBody;
use crate::ingest::Piece;
use crate::ratelimit::Category;

/// The trace metric items of one data point, which Sentry takes or refuses together.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemGroup {
    /// Which point of the conversion they came from.
    pub point: usize,
    pub items: Vec<Metric>,
}

/// One envelope of a project's trace metric items, whole points only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsEnvelope(pub Vec<ItemGroup>);

impl Piece for MetricsEnvelope {
    fn items(&self) -> u64 {
        self.0.iter().map(|g| g.items.len() as u64).sum()
    }

    fn category(&self) -> Category {
        Category::TraceMetrics
    }

    /// Halves between points: one point's items stay together.
    fn halve(&self) -> Option<(MetricsEnvelope, MetricsEnvelope)> {
        let groups = &self.0;
        (groups.len() >= 2).then(|| {
            let (a, b) = groups.split_at(groups.len() / 2);
            (MetricsEnvelope(a.to_vec()), MetricsEnvelope(b.to_vec()))
        })
    }
}

/// The content type of a `trace_metric` container.
const CONTENT_TYPE: &str = "application/vnd.sentry.items.trace-metric+json";

impl EnvelopeBody for MetricsEnvelope {
    /// An envelope without headers, one `trace_metric` item header, then `{"items":[...]}`.
    fn envelope(&self) -> Vec<u8> {
        let count = self.items();
        let mut bytes = Vec::new();
        // Writing to a Vec fails only if serde_json fails, which Sentry's types do not.
        let _ = write!(
            bytes,
            "{{}}\n{{\"type\":\"trace_metric\",\"item_count\":{count},\"content_type\":\"{CONTENT_TYPE}\"}}\n{{\"items\":["
        );
        let items = self.0.iter().flat_map(|g| &g.items);
        for (index, item) in items.enumerate() {
            if index > 0 {
                bytes.push(b',');
            }
            let _ = serde_json::to_writer(&mut bytes, item);
        }
        bytes.extend_from_slice(b"]}\n");
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_types::protocol::v7::{Map, MetricType};
    use std::time::SystemTime;

    fn metric(name: &'static str) -> Metric {
        Metric {
            r#type: MetricType::Gauge,
            name: name.into(),
            value: 1.0,
            timestamp: SystemTime::UNIX_EPOCH,
            trace_id: [1; 16].into(),
            span_id: None,
            unit: None,
            attributes: Map::new(),
        }
    }

    /// Groups of `sizes` items each.
    fn groups(sizes: &[usize]) -> MetricsEnvelope {
        let group = |(point, n): (usize, &usize)| ItemGroup {
            point,
            items: vec![metric("m"); *n],
        };
        MetricsEnvelope(sizes.iter().enumerate().map(group).collect())
    }

    #[test]
    fn trace_metrics_go_in_one_container_with_their_count_and_content_type() {
        let piece = groups(&[1, 2]);
        let bytes = piece.envelope();
        let text = String::from_utf8(bytes).unwrap();
        let item_header: serde_json::Value =
            serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(
            item_header,
            serde_json::json!({"type": "trace_metric", "item_count": 3,
                "content_type": "application/vnd.sentry.items.trace-metric+json"})
        );
        assert_eq!(text.lines().count(), 3, "one item");
        assert_eq!(piece.category(), Category::TraceMetrics);
    }

    #[test]
    fn written_as_sentry_types_writes_it() {
        use sentry_types::protocol::v7::{Envelope, EnvelopeItem, ItemContainer};
        let piece = groups(&[2, 1]);
        let items = piece
            .0
            .iter()
            .flat_map(|g| g.items.iter().cloned())
            .collect();
        let mut envelope = Envelope::new();
        envelope.add_item(EnvelopeItem::ItemContainer(ItemContainer::Metrics(items)));
        let mut theirs = Vec::new();
        envelope.to_writer(&mut theirs).unwrap();
        assert_eq!(
            String::from_utf8(piece.envelope()),
            String::from_utf8(theirs)
        );
    }

    #[test]
    fn halves_split_between_points_and_one_points_items_stay_together() {
        let piece = groups(&[3, 1, 2]);
        let (first, second) = piece.halve().unwrap();
        assert_eq!((first.items(), second.items()), (3, 3));
        assert_eq!(first.halve(), None, "one point's items");
        assert!(second.halve().is_some());
    }
}
