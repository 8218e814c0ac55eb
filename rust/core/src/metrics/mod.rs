//! OpenTelemetry metrics as Sentry trace metrics. Sentry ingests no OTLP metrics, but takes
//! `trace_metric` items (counter, gauge, distribution) in envelopes: [`decode`] reads a
//! project's OTLP metrics into the [`model`], [`filter`] keeps the names asked for, [`series`]
//! turns cumulative points into deltas, and [`items`] makes the Sentry items, with units from
//! [`units`].
//!
//! A series' state moves on only for points whose items Sentry accepted ([`Metrics::commit`]),
//! so the collector's retry of a batch neither loses nor counts twice: the points already
//! accepted are then stale and make nothing, the others make the same deltas again. For that,
//! one project's metrics are exported one batch at a time ([`Metrics::serialize`]).

pub mod decode;
pub mod filter;
pub mod items;
pub mod model;
pub mod series;
pub mod units;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cap::Cap;
use crate::clock::Instant;
use crate::config::MetricsConfig;
use crate::ingest::envelope::{EnvelopePiece, ItemGroup};
use crate::outcome::DropReason;
use crate::slug::Slug;
use crate::wire::WireError;
use filter::NameFilter;
use model::{Kind, Metric, Point, ResourceMetrics, Temporality};
use series::{series_key, Change, Commit, SeriesKey, SeriesTable};

/// Items per envelope at most (one `trace_metric` container each): Sentry's SDKs flush
/// their metric buffers at this size.
pub const MAX_ITEMS_PER_ENVELOPE: usize = 1000;
/// Project locks kept before the unused ones are forgotten.
const PRUNE_LOCKS_ABOVE: usize = 4096;

/// Why trace metric items were not sent, for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemDrop {
    /// As spans are dropped (refused by Sentry, too large, no project).
    Ingest(DropReason),
    /// Over `metrics.max_items_per_minute` for their project.
    Capped,
}

impl ItemDrop {
    /// Every label of [`ItemDrop::label`].
    pub const LABELS: [&'static str; 5] = [
        "project_not_found",
        "rejected",
        "feature_disabled",
        "too_large",
        "capped",
    ];

    pub fn label(self) -> &'static str {
        match self {
            ItemDrop::Ingest(reason) => reason.as_str(),
            ItemDrop::Capped => "capped",
        }
    }
}

/// One project's metrics of a batch, converted.
#[derive(Debug, Default)]
pub struct Converted {
    /// The envelopes to send.
    pub pieces: Vec<EnvelopePiece>,
    /// By [`ItemGroup::point`]: where the point's series moves once its items were accepted.
    commits: Vec<Option<Commit>>,
    /// Data points read.
    pub points: u64,
    /// Data points of metrics `metrics.include` / `exclude` leave out.
    pub excluded: u64,
    /// Metrics and points that could not be read (see [`decode`]).
    pub unreadable: u64,
    /// Items over the project's cap.
    pub capped: u64,
    /// Items whose attributes were cut to fit Sentry's size limit.
    pub cut: u64,
}

/// The trace metrics of one exporter: its filter, cap and series.
pub struct Metrics {
    names: NameFilter,
    cap: Mutex<Cap>,
    series: Mutex<SeriesTable>,
    projects: Mutex<HashMap<Slug, Arc<tokio::sync::Mutex<()>>>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// For an exporter started at `started_unix_nano` (series that began before count from
    /// their next point).
    pub fn new(config: &MetricsConfig, started_unix_nano: u64) -> Metrics {
        Metrics {
            names: config.names.clone(),
            cap: Mutex::new(Cap::new(config.max_items_per_minute)),
            series: Mutex::new(SeriesTable::new(started_unix_nano, config.max_series_bytes)),
            projects: Mutex::default(),
        }
    }

    /// Held while one batch of `slug`'s metrics is converted, sent and committed: two batches
    /// in flight holding the same series would both count from the same committed value.
    pub async fn serialize(&self, slug: &Slug) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut projects = locked(&self.projects);
            if projects.len() > PRUNE_LOCKS_ABOVE {
                projects.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            projects.entry(slug.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// `slug`'s metrics in `blocks` (each an OTLP metrics request of one resource block) as
    /// envelopes of trace metric items, at `now`. Points that send nothing (a series'
    /// baseline, an unchanged value) move their series on at once.
    pub fn convert<'a>(
        &self,
        slug: &Slug,
        blocks: impl IntoIterator<Item = &'a [u8]>,
        now: Instant,
    ) -> Result<Converted, WireError> {
        let mut batch = Batch {
            metrics: self,
            slug,
            now,
            series: locked(&self.series),
            pending: HashMap::new(),
            groups: Vec::new(),
            settled: Vec::new(),
            converted: Converted::default(),
        };
        for block in blocks {
            let decoded = decode::resources(block)?;
            batch.converted.unreadable += decoded.unreadable_metrics + decoded.unreadable_points;
            for resource in &decoded.resources {
                for scope in &resource.scopes {
                    for metric in &scope.metrics {
                        batch.metric(resource, scope.name.as_deref(), metric);
                    }
                }
            }
        }
        let Batch {
            series,
            groups,
            settled,
            mut converted,
            ..
        } = batch;
        drop(series);
        self.commit_all(settled);
        converted.pieces = envelopes(groups);
        Ok(converted)
    }

    /// Sentry accepted `piece` of `converted`: its points' series move on.
    pub fn commit(&self, converted: &mut Converted, piece: &EnvelopePiece) {
        let EnvelopePiece::TraceMetrics(groups) = piece else {
            return;
        };
        let commits = groups
            .iter()
            .filter_map(|g| converted.commits.get_mut(g.point).and_then(Option::take));
        self.commit_all(commits);
    }

    fn commit_all(&self, commits: impl IntoIterator<Item = Commit>) {
        let mut series = locked(&self.series);
        for commit in commits {
            series.commit(commit);
        }
    }

    /// The series held, their bytes, and the series evicted so far.
    pub fn series(&self) -> SeriesUse {
        let series = locked(&self.series);
        SeriesUse {
            held: series.len(),
            bytes: series.bytes(),
            evicted: series.evictions(),
        }
    }
}

/// What the series' state holds (see [`Metrics::series`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesUse {
    pub held: usize,
    pub bytes: usize,
    pub evicted: u64,
}

/// One conversion under way.
struct Batch<'m> {
    metrics: &'m Metrics,
    slug: &'m Slug,
    now: Instant,
    series: MutexGuard<'m, SeriesTable>,
    /// The latest commit of each series in this batch, so that a later point of the same
    /// series counts from it.
    pending: HashMap<SeriesKey, Commit>,
    groups: Vec<ItemGroup>,
    /// Commits of points that send nothing.
    settled: Vec<Commit>,
    converted: Converted,
}

impl Batch<'_> {
    fn metric(&mut self, resource: &ResourceMetrics, scope: Option<&str>, metric: &Metric) {
        let points = metric.points.len() as u64;
        self.converted.points += points;
        if !self.metrics.names.allows(&metric.name) {
            self.converted.excluded += points;
            return;
        }
        let source = items::Source {
            resource: &resource.attributes,
            metric,
        };
        for point in &metric.points {
            let key = series_key(&resource.attributes, scope, &metric.name, &point.attributes);
            let (send, commit) = change(&self.series, &self.pending, key, metric, point);
            match send {
                Some(send) => self.point(&source, key, &send, commit),
                None => self.settled.extend(commit),
            }
        }
    }

    /// The items of one point to send, unless they are none or over the cap.
    fn point(
        &mut self,
        source: &items::Source<'_>,
        key: SeriesKey,
        send: &Point,
        commit: Option<Commit>,
    ) {
        let planned = items::plan(source.metric, send);
        if planned.is_empty() {
            self.settled.extend(commit);
            return;
        }
        let count = u32::try_from(planned.len()).unwrap_or(u32::MAX);
        if !locked(&self.metrics.cap).admit(self.slug, count, self.now) {
            // Not committed: a counter's next delta still holds what these items held.
            self.converted.capped += u64::from(count);
            return;
        }
        let made = items::items(source, send, trace_id(key, send), planned);
        self.converted.cut += made.cut;
        if let Some(commit) = &commit {
            self.pending.insert(key, commit.clone());
        }
        let point = self.converted.commits.len();
        self.converted.commits.push(commit);
        self.groups.push(ItemGroup {
            point,
            items: made.items,
        });
    }
}

/// What to send for `point` (its value a delta where the metric is cumulative), and where its
/// series moves once sent; `None` to send nothing.
fn change(
    series: &SeriesTable,
    pending: &HashMap<SeriesKey, Commit>,
    key: SeriesKey,
    metric: &Metric,
    point: &Point,
) -> (Option<Point>, Option<Commit>) {
    let cumulative = match metric.kind {
        Kind::Sum {
            monotonic: true,
            temporality,
        }
        | Kind::Histogram { temporality }
        | Kind::ExponentialHistogram { temporality } => temporality == Temporality::Cumulative,
        Kind::Summary => true,
        Kind::Gauge | Kind::Sum { .. } => false,
    };
    if !cumulative {
        // A gauge, or a delta: sent as it is, once.
        let commit = series.fresh(key, point);
        return (commit.is_some().then(|| point.clone()), commit);
    }
    let change = match pending.get(&key) {
        Some(earlier) => series.delta_after(earlier, point),
        None => series.delta(key, point),
    };
    match change {
        Change::Nothing(commit) => (None, commit),
        Change::Delta {
            value,
            start_unix_nano,
            commit,
        } => {
            let delta = Point {
                start_unix_nano,
                value,
                ..point.clone()
            };
            (Some(delta), Some(commit))
        }
    }
}

/// The trace id of a point no exemplar links to a trace (Sentry requires one): made from its
/// series and time, so that a resent point carries the same one.
fn trace_id(key: SeriesKey, point: &Point) -> [u8; 16] {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    point.time_unix_nano.hash(&mut hasher);
    let high = hasher.finish();
    high.hash(&mut hasher);
    let low = hasher.finish();
    let mut id = [0; 16];
    id[..8].copy_from_slice(&high.to_be_bytes());
    id[8..].copy_from_slice(&low.to_be_bytes());
    id
}

/// `groups` in envelopes of at most [`MAX_ITEMS_PER_ENVELOPE`] items (a point's items stay
/// together).
fn envelopes(groups: Vec<ItemGroup>) -> Vec<EnvelopePiece> {
    let mut pieces = Vec::new();
    let mut current: Vec<ItemGroup> = Vec::new();
    let mut items = 0;
    for group in groups {
        if items + group.items.len() > MAX_ITEMS_PER_ENVELOPE && !current.is_empty() {
            pieces.push(EnvelopePiece::TraceMetrics(std::mem::take(&mut current)));
            items = 0;
        }
        items += group.items.len();
        current.push(group);
    }
    if !current.is_empty() {
        pieces.push(EnvelopePiece::TraceMetrics(current));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::filter::NamePattern;
    use crate::testdata::{cumulative_counter, metrics_request};
    use sentry_types::protocol::v7::MetricType;

    const START: u64 = 2_000_000_000;

    fn metrics(max_items_per_minute: u32) -> Metrics {
        let config = MetricsConfig {
            names: NameFilter {
                include: Vec::new(),
                exclude: vec![NamePattern::new("debug.*")],
            },
            max_items_per_minute,
            max_series_bytes: 64 << 20,
        };
        Metrics::new(&config, START - 1)
    }

    fn shop() -> Slug {
        Slug::parse("shop").unwrap()
    }

    /// The (type, name, value) of every item, envelope by envelope.
    fn sent(converted: &Converted) -> Vec<Vec<(MetricType, String, f64)>> {
        let items = |piece: &EnvelopePiece| match piece {
            EnvelopePiece::TraceMetrics(groups) => groups
                .iter()
                .flat_map(|g| &g.items)
                .map(|m| (m.r#type, m.name.to_string(), m.value))
                .collect(),
            EnvelopePiece::Error(_) => Vec::new(),
        };
        converted.pieces.iter().map(items).collect()
    }

    fn convert(metrics: &Metrics, request: &[u8]) -> Converted {
        metrics.convert(&shop(), [request], Instant::now()).unwrap()
    }

    #[test]
    fn points_of_one_series_in_one_batch_count_from_each_other() {
        let metrics = metrics(0);
        let request = metrics_request(
            "shop",
            vec![
                cumulative_counter("orders", START, START + 1, 5.0),
                cumulative_counter("orders", START, START + 2, 12.0),
                cumulative_counter("debug.calls", START, START + 2, 3.0),
            ],
        );
        let converted = convert(&metrics, &request);
        let orders = |v| (MetricType::Counter, "orders".to_owned(), v);
        assert_eq!(sent(&converted), [vec![orders(5.0), orders(7.0)]]);
        assert_eq!((converted.points, converted.excluded), (3, 1));
    }

    #[test]
    fn only_what_sentry_accepted_moves_a_series_on() {
        let metrics = metrics(0);
        let batch = |time, value| {
            metrics_request(
                "shop",
                vec![cumulative_counter("orders", START, time, value)],
            )
        };
        let mut first = convert(&metrics, &batch(START + 1, 5.0));
        let piece = first.pieces[0].clone();
        metrics.commit(&mut first, &piece);
        // Not accepted: the same batch again makes the same delta.
        let second = convert(&metrics, &batch(START + 2, 12.0));
        assert_eq!(
            second.pieces,
            convert(&metrics, &batch(START + 2, 12.0)).pieces
        );
        assert_eq!(sent(&second)[0][0].2, 7.0);
        assert_eq!((metrics.series().held, metrics.series().evicted), (1, 0));
        assert!(metrics.series().bytes > 0);
    }

    #[test]
    fn the_cap_holds_back_items_whose_deltas_come_later() {
        let metrics = metrics(1);
        let two = metrics_request(
            "shop",
            vec![
                cumulative_counter("a", START, START + 1, 1.0),
                cumulative_counter("b", START, START + 1, 1.0),
            ],
        );
        let converted = convert(&metrics, &two);
        assert_eq!((sent(&converted)[0].len(), converted.capped), (1, 1));
    }

    #[test]
    fn envelopes_hold_whole_points_up_to_their_limit() {
        let group = |point, n| ItemGroup {
            point,
            items: vec![
                sentry_types::protocol::v7::Metric {
                    r#type: MetricType::Gauge,
                    name: "g".into(),
                    value: 1.0,
                    timestamp: std::time::SystemTime::UNIX_EPOCH,
                    trace_id: [1; 16].into(),
                    span_id: None,
                    unit: None,
                    attributes: Default::default(),
                };
                n
            ],
        };
        let sizes = |pieces: Vec<EnvelopePiece>| -> Vec<Vec<usize>> {
            pieces
                .iter()
                .map(|p| match p {
                    EnvelopePiece::TraceMetrics(groups) => {
                        groups.iter().map(|g| g.items.len()).collect()
                    }
                    EnvelopePiece::Error(_) => Vec::new(),
                })
                .collect()
        };
        let limit = MAX_ITEMS_PER_ENVELOPE;
        let groups = vec![
            group(0, limit - 1),
            group(1, 2),
            group(2, limit + 5),
            group(3, 1),
        ];
        assert_eq!(
            sizes(envelopes(groups)),
            [vec![limit - 1], vec![2], vec![limit + 5], vec![1]]
        );
        assert!(envelopes(Vec::new()).is_empty());
    }

    #[test]
    fn a_point_without_exemplar_keeps_its_trace_id_when_sent_again() {
        let key = series_key(&Vec::new(), None, "orders", &Vec::new());
        let point = Point {
            start_unix_nano: 1,
            time_unix_nano: 2,
            attributes: Vec::new(),
            exemplars: Vec::new(),
            value: model::Value::Number(1.0),
        };
        let later = Point {
            time_unix_nano: 3,
            ..point.clone()
        };
        assert_eq!(trace_id(key, &point), trace_id(key, &point));
        assert_ne!(trace_id(key, &point), trace_id(key, &later));
    }
}
