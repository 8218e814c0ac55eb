//! The exception scanner (`errors::scan`) and the events made of what it finds
//! (`errors::event::build`), on arbitrary OTLP requests.
//!
//! Input: one byte of options, then the request.
//! - bit 0: logs (else traces)
//! - bit 1: failed spans count too (`errors.from_error_spans`)
//! - bit 2: the rest drives a generator (`generate`) of requests whose spans
//!   and log records carry exceptions with arbitrary texts, which raw byte
//!   mutations reach only rarely
//!
//! Properties: no panic; when prost decodes the request and it is prost's own
//! encoding, the scanner finds exactly the exceptions prost's view holds (span
//! events named `exception`, failed spans without one when asked, log records
//! with an `exception.type` or `exception.message` key); every event made of
//! them serializes within `event::MAX_EVENT` and names its exception; scanning and
//! building the events costs at most `COST_PER_BYTE` per byte of the
//! request (`cost`).

#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::arbitrary::{Result as Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use sentry_exporter_core::issues::event::{self, Options, MAX_EVENT};
use sentry_exporter_core::issues::scan::{scan, Sources};
use sentry_exporter_core::issues::severity::Severity;
use sentry_exporter_core::signal::OtlpSignal;
use sentry_exporter_core::testdata::{
    exception_log, exception_span, logs_request, string_attribute, traces_request, Resource,
};
use sentry_exporter_core::wire::WireError;
use sentry_exporter_fuzz::cost::{assert_linear, Cost};

/// The scan reads each field once; an event's texts are bounded, so building costs at most a
/// fixed amount per exception, and each exception takes some bytes of the request.
const COST_PER_BYTE: Cost = Cost {
    regions: 10_000,
    allocated: 512,
};

const KEYS: [&str; 5] = [
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "exception.escaped",
    "note",
];

fn attributes(u: &mut Unstructured) -> Arbitrary<Vec<KeyValue>> {
    let mut attributes = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let key = *u.choose(&KEYS)?;
        attributes.push(string_attribute(key, u.arbitrary()?));
    }
    Ok(attributes)
}

/// A request of one resource whose items carry exceptions (or not) with arbitrary texts.
fn generate(u: &mut Unstructured, logs: bool) -> Arbitrary<Vec<u8>> {
    let language = *u.choose(&[
        "python", "java", "go", "nodejs", "dotnet", "ruby", "php", "x",
    ])?;
    let resource = Resource::service("svc", 0).with("telemetry.sdk.language", language);
    let items = u.int_in_range(0..=4)?;
    if logs {
        let mut records: Vec<LogRecord> = Vec::new();
        for span in 0..items {
            records.push(exception_log(u.arbitrary()?, span, attributes(u)?));
        }
        return Ok(logs_request(&[resource.with_log_records(records)]));
    }
    let mut spans: Vec<Span> = Vec::new();
    for id in 0..items {
        let mut span = exception_span(u.arbitrary()?, id, u.arbitrary()?, attributes(u)?);
        if u.arbitrary()? {
            span.events[0].name = "retry".into();
        }
        spans.push(span);
    }
    Ok(traces_request(&[resource.with_spans(spans)]))
}

/// The exceptions prost's view of a canonical request holds.
fn expected(request: &[u8], logs: bool, error_spans: bool) -> Option<usize> {
    if logs {
        let decoded = ExportLogsServiceRequest::decode(request).ok()?;
        (decoded.encode_to_vec() == request).then_some(())?;
        let records = decoded
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records);
        let is_exception = |r: &&LogRecord| {
            r.attributes
                .iter()
                .any(|kv| kv.key == "exception.type" || kv.key == "exception.message")
        };
        return Some(records.filter(is_exception).count());
    }
    let decoded = ExportTraceServiceRequest::decode(request).ok()?;
    (decoded.encode_to_vec() == request).then_some(())?;
    let spans = decoded
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans);
    Some(
        spans
            .map(|span| {
                let events = span.events.iter().filter(|e| e.name == "exception").count();
                let failed = span.status.as_ref().is_some_and(|s| s.code == 2);
                if events == 0 && failed && error_spans {
                    1
                } else {
                    events
                }
            })
            .sum(),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let (logs, error_spans) = (options & 1 != 0, options & 2 != 0);
    let generated;
    let request = if options & 4 != 0 {
        match generate(&mut Unstructured::new(rest), logs) {
            Ok(request) => {
                generated = request;
                &generated[..]
            }
            Err(_) => return,
        }
    } else {
        rest
    };
    let signal = if logs {
        OtlpSignal::Logs
    } else {
        OtlpSignal::Traces
    };
    let sources = Sources {
        logs: true,
        // Every record with an exception makes an event, whatever its severity.
        min_log_severity: Severity::Trace,
        error_spans,
    };
    let scanned = assert_linear("scan and build", request, COST_PER_BYTE, |request| {
        let found = scan(signal, request, sources)?;
        let events: Vec<_> = found
            .iter()
            .map(|f| {
                event::build(
                    f,
                    Default::default(),
                    &Options::default(),
                    SystemTime::UNIX_EPOCH,
                )
            })
            .collect();
        Ok::<_, WireError>((found, events))
    });
    let Ok((found, events)) = scanned else {
        return;
    };
    if let Some(want) = expected(request, logs, error_spans) {
        assert_eq!(found.len(), want);
    }
    for event in &events {
        let size = serde_json::to_vec(&event)
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        assert!(size <= MAX_EVENT, "{size}");
        assert!(event
            .exception
            .values
            .last()
            .is_some_and(|e| !e.ty.is_empty()));
    }
});
