//! The buckets of a histogram point, as ranges of values with their counts: explicit bounds,
//! or exponential buckets (`(base^i, base^(i+1)]`, `base = 2^(2^-scale)`, negative ones mirrored,
//! the zero bucket `[-threshold, threshold]`). A point of more non-empty buckets than asked
//! for has adjacent ones merged, so that no point fans out without bound; the count stays
//! exact. What stands for the values is [`super::histogram`]'s rule.

use super::model::{ExponentialHistogram, Histogram};

/// The values in `(lower, upper]`; `None` for an open end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

impl Range {
    /// Every value.
    pub const ALL: Range = Range {
        lower: None,
        upper: None,
    };

    /// `value` alone.
    pub fn only(value: f64) -> Range {
        Range {
            lower: Some(value.next_down()),
            upper: Some(value),
        }
    }

    pub fn contains(&self, value: f64) -> bool {
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

/// A non-empty bucket: where its values lie, how many, and a value that stands for them
/// unless moved (the zero bucket's 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub range: Range,
    pub count: u64,
    pub fixed: Option<f64>,
}

impl Bucket {
    /// `self` and the next bucket as one.
    fn absorb(&mut self, next: Bucket) {
        self.range = self.range.hull(next.range);
        self.count = self.count.saturating_add(next.count);
        self.fixed = self.fixed.filter(|fixed| Some(*fixed) == next.fixed);
    }
}

/// `histogram`'s non-empty buckets in ascending order, at most `most` (adjacent ones merged).
/// A point of a count but no bucket counts is one bucket open at both ends.
pub fn explicit(histogram: &Histogram, most: usize) -> Vec<Bucket> {
    let bounds = &histogram.bounds;
    let buckets = histogram.counts.iter().enumerate();
    let non_empty = buckets.filter(|(_, count)| **count > 0);
    let buckets = non_empty.map(|(i, count)| Bucket {
        range: Range {
            lower: i
                .checked_sub(1)
                .and_then(|below| bounds.get(below).copied()),
            upper: bounds.get(i).copied(),
        },
        count: *count,
        fixed: None,
    });
    let merged = merged(buckets, non_empty_count(&histogram.counts), most);
    or_one_open(merged, histogram.count)
}

/// `histogram`'s non-empty buckets in ascending order (the negative ones, the farthest from
/// zero first, the zero bucket, the positive ones), at most `most`.
pub fn exponential(histogram: &ExponentialHistogram, most: usize) -> Vec<Bucket> {
    // log2 of the base.
    let width = (-f64::from(histogram.scale)).exp2();
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
    let count = non_empty_count(&positive.counts)
        + non_empty_count(&negative.counts)
        + usize::from(histogram.zero_count > 0);
    let merged = merged(all.filter(|bucket| bucket.count > 0), count, most);
    or_one_open(merged, histogram.count)
}

fn or_one_open(buckets: Vec<Bucket>, count: u64) -> Vec<Bucket> {
    if buckets.is_empty() && count > 0 {
        return vec![Bucket {
            range: Range::ALL,
            count,
            fixed: None,
        }];
    }
    buckets
}

fn non_empty_count(counts: &[u64]) -> usize {
    counts.iter().filter(|count| **count > 0).count()
}

/// At most `most` of `buckets` (`count` of them, in ascending order): beyond, adjacent buckets
/// merged into groups of equal number.
fn merged(buckets: impl Iterator<Item = Bucket>, count: usize, most: usize) -> Vec<Bucket> {
    let group = count.div_ceil(most.max(1)).max(1);
    let mut kept: Vec<Bucket> = Vec::with_capacity(count.min(most));
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

/// `(index, count)` of consecutive buckets from `offset`.
fn indexed(counts: &[u64], offset: i32) -> impl DoubleEndedIterator<Item = (i64, u64)> + '_ {
    counts
        .iter()
        .enumerate()
        .map(move |(i, count)| (i64::from(offset) + i as i64, *count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace_metrics::model::Buckets;

    fn ranges(buckets: &[Bucket]) -> Vec<(Option<f64>, Option<f64>, u64)> {
        let range = |b: &Bucket| (b.range.lower, b.range.upper, b.count);
        buckets.iter().map(range).collect()
    }

    #[test]
    fn explicit_buckets_are_the_non_empty_ones_between_their_bounds() {
        let histogram = |bounds: &[f64], counts: &[u64]| Histogram {
            count: counts.iter().sum(),
            bounds: bounds.to_vec(),
            counts: counts.to_vec(),
            ..Histogram::default()
        };
        type Case<'a> = (&'a str, Histogram, &'a [(Option<f64>, Option<f64>, u64)]);
        let cases: &[Case<'_>] = &[
            (
                "open at both ends",
                histogram(&[0.0, 10.0], &[1, 0, 3]),
                &[(None, Some(0.0), 1), (Some(10.0), None, 3)],
            ),
            ("no bounds", histogram(&[], &[4]), &[(None, None, 4)]),
            (
                "a count without bucket counts",
                Histogram {
                    count: 4,
                    ..Histogram::default()
                },
                &[(None, None, 4)],
            ),
            ("nothing", Histogram::default(), &[]),
        ];
        for (name, histogram, want) in cases {
            assert_eq!(ranges(&explicit(histogram, 10)), *want, "{name}");
        }
    }

    #[test]
    fn exponential_buckets_mirror_negative_ones_around_the_zero_bucket() {
        let histogram = ExponentialHistogram {
            count: 6,
            scale: 0,
            zero_count: 3,
            zero_threshold: 0.5,
            positive: Buckets {
                offset: 0,
                counts: vec![1],
            },
            negative: Buckets {
                offset: 1,
                counts: vec![2],
            },
            ..ExponentialHistogram::default()
        };
        let got = exponential(&histogram, 10);
        assert_eq!(
            ranges(&got),
            [
                (Some(-4.0), Some(-2.0), 2),
                (Some((-0.5f64).next_down()), Some(0.5), 3),
                (Some(1.0), Some(2.0), 1),
            ]
        );
        assert_eq!(got[1].fixed, Some(0.0));
    }

    #[test]
    fn many_buckets_merge_into_at_most_as_many_as_asked_with_their_count() {
        let bounds: Vec<f64> = (0..999).map(f64::from).collect();
        let histogram = Histogram {
            count: 1000,
            bounds,
            counts: vec![1; 1000],
            ..Histogram::default()
        };
        let got = explicit(&histogram, 158);
        assert!(got.len() <= 158 && got.len() > 79, "{}", got.len());
        assert_eq!(got.iter().map(|b| b.count).sum::<u64>(), 1000);
        assert_eq!(
            (got[0].range.lower, got[got.len() - 1].range.upper),
            (None, None)
        );
        assert!(got.windows(2).all(|w| w[0].range.upper <= w[1].range.lower));
    }
}
