//! The exhaustive run over the standard universe, and checks that the explorer does find
//! violations when the modelled kernel is given a known-bad rule.

use tileos_kernel::cspace::{SlotRef, slot_address};
use tileos_model_checker::invariants::Invariant;
use tileos_model_checker::op::Op;
use tileos_model_checker::universe::CNODE_A;
use tileos_model_checker::{Config, TraceError, Universe, explore, run_trace};

/// Depth 3 is the deepest that finishes in about a minute in a debug build on the slow
/// build machine (the standard universe with its thread; depth 4 takes minutes even in
/// release).
const TEST_DEPTH: usize = 3;

#[test]
fn every_sequence_up_to_the_test_depth_keeps_every_invariant() {
    let universe = Universe::standard();
    let report = explore(&universe, Config { depth: TEST_DEPTH, keep_going: false }, &mut |_| {});
    if let Some(violation) = report.violations.first() {
        panic!("{}", violation.report(&universe));
    }
    let stats = report.stats;
    assert_eq!(stats.max_depth(), TEST_DEPTH, "every depth produced new states");
    assert!(stats.states > 100_000 && stats.transitions > stats.states && stats.rejected > stats.transitions, "{stats:?}");
    println!("depth {TEST_DEPTH}: {stats:?}");
}

#[test]
fn the_kernels_mutate_rule_is_caught() {
    // kernel/src/invoke/cnode.rs lets a mutate badge an unbadged original in place.
    let universe = Universe { mutate_badges_originals: true, ..Universe::standard() };
    let report = explore(&universe, Config { depth: 2, keep_going: false }, &mut |_| {});
    let violation = report.violations.first().expect("badging an original in place detaches its children");
    assert_eq!(violation.invariant, Invariant::DerivationStable, "{}", violation.report(&universe));
    assert!(
        matches!(violation.trace[..], [Op::Copy { .. } | Op::Mint { .. }, Op::Mutate { .. }]),
        "copy the endpoint, then mutate the original: {}",
        violation.report(&universe)
    );
}

#[test]
fn traces_replay_and_report_rejections() {
    let universe = Universe::standard();
    let a = |index| slot_address(CNODE_A, index);
    let memory = run_trace(&universe, &[Op::Copy { src: a(1), dest: a(3) }, Op::Revoke { slot: a(1) }]).unwrap();
    assert_eq!(memory, universe.initial_state(), "revoking the original removes the copy");
    let error = run_trace(&universe, &[Op::Delete { slot: a(1) }, Op::Copy { src: a(1), dest: a(3) }]).unwrap_err();
    assert!(matches!(error, TraceError::Rejected { index: 1, .. }), "{error:?}");
}

#[test]
fn a_preempted_delete_leaves_a_zombie_that_other_operations_meet() {
    use tileos_abi::error::InvocationError;
    use tileos_kernel::cap::Cap;
    let universe = Universe::standard();
    let a = |index| slot_address(CNODE_A, index);
    // A2 holds the only capability to CNode B: one unit of work starts B's destruction.
    let memory = run_trace(&universe, &[Op::DeleteStep { slot: a(2) }]).unwrap();
    assert!(matches!(memory.cap(a(2)), Cap::Zombie { top: true, remaining: 4, .. }), "{:?}", memory.cap(a(2)));
    let rejected = |trace: &[Op]| match run_trace(&universe, trace) {
        Err(TraceError::Rejected { rejection, .. }) => rejection.error,
        other => panic!("{other:?}"),
    };
    let zombie = Op::DeleteStep { slot: a(2) };
    assert_eq!(rejected(&[zombie, Op::Copy { src: a(2), dest: a(3) }]), InvocationError::DeletionInProgress);
    assert_eq!(rejected(&[zombie, Op::Move { src: a(2), dest: a(3) }]), InvocationError::DeletionInProgress);
    assert_eq!(rejected(&[zombie, Op::Revoke { slot: a(2) }]), InvocationError::DeletionInProgress);
    // Repeating the delete (what the restarted system call does) finishes it: B's four
    // slots, the TCB in B3 (its five slots, and CNode C in its CSpace slot with three
    // paging structures) one unit each, plus starting and finishing each object.
    let mut trace = vec![zombie, Op::Copy { src: a(1), dest: a(3) }];
    while run_trace(&universe, &trace).unwrap().cap(a(2)) != Cap::Null {
        assert!(trace.len() < 40, "the delete did not finish");
        trace.push(zombie);
    }
    assert!(trace.len() > 12, "{} steps", trace.len() - 1);
    let memory = run_trace(&universe, &[zombie, Op::Delete { slot: a(2) }]).unwrap();
    assert_eq!(memory.cap(a(2)), Cap::Null);
}

#[test]
fn a_revoke_preempted_inside_a_chain_continues_it() {
    use tileos_kernel::cap::Cap;
    use tileos_kernel::cspace::CSpaceMemory;
    use tileos_model_checker::universe::{CNODE_B, UNTYPED};
    let universe = Universe::standard();
    let a = |index| slot_address(CNODE_A, index);
    let b = |index| slot_address(CNODE_B, index);
    // X and Y retyped from the untyped (Y first in CDT order), X's only capability in Y.
    let mut trace = vec![
        Op::Retype { untyped: a(0), object: 1, dest: b(0) },
        Op::Retype { untyped: a(0), object: 1, dest: b(1) },
        Op::Move { src: b(0), dest: slot_address(UNTYPED + 128, 1) },
    ];
    // One unit per step: Y becomes a zombie, then X's destruction starts from Y's slot and
    // Y's zombie moves into Y; the revoke then meets it and continues from its head.
    for steps in 1..=12 {
        trace.push(Op::RevokeStep { slot: a(0) });
        let memory = run_trace(&universe, &trace).unwrap_or_else(|e| panic!("after {steps} steps: {e:?}"));
        if steps == 2 {
            assert!(matches!(memory.cap(slot_address(UNTYPED + 128, 1)), Cap::Zombie { top: false, link: SlotRef::NONE, .. }));
        }
        if memory.read(a(0)).next == tileos_kernel::cspace::SlotRef::NONE {
            assert!(steps > 4, "the revoke took several steps");
            assert!(matches!(memory.cap(a(0)), Cap::Untyped { .. }));
            return;
        }
    }
    panic!("the revoke did not finish in 12 steps");
}
