//! The metrics reader (`metrics::decode`) and the items made of what it reads
//! (`metrics::items`), on arbitrary OTLP metrics requests.
//!
//! Input: an `ExportMetricsServiceRequest`, as bytes.
//!
//! Properties: no panic; when prost decodes the request and it is prost's own
//! encoding, every metric is either read or counted as unreadable; a histogram
//! read has one count per bucket (bounds + 1) or none; a point writes as many items
//! as planned, a histogram at most `items::MAX_BUCKET_ITEMS`, each JSON; every item made of a
//! point serializes within `items::MAX_ITEM_BYTES`; reading the request and writing every
//! point's items costs at most `COST_PER_BYTE` per byte of it (`cost`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use sentry_exporter_core::otlp_messages::resource_attributes;
use sentry_exporter_core::trace_metrics::attributes::{PointAttributes, ResourceAttributes};
use sentry_exporter_core::trace_metrics::decode::resources;
use sentry_exporter_core::trace_metrics::items::{
    plan, write, Source, MAX_BUCKET_ITEMS, MAX_ITEM_BYTES,
};
use sentry_exporter_core::trace_metrics::model::Value;
use sentry_exporter_core::trace_metrics::size::OverLimit;
use sentry_exporter_core::trace_metrics::units::sentry_unit;
use sentry_exporter_fuzz::cost::{assert_linear, Cost};

/// Each item's texts are bounded and each takes some bytes of the request (a bucket at least
/// one), so the items cost at most a fixed amount per byte.
const COST_PER_BYTE: Cost = Cost {
    regions: 5_000,
    allocated: 1_024,
};

/// The request read: its metrics read and those counted unreadable, and for each point in
/// order its value, how many items were planned, and their JSON as written (comma-separated)
/// or the limit they are over.
struct Read {
    metrics: u64,
    unreadable_metrics: u64,
    points: Vec<(Value, usize, Result<Vec<u8>, OverLimit>)>,
}

fn read(request: &[u8]) -> Option<Read> {
    let decoded = resources(request).ok()?;
    let mut read = Read {
        metrics: 0,
        unreadable_metrics: decoded.unreadable_metrics,
        points: Vec::new(),
    };
    let mut attributes = PointAttributes::default();
    for resource in &decoded.resources {
        let shared = ResourceAttributes::new(&resource_attributes(resource.resource).ok()?);
        for metric in resource.scopes.iter().flat_map(|s| &s.metrics) {
            read.metrics += 1;
            let source = Source {
                resource: &shared,
                metric,
                unit: sentry_unit(&metric.unit),
            };
            for point in &metric.points {
                let planned = plan(metric, point);
                let count = planned.len();
                let mut json = Vec::new();
                let written = write(&source, point, [1; 16], planned, &mut attributes, &mut json);
                read.points
                    .push((point.value.clone(), count, written.map(|_| json)));
            }
        }
    }
    Some(read)
}

fuzz_target!(|data: &[u8]| {
    let Some(read) = assert_linear("resources and items", data, COST_PER_BYTE, read) else {
        return;
    };
    if let Ok(request) = ExportMetricsServiceRequest::decode(data) {
        if request.encode_to_vec() == data {
            let sent = request
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .map(|s| s.metrics.len() as u64)
                .sum::<u64>();
            assert_eq!(read.metrics + read.unreadable_metrics, sent);
        }
    }
    for (value, count, written) in read.points {
        match &value {
            Value::Histogram(h) => {
                assert!(h.counts.is_empty() || h.counts.len() == h.bounds.len() + 1);
                assert!(count <= MAX_BUCKET_ITEMS, "{count}");
            }
            Value::Exponential(_) => assert!(count <= MAX_BUCKET_ITEMS, "{count}"),
            _ => {}
        }
        let json = written.expect("no item of a fuzzed request is over Relay's limit");
        let array = [&b"["[..], &json, b"]"].concat();
        let items: Vec<serde_json::Value> = serde_json::from_slice(&array).expect("JSON items");
        assert_eq!(items.len(), count);
        for item in items {
            let size = serde_json::to_vec(&item).map(|b| b.len()).unwrap_or(0);
            assert!(size <= MAX_ITEM_BYTES, "{size}");
        }
    }
});
