//! A challenger's rebuild after a fault is staged in bounded steps between the clients'
//! requests (docs/slots.md, "A challenger's rebuild after a fault"): its copies are skipped
//! meanwhile, a fault signal or a call naming its seat is refused, a promotion of it by hand
//! is refused `Busy` and one by the policy waits, an install's staging waits for it (the root server stages one ELF per
//! slot), and a rebuild whose module leaves the slot is abandoned with the root server's
//! staging released and the seat reusable.

mod common;

use common::*;
use tileos_protocol::module::READY;
use tileos_protocol::slots::{RefusalKind, Request, Response};
use tileos_protocol::supervisor::{Request as SeatRequest, SEAT_CHUNK, SeatProgram};
use tileos_protocol::{MESSAGE, decode};
use tileos_slot_manager::{Access, Message, REBUILD_CHUNKS_PER_STEP};
use tileos_slots::State;

/// A payload of `len` bytes the fake modules run as a correct module.
fn payload(tag: u8, len: usize) -> Vec<u8> {
    let mut p = vec![b'p', tag];
    p.extend((0..len as u32 - 2).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    p
}

/// A slot of 4 seats whose policy tolerates one fault, with challenger module 1 of
/// `len` bytes installed in seat 1 and shadowing; rebuild steps held.
fn with_challenger(len: usize) -> Sim {
    let mut policy = policy();
    policy.max_faults = 1;
    let mut sim = Sim::new(config(policy, 4));
    assert_eq!(sim.install(&bundle(&payload(1, len))), Response::Installed { module: 1 });
    for x in 0..4 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.seat_of_module(1), Some(1));
    sim.hold_rebuild = true;
    sim
}

/// Client 1's next request (its value its number), answered before this returns.
fn serve_one(sim: &mut Sim) {
    let seq = sim.sent.get(&1).copied().unwrap_or(0);
    sim.request(1, seq);
    sim.pump();
    assert_eq!(sim.answers[&(1, seq)].len(), 1, "request {seq} not answered");
}

/// Takes rebuild steps until none is pending, a client request served before each;
/// returns the root-server calls of each step.
fn rebuild_with_clients(sim: &mut Sim) -> Vec<Vec<SeatRequest>> {
    let mut steps = Vec::new();
    while sim.m.rebuild_pending() {
        serve_one(sim);
        let before = sim.world.borrow().supervisor.len();
        assert!(sim.m.rebuild_step(), "a rebuild step that did nothing");
        steps.push(sim.world.borrow().supervisor[before..].to_vec());
        assert!(steps.len() < 1000, "a rebuild that never ends");
    }
    steps
}

fn running(sim: &Sim, seat: u8) -> bool {
    sim.world.borrow().running.contains(&seat)
}

#[test]
fn a_faulted_challenger_is_rebuilt_in_bounded_steps_while_clients_are_served() {
    let len = 5 * SEAT_CHUNK + 100;
    let mut sim = with_challenger(len);
    sim.fault(1);
    assert!(sim.m.rebuild_pending(), "the rebuild waits for its steps\n{}", sim.notes());
    assert!(!running(&sim, 1), "not started in the fault's handling");
    assert_eq!(sim.m.slot().module(1).unwrap().evidence.faults, 1);
    let skipped = sim.m.stats().skipped;
    let steps = rebuild_with_clients(&mut sim);
    // SeatLoad, the chunks, SeatBegin, SeatContinue twice (the root server's pieces): each
    // step at most REBUILD_CHUNKS_PER_STEP calls (a piece alone), the bundle's ELF (the
    // manifest's payload) staged whole.
    let chunks = sim.world.borrow().supervisor.iter().filter(|r| matches!(r, SeatRequest::SeatChunk { seat: 1, .. })).count();
    assert!(chunks >= len.div_ceil(SEAT_CHUNK) * 2, "the install's chunks and the rebuild's");
    assert!(steps.iter().all(|calls| calls.len() <= REBUILD_CHUNKS_PER_STEP), "{steps:?}");
    assert!(matches!(steps[0][..], [SeatRequest::SeatLoad { seat: 1, .. }]), "{:?}", steps[0]);
    let n = steps.len();
    assert!(matches!(steps[n - 3][..], [SeatRequest::SeatBegin { seat: 1, program: SeatProgram::Staged, restart: true }]), "{steps:?}");
    assert!(steps[n - 2..].iter().all(|step| matches!(step[..], [SeatRequest::SeatContinue { seat: 1 }])), "{steps:?}");
    assert_eq!(n, 4 + len.div_ceil(SEAT_CHUNK));
    assert!(sim.m.stats().skipped >= skipped + steps.len() as u64 - 1, "its copies were skipped while it was rebuilt");
    assert!(
        sim.notes().contains(&format!(
            "@event slot.seat-rebuilt slot=checksum seat=1 generation=0 program=staged bytes={len} steps={}",
            steps.len()
        ))
    );
    // Started: it imports the state at READY and compares again.
    sim.hold_rebuild = false;
    sim.pump();
    assert!(running(&sim, 1));
    let compared = sim.m.slot().module(1).unwrap().evidence.compared();
    for _ in 0..5 {
        serve_one(&mut sim);
    }
    assert_eq!(sim.m.slot().module(1).unwrap().evidence.compared(), compared + 5, "{}", sim.notes());
    assert_eq!(sim.m.slot().module(1).unwrap().evidence.disagreeing, 0, "it imported the serving module's state");
    clients_answered_right(&sim);
}

#[test]
fn a_fault_signal_or_a_call_naming_the_rebuilding_seat_is_refused_and_changes_nothing() {
    let mut sim = with_challenger(3 * SEAT_CHUNK);
    sim.fault(1);
    assert!(sim.m.rebuild_step(), "SeatLoad");
    let violations = sim.m.stats().violations;
    // A second fault signal for the seat (its module is not running): no second fault.
    sim.m.faulted(1 << 1);
    sim.pump();
    assert_eq!(sim.m.slot().module(1).unwrap().evidence.faults, 1);
    assert_eq!(sim.m.slot().module(1).unwrap().state, State::Shadowing);
    // Calls under its badge: READY, an answer, garbage.
    sim.module_call(1, Message::empty(READY));
    sim.module_call(1, Message { label: MESSAGE, words: vec![7] });
    sim.module_call(1, Message { label: 0xdead, words: vec![1, 2, 3] });
    sim.pump();
    assert_eq!(sim.m.stats().violations, violations + 4, "{}", sim.notes());
    assert!(sim.notes().contains("call from seat 1, which is being rebuilt"));
    assert!(sim.notes().contains("a fault signal for seat 1, which is being rebuilt: ignored"));
    assert!(!running(&sim, 1));
    assert!(sim.m.rebuild_pending());
    // The rebuild goes on as if nothing had come.
    rebuild_with_clients(&mut sim);
    sim.hold_rebuild = false;
    sim.pump();
    assert!(running(&sim, 1));
    for _ in 0..3 {
        serve_one(&mut sim);
    }
    assert_eq!(sim.m.slot().module(1).unwrap().evidence.disagreeing, 0);
    clients_answered_right(&sim);
}

#[test]
fn a_promotion_by_hand_of_the_rebuilding_module_is_refused_busy_with_the_reason() {
    let mut sim = with_challenger(2 * SEAT_CHUNK);
    sim.fault(1);
    let (kind, reason) = refusal(sim.control(Access::Full, &Request::Promote { module: 1, force: true }));
    assert_eq!(kind, RefusalKind::Busy);
    assert_eq!(reason, "module 1 is being rebuilt after a fault (seat 1, 0 of 1536 bytes staged): a promotion waits until it has started");
    assert!(sim.m.rebuild_step());
    assert!(sim.m.rebuild_step());
    let (kind, reason) = refusal(sim.control(Access::Full, &Request::Promote { module: 1, force: true }));
    assert_eq!(kind, RefusalKind::Busy);
    assert!(reason.contains("768 of 1536 bytes staged"), "{reason}");
    // Once it runs (and imported the state) it can be promoted.
    sim.hold_rebuild = false;
    sim.pump();
    assert!(!sim.m.rebuild_pending());
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    for _ in 0..3 {
        serve_one(&mut sim);
    }
    clients_answered_right(&sim);
}

#[test]
fn a_promotion_by_hand_accepted_before_its_module_faults_is_abandoned_busy_before_its_entry() {
    let mut sim = with_challenger(2 * SEAT_CHUNK);
    let entries = sim.m.log().size();
    sim.hold_steps = true;
    let id = sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Promote { module: 1, force: true }));
    assert!(sim.take_reply(id).is_none(), "accepted: answered at its switch");
    sim.fault(1);
    sim.hold_steps = false;
    sim.pump();
    let reply = sim.take_reply(id).expect("answered");
    let (kind, reason) = refusal(decode::<Response>(reply.label, &reply.words).unwrap());
    assert_eq!(kind, RefusalKind::Busy);
    assert!(reason.starts_with("the promotion by hand of module 1 was abandoned before its entry: module 1 is being rebuilt"), "{reason}");
    assert_eq!(sim.m.log().size(), entries, "nothing persisted");
    assert_eq!(sim.m.slot().serving(), 0);
    sim.hold_rebuild = false;
    sim.pump();
    assert!(running(&sim, 1));
    serve_one(&mut sim);
    clients_answered_right(&sim);
}

/// The root server's requests in order: between a staging's `SeatLoad` and its seat's
/// `SeatStart` or `SeatBegin` no other seat's staging request comes (one staging per slot),
/// and between a `SeatBegin` and the last `SeatContinue` no seat request but those of the
/// seat built (one build per slot).
fn stagings_do_not_interleave(requests: &[SeatRequest]) {
    let mut staging: Option<u8> = None;
    for (i, r) in requests.iter().enumerate() {
        match r {
            SeatRequest::SeatLoad { seat, .. } => {
                assert!(staging.is_none_or(|s| s == *seat), "request {i}: a SeatLoad for seat {seat} during seat {staging:?}'s staging");
                staging = Some(*seat);
            }
            SeatRequest::SeatChunk { seat, offset, .. } => {
                assert_eq!(staging, Some(*seat), "request {i}: a chunk for seat {seat} at {offset}")
            }
            SeatRequest::SeatStart { seat, program: SeatProgram::Staged, .. }
            | SeatRequest::SeatBegin { seat, program: SeatProgram::Staged, .. } => {
                assert_eq!(staging, Some(*seat), "request {i}: a start of seat {seat}");
                staging = None;
            }
            _ => {}
        }
    }
}

/// Serves clients and steps as the glue does (a rebuild step when it can go on, else the
/// install's) until the install committed as `commit` is answered: its answer.
fn install_answer_beside_the_rebuild(sim: &mut Sim, commit: u64) -> Option<Response> {
    for _ in 0..10_000 {
        if let Some(reply) = sim.take_reply(commit) {
            return Some(decode::<Response>(reply.label, &reply.words).unwrap());
        }
        serve_one(sim);
        if !(sim.m.rebuild_pending() && sim.m.rebuild_step()) {
            sim.m.install_step();
        }
        sim.pump();
    }
    None
}

#[test]
fn an_install_during_a_rebuild_stages_after_it_and_one_during_an_install_s_staging_goes_first() {
    // The rebuild first: the install's verification goes on, its staging waits.
    let mut sim = with_challenger(4 * SEAT_CHUNK);
    sim.fault(1);
    let from = sim.world.borrow().supervisor.len();
    assert!(sim.m.rebuild_step(), "SeatLoad");
    let commit = sim.stage_and_commit(&bundle(&payload(2, 6 * SEAT_CHUNK)));
    assert_eq!(install_answer_beside_the_rebuild(&mut sim, commit), Some(Response::Installed { module: 2 }));
    assert!(!sim.m.rebuild_pending());
    stagings_do_not_interleave(&sim.world.borrow().supervisor[from..]);
    sim.hold_rebuild = false;
    sim.pump();
    assert!(running(&sim, 1) && running(&sim, 2));

    // The install's staging first: a fault while it stages waits for its start.
    let mut sim = with_challenger(4 * SEAT_CHUNK);
    let from = sim.world.borrow().supervisor.len();
    let commit = sim.stage_and_commit(&bundle(&payload(2, 6 * SEAT_CHUNK)));
    while !sim.world.borrow().supervisor[from..].iter().any(|r| matches!(r, SeatRequest::SeatLoad { seat: 2, .. })) {
        sim.m.install_step();
        sim.pump();
    }
    sim.fault(1);
    assert!(sim.m.rebuild_pending());
    assert!(!sim.m.rebuild_step(), "the install's staging goes first");
    assert_eq!(install_answer_beside_the_rebuild(&mut sim, commit), Some(Response::Installed { module: 2 }));
    rebuild_with_clients(&mut sim);
    stagings_do_not_interleave(&sim.world.borrow().supervisor[from..]);
    sim.hold_rebuild = false;
    sim.pump();
    assert!(running(&sim, 1) && running(&sim, 2));
    clients_answered_right(&sim);
}

#[test]
fn a_rebuild_whose_module_is_superseded_is_abandoned_its_staging_released_and_its_seat_reused() {
    let mut sim = with_challenger(4 * SEAT_CHUNK);
    sim.hold_rebuild = false;
    assert_eq!(sim.install(&bundle(&payload(2, 100))), Response::Installed { module: 2 });
    sim.pump();
    sim.hold_rebuild = true;
    sim.fault(1);
    assert!(sim.m.rebuild_step(), "SeatLoad");
    assert!(sim.m.rebuild_step(), "a chunk");
    assert!(matches!(&sim.world.borrow().staging, Some((1, _, bytes)) if bytes.len() == SEAT_CHUNK));
    // Module 2 promoted by hand: module 1 is superseded (rejected) mid-rebuild.
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 2, force: true }), Response::Promoted { module: 2 });
    assert_eq!(sim.m.slot().module(1).map(|m| m.state), None, "rejected and forgotten");
    assert!(sim.m.rebuild_pending());
    let before = sim.world.borrow().supervisor.len();
    assert!(sim.m.rebuild_step(), "the abandonment");
    assert!(!sim.m.rebuild_pending());
    let calls = sim.world.borrow().supervisor[before..].to_vec();
    assert!(matches!(calls[..], [SeatRequest::SeatLoad { seat: 1, length: 0 }]), "the staging released: {calls:?}");
    assert!(matches!(&sim.world.borrow().staging, Some((1, 0, bytes)) if bytes.is_empty()));
    assert!(sim.notes().contains("@event slot.rebuild-abandoned slot=checksum seat=1 staged=768 steps=2"), "{}", sim.notes());
    assert!(!running(&sim, 1));
    // The window closes; the seat takes the next install.
    sim.hold_rebuild = false;
    sim.advance(10_000_001);
    serve_one(&mut sim);
    assert_eq!(sim.install(&bundle(&payload(3, 2 * SEAT_CHUNK))), Response::Installed { module: 3 });
    assert_eq!(sim.m.seat_of_module(3), Some(1), "{}", sim.notes());
    assert!(running(&sim, 1));
    for _ in 0..3 {
        serve_one(&mut sim);
    }
    assert_eq!(sim.m.slot().module(3).unwrap().evidence.disagreeing, 0);
    clients_answered_right(&sim);
}

#[test]
fn a_policy_promotion_due_for_the_rebuilding_module_waits_until_it_has_started() {
    let mut policy = policy();
    policy.max_faults = 1;
    policy.auto_promote = true;
    let mut sim = Sim::new(config(policy, 4));
    sim.hold_steps = true;
    assert_eq!(sim.install(&bundle(&payload(1, 2 * SEAT_CHUNK))), Response::Installed { module: 1 });
    for x in 0..8 {
        sim.request(1, x);
        sim.pump();
    }
    assert_eq!(sim.m.slot().module(1).unwrap().state, State::Promotable, "{}", sim.notes());
    let entries = sim.m.log().size();
    sim.hold_rebuild = true;
    sim.fault(1);
    assert_eq!(sim.m.slot().module(1).unwrap().state, State::Promotable, "one fault is within the policy");
    sim.hold_steps = false;
    sim.pump();
    // Past the deferred bound too: no entry is written while it is rebuilt.
    sim.advance(200_000);
    serve_one(&mut sim);
    assert_eq!(sim.m.log().size(), entries, "{}", sim.notes());
    assert_eq!(sim.m.slot().serving(), 0);
    assert!(sim.m.rebuild_pending());
    // Rebuilt and started: the promotion goes ahead (its entry, its transfer, the switch).
    sim.hold_rebuild = false;
    sim.pump();
    for _ in 0..3 {
        serve_one(&mut sim);
    }
    assert_eq!(sim.m.slot().serving(), 1, "{}", sim.notes());
    assert!(sim.m.log().size() > entries);
    clients_answered_right(&sim);
}

#[test]
fn a_build_piece_refused_mid_build_ends_the_rebuild_with_its_reason_and_clients_are_served_on() {
    let len = 2 * SEAT_CHUNK;
    let mut sim = with_challenger(len);
    // The root server refuses the last of the build's pieces (a failed piece: it destroyed
    // what the build made).
    sim.world.borrow_mut().refuse_piece_at = Some(1);
    sim.fault(1);
    let steps = rebuild_with_clients(&mut sim);
    let n = steps.len();
    assert!(matches!(steps[n - 3][..], [SeatRequest::SeatBegin { seat: 1, .. }]), "{steps:?}");
    assert!(matches!(steps[n - 1][..], [SeatRequest::SeatContinue { seat: 1 }]), "{steps:?}");
    assert!(!running(&sim, 1), "not started");
    assert!(!sim.m.rebuild_pending());
    assert!(sim.notes().contains("slot checksum: seat 1 could not be started: the root server refused: BadProgram"), "{}", sim.notes());
    assert!(!sim.notes().contains("@event slot.seat-rebuilt"), "{}", sim.notes());
    for _ in 0..3 {
        serve_one(&mut sim);
    }
    clients_answered_right(&sim);
}

/// A challenger (seat 1, an ELF of two chunks) that faulted, its rebuild stepped (a client
/// served before each step) up to the root server's build under way (its `SeatBegin`
/// answered `SeatBuilding`).
fn faulted_up_to_its_build() -> Sim {
    let mut sim = with_challenger(2 * SEAT_CHUNK);
    sim.fault(1);
    while !sim.world.borrow().supervisor.last().is_some_and(|r| matches!(r, SeatRequest::SeatBegin { seat: 1, .. })) {
        serve_one(&mut sim);
        assert!(sim.m.rebuild_step());
    }
    sim
}

#[test]
fn the_serving_module_rebuilt_at_once_during_a_challenger_s_build_makes_the_challenger_stage_again() {
    let mut sim = faulted_up_to_its_build();
    assert!(sim.world.borrow().building.as_ref().is_some_and(|b| b.0 == 1));
    // The serving module faults: rebuilt at once (`SeatStart`), which ends the slot's build.
    let before = sim.world.borrow().supervisor.len();
    sim.fault(0);
    sim.pump();
    assert!(sim.world.borrow().supervisor[before..].iter().any(|r| matches!(r, SeatRequest::SeatStart { seat: 0, .. })));
    assert!(sim.world.borrow().building.is_none(), "the root server abandoned seat 1's build");
    assert!(sim.notes().contains("seat 1's rebuild stages again (seat 0 was rebuilt first)"), "{}", sim.notes());
    // The challenger's rebuild starts over (staging, then its pieces) and ends started.
    let steps = rebuild_with_clients(&mut sim);
    assert!(matches!(steps[0][..], [SeatRequest::SeatLoad { seat: 1, .. }]), "{steps:?}");
    assert!(running(&sim, 1) && running(&sim, 0));
    assert!(!sim.notes().contains("NotBuilding"), "{}", sim.notes());
    stagings_do_not_interleave(&sim.world.borrow().supervisor);
    sim.hold_rebuild = false;
    sim.pump();
    // Served on (the serving module's rebuild lost its sum: only the answer is checked).
    serve_one(&mut sim);
}

#[test]
fn a_manager_restarted_during_a_build_starts_afresh_and_the_half_built_seat_is_discarded() {
    let sim = faulted_up_to_its_build();
    assert!(sim.world.borrow().building.is_some(), "a build under way in the root server");
    // The manager faults and starts again on the same root server (its log kept).
    let (world, store) = (sim.world.clone(), sim.store.clone());
    drop(sim);
    let mut c = config(policy(), 4);
    c.generation = 1;
    let before = world.borrow().supervisor.len();
    let mut sim = Sim::with_world(c, store, world.clone());
    // At its start it asks which seat served last (seat 0: nothing to adopt), stops the
    // seats its predecessor used (seats 1 and up), the stop of seat 1 discarding the
    // half-built module, and gives the incumbent the serving schedule.
    let at_start = world.borrow().supervisor[before..].to_vec();
    assert!(
        at_start.iter().all(|r| matches!(r, SeatRequest::SeatStop { seat } if *seat >= 1)
            || matches!(r, SeatRequest::ServingSeat)
            || matches!(r, SeatRequest::SeatSchedule { seat: 0, schedule: tileos_protocol::supervisor::SeatSchedule::Serving })),
        "{at_start:?}"
    );
    assert!(at_start.iter().any(|r| matches!(r, SeatRequest::SeatStop { seat: 1 })), "{at_start:?}");
    assert!(world.borrow().building.is_none(), "the stop of seat 1 discarded its half-built module");
    // An install then builds into the seat from the start (its SeatLoad first).
    let before = world.borrow().supervisor.len();
    assert_eq!(sim.install(&bundle(&payload(2, 2 * SEAT_CHUNK))), Response::Installed { module: 1 }, "{}", sim.notes());
    let requests = world.borrow().supervisor[before..].to_vec();
    assert!(matches!(requests[0], SeatRequest::SeatLoad { seat: 1, .. }), "{requests:?}");
    assert!(world.borrow().building.is_none());
    assert!(running(&sim, 1));
    assert!(!sim.notes().contains("NotBuilding"), "{}", sim.notes());
    serve_one(&mut sim);
}

/// The rebuilt module starts at priority 0 (`SeatSchedule::Start`): its start-up is not
/// inside the rebuild's last step (a `SeatContinue` alone, no schedule call). With no build
/// step to follow, the glue raises it to the challengers' schedule at the manager's own
/// priority (`Manager::raise_started`), once; it starts up and shadows again.
#[test]
fn a_rebuilt_challenger_starts_at_priority_0_and_is_raised_after_the_last_step() {
    use tileos_protocol::supervisor::SeatSchedule;
    let mut sim = with_challenger(3 * SEAT_CHUNK + 10);
    sim.fault(1);
    let _ = sim.m.take_start_ticks();
    let steps = rebuild_with_clients(&mut sim);
    let last = steps.last().expect("steps");
    assert!(matches!(last.as_slice(), [SeatRequest::SeatContinue { seat: 1 }]), "{last:?}");
    assert_eq!(sim.m.take_start_ticks(), Some(START_TICKS));
    assert_eq!(sim.world.borrow().schedules.get(&1), Some(&SeatSchedule::Start));
    assert!(sim.m.raise_due(), "no build step follows");
    let before = sim.world.borrow().supervisor.len();
    sim.raise_as_the_glue_does();
    sim.pump();
    let raises: Vec<SeatRequest> =
        sim.world.borrow().supervisor[before..].iter().filter(|r| matches!(r, SeatRequest::SeatSchedule { .. })).cloned().collect();
    assert_eq!(raises, vec![SeatRequest::SeatSchedule { seat: 1, schedule: SeatSchedule::Shadow }], "{}", sim.notes());
    assert_eq!(sim.world.borrow().schedules.get(&1), Some(&SeatSchedule::Shadow));
    for _ in 0..4 {
        serve_one(&mut sim);
    }
    let state = sim.m.slot().module(1).map(|m| m.state);
    assert!(matches!(state, Some(State::Shadowing | State::Promotable)), "{state:?}\n{}", sim.notes());
    clients_answered_right(&sim);
}
