//! Reads an `ExportMetricsServiceRequest` (or a concatenation of its `resource_metrics`
//! fields, as routing hands over a project's part) into the [`model`](super::model), with the
//! core's wire reader.
//!
//! What is kept out, and why:
//! - a metric with no data field, or whose temporality is unspecified or unknown: nothing
//!   says how to read its values. Counted in [`Decoded::unreadable_metrics`].
//! - a point flagged `FLAG_NO_RECORDED_VALUE`: it says there is nothing to report.
//! - a point that cannot be read faithfully: a number point without a value or with a
//!   non-finite one, a histogram whose bucket counts do not match its bounds or whose bounds
//!   are not finite and increasing, an exponential histogram whose scale is outside OTLP's
//!   -10..=20, a packed field of the wrong length. Counted in [`Decoded::unreadable_points`].
//!
//! Optional doubles that are not finite (`sum`, `min`, `max`, a quantile's value) are read
//! as absent. Malformed protobuf anywhere fails the whole request.

use crate::otlp_messages::{nonzero_id, push_attribute, scope_name, Attributes};
use crate::wire::{fields, Field, Value as Wire, WireError};

use super::model::{
    Buckets, Exemplar, ExponentialHistogram, Histogram, Kind, Metric, Point, ResourceMetrics,
    ScopeMetrics, Summary, Temporality, Value,
};

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE_MASK`
const FLAG_NO_RECORDED_VALUE: u64 = 1;
/// The exponential histogram scales OTLP allows.
const SCALES: std::ops::RangeInclusive<i32> = -10..=20;

/// A request's metrics, and how much of it was kept out as unreadable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded<'a> {
    pub resources: Vec<ResourceMetrics<'a>>,
    /// Metrics without data or with an unspecified or unknown temporality.
    pub unreadable_metrics: u64,
    /// Points of readable metrics that could not be read (see the module doc).
    pub unreadable_points: u64,
}

/// Reads `request`'s `resource_metrics` (field 1).
pub fn resources(request: &[u8]) -> Result<Decoded<'_>, WireError> {
    let mut decoded = Decoded::default();
    for f in fields(request) {
        if let (1, Wire::Bytes(resource)) = parts(f)? {
            let resource = resource_metrics(resource, &mut decoded)?;
            decoded.resources.push(resource);
        }
    }
    Ok(decoded)
}

fn resource_metrics<'a>(
    bytes: &'a [u8],
    decoded: &mut Decoded<'a>,
) -> Result<ResourceMetrics<'a>, WireError> {
    let mut resource = ResourceMetrics::default();
    for f in fields(bytes) {
        match parts(f)? {
            (1, Wire::Bytes(r)) => resource.resource = r,
            (2, Wire::Bytes(scope)) => resource.scopes.push(scope_metrics(scope, decoded)?),
            _ => {}
        }
    }
    Ok(resource)
}

fn scope_metrics(bytes: &[u8], decoded: &mut Decoded<'_>) -> Result<ScopeMetrics, WireError> {
    let mut scope = ScopeMetrics::default();
    for f in fields(bytes) {
        match parts(f)? {
            (1, Wire::Bytes(s)) => scope.name = scope_name(s)?,
            (2, Wire::Bytes(m)) => match metric(m, decoded)? {
                Some(metric) => scope.metrics.push(metric),
                None => decoded.unreadable_metrics += 1,
            },
            _ => {}
        }
    }
    Ok(scope)
}

/// One metric; `None` when it has no data or an unusable temporality.
fn metric(bytes: &[u8], decoded: &mut Decoded<'_>) -> Result<Option<Metric>, WireError> {
    let (mut name, mut unit, mut data) = (String::new(), String::new(), None);
    for f in fields(bytes) {
        match parts(f)? {
            (1, Wire::Bytes(n)) => name = String::from_utf8_lossy(n).into_owned(),
            (3, Wire::Bytes(u)) => unit = String::from_utf8_lossy(u).into_owned(),
            // The data is a oneof: as protobuf does, the last one read wins.
            (number @ (5 | 7 | 9 | 10 | 11), Wire::Bytes(d)) => data = Some((number, d)),
            _ => {}
        }
    }
    let Some((number, data)) = data else {
        return Ok(None);
    };
    let Some(kind) = kind(number, data)? else {
        return Ok(None);
    };
    let mut points = Vec::new();
    for f in fields(data) {
        if let (1, Wire::Bytes(p)) = parts(f)? {
            match point(kind, p)? {
                Ok(Some(point)) => points.push(point),
                Ok(None) => {}
                Err(Unreadable) => decoded.unreadable_points += 1,
            }
        }
    }
    Ok(Some(Metric {
        name,
        unit,
        kind,
        points,
    }))
}

/// The kind of the metric's data field `number`; `None` for an unusable temporality.
fn kind(number: u32, data: &[u8]) -> Result<Option<Kind>, WireError> {
    let (mut temporality, mut monotonic) = (0, false);
    for f in fields(data) {
        match parts(f)? {
            (2, Wire::Varint(t)) => temporality = t,
            (3, Wire::Varint(m)) => monotonic = m != 0,
            _ => {}
        }
    }
    let temporality = match temporality {
        1 => Some(Temporality::Delta),
        2 => Some(Temporality::Cumulative),
        _ => None,
    };
    Ok(match number {
        5 => Some(Kind::Gauge),
        7 => temporality.map(|temporality| Kind::Sum {
            monotonic,
            temporality,
        }),
        9 => temporality.map(|temporality| Kind::Histogram { temporality }),
        10 => temporality.map(|temporality| Kind::ExponentialHistogram { temporality }),
        _ => Some(Kind::Summary),
    })
}

/// One data point: `Ok(None)` when flagged as having no recorded value.
type Read = Result<Option<Point>, Unreadable>;

/// A data point that cannot be read faithfully (see the module doc).
struct Unreadable;

fn point(kind: Kind, bytes: &[u8]) -> Result<Read, WireError> {
    match kind {
        Kind::Gauge | Kind::Sum { .. } => number_point(bytes),
        Kind::Histogram { .. } => histogram_point(bytes),
        Kind::ExponentialHistogram { .. } => exponential_point(bytes),
        Kind::Summary => summary_point(bytes),
    }
}

/// What every kind of point has besides its value.
#[derive(Default)]
struct Common {
    start_unix_nano: u64,
    time_unix_nano: u64,
    attributes: Attributes,
    exemplars: Vec<Exemplar>,
    flags: u64,
}

impl Common {
    /// Reads field `number` if it is one of the common fields, at the numbers `at` gives.
    fn read(&mut self, at: &CommonFields, number: u32, value: Wire<'_>) -> Result<bool, WireError> {
        match value {
            Wire::Fixed64(b) if number == 2 => self.start_unix_nano = u64::from_le_bytes(*b),
            Wire::Fixed64(b) if number == 3 => self.time_unix_nano = u64::from_le_bytes(*b),
            Wire::Bytes(kv) if number == at.attributes => push_attribute(kv, &mut self.attributes)?,
            Wire::Bytes(e) if Some(number) == at.exemplars => self.exemplars.extend(exemplar(e)?),
            Wire::Varint(flags) if number == at.flags => self.flags = flags,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn into_read(self, value: Option<Value>) -> Read {
        if self.flags & FLAG_NO_RECORDED_VALUE != 0 {
            return Ok(None);
        }
        let value = value.ok_or(Unreadable)?;
        Ok(Some(Point {
            start_unix_nano: self.start_unix_nano,
            time_unix_nano: self.time_unix_nano,
            attributes: self.attributes,
            exemplars: self.exemplars,
            value,
        }))
    }
}

/// The field numbers of the common fields that differ between point messages.
struct CommonFields {
    attributes: u32,
    exemplars: Option<u32>,
    flags: u32,
}

fn number_point(bytes: &[u8]) -> Result<Read, WireError> {
    let at = CommonFields {
        attributes: 7,
        exemplars: Some(5),
        flags: 8,
    };
    let (mut common, mut number) = (Common::default(), None);
    for f in fields(bytes) {
        let (n, value) = parts(f)?;
        if common.read(&at, n, value)? {
            continue;
        }
        match (n, value) {
            (4, Wire::Fixed64(b)) => number = Some(f64::from_le_bytes(*b)),
            (6, Wire::Fixed64(b)) => number = Some(i64::from_le_bytes(*b) as f64),
            _ => {}
        }
    }
    Ok(common.into_read(number.filter(|v| v.is_finite()).map(Value::Number)))
}

fn histogram_point(bytes: &[u8]) -> Result<Read, WireError> {
    let at = CommonFields {
        attributes: 9,
        exemplars: Some(8),
        flags: 10,
    };
    let (mut common, mut histogram, mut well_formed) =
        (Common::default(), Histogram::default(), true);
    for f in fields(bytes) {
        let (n, value) = parts(f)?;
        if common.read(&at, n, value)? {
            continue;
        }
        match (n, value) {
            (4, Wire::Fixed64(b)) => histogram.count = u64::from_le_bytes(*b),
            (5, Wire::Fixed64(b)) => histogram.sum = finite(b),
            (6, v) => well_formed &= push_fixed64s(v, &mut histogram.counts, u64::from_le_bytes),
            (7, v) => well_formed &= push_fixed64s(v, &mut histogram.bounds, f64::from_le_bytes),
            (11, Wire::Fixed64(b)) => histogram.min = finite(b),
            (12, Wire::Fixed64(b)) => histogram.max = finite(b),
            _ => {}
        }
    }
    let readable = well_formed && buckets_match_bounds(&histogram);
    Ok(common.into_read(readable.then_some(Value::Histogram(histogram))))
}

/// The model's promise: finite, increasing bounds, and one count more than bounds (or none).
fn buckets_match_bounds(histogram: &Histogram) -> bool {
    let bounds = &histogram.bounds;
    let increasing = bounds.windows(2).all(|pair| pair[0] < pair[1]);
    let counts_fit = histogram.counts.is_empty() || histogram.counts.len() == bounds.len() + 1;
    increasing && counts_fit && bounds.iter().all(|b| b.is_finite())
}

fn exponential_point(bytes: &[u8]) -> Result<Read, WireError> {
    let at = CommonFields {
        attributes: 1,
        exemplars: Some(11),
        flags: 10,
    };
    let (mut common, mut histogram) = (Common::default(), ExponentialHistogram::default());
    let mut well_formed = true;
    for f in fields(bytes) {
        let (n, value) = parts(f)?;
        if common.read(&at, n, value)? {
            continue;
        }
        match (n, value) {
            (4, Wire::Fixed64(b)) => histogram.count = u64::from_le_bytes(*b),
            (5, Wire::Fixed64(b)) => histogram.sum = finite(b),
            (6, Wire::Varint(s)) => histogram.scale = zigzag32(s),
            (7, Wire::Fixed64(b)) => histogram.zero_count = u64::from_le_bytes(*b),
            (8, Wire::Bytes(b)) => well_formed &= buckets(b, &mut histogram.positive)?,
            (9, Wire::Bytes(b)) => well_formed &= buckets(b, &mut histogram.negative)?,
            (12, Wire::Fixed64(b)) => histogram.min = finite(b),
            (13, Wire::Fixed64(b)) => histogram.max = finite(b),
            (14, Wire::Fixed64(b)) => histogram.zero_threshold = finite(b).unwrap_or(0.0),
            _ => {}
        }
    }
    let readable = well_formed && SCALES.contains(&histogram.scale);
    Ok(common.into_read(readable.then_some(Value::Exponential(histogram))))
}

/// Reads a `Buckets` message into `into`; false when its counts are malformed.
fn buckets(bytes: &[u8], into: &mut Buckets) -> Result<bool, WireError> {
    let mut well_formed = true;
    for f in fields(bytes) {
        match parts(f)? {
            (1, Wire::Varint(offset)) => into.offset = zigzag32(offset),
            (2, Wire::Varint(count)) => into.counts.push(count),
            (2, Wire::Bytes(packed)) => well_formed &= push_varints(packed, &mut into.counts),
            _ => {}
        }
    }
    Ok(well_formed)
}

fn summary_point(bytes: &[u8]) -> Result<Read, WireError> {
    let at = CommonFields {
        attributes: 7,
        exemplars: None,
        flags: 8,
    };
    let (mut common, mut summary) = (Common::default(), Summary::default());
    for f in fields(bytes) {
        let (n, value) = parts(f)?;
        if common.read(&at, n, value)? {
            continue;
        }
        match (n, value) {
            (4, Wire::Fixed64(b)) => summary.count = u64::from_le_bytes(*b),
            (5, Wire::Fixed64(b)) => summary.sum = finite(b).unwrap_or(0.0),
            (6, Wire::Bytes(q)) => summary.quantiles.extend(quantile(q)?),
            _ => {}
        }
    }
    Ok(common.into_read(Some(Value::Summary(summary))))
}

/// A `ValueAtQuantile`; `None` when its quantile is outside [0, 1] or its value not finite.
fn quantile(bytes: &[u8]) -> Result<Option<(f64, f64)>, WireError> {
    let (mut quantile, mut value) = (Some(0.0), Some(0.0));
    for f in fields(bytes) {
        match parts(f)? {
            (1, Wire::Fixed64(b)) => quantile = finite(b),
            (2, Wire::Fixed64(b)) => value = finite(b),
            _ => {}
        }
    }
    Ok(quantile.filter(|q| (0.0..=1.0).contains(q)).zip(value))
}

/// An exemplar that names a trace; others are of no use to Sentry.
fn exemplar(bytes: &[u8]) -> Result<Option<Exemplar>, WireError> {
    let (mut trace_id, mut span_id, mut value) = (None, None, 0.0);
    for f in fields(bytes) {
        match parts(f)? {
            (3, Wire::Fixed64(b)) => value = f64::from_le_bytes(*b),
            (6, Wire::Fixed64(b)) => value = i64::from_le_bytes(*b) as f64,
            (4, Wire::Bytes(id)) => span_id = nonzero_id(id),
            (5, Wire::Bytes(id)) => trace_id = nonzero_id(id),
            _ => {}
        }
    }
    Ok(trace_id.map(|trace_id| Exemplar {
        trace_id,
        span_id,
        value,
    }))
}

/// A field's number and value.
fn parts(field: Result<Field<'_>, WireError>) -> Result<(u32, Wire<'_>), WireError> {
    field.map(|f| (f.number, f.value))
}

fn finite(bytes: &[u8; 8]) -> Option<f64> {
    Some(f64::from_le_bytes(*bytes)).filter(|v| v.is_finite())
}

/// A `sint32` from its varint.
fn zigzag32(varint: u64) -> i32 {
    let n = varint as u32; // protobuf reads a sint32 from the varint's low 32 bits
    ((n >> 1) as i32) ^ -((n & 1) as i32)
}

/// Appends one repeated 8-byte value, packed or not; false when a packed run is not a
/// whole number of values or the wire type is wrong.
fn push_fixed64s<T>(value: Wire<'_>, into: &mut Vec<T>, read: fn([u8; 8]) -> T) -> bool {
    match value {
        Wire::Fixed64(b) => into.push(read(*b)),
        Wire::Bytes(packed) => {
            let chunks = packed.chunks_exact(8);
            if !chunks.remainder().is_empty() {
                return false;
            }
            into.extend(chunks.filter_map(|c| c.try_into().ok()).map(read));
        }
        _ => return false,
    }
    true
}

/// Appends a packed run of varints; false when it ends inside one or one is too long.
fn push_varints(packed: &[u8], into: &mut Vec<u64>) -> bool {
    let mut pos = 0;
    while pos < packed.len() {
        match crate::wire::read_varint(packed, &mut pos) {
            Ok(value) => into.push(value),
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::wire::wrap;

    fn varint(number: u32, mut value: u64) -> Vec<u8> {
        let mut out = vec![(number << 3) as u8];
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
        out
    }

    fn fixed64(number: u32, bits: [u8; 8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 1) as u8];
        out.extend(bits);
        out
    }

    fn double(number: u32, value: f64) -> Vec<u8> {
        fixed64(number, value.to_le_bytes())
    }

    fn attribute(key: &str, value: &str) -> Vec<u8> {
        [wrap(1, key.as_bytes()), wrap(2, &wrap(1, value.as_bytes()))].concat()
    }

    /// One resource (`service.name` = `svc`) with one scope (`lib`) holding `metrics`.
    fn request(metrics: &[Vec<u8>]) -> Vec<u8> {
        let resource = wrap(1, &wrap(1, &attribute("service.name", "svc")));
        let scope: Vec<u8> = [wrap(1, &wrap(1, b"lib"))]
            .into_iter()
            .chain(metrics.iter().map(|m| wrap(2, m)))
            .collect::<Vec<_>>()
            .concat();
        wrap(1, &[resource, wrap(2, &scope)].concat())
    }

    fn metric(name: &str, data_field: u32, data: &[Vec<u8>]) -> Vec<u8> {
        [
            wrap(1, name.as_bytes()),
            wrap(3, b"ms"),
            wrap(data_field, &data.concat()),
        ]
        .concat()
    }

    fn decode(metrics: &[Vec<u8>]) -> Decoded<'static> {
        // Leaked: what is decoded borrows the request, for as long as a test runs.
        let request = Box::leak(request(metrics).into_boxed_slice());
        resources(request).expect("well-formed request")
    }

    fn only_metric<'a>(decoded: &'a Decoded<'_>) -> &'a Metric {
        &decoded.resources[0].scopes[0].metrics[0]
    }

    #[test]
    fn reads_resource_scope_and_gauge_points() {
        let trace = [7u8; 16];
        let exemplar = [double(3, 2.5), wrap(4, &[8u8; 8]), wrap(5, &trace)].concat();
        let no_trace = [double(3, 1.0), wrap(5, &[0u8; 16])].concat();
        let point_a = [
            fixed64(2, 10u64.to_le_bytes()),
            fixed64(3, 20u64.to_le_bytes()),
            double(4, 1.5),
            wrap(5, &exemplar),
            wrap(5, &no_trace),
            wrap(7, &attribute("route", "/a")),
        ];
        let point_b = [fixed64(6, (-3i64).to_le_bytes())];
        let gauge = metric(
            "g",
            5,
            &[wrap(1, &point_a.concat()), wrap(1, &point_b.concat())],
        );
        let decoded = decode(&[gauge]);
        let resource = &decoded.resources[0];
        assert_eq!(
            crate::otlp_messages::resource_attributes(resource.resource),
            Ok(vec![("service.name".into(), json!("svc"))])
        );
        assert_eq!(resource.scopes[0].name.as_deref(), Some("lib"));
        let m = only_metric(&decoded);
        assert_eq!(
            (m.name.as_str(), m.unit.as_str(), m.kind),
            ("g", "ms", Kind::Gauge)
        );
        let a = &m.points[0];
        assert_eq!((a.start_unix_nano, a.time_unix_nano), (10, 20));
        assert_eq!(a.value, Value::Number(1.5));
        assert_eq!(a.attributes, vec![("route".into(), json!("/a"))]);
        let want = Exemplar {
            trace_id: trace,
            span_id: Some([8; 8]),
            value: 2.5,
        };
        assert_eq!(a.exemplars, vec![want]);
        assert_eq!(m.points[1].value, Value::Number(-3.0));
    }

    #[test]
    fn reads_kinds_and_keeps_out_unusable_metrics() {
        let point = wrap(1, &double(4, 1.0));
        let cases: &[(&str, Vec<u8>, Option<Kind>)] = &[
            (
                "monotonic cumulative sum",
                metric("s", 7, &[point.clone(), varint(2, 2), varint(3, 1)]),
                Some(Kind::Sum {
                    monotonic: true,
                    temporality: Temporality::Cumulative,
                }),
            ),
            (
                "non-monotonic delta sum",
                metric("s", 7, &[point.clone(), varint(2, 1)]),
                Some(Kind::Sum {
                    monotonic: false,
                    temporality: Temporality::Delta,
                }),
            ),
            (
                "sum of unspecified temporality",
                metric("s", 7, std::slice::from_ref(&point)),
                None,
            ),
            (
                "sum of unknown temporality",
                metric("s", 7, &[point, varint(2, 3)]),
                None,
            ),
            ("histogram without temporality", metric("h", 9, &[]), None),
            ("no data", wrap(1, b"nothing"), None),
        ];
        for (name, bytes, want) in cases {
            let decoded = decode(std::slice::from_ref(bytes));
            let got = decoded.resources[0].scopes[0]
                .metrics
                .first()
                .map(|m| m.kind);
            assert_eq!(got, *want, "{name}");
            assert_eq!(
                decoded.unreadable_metrics,
                u64::from(want.is_none()),
                "{name}"
            );
        }
    }

    fn histogram_of(point: &[Vec<u8>]) -> Decoded<'static> {
        decode(&[metric("h", 9, &[wrap(1, &point.concat()), varint(2, 1)])])
    }

    #[test]
    fn reads_histograms_packed_or_not() {
        let packed_counts: Vec<u8> = [1u64, 2, 3].iter().flat_map(|c| c.to_le_bytes()).collect();
        let packed_bounds: Vec<u8> = [5.0f64, 10.0]
            .iter()
            .flat_map(|b| b.to_le_bytes())
            .collect();
        let common = vec![
            fixed64(4, 6u64.to_le_bytes()),
            double(5, 40.0),
            double(11, 1.0),
            double(12, 20.0),
        ];
        let packed = [
            common.clone(),
            vec![wrap(6, &packed_counts), wrap(7, &packed_bounds)],
        ];
        let unpacked = [
            common,
            vec![
                fixed64(6, 1u64.to_le_bytes()),
                fixed64(6, 2u64.to_le_bytes()),
            ],
            vec![
                fixed64(6, 3u64.to_le_bytes()),
                double(7, 5.0),
                double(7, 10.0),
            ],
        ];
        let want = Value::Histogram(Histogram {
            count: 6,
            sum: Some(40.0),
            min: Some(1.0),
            max: Some(20.0),
            bounds: vec![5.0, 10.0],
            counts: vec![1, 2, 3],
            ..Histogram::default()
        });
        for point in [packed.concat(), unpacked.concat()] {
            let decoded = histogram_of(&point);
            assert_eq!(only_metric(&decoded).points[0].value, want);
        }
    }

    #[test]
    fn skips_unrecorded_and_unreadable_points() {
        let counts = |n: u64| fixed64(6, n.to_le_bytes());
        let cases: &[(&str, Vec<Vec<u8>>, u64)] = &[
            ("no recorded value", vec![counts(1), varint(10, 1)], 0),
            ("counts without bounds", vec![counts(1), counts(2)], 1),
            ("decreasing bounds", vec![double(7, 2.0), double(7, 1.0)], 1),
            ("infinite bound", vec![double(7, f64::INFINITY)], 1),
            ("packed counts cut short", vec![wrap(6, &[1, 2, 3])], 1),
            ("counts as varints", vec![varint(6, 1)], 1),
        ];
        for (name, point, unreadable) in cases {
            let decoded = histogram_of(point);
            assert!(only_metric(&decoded).points.is_empty(), "{name}");
            assert_eq!(decoded.unreadable_points, *unreadable, "{name}");
        }
        let gauge = |point: Vec<u8>| decode(&[metric("g", 5, &[wrap(1, &point)])]);
        assert_eq!(gauge(fixed64(3, [0; 8])).unreadable_points, 1, "no value");
        assert_eq!(gauge(double(4, f64::NAN)).unreadable_points, 1, "NaN value");
    }

    #[test]
    fn reads_exponential_histograms() {
        let varints: Vec<u8> = [3u64, 300]
            .iter()
            .flat_map(|c| varint(0, *c)[1..].to_vec())
            .collect();
        let positive = [varint(1, 3), wrap(2, &varints)].concat(); // offset -2, packed
        let negative = [varint(2, 4), varint(2, 5)].concat(); // offset 0, unpacked
        let point = [
            varint(6, 3), // scale -2
            fixed64(7, 2u64.to_le_bytes()),
            double(14, 0.001),
            wrap(8, &positive),
            wrap(9, &negative),
            wrap(1, &attribute("k", "v")),
        ];
        let decoded = decode(&[metric("e", 10, &[wrap(1, &point.concat()), varint(2, 2)])]);
        let Value::Exponential(e) = &only_metric(&decoded).points[0].value else {
            panic!("not exponential");
        };
        assert_eq!((e.scale, e.zero_count, e.zero_threshold), (-2, 2, 0.001));
        assert_eq!(
            (e.positive.offset, e.positive.counts.as_slice()),
            (-2, &[3, 300][..])
        );
        assert_eq!(
            (e.negative.offset, e.negative.counts.as_slice()),
            (0, &[4, 5][..])
        );

        let too_fine = wrap(1, &varint(6, 42)); // scale 21
        let decoded = decode(&[metric("e", 10, &[too_fine, varint(2, 1)])]);
        assert_eq!(decoded.unreadable_points, 1);
    }

    #[test]
    fn reads_summaries() {
        let quantile = |q: f64, v: f64| wrap(6, &[double(1, q), double(2, v)].concat());
        let point = [
            fixed64(4, 9u64.to_le_bytes()),
            double(5, 45.0),
            quantile(0.5, 4.0),
            quantile(0.99, 8.5),
            quantile(1.5, 1.0), // not a quantile
            quantile(0.9, f64::NAN),
        ];
        let decoded = decode(&[metric("q", 11, &[wrap(1, &point.concat())])]);
        let want = Value::Summary(Summary {
            count: 9,
            sum: 45.0,
            quantiles: vec![(0.5, 4.0), (0.99, 8.5)],
        });
        assert_eq!(only_metric(&decoded).points[0].value, want);
    }

    #[test]
    fn never_panics_on_cut_or_altered_input() {
        let point = [double(4, 1.0), wrap(7, &attribute("k", "v"))].concat();
        let histogram = [double(7, 1.0), wrap(6, &[0u8; 16]), fixed64(4, [2; 8])].concat();
        let exponential = [
            varint(6, 1),
            wrap(8, &[varint(1, 1), wrap(2, &[5, 6])].concat()),
        ];
        let request = request(&[
            metric("g", 5, &[wrap(1, &point)]),
            metric("h", 9, &[wrap(1, &histogram), varint(2, 2)]),
            metric("e", 10, &[wrap(1, &exponential.concat()), varint(2, 1)]),
        ]);
        for end in 0..request.len() {
            let _ = resources(&request[..end]);
        }
        for at in 0..request.len() {
            for byte in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut altered = request.clone();
                altered[at] = byte;
                let _ = resources(&altered);
            }
        }
        assert!(resources(&request[..request.len() - 1]).is_err());
    }
}
