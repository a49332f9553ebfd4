//! The `Equivalent` comparator on a simulated tile: a challenger whose answers differ from
//! the incumbent's byte for byte but decode to the same checksum response (junk in the last
//! word's padding, an extra word) agrees under it and is promoted, disagrees under `Exact`
//! and is never promotable; a challenger with really different answers disagrees under
//! both; a protocol without an equivalence is refused.

mod common;

use common::*;
use tileos_protocol::slots::{Request, Response};
use tileos_slot_manager::{Access, Config, Manager, NVersionConfig, StartError};
use tileos_slots::{Comparator, SlotPolicy, State};

/// A slot of 4 seats on `comparator`, its modules answering in the checksum protocol, with
/// challenger `payload` installed (module 1) and `requests` requests of client 1 sent
/// (values 1, 2, …), each answered before the next.
fn shadowed(comparator: Comparator, auto_promote: bool, payload: &[u8], requests: u64) -> Sim {
    let policy = SlotPolicy { auto_promote, ..policy() };
    let mut sim = Sim::new(Config { comparator, ..config(policy, 4) });
    sim.encoded = true;
    assert_eq!(sim.install(&bundle(payload)), Response::Installed { module: 1 });
    send(&mut sim, requests);
    sim
}

/// Client 1 sends `requests` more requests, each answered before the next.
fn send(sim: &mut Sim, requests: u64) {
    for _ in 0..requests {
        let x = sim.sent.get(&1).copied().unwrap_or(0);
        sim.request(1, x);
        sim.pump();
    }
}

/// Every request client 1 sent was answered once, with the running sum of the values sent
/// (0, 1, 2, …) as a checksum response, whatever module served it and however it padded.
fn answered_right(sim: &Sim) {
    assert!(sim.not_answered_once().is_empty(), "{:?}\n{}", sim.not_answered_once(), sim.notes());
    let mut sum = 0u64;
    for seq in 0..sim.sent[&1] {
        sum += seq;
        assert_eq!(decoded_sum(&sim.answers[&(1, seq)][0]), sum, "request {seq}");
    }
}

#[test]
fn the_padded_answers_differ_from_the_correct_ones_byte_for_byte() {
    for value in [0, 1, 200, 70_000, u64::MAX / 3] {
        let (plain, padded) = (encoded_answer(value, false), encoded_answer(value, true));
        assert_ne!(plain, padded, "{value}");
        assert_eq!((decoded_sum(&plain), decoded_sum(&padded)), (value, value));
    }
}

#[test]
fn under_exact_a_padded_challenger_disagrees_and_is_never_promotable() {
    let mut sim = shadowed(Comparator::Exact, true, b"padded", 4);
    let view = sim.m.slot().module(1).unwrap();
    assert_eq!((view.evidence.agreeing, view.evidence.disagreeing), (0, 4), "{view:?}\n{}", sim.notes());
    assert_eq!(view.state, State::Shadowing, "{view:?}");
    match sim.control(Access::Full, &Request::Promote { module: 1, force: false }) {
        Response::Refused(_) => {}
        other => panic!("a disagreeing module promoted: {other:?}"),
    }
    // At `min_agreeing` compared requests it is rejected (and forgotten).
    send(&mut sim, 8);
    assert_eq!((sim.m.slot().module(1), sim.m.slot().counters().rejected), (None, 1), "{}", sim.notes());
    assert_eq!(sim.m.slot().serving(), 0);
    answered_right(&sim);
}

#[test]
fn under_equivalent_a_padded_challenger_agrees_and_is_promoted() {
    let mut sim = shadowed(Comparator::Equivalent, true, b"padded", 12);
    let view = sim.m.slot().module(1).unwrap();
    assert_eq!(view.evidence.disagreeing, 0, "{view:?}\n{}", sim.notes());
    assert!(view.evidence.agreeing >= 5, "{view:?}");
    assert_eq!(sim.m.slot().serving(), 1, "promoted on its evidence\n{}", sim.notes());
    // Compared on the general path: the narrow path is the exact comparator's.
    assert_eq!(sim.narrow_taken, 0);
    // In the rollback window the warm incumbent's answers are compared with the padded
    // module's under the same equivalence: no rollback.
    assert_eq!(sim.m.slot().warm(), Some(0));
    send(&mut sim, 10);
    assert_eq!((sim.m.slot().serving(), sim.m.slot().module(1).map(|m| m.state)), (1, Some(State::Promoted)), "{}", sim.notes());
    assert!(!sim.notes().contains("rolled back"), "{}", sim.notes());
    answered_right(&sim);
    // The clients got the padded module's bytes, the same answers to them.
    let last = &sim.answers[&(1, sim.sent[&1] - 1)][0];
    assert_eq!(*last, encoded_answer(decoded_sum(last), true));
}

#[test]
fn a_really_different_answer_disagrees_under_both() {
    for comparator in [Comparator::Exact, Comparator::Equivalent] {
        // "wrong" answers one more on every multiple of 7: value 0 of the first 4, then 7.
        let mut sim = shadowed(comparator, true, b"wrong", 4);
        let view = sim.m.slot().module(1).unwrap();
        assert_eq!((view.evidence.agreeing, view.evidence.disagreeing), (3, 1), "{comparator:?}: {view:?}\n{}", sim.notes());
        send(&mut sim, 8);
        assert_eq!((sim.m.slot().module(1), sim.m.slot().counters().rejected), (None, 1), "{comparator:?}\n{}", sim.notes());
        assert_eq!(sim.m.slot().serving(), 0, "{comparator:?}");
        answered_right(&sim);
    }
}

#[test]
fn equivalent_is_refused_for_a_protocol_that_provides_none() {
    let config = |protocol: &str, comparator| Config { protocol: protocol.into(), comparator, ..config(policy(), 4) };
    let start = |c: Config| {
        let world = std::rc::Rc::new(std::cell::RefCell::new(World::default()));
        let time = std::rc::Rc::new(std::cell::Cell::new(1_000));
        Manager::new(c, Host(world), TestClock(time), TestStore::default()).map(|_| ())
    };
    let refused = start(config("twin", Comparator::Equivalent)).expect_err("the twin's responses have no equivalence");
    assert_eq!(refused, StartError::NoEquivalence("twin".into()));
    assert_eq!(
        refused.to_string(),
        "comparator \"equivalent\": protocol \"twin\" provides no equivalence: use \"exact\" or \"noise-cancelled\""
    );
    assert_eq!(start(config("no-such-protocol", Comparator::Equivalent)), Err(StartError::NoEquivalence("no-such-protocol".into())));
    // The other comparators need none.
    assert_eq!(start(config("twin", Comparator::Exact)), Ok(()));
    assert_eq!(start(config("twin", Comparator::NoiseCancelled)), Ok(()));
    assert_eq!(start(config("checksum", Comparator::Equivalent)), Ok(()));
}

/// An N-version slot (lineages answering in the checksum protocol) whose lineage 1 pads its
/// answers, after 4 requests: `replace_after` 2, so a third dissent replaces it.
fn n_version_with_a_padded_lineage(comparator: Comparator) -> Sim {
    let n_version =
        NVersionConfig { replace_after: 2, lineages: ["sum-a".into(), "sum-b".into(), "sum-c".into()], fallback: "sum-fallback".into() };
    let mut sim = Sim::new(Config { comparator, n_version: Some(n_version), ..config(policy(), 4) });
    sim.encoded = true;
    sim.padded_lineage = Some(1);
    send(&mut sim, 4);
    answered_right(&sim);
    sim
}

#[test]
fn an_n_version_vote_uses_the_comparator() {
    let sim = n_version_with_a_padded_lineage(Comparator::Exact);
    assert_eq!(sim.m.lineage_seats(), Some([0, 3, 2]), "under exact the padded lineage dissents and is replaced\n{}", sim.notes());
    let sim = n_version_with_a_padded_lineage(Comparator::Equivalent);
    assert_eq!(sim.m.lineage_seats(), Some([0, 1, 2]), "under equivalent it agrees\n{}", sim.notes());
    assert!(!sim.notes().contains("lineage-replaced"), "{}", sim.notes());
}

/// Under `comparator`, the padded module promoted by hand while the warm incumbent (plain
/// answers) does no work and falls behind (its copies skipped, journaled), then faulted:
/// the restored incumbent replays the requests it missed, and each replay whose client was
/// answered by the padded module is compared with the digest kept for that answer. The
/// replays' (compared, disagreed) counts.
fn replays_after_the_padded_module_faults(comparator: Comparator) -> (u64, u64) {
    let mut sim = shadowed(comparator, false, b"padded", 2);
    assert_eq!(sim.control(Access::Full, &Request::Promote { module: 1, force: true }), Response::Promoted { module: 1 });
    sim.pump();
    let warm = sim.m.seat_of_module(0).unwrap();
    sim.paused.insert(warm);
    // 16 copies queue for the warm module, the next are journaled: fewer than the
    // journal's limit, so no import brings it up to date.
    send(&mut sim, 30);
    assert_eq!(sim.m.slot().serving(), 1, "{}", sim.notes());
    let promoted = sim.m.seat_of_module(1).unwrap();
    sim.fault(promoted);
    sim.paused.clear();
    sim.pump();
    send(&mut sim, 3);
    assert_eq!(sim.m.slot().serving(), 0, "rolled back at the fault\n{}", sim.notes());
    answered_right(&sim);
    let stats = sim.m.stats();
    assert!(stats.replay_compared > 0, "{comparator:?}: {stats:?}\n{}", sim.notes());
    (stats.replay_compared, stats.replay_disagreed)
}

#[test]
fn under_equivalent_a_replay_is_compared_with_the_canonical_form_of_what_the_client_got() {
    // Under exact the incumbent's plain replays differ from the padded bytes the clients
    // got: every compared replay is a disagreement. Under equivalent the digests are of the
    // answers' canonical forms: none is.
    let (compared, disagreed) = replays_after_the_padded_module_faults(Comparator::Exact);
    assert_eq!(disagreed, compared, "under exact");
    let (compared, disagreed) = replays_after_the_padded_module_faults(Comparator::Equivalent);
    assert!(compared > 0);
    assert_eq!(disagreed, 0, "under equivalent an equivalent replay is no disagreement");
}
