//! Host tests of the CDT and lookup, over a map-backed slot store.

use super::*;
use crate::cap::{Cap, Mapping};
use std::cell::Cell;
use std::collections::HashMap;
use std::vec::Vec;
use tileos_abi::object::Rights;

/// Slots in a map; records every finalisation and counts slot accesses.
#[derive(Default, Clone)]
pub(crate) struct TestMemory {
    pub slots: HashMap<SlotRef, Slot>,
    pub finalised: Vec<(Cap, bool)>,
    pub destroying: Vec<Cap>,
    /// Slot reads and writes so far: the work actually done.
    pub accesses: Cell<u64>,
}

impl CSpaceMemory for TestMemory {
    fn read(&self, at: SlotRef) -> Slot {
        assert!(at != SlotRef::NONE && at.0.is_multiple_of(64), "bad slot reference {at:#x}");
        self.accesses.set(self.accesses.get() + 1);
        self.slots.get(&at).copied().unwrap_or(Slot::EMPTY)
    }
    fn write(&mut self, at: SlotRef, slot: Slot) {
        assert!(at != SlotRef::NONE && at.0.is_multiple_of(64), "bad slot reference {at:#x}");
        self.accesses.set(self.accesses.get() + 1);
        self.slots.insert(at, slot);
    }
    fn finalise(&mut self, cap: &Cap, is_final: bool) {
        self.finalised.push((*cap, is_final));
    }
    fn destroying(&mut self, cap: &Cap) {
        self.destroying.push(*cap);
    }
}

/// Checks the CDT list invariants over every occupied slot: links are mutual, links only
/// join occupied slots, and the list has no cycles.
pub(crate) fn check_cdt(memory: &TestMemory) {
    for (&at, slot) in &memory.slots {
        if slot.cap == Cap::Null {
            assert_eq!(*slot, Slot::EMPTY, "empty slot {at:#x} keeps links or flags");
            continue;
        }
        if slot.next != SlotRef::NONE {
            assert_eq!(memory.read(slot.next).prev, at, "next of {at:#x} does not point back");
            assert_ne!(memory.read(slot.next).cap, Cap::Null);
        }
        if slot.prev != SlotRef::NONE {
            assert_eq!(memory.read(slot.prev).next, at, "prev of {at:#x} does not point back");
        }
    }
    // No cycles: walking forward from any slot ends.
    for &start in memory.slots.keys() {
        let mut at = start;
        for _ in 0..=memory.slots.len() {
            at = memory.read(at).next;
            if at == SlotRef::NONE {
                break;
            }
        }
        assert_eq!(at, SlotRef::NONE, "CDT cycle through {start:#x}");
    }
}

const CNODE_A: u64 = 0x10_0000;
const EP: Cap = Cap::Endpoint { paddr: 0x9000, badge: 0, rights: Rights::ALL };

fn cnode(paddr: u64, radix: u8) -> Cap {
    Cap::CNode { paddr, radix, guard_bits: 64 - radix, guard: 0 }
}

fn occupied(memory: &TestMemory) -> usize {
    memory.slots.values().filter(|s| s.cap != Cap::Null).count()
}

#[test]
fn single_level_lookup_with_guard() {
    let memory = TestMemory::default();
    let root = Cap::CNode { paddr: CNODE_A, radix: 8, guard_bits: 56, guard: 0 };
    assert_eq!(resolve(&memory, root, 5, 64), Ok((slot_address(CNODE_A, 5), 0)));
    assert_eq!(resolve(&memory, root, 0x100 + 5, 64), Err(LookupFailure::GuardMismatch));
    assert_eq!(resolve(&memory, root, 5, 32), Err(LookupFailure::DepthMismatch));
    assert_eq!(resolve(&memory, EP, 5, 64), Err(LookupFailure::InvalidRoot));
    assert_eq!(resolve(&memory, root, 5, 0), Err(LookupFailure::DepthMismatch));
    let empty = Cap::CNode { paddr: CNODE_A, radix: 0, guard_bits: 0, guard: 0 };
    assert_eq!(resolve(&memory, empty, 5, 64), Err(LookupFailure::InvalidRoot));
}

#[test]
fn two_level_lookup_and_early_leaf() {
    let mut memory = TestMemory::default();
    // Root: radix 4, guard 0 bits; slot 3 holds a second-level CNode of radix 4 with a
    // 4-bit guard 0xA; a cptr uses 4 + 4 + 4 = 12 bits.
    let root = Cap::CNode { paddr: CNODE_A, radix: 4, guard_bits: 0, guard: 0 };
    let second = Cap::CNode { paddr: 0x20_0000, radix: 4, guard_bits: 4, guard: 0xA };
    insert_root(&mut memory, slot_address(CNODE_A, 3), second);
    insert_root(&mut memory, slot_address(CNODE_A, 4), EP);
    assert_eq!(resolve(&memory, root, 0x3A7, 12), Ok((slot_address(0x20_0000, 7), 0)));
    assert_eq!(resolve(&memory, root, 0x3B7, 12), Err(LookupFailure::GuardMismatch));
    // Slot 4 holds an endpoint: lookup stops there with 8 bits unresolved.
    assert_eq!(resolve(&memory, root, 0x4FF, 12), Ok((slot_address(CNODE_A, 4), 8)));
    assert_eq!(resolve_exact(&memory, root, 0x4FF, 12), Err(LookupFailure::DepthMismatch));
    assert_eq!(resolve_exact(&memory, root, 0x3, 4), Ok(slot_address(CNODE_A, 3)));
    assert_eq!(resolve(&memory, root, 0x3A, 8), Err(LookupFailure::DepthMismatch));
}

#[test]
fn derived_caps_are_children_and_delete_reports_finality() {
    let mut memory = TestMemory::default();
    let a = slot_address(CNODE_A, 1);
    let b = slot_address(CNODE_A, 2);
    insert_root(&mut memory, a, EP);
    insert_derived(&mut memory, a, b, EP, false);
    assert!(has_children(&memory, a));
    assert!(!is_final(&memory, a));
    delete(&mut memory, b);
    assert_eq!(memory.finalised, vec![(EP, false)]);
    assert!(is_final(&memory, a));
    delete(&mut memory, a);
    assert_eq!(memory.finalised[1], (EP, true));
    assert_eq!(occupied(&memory), 0);
    check_cdt(&memory);
}

#[test]
fn revoke_removes_a_deep_chain() {
    let mut memory = TestMemory::default();
    let untyped = Cap::Untyped { paddr: 0x100_0000, size_bits: 24, device: false, free_offset: 0, prepared_to: 0, prepared_kind: 0 };
    let root_slot = slot_address(CNODE_A, 0);
    insert_root(&mut memory, root_slot, untyped);
    // 2000 levels: each untyped copy derived from the previous one.
    let mut parent = root_slot;
    for i in 1..=2000u64 {
        let dest = slot_address(CNODE_A, i);
        insert_derived(&mut memory, parent, dest, untyped, true);
        parent = dest;
    }
    let unrelated = slot_address(0x30_0000, 0);
    insert_root(&mut memory, unrelated, EP);
    check_cdt(&memory);
    revoke(&mut memory, root_slot);
    assert_eq!(occupied(&memory), 2, "only the revoked cap and the unrelated one remain");
    assert!(!has_children(&memory, root_slot));
    assert_eq!(memory.finalised.len(), 2000);
    check_cdt(&memory);
}

#[test]
fn revoke_removes_a_wide_tree_and_grandchildren() {
    let mut memory = TestMemory::default();
    let root_slot = slot_address(CNODE_A, 0);
    insert_root(&mut memory, root_slot, EP);
    for i in 1..=1500u64 {
        let badged = Cap::Endpoint { paddr: 0x9000, badge: i, rights: Rights::ALL };
        insert_derived(&mut memory, root_slot, slot_address(CNODE_A, i), badged, true);
        // Each badged cap has an unbadged-rights copy as its own child.
        insert_derived(&mut memory, slot_address(CNODE_A, i), slot_address(0x40_0000, i), badged, false);
    }
    check_cdt(&memory);
    revoke(&mut memory, root_slot);
    assert_eq!(occupied(&memory), 1);
    assert_eq!(memory.finalised.len(), 3000);
    check_cdt(&memory);
}

#[test]
fn revoking_a_badged_cap_leaves_its_siblings() {
    let mut memory = TestMemory::default();
    let original = slot_address(CNODE_A, 0);
    insert_root(&mut memory, original, EP);
    let badge = |b| Cap::Endpoint { paddr: 0x9000, badge: b, rights: Rights::ALL };
    insert_derived(&mut memory, original, slot_address(CNODE_A, 1), badge(1), true);
    insert_derived(&mut memory, original, slot_address(CNODE_A, 2), badge(2), true);
    insert_derived(&mut memory, slot_address(CNODE_A, 2), slot_address(CNODE_A, 3), badge(2), false);
    revoke(&mut memory, slot_address(CNODE_A, 2));
    assert_eq!(memory.read(slot_address(CNODE_A, 3)).cap, Cap::Null, "copy of badge 2 revoked");
    assert_eq!(memory.read(slot_address(CNODE_A, 1)).cap, badge(1), "badge 1 untouched");
    assert!(has_children(&memory, original));
    check_cdt(&memory);
}

#[test]
fn deleting_last_cnode_cap_destroys_nested_contents_without_recursion() {
    let mut memory = TestMemory::default();
    // A chain of 300 CNodes, each holding the only capability to the next and an endpoint.
    let holder = slot_address(CNODE_A, 0);
    let level = |i: u64| 0x100_0000 + i * 0x1000;
    insert_root(&mut memory, holder, cnode(level(0), 2));
    for i in 0..300u64 {
        insert_root(&mut memory, slot_address(level(i), 0), cnode(level(i + 1), 2));
        insert_root(&mut memory, slot_address(level(i), 1), Cap::Endpoint { paddr: 0x9000 + i * 32, badge: 0, rights: Rights::ALL });
    }
    delete(&mut memory, holder);
    assert_eq!(occupied(&memory), 0);
    assert_eq!(memory.finalised.iter().filter(|(c, f)| matches!(c, Cap::Endpoint { .. }) && *f).count(), 300);
    check_cdt(&memory);
}

#[test]
fn cnodes_holding_their_own_last_caps_are_destroyed() {
    let mut memory = TestMemory::default();
    // CNode X holds the only cap to Y; Y holds the only cap to X and an endpoint.
    let (x, y) = (0x50_0000, 0x60_0000);
    insert_root(&mut memory, slot_address(x, 0), cnode(y, 2));
    insert_root(&mut memory, slot_address(y, 0), cnode(x, 2));
    insert_root(&mut memory, slot_address(y, 1), EP);
    delete(&mut memory, slot_address(y, 0));
    assert_eq!(occupied(&memory), 0);
    check_cdt(&memory);
}

#[test]
fn two_caps_to_a_full_cnode_in_one_container_do_not_orphan_its_contents() {
    let mut memory = TestMemory::default();
    let (outer, inner) = (0x50_0000, 0x60_0000);
    let holder = slot_address(CNODE_A, 0);
    insert_root(&mut memory, holder, cnode(outer, 2));
    insert_root(&mut memory, slot_address(outer, 0), cnode(inner, 2));
    insert_derived(&mut memory, slot_address(outer, 0), slot_address(outer, 1), cnode(inner, 2), false);
    insert_root(&mut memory, slot_address(inner, 3), EP);
    delete(&mut memory, holder);
    assert_eq!(occupied(&memory), 0, "the endpoint inside the inner CNode is deleted too");
    check_cdt(&memory);
}

#[test]
fn move_and_swap_keep_cdt_positions() {
    let mut memory = TestMemory::default();
    let (a, b, c, d) = (slot_address(CNODE_A, 0), slot_address(CNODE_A, 1), slot_address(CNODE_A, 2), slot_address(CNODE_A, 3));
    insert_root(&mut memory, a, EP);
    insert_derived(&mut memory, a, b, EP, false);
    move_cap(&mut memory, b, c, EP);
    assert_eq!(memory.read(a).next, c);
    assert_eq!(memory.read(c).prev, a);
    check_cdt(&memory);
    let frame = Cap::Frame { paddr: 0x7000, size_bits: 12, rights: Rights::ALL, device: false, mapping: Mapping::NONE };
    insert_root(&mut memory, d, frame);
    swap(&mut memory, a, c); // adjacent in the CDT
    assert_eq!(memory.read(c).next, a);
    check_cdt(&memory);
    swap(&mut memory, a, d);
    assert_eq!(memory.read(a).cap, frame);
    check_cdt(&memory);
}

#[test]
fn revoke_finishes_when_a_descendant_cnode_holds_the_revoked_cap() {
    // Found by the model checker: an untyped whose capability sits in a CNode retyped from
    // it. Revoking it destroys that CNode; every descendant must still go, and the
    // untyped's capability (whose slot is gone with the CNode) goes last.
    let mut memory = TestMemory::default();
    let untyped = Cap::Untyped { paddr: 0x1_0000, size_bits: 8, device: false, free_offset: 256, prepared_to: 0, prepared_kind: 0 };
    let a = |index| slot_address(CNODE_A, index);
    let x = 0x1_0080;
    insert_root(&mut memory, a(0), untyped);
    insert_derived(&mut memory, a(0), a(3), Cap::Endpoint { paddr: 0x1_0000, badge: 0, rights: Rights::ALL }, true);
    insert_derived(&mut memory, a(0), a(4), Cap::CNode { paddr: x, radix: 1, guard_bits: 0, guard: 0 }, true);
    move_cap(&mut memory, a(0), slot_address(x, 0), untyped);
    revoke(&mut memory, slot_address(x, 0));
    assert_eq!(occupied(&memory), 0, "every descendant and the orphaned untyped cap are gone");
    check_cdt(&memory);
}

/// Slot addresses, `SlotRef`'s helpers and formatting (found untested by `make mutants`).
#[test]
fn slot_addresses_and_refs_are_exact() {
    assert_eq!(slot_address(0x1000, 0), SlotRef(0x1000));
    assert_eq!(slot_address(0x1000, 3), SlotRef(0x10C0), "slot 3 is 3 × 64 bytes after the CNode's start");
    assert!(SlotRef::NONE.is_none());
    assert!(!SlotRef(0x1040).is_none());
    assert_eq!(std::format!("{:#x}", SlotRef(0x10C0)), "0x10c0");
    assert_eq!(std::format!("{:x}", SlotRef::NONE), "0");
}

/// A work budget counts down by the units a step spends, and always allows one (found
/// untested by `make mutants`: nothing read `Work::left`).
#[test]
fn a_work_budget_counts_the_units_spent() {
    assert_eq!(Work::new(0).left(), 1, "every step makes progress");
    assert_eq!(Work::new(5).left(), 5);
    let mut memory = TestMemory::default();
    insert_root(&mut memory, slot_address(CNODE_A, 0), EP);
    insert_root(&mut memory, slot_address(CNODE_A, 1), cnode(0x20_0000, 1));
    let mut work = Work::new(5);
    assert_eq!(delete_step(&mut memory, slot_address(CNODE_A, 0), SlotRef::NONE, &mut work), Ok(Progress::Done));
    assert_eq!(work.left(), 4, "an endpoint is one unit");
    // A 2-slot CNode: start (1), two empty slots (2), finish (1).
    assert_eq!(delete_step(&mut memory, slot_address(CNODE_A, 1), SlotRef::NONE, &mut work), Ok(Progress::Done));
    assert_eq!(work.left(), 0);
}

/// Only a capability being revoked is ever marked `detached`: a deletion that finds its own
/// head inside the object it empties (a CNode holding its own last capability) leaves the
/// head's flags alone (found untested by `make mutants`). Checked after every one-unit step.
#[test]
fn a_deletion_marks_nothing_detached() {
    let mut memory = TestMemory::default();
    let x = 0x20_0000;
    insert_root(&mut memory, slot_address(x, 0), cnode(x, 1));
    insert_root(&mut memory, slot_address(x, 1), EP);
    let mut anchor = slot_address(x, 0);
    for _ in 0..16 {
        let progress = delete_step(&mut memory, anchor, SlotRef::NONE, &mut Work::new(1)).unwrap();
        check_cdt(&memory);
        assert!(memory.slots.values().all(|slot| !slot.detached), "a slot was marked detached");
        match progress {
            Progress::Done => return assert_eq!(occupied(&memory), 0),
            Progress::Preempted { anchor: next } => anchor = next,
        }
    }
    panic!("the deletion did not finish in 16 steps");
}

/// A depth over 64 bits is refused before any lookup (found untested by `make mutants`:
/// only depth 0 was, which the level check refuses as well).
#[test]
fn a_depth_over_64_bits_is_refused() {
    let memory = TestMemory::default();
    let root = Cap::CNode { paddr: CNODE_A, radix: 8, guard_bits: 56, guard: 0 };
    assert_eq!(resolve(&memory, root, 5, 65), Err(LookupFailure::DepthMismatch));
    assert_eq!(resolve(&memory, root, 5, u32::MAX), Err(LookupFailure::DepthMismatch));
}
