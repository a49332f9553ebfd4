//! Dots and the causal context of the paper's causal CRDTs: a compact version vector
//! plus a dot cloud for the dots that are not yet contiguous.

use alloc::collections::{BTreeMap, BTreeSet};
use core::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use crate::{Error, ReplicaId};

/// A unique event identifier: the `counter`-th event created by `replica` (counters start
/// at 1, so a dot is never the empty version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    /// The replica that created the event.
    pub replica: ReplicaId,
    /// Its sequence number at that replica.
    pub counter: NonZeroU64,
}

/// The set of dots a replica has seen, kept compact: `vv[r] = n` stands for dots
/// `(r,1)…(r,n)`, and `cloud` holds the other seen dots. Invariant (canonical form, so
/// equal sets compare equal): no zero entries in `vv`, and no cloud dot is `≤ vv[r] + 1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ContextParts")]
pub struct CausalContext {
    vv: BTreeMap<ReplicaId, u64>,
    cloud: BTreeSet<Dot>,
}

/// The decoded, not yet canonical form of a [`CausalContext`].
#[derive(Deserialize)]
struct ContextParts {
    vv: BTreeMap<ReplicaId, u64>,
    cloud: BTreeSet<Dot>,
}

impl From<ContextParts> for CausalContext {
    fn from(parts: ContextParts) -> Self {
        let mut ctx = CausalContext { vv: parts.vv, cloud: parts.cloud };
        ctx.vv.retain(|_, n| *n > 0);
        ctx.compact();
        ctx
    }
}

impl CausalContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `dot` has been seen.
    pub fn contains(&self, dot: &Dot) -> bool {
        self.vv.get(&dot.replica).is_some_and(|n| *n >= dot.counter.get()) || self.cloud.contains(dot)
    }

    /// The next dot `replica` may create: one past the highest it is known to have made.
    pub fn next_dot(&self, replica: ReplicaId) -> Result<Dot, Error> {
        let contiguous = self.vv.get(&replica).copied().unwrap_or(0);
        let in_cloud = self.cloud.range(dot_range(replica)).next_back().map_or(0, |d| d.counter.get());
        let counter = contiguous.max(in_cloud).checked_add(1).and_then(NonZeroU64::new).ok_or(Error::Overflow)?;
        Ok(Dot { replica, counter })
    }

    /// Adds one dot.
    pub fn insert(&mut self, dot: Dot) {
        let n = self.vv.get(&dot.replica).copied().unwrap_or(0);
        let c = dot.counter.get();
        if n.checked_add(1) == Some(c) {
            // Extends the version vector; pull in any cloud dots that now follow on.
            let mut top = c;
            while let Some(next) = top.checked_add(1).and_then(NonZeroU64::new) {
                if !self.cloud.remove(&Dot { replica: dot.replica, counter: next }) {
                    break;
                }
                top = next.get();
            }
            self.vv.insert(dot.replica, top);
        } else if c > n {
            self.cloud.insert(dot);
        }
    }

    /// `self ← self ∪ other`.
    pub fn join(&mut self, other: CausalContext) {
        for (replica, n) in other.vv {
            let mine = self.vv.entry(replica).or_insert(0);
            *mine = (*mine).max(n);
        }
        self.cloud.extend(other.cloud);
        self.compact();
    }

    /// Moves cloud dots that extend a version vector entry into it and drops those it
    /// already covers. One pass suffices: the cloud is ordered by (replica, counter).
    fn compact(&mut self) {
        let cloud = core::mem::take(&mut self.cloud);
        for dot in cloud {
            let n = self.vv.get(&dot.replica).copied().unwrap_or(0);
            let c = dot.counter.get();
            if n.checked_add(1) == Some(c) {
                self.vv.insert(dot.replica, c);
            } else if c > n {
                self.cloud.insert(dot);
            }
        }
    }
}

/// All possible dots of `replica`, for range queries on ordered dot collections.
pub(crate) fn dot_range(replica: ReplicaId) -> core::ops::RangeInclusive<Dot> {
    Dot { replica, counter: NonZeroU64::MIN }..=Dot { replica, counter: NonZeroU64::MAX }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(replica: ReplicaId, counter: u64) -> Dot {
        Dot { replica, counter: NonZeroU64::new(counter).unwrap() }
    }

    #[test]
    fn out_of_order_dots_compact_into_the_version_vector() {
        let mut c = CausalContext::new();
        c.insert(dot(1, 3));
        c.insert(dot(1, 1));
        assert!(c.contains(&dot(1, 1)) && !c.contains(&dot(1, 2)) && c.contains(&dot(1, 3)));
        assert_eq!(c.cloud.len(), 1);
        c.insert(dot(1, 2));
        assert!(c.cloud.is_empty());
        assert_eq!(c.vv.get(&1), Some(&3));
        assert_eq!(c.next_dot(1), Ok(dot(1, 4)));
    }

    #[test]
    fn next_dot_skips_past_the_cloud() {
        let mut c = CausalContext::new();
        c.insert(dot(7, 5));
        assert_eq!(c.next_dot(7), Ok(dot(7, 6)));
        assert_eq!(c.next_dot(8), Ok(dot(8, 1)));
    }

    #[test]
    fn exhausted_dot_space_is_an_error() {
        let mut c = CausalContext::new();
        c.insert(dot(1, u64::MAX));
        assert_eq!(c.next_dot(1), Err(Error::Overflow));
    }

    #[test]
    fn decoding_normalises_to_canonical_form() {
        let mut vv = BTreeMap::new();
        vv.insert(1, 2);
        vv.insert(2, 0);
        let cloud: BTreeSet<Dot> = [dot(1, 1), dot(1, 3), dot(3, 2)].into_iter().collect();
        let c = CausalContext::from(ContextParts { vv, cloud });
        let mut expected = CausalContext::new();
        for d in [dot(1, 1), dot(1, 2), dot(1, 3), dot(3, 2)] {
            expected.insert(d);
        }
        assert_eq!(c, expected);
    }
}
