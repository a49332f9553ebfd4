//! Observed-remove map (the paper's ORMap): keys to embedded dot stores that share the
//! map's causal context, so a key's value is any causal CRDT here (including another map)
//! and removing a key removes exactly the observed dots beneath it.

use serde::{Deserialize, Serialize};

use crate::dotstore::DotMap;
use crate::{Causal, CausalContext, DotStore, Error};

/// Observed-remove map dot store. Use as `Causal<OrMap<K, S>>` with `S` one of
/// [`MvReg`](crate::MvReg), [`AwSet`](crate::AwSet), [`CCounter`](crate::CCounter) or
/// another `OrMap`. A key is present while its embedded store holds a dot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrMap<K: Ord, S>(DotMap<K, S>);

impl<K: Ord, S> Default for OrMap<K, S> {
    fn default() -> Self {
        OrMap(DotMap::default())
    }
}

impl<K: Ord, S: DotStore> OrMap<K, S> {
    /// The embedded store under `key`, if the key is present.
    pub fn get(&self, key: &K) -> Option<&S> {
        self.0.0.get(key)
    }

    /// The present keys and their stores, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &S)> {
        self.0.0.iter()
    }

    /// Delta mutator: applies the embedded delta mutator `f` to the value under `key`
    /// (the bottom if absent), with the map's context `ctx`, and wraps its delta.
    /// Example: `m.apply(ctx, k, |s, c| s.add(c, me, x))` for an `OrMap<K, AwSet<E>>`.
    pub fn apply<F>(&self, ctx: &CausalContext, key: K, f: F) -> Result<Causal<Self>, Error>
    where
        F: FnOnce(&S, &CausalContext) -> Result<Causal<S>, Error>,
    {
        let bottom = S::default();
        let (inner, delta_ctx) = f(self.0.0.get(&key).unwrap_or(&bottom), ctx)?.into_parts();
        let mut store = OrMap::default();
        if !inner.is_empty() {
            store.0.0.insert(key, inner);
        }
        Ok(Causal::from_parts(store, delta_ctx))
    }

    /// Delta mutator: removes `key` as observed here (all dots beneath it).
    pub fn remove(&self, key: &K) -> Causal<Self> {
        let mut ctx = CausalContext::new();
        if let Some(value) = self.0.0.get(key) {
            value.dots_into(&mut ctx);
        }
        Causal::from_parts(OrMap::default(), ctx)
    }
}

impl<K: Ord, S: DotStore> DotStore for OrMap<K, S> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn dots_into(&self, ctx: &mut CausalContext) {
        self.0.dots_into(ctx)
    }

    fn causal_join(&mut self, ctx: &CausalContext, other: Self, other_ctx: &CausalContext) {
        self.0.causal_join(ctx, other.0, other_ctx)
    }

    fn well_formed(&self, ctx: &CausalContext) -> bool {
        self.0.well_formed(ctx)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::{AwSet, CCounter, Lattice};

    type Tags = Causal<OrMap<u8, AwSet<u8>>>;

    #[test]
    fn nested_adds_and_observed_key_removal() {
        let mut a = Tags::default();
        a.join(a.store().apply(a.context(), 1, |s, c| s.add(c, 1, 10)).unwrap());
        let mut b = a.clone();
        // a removes key 1 while b concurrently adds another element under it.
        let rm = a.store().remove(&1);
        a.join(rm.clone());
        assert!(a.store().get(&1).is_none());
        let add = b.store().apply(b.context(), 1, |s, c| s.add(c, 2, 20)).unwrap();
        b.join(add.clone());
        a.join(add);
        b.join(rm);
        assert_eq!(a, b);
        let left: Vec<u8> = a.store().get(&1).unwrap().elements().copied().collect();
        assert_eq!(left, [20]);
    }

    #[test]
    fn maps_nest() {
        let mut m: Causal<OrMap<u8, OrMap<u8, CCounter>>> = Causal::default();
        let d = m.store().apply(m.context(), 1, |inner, c| inner.apply(c, 2, |ctr, c| ctr.inc(c, 7, 5))).unwrap();
        m.join(d);
        let value = m.store().get(&1).and_then(|i| i.get(&2)).map(CCounter::value);
        assert_eq!(value, Some(5));
        assert_eq!(m.store().iter().count(), 1);
    }

    #[test]
    fn removing_an_inner_element_that_empties_the_key_drops_it() {
        let mut a = Tags::default();
        a.join(a.store().apply(a.context(), 1, |s, c| s.add(c, 1, 10)).unwrap());
        let rm = a.store().apply(a.context(), 1, |s, _| Ok(s.remove(&10))).unwrap();
        assert!(rm.store().get(&1).is_none());
        a.join(rm);
        assert!(a.store().get(&1).is_none());
        assert_eq!(a.store().iter().count(), 0);
    }
}
