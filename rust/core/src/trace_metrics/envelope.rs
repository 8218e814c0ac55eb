//! Trace metric items in one envelope: one `trace_metric` container (its item header carries
//! `item_count` and the content type). The items come written, as sentry-types writes them
//! ([`super::json`], into the envelope's buffer as they are made, see [`super::pack`]); the
//! envelope's framing is written here, as sentry-types writes it (a test holds the two byte for
//! byte).

use bytes::Bytes;

use crate::ingest::envelope::EnvelopeBody;
use crate::ingest::Piece;
use crate::ratelimit::Category;

/// The trace metric items of one data point, which Sentry takes or refuses together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointItems {
    /// Which point of the conversion they came from.
    pub point: usize,
    /// How many items it made.
    pub items: usize,
    /// Where its items' JSON ends in the envelope's.
    end: usize,
}

/// One envelope of a project's trace metric items, whole points only: the items' JSON,
/// comma-separated, and the points they came from, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsEnvelope {
    json: Bytes,
    points: Vec<PointItems>,
}

impl MetricsEnvelope {
    /// Points' items in `json`, each point's ending where its [`PointItems`] says.
    pub(super) fn new(json: Bytes, points: Vec<PointItems>) -> MetricsEnvelope {
        MetricsEnvelope { json, points }
    }

    pub fn points(&self) -> &[PointItems] {
        &self.points
    }

    /// The items of each point, as sentry-types writes them; for other code's tests.
    #[cfg(any(test, feature = "testdata"))]
    pub fn of(
        points: impl IntoIterator<Item = (usize, Vec<sentry_types::protocol::v7::Metric>)>,
    ) -> Self {
        let mut json = Vec::new();
        let mut written = Vec::new();
        for (point, items) in points {
            for item in &items {
                if !json.is_empty() {
                    json.push(b',');
                }
                serde_json::to_writer(&mut json, item).expect("sentry-types writes its items");
            }
            let end = json.len();
            let items = items.len();
            written.push(PointItems { point, items, end });
        }
        MetricsEnvelope::new(json.into(), written)
    }

    /// Its items, read back as sentry-types reads them.
    #[cfg(test)]
    pub fn metrics(&self) -> Vec<sentry_types::protocol::v7::Metric> {
        let array = [&b"["[..], &self.json, b"]"].concat();
        serde_json::from_slice(&array).expect("items sentry-types reads")
    }
}

impl PointItems {
    /// `point`'s `items` items, their JSON ending at `end`.
    pub(super) fn new(point: usize, items: usize, end: usize) -> PointItems {
        PointItems { point, items, end }
    }
}

impl Piece for MetricsEnvelope {
    fn items(&self) -> u64 {
        self.points.iter().map(|p| p.items as u64).sum()
    }

    fn category(&self) -> Category {
        Category::TraceMetrics
    }

    /// Halves between points: one point's items stay together.
    fn halve(&self) -> Option<(MetricsEnvelope, MetricsEnvelope)> {
        let (first, second) = self.points.split_at_checked(self.points.len() / 2)?;
        let cut = first.last()?.end;
        // The second half's items start after the comma that ends the first's.
        let shift = (cut + 1).min(self.json.len());
        let moved = |p: &PointItems| PointItems {
            end: p.end.saturating_sub(shift),
            ..*p
        };
        Some((
            MetricsEnvelope::new(self.json.slice(..cut), first.to_vec()),
            MetricsEnvelope::new(self.json.slice(shift..), second.iter().map(moved).collect()),
        ))
    }
}

/// The content type of a `trace_metric` container.
const CONTENT_TYPE: &str = "application/vnd.sentry.items.trace-metric+json";

impl EnvelopeBody for MetricsEnvelope {
    /// An envelope without headers, one `trace_metric` item header, then `{"items":[...]}`.
    fn envelope(&self) -> Vec<u8> {
        let count = self.items();
        let header = format!(
            "{{}}\n{{\"type\":\"trace_metric\",\"item_count\":{count},\"content_type\":\"{CONTENT_TYPE}\"}}\n{{\"items\":["
        );
        let end = b"]}\n";
        let mut bytes = Vec::with_capacity(header.len() + self.json.len() + end.len());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&self.json);
        bytes.extend_from_slice(end);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_types::protocol::v7::{Map, Metric, MetricType};
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
        let group = |(point, n): (usize, &usize)| (point, vec![metric("m"); *n]);
        MetricsEnvelope::of(sizes.iter().enumerate().map(group))
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
        let items = vec![metric("a"), metric("b"), metric("c")];
        let piece = MetricsEnvelope::of([(0, items[..2].to_vec()), (1, items[2..].to_vec())]);
        assert_eq!(piece.metrics(), items);
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
        let mut piece = groups(&[3, 1, 2]);
        piece.points.iter_mut().for_each(|p| p.point += 10);
        let (first, second) = piece.halve().unwrap();
        assert_eq!((first.items(), second.items()), (3, 3));
        assert_eq!(first.halve(), None, "one point's items");
        let (one, two) = second.halve().unwrap();
        let points = |e: &MetricsEnvelope| e.points().iter().map(|p| p.point).collect::<Vec<_>>();
        assert_eq!(
            (points(&first), points(&one), points(&two)),
            (vec![10], vec![11], vec![12])
        );
        let halves = [&first, &one, &two].map(|e| e.envelope());
        assert_eq!(
            halves,
            [groups(&[3]), groups(&[1]), groups(&[2])].map(|e| e.envelope())
        );
    }
}
