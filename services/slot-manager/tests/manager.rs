//! The slot manager on a simulated tile: dispatch, installs, promotion, rollback, faults,
//! hostile inputs and the update log.

mod common;

use common::*;
use tileos_module_bundle::{BundleSigner, CapabilityRequest, Rights};
use tileos_protocol::module::{READY, SEAT_BADGE, STATE};
use tileos_protocol::slots::{self, RefusalKind, Request, Response};
use tileos_protocol::supervisor::{Request as SeatRequest, SeatProgram, SeatSchedule};
use tileos_protocol::{MESSAGE, ProtocolError};
use tileos_slot_manager::{Access, LOG_RETRY_INTERVAL, MAX_UNLOGGED, Message, NVersionConfig, RELEASE_PER_STEP, dev_keys};
use tileos_slots::{SlotPolicy, State};
use tileos_update_log::{EventKind, ModuleRef, UpdateEvent};

fn answer_value(sim: &Sim, badge: u64, seq: u64) -> Message {
    let answers = &sim.answers[&(badge, seq)];
    assert_eq!(answers.len(), 1, "request ({badge}, {seq}) answered {} times\n{}", answers.len(), sim.notes());
    answers[0].clone()
}

fn status(sim: &mut Sim) -> slots::SlotStatus {
    match sim.control(Access::Read, &Request::Status) {
        Response::Status(status) => status,
        other => panic!("{other:?}"),
    }
}

fn state_of(sim: &Sim, module: u32) -> Option<State> {
    sim.m.slot().module(module).map(|m| m.state)
}

#[test]
fn the_incumbent_answers_clients() {
    let mut sim = Sim::new(config(policy(), 4));
    for x in 1..=5 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(answer_value(&sim, 1, 4), Message { label: MESSAGE, words: vec![15] });
    assert!(sim.not_answered_once().is_empty());
}

/// A request that the serving module and both challengers wait for goes to all three in
/// one `reply_all` (the glue's one `NbSendAll`), each compared as before; once a challenger
/// holds a copy it has not answered, requests take the general path (a send each, the
/// busy challenger's copy queued), and nothing is lost or answered twice.
#[test]
fn a_request_every_module_waits_for_is_sent_to_all_in_one_batch() {
    let mut p = policy();
    p.min_agreeing = 1_000_000;
    let mut sim = Sim::new(config(p, 4));
    for payload in [&b"fast"[..], b"silent"] {
        sim.install(&bundle(payload));
        sim.pump();
    }
    sim.world.borrow_mut().batches.clear();
    sim.request(1, 5);
    assert_eq!(sim.world.borrow().batches, vec![3], "the serving module and both challengers at once");
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 0), Message { label: MESSAGE, words: vec![5] });
    // The silent challenger holds its copy: the next requests go one by one.
    for x in 1..=3 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.world.borrow().batches, vec![3], "no batch while a challenger is busy");
    assert_eq!(answer_value(&sim, 1, 3), Message { label: MESSAGE, words: vec![11] });
    let fast = sim.m.slot().module(1).unwrap();
    assert_eq!((fast.evidence.agreeing, fast.evidence.disagreeing), (4, 0), "{}", sim.notes());
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn an_install_shadows_gathers_evidence_and_is_logged() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.request(1, 10);
    sim.pump();
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    assert_eq!(state_of(&sim, 1), Some(State::Shadowing));
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    // The challenger imported the incumbent's running sum, so it agrees.
    let view = sim.m.slot().module(1).unwrap();
    assert_eq!((view.evidence.agreeing, view.evidence.disagreeing), (6, 0), "{}", sim.notes());
    assert_eq!(view.state, State::Promotable);
    let status = status(&mut sim);
    assert_eq!(status.modules.len(), 2);
    assert_eq!(status.modules[1].name.as_str(), "checksum-fast");
    assert_eq!(status.modules[1].state.as_str(), "promotable");
    assert_eq!(status.log_size, 1);
    let entry = match sim.control(Access::Read, &Request::LogEntry { index: 0 }) {
        Response::Entry { bytes } => UpdateEvent::decode(&bytes).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(entry.kind, EventKind::Install);
    assert_eq!(entry.module, "checksum-fast");
    assert_eq!(sim.store.entries.borrow().len(), 1, "persisted");
}

#[test]
fn promotion_transfers_state_and_rollback_restores_the_incumbent() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"fast"));
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    assert_eq!(sim.m.slot().serving(), 1);
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 6).words, vec![121]);
    assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });
    assert_eq!(sim.m.slot().serving(), 0);
    assert_eq!(sim.m.seat_of_module(1), None, "the rolled-back module's seat is stopped");
    sim.request(1, 1);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 7).words, vec![122], "the warm incumbent got every request");
    assert!(sim.not_answered_once().is_empty());
    let kinds: Vec<EventKind> = (0..sim.m.log().size()).map(|i| UpdateEvent::decode(sim.m.log().entry(i).unwrap()).unwrap().kind).collect();
    assert_eq!(kinds, vec![EventKind::Install, EventKind::Promote, EventKind::Rollback]);
}

#[test]
fn the_immune_systems_rollback_restores_the_incumbent_and_the_log_says_why() {
    let mut sim = Sim::new(config(policy(), 4));
    // Nothing to roll back yet: refused at once, and the refusal is logged.
    assert!(matches!(sim.m.immune_rollback("LatencyP50", "domain=checksum-client metric=LatencyP50"), Some(Response::Refused { .. })));
    sim.install(&bundle(b"fast"));
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    let why = "alarm LatencyP50 for domain checksum-client: observed 900.0 against baseline 30.0";
    // Taken, and carried out in steps (since `slots21`): its entry, then the rollback.
    let entries = sim.m.log().size();
    sim.hold_steps = true;
    assert_eq!(sim.m.immune_rollback(why, "domain=checksum-client metric=LatencyP50"), None);
    assert_eq!(sim.m.log().size(), entries, "no entry in the signal's handling");
    assert!(sim.m.rollback_under_way());
    assert!(!sim.m.deferred(), "nothing more in the signal's span");
    // A rollback by hand meanwhile is refused: this one covers it.
    let id = rollback_by_hand(&mut sim);
    let (kind, reason) = refusal(control_answer(&mut sim, id).expect("refused at once"));
    assert_eq!(kind, RefusalKind::Busy);
    assert_eq!(reason, "the rollback by the immune system of module 1 is under way: one at a time");
    // A second alarm meanwhile: refused Busy (this rollback covers it), not logged.
    let (kind, reason) = refusal(sim.m.immune_rollback(why, "domain=checksum-client metric=LatencyP50").expect("refused at once"));
    assert_eq!((kind, reason.as_str()), (RefusalKind::Busy, "the rollback by the immune system of module 1 is under way"));
    assert_eq!(sim.m.log().size(), entries, "the Busy refusals are not logged");
    assert!(sim.m.deferred_step(), "the entry's step");
    assert_eq!(sim.m.log().size(), entries + 1);
    assert_eq!(sim.m.slot().serving(), 1, "not rolled back in the entry's step");
    assert!(sim.m.deferred_step(), "the rollback's step");
    assert_eq!(sim.m.slot().serving(), 0);
    assert!(
        sim.notes()
            .contains("@event slot.immune-rollback slot=checksum domain=checksum-client metric=LatencyP50 outcome=rolled-back serving=0"),
        "{}",
        sim.notes()
    );
    assert!(!sim.m.rollback_under_way());
    sim.hold_steps = false;
    sim.request(1, 1);
    sim.pump();
    assert!(sim.not_answered_once().is_empty());
    let entries: Vec<UpdateEvent> = (0..sim.m.log().size()).map(|i| UpdateEvent::decode(sim.m.log().entry(i).unwrap()).unwrap()).collect();
    let last = entries.last().unwrap();
    assert_eq!((&last.kind, last.module.as_str()), (&EventKind::Rollback, "checksum-fast"));
    assert_eq!(last.note.as_str(), format!("rolled back by the immune system: {why}"));
    assert!(entries[0].note.starts_with("refused"), "{:?}", entries[0]);
    assert_eq!(sim.store.entries.borrow().len(), entries.len(), "every entry persisted");
}

#[test]
fn the_serving_module_runs_with_the_incumbents_schedule() {
    use tileos_protocol::supervisor::SeatSchedule::{self, Serving, Shadow};
    let mut p = policy();
    p.max_challengers = 3;
    let mut sim = Sim::new(config(p, 4));
    sim.install(&bundle(b"fast"));
    sim.pump();
    let schedules = |sim: &Sim| sim.world.borrow().schedules.clone();
    let seat = sim.m.seat_of_module(1).expect("the challenger's seat") as u8;
    assert_eq!(schedules(&sim).get(&seat), Some(&Shadow), "a challenger shadows on the challengers' schedule");
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    assert_eq!(schedules(&sim).get(&seat), Some(&Serving), "the promoted module serves at once on the incumbent's schedule");
    // The warm incumbent shadows once it has exported its state and the promoted module
    // delivered its first answer, when no client waits (Manager::deferred): after the
    // promoted module got the serving schedule, never before.
    let order = |sim: &Sim| -> Vec<(u8, SeatSchedule)> {
        sim.world
            .borrow()
            .supervisor
            .iter()
            .filter_map(|r| match r {
                tileos_protocol::supervisor::Request::SeatSchedule { seat, schedule } => Some((*seat, *schedule)),
                _ => None,
            })
            .collect()
    };
    // Started in pieces at priority 0 (SeatSchedule::Start), raised at its READY.
    assert_eq!(order(&sim), vec![(seat, Shadow), (seat, Serving)]);
    sim.pump();
    assert_eq!(order(&sim), vec![(seat, Shadow), (seat, Serving)], "exported, but the switch is not done yet");
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 6).words, vec![121]);
    assert_eq!(order(&sim), vec![(seat, Shadow), (seat, Serving), (0, Shadow)]);
    assert_eq!(schedules(&sim).get(&0), Some(&Shadow), "then the warm incumbent shadows");
    assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });
    sim.pump();
    assert_eq!(schedules(&sim).get(&0), Some(&Serving), "back to the incumbent's schedule at the rollback");
    assert_eq!(sim.m.seat_of_module(1), None, "the rolled-back module left its seat");
    let stops = |sim: &Sim| sim.world.borrow().supervisor.iter().filter(|r| matches!(r, SeatRequest::SeatStop { .. })).count();
    assert_eq!(stops(&sim), 0, "parked: its teardown waits until the seat is needed");
    // The next installs need seats: the free ones first, then the parked one is torn down.
    sim.install(&bundle(b"fast"));
    sim.install(&bundle(b"fast"));
    assert_eq!(stops(&sim), 0);
    assert!(matches!(sim.install(&bundle(b"fast")), Response::Installed { .. }));
    assert_eq!(stops(&sim), 1);
    assert_eq!(schedules(&sim).get(&seat), Some(&Shadow), "the seat runs the new challenger");
}

/// At an automatic promotion the other challengers are superseded: parked, not torn down
/// while the manager handles the answer that completed the evidence (the root server's
/// teardown would land in a client's call); they get no more work, their answers to
/// copies they had are dropped, and their seats serve the next installs.
#[test]
fn superseded_challengers_are_parked_not_stopped_at_the_promotion() {
    let mut p = policy();
    p.auto_promote = true;
    p.max_challengers = 3;
    let mut sim = Sim::new(config(p, 4));
    sim.install(&bundle(b"fast"));
    sim.pump();
    for x in 1..=3 {
        sim.request(2, x);
        sim.pump();
    }
    sim.install(&bundle(b"correct"));
    sim.install(&bundle(b"correct"));
    for x in 1..=8 {
        sim.request(2, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().serving(), 1, "{}", sim.notes());
    assert_eq!(sim.m.slot().counters().rejected, 2, "superseded");
    assert_eq!(sim.m.seat_of_module(2), None);
    assert_eq!(sim.m.seat_of_module(3), None);
    let stops = sim.world.borrow().supervisor.iter().filter(|r| matches!(r, SeatRequest::SeatStop { .. })).count();
    assert_eq!(stops, 0, "no teardown at the promotion");
    for x in 1..=5 {
        sim.request(2, x);
        sim.pump();
    }
    assert!(sim.not_answered_once().is_empty());
    assert_eq!(sim.m.stats().violations, 0, "answers of parked modules are not violations");
}

#[test]
fn auto_promotion_by_policy_is_logged_and_the_window_settles() {
    let mut p = policy();
    p.auto_promote = true;
    let mut sim = Sim::new(config(p, 4));
    sim.install(&bundle(b"fast"));
    for x in 1..=8 {
        sim.request(2, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().serving(), 1);
    sim.advance(p.rollback_window + 1);
    assert_eq!(state_of(&sim, 1), Some(State::Settled));
    assert_eq!(state_of(&sim, 0), None, "retired");
    assert_eq!(sim.m.seat_of_module(0), None);
    sim.request(2, 1);
    sim.pump();
    assert_eq!(answer_value(&sim, 2, 8).words, vec![37]);
    assert_eq!(UpdateEvent::decode(sim.m.log().entry(1).unwrap()).unwrap().kind, EventKind::Promote);
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_wrong_challenger_is_rejected_and_stopped() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"wrong"));
    for x in 1..=8 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().serving(), 0);
    assert_eq!(state_of(&sim, 1), None, "rejected and forgotten");
    assert_eq!(sim.m.slot().counters().rejected, 1);
    assert_eq!(sim.m.seat_of_module(1), None);
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_challenger_that_never_answers_delays_no_client() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"silent"));
    for x in 1..=50 {
        sim.request(1, x);
        sim.pump();
        sim.advance(150_000);
    }
    assert!(sim.not_answered_once().is_empty());
    // Its timeouts count as disagreement: rejected once `min_agreeing` requests were compared.
    assert!(sim.m.slot().counters().timeouts >= 5);
    assert_eq!(sim.m.slot().counters().rejected, 1);
    assert!(sim.held.is_empty(), "its seat was stopped");
}

/// A challenger whose module hangs while starting (found on a booted tile: an ELF whose
/// read-only segment was emptied started, never called READY and never faulted) would hold
/// its seat, and the slot's challenger allowance, for ever: past `READY_DEADLINE` without
/// READY it counts as a fault, its seat is stopped, and the seat serves another install.
#[test]
fn a_challenger_that_never_calls_ready_is_failed_after_the_ready_deadline() {
    let mut sim = Sim::new(config(policy(), 4));
    // The commit waits for the module's READY (docs/slots.md, "Installs"): answered at the deadline.
    let commit = sim.stage_and_commit(&bundle(b"hung"));
    while sim.m.install_phase() != Some("up") {
        if sim.m.install_steppable() {
            sim.m.install_step();
            sim.raise_as_the_glue_does();
        } else {
            sim.pump();
        }
    }
    sim.pump();
    sim.request(1, 1);
    sim.pump();
    sim.advance(tileos_slot_manager::READY_DEADLINE - 1);
    assert_eq!(state_of(&sim, 1), Some(State::Installed), "still within the deadline");
    assert!(sim.take_reply(commit).is_none());
    sim.advance(2);
    let reply = sim.take_reply(commit).expect("the commit answered at the deadline");
    assert_eq!(tileos_protocol::decode::<slots::Response>(reply.label, &reply.words).unwrap(), slots::Response::Installed { module: 1 });
    assert_eq!(state_of(&sim, 1), None, "rejected and forgotten");
    assert_eq!(sim.m.slot().counters().rejected, 1);
    assert_eq!(sim.m.seat_of_module(1), None);
    assert!(sim.world.borrow().supervisor.iter().any(|r| matches!(r, tileos_protocol::supervisor::Request::SeatStop { seat: 1 })));
    assert!(sim.notes().contains("never called READY"), "{}", sim.notes());
    assert!(matches!(sim.install(&bundle(b"correct")), slots::Response::Installed { .. }));
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_fault_of_the_settled_incumbent_fails_its_request_and_restarts_it() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.modules.get_mut(&0).unwrap().behavior = Behavior::CrashAfter(3);
    for x in 1..=3 {
        sim.request(x, x);
    }
    sim.pump();
    assert_eq!(answer_value(&sim, 3, 0), Message::error(ProtocolError::Failed));
    assert_eq!(sim.m.stats().failed, 1);
    assert!(sim.world.borrow().supervisor.iter().any(|r| matches!(
        r,
        tileos_protocol::supervisor::Request::SeatStart {
            seat: 0,
            program: tileos_protocol::supervisor::SeatProgram::Incumbent,
            restart: true
        }
    )));
    sim.request(4, 5);
    sim.pump();
    assert_eq!(answer_value(&sim, 4, 0).words, vec![5], "the restarted incumbent serves (fresh state)");
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_fault_of_the_promoted_module_rolls_back_and_the_warm_module_answers() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"crash3"));
    sim.control(Access::Full, &Request::Promote { module: 1, force: true });
    for x in 1..=5 {
        sim.request(x, x);
    }
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 0);
    assert_eq!(sim.m.slot().counters().rolled_back, 1);
    assert!(sim.not_answered_once().is_empty(), "{:?}\n{}", sim.not_answered_once(), sim.notes());
    // Every answer is the warm incumbent's running sum: none lost, none twice.
    let mut values: Vec<u64> = (1..=5).map(|b| answer_value(&sim, b, 0).words[0]).collect();
    values.sort();
    assert_eq!(values.last(), Some(&15));
    let last = UpdateEvent::decode(sim.m.log().entry(sim.m.log().size() - 1).unwrap()).unwrap();
    assert_eq!(last.kind, EventKind::Rollback);
}

#[test]
fn a_faulted_challenger_is_rejected() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"crash2"));
    for x in 1..=4 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(state_of(&sim, 1), None);
    assert_eq!(sim.m.slot().counters().rejected, 1);
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_module_that_refuses_the_state_is_treated_as_faulted() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"refuse-import"));
    assert_eq!(sim.m.slot().counters().rejected, 1, "{}", sim.notes());
}

#[test]
fn hostile_control_messages_are_refused_precisely() {
    let mut sim = Sim::new(config(policy(), 4));
    // Garbage.
    let reply = sim.control_raw(CONTROL, Access::Full, Message { label: MESSAGE, words: vec![3, u64::MAX] });
    assert_eq!(reply, Message::error(ProtocolError::Malformed));
    let reply = sim.control_raw(CONTROL, Access::Full, Message { label: 0x999, words: vec![] });
    assert_eq!(reply, Message::error(ProtocolError::UnknownLabel));
    let reply = sim.control_raw(CONTROL, Access::Full, Message { label: MESSAGE, words: vec![10_000] });
    assert_eq!(reply, Message::error(ProtocolError::Truncated));
    let reply = sim.control_raw(CONTROL, Access::Full, Message { label: MESSAGE, words: vec![0; 500] });
    assert_eq!(reply, Message::error(ProtocolError::TooLarge));
    // A reader may not change anything.
    assert_eq!(refusal(sim.control(Access::Read, &Request::InstallBegin { length: 10 })).0, RefusalKind::NotAllowed);
    assert_eq!(refusal(sim.control(Access::Read, &Request::Rollback)).0, RefusalKind::NotAllowed);
    // Staging.
    assert_eq!(refusal(sim.control(Access::Full, &Request::InstallCommit)).0, RefusalKind::Staging);
    assert_eq!(refusal(sim.control(Access::Full, &Request::InstallBegin { length: u32::MAX })).0, RefusalKind::Staging);
    assert_eq!(refusal(sim.control(Access::Full, &Request::InstallBegin { length: 0 })).0, RefusalKind::Staging);
    let chunk = |offset: u32, n: usize| Request::InstallChunk { offset, bytes: heapless::Vec::from_slice(&vec![7u8; n]).unwrap() };
    assert_eq!(refusal(sim.control(Access::Full, &chunk(0, 10))).0, RefusalKind::Staging, "no staging");
    assert_eq!(sim.control(Access::Full, &Request::InstallBegin { length: 100 }), Response::Staged { received: 0 });
    let (kind, reason) = refusal(sim.control(Access::Full, &chunk(5, 10)));
    assert_eq!(kind, RefusalKind::Staging);
    assert!(reason.contains("next chunk starts at byte 0"), "{reason}");
    assert_eq!(sim.control(Access::Full, &chunk(0, 60)), Response::Staged { received: 60 });
    let (kind, reason) = refusal(sim.control(Access::Full, &chunk(60, 41)));
    assert_eq!(kind, RefusalKind::Staging);
    assert!(reason.contains("runs past"), "{reason}");
    let (kind, reason) = refusal(sim.control(Access::Full, &Request::InstallCommit));
    assert_eq!(kind, RefusalKind::Staging);
    assert!(reason.contains("60 of 100"), "{reason}");
    // Nothing of that was logged (staging refusals are not state changes).
    assert_eq!(sim.m.log().size(), 0);
    // Promote and rollback with nothing to do.
    assert_eq!(refusal(sim.control(Access::Full, &Request::Promote { module: 9, force: true })).0, RefusalKind::NotFound);
    assert_eq!(refusal(sim.control(Access::Full, &Request::Rollback)).0, RefusalKind::Policy);
    assert_eq!(refusal(sim.control(Access::Read, &Request::LogEntry { index: 99 })).0, RefusalKind::NotFound);
    assert_eq!(refusal(sim.control(Access::Read, &Request::LogInclusion { index: 0, tree_size: 99 })).0, RefusalKind::NotFound);
    assert_eq!(refusal(sim.control(Access::Read, &Request::LogConsistency { old_size: 5, new_size: 1 })).0, RefusalKind::NotFound);
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn forged_unsigned_tampered_and_wrong_key_bundles_are_refused_and_logged() {
    let mut sim = Sim::new(config(policy(), 4));
    let good = bundle(b"fast");
    let mut tampered = good.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let mut forged_signature = good.clone();
    forged_signature[tileos_module_bundle::HEADER_LEN + 3] ^= 0x40;
    let wrong_key = bundle_with(&BundleSigner::from_seeds(&[1; 32], &[2; 32]), b"fast", vec![]);
    let unsigned = b"\x7fELF not a bundle at all".to_vec();
    for (bytes, what) in [(tampered, "hash"), (forged_signature, "Ed25519"), (wrong_key, "untrusted"), (unsigned, "magic")] {
        let (kind, reason) = refusal(sim.install(&bytes));
        assert_eq!(kind, RefusalKind::Bundle);
        assert!(reason.contains(what), "{reason} should mention {what}");
    }
    assert_eq!(sim.m.log().size(), 4, "every refusal is logged");
    for i in 0..4 {
        let event = UpdateEvent::decode(sim.m.log().entry(i).unwrap()).unwrap();
        assert!(event.note.starts_with("refused (Bundle)"), "{}", event.note);
    }
    assert_eq!(sim.m.slot().counters().installed, 0);
    assert!(sim.world.borrow().supervisor.is_empty(), "nothing reached the root server");
}

#[test]
fn capabilities_beyond_the_allowance_are_refused() {
    let mut sim = Sim::new(config(policy(), 4));
    let signer = dev_keys::bundle_signer();
    let client = Rights { read: false, write: true, grant: false, grant_reply: false };
    let cases = [
        (vec![CapabilityRequest::Endpoint { name: "store".into(), rights: client }], "outside"),
        (vec![CapabilityRequest::Endpoint { name: "log".into(), rights: Rights { read: true, ..client } }], "serve"),
        (vec![CapabilityRequest::Irq { name: "log".into() }], "irq"),
        (vec![CapabilityRequest::IoPort { name: "com1".into() }], "io port"),
    ];
    for (capabilities, what) in cases {
        let (kind, reason) = refusal(sim.install(&bundle_with(&signer, b"fast", capabilities)));
        assert_eq!(kind, RefusalKind::Capabilities);
        assert!(reason.contains(what), "{reason}");
    }
    let allowed = vec![CapabilityRequest::Endpoint { name: "log".into(), rights: client }];
    assert_eq!(sim.install(&bundle_with(&signer, b"fast", allowed)), Response::Installed { module: 1 });
}

#[test]
fn policy_refusals_too_many_challengers_and_no_seat() {
    let mut p = policy();
    p.max_challengers = 1;
    let mut sim = Sim::new(config(p, 4));
    let b = bundle(b"fast");
    assert_eq!(sim.install(&b), Response::Installed { module: 1 });
    let (kind, reason) = refusal(sim.install(&b));
    assert_eq!(kind, RefusalKind::Policy);
    assert!(reason.contains("TooManyChallengers"), "{reason}");
    let mut sim = Sim::new(config(policy(), 2));
    assert_eq!(sim.install(&b), Response::Installed { module: 1 });
    let (kind, reason) = refusal(sim.install(&b));
    assert_eq!(kind, RefusalKind::Policy);
    assert!(reason.contains("no free seat"), "{reason}");
}

#[test]
fn a_build_failure_is_refused_and_nothing_is_installed() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.world.borrow_mut().refuse_start = true;
    let (kind, reason) = refusal(sim.install(&bundle(b"fast")));
    assert_eq!(kind, RefusalKind::Build);
    assert!(reason.contains("BadProgram"), "{reason}");
    assert_eq!(sim.m.slot().counters().installed, 0);
}

#[test]
fn when_the_log_cannot_be_persisted_nothing_changes() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.store.fail.set(true);
    let (kind, _) = refusal(sim.install(&bundle(b"fast")));
    assert_eq!(kind, RefusalKind::Store);
    assert_eq!(sim.m.slot().counters().installed, 0);
    assert!(sim.world.borrow().running.len() == 1, "the seat was stopped again");
    sim.store.fail.set(false);
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    sim.store.fail.set(true);
    assert_eq!(refusal(sim.control(Access::Full, &Request::Promote { module: 1, force: true })).0, RefusalKind::Store);
    assert_eq!(sim.m.slot().serving(), 0, "not promoted");
}

#[test]
fn the_log_is_reloaded_at_boot_and_its_heads_are_signed() {
    let store = TestStore::default();
    let head = {
        let mut sim = Sim::with_store(config(policy(), 4), store.clone());
        sim.install(&bundle(b"fast"));
        sim.install(b"junk");
        sim.advance(5_000_000);
        match sim.control(Access::Read, &Request::LogHead) {
            Response::Head(head) => head,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(head.tree_size, 2);
    let sim = Sim::with_store(config(policy(), 4), store.clone());
    let mut sim = sim;
    let again = match sim.control(Access::Read, &Request::LogHead) {
        Response::Head(head) => head,
        other => panic!("{other:?}"),
    };
    assert_eq!((again.tree_size, again.root), (head.tree_size, head.root));
    assert!(again.timestamp_ms > UpdateEvent::decode(&store.entries.borrow()[1]).unwrap().timestamp_ms, "the log clock never goes back");
    let signed = tileos_update_log::SignedTreeHead {
        head: tileos_update_log::TreeHead { tree_size: again.tree_size, timestamp_ms: again.timestamp_ms, root_hash: again.root },
        signature: again.signature.as_slice().try_into().unwrap(),
    };
    signed.verify(&dev_keys::log_key().verifying_key()).unwrap();
    // Proofs against that head.
    let path = match sim.control(Access::Read, &Request::LogInclusion { index: 1, tree_size: 2 }) {
        Response::Proof { hashes } => hashes,
        other => panic!("{other:?}"),
    };
    tileos_update_log::verify_inclusion(&store.entries.borrow()[1], 1, 2, &again.root, &path).unwrap();
    let path = match sim.control(Access::Read, &Request::LogConsistency { old_size: 1, new_size: 2 }) {
        Response::Proof { hashes } => hashes,
        other => panic!("{other:?}"),
    };
    let old_root = tileos_update_log::UpdateLog::from_entries(vec![store.entries.borrow()[0].clone()]).unwrap().root();
    tileos_update_log::verify_consistency(1, &old_root, 2, &again.root, &path).unwrap();
}

#[test]
fn module_calls_that_break_the_seat_protocol_are_dropped() {
    let mut sim = Sim::new(config(policy(), 4));
    // An answer from a seat with no outstanding request (seat 0 is idle).
    sim.module_call(0, Message { label: MESSAGE, words: vec![1, 2] });
    // State nobody asked for.
    sim.module_call(0, Message { label: STATE, words: vec![1] });
    // A seat the slot does not have, and one that runs nothing.
    sim.module_call(40, Message::empty(READY));
    sim.module_call(3, Message { label: MESSAGE, words: vec![1] });
    sim.module_call(!SEAT_BADGE, Message::empty(READY));
    let released = sim.world.borrow().released.len();
    assert_eq!((sim.m.stats().violations, released), (7, 5), "{}", sim.notes());
    // The incumbent still serves.
    sim.request(1, 4);
    sim.pump();
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn calls_after_a_seat_restart_belong_to_the_new_module() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"fast"));
    sim.fault(1);
    // max_faults = 0: rejected, its seat empty; a late call from that seat is dropped.
    assert_eq!(sim.m.seat_of_module(1), None);
    sim.module_call(1, Message { label: MESSAGE, words: vec![1, 2] });
    assert!(sim.m.stats().violations >= 1);
    // With faults allowed, the challenger is rebuilt from its kept ELF and imports again.
    let mut p = policy();
    p.max_faults = 3;
    let mut sim = Sim::new(config(p, 4));
    sim.install(&bundle(b"fast"));
    sim.request(1, 3);
    sim.pump();
    sim.fault(1);
    assert_eq!(sim.m.seat_of_module(1), Some(1));
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    let view = sim.m.slot().module(1).unwrap();
    assert_eq!((view.evidence.disagreeing, view.evidence.faults), (0, 1), "{view:?}\n{}", sim.notes());
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_busy_client_and_a_full_queue_are_refused() {
    let mut c = config(policy(), 4);
    c.queue_limit = 2;
    let mut sim = Sim::new(c);
    sim.modules.get_mut(&0).unwrap().behavior = Behavior::Silent;
    sim.request(1, 1);
    sim.pump();
    sim.request(1, 2);
    sim.request(2, 2);
    sim.request(3, 3);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 1), Message::error(ProtocolError::Busy));
    assert_eq!(answer_value(&sim, 3, 0), Message::error(ProtocolError::Busy));
    assert_eq!((sim.m.stats().busy, sim.m.stats().full), (1, 1));
    assert_eq!(sim.m.outstanding(), 2);
}

#[test]
fn a_challenger_that_falls_behind_leaves_no_exchanges_waiting() {
    // A policy that allows any disagreement, so the silent challenger keeps shadowing.
    let mut p = policy();
    p.max_disagreement = tileos_slots::Ratio { num: 1, den: 1 };
    let mut c = config(p, 4);
    c.queue_limit = 4;
    let mut sim = Sim::new(c);
    let module = 1;
    assert_eq!(sim.install(&bundle(b"silent")), Response::Installed { module });
    sim.pump();
    for x in 1..=200 {
        sim.request(1, x);
        sim.pump();
    }
    // Its skipped copies were settled at once (paced mirroring), not after the answer
    // deadline (the clock has not reached it): only the copies its seat holds still wait.
    assert!(sim.m.slot().in_flight() <= 4 + 1, "{} exchanges wait\n{}", sim.m.slot().in_flight(), sim.notes());
    let view = sim.m.slot().module(module).unwrap();
    // Before its oldest copy's deadline it is only behind: skipped, not compared.
    assert_eq!((view.evidence.skipped, view.evidence.timeouts, view.evidence.compared()), (195, 0, 0), "{view:?}");
    // Past the deadline the copies it holds time out, and every copy skipped while it is
    // not answering counts against it as a timeout.
    sim.advance(100_001);
    for x in 1..=100 {
        sim.request(1, x);
        sim.pump();
    }
    let view = sim.m.slot().module(module).unwrap();
    assert_eq!(view.evidence.timeouts, 5 + 100, "{view:?}\n{}", sim.notes());
    assert!(sim.m.slot().in_flight() <= 4 + 1);
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn noise_cancelled_slots_run_a_replica() {
    let mut c = config(policy(), 4);
    c.comparator = tileos_slots::Comparator::NoiseCancelled;
    let mut sim = Sim::new(c);
    assert!(sim.world.borrow().running.contains(&3), "the replica runs in the last seat");
    for x in 1..=5 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().noise().compared, 5);
    assert_eq!(sim.m.slot().noise().disagreeing, 0);
    // The status lists the replica after the modules: the noise, as its counts.
    let status = status(&mut sim);
    let replica = status.modules.last().unwrap();
    assert_eq!(
        (replica.module, replica.state.as_str(), replica.seat, replica.agreeing, replica.disagreeing),
        (slots::REPLICA, "replica", 3, 5, 0),
        "{status:?}"
    );
    assert_eq!(status.modules.iter().filter(|m| m.module == slots::REPLICA).count(), 1);
}

fn n_version(replace_after: u32) -> NVersionConfig {
    NVersionConfig { replace_after, lineages: ["sum-a".into(), "sum-b".into(), "sum-c".into()], fallback: "sum-fallback".into() }
}

/// Runs requests 1..=4 through an N-version slot whose lineage 1 is wrong on each (three
/// dissents with `replace_after` 2: replaced at the third).
fn replace_lineage_one(store: TestStore) -> Sim {
    let mut c = config(policy(), 4);
    c.n_version = Some(n_version(2));
    let mut sim = Sim::with_store(c, store);
    sim.wrong_lineage = Some(1);
    for x in 1..=4 {
        sim.request(1, x);
        sim.pump();
    }
    sim
}

#[test]
fn a_lineage_replacement_is_an_update_log_entry() {
    let store = TestStore::default();
    let sim = replace_lineage_one(store.clone());
    assert_eq!(sim.m.lineage_seats(), Some([0, 3, 2]), "{}", sim.notes());
    assert_eq!(sim.m.log().size(), 1, "{}", sim.notes());
    let entry = UpdateEvent::decode(&store.entries.borrow()[0]).unwrap();
    assert_eq!(
        entry.kind,
        EventKind::LineageReplaced {
            lineage: 1,
            dissents: 3,
            replaced: ModuleRef { module: "sum-b".into(), version: String::new(), content_hash: [0; 32] }
        }
    );
    assert_eq!((entry.slot.as_str(), entry.module.as_str(), entry.content_hash), ("checksum", "sum-fallback", [0; 32]));
    assert_eq!(entry.note, "lineage 1 dissented 3 times (replace_after 2): the fallback takes its place in seat 3");
    let notes = sim.notes();
    assert!(notes.contains("@event slot.lineage-replaced slot=checksum lineage=1 dissents=3 seat=3"), "{notes}");
    assert_eq!(sim.m.stats().log_failures, 0);
}

#[test]
fn a_manager_restarted_after_a_lineage_replacement_runs_the_fallback_in_its_place() {
    let store = TestStore::default();
    let mut sim = replace_lineage_one(store.clone());
    assert_eq!(sim.m.lineage_seats(), Some([0, 3, 2]), "{}", sim.notes());
    let running = |sim: &Sim, seat: u8| sim.world.borrow().running.contains(&seat);
    assert!(!running(&sim, 1) && running(&sim, 3));
    let mut c = config(policy(), 4);
    c.n_version = Some(n_version(2));
    c.generation = 1;
    let before = sim.world.borrow().supervisor.len();
    sim.restart_manager(c);
    // The predecessor's fallback (seat 3) is stopped and the fallback started again in
    // lineage 1's own seat, as the log's LineageReplaced entry says; seats 0 and 2 ran on
    // (their starts refused SeatRunning).
    assert_eq!(sim.m.lineage_seats(), Some([0, 1, 2]));
    assert!(running(&sim, 0) && running(&sim, 1) && running(&sim, 2) && !running(&sim, 3), "{}", sim.notes());
    let asked = sim.world.borrow().supervisor[before..].to_vec();
    assert!(
        asked.iter().any(|r| matches!(r, SeatRequest::SeatStart { seat: 1, program: SeatProgram::Fallback, restart: false })),
        "{asked:?}"
    );
    assert!(!asked.iter().any(|r| matches!(r, SeatRequest::SeatStart { program: SeatProgram::Lineage(1), .. })), "{asked:?}");
    assert!(sim.notes().contains("@event slot.lineage-replacement-restored slot=checksum lineage=1 seat=1"), "{}", sim.notes());
    let shown = status(&mut sim);
    assert_eq!(shown.modules.get(1).map(|m| m.name.as_str()), Some("fallback"), "{shown:?}");
    // The bad lineage is not judged again: its position answers right, so no dissent and no
    // second replacement, though the lineage itself would still answer wrong.
    sim.wrong_lineage = Some(1);
    for x in 5..=10 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(answer_value(&sim, 1, 4).words, vec![15]);
    assert_eq!(answer_value(&sim, 1, 9).words, vec![55]);
    assert!(sim.not_answered_once().is_empty());
    assert!(status(&mut sim).modules.iter().all(|m| m.disagreeing == 0), "a dissent:\n{}", sim.notes());
    let kinds = entry_kinds(&sim);
    assert_eq!(kinds.len(), 2, "the replacement and the restart's entry only: {kinds:?}\n{}", sim.notes());
    assert_eq!(sim.notes().matches("@event slot.lineage-replaced ").count(), 1, "replaced again:\n{}", sim.notes());
}

#[test]
fn a_manager_started_on_a_log_with_a_lineage_replacement_runs_the_fallback_in_its_place() {
    // A boot (generation 0) on a store holding the replacement: the root server started
    // the three lineages; the manager stops lineage 1 and starts the fallback in its seat.
    let store = TestStore::default();
    drop(replace_lineage_one(store.clone()));
    let mut c = config(policy(), 4);
    c.n_version = Some(n_version(2));
    let mut sim = Sim::with_store(c, store.clone());
    assert_eq!(sim.m.lineage_seats(), Some([0, 1, 2]));
    let asked = sim.world.borrow().supervisor.clone();
    assert!(
        matches!(
            asked.as_slice(),
            [SeatRequest::SeatStop { seat: 1 }, SeatRequest::SeatStart { seat: 1, program: SeatProgram::Fallback, restart: false }, ..]
        ),
        "{asked:?}"
    );
    assert!(sim.notes().contains("@event slot.lineage-replacement-restored slot=checksum lineage=1 seat=1"), "{}", sim.notes());
    sim.wrong_lineage = Some(1);
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(answer_value(&sim, 1, 5).words, vec![21]);
    assert!(sim.not_answered_once().is_empty());
    assert!(status(&mut sim).modules.iter().all(|m| m.disagreeing == 0), "a dissent:\n{}", sim.notes());
    assert_eq!(entry_kinds(&sim).len(), 1, "{}", sim.notes());
}

#[test]
fn a_lineage_replacement_whose_entry_the_store_refuses_is_kept_and_tried_again_until_persisted() {
    // Refused once: the replacement goes ahead (it does not wait for the store), the entry
    // is kept and persisted by the deferred work.
    let store = TestStore::default();
    store.fail_next.set(1);
    let mut sim = replace_lineage_one(store.clone());
    assert_eq!(sim.m.lineage_seats(), Some([0, 3, 2]), "replaced all the same\n{}", sim.notes());
    assert!(
        sim.notes().contains("the replacement of lineage 1 was not persisted (the store is unavailable for a moment): kept (1 waiting)"),
        "{}",
        sim.notes()
    );
    // The deferred work tries it again once `LOG_RETRY_INTERVAL` has passed.
    sim.advance(LOG_RETRY_INTERVAL);
    assert_eq!(entry_kinds(&sim).len(), 1, "persisted at the retry\n{}", sim.notes());
    assert!(matches!(UpdateEvent::decode(&store.entries.borrow()[0]).unwrap().kind, EventKind::LineageReplaced { lineage: 1, .. }));
    assert_eq!(sim.m.stats().log_failures, 0);
    // Refused at every try while the store is down: kept (a line at each refusal), tried
    // again `LOG_RETRY_INTERVAL` apart, persisted once the store is back.
    let store = TestStore::default();
    store.fail.set(true);
    let mut sim = replace_lineage_one(store.clone());
    sim.pump();
    for _ in 0..3 {
        sim.advance(LOG_RETRY_INTERVAL);
    }
    assert_eq!(sim.m.lineage_seats(), Some([0, 3, 2]));
    assert_eq!(sim.m.log().size(), 0);
    assert_eq!(sim.m.stats().log_failures, 0, "{}", sim.notes());
    assert_eq!(sim.m.stats().log_retries_failed, 3, "one try per interval\n{}", sim.notes());
    assert!(sim.notes().contains("@event slot.log-kept slot=checksum waiting=1 reason=\"the store is unavailable"), "{}", sim.notes());
    store.fail.set(false);
    sim.advance(LOG_RETRY_INTERVAL);
    assert!(matches!(UpdateEvent::decode(&store.entries.borrow()[0]).unwrap().kind, EventKind::LineageReplaced { lineage: 1, .. }));
    assert!(sim.notes().contains("@event slot.log-kept-persisted slot=checksum entries=1"), "{}", sim.notes());
    assert_eq!(sim.m.stats().log_failures, 0);
}

#[test]
fn a_restarted_manager_appends_a_manager_started_entry_after_reloading_the_log() {
    let store = TestStore::default();
    // Boot (generation 0): no entry; an install makes one.
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    assert_eq!(sim.m.log().size(), 1);
    drop(sim);
    // The domain restarted (generation 2): the entry names the reload.
    let mut c = config(policy(), 4);
    c.generation = 2;
    let sim = Sim::with_store(c, store.clone());
    assert_eq!(sim.m.log().size(), 2, "{}", sim.notes());
    let entry = UpdateEvent::decode(&store.entries.borrow()[1]).unwrap();
    assert_eq!(entry.kind, EventKind::ManagerStarted { generation: 2, reloaded: 1, seats: 4 });
    assert_eq!(entry.module, "checksum-v1");
    assert!(entry.timestamp_ms > UpdateEvent::decode(&store.entries.borrow()[0]).unwrap().timestamp_ms);
    assert!(sim.notes().contains("@event slot.manager-restarted slot=checksum generation=2 reloaded=1"), "{}", sim.notes());
    drop(sim);
    // A stored entry that does not decode stops the start, naming the entry.
    store.entries.borrow_mut()[1][1] = 0x7f;
    let mut c = config(policy(), 4);
    c.generation = 3;
    let world = std::rc::Rc::new(std::cell::RefCell::new(World::default()));
    let clock = TestClock(std::rc::Rc::new(std::cell::Cell::new(1_000)));
    let error = tileos_slot_manager::Manager::new(c, Host(world), clock, store.clone()).err().unwrap();
    assert_eq!(error.to_string(), "update log: entry 1: malformed entry");
}

/// Installs the bundle of `payload` as module 1, sends it six requests to compare, and
/// promotes it by hand.
fn install_and_promote_by_hand(sim: &mut Sim, payload: &[u8]) {
    assert_eq!(sim.install(&bundle(payload)), Response::Installed { module: 1 });
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    sim.pump();
}

/// A boot (generation 0) on a store whose log names a promoted module serving: the tile
/// serves the incumbent (a boot does not start a saved program), and the log says so with a
/// `ManagerStarted` entry of generation 0 naming the incumbent and the module not kept, so
/// that its last word is the module that serves. A later boot finds nothing to say; a boot
/// after a promotion that was rolled back finds nothing either.
#[test]
fn a_boot_after_a_promotion_logs_that_the_promotion_is_not_kept() {
    let store = TestStore::default();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    install_and_promote_by_hand(&mut sim, b"fast");
    drop(sim);
    let sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.m.log().size(), 3, "{}", sim.notes());
    let entry = UpdateEvent::decode(&store.entries.borrow()[2]).unwrap();
    assert_eq!(entry.kind, EventKind::ManagerStarted { generation: 0, reloaded: 2, seats: 4 });
    assert_eq!((entry.module.as_str(), entry.version.as_str()), ("checksum-v1", ""));
    assert!(
        entry.note.contains("the promotion of module checksum-fast 1.0.0 is not kept across the reboot (no program is saved)"),
        "{}",
        entry.note
    );
    assert!(entry.note.ends_with("; the incumbent serves"), "{}", entry.note);
    assert!(sim.notes().contains("@event slot.promotion-not-kept slot=checksum module=\"checksum-fast\""), "{}", sim.notes());
    drop(sim);
    // The log's last word is the incumbent now: the next boot appends nothing.
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.m.log().size(), 3);
    // A promotion rolled back before the reboot leaves nothing to say either.
    install_and_promote_by_hand(&mut sim, b"fast2");
    assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });
    sim.pump();
    let size = sim.m.log().size();
    drop(sim);
    let sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.m.log().size(), size, "{}", sim.notes());
}

/// A boot on a store whose log names a *settled* promoted module, whose program the
/// manager saved on the store when it settled: the module is started again in seat 1 as
/// the serving module (its state fresh), seat 0 stopped, and the log says so (a
/// `ManagerStarted` of generation 0 naming the module); the next boot restores it again.
/// A saved program whose hash is not the log's is refused: the incumbent serves.
#[test]
fn a_boot_restores_a_settled_promotion_from_its_saved_program() {
    let store = TestStore::default();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    install_and_promote_by_hand(&mut sim, b"fast");
    sim.advance(policy().rollback_window + 1);
    sim.request(1, 1);
    sim.pump();
    assert_eq!(state_of(&sim, 1), Some(State::Settled));
    assert!(sim.notes().contains("@event slot.program-saved slot=checksum module=1 "), "{}", sim.notes());
    drop(sim);
    for boot in 1..=2u64 {
        let what = format!("boot {boot}");
        let mut sim = Sim::with_store(config(policy(), 4), store.clone());
        assert!(
            sim.notes().contains("@event slot.promotion-restored slot=checksum seat=1 module=\"checksum-fast\""),
            "{what}\n{}",
            sim.notes()
        );
        assert_eq!(sim.m.seat_of_module(0), Some(1), "{what}");
        assert!(sim.world.borrow().running.contains(&1) && !sim.world.borrow().running.contains(&0), "{what}");
        let entry = UpdateEvent::decode(store.entries.borrow().last().unwrap()).unwrap();
        assert!(matches!(entry.kind, EventKind::ManagerStarted { generation: 0, .. }), "{what}");
        assert_eq!(entry.module, "checksum-fast", "{what}");
        assert!(entry.note.contains("serves again in seat 1, started from its program on the store"), "{what}: {}", entry.note);
        // Its state is fresh: the running sum starts again.
        for (x, want) in [(3, 3), (4, 7)] {
            sim.request(1, x);
            sim.pump();
            let seq = if x == 3 { 0 } else { 1 };
            assert_eq!(answer_value(&sim, 1, seq).words, vec![want], "{what}");
        }
    }
    // A program on the store that is not the one the log names: refused, the incumbent serves.
    *store.program.borrow_mut() = Some(b"fast2".to_vec());
    let sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.m.seat_of_module(0), Some(0));
    let entry = UpdateEvent::decode(store.entries.borrow().last().unwrap()).unwrap();
    assert!(
        entry.note.contains("is not kept across the reboot (the program on the store (5 bytes) is another module's)"),
        "{}",
        entry.note
    );
}

#[test]
fn n_version_delivers_the_majority_and_replaces_a_dissenter() {
    let mut c = config(policy(), 4);
    c.n_version = Some(n_version(2));
    let mut sim = Sim::new(c);
    assert_eq!(sim.m.lineage_seats(), Some([0, 1, 2]));
    sim.wrong_lineage = Some(1);
    for x in 1..=4 {
        sim.request(1, x);
        sim.pump();
    }
    for (seq, expected) in [(0, 1), (1, 3), (2, 6), (3, 10)] {
        assert_eq!(answer_value(&sim, 1, seq).words, vec![expected]);
    }
    // The third dissent replaced lineage 1 with the fallback in the spare seat 3.
    assert_eq!(sim.m.lineage_seats(), Some([0, 3, 2]), "{}", sim.notes());
    assert!(sim.world.borrow().supervisor.iter().any(|r| matches!(
        r,
        tileos_protocol::supervisor::Request::SeatStart {
            seat: 3,
            program: tileos_protocol::supervisor::SeatProgram::Fallback,
            restart: false
        }
    )));
    sim.request(1, 5);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 4).words, vec![15]);
    assert!(sim.not_answered_once().is_empty());
    // N-version slots take no challengers.
    assert_eq!(refusal(sim.install(&bundle(b"fast"))).0, RefusalKind::Policy);
}

#[test]
fn a_thousand_promote_rollback_cycles_under_load_lose_and_duplicate_nothing() {
    let mut c = config(policy(), 4);
    c.queue_limit = 64;
    let mut sim = Sim::new(c);
    let fast = bundle(b"fast");
    let mut x = 0;
    let mut load = |sim: &mut Sim, n: u64| {
        for badge in 1..=n {
            x += 1;
            sim.request(badge, x);
        }
    };
    for cycle in 0..1000u32 {
        let module = cycle + 1;
        assert_eq!(sim.install(&fast), Response::Installed { module }, "cycle {cycle}");
        load(&mut sim, 3);
        // Requests in flight at the switch: some queued for the old incumbent.
        assert_eq!(sim.control(Access::Full, &Request::Promote { module, force: true }), Response::Promoted { module });
        load(&mut sim, 3);
        sim.pump();
        load(&mut sim, 3);
        assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });
        sim.pump();
    }
    let lost_or_twice = sim.not_answered_once();
    assert!(lost_or_twice.is_empty(), "{lost_or_twice:?}");
    let answered: usize = sim.answers.values().map(Vec::len).sum();
    assert_eq!(answered, 9000);
    assert_eq!(sim.m.stats().failed + sim.m.stats().busy + sim.m.stats().full, 0);
    // Every answer is right: the running sum, whoever served.
    let mut sum = 0u64;
    let mut expected = std::collections::BTreeMap::new();
    let mut seqs = std::collections::BTreeMap::<u64, u64>::new();
    let mut value = 0;
    for _ in 0..1000 {
        for _ in 0..3 {
            for badge in 1..=3u64 {
                value += 1;
                sum += value;
                let seq = seqs.entry(badge).or_default();
                expected.insert((badge, *seq), sum);
                *seq += 1;
            }
        }
    }
    for (key, sum) in expected {
        assert_eq!(sim.answers[&key][0].words, vec![sum], "request {key:?}: state moved with every switch");
    }
    assert_eq!(sim.m.log().size(), 3000);
    assert_log_clock_never_goes_back(&sim);
}

/// The log's timestamps never go back (what `tilectl log --verify` checks).
#[track_caller]
fn assert_log_clock_never_goes_back(sim: &Sim) {
    let times: Vec<u64> =
        (0..sim.m.log().size()).map(|i| UpdateEvent::decode(sim.m.log().entry(i).unwrap()).unwrap().timestamp_ms).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

/// A tile whose challenger (seat 1, module 1) the policy has just promoted: the promoted
/// module has not answered yet, and no client waits.
fn auto_promoted() -> Sim {
    let sim = shadowing_fast(policy(), 5);
    assert_eq!(sim.m.slot().serving(), 1, "promoted by the policy\n{}", sim.notes());
    sim
}

/// A tile with policy `p` (auto-promoting) whose challenger checksum-fast (module 1) was
/// installed and then sent `requests` client requests, each answered before the next.
fn shadowing_fast(mut p: tileos_slots::SlotPolicy, requests: u64) -> Sim {
    p.auto_promote = true;
    let mut sim = Sim::new(config(p, 4));
    sim.install(&bundle(b"fast"));
    sim.pump();
    for x in 1..=requests {
        sim.request(1, x);
        sim.pump();
    }
    sim
}

/// The kinds of the update log's entries.
fn entry_kinds(sim: &Sim) -> Vec<EventKind> {
    (0..sim.m.log().size()).map(|i| UpdateEvent::decode(sim.m.log().entry(i).unwrap()).unwrap().kind).collect()
}

/// A promotion by the policy is written before it is acted on: it is carried out as
/// deferred work (`Manager::deferred`: no client waits), and its update-log entry is
/// persisted first. At no moment does the slot serve a module the log does not say was
/// promoted, so a manager that faults at any point loses no promotion it carried out.
/// A tile with an auto-promoting policy whose challenger (module 1) became promotable (its
/// soak ended), then two client requests arrived: its promotion is due, not done.
fn promotable_while_clients_wait() -> Sim {
    let mut p = policy();
    p.min_soak = 1_000;
    // Copies in flight past `DEFERRED_BOUND` are not timeouts here.
    p.answer_deadline = 10 * tileos_slot_manager::DEFERRED_BOUND;
    let mut sim = shadowing_fast(p, 5);
    assert_eq!(sim.m.slot().module(1).map(|m| m.state), Some(State::Shadowing), "soaking\n{}", sim.notes());
    // Two clients call (the incumbent's seat paused: their requests stay in flight), then
    // the soak ends. The caller clears `paused` to let the incumbent serve.
    sim.paused.insert(0);
    sim.request(2, 1);
    sim.request(1, 6);
    sim.advance(2_000);
    sim
}

#[test]
fn an_automatic_promotion_is_logged_before_it_is_carried_out() {
    let mut sim = promotable_while_clients_wait();
    assert_eq!(sim.m.slot().module(1).map(|m| m.state), Some(State::Promotable), "due, but a client waits\n{}", sim.notes());
    assert_eq!(sim.m.slot().serving(), 0);
    assert_eq!(entry_kinds(&sim), [EventKind::Install]);
    sim.paused.clear();
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 1, "promoted once nobody waits\n{}", sim.notes());
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    let note = UpdateEvent::decode(sim.m.log().entry(1).unwrap()).unwrap().note;
    assert!(note.starts_with("promoted by policy"), "{note}");
    sim.request(1, 7);
    sim.pump();
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "appended once");
    assert!(sim.not_answered_once().is_empty());

    // A store that fails: nothing is promoted (the module stays promotable, for a
    // promotion by hand), and the failure is counted.
    let mut sim = shadowing_fast(policy(), 0);
    sim.store.fail.set(true);
    for x in 1..=5 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().serving(), 0, "not promoted without its entry\n{}", sim.notes());
    assert_eq!(sim.m.stats().log_failures, 1);
    assert!(sim.notes().contains("not promoted: its update-log entry was not persisted"), "{}", sim.notes());
    sim.store.fail.set(false);
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    assert!(sim.not_answered_once().is_empty());
}

/// A promotion by the policy waits for its module to finish the copy it is working on (the
/// switch would wait for it anyway, and a client arriving meanwhile with it), then happens at
/// the module's answer; a module that does not answer is promoted past `DEFERRED_BOUND`.
#[test]
fn a_policy_promotion_waits_for_its_module_to_finish_its_copy() {
    for answers in [true, false] {
        // Four agreeing answers of five; then the fifth request's copy completes the evidence
        // while the sixth's is already with the (paused) module. The answer deadline is past
        // the bound, so the silent module's copy is not a timeout (which would reject it).
        let p = tileos_slots::SlotPolicy { answer_deadline: 10 * tileos_slot_manager::DEFERRED_BOUND, ..policy() };
        let mut sim = shadowing_fast(p, 4);
        let seat = sim.m.seat_of_module(1).unwrap();
        sim.paused.insert(seat);
        sim.request(1, 5);
        sim.pump();
        sim.request(1, 6);
        sim.pump();
        sim.serve_paused(seat, 1);
        assert_eq!(sim.m.slot().module(1).map(|m| m.state), Some(State::Promotable), "due, its module busy\n{}", sim.notes());
        assert_eq!(sim.m.slot().serving(), 0);
        if answers {
            // Its answer starts the state transfer before the switch (the serving module
            // exports at once); the switch follows its import.
            sim.serve_paused(seat, 1);
            assert_eq!(sim.m.slot().serving(), 0, "its import comes first\n{}", sim.notes());
            sim.serve_paused(seat, 1);
            assert_eq!(sim.m.slot().serving(), 1, "promoted at its import\n{}", sim.notes());
        } else {
            // Past the bound its entry is persisted whatever waits; the transfer before the
            // switch then waits for the module's import (its copy first).
            sim.advance(tileos_slot_manager::DEFERRED_BOUND + 1);
            sim.request(3, 1);
            assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "persisted past the bound\n{}", sim.notes());
            assert_eq!(sim.m.slot().serving(), 0, "not before its import\n{}", sim.notes());
            // Its copy, answered past the bound, made it too slow: at the switch the policy
            // refuses, the promotion is abandoned and its entry withdrawn.
            sim.paused.clear();
            sim.pump();
            assert_eq!(sim.m.slot().serving(), 0, "abandoned at its import\n{}", sim.notes());
            assert!(sim.notes().contains("slot.promotion-abandoned slot=checksum module=1 why=\"refused at its switch"), "{}", sim.notes());
        }
        sim.paused.clear();
        sim.request(1, 100);
        sim.pump();
        // 1 + … + 6 + 100, and client 3's 1 in the second case.
        let sum = if answers { 121 } else { 122 };
        assert_eq!(answer_value(&sim, 1, 6).words, vec![sum], "the sum of every request");
        let kinds: &[EventKind] = if answers {
            &[EventKind::Install, EventKind::Promote]
        } else {
            &[EventKind::Install, EventKind::Promote, EventKind::Rollback]
        };
        assert_eq!(entry_kinds(&sim), kinds);
        assert!(sim.not_answered_once().is_empty());
    }
}

/// Deferred work waits at most `DEFERRED_BOUND`: with clients always waiting, the next
/// message past the bound does it (here the policy's promotion, its entry first).
#[test]
fn deferred_work_is_done_past_its_bound_whatever_waits() {
    let mut sim = promotable_while_clients_wait();
    assert_eq!(sim.m.log().size(), 1, "due, but a client waits");
    sim.advance(tileos_slot_manager::DEFERRED_BOUND + 1);
    sim.request(3, 1);
    assert_eq!(sim.m.log().size(), 2, "past the bound, appended with clients waiting\n{}", sim.notes());
    assert_eq!(sim.m.slot().serving(), 0, "its transfer before the switch comes next");
    sim.paused.clear();
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 1, "and promoted at the module's import\n{}", sim.notes());
    assert!(sim.not_answered_once().is_empty());
}

/// A promoted module rolled back before its first answer ends the switch to it: the
/// deferred work (here the breaker's entry) is done at the next moment no client waits,
/// not only past `DEFERRED_BOUND` (no answer of the rolled-back module will ever end that
/// switch).
#[test]
fn a_rollback_before_the_first_answer_ends_the_switch_and_frees_the_deferred_work() {
    let mut sim = auto_promoted();
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "the promotion's entry came first");
    // The promoted module faults before it answered anything: the breaker rolls back.
    let seat = sim.m.seat_of_module(1).expect("the promoted module's seat");
    sim.fault(seat);
    assert_eq!(sim.m.slot().serving(), 0, "rolled back\n{}", sim.notes());
    assert_eq!(sim.m.outstanding(), 0, "no client waits");
    assert!(!sim.m.deferred_ready(), "the rollback ended the switch: the deferred work was done at once, within the bound");
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, EventKind::Rollback]);
    sim.request(1, 6);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 5).words, vec![21], "the restored incumbent serves");
    assert!(sim.not_answered_once().is_empty());
}

/// State moves by transfer at every promotion: a module promoted on evidence with no
/// disagreement (which imported the state when it started and got every copy since)
/// imports the warm module's state again before it serves, as one forced in past a
/// disagreement does.
/// A promotion by the policy transfers the state *before* its switch (docs/slots.md,
/// "State moves by transfer"): the serving module exports while it still serves, the
/// module to be promoted imports (raised to the serving schedule first), and the switch
/// follows its import, no request having come in between; so the promoted module's first
/// job after the switch is a client's request, not an import, and it serves from the
/// transferred state.
#[test]
fn a_policy_promotion_transfers_the_state_before_its_switch() {
    let mut sim = shadowing_fast(policy(), 4);
    let seat = sim.m.seat_of_module(1).unwrap();
    assert_eq!(sim.imports.get(&seat), Some(&1), "imported once, when it started");
    // The fifth agreeing answer makes it promotable: transfer, then the switch.
    sim.request(1, 5);
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 1, "promoted by the policy\n{}", sim.notes());
    assert_eq!(sim.imports.get(&seat), Some(&2), "transferred before the switch");
    assert_eq!(sim.world.borrow().schedules.get(&(seat as u8)), Some(&SeatSchedule::Serving));
    let raised = sim
        .world
        .borrow()
        .supervisor
        .iter()
        .position(|r| matches!(r, SeatRequest::SeatSchedule { seat: s, schedule: SeatSchedule::Serving } if usize::from(*s) == seat));
    assert!(raised.is_some(), "raised to the serving schedule");
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    // Its first job after the switch is the client's request.
    sim.paused.insert(seat);
    sim.request(1, 100);
    sim.pump();
    let jobs: Vec<u64> = sim.work.iter().filter(|(s, _, _)| *s == seat).map(|(_, _, m)| m.label).collect();
    assert_eq!(jobs, [MESSAGE], "no import after the switch\n{}", sim.notes());
    sim.paused.clear();
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 5).words, vec![115], "the sum of every request");
    assert_eq!(sim.imports.get(&seat), Some(&2), "no second transfer");
    assert!(sim.notes().contains("transfer=true before_switch=true"), "{}", sim.notes());
    assert!(sim.not_answered_once().is_empty());
}

/// A client request that comes while a policy promotion's state is transferred before the
/// switch is served by the incumbent (nobody waits for the transfer), and its copy queues
/// behind the module's import: the switch at the import keeps that copy (the module computes
/// it before anything it serves) and transfers nothing again. Every answer is still the sum
/// of every request, given once. (Before `slots14` such a request made the switch transfer
/// the state again.)
#[test]
fn a_request_during_the_transfer_before_the_switch_keeps_its_copy_and_transfers_once() {
    let mut sim = shadowing_fast(policy(), 4);
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    sim.request(1, 5);
    sim.pump();
    // Its answer to the fifth copy: promotable, the entry, then the transfer starts.
    sim.serve_paused(seat, 1);
    assert_eq!(sim.m.slot().module(1).map(|m| m.state), Some(State::Promotable));
    assert_eq!(sim.m.slot().serving(), 0, "not before its import\n{}", sim.notes());
    // Requests meanwhile: the incumbent serves them at once.
    sim.request(1, 6);
    sim.pump();
    sim.request(2, 7);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 5).words, vec![21], "served during the transfer");
    assert_eq!(answer_value(&sim, 2, 0).words, vec![28], "served during the transfer");
    assert_eq!(sim.m.slot().serving(), 0);
    // The import: the switch, keeping the copies of 6 and 7 queued behind it.
    sim.serve_paused(seat, 1);
    assert_eq!(sim.m.slot().serving(), 1, "promoted at its import\n{}", sim.notes());
    sim.paused.clear();
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 6).words, vec![128], "the sum of every request");
    assert_eq!(sim.imports.get(&seat), Some(&2), "at its start and before the switch: none at the switch");
    assert!(sim.notes().contains("transfer=true before_switch=true"), "{}", sim.notes());
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    assert!(sim.not_answered_once().is_empty());
}

/// A slot of 4 seats whose challengers are promotable after 3 agreeing answers (promoted by
/// the policy if `auto`), each seat holding at most 2 copies, so that a few requests make a
/// paused seat fall behind; and its policy.
fn short_queue_sim(auto: bool) -> (Sim, SlotPolicy) {
    let mut p = policy();
    p.auto_promote = auto;
    p.min_agreeing = 3;
    let mut c = config(p, 4);
    c.queue_limit = 2;
    (Sim::new(c), p)
}

/// `client`'s only request was answered `sum`, and a request of 100 from `next` is answered
/// `sum + 100` (every earlier request applied once); every request answered once.
fn answered_then_applied_once(sim: &mut Sim, client: u64, sum: u64, next: u64) {
    assert_eq!(sim.answers[&(client, 0)], [Message { label: MESSAGE, words: vec![sum] }], "{}", sim.notes());
    sim.request(next, 100);
    sim.pump();
    assert_eq!(answer_value(sim, next, 0).words, vec![sum + 100], "applied once\n{}", sim.notes());
    assert!(sim.not_answered_once().is_empty(), "{:?}", sim.not_answered_once());
}

/// The old incumbent, warm after a switch made before it answered everything it was sent,
/// faults before it does: the promoted module's copies of those requests, applied before
/// or after the switch (its state holds them), are their answers; asked again, it would
/// apply them twice (found by the `right_answers` property test in CI).
#[test]
fn requests_the_warm_module_never_answered_are_answered_from_the_promoted_modules_copies() {
    let (mut sim, _) = short_queue_sim(false);
    sim.install(&bundle(b"fast"));
    sim.paused.insert(0);
    sim.request(1, 1);
    sim.pump();
    sim.request(2, 2);
    sim.pump();
    // Promoted by hand while the paused incumbent holds both requests; it serves one.
    sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Promote { module: 1, force: true }));
    sim.pump();
    sim.serve_paused(0, 1);
    // The deferred steps run around an install's (its entry, its transfer's start): the
    // incumbent's export waits behind request 2; the module is superseded at the switch.
    sim.install(&bundle(b"fast2"));
    assert!(sim.notes().contains("promotion-logged"), "{}", sim.notes());
    sim.request(3, 10);
    sim.pump();
    // The incumbent serves 2 and exports: the switch. The promoted module applies its copy
    // of 3 (queued behind its import); the warm module holds 3 still.
    sim.serve_paused(0, 2);
    assert_eq!(sim.m.slot().serving(), 1, "switched\n{}", sim.notes());
    assert!(sim.answers[&(3, 0)].is_empty(), "{:?}\n{}", sim.answers, sim.notes());
    sim.fault(0);
    sim.paused.clear();
    sim.pump();
    answered_then_applied_once(&mut sim, 3, 13, 4);
}

/// A warm module's copy answered past its deadline (a timeout for the promoted module's
/// evidence) is kept: the warm module's state holds the request, so at a rollback that
/// answer is the request's; asked again, the restored module would apply it twice (found
/// by the `right_answers` property test).
#[test]
fn a_warm_modules_copy_answered_past_its_deadline_is_the_requests_answer_at_a_rollback() {
    let (mut sim, p) = short_queue_sim(true);
    sim.install(&bundle(b"fast"));
    for client in 1..4 {
        sim.request(client, 1);
        sim.pump();
    }
    assert_eq!(sim.m.slot().serving(), 1, "promoted by the policy\n{}", sim.notes());
    // Both seats paused: the promoted module holds the request, the warm module its copy.
    sim.paused.insert(0);
    sim.paused.insert(1);
    sim.request(4, 10);
    sim.pump();
    // Past the answer deadline: the warm module's copy is given up (a timeout).
    sim.advance(p.answer_deadline + 1);
    sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Rollback));
    sim.pump();
    // The warm module runs its copy (its answer is late), then the rollback's steps run.
    sim.paused.remove(&0);
    sim.pump();
    sim.install(&bundle(b"fast2"));
    assert_eq!(sim.m.slot().serving(), 0, "rolled back\n{}", sim.notes());
    sim.paused.clear();
    answered_then_applied_once(&mut sim, 4, 13, 5);
}

/// A promotion whose window closed before its promoted module answered anything (no client
/// called) does not hold the deferred work back: a promotion by hand on the idle slot is
/// carried out and answered without waiting for a client (it waited for one until stop 40:
/// found by the `exactly_once` property test).
#[test]
fn a_promotion_by_hand_on_an_idle_slot_after_a_switch_that_answered_nothing_is_carried_out() {
    let mut p = policy();
    p.auto_promote = true;
    p.min_agreeing = 3;
    let mut sim = Sim::new(config(p, 4));
    sim.install(&bundle(b"fast"));
    for client in 1..4 {
        sim.request(client, 1);
    }
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 1, "promoted by the policy\n{}", sim.notes());
    assert!(sim.m.switching(), "no answer from it yet");
    sim.advance(p.rollback_window + 1);
    assert_eq!(sim.m.slot().warm(), None, "the window closed\n{}", sim.notes());
    sim.install(&bundle(b"fast2"));
    // Answered with nothing but the manager's own steps (`control` asserts it).
    let response = sim.control(Access::Full, &Request::Promote { module: 2, force: true });
    assert!(matches!(response, Response::Promoted { .. }), "{response:?}\n{}", sim.notes());
    assert_eq!(sim.m.slot().serving(), 2);
    sim.request(4, 10);
    sim.pump();
    assert_eq!(answer_value(&sim, 4, 0).words, vec![13]);
}

/// The promoted module faults while the warm module, which had fallen behind (its journal
/// holds the copies it skipped), waits for the import that would cover them: the rollback
/// replays the journal before the copy queued behind that import, so every answer counts
/// every earlier request once (before, the copy ran first: a wrong answer, found by the
/// `right_answers` property test).
#[test]
fn a_rollback_while_the_warm_modules_catch_up_import_waits_replays_its_journal_first() {
    let (mut sim, _) = short_queue_sim(true);
    let mut sums = RunningSums::default();
    sim.install(&bundle(b"fast"));
    for (client, x) in [(1, 0), (2, 1), (3, 2)] {
        sums.burst(&mut sim, &[(client, x)]);
        sim.pump();
    }
    assert_eq!(sim.m.slot().serving(), 1, "promoted by the policy\n{}", sim.notes());
    // The warm module falls behind: its copies beyond two are skipped into its journal.
    sim.paused.insert(0);
    for (client, x) in [(1, 3), (2, 4), (3, 5), (1, 6)] {
        sums.burst(&mut sim, &[(client, x)]);
        sim.pump();
    }
    // The promoted module pauses with two requests; it answers the first.
    sim.paused.insert(1);
    sums.burst(&mut sim, &[(4, 7)]);
    sim.pump();
    sums.burst(&mut sim, &[(5, 8)]);
    sim.pump();
    sim.serve_paused(1, 1);
    // The warm module catches up: its import waits for the promoted module's export, queued
    // behind the request it holds; a copy of the next request waits behind the import.
    sim.paused.remove(&0);
    sim.pump();
    assert!(sim.m.journal_entries() > 0, "{}", sim.notes());
    sums.burst(&mut sim, &[(6, 9)]);
    sim.pump();
    sim.fault(1);
    sim.paused.clear();
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 0, "rolled back\n{}", sim.notes());
    assert!(sim.not_answered_once().is_empty(), "{:?}", sim.not_answered_once());
    for ((badge, seq), sum) in &sums.expected {
        assert_eq!(sim.answers[&(*badge, *seq)][0], Message { label: MESSAGE, words: vec![*sum] }, "client {badge}\n{}", sim.notes());
    }
}

/// A module that skips copies during its own transfer before the switch (it fell
/// `queue_limit` behind) is not in step at its import: the switch transfers the state again,
/// and every answer is still right.
#[test]
fn a_module_that_skips_copies_during_its_transfer_is_switched_after_its_catch_up() {
    let mut sim = shadowing_fast(policy(), 4);
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    sim.request(1, 5);
    sim.pump();
    sim.serve_paused(seat, 1);
    assert_eq!(sim.m.slot().serving(), 0, "its transfer under way\n{}", sim.notes());
    // More requests than it may hold (`queue_limit` 16): some copies are skipped.
    let mut sum = 15;
    for x in 0..20u64 {
        sim.request(3, x);
        sim.pump();
        sum += x;
    }
    sim.paused.clear();
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 1, "promoted\n{}", sim.notes());
    assert!(
        sim.notes().contains("skipped copies during its state transfer before its promotion: its switch waits for its catch-up"),
        "{}",
        sim.notes()
    );
    sim.request(1, 100);
    sim.pump();
    // Switched in step (its state whole), not with a transfer from the warm module after.
    assert!(sim.notes().contains("transfer=true before_switch=true"), "{}", sim.notes());
    assert_eq!(answer_value(&sim, 1, 5).words, vec![sum + 100], "the sum of every request\n{}", sim.notes());
    assert!(sim.not_answered_once().is_empty());
}

/// Two challengers made promotable by the same request: the first is transferred to before
/// its switch; the second, due meanwhile, waits for that transfer (it is then superseded)
/// instead of being promoted at once past it.
#[test]
fn a_promotion_due_during_a_transfer_before_a_switch_waits_for_it() {
    let mut sim = Sim::auto_promoting_two_fast(policy());
    for x in 1..=5 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().serving(), 1, "the first promotable, transferred to first\n{}", sim.notes());
    assert!(sim.notes().contains("module=2 from=promotable to=rejected reason=Superseded"), "{}", sim.notes());
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 5).words, vec![115], "the sum of every request");
    assert!(sim.notes().contains("transfer=true before_switch=true"), "{}", sim.notes());
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Install, EventKind::Promote]);
    assert!(sim.not_answered_once().is_empty());
}

/// A module that refuses the state of its transfer before the switch is failed (rejected:
/// `max_faults` 0) and nothing is promoted; the incumbent goes on serving.
#[test]
fn a_module_refusing_its_transfer_before_the_switch_is_not_promoted() {
    let mut sim = shadowing_fast(policy(), 4);
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    sim.request(1, 5);
    sim.pump();
    sim.serve_paused(seat, 1);
    // Its import answered with a refusal (code 1), as a hostile module would.
    let import = sim.work.iter().position(|(s, _, m)| *s == seat && m.label == tileos_protocol::module::IMPORT);
    assert!(import.is_some(), "an import waits\n{}", sim.notes());
    sim.work.retain(|(s, _, _)| *s != seat);
    sim.module_call(seat as u64, Message { label: tileos_protocol::module::IMPORTED, words: vec![1] });
    sim.paused.clear();
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 0, "not promoted\n{}", sim.notes());
    assert_eq!(sim.m.slot().module(1).map(|m| m.state), None, "rejected and forgotten\n{}", sim.notes());
    // Its promotion's entry was persisted during the transfer; the log withdraws it.
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, EventKind::Rollback]);
    let note = UpdateEvent::decode(sim.m.log().entry(2).unwrap()).unwrap().note;
    assert!(note.starts_with("promotion withdrawn: not carried out, module 0 serves on"), "{note}");
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 5).words, vec![115], "the incumbent serves on");
    assert!(sim.not_answered_once().is_empty());
}

/// The verified head and the last persisted entry's inclusion proof of the log a manager
/// started again over `store` (a boot) reloads; returns the persisted entries' kinds and
/// the last one's note. (The boot itself may append one entry, checked here: the
/// `ManagerStarted` of generation 0 saying a promotion the log names is not kept.)
fn rebooted_log(store: &TestStore) -> (Vec<EventKind>, String) {
    let persisted = store.entries.borrow().len();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    let kinds = entry_kinds(&sim);
    assert!(
        kinds.len() == persisted
            || kinds.len() == persisted + 1 && matches!(kinds[persisted], EventKind::ManagerStarted { generation: 0, .. }),
        "the boot appended {:?}",
        &kinds[persisted.min(kinds.len())..]
    );
    let head = match sim.control(Access::Read, &Request::LogHead) {
        Response::Head(head) => head,
        other => panic!("{other:?}"),
    };
    let signed = tileos_update_log::SignedTreeHead {
        head: tileos_update_log::TreeHead { tree_size: head.tree_size, timestamp_ms: head.timestamp_ms, root_hash: head.root },
        signature: head.signature.as_slice().try_into().unwrap(),
    };
    signed.verify(&dev_keys::log_key().verifying_key()).unwrap();
    let last = persisted as u64 - 1;
    let path = match sim.control(Access::Read, &Request::LogInclusion { index: last, tree_size: head.tree_size }) {
        Response::Proof { hashes } => hashes,
        other => panic!("{other:?}"),
    };
    let entry = store.entries.borrow()[last as usize].clone();
    tileos_update_log::verify_inclusion(&entry, last, head.tree_size, &head.root, &path).unwrap();
    (kinds[..persisted].to_vec(), UpdateEvent::decode(&entry).unwrap().note)
}

/// A policy promotion's update-log entry is persisted *during* its transfer before the
/// switch, as deferred work of its own (after the step that started the transfer, before
/// the import that switches): neither step holds the entry's encoding, durable write and
/// hashing, and the switch appends nothing. The promotion is still written before it is
/// acted on.
#[test]
fn a_policy_promotions_entry_is_persisted_during_its_transfer_before_the_switch() {
    let mut sim = shadowing_fast(policy(), 4);
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    sim.request(1, 5);
    sim.pump();
    // Its answer to the fifth copy: promotable; the transfer starts, the incumbent exports,
    // and at that message (no client waiting) the entry is persisted.
    sim.serve_paused(seat, 1);
    assert_eq!(sim.m.slot().serving(), 0, "not before its import\n{}", sim.notes());
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "persisted before the switch\n{}", sim.notes());
    assert!(sim.notes().contains("@event slot.promotion-logged slot=checksum module=1 index=1"), "{}", sim.notes());
    let store_entries = sim.store.entries.borrow().len();
    // The import: the switch, with no second entry.
    sim.serve_paused(seat, 1);
    assert_eq!(sim.m.slot().serving(), 1, "promoted at its import\n{}", sim.notes());
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "appended once");
    assert_eq!(sim.store.entries.borrow().len(), store_entries, "no durable write at the switch");
    sim.paused.clear();
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 5).words, vec![115], "the sum of every request");
    assert!(sim.notes().contains("transfer=true before_switch=true"), "{}", sim.notes());
    assert!(sim.not_answered_once().is_empty());

    // A store that fails at that step: nothing is promoted (counted; the import changes
    // nothing), and the module stays promotable, for a promotion by hand.
    let mut sim = shadowing_fast(policy(), 4);
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    sim.request(1, 5);
    sim.pump();
    sim.store.fail.set(true);
    sim.serve_paused(seat, 1);
    sim.store.fail.set(false);
    sim.paused.clear();
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 0, "not promoted without its entry\n{}", sim.notes());
    assert_eq!(sim.m.stats().log_failures, 1);
    assert_eq!(entry_kinds(&sim), [EventKind::Install]);
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 5).words, vec![115], "the incumbent serves on");
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    assert!(sim.not_answered_once().is_empty());
}

/// A manager that faults between the promotion's persisted entry and its switch loses no
/// entry: the log a manager started again over the same store reloads holds the promotion,
/// and its signed head and the entry's inclusion proof verify (the restarted manager
/// serves its incumbent, as after any restart).
#[test]
fn a_manager_fault_between_a_promotions_entry_and_its_switch_loses_nothing() {
    let store = TestStore::default();
    let mut p = policy();
    p.auto_promote = true;
    let mut sim = Sim::with_store(config(p, 4), store.clone());
    sim.install(&bundle(b"fast"));
    sim.pump();
    for x in 1..=4 {
        sim.request(1, x);
        sim.pump();
    }
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    sim.request(1, 5);
    sim.pump();
    sim.world.borrow_mut().crash_on_note = Some("slot.promotion-logged".into());
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.serve_paused(seat, 1)));
    assert!(crashed.is_err(), "the manager faulted right after the entry was persisted\n{}", sim.notes());
    assert_eq!(sim.m.slot().serving(), 0, "before the switch");
    drop(sim);
    let (kinds, note) = rebooted_log(&store);
    assert_eq!(kinds, [EventKind::Install, EventKind::Promote]);
    assert!(note.starts_with("promoted by policy"), "{note}");
}

/// A policy promotion whose entry was persisted during its transfer but that is then not
/// carried out (a promotion by hand ends its claim; or its transfer is abandoned past
/// `DEFERRED_BOUND`) is withdrawn in the log before anything else is appended, so the log
/// never says a module serves that does not; the log after a restart verifies.
#[test]
fn an_abandoned_policy_promotion_after_its_entry_is_withdrawn_in_the_log() {
    // By hand: the module promoted by tilectl while the policy's transfer is under way.
    let store = TestStore::default();
    let mut p = policy();
    p.auto_promote = true;
    let mut sim = Sim::with_store(config(p, 4), store.clone());
    sim.install(&bundle(b"fast"));
    sim.pump();
    for x in 1..=4 {
        sim.request(1, x);
        sim.pump();
    }
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    sim.request(1, 5);
    sim.pump();
    sim.serve_paused(seat, 1);
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "{}", sim.notes());
    let id = sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Promote { module: 1, force: false }));
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "nothing appended in the operator's request");
    // The withdrawal and the hand's entry: a deferred step each.
    assert!(sim.m.deferred_step());
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, EventKind::Rollback], "the withdrawal, alone");
    assert!(sim.m.deferred_step());
    assert_eq!(
        entry_kinds(&sim),
        [EventKind::Install, EventKind::Promote, EventKind::Rollback, EventKind::Promote],
        "withdrawn before the promotion by hand\n{}",
        sim.notes()
    );
    let note = UpdateEvent::decode(sim.m.log().entry(2).unwrap()).unwrap().note;
    assert!(note.starts_with("promotion withdrawn"), "{note}");
    let note = UpdateEvent::decode(sim.m.log().entry(3).unwrap()).unwrap().note;
    assert!(note.starts_with("promoted by hand"), "{note}");
    assert!(sim.take_reply(id).is_none(), "answered at its switch, after its transfer");
    sim.paused.clear();
    sim.pump();
    let reply = sim.take_reply(id).expect("answered at the switch");
    assert_eq!(tileos_protocol::decode::<Response>(reply.label, &reply.words).unwrap(), Response::Promoted { module: 1 });
    sim.request(1, 100);
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 1, "{}", sim.notes());
    assert_eq!(answer_value(&sim, 1, 5).words, vec![115], "the sum of every request");
    assert_eq!(entry_kinds(&sim).len(), 4, "nothing appended at the pre-transfer's import");
    assert!(sim.not_answered_once().is_empty());
    drop(sim);
    let (kinds, _) = rebooted_log(&store);
    assert_eq!(kinds.len(), 4);

    // Past the bound: the module never imports; the transfer's claim ends and the next
    // deferred work withdraws the entry.
    let mut sim = shadowing_fast(policy(), 4);
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    sim.request(1, 5);
    sim.pump();
    sim.serve_paused(seat, 1);
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    sim.advance(tileos_slot_manager::DEFERRED_BOUND + 1);
    // A control request does the deferred work first.
    let _ = sim.control(Access::Read, &Request::LogHead);
    assert_eq!(sim.m.slot().serving(), 0, "{}", sim.notes());
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, EventKind::Rollback], "{}", sim.notes());
}

#[test]
fn every_promotion_transfers_the_state() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"fast"));
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    let seat = sim.m.seat_of_module(1).unwrap();
    assert_eq!(sim.imports.get(&seat), Some(&1), "imported once, when it started");
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 6).words, vec![121], "the sum of every request");
    assert_eq!(sim.imports.get(&seat), Some(&2), "transferred at the promotion");
    assert!(sim.notes().contains("transfer=true"), "{}", sim.notes());
    assert!(!sim.notes().contains("transfer=false"), "{}", sim.notes());
    assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });

    // A challenger that disagreed once (on 7), forced in: it imports before it serves.
    sim.install(&bundle(b"wrong"));
    for x in [1, 7, 2] {
        sim.request(1, x);
        sim.pump();
    }
    let seat = sim.m.seat_of_module(2).unwrap();
    assert_eq!(sim.m.slot().module(2).unwrap().evidence.disagreeing, 1);
    let before = sim.imports.get(&seat).copied().unwrap_or(0);
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 2, force: true }), Response::Promoted { module: 2 });
    sim.request(1, 3);
    sim.pump();
    assert_eq!(sim.imports.get(&seat).copied().unwrap_or(0), before + 1, "transferred at the promotion");
    assert_eq!(answer_value(&sim, 1, 10).words, vec![134]);
    assert!(sim.notes().contains("transfer=true"), "{}", sim.notes());
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_promotion_by_hand_transfers_before_its_switch_and_serving_goes_on_meanwhile() {
    // A challenger behind by a backlog of copies when it is promoted by hand: the promotion's
    // entry is persisted in the operator's request, then its transfer before the switch
    // starts (it imports after its backlog) while the incumbent serves on; the operator is
    // answered at the switch, and every answer is the sum of every request, each given once.
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"fast"));
    sim.pump();
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    for x in 1..=5 {
        sim.request(1, x);
        sim.pump();
    }
    let id = sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Promote { module: 1, force: true }));
    sim.pump();
    assert!(sim.take_reply(id).is_none(), "not answered before its switch");
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "persisted first\n{}", sim.notes());
    assert!(sim.m.promotion_under_way());
    // Served by the incumbent during the transfer.
    sim.request(1, 6);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 5).words, vec![21], "the incumbent serves during the transfer");
    sim.paused.clear();
    sim.pump();
    let reply = sim.take_reply(id).expect("answered at the switch");
    assert_eq!(tileos_protocol::decode::<Response>(reply.label, &reply.words).unwrap(), Response::Promoted { module: 1 });
    assert_eq!(sim.m.slot().serving(), 1);
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 6).words, vec![121], "the sum of every request");
    assert_eq!(sim.imports.get(&seat), Some(&2), "at its start and before the switch: none at the switch");
    assert!(sim.notes().contains("transfer=true before_switch=true"), "{}", sim.notes());
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "no entry at the switch");
    assert!(sim.not_answered_once().is_empty());
}

/// The copies sent to seat 0 (the warm module after the switch) since `from` in
/// `sim.sent_work`, with the seat's schedule when each was sent.
fn warm_copies_sent(sim: &Sim, from: usize) -> Vec<Option<SeatSchedule>> {
    sim.sent_work[from..].iter().filter(|(seat, label, _)| *seat == 0 && *label == MESSAGE).map(|(_, _, schedule)| *schedule).collect()
}

/// After a promotion's switch the warm module (the old incumbent, seat 0) keeps the serving
/// schedule until a deferred step lowers it; a copy sent to it meanwhile ran at the serving
/// priority, beside the promoted module's first requests and, for its rest, inside the
/// step that lowers it (`slots44`: with a long request ≈ 16,000 instructions of that step on
/// a booted tile). Its copies are held back until it is lowered, then sent, in order; it
/// stays current: a rollback by hand after it answers every request right.
#[test]
fn the_warm_modules_copies_after_a_switch_wait_until_it_is_lowered() {
    let mut sim = Sim::new(config(policy(), 4));
    // The incumbent's schedule at boot, as the root server gives it.
    sim.world.borrow_mut().schedules.insert(0, SeatSchedule::Serving);
    sim.install(&bundle(b"fast"));
    sim.pump();
    for x in 0..3 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    assert_eq!(sim.world.borrow().schedules.get(&0), Some(&SeatSchedule::Serving), "not lowered before a client's request");
    let from = sim.sent_work.len();
    // The steps held (a busy domain above the step priority): the clients are served by the
    // promoted module; the warm module gets nothing yet.
    sim.hold_steps = true;
    for x in 3..7 {
        sim.request(1, x);
        sim.pump();
    }
    assert!(warm_copies_sent(&sim, from).is_empty(), "no copy at the serving schedule: {:?}", warm_copies_sent(&sim, from));
    assert_eq!(sim.world.borrow().schedules.get(&0), Some(&SeatSchedule::Serving));
    // The step lowers it, then its copies go out, all at the challengers' schedule.
    sim.hold_steps = false;
    sim.pump();
    assert_eq!(sim.world.borrow().schedules.get(&0), Some(&SeatSchedule::Shadow));
    assert_eq!(warm_copies_sent(&sim, from), vec![Some(SeatSchedule::Shadow); 4], "each copy, once lowered");
    for x in 7..9 {
        sim.request(1, x);
        sim.pump();
    }
    assert!(warm_copies_sent(&sim, from).iter().all(|s| *s == Some(SeatSchedule::Shadow)));
    // It has every request: restored, it answers with the sum of all of them.
    assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });
    assert_eq!(sim.m.slot().serving(), 0);
    for x in 9..12 {
        sim.request(1, x);
        sim.pump();
    }
    clients_answered_right(&sim);
    assert!(sim.notes().contains("transfer=true before_switch=true"), "{}", sim.notes());
}

/// Copies held back for the warm module (above) when the promoted module faults: the
/// breaker restores the warm module at once, its held copies are its work (those of
/// requests still in flight become the requests), more than `queue_limit` of them held
/// included (the rest skipped and journaled, then replayed): every client answered once,
/// with the running sum, and the restored module serves on in order.
#[test]
fn a_breaker_rollback_while_the_warm_modules_copies_are_held_loses_nothing() {
    for (held, in_flight) in [(1u64, false), (3, true), (20, false), (20, true)] {
        let mut sim = Sim::new(config(policy(), 4));
        sim.world.borrow_mut().schedules.insert(0, SeatSchedule::Serving);
        sim.install(&bundle(b"fast"));
        sim.pump();
        let mut x = 0;
        for _ in 0..3 {
            sim.request(1, x);
            x += 1;
            sim.pump();
        }
        assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
        let seat = sim.m.seat_of_module(1).unwrap();
        let from = sim.sent_work.len();
        sim.hold_steps = true;
        for _ in 0..held {
            sim.request(1, x);
            x += 1;
            sim.pump();
        }
        if in_flight {
            // One more the promoted module has not answered when it faults.
            sim.paused.insert(seat);
            sim.request(1, x);
            x += 1;
            sim.pump();
        }
        assert!(warm_copies_sent(&sim, from).is_empty(), "held ({held}, {in_flight})");
        sim.fault(seat);
        sim.paused.clear();
        sim.pump();
        assert_eq!(sim.m.slot().serving(), 0, "rolled back ({held}, {in_flight})\n{}", sim.notes());
        sim.hold_steps = false;
        for _ in 0..3 {
            sim.request(1, x);
            x += 1;
            sim.pump();
        }
        clients_answered_right(&sim);
        assert_eq!(sim.m.outstanding(), 0);
    }
}

/// Checks that the log persisted in `store` reloads at a reboot (a new manager over the
/// same store), that its signed head verifies, and that its last entry, a rollback by the
/// circuit breaker whose reason contains `trip`, is included in it. Returns the entries'
/// kinds.
fn rebooted_log_ends_in_breaker_rollback(store: &TestStore, trip: &str) -> Vec<EventKind> {
    let (kinds, note) = rebooted_log(store);
    assert_eq!(kinds.last(), Some(&EventKind::Rollback));
    assert!(note.contains("CircuitBreaker") && note.contains(trip), "{note}");
    kinds
}

/// The circuit breaker's rollback is written before it is acted on: its update-log entry
/// is persisted when the breaker trips, before the manager announces, delivers or hands
/// over anything of the rollback. A manager that faults at its first step of carrying
/// the rollback out (here: the transition's log line, the first thing it does) leaves the
/// entry in the store, and the log reloaded at the next boot holds it and verifies.
#[test]
fn a_breaker_rollback_is_persisted_before_it_is_acted_on_and_survives_a_crash() {
    // The promoted module disagrees with the warm one (on 7).
    let store = TestStore::default();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    sim.install(&bundle(b"wrong"));
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    assert_eq!(store.entries.borrow().len(), 2);
    sim.world.borrow_mut().crash_on_note = Some("to=rolled-back".into());
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sim.request(1, 7);
        sim.pump();
    }));
    assert!(crashed.is_err(), "the breaker tripped, and the manager faulted as it began the rollback\n{}", sim.notes());
    assert_eq!(store.entries.borrow().len(), 3, "the entry was persisted before the crash");
    drop(sim);
    let kinds = rebooted_log_ends_in_breaker_rollback(&store, "DisagreedWithWarm");
    assert_eq!(kinds, [EventKind::Install, EventKind::Promote, EventKind::Rollback]);

    // The promoted module faults (on its 3rd request).
    let store = TestStore::default();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    sim.install(&bundle(b"crash3"));
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    sim.world.borrow_mut().crash_on_note = Some("to=rolled-back".into());
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for x in 1..=3 {
            sim.request(1, x);
            sim.pump();
        }
    }));
    assert!(crashed.is_err(), "{}", sim.notes());
    drop(sim);
    rebooted_log_ends_in_breaker_rollback(&store, "Fault");
}

/// A store that fails when the breaker trips does not hold the rollback back (the breaker
/// does not wait for the store): the entry is kept and tried again with the deferred work
/// (no client waiting, or before any control request is answered) until the store takes it.
#[test]
fn a_breaker_rollback_whose_entry_cannot_be_persisted_still_rolls_back_and_retries_the_entry() {
    for failures in [1, 2, 5] {
        let store = TestStore::default();
        let mut sim = Sim::with_store(config(policy(), 4), store.clone());
        sim.install(&bundle(b"wrong"));
        assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
        store.fail_next.set(failures);
        sim.request(1, 7);
        sim.pump();
        assert_eq!(sim.m.slot().serving(), 0, "rolled back whatever the store did\n{}", sim.notes());
        assert!(sim.notes().contains("not persisted"), "{}", sim.notes());
        // Kept and tried again, `LOG_RETRY_INTERVAL` apart, until the store takes it: never
        // lost (before session 30 a second refusal lost it).
        for _ in 0..failures {
            if entry_kinds(&sim).len() == 3 {
                break;
            }
            sim.advance(LOG_RETRY_INTERVAL);
        }
        assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, EventKind::Rollback], "written by a retry\n{}", sim.notes());
        assert_eq!(sim.m.stats().log_failures, 0);
        assert_eq!(sim.m.stats().log_retries_failed, u64::from(failures) - 1, "{}", sim.notes());
        sim.request(1, 1);
        sim.pump();
        assert_eq!(answer_value(&sim, 1, 1).words, vec![8], "the restored incumbent serves");
        assert!(sim.not_answered_once().is_empty());
        assert_log_clock_never_goes_back(&sim);
    }
}

/// Paced mirroring under a flooding client (docs/slots.md, "Paced mirroring"): a wrong
/// module promoted by force serves while the warm incumbent, the breaker's reference, runs
/// `k` times slower than the client calls (it serves one piece of work per `k` requests).
/// Returns the requests from the first disagreeing one to the breaker's rollback, and the
/// warm module's evidence counts before the disagreement.
fn flood_until_rolled_back(k: usize, agreeing: usize) -> (usize, tileos_slots::Evidence, u64) {
    let mut sim = Sim::new(config(policy(), 4));
    assert_eq!(sim.install(&bundle(b"wrong")), Response::Installed { module: 1 });
    for x in 1..=6 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    sim.pump();
    sim.paused.insert(0);
    let mut n: usize = 0;
    let mut step = |sim: &mut Sim, x: u64| {
        sim.request(1, x);
        sim.pump();
        n += 1;
        if n.is_multiple_of(k) {
            sim.serve_paused(0, 1);
        }
        // The client never waits for the mirror: its request was answered at once.
        assert_eq!(sim.m.outstanding(), 0, "a client waits\n{}", sim.notes());
    };
    // Agreeing requests (the wrong module is wrong only on multiples of 7).
    for _ in 0..agreeing {
        step(&mut sim, 1);
    }
    assert_eq!(sim.m.slot().serving(), 1, "rolled back before any disagreement\n{}", sim.notes());
    let evidence = sim.m.slot().module(1).unwrap().evidence;
    // Re-imports: after catching up, or the warm module brought up to date when its
    // journal would overflow (docs/slots.md, "The warm module's journal").
    let resyncs = sim.m.stats().resyncs + sim.m.stats().journal_imports;
    // From here on it disagrees on every request.
    let mut after = 0;
    while sim.m.slot().serving() == 1 {
        step(&mut sim, 7);
        after += 1;
        assert!(after < 10_000, "never rolled back\n{}", sim.notes());
    }
    assert_eq!(state_of(&sim, 1), None, "rolled back and forgotten");
    assert!(sim.world.borrow().notes.iter().any(|n| n.contains("reason=CircuitBreaker(DisagreedWithWarm")), "{}", sim.notes());
    sim.paused.clear();
    sim.pump();
    assert!(sim.not_answered_once().is_empty(), "{:?}", sim.not_answered_once());
    (after, evidence, resyncs)
}

#[test]
fn paced_mirroring_keeps_comparing_under_a_flood_and_the_breaker_rolls_back_within_its_bound() {
    // Seats hold queue_limit = 16 copies. The bound stated in docs/slots.md: a promoted
    // module that disagrees on every request from some request on is rolled back within
    // (queue_limit + 3) × k requests of it, k the client's requests per piece of work the
    // warm module does (the catching-up seat answers at most queue_limit + 1 copies, then its
    // import, then the next copy is compared).
    for k in [1usize, 2, 4, 8] {
        let bound = (16 + 3) * k;
        let mut worst = 0;
        // The phases of the catch-up cycle at which the disagreement may begin (after two
        // cycles of agreement).
        for agreeing in (2 * bound..3 * bound).step_by(k) {
            let (after, evidence, resyncs) = flood_until_rolled_back(k, agreeing);
            worst = worst.max(after);
            assert!(after <= bound, "k={k} agreeing={agreeing}: rolled back after {after} requests (bound {bound})");
            if k > 1 {
                // Overloaded: copies were skipped (not compared, never timeouts), and the
                // warm module kept being compared after catching up.
                assert!(evidence.skipped > 0 && resyncs > 0, "k={k}: {evidence:?} resyncs={resyncs}");
                assert!(evidence.compared() >= 16, "k={k}: {evidence:?}");
                assert_eq!((evidence.timeouts, evidence.disagreeing), (0, 0), "k={k}: {evidence:?}");
            } else {
                assert_eq!((evidence.skipped, resyncs), (0, 0), "k=1 keeps up: {evidence:?}");
            }
        }
        eprintln!("k={k}: rolled back within {worst} requests (bound {bound})");
    }
}

/// A rollback while the warm incumbent is behind (its copies skipped under a flood). Since
/// `slots25` the warm module catches up first (a step between the entry and the rollback:
/// it imports the promoted module's state, the promoted module serving meanwhile) and is
/// restored in step; `stuck`: the warm module stays paused past `DEFERRED_BOUND`, so the
/// rollback is made without the catch-up (the rolled-back module cannot hand off: it owes
/// the catch-up's export; the restored module gets that state or replays its journal).
/// Requests arrive during the catch-up; every answer, before and after, is the right running
/// sum, each once.
fn rollback_while_the_warm_module_is_behind(k: usize, flood: u64, stuck: bool) -> Sim {
    let (mut sim, mut sums) = fast_promoted_on_its_evidence();
    sim.paused.insert(0);
    for n in 0..flood {
        sums.send(&mut sim, 1);
        if (n as usize + 1).is_multiple_of(k) {
            sim.serve_paused(0, 1);
        }
    }
    assert!(sim.m.stats().skipped > 0, "the warm module fell behind\n{}", sim.notes());
    let id = sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Rollback));
    sim.pump();
    // Requests meanwhile (one client each: one may wait for the paused module once it
    // serves), served by the promoted module during the catch-up.
    for badge in 10..13 {
        sums.send(&mut sim, badge);
    }
    if stuck {
        for _ in 0..4 {
            sim.advance(tileos_slot_manager::DEFERRED_BOUND + 1);
        }
    }
    sim.paused.clear();
    sim.pump();
    let reply = sim.take_reply(id).unwrap_or_else(|| panic!("the rollback was not answered\n{}", sim.notes()));
    let response = tileos_protocol::decode::<Response>(reply.label, &reply.words).unwrap();
    assert_eq!(response, Response::RolledBack { module: 0 }, "{}", sim.notes());
    for _ in 0..40 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, &format!("k={k} flood={flood} stuck={stuck}"));
    sim
}

#[test]
fn a_rollback_while_the_warm_module_is_behind_catches_it_up_first() {
    // Every phase of the catch-up cycle (a warm module that has just imported again is in
    // step, and is restored at once: no catch-up then). With the catch-up the rollback hands
    // nothing over in its own step; a warm module stuck past the bound is rolled back to
    // without it (the rolled-back module hands its state over, as before `slots25`, when it
    // has sent the catch-up's export already), and nothing is lost or answered twice either
    // way.
    let (mut caught_up, mut forced, mut forced_handed) = (0, 0, 0);
    for (k, floods) in [(2usize, 40..80u64), (4, 80..160), (8, 150..310)] {
        for flood in floods {
            for stuck in [false, true] {
                let sim = rollback_while_the_warm_module_is_behind(k, flood, stuck);
                let notes = &sim.world.borrow().notes;
                let caught = notes.iter().any(|n| n.contains("@event slot.rollback-catch-up"));
                let hand_off = notes.iter().any(|n| n.contains("@event slot.hand-off"));
                if !stuck {
                    assert!(!hand_off, "k={k} flood={flood}: a catch-up, then no hand-off in the rollback's step");
                    caught_up += usize::from(caught);
                } else if caught {
                    assert!(notes.iter().any(|n| n.contains("did not complete within")), "k={k} flood={flood}");
                    forced += 1;
                    forced_handed += usize::from(hand_off);
                }
            }
        }
    }
    assert!(caught_up > 200, "{caught_up} rollbacks caught the warm module up first");
    assert!(forced > 200, "{forced} rollbacks made past the bound without the catch-up");
    assert!(forced_handed > 100, "{forced_handed} of them handed the state over instead");
}

/// A fault of either module between a rollback's catch-up step and the rollback (the warm
/// module behind, its import not done). The promoted module: the breaker rolls back at once
/// (its own entry; the restored module gets the export's state or replays its journal), and
/// the operator is answered `RolledBack`. The warm module: the window closes, nothing is
/// rolled back, the persisted entry is withdrawn and the operator refused (`Policy`). Every
/// client answer, before and after, is the right running sum, each once.
#[test]
fn a_fault_of_either_module_during_a_rollbacks_catch_up() {
    let mut seen = [0usize; 2];
    for flood in 60..100u64 {
        for (i, promoted_faults) in [true, false].into_iter().enumerate() {
            let mut sim = Sim::new(config(policy(), 4));
            let mut sums = Sums::default();
            promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, 4, flood);
            let id = sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Rollback));
            sim.pump();
            if !sim.world.borrow().notes.iter().any(|n| n.contains("@event slot.rollback-catch-up")) {
                // The warm module was in step (it had just imported): no catch-up step.
                continue;
            }
            assert!(sim.m.rollback_under_way(), "the rollback waits for the catch-up");
            assert_eq!(sim.m.slot().serving(), 1, "the promoted module serves during the catch-up");
            for badge in 10..12 {
                sums.send(&mut sim, badge);
            }
            let entries = sim.m.log().size();
            let response = if promoted_faults {
                sim.fault(sim.m.seat_of_module(1).unwrap());
                sim.paused.clear();
                sim.pump();
                control_answer(&mut sim, id)
            } else {
                sim.fault(0);
                sim.paused.clear();
                sim.pump();
                control_answer(&mut sim, id)
            };
            let log = sim.m.log();
            let last = UpdateEvent::decode(log.entry(log.size() - 1).unwrap()).unwrap();
            if promoted_faults {
                assert_eq!(response, Some(Response::RolledBack { module: 0 }), "flood={flood}\n{}", sim.notes());
                assert_eq!((log.size(), last.kind), (entries + 1, EventKind::Rollback), "the breaker's own entry");
            } else {
                let (kind, reason) = refusal(response.unwrap_or_else(|| panic!("flood={flood}: not answered\n{}", sim.notes())));
                assert_eq!(kind, RefusalKind::Policy, "{reason}");
                assert!(reason.contains("the rollback window closed"), "{reason}");
                assert_eq!(sim.m.slot().serving(), 1);
                assert!(last.note.starts_with("rollback withdrawn"), "{}", last.note);
            }
            assert!(!sim.m.rollback_under_way());
            for _ in 0..20 {
                sums.send(&mut sim, 1);
            }
            sums.check(&sim, &format!("flood={flood} promoted_faults={promoted_faults}"));
            seen[i] += 1;
        }
    }
    assert!(seen.iter().all(|&n| n >= 10), "faults during a catch-up: {seen:?}");
}

/// An entry's step persists it and no more (since `slots25`): its hashing into the tree is
/// a step of its own, later; the manager's log (`Manager::log`) counts it from the moment it
/// is persisted, and whoever reads the log (its head, a proof) sees it hashed in first. A
/// manager that faults before the hashing step loses nothing: the store has the entry and
/// the restarted manager's tree holds it
/// (`a_manager_fault_between_a_rollback_by_hands_entry_and_the_rollback_leaves_the_log_and_slot_consistent`
/// faults right after the entry, before its hashing).
#[test]
fn an_entrys_step_persists_it_and_the_tree_takes_it_at_a_later_step() {
    let store = TestStore::default();
    let mut sim = promoted_by_hand(&store);
    assert_eq!(sim.m.unhashed_entries(), 1, "the promotion's entry waits for the switch's end");
    sim.request(1, 1);
    sim.pump();
    assert_eq!(sim.m.unhashed_entries(), 0, "hashed at a step after the switch");
    let before = sim.m.log().size();
    let id = rollback_by_hand(&mut sim);
    assert!(sim.m.deferred_step(), "the entry's step");
    assert_eq!(store.entries.borrow().len() as u64, before + 1, "persisted");
    assert_eq!((sim.m.log().size(), sim.m.log().tree().size(), sim.m.unhashed_entries()), (before + 1, before, 1));
    assert!(sim.m.deferred_step(), "the rollback's step");
    assert_eq!(control_answer(&mut sim, id), Some(Response::RolledBack { module: 0 }));
    assert_eq!(sim.m.unhashed_entries(), 1, "the rollback's step hashes nothing");
    // Its leaf and the nodes it completes, `HASH_UNITS_PER_STEP` a step.
    let steps = hashing_steps(&mut sim);
    let units = 1 + before.trailing_ones() as usize;
    assert_eq!(steps, units.div_ceil(tileos_slot_manager::HASH_UNITS_PER_STEP), "hashing steps for entry {before}");
    assert_eq!((sim.m.log().tree().size(), sim.m.unhashed_entries()), (before + 1, 0));
    // An entry persisted and not yet hashed is in the head a reader gets.
    sim.request(1, 2);
    sim.pump();
    assert_eq!(refusal(sim.control(Access::Full, &Request::Rollback)).0, RefusalKind::Policy, "nothing to roll back (logged)");
    let head = match sim.control(Access::Read, &Request::LogHead) {
        Response::Head(head) => head,
        other => panic!("{other:?}"),
    };
    assert_eq!(head.tree_size, before + 2, "the refusal's entry, hashed in before the head was signed");
    let (kinds, note) = rebooted_log(&store);
    assert_eq!(kinds.len() as u64, before + 2);
    assert!(note.starts_with("refused"), "{note}");
}

/// Deferred steps until the tree has hashed every persisted entry; how many it took (each
/// a step of its own, none doing anything else while entries wait).
fn hashing_steps(sim: &mut Sim) -> usize {
    let mut steps = 0;
    while sim.m.unhashed_entries() > 0 {
        assert!(sim.m.deferred_step(), "a hashing step");
        steps += 1;
        assert!(steps <= 64, "the hashing does not end");
    }
    steps
}

/// The `slot.log-hashed` lines' `units=` figures in the notes.
fn hashed_units(sim: &Sim) -> Vec<usize> {
    sim.notes()
        .lines()
        .filter(|l| l.contains("@event slot.log-hashed"))
        .map(|l| l.split("units=").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap())
        .collect()
}

/// The tree's hashing is bounded per step whatever the log's size (since `slots28`): with a
/// reloaded log of 2,047 entries, the entry at index 2,047 completes eleven nodes (twelve
/// hashes with its leaf), done `HASH_UNITS_PER_STEP` a step; until the last step the head
/// and proofs leave it out of the tree, but a reader (a control request) hashes the rest
/// first, and the proofs (also at older sizes, from stored nodes) verify.
#[test]
fn the_trees_hashing_is_bounded_per_step_whatever_the_logs_size() {
    // How many entries the promotion by hand writes, from an empty log.
    let written = promoted_by_hand(&TestStore::default()).m.log().size();
    let store = TestStore::default();
    let filler = |i: u64| {
        UpdateEvent {
            kind: EventKind::Install,
            timestamp_ms: i,
            slot: "checksum".into(),
            module: "filler".into(),
            version: "1".into(),
            content_hash: [i as u8; 32],
            note: format!("refused (Signature): filler {i}"),
        }
        .encode()
        .unwrap()
    };
    store.entries.borrow_mut().extend((0..2047 - written).map(filler));
    let mut sim = promoted_by_hand(&store);
    sim.request(1, 1);
    sim.pump();
    hashing_steps(&mut sim);
    assert_eq!(sim.m.log().tree().size(), 2047);
    let id = rollback_by_hand(&mut sim);
    assert!(sim.m.deferred_step(), "the entry's step");
    assert!(sim.m.deferred_step(), "the rollback's step");
    assert_eq!(control_answer(&mut sim, id), Some(Response::RolledBack { module: 0 }));
    let before = hashed_units(&sim).len();
    assert!(sim.m.deferred_step(), "the first hashing step");
    assert_eq!((sim.m.log().tree().size(), sim.m.unhashed_entries()), (2047, 1), "partly hashed: not in the tree yet");
    assert_eq!(hashing_steps(&mut sim), 5);
    let units = hashed_units(&sim)[before..].to_vec();
    assert_eq!(units, vec![2; 6], "twelve hashes, two a step");
    assert_eq!(sim.m.log().tree().size(), 2048);
    // A reader's proofs, at the current size and at an older one, verify.
    let head = match sim.control(Access::Read, &Request::LogHead) {
        Response::Head(head) => head,
        other => panic!("{other:?}"),
    };
    assert_eq!(head.tree_size, 2048);
    let old_root = tileos_update_log::UpdateLog::from_entries(store.entries.borrow()[..1000].to_vec()).unwrap().root();
    let path = match sim.control(Access::Read, &Request::LogConsistency { old_size: 1000, new_size: 2048 }) {
        Response::Proof { hashes } => hashes,
        other => panic!("{other:?}"),
    };
    tileos_update_log::verify_consistency(1000, &old_root, 2048, &head.root, &path).unwrap();
    let path = match sim.control(Access::Read, &Request::LogInclusion { index: 999, tree_size: 1000 }) {
        Response::Proof { hashes } => hashes,
        other => panic!("{other:?}"),
    };
    tileos_update_log::verify_inclusion(&store.entries.borrow()[999], 999, 1000, &old_root, &path).unwrap();
    assert_eq!(
        refusal(sim.control(Access::Read, &Request::LogInclusion { index: 3, tree_size: 2049 })),
        (RefusalKind::NotFound, "no tree of 2049 entries: the log has 2048".to_string())
    );
}

#[test]
fn request_numbers_far_past_the_queue_limit_and_a_full_queue_are_handled_precisely() {
    // A challenger whose seat holds its first copies while 600 requests pass (request
    // numbers far past the queue limit): every client answered once and right, the held
    // copies compared with their own requests' answers.
    let mut p = policy();
    p.min_agreeing = 1_000_000;
    let mut c = config(p, 4);
    c.queue_limit = 4;
    let mut sim = Sim::new(c);
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    sim.pump();
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    for x in 1..=600 {
        sim.request(1, x);
        sim.pump();
    }
    assert!(sim.not_answered_once().is_empty());
    assert_eq!(answer_value(&sim, 1, 599), Message { label: MESSAGE, words: vec![(1..=600).sum()] });
    assert!(sim.m.slot().in_flight() <= 4 + 1, "{} exchanges wait", sim.m.slot().in_flight());
    sim.serve_paused(seat, 100);
    sim.paused.remove(&seat);
    sim.pump();
    let e = sim.m.slot().module(1).unwrap().evidence;
    assert_eq!((e.agreeing, e.disagreeing, e.timeouts, e.skipped), (5, 0, 0, 595), "{e:?}\n{}", sim.notes());
    assert_eq!(sim.m.slot().in_flight(), 0);
    // Caught up, it imported the state and is compared again from the next request on.
    for x in 601..=700 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().module(1).unwrap().evidence.agreeing, 5 + 100);
    // A full queue (the serving module silent, queue_limit 4): the fifth client is refused
    // Busy at once, counted as full; the four others are still served after it.
    sim.modules.get_mut(&0).unwrap().behavior = Behavior::Silent;
    for badge in 10..15 {
        sim.request(badge, 1);
        sim.pump();
    }
    assert_eq!(answer_value(&sim, 14, 0), Message::error(ProtocolError::Busy));
    assert_eq!((sim.m.stats().full, sim.m.outstanding()), (1, 4));
}

#[test]
fn a_challenger_that_faults_with_copies_in_flight_leaves_no_exchange_waiting() {
    // Its seat holds copies (paused) when it faults: they are settled at once, every client
    // is answered once, and the slot keeps serving.
    let mut c = config(policy(), 4);
    c.queue_limit = 4;
    let mut sim = Sim::new(c);
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    sim.pump();
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    for x in 1..=10 {
        sim.request(1, x);
        sim.pump();
    }
    assert!(sim.m.slot().in_flight() > 0);
    sim.paused.remove(&seat);
    sim.fault(seat);
    assert_eq!(sim.m.slot().in_flight(), 0, "{}", sim.notes());
    for x in 11..=20 {
        sim.request(1, x);
        sim.pump();
    }
    assert!(sim.not_answered_once().is_empty());
    assert_eq!(answer_value(&sim, 1, 19), Message { label: MESSAGE, words: vec![(1..=20).sum()] });
}

/// A warm incumbent behind (copies skipped under a flood) and a promoted module that
/// faults, so it cannot hand its state over (issue #14: nothing acknowledged is lost at a
/// fault rollback). Every answer, before and after the rollback, must be the running sum
/// of every request, as a module that saw each of them would give. `extra` requests come
/// after the fault while the restored module is still paused (they wait behind what it
/// owes first).
fn fault_rollback_while_the_warm_module_is_behind(k: usize, flood: u64, extra: u64) -> Sim {
    let mut sim = Sim::new(config(policy(), 4));
    let mut expected: Vec<((u64, u64), u64)> = Vec::new();
    let mut sent: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut sum = 0u64;
    let mut x = 0u64;
    // One request of client `badge`, answered or waiting (`pump`: run until nothing moves).
    let mut send = |sim: &mut Sim, badge: u64| {
        x += 1;
        sum += x;
        let seq = sent.entry(badge).or_default();
        expected.push(((badge, *seq), sum));
        *seq += 1;
        sim.request(badge, x);
        sim.pump();
    };
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    for _ in 0..6 {
        send(&mut sim, 1);
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    sim.pump();
    sim.paused.insert(0);
    for n in 0..flood {
        send(&mut sim, 1);
        if (n as usize + 1).is_multiple_of(k) {
            sim.serve_paused(0, 1);
        }
    }
    assert!(sim.m.stats().skipped > 0, "the warm module fell behind\n{}", sim.notes());
    let promoted = sim.m.seat_of_module(1).unwrap();
    sim.fault(promoted);
    assert_eq!(sim.m.slot().serving(), 0, "rolled back\n{}", sim.notes());
    // Requests of other clients while the restored module has not run yet: they wait
    // behind the replay.
    for b in 0..extra {
        send(&mut sim, 10 + b);
    }
    sim.paused.clear();
    sim.pump();
    for _ in 0..40 {
        send(&mut sim, 1);
    }
    assert!(sim.not_answered_once().is_empty(), "{:?}\n{}", sim.not_answered_once(), sim.notes());
    for ((badge, seq), want) in &expected {
        assert_eq!(answer_value(&sim, *badge, *seq).words, vec![*want], "k={k} flood={flood}: request ({badge}, {seq})\n{}", sim.notes());
    }
    sim
}

#[test]
fn a_fault_rollback_while_the_warm_module_is_behind_loses_no_acknowledged_request() {
    // Every phase of the catch-up cycle, with and without requests arriving before the
    // restored module runs again.
    for (k, floods) in [(2usize, 40..80u64), (4, 80..160), (8, 150..310)] {
        for flood in floods {
            for extra in [0, 3] {
                fault_rollback_while_the_warm_module_is_behind(k, flood, extra);
            }
        }
    }
}

/// A slot whose challenger "fast" (module 1) was promoted by hand on its evidence (six
/// agreeing copies of a running sum, client 1), the incumbent warm; the sums sent so far.
fn fast_promoted_on_its_evidence() -> (Sim, Sums) {
    let mut sim = Sim::new(config(policy(), 4));
    let mut sums = Sums::default();
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    for _ in 0..6 {
        sums.send(&mut sim, 1);
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    sim.pump();
    (sim, sums)
}

/// Requests of a running sum sent to a `Sim`, with the answer each must get.
#[derive(Default)]
struct Sums {
    expected: Vec<((u64, u64), u64)>,
    sent: std::collections::BTreeMap<u64, u64>,
    sum: u64,
    x: u64,
}

impl Sums {
    /// One request of client `badge` (then the tile runs until nothing moves).
    fn send(&mut self, sim: &mut Sim, badge: u64) {
        self.x += 1;
        self.sum += self.x;
        let seq = self.sent.entry(badge).or_default();
        self.expected.push(((badge, *seq), self.sum));
        *seq += 1;
        sim.request(badge, self.x);
        sim.pump();
    }

    /// Every request answered once, with the running sum of every request up to it.
    fn check(&self, sim: &Sim, what: &str) {
        assert!(sim.not_answered_once().is_empty(), "{what}: {:?}\n{}", sim.not_answered_once(), sim.notes());
        for ((badge, seq), want) in &self.expected {
            assert_eq!(answer_value(sim, *badge, *seq).words, vec![*want], "{what}: request ({badge}, {seq})\n{}", sim.notes());
        }
    }
}

/// Module `module` (serving) faults; every paused seat runs again until nothing is left to
/// do: the fault's rollback carried out.
fn fault_the_serving_module(sim: &mut Sim, module: u32) {
    let promoted = sim.m.seat_of_module(module).unwrap();
    sim.fault(promoted);
    sim.paused.clear();
    sim.pump();
}

/// A challenger "fast" installed and promoted (by the policy's evidence, by hand), then a
/// flood during which the warm incumbent (seat 0) does one piece of work per `k` requests.
fn promoted_with_the_warm_module_behind(sim: &mut Sim, sums: &mut Sums, module: u32, k: usize, flood: u64) {
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module });
    for _ in 0..6 {
        sums.send(sim, 1);
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module, force: false }), Response::Promoted { module });
    sim.pump();
    let warm = sim.m.seat_of_module(sim.m.slot().warm().unwrap()).unwrap();
    sim.paused.insert(warm);
    for n in 0..flood {
        sums.send(sim, 1);
        if (n as usize + 1).is_multiple_of(k) {
            sim.serve_paused(warm, 1);
        }
        // Bounded: never past (JOURNAL_LIMIT_QUEUES + 3) x queue_limit (16) + 1.
        assert!(sim.m.journal_entries() <= 5 * 16 + 1, "journal {}", sim.m.journal_entries());
    }
}

#[test]
fn a_journal_that_would_overflow_brings_the_warm_module_up_to_date_instead() {
    // A warm module 16 times slower than the client: its journal reaches 2 x queue_limit
    // entries no import covers, and it imports the serving module's state instead (again
    // and again under the flood), the journal staying bounded; a fault rollback after that
    // still loses nothing.
    let mut sim = Sim::new(config(policy(), 4));
    let mut sums = Sums::default();
    promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, 16, 400);
    let imports = sim.m.stats().journal_imports;
    assert!(imports >= 3, "brought up to date {imports} times\n{}", sim.notes());
    assert!(sim.world.borrow().notes.iter().any(|n| n.contains("@event slot.journal-import")), "{}", sim.notes());
    // Nothing is journaled without a warm module: after the rollback it is empty.
    fault_the_serving_module(&mut sim, 1);
    assert_eq!(sim.m.journal_entries(), 0);
    for _ in 0..20 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "after overflow imports and a fault rollback");
}

#[test]
fn the_entries_a_journal_import_covers_are_released_in_bounded_steps_after_its_state() {
    // A warm module 16 times slower than the client: imports again and again. The state's
    // arrival takes the entries it covers out of the journal, but their messages are released
    // by later steps of RELEASE_PER_STEP each when nothing waits (freed in the state's own
    // handling they were most of its busy span, `slots45`): with the steps held, they wait,
    // never more than a journal's most, (JOURNAL_LIMIT_QUEUES + 3) x queue_limit (16) + 1;
    // released, every request is still answered once and right.
    let (mut sim, mut sums) = fast_promoted_on_its_evidence();
    let warm = sim.m.seat_of_module(sim.m.slot().warm().unwrap()).unwrap();
    sim.paused.insert(warm);
    sim.hold_steps = true;
    let mut most = 0;
    for n in 0..400u64 {
        sums.send(&mut sim, 1);
        if (n + 1).is_multiple_of(16) {
            sim.serve_paused(warm, 1);
        }
        most = most.max(sim.m.released_entries());
        assert!(sim.m.released_entries() <= 5 * 16 + 1, "released {}", sim.m.released_entries());
    }
    assert!(sim.m.stats().journal_imports >= 3, "{}", sim.notes());
    assert!(most > RELEASE_PER_STEP, "no state's entries waited for release: {most}\n{}", sim.notes());
    // One step releases RELEASE_PER_STEP, no more.
    let before = sim.m.released_entries();
    if before > RELEASE_PER_STEP {
        sim.m.release_step();
        assert_eq!(sim.m.released_entries(), before - RELEASE_PER_STEP);
    }
    sim.hold_steps = false;
    sim.paused.clear();
    sim.pump();
    assert_eq!(sim.m.released_entries(), 0);
    assert!(sim.release_steps > 0);
    for _ in 0..20 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "after imports whose entries were released in steps");
}

#[test]
fn a_fault_of_the_restored_module_during_its_replay_answers_no_client_twice_or_wrongly_failed() {
    // The restored module faults while it replays: a replayed request has no client (its
    // client has its answer), so nobody is answered Failed for it; the requests waiting
    // behind the replay are served by the restarted module (fresh state, as after any fault
    // of a settled serving module) exactly once. Every phase of the catch-up cycle; in
    // those where the rollback replays, the fault lands on a replay.
    let mut hits = 0;
    for flood in 40..120u64 {
        let mut sim = Sim::new(config(policy(), 4));
        let mut sums = Sums::default();
        promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, 4, flood);
        let promoted = sim.m.seat_of_module(1).unwrap();
        sim.fault(promoted);
        assert_eq!(sim.m.slot().serving(), 0);
        for b in 0..3 {
            sim.request(10 + b, 1000 + b);
            sim.pump();
        }
        // Serve seat 0's work one piece at a time until it has replayed one request; it
        // faults on its next piece of work.
        let mut steps = 0;
        while sim.m.stats().replayed == 0 && steps < 100 {
            sim.serve_paused(0, 1);
            steps += 1;
        }
        // Its next piece of work is a replay when it is a request already answered (every
        // request of `sums` has its own x, at most `sums.x`; the three waiting ones 1000+).
        let next = sim.work.iter().find(|(seat, _, _)| *seat == 0).and_then(|(_, _, m)| m.words.first().copied());
        let on_replay = sim.m.stats().replayed == 1 && next.is_some_and(|x| (1..=sums.x).contains(&x));
        let failed_before = sim.m.stats().failed;
        sim.fault(0);
        sim.paused.clear();
        sim.pump();
        if on_replay {
            hits += 1;
            assert_eq!(sim.m.stats().failed, failed_before, "flood={flood}: a replay has no client to fail\n{}", sim.notes());
        }
        assert!(sim.not_answered_once().is_empty(), "flood={flood}: {:?}\n{}", sim.not_answered_once(), sim.notes());
        // It keeps serving: a new request is answered once.
        sim.request(20, 5);
        sim.pump();
        assert_eq!(answer_value(&sim, 20, 0).words.len(), 1);
        for b in 0..3 {
            assert_eq!(answer_value(&sim, 10 + b, 0).words.len(), 1);
        }
    }
    assert!(hits >= 10, "the fault landed on a replay {hits} times");
}

#[test]
fn a_rollback_by_hand_whose_hand_off_fails_replays_the_journal() {
    // A rollback by hand while the warm module is behind hands the state over from the
    // rolled-back module; that module faults during the hand-off (after answering some of
    // the requests it had): the restored module replays what it misses, those answers
    // included, and every answer is the right running sum.
    let mut compared = 0;
    for flood in 40..80u64 {
        for answered in 0..3usize {
            let mut sim = Sim::new(config(policy(), 4));
            let mut sums = Sums::default();
            promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, 2, flood);
            let promoted = sim.m.seat_of_module(1).unwrap();
            // Requests the promoted module holds when the rollback comes.
            sim.paused.insert(promoted);
            for b in 0..3 {
                sums.send(&mut sim, 10 + b);
            }
            // The promoted module holds client requests, so the rollback's two steps run
            // past `DEFERRED_BOUND` (whatever waits), one per clock check.
            assert_eq!(rollback_past_the_bound(&mut sim), Response::RolledBack { module: 0 });
            let handed = sim.world.borrow().notes.iter().any(|n| n.contains("@event slot.hand-off"));
            sim.serve_paused(promoted, answered);
            sim.fault(promoted);
            sim.paused.clear();
            sim.pump();
            for _ in 0..20 {
                sums.send(&mut sim, 1);
            }
            sums.check(&sim, &format!("flood={flood} answered={answered} handed={handed}"));
            // The replays (of requests the rolled-back module answered during the hand-off
            // among them) agree with what the clients got.
            assert_eq!(sim.m.stats().replay_disagreed, 0, "{:?}", sim.m.stats());
            compared += sim.m.stats().replay_compared;
        }
    }
    assert!(compared > 0, "no replay was compared");
}

#[test]
fn a_replay_agreeing_with_what_the_clients_got_is_compared_and_not_counted_as_disagreeing() {
    // A correct promoted module faults while the warm module is behind: every replayed
    // request whose client got its answer is compared with that answer's digest, and agrees.
    let mut compared = 0;
    for flood in (40..80u64).step_by(5) {
        let mut sim = Sim::new(config(policy(), 4));
        let mut sums = Sums::default();
        promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, 4, flood);
        fault_the_serving_module(&mut sim, 1);
        let stats = sim.m.stats();
        assert!(stats.replay_compared <= stats.replayed, "{stats:?}");
        assert_eq!(stats.replay_disagreed, 0, "flood={flood}\n{}", sim.notes());
        compared += stats.replay_compared;
        sums.check(&sim, &format!("flood={flood}"));
    }
    assert!(compared > 0, "no replay was compared");
}

#[test]
fn a_replay_that_differs_from_what_a_client_got_is_counted_logged_and_in_the_status() {
    // A wrong module (one more on every x that is a multiple of 7, its running sum right)
    // promoted by force; the warm module does no work meanwhile and falls behind, so the copies of the flood's
    // requests are skipped, not compared: its wrong answers reach their clients unseen by
    // the breaker. At its fault the restored module replays them: the replays of the
    // multiples of 7 differ from what the clients got.
    let mut sim = Sim::new(config(policy(), 4));
    assert_eq!(sim.install(&bundle(b"wrong")), Response::Installed { module: 1 });
    sim.pump();
    let mut x = 0;
    for _ in 0..6 {
        x += 1;
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    sim.pump();
    let warm = sim.m.seat_of_module(0).unwrap();
    sim.paused.insert(warm);
    // 16 copies queue for the warm module, the next are skipped (journaled): fewer than
    // the journal's limit (2 x queue_limit), so no import brings it up to date.
    for _ in 0..30u64 {
        x += 1;
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().serving(), 1, "the breaker saw nothing\n{}", sim.notes());
    fault_the_serving_module(&mut sim, 1);
    let stats = sim.m.stats();
    assert!(stats.replayed > 0 && stats.replay_compared > 0, "{stats:?}\n{}", sim.notes());
    assert!(stats.replay_disagreed > 0, "{stats:?}\n{}", sim.notes());
    let lines =
        sim.world.borrow().notes.iter().filter(|n| n.starts_with("@event slot.replay-disagreed slot=checksum seat=0 request=")).count();
    assert_eq!(lines as u64, stats.replay_disagreed, "{}", sim.notes());
    match sim.control(Access::Read, &Request::Status) {
        Response::Status(status) => {
            assert_eq!((status.replayed, status.replay_disagreed), (stats.replayed, stats.replay_disagreed));
        }
        other => panic!("{other:?}"),
    }
    // Every one of the x that is a multiple of 7 among the replays, and no other: the
    // wrong module's answers to the rest were right.
    assert!(stats.replay_disagreed < stats.replay_compared, "{stats:?}");
}

/// Module 1 (promoted) paused with three client requests sent to it, then rolled back by
/// hand past the bound: the restored module (seat 0) works again, the rolled-back one stays
/// paused, so a hand-off, if the rollback began one, stays pending. The rolled-back
/// module's seat, and whether a hand-off began.
fn rolled_back_with_the_promoted_module_paused(sim: &mut Sim, sums: &mut Sums) -> (usize, bool) {
    let promoted = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(promoted);
    for b in 0..3 {
        sums.send(sim, 10 + b);
    }
    assert_eq!(rollback_past_the_bound(sim), Response::RolledBack { module: 0 });
    let handed = sim.world.borrow().notes.iter().any(|n| n.contains("@event slot.hand-off"));
    sim.paused.remove(&0);
    sim.pump();
    (promoted, handed)
}

#[test]
fn a_promotion_by_hand_waits_while_a_restored_module_waits_for_its_hand_off() {
    // A rollback by hand hands the state over from the rolled-back module (the warm one
    // was behind); while the restored module waits for that import, a promotion by hand is
    // refused Busy with the reason; after the hand-off fails (the rolled-back module
    // faults) the restored module replays its journal, and a promotion then carries every
    // request's state: every answer stays right.
    let mut refused_while_pending = 0;
    for flood in (40..160u64).step_by(3) {
        let mut sim = Sim::new(config(policy(), 4));
        let mut sums = Sums::default();
        promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, 2, flood);
        let (promoted, handed) = rolled_back_with_the_promoted_module_paused(&mut sim, &mut sums);
        assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 2 }, "{}", sim.notes());
        sim.pump();
        let answer = sim.control(Access::Full, &Request::Promote { module: 2, force: true });
        if handed {
            refused_while_pending += 1;
            assert_eq!(
                refusal(answer),
                (
                    RefusalKind::Busy,
                    format!("a rollback's hand-off (seat {promoted} to seat 0) is under way: a promotion waits until it is done")
                ),
                "flood={flood}"
            );
            // The hand-off fails: the restored module replays its journal.
            sim.fault(promoted);
            sim.paused.clear();
            sim.pump();
            assert_eq!(sim.control(Access::Full, &Request::Promote { module: 2, force: true }), Response::Promoted { module: 2 });
        } else {
            assert_eq!(answer, Response::Promoted { module: 2 }, "flood={flood}");
            sim.paused.clear();
        }
        sim.pump();
        for _ in 0..20 {
            sums.send(&mut sim, 1);
        }
        sums.check(&sim, &format!("flood={flood} handed={handed}"));
    }
    // Since `slots25` a warm module behind is caught up before the rollback, so a hand-off
    // is rarer here (the warm module fell behind again during its catch-up).
    assert!(refused_while_pending >= 2, "a hand-off was pending in {refused_while_pending} runs");
}

#[test]
fn requests_and_an_install_during_a_hand_off_that_fails_keep_every_answer_and_the_challenger_right() {
    // The policy's counterpart of the test above. A promotion retires the other
    // challengers and installs are refused during the window, so after a rollback a
    // challenger is a new install; while the restored module waits for the rolled-back
    // module's hand-off, the requests queue behind that import, so the new challenger's
    // copies have nothing to be compared with and no policy promotion can become due (the
    // policy's `min_agreeing` is at least 1). Then the hand-off fails (the rolled-back
    // module faults). Two faults this found (session 23): the requests the rolled-back
    // module had not answered went to the restored module behind those sent to it during
    // the hand-off (a client got a running sum counting later requests), and the journal's
    // replays went behind the export for the new challenger's first state (its state
    // missed them: a good challenger rejected for disagreeing). Now each goes in request
    // order, ahead of any export: every answer is right and the policy promotes the new
    // challenger.
    let mut p = policy();
    p.auto_promote = true;
    let mut pending = 0;
    for flood in (40..160u64).step_by(3) {
        let what = format!("flood={flood}");
        let mut sim = Sim::new(config(p, 4));
        let mut sums = Sums::default();
        assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
        assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 2 });
        for _ in 0..6 {
            sums.send(&mut sim, 1);
        }
        assert_eq!(sim.m.slot().serving(), 1, "{what}: promoted by the policy\n{}", sim.notes());
        assert!(sim.m.slot().module(2).is_none(), "{what}: the promotion retired the other challenger");
        let (kind, _) = refusal(sim.install(&bundle(b"fast")));
        assert_eq!(kind, RefusalKind::Policy, "{what}: no install during the window");
        let warm = sim.m.seat_of_module(sim.m.slot().warm().unwrap()).unwrap();
        sim.paused.insert(warm);
        for n in 0..flood {
            sums.send(&mut sim, 1);
            if (n + 1).is_multiple_of(2) {
                sim.serve_paused(warm, 1);
            }
        }
        let (promoted, handed) = rolled_back_with_the_promoted_module_paused(&mut sim, &mut sums);
        let challenger = match sim.install(&bundle(b"fast")) {
            Response::Installed { module } => module,
            other => panic!("{what}: {other:?}\n{}", sim.notes()),
        };
        sim.pump();
        if handed {
            pending += 1;
            for b in 0..6 {
                sums.send(&mut sim, 20 + b);
            }
            let view = sim.m.slot().module(challenger).unwrap();
            assert_eq!(
                (view.state, view.evidence.agreeing),
                (State::Shadowing, 0),
                "{what}: compared during the hand-off\n{}",
                sim.notes()
            );
            assert_eq!(sim.m.slot().serving(), 0, "{what}");
            // The hand-off fails: the restored module replays its journal first.
            sim.fault(promoted);
        }
        sim.paused.clear();
        sim.pump();
        for _ in 0..20 {
            sums.send(&mut sim, 1);
        }
        sim.advance(tileos_slot_manager::DEFERRED_BOUND + 1);
        for _ in 0..5 {
            sums.send(&mut sim, 1);
        }
        sums.check(&sim, &format!("{what} handed={handed}"));
        assert_eq!(sim.m.slot().serving(), challenger, "{what} handed={handed}: promoted by the policy\n{}", sim.notes());
    }
    assert!(pending >= 2, "a hand-off was pending in {pending} runs");
}

#[test]
fn a_second_promotion_after_a_replayed_rollback_keeps_every_answer_right() {
    // Fault rollback (replaying, in the phases where the warm module's state misses
    // requests), then another challenger promoted and the warm module (the restored one)
    // behind again, then another fault rollback: every answer right.
    let mut replays = 0;
    for flood in (40..100u64).step_by(3) {
        let mut sim = Sim::new(config(policy(), 5));
        let mut sums = Sums::default();
        promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, 4, flood);
        fault_the_serving_module(&mut sim, 1);
        let first = sim.m.stats().replayed;
        promoted_with_the_warm_module_behind(&mut sim, &mut sums, 2, 4, flood + 7);
        fault_the_serving_module(&mut sim, 2);
        if first > 0 && sim.m.stats().replayed > first {
            replays += 1;
        }
        for _ in 0..20 {
            sums.send(&mut sim, 1);
        }
        sums.check(&sim, &format!("flood={flood}: two promotions, two fault rollbacks"));
        assert_eq!(sim.m.slot().counters().rolled_back, 2);
    }
    assert!(replays >= 3, "both rollbacks replayed in {replays} runs");
}

#[test]
fn a_warm_module_stuck_on_its_work_keeps_a_bounded_journal_and_stays_a_rollback_target() {
    // The warm module takes one piece of work and does not answer it for 200 requests (its
    // seat paused): its journal fills, imports are asked for (the newest state supersedes
    // the older ones queued), the journal stays within its bound, and after it resumes a
    // fault rollback to it loses nothing.
    let mut sim = Sim::new(config(policy(), 4));
    let mut sums = Sums::default();
    promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, 1_000, 200);
    assert_eq!(state_of(&sim, 0), Some(State::Warm), "{}", sim.notes());
    assert!(sim.m.stats().journal_imports >= 3, "{}", sim.notes());
    sim.serve_paused(0, 3);
    let promoted = sim.m.seat_of_module(1).unwrap();
    sim.fault(promoted);
    assert_eq!(sim.m.slot().serving(), 0);
    sim.paused.clear();
    sim.pump();
    for _ in 0..20 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "warm module stuck, then resumed and restored");
}

// ---------------------------------------------------------------------------------------
// Promotions by hand through the transfer before the switch (`slots14`).

/// Sends a promotion by hand of `module` without waiting for its answer (it comes at the
/// switch, or at the abandonment): the reply capability's number.
fn promote_by_hand(sim: &mut Sim, module: u32, force: bool) -> u64 {
    sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Promote { module, force }))
}

/// The decoded answer to control request `id`, if it came.
fn control_answer(sim: &mut Sim, id: u64) -> Option<Response> {
    sim.take_reply(id).map(|reply| tileos_protocol::decode::<Response>(reply.label, &reply.words).expect("a control response"))
}

/// A promotion by hand with clients in flight at every point of it (before the operator's
/// request, during its transfer before the switch, around the import and after the
/// switch): no request is lost or answered twice, each answer is the running sum of every
/// request in the order they arrived (so the order is kept across the switch), the operator
/// is answered `Promoted` at the switch, and the switch transfers nothing.
#[test]
fn a_promotion_by_hand_with_clients_in_flight_loses_nothing_and_keeps_the_order() {
    // `pieces`: how many pieces of work the paused challenger gets done before the clients'
    // next burst (its backlog copies, its import, the copies after it).
    for pieces in 0..6 {
        let mut sim = Sim::new(config(policy(), 4));
        sim.install(&bundle(b"fast"));
        sim.pump();
        let seat = sim.m.seat_of_module(1).unwrap();
        let mut sums = RunningSums::default();
        sums.burst(&mut sim, &[(1, 1), (2, 2)]);
        sim.pump();
        // The challenger paused with copies queued, and two requests in flight (the
        // incumbent paused too) when the operator promotes.
        sim.paused.insert(seat);
        sums.burst(&mut sim, &[(1, 3), (2, 4)]);
        sim.pump();
        sim.paused.insert(0);
        sums.burst(&mut sim, &[(3, 5)]);
        let id = promote_by_hand(&mut sim, 1, true);
        assert!(control_answer(&mut sim, id).is_none(), "answered at the switch, not before");
        sim.paused.remove(&0);
        sim.pump();
        sums.burst(&mut sim, &[(1, 6), (2, 7), (3, 8)]);
        sim.serve_paused(seat, pieces);
        sums.burst(&mut sim, &[(1, 9), (3, 10)]);
        sim.pump();
        sim.paused.clear();
        sim.pump();
        assert_eq!(control_answer(&mut sim, id), Some(Response::Promoted { module: 1 }), "pieces {pieces}\n{}", sim.notes());
        assert_eq!(sim.m.slot().serving(), 1);
        sums.burst(&mut sim, &[(1, 11), (2, 12), (3, 13)]);
        sim.pump();
        for ((badge, seq), sum) in &sums.expected {
            assert_eq!(answer_value(&sim, *badge, *seq).words, vec![*sum], "pieces {pieces}: request ({badge}, {seq})\n{}", sim.notes());
        }
        assert!(sim.not_answered_once().is_empty(), "{:?}", sim.not_answered_once());
        assert!(sim.notes().contains("transfer=true before_switch=true"), "pieces {pieces}\n{}", sim.notes());
        assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "one entry, before the transfer");
    }
}

/// A promotion by hand during a policy promotion's transfer (the module paused at its
/// import): the policy's entry is withdrawn, the hand's written, and a module other than
/// the policy's is promoted.
#[test]
fn a_promotion_by_hand_of_another_module_during_a_policy_transfer_withdraws_the_policys_entry() {
    let mut sim = Sim::auto_promoting_two_fast(policy());
    let first = sim.m.seat_of_module(1).unwrap();
    // Module 2 held back (its copies queue), so that module 1 is the policy's.
    let second = sim.m.seat_of_module(2).unwrap();
    sim.paused.insert(second);
    for x in 1..=4 {
        sim.request(1, x);
        sim.pump();
    }
    sim.paused.insert(first);
    sim.request(1, 5);
    sim.pump();
    // Module 1's answer to the fifth copy: promotable, its entry, its transfer starts.
    sim.serve_paused(first, 1);
    assert_eq!(sim.m.slot().serving(), 0, "its import waits\n{}", sim.notes());
    assert!(sim.notes().contains("slot.promotion-logged slot=checksum module=1 index=2"), "{}", sim.notes());
    let id = promote_by_hand(&mut sim, 2, true);
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Install, EventKind::Promote], "nothing in the request");
    assert!(sim.m.deferred_step(), "the withdrawal's step");
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Install, EventKind::Promote, EventKind::Rollback]);
    assert!(sim.m.deferred_step(), "the hand's entry's step");
    assert_eq!(
        entry_kinds(&sim),
        [EventKind::Install, EventKind::Install, EventKind::Promote, EventKind::Rollback, EventKind::Promote],
        "the policy's withdrawn before the hand's\n{}",
        sim.notes()
    );
    let note = UpdateEvent::decode(sim.m.log().entry(4).unwrap()).unwrap().note;
    assert!(note.starts_with("promoted by hand (forced)"), "{note}");
    sim.request(1, 6);
    sim.pump();
    assert!(control_answer(&mut sim, id).is_none(), "module 2's import waits");
    sim.paused.remove(&second);
    sim.pump();
    assert_eq!(control_answer(&mut sim, id), Some(Response::Promoted { module: 2 }), "{}", sim.notes());
    assert_eq!(sim.m.slot().serving(), 2);
    sim.paused.clear();
    sim.pump();
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 6).words, vec![121], "the sum of every request\n{}", sim.notes());
    assert!(sim.notes().contains("module=1 from=promotable to=rejected reason=Superseded { by: 2 }"), "{}", sim.notes());
    assert_eq!(entry_kinds(&sim).len(), 5, "nothing at the switch or at module 1's import");
    assert!(sim.not_answered_once().is_empty());
}

/// The challenger faults during the state transfer of its promotion by hand: the promotion
/// is abandoned, the operator is answered with the reason, the log withdraws the persisted
/// entry, and the incumbent serves on, every answer right.
#[test]
fn a_challenger_fault_during_a_hand_promotions_transfer_abandons_it() {
    let store = TestStore::default();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    sim.install(&bundle(b"fast"));
    sim.pump();
    let seat = sim.m.seat_of_module(1).unwrap();
    for x in 1..=3 {
        sim.request(1, x);
        sim.pump();
    }
    sim.paused.insert(seat);
    let id = promote_by_hand(&mut sim, 1, true);
    sim.pump();
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    sim.request(2, 4);
    sim.pump();
    assert!(control_answer(&mut sim, id).is_none(), "its import waits");
    sim.fault(seat);
    let (kind, reason) = refusal(control_answer(&mut sim, id).expect("answered at the fault"));
    assert_eq!(kind, RefusalKind::Policy);
    assert!(reason.contains("the promotion of module 1 was abandoned: it faulted during its state transfer"), "{reason}");
    assert!(reason.contains("module 0 serves on"), "{reason}");
    sim.paused.clear();
    sim.pump();
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, EventKind::Rollback], "{}", sim.notes());
    let note = UpdateEvent::decode(sim.m.log().entry(2).unwrap()).unwrap().note;
    assert!(note.starts_with("promotion withdrawn: not carried out, module 0 serves on"), "{note}");
    assert_eq!(sim.m.slot().serving(), 0);
    assert!(!sim.m.promotion_under_way());
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 2, 0).words, vec![10]);
    assert_eq!(answer_value(&sim, 1, 3).words, vec![110], "the incumbent serves on");
    assert!(sim.not_answered_once().is_empty());
    drop(sim);
    let (kinds, note) = rebooted_log(&store);
    assert_eq!(kinds, [EventKind::Install, EventKind::Promote, EventKind::Rollback]);
    assert!(note.starts_with("promotion withdrawn"), "{note}");
}

/// Hostile and repeated promote/rollback requests: each refused at once with its precise
/// reason (a second promotion while one is under way, a module the slot does not have, the
/// serving module, a rollback with nothing to roll back, a promotion while the window is
/// open, a second rollback, and both after a restart of the manager), clients served
/// throughout and every answer right.
#[test]
fn hostile_promote_and_rollback_sequences_are_refused_precisely() {
    let store = TestStore::default();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    sim.install(&bundle(b"fast"));
    sim.pump();
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.request(1, 1);
    sim.pump();
    let refused = |sim: &mut Sim, request: Request| refusal(sim.control(Access::Full, &request));
    assert_eq!(refused(&mut sim, Request::Rollback).0, RefusalKind::Policy, "nothing to roll back");
    let (kind, reason) = refused(&mut sim, Request::Promote { module: 9, force: true });
    assert_eq!((kind, reason.as_str()), (RefusalKind::NotFound, "no module 9 in the slot"));
    let (kind, reason) = refused(&mut sim, Request::Promote { module: 0, force: true });
    assert_eq!(kind, RefusalKind::Policy);
    assert!(reason.contains("NotShadowing"), "{reason}");
    // The first promotion's transfer held (its module paused): a second is refused Busy.
    sim.paused.insert(seat);
    let id = promote_by_hand(&mut sim, 1, true);
    sim.pump();
    let (kind, reason) = refused(&mut sim, Request::Promote { module: 1, force: true });
    assert_eq!(kind, RefusalKind::Busy);
    assert!(reason.contains("the promotion by hand of module 1 is under way"), "{reason}");
    let (kind, reason) = refused(&mut sim, Request::Rollback);
    assert_eq!(kind, RefusalKind::Busy, "a rollback during a promotion by hand");
    assert!(reason.contains("the promotion by hand of module 1 is under way: a rollback waits until it is done"), "{reason}");
    sim.request(1, 2);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 1).words, vec![3], "served during it");
    sim.paused.clear();
    sim.pump();
    assert_eq!(control_answer(&mut sim, id), Some(Response::Promoted { module: 1 }));
    let (kind, reason) = refused(&mut sim, Request::Promote { module: 1, force: true });
    assert_eq!(kind, RefusalKind::Policy);
    assert!(reason.contains("NotShadowing") || reason.contains("RollbackWindowOpen"), "{reason}");
    assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });
    assert_eq!(refused(&mut sim, Request::Rollback).0, RefusalKind::Policy, "a second rollback");
    let (kind, reason) = refused(&mut sim, Request::Promote { module: 1, force: true });
    assert_eq!((kind, reason.as_str()), (RefusalKind::NotFound, "no module 1 in the slot"), "a rolled-back module is forgotten");
    sim.request(1, 3);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 2).words, vec![6], "the sum of every request");
    assert!(sim.not_answered_once().is_empty());
    let entries = entry_kinds(&sim).len();
    drop(sim);
    // After a restart (a manager started again over the same store): the modules are gone.
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.m.log().size() as usize, entries, "the log reloaded");
    let (kind, reason) = refused(&mut sim, Request::Promote { module: 1, force: true });
    assert_eq!((kind, reason.as_str()), (RefusalKind::NotFound, "no module 1 in the slot"));
    assert_eq!(refused(&mut sim, Request::Rollback).0, RefusalKind::Policy);
    sim.request(1, 5);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 0).words, vec![5], "the restarted manager serves");
    assert!(!sim.m.promotion_under_way());
}

/// No busy span holds two of a promotion by hand's steps: the operator's request persists
/// nothing (`deferred` does nothing more in that span, while `deferred_ready` says a step
/// waits); the glue's next span (`deferred_step`, no message waiting) persists the entry and
/// does nothing more; the one after it starts the transfer, raising the module to the
/// serving schedule; the switch comes at the import.
#[test]
fn a_promotions_entry_and_its_transfers_start_are_separate_steps() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"fast"));
    sim.pump();
    let seat = sim.m.seat_of_module(1).unwrap();
    let raised = |sim: &Sim| {
        sim.world
            .borrow()
            .supervisor
            .iter()
            .any(|r| matches!(r, SeatRequest::SeatSchedule { seat: s, schedule: SeatSchedule::Serving } if usize::from(*s) == seat))
    };
    let id = promote_by_hand(&mut sim, 1, true);
    assert_eq!(entry_kinds(&sim), [EventKind::Install], "no entry in the operator's request");
    assert!(sim.m.promotion_under_way());
    assert!(sim.m.deferred_ready(), "its entry waits as the next step");
    assert!(!sim.m.deferred(), "nothing more in the operator's request's span");
    assert!(sim.m.deferred_step(), "the next span persists the entry");
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "the entry, a step of its own");
    assert!(sim.notes().contains("@event slot.promotion-logged slot=checksum module=1 index=1 by=hand"), "{}", sim.notes());
    assert!(!raised(&sim), "the transfer not started in the same span\n{}", sim.notes());
    assert!(sim.m.deferred_ready(), "its start waits as the next step");
    assert!(!sim.m.deferred(), "nothing more in the span that persisted the entry");
    assert!(control_answer(&mut sim, id).is_none(), "not answered before the switch");
    assert!(sim.m.deferred_step(), "the next span starts the transfer");
    assert!(raised(&sim), "raised to the serving schedule at the transfer's start");
    assert_eq!(sim.m.slot().serving(), 0, "the switch waits for the import");
    sim.pump();
    assert_eq!(control_answer(&mut sim, id), Some(Response::Promoted { module: 1 }));
    assert_eq!(sim.m.slot().serving(), 1);
}

/// Two tiles with policy `p`, one offering the seats' messages to the narrow path
/// (`Manager::copy_answer`) and one not, each with `payload`'s challenger installed and sent
/// `requests` client requests, each answered before the next.
fn with_and_without_the_narrow_path(p: tileos_slots::SlotPolicy, payload: &[u8], requests: u64) -> (Sim, Sim) {
    let sims = [true, false].map(|narrow| {
        let mut sim = Sim::new(config(p, 4));
        sim.narrow = narrow;
        sim.install(&bundle(payload));
        sim.pump();
        for x in 1..=requests {
            sim.request(1, x);
            sim.pump();
        }
        sim
    });
    let [narrow, general] = sims;
    (narrow, general)
}

/// A shadowing challenger's answers take the narrow path (one per request) and are counted
/// exactly as the general path counts them: agreeing and disagreeing, slow and the
/// latencies; the clients get the same answers, each once.
#[test]
fn a_challengers_answers_take_the_narrow_path_and_count_as_on_the_general_path() {
    let mut p = policy();
    p.min_agreeing = 1_000;
    p.max_disagreement = tileos_slots::Ratio { num: 1, den: 1 };
    let (narrow, general) = with_and_without_the_narrow_path(p, b"wrong", 40);
    assert_eq!((narrow.narrow_taken, general.narrow_taken), (40, 0), "{}", narrow.notes());
    let (a, b) = (narrow.m.slot().module(1).unwrap(), general.m.slot().module(1).unwrap());
    assert_eq!(a.evidence, b.evidence);
    assert_eq!((a.evidence.agreeing, a.evidence.disagreeing), (35, 5), "every 7th answer of \"wrong\" differs");
    assert_eq!(narrow.answers, general.answers);
    assert_eq!(narrow.m.stats(), general.m.stats());
    assert!(narrow.not_answered_once().is_empty());
}

/// The answer that completes `min_agreeing` can promote: it is the general path's. A narrow
/// path that took it (or any answer of a promotable module) would leave the module
/// shadowing here; promoted by the policy on the same request as without the narrow path.
#[test]
fn the_answer_that_can_promote_takes_the_general_path() {
    let mut p = policy();
    p.auto_promote = true;
    let (narrow, general) = with_and_without_the_narrow_path(p, b"fast", 5);
    assert_eq!(narrow.narrow_taken, 4, "the first four answers; the fifth completes the evidence");
    assert_eq!((narrow.m.slot().serving(), general.m.slot().serving()), (1, 1), "{}", narrow.notes());
    assert_eq!(narrow.m.slot().counters(), general.m.slot().counters());
    assert_eq!(narrow.answers, general.answers);
}

/// A seat the narrow path has verified (`Seat::verified`: its earlier answers took it) is
/// checked again after a change: its copy, held while the operator's promotion by hand is
/// taken and answered afterwards, takes the general path (a promotion is under way). With
/// that change's generation bump missing, the debug assertion on the verified seat fails.
#[test]
fn a_verified_seat_is_checked_again_after_a_promotion_by_hand_is_taken() {
    let mut p = policy();
    p.min_agreeing = 1_000;
    let mut sim = Sim::new(config(p, 4));
    sim.install(&bundle(b"fast"));
    sim.pump();
    for x in 1..=3 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.narrow_taken, 3, "{}", sim.notes());
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    sim.request(1, 4);
    sim.pump();
    let _ = promote_by_hand(&mut sim, 1, true);
    assert!(sim.m.promotion_under_way());
    sim.serve_paused(seat, 1);
    assert_eq!(sim.narrow_taken, 3, "the held copy's answer took the general path\n{}", sim.notes());
    assert_eq!(sim.m.slot().module(1).unwrap().evidence.compared(), 4, "and was counted there");
    assert!(sim.not_answered_once().is_empty());
}

/// Malformed and forged answers from a challenger's seat: each is refused by the narrow path
/// and handled by the general path as before (counted as a violation with its reason), or,
/// when it is an answer to the copy the seat holds, counted as disagreeing.
#[test]
fn forged_and_malformed_answers_on_the_narrow_path_fall_back_or_are_counted() {
    let mut p = policy();
    p.min_agreeing = 1_000;
    p.max_disagreement = tileos_slots::Ratio { num: 1, den: 1 };
    let mut sim = Sim::new(config(p, 4));
    sim.install(&bundle(b"fast"));
    sim.pump();
    // The challenger (seat 1) holds its copy of request 3 while the incumbent answers.
    sim.paused.insert(1);
    sim.request(1, 3);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 0), Message { label: MESSAGE, words: vec![3] });
    sim.work.retain(|(seat, _, _)| *seat != 1);
    let taken = sim.narrow_taken;
    // Too many words: the general path refuses it (TooLarge, a violation); the copy is still
    // the seat's.
    sim.module_call(1, Message { label: MESSAGE, words: vec![0; tileos_slot_manager::MAX_WORDS + 1] });
    assert_eq!((sim.narrow_taken, sim.m.stats().violations), (taken, 1));
    // The answer with a word too many: an answer to its copy, counted as disagreeing.
    sim.module_call(1, Message { label: MESSAGE, words: vec![3, 0] });
    assert_eq!(sim.narrow_taken, taken + 1);
    let evidence = sim.m.slot().module(1).unwrap().evidence;
    assert_eq!((evidence.agreeing, evidence.disagreeing), (0, 1));
    // A second answer (no copy outstanding): the general path's violation, the previous
    // saved call given back.
    let released = sim.world.borrow().released.len();
    sim.module_call(1, Message { label: MESSAGE, words: vec![3] });
    assert_eq!((sim.narrow_taken, sim.m.stats().violations), (taken + 1, 3), "{}", sim.notes());
    assert!(sim.world.borrow().released.len() > released);
    assert!(sim.notes().contains("seat 1 answered (label"), "{}", sim.notes());
    // A seat the slot does not have, and one that runs nothing.
    sim.module_call(40, Message { label: MESSAGE, words: vec![3] });
    sim.module_call(3, Message { label: MESSAGE, words: vec![3] });
    assert_eq!((sim.narrow_taken, sim.m.stats().violations), (taken + 1, 5), "{}", sim.notes());
    // The evidence is as it was; the incumbent still serves.
    let evidence = sim.m.slot().module(1).unwrap().evidence;
    assert_eq!((evidence.agreeing, evidence.disagreeing), (0, 1));
    sim.paused.clear();
    sim.request(1, 4);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 1), Message { label: MESSAGE, words: vec![7] });
    assert!(sim.not_answered_once().is_empty());
}

// ---------------------------------------------------------------------------------------
// Rollbacks by hand as deferred steps (`slots20`).

/// Sends a rollback by hand without waiting for its answer (it comes when the rollback is
/// done): the reply capability's number.
fn rollback_by_hand(sim: &mut Sim) -> u64 {
    sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Rollback))
}

/// A rollback by hand while clients hold requests at the serving module: its two steps run
/// past `DEFERRED_BOUND`, one per clock check. Its answer.
fn rollback_past_the_bound(sim: &mut Sim) -> Response {
    let id = rollback_by_hand(sim);
    for _ in 0..3 {
        if let Some(answer) = control_answer(sim, id) {
            return answer;
        }
        sim.advance(tileos_slot_manager::DEFERRED_BOUND + 1);
    }
    control_answer(sim, id).expect("answered within two steps past the bound")
}

/// A promotion by hand of module 1 (forced), done: the rollback window is open.
fn promoted_by_hand(store: &TestStore) -> Sim {
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    sim.pump();
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    sim
}

/// A rollback by hand is two deferred steps, neither in the operator's request: the
/// request only checks (its refusals are answered at once); the next span persists the
/// entry (nothing rolled back yet: the promoted module serves on); the span after it rolls
/// back and answers the operator. No span holds both.
#[test]
fn a_rollback_by_hand_is_its_entry_then_the_rollback_each_a_step_of_its_own() {
    let mut sim = promoted_by_hand(&TestStore::default());
    let entries = entry_kinds(&sim).len();
    let id = rollback_by_hand(&mut sim);
    assert!(control_answer(&mut sim, id).is_none(), "answered when done, not in its request");
    assert_eq!(entry_kinds(&sim).len(), entries, "no entry in the operator's request");
    assert!(sim.m.rollback_under_way());
    assert!(sim.m.deferred_ready(), "its entry waits as the next step");
    assert!(!sim.m.deferred(), "nothing more in the operator's request's span");
    assert!(sim.m.deferred_step(), "the entry's step");
    assert_eq!(entry_kinds(&sim)[entries..], [EventKind::Rollback], "persisted\n{}", sim.notes());
    assert!(sim.notes().contains("@event slot.rollback-logged slot=checksum module=1"), "{}", sim.notes());
    assert_eq!(sim.m.slot().serving(), 1, "not rolled back in the entry's step");
    assert!(control_answer(&mut sim, id).is_none(), "not answered before the rollback");
    assert!(!sim.m.deferred(), "one step per span");
    assert!(sim.m.deferred_step(), "the rollback's step");
    assert_eq!(sim.m.slot().serving(), 0, "rolled back");
    assert_eq!(control_answer(&mut sim, id), Some(Response::RolledBack { module: 0 }));
    assert!(!sim.m.rollback_under_way());
    assert_eq!(entry_kinds(&sim).len(), entries + 1, "one entry");
    let note = UpdateEvent::decode(sim.m.log().entry(entries as u64).unwrap()).unwrap().note;
    assert_eq!(note, "rolled back by hand");
    sim.request(1, 7);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 0).words, vec![7], "the restored incumbent serves");
}

/// A rollback by hand with clients in flight at every phase (before the operator's
/// request, between it and the entry's step, between the entry and the rollback, around
/// the restored module's first requests), the promoted module paused with 0–4 of its
/// requests served before the steps: no request is lost or answered twice, each answer is
/// the running sum of every request in arrival order, one entry.
#[test]
fn a_rollback_by_hand_with_clients_in_flight_loses_nothing_and_keeps_the_order() {
    for pieces in 0..5 {
        for past_bound in [false, true] {
            let mut sim = promoted_by_hand(&TestStore::default());
            let promoted = sim.m.seat_of_module(1).unwrap();
            // A client has one request in flight at a time (a second is refused): each
            // burst while requests are held uses clients with none in flight.
            let mut sums = RunningSums::default();
            sums.burst(&mut sim, &[(1, 1), (2, 2)]);
            sim.pump();
            // The promoted module paused with requests in flight when the operator asks.
            sim.paused.insert(promoted);
            sums.burst(&mut sim, &[(1, 3), (2, 4)]);
            let id = rollback_by_hand(&mut sim);
            sums.burst(&mut sim, &[(3, 5)]);
            sim.serve_paused(promoted, pieces);
            if past_bound {
                // Clients always waiting: the steps come past the bound, one per check.
                sim.advance(tileos_slot_manager::DEFERRED_BOUND + 1);
                sums.burst(&mut sim, &[(4, 6)]);
                sim.advance(1_000);
                sums.burst(&mut sim, &[(5, 7), (6, 8)]);
            } else {
                sums.burst(&mut sim, &[(4, 6), (5, 7), (6, 8)]);
            }
            sim.paused.clear();
            sim.pump();
            assert_eq!(control_answer(&mut sim, id), Some(Response::RolledBack { module: 0 }), "pieces {pieces}\n{}", sim.notes());
            sums.burst(&mut sim, &[(1, 9), (2, 10), (3, 11)]);
            sim.pump();
            for ((badge, seq), sum) in &sums.expected {
                assert_eq!(
                    answer_value(&sim, *badge, *seq).words,
                    vec![*sum],
                    "pieces {pieces} past_bound {past_bound}: request ({badge}, {seq})\n{}",
                    sim.notes()
                );
            }
            assert!(sim.not_answered_once().is_empty(), "{:?}", sim.not_answered_once());
            assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, EventKind::Rollback], "one entry");
            assert_eq!(sim.m.slot().serving(), 0);
        }
    }
}

/// While a rollback by hand is under way (its entry persisted or not yet), a second
/// rollback and a promotion by hand are refused `Busy` with the reason at once; the first
/// is carried out and answered, once.
#[test]
fn a_second_rollback_or_a_promotion_during_a_rollback_by_hand_is_refused_busy() {
    for after_entry in [false, true] {
        let mut sim = promoted_by_hand(&TestStore::default());
        // A client's request held by the promoted module holds the steps back (each runs
        // when no client request is in flight, or past `DEFERRED_BOUND`).
        let promoted = sim.m.seat_of_module(1).unwrap();
        sim.paused.insert(promoted);
        sim.request(1, 1);
        let id = rollback_by_hand(&mut sim);
        if after_entry {
            sim.advance(tileos_slot_manager::DEFERRED_BOUND + 1);
            assert!(sim.notes().contains("@event slot.rollback-logged"), "{}", sim.notes());
            assert_eq!(sim.m.slot().serving(), 1);
        }
        let second = rollback_by_hand(&mut sim);
        let (kind, reason) = refusal(control_answer(&mut sim, second).expect("refused at once"));
        assert_eq!(kind, RefusalKind::Busy);
        assert!(reason.contains("the rollback by hand of module 1 is under way: one at a time"), "{reason}");
        let promote = promote_by_hand(&mut sim, 2, true);
        let (kind, reason) = refusal(control_answer(&mut sim, promote).expect("refused at once"));
        assert_eq!(kind, RefusalKind::Busy);
        assert!(reason.contains("the rollback by hand of module 1 is under way"), "{reason}");
        sim.paused.clear();
        sim.pump();
        assert_eq!(control_answer(&mut sim, id), Some(Response::RolledBack { module: 0 }));
        assert_eq!(answer_value(&sim, 1, 0).words, vec![1]);
        assert!(sim.not_answered_once().is_empty());
        assert_eq!(control_answer(&mut sim, second), None, "answered once");
        let kinds = entry_kinds(&sim);
        assert_eq!(kinds.iter().filter(|k| **k == EventKind::Rollback).count(), 1, "one rollback entry: {kinds:?}");
        // Once it is done, a promotion by hand is taken again.
        assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 2 });
        assert_eq!(sim.control(Access::Full, &Request::Promote { module: 2, force: true }), Response::Promoted { module: 2 });
    }
}

/// A tile on `store` whose module 1 was promoted by hand, with a rollback by hand under way (its
/// entry persisted if `after_entry`), a client request in flight and module `faulting`
/// faulted: the tile and the operator's reply capability.
fn fault_during_rollback_by_hand(store: &TestStore, faulting: u32, after_entry: bool) -> (Sim, u64) {
    let mut sim = promoted_by_hand(store);
    sim.request(1, 1);
    sim.pump();
    let id = rollback_by_hand(&mut sim);
    if after_entry {
        assert!(sim.m.deferred_step());
    }
    sim.request(1, 2);
    sim.fault(sim.m.seat_of_module(faulting).unwrap());
    sim.pump();
    (sim, id)
}

/// A fault of either module while a rollback by hand is under way. The promoted module:
/// the breaker rolls back at once (its own entry), and the operator is answered
/// `RolledBack` (before the hand's entry: nothing more written; after it: both entries).
/// The warm module: the window closes (the promoted module settles) and nothing can be
/// rolled back: before the entry the refusal is logged as any; after it the entry is
/// withdrawn in the log. Clients are served throughout, every answer right, each once.
#[test]
fn a_fault_of_either_module_during_a_rollback_by_hand() {
    for after_entry in [false, true] {
        // The promoted module faults.
        let (mut sim, id) = fault_during_rollback_by_hand(&TestStore::default(), 1, after_entry);
        assert_eq!(control_answer(&mut sim, id), Some(Response::RolledBack { module: 0 }), "{}", sim.notes());
        let kinds = entry_kinds(&sim);
        let rollbacks = if after_entry { 2 } else { 1 };
        assert_eq!(kinds.iter().filter(|k| **k == EventKind::Rollback).count(), rollbacks, "{kinds:?}\n{}", sim.notes());
        assert_eq!(*kinds.last().unwrap(), EventKind::Rollback);
        sim.request(1, 3);
        sim.pump();
        assert_eq!(answer_value(&sim, 1, 2).words, vec![6], "after_entry {after_entry}\n{}", sim.notes());
        assert!(sim.not_answered_once().is_empty(), "{:?}", sim.not_answered_once());

        // The warm module faults.
        let store = TestStore::default();
        let (mut sim, id) = fault_during_rollback_by_hand(&store, 0, after_entry);
        let (kind, reason) = refusal(control_answer(&mut sim, id).expect("answered"));
        assert_eq!(kind, RefusalKind::Policy);
        assert!(reason.contains("the rollback window closed before the rollback by hand was carried out: module 1 serves on"), "{reason}");
        assert_eq!(sim.m.slot().serving(), 1);
        let last = sim.m.log().size() - 1;
        let event = UpdateEvent::decode(sim.m.log().entry(last).unwrap()).unwrap();
        if after_entry {
            assert_eq!(event.kind, EventKind::Promote, "the persisted rollback withdrawn");
            assert!(event.note.starts_with("rollback withdrawn: not carried out"), "{}", event.note);
            assert!(sim.notes().contains("@event slot.rollback-withdrawn slot=checksum module=1"));
        } else {
            assert_eq!(event.kind, EventKind::Install, "a refusal's entry");
            assert!(event.note.starts_with("refused (Policy): the rollback window closed"), "{}", event.note);
            assert!(!entry_kinds(&sim).contains(&EventKind::Rollback));
        }
        sim.request(1, 3);
        sim.pump();
        assert_eq!(answer_value(&sim, 1, 2).words, vec![6], "module 1 serves on\n{}", sim.notes());
        assert!(sim.not_answered_once().is_empty());
        drop(sim);
        let (kinds, _) = rebooted_log(&store);
        assert_eq!(kinds.len() as u64, last + 1, "the log reloads and verifies");
    }
}

/// The rollback window elapsing between a rollback by hand's entry and its rollback: the
/// entry is withdrawn, the operator told why; a store that refuses the entry: nothing is
/// rolled back and the operator is answered `Store`.
#[test]
fn a_rollback_by_hand_overtaken_by_its_window_or_refused_by_the_store_changes_nothing() {
    let mut sim = promoted_by_hand(&TestStore::default());
    let id = rollback_by_hand(&mut sim);
    assert!(sim.m.deferred_step());
    sim.time.set(sim.time.get() + policy().rollback_window + 1);
    sim.m.tick();
    sim.pump();
    let (kind, reason) = refusal(control_answer(&mut sim, id).expect("answered"));
    assert_eq!(kind, RefusalKind::Policy);
    assert!(reason.contains("the rollback window closed"), "{reason}");
    assert_eq!(sim.m.slot().serving(), 1);
    assert_eq!(*entry_kinds(&sim).last().unwrap(), EventKind::Promote, "withdrawn");

    let mut sim = promoted_by_hand(&TestStore::default());
    let entries = entry_kinds(&sim).len();
    let id = rollback_by_hand(&mut sim);
    sim.store.fail.set(true);
    assert!(sim.m.deferred_step());
    sim.store.fail.set(false);
    let (kind, reason) = refusal(control_answer(&mut sim, id).expect("answered"));
    assert_eq!(kind, RefusalKind::Store);
    assert!(reason.contains("nothing rolled back"), "{reason}");
    assert_eq!(sim.m.slot().serving(), 1);
    assert_eq!(entry_kinds(&sim).len(), entries);
    assert!(!sim.m.rollback_under_way());
    assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 }, "asked again, done");
}

/// A manager that faults between a rollback by hand's persisted entry and the rollback
/// loses nothing acknowledged: the operator was not answered; the log a manager started
/// again over the same store reloads holds the rollback, and its signed head and the
/// entry's inclusion proof verify; the restarted manager serves the slot's incumbent (as
/// after any restart), which is what the log's last entry says, and serves clients.
#[test]
fn a_manager_fault_between_a_rollback_by_hands_entry_and_the_rollback_leaves_the_log_and_slot_consistent() {
    let store = TestStore::default();
    let mut sim = promoted_by_hand(&store);
    sim.request(1, 1);
    sim.pump();
    let id = rollback_by_hand(&mut sim);
    sim.world.borrow_mut().crash_on_note = Some("slot.rollback-logged".into());
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.m.deferred_step()));
    assert!(crashed.is_err(), "the manager faulted right after the entry was persisted\n{}", sim.notes());
    assert!(control_answer(&mut sim, id).is_none(), "the operator was not answered");
    drop(sim);
    let (kinds, note) = rebooted_log(&store);
    assert_eq!(kinds, [EventKind::Install, EventKind::Promote, EventKind::Rollback]);
    assert_eq!(note, "rolled back by hand");
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.m.slot().serving(), 0, "the incumbent serves");
    assert!(!sim.m.rollback_under_way());
    sim.request(1, 5);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 0).words, vec![5]);
    assert_eq!(refusal(sim.control(Access::Full, &Request::Rollback)).0, RefusalKind::Policy, "nothing to roll back");
}

// ---------------------------------------------------------------------------------------
// The step priority and the 100 ms transfer limit (`slots20`). `Sim::hold_steps` stands
// for the manager's thread at a low `step_priority` below a busy domain: its deferred
// steps get no CPU, while its messages are still handled (at its own priority).

/// A policy (auto-promoting or not) whose copies in flight past `DEFERRED_BOUND` are not
/// timeouts, with module 1 (checksum-fast) installed and shadowing.
fn shadowing_with_slow_deadline(auto_promote: bool) -> Sim {
    let mut p = policy();
    p.auto_promote = auto_promote;
    p.answer_deadline = 10 * tileos_slot_manager::DEFERRED_BOUND;
    let mut sim = Sim::new(config(p, 4));
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    sim.pump();
    sim
}

/// A policy promotion whose steps are held (a low step priority under a busy domain) while
/// clients call every 30 ms: past `DEFERRED_BOUND` each step is done by the next message's
/// clock check, at the manager's priority, whatever waits (the entry, then the transfer's
/// start); the transfer itself (the modules' export and import) is not held, so it ends
/// within 100 ms of its start and the module is promoted: the limit bounds the transfer,
/// not the wait for a step, and held steps delay a promotion by at most the bound per step
/// plus the interval between the clients' messages.
#[test]
fn a_policy_promotion_whose_steps_are_held_is_carried_out_by_the_bound_within_the_limit() {
    let mut sim = shadowing_with_slow_deadline(true);
    for x in 1..=4 {
        sim.request(1, x);
        sim.pump();
    }
    sim.hold_steps = true;
    sim.request(1, 5);
    sim.pump();
    assert_eq!(sim.m.slot().module(1).map(|m| m.state), Some(State::Promotable), "{}", sim.notes());
    let mut sum = 15u64;
    let mut calls = 0u64;
    while sim.m.slot().serving() != 1 {
        assert!(calls < 20, "never promoted\n{}", sim.notes());
        if calls < 3 {
            assert_eq!(entry_kinds(&sim), [EventKind::Install], "the entry's step held within the bound");
        }
        sim.time.set(sim.time.get() + 30_000);
        calls += 1;
        sum += calls;
        sim.request(2, calls);
        sim.pump();
        assert_eq!(answer_value(&sim, 2, calls - 1).words, vec![sum], "served throughout\n{}", sim.notes());
    }
    assert!(calls >= 4, "promoted only past the bound ({calls} calls of 30 ms)");
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    assert!(!sim.notes().contains("slot.promotion-abandoned"), "{}", sim.notes());
    sim.hold_steps = false;
    sim.request(1, 100);
    sim.pump();
    assert!(sim.notes().contains("transfer=true before_switch=true"), "{}", sim.notes());
    assert_eq!(answer_value(&sim, 1, 5).words, vec![sum + 100], "the promoted module has every request");
    assert!(sim.not_answered_once().is_empty());
}

/// A promotion by hand whose transfer's start (a step) is held for 300 ms with no message
/// at all (nothing checks the clock): when the step runs, the limit counts from then, and
/// the transfer ending within it promotes.
#[test]
fn a_promotion_by_hand_whose_step_is_held_without_messages_promotes_once_it_runs() {
    let mut sim = shadowing_with_slow_deadline(false);
    sim.request(1, 1);
    sim.pump();
    sim.hold_steps = true;
    let id = promote_by_hand(&mut sim, 1, true);
    assert_eq!(entry_kinds(&sim), [EventKind::Install], "the entry is a step, not the request's");
    sim.time.set(sim.time.get() + 300_000);
    assert!(control_answer(&mut sim, id).is_none(), "the entry and the transfer's start wait for their steps");
    sim.hold_steps = false;
    sim.pump();
    assert_eq!(control_answer(&mut sim, id), Some(Response::Promoted { module: 1 }), "{}", sim.notes());
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    sim.request(1, 2);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 1).words, vec![3]);
}

/// The transfer of a promotion by hand delayed past the 100 ms limit (the module to be
/// promoted held, as by a busy domain above it, and the steps held too): the next client
/// message's clock check abandons it; the operator is answered with the reason at once; the
/// withdrawal is appended by the next step (held: not before it runs, or before
/// `DEFERRED_BOUND` forces it), so the log says so; the incumbent serves on, every answer
/// right. The same transfer ending within the limit (60 ms) promotes.
#[test]
fn a_transfer_delayed_past_the_limit_is_withdrawn_and_one_within_it_promotes() {
    for delay in [60_000u64, tileos_slot_manager::DEFERRED_BOUND + 1_000] {
        let mut sim = shadowing_with_slow_deadline(false);
        sim.request(1, 1);
        sim.pump();
        let seat = sim.m.seat_of_module(1).unwrap();
        sim.paused.insert(seat);
        let id = promote_by_hand(&mut sim, 1, true);
        sim.pump();
        assert!(sim.m.promotion_under_way());
        assert!(control_answer(&mut sim, id).is_none(), "its import waits");
        sim.hold_steps = true;
        sim.time.set(sim.time.get() + delay);
        sim.request(1, 2);
        sim.pump();
        assert_eq!(answer_value(&sim, 1, 1).words, vec![3], "the incumbent serves meanwhile");
        let within = delay <= tileos_slot_manager::DEFERRED_BOUND;
        if within {
            assert!(control_answer(&mut sim, id).is_none(), "not abandoned within the limit\n{}", sim.notes());
            sim.paused.clear();
            sim.pump();
            assert_eq!(control_answer(&mut sim, id), Some(Response::Promoted { module: 1 }), "{}", sim.notes());
            assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
            assert_eq!(sim.m.slot().serving(), 1);
        } else {
            let (kind, reason) = refusal(control_answer(&mut sim, id).expect("answered at the limit"));
            assert_eq!(kind, RefusalKind::Policy);
            assert!(
                reason.contains(
                    "the promotion of module 1 was abandoned: its state transfer before the switch did not complete within 100 ms"
                ),
                "{reason}"
            );
            assert!(sim.notes().contains("@event slot.promotion-abandoned slot=checksum module=1"), "{}", sim.notes());
            assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "the withdrawal waits for its step");
            sim.hold_steps = false;
            sim.paused.clear();
            sim.pump();
            assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, EventKind::Rollback], "{}", sim.notes());
            let note = UpdateEvent::decode(sim.m.log().entry(2).unwrap()).unwrap().note;
            assert!(note.starts_with("promotion withdrawn: not carried out, module 0 serves on"), "{note}");
            assert_eq!(sim.m.slot().serving(), 0, "the import came late and changed nothing");
        }
        sim.hold_steps = false;
        sim.request(1, 3);
        sim.pump();
        assert_eq!(answer_value(&sim, 1, 2).words, vec![6], "delay {delay}: every request once, in order\n{}", sim.notes());
        assert!(sim.not_answered_once().is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// A promotion by hand's entry as a deferred step (`slots21`): the operator's request only
// checks; the withdrawal of a superseded policy promotion (if any) and the promotion's own
// entry are steps of their own, then the transfer's start, then the switch at the import.

/// A promotion by hand with clients in flight at every phase: before the operator's
/// request, between it and the entry's step, between the entry and the transfer's start,
/// during the transfer (the module paused with 0–3 pieces of its work served) and after the
/// switch; the steps either run when no client waits (the glue's poll) or are forced past
/// `DEFERRED_BOUND` with requests in flight. No request is lost or answered twice, each
/// answer is the running sum of every request in arrival order (the incumbent serves until
/// the switch), the operator is answered `Promoted` once, and the log has one entry.
#[test]
fn a_promotion_by_hand_with_clients_in_flight_at_each_of_its_steps_loses_nothing() {
    for past_bound in [false, true] {
        for pieces in 0..4 {
            // Copies held past the bound are not timeouts (the module stays shadowing).
            let mut sim = shadowing_with_slow_deadline(false);
            let seat = sim.m.seat_of_module(1).unwrap();
            let mut sums = RunningSums::default();
            sums.burst(&mut sim, &[(1, 1), (2, 2)]);
            sim.pump();
            // The steps run only where this test says (the glue's poll, or a clock check).
            sim.hold_steps = true;
            sim.paused.insert(seat);
            if past_bound {
                // The incumbent holds each phase's request: the steps come past the bound.
                sim.paused.insert(0);
            }
            sums.burst(&mut sim, &[(1, 3)]);
            let id = promote_by_hand(&mut sim, 1, true);
            assert_eq!(entry_kinds(&sim), [EventKind::Install], "nothing persisted in the operator's request");
            assert!(sim.m.promotion_under_way());
            // One phase: a client's request, then the next step.
            let mut phase = |sim: &mut Sim, badge: u64, x: u64, step: &str| {
                sums.burst(sim, &[(badge, x)]);
                if past_bound {
                    sim.advance(if x == 4 { tileos_slot_manager::DEFERRED_BOUND + 1 } else { 1_000 });
                } else {
                    sim.pump();
                    assert!(sim.m.deferred_step(), "{step}: a step with no client waiting\n{}", sim.notes());
                }
            };
            phase(&mut sim, 2, 4, "the entry");
            assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "past_bound {past_bound}\n{}", sim.notes());
            assert!(sim.notes().contains("@event slot.promotion-logged slot=checksum module=1 index=1 by=hand"), "{}", sim.notes());
            assert_eq!(sim.m.slot().serving(), 0);
            phase(&mut sim, 3, 5, "the transfer's start");
            assert_eq!(sim.m.slot().serving(), 0, "the switch waits for the import");
            assert!(control_answer(&mut sim, id).is_none(), "answered at the switch, not before");
            sums.burst(&mut sim, &[(4, 6)]);
            sim.serve_paused(seat, pieces);
            sums.burst(&mut sim, &[(5, 7)]);
            sim.hold_steps = false;
            sim.paused.clear();
            sim.pump();
            assert_eq!(
                control_answer(&mut sim, id),
                Some(Response::Promoted { module: 1 }),
                "past_bound {past_bound} pieces {pieces}\n{}",
                sim.notes()
            );
            assert_eq!(sim.m.slot().serving(), 1);
            sums.burst(&mut sim, &[(1, 8), (2, 9), (6, 10)]);
            sim.pump();
            for ((badge, seq), sum) in &sums.expected {
                assert_eq!(
                    answer_value(&sim, *badge, *seq).words,
                    vec![*sum],
                    "past_bound {past_bound} pieces {pieces}: request ({badge}, {seq})\n{}",
                    sim.notes()
                );
            }
            assert!(sim.not_answered_once().is_empty(), "{:?}", sim.not_answered_once());
            assert!(control_answer(&mut sim, id).is_none(), "answered once");
            assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "one entry");
            assert!(!sim.m.promotion_under_way());
        }
    }
}

/// A store that refuses the promotion by hand's entry at its step: the operator is
/// answered `Store` (nothing promoted), nothing is appended, the incumbent serves on and
/// the module is still shadowing; asked again, it is promoted.
#[test]
fn a_promotion_by_hands_entry_refused_by_the_store_promotes_nothing() {
    let mut sim = Sim::new(config(policy(), 4));
    sim.install(&bundle(b"fast"));
    sim.pump();
    sim.request(1, 1);
    sim.pump();
    let id = promote_by_hand(&mut sim, 1, true);
    sim.store.fail.set(true);
    assert!(sim.m.deferred_step(), "the entry's step");
    sim.store.fail.set(false);
    let (kind, reason) = refusal(control_answer(&mut sim, id).expect("answered at the entry's step"));
    assert_eq!(kind, RefusalKind::Store);
    assert!(reason.starts_with("the update log was not persisted (") && reason.ends_with("): nothing promoted"), "{reason}");
    assert_eq!(entry_kinds(&sim), [EventKind::Install]);
    assert!(!sim.m.promotion_under_way());
    assert!(!sim.m.deferred_ready(), "nothing more to do");
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 0);
    assert_eq!(state_of(&sim, 1), Some(State::Shadowing));
    sim.request(1, 2);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 1).words, vec![3], "the incumbent serves on");
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    assert!(sim.not_answered_once().is_empty());
}

/// A promotion by hand that supersedes a policy promotion whose entry is persisted, with
/// the store refusing the withdrawal at its step: the withdrawal is kept and retried, and
/// the hand's entry waits for a step after the retry (never two entries in one span): the
/// log is the policy's entry, its withdrawal, the hand's entry, in that order.
#[test]
fn a_superseded_policy_promotions_withdrawal_refused_once_is_retried_before_the_hands_entry() {
    let mut p = policy();
    p.auto_promote = true;
    let mut sim = Sim::with_store(config(p, 4), TestStore::default());
    sim.install(&bundle(b"fast"));
    sim.pump();
    for x in 1..=4 {
        sim.request(1, x);
        sim.pump();
    }
    let seat = sim.m.seat_of_module(1).unwrap();
    sim.paused.insert(seat);
    sim.request(1, 5);
    sim.pump();
    sim.serve_paused(seat, 1);
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "the policy's entry\n{}", sim.notes());
    let id = promote_by_hand(&mut sim, 1, false);
    sim.store.fail.set(true);
    assert!(sim.m.deferred_step(), "the withdrawal's step");
    sim.store.fail.set(false);
    assert!(sim.notes().contains("the withdrawal of module 1's promotion was not persisted"), "{}", sim.notes());
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    assert!(sim.m.deferred_step(), "the retry's step");
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, EventKind::Rollback], "the retry alone");
    assert!(sim.m.deferred_step(), "the hand's entry's step");
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, EventKind::Rollback, EventKind::Promote]);
    sim.paused.clear();
    sim.pump();
    assert_eq!(control_answer(&mut sim, id), Some(Response::Promoted { module: 1 }), "{}", sim.notes());
    assert_eq!(sim.m.stats().log_failures, 0, "nothing lost");
    sim.request(1, 100);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 5).words, vec![115]);
    assert!(sim.not_answered_once().is_empty());
}

/// While a promotion by hand is under way (its entry persisted or not yet), a second
/// promotion by hand and a rollback by hand are refused `Busy` with the reason at once; the
/// first is carried out and answered, once.
#[test]
fn a_second_promotion_or_a_rollback_during_a_promotion_by_hand_is_refused_busy() {
    for after_entry in [false, true] {
        let mut sim = Sim::new(config(policy(), 4));
        sim.install(&bundle(b"fast"));
        sim.install(&bundle(b"fast"));
        sim.pump();
        let seat = sim.m.seat_of_module(1).unwrap();
        sim.paused.insert(seat);
        sim.hold_steps = true;
        let id = promote_by_hand(&mut sim, 1, true);
        if after_entry {
            assert!(sim.m.deferred_step());
            assert_eq!(*entry_kinds(&sim).last().unwrap(), EventKind::Promote);
        }
        let entries = entry_kinds(&sim).len();
        let second = promote_by_hand(&mut sim, 2, true);
        let (kind, reason) = refusal(control_answer(&mut sim, second).expect("refused at once"));
        assert_eq!(kind, RefusalKind::Busy);
        assert_eq!(reason, "the promotion by hand of module 1 is under way: one at a time");
        let rollback = rollback_by_hand(&mut sim);
        let (kind, reason) = refusal(control_answer(&mut sim, rollback).expect("refused at once"));
        assert_eq!(kind, RefusalKind::Busy);
        assert_eq!(reason, "the promotion by hand of module 1 is under way: a rollback waits until it is done");
        assert_eq!(entry_kinds(&sim).len(), entries, "a Busy refusal is not logged");
        sim.hold_steps = false;
        sim.paused.clear();
        sim.pump();
        assert_eq!(control_answer(&mut sim, id), Some(Response::Promoted { module: 1 }), "{}", sim.notes());
        assert_eq!(control_answer(&mut sim, second), None, "answered once");
        let kinds = entry_kinds(&sim);
        assert_eq!(kinds.iter().filter(|k| **k == EventKind::Promote).count(), 1, "one promotion entry: {kinds:?}");
        // Once it is done, a rollback by hand is taken again.
        assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });
    }
}

/// A fault of either module while a promotion by hand is under way, before its entry's
/// step or between the entry and the switch. The challenger (rejected: `max_faults` 0, so
/// the slot forgets it): before the entry the step finds no such module and answers
/// `NotFound` with the reason (not logged, as in a request); after it the promotion is
/// abandoned and the entry withdrawn. Either way the operator
/// is told why and the incumbent serves on. The incumbent (its request failed, started
/// again, as any settled serving module's fault): the promotion goes on and the operator
/// is answered `Promoted`. The log reloaded after a restart verifies, every client request
/// is answered once.
#[test]
fn a_fault_of_either_module_during_a_promotion_by_hand() {
    for after_entry in [false, true] {
        for faulting in [1u32, 0] {
            let store = TestStore::default();
            let mut sim = Sim::with_store(config(policy(), 4), store.clone());
            sim.install(&bundle(b"fast"));
            sim.pump();
            sim.request(1, 1);
            sim.pump();
            let seat = sim.m.seat_of_module(1).unwrap();
            sim.hold_steps = true;
            let id = promote_by_hand(&mut sim, 1, true);
            if after_entry {
                assert!(sim.m.deferred_step());
                assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
            }
            sim.request(1, 2);
            sim.fault(sim.m.seat_of_module(faulting).unwrap());
            sim.hold_steps = false;
            sim.pump();
            let answer = control_answer(&mut sim, id).expect("answered");
            let kinds = entry_kinds(&sim);
            let context = format!("after_entry {after_entry} faulting {faulting}\n{}", sim.notes());
            if faulting == 1 {
                let (kind, reason) = refusal(answer);
                assert!(
                    reason.contains("the promotion of module 1 was abandoned") || reason.contains("promotion by hand was abandoned"),
                    "{reason}"
                );
                assert_eq!(sim.m.slot().serving(), 0);
                if after_entry {
                    // (The reason is cut at the protocol's length.)
                    assert!(reason.contains("it left the slot (Faulted(TooManyFaults"), "{reason}");
                    assert_eq!(kind, RefusalKind::Policy, "{context}");
                    assert_eq!(kinds, [EventKind::Install, EventKind::Promote, EventKind::Rollback], "{context}");
                    let note = UpdateEvent::decode(sim.m.log().entry(2).unwrap()).unwrap().note;
                    assert!(note.starts_with("promotion withdrawn: not carried out, module 0 serves on"), "{note}");
                } else {
                    // A rejected module leaves the slot's records: NotFound, as in a request.
                    assert_eq!(kind, RefusalKind::NotFound, "{context}");
                    assert_eq!(
                        reason,
                        "no module 1 in the slot any more: the promotion by hand was abandoned before its entry; module 0 serves on"
                    );
                    assert_eq!(kinds, [EventKind::Install], "nothing persisted: {context}");
                }
                sim.request(1, 3);
                sim.pump();
                assert_eq!(answer_value(&sim, 1, 2).words, vec![6], "the incumbent serves on: {context}");
            } else {
                assert_eq!(answer, Response::Promoted { module: 1 }, "{context}");
                assert_eq!(kinds, [EventKind::Install, EventKind::Promote], "{context}");
                assert_eq!(sim.m.slot().serving(), 1);
                let _ = seat;
                sim.request(1, 3);
                sim.pump();
                assert_eq!(answer_value(&sim, 1, 2).words.len(), 1, "served: {context}");
            }
            assert!(sim.not_answered_once().is_empty(), "{:?}: {context}", sim.not_answered_once());
            assert!(!sim.m.promotion_under_way());
            drop(sim);
            let (reloaded, _) = rebooted_log(&store);
            assert_eq!(reloaded, kinds, "the log reloads and verifies");
        }
    }
}

/// A manager that faults between a promotion by hand's persisted entry and its switch (at
/// the entry's step, right after the durable write) loses nothing acknowledged: the
/// operator was not answered; the log a manager started again over the same store reloads
/// holds the promotion, and its signed head and the entry's inclusion proof verify; the
/// restarted manager serves the slot's incumbent (as after any restart: a module installed
/// at run time is not in a restarted slot, promoted or not), refuses a promotion of the
/// module it no longer has, and serves clients.
#[test]
fn a_manager_fault_between_a_promotion_by_hands_entry_and_its_switch_leaves_the_log_and_slot_consistent() {
    let store = TestStore::default();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    sim.install(&bundle(b"fast"));
    sim.pump();
    sim.request(1, 1);
    sim.pump();
    let id = promote_by_hand(&mut sim, 1, true);
    sim.world.borrow_mut().crash_on_note = Some("slot.promotion-logged".into());
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.m.deferred_step()));
    assert!(crashed.is_err(), "the manager faulted right after the entry was persisted\n{}", sim.notes());
    assert!(control_answer(&mut sim, id).is_none(), "the operator was not answered");
    assert_eq!(sim.m.slot().serving(), 0, "before the switch");
    drop(sim);
    let (kinds, note) = rebooted_log(&store);
    assert_eq!(kinds, [EventKind::Install, EventKind::Promote]);
    assert!(note.starts_with("promoted by hand (forced): 1 agreeing"), "{note}");
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.m.slot().serving(), 0, "the incumbent serves");
    assert!(!sim.m.promotion_under_way());
    sim.request(1, 5);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 0).words, vec![5]);
    let (kind, reason) = refusal(sim.control(Access::Full, &Request::Promote { module: 1, force: true }));
    assert_eq!((kind, reason.as_str()), (RefusalKind::NotFound, "no module 1 in the slot"));
    // The first boot after the fault said the promotion is not kept; the refusal adds nothing.
    let boot = EventKind::ManagerStarted { generation: 0, reloaded: 2, seats: 4 };
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote, boot], "the NotFound refusal is not logged");
}

/// The manager killed in the middle of a promotion by hand's state transfer (its entry
/// persisted, the serving module asked to export, its state not yet back), as boot test
/// `slot_manager_restart` does on a tile, and restarted by the root server (generation 1)
/// while the seats' modules run on: the restarted manager serves the incumbent with the
/// state it kept (the clients' running sums go on), takes the incumbent's late `STATE` as a
/// stray call, stops the module whose promotion was cut, so that its seat takes the next
/// install, and its log (install, promote, manager-started, install) reloads. Until
/// `slots35` the cut module ran on in its seat unknown to the new manager: its `READY`s were
/// turned away ("runs no module") and the next install into that seat was refused
/// (`SeatRunning`).
#[test]
fn a_manager_restarted_mid_promotion_transfer_serves_its_incumbent_and_frees_the_cut_modules_seat() {
    let store = TestStore::default();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    sim.pump();
    for x in [1, 2] {
        sim.request(1, x);
        sim.pump();
    }
    // The incumbent holds its work: the transfer's export stays with it.
    sim.paused.insert(0);
    let id = promote_by_hand(&mut sim, 1, true);
    sim.pump();
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote], "the entry is persisted\n{}", sim.notes());
    assert!(sim.work.iter().any(|(seat, _, m)| *seat == 0 && m.label == tileos_protocol::module::EXPORT), "the export was asked for");
    assert_eq!(sim.m.slot().serving(), 0, "before the switch");
    assert!(control_answer(&mut sim, id).is_none(), "the operator is answered at the switch");
    let mut c = config(policy(), 4);
    c.generation = 1;
    sim.restart_manager(c);
    sim.paused.clear();
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 0, "the restarted manager serves its incumbent\n{}", sim.notes());
    assert!(!sim.m.promotion_under_way());
    assert!(sim.m.seat_of_module(1).is_none(), "module 1 is forgotten");
    assert_eq!(*sim.world.borrow().running.iter().collect::<Vec<_>>(), [&0u8], "the cut module's seat was stopped\n{}", sim.notes());
    assert!(!sim.notes().contains("runs no module"), "{}", sim.notes());
    // The incumbent kept its state: the running sum goes on from 1 + 2.
    sim.request(1, 4);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 2).words, vec![7]);
    // The cut module's seat takes the next install.
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 }, "{}", sim.notes());
    sim.pump();
    assert_eq!(sim.m.seat_of_module(1), Some(1));
    assert_eq!(
        entry_kinds(&sim),
        [EventKind::Install, EventKind::Promote, EventKind::ManagerStarted { generation: 1, reloaded: 2, seats: 4 }, EventKind::Install]
    );
    drop(sim);
    let (kinds, _) = rebooted_log(&store);
    assert_eq!(kinds.len(), 4, "{kinds:?}");
}

/// A manager restarted after a promotion's switch, which lowered the warm incumbent to the
/// challengers' schedule: the restarted manager serves the incumbent (seat 0), so it gives
/// seat 0 the serving schedule again at its start rather than taking it to have it (before
/// session 28 the incumbent served on at the challengers' priority and budget).
#[test]
fn a_restarted_manager_gives_its_incumbent_the_serving_schedule_again() {
    let mut sim = Sim::new(config(policy(), 4));
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    sim.pump();
    sim.request(1, 1);
    sim.pump();
    let id = promote_by_hand(&mut sim, 1, true);
    for x in 2..6 {
        sim.request(1, x);
        sim.pump();
    }
    assert!(control_answer(&mut sim, id).is_some(), "the promotion was answered\n{}", sim.notes());
    assert_eq!(sim.m.slot().serving(), 1, "{}", sim.notes());
    assert_eq!(sim.world.borrow().schedules.get(&0), Some(&SeatSchedule::Shadow), "the warm incumbent was lowered\n{}", sim.notes());
    let mut c = config(policy(), 4);
    c.generation = 1;
    sim.restart_manager(c);
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 0, "{}", sim.notes());
    assert_eq!(sim.world.borrow().schedules.get(&0), Some(&SeatSchedule::Serving), "{}", sim.notes());
    sim.request(1, 7);
    sim.pump();
}

/// The manager killed in the middle of a rollback by hand's catch-up, as the warm module
/// begins its import, while the seats' modules run on (boot test
/// `slot_manager_restart_rollback` on a tile): the warm incumbent held its first copy
/// through a flood (its copies skipped into the journal; journal imports of the promoted
/// module's state queued for it, each older than the requests journaled after it). The
/// restarted manager serves the incumbent, the log's last word (the rollback); the incumbent
/// finishes the import it was given and serves with that state, so that state must hold
/// every acknowledged request: the catch-up asks the promoted module for a fresh export and
/// the warm module waits for it rather than take an older import still queued. Every
/// answer, before and after the restart, is the running sum of every request, each once;
/// the operator is never answered; the log reloads as install, promote, rollback,
/// manager-started. Until `rollrestart` the catch-up waited for the queued import: after the
/// restart the incumbent's sums lacked the requests journaled since its state's export.
/// Since `adopt` the restarted manager also adopts module 1's state (it served last, and
/// runs): the incumbent imports twice.
#[test]
fn a_manager_restarted_mid_rollback_catch_up_serves_the_incumbent_with_every_acknowledged_request() {
    use tileos_protocol::module::IMPORT;
    let mut cases = 0;
    for flood in 30..110u64 {
        let store = TestStore::default();
        let mut sim = Sim::with_store(config(policy(), 4), store.clone());
        let mut sums = Sums::default();
        // The warm incumbent does no work during the flood (it holds its first copy).
        promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, usize::MAX, flood);
        let id = rollback_by_hand(&mut sim);
        sim.pump();
        assert!(sim.notes().contains("@event slot.rollback-catch-up slot=checksum seat=0"), "flood={flood}\n{}", sim.notes());
        assert!(sim.m.rollback_under_way() && sim.m.slot().serving() == 1, "flood={flood}: the rollback waits for the catch-up");
        // The warm module answers the copy it held, and is given its import: the kill.
        let mut pieces = 0;
        while !sim.work.iter().any(|(seat, _, m)| *seat == 0 && m.label == IMPORT) {
            assert!(pieces < 64, "flood={flood}: no import for the warm module\n{}", sim.notes());
            sim.serve_paused(0, 1);
            pieces += 1;
        }
        assert!(sim.m.rollback_under_way(), "flood={flood}: killed before the rollback");
        let mut c = config(policy(), 4);
        c.generation = 1;
        sim.restart_manager(c);
        sim.paused.clear();
        sim.pump();
        assert_eq!(sim.m.slot().serving(), 0, "flood={flood}: the restarted manager serves its incumbent\n{}", sim.notes());
        assert!(sim.m.seat_of_module(1).is_none() && !sim.m.rollback_under_way());
        assert!(control_answer(&mut sim, id).is_none(), "the operator's call died with the manager");
        // The catch-up's import it was given, then the adoption's (module 1, recorded as
        // serving, still runs: the restarted manager takes its state).
        assert_eq!(sim.imports.get(&0), Some(&2), "flood={flood}: the incumbent's imports\n{}", sim.notes());
        assert_adopted(&sim, 1, &format!("flood={flood}"));
        for _ in 0..10 {
            sums.send(&mut sim, 1);
        }
        sums.check(&sim, &format!("flood={flood}: after the restart mid-rollback"));
        assert_eq!(
            entry_kinds(&sim),
            [
                EventKind::Install,
                EventKind::Promote,
                EventKind::Rollback,
                EventKind::ManagerStarted { generation: 1, reloaded: 3, seats: 4 }
            ]
        );
        drop(sim);
        let (kinds, _) = rebooted_log(&store);
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        cases += 1;
    }
    assert_eq!(cases, 80);
}

/// A client's message reaches the modules only as a service request (`MESSAGE`): the seat
/// protocol's work labels from a client (`EXPORT`; `IMPORT` with a forged state) would
/// otherwise reach the serving module as the manager's work (it would hand out or replace
/// its state), and a module's own labels mean nothing from a client. Each is answered
/// `UnknownLabel`, as a module answers a label it does not know; no module sees it; the
/// client's next request is answered from the state it had.
#[test]
fn a_clients_seat_protocol_labels_never_reach_a_module() {
    use tileos_protocol::module::{EXPORT, IMPORT, IMPORTED};
    let mut sim = Sim::new(config(policy(), 4));
    sim.request(1, 5);
    sim.pump();
    let (work_before, state_before) = (sim.modules[&0].served, sim.modules[&0].state);
    for label in [EXPORT, IMPORT, READY, STATE, IMPORTED, 0x1a2, 0] {
        let id = sim.send_control(0x42, Access::Service, Message { label, words: vec![999] });
        sim.pump();
        assert_eq!(sim.take_reply(id), Some(Message::error(ProtocolError::UnknownLabel)), "label {label:#x}");
    }
    assert!(sim.imports.is_empty(), "a client's IMPORT reached a module: {:?}", sim.imports);
    assert_eq!((sim.modules[&0].served, sim.modules[&0].state), (work_before, state_before), "a module saw a client's non-request");
    sim.request(1, 7);
    sim.pump();
    assert_eq!(sim.answers[&(1, 1)], vec![Message { label: MESSAGE, words: vec![12] }]);
}

/// Client requests' messages are kept for reuse (`Manager::kept_message`): one is written
/// again only when nothing holds it any more. A challenger paused with more copies queued
/// than messages are kept, then answering them all, compares every copy with its own
/// request's answer (all agree), and every client gets the running sum, before and after
/// the kept messages are reused.
#[test]
fn kept_messages_are_never_rewritten_while_a_seat_still_holds_them() {
    let mut p = policy();
    p.min_agreeing = 1_000;
    let mut sim = Sim::new(config(p, 16));
    sim.install(&bundle(b"fast"));
    sim.pump();
    let seat = sim.m.seat_of_module(1).unwrap();
    let mut sums = RunningSums::default();
    sums.burst(&mut sim, &[(1, 1), (2, 2)]);
    sim.pump();
    sim.paused.insert(seat);
    for x in 0..12 {
        sums.burst(&mut sim, &[(1 + x % 3, 10 + x)]);
        sim.pump();
    }
    sim.serve_paused(seat, 20);
    sim.paused.clear();
    for x in 0..12 {
        sums.burst(&mut sim, &[(1 + x % 3, 100 + x)]);
        sim.pump();
    }
    for ((badge, seq), sum) in &sums.expected {
        assert_eq!(answer_value(&sim, *badge, *seq).words, vec![*sum], "request ({badge}, {seq})\n{}", sim.notes());
    }
    assert!(sim.not_answered_once().is_empty(), "{:?}", sim.not_answered_once());
    let view = sim.m.slot().module(1).unwrap();
    assert_eq!((view.evidence.agreeing, view.evidence.disagreeing, view.evidence.skipped), (26, 0, 0), "{}", sim.notes());
}

/// The promoted module faults with requests in flight while the warm module is behind:
/// its queue holds an export (for a module installed at the switch) ahead of the copies
/// of the earlier in-flight requests, and the last request, whose copy was skipped (the
/// queue full), is in its journal. At the rollback that request goes in request order,
/// behind the earlier ones, not ahead of the export (there it ran before them: found by a
/// `right_answers` soak, session 25).
#[test]
fn a_journaled_request_in_flight_at_a_rollback_runs_after_the_earlier_ones_queued_behind_an_export() {
    let mut p = policy();
    p.auto_promote = false;
    p.min_agreeing = 3;
    let mut c = config(p, 4);
    c.queue_limit = 5;
    let mut sim = Sim::new(c);
    let (mut badge, mut total, mut expected) = (100u64, 0u64, Vec::new());
    let mut send = |sim: &mut Sim, x: u64| {
        badge += 1;
        total += x;
        expected.push((badge, total));
        sim.request(badge, x);
        sim.pump();
    };
    // Module 1 times out while paused and is rejected: module 2 takes its seat.
    sim.install(&bundle(b"fast"));
    sim.paused.insert(1);
    for x in [1, 2, 3] {
        send(&mut sim, x);
    }
    sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Rollback));
    sim.pump();
    for _ in 0..2 {
        sim.advance(tileos_slot_manager::DEFERRED_BOUND + 1);
    }
    sim.install(&bundle(b"fast"));
    // Module 2 promoted by hand; the incumbent pauses with a request; module 3, installed
    // meanwhile, imports its state at the switch: an export queued at seat 0.
    sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Promote { module: 2, force: true }));
    sim.pump();
    sim.paused.insert(0);
    send(&mut sim, 4);
    sim.install(&bundle(b"fast"));
    sim.paused.remove(&1);
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 2, "{}", sim.notes());
    for x in [5, 6] {
        send(&mut sim, x);
    }
    // The promoted module pauses with four requests; the warm module's queue is full, so the
    // last one's copy is skipped into its journal; then the promoted module faults.
    sim.paused.insert(1);
    for x in [7, 8, 9, 10] {
        send(&mut sim, x);
    }
    assert_eq!(sim.m.journal_entries(), 1, "{}", sim.notes());
    sim.fault(1);
    sim.paused.clear();
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 0, "rolled back\n{}", sim.notes());
    assert!(sim.not_answered_once().is_empty(), "{:?}", sim.not_answered_once());
    for (badge, sum) in &expected {
        assert_eq!(sim.answers[&(*badge, 0)], [Message { label: MESSAGE, words: vec![*sum] }], "client {badge}\n{}", sim.notes());
    }
}

/// A promoted module that hangs without faulting (it takes its requests and answers none: a
/// loop, a wait for nothing) holds its clients only until the policy's
/// `breaker_unanswered`: at the first clock tick past it the manager stops its seat and the
/// circuit breaker rolls back as at a fault (`Trip::Unanswered`, persisted first). The warm
/// incumbent answers what the hung module held, rightly and once, and serves on.
#[test]
fn a_promoted_module_that_hangs_is_stopped_and_rolled_back_and_the_warm_module_answers_its_clients() {
    let store = TestStore::default();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    for x in 1..=3 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().serving(), 1);
    let seat = sim.m.seat_of_module(1).expect("the promoted module's seat");
    sim.modules.get_mut(&seat).expect("its module").behavior = Behavior::Silent;
    sim.request(1, 4);
    sim.pump();
    sim.request(2, 5);
    sim.pump();
    assert!(sim.answers[&(1, 3)].is_empty() && sim.answers[&(2, 0)].is_empty(), "held by the hung module\n{}", sim.notes());
    let stops = |sim: &Sim| {
        sim.world.borrow().supervisor.iter().filter(|r| matches!(r, SeatRequest::SeatStop { seat: s } if usize::from(*s) == seat)).count()
    };
    // At the bound (from the first request it held): not yet.
    sim.advance(1_000_000);
    assert_eq!(sim.m.slot().serving(), 1, "{}", sim.notes());
    assert_eq!(stops(&sim), 0);
    sim.advance(1);
    assert_eq!(sim.m.slot().serving(), 0, "rolled back\n{}", sim.notes());
    assert_eq!(stops(&sim), 1, "the hung module's seat stopped");
    let notes = sim.notes();
    assert!(notes.contains("@event slot.serving-hung slot=checksum module=1 request="), "{notes}");
    assert!(notes.contains("bound_ms=1000 then=rolled-back"), "{notes}");
    assert!(notes.contains("reason=CircuitBreaker(Unanswered"), "{notes}");
    assert_eq!(answer_value(&sim, 1, 3).words, vec![10], "1 + 2 + 3 + 4, from the warm module");
    assert_eq!(answer_value(&sim, 2, 0).words, vec![15]);
    sim.request(1, 6);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 4).words, vec![21], "the restored incumbent serves on");
    assert!(sim.not_answered_once().is_empty());
    drop(sim);
    rebooted_log_ends_in_breaker_rollback(&store, "Unanswered");
}

#[test]
fn a_settled_serving_module_that_hangs_is_stopped_and_restarted_as_at_a_fault() {
    let mut sim = Sim::new(config(SlotPolicy { restart_unanswered: Some(1_000_000), ..policy() }, 4));
    for x in 1..=2 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(answer_value(&sim, 1, 1).words, vec![3]);
    sim.modules.get_mut(&0).expect("the incumbent").behavior = Behavior::Silent;
    sim.request(1, 4);
    sim.pump();
    sim.request(2, 5);
    sim.pump();
    assert!(sim.answers[&(1, 2)].is_empty() && sim.answers[&(2, 0)].is_empty(), "held by the hung incumbent\n{}", sim.notes());
    let stops = |sim: &Sim| sim.world.borrow().supervisor.iter().filter(|r| matches!(r, SeatRequest::SeatStop { seat: 0 })).count();
    // At the bound (from the first request it held): not yet.
    sim.advance(1_000_000);
    assert_eq!(stops(&sim), 0, "{}", sim.notes());
    sim.advance(1);
    assert_eq!(stops(&sim), 1, "the hung incumbent's seat stopped\n{}", sim.notes());
    let notes = sim.notes();
    assert!(notes.contains("@event slot.serving-hung slot=checksum module=0 request="), "{notes}");
    assert!(notes.contains("bound_ms=1000 then=restarted"), "{notes}");
    assert!(sim.world.borrow().supervisor.iter().any(|r| matches!(r, SeatRequest::SeatStart { seat: 0, .. })), "restarted");
    // The request it hung on is answered `Failed` (asked again, it might hang again); the
    // other is asked again of the restarted module (its state is lost: a fresh sum).
    assert_eq!(answer_value(&sim, 1, 2), Message::error(ProtocolError::Failed));
    assert_eq!(answer_value(&sim, 2, 0).words, vec![5]);
    assert_eq!(sim.m.stats().failed, 1);
    // It serves on, and is not taken for hung again for the wait before its restart.
    sim.advance(2_000_000);
    sim.request(1, 6);
    sim.pump();
    assert_eq!(answer_value(&sim, 1, 3).words, vec![11]);
    assert_eq!(stops(&sim), 1);
    assert_eq!(sim.m.slot().serving(), 0);
    assert!(sim.not_answered_once().is_empty());
}

/// `Manager::next_deadline` (what the glue arms the timer domain for, docs/timer.md) is the
/// hung incumbent's bound, one microsecond past it: a tick a microsecond before it does
/// nothing, a tick at it, with no other message, stops and restarts the incumbent. Idle, or
/// once the restarted incumbent holds nothing, there is no deadline.
#[test]
fn the_next_deadline_is_a_hung_settled_modules_bound_and_a_tick_there_restarts_it() {
    let mut sim = Sim::new(config(SlotPolicy { restart_unanswered: Some(1_000_000), ..policy() }, 4));
    sim.request(1, 1);
    sim.pump();
    assert_eq!(sim.m.next_deadline(), None, "idle\n{}", sim.notes());
    sim.modules.get_mut(&0).expect("the incumbent").behavior = Behavior::Silent;
    let held_at = sim.time.get();
    sim.request(1, 4);
    sim.pump();
    let deadline = held_at + 1_000_000 + 1;
    assert_eq!(sim.m.next_deadline(), Some(deadline), "{}", sim.notes());
    let stops = |sim: &Sim| sim.world.borrow().supervisor.iter().filter(|r| matches!(r, SeatRequest::SeatStop { seat: 0 })).count();
    sim.time.set(deadline - 1);
    sim.m.tick();
    sim.pump();
    assert_eq!(stops(&sim), 0, "{}", sim.notes());
    sim.time.set(deadline);
    sim.m.tick();
    sim.pump();
    assert_eq!(stops(&sim), 1, "stopped at the deadline\n{}", sim.notes());
    assert!(sim.notes().contains("bound_ms=1000 then=restarted"), "{}", sim.notes());
    assert_eq!(answer_value(&sim, 1, 1), Message::error(ProtocolError::Failed));
    assert_eq!(sim.m.next_deadline(), None, "the restarted incumbent holds nothing\n{}", sim.notes());
}

// ---------------------------------------------------------------------------------------
// A restarted manager takes the state of the module that served last (`adopt`, session 29).

/// The manager restarted (generation `generation`) on the same store and root server.
fn restart_the_manager(sim: &mut Sim, generation: u64) {
    let mut c = config(policy(), 4);
    c.generation = generation;
    sim.restart_manager(c);
}

/// The restarted manager adopted seat `seat`'s state: the lines, in order, then the seat
/// stopped, the incumbent serving and recorded as the serving seat again once it answered.
fn assert_adopted(sim: &Sim, seat: usize, what: &str) {
    let notes = sim.notes();
    let began = notes.find(&format!("@event slot.state-adoption slot=checksum seat={seat}\n"));
    let done = notes.find(&format!("@event slot.state-adopted slot=checksum seat={seat} "));
    assert!(began.is_some() && done.is_some() && began < done, "{what}: no adoption of seat {seat}\n{notes}");
    assert!(!notes.contains("state-adoption-failed"), "{what}\n{notes}");
    assert_eq!(sim.m.slot().serving(), 0, "{what}");
    assert!(!sim.world.borrow().running.contains(&(seat as u8)), "{what}: seat {seat} runs on after its state was adopted");
}

/// The manager killed while a promoted module serves and the warm incumbent is behind (it
/// holds its first copy through the flood, or does one piece of work in three), the seats'
/// modules running on: the restarted manager reads the serving seat the root server
/// recorded (seat 1, before the promoted module's first delivered answer), has module 1
/// export its state into the incumbent before any client request reaches it, and stops
/// seat 1. Every answer, before and after the restart, is the running sum of every request,
/// each once. Before `adopt` the incumbent served with its own state: the sums after the
/// restart lacked every request it was behind by.
#[test]
fn a_manager_restarted_while_a_promoted_module_serves_adopts_its_state() {
    for (k, flood) in [(usize::MAX, 0), (usize::MAX, 5), (usize::MAX, 20), (usize::MAX, 60), (3, 60), (1, 20), (usize::MAX, 200)] {
        let what = format!("k={k} flood={flood}");
        let store = TestStore::default();
        let mut sim = Sim::with_store(config(policy(), 4), store.clone());
        let mut sums = Sums::default();
        promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, k, flood);
        // Recorded before the promoted module's first delivered answer (none with no flood:
        // the incumbent, warm, has every request then, and nothing is adopted).
        let recorded = if flood == 0 { 0 } else { 1 };
        assert_eq!(sim.world.borrow().serving_seat, recorded, "{what}: the serving seat recorded\n{}", sim.notes());
        restart_the_manager(&mut sim, 1);
        sim.paused.clear();
        sim.pump();
        for _ in 0..10 {
            sums.send(&mut sim, 1);
        }
        sums.check(&sim, &format!("{what}: after the restart"));
        if flood == 0 {
            assert!(!sim.notes().contains("state-adoption"), "{what}\n{}", sim.notes());
        } else {
            assert_adopted(&sim, 1, &what);
        }
        assert_eq!(sim.world.borrow().serving_seat, 0, "{what}: the incumbent is recorded once it answered");
        assert_eq!(
            entry_kinds(&sim),
            [EventKind::Install, EventKind::Promote, EventKind::ManagerStarted { generation: 1, reloaded: 2, seats: 4 }],
            "{what}"
        );
        let note = UpdateEvent::decode(sim.m.log().entry(2).unwrap()).unwrap().note;
        let adopted = note.ends_with("the incumbent serves with the state of the module that served last (seat 1)");
        assert_eq!(adopted, flood > 0, "{what}: {note}");
    }
}

/// After the rollback window closed (module 1 settled, the old incumbent retired and
/// parked in seat 0), the root server holds seat 1 recorded as serving *settled*: a
/// restarted manager keeps module 1 serving in its seat with its own state, as module 0
/// named by the log's promotion, and stops seat 0 (before "keep", it reverted to the
/// incumbent with module 1's state adopted: the tile ran the old version again). A second
/// restart keeps it again. Its program was saved on the store when it settled, so a fault
/// rebuilds it in its seat. Then, with no program on the store, a third restart keeps it
/// without one, and its fault brings the incumbent back in seat 0, afresh, and the log
/// says so (a `Rollback` entry); a fourth restart finds seat 0 recorded and keeps the
/// incumbent.
#[test]
fn a_manager_restarted_after_the_window_closed_keeps_the_settled_module_serving() {
    let mut sim = Sim::new(config(policy(), 4));
    let mut sums = Sums::default();
    promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, usize::MAX, 30);
    sim.paused.clear();
    sim.advance(policy().rollback_window + 1);
    assert_eq!(state_of(&sim, 1), Some(State::Settled));
    for _ in 0..5 {
        sums.send(&mut sim, 1);
    }
    assert_eq!((sim.world.borrow().serving_seat, sim.world.borrow().serving_settled), (1, true), "{}", sim.notes());
    let promote = UpdateEvent::decode(sim.m.log().entry(1).unwrap()).unwrap();
    assert_eq!(promote.kind, EventKind::Promote);
    for generation in 1..=2u64 {
        let what = format!("restart {generation}");
        let lines = sim.world.borrow().notes.len();
        restart_the_manager(&mut sim, generation);
        sim.pump();
        for _ in 0..5 {
            sums.send(&mut sim, 1);
        }
        sums.check(&sim, &what);
        let notes = sim.world.borrow().notes[lines..].join("\n");
        assert!(notes.contains("@event slot.serving-kept slot=checksum seat=1 "), "{what}\n{notes}");
        assert!(!notes.contains("state-adoption"), "{what}\n{notes}");
        assert_eq!(sim.m.seat_of_module(0), Some(1), "{what}: module 0 is seat 1's");
        assert!(sim.world.borrow().running.contains(&1), "{what}");
        assert!(!sim.world.borrow().running.contains(&0), "{what}: the retired incumbent's seat runs on");
        let started = UpdateEvent::decode(sim.m.log().entry(sim.m.log().size() - 1).unwrap()).unwrap();
        assert!(matches!(started.kind, EventKind::ManagerStarted { generation: g, .. } if g == generation), "{what}");
        assert_eq!((&started.module, &started.version, started.content_hash), (&promote.module, &promote.version, promote.content_hash));
        assert!(started.note.ends_with("settled, serves on in seat 1 with its own state"), "{what}: {}", started.note);
        let module0 = status(&mut sim).modules.iter().find(|m| m.module == 0).map(|m| m.name.to_string());
        assert_eq!(module0.as_deref(), Some(promote.module.as_str()), "{what}: the status names the kept module");
    }
    // Its program was saved on the store when it settled: a fault of the kept module
    // rebuilds it in its seat (its state fresh, as at any settled module's fault).
    assert!(sim.notes().contains("@event slot.program-saved slot=checksum module=1 bytes=4"), "{}", sim.notes());
    let size = sim.m.log().size();
    sim.fault(1);
    sim.pump();
    assert!(!sim.notes().contains("kept-module-lost"), "{}", sim.notes());
    assert_eq!(sim.m.seat_of_module(0), Some(1));
    assert!(sim.world.borrow().running.contains(&1) && !sim.world.borrow().running.contains(&0));
    assert_eq!(sim.m.log().size(), size, "no entry: the same module serves");
    sums.sum = 0;
    for _ in 0..5 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "after the kept module's rebuild");
    // A store that holds no program (it refused the save, say): a restart keeps the module
    // without it, and its fault brings the incumbent back, its state fresh.
    *sim.store.program.borrow_mut() = None;
    restart_the_manager(&mut sim, 3);
    sim.pump();
    assert!(sim.notes().contains("the kept module's program is not held (no program is saved)"), "{}", sim.notes());
    for _ in 0..5 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "after the third restart");
    let size = sim.m.log().size();
    sim.fault(1);
    sim.pump();
    assert!(sim.notes().contains("@event slot.kept-module-lost slot=checksum seat=1 "), "{}", sim.notes());
    assert_eq!(sim.m.seat_of_module(0), Some(0));
    assert!(sim.world.borrow().running.contains(&0));
    let lost = UpdateEvent::decode(sim.m.log().entry(size).unwrap()).unwrap();
    assert_eq!((lost.kind, &lost.module), (EventKind::Rollback, &promote.module), "{}", lost.note);
    sums.sum = 0;
    for _ in 0..5 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "after the kept module's loss");
    assert_eq!((sim.world.borrow().serving_seat, sim.world.borrow().serving_settled), (0, true));
    // The log's last word is the incumbent: a fourth restart serves it, in seat 0.
    let lines = sim.world.borrow().notes.len();
    restart_the_manager(&mut sim, 4);
    sim.pump();
    for _ in 0..5 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "after the fourth restart");
    let notes = sim.world.borrow().notes[lines..].join("\n");
    assert!(!notes.contains("serving-kept") && !notes.contains("state-adoption"), "{notes}");
    let started = UpdateEvent::decode(sim.m.log().entry(sim.m.log().size() - 1).unwrap()).unwrap();
    assert!(started.note.ends_with("the incumbent serves"), "{}", started.note);
    assert_eq!(started.version, "");
}

/// After a restart that kept the settled module serving (seat 1), a new challenger is
/// installed (never into seat 0, the incumbent's), promoted by hand with the kept module
/// warm, and rolled back to it: every answer is the running sum, the kept module serves
/// again in seat 1, and a second restart keeps it again, named by the log's promotion still
/// standing (the new challenger's promotion and rollback cancel out).
#[test]
fn a_kept_module_is_warm_for_a_new_promotion_and_serves_again_after_its_rollback() {
    let mut sim = Sim::new(config(policy(), 4));
    let mut sums = Sums::default();
    promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, usize::MAX, 10);
    sim.paused.clear();
    sim.advance(policy().rollback_window + 1);
    for _ in 0..3 {
        sums.send(&mut sim, 1);
    }
    let promote = UpdateEvent::decode(sim.m.log().entry(1).unwrap()).unwrap();
    restart_the_manager(&mut sim, 1);
    sim.pump();
    assert_eq!(sim.m.seat_of_module(0), Some(1));
    assert_eq!(sim.install(&bundle(b"fast2")), Response::Installed { module: 1 });
    sim.pump();
    let seat = sim.m.seat_of_module(1).unwrap();
    assert!(seat > 1, "installed into seat {seat}");
    for _ in 0..6 {
        sums.send(&mut sim, 1);
    }
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    sim.pump();
    for _ in 0..6 {
        sums.send(&mut sim, 1);
    }
    assert_eq!(sim.m.slot().warm().and_then(|w| sim.m.seat_of_module(w)), Some(1), "the kept module is warm");
    assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });
    sim.pump();
    for _ in 0..6 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "rolled back to the kept module");
    assert_eq!(sim.m.seat_of_module(0), Some(1));
    assert_eq!((sim.world.borrow().serving_seat, sim.world.borrow().serving_settled), (1, true));
    let lines = sim.world.borrow().notes.len();
    restart_the_manager(&mut sim, 2);
    sim.pump();
    for _ in 0..3 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "after the second restart");
    let notes = sim.world.borrow().notes[lines..].join("\n");
    assert!(notes.contains("@event slot.serving-kept slot=checksum seat=1 "), "{notes}");
    let started = UpdateEvent::decode(sim.m.log().entry(sim.m.log().size() - 1).unwrap()).unwrap();
    assert_eq!((&started.module, started.content_hash), (&promote.module, promote.content_hash), "{}", started.note);
}

/// A restart between a rollback by hand's entry and its catch-up (the deferred steps held,
/// so neither has run), and one after the rollback (the restored incumbent answered, so it
/// is the recorded seat: nothing to adopt; its state holds every request).
#[test]
fn a_manager_restarted_before_a_rollbacks_catch_up_or_after_the_rollback_loses_nothing() {
    // Before the catch-up.
    let mut sim = Sim::new(config(policy(), 4));
    let mut sums = Sums::default();
    promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, usize::MAX, 40);
    sim.hold_steps = true;
    rollback_by_hand(&mut sim);
    sim.pump();
    assert!(sim.m.rollback_under_way() && sim.m.slot().serving() == 1, "{}", sim.notes());
    sim.hold_steps = false;
    restart_the_manager(&mut sim, 1);
    sim.paused.clear();
    sim.pump();
    for _ in 0..10 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "restarted before the catch-up");
    assert_adopted(&sim, 1, "before the catch-up");

    // After the rollback.
    let mut sim = Sim::new(config(policy(), 4));
    let mut sums = Sums::default();
    promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, usize::MAX, 40);
    sim.paused.clear();
    let id = rollback_by_hand(&mut sim);
    sim.pump();
    assert_eq!(control_answer(&mut sim, id), Some(Response::RolledBack { module: 0 }), "{}", sim.notes());
    sums.send(&mut sim, 1);
    assert_eq!(sim.world.borrow().serving_seat, 0, "the restored incumbent answered: recorded");
    restart_the_manager(&mut sim, 1);
    sim.pump();
    for _ in 0..10 {
        sums.send(&mut sim, 1);
    }
    assert!(!sim.notes().contains("state-adoption"), "{}", sim.notes());
    sums.check(&sim, "restarted after the rollback");
}

/// The adoption attacked from its source: the module that served last faults before it
/// exports, or never exports (paused past `ADOPTION_DEADLINE`). Each time the adoption
/// ends with a `state-adoption-failed` line naming why, seat 1 is stopped, and the
/// incumbent serves with the state it has: every request sent meanwhile is answered once
/// (its sums lack what it was behind by: the loss is a double failure's) and the manager
/// keeps serving.
#[test]
fn an_adoption_whose_source_faults_or_hangs_ends_and_the_incumbent_serves() {
    for hang in [false, true] {
        let mut sim = Sim::new(config(policy(), 4));
        let mut sums = Sums::default();
        promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, usize::MAX, 20);
        sim.paused.clear();
        sim.paused.insert(1);
        restart_the_manager(&mut sim, 1);
        sim.pump();
        assert!(sim.notes().contains("@event slot.state-adoption slot=checksum seat=1\n"), "{}", sim.notes());
        let answers = |sim: &Sim| sim.answers.values().map(Vec::len).sum::<usize>();
        let before = answers(&sim);
        sim.request(1, 1);
        sim.pump();
        assert_eq!(answers(&sim), before, "hang={hang}: a client is answered before the incumbent has the state");
        if hang {
            sim.advance(tileos_slot_manager::ADOPTION_DEADLINE + 1);
        } else {
            sim.fault(1);
        }
        let why = if hang { "did not export its state, or the incumbent did not import it, within 1 s" } else { "faulted before" };
        let failed = sim
            .world
            .borrow()
            .notes
            .iter()
            .any(|n| n.contains("@event slot.state-adoption-failed slot=checksum seat=1 ") && n.contains(why));
        assert!(failed, "hang={hang}\n{}", sim.notes());
        for x in 0..5 {
            sim.request(1, x);
            sim.pump();
        }
        assert!(sim.not_answered_once().is_empty(), "hang={hang}: {:?}\n{}", sim.not_answered_once(), sim.notes());
        assert!(!sim.world.borrow().running.contains(&1), "hang={hang}: seat 1 stopped");
        assert_eq!(sim.m.slot().serving(), 0);
    }
}

/// The adoption refused by the incumbent (its import answered `UnknownVersion`, as boot test
/// `slot_adoption_failed`'s `checksum-adopt-unknown` makes it): the adoption ends with a
/// `state-adoption-failed` line naming the refusal, seat 1 is stopped, and the incumbent
/// serves on with the state it has, its seat not restarted: every request sent afterwards is
/// answered once, as the sum of that state and the request. Before session 30 the refusal
/// was also taken for the incumbent's fault: its seat was restarted and it served with no
/// state at all.
#[test]
fn an_adoption_the_incumbent_refuses_ends_and_the_incumbent_serves_on_with_its_own_state() {
    let mut sim = Sim::new(config(policy(), 4));
    let mut sums = Sums::default();
    promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, 2, 20);
    sim.paused.clear();
    sim.pump();
    sim.modules.get_mut(&0).expect("the incumbent").behavior = Behavior::RefuseImport;
    let generation = sim.modules[&0].generation;
    restart_the_manager(&mut sim, 1);
    sim.pump();
    let notes = sim.notes();
    let began = notes.find("@event slot.state-adoption slot=checksum seat=1\n");
    let failed = notes.find("@event slot.state-adoption-failed slot=checksum seat=1 why=\"the incumbent refused the state: ");
    assert!(began.is_some() && failed.is_some() && began < failed, "{notes}");
    assert!(!notes.contains("state-adopted"), "{notes}");
    assert!(!notes.contains("seat-fault slot=checksum seat=0"), "the incumbent taken for faulted\n{notes}");
    assert_eq!(sim.modules.get(&0).map(|m| m.generation), Some(generation), "the incumbent's seat restarted\n{notes}");
    assert!(!sim.world.borrow().running.contains(&1), "seat 1 stopped");
    let own = sim.modules[&0].state;
    assert!(own > 0, "the incumbent has a state of its own");
    for x in [1000, 2000] {
        let seq = sim.sent.get(&1).copied().unwrap_or(0);
        sim.request(1, x);
        sim.pump();
        let want = own + x + if x == 2000 { 1000 } else { 0 };
        assert_eq!(answer_value(&sim, 1, seq).words, vec![want], "the incumbent's own state and the request\n{}", sim.notes());
    }
    assert!(sim.not_answered_once().is_empty(), "{:?}\n{}", sim.not_answered_once(), sim.notes());
    assert_eq!(sim.m.slot().serving(), 0);
}

/// The manager killed again during the adoption (seat 1 asked for its export): the third
/// manager finds seat 1 still recorded and running and adopts its state; and an incumbent
/// that ran no module at the restart is started afresh and imports it.
#[test]
fn a_restart_during_an_adoption_or_with_no_incumbent_running_adopts_the_state_again() {
    let mut sim = Sim::new(config(policy(), 4));
    let mut sums = Sums::default();
    promoted_with_the_warm_module_behind(&mut sim, &mut sums, 1, usize::MAX, 30);
    sim.paused.clear();
    sim.paused.insert(1);
    restart_the_manager(&mut sim, 1);
    sim.pump();
    assert!(sim.notes().contains("@event slot.state-adoption slot=checksum seat=1\n"), "{}", sim.notes());
    sim.paused.clear();
    // Killed before seat 1's export arrived; seat 0 runs no module either by then.
    sim.modules.remove(&0);
    sim.work.retain(|(s, _, _)| *s != 0);
    sim.world.borrow_mut().running.remove(&0);
    restart_the_manager(&mut sim, 2);
    sim.pump();
    assert!(sim.notes().contains("@event slot.incumbent-started slot=checksum seat=0"), "{}", sim.notes());
    for _ in 0..10 {
        sums.send(&mut sim, 1);
    }
    sums.check(&sim, "after two restarts");
    assert_adopted(&sim, 1, "second restart");
}

/// While a breaker's rollback entry waits for the store, nothing is logged after it: an
/// install is refused with the store's reason (the log keeps the events' order); once the
/// store is back the kept entry is persisted first, then the install's.
#[test]
fn an_entry_kept_for_the_store_keeps_later_entries_behind_it() {
    let store = TestStore::default();
    let mut sim = Sim::with_store(config(policy(), 4), store.clone());
    sim.install(&bundle(b"wrong"));
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    store.fail.set(true);
    sim.request(1, 7);
    sim.pump();
    assert_eq!(sim.m.slot().serving(), 0, "rolled back\n{}", sim.notes());
    match sim.install(&bundle(b"fast")) {
        Response::Refused(refusal) => {
            assert_eq!(refusal.kind, RefusalKind::Store, "{refusal:?}");
            assert!(refusal.reason.contains("1 earlier entries wait to be persisted: the store is unavailable"), "{refusal:?}");
        }
        other => panic!("installed with an earlier entry unpersisted: {other:?}\n{}", sim.notes()),
    }
    assert_eq!(entry_kinds(&sim), [EventKind::Install, EventKind::Promote]);
    store.fail.set(false);
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 2 }, "{}", sim.notes());
    assert_eq!(
        entry_kinds(&sim),
        [EventKind::Install, EventKind::Promote, EventKind::Rollback, EventKind::Install],
        "the kept entry first\n{}",
        sim.notes()
    );
    assert_eq!((sim.m.stats().log_failures, sim.m.stats().log_retries_failed), (0, 1));
    assert!(sim.not_answered_once().is_empty());
}

/// Entries kept for a store that refuses everything are bounded: an N-version slot whose
/// fallback dissents too (program "wrong", every request a multiple of 7) replaces a
/// lineage every third request, each replacement an entry the store refuses. Past
/// `MAX_UNLOGGED` kept entries the oldest is dropped, said and counted; the rest are
/// persisted, in order, once the store is back.
#[test]
fn past_max_unlogged_kept_entries_the_oldest_is_dropped_and_counted() {
    let store = TestStore::default();
    store.fail.set(true);
    let mut c = config(policy(), 4);
    c.n_version = Some(n_version(2));
    let mut sim = Sim::with_store(c, store.clone());
    sim.world.borrow_mut().fallback_program = Some(b"wrong".to_vec());
    sim.wrong_lineage = Some(1);
    let replacements = |sim: &Sim| sim.notes().matches("@event slot.lineage-replaced ").count();
    for _ in 0..10 * MAX_UNLOGGED {
        if replacements(&sim) > MAX_UNLOGGED {
            break;
        }
        sim.request(1, 7);
        sim.pump();
    }
    assert_eq!(replacements(&sim), MAX_UNLOGGED + 1, "{}", sim.notes());
    assert_eq!(sim.m.stats().log_failures, 1, "{}", sim.notes());
    assert_eq!(sim.notes().matches("update log entry dropped unpersisted (lineage-replaced ").count(), 1, "{}", sim.notes());
    assert_eq!(sim.m.log().size(), 0);
    store.fail.set(false);
    sim.advance(LOG_RETRY_INTERVAL);
    assert_eq!(sim.m.log().size(), MAX_UNLOGGED as u64, "the kept ones persisted\n{}", sim.notes());
    let dissents: Vec<u32> = store
        .entries
        .borrow()
        .iter()
        .map(|e| match UpdateEvent::decode(e).unwrap().kind {
            EventKind::LineageReplaced { dissents, .. } => dissents,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(dissents.len(), MAX_UNLOGGED);
    assert!(sim.not_answered_once().is_empty());
}
