//! The heap the delta state of trace metrics takes per series, at 100,000 series: the live
//! bytes a counting allocator sees once that many cumulative series have their baseline, next
//! to what the state accounts for them ([`MetricState::series`], what `max_series_mib` bounds).
//! Prints one line per kind of series.
//!
//!   cargo bench -p sentry-exporter-core --bench series_memory

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use sentry_exporter_core::clock::Instant;
use sentry_exporter_core::slug::Slug;
use sentry_exporter_core::testdata::{cumulative_counter, cumulative_histogram, metrics_request};
use sentry_exporter_core::trace_metrics::filter::NameFilter;
use sentry_exporter_core::trace_metrics::{MetricState, MetricsConfig};

const SERIES: usize = 100_000;
/// Series per request.
const PER_REQUEST: usize = 10_000;
const START: u64 = 1_700_000_000_000_000_000;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Live heap and accounted bytes per series once `SERIES` series of `kind` have a baseline.
fn per_series(kind: fn(&str) -> opentelemetry_proto::tonic::metrics::v1::Metric) -> (f64, f64) {
    let requests: Vec<Vec<u8>> = (0..SERIES / PER_REQUEST)
        .map(|r| {
            let metrics = (0..PER_REQUEST).map(|i| kind(&format!("m{}", r * PER_REQUEST + i)));
            metrics_request("shop", metrics.collect())
        })
        .collect();
    let config = MetricsConfig {
        names: NameFilter::default(),
        max_items_per_minute: 0,
        max_series_bytes: 1 << 30,
    };
    let slug = Slug::parse("shop").expect("a slug");
    // Started after the series: their first points are baselines.
    let state = MetricState::new(&config, START + 1);
    // What a state makes once, whatever its series, is not counted.
    drop(state.convert(&slug, [&requests[0][..0]], Instant::now()));
    let before = LIVE.load(Ordering::Relaxed);
    for request in &requests {
        let converted = state.convert(&slug, [&request[..]], Instant::now());
        assert!(
            converted.expect("converts").pieces.is_empty(),
            "baselines only"
        );
    }
    let live = LIVE.load(Ordering::Relaxed) - before;
    let series = state.series();
    assert_eq!(series.held, SERIES);
    (
        live as f64 / SERIES as f64,
        series.bytes as f64 / SERIES as f64,
    )
}

fn main() {
    let counter = |name: &str| cumulative_counter(name, START, START + 1, 5.0);
    let histogram = |name: &str| cumulative_histogram(name, START, START + 1, &[3.0, 30.0]);
    for (kind, make) in [
        ("counter", counter as fn(&str) -> _),
        ("histogram (16 buckets)", histogram),
    ] {
        let (live, accounted) = per_series(make);
        println!(
            "series_memory {kind}: {live:.0} heap bytes per series at {SERIES} series \
             (accounted {accounted:.0})"
        );
    }
}
