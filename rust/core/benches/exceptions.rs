//! The error event of one exception, as the core makes it: from the OTLP bytes of one project's
//! push to the compressed envelope of its event, without HTTP. Issue 26's target: with 1% of
//! spans holding an exception, at most 50 µs of CPU per exception, flat in the stack trace's
//! depth up to Relay's 250 frames.
//!
//!   cargo bench -p sentry-exporter-core --bench exceptions
//!
//! Each request is 100 spans of one service, one of them with an `exception` event whose stack
//! trace is `depth` frames deep (10, 50, 250) in its runtime's format (Go, Python, Java, Node).
//! One iteration is the whole path of that exception: the request scanned, the exception's id
//! (what deduplication keys on), its event built (the stack trace parsed), the envelope written
//! and gzipped (the exporter's default compression). Its time is the thread's CPU time, not
//! the wall clock's: the CPU per exception, whatever else the machine runs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nix::time::{clock_gettime, ClockId};
use opentelemetry_proto::tonic::trace::v1::Span;
use sentry_exporter_core::compress::{compress, Compression};
use sentry_exporter_core::ingest::envelope::EnvelopeBody;
use sentry_exporter_core::issues::envelope::EventPiece;
use sentry_exporter_core::issues::scan::{scan, Sources};
use sentry_exporter_core::issues::severity::Severity;
use sentry_exporter_core::issues::{dedup, event};
use sentry_exporter_core::signal::OtlpSignal;
use sentry_exporter_core::testdata::{
    exception, exception_span, int_attribute, string_attribute, traces_request, Resource,
};

const SPANS: u64 = 100;
const DEPTHS: [usize; 3] = [10, 50, 250];

/// A runtime's `telemetry.sdk.language`, exception type and message, and its stack trace of
/// `depth` frames as the runtime prints it.
struct Language {
    name: &'static str,
    ty: &'static str,
    message: &'static str,
    trace: fn(usize) -> String,
}

const LANGUAGES: [Language; 4] = [
    Language {
        name: "go",
        ty: "*errors.errorString",
        message: "order not found",
        trace: go,
    },
    Language {
        name: "python",
        ty: "KeyError",
        message: "'sku-42'",
        trace: python,
    },
    Language {
        name: "java",
        ty: "java.lang.IllegalStateException",
        message: "payment declined",
        trace: java,
    },
    Language {
        name: "nodejs",
        ty: "TypeError",
        message: "Cannot read properties of undefined (reading 'id')",
        trace: node,
    },
];

fn go(depth: usize) -> String {
    let mut text = String::from("goroutine 42 [running]:\n");
    for i in 0..depth {
        text += &format!(
            "example.com/shop/orders.(*Handler).step{i}(0xc000130000, {{0xc00001c0a0, 0x5}})\n\t/src/shop/orders/handler{}.go:{} +0x1a5\n",
            i % 7,
            20 + i
        );
    }
    text
}

fn python(depth: usize) -> String {
    let mut text = String::from("Traceback (most recent call last):\n");
    for i in 0..depth {
        text += &format!(
            "  File \"/app/shop/orders/module{}.py\", line {}, in step{i}\n    result = step{}(order, sku)\n",
            i % 7,
            20 + i,
            i + 1
        );
    }
    text + "KeyError: 'sku-42'\n"
}

fn java(depth: usize) -> String {
    let mut text = String::from("java.lang.IllegalStateException: payment declined\n");
    for i in 0..depth {
        text += &format!(
            "\tat com.acme.shop.orders.Service{}.step{i}(Service{}.java:{})\n",
            i % 7,
            i % 7,
            20 + i
        );
    }
    text
}

fn node(depth: usize) -> String {
    let mut text = String::from("TypeError: Cannot read properties of undefined (reading 'id')\n");
    for i in 0..depth {
        text += &format!(
            "    at OrderService.step{i} (/srv/app/src/orders/service{}.js:{}:17)\n",
            i % 7,
            20 + i
        );
    }
    text
}

/// A plain server span, as most of a push's are.
fn span(id: u64) -> Span {
    Span {
        trace_id: vec![7; 16],
        span_id: id.to_be_bytes().to_vec(),
        name: "GET /api/v1/orders/{id}".into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + id,
        end_time_unix_nano: 1_700_000_000_050_000_000 + id,
        attributes: vec![
            string_attribute("http.request.method", "GET"),
            string_attribute("http.route", "/api/v1/orders/{id}"),
            int_attribute("http.response.status_code", 200),
        ],
        ..Default::default()
    }
}

/// One project's request: [`SPANS`] spans, the middle one with the exception.
fn request(language: &Language, depth: usize) -> Vec<u8> {
    let failing = SPANS / 2;
    let spans = (1..=SPANS)
        .map(|id| {
            if id != failing {
                return span(id);
            }
            let trace = (language.trace)(depth);
            let mut attributes = exception(language.ty, language.message, &trace);
            attributes.push(string_attribute("exception.escaped", "true"));
            let mut failed = exception_span(7, id, "GET /api/v1/orders/{id}", attributes);
            failed.attributes = span(id).attributes;
            failed
        })
        .collect();
    let resource = Resource::new(0)
        .with("service.name", "shop")
        .with("service.version", "1.4.2")
        .with("deployment.environment.name", "production")
        .with("host.name", "ip-10-0-3-7.ec2.internal")
        .with("telemetry.sdk.language", language.name)
        .with("k8s.namespace.name", "shop-prod")
        .with("k8s.pod.name", "shop-7d9f8b6c5-x2x7q")
        .with_spans(spans);
    traces_request(&[resource])
}

const SOURCES: Sources = Sources {
    logs: true,
    min_log_severity: Severity::Error,
    error_spans: false,
};

/// The compressed envelopes of the request's exceptions.
fn envelopes(request: &[u8], options: &event::Options) -> Vec<Vec<u8>> {
    let found = scan(OtlpSignal::Traces, request, SOURCES).expect("a valid request");
    found
        .iter()
        .map(|found| {
            let id = dedup::event_id(found);
            let event = event::build(found, id, options, SystemTime::UNIX_EPOCH);
            let body = EventPiece(Arc::new(event)).envelope();
            compress(Compression::Gzip, &body).expect("gzip")
        })
        .collect()
}

/// The frames of the raised exception's event: the parser must have read the trace.
fn frames(request: &[u8], options: &event::Options) -> usize {
    let found = scan(OtlpSignal::Traces, request, SOURCES).expect("a valid request");
    let event = event::build(
        &found[0],
        Default::default(),
        options,
        SystemTime::UNIX_EPOCH,
    );
    let raised = event.exception.values.last().expect("an exception");
    raised.stacktrace.as_ref().map_or(0, |s| s.frames.len())
}

/// The CPU time of the benchmark's thread, shown as durations.
struct ThreadCpu(WallTime);

fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu()
    }

    fn end(&self, start: Duration) -> Duration {
        thread_cpu().saturating_sub(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

fn benches(c: &mut Criterion<ThreadCpu>) {
    let options = event::Options::default();
    let mut group = c.benchmark_group("exception");
    group.throughput(Throughput::Elements(1));
    for language in &LANGUAGES {
        for depth in DEPTHS {
            let request = request(language, depth);
            let sent = envelopes(&request, &options);
            assert_eq!(sent.len(), 1, "one exception");
            eprintln!(
                "{}/{depth}: {} frames kept, envelope {} bytes gzipped",
                language.name,
                frames(&request, &options),
                sent[0].len()
            );
            let id = BenchmarkId::new(language.name, depth);
            group.bench_with_input(id, &request, |b, request| {
                b.iter(|| black_box(envelopes(black_box(request), &options)))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = exceptions;
    config = Criterion::default()
        .with_measurement(ThreadCpu(WallTime))
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    targets = benches
}
criterion_main!(exceptions);
