//! Decoding untrusted bytes: malformed states are rejected, arbitrary well-formed (not
//! necessarily reachable) states still obey the join laws, and nothing panics, including
//! at the edge of the dot counter space.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;

use proptest::prelude::*;
use tileos_crdt::{AwSet, CCounter, Causal, CausalContext, Dot, Error, Lattice, Message, OrMap, from_bytes, to_bytes};

type Set = Causal<AwSet<u8>>;
type Raw = (BTreeMap<u8, BTreeSet<Dot>>, CausalContext);

fn dot(replica: u64, counter: u64) -> Dot {
    Dot { replica, counter: NonZeroU64::new(counter).unwrap() }
}

#[test]
fn store_dots_outside_the_context_are_rejected() {
    let store = BTreeMap::from([(1u8, BTreeSet::from([dot(1, 1)]))]);
    let bytes = to_bytes(&(store, CausalContext::new())).unwrap();
    assert!(matches!(from_bytes::<Set>(&bytes), Err(Error::Decode(_))));
}

#[test]
fn empty_nested_entries_are_rejected() {
    let store: BTreeMap<u8, BTreeMap<u8, BTreeSet<Dot>>> = BTreeMap::from([(1, BTreeMap::new())]);
    let bytes = to_bytes(&(store, CausalContext::new())).unwrap();
    assert!(from_bytes::<Causal<OrMap<u8, AwSet<u8>>>>(&bytes).is_err());
}

#[test]
fn zero_dot_counters_and_trailing_bytes_are_rejected() {
    // A dot is (replica varint, counter varint); counter 0 is not a dot.
    assert!(from_bytes::<Dot>(&[1, 0]).is_err());
    assert_eq!(from_bytes::<Dot>(&[1, 1]), Ok(dot(1, 1)));
    assert_eq!(from_bytes::<Dot>(&[1, 1, 0]), Err(Error::TrailingBytes));
}

fn counter() -> impl Strategy<Value = u64> {
    prop_oneof![1u64..8, Just(u64::MAX - 1), Just(u64::MAX)]
}

fn raw_dot() -> impl Strategy<Value = Dot> {
    (0u64..3, counter()).prop_map(|(r, c)| dot(r, c))
}

/// Arbitrary encoded AW-set states: a random context, and a store whose dots mostly come
/// from the context but now and then from anywhere.
fn raw_set() -> impl Strategy<Value = Raw> {
    let store_dot = (any::<prop::sample::Index>(), prop::bool::weighted(0.03), raw_dot());
    (prop::collection::vec(raw_dot(), 0..10), prop::collection::btree_map(0u8..4, prop::collection::vec(store_dot, 1..3), 0..4)).prop_map(
        |(seen, picks)| {
            let mut ctx = CausalContext::new();
            seen.iter().for_each(|d| ctx.insert(*d));
            let store = picks
                .into_iter()
                .map(|(e, dots)| {
                    let dots = dots.into_iter().map(|(i, stray, d)| match seen.is_empty() || stray {
                        true => d,
                        false => *i.get(&seen),
                    });
                    (e, dots.collect())
                })
                .collect();
            (store, ctx)
        },
    )
}

fn decode(raw: &Raw) -> Option<Set> {
    let bytes = to_bytes(raw).unwrap();
    let (store, ctx) = raw;
    let valid = store.values().all(|dots| !dots.is_empty() && dots.iter().all(|d| ctx.contains(d)));
    let decoded = from_bytes::<Set>(&bytes).ok();
    assert_eq!(decoded.is_some(), valid, "{raw:?}");
    decoded
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_states_decode_only_when_well_formed_and_obey_the_laws(
        a in raw_set(), b in raw_set(), c in raw_set(), e in 0u8..4, r in 0u64..3,
    ) {
        let (Some(a), Some(b), Some(c)) = (decode(&a), decode(&b), decode(&c)) else {
            return Ok(());
        };
        let join = |x: &Set, y: &Set| { let mut z = x.clone(); z.join(y.clone()); z };
        prop_assert_eq!(join(&a, &b), join(&b, &a));
        prop_assert_eq!(join(&join(&a, &b), &c), join(&a, &join(&b, &c)));
        prop_assert_eq!(join(&a, &a), a.clone());
        // Mutators on hostile states either work or report the exhausted dot space.
        match a.store().add(a.context(), r, e) {
            Ok(d) => prop_assert!(join(&a, &d).store().contains(&e)),
            Err(err) => prop_assert_eq!(err, Error::Overflow),
        }
        prop_assert!(!join(&a, &a.store().remove(&e)).store().contains(&e));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        type M = Message<Causal<OrMap<u8, CCounter>>>;
        if let Ok(Message::Delta { delta, .. }) = from_bytes::<M>(&bytes) {
            let mut state = Causal::<OrMap<u8, CCounter>>::default();
            state.join(delta);
            let _ = state.store().apply(state.context(), 0, |ctr, ctx| ctr.inc(ctx, 0, i64::MAX));
        }
    }
}
