//! An `event` item's payload as relay's event processing sees it: what makes relay drop the
//! event after the envelope was answered 200 (with an `invalid` outcome), and what it would
//! change or remove in an event it keeps (an error in the event's `_meta`). Pure functions; the
//! stand-in records a kept event as relay would store it (`event_normalize`: its limits, the
//! 250-frame cut, `logentry`, frames' source context, with relay's `_meta`), with these notes
//! next to it. Values relay removes as invalid stay in the stored event as received, noted.
//!
//! Mirrored from relay (getsentry/relay):
//! - relay-server `src/services/processor/event.rs`: the payload is parsed with
//!   `Annotated::<Event>::from_json_bytes` (not JSON: `ProcessingError::InvalidJson`, outcome
//!   `invalid_json`); `finalize` drops an event whose payload is no object (`null`, an array,
//!   a string: `ProcessingError::NoEventPayload`, outcome `no_event_payload`) and overwrites the
//!   payload's `event_id` with the envelope header's.
//! - relay-event-normalization `src/event.rs` (`normalize`, `normalize_timestamps`,
//!   `normalize_platform_and_level`, `normalize_exception`) and `src/timestamp.rs`
//!   (`TimestampProcessor`): a timestamp more than `max_secs_in_future` (60 s) ahead or more than
//!   `max_secs_in_past` (30 days, relay-config) behind the time received is moved to the time
//!   received with a `future_timestamp` / `past_timestamp` error (`ClockDriftProcessor`,
//!   `src/clock_drift.rs`, which shifts `start_timestamp` by the same amount); an unparsable one
//!   is removed and replaced by the time received; a `start_timestamp` before 1970 afterwards
//!   rejects the whole event ("timestamp is too stale", outcome `invalid_transaction`, for error
//!   events too). A `level` not in `debug info log warning error fatal critical` (or Python's
//!   10..50) is removed and defaulted to `error`; a `platform` outside relay-event-schema
//!   `protocol/constants.rs` `VALID_PLATFORMS` becomes `other`. An exception with neither
//!   `type` nor `value` (empty strings count as missing; a type-less `value` of the form
//!   `Name: text` is split by `^(\w+):(.*)$`, so not over a line break) is removed ("missing
//!   attribute: type or value"), the event kept.
//! - relay-event-normalization `src/schema.rs` with relay-event-schema `protocol/stacktrace.rs`:
//!   `stacktrace.frames` is required and non-empty (else removed, event kept); frames have no
//!   required field (the "at least filename, function or instruction_addr" of the docs is not
//!   enforced), but a field of the wrong type (`lineno` not a non-negative number, `in_app` not a
//!   boolean, `context_line` not a string, `pre_context` / `post_context` not a list) is removed,
//!   a source line that is no string becomes `""`.
//! - relay-event-schema `protocol/mechanism.rs` (`Mechanism::from_value`) and
//!   relay-event-normalization `src/mechanism.rs` (`normalize_mechanism`): `{}` is no mechanism;
//!   an object without a `type` key is read as a legacy mechanism (type `generic`, every other
//!   field moved under `data`: `handled` and the exception-group fields are lost); `type` is
//!   required and non-empty; `handled`, `synthetic`, `is_exception_group` are booleans,
//!   `exception_id` and `parent_id` unsigned integers (a float rounded down), `source` a
//!   non-empty string without whitespace, `help_link` an `http://` or `https://` URL; each
//!   otherwise removed. Relay does not check an exception group's tree: duplicate
//!   `exception_id`s, a `parent_id` naming no exception, a group flag on a leaf are all kept.
//! - relay-event-schema `protocol/event.rs`: `logger` denies `\r` and `\n` (removed);
//!   `logger`, `transaction`, `culprit` are strings.
//! - Release and environment: relay's `validate_release` / `validate_environment` remove a value
//!   Sentry would refuse (Sentry's documented rules: a release of at most 200 characters, not
//!   `.`, `..` or `latest`, without newline, tab, `/` or `\`; an environment of at most 64
//!   characters without newline, `/` or `\x0c`).
//! - The payload size (`max_event_size`, 1 MiB) is checked at the endpoint (`envelope`, 413).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::event_normalize;

/// `processing.max_secs_in_future` (relay-config default).
pub const MAX_SECS_IN_FUTURE: f64 = 60.0;
/// `processing.max_secs_in_past` (relay-config default: 30 days).
pub const MAX_SECS_IN_PAST: f64 = 30.0 * 24.0 * 3600.0;

/// relay-event-schema `protocol/constants.rs` `VALID_PLATFORMS`.
pub const VALID_PLATFORMS: &[&str] = &[
    "as3",
    "c",
    "cfml",
    "cocoa",
    "csharp",
    "elixir",
    "go",
    "groovy",
    "haskell",
    "java",
    "javascript",
    "native",
    "node",
    "objc",
    "other",
    "perl",
    "php",
    "python",
    "ruby",
];

/// Why relay drops an event after its envelope was accepted: the outcome's discard reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    InvalidJson,
    NoEventPayload,
    InvalidTransaction,
}

impl Discard {
    pub fn as_str(self) -> &'static str {
        match self {
            Discard::InvalidJson => "invalid_json",
            Discard::NoEventPayload => "no_event_payload",
            Discard::InvalidTransaction => "invalid_transaction",
        }
    }
}

/// A value relay's normalization changes or removes in a kept event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Where, as relay's `_meta` paths read (`exception.values.0.stacktrace.frames`).
    pub path: String,
    /// What relay does about it.
    pub problem: String,
}

/// An event relay keeps: the payload as relay would store it and what relay would change in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub event: Value,
    pub notes: Vec<Note>,
}

/// Checks an event payload received at `now` (seconds since the Unix epoch).
pub fn check(payload: &[u8], now: f64) -> Result<Checked, Discard> {
    let mut event: Value = serde_json::from_slice(payload).map_err(|_| Discard::InvalidJson)?;
    let Value::Object(fields) = &mut event else {
        return Err(Discard::NoEventPayload);
    };
    let mut notes = Notes::default();
    check_fields(fields, now, &mut notes)?;
    event_normalize::normalize(fields, &mut notes.0);
    Ok(Checked {
        notes: notes.0,
        event,
    })
}

/// The checks of what relay drops or removes, on the event as received.
fn check_fields(fields: &Map<String, Value>, now: f64, notes: &mut Notes) -> Result<(), Discard> {
    event_id(fields, notes);
    timestamps(fields, now, notes)?;
    level(fields, notes);
    platform(fields, notes);
    release_and_environment(fields, notes);
    strings(fields, notes);
    if let Some(exception) = present(fields, "exception") {
        exceptions(exception, notes);
    }
    if let Some(trace) = fields
        .get("contexts")
        .and_then(|c| c.get("trace"))
        .filter(|t| !t.is_null())
    {
        trace_context(trace, notes);
    }
    if let Some(tags) = present(fields, "tags") {
        check_tags(tags, notes);
    }
    Ok(())
}

#[derive(Default)]
struct Notes(Vec<Note>);

impl Notes {
    fn add(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.0.push(Note {
            path: path.into(),
            problem: problem.into(),
        });
    }
}

/// A field that is there and not `null` (relay reads `null` as missing).
fn present<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    fields.get(key).filter(|v| !v.is_null())
}

/// A UUID with or without dashes (relay's `EventId`, `TraceId`: `Uuid::parse_str`), also
/// braced or as a URN.
pub fn is_uuid(s: &str) -> bool {
    let s = s.strip_prefix("urn:uuid:").unwrap_or(s);
    let s = s
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(s);
    let hex =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit());
    match s.len() {
        32 => hex(s, 32),
        36 => {
            let parts: Vec<&str> = s.split('-').collect();
            parts.len() == 5
                && [8, 4, 4, 4, 12]
                    .iter()
                    .zip(&parts)
                    .all(|(&len, part)| hex(part, len))
        }
        _ => false,
    }
}

fn event_id(fields: &Map<String, Value>, notes: &mut Notes) {
    if let Some(id) = present(fields, "event_id") {
        if !id.as_str().is_some_and(is_uuid) {
            notes.add(
                "event_id",
                "invalid_data: not a UUID; relay sets the envelope's event id",
            );
        }
    }
}

/// Relay's `Timestamp` from a JSON value: seconds as a number, or a string in RFC 3339 (an
/// offset, or none for UTC). `None`: invalid.
pub fn timestamp_secs(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => parse_datetime(s),
        _ => None,
    }
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM]`, no offset meaning UTC.
fn parse_datetime(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut fraction = 0.0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        fraction = format!("0.{}", &frac[..n]).parse().ok()?;
        rest = &frac[n..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = &rest[1..];
            let (h, m) = match hm.len() {
                5 if hm.as_bytes()[2] == b':' => (hm.get(..2)?, hm.get(3..)?),
                4 => (hm.get(..2)?, hm.get(2..)?),
                _ => return None,
            };
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(secs as f64 + fraction)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `normalize_timestamps` (clock drift to the time received) and `TimestampProcessor`.
fn timestamps(fields: &Map<String, Value>, now: f64, notes: &mut Notes) -> Result<(), Discard> {
    let mut drift = 0.0;
    if let Some(value) = present(fields, "timestamp") {
        match timestamp_secs(value) {
            None => notes.add(
                "timestamp",
                "invalid_data: not a timestamp; relay uses the time received",
            ),
            Some(ts) if ts > now + MAX_SECS_IN_FUTURE => {
                notes.add(
                    "timestamp",
                    "future_timestamp: more than 60 s ahead; relay moves it to the time received",
                );
                drift = now - ts;
            }
            Some(ts) if ts < now - MAX_SECS_IN_PAST => {
                notes.add(
                    "timestamp",
                    "past_timestamp: more than 30 days old; relay moves it to the time received",
                );
                drift = now - ts;
            }
            Some(_) => {}
        }
    }
    if let Some(value) = present(fields, "start_timestamp") {
        match timestamp_secs(value) {
            None => notes.add("start_timestamp", "invalid_data: not a timestamp; removed"),
            Some(start) if start + drift < 0.0 => return Err(Discard::InvalidTransaction),
            Some(_) => {}
        }
    }
    Ok(())
}

fn level(fields: &Map<String, Value>, notes: &mut Notes) {
    let Some(value) = present(fields, "level") else {
        return;
    };
    let ok = match value {
        Value::String(s) => matches!(
            s.as_str(),
            "debug" | "info" | "log" | "warning" | "error" | "fatal" | "critical"
        ),
        Value::Number(n) => matches!(n.as_u64(), Some(10 | 20 | 30 | 40 | 50)),
        _ => false,
    };
    if !ok {
        notes.add(
            "level",
            "invalid_data: unknown level; relay removes it and uses error",
        );
    }
}

fn platform(fields: &Map<String, Value>, notes: &mut Notes) {
    let Some(value) = present(fields, "platform") else {
        return;
    };
    if !value.as_str().is_some_and(|p| VALID_PLATFORMS.contains(&p)) {
        notes.add(
            "platform",
            "not one of relay's VALID_PLATFORMS; relay sets other",
        );
    }
}

fn release_and_environment(fields: &Map<String, Value>, notes: &mut Notes) {
    if let Some(release) = present(fields, "release") {
        let ok = release.as_str().is_some_and(|r| {
            let r = r.trim();
            !r.is_empty()
                && r.chars().count() <= 200
                && !matches!(r, "." | ".." | "latest")
                && !r.contains(['\r', '\n', '\t', '\x0c', '/', '\\'])
        });
        if !ok {
            notes.add("release", "invalid_data: not a valid release; removed");
        }
    }
    if let Some(environment) = present(fields, "environment") {
        let ok = environment
            .as_str()
            .is_some_and(|e| e.chars().count() <= 64 && !e.contains(['\r', '\n', '\x0c', '/']));
        if !ok {
            notes.add(
                "environment",
                "invalid_data: not a valid environment; removed",
            );
        }
    }
}

/// `exception` is `{"values": [...]}` or, as relay's `Values` also reads it, a bare list.
fn exceptions(value: &Value, notes: &mut Notes) {
    let (values, path) = match value {
        // relay's `Values` reads a bare list as `values` (and stores it so: `event_normalize`).
        Value::Array(values) => (values, "exception.values"),
        Value::Object(o) => match o.get("values") {
            Some(Value::Array(values)) => (values, "exception.values"),
            None | Some(Value::Null) => {
                notes.add("exception.values", "missing_attribute: values is required");
                return;
            }
            Some(_) => {
                notes.add("exception.values", "invalid_data: expected a list");
                return;
            }
        },
        _ => {
            notes.add("exception", "invalid_data: expected exception values");
            return;
        }
    };
    if values.is_empty() {
        notes.add(path, "expected a non-empty value; removed");
    }
    for (i, exception) in values.iter().enumerate() {
        exception_value(exception, &format!("{path}.{i}"), notes);
    }
}

fn exception_value(value: &Value, path: &str, notes: &mut Notes) {
    let Value::Object(e) = value else {
        if !value.is_null() {
            notes.add(path, "invalid_data: expected an exception");
        }
        return;
    };
    let ty_empty = match e.get("type") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => {
            notes.add(format!("{path}.type"), "invalid_data: expected a string");
            true
        }
    };
    // `JsonLenientString`: anything but `null` becomes a string.
    let value_str = match e.get("value") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    // relay's `^(\w+):(.*)$`: `.` stops at a newline, so a multi-line value is not split.
    let splits_into_type = value_str.split_once(':').is_some_and(|(name, rest)| {
        !name.is_empty() && name.chars().all(is_word_char) && !rest.contains('\n')
    });
    if ty_empty && value_str.is_empty() {
        notes.add(
            path,
            "missing_attribute: type or value; relay removes the exception",
        );
    } else if ty_empty && splits_into_type {
        notes.add(
            format!("{path}.type"),
            "missing; relay takes it from the value's `Name:` prefix",
        );
    }
    if let Some(mechanism) = present(e, "mechanism") {
        check_mechanism(mechanism, &format!("{path}.mechanism"), notes);
    }
    if let Some(stacktrace) = present(e, "stacktrace") {
        check_stacktrace(stacktrace, &format!("{path}.stacktrace"), notes);
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// relay-event-schema `protocol/mechanism.rs` (`Mechanism::from_value` and the schema attributes)
/// and relay-event-normalization `src/mechanism.rs` `normalize_mechanism`. The exception-group
/// fields are checked for their types only: relay checks neither that `exception_id`s are unique
/// nor that a `parent_id` names one, nor how `is_exception_group` and `source` fit the tree
/// (Sentry's grouping reads the tree as it is).
fn check_mechanism(value: &Value, path: &str, notes: &mut Notes) {
    let Value::Object(m) = value else {
        notes.add(path, "invalid_data: expected a mechanism");
        return;
    };
    if m.is_empty() {
        return; // relay reads `{}` as no mechanism
    }
    if !m.contains_key("type") {
        notes.add(
            format!("{path}.type"),
            "no `type`: relay reads a legacy mechanism, stores type `generic` and moves every \
             other field (handled, exception_id, parent_id, ...) under `data`",
        );
        return;
    }
    match m.get("type") {
        Some(Value::String(ty)) if ty.is_empty() => notes.add(
            format!("{path}.type"),
            "expected a non-empty string; removed",
        ),
        Some(Value::String(_)) => {}
        Some(Value::Null) | None => notes.add(
            format!("{path}.type"),
            "missing_attribute: type is required",
        ),
        Some(_) => notes.add(format!("{path}.type"), "invalid_data: expected a string"),
    }
    for key in ["handled", "synthetic", "is_exception_group"] {
        if m.get(key).is_some_and(|h| !h.is_boolean() && !h.is_null()) {
            notes.add(format!("{path}.{key}"), "invalid_data: expected a boolean");
        }
    }
    for key in ["exception_id", "parent_id"] {
        match m.get(key) {
            None | Some(Value::Null) => {}
            Some(v) if v.is_u64() => {}
            Some(v) if v.as_f64().is_some_and(|f| f >= 0.0) => notes.add(
                format!("{path}.{key}"),
                "not an integer: relay rounds it down",
            ),
            Some(_) => notes.add(
                format!("{path}.{key}"),
                "invalid_data: expected an unsigned integer; removed",
            ),
        }
    }
    match m.get("source") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => notes.add(
            format!("{path}.source"),
            "expected a non-empty string; removed",
        ),
        Some(Value::String(s)) if s.contains([' ', '\t', '\r', '\n']) => notes.add(
            format!("{path}.source"),
            "invalid character (whitespace is denied); removed",
        ),
        Some(Value::String(_)) => {}
        Some(_) => notes.add(format!("{path}.source"), "invalid_data: expected a string"),
    }
    if m.get("description")
        .is_some_and(|d| !d.is_string() && !d.is_null())
    {
        notes.add(
            format!("{path}.description"),
            "invalid_data: expected a string",
        );
    }
    match m.get("help_link") {
        None | Some(Value::Null) => {}
        Some(Value::String(link)) if link.is_empty() => notes.add(
            format!("{path}.help_link"),
            "expected a non-empty string; removed",
        ),
        Some(Value::String(link))
            if !(link.starts_with("http://") || link.starts_with("https://")) =>
        {
            notes.add(
                format!("{path}.help_link"),
                "invalid_data: expected http URL; removed",
            )
        }
        Some(Value::String(_)) => {}
        Some(_) => notes.add(
            format!("{path}.help_link"),
            "invalid_data: expected a string",
        ),
    }
}

/// The event's strings relay's schema constrains beyond their type (relay-event-schema
/// `protocol/event.rs`): `logger` denies `\r` and `\n` (removed), `transaction` and `culprit`
/// are strings. Their lengths are `event_normalize`'s.
fn strings(fields: &Map<String, Value>, notes: &mut Notes) {
    for key in ["logger", "transaction", "culprit"] {
        match present(fields, key) {
            None | Some(Value::String(_)) => {}
            Some(_) => notes.add(key, "invalid_data: expected a string; removed"),
        }
    }
    if let Some(Value::String(logger)) = present(fields, "logger") {
        if logger.contains(['\r', '\n']) {
            notes.add("logger", "invalid character (a line break); removed");
        }
    }
}

fn check_stacktrace(value: &Value, path: &str, notes: &mut Notes) {
    let Value::Object(s) = value else {
        notes.add(path, "invalid_data: expected a stacktrace");
        return;
    };
    let frames_path = format!("{path}.frames");
    let frames = match s.get("frames") {
        None | Some(Value::Null) => {
            notes.add(frames_path, "missing_attribute: frames is required");
            return;
        }
        Some(Value::Array(frames)) => frames,
        Some(_) => {
            notes.add(frames_path, "invalid_data: expected a list");
            return;
        }
    };
    if frames.is_empty() {
        notes.add(&frames_path, "expected a non-empty value; removed");
    }
    for (i, frame) in frames.iter().enumerate() {
        check_frame(frame, &format!("{frames_path}.{i}"), notes);
    }
}

fn check_frame(value: &Value, path: &str, notes: &mut Notes) {
    let Value::Object(f) = value else {
        if !value.is_null() {
            notes.add(path, "invalid_data: expected a frame");
        }
        return;
    };
    for key in ["function", "module", "filename", "abs_path", "package"] {
        if f.get(key).is_some_and(|v| !v.is_string() && !v.is_null()) {
            notes.add(format!("{path}.{key}"), "invalid_data: expected a string");
        }
    }
    // relay reads a non-negative float as an unsigned integer, rounded (`event_normalize`).
    for key in ["lineno", "colno"] {
        let unsigned = |v: &Value| v.as_f64().is_some_and(|f| f >= 0.0);
        if f.get(key).is_some_and(|v| !unsigned(v) && !v.is_null()) {
            notes.add(
                format!("{path}.{key}"),
                "invalid_data: expected an unsigned integer",
            );
        }
    }
    if f.get("context_line")
        .is_some_and(|v| !v.is_string() && !v.is_null())
    {
        notes.add(
            format!("{path}.context_line"),
            "invalid_data: expected a string; removed",
        );
    }
    for key in ["pre_context", "post_context"] {
        match f.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(lines)) => {
                for (i, line) in lines.iter().enumerate() {
                    if !line.is_string() && !line.is_null() {
                        notes.add(
                            format!("{path}.{key}.{i}"),
                            "invalid_data: expected a string; relay stores \"\"",
                        );
                    }
                }
            }
            Some(_) => notes.add(
                format!("{path}.{key}"),
                "invalid_data: expected a list of lines; removed",
            ),
        }
    }
    if f.get("in_app")
        .is_some_and(|v| !v.is_boolean() && !v.is_null())
    {
        notes.add(format!("{path}.in_app"), "invalid_data: expected a boolean");
    }
}

/// 16 hex digits (relay's `SpanId`).
pub fn is_span_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn trace_context(value: &Value, notes: &mut Notes) {
    let Value::Object(t) = value else {
        notes.add("contexts.trace", "invalid_data: expected a context");
        return;
    };
    if let Some(id) = present(t, "trace_id") {
        if !id.as_str().is_some_and(is_uuid) {
            notes.add(
                "contexts.trace.trace_id",
                "invalid_data: not 32 hex digits; removed",
            );
        }
    }
    for key in ["span_id", "parent_span_id"] {
        if let Some(id) = present(t, key) {
            if !id.as_str().is_some_and(is_span_id) {
                notes.add(
                    format!("contexts.trace.{key}"),
                    "invalid_data: not 16 hex digits; removed",
                );
            }
        }
    }
}

/// Tags: an object or a list of pairs; relay's `MaxChars::TagKey` / `TagValue` are 200.
fn check_tags(value: &Value, notes: &mut Notes) {
    let pairs: Vec<(String, &Value)> = match value {
        Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(list) => list
            .iter()
            .filter_map(|p| match p.as_array().map(Vec::as_slice) {
                Some([Value::String(k), v]) => Some((k.clone(), v)),
                _ => None,
            })
            .collect(),
        _ => {
            notes.add("tags", "invalid_data: expected tags");
            return;
        }
    };
    for (key, value) in pairs {
        let path = format!("tags.{key}");
        if key.is_empty() || key.chars().count() > 200 {
            notes.add(
                path.clone(),
                "invalid tag key (empty or over 200 characters); removed",
            );
        }
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if text.is_empty() || text.chars().count() > 200 {
            notes.add(
                path,
                "invalid tag value (empty or over 200 characters); removed",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: f64 = 1_767_225_600.0; // 2026-01-01T00:00:00Z

    /// An event as the exporter sends one, with every field relay checks set validly and nothing
    /// relay's normalization would change (frames with both `filename` and `abs_path`).
    fn valid() -> Value {
        json!({
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "timestamp": NOW - 5.0,
            "platform": "python",
            "level": "error",
            "logger": "checkout",
            "release": "1.2.3",
            "environment": "staging",
            "server_name": "host-1",
            "transaction": "POST /checkout",
            "tags": {"service": "checkout"},
            "contexts": {"trace": {
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                "span_id": "00f067aa0ba902b7",
                "parent_span_id": "00f067aa0ba902b8",
                "op": "http.server",
                "status": "internal_error"
            }},
            "exception": {"values": [
                {"type": "KeyError", "value": "'card'"},
                {"type": "ValueError", "value": "card declined 1234",
                 "mechanism": {"type": "otelcol-sentry", "handled": false},
                 "stacktrace": {"frames": [
                    {"function": "main", "module": "app", "filename": "app.py", "abs_path": "/srv/app.py", "lineno": 3, "in_app": true},
                    {"function": "raise_checkout_error", "filename": "app.py", "abs_path": "/srv/app.py", "lineno": 10, "in_app": true}
                 ]}}
            ]}
        })
    }

    /// `valid()` with one field (a `/`-separated path) replaced, or removed when `None`.
    fn with(path: &str, value: Option<Value>) -> Vec<u8> {
        let mut event = valid();
        let keys: Vec<&str> = path.split('/').collect();
        let (last, parents) = keys.split_last().expect("path");
        let mut at = &mut event;
        for key in parents {
            at = match key.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*key],
            };
        }
        match (at, value) {
            (Value::Object(o), Some(v)) => {
                o.insert(last.to_string(), v);
            }
            (Value::Object(o), None) => {
                o.remove(*last);
            }
            (Value::Array(a), Some(v)) => a[last.parse::<usize>().expect("index")] = v,
            _ => panic!("bad path {path}"),
        }
        serde_json::to_vec(&event).expect("json")
    }

    fn paths(payload: &[u8]) -> Vec<String> {
        let checked = check(payload, NOW).expect("kept");
        checked.notes.into_iter().map(|n| n.path).collect()
    }

    #[test]
    fn a_valid_event_is_kept_as_received_without_notes() {
        let payload = serde_json::to_vec(&valid()).expect("json");
        let checked = check(&payload, NOW).expect("kept");
        assert_eq!(checked.event, valid());
        assert!(checked.notes.is_empty(), "{:?}", checked.notes);
        // The smallest event relay keeps: an object.
        assert!(check(b"{}", NOW).is_ok_and(|c| c.notes.is_empty()));
    }

    #[test]
    fn events_relay_drops_after_answering() {
        let start_before_1970 = with("start_timestamp", Some(json!(-1.0)));
        let cases: [(&str, &[u8], Discard); 7] = [
            ("not json", b"{\"a\":", Discard::InvalidJson),
            ("trailing garbage", b"{} x", Discard::InvalidJson),
            ("null", b"null", Discard::NoEventPayload),
            ("array", b"[]", Discard::NoEventPayload),
            ("string", b"\"event\"", Discard::NoEventPayload),
            ("number", b"1", Discard::NoEventPayload),
            (
                "start_timestamp before 1970",
                &start_before_1970,
                Discard::InvalidTransaction,
            ),
        ];
        for (name, payload, want) in cases {
            assert_eq!(check(payload, NOW).err(), Some(want), "{name}");
        }
    }

    #[test]
    fn event_ids() {
        for (name, id, noted) in [
            ("32 hex", json!("9ec79c33ec9942ab8353589fcb2e04dc"), false),
            (
                "dashes",
                json!("9ec79c33-ec99-42ab-8353-589fcb2e04dc"),
                false,
            ),
            (
                "upper case",
                json!("9EC79C33EC9942AB8353589FCB2E04DC"),
                false,
            ),
            (
                "braced",
                json!("{9ec79c33-ec99-42ab-8353-589fcb2e04dc}"),
                false,
            ),
            ("null", Value::Null, false),
            ("31 hex", json!("9ec79c33ec9942ab8353589fcb2e04d"), true),
            ("not hex", json!("9ec79c33ec9942ab8353589fcb2e04zz"), true),
            (
                "dashes misplaced",
                json!("9ec79c33e-c99-42ab-8353-589fcb2e04dc"),
                true,
            ),
            ("number", json!(12), true),
        ] {
            let notes = paths(&with("event_id", Some(id)));
            assert_eq!(notes == ["event_id"], noted, "{name}: {notes:?}");
        }
    }

    #[test]
    fn timestamps_are_numbers_or_rfc3339_and_clamped_not_dropped() {
        for (name, ts, note) in [
            ("seconds", json!(NOW - 1.5), None),
            ("integer seconds", json!(NOW as u64), None),
            ("rfc3339 Z", json!("2025-12-31T23:59:00Z"), None),
            (
                "rfc3339 fraction",
                json!("2025-12-31T23:59:00.123456Z"),
                None,
            ),
            ("offset", json!("2026-01-01T01:00:00+01:00"), None),
            ("no offset is UTC", json!("2025-12-31T23:59:59"), None),
            ("space separator", json!("2025-12-31 23:59:59Z"), None),
            ("59 s ahead", json!(NOW + 59.0), None),
            ("61 s ahead", json!(NOW + 61.0), Some("future_timestamp")),
            (
                "offset makes it future",
                json!("2026-01-01T00:02:00-01:00"),
                Some("future_timestamp"),
            ),
            ("29 days old", json!(NOW - 29.0 * 86_400.0), None),
            (
                "31 days old",
                json!(NOW - 31.0 * 86_400.0),
                Some("past_timestamp"),
            ),
            ("before 1970", json!(-5), Some("past_timestamp")),
            ("date only", json!("2025-12-31"), Some("invalid_data")),
            (
                "no such day",
                json!("2025-02-29T00:00:00Z"),
                Some("invalid_data"),
            ),
            ("numeric string", json!("1767225600"), Some("invalid_data")),
            ("bool", json!(true), Some("invalid_data")),
        ] {
            let checked = check(&with("timestamp", Some(ts)), NOW).expect(name);
            let got: Vec<&str> = checked
                .notes
                .iter()
                .map(|n| n.problem.split(':').next().unwrap_or_default())
                .collect();
            assert_eq!(got, note.into_iter().collect::<Vec<_>>(), "{name}");
        }
        // The drift that corrects a past timestamp also moves the start: no longer before 1970.
        let mut event = valid();
        event["timestamp"] = json!(-5);
        event["start_timestamp"] = json!(-10);
        let payload = serde_json::to_vec(&event).expect("json");
        assert!(check(&payload, NOW).is_ok());
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_datetime("2000-03-01T00:00:00Z"), Some(951_868_800.0));
    }

    #[test]
    fn levels_and_platforms() {
        for (name, level, noted) in [
            ("error", json!("error"), false),
            ("warning", json!("warning"), false),
            ("log", json!("log"), false),
            ("critical", json!("critical"), false),
            ("python 40", json!(40), false),
            ("warn", json!("warn"), true),
            ("ERROR", json!("ERROR"), true),
            ("python 41", json!(41), true),
        ] {
            assert_eq!(
                paths(&with("level", Some(level))) == ["level"],
                noted,
                "{name}"
            );
        }
        for (platform, noted) in [
            ("python", false),
            ("node", false),
            ("javascript", false),
            ("go", false),
            ("java", false),
            ("nodejs", true),
            ("dotnet", true),
            ("Python", true),
        ] {
            let notes = paths(&with("platform", Some(json!(platform))));
            assert_eq!(notes == ["platform"], noted, "{platform}");
        }
    }

    #[test]
    fn releases_and_environments() {
        for (name, field, value, noted) in [
            ("release", "release", "checkout@1.2.3+abc", false),
            ("release latest", "release", "latest", true),
            ("release slash", "release", "a/b", true),
            ("release newline", "release", "1.0\n", false),
            ("release empty", "release", "", true),
            ("environment", "environment", "production", false),
            ("environment slash", "environment", "prod/eu", true),
            ("environment long", "environment", &"e".repeat(65), true),
        ] {
            let notes = paths(&with(field, Some(json!(value))));
            assert_eq!(notes == [field], noted, "{name}: {notes:?}");
        }
    }

    #[test]
    fn exceptions_need_a_type_or_a_value() {
        let e = "exception/values/0";
        for (name, path, value, want) in [
            ("no type", "exception/values/0/type", None, vec![]),
            ("no value", "exception/values/0/value", None, vec![]),
            (
                "empty type, value",
                "exception/values/0/type",
                Some(json!("")),
                vec![],
            ),
            (
                "neither",
                e,
                Some(json!({"module": "x"})),
                vec!["exception.values.0"],
            ),
            (
                "both empty",
                e,
                Some(json!({"type": "", "value": ""})),
                vec!["exception.values.0"],
            ),
            (
                "type from value",
                e,
                Some(json!({"value": "ValueError: bad"})),
                vec!["exception.values.0.type"],
            ),
            (
                "object value is lenient",
                e,
                Some(json!({"value": {"a": 1}})),
                vec![],
            ),
            (
                "no values",
                "exception",
                Some(json!({"values": []})),
                vec!["exception.values"],
            ),
            (
                "bare list",
                "exception",
                Some(json!([{"type": "E"}])),
                vec![],
            ),
            (
                "values missing",
                "exception",
                Some(json!({})),
                vec!["exception.values"],
            ),
            (
                "mechanism without type",
                "exception/values/1/mechanism",
                Some(json!({"handled": false})),
                vec!["exception.values.1.mechanism.type"],
            ),
            (
                "handled not bool",
                "exception/values/1/mechanism/handled",
                Some(json!("no")),
                vec!["exception.values.1.mechanism.handled"],
            ),
        ] {
            assert_eq!(paths(&with(path, value)), want, "{name}");
        }
    }

    #[test]
    fn stacktraces_need_frames_and_typed_fields() {
        let st = "exception/values/1/stacktrace";
        let f = "exception/values/1/stacktrace/frames/1";
        let p = "exception.values.1.stacktrace.frames";
        for (name, path, value, want) in [
            ("no frames", st, Some(json!({})), vec![p.to_string()]),
            (
                "empty frames",
                st,
                Some(json!({"frames": []})),
                vec![p.to_string()],
            ),
            // Relay requires no field of a frame: the docs' "at least one" is not enforced.
            (
                "frame with lineno only",
                f,
                Some(json!({"lineno": 1})),
                vec![],
            ),
            ("empty frame", f, Some(json!({})), vec![]),
            (
                "negative lineno",
                &*format!("{f}/lineno"),
                Some(json!(-1)),
                vec![format!("{p}.1.lineno")],
            ),
            (
                "string lineno",
                &*format!("{f}/lineno"),
                Some(json!("10")),
                vec![format!("{p}.1.lineno")],
            ),
            (
                "in_app string",
                &*format!("{f}/in_app"),
                Some(json!("true")),
                vec![format!("{p}.1.in_app")],
            ),
            (
                "function number",
                &*format!("{f}/function"),
                Some(json!(1)),
                vec![format!("{p}.1.function")],
            ),
        ] {
            assert_eq!(paths(&with(path, value)), want, "{name}");
        }
    }

    #[test]
    fn trace_context_and_tags() {
        let t = "contexts/trace";
        for (name, path, value, want) in [
            (
                "trace id dashes",
                &*format!("{t}/trace_id"),
                json!("4bf92f35-77b3-4da6-a3ce-929d0e0e4736"),
                vec![],
            ),
            (
                "trace id short",
                &*format!("{t}/trace_id"),
                json!("4bf92f3577b34da6"),
                vec!["contexts.trace.trace_id"],
            ),
            (
                "span id long",
                &*format!("{t}/span_id"),
                json!("00f067aa0ba902b7ff"),
                vec!["contexts.trace.span_id"],
            ),
            (
                "parent not hex",
                &*format!("{t}/parent_span_id"),
                json!("00f067aa0ba902bx"),
                vec!["contexts.trace.parent_span_id"],
            ),
            ("tag empty", "tags/service", json!(""), vec!["tags.service"]),
            (
                "tag long",
                "tags/service",
                json!("v".repeat(201)),
                vec!["tags.service"],
            ),
            ("tag number", "tags/service", json!(3), vec![]),
            ("tags as pairs", "tags", json!([["a", "b"]]), vec![]),
        ] {
            assert_eq!(paths(&with(path, Some(value))), want, "{name}");
        }
    }

    /// relay-event-schema `protocol/mechanism.rs` (`Mechanism::from_value`, the schema's
    /// `required`, `nonempty`, `deny_chars`) and relay-event-normalization `src/mechanism.rs`
    /// `normalize_mechanism` (`help_link`): what relay removes from a mechanism. The exporter's
    /// exception-group fields are accepted as relay accepts them.
    #[test]
    fn mechanisms_as_relay_reads_them() {
        let m = "exception/values/1/mechanism";
        let p = "exception.values.1.mechanism";
        let group = json!({"type": "chained", "handled": true, "source": "exceptions[0]",
            "is_exception_group": false, "exception_id": 1, "parent_id": 0});
        for (name, mechanism, want) in [
            ("an exception group member", group.clone(), vec![]),
            ("empty: no mechanism", json!({}), vec![]),
            (
                "no type key: legacy",
                json!({"handled": false, "exception_id": 1}),
                vec!["type"],
            ),
            ("type null", json!({"type": null}), vec!["type"]),
            ("type empty", json!({"type": ""}), vec!["type"]),
            ("type number", json!({"type": 3}), vec!["type"]),
            (
                "flags not booleans",
                json!({"type": "t", "handled": "no", "synthetic": 1, "is_exception_group": "true"}),
                vec!["handled", "synthetic", "is_exception_group"],
            ),
            (
                "ids negative or strings",
                json!({"type": "t", "exception_id": -1, "parent_id": "0"}),
                vec!["exception_id", "parent_id"],
            ),
            (
                "ids as floats are rounded",
                json!({"type": "t", "exception_id": 1.5}),
                vec!["exception_id"],
            ),
            (
                "source empty",
                json!({"type": "t", "source": ""}),
                vec!["source"],
            ),
            (
                "source with a space",
                json!({"type": "t", "source": "exceptions [0]"}),
                vec!["source"],
            ),
            (
                "source number",
                json!({"type": "t", "source": 0}),
                vec!["source"],
            ),
            (
                "help_link not http",
                json!({"type": "t", "help_link": "javascript:alert(1)"}),
                vec!["help_link"],
            ),
            (
                "help_link https",
                json!({"type": "t", "help_link": "https://example.com/"}),
                vec![],
            ),
        ] {
            let want: Vec<String> = want.iter().map(|k| format!("{p}.{k}")).collect();
            assert_eq!(paths(&with(m, Some(mechanism))), want, "{name}");
        }
    }

    /// Relay checks no exception group's tree (no rule in relay-event-normalization
    /// `src/event.rs` `normalize_exceptions` or relay-event-schema `protocol/mechanism.rs`):
    /// duplicate ids, a parent that does not exist, a group flag on a leaf are all kept.
    #[test]
    fn exception_group_trees_are_not_checked_by_relay() {
        let mut event = valid();
        event["exception"]["values"] = json!([
            {"type": "ValueError", "value": "a",
             "mechanism": {"type": "chained", "source": "exceptions[0]", "exception_id": 1, "parent_id": 7}},
            {"type": "KeyError", "value": "b",
             "mechanism": {"type": "chained", "source": "exceptions[1]", "exception_id": 1, "parent_id": 0,
                           "is_exception_group": true}},
            {"type": "ExceptionGroup", "value": "c",
             "mechanism": {"type": "generic", "exception_id": 0, "is_exception_group": true}},
        ]);
        let payload = serde_json::to_vec(&event).expect("json");
        let checked = check(&payload, NOW).expect("kept");
        assert!(checked.notes.is_empty(), "{:?}", checked.notes);
        assert_eq!(checked.event["exception"], event["exception"]);
    }

    /// relay-event-schema `protocol/event.rs` (`logger` denies line breaks, strings typed),
    /// `protocol/stacktrace.rs` (`context_line` a string, `pre_context` / `post_context` lists of
    /// strings, `lineno` an unsigned integer that may come as a float), and relay-event-
    /// normalization `src/normalize/mod.rs` `normalize_exception` (`^(\w+):(.*)$`: a value with a
    /// line break is not split).
    #[test]
    fn strings_source_context_and_split_values() {
        let f = "exception/values/1/stacktrace/frames/1";
        let p = "exception.values.1.stacktrace.frames.1";
        for (name, path, value, want) in [
            (
                "logger line break",
                "logger",
                json!("a\nb"),
                vec!["logger".to_string()],
            ),
            (
                "logger number",
                "logger",
                json!(1),
                vec!["logger".to_string()],
            ),
            (
                "transaction object",
                "transaction",
                json!({}),
                vec!["transaction".to_string()],
            ),
            (
                "culprit list",
                "culprit",
                json!([]),
                vec!["culprit".to_string()],
            ),
            (
                "context_line number",
                &*format!("{f}/context_line"),
                json!(3),
                vec![format!("{p}.context_line")],
            ),
            (
                "pre_context a string",
                &*format!("{f}/pre_context"),
                json!("x"),
                vec![format!("{p}.pre_context")],
            ),
            (
                "post_context with a number",
                &*format!("{f}/post_context"),
                json!(["ok", 2]),
                vec![format!("{p}.post_context.1")],
            ),
            (
                "source context is accepted",
                &*format!("{f}/pre_context"),
                json!(["def f():", null]),
                vec![],
            ),
            (
                "float lineno is rounded, not removed",
                &*format!("{f}/lineno"),
                json!(10.0),
                vec![],
            ),
            (
                "type split from the value",
                "exception/values/0",
                json!({"value": "ValueError: bad"}),
                vec!["exception.values.0.type".to_string()],
            ),
            (
                "no split over a line break",
                "exception/values/0",
                json!({"value": "ValueError: bad\nmore"}),
                vec![],
            ),
        ] {
            assert_eq!(paths(&with(path, Some(value))), want, "{name}");
        }
    }

    /// A kept event is stored as relay would store it (`event_normalize`): the exporter's new
    /// fields come through, 300 frames are cut to the newest 250 with `_meta`, and the note says
    /// so.
    #[test]
    fn kept_events_are_stored_normalized() {
        let mut event = valid();
        event["logentry"] = json!({"message": "reserve failed %s", "params": ["sku-42"]});
        let frames: Vec<Value> = (0..300)
            .map(|i| {
                json!({"function": format!("f{i}"), "filename": "a.py", "abs_path": "/a.py",
                "lineno": i + 1, "context_line": "x = 1", "in_app": true})
            })
            .collect();
        event["exception"]["values"][1]["stacktrace"]["frames"] = json!(frames);
        event["exception"]["values"][1]["module"] = json!("shop_errors");
        let payload = serde_json::to_vec(&event).expect("json");
        let checked = check(&payload, NOW).expect("kept");
        let stored = &checked.event;
        assert_eq!(
            stored["logentry"],
            json!({"message": "reserve failed %s", "formatted": "reserve failed sku-42", "params": ["sku-42"]})
        );
        let kept = &stored["exception"]["values"][1]["stacktrace"]["frames"];
        assert_eq!(kept.as_array().map(Vec::len), Some(250));
        // The 50 oldest and the 200 newest.
        assert_eq!(kept[49]["function"], "f49");
        assert_eq!(kept[50]["function"], "f100");
        assert_eq!(kept[249]["function"], "f299");
        assert_eq!(kept[249]["context_line"], "x = 1");
        assert_eq!(
            stored["_meta"]["exception"]["values"]["1"]["stacktrace"]["frames"][""],
            json!({"len": 300})
        );
        let notes: Vec<&str> = checked.notes.iter().map(|n| n.path.as_str()).collect();
        assert_eq!(notes, ["exception.values.1.stacktrace.frames"]);
    }
}
