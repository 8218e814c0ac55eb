//! The Sentry `trace_metric` items of one OpenTelemetry data point.
//!
//! - Gauge, and non-monotonic sum: one `gauge` item of the value.
//! - Monotonic sum: one `counter` item of the (delta) value; none when it is 0.
//! - Histogram and exponential histogram: `distribution` items, the samples
//!   [`super::histogram`] chooses from the point's buckets ([`super::buckets`]): Sentry's
//!   extrapolated count and sum (each item's `sentry.client_sample_rate` is 1 / the values it
//!   stands for) and its min and max are the point's where the point holds them. At most
//!   [`MAX_BUCKET_ITEMS`] items (buckets beyond merged). An exemplar whose value falls in a
//!   sample's range gives that item its trace and span.
//! - Summary: one `gauge` per quantile, named `<name>.p50`, `<name>.p99`, `<name>.p99.9`,
//!   and the `counter`s `<name>.count` and `<name>.sum` (none when 0).
//!
//! Names are kept as received; units come from [`super::units`] (none on `<name>.count`,
//! a number of observations). Other gauges and counters take the trace and span of the
//! point's first exemplar, if any, else the trace id the caller gives. Attributes are
//! [`super::attributes`]'s.
//!
//! Size: Relay's own rule ([`super::size`]), and no stricter one: a point with an item above
//! [`MAX_ITEM_BYTES`] by Relay's measure makes nothing ([`OverLimit::Item`]), nor one whose
//! items together are more than one envelope may hold ([`super::pack`]): Relay would drop
//! that item, or refuse the envelope. No attribute is cut; Relay cuts none either.
//!
//! The items are written as they are made ([`super::json`]), no `Metric` built.

use std::borrow::Cow;

use sentry_types::protocol::v7::{MetricType, Unit};
use serde_json::Value as Json;

use super::attributes::{PointAttributes, ResourceAttributes, SAMPLE_RATE};
use super::buckets;
use super::histogram::{self, Extreme, Sample, Shape};
use super::json::{self, Item};
use super::model::{Exemplar, Kind, Metric, Point, Summary, Value};
use super::size::{attribute_size, item_size, OverLimit};

pub use super::size::MAX_ITEM_BYTES;

/// Most items one histogram point makes (the OpenTelemetry SDKs' exponential histograms keep
/// 160 buckets by default); a point of more non-empty buckets has adjacent ones merged.
pub const MAX_BUCKET_ITEMS: usize = 160;
/// The buckets of a histogram point at most, leaving room for a sample at its min and one at
/// its max.
const MAX_BUCKETS: usize = MAX_BUCKET_ITEMS - 2;

/// A point's metric, with what its points share: their resource's attributes and their unit.
pub struct Source<'a> {
    pub resource: &'a ResourceAttributes,
    pub metric: &'a Metric,
    /// Sentry's unit of the metric's ([`super::units::sentry_unit`]).
    pub unit: Option<Unit>,
}

/// What a point will make, before anything is written: the cap is asked for that many items,
/// and a point it refuses costs no more than this.
pub struct Planned<'a> {
    drafts: Vec<Draft<'a>>,
}

impl Planned<'_> {
    /// The items the point makes.
    pub fn len(&self) -> usize {
        self.drafts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.drafts.is_empty()
    }
}

/// The items `point` of `metric` makes, planned. For cumulative kinds the caller has already
/// made `point.value` a delta (and `point.start_unix_nano`/`time_unix_nano` those of the delta).
pub fn plan<'a>(metric: &'a Metric, point: &'a Point) -> Planned<'a> {
    let mut drafts = drafts(metric, point);
    // An overflowed delta makes nothing: Sentry takes no NaN or infinity.
    drafts.retain(|draft| draft.value.is_finite());
    Planned { drafts }
}

/// Writes the Sentry items of `planned`, made of `point` of `source.metric`, into `out`
/// (comma-separated) and returns how many; `trace_id` is used when no exemplar names a trace.
/// `attributes` is where the point's attributes are written first. Nothing is written when an
/// item would be over Relay's limit.
pub fn write(
    source: &Source<'_>,
    point: &Point,
    trace_id: [u8; 16],
    planned: Planned,
    attributes: &mut PointAttributes,
    out: &mut Vec<u8>,
) -> Result<usize, OverLimit> {
    // Distributions carry a sample rate each, the other kinds none.
    let with_rate = planned.drafts.iter().any(|d| d.sample_rate.is_some());
    attributes.write(source.resource, &point.attributes, with_rate);
    let rate_size = attribute_size(SAMPLE_RATE, &Json::from(1.0));
    let over = |draft: &Draft<'_>| {
        let own = if draft.sample_rate.is_some() {
            rate_size
        } else {
            0
        };
        item_size(&draft.name, attributes.size() + own) > MAX_ITEM_BYTES
    };
    if planned.drafts.iter().any(over) {
        return Err(OverLimit::Item);
    }
    for (index, draft) in planned.drafts.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let item = Item {
            r#type: draft.r#type,
            name: &draft.name,
            value: draft.value,
            time_unix_nano: point.time_unix_nano,
            trace_id: draft.exemplar.map_or(trace_id, |e| e.trace_id),
            span_id: draft.exemplar.and_then(|e| e.span_id),
            unit: source.unit.as_ref().filter(|_| draft.with_unit),
            sample_rate: draft.sample_rate,
        };
        json::write(&item, attributes, out);
    }
    Ok(planned.drafts.len())
}

/// What one item has of its own.
struct Draft<'a> {
    r#type: MetricType,
    name: Cow<'a, str>,
    value: f64,
    with_unit: bool,
    sample_rate: Option<f64>,
    /// The exemplar whose trace and span the item gets.
    exemplar: Option<&'a Exemplar>,
}

impl<'a> Draft<'a> {
    fn new(
        r#type: MetricType,
        name: Cow<'a, str>,
        value: f64,
        exemplar: Option<&'a Exemplar>,
    ) -> Self {
        Draft {
            r#type,
            name,
            value,
            with_unit: true,
            sample_rate: None,
            exemplar,
        }
    }
}

fn drafts<'a>(metric: &'a Metric, point: &'a Point) -> Vec<Draft<'a>> {
    let (name, first_exemplar) = (metric.name.as_str(), point.exemplars.first());
    match (metric.kind, &point.value) {
        (
            Kind::Gauge
            | Kind::Sum {
                monotonic: false, ..
            },
            Value::Number(v),
        ) => {
            vec![Draft::new(
                MetricType::Gauge,
                name.into(),
                *v,
                first_exemplar,
            )]
        }
        (
            Kind::Sum {
                monotonic: true, ..
            },
            Value::Number(v),
        ) if *v != 0.0 => {
            vec![Draft::new(
                MetricType::Counter,
                name.into(),
                *v,
                first_exemplar,
            )]
        }
        (Kind::Histogram { .. }, Value::Histogram(h)) => {
            let shape = Shape {
                buckets: buckets::explicit(h, MAX_BUCKETS),
                sum: h.sum,
                min: extreme(h.min, h.attained.min),
                max: extreme(h.max, h.attained.max),
            };
            distributions(name, &histogram::samples(&shape), &point.exemplars)
        }
        (Kind::ExponentialHistogram { .. }, Value::Exponential(e)) => {
            let shape = Shape {
                buckets: buckets::exponential(e, MAX_BUCKETS),
                sum: e.sum,
                min: extreme(e.min, e.attained.min),
                max: extreme(e.max, e.attained.max),
            };
            distributions(name, &histogram::samples(&shape), &point.exemplars)
        }
        (Kind::Summary, Value::Summary(s)) => summary_drafts(name, s, first_exemplar),
        _ => Vec::new(),
    }
}

fn extreme(value: Option<f64>, attained: bool) -> Option<Extreme> {
    value.map(|value| Extreme { value, attained })
}

fn distributions<'a>(
    name: &'a str,
    samples: &[Sample],
    exemplars: &'a [Exemplar],
) -> Vec<Draft<'a>> {
    let draft = |sample: &Sample| {
        let exemplar = exemplars.iter().find(|e| sample.holds.contains(e.value));
        let value = sample.value;
        let mut draft = Draft::new(MetricType::Distribution, name.into(), value, exemplar);
        draft.sample_rate = Some(1.0 / sample.weight as f64);
        draft
    };
    samples.iter().map(draft).collect()
}

fn summary_drafts<'a>(
    name: &str,
    summary: &Summary,
    exemplar: Option<&'a Exemplar>,
) -> Vec<Draft<'a>> {
    let quantiles = summary.quantiles.iter().map(|(quantile, value)| {
        let name = format!("{name}.p{}", percentile_label(*quantile));
        Draft::new(MetricType::Gauge, name.into(), *value, exemplar)
    });
    let mut drafts: Vec<Draft<'a>> = quantiles.collect();
    if summary.count > 0 {
        let count = summary.count as f64;
        let mut draft = Draft::new(
            MetricType::Counter,
            format!("{name}.count").into(),
            count,
            exemplar,
        );
        draft.with_unit = false;
        drafts.push(draft);
    }
    if summary.sum != 0.0 {
        let sum = Draft::new(
            MetricType::Counter,
            format!("{name}.sum").into(),
            summary.sum,
            exemplar,
        );
        drafts.push(sum);
    }
    drafts
}

/// `quantile` × 100 without trailing zeros: 0.5 → `50`, 0.999 → `99.9`.
fn percentile_label(quantile: f64) -> String {
    // Six decimals absorb the binary error of × 100 (0.999 × 100 = 99.89999...).
    let label = format!("{:.6}", quantile * 100.0);
    label.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use sentry_types::protocol::v7::{Metric as SentryMetric, SpanId, TraceId};
    use serde_json::json;

    use super::*;
    use crate::otlp_messages::Attributes;
    use crate::trace_metrics::model::{
        Attained, Buckets, ExponentialHistogram, Histogram, Temporality,
    };
    use crate::trace_metrics::pack::Packer;
    use crate::trace_metrics::size::attribute_size;
    use crate::trace_metrics::units::sentry_unit;

    const TRACE: [u8; 16] = [1; 16];
    const EXEMPLAR_TRACE: [u8; 16] = [2; 16];
    const SPAN: [u8; 8] = [3; 8];
    const DELTA: Temporality = Temporality::Delta;
    const TIME: u64 = 1_700_000_000_500_000_000;

    /// (case, kind, value, (type, value) of each item)
    type NumberCase = (&'static str, Kind, f64, &'static [(MetricType, f64)]);
    /// (case, point value, (value, sample rate) of each item)
    type BucketCase<'a> = (&'a str, Value, &'a [(f64, f64)]);
    /// (case, point value, (name, value) of each counter)
    type SummaryCase = (&'static str, Value, &'static [(&'static str, f64)]);

    fn point(value: Value) -> Point {
        Point {
            start_unix_nano: TIME - 1_000,
            time_unix_nano: TIME,
            attributes: Attributes::new(),
            exemplars: Vec::new(),
            value,
        }
    }

    fn exemplar(value: f64) -> Exemplar {
        Exemplar {
            trace_id: EXEMPLAR_TRACE,
            span_id: Some(SPAN),
            value,
        }
    }

    fn metric(kind: Kind) -> Metric {
        Metric {
            name: "m".into(),
            unit: "ms".into(),
            kind,
            points: Vec::new(),
        }
    }

    /// The items `point` of `metric` from a resource of `resource` makes, through the
    /// envelopes and read back as Sentry reads them; or the limit they are over.
    fn made(
        resource: &Attributes,
        metric: &Metric,
        point: &Point,
    ) -> Result<Vec<SentryMetric>, OverLimit> {
        let resource = ResourceAttributes::new(resource);
        let source = Source {
            resource: &resource,
            metric,
            unit: sentry_unit(&metric.unit),
        };
        let mut attributes = PointAttributes::default();
        let mut packer = Packer::default();
        packer.point(0, |out| {
            let planned = plan(metric, point);
            write(&source, point, TRACE, planned, &mut attributes, out)
        })?;
        Ok(packer
            .envelopes()
            .iter()
            .flat_map(|e| e.metrics())
            .collect())
    }

    fn run_with(resource: &Attributes, kind: Kind, point: &Point) -> Vec<SentryMetric> {
        made(resource, &metric(kind), point).expect("within Relay's limits")
    }

    fn run(kind: Kind, point: &Point) -> Vec<SentryMetric> {
        run_with(&Attributes::new(), kind, point)
    }

    fn values(items: &[SentryMetric]) -> Vec<(MetricType, f64)> {
        items.iter().map(|i| (i.r#type, i.value)).collect()
    }

    fn rate(item: &SentryMetric) -> f64 {
        item.attributes[SAMPLE_RATE].0.as_f64().expect("a double")
    }

    #[test]
    fn gauges_and_sums() {
        let sum = |monotonic| Kind::Sum {
            monotonic,
            temporality: DELTA,
        };
        let cases: &[NumberCase] = &[
            ("gauge", Kind::Gauge, 2.5, &[(MetricType::Gauge, 2.5)]),
            (
                "up-down sum",
                sum(false),
                -3.0,
                &[(MetricType::Gauge, -3.0)],
            ),
            (
                "up-down sum at 0",
                sum(false),
                0.0,
                &[(MetricType::Gauge, 0.0)],
            ),
            ("counter", sum(true), 5.0, &[(MetricType::Counter, 5.0)]),
            ("counter of zero delta", sum(true), 0.0, &[]),
            ("infinite gauge", Kind::Gauge, f64::INFINITY, &[]),
        ];
        for (name, kind, value, want) in cases {
            let got = run(*kind, &point(Value::Number(*value)));
            assert_eq!(values(&got), *want, "{name}");
            for item in &got {
                assert_eq!(item.name, "m", "{name}");
                assert_eq!(item.unit, Some(Unit::Millisecond), "{name}");
                assert_eq!(item.trace_id, TraceId::from(TRACE), "{name}");
                assert_eq!(item.span_id, None, "{name}");
                assert!(!item.attributes.contains_key(SAMPLE_RATE), "{name}");
                let since_epoch = item.timestamp.duration_since(SystemTime::UNIX_EPOCH);
                assert_eq!(
                    since_epoch.ok().map(|d| d.as_nanos()),
                    Some(u128::from(TIME))
                );
            }
        }
    }

    #[test]
    fn an_exemplar_gives_a_gauge_its_trace_and_span() {
        let mut gauge = point(Value::Number(1.0));
        gauge.exemplars = vec![exemplar(1.0)];
        let got = run(Kind::Gauge, &gauge);
        assert_eq!(got[0].trace_id, TraceId::from(EXEMPLAR_TRACE));
        assert_eq!(got[0].span_id, Some(SpanId::from(SPAN)));
    }

    fn histogram(bounds: &[f64], counts: &[u64], min: Option<f64>, max: Option<f64>) -> Value {
        Value::Histogram(Histogram {
            count: counts.iter().sum(),
            sum: None,
            min,
            max,
            bounds: bounds.to_vec(),
            counts: counts.to_vec(),
            ..Histogram::default()
        })
    }

    /// (value, sample rate) of each item.
    fn distribution(items: &[SentryMetric]) -> Vec<(f64, f64)> {
        for item in items {
            assert_eq!(item.r#type, MetricType::Distribution);
        }
        items.iter().map(|i| (i.value, rate(i))).collect()
    }

    /// Sentry's count, sum, min and max of `items`: `count()` and `sum()` extrapolated
    /// (Σ 1/rate, Σ value/rate), `min()` and `max()` as they are.
    fn seen(items: &[SentryMetric]) -> (f64, f64, f64, f64) {
        let count = items.iter().map(|i| 1.0 / rate(i)).sum();
        let sum = items.iter().map(|i| i.value / rate(i)).sum();
        let min = items.iter().map(|i| i.value).fold(f64::INFINITY, f64::min);
        let max = items
            .iter()
            .map(|i| i.value)
            .fold(f64::NEG_INFINITY, f64::max);
        (count, sum, min, max)
    }

    #[test]
    fn histograms_become_distributions_of_their_count_sum_min_and_max() {
        let third = 1.0 / 3.0;
        let with = |value: Value, sum: f64, attained: Attained| match value {
            Value::Histogram(h) => Value::Histogram(Histogram {
                sum: Some(sum),
                attained,
                ..h
            }),
            other => other,
        };
        let bounds_only = Attained {
            min: false,
            max: false,
        };
        let cases: &[BucketCase<'_>] = &[
            (
                "no sum, min or max: open buckets at their bound",
                histogram(&[0.0, 10.0], &[1, 2, 3], None, None),
                &[(0.0, 1.0), (5.0, 0.5), (10.0, third)],
            ),
            (
                "min and max held: one item each, the rest in their buckets",
                histogram(&[0.0, 10.0], &[1, 2, 3], Some(-4.0), Some(30.0)),
                &[(-4.0, 1.0), (5.0, 0.5), (20.0, 0.5), (30.0, 1.0)],
            ),
            (
                "with the sum: the rest moved for it",
                with(
                    histogram(&[0.0, 10.0], &[1, 2, 3], Some(-4.0), Some(30.0)),
                    70.0,
                    Attained::default(),
                ),
                &[(-4.0, 1.0), (4.0, 0.5), (18.0, 0.5), (30.0, 1.0)],
            ),
            (
                "min and max of a cumulative delta bound only",
                with(
                    histogram(&[0.0, 10.0], &[1, 2, 3], Some(-4.0), Some(30.0)),
                    68.0,
                    bounds_only,
                ),
                &[(-2.0, 1.0), (5.0, 0.5), (20.0, third)],
            ),
            (
                "empty buckets make no items",
                histogram(&[0.0, 10.0, 20.0], &[0, 3, 0, 0], Some(4.0), Some(8.0)),
                &[(4.0, 1.0), (6.0, 1.0), (8.0, 1.0)],
            ),
            ("nothing", histogram(&[], &[], None, None), &[]),
            (
                "a min above the max: both ignored",
                histogram(&[0.0, 10.0], &[0, 2, 0], Some(8.0), Some(2.0)),
                &[(5.0, 0.5)],
            ),
        ];
        let kind = Kind::Histogram { temporality: DELTA };
        for (name, value, want) in cases {
            let got = run(kind, &point(value.clone()));
            assert_eq!(distribution(&got), *want, "{name}");
        }
    }

    #[test]
    fn the_sdks_histogram_of_10_20_30_40_shows_count_4_sum_100_min_10_max_40() {
        let bounds = [
            0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
            7500.0, 10000.0,
        ];
        let mut counts = vec![0; bounds.len() + 1];
        for value in [10.0, 20.0, 30.0, 40.0] {
            let bucket = bounds
                .iter()
                .position(|b| value <= *b)
                .unwrap_or(bounds.len());
            counts[bucket] += 1;
        }
        let mut recorded = point(histogram(&bounds, &counts, Some(10.0), Some(40.0)));
        if let Value::Histogram(h) = &mut recorded.value {
            h.sum = Some(100.0);
        }
        let got = run(Kind::Histogram { temporality: DELTA }, &recorded);
        assert_eq!(seen(&got), (4.0, 100.0, 10.0, 40.0));
        assert_eq!(
            distribution(&got),
            [(10.0, 1.0), (17.5, 1.0), (32.5, 1.0), (40.0, 1.0)]
        );
    }

    #[test]
    fn an_exemplar_marks_the_item_whose_range_holds_it() {
        let mut recorded = point(histogram(&[0.0, 10.0], &[1, 2, 3], None, None));
        recorded.exemplars = vec![exemplar(7.0)];
        let got = run(Kind::Histogram { temporality: DELTA }, &recorded);
        let traces: Vec<_> = got.iter().map(|i| (i.trace_id, i.span_id)).collect();
        let marked = (TraceId::from(EXEMPLAR_TRACE), Some(SpanId::from(SPAN)));
        let plain = (TraceId::from(TRACE), None);
        assert_eq!(traces, [plain, marked, plain]);

        let mut extremes = point(histogram(&[0.0, 10.0], &[1, 2, 3], Some(-4.0), Some(30.0)));
        extremes.exemplars = vec![exemplar(30.0)];
        let got = run(Kind::Histogram { temporality: DELTA }, &extremes);
        let marked: Vec<bool> = got.iter().map(|i| i.span_id.is_some()).collect();
        assert_eq!(
            marked,
            [false, false, true, true],
            "the max's item and its bucket's"
        );
    }

    fn exponential(scale: i32, zero: u64, negative: Buckets, positive: Buckets) -> Value {
        let count =
            zero + negative.counts.iter().sum::<u64>() + positive.counts.iter().sum::<u64>();
        Value::Exponential(ExponentialHistogram {
            count,
            scale,
            zero_count: zero,
            positive,
            negative,
            ..ExponentialHistogram::default()
        })
    }

    fn buckets(offset: i32, counts: &[u64]) -> Buckets {
        Buckets {
            offset,
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn exponential_histograms_become_distributions_too() {
        let none = Buckets::default();
        let eighth_root = 1.0 + 1.125f64.exp2() / 2.0; // the middle of (2, 2^(9/8)]
        let mut clamped = exponential(0, 0, none.clone(), buckets(0, &[1]));
        if let Value::Exponential(e) = &mut clamped {
            e.max = Some(1.5);
        }
        let mut exact = exponential(0, 3, buckets(1, &[2]), buckets(0, &[1]));
        if let Value::Exponential(e) = &mut exact {
            (e.sum, e.min, e.max) = (Some(-5.0), Some(-3.5), Some(1.25));
        }
        let cases: &[BucketCase<'_>] = &[
            (
                "scale 0: (1, 2], mirrored (2, 4], zero",
                exponential(0, 3, buckets(1, &[2]), buckets(0, &[1])),
                &[(-3.0, 0.5), (0.0, 1.0 / 3.0), (1.5, 1.0)],
            ),
            (
                "scale 3: base 2^(1/8)",
                exponential(3, 0, none.clone(), buckets(8, &[0, 0])),
                &[],
            ),
            (
                "scale 3: index 8 is (2, 2^(9/8)]",
                exponential(3, 0, none.clone(), buckets(8, &[4])),
                &[(eighth_root, 0.25)],
            ),
            (
                "scale -2: base 16",
                exponential(-2, 0, buckets(0, &[1]), buckets(1, &[5])),
                &[(-8.5, 1.0), (136.0, 0.2)],
            ),
            ("one value: its max", clamped, &[(1.5, 1.0)]),
            (
                // -3.5 and 1.25 held; -2.75 and three 0s make the rest of -5.
                "sum, min and max",
                exact,
                &[(-3.5, 1.0), (-2.75, 1.0), (0.0, 1.0 / 3.0), (1.25, 1.0)],
            ),
        ];
        let kind = Kind::ExponentialHistogram { temporality: DELTA };
        for (name, value, want) in cases {
            let got = run(kind, &point(value.clone()));
            assert_eq!(distribution(&got), *want, "{name}");
            let Value::Exponential(e) = value else {
                unreachable!()
            };
            assert_eq!(seen(&got).0.round(), e.count as f64, "{name}");
        }
    }

    #[test]
    fn buckets_beyond_f64_stand_at_its_largest_value_never_at_zero() {
        // Scale 0, index 1100: (2^1100, 2^1101], beyond f64's largest (about 2^1024).
        let far = exponential(0, 0, Buckets::default(), buckets(1100, &[2]));
        let kind = Kind::ExponentialHistogram { temporality: DELTA };
        assert_eq!(
            distribution(&run(kind, &point(far.clone()))),
            [(f64::MAX, 0.5)]
        );
        let Value::Exponential(mut mirrored) = far else {
            unreachable!()
        };
        std::mem::swap(&mut mirrored.positive, &mut mirrored.negative);
        let got = run(kind, &point(Value::Exponential(mirrored)));
        assert_eq!(distribution(&got), [(-f64::MAX, 0.5)]);
    }

    #[test]
    fn a_point_over_relays_limits_makes_nothing() {
        let long_name = Metric {
            name: "n".repeat(MAX_ITEM_BYTES),
            ..metric(Kind::Gauge)
        };
        let resource = Attributes::new();
        let gauge = point(Value::Number(1.0));
        let got = made(&resource, &long_name, &gauge);
        assert_eq!(got, Err(OverLimit::Item));

        // 100 buckets of 200 KB of attributes each: each item fits, not all in one envelope.
        let bounds: Vec<f64> = (0..99).map(f64::from).collect();
        let mut wide = point(histogram(&bounds, &[1; 100], None, None));
        wide.attributes = vec![("big".into(), json!("x".repeat(200_000)))];
        let histogram = metric(Kind::Histogram { temporality: DELTA });
        assert_eq!(
            made(&resource, &histogram, &wide),
            Err(OverLimit::Container)
        );
    }

    #[test]
    fn a_point_under_relays_limits_keeps_every_attribute_whole() {
        // What the 2 KB rule cut: a long value, many attributes. Relay takes up to 1 MiB.
        let mut gauge = point(Value::Number(1.0));
        let many = (0..30).map(|i| (format!("k{i:02}"), json!("v".repeat(60 + i))));
        gauge.attributes = many
            .chain([("big".to_owned(), json!("€".repeat(100_000)))])
            .collect();
        let got = run_with(&Attributes::new(), Kind::Gauge, &gauge);
        let item = &got[0];
        assert_eq!(item.attributes.len(), 31);
        assert_eq!(item.attributes["big"].0, json!("€".repeat(100_000)));
        let sizes = item.attributes.iter().map(|(k, v)| attribute_size(k, &v.0));
        let canonical = item_size(&item.name, sizes.sum());
        assert!(
            canonical > 300_000 && canonical <= MAX_ITEM_BYTES,
            "{canonical}"
        );
    }

    #[test]
    fn a_point_of_many_buckets_makes_a_bounded_number_of_items_of_exact_count() {
        let million = vec![1; 1_000_000];
        let exponential = exponential(0, 1, buckets(0, &million), buckets(-500, &million));
        let bounds: Vec<f64> = (0..999).map(f64::from).collect();
        let mut explicit = histogram(&bounds, &[1; 1000], Some(-1.0), Some(1000.0));
        if let Value::Histogram(h) = &mut explicit {
            // -1, 1, 2, ..., 998, 1000
            h.sum = Some((1..=998).map(f64::from).sum::<f64>() + 999.0);
        }
        let cases = [
            (
                Kind::ExponentialHistogram { temporality: DELTA },
                exponential,
                2_000_001,
            ),
            (Kind::Histogram { temporality: DELTA }, explicit, 1000),
        ];
        for (kind, value, count) in cases {
            let got = run(kind, &point(value));
            assert!(got.len() <= MAX_BUCKET_ITEMS && got.len() > MAX_BUCKET_ITEMS / 2);
            assert_eq!(seen(&got).0.round(), count as f64, "{kind:?}");
            let values: Vec<f64> = distribution(&got).iter().map(|(v, _)| *v).collect();
            assert!(values.is_sorted(), "{kind:?}: merged buckets stay in order");
        }
    }

    #[test]
    fn exponential_exemplars_find_negative_and_zero_buckets() {
        let mut recorded = point(exponential(0, 1, buckets(1, &[2]), buckets(0, &[1])));
        recorded.exemplars = vec![exemplar(-3.5), exemplar(0.0)];
        let got = run(Kind::ExponentialHistogram { temporality: DELTA }, &recorded);
        assert!(got[..2]
            .iter()
            .all(|i| i.span_id == Some(SpanId::from(SPAN))));
        assert_eq!(got[2].span_id, None);
    }

    #[test]
    fn summaries_become_quantile_gauges_and_counters() {
        let summary = |count, sum| {
            Value::Summary(Summary {
                count,
                sum,
                quantiles: vec![(0.5, 1.0), (0.99, 2.0), (0.999, 3.0)],
            })
        };
        let gauges = [("m.p50", 1.0), ("m.p99", 2.0), ("m.p99.9", 3.0)];
        let cases: &[SummaryCase] = &[
            (
                "count and sum",
                summary(10, 20.0),
                &[("m.count", 10.0), ("m.sum", 20.0)],
            ),
            ("zero deltas", summary(0, 0.0), &[]),
        ];
        for (name, value, counters) in cases {
            let got = run(Kind::Summary, &point(value.clone()));
            let named: Vec<_> = got.iter().map(|i| (i.r#type, &*i.name, i.value)).collect();
            let want: Vec<_> = gauges
                .iter()
                .map(|(n, v)| (MetricType::Gauge, *n, *v))
                .chain(counters.iter().map(|(n, v)| (MetricType::Counter, *n, *v)))
                .collect();
            assert_eq!(named, want, "{name}");
        }
        let got = run(Kind::Summary, &point(summary(10, 20.0)));
        let units: Vec<_> = got.iter().map(|i| i.unit.clone()).collect();
        let ms = Some(Unit::Millisecond);
        assert_eq!(units, [ms.clone(), ms.clone(), ms.clone(), None, ms]);
    }

    #[test]
    fn percentile_labels() {
        for (quantile, want) in [
            (0.0, "0"),
            (0.25, "25"),
            (0.999, "99.9"),
            (0.9999, "99.99"),
            (1.0, "100"),
        ] {
            assert_eq!(percentile_label(quantile), want, "{quantile}");
        }
    }

    #[test]
    fn every_item_of_a_point_carries_its_attributes_and_a_histograms_its_rate() {
        let mut recorded = point(histogram(&[0.0, 10.0], &[1, 2, 3], None, None));
        recorded.attributes = vec![("route".into(), json!("/pay"))];
        let resource = vec![("service.name".to_owned(), json!("checkout"))];
        let got = run_with(&resource, Kind::Histogram { temporality: DELTA }, &recorded);
        assert_eq!(got.len(), 3);
        for item in &got {
            let keys: Vec<&str> = item.attributes.keys().map(|k| &**k).collect();
            assert_eq!(
                keys,
                ["resource.service.name", "route", SAMPLE_RATE],
                "{item:?}"
            );
        }
    }
}
