//! Add-wins observed-remove set (the paper's AWORSet, a DotMap of DotSets):
//! a remove deletes only the adds it has observed, so a concurrent add survives.

use serde::{Deserialize, Serialize};

use crate::dotstore::{DotMap, DotSet};
use crate::{Causal, CausalContext, DotStore, Error, ReplicaId};

/// Add-wins set dot store: each element maps to the dots of the adds that keep it alive.
/// Use it as `Causal<AwSet<E>>`, or embedded in an [`OrMap`](crate::OrMap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AwSet<E: Ord>(DotMap<E, DotSet>);

impl<E: Ord> Default for AwSet<E> {
    fn default() -> Self {
        AwSet(DotMap::default())
    }
}

impl<E: Ord> AwSet<E> {
    /// Whether `element` is in the set.
    pub fn contains(&self, element: &E) -> bool {
        self.0.0.contains_key(element)
    }

    /// The elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &E> {
        self.0.0.keys()
    }

    /// Delta mutator: `replica` adds `element` with a fresh dot, replacing the element's
    /// older dots. `ctx` is the context of the state holding this store.
    pub fn add(&self, ctx: &CausalContext, replica: ReplicaId, element: E) -> Result<Causal<Self>, Error> {
        let dot = ctx.next_dot(replica)?;
        let mut delta_ctx = self.element_dots(&element);
        delta_ctx.insert(dot);
        let mut store = AwSet::default();
        store.0.0.insert(element, DotSet([dot].into_iter().collect()));
        Ok(Causal::from_parts(store, delta_ctx))
    }

    /// Delta mutator: removes `element` as observed here (its current dots).
    pub fn remove(&self, element: &E) -> Causal<Self> {
        Causal::from_parts(AwSet::default(), self.element_dots(element))
    }

    /// Delta mutator: removes every element observed here.
    pub fn clear(&self) -> Causal<Self> {
        let mut ctx = CausalContext::new();
        self.dots_into(&mut ctx);
        Causal::from_parts(AwSet::default(), ctx)
    }

    fn element_dots(&self, element: &E) -> CausalContext {
        let mut ctx = CausalContext::new();
        if let Some(dots) = self.0.0.get(element) {
            dots.dots_into(&mut ctx);
        }
        ctx
    }
}

crate::dotstore::delegate_dot_store!([E: Ord] AwSet<E>);

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::Lattice;

    #[test]
    fn concurrent_add_wins_over_remove() {
        let mut a: Causal<AwSet<&str>> = Causal::default();
        a.join(a.store().add(a.context(), 1, "x").unwrap());
        let mut b = a.clone();
        let remove = a.store().remove(&"x");
        a.join(remove.clone());
        assert!(!a.store().contains(&"x"));
        let add = b.store().add(b.context(), 2, "x").unwrap();
        b.join(add.clone());
        a.join(add);
        b.join(remove);
        assert_eq!(a, b);
        assert!(a.store().contains(&"x"));
    }

    #[test]
    fn clear_removes_only_what_was_observed() {
        let mut a: Causal<AwSet<u8>> = Causal::default();
        for e in 0..4 {
            a.join(a.store().add(a.context(), 1, e).unwrap());
        }
        let mut b: Causal<AwSet<u8>> = Causal::default();
        let unseen = b.store().add(b.context(), 2, 9).unwrap();
        b.join(unseen.clone());
        a.join(a.store().clear());
        a.join(unseen);
        assert_eq!(a.store().elements().copied().collect::<Vec<_>>(), [9]);
    }
}
