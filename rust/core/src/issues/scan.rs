//! Finds the exceptions of one project's OTLP request: span events named `exception`, log
//! records with `exception.type` or `exception.message`, and (when asked) failed spans. A
//! request, resource block, scope block or item whose bytes do not hold the word `exception`
//! is skipped with one `memmem` search; a span's fields are walked only when they might hold
//! one, and only the spans and log records that do are read.

use std::sync::Arc;

use memchr::memmem;

use super::severity::Severity;
use crate::otlp_messages::{self as otlp, Attributes, LogRecord, Span};
use crate::signal::OtlpSignal;
use crate::wire::{field, fields, WireError};

/// Which exceptions are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    /// Log records that carry `exception.type` or `exception.message`.
    pub logs: bool,
    /// The least severity of such a record that makes an issue.
    pub min_log_severity: Severity,
    /// Spans with status ERROR and no `exception` event.
    pub error_spans: bool,
}

/// Where an exception was found.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A span event named `exception` (its time and attributes).
    SpanEvent(otlp::SpanEvent),
    LogRecord(LogRecord),
    /// A span with status ERROR and no `exception` event.
    ErrorSpan,
}

/// One exception, with what its event is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub origin: Origin,
    /// The span it was recorded in (for a log record: none; its ids are the record's).
    pub span: Option<Arc<Span>>,
    pub scope: Option<String>,
    pub resource: Arc<Attributes>,
}

impl Found {
    /// The exception's own attributes (`exception.*` and the rest): the span event's or the
    /// log record's; none for a failed span.
    pub fn attributes(&self) -> &[(String, serde_json::Value)] {
        match &self.origin {
            Origin::SpanEvent(event) => &event.attributes,
            Origin::LogRecord(record) => &record.attributes,
            Origin::ErrorSpan => &[],
        }
    }

    /// The trace and span the exception belongs to.
    pub fn ids(&self) -> (Option<[u8; 16]>, Option<[u8; 8]>) {
        match (&self.origin, &self.span) {
            (Origin::LogRecord(record), _) => (record.trace_id, record.span_id),
            (_, Some(span)) => (span.trace_id, span.span_id),
            (_, None) => (None, None),
        }
    }
}

/// The word every source holds in its bytes: the event name `exception`, the keys
/// `exception.type` and `exception.message`.
const WORD: &[u8] = b"exception";

/// The exceptions of `request` (a project's OTLP request of `signal`), in request order.
pub fn scan(signal: OtlpSignal, request: &[u8], sources: Sources) -> Result<Vec<Found>, WireError> {
    let finder = memmem::Finder::new(WORD);
    // Failed spans are found by their status, which holds no word to search for.
    let every_span = signal == OtlpSignal::Traces && sources.error_spans;
    let might_hold = |bytes: &[u8]| every_span || finder.find(bytes).is_some();
    let mut found = Vec::new();
    if !might_hold(request) || (signal == OtlpSignal::Logs && !sources.logs) {
        return Ok(found);
    }
    for block in fields(request) {
        let block = block?;
        let Some(block) = block
            .bytes()
            .filter(|b| block.number == field::RESOURCE_BLOCK && might_hold(b))
        else {
            continue;
        };
        // Read when the block holds an exception, whichever field comes first.
        let mut resource: Option<Arc<Attributes>> = None;
        for f in fields(block) {
            let f = f?;
            let (field::SCOPE_BLOCK, Some(scope)) = (f.number, f.bytes()) else {
                continue;
            };
            if !might_hold(scope) {
                continue;
            }
            let resource = match &resource {
                Some(resource) => resource.clone(),
                None => resource.insert(Arc::new(resource_of(block)?)).clone(),
            };
            scan_scope(signal, scope, &resource, &might_hold, sources, &mut found)?;
        }
    }
    Ok(found)
}

/// The attributes of a resource block's (first) resource.
fn resource_of(block: &[u8]) -> Result<Attributes, WireError> {
    for f in fields(block) {
        let f = f?;
        if let (field::RESOURCE, Some(resource)) = (f.number, f.bytes()) {
            return otlp::resource_attributes(resource);
        }
    }
    Ok(Attributes::new())
}

/// The exceptions of one scope block.
fn scan_scope(
    signal: OtlpSignal,
    scope_block: &[u8],
    resource: &Arc<Attributes>,
    might_hold: &dyn Fn(&[u8]) -> bool,
    sources: Sources,
    found: &mut Vec<Found>,
) -> Result<(), WireError> {
    let mut scope = None;
    let first = found.len();
    for f in fields(scope_block) {
        let f = f?;
        let Some(bytes) = f.bytes() else { continue };
        match f.number {
            // `Scope{Spans,Logs}.scope`
            1 => scope = otlp::scope_name(bytes)?,
            field::ITEM if might_hold(bytes) => {
                let found_here = match signal {
                    OtlpSignal::Traces => span_exceptions(bytes, sources.error_spans)?,
                    OtlpSignal::Logs => log_exception(bytes, sources.min_log_severity)?,
                };
                found.extend(found_here.into_iter().map(|(origin, span)| Found {
                    origin,
                    span,
                    scope: None,
                    resource: resource.clone(),
                }));
            }
            _ => {}
        }
    }
    // The scope may come after its items (the collector's encoder writes fields last first).
    for sighting in &mut found[first..] {
        sighting.scope.clone_from(&scope);
    }
    Ok(())
}

type Sighting = (Origin, Option<Arc<Span>>);

/// A span's `exception` events, or the span itself when it failed without one (and
/// `error_spans`).
fn span_exceptions(bytes: &[u8], error_spans: bool) -> Result<Vec<Sighting>, WireError> {
    if !otlp::span_has_exception(bytes, error_spans)? {
        return Ok(Vec::new());
    }
    let mut span = otlp::span(bytes)?;
    let events = std::mem::take(&mut span.exceptions);
    let span = Arc::new(span);
    if events.is_empty() {
        let failed = error_spans && span.status_code == otlp::STATUS_ERROR;
        return Ok(if failed {
            vec![(Origin::ErrorSpan, Some(span))]
        } else {
            Vec::new()
        });
    }
    Ok(events
        .into_iter()
        .map(|event| (Origin::SpanEvent(event), Some(span.clone())))
        .collect())
}

/// A log record's exception, unless the record is below `floor`.
fn log_exception(bytes: &[u8], floor: Severity) -> Result<Vec<Sighting>, WireError> {
    if !otlp::log_has_exception(bytes)? {
        return Ok(Vec::new());
    }
    let record = otlp::log_record(bytes)?;
    if !floor.admits(Severity::of_record(
        record.severity_number,
        &record.severity_text,
    )) {
        return Ok(Vec::new());
    }
    Ok(vec![(Origin::LogRecord(record), None)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{
        exception, exception_log, exception_span, logs_request, string_attribute, traces_request,
        Resource,
    };
    use opentelemetry_proto::tonic::logs::v1::LogRecord as OtlpLog;
    use opentelemetry_proto::tonic::trace::v1::{span, Span as OtlpSpan, Status};

    const BOTH: Sources = Sources {
        logs: true,
        min_log_severity: Severity::Error,
        error_spans: true,
    };
    const EVENTS_ONLY: Sources = Sources {
        error_spans: false,
        ..BOTH
    };

    fn plain_span(id: u64, event: &str) -> OtlpSpan {
        OtlpSpan {
            trace_id: vec![7; 16],
            span_id: id.to_be_bytes().to_vec(),
            name: format!("handle_exception-{id}"),
            events: vec![span::Event {
                name: event.into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn finds_exception_events_and_only_them() {
        let failed = OtlpSpan {
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            ..plain_span(4, "retry")
        };
        let spans = vec![
            plain_span(1, "retry"),
            exception_span(7, 2, "checkout", exception("ValueError", "declined", "")),
            plain_span(3, "exception.note"),
            failed,
        ];
        let request = traces_request(&[Resource::service("shop", 0).with_spans(spans)]);
        let found = scan(OtlpSignal::Traces, &request, EVENTS_ONLY).unwrap();
        assert_eq!(found.len(), 1);
        let Origin::SpanEvent(event) = &found[0].origin else {
            panic!("{found:?}")
        };
        assert_eq!(event.time_unix_nano, 1_002);
        assert_eq!(
            otlp::get_str(&event.attributes, "exception.type"),
            Some("ValueError")
        );
        let span = found[0].span.as_ref().unwrap();
        assert_eq!((span.name.as_str(), span.status_code), ("checkout", 2));
        assert_eq!(found[0].ids(), (Some([7; 16]), Some(2u64.to_be_bytes())));
        assert_eq!(
            otlp::get_str(&found[0].resource, "service.name"),
            Some("shop")
        );

        let with_failed = scan(OtlpSignal::Traces, &request, BOTH).unwrap();
        assert_eq!(with_failed.len(), 2);
        assert_eq!(with_failed[1].origin, Origin::ErrorSpan);
        assert_eq!(with_failed[1].span.as_ref().unwrap().status_message, "boom");
    }

    #[test]
    fn the_resource_is_read_wherever_it_is_in_its_block() {
        use crate::wire::wrap;
        let request = traces_request(&[Resource::service("shop", 0)
            .with_spans(vec![exception_span(7, 1, "op", exception("A", "b", ""))])]);
        let block = fields(&request)
            .next()
            .unwrap()
            .unwrap()
            .bytes()
            .unwrap()
            .to_vec();
        let (mut resource_last, mut resource) = (Vec::new(), Vec::new());
        for f in fields(&block) {
            let f = f.unwrap();
            let target = if f.number == field::RESOURCE {
                &mut resource
            } else {
                &mut resource_last
            };
            target.extend_from_slice(&block[f.span]);
        }
        resource_last.extend(resource);
        let reordered = wrap(field::RESOURCE_BLOCK, &resource_last);
        let found = scan(OtlpSignal::Traces, &reordered, BOTH).unwrap();
        assert_eq!(
            otlp::get_str(&found[0].resource, "service.name"),
            Some("shop")
        );
    }

    #[test]
    fn every_exception_event_of_a_span_is_found() {
        let mut span = exception_span(7, 1, "op", exception("A", "first", ""));
        span.events.push(span.events[0].clone());
        let request = traces_request(&[Resource::service("shop", 0).with_spans(vec![span])]);
        assert_eq!(scan(OtlpSignal::Traces, &request, BOTH).unwrap().len(), 2);
    }

    #[test]
    fn finds_log_records_naming_an_exception_when_asked() {
        let mut body_only = exception_log(7, 2, vec![string_attribute("note", "exception")]);
        body_only.body = None;
        let records = vec![
            OtlpLog::default(),
            exception_log(7, 1, exception("", "timeout talking to db", "")),
            body_only,
            exception_log(7, 3, exception("KeyError", "", "")),
        ];
        let request = logs_request(&[Resource::service("shop", 0).with_log_records(records)]);
        let found = scan(OtlpSignal::Logs, &request, EVENTS_ONLY).unwrap();
        let ids: Vec<_> = found.iter().map(|f| f.ids().1).collect();
        assert_eq!(ids, [Some(1u64.to_be_bytes()), Some(3u64.to_be_bytes())]);
        assert!(found.iter().all(|f| f.span.is_none()));
        let off = Sources {
            logs: false,
            ..EVENTS_ONLY
        };
        assert!(scan(OtlpSignal::Logs, &request, off).unwrap().is_empty());
    }

    #[test]
    fn log_records_below_the_floor_make_no_issue() {
        let record = |id, severity_number, text: &str| OtlpLog {
            severity_number,
            severity_text: text.into(),
            ..exception_log(7, id, exception("KeyError", "sku", ""))
        };
        let records = vec![
            record(1, 13, "WARN"),
            record(2, 17, "ERROR"),
            record(3, 21, "FATAL"),
            record(4, 0, "warning"),
            record(5, 0, ""),
            record(6, 9, "INFO"),
        ];
        let request = logs_request(&[Resource::service("shop", 0).with_log_records(records)]);
        let ids = |sources| -> Vec<u64> {
            let found = scan(OtlpSignal::Logs, &request, sources).unwrap();
            found
                .iter()
                .map(|f| u64::from_be_bytes(f.ids().1.unwrap()))
                .collect()
        };
        assert_eq!(ids(EVENTS_ONLY), [2, 3, 5], "no severity: an error");
        let warn = Sources {
            min_log_severity: Severity::Warn,
            ..EVENTS_ONLY
        };
        assert_eq!(ids(warn), [1, 2, 3, 4, 5]);
    }

    /// `message` with the fields of each nested message, `depth` levels deep, in reverse order.
    fn reverse_fields(message: &[u8], depth: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let fields: Vec<_> = fields(message).map(Result::unwrap).collect();
        for f in fields.iter().rev() {
            match f.bytes() {
                Some(body) if depth > 0 && f.number <= 2 => out.extend(crate::wire::wrap(
                    f.number,
                    &reverse_fields(body, depth - 1),
                )),
                _ => out.extend_from_slice(&message[f.span.clone()]),
            }
        }
        out
    }

    #[test]
    fn a_records_scope_is_its_logger() {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
        use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
        use prost::Message;
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Resource::service("shop", 0).resource(),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "shop.inventory".into(),
                        ..Default::default()
                    }),
                    log_records: vec![exception_log(7, 1, exception("KeyError", "sku", ""))],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        let found = scan(OtlpSignal::Logs, &request, EVENTS_ONLY).unwrap();
        assert_eq!(found[0].scope.as_deref(), Some("shop.inventory"));
        // The collector's encoder writes a message's fields last first: the scope after its
        // records.
        let reordered = reverse_fields(&request, 3);
        assert_ne!(reordered, request);
        let found = scan(OtlpSignal::Logs, &reordered, EVENTS_ONLY).unwrap();
        assert_eq!(found[0].scope.as_deref(), Some("shop.inventory"));
    }

    #[test]
    fn requests_without_the_word_are_not_read() {
        // Not protobuf at all, but without the word: skipped by the search alone.
        assert!(scan(OtlpSignal::Traces, &[0xff; 64], EVENTS_ONLY)
            .unwrap()
            .is_empty());
        let request = traces_request(&[Resource::service("shop", 50)]);
        assert!(scan(OtlpSignal::Traces, &request, BOTH).unwrap().is_empty());
    }

    #[test]
    fn a_malformed_exception_span_is_an_error() {
        let mut request = traces_request(&[Resource::service("shop", 0)
            .with_spans(vec![exception_span(7, 1, "op", exception("A", "b", ""))])]);
        let at = request.len() - 3;
        request[at] = 0xff;
        assert!(scan(OtlpSignal::Traces, &request, BOTH).is_err());
    }
}
