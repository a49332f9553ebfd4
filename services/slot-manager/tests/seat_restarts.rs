//! What the manager tells the root server about each seat start (`SeatStart` /
//! `SeatBegin`'s `restart`, docs/slots.md "Seat authority"): a start of the same module
//! again after it stopped at a fault or a hang is a restart (counted in the seat's
//! `restarts` in the supervisor's status); a start of another module (an install, a
//! lineage's fallback, the starts at the manager's own start) is not. A promotion and a
//! rollback start no seat at all.

mod common;

use common::*;
use tileos_protocol::slots::{Request, Response};
use tileos_protocol::supervisor::{Request as SeatRequest, SeatProgram};
use tileos_slot_manager::{Access, NVersionConfig};
use tileos_slots::SlotPolicy;

/// Every seat start the manager asked of the root server, from request `from` on:
/// (seat, program, restart).
fn starts(sim: &Sim, from: usize) -> Vec<(u8, SeatProgram, bool)> {
    sim.world.borrow().supervisor[from..]
        .iter()
        .filter_map(|request| match *request {
            SeatRequest::SeatStart { seat, program, restart } | SeatRequest::SeatBegin { seat, program, restart } => {
                Some((seat, program, restart))
            }
            _ => None,
        })
        .collect()
}

/// The restarts the fake root server counted for `seat`.
fn restarts(sim: &Sim, seat: u8) -> u32 {
    sim.world.borrow().restarts.get(&seat).copied().unwrap_or(0)
}

/// Requests the manager asked of the root server so far.
fn asked(sim: &Sim) -> usize {
    sim.world.borrow().supervisor.len()
}

#[test]
fn the_settled_incumbent_started_again_after_each_fault_is_a_restart() {
    let mut sim = Sim::new(config(policy(), 4));
    for round in 1..=3u32 {
        let before = asked(&sim);
        sim.request(1, 1);
        sim.pump();
        sim.fault(0);
        assert_eq!(starts(&sim, before), vec![(0, SeatProgram::Incumbent, true)], "{}", sim.notes());
        assert_eq!(restarts(&sim, 0), round);
    }
    // It serves on.
    sim.request(1, 5);
    sim.pump();
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_settled_serving_module_restarted_after_a_hang_is_a_restart() {
    let mut sim = Sim::new(config(SlotPolicy { restart_unanswered: Some(1_000_000), ..policy() }, 4));
    sim.request(1, 1);
    sim.pump();
    sim.modules.get_mut(&0).expect("the incumbent").behavior = Behavior::Silent;
    let before = asked(&sim);
    sim.request(1, 2);
    sim.pump();
    sim.advance(1_000_001);
    let notes = sim.notes();
    assert!(notes.contains("then=restarted"), "{notes}");
    assert_eq!(starts(&sim, before), vec![(0, SeatProgram::Incumbent, true)], "{notes}");
    assert_eq!(restarts(&sim, 0), 1);
}

#[test]
fn an_install_is_not_a_restart_and_the_challengers_rebuild_after_a_fault_is() {
    let mut p = policy();
    p.max_faults = 3;
    let mut sim = Sim::new(config(p, 4));
    let before = asked(&sim);
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    assert_eq!(starts(&sim, before), vec![(1, SeatProgram::Staged, false)], "the install's start");
    for round in 1..=2u32 {
        sim.request(1, 3);
        sim.pump();
        let before = asked(&sim);
        sim.fault(1);
        // Its staged ELF rebuilt (in steps when the glue runs them: the Sim does).
        sim.pump();
        assert_eq!(sim.m.seat_of_module(1), Some(1));
        assert_eq!(starts(&sim, before), vec![(1, SeatProgram::Staged, true)], "{}", sim.notes());
        assert_eq!(restarts(&sim, 1), round);
    }
    assert_eq!(restarts(&sim, 0), 0, "the incumbent never stopped");
}

#[test]
fn a_promotion_and_a_rollback_start_no_seat_and_count_no_restart() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"fast"));
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    let before = asked(&sim);
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    sim.request(1, 100);
    sim.pump();
    assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });
    sim.pump();
    assert_eq!(starts(&sim, before), vec![], "{}", sim.notes());
    assert!(sim.world.borrow().restarts.is_empty());
}

#[test]
fn a_fault_of_the_promoted_module_rolls_back_with_no_seat_start() {
    // The promoted module faults in its window: the slot rolls back to the warm incumbent,
    // which was never stopped, and the faulted module leaves the slot: nothing is started,
    // nothing counted.
    let mut p = policy();
    p.max_faults = 3;
    let mut sim = Sim::new(config(p, 4));
    sim.install(&bundle(b"fast"));
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    let before = asked(&sim);
    sim.fault(1);
    assert_eq!(sim.m.slot().serving(), 0, "{}", sim.notes());
    assert_eq!(sim.m.seat_of_module(1), None);
    assert_eq!(starts(&sim, before), vec![], "{}", sim.notes());
    assert!(sim.world.borrow().restarts.is_empty());
}

fn n_version(replace_after: u32) -> NVersionConfig {
    NVersionConfig { replace_after, lineages: ["sum-a".into(), "sum-b".into(), "sum-c".into()], fallback: "sum-fallback".into() }
}

#[test]
fn a_lineage_started_again_after_its_fault_is_a_restart_and_its_fallback_is_not() {
    let n_version_config = |generation| {
        let mut c = config(policy(), 4);
        c.n_version = Some(n_version(2));
        c.generation = generation;
        c
    };
    let mut sim = Sim::new(n_version_config(0));
    let before = asked(&sim);
    sim.fault(2);
    assert_eq!(starts(&sim, before), vec![(2, SeatProgram::Lineage(2), true)], "{}", sim.notes());
    assert_eq!(restarts(&sim, 2), 1);
    // Lineage 1 dissents three times (replace_after 2): the fallback takes its place in the
    // spare seat 3, another module there.
    sim.wrong_lineage = Some(1);
    let before = asked(&sim);
    for x in 1..=4 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.lineage_seats(), Some([0, 3, 2]), "{}", sim.notes());
    assert_eq!(starts(&sim, before), vec![(3, SeatProgram::Fallback, false)], "{}", sim.notes());
    // The fallback faults: the same module started again there, a restart of seat 3.
    sim.wrong_lineage = None;
    let before = asked(&sim);
    sim.fault(3);
    assert_eq!(starts(&sim, before), vec![(3, SeatProgram::Fallback, true)], "{}", sim.notes());
    assert_eq!((restarts(&sim, 1), restarts(&sim, 2), restarts(&sim, 3)), (0, 1, 1));
    // A manager restarted on that log starts the fallback in lineage 1's own seat: another
    // module there, not a restart.
    let before = asked(&sim);
    sim.restart_manager(n_version_config(1));
    let after_restart = starts(&sim, before);
    assert!(after_restart.contains(&(1, SeatProgram::Fallback, false)), "{after_restart:?}\n{}", sim.notes());
    assert!(after_restart.iter().all(|&(.., restart)| !restart), "{after_restart:?}");
}

#[test]
fn a_noise_replica_started_again_after_its_fault_is_a_restart() {
    let mut c = config(policy(), 4);
    c.comparator = tileos_slots::Comparator::NoiseCancelled;
    let mut sim = Sim::new(c);
    assert!(sim.world.borrow().running.contains(&3), "the replica runs in the last seat");
    let before = asked(&sim);
    sim.fault(3);
    assert_eq!(starts(&sim, before), vec![(3, SeatProgram::Incumbent, true)], "{}", sim.notes());
    assert_eq!(restarts(&sim, 3), 1);
}
