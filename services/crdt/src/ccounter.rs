//! Causal counter (the CCounter of the paper's reference library): a PN-counter built on
//! dots, so that it can sit inside an [`OrMap`](crate::OrMap) and be reset by removing its
//! key (an observed reset: concurrent increments survive).

use serde::{Deserialize, Serialize};

use crate::context::dot_range;
use crate::dotstore::DotFun;
use crate::{Causal, CausalContext, Error, ReplicaId};

/// Causal counter dot store: each replica's contribution is the value under its latest
/// dot; an increment moves it to a fresh dot. Use as `Causal<CCounter>` or in an `OrMap`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CCounter(DotFun<i64>);

impl CCounter {
    /// The counter's value: the sum of all contributions (`i128`, cannot overflow).
    pub fn value(&self) -> i128 {
        self.0.0.values().map(|v| i128::from(*v)).sum()
    }

    /// Delta mutator: `replica` adds `n` (negative to decrement). The delta replaces the
    /// replica's current contribution by one under a fresh dot.
    pub fn inc(&self, ctx: &CausalContext, replica: ReplicaId, n: i64) -> Result<Causal<Self>, Error> {
        let dot = ctx.next_dot(replica)?;
        let mut delta_ctx = CausalContext::new();
        let mut base: i64 = 0;
        for (own, v) in self.0.0.range(dot_range(replica)) {
            delta_ctx.insert(*own);
            base = base.checked_add(*v).ok_or(Error::Overflow)?;
        }
        let value = base.checked_add(n).ok_or(Error::Overflow)?;
        delta_ctx.insert(dot);
        let mut store = CCounter::default();
        store.0.0.insert(dot, value);
        Ok(Causal::from_parts(store, delta_ctx))
    }
}

crate::dotstore::delegate_dot_store!([] CCounter);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lattice;

    #[test]
    fn increments_from_two_replicas_add_up() {
        let mut a: Causal<CCounter> = Causal::default();
        let mut b = a.clone();
        for _ in 0..3 {
            a.join(a.store().inc(a.context(), 1, 2).unwrap());
        }
        b.join(b.store().inc(b.context(), 2, -10).unwrap());
        let b_state = b.clone();
        b.join(a.clone());
        a.join(b_state);
        assert_eq!(a, b);
        assert_eq!(a.store().value(), -4);
        // One live dot per replica, however many increments.
        assert_eq!(a.store().0.0.len(), 2);
    }

    #[test]
    fn overflow_is_an_error() {
        let mut a: Causal<CCounter> = Causal::default();
        a.join(a.store().inc(a.context(), 1, i64::MAX).unwrap());
        assert_eq!(a.store().inc(a.context(), 1, 1), Err(Error::Overflow));
    }
}
