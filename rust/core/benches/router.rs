//! Splitting one OTLP traces request into one request per Sentry project.
//!
//! Three paths over the same encoded `ExportTraceServiceRequest` (100
//! resources of 10 to 100 spans, 10 services), at about 1 MiB and 8 MiB:
//! - `memcpy`: one copy of the request into a fresh buffer, the floor of any
//!   path that hands out owned per-project bytes;
//! - `router`: what the exporter does, `Router::route` then each project's
//!   `ProjectPart::request`, which copies resource blocks without decoding spans;
//! - `prost`: the naive alternative, decoding the whole request, grouping
//!   resources by `service.name` and encoding one request per group;
//! - `utf8_check`: `utf8::repair` on the (valid) request, which the exporter
//!   runs before routing: one walk of every string field, nothing copied;
//!   `utf8_check_router`: that, then the `router` path.
//!
//! The request is made with the core's `testdata` builders: resources with
//! the attributes of a Java service on Kubernetes, spans of its own (heavy,
//! realistic) through `Resource::with_spans`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};
use prost::Message;
use sentry_exporter_core::routing::Router;
use sentry_exporter_core::routing::RoutingConfig;
use sentry_exporter_core::signal::OtlpSignal;
use sentry_exporter_core::testdata::{
    int_attribute, service_of, string_attribute, traces_request, Resource,
};
use sentry_exporter_core::utf8;

const RESOURCES: usize = 100;
const SERVICES: usize = 10;

/// Fixed-seed linear congruential generator (Knuth's MMIX constants), so the
/// input, and thus the measurement, is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn resource(rng: &mut Lcg, index: usize) -> Resource {
    let service = format!("svc-{}", index % SERVICES);
    let pod = format!("{service}-7d9f8b6c5-{:05x}", rng.next() & 0xfffff);
    let version = format!("1.{}.{}", rng.below(20), rng.below(10));
    let host = format!("ip-10-0-{}-{}.ec2.internal", rng.below(256), rng.below(256));
    Resource::new(0)
        .with("service.name", &service)
        .with("service.namespace", "shop")
        .with("service.version", &version)
        .with("deployment.environment", "production")
        .with("host.name", &host)
        .with("host.arch", "amd64")
        .with("os.type", "linux")
        .with_int("process.pid", rng.below(65536) as i64)
        .with("process.runtime.name", "OpenJDK Runtime Environment")
        .with("telemetry.sdk.name", "opentelemetry")
        .with("telemetry.sdk.language", "java")
        .with("telemetry.sdk.version", "1.42.1")
        .with("k8s.namespace.name", "shop-prod")
        .with("k8s.pod.name", &pod)
        .with("k8s.node.name", &format!("node-pool-a-{}", rng.below(40)))
}

const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const ROUTES: &[&str] = &[
    "/api/v1/orders/{id}",
    "/api/v1/orders",
    "/api/v1/cart/{cart_id}/items",
    "/api/v2/catalog/products/{sku}",
    "/healthz",
    "/api/v1/users/{user_id}/preferences",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "okhttp/4.12.0",
];

/// One server span; with `detail` bytes > 0 it also carries the long
/// attributes (SQL text, URL, user agent) that make spans heavy in practice.
fn span(rng: &mut Lcg, trace_id: &[u8], start: u64, detail: usize) -> Span {
    let method = rng.pick(METHODS);
    let route = rng.pick(ROUTES);
    let status_code = [200, 200, 200, 201, 204, 404, 500][rng.below(7)];
    let mut attributes = vec![
        string_attribute("http.request.method", method),
        string_attribute("http.route", route),
        int_attribute("http.response.status_code", status_code),
    ];
    if detail > 0 {
        attributes.extend([
            string_attribute(
                "net.peer.name",
                &format!("10.0.{}.{}", rng.below(256), rng.below(256)),
            ),
            int_attribute("net.peer.port", 40000 + rng.below(20000) as i64),
            string_attribute(
                "http.url",
                &format!(
                    "https://shop.example.com{route}?page={}&session={:016x}",
                    rng.below(50),
                    rng.next()
                ),
            ),
            string_attribute("user_agent.original", rng.pick(AGENTS)),
            string_attribute("db.system", "postgresql"),
            string_attribute("db.statement", &sql(rng, detail)),
            string_attribute(
                "thread.name",
                &format!("http-nio-8080-exec-{}", rng.below(200)),
            ),
        ]);
    }
    let error = status_code >= 500;
    Span {
        trace_id: trace_id.to_vec(),
        span_id: rng.bytes(8),
        parent_span_id: rng.bytes(8),
        name: format!("{method} {route}"),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 100_000 + rng.below(50_000_000) as u64,
        attributes,
        status: Some(Status {
            message: if error {
                "Internal Server Error".into()
            } else {
                String::new()
            },
            code: if error {
                status::StatusCode::Error
            } else {
                status::StatusCode::Unset
            } as i32,
        }),
        ..Default::default()
    }
}

/// A plausible SQL statement of about `len` bytes.
fn sql(rng: &mut Lcg, len: usize) -> String {
    let mut s = String::from("SELECT o.id, o.status, o.total, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id IN (");
    while s.len() < len {
        s.push_str(&format!("{}, ", rng.below(10_000_000)));
    }
    s.push_str("0)");
    s
}

/// The encoded request and its span count; `detail` grows every span.
fn request(detail: usize) -> (Vec<u8>, usize) {
    let mut rng = Lcg(0x5eed);
    // Its own stream, so that both sizes have the same resources and spans.
    let mut counts = Lcg(0xc0ffee);
    let mut spans = 0;
    let mut start = 1_700_000_000_000_000_000u64;
    let resources: Vec<Resource> = (0..RESOURCES)
        .map(|i| {
            let resource = resource(&mut rng, i);
            let count = 10 + counts.below(91);
            spans += count;
            let trace_id = rng.bytes(16);
            let spans = (0..count)
                .map(|_| {
                    start += rng.below(1_000_000) as u64;
                    span(&mut rng, &trace_id, start, detail)
                })
                .collect();
            resource.with_spans(spans)
        })
        .collect();
    (traces_request(&resources), spans)
}

/// The `router` path: one owned request per project, as the exporter builds
/// them before compressing.
fn split_router(router: &Router, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let routed = router.route(bytes).expect("generated request routes");
    routed
        .parts
        .iter()
        .map(|part| (part.slug.as_str().to_owned(), part.request(bytes)))
        .collect()
}

/// The `prost` path: full decode, group by `service.name`, re-encode.
fn split_prost(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let request = ExportTraceServiceRequest::decode(bytes).expect("generated request decodes");
    let mut groups: Vec<(String, ExportTraceServiceRequest)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for rs in request.resource_spans {
        let name = service_of(&rs.resource);
        let i = *index.entry(name.clone()).or_insert_with(|| {
            groups.push((name, ExportTraceServiceRequest::default()));
            groups.len() - 1
        });
        groups[i].1.resource_spans.push(rs);
    }
    groups
        .into_iter()
        .map(|(name, group)| (name, group.encode_to_vec()))
        .collect()
}

fn bench_size(c: &mut Criterion, group_name: &str, detail: usize) {
    let (bytes, spans) = request(detail);
    eprintln!(
        "{group_name}: {} bytes ({:.2} MiB), {RESOURCES} resources, {spans} spans",
        bytes.len(),
        bytes.len() as f64 / (1024.0 * 1024.0)
    );
    let router = Router::new(&RoutingConfig {
        project_from_attribute: "service.name".into(),
        attribute_to_project_mapping: HashMap::new(),
        fallback_project: None,
    });

    // Both paths must produce the same projects with the same sizes, or the
    // comparison would time a broken path.
    let sizes = |parts: Vec<(String, Vec<u8>)>| {
        let mut sizes: Vec<_> = parts.into_iter().map(|(n, b)| (n, b.len())).collect();
        sizes.sort();
        sizes
    };
    let routed = sizes(split_router(&router, &bytes));
    assert_eq!(routed.len(), SERVICES);
    assert_eq!(routed, sizes(split_prost(&bytes)));

    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("memcpy", |b| {
        b.iter(|| black_box(black_box(&bytes[..]).to_vec()))
    });
    group.bench_function("router", |b| {
        b.iter(|| black_box(split_router(&router, black_box(&bytes))))
    });
    group.bench_function("prost", |b| {
        b.iter(|| black_box(split_prost(black_box(&bytes))))
    });
    let checked = utf8::repair(OtlpSignal::Traces, &bytes);
    assert!(checked.strings == 0 && *checked.request == *bytes);
    group.bench_function("utf8_check", |b| {
        b.iter(|| black_box(utf8::repair(OtlpSignal::Traces, black_box(&bytes)).strings))
    });
    group.bench_function("utf8_check_router", |b| {
        b.iter(|| {
            let checked = utf8::repair(OtlpSignal::Traces, black_box(&bytes));
            black_box(split_router(&router, &checked.request))
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_size(c, "split_1MiB", 0);
    bench_size(c, "split_8MiB", 1094);
}

criterion_group! {
    name = router;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(router);
