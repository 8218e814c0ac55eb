//! How an exception was caught, and what the runtime's own Sentry SDK says of such an exception:
//! its mechanism's `handled` (the Unhandled badge, `error.unhandled` searches) and the event's
//! level.

use sentry_types::protocol::v7::{Level, Mechanism};
use serde_json::Value as Json;

use super::scan::{Found, Origin};
use super::severity::Severity;
use super::stacktrace::Runtime;
use crate::otlp_messages as otlp;

/// Where a request or message entered the service (`Span.SpanKind` SERVER and CONSUMER).
pub fn is_entry_kind(kind: u64) -> bool {
    matches!(kind, 2 | 5)
}

/// Whether nothing in the service caught the exception: `exception.escaped` is true (a
/// boolean, or OpenTelemetry Python's "True"), or the exception was recorded on an entry span
/// that ended in ERROR: it escaped the request's handler, where the server instrumentations
/// record it (Java's, Python's, .NET's, Ruby's, PHP's). Those write no `escaped`, and
/// OpenTelemetry Python writes "False" for an exception escaping `start_as_current_span` (its
/// `use_span` records it so), so a false one proves nothing. Node's and Go's server
/// instrumentations record no exception on their spans: one there was recorded by code that
/// caught it.
pub fn escaped(found: &Found, runtime: Option<Runtime>) -> bool {
    let said = otlp::get(found.attributes(), "exception.escaped").is_some_and(|v| match v {
        Json::Bool(b) => *b,
        Json::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    });
    let failed_entry = match (&found.origin, &found.span, runtime) {
        (_, _, Some(Runtime::Node | Runtime::Go)) => false,
        (Origin::SpanEvent(_), Some(span), _) => {
            is_entry_kind(span.kind) && span.status_code == otlp::STATUS_ERROR
        }
        _ => false,
    };
    said || failed_entry
}

/// The raised exception's mechanism: `handled` false when it escaped; when it was caught,
/// true, except for the JVM, whose SDK leaves it unset for captured and logged exceptions
/// (sentry-java's `SentryExceptionFactory`). A failed span says nothing of how it failed.
pub fn mechanism(found: &Found, runtime: Option<Runtime>) -> Mechanism {
    let escaped = escaped(found, runtime);
    let handled = match (&found.origin, escaped, runtime) {
        (Origin::ErrorSpan, _, _) => None,
        (_, true, _) => Some(false),
        (_, false, Some(Runtime::Jvm)) => None,
        (_, false, _) => Some(true),
    };
    let ty = match found.origin {
        Origin::SpanEvent(_) => "otel.span_event",
        Origin::LogRecord(_) => "otel.log_record",
        Origin::ErrorSpan => "otel.span_status",
    };
    Mechanism {
        ty: ty.into(),
        handled,
        ..Default::default()
    }
}

/// Whether the runtime's SDK links a plain chain of causes by ids (`exception_id`,
/// `parent_id`), which changes the order Sentry's grouping hashes the chain in
/// (`filter_exceptions_for_exception_groups`): sentry-java, the JavaScript, .NET and Go SDKs do;
/// sentry-python links only exception groups, and so do the others.
pub fn links_chains(runtime: Option<Runtime>) -> bool {
    matches!(
        runtime,
        Some(Runtime::Jvm | Runtime::Node | Runtime::DotNet | Runtime::Go)
    )
}

/// The event's level: a log record's severity; an exception that escaped on the JVM is
/// `fatal` (sentry-java's uncaught exception handler and Spring's resolver); else `error`.
pub fn level(found: &Found, runtime: Option<Runtime>) -> Level {
    match &found.origin {
        Origin::LogRecord(record) => {
            Severity::of_record(record.severity_number, &record.severity_text)
                .map_or(Level::Error, Severity::level)
        }
        _ if runtime == Some(Runtime::Jvm) && escaped(found, runtime) => Level::Fatal,
        _ => Level::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp_messages::{LogRecord, Span, SpanEvent};
    use serde_json::json;
    use std::sync::Arc;

    fn span_event(escaped: Option<Json>, kind: u64, status_code: u64) -> Found {
        Found {
            origin: Origin::SpanEvent(SpanEvent {
                time_unix_nano: 1,
                attributes: escaped
                    .map(|e| ("exception.escaped".to_owned(), e))
                    .into_iter()
                    .collect(),
            }),
            span: Some(Arc::new(Span {
                kind,
                status_code,
                ..Default::default()
            })),
            scope: None,
            resource: Arc::default(),
        }
    }

    #[test]
    fn escaped_is_read_as_each_sdk_writes_it_else_from_the_entry_span() {
        let error = otlp::STATUS_ERROR;
        let (python, node) = (Some(Runtime::Python), Some(Runtime::Node));
        let table = [
            (Some(json!("True")), 1, 0, python, true),
            (Some(json!("True")), 1, 0, node, true),
            (Some(json!("False")), 2, error, python, true),
            (Some(json!("False")), 1, error, python, false),
            (Some(json!(true)), 1, 0, None, true),
            (Some(json!("maybe")), 1, 0, None, false),
            (None, 1, error, python, false),
            (None, 2, error, python, true),
            (None, 2, error, None, true),
            (None, 2, error, node, false),
            (None, 5, error, Some(Runtime::Jvm), true),
            (None, 2, 1, python, false),
        ];
        for (attribute, kind, status, runtime, want) in table {
            let found = span_event(attribute.clone(), kind, status);
            let what = (&attribute, kind, status, runtime);
            assert_eq!(escaped(&found, runtime), want, "{what:?}");
        }
    }

    #[test]
    fn handled_and_level_as_the_runtimes_sdk_says() {
        let caught = span_event(Some(json!("False")), 1, 0);
        let escaped = span_event(Some(json!("True")), 2, otlp::STATUS_ERROR);
        let logged = Found {
            origin: Origin::LogRecord(LogRecord {
                severity_number: 21,
                ..Default::default()
            }),
            ..caught.clone()
        };
        let failed_span = Found {
            origin: Origin::ErrorSpan,
            ..caught.clone()
        };
        let (python, jvm) = (Some(Runtime::Python), Some(Runtime::Jvm));
        let table = [
            (&caught, python, Some(true), Level::Error),
            (&caught, jvm, None, Level::Error),
            (&caught, None, Some(true), Level::Error),
            (&escaped, python, Some(false), Level::Error),
            (&escaped, jvm, Some(false), Level::Fatal),
            (&logged, python, Some(true), Level::Fatal),
            (&logged, jvm, None, Level::Fatal),
            (&failed_span, python, None, Level::Error),
        ];
        for (found, runtime, handled, want_level) in table {
            let what = (&found.origin, runtime);
            assert_eq!(mechanism(found, runtime).handled, handled, "{what:?}");
            assert_eq!(level(found, runtime), want_level, "{what:?}");
        }
    }
}
