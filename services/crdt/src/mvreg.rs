//! Multi-value register (the paper's MVRegister): a write replaces every value its
//! replica has seen; concurrent writes are all kept until a later write supersedes them.

use serde::{Deserialize, Serialize};

use crate::dotstore::DotFun;
use crate::{Causal, CausalContext, DotStore, Error, ReplicaId};

/// Multi-value register dot store: each live value is tagged with the dot of its write.
/// Use it as `Causal<MvReg<V>>`, or embedded in an [`OrMap`](crate::OrMap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MvReg<V>(DotFun<V>);

impl<V> Default for MvReg<V> {
    fn default() -> Self {
        MvReg(DotFun::default())
    }
}

impl<V> MvReg<V> {
    /// The concurrent values, in dot order (one value unless writes were concurrent).
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.0.values()
    }
}

impl<V: Ord> MvReg<V> {
    /// Delta mutator: `replica` writes `value`, superseding every value in this store.
    /// `ctx` is the context of the state holding this store.
    pub fn write(&self, ctx: &CausalContext, replica: ReplicaId, value: V) -> Result<Causal<Self>, Error> {
        let dot = ctx.next_dot(replica)?;
        let mut delta_ctx = CausalContext::new();
        self.dots_into(&mut delta_ctx);
        delta_ctx.insert(dot);
        let mut store = MvReg::default();
        store.0.0.insert(dot, value);
        Ok(Causal::from_parts(store, delta_ctx))
    }
}

crate::dotstore::delegate_dot_store!([V: Ord] MvReg<V>);

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::Lattice;

    #[test]
    fn concurrent_writes_are_kept_then_superseded() {
        let mut a: Causal<MvReg<u32>> = Causal::default();
        let mut b = a.clone();
        let da = a.store().write(a.context(), 1, 10).unwrap();
        a.join(da.clone());
        let db = b.store().write(b.context(), 2, 20).unwrap();
        b.join(db.clone());
        a.join(db);
        b.join(da);
        assert_eq!(a, b);
        assert_eq!(a.store().values().copied().collect::<Vec<_>>(), [10, 20]);
        let d = a.store().write(a.context(), 1, 30).unwrap();
        a.join(d.clone());
        b.join(d);
        assert_eq!(b.store().values().copied().collect::<Vec<_>>(), [30]);
    }
}
