//! No double reporting: an exception's event id is made from what identifies the exception,
//! so the same exception seen twice (as a span event and as a log record, which SDK bridges
//! both emit, or in a batch the collector retries) gets the same id; a bounded, short-lived
//! memory of the ids made lets only the first sighting through. Sentry also drops an event
//! whose id it already holds, so an event sent again after an unanswered request is not
//! shown twice.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use uuid::Uuid;

use super::scan::{Found, Origin};
use crate::clock::Instant;
use crate::otlp_messages as otlp;

/// How long an id is remembered: longer than a batch waits in the collector's queue and
/// retries in the usual case.
pub const REMEMBERED_FOR: Duration = Duration::from_secs(3600);
/// Ids remembered at most (16 bytes each, twice): the oldest are forgotten first.
pub const REMEMBERED_AT_MOST: usize = 100_000;

/// The namespace of the exporter's event ids (UUID version 5).
const NAMESPACE: Uuid = Uuid::from_u128(0x5e9d_1a7c_0f3b_4c2e_9a61_d8b0_7e24_f513);

/// The event id of an exception: within its span (trace and span id), its type's last name
/// (SDKs name a type `a.b.C` in one signal, `C` or `a.b$C` in the other) and message; with no
/// span, also its service, time and stack trace, so only the very same record matches.
pub fn event_id(found: &Found) -> Uuid {
    let attributes = found.attributes();
    let ty = otlp::get_str(attributes, "exception.type").unwrap_or_default();
    let short_type = ty.rsplit(['.', '$', ':', '\\']).next().unwrap_or(ty);
    let message = match (&found.origin, &found.span) {
        (Origin::ErrorSpan, Some(span)) => span.status_message.as_str(),
        _ => otlp::get_str(attributes, "exception.message").unwrap_or_default(),
    };
    let mut key = Vec::with_capacity(64 + message.len());
    match found.ids() {
        (Some(trace_id), Some(span_id)) => {
            key.push(u8::from(matches!(found.origin, Origin::ErrorSpan)));
            key.extend_from_slice(&trace_id);
            key.extend_from_slice(&span_id);
        }
        _ => {
            key.push(2);
            let service = otlp::get_str(&found.resource, "service.name").unwrap_or_default();
            let stacktrace = otlp::get_str(attributes, "exception.stacktrace").unwrap_or_default();
            let time = match &found.origin {
                Origin::LogRecord(r) => r.time_unix_nano.max(r.observed_time_unix_nano),
                Origin::SpanEvent(e) => e.time_unix_nano,
                Origin::ErrorSpan => 0,
            };
            for part in [
                service.as_bytes(),
                stacktrace.as_bytes(),
                &time.to_be_bytes(),
            ] {
                key.extend_from_slice(part);
                key.push(0);
            }
        }
    }
    for part in [short_type, message] {
        key.extend_from_slice(part.as_bytes());
        key.push(0);
    }
    Uuid::new_v5(&NAMESPACE, &key)
}

/// The ids seen in the last [`REMEMBERED_FOR`], at most [`REMEMBERED_AT_MOST`].
#[derive(Debug, Default)]
pub struct Memory {
    seen: HashSet<Uuid>,
    order: VecDeque<(Instant, Uuid)>,
}

impl Memory {
    /// Whether `id` is seen for the first time (it is then remembered).
    pub fn first_sighting(&mut self, id: Uuid, now: Instant) -> bool {
        while let Some((at, old)) = self.order.front() {
            if now.saturating_duration_since(*at) < REMEMBERED_FOR {
                break;
            }
            self.seen.remove(old);
            self.order.pop_front();
        }
        if !self.seen.insert(id) {
            return false;
        }
        if self.order.len() >= REMEMBERED_AT_MOST {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.order.push_back((now, id));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issues::scan::Found;
    use crate::otlp_messages::{LogRecord, SpanEvent};
    use serde_json::json;
    use std::sync::Arc;

    fn attributes(ty: &str, message: &str) -> Vec<(String, serde_json::Value)> {
        vec![
            ("exception.type".into(), json!(ty)),
            ("exception.message".into(), json!(message)),
        ]
    }

    fn in_span(ty: &str, message: &str, span: u8, time: u64) -> Found {
        let span = otlp::Span {
            trace_id: Some([1; 16]),
            span_id: Some([span; 8]),
            ..Default::default()
        };
        Found {
            origin: Origin::SpanEvent(SpanEvent {
                time_unix_nano: time,
                attributes: attributes(ty, message),
            }),
            span: Some(Arc::new(span)),
            scope: None,
            resource: Arc::default(),
        }
    }

    fn logged(ty: &str, message: &str, span: Option<u8>, time: u64) -> Found {
        Found {
            origin: Origin::LogRecord(LogRecord {
                time_unix_nano: time,
                trace_id: span.map(|_| [1; 16]),
                span_id: span.map(|s| [s; 8]),
                attributes: attributes(ty, message),
                ..Default::default()
            }),
            span: None,
            scope: None,
            resource: Arc::default(),
        }
    }

    #[test]
    fn one_exception_gets_one_id_whichever_signal_carries_it() {
        let id = event_id(&in_span(
            "java.lang.IllegalStateException",
            "no stock",
            2,
            10,
        ));
        let table = [
            (
                logged("java.lang.IllegalStateException", "no stock", Some(2), 99),
                true,
            ),
            (
                logged("IllegalStateException", "no stock", Some(2), 99),
                true,
            ),
            (in_span("IllegalStateException", "no stock", 2, 11), true),
            (
                logged("IllegalStateException", "no stock!", Some(2), 99),
                false,
            ),
            (
                logged("IllegalStateException", "no stock", Some(3), 99),
                false,
            ),
            (logged("IllegalStateException", "no stock", None, 10), false),
        ];
        for (found, same) in table {
            assert_eq!(event_id(&found) == id, same, "{found:?}");
        }
    }

    #[test]
    fn without_a_span_only_the_very_same_record_matches() {
        let id = event_id(&logged("E", "m", None, 5));
        assert_eq!(event_id(&logged("E", "m", None, 5)), id);
        assert_ne!(event_id(&logged("E", "m", None, 6)), id);
    }

    #[test]
    fn ids_are_remembered_for_a_while_and_in_bounded_number() {
        let start = Instant::now();
        let mut memory = Memory::default();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert!(memory.first_sighting(a, start));
        assert!(!memory.first_sighting(a, start + Duration::from_secs(60)));
        assert!(memory.first_sighting(b, start + Duration::from_secs(60)));
        assert!(memory.first_sighting(a, start + REMEMBERED_FOR));
        assert!(!memory.first_sighting(b, start + REMEMBERED_FOR));

        let mut memory = Memory::default();
        for i in 0..=REMEMBERED_AT_MOST as u128 {
            assert!(memory.first_sighting(Uuid::from_u128(i + 10), start));
        }
        assert!(
            memory.first_sighting(Uuid::from_u128(10), start),
            "the oldest was forgotten"
        );
        assert!(!memory.first_sighting(Uuid::from_u128(12), start));
        assert!(memory.seen.len() <= REMEMBERED_AT_MOST);
    }
}
