//! The metrics reader (`metrics::decode`) and the items made of what it reads
//! (`metrics::items`), on arbitrary OTLP metrics requests.
//!
//! Input: an `ExportMetricsServiceRequest`, as bytes.
//!
//! Properties: no panic; when prost decodes the request and it is prost's own
//! encoding, every metric is either read or counted as unreadable; a histogram
//! read has one count per bucket (bounds + 1) or none; a point makes as many items
//! as planned, a histogram at most `items::MAX_BUCKET_ITEMS`; every item made of a
//! point serializes within `items::MAX_ITEM_BYTES`; reading the request and making every
//! point's items costs at most `COST_PER_BYTE` per byte of it (`cost`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use sentry_exporter_core::trace_metrics::decode::{resources, Decoded};
use sentry_exporter_core::trace_metrics::items::{
    items, plan, Items, Source, MAX_BUCKET_ITEMS, MAX_ITEM_BYTES,
};
use sentry_exporter_core::trace_metrics::model::Value;
use sentry_exporter_fuzz::cost::{assert_linear, Cost};

/// Each item's texts are bounded and each takes some bytes of the request (a bucket at least
/// one), so the items cost at most a fixed amount per byte.
const COST_PER_BYTE: Cost = Cost {
    regions: 5_000,
    allocated: 1_024,
};

/// The request read, and for each point in order the items it makes, with how many were
/// planned.
fn read(request: &[u8]) -> Option<(Decoded, Vec<(usize, Items)>)> {
    let decoded = resources(request).ok()?;
    let mut made = Vec::new();
    for resource in &decoded.resources {
        for metric in resource.scopes.iter().flat_map(|s| &s.metrics) {
            let source = Source {
                resource: &resource.attributes,
                metric,
            };
            for point in &metric.points {
                let planned = plan(metric, point);
                made.push((planned.len(), items(&source, point, [1; 16], planned)));
            }
        }
    }
    Some((decoded, made))
}

fuzz_target!(|data: &[u8]| {
    let Some((decoded, made)) = assert_linear("resources and items", data, COST_PER_BYTE, read)
    else {
        return;
    };
    let metrics = || {
        decoded
            .resources
            .iter()
            .flat_map(|r| &r.scopes)
            .flat_map(|s| &s.metrics)
    };
    if let Ok(request) = ExportMetricsServiceRequest::decode(data) {
        if request.encode_to_vec() == data {
            let sent = request
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .map(|s| s.metrics.len() as u64)
                .sum::<u64>();
            assert_eq!(metrics().count() as u64 + decoded.unreadable_metrics, sent);
        }
    }
    let points = metrics().flat_map(|m| &m.points);
    for (point, (count, made)) in points.zip(made) {
        match &point.value {
            Value::Histogram(h) => {
                assert!(h.counts.is_empty() || h.counts.len() == h.bounds.len() + 1);
                assert!(count <= MAX_BUCKET_ITEMS, "{count}");
            }
            Value::Exponential(_) => assert!(count <= MAX_BUCKET_ITEMS, "{count}"),
            _ => {}
        }
        assert_eq!(made.items.len(), count);
        for item in made.items {
            let size = serde_json::to_vec(&item).map(|b| b.len()).unwrap_or(0);
            assert!(size <= MAX_ITEM_BYTES, "{size}");
        }
    }
});
