//! Grow-only and positive-negative counters with delta mutators (the paper's GCounter and
//! PNCounter).

use alloc::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Lattice, ReplicaId};

/// Grow-only counter: one monotone entry per replica, joined by maximum; the value is the
/// sum. Zero entries are never stored, so equal counters compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BTreeMap<ReplicaId, u64>")]
pub struct GCounter(BTreeMap<ReplicaId, u64>);

impl From<BTreeMap<ReplicaId, u64>> for GCounter {
    fn from(mut entries: BTreeMap<ReplicaId, u64>) -> Self {
        entries.retain(|_, n| *n > 0);
        GCounter(entries)
    }
}

impl GCounter {
    /// The counter's value: the sum of all entries (`u128`, so it cannot overflow).
    pub fn value(&self) -> u128 {
        self.0.values().map(|n| u128::from(*n)).sum()
    }

    /// Delta mutator: `replica` adds `n`. The delta is that replica's new entry alone.
    pub fn inc(&self, replica: ReplicaId, n: u64) -> Result<GCounter, Error> {
        let now = self.0.get(&replica).copied().unwrap_or(0);
        let next = now.checked_add(n).ok_or(Error::Overflow)?;
        Ok(GCounter::from(BTreeMap::from([(replica, next)])))
    }
}

impl Lattice for GCounter {
    fn join(&mut self, other: Self) {
        for (replica, n) in other.0 {
            let mine = self.0.entry(replica).or_insert(n);
            *mine = (*mine).max(n);
        }
    }
}

/// Positive-negative counter: a pair of grow-only counters for increments and decrements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PnCounter {
    p: GCounter,
    n: GCounter,
}

impl PnCounter {
    /// The counter's value: increments minus decrements.
    pub fn value(&self) -> i128 {
        // Each sum is below 2^64 · (number of replicas), far inside i128.
        self.p.value() as i128 - self.n.value() as i128
    }

    /// Delta mutator: `replica` adds `n`.
    pub fn inc(&self, replica: ReplicaId, n: u64) -> Result<PnCounter, Error> {
        Ok(PnCounter { p: self.p.inc(replica, n)?, n: GCounter::default() })
    }

    /// Delta mutator: `replica` subtracts `n`.
    pub fn dec(&self, replica: ReplicaId, n: u64) -> Result<PnCounter, Error> {
        Ok(PnCounter { p: GCounter::default(), n: self.n.inc(replica, n)? })
    }
}

impl Lattice for PnCounter {
    fn join(&mut self, other: Self) {
        self.p.join(other.p);
        self.n.join(other.n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcounter_counts_and_ignores_duplicates() {
        let mut a = GCounter::default();
        let d1 = a.inc(1, 5).unwrap();
        a.join(d1.clone());
        let d2 = a.inc(1, 2).unwrap();
        a.join(d2.clone());
        let mut b = GCounter::default();
        b.join(d2);
        b.join(d1.clone());
        b.join(d1);
        assert_eq!(a, b);
        assert_eq!(a.value(), 7);
    }

    #[test]
    fn overflow_is_an_error() {
        let mut a = GCounter::default();
        a.join(a.inc(1, u64::MAX).unwrap());
        assert_eq!(a.inc(1, 1), Err(Error::Overflow));
        // Another replica's entry is independent, and the sum does not overflow.
        a.join(a.inc(2, u64::MAX).unwrap());
        assert_eq!(a.value(), 2 * u128::from(u64::MAX));
    }

    #[test]
    fn zero_increment_leaves_state_canonical() {
        let mut a = GCounter::default();
        a.join(a.inc(3, 0).unwrap());
        assert_eq!(a, GCounter::default());
    }

    #[test]
    fn pncounter_goes_negative() {
        let mut a = PnCounter::default();
        a.join(a.inc(1, 3).unwrap());
        a.join(a.dec(2, 10).unwrap());
        assert_eq!(a.value(), -7);
    }
}
