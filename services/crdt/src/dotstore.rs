//! Dot stores and causal CRDTs (the paper's DotSet, DotFun, DotMap): a [`Causal`] state
//! is a dot store plus the [`CausalContext`] of everything its replica has seen, and the
//! join keeps a dot if both sides hold it, or if one side holds it and the other has
//! never seen it.
//! Seen-but-absent means removed, so removals need no tombstones.

use alloc::collections::{BTreeMap, BTreeSet};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{CausalContext, Dot, Lattice};

/// A store of dots that can be embedded in a [`Causal`] state or an [`OrMap`](crate::OrMap).
pub trait DotStore: Default {
    /// Whether the store holds no dot (it is then the bottom and is not kept in maps).
    fn is_empty(&self) -> bool;

    /// Adds every dot the store holds to `ctx` (the context of a delta that removes them).
    fn dots_into(&self, ctx: &mut CausalContext);

    /// The causal join `(self, ctx) ⊔ (other, other_ctx)` restricted to the store; the
    /// caller joins the contexts afterwards.
    fn causal_join(&mut self, ctx: &CausalContext, other: Self, other_ctx: &CausalContext);

    /// The invariants decoding checks: every dot is in `ctx`, and no nested value is empty.
    fn well_formed(&self, ctx: &CausalContext) -> bool;
}

/// Implements [`DotStore`] for a newtype over another dot store by delegating to field `.0`
/// (the add-wins set, the multi-value register and the causal counter are such wrappers).
macro_rules! delegate_dot_store {
    ([$($generics:tt)*] $wrapper:ty) => {
        impl<$($generics)*> $crate::dotstore::DotStore for $wrapper {
            fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            fn dots_into(&self, ctx: &mut $crate::context::CausalContext) {
                self.0.dots_into(ctx)
            }

            fn causal_join(&mut self, ctx: &$crate::context::CausalContext, other: Self, other_ctx: &$crate::context::CausalContext) {
                self.0.causal_join(ctx, other.0, other_ctx)
            }

            fn well_formed(&self, ctx: &$crate::context::CausalContext) -> bool {
                self.0.well_formed(ctx)
            }
        }
    };
}
pub(crate) use delegate_dot_store;

/// A causal CRDT state or delta: a dot store and its causal context, with every dot of the
/// store in the context. Mutators of the embedded store take the context and return a
/// new `Causal` delta, e.g. `let d = s.store().add(s.context(), me, x)?; s.join(d.clone());`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Causal<S> {
    store: S,
    ctx: CausalContext,
}

impl<S> Causal<S> {
    /// The dot store (the data).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The causal context (everything seen).
    pub fn context(&self) -> &CausalContext {
        &self.ctx
    }

    /// Builds a delta; callers in this crate guarantee the store's dots are in `ctx`.
    pub(crate) fn from_parts(store: S, ctx: CausalContext) -> Self {
        Causal { store, ctx }
    }

    /// Splits into store and context.
    pub(crate) fn into_parts(self) -> (S, CausalContext) {
        (self.store, self.ctx)
    }
}

impl<S: DotStore> Lattice for Causal<S> {
    fn join(&mut self, other: Self) {
        self.store.causal_join(&self.ctx, other.store, &other.ctx);
        self.ctx.join(other.ctx);
    }
}

impl<S: Serialize> Serialize for Causal<S> {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        (&self.store, &self.ctx).serialize(serializer)
    }
}

impl<'de, S: DotStore + Deserialize<'de>> Deserialize<'de> for Causal<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (store, ctx) = <(S, CausalContext)>::deserialize(deserializer)?;
        if store.well_formed(&ctx) {
            Ok(Causal { store, ctx })
        } else {
            Err(D::Error::custom("dot store not covered by its causal context"))
        }
    }
}

/// A set of dots (paper's DotSet): the payload of one add-wins set element.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DotSet(pub(crate) BTreeSet<Dot>);

impl DotStore for DotSet {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn dots_into(&self, ctx: &mut CausalContext) {
        self.0.iter().for_each(|d| ctx.insert(*d));
    }

    fn causal_join(&mut self, ctx: &CausalContext, other: Self, other_ctx: &CausalContext) {
        self.0.retain(|d| other.0.contains(d) || !other_ctx.contains(d));
        self.0.extend(other.0.into_iter().filter(|d| !ctx.contains(d)));
    }

    fn well_formed(&self, ctx: &CausalContext) -> bool {
        self.0.iter().all(|d| ctx.contains(d))
    }
}

/// Dots mapped to values (paper's DotFun). Each dot names one write, so a dot's value
/// never changes; if two peers disagree anyway, the larger value wins so joins stay
/// deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DotFun<V>(pub(crate) BTreeMap<Dot, V>);

impl<V> Default for DotFun<V> {
    fn default() -> Self {
        DotFun(BTreeMap::new())
    }
}

impl<V: Ord> DotStore for DotFun<V> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn dots_into(&self, ctx: &mut CausalContext) {
        self.0.keys().for_each(|d| ctx.insert(*d));
    }

    fn causal_join(&mut self, ctx: &CausalContext, other: Self, other_ctx: &CausalContext) {
        self.0.retain(|d, _| other.0.contains_key(d) || !other_ctx.contains(d));
        for (dot, value) in other.0 {
            match self.0.get_mut(&dot) {
                Some(mine) if value > *mine => *mine = value,
                Some(_) => {}
                None if !ctx.contains(&dot) => {
                    self.0.insert(dot, value);
                }
                None => {}
            }
        }
    }

    fn well_formed(&self, ctx: &CausalContext) -> bool {
        self.0.keys().all(|d| ctx.contains(d))
    }
}

/// Keys mapped to embedded dot stores sharing one context (paper's DotMap). Keys whose
/// store becomes empty are dropped, so the representation stays canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DotMap<K: Ord, S>(pub(crate) BTreeMap<K, S>);

impl<K: Ord, S> Default for DotMap<K, S> {
    fn default() -> Self {
        DotMap(BTreeMap::new())
    }
}

impl<K: Ord, S: DotStore> DotStore for DotMap<K, S> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn dots_into(&self, ctx: &mut CausalContext) {
        self.0.values().for_each(|s| s.dots_into(ctx));
    }

    fn causal_join(&mut self, ctx: &CausalContext, other: Self, other_ctx: &CausalContext) {
        let mut other = other.0;
        for (key, mine) in self.0.iter_mut() {
            mine.causal_join(ctx, other.remove(key).unwrap_or_default(), other_ctx);
        }
        for (key, theirs) in other {
            let mut value = S::default();
            value.causal_join(ctx, theirs, other_ctx);
            if !value.is_empty() {
                self.0.insert(key, value);
            }
        }
        self.0.retain(|_, v| !v.is_empty());
    }

    fn well_formed(&self, ctx: &CausalContext) -> bool {
        self.0.values().all(|s| !s.is_empty() && s.well_formed(ctx))
    }
}
