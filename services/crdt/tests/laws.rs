//! Property tests: for every CRDT type, `join` is commutative, associative and idempotent
//! on reachable states, deltas are inflations, and postcard encoding round-trips.
//! States come from three replicas running random operations with random full-state syncs.

mod common;

use common::Model;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tileos_crdt::{from_bytes, to_bytes};

/// (replica, code, arg, sync-to): run op `code/arg` at `replica`, then, if `sync-to` < 3,
/// join that replica's state into replica `sync-to`.
type Step = (u8, u8, u8, u8);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((0u8..3, any::<u8>(), any::<u8>(), 0u8..6), 0..40)
}

fn check_laws<T: Model>(script: Vec<Step>) -> Result<(), TestCaseError> {
    let mut r: Vec<T> = vec![T::default(); 3];
    for (replica, code, arg, sync) in script {
        let i = usize::from(replica);
        let delta = T::op(&r[i], u64::from(replica), code, arg);
        // A delta mutator is an inflation that r[i] ⊔ d reaches: d ⊑ r[i] ⊔ d.
        let before = r[i].clone();
        r[i].join(delta.clone());
        prop_assert!(r[i].includes(&delta) && r[i].includes(&before));
        if let Some(j) = [0, 1, 2].get(usize::from(sync)) {
            let from = r[i].clone();
            r[*j].join(from);
        }
    }
    let (a, b, c) = (&r[0], &r[1], &r[2]);
    let join = |x: &T, y: &T| {
        let mut z = x.clone();
        z.join(y.clone());
        z
    };
    prop_assert_eq!(join(a, b), join(b, a), "commutativity");
    prop_assert_eq!(join(&join(a, b), c), join(a, &join(b, c)), "associativity");
    prop_assert_eq!(join(a, a), a.clone(), "idempotence");
    prop_assert_eq!(join(a, &T::default()), a.clone(), "bottom is the identity");
    for x in [a, b, c] {
        let back: T = from_bytes(&to_bytes(x).unwrap()).unwrap();
        prop_assert_eq!(&back, x, "postcard round trip");
    }
    Ok(())
}

for_every_type!(256, check_laws, script in steps());
