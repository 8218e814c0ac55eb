//! OpenTelemetry metrics as Sentry trace metrics. Sentry ingests no OTLP metrics, but takes
//! `trace_metric` items (counter, gauge, distribution) in envelopes: [`decode`] reads a
//! project's OTLP metrics into the [`model`], [`filter`] keeps the names asked for, [`series`]
//! turns cumulative points into deltas, and [`items`] makes the Sentry items: a histogram's
//! from [`buckets`] by [`histogram`]'s rule, attributes by [`attributes`], units by
//! [`units`], within Relay's limits ([`size`]). The items are written as they are made
//! ([`json`]), into envelopes ([`pack`]); what a resource's points share is made once
//! ([`resource`]).
//!
//! What is sent, what is lost and what is never counted twice is specified in
//! `docs/design.md` ("Trace metrics and the collector's retries"); in short: a series' state
//! moves on only through points whose envelopes Sentry settled (accepted, or refused for good)
//! in the batch's order ([`MetricState::settle`]), the envelopes of a batch are sent in order and
//! none after one that must be retried, and one project's metrics are exported one batch at a
//! time ([`MetricState::serialize`]). A retried batch's settled points are then stale and make
//! nothing; the others make the same deltas again.

pub mod attributes;
pub mod buckets;
pub mod decode;
pub mod envelope;
pub mod filter;
pub mod histogram;
pub mod items;
mod json;
pub mod model;
mod pack;
mod resource;
mod send;
pub mod series;
pub mod settle;
pub mod size;
#[cfg(test)]
mod table;
pub mod units;

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cap::Cap;
use crate::clock::Instant;

use crate::slug::Slug;
use crate::sync::locked;
use crate::telemetry::SeriesUse;
use crate::wire::WireError;
use attributes::PointAttributes;
use envelope::MetricsEnvelope;
use filter::NameFilter;
use model::{Kind, Metric, Point, Temporality};
use pack::Packer;
use resource::{Resources, Shared};
use series::{Change, Commit, SeriesKey, SeriesMap, SeriesTable};

pub use send::TraceMetrics;

/// Trace metrics from OpenTelemetry metrics (`metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// The metrics sent, by name.
    pub names: NameFilter,
    /// Trace metric items per project and minute at most; 0: no cap.
    pub max_items_per_minute: u32,
    /// Bytes the series' state (last cumulative values, for deltas) may take.
    pub max_series_bytes: usize,
}

/// Items per envelope at most (one `trace_metric` container each): Sentry's SDKs flush
/// their metric buffers at this size. An envelope also holds no more bytes than Relay takes
/// in one container ([`size::MAX_CONTAINER_BYTES`]).
pub const MAX_ITEMS_PER_ENVELOPE: usize = 1000;
/// Project locks kept before the unused ones are forgotten.
const PRUNE_LOCKS_ABOVE: usize = 4096;

/// One project's metrics of a batch, converted.
#[derive(Debug, Default)]
pub struct Converted {
    /// The envelopes to send, in order.
    pub pieces: Vec<MetricsEnvelope>,
    /// By [`envelope::PointItems::point`]: what settling the point's envelope does.
    groups: Vec<Settles>,
    /// Data points read.
    pub points: u64,
    /// Data points of metrics `metrics.include` / `exclude` leave out.
    pub excluded: u64,
    /// Metrics and points that could not be read (see [`decode`]), or make no sense (a
    /// monotonic sum's negative increment).
    pub unreadable: u64,
    /// Items over the project's cap.
    pub capped: u64,
    /// Items of points whose series found no room (one for a point that would set a
    /// baseline).
    pub series_limit: u64,
    /// Items of points over Relay's limits ([`size`]): an item above 1 MiB by Relay's measure
    /// (Relay would drop it after accepting its envelope), or a point whose items are more
    /// than one envelope may hold (Relay would refuse it).
    pub too_large: u64,
}

/// What settling one group's envelope does.
#[derive(Debug, Default)]
struct Settles {
    /// Where its point's series moves, and the series of points that sent nothing after it.
    commits: Vec<Commit>,
}

/// What a project's metrics batch became, envelope by envelope (see [`MetricState::settle`]).
#[derive(Debug, Default)]
pub struct Settled {
    /// Items Sentry accepted.
    pub sent: u64,
}

/// What the trace metrics of one exporter keep: their filter, cap and series, and one lock
/// per project.
pub struct MetricState {
    names: NameFilter,
    cap: Mutex<Cap>,
    series: Mutex<SeriesTable>,
    projects: Mutex<HashMap<Slug, Arc<tokio::sync::Mutex<()>>>>,
}

impl MetricState {
    /// For an exporter started at `started_unix_nano` (series that began before count from
    /// their next point).
    pub fn new(config: &MetricsConfig, started_unix_nano: u64) -> MetricState {
        MetricState {
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
    /// baseline, an unchanged value) move their series on at once, or, after a point of
    /// their series that sends, with that point.
    pub fn convert<'a>(
        &self,
        slug: &Slug,
        blocks: impl IntoIterator<Item = &'a [u8]>,
        now: Instant,
    ) -> Result<Converted, WireError> {
        let room = locked(&self.cap).room(slug, now);
        let mut batch = Batch {
            metrics: self,
            now,
            room,
            series: locked(&self.series),
            pending: SeriesMap::default(),
            reserved: 0,
            packer: Packer::default(),
            attributes: PointAttributes::default(),
            settled: Vec::new(),
            converted: Converted::default(),
        };
        let mut resources = Resources::default();
        for block in blocks {
            let decoded = decode::resources(block)?;
            batch.converted.unreadable += decoded.unreadable_metrics + decoded.unreadable_points;
            for resource in &decoded.resources {
                let shared = resources.of(resource.resource)?;
                for scope in &resource.scopes {
                    for metric in &scope.metrics {
                        batch.metric(shared, scope.name.as_deref(), metric);
                    }
                }
            }
        }
        let Batch {
            series,
            packer,
            settled,
            mut converted,
            ..
        } = batch;
        drop(series);
        self.commit_all(settled, now);
        converted.pieces = packer.envelopes();
        Ok(converted)
    }

    /// What Sentry did with `converted`'s envelopes, at `now`: `accepted` and `retried` hold
    /// the envelopes it took and those to send again (the others were refused for good). The
    /// points of every envelope but those to retry move their series on; the accepted items
    /// count against the project's cap. With `known` false (the export panicked: what Sentry
    /// took is not known), no series moves.
    pub fn settle<'p>(
        &self,
        slug: &Slug,
        converted: &mut Converted,
        accepted: impl IntoIterator<Item = &'p MetricsEnvelope>,
        retried: impl IntoIterator<Item = &'p MetricsEnvelope>,
        known: bool,
        now: Instant,
    ) -> Settled {
        let points = |piece: &'p MetricsEnvelope| piece.points();
        let mut settled = Settled::default();
        for point in accepted.into_iter().flat_map(points) {
            settled.sent += point.items as u64;
        }
        let count = u32::try_from(settled.sent).unwrap_or(u32::MAX);
        locked(&self.cap).record(slug, count, now);
        if !known {
            return settled;
        }
        let retried: HashSet<usize> = retried
            .into_iter()
            .flat_map(points)
            .map(|g| g.point)
            .collect();
        let commits = (converted.groups.iter_mut().enumerate())
            .filter(|(point, _)| !retried.contains(point))
            .flat_map(|(_, group)| std::mem::take(&mut group.commits));
        self.commit_all(commits, now);
        settled
    }

    fn commit_all(&self, commits: impl IntoIterator<Item = Commit>, now: Instant) {
        let mut series = locked(&self.series);
        for commit in commits {
            series.commit(commit, now);
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

/// One conversion under way.
struct Batch<'m> {
    metrics: &'m MetricState,
    now: Instant,
    /// What is left of the project's cap for this minute.
    room: u32,
    series: MutexGuard<'m, SeriesTable>,
    /// The latest point of each series in this batch, so that a later point of the same
    /// series counts from it.
    pending: SeriesMap<Pending>,
    /// The bytes of the series this batch adds to the table.
    reserved: usize,
    /// The envelopes, each point's items written into them as they are made.
    packer: Packer,
    /// Where each point's attributes are written, for its items to copy.
    attributes: PointAttributes,
    /// Commits applied at once: points that send nothing, their series sending nothing before.
    settled: Vec<Commit>,
    converted: Converted,
}

/// A series' latest point in the batch.
struct Pending {
    commit: Commit,
    /// Whether a point of the series sends in this batch: a later point that sends nothing
    /// then moves the series on only with it.
    sends: bool,
}

impl Batch<'_> {
    fn metric(&mut self, resource: &Shared, scope: Option<&str>, metric: &Metric) {
        let points = metric.points.len() as u64;
        self.converted.points += points;
        if !self.metrics.names.allows(&metric.name) {
            self.converted.excluded += points;
            return;
        }
        let source = items::Source {
            resource: &resource.attributes,
            metric,
            unit: units::sentry_unit(&metric.unit),
        };
        let series = resource.key.metric(scope, &metric.name);
        for point in &metric.points {
            let key = series.series(&point.attributes);
            let pending = self.pending.get(&key).map(|p| &p.commit);
            let (send, commit) = change(&self.series, pending, key, metric, point);
            let commit = match commit {
                Some(commit) if !self.admitted(&commit) => {
                    if !is_gauge(metric) {
                        // Sent without state, a retry or its next point could count it twice.
                        // A baseline would have made nothing; it counts as one item.
                        let made = send
                            .as_ref()
                            .map_or(0, |send| items::plan(metric, send).len());
                        self.converted.series_limit += made.max(1) as u64;
                        continue;
                    }
                    // A gauge needs no state: sent as it is (a retry may repeat a value).
                    None
                }
                commit => commit,
            };
            match send {
                Some(send) if is_negative_increment(metric, &send) => {
                    self.converted.unreadable += 1;
                }
                Some(send) => self.point(&source, key, &send, commit),
                None => self.nothing(commit),
            }
        }
    }

    /// Whether the table takes `commit`'s series (counting the other series this batch adds).
    fn admitted(&mut self, commit: &Commit) -> bool {
        if self.pending.contains_key(&commit.key()) {
            return true;
        }
        let admitted = self.series.admits(commit, self.reserved, self.now);
        if admitted {
            self.reserved += commit.bytes();
        }
        admitted
    }

    /// A point that sends nothing moves its series on: at once, or with the series' point
    /// sending before it in this batch (its group is this one or an earlier one).
    fn nothing(&mut self, commit: Option<Commit>) {
        let Some(commit) = commit else { return };
        let sends = self.pending.get(&commit.key()).is_some_and(|p| p.sends);
        let with_last_group = self.converted.groups.last_mut().filter(|_| sends);
        match with_last_group {
            Some(group) => group.commits.push(commit.clone()),
            None => self.settled.push(commit.clone()),
        }
        self.pending.insert(commit.key(), Pending { commit, sends });
    }

    /// The items of one point to send, unless they are none, over the cap or over Relay's
    /// limits.
    fn point(
        &mut self,
        source: &items::Source<'_>,
        key: SeriesKey,
        send: &Point,
        commit: Option<Commit>,
    ) {
        let planned = items::plan(source.metric, send);
        if planned.is_empty() {
            self.nothing(commit);
            return;
        }
        let count = u32::try_from(planned.len()).unwrap_or(u32::MAX);
        if count > self.room {
            // Not committed: a counter's next delta still holds what these items held.
            self.converted.capped += u64::from(count);
            return;
        }
        let point = self.converted.groups.len();
        let attributes = &mut self.attributes;
        let written = self.packer.point(point, |out| {
            items::write(source, send, trace_id(key, send), planned, attributes, out)
        });
        if written.is_err() {
            // Not committed either: the series' next point carries the increase.
            self.converted.too_large += u64::from(count);
            return;
        }
        self.room -= count;
        if let Some(commit) = &commit {
            let pending = Pending {
                commit: commit.clone(),
                sends: true,
            };
            self.pending.insert(key, pending);
        }
        self.converted.groups.push(Settles {
            commits: commit.into_iter().collect(),
        });
    }
}

/// A gauge, or a non-monotonic sum (sent as a gauge): no increment to count twice.
fn is_gauge(metric: &Metric) -> bool {
    matches!(
        metric.kind,
        Kind::Gauge
            | Kind::Sum {
                monotonic: false,
                ..
            }
    )
}

/// A monotonic sum can only grow: a negative increment (after a reset to a negative total, or
/// sent as a delta) is not one Sentry should add up.
fn is_negative_increment(metric: &Metric, send: &Point) -> bool {
    let monotonic = matches!(
        metric.kind,
        Kind::Sum {
            monotonic: true,
            ..
        }
    );
    monotonic && matches!(send.value, model::Value::Number(n) if n < 0.0)
}

/// What to send for `point` (its value a delta where the metric is cumulative), and where its
/// series moves once sent; `None` to send nothing.
fn change(
    series: &SeriesTable,
    pending: Option<&Commit>,
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
        let commit = match pending {
            Some(earlier) if earlier.time_unix_nano() >= point.time_unix_nano => None,
            _ => series.fresh(key, point),
        };
        return (commit.is_some().then(|| point.clone()), commit);
    }
    let change = match pending {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{cumulative_counter, metrics_request};
    use crate::trace_metrics::filter::NamePattern;
    use sentry_types::protocol::v7::MetricType;

    const START: u64 = 2_000_000_000;

    fn metrics(max_items_per_minute: u32) -> MetricState {
        let config = MetricsConfig {
            names: NameFilter {
                include: Vec::new(),
                exclude: vec![NamePattern::new("debug.*")],
            },
            max_items_per_minute,
            max_series_bytes: 64 << 20,
        };
        MetricState::new(&config, START - 1)
    }

    fn shop() -> Slug {
        Slug::parse("shop").unwrap()
    }

    /// The (type, name, value) of every item, envelope by envelope.
    fn sent(converted: &Converted) -> Vec<Vec<(MetricType, String, f64)>> {
        let items = |piece: &MetricsEnvelope| {
            (piece.metrics().into_iter())
                .map(|m| (m.r#type, m.name.to_string(), m.value))
                .collect()
        };
        converted.pieces.iter().map(items).collect()
    }

    fn convert(metrics: &MetricState, request: &[u8]) -> Converted {
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

    /// Settles `converted` as Sentry would have: the envelopes at `accepted` taken, the rest
    /// to retry.
    fn settle(metrics: &MetricState, converted: &mut Converted, accepted: &[usize]) -> Settled {
        let pieces = std::mem::take(&mut converted.pieces);
        let (taken, retried): (Vec<_>, Vec<_>) =
            (pieces.iter().enumerate()).partition(|(i, _)| accepted.contains(i));
        let (taken, retried) = (
            taken.into_iter().map(|(_, p)| p),
            retried.into_iter().map(|(_, p)| p),
        );
        metrics.settle(&shop(), converted, taken, retried, true, Instant::now())
    }

    fn batch(points: &[(u64, f64)]) -> Vec<u8> {
        let counter =
            |(time, value): &(u64, f64)| cumulative_counter("orders", START - 10, *time, *value);
        metrics_request("shop", points.iter().map(counter).collect())
    }

    fn counted(converted: &Converted) -> Vec<f64> {
        sent(converted)
            .concat()
            .into_iter()
            .map(|(_, _, v)| v)
            .collect()
    }

    #[test]
    fn only_what_sentry_accepted_moves_a_series_on() {
        let metrics = metrics(0);
        let mut first = convert(&metrics, &batch(&[(START + 1, 5.0)]));
        assert_eq!(counted(&first), Vec::<f64>::new(), "a baseline");
        settle(&metrics, &mut first, &[]);
        let mut second = convert(&metrics, &batch(&[(START + 2, 12.0)]));
        assert_eq!(counted(&second), [7.0]);
        settle(&metrics, &mut second, &[]);
        // Not accepted: the same batch again makes the same delta.
        let mut again = convert(&metrics, &batch(&[(START + 2, 12.0)]));
        assert_eq!(counted(&again), [7.0]);
        assert_eq!(settle(&metrics, &mut again, &[0]).sent, 1);
        assert_eq!(
            counted(&convert(&metrics, &batch(&[(START + 2, 12.0)]))),
            Vec::<f64>::new()
        );
        assert_eq!((metrics.series().held, metrics.series().evicted), (1, 0));
        assert!(metrics.series().bytes > 0);
    }

    #[test]
    fn points_of_a_series_older_than_the_exporter_count_from_its_first_in_the_batch() {
        let metrics = metrics(0);
        let converted = convert(
            &metrics,
            &batch(&[(START + 1, 10.0), (START + 2, 20.0), (START + 3, 30.0)]),
        );
        assert_eq!(counted(&converted), [10.0, 10.0]);
        let metrics = self::metrics(0);
        let reset_nan_duplicate = batch(&[
            (START + 1, 10.0),
            (START + 2, f64::NAN),
            (START + 3, 20.0),
            (START + 3, 20.0),
            (START + 4, 4.0),
        ]);
        assert_eq!(
            counted(&convert(&metrics, &reset_nan_duplicate)),
            [10.0, 4.0]
        );
    }

    #[test]
    fn a_batch_split_into_envelopes_and_retried_counts_every_increase_once() {
        // 600 series of two points, new since the exporter started: 1,200 items, two
        // envelopes; the first holds the first points and 400 second points.
        let metrics = metrics(0);
        let mut points = Vec::new();
        for step in 1..=2u64 {
            for series in 0..600u64 {
                let value = (series + step) as f64;
                let name = format!("s{series}");
                points.push(cumulative_counter(
                    &name,
                    START + 1,
                    START + 1 + step,
                    value,
                ));
            }
        }
        let request = metrics_request("shop", points);
        let mut first = convert(&metrics, &request);
        let envelopes: Vec<f64> = sent(&first)
            .iter()
            .map(|e| e.iter().map(|i| i.2).sum())
            .collect();
        assert_eq!(envelopes.len(), 2);
        let increase: f64 = (0..600u64).map(|series| (series + 2) as f64).sum();
        assert_eq!(envelopes.iter().sum::<f64>(), increase);
        // The first accepted, the second to retry (never the other way: they go in order).
        settle(&metrics, &mut first, &[0]);
        let retried = convert(&metrics, &request);
        assert_eq!(
            counted(&retried),
            vec![1.0; 200],
            "the 200 second points the first left"
        );
        assert_eq!(envelopes[0] + 200.0, increase);
    }

    #[test]
    fn a_point_sending_nothing_after_one_that_sends_moves_its_series_on_with_it() {
        let metrics = metrics(0);
        let new_series = |points: &[(u64, f64)]| {
            let counter =
                |(time, value): &(u64, f64)| cumulative_counter("orders", START + 1, *time, *value);
            metrics_request("shop", points.iter().map(counter).collect())
        };
        let request = new_series(&[(START + 2, 5.0), (START + 3, 5.0)]);
        let mut first = convert(&metrics, &request);
        assert_eq!(counted(&first), [5.0]);
        settle(&metrics, &mut first, &[]);
        assert_eq!(
            counted(&convert(&metrics, &request)),
            [5.0],
            "the unchanged point did not move it on alone"
        );
    }

    #[test]
    fn the_cap_counts_what_sentry_accepted() {
        let metrics = metrics(10);
        let gauges = |n: u64| {
            let points =
                (0..n).map(|i| cumulative_counter(&format!("g{i}"), START + 1, START + 2, 1.0));
            metrics_request("shop", points.collect())
        };
        let mut refused = convert(&metrics, &gauges(9));
        assert_eq!((counted(&refused).len(), refused.capped), (9, 0));
        settle(&metrics, &mut refused, &[]);
        let mut retried = convert(&metrics, &gauges(9));
        assert_eq!(
            (counted(&retried).len(), retried.capped),
            (9, 0),
            "the failed attempt used none"
        );
        settle(&metrics, &mut retried, &[0]);
        let more = convert(
            &metrics,
            &metrics_request(
                "shop",
                vec![
                    cumulative_counter("h0", START + 1, START + 2, 1.0),
                    cumulative_counter("h1", START + 1, START + 2, 1.0),
                ],
            ),
        );
        assert_eq!((counted(&more).len(), more.capped), (1, 1));
    }

    #[test]
    fn a_monotonic_sum_never_sends_a_negative_increment() {
        let metrics = metrics(0);
        let request = metrics_request(
            "shop",
            vec![
                cumulative_counter("orders", START + 1, START + 2, 5.0),
                cumulative_counter("orders", START + 1, START + 3, -2.0),
            ],
        );
        let converted = convert(&metrics, &request);
        assert_eq!((counted(&converted), converted.unreadable), (vec![5.0], 1));
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
    fn a_point_without_exemplar_keeps_its_trace_id_when_sent_again() {
        let key = series::ResourceKey::new(&Vec::new()).metric(None, "orders");
        let key = key.series(&Vec::new());
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
