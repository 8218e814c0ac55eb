//! One Sentry error event from one OpenTelemetry exception: its exception values with frames
//! parsed from `exception.stacktrace`, the trace context that links it to its trace, release,
//! environment, server, tags and the OpenTelemetry attributes as the `otel` context.
//!
//! Size rule (Sentry takes events up to 1 MiB, and 200 KB compressed): every string taken
//! from the telemetry is cut to a bound, Relay's where it has one ([`MAX_VALUE`] for exception
//! values, [`MAX_TYPE`] for their types and modules, [`MAX_TRANSACTION`], [`MAX_LOGGER`],
//! [`MAX_RAW`] for a stack trace kept raw, [`MAX_ATTRIBUTE`] for attribute values,
//! [`MAX_TAG`] for tags and attribute names), at most [`MAX_ATTRIBUTES`] attributes are kept
//! per map, and the parsers keep at most 16 exceptions of 256 frames, their names cut to
//! [`stacktrace::MAX_FRAME_TEXT`]. An event still larger
//! than [`MAX_EVENT`] serialized, or one Sentry answers 413, is cut by [`essentials`].
//! An event is never dropped for its size, unless even those are too large.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use sentry_types::protocol::v7::{
    ClientSdkInfo, Context, Event, Exception, LogEntry, Map, Mechanism, OsContext, OtelContext,
    Request, RuntimeContext, SpanStatus, TraceContext, Values,
};
use serde_json::Value as Json;
use uuid::Uuid;

use super::capture;
use super::scan::{Found, Origin};
use super::stacktrace::{self, mechanism_keys, Runtime};
use crate::cut::{cut, cut_in_place};
use crate::otlp_messages::{self as otlp, Attributes, Span};
use crate::release::{environment_of, release_of};

/// Longest exception value kept, in bytes (Relay's limit for `exception.value` is 8,192).
pub const MAX_VALUE: usize = stacktrace::MAX_MESSAGE;
/// Longest exception type or module, in bytes (Relay's are 256 characters).
pub const MAX_TYPE: usize = 256;
/// Longest transaction, in bytes (Relay's limit is 200 characters).
pub const MAX_TRANSACTION: usize = 200;
/// Longest logger name, in bytes (Relay's limit is 64 characters, without line breaks).
pub const MAX_LOGGER: usize = 64;
/// Longest stack trace kept raw when no parser recognises it.
pub const MAX_RAW: usize = 16384;
/// Longest attribute value (string) kept in the `otel` context.
pub const MAX_ATTRIBUTE: usize = 1024;
/// Longest tag value (Sentry's limit is 200 characters).
pub const MAX_TAG: usize = 200;
/// Attributes kept per map (the exception's, the span's or log record's, the resource's).
pub const MAX_ATTRIBUTES: usize = 128;
/// Largest event sent whole, serialized; larger ones are cut as the module says.
pub const MAX_EVENT: usize = 900 * 1024;
/// Frames kept by the last resort of the size rule.
pub const LAST_RESORT_FRAMES: usize = 64;
/// Longest exception value kept by the last resort.
pub const MAX_ESSENTIAL_VALUE: usize = 1024;

/// `sdk.name` of every event: the exporter that made it.
pub const SDK_NAME: &str = "otelcol-sentry";

/// The resource attributes that identify where an event's service runs, each an event tag
/// to search and group issues by (bounded: names, not ids). `host.name` is not among them: it
/// is the event's `server_name`, which Sentry shows as a tag already. Trace metrics need no
/// such list: they carry every resource attribute (`trace_metrics::attributes`).
const TAGGED: [&str; 12] = [
    "service.name",
    "service.namespace",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.pod.name",
    "k8s.node.name",
    "cloud.provider",
    "cloud.region",
    "cloud.availability_zone",
];

/// What every event of one exporter shares.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `errors.in_app_include`: module or path prefixes of the user's own code.
    pub in_app_include: Vec<String>,
}

/// The error event of `found`, with `event_id`; `now` is its time when the telemetry gives
/// none.
pub fn build(found: &Found, event_id: Uuid, options: &Options, now: SystemTime) -> Event<'static> {
    let resource = &*found.resource;
    let language = otlp::get_str(resource, crate::platform::SDK_LANGUAGE_ATTRIBUTE);
    let runtime = language.and_then(Runtime::of_language);
    let record = match &found.origin {
        Origin::LogRecord(record) => Some(record),
        _ => None,
    };
    let mut event = Event {
        event_id,
        level: capture::level(found, runtime),
        platform: Cow::Borrowed(crate::platform::of_event(language.unwrap_or(""))),
        timestamp: time(found).unwrap_or(now),
        // Native events name a logger only when a logging library made them.
        logger: record.and(found.scope.as_deref()).and_then(logger),
        logentry: record.and_then(|r| log_entry(&r.body)),
        transaction: found.span.as_deref().and_then(transaction),
        request: found.span.as_deref().and_then(request),
        release: release_of(resource).map(|release| Cow::Owned(release.to_owned())),
        environment: environment_of(resource).map(tag_value),
        server_name: string(resource, "host.name"),
        exception: Values {
            values: exceptions(found, runtime, options),
        },
        tags: tags(resource),
        sdk: Some(Cow::Owned(ClientSdkInfo {
            name: SDK_NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            integrations: Vec::new(),
            packages: Vec::new(),
        })),
        ..Default::default()
    };
    if let Some(trace) = trace_context(found) {
        event
            .contexts
            .insert("trace".into(), Context::Trace(Box::new(trace)));
    }
    if let Some(runtime) = runtime_context(resource) {
        event
            .contexts
            .insert("runtime".into(), Context::Runtime(Box::new(runtime)));
    }
    if let Some(os) = os_context(resource) {
        event
            .contexts
            .insert("os".into(), Context::Os(Box::new(os)));
    }
    event
        .contexts
        .insert("otel".into(), Context::Otel(Box::new(otel(found))));
    if let Some(raw) = raw_stacktrace(found, &event) {
        event
            .extra
            .insert("exception.stacktrace".into(), Json::String(raw));
    }
    fit(&mut event);
    event
}

/// The exception's time: the span event's or log record's (its observed time when it has
/// none), a failed span's end.
fn time(found: &Found) -> Option<SystemTime> {
    let nanos = match (&found.origin, &found.span) {
        (Origin::SpanEvent(event), _) => event.time_unix_nano,
        (Origin::LogRecord(record), _) if record.time_unix_nano != 0 => record.time_unix_nano,
        (Origin::LogRecord(record), _) => record.observed_time_unix_nano,
        (Origin::ErrorSpan, Some(span)) => span.end_time_unix_nano,
        (Origin::ErrorSpan, None) => 0,
    };
    (nanos != 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// A non-empty string attribute, cut to [`MAX_TAG`].
fn string(attributes: &Attributes, key: &str) -> Option<Cow<'static, str>> {
    let value = otlp::get_str(attributes, key).filter(|v| !v.is_empty())?;
    Some(tag_value(value))
}

/// `value` cut to a tag's bound.
fn tag_value(value: &str) -> Cow<'static, str> {
    Cow::Owned(cut(value, MAX_TAG).to_owned())
}

fn tags(resource: &Attributes) -> Map<String, String> {
    TAGGED
        .iter()
        .filter_map(|key| Some((key.to_string(), string(resource, key)?.into_owned())))
        .collect()
}

/// The exception values, oldest first: parsed from the stack trace when a parser recognises
/// it; the exception raised is named by the runtime's own text when it has a header (as the
/// runtime's Sentry SDK names it), else by the OpenTelemetry attributes.
fn exceptions(found: &Found, runtime: Option<Runtime>, options: &Options) -> Vec<Exception> {
    let attributes = found.attributes();
    let attribute = |key: &str, max: usize| bounded_text(otlp::get_str(attributes, key)?, max);
    let mut values = otlp::get_str(attributes, "exception.stacktrace")
        .and_then(|text| stacktrace::parse(text, runtime))
        .unwrap_or_default();
    stacktrace::apply_in_app(&mut values, &options.in_app_include);
    if values.is_empty() {
        values.push(Exception::default());
    }
    let (ty, value) = names(
        found,
        attribute("exception.type", MAX_TYPE),
        attribute("exception.message", MAX_VALUE),
    );
    let raised = stacktrace::raised_index(&values);
    let header = header_names(found, runtime, &values[raised]);
    name_raised(&mut values[raised], found, runtime, header, ty, value);
    let mechanism = capture::mechanism(found, runtime);
    let numbered = values.iter().any(|e| {
        e.mechanism
            .as_ref()
            .is_some_and(|m| m.data.contains_key(mechanism_keys::EXCEPTION_ID))
    });
    let link = !numbered && capture::links_chains(runtime);
    for (index, exception) in values.iter_mut().enumerate() {
        exception.mechanism = Some(own_mechanism(exception, &mechanism, index, raised, link));
        // The parsers cut values and frames; types and modules come whole from their headers.
        cut_in_place(&mut exception.ty, MAX_TYPE);
        exception
            .value
            .iter_mut()
            .for_each(|v| cut_in_place(v, MAX_VALUE));
        exception
            .module
            .iter_mut()
            .for_each(|m| cut_in_place(m, MAX_TYPE));
    }
    values
}

/// Names the raised exception: by the runtime's header when the text has one (`header`),
/// else by the OpenTelemetry attributes (`ty`, `value`).
fn name_raised(
    exception: &mut Exception,
    found: &Found,
    runtime: Option<Runtime>,
    header: bool,
    ty: Option<String>,
    value: Option<String>,
) {
    // OpenTelemetry Python's span events name the class with its module (`__main__` too,
    // which the traceback leaves out, and nested classes the text cannot tell).
    let qualified = match (&found.origin, runtime, &ty) {
        (Origin::ErrorSpan, _, _) => None,
        (_, Some(Runtime::Python), Some(ty)) if ty.contains('.') => {
            Some(stacktrace::split_python_type(ty)).filter(|(_, name)| !name.is_empty())
        }
        _ => None,
    };
    if let Some((module, name)) = qualified {
        exception.module = module.map(str::to_owned);
        exception.ty = name.to_owned();
    } else if !header {
        exception.ty = ty
            .clone()
            .or_else(|| Some(exception.ty.clone()).filter(|t| !t.is_empty()))
            .unwrap_or_else(|| "Error".into());
    }
    if !header || exception.value.is_none() {
        exception.value = value.or_else(|| exception.value.take());
    }
}

/// The mechanism of the `index`-th exception of a chain whose raised one is at `raised`:
/// the capture's, with what the parser found (links of chains and groups as data, a cause's
/// kind as its type, `errno` as meta); with `link`, a plain chain linked as the runtime's
/// SDK links it (the raised exception 0, each cause the child of the exception it caused).
fn own_mechanism(
    exception: &mut Exception,
    capture: &Mechanism,
    index: usize,
    raised: usize,
    link: bool,
) -> Mechanism {
    let mut own = capture.clone();
    let parsed = exception.mechanism.take().unwrap_or_default();
    own.data.extend(parsed.data);
    own.meta = parsed.meta;
    if index != raised {
        own.ty = Some(parsed.ty)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| CHAINED.into());
    }
    if link {
        let id = raised - index;
        own.data
            .insert(mechanism_keys::EXCEPTION_ID.into(), Json::from(id));
        if id > 0 {
            own.data
                .insert(mechanism_keys::PARENT_ID.into(), Json::from(id - 1));
        }
    }
    own
}

/// Whether the stack trace's own header names the raised exception: it does as the runtime
/// prints it, which is what the runtime's Sentry SDK sends, where the attributes may differ
/// (OpenTelemetry Python's logging handler writes the class's bare name and `args[0]`,
/// OpenTelemetry JS an error's `code` as its type). Go's header is `panic`, not a type; a
/// failed span is named by the span.
fn header_names(found: &Found, runtime: Option<Runtime>, parsed: &Exception) -> bool {
    !parsed.ty.is_empty()
        && runtime != Some(Runtime::Go)
        && !matches!(found.origin, Origin::ErrorSpan)
}

/// `text` cut to `max` bytes and owned; `None` when empty.
fn bounded_text(text: &str, max: usize) -> Option<String> {
    (!text.is_empty()).then(|| cut(text, max).to_owned())
}

/// A log record's body as the event's message, as Sentry's logging integrations send the
/// logged message (OpenTelemetry carries it formatted, without its template).
fn log_entry(body: &Json) -> Option<LogEntry> {
    let message = bounded_text(body.as_str()?, MAX_VALUE)?;
    Some(LogEntry {
        message,
        params: Vec::new(),
    })
}

/// The span's name, when the span is where a request or message entered the service (a
/// server or consumer span, or a root): native SDKs name the event after that transaction.
/// A child span's name (`SELECT ...`) would stand for the transaction, so none then.
fn transaction(span: &Span) -> Option<String> {
    let entry =
        matches!(span.kind, SPAN_KIND_SERVER | SPAN_KIND_CONSUMER) || span.parent_span_id.is_none();
    entry
        .then(|| bounded_text(&span.name, MAX_TRANSACTION))
        .flatten()
}

/// The request a server span served: its URL and method, as native SDKs' request card.
fn request(span: &Span) -> Option<Request> {
    if span.kind != SPAN_KIND_SERVER {
        return None;
    }
    let text = |key: &str| otlp::get_str(&span.attributes, key).filter(|v| !v.is_empty());
    let url = text("url.full")
        .or_else(|| text("http.url"))
        .and_then(|u| u.parse().ok());
    let method = text("http.request.method").or_else(|| text("http.method"));
    (url.is_some() || method.is_some()).then(|| Request {
        url,
        method: method.map(|m| cut(m, MAX_TAG).to_owned()),
        ..Default::default()
    })
}

/// The runtime card: `process.runtime.name` and `.version`.
fn runtime_context(resource: &Attributes) -> Option<RuntimeContext> {
    let name = string(resource, "process.runtime.name");
    let version = string(resource, "process.runtime.version");
    (name.is_some() || version.is_some()).then(|| RuntimeContext {
        name: name.map(Cow::into_owned),
        version: version.map(Cow::into_owned),
        ..Default::default()
    })
}

/// The operating system card: `os.name` (else `os.type`), `os.version`, and
/// `os.description` as its raw description.
fn os_context(resource: &Attributes) -> Option<OsContext> {
    let name = string(resource, "os.name").or_else(|| string(resource, "os.type"));
    let version = string(resource, "os.version");
    let description = string(resource, "os.description");
    if name.is_none() && version.is_none() && description.is_none() {
        return None;
    }
    let mut os = OsContext {
        name: name.map(Cow::into_owned),
        version: version.map(Cow::into_owned),
        ..Default::default()
    };
    if let Some(description) = description {
        os.other
            .insert("raw_description".into(), Json::String(description.into()));
    }
    Some(os)
}

/// The instrumentation scope's name as the event's logger: cut to [`MAX_LOGGER`]; `None` when
/// empty or holding a line break, which Relay refuses there.
fn logger(scope: &str) -> Option<String> {
    let name = bounded_text(scope, MAX_LOGGER)?;
    (!name.contains(['\r', '\n'])).then_some(name)
}

/// The raised exception's type and value: the OpenTelemetry attributes; for a log record
/// without a message its body, for a failed span its name and status message.
fn names(
    found: &Found,
    ty: Option<String>,
    message: Option<String>,
) -> (Option<String>, Option<String>) {
    match (&found.origin, &found.span) {
        (Origin::ErrorSpan, Some(span)) => (
            Some(span.name.clone()).filter(|n| !n.is_empty()),
            Some(span.status_message.clone()).filter(|m| !m.is_empty()),
        ),
        (Origin::LogRecord(record), _) if message.is_none() => {
            (ty, record.body.as_str().map(str::to_owned))
        }
        _ => (ty, message),
    }
}

/// `mechanism.type` of an exception's causes, as Sentry's SDKs name it.
const CHAINED: &str = "chained";

/// The raw stack trace, when the event has no frames from it.
fn raw_stacktrace(found: &Found, event: &Event<'_>) -> Option<String> {
    let parsed = event
        .exception
        .values
        .iter()
        .any(|e| e.stacktrace.is_some());
    let text = otlp::get_str(found.attributes(), "exception.stacktrace")?;
    (!parsed && !text.is_empty()).then(|| cut(text, MAX_RAW).to_owned())
}

/// `contexts.trace`: the span's ids, kind as `op` and status; for a log record its ids.
fn trace_context(found: &Found) -> Option<TraceContext> {
    let (Some(trace_id), Some(span_id)) = found.ids() else {
        return None;
    };
    let mut context = TraceContext {
        trace_id: trace_id.into(),
        span_id: span_id.into(),
        ..Default::default()
    };
    if let (Some(span), false) = (&found.span, matches!(found.origin, Origin::LogRecord(_))) {
        context.parent_span_id = span.parent_span_id.map(Into::into);
        context.op = Some(op(span).into());
        context.status = Some(status(span));
    }
    Some(context)
}

/// `Span.SpanKind`s.
const SPAN_KIND_SERVER: u64 = 2;
const SPAN_KIND_CLIENT: u64 = 3;
const SPAN_KIND_PRODUCER: u64 = 4;
const SPAN_KIND_CONSUMER: u64 = 5;

/// Sentry's `op` for a span, from its kind and the conventions its attributes follow.
fn op(span: &Span) -> &'static str {
    let has = |key: &str| otlp::get(&span.attributes, key).is_some();
    let http = has("http.request.method") || has("http.method");
    match span.kind {
        SPAN_KIND_SERVER if http => "http.server",
        SPAN_KIND_CLIENT if http => "http.client",
        _ if has("db.system") || has("db.system.name") => "db",
        SPAN_KIND_PRODUCER => "queue.publish",
        SPAN_KIND_CONSUMER => "queue.process",
        SPAN_KIND_SERVER | SPAN_KIND_CLIENT if has("rpc.system") => "rpc",
        _ => "default",
    }
}

/// The span's status: an ERROR span's from its HTTP status code when it has one, as Sentry's
/// SDKs map codes (`SpanStatus.from_http` in sentry-python).
fn status(span: &Span) -> SpanStatus {
    if span.status_code != otlp::STATUS_ERROR {
        return SpanStatus::Ok;
    }
    let code = otlp::get(&span.attributes, "http.response.status_code")
        .or_else(|| otlp::get(&span.attributes, "http.status_code"))
        .and_then(Json::as_i64);
    match code {
        Some(400) => SpanStatus::InvalidArgument,
        Some(401) => SpanStatus::Unauthenticated,
        Some(403) => SpanStatus::PermissionDenied,
        Some(404) => SpanStatus::NotFound,
        Some(409) => SpanStatus::AlreadyExists,
        Some(429) => SpanStatus::ResourceExhausted,
        Some(499) => SpanStatus::Cancelled,
        Some(400..=499) => SpanStatus::InvalidArgument,
        Some(501) => SpanStatus::Unimplemented,
        Some(503) => SpanStatus::Unavailable,
        Some(504) => SpanStatus::DeadlineExceeded,
        _ => SpanStatus::InternalError,
    }
}

/// The `otel` context: the span's or log record's attributes, the exception's other
/// attributes, the resource's.
fn otel(found: &Found) -> OtelContext {
    let span = match (&found.origin, &found.span) {
        (Origin::LogRecord(_), _) | (_, None) => &[][..],
        (_, Some(span)) => &span.attributes[..],
    };
    let own = found
        .attributes()
        .iter()
        .filter(|(k, _)| !k.starts_with("exception."));
    OtelContext {
        attributes: bounded(span.iter().chain(own)),
        resource: bounded(found.resource.iter()),
        ..Default::default()
    }
}

/// At most [`MAX_ATTRIBUTES`] attributes, their string values cut to [`MAX_ATTRIBUTE`].
fn bounded<'a>(attributes: impl Iterator<Item = &'a (String, Json)>) -> Map<String, Json> {
    attributes
        .take(MAX_ATTRIBUTES)
        .map(|(k, v)| (cut(k, MAX_TAG).to_owned(), cut_json(v)))
        .collect()
}

fn cut_json(value: &Json) -> Json {
    match value {
        Json::String(s) => Json::String(cut(s, MAX_ATTRIBUTE).to_owned()),
        Json::Array(items) => {
            Json::Array(items.iter().take(MAX_ATTRIBUTES).map(cut_json).collect())
        }
        Json::Object(map) => Json::Object(
            map.iter()
                .take(MAX_ATTRIBUTES)
                .map(|(k, v)| (cut(k, MAX_TAG).to_owned(), cut_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The last step of the size rule (see the module).
fn fit(event: &mut Event<'static>) {
    while serialized_len(event) > MAX_EVENT {
        match essentials(event) {
            Some(smaller) => *event = smaller,
            None => return,
        }
    }
}

/// A smaller event that still identifies its issue, for an event Sentry found too large
/// (413) or that is over [`MAX_EVENT`], in two steps: first without the `otel` context, raw
/// text and tags, every exception's value cut to [`MAX_ESSENTIAL_VALUE`] and its frames to the
/// newest [`LAST_RESORT_FRAMES`] (the chain of causes kept); then only the raised exception.
/// `None` when the event is already the second.
pub fn essentials(event: &Event<'static>) -> Option<Event<'static>> {
    let mut smaller = event.clone();
    smaller.contexts.remove("otel");
    smaller.extra.clear();
    smaller.tags.clear();
    for exception in &mut smaller.exception.values {
        exception.value = exception
            .value
            .take()
            .map(|v| cut(&v, MAX_ESSENTIAL_VALUE).to_owned());
        if let Some(stacktrace) = &mut exception.stacktrace {
            let frames = &mut stacktrace.frames;
            frames.drain(..frames.len().saturating_sub(LAST_RESORT_FRAMES));
        }
    }
    if smaller == *event {
        let values = &mut smaller.exception.values;
        let raised = values.drain(..).next_back();
        values.extend(raised);
    }
    (smaller != *event).then_some(smaller)
}

/// The event's size as sent (its JSON).
pub fn serialized_len(event: &Event<'_>) -> usize {
    crate::json_len::json_len(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp_messages::{LogRecord, SpanEvent};
    use serde_json::json;
    use std::sync::Arc;

    fn resource() -> Arc<Attributes> {
        Arc::new(vec![
            ("service.name".into(), json!("shop")),
            ("service.version".into(), json!("1.4.2")),
            ("deployment.environment.name".into(), json!("prod")),
            ("host.name".into(), json!("node-7")),
            ("telemetry.sdk.language".into(), json!("python")),
            ("k8s.pod.name".into(), json!("shop-5d8f")),
            ("process.pid".into(), json!(42)),
        ])
    }

    fn span() -> Arc<Span> {
        Arc::new(Span {
            trace_id: Some([1; 16]),
            span_id: Some([2; 8]),
            parent_span_id: Some([3; 8]),
            name: "POST /checkout".into(),
            kind: 2,
            status_code: otlp::STATUS_ERROR,
            attributes: vec![
                ("http.request.method".into(), json!("POST")),
                ("http.response.status_code".into(), json!(503)),
            ],
            ..Default::default()
        })
    }

    fn span_event(attributes: Attributes) -> Found {
        Found {
            origin: Origin::SpanEvent(SpanEvent {
                time_unix_nano: 1_700_000_000_500_000_000,
                attributes,
            }),
            span: Some(span()),
            scope: Some("shop.checkout".into()),
            resource: resource(),
        }
    }

    fn build_json(found: &Found) -> Json {
        let event = build(
            found,
            Uuid::from_u128(7),
            &Options::default(),
            SystemTime::UNIX_EPOCH,
        );
        serde_json::to_value(event).unwrap()
    }

    #[test]
    fn a_span_event_makes_an_event_linked_to_its_trace() {
        let event = build_json(&span_event(vec![
            ("exception.type".into(), json!("ValueError")),
            ("exception.message".into(), json!("card declined")),
            ("exception.escaped".into(), json!(true)),
            ("order.id".into(), json!(12)),
        ]));
        let want = json!({
            "platform": "python",
            "transaction": "POST /checkout",
            "release": "1.4.2",
            "environment": "prod",
            "server_name": "node-7",
            "timestamp": 1_700_000_000.5,
        });
        for (key, value) in want.as_object().unwrap() {
            assert_eq!(&event[key], value, "{key}");
        }
        assert_eq!(
            event["tags"],
            json!({"service.name": "shop", "k8s.pod.name": "shop-5d8f"})
        );
        let exception = &event["exception"]["values"][0];
        assert_eq!(exception["type"], "ValueError");
        assert_eq!(exception["value"], "card declined");
        assert_eq!(exception["mechanism"]["type"], "otel.span_event");
        assert_eq!(exception["mechanism"]["handled"], false);
        assert!(event.get("logger").is_none(), "a tracer is no logger");
        assert_eq!(event["request"]["method"], "POST");
        let trace = &event["contexts"]["trace"];
        assert_eq!(trace["trace_id"], "01".repeat(16));
        assert_eq!(trace["span_id"], "02".repeat(8));
        assert_eq!(trace["parent_span_id"], "03".repeat(8));
        assert_eq!(trace["op"], "http.server");
        assert_eq!(trace["status"], "unavailable");
        let otel = &event["contexts"]["otel"];
        assert_eq!(otel["attributes"]["order.id"], 12);
        assert_eq!(otel["attributes"]["http.request.method"], "POST");
        assert!(otel["attributes"].get("exception.type").is_none());
        assert_eq!(otel["resource"]["process.pid"], 42);
    }

    #[test]
    fn a_logged_exception_is_handled_and_its_body_stands_for_a_missing_message() {
        let found = Found {
            origin: Origin::LogRecord(LogRecord {
                observed_time_unix_nano: 2_000_000_000,
                trace_id: Some([1; 16]),
                span_id: Some([9; 8]),
                body: json!("payment failed"),
                attributes: vec![("exception.type".into(), json!("TimeoutError"))],
                ..Default::default()
            }),
            span: None,
            scope: None,
            resource: Arc::new(vec![("telemetry.sdk.language".into(), json!("dotnet"))]),
        };
        let event = build_json(&found);
        assert_eq!(event["platform"], "csharp");
        assert_eq!(event["timestamp"], 2.0);
        let exception = &event["exception"]["values"][0];
        assert_eq!(
            (&exception["type"], &exception["value"]),
            (&json!("TimeoutError"), &json!("payment failed"))
        );
        assert_eq!(exception["mechanism"]["handled"], true);
        assert_eq!(event["contexts"]["trace"]["span_id"], "09".repeat(8));
        assert!(event["contexts"]["trace"].get("op").is_none());
        assert!(event.get("transaction").is_none());
    }

    fn logged(severity_number: u64, attributes: Attributes) -> Found {
        Found {
            origin: Origin::LogRecord(LogRecord {
                time_unix_nano: 3_000_000_000,
                severity_number,
                body: json!("reserve failed sku-42"),
                attributes,
                ..Default::default()
            }),
            span: None,
            scope: Some("shop.inventory".into()),
            resource: resource(),
        }
    }

    #[test]
    fn a_logged_exception_is_named_as_the_logging_integrations_name_it() {
        let traceback = "Traceback (most recent call last):\n  File \"/app/inventory.py\", line 9, in reserve\n    stock[sku]\nKeyError: 'sku-42'\n";
        let attributes = vec![
            ("exception.type".into(), json!("KeyError")),
            ("exception.message".into(), json!("sku-42")),
            ("exception.stacktrace".into(), json!(traceback)),
        ];
        let table = [
            (17, json!(null)),
            (21, json!("fatal")),
            (13, json!("warning")),
            (0, json!(null)),
        ];
        for (severity, level) in table {
            let event = build_json(&logged(severity, attributes.clone()));
            assert_eq!(
                event.get("level").unwrap_or(&json!(null)),
                &level,
                "{severity}"
            );
            assert_eq!(event["logger"], "shop.inventory");
            assert_eq!(event["logentry"]["message"], "reserve failed sku-42");
            let raised = &event["exception"]["values"][0];
            // The traceback prints `str()` of the exception, as sentry-python sends it; the
            // logging handler's attribute is `args[0]`.
            assert_eq!(
                (&raised["type"], &raised["value"]),
                (&json!("KeyError"), &json!("'sku-42'"))
            );
            assert_eq!(raised["mechanism"]["type"], "otel.log_record");
            assert_eq!(raised["mechanism"]["handled"], true);
            assert!(event.get("transaction").is_none());
        }
    }

    #[test]
    fn the_runtimes_own_header_names_the_exception_except_gos() {
        let node = "Error: connect ECONNREFUSED 127.0.0.1:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)\n";
        let go = "goroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d\n";
        let table = [
            (
                "nodejs",
                "ECONNREFUSED",
                node,
                "Error",
                "connect ECONNREFUSED 127.0.0.1:5432",
            ),
            (
                "go",
                "*errors.errorString",
                go,
                "*errors.errorString",
                "declined",
            ),
        ];
        for (language, ty, text, want_type, want_value) in table {
            let mut found = span_event(vec![
                ("exception.type".into(), json!(ty)),
                ("exception.message".into(), json!("declined")),
                ("exception.stacktrace".into(), json!(text)),
            ]);
            found.resource = Arc::new(vec![("telemetry.sdk.language".into(), json!(language))]);
            let event = build_json(&found);
            let raised = &event["exception"]["values"][0];
            assert_eq!(
                (raised["type"].as_str(), raised["value"].as_str()),
                (Some(want_type), Some(want_value)),
                "{language}"
            );
        }
    }

    #[test]
    fn a_chain_is_linked_by_ids_where_the_runtimes_sdk_links_it() {
        let java = "java.lang.IllegalStateException: declined\n\tat shop.Pay.charge(Pay.java:9)\nCaused by: java.io.IOException: reset\n\tat shop.Net.read(Net.java:3)\n\t... 1 more\n";
        let python = "Traceback (most recent call last):\n  File \"/app/pay.py\", line 3, in charge\n    read()\nOSError: reset\n\nThe above exception was the direct cause of the following exception:\n\nTraceback (most recent call last):\n  File \"/app/pay.py\", line 9, in main\n    charge()\nValueError: declined\n";
        let table = [
            (
                "java",
                java,
                vec![
                    json!({"exception_id": 1, "parent_id": 0}),
                    json!({"exception_id": 0}),
                ],
            ),
            ("python", python, vec![json!({}), json!({})]),
        ];
        for (language, text, want) in table {
            let mut found = span_event(vec![("exception.stacktrace".into(), json!(text))]);
            found.resource = Arc::new(vec![("telemetry.sdk.language".into(), json!(language))]);
            let event = build_json(&found);
            let links: Vec<Json> = event["exception"]["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let data = e["mechanism"]["data"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                    Json::Object(
                        data.into_iter()
                            .filter(|(k, _)| k.ends_with("_id"))
                            .collect(),
                    )
                })
                .collect();
            assert_eq!(links, want, "{language}");
        }
    }

    #[test]
    fn a_python_type_is_split_into_module_and_class() {
        let table = [
            (
                "shop_errors.PaymentDeclined",
                Some("shop_errors"),
                "PaymentDeclined",
            ),
            ("__main__.Outer.Inner", Some("__main__"), "Outer.Inner"),
            ("KeyError", None, "KeyError"),
            ("broken.", None, "broken."),
        ];
        let mut failed = span_event(Vec::new());
        failed.origin = Origin::ErrorSpan;
        let mut span = (*span()).clone();
        span.name = "GET /orders.json".into();
        failed.span = Some(Arc::new(span));
        let event = build_json(&failed);
        assert_eq!(event["exception"]["values"][0]["type"], "GET /orders.json");
        for (ty, module, name) in table {
            let event = build_json(&span_event(vec![("exception.type".into(), json!(ty))]));
            let raised = &event["exception"]["values"][0];
            assert_eq!(
                (raised["module"].as_str(), raised["type"].as_str()),
                (module, Some(name)),
                "{ty}"
            );
        }
    }

    #[test]
    fn only_an_entry_span_names_the_transaction() {
        let table = [
            (2, Some([3; 8]), true),
            (5, Some([3; 8]), true),
            (1, None, true),
            (3, Some([3; 8]), false),
            (1, Some([3; 8]), false),
        ];
        for (kind, parent, named) in table {
            let mut span = (*span()).clone();
            span.kind = kind;
            span.parent_span_id = parent;
            let mut found = span_event(Vec::new());
            found.span = Some(Arc::new(span));
            let event = build_json(&found);
            assert_eq!(
                event.get("transaction").is_some(),
                named,
                "{kind} {parent:?}"
            );
        }
    }

    #[test]
    fn the_resource_fills_the_runtime_and_os_cards() {
        let mut found = span_event(Vec::new());
        found.resource = Arc::new(vec![
            ("process.runtime.name".into(), json!("CPython")),
            ("process.runtime.version".into(), json!("3.11.2")),
            ("os.type".into(), json!("linux")),
            ("os.description".into(), json!("Debian GNU/Linux 12")),
        ]);
        let event = build_json(&found);
        assert_eq!(
            event["contexts"]["runtime"],
            json!({"type": "runtime", "name": "CPython", "version": "3.11.2"})
        );
        assert_eq!(
            event["contexts"]["os"],
            json!({"type": "os", "name": "linux", "raw_description": "Debian GNU/Linux 12"})
        );
    }

    #[test]
    fn a_failed_span_is_named_by_its_name_and_status() {
        let mut span = (*span()).clone();
        span.status_message = "upstream unavailable".into();
        span.end_time_unix_nano = 4_000_000_000;
        let found = Found {
            origin: Origin::ErrorSpan,
            span: Some(Arc::new(span)),
            scope: None,
            resource: Arc::default(),
        };
        let event = build_json(&found);
        let exception = &event["exception"]["values"][0];
        assert_eq!(exception["type"], "POST /checkout");
        assert_eq!(exception["value"], "upstream unavailable");
        assert_eq!(exception["mechanism"]["type"], "otel.span_status");
        // `other` and `error` are Sentry's defaults, not written.
        assert_eq!((event.get("platform"), event.get("level")), (None, None));
        assert_eq!(event["timestamp"], 4.0, "the span's end");
    }

    #[test]
    fn text_no_parser_reads_is_kept_raw_and_cut() {
        let raw = "something went wrong\n".repeat(2000);
        let event = build_json(&span_event(vec![
            ("exception.type".into(), json!("Weird")),
            ("exception.stacktrace".into(), json!(raw)),
        ]));
        assert_eq!(
            event["extra"]["exception.stacktrace"]
                .as_str()
                .unwrap()
                .len(),
            MAX_RAW
        );
        assert_eq!(event["exception"]["values"][0]["type"], "Weird");
    }

    #[test]
    fn events_stay_within_sentrys_size_limits() {
        let huge = "é".repeat(1 << 19);
        let mut attributes: Attributes = (0..200)
            .map(|i| (format!("attr.{i}"), json!(huge)))
            .collect();
        attributes.push(("exception.message".into(), json!(huge)));
        let event = build_json(&span_event(attributes));
        let size = serde_json::to_vec(&event).unwrap().len();
        assert!(size <= MAX_EVENT, "{size}");
        let value = event["exception"]["values"][0]["value"].as_str().unwrap();
        assert!(value.len() <= MAX_VALUE && value.len() > MAX_VALUE - 4);
        assert_eq!(
            event["contexts"]["otel"]["attributes"]
                .as_object()
                .unwrap()
                .len(),
            MAX_ATTRIBUTES
        );
        assert_eq!(event["exception"]["values"][0]["type"], "Error");
    }

    #[test]
    fn every_field_relay_bounds_is_cut_so_the_event_is_kept_whole() {
        let huge = "x".repeat(2 << 20);
        let mut found = span_event(vec![
            ("exception.type".into(), json!(huge)),
            ("exception.message".into(), json!("declined")),
            (huge.clone(), json!("an attribute of a long name")),
        ]);
        let mut span = (*span()).clone();
        span.name = huge.clone();
        found.span = Some(Arc::new(span));
        let event = build_json(&found);
        let size = serde_json::to_vec(&event).unwrap().len();
        assert!(size < 16 * 1024, "{size}");
        let raised = &event["exception"]["values"][0];
        assert_eq!(raised["type"].as_str().map(str::len), Some(MAX_TYPE));
        assert_eq!(raised["value"], "declined");
        let transaction = event["transaction"].as_str().map(str::len);
        assert_eq!(transaction, Some(MAX_TRANSACTION));
        let attributes = event["contexts"]["otel"]["attributes"].as_object().unwrap();
        assert!(attributes.keys().all(|k| k.len() <= MAX_TAG));
        let mut logged = logged(17, Vec::new());
        logged.scope = Some(huge.clone());
        let logger = build_json(&logged)["logger"].as_str().map(str::len);
        assert_eq!(logger, Some(MAX_LOGGER));
        // Relay refuses a logger with a line break: none is sent then.
        logged.scope = Some("shop\ncheckout".into());
        assert!(build_json(&logged).get("logger").is_none());
    }

    #[test]
    fn cutting_keeps_the_chain_with_its_newest_frames_then_the_raised_exception() {
        use sentry_types::protocol::v7::{Frame, Stacktrace};
        let frame = |i: usize| Frame {
            function: Some(format!("f{i}_{}", "x".repeat(stacktrace::MAX_FRAME_TEXT))),
            ..Default::default()
        };
        let exception = |n| Exception {
            ty: format!("E{n}"),
            stacktrace: Some(Stacktrace {
                frames: (0..256).map(frame).collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut event = Event {
            exception: Values {
                values: (0..16).map(exception).collect(),
            },
            ..Default::default()
        };
        fit(&mut event);
        assert!(serialized_len(&event) <= MAX_EVENT);
        let frames = |e: &Exception| e.stacktrace.as_ref().unwrap().frames.clone();
        assert_eq!(event.exception.values.len(), 16, "the causes are kept");
        for exception in &event.exception.values {
            let frames = frames(exception);
            assert_eq!(frames.len(), LAST_RESORT_FRAMES);
            assert!(frames[63].function.as_ref().unwrap().starts_with("f255_"));
        }
        let last = essentials(&event).expect("a second step");
        assert_eq!(last.exception.values.len(), 1);
        assert_eq!(last.exception.values[0].ty, "E15");
        assert_eq!(frames(&last.exception.values[0]).len(), LAST_RESORT_FRAMES);
        assert_eq!(essentials(&last), None, "nothing more to cut");
    }
}
