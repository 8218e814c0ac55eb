//! The OTLP messages an exception's event is made from (spans, span events, log records,
//! attributes), read from their bytes with the core's wire reader. Only the spans and log
//! records that hold an exception are read this far; the rest of a request never is.
//!
//! Written on the wire reader rather than with `opentelemetry-proto`'s prost types: those
//! come only with its tonic code generation, and the router already reads these bytes.

use serde_json::{Map, Number, Value as Json};

use crate::wire::{fields, Value, WireError};

/// Attribute lists, in the order received, with their values as JSON.
pub type Attributes = Vec<(String, Json)>;

/// `AnyValue`s nested deeper than this (arrays of maps of arrays...) are cut to `null`.
const MAX_DEPTH: usize = 8;

/// The value of the first attribute named `key`.
pub fn get<'a>(attributes: &'a [(String, Json)], key: &str) -> Option<&'a Json> {
    attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The string value of the first attribute named `key`.
pub fn get_str<'a>(attributes: &'a [(String, Json)], key: &str) -> Option<&'a str> {
    get(attributes, key).and_then(Json::as_str)
}

/// Reads one `KeyValue` into `into`.
pub fn push_attribute(key_value: &[u8], into: &mut Attributes) -> Result<(), WireError> {
    push_attribute_at(key_value, into, 0)
}

/// An `AnyValue` as JSON: maps (`kvlist_value`) as objects, bytes as lowercase hex.
fn any_value(bytes: &[u8], depth: usize) -> Result<Json, WireError> {
    if depth >= MAX_DEPTH {
        return Ok(Json::Null);
    }
    let mut value = Json::Null;
    for f in fields(bytes) {
        let f = f?;
        value = match (f.number, f.value) {
            (1, Value::Bytes(s)) => Json::String(String::from_utf8_lossy(s).into_owned()),
            (2, Value::Varint(b)) => Json::Bool(b != 0),
            (3, Value::Varint(i)) => Json::from(i as i64),
            (4, Value::Fixed64(bits)) => {
                Number::from_f64(f64::from_le_bytes(*bits)).map_or(Json::Null, Json::Number)
            }
            (5, Value::Bytes(array)) => Json::Array(repeated(array, 1, depth)?),
            (6, Value::Bytes(list)) => {
                let mut map = Map::new();
                for kv in fields(list) {
                    let kv = kv?;
                    if let (1, Some(kv)) = (kv.number, kv.bytes()) {
                        let mut one = Attributes::new();
                        push_attribute_at(kv, &mut one, depth + 1)?;
                        map.extend(one);
                    }
                }
                Json::Object(map)
            }
            (7, Value::Bytes(b)) => Json::String(hex(b)),
            _ => continue,
        };
    }
    Ok(value)
}

fn push_attribute_at(kv: &[u8], into: &mut Attributes, depth: usize) -> Result<(), WireError> {
    let (mut key, mut value) = (String::new(), Json::Null);
    for f in fields(kv) {
        let f = f?;
        match (f.number, f.value) {
            (1, Value::Bytes(k)) => key = String::from_utf8_lossy(k).into_owned(),
            (2, Value::Bytes(v)) => value = any_value(v, depth)?,
            _ => {}
        }
    }
    into.push((key, value));
    Ok(())
}

fn repeated(message: &[u8], number: u32, depth: usize) -> Result<Vec<Json>, WireError> {
    let mut values = Vec::new();
    for f in fields(message) {
        let f = f?;
        if let (n, Some(b)) = (f.number, f.bytes()) {
            if n == number {
                values.push(any_value(b, depth + 1)?);
            }
        }
    }
    Ok(values)
}

/// Lowercase hex of an id or bytes value.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A trace or span id: `None` when absent, of the wrong length, or all zeros (OTLP's "none").
pub fn nonzero_id<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    let id: [u8; N] = bytes.try_into().ok()?;
    (id != [0; N]).then_some(id)
}

/// What an event needs of a span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub end_time_unix_nano: u64,
    /// `Span.SpanKind`.
    pub kind: u64,
    /// `Status.StatusCode`: 2 is ERROR.
    pub status_code: u64,
    pub status_message: String,
    pub attributes: Attributes,
    /// Its events named `exception`.
    pub exceptions: Vec<SpanEvent>,
}

/// `Status.StatusCode` of a failed span.
pub const STATUS_ERROR: u64 = 2;

/// A span event named `exception`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanEvent {
    pub time_unix_nano: u64,
    pub attributes: Attributes,
}

/// The name of the span events and log records (`event_name`) that hold an exception.
pub const EXCEPTION_EVENT: &[u8] = b"exception";

/// Reads a span, with its `exception` events (its other events skipped unread).
pub fn span(bytes: &[u8]) -> Result<Span, WireError> {
    let mut span = Span::default();
    for f in fields(bytes) {
        let f = f?;
        match (f.number, f.value) {
            (1, Value::Bytes(b)) => span.trace_id = nonzero_id(b),
            (2, Value::Bytes(b)) => span.span_id = nonzero_id(b),
            (4, Value::Bytes(b)) => span.parent_span_id = nonzero_id(b),
            (5, Value::Bytes(b)) => span.name = String::from_utf8_lossy(b).into_owned(),
            (6, Value::Varint(kind)) => span.kind = kind,
            (8, Value::Fixed64(t)) => span.end_time_unix_nano = u64::from_le_bytes(*t),
            (9, Value::Bytes(kv)) => push_attribute(kv, &mut span.attributes)?,
            (11, Value::Bytes(event)) => {
                if let Some(event) = exception_event(event)? {
                    span.exceptions.push(event);
                }
            }
            (15, Value::Bytes(status)) => {
                for s in fields(status) {
                    match s?.value {
                        Value::Bytes(m) => {
                            span.status_message = String::from_utf8_lossy(m).into_owned()
                        }
                        Value::Varint(code) => span.status_code = code,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(span)
}

/// A span's `Event`, when it is named `exception`.
fn exception_event(bytes: &[u8]) -> Result<Option<SpanEvent>, WireError> {
    let mut name = None;
    for f in fields(bytes) {
        let f = f?;
        if let (2, Value::Bytes(n)) = (f.number, f.value) {
            name = Some(n);
        }
    }
    if name != Some(EXCEPTION_EVENT) {
        return Ok(None);
    }
    let mut event = SpanEvent::default();
    for f in fields(bytes) {
        let f = f?;
        match (f.number, f.value) {
            (1, Value::Fixed64(t)) => event.time_unix_nano = u64::from_le_bytes(*t),
            (3, Value::Bytes(kv)) => push_attribute(kv, &mut event.attributes)?,
            _ => {}
        }
    }
    Ok(Some(event))
}

/// Whether a span's bytes hold an event named `exception`, or (with `or_error`) the span's
/// status is ERROR: its fields are walked, its events' names compared, nothing decoded.
pub fn span_has_exception(bytes: &[u8], or_error: bool) -> Result<bool, WireError> {
    for f in fields(bytes) {
        let f = f?;
        match (f.number, f.value) {
            (11, Value::Bytes(event)) => {
                for e in fields(event) {
                    let e = e?;
                    if e.number == 2 && e.bytes() == Some(EXCEPTION_EVENT) {
                        return Ok(true);
                    }
                }
            }
            (15, Value::Bytes(status)) if or_error => {
                for s in fields(status) {
                    let s = s?;
                    if (s.number, s.value) == (3, Value::Varint(STATUS_ERROR)) {
                        return Ok(true);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(false)
}

/// What an event needs of a log record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogRecord {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    pub severity_number: u64,
    pub severity_text: String,
    pub body: Json,
    pub attributes: Attributes,
}

/// Reads a log record.
pub fn log_record(bytes: &[u8]) -> Result<LogRecord, WireError> {
    let mut record = LogRecord::default();
    for f in fields(bytes) {
        let f = f?;
        match (f.number, f.value) {
            (1, Value::Fixed64(t)) => record.time_unix_nano = u64::from_le_bytes(*t),
            (2, Value::Varint(n)) => record.severity_number = n,
            (3, Value::Bytes(s)) => record.severity_text = String::from_utf8_lossy(s).into_owned(),
            (5, Value::Bytes(body)) => record.body = any_value(body, 0)?,
            (6, Value::Bytes(kv)) => push_attribute(kv, &mut record.attributes)?,
            (9, Value::Bytes(b)) => record.trace_id = nonzero_id(b),
            (10, Value::Bytes(b)) => record.span_id = nonzero_id(b),
            (11, Value::Fixed64(t)) => record.observed_time_unix_nano = u64::from_le_bytes(*t),
            _ => {}
        }
    }
    Ok(record)
}

/// The attribute keys that make a log record an exception (OpenTelemetry's exception
/// conventions for logs).
const LOG_EXCEPTION_KEYS: [&[u8]; 2] = [b"exception.type", b"exception.message"];

/// Whether a log record's attributes name an exception: their keys are compared, their
/// values not read.
pub fn log_has_exception(bytes: &[u8]) -> Result<bool, WireError> {
    for f in fields(bytes) {
        let f = f?;
        let (6, Some(kv)) = (f.number, f.bytes()) else {
            continue;
        };
        for k in fields(kv) {
            let k = k?;
            if let (1, Some(key)) = (k.number, k.bytes()) {
                if LOG_EXCEPTION_KEYS.contains(&key) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// An `InstrumentationScope`'s name.
pub fn scope_name(bytes: &[u8]) -> Result<Option<String>, WireError> {
    for f in fields(bytes) {
        let f = f?;
        if let (1, Value::Bytes(name)) = (f.number, f.value) {
            return Ok(Some(String::from_utf8_lossy(name).into_owned()));
        }
    }
    Ok(None)
}

/// A `Resource`'s attributes.
pub fn resource_attributes(bytes: &[u8]) -> Result<Attributes, WireError> {
    let mut attributes = Attributes::new();
    for f in fields(bytes) {
        let f = f?;
        if let (1, Some(kv)) = (f.number, f.bytes()) {
            push_attribute(kv, &mut attributes)?;
        }
    }
    Ok(attributes)
}
