//! The samples that stand for a histogram point in Sentry: values with weights (each item's
//! `sentry.client_sample_rate` is 1 / its weight). Sentry extrapolates `count()` (Σ weight) and
//! `sum()` (Σ weight × value) but takes `min()` and `max()` as they are, so the samples are
//! chosen for all four to be the point's own:
//!
//! 1. A min the point holds (see [`super::model::Attained`]) is one sample of weight 1, taken
//!    out of the bucket it lies in; so is such a max. Both the same value: every value is it,
//!    one sample of the whole count.
//! 2. Every other bucket is one sample of its remaining count, a value inside the bucket
//!    clipped to `[min, max]` (which bound the values even where the point does not hold them):
//!    at first its middle, or its finite end where it is open (a bucket open at both ends: the
//!    mean of what is left), the zero bucket at 0.
//! 3. With a sum, those samples move for the weighted sum to be the point's: all toward the
//!    upper ends of their ranges (or all toward the lower ones) by one common share of the room
//!    each has, so every sample stays in its bucket and their order holds (percentiles read as
//!    the buckets say); a bucket open on the side to move takes it all. Only a point whose sum
//!    its buckets cannot hold (its own numbers disagree) moves samples out of their buckets,
//!    within `[min, max]`.
//! 4. A point of one value is one sample: its sum, else its min or max.
//!
//! A point whose sum no values within its min and max can make (`sum` outside
//! `[n·min, n·max]`, with the held extremes counted) has those two ignored: they and the sum
//! cannot both be right, and the sum is what totals are made of. Without a sum (optional in
//! OTLP) the samples stay where step 2 put them; without min and max, open buckets stand at
//! their finite end. Floating point: the weighted sum is the point's to within a few ulps of
//! the values' magnitude (a last correction puts the rounding left on the heaviest sample).

use super::buckets::{Bucket, Range};

/// A point's min or max, and whether the point holds that value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extreme {
    pub value: f64,
    pub attained: bool,
}

/// What a histogram point says of its values: its non-empty buckets in ascending order, its
/// sum, min and max.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub buckets: Vec<Bucket>,
    pub sum: Option<f64>,
    pub min: Option<Extreme>,
    pub max: Option<Extreme>,
}

/// A value standing for `weight` of the point's values, which lie in `holds` (an exemplar
/// there belongs to it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub value: f64,
    pub weight: u64,
    pub holds: Range,
}

/// The weight Sentry reads back from the rate sent for `count` values: `1 / (1 / count)`.
pub fn weight(count: u64) -> f64 {
    1.0 / (1.0 / count as f64)
}

/// The samples of `shape`, in ascending order (see the module doc).
pub fn samples(shape: &Shape) -> Vec<Sample> {
    let count = shape
        .buckets
        .iter()
        .fold(0u64, |n, bucket| n.saturating_add(bucket.count));
    if count == 0 {
        return Vec::new();
    }
    let (min, max) = ordered(shape.min, shape.max);
    // An overflowed delta's sum is no sum.
    let sum = shape.sum.filter(|sum| sum.is_finite());
    with_extremes(shape, count, sum, (min, max))
        .or_else(|| with_extremes(shape, count, sum, (None, None)))
        .or_else(|| with_extremes(shape, count, None, (None, None)))
        .unwrap_or_default()
}

/// `None` when `sum` cannot be met within the extremes.
fn with_extremes(
    shape: &Shape,
    count: u64,
    sum: Option<f64>,
    (min, max): (Option<Extreme>, Option<Extreme>),
) -> Option<Vec<Sample>> {
    let bounds = (min.map(|m| m.value), max.map(|m| m.value));
    if count == 1 {
        return Some(vec![single(shape, sum, (min, max), bounds)]);
    }
    let held = |extreme: Option<Extreme>| extreme.filter(|e| e.attained).map(|e| e.value);
    let (low, high) = (held(min), held(max));
    if let (Some(low), Some(high)) = (low, high) {
        if low == high {
            return Some(vec![Sample {
                value: low,
                weight: count,
                holds: Range::only(low),
            }]);
        }
    }
    let mut buckets = shape.buckets.clone();
    let (mut extremes, mut scale) = (0.0, 0.0f64);
    for (value, from_top) in [(low, false), (high, true)] {
        if let Some(value) = value {
            take_one(&mut buckets, value, from_top);
            extremes += value;
            scale = scale.max(value.abs());
        }
    }
    let mut slots = slots(&buckets, bounds);
    let left = slots
        .iter()
        .fold(0u64, |n, slot| n.saturating_add(slot.count));
    if let Some(sum) = sum {
        let target = sum - extremes;
        if !feasible(target, left, bounds, scale.max(sum.abs())) {
            return None;
        }
        place_open(&mut slots, target, left, bounds);
        meet(&mut slots, target, bounds);
    } else {
        place_open(&mut slots, f64::NAN, left, bounds);
    }
    let extreme = |value: f64| Sample {
        value,
        weight: 1,
        holds: Range::only(value),
    };
    let middle = slots.iter().map(|slot| Sample {
        value: slot.value,
        weight: slot.count,
        holds: slot.holds,
    });
    let samples = (low.map(extreme).into_iter())
        .chain(middle)
        .chain(high.map(extreme))
        .collect();
    Some(samples)
}

/// A point's `min` and `max`, neither when the min is above the max (at least one is wrong,
/// and which is not known) or one is not finite.
fn ordered(min: Option<Extreme>, max: Option<Extreme>) -> (Option<Extreme>, Option<Extreme>) {
    let finite = |e: Option<Extreme>| e.filter(|e| e.value.is_finite());
    match (finite(min), finite(max)) {
        (Some(min), Some(max)) if min.value > max.value => (None, None),
        bounds => bounds,
    }
}

/// A point of one value.
fn single(
    shape: &Shape,
    sum: Option<f64>,
    (min, max): (Option<Extreme>, Option<Extreme>),
    bounds: (Option<f64>, Option<f64>),
) -> Sample {
    let held = |e: Option<Extreme>| e.filter(|e| e.attained).map(|e| e.value);
    let holds = (shape.buckets.iter())
        .find(|b| b.count > 0)
        .map_or(Range::ALL, |b| b.range);
    let value = sum
        .or_else(|| held(min))
        .or_else(|| held(max))
        .or_else(|| {
            let first = slots(&shape.buckets, bounds).first().map(|s| s.value);
            // A bucket open at both ends, no min or max: nothing tells where; 0.
            first.filter(|value| value.is_finite())
        })
        .unwrap_or(0.0);
    Sample {
        value: within(value, bounds),
        weight: 1,
        holds,
    }
}

/// Takes one value out of the bucket holding `value` (else the first non-empty one from the
/// bottom, or from the top).
fn take_one(buckets: &mut [Bucket], value: f64, from_top: bool) {
    let holding = buckets
        .iter()
        .position(|b| b.count > 0 && b.range.contains(value));
    let nearest = match from_top {
        true => buckets.iter().rposition(|b| b.count > 0),
        false => buckets.iter().position(|b| b.count > 0),
    };
    if let Some(bucket) = holding.or(nearest).and_then(|i| buckets.get_mut(i)) {
        bucket.count -= 1;
    }
}

/// Whether `left` values within `bounds` can add up to `target`, up to rounding of numbers
/// as large as `scale` (the sum's, the extremes').
fn feasible(
    target: f64,
    left: u64,
    (lower, upper): (Option<f64>, Option<f64>),
    scale: f64,
) -> bool {
    if !target.is_finite() {
        return false;
    }
    let n = left as f64;
    let tolerance = |bound: f64| 1e-9 * scale.max(target.abs()).max(bound.abs());
    let above = lower.is_none_or(|l| target >= n * l - tolerance(n * l));
    let below = upper.is_none_or(|u| target <= n * u + tolerance(n * u));
    match left {
        0 => target.abs() <= tolerance(0.0),
        _ => above && below,
    }
}

/// `value` moved into `[lower, upper]` where they are known.
fn within(value: f64, (lower, upper): (Option<f64>, Option<f64>)) -> f64 {
    let value = lower.map_or(value, |l| value.max(l));
    upper.map_or(value, |u| value.min(u))
}

/// A bucket's remaining values: where they may lie, and their value so far.
#[derive(Debug, Clone, Copy)]
struct Slot {
    count: u64,
    weight: f64,
    lower: Option<f64>,
    upper: Option<f64>,
    value: f64,
    holds: Range,
}

/// The buckets with values left, each clipped to `bounds`, at their starting value (NaN for a
/// bucket open at both ends: [`place_open`] sets it).
fn slots(buckets: &[Bucket], bounds: (Option<f64>, Option<f64>)) -> Vec<Slot> {
    let pick = |a: Option<f64>, b: Option<f64>, choose: fn(f64, f64) -> f64| match (a, b) {
        (Some(a), Some(b)) => Some(choose(a, b)),
        (one, other) => one.or(other),
    };
    let non_empty = buckets.iter().filter(|b| b.count > 0);
    let slot = |bucket: &Bucket| {
        let mut lower = pick(bucket.range.lower, bounds.0, f64::max);
        let mut upper = pick(bucket.range.upper, bounds.1, f64::min);
        if let (Some(l), Some(u)) = (lower, upper) {
            if l > u {
                // The bucket and [min, max] do not meet (the point disagrees with itself).
                let at = within(l / 2.0 + u / 2.0, bounds);
                (lower, upper) = (Some(at), Some(at));
            }
        }
        let value = match (bucket.fixed, lower, upper) {
            (Some(fixed), ..) => within(fixed, (lower, upper)),
            // Halves first: the sum of two large bounds could overflow.
            (None, Some(l), Some(u)) => l / 2.0 + u / 2.0,
            (None, Some(end), None) | (None, None, Some(end)) => end,
            (None, None, None) => f64::NAN,
        };
        Slot {
            count: bucket.count,
            weight: weight(bucket.count),
            lower,
            upper,
            value,
            holds: bucket.range,
        }
    };
    non_empty.map(slot).collect()
}

/// A bucket open at both ends (no bounds, no min or max) stands at the mean of what the others
/// leave of `target` (at 0 without a sum).
fn place_open(slots: &mut [Slot], target: f64, left: u64, bounds: (Option<f64>, Option<f64>)) {
    let (placed, open): (Vec<&mut Slot>, Vec<&mut Slot>) =
        slots.iter_mut().partition(|s| !s.value.is_nan());
    if open.is_empty() {
        return;
    }
    let rest = placed.iter().map(|s| s.weight * s.value).sum::<f64>();
    let count = left - placed.iter().map(|s| s.count).sum::<u64>();
    let mean = (target - rest) / count.max(1) as f64;
    let value = within(if mean.is_finite() { mean } else { 0.0 }, bounds);
    for slot in open {
        slot.value = value;
    }
}

/// Moves the slots for their weighted sum to be `target`: within their buckets first, then
/// within `bounds`; a last correction puts the rounding on the heaviest. Leaves them as they
/// were if that makes a value that is not finite.
fn meet(slots: &mut [Slot], target: f64, bounds: (Option<f64>, Option<f64>)) {
    let before: Vec<f64> = slots.iter().map(|s| s.value).collect();
    let mut short = target - weighted_sum(slots);
    if short != 0.0 {
        short = spread(slots, short, |s, up| if up { s.upper } else { s.lower });
    }
    if short != 0.0 {
        short = spread(slots, short, |_, up| if up { bounds.1 } else { bounds.0 });
    }
    if short == 0.0 {
        let residue = target - weighted_sum(slots);
        let heaviest = slots
            .iter_mut()
            .max_by(|a, b| a.weight.total_cmp(&b.weight));
        if let Some(slot) = heaviest {
            slot.value += residue / slot.weight;
        }
    }
    if slots.iter().any(|s| !s.value.is_finite()) {
        for (slot, value) in slots.iter_mut().zip(before) {
            slot.value = value;
        }
    }
}

/// Σ value × weight, as Sentry sums the items (value / rate).
fn weighted_sum(slots: &[Slot]) -> f64 {
    slots.iter().map(|s| s.value / (1.0 / s.count as f64)).sum()
}

/// Moves every slot toward its end (`end(slot, up)`, `None` for none) by one common share of
/// its room, or, where some slot has no end on that side, those slots by the same amount each:
/// `short` (value × weight) in all. Returns what is still short (0 once met).
fn spread(slots: &mut [Slot], short: f64, end: impl Fn(&Slot, bool) -> Option<f64>) -> f64 {
    let up = short > 0.0;
    let unbounded: f64 = (slots.iter())
        .filter(|s| end(s, up).is_none())
        .map(|s| s.weight)
        .sum();
    if unbounded > 0.0 {
        let each = short / unbounded;
        for slot in slots.iter_mut().filter(|s| end(s, up).is_none()) {
            slot.value += each;
        }
        return 0.0;
    }
    let room = |s: &Slot| end(s, up).map_or(0.0, |e| s.weight * (e - s.value).abs());
    let total: f64 = slots.iter().map(room).sum();
    if total <= 0.0 || !total.is_finite() {
        return short;
    }
    let share = (short.abs() / total).min(1.0);
    for slot in slots.iter_mut() {
        if let Some(e) = end(slot, up) {
            slot.value += share * (e - slot.value);
        }
    }
    match share < 1.0 {
        true => 0.0,
        false => short - short.signum() * total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(lower: Option<f64>, upper: Option<f64>, count: u64) -> Bucket {
        Bucket {
            range: Range { lower, upper },
            count,
            fixed: None,
        }
    }

    /// Buckets of explicit `bounds` with `counts` (one more than bounds), empty ones left out.
    fn explicit(bounds: &[f64], counts: &[u64]) -> Vec<Bucket> {
        let at = |i: usize| bounds.get(i).copied();
        (counts.iter().enumerate())
            .filter(|(_, count)| **count > 0)
            .map(|(i, count)| bucket(i.checked_sub(1).and_then(at), at(i), *count))
            .collect()
    }

    fn held(value: f64) -> Option<Extreme> {
        Some(Extreme {
            value,
            attained: true,
        })
    }

    fn bound(value: f64) -> Option<Extreme> {
        Some(Extreme {
            value,
            attained: false,
        })
    }

    /// What Sentry shows: extrapolated count and sum, min and max.
    fn seen(samples: &[Sample]) -> (f64, f64, f64, f64) {
        let rate = |s: &Sample| 1.0 / s.weight as f64;
        let count = samples.iter().map(|s| 1.0 / rate(s)).sum();
        let sum = samples.iter().map(|s| s.value / rate(s)).sum();
        let min = samples
            .iter()
            .map(|s| s.value)
            .fold(f64::INFINITY, f64::min);
        let max = samples
            .iter()
            .map(|s| s.value)
            .fold(f64::NEG_INFINITY, f64::max);
        (count, sum, min, max)
    }

    fn pairs(samples: &[Sample]) -> Vec<(f64, u64)> {
        samples.iter().map(|s| (s.value, s.weight)).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    /// The SDKs' default bounds.
    const SDK: [f64; 15] = [
        0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
        7500.0, 10000.0,
    ];

    fn sdk(values: &[f64]) -> Shape {
        let mut counts = vec![0; SDK.len() + 1];
        for value in values {
            counts[SDK.iter().position(|b| value <= b).unwrap_or(SDK.len())] += 1;
        }
        let fold = |f: fn(f64, f64) -> f64| values.iter().copied().reduce(f);
        Shape {
            buckets: explicit(&SDK, &counts),
            sum: Some(values.iter().sum()),
            min: fold(f64::min).and_then(held),
            max: fold(f64::max).and_then(held),
        }
    }

    /// (case, shape, (value, weight) of each sample)
    type Case<'a> = (&'a str, Shape, &'a [(f64, u64)]);

    #[test]
    fn samples_meet_count_sum_min_and_max() {
        let two_buckets = explicit(&[0.0, 10.0], &[0, 3, 1]);
        let cases: &[Case<'_>] = &[
            (
                "10, 20, 30, 40 in the SDK's buckets",
                sdk(&[10.0, 20.0, 30.0, 40.0]),
                &[(10.0, 1), (17.5, 1), (32.5, 1), (40.0, 1)],
            ),
            ("one value: its sum", sdk(&[42.0]), &[(42.0, 1)]),
            (
                "two values: min and max",
                sdk(&[3.0, 700.0]),
                &[(3.0, 1), (700.0, 1)],
            ),
            (
                // 0.1 + 0.2 is not 0.3 in binary: the sum is off by an ulp.
                "two values, their sum rounded otherwise",
                Shape {
                    sum: Some(0.3),
                    ..sdk(&[0.1, 0.2])
                },
                &[(0.1, 1), (0.2, 1)],
            ),
            ("all the same value", sdk(&[7.0, 7.0, 7.0]), &[(7.0, 3)]),
            (
                // 1, 2, 7 in (0, 10], 20 above: the 2 left in [1, 10] add up to 9.
                "the rest moved inside its bucket toward the lower end",
                Shape {
                    buckets: two_buckets.clone(),
                    sum: Some(30.0),
                    min: held(1.0),
                    max: held(20.0),
                },
                &[(1.0, 1), (4.5, 2), (20.0, 1)],
            ),
            (
                "an open bucket above takes what the others cannot: no max",
                Shape {
                    buckets: explicit(&[0.0, 10.0], &[0, 1, 2]),
                    sum: Some(65.0),
                    min: held(4.0),
                    max: None,
                },
                &[(4.0, 1), (30.5, 2)],
            ),
            (
                "no sum: min and max exact, the rest at the middle of its clipped bucket",
                Shape {
                    buckets: two_buckets.clone(),
                    sum: None,
                    min: held(2.0),
                    max: held(20.0),
                },
                &[(2.0, 1), (6.0, 2), (20.0, 1)],
            ),
            (
                "no min, max or sum: as before, open buckets at their bound",
                Shape {
                    buckets: explicit(&[0.0, 10.0], &[1, 2, 3]),
                    sum: None,
                    min: None,
                    max: None,
                },
                &[(0.0, 1), (5.0, 2), (10.0, 3)],
            ),
            (
                "no bounds: extremes and the mean of the rest",
                Shape {
                    buckets: vec![bucket(None, None, 4)],
                    sum: Some(10.0),
                    min: held(1.0),
                    max: held(4.0),
                },
                &[(1.0, 1), (2.5, 2), (4.0, 1)],
            ),
            (
                "no bounds and nothing else: the mean",
                Shape {
                    buckets: vec![bucket(None, None, 4)],
                    sum: Some(10.0),
                    min: None,
                    max: None,
                },
                &[(2.5, 4)],
            ),
            (
                "no bounds, no sum, min or max: 0",
                Shape {
                    buckets: vec![bucket(None, None, 1)],
                    sum: None,
                    min: None,
                    max: None,
                },
                &[(0.0, 1)],
            ),
            (
                "one value in an open bucket, its max held",
                Shape {
                    buckets: explicit(&[0.0, 10.0], &[0, 0, 1]),
                    sum: None,
                    min: bound(2.0),
                    max: held(12.5),
                },
                &[(12.5, 1)],
            ),
            (
                // [1, 10] and (10, 20] from 5.5 and 15 by 1/37 of their room: 32 in all.
                "a min and max the point does not hold (a cumulative delta) only clip",
                Shape {
                    buckets: two_buckets.clone(),
                    sum: Some(32.0),
                    min: bound(1.0),
                    max: bound(20.0),
                },
                &[(5.5 + 4.5 / 37.0, 3), (15.0 + 5.0 / 37.0, 1)],
            ),
            (
                "a sum no values within min and max make: min and max ignored",
                Shape {
                    buckets: two_buckets.clone(),
                    sum: Some(500.0),
                    min: held(1.0),
                    max: held(20.0),
                },
                &[(5.0, 3), (485.0, 1)],
            ),
            (
                "a min above the max: both ignored",
                Shape {
                    buckets: two_buckets,
                    sum: None,
                    min: held(30.0),
                    max: held(2.0),
                },
                &[(5.0, 3), (10.0, 1)],
            ),
        ];
        for (name, shape, want) in cases {
            let got = samples(shape);
            assert_eq!(got.len(), want.len(), "{name}: {:?}", pairs(&got));
            for ((value, weight), (want_value, want_weight)) in pairs(&got).iter().zip(*want) {
                assert!(close(*value, *want_value), "{name}: {:?}", pairs(&got));
                assert_eq!(weight, want_weight, "{name}");
            }
            let (count, sum, ..) = seen(&got);
            let n: u64 = shape.buckets.iter().map(|b| b.count).sum();
            assert_eq!(count, n as f64, "{name}");
            if let Some(want) = shape.sum {
                assert!(close(sum, want), "{name}: sum {sum} for {want}");
            }
            assert!(
                got.windows(2).all(|w| w[0].value <= w[1].value),
                "{name}: in order"
            );
        }
    }

    #[test]
    fn the_sdks_buckets_show_what_was_recorded() {
        let recordings: &[&[f64]] = &[
            &[10.0, 20.0, 30.0, 40.0],
            &[0.5, 1.0, 1.5, 3.0, 4.0, 4.5, 80.0, 81.0, 9000.0, 12000.0],
            &[-3.0, 0.0, 0.0, 5.0, 5.0, 5.0, 60.0],
            &[250.0, 250.0, 250.0, 251.0],
            &[1e-6, 2e-6, 1e6, 2e6, 3e6],
        ];
        for values in recordings {
            let got = samples(&sdk(values));
            let (count, sum, min, max) = seen(&got);
            let want_min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let want_max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let want_sum: f64 = values.iter().sum();
            assert_eq!(count, values.len() as f64, "{values:?}");
            assert!(close(sum, want_sum), "{values:?}: sum {sum}");
            assert_eq!((min, max), (want_min, want_max), "{values:?}");
            // Each sample of a bucket stays inside it.
            for sample in &got {
                assert!(
                    sample.holds.contains(sample.value) || sample.value == want_min,
                    "{values:?}: {sample:?}"
                );
            }
        }
    }

    #[test]
    fn the_zero_bucket_and_far_exponential_buckets_stay_finite() {
        let zero = Bucket {
            range: Range {
                lower: Some((-0.5f64).next_down()),
                upper: Some(0.5),
            },
            count: 3,
            fixed: Some(0.0),
        };
        let shape = Shape {
            buckets: vec![zero, bucket(Some(1.0), Some(2.0), 1)],
            sum: Some(2.0),
            min: None,
            max: None,
        };
        let got = samples(&shape);
        assert!(close(seen(&got).1, 2.0), "{:?}", pairs(&got));
        assert!(
            got[0].value > 0.0 && got[0].value <= 0.5,
            "the zero bucket moves within it"
        );

        let far = Shape {
            buckets: vec![bucket(Some(f64::MAX), Some(f64::MAX), 2)],
            sum: Some(f64::INFINITY),
            min: None,
            max: None,
        };
        assert_eq!(pairs(&samples(&far)), [(f64::MAX, 2)]);
    }

    #[test]
    fn weights_read_back_as_counts() {
        for count in [1, 2, 3, 7, 49, 1_000_003] {
            let off = (weight(count) - count as f64).abs();
            assert!(off <= 1e-12 * count as f64, "{count}: {off}");
        }
    }
}
