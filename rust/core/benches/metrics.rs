//! The core's metrics path without HTTP: one OTLP metrics request, routed, each project's part
//! converted to trace metric envelopes ([`MetricState::convert`]), each envelope written and
//! gzipped as the transport does. Throughput in data points per second of the thread's CPU
//! time: the machines it runs on are shared, and time spent waiting for a core is not the
//! path's.
//!
//!   cargo bench -p sentry-exporter-core --bench metrics
//!
//! Two requests of 10 services:
//! - `telemetrygen`: what the bench's collector runs batch (`bench/run.py`): telemetrygen
//!   sends each gauge point in its own request, so a batch holds one resource block per point
//!   (`service.name`, `service.version`), 800 per service;
//! - `sdk`: an SDK's export: one resource of 15 attributes per service, 20 gauges and 20
//!   cumulative sums of 10 points each (route, method, status), 400 per service. The sums'
//!   previous values are committed first, so that every point makes a delta.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nix::time::{clock_gettime, ClockId};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use prost::Message;
use sentry_exporter_core::clock::Instant;
use sentry_exporter_core::compress::{compress, Compression};
use sentry_exporter_core::ingest::envelope::EnvelopeBody;
use sentry_exporter_core::payload::Part;
use sentry_exporter_core::routing::{Router, RoutingConfig};
use sentry_exporter_core::signal::Signal;
use sentry_exporter_core::testdata::{int_attribute, string_attribute, Resource};
use sentry_exporter_core::trace_metrics::filter::NameFilter;
use sentry_exporter_core::trace_metrics::{MetricState, MetricsConfig};

const SERVICES: usize = 10;
/// Nanoseconds since the epoch of the first points.
const START: u64 = 1_700_000_000_000_000_000;

fn service(index: usize) -> String {
    format!("svc-{index}")
}

fn scope(name: &str, metrics: Vec<Metric>) -> ScopeMetrics {
    ScopeMetrics {
        scope: Some(InstrumentationScope {
            name: name.into(),
            ..Default::default()
        }),
        metrics,
        ..Default::default()
    }
}

fn point(time: u64, value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        start_time_unix_nano: START - 60_000_000_000,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsDouble(value)),
        attributes,
        ..Default::default()
    }
}

fn gauge(name: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

fn cumulative_sum(name: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

/// telemetrygen's gauges: one resource block of one point each, `per_service` per service.
fn telemetrygen(per_service: usize) -> Vec<u8> {
    let mut resources = Vec::new();
    for i in 0..per_service {
        for s in 0..SERVICES {
            let resource = Resource::new(0)
                .with("service.name", &service(s))
                .with("service.version", "1.4.2")
                .resource();
            let time = START + i as u64 * 1_000_000;
            let gen = gauge("gen", "", vec![point(time, i as f64, Vec::new())]);
            resources.push(ResourceMetrics {
                resource,
                scope_metrics: vec![scope("telemetrygen", vec![gen])],
                ..Default::default()
            });
        }
    }
    let request = ExportMetricsServiceRequest {
        resource_metrics: resources,
    };
    request.encode_to_vec()
}

const ROUTES: &[&str] = &[
    "/api/v1/orders/{id}",
    "/api/v1/cart",
    "/healthz",
    "/api/v2/catalog",
    "/api/v1/users/{id}",
];
const METHODS: &[&str] = &["GET", "POST"];

/// An SDK's export at `time` (values grow with it): per service, one resource, 20 gauges and
/// 20 cumulative sums of 10 points each.
fn sdk(time: u64) -> Vec<u8> {
    let grown = (time - START) as f64 / 1e9;
    let resource_metrics = (0..SERVICES)
        .map(|s| {
            let resource = Resource::new(0)
                .with("service.name", &service(s))
                .with("service.namespace", "shop")
                .with("service.version", "1.4.2")
                .with("deployment.environment", "production")
                .with("host.name", &format!("ip-10-0-1-{s}.ec2.internal"))
                .with("host.arch", "amd64")
                .with("os.type", "linux")
                .with_int("process.pid", 4242 + s as i64)
                .with("process.runtime.name", "OpenJDK Runtime Environment")
                .with("telemetry.sdk.name", "opentelemetry")
                .with("telemetry.sdk.language", "java")
                .with("telemetry.sdk.version", "1.42.1")
                .with("k8s.namespace.name", "shop-prod")
                .with("k8s.pod.name", &format!("{}-7d9f8b6c5-x{s}", service(s)))
                .with("k8s.node.name", "node-pool-a-3")
                .resource();
            let points = |base: f64| -> Vec<NumberDataPoint> {
                (0..10)
                    .map(|p| {
                        let attributes = vec![
                            string_attribute("http.route", ROUTES[p % ROUTES.len()]),
                            string_attribute("http.request.method", METHODS[p / ROUTES.len()]),
                            int_attribute("http.response.status_code", 200),
                        ];
                        point(time, base + p as f64 + grown, attributes)
                    })
                    .collect()
            };
            let mut metrics = Vec::new();
            for m in 0..20 {
                metrics.push(gauge(&format!("jvm.memory.used.{m}"), "By", points(1e6)));
                metrics.push(cumulative_sum(
                    &format!("http.server.requests.{m}"),
                    "{request}",
                    points(100.0 * grown),
                ));
            }
            ResourceMetrics {
                resource,
                scope_metrics: vec![scope("io.opentelemetry.http", metrics)],
                ..Default::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }.encode_to_vec()
}

fn state() -> MetricState {
    let config = MetricsConfig {
        names: NameFilter::default(),
        max_items_per_minute: 0,
        max_series_bytes: 64 << 20,
    };
    // Started after the series: their first points are baselines, committed at once.
    MetricState::new(&config, START - 30_000_000_000)
}

/// What the exporter does with `request`: per project, its part converted, each envelope
/// written and gzipped. Returns the points read and the compressed bytes.
fn export(state: &MetricState, router: &Router, request: &[u8], now: Instant) -> (u64, usize) {
    let routed = router.route(request).expect("routes");
    let (mut points, mut bytes) = (0, 0);
    for routed in &routed.parts {
        let part = Part::new(Signal::Metrics, routed, request);
        let converted = state
            .convert(part.slug, part.blocks(), now)
            .expect("converts");
        points += converted.points;
        for piece in &converted.pieces {
            let body = compress(Compression::Gzip, &piece.envelope()).expect("compresses");
            bytes += body.len();
        }
    }
    (points, bytes)
}

/// The CPU time this thread has used.
fn cpu_time() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

fn benches(c: &mut Criterion) {
    let router = Router::new(&RoutingConfig {
        project_from_attribute: "service.name".into(),
        attribute_to_project_mapping: Default::default(),
        fallback_project: None,
    });
    let now = Instant::now();
    let generated = telemetrygen(800);
    let before = sdk(START);
    let after = sdk(START + 10_000_000_000);
    let cases = [
        ("telemetrygen", &generated, None),
        ("sdk", &after, Some(&before)),
    ];
    let mut group = c.benchmark_group("metrics");
    for (name, request, baseline) in cases {
        let state = state();
        if let Some(baseline) = baseline {
            export(&state, &router, baseline, now);
        }
        let (points, bytes) = export(&state, &router, request, now);
        let envelopes = state.series();
        println!(
            "{name}: {points} points, request {} B, gzipped envelopes {bytes} B, {} series",
            request.len(),
            envelopes.held
        );
        group.throughput(Throughput::Elements(points));
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let start = cpu_time();
                for _ in 0..iterations {
                    black_box(export(&state, &router, black_box(request), now));
                }
                cpu_time().saturating_sub(start)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = metrics;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(metrics);
