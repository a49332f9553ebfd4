//! Mapping state (issue 11, item 2): exhaustive runs over the mapping universes with the
//! kernel's real vspace code, and the attack of the issue replayed step by step.

use tileos_kernel::cap::Cap;
use tileos_model_checker::mapping::{MapOp, MapUniverse, VADDRS, explore, run_trace};

/// Depths that finish in well under a minute in a debug build.
const STANDARD_DEPTH: usize = 4;
const LARGE_DEPTH: usize = 4;

#[test]
fn every_mapping_sequence_up_to_the_test_depth_keeps_the_invariant() {
    for (universe, depth) in [(MapUniverse::standard(), STANDARD_DEPTH), (MapUniverse::large(), LARGE_DEPTH)] {
        let (stats, violation) = explore(&universe, depth);
        assert_eq!(violation, None, "{universe:?}");
        assert!(stats.states > 1_000 && stats.rejected > stats.transitions, "{stats:?}");
        println!("{universe:?} depth {depth}: {stats:?}");
    }
}

/// The attack of issue 11, item 2, in the standard universe (A1 the thread's PML4, A3 the
/// page directory of the first GiB, A4 a page table, A5 a frame, A0 the untyped).
fn attack() -> Vec<MapOp> {
    let (first, second, gib) = (1, 0, 2);
    vec![
        // The frame comes from the untyped so its memory can be reused.
        MapOp::Delete { slot: 5 },
        MapOp::Retype { kind: 0, dest: 5 },
        MapOp::MapTable { slot: 4, vaddr: first, vspace: 1 },
        MapOp::MapFrame { slot: 5, vaddr: first, vspace: 1 },
        MapOp::UnmapTable { slot: 4 },
        MapOp::MapTable { slot: 4, vaddr: second, vspace: 1 },
        MapOp::Delete { slot: 5 },
        // The frame's memory becomes a page directory, entered for the second GiB.
        MapOp::Retype { kind: 2, dest: 5 },
        MapOp::MapTable { slot: 5, vaddr: gib, vspace: 1 },
    ]
}

#[test]
fn the_issue_attack_finds_no_stale_entry() {
    let universe = MapUniverse::standard();
    let mut trace = attack();
    let state = run_trace(&universe, &trace).unwrap();
    assert!(matches!(state.cap(5), Cap::PagingTable { .. }));
    // The last step: a user write through the old frame's address, now in the moved table.
    trace.push(MapOp::UserWrite { vaddr: 0 });
    let refused = run_trace(&universe, &trace).unwrap_err();
    assert_eq!(refused, Ok((trace.len() - 1, "page fault")), "no translation reaches the directory");
    assert_eq!(VADDRS[0], 0);
}
