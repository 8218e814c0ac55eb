//! One error event as one envelope. The envelope is written here rather than by
//! sentry-types: sentry-types 0.49's `Mechanism` lacks the fields of exception chains and
//! groups, which the event carries in `mechanism.data` and the envelope puts where Sentry
//! reads them.

use std::sync::Arc;

use sentry_types::protocol::v7::Event;
use serde_json::Value;

use super::stacktrace::mechanism_keys;
use crate::ingest::envelope::EnvelopeBody;
use crate::ingest::Piece;
use crate::ratelimit::Category;

/// One error event: Relay takes at most one event per envelope. Shared, so that the job's
/// piece and what settling keeps of it are one event in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPiece(pub Arc<Event<'static>>);

impl Piece for EventPiece {
    fn items(&self) -> u64 {
        1
    }

    fn category(&self) -> Category {
        Category::Errors
    }

    fn halve(&self) -> Option<(EventPiece, EventPiece)> {
        None
    }

    /// The event cut to what identifies it (see [`super::event::essentials`]).
    fn shrink(&self) -> Option<EventPiece> {
        super::event::essentials(&self.0).map(|event| EventPiece(Arc::new(event)))
    }
}

/// Mechanism fields of exception chains and groups that sentry-types 0.49 lacks.
const MECHANISM_FIELDS: [&str; 4] = [
    mechanism_keys::EXCEPTION_ID,
    mechanism_keys::PARENT_ID,
    mechanism_keys::IS_EXCEPTION_GROUP,
    mechanism_keys::SOURCE,
];

impl EnvelopeBody for EventPiece {
    /// The envelope header with the event's id, one `event` item with its length.
    fn envelope(&self) -> Vec<u8> {
        let event: &Event<'static> = &self.0;
        // Serializing Sentry's own types to a value does not fail.
        let mut json = serde_json::to_value(event).unwrap_or_default();
        let mechanisms = json
            .pointer_mut("/exception/values")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(|exception| exception.get_mut("mechanism")?.as_object_mut());
        for mechanism in mechanisms {
            lift_fields(mechanism);
        }
        let body = serde_json::to_vec(&json).unwrap_or_default();
        let header = serde_json::json!({"event_id": event.event_id});
        let item = serde_json::json!({"type": "event", "length": body.len()});
        let mut bytes = format!("{header}\n{item}\n").into_bytes();
        bytes.extend(body);
        bytes.push(b'\n');
        bytes
    }
}

/// Moves the [`MECHANISM_FIELDS`] out of `mechanism.data` into the mechanism itself; a `data`
/// left empty goes.
fn lift_fields(mechanism: &mut serde_json::Map<String, Value>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_event_is_one_item_with_its_length_and_id() {
        let event = Event::default();
        let piece = EventPiece(Arc::new(event.clone()));
        let bytes = piece.envelope();
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let json = |line: &[u8]| serde_json::from_slice::<Value>(line).unwrap();
        let (header, item) = (json(lines[0]), json(lines[1]));
        assert_eq!(header["event_id"], event.event_id.to_string());
        assert!(item["type"] == "event" && item["length"].is_u64());
        assert_eq!(lines[2].len() as u64, item["length"].as_u64().unwrap());
        assert_eq!(piece.category(), Category::Errors);
        assert_eq!(piece.halve(), None);
    }

    #[test]
    fn chain_and_group_fields_stand_in_the_mechanism() {
        use sentry_types::protocol::v7::{Exception, Mechanism, Values};
        let mechanism = |data: Value| Mechanism {
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
        let bytes = EventPiece(Arc::new(event)).envelope();
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
}
