//! The Sentry `trace_metric` items of one OpenTelemetry data point.
//!
//! - Gauge, and non-monotonic sum: one `gauge` item of the value.
//! - Monotonic sum: one `counter` item of the (delta) value; none when it is 0.
//! - Histogram and exponential histogram: one `distribution` item per non-empty bucket. Its
//!   value stands for the bucket: the middle of the part of the bucket's range inside the
//!   point's `[min, max]` (so an open first or last bucket is closed by `min` or `max`; with
//!   neither, its finite bound is used; a histogram without bounds uses its mean). Exponential
//!   bucket `i` covers `(base^i, base^(i+1)]` with `base = 2^(2^-scale)`, negative buckets
//!   mirrored, the zero bucket stands for 0. Each item carries `sentry.client_sample_rate` =
//!   1 / the bucket's count, so Sentry's extrapolated count (the sum of 1 / rate) is exactly
//!   the point's count, and its sum is that of the buckets' representatives.
//!   An exemplar whose value falls in a bucket gives that bucket's item its trace and span.
//!   A point of more than [`MAX_BUCKET_ITEMS`] non-empty buckets makes that many items, each
//!   of adjacent buckets merged (the count stays exact), so no point fans out without bound.
//! - Summary: one `gauge` per quantile, named `<name>.p50`, `<name>.p99`, `<name>.p99.9`,
//!   and the `counter`s `<name>.count` and `<name>.sum` (none when 0).
//!
//! Names are kept as received; units come from [`super::units`] (none on `<name>.count`,
//! a number of observations). Other gauges and counters take the trace and span of the
//! point's first exemplar, if any, else the trace id the caller gives.
//!
//! Attributes: the point's, typed as Sentry's (string, integer, double, boolean), maps
//! flattened into dotted keys (`a.b.c`), empty values left out; then, from the resource,
//! `sentry.release` (`service.version`), `sentry.environment` (`deployment.environment.name`,
//! else `deployment.environment`) and the identifying attributes in [`RESOURCE_KEYS`], which
//! win over point attributes of the same name. Arrays: Relay accepts `"type": "array"` for
//! homogeneous arrays of primitives since getsentry/relay#5394 (and drops other arrays), but
//! sentry-types' [`LogAttribute`] has no such type and writes any array as its JSON text; we
//! send that text as a `string` attribute (`["a","b"]`), which Relay always accepts.
//!
//! Size: Sentry drops a metric over 2 KB, so each item is kept to [`MAX_ITEM_BYTES`] of JSON.
//! An item over it gets its string attribute values cut to [`CUT_STRING_BYTES`] (at a char
//! boundary), then, if still over, loses point attributes, largest first, until it fits.
//! `sentry.*` attributes are never cut or dropped; a point with an item still over the limit
//! after that (a name of kilobytes) makes nothing ([`Items::too_large`]): Relay would accept
//! its envelope and drop it. Every item so changed is counted in [`Items::cut`].

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use sentry_types::protocol::v7::{
    LogAttribute, Map, Metric as SentryMetric, MetricType, SpanId, TraceId, Unit,
};
use serde_json::Value as Json;

use super::model::{
    Exemplar, ExponentialHistogram, Histogram, Kind, Metric, Point, Summary, Value,
};
use super::units::sentry_unit;
use crate::cut::cut_in_place;
use crate::errors::otlp::{get, get_str, Attributes};
use crate::json_len::json_len;

/// Sentry's limit for one metric, as `serde_json` writes it.
pub const MAX_ITEM_BYTES: usize = 2048;
/// What an over-size item's string attribute values are cut to.
pub const CUT_STRING_BYTES: usize = 128;
/// The resource attributes every item carries (besides release and environment).
pub const RESOURCE_KEYS: [&str; 7] = [
    "service.name",
    "service.namespace",
    "host.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.deployment.name",
    "cloud.region",
];
const SAMPLE_RATE: &str = "sentry.client_sample_rate";
/// Most items one histogram point makes (the OpenTelemetry SDKs' exponential histograms keep
/// 160 buckets by default); a point of more non-empty buckets has adjacent ones merged.
pub const MAX_BUCKET_ITEMS: usize = 160;

type SentryAttributes = Map<Cow<'static, str>, LogAttribute>;

/// A point's metric and the resource it came from.
pub struct Source<'a> {
    pub resource: &'a Attributes,
    pub metric: &'a Metric,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Items {
    pub items: Vec<SentryMetric>,
    /// Items whose attributes were cut to fit the size limit.
    pub cut: u64,
    /// An item is over the size limit all the same: the point makes no items.
    pub too_large: bool,
}

/// What a point will make, before anything is built: the cap is asked for that many items,
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
pub fn plan<'a>(metric: &Metric, point: &'a Point) -> Planned<'a> {
    let mut drafts = drafts(metric, point);
    // An overflowed delta makes nothing: Sentry takes no NaN or infinity.
    drafts.retain(|draft| draft.value.is_finite());
    Planned { drafts }
}

/// The Sentry items of `planned`, made of `point` of `source.metric`; `trace_id` is used when
/// no exemplar names a trace.
pub fn items(source: &Source<'_>, point: &Point, trace_id: [u8; 16], planned: Planned) -> Items {
    let mut shared = Shared::new(source, point, trace_id);
    let mut items = Items::default();
    let mut drafts = planned.drafts.into_iter();
    let Some(first) = drafts.next() else {
        return items;
    };
    // The size rule on the first item, whose attributes the others then share: a point's
    // attributes are cut once, not copied whole into each of its items first.
    let mut item = shared.item(first);
    let fitted = fit(&mut item, &shared.droppable);
    let shared_cut = fitted != Fitted::Fits;
    if shared_cut {
        shared.attributes = item.attributes.clone();
        shared.attributes.remove(SAMPLE_RATE);
    }
    items.items.push(item);
    items.cut += u64::from(shared_cut);
    items.too_large |= fitted == Fitted::TooLarge;
    for draft in drafts {
        // Each carries the cut attributes, and may need more cut for its own name.
        let mut item = shared.item(draft);
        let fitted = fit(&mut item, &shared.droppable);
        if fitted != Fitted::Fits || shared_cut {
            items.cut += 1;
        }
        items.too_large |= fitted == Fitted::TooLarge;
        items.items.push(item);
    }
    if items.too_large {
        return Items {
            too_large: true,
            ..Items::default()
        };
    }
    items
}

/// What the size rule did to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fitted {
    Fits,
    Cut,
    /// Over the limit after all it may cut.
    TooLarge,
}

/// What one item has of its own.
struct Draft<'a> {
    r#type: MetricType,
    name: String,
    value: f64,
    with_unit: bool,
    sample_rate: Option<f64>,
    /// The exemplar whose trace and span the item gets.
    exemplar: Option<&'a Exemplar>,
}

impl<'a> Draft<'a> {
    fn new(r#type: MetricType, name: String, value: f64, exemplar: Option<&'a Exemplar>) -> Self {
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

fn drafts<'a>(metric: &Metric, point: &'a Point) -> Vec<Draft<'a>> {
    let (name, first_exemplar) = (metric.name.clone(), point.exemplars.first());
    match (metric.kind, &point.value) {
        (
            Kind::Gauge
            | Kind::Sum {
                monotonic: false, ..
            },
            Value::Number(v),
        ) => {
            vec![Draft::new(MetricType::Gauge, name, *v, first_exemplar)]
        }
        (
            Kind::Sum {
                monotonic: true, ..
            },
            Value::Number(v),
        ) if *v != 0.0 => {
            vec![Draft::new(MetricType::Counter, name, *v, first_exemplar)]
        }
        (Kind::Histogram { .. }, Value::Histogram(h)) => {
            let buckets = merged(histogram_buckets(h), non_empty(&h.counts));
            let (min, max) = ordered(h.min, h.max);
            distributions(&name, buckets, min, max, &point.exemplars)
        }
        (Kind::ExponentialHistogram { .. }, Value::Exponential(e)) => {
            let buckets = non_empty(&e.positive.counts)
                + non_empty(&e.negative.counts)
                + usize::from(e.zero_count > 0);
            let buckets = merged(exponential_buckets(e), buckets);
            let (min, max) = ordered(e.min, e.max);
            distributions(&name, buckets, min, max, &point.exemplars)
        }
        (Kind::Summary, Value::Summary(s)) => summary_drafts(&name, s, first_exemplar),
        _ => Vec::new(),
    }
}

/// A point's `min` and `max`, neither when the min is above the max: then at least one is
/// wrong, and which is not known.
fn ordered(min: Option<f64>, max: Option<f64>) -> (Option<f64>, Option<f64>) {
    match (min, max) {
        (Some(min), Some(max)) if min > max => (None, None),
        bounds => bounds,
    }
}

/// The values in `(lower, upper]`; `None` for an open end.
#[derive(Debug, Clone, Copy)]
struct Range {
    lower: Option<f64>,
    upper: Option<f64>,
}

impl Range {
    fn contains(&self, value: f64) -> bool {
        self.lower.is_none_or(|l| value > l) && self.upper.is_none_or(|u| value <= u)
    }

    /// The smallest range holding both.
    fn hull(self, other: Range) -> Range {
        let both =
            |a: Option<f64>, b: Option<f64>, choose: fn(f64, f64) -> f64| Some(choose(a?, b?));
        Range {
            lower: both(self.lower, other.lower, f64::min),
            upper: both(self.upper, other.upper, f64::max),
        }
    }
}

/// A non-empty bucket: where its values lie, how many, and what stands for them.
struct Bucket {
    range: Range,
    count: u64,
    /// A fixed representative (the zero bucket's 0), else one is made from `range`.
    fixed: Option<f64>,
}

impl Bucket {
    /// `self` and the next bucket as one.
    fn absorb(&mut self, next: Bucket) {
        self.range = self.range.hull(next.range);
        self.count = self.count.saturating_add(next.count);
        self.fixed = self.fixed.filter(|fixed| Some(*fixed) == next.fixed);
    }
}

/// Buckets with a count.
fn non_empty(counts: &[u64]) -> usize {
    counts.iter().filter(|count| **count > 0).count()
}

/// At most [`MAX_BUCKET_ITEMS`] of `buckets` (`count` of them, in ascending order): beyond,
/// adjacent buckets merged into groups of equal number, so a point's items are bounded
/// whatever its buckets, and its count stays exact.
fn merged(buckets: impl Iterator<Item = Bucket>, count: usize) -> Vec<Bucket> {
    let group = count.div_ceil(MAX_BUCKET_ITEMS).max(1);
    let mut kept: Vec<Bucket> = Vec::with_capacity(count.min(MAX_BUCKET_ITEMS));
    let mut in_group = 0;
    for bucket in buckets {
        match kept.last_mut() {
            Some(last) if in_group < group => {
                last.absorb(bucket);
                in_group += 1;
            }
            _ => {
                kept.push(bucket);
                in_group = 1;
            }
        }
    }
    kept
}

/// The non-empty buckets, in ascending order.
fn histogram_buckets(histogram: &Histogram) -> impl Iterator<Item = Bucket> + '_ {
    let bounds = &histogram.bounds;
    let mean = histogram
        .sum
        .filter(|_| histogram.count > 0)
        .map(|sum| sum / histogram.count as f64);
    let buckets = histogram.counts.iter().enumerate();
    let non_empty = buckets.filter(|(_, count)| **count > 0);
    non_empty.map(move |(i, count)| Bucket {
        range: Range {
            lower: i
                .checked_sub(1)
                .and_then(|below| bounds.get(below).copied()),
            upper: bounds.get(i).copied(),
        },
        count: *count,
        // Only a histogram without bounds has a bucket open at both ends: its mean is best.
        fixed: bounds.is_empty().then_some(mean).flatten(),
    })
}

/// The non-empty buckets, in ascending order: the negative ones (the farthest from zero
/// first), the zero bucket, the positive ones.
fn exponential_buckets(histogram: &ExponentialHistogram) -> impl Iterator<Item = Bucket> + '_ {
    let width = (-f64::from(histogram.scale)).exp2(); // log2 of the base
                                                      // A bound beyond f64 (index × width over 1024) stands as the largest finite one: such a
                                                      // bucket's values lie beyond every other's, not at an open end.
    let bound = move |index: i64| Some((index as f64 * width).exp2().min(f64::MAX));
    let (positive, negative) = (&histogram.positive, &histogram.negative);
    let above = indexed(&positive.counts, positive.offset).map(move |(i, count)| Bucket {
        range: Range {
            lower: bound(i),
            upper: bound(i + 1),
        },
        count,
        fixed: None,
    });
    let below = indexed(&negative.counts, negative.offset)
        .rev()
        .map(move |(i, count)| Bucket {
            range: Range {
                lower: bound(i + 1).map(|b| -b),
                upper: bound(i).map(|b| -b),
            },
            count,
            fixed: None,
        });
    let zero_threshold = histogram.zero_threshold.abs();
    let zero = Bucket {
        range: Range {
            // The zero bucket is closed at both ends: [-threshold, threshold].
            lower: Some((-zero_threshold).next_down()),
            upper: Some(zero_threshold),
        },
        count: histogram.zero_count,
        fixed: Some(0.0),
    };
    let all = below.chain(std::iter::once(zero)).chain(above);
    all.filter(|bucket| bucket.count > 0)
}

/// `(index, count)` of consecutive buckets from `offset`.
fn indexed(counts: &[u64], offset: i32) -> impl DoubleEndedIterator<Item = (i64, u64)> + '_ {
    counts
        .iter()
        .enumerate()
        .map(move |(i, count)| (i64::from(offset) + i as i64, *count))
}

fn distributions<'a>(
    name: &str,
    buckets: Vec<Bucket>,
    min: Option<f64>,
    max: Option<f64>,
    exemplars: &'a [Exemplar],
) -> Vec<Draft<'a>> {
    buckets
        .into_iter()
        .map(|bucket| {
            let value = match bucket.fixed {
                Some(fixed) => within(fixed, min, max),
                None => representative(bucket.range, min, max),
            };
            let exemplar = exemplars.iter().find(|e| bucket.range.contains(e.value));
            let mut draft = Draft::new(MetricType::Distribution, name.to_owned(), value, exemplar);
            draft.sample_rate = Some(1.0 / bucket.count as f64);
            draft
        })
        .collect()
}

/// The middle of the part of `range` within `[min, max]`; a still open end leaves the
/// finite bound.
fn representative(range: Range, min: Option<f64>, max: Option<f64>) -> f64 {
    let lower = pick(range.lower, min, f64::max);
    let upper = pick(range.upper, max, f64::min);
    match (lower, upper) {
        // Halves first: the sum of two large bounds could overflow.
        (Some(l), Some(u)) => l / 2.0 + u / 2.0,
        (Some(bound), None) | (None, Some(bound)) => bound,
        (None, None) => within(0.0, min, max),
    }
}

fn pick(a: Option<f64>, b: Option<f64>, choose: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(choose(a, b)),
        (one, other) => one.or(other),
    }
}

/// `value` moved into `[min, max]` where they are known (no panic when min > max).
fn within(value: f64, min: Option<f64>, max: Option<f64>) -> f64 {
    let value = min.map_or(value, |min| value.max(min));
    max.map_or(value, |max| value.min(max))
}

fn summary_drafts<'a>(
    name: &str,
    summary: &Summary,
    exemplar: Option<&'a Exemplar>,
) -> Vec<Draft<'a>> {
    let quantiles = summary.quantiles.iter().map(|(quantile, value)| {
        let name = format!("{name}.p{}", percentile_label(*quantile));
        Draft::new(MetricType::Gauge, name, *value, exemplar)
    });
    let mut drafts: Vec<Draft<'a>> = quantiles.collect();
    if summary.count > 0 {
        let count = summary.count as f64;
        let mut draft = Draft::new(
            MetricType::Counter,
            format!("{name}.count"),
            count,
            exemplar,
        );
        draft.with_unit = false;
        drafts.push(draft);
    }
    if summary.sum != 0.0 {
        let sum = Draft::new(
            MetricType::Counter,
            format!("{name}.sum"),
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

/// What every item of a point shares.
struct Shared {
    timestamp: SystemTime,
    trace_id: [u8; 16],
    unit: Option<Unit>,
    attributes: SentryAttributes,
    /// The point's attribute keys that the size rule may drop.
    droppable: Vec<Cow<'static, str>>,
}

impl Shared {
    fn new(source: &Source<'_>, point: &Point, trace_id: [u8; 16]) -> Self {
        let mut attributes = SentryAttributes::new();
        for (key, value) in &point.attributes {
            push_typed(key.clone(), value, &mut attributes);
        }
        let fixed = resource_attributes(source.resource);
        let droppable = attributes
            .keys()
            .filter(|key| !key.starts_with("sentry.") && !fixed.contains_key(*key))
            .cloned()
            .collect();
        attributes.extend(fixed);
        let since_epoch = Duration::from_nanos(point.time_unix_nano);
        Shared {
            timestamp: SystemTime::UNIX_EPOCH
                .checked_add(since_epoch)
                .unwrap_or(SystemTime::UNIX_EPOCH),
            trace_id,
            unit: sentry_unit(&source.metric.unit),
            attributes,
            droppable,
        }
    }

    fn item(&self, draft: Draft<'_>) -> SentryMetric {
        let mut attributes = self.attributes.clone();
        if let Some(rate) = draft.sample_rate {
            attributes.insert(Cow::Borrowed(SAMPLE_RATE), LogAttribute(Json::from(rate)));
        }
        let trace_id = draft.exemplar.map_or(self.trace_id, |e| e.trace_id);
        SentryMetric {
            r#type: draft.r#type,
            name: Cow::Owned(draft.name),
            value: draft.value,
            timestamp: self.timestamp,
            trace_id: TraceId::from(trace_id),
            span_id: draft.exemplar.and_then(|e| e.span_id).map(SpanId::from),
            unit: self.unit.clone().filter(|_| draft.with_unit),
            attributes,
        }
    }
}

/// Release, environment and the [`RESOURCE_KEYS`] of a resource.
fn resource_attributes(resource: &Attributes) -> SentryAttributes {
    let mut attributes = SentryAttributes::new();
    for key in RESOURCE_KEYS {
        if let Some(value) = get(resource, key) {
            push_typed(key.to_owned(), value, &mut attributes);
        }
    }
    let mut insert = |key: &'static str, value: &str| {
        attributes.insert(Cow::Borrowed(key), LogAttribute(Json::from(value)));
    };
    if let Some(release) = get_str(resource, "service.version") {
        insert("sentry.release", release);
    }
    let environment = get_str(resource, "deployment.environment.name")
        .or_else(|| get_str(resource, "deployment.environment"));
    if let Some(environment) = environment {
        insert("sentry.environment", environment);
    }
    attributes
}

/// Adds `value` under `key` as Sentry types it: maps flattened into dotted keys, arrays as
/// their JSON text (see the module doc), nulls left out.
fn push_typed(key: String, value: &Json, into: &mut SentryAttributes) {
    match value {
        Json::Null => {}
        Json::Object(map) => {
            for (inner, value) in map {
                push_typed(format!("{key}.{inner}"), value, into);
            }
        }
        Json::Array(_) => {
            into.insert(
                Cow::Owned(key),
                LogAttribute(Json::String(value.to_string())),
            );
        }
        scalar => {
            into.insert(Cow::Owned(key), LogAttribute(scalar.clone()));
        }
    }
}

/// Applies the size rule to `item`.
fn fit(item: &mut SentryMetric, droppable: &[Cow<'static, str>]) -> Fitted {
    if json_len(item) <= MAX_ITEM_BYTES {
        return Fitted::Fits;
    }
    for (key, attribute) in item.attributes.iter_mut() {
        if let (false, Json::String(text)) = (key.starts_with("sentry."), &mut attribute.0) {
            cut_in_place(text, CUT_STRING_BYTES);
        }
    }
    let mut size = json_len(item);
    if size > MAX_ITEM_BYTES {
        size = drop_largest(item, droppable, size);
    }
    match size > MAX_ITEM_BYTES {
        true => Fitted::TooLarge,
        false => Fitted::Cut,
    }
}

/// Drops droppable attributes, largest first, until `item` fits; returns its size then. Each
/// one's share of the JSON is subtracted rather than the item written again, to stay linear.
fn drop_largest(
    item: &mut SentryMetric,
    droppable: &[Cow<'static, str>],
    mut size: usize,
) -> usize {
    let mut sized: Vec<(usize, &Cow<'static, str>)> = droppable
        .iter()
        .filter_map(|key| Some((entry_len(key, item.attributes.get(key)?), key)))
        .collect();
    sized.sort_unstable_by_key(|(len, _)| std::cmp::Reverse(*len));
    for (len, key) in sized {
        if size <= MAX_ITEM_BYTES {
            break;
        }
        item.attributes.remove(key);
        size = size.saturating_sub(len);
    }
    size
}

/// The bytes `"key":value,` takes in the item's JSON.
fn entry_len(key: &str, value: &LogAttribute) -> usize {
    json_len(&key) + json_len(value) + 2
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::metrics::model::{Buckets, Temporality};

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

    fn run_with(resource: &Attributes, kind: Kind, point: &Point) -> Items {
        let metric = Metric {
            name: "m".into(),
            unit: "ms".into(),
            kind,
            points: Vec::new(),
        };
        let source = Source {
            resource,
            metric: &metric,
        };
        items(&source, point, TRACE, plan(&metric, point))
    }

    fn run(kind: Kind, point: &Point) -> Vec<SentryMetric> {
        run_with(&Attributes::new(), kind, point).items
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
        })
    }

    /// (value, sample rate) of each item.
    fn distribution(items: &[SentryMetric]) -> Vec<(f64, f64)> {
        for item in items {
            assert_eq!(item.r#type, MetricType::Distribution);
        }
        items.iter().map(|i| (i.value, rate(i))).collect()
    }

    #[test]
    fn histograms_become_one_distribution_per_bucket() {
        let third = 1.0 / 3.0;
        let mean_only = Value::Histogram(Histogram {
            count: 4,
            sum: Some(10.0),
            ..Histogram::default()
        });
        let mut no_bounds = mean_only.clone();
        if let Value::Histogram(h) = &mut no_bounds {
            h.counts = vec![4];
        }
        let cases: &[BucketCase<'_>] = &[
            (
                "without min and max: open buckets at their bound",
                histogram(&[0.0, 10.0], &[1, 2, 3], None, None),
                &[(0.0, 1.0), (5.0, 0.5), (10.0, third)],
            ),
            (
                "min and max close the open buckets",
                histogram(&[0.0, 10.0], &[1, 2, 3], Some(-4.0), Some(30.0)),
                &[(-2.0, 1.0), (5.0, 0.5), (20.0, third)],
            ),
            (
                "empty buckets make no items",
                histogram(&[0.0, 10.0, 20.0], &[0, 2, 0, 0], Some(4.0), Some(8.0)),
                &[(6.0, 0.5)],
            ),
            ("no bounds: the mean", no_bounds, &[(2.5, 0.25)]),
            ("no buckets", mean_only, &[]),
        ];
        let kind = Kind::Histogram { temporality: DELTA };
        for (name, value, want) in cases {
            let got = run(kind, &point(value.clone()));
            assert_eq!(distribution(&got), *want, "{name}");
        }
    }

    #[test]
    fn sdk_default_buckets_keep_count_exact_and_sum_close() {
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
        let count: f64 = got.iter().map(|i| 1.0 / rate(i)).sum();
        let sum: f64 = got.iter().map(|i| i.value / rate(i)).sum();
        assert_eq!(count, 4.0);
        // Each value is off by at most half its bucket's width: 2.5 + 7.5 + 2 × 12.5.
        assert!((sum - 100.0).abs() <= 35.0, "sum {sum}");
        assert!(got.iter().all(|i| (10.0..=40.0).contains(&i.value)));
        assert_eq!(distribution(&got), [(10.0, 1.0), (17.5, 1.0), (32.5, 0.5)]);
    }

    #[test]
    fn an_exemplar_marks_the_bucket_it_falls_in() {
        let mut recorded = point(histogram(&[0.0, 10.0], &[1, 2, 3], None, None));
        recorded.exemplars = vec![exemplar(7.0)];
        let got = run(Kind::Histogram { temporality: DELTA }, &recorded);
        let traces: Vec<_> = got.iter().map(|i| (i.trace_id, i.span_id)).collect();
        let marked = (TraceId::from(EXEMPLAR_TRACE), Some(SpanId::from(SPAN)));
        let plain = (TraceId::from(TRACE), None);
        assert_eq!(traces, [plain, marked, plain]);
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
    fn exponential_histograms_become_one_distribution_per_bucket() {
        let none = Buckets::default();
        let eighth_root = 1.0 + 1.125f64.exp2() / 2.0; // the middle of (2, 2^(9/8)]
        let mut clamped = exponential(0, 0, none.clone(), buckets(0, &[1]));
        if let Value::Exponential(e) = &mut clamped {
            e.max = Some(1.5);
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
            ("max closes a bucket", clamped, &[(1.25, 1.0)]),
        ];
        let kind = Kind::ExponentialHistogram { temporality: DELTA };
        for (name, value, want) in cases {
            let got = run(kind, &point(value.clone()));
            assert_eq!(distribution(&got), *want, "{name}");
            let Value::Exponential(e) = value else {
                unreachable!()
            };
            let count: f64 = got.iter().map(|i| 1.0 / rate(i)).sum();
            assert_eq!(count.round(), e.count as f64, "{name}");
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
    fn a_min_above_the_max_is_ignored() {
        let swapped = histogram(&[0.0, 10.0], &[0, 2, 0], Some(8.0), Some(2.0));
        let kind = Kind::Histogram { temporality: DELTA };
        assert_eq!(distribution(&run(kind, &point(swapped))), [(5.0, 0.5)]);
    }

    #[test]
    fn a_point_whose_name_alone_is_over_the_size_limit_makes_nothing() {
        let metric = Metric {
            name: "n".repeat(MAX_ITEM_BYTES),
            unit: String::new(),
            kind: Kind::Gauge,
            points: Vec::new(),
        };
        let resource = Attributes::new();
        let source = Source {
            resource: &resource,
            metric: &metric,
        };
        let gauge = point(Value::Number(1.0));
        let got = items(&source, &gauge, [1; 16], plan(&metric, &gauge));
        assert_eq!((got.items.len(), got.too_large), (0, true));
    }

    #[test]
    fn a_point_of_many_buckets_makes_a_bounded_number_of_items_of_exact_count() {
        let million = vec![1; 1_000_000];
        let exponential = exponential(0, 1, buckets(0, &million), buckets(-500, &million));
        let bounds: Vec<f64> = (0..999).map(f64::from).collect();
        let explicit = histogram(&bounds, &[1; 1000], Some(-1.0), Some(1000.0));
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
            let extrapolated: f64 = got.iter().map(|i| 1.0 / rate(i)).sum();
            assert_eq!(extrapolated.round(), count as f64, "{kind:?}");
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

    fn attributes(pairs: &[(&str, Json)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn attributes_json(item: &SentryMetric) -> Json {
        serde_json::to_value(&item.attributes).expect("attributes serialize")
    }

    #[test]
    fn types_point_and_resource_attributes() {
        let mut gauge = point(Value::Number(1.0));
        gauge.attributes = attributes(&[
            ("s", json!("x")),
            ("i", json!(3)),
            ("d", json!(1.5)),
            ("b", json!(true)),
            ("m", json!({"a": {"b": 1}, "c": "y"})),
            ("arr", json!(["a", "b"])),
            ("n", Json::Null),
            ("service.name", json!("from-point")),
        ]);
        let resource = attributes(&[
            ("service.name", json!("svc")),
            ("service.version", json!("1.2")),
            ("deployment.environment", json!("old")),
            ("deployment.environment.name", json!("prod")),
            ("host.name", json!("h")),
            ("telemetry.sdk.name", json!("not copied")),
        ]);
        let got = run_with(&resource, Kind::Gauge, &gauge);
        let want = json!({
            "s": {"value": "x", "type": "string"},
            "i": {"value": 3, "type": "integer"},
            "d": {"value": 1.5, "type": "double"},
            "b": {"value": true, "type": "boolean"},
            "m.a.b": {"value": 1, "type": "integer"},
            "m.c": {"value": "y", "type": "string"},
            "arr": {"value": "[\"a\",\"b\"]", "type": "string"},
            "service.name": {"value": "svc", "type": "string"},
            "host.name": {"value": "h", "type": "string"},
            "sentry.release": {"value": "1.2", "type": "string"},
            "sentry.environment": {"value": "prod", "type": "string"},
        });
        assert_eq!(attributes_json(&got.items[0]), want);
        assert_eq!(got.cut, 0);

        let older = attributes(&[("deployment.environment", json!("staging"))]);
        let got = run_with(&older, Kind::Gauge, &gauge);
        let environment = &got.items[0].attributes["sentry.environment"];
        assert_eq!(environment.0, json!("staging"));
    }

    #[test]
    fn size_rule_cuts_strings_then_drops_largest_point_attributes() {
        let release = "r".repeat(300);
        let resource = attributes(&[
            ("service.name", json!("svc")),
            ("service.version", json!(release)),
        ]);
        // 1000 × "€" (3 bytes): cut at 126 bytes, the last char boundary within 128.
        let long = attributes(&[("big", json!("€".repeat(1000))), ("small", json!(1))]);
        // 30 attributes of 60 to 89 bytes: still too many after cutting.
        let many: Attributes = (0..30)
            .map(|i| (format!("k{i:02}"), json!("v".repeat(60 + i))))
            .collect();
        let cases: &[(&str, Attributes, u64)] = &[
            ("small item", attributes(&[("a", json!("b"))]), 0),
            ("one long string", long, 1),
            ("many attributes", many.clone(), 1),
        ];
        for (name, point_attributes, want_cut) in cases {
            let mut gauge = point(Value::Number(1.0));
            gauge.attributes = point_attributes.clone();
            let got = run_with(&resource, Kind::Gauge, &gauge);
            let item = &got.items[0];
            assert_eq!(got.cut, *want_cut, "{name}");
            assert!(
                json_len(item) <= MAX_ITEM_BYTES,
                "{name}: {}",
                json_len(item)
            );
            assert_eq!(
                item.attributes["sentry.release"].0,
                json!(release),
                "{name}"
            );
            assert!(item.attributes.contains_key("service.name"), "{name}");
        }

        let mut gauge = point(Value::Number(1.0));
        gauge.attributes = attributes(&[("big", json!("€".repeat(1000)))]);
        let got = run_with(&resource, Kind::Gauge, &gauge);
        assert_eq!(got.items[0].attributes["big"].0, json!("€".repeat(42)));

        gauge.attributes = many;
        let got = run_with(&resource, Kind::Gauge, &gauge);
        let kept: Vec<usize> = (0..30)
            .filter(|i| {
                got.items[0]
                    .attributes
                    .contains_key(format!("k{i:02}").as_str())
            })
            .collect();
        assert!(!kept.is_empty() && kept.len() < 30);
        assert_eq!(
            kept,
            (0..kept.len()).collect::<Vec<_>>(),
            "the largest go first"
        );
    }

    #[test]
    fn size_rule_counts_each_item_of_a_histogram() {
        let mut recorded = point(histogram(&[0.0, 10.0], &[1, 2, 3], None, None));
        recorded.attributes = attributes(&[("big", json!("x".repeat(3000)))]);
        let got = run_with(
            &Attributes::new(),
            Kind::Histogram { temporality: DELTA },
            &recorded,
        );
        assert_eq!((got.items.len(), got.cut), (3, 3));
        assert!(got
            .items
            .iter()
            .all(|i| i.attributes.contains_key(SAMPLE_RATE)));
    }
}
