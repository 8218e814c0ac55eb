//! Per-series state that turns cumulative points into deltas, by the rules of the collector's
//! `cumulativetodelta` processor with `initial_value: auto`, and that moves on only for points
//! Sentry accepted.
//!
//! For each point, [`SeriesTable::delta`] (cumulative temporality: monotonic sums, histograms,
//! exponential histograms, summaries) or [`SeriesTable::fresh`] (delta temporality) says what
//! to send, with a [`Commit`]. Both only read the table. Once Sentry accepted a batch's items,
//! the caller applies all the batch's commits with [`SeriesTable::commit`]; a batch that sends
//! nothing may commit at once. A failed batch leaves the table as it was, so its retry yields
//! the same deltas; a batch retried after a later one was accepted is stale and yields nothing.
//!
//! Within one batch, a later point of a series takes [`SeriesTable::delta_after`] the commit of
//! the earlier one, else both would count from the same committed value. For the same reason,
//! two batches that hold the same series must not be in flight at once.
//!
//! The table is bounded in bytes. A series it does not hold is admitted while there is room,
//! or in place of the least recently committed series once that one has been idle for
//! [`IDLE_BEFORE_EVICTION`]; else [`SeriesTable::admits`] says no, and its points are dropped
//! (counted) rather than sent without the state that keeps them from counting twice. A series
//! evicted all the same (many series admitted at once by batches in flight) loses at most one
//! interval and never counts twice: a series without state counts whole only if it started
//! after every evicted series did ([`SeriesTable::first_point`]).

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::OnceLock;

use serde_json::Value as Json;

use super::model::{Attained, Buckets, ExponentialHistogram, Histogram, Point, Summary, Value};
use crate::clock::Instant;
use crate::otlp_messages::Attributes;

/// How long the least recently committed series must have been idle before a new series takes
/// its place: a series reported every few minutes is not pushed out by a burst of new ones.
pub const IDLE_BEFORE_EVICTION: std::time::Duration = std::time::Duration::from_secs(600);

/// What one series costs beyond its value's buckets: the map's entry and the recency records.
const SERIES_OVERHEAD: usize =
    std::mem::size_of::<(SeriesKey, Entry)>() * 2 + std::mem::size_of::<(u64, SeriesKey)>() * 2;

/// Records of superseded generations tolerated in the recency queue beyond twice the live
/// series, so that a small table does not compact on every commit.
const RECENCY_SLACK: usize = 64;

/// A series: resource attributes, scope name, metric name and point attributes, hashed to 128
/// bits (two SipHash-1-3 with process-wide random keys, see [`ResourceKey`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey(u128);

/// A map by series: a [`SeriesKey`] is a keyed hash already, hashing it again buys nothing.
pub type SeriesMap<V> = HashMap<SeriesKey, V, BuildHasherDefault<KeyHasher>>;

/// Hashes a [`SeriesKey`] to its low 64 bits.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is called for a series key; any other bytes are folded in all the
        // same.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What to send for a point.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Nothing to send. `Some`: the point still moves its series on (a first point's
    /// baseline, or a value that did not change): commit it with the batch. `None`: a stale
    /// or unusable point, nothing to commit.
    Nothing(Option<Commit>),
    /// Send `value`: what happened between `start_unix_nano` and the point's time.
    Delta {
        value: Value,
        start_unix_nano: u64,
        commit: Commit,
    },
}

/// The state a series moves to once Sentry accepted what was made of a point.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    key: SeriesKey,
    mark: Mark,
}

impl Commit {
    pub fn key(&self) -> SeriesKey {
        self.key
    }

    /// The time of the point that made it.
    pub fn time_unix_nano(&self) -> u64 {
        self.mark.time_unix_nano
    }

    /// What its series holds of the table's bound.
    pub fn bytes(&self) -> usize {
        self.mark.bytes()
    }
}

/// What is known of a series after one of its points.
#[derive(Debug, Clone, PartialEq)]
struct Mark {
    time_unix_nano: u64,
    baseline: Baseline,
}

#[derive(Debug, Clone, PartialEq)]
enum Baseline {
    /// A delta-temporality series: only its time matters, to tell resent points.
    Delta,
    /// A cumulative series: its start and its cumulative value at the mark's time.
    Cumulative { start_unix_nano: u64, value: Value },
}

/// The committed state of the series, bounded, least recently committed evicted first.
///
/// Recency is a queue of (generation, key) records with lazy deletion: a commit pushes a
/// record with a new generation and leaves the series' older record in place; eviction pops
/// records and skips those whose generation is no longer their series'. O(1) amortised per
/// commit (a `BTreeMap` by generation would be O(log n) with a removal each time); the queue
/// is compacted once superseded records outnumber the live ones.
#[derive(Debug)]
pub struct SeriesTable {
    /// Series that start after this began after the exporter did: none of them was sent.
    started_unix_nano: u64,
    /// The latest start of an evicted cumulative series: a series without state that started
    /// no later may have been evicted, and its point only sets a baseline.
    evicted_start_unix_nano: u64,
    /// The bytes the entries may take ([`Mark::bytes`]); a cumulative histogram keeps its
    /// buckets, so the count alone bounds nothing.
    max_bytes: usize,
    bytes: usize,
    entries: SeriesMap<Entry>,
    /// Oldest first; exactly one record per entry carries that entry's generation.
    recency: VecDeque<(u64, SeriesKey)>,
    generation: u64,
    evictions: u64,
}

#[derive(Debug)]
struct Entry {
    mark: Mark,
    generation: u64,
    /// When it was last committed.
    touched: Instant,
}

impl Mark {
    /// What a series with this mark holds of the table's bound in bytes.
    fn bytes(&self) -> usize {
        let value = match &self.baseline {
            Baseline::Delta => return SERIES_OVERHEAD,
            Baseline::Cumulative { value, .. } => value,
        };
        let words = match value {
            Value::Number(_) => 0,
            Value::Histogram(h) => h.bounds.len() + h.counts.len(),
            Value::Exponential(e) => e.positive.counts.len() + e.negative.counts.len(),
            Value::Summary(s) => 2 * s.quantiles.len(),
        };
        SERIES_OVERHEAD + 8 * words
    }
}

/// How a cumulative value compares with the committed one of its series.
enum Difference {
    Delta(Value),
    /// The value fell or its buckets changed: the series restarted.
    Reset,
    /// Not the same kind of value: another series under the same name.
    OtherKind,
}

impl SeriesTable {
    /// A table for an exporter started at `started_unix_nano`, of `max_bytes` at most.
    pub fn new(started_unix_nano: u64, max_bytes: usize) -> SeriesTable {
        SeriesTable {
            started_unix_nano,
            evicted_start_unix_nano: 0,
            max_bytes,
            bytes: 0,
            entries: SeriesMap::default(),
            recency: VecDeque::new(),
            generation: 0,
            evictions: 0,
        }
    }

    /// The series held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The series evicted to keep within the bounds, since the table was made.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// What the series hold of the bound in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What to send for a cumulative point, against the committed state of its series.
    pub fn delta(&self, key: SeriesKey, point: &Point) -> Change {
        self.delta_from(key, self.committed(key), point)
    }

    /// What to send for a cumulative point that follows, in the same batch, the point of the
    /// same series that made `pending` (not committed yet): against the newer of the two.
    pub fn delta_after(&self, pending: &Commit, point: &Point) -> Change {
        let baseline = match self.committed(pending.key) {
            Some(committed) if committed.time_unix_nano >= pending.mark.time_unix_nano => committed,
            _ => &pending.mark,
        };
        self.delta_from(pending.key, Some(baseline), point)
    }

    /// A delta-temporality point passes as it is, unless its series already committed a
    /// point as late or later (a resent batch): then `None`, it must not count twice.
    pub fn fresh(&self, key: SeriesKey, point: &Point) -> Option<Commit> {
        if self.is_stale(key, point.time_unix_nano) {
            return None;
        }
        let mark = Mark {
            time_unix_nano: point.time_unix_nano,
            baseline: Baseline::Delta,
        };
        Some(Commit { key, mark })
    }

    /// Whether the table takes `commit`'s series at `now`, beside `reserved` bytes of other
    /// new series of the same batch: it holds it, or there is room, or the least recently
    /// committed series has been idle long enough to give its place.
    pub fn admits(&mut self, commit: &Commit, reserved: usize, now: Instant) -> bool {
        if self.entries.contains_key(&commit.key) {
            return true;
        }
        if self.bytes + reserved + commit.bytes() <= self.max_bytes {
            return true;
        }
        self.drop_superseded_front();
        self.recency.front().is_some_and(|(_, key)| {
            self.entries.get(key).is_some_and(|entry| {
                now.saturating_duration_since(entry.touched) >= IDLE_BEFORE_EVICTION
            })
        })
    }

    /// Applies a commit whose items Sentry accepted (or whose point sent nothing), at `now`,
    /// unless its series already committed a later point (commits may arrive out of order).
    /// Evicts the least recently committed series while the table is over its bound.
    pub fn commit(&mut self, commit: Commit, now: Instant) {
        let Commit { key, mark } = commit;
        if self.is_stale(key, mark.time_unix_nano) {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        self.bytes += mark.bytes();
        let entry = Entry {
            mark,
            generation,
            touched: now,
        };
        if let Some(old) = self.entries.insert(key, entry) {
            self.bytes -= old.mark.bytes();
        }
        self.recency.push_back((generation, key));
        self.evict_over_bounds();
        self.compact_recency();
    }

    fn committed(&self, key: SeriesKey) -> Option<&Mark> {
        self.entries.get(&key).map(|entry| &entry.mark)
    }

    /// Whether the series committed a point at `time_unix_nano` or later.
    fn is_stale(&self, key: SeriesKey, time_unix_nano: u64) -> bool {
        self.committed(key)
            .is_some_and(|committed| time_unix_nano <= committed.time_unix_nano)
    }

    fn delta_from(&self, key: SeriesKey, committed: Option<&Mark>, point: &Point) -> Change {
        // A NaN or infinite total has no difference to count; the series keeps its baseline.
        if matches!(point.value, Value::Number(number) if !number.is_finite()) {
            return Change::Nothing(None);
        }
        if committed.is_some_and(|committed| point.time_unix_nano <= committed.time_unix_nano) {
            return Change::Nothing(None);
        }
        let commit = Commit {
            key,
            mark: Mark {
                time_unix_nano: point.time_unix_nano,
                baseline: Baseline::Cumulative {
                    start_unix_nano: point.start_unix_nano,
                    value: point.value.clone(),
                },
            },
        };
        let Some(Mark {
            time_unix_nano: last_time_unix_nano,
            baseline:
                Baseline::Cumulative {
                    start_unix_nano: last_start_unix_nano,
                    value: last_value,
                },
        }) = committed
        else {
            // No state, or that of a delta-temporality series: this one is new.
            return self.first_point(point, commit);
        };
        match difference(last_value, &point.value) {
            Difference::OtherKind => self.first_point(point, commit),
            // A new start time: the sender restarted and counts from its new start.
            _ if *last_start_unix_nano != point.start_unix_nano => {
                changed(point.value.clone(), point.start_unix_nano, commit)
            }
            Difference::Delta(delta) => changed(delta, *last_time_unix_nano, commit),
            Difference::Reset => changed(point.value.clone(), point.start_unix_nano, commit),
        }
    }

    /// A series without state counts whole only if it started after the exporter and after
    /// every evicted series: else part of it may have been sent before (by this exporter
    /// before a collector restart, or before it was evicted), and the point only sets the
    /// baseline.
    fn first_point(&self, point: &Point, commit: Commit) -> Change {
        let known_new = self.started_unix_nano.max(self.evicted_start_unix_nano);
        if point.start_unix_nano > known_new {
            changed(point.value.clone(), point.start_unix_nano, commit)
        } else {
            Change::Nothing(Some(commit))
        }
    }

    /// Evicts least recently committed series until the table is within its bound (the
    /// series just committed too, if it alone is over it).
    fn evict_over_bounds(&mut self) {
        while self.bytes > self.max_bytes {
            self.drop_superseded_front();
            let Some((_, key)) = self.recency.pop_front() else {
                return;
            };
            if let Some(evicted) = self.entries.remove(&key) {
                self.bytes -= evicted.mark.bytes();
                if let Baseline::Cumulative {
                    start_unix_nano, ..
                } = evicted.mark.baseline
                {
                    self.evicted_start_unix_nano =
                        self.evicted_start_unix_nano.max(start_unix_nano);
                }
            }
            self.evictions += 1;
        }
    }

    /// Pops the recency records at the front whose series was committed again since.
    fn drop_superseded_front(&mut self) {
        while let Some((generation, key)) = self.recency.front() {
            let live = self
                .entries
                .get(key)
                .is_some_and(|entry| entry.generation == *generation);
            if live {
                return;
            }
            self.recency.pop_front();
        }
    }

    /// Drops superseded records once they outnumber the live ones: O(n) after at least n
    /// commits, so O(1) amortised, and the queue stays within twice the table.
    fn compact_recency(&mut self) {
        if self.recency.len() <= 2 * self.entries.len() + RECENCY_SLACK {
            return;
        }
        let entries = &self.entries;
        self.recency.retain(|(generation, key)| {
            entries
                .get(key)
                .is_some_and(|entry| entry.generation == *generation)
        });
    }
}

/// A delta to send, or nothing when nothing happened (the commit still moves the time on).
fn changed(value: Value, start_unix_nano: u64, commit: Commit) -> Change {
    if nothing_happened(&value) {
        Change::Nothing(Some(commit))
    } else {
        Change::Delta {
            value,
            start_unix_nano,
            commit,
        }
    }
}

fn nothing_happened(value: &Value) -> bool {
    let all_zero = |counts: &[u64]| counts.iter().all(|&count| count == 0);
    let no_sum = |sum: Option<f64>| sum.is_none_or(|sum| sum == 0.0);
    match value {
        Value::Number(number) => *number == 0.0,
        Value::Histogram(histogram) => {
            histogram.count == 0 && all_zero(&histogram.counts) && no_sum(histogram.sum)
        }
        Value::Exponential(exponential) => {
            exponential.count == 0
                && exponential.zero_count == 0
                && all_zero(&exponential.positive.counts)
                && all_zero(&exponential.negative.counts)
                && no_sum(exponential.sum)
        }
        Value::Summary(summary) => summary.count == 0 && summary.sum == 0.0,
    }
}

fn difference(last: &Value, now: &Value) -> Difference {
    let delta = match (last, now) {
        (Value::Number(last), Value::Number(now)) => {
            (now >= last).then_some(Value::Number(now - last))
        }
        (Value::Histogram(last), Value::Histogram(now)) => {
            histogram_delta(last, now).map(Value::Histogram)
        }
        (Value::Exponential(last), Value::Exponential(now)) => {
            exponential_delta(last, now).map(Value::Exponential)
        }
        (Value::Summary(last), Value::Summary(now)) => summary_delta(last, now).map(Value::Summary),
        _ => return Difference::OtherKind,
    };
    delta.map_or(Difference::Reset, Difference::Delta)
}

/// `None` (a reset) when the bounds changed or a count fell. Min and max stay as received
/// (those of the series' whole life, they bound the delta's values), attained as
/// [`attained_in_delta`] says.
fn histogram_delta(last: &Histogram, now: &Histogram) -> Option<Histogram> {
    if !same_floats(&last.bounds, &now.bounds) || last.counts.len() != now.counts.len() {
        return None;
    }
    let counts = last
        .counts
        .iter()
        .zip(&now.counts)
        .map(|(last, now)| now.checked_sub(*last))
        .collect::<Option<Vec<u64>>>()?;
    Some(Histogram {
        count: now.count.checked_sub(last.count)?,
        sum: sum_delta(last.sum, now.sum),
        min: now.min,
        max: now.max,
        attained: attained_in_delta(last.count, (last.min, last.max), (now.min, now.max)),
        bounds: now.bounds.clone(),
        counts,
    })
}

/// Whether the min and max of cumulative point `now` are values of its delta over `last`
/// (`(min, max)` each, `last` holding `last_count` values). Both are over the series' whole
/// life, so the delta's own extremes are known only where `now`'s moved: a min below the last
/// one was recorded in the delta and is its min; an unchanged one may be an older value's, and
/// then only bounds the delta. Over a last point of no values, the delta is all of `now`.
fn attained_in_delta(
    last_count: u64,
    (last_min, last_max): (Option<f64>, Option<f64>),
    (now_min, now_max): (Option<f64>, Option<f64>),
) -> Attained {
    // (None is none to doubt: as received.)
    let moved = |last: Option<f64>, now: Option<f64>, beyond: fn(f64, f64) -> bool| match now {
        None => true,
        Some(now) => last_count == 0 || last.is_some_and(|last| beyond(now, last)),
    };
    Attained {
        min: moved(last_min, now_min, |now, last| now < last),
        max: moved(last_max, now_max, |now, last| now > last),
    }
}

/// Bit for bit, so that NaN bounds compare equal to themselves.
fn same_floats(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
}

/// `None` (a reset) when the scale or zero threshold changed (buckets no longer the same) or
/// a count fell.
fn exponential_delta(
    last: &ExponentialHistogram,
    now: &ExponentialHistogram,
) -> Option<ExponentialHistogram> {
    if last.scale != now.scale || last.zero_threshold.to_bits() != now.zero_threshold.to_bits() {
        return None;
    }
    Some(ExponentialHistogram {
        count: now.count.checked_sub(last.count)?,
        sum: sum_delta(last.sum, now.sum),
        min: now.min,
        max: now.max,
        attained: attained_in_delta(last.count, (last.min, last.max), (now.min, now.max)),
        scale: now.scale,
        zero_count: now.zero_count.checked_sub(last.zero_count)?,
        zero_threshold: now.zero_threshold,
        positive: buckets_delta(&last.positive, &now.positive)?,
        negative: buckets_delta(&last.negative, &now.negative)?,
    })
}

/// The difference bucket by bucket over the new point's range (at the same scale, an index is
/// the same bucket in both, whatever the offsets). `None` when a bucket fell, counting an old
/// bucket outside the new range as fallen to zero.
fn buckets_delta(last: &Buckets, now: &Buckets) -> Option<Buckets> {
    let fell = (i64::from(last.offset)..)
        .zip(&last.counts)
        .any(|(index, &count)| count_at(now, index) < count);
    if fell {
        return None;
    }
    let counts = (i64::from(now.offset)..)
        .zip(&now.counts)
        // Never saturates: no bucket fell.
        .map(|(index, &count)| count.saturating_sub(count_at(last, index)))
        .collect();
    Some(Buckets {
        offset: now.offset,
        counts,
    })
}

/// The count of the bucket at `index`, 0 outside the stored range.
fn count_at(buckets: &Buckets, index: i64) -> u64 {
    usize::try_from(index - i64::from(buckets.offset))
        .ok()
        .and_then(|position| buckets.counts.get(position))
        .copied()
        .unwrap_or(0)
}

fn sum_delta(last: Option<f64>, now: Option<f64>) -> Option<f64> {
    last.zip(now).map(|(last, now)| now - last)
}

/// `None` (a reset) when the count fell. Quantiles stay as received.
fn summary_delta(last: &Summary, now: &Summary) -> Option<Summary> {
    Some(Summary {
        count: now.count.checked_sub(last.count)?,
        sum: now.sum - last.sum,
        quantiles: now.quantiles.clone(),
    })
}

/// A series is its resource's attributes, its scope's name, its metric's name and its point's
/// attributes, hashed in that order: what a resource's series share is hashed once per
/// resource, what a metric's share once per metric. Attribute order does not matter, at any
/// depth; where an attribute sits (resource or point) does.
pub struct ResourceKey(WideHasher);

/// The series of a metric, but for its points' attributes.
pub struct MetricKey(WideHasher);

impl ResourceKey {
    pub fn new(resource: &Attributes) -> ResourceKey {
        let mut hasher = WideHasher::new();
        attribute_hashes(resource).hash(&mut hasher);
        ResourceKey(hasher)
    }

    /// The part of the series of metric `metric` of scope `scope` of the resource.
    pub fn metric(&self, scope: Option<&str>, metric: &str) -> MetricKey {
        let mut hasher = self.0.clone();
        scope.hash(&mut hasher);
        metric.hash(&mut hasher);
        MetricKey(hasher)
    }
}

impl MetricKey {
    /// The series of the metric's point of `point` attributes.
    pub fn series(&self, point: &Attributes) -> SeriesKey {
        let mut hasher = self.0.clone();
        attribute_hashes(point).hash(&mut hasher);
        SeriesKey(hasher.finish_wide())
    }
}

/// Two SipHash-1-3 states fed the same bytes: 128 bits, so that two of 100,000 series
/// colliding (and sharing a baseline) is out of the question. Their keys are random, drawn
/// once per process: stable within it, and not something a sender can aim collisions at.
#[derive(Clone)]
struct WideHasher([DefaultHasher; 2]);

impl WideHasher {
    fn new() -> WideHasher {
        static KEYS: OnceLock<[RandomState; 2]> = OnceLock::new();
        // Two `RandomState`s made in a row have different keys.
        let keys = KEYS.get_or_init(|| [RandomState::new(), RandomState::new()]);
        WideHasher([keys[0].build_hasher(), keys[1].build_hasher()])
    }

    fn finish_wide(&self) -> u128 {
        (u128::from(self.0[0].finish()) << 64) | u128::from(self.0[1].finish())
    }
}

impl Hasher for WideHasher {
    fn write(&mut self, bytes: &[u8]) {
        for hasher in &mut self.0 {
            hasher.write(bytes);
        }
    }

    /// The high half of [`WideHasher::finish_wide`].
    fn finish(&self) -> u64 {
        self.0[0].finish()
    }
}

/// Attributes as a multiset: each hashed on its own, then the sorted hashes (hashed in turn).
/// Unlike sorting by key, this ignores the order of duplicate keys too.
fn attribute_hashes(attributes: &[(String, Json)]) -> Vec<u128> {
    let mut hashes: Vec<u128> = attributes
        .iter()
        .map(|(key, value)| {
            let mut hasher = WideHasher::new();
            key.hash(&mut hasher);
            hash_json(value, &mut hasher);
            hasher.finish_wide()
        })
        .collect();
    hashes.sort_unstable();
    hashes
}

/// A canonical form of a JSON value: tagged by type, lengths before contents (so that
/// concatenations cannot collide), object entries sorted by key (`kvlist` values in any order).
fn hash_json(value: &Json, into: &mut WideHasher) {
    match value {
        Json::Null => into.write_u8(0),
        Json::Bool(boolean) => {
            into.write_u8(1);
            boolean.hash(into);
        }
        Json::Number(number) => {
            into.write_u8(2);
            number.hash(into);
        }
        Json::String(string) => {
            into.write_u8(3);
            string.hash(into);
        }
        Json::Array(items) => {
            into.write_u8(4);
            into.write_usize(items.len());
            items.iter().for_each(|item| hash_json(item, into));
        }
        Json::Object(object) => {
            into.write_u8(5);
            into.write_usize(object.len());
            let mut entries: Vec<(&String, &Json)> = object.iter().collect();
            entries.sort_unstable_by_key(|(key, _)| *key);
            for (key, value) in entries {
                key.hash(into);
                hash_json(value, into);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// When the exporter started, and series starts before and after it.
    const STARTED: u64 = 1_000;
    const BEFORE: u64 = 500;
    const AFTER: u64 = 1_500;

    fn point(start_unix_nano: u64, time_unix_nano: u64, value: Value) -> Point {
        Point {
            start_unix_nano,
            time_unix_nano,
            attributes: Vec::new(),
            exemplars: Vec::new(),
            value,
        }
    }

    fn counter(start_unix_nano: u64, time_unix_nano: u64, total: f64) -> Point {
        point(start_unix_nano, time_unix_nano, Value::Number(total))
    }

    fn key(metric: &str) -> SeriesKey {
        ResourceKey::new(&Vec::new())
            .metric(None, metric)
            .series(&Vec::new())
    }

    /// The delta of a point, with its start, committing the change as if Sentry accepted it.
    fn send(table: &mut SeriesTable, key: SeriesKey, point: &Point) -> Option<(Value, u64)> {
        match table.delta(key, point) {
            Change::Nothing(commit) => {
                commit
                    .into_iter()
                    .for_each(|commit| table.commit(commit, Instant::now()));
                None
            }
            Change::Delta {
                value,
                start_unix_nano,
                commit,
            } => {
                table.commit(commit, Instant::now());
                Some((value, start_unix_nano))
            }
        }
    }

    fn number(sent: Option<(Value, u64)>) -> Option<(f64, u64)> {
        sent.map(|(value, start)| match value {
            Value::Number(number) => (number, start),
            other => panic!("not a number: {other:?}"),
        })
    }

    /// A name, the (start, time, total) of each point, and the (delta, start) each sends.
    type CounterCase = (
        &'static str,
        &'static [(u64, u64, f64)],
        &'static [Option<(f64, u64)>],
    );

    #[test]
    fn counters_follow_the_rules_of_cumulativetodelta() {
        #[rustfmt::skip]
        let cases: [CounterCase; 10] = [
            ("first point before the exporter started: a baseline",
             &[(BEFORE, 2000, 5.0), (BEFORE, 3000, 12.0)], &[None, Some((7.0, 2000))]),
            ("first point after the exporter started: counts whole",
             &[(AFTER, 2000, 5.0), (AFTER, 3000, 12.0)], &[Some((5.0, AFTER)), Some((7.0, 2000))]),
            ("a start at the exporter's is not after it",
             &[(STARTED, 2000, 5.0)], &[None]),
            ("increments",
             &[(BEFORE, 2000, 1.0), (BEFORE, 3000, 4.0), (BEFORE, 4000, 10.0)],
             &[None, Some((3.0, 2000)), Some((6.0, 3000))]),
            ("no change sends nothing but moves the time on",
             &[(AFTER, 2000, 5.0), (AFTER, 3000, 5.0), (AFTER, 4000, 8.0)],
             &[Some((5.0, AFTER)), None, Some((3.0, 3000))]),
            ("a fall is a reset",
             &[(BEFORE, 2000, 10.0), (BEFORE, 3000, 4.0)], &[None, Some((4.0, BEFORE))]),
            ("the sender restarted: counts from its new start",
             &[(BEFORE, 2000, 10.0), (2500, 3000, 3.0), (2500, 4000, 5.0)],
             &[None, Some((3.0, 2500)), Some((2.0, 3000))]),
            ("a new start is a reset even when the value rose",
             &[(BEFORE, 2000, 10.0), (2500, 3000, 20.0)], &[None, Some((20.0, 2500))]),
            ("stale points: as old or older than the committed one",
             &[(BEFORE, 2000, 5.0), (BEFORE, 3000, 8.0), (BEFORE, 2500, 7.0), (BEFORE, 3000, 9.0)],
             &[None, Some((3.0, 2000)), None, None]),
            ("a NaN total is skipped, the baseline kept",
             &[(BEFORE, 2000, 5.0), (BEFORE, 3000, f64::NAN), (BEFORE, 4000, 8.0)],
             &[None, None, Some((3.0, 2000))]),
        ];
        for (name, steps, expected) in cases {
            let mut table = SeriesTable::new(STARTED, usize::MAX);
            let sent: Vec<_> = steps
                .iter()
                .map(|&(start, time, total)| {
                    number(send(
                        &mut table,
                        key("requests"),
                        &counter(start, time, total),
                    ))
                })
                .collect();
            assert_eq!(sent, expected, "{name}");
        }
    }

    #[test]
    fn a_retried_batch_yields_the_same_delta_until_committed() {
        let mut table = SeriesTable::new(STARTED, usize::MAX);
        let requests = key("requests");
        send(&mut table, requests, &counter(BEFORE, 2000, 5.0));
        let retried = counter(BEFORE, 3000, 12.0);

        let first = table.delta(requests, &retried);
        let second = table.delta(requests, &retried);
        assert_eq!(first, second);
        let Change::Delta {
            value,
            start_unix_nano,
            commit,
        } = first
        else {
            panic!("no delta: {first:?}");
        };
        assert_eq!((value, start_unix_nano), (Value::Number(7.0), 2000));

        table.commit(commit, Instant::now());
        assert_eq!(table.delta(requests, &retried), Change::Nothing(None));
    }

    #[test]
    fn commits_arriving_out_of_order_keep_the_latest() {
        let mut table = SeriesTable::new(STARTED, usize::MAX);
        let requests = key("requests");
        send(&mut table, requests, &counter(BEFORE, 1500, 1.0));
        let commit_of = |change: Change| match change {
            Change::Delta { commit, .. } => commit,
            other => panic!("no delta: {other:?}"),
        };
        let earlier = commit_of(table.delta(requests, &counter(BEFORE, 2000, 5.0)));
        let later = commit_of(table.delta(requests, &counter(BEFORE, 3000, 12.0)));

        table.commit(later, Instant::now());
        table.commit(earlier, Instant::now());
        let next = send(&mut table, requests, &counter(BEFORE, 4000, 15.0));
        assert_eq!(number(next), Some((3.0, 3000)));
    }

    /// The case: a counter at 5 then 12; the first batch got a 503 and is retried,
    /// before or after the second batch was accepted. Sentry must count 12, exactly.
    #[test]
    fn a_batch_failed_with_503_and_retried_counts_once() {
        let first_batch = counter(AFTER, 2000, 5.0);
        let second_batch = counter(AFTER, 3000, 12.0);
        let orders = [
            (
                "retried before the second batch",
                [&first_batch, &second_batch],
            ),
            (
                "retried after the second batch",
                [&second_batch, &first_batch],
            ),
        ];
        for (name, accepted_order) in orders {
            let mut table = SeriesTable::new(STARTED, usize::MAX);
            let requests = key("requests");
            // The first attempt: computed, sent, failed, so not committed.
            assert!(matches!(
                table.delta(requests, &first_batch),
                Change::Delta { .. }
            ));
            let counted: f64 = accepted_order
                .into_iter()
                .filter_map(|batch| number(send(&mut table, requests, batch)))
                .map(|(delta, _)| delta)
                .sum();
            assert_eq!(counted, 12.0, "{name}");
        }
    }

    #[test]
    fn a_later_point_of_the_same_batch_counts_from_the_earlier() {
        let mut table = SeriesTable::new(STARTED, usize::MAX);
        let requests = key("requests");
        let batch = [counter(AFTER, 2000, 5.0), counter(AFTER, 3000, 12.0)];
        // Twice: the first attempt fails (nothing committed), the retry is accepted.
        for attempt in ["failed", "accepted"] {
            let first = table.delta(requests, &batch[0]);
            let Change::Delta { commit, .. } = &first else {
                panic!("no delta: {first:?}");
            };
            let second = table.delta_after(commit, &batch[1]);
            let Change::Delta {
                value,
                start_unix_nano,
                commit: second_commit,
            } = second
            else {
                panic!("no delta: {second:?}");
            };
            assert_eq!(
                (value, start_unix_nano),
                (Value::Number(7.0), 2000),
                "{attempt}"
            );
            if attempt == "accepted" {
                table.commit(commit.clone(), Instant::now());
                table.commit(second_commit, Instant::now());
            }
        }
        let next = send(&mut table, requests, &counter(AFTER, 4000, 20.0));
        assert_eq!(number(next), Some((8.0, 3000)));
    }

    #[test]
    fn a_point_of_another_kind_starts_the_series_anew() {
        let mut table = SeriesTable::new(STARTED, usize::MAX);
        let latency = key("latency");
        send(&mut table, latency, &counter(BEFORE, 2000, 5.0));
        let histogram = Value::Histogram(Histogram {
            count: 1,
            counts: vec![1],
            ..Histogram::default()
        });
        let sent = send(&mut table, latency, &point(BEFORE, 3000, histogram));
        assert_eq!(
            sent, None,
            "a baseline, as a first point before the exporter started"
        );
        let sent = send(&mut table, latency, &point(AFTER, 4000, Value::Number(3.0)));
        assert_eq!(number(sent), Some((3.0, AFTER)));
    }

    /// What the second of two points of a series sends, the first a baseline.
    fn second_delta(first: Value, second: Value) -> Option<(Value, u64)> {
        let mut table = SeriesTable::new(STARTED, usize::MAX);
        let series = key("series");
        assert_eq!(send(&mut table, series, &point(BEFORE, 2000, first)), None);
        send(&mut table, series, &point(BEFORE, 3000, second))
    }

    fn histogram(count: u64, sum: Option<f64>, bounds: &[f64], counts: &[u64]) -> Histogram {
        Histogram {
            count,
            sum,
            min: None,
            max: None,
            bounds: bounds.to_vec(),
            counts: counts.to_vec(),
            ..Histogram::default()
        }
    }

    #[test]
    fn histograms_send_bucket_deltas_and_reset_on_new_bounds_or_falls() {
        let bounds = [1.0, 5.0];
        let last = histogram(3, Some(6.0), &bounds, &[1, 2, 0]);
        let now = Histogram {
            min: Some(0.5),
            max: Some(9.0),
            ..histogram(7, Some(20.0), &bounds, &[2, 3, 2])
        };
        let difference = Histogram {
            min: Some(0.5),
            max: Some(9.0),
            attained: Attained {
                min: false,
                max: false,
            },
            ..histogram(4, Some(14.0), &bounds, &[1, 1, 2])
        };
        let new_bounds = histogram(7, Some(20.0), &[1.0, 10.0], &[2, 3, 2]);
        let bucket_fell = histogram(7, Some(20.0), &bounds, &[0, 5, 2]);
        let count_fell = histogram(2, Some(3.0), &bounds, &[1, 1, 0]);
        let no_sum = histogram(7, None, &bounds, &[2, 3, 2]);
        let unchanged = histogram(3, Some(6.0), &bounds, &[1, 2, 0]);
        let cases = [
            (
                "bucket deltas, min and max as received",
                now,
                Some((difference, 2000)),
            ),
            (
                "new bounds: a reset",
                new_bounds.clone(),
                Some((new_bounds, BEFORE)),
            ),
            (
                "a bucket fell: a reset",
                bucket_fell.clone(),
                Some((bucket_fell, BEFORE)),
            ),
            (
                "the count fell: a reset",
                count_fell.clone(),
                Some((count_fell, BEFORE)),
            ),
            (
                "a sum on one side only: none",
                no_sum,
                Some((histogram(4, None, &bounds, &[1, 1, 2]), 2000)),
            ),
            ("unchanged: nothing", unchanged, None),
        ];
        for (name, now, expected) in cases {
            let sent = second_delta(Value::Histogram(last.clone()), Value::Histogram(now));
            let expected = expected.map(|(delta, start)| (Value::Histogram(delta), start));
            assert_eq!(sent, expected, "{name}");
        }
    }

    #[test]
    fn a_deltas_min_and_max_are_its_own_only_where_they_moved() {
        // (case, last (count, min, max), now (min, max), attained (min, max))
        type Case = (
            &'static str,
            (u64, Option<f64>, Option<f64>),
            (f64, f64),
            (bool, bool),
        );
        let cases: &[Case] = &[
            (
                "both unchanged: bounds",
                (3, Some(1.0), Some(9.0)),
                (1.0, 9.0),
                (false, false),
            ),
            (
                "a new min",
                (3, Some(1.0), Some(9.0)),
                (0.5, 9.0),
                (true, false),
            ),
            (
                "a new max",
                (3, Some(1.0), Some(9.0)),
                (1.0, 12.0),
                (false, true),
            ),
            (
                "both new",
                (3, Some(1.0), Some(9.0)),
                (0.5, 12.0),
                (true, true),
            ),
            (
                "none before: bounds",
                (3, None, None),
                (1.0, 9.0),
                (false, false),
            ),
            (
                "no values before: all of it",
                (0, None, None),
                (1.0, 9.0),
                (true, true),
            ),
        ];
        let bounds = [5.0];
        for (name, (count, min, max), (now_min, now_max), (want_min, want_max)) in cases {
            let last = Histogram {
                min: *min,
                max: *max,
                ..histogram(*count, Some(0.0), &bounds, &[*count, 0])
            };
            let now = Histogram {
                min: Some(*now_min),
                max: Some(*now_max),
                ..histogram(count + 2, Some(10.0), &bounds, &[*count + 1, 1])
            };
            let Some(delta) = histogram_delta(&last, &now) else {
                panic!("{name}: a delta");
            };
            let want = Attained {
                min: *want_min,
                max: *want_max,
            };
            assert_eq!(delta.attained, want, "{name}");
            assert_eq!(
                (delta.min, delta.max),
                (now.min, now.max),
                "{name}: as bounds"
            );
            let Some(exponential) = exponential_delta(
                &ExponentialHistogram {
                    min: *min,
                    max: *max,
                    count: *count,
                    ..ExponentialHistogram::default()
                },
                &ExponentialHistogram {
                    min: now.min,
                    max: now.max,
                    count: count + 2,
                    ..ExponentialHistogram::default()
                },
            ) else {
                panic!("{name}: an exponential delta");
            };
            assert_eq!(exponential.attained, want, "{name}: exponential");
        }
        let whole = histogram(2, Some(3.0), &bounds, &[2, 0]);
        assert_eq!(whole.attained, Attained::default(), "a point as received");
    }

    fn exponential(
        scale: i32,
        zero_count: u64,
        positive: (i32, &[u64]),
        negative: (i32, &[u64]),
    ) -> ExponentialHistogram {
        let buckets = |(offset, counts): (i32, &[u64])| Buckets {
            offset,
            counts: counts.to_vec(),
        };
        ExponentialHistogram {
            count: zero_count + positive.1.iter().sum::<u64>() + negative.1.iter().sum::<u64>(),
            scale,
            zero_count,
            positive: buckets(positive),
            negative: buckets(negative),
            ..ExponentialHistogram::default()
        }
    }

    #[test]
    fn exponential_histograms_align_bucket_offsets() {
        /// The last point, the new one, and their difference (`None`: a reset).
        type Case = (
            &'static str,
            ExponentialHistogram,
            ExponentialHistogram,
            Option<ExponentialHistogram>,
        );
        #[rustfmt::skip]
        let cases: [Case; 6] = [
            ("same offsets, with the zero bucket",
             exponential(2, 1, (0, &[1, 2]), (0, &[])),
             exponential(2, 4, (0, &[2, 5]), (0, &[])),
             Some(exponential(2, 3, (0, &[1, 3]), (0, &[])))),
            ("the new buckets start lower",
             exponential(2, 0, (2, &[1, 1]), (-1, &[2])),
             exponential(2, 0, (0, &[3, 0, 2, 1]), (-3, &[1, 0, 2])),
             Some(exponential(2, 0, (0, &[3, 0, 1, 0]), (-3, &[1, 0, 0])))),
            ("the new buckets start higher, past empty old ones",
             exponential(2, 0, (0, &[0, 0, 4]), (0, &[])),
             exponential(2, 0, (2, &[6, 1]), (0, &[])),
             Some(exponential(2, 0, (2, &[2, 1]), (0, &[])))),
            ("the new buckets start higher, past a counted old one: a reset",
             exponential(2, 0, (0, &[1, 4]), (0, &[])),
             exponential(2, 0, (1, &[5]), (0, &[])),
             None),
            ("a new scale: a reset",
             exponential(2, 0, (0, &[1, 4]), (0, &[])),
             exponential(1, 0, (0, &[6]), (0, &[])),
             None),
            ("the zero count fell: a reset",
             exponential(2, 3, (0, &[1]), (0, &[])),
             exponential(2, 1, (0, &[4]), (0, &[])),
             None),
        ];
        for (name, last, now, difference) in cases {
            let expected = match difference {
                Some(difference) => (Value::Exponential(difference), 2000),
                None => (Value::Exponential(now.clone()), BEFORE),
            };
            let sent = second_delta(Value::Exponential(last), Value::Exponential(now));
            assert_eq!(sent, Some(expected), "{name}");
        }
    }

    #[test]
    fn summaries_send_count_and_sum_deltas_with_quantiles_as_received() {
        let summary = |count, sum, median| Summary {
            count,
            sum,
            quantiles: vec![(0.5, median)],
        };
        let cases = [
            (
                "increments",
                summary(15, 180.0, 12.0),
                Some((summary(5, 80.0, 12.0), 2000)),
            ),
            (
                "the count fell: a reset",
                summary(4, 30.0, 7.0),
                Some((summary(4, 30.0, 7.0), BEFORE)),
            ),
            ("unchanged: nothing", summary(10, 100.0, 8.0), None),
        ];
        for (name, now, expected) in cases {
            let sent = second_delta(Value::Summary(summary(10, 100.0, 9.0)), Value::Summary(now));
            let expected = expected.map(|(delta, start)| (Value::Summary(delta), start));
            assert_eq!(sent, expected, "{name}");
        }
    }

    #[test]
    fn delta_points_pass_unless_resent() {
        let mut table = SeriesTable::new(STARTED, usize::MAX);
        let requests = key("requests");
        let times = [2000, 3000, 3000, 2500, 4000];
        let fresh: Vec<bool> = times
            .into_iter()
            .map(
                |time| match table.fresh(requests, &counter(time - 1000, time, 1.0)) {
                    Some(commit) => {
                        table.commit(commit, Instant::now());
                        true
                    }
                    None => false,
                },
            )
            .collect();
        assert_eq!(fresh, [true, true, false, false, true]);

        let retried = counter(4000, 5000, 1.0);
        assert!(table.fresh(requests, &retried).is_some());
        assert!(
            table.fresh(requests, &retried).is_some(),
            "not committed: still fresh"
        );
    }

    /// The bytes of one counter series.
    const COUNTER: usize = SERIES_OVERHEAD;

    /// Commits a counter point of `series`, at `now`.
    fn commit_at(table: &mut SeriesTable, series: SeriesKey, point: &Point, now: Instant) {
        let commit = match table.delta(series, point) {
            Change::Nothing(Some(commit)) | Change::Delta { commit, .. } => commit,
            Change::Nothing(None) => panic!("stale: {point:?}"),
        };
        table.commit(commit, now);
    }

    #[test]
    fn the_least_recently_committed_series_is_evicted_first() {
        let mut table = SeriesTable::new(STARTED, 2 * COUNTER);
        let [a, b, c, d] = [key("a"), key("b"), key("c"), key("d")];
        let now = Instant::now();
        let mut commit =
            |series, time| commit_at(&mut table, series, &counter(BEFORE, time, 1.0), now);
        commit(a, 2000);
        commit(b, 2000);
        commit(a, 3000);
        commit(c, 2000);
        assert_eq!((table.len(), table.evictions()), (2, 1), "b went first");
        assert!(table.committed(b).is_none());

        commit_at(&mut table, d, &counter(BEFORE, 2000, 1.0), now);
        assert_eq!((table.len(), table.evictions()), (2, 2), "then a");
        assert!(table.committed(a).is_none());
        assert!(table.committed(c).is_some() && table.committed(d).is_some());
    }

    #[test]
    fn a_new_series_is_admitted_in_room_or_in_place_of_an_idle_one() {
        let mut table = SeriesTable::new(STARTED, 2 * COUNTER);
        let start = Instant::now();
        let [a, b, c] = [key("a"), key("b"), key("c")];
        let new_commit =
            |table: &SeriesTable, series| match table.delta(series, &counter(AFTER, 9000, 1.0)) {
                Change::Delta { commit, .. } | Change::Nothing(Some(commit)) => commit,
                other => panic!("{other:?}"),
            };
        assert!(table.admits(&new_commit(&table, a), 0, start));
        assert!(
            !table.admits(&new_commit(&table, a), 2 * COUNTER, start),
            "the batch's other new series are counted"
        );
        commit_at(&mut table, a, &counter(AFTER, 2000, 1.0), start);
        commit_at(
            &mut table,
            b,
            &counter(AFTER, 2000, 1.0),
            start + IDLE_BEFORE_EVICTION,
        );
        let later = start + IDLE_BEFORE_EVICTION;
        assert!(
            table.admits(&new_commit(&table, a), 0, later),
            "held already"
        );
        assert!(table.admits(&new_commit(&table, c), 0, later), "a is idle");
        commit_at(&mut table, a, &counter(AFTER, 3000, 2.0), later);
        assert!(
            !table.admits(&new_commit(&table, c), 0, later),
            "full of series committed within the idle time"
        );
        assert_eq!(table.evictions(), 0);
    }

    #[test]
    fn an_evicted_series_never_counts_twice_and_loses_one_interval() {
        let mut table = SeriesTable::new(STARTED, COUNTER);
        let [a, b] = [key("a"), key("b")];
        let sent = |table: &mut SeriesTable, series, start, time, total| {
            number(send(table, series, &counter(start, time, total)))
        };
        assert_eq!(sent(&mut table, a, AFTER, 2000, 5.0), Some((5.0, AFTER)));
        assert_eq!(
            sent(&mut table, b, AFTER + 1, 2000, 1.0),
            Some((1.0, AFTER + 1))
        );
        assert_eq!(table.evictions(), 1, "a gave its place to b");
        assert_eq!(
            sent(&mut table, a, AFTER, 3000, 9.0),
            None,
            "a's next point sets a baseline: 5 was sent already"
        );
        assert_eq!(
            sent(&mut table, b, AFTER + 1, 3000, 4.0),
            None,
            "b was evicted by a in turn"
        );
        assert_eq!(
            sent(&mut table, key("new"), AFTER + 2, 3000, 2.0),
            Some((2.0, AFTER + 2)),
            "a series that began after every evicted one counts whole"
        );
    }

    #[test]
    fn the_table_is_bounded_in_bytes_by_its_series_buckets() {
        let wide = |time| {
            let counts = vec![1; 999];
            let bounds: Vec<f64> = (0..998).map(f64::from).collect();
            let value = Value::Histogram(histogram(999, None, &bounds, &counts));
            point(BEFORE, time, value)
        };
        let one = SERIES_OVERHEAD + 8 * (998 + 999);
        let mut table = SeriesTable::new(STARTED, 2 * one + SERIES_OVERHEAD);
        let [a, b, c, n] = [key("a"), key("b"), key("c"), key("n")];
        send(&mut table, a, &wide(2000));
        send(&mut table, n, &counter(BEFORE, 2000, 1.0));
        send(&mut table, b, &wide(2000));
        assert_eq!((table.len(), table.bytes()), (3, 2 * one + SERIES_OVERHEAD));
        send(&mut table, a, &wide(3000));
        assert_eq!(
            table.bytes(),
            2 * one + SERIES_OVERHEAD,
            "a new value replaces the old"
        );
        send(&mut table, c, &wide(2000));
        assert_eq!(
            (table.len(), table.evictions()),
            (2, 2),
            "n, then b, the least recent"
        );
        assert!(table.committed(n).is_none() && table.committed(b).is_none());

        let mut small = SeriesTable::new(STARTED, one - 1);
        send(&mut small, a, &wide(2000));
        assert_eq!(
            (small.len(), small.bytes(), small.evictions()),
            (0, 0, 1),
            "over alone"
        );
    }

    #[test]
    fn the_recency_queue_stays_bounded() {
        let mut table = SeriesTable::new(STARTED, 3 * COUNTER);
        let hot = key("hot");
        for time in 2000..3000 {
            if let Change::Nothing(Some(commit)) = table.delta(hot, &counter(BEFORE, time, 1.0)) {
                table.commit(commit, Instant::now());
            }
            assert!(table.recency.len() <= 2 * table.len() + RECENCY_SLACK);
        }
        for series in ["x", "y", "z"] {
            send(&mut table, key(series), &counter(BEFORE, 2000, 1.0));
        }
        assert_eq!((table.len(), table.evictions()), (3, 1));
        assert!(table.committed(hot).is_none());
        assert!(!table.is_empty());
    }

    fn attributes(pairs: &[(&str, Json)]) -> Attributes {
        let owned = |(key, value): &(&str, Json)| (key.to_string(), value.clone());
        pairs.iter().map(owned).collect()
    }

    /// The key of a `requests` point.
    fn requests_key(
        resource: &[(&str, Json)],
        scope: Option<&str>,
        point: &[(&str, Json)],
    ) -> SeriesKey {
        let resource = ResourceKey::new(&attributes(resource));
        resource
            .metric(scope, "requests")
            .series(&attributes(point))
    }

    #[test]
    fn series_keys_ignore_attribute_order_only() {
        let service = || ("service.name", json!("api"));
        let host = || ("host", json!("a"));
        let resource = || [service(), host()];
        let route = || ("route", json!({"x": 1, "y": [1, 2]}));
        let route_reversed = || ("route", json!({"x": 1, "y": [2, 1]}));
        let code = || ("code", json!(200));
        let base = requests_key(&resource(), Some("scope"), &[route(), code()]);
        #[rustfmt::skip]
        let cases = [
            ("resource attributes reordered",
             requests_key(&[host(), service()], Some("scope"), &[route(), code()]), true),
            ("point attributes reordered",
             requests_key(&resource(), Some("scope"), &[code(), route()]), true),
            ("no scope", requests_key(&resource(), None, &[route(), code()]), false),
            ("an empty scope", requests_key(&resource(), Some(""), &[route(), code()]), false),
            ("a string, not a number",
             requests_key(&resource(), Some("scope"), &[route(), ("code", json!("200"))]), false),
            ("array order matters",
             requests_key(&resource(), Some("scope"), &[route_reversed(), code()]), false),
            ("a duplicate",
             requests_key(&resource(), Some("scope"), &[route(), code(), code()]), false),
            ("an attribute moved from the resource to the point",
             requests_key(&[service()], Some("scope"), &[host(), route(), code()]), false),
        ];
        for (name, key, same) in cases {
            assert_eq!(key == base, same, "{name}");
        }
        let resource = ResourceKey::new(&attributes(&resource()));
        let errors = resource.metric(Some("scope"), "errors");
        let errors = errors.series(&attributes(&[route(), code()]));
        assert_ne!(base, errors, "another metric");
    }
}
