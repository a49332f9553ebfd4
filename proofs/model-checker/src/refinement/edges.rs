//! Unit tests of the refinement link's edges that the differential tests of
//! `tests/refinement.rs` do not reach or do not look at: a 2 MiB frame mapping (the random
//! sequences map 4 KiB frames only), a retype into a CNode the state does not hold (the
//! generator names only held ones), the driver's process after a [`CoqStep`] is dropped,
//! [`Tally`]'s totals and kinds (only printed), the random generator and what its retypes
//! and frame maps aim at, a send naming a slot the sender cannot name, and a bind by the
//! second TCB's own thread. Each was found untested by `make mutants` (docs/research.md,
//! "Mutation testing").

use super::*;
use crate::universe::{PAGE_DIRECTORY, UNTYPED};
use tileos_kernel::vspace::{HUGE, PRESENT, PagingMemory, USER, WRITABLE};

/// A state holding a 2 MiB frame mapping has no abstraction: the Coq model's mapping state
/// (`KernelMap.v`) holds 4 KiB frames only, so it is refused by name rather than left out.
#[test]
fn a_2_mib_frame_mapping_is_refused_not_left_out() {
    let universe = Universe::frames();
    let mut memory = universe.initial_state();
    assert!(abstract_state(&universe, &memory).is_ok(), "the initial state of Universe::frames has an abstraction");
    memory.tables_mut().set_entry(PAGE_DIRECTORY, 1, 0x20_0000 | PRESENT | WRITABLE | USER | HUGE);
    assert_eq!(abstract_state(&universe, &memory), Err("the refinement test maps 4 KiB frames only".to_string()));
}

/// A retype into a CNode the state does not hold names it by an id no object of the state's
/// abstraction has (the model then refuses it as the kernel does), and a held CNode by its
/// own object id.
#[test]
fn a_retype_into_a_cnode_the_state_does_not_hold_names_no_object() {
    let universe = Universe::standard().without_thread();
    let memory = universe.initial_state();
    let untyped = memory.occupied().find(|(_, slot)| matches!(slot.cap, Cap::Untyped { paddr: UNTYPED, .. })).expect("an untyped").0;
    let state = abstract_state(&universe, &memory).unwrap();
    let ids: Vec<(String, String, String)> = state
        .lines()
        .filter_map(|l| l.strip_prefix("obj "))
        .map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            (fields[0].to_string(), fields[1].to_string(), fields[2].to_string())
        })
        .collect();
    assert!(ids.len() >= 2, "{state}");
    let line = |node| op_line(&universe, &memory, &Op::RetypeAt { untyped, object: 0, node, offset: 1, count: 2 }).unwrap();
    // 0xF000 is no object of the universe.
    let unheld = line(0xF000);
    let cnode = unheld.split(' ').nth(6).expect("a destination").to_string();
    assert_eq!(cnode, (ids.len() + 1).to_string(), "{unheld}");
    assert!(ids.iter().all(|(id, _, _)| *id != cnode), "{unheld} names an object of\n{state}");
    assert!(unheld.ends_with(&format!(" {cnode} 1 {cnode} 2")), "{unheld}");
    // A held CNode (A, the thread's root) by its id.
    let a = universe.cnodes[0].paddr;
    let (id, _, _) = ids.iter().find(|(_, kind, base)| kind == "cnode" && *base == a.to_string()).expect("A is an object");
    assert!(line(a).ends_with(&format!(" {id} 1 {id} 2")), "{}", line(a));
}

/// Dropping a [`CoqStep`] stops its driver and reaps it: no process (not even a zombie)
/// is left. `cat` stands in for the driver (it echoes the request, which ends with the
/// `end` line the driver prints).
#[test]
fn a_dropped_driver_is_stopped_and_reaped() {
    let mut coq = CoqStep::start(std::path::Path::new("/bin/cat")).unwrap();
    assert_eq!(coq.step("state\n", "copy\nend").unwrap(), "state\nop copy\n");
    let proc = std::path::PathBuf::from(format!("/proc/{}", coq.child.id()));
    assert!(proc.exists(), "{} while the driver runs", proc.display());
    drop(coq);
    assert!(!proc.exists(), "{} is left after the drop", proc.display());
}

/// The totals the differential tests print are the sums over every kind and code, and
/// [`Tally::add`] adds every count.
#[test]
fn a_tallys_totals_sum_every_kind_and_code() {
    let mut tally = Tally::default();
    assert_eq!((tally.applied_total(), tally.refused_total()), (0, 0));
    tally.applied.extend([("Copy", 2), ("Mint", 3)]);
    tally.refused.extend([("FailedLookup".to_string(), 4), ("RangeError".to_string(), 3)]);
    assert_eq!((tally.applied_total(), tally.refused_total()), (5, 7));
    let other = Tally { skipped: 1, from_zombie: 2, from_chain: 3, ..tally.clone() };
    tally.add(&other);
    assert_eq!((tally.applied_total(), tally.refused_total()), (10, 14));
    assert_eq!((tally.applied["Mint"], tally.refused["RangeError"]), (6, 6));
    assert_eq!((tally.skipped, tally.from_zombie, tally.from_chain), (1, 2, 3));
}

/// Each operation is counted under its own kind: a rotate whose source is its destination
/// is a swap, any other a rotate; a retype of one object at an index is `RetypeAt`, of more
/// `RetypeMany`.
#[test]
fn each_operation_is_counted_under_its_kind() {
    let (a, b, c) = (SlotRef(0x1000), SlotRef(0x1040), SlotRef(0x1080));
    assert_eq!(kind(&Op::Rotate { src: a, pivot: b, dest: a }), "Swap");
    assert_eq!(kind(&Op::Rotate { src: a, pivot: b, dest: c }), "Rotate");
    let retype_at = |count| Op::RetypeAt { untyped: a, object: 0, node: 0x1000, offset: 0, count };
    assert_eq!(kind(&retype_at(1)), "RetypeAt");
    assert_eq!(kind(&retype_at(2)), "RetypeMany");
}

/// The generator is xorshift64* (Vigna's shifts 12, 25, 27 and multiplier), as its
/// documentation says: from seed 1 its first outputs (the top 31 bits of each product) are
/// the reference algorithm's, computed outside this code.
#[test]
fn the_generator_is_xorshift64_star() {
    let mut rng = Rng(1);
    let first: Vec<usize> = (0..5).map(|_| rng.below(1 << 31)).collect();
    assert_eq!(first, [603_088_677, 1_441_256_276, 1_558_742_727, 651_824_208, 120_638_680]);
}

/// Retypes by index go to each nameable CNode's first slot, its last slot and one past its
/// end, one and two objects each, as `retype_at_ops` documents (the bounds RangeError is
/// about).
#[test]
fn retypes_by_index_aim_at_the_first_and_last_slot_and_one_past_the_end() {
    let universe = Universe::standard().without_thread();
    let memory = universe.initial_state();
    let slots = model_slots(&universe, &memory);
    let cnodes = model_cnodes(&universe, &memory);
    assert_eq!(cnodes, [(universe.cnodes[0].paddr, 4), (universe.cnodes[1].paddr, 4)]);
    let mut aimed: Vec<(u64, u64, u64)> = retype_at_ops(&universe, &memory, &slots)
        .into_iter()
        .map(|op| match op {
            Op::RetypeAt { node, offset, count, .. } => (node, offset, count),
            other => panic!("{other:?}"),
        })
        .collect();
    aimed.sort_unstable();
    aimed.dedup();
    let expected: Vec<(u64, u64, u64)> =
        cnodes.iter().flat_map(|&(node, _)| [0, 3, 4].into_iter().flat_map(move |offset| [(node, offset, 1), (node, offset, 2)])).collect();
    assert_eq!(aimed, expected);
}

/// The frame maps' addresses include the last page of the user half and the first page
/// beyond it, as `MAP_VADDRS` documents.
#[test]
fn frame_maps_aim_at_the_last_user_page_and_the_first_beyond() {
    assert_eq!(MAP_VADDRS[4], 0x7FFF_FFFF_F000);
    assert_eq!(MAP_VADDRS[5], 0x8000_0000_0000);
    assert_eq!(MAP_VADDRS[4] + 0x1000, USER_TOP);
}

/// A message carries only a capability the sending thread can name: the same send of a
/// CNode capability lands in the receive slot when its slot is among the thread's, and
/// carries nothing when it is not (the random sequences draw every source among the
/// thread's slots, so they never tell the two apart).
#[test]
fn a_send_carries_only_a_capability_the_sender_can_name() {
    let universe = Universe::ipc();
    let memory = universe.initial_state();
    let a = |i| universe.cnodes[0].slot(i);
    assert!(matches!(memory.cap(a(1)), Cap::Endpoint { .. }) && matches!(memory.cap(a(2)), Cap::CNode { .. }));
    assert_eq!(memory.cap(a(3)), Cap::Null);
    let send = IpcOp::Send { ep: a(1), src: a(2), rep: a(1), dst: a(3) };
    let slots = model_slots(&universe, &memory);
    let IpcOutcome::Done(after) = ipc_apply(&memory, &slots, &send) else { panic!("the send is delivered") };
    assert!(matches!(after.cap(a(3)), Cap::CNode { .. }), "{:?}", after.cap(a(3)));
    let unnamed: Vec<SlotRef> = slots.iter().copied().filter(|&at| at != a(2)).collect();
    let IpcOutcome::Done(after) = ipc_apply(&memory, &unnamed, &send) else { panic!("the send is delivered") };
    assert_eq!(after.cap(a(3)), Cap::Null);
}

/// A bind by a TCB's own thread names that TCB's object as the acting thread, for each of
/// the two TCBs of `Universe::ipc` (the random sequences only bind by the first).
#[test]
fn a_bind_by_a_thread_names_its_own_tcb() {
    use crate::universe::{TCB, TCB_2};
    let universe = Universe::ipc();
    let memory = universe.initial_state();
    let state = abstract_state(&universe, &memory).unwrap();
    let id = |base: u64| {
        let line = state.lines().find(|l| l.starts_with("obj ") && l.contains(&format!(" tcb {base} "))).expect("a TCB object");
        line.split(' ').nth(1).unwrap().to_string()
    };
    let (a, b) = (|i| universe.cnodes[0].slot(i), |i| universe.cnodes[1].slot(i));
    for thread in [TCB, TCB_2] {
        let line = ipc_op_line(&universe, &memory, &IpcOp::BindBy { thread, tcb: b(3), cn: a(2) }).unwrap();
        assert_eq!(line.split(' ').nth(1), Some(id(thread).as_str()), "{line}");
    }
    assert_ne!(id(TCB), id(TCB_2));
}
