//! Invalid UTF-8 in the strings of OTLP traces and logs, replaced with U+FFFD the way
//! `String::from_utf8_lossy` does. The collector does not check strings, and Sentry's ingest
//! refuses a whole request for one bad string (protobuf `string` fields must be UTF-8): one
//! span would cost its batch.
//!
//! Works on the wire bytes, in two passes. `check` walks every message that may hold a
//! string (the OTLP schema in `slot`), validates each string once and allocates nothing while
//! all are valid: the request is then handed back as it is. Otherwise it has noted each bad
//! string with its replacement and each message on the path to one with its new length, and
//! `write` copies the request once, re-encoding only those messages (their length prefixes
//! change); every other byte, unknown fields included, is copied as it is.

use std::borrow::Cow;

use crate::signal::OtlpSignal;
use crate::wire::{fields, put_varint, read_field, varint_len, Value, WireError};

/// Message levels walked at most (the request is level 0). The schema's own go to 6 (an
/// event's attribute's value: request, resource block, scope block, span, event, key-value,
/// value); the rest is `AnyValue` nesting, unbounded in the proto: strings deeper than this
/// are left as they are, and the recursion stays shallow on any input.
const MAX_DEPTH: usize = 64;

/// A request whose strings are valid UTF-8, and how many string fields had to be repaired.
#[derive(Debug)]
pub struct Repaired<'a> {
    /// The request itself (borrowed) when nothing was repaired or it is not valid protobuf.
    pub request: Cow<'a, [u8]>,
    pub strings: u64,
}

/// `request` (an OTLP `Export{Trace,Logs}ServiceRequest` of `signal`) with every invalid UTF-8
/// sequence of its string fields replaced by U+FFFD. A request that is not valid protobuf is
/// returned as it is: the router reports it.
pub fn repair(signal: OtlpSignal, request: &[u8]) -> Repaired<'_> {
    let root = match signal {
        OtlpSignal::Traces => Message::TracesRequest,
        OtlpSignal::Logs => Message::LogsRequest,
    };
    let untouched = Repaired {
        request: Cow::Borrowed(request),
        strings: 0,
    };
    let mut plan = Vec::new();
    let Ok(Some(len)) = check(root, request, 0, 0, &mut plan) else {
        return untouched;
    };
    // `check` notes a message after what it holds; `write` wants them in the order they start.
    plan.sort_unstable_by_key(|fix| fix.at);
    let mut out = Vec::with_capacity(len);
    let mut next = 0;
    if write(request, 0, &plan, &mut next, &mut out).is_err() || out.len() != len {
        // Cannot happen: `write` reads the bytes `check` read. Sending the request as it
        // came is the safe answer if it did.
        return untouched;
    }
    let strings = plan
        .iter()
        .filter(|fix| matches!(fix.with, With::String(_)))
        .count();
    Repaired {
        request: Cow::Owned(out),
        strings: strings as u64,
    }
}

/// One length-delimited field to re-encode, found by where its payload starts in the request.
#[derive(Debug)]
struct Fix {
    at: usize,
    with: With,
}

#[derive(Debug)]
enum With {
    /// A string's valid replacement.
    String(String),
    /// A message that holds a fix: its new length.
    Message(usize),
}

/// Walks `buf`, a `message` that starts at byte `base` of the request, `depth` levels down.
/// `Some(new length)` when it holds a string to repair, with the fixes added to `plan`.
fn check(
    message: Message,
    buf: &[u8],
    base: usize,
    depth: usize,
    plan: &mut Vec<Fix>,
) -> Result<Option<usize>, WireError> {
    let (mut len, mut changed) = (0, false);
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let (number, value) = read_field(buf, &mut pos)?;
        let Value::Bytes(payload) = value else {
            len += pos - start;
            continue;
        };
        let at = base + pos - payload.len();
        let new_len = match slot(message, number) {
            Slot::String if !is_utf8(payload) => {
                let fixed = String::from_utf8_lossy(payload).into_owned();
                let new_len = fixed.len();
                plan.push(Fix {
                    at,
                    with: With::String(fixed),
                });
                Some(new_len)
            }
            Slot::Message(inner) if depth + 1 < MAX_DEPTH => {
                let new_len = check(inner, payload, at, depth + 1, plan)?;
                if let Some(new_len) = new_len {
                    plan.push(Fix {
                        at,
                        with: With::Message(new_len),
                    });
                }
                new_len
            }
            _ => None,
        };
        len += match new_len {
            Some(new_len) => {
                changed = true;
                header_len(number, new_len) + new_len
            }
            None => pos - start,
        };
    }
    Ok(changed.then_some(len))
}

/// Whether `s` is valid UTF-8. Most strings are short and ASCII, which `is_ascii` checks a
/// word at a time at less cost than `from_utf8`'s set-up.
fn is_utf8(s: &[u8]) -> bool {
    s.is_ascii() || std::str::from_utf8(s).is_ok()
}

/// Copies `buf` (starting at byte `base` of the request) to `out`, re-encoding the fields of
/// `plan` from `plan[*next]` on; everything else is copied as it is.
fn write(
    buf: &[u8],
    base: usize,
    plan: &[Fix],
    next: &mut usize,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    for f in fields(buf) {
        let f = f?;
        let fix = match f.value {
            Value::Bytes(payload) => {
                let at = base + f.span.end - payload.len();
                plan.get(*next)
                    .filter(|fix| fix.at == at)
                    .map(|fix| (fix, payload, at))
            }
            _ => None,
        };
        let Some((fix, payload, at)) = fix else {
            out.extend_from_slice(&buf[f.span]);
            continue;
        };
        *next += 1;
        put_varint(out, tag(f.number));
        match &fix.with {
            With::String(fixed) => {
                put_varint(out, fixed.len() as u64);
                out.extend_from_slice(fixed.as_bytes());
            }
            With::Message(new_len) => {
                put_varint(out, *new_len as u64);
                write(payload, at, plan, next, out)?;
            }
        }
    }
    Ok(())
}

/// The key of length-delimited field `number`.
fn tag(number: u32) -> u64 {
    u64::from(number) << 3 | 2
}

/// The bytes of a length-delimited field's key and length.
fn header_len(number: u32, len: usize) -> usize {
    varint_len(tag(number)) + varint_len(len as u64)
}

/// The OTLP messages of traces and logs requests that hold strings, directly or deeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    TracesRequest,
    ResourceSpans,
    ScopeSpans,
    Span,
    SpanEvent,
    SpanLink,
    Status,
    LogsRequest,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    Resource,
    EntityRef,
    Scope,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

/// What a field of a message holds, as far as strings go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    String,
    Message(Message),
    /// Numbers, bytes (ids, `AnyValue.bytes_value`), messages without strings, unknown fields.
    Other,
}

/// Field `number` of `message`, by opentelemetry-proto v1 (checked against its descriptors by
/// a test).
fn slot(message: Message, number: u32) -> Slot {
    use Message as M;
    let m = Slot::Message;
    match (message, number) {
        (M::TracesRequest, 1) => m(M::ResourceSpans),
        (M::LogsRequest, 1) => m(M::ResourceLogs),
        (M::ResourceSpans | M::ResourceLogs, 1) => m(M::Resource),
        (M::ResourceSpans, 2) => m(M::ScopeSpans),
        (M::ResourceLogs, 2) => m(M::ScopeLogs),
        (M::ScopeSpans | M::ScopeLogs, 1) => m(M::Scope),
        (M::ScopeSpans, 2) => m(M::Span),
        (M::ScopeLogs, 2) => m(M::LogRecord),
        // schema_url
        (M::ResourceSpans | M::ScopeSpans | M::ResourceLogs | M::ScopeLogs, 3) => Slot::String,
        // trace_state, name
        (M::Span, 3 | 5) => Slot::String,
        (M::Span, 9) => m(M::KeyValue),
        (M::Span, 11) => m(M::SpanEvent),
        (M::Span, 13) => m(M::SpanLink),
        (M::Span, 15) => m(M::Status),
        (M::SpanEvent, 2) => Slot::String,
        (M::SpanEvent, 3) => m(M::KeyValue),
        (M::SpanLink, 3) => Slot::String,
        (M::SpanLink, 4) => m(M::KeyValue),
        (M::Status, 2) => Slot::String,
        // severity_text, event_name
        (M::LogRecord, 3 | 12) => Slot::String,
        (M::LogRecord, 5) => m(M::AnyValue),
        (M::LogRecord, 6) => m(M::KeyValue),
        (M::Resource, 1) => m(M::KeyValue),
        (M::Resource, 3) => m(M::EntityRef),
        // schema_url, type, id_keys, description_keys
        (M::EntityRef, 1..=4) => Slot::String,
        // name, version
        (M::Scope, 1 | 2) => Slot::String,
        (M::Scope, 3) => m(M::KeyValue),
        (M::KeyValue, 1) => Slot::String,
        (M::KeyValue, 2) => m(M::AnyValue),
        (M::AnyValue, 1) => Slot::String,
        (M::AnyValue, 5) => m(M::ArrayValue),
        (M::AnyValue, 6) => m(M::KeyValueList),
        (M::ArrayValue, 1) => m(M::AnyValue),
        (M::KeyValueList, 1) => m(M::KeyValue),
        _ => Slot::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{logs_request, traces_request, Resource as TestResource};
    use crate::wire::wrap;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
    };
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
    use prost::Message as _;
    use std::collections::HashMap;

    /// Invalid UTF-8, put after a 3-byte mark: a byte never valid, then a 3-byte sequence cut
    /// short (one U+FFFD each).
    const BAD: &[u8; 3] = b"\xff\xe2\x82";

    fn bad(mark: &str) -> Vec<u8> {
        [mark.as_bytes(), BAD].concat()
    }

    fn lossy(mark: &str) -> String {
        String::from_utf8_lossy(&bad(mark)).into_owned()
    }

    /// Names every string field of a request as it is built: each gets a mark of its own,
    /// `S00xxx` (as long as the mark and `BAD`), or the repaired value when `repaired` holds
    /// its index.
    struct Strings {
        labels: Vec<&'static str>,
        repaired: Vec<usize>,
    }

    impl Strings {
        fn new(repaired: Vec<usize>) -> Strings {
            Strings {
                labels: Vec::new(),
                repaired,
            }
        }

        fn s(&mut self, label: &'static str) -> String {
            let i = self.labels.len();
            self.labels.push(label);
            if self.repaired.contains(&i) {
                lossy(&mark(i))
            } else {
                format!("{}xxx", mark(i))
            }
        }

        fn kv(&mut self, label: &'static str, value: any_value::Value) -> KeyValue {
            KeyValue {
                key: self.s(label),
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            }
        }

        fn string(&mut self, label: &'static str) -> any_value::Value {
            any_value::Value::StringValue(self.s(label))
        }

        /// Attributes of every kind of value, strings nested in an array in a kvlist among
        /// them, and a `bytes_value` that is not UTF-8 (left alone).
        fn attributes(&mut self, of: &'static str) -> Vec<KeyValue> {
            let array = any_value::Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(self.string("array string")),
                    },
                    AnyValue {
                        value: Some(any_value::Value::IntValue(-1)),
                    },
                ],
            });
            let nested = self.kv("kvlist key", array);
            let kvlist = any_value::Value::KvlistValue(KeyValueList {
                values: vec![nested],
            });
            let string = self.string("string value");
            vec![
                self.kv(of, string),
                self.kv("int key", any_value::Value::IntValue(7)),
                self.kv("bytes key", any_value::Value::BytesValue(bad("BYT"))),
                self.kv("kvlist attribute key", kvlist),
            ]
        }

        fn resource(&mut self) -> Option<Resource> {
            let entity = EntityRef {
                schema_url: self.s("entity schema_url"),
                r#type: self.s("entity type"),
                id_keys: vec![self.s("entity id_key"), self.s("entity id_key 2")],
                description_keys: vec![self.s("entity description_key")],
            };
            Some(Resource {
                attributes: self.attributes("resource attribute key"),
                dropped_attributes_count: 1,
                entity_refs: vec![entity],
            })
        }

        fn scope(&mut self) -> Option<InstrumentationScope> {
            Some(InstrumentationScope {
                name: self.s("scope name"),
                version: self.s("scope version"),
                attributes: self.attributes("scope attribute key"),
                dropped_attributes_count: 2,
            })
        }
    }

    fn mark(i: usize) -> String {
        format!("S{i:02}")
    }

    /// A traces request with every string field the schema has, each marked.
    fn traces(strings: &mut Strings) -> ExportTraceServiceRequest {
        let resource = strings.resource();
        let scope = strings.scope();
        let span = Span {
            trace_id: vec![0xff; 16],
            span_id: vec![0xfe; 8],
            trace_state: strings.s("span trace_state"),
            parent_span_id: vec![0x80; 8],
            flags: 1,
            name: strings.s("span name"),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            attributes: strings.attributes("span attribute key"),
            dropped_attributes_count: 3,
            events: vec![span::Event {
                time_unix_nano: 3,
                name: strings.s("event name"),
                attributes: strings.attributes("event attribute key"),
                dropped_attributes_count: 4,
            }],
            dropped_events_count: 5,
            links: vec![span::Link {
                trace_id: vec![0xc0; 16],
                span_id: vec![0xc1; 8],
                trace_state: strings.s("link trace_state"),
                attributes: strings.attributes("link attribute key"),
                dropped_attributes_count: 6,
                flags: 7,
            }],
            dropped_links_count: 8,
            status: Some(Status {
                message: strings.s("status message"),
                code: 2,
            }),
        };
        let scope_spans = ScopeSpans {
            scope,
            spans: vec![span, Span::default()],
            schema_url: strings.s("scope_spans schema_url"),
        };
        let block = ResourceSpans {
            resource,
            scope_spans: vec![scope_spans],
            schema_url: strings.s("resource_spans schema_url"),
        };
        ExportTraceServiceRequest {
            resource_spans: vec![block, ResourceSpans::default()],
        }
    }

    /// A logs request with every string field the schema has, each marked.
    fn logs(strings: &mut Strings) -> ExportLogsServiceRequest {
        let resource = strings.resource();
        let scope = strings.scope();
        let body = any_value::Value::KvlistValue(KeyValueList {
            values: strings.attributes("body kvlist key"),
        });
        let record = LogRecord {
            time_unix_nano: 1,
            observed_time_unix_nano: 2,
            severity_number: 17,
            severity_text: strings.s("severity_text"),
            body: Some(AnyValue { value: Some(body) }),
            attributes: strings.attributes("log attribute key"),
            dropped_attributes_count: 3,
            flags: 1,
            trace_id: vec![0xff; 16],
            span_id: vec![0xfe; 8],
            event_name: strings.s("event_name"),
        };
        let string_body = LogRecord {
            body: Some(AnyValue {
                value: Some(strings.string("log body")),
            }),
            ..Default::default()
        };
        let scope_logs = ScopeLogs {
            scope,
            log_records: vec![record, string_body],
            schema_url: strings.s("scope_logs schema_url"),
        };
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource,
                scope_logs: vec![scope_logs],
                schema_url: strings.s("resource_logs schema_url"),
            }],
        }
    }

    /// `request` with the strings marked `bad_ones` made invalid.
    fn spoil(mut request: Vec<u8>, bad_ones: &[usize]) -> Vec<u8> {
        for &i in bad_ones {
            let placeholder = format!("{}xxx", mark(i));
            let found: Vec<usize> = request
                .windows(placeholder.len())
                .enumerate()
                .filter(|(_, w)| *w == placeholder.as_bytes())
                .map(|(at, _)| at)
                .collect();
            assert_eq!(found.len(), 1, "{placeholder} is in the request once");
            request[found[0]..found[0] + placeholder.len()].copy_from_slice(&bad(&mark(i)));
        }
        request
    }

    /// Every string field alone, then all of them at once, made invalid: the request comes
    /// back as prost encodes it with those strings repaired, and decodes.
    fn repairs_every_string_field(
        signal: OtlpSignal,
        build: impl Fn(&mut Strings) -> Vec<u8>,
        decodes: impl Fn(&[u8]) -> bool,
    ) -> Vec<&'static str> {
        let mut strings = Strings::new(vec![]);
        let valid = build(&mut strings);
        let labels = strings.labels;
        let got = repair(signal, &valid);
        assert!(matches!(got.request, Cow::Borrowed(_)), "{signal:?}: valid");
        assert_eq!(got.strings, 0);
        let singles = (0..labels.len()).map(|i| vec![i]);
        for spoiled in singles.chain([(0..labels.len()).collect()]) {
            let what = spoiled.iter().map(|&i| labels[i]).collect::<Vec<_>>();
            let request = spoil(valid.clone(), &spoiled);
            let got = repair(signal, &request);
            let want = build(&mut Strings::new(spoiled.clone()));
            assert!(
                got.request == want,
                "{signal:?}, {what:?}: as prost encodes it"
            );
            assert_eq!(got.strings, spoiled.len() as u64, "{what:?}");
            assert!(decodes(&got.request), "{what:?}");
            assert!(
                !decodes(&request),
                "{what:?}: prost refuses the spoiled request"
            );
        }
        labels
    }

    #[test]
    fn repairs_every_string_field_of_traces() {
        let labels = repairs_every_string_field(
            OtlpSignal::Traces,
            |s| traces(s).encode_to_vec(),
            |b| ExportTraceServiceRequest::decode(b).is_ok(),
        );
        for label in [
            "span name",
            "span attribute key",
            "array string",
            "resource attribute key",
            "scope name",
            "status message",
            "link trace_state",
            "entity id_key 2",
        ] {
            assert!(labels.contains(&label), "{label}");
        }
    }

    #[test]
    fn repairs_every_string_field_of_logs() {
        let labels = repairs_every_string_field(
            OtlpSignal::Logs,
            |s| logs(s).encode_to_vec(),
            |b| ExportLogsServiceRequest::decode(b).is_ok(),
        );
        for label in ["log body", "body kvlist key", "severity_text", "event_name"] {
            assert!(labels.contains(&label), "{label}");
        }
    }

    #[test]
    fn valid_requests_come_back_as_they_are() {
        let resources = [
            TestResource::service("api", 3).with("host.name", "ünïcode ✓"),
            TestResource::without_service(2),
            TestResource::new(0),
        ];
        let cases: [(OtlpSignal, Vec<u8>); 4] = [
            (OtlpSignal::Traces, traces_request(&resources)),
            (OtlpSignal::Logs, logs_request(&resources)),
            (OtlpSignal::Traces, Vec::new()),
            (OtlpSignal::Logs, Vec::new()),
        ];
        for (signal, request) in cases {
            let got = repair(signal, &request);
            assert!(matches!(got.request, Cow::Borrowed(b) if b == request));
            assert_eq!(got.strings, 0);
        }
    }

    /// `inner` wrapped in fields `numbers`, innermost first.
    fn nest(inner: &[u8], numbers: &[u32]) -> Vec<u8> {
        numbers
            .iter()
            .fold(inner.to_vec(), |bytes, &n| wrap(n, &bytes))
    }

    /// A traces request of one span made of `span`'s fields.
    fn one_span(span: &[u8]) -> Vec<u8> {
        nest(span, &[2, 2, 1])
    }

    /// A `KeyValue` of `key` and an `AnyValue` made of `any_value`'s fields.
    fn key_value(key: &[u8], any_value: &[u8]) -> Vec<u8> {
        [wrap(1, key), wrap(2, any_value)].concat()
    }

    #[test]
    fn leaves_what_is_not_a_string_and_what_is_not_protobuf() {
        let bad_name = one_span(&wrap(5, b"a\xffb"));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "a bytes_value",
                one_span(&wrap(9, &key_value(b"k", &wrap(7, b"\xff\xfe")))),
            ),
            ("a span id", one_span(&wrap(2, b"\xff\xfe\x80\x00"))),
            ("an unknown field", one_span(&wrap(99, b"\xff"))),
            ("a name as a varint", one_span(&[0x28, 0x7f])),
            ("truncated", bad_name[..bad_name.len() - 1].to_vec()),
            ("a group", [bad_name.clone(), vec![0x0b]].concat()),
            (
                "a length past the end",
                [bad_name.clone(), vec![0x0a, 0x05]].concat(),
            ),
            (
                "an attribute not protobuf after its bad key",
                one_span(&wrap(9, &[wrap(1, b"\xff"), vec![0x0a]].concat())),
            ),
        ];
        for (name, request) in cases {
            let got = repair(OtlpSignal::Traces, &request);
            assert!(
                matches!(got.request, Cow::Borrowed(b) if b == request),
                "{name}"
            );
            assert_eq!(got.strings, 0, "{name}");
        }
    }

    #[test]
    fn keeps_unknown_fields_and_the_order_of_fields() {
        let span = |name: &[u8]| {
            [
                wrap(99, b"\xffunknown"),
                vec![0x40, 0x01],
                wrap(5, name),
                wrap(1, &[7; 16]),
            ]
            .concat()
        };
        let request = |name: &[u8]| {
            let block = [wrap(1, &[]), nest(&span(name), &[2, 2]), wrap(98, b"\xff")].concat();
            wrap(1, &block)
        };
        let spoiled = request(b"GET\xff");
        let got = repair(OtlpSignal::Traces, &spoiled);
        assert_eq!(got.request, request("GET\u{fffd}".as_bytes()));
        assert_eq!(got.strings, 1);
    }

    #[test]
    fn a_longer_string_grows_every_length_on_its_path() {
        // 100 invalid bytes become 300: the lengths of the span, the scope block and the
        // resource block (over 127 bytes then) take a byte more each.
        let request = one_span(&wrap(5, &[0xff; 100]));
        let got = repair(OtlpSignal::Traces, &request);
        let name = "\u{fffd}".repeat(100);
        assert_eq!(got.request, one_span(&wrap(5, name.as_bytes())));
        assert_eq!(got.request.len(), request.len() + 200 + 4);
        let decoded = ExportTraceServiceRequest::decode(&*got.request).unwrap();
        assert_eq!(decoded.resource_spans[0].scope_spans[0].spans[0].name, name);
    }

    /// A span attribute keyed `key` whose value is `levels` arrays deep, with the string
    /// `innermost` at the bottom.
    fn deep(key: &[u8], levels: usize, innermost: &[u8]) -> Vec<u8> {
        let mut any_value = wrap(1, innermost);
        for _ in 0..levels {
            any_value = wrap(5, &wrap(1, &any_value));
        }
        one_span(&wrap(9, &key_value(key, &any_value)))
    }

    #[test]
    fn strings_nested_beyond_the_bound_are_left_as_they_are() {
        // The outermost `AnyValue` is at level 5 (request, resource block, scope block, span,
        // key-value), and each array adds two.
        let within = (MAX_DEPTH - 1 - 5) / 2;
        let (bad, fixed) = (b"\xff".as_slice(), "\u{fffd}".as_bytes());
        let cases = [
            (3, 2, fixed),
            (within, 2, fixed),
            (within + 1, 1, bad),
            (5_000, 1, bad),
        ];
        for (levels, strings, innermost) in cases {
            let spoiled = deep(b"key\xff", levels, bad);
            let got = repair(OtlpSignal::Traces, &spoiled);
            assert_eq!(got.strings, strings, "{levels}");
            assert_eq!(
                got.request,
                deep("key\u{fffd}".as_bytes(), levels, innermost),
                "{levels}"
            );
        }
    }

    /// The messages of the table, by their full protobuf names.
    const NAMES: [(Message, &str); 18] = [
        (
            Message::TracesRequest,
            "collector.trace.v1.ExportTraceServiceRequest",
        ),
        (Message::ResourceSpans, "trace.v1.ResourceSpans"),
        (Message::ScopeSpans, "trace.v1.ScopeSpans"),
        (Message::Span, "trace.v1.Span"),
        (Message::SpanEvent, "trace.v1.Span.Event"),
        (Message::SpanLink, "trace.v1.Span.Link"),
        (Message::Status, "trace.v1.Status"),
        (
            Message::LogsRequest,
            "collector.logs.v1.ExportLogsServiceRequest",
        ),
        (Message::ResourceLogs, "logs.v1.ResourceLogs"),
        (Message::ScopeLogs, "logs.v1.ScopeLogs"),
        (Message::LogRecord, "logs.v1.LogRecord"),
        (Message::Resource, "resource.v1.Resource"),
        (Message::EntityRef, "common.v1.EntityRef"),
        (Message::Scope, "common.v1.InstrumentationScope"),
        (Message::KeyValue, "common.v1.KeyValue"),
        (Message::AnyValue, "common.v1.AnyValue"),
        (Message::ArrayValue, "common.v1.ArrayValue"),
        (Message::KeyValueList, "common.v1.KeyValueList"),
    ];

    /// A field of a message descriptor: number, type, type name (of a message field).
    type FieldDescriptor = (u32, u64, String);

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Every message of a `FileDescriptorSet` by full name (`.package.Outer.Inner`), with its
    /// fields. Read with the core's own wire reader, so no descriptor crate is needed.
    fn descriptors(set: &[u8]) -> HashMap<String, Vec<FieldDescriptor>> {
        fn message(buf: &[u8], prefix: &str, out: &mut HashMap<String, Vec<FieldDescriptor>>) {
            let mut name = String::new();
            let (mut fields_of, mut nested) = (Vec::new(), Vec::new());
            for f in fields(buf) {
                let f = f.unwrap();
                match (f.number, f.value) {
                    (1, Value::Bytes(b)) => name = text(b),
                    (2, Value::Bytes(b)) => {
                        let (mut number, mut kind, mut type_name) = (0, 0, String::new());
                        for g in fields(b) {
                            let g = g.unwrap();
                            match (g.number, g.value) {
                                (3, Value::Varint(v)) => number = v as u32,
                                (5, Value::Varint(v)) => kind = v,
                                (6, Value::Bytes(t)) => type_name = text(t),
                                _ => {}
                            }
                        }
                        fields_of.push((number, kind, type_name));
                    }
                    (3, Value::Bytes(b)) => nested.push(b),
                    _ => {}
                }
            }
            let full = format!("{prefix}.{name}");
            for b in nested {
                message(b, &full, out);
            }
            out.insert(full, fields_of);
        }
        let mut out = HashMap::new();
        for file in fields(set) {
            let file = file.unwrap();
            let Value::Bytes(file) = file.value else {
                continue;
            };
            let package = fields(file)
                .map(Result::unwrap)
                .find(|f| f.number == 2)
                .and_then(|f| f.bytes())
                .map(text)
                .unwrap_or_default();
            for f in fields(file).map(Result::unwrap) {
                if let (4, Value::Bytes(b)) = (f.number, f.value) {
                    message(b, &format!(".{package}"), &mut out);
                }
            }
        }
        out
    }

    #[test]
    fn the_table_is_the_otlp_schema() {
        const STRING: u64 = 9;
        const MESSAGE: u64 = 11;
        let schema = descriptors(opentelemetry_proto::DESCRIPTORS);
        let full = |name: &str| format!(".opentelemetry.proto.{name}");
        let kind_of = |type_name: &str| {
            NAMES
                .iter()
                .find(|(_, name)| full(name) == type_name)
                .map(|(m, _)| *m)
        };
        for (message, name) in NAMES {
            let declared = &schema[&full(name)];
            for number in 1..=32 {
                let want = match declared.iter().find(|(n, _, _)| *n == number) {
                    Some((_, STRING, _)) => Slot::String,
                    // A message the table lacks holds no string, or the test below fails.
                    Some((_, MESSAGE, type_name)) => {
                        kind_of(type_name).map_or(Slot::Other, Slot::Message)
                    }
                    _ => Slot::Other,
                };
                assert_eq!(slot(message, number), want, "{name} field {number}");
            }
        }
        // Messages reached from the table but not in it hold no string field, nor do the
        // messages they reach.
        let mut todo: Vec<String> = NAMES
            .iter()
            .flat_map(|(_, name)| schema[&full(name)].clone())
            .filter(|(_, kind, t)| *kind == MESSAGE && kind_of(t).is_none())
            .map(|(_, _, t)| t)
            .collect();
        while let Some(name) = todo.pop() {
            for (number, kind, type_name) in &schema[&name] {
                assert_ne!(*kind, STRING, "{name} field {number}: a string");
                if *kind == MESSAGE {
                    todo.push(type_name.clone());
                }
            }
        }
    }

    #[test]
    fn whatever_bytes_change_prost_never_finds_bad_utf8_after_a_repair() {
        // Every prefix of a request whose strings are all bad, and the request with each of
        // its bytes replaced: no panic; a repaired request holds no bad string (a second
        // repair finds none) and prost, if it refuses it, does for another reason.
        let mut strings = Strings::new(vec![]);
        let valid = traces(&mut strings).encode_to_vec();
        let request = spoil(valid, &(0..strings.labels.len()).collect::<Vec<_>>());
        let replaced = |i: usize, byte: u8| {
            let mut r = request.clone();
            r[i] = byte;
            r
        };
        let variants = (0..request.len()).flat_map(|i| {
            [
                request[..i].to_vec(),
                replaced(i, 0xff),
                replaced(i, 0x80),
                replaced(i, 0x01),
            ]
        });
        let mut repaired = 0;
        for variant in variants {
            let got = repair(OtlpSignal::Traces, &variant);
            let Cow::Owned(bytes) = got.request else {
                assert_eq!(got.strings, 0);
                continue;
            };
            repaired += 1;
            assert!(got.strings > 0);
            let again = repair(OtlpSignal::Traces, &bytes);
            assert!(matches!(again.request, Cow::Borrowed(_)) && again.strings == 0);
            if let Err(e) = ExportTraceServiceRequest::decode(&*bytes) {
                assert!(!e.to_string().contains("UTF-8"), "{e}");
            }
        }
        assert!(repaired > request.len(), "most variants are repaired");
    }
}
