//! The install after its commit is a job done in bounded steps between the clients'
//! requests (docs/slots.md, "Installs"): clients are answered while a bundle is verified and
//! staged, the commit's caller only at the end; a second install is refused `Busy`; a
//! promotion or rollback during the job is carried out, and the install's slot checks are
//! made again when it starts its module.

mod common;

use common::*;
use tileos_protocol::decode;
use tileos_protocol::slots::{RefusalKind, Request, Response};
use tileos_protocol::supervisor::Request as SeatRequest;
use tileos_slot_manager::{Access, INSTALL_CHUNKS_PER_STEP, INSTALL_HASH_STEP, Message};
use tileos_slots::State;
use tileos_update_log::{EventKind, UpdateEvent};

/// A payload of about 100 KiB that the fake modules run as a correct module (any bytes but
/// the named behaviours are `Correct`), like checksum-big.
fn big_payload() -> Vec<u8> {
    let mut payload = b"big".to_vec();
    payload.extend((0..100 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    payload
}

/// What one install step did.
#[derive(Debug, Default)]
struct Step {
    /// Root-server calls it made.
    seat_calls: usize,
}

/// Runs the install under way to its end, one step at a time; before every step a client
/// request (client 1, the value its index) is sent and must be answered before the step
/// runs (the glue steps only when no message waits). Returns the steps and the commit's
/// answer (`commit`: its reply capability).
fn run_with_clients(sim: &mut Sim, commit: u64) -> (Vec<Step>, Response) {
    let mut steps = Vec::new();
    loop {
        if let Some(reply) = sim.take_reply(commit) {
            sim.pump();
            return (steps, decode::<Response>(reply.label, &reply.words).expect("a control response"));
        }
        assert!(sim.m.install_pending(), "the commit was neither answered nor under way");
        let seq = sim.sent.get(&1).copied().unwrap_or(0);
        sim.request(1, seq);
        sim.pump();
        assert_eq!(sim.answers[&(1, seq)].len(), 1, "request {seq} not answered before install step {}", steps.len());
        let calls_before = sim.world.borrow().supervisor.len();
        sim.m.install_step();
        steps.push(Step { seat_calls: sim.world.borrow().supervisor.len() - calls_before });
        assert!(steps.len() < 10_000, "an install that never ends");
    }
}

fn last_entry(sim: &mut Sim) -> UpdateEvent {
    let size = sim.m.log().size();
    match sim.control(Access::Read, &Request::LogEntry { index: size - 1 }) {
        Response::Entry { bytes } => UpdateEvent::decode(&bytes).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_100_kib_install_is_done_in_bounded_steps_while_clients_are_served() {
    let mut sim = Sim::new(config(policy(), 4));
    let payload = big_payload();
    let bundle = bundle(&payload);
    let commit = sim.stage_and_commit(&bundle);
    assert!(sim.m.install_pending());
    let (steps, response) = run_with_clients(&mut sim, commit);
    assert_eq!(response, Response::Installed { module: 1 }, "{}", sim.notes());
    // The signatures are the verifier domain's (no manager step: it ran in the pump after
    // the first client request); then the manifest, the hash in INSTALL_HASH_STEP pieces,
    // the manifest's checks and the seat (a step of their own since slots37), the staging in
    // INSTALL_CHUNKS_PER_STEP calls (SeatLoad the first), the start in the root server's
    // pieces (SeatBegin, then a SeatContinue a step: the Sim's build takes two), the entry
    // and the module's READY (kept meanwhile), each a step of its own since slots37.
    let hash_steps = payload.len().div_ceil(INSTALL_HASH_STEP);
    let seat_chunks = payload.len().div_ceil(tileos_protocol::supervisor::SEAT_CHUNK);
    let staging_steps = (seat_chunks + 1).div_ceil(INSTALL_CHUNKS_PER_STEP);
    let pieces = 1 + sim.world.borrow().build_pieces as usize;
    assert_eq!(steps.len(), 1 + hash_steps + 1 + staging_steps + pieces + 2, "{steps:?}");
    let starts: Vec<_> = sim
        .world
        .borrow()
        .supervisor
        .iter()
        .filter(|r| matches!(r, SeatRequest::SeatBegin { .. } | SeatRequest::SeatContinue { .. }))
        .cloned()
        .collect();
    assert_eq!(starts.len(), pieces, "a piece a step: {starts:?}");
    assert!(steps[steps.len() - 2 - pieces..steps.len() - 2].iter().all(|s| s.seat_calls >= 1), "{steps:?}");
    assert!(sim.notes().contains("verdict=Verified"), "{}", sim.notes());
    // No step makes more than INSTALL_CHUNKS_PER_STEP root-server calls but the last (the
    // start, the new module's schedule).
    assert!(steps[..steps.len() - 1].iter().all(|s| s.seat_calls <= INSTALL_CHUNKS_PER_STEP), "{steps:?}");
    assert_eq!(sim.world.borrow().started_staged[&1], payload, "the ELF staged whole, in order");
    assert_eq!(sim.m.slot().module(1).map(|m| m.state), Some(State::Shadowing), "{}", sim.notes());
    clients_answered_right(&sim);
    // A client request for every step, each answered before the next step.
    assert_eq!(sim.sent[&1] as usize, steps.len());
    assert_eq!(last_entry(&mut sim).kind, EventKind::Install);
}

#[test]
fn a_bundle_tampered_in_its_last_chunk_is_refused_only_once_the_hash_is_done_and_clients_are_served_throughout() {
    let mut sim = Sim::new(config(policy(), 4));
    let payload = big_payload();
    let mut bundle = bundle(&payload);
    let last = bundle.len() - 1;
    bundle[last] ^= 0x01;
    let commit = sim.stage_and_commit(&bundle);
    let (steps, response) = run_with_clients(&mut sim, commit);
    assert_eq!(refusal(response), (RefusalKind::Bundle, "bundle refused: payload hash differs from the manifest".to_string()));
    // The signatures (the verifier's), the manifest and every hash step ran; then the
    // refused bundle's own hash for its log entry, in steps too.
    let hash_steps = payload.len().div_ceil(INSTALL_HASH_STEP);
    assert_eq!(steps.len(), 1 + hash_steps + bundle.len().div_ceil(INSTALL_HASH_STEP), "{steps:?}");
    assert!(steps.iter().all(|s| s.seat_calls == 0), "nothing staged: {steps:?}");
    assert!(!sim.world.borrow().supervisor.iter().any(|r| matches!(r, SeatRequest::SeatLoad { .. })));
    clients_answered_right(&sim);
    let entry = last_entry(&mut sim);
    assert_eq!(entry.kind, EventKind::Install);
    assert!(entry.note.starts_with("refused (Bundle): bundle refused: payload hash differs"), "{}", entry.note);
    assert_eq!(entry.content_hash, tileos_module_bundle::content_hash(&bundle), "the refused bundle's hash, as before");
    // The slot takes the right bundle afterwards.
    assert_eq!(sim.install(&common::bundle(&payload)), Response::Installed { module: 1 });
}

#[test]
fn every_refusal_a_bundle_can_earn_still_comes_with_its_reason() {
    let mut sim = Sim::new(config(policy(), 4));
    let good = bundle(b"fast");
    let mut bad_magic = good.clone();
    bad_magic[0] ^= 0xff;
    let mut bad_ed = good.clone();
    bad_ed[tileos_module_bundle::HEADER_LEN + 1] ^= 0x01;
    let mut bad_ml = good.clone();
    bad_ml[tileos_module_bundle::HEADER_LEN + 64 + 9] ^= 0x01;
    let untrusted = bundle_with(&tileos_module_bundle::dev_keys::untrusted_signer(), b"fast", vec![]);
    for (bytes, reason) in [
        (bad_magic, "bundle refused: not a module bundle (bad magic)"),
        (bad_ed, "bundle refused: Ed25519 signature does not verify"),
        (bad_ml, "bundle refused: ML-DSA-65 signature does not verify"),
        (untrusted, "bundle refused: bundle signed by an untrusted key pair"),
    ] {
        assert_eq!(refusal(sim.install(&bytes)), (RefusalKind::Bundle, reason.to_string()));
        assert!(!sim.m.install_pending());
    }
    assert_eq!(sim.install(&good), Response::Installed { module: 1 });
}

#[test]
fn a_second_install_during_the_first_is_refused_busy_and_the_first_completes() {
    let mut sim = Sim::new(config(policy(), 4));
    let first = bundle(&big_payload());
    let commit = sim.stage_and_commit(&first);
    for _ in 0..3 {
        sim.m.install_step();
    }
    assert!(sim.m.install_pending());
    for request in [
        Request::InstallBegin { length: 100 },
        Request::InstallChunk { offset: 0, bytes: heapless::Vec::from_slice(&[1, 2, 3]).unwrap() },
        Request::InstallCommit,
    ] {
        let (kind, reason) = refusal(sim.control(Access::Full, &request));
        assert_eq!(kind, RefusalKind::Busy, "{request:?}: {reason}");
    }
    // A reader still may not install, busy or not; and status is answered at once.
    assert_eq!(refusal(sim.control(Access::Read, &Request::InstallCommit)).0, RefusalKind::NotAllowed);
    assert!(matches!(sim.control(Access::Read, &Request::Status), Response::Status(_)));
    let (_, response) = run_with_clients(&mut sim, commit);
    assert_eq!(response, Response::Installed { module: 1 });
    // Nothing of the refused requests stuck: the next install stages from scratch.
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 2 });
}

/// A slot with challenger 1 (checksum-fast) shadowing on enough evidence to be promoted.
fn with_promotable_challenger() -> Sim {
    let mut sim = Sim::new(config(policy(), 4));
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    for x in 0..6 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().module(1).map(|m| m.state), Some(State::Promotable));
    sim
}

#[test]
fn a_promotion_during_an_install_is_carried_out_and_the_install_is_then_refused_for_the_window() {
    let mut sim = with_promotable_challenger();
    let commit = sim.stage_and_commit(&bundle(&big_payload()));
    // Mid-hash, by hand.
    for _ in 0..5 {
        sim.m.install_step();
    }
    assert!(sim.m.install_pending());
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    assert_eq!(sim.m.slot().serving(), 1);
    let (steps, response) = run_with_clients(&mut sim, commit);
    let (kind, reason) = refusal(response);
    assert_eq!(kind, RefusalKind::Policy);
    assert!(reason.starts_with("install refused: RollbackWindowOpen"), "{reason}");
    // Refused when its verification ended (the early check): nothing staged.
    assert!(steps.iter().all(|s| s.seat_calls <= 1), "at most a schedule: {steps:?}");
    assert!(
        !sim.world
            .borrow()
            .supervisor
            .iter()
            .any(|r| matches!(r, SeatRequest::SeatLoad { seat: 2, .. } | SeatRequest::SeatChunk { seat: 2, .. }))
    );
    // The promoted module served every request meanwhile (its answers the right sums).
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_promotion_while_the_elf_is_staged_refuses_the_install_at_its_start() {
    let mut sim = with_promotable_challenger();
    let commit = sim.stage_and_commit(&bundle(&big_payload()));
    // Past the verification, into the staging.
    while !sim.world.borrow().supervisor.iter().any(|r| matches!(r, SeatRequest::SeatLoad { .. })) {
        sim.m.install_step();
    }
    assert!(sim.m.install_pending());
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    let (_, response) = run_with_clients(&mut sim, commit);
    let (kind, reason) = refusal(response);
    assert_eq!(kind, RefusalKind::Policy);
    assert!(reason.starts_with("install refused: RollbackWindowOpen"), "{reason}");
    assert!(!sim.world.borrow().supervisor.iter().any(|r| matches!(r, SeatRequest::SeatStart { seat: 2, .. })), "never started");
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_rollback_during_an_install_is_carried_out_and_the_install_then_goes_ahead() {
    let mut sim = with_promotable_challenger();
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    // The window is open at the commit; closed by the rollback before the verification ends.
    let commit = sim.stage_and_commit(&bundle(&big_payload()));
    sim.m.install_step();
    assert_eq!(sim.control(Access::Full, &Request::Rollback), Response::RolledBack { module: 0 });
    let (_, response) = run_with_clients(&mut sim, commit);
    assert_eq!(response, Response::Installed { module: 2 }, "{}", sim.notes());
    assert_eq!(sim.m.slot().serving(), 0);
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn the_serving_module_rebuilt_during_an_install_s_staging_makes_it_stage_again_and_install() {
    // Module 1 promoted and settled (its window closed): the serving module runs a staged
    // program, so its rebuild after a fault stages again at once (one staging per slot in
    // the root server).
    let mut sim = with_promotable_challenger();
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    sim.advance(10_000_001);
    sim.request(1, 100);
    sim.pump();
    assert_eq!(sim.m.slot().warm(), None, "the window closed: {}", sim.notes());
    let payload = big_payload();
    let commit = sim.stage_and_commit(&bundle(&payload));
    // Into the staging, a few chunks in.
    let mut steps = 0;
    while !matches!(&sim.world.borrow().staging, Some((_, _, bytes)) if bytes.len() >= 2 * tileos_protocol::supervisor::SEAT_CHUNK) {
        assert!(sim.m.install_pending(), "the install ended before its staging: {:?}\n{}", sim.take_reply(commit), sim.notes());
        if sim.m.install_steppable() {
            sim.m.install_step();
        } else {
            // The verifier's part: it runs when the manager waits.
            sim.pump();
            assert!(sim.m.install_steppable() || sim.verifier_turn(), "an install waiting for a verifier with nothing to do");
        }
        steps += 1;
        assert!(steps < 10_000, "the install never staged two chunks:\n{}", sim.notes());
    }
    let installing = sim.world.borrow().staging.as_ref().map(|(seat, ..)| *seat).unwrap();
    let serving = sim.m.seat_of_module(1).unwrap();
    sim.fault(serving);
    sim.pump();
    assert!(
        sim.world.borrow().staging.is_none(),
        "the serving module's rebuild took the root server's staging (and consumed it at its start)"
    );
    assert!(sim.notes().contains(&format!("the install into seat {installing} stages again")), "{}", sim.notes());
    let (_, response) = run_with_clients(&mut sim, commit);
    assert_eq!(response, Response::Installed { module: 2 }, "{}", sim.notes());
    assert_eq!(sim.world.borrow().started_staged[&installing], payload, "the ELF staged whole, in order");
    assert!(sim.not_answered_once().is_empty());
}

/// Steps the install `commit` until its module has started (its entry is the next step),
/// pumping as the glue would (the module's READY arrives then); the module's seat.
fn until_started(sim: &mut Sim, commit: u64) -> usize {
    steps_until(sim, "entry");
    assert!(sim.take_reply(commit).is_none(), "answered before its start:\n{}", sim.notes());
    sim.pump();
    usize::from(sim.world.borrow().started_staged.keys().copied().max().expect("a staged start"))
}

#[test]
fn the_installed_module_s_ready_waits_for_its_entry_which_is_a_step_of_its_own() {
    let mut sim = Sim::new(config(policy(), 4));
    let commit = sim.stage_and_commit(&bundle(&big_payload()));
    let entries = sim.m.log().size();
    let seat = until_started(&mut sim, commit);
    // The module runs and has called READY (pumped): kept, nothing logged or answered yet.
    assert_eq!(sim.m.install_phase(), Some("entry"), "{}", sim.notes());
    assert_eq!(sim.m.log().size(), entries);
    assert_eq!(sim.m.seat_of_module(1), None, "not a module of the slot before its entry");
    assert!(sim.take_reply(commit).is_none());
    // A client is served meanwhile.
    sim.request(1, 0);
    sim.pump();
    assert_eq!(sim.answers[&(1, 0)].len(), 1);
    // The entry's step: persisted, the module installed; its READY at the next step.
    sim.m.install_step();
    assert_eq!(last_entry(&mut sim).kind, EventKind::Install);
    assert_eq!(sim.m.seat_of_module(1), Some(seat));
    assert_eq!(sim.m.install_phase(), Some("ready"));
    assert!(sim.take_reply(commit).is_none());
    sim.m.install_step();
    assert!(!sim.m.install_pending());
    let reply = sim.take_reply(commit).expect("answered at the READY's step");
    assert_eq!(decode::<Response>(reply.label, &reply.words).unwrap(), Response::Installed { module: 1 });
    // Its READY was handled as on arrival: it imports the state and shadows.
    for seq in 1..5 {
        sim.request(1, seq);
        sim.pump();
    }
    assert_eq!(sim.m.slot().module(1).map(|m| m.state), Some(State::Shadowing), "{}", sim.notes());
    clients_answered_right(&sim);
}

#[test]
fn a_fault_of_the_installed_module_before_its_entry_has_the_entry_made_first_and_counts_against_the_module() {
    let mut sim = Sim::new(config(policy(), 4));
    let commit = sim.stage_and_commit(&bundle(&big_payload()));
    let seat = until_started(&mut sim, commit);
    assert_eq!(sim.m.install_phase(), Some("entry"));
    sim.fault(seat);
    // The entry and the kept READY first, then the fault of an installed module (as when
    // the start and the entry were one step): answered Installed, the fault counted against
    // module 1 (this policy allows none: rejected).
    assert!(!sim.m.install_pending(), "{}", sim.notes());
    let reply = sim.take_reply(commit).expect("answered");
    assert_eq!(decode::<Response>(reply.label, &reply.words).unwrap(), Response::Installed { module: 1 }, "{}", sim.notes());
    let notes = sim.notes();
    let entry_at = notes.find("@event slot.installed slot=checksum module=1").expect("installed");
    let fault_at = notes.find(&format!("@event slot.seat-fault slot=checksum seat={seat} role=Module(1)")).expect("the fault of module 1");
    assert!(entry_at < fault_at, "{notes}");
    assert!(notes.contains("module=1 from=shadowing to=rejected reason=Faulted"), "{notes}");
    assert!(sim.not_answered_once().is_empty());
}

#[test]
fn a_promotion_between_the_module_s_start_and_its_entry_refuses_the_install_and_stops_the_seat() {
    let mut sim = with_promotable_challenger();
    let commit = sim.stage_and_commit(&bundle(&big_payload()));
    let entries = sim.m.log().size();
    let seat = until_started(&mut sim, commit);
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: false }), Response::Promoted { module: 1 });
    let (_, response) = run_with_clients(&mut sim, commit);
    let (kind, reason) = refusal(response);
    assert_eq!(kind, RefusalKind::Policy);
    assert!(reason.starts_with("install refused: RollbackWindowOpen"), "{reason}");
    let stops =
        sim.world.borrow().supervisor.iter().filter(|r| matches!(r, SeatRequest::SeatStop { seat: s } if usize::from(*s) == seat)).count();
    assert_eq!(stops, 1, "its seat stopped");
    assert_eq!(sim.m.slot().module(2), None, "nothing installed");
    // The promotion's entry and the refusal's, no install entry.
    let entry = last_entry(&mut sim);
    assert!(entry.note.starts_with("refused (Policy)"), "{}", entry.note);
    assert!(sim.m.log().size() > entries);
    assert!(sim.not_answered_once().is_empty());
}

/// The install's steps up to `phase`, not pumped (nothing the steps start runs meanwhile).
fn steps_until(sim: &mut Sim, phase: &str) {
    let mut steps = 0;
    while sim.m.install_phase() != Some(phase) {
        if sim.m.install_steppable() {
            sim.m.install_step();
        } else {
            sim.pump();
        }
        steps += 1;
        assert!(steps < 10_000, "the install never reached {phase}:\n{}", sim.notes());
    }
}

/// How many `SeatSchedule` calls seat `seat` had.
fn schedule_calls(sim: &Sim, seat: u8) -> usize {
    sim.world.borrow().supervisor.iter().filter(|r| matches!(r, SeatRequest::SeatSchedule { seat: s, .. } if *s == seat)).count()
}

/// The module an install starts runs at priority 0 (`SeatSchedule::Start`, as the root
/// server starts a build in pieces): its start-up is in neither the `start` step nor the
/// entry's (the manager's steps at priority 1 outrank it). After the entry's step, with no
/// build step to follow, the glue raises it to the challengers' schedule at the manager's
/// own priority (`Manager::raise_started`); its READY then answers the commit, so a module
/// answered `Installed` is up and importing, as before.
#[test]
fn the_installed_module_starts_at_priority_0_is_raised_after_its_entry_and_its_ready_answers_the_commit() {
    use tileos_protocol::supervisor::SeatSchedule;
    let mut sim = Sim::new(config(policy(), 4));
    let commit = sim.stage_and_commit(&bundle(&big_payload()));
    let entries = sim.m.log().size();
    let _ = sim.m.take_start_ticks();
    steps_until(&mut sim, "entry");
    let seat = *sim.world.borrow().started_staged.keys().max().expect("a staged start");
    assert!(matches!(sim.world.borrow().supervisor.last(), Some(SeatRequest::SeatContinue { seat: s }) if *s == seat));
    assert_eq!(sim.m.take_start_ticks(), Some(START_TICKS), "the root server's own ticks of the start, for the glue");
    assert_eq!(sim.world.borrow().schedules.get(&seat), Some(&SeatSchedule::Start));
    assert_eq!(schedule_calls(&sim, seat), 0, "not raised in the start's step");
    assert!(!sim.m.raise_due(), "a build step (the entry's) follows");
    // The entry's step, with no READY kept: the install waits for the module, at priority 0.
    sim.m.install_step();
    assert_eq!(sim.m.install_phase(), Some("up"), "{}", sim.notes());
    assert!(!sim.m.install_steppable(), "no step while the module starts up");
    assert_eq!(sim.m.seat_of_module(1), Some(usize::from(seat)));
    assert_eq!(sim.m.log().size(), entries + 1, "the entry is persisted");
    assert_eq!(sim.world.borrow().schedules.get(&seat), Some(&SeatSchedule::Start));
    assert_eq!(schedule_calls(&sim, seat), 0, "not raised in the entry's step");
    assert!(sim.take_reply(commit).is_none(), "not answered before the module is up");
    // The glue's raise, then its start-up (pumped): its READY answers the commit.
    assert!(sim.m.raise_due());
    sim.m.raise_started();
    assert_eq!(sim.world.borrow().schedules.get(&seat), Some(&SeatSchedule::Shadow), "{}", sim.notes());
    assert_eq!(schedule_calls(&sim, seat), 1);
    assert!(!sim.m.raise_due());
    assert!(sim.world.borrow().events.iter().any(|e| matches!(e, Event::Started(s, _) if *s == seat)), "its start-up has not run yet");
    sim.pump();
    let reply = sim.take_reply(commit).expect("answered at the module's READY");
    assert_eq!(decode::<Response>(reply.label, &reply.words).unwrap(), Response::Installed { module: 1 });
    assert!(!sim.m.install_pending());
    assert_eq!(last_entry(&mut sim).kind, EventKind::Install);
    for seq in 0..5 {
        sim.request(1, seq);
        sim.pump();
    }
    let state = sim.m.slot().module(1).map(|m| m.state);
    assert!(matches!(state, Some(State::Shadowing | State::Promotable)), "{state:?}\n{}", sim.notes());
    assert_eq!(schedule_calls(&sim, seat), 1, "raised once");
    clients_answered_right(&sim);
    assert!(sim.not_answered_once().is_empty());
}

/// A module that is up before the glue raises it (it had time at priority 0: an idle
/// tile) is raised at its READY, which the entry's step handles as a kept READY; the
/// commit is answered then, as before `slots40`.
#[test]
fn an_installed_module_up_before_its_entry_is_raised_at_its_ready() {
    use tileos_protocol::supervisor::SeatSchedule;
    let mut sim = Sim::new(config(policy(), 4));
    let commit = sim.stage_and_commit(&bundle(&big_payload()));
    // Its start-up runs at once (pumped): its READY is kept for the entry's step.
    let seat = until_started(&mut sim, commit) as u8;
    assert_eq!(sim.m.install_phase(), Some("entry"));
    sim.m.install_step();
    assert_eq!(sim.m.install_phase(), Some("ready"), "{}", sim.notes());
    sim.m.install_step();
    let reply = sim.take_reply(commit).expect("answered at the kept READY's step");
    assert_eq!(decode::<Response>(reply.label, &reply.words).unwrap(), Response::Installed { module: 1 });
    assert_eq!(sim.world.borrow().schedules.get(&seat), Some(&SeatSchedule::Shadow), "{}", sim.notes());
    assert_eq!(schedule_calls(&sim, seat), 1);
    assert!(!sim.m.raise_due());
    sim.pump();
    assert!(sim.not_answered_once().is_empty());
}

/// A module started in pieces whose READY never comes is raised like any (its start-up
/// needs the time), and at the READY deadline it is failed as before (its seat stopped);
/// the commit, which waits for its READY, is answered then: the module was installed
/// (its entry persisted) and is gone.
#[test]
fn an_installed_module_that_never_calls_ready_has_its_commit_answered_at_the_ready_deadline() {
    use tileos_protocol::supervisor::SeatSchedule;
    let mut sim = Sim::new(config(policy(), 4));
    let commit = sim.stage_and_commit(&bundle(b"hung"));
    steps_until(&mut sim, "up");
    sim.raise_as_the_glue_does();
    sim.pump();
    let seat = sim.m.seat_of_module(1).expect("its seat") as u8;
    assert_eq!(sim.world.borrow().schedules.get(&seat), Some(&SeatSchedule::Shadow));
    sim.advance(tileos_slot_manager::READY_DEADLINE - 1);
    assert!(sim.take_reply(commit).is_none(), "within the deadline: {}", sim.notes());
    assert_eq!(sim.m.install_phase(), Some("up"));
    sim.advance(2);
    let reply = sim.take_reply(commit).expect("answered at the READY deadline");
    assert_eq!(decode::<Response>(reply.label, &reply.words).unwrap(), Response::Installed { module: 1 });
    assert!(sim.notes().contains("never called READY"), "{}", sim.notes());
    assert_eq!(sim.m.seat_of_module(1), None, "{}", sim.notes());
    assert!(!sim.m.install_pending());
    assert!(sim.not_answered_once().is_empty());
}

/// A challenger rebuilt while an install's steps are under way stays at priority 0 after its
/// rebuild (the install's entry step follows). When the install then ends in a message's
/// handling (here the installed module's first call, not its `READY`, before its entry's
/// step: no fault, so no rebuild follows either), no build step
/// follows any more, so that handling raises the rebuilt module (`Manager::raise_due`); it
/// does not wait at priority 0 for its `READY`, which a busy tile would never run.
#[test]
fn a_module_rebuilt_during_an_install_is_raised_when_the_install_ends_in_a_message() {
    use tileos_protocol::supervisor::SeatSchedule;
    let mut policy = policy();
    policy.max_faults = 1;
    let mut sim = Sim::new(config(policy, 4));
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    for seq in 0..4 {
        sim.request(1, seq);
        sim.pump();
    }
    let challenger = sim.m.seat_of_module(1).expect("module 1's seat");
    sim.hold_rebuild = true;
    sim.starve_priority_0 = true;
    let commit = sim.stage_and_commit(&bundle(&big_payload()));
    steps_until(&mut sim, "entry");
    let installed = usize::from(*sim.world.borrow().started_staged.keys().max().expect("a staged start"));
    assert_ne!(installed, challenger);
    // The challenger faults and is rebuilt (its steps before the install's, as the glue takes
    // them): left at priority 0, since the install's entry step follows.
    sim.fault(challenger);
    let mut steps = 0;
    while sim.m.rebuild_pending() {
        assert!(sim.m.rebuild_step(), "a rebuild step that did nothing:\n{}", sim.notes());
        steps += 1;
        assert!(steps < 1000, "a rebuild that never ends");
    }
    sim.pump();
    assert_eq!(sim.world.borrow().schedules.get(&(challenger as u8)), Some(&SeatSchedule::Start), "{}", sim.notes());
    assert_eq!(sim.m.install_phase(), Some("entry"));
    assert!(!sim.m.raise_due(), "the install's entry step follows");
    assert!(sim.starved.iter().any(|(seat, _)| usize::from(*seat) == challenger), "its start-up waits at priority 0");
    let calls = schedule_calls(&sim, challenger as u8);
    // The installed module's first call is not its READY (before its entry's step): the
    // entry is made first and the install ends in that call's handling.
    sim.module_call(installed as u64, Message { label: tileos_protocol::MESSAGE, words: vec![7] });
    sim.pump();
    assert!(!sim.m.install_pending(), "{}", sim.notes());
    assert!(sim.take_reply(commit).is_some(), "the commit answered");
    assert_eq!(sim.world.borrow().schedules.get(&(challenger as u8)), Some(&SeatSchedule::Shadow), "{}", sim.notes());
    assert_eq!(schedule_calls(&sim, challenger as u8), calls + 1, "raised once");
    assert!(!sim.m.raise_due());
    assert!(sim.starved.is_empty(), "started up once raised");
    for seq in 4..10 {
        sim.request(1, seq);
        sim.pump();
    }
    let state = sim.m.slot().module(1).map(|m| m.state);
    assert!(matches!(state, Some(State::Shadowing | State::Promotable)), "{state:?}\n{}", sim.notes());
    clients_answered_right(&sim);
    assert!(sim.not_answered_once().is_empty());
}
