//! A fixed-size log2 histogram of latencies (any unsigned 64-bit figure; the domain runtime
//! records time-stamp-counter ticks).
//!
//! Bucket `k` (0 ≤ k ≤ 63) holds `[2^k, 2^(k+1) − 1]`, except that bucket 0 holds 0 as well
//! as 1 (no call takes fewer than two ticks). The index is `ilog2(value | 1)`: on x86 an `or`
//! and a `bsr`, so recording is three instructions with the increment — constant time, no
//! allocation, no branch on the value. Two histograms merge by adding their buckets.
//!
//! **Bucket error.** A percentile is reported as the bucket it falls in ([`Percentile`]):
//! the true value `v` satisfies `lower ≤ v ≤ upper` with `upper = 2·lower + 1`
//! (`upper = 2·lower − 1` above bucket 0). [`Percentile::upper`], the figure summaries use, therefore never
//! underestimates and overestimates by less than a factor of two. The same holds for the
//! maximum ([`Histogram::max_bucket`]). Finer buckets would cost more memory per domain and
//! a few more instructions per record; the factor of two is enough to see a latency
//! regression of the kind the drift monitor alarms on (docs/telemetry.md).

use core::sync::atomic::{AtomicU64, Ordering};

/// Number of buckets: one per power of two, `0..=1` up to `2^63..=u64::MAX`.
pub const BUCKETS: usize = 64;

/// The bucket `value` falls in.
#[inline(always)]
pub const fn bucket_of(value: u64) -> usize {
    (value | 1).ilog2() as usize
}

/// The smallest and largest value bucket `index` holds (`None` past the last bucket).
pub const fn bucket_bounds(index: usize) -> Option<(u64, u64)> {
    match index {
        0 => Some((0, 1)),
        1..=63 => Some((1 << index, u64::MAX >> (63 - index))),
        _ => None,
    }
}

/// A percentile as the bucket it lies in: the true value is in `lower..=upper`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentile {
    /// Smallest value of the bucket.
    pub lower: u64,
    /// Largest value of the bucket (the conservative figure: never below the true value).
    pub upper: u64,
}

impl Percentile {
    /// The percentile of bucket `index` (which must exist).
    fn of_bucket(index: usize) -> Percentile {
        let (lower, upper) = bucket_bounds(index).unwrap_or((u64::MAX, u64::MAX));
        Percentile { lower, upper }
    }
}

/// A latency histogram with plain counters: what is reported, merged and summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: [u64; BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::EMPTY
    }
}

impl Histogram {
    /// No values recorded.
    pub const EMPTY: Histogram = Histogram { counts: [0; BUCKETS] };

    /// A histogram with the given bucket counts.
    pub const fn from_counts(counts: [u64; BUCKETS]) -> Histogram {
        Histogram { counts }
    }

    /// The bucket counts (index as in [`bucket_bounds`]).
    pub const fn counts(&self) -> &[u64; BUCKETS] {
        &self.counts
    }

    /// Records one value (constant time; a full bucket saturates).
    #[inline]
    pub fn record(&mut self, value: u64) {
        let bucket = &mut self.counts[bucket_of(value)];
        *bucket = bucket.saturating_add(1);
    }

    /// Number of values recorded (saturating).
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0u64, |sum, &count| sum.saturating_add(count))
    }

    /// Adds `other`'s values to this histogram (saturating per bucket).
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
    }

    /// The values recorded since `earlier` was taken of the same histogram, or `None` if a
    /// bucket holds fewer values than in `earlier` (it is not an earlier state of this one:
    /// the recording side restarted).
    pub fn since(&self, earlier: &Histogram) -> Option<Histogram> {
        let mut counts = [0; BUCKETS];
        for (index, count) in counts.iter_mut().enumerate() {
            *count = self.counts[index].checked_sub(earlier.counts[index])?;
        }
        Some(Histogram { counts })
    }

    /// The `per_mille`/1000 quantile (500: median, 900: p90, 990: p99; 1000: the maximum),
    /// as the bucket it lies in: the first bucket at which at least
    /// ⌈count × per_mille / 1000⌉ values (at least one) have been seen. `None` if the
    /// histogram is empty or `per_mille` exceeds 1000.
    pub fn percentile(&self, per_mille: u32) -> Option<Percentile> {
        let total = self.count();
        if total == 0 || per_mille > 1000 {
            return None;
        }
        let rank = (u128::from(total) * u128::from(per_mille)).div_ceil(1000).max(1);
        let mut seen = 0u128;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += u128::from(count);
            if seen >= rank {
                return Some(Percentile::of_bucket(index));
            }
        }
        None
    }

    /// The bucket of the largest value recorded (`None` if empty).
    pub fn max_bucket(&self) -> Option<Percentile> {
        self.counts.iter().rposition(|&count| count != 0).map(Percentile::of_bucket)
    }
}

/// A histogram that threads record into concurrently: the domain runtime's per-domain
/// static. A record is one relaxed atomic increment (`lock inc` on x86), no allocation and
/// no system call; [`AtomicHistogram::snapshot`] reads the buckets one by one (a record
/// racing with it is in the snapshot or in the next one, never lost).
pub struct AtomicHistogram {
    counts: [AtomicU64; BUCKETS],
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram::new()
    }
}

impl AtomicHistogram {
    /// An empty histogram (usable as a `static` initialiser).
    pub const fn new() -> AtomicHistogram {
        AtomicHistogram { counts: [const { AtomicU64::new(0) }; BUCKETS] }
    }

    /// Records one value. Wraps after 2^64 values in one bucket, which at one value per
    /// nanosecond takes 584 years.
    #[inline(always)]
    pub fn record(&self, value: u64) {
        self.counts[bucket_of(value)].fetch_add(1, Ordering::Relaxed);
    }

    /// The current counts.
    pub fn snapshot(&self) -> Histogram {
        let mut counts = [0; BUCKETS];
        for (count, atomic) in counts.iter_mut().zip(self.counts.iter()) {
            *count = atomic.load(Ordering::Relaxed);
        }
        Histogram { counts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_the_bucket_whose_bounds_hold_it() {
        let mut values = [0u64, 1, 2, 3, 4, 5, 7, 8, 1000, 1023, 1024, u64::MAX >> 1, 1 << 63, u64::MAX].to_vec();
        for shift in 0..64 {
            values.push((1u64 << shift).wrapping_sub(1));
            values.push(1u64 << shift);
            values.push((1u64 << shift) + 1);
        }
        for value in values {
            let (lower, upper) = bucket_bounds(bucket_of(value)).unwrap();
            assert!(lower <= value && value <= upper, "{value} not in bucket {} = [{lower}, {upper}]", bucket_of(value));
        }
        assert_eq!(bucket_bounds(64), None);
        assert_eq!((bucket_of(0), bucket_of(1), bucket_of(2), bucket_of(u64::MAX)), (0, 0, 1, 63));
        // Buckets tile the whole range without gaps or overlaps.
        for index in 1..BUCKETS {
            assert_eq!(bucket_bounds(index).unwrap().0, bucket_bounds(index - 1).unwrap().1 + 1);
        }
        assert_eq!(bucket_bounds(0).unwrap().0, 0);
        assert_eq!(bucket_bounds(63).unwrap().1, u64::MAX);
    }

    #[test]
    fn percentiles_are_the_buckets_of_the_ranked_values() {
        let mut h = Histogram::EMPTY;
        assert_eq!(h.percentile(500), None);
        assert_eq!(h.max_bucket(), None);
        // 100 values: 1..=100. Median 50 is in [32, 63], p90 = 90 and p99 = 99 in [64, 127].
        (1..=100).for_each(|v| h.record(v));
        assert_eq!(h.count(), 100);
        assert_eq!(h.percentile(500), Some(Percentile { lower: 32, upper: 63 }));
        assert_eq!(h.percentile(900), Some(Percentile { lower: 64, upper: 127 }));
        assert_eq!(h.percentile(990), Some(Percentile { lower: 64, upper: 127 }));
        assert_eq!(h.percentile(0), Some(Percentile { lower: 0, upper: 1 }));
        assert_eq!(h.percentile(1000), h.max_bucket());
        assert_eq!(h.percentile(1001), None);
        // The rank rounds up: of 10 values, p90 is the 9th, p99 the 10th.
        let mut ten = Histogram::EMPTY;
        (0..9).for_each(|_| ten.record(5));
        ten.record(5000);
        assert_eq!(ten.percentile(900), Some(Percentile { lower: 4, upper: 7 }));
        assert_eq!(ten.percentile(990), Some(Percentile { lower: 4096, upper: 8191 }));
    }

    #[test]
    fn the_reported_upper_bound_is_within_a_factor_of_two() {
        for value in [2u64, 3, 100, 471, 65_535, 1 << 40, u64::MAX] {
            let mut h = Histogram::EMPTY;
            h.record(value);
            let p = h.percentile(500).unwrap();
            assert!(p.upper >= value && p.upper / 2 < value, "{value}: {p:?}");
        }
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut both) = (Histogram::EMPTY, Histogram::EMPTY, Histogram::EMPTY);
        for v in 0..500u64 {
            let value = v * v * 37;
            if v % 3 == 0 {
                a.record(value)
            } else {
                b.record(value)
            }
            both.record(value);
        }
        a.merge(&b);
        assert_eq!(a, both);
        let mut full = Histogram::from_counts([u64::MAX; BUCKETS]);
        full.merge(&both);
        assert_eq!(full.count(), u64::MAX, "saturates, never wraps");
    }

    #[test]
    fn since_gives_the_interval_or_detects_a_restart() {
        let mut h = Histogram::EMPTY;
        (0..10).for_each(|v| h.record(v));
        let earlier = h;
        (100..110).for_each(|v| h.record(v));
        let interval = h.since(&earlier).unwrap();
        assert_eq!(interval.count(), 10);
        assert_eq!(interval.percentile(0).unwrap().lower, 64);
        assert_eq!(earlier.since(&h), None, "fewer values than before: not a later state");
    }

    #[test]
    fn atomic_snapshot_matches_plain_recording() {
        static SHARED: AtomicHistogram = AtomicHistogram::new();
        let mut plain = Histogram::EMPTY;
        for v in [0u64, 1, 471, 471, 9_000, u64::MAX] {
            SHARED.record(v);
            plain.record(v);
        }
        assert_eq!(SHARED.snapshot(), plain);
    }
}
