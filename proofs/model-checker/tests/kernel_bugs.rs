//! Minimal tests for defects the model checker found in the kernel's capability code. All
//! of them are fixed; they stay as regression tests.

use tileos_abi::object::Rights;
use tileos_kernel::cap::{self, Cap};
use tileos_kernel::cspace::{insert_derived, insert_root, move_cap, revoke, slot_address};
use tileos_model_checker::memory::Memory;
use tileos_model_checker::op::Op;
use tileos_model_checker::{TraceError, Universe, run_trace};

const CNODE_A: u64 = 0x1000;
const UNTYPED: u64 = 0x1_0000;

/// Found at depth 4 (`tileos-model-checker --depth 4`, invariant 3); fixed in b94c4b1:
///
/// 1. Retype A0 (untyped) -> A3: an endpoint at the start of the untyped.
/// 2. Retype A0 -> B0: a 2-slot CNode X.
/// 3. Move A0 -> X[0]: the untyped capability now lives inside X, its own descendant.
/// 4. Revoke X[0].
///
/// `revoke` deletes the first descendant, X's capability; X's last capability going
/// empties X, which deletes the untyped capability being revoked, and the loop ends
/// because the revoked slot is now empty. The endpoint (a descendant) survives, contrary
/// to `revoke`'s contract ("deletes every descendant; the capability itself stays"): a
/// holder of a capability derived from the untyped keeps it after the revoke, and its
/// memory can never be reclaimed. seL4's `cteRevoke` has the same loop. The kernel now
/// spares the revoked slot while emptying containers and deletes it last.
#[test]
fn revoke_removes_every_descendant_even_when_a_descendant_cnode_holds_the_target() {
    let mut memory = Memory::default();
    let a = |index| slot_address(CNODE_A, index);
    let x = 0x1_0080;
    insert_root(
        &mut memory,
        a(0),
        Cap::Untyped { paddr: UNTYPED, size_bits: 8, device: false, free_offset: 256, prepared_to: 0, prepared_kind: 0 },
    );
    insert_derived(&mut memory, a(0), a(3), Cap::Endpoint { paddr: UNTYPED, badge: 0, rights: Rights::ALL }, true);
    insert_derived(&mut memory, a(0), slot_address(0x2000, 0), Cap::CNode { paddr: x, radix: 1, guard_bits: 0, guard: 0 }, true);
    let untyped = memory.cap(a(0));
    move_cap(&mut memory, a(0), slot_address(x, 0), untyped);
    revoke(&mut memory, slot_address(x, 0));
    assert_eq!(memory.cap(a(3)), Cap::Null, "the endpoint retyped from the revoked untyped survived the revoke");
}

/// Found at depth 4 (invariant 6) after the fix of the test above (b94c4b1):
///
/// 1. Retype A0 (untyped) -> A3: a 2-slot CNode X.
/// 2. Move A0 -> B0: the untyped now sits in CNode B.
/// 3. Rotate A1 -> A2 -> X[0]: B's only capability (was in A2) moves into X.
/// 4. Revoke B0.
///
/// The descendant X's capability is deleted with `spared = B0`; emptying X finds B's last
/// capability, and B "holds nothing" because `holds_capabilities` skips the spared slot, so
/// B is finalised while it still holds the untyped. `met_spared` is only set when the spared
/// slot is in the container being emptied itself, not in a container destroyed from it, so
/// `revoke` never deletes the untyped: a live capability, linked in the CDT, stays in the
/// memory of a destroyed CNode (unreachable; if that CNode came from an untyped, a later
/// retype clears those slots over live CDT links).
#[test]
fn revoke_never_leaves_its_target_inside_a_destroyed_cnode() {
    let mut memory = Memory::default();
    let a = |index| slot_address(CNODE_A, index);
    let (b, x) = (0x2000, 0x1_0000);
    insert_root(
        &mut memory,
        a(0),
        Cap::Untyped { paddr: UNTYPED, size_bits: 8, device: false, free_offset: 128, prepared_to: 0, prepared_kind: 0 },
    );
    insert_derived(&mut memory, a(0), a(3), Cap::CNode { paddr: x, radix: 1, guard_bits: 0, guard: 0 }, true);
    insert_root(&mut memory, slot_address(x, 0), Cap::CNode { paddr: b, radix: 2, guard_bits: 0, guard: 0 });
    let untyped = memory.cap(a(0));
    move_cap(&mut memory, a(0), slot_address(b, 0), untyped);
    revoke(&mut memory, slot_address(b, 0));
    assert_eq!(memory.cap(a(3)), Cap::Null, "X's capability, a descendant, is gone");
    assert_eq!(memory.cap(slot_address(b, 0)), Cap::Null, "B's last capability was deleted, yet B still holds the untyped");
}

/// Found at depth 5 (invariants 2 and 8), by replaying this trace with the kernel's CDT
/// code (the checker's decode only chooses the operations):
///
/// 1. Mint A1 (original endpoint) -> A3 with badge 2, all rights: P, first badged.
/// 2. Copy A3 -> B0: C, P's child (badge 2, all rights).
/// 3. Mint A1 -> B1 with read+write and no badge: E', a narrowed copy of the original.
/// 4. Mint B1 -> B2 with badge 2: Q, a second first-badged capability with badge 2, but
///    read+write only; `insert_derived` puts it right after E', before P.
/// 5. Delete A3 (P).
///
/// Now Q directly precedes C with the same badge and C is not first-badged, so
/// `is_parent_of(Q, C)` holds: C, which has all rights and was never derived from Q, becomes
/// Q's child. Rights grow along the derivation tree, and revoking Q deletes C (over-revoke
/// by whoever minted the colliding badge). seL4's `isMDBParentOf` behaves the same. A fix:
/// when a first-badged capability is deleted, mark its badged children `first_badged`
/// (they stay descendants of the unbadged original) so no later sibling adopts them.
#[test]
fn a_badged_copy_is_never_adopted_by_a_same_badge_sibling() {
    let universe = Universe::standard();
    let a = |index| slot_address(CNODE_A, index);
    let b = |index| slot_address(0x2000, index);
    let trace = [
        Op::Mint { src: a(1), dest: a(3), params: 2 },
        Op::Copy { src: a(3), dest: b(0) },
        Op::Mint { src: a(1), dest: b(1), params: 0 },
        Op::Mint { src: b(1), dest: b(2), params: 2 },
        Op::Delete { slot: a(3) },
    ];
    assert_eq!(universe.mints[2], cap::MintParams { rights: Rights::ALL, data: 2 });
    if let Err(TraceError::Violation(violation)) = run_trace(&universe, &trace) {
        panic!("{}", violation.report(&universe));
    }
}
