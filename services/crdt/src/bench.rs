//! A deterministic workload for a host benchmark of "delta merges per second": several
//! replicas mutate an add-wins set (adds with observed removes), each mutation yields one
//! delta, and [`merge_all`] folds all deltas into one state. No timing happens here;
//! `examples/merge_rate.rs` times it.

use alloc::vec::Vec;

use crate::{AwSet, Causal, Error, Lattice};

/// The benchmark's state type.
pub type BenchSet = Causal<AwSet<u32>>;

/// The deltas of `replicas` replicas doing `ops_per_replica` operations each, replica by
/// replica: operation `o` of replica `r` touches element `(7r + o) mod 64`, a window shared
/// with the other replicas; every fourth operation removes the element before it as observed
/// locally (instead of adding), the others add theirs.
pub fn awset_deltas(replicas: u64, ops_per_replica: u32) -> Result<Vec<BenchSet>, Error> {
    let mut deltas = Vec::new();
    for replica in 0..replicas {
        let mut state = BenchSet::default();
        for op in 0..ops_per_replica {
            let element = (replica as u32).wrapping_mul(7).wrapping_add(op) % 64;
            let delta = if op % 4 == 3 {
                state.store().remove(&element.wrapping_sub(1))
            } else {
                state.store().add(state.context(), replica, element)?
            };
            state.join(delta.clone());
            deltas.push(delta);
        }
    }
    Ok(deltas)
}

/// Joins every delta, in order, into the bottom state: `deltas.len()` delta merges.
pub fn merge_all(deltas: Vec<BenchSet>) -> BenchSet {
    let mut state = BenchSet::default();
    for delta in deltas {
        state.join(delta);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_workload_equals_the_replicas_joined() {
        let deltas = awset_deltas(3, 40).unwrap();
        assert_eq!(deltas.len(), 120);
        let mut reversed = deltas.clone();
        reversed.reverse();
        let merged = merge_all(deltas);
        assert_eq!(merged, merge_all(reversed));
        assert!(merged.store().elements().count() > 0);
    }
}
