//! What relay's normalization and trimming make of an error event it keeps, applied to the
//! event the stand-in stores, so that a test reads what Sentry would store and show: strings cut
//! to relay's limits, stack traces cut to 250 frames and slimmed, `logentry` normalized, frames'
//! source context completed, levels in their canonical names. Where relay records a change in the
//! event's `_meta` (a cut string, a cut frame list, a shortened Java logger), the stand-in writes
//! the same `_meta` entry. Pure functions.
//!
//! What is applied and what is noted: every change that loses or alters what the sender sent (a
//! cut, a removed placeholder, a slimmed frame) is applied and also listed as a note (the
//! event's `event_notes`); changes that keep all of it (`level: "log"` stored as `info`,
//! `logentry.formatted` filled from `message` and `params`, `context_line: ""` beside source
//! context, `abs_path` from `filename`, a bare exception list as `{"values": [...]}`) are applied
//! without a note. Values relay removes or replaces because they are invalid (`event`'s checks)
//! stay as received, with their note.
//!
//! Mirrored from relay (getsentry/relay, the source after 26.4.2; 26.9's own is not available
//! to this project):
//! - relay-event-normalization `src/trimming.rs` (`TrimmingProcessor`): `trim_string` keeps a
//!   string of at most `max_chars + max_chars_allowance` characters whole, else cuts it to
//!   `max_chars - 3` characters and `...`, with the remark `["!limit", "s", max_chars - 3,
//!   max_chars]` and the original length in `_meta`; `process_raw_stacktrace`:
//!   `enforce_frame_hard_limit(frames, 250)` keeps 250 frames from both ends since relay#3905
//!   ("Keep frames from both ends of the trace", 2024; the copies of `trimming.rs` readable here
//!   predate it and keep the newest 250): the 50 oldest and the 200 newest (frames are oldest
//!   first), with the original count in `_meta` (`len`); then `slim_frame_data(frames, 50)`
//!   removes `vars`, `pre_context` and `post_context` of the middle frames beyond 50 (system
//!   frames first, then in-app frames), without `_meta`.
//! - The limits (relay-event-schema `src/protocol/*.rs` `max_chars`, `max_chars_allowance`;
//!   relay-event-normalization `MaxChars`): exception `type` and `module` 256 + 20, `value`
//!   8192 + 200 (`exception.rs`); mechanism `type` and `source` 128, `description` 8192 + 200,
//!   `help_link` 256 + 40 (`mechanism.rs`); `logentry.message` and `formatted` 8192 + 200
//!   (`logentry.rs`); `logger` 64, `transaction` 200 (whitespace trimmed first), `culprit` 200
//!   (`event.rs`); frame `function`, `raw_function`, `symbol` 256 + 20, `filename`, `abs_path`
//!   256 + 40, and no limit on `module`, `package`, `context_line` or a line of `pre_context` /
//!   `post_context` (`stacktrace.rs`).
//! - relay-event-normalization `src/normalize/mod.rs`: `shorten_logger` for `platform: "java"`
//!   (the logger trimmed of whitespace; over 64 characters, cut from the front to a `.`
//!   boundary and prefixed with `*`, the remark `@logger:replace`, `@logger:trim` or
//!   `@logger:remove` on the event's own `_meta[""]`, as relay puts it); other platforms' loggers
//!   are cut by `trim_string`. `process_frame`: a `function` or `symbol` of `"?"` is removed,
//!   `null` lines of `pre_context` / `post_context` become `""`, and a frame with source
//!   context but no `context_line` gets `context_line: ""`.
//! - relay-event-normalization `src/stacktrace.rs` `process_non_raw_frame` (not for
//!   `raw_stacktrace`): a frame without `abs_path` takes its `filename` as `abs_path`; a frame
//!   without `filename` takes its `abs_path`, or for an `http:`, `https:`, `file:` or
//!   `applewebdata:` URL the URL's path unless that is empty or `/`.
//! - relay-event-normalization `src/event.rs` `normalize_exceptions`: a lone exception takes the
//!   event's top-level `stacktrace`; relay-event-schema `Values` reads a bare exception list as
//!   `values`; `JsonLenientString` stores a non-string exception `value` as its JSON text.
//! - relay-event-normalization `src/logentry.rs` `normalize_logentry` with relay-event-schema
//!   `src/protocol/logentry.rs`: a `logentry` that is not an object becomes `{"formatted": ...}`
//!   (`false`: none); with `params` and no `formatted`, `message` is formatted (`%` style if it
//!   holds a `%`, else `{}` style; dynfmt's `PythonFormat` / `SimpleCurlyFormat`); then when
//!   `formatted` is missing or equals `message`, `message` moves to `formatted`. The stand-in
//!   formats `%s %d %i %u %r %%` with an optional `(key)` and `{}` `{0}` `{key}`; a `%` spec with
//!   flags, a width or a precision is not mirrored and noted as such.
//! - relay-event-schema `src/protocol/types.rs` `Level`: `log` is stored as `info`, `critical`
//!   as `fatal`, Python's 10..50 as their names.
//! - relay-protocol: an unsigned integer field given as a float is rounded down (`lineno: 4.2`
//!   stored as 4).
//!
//! Not mirrored: databag trimming (`extra`, `contexts`, `mechanism.data`, frame `vars` by depth
//! and bytes), `server_name` moved into tags (with the tag value limit of 200: relay-event-
//! normalization `src/event.rs` `normalize_event_tags`), the legacy top-level `message` renamed to
//! `logentry`.

use serde_json::{Map, Value};

use crate::event::Note;

/// relay's frame hard limit: the frames kept.
pub const MAX_FRAMES: usize = 250;
/// The oldest frames of those kept (the rest are the newest).
const KEPT_OLDEST: usize = 50;
/// relay's `slim_frame_data` allowance: frames whose source context and variables are kept.
pub const FRAME_ALLOWANCE: usize = 50;

/// A string field's limit: `max_chars` and `max_chars_allowance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub usize, pub usize);

pub const EXCEPTION_TYPE: Limit = Limit(256, 20);
pub const EXCEPTION_VALUE: Limit = Limit(8192, 200);
pub const EXCEPTION_MODULE: Limit = Limit(256, 20);
pub const MECHANISM_TYPE: Limit = Limit(128, 0);
pub const MECHANISM_SOURCE: Limit = Limit(128, 0);
pub const MECHANISM_DESCRIPTION: Limit = Limit(8192, 200);
pub const HELP_LINK: Limit = Limit(256, 40);
pub const MESSAGE: Limit = Limit(8192, 200);
pub const LOGGER: Limit = Limit(64, 0);
pub const TRANSACTION: Limit = Limit(200, 0);
pub const CULPRIT: Limit = Limit(200, 0);
pub const SYMBOL: Limit = Limit(256, 20);
pub const PATH: Limit = Limit(256, 40);

/// Applies relay's normalization and trimming to a kept event, adding `_meta` entries where
/// relay writes them and a note for each change that loses or alters data.
pub fn normalize(event: &mut Map<String, Value>, notes: &mut Vec<Note>) {
    let mut n = Normalizer {
        notes,
        meta: Map::new(),
    };
    n.level(event);
    n.transaction(event);
    n.logger(event);
    n.trim_field(event, "culprit", &["culprit"], CULPRIT);
    n.logentry(event);
    n.exceptions(event);
    if let Some(stacktrace) = event.get_mut("stacktrace") {
        n.stacktrace(stacktrace, &path(&["stacktrace"]), false);
    }
    n.threads(event);
    if !n.meta.is_empty() {
        let meta = std::mem::take(&mut n.meta);
        match event.get_mut("_meta") {
            Some(Value::Object(existing)) => merge(existing, meta),
            _ => {
                event.insert("_meta".into(), Value::Object(meta));
            }
        }
    }
}

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

fn child(parent: &[String], key: impl ToString) -> Vec<String> {
    let mut p = parent.to_vec();
    p.push(key.to_string());
    p
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

struct Normalizer<'a> {
    notes: &'a mut Vec<Note>,
    /// The `_meta` tree to add to the event.
    meta: Map<String, Value>,
}

impl Normalizer<'_> {
    fn note(&mut self, path: &[String], problem: impl Into<String>) {
        self.notes.push(Note {
            path: path.join("."),
            problem: problem.into(),
        });
    }

    /// The `_meta` entry (`""`) of the value at `path`.
    fn meta_at(&mut self, path: &[String]) -> &mut Map<String, Value> {
        let mut node = &mut self.meta;
        for key in path.iter().map(String::as_str).chain([""]) {
            let next = node
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            node = next.as_object_mut().expect("object");
        }
        node
    }

    fn remark(&mut self, path: &[String], remark: Value, original_len: usize) {
        let meta = self.meta_at(path);
        let rem = meta
            .entry("rem")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = rem {
            list.push(remark);
        }
        meta.insert("len".into(), Value::from(original_len));
    }

    /// relay's `trim_string` on `obj[key]` when it is a string, with `_meta` and a note.
    fn trim_field(&mut self, obj: &mut Map<String, Value>, key: &str, at: &[&str], limit: Limit) {
        self.trim_field_at(obj, key, &path(at), limit);
    }

    fn trim_field_at(
        &mut self,
        obj: &mut Map<String, Value>,
        key: &str,
        at: &[String],
        limit: Limit,
    ) {
        let Some(Value::String(s)) = obj.get_mut(key) else {
            return;
        };
        if let Some(original) = trim_string(s, limit) {
            let Limit(max, allowance) = limit;
            let cut = max.saturating_sub(3);
            self.remark(at, serde_json::json!(["!limit", "s", cut, max]), original);
            let over = if allowance > 0 {
                format!("{} + {allowance}", max)
            } else {
                max.to_string()
            };
            self.note(
                at,
                format!(
                    "{original} characters, over relay's {over}: cut to {cut} and `...` \
                     (_meta !limit)"
                ),
            );
        }
    }

    fn level(&mut self, event: &mut Map<String, Value>) {
        let canonical = match event.get("level") {
            Some(Value::String(s)) => match s.as_str() {
                "log" => "info",
                "critical" => "fatal",
                _ => return,
            },
            Some(Value::Number(n)) => match n.as_u64() {
                Some(10) => "debug",
                Some(20) => "info",
                Some(30) => "warning",
                Some(40) => "error",
                Some(50) => "fatal",
                _ => return,
            },
            _ => return,
        };
        event.insert("level".into(), Value::from(canonical));
    }

    fn transaction(&mut self, event: &mut Map<String, Value>) {
        if let Some(Value::String(s)) = event.get_mut("transaction") {
            let trimmed = s.trim();
            if trimmed.len() != s.len() {
                *s = trimmed.to_string();
                self.note(
                    &path(&["transaction"]),
                    "leading or trailing whitespace: relay trims it",
                );
            }
        }
        self.trim_field(event, "transaction", &["transaction"], TRANSACTION);
    }

    fn logger(&mut self, event: &mut Map<String, Value>) {
        let java = event.get("platform").and_then(Value::as_str) == Some("java");
        let Some(Value::String(logger)) = event.get("logger") else {
            return;
        };
        if logger.contains(['\r', '\n']) {
            return; // removed by relay's schema check: `event` notes it
        }
        if !java {
            self.trim_field(event, "logger", &["logger"], LOGGER);
            return;
        }
        let Some((shortened, remark, original_len)) = shorten_logger(logger) else {
            return;
        };
        let note = format!("java logger {logger:?}: relay stores {shortened:?} (_meta {remark})");
        // relay passes the event's own meta to `shorten_logger`: the remark is on `_meta[""]`.
        self.remark(&[], remark, original_len);
        self.note(&path(&["logger"]), note);
        event.insert("logger".into(), Value::String(shortened));
    }

    fn logentry(&mut self, event: &mut Map<String, Value>) {
        let at = path(&["logentry"]);
        let reshaped = match event.get("logentry") {
            None | Some(Value::Null) | Some(Value::Object(_)) => None,
            Some(Value::Bool(false)) => Some(None),
            Some(Value::String(s)) => Some(Some(serde_json::json!({ "formatted": s }))),
            Some(other) => Some(Some(serde_json::json!({ "formatted": other.to_string() }))),
        };
        match reshaped {
            Some(Some(entry)) => {
                event.insert("logentry".into(), entry);
            }
            Some(None) => {
                event.remove("logentry");
                return;
            }
            None => {}
        }
        let Some(Value::Object(entry)) = event.get_mut("logentry") else {
            return;
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let mut message = text(entry.get("message"));
        let mut formatted = text(entry.get("formatted"));
        let message_invalid = entry
            .get("message")
            .is_some_and(|v| !v.is_string() && !v.is_null());
        let formatted_invalid = entry
            .get("formatted")
            .is_some_and(|v| !v.is_string() && !v.is_null());
        let params = entry
            .get("params")
            .filter(|p| p.is_array() || p.is_object())
            .cloned();
        if message_invalid {
            self.note(
                &child(&at, "message"),
                "invalid_data: expected a string; removed",
            );
        }
        if formatted_invalid {
            self.note(
                &child(&at, "formatted"),
                "invalid_data: expected a string; removed",
            );
        }
        if entry.get("params").is_some_and(|p| !p.is_null()) && params.is_none() {
            self.note(
                &child(&at, "params"),
                "invalid_data: expected message parameters (a list or an object); removed",
            );
        }
        let empty = entry.values().all(Value::is_null);
        if empty {
            return;
        }
        if message.is_none() && formatted.is_none() {
            self.note(
                &at,
                "invalid_data: no message present (neither `message` nor `formatted`); relay \
                 removes the logentry",
            );
            return;
        }
        if let (Some(params), None, Some(msg)) = (&params, &formatted, &message) {
            match format_message(msg, params) {
                Formatted::Done(text) => formatted = Some(text),
                Formatted::Failed => {}
                Formatted::NotMirrored(spec) => self.note(
                    &child(&at, "formatted"),
                    format!(
                        "the stand-in does not mirror relay's formatting of {spec:?}; stored \
                         unformatted"
                    ),
                ),
            }
        }
        if formatted.is_none() || formatted == message {
            formatted = message.take();
        }
        match formatted {
            Some(f) => entry.insert("formatted".into(), Value::String(f)),
            None => entry.remove("formatted"),
        };
        match message {
            Some(m) => entry.insert("message".into(), Value::String(m)),
            None => entry.remove("message"),
        };
        for key in ["message", "formatted"] {
            self.trim_field_at(entry, key, &child(&at, key), MESSAGE);
        }
    }

    fn exceptions(&mut self, event: &mut Map<String, Value>) {
        if let Some(Value::Array(list)) = event.get_mut("exception") {
            let values = std::mem::take(list);
            event.insert("exception".into(), serde_json::json!({ "values": values }));
        }
        let lone = event
            .get("exception")
            .and_then(|e| e.get("values"))
            .and_then(Value::as_array)
            .is_some_and(|v| v.len() == 1 && v[0].is_object());
        if lone && event.get("stacktrace").is_some_and(|s| !s.is_null()) {
            let stacktrace = event.remove("stacktrace").unwrap_or(Value::Null);
            let only = event
                .get_mut("exception")
                .and_then(|e| e.pointer_mut("/values/0"));
            if let Some(Value::Object(only)) = only {
                only.insert("stacktrace".into(), stacktrace);
            }
        }
        let Some(Value::Array(values)) =
            event.get_mut("exception").and_then(|e| e.get_mut("values"))
        else {
            return;
        };
        for (i, exception) in values.iter_mut().enumerate() {
            let Value::Object(e) = exception else {
                continue;
            };
            let at = path(&["exception", "values", &i.to_string()]);
            if let Some(value) = e.get_mut("value") {
                if !value.is_string() && !value.is_null() {
                    *value = Value::String(value.to_string());
                }
            }
            self.trim_field_at(e, "type", &child(&at, "type"), EXCEPTION_TYPE);
            self.trim_field_at(e, "value", &child(&at, "value"), EXCEPTION_VALUE);
            self.trim_field_at(e, "module", &child(&at, "module"), EXCEPTION_MODULE);
            if let Some(Value::Object(m)) = e.get_mut("mechanism") {
                if m.contains_key("type") {
                    let at = child(&at, "mechanism");
                    self.trim_field_at(m, "type", &child(&at, "type"), MECHANISM_TYPE);
                    let source_ok = m
                        .get("source")
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.contains([' ', '\t', '\r', '\n']));
                    if source_ok {
                        self.trim_field_at(m, "source", &child(&at, "source"), MECHANISM_SOURCE);
                    }
                    let desc = child(&at, "description");
                    self.trim_field_at(m, "description", &desc, MECHANISM_DESCRIPTION);
                    let link = child(&at, "help_link");
                    self.trim_field_at(m, "help_link", &link, HELP_LINK);
                }
            }
            if let Some(stacktrace) = e.get_mut("stacktrace") {
                self.stacktrace(stacktrace, &child(&at, "stacktrace"), false);
            }
            if let Some(stacktrace) = e.get_mut("raw_stacktrace") {
                self.stacktrace(stacktrace, &child(&at, "raw_stacktrace"), true);
            }
        }
    }

    fn threads(&mut self, event: &mut Map<String, Value>) {
        let values = match event.get_mut("threads") {
            Some(Value::Object(t)) => t.get_mut("values"),
            Some(list @ Value::Array(_)) => Some(list),
            _ => None,
        };
        let Some(Value::Array(values)) = values else {
            return;
        };
        for (i, thread) in values.iter_mut().enumerate() {
            if let Some(stacktrace) = thread.get_mut("stacktrace") {
                let at = path(&["threads", "values", &i.to_string(), "stacktrace"]);
                self.stacktrace(stacktrace, &at, false);
            }
        }
    }

    /// relay's `process_raw_stacktrace` (hard limit, then each frame, then slimming), with the
    /// store normalization of each frame (`process_frame`, `process_non_raw_frame`).
    fn stacktrace(&mut self, stacktrace: &mut Value, at: &[String], raw: bool) {
        let Some(Value::Array(frames)) = stacktrace.get_mut("frames") else {
            return;
        };
        let at = child(at, "frames");
        if frames.len() > MAX_FRAMES {
            let original = frames.len();
            frames.drain(KEPT_OLDEST..original - (MAX_FRAMES - KEPT_OLDEST));
            self.meta_at(&at)
                .insert("len".into(), Value::from(original));
            self.note(
                &at,
                format!(
                    "{original} frames, over relay's {MAX_FRAMES}: {} removed after the \
                     {KEPT_OLDEST} oldest, the newest {} kept (_meta len)",
                    original - MAX_FRAMES,
                    MAX_FRAMES - KEPT_OLDEST
                ),
            );
        }
        for (j, frame) in frames.iter_mut().enumerate() {
            if let Value::Object(f) = frame {
                self.frame(f, &child(&at, j), raw);
            }
        }
        let slimmed = slim_frame_data(frames, FRAME_ALLOWANCE);
        if !slimmed.is_empty() {
            self.note(
                &at,
                format!(
                    "over {FRAME_ALLOWANCE} frames: relay removes vars, pre_context and \
                     post_context of frames {}",
                    ranges(&slimmed)
                ),
            );
        }
    }

    fn frame(&mut self, f: &mut Map<String, Value>, at: &[String], raw: bool) {
        for key in ["function", "symbol"] {
            if f.get(key).and_then(Value::as_str) == Some("?") {
                f.remove(key);
                self.note(&child(at, key), "\"?\": relay removes it");
            }
        }
        let mut has_context = false;
        for key in ["pre_context", "post_context"] {
            if let Some(Value::Array(lines)) = f.get_mut(key) {
                for line in lines.iter_mut().filter(|l| l.is_null()) {
                    *line = Value::String(String::new());
                }
                has_context |= !lines.is_empty();
            }
        }
        if has_context && f.get("context_line").is_none_or(Value::is_null) {
            f.insert("context_line".into(), Value::String(String::new()));
        }
        if !raw {
            non_raw_frame(f);
        }
        for key in ["lineno", "colno"] {
            if let Some(Value::Number(n)) = f.get(key) {
                if let (None, Some(x)) = (n.as_u64(), n.as_f64()) {
                    if x >= 0.0 && x.is_finite() {
                        let rounded = x.floor() as u64;
                        f.insert(key.into(), Value::from(rounded));
                        if x.fract() != 0.0 {
                            self.note(
                                &child(at, key),
                                format!("{x} is no integer: relay stores {rounded}"),
                            );
                        }
                    }
                }
            }
        }
        for key in ["function", "raw_function", "symbol"] {
            self.trim_field_at(f, key, &child(at, key), SYMBOL);
        }
        for key in ["filename", "abs_path"] {
            self.trim_field_at(f, key, &child(at, key), PATH);
        }
    }
}

/// relay-event-normalization `src/stacktrace.rs` `process_non_raw_frame`.
fn non_raw_frame(f: &mut Map<String, Value>) {
    let is_empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    };
    // Only string fields: a field of another type is invalid, and `event` notes it.
    let strings = |v: Option<&Value>| v.is_none_or(|v| v.is_string() || v.is_null());
    if !strings(f.get("filename")) || !strings(f.get("abs_path")) {
        return;
    }
    if is_empty(f.get("abs_path")) {
        match f.remove("filename") {
            Some(filename) if !filename.is_null() => {
                f.insert("abs_path".into(), filename);
            }
            _ => {}
        }
    }
    if is_empty(f.get("filename")) {
        if let Some(Value::String(abs_path)) = f.get("abs_path") {
            let filename = url_path(abs_path)
                .filter(|p| !p.is_empty() && *p != "/")
                .unwrap_or(abs_path)
                .to_string();
            f.insert("filename".into(), Value::String(filename));
        }
    }
}

/// The path of a `file:`, `http:`, `https:` or `applewebdata:` URL (relay's `is_url`, then
/// `Url::parse(..).path()`); `None` for anything else.
fn url_path(s: &str) -> Option<&str> {
    let scheme = ["file:", "http:", "https:", "applewebdata:"]
        .into_iter()
        .find(|scheme| s.starts_with(scheme))?;
    let rest = &s[scheme.len()..];
    let rest = match rest.strip_prefix("//") {
        Some(after) => after.find('/').map_or("", |at| &after[at..]),
        None => rest,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// relay's `trim_string`: `None` when the string fits, else its original length in characters.
pub fn trim_string(s: &mut String, limit: Limit) -> Option<usize> {
    let Limit(max, allowance) = limit;
    let chars = s.chars().count();
    if chars <= max + allowance {
        return None;
    }
    let keep = max.saturating_sub(3);
    let cut: String = s.chars().take(keep).collect();
    *s = format!("{cut}...");
    Some(chars)
}

/// relay's `shorten_logger` (for `platform: "java"`): the stored logger, the remark relay
/// records and the original length; `None` when the logger is stored as sent.
fn shorten_logger(logger: &str) -> Option<(String, Value, usize)> {
    let original_len = logger.chars().count();
    let trimmed = logger.trim();
    let len = trimmed.chars().count();
    if len <= LOGGER.0 {
        if trimmed == logger {
            return None;
        }
        let remark = if trimmed.is_empty() {
            serde_json::json!(["@logger:remove", "x", 0, original_len])
        } else {
            serde_json::json!(["@logger:trim", "s"])
        };
        return Some((trimmed.to_string(), remark, original_len));
    }
    let chars: Vec<char> = trimmed.chars().collect();
    // One slot is left for the `*` prefix; characters go from the front.
    let remove = len - LOGGER.0 + 1;
    let word_cut = chars[remove - 1] != '.';
    let mut rest = &chars[remove..];
    if word_cut && rest.contains(&'.') {
        let dot = rest.iter().position(|&c| c == '.').unwrap_or(0);
        rest = &rest[dot..];
    }
    let kept: String = rest.iter().collect();
    let remark = serde_json::json!(["@logger:replace", "s", 0, len - rest.len()]);
    Some((format!("*{kept}"), remark, original_len))
}

/// relay's `slim_frame_data`: removes `vars`, `pre_context` and `post_context` of the frames
/// beyond the allowance; returns the indices of the frames that lost any of them.
pub fn slim_frame_data(frames: &mut [Value], allowance: usize) -> Vec<usize> {
    let len = frames.len();
    if len <= allowance {
        return Vec::new();
    }
    let mut app = Vec::new();
    let mut system = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        if let Value::Object(f) = frame {
            match f.get("in_app") {
                Some(Value::Bool(true)) => app.push(i),
                _ => system.push(i),
            }
        }
    }
    let middle = |indices: &[usize], half: usize| -> Vec<usize> {
        indices
            .len()
            .checked_sub(half)
            .and_then(|end| indices.get(half..end))
            .unwrap_or(&[])
            .to_vec()
    };
    let system_half = allowance.saturating_sub(app.len()) / 2;
    let system_removed = middle(&system, system_half);
    let remaining = len
        .saturating_sub(allowance)
        .saturating_sub(system_removed.len());
    let app_half = app.len().saturating_sub(remaining) / 2;
    let app_removed = middle(&app, app_half);
    let mut lost = Vec::new();
    for i in system_removed.into_iter().chain(app_removed) {
        if let Some(Value::Object(f)) = frames.get_mut(i) {
            let removed = ["vars", "pre_context", "post_context"]
                .into_iter()
                .filter(|key| f.remove(*key).is_some_and(|v| !v.is_null()))
                .count();
            if removed > 0 {
                lost.push(i);
            }
        }
    }
    lost.sort_unstable();
    lost
}

/// `[3, 4, 5, 9]` as `3..=5, 9`.
fn ranges(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        parts.push(match start == end {
            true => start.to_string(),
            false => format!("{start}..={end}"),
        });
        i += 1;
    }
    parts.join(", ")
}

/// The result of formatting a `logentry.message` with its `params`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Formatted {
    Done(String),
    /// dynfmt fails (a missing parameter): relay keeps `formatted` unset.
    Failed,
    /// A `%` spec the stand-in does not mirror (flags, width, precision, other conversions).
    NotMirrored(String),
}

/// relay-event-normalization `src/logentry.rs` `format_message`.
fn format_message(format: &str, params: &Value) -> Formatted {
    if format.contains('%') {
        python_format(format, params)
    } else if format.contains('{') {
        curly_format(format, params)
    } else {
        Formatted::Failed
    }
}

/// A parameter as dynfmt displays it: a string as itself, a number as Rust prints it, anything
/// else as JSON.
fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => {
            n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string())
        }
        other => other.to_string(),
    }
}

/// Where a format spec takes its parameter from (dynfmt's `Position`).
#[derive(Debug, Clone, Copy)]
enum Position<'a> {
    Auto,
    Index(usize),
    Key(&'a str),
}

/// The parameter at a position, as relay's `FormatArgs` gives it: an index of a list, a key of
/// an object; `None` (formatting fails) for anything else or a `null`.
fn argument<'a>(params: &'a Value, position: Position<'_>, next: &mut usize) -> Option<&'a Value> {
    let found = match (position, params) {
        (Position::Auto, Value::Array(list)) => {
            *next += 1;
            list.get(*next - 1)
        }
        (Position::Index(i), Value::Array(list)) => list.get(i),
        (Position::Key(key), Value::Object(map)) => map.get(key),
        _ => None,
    };
    found.filter(|v| !v.is_null())
}

/// dynfmt's `PythonFormat` for `%[(key)](s|d|i|u|r|%)`.
fn python_format(format: &str, params: &Value) -> Formatted {
    let mut out = String::new();
    let mut next = 0;
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let spec = &rest[at + 1..];
        let (key, after_key) = match spec.strip_prefix('(') {
            Some(inner) => match inner.find(')') {
                Some(close)
                    if close > 0
                        && inner[..close]
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '_') =>
                {
                    (Some(&inner[..close]), &inner[close + 1..])
                }
                _ => {
                    out.push('%');
                    rest = spec;
                    continue;
                }
            },
            None => (None, spec),
        };
        let Some(conversion) = after_key.chars().next() else {
            out.push_str(&rest[at..]);
            rest = "";
            break;
        };
        let consumed = spec.len() - after_key.len() + conversion.len_utf8();
        match conversion {
            '%' if key.is_none() => out.push('%'),
            's' | 'd' | 'i' | 'u' | 'r' => {
                let position = key.map_or(Position::Auto, Position::Key);
                let Some(value) = argument(params, position, &mut next) else {
                    return Formatted::Failed;
                };
                match conversion {
                    'r' => out.push_str(&value.to_string()),
                    _ => out.push_str(&display(value)),
                }
            }
            c if "#0- +*.123456789hlLoxXeEfFgGc".contains(c) => {
                let end = spec
                    .find(|c: char| "diouxXeEfFgGcrs%".contains(c))
                    .map_or(spec.len(), |e| e + 1);
                return Formatted::NotMirrored(format!("%{}", &spec[..end]));
            }
            _ => {
                // Not a conversion spec: dynfmt leaves the text as it is.
                out.push('%');
                rest = spec;
                continue;
            }
        }
        rest = &spec[consumed..];
    }
    out.push_str(rest);
    Formatted::Done(out)
}

/// dynfmt's `SimpleCurlyFormat`: `{}`, `{0}`, `{key}`.
fn curly_format(format: &str, params: &Value) -> Formatted {
    let mut out = String::new();
    let mut next = 0;
    let mut rest = format;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let spec = &rest[at + 1..];
        match spec.find('}') {
            Some(close)
                if spec[..close]
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_') =>
            {
                let key = &spec[..close];
                let position = match key.parse::<usize>() {
                    _ if key.is_empty() => Position::Auto,
                    Ok(index) => Position::Index(index),
                    Err(_) => Position::Key(key),
                };
                let Some(value) = argument(params, position, &mut next) else {
                    return Formatted::Failed;
                };
                out.push_str(&display(value));
                rest = &spec[close + 1..];
            }
            _ => {
                out.push('{');
                rest = spec;
            }
        }
    }
    out.push_str(rest);
    Formatted::Done(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(event: Value) -> (Value, Vec<String>) {
        let Value::Object(mut fields) = event else {
            panic!("object")
        };
        let mut notes = Vec::new();
        normalize(&mut fields, &mut notes);
        (
            Value::Object(fields),
            notes.into_iter().map(|n| n.path).collect(),
        )
    }

    /// relay-event-normalization `src/trimming.rs` `trim_string` (its own test: 46 characters
    /// at 20 become `This is my long s...`, remark 17..20).
    #[test]
    fn strings_are_cut_as_relay_trims_them() {
        let mut s = "This is my long string I want to have trimmed!".to_string();
        assert_eq!(trim_string(&mut s, Limit(20, 0)), Some(46));
        assert_eq!(s, "This is my long s...");
        for (name, len, limit, kept) in [
            ("at the limit", 64, LOGGER, None),
            ("one over", 65, LOGGER, Some(64)),
            ("within the allowance", 276, EXCEPTION_TYPE, None),
            ("over the allowance", 277, EXCEPTION_TYPE, Some(256)),
            ("message allowance", 8392, MESSAGE, None),
            ("message over", 8393, MESSAGE, Some(8192)),
        ] {
            let mut s = "é".repeat(len);
            let cut = trim_string(&mut s, limit);
            assert_eq!(cut.map(|_| s.chars().count()), kept, "{name}");
            if kept.is_some() {
                assert!(s.ends_with("..."), "{name}");
            }
        }
    }

    /// Each field with its relay limit (relay-event-schema `src/protocol/exception.rs`,
    /// `mechanism.rs`, `logentry.rs`, `event.rs`, `stacktrace.rs`) and the `_meta` relay writes.
    #[test]
    fn field_limits_and_meta() {
        let e = "exception/values/0";
        let f = "exception/values/0/stacktrace/frames/0";
        for (field, limit) in [
            ("transaction", TRANSACTION),
            ("culprit", CULPRIT),
            ("logger", LOGGER),
            (&*format!("{e}/type"), EXCEPTION_TYPE),
            (&*format!("{e}/value"), EXCEPTION_VALUE),
            (&*format!("{e}/module"), EXCEPTION_MODULE),
            (&*format!("{e}/mechanism/type"), MECHANISM_TYPE),
            (&*format!("{e}/mechanism/source"), MECHANISM_SOURCE),
            (
                &*format!("{e}/mechanism/description"),
                MECHANISM_DESCRIPTION,
            ),
            ("logentry/formatted", MESSAGE),
            (&*format!("{f}/function"), SYMBOL),
            (&*format!("{f}/abs_path"), PATH),
            (&*format!("{f}/filename"), PATH),
        ] {
            let Limit(max, allowance) = limit;
            for (len, cut) in [(max + allowance, false), (max + allowance + 1, true)] {
                let mut event = json!({
                    "platform": "python",
                    "transaction": "t", "culprit": "c", "logger": "l", "server_name": "s",
                    "logentry": {"formatted": "m"},
                    "exception": {"values": [{
                        "type": "E", "value": "v", "module": "m",
                        "mechanism": {"type": "generic", "source": "cause", "description": "d"},
                        "stacktrace": {"frames": [{"function": "f", "abs_path": "/a.py", "filename": "a.py"}]}
                    }]}
                });
                let pointer = format!("/{field}");
                *event.pointer_mut(&pointer).expect(field) = json!("x".repeat(len));
                let (got, notes) = run(event);
                let stored = got.pointer(&pointer).and_then(Value::as_str).expect(field);
                let dotted = field.replace('/', ".");
                if cut {
                    assert_eq!(stored.chars().count(), max, "{field}");
                    assert_eq!(notes, [dotted], "{field}");
                    let meta = format!("/_meta/{field}/");
                    assert_eq!(
                        got.pointer(&meta),
                        Some(&json!({"rem": [["!limit", "s", max - 3, max]], "len": len})),
                        "{field}"
                    );
                } else {
                    assert_eq!(stored.len(), len, "{field}");
                    assert!(notes.is_empty(), "{field}: {notes:?}");
                }
            }
        }
    }

    fn frames(n: usize, in_app: impl Fn(usize) -> bool) -> Vec<Value> {
        (0..n)
            .map(|i| {
                json!({
                    "function": format!("f{i}"), "abs_path": "/a.py", "filename": "a.py",
                    "lineno": i + 1, "in_app": in_app(i),
                    "pre_context": ["a"], "context_line": "b", "post_context": ["c"],
                    "vars": {"x": "1"},
                })
            })
            .collect()
    }

    fn event_with_frames(frames: Vec<Value>) -> Value {
        json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": frames}}]}})
    }

    /// relay-event-normalization `src/trimming.rs` `enforce_frame_hard_limit` (the 50 oldest
    /// and the 200 newest kept, `_meta` len) and `slim_frame_data` (source context and vars of the middle frames
    /// beyond 50 removed; system frames first).
    #[test]
    fn frames_are_cut_and_slimmed_as_relay_does() {
        let p = "exception.values.0.stacktrace.frames";
        // (frames, in-app rule, kept, first kept function, frames slimmed, notes)
        type Case<'a> = (
            usize,
            fn(usize) -> bool,
            usize,
            &'a str,
            Vec<usize>,
            Vec<&'a str>,
        );
        let cases: [Case; 6] = [
            (50, |_| false, 50, "f0", vec![], vec![]),
            (250, |_| false, 250, "f0", (25..225).collect(), vec![p]),
            (256, |_| false, 250, "f0", (25..225).collect(), vec![p, p]),
            (1500, |_| true, 250, "f0", (25..225).collect(), vec![p, p]),
            // 60 frames, the last 10 in-app: 40 system allowance, 20 and 20 kept at the ends.
            (60, |i| i >= 50, 60, "f0", (20..30).collect(), vec![p]),
            // 50 in-app frames and 50 system ones: no system allowance, all 50 system frames
            // slimmed; then nothing remains over the allowance and every in-app frame stays.
            (
                100,
                |i| i % 2 == 0,
                100,
                "f0",
                (1..100).step_by(2).collect(),
                vec![p],
            ),
        ];
        for (n, in_app, kept, first, slimmed, notes) in cases {
            let (got, paths) = run(event_with_frames(frames(n, in_app)));
            let frames = got["exception"]["values"][0]["stacktrace"]["frames"]
                .as_array()
                .expect("frames");
            assert_eq!(frames.len(), kept, "{n}");
            assert_eq!(frames[0]["function"], first, "{n}");
            assert_eq!(frames[kept - 1]["function"], format!("f{}", n - 1), "{n}");
            if n > MAX_FRAMES {
                let newest_first = format!("f{}", n - (MAX_FRAMES - KEPT_OLDEST));
                assert_eq!(
                    frames[KEPT_OLDEST - 1]["function"],
                    format!("f{}", KEPT_OLDEST - 1)
                );
                assert_eq!(frames[KEPT_OLDEST]["function"], newest_first, "{n}");
            }
            let lost: Vec<usize> = (0..kept)
                .filter(|&i| frames[i].get("pre_context").is_none())
                .collect();
            assert_eq!(lost, slimmed, "{n}");
            assert!(
                lost.iter()
                    .all(|&i| frames[i]["context_line"] == "b" && frames[i].get("vars").is_none()),
                "context_line stays: {n}"
            );
            assert_eq!(paths, notes, "{n}");
            let len = got.pointer("/_meta/exception/values/0/stacktrace/frames/");
            assert_eq!(len, (n > 250).then(|| json!({"len": n})).as_ref(), "{n}");
        }
    }

    /// relay-event-normalization `src/normalize/mod.rs` `process_frame` and `src/stacktrace.rs`
    /// `process_non_raw_frame`.
    #[test]
    fn frames_are_completed_as_relay_does() {
        for (name, frame, want, noted) in [
            (
                "filename only: abs_path from it",
                json!({"filename": "app.py"}),
                json!({"filename": "app.py", "abs_path": "app.py"}),
                vec![],
            ),
            (
                "abs_path only: filename from it",
                json!({"abs_path": "/srv/app.py"}),
                json!({"filename": "/srv/app.py", "abs_path": "/srv/app.py"}),
                vec![],
            ),
            (
                "a URL's path",
                json!({"abs_path": "http://foo.com/foo.js"}),
                json!({"filename": "/foo.js", "abs_path": "http://foo.com/foo.js"}),
                vec![],
            ),
            (
                "a URL without a path",
                json!({"abs_path": "http://foo.com/"}),
                json!({"filename": "http://foo.com/", "abs_path": "http://foo.com/"}),
                vec![],
            ),
            (
                "webpack is no URL",
                json!({"abs_path": "webpack:///./app.jsx"}),
                json!({"filename": "webpack:///./app.jsx", "abs_path": "webpack:///./app.jsx"}),
                vec![],
            ),
            (
                "both kept",
                json!({"filename": "a.py", "abs_path": "/x/a.py"}),
                json!({"filename": "a.py", "abs_path": "/x/a.py"}),
                vec![],
            ),
            (
                "? function removed",
                json!({"function": "?", "symbol": "?", "abs_path": "/a", "filename": "a"}),
                json!({"abs_path": "/a", "filename": "a"}),
                vec!["function", "symbol"],
            ),
            (
                "context_line backfilled, null lines empty",
                json!({"abs_path": "/a", "filename": "a", "pre_context": [null, "x"]}),
                json!({"abs_path": "/a", "filename": "a", "pre_context": ["", "x"], "context_line": ""}),
                vec![],
            ),
            (
                "empty context: no context_line",
                json!({"abs_path": "/a", "filename": "a", "pre_context": []}),
                json!({"abs_path": "/a", "filename": "a", "pre_context": []}),
                vec![],
            ),
            (
                "float lineno rounded down",
                json!({"abs_path": "/a", "filename": "a", "lineno": 4.7}),
                json!({"abs_path": "/a", "filename": "a", "lineno": 4}),
                vec!["lineno"],
            ),
        ] {
            let (got, notes) = run(event_with_frames(vec![frame]));
            let p = "exception.values.0.stacktrace.frames.0";
            let notes: Vec<String> = notes
                .into_iter()
                .map(|n| n.replace(&format!("{p}."), ""))
                .collect();
            assert_eq!(
                got["exception"]["values"][0]["stacktrace"]["frames"][0], want,
                "{name}"
            );
            assert_eq!(notes, noted, "{name}");
        }
        // raw_stacktrace frames are not completed from their paths.
        let (got, _) = run(json!({"exception": {"values": [{"type": "E",
            "raw_stacktrace": {"frames": [{"filename": "a.py"}]}}]}}));
        assert_eq!(
            got["exception"]["values"][0]["raw_stacktrace"]["frames"][0],
            json!({"filename": "a.py"})
        );
    }

    /// relay-event-normalization `src/normalize/mod.rs` `shorten_logger` with relay's own cases
    /// (its snapshots `normalize_logger_*`), on `_meta[""]` as relay puts it.
    #[test]
    fn java_loggers_are_shortened_as_relay_does() {
        for (logger, stored, remark, len) in [
            ("my.short-logger.isnt_trimmed", "my.short-logger.isnt_trimmed", None, 0),
            (
                "this_is-exactly-the_max_len.012345678901234567890123456789012345",
                "this_is-exactly-the_max_len.012345678901234567890123456789012345",
                None,
                0,
            ),
            (
                "this_is-way_too_long-and_we_only_have_one_word-so_we_cant_smart_trim",
                "*is-way_too_long-and_we_only_have_one_word-so_we_cant_smart_trim",
                Some(json!(["@logger:replace", "s", 0, 5])),
                68,
            ),
            (
                "super_out.this_is_already_out_too.this_part-is-kept.this_right_here-is_a-very_long_word",
                "*.this_part-is-kept.this_right_here-is_a-very_long_word",
                Some(json!(["@logger:replace", "s", 0, 33])),
                87,
            ),
            (
                "io.this-tests-the-smart-trimming-and-word-removal-around-dot.words",
                "*this-tests-the-smart-trimming-and-word-removal-around-dot.words",
                Some(json!(["@logger:replace", "s", 0, 3])),
                66,
            ),
            (" \t  \t   ", "", Some(json!(["@logger:remove", "x", 0, 8])), 8),
            (" app ", "app", Some(json!(["@logger:trim", "s"])), 5),
        ] {
            let (got, notes) = run(json!({"platform": "java", "logger": logger}));
            assert_eq!(got["logger"], stored, "{logger}");
            match remark {
                Some(remark) => {
                    assert_eq!(got["_meta"][""], json!({"rem": [remark], "len": len}), "{logger}");
                    assert_eq!(notes, ["logger"], "{logger}");
                }
                None => {
                    assert!(got.get("_meta").is_none(), "{logger}");
                    assert!(notes.is_empty(), "{logger}");
                }
            }
        }
        // Other platforms: cut as any string, on the logger's own `_meta`.
        let long = "a.".repeat(40);
        let (got, _) = run(json!({"platform": "python", "logger": long}));
        assert_eq!(got["logger"], format!("{}...", &long[..61]));
        assert_eq!(got["_meta"]["logger"][""]["len"], 80);
    }

    /// relay-event-normalization `src/logentry.rs` `normalize_logentry` (its own cases) and
    /// relay-event-schema `src/protocol/logentry.rs` `FromValue`.
    #[test]
    fn logentries_are_normalized_as_relay_does() {
        for (name, logentry, want, noted) in [
            (
                "python %s",
                json!({"message": "hello, %s!", "params": ["world"]}),
                json!({"message": "hello, %s!", "formatted": "hello, world!", "params": ["world"]}),
                false,
            ),
            (
                "python named",
                json!({"message": "hello, %(name)s!", "params": {"name": "world"}}),
                json!({"message": "hello, %(name)s!", "formatted": "hello, world!", "params": {"name": "world"}}),
                false,
            ),
            (
                "java {}",
                json!({"message": "hello, {}!", "params": ["world"]}),
                json!({"message": "hello, {}!", "formatted": "hello, world!", "params": ["world"]}),
                false,
            ),
            (
                "dotnet {0}",
                json!({"message": "hello, {0}!", "params": ["world"]}),
                json!({"message": "hello, {0}!", "formatted": "hello, world!", "params": ["world"]}),
                false,
            ),
            (
                "numbers, %r and %%",
                json!({"message": "%d%% of %r", "params": [42, "x"]}),
                json!({"message": "%d%% of %r", "formatted": "42% of \"x\"", "params": [42, "x"]}),
                false,
            ),
            (
                "no params: message moves to formatted",
                json!({"message": "hello, %s!"}),
                json!({"formatted": "hello, %s!"}),
                false,
            ),
            (
                "a parameter missing: unformatted",
                json!({"message": "%s and %s", "params": ["one"]}),
                json!({"formatted": "%s and %s", "params": ["one"]}),
                false,
            ),
            (
                "message equal to formatted",
                json!({"message": "hi", "formatted": "hi"}),
                json!({"formatted": "hi"}),
                false,
            ),
            (
                "both kept when they differ",
                json!({"message": "reserve failed %s", "formatted": "reserve failed sku-42"}),
                json!({"message": "reserve failed %s", "formatted": "reserve failed sku-42"}),
                false,
            ),
            ("a string", json!("hi"), json!({"formatted": "hi"}), false),
            (
                "neither message nor formatted",
                json!({"params": ["x"]}),
                json!({"params": ["x"]}),
                true,
            ),
            (
                "params not a list",
                json!({"message": "m %s", "params": 42}),
                json!({"formatted": "m %s", "params": 42}),
                true,
            ),
            (
                "a width is not mirrored",
                json!({"message": "%5s", "params": ["x"]}),
                json!({"formatted": "%5s", "params": ["x"]}),
                true,
            ),
        ] {
            let (got, notes) = run(json!({ "logentry": logentry }));
            assert_eq!(got["logentry"], want, "{name}");
            assert_eq!(!notes.is_empty(), noted, "{name}: {notes:?}");
        }
        let (got, _) = run(json!({ "logentry": false }));
        assert!(got.get("logentry").is_none());
    }

    /// relay-event-schema `Level` (canonical names) and `Values` (a bare list), and relay-event-
    /// normalization `src/event.rs` `normalize_exceptions` (a lone exception takes the event's
    /// stack trace): applied without notes.
    #[test]
    fn reshaping_without_loss_needs_no_note() {
        for (level, stored) in [
            (json!("log"), json!("info")),
            (json!("critical"), json!("fatal")),
            (json!(40), json!("error")),
            (json!("warning"), json!("warning")),
            (json!("warn"), json!("warn")),
        ] {
            let (got, notes) = run(json!({ "level": level }));
            assert_eq!(got["level"], stored);
            assert!(notes.is_empty());
        }
        let (got, notes) = run(json!({
            "exception": [{"type": "E", "value": {"a": 1}}],
            "stacktrace": {"frames": [{"function": "f", "abs_path": "/a", "filename": "a"}]},
        }));
        assert_eq!(
            got,
            json!({"exception": {"values": [{"type": "E", "value": "{\"a\":1}",
                "stacktrace": {"frames": [{"function": "f", "abs_path": "/a", "filename": "a"}]}}]}})
        );
        assert!(notes.is_empty());
        let (got, notes) = run(json!({"transaction": "  POST /checkout "}));
        assert_eq!(got["transaction"], "POST /checkout");
        assert_eq!(notes, ["transaction"]);
    }
}
