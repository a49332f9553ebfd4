//! Host tests of restartable deletion and revocation: every step stays within its bound,
//! the total work is linear, the intermediate states are sound, and running the steps to
//! the end leaves the state the one-pass code (kept in `reference.rs`) left.

use super::tests::{TestMemory, check_cdt};
use super::*;
use crate::cap::Cap;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};
use tileos_abi::object::Rights;

/// Slot accesses one unit of work may take (reads and writes, counted by [`TestMemory`]),
/// and the fixed cost of a step (looking at its target, the final check).
const ACCESSES_PER_UNIT: u64 = 32;
const ACCESSES_PER_STEP: u64 = 24;

const HOLDER: u64 = 0x10_0000;

fn cnode(paddr: u64, radix: u8) -> Cap {
    Cap::CNode { paddr, radix, guard_bits: 0, guard: 0 }
}

fn endpoint(paddr: u64) -> Cap {
    Cap::Endpoint { paddr, badge: 0, rights: Rights::ALL }
}

/// What a run of steps cost.
#[derive(Debug, Default)]
struct Cost {
    steps: u64,
    /// Most slot accesses in one step.
    worst_step: u64,
    /// Slot accesses in all.
    total: u64,
}

impl Cost {
    fn record(&mut self, accesses: u64, budget: u64) {
        self.steps += 1;
        self.total += accesses;
        self.worst_step = self.worst_step.max(accesses);
        assert!(
            accesses <= budget.saturating_mul(ACCESSES_PER_UNIT).saturating_add(ACCESSES_PER_STEP),
            "a step of {budget} units took {accesses} slot accesses"
        );
    }
}

/// Deletes `at` in steps of `budget` units, checking each step's bound (and, if `check`,
/// the CDT after every step).
fn delete_in_steps(memory: &mut TestMemory, at: SlotRef, budget: u64, check: bool) -> Cost {
    let mut cost = Cost::default();
    let mut anchor = at;
    loop {
        let before = memory.accesses.get();
        let mut work = Work::new(budget);
        let progress = delete_step(memory, anchor, SlotRef::NONE, &mut work).expect("no deletion in progress elsewhere");
        cost.record(memory.accesses.get() - before, budget);
        if check {
            check_cdt(memory);
        }
        match progress {
            Progress::Done => return cost,
            Progress::Preempted { anchor: next } => anchor = next,
        }
    }
}

fn revoke_in_steps(memory: &mut TestMemory, at: SlotRef, budget: u64, check: bool) -> Cost {
    let mut cost = Cost::default();
    loop {
        let before = memory.accesses.get();
        let progress = revoke_step(memory, at, &mut Work::new(budget)).expect("no deletion in progress elsewhere");
        cost.record(memory.accesses.get() - before, budget);
        if check {
            check_cdt(memory);
        }
        if progress == Progress::Done {
            return cost;
        }
    }
}

/// The occupied slots (capability, links, revocable), the derivation relation between
/// neighbours, and the finalisations (sorted; CNode guards dropped, since a destroyed CNode
/// is finalised as created), which must agree between the stepped and the one-pass code.
/// (`first_badged` flags may differ: the one-pass code set them on every copy after a
/// removed first-badged capability, the steps only on the next one; the derivation
/// relation they decide is compared instead.)
fn outcome(memory: &TestMemory) -> (Vec<String>, Vec<String>) {
    let mut slots: Vec<(SlotRef, Slot)> = memory.slots.iter().filter(|(_, s)| s.cap != Cap::Null).map(|(a, s)| (*a, *s)).collect();
    slots.sort_by_key(|(at, _)| *at);
    let mut state: Vec<String> = slots
        .iter()
        .map(|(at, s)| {
            let child = s.next != SlotRef::NONE && is_parent_of(s, &memory.read(s.next));
            format!(
                "{at:#x}: {:?} prev {:#x} next {:#x} revocable {} parent-of-next {child} detached {}",
                s.cap, s.prev, s.next, s.revocable, s.detached
            )
        })
        .collect();
    state.sort();
    let mut finalised: Vec<String> = memory
        .finalised
        .iter()
        .map(|(cap, last)| {
            let cap = match *cap {
                Cap::CNode { paddr, radix, .. } => cnode(paddr, radix),
                other => other,
            };
            format!("{cap:?} {last}")
        })
        .collect();
    finalised.sort();
    (state, finalised)
}

/// Deletes `at` in a clone with the one-pass reference code and in steps of each budget;
/// all must end alike. Returns the cost of the smallest budget.
fn compare_delete(memory: &TestMemory, at: SlotRef, budgets: &[u64]) -> Cost {
    let mut expected = memory.clone();
    reference::delete(&mut expected, at);
    let expected = outcome(&expected);
    let mut first = None;
    for &budget in budgets {
        let mut stepped = memory.clone();
        let cost = delete_in_steps(&mut stepped, at, budget, false);
        check_cdt(&stepped);
        assert_eq!(outcome(&stepped), expected, "delete in steps of {budget} units");
        first.get_or_insert(cost);
    }
    first.unwrap()
}

fn compare_revoke(memory: &TestMemory, at: SlotRef, budgets: &[u64]) -> Cost {
    let mut expected = memory.clone();
    reference::revoke(&mut expected, at);
    let expected = outcome(&expected);
    let mut first = None;
    for &budget in budgets {
        let mut stepped = memory.clone();
        let cost = revoke_in_steps(&mut stepped, at, budget, false);
        check_cdt(&stepped);
        assert_eq!(outcome(&stepped), expected, "revoke in steps of {budget} units");
        first.get_or_insert(cost);
    }
    first.unwrap()
}

/// A chain of `depth` radix-1 CNodes: the holder slot has the only capability to the
/// first, each holds the only capability to the next in `link_index` and an endpoint in the
/// other slot. Returns the holder slot.
fn chain(memory: &mut TestMemory, depth: u64, link_index: u64) -> SlotRef {
    let level = |i: u64| 0x100_0000 + i * 128;
    let holder = slot_address(HOLDER, 0);
    insert_root(memory, holder, cnode(level(0), 1));
    for i in 0..depth {
        if i + 1 < depth {
            insert_root(memory, slot_address(level(i), link_index), cnode(level(i + 1), 1));
        }
        insert_root(memory, slot_address(level(i), 1 - link_index), endpoint(0x4000_0000 + i * 32));
    }
    holder
}

#[test]
fn a_2048_deep_chain_is_deleted_in_bounded_steps_with_linear_work() {
    for link_index in [0, 1] {
        let mut memory = TestMemory::default();
        let holder = chain(&mut memory, 2048, link_index);
        let cost = compare_delete(&memory, holder, &[KERNEL_STEP_WORK, 1, 7, u64::MAX]);
        // 4096 slots and 2048 objects: a few units each, never a walk back down the chain.
        assert!(cost.total < 2048 * 3 * ACCESSES_PER_UNIT, "total work {} is not linear", cost.total);
        assert!(cost.steps >= 2048 * 3 / KERNEL_STEP_WORK, "{} steps: the bound was not applied", cost.steps);
    }
    // The one-pass code walked back down the chain for every object: quadratic.
    let mut memory = TestMemory::default();
    let holder = chain(&mut memory, 2048, 1);
    reference::delete(&mut memory, holder);
    assert!(memory.accesses.get() > 2048 * 2048, "the reference is the quadratic code");
}

#[test]
fn intermediate_states_of_a_chain_deletion_are_sound() {
    let mut memory = TestMemory::default();
    let holder = chain(&mut memory, 64, 1);
    let cost = delete_in_steps(&mut memory, holder, 3, true);
    assert!(cost.steps > 64);
    assert_eq!(memory.slots.values().filter(|s| s.cap != Cap::Null).count(), 0);
    // Every CNode was finalised once, after it was emptied, as the last capability.
    let cnodes = memory.finalised.iter().filter(|(c, last)| matches!(c, Cap::CNode { .. }) && *last).count();
    assert_eq!(cnodes, 64);
}

#[test]
fn a_wide_cnode_is_emptied_in_bounded_steps() {
    let mut memory = TestMemory::default();
    let wide = 0x200_0000;
    let holder = slot_address(HOLDER, 0);
    insert_root(&mut memory, holder, cnode(wide, 12));
    // 4096 slots: copies of endpoints whose originals live elsewhere, last capabilities to
    // endpoints, small CNodes holding more, and empty slots.
    for index in 0..4096u64 {
        let at = slot_address(wide, index);
        match index % 4 {
            0 => {
                let original = slot_address(0x300_0000, index);
                insert_root(&mut memory, original, endpoint(0x5000_0000 + index * 32));
                insert_derived(&mut memory, original, at, endpoint(0x5000_0000 + index * 32), false);
            }
            1 => insert_root(&mut memory, at, endpoint(0x6000_0000 + index * 32)),
            2 if index % 64 == 2 => {
                let inner = 0x400_0000 + index * 256;
                insert_root(&mut memory, at, cnode(inner, 2));
                insert_root(&mut memory, slot_address(inner, 3), endpoint(0x7000_0000 + index * 32));
            }
            _ => {}
        }
    }
    let cost = compare_delete(&memory, holder, &[KERNEL_STEP_WORK, 5]);
    assert!(cost.steps >= 4096 / KERNEL_STEP_WORK);
}

#[test]
fn revoking_many_descendants_is_bounded_per_step() {
    let mut memory = TestMemory::default();
    let untyped = Cap::Untyped { paddr: 0x1000_0000, size_bits: 24, device: false, free_offset: 1 << 24, prepared_to: 0, prepared_kind: 0 };
    let root = slot_address(HOLDER, 0);
    insert_root(&mut memory, root, untyped);
    // 3000 objects retyped from it: endpoints with copies, and CNodes holding capabilities
    // (some the last ones to further CNodes) placed in one another.
    let dest = |i: u64| slot_address(0x800_0000, i);
    for i in 0..3000u64 {
        let paddr = 0x1000_0000 + i * 0x1000;
        if i % 3 == 0 {
            insert_derived(&mut memory, root, dest(i), cnode(paddr, 2), true);
            insert_root(&mut memory, slot_address(paddr, 1), endpoint(0x7000_0000 + i * 32));
        } else {
            insert_derived(&mut memory, root, dest(i), endpoint(paddr), true);
            insert_derived(&mut memory, dest(i), slot_address(0x900_0000, i), endpoint(paddr), false);
        }
    }
    // Move some CNode capabilities into other CNodes (nested last capabilities).
    for i in (3..3000u64).step_by(9) {
        let inner = memory.read(dest(i)).cap;
        move_cap(&mut memory, dest(i), slot_address(0x1000_0000 + (i - 3) * 0x1000, 2), inner);
    }
    let cost = compare_revoke(&memory, root, &[KERNEL_STEP_WORK, 1, 13]);
    assert!(cost.steps >= 5000 / KERNEL_STEP_WORK);
}

#[test]
fn cycles_of_last_capabilities_end_as_before() {
    // X → Y → Z → X, each holding the last capability to the next, plus endpoints; the
    // deleted slot lies in Z, so the deletion destroys the object holding its own slot.
    let (x, y, z) = (0x50_0000, 0x60_0000, 0x70_0000);
    let mut memory = TestMemory::default();
    insert_root(&mut memory, slot_address(x, 1), cnode(y, 2));
    insert_root(&mut memory, slot_address(y, 2), cnode(z, 2));
    insert_root(&mut memory, slot_address(z, 3), cnode(x, 2));
    for (i, node) in [x, y, z].into_iter().enumerate() {
        insert_root(&mut memory, slot_address(node, 0), endpoint(0x9000 + i as u64 * 32));
    }
    for budget in [1, 2, 3, 100] {
        compare_delete(&memory, slot_address(z, 3), &[budget]);
    }
    compare_delete(&memory, slot_address(y, 2), &[1, 4]);
    // The revoked capability in an object its descendant kept alive.
    let mut memory = TestMemory::default();
    let untyped = Cap::Untyped { paddr: 0x1_0000, size_bits: 12, device: false, free_offset: 4096, prepared_to: 0, prepared_kind: 0 };
    let a = |index| slot_address(0x20_0000, index);
    insert_root(&mut memory, a(0), untyped);
    insert_derived(&mut memory, a(0), a(3), endpoint(0x1_0000), true);
    insert_derived(&mut memory, a(0), a(4), cnode(0x1_0100, 2), true);
    insert_derived(&mut memory, a(0), a(5), cnode(0x1_0200, 1), true);
    move_cap(&mut memory, a(5), slot_address(0x1_0100, 2), cnode(0x1_0200, 1));
    move_cap(&mut memory, a(0), slot_address(0x1_0200, 0), untyped);
    compare_revoke(&memory, slot_address(0x1_0200, 0), &[1, 2, 3, 50]);
}

#[test]
fn an_interrupted_deletion_is_adopted_and_zombies_refuse_other_use() {
    let mut memory = TestMemory::default();
    // Container C (only capability in the holder slot) holds a deep chain's head slot.
    let c = 0x20_0000;
    let level = |i: u64| 0x100_0000 + i * 128;
    insert_root(&mut memory, slot_address(HOLDER, 0), cnode(c, 3));
    let head = slot_address(c, 5);
    insert_root(&mut memory, head, cnode(level(0), 1));
    for i in 0..300u64 {
        insert_root(&mut memory, slot_address(level(i), 1), cnode(level(i + 1), 1));
        insert_root(&mut memory, slot_address(level(i), 0), endpoint(0x9_0000 + i * 32));
    }
    insert_root(&mut memory, slot_address(c, 6), endpoint(0xA_0000));
    let untouched = memory.clone();
    // Delete the chain for a few steps only.
    let mut anchor = head;
    for _ in 0..20 {
        match delete_step(&mut memory, anchor, SlotRef::NONE, &mut Work::new(8)).unwrap() {
            Progress::Preempted { anchor: next } => anchor = next,
            Progress::Done => panic!("finished too early"),
        }
    }
    check_cdt(&memory);
    let zombie = memory.read(head).cap;
    assert!(matches!(zombie, Cap::Zombie { top: true, .. }), "the head slot shows the deletion in progress: {zombie:?}");
    assert_eq!(crate::cap::derive(&zombie, None), Err(crate::cap::DeriveError::NotDerivable));
    // A zombie that is not the head cannot be deleted from there, nor revoked through.
    let inner = memory.slots.iter().find(|(_, s)| matches!(s.cap, Cap::Zombie { top: false, .. })).map(|(a, _)| *a).unwrap();
    assert_eq!(delete_step(&mut memory, inner, SlotRef::NONE, &mut Work::new(8)), Err(InProgress));
    // Other operations in between: a copy next to it and its removal.
    insert_derived(&mut memory, slot_address(c, 6), slot_address(HOLDER, 1), endpoint(0xA_0000), false);
    delete(&mut memory, slot_address(HOLDER, 1));
    memory.finalised.pop();
    check_cdt(&memory);
    // Deleting C's last capability adopts the interrupted deletion and finishes it.
    delete_in_steps(&mut memory, slot_address(HOLDER, 0), 4, false);
    check_cdt(&memory);
    assert_eq!(memory.slots.values().filter(|s| s.cap != Cap::Null).count(), 0);
    let mut expected = untouched;
    reference::delete(&mut expected, slot_address(HOLDER, 0));
    assert_eq!(outcome(&memory), outcome(&expected));
}

#[test]
fn a_thread_is_stopped_before_its_slots_are_emptied() {
    let mut memory = TestMemory::default();
    let thread = 0x30_0000;
    let root = 0x40_0000;
    let holder = slot_address(HOLDER, 0);
    insert_root(&mut memory, holder, Cap::Tcb { paddr: thread });
    insert_root(&mut memory, slot_address(thread, crate::cap::tcb_slot::CSPACE), cnode(root, 4));
    insert_root(&mut memory, slot_address(root, 7), endpoint(0x9000));
    compare_delete(&memory, holder, &[1, 2, 64]);
    let step = delete_step(&mut memory, holder, SlotRef::NONE, &mut Work::new(1)).unwrap();
    assert_eq!(step, Progress::Preempted { anchor: holder });
    assert_eq!(memory.destroying, vec![Cap::Tcb { paddr: thread }], "stopped when its destruction started");
    assert!(memory.finalised.is_empty());
    assert!(matches!(memory.read(holder).cap, Cap::Zombie { tcb: true, remaining: 5, top: true, .. }));
}

/// A small deterministic pseudo-random generator (no external crates in the kernel).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn random_worlds_end_as_with_the_one_pass_code() {
    let mut rng = Lcg(11);
    for _ in 0..400 {
        // CNodes 0..6 (radix 1 or 2) and endpoints, capabilities placed at random, copies
        // and badged mints derived at random; then one delete or revoke.
        let cnodes: Vec<(u64, u8)> = (0..6).map(|k| (0x100_0000 + k * 0x1000, 1 + rng.below(2) as u8)).collect();
        let mut slots: Vec<SlotRef> = (0..4).map(|i| slot_address(HOLDER, i)).collect();
        for &(paddr, radix) in &cnodes {
            slots.extend((0..1u64 << radix).map(|i| slot_address(paddr, i)));
        }
        let mut memory = TestMemory::default();
        let empty = |memory: &TestMemory, rng: &mut Lcg| -> Option<SlotRef> {
            let free: Vec<SlotRef> = slots.iter().copied().filter(|&at| memory.read(at).cap == Cap::Null).collect();
            (!free.is_empty()).then(|| free[rng.below(free.len() as u64) as usize])
        };
        for (k, &(paddr, radix)) in cnodes.iter().enumerate() {
            if let Some(at) = empty(&memory, &mut rng) {
                insert_root(&mut memory, at, cnode(paddr, radix));
            }
            if let Some(at) = empty(&memory, &mut rng) {
                insert_root(&mut memory, at, endpoint(0x9000 + k as u64 * 32));
            }
        }
        for _ in 0..rng.below(12) {
            let occupied: Vec<SlotRef> = slots.iter().copied().filter(|&at| memory.read(at).cap != Cap::Null).collect();
            let Some(dest) = empty(&memory, &mut rng) else { break };
            let src = occupied[rng.below(occupied.len() as u64) as usize];
            let source = memory.read(src).cap;
            let (derived, revocable) = match source {
                Cap::Endpoint { paddr, badge: 0, rights } if rng.below(2) == 0 => {
                    (Cap::Endpoint { paddr, badge: 1 + rng.below(2), rights }, true)
                }
                other => (other, false),
            };
            insert_derived(&mut memory, src, dest, derived, revocable);
        }
        check_cdt(&memory);
        let occupied: Vec<SlotRef> = slots.iter().copied().filter(|&at| memory.read(at).cap != Cap::Null).collect();
        let target = occupied[rng.below(occupied.len() as u64) as usize];
        if rng.below(2) == 0 {
            compare_delete(&memory, target, &[1, 2, 5, u64::MAX]);
        } else {
            compare_revoke(&memory, target, &[1, 2, 5, u64::MAX]);
        }
    }
}

#[test]
fn removing_a_first_badged_capability_keeps_its_copies_out_of_a_sibling() {
    // E (unbadged original), M2 and M1 minted from it with the same badge, C a copy of M1:
    // CDT order E, M2, M1, C. Once M1 goes, C follows M2 and must not become its child.
    let mut memory = TestMemory::default();
    let at = |index| slot_address(HOLDER, index);
    let badged = Cap::Endpoint { paddr: 0x9000, badge: 1, rights: Rights::ALL };
    insert_root(&mut memory, at(0), endpoint(0x9000));
    insert_derived(&mut memory, at(0), at(2), badged, true);
    insert_derived(&mut memory, at(2), at(3), badged, false);
    insert_derived(&mut memory, at(3), at(4), badged, false);
    insert_derived(&mut memory, at(0), at(1), badged, true);
    assert_eq!((memory.read(at(0)).next, memory.read(at(1)).next), (at(1), at(2)), "order E, M2, M1, C, C'");
    assert!(has_children(&memory, at(2)) && !has_children(&memory, at(1)));
    compare_delete(&memory, at(2), &[1]);
    delete(&mut memory, at(2));
    assert_eq!(memory.read(at(1)).next, at(3));
    assert!(!has_children(&memory, at(1)), "the copy of the deleted capability is no child of its sibling");
    revoke(&mut memory, at(1));
    assert_eq!(memory.read(at(3)).cap, badged);
    assert_eq!(memory.read(at(4)).cap, badged);
    check_cdt(&memory);
}

#[test]
fn revoking_an_untyped_continues_the_chain_deletion_it_started() {
    // A chain built from its tail: the head's capability is the untyped's first child in
    // CDT order, so the revoke starts the whole chain's deletion from there, and each later
    // step meets the first zombie (inside the head CNode) as the next descendant.
    let untyped = Cap::Untyped { paddr: 0x100_0000, size_bits: 20, device: false, free_offset: 1 << 20, prepared_to: 0, prepared_kind: 0 };
    let (root, head, spare) = (slot_address(HOLDER, 0), slot_address(HOLDER, 1), slot_address(HOLDER, 2));
    let level = |i: u64| 0x100_0000 + i * 128;
    let mut memory = TestMemory::default();
    insert_root(&mut memory, root, untyped);
    let depth = 500;
    for i in (0..depth).rev() {
        insert_derived(&mut memory, root, spare, cnode(level(i), 1), true);
        if i + 1 < depth {
            move_cap(&mut memory, head, slot_address(level(i), 1), cnode(level(i + 1), 1));
        }
        move_cap(&mut memory, spare, head, cnode(level(i), 1));
    }
    assert_eq!(memory.read(root).next, head);
    check_cdt(&memory);
    let cost = compare_revoke(&memory, root, &[1, 3, KERNEL_STEP_WORK]);
    assert!(cost.steps > 500);
    revoke_in_steps(&mut memory, root, 2, false);
    assert_eq!(memory.slots.values().filter(|s| s.cap != Cap::Null).count(), 1);
}

#[test]
fn every_step_progresses_even_with_no_budget() {
    let mut memory = TestMemory::default();
    let holder = chain(&mut memory, 8, 1);
    let mut steps = 0;
    while let Ok(Progress::Preempted { .. }) = delete_step(&mut memory, holder, SlotRef::NONE, &mut Work::new(0)) {
        steps += 1;
        assert!(steps < 100, "no progress");
    }
    assert_eq!(memory.slots.values().filter(|s| s.cap != Cap::Null).count(), 0);
}
