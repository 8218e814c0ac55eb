//! One error event as one envelope, its JSON written by [`super::event_json`] (as Sentry reads
//! it, with the fields of exception chains and groups sentry-types lacks).

use std::sync::Arc;

use sentry_types::protocol::v7::Event;

use super::event_json::EventJson;
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

impl EnvelopeBody for EventPiece {
    /// The envelope header with the event's id, one `event` item with its length.
    fn envelope(&self) -> Vec<u8> {
        let event: &Event<'static> = &self.0;
        // Serializing Sentry's own types does not fail.
        let body = serde_json::to_vec(&EventJson(event)).unwrap_or_default();
        let headers = format!(
            "{{\"event_id\":\"{}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n",
            event.event_id,
            body.len()
        );
        let mut bytes = Vec::with_capacity(headers.len() + body.len() + 1);
        bytes.extend(headers.into_bytes());
        bytes.extend(body);
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

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
                        json!({"exception_id": 1, "parent_id": 0, "source": "exceptions[0]"}),
                    ),
                    exception(
                        json!({"exception_id": 0, "is_exception_group": true, "note": "kept"}),
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
                &json!({"type": "chained", "exception_id": 1, "parent_id": 0, "source": "exceptions[0]"}),
                &json!({"type": "chained", "exception_id": 0, "is_exception_group": true, "data": {"note": "kept"}}),
            ]
        );
    }

    /// The body as the writer before [`EventJson`] made it: sentry-types' JSON as a value, the
    /// chain and group fields moved out of `mechanism.data`.
    fn value_detour(event: &Event<'static>) -> Value {
        let mut json = serde_json::to_value(event).unwrap();
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
                    let keys = ["exception_id", "parent_id", "is_exception_group", "source"];
                    let lift = |key: &str| Some((key.to_owned(), data.remove(key)?));
                    keys.into_iter().filter_map(lift).collect()
                })
                .unwrap_or_default();
            if mechanism["data"].as_object().is_some_and(|d| d.is_empty()) {
                mechanism.remove("data");
            }
            mechanism.extend(lifted);
        }
        json
    }

    const JAVA_CHAIN: &str = "\
java.lang.IllegalStateException: startup failed
\tat shop.Main.start(Main.java:19)
\tat shop.Main.main(Main.java:48)
\tSuppressed: java.io.IOException: cleanup failed
\t\tat shop.Main.start(Main.java:20)
\t\t... 1 more
Caused by: java.lang.NumberFormatException: For input string: \"80x\"
\tat java.base/java.lang.Integer.parseInt(Integer.java:668)
\tat shop.Main.loadConfig(Main.java:13)
\t... 2 more
";

    const PYTHON_GROUP: &str = "\
  + Exception Group Traceback (most recent call last):
  |   File \"/app/shop/client.py\", line 65, in group
  |     raise ExceptionGroup(\"outer\", errors)
  | ExceptionGroup: outer (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File \"/app/shop/client.py\", line 50, in sub1
    |     {}[\"k\"]
    | KeyError: 'k'
    +---------------- 2 ----------------
    | FileNotFoundError: [Errno 2] nofile
    +------------------------------------
";

    /// A Go stack deeper than Relay keeps.
    fn deep_go() -> String {
        let frames = (0..300).map(|i| format!("main.f{i}()\n\t/app/main.go:{i} +0x1d\n"));
        std::iter::once("goroutine 1 [running]:\n".to_owned())
            .chain(frames)
            .collect()
    }

    #[test]
    fn the_body_is_the_json_the_value_detour_made() {
        use crate::issues::event::{build, Options};
        use crate::issues::scan::{Found, Origin};
        use crate::otlp_messages::SpanEvent;
        let go = deep_go();
        let cases = [("java", JAVA_CHAIN), ("python", PYTHON_GROUP), ("go", &go)];
        for (language, text) in cases {
            let found = Found {
                origin: Origin::SpanEvent(SpanEvent {
                    time_unix_nano: 1_700_000_000_500_000_000,
                    attributes: vec![("exception.stacktrace".into(), json!(text))],
                }),
                span: None,
                scope: None,
                resource: Arc::new(vec![("telemetry.sdk.language".into(), json!(language))]),
            };
            let id = uuid::Uuid::from_u128(7);
            let event = build(&found, id, &Options::default(), std::time::UNIX_EPOCH);
            assert!(event.exception.values.len() > 1 || language == "go");
            let bytes = EventPiece(Arc::new(event.clone())).envelope();
            let body = bytes.split(|b| *b == b'\n').nth(2).unwrap();
            let body: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(body, value_detour(&event), "{language}");
        }
    }
}
