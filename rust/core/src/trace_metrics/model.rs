//! OpenTelemetry metrics as the conversion reads them: resources, scopes, metrics and their
//! data points, decoded from OTLP bytes by [`super::decode`]. Values are as received
//! (cumulative or delta); [`super::series`] turns cumulative ones into deltas.

use crate::otlp_messages::Attributes;

/// One resource's metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceMetrics<'a> {
    /// Its `Resource` message, as received: its attributes are read once for resources alike
    /// ([`super::resource`]).
    pub resource: &'a [u8],
    pub scopes: Vec<ScopeMetrics>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScopeMetrics {
    pub name: Option<String>,
    pub metrics: Vec<Metric>,
}

/// One metric (an instrument's stream) with its data points.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    /// UCUM, as received (`ms`, `By`, `{request}`, `1`, ...); empty when none.
    pub unit: String,
    pub kind: Kind,
    pub points: Vec<Point>,
}

/// What the instrument is, with its temporality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Sum {
        monotonic: bool,
        temporality: Temporality,
    },
    Histogram {
        temporality: Temporality,
    },
    ExponentialHistogram {
        temporality: Temporality,
    },
    Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    Delta,
    Cumulative,
}

/// One data point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub start_unix_nano: u64,
    pub time_unix_nano: u64,
    pub attributes: Attributes,
    /// Its exemplars that name a trace.
    pub exemplars: Vec<Exemplar>,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exemplar {
    pub trace_id: [u8; 16],
    pub span_id: Option<[u8; 8]>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Gauge and sum points (`as_int` read as a double).
    Number(f64),
    Histogram(Histogram),
    Exponential(ExponentialHistogram),
    Summary(Summary),
}

/// An explicit-bounds histogram: `counts` has one more entry than `bounds` (the last bucket
/// is above the last bound), or none at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Whether `min` and `max` are values of this point.
    pub attained: Attained,
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExponentialHistogram {
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Whether `min` and `max` are values of this point.
    pub attained: Attained,
    pub scale: i32,
    pub zero_count: u64,
    pub zero_threshold: f64,
    pub positive: Buckets,
    pub negative: Buckets,
}

/// Whether a histogram's `min` and `max` are values it holds (as received: OTLP's min and max
/// are those of the point's own values), or only bound them: the delta of two cumulative
/// points carries the later one's min and max, those of the series' whole life, which the
/// delta's values may not reach (see [`super::series`] for when they are known to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attained {
    pub min: bool,
    pub max: bool,
}

impl Default for Attained {
    fn default() -> Self {
        Attained {
            min: true,
            max: true,
        }
    }
}

/// Consecutive exponential buckets from index `offset`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    pub offset: i32,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub sum: f64,
    /// (quantile, value) pairs.
    pub quantiles: Vec<(f64, f64)>,
}
