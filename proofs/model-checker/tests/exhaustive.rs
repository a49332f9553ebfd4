//! The exhaustive run over the standard universe, and checks that the explorer does find
//! violations when the modelled kernel is given a known-bad rule.

use tileos_kernel::cspace::slot_address;
use tileos_model_checker::invariants::Invariant;
use tileos_model_checker::op::Op;
use tileos_model_checker::universe::CNODE_A;
use tileos_model_checker::{Config, TraceError, Universe, explore, run_trace};

/// Depth 3 is the deepest that finishes in under a minute in a debug build on the slow
/// build machine (about 14 s there; depth 4 takes about 110 s even in release).
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
