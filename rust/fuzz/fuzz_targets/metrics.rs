//! The metrics reader (`metrics::decode`) and the items made of what it reads
//! (`metrics::items`), on arbitrary OTLP metrics requests.
//!
//! Input: an `ExportMetricsServiceRequest`, as bytes.
//!
//! Properties: no panic; when prost decodes the request and it is prost's own
//! encoding, every metric is either read or counted as unreadable; a histogram
//! read has one count per bucket (bounds + 1) or none; a point makes as many items
//! as planned, a histogram at most `items::MAX_BUCKET_ITEMS`; every item made of a
//! point serializes within `items::MAX_ITEM_BYTES`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use sentry_exporter_core::metrics::decode::resources;
use sentry_exporter_core::metrics::items::{items, plan, Source, MAX_BUCKET_ITEMS, MAX_ITEM_BYTES};
use sentry_exporter_core::metrics::model::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = resources(data) else {
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
    for resource in &decoded.resources {
        for metric in resource.scopes.iter().flat_map(|s| &s.metrics) {
            let source = Source {
                resource: &resource.attributes,
                metric,
            };
            for point in &metric.points {
                let planned = plan(metric, point);
                let count = planned.len();
                match &point.value {
                    Value::Histogram(h) => {
                        assert!(h.counts.is_empty() || h.counts.len() == h.bounds.len() + 1);
                        assert!(count <= MAX_BUCKET_ITEMS, "{count}");
                    }
                    Value::Exponential(_) => assert!(count <= MAX_BUCKET_ITEMS, "{count}"),
                    _ => {}
                }
                let made = items(&source, point, [1; 16], planned).items;
                assert_eq!(made.len(), count);
                for item in made {
                    let size = serde_json::to_vec(&item).map(|b| b.len()).unwrap_or(0);
                    assert!(size <= MAX_ITEM_BYTES, "{size}");
                }
            }
        }
    }
});
