//! Rules at their edges (found by mutation testing, docs/research.md, "Mutation testing"):
//! what anti-entropy ships after an acknowledgement and after a restart, the
//! last-writer-wins register's writer, how a join decides between two values under one
//! dot (only hostile peers send such states) and that decoding refuses a register whose
//! dots are outside its context, the canonical form of a causal context, and the shape of
//! the benchmark's workload.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;

use tileos_crdt::bench::{BenchSet, awset_deltas};
use tileos_crdt::{
    CCounter, Causal, CausalContext, Dot, Error, GCounter, Lattice, LwwRegister, Message, MvReg, Node, OrMap, from_bytes, to_bytes,
};

fn dot(replica: u64, counter: u64) -> Dot {
    Dot { replica, counter: NonZeroU64::new(counter).unwrap() }
}

/// Ships from `from` to `to` and carries the acknowledgement back; returns what was shipped.
fn exchange(from: &mut Node<GCounter>, to: &mut Node<GCounter>) -> Option<Message<GCounter>> {
    let shipped = from.ship(to.id()).unwrap();
    if let Some(message) = shipped.clone()
        && let Some(ack) = to.receive(from.id(), message).unwrap()
    {
        from.receive(to.id(), ack).unwrap();
    }
    shipped
}

#[test]
fn after_an_acknowledgement_only_the_new_deltas_are_shipped() {
    let mut a: Node<GCounter> = Node::new(1, [2]);
    let mut b: Node<GCounter> = Node::new(2, [1]);
    b.update(|x| x.inc(2, 5)).unwrap();
    exchange(&mut b, &mut a);
    // a buffered b's delta; shipping it back is acknowledged, and a collects it.
    exchange(&mut a, &mut b);
    a.gc();
    assert_eq!(a.buffered(), 0);
    a.update(|x| x.inc(1, 1)).unwrap();
    // The interval is a's new delta alone, not a's whole state (which holds b's 5 too).
    let shipped = a.ship(2).unwrap();
    let alone = GCounter::default().inc(1, 1).unwrap();
    assert_eq!(shipped, Some(Message::Delta { delta: alone, seq: 2 }));
    assert_eq!(a.state().value(), 6);
}

#[test]
fn a_restarted_node_ships_its_whole_state_even_after_new_updates() {
    let mut a: Node<GCounter> = Node::new(1, [2]);
    let mut b: Node<GCounter> = Node::new(2, [1]);
    b.update(|x| x.inc(2, 5)).unwrap();
    exchange(&mut b, &mut a);
    a.update(|x| x.inc(1, 1)).unwrap();
    exchange(&mut a, &mut b);
    a.gc();
    assert_eq!((a.buffered(), a.seq()), (0, 2));
    let mut a = Node::restore(1, [2], a.state().clone(), a.seq());
    // After the restart the buffer starts past what b has acknowledged (nothing, as far as
    // a knows), so the interval would miss the deltas before the crash (b's 5 among them):
    // a ships its whole state.
    a.update(|x| x.inc(1, 1)).unwrap();
    assert_eq!((a.buffered(), a.seq()), (1, 3));
    let shipped = a.ship(2).unwrap();
    assert_eq!(shipped, Some(Message::Delta { delta: a.state().clone(), seq: 3 }));
    assert_eq!(a.state().value(), 7);
}

#[test]
fn the_register_names_the_writer_that_won() {
    let r = LwwRegister::default();
    assert_eq!(r.writer(), None);
    let mut x = r.set(3, 10, "a").unwrap();
    x.join(r.set(2, 10, "b").unwrap());
    assert_eq!((x.writer(), x.get()), (Some(3), Some(&"a")));
    x.join(r.set(1, 11, "c").unwrap());
    assert_eq!((x.writer(), x.get(), x.timestamp()), (Some(1), Some(&"c"), Some(11)));
}

type Register = Causal<MvReg<u8>>;

/// A register state as a peer might send it: values under dots, and a context.
fn register(values: &[(Dot, u8)], seen: &[Dot]) -> Result<Register, Error> {
    let store: BTreeMap<Dot, u8> = values.iter().copied().collect();
    let mut ctx = CausalContext::new();
    seen.iter().for_each(|d| ctx.insert(*d));
    from_bytes(&to_bytes(&(store, ctx)).unwrap())
}

#[test]
fn two_values_under_one_dot_join_to_the_larger_in_either_order() {
    let d = dot(1, 1);
    let small = register(&[(d, 3)], &[d]).unwrap();
    let large = register(&[(d, 7)], &[d]).unwrap();
    for (mut x, y) in [(small.clone(), large.clone()), (large.clone(), small.clone())] {
        x.join(y);
        assert_eq!(x, large);
        assert_eq!(x.store().values().copied().collect::<Vec<_>>(), [7]);
    }
}

#[test]
fn a_register_whose_dots_are_outside_its_context_is_refused() {
    assert!(matches!(register(&[(dot(1, 2), 1)], &[dot(1, 1)]), Err(Error::Decode(_))));
    assert!(matches!(register(&[(dot(1, 1), 1), (dot(2, 1), 2)], &[dot(1, 1)]), Err(Error::Decode(_))));
    assert!(register(&[(dot(1, 1), 1), (dot(2, 1), 2)], &[dot(1, 1), dot(2, 1)]).is_ok());
}

/// The context holding exactly `dots`, each inserted once, in order.
fn context(dots: &[Dot]) -> CausalContext {
    let mut ctx = CausalContext::new();
    dots.iter().for_each(|d| ctx.insert(*d));
    ctx
}

#[test]
fn a_dot_seen_again_leaves_the_context_as_it_was() {
    let once = context(&[dot(1, 1), dot(1, 2), dot(1, 4)]);
    for again in [dot(1, 1), dot(1, 2), dot(1, 4)] {
        let mut twice = once.clone();
        twice.insert(again);
        assert_eq!(twice, once, "{again:?}");
    }
}

#[test]
fn joining_a_context_whose_cloud_the_version_vector_covers_changes_nothing() {
    let covered = context(&[dot(1, 1), dot(1, 2), dot(2, 3)]);
    // The other side saw (1,2) and (2,3) without their predecessors: both in its cloud.
    for other in [context(&[dot(1, 2)]), context(&[dot(2, 3)]), context(&[dot(1, 2), dot(2, 3)])] {
        let mut joined = covered.clone();
        joined.join(other);
        assert_eq!(joined, covered);
    }
}

/// The workload as its documentation states it, computed without the CRDT: replica `r`'s
/// operation `o` touches element `(7r + o) mod 64`; every fourth operation removes the
/// element before it (as replica `r` has seen it), the others add theirs. Add-wins, and a
/// replica sees only its own adds, so the merged set is the union of the replicas' sets.
#[test]
fn the_benchmark_workload_is_the_documented_one() {
    let (replicas, ops) = (3u64, 80u32);
    let deltas = awset_deltas(replicas, ops).unwrap();
    assert_eq!(deltas.len(), 240);
    let mut expected = BTreeSet::new();
    let mut merged = BenchSet::default();
    for (i, delta) in deltas.into_iter().enumerate() {
        let (r, o) = (i as u32 / ops, i as u32 % ops);
        let element = (7 * r + o) % 64;
        let elements: Vec<u32> = delta.store().elements().copied().collect();
        if o % 4 == 3 {
            assert_eq!(elements, [], "op {o} of replica {r} removes");
        } else {
            assert_eq!(elements, [element], "op {o} of replica {r} adds");
        }
        merged.join(delta);
    }
    for r in 0..replicas as u32 {
        let mut local = BTreeSet::new();
        for o in 0..ops {
            let element = (7 * r + o) % 64;
            if o % 4 == 3 {
                local.remove(&element.wrapping_sub(1));
            } else {
                local.insert(element);
            }
        }
        expected.extend(local);
    }
    assert_eq!(merged.store().elements().copied().collect::<BTreeSet<_>>(), expected);
}

#[test]
fn removing_a_key_of_registers_or_counters_drops_it() {
    let mut registers: Causal<OrMap<u8, MvReg<u8>>> = Causal::default();
    registers.join(registers.store().apply(registers.context(), 1, |v, c| v.write(c, 1, 5)).unwrap());
    registers.join(registers.store().remove(&1));
    assert!(registers.store().get(&1).is_none());
    assert_eq!(registers.store().iter().count(), 0);
    let mut counters: Causal<OrMap<u8, CCounter>> = Causal::default();
    counters.join(counters.store().apply(counters.context(), 2, |v, c| v.inc(c, 1, 3)).unwrap());
    counters.join(counters.store().remove(&2));
    assert!(counters.store().get(&2).is_none());
    assert_eq!(counters.store().iter().count(), 0);
}

/// A map of maps: removing the outer key removes the dots beneath the inner map (its
/// `dots_into`), and an inner map emptied by its last key's removal is not kept under the
/// outer key (its `is_empty`).
#[test]
fn a_map_nested_in_a_map_is_removed_and_emptied_like_any_value() {
    type Nested = Causal<OrMap<u8, OrMap<u8, CCounter>>>;
    let bump = |m: &Nested, outer: u8, inner: u8| {
        m.store().apply(m.context(), outer, |map, c| map.apply(c, inner, |counter, c| counter.inc(c, 7, 1))).unwrap()
    };
    let mut removed: Nested = Causal::default();
    removed.join(bump(&removed, 1, 2));
    let delta = removed.store().remove(&1);
    assert_eq!(delta.context().clone(), removed.context().clone(), "the removal covers every dot under key 1");
    removed.join(delta);
    assert!(removed.store().get(&1).is_none());
    assert_eq!(removed.store().iter().count(), 0);

    let mut emptied: Nested = Causal::default();
    emptied.join(bump(&emptied, 1, 2));
    let delta = emptied.store().apply(emptied.context(), 1, |map, _| Ok(map.remove(&2))).unwrap();
    assert!(delta.store().get(&1).is_none(), "an emptied inner map is not shipped as a value");
    emptied.join(delta);
    assert!(emptied.store().get(&1).is_none());
    assert_eq!(emptied.store().iter().count(), 0);
}
