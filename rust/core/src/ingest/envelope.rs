//! Sentry envelopes to `/api/{project_id}/envelope/`: error events, and trace metrics in one
//! `trace_metric` container. Envelopes, events and metrics are Sentry's own types
//! (`sentry-types`), which write the item headers (`length`, `item_count`, content types).

use futures_util::future::BoxFuture;
use sentry_types::protocol::v7::{Envelope, EnvelopeItem, Event, ItemContainer, Metric};
use serde_json::Value;

use super::answer::nothing_rejected;
use super::post::{Post, Poster};
use super::{Answer, Piece, Transport};
use crate::issues::stacktrace::mechanism_keys;
use crate::ingest::endpoint::IngestEndpoint;
use crate::ratelimit::Category;

const CONTENT_TYPE: &str = "application/x-sentry-envelope";
/// `sentry_client` of the envelopes' auth header.
const CLIENT: &str = concat!("otelcol-sentry/", env!("CARGO_PKG_VERSION"));

/// One project's envelope: one error event (Relay takes at most one event per envelope), or
/// trace metrics. One kind per envelope, so that a rate limit or a 413 for one kind never
/// holds back the other.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvelopePiece {
    Error(Box<Event<'static>>),
    TraceMetrics(Vec<ItemGroup>),
}

/// The trace metric items of one data point, which Sentry takes or refuses together.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemGroup {
    /// Which point of the conversion they came from.
    pub point: usize,
    pub items: Vec<Metric>,
}

impl EnvelopePiece {
    /// The envelope's bytes: its `event` item (the header carries its id), or one
    /// `trace_metric` container.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut envelope = Envelope::new();
        match self {
            EnvelopePiece::Error(event) => return event_envelope(event),
            EnvelopePiece::TraceMetrics(groups) => {
                let items = groups
                    .iter()
                    .flat_map(|g| g.items.iter().cloned())
                    .collect();
                envelope.add_item(EnvelopeItem::ItemContainer(ItemContainer::Metrics(items)))
            }
        }
        let mut bytes = Vec::new();
        // Writing to a Vec fails only if serde_json fails, which Sentry's types do not.
        let _ = envelope.to_writer(&mut bytes);
        bytes
    }
}

impl Piece for EnvelopePiece {
    fn items(&self) -> u64 {
        match self {
            EnvelopePiece::Error(_) => 1,
            EnvelopePiece::TraceMetrics(groups) => {
                groups.iter().map(|g| g.items.len() as u64).sum()
            }
        }
    }

    fn category(&self) -> Category {
        match self {
            EnvelopePiece::Error(_) => Category::Errors,
            EnvelopePiece::TraceMetrics(_) => Category::TraceMetrics,
        }
    }

    fn halve(&self) -> Option<(EnvelopePiece, EnvelopePiece)> {
        match self {
            EnvelopePiece::Error(_) => None,
            EnvelopePiece::TraceMetrics(groups) => halves(groups).map(|(a, b)| {
                (
                    EnvelopePiece::TraceMetrics(a),
                    EnvelopePiece::TraceMetrics(b),
                )
            }),
        }
    }

    fn shrink(&self) -> Option<EnvelopePiece> {
        match self {
            EnvelopePiece::Error(event) => {
                crate::issues::event::essentials(event).map(|e| EnvelopePiece::Error(Box::new(e)))
            }
            EnvelopePiece::TraceMetrics(_) => None,
        }
    }
}

/// Mechanism fields of exception chains and groups that sentry-types 0.49 lacks: the event
/// carries them in `mechanism.data`, and [`event_envelope`] writes them where Sentry reads them.
const MECHANISM_FIELDS: [&str; 4] = [
    mechanism_keys::EXCEPTION_ID,
    mechanism_keys::PARENT_ID,
    mechanism_keys::IS_EXCEPTION_GROUP,
    mechanism_keys::SOURCE,
];

/// The envelope of one event, written here rather than by sentry-types so that the event's
/// [`MECHANISM_FIELDS`] stand in its mechanisms: the envelope header with the event's id, one
/// `event` item with its length.
fn event_envelope(event: &Event<'static>) -> Vec<u8> {
    // Serializing Sentry's own types to a value does not fail.
    let mut json = serde_json::to_value(event).unwrap_or_default();
    let mechanisms = json
        .pointer_mut("/exception/values")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(|exception| exception.get_mut("mechanism")?.as_object_mut());
    for mechanism in mechanisms {
        let data = mechanism.get_mut("data").and_then(Value::as_object_mut);
        let lifted: Vec<(String, Value)> = data
            .map(|data| {
                MECHANISM_FIELDS
                    .iter()
                    .filter_map(|&key| Some((key.to_owned(), data.remove(key)?)))
                    .collect()
            })
            .unwrap_or_default();
        if mechanism
            .get("data")
            .and_then(Value::as_object)
            .is_some_and(|d| d.is_empty())
        {
            mechanism.remove("data");
        }
        mechanism.extend(lifted);
    }
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let header = serde_json::json!({"event_id": event.event_id});
    let item = serde_json::json!({"type": "event", "length": body.len()});
    let mut bytes = format!("{header}\n{item}\n").into_bytes();
    bytes.extend(body);
    bytes.push(b'\n');
    bytes
}

fn halves<T: Clone>(items: &[T]) -> Option<(Vec<T>, Vec<T>)> {
    (items.len() >= 2).then(|| {
        let (a, b) = items.split_at(items.len() / 2);
        (a.to_vec(), b.to_vec())
    })
}

pub struct EnvelopeTransport {
    poster: Poster,
}

impl EnvelopeTransport {
    pub fn new(poster: Poster) -> EnvelopeTransport {
        EnvelopeTransport { poster }
    }
}

impl Transport<EnvelopePiece> for EnvelopeTransport {
    fn send<'a>(
        &'a self,
        endpoint: &'a IngestEndpoint,
        piece: &'a EnvelopePiece,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let body = piece.to_bytes();
            let auth = format!(
                "Sentry sentry_version=7, sentry_key={}, sentry_client={CLIENT}",
                endpoint.public_key
            );
            self.poster
                .post(Post {
                    url: &endpoint.envelope_url,
                    content_type: CONTENT_TYPE,
                    auth,
                    public_key: &endpoint.public_key,
                    category: piece.category(),
                    body: &body,
                    partial: nothing_rejected,
                })
                .await
        })
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

    /// The item headers of an envelope's bytes (every other line after the envelope header,
    /// as neither events nor containers here hold a newline).
    fn item_headers(bytes: &[u8]) -> Vec<serde_json::Value> {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        lines[1..]
            .iter()
            .step_by(2)
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Groups of `sizes` items each.
    fn groups(sizes: &[usize]) -> EnvelopePiece {
        let group = |(point, n): (usize, &usize)| ItemGroup {
            point,
            items: vec![metric("m"); *n],
        };
        EnvelopePiece::TraceMetrics(sizes.iter().enumerate().map(group).collect())
    }

    #[test]
    fn trace_metrics_go_in_one_container_with_their_count_and_content_type() {
        let piece = groups(&[1, 2]);
        let headers = item_headers(&piece.to_bytes());
        assert_eq!(
            headers,
            [serde_json::json!({"type": "trace_metric", "item_count": 3,
                "content_type": "application/vnd.sentry.items.trace-metric+json"})]
        );
        assert_eq!(piece.category(), Category::TraceMetrics);
    }

    #[test]
    fn an_error_event_is_one_item_with_its_length_and_id() {
        let event = Event::default();
        let piece = EnvelopePiece::Error(Box::new(event.clone()));
        let bytes = piece.to_bytes();
        let headers = item_headers(&bytes);
        assert_eq!(headers.len(), 1);
        assert!(headers[0]["type"] == "event" && headers[0]["length"].is_u64());
        let envelope_header: serde_json::Value =
            serde_json::from_slice(bytes.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(envelope_header["event_id"], event.event_id.to_string());
        assert_eq!(piece.category(), Category::Errors);
        let length = headers[0]["length"].as_u64().unwrap() as usize;
        let body = bytes.split(|b| *b == b'\n').nth(2).unwrap();
        assert_eq!(body.len(), length);
    }

    #[test]
    fn chain_and_group_fields_stand_in_the_mechanism() {
        use sentry_types::protocol::v7::{Exception, Mechanism, Values};
        let mechanism = |data: serde_json::Value| Mechanism {
            ty: "chained".into(),
            data: serde_json::from_value(data).unwrap(),
            ..Default::default()
        };
        let exception = |data| Exception {
            ty: "ValueError".into(),
            mechanism: Some(mechanism(data)),
            ..Default::default()
        };
        let event = Event {
            exception: Values {
                values: vec![
                    exception(
                        serde_json::json!({"exception_id": 1, "parent_id": 0, "source": "exceptions[0]"}),
                    ),
                    exception(
                        serde_json::json!({"exception_id": 0, "is_exception_group": true, "note": "kept"}),
                    ),
                ],
            },
            ..Default::default()
        };
        let bytes = EnvelopePiece::Error(Box::new(event)).to_bytes();
        let body: Value =
            serde_json::from_slice(bytes.split(|b| *b == b'\n').nth(2).unwrap()).unwrap();
        let mechanisms: Vec<&Value> = body["exception"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["mechanism"])
            .collect();
        assert_eq!(
            mechanisms,
            [
                &serde_json::json!({"type": "chained", "exception_id": 1, "parent_id": 0, "source": "exceptions[0]"}),
                &serde_json::json!({"type": "chained", "exception_id": 0, "is_exception_group": true, "data": {"note": "kept"}}),
            ]
        );
    }

    #[test]
    fn halves_split_between_points_and_one_points_items_stay_together() {
        let piece = groups(&[3, 1, 2]);
        let (first, second) = piece.halve().unwrap();
        assert_eq!((first.items(), second.items()), (3, 3));
        assert_eq!(first.halve(), None, "one point's items");
        assert!(second.halve().is_some());
        assert_eq!(EnvelopePiece::Error(Box::default()).halve(), None);
    }
}
